/*
 * http.h - the built-in transport: libcurl's multi interface on one thread.
 *
 * Design note: one CURLM per client holds the connection cache, so every
 * request to the same host reuses connections (HTTP/2 streams multiplexed
 * over TLS, HTTP/1.1 keep-alive in cleartext). Finished transfers keep their
 * easy handle and buffers in a free list, so a steady stream of calls does
 * not allocate per request beyond libcurl's own header list. The transport
 * implements the public bhive_transport vtable, so a caller-supplied
 * transport runs through exactly the same client code.
 */
#ifndef BH_NET_HTTP_H
#define BH_NET_HTTP_H

#include "bhive/client.h"
#include "util/util.h"

/* Default cap on a response body: larger bodies fail, never truncate. */
#define BH_HTTP_MAX_BODY ((size_t)64 << 20)

typedef struct bh_http_options {
	const char *ca_file;       /* NULL: system trust store; copied */
	long max_host_connections; /* 0: unlimited */
	size_t max_body;           /* 0: BH_HTTP_MAX_BODY */
} bh_http_options;

/*
 * Fills *out with a libcurl multi transport (out->destroy frees it).
 * Connect timeouts are libcurl's; the read timeout (no byte received for
 * that long since the request was handed over or the last byte arrived)
 * is checked by the poll loop every read_timeout/10 (10 ms to 1 s). A body
 * over max_body ends the request with BHIVE_ERR_PARSE; transport failures
 * are BHIVE_ERR_NETWORK or BHIVE_ERR_TIMEOUT naming the host.
 */
int bh_http_transport_new(const bh_http_options *opts, bhive_transport *out, bhive_error *err);

/* Number of easy handles created over the transport's life: lets tests
 * see that handles are reused. -1 if t is not a curl transport. */
long bh_http_transport_handles(const bhive_transport *t);

#endif
