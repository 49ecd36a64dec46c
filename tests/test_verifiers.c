/* test_verifiers.c - the built-in arithmetic and SQL verifiers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bhive/verify.h"
#include "util/util.h"

/* ---- arithmetic ---------------------------------------------------------- */

static void test_arith_eval(void **state)
{
	static const struct {
		const char *expr;
		int rc;
		long long value;
	} cases[] = {
		{"1+2*3", 0, 7},
		{"(1+2)*3", 0, 9},
		{"10-4-3", 0, 3},          /* left to right */
		{"100/10/5", 0, 2},
		{"2*3+4*5-6*7", 0, -16},
		{"-5+3", 0, -2},
		{"-(2+3)*-4", 0, 20},
		{" 12 + 3 * ( 4 - 1 ) ", 0, 21},
		{"9223372036854775807", 0, INT64_MAX},
		{"9223372036854775807+1", BHIVE_ERR_INVALID, 0},
		{"9223372036854775808", BHIVE_ERR_INVALID, 0},
		{"3037000500*3037000500", BHIVE_ERR_INVALID, 0},
		{"-9223372036854775807-1", 0, INT64_MIN},
		{"-(-9223372036854775807-1)", BHIVE_ERR_INVALID, 0},
		{"7/0", BHIVE_ERR_INVALID, 0},
		{"7/2", BHIVE_ERR_INVALID, 0},
		{"(1+2", BHIVE_ERR_INVALID, 0},
		{"1+", BHIVE_ERR_INVALID, 0},
		{"1 2", BHIVE_ERR_INVALID, 0},
		{"", BHIVE_ERR_INVALID, 0},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		long long v = 0;
		bhive_error err;
		int rc = bhive_arith_eval(cases[i].expr, &v, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu \"%s\": rc %d, want %d", i, cases[i].expr, rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(v, cases[i].value);
		else
			assert_non_null(strstr(err.message, "cannot evaluate"));
	}
}

static const char *const bench_q =
	"What is the result of 53+21*97+44-18*36? Make sure to state your answer at the end of "
	"the response inside <answer></answer> tags.";

/* The three exact texts the emulator's simulated models recognise. */
static void test_arith_verdicts(void **state)
{
	/* 53 + 2037 + 44 - 648 = 1486 */
	static const struct {
		const char *question, *answer, *feedback;
		double score;
	} cases[] = {
		{bench_q, "Step by step... <answer>1486</answer>",
		 "The answer 1486 is correct: the expression evaluates to 1486.", 1.0},
		{bench_q, "<answer>1,486</answer>",
		 "The answer 1486 is correct: the expression evaluates to 1486.", 1.0},
		{bench_q, "<answer>1486.0</answer>",
		 "The answer 1486 is correct: the expression evaluates to 1486.", 1.0},
		{bench_q, "<answer>1000</answer> no wait <answer>1486</answer>",
		 "The answer 1486 is correct: the expression evaluates to 1486.", 1.0},
		{bench_q, "<answer>1486</answer> no wait <answer>1487</answer>",
		 "The answer 1487 is incorrect.", 0.0},
		{bench_q, "<answer>-12</answer>", "The answer -12 is incorrect.", 0.0},
		{bench_q, "<answer>about fifteen hundred</answer>",
		 "The answer about fifteen hundred is incorrect.", 0.0},
		{bench_q, "<answer>1486.5</answer>", "The answer 1486.5 is incorrect.", 0.0},
		{bench_q, "53+2037 = 2090, 2090+44 = 2134, 2134-648 = 1486",
		 "The answer 1486 is correct: the expression evaluates to 1486.", 1.0},
		{bench_q, "I am not sure.", "No answer was found in <answer></answer> tags.", 0.0},
		{bench_q, "<answer></answer>", "No answer was found in <answer></answer> tags.", 0.0},
		{"Compute (2+3)*(7-4) please.", "<answer>15</answer>",
		 "The answer 15 is correct: the expression evaluates to 15.", 1.0},
		{"In 2024, what is 6*7?", "42",
		 "The answer 42 is correct: the expression evaluates to 42.", 1.0},
		{"Compute 3+4 (quickly).", "<answer>7</answer>",
		 "The answer 7 is correct: the expression evaluates to 7.", 1.0},
		{"Find the product (that is 2*8) and reply.", "<answer>16</answer>",
		 "The answer 16 is correct: the expression evaluates to 16.", 1.0},
		{"What is ((1+2)*3)-(4)?", "<answer>5</answer>",
		 "The answer 5 is correct: the expression evaluates to 5.", 1.0},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		double score = -1;
		bhive_error err;
		bhive_error_clear(&err);
		char *fb = bhive_verifier_arithmetic(NULL, cases[i].question, cases[i].answer, &score,
		                                     &err);
		if (!fb)
			fail_msg("case %zu: %s", i, err.message);
		assert_string_equal(fb, cases[i].feedback);
		assert_float_equal(score, cases[i].score, 0);
		free(fb);
	}
}

static void test_arith_no_expression(void **state)
{
	double score = -1;
	bhive_error err;
	bhive_error_clear(&err);
	assert_null(bhive_verifier_arithmetic(NULL, "What is the capital of France?", "Paris",
	                                      &score, &err));
	assert_int_equal(err.code, BHIVE_ERR_VERIFIER);
	assert_float_equal(score, -1, 0);
}

/* ---- SQL ----------------------------------------------------------------- */

static char db_path[64];

static int make_db(void **state)
{
	sqlite3 *db;
	snprintf(db_path, sizeof(db_path), "/tmp/bhive_verify_%ld.db", (long)getpid());
	unlink(db_path);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	const char *sql =
		"CREATE TABLE people(name TEXT, age INTEGER, city TEXT);"
		"INSERT INTO people VALUES('ada', 36, 'london'), ('bob', 25, 'paris'),"
		" ('cy', 41, 'london'), ('dee', NULL, 'rome');"
		"CREATE TABLE nums(n INTEGER);"
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 30)"
		" INSERT INTO nums SELECT i FROM c;";
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	return 0;
}

