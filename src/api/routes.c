/*
 * routes.c -- the route table of the server (api_routes: every route, its method,
 * path template and auth) and its dispatcher, and the JSON routes of jobs: upload
 * initiate and complete (the pipeline's submission path: pipeline_submit,
 * pipeline_complete_upload), a job, its retry, the listing, /health, /healthz,
 * /readyz, /metrics (metrics.c), /openapi.json (openapi.json, embedded at build
 * time) and the web page (web.c).  Every /api route checks the bearer token first
 * (api_dispatch); a job is shown only to the owner of its session, anyone else gets
 * 404.
 */
#include "api/api_int.h"

#include "analysis/analysis.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- owners ---------------------------------------------------------------------- */

/* Ownership lives on the session (video_sessions.owner_type/owner_id, DESIGN.md §3):
 * a coach's token subject is the owner_id of their sessions (owner_type coach). */
unsigned api_own_session(api_server *s, const char *session_id, const char *sub, store_session *out,
                         cr_err *err)
{
    if (!blob_id_valid(session_id) || strlen(session_id) >= STORE_ID_MAX) {
        cr_err_set(err, CR_ERR_NOT_FOUND, "Video session not found");
        return MHD_HTTP_NOT_FOUND;
    }
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_session_get(s->st, session_id, out, err);
    pthread_mutex_unlock(&s->st_lock);
    if (st == CR_OK &&
        (strcmp(out->owner_type, STORE_OWNER_COACH) != 0 || strcmp(out->owner_id, sub) != 0))
        st = CR_ERR_NOT_FOUND; /* another coach's: 404, not 403 (it says less) */
    if (st == CR_ERR_NOT_FOUND) {
        cr_err_clear(err);
        cr_err_set(err, CR_ERR_NOT_FOUND, "Video session not found");
        return MHD_HTTP_NOT_FOUND;
    }
    return st == CR_OK ? 0 : api_status_http(st);
}

/* ISO 8601 in UTC with microseconds, as Cricksy's API writes times; null for 0. */
json_t *api_time_json(double epoch)
{
    if (!(epoch > 0))
        return json_null();
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[48];
    int us = (int)((epoch - (double)t) * 1e6);
    if (us < 0 || us > 999999)
        us = 0;
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    return json_string(buf);
}

/* ---- jobs as JSON ---------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *doc_or_null(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

/* A job as Cricksy's VideoAnalysisJobRead has it (id, session_id, sample_fps,
 * include_frames, status, stage, progress_pct, error_message, sqs_message_id,
 * results, deep_results, deep_findings, deep_report, deep_results_s3_key, times in
 * ISO 8601, results_available, report_available, pdf_available, missing_artifacts),
 * plus crease's own fields (job_id, deep_mode, analysis_mode, chunk counts, the
 * settings, presigned URLs of final_results.json and report.html). */
