/*
 * verifiers.c - the built-in verifiers: arithmetic (evaluates the question's
 * expression and judges the answer) and SQL (runs the answer's query against
 * a read-only SQLite database and reports rows or the error).
 *
 * Design: the arithmetic verifier is a recursive-descent evaluator over
 * 64-bit integers with the compiler's overflow builtins; its three reply
 * texts are fixed because the emulator's simulated models read them. The SQL
 * verifier opens the database read-only and adds two guards SQLite offers
 * on top: an authorizer that allows reading only, and a progress handler
 * that stops a query at its time limit.
 */
#include "bhive/verify.h"
#include "util/util.h"
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arithmetic: evaluation --------------------------------------------- */

typedef struct arith {
	const char *p;
	const char *err; /* first problem, static text */
	int depth;
} arith;

static long long arith_expr(arith *a);

static void arith_skip(arith *a)
{
	while (*a->p == ' ' || *a->p == '\t')
		a->p++;
}

static long long arith_fail(arith *a, const char *why)
{
	if (!a->err)
		a->err = why;
	return 0;
}

static long long arith_number(arith *a)
{
	long long v = 0;
	if (!isdigit((unsigned char)*a->p))
		return arith_fail(a, "a number was expected");
	while (isdigit((unsigned char)*a->p)) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *a->p - '0', &v))
			return arith_fail(a, "a number is too large");
		a->p++;
	}
	return v;
}

/* factor := '-' factor | '+' factor | '(' expr ')' | number */
static long long arith_factor(arith *a)
{
	long long v;
	arith_skip(a);
	if (++a->depth > 200)
		return arith_fail(a, "the expression is nested too deeply");
	if (*a->p == '-' || *a->p == '+') {
		char sign = *a->p++;
		v = arith_factor(a);
		if (sign == '-' && __builtin_sub_overflow(0LL, v, &v))
			arith_fail(a, "the value overflows 64 bits");
	} else if (*a->p == '(') {
		a->p++;
		v = arith_expr(a);
		arith_skip(a);
		if (*a->p != ')')
			arith_fail(a, "a closing parenthesis is missing");
		else
			a->p++;
	} else {
		v = arith_number(a);
	}
	a->depth--;
	return v;
}

static long long arith_divide(arith *a, long long l, long long r)
{
	if (r == 0)
		return arith_fail(a, "division by zero");
	if ((l == INT64_MIN && r == -1) || l % r != 0)
		return arith_fail(a, "the division is not exact");
	return l / r;
}

/* term := factor (('*' | '/') factor)* */
static long long arith_term(arith *a)
{
	long long v = arith_factor(a);
	for (;;) {
		arith_skip(a);
		char op = *a->p;
		if (op != '*' && op != '/')
			return v;
		a->p++;
		long long r = arith_factor(a);
		if (op == '*' && __builtin_mul_overflow(v, r, &v))
			arith_fail(a, "the value overflows 64 bits");
		else if (op == '/')
			v = arith_divide(a, v, r);
	}
}

/* expr := term (('+' | '-') term)* */
static long long arith_expr(arith *a)
{
	long long v = arith_term(a);
	for (;;) {
		arith_skip(a);
		char op = *a->p;
		if (op != '+' && op != '-')
			return v;
		a->p++;
		long long r = arith_term(a);
		bool o =
		    op == '+' ? __builtin_add_overflow(v, r, &v) : __builtin_sub_overflow(v, r, &v);
		if (o)
			arith_fail(a, "the value overflows 64 bits");
	}
}

static int arith_eval_n(const char *expr, size_t n, long long *out, const char **why)
{
	char *copy = bh_strndup(expr, n);
	if (!copy) {
		*why = "out of memory";
		return BHIVE_ERR_NOMEM;
	}
	arith a = {copy, NULL, 0};
	long long v = arith_expr(&a);
	arith_skip(&a);
	if (!a.err && *a.p)
		a.err = "unexpected text after the expression";
	bh_free(copy);
	*why = a.err;
	if (a.err)
		return BHIVE_ERR_INVALID;
	*out = v;
	return 0;
}

int bhive_arith_eval(const char *expr, long long *out, bhive_error *err)
{
	const char *why = NULL;
	bhive_error_clear(err);
	if (!expr || !out)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no expression given");
	int rc = arith_eval_n(expr, strlen(expr), out, &why);
	if (rc)
		bh_error_set(err, rc, "cannot evaluate \"%.200s\": %s", expr, why);
	return rc;
}

