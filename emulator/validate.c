/*
 * validate.c - checks a Converse request the way Bedrock Runtime does, and
 * measures what the simulated model reads.
 *
 * The rules come from the service model (shared/spec): required members,
 * the role enum, unions with exactly one member, numeric bounds. Constraint
 * failures use the wording of AWS's request validation ("1 validation error
 * detected: Value ... at 'path' failed to satisfy constraint: ..."); the
 * conversation-level rules use Bedrock's own sentences. Paths in constraint
 * messages are 1-based and name list members "member", as AWS's do.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

#define CONSTRAINT "1 validation error detected: "

void emu_status_set(emu_status *st, int http_status, const char *type, const char *fmt, ...)
{
	if (!st || st->http_status)
		return;
	va_list ap;
	va_start(ap, fmt);
	st->http_status = http_status;
	bh_strlcpy(st->type, type, sizeof(st->type));
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

static int invalid(emu_status *st, const char *fmt, ...) BH_PRINTF(2, 3);
static int invalid(emu_status *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emu_status_set(st, 400, "ValidationException", "%s", msg);
	return -1;
}

/* A member of the wrong JSON type cannot be deserialised at all, which AWS
 * reports as a SerializationException rather than a constraint failure. */
static int wrong_type(emu_status *st, const char *path, const char *expected)
{
	emu_status_set(st, 400, "SerializationException", "Expected %s at '%s'", expected, path);
	return -1;
}

