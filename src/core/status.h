/*
 * status.h -- the one status vocabulary of crease, and the error buffer that
 * carries a human-readable detail next to it.
 *
 * Every fallible function in crease returns a cr_status (CR_OK == 0) and, when it
 * takes a `cr_err *`, writes one line of detail there.  The first error written
 * wins (cr_err_set does nothing if the buffer already holds a message), so the
 * root cause survives the unwinding of callers that add their own context.
 *
 * The enum is append-only: values are written to logs and compared by tests;
 * never renumber, never remove (retire a value by renaming it CR_OBSOLETE_n).
 * Secrets never go into an error message.
 */
#ifndef CR_CORE_STATUS_H
#define CR_CORE_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum cr_status {
    CR_OK = 0,
    CR_ERR_NOMEM = 1,       /* an allocation failed */
    CR_ERR_INVALID = 2,     /* a caller or user value is out of its domain */
    CR_ERR_IO = 3,          /* a read or write of a file or socket failed */
    CR_ERR_FORMAT = 4,      /* untrusted bytes are malformed (video, model, JSON, XML) */
    CR_ERR_UNSUPPORTED = 5, /* well-formed but not handled (codec, operator) */
    CR_ERR_NOT_FOUND = 6,   /* a file, key, row or model is missing */
    CR_ERR_DB = 7,          /* the database refused or failed */
    CR_ERR_NET = 8,         /* a network peer failed (connect, 5xx after retries) */
    CR_ERR_TIMEOUT = 9,     /* a deadline passed */
    CR_ERR_CONFLICT = 10,   /* the state changed under us (lost a race, wrong state) */
    CR_ERR_AUTH = 11,       /* credentials or a signature were refused */
    CR_ERR_INTERNAL = 12,   /* a bug: an invariant of our own did not hold */
    CR_ERR_CANCELLED = 13,  /* stopped on request (signal, shutdown) */
    CR_ERR_LIMIT = 14,      /* a size or count is beyond what crease accepts */
    CR_ERR_CHANGED = 15,    /* an object is no longer the one that was checked (its size or
                               ETag differ from the pinned ones) */
} cr_status;

/* A short, stable, lower-case name for a status ("ok", "nomem", ...).  Never NULL. */
const char *cr_status_str(cr_status s);

#define CR_ERR_MSG_MAX 512

/* Error detail.  Zero-initialise ({0}) or call cr_err_clear before use. */
typedef struct cr_err {
    cr_status code;
    char msg[CR_ERR_MSG_MAX];
} cr_err;

/* Records `code` and a printf-style message in `err` unless `err` already holds an
 * error (the first error wins).  `err` may be NULL.  Returns `code`, so callers can
 * write `return cr_err_set(err, CR_ERR_IO, "open %s: %s", path, strerror(errno));`. */
cr_status cr_err_set(cr_err *err, cr_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
cr_status cr_err_vset(cr_err *err, cr_status code, const char *fmt, va_list ap);

/* Forgets any recorded error. `err` may be NULL. */
void cr_err_clear(cr_err *err);

/* The message, or the status name when no message was recorded.  Never NULL. */
const char *cr_err_msg(const cr_err *err);

#endif
