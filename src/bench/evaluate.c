/*
 * evaluate.c - scoring an answer against the expected one.
 *
 * Evaluators are specs parsed once ("in-tags:answer", "numeric:0.01",
 * "cmd:./judge --strict") and applied to every sample of a run.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bhive/bench.h"
#include "util/util.h"

typedef enum { EV_EXACT, EV_CONTAINS, EV_IN_TAGS, EV_NUMERIC, EV_CMD } ev_kind;

struct bhive_evaluator {
	ev_kind kind;
	char *spec;
	char *tag;       /* EV_IN_TAGS */
	double tol;      /* EV_NUMERIC */
	char **argv;     /* EV_CMD */
};

/* Splits a command line into argv without a shell: quotes and backslashes. */
static char **split_args(const char *cmd)
{
	size_t cap = 8, n = 0;
	char **argv = bh_calloc(cap, sizeof(char *));
	bh_buf cur;
	bh_buf_init(&cur, 1 << 16);
	const char *p = cmd;
	while (argv) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		char quote = 0;
		bh_buf_reset(&cur);
		bh_buf_puts(&cur, "");
		for (; *p && (quote || !isspace((unsigned char)*p)); p++) {
			if (quote && *p == quote)
				quote = 0;
			else if (!quote && (*p == '"' || *p == '\''))
				quote = *p;
			else if (*p == '\\' && p[1] && quote != '\'')
				bh_buf_putc(&cur, *++p);
			else
				bh_buf_putc(&cur, *p);
		}
		if (n + 2 > cap) {
			char **na = bh_realloc(argv, (cap *= 2) * sizeof(char *));
			if (!na)
				break;
			argv = na;
		}
		argv[n++] = bh_buf_steal(&cur);
		argv[n] = NULL;
	}
	bh_buf_release(&cur);
	if (argv && n == 0) {
		bh_free(argv);
		return NULL;
	}
	return argv;
}

static void free_args(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		bh_free(argv[i]);
	bh_free(argv);
}

static int parse_spec(bhive_evaluator *ev, const char *spec, bhive_error *err)
{
	const char *arg = strchr(spec, ':');
	size_t klen = arg ? (size_t)(arg - spec) : strlen(spec);
	if (arg)
		arg++;
	if (klen == 5 && !strncmp(spec, "exact", 5) && !arg) {
		ev->kind = EV_EXACT;
	} else if (klen == 8 && !strncmp(spec, "contains", 8) && !arg) {
		ev->kind = EV_CONTAINS;
	} else if (klen == 7 && !strncmp(spec, "in-tags", 7)) {
		ev->kind = EV_IN_TAGS;
		ev->tag = bh_strdup(arg && *arg ? arg : "answer");
	} else if (klen == 7 && !strncmp(spec, "numeric", 7)) {
		ev->kind = EV_NUMERIC;
		ev->tol = 1e-9;
		if (arg && (bh_parse_double(arg, &ev->tol) || ev->tol < 0))
			return bh_error_set(err, BHIVE_ERR_INVALID,
			                    "evaluator \"%s\": tolerance \"%s\" is not a number >= 0", spec, arg);
	} else if (klen == 3 && !strncmp(spec, "cmd", 3)) {
		ev->kind = EV_CMD;
		ev->argv = arg ? split_args(arg) : NULL;
		if (!ev->argv)
			return bh_error_set(err, BHIVE_ERR_INVALID, "evaluator \"%s\": no command given", spec);
	} else {
		return bh_error_set(err, BHIVE_ERR_INVALID,
		                    "unknown evaluator \"%s\" (exact, contains, in-tags[:TAG], "
		                    "numeric[:TOL], cmd:COMMAND)", spec);
	}
	return 0;
}

