/*
 * buf.h -- the one growable byte/text buffer of crease.
 *
 * A cr_buf holds `len` bytes at `p`, always followed by a NUL once anything has
 * been appended (so text is usable as a C string); `p` is NULL until the first
 * append or reserve.  Memory comes from core's cr_malloc family, so tests can make
 * any growth fail.  Zero-initialise it ({0}) before use; no init call is needed.
 *
 * Ownership: the buffer owns `p` until cr_buf_take hands it to the caller (who
 * frees it with cr_free) or cr_buf_release frees it.  Callers may read `p`, `len`
 * and `st` directly but write only through these functions.
 *
 * Failure contract: a failed call leaves `p`, `len` and the text exactly as they
 * were, and records its status in `st`.  The first failure sticks: every later
 * append or reserve does nothing and returns that status, so a run of appends may
 * be checked once at the end (`if (b.st != CR_OK)`).  Only cr_buf_release (and a
 * successful take) clears it.
 *
 * Thread-safety: none; a buffer belongs to one thread at a time.
 */
#ifndef CR_CORE_BUF_H
#define CR_CORE_BUF_H

#include "core/status.h"

#include <stdarg.h>
#include <stddef.h>

typedef struct cr_buf {
    char *p;      /* the bytes, NUL-terminated; NULL before the first growth */
    size_t len;   /* bytes held, the NUL not counted */
    size_t cap;   /* bytes allocated at p */
    cr_status st; /* the first failure of a call on this buffer, CR_OK if none */
} cr_buf;

/* Makes room for `n` more bytes plus the NUL, so that b->p + b->len can be written
 * directly (then advance with cr_buf_commit).  Allocates `p` even when n == 0.
 * CR_ERR_NOMEM when memory runs out or the size would overflow. */
cr_status cr_buf_reserve(cr_buf *b, size_t n);

/* Counts `n` bytes written by the caller at b->p + b->len (after a reserve of at
 * least `n`) and NUL-terminates.  CR_ERR_INTERNAL if `n` exceeds the room. */
cr_status cr_buf_commit(cr_buf *b, size_t n);

/* Appends the `n` bytes at `data` (which may be NULL when n == 0). */
cr_status cr_buf_add(cr_buf *b, const void *data, size_t n);

/* Appends the C string `s` (CR_ERR_INVALID when `s` is NULL). */
cr_status cr_buf_adds(cr_buf *b, const char *s);

/* Appends printf-style text, however long.  CR_ERR_INVALID when formatting fails. */
cr_status cr_buf_addf(cr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `s` with & < > " ' written as entities (&amp; &lt; &gt; &quot; &#39;), which
 * HTML and XML text and attribute values both accept.  NULL appends nothing. */
cr_status cr_buf_add_escaped(cr_buf *b, const char *s);
cr_status cr_buf_vaddf(cr_buf *b, const char *fmt, va_list ap);

/* Keeps the first `len` bytes (for reuse: the memory stays); a `len` beyond
 * b->len changes nothing.  The recorded failure, if any, stays too.  Cannot fail. */
void cr_buf_truncate(cr_buf *b, size_t len);

/* Hands the bytes to the caller: *out gets `p` (never NULL on success: a buffer
 * that never grew gives an allocated ""), *len (may be NULL) the length; `b` is
 * left empty ({0}).  Fails with the buffer's recorded status if an earlier call
 * failed, or CR_ERR_NOMEM; on failure *out is NULL and `b` is as it was (the
 * caller still releases it). */
cr_status cr_buf_take(cr_buf *b, char **out, size_t *len);

/* Frees the bytes and leaves `b` empty ({0}), its recorded failure forgotten.
 * `b` may be NULL.  Cannot fail. */
void cr_buf_release(cr_buf *b);

#endif
