/*
 * reasoner_arith.c - the simulated model on the arithmetic benchmark
 * a+b*c+d-e*f: five steps done in order, each with a chance of a slip that
 * grows with the operands' size; on reflection, debate or verifier feedback
 * some slips are caught. A solution is the question plus one "delta" per
 * step (what the step's result is off by), so a caught slip is a delta set
 * to zero and everything after it is recomputed. docs/SIMULATION.md has the
 * model and the calibration.
 */
#include "reasoner_int.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ST_BC, ST_EF, ST_A, ST_D, ST_SUB, ST_COUNT };

/*
 * The fitted constants (bench/calibrate.c checks them against the
 * published curves). Error rate of a multiplication grows with its digit
 * product beyond mul_load0; of an addition with its carries. A slip is
 * catchable with a probability that falls with the step's load (kappa)
 * towards catch_floor, and a catchable slip is caught in a given round with
 * probability gamma (gamma_decay < 1 would make later rounds look less hard).
 * Fitted through the path users run (the requests, seeds and scoring of
 * `bhive demo`, see emulator/calibration.c) to the mean over many seeds, not
 * to one seed's sample: tests/test_calibration_e2e.c checks that path.
 */
static const struct {
	double mul_rate, mul_load0, mul_eta, add_rate, skill_ref, skill_slope;
	double catch_load0, kappa, catch_floor, gamma_hi, gamma_lo, gamma_scale, gamma_decay;
	double new_error, verifier_boost, debate_boost, follow_majority, sway, adopt_verified;
} K = {
    .mul_rate = 0.04018,
    .mul_load0 = 1.8,
    .mul_eta = 1.0908,
    .add_rate = 0.011,
    .skill_ref = 0.60,
    .skill_slope = 4.0,
    .catch_load0 = 4.0,
    .kappa = 2.034,
    .catch_floor = 0.10,
    .gamma_hi = 0.97,
    .gamma_lo = 0.40,
    .gamma_scale = 1.2,
    .gamma_decay = 1.0,
    .new_error = 0.003,
    .verifier_boost = 0.75,
    .debate_boost = 0.45,
    .follow_majority = 0.6,
    .sway = 0.04,
    .adopt_verified = 0.9,
};

typedef struct solution {
	long long v[ST_COUNT];     /* each step's stated result */
	long long delta[ST_COUNT]; /* stated minus exact, given the stated inputs */
	long long old[ST_COUNT];   /* the value before a catch, for the text */
	unsigned caught;           /* bit per step caught this turn */
	bool adopted;              /* answer taken from other agents */
} solution;

long long emu_arith_value(const emu_arith *q)
{
	return q->op[0] + q->op[1] * q->op[2] + q->op[3] - q->op[4] * q->op[5];
}

/* Reads a non-negative integer of at most 9 digits, skipping spaces. */
static const char *read_operand(const char *s, long long *v)
{
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return NULL;
	long long n = 0;
	int digits = 0;
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		n = n * 10 + (*s - '0');
	*v = n;
	return digits <= 9 ? s : NULL;
}

/* Expects operator op after optional spaces. */
static const char *read_op(const char *s, char op)
{
	while (*s == ' ')
		s++;
	return *s == op ? s + 1 : NULL;
}

/* Tries to read the whole expression starting at s. */
static bool arith_at(const char *s, emu_arith *q)
{
	static const char ops[] = "+*+-*";
	s = read_operand(s, &q->op[0]);
	for (int i = 0; s && i < 5; i++) {
		s = read_op(s, ops[i]);
		if (s)
			s = read_operand(s, &q->op[i + 1]);
	}
	if (!s)
		return false;
	while (*s == ' ')
		s++;
	return !(*s >= '0' && *s <= '9') && !strchr("+-*/^", *s);
}

bool emu_arith_find(const char *text, emu_arith *q)
{
	for (const char *s = text; s && *s; s++) {
		bool start = *s >= '0' && *s <= '9' && (s == text || s[-1] < '0' || s[-1] > '9');
		if (start && arith_at(s, q))
			return true;
	}
	return false;
}

static int ndigits(long long v)
{
	int n = 1;
	for (v = llabs(v); v >= 10; v /= 10)
		n++;
	return n;
}

