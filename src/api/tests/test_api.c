/*
 * test_api.c -- the HTTP API through real HTTP (libcurl) against a real server on a
 * loopback port, with the embedded backends (SQLite, local blobs) and the worker
 * threads inside the server: tokens, auth, owners, errors, and the whole flow of one
 * short video (initiate -> presigned PUT -> complete twice -> workers -> done ->
 * presigned GET of final_results.json).
 * `test_api_services` runs the same flow in the distributed shape: PostgreSQL (a
 * scratch database) + S3 (s3rver), with a chunk worker and an analysis worker run by
 * the test beside the server (which runs none on PostgreSQL), and with
 * GPU_PROCESSING_ENABLED=false: a deep_mode cpu job, no chunks, done whole by the
 * analysis worker.
 * The swapped upload (DESIGN.md §10): after upload-complete, a PUT to the same upload
 * URL is refused by crease's /blobs/ (409, also when it began before the complete);
 * s3rver takes it, as S3 would until the URL expires, and then the worker refuses the
 * changed video: the job fails with "the uploaded video changed after
 * upload-complete", never done.
 * The session routes: create (fields checked), list and get (the caller's only; another
 * coach's session is a 404), its jobs, and each session's job count and newest job.
 * Bytes that cannot begin an HTTP request (a NUL first, garbage, a TLS hello) are
 * answered 400 at once and the connection closed (each read bounded by 10 s, a third
 * of the idle timeout that the server without its gate waited out); valid requests
 * that arrive in pieces or after an empty line are still served.
 */
#include "api/api.h"
#include "pipeline/pipeline.h"
#include "store_test_util.h"
#include "core/config.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "test-secret-key-0123456789"

/* ---- tokens ---------------------------------------------------------------------- */

static void test_jwt(void)
{
    char sub[API_JWT_SUB_MAX];
    cr_err e = {0};
    /* The example token of jwt.io: {"alg":"HS256","typ":"JWT"}.{"sub":"1234567890",
     * "name":"John Doe","iat":1516239022} under "your-256-bit-secret". */
    const char *jwtio =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    CHECK(api_jwt_verify("your-256-bit-secret", jwtio, 1700000000, sub, &e) == CR_OK);
    CHECK_STR_EQ(sub, "1234567890");
    cr_err_clear(&e);
    CHECK(api_jwt_verify("another-secret", jwtio, 1700000000, sub, &e) == CR_ERR_AUTH);
    CHECK(sub[0] == '\0');

    /* Tampered payload ("sub":"1234567891") with the original signature. */
    cr_err_clear(&e);
    const char *tampered =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkxIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    CHECK(api_jwt_verify("your-256-bit-secret", tampered, 1700000000, sub, &e) == CR_ERR_AUTH);
    /* Tampered signature (last char). */
    char bad[512];
    snprintf(bad, sizeof bad, "%s", jwtio);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'c' ? 'd' : 'c';
    cr_err_clear(&e);
    CHECK(api_jwt_verify("your-256-bit-secret", bad, 1700000000, sub, &e) == CR_ERR_AUTH);
    /* alg none: {"alg":"none","typ":"JWT"}, same payload, empty signature. */
    cr_err_clear(&e);
    const char *none =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.";
    CHECK(api_jwt_verify("your-256-bit-secret", none, 1700000000, sub, &e) == CR_ERR_AUTH);
    /* alg HS512 header with a (wrong-size) signature. */
    cr_err_clear(&e);
    const char *hs512 =
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    CHECK(api_jwt_verify("your-256-bit-secret", hs512, 1700000000, sub, &e) == CR_ERR_AUTH);
    /* Garbage. */
    const char *garbage[] = {"", "a", "a.b", "a.b.c.d", "..", "!!.!!.!!", NULL};
    for (int i = 0; garbage[i]; i++) {
        cr_err_clear(&e);
        CHECK(api_jwt_verify("your-256-bit-secret", garbage[i], 1700000000, sub, &e) ==
              CR_ERR_AUTH);
    }

    /* Round trip, expiry. */
    char *tok = NULL;
    cr_err_clear(&e);
    CHECK(api_jwt_sign(SECRET, "coach-7", 1000, 2000, &tok, &e) == CR_OK);
    cr_err_clear(&e);
    CHECK(api_jwt_verify(SECRET, tok, 1999, sub, &e) == CR_OK);
    CHECK_STR_EQ(sub, "coach-7");
    cr_err_clear(&e);
    CHECK(api_jwt_verify(SECRET, tok, 2000, sub, &e) == CR_ERR_AUTH);
    CHECK(strstr(cr_err_msg(&e), "expired") != NULL);

    /* Every single-byte change of a valid token is refused (and never crashes: the
     * verifier parses untrusted bytes).  Deterministic LCG (Numerical Recipes). */
    size_t tl = strlen(tok);
    unsigned lcg = 12345;
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        char m[1024];
        memcpy(m, tok, tl + 1);
        lcg = lcg * 1664525u + 1013904223u;
        size_t pos = (lcg >> 8) % tl;
        lcg = lcg * 1664525u + 1013904223u;
        char nc = (char)(1 + (lcg >> 8) % 255);
        if (nc == m[pos])
            continue;
        m[pos] = nc;
        cr_err_clear(&e);
        if (api_jwt_verify(SECRET, m, 1500, sub, &e) == CR_OK)
            accepted++;
    }
    CHECK_INT_EQ(accepted, 0);
    cr_free(tok);
    tok = NULL;
    cr_err_clear(&e);
    CHECK(api_jwt_sign(SECRET, "", 1000, 0, &tok, &e) == CR_ERR_INVALID);
    CHECK(tok == NULL);
    /* A subject that is not UTF-8 cannot be JSON text: refused as such, not as memory. */
    const char *not_text[] = {"\xd2k", "a\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof not_text / sizeof not_text[0]; i++) {
        cr_err_clear(&e);
        CHECK(api_jwt_sign(SECRET, not_text[i], 1000, 0, &tok, &e) == CR_ERR_INVALID);
        CHECK(tok == NULL && strstr(cr_err_msg(&e), "UTF-8") != NULL);
    }
    cr_err_clear(&e);
    CHECK(api_jwt_sign(SECRET, "trainer-\xc3\xa9\xf0\x9f\x8f\x8f", 1000, 0, &tok, &e) == CR_OK);
    CHECK(tok != NULL && api_jwt_verify(SECRET, tok, 1500, sub, &e) == CR_OK &&
          strcmp(sub, "trainer-\xc3\xa9\xf0\x9f\x8f\x8f") == 0);
    cr_free(tok);
}