json_t *api_job_json(api_server *s, const store_job *j, int full)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "job_id", json_string(j->id));
    json_object_set_new(o, "session_id", json_string(j->session_id));
    json_object_set_new(o, "sample_fps", json_integer(j->sample_fps));
    json_object_set_new(o, "include_frames", json_boolean(j->include_frames));
    json_object_set_new(o, "status", json_string(j->status));
    json_object_set_new(o, "stage", str_or_null(j->stage));
    json_object_set_new(o, "progress_pct", json_integer(j->progress_pct));
    json_object_set_new(o, "error_message", str_or_null(j->error_message));
    json_object_set_new(o, "sqs_message_id", json_null());
    json_object_set_new(
        o, "retryable",
        json_boolean(strcmp(j->status, STORE_JOB_FAILED) == 0 && j->s3_key[0] != '\0'));
    json_object_set_new(o, "deep_mode", str_or_null(j->deep_mode));
    json_object_set_new(o, "analysis_mode", str_or_null(j->analysis_mode));
    json_object_set_new(o, "total_chunks", json_integer(j->total_chunks));
    json_object_set_new(o, "completed_chunks", json_integer(j->completed_chunks));
    json_object_set_new(o, "video_duration_seconds", json_real(j->video_duration_seconds));
    json_object_set_new(o, "sample_rate", json_real(j->sample_rate));
    json_object_set_new(o, "chunk_seconds", json_integer(j->chunk_seconds));
    json_object_set_new(o, "max_width", json_integer(j->max_width));
    json_object_set_new(o, "model", str_or_null(j->model));
    json_object_set_new(o, "deep_results_s3_key", str_or_null(j->deep_results_s3_key));
    json_object_set_new(o, "created_at", api_time_json(j->created_at));
    json_object_set_new(o, "started_at", api_time_json(j->started_at));
    json_object_set_new(o, "completed_at", api_time_json(j->completed_at));
    json_object_set_new(o, "updated_at", api_time_json(j->updated_at));
    int done = strcmp(j->status, STORE_JOB_DONE) == 0;
    if (!full)
        return o;

    store_job_docs d = {0};
    cr_err e = {0};
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_job_docs_get(s->st, j->id, &d, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK)
        cr_log_warn("api.job_docs", "job=%s: %s", j->id, cr_err_msg(&e));
    json_object_set_new(o, "results", doc_or_null(d.results));
    json_object_set_new(o, "deep_results", doc_or_null(d.deep_results));
    json_object_set_new(o, "deep_findings", doc_or_null(d.deep_findings));
    json_object_set_new(o, "deep_report", doc_or_null(d.deep_report));
    json_object_set_new(o, "quick_results", json_null());
    int results = d.results != NULL || d.deep_results != NULL || d.deep_findings != NULL ||
                  j->deep_results_s3_key[0] != '\0';
    int report = d.deep_report != NULL;
    json_object_set_new(o, "results_available", json_boolean(results));
    json_object_set_new(o, "report_available", json_boolean(report));
    json_object_set_new(o, "pdf_available", json_false());
    json_t *missing = json_array();
    if (done && !results)
        json_array_append_new(missing, json_string("analysis_results"));
    if (done && !report)
        json_array_append_new(missing, json_string("analysis_report"));
    if (done)
        json_array_append_new(missing, json_string("pdf_export"));
    json_object_set_new(o, "missing_artifacts", missing);
    store_job_docs_free(&d);

    json_t *fu = json_null(), *ru = json_null();
    if (done) {
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
    json_object_set_new(o, "deep_results_url", json_incref(fu) ? fu : json_null());
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
    store_session ss;
    unsigned code = api_own_session(s, job->session_id, sub, &ss, err);
    if (code == MHD_HTTP_NOT_FOUND) {
        cr_err_clear(err);
        cr_err_set(err, CR_ERR_NOT_FOUND, "Analysis job not found");
    }
    return code;
}

static enum MHD_Result send_load_error(struct MHD_Connection *c, unsigned code, const cr_err *e)
{
    if (code == MHD_HTTP_NOT_FOUND)
        return api_send_error(c, code, "Analysis job not found");
    if (code >= 500) {
        cr_log_error("api.error", "%s", cr_err_msg(e));
        return api_send_error(c, code, "service unavailable");
    }
    return api_send_error(c, code, cr_err_msg(e));
}

/* ---- routes ---------------------------------------------------------------------- */

json_t *api_body_parse(const char *p, size_t n)
{
    if (n == 0)
        return json_object();
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Parses the body as a JSON object ("" = {}); NULL after answering 400. */
json_t *api_body_object(struct MHD_Connection *c, const api_request *rq, enum MHD_Result *ret)
{
    json_t *j = api_body_parse(rq->body.p, rq->body.len);
    if (j == NULL)
        *ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, "request body must be a JSON object");
    return j;
}

