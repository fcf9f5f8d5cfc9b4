/*
 * api_int.h -- what the files of the API module share (api.h is the public contract).
 *
 *   server.c       the server's lifetime: api_server_start / _stop (socket, stores,
 *                  daemon, workers)
 *   http.c         libmicrohttpd: the gate that accepts connections and answers 400
 *                  to those that do not begin a request, the daemon, request bodies,
 *                  connection limits and the response helpers below
 *   routes.c       the route table and its dispatcher, auth, owners, the job routes
 *   sessions.c     the session routes
 *   blob_server.c  /blobs/: the local blob backend's presigned URLs
 *   metrics.c      one /metrics scrape, the /readyz check (serve and the monitor)
 *   gpu.c          GPU gauges through NVML, opened with dlopen when present
 *   monitor.c      a worker's metrics port (api_monitor_start)
 *   web.c          the coach's web page: GET / and /web/ (web/, embedded at build time)
 *   workers.c      the worker threads of the embedded shape
 *   openapi.json   the OpenAPI document, compiled in as api_openapi_json
 *   web/           the web page's files, compiled in as api_web_*
 *
 * Request life in MHD: the access handler is called once with the headers
 * (*con_cls == NULL: http.c allocates an `api_request`), then once per body piece
 * (*upload_data_size > 0: it is consumed), then once more with no data: the request
 * is answered.  Bodies of JSON routes are kept in memory up to API_BODY_MAX (beyond
 * that they are drained and answered 413); uploads to /blobs/ stream into a temporary
 * file that blob_put_file stores.  The request is freed by the completion callback.
 *
 * Threads: the functions of http.c, routes.c and blob_server.c run on the
 * connections' threads and use the store only under st_lock; those of server.c and
 * workers.c run on the thread that starts or stops the server.
 */
#ifndef CR_API_API_INT_H
#define CR_API_API_INT_H

#include "api/api.h"
#include "blob/blob.h"
#include "core/buf.h"
#include "core/metrics.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#define API_PREFIX "/api/coaches/plus/"

typedef struct api_worker api_worker; /* workers.c */
typedef struct api_gpu api_gpu;       /* gpu.c */
typedef struct api_gate api_gate;     /* http.c: accepts connections for the daemon */

/* Per-subject token buckets on job creation (ratelimit.c). */
#define API_RATE_SLOTS 1024
typedef struct api_rate_bucket {
    int used;
    char sub[API_JWT_SUB_MAX];
    double tokens, at; /* tokens at time `at` (seconds) */
} api_rate_bucket;
/* Longest Content-Security-Policy of the web page (web.c). */
#define API_WEB_CSP_MAX 1024

typedef struct api_rate {
    pthread_mutex_t lock;
    double per_second, burst; /* per_second 0 = no limit */
    api_rate_bucket slots[API_RATE_SLOTS];
} api_rate;
void api_rate_init(api_rate *r, double per_minute, double burst);
void api_rate_destroy(api_rate *r);
/* 1 when `sub` may create a job at `now` (seconds, any monotonic clock): a token is
 * taken.  0 when not: *retry_after = seconds until one is there. */
int api_rate_take(api_rate *r, const char *sub, double now, double *retry_after);

struct api_server {
    cr_config cfg;
    struct MHD_Daemon *daemon;
    api_gate *gate;
    int port;
    store *st;
    pthread_mutex_t st_lock; /* held around every use of st */
    blob_store *blob;
    volatile sig_atomic_t stop_workers;
    api_worker *workers;
    int n_workers;
    pose_models *models; /* the embedded workers' pose models, loaded once */
    uint64_t upload_max;
    api_rate job_rate;   /* initiate, per token subject */
    cr_metrics *metrics; /* this process's registry (the embedded workers record here) */
    api_gpu *gpu;        /* NULL without NVML */
    /* The web page's Content-Security-Policy (api_web_init). */
    char web_csp[API_WEB_CSP_MAX];
};