/* ---- HTTP through libcurl ---------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    size_t n = sz * nm;
    char *np = realloc(b->p, b->n + n + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->n, d, n);
    b->p = np;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static int port;

/* Makes a request; returns the HTTP status (0 on a transport error); *out (may be
 * NULL) gets the body (free()). `path` is appended to the server's base URL unless it
 * starts with "http". */
static long http(const char *method, const char *path, const char *token, const char *body,
                 size_t body_len, char **out)
{
    char url[2048];
    if (strncmp(path, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    buf b = {0};
    struct curl_slist *h = NULL;
    char auth[API_JWT_MAX + 64];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    long code = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    else
        fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        *out = b.p ? b.p : strdup("");
    else
        free(b.p);
    return code;
}

/* PUTs the file at `path` to `url`. */
static long http_put_file(const char *url, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    CURL *c = curl_easy_init();
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, f);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    fclose(f);
    free(b.p);
    return code;
}

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s ? s : "", 0, NULL);
    if (j == NULL)
        fprintf(stderr, "not JSON: %.300s\n", s ? s : "(null)");
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static char *token_for(const char *sub, int64_t ttl)
{
    char *t = NULL;
    cr_err e = {0};
    int64_t now = (int64_t)time(NULL);
    api_jwt_sign(SECRET, sub, now, ttl ? now + ttl : 0, &t, &e);
    return t;
}

/* ---- the server ------------------------------------------------------------------ */

typedef struct env_kv {
    const char *k, *v;
} env_kv;

static const char *lookup(const char *name, void *ctx)
{
    for (env_kv *kv = ctx; kv->k; kv++)
        if (strcmp(kv->k, name) == 0)
            return kv->v;
    return NULL;
}

static int poll_done(const char *path, const char *tok, json_t **job_out, int max_s)
{
    for (int i = 0; i < max_s * 4; i++) {
        char *body = NULL;
        long code = http("GET", path, tok, NULL, 0, &body);
        json_t *j = code == 200 ? parse(body) : NULL;
        free(body);
        const char *st = j ? jstr(j, "status") : "";
        if (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0) {
            *job_out = j;
            return strcmp(st, "done") == 0;
        }
        json_decref(j);
        usleep(250 * 1000);
    }
    *job_out = NULL;
    return 0;
}

/* Workers beside the server (distributed shape). */
static volatile sig_atomic_t workers_stop = 0;

typedef struct worker_arg {
    const cr_config *cfg;
    int analysis;
    cr_status st;
    cr_err err;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    pipeline_worker_opts o;
    pipeline_worker_opts_default(&o);
    o.worker_id = a->analysis ? "test:analysis" : "test:chunk";
    o.poll_seconds = 0.2;
    o.stop = &workers_stop;
    pipeline_worker_stats ws;
    a->st = a->analysis ? pipeline_analysis_worker_run(a->cfg, &o, &ws, &a->err)
                        : pipeline_chunk_worker_run(a->cfg, &o, &ws, &a->err);
    return NULL;
}

/* A PUT of `n` bytes of `body` to `url` (http://127.0.0.1:port/...) on a raw socket,
 * in two steps: put_raw_begin sends the headers with "Expect: 100-continue" and waits
 * for "100 Continue" -- sent by the server once its handler accepted the headers, so
 * every check made on the headers is behind us -- and returns the socket (-1 on
 * failure); put_raw_end sends the body and returns the answer's HTTP status. */
static int put_raw_begin(const char *url, size_t n)
{
    const char *path = strstr(url, "/blobs/");
    if (path == NULL)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    a.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char head[2600];
    int hn = snprintf(head, sizeof head,
                      "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
                      "Expect: 100-continue\r\n\r\n",
                      path, n);
    char got[64] = "";
    size_t gn = 0;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (write(fd, head, (size_t)hn) != hn) {
        close(fd);
        return -1;
    }
    while (gn < sizeof got - 1 && strstr(got, "\r\n\r\n") == NULL) {
        ssize_t r = read(fd, got + gn, sizeof got - 1 - gn);
        if (r <= 0)
            break;
        gn += (size_t)r;
        got[gn] = '\0';
    }
    if (strncmp(got, "HTTP/1.1 100", 12) != 0) {
        fprintf(stderr, "no 100 Continue: %s\n", got);
        close(fd);
        return -1;
    }
    return fd;
}

