/*
 * plot.c - PNG charts of a report with gnuplot: accuracy against rounds of
 * reflection, the latency-cost-accuracy chart, and the Pareto front of
 * accuracy against cost.
 *
 * gnuplot runs as a child process on a generated script, with the data in
 * files of a private temporary directory; nothing is drawn here. Each
 * chart's title carries the source of its figures.
 */
#include "bhive/bench.h"
#include "util/util.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct plot_ctx {
	char tmp[64];    /* private directory of data files */
	const char *dir; /* output directory */
	const char *source;
	bh_buf script;
	json_t *written;
	int nfiles; /* data files made, for unique names */
} plot_ctx;

/* A label safe inside a gnuplot double-quoted string. */
static void plot_label(const char *s, char *out, size_t n)
{
	size_t j = 0;
	for (; s && *s && j + 1 < n; s++)
		out[j++] = (*s == '"' || *s == '\\' || *s == '\n' || *s == '@' || *s == '_' ||
		            *s == '^' || *s == '{' || *s == '}')
		               ? (*s == '_' ? '-' : ' ')
		               : *s;
	out[j] = '\0';
}

/* Opens a new data file; its path goes into path. */
static FILE *data_file(plot_ctx *pc, char *path, size_t n)
{
	snprintf(path, n, "%s/d%d.dat", pc->tmp, pc->nfiles++);
	return fopen(path, "w");
}

/* The series a row belongs to on the accuracy chart. */
static const char *row_group(const json_t *row)
{
	const char *g = bh_json_str(row, "difficulty");
	if (!g)
		g = bh_json_str(row, "group");
	if (!g)
		g = bh_json_str(row, "dataset");
	return g ? g : "all";
}

static int has_accuracy(const json_t *row)
{
	return json_is_number(json_object_get(row, "accuracy"));
}

/* Distinct groups, in first-seen order. */
static json_t *groups_of(const json_t *rows)
{
	json_t *g = json_array();
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const char *name = row_group(json_array_get(rows, i));
		int seen = 0;
		for (size_t k = 0; k < json_array_size(g); k++)
			seen |= strcmp(json_string_value(json_array_get(g, k)), name) == 0;
		if (!seen)
			json_array_append_new(g, json_string(name));
	}
	return g;
}

static void script_output(plot_ctx *pc, const char *file, const char *title)
{
	char *out = bh_asprintf("%s/%s", pc->dir, file);
	char t[256], src[200];
	plot_label(title, t, sizeof(t));
	plot_label(pc->source, src, sizeof(src));
	bh_buf_printf(&pc->script,
	              "reset\nset terminal pngcairo size 960,640 enhanced font 'sans,10'\n"
	              "set output '%s'\nset title \"%s\\nFigures from: %s\"\nset grid\n"
	              "set key inside bottom right box opaque\n",
	              out ? out : file, t, src);
	json_array_append_new(pc->written, json_string(out ? out : file));
	bh_free(out);
}

/* One line per group: accuracy (%) by rounds, sorted by rounds. */
static int accuracy_series(plot_ctx *pc, const json_t *rows, const char *group, char *path,
                           size_t n)
{
	FILE *f = data_file(pc, path, n);
	if (!f)
		return -1;
	int points = 0;
	for (int k = 0; k <= 1000; k++) {
		for (size_t i = 0; i < json_array_size(rows); i++) {
			const json_t *row = json_array_get(rows, i);
			if (!has_accuracy(row) || strcmp(row_group(row), group) ||
			    bh_json_int(row, "reflections", -1) != k)
				continue;
			fprintf(f, "%d %.6f\n", k, 100.0 * bh_json_num(row, "accuracy", 0));
			points++;
			break;
		}
	}
	fclose(f);
	return points;
}

