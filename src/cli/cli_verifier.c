/*
 * cli_verifier.c - --verifier-cmd: an external program as the verifier.
 *
 * The program runs without a shell (its command line split into words like
 * a shell would), gets the answer on stdin and the question in the
 * environment variable BHIVE_QUESTION, and its stdout is the feedback. A
 * first line "score: X" (0..1) is taken as the verifier's score and left
 * out of the feedback. A non-zero exit, a signal, the time limit, more
 * than 1 MiB of output or a NUL byte in it make the verifier fail; the
 * engine then reports it (or stops, with --verifier-fatal).
 */
#include "cli.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VERIFIER_MAX_OUTPUT (1 << 20)

static void set_error(bhive_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills err (first error wins) with a verifier failure. */
static void set_error(bhive_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err || err->code)
		return;
	err->code = BHIVE_ERR_VERIFIER;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child: stdin/stdout on the pipes, the question in the environment. */
static void child_exec(const cli_verifier *v, int in_fd, int out_fd, const char *question)
{
	dup2(in_fd, 0);
	dup2(out_fd, 1);
	close(in_fd);
	close(out_fd);
	setenv("BHIVE_QUESTION", question ? question : "", 1);
	execvp(v->argv[0], v->argv);
	fprintf(stderr, "bhive: error: cannot run verifier \"%s\": %s\n", v->argv[0],
	        strerror(errno));
	_exit(127);
}

typedef struct io_state {
	int in_fd, out_fd; /* our ends: write the answer, read feedback */
	const char *answer;
	size_t answer_len, written;
	char *out;
	size_t out_len, out_cap;
} io_state;

/* How io_read and io_loop end. */
enum { IO_MORE = 0, IO_END = 1, IO_TIMEOUT = -1, IO_ERROR = -2, IO_TOO_LARGE = -3 };

/* Grows the output buffer towards the cap (one byte more for the NUL). */
static int io_grow(io_state *io)
{
	if (io->out_cap - io->out_len >= 4096 || io->out_cap >= VERIFIER_MAX_OUTPUT + 1)
		return 0;
	size_t cap = io->out_cap ? io->out_cap * 2 : 8192;
	if (cap > VERIFIER_MAX_OUTPUT + 1)
		cap = VERIFIER_MAX_OUTPUT + 1;
	char *p = realloc(io->out, cap);
	if (!p)
		return -1;
	io->out = p;
	io->out_cap = cap;
	return 0;
}

/* Reads what the child wrote: IO_END at end of output, IO_MORE, IO_ERROR,
 * or IO_TOO_LARGE once a byte arrives beyond the cap. */
static int io_read(io_state *io)
{
	char spill;
	if (io_grow(io))
		return IO_ERROR;
	size_t room = io->out_cap - io->out_len - 1;
	ssize_t n = read(io->out_fd, room ? io->out + io->out_len : &spill, room ? room : 1);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? IO_MORE : IO_ERROR;
	if (n > 0 && !room)
		return IO_TOO_LARGE;
	io->out_len += (size_t)n;
	io->out[io->out_len] = '\0';
	return n == 0 ? IO_END : IO_MORE;
}

/* Writes more of the answer; closes the pipe when done or the child left. */
static void io_write(io_state *io)
{
	ssize_t n = write(io->in_fd, io->answer + io->written, io->answer_len - io->written);
	if (n > 0)
		io->written += (size_t)n;
	if ((n < 0 && errno != EAGAIN && errno != EINTR) || io->written == io->answer_len) {
		close(io->in_fd);
		io->in_fd = -1;
	}
}

/* Feeds and drains the child until its output ends: 0, or IO_TIMEOUT,
 * IO_ERROR, IO_TOO_LARGE. */
static int io_loop(io_state *io, double deadline)
{
	for (;;) {
		struct pollfd p[2] = {{io->out_fd, POLLIN, 0}, {io->in_fd, POLLOUT, 0}};
		double left = deadline - now_s();
		if (left <= 0)
			return IO_TIMEOUT;
		int r = poll(p, io->in_fd >= 0 ? 2 : 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return IO_ERROR;
		if (r <= 0)
			continue;
		if (io->in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP)))
			io_write(io);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int done = io_read(io);
			if (done)
				return done == IO_END ? 0 : done;
		}
	}
}

