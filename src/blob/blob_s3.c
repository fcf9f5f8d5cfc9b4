/*
 * blob_s3.c -- the S3 backend: REST calls over libcurl, signed with sigv4.c.
 *
 * Addressing (Amazon S3 User Guide, "Virtual hosting of buckets"):
 *   no endpoint:  https://<bucket>.s3.<region>.amazonaws.com/<key>   (virtual-hosted)
 *   endpoint E:   E/<bucket>/<key>                                     (path-style)
 * The canonical URI is the path as sent, the key URI-encoded once with '/' kept.
 *
 * One request (s3_perform):
 *   for attempt 0..max_retries:
 *     sign with the current time (x-amz-date, x-amz-content-sha256 = SHA-256 of the
 *     body, or of "" -- we always hash the payload, never UNSIGNED-PAYLOAD, except
 *     in presigned URLs) and send;
 *     a curl timeout, refused/reset connection, HTTP 5xx or 429 -> sleep
 *     min(retry_max, retry_base * 2^attempt) * (1 + jitter in [0, 0.5)) and retry;
 *     anything else -> done.
 *   The final HTTP status is mapped by s3_check: 403 -> CR_ERR_AUTH, 404 ->
 *   CR_ERR_NOT_FOUND, other 4xx -> CR_ERR_INVALID, 5xx -> CR_ERR_NET, each with S3's
 *   <Code> and <Message> from the error body.
 *
 * Multipart upload (S3 API Reference: CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload): parts of opt.part_size bytes
 * (>= 8 MiB; S3's limits: >= 5 MiB except the last, <= 10,000 parts), each read into
 * one buffer, hashed, and PUT with its own retries; any failure aborts the upload
 * so that no orphaned parts are billed.  CompleteMultipartUpload can fail with HTTP
 * 200 and an <Error> body, which is checked.
 *
 * Connections: the store keeps up to POOL_MAX idle curl easy handles; a request
 * takes one (or makes one) and gives it back, so its keep-alive connection and
 * TLS session are reused by the next request, and concurrent requests from
 * several threads each have their own handle.
 */
#define _GNU_SOURCE /* mkostemp, strptime */
#include "blob/blob_int.h"

#include "core/log.h"
#include "core/mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 16        /* idle handles kept; more concurrent requests make their own */
#define ERR_BODY_MAX 65536 /* bytes of an error response we keep for its <Code>/<Message> */
#define S3_MAX_PARTS 10000 /* S3 API Reference, UploadPart: part numbers 1..10,000 */

typedef struct s3_ctx {
    char *bucket, *region, *access, *secret, *token;
    char *origin;    /* scheme://host[:port] */
    char *host;      /* the Host header */
    char *base_path; /* "" (virtual-hosted) or "[/endpoint-path]/<bucket>" */
    blob_options opt;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
} s3_ctx;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s3_destroy(void *ctx)
{
    s3_ctx *s = ctx;
    if (s == NULL)
        return;
    for (int i = 0; i < s->npool; i++)
        curl_easy_cleanup(s->pool[i]);
    pthread_mutex_destroy(&s->mu);
    cr_free(s->bucket);
    cr_free(s->region);
    cr_free(s->access);
    if (s->secret) {
        OPENSSL_cleanse(s->secret, strlen(s->secret));
        cr_free(s->secret);
    }
    if (s->token) {
        OPENSSL_cleanse(s->token, strlen(s->token));
        cr_free(s->token);
    }
    cr_free(s->origin);
    cr_free(s->host);
    cr_free(s->base_path);
    cr_free(s);
}

