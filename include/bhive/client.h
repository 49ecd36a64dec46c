#ifndef BHIVE_CLIENT_H
#define BHIVE_CLIENT_H

/*
 * The Bedrock Runtime client.
 *
 * A bhive_client sends Converse requests to Bedrock Runtime (or to any
 * endpoint that speaks its wire protocol, such as bhive-emulator). It
 * resolves credentials, region, endpoint and retry settings the way the AWS
 * SDKs do (environment, ~/.aws/config and ~/.aws/credentials, profiles,
 * credential_process, STS, web identity, container and EC2 metadata), signs
 * requests with SigV4 (or sends a Bedrock API key as a bearer token), and
 * retries as botocore does (legacy, standard, adaptive).
 *
 * One client drives many requests at once on one thread: start them with
 * bhive_converse_start() and run the loop with bhive_client_run(). The
 * blocking bhive_converse() is that same path with a single request.
 *
 * Threads: a client and everything started on it belong to one thread at a
 * time. Different clients may be used from different threads.
 *
 * JSON values are jansson's json_t: requests and responses are the exact
 * Converse JSON shapes of the AWS CLI and boto3.
 */

#include <stddef.h>
#include <jansson.h>
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bhive_client bhive_client;

typedef enum bhive_retry_mode {
	BHIVE_RETRY_FROM_CONFIG = 0, /* AWS_RETRY_MODE, then the profile, then standard */
	BHIVE_RETRY_LEGACY = 1,
	BHIVE_RETRY_STANDARD = 2,
	BHIVE_RETRY_ADAPTIVE = 3
} bhive_retry_mode;

/* ---- caller-supplied transport ----------------------------------------
 * By default the client sends HTTP with libcurl's multi interface. A caller
 * may supply its own transport instead (to record, replay, proxy or test):
 * the counterpart of handing BedrockHive your own boto3 client.
 */

typedef struct bhive_http_request {
	const char *method;           /* "POST", "GET", "PUT" */
	const char *url;              /* full URL, path already percent-encoded */
	const char *const *headers;   /* "Name: value" strings, NULL-terminated */
	const char *body;             /* may be NULL when body_len is 0 */
	size_t body_len;
	long connect_timeout_ms;
	long read_timeout_ms;
} bhive_http_request;

typedef struct bhive_http_response {
	long status;                  /* HTTP status, 0 when no response */
	const char *const *headers;   /* "Name: value" strings, NULL-terminated, may be NULL */
	const char *body;             /* NUL-terminated as a convenience */
	size_t body_len;
} bhive_http_response;

/*
 * Called exactly once per sent request. On a transport failure resp is NULL
 * and err says why (BHIVE_ERR_NETWORK or BHIVE_ERR_TIMEOUT, BHIVE_ERR_PARSE
 * for a body over the transport's size cap). Both are borrowed for the
 * duration of the call. It may start new requests; it must not free the
 * client.
 */
typedef void (*bhive_http_done_fn)(void *call_ud, const bhive_http_response *resp,
                                   const bhive_error *err);

typedef struct bhive_transport {
	void *ud;
	/* Start sending req (copy what you keep); 0 or a bhive_code. On failure
	 * done is never called. */
	int (*send)(void *ud, const bhive_http_request *req, bhive_http_done_fn done,
	            void *call_ud, bhive_error *err);
	/* Make progress for at most timeout_ms, calling done callbacks. Returns
	 * the number of requests still in flight, or -1 on a fatal error. */
	int (*poll)(void *ud, long timeout_ms);
	/* Release everything; in-flight requests are dropped without callbacks.
	 * The client calls it from bhive_client_free() (it owns ud from
	 * bhive_client_new() on). May be NULL. */
	void (*destroy)(void *ud);
} bhive_transport;

/* ---- options ----------------------------------------------------------- */

typedef struct bhive_client_options {
	const char *profile;           /* NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, "default" */
	const char *region;            /* NULL: AWS_REGION, AWS_DEFAULT_REGION, profile */
	const char *endpoint_url;      /* NULL: env, [services], profile, rule set */
	/* Explicit credentials beat the environment and the files. */
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
	/* Bedrock API key. NULL: AWS_BEARER_TOKEN_BEDROCK. Beats SigV4. */
	const char *bearer_token;
	bhive_retry_mode retry_mode;
	int max_attempts;              /* 0: AWS_MAX_ATTEMPTS, profile, mode default */
	long connect_timeout_ms;       /* 0: 60000 */
	long read_timeout_ms;          /* 0: 300000 */
	int use_fips;                  /* -1: AWS_USE_FIPS_ENDPOINT / profile; 0 no; 1 yes */
	int use_dualstack;             /* -1: AWS_USE_DUALSTACK_ENDPOINT / profile */
	const char *ca_file;           /* NULL: system trust store */
	int max_connections;           /* 0: unlimited per host (HTTP/2 multiplexes) */
	const bhive_transport *transport; /* NULL: built-in libcurl transport; copied */
} bhive_client_options;