/* ---- arithmetic: finding the expression and the answer ------------------ */

static bool is_expr_char(char c)
{
	return isdigit((unsigned char)c) || c == '+' || c == '-' || c == '*' || c == '/' ||
	       c == '(' || c == ')' || c == ' ' || c == '\t';
}

/* Does [s, s+n) hold a digit and a binary operator after a digit? */
static bool looks_like_expression(const char *s, size_t n)
{
	bool digit = false;
	for (size_t i = 0; i < n; i++) {
		if (isdigit((unsigned char)s[i]))
			digit = true;
		else if (digit && strchr("+-*/", s[i]))
			return true;
	}
	return false;
}

static int paren_balance(const char *s, size_t n)
{
	int b = 0;
	for (size_t i = 0; i < n; i++)
		b += (s[i] == '(') - (s[i] == ')');
	return b;
}

/* Cuts a span of expression characters down to what can be an expression:
 * no spaces or operators at the ends, and no parenthesis that belongs to
 * the prose around it ("(see 3+4)" leaves "3+4"). Returns the new length. */
static size_t trim_span(const char **s, size_t n)
{
	for (;;) {
		size_t before = n;
		while (n > 0 && strchr(" \t", **s)) {
			(*s)++;
			n--;
		}
		while (n > 0 && strchr(" \t(+-*/", (*s)[n - 1]))
			n--;
		int b = paren_balance(*s, n);
		if (n > 0 && b > 0 && **s == '(') {
			(*s)++;
			n--;
		} else if (n > 0 && b < 0 && (*s)[n - 1] == ')') {
			n--;
		}
		if (n == before)
			return n;
	}
}

/* Finds the longest evaluable expression in the question. */
static int find_expression(const char *q, long long *value, char *shown, size_t shown_sz)
{
	size_t best = 0;
	for (const char *p = q; *p;) {
		if (!is_expr_char(*p)) {
			p++;
			continue;
		}
		const char *start = p;
		while (*p && is_expr_char(*p))
			p++;
		const char *s = start;
		size_t n = trim_span(&s, (size_t)(p - start));
		long long v;
		const char *why;
		if (n > best && looks_like_expression(s, n) && arith_eval_n(s, n, &v, &why) == 0) {
			best = n;
			*value = v;
			snprintf(shown, shown_sz, "%.*s", (int)n, s);
		}
	}
	return best > 0 ? 0 : -1;
}

/* Parses a number as models write it ("-1,234", "42.0"). 1 when it is an
 * integer (written to *v), 0 when it is a number but not an integer or too
 * large, -1 when s is not a number at all. */
static int parse_answer_number(const char *s, long long *v)
{
	char digits[64];
	size_t n = 0;
	const char *p = s;
	if (*p == '-' || *p == '+')
		digits[n++] = *p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p) || (*p == ',' && isdigit((unsigned char)p[1])); p++)
		if (*p != ',' && n + 1 < sizeof(digits))
			digits[n++] = *p;
	digits[n] = '\0';
	if (*p == '.' && isdigit((unsigned char)p[1]))
		for (p++; isdigit((unsigned char)*p); p++)
			if (*p != '0')
				return 0;
	long lv;
	if (bh_parse_long(digits, &lv) != 0)
		return 0;
	*v = lv;
	return 1;
}

/* The text of the last <answer>...</answer>, trimmed, or NULL. */
static char *last_answer_tag(const char *answer)
{
	const char *start = NULL, *p = answer;
	size_t len = 0;
	while ((p = strstr(p, "<answer>")) != NULL) {
		const char *end = strstr(p + 8, "</answer>");
		if (!end)
			break;
		start = p + 8;
		len = (size_t)(end - start);
		p = end + 9;
	}
	if (!start)
		return NULL;
	char *t = bh_strndup(start, len);
	if (t) {
		char *trimmed = bh_trim(t);
		memmove(t, trimmed, strlen(trimmed) + 1);
	}
	return t;
}

/* The last number in free text, as written, or NULL. */
static char *last_number(const char *text)
{
	const char *found = NULL;
	size_t len = 0;
	for (const char *p = text; *p; p++) {
		if (!isdigit((unsigned char)*p) || (p > text && isdigit((unsigned char)p[-1])))
			continue;
		const char *s = (p > text && p[-1] == '-') ? p - 1 : p;
		const char *e = p;
		while (isdigit((unsigned char)*e) ||
		       ((*e == ',' || *e == '.') && isdigit((unsigned char)e[1])))
			e++;
		found = s;
		len = (size_t)(e - s);
		p = e - 1;
	}
	return found ? bh_strndup(found, len) : NULL;
}

