/* buf.c - growable, always NUL-terminated byte buffers with a hard cap. */
#include <stdio.h>
#include <string.h>
#include "util/util.h"

#define BH_BUF_DEFAULT_MAX ((size_t)1 << 30)

void bh_buf_init(bh_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : BH_BUF_DEFAULT_MAX;
}

void bh_buf_release(bh_buf *b)
{
	bh_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void bh_buf_reset(bh_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int grow(bh_buf *b, size_t need)
{
	if (need > b->max || need < b->len)
		return BHIVE_ERR_NOMEM;
	if (need + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *d = bh_realloc(b->data, cap);
	if (!d)
		return BHIVE_ERR_NOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int bh_buf_reserve(bh_buf *b, size_t n)
{
	return grow(b, b->len + n);
}

int bh_buf_append(bh_buf *b, const void *p, size_t n)
{
	if (grow(b, b->len + n))
		return BHIVE_ERR_NOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int bh_buf_puts(bh_buf *b, const char *s) { return bh_buf_append(b, s, strlen(s)); }

int bh_buf_putc(bh_buf *b, char c) { return bh_buf_append(b, &c, 1); }

int bh_buf_printf(bh_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	int rc = BHIVE_ERR_NOMEM;
	if (n >= 0 && grow(b, b->len + (size_t)n) == 0) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		b->len += (size_t)n;
		rc = 0;
	}
	va_end(ap);
	return rc;
}

char *bh_buf_steal(bh_buf *b)
{
	char *d = b->data;
	if (!d)
		d = bh_strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
