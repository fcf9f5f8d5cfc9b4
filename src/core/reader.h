/*
 * reader.h -- a random-access byte source: "read N bytes at offset O".
 *
 * The video module reads every input through a cr_reader, so the same sampler
 * reads a local file (cr_reader_open_file, here) or an object in S3 by range
 * requests (the blob module's reader).  Every reader counts the bytes and calls
 * it served, so tests and benchmarks can show how little of a file a chunk read.
 *
 * A reader is used by one thread at a time.  Backends implement cr_reader_ops
 * and wrap themselves with cr_reader_create.
 */
#ifndef CR_CORE_READER_H
#define CR_CORE_READER_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cr_reader cr_reader;

typedef struct cr_reader_ops {
    /* Reads up to `n` bytes at `off` into `buf`; sets *got (0 only at or past the end).
     * A short read is allowed.  Errors go to `err`. */
    cr_status (*read_at)(void *ctx, uint64_t off, void *buf, size_t n, size_t *got, cr_err *err);
    /* Frees `ctx`.  May be NULL. */
    void (*close)(void *ctx);
} cr_reader_ops;

/* Wraps a backend.  On success the reader owns `ctx` (closed by cr_reader_close);
 * on failure `ctx` is closed too, so the caller never leaks it. */
cr_status cr_reader_create(const cr_reader_ops *ops, void *ctx, uint64_t size, const char *name,
                           cr_reader **out, cr_err *err);

/* Opens a local file for reading. */
cr_status cr_reader_open_file(const char *path, cr_reader **out, cr_err *err);

/* Reads into `buf`; *got < n only at the end of the data (it loops over short reads). */
cr_status cr_reader_read_at(cr_reader *r, uint64_t off, void *buf, size_t n, size_t *got,
                            cr_err *err);

uint64_t cr_reader_size(const cr_reader *r);
const char *cr_reader_name(const cr_reader *r); /* file path or key, for messages */
uint64_t cr_reader_bytes_read(const cr_reader *r);
uint64_t cr_reader_read_calls(const cr_reader *r); /* backend read_at calls made */

/* Closes the backend and frees the reader.  NULL is a no-op. */
void cr_reader_close(cr_reader *r);

#endif
