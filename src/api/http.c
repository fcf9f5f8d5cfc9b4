/*
 * http.c -- the API's libmicrohttpd side: the gate that accepts connections and judges
 * their first bytes, the daemon and its connection limits, the life of a request
 * (headers, body, answer, completion: see api_int.h), the request bodies of the JSON
 * routes, and the response helpers every route uses.  Which route answers is decided
 * by the route table (routes.c, api_dispatch); an upload route's body goes to
 * blob_server.c as it arrives.
 */
#define _GNU_SOURCE /* accept4, POLLRDHUP */
#include "api/api_int.h"
#include "core/log.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- responses ------------------------------------------------------------------ */

/* The answer `body` with its type and, when `hname` is not NULL, one more header. */
static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *ctype,
                                 const char *body, size_t n, const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname != NULL)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result api_send_text(struct MHD_Connection *c, unsigned code, const char *ctype,
                              const char *body, size_t n)
{
    return send_text(c, code, ctype, body, n, NULL, NULL);
}

enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return api_send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                             "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result ok = api_send_text(c, code, "application/json", s, strlen(s));
    free(s);
    return ok;
}

enum MHD_Result api_send_error_header(struct MHD_Connection *c, unsigned code, const char *msg,
                                      const char *hname, const char *hvalue)
{
    json_t *j = json_pack("{s:s, s:s}", "detail", msg, "error", msg);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    enum MHD_Result ok = send_text(c, code, "application/json", text, strlen(text), hname, hvalue);
    free(text);
    return ok;
}

enum MHD_Result api_send_error_retry(struct MHD_Connection *c, unsigned code, const char *msg,
                                     const char *retry_after)
{
    return api_send_error_header(c, code, msg, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
}

enum MHD_Result api_send_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    /* Cricksy's routes (FastAPI) answer {"detail": ...}; "error" is crease's older name. */
    return api_send_json(c, code, json_pack("{s:s, s:s}", "detail", msg, "error", msg));
}