/* Fills *opts with defaults (everything from the environment). */
void bhive_client_options_init(bhive_client_options *opts);

/*
 * Creates a client. Region, endpoint and retry settings are resolved here;
 * credentials on the first call (then cached and refreshed before they
 * expire), so a missing credential is BHIVE_ERR_CREDENTIALS from the call.
 * Without a region, a configured endpoint URL (option, environment or
 * profile) lets the client sign for us-east-1. Returns NULL and fills err
 * on failure: no region (BHIVE_ERR_REGION), a malformed profile
 * (BHIVE_ERR_CONFIG), etc. opts may be NULL. Strings in opts are copied.
 */
bhive_client *bhive_client_new(const bhive_client_options *opts, bhive_error *err);

/* Frees the client; in-flight requests are dropped without callbacks. NULL ok. */
void bhive_client_free(bhive_client *client);

/* The resolved region and endpoint, borrowed from the client. */
const char *bhive_client_region(const bhive_client *client);
const char *bhive_client_endpoint(const bhive_client *client);

/* ---- Converse ---------------------------------------------------------- */

/* Facts about one finished call, including its retries. */
typedef struct bhive_call_info {
	int attempts;             /* 1 + retries */
	long http_status;         /* of the last attempt, 0 if none */
	double wall_ms;           /* from start to completion, retries and waits included */
	char request_id[80];      /* of the last attempt */
} bhive_call_info;

/*
 * Called exactly once for every successful bhive_converse_start().
 * response: the parsed Converse response (borrowed; json_incref to keep) or
 * NULL on failure, when err says why. info is always set.
 */
typedef void (*bhive_converse_fn)(void *ud, json_t *response, const bhive_error *err,
                                  const bhive_call_info *info);

/*
 * Starts a Converse call. request is the Converse request body as the AWS
 * CLI takes it (messages, system, inferenceConfig, toolConfig, ...; members
 * the library does not know pass through untouched); "modelId" in it is
 * ignored, model_id is used. The request is copied. Returns 0, or a code
 * (and cb is never called).
 */
int bhive_converse_start(bhive_client *client, const char *model_id, const json_t *request,
                         bhive_converse_fn cb, void *ud, bhive_error *err);

/*
 * Runs the loop: transfers, retries and timers, calling callbacks. Returns
 * when no call is in flight and no timer is armed, or after timeout_ms (-1:
 * no limit). Returns the number of calls still in flight, or -1 on a fatal
 * transport error. Callbacks may start calls and add timers; they must not
 * call bhive_client_run() or bhive_converse() on the same client.
 */
int bhive_client_run(bhive_client *client, long timeout_ms);

/* Number of calls started and not yet completed. */
int bhive_client_pending(const bhive_client *client);

/*
 * Cancels calls in flight: bhive_client_cancel those started with callback
 * cb and user data ud, bhive_client_cancel_all every one. Each cancelled
 * call's callback runs exactly once, from inside this function, with
 * response NULL and err->code BHIVE_ERR_CANCELLED (as for any completion);
 * calls those callbacks start are not cancelled. An attempt already sent
 * is abandoned: its answer, if one comes, is dropped. Returns the number of
 * calls cancelled.
 */
int bhive_client_cancel(bhive_client *client, bhive_converse_fn cb, void *ud);
int bhive_client_cancel_all(bhive_client *client);

/*
 * Timers on the client's loop, for layers above (the hive engine). The
 * callback runs from bhive_client_run(). Returns an id > 0, or 0 on error.
 */
typedef void (*bhive_timer_fn)(void *ud);
unsigned long bhive_client_add_timer(bhive_client *client, long delay_ms,
                                     bhive_timer_fn cb, void *ud);
void bhive_client_cancel_timer(bhive_client *client, unsigned long id);

/*
 * The blocking call: one Converse request, retries included. Returns a new
 * reference to the response (json_decref it), or NULL with err filled.
 */
json_t *bhive_converse(bhive_client *client, const char *model_id, const json_t *request,
                       bhive_call_info *info, bhive_error *err);

/* ---- response helpers -------------------------------------------------- */

/*
 * The text of a Converse response: its output.message text blocks joined
 * with no separator. Returns a new string (free it with bhive_free()), or
 * NULL if there is no text block.
 */
char *bhive_response_text(const json_t *response);

/* Frees memory the library handed over to the caller. NULL ok. */
void bhive_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