static long put_raw_end(int fd, const char *body, size_t n)
{
    if (fd < 0 || write(fd, body, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char got[512] = "";
    ssize_t r = read(fd, got, sizeof got - 1);
    close(fd);
    long code = 0;
    if (r > 12 && sscanf(got, "HTTP/1.1 %ld", &code) != 1)
        code = 0;
    return code;
}

/* Distributed shape, before any worker runs: upload, complete, then other bytes PUT to
 * the same presigned URL -- s3rver takes them, as S3 would until the URL expires.
 * Writes the job's API path to path_out; the workers must fail that job. */
static void swap_scenario(const char *video, const char *other, const char *ta, char *path_out,
                          size_t cap)
{
    char *body = NULL;
    CHECK_INT_EQ(http("POST", "/api/coaches/plus/videos/upload/initiate", ta, "{}", 2, &body), 200);
    json_t *ini = parse(body);
    free(body);
    char id[64], cb[128], url[2048];
    snprintf(id, sizeof id, "%s", jstr(ini, "job_id"));
    snprintf(url, sizeof url, "%s", jstr(ini, "upload_url"));
    json_decref(ini);
    CHECK_INT_EQ(http_put_file(url, video), 200);
    snprintf(cb, sizeof cb, "{\"job_id\":\"%s\"}", id);
    CHECK_INT_EQ(http("POST", "/api/coaches/plus/videos/upload/complete", ta, cb, strlen(cb), NULL),
                 200);
    CHECK_INT_EQ(http_put_file(url, other), 200);
    snprintf(path_out, cap, "/api/coaches/plus/analysis-jobs/%s", id);
}

/* Distributed shape, before any worker runs: a job of coach A fails (the test plays
 * the analysis worker through the store), then retry: B gets 404, A gets the job
 * back queued.  Writes the job's API path to path_out. */
static void retry_scenario(const scratch_db *sdb, const char *video, const char *ta, const char *tb,
                           char *path_out, size_t cap)
{
    char *body = NULL;
    CHECK_INT_EQ(http("POST", "/api/coaches/plus/videos/upload/initiate", ta, "{}", 2, &body), 200);
    json_t *ini = parse(body);
    free(body);
    char id[64], cb[128], retry[300];
    snprintf(id, sizeof id, "%s", jstr(ini, "job_id"));
    CHECK_INT_EQ(http_put_file(jstr(ini, "upload_url"), video), 200);
    json_decref(ini);
    snprintf(cb, sizeof cb, "{\"job_id\":\"%s\"}", id);
    CHECK_INT_EQ(http("POST", "/api/coaches/plus/videos/upload/complete", ta, cb, strlen(cb), NULL),
                 200);
    store *st = scratch_open(sdb, NULL);
    int won = 0;
    store_job held;
    OK(store_job_claim_aggregation(st, id, "test:manual", 60, &held, &won, &E));
    CHECK_INT_EQ(won, 1);
    store_job_outcome fail = {.ok = 0, .message = "simulated failure"};
    OK(store_job_finish(st, id, "test:manual", held.lease_token, &fail, &E));
    store_close(st);
    snprintf(path_out, cap, "/api/coaches/plus/analysis-jobs/%s", id);
    CHECK_INT_EQ(http("GET", path_out, ta, NULL, 0, &body), 200);
    json_t *j = parse(body);
    free(body);
    CHECK_STR_EQ(jstr(j, "status"), "failed");
    CHECK_STR_EQ(jstr(j, "error_message"), "simulated failure");
    json_decref(j);
    snprintf(retry, sizeof retry, "%s/retry", path_out);
    CHECK_INT_EQ(http("POST", retry, tb, NULL, 0, NULL), 404);
    CHECK_INT_EQ(http("POST", retry, ta, NULL, 0, &body), 200);
    j = parse(body);
    free(body);
    CHECK_STR_EQ(jstr(j, "status"), "queued");
    CHECK(json_is_null(json_object_get(j, "error_message")));
    json_decref(j);
    CHECK_INT_EQ(http("POST", retry, ta, NULL, 0, NULL), 409);
}

/* Sends `n` bytes (in two pieces when split > 0, `pause_ms` apart; half-closes after
 * them with `half_close`) on a fresh loopback connection and reads the answer until
 * the server closes it, each read bounded by 10 s.  Returns the answer (free()). */
static char *raw_exchange(const char *bytes, size_t n, size_t split, int pause_ms, int half_close)
{
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    a.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return strdup("");
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t first = split > 0 && split < n ? split : n;
    ssize_t w = write(fd, bytes, first);
    if (first < n) {
        struct timespec ts = {0, pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        w = write(fd, bytes + first, n - first);
    }
    (void)w;
    if (half_close)
        shutdown(fd, SHUT_WR);
    char *out = calloc(1, 8192);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, out + got, 8191 - got);
        if (r <= 0) {
            if (r < 0) /* a timeout: the server neither answered nor closed */
                got += (size_t)snprintf(out + got, 8191 - got, "<no close: %s>", strerror(errno));
            break;
        }
        got += (size_t)r;
        if (got >= 8191)
            break;
    }
    close(fd);
    return out;
}

/* What cannot begin a request line is answered 400 at once, and the connection is
 * closed; a request in pieces, or after an empty line, is served as before. */
static void check_request_lines(void)
{
    static const struct {
        const char *what, *bytes;
        size_t n;
    } bad[] = {
        {"NUL first", "\0GET / HTTP/1.1\r\n\r\n", 19},
        {"garbage", "garbage\r\n\r\n", 11},
        {"NUL in the method", "G\0ET / HTTP/1.1\r\n\r\n", 19},
        {"TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11},
        {"a method too long", "GETGETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n\r\n", 51},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = raw_exchange(bad[i].bytes, bad[i].n, 0, 0, 0);
        CHECK_MSG(strncmp(out, "HTTP/1.1 400 ", 13) == 0 &&
                      strstr(out, "malformed request line") != NULL &&
                      strstr(out, "<no close") == NULL,
                  "%s: %.200s", bad[i].what, out);
        free(out);
    }
    /* a method cut short by the client's end of sending */
    char *out = raw_exchange("GE", 2, 0, 0, 1);
    CHECK_MSG(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "half a method: %.200s", out);
    free(out);
    const char ok[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    out = raw_exchange(ok, sizeof ok - 1, 2, 100, 0); /* "GE", then the rest */
    CHECK_MSG(strncmp(out, "HTTP/1.1 200 ", 13) == 0, "in pieces: %.200s", out);
    free(out);
    const char crlf[] = "\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    out = raw_exchange(crlf, sizeof crlf - 1, 0, 0, 0);
    CHECK_MSG(strncmp(out, "HTTP/1.1 200 ", 13) == 0, "after an empty line: %.200s", out);
    free(out);
}

static json_t *get_json(const char *path, const char *tok, long want)
{
    char *body = NULL;
    long code = http("GET", path, tok, NULL, 0, &body);
    CHECK_MSG(code == want, "GET %s: %ld, expected %ld: %.200s", path, code, want, body);
    json_t *j = code == 200 ? parse(body) : NULL;
    free(body);
    return j;
}

/* The session routes (Cricksy's VideoSession* shapes), coach A's and coach B's views. */
static void check_sessions(const char *ta, const char *tb)
{
    const char *sessions = "/api/coaches/plus/sessions";
    const char *sb = "{\"title\":\"Nets, Tuesday\",\"player_ids\":[\"p1\",\"p2\"],\"notes\":"
                     "\"front foot\",\"analysis_context\":\"batting\",\"camera_view\":\"side\"}";
    char *body = NULL;
    CHECK_INT_EQ(http("POST", sessions, NULL, sb, strlen(sb), NULL), 401);
    CHECK_INT_EQ(http("POST", sessions, ta, "{}", 2, NULL), 400); /* a title is required */
    CHECK_INT_EQ(http("POST", sessions, ta, "{\"title\":5}", 11, NULL), 400);
    const char *drone = "{\"title\":\"x\",\"camera_view\":\"drone\"}";
    CHECK_INT_EQ(http("POST", sessions, ta, drone, strlen(drone), &body), 400);
    CHECK(strstr(body, "camera_view") != NULL);
    free(body);
    CHECK_INT_EQ(http("POST", sessions, ta, sb, strlen(sb), &body), 200);
    json_t *made = parse(body);
    free(body);
    char id[64], path[256], jobs_path[300];
    snprintf(id, sizeof id, "%s", jstr(made, "id"));
    CHECK_INT_EQ(strlen(id), 36);
    CHECK_STR_EQ(jstr(made, "owner_id"), "coach-a");
    CHECK_STR_EQ(jstr(made, "owner_type"), "coach");
    CHECK_STR_EQ(jstr(made, "status"), "pending");
    CHECK_STR_EQ(jstr(made, "camera_view"), "side");
    CHECK_INT_EQ(json_array_size(json_object_get(made, "player_ids")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(made, "analysis_job_count")), 0);
    CHECK(json_is_null(json_object_get(made, "latest_job_id")));
    json_decref(made);
    snprintf(path, sizeof path, "%s/%s", sessions, id);
    snprintf(jobs_path, sizeof jobs_path, "%s/analysis-jobs", path);

    /* A's session: A sees it, B gets 404 as for one that does not exist */
    json_t *j = get_json(path, ta, 200);
    CHECK_STR_EQ(jstr(j, "id"), id);
    CHECK_STR_EQ(jstr(j, "title"), "Nets, Tuesday");
    json_decref(j);
    j = get_json(path, tb, 404);
    CHECK(j == NULL);
    CHECK_INT_EQ(http("GET", path, tb, NULL, 0, &body), 404);
    CHECK(strstr(body, "Video session not found") != NULL);
    free(body);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/sessions/00000000-0000-4000-8000-000000000000", ta,
                      NULL, 0, NULL),
                 404);
    CHECK_INT_EQ(http("GET", jobs_path, tb, NULL, 0, NULL), 404);
    CHECK_INT_EQ(http("POST", path, ta, "{}", 2, NULL), 405);
    j = get_json(jobs_path, ta, 200);
    CHECK(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);

    /* a job in it (Cricksy's initiate with session_id): only A may add one */
    char ib[160];
    snprintf(ib, sizeof ib, "{\"session_id\":\"%s\"}", id);
    const char *init = "/api/coaches/plus/videos/upload/initiate";
    CHECK_INT_EQ(http("POST", init, tb, ib, strlen(ib), NULL), 404);
    CHECK_INT_EQ(http("POST", init, ta, ib, strlen(ib), &body), 200);
    json_t *ini = parse(body);
    free(body);
    char job[64];
    snprintf(job, sizeof job, "%s", jstr(ini, "job_id"));
    CHECK_STR_EQ(jstr(ini, "session_id"), id);
    json_decref(ini);
    j = get_json(path, ta, 200);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "analysis_job_count")), 1);
    CHECK_STR_EQ(jstr(j, "latest_job_id"), job);
    CHECK_STR_EQ(jstr(j, "latest_job_status"), "awaiting_upload");
    CHECK(json_is_string(json_object_get(j, "latest_job_created_at")));
    json_decref(j);
    j = get_json(jobs_path, ta, 200);
    CHECK(json_array_size(j) == 1 && strcmp(jstr(json_array_get(j, 0), "job_id"), job) == 0);
    json_decref(j);

    /* listings: A's sessions only, newest first, with the same summary; pages */
    j = get_json(sessions, ta, 200);
    int found = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *one = json_array_get(j, i);
        CHECK_STR_EQ(jstr(one, "owner_id"), "coach-a");
        if (strcmp(jstr(one, "id"), id) == 0) {
            found++;
            CHECK(i == 0); /* the newest */
            CHECK_INT_EQ(json_integer_value(json_object_get(one, "analysis_job_count")), 1);
            CHECK_STR_EQ(jstr(one, "latest_job_id"), job);
        }
    }
    CHECK_INT_EQ(found, 1);
    size_t all = json_array_size(j);
    json_decref(j);
    CHECK(all >= 2); /* the ones initiate made for A, too */
    j = get_json("/api/coaches/plus/sessions?limit=1&offset=1", ta, 200);
    CHECK_INT_EQ(json_array_size(j), 1);
    json_decref(j);
    j = get_json(sessions, tb, 200);
    for (size_t i = 0; i < json_array_size(j); i++)
        CHECK(strcmp(jstr(json_array_get(j, i), "id"), id) != 0);
    json_decref(j);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/sessions?limit=0", ta, NULL, 0, NULL), 400);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/sessions?limit=101", ta, NULL, 0, NULL), 400);
}