unsigned api_status_http(cr_status s)
{
    switch (s) {
    case CR_ERR_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case CR_ERR_CONFLICT:
    case CR_ERR_CHANGED: /* the video was replaced while upload-complete checked it */
        return MHD_HTTP_CONFLICT;
    case CR_ERR_INVALID:
        return MHD_HTTP_BAD_REQUEST;
    case CR_ERR_DB:
    case CR_ERR_NET:
    case CR_ERR_TIMEOUT:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

enum MHD_Result api_send_status(struct MHD_Connection *c, cr_status s, const cr_err *e)
{
    unsigned code = api_status_http(s);
    if (code >= 500) {
        cr_log_error("api.error", "%s", cr_err_msg(e));
        return api_send_error(c, code, code == 503 ? "service unavailable" : "internal error");
    }
    return api_send_error(c, code, cr_err_msg(e));
}

int api_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- requests -------------------------------------------------------------------- */

/* The headers are in: the request's kind (an upload route of the table streams its
 * body to a file, checked before the first byte); everything else is buffered. */
static enum MHD_Result request_begin(api_server *s, struct MHD_Connection *c, const char *url,
                                     const char *method, void **con_cls)
{
    api_request *rq = cr_calloc(1, sizeof *rq);
    if (rq == NULL)
        return MHD_NO;
    rq->fd = -1;
    const api_route *r = api_route_find(s, url, method);
    rq->kind = r != NULL && (r->flags & API_ROUTE_UPLOAD) ? API_REQ_BLOB_PUT : API_REQ_API;
    *con_cls = rq;
    if (rq->kind == API_REQ_BLOB_PUT)
        return api_blob_put_begin(s, c, url, rq);
    return MHD_YES;
}

enum MHD_Result api_request_body(api_request *rq, const char *upload_data, size_t n)
{
    if (rq->too_large)
        return MHD_YES;
    if (rq->body.len + n > API_BODY_MAX) {
        rq->too_large = 1;
        cr_buf_release(&rq->body);
        return MHD_YES;
    }
    return cr_buf_add(&rq->body, upload_data, n) == CR_OK ? MHD_YES : MHD_NO;
}

/* The whole request is in: answer. */
static enum MHD_Result request_answer(api_server *s, struct MHD_Connection *c, const char *url,
                                      const char *method, api_request *rq)
{
    if (rq->kind == API_REQ_BLOB_PUT)
        return api_blob_put_done(s, c, url, rq);
    return api_dispatch(s, c, url, method, rq);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api_server *s = cls;
    api_request *rq = *con_cls;
    if (rq == NULL)
        return request_begin(s, c, url, method, con_cls);
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->kind == API_REQ_BLOB_PUT) {
            api_blob_put_data(s, rq, upload_data, n);
            return MHD_YES;
        }
        return api_request_body(rq, upload_data, n);
    }
    return request_answer(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    api_request *rq = *con_cls;
    if (rq == NULL)
        return;
    if (rq->fd >= 0)
        close(rq->fd);
    if (rq->tmp[0])
        unlink(rq->tmp);
    cr_buf_release(&rq->body);
    cr_free(rq);
    *con_cls = NULL;
}

/* ---- the gate: a connection's first bytes, before MHD ---------------------------
 *
 * libmicrohttpd 0.9.75 (Debian 12) cuts a request line at CR LF and, when the line's
 * first byte is NUL, takes it for an empty line: RFC 9112 §2.2 lets a server skip empty
 * lines before a request, and MHD tests the line's first byte against 0
 * (MHD_connection_handle_idle, states INIT and REQ_LINE_RECEIVING).  So
 * "\0GET / HTTP/1.1\r\n\r\n" is two skipped lines, and the connection waits for a
 * request until the idle timeout (API_IDLE_S) with no answer; a line that does not
 * parse ("garbage", a TLS hello) is closed without one.  No callback of MHD runs
 * before a request line has parsed (the access handler, the URI log callback), and
 * the connection-start notification runs on MHD's accepting thread, where nothing may
 * wait for bytes.  So the answer comes before MHD sees the connection: the gate
 * thread accepts connections itself, looks at their first bytes without consuming
 * them (MSG_PEEK) until they can be judged, and
 *   - hands the connection to MHD (MHD_add_connection; the daemon runs with
 *     MHD_USE_NO_LISTEN_SOCKET), which then reads the same bytes from the start, when
 *     they begin like a request line: empty lines (CR, LF) if any, a method of 1 to
 *     GATE_METHOD_MAX token characters (RFC 9110 §5.6.2) and a space;
 *   - answers 400 (JSON, as every error of the API) and closes it when they cannot:
 *     a NUL, or any other byte that is not a token character, before the method's
 *     space; a method too long; GATE_PEEK bytes without a method; or an incomplete
 *     method after which the client stopped sending;
 *   - closes a connection that sent nothing for API_IDLE_S, as MHD would.
 * At most API_CONNECTIONS_MAX connections wait at the gate, at most
 * API_CONNECTIONS_PER_CLIENT from one address (silent connections of one client cannot
 * fill it; more from that address are closed), and MHD applies the same two limits to
 * the connections it is given.
 * What the gate cannot see: the requests after the first on a kept-alive connection,
 * which MHD reads itself; a later request line that starts with NUL is still skipped
 * there, and that connection is closed after API_IDLE_S without an answer.  Reaching
 * those would need another request parser than MHD 0.9.75's. */

/* The bytes judged: a few empty lines, a method of GATE_METHOD_MAX and its space. */
#define GATE_PEEK 64
/* The longest method taken: twice the longest registered one (UPDATEREDIRECTREF, 17
 * characters, IANA HTTP Method Registry). */
#define GATE_METHOD_MAX 32
/* A connection whose first bytes end inside the method is looked at again after
 * GATE_REPEEK_MS, then twice as long each time up to GATE_REPEEK_MAX_MS (poll would
 * report its unread bytes at once, over and over): a client that splits its first
 * line waits 20 ms, one that stalls in it costs a few looks a second. */
#define GATE_REPEEK_MS 20
#define GATE_REPEEK_MAX_MS 500
/* After accept fails for want of descriptors, the listening socket rests this long. */
#define GATE_ACCEPT_PAUSE_MS 100

#define BAD_REQUEST_BODY                                                                           \
    "{\"detail\":\"malformed request line\",\"error\":\"malformed request line\"}"

typedef struct gate_conn {
    int fd;
    struct sockaddr_in addr;
    double deadline;  /* monotonic seconds: closed if still silent then */
    double next_peek; /* > 0: a partial method, looked at again then */
    int repeek_ms;    /* the wait before the next look after this one */
} gate_conn;

struct api_gate {
    struct MHD_Daemon *daemon;
    int listen_fd;
    int wake[2]; /* api_http_stop writes to wake[1] */
    pthread_t thread;
    int running;
    double accept_pause; /* monotonic seconds before which nothing is accepted */
    int n;
    gate_conn conns[API_CONNECTIONS_MAX];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef enum gate_verdict { GATE_OK, GATE_MORE, GATE_BAD } gate_verdict;

/* RFC 9110 §5.6.2: tchar. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Whether b[0..n) can begin a request: GATE_OK once a method and its space are in. */
static gate_verdict request_start(const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i < n && (b[i] == '\r' || b[i] == '\n'))
        i++;
    size_t m = 0;
    for (; i < n; i++, m++) {
        if (b[i] == ' ')
            return m > 0 ? GATE_OK : GATE_BAD;
        if (!is_tchar(b[i]) || m >= GATE_METHOD_MAX)
            return GATE_BAD;
    }
    return n >= GATE_PEEK ? GATE_BAD : GATE_MORE;
}

static void gate_remove(api_gate *g, int i)
{
    g->conns[i] = g->conns[--g->n];
}

/* Answers 400 and closes.  What the client sent is read first: closing a socket with
 * unread bytes makes the kernel reset the connection, and the client could lose the
 * answer. */
static void gate_refuse(gate_conn *c)
{
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s";
    char buf[512];
    int n = snprintf(buf, sizeof buf, resp, strlen(BAD_REQUEST_BODY), BAD_REQUEST_BODY);
    char sink[4096];
    for (int k = 0; k < 16 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++)
        ;
    if (send(c->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
        cr_log_debug("api.gate", "the 400 answer was not sent whole");
    shutdown(c->fd, SHUT_WR);
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &c->addr.sin_addr, ip, sizeof ip);
    cr_log_warn("api.bad_request_line", "from %s: not an HTTP request line: answered 400", ip);
    close(c->fd);
}

/* Looks at connection i's first bytes (revents: what poll said of it) and hands it on,
 * refuses it, or keeps it waiting. */
static void gate_judge(api_gate *g, int i, short revents, double now)
{
    gate_conn *c = &g->conns[i];
    unsigned char b[GATE_PEEK];
    ssize_t n = recv(c->fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->next_peek = 0; /* nothing yet: wait for bytes */
        return;
    }
    if (n <= 0) { /* closed before sending anything, or failed */
        close(c->fd);
        gate_remove(g, i);
        return;
    }
    gate_verdict v = request_start(b, (size_t)n);
    if (v == GATE_MORE && (revents & (POLLRDHUP | POLLHUP)))
        v = GATE_BAD; /* the client stopped sending in the middle of a method */
    if (v == GATE_MORE) {
        int wait = c->repeek_ms > 0 ? c->repeek_ms : GATE_REPEEK_MS;
        c->next_peek = now + wait / 1000.0;
        c->repeek_ms = wait * 2 < GATE_REPEEK_MAX_MS ? wait * 2 : GATE_REPEEK_MAX_MS;
        return;
    }
    if (v == GATE_BAD) {
        gate_refuse(c);
        gate_remove(g, i);
        return;
    }
    /* MHD takes the socket whatever it answers: on MHD_NO (its connection limits, or
     * no memory) it has closed it. */
    if (MHD_add_connection(g->daemon, c->fd, (const struct sockaddr *)&c->addr, sizeof c->addr) !=
        MHD_YES)
        cr_log_debug("api.gate", "connection not taken by the daemon: %s", strerror(errno));
    gate_remove(g, i);
}

/* Accepts what the listening socket has, up to the gate's limits. */
static void gate_accept(api_gate *g, double now)
{
    while (g->n < API_CONNECTIONS_MAX) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        int fd = accept4(g->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                cr_log_warn("api.accept", "%s: pausing", strerror(errno));
                g->accept_pause = now + GATE_ACCEPT_PAUSE_MS / 1000.0;
            }
            return; /* EAGAIN: all taken */
        }
        int same = 0;
        for (int i = 0; i < g->n; i++)
            same += g->conns[i].addr.sin_addr.s_addr == a.sin_addr.s_addr;
        if (same >= API_CONNECTIONS_PER_CLIENT || al != sizeof a || a.sin_family != AF_INET) {
            close(fd);
            continue;
        }
        g->conns[g->n++] = (gate_conn){fd, a, now + API_IDLE_S, 0, 0};
    }
}

