/*
 * ops.c -- the store's operations side (store.h, "operations"): what monitoring reads
 * (store_monitor_read), what `crease jobs stuck` lists, and what `crease gpu-mode`
 * changes.  None of it is on a worker's hot path, so the statements run as text
 * (no prepared slot) and each is written here for both dialects next to each other.
 *
 * Time: ages are computed by the database (now() on PostgreSQL, julianday('now') on
 * SQLite, as store_sql.c does), never from this process's clock.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#define PG_NOW "now()"
#define SQ_NOW "((julianday('now') - 2440587.5) * 86400.0)"

/* Cricksy's order of enum video_analysis_job_status (compat: never change). */
static const char *const job_statuses[STORE_JOB_STATUS_N] = {
    STORE_JOB_AWAITING_UPLOAD,  STORE_JOB_QUEUED,       STORE_JOB_LEGACY_PROCESSING,
    STORE_JOB_LEGACY_COMPLETED, STORE_JOB_FAILED,       STORE_JOB_QUICK_RUNNING,
    STORE_JOB_QUICK_DONE,       STORE_JOB_DEEP_RUNNING, STORE_JOB_DONE};

const char *store_job_status_name(int i)
{
    return i >= 0 && i < STORE_JOB_STATUS_N ? job_statuses[i] : NULL;
}

static int is_pg(const store *st)
{
    return st->drv->dialect == STORE_DIALECT_PG;
}

/* Runs `pg` or `sq` (by dialect) once. */
static cr_status run_text(store *st, const char *pg, const char *sq, const store_val *p, int n,
                          store_rows *out, cr_err *err)
{
    return st->drv->exec(st->ctx, -1, is_pg(st) ? pg : sq, p, n, out, err);
}

static long cell_long(const store_rows *r, int row, int col)
{
    return (long)store_cell_i64(r, row, col);
}

/* ---- monitoring ------------------------------------------------------------------ */

/* Failed chunks, active workers (distinct holders of an unexpired lease), and the age
 * of the longest-waiting claimable chunk: "claimable since" is the later of when it
 * was planned and when its backoff ends. */
static const char monitor_pg[] =
    "SELECT (SELECT count(*) FROM video_analysis_chunks WHERE status = 'failed'), "
    "(SELECT count(DISTINCT w) FROM (SELECT worker_id AS w FROM video_analysis_chunks WHERE "
    "status = 'processing' AND lease_expires_at > now() UNION SELECT worker_id FROM "
    "video_analysis_jobs WHERE status = 'deep_running' AND lease_expires_at > now()) h "
    "WHERE w IS NOT NULL), "
    "(SELECT COALESCE(extract(epoch from now() - min(GREATEST(c.created_at, "
    "c.next_attempt_at))), 0) FROM video_analysis_chunks c JOIN video_analysis_jobs j ON "
    "j.id = c.job_id WHERE c.status = 'queued' AND j.status = 'queued' AND "
    "c.next_attempt_at <= now())";
static const char monitor_sq[] =
    "SELECT (SELECT count(*) FROM video_analysis_chunks WHERE status = 'failed'), "
    "(SELECT count(DISTINCT w) FROM (SELECT worker_id AS w FROM video_analysis_chunks WHERE "
    "status = 'processing' AND lease_expires_at > " SQ_NOW " UNION SELECT worker_id FROM "
    "video_analysis_jobs WHERE status = 'deep_running' AND lease_expires_at > " SQ_NOW ") h "
    "WHERE w IS NOT NULL), "
    "(SELECT COALESCE(" SQ_NOW " - min(max(c.created_at, c.next_attempt_at)), 0) FROM "
    "video_analysis_chunks c JOIN video_analysis_jobs j ON j.id = c.job_id WHERE c.status = "
    "'queued' AND j.status = 'queued' AND c.next_attempt_at <= " SQ_NOW ")";

cr_status store_monitor_read(store *st, store_monitor *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    cr_status s = store_queue_depth(st, &out->depth, err);
    if (s != CR_OK)
        return s;
    store_rows r = {0};
    s = run_text(st, "SELECT status::text, count(*) FROM video_analysis_jobs GROUP BY status",
                 "SELECT status, count(*) FROM video_analysis_jobs GROUP BY status", NULL, 0, &r,
                 err);
    if (s != CR_OK)
        return s;
    for (int i = 0; i < r.nrows; i++) {
        const char *name = store_cell(&r, i, 0);
        for (int k = 0; name != NULL && k < STORE_JOB_STATUS_N; k++)
            if (strcmp(name, job_statuses[k]) == 0)
                out->jobs[k] = cell_long(&r, i, 1);
    }
    store_rows_free(&r);
    if ((s = run_text(st, monitor_pg, monitor_sq, NULL, 0, &r, err)) != CR_OK)
        return s;
    out->chunks_failed = cell_long(&r, 0, 0);
    out->workers_active = cell_long(&r, 0, 1);
    out->oldest_queued_s = store_cell_double(&r, 0, 2);
    if (out->oldest_queued_s < 0)
        out->oldest_queued_s = 0;
    store_rows_free(&r);
    return CR_OK;
}

