/*
 * blob.c -- the backend-independent half of the blob store: key validation, the
 * key layout, dispatch to the backend, and the read-ahead reader.
 */
#include "blob/blob_int.h"

#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- options, wrapping ---- */

void blob_options_resolve(const blob_options *opt, blob_options *out)
{
    blob_options o = {0};
    if (opt)
        o = *opt;
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = 5000;
    if (o.timeout_ms <= 0)
        o.timeout_ms = 30000;
    if (o.max_retries == 0)
        o.max_retries = 4;
    else if (o.max_retries < 0)
        o.max_retries = 0;
    if (o.retry_base_ms <= 0)
        o.retry_base_ms = 200;
    if (o.retry_max_ms <= 0)
        o.retry_max_ms = 5000;
    if (o.part_size < BLOB_PART_MIN)
        o.part_size = BLOB_PART_MIN;
    if (o.url_base == NULL)
        o.url_base = "";
    *out = o;
}

cr_status blob_store_wrap(const blob_ops *ops, void *ctx, blob_store **out, cr_err *err)
{
    blob_store *b = cr_calloc(1, sizeof *b);
    if (b == NULL) {
        ops->destroy(ctx);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory opening the blob store");
    }
    b->ops = ops;
    b->ctx = ctx;
    *out = b;
    return CR_OK;
}

cr_status blob_open_local(const char *dir, const char *secret, const blob_options *opt,
                          blob_store **out, cr_err *err)
{
    *out = NULL;
    void *ctx = NULL;
    cr_status st = blob_local_create(dir, secret, opt, &ctx, err);
    if (st != CR_OK)
        return st;
    return blob_store_wrap(&blob_local_ops, ctx, out, err);
}

cr_status blob_open_s3(const blob_s3_params *p, const blob_options *opt, blob_store **out,
                       cr_err *err)
{
    *out = NULL;
    void *ctx = NULL;
    cr_status st = blob_s3_create(p, opt, &ctx, err);
    if (st != CR_OK)
        return st;
    return blob_store_wrap(&blob_s3_ops, ctx, out, err);
}

cr_status blob_open(const cr_config *cfg, const blob_options *opt, blob_store **out, cr_err *err)
{
    if (cfg->blob == CR_BLOB_S3) {
        blob_s3_params p = {
            .bucket = cfg->bucket,
            .region = cfg->region,
            .endpoint = cfg->s3_endpoint,
            .access_key_id = cfg->access_key_id,
            .secret_access_key = cfg->secret_access_key,
            .session_token = cfg->session_token,
        };
        return blob_open_s3(&p, opt, out, err);
    }
    return blob_open_local(cfg->blob_dir, cfg->app_secret_key, opt, out, err);
}

const char *blob_backend_name(const blob_store *b)
{
    return b->ops->name;
}

void blob_close(blob_store *b)
{
    if (b == NULL)
        return;
    b->ops->destroy(b->ctx);
    cr_free(b);
}

/* ---- keys ---- */

/* Length of the UTF-8 sequence at s[0..n) (RFC 3629 well-formed: no overlongs, no
 * surrogates, <= U+10FFFF), or 0 when malformed. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (len > n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

#define TMP_SEGMENT ".crease-tmp"

/* Shared by keys and prefixes; `prefix` allows "", a trailing '/', and stops the
 * "." / ".." check from firing on a segment that may continue ("a/." could be the
 * start of "a/.b" -- but "a/.." is still rejected, as no key below it is valid). */
