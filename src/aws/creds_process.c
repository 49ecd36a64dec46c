/*
 * creds_process.c - credential_process: run a program, read credentials
 * from its standard output.
 *
 * As the AWS CLI does on POSIX, the command line is split into words
 * (shlex rules) and run directly, never through a shell. The program's
 * stderr is our stderr, so its prompts and diagnostics reach the user;
 * its stdout is read whole (up to 1 MiB) within a time limit, after which
 * it is killed. The output holds the secret, so no error quotes it.
 */
#include "aws/creds_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUT (1u << 20)

extern char **environ;

void bh_cred_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		bh_free(argv[i]);
	bh_free(argv);
}

/* Appends the word in w (if any) to the argv being built. */
static int push_word(char ***argv, size_t *n, bh_buf *w, bool have)
{
	if (!have)
		return 0;
	char **na = bh_realloc(*argv, (*n + 2) * sizeof(*na));
	if (!na)
		return BHIVE_ERR_NOMEM;
	*argv = na;
	na[*n] = w->data ? bh_buf_steal(w) : bh_strdup("");
	na[*n + 1] = NULL;
	if (!na[*n])
		return BHIVE_ERR_NOMEM;
	(*n)++;
	return 0;
}

/* One character inside "...": only \ before " \ $ ` or a newline escapes. */
static const char *dquote_char(const char *p, bh_buf *w)
{
	if (p[0] == '\\' && p[1] && strchr("\"\\$`\n", p[1])) {
		if (p[1] != '\n')
			bh_buf_putc(w, p[1]);
		return p + 2;
	}
	bh_buf_putc(w, *p);
	return p + 1;
}

/* Scans one quoted or escaped piece starting at p; returns the position
 * after it, NULL if a quote is not closed. */
static const char *scan_piece(const char *p, bh_buf *w)
{
	if (*p == '\'') {
		const char *end = strchr(p + 1, '\'');
		if (!end)
			return NULL;
		bh_buf_append(w, p + 1, (size_t)(end - p - 1));
		return end + 1;
	}
	if (*p == '"') {
		for (p++; *p && *p != '"';)
			p = dquote_char(p, w);
		return *p ? p + 1 : NULL;
	}
	if (*p == '\\') {
		if (p[1] && p[1] != '\n')
			bh_buf_putc(w, p[1]);
		return p[1] ? p + 2 : p + 1;
	}
	bh_buf_putc(w, *p);
	return p + 1;
}

int bh_cred_split_command(const char *cmdline, char ***argv, bhive_error *err)
{
	size_t n = 0;
	bh_buf w;
	bh_buf_init(&w, 0);
	bool have = false;
	int rc = 0;
	*argv = NULL;
	for (const char *p = cmdline; p && *p && !rc;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			rc = push_word(argv, &n, &w, have);
			have = false;
			p++;
			continue;
		}
		have = true;
		if (!(p = scan_piece(p, &w)))
			rc = bh_error_set(err, BHIVE_ERR_CONFIG,
			                  "credential_process has an unclosed quote");
	}
	if (!rc)
		rc = push_word(argv, &n, &w, have);
	bh_buf_release(&w);
	if (!rc && n == 0)
		rc = bh_error_set(err, BHIVE_ERR_CONFIG, "credential_process is empty");
	if (rc) {
		bh_error_set(err, rc, "out of memory");
		bh_cred_argv_free(*argv);
		*argv = NULL;
	}
	return rc;
}

/* Starts argv with stdout on a pipe. */
static int spawn(char **argv, pid_t *pid, int *out_fd, bhive_error *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return bh_error_set(err, BHIVE_ERR_IO, "cannot create a pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	int e = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (e != 0) {
		close(fds[0]);
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "credential_process \"%s\" cannot be run: %s", argv[0],
		                    strerror(e));
	}
	*out_fd = fds[0];
	return 0;
}

/* Reads fd until EOF, the size cap or the deadline. 0, -1 timeout, -2 too big. */
static int read_all(int fd, bh_buf *out, int64_t deadline)
{
	char chunk[4096];
	for (;;) {
		int64_t left = deadline - bh_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -1;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (bh_buf_append(out, chunk, (size_t)n))
			return -2;
	}
}

/* Waits for the child until the deadline (a program may close its stdout
 * and linger), killing it when it overran. */
static int reap(pid_t pid, bool kill_it, int64_t deadline)
{
	int status = 0;
	struct timespec tick = {0, 10 * 1000000L};
	while (!kill_it) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return status;
		kill_it = bh_now_ms() >= deadline;
		if (!kill_it)
			nanosleep(&tick, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static int check_exit(const char *prog, int status, bhive_error *err)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "credential_process \"%s\" was killed by signal %d", prog,
		                    WTERMSIG(status));
	return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
	                    "credential_process \"%s\" failed with exit status %d (its stderr is "
	                    "above)",
	                    prog, WEXITSTATUS(status));
}

/* The output must say Version 1 before its fields are believed. */
static int parse_output(const char *prog, const bh_buf *o, bh_credentials *out, bhive_error *err)
{
	char what[160];
	snprintf(what, sizeof(what), "credential_process \"%s\"", prog);
	json_t *j = json_loadb(o->data ? o->data : "", o->len, 0, NULL);
	json_t *v = json_is_object(j) ? json_object_get(j, "Version") : NULL;
	int rc = 0;
	if (j && json_is_object(j) && !(json_is_integer(v) && json_integer_value(v) == 1))
		rc = bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                  "%s printed Version %s; only Version 1 is supported", what,
		                  json_is_integer(v) ? "other than 1" : "missing or not a number");
	json_decref(j);
	if (!rc)
		rc = bh_cred_from_json(o->data ? o->data : "", o->len, "SessionToken", what,
		                       "process", out, err);
	return rc;
}

/* Runs the split command and collects its output. */
static int run(bh_cred_chain *ch, char **argv, bh_buf *o, bhive_error *err)
{
	pid_t pid = -1;
	int fd = -1;
	int rc = spawn(argv, &pid, &fd, err);
	if (rc)
		return rc;
	int64_t deadline = bh_now_ms() + ch->process_timeout_ms;
	int rr = read_all(fd, o, deadline);
	close(fd);
	int status = reap(pid, rr != 0, deadline);
	if (rr == 0 && bh_now_ms() >= deadline && !WIFEXITED(status))
		rr = -1;
	if (rr == -1)
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "credential_process \"%s\" timed out after %ld ms", argv[0],
		                    ch->process_timeout_ms);
	if (rr == -2)
		return bh_error_set(err, BHIVE_ERR_CREDENTIALS,
		                    "credential_process \"%s\" printed more than %u bytes", argv[0],
		                    MAX_OUTPUT);
	return check_exit(argv[0], status, err);
}

int bh_cred_process(bh_cred_chain *ch, const char *profile, const char *cmdline,
                    bh_credentials *out, bhive_error *err)
{
	char **argv;
	int rc = bh_cred_split_command(cmdline, &argv, err);
	if (rc) {
		bh_error_prefix(err, "profile \"%s\"", profile);
		return rc;
	}
	bh_buf o;
	bh_buf_init(&o, MAX_OUTPUT);
	BH_DEBUG("credential_process for profile \"%s\": %s", profile, argv[0]);
	rc = run(ch, argv, &o, err);
	if (!rc)
		rc = parse_output(argv[0], &o, out, err);
	if (o.data)
		memset(o.data, 0, o.len); /* the secret does not linger in freed memory */
	bh_buf_release(&o);
	bh_cred_argv_free(argv);
	return rc;
}
