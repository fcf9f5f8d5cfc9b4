/*
 * tmpfile.c -- named temporary files (see tmpfile.h).
 */
#include "core/tmpfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cr_tmpfile_mkstemp(char *path, size_t cap, const char *prefix)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    int n = snprintf(path, cap, "%s/%sXXXXXX", dir, prefix);
    if (n < 0 || (size_t)n >= cap) /* an absurd TMPDIR: /tmp rather than a cut name */
        n = snprintf(path, cap, "/tmp/%sXXXXXX", prefix);
    if (n < 0 || (size_t)n >= cap) {
        path[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(path); /* mode 0600, O_EXCL */
    if (fd < 0)
        path[0] = '\0';
    return fd;
}

static cr_status io_error(const cr_tmpfile *t, const char *what, int e, cr_err *err)
{
    return cr_err_set(err, CR_ERR_IO, "%s temporary file %s: %s", what, t->path, strerror(e));
}

cr_status cr_tmpfile_create(cr_tmpfile *t, const char *prefix, cr_err *err)
{
    t->f = NULL;
    int fd = cr_tmpfile_mkstemp(t->path, sizeof t->path, prefix);
    if (fd < 0)
        return cr_err_set(err, CR_ERR_IO, "cannot create a temporary file under %s: %s",
                          getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                          strerror(errno));
    t->f = fdopen(fd, "w+");
    if (t->f == NULL) {
        int e = errno;
        close(fd);
        cr_status st = io_error(t, "opening", e, err);
        unlink(t->path);
        t->path[0] = '\0';
        return st;
    }
    return CR_OK;
}

cr_status cr_tmpfile_write(cr_tmpfile *t, const void *data, size_t n, cr_err *err)
{
    if (n > 0 && fwrite(data, 1, n, t->f) != n)
        return io_error(t, "writing", errno ? errno : EIO, err);
    return CR_OK;
}

cr_status cr_tmpfile_flush(cr_tmpfile *t, cr_err *err)
{
    errno = 0;
    if (fflush(t->f) != 0 || ferror(t->f))
        return io_error(t, "writing", errno ? errno : EIO, err);
    return CR_OK;
}

cr_status cr_tmpfile_append_file(cr_tmpfile *t, cr_tmpfile *src, cr_err *err)
{
    cr_status st = cr_tmpfile_flush(src, err);
    if (st != CR_OK)
        return st;
    if (fseeko(src->f, 0, SEEK_SET) != 0)
        return io_error(src, "rewinding", errno, err);
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, src->f)) > 0)
        if ((st = cr_tmpfile_write(t, buf, got, err)) != CR_OK)
            return st;
    if (ferror(src->f))
        return io_error(src, "reading", errno ? errno : EIO, err);
    return fseeko(src->f, 0, SEEK_END) == 0 ? CR_OK : io_error(src, "seeking", errno, err);
}

void cr_tmpfile_remove(cr_tmpfile *t)
{
    if (t->f != NULL)
        fclose(t->f);
    if (t->path[0] != '\0')
        unlink(t->path);
    t->f = NULL;
    t->path[0] = '\0';
}