static cr_status check_path(const char *what, const char *key, size_t len, int prefix, cr_err *err)
{
    if (len == 0 && !prefix)
        return cr_err_set(err, CR_ERR_INVALID, "blob %s: empty", what);
    if (len > BLOB_KEY_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "blob %s: longer than %d bytes", what, BLOB_KEY_MAX);
    const unsigned char *s = (const unsigned char *)key;
    if (len > 0 && s[0] == '/')
        return cr_err_set(err, CR_ERR_INVALID, "blob %s: absolute path '%.64s'", what, key);
    size_t seg = 0; /* start of the current segment */
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            size_t sl = i - seg;
            int last = (i == len);
            if (sl == 0 && !(last && prefix))
                return cr_err_set(err, CR_ERR_INVALID, "blob %s: empty path segment in '%.64s'",
                                  what, key);
            if ((sl == 2 && s[seg] == '.' && s[seg + 1] == '.') ||
                (sl == 1 && s[seg] == '.' && !(last && prefix)))
                return cr_err_set(err, CR_ERR_INVALID, "blob %s: '.' or '..' segment in '%.64s'",
                                  what, key);
            if (seg == 0 && sl >= strlen(TMP_SEGMENT) &&
                memcmp(s, TMP_SEGMENT, strlen(TMP_SEGMENT)) == 0)
                return cr_err_set(err, CR_ERR_INVALID, "blob %s: reserved name '%s'", what,
                                  TMP_SEGMENT);
            seg = i + 1;
            continue;
        }
        if (s[i] == 0)
            return cr_err_set(err, CR_ERR_INVALID, "blob %s: contains NUL", what);
        if (s[i] < 0x20 || s[i] == 0x7f)
            return cr_err_set(err, CR_ERR_INVALID, "blob %s: contains control character 0x%02x",
                              what, s[i]);
        if (s[i] == '\\')
            return cr_err_set(err, CR_ERR_INVALID, "blob %s: contains a backslash", what);
        if (s[i] >= 0x80) {
            size_t l = utf8_len(s + i, len - i);
            if (l == 0)
                return cr_err_set(err, CR_ERR_INVALID, "blob %s: not valid UTF-8", what);
            i += l - 1;
        }
    }
    return CR_OK;
}

cr_status blob_key_check(const char *key, size_t len, cr_err *err)
{
    if (key == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "blob key: NULL");
    return check_path("key", key, len, 0, err);
}

cr_status blob_prefix_check(const char *prefix, cr_err *err)
{
    if (prefix == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "blob prefix: NULL");
    return check_path("prefix", prefix, strlen(prefix), 1, err);
}

int blob_id_valid(const char *id)
{
    if (id == NULL)
        return 0;
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (n >= 128)
            return 0;
    }
    return n >= 1;
}

static cr_status layout(char *out, size_t cap, cr_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cr_status layout(char *out, size_t cap, cr_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return cr_err_set(err, CR_ERR_LIMIT, "blob key: buffer of %zu bytes too small", cap);
    }
    return CR_OK;
}

static cr_status check_ids(const char *session_id, const char *job_id, cr_err *err)
{
    if (!blob_id_valid(session_id))
        return cr_err_set(err, CR_ERR_INVALID, "blob key: invalid session id");
    if (job_id && !blob_id_valid(job_id))
        return cr_err_set(err, CR_ERR_INVALID, "blob key: invalid job id");
    return CR_OK;
}

#define SESSION_FMT "coach_plus/sessions/%s/"
#define JOB_FMT SESSION_FMT "analysis/jobs/%s/"

cr_status blob_key_original(const char *session_id, char *out, size_t cap, cr_err *err)
{
    cr_status st = check_ids(session_id, NULL, err);
    return st ? st : layout(out, cap, err, SESSION_FMT "original.mp4", session_id);
}

cr_status blob_key_job_original(const char *session_id, const char *job_id, char *out, size_t cap,
                                cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    return st ? st : layout(out, cap, err, JOB_FMT "original.mp4", session_id, job_id);
}

cr_status blob_key_chunk(const char *session_id, const char *job_id, int chunk_index, char *out,
                         size_t cap, cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    if (st)
        return st;
    if (chunk_index < 0 || chunk_index > 9999) /* %04d keeps key order == chunk order */
        return cr_err_set(err, CR_ERR_INVALID, "blob key: chunk index %d outside 0..9999",
                          chunk_index);
    return layout(out, cap, err, JOB_FMT "chunks/chunk_%04d.json", session_id, job_id, chunk_index);
}