/* Trickling clients cannot lock others out: a whole server's worth of connections
 * from 127.0.0.2 that never finish their request line, then a request from
 * 127.0.0.1 is still answered, and at most API_CONNECTIONS_PER_CLIENT of the
 * trickling ones were kept. */
static void check_client_cap(void)
{
    enum { N = API_CONNECTIONS_MAX };
    static int fds[N];
    int opened = 0;
    struct sockaddr_in src = {0}, dst = {0};
    src.sin_family = dst.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2: another loopback client */
    dst.sin_addr.s_addr = htonl(0x7f000001);
    dst.sin_port = htons((uint16_t)port);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0)
            break;
        if (bind(fds[i], (struct sockaddr *)&src, sizeof src) != 0 ||
            connect(fds[i], (struct sockaddr *)&dst, sizeof dst) != 0) {
            close(fds[i]);
            break;
        }
        ssize_t w = write(fds[i], "GET /health HTTP/1.1\r\nHo", 25);
        (void)w;
        opened++;
    }
    CHECK_INT_EQ(opened, N);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    char *body = NULL;
    CHECK_INT_EQ(http("GET", "/health", NULL, NULL, 0, &body), 200);
    free(body);
    int kept = 0;
    for (int i = 0; i < opened; i++) {
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
        kept += r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); /* open, no answer yet */
        close(fds[i]);
    }
    printf("client cap: %d of %d trickling connections kept\n", kept, opened);
    CHECK(kept <= API_CONNECTIONS_PER_CLIENT);
    CHECK(kept > 0);
}