bhive_evaluator *bhive_evaluator_new(const char *spec, bhive_error *err)
{
	bhive_error_clear(err);
	if (!spec || !*spec) {
		bh_error_set(err, BHIVE_ERR_INVALID, "empty evaluator spec");
		return NULL;
	}
	bhive_evaluator *ev = bh_calloc(1, sizeof(*ev));
	if (!ev || !(ev->spec = bh_strdup(spec))) {
		bh_free(ev);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (parse_spec(ev, spec, err)) {
		bhive_evaluator_free(ev);
		return NULL;
	}
	return ev;
}

void bhive_evaluator_free(bhive_evaluator *ev)
{
	if (!ev)
		return;
	bh_free(ev->spec);
	bh_free(ev->tag);
	free_args(ev->argv);
	bh_free(ev);
}

const char *bhive_evaluator_spec(const bhive_evaluator *ev) { return ev->spec; }

/* Copies s[0..n) trimmed of white space into a new string. */
static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return bh_strndup(s, n);
}

/* The content of the last <tag>...</tag> in s, trimmed; NULL if none. */
static char *last_in_tags(const char *s, const char *tag)
{
	char open[80], close[80];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *best = NULL, *p = s;
	while ((p = strstr(p, open)) != NULL) {
		best = p;
		p += strlen(open);
	}
	if (!best)
		return NULL;
	const char *start = best + strlen(open);
	const char *end = strstr(start, close);
	return end ? trimmed(start, (size_t)(end - start)) : NULL;
}

/* The last number in s (commas between digit groups allowed); -1 if none. */
static int last_number(const char *s, double *out)
{
	int found = -1;
	for (const char *p = s; *p; p++) {
		bool neg = *p == '-' && isdigit((unsigned char)p[1]);
		if (!isdigit((unsigned char)*p) && !neg)
			continue;
		if (p > s && (isdigit((unsigned char)p[-1]) || p[-1] == '.'))
			continue;
		char num[128];
		size_t n = 0;
		const char *q = p;
		if (neg)
			num[n++] = *q++;
		for (; *q && n < sizeof(num) - 1; q++) {
			if (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1])))
				num[n++] = *q;
			else if (*q == ',' && isdigit((unsigned char)q[1]) && n)
				continue;
			else
				break;
		}
		num[n] = '\0';
		if (bh_parse_double(num, out) == 0)
			found = 0;
		p = q - 1;
	}
	return found;
}

/* The first number in s; -1 if none. */
static int first_number(const char *s, double *out)
{
	char *end;
	for (const char *p = s; *p; p++) {
		if (isdigit((unsigned char)*p) || ((*p == '-' || *p == '.') && isdigit((unsigned char)p[1]))) {
			*out = strtod(p, &end);
			return end == p ? -1 : 0;
		}
	}
	return -1;
}

static int numeric_score(const bhive_evaluator *ev, const char *answer, const char *expected,
                         double *score, bhive_error *err)
{
	double want, got;
	char *want_text = trimmed(expected, strlen(expected));
	int bad = !want_text || last_number(want_text, &want);
	bh_free(want_text);
	if (bad)
		return bh_error_set(err, BHIVE_ERR_INVALID, "expected answer \"%.60s\" is not a number",
		                    expected);
	char *tagged = last_in_tags(answer, "answer");
	int none = last_number(tagged ? tagged : answer, &got);
	bh_free(tagged);
	*score = !none && fabs(got - want) <= ev->tol ? 1.0 : 0.0;
	return 0;
}

static bool contains_ci(const char *hay, const char *needle)
{
	char *t = trimmed(needle, strlen(needle));
	bool found = t && strcasestr(hay, t) != NULL;
	bh_free(t);
	return found;
}

static bool equal_trimmed_ci(const char *a, const char *b)
{
	char *x = trimmed(a, strlen(a)), *y = trimmed(b, strlen(b));
	bool eq = x && y && strcasecmp(x, y) == 0;
	bh_free(x);
	bh_free(y);
	return eq;
}

