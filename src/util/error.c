/* error.c - bhive_error filling: first error wins. */
#include <stdio.h>
#include <string.h>
#include "util/util.h"
#include "bhive/version.h"

void bhive_error_clear(bhive_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int bh_error_setv(bhive_error *err, int code, const char *fmt, va_list ap)
{
	if (err && err->code == 0) {
		err->code = code;
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
	}
	return code;
}

int bh_error_set(bhive_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bh_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void bh_error_copy(bhive_error *dst, const bhive_error *src)
{
	if (dst && src && dst->code == 0)
		*dst = *src;
}

void bh_error_prefix(bhive_error *err, const char *fmt, ...)
{
	if (!err || !err->code)
		return;
	char prefix[256], old[BHIVE_ERROR_TEXT_LENGTH];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	bh_strlcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
}

const char *bhive_strerror(int code)
{
	switch (code) {
	case BHIVE_OK: return "no error";
	case BHIVE_ERR_NOMEM: return "out of memory";
	case BHIVE_ERR_INVALID: return "invalid argument";
	case BHIVE_ERR_CONFIG: return "bad configuration";
	case BHIVE_ERR_CREDENTIALS: return "no usable credentials";
	case BHIVE_ERR_REGION: return "no region";
	case BHIVE_ERR_NETWORK: return "network error";
	case BHIVE_ERR_TIMEOUT: return "timed out";
	case BHIVE_ERR_SERVICE: return "service error";
	case BHIVE_ERR_PARSE: return "parse error";
	case BHIVE_ERR_IO: return "i/o error";
	case BHIVE_ERR_VERIFIER: return "verifier failed";
	case BHIVE_ERR_SCHEMA: return "structured output invalid";
	case BHIVE_ERR_BUDGET: return "budget exceeded";
	case BHIVE_ERR_CANCELLED: return "cancelled";
	case BHIVE_ERR_STORE: return "results store error";
	case BHIVE_ERR_UNKNOWN_MODEL: return "unknown model price";
	case BHIVE_ERR_SERVICE_THROTTLED: return "throttled";
	case BHIVE_ERR_SERVICE_VALIDATION: return "request rejected as invalid";
	case BHIVE_ERR_SERVICE_ACCESS: return "access denied";
	case BHIVE_ERR_SERVICE_NOT_FOUND: return "resource not found";
	case BHIVE_ERR_SERVICE_MODEL_TIMEOUT: return "model timed out";
	case BHIVE_ERR_SERVICE_MODEL_ERROR: return "model error";
	case BHIVE_ERR_SERVICE_NOT_READY: return "model not ready";
	case BHIVE_ERR_SERVICE_INTERNAL: return "internal server error";
	case BHIVE_ERR_SERVICE_UNAVAILABLE: return "service unavailable";
	case BHIVE_ERR_SERVICE_QUOTA: return "service quota exceeded";
	default: return "unknown error";
	}
}

const char *bhive_version(void) { return BHIVE_VERSION_STRING; }
