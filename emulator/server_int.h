/*
 * server_int.h - the server's private state, shared by server.c (HTTP,
 * timers, event loop), routes.c (control endpoints and routing) and
 * converse.c (the Converse operation).
 */
#ifndef EMU_SERVER_INT_H
#define EMU_SERVER_INT_H

#include <microhttpd.h>

#include "emu.h"

typedef struct emu_timer {
	int64_t due_us; /* monotonic microseconds */
	struct MHD_Connection *conn;
} emu_timer;

struct emu_req;

/* Prompt-cache prefixes seen so far: an open-addressing set of 64-bit keys. */
typedef struct emu_prefix_cache {
	uint64_t *keys; /* 0 = empty slot */
	size_t cap;     /* power of two */
	size_t len;
} emu_prefix_cache;

struct emu_server {
	struct MHD_Daemon *d;
	emu_options opt;
	emu_config *cfg;
	emu_record *rec;
	bh_rng fault_rng;   /* fault draws: reproducible for a seed */
	bh_rng latency_rng; /* latency distribution draws */
	bh_rng id_rng;      /* request ids */
	emu_prefix_cache cache;
	emu_timer *timers;
	size_t num_timers;
	size_t cap_timers;
	struct emu_req *work_head, *work_tail; /* complete requests not yet handled */
	uint64_t bytes_in;                     /* body bytes received so far */
	uint64_t connections;                  /* connections accepted so far */
	int64_t last_input_us;                 /* when body bytes last came in */
	int port;
	bool stopping;
};

/*
 * READING: headers and body arriving. QUEUED: the body is complete, the
 * connection suspended, the request waits on the server's work list.
 * PARKED: the response is ready and waits for its timer. SENT: queued on
 * the connection. CLOSE: the connection is to be dropped without an answer.
 */
enum emu_req_state {
	EMU_REQ_READING = 0,
	EMU_REQ_QUEUED,
	EMU_REQ_PARKED,
	EMU_REQ_SENT,
	EMU_REQ_CLOSE
};

typedef struct emu_req {
	emu_server *s;
	struct MHD_Connection *conn;
	bh_buf body;
	bool too_large;
	bool deferred; /* handled from the work list: the connection is suspended */
	int state;
	struct MHD_Response *resp; /* parked response */
	unsigned status;
	const char *url, *method; /* libmicrohttpd's, valid for the request's life */
	int64_t arrived_us;       /* when the body was complete: latency counts from here */
	struct emu_req *next;     /* on the work list */
} emu_req;

/* Monotonic microseconds: simulated latency is timed to the microsecond. */
int64_t emu_now_us(void);

bool emu_server_park(emu_server *s, struct MHD_Connection *conn, int64_t due_ms);
struct MHD_Response *emu_response_json(const json_t *body, const char *error_type,
                                       const char *request_id);
struct MHD_Response *emu_response_error(const emu_status *st, const char *request_id);
struct MHD_Response *emu_response_drip(emu_server *s, struct MHD_Connection *conn, const char *text,
                                       bool cut, long step, long interval_ms);
/* Sends r (taking it) now, or delay_ms after the request arrived with the
 * connection parked. */
enum MHD_Result emu_req_reply(emu_req *q, unsigned status, struct MHD_Response *r, double delay_ms);
enum MHD_Result emu_req_send_parked(emu_req *q);

/* routes.c */
enum MHD_Result emu_route(emu_server *s, emu_req *q, const char *url, const char *method);
/* Collects the request headers (pointers live as long as the request). */
emu_http_header *emu_req_headers(struct MHD_Connection *conn, size_t *n);
void emu_request_id(emu_server *s, char out[37]);

/* converse.c */
enum MHD_Result emu_converse(emu_server *s, emu_req *q, const char *raw_path, const char *label,
                             const char *op);

#endif