static long long pow10ll(int k)
{
	long long p = 1;
	while (k-- > 0)
		p *= 10;
	return p;
}

/* Inputs of step i given the stated results of the earlier steps. */
static void step_inputs(const emu_arith *q, const long long *v, int i, long long *x, long long *y)
{
	switch (i) {
	case ST_BC:
		*x = q->op[1], *y = q->op[2];
		break;
	case ST_EF:
		*x = q->op[4], *y = q->op[5];
		break;
	case ST_A:
		*x = q->op[0], *y = v[ST_BC];
		break;
	case ST_D:
		*x = v[ST_A], *y = q->op[3];
		break;
	default:
		*x = v[ST_D], *y = v[ST_EF];
		break;
	}
}

static long long step_exact(int i, long long x, long long y)
{
	if (i <= ST_EF)
		return x * y;
	return i == ST_SUB ? x - y : x + y;
}

/*
 * Bit k set when column k receives a carry (addition) or gives a borrow
 * (subtraction of the smaller magnitude from the larger): the columns where
 * a person can drop one.
 */
static unsigned carry_columns(long long x, long long y, bool sub)
{
	x = llabs(x), y = llabs(y);
	if (sub && x < y) {
		long long t = x;
		x = y, y = t;
	}
	unsigned mask = 0;
	int carry = 0;
	for (int k = 1; (x || y) && k < 31; k++, x /= 10, y /= 10) {
		int dx = (int)(x % 10), dy = (int)(y % 10);
		carry = sub ? (dx - carry < dy) : (dx + dy + carry >= 10);
		if (carry)
			mask |= 1u << k;
	}
	return mask;
}

static int popcount(unsigned m)
{
	int n = 0;
	for (; m; m &= m - 1)
		n++;
	return n;
}

/* How hard a step is: digit product for a multiplication, 1 + carries else. */
static double step_load(int i, long long x, long long y)
{
	if (i <= ST_EF)
		return (double)ndigits(x) * ndigits(y);
	return 1.0 + popcount(carry_columns(x, y, i == ST_SUB));
}

static double skill_factor(const emu_ctx *c)
{
	return exp(-K.skill_slope * (c->p->skill - K.skill_ref));
}

static double step_error_prob(const emu_ctx *c, int i, double load)
{
	double rate = i <= ST_EF ? K.mul_rate * pow(fmax(0.0, load - K.mul_load0), K.mul_eta)
	                         : K.add_rate * load;
	return 1.0 - exp(-rate * skill_factor(c));
}

static int pick_bit(bh_rng *r, unsigned mask)
{
	int k = (int)bh_rng_below(r, (uint64_t)popcount(mask));
	for (int b = 0; b < 32; b++)
		if ((mask >> b & 1u) && k-- == 0)
			return b;
	return 0;
}

/* A multiplication slip: a wrong digit, a dropped carry or a partial product off. */
static long long mul_slip(bh_rng *r, long long x, long long y, long long v)
{
	int nd = ndigits(v);
	uint64_t kind = bh_rng_below(r, 100);
	if (kind < 45 || x == 0) {
		long long d = (long long)(1 + bh_rng_below(r, 3)) *
		              pow10ll((int)bh_rng_below(r, (uint64_t)(nd > 1 ? nd - 1 : 1)));
		return bh_rng_below(r, 2) || v < d ? d : -d;
	}
	if (kind < 80) {
		long long d = pow10ll(1 + (int)bh_rng_below(r, (uint64_t)(nd > 1 ? nd - 1 : 1)));
		return v >= d ? -d : d;
	}
	long long d = x * pow10ll((int)bh_rng_below(r, (uint64_t)ndigits(y)));
	return bh_rng_below(r, 2) || v < d ? d : -d;
}

/* An addition or subtraction slip: a dropped carry or borrow, or a sign slip. */
static long long add_slip(bh_rng *r, int i, long long x, long long y, long long v)
{
	bool sub = i == ST_SUB;
	if (sub && v != 0 && bh_rng_below(r, 100) < 30)
		return -2 * v;
	unsigned mask = carry_columns(x, y, sub);
	if (!mask) {
		long long d = pow10ll((int)bh_rng_below(r, (uint64_t)ndigits(v)));
		return bh_rng_below(r, 2) ? d : -d;
	}
	long long d = pow10ll(pick_bit(r, mask));
	return sub == (v >= 0) ? d : -d;
}

