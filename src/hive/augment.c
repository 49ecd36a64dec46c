/*
 * augment.c - input augmentation: seeded lexical perturbations of a prompt
 * and the prompt/parser pair of semantic rephrasing.
 *
 * Design: a first pass marks the bytes that must not change (tag markup
 * such as <answer> or </json>, and everything inside ``` fences); a second
 * pass walks the text with a private RNG seeded from (seed, slot) and, at
 * each unprotected ASCII letter, draws whether to perturb it and how. Only
 * letters are ever produced, so digits and operators stay exactly as they
 * were and an arithmetic question keeps its expression.
 */
#include "hive/augment.h"
#include "util/util.h"
#include <stdio.h>
#include <string.h>

/* QWERTY neighbours of each lowercase letter (same row and adjacent rows). */
static const char *const keyboard_neighbours[26] = {
    "qwsz",   "vghn",  "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko",
    "huikmn", "jiolm", "kop",  "njk",    "bhjm", "iklp",   "ol",     "wa",     "edft",
    "awedxz", "rfgy",  "yhji", "cfgb",   "qase", "zsdc",   "tghu",   "asx"};

/* Look-alike confusions of OCR; only letters on either side. */
static const struct {
	const char *from;
	const char *to;
} ocr_rules[] = {{"rn", "m"}, {"m", "rn"}, {"cl", "d"}, {"vv", "w"}, {"w", "vv"},
                 {"l", "I"},  {"I", "l"},  {"e", "c"},  {"c", "e"},  {"u", "v"},
                 {"v", "u"},  {"h", "b"},  {"n", "h"}};

/* The output: at most two bytes per input byte ("w" -> "vv", doubling), so
 * it is allocated once at 2n + 1 and never grows. */
typedef struct outb {
	char *p;
	size_t n;
} outb;

static void out_putc(outb *o, char c)
{
	o->p[o->n++] = c;
}

