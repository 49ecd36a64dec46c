/*
 * cli_util.c - small helpers of the bhive command: strict numbers, files,
 * JSON arguments, shell-like word splitting and the log level.
 */
#include "cli.h"
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bhive: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_check_value(const struct option *opts, int idx, const char *value)
{
	/* An empty --endpoint-url or --region used to mean "not given": a
	 * script with an unset variable then talked to the real AWS. */
	if (!value || *value)
		return 0;
	if (idx >= 0)
		cli_error("--%s needs a value, got an empty one", opts[idx].name);
	else
		cli_error("an option was given an empty value");
	return -1;
}

int cli_parse_long(const char *s, long *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Reads all of f into a growing buffer. */
static char *read_stream(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n - 1, f);
		if (ferror(f) || feof(f))
			break;
		char *grown = realloc(buf, cap * 2);
		if (!grown) {
			free(buf);
			return NULL;
		}
		buf = grown;
		cap *= 2;
	}
	if (!buf || ferror(f)) {
		int e = buf ? errno : ENOMEM;
		free(buf);
		errno = e ? e : EIO;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *cli_read_file(const char *path, size_t *len)
{
	if (strcmp(path, "-") == 0)
		return read_stream(stdin, len);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *s = read_stream(f, len);
	int e = errno;
	fclose(f);
	errno = e;
	return s;
}

json_t *cli_load_json_arg(const char *arg, const char *what)
{
	json_error_t je;
	const char *p = arg;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p == '{' || *p == '[') {
		json_t *v = json_loads(arg, 0, &je);
		if (!v)
			cli_error("%s is not valid JSON: %s at line %d column %d", what, je.text,
			          je.line, je.column);
		return v;
	}
	if (strncmp(arg, "file://", 7) == 0)
		arg += 7;
	size_t len = 0;
	char *text = cli_read_file(arg, &len);
	if (!text) {
		cli_error("cannot read %s \"%s\": %s", what, arg, strerror(errno));
		return NULL;
	}
	json_t *v = json_loadb(text, len, 0, &je);
	free(text);
	if (!v)
		cli_error("%s \"%s\" is not valid JSON: %s at line %d column %d", what, arg,
		          je.text, je.line, je.column);
	return v;
}

/* ---- word splitting ---------------------------------------------------- */

typedef struct words {
	char **v;
	size_t n;
} words;

static int words_push(words *w, const char *s, size_t len)
{
	char **v = realloc(w->v, (w->n + 2) * sizeof(*v));
	if (!v)
		return -1;
	w->v = v;
	if (!(v[w->n] = strndup(s, len)))
		return -1;
	v[++w->n] = NULL;
	return 0;
}

/* Reads one word starting at *pp into buf (cap bytes); -1 on a bad quote. */
static int read_word(const char **pp, char *buf, size_t *len)
{
	const char *p = *pp;
	char quote = 0;
	size_t n = 0;
	for (; *p && (quote || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
		if (quote == '\'' && *p != '\'') {
			buf[n++] = *p;
		} else if (*p == '\\' && quote != '\'' && p[1]) {
			buf[n++] = *++p;
		} else if ((*p == '\'' || *p == '"') && (!quote || quote == *p)) {
			quote = quote ? 0 : *p;
		} else {
			buf[n++] = *p;
		}
	}
	*pp = p;
	*len = n;
	return quote ? -1 : 0;
}

char **cli_split_argv(const char *cmd)
{
	words w = {0};
	char *buf = malloc(strlen(cmd) + 1);
	const char *p = cmd;
	int bad = !buf;
	while (!bad) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		size_t len;
		bad = read_word(&p, buf, &len) || words_push(&w, buf, len);
	}
	free(buf);
	if (bad || w.n == 0) {
		cli_free_argv(w.v);
		return NULL;
	}
	return w.v;
}

void cli_free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int cli_set_log_level(const char *name)
{
	static const char *const names[] = {"off",  "error", "warn", "warning",
	                                    "info", "debug", "trace"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return setenv("BHIVE_LOG_LEVEL", names[i], 1) ? -1 : 0;
	return -1;
}
