/*
 * tmpfile.h -- a named temporary file for data too large to hold in memory (a job's
 * merged results are tens of MB for a 15-minute video): created under $TMPDIR (else
 * /tmp) with mkstemp, mode 0600, written through a stdio buffer, and removed by its
 * owner with cr_tmpfile_remove.  The name exists so that the file can be handed to
 * code that opens files by path (blob_put_file).
 *
 * Errors: CR_ERR_IO with the path and strerror (a full disk shows up here, from a
 * write or from cr_tmpfile_flush, never silently).  One file is used by one thread.
 */
#ifndef CR_CORE_TMPFILE_H
#define CR_CORE_TMPFILE_H

#include "core/status.h"

#include <limits.h>
#include <stdio.h>

typedef struct cr_tmpfile {
    char path[PATH_MAX]; /* "" when none */
    FILE *f;             /* NULL when none */
} cr_tmpfile;

/* Fills `path` with "$TMPDIR/<prefix>XXXXXX" (else /tmp) and creates the file with
 * mkstemp; returns its descriptor, or -1 with errno (path is then ""). */
int cr_tmpfile_mkstemp(char *path, size_t cap, const char *prefix);

/* Creates an empty temporary file, open for reading and writing. */
cr_status cr_tmpfile_create(cr_tmpfile *t, const char *prefix, cr_err *err);

/* Appends n bytes. */
cr_status cr_tmpfile_write(cr_tmpfile *t, const void *data, size_t n, cr_err *err);

/* Appends the whole contents of `src` (read from its start; src is flushed first). */
cr_status cr_tmpfile_append_file(cr_tmpfile *t, cr_tmpfile *src, cr_err *err);

/* Writes out the buffer, so that the file at t->path holds everything written. */
cr_status cr_tmpfile_flush(cr_tmpfile *t, cr_err *err);

/* Closes and deletes the file.  A zeroed or removed cr_tmpfile is a no-op. */
void cr_tmpfile_remove(cr_tmpfile *t);

#endif
