/* log.c - leveled logging to stderr. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "util/util.h"

static int level = -1;

int bh_log_parse_level(const char *name)
{
	static const char *names[] = { "off", "error", "warn", "info", "debug", "trace" };
	if (!name)
		return -1;
	for (int i = 0; i < (int)BH_ARRAY_LEN(names); i++)
		if (bh_strcaseeq(name, names[i]))
			return i;
	if (bh_strcaseeq(name, "warning"))
		return BH_LOG_WARN;
	return -1;
}

void bh_log_set_level(int l) { level = l; }

int bh_log_level(void)
{
	if (level < 0) {
		const char *env = bh_getenv("BHIVE_LOG_LEVEL");
		int l = bh_log_parse_level(env);
		level = l < 0 ? BH_LOG_WARN : l;
		if (env && l < 0) /* a typo must not silently mean "warn" */
			fprintf(stderr, "bhive: warning: unknown BHIVE_LOG_LEVEL \"%s\" ignored "
			                "(off, error, warn, info, debug, trace)\n", env);
	}
	return level;
}

void bh_log(int l, const char *fmt, ...)
{
	static const char *tags[] = { "", "error", "warning", "info", "debug", "trace" };
	if (l > bh_log_level() || l <= 0)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bhive: %s: %s\n", tags[l], msg);
}

void bh_redact(const char *secret, char *out, size_t outsz)
{
	if (!outsz)
		return;
	if (!secret) {
		bh_strlcpy(out, "(none)", outsz);
		return;
	}
	size_t keep = strlen(secret) >= 16 ? 4 : 0;
	char tmp[16];
	memcpy(tmp, secret, keep);
	tmp[keep] = '\0';
	snprintf(out, outsz, "%s****", tmp);
}