json_t *emu_parse_body(const char *body, size_t len, emu_status *st)
{
	json_error_t je;
	json_t *v = json_loadb(body ? body : "", len, 0, &je);
	if (!v) {
		emu_status_set(st, 400, "SerializationException",
		               "Could not parse request body into json: %s (line %d, column %d)",
		               je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		emu_status_set(st, 400, "SerializationException",
		               "Could not parse request body into json: expected an object");
		return NULL;
	}
	return v;
}

static int need(const json_t *obj, const char *key, const char *path, emu_status *st)
{
	if (json_object_get(obj, key))
		return 0;
	return invalid(st,
	               CONSTRAINT "Value null at '%s.%s' failed to satisfy constraint: "
	                          "Member must not be null",
	               path, key);
}

static int need_string(const json_t *obj, const char *key, const char *path, emu_status *st)
{
	if (need(obj, key, path, st))
		return -1;
	if (!json_is_string(json_object_get(obj, key))) {
		char p[256];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return wrong_type(st, p, "a string");
	}
	return 0;
}

/* Every union in the model (ContentBlock, SystemContentBlock, Tool ...) must
 * carry exactly one known member; *member gets its name. */
static int union_member(const json_t *blk, const char *const *known, const char *path,
                        const char **member, emu_status *st)
{
	if (!json_is_object(blk))
		return wrong_type(st, path, "an object");
	if (json_object_size(blk) != 1)
		return invalid(st,
		               CONSTRAINT "Value at '%s' failed to satisfy constraint: "
		                          "Member must have exactly one member set",
		               path);
	const char *key = json_object_iter_key(json_object_iter((json_t *)blk));
	for (size_t i = 0; known[i]; i++) {
		if (strcmp(known[i], key) == 0) {
			*member = known[i];
			return 0;
		}
	}
	return invalid(st,
	               CONSTRAINT "Value '%s' at '%s' failed to satisfy constraint: "
	                          "Member must be a known union member",
	               key, path);
}

static int check_cache_point(const json_t *cp, const char *path, emu_status *st)
{
	if (!json_is_object(cp))
		return wrong_type(st, path, "an object");
	if (need_string(cp, "type", path, st))
		return -1;
	if (!bh_streq(bh_json_str(cp, "type"), "default"))
		return invalid(st,
		               CONSTRAINT
		               "Value '%s' at '%s.type' failed to satisfy "
		               "constraint: Member must satisfy enum value set: [default]",
		               bh_json_str(cp, "type"), path);
	return 0;
}

static int check_tool_use(const json_t *b, const char *path, emu_status *st)
{
	if (!json_is_object(b))
		return wrong_type(st, path, "an object");
	if (need_string(b, "toolUseId", path, st) || need_string(b, "name", path, st))
		return -1;
	return need(b, "input", path, st);
}

static int check_tool_result(const json_t *b, const char *path, emu_status *st)
{
	if (!json_is_object(b))
		return wrong_type(st, path, "an object");
	if (need_string(b, "toolUseId", path, st) || need(b, "content", path, st))
		return -1;
	if (!json_is_array(json_object_get(b, "content"))) {
		char p[256];
		snprintf(p, sizeof(p), "%s.content", path);
		return wrong_type(st, p, "a list");
	}
	return 0;
}

/* Media blocks (image, document, video, audio) need their format or name
 * and a source; their bytes are not inspected. */
static int check_media(const json_t *b, const char *member, const char *path, emu_status *st)
{
	if (!json_is_object(b))
		return wrong_type(st, path, "an object");
	if (strcmp(member, "document") == 0 && need_string(b, "name", path, st))
		return -1;
	if (strcmp(member, "document") != 0 && need_string(b, "format", path, st))
		return -1;
	return need(b, "source", path, st);
}

static const char *const content_members[] = {"text",
                                              "image",
                                              "document",
                                              "video",
                                              "audio",
                                              "toolUse",
                                              "toolResult",
                                              "guardContent",
                                              "cachePoint",
                                              "reasoningContent",
                                              "citationsContent",
                                              "searchResult",
                                              NULL};

static int check_content_block(const json_t *blk, const char *path, size_t *cache_points,
                               emu_status *st)
{
	const char *m;
	if (union_member(blk, content_members, path, &m, st))
		return -1;
	const json_t *v = json_object_get(blk, m);
	char p[256];
	snprintf(p, sizeof(p), "%s.%s", path, m);
	if (strcmp(m, "text") == 0)
		return json_is_string(v) ? 0 : wrong_type(st, p, "a string");
	if (strcmp(m, "cachePoint") == 0) {
		(*cache_points)++;
		return check_cache_point(v, p, st);
	}
	if (strcmp(m, "toolUse") == 0)
		return check_tool_use(v, p, st);
	if (strcmp(m, "toolResult") == 0)
		return check_tool_result(v, p, st);
	if (strcmp(m, "image") == 0 || strcmp(m, "document") == 0 || strcmp(m, "video") == 0 ||
	    strcmp(m, "audio") == 0)
		return check_media(v, m, p, st);
	return json_is_object(v) ? 0 : wrong_type(st, p, "an object");
}

/* Bedrock refuses a message whose only content is blank text (recorded
 * wording below); a whitespace block beside other content passes, as the
 * recorded traffic in shared/testdata shows. */
static bool text_is_blank(const json_t *blk)
{
	const char *t = bh_json_str(blk, "text");
	if (!t)
		return false;
	while (isspace((unsigned char)*t))
		t++;
	return *t == '\0';
}

static bool all_blank(const json_t *content)
{
	for (size_t j = 0; j < json_array_size(content); j++)
		if (!text_is_blank(json_array_get(content, j)))
			return false;
	return true;
}

static int check_role(const json_t *msg, size_t i, const char *prev, emu_status *st)
{
	char path[64];
	snprintf(path, sizeof(path), "messages.%zu.member", i + 1);
	if (need(msg, "role", path, st))
		return -1;
	const char *role = bh_json_str(msg, "role");
	if (!role) {
		snprintf(path, sizeof(path), "messages.%zu.member.role", i + 1);
		return wrong_type(st, path, "a string");
	}
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
		return invalid(st,
		               CONSTRAINT "Value '%s' at 'messages.%zu.member.role' failed to "
		                          "satisfy constraint: Member must satisfy enum value set: "
		                          "[user, assistant]",
		               role, i + 1);
	if (i == 0 && strcmp(role, "user") != 0)
		return invalid(st, "A conversation must start with a user message. Try again with "
		                   "a conversation that starts with a user message.");
	if (prev && strcmp(prev, role) == 0)
		return invalid(st, "A conversation must alternate between user and assistant "
		                   "roles. Make sure the conversation alternates between user and "
		                   "assistant roles and try again.");
	return 0;
}

static int check_message(const json_t *msg, size_t i, const char *prev, size_t *cache_points,
                         emu_status *st)
{
	char path[64];
	snprintf(path, sizeof(path), "messages.%zu.member", i + 1);
	if (!json_is_object(msg))
		return wrong_type(st, path, "an object");
	if (check_role(msg, i, prev, st) || need(msg, "content", path, st))
		return -1;
	const json_t *content = json_object_get(msg, "content");
	if (!json_is_array(content)) {
		snprintf(path, sizeof(path), "messages.%zu.member.content", i + 1);
		return wrong_type(st, path, "a list");
	}
	if (json_array_size(content) == 0)
		return invalid(st,
		               "The content field in the Message object at messages.%zu is "
		               "empty. Add a ContentBlock object to the content field and try "
		               "again.",
		               i);
	for (size_t j = 0; j < json_array_size(content); j++) {
		char bp[96];
		snprintf(bp, sizeof(bp), "messages.%zu.member.content.%zu.member", i + 1, j + 1);
		if (check_content_block(json_array_get(content, j), bp, cache_points, st))
			return -1;
	}
	if (all_blank(content))
		return invalid(st,
		               "The text field in the ContentBlock object at messages.%zu.content.0 "
		               "is blank. Add text to the text field, and try again.",
		               i);
	return 0;
}

static int check_messages(const json_t *req, size_t *cache_points, emu_status *st)
{
	const json_t *msgs = json_object_get(req, "messages");
	if (msgs && !json_is_array(msgs))
		return wrong_type(st, "messages", "a list");
	if (json_array_size(msgs) == 0)
		return invalid(st, "A conversation must start with a user message. Try again with "
		                   "a conversation that starts with a user message.");
	const char *prev = NULL;
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		const json_t *m = json_array_get(msgs, i);
		if (check_message(m, i, prev, cache_points, st))
			return -1;
		prev = bh_json_str(m, "role");
	}
	return 0;
}