enum api_req_kind { API_REQ_API = 0, API_REQ_BLOB_PUT = 1 };

/* One request in flight (MHD's *con_cls). */
typedef struct api_request {
    enum api_req_kind kind;
    cr_buf body; /* a JSON route's body, up to API_BODY_MAX */
    int too_large;
    /* uploads */
    int fd;
    char tmp[256];
    uint64_t written;
    int write_failed;
} api_request;

/* ---- http.c ------------------------------------------------------------------------ */

/* Starts the daemon and the gate thread that accepts on the listening socket `fd`
 * (which it takes in every case: the caller never closes it) and hands MHD the
 * connections whose first bytes begin a request line (http.c explains why).
 * CR_ERR_IO when either does not start; then nothing is left running. */
cr_status api_http_start(api_server *s, int fd, cr_err *err);
/* Stops the gate (closing the listening socket and the connections waiting there),
 * then the daemon (waiting for its connections).  Safe on a partly started server. */
void api_http_stop(api_server *s);

/* A listening TCP socket on bind_addr:port (port 0: a free one); *port_out gets the
 * port.  CR_ERR_INVALID for a bad address or port, CR_ERR_IO when it cannot listen. */
cr_status api_listen(const char *bind_addr, int port, int *fd_out, int *port_out, cr_err *err);

/* Responses.  Each returns what MHD_queue_response returned (MHD_NO when the response
 * could not be made). */
enum MHD_Result api_send_text(struct MHD_Connection *c, unsigned code, const char *ctype,
                              const char *body, size_t n);
/* Sends `j` (reference stolen; NULL answers 500 "out of memory"). */
enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned code, json_t *j);
/* {"error": msg} */
/* An error answer with a Retry-After header (seconds, as text). */
enum MHD_Result api_send_error_retry(struct MHD_Connection *c, unsigned code, const char *msg,
                                     const char *retry_after);
enum MHD_Result api_send_error(struct MHD_Connection *c, unsigned code, const char *msg);
/* An error answer with one more header (hname: hvalue). */
enum MHD_Result api_send_error_header(struct MHD_Connection *c, unsigned code, const char *msg,
                                      const char *hname, const char *hvalue);
/* An HTTP status for a store/blob failure. */
unsigned api_status_http(cr_status s);
/* A store/blob failure: 4xx with the message; 5xx logged, with a generic message. */
enum MHD_Result api_send_status(struct MHD_Connection *c, cr_status s, const cr_err *e);

int api_starts_with(const char *s, const char *prefix);

/* A piece of the body of a JSON route: appended to rq->body up to API_BODY_MAX in all;
 * past that the body is dropped and rq->too_large set (the rest is drained).  MHD_NO
 * only when memory runs out. */
enum MHD_Result api_request_body(api_request *rq, const char *upload_data, size_t n);

/* ---- routes.c ---------------------------------------------------------------------- */

#define API_PARAMS 2       /* path parameters of a route, at most */
#define API_PARAM_MAX 1024 /* bytes kept of one (+ NUL); longer ones are cut and flagged */

/* What a handler gets: the request and what the dispatcher parsed off it. */
typedef struct api_call {
    const char *url, *method;
    api_request *rq;
    char sub[API_JWT_SUB_MAX];             /* the token's subject (API_ROUTE_AUTH routes) */
    char param[API_PARAMS][API_PARAM_MAX]; /* the path template's {...} segments, in order */
    int param_too_long[API_PARAMS];
} api_call;

typedef enum MHD_Result (*api_handler)(api_server *s, struct MHD_Connection *c, const api_call *k);

#define API_ROUTE_AUTH 1u        /* needs a bearer token (checked before the method) */
#define API_ROUTE_LOCAL_BLOBS 2u /* exists only with the local blob backend */
#define API_ROUTE_UPLOAD 4u      /* the body streams to a file (blob_server.c), not memory */
#define API_ROUTE_REST 8u        /* the last {param} takes the rest of the path, '/' too */

