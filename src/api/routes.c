/*
 * routes.c -- the JSON routes of the API (the table, auth and owners: api.h): upload
 * initiate and complete (the pipeline's submission path: pipeline_submit,
 * pipeline_complete_upload), a job, its retry, the listing, and /health and /metrics.
 * Every /api route checks the bearer token first (api_route_api); a job is shown only
 * to the owner of its session (owner.json in the blob store), anyone else gets 404.
 */
#include "api/api_int.h"

#include "analysis/analysis.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        return api_status_http(st);
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
        return api_send_error(c, code, "job not found");
    if (code >= 500) {
        cr_log_error("api.error", "%s", cr_err_msg(e));
        return api_send_error(c, code, "service unavailable");
    }
    return api_send_error(c, code, cr_err_msg(e));
}

/* ---- routes ---------------------------------------------------------------------- */

/* Parses the body as a JSON object ("" = {}); NULL after answering 400. */
static json_t *body_object(struct MHD_Connection *c, const api_request *rq, enum MHD_Result *ret)
{
    if (rq->body.len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(rq->body.p, rq->body.len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        *ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

static enum MHD_Result route_initiate(api_server *s, struct MHD_Connection *c,
                                      const api_request *rq, const char *sub)
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
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "filename must be a string of <= 255 bytes");
    }
    if (am != NULL && !json_is_null(am)) {
        if (!json_is_string(am) || analysis_mode_find(json_string_value(am)) < 0) {
            json_decref(b);
            return api_send_error(c, MHD_HTTP_BAD_REQUEST,
                                  "analysis_mode must be " ANALYSIS_MODES_TEXT);
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
        return api_send_status(c, st, &e);
    cr_log_info("api.initiate", "job=%s session=%s", made.job_id, sid);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "job_id", made.job_id, "session_id", sid,
                          "upload_url", url, "s3_key", made.video_key, "expires_in", API_PRESIGN_S);
    cr_free(url);
    return api_send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_complete(api_server *s, struct MHD_Connection *c,
                                      const api_request *rq, const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    json_t *jid = json_object_get(b, "job_id");
    if (!json_is_string(jid)) {
        json_decref(b);
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "job_id (string) is required");
    }
    char id[STORE_ID_MAX];
    snprintf(id, sizeof id, "%s", json_string_value(jid));
    int id_ok = json_string_length(jid) < sizeof id;
    json_decref(b);
    if (!id_ok)
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "bad job id");

    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    pipeline_upload up;
    cr_status st = pipeline_complete_upload(&s->cfg, s->blob, s->st, &s->st_lock, job.id, &up, &e);
    if (st != CR_OK && up.video_rejected) {
        cr_log_warn("api.bad_video", "job=%s: %s", job.id, cr_err_msg(&e));
        return api_send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT, cr_err_msg(&e));
    }
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    if (up.queued)
        cr_log_info("api.complete", "job=%s duration=%.2fs chunks=%d", up.job.id,
                    up.duration_seconds, up.job.total_chunks);
    return api_send_json(c, MHD_HTTP_OK, job_json(s, &up.job, 1));
}

static enum MHD_Result route_job(api_server *s, struct MHD_Connection *c, const char *id,
                                 const char *sub)
{
    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    return api_send_json(c, MHD_HTTP_OK, job_json(s, &job, 1));
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
        return api_send_error(c, MHD_HTTP_CONFLICT, "job is not failed");
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    json_t *o = job_json(s, &job, 1);
    json_object_set_new(o, "requeued_chunks", json_integer(requeued));
    return api_send_json(c, MHD_HTTP_OK, o);
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
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "unknown status");
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
        return api_send_status(c, st, &e);
    }
    return api_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", arr));
}

enum MHD_Result api_route_health(api_server *s, struct MHD_Connection *c)
{
    cr_err e = {0};
    int v = 0;
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_migrate_status(s->st, &v, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK) {
        cr_log_warn("api.health", "%s", cr_err_msg(&e));
        return api_send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                             json_pack("{s:s, s:s}", "status", "error", "database", "unreachable"));
    }
    return api_send_json(
        c, MHD_HTTP_OK,
        json_pack("{s:s, s:s, s:i}", "status", "ok", "database", "ok", "schema_version", v));
}

enum MHD_Result api_route_metrics(api_server *s, struct MHD_Connection *c)
{
    cr_err e = {0};
    store_depth d;
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_queue_depth(s->st, &d, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK)
        return api_send_status(c, st, &e);
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
    return api_send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, strlen(buf));
}

/* ---- dispatch -------------------------------------------------------------------- */

enum MHD_Result api_route_api(api_server *s, struct MHD_Connection *c, const char *url,
                              const char *method, api_request *rq)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    const char *rest = url + strlen(API_PREFIX);
    const char *jobs = "analysis-jobs";
    int known = strcmp(rest, "videos/upload/initiate") == 0 ||
                strcmp(rest, "videos/upload/complete") == 0 || strcmp(rest, jobs) == 0 ||
                (api_starts_with(rest, jobs) && rest[strlen(jobs)] == '/');
    if (!known)
        return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such route");

    /* Auth first: a route's existence is no secret, a job's is. */
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char sub[API_JWT_SUB_MAX];
    cr_err e = {0};
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
        return api_send_error(c, MHD_HTTP_UNAUTHORIZED, "missing bearer token");
    if (api_jwt_verify(s->cfg.app_secret_key, auth + 7, (int64_t)time(NULL), sub, &e) != CR_OK)
        return api_send_error(c, MHD_HTTP_UNAUTHORIZED, cr_err_msg(&e));
    if (rq->too_large)
        return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");

    if (strcmp(rest, "videos/upload/initiate") == 0)
        return post ? route_initiate(s, c, rq, sub)
                    : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(rest, "videos/upload/complete") == 0)
        return post ? route_complete(s, c, rq, sub)
                    : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (strcmp(rest, jobs) == 0)
        return get ? route_list(s, c, sub)
                   : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");

    /* analysis-jobs/{id} or analysis-jobs/{id}/retry */
    const char *id = rest + strlen(jobs) + 1;
    const char *slash = strchr(id, '/');
    char idbuf[STORE_ID_MAX];
    size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
    if (idlen == 0 || idlen >= sizeof idbuf)
        return api_send_error(c, idlen == 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
                              idlen == 0 ? "no such route" : "bad job id");
    memcpy(idbuf, id, idlen);
    idbuf[idlen] = '\0';
    if (slash == NULL)
        return get ? route_job(s, c, idbuf, sub)
                   : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (strcmp(slash, "/retry") == 0)
        return post ? route_retry(s, c, idbuf, sub)
                    : api_send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such route");
}
