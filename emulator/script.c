/*
 * script.c - scripted models: exact answers for tests.
 *
 * A script is {"replies": [REPLY...], "rules": [{"contains"|"regex": S,
 * "reply": REPLY}...]}. Rules are tried first, in order, against the text of
 * the last user message and may answer any number of times; otherwise the
 * next unused entry of "replies" answers. A REPLY is {"text", "reasoning",
 * "stop_reason", "delay_ms", "error": {"status", "type", "message"}}.
 */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

typedef struct script_rule {
	char *contains; /* NULL when a regex */
	regex_t re;
	bool has_re;
	json_t *reply;
} script_rule;

struct emu_script {
	json_t *root; /* owns every reply object */
	const json_t *replies;
	size_t next;
	script_rule *rules;
	size_t num_rules;
};

void emu_script_free(emu_script *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->num_rules; i++) {
		bh_free(s->rules[i].contains);
		if (s->rules[i].has_re)
			regfree(&s->rules[i].re);
	}
	bh_free(s->rules);
	json_decref(s->root);
	bh_free(s);
}

static int check_reply(const json_t *r, const char *where, bhive_error *err)
{
	if (!json_is_object(r))
		return bh_error_set(err, BHIVE_ERR_CONFIG, "script %s is not an object", where);
	const json_t *e = json_object_get(r, "error");
	if (e && (!json_is_object(e) || !bh_json_str(e, "type")))
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "script %s has an error without a \"type\"", where);
	if (!e && !bh_json_str(r, "text"))
		return bh_error_set(err, BHIVE_ERR_CONFIG, "script %s needs \"text\" or \"error\"",
		                    where);
	return 0;
}

static int load_rule(script_rule *rule, const json_t *j, size_t i, bhive_error *err)
{
	char where[48];
	snprintf(where, sizeof(where), "rule %zu", i + 1);
	const char *contains = bh_json_str(j, "contains");
	const char *re = bh_json_str(j, "regex");
	if (!contains && !re)
		return bh_error_set(err, BHIVE_ERR_CONFIG,
		                    "script %s needs \"contains\" or \"regex\"", where);
	if (check_reply(json_object_get(j, "reply"), where, err))
		return BHIVE_ERR_CONFIG;
	rule->reply = json_object_get(j, "reply");
	if (contains) {
		rule->contains = bh_strdup(contains);
		return rule->contains ? 0 : bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	}
	if (regcomp(&rule->re, re, REG_EXTENDED | REG_NOSUB) != 0)
		return bh_error_set(err, BHIVE_ERR_CONFIG, "script %s has a bad regex \"%s\"",
		                    where, re);
	rule->has_re = true;
	return 0;
}

static int load_script(emu_script *s, bhive_error *err)
{
	s->replies = json_object_get(s->root, "replies");
	if (s->replies && !json_is_array(s->replies))
		return bh_error_set(err, BHIVE_ERR_CONFIG, "script \"replies\" must be a list");
	for (size_t i = 0; i < json_array_size(s->replies); i++) {
		char where[48];
		snprintf(where, sizeof(where), "reply %zu", i + 1);
		if (check_reply(json_array_get(s->replies, i), where, err))
			return BHIVE_ERR_CONFIG;
	}
	const json_t *rules = json_object_get(s->root, "rules");
	size_t n = json_array_size(rules);
	s->rules = bh_calloc(n ? n : 1, sizeof(*s->rules));
	if (!s->rules)
		return bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		s->num_rules = i + 1;
		if (load_rule(&s->rules[i], json_array_get(rules, i), i, err))
			return BHIVE_ERR_CONFIG;
	}
	return 0;
}

/* A string names a script file; relative names are read from base_dir,
 * the folder of the configuration file. */
static json_t *script_root(const json_t *spec, const char *base_dir, bhive_error *err)
{
	if (json_is_object(spec))
		return json_incref((json_t *)spec);
	if (!json_is_string(spec)) {
		bh_error_set(err, BHIVE_ERR_CONFIG, "script must be an object or a file name");
		return NULL;
	}
	const char *name = json_string_value(spec);
	char *path =
	    (name[0] == '/' || !base_dir) ? bh_strdup(name) : bh_asprintf("%s/%s", base_dir, name);
	size_t len = 0;
	char *text = path ? bh_read_file(path, 0, &len, err) : NULL;
	json_t *root = text ? bh_json_parse(text, len, path, err) : NULL;
	if (root && !json_is_object(root)) {
		bh_error_set(err, BHIVE_ERR_CONFIG, "script \"%s\" is not a JSON object", path);
		json_decref(root);
		root = NULL;
	}
	bh_free(text);
	bh_free(path);
	return root;
}

emu_script *emu_script_new(const json_t *spec, const char *base_dir, bhive_error *err)
{
	emu_script *s = bh_calloc(1, sizeof(*s));
	if (!s) {
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->root = script_root(spec, base_dir, err);
	if (!s->root || load_script(s, err)) {
		emu_script_free(s);
		return NULL;
	}
	return s;
}

static void fill_reply(const json_t *r, emu_script_reply *out)
{
	memset(out, 0, sizeof(*out));
	out->text = bh_json_str(r, "text");
	out->reasoning = bh_json_str(r, "reasoning");
	out->stop_reason = bh_json_str(r, "stop_reason");
	out->delay_ms = (long)bh_json_int(r, "delay_ms", -1);
	const json_t *e = json_object_get(r, "error");
	if (!e)
		return;
	const char *msg = bh_json_str(e, "message");
	emu_status_set(&out->error, (int)bh_json_int(e, "status", 400), bh_json_str(e, "type"),
	               "%s", msg ? msg : "scripted error");
}

static bool rule_matches(const script_rule *r, const char *text)
{
	if (r->contains)
		return strstr(text, r->contains) != NULL;
	return regexec(&r->re, text, 0, NULL, 0) == 0;
}

bool emu_script_next(emu_script *s, const char *last_user_text, emu_script_reply *out)
{
	const char *text = last_user_text ? last_user_text : "";
	for (size_t i = 0; i < s->num_rules; i++) {
		if (rule_matches(&s->rules[i], text)) {
			fill_reply(s->rules[i].reply, out);
			return true;
		}
	}
	if (s->next >= json_array_size(s->replies))
		return false;
	fill_reply(json_array_get(s->replies, s->next++), out);
	return true;
}