typedef struct api_route {
    const char *method; /* "GET", "POST", "PUT" */
    const char *path;   /* an OpenAPI path template: "/api/coaches/plus/analysis-jobs/{job_id}" */
    unsigned flags;
    api_handler fn;
} api_route;

/* The table: every route of the server (routes.c). */
extern const api_route api_routes[];
extern const int api_routes_n;

/* Whether route `r` exists on this server (API_ROUTE_LOCAL_BLOBS). */
int api_route_available(const api_server *s, const api_route *r);
/* The route answering `method` on the path `url`, or NULL. */
const api_route *api_route_find(const api_server *s, const char *url, const char *method);
/* Answers a request whose body is in: 404 when no route has the path, 401 when the
 * path's routes need a token and it is missing or bad, 405 (with Allow) when none has
 * the method, 413 when an API body was too large, else the route's handler. */
enum MHD_Result api_dispatch(api_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, api_request *rq);

enum MHD_Result api_route_health(api_server *s, struct MHD_Connection *c);
/* The session routes (sessions.c); {session_id} is k->param[0]. */
enum MHD_Result api_session_create(api_server *s, struct MHD_Connection *c, const api_call *k);
enum MHD_Result api_session_list(api_server *s, struct MHD_Connection *c, const api_call *k);
enum MHD_Result api_session_get(api_server *s, struct MHD_Connection *c, const api_call *k);
enum MHD_Result api_session_jobs(api_server *s, struct MHD_Connection *c, const api_call *k);
/* Shared by the routes (routes.c). */
/* api_body_parse as the routes use it: NULL after answering 400. */
json_t *api_body_object(struct MHD_Connection *c, const api_request *rq, enum MHD_Result *ret);

/* Request bodies, read without a connection (the routes call these on the bytes they
 * received; so do the fuzz targets).  The bytes are untrusted: anything gives an
 * answer, never a crash.
 *
 * A body as a JSON object: a new reference; an empty body is {}.  NULL when the bytes
 * are not one JSON object (duplicate keys count as malformed) or memory ran out. */
json_t *api_body_parse(const char *p, size_t n);
/* The fields of POST videos/upload/initiate (Cricksy's VideoUploadInitiateRequest plus
 * crease's deep_mode and title) into `po`, whose strings then point into `b`;
 * `gpu_default` (GPU_PROCESSING_ENABLED) is the mode when deep_mode is absent.  NULL,
 * or the message to answer 400 with (po is then partly filled). */
const char *api_initiate_fields(json_t *b, int gpu_default, pipeline_submit_opts *po);
/* The job_id of POST videos/upload/complete into `id` (not yet checked as an id:
 * load_own_job does that).  NULL, or the message to answer 400 with (id is then ""). */
const char *api_complete_fields(json_t *b, char id[STORE_ID_MAX]);
/* The fields of POST sessions into `sn` (title, notes, analysis_context, camera_view,
 * player_ids; its strings point into `b`, player_ids into *players_text, which the
 * caller frees with cr_free in every case).  CR_ERR_INVALID with the message to answer
 * 400 with, CR_ERR_NOMEM.  The store checks lengths and enums (store_session_create). */
cr_status api_session_fields(json_t *b, store_session_new *sn, char **players_text, cr_err *err);
json_t *api_job_json(api_server *s, const store_job *j, int full);
json_t *api_time_json(double epoch); /* ISO 8601 UTC; null for 0 */
/* 0 when `sub` owns the session (filled in *out), else the HTTP code to answer (404
 * for another coach's session as for a missing one). */
unsigned api_own_session(api_server *s, const char *session_id, const char *sub, store_session *out,
                         cr_err *err);

/* The OpenAPI 3 document (src/api/openapi.json), compiled in by the build. */
extern const unsigned char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* ---- metrics.c, gpu.c ------------------------------------------------------------------ */