static int remove_db(void **state)
{
	unlink(db_path);
	return 0;
}

static char *run_sql(bhive_sql_verifier *v, const char *answer, double *score)
{
	bhive_error err;
	bhive_error_clear(&err);
	char *fb = bhive_verifier_sql(v, "question", answer, score, &err);
	if (!fb)
		fail_msg("verifier failed: %s", err.message);
	return fb;
}

static void test_sql_rows(void **state)
{
	static const struct {
		const char *answer, *feedback;
	} cases[] = {
		{"```sql\nSELECT name, age FROM people WHERE city = 'london' ORDER BY name;\n```",
		 "The query returned 2 rows:\nname | age\nada | 36\ncy | 41"},
		{"Use <sql>SELECT count(*) AS n FROM people</sql>.",
		 "The query returned 1 row:\nn\n4"},
		{"The query is:\nSELECT name FROM people WHERE age IS NULL;\nThat is all.",
		 "The query returned 1 row:\nname\ndee"},
		{"First SELECT is wrong.\nWITH t AS (SELECT age FROM people) SELECT max(age) AS m FROM t",
		 "The query returned 1 row:\nm\n41"},
		{"<sql>SELECT name, age FROM people WHERE name = 'dee'</sql>",
		 "The query returned 1 row:\nname | age\ndee | NULL"},
		{"<sql>SELECT * FROM people WHERE 0</sql>",
		 "The query returned 0 rows:\nname | age | city"},
		{"```sql\nSELECT nope FROM people\n```", "the query failed: no such column: nope"},
		{"<sql>SELEC 1</sql>", "the query failed: near \"SELEC\": syntax error"},
		{"I would not use SQL here.", "No SQL query was found in the answer."},
	};
	bhive_sql_verifier *v = bhive_verifier_sql_new(db_path, NULL);
	assert_non_null(v);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		double score = -1;
		char *fb = run_sql(v, cases[i].answer, &score);
		if (strcmp(fb, cases[i].feedback) != 0)
			fail_msg("case %zu: got \"%s\"", i, fb);
		assert_float_equal(score, -1, 0); /* no expected result: no judgement */
		free(fb);
	}
	bhive_verifier_sql_free(v);
}

static void test_sql_row_cap(void **state)
{
	bhive_sql_verifier *v = bhive_verifier_sql_new(db_path, NULL);
	char *fb = run_sql(v, "<sql>SELECT n FROM nums ORDER BY n</sql>", NULL);
	assert_non_null(strstr(fb, "The query returned 30 rows:\nn\n1\n2\n"));
	assert_non_null(strstr(fb, "\n20\n(10 more rows)"));
	assert_null(strstr(fb, "\n21\n"));
	free(fb);
	bhive_verifier_sql_set_limits(v, 3, 0);
	fb = run_sql(v, "<sql>SELECT n FROM nums ORDER BY n</sql>", NULL);
	assert_string_equal(fb, "The query returned 30 rows:\nn\n1\n2\n3\n(27 more rows)");
	free(fb);
	bhive_verifier_sql_free(v);
}