/* Reference series, drawn dashed: {"label", "series": {group: [[k, acc]]}}. */
static void reference_plots(plot_ctx *pc, const json_t *reference, bh_buf *plots)
{
	const char *key;
	json_t *pts;
	char path[128], label[128], name[160];
	plot_label(bh_json_str(reference, "label"), label, sizeof(label));
	json_object_foreach(json_object_get(reference, "series"), key, pts)
	{
		FILE *f = data_file(pc, path, sizeof(path));
		if (!f)
			return;
		for (size_t i = 0; i < json_array_size(pts); i++) {
			const json_t *p = json_array_get(pts, i);
			fprintf(f, "%g %.6f\n", json_number_value(json_array_get(p, 0)),
			        100.0 * json_number_value(json_array_get(p, 1)));
		}
		fclose(f);
		plot_label(key, name, sizeof(name));
		bh_buf_printf(plots,
		              "%s'%s' using 1:2 with linespoints dt 2 lw 1.5 title \"%s (%s)\"",
		              plots->len ? ", " : "", path, name, label);
	}
}

static int plot_accuracy(plot_ctx *pc, const json_t *rows, const json_t *reference)
{
	json_t *groups = groups_of(rows);
	bh_buf plots;
	bh_buf_init(&plots, 0);
	for (size_t g = 0; g < json_array_size(groups); g++) {
		char path[128], name[128];
		const char *group = json_string_value(json_array_get(groups, g));
		if (accuracy_series(pc, rows, group, path, sizeof(path)) <= 0)
			continue;
		plot_label(group, name, sizeof(name));
		bh_buf_printf(&plots, "%s'%s' using 1:2 with linespoints lw 2 pt 7 title \"%s\"",
		              plots.len ? ", " : "", path, name);
	}
	int any = plots.len > 0;
	if (any && reference)
		reference_plots(pc, reference, &plots);
	if (any) {
		script_output(pc, "accuracy.png", "Accuracy against rounds of reflection");
		bh_buf_printf(&pc->script,
		              "set xlabel 'rounds of reflection'\nset ylabel 'accuracy "
		              "(%%)'\nset yrange [0:105]\nset xrange [-0.2:*]\n"
		              "plot %s\n",
		              plots.data);
	}
	bh_buf_release(&plots);
	json_decref(groups);
	return any;
}

/* Latency against cost, colour and size by accuracy, each point labelled. */
static int plot_tradeoff(plot_ctx *pc, const json_t *rows)
{
	char path[128], label[96];
	FILE *f = data_file(pc, path, sizeof(path));
	if (!f)
		return -1;
	int points = 0;
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);
		if (!bh_json_int(row, "samples", 0))
			continue;
		plot_label(bh_json_str(row, "name"), label, sizeof(label));
		double acc = has_accuracy(row) ? 100.0 * bh_json_num(row, "accuracy", 0) : 0;
		fprintf(f, "%.9f %.6f %.4f %.3f \"%s\"\n", bh_json_num(row, "mean_cost_usd", 0),
		        bh_json_num(row, "mean_wall_ms", 0) / 1000.0, acc, 1.0 + acc / 25.0, label);
		points++;
	}
	fclose(f);
	if (!points)
		return 0;
	script_output(pc, "tradeoff.png", "Latency against cost (colour and size: accuracy)");
	bh_buf_printf(&pc->script,
	              "set xlabel 'mean cost per sample (USD)'\nset ylabel 'mean latency per "
	              "sample (s)'\nset cblabel 'accuracy (%%)'\nset cbrange [0:100]\n"
	              "set palette defined (0 '#d7191c', 50 '#fdae61', 75 '#a6d96a', 100 "
	              "'#1a9641')\nset offsets graph 0.05, graph 0.15, graph 0.08, graph 0.05\n"
	              "plot '%s' using 1:2:4:3 with points pt 7 ps variable lc palette notitle, "
	              "'' using 1:2:5 with labels offset 0,1.2 font ',8' notitle\n",
	              path);
	return 1;
}