/* What a scrape reads: the store (NULL = not connected) under `lock`, the blob store,
 * this process's registry, the GPU (may be NULL), and the process's role
 * ("serve", "chunk-worker", "analysis-worker") for crease_build_info. */
typedef struct api_scrape {
    store *st;
    pthread_mutex_t *lock;
    blob_store *blob;
    cr_metrics *reg;
    api_gpu *gpu;
    const char *role;
} api_scrape;

/* The whole /metrics text (see metrics.c for its parts). */
void api_metrics_write(const api_scrape *sc, cr_buf *out);
/* 0 when the database answers at the current schema and the blob store answers;
 * else -1 with the reason ("database: ...", "blob store (s3): ...") in reason[cap]. */
int api_ready(const api_scrape *sc, char *reason, size_t cap);
/* 200 {"status":"ready"}, or 503 {"status":"not ready","reason":...}. */
enum MHD_Result api_send_readiness(struct MHD_Connection *c, const api_scrape *sc);
/* 200 with api_metrics_write's text. */
enum MHD_Result api_send_metrics(struct MHD_Connection *c, const api_scrape *sc);

/* NVML through dlopen: NULL when libnvidia-ml.so.1 is absent or does not start. */
api_gpu *api_gpu_open(void);
void api_gpu_close(api_gpu *g); /* NULL is fine */
/* The GPU gauges, one sample per device; nothing when g is NULL. */
void api_gpu_write(api_gpu *g, cr_buf *out);

/* ---- blob_server.c ----------------------------------------------------------------- */

/* A PUT under BLOB_LOCAL_URL_PREFIX, headers only: checks the signature and the
 * announced size before accepting any bytes, then opens rq's temporary file (rq->tmp,
 * rq->fd; removed by the completion callback).  Returns MHD_YES to take the body, or
 * the answer queued when refused. */
enum MHD_Result api_blob_put_begin(api_server *s, struct MHD_Connection *c, const char *url,
                                   api_request *rq);
/* Appends a piece of the upload to the temporary file; past upload_max or after a
 * failed write the rest is drained and the answer decided by api_blob_put_done. */
void api_blob_put_data(api_server *s, api_request *rq, const char *data, size_t n);
/* The whole upload is in: stores it under the key (blob_put_file) and answers. */
enum MHD_Result api_blob_put_done(api_server *s, struct MHD_Connection *c, const char *url,
                                  api_request *rq);
/* A GET under BLOB_LOCAL_URL_PREFIX: checks the signature, streams the object. */
enum MHD_Result api_blob_get(api_server *s, struct MHD_Connection *c, const char *url);

/* ---- web.c ------------------------------------------------------------------------- */

/* Builds s->web_csp, the web page's Content-Security-Policy, with the origin of the
 * blob store's presigned URLs in connect-src (web.c says why).  Call once the blob
 * store is open; never fails (without an origin the policy allows 'self' only). */
void api_web_init(api_server *s);
/* The scheme://host[:port] of an absolute http(s) URL into out[cap]: 0, or -1 when the
 * URL is not one or its host has a character a CSP source cannot hold. */
int api_web_origin(const char *url, char *out, size_t cap);
/* GET / and /web/...: the embedded file of the route k->url, with the headers of
 * web.c (304 with no body when If-None-Match names its ETag). */
enum MHD_Result api_web_get(api_server *s, struct MHD_Connection *c, const api_call *k);

/* ---- workers.c --------------------------------------------------------------------- */

/* Starts n chunk-worker threads and one analysis-worker thread on s->cfg, stopped by
 * s->stop_workers.  On failure none is left running. */
cr_status api_workers_start(api_server *s, int n, cr_err *err);
/* Sets s->stop_workers and joins the threads (each finishes or releases what it
 * holds).  No-op when none was started. */
void api_workers_stop(api_server *s);

#endif
