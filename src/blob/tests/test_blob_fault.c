/*
 * test_blob_fault.c -- the S3 client against a scripted HTTP server on loopback.
 *
 * A thread listens on 127.0.0.1 (a free port) and answers each connection with the
 * next step of a script: a status, headers and body, or silence (it reads the
 * request and never answers).  Every request line is logged, so the tests check
 * what the client sent, not only what it returned:
 *   - 503, 503, 200: the client retries and returns the 200's body (3 requests);
 *   - 429 then 200: retried too;
 *   - 503 on every try: CR_ERR_NET naming the status, after max_retries + 1 tries;
 *   - silence: CR_ERR_TIMEOUT after the (short, configured) timeout, per try;
 *   - 404 and 403: not retried, CR_ERR_NOT_FOUND and CR_ERR_AUTH;
 *   - multipart upload with a failing part: the upload is aborted (DELETE ?uploadId);
 *   - nobody listening: CR_ERR_NET after the retries.
 */
#include "blob/blob.h"
#include "core/mem.h"

#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct step {
    int status; /* 0 = never answer */
    const char *headers;
    const char *body;
} step;

typedef struct server {
    int fd;
    int port;
    const step *steps;
    int nsteps;
    int served;
    volatile int stop;
    pthread_t th;
    pthread_mutex_t mu;
    char log[8192];
    int held[16]; /* silent connections, kept open until the server stops */
    int nheld;
} server;

static void log_line(server *s, const char *line)
{
    pthread_mutex_lock(&s->mu);
    strncat(s->log, line, sizeof s->log - strlen(s->log) - 2);
    strcat(s->log, "\n");
    pthread_mutex_unlock(&s->mu);
}