cr_status blob_s3_create(const blob_s3_params *p, const blob_options *opt, void **out, cr_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return cr_err_set(err, CR_ERR_INTERNAL, "curl_global_init: %s",
                          curl_easy_strerror(curl_init_rc));
    if (p->bucket == NULL || p->bucket[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "S3: no bucket (S3_COACH_VIDEOS_BUCKET)");
    if (p->access_key_id == NULL || p->access_key_id[0] == '\0' || p->secret_access_key == NULL ||
        p->secret_access_key[0] == '\0')
        return cr_err_set(err, CR_ERR_AUTH,
                          "S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required");
    for (const char *c = p->bucket; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            return cr_err_set(err, CR_ERR_INVALID, "S3: bad bucket name");
    const char *region = (p->region && p->region[0]) ? p->region : "us-east-1";
    s3_ctx *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    blob_options_resolve(opt, &s->opt);
    s->bucket = cr_strdup(p->bucket);
    s->region = cr_strdup(region);
    s->access = cr_strdup(p->access_key_id);
    s->secret = cr_strdup(p->secret_access_key);
    s->token = cr_strdup(p->session_token ? p->session_token : "");
    cr_buf origin = {0}, host = {0}, base = {0};
    cr_status st = CR_OK;
    if (p->endpoint && p->endpoint[0]) {
        const char *e = p->endpoint;
        const char *sep = strstr(e, "://");
        if (sep == NULL || (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)) {
            st = cr_err_set(err, CR_ERR_INVALID, "S3_ENDPOINT_URL: must start with http(s)://");
            goto fail;
        }
        const char *h = sep + 3;
        size_t hl = strcspn(h, "/?#");
        if (hl == 0) {
            st = cr_err_set(err, CR_ERR_INVALID, "S3_ENDPOINT_URL: no host");
            goto fail;
        }
        cr_buf_add(&origin, e, (size_t)(h - e) + hl);
        cr_buf_add(&host, h, hl);
        const char *path = h + hl;
        size_t pl = strcspn(path, "?#");
        while (pl > 0 && path[pl - 1] == '/')
            pl--;
        cr_buf_add(&base, path, pl);
        cr_buf_addf(&base, "/%s", p->bucket);
    } else {
        cr_buf_addf(&host, "%s.s3.%s.amazonaws.com", p->bucket, region);
        cr_buf_addf(&origin, "https://%s", host.p ? host.p : "");
        cr_buf_adds(&base, "");
    }
    s->origin = origin.p;
    s->host = host.p;
    s->base_path = base.p;
    if (origin.st != CR_OK || host.st != CR_OK || base.st != CR_OK || !s->bucket || !s->region ||
        !s->access || !s->secret || !s->token) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    *out = s;
    return CR_OK;
fail:
    if (s->origin == NULL)
        cr_buf_release(&origin);
    if (s->host == NULL)
        cr_buf_release(&host);
    if (s->base_path == NULL)
        cr_buf_release(&base);
    s3_destroy(s);
    return st;
}

/* ---- handles ---- */

static CURL *handle_get(s3_ctx *s)
{
    CURL *c = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->npool > 0)
        c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->mu);
    if (c)
        curl_easy_reset(c); /* keeps the connection cache, drops the options */
    else
        c = curl_easy_init();
    return c;
}

static void handle_put(s3_ctx *s, CURL *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->npool < POOL_MAX) {
        s->pool[s->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c)
        curl_easy_cleanup(c);
}

/* ---- one request ---- */

typedef enum sink_kind { SINK_NONE, SINK_MEM, SINK_BUF, SINK_FD } sink_kind;

typedef struct s3_req {
    /* in */
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* NULL: the bucket */
    const blob_sigv4_kv *query;
    size_t nq;
    const void *body;
    size_t body_len;
    const char *content_type;
    int has_range;
    uint64_t range_off;
    uint64_t range_len;
    const char *if_match; /* a pinned read: the etag (unquoted) sent as If-Match */
    sink_kind sink;
    cr_buf *mem;        /* SINK_MEM */
    unsigned char *buf; /* SINK_BUF */
    size_t buf_cap;
    size_t buf_got;
    int fd; /* SINK_FD */
    /* state and out */
    CURL *curl;
    size_t body_pos;
    uint64_t skip; /* bytes to drop before the sink (a 200 answer to a range request) */
    int sink_failed;
    long status;
    curl_off_t clen; /* Content-Length of the answer, -1 when unknown */
    cr_buf errbody;
    char etag[80];
    int64_t mtime;
    int tries;
} s3_req;

