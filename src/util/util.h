/*
 * util.h - internal helpers shared by every layer: allocation, growable
 * buffers, strings, errors, logging, clocks and random numbers.
 *
 * Not API: nothing here is installed.
 */
#ifndef BH_UTIL_H
#define BH_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "bhive/error.h"

#define BH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BH_UNUSED(x) ((void)(x))
#define BH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- allocation: every allocation goes through these, so tests can fail
 * the Nth one (bh_alloc_fail_after). They return NULL on failure. */
void *bh_malloc(size_t n);
void *bh_calloc(size_t n, size_t size);
void *bh_realloc(void *p, size_t n);
void bh_free(void *p);
char *bh_strdup(const char *s);            /* NULL in, NULL out */
char *bh_strndup(const char *s, size_t n);
char *bh_asprintf(const char *fmt, ...) BH_PRINTF(1, 2);
char *bh_vasprintf(const char *fmt, va_list ap);
/* Test hook: the allocation after n more succeed fails; -1 disables. */
void bh_alloc_fail_after(long n);

/* ---- UTF-8 as JSON strings take it (jansson's rules) ------------------ */
/* Length of the valid sequence at p (1 for ASCII), 0 if none; n > 0. */
size_t bh_utf8_seq(const unsigned char *p, size_t n);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t bh_utf8_valid_prefix(const char *s, size_t n);
/* A copy of s[0..n) with each byte that is not valid UTF-8 replaced by
 * U+FFFD; NULL when out of memory. */
char *bh_utf8_repair(const char *s, size_t n);

/* ---- growable byte buffer with a hard maximum (0 = 1 GiB) ------------- */
typedef struct bh_buf {
	char *data;     /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;
} bh_buf;
void bh_buf_init(bh_buf *b, size_t max);
void bh_buf_release(bh_buf *b);
void bh_buf_reset(bh_buf *b);               /* len = 0, keeps memory */
int bh_buf_append(bh_buf *b, const void *p, size_t n);   /* 0 or BHIVE_ERR_NOMEM */
/* Room for n more bytes (and the NUL) past len, for writers that fill
 * data + len directly; 0 or BHIVE_ERR_NOMEM. */
int bh_buf_reserve(bh_buf *b, size_t n);
int bh_buf_puts(bh_buf *b, const char *s);
int bh_buf_putc(bh_buf *b, char c);
int bh_buf_printf(bh_buf *b, const char *fmt, ...) BH_PRINTF(2, 3);
char *bh_buf_steal(bh_buf *b);              /* caller frees; buffer emptied */

/* ---- strings ---------------------------------------------------------- */
size_t bh_strlcpy(char *dst, const char *src, size_t size);
bool bh_streq(const char *a, const char *b);          /* NULL-safe */
bool bh_strcaseeq(const char *a, const char *b);      /* ASCII, NULL-safe */
bool bh_starts_with(const char *s, const char *prefix);
bool bh_ends_with(const char *s, const char *suffix);
char *bh_trim(char *s);                     /* in place; returns s moved past spaces */
/* Strict number parsing: whole string, no overflow. 0 ok, -1 bad. */
int bh_parse_long(const char *s, long *out);
int bh_parse_double(const char *s, double *out);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void bh_hex(const unsigned char *in, size_t n, char *out);
/* RFC 3986 percent-encoding of every byte but unreserved ones, uppercase hex. */
int bh_uri_encode(bh_buf *out, const char *s, size_t n, bool keep_slash);
/* Environment variable, NULL when unset or empty. */
const char *bh_getenv(const char *name);

/* ---- errors ----------------------------------------------------------- */
/* Sets err if err is non-NULL and has no error yet; returns code. */
int bh_error_set(bhive_error *err, int code, const char *fmt, ...) BH_PRINTF(3, 4);
int bh_error_setv(bhive_error *err, int code, const char *fmt, va_list ap);
/* Copies src into dst if dst has no error yet. */
void bh_error_copy(bhive_error *dst, const bhive_error *src);
/* Prefixes an existing message: "context: old message". */
void bh_error_prefix(bhive_error *err, const char *fmt, ...) BH_PRINTF(2, 3);

