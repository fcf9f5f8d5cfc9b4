/*
 * sessions.c -- Cricksy's video_sessions: a coach's (or an organisation's) session,
 * the owner of its analysis jobs (DESIGN.md §3).
 *
 * Ownership lives here and nowhere else: the API checks a job's owner through its
 * session, and listings filter by owner in the database.  Values of the session's
 * enums (owner_type, video_session_status, analysis_context, camera_view) are
 * Cricksy's (compat: never change) and are checked here before they reach SQL, so a
 * bad value is CR_ERR_INVALID with its name rather than a database error.
 *
 * The session's status follows its newest job (store_session_follow_job), as
 * Cricksy's routes and workers move it: pending (created, upload initiated) ->
 * uploaded (upload complete, job queued) -> processing (aggregating) -> ready / failed.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

static int one_of(const char *v, const char *const *set)
{
    for (int i = 0; set[i] != NULL; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/* Cricksy's enums (its alembic revisions n4i5j6k7l8m9 and 20260106190609). */
static const char *const owner_types[] = {STORE_OWNER_COACH, STORE_OWNER_ORG, NULL};
static const char *const contexts[] = {"batting",  "bowling", "wicketkeeping",
                                       "fielding", "mixed",   NULL};
static const char *const views[] = {"side", "front", "behind", "other", NULL};

static cr_status check_new(const store_session_new *in, cr_err *err)
{
    cr_status s = store_need(in->owner_id, "owner id", err);
    if (s != CR_OK)
        return s;
    if (in->title == NULL || *in->title == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "store: a session needs a title");
    if (strlen(in->title) >= STORE_TITLE_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "store: title longer than %d bytes",
                          STORE_TITLE_MAX - 1);
    if (in->notes != NULL && strlen(in->notes) >= STORE_NOTES_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "store: notes longer than %d bytes",
                          STORE_NOTES_MAX - 1);
    if (in->player_ids_json != NULL && strlen(in->player_ids_json) >= STORE_PLAYERS_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "store: player_ids longer than %d bytes",
                          STORE_PLAYERS_MAX - 1);
    if (in->owner_type != NULL && !one_of(in->owner_type, owner_types))
        return cr_err_set(err, CR_ERR_INVALID, "store: owner_type must be coach or org");
    if (in->analysis_context != NULL && !one_of(in->analysis_context, contexts))
        return cr_err_set(err, CR_ERR_INVALID,
                          "store: analysis_context must be batting, bowling, wicketkeeping, "
                          "fielding or mixed");
    if (in->camera_view != NULL && !one_of(in->camera_view, views))
        return cr_err_set(err, CR_ERR_INVALID,
                          "store: camera_view must be side, front, behind or other");
    return CR_OK;
}

cr_status store_session_create(store *st, const store_session_new *in, char *id_out, size_t cap,
                               cr_err *err)
{
    if (in == NULL || id_out == NULL || cap < 37)
        return cr_err_set(err, CR_ERR_INVALID, "store_session_create: bad arguments");
    cr_status s = check_new(in, err);
    if (s != CR_OK)
        return s;
    char id[STORE_ID_MAX];
    if (in->id != NULL && *in->id != '\0') {
        if ((s = store_need(in->id, "session id", err)) != CR_OK)
            return s;
        snprintf(id, sizeof id, "%s", in->id);
    } else if ((s = store_uuid(id, err)) != CR_OK) {
        return s;
    }
    store_val p[8] = {SVT(id),
                      SVT(in->owner_type != NULL ? in->owner_type : STORE_OWNER_COACH),
                      SVT(in->owner_id),
                      SVT(in->title),
                      SVT(in->notes),
                      SVT(in->player_ids_json != NULL ? in->player_ids_json : "[]"),
                      SVT(in->analysis_context),
                      SVT(in->camera_view)};
    store_rows r;
    if ((s = store_run(st, Q_SESSION_INSERT, p, 8, &r, err)) != CR_OK)
        return s;
    long changed = r.changes;
    store_rows_free(&r);
    if (changed != 1)
        return cr_err_set(err, CR_ERR_CONFLICT, "store: session %s already exists", id);
    snprintf(id_out, cap, "%s", id);
    return CR_OK;
}

static void session_from_row(const store_rows *r, int i, store_session *o)
{
    memset(o, 0, sizeof *o);
    store_cell_copy(o->id, sizeof o->id, r, i, 0);
    store_cell_copy(o->owner_type, sizeof o->owner_type, r, i, 1);
    store_cell_copy(o->owner_id, sizeof o->owner_id, r, i, 2);
    store_cell_copy(o->title, sizeof o->title, r, i, 3);
    store_cell_copy(o->notes, sizeof o->notes, r, i, 4);
    store_cell_copy(o->player_ids, sizeof o->player_ids, r, i, 5);
    store_cell_copy(o->status, sizeof o->status, r, i, 6);
    store_cell_copy(o->s3_bucket, sizeof o->s3_bucket, r, i, 7);
    store_cell_copy(o->s3_key, sizeof o->s3_key, r, i, 8);
    store_cell_copy(o->analysis_context, sizeof o->analysis_context, r, i, 9);
    store_cell_copy(o->camera_view, sizeof o->camera_view, r, i, 10);
    o->created_at = store_cell_double(r, i, 11);
    o->updated_at = store_cell_double(r, i, 12);
    if (o->player_ids[0] == '\0')
        snprintf(o->player_ids, sizeof o->player_ids, "[]");
}