/* Indexes of rows with an accuracy, by mean cost (then accuracy down). */
static size_t sorted_by_cost(const json_t *rows, size_t *idx)
{
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(rows); i++)
		if (has_accuracy(json_array_get(rows, i)) &&
		    bh_json_int(json_array_get(rows, i), "samples", 0) > 0)
			idx[n++] = i;
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0; b--) {
			const json_t *x = json_array_get(rows, idx[b - 1]),
			             *y = json_array_get(rows, idx[b]);
			double cx = bh_json_num(x, "mean_cost_usd", 0),
			       cy = bh_json_num(y, "mean_cost_usd", 0);
			if (cx < cy || (cx == cy && bh_json_num(x, "accuracy", 0) >=
			                                bh_json_num(y, "accuracy", 0)))
				break;
			size_t t = idx[b - 1];
			idx[b - 1] = idx[b];
			idx[b] = t;
		}
	return n;
}

/* One group's front of accuracy against cost: the rows no cheaper row of
 * the group matches in accuracy, into a data file; its plot clause goes
 * into plots. Returns the rows of the group written to fa. */
static size_t group_front(plot_ctx *pc, const json_t *rows, const size_t *idx, size_t n,
                          const char *group, FILE *fa, bh_buf *plots)
{
	char path[128], label[96], name[128];
	FILE *ff = data_file(pc, path, sizeof(path));
	double best = -1;
	size_t written = 0;
	for (size_t k = 0; ff && k < n; k++) {
		const json_t *row = json_array_get(rows, idx[k]);
		if (strcmp(row_group(row), group))
			continue;
		double acc = 100.0 * bh_json_num(row, "accuracy", 0),
		       cost = bh_json_num(row, "mean_cost_usd", 0);
		plot_label(bh_json_str(row, "name"), label, sizeof(label));
		fprintf(fa, "%.9f %.4f\n", cost, acc);
		written++;
		if (acc > best) {
			fprintf(ff, "%.9f %.4f \"%s\"\n", cost, acc, label);
			best = acc;
		}
	}
	if (ff)
		fclose(ff);
	plot_label(group, name, sizeof(name));
	if (written)
		bh_buf_printf(
		    plots,
		    ", '%s' using 1:2 with linespoints pt 7 ps 1.5 lw 2 title \"front: %s\", "
		    "'' using 1:2:3 with labels offset 0,1.2 font ',8' notitle",
		    path, name);
	return written;
}

/* Every configuration in grey; the front of each group (difficulty or
 * dataset) joined: a front across different data would mean nothing. */
static int plot_pareto(plot_ctx *pc, const json_t *rows)
{
	size_t *idx = bh_calloc(json_array_size(rows) + 1, sizeof(*idx));
	char all[128];
	FILE *fa = idx ? data_file(pc, all, sizeof(all)) : NULL;
	size_t n = fa ? sorted_by_cost(rows, idx) : 0;
	json_t *groups = groups_of(rows);
	bh_buf plots;
	bh_buf_init(&plots, 0);
	for (size_t g = 0; fa && g < json_array_size(groups); g++)
		group_front(pc, rows, idx, n, json_string_value(json_array_get(groups, g)), fa,
		            &plots);
	if (fa)
		fclose(fa);
	bh_free(idx);
	json_decref(groups);
	if (fa && n > 0) {
		script_output(pc, "pareto.png", "Pareto front: accuracy against cost");
		bh_buf_printf(
		    &pc->script,
		    "set xlabel 'mean cost per sample (USD)'\nset ylabel 'accuracy (%%)'\n"
		    "set yrange [0:105]\nset offsets graph 0.05, graph 0.2, 0, 0\n"
		    "plot '%s' using 1:2 with points pt 6 ps 1.5 lc rgb '#999999' title "
		    "'configuration'%s\n",
		    all, plots.data ? plots.data : "");
	}
	bh_buf_release(&plots);
	return fa ? (n > 0) : -1;
}