static void out_puts(outb *o, const char *s)
{
	while (*s)
		out_putc(o, *s++);
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Length of tag markup starting at s ("<x>", "</x>", "<x a='b'>"), else 0. */
static size_t tag_length(const char *s)
{
	size_t i = 1;
	if (s[0] != '<')
		return 0;
	if (s[i] == '/')
		i++;
	if (!is_letter(s[i]))
		return 0;
	for (; s[i] && s[i] != '\n'; i++)
		if (s[i] == '>')
			return i + 1;
	return 0;
}

/* Marks the bytes of text that perturbations must leave alone. */
static void mark_protected(const char *text, size_t n, unsigned char *keep)
{
	for (size_t i = 0; i < n;) {
		if (strncmp(text + i, "```", 3) == 0) {
			const char *end = strstr(text + i + 3, "```");
			size_t stop = end ? (size_t)(end - text) + 3 : n;
			memset(keep + i, 1, stop - i);
			i = stop;
			continue;
		}
		size_t t = tag_length(text + i);
		if (t) {
			memset(keep + i, 1, t);
			i += t;
			continue;
		}
		i++;
	}
}

/* Can the n bytes at i all be changed? */
static bool free_run(const char *text, const unsigned char *keep, size_t i, size_t n, size_t len)
{
	if (i + n > len)
		return false;
	for (size_t k = 0; k < n; k++)
		if (keep[i + k] || !is_letter(text[i + k]))
			return false;
	return true;
}

/* Each perturbation appends its output and returns how many input bytes it
 * consumed (0: it did not apply here). */
static size_t perturb_keyboard(outb *out, const char *text, size_t i, bh_rng *rng)
{
	const char *nb = keyboard_neighbours[to_lower(text[i]) - 'a'];
	char c = nb[bh_rng_below(rng, strlen(nb))];
	out_putc(out, (text[i] >= 'A' && text[i] <= 'Z') ? to_upper(c) : c);
	return 1;
}

static size_t perturb_ocr(outb *out, const char *text, const unsigned char *keep, size_t i,
                          size_t len, bh_rng *rng)
{
	size_t candidates[BH_ARRAY_LEN(ocr_rules)], n = 0;
	for (size_t r = 0; r < BH_ARRAY_LEN(ocr_rules); r++) {
		size_t fl = strlen(ocr_rules[r].from);
		if (free_run(text, keep, i, fl, len) &&
		    strncmp(text + i, ocr_rules[r].from, fl) == 0)
			candidates[n++] = r;
	}
	if (n == 0)
		return 0;
	size_t r = candidates[bh_rng_below(rng, n)];
	out_puts(out, ocr_rules[r].to);
	return strlen(ocr_rules[r].from);
}

static size_t perturb_spelling(outb *out, const char *text, const unsigned char *keep, size_t i,
                               size_t len, bh_rng *rng)
{
	switch (bh_rng_below(rng, 3)) {
	case 0: /* swap with the next letter */
		if (!free_run(text, keep, i, 2, len) || text[i] == text[i + 1])
			return 0;
		out_putc(out, text[i + 1]);
		out_putc(out, text[i]);
		return 2;
	case 1: /* drop, but never a one-letter word */
		if (!(i > 0 && is_letter(text[i - 1])) && !free_run(text, keep, i + 1, 1, len))
			return 0;
		return 1;
	default: /* double */
		out_putc(out, text[i]);
		out_putc(out, text[i]);
		return 1;
	}
}

/* Picks one of the enabled lexical kinds. */
static unsigned pick_kind(unsigned kinds, bh_rng *rng)
{
	unsigned list[3], n = 0;
	if (kinds & BH_AUGMENT_KEYBOARD)
		list[n++] = BH_AUGMENT_KEYBOARD;
	if (kinds & BH_AUGMENT_OCR)
		list[n++] = BH_AUGMENT_OCR;
	if (kinds & BH_AUGMENT_SPELLING)
		list[n++] = BH_AUGMENT_SPELLING;
	return n ? list[bh_rng_below(rng, n)] : 0;
}

static size_t perturb_at(outb *out, const char *text, const unsigned char *keep, size_t i,
                         size_t len, unsigned kind, bh_rng *rng)
{
	if (kind == BH_AUGMENT_KEYBOARD)
		return perturb_keyboard(out, text, i, rng);
	if (kind == BH_AUGMENT_OCR)
		return perturb_ocr(out, text, keep, i, len, rng);
	if (kind == BH_AUGMENT_SPELLING)
		return perturb_spelling(out, text, keep, i, len, rng);
	return 0;
}

static void perturb_all(outb *out, const char *text, const unsigned char *keep, size_t len,
                        unsigned kinds, double rate, bh_rng *rng)
{
	for (size_t i = 0; i < len;) {
		size_t used = 0;
		if (!keep[i] && is_letter(text[i]) && bh_rng_double(rng) < rate)
			used = perturb_at(out, text, keep, i, len, pick_kind(kinds, rng), rng);
		if (used == 0) {
			out_putc(out, text[i]);
			used = 1;
		}
		i += used;
	}
}

char *bh_augment_lexical(const char *prompt, unsigned kinds, double rate, uint64_t seed, int slot)
{
	bh_rng rng;
	if (!prompt)
		return NULL;
	size_t len = strlen(prompt);
	if (slot == 0 || !(kinds & BH_AUGMENT_LEXICAL) || rate <= 0)
		return bh_strdup(prompt);
	unsigned char *keep = bh_calloc(len + 1, 1);
	outb out = {bh_malloc(2 * len + 1), 0};
	if (!keep || !out.p) {
		bh_free(keep);
		bh_free(out.p);
		return NULL;
	}
	mark_protected(prompt, len, keep);
	bh_rng_seed(&rng, seed ^ bh_hash64(&slot, sizeof(slot), 0x5eed));
	perturb_all(&out, prompt, keep, len, kinds, rate > 1 ? 1 : rate, &rng);
	out.p[out.n] = '\0';
	bh_free(keep);
	return out.p;
}

/* ---- kinds -------------------------------------------------------------- */

static int kind_of_word(const char *w, size_t n, unsigned *kind)
{
	static const struct {
		const char *name;
		unsigned kind;
	} words[] = {{"keyboard", BH_AUGMENT_KEYBOARD}, {"ocr", BH_AUGMENT_OCR},
	             {"spelling", BH_AUGMENT_SPELLING}, {"lexical", BH_AUGMENT_LEXICAL},
	             {"semantic", BH_AUGMENT_SEMANTIC}, {"none", 0}};
	for (size_t i = 0; i < BH_ARRAY_LEN(words); i++)
		if (strlen(words[i].name) == n && strncmp(words[i].name, w, n) == 0) {
			*kind = words[i].kind;
			return 0;
		}
	return -1;
}

int bh_augment_parse_kinds(const char *text, unsigned *kinds, bhive_error *err)
{
	unsigned all = 0;
	const char *p = text ? text : "";
	while (*p) {
		unsigned k;
		size_t n = strcspn(p, ",");
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		size_t wl = n;
		while (wl > 0 && p[wl - 1] == ' ')
			wl--;
		if (kind_of_word(p, wl, &k) != 0)
			return bh_error_set(
			    err, BHIVE_ERR_INVALID,
			    "unknown augmentation \"%.*s\" (keyboard, ocr, spelling, "
			    "lexical, semantic, none)",
			    (int)wl, p);
		all |= k;
		p += n;
		if (*p == ',')
			p++;
	}
	*kinds = all;
	return 0;
}

/* ---- semantic ----------------------------------------------------------- */

char *bh_augment_rephrase_prompt(const char *prompt)
{
	return bh_asprintf("Rephrase the following prompt without changing its meaning. Keep "
	                   "every number, name and instruction. Reply with the rephrased prompt "
	                   "only, inside <rephrased></rephrased> tags.\n<prompt>%s</prompt>",
	                   prompt ? prompt : "");
}

char *bh_augment_parse_rephrased(const char *reply, bhive_error *err)
{
	const char *open = "<rephrased>", *close = "</rephrased>";
	const char *start = NULL, *p = reply ? reply : "";
	size_t len = 0;
	while ((p = strstr(p, open)) != NULL) {
		const char *end = strstr(p + strlen(open), close);
		if (!end)
			break;
		start = p + strlen(open);
		len = (size_t)(end - start);
		p = end + strlen(close);
	}
	if (!start) {
		bh_error_set(err, BHIVE_ERR_PARSE, "no <rephrased></rephrased> tags in the reply");
		return NULL;
	}
	char *text = bh_strndup(start, len);
	if (!text) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory reading the rephrased prompt");
		return NULL;
	}
	char *t = bh_trim(text);
	if (*t == '\0') {
		bh_free(text);
		bh_error_set(err, BHIVE_ERR_PARSE, "the <rephrased></rephrased> tags are empty");
		return NULL;
	}
	memmove(text, t, strlen(t) + 1);
	return text;
}