static char *verdict(long long expected, const char *given, double *score)
{
	long long v = 0;
	int kind = parse_answer_number(given, &v);
	if (kind == 1 && v == expected) {
		if (score)
			*score = 1.0;
		return bh_asprintf("The answer %lld is correct: the expression evaluates to %lld.",
		                   v, expected);
	}
	if (score)
		*score = 0.0;
	if (kind == 1)
		return bh_asprintf("The answer %lld is incorrect.", v);
	return bh_asprintf("The answer %.200s is incorrect.", given);
}

char *bhive_verifier_arithmetic(void *ud, const char *question, const char *answer, double *score,
                                bhive_error *err)
{
	long long expected = 0;
	char shown[256];
	BH_UNUSED(ud);
	if (!question || find_expression(question, &expected, shown, sizeof(shown)) != 0) {
		bh_error_set(
		    err, BHIVE_ERR_VERIFIER,
		    "arithmetic verifier found no expression it can evaluate in the question");
		return NULL;
	}
	char *given = last_answer_tag(answer ? answer : "");
	if (!given)
		given = last_number(answer ? answer : "");
	if (!given || !*given) {
		bh_free(given);
		if (score)
			*score = 0.0;
		return bh_strdup("No answer was found in <answer></answer> tags.");
	}
	char *out = verdict(expected, given, score);
	bh_free(given);
	if (!out)
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory in the arithmetic verifier");
	return out;
}

/* ---- SQL ------------------------------------------------------------------ */

#define SQL_CELL_MAX 200
#define SQL_COMPARE_MAX 100000

struct bhive_sql_verifier {
	sqlite3 *db;
	char *path;
	int max_rows;
	long time_limit_ms;
	int64_t deadline_ms;
	bool has_expected; /* an expected query was set */
	char **expected;   /* its rows, sorted */
	size_t nexpected;
};

/* Reading is all a verifier may do: SELECT, reading columns, functions and
 * recursive CTEs. Everything else (writes, ATTACH, PRAGMA, transactions)
 * is denied before the statement runs. */
static int sql_authorizer(void *ud, int action, const char *a, const char *b, const char *c,
                          const char *d)
{
	BH_UNUSED(ud);
	BH_UNUSED(a);
	BH_UNUSED(b);
	BH_UNUSED(c);
	BH_UNUSED(d);
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
}

static int sql_progress(void *ud)
{
	const bhive_sql_verifier *v = ud;
	return bh_now_ms() > v->deadline_ms;
}

bhive_sql_verifier *bhive_verifier_sql_new(const char *db_path, bhive_error *err)
{
	bhive_error_clear(err);
	bhive_sql_verifier *v = bh_calloc(1, sizeof(*v));
	if (!v || !(v->path = bh_strdup(db_path ? db_path : ""))) {
		bh_free(v);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory creating the SQL verifier");
		return NULL;
	}
	v->max_rows = 20;
	v->time_limit_ms = 5000;
	int rc = sqlite3_open_v2(v->path, &v->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		bh_error_set(err, BHIVE_ERR_VERIFIER, "cannot open database \"%s\" read-only: %s",
		             v->path, v->db ? sqlite3_errmsg(v->db) : sqlite3_errstr(rc));
		bhive_verifier_sql_free(v);
		return NULL;
	}
	sqlite3_set_authorizer(v->db, sql_authorizer, v);
	sqlite3_progress_handler(v->db, 1000, sql_progress, v);
	return v;
}

static void free_rows(char **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bh_free(rows[i]);
	bh_free(rows);
}

void bhive_verifier_sql_free(bhive_sql_verifier *v)
{
	if (!v)
		return;
	free_rows(v->expected, v->nexpected);
	sqlite3_close(v->db);
	bh_free(v->path);
	bh_free(v);
}

void bhive_verifier_sql_set_limits(bhive_sql_verifier *v, int max_rows, long time_limit_ms)
{
	if (!v)
		return;
	v->max_rows = max_rows > 0 ? max_rows : 1;
	v->time_limit_ms = time_limit_ms > 0 ? time_limit_ms : 5000;
}