static void *gate_main(void *arg)
{
    api_gate *g = arg;
    struct pollfd pf[2 + API_CONNECTIONS_MAX];
    for (;;) {
        double now = mono_now();
        int np = 0, timeout = -1;
        pf[np++] = (struct pollfd){g->wake[0], POLLIN, 0};
        int listening = g->n < API_CONNECTIONS_MAX && now >= g->accept_pause;
        if (listening)
            pf[np++] = (struct pollfd){g->listen_fd, POLLIN, 0};
        else if (g->n < API_CONNECTIONS_MAX)
            timeout = (int)ceil((g->accept_pause - now) * 1000);
        int first = np;
        for (int i = 0; i < g->n; i++) {
            gate_conn *c = &g->conns[i];
            double until = c->deadline;
            if (c->next_peek > 0 && c->next_peek < until)
                until = c->next_peek;
            short ev = (short)(c->next_peek > 0 ? POLLRDHUP : POLLIN | POLLRDHUP);
            pf[np++] = (struct pollfd){c->fd, ev, 0};
            int ms = (int)ceil((until - now) * 1000);
            if (ms < 0)
                ms = 0;
            if (timeout < 0 || ms < timeout)
                timeout = ms;
        }
        if (poll(pf, (nfds_t)np, timeout) < 0 && errno != EINTR) {
            cr_log_error("api.gate", "poll: %s", strerror(errno));
            break;
        }
        if (pf[0].revents != 0)
            break; /* api_http_stop */
        now = mono_now();
        /* From the last: gate_remove moves the last connection into the slot it frees,
         * and that one has been seen already. */
        for (int i = g->n - 1; i >= 0; i--) {
            gate_conn *c = &g->conns[i];
            short re = pf[first + i].revents;
            if (re != 0 || (c->next_peek > 0 && now >= c->next_peek)) {
                gate_judge(g, i, re, now);
            } else if (now >= c->deadline) {
                close(c->fd);
                gate_remove(g, i);
            }
        }
        if (listening && (pf[1].revents & POLLIN))
            gate_accept(g, now);
    }
    return NULL;
}

