/*
 * blob_local.c -- the local-folder backend.
 *
 * Object `key` is the file <dir>/<key>.  Writes go to a temporary file in
 * <dir>/.crease-tmp/ (same file system, so rename(2) is atomic), are fsync'ed, and
 * renamed over the target; a crash leaves at worst a stray temporary file, never a
 * torn object.  Keys were validated by blob.c, so <dir>/<key> cannot leave <dir>
 * (no "..", no absolute path); symbolic links inside the folder are not followed
 * by blob_list.
 *
 * Differences from S3: a key cannot be both an object and a "folder" of other keys
 * ("a/b" and "a/b/c"); such a put fails with CR_ERR_CONFLICT.  Deleting the last key
 * of a folder leaves the empty folder (removing it would race with a concurrent put
 * below it); blob_list does not see folders.
 *
 * Presigned URLs: BLOB_LOCAL_URL_PREFIX + key + "?method=GET|PUT&expires=<unix>&sig=<hex>",
 * sig = hex(HMAC-SHA256(APP_SECRET_KEY, "crease-blob-v1\n" method "\n" expires "\n" key)).
 */
#define _GNU_SOURCE /* mkostemp, strptime */
#include "blob/blob_int.h"

#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_NAME ".crease-tmp" /* the temp folder below the root; keys may not use it */

typedef struct local_ctx {
    char *root;
    char *tmpdir;
    char *secret;
    char *url_base;
} local_ctx;

static void local_destroy(void *ctx)
{
    local_ctx *l = ctx;
    if (l == NULL)
        return;
    cr_free(l->root);
    cr_free(l->tmpdir);
    if (l->secret) {
        OPENSSL_cleanse(l->secret, strlen(l->secret));
        cr_free(l->secret);
    }
    cr_free(l->url_base);
    cr_free(l);
}

/* mkdir -p of path[0..n) */
static cr_status mkdirs(const char *path, size_t n, cr_err *err)
{
    char *p = cr_strndup(path, n);
    if (p == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    cr_status st = CR_OK;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            st = cr_err_set(err, errno == ENOTDIR ? CR_ERR_CONFLICT : CR_ERR_IO, "mkdir %s: %s", p,
                            strerror(errno));
            break;
        }
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            st = cr_err_set(err, CR_ERR_CONFLICT, "%s exists and is not a folder", p);
            break;
        }
        p[i] = c;
    }
    cr_free(p);
    return st;
}