/* One query's result: the rendered text and, when asked, every row as a
 * comparable string (cells joined by 0x1f). */
typedef struct sql_result {
	bh_buf text;
	char **rows;
	size_t nrows;
	size_t cap;
	long long total;
	char error[256];
} sql_result;

static void sql_result_release(sql_result *r)
{
	bh_buf_release(&r->text);
	free_rows(r->rows, r->nrows);
}

static const char *cell_text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return sqlite3_column_type(st, i) == SQLITE_NULL ? "NULL" : (t ? t : "");
}

static int render_header(sqlite3_stmt *st, bh_buf *b)
{
	int rc = 0;
	for (int i = 0; i < sqlite3_column_count(st); i++)
		rc |= bh_buf_printf(b, "%s%s", i ? " | " : "", sqlite3_column_name(st, i));
	return rc;
}

static int render_row(sqlite3_stmt *st, bh_buf *b)
{
	int rc = bh_buf_putc(b, '\n');
	for (int i = 0; i < sqlite3_column_count(st); i++)
		rc |= bh_buf_printf(b, "%s%.*s", i ? " | " : "", SQL_CELL_MAX, cell_text(st, i));
	return rc;
}

static int keep_row(sqlite3_stmt *st, sql_result *r)
{
	bh_buf row;
	int rc = 0;
	if (r->nrows >= SQL_COMPARE_MAX)
		return 0;
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		char **rows = bh_realloc(r->rows, cap * sizeof(*rows));
		if (!rows)
			return BHIVE_ERR_NOMEM;
		r->rows = rows;
		r->cap = cap;
	}
	bh_buf_init(&row, 0);
	for (int i = 0; i < sqlite3_column_count(st); i++)
		rc |= bh_buf_printf(&row, "%s%s", i ? "\x1f" : "", cell_text(st, i));
	r->rows[r->nrows++] = bh_buf_steal(&row);
	return rc || !r->rows[r->nrows - 1] ? BHIVE_ERR_NOMEM : 0;
}

/* Steps through every row, rendering the first max_rows. */
static int step_rows(bhive_sql_verifier *v, sqlite3_stmt *st, sql_result *r, bool keep)
{
	int rc = render_header(st, &r->text);
	int step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->total < v->max_rows)
			rc = render_row(st, &r->text);
		if (rc == 0 && keep)
			rc = keep_row(st, r);
		r->total++;
	}
	if (rc)
		return rc;
	if (step != SQLITE_DONE) {
		const char *msg = step == SQLITE_INTERRUPT ? "the time limit was exceeded"
		                                           : sqlite3_errmsg(v->db);
		snprintf(r->error, sizeof(r->error), "%s", msg);
	}
	return 0;
}

/* Runs the first statement of sql. 0 with r filled (r->error set when
 * SQLite refused or failed the query), or BHIVE_ERR_NOMEM. */