static const char *const system_members[] = {"text", "guardContent", "cachePoint", NULL};

static int check_system(const json_t *req, size_t *cache_points, emu_status *st)
{
	const json_t *sys = json_object_get(req, "system");
	if (!sys)
		return 0;
	if (!json_is_array(sys))
		return wrong_type(st, "system", "a list");
	for (size_t i = 0; i < json_array_size(sys); i++) {
		char p[64];
		const char *m;
		snprintf(p, sizeof(p), "system.%zu.member", i + 1);
		const json_t *b = json_array_get(sys, i);
		if (union_member(b, system_members, p, &m, st))
			return -1;
		const json_t *v = json_object_get(b, m);
		if (strcmp(m, "text") == 0 && !json_is_string(v))
			return wrong_type(st, p, "a string");
		if (strcmp(m, "text") == 0 && json_string_length(v) == 0)
			return invalid(st,
			               CONSTRAINT
			               "Value '' at '%s.text' failed to satisfy "
			               "constraint: Member must have length greater than or equal "
			               "to 1",
			               p);
		if (strcmp(m, "cachePoint") == 0) {
			(*cache_points)++;
			if (check_cache_point(v, p, st))
				return -1;
		}
	}
	return 0;
}

/* A bounded float member of inferenceConfig, if present. */
static int check_unit_float(const json_t *ic, const char *key, emu_status *st)
{
	const json_t *v = json_object_get(ic, key);
	if (!v)
		return 0;
	char p[64];
	snprintf(p, sizeof(p), "inferenceConfig.%s", key);
	if (!json_is_number(v))
		return wrong_type(st, p, "a number");
	double d = json_number_value(v);
	if (d < 0)
		return invalid(st,
		               CONSTRAINT "Value '%g' at '%s' failed to satisfy constraint: "
		                          "Member must have value greater than or equal to 0",
		               d, p);
	if (d > 1)
		return invalid(st,
		               CONSTRAINT "Value '%g' at '%s' failed to satisfy constraint: "
		                          "Member must have value less than or equal to 1",
		               d, p);
	return 0;
}

