/*
 * utf8.c - UTF-8 checks for text that becomes a JSON string: what jansson
 * accepts (no overlong forms, surrogates or code points past U+10FFFF),
 * with runs of ASCII taken eight bytes at a time.
 */
#include <string.h>
#include "util/util.h"

#define BH_ONES 0x0101010101010101ULL
#define BH_HIGH 0x8080808080808080ULL

static uint64_t load8(const unsigned char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

size_t bh_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (c < 0xC2 || c > 0xF4 || len > n)
		return 0;
	uint32_t v = c & (0x7Fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3Fu);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) ||
	    (len == 4 && v < 0x10000))
		return 0;
	return len;
}

size_t bh_utf8_valid_prefix(const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < n) {
		while (i + 8 <= n && !(load8(s + i) & BH_HIGH))
			i += 8;
		if (i >= n)
			break;
		size_t step = bh_utf8_seq(s + i, n - i);
		if (!step)
			break;
		i += step;
	}
	return i < n ? i : n;
}

char *bh_utf8_repair(const char *text, size_t n)
{
	bh_buf b;
	bh_buf_init(&b, 0);
	size_t i = 0;
	while (i < n) {
		size_t ok = bh_utf8_valid_prefix(text + i, n - i);
		if (bh_buf_append(&b, text + i, ok))
			goto nomem;
		i += ok;
		if (i < n) { /* one bad byte becomes U+FFFD */
			if (bh_buf_puts(&b, "\xEF\xBF\xBD"))
				goto nomem;
			i++;
		}
	}
	return bh_buf_steal(&b);
nomem:
	bh_buf_release(&b);
	return NULL;
}
