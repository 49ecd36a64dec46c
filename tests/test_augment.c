/* test_augment.c - lexical perturbations and the rephrasing prompt/parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <string.h>
#include "hive/augment.h"
#include "util/util.h"

static const char *const question =
	"What is the result of 3274+816*9-47*(12+5)/17? Make sure to state your answer "
	"at the end of the response inside <answer></answer> tags, for example "
	"<answer>123</answer>.\n```\nkeep this block exactly\n```\nThank you, reasoner.";

/* The characters that are not letters, in order: perturbations may only
 * touch letters, so this sequence must survive every variant. */
static char *non_letters(const char *s)
{
	char *out = bh_malloc(strlen(s) + 1), *o = out;
	for (; *s; s++)
		if (!isalpha((unsigned char)*s))
			*o++ = *s;
	*o = '\0';
	return out;
}

static void test_deterministic_by_seed(void **state)
{
	for (int slot = 1; slot < 4; slot++) {
		char *a = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.2, 42, slot);
		char *b = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.2, 42, slot);
		char *c = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.2, 43, slot);
		assert_string_equal(a, b);
		assert_string_not_equal(a, c);
		assert_string_not_equal(a, question);
		bh_free(a);
		bh_free(b);
		bh_free(c);
	}
}

static void test_slots_differ(void **state)
{
	char *v[6];
	for (int slot = 0; slot < 6; slot++)
		v[slot] = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.1, 7, slot);
	assert_string_equal(v[0], question); /* slot 0 keeps the original */
	for (int i = 1; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			assert_string_not_equal(v[i], v[j]);
	for (int slot = 0; slot < 6; slot++)
		bh_free(v[slot]);
}

/* Digits, operators, punctuation, tags and fences never change, whatever
 * the kind, rate or seed. */
static void test_protected_text(void **state)
{
	static const unsigned kinds[] = {BH_AUGMENT_KEYBOARD, BH_AUGMENT_OCR, BH_AUGMENT_SPELLING,
	                                 BH_AUGMENT_LEXICAL};
	char *want = non_letters(question);
	for (size_t k = 0; k < BH_ARRAY_LEN(kinds); k++)
		for (uint64_t seed = 0; seed < 50; seed++) {
			char *v = bh_augment_lexical(question, kinds[k], 1.0, seed, 1 + (int)(seed % 3));
			char *got = non_letters(v);
			assert_string_equal(got, want);
			assert_non_null(strstr(v, "3274+816*9-47*(12+5)/17?"));
			assert_non_null(strstr(v, "<answer></answer>"));
			assert_non_null(strstr(v, "<answer>123</answer>"));
			assert_non_null(strstr(v, "```\nkeep this block exactly\n```"));
			bh_free(got);
			bh_free(v);
		}
	bh_free(want);
}

/* Each kind makes its own sort of change. */
static void test_kinds(void **state)
{
	/* keyboard: same length, each change a QWERTY neighbour */
	char *k = bh_augment_lexical("aaaaaaaaaa", BH_AUGMENT_KEYBOARD, 1.0, 1, 1);
	assert_int_equal(strlen(k), 10);
	for (size_t i = 0; i < 10; i++)
		assert_non_null(strchr("qwsz", k[i]));
	bh_free(k);
	/* OCR: "rn" and "m" are confused with each other */
	char *o = bh_augment_lexical("rnrnrn", BH_AUGMENT_OCR, 1.0, 1, 1);
	assert_string_equal(o, "mmm");
	bh_free(o);
	/* spelling keeps the letters it was given (swap, drop, double) */
	char *s = bh_augment_lexical("abcdefghij", BH_AUGMENT_SPELLING, 1.0, 3, 1);
	assert_string_not_equal(s, "abcdefghij");
	for (const char *p = s; *p; p++)
		assert_true(*p >= 'a' && *p <= 'j');
	bh_free(s);
	/* rate 0 and no lexical kind: unchanged copies */
	char *z = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.0, 1, 1);
	assert_string_equal(z, question);
	bh_free(z);
	z = bh_augment_lexical(question, BH_AUGMENT_SEMANTIC, 1.0, 1, 1);
	assert_string_equal(z, question);
	bh_free(z);
}

/* The rate is roughly the share of letters changed. */
static void test_rate(void **state)
{
	char text[2001];
	memset(text, 'a', 2000);
	text[2000] = '\0';
	char *v = bh_augment_lexical(text, BH_AUGMENT_KEYBOARD, 0.1, 9, 1);
	int changed = 0;
	for (int i = 0; i < 2000; i++)
		changed += v[i] != 'a';
	assert_in_range(changed, 140, 260);
	bh_free(v);
}

static void test_parse_kinds(void **state)
{
	unsigned k;
	bhive_error err;
	assert_int_equal(bh_augment_parse_kinds("keyboard, ocr", &k, NULL), 0);
	assert_int_equal(k, BH_AUGMENT_KEYBOARD | BH_AUGMENT_OCR);
	assert_int_equal(bh_augment_parse_kinds("lexical,semantic", &k, NULL), 0);
	assert_int_equal(k, BH_AUGMENT_LEXICAL | BH_AUGMENT_SEMANTIC);
	assert_int_equal(bh_augment_parse_kinds("none", &k, NULL), 0);
	assert_int_equal(k, 0);
	bhive_error_clear(&err);
	assert_int_equal(bh_augment_parse_kinds("ocr,typo", &k, &err), BHIVE_ERR_INVALID);
	assert_non_null(strstr(err.message, "unknown augmentation \"typo\""));
}

static void test_rephrase_prompt(void **state)
{
	char *p = bh_augment_rephrase_prompt("What is 2+2?");
	assert_string_equal(p, "Rephrase the following prompt without changing its meaning. Keep "
	                       "every number, name and instruction. Reply with the rephrased "
	                       "prompt only, inside <rephrased></rephrased> tags.\n"
	                       "<prompt>What is 2+2?</prompt>");
	bh_free(p);
}

static void test_parse_rephrased(void **state)
{
	static const struct {
		const char *reply;
		const char *want; /* NULL: error */
	} cases[] = {
		{"<rephrased>How much is 2+2?</rephrased>", "How much is 2+2?"},
		{"Sure!\n<rephrased>\n  Compute 2+2.\n</rephrased>\n", "Compute 2+2."},
		{"<rephrased>a</rephrased> or <rephrased>b</rephrased>", "b"},
		{"How much is 2+2?", NULL},
		{"<rephrased>unterminated", NULL},
		{"<rephrased>  </rephrased>", NULL},
		{"", NULL},
	};
	for (size_t i = 0; i < BH_ARRAY_LEN(cases); i++) {
		bhive_error err;
		bhive_error_clear(&err);
		char *got = bh_augment_parse_rephrased(cases[i].reply, &err);
		if (!cases[i].want) {
			assert_null(got);
			assert_int_equal(err.code, BHIVE_ERR_PARSE);
			continue;
		}
		assert_string_equal(got, cases[i].want);
		bh_free(got);
	}
}

static void test_alloc_failure(void **state)
{
	bh_alloc_fail_after(0);
	char *v = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.1, 1, 1);
	bh_alloc_fail_after(-1);
	assert_null(v);
	bh_alloc_fail_after(1);
	v = bh_augment_lexical(question, BH_AUGMENT_LEXICAL, 0.1, 1, 1);
	bh_alloc_fail_after(-1);
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic_by_seed), cmocka_unit_test(test_slots_differ),
		cmocka_unit_test(test_protected_text),        cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_rate),                  cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_rephrase_prompt),       cmocka_unit_test(test_parse_rephrased),
		cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