static int check_stop_sequences(const json_t *ic, emu_status *st)
{
	const json_t *ss = json_object_get(ic, "stopSequences");
	if (!ss)
		return 0;
	if (!json_is_array(ss))
		return wrong_type(st, "inferenceConfig.stopSequences", "a list");
	for (size_t i = 0; i < json_array_size(ss); i++) {
		const json_t *s = json_array_get(ss, i);
		if (!json_is_string(s))
			return wrong_type(st, "inferenceConfig.stopSequences", "a list of strings");
		if (json_string_length(s) == 0)
			return invalid(st,
			               CONSTRAINT
			               "Value '' at 'inferenceConfig.stopSequences."
			               "%zu.member' failed to satisfy constraint: Member must have "
			               "length greater than or equal to 1",
			               i + 1);
	}
	return 0;
}

static int check_inference_config(const json_t *req, emu_status *st)
{
	const json_t *ic = json_object_get(req, "inferenceConfig");
	if (!ic)
		return 0;
	if (!json_is_object(ic))
		return wrong_type(st, "inferenceConfig", "an object");
	const json_t *mt = json_object_get(ic, "maxTokens");
	if (mt && !json_is_integer(mt))
		return wrong_type(st, "inferenceConfig.maxTokens", "an integer");
	if (mt && json_integer_value(mt) < 1)
		return invalid(st,
		               CONSTRAINT
		               "Value '%lld' at 'inferenceConfig.maxTokens' failed "
		               "to satisfy constraint: Member must have value greater than or "
		               "equal to 1",
		               (long long)json_integer_value(mt));
	if (check_unit_float(ic, "temperature", st) || check_unit_float(ic, "topP", st))
		return -1;
	return check_stop_sequences(ic, st);
}

static const char *const tool_members[] = {"toolSpec", "systemTool", "cachePoint", NULL};

static int check_tool(const json_t *tool, size_t i, size_t *cache_points, emu_status *st)
{
	char p[64];
	const char *m;
	snprintf(p, sizeof(p), "toolConfig.tools.%zu.member", i + 1);
	if (union_member(tool, tool_members, p, &m, st))
		return -1;
	const json_t *v = json_object_get(tool, m);
	char mp[96];
	snprintf(mp, sizeof(mp), "%s.%s", p, m);
	if (strcmp(m, "cachePoint") == 0) {
		(*cache_points)++;
		return check_cache_point(v, mp, st);
	}
	if (!json_is_object(v))
		return wrong_type(st, mp, "an object");
	if (strcmp(m, "toolSpec") != 0)
		return 0;
	if (need_string(v, "name", mp, st) || need(v, "inputSchema", mp, st))
		return -1;
	const char *const schema_members[] = {"json", NULL};
	char sp[128];
	snprintf(sp, sizeof(sp), "%s.inputSchema", mp);
	return union_member(json_object_get(v, "inputSchema"), schema_members, sp, &m, st);
}

static int check_tools(const json_t *req, size_t *cache_points, emu_status *st)
{
	const json_t *tc = json_object_get(req, "toolConfig");
	if (!tc)
		return 0;
	if (!json_is_object(tc))
		return wrong_type(st, "toolConfig", "an object");
	if (need(tc, "tools", "toolConfig", st))
		return -1;
	const json_t *tools = json_object_get(tc, "tools");
	if (!json_is_array(tools))
		return wrong_type(st, "toolConfig.tools", "a list");
	if (json_array_size(tools) == 0)
		return invalid(st, CONSTRAINT
		               "Value '[]' at 'toolConfig.tools' failed to satisfy "
		               "constraint: Member must have length greater than or equal to 1");
	for (size_t i = 0; i < json_array_size(tools); i++)
		if (check_tool(json_array_get(tools, i), i, cache_points, st))
			return -1;
	return 0;
}

int emu_validate_converse(const json_t *req, emu_status *st)
{
	size_t cache_points = 0;
	if (!json_is_object(req))
		return wrong_type(st, "", "an object");
	if (check_messages(req, &cache_points, st) || check_system(req, &cache_points, st) ||
	    check_inference_config(req, st) || check_tools(req, &cache_points, st))
		return -1;
	const json_t *amf = json_object_get(req, "additionalModelRequestFields");
	if (amf && !json_is_object(amf))
		return wrong_type(st, "additionalModelRequestFields", "an object");
	if (cache_points > EMU_MAX_CACHE_POINTS)
		return invalid(st,
		               "A maximum of %d blocks with cache_control may be provided. "
		               "Found %zu.",
		               EMU_MAX_CACHE_POINTS, cache_points);
	return 0;
}

