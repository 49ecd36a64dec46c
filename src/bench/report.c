/*
 * report.c - what a benchmark found, as data first (JSON built from the
 * store, so resumed samples count) and then as a terminal table, CSV and
 * JSON. Every form names the source of its figures: simulated models must
 * never pass for Amazon Bedrock.
 */
#include "bench/runner_int.h"
#include <curl/curl.h>
#include <string.h>

/* ---- where figures come from ------------------------------------------- */

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	bh_buf_append(ud, p, size * n);
	return size * n;
}

/* GET /_emulator/health: the emulator answers {"simulated": true}. */
static int endpoint_is_emulator(const char *endpoint)
{
	CURL *c = curl_easy_init();
	if (!c)
		return 0;
	char *url = bh_asprintf("%s/_emulator/health", endpoint);
	bh_buf body;
	bh_buf_init(&body, 1 << 16);
	long status = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (url && curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = status == 200 && body.data ? json_loads(body.data, 0, NULL) : NULL;
	int yes = json_is_true(json_object_get(j, "simulated"));
	json_decref(j);
	bh_buf_release(&body);
	bh_free(url);
	curl_easy_cleanup(c);
	return yes;
}

/* AWS's own endpoints are never asked about the emulator. */
static int aws_endpoint(const char *endpoint)
{
	const char *host = strstr(endpoint, "://");
	host = host ? host + 3 : endpoint;
	const char *end = host + strcspn(host, ":/");
	size_t n = (size_t)(end - host);
	return (n > 14 && strncmp(end - 14, ".amazonaws.com", 14) == 0) ||
	       (n > 8 && strncmp(end - 8, ".api.aws", 8) == 0) ||
	       (n > 17 && strncmp(end - 17, ".amazonaws.com.cn", 17) == 0);
}

const char *bhive_bench_source(const bhive_client *client, char *out, size_t n)
{
	const char *endpoint = bhive_client_endpoint(client);
	const char *region = bhive_client_region(client);
	if (!endpoint || aws_endpoint(endpoint))
		snprintf(out, n, "Amazon Bedrock (%s)", region ? region : "unknown region");
	else if (endpoint_is_emulator(endpoint))
		snprintf(out, n, "simulated models (bhive-emulator)");
	else
		snprintf(out, n, "Amazon Bedrock (%s) via %s", region ? region : "unknown region",
		         endpoint);
	return out;
}

int bhive_source_is_simulated(const char *source)
{
	return source && strstr(source, "simulated") != NULL;
}

/* ---- the report JSON --------------------------------------------------- */

static void copy_member(json_t *row, const json_t *from, const char *key, const char *as)
{
	json_t *v = json_object_get(from, key);
	json_object_set_new(row, as, v ? json_deep_copy(v) : json_null());
}

/* The config's shape, labels and counts; figures are added from the store. */
static json_t *row_base(const bhive_runner *r, const bh_job *j)
{
	json_t *row =
	    json_pack("{s:s, s:I, s:s, s:s, s:s}", "name", j->name, "run", (json_int_t)j->run,
	              "source", r->source, "dataset", bhive_dataset_name(j->ds), "evaluator",
	              j->ev ? bhive_evaluator_spec(j->ev) : "none");
	if (!row)
		return NULL;
	copy_member(row, j->config_json, "models", "models");
	copy_member(row, j->config_json, "num_reflections", "reflections");
	copy_member(row, j->config_json, "aggregator", "aggregator");
	copy_member(row, j->config_json, "verifier", "verifier");
	copy_member(row, j->config_json, "augment", "augment");
	json_object_set_new(row, "config", json_deep_copy(j->config_json));
	json_object_update(row, j->labels);
	return row;
}

static void set_real(json_t *row, const char *key, double v)
{
	json_object_set_new(row, key, json_real(v));
}

static json_t *job_row(bhive_runner *r, const bh_job *j, bhive_error *err)
{
	bhive_run_summary s;
	if (bhive_store_summary(r->store, j->run, &s, err))
		return NULL;
	json_t *row = row_base(r, j);
	if (!row)
		return NULL;
	json_object_set_new(row, "total", json_integer((json_int_t)j->total));
	json_object_set_new(row, "samples", json_integer((json_int_t)s.samples));
	json_object_set_new(row, "scored", json_integer((json_int_t)s.scored));
	json_object_set_new(row, "failed", json_integer((json_int_t)j->failed));
	json_object_set_new(row, "evaluator_errors", json_integer((json_int_t)s.errors));
	json_object_set_new(row, "accuracy", s.scored ? json_real(s.accuracy) : json_null());
	set_real(row, "mean_cost_usd", s.mean_cost_usd);
	set_real(row, "total_cost_usd", s.total_cost_usd);
	set_real(row, "mean_latency_ms", s.mean_latency_ms);
	set_real(row, "mean_wall_ms", s.mean_wall_ms);
	set_real(row, "mean_input_tokens", s.mean_input_tokens);
	set_real(row, "mean_output_tokens", s.mean_output_tokens);
	json_object_set_new(row, "stopped_early", json_boolean(j->stopped));
	json_object_set_new(row, "stop_reason",
	                    j->stopped ? json_string(j->stop_reason) : json_null());
	json_object_set_new(row, "first_error",
	                    j->first_error[0] ? json_string(j->first_error) : json_null());
	return row;
}

json_t *bhive_runner_report(bhive_runner *r, bhive_error *err)
{
	bhive_error_clear(err);
	json_t *rows = json_array();
	json_t *rep = rows ? json_pack("{s:s, s:o}", "source", r->source, "rows", rows) : NULL;
	for (size_t i = 0; rep && i < r->njobs; i++) {
		json_t *row = job_row(r, &r->jobs[i], err);
		if (!row || json_array_append_new(rows, row)) {
			json_decref(rep);
			if (err && !err->code)
				bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
			return NULL;
		}
	}
	if (!rep)
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
	return rep;
}

/* ---- the terminal table ------------------------------------------------ */

static const char *source_of(const json_t *report)
{
	const char *s = bh_json_str(report, "source");
	return s ? s : "unknown source";
}

static void format_accuracy(const json_t *row, char *out, size_t n)
{
	const json_t *a = json_object_get(row, "accuracy");
	if (json_is_number(a))
		snprintf(out, n, "%.1f%%", json_number_value(a) * 100.0);
	else
		snprintf(out, n, "-");
}

/* Marks of the optimiser: the best row, the Pareto front, the budget. */
static void row_marks(const json_t *report, size_t i, char *out, size_t n)
{
	const json_t *best = json_object_get(report, "best");
	const json_t *pareto = json_object_get(report, "pareto");
	const json_t *row = json_array_get(json_object_get(report, "rows"), i);
	int on_front = 0;
	for (size_t k = 0; k < json_array_size(pareto); k++)
		if ((size_t)json_integer_value(json_array_get(pareto, k)) == i)
			on_front = 1;
	snprintf(out, n, "%s%s%s%s",
	         json_is_integer(best) && (size_t)json_integer_value(best) == i ? "BEST " : "",
	         on_front ? "pareto " : "",
	         json_is_true(json_object_get(row, "stopped_early")) ? "stopped-early " : "",
	         json_is_false(json_object_get(row, "within_budget")) ? "over-budget" : "");
}

static size_t name_width(const json_t *rows)
{
	size_t w = 13;
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const char *name = bh_json_str(json_array_get(rows, i), "name");
		if (name && strlen(name) > w)
			w = strlen(name);
	}
	return w > 60 ? 60 : w;
}