const char *api_initiate_fields(json_t *b, int gpu_default, pipeline_submit_opts *po)
{
    json_t *fn = json_object_get(b, "filename"), *am = json_object_get(b, "analysis_mode");
    json_t *sid = json_object_get(b, "session_id"), *fps = json_object_get(b, "sample_fps");
    json_t *inc = json_object_get(b, "include_frames"), *dm = json_object_get(b, "deep_mode");
    json_t *title = json_object_get(b, "title");
    if (fn != NULL && !json_is_null(fn) && (!json_is_string(fn) || json_string_length(fn) > 255))
        return "filename must be a string of <= 255 bytes";
    if (title != NULL && !json_is_null(title) &&
        (!json_is_string(title) || json_string_length(title) == 0 ||
         json_string_length(title) >= STORE_TITLE_MAX))
        return "title must be a non-empty string of <= 255 bytes";
    if (am != NULL && !json_is_null(am)) {
        if (!json_is_string(am) || analysis_mode_find(json_string_value(am)) < 0)
            return "analysis_mode must be " ANALYSIS_MODES_TEXT;
        po->analysis_mode = json_string_value(am);
    }
    if (sid != NULL && !json_is_null(sid)) {
        if (!json_is_string(sid))
            return "session_id must be a string";
        po->session_id = json_string_value(sid);
    }
    /* Cricksy: sample_fps an integer, 1..30 (VideoUploadInitiateRequest). */
    if (fps != NULL && !json_is_null(fps)) {
        if (!json_is_integer(fps) || json_integer_value(fps) < 1 || json_integer_value(fps) > 30)
            return "sample_fps must be an integer from 1 to 30";
        po->sample_fps = (double)json_integer_value(fps);
    }
    if (inc != NULL && !json_is_null(inc)) {
        if (!json_is_boolean(inc))
            return "include_frames must be true or false";
        po->include_frames = json_is_true(inc);
    }
    /* GPU mode three ways (the pipeline runbook): the default, this field, and
     * GPU_PROCESSING_ENABLED (the default when the field is absent). */
    po->chunked = gpu_default;
    if (dm != NULL && !json_is_null(dm)) {
        const char *v = json_is_string(dm) ? json_string_value(dm) : "";
        if (strcmp(v, STORE_DEEP_MODE_GPU) != 0 && strcmp(v, STORE_DEEP_MODE_CPU) != 0)
            return "deep_mode must be gpu or cpu";
        po->chunked = strcmp(v, STORE_DEEP_MODE_GPU) == 0;
    }
    if (title != NULL && json_is_string(title))
        po->title = json_string_value(title);
    else if (fn != NULL && json_is_string(fn))
        po->title = json_string_value(fn);
    return NULL;
}

/* The optional "subject_hint": {"x": X, "y": Y}, numbers in 0..1 (which player to follow,
 * a point of the first frame from the top left; pose_tracker.h).  NULL, or what is
 * wrong with it (answered 422: well-formed JSON whose value cannot be used). */
static const char *initiate_subject(json_t *b, pipeline_submit_opts *po)
{
    json_t *h = json_object_get(b, "subject_hint");
    if (h == NULL || json_is_null(h))
        return NULL;
    json_t *x = json_object_get(h, "x"), *y = json_object_get(h, "y");
    if (!json_is_object(h) || !json_is_number(x) || !json_is_number(y) || json_object_size(h) != 2)
        return "subject_hint must be {\"x\": number, \"y\": number}";
    double vx = json_number_value(x), vy = json_number_value(y);
    if (!(vx >= 0.0 && vx <= 1.0 && vy >= 0.0 && vy <= 1.0))
        return "subject_hint x and y must be within 0..1";
    po->subject = 1;
    po->subject_x = vx;
    po->subject_y = vy;
    return NULL;
}

