/*
 * sessions.c -- the session routes of Cricksy's upload flow, under /api/coaches/plus/:
 *
 *   POST sessions                      {title, player_ids?, notes?, analysis_context?,
 *                                       camera_view?} -> the session
 *   GET  sessions?limit&offset         the caller's sessions, newest first
 *   GET  sessions/{id}                 one session (404 when not the caller's)
 *   GET  sessions/{id}/analysis-jobs   its jobs, newest first
 *
 * Request and response fields are Cricksy's (VideoSessionCreate, VideoSessionRead:
 * id, owner_type, owner_id, title, player_ids, status, notes, analysis_context,
 * camera_view, s3_bucket, s3_key, created_at, updated_at, analysis_job_count,
 * latest_job_*).  Sessions belong to the token's subject (owner_type coach); another
 * coach's session is a 404, as a missing one is.
 */
#include "api/api_int.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

#define SESSION_LIST_DEFAULT 50 /* Cricksy: limit 1..100, default 50 */
#define SESSION_LIST_MAX 100
#define SESSION_JOBS_MAX 100 /* jobs shown by sessions/{id}/analysis-jobs */

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

/* A session as Cricksy's VideoSessionRead, with its jobs' summary `sj` (from the same
 * store query as the session, or one for the session: no query per job). */
static json_t *session_json(const store_session *ss, const store_session_jobs *sj)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_t *players = json_loads(ss->player_ids, 0, NULL);
    json_object_set_new(o, "id", json_string(ss->id));
    json_object_set_new(o, "owner_type", json_string(ss->owner_type));
    json_object_set_new(o, "owner_id", json_string(ss->owner_id));
    json_object_set_new(o, "title", json_string(ss->title));
    json_object_set_new(o, "player_ids", json_is_array(players) ? players : json_array());
    if (!json_is_array(players))
        json_decref(players);
    json_object_set_new(o, "status", json_string(ss->status));
    json_object_set_new(o, "notes", text_or_null(ss->notes));
    json_object_set_new(o, "analysis_context", text_or_null(ss->analysis_context));
    json_object_set_new(o, "camera_view", text_or_null(ss->camera_view));
    json_object_set_new(o, "s3_bucket", text_or_null(ss->s3_bucket));
    json_object_set_new(o, "s3_key", text_or_null(ss->s3_key));
    json_object_set_new(o, "created_at", api_time_json(ss->created_at));
    json_object_set_new(o, "updated_at", api_time_json(ss->updated_at));

    int n = sj->count;
    json_object_set_new(o, "analysis_job_count", json_integer(n));
    json_object_set_new(o, "latest_job_id", n ? json_string(sj->latest_id) : json_null());
    json_object_set_new(o, "latest_job_status", n ? json_string(sj->latest_status) : json_null());
    json_object_set_new(o, "latest_job_created_at",
                        n ? api_time_json(sj->latest_created_at) : json_null());
    json_object_set_new(o, "latest_job_completed_at",
                        n ? api_time_json(sj->latest_completed_at) : json_null());
    int done = n && strcmp(sj->latest_status, STORE_JOB_DONE) == 0;
    json_object_set_new(o, "latest_job_results_available", json_boolean(done));
    json_object_set_new(o, "latest_job_report_available", json_boolean(done));
    json_object_set_new(o, "latest_job_pdf_available", json_false());
    json_object_set_new(o, "missing_artifacts", json_array());
    return o;
}