/* Waits for the child until the deadline; kills it after. Returns the status or -1. */
static int reap(pid_t pid, double deadline)
{
	int status;
	while (now_s() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		usleep(2000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Takes a leading "score: X" line out of the feedback. */
static void take_score(char *out, double *score)
{
	double s;
	char *nl;
	if (strncmp(out, "score:", 6) != 0)
		return;
	nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	if (cli_parse_double(out + 6 + strspn(out + 6, " \t"), &s) == 0 && s >= 0 && s <= 1)
		*score = s;
	memmove(out, nl ? nl + 1 : out + strlen(out), strlen(nl ? nl + 1 : "") + 1);
}

/* Starts the child with pipes; returns its pid or -1. */
static pid_t spawn(const cli_verifier *v, const char *question, io_state *io)
{
	int in[2], out[2];
	if (pipe(in) < 0)
		return -1;
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(in[1]);
		close(out[0]);
		child_exec(v, in[0], out[1], question);
	}
	close(in[0]);
	close(out[1]);
	io->in_fd = in[1];
	io->out_fd = out[0];
	fcntl(io->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(io->out_fd, F_SETFL, O_NONBLOCK);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
	}
	return pid;
}

/* The verifier's failure, if any. A child killed for a reason of ours
 * (too much output, a read error) is reported for that reason; a NUL byte
 * would cut the feedback short without a word, so it fails too. */
static void report(const cli_verifier *v, const io_state *io, int rc, int status, bhive_error *err)
{
	double limit = v->timeout_s > 0 ? v->timeout_s : 30;
	const char *nul = io->out ? memchr(io->out, '\0', io->out_len) : NULL;
	if (rc == IO_TOO_LARGE)
		set_error(err,
		          "verifier \"%s\" printed more than %d MiB: its output is larger "
		          "than the limit",
		          v->cmdline, VERIFIER_MAX_OUTPUT >> 20);
	else if (rc == IO_ERROR)
		set_error(err, "reading from verifier \"%s\" failed", v->cmdline);
	else if (rc == IO_TIMEOUT || status < 0)
		set_error(err, "verifier \"%s\" timed out after %g s", v->cmdline, limit);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		set_error(err, "verifier \"%s\" exited with status %ld", v->cmdline,
		          WIFEXITED(status) ? (long)WEXITSTATUS(status) : 128L + WTERMSIG(status));
	else if (nul)
		set_error(err,
		          "verifier \"%s\" printed a NUL byte (at byte %zu of its output): "
		          "feedback must be text",
		          v->cmdline, (size_t)(nul - io->out));
}

char *cli_verifier_run(void *ud, const char *question, const char *answer, double *score,
                       bhive_error *err)
{
	const cli_verifier *v = ud;
	io_state io = {.answer = answer ? answer : "", .in_fd = -1, .out_fd = -1};
	io.answer_len = strlen(io.answer);
	double deadline = now_s() + (v->timeout_s > 0 ? v->timeout_s : 30);
	pid_t pid = spawn(v, question, &io);
	if (pid < 0) {
		set_error(err, "cannot start verifier \"%s\": %s", v->cmdline, strerror(errno));
		return NULL;
	}
	int rc = io_loop(&io, deadline);
	if (io.in_fd >= 0)
		close(io.in_fd);
	close(io.out_fd);
	int status = reap(pid, rc == 0 ? deadline : 0);
	report(v, &io, rc, status, err);
	if (err && err->code) {
		free(io.out);
		return NULL;
	}
	char *out = io.out ? io.out : strdup("");
	if (out)
		take_score(out, score);
	return out;
}