/* ---- stuck chunks and jobs -------------------------------------------------------- */

/* $1 seconds, $2 limit.  Columns: reason, job, index, status, job status, attempts,
 * max attempts, worker, age, error.  NOW, AGE(t), GREATEST and TXT (the enum-to-text
 * cast) are the dialect's. */
// clang-format off
#define STUCK_CHUNKS(NOW, AGE, GREATEST, TXT)                                              \
    "SELECT reason, job_id, chunk_index, st, jst, attempts, max_attempts, wid, age, err "  \
    "FROM (SELECT CASE WHEN c.status" TXT " = 'processing' THEN 1 WHEN c.status" TXT       \
    " = 'queued' THEN 0 ELSE 2 END AS reason, c.job_id, c.chunk_index, c.status" TXT       \
    " AS st, j.status" TXT " AS jst, c.attempts, COALESCE(c.max_attempts, 3) AS "          \
    "max_attempts, COALESCE(c.worker_id, '') AS wid, CASE WHEN c.status" TXT               \
    " = 'processing' THEN " AGE("COALESCE(c.started_at, c.created_at)")                    \
    " WHEN c.status" TXT " = 'queued' THEN "                                               \
    AGE(GREATEST "(c.created_at, c.next_attempt_at)") " ELSE " AGE("c.created_at")         \
    " END AS age, COALESCE(c.error_message, '') AS err "                                   \
    "FROM video_analysis_chunks c JOIN video_analysis_jobs j ON j.id = c.job_id "          \
    "WHERE (c.status = 'processing' AND c.lease_expires_at < " NOW ") OR c.status = "      \
    "'failed' OR (c.status = 'queued' AND j.status = 'queued' AND c.next_attempt_at <= "   \
    NOW ")) x WHERE reason <> 0 OR age > $1 ORDER BY CASE reason WHEN 1 THEN 0 WHEN 0 "    \
    "THEN 1 ELSE 2 END, age DESC, job_id, chunk_index LIMIT $2"
#define PG_AGE(t) "extract(epoch from now() - " t ")"
#define SQ_AGE(t) "(" SQ_NOW " - " t ")"
// clang-format on

static const char stuck_chunks_pg[] = STUCK_CHUNKS(PG_NOW, PG_AGE, "GREATEST", "::text");
static const char stuck_chunks_sq[] = STUCK_CHUNKS(SQ_NOW, SQ_AGE, "max", "");

cr_status store_stuck_chunks(store *st, double older_than_s, store_stuck_chunk *out, int cap,
                             int *n, cr_err *err)
{
    *n = 0;
    if (cap <= 0)
        return CR_OK;
    store_rows r = {0};
    store_val p[2] = {SVF(older_than_s), SVI(cap)};
    cr_status s = run_text(st, stuck_chunks_pg, stuck_chunks_sq, p, 2, &r, err);
    if (s != CR_OK)
        return s;
    for (int i = 0; i < r.nrows && i < cap; i++) {
        store_stuck_chunk *c = &out[i];
        memset(c, 0, sizeof *c);
        int reason = store_cell_int(&r, i, 0, 0);
        c->reason = reason == 1   ? STORE_STUCK_LEASE_EXPIRED
                    : reason == 0 ? STORE_STUCK_WAITING
                                  : STORE_STUCK_FAILED;
        store_cell_copy(c->job_id, sizeof c->job_id, &r, i, 1);
        c->chunk_index = store_cell_int(&r, i, 2, -1);
        store_cell_copy(c->status, sizeof c->status, &r, i, 3);
        store_cell_copy(c->job_status, sizeof c->job_status, &r, i, 4);
        c->attempts = store_cell_int(&r, i, 5, 0);
        c->max_attempts = store_cell_int(&r, i, 6, 0);
        store_cell_copy(c->worker_id, sizeof c->worker_id, &r, i, 7);
        c->age_s = store_cell_double(&r, i, 8);
        store_cell_copy(c->error_message, sizeof c->error_message, &r, i, 9);
        (*n)++;
    }
    store_rows_free(&r);
    return CR_OK;
}