/* Pages of `token`'s jobs, `per` at a time: each job once, and as many as one
 * unpaged listing gives. */
static void check_pages(const char *token, int per, int expect)
{
    char page[512], *body = NULL;
    snprintf(page, sizeof page, "/api/coaches/plus/analysis-jobs?limit=%d", per);
    int seen = 0, rounds = 0;
    char prev[64] = "";
    for (;;) {
        CHECK_INT_EQ(http("GET", page, token, NULL, 0, &body), 200);
        json_t *j = parse(body);
        free(body);
        json_t *pj = json_object_get(j, "jobs");
        CHECK((int)json_array_size(pj) <= per);
        for (size_t i = 0; i < json_array_size(pj); i++) {
            const char *id = jstr(json_array_get(pj, i), "job_id");
            CHECK(strcmp(id, prev) != 0);
            snprintf(prev, sizeof prev, "%s", id);
            seen++;
        }
        json_t *next = json_object_get(j, "next_cursor");
        int more = json_is_string(next) && ++rounds < 50;
        if (more)
            snprintf(page, sizeof page, "/api/coaches/plus/analysis-jobs?limit=%d&cursor=%s", per,
                     json_string_value(next));
        json_decref(j);
        if (!more)
            break;
    }
    CHECK_INT_EQ(seen, expect);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs?limit=0", token, NULL, 0, NULL), 400);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs?cursor=../x", token, NULL, 0, NULL),
                 400);
}

/* Retry-After of an answer (curl header callback). */
static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    size_t len = size * n;
    if (len > 12 && strncasecmp(line, "Retry-After:", 12) == 0)
        *(long *)ud = strtol(line + 12, NULL, 10);
    return len;
}

/* Job creation is limited per token (API_JOBS_BURST at once, then
 * API_JOBS_PER_MINUTE): one coach's flood is answered 429 with Retry-After, and
 * another coach is not slowed by it. */
static void check_job_rate(const char *init)
{
    char *flood = token_for("coach-flood", 3600), *other = token_for("coach-calm", 3600);
    char url[256], auth[API_JWT_MAX + 64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, init);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", flood);
    int ok = 0;
    long code = 0, retry = -1;
    for (int i = 0; i < API_JOBS_BURST + 5; i++) {
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, auth);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &retry);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        buf b = {0};
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        code = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        free(b.p);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (code != 200)
            break;
        ok++;
    }
    CHECK_INT_EQ(ok, API_JOBS_BURST);
    CHECK_INT_EQ(code, 429);
    check_pages(flood, 3, API_JOBS_BURST);
    CHECK(retry >= 1 && retry <= 60 / API_JOBS_PER_MINUTE + 1);
    char *body = NULL;
    CHECK_INT_EQ(http("POST", init, other, "{}", 2, &body), 200);
    free(body);
    cr_free(flood);
    cr_free(other);
}