/* Runs gnuplot on the script; its stderr lands in the temporary directory. */
static int run_gnuplot(plot_ctx *pc, const char *script, bhive_error *err)
{
	char errpath[96];
	snprintf(errpath, sizeof(errpath), "%s/gnuplot.err", pc->tmp);
	pid_t pid = fork();
	if (pid < 0)
		return bh_error_set(err, BHIVE_ERR_IO, "cannot start gnuplot: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return bh_error_set(
		    err, BHIVE_ERR_IO,
		    "gnuplot is not installed (Debian: apt-get install gnuplot-nox); "
		    "no plots were written");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *text = bh_read_file(errpath, 4096, NULL, NULL);
		bh_error_set(err, BHIVE_ERR_IO, "gnuplot failed: %s", text ? bh_trim(text) : "");
		bh_free(text);
		return BHIVE_ERR_IO;
	}
	return 0;
}

static int make_dir(const char *dir, bhive_error *err)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	return bh_error_set(err, BHIVE_ERR_IO, "cannot create the plot folder \"%s\": %s", dir,
	                    strerror(errno));
}

static void remove_tmp(plot_ctx *pc)
{
	char path[128];
	for (int i = 0; i < pc->nfiles; i++) {
		snprintf(path, sizeof(path), "%s/d%d.dat", pc->tmp, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/plot.gp", pc->tmp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/gnuplot.err", pc->tmp);
	unlink(path);
	rmdir(pc->tmp);
}

static int write_script(plot_ctx *pc, char *path, size_t n, bhive_error *err)
{
	snprintf(path, n, "%s/plot.gp", pc->tmp);
	FILE *f = fopen(path, "w");
	if (!f)
		return bh_error_set(err, BHIVE_ERR_IO, "cannot write \"%s\": %s", path,
		                    strerror(errno));
	fputs(pc->script.data ? pc->script.data : "", f);
	return fclose(f) ? bh_error_set(err, BHIVE_ERR_IO, "cannot write \"%s\"", path) : 0;
}

static int draw_all(plot_ctx *pc, const json_t *rows, const json_t *reference, bhive_error *err)
{
	char script[96];
	if (plot_accuracy(pc, rows, reference) < 0 || plot_tradeoff(pc, rows) < 0 ||
	    plot_pareto(pc, rows) < 0)
		return bh_error_set(err, BHIVE_ERR_IO, "cannot write plot data under \"%s\"",
		                    pc->tmp);
	if (json_array_size(pc->written) == 0)
		return bh_error_set(err, BHIVE_ERR_INVALID, "nothing to plot: no finished samples");
	if (write_script(pc, script, sizeof(script), err))
		return BHIVE_ERR_IO;
	return run_gnuplot(pc, script, err);
}

int bhive_report_plot(const json_t *report, const json_t *reference, const char *dir,
                      json_t **written, bhive_error *err)
{
	bhive_error_clear(err);
	if (written)
		*written = NULL;
	plot_ctx pc = {.dir = dir, .source = bh_json_str(report, "source")};
	if (!pc.source)
		pc.source = "unknown source";
	if (make_dir(dir, err))
		return BHIVE_ERR_IO;
	bh_strlcpy(pc.tmp, "/tmp/bhive-plot-XXXXXX", sizeof(pc.tmp));
	if (!mkdtemp(pc.tmp))
		return bh_error_set(err, BHIVE_ERR_IO, "cannot make a temporary folder: %s",
		                    strerror(errno));
	bh_buf_init(&pc.script, 0);
	pc.written = json_array();
	int rc = draw_all(&pc, json_object_get(report, "rows"), reference, err);
	remove_tmp(&pc);
	bh_buf_release(&pc.script);
	if (!rc && written)
		*written = json_incref(pc.written);
	json_decref(pc.written);
	return rc;
}
