/* file.c - whole-file reads with a size cap. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "util/util.h"

char *bh_read_file(const char *path, size_t max, size_t *len, bhive_error *err)
{
	if (!max)
		max = (size_t)64 << 20;
	FILE *f = fopen(path, "rb");
	if (!f) {
		bh_error_set(err, BHIVE_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	bh_buf b;
	bh_buf_init(&b, max);
	char chunk[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = bh_buf_append(&b, chunk, n)) != 0)
			break;
	bool bad = ferror(f);
	int read_errno = errno; /* a directory opens fine and fails here (EISDIR) */
	fclose(f);
	if (rc) {
		bh_buf_release(&b);
		bh_error_set(err, BHIVE_ERR_IO, "\"%s\" is larger than %zu bytes", path, max);
		return NULL;
	}
	if (bad) {
		bh_buf_release(&b);
		bh_error_set(err, BHIVE_ERR_IO, "cannot read \"%s\": %s", path,
		             strerror(read_errno));
		return NULL;
	}
	if (len)
		*len = b.len;
	return bh_buf_steal(&b);
}