cr_status blob_key_chunk_lease(const char *session_id, const char *job_id, int chunk_index,
                               int64_t token, char *out, size_t cap, cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    if (st)
        return st;
    if (chunk_index < 0 || chunk_index > 9999) /* as blob_key_chunk */
        return cr_err_set(err, CR_ERR_INVALID, "blob key: chunk index %d outside 0..9999",
                          chunk_index);
    if (token < 1)
        return cr_err_set(err, CR_ERR_INVALID, "blob key: lease token %lld is not a claim's",
                          (long long)token);
    return layout(out, cap, err, JOB_FMT "chunks/chunk_%04d_t%lld.json", session_id, job_id,
                  chunk_index, (long long)token);
}

cr_status blob_key_final_results(const char *session_id, const char *job_id, char *out, size_t cap,
                                 cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    return st ? st : layout(out, cap, err, JOB_FMT "final_results.json", session_id, job_id);
}

cr_status blob_key_report(const char *session_id, const char *job_id, char *out, size_t cap,
                          cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    return st ? st : layout(out, cap, err, JOB_FMT "report.html", session_id, job_id);
}

cr_status blob_key_job_prefix(const char *session_id, const char *job_id, char *out, size_t cap,
                              cr_err *err)
{
    cr_status st = check_ids(session_id, job_id, err);
    return st ? st : layout(out, cap, err, JOB_FMT, session_id, job_id);
}

/* ---- dispatch ---- */

#define KEY_OR_FAIL(key)                                                                           \
    do {                                                                                           \
        cr_status kst_ = blob_key_check((key), (key) ? strlen(key) : 0, err);                      \
        if (kst_ != CR_OK)                                                                         \
            return kst_;                                                                           \
    } while (0)

cr_status blob_put(blob_store *b, const char *key, const void *data, size_t n,
                   const char *content_type, cr_err *err)
{
    KEY_OR_FAIL(key);
    if (data == NULL && n > 0)
        return cr_err_set(err, CR_ERR_INVALID, "blob put: NULL data");
    return b->ops->put_mem(b->ctx, key, data ? data : "", n, content_type, err);
}

cr_status blob_put_file(blob_store *b, const char *key, const char *path, const char *content_type,
                        cr_err *err)
{
    KEY_OR_FAIL(key);
    return b->ops->put_file(b->ctx, key, path, content_type, err);
}

cr_status blob_put_file_shared(blob_store *b, const char *key, const char *path,
                               const char *content_type, int *linked, cr_err *err)
{
    int dummy = 0;
    if (linked == NULL)
        linked = &dummy;
    *linked = 0;
    KEY_OR_FAIL(key);
    if (b->ops->put_file_shared == NULL)
        return b->ops->put_file(b->ctx, key, path, content_type, err);
    return b->ops->put_file_shared(b->ctx, key, path, content_type, linked, err);
}

cr_status blob_get(blob_store *b, const char *key, void **data, size_t *n, cr_err *err)
{
    *data = NULL;
    *n = 0;
    KEY_OR_FAIL(key);
    cr_buf buf = {0};
    cr_status st = b->ops->get_mem(b->ctx, key, &buf, err);
    if (st == CR_OK) {
        cr_buf_adds(&buf, ""); /* the promised trailing NUL, also for empty objects */
        if (buf.st != CR_OK)
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory reading '%s'", key);
    }
    if (st != CR_OK) {
        cr_buf_release(&buf);
        return st;
    }
    *data = buf.p;
    *n = buf.len;
    return CR_OK;
}

cr_status blob_get_range(blob_store *b, const char *key, uint64_t off, void *buf, size_t n,
                         size_t *got, cr_err *err)
{
    *got = 0;
    KEY_OR_FAIL(key);
    if (n == 0)
        return CR_OK;
    return b->ops->get_range(b->ctx, key, off, buf, n, NULL, got, err);
}

cr_status blob_get_file(blob_store *b, const char *key, const char *path, cr_err *err)
{
    KEY_OR_FAIL(key);
    return b->ops->get_file(b->ctx, key, path, err);
}