/* ---- the daemon ------------------------------------------------------------------ */

cr_status api_listen(const char *bind_addr, int port, int *fd_out, int *port_out, cr_err *err)
{
    *fd_out = -1;
    if (port < 0 || port > 65535)
        return cr_err_set(err, CR_ERR_INVALID, "port must be 0..65535");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
        return cr_err_set(err, CR_ERR_INVALID, "bind address '%s' is not an IPv4 address",
                          bind_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        cr_status st =
            cr_err_set(err, CR_ERR_IO, "listen on %s:%d: %s", bind_addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port_out = ntohs(sa.sin_port);
    *fd_out = fd;
    return CR_OK;
}

cr_status api_http_start(api_server *s, int fd, cr_err *err)
{
    api_gate *g = cr_calloc(1, sizeof *g);
    if (g == NULL) {
        close(fd);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    g->listen_fd = fd;
    g->wake[0] = g->wake[1] = -1;
    s->gate = g;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        cr_status st =
            cr_err_set(err, CR_ERR_IO, "cannot start the HTTP gate: %s", strerror(errno));
        api_http_stop(s);
        return st;
    }
    /* No listening socket of its own: the gate hands it every connection. */
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
        0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)API_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)API_CONNECTIONS_PER_CLIENT, MHD_OPTION_END);
    if (s->daemon == NULL) {
        api_http_stop(s);
        return cr_err_set(err, CR_ERR_IO, "cannot start the HTTP daemon");
    }
    g->daemon = s->daemon;
    if (pthread_create(&g->thread, NULL, gate_main, g) != 0) {
        api_http_stop(s);
        return cr_err_set(err, CR_ERR_IO, "cannot start the HTTP gate thread");
    }
    g->running = 1;
    return CR_OK;
}

void api_http_stop(api_server *s)
{
    api_gate *g = s->gate;
    if (g != NULL) {
        if (g->running) {
            ssize_t w = write(g->wake[1], "x", 1);
            (void)w; /* a full pipe wakes the gate as well */
            pthread_join(g->thread, NULL);
        }
        for (int i = 0; i < g->n; i++)
            close(g->conns[i].fd);
        if (g->listen_fd >= 0)
            close(g->listen_fd);
        for (int i = 0; i < 2; i++)
            if (g->wake[i] >= 0)
                close(g->wake[i]);
        cr_free(g);
        s->gate = NULL;
    }
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon); /* waits for the connections' threads */
    s->daemon = NULL;
}
