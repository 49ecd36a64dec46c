#ifndef BHIVE_ERROR_H
#define BHIVE_ERROR_H

/*
 * Errors.
 *
 * Every call that can fail returns a bhive_code (0 = BHIVE_OK) or NULL, and
 * fills an optional caller-owned bhive_error (NULL is allowed). Codes are
 * only ever appended, never renumbered.
 *
 * A code is a family in its low byte and an optional detail above it (like
 * SQLite's extended result codes): BHIVE_ERR_SERVICE_THROTTLED is in family
 * BHIVE_ERR_SERVICE. Test a family with bhive_code_family(code).
 */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bhive_code {
	BHIVE_OK = 0,
	BHIVE_ERR_NOMEM = 1,       /* out of memory */
	BHIVE_ERR_INVALID = 2,     /* bad argument, option or configuration value */
	BHIVE_ERR_CONFIG = 3,      /* a shared config/credentials file or profile is wrong */
	BHIVE_ERR_CREDENTIALS = 4, /* no credentials, or a provider failed */
	BHIVE_ERR_REGION = 5,      /* no region configured */
	BHIVE_ERR_NETWORK = 6,     /* DNS, connect, TLS, reset, cut-off body */
	BHIVE_ERR_TIMEOUT = 7,     /* connect or read timeout on our side */
	BHIVE_ERR_SERVICE = 8,     /* the service answered with an error (see error_type) */
	BHIVE_ERR_PARSE = 9,       /* a response or input could not be parsed */
	BHIVE_ERR_IO = 10,         /* reading or writing a local file or process */
	BHIVE_ERR_VERIFIER = 11,   /* the verifier failed */
	BHIVE_ERR_SCHEMA = 12,     /* structured output missing or not valid for the schema */
	BHIVE_ERR_BUDGET = 13,     /* a cost or time budget was exceeded */
	BHIVE_ERR_CANCELLED = 14,  /* cancelled by the caller */
	BHIVE_ERR_STORE = 15,      /* results store missing, corrupt or foreign */
	BHIVE_ERR_UNKNOWN_MODEL = 16, /* no price known for a model (strict mode) */

	/* BHIVE_ERR_SERVICE details, decided by the AWS error type */
	BHIVE_ERR_SERVICE_THROTTLED = BHIVE_ERR_SERVICE | (1 << 8),  /* ThrottlingException */
	BHIVE_ERR_SERVICE_VALIDATION = BHIVE_ERR_SERVICE | (2 << 8), /* ValidationException */
	BHIVE_ERR_SERVICE_ACCESS = BHIVE_ERR_SERVICE | (3 << 8),     /* AccessDenied, signature, unknown key */
	BHIVE_ERR_SERVICE_NOT_FOUND = BHIVE_ERR_SERVICE | (4 << 8),  /* ResourceNotFoundException */
	BHIVE_ERR_SERVICE_MODEL_TIMEOUT = BHIVE_ERR_SERVICE | (5 << 8), /* ModelTimeoutException */
	BHIVE_ERR_SERVICE_MODEL_ERROR = BHIVE_ERR_SERVICE | (6 << 8),   /* ModelErrorException */
	BHIVE_ERR_SERVICE_NOT_READY = BHIVE_ERR_SERVICE | (7 << 8),     /* ModelNotReadyException */
	BHIVE_ERR_SERVICE_INTERNAL = BHIVE_ERR_SERVICE | (8 << 8),      /* InternalServerException, 5xx */
	BHIVE_ERR_SERVICE_UNAVAILABLE = BHIVE_ERR_SERVICE | (9 << 8),   /* ServiceUnavailableException */
	BHIVE_ERR_SERVICE_QUOTA = BHIVE_ERR_SERVICE | (10 << 8)         /* ServiceQuotaExceededException */
} bhive_code;

#define bhive_code_family(code) ((code) & 0xff)

#define BHIVE_ERROR_TEXT_LENGTH 512

/*
 * Details of a failure. The first error recorded wins; every public call
 * that takes one clears it on entry. Messages are lowercase, problem first,
 * the subject quoted, and never contain secrets.
 */
typedef struct bhive_error {
	int code;               /* bhive_code */
	int http_status;        /* HTTP status when the service answered, else 0 */
	char error_type[64];    /* AWS error shape, e.g. "ThrottlingException", else "" */
	char request_id[80];    /* x-amzn-RequestId when known, else "" */
	char source[128];       /* file, model id or URL the error is about, else "" */
	int line;               /* 1-based line for parse errors, else 0 */
	int column;             /* 1-based column for parse errors, else 0 */
	char message[BHIVE_ERROR_TEXT_LENGTH];
} bhive_error;

/* A static description of a code: "service error", "throttled" ... */
const char *bhive_strerror(int code);

/* Sets *err to "no error". NULL allowed. */
void bhive_error_clear(bhive_error *err);

#ifdef __cplusplus
}
#endif
#endif