static const char *req_what(const s3_req *r)
{
    return r->key ? r->key : "(bucket)";
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nitems;
    size_t left = r->body_len - r->body_pos;
    if (n > left)
        n = left;
    memcpy(dst, (const char *)r->body + r->body_pos, n);
    r->body_pos += n;
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 || code == 0) {
        if (r->errbody.len + n <= ERR_BODY_MAX)
            cr_buf_add(&r->errbody, data, n);
        return n;
    }
    const char *p = data;
    size_t k = n;
    if (r->has_range && code == 200) {
        /* the server ignored Range: drop what lies before it (and after, below) */
        if (r->skip < r->range_off) {
            uint64_t drop = r->range_off - r->skip;
            if (drop >= k) {
                r->skip += k;
                return n;
            }
            r->skip += drop;
            p += drop;
            k -= (size_t)drop;
        }
    }
    switch (r->sink) {
    case SINK_NONE:
        break;
    case SINK_MEM:
        cr_buf_add(r->mem, p, k);
        if (r->mem->st != CR_OK) {
            r->sink_failed = ENOMEM;
            return 0;
        }
        break;
    case SINK_BUF: {
        size_t room = r->buf_cap - r->buf_got;
        size_t c = k < room ? k : room;
        memcpy(r->buf + r->buf_got, p, c);
        r->buf_got += c;
        if (c < k && r->has_range && code == 200)
            return 0; /* got all we asked for out of a whole-object answer: stop it */
        break;
    }
    case SINK_FD:
        while (k > 0) {
            ssize_t w = write(r->fd, p, k);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                r->sink_failed = errno;
                return 0;
            }
            p += w;
            k -= (size_t)w;
        }
        break;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
        const char *v = data + 5;
        size_t l = n - 5;
        while (l > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            l--;
        }
        while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
            l--;
        if (l < sizeof r->etag) {
            memcpy(r->etag, v, l);
            r->etag[l] = '\0';
        }
    } else if (n > 14 && strncasecmp(data, "Last-Modified:", 14) == 0) {
        char tmp[128];
        size_t l = n - 14 < sizeof tmp - 1 ? n - 14 : sizeof tmp - 1;
        memcpy(tmp, data + 14, l);
        tmp[l] = '\0';
        time_t t = curl_getdate(tmp, NULL);
        r->mtime = t > 0 ? (int64_t)t : 0;
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long backoff_ms(const blob_options *o, int attempt)
{
    long d = o->retry_base_ms;
    for (int i = 0; i < attempt && d < o->retry_max_ms; i++)
        d *= 2;
    if (d > o->retry_max_ms)
        d = o->retry_max_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned seed = (unsigned)ts.tv_nsec ^ (unsigned)(uintptr_t)&ts;
    long jitter = (long)(rand_r(&seed) % 1000) * (d / 2) / 1000; /* [0, d/2) */
    return d + jitter;
}

static int retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static void reset_sinks(s3_req *r)
{
    r->body_pos = 0;
    r->skip = 0;
    r->sink_failed = 0;
    r->status = 0;
    r->etag[0] = '\0';
    r->mtime = 0;
    cr_buf_truncate(&r->errbody, 0);
    if (r->sink == SINK_MEM) {
        cr_buf_truncate(r->mem, 0);
    } else if (r->sink == SINK_BUF) {
        r->buf_got = 0;
    } else if (r->sink == SINK_FD) {
        if (ftruncate(r->fd, 0) != 0 || lseek(r->fd, 0, SEEK_SET) != 0)
            r->sink_failed = errno;
    }
}

/* Builds the canonical URI (also the path sent) of a key or the bucket. */
static void build_uri(s3_ctx *s, const char *key, cr_buf *out)
{
    if (key == NULL) {
        cr_buf_adds(out, s->base_path[0] ? s->base_path : "/");
        return;
    }
    cr_buf_adds(out, s->base_path);
    cr_buf_add(out, "/", 1);
    blob_sigv4_uri_encode(out, key, strlen(key), 1);
}

static cr_status s3_perform(s3_ctx *s, s3_req *r, cr_err *err)
{
    cr_status st = CR_OK;
    cr_buf uri = {0}, query = {0}, url = {0}, auth = {0};
    struct curl_slist *hl = NULL;
    char payload_hash[65];
    if (r->body && r->body_len)
        blob_sha256_hex(r->body, r->body_len, payload_hash);
    else
        strcpy(payload_hash, BLOB_SIGV4_EMPTY_SHA256);

    build_uri(s, r->key, &uri);
    if (blob_sigv4_canonical_query(r->query, r->nq, &query) != CR_OK || uri.st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    cr_buf_addf(&url, "%s%s%s%s", s->origin, uri.p, r->nq ? "?" : "", query.p);
    if (url.st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    r->curl = handle_get(s);
    if (r->curl == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "curl_easy_init failed");
        goto done;
    }
    const blob_options *o = &s->opt;
    blob_sigv4_creds cr = {s->access, s->secret, s->token, s->region, "s3"};
    for (int attempt = 0;; attempt++) {
        r->tries = attempt + 1;
        reset_sinks(r);
        if (r->sink_failed) {
            st = cr_err_set(err, CR_ERR_IO, "s3 %s %s: resetting the output: %s", r->method,
                            req_what(r), strerror(r->sink_failed));
            goto done;
        }
        char amz_date[17], range[64] = "", if_match[96] = "";
        blob_sigv4_amz_date((int64_t)time(NULL), amz_date);
        blob_sigv4_kv h[6];
        size_t nh = 0;
        h[nh++] = (blob_sigv4_kv){"host", s->host};
        h[nh++] = (blob_sigv4_kv){"x-amz-content-sha256", payload_hash};
        h[nh++] = (blob_sigv4_kv){"x-amz-date", amz_date};
        if (r->has_range) {
            snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)r->range_off,
                     (unsigned long long)(r->range_off + r->range_len - 1));
            h[nh++] = (blob_sigv4_kv){"range", range};
        }
        if (r->if_match != NULL) {
            snprintf(if_match, sizeof if_match, "\"%s\"", r->if_match);
            h[nh++] = (blob_sigv4_kv){"if-match", if_match};
        }
        if (s->token[0])
            h[nh++] = (blob_sigv4_kv){"x-amz-security-token", s->token};
        cr_buf_truncate(&auth, 0);
        if ((st = blob_sigv4_authorization(&cr, amz_date, r->method, uri.p, query.p, h, nh,
                                           payload_hash, &auth, err)) != CR_OK)
            goto done;
        curl_slist_free_all(hl);
        hl = NULL;
        cr_buf line = {0};
        for (size_t i = 0; i < nh; i++) {
            cr_buf_truncate(&line, 0);
            cr_buf_addf(&line, "%s: %s", h[i].name, h[i].value);
            struct curl_slist *n2 = line.st != CR_OK ? NULL : curl_slist_append(hl, line.p);
            if (n2 == NULL) {
                cr_buf_release(&line);
                st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
                goto done;
            }
            hl = n2;
        }
        cr_buf_truncate(&line, 0);
        cr_buf_addf(&line, "Authorization: %s", auth.p);
        const char *extra[3] = {line.st != CR_OK ? NULL : line.p, "Expect:", NULL};
        char ctype[300];
        if (r->content_type) {
            snprintf(ctype, sizeof ctype, "Content-Type: %s", r->content_type);
            extra[2] = ctype;
        }
        for (int i = 0; i < 3; i++) {
            if (i == 2 && extra[2] == NULL)
                break;
            struct curl_slist *n2 = extra[i] ? curl_slist_append(hl, extra[i]) : NULL;
            if (n2 == NULL) {
                OPENSSL_cleanse(line.p, line.len);
                cr_buf_release(&line);
                st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
                goto done;
            }
            hl = n2;
        }
        cr_buf_release(&line);

        CURL *c = r->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url.p);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
        /* libcurl's low-speed check counts whole seconds */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (o->timeout_ms + 999) / 1000);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        if (strcmp(r->method, "HEAD") == 0) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (strcmp(r->method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, r);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        } else if (strcmp(r->method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        } else if (strcmp(r->method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
        }
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        r->clen = -1;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->clen);
        if (rc == CURLE_WRITE_ERROR && r->sink == SINK_BUF && r->sink_failed == 0) {
            rc = CURLE_OK; /* we stopped a whole-object answer once the range was in */
            r->status = 206;
        }
        if (r->sink_failed) {
            st = cr_err_set(err, r->sink_failed == ENOMEM ? CR_ERR_NOMEM : CR_ERR_IO,
                            "s3 %s %s: writing the response: %s", r->method, req_what(r),
                            strerror(r->sink_failed));
            goto done;
        }
        int retry = 0;
        if (rc != CURLE_OK)
            retry = retryable_curl(rc);
        else
            retry = r->status >= 500 || r->status == 429;
        if (!retry || attempt >= o->max_retries) {
            if (rc == CURLE_OPERATION_TIMEDOUT)
                st = cr_err_set(err, CR_ERR_TIMEOUT,
                                "s3 %s %s: timed out: no response for %ld ms (%d tries)", r->method,
                                req_what(r), o->timeout_ms, r->tries);
            else if (rc != CURLE_OK)
                st = cr_err_set(err, CR_ERR_NET, "s3 %s %s: %s (%d tries)", r->method, req_what(r),
                                curl_easy_strerror(rc), r->tries);
            goto done;
        }
        long wait = backoff_ms(o, attempt);
        cr_log_warn("s3.retry", "%s %s: %s, try %d, retrying in %ld ms", r->method, req_what(r),
                    rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error", attempt + 1, wait);
        sleep_ms(wait);
    }
done:
    if (auth.p)
        OPENSSL_cleanse(auth.p, auth.len);
    curl_slist_free_all(hl);
    handle_put(s, r->curl);
    r->curl = NULL;
    cr_buf_release(&uri);
    cr_buf_release(&query);
    cr_buf_release(&url);
    cr_buf_release(&auth);
    return st;
}