/* $1 seconds, $2 limit.  Columns: id, status, deep mode, total, completed, completed
 * rows, failed rows, idle seconds, worker, lease expired (0/1), ready (0/1). */
// clang-format off
#define STUCK_JOBS(NOW, AGE, TXT)                                                          \
    "SELECT id, st, dm, total, done, rows_done, rows_failed, idle, wid, expired, ready "   \
    "FROM (SELECT j.id, j.status" TXT " AS st, COALESCE(j.deep_mode, '') AS dm, "          \
    "COALESCE(j.total_chunks, 0) AS total, COALESCE(j.completed_chunks, 0) AS done, "      \
    "(SELECT count(*) FROM video_analysis_chunks c WHERE c.job_id = j.id AND c.status = "  \
    "'completed') AS rows_done, (SELECT count(*) FROM video_analysis_chunks c WHERE "      \
    "c.job_id = j.id AND c.status = 'failed') AS rows_failed, " AGE("j.updated_at")        \
    " AS idle, COALESCE(j.worker_id, '') AS wid, CASE WHEN j.status = 'deep_running' AND " \
    "j.lease_expires_at < " NOW " THEN 1 ELSE 0 END AS expired, CASE WHEN j.status = "     \
    "'queued' AND ((COALESCE(j.total_chunks, 0) > 0 AND j.completed_chunks = "             \
    "j.total_chunks) OR j.deep_mode = 'cpu') THEN 1 ELSE 0 END AS ready "                  \
    "FROM video_analysis_jobs j WHERE j.status IN ('queued', 'deep_running')) x "          \
    "WHERE expired = 1 OR (st = 'queued' AND (rows_done <> done OR rows_failed > 0 OR "    \
    "(ready = 1 AND idle > $1))) ORDER BY idle DESC, id LIMIT $2"
// clang-format on

static const char stuck_jobs_pg[] = STUCK_JOBS(PG_NOW, PG_AGE, "::text");
static const char stuck_jobs_sq[] = STUCK_JOBS(SQ_NOW, SQ_AGE, "");

cr_status store_stuck_jobs(store *st, double older_than_s, store_stuck_job *out, int cap, int *n,
                           cr_err *err)
{
    *n = 0;
    if (cap <= 0)
        return CR_OK;
    store_rows r = {0};
    store_val p[2] = {SVF(older_than_s), SVI(cap)};
    cr_status s = run_text(st, stuck_jobs_pg, stuck_jobs_sq, p, 2, &r, err);
    if (s != CR_OK)
        return s;
    for (int i = 0; i < r.nrows && i < cap; i++) {
        store_stuck_job *j = &out[i];
        memset(j, 0, sizeof *j);
        store_cell_copy(j->id, sizeof j->id, &r, i, 0);
        store_cell_copy(j->status, sizeof j->status, &r, i, 1);
        store_cell_copy(j->deep_mode, sizeof j->deep_mode, &r, i, 2);
        j->total_chunks = store_cell_int(&r, i, 3, 0);
        j->completed_chunks = store_cell_int(&r, i, 4, 0);
        j->rows_completed = store_cell_int(&r, i, 5, 0);
        j->rows_failed = store_cell_int(&r, i, 6, 0);
        j->idle_s = store_cell_double(&r, i, 7);
        store_cell_copy(j->worker_id, sizeof j->worker_id, &r, i, 8);
        /* One reason per job, the one an operator fixes first. */
        if (store_cell_int(&r, i, 9, 0))
            j->reason = STORE_STUCK_JOB_LEASE_EXPIRED;
        else if (j->rows_failed > 0)
            j->reason = STORE_STUCK_JOB_FAILED_CHUNKS;
        else if (j->rows_completed != j->completed_chunks)
            j->reason = STORE_STUCK_JOB_COUNT_DRIFT;
        else
            j->reason = STORE_STUCK_JOB_WAITING;
        (*n)++;
    }
    store_rows_free(&r);
    return CR_OK;
}

/* ---- gpu mode -------------------------------------------------------------------- */

/* Turns one queued 'gpu' job whole-video, in its own transaction.  The job row is
 * locked first (its update), then its chunk rows by their delete: a chunk a worker
 * holds (processing) is not deleted, and a chunk being claimed right now is either
 * already processing when the delete sees it (kept: the job is left) or skipped by
 * the claim (SKIP LOCKED) and gone.  *changed = 1 when the job turned. */