cr_status blob_head(blob_store *b, const char *key, blob_info *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    KEY_OR_FAIL(key);
    return b->ops->head(b->ctx, key, out, err);
}

cr_status blob_delete(blob_store *b, const char *key, cr_err *err)
{
    KEY_OR_FAIL(key);
    return b->ops->del(b->ctx, key, err);
}

cr_status blob_list(blob_store *b, const char *prefix, blob_list_fn fn, void *ctx, cr_err *err)
{
    cr_status st = blob_prefix_check(prefix, err);
    if (st != CR_OK)
        return st;
    return b->ops->list(b->ctx, prefix, fn, ctx, err);
}

cr_status blob_presign_at(blob_store *b, const char *key, blob_method m, int64_t expires_s,
                          int64_t now, char **url, cr_err *err)
{
    *url = NULL;
    KEY_OR_FAIL(key);
    if (m != BLOB_GET && m != BLOB_PUT)
        return cr_err_set(err, CR_ERR_INVALID, "blob presign: bad method");
    if (expires_s < 1 || expires_s > BLOB_PRESIGN_MAX_S)
        return cr_err_set(err, CR_ERR_INVALID, "blob presign: expiry must be 1..%d seconds",
                          BLOB_PRESIGN_MAX_S);
    return b->ops->presign(b->ctx, key, m, expires_s, now, url, err);
}

cr_status blob_presign(blob_store *b, const char *key, blob_method m, int64_t expires_s, char **url,
                       cr_err *err)
{
    return blob_presign_at(b, key, m, expires_s, (int64_t)time(NULL), url, err);
}

/* ---- the read-ahead reader ----
 *
 * One window buffer.  A read inside the window is a memcpy.  A miss fetches
 * [off, off + max(n, w)) where w starts at BLOB_READ_WINDOW_MIN and doubles (up to
 * the reader's window) while the misses continue where the last fetch ended, and
 * falls back to BLOB_READ_WINDOW_MIN after a seek: FFmpeg's probing and seeking jump
 * around in small reads (a big window there would fetch bytes nobody reads), its
 * demuxing of a chunk is sequential (a big window saves requests). */

typedef struct blob_rd {
    blob_store *b;
    char *key;
    char *if_match; /* a pinned reader: the etag every read must find, else NULL */
    uint64_t size;
    size_t window;      /* the largest fetch */
    size_t next;        /* the size of the next fetch */
    unsigned char *buf; /* window bytes */
    uint64_t buf_off;   /* offset of buf[0] in the object */
    size_t buf_len;     /* valid bytes in buf */
    blob_reader_stats *stats;
} blob_rd;

/* One fetch of the reader: a range of its object, pinned or not. */
static cr_status rd_fetch(blob_rd *r, uint64_t off, void *out, size_t n, size_t *got, cr_err *err)
{
    *got = 0;
    return r->b->ops->get_range(r->b->ctx, r->key, off, out, n, r->if_match, got, err);
}

static cr_status rd_read_at(void *ctx, uint64_t off, void *out, size_t n, size_t *got, cr_err *err)
{
    blob_rd *r = ctx;
    *got = 0;
    if (off >= r->size || n == 0)
        return CR_OK;
    /* a hit: serve from the window */
    if (r->buf_len > 0 && off >= r->buf_off && off < r->buf_off + r->buf_len) {
        size_t avail = (size_t)(r->buf_off + r->buf_len - off);
        size_t k = n < avail ? n : avail;
        memcpy(out, r->buf + (off - r->buf_off), k);
        *got = k;
        return CR_OK;
    }
    int sequential = r->buf_len > 0 && off == r->buf_off + r->buf_len;
    if (sequential) {
        if (r->next < r->window)
            r->next = r->next * 2 < r->window ? r->next * 2 : r->window;
    } else {
        r->next = BLOB_READ_WINDOW_MIN < r->window ? BLOB_READ_WINDOW_MIN : r->window;
    }
    /* a read as large as the window bypasses it: straight into the caller's buffer */
    if (n >= r->window) {
        cr_status st = rd_fetch(r, off, out, n, got, err);
        if (r->stats) {
            r->stats->requests++;
            r->stats->bytes_fetched += *got;
        }
        r->buf_len = 0;
        return st;
    }
    uint64_t want = r->size - off;
    size_t fetch = n > r->next ? n : r->next;
    if (want > fetch)
        want = fetch;
    size_t g = 0;
    r->buf_len = 0;
    cr_status st = rd_fetch(r, off, r->buf, (size_t)want, &g, err);
    if (r->stats) {
        r->stats->requests++;
        r->stats->bytes_fetched += g;
    }
    if (st != CR_OK)
        return st;
    r->buf_off = off;
    r->buf_len = g;
    size_t k = n < g ? n : g;
    memcpy(out, r->buf, k);
    *got = k;
    return CR_OK;
}