/* Reads one request (head and Content-Length body); 0 on success. */
static int read_request(int c, char *line, size_t cap)
{
    char head[65536];
    size_t n = 0;
    char *end = NULL;
    while (end == NULL) {
        if (n + 1 >= sizeof head)
            return -1;
        ssize_t r = recv(c, head + n, sizeof head - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        head[n] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    size_t ll = strcspn(head, "\r");
    snprintf(line, cap, "%.*s", (int)ll, head);
    long long clen = 0;
    for (char *p = head; p < end; p = strstr(p, "\r\n") + 2)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = atoll(p + 15);
    long long have = (long long)(n - (size_t)(end + 4 - head));
    static char sink[1 << 16];
    while (have < clen) {
        ssize_t r = recv(c, sink, sizeof sink, 0);
        if (r <= 0)
            return -1;
        have += r;
    }
    return 0;
}

static void *serve(void *arg)
{
    server *s = arg;
    while (!s->stop) {
        struct pollfd pf = {s->fd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        char line[512];
        if (read_request(c, line, sizeof line) != 0) {
            close(c);
            continue;
        }
        log_line(s, line);
        const step *st = s->served < s->nsteps ? &s->steps[s->served] : NULL;
        s->served++;
        if (st && st->status == 0 && s->nheld < 16) {
            s->held[s->nheld++] = c; /* silence: keep it open, answer nothing */
            continue;
        }
        int code = st ? st->status : 500;
        const char *body = st && st->body ? st->body : "";
        char resp[4096];
        int k = snprintf(resp, sizeof resp,
                         "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                         code, strlen(body), st && st->headers ? st->headers : "", body);
        if (send(c, resp, (size_t)k, MSG_NOSIGNAL) < 0)
            perror("send");
        close(c);
    }
    return NULL;
}

static void server_start(server *s, const step *steps, int n)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->steps = steps;
    s->nsteps = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0) {
        perror("bind/listen");
        exit(1);
    }
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void server_stop(server *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->nheld; i++)
        close(s->held[i]);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
}

static blob_store *client(int port, long timeout_ms, int retries)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    blob_s3_params p = {
        .bucket = "bkt", .endpoint = ep, .access_key_id = "AK", .secret_access_key = "SK"};
    blob_options o = {.timeout_ms = timeout_ms,
                      .connect_timeout_ms = 1000,
                      .max_retries = retries,
                      .retry_base_ms = 10,
                      .retry_max_ms = 40};
    blob_store *b = NULL;
    cr_err err = {0};
    if (blob_open_s3(&p, &o, &b, &err) != CR_OK) {
        fprintf(stderr, "open: %s\n", cr_err_msg(&err));
        exit(1);
    }
    return b;
}

static void test_retry_then_ok(void)
{
    const char *busy = "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>";
    step steps[] = {{503, NULL, busy}, {503, NULL, busy}, {200, "ETag: \"e\"\r\n", "hello"}};
    server s;
    server_start(&s, steps, 3);
    blob_store *b = client(s.port, 5000, 4);
    void *d = NULL;
    size_t n = 0;
    cr_err err = {0};
    CHECK_MSG(blob_get(b, "a/b.txt", &d, &n, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK(n == 5 && d && memcmp(d, "hello", 5) == 0);
    cr_free(d);
    CHECK_INT_EQ(s.served, 3);
    CHECK_STR_EQ(s.log, "GET /bkt/a/b.txt HTTP/1.1\nGET /bkt/a/b.txt HTTP/1.1\n"
                        "GET /bkt/a/b.txt HTTP/1.1\n");
    blob_close(b);
    server_stop(&s);
}

static void test_429(void)
{
    step steps[] = {{429, NULL, ""}, {200, NULL, "ok"}};
    server s;
    server_start(&s, steps, 2);
    blob_store *b = client(s.port, 5000, 4);
    cr_err err = {0};
    CHECK_MSG(blob_put(b, "k", "x", 1, NULL, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK_INT_EQ(s.served, 2);
    blob_close(b);
    server_stop(&s);
}

static void test_gives_up(void)
{
    const char *busy = "<Error><Code>ServiceUnavailable</Code><Message>later</Message></Error>";
    step steps[] = {{503, NULL, busy}, {503, NULL, busy}, {503, NULL, busy}, {200, NULL, "late"}};
    server s;
    server_start(&s, steps, 4);
    blob_store *b = client(s.port, 5000, 2);
    blob_info info;
    cr_err err = {0};
    CHECK(blob_head(b, "k", &info, &err) == CR_ERR_NET);
    CHECK_MSG(strstr(err.msg, "HTTP 503") && strstr(err.msg, "(3 tries)"), "%s", err.msg);
    CHECK_INT_EQ(s.served, 3);
    blob_close(b);
    server_stop(&s);
}

static void test_timeout(void)
{
    step steps[] = {{0, NULL, NULL}, {0, NULL, NULL}};
    server s;
    server_start(&s, steps, 2);
    blob_store *b = client(s.port, 1000, 1);
    void *d = NULL;
    size_t n = 0;
    cr_err err = {0};
    CHECK(blob_get(b, "slow", &d, &n, &err) == CR_ERR_TIMEOUT);
    CHECK_MSG(strstr(err.msg, "timed out") && strstr(err.msg, "(2 tries)"), "%s", err.msg);
    CHECK(d == NULL);
    CHECK_INT_EQ(s.served, 2);
    blob_close(b);
    server_stop(&s);
}

static void test_not_retried(void)
{
    step steps[] = {
        {404, NULL,
         "<Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>"},
        {403, NULL, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"},
        {400, NULL, "<Error><Code>InvalidRequest</Code><Message>no</Message></Error>"},
    };
    server s;
    server_start(&s, steps, 3);
    blob_store *b = client(s.port, 5000, 4);
    void *d = NULL;
    size_t n = 0;
    cr_err err = {0};
    CHECK(blob_get(b, "gone", &d, &n, &err) == CR_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "NoSuchKey") != NULL, "%s", err.msg);
    cr_err_clear(&err);
    CHECK(blob_delete(b, "locked", &err) == CR_ERR_AUTH);
    CHECK_MSG(strstr(err.msg, "AccessDenied") != NULL, "%s", err.msg);
    cr_err_clear(&err);
    CHECK(blob_put(b, "bad", "x", 1, NULL, &err) == CR_ERR_INVALID);
    CHECK_INT_EQ(s.served, 3);
    CHECK_STR_EQ(s.log,
                 "GET /bkt/gone HTTP/1.1\nDELETE /bkt/locked HTTP/1.1\nPUT /bkt/bad HTTP/1.1\n");
    blob_close(b);
    server_stop(&s);
}

static void test_multipart_abort(void)
{
    step steps[] = {
        {200, NULL,
         "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key>"
         "<UploadId>U-1&amp;2</UploadId></InitiateMultipartUploadResult>"},
        {200, "ETag: \"etag-1\"\r\n", ""},
        {400, NULL, "<Error><Code>EntityTooSmall</Code></Error>"},
        {204, NULL, ""},
    };
    server s;
    server_start(&s, steps, 4);
    blob_store *b = client(s.port, 5000, 4);
    char path[] = "/tmp/crease-fault-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    /* BLOB_MULTIPART_MIN + 1 bytes: 3 parts of 8 MiB (the last one 1 byte) */
    CHECK(ftruncate(fd, (off_t)BLOB_MULTIPART_MIN + 1) == 0);
    close(fd);
    cr_err err = {0};
    CHECK(blob_put_file(b, "big", path, NULL, &err) == CR_ERR_INVALID);
    CHECK_MSG(strstr(err.msg, "EntityTooSmall") != NULL, "%s", err.msg);
    CHECK_STR_EQ(s.log, "POST /bkt/big?uploads= HTTP/1.1\n"
                        "PUT /bkt/big?partNumber=1&uploadId=U-1%262 HTTP/1.1\n"
                        "PUT /bkt/big?partNumber=2&uploadId=U-1%262 HTTP/1.1\n"
                        "DELETE /bkt/big?uploadId=U-1%262 HTTP/1.1\n");
    unlink(path);
    blob_close(b);
    server_stop(&s);
}

static void test_refused(void)
{
    /* a port nobody listens on: bind one, close it, use it */
    server s;
    step none[] = {{200, NULL, ""}};
    server_start(&s, none, 1);
    int port = s.port;
    server_stop(&s);
    blob_store *b = client(port, 1000, 2);
    cr_err err = {0};
    blob_info info;
    CHECK(blob_head(b, "k", &info, &err) == CR_ERR_NET);
    CHECK_MSG(strstr(err.msg, "(3 tries)") != NULL, "%s", err.msg);
    blob_close(b);
}

int main(void)
{
    test_retry_then_ok();
    test_429();
    test_gives_up();
    test_timeout();
    test_not_retried();
    test_multipart_abort();
    test_refused();
    return check_exit();
}