static long long step_slip(bh_rng *r, int i, long long x, long long y, long long v)
{
	long long d = i <= ST_EF ? mul_slip(r, x, y, v) : add_slip(r, i, x, y, v);
	return d ? d : 1;
}

/* Stated results from the deltas, in step order. */
static void recompute(const emu_arith *q, solution *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		s->v[i] = step_exact(i, x, y) + s->delta[i];
	}
}

/* A first attempt: every step may slip, each with its own odds. */
static void solve_fresh(emu_ctx *c, const emu_arith *q, solution *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < ST_COUNT; i++) {
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		long long v = step_exact(i, x, y);
		if (bh_rng_double(&c->rng) < step_error_prob(c, i, step_load(i, x, y)))
			s->delta[i] = step_slip(&c->rng, i, x, y, v);
		s->v[i] = v + s->delta[i];
	}
}

/* The line a step is written on; parse_solution looks the same text up. */
static void step_key(char *out, size_t outsz, int i, long long x, long long y)
{
	if (i <= ST_EF)
		snprintf(out, outsz, "%lld*%lld = ", x, y);
	else
		snprintf(out, outsz, "%lld %c %lld = ", x, i == ST_SUB ? '-' : '+', y);
}

static const char *last_strstr(const char *hay, const char *needle)
{
	const char *last = NULL;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		last = p;
	return last;
}

static bool parse_ll(const char *s, long long *v)
{
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end == s)
		return false;
	*v = n;
	return true;
}

/*
 * Reads a solution back from the model's own earlier answer. Our texts
 * have one line per step; an answer in another form becomes the exact
 * steps with the whole difference in the last one. false when the text
 * states no answer at all.
 */
static bool parse_solution(const char *text, const emu_arith *q, solution *s)
{
	char key[96], stated[64];
	long long answer;
	memset(s, 0, sizeof(*s));
	if (!emu_tag_value(text, "answer", stated, sizeof(stated)) || !parse_ll(stated, &answer))
		return false;
	bool ok = true;
	for (int i = 0; i < ST_COUNT; i++) {
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		step_key(key, sizeof(key), i, x, y);
		const char *at = ok ? last_strstr(text, key) : NULL;
		ok = at && parse_ll(at + strlen(key), &s->v[i]);
		if (!ok)
			s->v[i] = step_exact(i, x, y);
		s->delta[i] = s->v[i] - step_exact(i, x, y);
	}
	s->delta[ST_SUB] += answer - s->v[ST_SUB];
	recompute(q, s);
	return true;
}

/* The question's own uniform for step i: whether a slip there is catchable
 * stays the same from round to round (a blind spot), unlike the round's luck. */
static double blind_spot(const emu_ctx *c, int i)
{
	uint64_t h = bh_hash64(c->first_user, strlen(c->first_user), c->model_key ^ 0x51ab5eedULL);
	bh_rng r;
	bh_rng_seed(&r, bh_hash64(&i, sizeof(i), h));
	return bh_rng_double(&r);
}

/* Odds that a slip in a step of this load is catchable at all, and that a
 * catchable one is caught this round; boost (0..1) removes part of the miss. */
static void catch_odds(const emu_ctx *c, double load, double boost, double *pc, double *pg)
{
	double rho = c->reflection;
	double p = load <= K.catch_load0 ? 1.0 : pow(load / K.catch_load0, -K.kappa / rho);
	p = K.catch_floor + (1.0 - K.catch_floor) * p;
	double g =
	    K.gamma_lo + (K.gamma_hi - K.gamma_lo) *
	                     exp(-(fmax(load, K.catch_load0) - K.catch_load0) / K.gamma_scale);
	g = 1.0 - pow(1.0 - g, rho);
	g *= pow(K.gamma_decay, (double)(c->turns > 1 ? c->turns - 1 : 0));
	*pc = 1.0 - (1.0 - p) * (1.0 - boost);
	*pg = 1.0 - (1.0 - g) * (1.0 - boost);
}