/* Nothing an answer runs can change the database or reach another file. */
static void test_sql_read_only(void **state)
{
	static const char *const attacks[] = {
		"<sql>DELETE FROM people</sql>",
		"<sql>INSERT INTO people VALUES('eve', 1, 'x')</sql>",
		"<sql>UPDATE people SET age = 0</sql>",
		"<sql>DROP TABLE people</sql>",
		"<sql>CREATE TABLE t(x)</sql>",
		"<sql>ATTACH DATABASE '/tmp/bhive_other.db' AS o</sql>",
		"<sql>PRAGMA writable_schema = 1</sql>",
		"<sql>BEGIN IMMEDIATE</sql>",
	};
	bhive_sql_verifier *v = bhive_verifier_sql_new(db_path, NULL);
	for (size_t i = 0; i < BH_ARRAY_LEN(attacks); i++) {
		char *fb = run_sql(v, attacks[i], NULL);
		if (!bh_starts_with(fb, "the query failed: "))
			fail_msg("case %zu was not refused: %s", i, fb);
		free(fb);
	}
	char *fb = run_sql(v, "<sql>SELECT count(*) AS n FROM people</sql>", NULL);
	assert_string_equal(fb, "The query returned 1 row:\nn\n4");
	free(fb);
	bhive_verifier_sql_free(v);
	assert_int_equal(access("/tmp/bhive_other.db", F_OK), -1);
}

static void test_sql_time_limit(void **state)
{
	bhive_sql_verifier *v = bhive_verifier_sql_new(db_path, NULL);
	bhive_verifier_sql_set_limits(v, 20, 100);
	int64_t t0 = bh_now_ms();
	char *fb = run_sql(v, "<sql>WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c)"
	                      " SELECT count(*) FROM c</sql>", NULL);
	assert_string_equal(fb, "the query failed: the time limit was exceeded");
	assert_true(bh_now_ms() - t0 < 5000);
	free(fb);
	bhive_verifier_sql_free(v);
}

static void test_sql_expected(void **state)
{
	static const struct {
		const char *answer;
		double score;
	} cases[] = {
		{"<sql>SELECT name FROM people WHERE city = 'london'</sql>", 1.0},
		{"<sql>SELECT name FROM people WHERE city = 'london' ORDER BY name DESC</sql>", 1.0},
		{"<sql>SELECT name FROM people WHERE age > 30</sql>", 1.0},
		{"<sql>SELECT name FROM people</sql>", 0.0},
		{"<sql>SELECT name, city FROM people WHERE city = 'london'</sql>", 0.0},
		{"<sql>SELECT nope FROM people</sql>", 0.0},
		{"no query", 0.0},
	};
	bhive_error err;
	bhive_sql_verifier *v = bhive_verifier_sql_new(db_path, NULL);
	assert_int_equal(bhive_verifier_sql_set_expected(v, "SELECT name FROM people WHERE "
	                                                 "city = 'london'", &err), 0);
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		double score = -1;
		free(run_sql(v, cases[i].answer, &score));
		if (score != cases[i].score)
			fail_msg("case %zu: score %g, want %g", i, score, cases[i].score);
	}
	assert_int_equal(bhive_verifier_sql_set_expected(v, "SELECT nope FROM people", &err),
	                 BHIVE_ERR_VERIFIER);
	assert_non_null(strstr(err.message, "no such column: nope"));
	/* an expected empty result is still a judgement */
	assert_int_equal(bhive_verifier_sql_set_expected(v, "SELECT name FROM people WHERE 0", &err),
	                 0);
	double score = -1;
	free(run_sql(v, "<sql>SELECT name FROM people WHERE age > 100</sql>", &score));
	assert_float_equal(score, 1.0, 0);
	bhive_verifier_sql_free(v);
}

static void test_sql_open_errors(void **state)
{
	bhive_error err;
	assert_null(bhive_verifier_sql_new("/nonexistent/dir/x.db", &err));
	assert_int_equal(err.code, BHIVE_ERR_VERIFIER);
	assert_non_null(strstr(err.message, "cannot open database \"/nonexistent/dir/x.db\""));
	/* read-only open never creates a file */
	assert_null(bhive_verifier_sql_new("/tmp/bhive_never_created.db", &err));
	assert_int_equal(access("/tmp/bhive_never_created.db", F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arith_eval),
		cmocka_unit_test(test_arith_verdicts),
		cmocka_unit_test(test_arith_no_expression),
		cmocka_unit_test(test_sql_rows),
		cmocka_unit_test(test_sql_row_cap),
		cmocka_unit_test(test_sql_read_only),
		cmocka_unit_test(test_sql_time_limit),
		cmocka_unit_test(test_sql_expected),
		cmocka_unit_test(test_sql_open_errors),
	};
	return cmocka_run_group_tests(tests, make_db, remove_db);
}