static enum MHD_Result route_initiate(api_server *s, struct MHD_Connection *c,
                                      const api_request *rq, const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = api_body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    /* Per-token job creation limit: 429 with Retry-After (whole seconds, rounded up). */
    double wait = 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!api_rate_take(&s->job_rate, sub, (double)now.tv_sec + now.tv_nsec / 1e9, &wait)) {
        json_decref(b);
        char secs[32];
        snprintf(secs, sizeof secs, "%d", (int)ceil(wait));
        cr_log_warn("api.rate_limited", "too many jobs from one token; retry in %s s", secs);
        return api_send_error_retry(c, MHD_HTTP_TOO_MANY_REQUESTS,
                                    "too many new jobs: try again later", secs);
    }
    pipeline_submit_opts po = {0};
    po.owner_id = sub;
    const char *bad = api_initiate_fields(b, s->cfg.gpu_processing_enabled, &po);
    if (bad != NULL) {
        ret = api_send_error(c, MHD_HTTP_BAD_REQUEST, bad);
        json_decref(b);
        return ret;
    }
    if ((bad = initiate_subject(b, &po)) != NULL) {
        ret = api_send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT, bad);
        json_decref(b);
        return ret;
    }
    cr_err e = {0};
    if (po.session_id != NULL) { /* Cricksy's flow: an existing session of the caller's */
        store_session ss;
        unsigned code = api_own_session(s, po.session_id, sub, &ss, &e);
        if (code != 0) {
            ret = code == MHD_HTTP_NOT_FOUND ? api_send_error(c, code, "Video session not found")
                                             : api_send_status(c, CR_ERR_DB, &e);
            json_decref(b);
            return ret;
        }
    }
    pipeline_submission made;
    char *url = NULL;
    cr_status st = pipeline_submit(&s->cfg, s->blob, s->st, &s->st_lock, &po, &made, &e);
    json_decref(b); /* po's strings pointed into it */
    /* The upload URL lives CREASE_UPLOAD_URL_SECONDS (config.h): long enough to start
     * the upload, short because on S3 nothing else stops it from writing over the
     * video after upload-complete (the workers then refuse the changed video). */
    if (st == CR_OK)
        st = blob_presign(s->blob, made.video_key, BLOB_PUT, s->cfg.upload_url_seconds, &url, &e);
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    cr_log_info("api.initiate", "job=%s session=%s", made.job_id, made.session_id);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:i}", "job_id", made.job_id, "session_id",
                  made.session_id, "presigned_url", url, "upload_url", url, "s3_key",
                  made.video_key, "s3_bucket", s->cfg.blob == CR_BLOB_S3 ? s->cfg.bucket : NULL,
                  "expires_in", s->cfg.upload_url_seconds);
    cr_free(url);
    return api_send_json(c, MHD_HTTP_OK, o);
}

const char *api_complete_fields(json_t *b, char id[STORE_ID_MAX])
{
    json_t *jid = json_object_get(b, "job_id");
    id[0] = '\0';
    if (!json_is_string(jid))
        return "job_id (string) is required";
    if (json_string_length(jid) >= STORE_ID_MAX)
        return "bad job id";
    snprintf(id, STORE_ID_MAX, "%s", json_string_value(jid));
    return NULL;
}

static enum MHD_Result route_complete(api_server *s, struct MHD_Connection *c,
                                      const api_request *rq, const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = api_body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    char id[STORE_ID_MAX];
    const char *bad = api_complete_fields(b, id);
    json_decref(b);
    if (bad != NULL)
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, bad);

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
    /* Cricksy's answer ({job_id, status, sqs_message_id, message}) on the job. */
    json_t *o = api_job_json(s, &up.job, 1);
    char msg[96];
    snprintf(msg, sizeof msg,
             up.queued ? "Video uploaded and queued for analysis"
                       : "Job already %s - no action taken",
             up.job.status);
    json_object_set_new(o, "message", json_string(msg));
    return api_send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route_job(api_server *s, struct MHD_Connection *c, const char *id,
                                 const char *sub)
{
    cr_err e = {0};
    store_job job;
    unsigned code = load_own_job(s, id, sub, &job, &e);
    if (code != 0)
        return send_load_error(c, code, &e);
    return api_send_json(c, MHD_HTTP_OK, api_job_json(s, &job, 1));
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
    json_t *o = api_job_json(s, &job, 1);
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

/* GET analysis-jobs?status=&limit=&cursor=: the caller's jobs, newest first, a page
 * at a time; "next_cursor" (the last job's id) asks for the next page, null at the
 * end. */
static enum MHD_Result route_list(api_server *s, struct MHD_Connection *c, const char *sub)
{
    const char *status = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    const char *cursor = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (status != NULL && *status == '\0')
        status = NULL;
    if (cursor != NULL && *cursor == '\0')
        cursor = NULL;
    if (status != NULL && !status_valid(status))
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "unknown status");
    if (cursor != NULL && (!blob_id_valid(cursor) || strlen(cursor) >= STORE_ID_MAX))
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, "bad cursor");
    long limit = API_LIST_MAX;
    if (lim != NULL && *lim != '\0') {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (*end != '\0' || limit < 1 || limit > API_LIST_MAX)
            return api_send_error(c, MHD_HTTP_BAD_REQUEST, "limit must be 1..200");
    }
    store_job *jobs = cr_calloc((size_t)limit, sizeof *jobs);
    json_t *arr = json_array();
    cr_err e = {0};
    int n = 0;
    cr_status st = CR_OK;
    if (jobs == NULL || arr == NULL) {
        st = cr_err_set(&e, CR_ERR_NOMEM, "out of memory");
    } else {
        /* The owner filter runs in the database: another coach's jobs never crowd
         * the caller's out of the page. */
        pthread_mutex_lock(&s->st_lock);
        st = store_job_list_owner(s->st, STORE_OWNER_COACH, sub, status, cursor, jobs, (int)limit,
                                  &n, &e);
        pthread_mutex_unlock(&s->st_lock);
    }
    for (int i = 0; st == CR_OK && i < n; i++)
        json_array_append_new(arr, api_job_json(s, &jobs[i], 0));
    json_t *next = st == CR_OK && n == limit ? json_string(jobs[n - 1].id) : json_null();
    cr_free(jobs);
    if (st != CR_OK) {
        json_decref(arr);
        json_decref(next);
        return api_send_status(c, st, &e);
    }
    return api_send_json(c, MHD_HTTP_OK, json_pack("{s:o, s:o}", "jobs", arr, "next_cursor", next));
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