/* Maps the final HTTP status to a status and message (CR_OK for 2xx). */
static cr_status s3_check(s3_ctx *s, s3_req *r, cr_err *err)
{
    if (r->status >= 200 && r->status < 300)
        return CR_OK;
    cr_buf code = {0}, msg = {0};
    size_t pos = 0;
    if (r->errbody.len) {
        blob_xml_text(r->errbody.p, r->errbody.len, &pos, "Code", &code);
        pos = 0;
        blob_xml_text(r->errbody.p, r->errbody.len, &pos, "Message", &msg);
    }
    cr_status kind;
    const char *what;
    if (r->status == 404) {
        kind = CR_ERR_NOT_FOUND;
        what = r->key ? "not found" : "bucket not found";
    } else if (r->status == 403) {
        kind = CR_ERR_AUTH;
        what = "access denied (check the AWS credentials, region and bucket policy)";
    } else if (r->status == 401) {
        kind = CR_ERR_AUTH;
        what = "unauthorized";
    } else if (r->status >= 500 || r->status == 429) {
        kind = CR_ERR_NET;
        what = "server error";
    } else {
        kind = CR_ERR_INVALID;
        what = "request refused";
    }
    cr_status st = cr_err_set(err, kind, "s3 %s %s/%s: HTTP %ld %s%s%.64s%s%.160s%s (%d tries)",
                              r->method, s->bucket, req_what(r), r->status, what,
                              code.len ? " (" : "", code.len ? code.p : "", msg.len ? ": " : "",
                              msg.len ? msg.p : "", code.len ? ")" : "", r->tries);
    cr_buf_release(&code);
    cr_buf_release(&msg);
    return st;
}