static void rd_close(void *ctx)
{
    blob_rd *r = ctx;
    if (r == NULL)
        return;
    cr_free(r->buf);
    cr_free(r->key);
    cr_free(r->if_match);
    cr_free(r);
}

static const cr_reader_ops blob_reader_ops = {rd_read_at, rd_close};

/* Opens the reader on the object HEAD described as `info`; with if_match, every fetch
 * is pinned to that etag. */
static cr_status open_reader(blob_store *b, const char *key, const blob_info *info,
                             const char *if_match, size_t window, blob_reader_stats *stats,
                             cr_reader **out, cr_err *err)
{
    if (window == 0)
        window = BLOB_READ_WINDOW_DEFAULT;
    if (window < BLOB_READ_WINDOW_MIN)
        window = BLOB_READ_WINDOW_MIN;
    if (window > BLOB_READ_WINDOW_MAX)
        window = BLOB_READ_WINDOW_MAX;
    if (info->size < window)
        window = info->size > 0 ? (size_t)info->size : 1;
    blob_rd *r = cr_calloc(1, sizeof *r);
    if (r == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory opening '%s'", key);
    r->b = b;
    r->size = info->size;
    r->window = window;
    r->next = BLOB_READ_WINDOW_MIN < window ? BLOB_READ_WINDOW_MIN : window;
    r->stats = stats;
    r->key = cr_strdup(key);
    r->if_match = if_match != NULL ? cr_strdup(if_match) : NULL;
    r->buf = cr_malloc(window);
    if (r->key == NULL || r->buf == NULL || (if_match != NULL && r->if_match == NULL)) {
        rd_close(r);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory opening '%s'", key);
    }
    return cr_reader_create(&blob_reader_ops, r, info->size, key, out, err);
}

cr_status blob_open_reader(blob_store *b, const char *key, size_t window, blob_reader_stats *stats,
                           cr_reader **out, cr_err *err)
{
    *out = NULL;
    blob_info info;
    cr_status st = blob_head(b, key, &info, err);
    if (st != CR_OK)
        return st;
    return open_reader(b, key, &info, NULL, window, stats, out, err);
}

cr_status blob_open_reader_pinned(blob_store *b, const char *key, const blob_info *pin,
                                  size_t window, blob_reader_stats *stats, cr_reader **out,
                                  cr_err *err)
{
    *out = NULL;
    if (pin == NULL || pin->etag[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "blob reader on '%s': no etag to pin", key);
    blob_info info;
    cr_status st = blob_head(b, key, &info, err);
    if (st != CR_OK)
        return st;
    if (info.size != pin->size || strcmp(info.etag, pin->etag) != 0)
        return cr_err_set(err, CR_ERR_CHANGED,
                          "%s: the object changed (now %llu bytes, etag %.70s; pinned %llu "
                          "bytes, etag %.70s)",
                          key, (unsigned long long)info.size, info.etag,
                          (unsigned long long)pin->size, pin->etag);
    return open_reader(b, key, &info, pin->etag, window, stats, out, err);
}
