/* str.c - small string helpers: no sprintf/strcpy/atoi in the project. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "util/util.h"

size_t bh_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

bool bh_streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

bool bh_strcaseeq(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

bool bh_starts_with(const char *s, const char *p) { return s && p && strncmp(s, p, strlen(p)) == 0; }

bool bh_ends_with(const char *s, const char *suffix)
{
	if (!s || !suffix)
		return false;
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

char *bh_trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int bh_parse_long(const char *s, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

int bh_parse_double(const char *s, double *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

void bh_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int bh_uri_encode(bh_buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			if (bh_buf_putc(out, (char)c))
				return BHIVE_ERR_NOMEM;
		} else {
			char e[3] = { '%', digits[c >> 4], digits[c & 15] };
			if (bh_buf_append(out, e, 3))
				return BHIVE_ERR_NOMEM;
		}
	}
	return 0;
}

const char *bh_getenv(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}