cr_status store_session_get(store *st, const char *session_id, store_session *out, cr_err *err)
{
    cr_status s = store_need(session_id, "session id", err);
    if (s != CR_OK)
        return s;
    store_val p[1] = {SVT(session_id)};
    store_rows r;
    if ((s = store_run(st, Q_SESSION_GET, p, 1, &r, err)) != CR_OK)
        return s;
    if (r.nrows == 0)
        s = cr_err_set(err, CR_ERR_NOT_FOUND, "store: no session %s", session_id);
    else
        session_from_row(&r, 0, out);
    store_rows_free(&r);
    return s;
}

/* The 5 summary columns of a row from column `col` on (store_sql.c,
 * PG_SESSION_JOBS_COLS). */
static void jobs_from_row(const store_rows *r, int i, int col, store_session_jobs *o)
{
    memset(o, 0, sizeof *o);
    o->count = store_cell_int(r, i, col, 0);
    store_cell_copy(o->latest_id, sizeof o->latest_id, r, i, col + 1);
    store_cell_copy(o->latest_status, sizeof o->latest_status, r, i, col + 2);
    o->latest_created_at = store_cell_double(r, i, col + 3);
    o->latest_completed_at = store_cell_double(r, i, col + 4);
}

/* The owner's sessions, newest first, by query `q`: Q_SESSION_LIST, or
 * Q_SESSION_LIST_JOBS whose rows carry each session's job summary too (into jobs[i]). */
static cr_status session_list(store *st, int q, const char *owner_type, const char *owner_id,
                              int offset, store_session *out, store_session_jobs *jobs, int cap,
                              int *n, cr_err *err)
{
    *n = 0;
    cr_status s = store_need(owner_type, "owner type", err);
    if (s == CR_OK)
        s = store_need(owner_id, "owner id", err);
    if (s != CR_OK || cap <= 0)
        return s;
    store_val p[4] = {SVT(owner_type), SVT(owner_id), SVI(cap), SVI(offset > 0 ? offset : 0)};
    store_rows r;
    if ((s = store_run(st, q, p, 4, &r, err)) != CR_OK)
        return s;
    for (int i = 0; i < r.nrows && i < cap; i++) {
        session_from_row(&r, i, &out[*n]);
        if (jobs != NULL)
            jobs_from_row(&r, i, 13, &jobs[*n]);
        (*n)++;
    }
    store_rows_free(&r);
    return CR_OK;
}

cr_status store_session_list(store *st, const char *owner_type, const char *owner_id, int offset,
                             store_session *out, int cap, int *n, cr_err *err)
{
    return session_list(st, Q_SESSION_LIST, owner_type, owner_id, offset, out, NULL, cap, n, err);
}

cr_status store_session_list_jobs(store *st, const char *owner_type, const char *owner_id,
                                  int offset, store_session *out, store_session_jobs *jobs, int cap,
                                  int *n, cr_err *err)
{
    return session_list(st, Q_SESSION_LIST_JOBS, owner_type, owner_id, offset, out, jobs, cap, n,
                        err);
}

cr_status store_session_jobs_of(store *st, const char *session_id, store_session_jobs *out,
                                cr_err *err)
{
    memset(out, 0, sizeof *out);
    cr_status s = store_need(session_id, "session id", err);
    if (s != CR_OK)
        return s;
    store_val p[1] = {SVT(session_id)};
    store_rows r;
    if ((s = store_run(st, Q_SESSION_JOBS, p, 1, &r, err)) != CR_OK)
        return s;
    if (r.nrows > 0)
        jobs_from_row(&r, 0, 0, out);
    store_rows_free(&r);
    return CR_OK;
}

cr_status store_session_set_upload(store *st, const char *session_id, const char *bucket,
                                   const char *key, cr_err *err)
{
    cr_status s = store_need(session_id, "session id", err);
    if (s != CR_OK)
        return s;
    store_val p[3] = {SVT(session_id), SVT(bucket), SVT(key)};
    store_rows r;
    if ((s = store_run(st, Q_SESSION_SET_UPLOAD, p, 3, &r, err)) != CR_OK)
        return s;
    long changed = r.changes;
    store_rows_free(&r);
    if (changed != 1)
        return cr_err_set(err, CR_ERR_NOT_FOUND, "store: no session %s", session_id);
    return CR_OK;
}

cr_status store_session_follow_job(store *st, const char *job_id, cr_err *err)
{
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    store_val p[1] = {SVT(job_id)};
    return store_run(st, Q_SESSION_FOLLOW, p, 1, NULL, err);
}
