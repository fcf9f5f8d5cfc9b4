/*
 * http.c -- the API's libmicrohttpd side: the daemon and its connection limits, the
 * life of a request (headers, body, answer, completion: see api_int.h), the request
 * bodies of the JSON routes, and the response helpers every route uses.  Which route
 * answers is decided here by the URL's first part; the routes themselves live in
 * routes.c and blob_server.c.
 */
#include "api/api_int.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
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

enum MHD_Result api_send_error_retry(struct MHD_Connection *c, unsigned code, const char *msg,
                                     const char *retry_after)
{
    json_t *j = json_pack("{s:s, s:s}", "detail", msg, "error", msg);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    enum MHD_Result ok = send_text(c, code, "application/json", text, strlen(text),
                                   MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    free(text);
    return ok;
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

static int is_blob_put(const char *url, const char *method)
{
    return strcmp(method, "PUT") == 0 && api_starts_with(url, BLOB_LOCAL_URL_PREFIX);
}

/* The headers are in: the request's kind; an upload is checked before its body. */
static enum MHD_Result request_begin(api_server *s, struct MHD_Connection *c, const char *url,
                                     const char *method, void **con_cls)
{
    api_request *rq = cr_calloc(1, sizeof *rq);
    if (rq == NULL)
        return MHD_NO;
    rq->fd = -1;
    rq->kind = api_starts_with(url, API_PREFIX)                           ? API_REQ_API
               : is_blob_put(url, method) && s->cfg.blob == CR_BLOB_LOCAL ? API_REQ_BLOB_PUT
                                                                          : API_REQ_OTHER;
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
    switch (rq->kind) {
    case API_REQ_API:
        return api_route_api(s, c, url, method, rq);
    case API_REQ_BLOB_PUT:
        return api_blob_put_done(s, c, url, rq);
    case API_REQ_OTHER:
        break;
    }
    int get = strcmp(method, "GET") == 0;
    if (strcmp(url, "/health") == 0)
        return get ? api_route_health(s, c)
                   : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (strcmp(url, "/metrics") == 0)
        return get ? api_route_metrics(s, c)
                   : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (api_starts_with(url, BLOB_LOCAL_URL_PREFIX) && s->cfg.blob == CR_BLOB_LOCAL) {
        if (get)
            return api_blob_get(s, c, url);
        return api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or PUT");
    }
    return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such route");
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

/* ---- the daemon ------------------------------------------------------------------ */

cr_status api_http_start(api_server *s, int fd, cr_err *err)
{
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)API_CONNECTIONS_PER_CLIENT,
        MHD_OPTION_END);
    if (s->daemon == NULL)
        return cr_err_set(err, CR_ERR_IO, "cannot start the HTTP daemon");
    return CR_OK;
}
