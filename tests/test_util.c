/* test_util.c - buffers, strings, clocks, numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "util/util.h"

static void test_buf_cap(void **state)
{
	bh_buf b;
	bh_buf_init(&b, 8);
	assert_int_equal(bh_buf_puts(&b, "12345678"), 0);
	assert_int_equal(bh_buf_putc(&b, '9'), BHIVE_ERR_NOMEM);
	assert_string_equal(b.data, "12345678");
	bh_buf_release(&b);
}

static void test_uri_encode(void **state)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	const char *in = " %:/?#[]@!$&'()*+,;=\xF0\x9F\x98\xB9";
	bh_uri_encode(&b, in, strlen(in), false);
	assert_string_equal(b.data, "%20%25%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%F0%9F%98%B9");
	bh_buf_release(&b);
}

static void test_parse_numbers(void **state)
{
	long v;
	double d;
	assert_int_equal(bh_parse_long("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(bh_parse_long("42x", &v), -1);
	assert_int_equal(bh_parse_long("", &v), -1);
	assert_int_equal(bh_parse_long("99999999999999999999999", &v), -1);
	assert_int_equal(bh_parse_double("1.5", &d), 0);
	assert_int_equal(bh_parse_double("nan", &d), -1);
}

static void test_iso8601(void **state)
{
	assert_int_equal(bh_parse_iso8601("2015-08-30T12:36:00Z"), 1440938160);
	assert_int_equal(bh_parse_iso8601("2015-08-30T12:36:00.123Z"), 1440938160);
	assert_int_equal(bh_parse_iso8601("2015-08-30T14:36:00+02:00"), 1440938160);
	assert_int_equal(bh_parse_iso8601("garbage"), -1);
	char d[17];
	bh_amz_date(1440938160, d);
	assert_string_equal(d, "20150830T123600Z");
}

static void test_alloc_failure(void **state)
{
	bh_alloc_fail_after(0);
	assert_null(bh_strdup("x"));
	bh_alloc_fail_after(-1);
	char *s = bh_strdup("x");
	assert_non_null(s);
	bh_free(s);
}

static void test_error_first_wins(void **state)
{
	bhive_error e;
	bhive_error_clear(&e);
	bh_error_set(&e, BHIVE_ERR_IO, "first %d", 1);
	bh_error_set(&e, BHIVE_ERR_PARSE, "second");
	assert_int_equal(e.code, BHIVE_ERR_IO);
	assert_string_equal(e.message, "first 1");
	assert_int_equal(bhive_code_family(BHIVE_ERR_SERVICE_THROTTLED), BHIVE_ERR_SERVICE);
	assert_string_equal(bhive_strerror(BHIVE_ERR_SERVICE_THROTTLED), "throttled");
}

/* UTF-8 checks agree with jansson's, which is the oracle: a string it
 * refuses is one bh_utf8_valid_prefix stops short in. */
static void test_utf8(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    "", "plain ascii, long enough for the eight-byte path",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9d", "\xc0\xaf overlong",
	    "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 past U+10FFFF", "cut \xe2\x82",
	    "\xff", "abcdefgh\x80", "\xe0\x80\x80 overlong three"};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		size_t n = strlen(cases[i]);
		json_t *j = json_stringn(cases[i], n);
		assert_int_equal(bh_utf8_valid_prefix(cases[i], n) == n, j != NULL);
		json_decref(j);
		char *fixed = bh_utf8_repair(cases[i], n);
		assert_non_null(fixed);
		j = json_string(fixed);
		assert_non_null(j); /* always valid once repaired */
		json_decref(j);
		if (bh_utf8_valid_prefix(cases[i], n) == n)
			assert_string_equal(fixed, cases[i]);
		bh_free(fixed);
	}
	char *f = bh_utf8_repair("a\xff" "b", 3);
	assert_string_equal(f, "a\xef\xbf\xbd" "b");
	bh_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_error_first_wins),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