int bhive_report_write_table(FILE *out, const json_t *report)
{
	const json_t *rows = json_object_get(report, "rows");
	int w = (int)name_width(rows);
	fprintf(out, "Figures from: %s\n", source_of(report));
	fprintf(out, "%-*s %9s %8s %12s %10s %9s %9s  %s\n", w, "configuration", "n", "accuracy",
	        "mean cost $", "latency s", "in tok", "out tok", "");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		char acc[16], marks[64], n[32];
		format_accuracy(row, acc, sizeof(acc));
		row_marks(report, i, marks, sizeof(marks));
		snprintf(n, sizeof(n), "%lld/%lld", (long long)bh_json_int(row, "samples", 0),
		         (long long)bh_json_int(row, "total", 0));
		fprintf(out, "%-*.*s %9s %8s %12.6f %10.2f %9.0f %9.0f  %s\n", w, w,
		        bh_json_str(row, "name"), n, acc, bh_json_num(row, "mean_cost_usd", 0),
		        bh_json_num(row, "mean_wall_ms", 0) / 1000.0,
		        bh_json_num(row, "mean_input_tokens", 0),
		        bh_json_num(row, "mean_output_tokens", 0), marks);
	}
	return ferror(out) ? BHIVE_ERR_IO : 0;
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_field(FILE *out, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* A JSON value as one CSV field: strings bare, arrays joined with "+". */
static void csv_value(FILE *out, const json_t *v)
{
	char num[64];
	if (json_is_string(v)) {
		csv_field(out, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.10g", json_real_value(v));
		fputs(num, out);
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", out);
	} else if (json_is_array(v)) {
		bh_buf b;
		bh_buf_init(&b, 0);
		for (size_t i = 0; i < json_array_size(v); i++) {
			const char *id = json_string_value(json_array_get(v, i));
			bh_buf_printf(&b, "%s%s", i ? "+" : "", id ? id : "");
		}
		csv_field(out, b.data ? b.data : "");
		bh_buf_release(&b);
	}
}

static const char *const csv_columns[] = {"name",
                                          "source",
                                          "dataset",
                                          "evaluator",
                                          "models",
                                          "reflections",
                                          "aggregator",
                                          "verifier",
                                          "augment",
                                          "total",
                                          "samples",
                                          "scored",
                                          "failed",
                                          "accuracy",
                                          "mean_cost_usd",
                                          "total_cost_usd",
                                          "mean_latency_ms",
                                          "mean_wall_ms",
                                          "mean_input_tokens",
                                          "mean_output_tokens",
                                          "stopped_early",
                                          "within_budget",
                                          "best",
                                          "pareto"};

/* Label columns: members of the rows beyond the fixed ones (difficulty ...). */
static json_t *label_columns(const json_t *rows)
{
	static const char *const skip[] = {"run", "config", "stop_reason", "first_error"};
	json_t *cols = json_array();
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const char *key;
		json_t *v;
		json_object_foreach(json_array_get(rows, i), key, v)
		{
			int known = 0;
			for (size_t k = 0; k < BH_ARRAY_LEN(csv_columns); k++)
				known |= strcmp(key, csv_columns[k]) == 0;
			for (size_t k = 0; k < BH_ARRAY_LEN(skip); k++)
				known |= strcmp(key, skip[k]) == 0;
			for (size_t k = 0; k < json_array_size(cols); k++)
				known |=
				    strcmp(key, json_string_value(json_array_get(cols, k))) == 0;
			if (!known)
				json_array_append_new(cols, json_string(key));
		}
	}
	return cols;
}

/* The optimiser's marks as row members for CSV. */
static json_t *csv_row(const json_t *report, size_t i)
{
	json_t *row = json_deep_copy(json_array_get(json_object_get(report, "rows"), i));
	const json_t *best = json_object_get(report, "best"),
	             *pareto = json_object_get(report, "pareto");
	if (!pareto)
		return row;
	int on = 0;
	for (size_t k = 0; k < json_array_size(pareto); k++)
		on |= (size_t)json_integer_value(json_array_get(pareto, k)) == i;
	json_object_set_new(
	    row, "best",
	    json_boolean(json_is_integer(best) && (size_t)json_integer_value(best) == i));
	json_object_set_new(row, "pareto", json_boolean(on));
	return row;
}

int bhive_report_write_csv(FILE *out, const json_t *report)
{
	const json_t *rows = json_object_get(report, "rows");
	json_t *labels = label_columns(rows);
	size_t nl = json_array_size(labels);
	for (size_t k = 0; k < BH_ARRAY_LEN(csv_columns) + nl; k++) {
		fputs(k ? "," : "", out);
		csv_field(out, k < BH_ARRAY_LEN(csv_columns)
		                   ? csv_columns[k]
		                   : json_string_value(
		                         json_array_get(labels, k - BH_ARRAY_LEN(csv_columns))));
	}
	fputs("\r\n", out);
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *row = csv_row(report, i);
		json_object_set_new(row, "source", json_string(source_of(report)));
		for (size_t k = 0; k < BH_ARRAY_LEN(csv_columns) + nl; k++) {
			const char *col = k < BH_ARRAY_LEN(csv_columns)
			                      ? csv_columns[k]
			                      : json_string_value(json_array_get(
			                            labels, k - BH_ARRAY_LEN(csv_columns)));
			fputs(k ? "," : "", out);
			csv_value(out, json_object_get(row, col));
		}
		fputs("\r\n", out);
		json_decref(row);
	}
	json_decref(labels);
	return ferror(out) ? BHIVE_ERR_IO : 0;
}

int bhive_report_write_json(FILE *out, const json_t *report)
{
	if (json_dumpf(report, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
		return BHIVE_ERR_IO;
	fputc('\n', out);
	return ferror(out) ? BHIVE_ERR_IO : 0;
}