/* ---- what the model reads --------------------------------------------- */

typedef struct measure {
	emu_prompt_size *out;
	uint64_t hash;
} measure;

static size_t json_chars(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	size_t n = s ? strlen(s) : 0;
	free(s);
	return n;
}

/* Text a block adds to the prompt: its text, or the serialised form of
 * structured members (tool input, results, specs). */
static size_t block_chars(const json_t *blk)
{
	const char *key;
	const json_t *v;
	size_t n = 0;
	json_object_foreach((json_t *)blk, key, v)
	{
		if (strcmp(key, "cachePoint") == 0)
			continue;
		n += json_is_string(v) ? json_string_length(v) : json_chars(v);
	}
	return n;
}

/* A plain text block, the common case, is hashed from its text alone
 * (seeded apart from serialised blocks) instead of being serialised first:
 * a debate request is mostly such blocks and tens of kilobytes long. */
static bool text_block_hash(measure *m, const json_t *blk)
{
	const json_t *t = json_object_get(blk, "text");
	if (json_object_size(blk) != 1 || !json_is_string(t))
		return false;
	m->hash = bh_hash64(json_string_value(t), json_string_length(t),
	                    m->hash ^ 0x74657874626c6f63ULL);
	return true;
}

/* Each block folds into a running hash so that a cachePoint's key covers
 * every block before it, in the order the model reads them. */
static void measure_block(measure *m, const json_t *blk)
{
	emu_prompt_size *o = m->out;
	if (json_object_get(blk, "cachePoint")) {
		if (o->num_cache_points < EMU_MAX_CACHE_POINTS) {
			o->cache_chars[o->num_cache_points] = o->chars;
			o->cache_hash[o->num_cache_points] = m->hash;
			o->num_cache_points++;
		}
		return;
	}
	o->chars += block_chars(blk);
	if (text_block_hash(m, blk))
		return;
	char *s = json_dumps(blk, JSON_COMPACT | JSON_SORT_KEYS);
	if (s)
		m->hash = bh_hash64(s, strlen(s), m->hash);
	free(s);
}

static void measure_list(measure *m, const json_t *list)
{
	for (size_t i = 0; i < json_array_size(list); i++)
		measure_block(m, json_array_get(list, i));
}

void emu_prompt_measure(const json_t *req, uint64_t seed, emu_prompt_size *out)
{
	memset(out, 0, sizeof(*out));
	measure m = {out, seed};
	measure_list(&m, json_object_get(json_object_get(req, "toolConfig"), "tools"));
	measure_list(&m, json_object_get(req, "system"));
	const json_t *msgs = json_object_get(req, "messages");
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		const json_t *msg = json_array_get(msgs, i);
		const char *role = bh_json_str(msg, "role");
		m.hash = bh_hash64(role ? role : "", role ? strlen(role) : 0, m.hash);
		measure_list(&m, json_object_get(msg, "content"));
	}
}

long emu_tokens(size_t chars, long min)
{
	long t = (long)((chars + 3) / 4);
	return t < min ? min : t;
}

char *emu_last_user_text(const json_t *req)
{
	const json_t *msgs = json_object_get(req, "messages");
	bh_buf b;
	bh_buf_init(&b, 0);
	bh_buf_puts(&b, "");
	for (size_t i = json_array_size(msgs); i-- > 0;) {
		const json_t *msg = json_array_get(msgs, i);
		if (!bh_streq(bh_json_str(msg, "role"), "user"))
			continue;
		const json_t *content = json_object_get(msg, "content");
		for (size_t j = 0; j < json_array_size(content); j++) {
			const char *t = bh_json_str(json_array_get(content, j), "text");
			if (t)
				bh_buf_puts(&b, t);
		}
		break;
	}
	return bh_buf_steal(&b);
}
