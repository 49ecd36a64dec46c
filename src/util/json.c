/* json.c - jansson conveniences. */
#include <stdlib.h>
#include "util/util.h"

const char *bh_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_int_t bh_json_int(const json_t *obj, const char *key, json_int_t def)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (json_int_t)json_real_value(v);
	return def;
}

double bh_json_num(const json_t *obj, const char *key, double def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

json_t *bh_json_parse(const char *text, size_t len, const char *what, bhive_error *err)
{
	json_error_t je;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (!v && err && !err->code) {
		bh_error_set(err, BHIVE_ERR_PARSE, "%s is not valid JSON: %s at line %d column %d",
		             what ? what : "input", je.text, je.line, je.column);
		err->line = je.line;
		err->column = je.column;
	}
	return v;
}

char *bh_json_dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }
