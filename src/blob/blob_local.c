/*
 * blob_local.c -- the local-folder backend.
 *
 * Object `key` is the file <dir>/<key>.  Writes go to a temporary file in
 * <dir>/.crease-tmp/ (same file system, so rename(2) is atomic), are fsync'ed, and
 * renamed over the target; a crash leaves at worst a stray temporary file, never a
 * torn object.
 *
 * Nothing under the folder follows a symbolic link: the folder is opened once (a
 * link in its own configured path is followed then), and every open, create, stat,
 * rename, delete and list below it resolves from that descriptor with openat2(2)
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or segment by segment with O_NOFOLLOW where
 * the kernel lacks openat2 (see "resolving paths beneath the root").  A link on a
 * key's path is CR_ERR_INVALID ("... is not followed"), so a link planted in the
 * folder cannot send a put outside it, nor a get, head or delete; blob_list neither
 * lists nor enters links.  Keys were validated by blob.c (no "..", no absolute path).
 *
 * Differences from S3: a key cannot be both an object and a "folder" of other keys
 * ("a/b" and "a/b/c"); such a put fails with CR_ERR_CONFLICT.  Deleting the last key
 * of a folder leaves the empty folder (removing it would race with a concurrent put
 * below it); blob_list does not see folders.
 *
 * Presigned URLs: BLOB_LOCAL_URL_PREFIX + key + "?method=GET|PUT&expires=<unix>&sig=<hex>",
 * sig = hex(HMAC-SHA256(APP_SECRET_KEY, "crease-blob-v1\n" method "\n" expires "\n" key)).
 *
 * ETags (what blob_head reports, and what a pinned reader compares): the SHA-256 of the
 * object's bytes, 64 hex digits, so that "the same etag" means "the same bytes", as an
 * S3 ETag of a simple upload (an MD5) does.  It is computed while a put writes the
 * bytes, which pass through memory anyway: under 1 s of CPU per GB with the SHA
 * extensions (measured: `openssl speed` 1.5 GB/s; a 512 MiB `crease blob put` took
 * 0.4-0.5 s of user time, its write and fsync 2-4 s), a few seconds per GB without
 * them; hashing at HEAD time instead would read the whole video for every chunk a
 * worker starts.  The digest is kept with the file in the extended
 * attribute TAG_XATTR, set on the temporary file before the rename, so the bytes and
 * their tag arrive together, with the size and modification time the file had when
 * it was hashed.  A put never changes a file in place (it renames a new file over
 * it), so a file whose size or mtime no longer match was changed by something else:
 * it gets the fallback tag, as does a file the store did not write, and every file on
 * a file system without user xattrs (tmpfs before Linux 6.6): "<size hex>-<mtime ns
 * hex>-<inode hex>".  Every put makes a new inode with a new mtime, so a replaced
 * object gets a new fallback tag too; only the content tag also knows that the same
 * bytes were stored again.
 */
#define _GNU_SOURCE /* fdopendir, F_DUPFD_CLOEXEC, syscall */
#include "blob/blob_int.h"

#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* openat2(2): Linux 5.6 and its uapi header; glibc has no wrapper (Debian 12's
 * neither), so it is called through syscall(2). */
#if defined(__linux__) && defined(SYS_openat2) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2 1
#endif

#define TMP_NAME ".crease-tmp" /* the temp folder below the root; keys may not use it */

/* The content tag of an object (see the top of this file):
 * "sha256=<64 hex> size=<bytes> mtime=<ns>". */
#define TAG_XATTR "user.crease.sha256"
#define TAG_MAX 160

/* Set (to anything but "" or "0") when the store is opened, this forces the
 * component walk even where the kernel has openat2(2), so that tests cover both. */
#define NO_OPENAT2_ENV "CREASE_BLOB_NO_OPENAT2"

typedef struct local_ctx {
    char *root;
    int root_fd; /* the folder, opened once; every path below is resolved from here */
    int tmp_fd;  /* <root>/.crease-tmp */
    int openat2; /* 1: the kernel resolves (openat2); 0: walk_open does */
    char *secret;
    char *url_base;
} local_ctx;

static void local_destroy(void *ctx)
{
    local_ctx *l = ctx;
    if (l == NULL)
        return;
    if (l->root_fd >= 0)
        close(l->root_fd);
    if (l->tmp_fd >= 0)
        close(l->tmp_fd);
    cr_free(l->root);
    if (l->secret) {
        OPENSSL_cleanse(l->secret, strlen(l->secret));
        cr_free(l->secret);
    }
    cr_free(l->url_base);
    cr_free(l);
}

/* ---- resolving paths beneath the root ----
 *
 * Every file operation under the root goes through a folder descriptor and a single
 * name: at_open opens a path relative to a folder without following any symbolic link
 * on the way or at its end (ELOOP when there is one), open_parent opens the folder a
 * key lives in (creating it with mkdirat when asked), and the last step is an *at(2)
 * call on the key's last segment (openat with O_NOFOLLOW, fstatat with
 * AT_SYMLINK_NOFOLLOW, renameat, unlinkat: none of them follows a link there).
 * openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (Linux 5.6) does the
 * resolution in one call; without it (ENOSYS, or EPERM from a seccomp filter that
 * does not know it) walk_open opens one segment at a time with O_NOFOLLOW. */

/* 1 when `name` in folder `dirfd` is a symbolic link. */
static int is_link_at(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);
}

/* openat(dirfd, name) of one segment, never following a link: ELOOP for a link
 * (O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR, told apart here). */
static int open_segment(int dirfd, const char *name, int flags)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOTDIR && is_link_at(dirfd, name))
        errno = ELOOP;
    return fd;
}

/* The fallback resolver: rel ('/'-separated, no "." or ".." segment: keys are
 * checked) one segment at a time from dirfd. */
static int walk_open(int dirfd, const char *rel, int flags)
{
    char seg[256]; /* NAME_MAX + 1 */
    int cur = dirfd;
    for (;;) {
        const char *slash = strchr(rel, '/');
        if (slash == NULL) {
            int fd = open_segment(cur, rel, flags);
            int e = errno;
            if (cur != dirfd)
                close(cur);
            errno = e;
            return fd;
        }
        size_t n = (size_t)(slash - rel);
        int next = -1;
        if (n == 0 || n >= sizeof seg) {
            errno = n == 0 ? ENOENT : ENAMETOOLONG;
        } else {
            memcpy(seg, rel, n);
            seg[n] = '\0';
            next = open_segment(cur, seg, O_RDONLY | O_DIRECTORY);
        }
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (next < 0) {
            errno = e;
            return -1;
        }
        cur = next;
        rel = slash + 1;
    }
}

/* Opens rel below dirfd with `flags`, following no symbolic link: -1 and errno
 * (ELOOP for a link, EXDEV for a path that would leave dirfd) on failure. */
static int at_open(const local_ctx *l, int dirfd, const char *rel, int flags)
{
#ifdef HAVE_OPENAT2
    if (l->openat2) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
        };
        long fd;
        do
            fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        while (fd < 0 && errno == EAGAIN);
        return (int)fd;
    }
#else
    (void)l;
#endif
    return walk_open(dirfd, rel, flags);
}

/* Whether at_open can use openat2 here: not when NO_OPENAT2_ENV is set, nor when
 * the kernel (or a seccomp filter) refuses the call. */
static int probe_openat2(int root_fd)
{
#ifdef HAVE_OPENAT2
    const char *no = getenv(NO_OPENAT2_ENV);
    if (no != NULL && no[0] != '\0' && strcmp(no, "0") != 0)
        return 0;
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    long fd = syscall(SYS_openat2, root_fd, ".", &how, sizeof how);
    if (fd < 0)
        return 0;
    close((int)fd);
    return 1;
#else
    (void)root_fd;
    return 0;
#endif
}

/* The status and message of a failed resolution of `key` (errno e). */
static cr_status resolve_error(int e, const char *key, cr_err *err)
{
    if (e == ELOOP)
        return cr_err_set(err, CR_ERR_INVALID,
                          "%s: a symbolic link in the blob folder is not followed", key);
    if (e == EXDEV)
        return cr_err_set(err, CR_ERR_INVALID, "%s: leaves the blob folder", key);
    if (e == ENOENT || e == ENOTDIR)
        return cr_err_set(err, CR_ERR_NOT_FOUND, "%s: not found", key);
    return cr_err_set(err, CR_ERR_IO, "%s: %s", key, strerror(e));
}

/* Opens the folder that holds `key` (the root for a key without '/') and points
 * *leaf at the key's last segment.  With `create`, missing folders are made (mkdir
 * -p, each one mkdirat'ed and opened without following links); a segment that is a
 * file is CR_ERR_CONFLICT.  Without, a missing folder is CR_ERR_NOT_FOUND.  A
 * symbolic link on the way is CR_ERR_INVALID.  *dirfd is closed by the caller. */
static cr_status open_parent(const local_ctx *l, const char *key, int create, int *dirfd,
                             const char **leaf, cr_err *err)
{
    const char *slash = strrchr(key, '/');
    *leaf = slash ? slash + 1 : key;
    if (slash == NULL || !create) {
        int fd;
        if (slash == NULL) {
            fd = fcntl(l->root_fd, F_DUPFD_CLOEXEC, 0);
        } else {
            char *rel = cr_strndup(key, (size_t)(slash - key));
            if (rel == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
            fd = at_open(l, l->root_fd, rel, O_RDONLY | O_DIRECTORY);
            cr_free(rel);
        }
        if (fd < 0)
            return resolve_error(errno, key, err);
        *dirfd = fd;
        return CR_OK;
    }
    char seg[256]; /* NAME_MAX + 1 */
    int cur = l->root_fd;
    cr_status st = CR_OK;
    for (const char *p = key; p < slash;) {
        const char *end = memchr(p, '/', (size_t)(slash - p) + 1);
        size_t n = (size_t)(end - p);
        if (n >= sizeof seg) {
            st = cr_err_set(err, CR_ERR_INVALID, "%s: segment too long", key);
            break;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (mkdirat(cur, seg, 0755) != 0 && errno != EEXIST) {
            st = cr_err_set(err, errno == ENOTDIR ? CR_ERR_CONFLICT : CR_ERR_IO,
                            "%s: mkdir %.*s: %s", key, (int)(end - key), key, strerror(errno));
            break;
        }
        int next = at_open(l, cur, seg, O_RDONLY | O_DIRECTORY);
        if (next < 0) {
            int e = errno;
            st = e == ENOTDIR
                     ? cr_err_set(err, CR_ERR_CONFLICT, "%s: %.*s exists and is not a folder", key,
                                  (int)(end - key), key)
                     : resolve_error(e, key, err);
            break;
        }
        if (cur != l->root_fd)
            close(cur);
        cur = next;
        p = end + 1;
    }
    if (st != CR_OK) {
        if (cur != l->root_fd)
            close(cur);
        return st;
    }
    *dirfd = cur;
    return CR_OK;
}

/* Opens the object `key` for reading: CR_ERR_NOT_FOUND unless it is a regular file,
 * CR_ERR_INVALID when a symbolic link is on its path. */
static cr_status open_key(const local_ctx *l, const char *key, int *fd_out, struct stat *sb,
                          cr_err *err)
{
    /* O_NONBLOCK: a FIFO planted in the folder must not block the open */
    int fd = at_open(l, l->root_fd, key, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return resolve_error(errno, key, err);
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "%s: not found (not a regular file)", key);
    }
    *fd_out = fd;
    return CR_OK;
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
    l->root_fd = -1;
    l->tmp_fd = -1;
    l->root = cr_strndup(dir, n);
    l->secret = cr_strdup(secret ? secret : "");
    l->url_base = cr_strdup(o.url_base);
    cr_status st;
    if (l->root == NULL || l->secret == NULL || l->url_base == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* the root itself is configuration: a link there is followed, once, here */
    if ((st = mkdirs(l->root, n, err)) != CR_OK)
        goto fail;
    l->root_fd = open(l->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->root_fd < 0) {
        st = cr_err_set(err, CR_ERR_IO, "open %s: %s", l->root, strerror(errno));
        goto fail;
    }
    l->openat2 = probe_openat2(l->root_fd);
    if (mkdirat(l->root_fd, TMP_NAME, 0755) != 0 && errno != EEXIST) {
        st = cr_err_set(err, CR_ERR_IO, "mkdir %s/" TMP_NAME ": %s", l->root, strerror(errno));
        goto fail;
    }
    l->tmp_fd = at_open(l, l->root_fd, TMP_NAME, O_RDONLY | O_DIRECTORY);
    if (l->tmp_fd < 0) {
        st = resolve_error(errno, TMP_NAME, err);
        goto fail;
    }
    *out = l;
    return CR_OK;
fail:
    local_destroy(l);
    return st;
}

int blob_local_uses_openat2(const blob_store *b)
{
    if (b == NULL || b->ops != &blob_local_ops)
        return 0;
    return ((const local_ctx *)b->ctx)->openat2;
}

static cr_status errno_status(int e)
{
    return (e == ENOENT || e == ENOTDIR || e == EISDIR) ? CR_ERR_NOT_FOUND : CR_ERR_IO;
}

/* Writes n bytes to fd; `md` (may be NULL) digests them. */
static cr_status write_all(int fd, const void *data, size_t n, EVP_MD_CTX *md, const char *what,
                           cr_err *err)
{
    if (md != NULL && n > 0 && EVP_DigestUpdate(md, data, n) != 1)
        return cr_err_set(err, CR_ERR_INTERNAL, "hash %s: EVP_DigestUpdate failed", what);
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

/* The writer side of an atomic put: a temp file in folder `dirfd`, filled by the
 * caller, then committed (fsync + renameat) or discarded. */
typedef struct tmpfile {
    int dirfd; /* borrowed */
    int fd;
    char name[32];
} tmpfile_t;

/* Creates a new file ".tmp-<16 hex>" in dirfd (O_EXCL, so never an existing file
 * or link). */
/* A fresh name "<prefix>-<16 hex>" for a temporary entry (time, pid and a counter
 * mixed: unlikely to collide; callers create it exclusively and retry on EEXIST). */
static void tmp_name(char *out, size_t cap, const char *prefix)
{
    static _Atomic unsigned long long seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
                           ((unsigned long long)getpid() << 20) ^ (++seq * 0x9E3779B97F4A7C15ull);
    snprintf(out, cap, "%s-%016llx", prefix, x);
}

static cr_status tmp_open(int dirfd, tmpfile_t *t, cr_err *err)
{
    for (int tries = 0; tries < 100; tries++) {
        tmp_name(t->name, sizeof t->name, ".tmp");
        int fd = openat(dirfd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            t->dirfd = dirfd;
            t->fd = fd;
            return CR_OK;
        }
        if (errno != EEXIST)
            return cr_err_set(err, CR_ERR_IO, "create a temporary file: %s", strerror(errno));
    }
    return cr_err_set(err, CR_ERR_IO, "create a temporary file: no free name");
}

static void tmp_discard(tmpfile_t *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        unlinkat(t->dirfd, t->name, 0);
    }
    t->fd = -1;
}

/* Renames the temp file to `leaf` in folder `dirfd` (which does not follow a link
 * named `leaf`: it replaces it; callers refuse those first). */
static cr_status tmp_commit(tmpfile_t *t, int dirfd, const char *leaf, const char *what,
                            cr_err *err)
{
    cr_status st = CR_OK;
    if (fchmod(t->fd, 0644) != 0 || fsync(t->fd) != 0)
        st = cr_err_set(err, CR_ERR_IO, "sync %s: %s", what, strerror(errno));
    if (st == CR_OK && close(t->fd) != 0)
        st = cr_err_set(err, CR_ERR_IO, "close %s: %s", what, strerror(errno));
    if (st != CR_OK) {
        t->fd = -1;
        unlinkat(t->dirfd, t->name, 0);
        return st;
    }
    t->fd = -1;
    if (renameat(t->dirfd, t->name, dirfd, leaf) != 0) {
        st = cr_err_set(err, errno == EISDIR ? CR_ERR_CONFLICT : CR_ERR_IO, "rename to %s: %s",
                        what, strerror(errno));
        unlinkat(t->dirfd, t->name, 0);
    }
    return st;
}

/* Refuses to replace a symbolic link at `leaf` in dirfd (rename would replace the
 * link itself, not follow it, but the key names a link: not an object). */
static cr_status refuse_link(int dirfd, const char *leaf, const char *key, cr_err *err)
{
    if (is_link_at(dirfd, leaf))
        return resolve_error(ELOOP, key, err);
    return CR_OK;
}

static cr_status copy_fd(int in, int out, EVP_MD_CTX *md, const char *what, cr_err *err)
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
        if ((st = write_all(out, buf, (size_t)r, md, what, err)) != CR_OK)
            break;
    }
    cr_free(buf);
    return st;
}

/* Sets the content tag of the finished temporary file t->fd from the digest `md`: the
 * digest with the size and mtime the file has now, after its last write.  A file system
 * without user xattrs (ENOTSUP) leaves the file untagged: it gets the fallback tag. */
static cr_status tag_file(int fd, EVP_MD_CTX *md, const char *what, cr_err *err)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    struct stat sb;
    if (EVP_DigestFinal_ex(md, d, &dn) != 1 || dn != 32)
        return cr_err_set(err, CR_ERR_INTERNAL, "hash %s: EVP_DigestFinal_ex failed", what);
    if (fstat(fd, &sb) != 0)
        return cr_err_set(err, CR_ERR_IO, "stat %s: %s", what, strerror(errno));
    char hex[65], tag[TAG_MAX];
    blob_hex(d, 32, hex);
    int n = snprintf(tag, sizeof tag, "sha256=%s size=%llu mtime=%lld", hex,
                     (unsigned long long)sb.st_size,
                     (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec);
    if (fsetxattr(fd, TAG_XATTR, tag, (size_t)n, 0) != 0 && errno != ENOTSUP)
        return cr_err_set(err, CR_ERR_IO, "tag %s: %s", what, strerror(errno));
    return CR_OK;
}

/* Writes n bytes (data != NULL) or everything read from `in` (data == NULL) into a
 * temporary file in tmp_dirfd, then renames it to `leaf` in dirfd: readers see the
 * old file or the whole new one, never a part (tmp_dirfd and dirfd are on one file
 * system).  With `tag`, the file gets its content tag first (an object of the store;
 * not a copy made outside it).  `what` names the object in messages.  On failure the
 * temporary is removed. */
static cr_status write_atomic(int tmp_dirfd, int dirfd, const char *leaf, const void *data,
                              size_t n, int in, int tag, const char *what, cr_err *err)
{
    tmpfile_t t = {-1, -1, {0}};
    EVP_MD_CTX *md = NULL;
    if (tag) {
        md = EVP_MD_CTX_new();
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            return cr_err_set(err, CR_ERR_NOMEM, "hash %s: out of memory", what);
        }
    }
    cr_status st = tmp_open(tmp_dirfd, &t, err);
    if (st == CR_OK)
        st = data != NULL || in < 0 ? write_all(t.fd, data, n, md, what, err)
                                    : copy_fd(in, t.fd, md, what, err);
    if (st == CR_OK && md != NULL)
        st = tag_file(t.fd, md, what, err);
    EVP_MD_CTX_free(md);
    if (st != CR_OK) {
        tmp_discard(&t);
        return st;
    }
    return tmp_commit(&t, dirfd, leaf, what, err);
}

/* Stores bytes (or the contents of `in`) under `key`. */
static cr_status put_key(local_ctx *l, const char *key, const void *data, size_t n, int in,
                         cr_err *err)
{
    int dirfd = -1;
    const char *leaf;
    cr_status st = open_parent(l, key, 1, &dirfd, &leaf, err);
    if (st != CR_OK)
        return st;
    if ((st = refuse_link(dirfd, leaf, key, err)) == CR_OK)
        st = write_atomic(l->tmp_fd, dirfd, leaf, data, n, in, 1, key, err);
    close(dirfd);
    return st;
}

static cr_status local_put_mem(void *ctx, const char *key, const void *data, size_t n,
                               const char *ctype, cr_err *err)
{
    (void)ctype;
    static const char empty[1];
    return put_key(ctx, key, data ? data : empty, data ? n : 0, -1, err);
}

/* Opens a file outside the store (the caller's path, links followed as usual). */
static cr_status open_regular(const char *path, int *fd_out, cr_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_err_set(err, errno_status(errno), "%s: %s", path,
                          errno == ENOENT || errno == ENOTDIR ? "not found" : strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "%s: not found (not a regular file)", path);
    }
    *fd_out = fd;
    return CR_OK;
}

static cr_status local_put_file(void *ctx, const char *key, const char *src, const char *ctype,
                                cr_err *err)
{
    (void)ctype;
    int in = -1;
    cr_status st = open_regular(src, &in, err);
    if (st != CR_OK)
        return st;
    st = put_key(ctx, key, NULL, 0, in, err);
    close(in);
    return st;
}

/* Hard-links the open regular file `in` into the temp folder under a fresh name and
 * renames that over `leaf`: the object is the very file that was opened and checked (the
 * link goes through /proc/self/fd, not the path, which could have changed since).  Fails,
 * changing nothing, where a link cannot be made: another file system (EXDEV), no /proc,
 * a file system without hard links, fs.protected_hardlinks for a file of another user. */
static cr_status link_key(local_ctx *l, const char *key, int in, cr_err *err)
{
    int dirfd = -1;
    const char *leaf;
    cr_status st = open_parent(l, key, 1, &dirfd, &leaf, err);
    if (st != CR_OK)
        return st;
    if ((st = refuse_link(dirfd, leaf, key, err)) != CR_OK) {
        close(dirfd);
        return st;
    }
    char proc[64], name[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", in);
    int rc = -1;
    for (int tries = 0; tries < 100 && rc != 0; tries++) {
        tmp_name(name, sizeof name, ".lnk");
        rc = linkat(AT_FDCWD, proc, l->tmp_fd, name, AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno != EEXIST)
            break;
    }
    if (rc != 0)
        st = cr_err_set(err, CR_ERR_UNSUPPORTED, "link %s: %s", key, strerror(errno));
    else if (renameat(l->tmp_fd, name, dirfd, leaf) != 0) {
        st = cr_err_set(err, errno == EISDIR ? CR_ERR_CONFLICT : CR_ERR_IO, "rename to %s: %s", key,
                        strerror(errno));
        unlinkat(l->tmp_fd, name, 0);
    }
    close(dirfd);
    return st;
}

static cr_status local_put_file_shared(void *ctx, const char *key, const char *src,
                                       const char *ctype, int *linked, cr_err *err)
{
    (void)ctype;
    int in = -1;
    cr_status st = open_regular(src, &in, err);
    if (st != CR_OK)
        return st;
    cr_err link_err = {0};
    st = link_key(ctx, key, in, &link_err);
    *linked = st == CR_OK;
    if (st == CR_ERR_UNSUPPORTED) /* no link possible here: a copy, as blob_put_file */
        st = put_key(ctx, key, NULL, 0, in, err);
    else if (st != CR_OK)
        cr_err_set(err, st, "%s", cr_err_msg(&link_err));
    close(in);
    return st;
}

static cr_status local_get_mem(void *ctx, const char *key, cr_buf *out, cr_err *err)
{
    local_ctx *l = ctx;
    int fd = -1;
    struct stat sb;
    cr_status st = open_key(l, key, &fd, &sb, err);
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
    int in = -1, dirfd = -1;
    struct stat sb;
    cr_status st = open_key(l, key, &in, &sb, err);
    if (st != CR_OK)
        return st;
    /* the temp file sits next to the destination (a path outside the store, links
     * followed as usual), so rename stays on one file system */
    char *dir = cr_strdup(dst);
    if (dir == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    char *slash = strrchr(dir, '/');
    const char *leaf = slash ? dst + (slash - dir) + 1 : dst;
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        st = cr_err_set(err, CR_ERR_IO, "open %s: %s", dir, strerror(errno));
        goto done;
    }
    st = write_atomic(dirfd, dirfd, leaf, NULL, 0, in, 0, dst, err);
done:
    close(in);
    if (dirfd >= 0)
        close(dirfd);
    cr_free(dir);
    return st;
}

/* Size, mtime and etag of the file open as `fd` (-1: none, the fallback tag) with
 * stat `sb`: its content tag when that still describes the file (the size and mtime it
 * recorded are the file's), else "<size hex>-<mtime ns hex>-<inode hex>" (see the top
 * of this file). */
static void fill_info(int fd, const struct stat *sb, blob_info *out)
{
    unsigned long long size = (unsigned long long)sb->st_size;
    long long mns = (long long)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
    out->size = (uint64_t)size;
    out->mtime = (int64_t)sb->st_mtim.tv_sec;
    char tag[TAG_MAX];
    ssize_t n = fd >= 0 ? fgetxattr(fd, TAG_XATTR, tag, sizeof tag - 1) : -1;
    if (n > 0) {
        tag[n] = '\0';
        char hex[65];
        unsigned long long tsize = 0;
        long long tmtime = 0;
        int used = 0;
        if (sscanf(tag, "sha256=%64[0-9a-f] size=%llu mtime=%lld%n", hex, &tsize, &tmtime, &used) ==
                3 &&
            used == n && strlen(hex) == 64 && tsize == size && tmtime == mns) {
            snprintf(out->etag, sizeof out->etag, "%s", hex);
            return;
        }
    }
    snprintf(out->etag, sizeof out->etag, "%llx-%llx-%llx", size, (unsigned long long)mns,
             (unsigned long long)sb->st_ino);
}

/* A pinned read (if_match set) of the file open as `fd`: CR_ERR_CHANGED unless its
 * etag is if_match.  The check and the read that follows use the same descriptor, so
 * the bytes read are the bytes of the file checked: a put that replaces the object
 * renames another file over the name, and this one stays as it was. */
static cr_status check_pin(int fd, const struct stat *sb, const char *key, const char *if_match,
                           cr_err *err)
{
    if (if_match == NULL)
        return CR_OK;
    blob_info now;
    fill_info(fd, sb, &now);
    if (strcmp(now.etag, if_match) == 0)
        return CR_OK;
    return cr_err_set(err, CR_ERR_CHANGED,
                      "%s: the object changed (now %llu bytes, etag %.70s; expected etag %.70s)",
                      key, (unsigned long long)now.size, now.etag, if_match);
}

static cr_status local_get_range(void *ctx, const char *key, uint64_t off, void *buf, size_t n,
                                 const char *if_match, size_t *got, cr_err *err)
{
    local_ctx *l = ctx;
    int fd = -1;
    struct stat sb;
    *got = 0;
    cr_status st = open_key(l, key, &fd, &sb, err);
    if (st != CR_OK)
        return st;
    if ((st = check_pin(fd, &sb, key, if_match, err)) != CR_OK) {
        close(fd);
        return st;
    }
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

/* HEAD opens the file (not a stat of its name) to read its content tag through the
 * descriptor: no link is followed, no name is looked up twice. */
static cr_status local_head(void *ctx, const char *key, blob_info *out, cr_err *err)
{
    int fd = -1;
    struct stat sb;
    cr_status st = open_key(ctx, key, &fd, &sb, err);
    if (st != CR_OK)
        return st;
    fill_info(fd, &sb, out);
    close(fd);
    return CR_OK;
}

static cr_status local_del(void *ctx, const char *key, cr_err *err)
{
    local_ctx *l = ctx;
    int dirfd = -1;
    const char *leaf;
    cr_err e2 = {0};
    cr_status st = open_parent(l, key, 0, &dirfd, &leaf, &e2);
    if (st == CR_ERR_NOT_FOUND)
        return CR_OK; /* no folder, no object */
    if (st != CR_OK)
        return cr_err_set(err, st, "delete %s", cr_err_msg(&e2));
    struct stat sb;
    if (fstatat(dirfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            st = cr_err_set(err, CR_ERR_IO, "delete %s: %s", key, strerror(errno));
    } else if (S_ISLNK(sb.st_mode)) {
        st = cr_err_set(err, CR_ERR_INVALID,
                        "delete %s: a symbolic link in the blob folder, not an object", key);
    } else if (S_ISDIR(sb.st_mode)) {
        /* "a/b" names a folder of other keys, not an object: nothing to delete */
    } else if (unlinkat(dirfd, leaf, 0) != 0 && errno != ENOENT) {
        st = cr_err_set(err, CR_ERR_IO, "delete %s: %s", key, strerror(errno));
    }
    close(dirfd);
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

/* Adds the regular file `nm` of folder `dfd` (stat `sb`) as key rel. */
static cr_status add_entry(entries *out, const cr_buf *rel, int dfd, const char *nm,
                           const struct stat *sb, cr_err *err)
{
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 64;
        entry *nv = cr_realloc(out->v, nc * sizeof *nv);
        if (nv == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        out->v = nv;
        out->cap = nc;
    }
    entry *e = &out->v[out->n];
    e->key = cr_strdup(rel->p);
    if (e->key == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    /* the same etag as blob_head: read through the file itself (never a link: the
     * open refuses one planted since the stat, and then the fallback tag stands) */
    int fd = openat(dfd, nm, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    struct stat fsb;
    if (fd >= 0 && fstat(fd, &fsb) == 0 && S_ISREG(fsb.st_mode))
        fill_info(fd, &fsb, &e->info);
    else
        fill_info(-1, sb, &e->info);
    if (fd >= 0)
        close(fd);
    out->n++;
    return CR_OK;
}

/* Walks the folder open as `dfd` (key prefix rel, "" or ending in '/'; takes dfd),
 * adding files whose key starts with `prefix`.  Links are neither listed nor
 * entered (fstatat and openat with NOFOLLOW). */
static cr_status walk(int dfd, cr_buf *rel, const char *prefix, entries *out, int depth,
                      cr_err *err)
{
    if (depth > BLOB_KEY_MAX / 2) { /* each level adds >= 2 key bytes ("x/") */
        close(dfd);
        return CR_OK;
    }
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int e = errno;
        close(dfd);
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
        struct stat sb;
        if (memcmp(rel->p, prefix, cmp) == 0 &&
            fstatat(dirfd(d), nm, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                cr_buf_add(rel, "/", 1);
                size_t c2 = rel->len < plen ? rel->len : plen;
                int sub = -1;
                if (rel->st != CR_OK)
                    st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
                else if (memcmp(rel->p, prefix, c2) == 0 &&
                         (sub = open_segment(dirfd(d), nm, O_RDONLY | O_DIRECTORY)) >= 0)
                    st = walk(sub, rel, prefix, out, depth + 1, err);
            } else if (S_ISREG(sb.st_mode) && rel->len >= plen &&
                       blob_key_check(rel->p, rel->len, NULL) == CR_OK) {
                st = add_entry(out, rel, dirfd(d), nm, &sb, err);
            }
        }
        cr_buf_truncate(rel, mark);
    }
    closedir(d);
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
    int dfd;
    if (slash) {
        cr_buf_add(&rel, prefix, (size_t)(slash - prefix));
        dfd = rel.st == CR_OK ? at_open(l, l->root_fd, rel.p, O_RDONLY | O_DIRECTORY) : -1;
        cr_buf_add(&rel, "/", 1);
    } else {
        cr_buf_adds(&rel, "");
        dfd = fcntl(l->root_fd, F_DUPFD_CLOEXEC, 0);
    }
    cr_status st = CR_OK;
    if (rel.st != CR_OK)
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    else if (dfd < 0 && errno != ENOENT && errno != ENOTDIR)
        st = resolve_error(errno, prefix, err);
    else if (dfd >= 0) {
        int fd = dfd;
        dfd = -1;
        st = walk(fd, &rel, prefix, &es, 0, err);
    }
    if (dfd >= 0)
        close(dfd);
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
    .put_file_shared = local_put_file_shared,
    .get_mem = local_get_mem,
    .get_file = local_get_file,
    .get_range = local_get_range,
    .head = local_head,
    .del = local_del,
    .list = local_list,
    .presign = local_presign,
    .destroy = local_destroy,
};
