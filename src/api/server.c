/*
 * server.c -- the HTTP API on libmicrohttpd (routes, auth and owners: see api.h).
 *
 * Request life in MHD: the access handler is called once with the headers
 * (*con_cls == NULL: we allocate a `request`), then once per body piece
 * (*upload_data_size > 0: we consume it), then once more with no data: we answer.
 * Bodies of JSON routes are kept in memory up to API_BODY_MAX (beyond that they are
 * drained and answered 413); uploads to /blobs/ stream into a temporary file that
 * blob_put_file stores.  The request is freed by the completion callback.
 */
#include "api/api.h"
#include "blob/blob.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define API_PREFIX "/api/coaches/plus/"

/* Connections served at once (one thread each); more wait in the listen backlog.
 * Ours: requests are short except uploads, and a thread costs its stack. */
#define API_CONNECTIONS_MAX 256

typedef struct worker_thread {
    api_server *srv;
    int analysis; /* 1: the analysis worker */
    char name[96];
    pthread_t tid;
    int started;
    cr_status st;
    cr_err err;
} worker_thread;

struct api_server {
    cr_config cfg;
    struct MHD_Daemon *daemon;
    int port;
    store *st;
    pthread_mutex_t st_lock;
    blob_store *blob;
    volatile sig_atomic_t stop_workers;
    worker_thread *workers;
    int n_workers;
    uint64_t upload_max;
};

enum req_kind { REQ_API = 0, REQ_BLOB_PUT = 1, REQ_OTHER = 2 };

typedef struct request {
    enum req_kind kind;
    char *body;
    size_t len, cap;
    int too_large;
    /* uploads */
    int fd;
    char tmp[256];
    uint64_t written;
    int write_failed;
} request;

/* ---- responses ------------------------------------------------------------------ */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *ctype,
                                 const char *body, size_t n)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

/* Sends `j` (reference stolen). */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                         "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result ok = send_text(c, code, "application/json", s, strlen(s));
    free(s);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    return send_json(c, code, json_pack("{s:s}", "error", msg));
}

/* An HTTP status for a store/blob failure. */
static unsigned status_http(cr_status s)
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

static enum MHD_Result send_status(struct MHD_Connection *c, cr_status s, const cr_err *e)
{
    unsigned code = status_http(s);
    if (code >= 500) {
        cr_log_error("api.error", "%s", cr_err_msg(e));
        return send_error(c, code, code == 503 ? "service unavailable" : "internal error");
    }
    return send_error(c, code, cr_err_msg(e));
}

/* ---- owners ---------------------------------------------------------------------- */

static cr_status owner_key(const char *session_id, char *out, size_t cap, cr_err *err)
{
    if (!blob_id_valid(session_id))
        return cr_err_set(err, CR_ERR_INVALID, "bad session id");
    int n = snprintf(out, cap, "coach_plus/sessions/%s/owner.json", session_id);
    if (n < 0 || (size_t)n >= cap)
        return cr_err_set(err, CR_ERR_LIMIT, "key too long");
    return CR_OK;
}

