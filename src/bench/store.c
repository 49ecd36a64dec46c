/*
 * store.c - the results store: one SQLite file per benchmark series.
 *
 * Every finished sample is committed on its own (WAL journal), so a crash
 * or kill -9 loses only samples still in flight, and running the same
 * command again skips what is recorded: no sample is ever paid for twice.
 * A file that is not ours is never written: the application_id marks a
 * bhive store, and anything else is refused before the first write.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "bhive/bench.h"
#include "util/util.h"

#define STORE_APP_ID 0x62686976 /* "bhiv" */
#define STORE_VERSION 1

struct bhive_store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *has, *put;
};

static const char *schema_sql =
	"CREATE TABLE IF NOT EXISTS runs ("
	" id INTEGER PRIMARY KEY,"
	" key TEXT NOT NULL UNIQUE,"
	" name TEXT, config TEXT NOT NULL, dataset TEXT, dataset_fingerprint TEXT,"
	" evaluator TEXT, source TEXT, created REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS samples ("
	" run INTEGER NOT NULL REFERENCES runs(id), idx INTEGER NOT NULL, sample_id TEXT,"
	" answer TEXT, expected TEXT, score REAL,"
	" input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
	" cache_write_tokens INTEGER, cost_usd REAL, latency_ms REAL, wall_ms REAL,"
	" calls INTEGER, error TEXT, trace TEXT, finished REAL NOT NULL,"
	" PRIMARY KEY (run, idx));";

static int store_fail(bhive_store *st, bhive_error *err, const char *what)
{
	return bh_error_set(err, BHIVE_ERR_STORE, "results store \"%s\": %s: %s", st->path, what,
	                    st->db ? sqlite3_errmsg(st->db) : "cannot open");
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Checks that an existing database is a bhive store we can use, reading
 * only. An empty database (a new file) is ours to initialise. */
static int check_identity(bhive_store *st, bool *fresh, bhive_error *err)
{
	int app = 0, ver = 0, tables = 0;
	if (pragma_int(st->db, "PRAGMA application_id", &app) ||
	    pragma_int(st->db, "PRAGMA user_version", &ver) ||
	    pragma_int(st->db, "SELECT count(*) FROM sqlite_master", &tables))
		return store_fail(st, err, "not a readable SQLite database");
	*fresh = app == 0 && tables == 0;
	if (*fresh)
		return 0;
	if (app != STORE_APP_ID)
		return bh_error_set(err, BHIVE_ERR_STORE,
		                    "\"%s\" is a database of another application, not a bhive results "
		                    "store; refusing to write to it", st->path);
	if (ver > STORE_VERSION)
		return bh_error_set(err, BHIVE_ERR_STORE,
		                    "results store \"%s\" has schema version %d, newer than this bhive "
		                    "(%d); refusing to write to it", st->path, ver, STORE_VERSION);
	char *text = NULL;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		text = bh_strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	int ok = text && strcmp(text, "ok") == 0;
	bh_free(text);
	return ok ? 0 : bh_error_set(err, BHIVE_ERR_STORE,
	                             "results store \"%s\" is corrupt; refusing to write to it",
	                             st->path);
}

static int initialise(bhive_store *st, bool fresh, bhive_error *err)
{
	char *msg = NULL;
	char setup[160];
	snprintf(setup, sizeof(setup), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
	         STORE_APP_ID, STORE_VERSION);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                         "PRAGMA busy_timeout=5000;", NULL, NULL, &msg) != SQLITE_OK ||
	    (fresh && sqlite3_exec(st->db, setup, NULL, NULL, &msg) != SQLITE_OK) ||
	    sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		bh_error_set(err, BHIVE_ERR_STORE, "results store \"%s\": %s", st->path,
		             msg ? msg : "cannot initialise");
		sqlite3_free(msg);
		return BHIVE_ERR_STORE;
	}
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM samples WHERE run=?1 AND idx=?2", -1, &st->has,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
	                       "INSERT OR IGNORE INTO samples VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
	                       "?11,?12,?13,?14,?15,?16,julianday('now'))",
	                       -1, &st->put, NULL) != SQLITE_OK)
		return store_fail(st, err, "cannot prepare statements");
	return 0;
}

bhive_store *bhive_store_open(const char *path, bhive_error *err)
{
	bhive_error_clear(err);
	bhive_store *st = bh_calloc(1, sizeof(*st));
	if (!st || !(st->path = bh_strdup(path))) {
		bh_free(st);
		bh_error_set(err, BHIVE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		bh_error_set(err, BHIVE_ERR_STORE, "results store \"%s\" is not a regular file", path);
		bhive_store_close(st);
		return NULL;
	}
	bool fresh = false;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK ||
	    check_identity(st, &fresh, err) || initialise(st, fresh, err)) {
		store_fail(st, err, "cannot open");
		bhive_store_close(st);
		return NULL;
	}
	return st;
}

