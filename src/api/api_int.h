/*
 * api_int.h -- what the files of the API module share (api.h is the public contract).
 *
 *   server.c       the server's lifetime: api_server_start / _stop (socket, stores,
 *                  daemon, workers)
 *   http.c         libmicrohttpd: the daemon, request bodies, connection limits and
 *                  the response helpers below
 *   routes.c       the JSON routes (/api/..., /health, /metrics), auth and owners
 *   blob_server.c  /blobs/: the local blob backend's presigned URLs
 *   workers.c      the worker threads of the embedded shape
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
#include "core/buf.h"
#include "blob/blob.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#define API_PREFIX "/api/coaches/plus/"

typedef struct api_worker api_worker; /* workers.c */

/* Per-subject token buckets on job creation (ratelimit.c). */
#define API_RATE_SLOTS 1024
typedef struct api_rate_bucket {
    int used;
    char sub[API_JWT_SUB_MAX];
    double tokens, at; /* tokens at time `at` (seconds) */
} api_rate_bucket;
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
    int port;
    store *st;
    pthread_mutex_t st_lock; /* held around every use of st */
    blob_store *blob;
    volatile sig_atomic_t stop_workers;
    api_worker *workers;
    int n_workers;
    uint64_t upload_max;
    api_rate job_rate; /* initiate, per token subject */
};

enum api_req_kind { API_REQ_API = 0, API_REQ_BLOB_PUT = 1, API_REQ_OTHER = 2 };

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

/* Starts the daemon on the listening socket `fd`, which it takes in every case (MHD
 * may close it on a failed start: the caller never closes it).  CR_ERR_IO when the
 * daemon does not start. */
cr_status api_http_start(api_server *s, int fd, cr_err *err);

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

/* A request under API_PREFIX, whole body in: auth, then the route. */
enum MHD_Result api_route_api(api_server *s, struct MHD_Connection *c, const char *url,
                              const char *method, api_request *rq);
enum MHD_Result api_route_health(api_server *s, struct MHD_Connection *c);
/* The session routes (sessions.c): `rest` is what follows "sessions" in the path. */
enum MHD_Result api_route_sessions(api_server *s, struct MHD_Connection *c, const char *rest,
                                   const char *method, const api_request *rq, const char *sub);
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
enum MHD_Result api_route_metrics(api_server *s, struct MHD_Connection *c);

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

/* ---- workers.c --------------------------------------------------------------------- */

/* Starts n chunk-worker threads and one analysis-worker thread on s->cfg, stopped by
 * s->stop_workers.  On failure none is left running. */
cr_status api_workers_start(api_server *s, int n, cr_err *err);
/* Sets s->stop_workers and joins the threads (each finishes or releases what it
 * holds).  No-op when none was started. */
void api_workers_stop(api_server *s);

#endif