static cr_status owner_put(api_server *s, const char *session_id, const char *sub, cr_err *err)
{
    char key[BLOB_KEY_MAX + 1];
    cr_status st = owner_key(session_id, key, sizeof key, err);
    if (st != CR_OK)
        return st;
    json_t *j = json_pack("{s:s, s:I}", "owner", sub, "created_at", (json_int_t)time(NULL));
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (txt == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    st = blob_put(s->blob, key, txt, strlen(txt), "application/json", err);
    free(txt);
    return st;
}

/* 1 when `sub` owns the session, 0 when not (or no owner recorded), -1 on error. */
static int owner_is(api_server *s, const char *session_id, const char *sub, cr_err *err)
{
    char key[BLOB_KEY_MAX + 1];
    if (owner_key(session_id, key, sizeof key, err) != CR_OK)
        return 0;
    void *data = NULL;
    size_t n = 0;
    cr_err e = {0};
    cr_status st = blob_get(s->blob, key, &data, &n, &e);
    if (st == CR_ERR_NOT_FOUND)
        return 0;
    if (st != CR_OK) {
        cr_err_set(err, st, "%s", cr_err_msg(&e));
        return -1;
    }
    json_t *j = json_loadb(data, n, 0, NULL);
    cr_free(data);
    json_t *o = json_object_get(j, "owner");
    int yes = json_is_string(o) && strcmp(json_string_value(o), sub) == 0;
    json_decref(j);
    return yes;
}

/* ---- jobs as JSON ---------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *job_json(api_server *s, const store_job *j, int full)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "job_id", json_string(j->id));
    json_object_set_new(o, "session_id", json_string(j->session_id));
    json_object_set_new(o, "status", json_string(j->status));
    json_object_set_new(o, "stage", str_or_null(j->stage));
    json_object_set_new(o, "progress_pct", json_integer(j->progress_pct));
    json_object_set_new(o, "deep_mode", str_or_null(j->deep_mode));
    json_object_set_new(o, "analysis_mode", str_or_null(j->analysis_mode));
    json_object_set_new(o, "total_chunks", json_integer(j->total_chunks));
    json_object_set_new(o, "completed_chunks", json_integer(j->completed_chunks));
    json_object_set_new(o, "video_duration_seconds", json_real(j->video_duration_seconds));
    json_object_set_new(o, "error_message", str_or_null(j->error_message));
    json_object_set_new(o, "created_at", json_real(j->created_at));
    json_object_set_new(o, "updated_at", json_real(j->updated_at));
    if (!full)
        return o;

    char *res = NULL;
    cr_err e = {0};
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_job_results(s->st, j->id, &res, &e);
    pthread_mutex_unlock(&s->st_lock);
    json_t *rj = NULL;
    if (st == CR_OK && res != NULL)
        rj = json_loads(res, 0, NULL);
    cr_free(res);
    json_object_set_new(o, "results", rj ? rj : json_null());

    json_t *fu = json_null(), *ru = json_null();
    if (strcmp(j->status, STORE_JOB_DONE) == 0) {
        char key[BLOB_KEY_MAX + 1];
        char *url = NULL;
        if (blob_key_final_results(j->session_id, j->id, key, sizeof key, &e) == CR_OK &&
            blob_presign(s->blob, key, BLOB_GET, API_PRESIGN_S, &url, &e) == CR_OK) {
            json_decref(fu);
            fu = json_string(url);
            cr_free(url);
        }
        url = NULL;
        if (blob_key_report(j->session_id, j->id, key, sizeof key, &e) == CR_OK &&
            blob_presign(s->blob, key, BLOB_GET, API_PRESIGN_S, &url, &e) == CR_OK) {
            json_decref(ru);
            ru = json_string(url);
            cr_free(url);
        }
    }
    json_object_set_new(o, "final_results_url", fu);
    json_object_set_new(o, "report_url", ru);
    return o;
}

/* Loads a job the caller owns; 0 and *code = 0 when it is theirs, else the HTTP
 * answer has been decided in *code / err. */
static unsigned load_own_job(api_server *s, const char *job_id, const char *sub, store_job *job,
                             cr_err *err)
{
    if (!blob_id_valid(job_id) || strlen(job_id) >= STORE_ID_MAX) {
        cr_err_set(err, CR_ERR_INVALID, "bad job id");
        return MHD_HTTP_BAD_REQUEST;
    }
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_job_get(s->st, job_id, job, err);
    pthread_mutex_unlock(&s->st_lock);
    if (st == CR_ERR_NOT_FOUND) {
        return MHD_HTTP_NOT_FOUND;
    }
    if (st != CR_OK)
        return status_http(st);
    int own = owner_is(s, job->session_id, sub, err);
    if (own < 0)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    if (!own) {
        cr_err_clear(err);
        cr_err_set(err, CR_ERR_NOT_FOUND, "job not found");
        return MHD_HTTP_NOT_FOUND;
    }
    return 0;
}

static enum MHD_Result send_load_error(struct MHD_Connection *c, unsigned code, const cr_err *e)
{
    if (code == MHD_HTTP_NOT_FOUND)
        return send_error(c, code, "job not found");
    if (code >= 500) {
        cr_log_error("api.error", "%s", cr_err_msg(e));
        return send_error(c, code, "service unavailable");
    }
    return send_error(c, code, cr_err_msg(e));
}

/* ---- routes ---------------------------------------------------------------------- */

/* Parses the body as a JSON object ("" = {}); NULL after answering 400. */
static json_t *body_object(struct MHD_Connection *c, const request *rq, enum MHD_Result *ret)
{
    if (rq->len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

static int mode_valid(const char *m)
{
    static const char *const modes[] = {"batting", "bowling", "wicketkeeping", "fielding"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(m, modes[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result route_initiate(api_server *s, struct MHD_Connection *c, const request *rq,
                                      const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    json_t *fn = json_object_get(b, "filename");
    json_t *am = json_object_get(b, "analysis_mode");
    const char *mode = NULL;
    if (fn != NULL && !json_is_null(fn) && (!json_is_string(fn) || json_string_length(fn) > 255)) {
        json_decref(b);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "filename must be a string of <= 255 bytes");
    }
    if (am != NULL && !json_is_null(am)) {
        if (!json_is_string(am) || !mode_valid(json_string_value(am))) {
            json_decref(b);
            return send_error(c, MHD_HTTP_BAD_REQUEST,
                              "analysis_mode must be batting, bowling, wicketkeeping or fielding");
        }
        mode = json_string_value(am);
    }

    cr_err e = {0};
    char sid[37];
    pipeline_submission made;
    char *url = NULL;
    cr_status st = store_uuid(sid, &e);
    if (st == CR_OK)
        st = owner_put(s, sid, sub, &e);
    if (st == CR_OK) {
        pipeline_submit_opts po = {sid, NULL, mode, s->cfg.gpu_processing_enabled};
        st = pipeline_submit(&s->cfg, s->blob, s->st, &s->st_lock, &po, &made, &e);
    }
    if (st == CR_OK)
        st = blob_presign(s->blob, made.video_key, BLOB_PUT, API_PRESIGN_S, &url, &e);
    json_decref(b);
    if (st != CR_OK)
        return send_status(c, st, &e);
    cr_log_info("api.initiate", "job=%s session=%s", made.job_id, sid);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "job_id", made.job_id, "session_id", sid,
                          "upload_url", url, "s3_key", made.video_key, "expires_in", API_PRESIGN_S);
    cr_free(url);
    return send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_complete(api_server *s, struct MHD_Connection *c, const request *rq,
                                      const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    json_t *jid = json_object_get(b, "job_id");
    if (!json_is_string(jid)) {
        json_decref(b);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "job_id (string) is required");
    }
    char id[STORE_ID_MAX];
    snprintf(id, sizeof id, "%s", json_string_value(jid));
    int id_ok = json_string_length(jid) < sizeof id;
    json_decref(b);
    if (!id_ok)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad job id");

    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    pipeline_upload up;
    cr_status st = pipeline_complete_upload(&s->cfg, s->blob, s->st, &s->st_lock, job.id, &up, &e);
    if (st != CR_OK && up.video_rejected) {
        cr_log_warn("api.bad_video", "job=%s: %s", job.id, cr_err_msg(&e));
        return send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT, cr_err_msg(&e));
    }
    if (st != CR_OK)
        return send_status(c, st, &e);
    if (up.queued)
        cr_log_info("api.complete", "job=%s duration=%.2fs chunks=%d", up.job.id,
                    up.duration_seconds, up.job.total_chunks);
    return send_json(c, MHD_HTTP_OK, job_json(s, &up.job, 1));
}

static enum MHD_Result route_job(api_server *s, struct MHD_Connection *c, const char *id,
                                 const char *sub)
{
    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    return send_json(c, MHD_HTTP_OK, job_json(s, &job, 1));
}

static enum MHD_Result route_retry(api_server *s, struct MHD_Connection *c, const char *id,
                                   const char *sub)
{
    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    int requeued = 0;
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_job_retry(s->st, id, &requeued, &e);
    if (st == CR_OK)
        st = store_job_get(s->st, id, &job, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st == CR_ERR_CONFLICT)
        return send_error(c, MHD_HTTP_CONFLICT, "job is not failed");
    if (st != CR_OK)
        return send_status(c, st, &e);
    json_t *o = job_json(s, &job, 1);
    json_object_set_new(o, "requeued_chunks", json_integer(requeued));
    return send_json(c, MHD_HTTP_OK, o);
}

static int status_valid(const char *v)
{
    static const char *const all[] = {STORE_JOB_AWAITING_UPLOAD, STORE_JOB_QUEUED,
                                      STORE_JOB_QUICK_RUNNING,   STORE_JOB_QUICK_DONE,
                                      STORE_JOB_DEEP_RUNNING,    STORE_JOB_DONE,
                                      STORE_JOB_FAILED,          STORE_JOB_LEGACY_PROCESSING,
                                      STORE_JOB_LEGACY_COMPLETED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(v, all[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result route_list(api_server *s, struct MHD_Connection *c, const char *sub)
{
    const char *status = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    if (status != NULL && *status == '\0')
        status = NULL;
    if (status != NULL && !status_valid(status))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown status");
    store_job *jobs = cr_calloc(API_LIST_MAX, sizeof *jobs);
    char(*seen)[STORE_ID_MAX] = cr_calloc(API_LIST_MAX, sizeof *seen);
    int *seen_own = cr_calloc(API_LIST_MAX, sizeof *seen_own);
    json_t *arr = json_array();
    cr_err e = {0};
    int n = 0, n_seen = 0;
    cr_status st = CR_OK;
    if (jobs == NULL || seen == NULL || seen_own == NULL || arr == NULL) {
        st = cr_err_set(&e, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&s->st_lock);
    st = store_job_list(s->st, status, jobs, API_LIST_MAX, &n, &e);
    pthread_mutex_unlock(&s->st_lock);
    for (int i = 0; st == CR_OK && i < n; i++) {
        int own = -2;
        for (int k = 0; k < n_seen; k++)
            if (strcmp(seen[k], jobs[i].session_id) == 0)
                own = seen_own[k];
        if (own == -2) {
            own = owner_is(s, jobs[i].session_id, sub, &e);
            if (own < 0) {
                st = CR_ERR_NET;
                break;
            }
            snprintf(seen[n_seen], STORE_ID_MAX, "%s", jobs[i].session_id);
            seen_own[n_seen++] = own;
        }
        if (own)
            json_array_append_new(arr, job_json(s, &jobs[i], 0));
    }
done:
    cr_free(jobs);
    cr_free(seen);
    cr_free(seen_own);
    if (st != CR_OK) {
        json_decref(arr);
        return send_status(c, st, &e);
    }
    return send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", arr));
}

static enum MHD_Result route_health(api_server *s, struct MHD_Connection *c)
{
    cr_err e = {0};
    int v = 0;
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_migrate_status(s->st, &v, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK) {
        cr_log_warn("api.health", "%s", cr_err_msg(&e));
        return send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         json_pack("{s:s, s:s}", "status", "error", "database", "unreachable"));
    }
    return send_json(
        c, MHD_HTTP_OK,
        json_pack("{s:s, s:s, s:i}", "status", "ok", "database", "ok", "schema_version", v));
}

static enum MHD_Result route_metrics(api_server *s, struct MHD_Connection *c)
{
    cr_err e = {0};
    store_depth d;
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_queue_depth(s->st, &d, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK)
        return send_status(c, st, &e);
    char buf[2048];
    snprintf(buf, sizeof buf,
             "# HELP crease_queue_chunks_queued Chunks waiting to be processed.\n"
             "# TYPE crease_queue_chunks_queued gauge\n"
             "crease_queue_chunks_queued %ld\n"
             "# HELP crease_queue_chunks_ready Queued chunks claimable now.\n"
             "# TYPE crease_queue_chunks_ready gauge\n"
             "crease_queue_chunks_ready %ld\n"
             "# HELP crease_queue_chunks_processing Chunks held under a lease.\n"
             "# TYPE crease_queue_chunks_processing gauge\n"
             "crease_queue_chunks_processing %ld\n"
             "# HELP crease_jobs_queued Jobs in status queued.\n"
             "# TYPE crease_jobs_queued gauge\n"
             "crease_jobs_queued %ld\n"
             "# HELP crease_jobs_ready Jobs waiting for an analysis worker.\n"
             "# TYPE crease_jobs_ready gauge\n"
             "crease_jobs_ready %ld\n"
             "# HELP crease_jobs_running Jobs being aggregated.\n"
             "# TYPE crease_jobs_running gauge\n"
             "crease_jobs_running %ld\n",
             d.queued_chunks, d.ready_chunks, d.processing_chunks, d.jobs_queued, d.jobs_ready,
             d.jobs_running);
    return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, strlen(buf));
}

/* ---- /blobs/ (local backend's presigned URLs) -------------------------------------- */

static cr_status blob_request_check(struct MHD_Connection *c, const char *url, blob_method m,
                                    const char *secret, cr_err *err)
{
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    return blob_presign_verify(
        secret, key, m, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "method"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expires"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sig"), (int64_t)time(NULL), err);
}

static ssize_t blob_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    cr_reader *r = cls;
    size_t got = 0;
    cr_err e = {0};
    if (cr_reader_read_at(r, pos, buf, max, &got, &e) != CR_OK)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (got == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)got;
}

static void blob_free_cb(void *cls)
{
    cr_reader_close(cls);
}

static const char *content_type_of(const char *key)
{
    size_t n = strlen(key);
    if (n >= 5 && strcmp(key + n - 5, ".json") == 0)
        return "application/json";
    if (n >= 5 && strcmp(key + n - 5, ".html") == 0)
        return "text/html; charset=utf-8";
    if (n >= 4 && strcmp(key + n - 4, ".mp4") == 0)
        return "video/mp4";
    return "application/octet-stream";
}

static enum MHD_Result route_blob_get(api_server *s, struct MHD_Connection *c, const char *url)
{
    cr_err e = {0};
    cr_status st = blob_request_check(c, url, BLOB_GET, s->cfg.app_secret_key, &e);
    if (st != CR_OK)
        return send_error(c, st == CR_ERR_AUTH ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
                          cr_err_msg(&e));
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    cr_reader *r = NULL;
    if ((st = blob_open_reader(s->blob, key, 0, NULL, &r, &e)) != CR_OK)
        return st == CR_ERR_NOT_FOUND ? send_error(c, MHD_HTTP_NOT_FOUND, "no such object")
                                      : send_status(c, st, &e);
    struct MHD_Response *resp = MHD_create_response_from_callback(cr_reader_size(r), 64 * 1024,
                                                                  blob_read_cb, r, blob_free_cb);
    if (resp == NULL) {
        cr_reader_close(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(key));
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result route_blob_put_done(api_server *s, struct MHD_Connection *c, const char *url,
                                           request *rq)
{
    if (rq->too_large)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "upload too large");
    if (rq->write_failed || rq->fd < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    if (close(rq->fd) != 0) {
        rq->fd = -1;
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    }
    rq->fd = -1;
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    cr_err e = {0};
    cr_status st = blob_put_file(s->blob, key, rq->tmp, content_type_of(key), &e);
    if (st != CR_OK)
        return send_status(c, st, &e);
    cr_log_info("api.upload", "key=%s bytes=%llu", key, (unsigned long long)rq->written);
    return send_text(c, MHD_HTTP_OK, "application/json", "{}", 2);
}

/* ---- dispatch -------------------------------------------------------------------- */

static int starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static enum MHD_Result dispatch_api(api_server *s, struct MHD_Connection *c, const char *url,
                                    const char *method, request *rq)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    const char *rest = url + strlen(API_PREFIX);
    const char *jobs = "analysis-jobs";
    int known = strcmp(rest, "videos/upload/initiate") == 0 ||
                strcmp(rest, "videos/upload/complete") == 0 || strcmp(rest, jobs) == 0 ||
                (starts_with(rest, jobs) && rest[strlen(jobs)] == '/');
    if (!known)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such route");

    /* Auth first: a route's existence is no secret, a job's is. */
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char sub[API_JWT_SUB_MAX];
    cr_err e = {0};
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "missing bearer token");
    if (api_jwt_verify(s->cfg.app_secret_key, auth + 7, (int64_t)time(NULL), sub, &e) != CR_OK)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, cr_err_msg(&e));
    if (rq->too_large)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");

    if (strcmp(rest, "videos/upload/initiate") == 0)
        return post ? route_initiate(s, c, rq, sub)
                    : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(rest, "videos/upload/complete") == 0)
        return post ? route_complete(s, c, rq, sub)
                    : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(rest, jobs) == 0)
        return get ? route_list(s, c, sub) : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");

    /* analysis-jobs/{id} or analysis-jobs/{id}/retry */
    const char *id = rest + strlen(jobs) + 1;
    const char *slash = strchr(id, '/');
    char idbuf[STORE_ID_MAX];
    size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
    if (idlen == 0 || idlen >= sizeof idbuf)
        return send_error(c, idlen == 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
                          idlen == 0 ? "no such route" : "bad job id");
    memcpy(idbuf, id, idlen);
    idbuf[idlen] = '\0';
    if (slash == NULL)
        return get ? route_job(s, c, idbuf, sub)
                   : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (strcmp(slash, "/retry") == 0)
        return post ? route_retry(s, c, idbuf, sub)
                    : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such route");
}

static int is_blob_put(const char *url, const char *method)
{
    return strcmp(method, "PUT") == 0 && starts_with(url, BLOB_LOCAL_URL_PREFIX);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api_server *s = cls;
    request *rq = *con_cls;
    if (rq == NULL) {
        rq = cr_calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        rq->fd = -1;
        rq->kind = starts_with(url, API_PREFIX)                               ? REQ_API
                   : is_blob_put(url, method) && s->cfg.blob == CR_BLOB_LOCAL ? REQ_BLOB_PUT
                                                                              : REQ_OTHER;
        *con_cls = rq;
        if (rq->kind == REQ_BLOB_PUT) {
            /* Check the signature before accepting any bytes. */
            cr_err e = {0};
            cr_status st = blob_request_check(c, url, BLOB_PUT, s->cfg.app_secret_key, &e);
            if (st != CR_OK)
                return send_error(c, st == CR_ERR_AUTH ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
                                  cr_err_msg(&e));
            const char *cl =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl != NULL && strtoull(cl, NULL, 10) > s->upload_max)
                return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "upload too large");
            const char *td = getenv("TMPDIR");
            int tn = snprintf(rq->tmp, sizeof rq->tmp, "%s/crease-upload-XXXXXX",
                              td && *td ? td : "/tmp");
            if (tn < 0 || (size_t)tn >= sizeof rq->tmp)
                snprintf(rq->tmp, sizeof rq->tmp, "/tmp/crease-upload-XXXXXX");
            rq->fd = mkstemp(rq->tmp);
            if (rq->fd < 0) {
                rq->tmp[0] = '\0';
                cr_log_error("api.upload", "mkstemp: %s", strerror(errno));
                return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->kind == REQ_BLOB_PUT) {
            if (rq->too_large || rq->write_failed)
                return MHD_YES;
            if (rq->written + n > s->upload_max) {
                rq->too_large = 1;
                return MHD_YES;
            }
            for (size_t off = 0; off < n;) {
                ssize_t w = write(rq->fd, upload_data + off, n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    rq->write_failed = 1;
                    return MHD_YES;
                }
                off += (size_t)w;
            }
            rq->written += n;
            return MHD_YES;
        }
        if (rq->too_large)
            return MHD_YES;
        if (rq->len + n > API_BODY_MAX) {
            rq->too_large = 1;
            cr_free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 1024;
            while (cap < rq->len + n + 1)
                cap *= 2;
            char *nb = cr_realloc(rq->body, cap);
            if (nb == NULL)
                return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }

    /* The whole request is in: answer. */
    switch (rq->kind) {
    case REQ_API:
        return dispatch_api(s, c, url, method, rq);
    case REQ_BLOB_PUT:
        return route_blob_put_done(s, c, url, rq);
    case REQ_OTHER:
        break;
    }
    int get = strcmp(method, "GET") == 0;
    if (strcmp(url, "/health") == 0)
        return get ? route_health(s, c) : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (strcmp(url, "/metrics") == 0)
        return get ? route_metrics(s, c) : send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (starts_with(url, BLOB_LOCAL_URL_PREFIX) && s->cfg.blob == CR_BLOB_LOCAL) {
        if (get)
            return route_blob_get(s, c, url);
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or PUT");
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such route");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *con_cls;
    if (rq == NULL)
        return;
    if (rq->fd >= 0)
        close(rq->fd);
    if (rq->tmp[0])
        unlink(rq->tmp);
    cr_free(rq->body);
    cr_free(rq);
    *con_cls = NULL;
}

/* ---- workers and lifetime -------------------------------------------------------- */

static void *worker_main(void *p)
{
    worker_thread *w = p;
    pipeline_worker_opts o;
    pipeline_worker_opts_default(&o);
    o.worker_id = w->name;
    o.poll_seconds = 0.5; /* a short idle poll: API jobs start within half a second */
    o.stop = &w->srv->stop_workers;
    pipeline_worker_stats stats;
    w->st = w->analysis ? pipeline_analysis_worker_run(&w->srv->cfg, &o, &stats, &w->err)
                        : pipeline_chunk_worker_run(&w->srv->cfg, &o, &stats, &w->err);
    if (w->st != CR_OK && w->st != CR_ERR_CANCELLED)
        cr_log_error("api.worker", "%s: %s", w->name, cr_err_msg(&w->err));
    return NULL;
}

static void stop_workers(api_server *s)
{
    s->stop_workers = 1;
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].tid, NULL);
    cr_free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
}

static cr_status start_workers(api_server *s, int n, cr_err *err)
{
    s->workers = cr_calloc((size_t)n + 1, sizeof *s->workers);
    if (s->workers == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    s->n_workers = n + 1;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (int i = 0; i <= n; i++) {
        worker_thread *w = &s->workers[i];
        w->srv = s;
        w->analysis = i == n;
        if (w->analysis)
            snprintf(w->name, sizeof w->name, "%.40s:%d:serve-analysis", host, (int)getpid());
        else
            snprintf(w->name, sizeof w->name, "%.40s:%d:serve-%d", host, (int)getpid(), i);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            stop_workers(s);
            return cr_err_set(err, CR_ERR_INTERNAL, "cannot start worker thread");
        }
        w->started = 1;
    }
    return CR_OK;
}

cr_status api_server_start(const cr_config *cfg, const api_options *opt, api_server **out,
                           cr_err *err)
{
    *out = NULL;
    if (cfg->app_secret_key[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID,
                          "APP_SECRET_KEY is required: it signs the API tokens");
    const char *bind_addr = opt && opt->bind ? opt->bind : "127.0.0.1";
    int port = opt ? opt->port : 0;
    if (port < 0 || port > 65535)
        return cr_err_set(err, CR_ERR_INVALID, "port must be 0..65535");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
        return cr_err_set(err, CR_ERR_INVALID, "bind address '%s' is not an IPv4 address",
                          bind_addr);

    api_server *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->upload_max = opt && opt->upload_max ? opt->upload_max : API_UPLOAD_MAX;
    pthread_mutex_init(&s->st_lock, NULL);
    cr_status st;
    int fd = -1;

    /* The socket first: its port goes into the local backend's presigned URLs. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        st = cr_err_set(err, CR_ERR_IO, "listen on %s:%d: %s", bind_addr, port, strerror(errno));
        goto fail;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);

    char base[CR_CONFIG_STR + 64];
    if (opt && opt->public_url && opt->public_url[0])
        snprintf(base, sizeof base, "%s", opt->public_url);
    else
        snprintf(base, sizeof base, "http://%s:%d", bind_addr, s->port);
    blob_options bo = {0};
    bo.url_base = base;
    if ((st = blob_open(cfg, &bo, &s->blob, err)) != CR_OK)
        goto fail;
    if ((st = store_open(cfg, NULL, &s->st, err)) != CR_OK)
        goto fail;
    if (cfg->store == CR_STORE_SQLITE)
        st = store_migrate_up(s->st, 0, NULL, err);
    else
        st = store_check_schema(s->st, err);
    if (st != CR_OK)
        goto fail;

    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)120 /* s of inactivity before a connection is dropped (ours) */,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONNECTIONS_MAX, MHD_OPTION_END);
    /* MHD owns the socket from here (it may close it on a failed start: never close
     * it twice). */
    fd = -1;
    if (s->daemon == NULL) {
        st = cr_err_set(err, CR_ERR_IO, "cannot start the HTTP daemon");
        goto fail;
    }
    if (cfg->store == CR_STORE_SQLITE && opt && opt->chunk_workers > 0)
        if ((st = start_workers(s, opt->chunk_workers, err)) != CR_OK)
            goto fail;
    cr_log_info("api.listening", "http://%s:%d store=%s blobs=%s workers=%d", bind_addr, s->port,
                store_backend_name(s->st), blob_backend_name(s->blob),
                s->n_workers ? s->n_workers - 1 : 0);
    *out = s;
    return CR_OK;

fail:
    if (fd >= 0)
        close(fd);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    stop_workers(s);
    store_close(s->st);
    blob_close(s->blob);
    pthread_mutex_destroy(&s->st_lock);
    cr_free(s);
    return st;
}

int api_server_port(const api_server *s)
{
    return s->port;
}

void api_server_stop(api_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon); /* stops accepting, waits for the connections */
    stop_workers(s);
    store_close(s->st);
    blob_close(s->blob);
    pthread_mutex_destroy(&s->st_lock);
    cr_free(s);
}