static int run_query(bhive_sql_verifier *v, const char *sql, sql_result *r, bool keep)
{
	sqlite3_stmt *st = NULL;
	memset(r, 0, sizeof(*r));
	bh_buf_init(&r->text, 0);
	v->deadline_ms = bh_now_ms() + v->time_limit_ms;
	if (sqlite3_prepare_v2(v->db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(r->error, sizeof(r->error), "%s", sqlite3_errmsg(v->db));
		return 0;
	}
	if (!st) {
		snprintf(r->error, sizeof(r->error), "the query is empty");
		return 0;
	}
	int rc = step_rows(v, st, r, keep);
	sqlite3_finalize(st);
	return rc;
}

static int cmp_rows(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts rows so that two results compare as multisets (qsort must not see
 * the NULL array of an empty result). */
static void sort_rows(char **rows, size_t n)
{
	if (n > 1)
		qsort(rows, n, sizeof(*rows), cmp_rows);
}

int bhive_verifier_sql_set_expected(bhive_sql_verifier *v, const char *expected_sql,
                                    bhive_error *err)
{
	sql_result r;
	bhive_error_clear(err);
	if (!v)
		return bh_error_set(err, BHIVE_ERR_INVALID, "no SQL verifier given");
	free_rows(v->expected, v->nexpected);
	v->expected = NULL;
	v->nexpected = 0;
	v->has_expected = false;
	if (!expected_sql)
		return 0;
	if (run_query(v, expected_sql, &r, true) != 0) {
		sql_result_release(&r);
		return bh_error_set(err, BHIVE_ERR_NOMEM,
		                    "out of memory running the expected query");
	}
	if (r.error[0]) {
		bh_error_set(err, BHIVE_ERR_VERIFIER, "the expected query failed: %s", r.error);
		sql_result_release(&r);
		return BHIVE_ERR_VERIFIER;
	}
	sort_rows(r.rows, r.nrows);
	v->expected = r.rows;
	v->nexpected = r.nrows;
	v->has_expected = true;
	r.rows = NULL;
	r.nrows = 0;
	sql_result_release(&r);
	return 0;
}

/* ---- SQL: finding the query in an answer -------------------------------- */

/* The body of the last "open ... close" span (open matched
 * case-insensitively), or NULL. */
static char *last_block(const char *text, const char *open, const char *close)
{
	const char *start = NULL, *p = text;
	size_t len = 0;
	while ((p = strcasestr(p, open)) != NULL) {
		const char *body = p + strlen(open);
		const char *end = strstr(body, close);
		if (!end)
			break;
		start = body;
		len = (size_t)(end - body);
		p = end + strlen(close);
	}
	return start ? bh_strndup(start, len) : NULL;
}

static bool keyword_at(const char *s, const char *kw)
{
	size_t n = strlen(kw);
	return strncasecmp(s, kw, n) == 0 && !isalnum((unsigned char)s[n]) && s[n] != '_';
}

/* Is s at the start of a statement: text start, line start or after ';'? */
static bool statement_start(const char *text, const char *s)
{
	const char *p = s;
	while (p > text && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	return p == text || p[-1] == '\n' || p[-1] == ';';
}

/* The last SELECT or WITH statement in prose: from the keyword to the next
 * ';', blank line or the end. */
static char *last_statement(const char *text)
{
	const char *found = NULL;
	for (const char *p = text; *p; p++)
		if ((keyword_at(p, "select") || keyword_at(p, "with")) && statement_start(text, p))
			found = p;
	if (!found)
		return NULL;
	const char *end = found;
	while (*end && *end != ';' && strncmp(end, "\n\n", 2) != 0)
		end++;
	return bh_strndup(found, (size_t)(end - found));
}

static char *find_sql(const char *answer)
{
	char *sql = last_block(answer, "```sql", "```");
	if (!sql)
		sql = last_block(answer, "<sql>", "</sql>");
	if (!sql)
		sql = last_statement(answer);
	if (sql && !*bh_trim(sql)) {
		bh_free(sql);
		sql = NULL;
	}
	return sql;
}

/* Compares the answer's rows with the expected rows as multisets. */
static double score_rows(const bhive_sql_verifier *v, sql_result *r)
{
	if (r->error[0] || r->nrows != v->nexpected || r->total > SQL_COMPARE_MAX)
		return 0.0;
	sort_rows(r->rows, r->nrows);
	for (size_t i = 0; i < r->nrows; i++)
		if (strcmp(r->rows[i], v->expected[i]) != 0)
			return 0.0;
	return 1.0;
}

static char *describe(const bhive_sql_verifier *v, const sql_result *r)
{
	if (r->error[0])
		return bh_asprintf("the query failed: %s", r->error);
	if (r->total > v->max_rows)
		return bh_asprintf("The query returned %lld rows:\n%s\n(%lld more rows)", r->total,
		                   r->text.data, r->total - v->max_rows);
	return bh_asprintf("The query returned %lld row%s:\n%s", r->total, r->total == 1 ? "" : "s",
	                   r->text.data ? r->text.data : "");
}

char *bhive_verifier_sql(void *ud, const char *question, const char *answer, double *score,
                         bhive_error *err)
{
	bhive_sql_verifier *v = ud;
	sql_result r;
	BH_UNUSED(question);
	if (!v) {
		bh_error_set(err, BHIVE_ERR_VERIFIER, "the SQL verifier has no database");
		return NULL;
	}
	char *sql = find_sql(answer ? answer : "");
	if (!sql) {
		if (score && v->has_expected)
			*score = 0.0;
		return bh_strdup("No SQL query was found in the answer.");
	}
	int rc = run_query(v, bh_trim(sql), &r, v->has_expected);
	bh_free(sql);
	char *out = rc ? NULL : describe(v, &r);
	if (out && score && v->has_expected)
		*score = score_rows(v, &r);
	sql_result_release(&r);
	if (!out)
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory in the SQL verifier");
	return out;
}
