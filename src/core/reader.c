/*
 * reader.c -- the cr_reader wrapper and its local-file backend (pread).
 */
#include "core/reader.h"

#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cr_reader {
    const cr_reader_ops *ops;
    void *ctx;
    uint64_t size;
    uint64_t bytes_read;
    uint64_t calls;
    char *name;
};

cr_status cr_reader_create(const cr_reader_ops *ops, void *ctx, uint64_t size, const char *name,
                           cr_reader **out, cr_err *err)
{
    cr_reader *r = cr_calloc(1, sizeof *r);
    char *nm = cr_strdup(name ? name : "");
    if (r == NULL || nm == NULL) {
        cr_free(r);
        cr_free(nm);
        if (ops->close)
            ops->close(ctx);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory opening reader");
    }
    r->ops = ops;
    r->ctx = ctx;
    r->size = size;
    r->name = nm;
    *out = r;
    return CR_OK;
}

cr_status cr_reader_read_at(cr_reader *r, uint64_t off, void *buf, size_t n, size_t *got,
                            cr_err *err)
{
    size_t total = 0;
    while (total < n && off + total < r->size) {
        size_t want = n - total;
        if (want > r->size - (off + total))
            want = (size_t)(r->size - (off + total));
        size_t g = 0;
        cr_status st = r->ops->read_at(r->ctx, off + total, (char *)buf + total, want, &g, err);
        r->calls++;
        if (st != CR_OK) {
            *got = total;
            return st;
        }
        if (g == 0)
            break;
        total += g;
        r->bytes_read += g;
    }
    *got = total;
    return CR_OK;
}

uint64_t cr_reader_size(const cr_reader *r)
{
    return r->size;
}

const char *cr_reader_name(const cr_reader *r)
{
    return r->name;
}

uint64_t cr_reader_bytes_read(const cr_reader *r)
{
    return r->bytes_read;
}

uint64_t cr_reader_read_calls(const cr_reader *r)
{
    return r->calls;
}

void cr_reader_close(cr_reader *r)
{
    if (r == NULL)
        return;
    if (r->ops->close)
        r->ops->close(r->ctx);
    cr_free(r->name);
    cr_free(r);
}

/* ---- local file backend ---- */

typedef struct file_ctx {
    int fd;
} file_ctx;

static cr_status file_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                              cr_err *err)
{
    file_ctx *f = ctx;
    for (;;) {
        ssize_t r = pread(f->fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return cr_err_set(err, CR_ERR_IO, "read at %llu: %s", (unsigned long long)off,
                              strerror(errno));
        *got = (size_t)r;
        return CR_OK;
    }
}

static void file_close(void *ctx)
{
    file_ctx *f = ctx;
    if (f == NULL)
        return;
    close(f->fd);
    cr_free(f);
}

static const cr_reader_ops file_ops = {file_read_at, file_close};

cr_status cr_reader_open_file(const char *path, cr_reader **out, cr_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_err_set(err, errno == ENOENT ? CR_ERR_NOT_FOUND : CR_ERR_IO, "%s: %s", path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cr_err_set(err, CR_ERR_IO, "%s: not a regular file", path);
    }
    file_ctx *f = cr_malloc(sizeof *f);
    if (f == NULL) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    f->fd = fd;
    return cr_reader_create(&file_ops, f, (uint64_t)sb.st_size, path, out, err);
}
