/*
 * stub_server.h - a small scriptable HTTP/1.1 server for tests, on
 * libmicrohttpd.
 *
 * It listens on 127.0.0.1 with a port the kernel picks, answers each request
 * from a table of routes, and records every request (method, path, headers,
 * body) so a test can assert what the client sent:
 *
 *     bh_stub_server *s = bh_stub_start();
 *     bh_stub_reply r = {.status = 200, .body = "{\"ok\":true}",
 *                        .headers = "Content-Type: application/json\n"};
 *     bh_stub_add(s, "GET", "/thing", &r);
 *     ... client calls bh_stub_url(s) + "/thing" ...
 *     const bh_stub_request *q = bh_stub_request_at(s, 0);
 *     assert_string_equal(bh_stub_request_header(q, "authorization"), "...");
 *     bh_stub_free(s);
 *
 * Routes match on method (NULL = any) and exact path (no query string). When
 * several routes match, the first that still has uses left answers, so a
 * sequence (first a 500, then a 200) is two bh_stub_add calls with
 * .times = 1 on the first. A request no route answers gets 404 with the body
 * "no stub route". Each connection runs on its own thread, so a route's
 * delay holds only its own request. All calls are thread-safe; recorded
 * requests stay valid until bh_stub_reset or bh_stub_free. The server
 * allocates through bh_malloc, so keep bh_alloc_fail_after off while a
 * request is in flight.
 */
#ifndef BH_STUB_SERVER_H
#define BH_STUB_SERVER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bh_stub_server bh_stub_server;

typedef struct bh_stub_reply {
	int status;          /* HTTP status; 0 = 200 */
	const char *body;    /* copied; NULL = empty */
	size_t body_len;     /* 0 = strlen(body) */
	const char *headers; /* "Name: value\n" lines, copied; may be NULL */
	int delay_ms;        /* wait before answering */
	int times;           /* answers this many requests, then is skipped; 0 = always */
	bool hang_up;        /* close the connection without any answer */
} bh_stub_reply;

typedef struct bh_stub_header {
	char *name;
	char *value;
} bh_stub_header;

typedef struct bh_stub_request {
	char *method;
	char *path;
	bh_stub_header *headers; /* in arrival order */
	size_t num_headers;
	char *body; /* NUL-terminated, may contain NULs before body_len */
	size_t body_len;
} bh_stub_request;

/* Starts a server on 127.0.0.1, port 0. NULL if it cannot listen. */
bh_stub_server *bh_stub_start(void);
/* Stops the server and frees everything; NULL allowed. */
void bh_stub_free(bh_stub_server *s);

int bh_stub_port(const bh_stub_server *s);
/* "http://127.0.0.1:PORT", owned by the server. */
const char *bh_stub_url(const bh_stub_server *s);

/* Adds a route (copied). 0, or -1 when out of memory. */
int bh_stub_add(bh_stub_server *s, const char *method, const char *path, const bh_stub_reply *r);
/* Shorthand for a route with only a status and a body. */
int bh_stub_add_simple(bh_stub_server *s, const char *method, const char *path, int status,
                       const char *body);
/* Forgets every route and recorded request. */
void bh_stub_reset(bh_stub_server *s);

size_t bh_stub_request_count(bh_stub_server *s);
/* The i-th request received (0-based), NULL when out of range. */
const bh_stub_request *bh_stub_request_at(bh_stub_server *s, size_t i);
/* A header's value by name (case-insensitive), NULL when absent. */
const char *bh_stub_request_header(const bh_stub_request *r, const char *name);

#endif