static cr_status gpu_off_one(store *st, const char *job_id, int *changed, cr_err *err)
{
    *changed = 0;
    store_val p[1] = {SVT(job_id)};
    store_rows r = {0};
    cr_status s = st->drv->begin(st->ctx, err);
    if (s != CR_OK)
        return s;
    s = run_text(st,
                 "UPDATE video_analysis_jobs SET deep_mode = 'cpu', total_chunks = 0, "
                 "completed_chunks = 0, progress_pct = 0, updated_at = now() WHERE id = $1 AND "
                 "status = 'queued' AND deep_mode = 'gpu'",
                 "UPDATE video_analysis_jobs SET deep_mode = 'cpu', total_chunks = 0, "
                 "completed_chunks = 0, progress_pct = 0, updated_at = " SQ_NOW
                 " WHERE id = ?1 AND status = 'queued' AND deep_mode = 'gpu'",
                 p, 1, &r, err);
    long turned = r.changes;
    store_rows_free(&r);
    if (s != CR_OK || turned == 0)
        goto fail;
    s = run_text(st,
                 "DELETE FROM video_analysis_chunks WHERE job_id = $1 AND status <> "
                 "'processing'",
                 "DELETE FROM video_analysis_chunks WHERE job_id = ?1 AND status <> "
                 "'processing'",
                 p, 1, NULL, err);
    if (s == CR_OK)
        s = run_text(st, "SELECT count(*) FROM video_analysis_chunks WHERE job_id = $1",
                     "SELECT count(*) FROM video_analysis_chunks WHERE job_id = ?1", p, 1, &r, err);
    if (s != CR_OK || store_cell_int(&r, 0, 0, 1) != 0)
        goto fail; /* a chunk is in a worker's hands: leave the job as it was */
    store_rows_free(&r);
    if ((s = st->drv->commit(st->ctx, err)) != CR_OK)
        return s;
    *changed = 1;
    return CR_OK;
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
    return s;
}

cr_status store_gpu_mode_set(store *st, int on, store_gpu_mode_change *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    store_rows r = {0};
    store_val p[2] = {SVT(on ? STORE_DEEP_MODE_GPU : STORE_DEEP_MODE_CPU),
                      SVT(on ? STORE_DEEP_MODE_CPU : STORE_DEEP_MODE_GPU)};
    cr_status s = run_text(st,
                           "UPDATE video_analysis_jobs SET deep_mode = $1, updated_at = now() "
                           "WHERE status = 'awaiting_upload' AND deep_mode = $2",
                           "UPDATE video_analysis_jobs SET deep_mode = ?1, updated_at = " SQ_NOW
                           " WHERE status = 'awaiting_upload' AND deep_mode = ?2",
                           p, 2, &r, err);
    out->awaiting_changed = (int)r.changes;
    store_rows_free(&r);
    if (s != CR_OK || on)
        return s;
    s = run_text(st,
                 "SELECT id FROM video_analysis_jobs WHERE status = 'queued' AND deep_mode = "
                 "'gpu' ORDER BY created_at, id",
                 "SELECT id FROM video_analysis_jobs WHERE status = 'queued' AND deep_mode = "
                 "'gpu' ORDER BY created_at, id",
                 NULL, 0, &r, err);
    for (int i = 0; s == CR_OK && i < r.nrows; i++) {
        char id[STORE_ID_MAX];
        store_cell_copy(id, sizeof id, &r, i, 0);
        int changed = 0;
        s = gpu_off_one(st, id, &changed, err);
        if (changed)
            out->queued_changed++;
        else
            out->queued_skipped++;
    }
    store_rows_free(&r);
    return s;
}

cr_status store_gpu_mode_counts_read(store *st, store_gpu_mode_counts *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    store_rows r = {0};
    static const char q[] =
        "SELECT (SELECT count(*) FROM video_analysis_jobs WHERE deep_mode = 'gpu' AND status IN "
        "('awaiting_upload', 'queued', 'deep_running')), (SELECT count(*) FROM "
        "video_analysis_jobs WHERE COALESCE(deep_mode, 'cpu') <> 'gpu' AND status IN "
        "('awaiting_upload', 'queued', 'deep_running'))";
    cr_status s = run_text(st, q, q, NULL, 0, &r, err);
    if (s != CR_OK)
        return s;
    out->gpu = cell_long(&r, 0, 0);
    out->cpu = cell_long(&r, 0, 1);
    store_rows_free(&r);
    return CR_OK;
}