cr_status blob_local_create(const char *dir, const char *secret, const blob_options *opt,
                            void **out, cr_err *err)
{
    blob_options o;
    blob_options_resolve(opt, &o);
    if (dir == NULL || dir[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "blob folder: empty path");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    local_ctx *l = cr_calloc(1, sizeof *l);
    if (l == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    l->root = cr_strndup(dir, n);
    l->secret = cr_strdup(secret ? secret : "");
    l->url_base = cr_strdup(o.url_base);
    cr_buf t = {0};
    cr_buf_addf(&t, "%.*s/.crease-tmp", (int)n, dir);
    l->tmpdir = t.p;
    cr_status st;
    if (l->root == NULL || l->secret == NULL || l->url_base == NULL || t.st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = mkdirs(l->tmpdir, strlen(l->tmpdir), err)) != CR_OK)
        goto fail;
    *out = l;
    return CR_OK;
fail:
    local_destroy(l);
    return st;
}

static char *key_path(local_ctx *l, const char *key)
{
    cr_buf b = {0};
    cr_buf_addf(&b, "%s/%s", l->root, key);
    if (b.st != CR_OK) {
        cr_buf_release(&b);
        return NULL;
    }
    return b.p;
}

static cr_status errno_status(int e)
{
    return (e == ENOENT || e == ENOTDIR || e == EISDIR) ? CR_ERR_NOT_FOUND : CR_ERR_IO;
}

static cr_status write_all(int fd, const void *data, size_t n, const char *what, cr_err *err)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return cr_err_set(err, CR_ERR_IO, "write %s: %s", what, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return CR_OK;
}

/* The writer side of an atomic put: a temp file, filled by the caller, then
 * committed (fsync + rename) or discarded. */
typedef struct tmpfile {
    int fd;
    char *path;
} tmpfile_t;

static cr_status tmp_open(const char *dir, tmpfile_t *t, cr_err *err)
{
    cr_buf b = {0};
    cr_buf_addf(&b, "%s/.tmp-XXXXXX", dir);
    if (b.st != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    int fd = mkostemp(b.p, O_CLOEXEC);
    if (fd < 0) {
        cr_status st = cr_err_set(err, CR_ERR_IO, "create %s: %s", b.p, strerror(errno));
        cr_buf_release(&b);
        return st;
    }
    t->fd = fd;
    t->path = b.p;
    return CR_OK;
}

static void tmp_discard(tmpfile_t *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->path) {
        unlink(t->path);
        cr_free(t->path);
    }
    t->fd = -1;
    t->path = NULL;
}

static cr_status tmp_commit(tmpfile_t *t, const char *final, cr_err *err)
{
    cr_status st = CR_OK;
    if (fchmod(t->fd, 0644) != 0 || fsync(t->fd) != 0)
        st = cr_err_set(err, CR_ERR_IO, "sync %s: %s", t->path, strerror(errno));
    if (st == CR_OK && close(t->fd) != 0)
        st = cr_err_set(err, CR_ERR_IO, "close %s: %s", t->path, strerror(errno));
    t->fd = -1;
    if (st == CR_OK && rename(t->path, final) != 0)
        st = cr_err_set(err, errno == EISDIR ? CR_ERR_CONFLICT : CR_ERR_IO, "rename to %s: %s",
                        final, strerror(errno));
    if (st != CR_OK) {
        tmp_discard(t);
        return st;
    }
    cr_free(t->path);
    t->path = NULL;
    return CR_OK;
}

/* Creates the parent folders of <root>/<key>. */
static cr_status make_parents(local_ctx *l, const char *path, cr_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t rootlen = strlen(l->root);
    if (slash == NULL || (size_t)(slash - path) <= rootlen)
        return CR_OK;
    return mkdirs(path, (size_t)(slash - path), err);
}

static cr_status local_put_mem(void *ctx, const char *key, const void *data, size_t n,
                               const char *ctype, cr_err *err)
{
    (void)ctype;
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    tmpfile_t t = {-1, NULL};
    cr_status st;
    if ((st = make_parents(l, path, err)) != CR_OK || (st = tmp_open(l->tmpdir, &t, err)) != CR_OK)
        goto done;
    if ((st = write_all(t.fd, data, n, key, err)) != CR_OK) {
        tmp_discard(&t);
        goto done;
    }
    st = tmp_commit(&t, path, err);
done:
    cr_free(path);
    return st;
}

static cr_status copy_fd(int in, int out, const char *what, cr_err *err)
{
    enum { COPY_BUF = 1 << 16 }; /* 64 KiB: a few pages per syscall, small on the stack */
    char *buf = cr_malloc(COPY_BUF);
    if (buf == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    cr_status st = CR_OK;
    for (;;) {
        ssize_t r = read(in, buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = cr_err_set(err, CR_ERR_IO, "read %s: %s", what, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if ((st = write_all(out, buf, (size_t)r, what, err)) != CR_OK)
            break;
    }
    cr_free(buf);
    return st;
}

static cr_status open_regular(const char *path, const char *what, int *fd_out, struct stat *sb,
                              cr_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_err_set(err, errno_status(errno), "%s: %s", what,
                          errno == ENOENT || errno == ENOTDIR ? "not found" : strerror(errno));
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "%s: not found (not a regular file)", what);
    }
    *fd_out = fd;
    return CR_OK;
}

/* Copies everything from `in` into a temporary file in `tmpdir`, then renames it to
 * `dest` (same file system): readers see the old file or the whole new one, never a
 * part.  `what` names the source in messages.  On failure the temporary is removed. */
static cr_status copy_atomic(int in, const char *tmpdir, const char *dest, const char *what,
                             cr_err *err)
{
    tmpfile_t t = {-1, NULL};
    cr_status st = tmp_open(tmpdir, &t, err);
    if (st != CR_OK)
        return st;
    if ((st = copy_fd(in, t.fd, what, err)) != CR_OK) {
        tmp_discard(&t);
        return st;
    }
    return tmp_commit(&t, dest, err);
}

static cr_status local_put_file(void *ctx, const char *key, const char *src, const char *ctype,
                                cr_err *err)
{
    (void)ctype;
    local_ctx *l = ctx;
    int in = -1;
    struct stat sb;
    cr_status st = open_regular(src, src, &in, &sb, err);
    if (st != CR_OK)
        return st;
    char *path = key_path(l, key);
    if (path == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = make_parents(l, path, err)) != CR_OK)
        goto done;
    st = copy_atomic(in, l->tmpdir, path, src, err);
done:
    close(in);
    cr_free(path);
    return st;
}

static cr_status local_get_mem(void *ctx, const char *key, cr_buf *out, cr_err *err)
{
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    int fd = -1;
    struct stat sb;
    cr_status st = open_regular(path, key, &fd, &sb, err);
    cr_free(path);
    if (st != CR_OK)
        return st;
    if (cr_buf_reserve(out, (size_t)sb.st_size) != CR_OK) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory reading %s", key);
    }
    for (;;) {
        if (cr_buf_reserve(out, 1 << 16) != CR_OK) {
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory reading %s", key);
            break;
        }
        ssize_t r = read(fd, out->p + out->len, out->cap - out->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = cr_err_set(err, CR_ERR_IO, "read %s: %s", key, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        cr_buf_commit(out, (size_t)r);
    }
    close(fd);
    return st;
}

static cr_status local_get_file(void *ctx, const char *key, const char *dst, cr_err *err)
{
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    int in = -1;
    struct stat sb;
    cr_status st = open_regular(path, key, &in, &sb, err);
    cr_free(path);
    if (st != CR_OK)
        return st;
    /* the temp file sits next to the destination, so rename stays on one file system */
    char *dir = cr_strdup(dst);
    if (dir == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    st = copy_atomic(in, dir, dst, key, err);
done:
    close(in);
    cr_free(dir);
    return st;
}

static cr_status local_get_range(void *ctx, const char *key, uint64_t off, void *buf, size_t n,
                                 size_t *got, cr_err *err)
{
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    int fd = -1;
    struct stat sb;
    cr_status st = open_regular(path, key, &fd, &sb, err);
    cr_free(path);
    if (st != CR_OK)
        return st;
    size_t total = 0;
    while (total < n) {
        ssize_t r = pread(fd, (char *)buf + total, n - total, (off_t)(off + total));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = cr_err_set(err, CR_ERR_IO, "read %s: %s", key, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    close(fd);
    *got = total;
    return st;
}

static void fill_info(const struct stat *sb, blob_info *out)
{
    out->size = (uint64_t)sb->st_size;
    out->mtime = (int64_t)sb->st_mtim.tv_sec;
    snprintf(out->etag, sizeof out->etag, "%llx-%llx", (unsigned long long)sb->st_size,
             (unsigned long long)sb->st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)sb->st_mtim.tv_nsec);
}

static cr_status local_head(void *ctx, const char *key, blob_info *out, cr_err *err)
{
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    struct stat sb;
    cr_status st = CR_OK;
    if (stat(path, &sb) != 0)
        st = cr_err_set(err, errno_status(errno), "%s: %s", key,
                        errno == ENOENT || errno == ENOTDIR ? "not found" : strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = cr_err_set(err, CR_ERR_NOT_FOUND, "%s: not found", key);
    else
        fill_info(&sb, out);
    cr_free(path);
    return st;
}

static cr_status local_del(void *ctx, const char *key, cr_err *err)
{
    local_ctx *l = ctx;
    char *path = key_path(l, key);
    if (path == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    cr_status st = CR_OK;
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        /* "a/b" names a folder of other keys, not an object: nothing to delete */
    } else if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
        st = cr_err_set(err, CR_ERR_IO, "delete %s: %s", key, strerror(errno));
    }
    cr_free(path);
    return st;
}

/* ---- list ---- */

typedef struct entry {
    char *key;
    blob_info info;
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
} entries;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

/* Walks folder <root>/<rel> (rel "" or ending in '/'), adding files whose key starts
 * with `prefix`. */
static cr_status walk(local_ctx *l, cr_buf *rel, const char *prefix, entries *out, int depth,
                      cr_err *err)
{
    if (depth > BLOB_KEY_MAX / 2) /* each level adds >= 2 key bytes ("x/") */
        return CR_OK;
    cr_buf dirpath = {0};
    cr_buf_addf(&dirpath, "%s/%s", l->root, rel->p ? rel->p : "");
    if (dirpath.st != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dirpath.p);
    if (d == NULL) {
        int e = errno;
        cr_buf_release(&dirpath);
        if (e == ENOENT || e == ENOTDIR)
            return CR_OK;
        return cr_err_set(err, CR_ERR_IO, "list %s: %s", rel->p ? rel->p : "", strerror(e));
    }
    cr_status st = CR_OK;
    size_t plen = strlen(prefix);
    struct dirent *de;
    while (st == CR_OK && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        if (rel->len == 0 && strncmp(nm, TMP_NAME, strlen(TMP_NAME)) == 0)
            continue;
        size_t mark = rel->len;
        cr_buf_adds(rel, nm);
        if (rel->st != CR_OK) {
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
            break;
        }
        /* prune: the key so far must agree with the prefix on their common length */
        size_t cmp = rel->len < plen ? rel->len : plen;
        if (memcmp(rel->p, prefix, cmp) == 0) {
            cr_buf full = {0};
            cr_buf_addf(&full, "%s/%s", l->root, rel->p);
            struct stat sb;
            if (full.st != CR_OK) {
                st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
            } else if (lstat(full.p, &sb) == 0) {
                if (S_ISDIR(sb.st_mode)) {
                    cr_buf_add(rel, "/", 1);
                    size_t c2 = rel->len < plen ? rel->len : plen;
                    if (memcmp(rel->p, prefix, c2) == 0)
                        st = walk(l, rel, prefix, out, depth + 1, err);
                } else if (S_ISREG(sb.st_mode) && rel->len >= plen &&
                           blob_key_check(rel->p, rel->len, NULL) == CR_OK) {
                    if (out->n == out->cap) {
                        size_t nc = out->cap ? out->cap * 2 : 64;
                        entry *nv = cr_realloc(out->v, nc * sizeof *nv);
                        if (nv == NULL) {
                            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
                        } else {
                            out->v = nv;
                            out->cap = nc;
                        }
                    }
                    if (st == CR_OK) {
                        entry *e = &out->v[out->n];
                        e->key = cr_strdup(rel->p);
                        if (e->key == NULL)
                            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
                        else {
                            fill_info(&sb, &e->info);
                            out->n++;
                        }
                    }
                }
            }
            cr_buf_release(&full);
        }
        cr_buf_truncate(rel, mark);
    }
    closedir(d);
    cr_buf_release(&dirpath);
    return st;
}

static cr_status local_list(void *ctx, const char *prefix, blob_list_fn fn, void *fnctx,
                            cr_err *err)
{
    local_ctx *l = ctx;
    entries es = {0};
    cr_buf rel = {0};
    /* start at the deepest folder the prefix names completely */
    const char *slash = strrchr(prefix, '/');
    if (slash)
        cr_buf_add(&rel, prefix, (size_t)(slash - prefix) + 1);
    else
        cr_buf_adds(&rel, "");
    cr_status st = rel.st != CR_OK ? cr_err_set(err, CR_ERR_NOMEM, "out of memory")
                                   : walk(l, &rel, prefix, &es, 0, err);
    if (st == CR_OK) {
        if (es.n > 1)
            qsort(es.v, es.n, sizeof *es.v, cmp_entry);
        for (size_t i = 0; i < es.n; i++)
            if (fn(fnctx, es.v[i].key, &es.v[i].info) != 0)
                break;
    }
    for (size_t i = 0; i < es.n; i++)
        cr_free(es.v[i].key);
    cr_free(es.v);
    cr_buf_release(&rel);
    return st;
}

/* ---- presigned URLs ---- */

static const char *method_name(blob_method m)
{
    return m == BLOB_PUT ? "PUT" : "GET";
}

static void local_sig(const char *secret, const char *method, const char *expires, const char *key,
                      char hex[65])
{
    cr_buf msg = {0};
    cr_buf_addf(&msg, "crease-blob-v1\n%s\n%s\n%s", method, expires, key);
    unsigned char mac[32];
    if (msg.st != CR_OK) {
        memset(mac, 0, sizeof mac); /* never matches a real signature's check below */
        hex[0] = '\0';
    } else {
        blob_hmac_sha256(secret, strlen(secret), msg.p, msg.len, mac);
        blob_hex(mac, sizeof mac, hex);
    }
    cr_buf_release(&msg);
}

static cr_status local_presign(void *ctx, const char *key, blob_method m, int64_t expires_s,
                               int64_t now, char **url, cr_err *err)
{
    local_ctx *l = ctx;
    if (l->secret[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID,
                          "APP_SECRET_KEY is required to presign local blob URLs");
    char exp[24], sig[65];
    snprintf(exp, sizeof exp, "%lld", (long long)(now + expires_s));
    local_sig(l->secret, method_name(m), exp, key, sig);
    cr_buf u = {0};
    cr_buf_addf(&u, "%s%s", l->url_base, BLOB_LOCAL_URL_PREFIX);
    blob_sigv4_uri_encode(&u, key, strlen(key), 1);
    cr_buf_addf(&u, "?method=%s&expires=%s&sig=%s", method_name(m), exp, sig);
    if (u.st != CR_OK || sig[0] == '\0') {
        cr_buf_release(&u);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory presigning");
    }
    *url = u.p;
    return CR_OK;
}

cr_status blob_presign_verify(const char *secret, const char *key, blob_method m,
                              const char *q_method, const char *q_expires, const char *q_sig,
                              int64_t now, cr_err *err)
{
    if (key == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "blob key: NULL");
    cr_status st = blob_key_check(key, strlen(key), err);
    if (st != CR_OK)
        return st;
    if (secret == NULL || secret[0] == '\0')
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: no secret configured");
    if (q_method == NULL || q_expires == NULL || q_sig == NULL)
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: missing method, expires or sig");
    if (strcmp(q_method, method_name(m)) != 0)
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: signed for %s, not %s",
                          strcmp(q_method, "PUT") == 0 ? "PUT" : "another method", method_name(m));
    /* expires: 1..19 decimal digits, no sign, no leading zero (one spelling per value,
     * so a signature cannot be replayed under a different string) */
    size_t el = strlen(q_expires);
    if (el == 0 || el > 19 || q_expires[0] == '0')
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: bad expires");
    long long exp = 0;
    for (size_t i = 0; i < el; i++) {
        if (q_expires[i] < '0' || q_expires[i] > '9')
            return cr_err_set(err, CR_ERR_AUTH, "presigned URL: bad expires");
        if (exp > (INT64_MAX - 9) / 10)
            return cr_err_set(err, CR_ERR_AUTH, "presigned URL: bad expires");
        exp = exp * 10 + (q_expires[i] - '0');
    }
    char want[65];
    local_sig(secret, q_method, q_expires, key, want);
    /* constant-time compare of the full 64 hex digits */
    if (want[0] == '\0' || strlen(q_sig) != 64 || CRYPTO_memcmp(want, q_sig, 64) != 0)
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: bad signature");
    if (now > exp)
        return cr_err_set(err, CR_ERR_AUTH, "presigned URL: expired %lld s ago",
                          (long long)(now - exp));
    return CR_OK;
}

const blob_ops blob_local_ops = {
    .name = "local",
    .put_mem = local_put_mem,
    .put_file = local_put_file,
    .get_mem = local_get_mem,
    .get_file = local_get_file,
    .get_range = local_get_range,
    .head = local_head,
    .del = local_del,
    .list = local_list,
    .presign = local_presign,
    .destroy = local_destroy,
};