static void test_server(const char *dir, int services)
{
    char db[1100], blobs[600], video[600], junk[600];
    snprintf(db, sizeof db, "sqlite:///%s/crease.db", dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    snprintf(video, sizeof video, "%s/short.mp4", dir);
    snprintf(junk, sizeof junk, "%s/junk.mp4", dir);

    /* A 3 s video of a full-body person (DESIGN.md §11 media), 10 fps, 320 px. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -loglevel error -y -loop 1 -i media/cold_water.jpg -t 3 -r 10 "
             "-vf scale=320:-2 -pix_fmt yuv420p -c:v libx264 '%s'",
             video);
    if (system(cmd) != 0) {
        CHECK_MSG(0, "ffmpeg failed: %s", cmd);
        return;
    }
    FILE *f = fopen(junk, "wb");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 4096; i++)
            fputc((i * 7919) & 0xff, f);
        fclose(f);
    }

    scratch_db sdb;
    memset(&sdb, 0, sizeof sdb);
    const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
    if (services) {
        scratch_create(&sdb, "pg", "api"); /* skips when there is no PostgreSQL */
        if (ep == NULL || *ep == '\0')
            SKIP_OR_FAIL("CREASE_TEST_S3_ENDPOINT not set: no S3 server");
        snprintf(db, sizeof db, "%s", sdb.target);
        store *mst = scratch_open(&sdb, NULL);
        OK(store_migrate_up(mst, 0, NULL, &E));
        store_close(mst);
    }
    env_kv kv_s3[] = {{"DATABASE_URL", db},
                      {"S3_COACH_VIDEOS_BUCKET", getenv("CREASE_TEST_S3_BUCKET")},
                      {"S3_ENDPOINT_URL", ep},
                      {"AWS_ACCESS_KEY_ID", getenv("CREASE_TEST_S3_ACCESS_KEY")},
                      {"AWS_SECRET_ACCESS_KEY", getenv("CREASE_TEST_S3_SECRET_KEY")},
                      {"APP_SECRET_KEY", SECRET},
                      {"CHUNK_SECONDS", "1"},
                      {"GPU_PROCESSING_ENABLED", "false"},
                      {"CREASE_UPLOAD_URL_SECONDS", "120"},
                      {NULL, NULL}};
    env_kv kv[] = {{"DATABASE_URL", db},
                   {"CREASE_BLOB_DIR", blobs},
                   {"APP_SECRET_KEY", SECRET},
                   {"CHUNK_SECONDS", "1"},
                   {"GPU_PROCESSING_ENABLED", "true"},
                   {"LOG_LEVEL", "warn"},
                   {"CREASE_UPLOAD_URL_SECONDS", "120"},
                   {NULL, NULL}};
    cr_config cfg;
    cr_err e = {0};
    CHECK_MSG(cr_config_parse(&cfg, lookup, services ? (void *)kv_s3 : (void *)kv, &e) == CR_OK,
              "%s", cr_err_msg(&e));

    /* No secret: refused. */
    cr_config nosecret = cfg;
    nosecret.app_secret_key[0] = '\0';
    api_server *srv = NULL;
    CHECK(api_server_start(&nosecret, NULL, &srv, &e) == CR_ERR_INVALID);
    CHECK(srv == NULL);

    api_options o = {0};
    o.chunk_workers = 2;
    o.upload_max = 1u << 20; /* so that the 413 of an upload is cheap to test */
    cr_err_clear(&e);
    CHECK_MSG(api_server_start(&cfg, &o, &srv, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (srv == NULL)
        return;
    port = api_server_port(srv);
    CHECK(port > 0);
    char *ta = token_for("coach-a", 3600), *tb = token_for("coach-b", 3600);
    char failed_path[300] = "", swapped_path[300] = "";
    if (services) {
        retry_scenario(&sdb, video, ta, tb, failed_path, sizeof failed_path);
        swap_scenario(video, junk, ta, swapped_path, sizeof swapped_path);
    }
    worker_arg wa[2] = {{&cfg, 0, CR_OK, {0}}, {&cfg, 1, CR_OK, {0}}};
    pthread_t wt[2];
    int nwt = 0;
    if (services)
        for (; nwt < 2; nwt++)
            if (pthread_create(&wt[nwt], NULL, worker_main, &wa[nwt]) != 0)
                break;

    char *texp = NULL;
    api_jwt_sign(SECRET, "coach-a", 1000, 2000, &texp, &e);
    char *body = NULL;
    json_t *j;

    /* health and metrics: no token needed */
    CHECK_INT_EQ(http("GET", "/health", NULL, NULL, 0, &body), 200);
    j = parse(body);
    CHECK_STR_EQ(jstr(j, "status"), "ok");
    json_decref(j);
    free(body);
    CHECK_INT_EQ(http("GET", "/metrics", NULL, NULL, 0, &body), 200);
    CHECK(strstr(body, "# TYPE crease_chunks_queued gauge") != NULL);
    CHECK(strstr(body, "\ncrease_chunks_queued 0\n") != NULL);
    free(body);

    /* auth */
    const char *init = "/api/coaches/plus/videos/upload/initiate";
    CHECK_INT_EQ(http("POST", init, NULL, "{}", 2, &body), 401);
    j = parse(body);
    CHECK(strlen(jstr(j, "error")) > 0);
    json_decref(j);
    free(body);
    CHECK_INT_EQ(http("POST", init, "not.a.token", "{}", 2, NULL), 401);
    CHECK_INT_EQ(http("POST", init, texp, "{}", 2, NULL), 401);
    char *twrong = NULL;
    api_jwt_sign("other-secret", "coach-a", (int64_t)time(NULL), 0, &twrong, &e);
    CHECK_INT_EQ(http("POST", init, twrong, "{}", 2, NULL), 401);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs", NULL, NULL, 0, NULL), 401);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs/x", twrong, NULL, 0, NULL), 401);
    CHECK_INT_EQ(http("POST", "/api/coaches/plus/videos/upload/complete", NULL, "{}", 2, NULL),
                 401);
    cr_free(twrong);

    /* errors */
    CHECK_INT_EQ(http("GET", "/nope", NULL, NULL, 0, NULL), 404);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/nope", ta, NULL, 0, NULL), 404);
    CHECK_INT_EQ(http("POST", init, ta, "{\"analysis_mode\":", 17, &body), 400);
    j = parse(body);
    CHECK(strlen(jstr(j, "error")) > 0);
    json_decref(j);
    free(body);
    CHECK_INT_EQ(http("POST", init, ta, "[1,2]", 5, NULL), 400);
    CHECK_INT_EQ(http("POST", init, ta, "{\"analysis_mode\":\"golf\"}", 24, NULL), 400);
    size_t big_n = API_BODY_MAX + 1000;
    char *big = malloc(big_n);
    memset(big, ' ', big_n);
    big[0] = '{';
    big[big_n - 1] = '}';
    CHECK_INT_EQ(http("POST", init, ta, big, big_n, NULL), 413);
    free(big);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs/bad!id", ta, NULL, 0, NULL), 400);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs/00000000-0000-4000-8000-000000000000",
                      ta, NULL, 0, NULL),
                 404);
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs?status=bogus", ta, NULL, 0, NULL),
                 400);
    CHECK_INT_EQ(
        http("POST", "/api/coaches/plus/videos/upload/complete", ta, "{\"job_id\":5}", 12, NULL),
        400);

    /* initiate: the subject hint is optional, and a bad one is 422 (by a coach of its
     * own: refused requests count against a token's job rate too, and coach A's
     * burst is for the jobs below) */
    char *th = token_for("coach-hints", 3600);
    static const char *const bad_hints[] = {
        "{\"subject_hint\":{\"x\":1.5,\"y\":0.5}}", "{\"subject_hint\":{\"x\":0.5}}",
        "{\"subject_hint\":{\"x\":\"0.5\",\"y\":0.5}}", "{\"subject_hint\":[0.5,0.5]}",
        "{\"subject_hint\":{\"x\":0.5,\"y\":-0.1}}"};
    for (size_t i = 0; i < sizeof bad_hints / sizeof bad_hints[0]; i++)
        CHECK_INT_EQ(http("POST", init, th, bad_hints[i], strlen(bad_hints[i]), NULL), 422);
    const char *hint = "{\"subject_hint\":{\"x\":0.25,\"y\":0.75}}";
    CHECK_INT_EQ(http("POST", init, th, hint, strlen(hint), NULL), 200);
    cr_free(th);
    const char *ib = "{\"filename\":\"nets.mp4\",\"analysis_mode\":\"batting\"}";
    CHECK_INT_EQ(http("POST", init, ta, ib, strlen(ib), &body), 200);
    json_t *ini = parse(body);
    free(body);
    char job_id[64], upload_url[2048], job_path[256], complete_body[256];
    snprintf(job_id, sizeof job_id, "%s", jstr(ini, "job_id"));
    snprintf(upload_url, sizeof upload_url, "%s", jstr(ini, "upload_url"));
    CHECK(strlen(job_id) == 36);
    CHECK(strstr(upload_url, services ? "coach_plus/sessions/" : "/blobs/coach_plus/sessions/") !=
          NULL);
    CHECK(strstr(jstr(ini, "s3_key"), "/original.mp4") != NULL);
    CHECK(strstr(jstr(ini, "s3_key"), jstr(ini, "session_id")) != NULL);
    /* the upload URL lives CREASE_UPLOAD_URL_SECONDS */
    CHECK_INT_EQ(json_integer_value(json_object_get(ini, "expires_in")), 120);
    if (services) {
        CHECK(strstr(upload_url, "X-Amz-Expires=120") != NULL);
    } else {
        const char *ex = strstr(upload_url, "expires=");
        long long at = ex ? strtoll(ex + 8, NULL, 10) : 0, now = (long long)time(NULL);
        CHECK_MSG(at >= now + 110 && at <= now + 120, "expires=%lld, now %lld", at, now);
    }
    json_decref(ini);
    snprintf(job_path, sizeof job_path, "/api/coaches/plus/analysis-jobs/%s", job_id);
    snprintf(complete_body, sizeof complete_body, "{\"job_id\":\"%s\"}", job_id);

    CHECK_INT_EQ(http("GET", job_path, ta, NULL, 0, &body), 200);
    j = parse(body);
    CHECK_STR_EQ(jstr(j, "status"), "awaiting_upload");
    json_decref(j);
    free(body);

    /* complete before the upload: 409 */
    const char *comp = "/api/coaches/plus/videos/upload/complete";
    CHECK_INT_EQ(http("POST", comp, ta, complete_body, strlen(complete_body), NULL), 409);
    /* coach B cannot see or complete A's job */
    CHECK_INT_EQ(http("GET", job_path, tb, NULL, 0, NULL), 404);
    CHECK_INT_EQ(http("POST", comp, tb, complete_body, strlen(complete_body), NULL), 404);

    /* a tampered upload URL is refused (by our /blobs/ route; s3rver checks no signature) */
    if (!services) {
        char tampered[2100];
        snprintf(tampered, sizeof tampered, "%s", upload_url);
        char *sig = strstr(tampered, "sig=");
        CHECK(sig != NULL);
        if (sig)
            sig[4] = sig[4] == '0' ? '1' : '0';
        CHECK_INT_EQ(http("GET", tampered, NULL, NULL, 0, NULL), 403);
        CHECK_INT_EQ(http("PUT", tampered, NULL, "x", 1, NULL), 403);
    }

    /* an upload over the limit: 413, nothing stored (our /blobs/ route only) */
    char bigfile[700];
    snprintf(bigfile, sizeof bigfile, "%s/big.bin", dir);
    FILE *bf = fopen(bigfile, "wb");
    CHECK(bf != NULL);
    if (bf) {
        for (int i = 0; i < (2 << 20) / 4096; i++) {
            char blk[4096] = {0};
            fwrite(blk, 1, sizeof blk, bf);
        }
        fclose(bf);
    }
    if (!services) {
        CHECK_INT_EQ(http_put_file(upload_url, bigfile), 413);
        CHECK_INT_EQ(http("POST", comp, ta, complete_body, strlen(complete_body), NULL), 409);
    }

    /* a symbolic link planted in the blob folder where the upload's session folder
     * goes (pointing to a folder outside it): the presigned PUT is refused and
     * nothing is written outside (our /blobs/ route only) */
    if (!services) {
        const char *k = strstr(upload_url, "/blobs/");
        char sess[1200], outside[700], cmd[2600];
        snprintf(sess, sizeof sess, "%s/%s", blobs, k ? k + strlen("/blobs/") : "");
        char *q = strstr(sess, "/original.mp4");
        CHECK(k != NULL && q != NULL);
        if (q)
            *q = '\0';
        snprintf(outside, sizeof outside, "%s/outside", dir);
        CHECK(mkdir(outside, 0755) == 0);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && rmdir '%s'", sess, sess);
        CHECK(system(cmd) == 0);
        CHECK(symlink(outside, sess) == 0);
        CHECK_INT_EQ(http_put_file(upload_url, video), 400);
        DIR *od = opendir(outside);
        int entries = 0;
        for (struct dirent *de; od && (de = readdir(od)) != NULL;)
            entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        if (od)
            closedir(od);
        CHECK_INT_EQ(entries, 0);
        CHECK(unlink(sess) == 0);
        CHECK(rmdir(outside) == 0);
    }

    /* upload, complete twice; an upload begun before the complete (its headers
     * accepted) and one after it are both refused (our /blobs/ route only) */
    CHECK_INT_EQ(http_put_file(upload_url, video), 200);
    const char swap[] = "not the video that was checked";
    int early = services ? -1 : put_raw_begin(upload_url, sizeof swap);
    CHECK(services || early >= 0);
    CHECK_INT_EQ(http("POST", comp, ta, complete_body, strlen(complete_body), &body), 200);
    j = parse(body);
    free(body);
    CHECK_STR_EQ(jstr(j, "job_id"), job_id);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "total_chunks")), services ? 0 : 3);
    CHECK_STR_EQ(jstr(j, "deep_mode"), services ? "cpu" : "gpu");
    CHECK_STR_EQ(jstr(j, "analysis_mode"), "batting");
    CHECK_NEAR(json_number_value(json_object_get(j, "video_duration_seconds")), 3.0, 0.2);
    double created1 = json_number_value(json_object_get(j, "created_at"));
    json_decref(j);
    CHECK_INT_EQ(http("POST", comp, ta, complete_body, strlen(complete_body), &body), 200);
    j = parse(body);
    free(body);
    CHECK_STR_EQ(jstr(j, "job_id"), job_id);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "total_chunks")), services ? 0 : 3);
    CHECK(json_number_value(json_object_get(j, "created_at")) == created1);
    CHECK(strcmp(jstr(j, "status"), "awaiting_upload") != 0);
    json_decref(j);
    if (!services) {
        CHECK_INT_EQ(put_raw_end(early, swap, sizeof swap), 409);
        CHECK_INT_EQ(http_put_file(upload_url, junk), 409);
        CHECK_INT_EQ(http("PUT", upload_url, NULL, swap, sizeof swap, &body), 409);
        j = parse(body);
        CHECK(strstr(jstr(j, "detail"), "upload of this video is complete") != NULL);
        json_decref(j);
        free(body);
    }

    /* retry of a job that did not fail: 409; B's retry: 404 */
    char retry_path[300];
    snprintf(retry_path, sizeof retry_path, "%s/retry", job_path);
    CHECK_INT_EQ(http("POST", retry_path, ta, NULL, 0, NULL), 409);
    CHECK_INT_EQ(http("POST", retry_path, tb, NULL, 0, NULL), 404);

    /* listings are per coach */
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs", tb, NULL, 0, &body), 200);
    j = parse(body);
    free(body);
    CHECK_INT_EQ(json_array_size(json_object_get(j, "jobs")), 0);
    json_decref(j);

    /* the workers inside the server finish it (bounded wait) */
    json_t *done = NULL;
    CHECK_MSG(poll_done(job_path, ta, &done, 240), "job did not finish");
    if (done) {
        CHECK_INT_EQ(json_integer_value(json_object_get(done, "progress_pct")), 100);
        CHECK_INT_EQ(json_integer_value(json_object_get(done, "completed_chunks")),
                     services ? 0 : 3);
        CHECK(json_is_object(json_object_get(done, "results")));
        const char *fr = jstr(done, "final_results_url");
        CHECK(strstr(fr, "final_results.json?") != NULL);
        CHECK(strstr(jstr(done, "report_url"), "report.html?") != NULL);
        CHECK_INT_EQ(http("GET", fr, NULL, NULL, 0, &body), 200);
        json_t *res = parse(body);
        free(body);
        json_t *poses = json_object_get(res, "poses");
        CHECK(json_is_array(poses) && json_array_size(poses) > 0);
        json_decref(res);
        CHECK_INT_EQ(http("GET", jstr(done, "report_url"), NULL, NULL, 0, &body), 200);
        CHECK(strstr(body, "<html") != NULL || strstr(body, "<!DOCTYPE") != NULL ||
              strstr(body, "<!doctype") != NULL);
        free(body);
        json_decref(done);
    }
    CHECK_INT_EQ(http("GET", "/api/coaches/plus/analysis-jobs?status=done", ta, NULL, 0, &body),
                 200);
    j = parse(body);
    free(body);
    json_t *jobs = json_object_get(j, "jobs");
    /* services: the retried job may be done by now too */
    CHECK(json_array_size(jobs) >= 1 && json_array_size(jobs) <= (services ? 2u : 1u));
    int found = 0;
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        CHECK_STR_EQ(jstr(json_array_get(jobs, i), "status"), "done");
        found += strcmp(jstr(json_array_get(jobs, i), "job_id"), job_id) == 0;
    }
    CHECK_INT_EQ(found, 1);
    json_decref(j);

    if (failed_path[0]) { /* the retried job is done by the workers too */
        CHECK_MSG(poll_done(failed_path, ta, &done, 240), "retried job did not finish");
        json_decref(done);
    }
    if (swapped_path[0]) { /* the swapped upload: refused by the worker, never done */
        CHECK_MSG(!poll_done(swapped_path, ta, &done, 240), "the swapped upload was analysed");
        CHECK(done != NULL);
        if (done) {
            CHECK_STR_EQ(jstr(done, "status"), "failed");
            CHECK_MSG(strstr(jstr(done, "error_message"),
                             "the uploaded video changed after upload-complete") != NULL,
                      "%s", jstr(done, "error_message"));
            CHECK(json_is_null(json_object_get(done, "deep_results")));
        }
        json_decref(done);
    }

    /* not a video: 422, the job stays awaiting_upload */
    CHECK_INT_EQ(http("POST", init, ta, NULL, 0, &body), 200);
    ini = parse(body);
    free(body);
    snprintf(job_id, sizeof job_id, "%s", jstr(ini, "job_id"));
    snprintf(upload_url, sizeof upload_url, "%s", jstr(ini, "upload_url"));
    json_decref(ini);
    snprintf(job_path, sizeof job_path, "/api/coaches/plus/analysis-jobs/%s", job_id);
    snprintf(complete_body, sizeof complete_body, "{\"job_id\":\"%s\"}", job_id);
    CHECK_INT_EQ(http_put_file(upload_url, junk), 200);
    CHECK_INT_EQ(http("POST", comp, ta, complete_body, strlen(complete_body), &body), 422);
    j = parse(body);
    CHECK(strlen(jstr(j, "error")) > 0);
    json_decref(j);
    free(body);
    CHECK_INT_EQ(http("GET", job_path, ta, NULL, 0, &body), 200);
    j = parse(body);
    CHECK_STR_EQ(jstr(j, "status"), "awaiting_upload");
    json_decref(j);
    free(body);

    CHECK_INT_EQ(http("GET", "/metrics", NULL, NULL, 0, &body), 200);
    CHECK(strstr(body, "crease_jobs{status=\"deep_running\"}") != NULL);
    CHECK(strstr(body, "\ncrease_jobs{status=\"done\"} ") != NULL);
    if (!services) {
        /* the embedded workers record in the server's registry: what they did shows */
        CHECK(strstr(body, "\ncrease_chunks_completed_total{engine=\"") != NULL);
        CHECK(strstr(body, "\ncrease_chunk_processing_seconds_count{engine=\"") != NULL);
        const char *jc = strstr(body, "\ncrease_jobs_completed_total ");
        CHECK(jc != NULL && atoi(jc + strlen("\ncrease_jobs_completed_total ")) >= 1);
        CHECK(strstr(body, "\ncrease_job_completion_seconds_count 0\n") == NULL);
    }
    free(body);

    check_sessions(ta, tb);
    check_request_lines();
    check_job_rate(init);
    check_client_cap();

    cr_free(ta);
    cr_free(tb);
    cr_free(texp);
    api_server_stop(srv);
    workers_stop = 1;
    for (int i = 0; i < nwt; i++) {
        pthread_join(wt[i], NULL);
        CHECK_MSG(wa[i].st == CR_OK, "worker %d: %s", i, cr_err_msg(&wa[i].err));
    }
    if (services)
        scratch_drop(&sdb);
}

/* The test's temporary folder, removed at exit (also when a missing service skips). */
static char test_dir[] = "/tmp/crease-api-test-XXXXXX";

static void remove_test_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", test_dir);
}

int main(int argc, char **argv)
{
    (void)E;
    int services = argc > 1 && strcmp(argv[1], "services") == 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!services)
        test_jwt();
    if (mkdtemp(test_dir) == NULL) {
        CHECK(0);
        return check_exit();
    }
    atexit(remove_test_dir);
    test_server(test_dir, services);
    curl_global_cleanup();
    return check_exit();
}