/* ---- logging (stderr). Level from bh_log_set_level or BHIVE_LOG_LEVEL:
 * error, warn, info, debug, trace. Default warn. Never log secrets: pass
 * them through bh_redact first. */
enum { BH_LOG_OFF = 0, BH_LOG_ERROR, BH_LOG_WARN, BH_LOG_INFO, BH_LOG_DEBUG, BH_LOG_TRACE };
void bh_log_set_level(int level);
int bh_log_level(void);
int bh_log_parse_level(const char *name);   /* -1 if unknown */
void bh_log(int level, const char *fmt, ...) BH_PRINTF(2, 3);
#define bh_log_enabled(l) (bh_log_level() >= (l))
#define BH_ERROR(...) bh_log(BH_LOG_ERROR, __VA_ARGS__)
#define BH_WARN(...) bh_log(BH_LOG_WARN, __VA_ARGS__)
#define BH_INFO(...) do { if (bh_log_enabled(BH_LOG_INFO)) bh_log(BH_LOG_INFO, __VA_ARGS__); } while (0)
#define BH_DEBUG(...) do { if (bh_log_enabled(BH_LOG_DEBUG)) bh_log(BH_LOG_DEBUG, __VA_ARGS__); } while (0)
#define BH_TRACE(...) do { if (bh_log_enabled(BH_LOG_TRACE)) bh_log(BH_LOG_TRACE, __VA_ARGS__); } while (0)
/* "AKIA****" style: keeps the first 4 characters of a key id, masks the rest. */
void bh_redact(const char *secret, char *out, size_t outsz);

/* ---- clocks: injectable for tests ------------------------------------- */
int64_t bh_now_ms(void);                  /* monotonic milliseconds */
double bh_now_s(void);                    /* monotonic seconds */
int64_t bh_wall_time(void);               /* seconds since the epoch (UTC) */
/* Test hook: fixes bh_wall_time() at t (0 = real clock again). */
void bh_set_wall_time(int64_t t);
/* Formats t as "YYYYMMDDTHHMMSSZ" (16 chars + NUL). */
void bh_amz_date(int64_t t, char out[17]);
/* Parses ISO 8601 "2024-01-01T00:00:00Z" (fractional seconds and offsets ok). -1 on error. */
int64_t bh_parse_iso8601(const char *s);

/* ---- random numbers: splitmix64-seeded xoshiro256** ------------------- */
typedef struct bh_rng { uint64_t s[4]; } bh_rng;
void bh_rng_seed(bh_rng *r, uint64_t seed);
uint64_t bh_rng_next(bh_rng *r);
double bh_rng_double(bh_rng *r);          /* [0, 1) */
uint64_t bh_rng_below(bh_rng *r, uint64_t n); /* [0, n) */
uint64_t bh_hash64(const void *p, size_t n, uint64_t seed); /* FNV-1a then mixed */

/* ---- files ------------------------------------------------------------ */
/* Reads a whole file (max bytes, 0 = 64 MiB). NULL with err on failure. */
char *bh_read_file(const char *path, size_t max, size_t *len, bhive_error *err);

/* ---- JSON helpers ------------------------------------------------------ */
/* Object member as string/integer/number, NULL/def when absent or wrong type. */
const char *bh_json_str(const json_t *obj, const char *key);
json_int_t bh_json_int(const json_t *obj, const char *key, json_int_t def);
double bh_json_num(const json_t *obj, const char *key, double def);
/* Parses text, filling err (BHIVE_ERR_PARSE with line/column) on failure. */
json_t *bh_json_parse(const char *text, size_t len, const char *what, bhive_error *err);
/* Compact serialisation; caller frees with free() (jansson's allocator). */
char *bh_json_dump(const json_t *v);

#endif