void bhive_store_close(bhive_store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->has);
	sqlite3_finalize(st->put);
	sqlite3_close(st->db);
	bh_free(st->path);
	bh_free(st);
}

static int64_t find_run(bhive_store *st, const char *key)
{
	sqlite3_stmt *s;
	int64_t id = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT id FROM runs WHERE key=?1", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return id;
}

int64_t bhive_store_run(bhive_store *st, const char *name, const json_t *config,
                        const char *dataset_fingerprint, const char *dataset_name,
                        const char *evaluator, const char *source, bhive_error *err)
{
	bhive_error_clear(err);
	char *cfg = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	char *key = cfg ? bh_asprintf("%s|%s|%s|%s", cfg, dataset_fingerprint ? dataset_fingerprint : "",
	                              evaluator ? evaluator : "", source ? source : "")
	                : NULL;
	int64_t id = key ? find_run(st, key) : -1;
	if (id == 0) {
		sqlite3_stmt *s = NULL;
		if (sqlite3_prepare_v2(st->db,
		                       "INSERT INTO runs (key,name,config,dataset,dataset_fingerprint,"
		                       "evaluator,source,created) VALUES (?1,?2,?3,?4,?5,?6,?7,"
		                       "julianday('now'))", -1, &s, NULL) == SQLITE_OK) {
			const char *vals[] = { key, name, cfg, dataset_name, dataset_fingerprint, evaluator,
			                       source };
			for (int i = 0; i < 7; i++)
				sqlite3_bind_text(s, i + 1, vals[i], -1, SQLITE_STATIC);
			if (sqlite3_step(s) == SQLITE_DONE)
				id = sqlite3_last_insert_rowid(st->db);
		}
		sqlite3_finalize(s);
	}
	if (id <= 0) {
		store_fail(st, err, "cannot record the run");
		id = 0;
	}
	free(cfg);
	bh_free(key);
	return id;
}

int bhive_store_has_sample(bhive_store *st, int64_t run, size_t index)
{
	sqlite3_reset(st->has);
	sqlite3_bind_int64(st->has, 1, run);
	sqlite3_bind_int64(st->has, 2, (sqlite3_int64)index);
	return sqlite3_step(st->has) == SQLITE_ROW;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int bhive_store_put(bhive_store *st, int64_t run, const bhive_sample_result *r, bhive_error *err)
{
	sqlite3_stmt *s = st->put;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	sqlite3_bind_int64(s, 1, run);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)r->index);
	bind_text_or_null(s, 3, r->sample_id);
	bind_text_or_null(s, 4, r->answer);
	bind_text_or_null(s, 5, r->expected);
	if (r->score >= 0)
		sqlite3_bind_double(s, 6, r->score);
	sqlite3_bind_int64(s, 7, r->input_tokens);
	sqlite3_bind_int64(s, 8, r->output_tokens);
	sqlite3_bind_int64(s, 9, r->cache_read_tokens);
	sqlite3_bind_int64(s, 10, r->cache_write_tokens);
	sqlite3_bind_double(s, 11, r->cost_usd);
	sqlite3_bind_double(s, 12, r->latency_ms);
	sqlite3_bind_double(s, 13, r->wall_ms);
	sqlite3_bind_int(s, 14, r->calls);
	bind_text_or_null(s, 15, r->error);
	char *trace = r->trace ? json_dumps(r->trace, JSON_COMPACT) : NULL;
	bind_text_or_null(s, 16, trace);
	int rc = sqlite3_step(s);
	free(trace);
	if (rc != SQLITE_DONE)
		return store_fail(st, err, "cannot record a sample");
	return 0;
}

int bhive_store_summary(bhive_store *st, int64_t run, bhive_run_summary *out, bhive_error *err)
{
	static const char *sql =
		"SELECT count(*), count(score), count(error), avg(score), avg(cost_usd), "
		"total(cost_usd), avg(latency_ms), avg(wall_ms), avg(input_tokens), "
		"avg(output_tokens) FROM samples WHERE run=?1";
	sqlite3_stmt *s;
	memset(out, 0, sizeof(*out));
	out->run = run;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, err, "cannot summarise");
	sqlite3_bind_int64(s, 1, run);
	if (sqlite3_step(s) == SQLITE_ROW) {
		out->samples = (size_t)sqlite3_column_int64(s, 0);
		out->scored = (size_t)sqlite3_column_int64(s, 1);
		out->errors = (size_t)sqlite3_column_int64(s, 2);
		out->accuracy = sqlite3_column_double(s, 3);
		out->mean_cost_usd = sqlite3_column_double(s, 4);
		out->total_cost_usd = sqlite3_column_double(s, 5);
		out->mean_latency_ms = sqlite3_column_double(s, 6);
		out->mean_wall_ms = sqlite3_column_double(s, 7);
		out->mean_input_tokens = sqlite3_column_double(s, 8);
		out->mean_output_tokens = sqlite3_column_double(s, 9);
	}
	sqlite3_finalize(s);
	return 0;
}

void *bhive_store_db(bhive_store *st) { return st->db; }