/* Reads the child's stdout until EOF or the deadline; -1 on timeout. */
static int read_output(int fd, bh_buf *out, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char chunk[4096];
	for (;;) {
		int64_t left = deadline_ms - bh_now_ms();
		if (left <= 0)
			return -1;
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		/* Past the cap the rest is read and dropped (the score is at the
		 * start): closing the pipe early kills a chatty child with SIGPIPE,
		 * and its score is lost as a failure. */
		size_t room = out->max - out->len;
		if (room)
			bh_buf_append(out, chunk, (size_t)n < room ? (size_t)n : room);
	}
}

/* Waits for the child until the deadline (it may close stdout and linger),
 * then kills it. Returns true when it had to be killed. */
static bool reap_until(pid_t pid, int *status, int64_t deadline_ms)
{
	struct timespec tick = { 0, 5 * 1000000L };
	while (bh_now_ms() < deadline_ms) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return false;
		nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return true;
}

/* Runs the evaluator command: answer on stdin (through a temporary file, so
 * a child that never reads cannot block us), score from stdout. */
static int cmd_score(const bhive_evaluator *ev, const char *answer, const char *expected,
                     double *score, bhive_error *err)
{
	FILE *in = tmpfile();
	int pipefd[2] = { -1, -1 };
	if (!in || pipe(pipefd)) {
		if (in)
			fclose(in);
		return bh_error_set(err, BHIVE_ERR_IO, "evaluator \"%s\": %s", ev->spec, strerror(errno));
	}
	fputs(answer, in);
	fflush(in);
	rewind(in);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fileno(in), 0);
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		setenv("BHIVE_ANSWER", answer, 1);
		setenv("BHIVE_EXPECTED", expected ? expected : "", 1);
		execvp(ev->argv[0], ev->argv);
		fprintf(stderr, "bhive: error: cannot run evaluator \"%s\": %s\n", ev->argv[0],
		        strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	fclose(in);
	bh_buf out;
	bh_buf_init(&out, 1 << 16);
	int64_t deadline = bh_now_ms() + 60000;
	int timed_out = pid > 0 ? read_output(pipefd[0], &out, deadline) : 0;
	close(pipefd[0]);
	int status = 0, rc = 0;
	if (pid < 0) {
		rc = bh_error_set(err, BHIVE_ERR_IO, "evaluator \"%s\": fork failed", ev->spec);
	} else {
		if (reap_until(pid, &status, timed_out ? 0 : deadline))
			timed_out = -1;
		if (timed_out)
			rc = bh_error_set(err, BHIVE_ERR_TIMEOUT, "evaluator \"%s\" timed out after 60 s",
			                  ev->spec);
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = bh_error_set(err, BHIVE_ERR_IO, "evaluator \"%s\" failed (exit status %d)",
			                  ev->spec, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		else if (first_number(out.data ? out.data : "", score) || *score < 0 || *score > 1)
			rc = bh_error_set(err, BHIVE_ERR_PARSE,
			                  "evaluator \"%s\" printed no score between 0 and 1: \"%.40s\"",
			                  ev->spec, out.data ? out.data : "");
	}
	bh_buf_release(&out);
	return rc;
}

int bhive_evaluate(const bhive_evaluator *ev, const char *answer, const char *expected,
                   double *score, bhive_error *err)
{
	bhive_error_clear(err);
	*score = 0.0;
	if (!expected)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no expected answer to score against");
	if (!answer)
		return 0;
	char *got;
	switch (ev->kind) {
	case EV_EXACT:
		*score = equal_trimmed_ci(answer, expected);
		return 0;
	case EV_CONTAINS:
		*score = contains_ci(answer, expected);
		return 0;
	case EV_IN_TAGS:
		got = last_in_tags(answer, ev->tag);
		*score = got && equal_trimmed_ci(got, expected);
		bh_free(got);
		return 0;
	case EV_NUMERIC:
		return numeric_score(ev, answer, expected, score, err);
	case EV_CMD:
		return cmd_score(ev, answer, expected, score, err);
	}
	return bh_error_set(err, BHIVE_ERR_INVALID, "bad evaluator");
}