/* One look over the steps: each slip may be caught; caught ones become exact. */
static void review(emu_ctx *c, const emu_arith *q, solution *s, double boost)
{
	for (int i = 0; i < ST_COUNT; i++) {
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		if (!s->delta[i])
			continue;
		double pc, pg;
		catch_odds(c, step_load(i, x, y), boost, &pc, &pg);
		double luck = bh_rng_double(&c->rng);
		if (blind_spot(c, i) < pc && luck < pg) {
			s->old[i] = s->v[i];
			s->delta[i] = 0;
			s->caught |= 1u << i;
			recompute(q, s);
		}
	}
}

static bool is_exact(const solution *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (s->delta[i])
			return false;
	return true;
}

/* Rarely, going over a right answer again introduces a new slip. */
static void maybe_new_slip(emu_ctx *c, const emu_arith *q, solution *s)
{
	if (bh_rng_double(&c->rng) >= K.new_error * skill_factor(c))
		return;
	int i = (int)bh_rng_below(&c->rng, ST_COUNT);
	long long x, y;
	step_inputs(q, s->v, i, &x, &y);
	s->delta[i] = step_slip(&c->rng, i, x, y, step_exact(i, x, y));
	recompute(q, s);
}

/* Makes the stated answer equal value by changing only the last step. */
static void adopt_value(const emu_arith *q, solution *s, long long value)
{
	if (value == s->v[ST_SUB])
		return;
	s->delta[ST_SUB] += value - s->v[ST_SUB];
	recompute(q, s);
	s->adopted = true;
}

/* The feedback after "An external verification function has added context
 * to this answer:" in text, classified; NONE when there is none. */
static int turn_feedback(const char *text)
{
	static const char mark[] = "added context to this answer:";
	const char *at = strstr(text, mark);
	if (!at)
		return EMU_FEEDBACK_NONE;
	at += sizeof(mark) - 1;
	const char *end = strstr(at, "As a reminder");
	return emu_feedback_class(at, end ? (size_t)(end - at) : strlen(at));
}

/* Self-reflection: look over the last answer, harder when told it is wrong. */
static void reflect(emu_ctx *c, const emu_arith *q, solution *s)
{
	int fb = turn_feedback(c->last_user);
	if (fb == EMU_FEEDBACK_RIGHT)
		return;
	if (is_exact(s))
		maybe_new_slip(c, q, s);
	else
		review(c, q, s, fb == EMU_FEEDBACK_WRONG ? K.verifier_boost : 0.0);
}

static bool value_is(const char *value, long long v)
{
	long long n;
	char *end;
	n = strtoll(value, &end, 10);
	return end != value && *end == '\0' && n == v;
}

/* Share of other agents (not marked wrong by a verifier) that disagree. */
static double disagreement(const emu_vote *votes, size_t n, long long own)
{
	size_t counted = 0, differ = 0;
	for (size_t i = 0; i < n; i++) {
		if (!votes[i].value[0] || votes[i].feedback == EMU_FEEDBACK_WRONG)
			continue;
		counted++;
		differ += !value_is(votes[i].value, own);
	}
	return counted ? (double)differ / (double)counted : 0.0;
}

/* An answer another agent had verified correct, if it differs from ours. */
static int verified_other(const emu_vote *votes, size_t n, long long own)
{
	for (size_t i = 0; i < n; i++)
		if (votes[i].feedback == EMU_FEEDBACK_RIGHT && votes[i].value[0] &&
		    !value_is(votes[i].value, own))
			return (int)i;
	return -1;
}

/* Moves to the other agents' majority with a chance that grows with its size. */
static void follow_majority(emu_ctx *c, const emu_arith *q, solution *s, const emu_vote *votes,
                            size_t n, double odds)
{
	size_t count;
	int m = emu_votes_majority(votes, n, true, &count);
	long long v;
	char *end;
	if (m < 0 || value_is(votes[m].value, s->v[ST_SUB]))
		return;
	v = strtoll(votes[m].value, &end, 10);
	if (*end || bh_rng_double(&c->rng) >= odds * (double)count / (double)n)
		return;
	adopt_value(q, s, v);
}