/* One session as JSON with its jobs' summary (one store query for the summary). */
static enum MHD_Result send_session(api_server *s, struct MHD_Connection *c,
                                    const store_session *ss)
{
    store_session_jobs sj;
    cr_err e = {0};
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_session_jobs_of(s->st, ss->id, &sj, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    return api_send_json(c, MHD_HTTP_OK, session_json(ss, &sj));
}

/* Optional string field: NULL when absent or null; *bad when not a string. */
static const char *opt_string(json_t *b, const char *key, int *bad)
{
    json_t *v = json_object_get(b, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

cr_status api_session_fields(json_t *b, store_session_new *sn, char **players_text, cr_err *err)
{
    int bad = 0;
    *players_text = NULL;
    sn->title = opt_string(b, "title", &bad);
    sn->notes = opt_string(b, "notes", &bad);
    sn->analysis_context = opt_string(b, "analysis_context", &bad);
    sn->camera_view = opt_string(b, "camera_view", &bad);
    sn->player_ids_json = NULL;
    json_t *players = json_object_get(b, "player_ids");
    if (players != NULL && !json_is_null(players)) {
        size_t i;
        json_t *p;
        if (!json_is_array(players))
            bad = 1;
        json_array_foreach(players, i, p) if (!json_is_string(p)) bad = 1;
        if (!bad) {
            *players_text = json_dumps(players, JSON_COMPACT);
            if (*players_text == NULL) /* never store [] for a list that was given */
                return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        }
        sn->player_ids_json = *players_text;
    }
    if (bad)
        return cr_err_set(err, CR_ERR_INVALID,
                          "title, notes, analysis_context and camera_view must be strings, "
                          "player_ids a list of strings");
    if (sn->title == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "title is required");
    return CR_OK;
}

static enum MHD_Result create_session(api_server *s, struct MHD_Connection *c,
                                      const api_request *rq, const char *sub)
{
    enum MHD_Result ret = MHD_NO;
    json_t *b = api_body_object(c, rq, &ret);
    if (b == NULL)
        return ret;
    store_session_new sn = {.owner_type = STORE_OWNER_COACH, .owner_id = sub};
    char *players_text = NULL;
    cr_err e = {0};
    char id[37];
    cr_status st = api_session_fields(b, &sn, &players_text, &e);
    if (st == CR_OK) {
        pthread_mutex_lock(&s->st_lock);
        st = store_session_create(s->st, &sn, id, sizeof id, &e);
        pthread_mutex_unlock(&s->st_lock);
    }
    cr_free(players_text);
    json_decref(b);
    if (st == CR_ERR_INVALID) {
        /* the store names the field: "store: camera_view must be ..." */
        const char *m = cr_err_msg(&e);
        return api_send_error(c, MHD_HTTP_BAD_REQUEST, strncmp(m, "store: ", 7) == 0 ? m + 7 : m);
    }
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    store_session ss;
    pthread_mutex_lock(&s->st_lock);
    st = store_session_get(s->st, id, &ss, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    cr_log_info("api.session", "session=%s", id);
    return send_session(s, c, &ss);
}

/* A query integer in [lo, hi], else `dflt`; -1 when present but not such a number. */
static long query_int(struct MHD_Connection *c, const char *key, long lo, long hi, long dflt)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return (*end != '\0' || n < lo || n > hi) ? -1 : n;
}

static enum MHD_Result list_sessions(api_server *s, struct MHD_Connection *c, const char *sub)
{
    long limit = query_int(c, "limit", 1, SESSION_LIST_MAX, SESSION_LIST_DEFAULT);
    long offset = query_int(c, "offset", 0, 1000000, 0);
    if (limit < 0 || offset < 0)
        return api_send_error(c, MHD_HTTP_BAD_REQUEST,
                              "limit must be 1..100 and offset a number >= 0");
    store_session *list = cr_calloc((size_t)limit, sizeof *list);
    store_session_jobs *jobs = cr_calloc((size_t)limit, sizeof *jobs);
    json_t *arr = json_array();
    cr_err e = {0};
    int n = 0;
    cr_status st = list == NULL || jobs == NULL || arr == NULL
                       ? cr_err_set(&e, CR_ERR_NOMEM, "out of memory")
                       : CR_OK;
    if (st == CR_OK) { /* one query: the sessions and each one's jobs summed up */
        pthread_mutex_lock(&s->st_lock);
        st = store_session_list_jobs(s->st, STORE_OWNER_COACH, sub, (int)offset, list, jobs,
                                     (int)limit, &n, &e);
        pthread_mutex_unlock(&s->st_lock);
    }
    for (int i = 0; st == CR_OK && i < n; i++)
        json_array_append_new(arr, session_json(&list[i], &jobs[i]));
    cr_free(list);
    cr_free(jobs);
    if (st != CR_OK) {
        json_decref(arr);
        return api_send_status(c, st, &e);
    }
    return api_send_json(c, MHD_HTTP_OK, arr); /* Cricksy: a bare list */
}

static enum MHD_Result session_jobs(api_server *s, struct MHD_Connection *c, const char *id)
{
    store_job *jobs = cr_calloc(SESSION_JOBS_MAX, sizeof *jobs);
    json_t *arr = json_array();
    cr_err e = {0};
    int n = 0;
    cr_status st =
        jobs == NULL || arr == NULL ? cr_err_set(&e, CR_ERR_NOMEM, "out of memory") : CR_OK;
    if (st == CR_OK) {
        pthread_mutex_lock(&s->st_lock);
        st = store_job_list_session(s->st, id, jobs, SESSION_JOBS_MAX, &n, &e);
        pthread_mutex_unlock(&s->st_lock);
    }
    for (int i = 0; st == CR_OK && i < n; i++)
        json_array_append_new(arr, api_job_json(s, &jobs[i], 1));
    cr_free(jobs);
    if (st != CR_OK) {
        json_decref(arr);
        return api_send_status(c, st, &e);
    }
    return api_send_json(c, MHD_HTTP_OK, arr);
}

/* The caller's session {session_id} into *ss; 0, or the answer already queued in *ret. */
static int own_session(api_server *s, struct MHD_Connection *c, const api_call *k,
                       store_session *ss, enum MHD_Result *ret)
{
    cr_err e = {0};
    unsigned code =
        k->param_too_long[0] ? MHD_HTTP_NOT_FOUND : api_own_session(s, k->param[0], k->sub, ss, &e);
    if (code == 0)
        return 0;
    *ret = code == MHD_HTTP_NOT_FOUND ? api_send_error(c, code, "Video session not found")
                                      : api_send_status(c, CR_ERR_DB, &e);
    return -1;
}

enum MHD_Result api_session_create(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return create_session(s, c, k->rq, k->sub);
}

enum MHD_Result api_session_list(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    return list_sessions(s, c, k->sub);
}

enum MHD_Result api_session_get(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    store_session ss;
    enum MHD_Result ret;
    if (own_session(s, c, k, &ss, &ret) != 0)
        return ret;
    return send_session(s, c, &ss);
}

enum MHD_Result api_session_jobs(api_server *s, struct MHD_Connection *c, const api_call *k)
{
    store_session ss;
    enum MHD_Result ret;
    if (own_session(s, c, k, &ss, &ret) != 0)
        return ret;
    return session_jobs(s, c, ss.id);
}