/* ---- the route table ---------------------------------------------------------------- */

static api_scrape scrape_of(api_server *s)
{
    api_scrape sc = {s->st, &s->st_lock, s->blob, s->metrics, s->gpu, "serve"};
    return sc;
}

static enum MHD_Result h_health(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    (void)k;
    return api_route_health(s, c);
}

static enum MHD_Result h_healthz(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    (void)s;
    (void)k;
    return api_send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result h_readyz(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    (void)k;
    api_scrape sc = scrape_of(s);
    return api_send_readiness(c, &sc);
}

static enum MHD_Result h_metrics(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    (void)k;
    api_scrape sc = scrape_of(s);
    return api_send_metrics(c, &sc);
}

static enum MHD_Result h_openapi(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    (void)s;
    (void)k;
    return api_send_text(c, MHD_HTTP_OK, "application/json", (const char *)api_openapi_json,
                         api_openapi_json_len);
}

static enum MHD_Result h_initiate(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return route_initiate(s, c, k->rq, k->sub);
}

static enum MHD_Result h_complete(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return route_complete(s, c, k->rq, k->sub);
}

static enum MHD_Result h_jobs(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return route_list(s, c, k->sub);
}

static enum MHD_Result h_job(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return route_job(s, c, k->param[0], k->sub);
}

static enum MHD_Result h_retry(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return route_retry(s, c, k->param[0], k->sub);
}

static enum MHD_Result h_blob_get(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return api_blob_get(s, c, k->url);
}

static enum MHD_Result h_blob_put(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return api_blob_put_done(s, c, k->url, k->rq);
}

/* Every route the server has: the one list the dispatcher, the request kinds of
 * http.c and the OpenAPI test (every route documented in openapi.json, every
 * documented route answered) go by.  Paths are OpenAPI path templates. */
const api_route api_routes[] = {
    {"GET", "/health", 0, h_health},
    {"GET", "/healthz", 0, h_healthz},
    {"GET", "/readyz", 0, h_readyz},
    {"GET", "/metrics", 0, h_metrics},
    {"GET", "/openapi.json", 0, h_openapi},
    {"GET", "/", 0, api_web_get},
    {"GET", "/web/app.js", 0, api_web_get},
    {"GET", "/web/app.css", 0, api_web_get},
    {"GET", "/web/icon.svg", 0, api_web_get},
    {"POST", API_PREFIX "sessions", API_ROUTE_AUTH, api_session_create},
    {"GET", API_PREFIX "sessions", API_ROUTE_AUTH, api_session_list},
    {"GET", API_PREFIX "sessions/{session_id}", API_ROUTE_AUTH, api_session_get},
    {"GET", API_PREFIX "sessions/{session_id}/analysis-jobs", API_ROUTE_AUTH, api_session_jobs},
    {"POST", API_PREFIX "videos/upload/initiate", API_ROUTE_AUTH, h_initiate},
    {"POST", API_PREFIX "videos/upload/complete", API_ROUTE_AUTH, h_complete},
    {"GET", API_PREFIX "analysis-jobs", API_ROUTE_AUTH, h_jobs},
    {"GET", API_PREFIX "analysis-jobs/{job_id}", API_ROUTE_AUTH, h_job},
    {"POST", API_PREFIX "analysis-jobs/{job_id}/retry", API_ROUTE_AUTH, h_retry},
    {"GET", BLOB_LOCAL_URL_PREFIX "{key}", API_ROUTE_LOCAL_BLOBS | API_ROUTE_REST, h_blob_get},
    {"PUT", BLOB_LOCAL_URL_PREFIX "{key}",
     API_ROUTE_LOCAL_BLOBS | API_ROUTE_REST | API_ROUTE_UPLOAD, h_blob_put},
};
const int api_routes_n = (int)(sizeof api_routes / sizeof api_routes[0]);

int api_route_available(const api_server *s, const api_route *r)
{
    return !(r->flags & API_ROUTE_LOCAL_BLOBS) || s->cfg.blob == CR_BLOB_LOCAL;
}

/* Whether `url` matches the template `t`, segment by segment: "{name}" matches one
 * non-empty segment (captured into k->param, at most API_PARAMS of them), the last
 * one of an API_ROUTE_REST route the rest of the path.  k may be NULL. */
static int path_match(const api_route *r, const char *url, api_call *k)
{
    const char *t = r->path, *u = url;
    int np = 0;
    while (*t != '\0') {
        if (*t == '{') {
            const char *te = strchr(t, '}');
            if (te == NULL)
                return 0;
            int rest = (r->flags & API_ROUTE_REST) && te[1] == '\0';
            size_t n = rest ? strlen(u) : strcspn(u, "/");
            if (n == 0)
                return 0;
            if (k != NULL && np < API_PARAMS) {
                size_t m = n < API_PARAM_MAX - 1 ? n : API_PARAM_MAX - 1;
                memcpy(k->param[np], u, m);
                k->param[np][m] = '\0';
                k->param_too_long[np] = n >= API_PARAM_MAX;
            }
            np++;
            t = te + 1;
            u += n;
            continue;
        }
        if (*t != *u)
            return 0;
        t++;
        u++;
    }
    return *u == '\0';
}

const api_route *api_route_find(const api_server *s, const char *url, const char *method)
{
    for (int i = 0; i < api_routes_n; i++)
        if (api_route_available(s, &api_routes[i]) && strcmp(api_routes[i].method, method) == 0 &&
            path_match(&api_routes[i], url, NULL))
            return &api_routes[i];
    return NULL;
}

enum MHD_Result api_dispatch(api_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, api_request *rq)
{
    const api_route *found = NULL;
    int matched = 0, auth = 0;
    char allow[64] = "";
    api_call k;
    memset(&k, 0, sizeof k);
    for (int i = 0; i < api_routes_n; i++) {
        const api_route *r = &api_routes[i];
        if (!api_route_available(s, r) || !path_match(r, url, NULL))
            continue;
        matched = 1;
        auth |= (r->flags & API_ROUTE_AUTH) != 0;
        if (strlen(allow) + strlen(r->method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", r->method);
        if (strcmp(r->method, method) == 0)
            found = r;
    }
    if (!matched)
        return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such route");

    /* Auth first: a route's existence is no secret, a job's is. */
    if (auth) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        cr_err e = {0};
        if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
            return api_send_error(c, MHD_HTTP_UNAUTHORIZED, "missing bearer token");
        if (api_jwt_verify(s->cfg.app_secret_key, h + 7, (int64_t)time(NULL), k.sub, &e) != CR_OK)
            return api_send_error(c, MHD_HTTP_UNAUTHORIZED, cr_err_msg(&e));
    }
    if (found == NULL) {
        char msg[96];
        snprintf(msg, sizeof msg, "use %s", allow);
        return api_send_error_header(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg, MHD_HTTP_HEADER_ALLOW,
                                     allow);
    }
    if (auth && rq->too_large)
        return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    path_match(found, url, &k);
    k.url = url;
    k.method = method;
    k.rq = rq;
    return found->fn(s, c, &k);
}