/* Debate: other answers that disagree make a slip likelier to be caught, a
 * model still wrong tends to follow the majority, a right one rarely does. */
static void debate(emu_ctx *c, const emu_arith *q, solution *s)
{
	emu_vote votes[16];
	size_t n = emu_votes_parse(c->last_user, votes, BH_ARRAY_LEN(votes));
	long long truth = emu_arith_value(q);
	if (!n) {
		reflect(c, q, s);
		return;
	}
	int ver = verified_other(votes, n, s->v[ST_SUB]);
	if (ver >= 0 && bh_rng_double(&c->rng) < K.adopt_verified) {
		long long v = strtoll(votes[ver].value, NULL, 10);
		if (v == truth)
			review(c, q, s, 1.0);
		adopt_value(q, s, v);
		return;
	}
	if (s->v[ST_SUB] == truth) {
		follow_majority(c, q, s, votes, n, K.sway);
		return;
	}
	review(c, q, s, K.debate_boost * disagreement(votes, n, s->v[ST_SUB]));
	if (s->v[ST_SUB] != truth)
		follow_majority(c, q, s, votes, n, K.follow_majority);
}

static int write_steps(bh_buf *b, const emu_arith *q, const solution *s)
{
	static const char *const lead[ST_COUNT] = {"First", "Next", "Then", "Then", "Finally"};
	char key[96];
	int rc = 0;
	for (int i = 0; i < ST_COUNT && !rc; i++) {
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		step_key(key, sizeof(key), i, x, y);
		rc = bh_buf_printf(b, "%s, %s%lld.\n", lead[i], key, s->v[i]);
	}
	return rc;
}

/* "Checking 25*13 again: ..." for every slip caught this turn. */
static int write_catches(bh_buf *b, const emu_arith *q, const solution *s)
{
	char key[96];
	int rc = 0;
	for (int i = 0; i < ST_COUNT && !rc; i++) {
		if (!(s->caught >> i & 1u))
			continue;
		long long x, y;
		step_inputs(q, s->v, i, &x, &y);
		step_key(key, sizeof(key), i, x, y);
		key[strlen(key) - 3] = '\0';
		rc =
		    bh_buf_printf(b, "Checking %s again: I previously wrote %lld, but %s = %lld.\n",
		                  key, s->old[i], key, s->v[i]);
	}
	return rc;
}

static int write_intro(bh_buf *b, const emu_arith *q, const solution *s, bool again)
{
	if (!again)
		return bh_buf_printf(
		    b,
		    "To solve %lld+%lld*%lld+%lld-%lld*%lld, I follow the order of "
		    "operations: the multiplications first, then the additions and "
		    "the subtraction from left to right.\n\n",
		    q->op[0], q->op[1], q->op[2], q->op[3], q->op[4], q->op[5]);
	int rc = bh_buf_puts(b, "Let me go through the calculation again, step by step.\n\n");
	if (!rc && s->caught)
		rc = write_catches(b, q, s);
	else if (!rc)
		rc = bh_buf_puts(b, "Re-checking each step, I get the same values as before.\n");
	if (!rc && s->adopted)
		rc = bh_buf_puts(b, "Taking the other agents' answers into account, I revise the "
		                    "last step.\n");
	return rc ? rc : bh_buf_puts(b, "\n");
}

static int write_answer(const emu_arith *q, const solution *s, bool again, emu_answer *out)
{
	int rc = write_intro(&out->work, q, s, again);
	if (!rc)
		rc = write_steps(&out->work, q, s);
	if (!rc)
		rc = bh_buf_printf(&out->final, "So the result is %lld.\n\n<answer>%lld</answer>",
		                   s->v[ST_SUB], s->v[ST_SUB]);
	snprintf(out->value, sizeof(out->value), "%lld", s->v[ST_SUB]);
	return rc;
}

int emu_arith_answer(emu_ctx *c, const emu_arith *q, emu_answer *out)
{
	solution s;
	bool again = c->last_assistant && parse_solution(c->last_assistant, q, &s);
	if (!again)
		solve_fresh(c, q, &s);
	else if (strstr(c->last_user, "One agent response:"))
		debate(c, q, &s);
	else
		reflect(c, q, &s);
	return write_answer(q, &s, again, out);
}