static void req_free(s3_req *r)
{
    cr_buf_release(&r->errbody);
}

/* perform + check */
static cr_status s3_do(s3_ctx *s, s3_req *r, cr_err *err)
{
    cr_status st = s3_perform(s, r, err);
    if (st == CR_OK)
        st = s3_check(s, r, err);
    req_free(r);
    return st;
}

/* ---- operations ---- */

static cr_status s3_put_mem(void *ctx, const char *key, const void *data, size_t n,
                            const char *ctype, cr_err *err)
{
    s3_req r = {.method = "PUT", .key = key, .body = data, .body_len = n};
    r.content_type = ctype ? ctype : "application/octet-stream";
    return s3_do(ctx, &r, err);
}

static cr_status read_full(int fd, void *buf, size_t n, size_t *got, const char *what, cr_err *err)
{
    size_t total = 0;
    while (total < n) {
        ssize_t k = read(fd, (char *)buf + total, n - total);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return cr_err_set(err, CR_ERR_IO, "read %s: %s", what, strerror(errno));
        if (k == 0)
            break;
        total += (size_t)k;
    }
    *got = total;
    return CR_OK;
}

static cr_status s3_multipart(s3_ctx *s, const char *key, int fd, uint64_t size, const char *ctype,
                              cr_err *err)
{
    size_t psize = s->opt.part_size;
    if ((size + psize - 1) / psize > S3_MAX_PARTS)
        psize = (size_t)((size + S3_MAX_PARTS - 1) / S3_MAX_PARTS);
    cr_buf resp = {0}, upload_id = {0}, done_xml = {0};
    unsigned char *buf = NULL;
    char(*etags)[80] = NULL;
    int nparts = (int)((size + psize - 1) / psize);
    cr_status st;

    blob_sigv4_kv q_init = {"uploads", NULL};
    s3_req r = {.method = "POST",
                .key = key,
                .query = &q_init,
                .nq = 1,
                .sink = SINK_MEM,
                .mem = &resp,
                .content_type = ctype};
    if ((st = s3_do(s, &r, err)) != CR_OK)
        goto out;
    size_t pos = 0;
    if (!blob_xml_text(resp.p, resp.len, &pos, "UploadId", &upload_id) || upload_id.len == 0) {
        st = cr_err_set(err, CR_ERR_FORMAT, "s3 POST %s?uploads: no UploadId in the answer", key);
        goto out;
    }
    buf = cr_malloc(psize);
    etags = cr_calloc((size_t)nparts, sizeof *etags);
    if (buf == NULL || etags == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory for an upload part");
        goto abort;
    }
    for (int i = 0; i < nparts; i++) {
        size_t got = 0;
        if ((st = read_full(fd, buf, psize, &got, key, err)) != CR_OK)
            goto abort;
        uint64_t expect = (uint64_t)i * psize;
        expect = size - expect < psize ? size - expect : psize;
        if (got != expect) {
            st = cr_err_set(err, CR_ERR_IO, "s3 upload %s: the file changed size while read", key);
            goto abort;
        }
        char pn[16];
        snprintf(pn, sizeof pn, "%d", i + 1);
        blob_sigv4_kv q[2] = {{"partNumber", pn}, {"uploadId", upload_id.p}};
        s3_req pr = {
            .method = "PUT", .key = key, .query = q, .nq = 2, .body = buf, .body_len = got};
        st = s3_perform(s, &pr, err);
        if (st == CR_OK)
            st = s3_check(s, &pr, err);
        if (st == CR_OK && pr.etag[0] == '\0')
            st = cr_err_set(err, CR_ERR_FORMAT, "s3 upload %s part %d: no ETag", key, i + 1);
        if (st == CR_OK)
            memcpy(etags[i], pr.etag, sizeof pr.etag);
        req_free(&pr);
        if (st != CR_OK)
            goto abort;
    }
    cr_buf_adds(&done_xml, "<CompleteMultipartUpload>");
    for (int i = 0; i < nparts; i++) {
        cr_buf_addf(&done_xml, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        cr_buf_add_escaped(&done_xml, etags[i]);
        cr_buf_adds(&done_xml, "</ETag></Part>");
    }
    cr_buf_adds(&done_xml, "</CompleteMultipartUpload>");
    if (done_xml.st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto abort;
    }
    blob_sigv4_kv q_done = {"uploadId", upload_id.p};
    cr_buf_truncate(&resp, 0);
    s3_req cr = {.method = "POST",
                 .key = key,
                 .query = &q_done,
                 .nq = 1,
                 .body = done_xml.p,
                 .body_len = done_xml.len,
                 .sink = SINK_MEM,
                 .mem = &resp,
                 .content_type = "application/xml"};
    if ((st = s3_do(s, &cr, err)) != CR_OK)
        goto abort;
    /* "a 200 OK response can contain either a success or an error" (S3 API Reference,
     * CompleteMultipartUpload) */
    size_t es, ee;
    pos = 0;
    if (resp.len && blob_xml_element(resp.p, resp.len, &pos, "Error", &es, &ee)) {
        cr_buf code = {0};
        pos = 0;
        blob_xml_text(resp.p, resp.len, &pos, "Code", &code);
        st = cr_err_set(err, CR_ERR_NET, "s3 complete upload %s: %s", key,
                        code.len ? code.p : "error");
        cr_buf_release(&code);
        goto abort;
    }
    goto out;
abort : {
    blob_sigv4_kv q_abort = {"uploadId", upload_id.p};
    s3_req ar = {.method = "DELETE", .key = key, .query = &q_abort, .nq = 1};
    cr_err aerr = {0};
    if (s3_do(s, &ar, &aerr) != CR_OK)
        cr_log_warn("s3.abort_failed", "abort of the upload of %s failed: %s", key,
                    cr_err_msg(&aerr));
}
out:
    cr_free(buf);
    cr_free(etags);
    cr_buf_release(&resp);
    cr_buf_release(&upload_id);
    cr_buf_release(&done_xml);
    return st;
}

static cr_status s3_put_file(void *ctx, const char *key, const char *path, const char *ctype,
                             cr_err *err)
{
    s3_ctx *s = ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cr_err_set(err, errno == ENOENT ? CR_ERR_NOT_FOUND : CR_ERR_IO, "%s: %s", path,
                          strerror(errno));
    struct stat sb;
    cr_status st;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cr_err_set(err, CR_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size >= BLOB_MULTIPART_MIN) {
        st = s3_multipart(s, key, fd, size, ctype ? ctype : "application/octet-stream", err);
    } else {
        void *buf = cr_malloc(size ? (size_t)size : 1);
        size_t got = 0;
        if (buf == NULL)
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory reading %s", path);
        else if ((st = read_full(fd, buf, (size_t)size, &got, path, err)) == CR_OK) {
            if (got != size)
                st = cr_err_set(err, CR_ERR_IO, "%s: changed size while read", path);
            else
                st = s3_put_mem(s, key, buf, got, ctype, err);
        }
        cr_free(buf);
    }
    close(fd);
    return st;
}

static cr_status s3_get_mem(void *ctx, const char *key, cr_buf *out, cr_err *err)
{
    s3_req r = {.method = "GET", .key = key, .sink = SINK_MEM, .mem = out};
    return s3_do(ctx, &r, err);
}

static cr_status s3_get_file(void *ctx, const char *key, const char *path, cr_err *err)
{
    cr_buf tmp = {0};
    cr_buf_addf(&tmp, "%s.tmp-XXXXXX", path);
    if (tmp.st != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    int fd = mkostemp(tmp.p, O_CLOEXEC);
    if (fd < 0) {
        cr_status st = cr_err_set(err, CR_ERR_IO, "create %s: %s", tmp.p, strerror(errno));
        cr_buf_release(&tmp);
        return st;
    }
    s3_req r = {.method = "GET", .key = key, .sink = SINK_FD, .fd = fd};
    cr_status st = s3_do(ctx, &r, err);
    if (st == CR_OK && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        st = cr_err_set(err, CR_ERR_IO, "sync %s: %s", tmp.p, strerror(errno));
    if (close(fd) != 0 && st == CR_OK)
        st = cr_err_set(err, CR_ERR_IO, "close %s: %s", tmp.p, strerror(errno));
    if (st == CR_OK && rename(tmp.p, path) != 0)
        st = cr_err_set(err, CR_ERR_IO, "rename to %s: %s", path, strerror(errno));
    if (st != CR_OK)
        unlink(tmp.p);
    cr_buf_release(&tmp);
    return st;
}

/* The ETag of an answer without its quotes, into out[cap]. */
static void unquote_etag(const char *raw, char *out, size_t cap)
{
    size_t el = strlen(raw);
    if (el >= 2 && raw[0] == '"' && raw[el - 1] == '"') {
        raw++;
        el -= 2;
    }
    if (el >= cap)
        el = cap - 1;
    memcpy(out, raw, el);
    out[el] = '\0';
}

/* A pinned range read (DESIGN.md §10, "the object analysed is the object checked"):
 * If-Match makes S3 itself refuse another object (412); servers that ignore it
 * (s3rver) still name the object they answered from in the ETag of the answer, which
 * must then be the pinned one. */
static cr_status s3_get_range(void *ctx, const char *key, uint64_t off, void *buf, size_t n,
                              const char *if_match, size_t *got, cr_err *err)
{
    s3_req r = {.method = "GET",
                .key = key,
                .has_range = 1,
                .range_off = off,
                .range_len = n,
                .if_match = if_match,
                .sink = SINK_BUF,
                .buf = buf,
                .buf_cap = n};
    *got = 0;
    cr_status st = s3_perform(ctx, &r, err);
    if (st == CR_OK && r.status == 416) { /* Range Not Satisfiable: at or past the end */
        req_free(&r);
        return CR_OK;
    }
    char etag[sizeof r.etag];
    unquote_etag(r.etag, etag, sizeof etag);
    if (st == CR_OK && if_match != NULL &&
        (r.status == 412 || (r.status >= 200 && r.status < 300 && strcmp(etag, if_match) != 0)))
        st = cr_err_set(err, CR_ERR_CHANGED,
                        "%s: the object changed (etag now %.70s; expected etag %.70s)", key,
                        r.status == 412 ? "another (HTTP 412)" : etag, if_match);
    if (st == CR_OK)
        st = s3_check(ctx, &r, err);
    *got = st == CR_OK ? r.buf_got : 0;
    req_free(&r);
    return st;
}

static cr_status s3_head(void *ctx, const char *key, blob_info *out, cr_err *err)
{
    s3_req r = {.method = "HEAD", .key = key};
    s3_ctx *s = ctx;
    cr_status st = s3_perform(s, &r, err);
    if (st == CR_OK)
        st = s3_check(s, &r, err);
    if (st == CR_OK && r.clen < 0)
        st = cr_err_set(err, CR_ERR_FORMAT, "s3 HEAD %s: no Content-Length", key);
    if (st == CR_OK) {
        out->mtime = r.mtime;
        unquote_etag(r.etag, out->etag, sizeof out->etag);
        out->size = (uint64_t)r.clen;
    }
    req_free(&r);
    return st;
}

static cr_status s3_del(void *ctx, const char *key, cr_err *err)
{
    s3_req r = {.method = "DELETE", .key = key};
    return s3_do(ctx, &r, err);
}

static cr_status s3_list(void *ctx, const char *prefix, blob_list_fn fn, void *fnctx, cr_err *err)
{
    s3_ctx *s = ctx;
    cr_buf resp = {0}, token = {0};
    cr_status st = CR_OK;
    int stop = 0;
    for (int page = 0; !stop; page++) {
        blob_sigv4_kv q[3] = {{"list-type", "2"}, {"prefix", prefix}, {"continuation-token", NULL}};
        size_t nq = 2;
        if (page > 0)
            q[nq++].value = token.p;
        s3_req r = {.method = "GET", .query = q, .nq = nq, .sink = SINK_MEM, .mem = &resp};
        if ((st = s3_do(s, &r, err)) != CR_OK)
            break;
        int truncated = 0;
        if ((st = blob_s3_list_page(resp.p, resp.len, fn, fnctx, &stop, &truncated, &token, err)) !=
                CR_OK ||
            stop || !truncated)
            break;
        cr_buf_truncate(&resp, 0);
    }
    cr_buf_release(&resp);
    cr_buf_release(&token);
    return st;
}

static cr_status s3_presign(void *ctx, const char *key, blob_method m, int64_t expires_s,
                            int64_t now, char **url, cr_err *err)
{
    s3_ctx *s = ctx;
    cr_buf uri = {0}, u = {0};
    build_uri(s, key, &uri);
    if (uri.st != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    char amz_date[17];
    blob_sigv4_amz_date(now, amz_date);
    blob_sigv4_creds cr = {s->access, s->secret, s->token, s->region, "s3"};
    cr_status st = blob_sigv4_presign(&cr, amz_date, expires_s, m == BLOB_PUT ? "PUT" : "GET",
                                      s->origin, s->host, uri.p, NULL, 0, &u, err);
    cr_buf_release(&uri);
    if (st != CR_OK) {
        cr_buf_release(&u);
        return st;
    }
    *url = u.p;
    return CR_OK;
}

const blob_ops blob_s3_ops = {
    .name = "s3",
    .put_mem = s3_put_mem,
    .put_file = s3_put_file,
    .get_mem = s3_get_mem,
    .get_file = s3_get_file,
    .get_range = s3_get_range,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .presign = s3_presign,
    .destroy = s3_destroy,
};
