/*
 * queue.c -- the job/chunk state machine of DESIGN.md §4-§5, over the driver
 * interface of store_int.h (the same code for PostgreSQL and SQLite).
 *
 * Job (video_analysis_jobs.status / stage / progress_pct; compat: never change):
 *
 *   store_job_create
 *        |
 *        v
 *   awaiting_upload --store_chunks_create--> queued / DEEP_QUEUED / 0 % <-------------------+
 *                                              |   ^  store_chunk_complete:                 |
 *                                              |   |  progress = min(99, 100*done/total)    |
 *                                              |   +--(loop)                                |
 *          store_job_claim_aggregation         |                                            |
 *          [completed == total > 0, or cpu]    v                                            |
 *                              deep_running / AGGREGATING / 99 % --store_reap_expired-------+
 *                                              |                  [job lease expired]
 *                                              |                  (claimable again)
 *                                              |
 *                                              +--store_job_finish(ok) [holder, token]-->
 *                                                 done / DONE / 100 %
 *
 *   queued --store_chunk_fail / store_reap_expired [a chunk's last attempt]--> failed / FAILED
 *   deep_running --store_job_finish(!ok) [holder, token]--> failed / FAILED (progress same)
 *   failed --store_job_retry--> queued / DEEP_QUEUED (failed chunks re-queued)
 *
 * Chunk (video_analysis_chunks.status; compat: never change):
 *
 *   store_chunks_create --> queued --store_chunk_claim (attempts+1, token+1, lease)--> processing
 *                             ^  ^                                                     |  |  |
 *                             |  +-- store_chunk_release [holder, token] (not counted) +  |  |
 *                             +----- store_chunk_fail [holder, token, attempts < max] ----+  |
 *                             +----- store_reap_expired [lease expired, attempts < max] -----+
 *   processing --store_chunk_heartbeat [holder, token]--> processing (lease extended)
 *   processing --store_chunk_complete [holder, token]--> completed (counted exactly once;
 *                                                        the artifact key of that claim)
 *   processing --store_chunk_fail [holder, token] / store_reap_expired [attempts >= max]-->
 *                failed (job failed)
 *   failed --store_job_retry--> queued (attempts = 0; the token is never reset)
 *
 * Fencing: [holder, token] means worker_id and lease_token equal the caller's, the
 * values of its own claim.  A call that fails the test is CR_ERR_CONFLICT and writes
 * nothing, so a worker that lost its lease (reaped, claimed again) cannot count,
 * complete, fail, release or heartbeat the chunk.  The same holds for the job's
 * aggregation lease: store_job_claim_aggregation bumps the job's lease_token, and
 * store_job_heartbeat / store_job_finish need [holder, token] and deep_running.
 *
 * Every transition is one conditional statement or one transaction, so concurrent
 * workers (processes, machines) cannot both take it: the loser sees 0 rows.
 * store_job_check (assert_job_state of STYLE.md rule 10) checks a job row against
 * the progress table.
 */
#include "store/store_int.h"

#include "core/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- small helpers -------------------------------------------------------------- */

double store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void store_rows_free(store_rows *r)
{
    if (r == NULL)
        return;
    if (r->cells != NULL) {
        size_t n = (size_t)r->nrows * (size_t)r->ncols;
        for (size_t i = 0; i < n; i++)
            cr_free(r->cells[i]);
        cr_free(r->cells);
    }
    r->cells = NULL;
    r->nrows = 0;
    r->ncols = 0;
}

const char *store_cell(const store_rows *r, int row, int col)
{
    if (r == NULL || r->cells == NULL || row < 0 || row >= r->nrows || col < 0 || col >= r->ncols)
        return NULL;
    return r->cells[(size_t)row * (size_t)r->ncols + (size_t)col];
}

int store_cell_int(const store_rows *r, int row, int col, int dflt)
{
    const char *v = store_cell(r, row, col);
    return v != NULL ? (int)strtol(v, NULL, 10) : dflt;
}

int64_t store_cell_i64(const store_rows *r, int row, int col)
{
    const char *v = store_cell(r, row, col);
    return v != NULL ? (int64_t)strtoll(v, NULL, 10) : 0;
}

double store_cell_double(const store_rows *r, int row, int col)
{
    const char *v = store_cell(r, row, col);
    return v != NULL ? strtod(v, NULL) : 0.0;
}

void store_cell_copy(char *dst, size_t cap, const store_rows *r, int row, int col)
{
    const char *v = store_cell(r, row, col);
    snprintf(dst, cap, "%s", v != NULL ? v : "");
}

cr_status store_run(store *st, store_stmt q, const store_val *p, int n, store_rows *out,
                    cr_err *err)
{
    const char *sql = store_sql(st->drv->dialect, q);
    if (sql == NULL)
        return cr_err_set(err, CR_ERR_INTERNAL, "store: statement %d has no %s form", (int)q,
                          st->drv->name);
    return st->drv->exec(st->ctx, (int)q, sql, p, n, out, err);
}

static int is_pg(const store *st)
{
    return st->drv->dialect == STORE_DIALECT_PG;
}

cr_status store_need(const char *v, const char *what, cr_err *err)
{
    if (v == NULL || *v == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "store: %s is required", what);
    if (strlen(v) >= STORE_ID_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "store: %s too long", what);
    return CR_OK;
}

cr_status store_uuid(char out[37], cr_err *err)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t k = getrandom(b + got, sizeof b - got, 0);
        if (k <= 0)
            return cr_err_set(err, CR_ERR_IO, "store: getrandom failed");
        got += (size_t)k;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 (RFC 4122 §4.4) */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return CR_OK;
}

static double jitter_draw(void)
{
    unsigned int r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (unsigned int)store_now_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

double store_backoff_ms(const store_options *opts, int attempts, double u)
{
    double base = (opts != NULL && opts->backoff_base_ms > 0) ? opts->backoff_base_ms
                                                              : STORE_DEFAULT_BACKOFF_BASE_MS;
    double cap = (opts != NULL && opts->backoff_cap_ms > 0) ? opts->backoff_cap_ms
                                                            : STORE_DEFAULT_BACKOFF_CAP_MS;
    if (attempts < 1)
        attempts = 1;
    double d = attempts > 40 ? cap : base * ldexp(1.0, attempts - 1);
    if (d > cap)
        d = cap;
    if (u < 0.0)
        u = 0.0;
    if (u >= 1.0)
        u = 0.999999;
    /* "Equal jitter": half fixed, half random, so retries spread out but never come
     * back sooner than half the nominal delay. */
    return d * (0.5 + 0.5 * u);
}

/* ---- open / close ------------------------------------------------------------- */

cr_status store_open_target(cr_store_kind kind, const char *target, const store_options *opts,
                            store **out, cr_err *err)
{
    *out = NULL;
    if (target == NULL || *target == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "store: empty database target");
    const store_driver *drv = kind == CR_STORE_POSTGRES ? &store_driver_pg : &store_driver_sqlite;
    if (drv->api_version != STORE_DRIVER_API)
        return cr_err_set(err, CR_ERR_INTERNAL, "store: driver %s has API %d", drv->name,
                          drv->api_version);
    store *st = cr_calloc(1, sizeof *st);
    if (st == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "store: out of memory");
    st->drv = drv;
    if (opts != NULL)
        st->opts = *opts;
    cr_status s = drv->open(target, opts, &st->ctx, err);
    if (s != CR_OK) {
        cr_free(st);
        return s;
    }
    *out = st;
    return CR_OK;
}

cr_status store_open(const cr_config *cfg, const store_options *opts, store **out, cr_err *err)
{
    return store_open_target(cfg->store, cfg->db_target, opts, out, err);
}

void store_close(store *st)
{
    if (st == NULL)
        return;
    st->drv->close(st->ctx);
    cr_free(st);
}

const char *store_backend_name(const store *st)
{
    return st->drv->name;
}

/* ---- jobs ----------------------------------------------------------------------- */

static void job_from_row(const store_rows *r, int i, store_job *j)
{
    memset(j, 0, sizeof *j);
    store_cell_copy(j->id, sizeof j->id, r, i, 0);
    store_cell_copy(j->session_id, sizeof j->session_id, r, i, 1);
    store_cell_copy(j->status, sizeof j->status, r, i, 2);
    store_cell_copy(j->stage, sizeof j->stage, r, i, 3);
    j->progress_pct = store_cell_int(r, i, 4, 0);
    store_cell_copy(j->deep_mode, sizeof j->deep_mode, r, i, 5);
    store_cell_copy(j->analysis_mode, sizeof j->analysis_mode, r, i, 6);
    j->total_chunks = store_cell_int(r, i, 7, 0);
    j->completed_chunks = store_cell_int(r, i, 8, 0);
    j->video_duration_seconds = store_cell_double(r, i, 9);
    store_cell_copy(j->s3_bucket, sizeof j->s3_bucket, r, i, 10);
    store_cell_copy(j->s3_key, sizeof j->s3_key, r, i, 11);
    store_cell_copy(j->error_message, sizeof j->error_message, r, i, 12);
    store_cell_copy(j->deep_results_s3_key, sizeof j->deep_results_s3_key, r, i, 13);
    store_cell_copy(j->worker_id, sizeof j->worker_id, r, i, 14);
    j->created_at = store_cell_double(r, i, 15);
    j->started_at = store_cell_double(r, i, 16);
    j->completed_at = store_cell_double(r, i, 17);
    j->deep_started_at = store_cell_double(r, i, 18);
    j->deep_completed_at = store_cell_double(r, i, 19);
    j->updated_at = store_cell_double(r, i, 20);
    j->lease_expires_at = store_cell_double(r, i, 21);
    j->sample_fps = store_cell_int(r, i, 22, 0);
    j->sample_rate = store_cell_double(r, i, 23);
    j->include_frames = store_cell_int(r, i, 24, 0) != 0;
    j->chunk_seconds = store_cell_int(r, i, 25, 0);
    j->max_width = store_cell_int(r, i, 26, 0);
    store_cell_copy(j->model, sizeof j->model, r, i, 27);
    j->lease_token = store_cell_i64(r, i, 28);
    j->video_size = store_cell_i64(r, i, 29);
    store_cell_copy(j->video_etag, sizeof j->video_etag, r, i, 30);
    j->subject_x = store_cell_double(r, i, 31);
    j->subject_y = store_cell_double(r, i, 32);
    j->subject = j->subject_x >= 0.0 && j->subject_y >= 0.0;
    if (!j->subject)
        j->subject_x = j->subject_y = 0.0;
}

static void chunk_from_row(const store_rows *r, int i, store_chunk *c)
{
    memset(c, 0, sizeof *c);
    store_cell_copy(c->id, sizeof c->id, r, i, 0);
    store_cell_copy(c->job_id, sizeof c->job_id, r, i, 1);
    c->chunk_index = store_cell_int(r, i, 2, 0);
    c->start_sec = store_cell_double(r, i, 3);
    c->end_sec = store_cell_double(r, i, 4);
    store_cell_copy(c->status, sizeof c->status, r, i, 5);
    c->attempts = store_cell_int(r, i, 6, 0);
    c->max_attempts = store_cell_int(r, i, 7, STORE_DEFAULT_MAX_ATTEMPTS);
    store_cell_copy(c->worker_id, sizeof c->worker_id, r, i, 8);
    store_cell_copy(c->artifact_s3_key, sizeof c->artifact_s3_key, r, i, 9);
    c->runtime_ms = store_cell_int(r, i, 10, -1);
    store_cell_copy(c->error_message, sizeof c->error_message, r, i, 11);
    c->created_at = store_cell_double(r, i, 12);
    c->started_at = store_cell_double(r, i, 13);
    c->completed_at = store_cell_double(r, i, 14);
    c->lease_expires_at = store_cell_double(r, i, 15);
    c->next_attempt_at = store_cell_double(r, i, 16);
    c->lease_token = store_cell_i64(r, i, 17);
    if (r->ncols >= 21) {
        store_cell_copy(c->session_id, sizeof c->session_id, r, i, 18);
        store_cell_copy(c->s3_bucket, sizeof c->s3_bucket, r, i, 19);
        store_cell_copy(c->s3_key, sizeof c->s3_key, r, i, 20);
    }
}

cr_status store_job_create(store *st, const store_job_new *in, char *id_out, size_t cap,
                           cr_err *err)
{
    if (in == NULL || id_out == NULL || cap < 37)
        return cr_err_set(err, CR_ERR_INVALID, "store_job_create: bad arguments");
    cr_status s = store_need(in->session_id, "session_id", err);
    if (s != CR_OK)
        return s;
    const char *mode = in->deep_mode != NULL ? in->deep_mode : STORE_DEEP_MODE_GPU;
    if (strcmp(mode, STORE_DEEP_MODE_CPU) != 0 && strcmp(mode, STORE_DEEP_MODE_GPU) != 0)
        return cr_err_set(err, CR_ERR_INVALID, "store: deep_mode must be 'cpu' or 'gpu'");
    char id[STORE_ID_MAX];
    if (in->id != NULL && *in->id != '\0') {
        s = store_need(in->id, "job id", err);
        if (s != CR_OK)
            return s;
        snprintf(id, sizeof id, "%s", in->id);
    } else if ((s = store_uuid(id, err)) != CR_OK) {
        return s;
    }
    /* DESIGN.md §2: SAMPLE_FPS defaults to 10; Cricksy's column is an integer. */
    double rate = in->sample_rate > 0.0 ? in->sample_rate : 0.0;
    int fps = in->sample_fps > 0 ? in->sample_fps : rate > 0.0 ? (int)lround(rate) : 10;
    if (fps < 1)
        fps = 1;
    if (rate <= 0.0)
        rate = fps;
    if (in->subject && !(in->subject_x >= 0.0 && in->subject_x <= 1.0 && in->subject_y >= 0.0 &&
                         in->subject_y <= 1.0))
        return cr_err_set(err, CR_ERR_INVALID, "store: subject point (%g, %g) is not within 0..1",
                          in->subject_x, in->subject_y);
    store_val p[14] = {SVT(id),
                       SVT(in->session_id),
                       SVT(mode),
                       SVT(in->analysis_mode),
                       SVT(in->s3_bucket),
                       SVT(in->s3_key),
                       SVI(fps),
                       SVF(rate),
                       SVI(in->include_frames != 0),
                       in->chunk_seconds > 0 ? SVI(in->chunk_seconds) : SVT(NULL),
                       SVI(in->max_width > 0 ? in->max_width : STORE_JOB_DEFAULT_MAX_WIDTH),
                       SVT(in->model != NULL ? in->model : STORE_JOB_DEFAULT_MODEL),
                       in->subject ? SVF(in->subject_x) : SVT(NULL),
                       in->subject ? SVF(in->subject_y) : SVT(NULL)};
    store_rows r;
    s = store_run(st, Q_JOB_INSERT, p, 14, &r, err);
    if (s != CR_OK)
        return s;
    long changed = r.changes;
    store_rows_free(&r);
    if (changed != 1) {
        /* Nothing inserted: the id is taken, or the session does not exist. */
        store_val pe[1] = {SVT(id)};
        if ((s = store_run(st, Q_JOB_EXISTS, pe, 1, &r, err)) != CR_OK)
            return s;
        int taken = store_cell_int(&r, 0, 0, 0) > 0;
        store_rows_free(&r);
        if (!taken)
            return cr_err_set(err, CR_ERR_NOT_FOUND, "store: no session %s", in->session_id);
        return cr_err_set(err, CR_ERR_CONFLICT, "store: job %s already exists", id);
    }
    snprintf(id_out, cap, "%s", id);
    return CR_OK;
}

cr_status store_job_get(store *st, const char *job_id, store_job *out, cr_err *err)
{
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    store_val p[1] = {SVT(job_id)};
    store_rows r;
    s = store_run(st, Q_JOB_GET, p, 1, &r, err);
    if (s != CR_OK)
        return s;
    if (r.nrows == 0) {
        store_rows_free(&r);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "store: no job %s", job_id);
    }
    job_from_row(&r, 0, out);
    store_rows_free(&r);
    return CR_OK;
}

cr_status store_job_list(store *st, const char *status, store_job *out, int cap, int *n,
                         cr_err *err)
{
    *n = 0;
    if (cap <= 0)
        return CR_OK;
    store_val p[2] = {SVI(cap), SVT(status)};
    store_rows r;
    cr_status s =
        store_run(st, status != NULL ? Q_JOB_LIST_STATUS : Q_JOB_LIST, p, status ? 2 : 1, &r, err);
    if (s != CR_OK)
        return s;
    for (int i = 0; i < r.nrows && i < cap; i++)
        job_from_row(&r, i, &out[i]);
    *n = r.nrows < cap ? r.nrows : cap;
    store_rows_free(&r);
    return CR_OK;
}

static cr_status job_rows(store *st, store_stmt q, const store_val *p, int np, store_job *out,
                          int cap, int *n, cr_err *err)
{
    *n = 0;
    store_rows r;
    cr_status s = store_run(st, q, p, np, &r, err);
    if (s != CR_OK)
        return s;
    for (int i = 0; i < r.nrows && i < cap; i++)
        job_from_row(&r, i, &out[(*n)++]);
    store_rows_free(&r);
    return CR_OK;
}

cr_status store_job_list_session(store *st, const char *session_id, store_job *out, int cap, int *n,
                                 cr_err *err)
{
    *n = 0;
    cr_status s = store_need(session_id, "session id", err);
    if (s != CR_OK || cap <= 0)
        return s;
    store_val p[2] = {SVT(session_id), SVI(cap)};
    return job_rows(st, Q_JOB_LIST_SESSION, p, 2, out, cap, n, err);
}

cr_status store_job_list_owner(store *st, const char *owner_type, const char *owner_id,
                               const char *status, const char *after_id, store_job *out, int cap,
                               int *n, cr_err *err)
{
    *n = 0;
    cr_status s = store_need(owner_type, "owner type", err);
    if (s == CR_OK)
        s = store_need(owner_id, "owner id", err);
    if (s != CR_OK || cap <= 0)
        return s;
    store_val p[5] = {SVI(cap), SVT(owner_type), SVT(owner_id), SVT(status), SVT(after_id)};
    return job_rows(st, Q_JOB_LIST_OWNER, p, 5, out, cap, n, err);
}

cr_status store_video_key_in_use(store *st, const char *key, int *in_use, cr_err *err)
{
    *in_use = 0;
    if (key == NULL || *key == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "store: a video key is required");
    store_val p[1] = {SVT(key)};
    store_rows r;
    cr_status s = store_run(st, Q_VIDEO_KEY_IN_USE, p, 1, &r, err);
    if (s != CR_OK)
        return s;
    *in_use = store_cell_int(&r, 0, 0, 0) > 0;
    store_rows_free(&r);
    return CR_OK;
}

cr_status store_job_fix_chunk_seconds(store *st, const char *job_id, int chunk_seconds, cr_err *err)
{
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    if (chunk_seconds <= 0)
        return cr_err_set(err, CR_ERR_INVALID, "store: chunk length must be positive");
    store_val p[2] = {SVT(job_id), SVI(chunk_seconds)};
    return store_run(st, Q_JOB_FIX_CHUNK_SECONDS, p, 2, NULL, err);
}

cr_status store_job_docs_get(store *st, const char *job_id, store_job_docs *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    store_val p[1] = {SVT(job_id)};
    store_rows r;
    s = store_run(st, Q_JOB_RESULTS, p, 1, &r, err);
    if (s != CR_OK)
        return s;
    if (r.nrows == 0 || r.ncols < 4) {
        store_rows_free(&r);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "store: no job %s", job_id);
    }
    char **dst[4] = {&out->deep_results, &out->results, &out->deep_findings, &out->deep_report};
    for (int c = 0; c < 4; c++) {
        *dst[c] = r.cells[c]; /* hand the cells over */
        r.cells[c] = NULL;
    }
    store_rows_free(&r);
    return CR_OK;
}

void store_job_docs_free(store_job_docs *d)
{
    if (d == NULL)
        return;
    cr_free(d->deep_results);
    cr_free(d->results);
    cr_free(d->deep_findings);
    cr_free(d->deep_report);
    memset(d, 0, sizeof *d);
}

cr_status store_job_results(store *st, const char *job_id, char **json_out, cr_err *err)
{
    store_job_docs d;
    cr_status s = store_job_docs_get(st, job_id, &d, err);
    *json_out = d.deep_results;
    d.deep_results = NULL;
    store_job_docs_free(&d);
    return s;
}

cr_status store_job_check(const store_job *j, cr_err *err)
{
    static const char *known[] = {"awaiting_upload", "queued",       "quick_running",
                                  "quick_done",      "deep_running", "done",
                                  "failed",          "processing",   "completed"};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strcmp(j->status, known[i]) == 0;
    if (!ok)
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: unknown status '%s'", j->id, j->status);
    if (j->progress_pct < 0 || j->progress_pct > 100)
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: progress %d", j->id, j->progress_pct);
    if (j->completed_chunks < 0 || j->completed_chunks > j->total_chunks)
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: completed %d of %d chunks", j->id,
                          j->completed_chunks, j->total_chunks);
    if (strcmp(j->status, STORE_JOB_QUEUED) == 0 && j->total_chunks > 0) {
        int want = 100 * j->completed_chunks / j->total_chunks;
        if (want > 99)
            want = 99;
        if (j->progress_pct != want)
            return cr_err_set(err, CR_ERR_INTERNAL, "job %s: queued with %d/%d chunks at %d %%",
                              j->id, j->completed_chunks, j->total_chunks, j->progress_pct);
    }
    if (strcmp(j->status, STORE_JOB_DEEP_RUNNING) == 0 && strcmp(j->stage, "AGGREGATING") == 0 &&
        (j->progress_pct != 99 || j->completed_chunks != j->total_chunks || j->worker_id[0] == 0))
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: aggregating at %d %% with %d/%d chunks",
                          j->id, j->progress_pct, j->completed_chunks, j->total_chunks);
    if (strcmp(j->status, STORE_JOB_DONE) == 0 &&
        (j->progress_pct != 100 || j->completed_chunks != j->total_chunks))
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: done at %d %% with %d/%d chunks", j->id,
                          j->progress_pct, j->completed_chunks, j->total_chunks);
    if (strcmp(j->status, STORE_JOB_FAILED) == 0 && j->error_message[0] == '\0')
        return cr_err_set(err, CR_ERR_INTERNAL, "job %s: failed without a message", j->id);
    return CR_OK;
}

/* ---- chunks --------------------------------------------------------------------- */

/* Appends "%.17g" values as a PostgreSQL array literal "{a,b,...}". */
static char *float_array(const store_chunk_span *sp, int n, int end)
{
    size_t cap = 2 + (size_t)n * 26;
    char *s = cr_malloc(cap);
    if (s == NULL)
        return NULL;
    size_t o = 0;
    s[o++] = '{';
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s%.17g", i ? "," : "",
                              end ? sp[i].end_sec : sp[i].start_sec);
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

cr_status store_chunks_create(store *st, const char *job_id, const store_chunk_span *spans, int n,
                              double duration, int max_attempts, int *created, cr_err *err)
{
    return store_chunks_create_pinned(st, job_id, spans, n, duration, max_attempts, NULL, created,
                                      err);
}

cr_status store_chunks_create_pinned(store *st, const char *job_id, const store_chunk_span *spans,
                                     int n, double duration, int max_attempts,
                                     const store_video_pin *pin, int *created, cr_err *err)
{
    if (created != NULL)
        *created = 0;
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    if (pin != NULL &&
        (pin->etag[0] == '\0' || strlen(pin->etag) >= STORE_ETAG_MAX || pin->size < 0))
        return cr_err_set(err, CR_ERR_INVALID, "store: a video pin needs a size and an etag");
    if (n < 0 || (n > 0 && spans == NULL))
        return cr_err_set(err, CR_ERR_INVALID, "store_chunks_create: bad chunk list");
    if (max_attempts <= 0)
        max_attempts = STORE_DEFAULT_MAX_ATTEMPTS;
    for (int i = 0; i < n; i++)
        if (!(spans[i].end_sec > spans[i].start_sec) || !isfinite(spans[i].start_sec) ||
            !isfinite(spans[i].end_sec))
            return cr_err_set(err, CR_ERR_INVALID, "store: chunk %d has an empty time range", i);

    char *starts = NULL, *ends = NULL;
    store_rows r = {0};
    s = st->drv->begin(st->ctx, err);
    if (s != CR_OK)
        return s;
    store_val p1[1] = {SVT(job_id)};
    s = store_run(st, Q_JOB_LOCK, p1, 1, &r, err);
    if (s != CR_OK)
        goto fail;
    if (r.nrows == 0) {
        s = cr_err_set(err, CR_ERR_NOT_FOUND, "store: no job %s", job_id);
        goto fail;
    }
    const char *status = store_cell(&r, 0, 0);
    int total = store_cell_int(&r, 0, 1, 0);
    int is_cpu = strcmp(store_cell(&r, 0, 2) ? store_cell(&r, 0, 2) : "", "cpu") == 0;
    int awaiting = status != NULL && strcmp(status, STORE_JOB_AWAITING_UPLOAD) == 0;
    int queued = status != NULL && strcmp(status, STORE_JOB_QUEUED) == 0;
    store_rows_free(&r);
    if (total > 0 || (!awaiting && !queued)) {
        st->drv->rollback(st->ctx); /* already done (idempotent), or past this step */
        return CR_OK;
    }
    s = store_run(st, Q_CHUNK_COUNT, p1, 1, &r, err);
    if (s != CR_OK)
        goto fail;
    int have = store_cell_int(&r, 0, 0, 0);
    store_rows_free(&r);
    if (have > 0 || (queued && is_cpu)) {
        st->drv->rollback(st->ctx);
        return CR_OK;
    }
    if (n == 0 && !is_cpu) {
        s = cr_err_set(err, CR_ERR_INVALID, "store: job %s is chunked (gpu) but has no chunks",
                       job_id);
        goto fail;
    }
    if (n > 0 && is_pg(st)) {
        starts = float_array(spans, n, 0);
        ends = float_array(spans, n, 1);
        if (starts == NULL || ends == NULL) {
            s = cr_err_set(err, CR_ERR_NOMEM, "store: out of memory");
            goto fail;
        }
        store_val p[4] = {SVT(job_id), SVT(starts), SVT(ends), SVI(max_attempts)};
        s = store_run(st, Q_CHUNK_INSERT, p, 4, NULL, err);
        if (s != CR_OK)
            goto fail;
    } else {
        for (int i = 0; i < n; i++) {
            char cid[37];
            if ((s = store_uuid(cid, err)) != CR_OK)
                goto fail;
            store_val p[6] = {SVT(cid),
                              SVT(job_id),
                              SVI(i),
                              SVF(spans[i].start_sec),
                              SVF(spans[i].end_sec),
                              SVI(max_attempts)};
            if ((s = store_run(st, Q_CHUNK_INSERT, p, 6, NULL, err)) != CR_OK)
                goto fail;
        }
    }
    store_val pq[5] = {SVT(job_id), SVI(n), SVF(duration), pin != NULL ? SVI(pin->size) : SVT(NULL),
                       SVT(pin != NULL ? pin->etag : NULL)};
    if ((s = store_run(st, Q_JOB_SET_QUEUED, pq, 5, NULL, err)) != CR_OK)
        goto fail;
    if ((s = store_run(st, Q_SESSION_FOLLOW, p1, 1, NULL, err)) != CR_OK)
        goto fail;
    if ((s = st->drv->commit(st->ctx, err)) != CR_OK)
        goto out;
    if (created != NULL)
        *created = n;
    goto out;
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
out:
    cr_free(starts);
    cr_free(ends);
    return s;
}

cr_status store_chunk_claim(store *st, const char *worker_id, double lease_seconds, int n,
                            store_chunk *out, int *got, cr_err *err)
{
    *got = 0;
    cr_status s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    if (n <= 0)
        return CR_OK;
    if (!(lease_seconds > 0.0))
        return cr_err_set(err, CR_ERR_INVALID, "store: lease must be positive");
    store_val p[3] = {SVT(worker_id), SVF(lease_seconds), SVI(n)};
    store_rows r;
    s = store_run(st, Q_CLAIM, p, 3, &r, err);
    if (s != CR_OK)
        return s;
    int k = r.nrows < n ? r.nrows : n;
    for (int i = 0; i < k; i++)
        chunk_from_row(&r, i, &out[i]);
    /* FIFO order for the caller: job created_at, job id, chunk_index (insertion sort:
     * n is a handful). */
    double when[k > 0 ? k : 1];
    for (int i = 0; i < k; i++)
        when[i] = store_cell_double(&r, i, 21);
    store_rows_free(&r);
    for (int i = 1; i < k; i++) {
        store_chunk tmp = out[i];
        double tw = when[i];
        int j = i - 1;
        while (j >= 0 &&
               (when[j] > tw || (when[j] == tw && (strcmp(out[j].job_id, tmp.job_id) > 0 ||
                                                   (strcmp(out[j].job_id, tmp.job_id) == 0 &&
                                                    out[j].chunk_index > tmp.chunk_index))))) {
            out[j + 1] = out[j];
            when[j + 1] = when[j];
            j--;
        }
        out[j + 1] = tmp;
        when[j + 1] = tw;
    }
    *got = k;
    return CR_OK;
}

/* Runs a one-row conditional update; 0 rows -> CR_ERR_CONFLICT with `what`. */
static cr_status run_one(store *st, store_stmt q, const store_val *p, int n, const char *what,
                         const char *id, cr_err *err)
{
    store_rows r;
    cr_status s = store_run(st, q, p, n, &r, err);
    if (s != CR_OK)
        return s;
    long changed = r.changes;
    store_rows_free(&r);
    if (changed < 1)
        return cr_err_set(err, CR_ERR_CONFLICT, "store: %s %s", what, id);
    return CR_OK;
}

cr_status store_chunk_heartbeat(store *st, const char *chunk_id, const char *worker_id,
                                int64_t token, double lease_seconds, cr_err *err)
{
    cr_status s = store_need(chunk_id, "chunk id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    store_val p[4] = {SVT(chunk_id), SVT(worker_id), SVF(lease_seconds), SVI(token)};
    return run_one(st, Q_HEARTBEAT, p, 4, "lease lost on chunk", chunk_id, err);
}

static void completion_from_row(const store_rows *r, store_completion *c)
{
    store_cell_copy(c->job_id, sizeof c->job_id, r, 0, 0);
    c->completed_chunks = store_cell_int(r, 0, 1, 0);
    c->total_chunks = store_cell_int(r, 0, 2, 0);
    const char *js = store_cell(r, 0, 3);
    c->job_ready = js != NULL && strcmp(js, STORE_JOB_QUEUED) == 0 && c->total_chunks > 0 &&
                   c->completed_chunks == c->total_chunks;
}

cr_status store_chunk_complete(store *st, const char *chunk_id, const char *worker_id,
                               int64_t token, int runtime_ms, const char *artifact_key,
                               store_completion *out, cr_err *err)
{
    store_completion tmp;
    if (out == NULL)
        out = &tmp;
    memset(out, 0, sizeof *out);
    cr_status s = store_need(chunk_id, "chunk id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    store_val p[5] = {SVT(chunk_id), runtime_ms >= 0 ? SVI(runtime_ms) : SVT(NULL),
                      SVT(artifact_key), SVT(worker_id), SVI(token)};
    store_rows r = {0};
    if (is_pg(st)) {
        s = store_run(st, Q_COMPLETE, p, 5, &r, err);
        if (s != CR_OK)
            return s;
    } else {
        if ((s = st->drv->begin(st->ctx, err)) != CR_OK)
            return s;
        s = store_run(st, Q_COMPLETE, p, 5, &r, err);
        if (s == CR_OK && r.nrows == 1) {
            char job[STORE_ID_MAX];
            store_cell_copy(job, sizeof job, &r, 0, 0);
            store_rows_free(&r);
            store_val pj[1] = {SVT(job)};
            s = store_run(st, Q_COMPLETE_JOB, pj, 1, &r, err);
        }
        if (s == CR_OK)
            s = st->drv->commit(st->ctx, err);
        if (s != CR_OK) {
            store_rows_free(&r);
            st->drv->rollback(st->ctx);
            return s;
        }
    }
    if (r.nrows == 1) {
        out->counted = 1;
        completion_from_row(&r, out);
        store_rows_free(&r);
        return CR_OK;
    }
    store_rows_free(&r);
    /* Not counted: already completed by this very claim (a repeat: fine), or the
     * caller's lease is gone (refused), or absent.  The completion statement wrote
     * nothing in either case, so this read only chooses the answer. */
    store_val pc[1] = {SVT(chunk_id)};
    if ((s = store_run(st, Q_CHUNK_STATE, pc, 1, &r, err)) != CR_OK)
        return s;
    if (r.nrows == 0) {
        store_rows_free(&r);
        return cr_err_set(err, CR_ERR_NOT_FOUND, "store: no chunk %s", chunk_id);
    }
    const char *cs = store_cell(&r, 0, 0);
    const char *holder = store_cell(&r, 0, 5);
    int64_t held = store_cell_i64(&r, 0, 6);
    int same_claim = holder != NULL && strcmp(holder, worker_id) == 0 && held == token;
    if (cs == NULL || strcmp(cs, STORE_CHUNK_COMPLETED) != 0 || !same_claim) {
        s = cr_err_set(err, CR_ERR_CONFLICT,
                       "store: chunk %s is %s (worker %s, token %lld), not completable by %s "
                       "with token %lld",
                       chunk_id, cs ? cs : "?", holder ? holder : "none", (long long)held,
                       worker_id, (long long)token);
        store_rows_free(&r);
        return s;
    }
    store_cell_copy(out->job_id, sizeof out->job_id, &r, 0, 1);
    out->completed_chunks = store_cell_int(&r, 0, 2, 0);
    out->total_chunks = store_cell_int(&r, 0, 3, 0);
    const char *js = store_cell(&r, 0, 4);
    out->job_ready = js != NULL && strcmp(js, STORE_JOB_QUEUED) == 0 && out->total_chunks > 0 &&
                     out->completed_chunks == out->total_chunks;
    store_rows_free(&r);
    return CR_OK;
}

/* store_chunk_fail and store_chunk_fail_now: `permanent` skips the retries. */
static cr_status chunk_fail(store *st, const char *chunk_id, const char *worker_id, int64_t token,
                            const char *message, int permanent, store_failure *out, cr_err *err)
{
    store_failure tmp;
    if (out == NULL)
        out = &tmp;
    memset(out, 0, sizeof *out);
    cr_status s = store_need(chunk_id, "chunk id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    const char *msg = message != NULL && *message ? message : "unknown error";
    store_rows r = {0};
    if ((s = st->drv->begin(st->ctx, err)) != CR_OK)
        return s;
    store_val p[3] = {SVT(chunk_id), SVT(worker_id), SVI(token)};
    if ((s = store_run(st, Q_CHUNK_LOCK, p, 3, &r, err)) != CR_OK)
        goto fail;
    if (r.nrows == 0) {
        s = cr_err_set(err, CR_ERR_CONFLICT, "store: chunk %s is not held by %s with token %lld",
                       chunk_id, worker_id, (long long)token);
        goto fail;
    }
    int attempts = store_cell_int(&r, 0, 0, 0),
        max = store_cell_int(&r, 0, 1, STORE_DEFAULT_MAX_ATTEMPTS);
    char job[STORE_ID_MAX];
    store_cell_copy(job, sizeof job, &r, 0, 2);
    int index = store_cell_int(&r, 0, 3, 0);
    store_rows_free(&r);
    out->attempts = attempts;
    if (attempts < max && !permanent) {
        double ms = store_backoff_ms(&st->opts, attempts, jitter_draw());
        store_val pr[3] = {SVT(chunk_id), SVF(ms), SVT(msg)};
        if ((s = store_run(st, Q_CHUNK_REQUEUE, pr, 3, NULL, err)) != CR_OK)
            goto fail;
        out->retry_in_sec = ms / 1000.0;
    } else {
        store_val pf[2] = {SVT(chunk_id), SVT(msg)};
        if ((s = store_run(st, Q_CHUNK_FAILED, pf, 2, NULL, err)) != CR_OK)
            goto fail;
        char jmsg[STORE_MSG_MAX];
        snprintf(jmsg, sizeof jmsg, "chunk %d failed after %d attempts: %s", index, attempts, msg);
        store_val pj[2] = {SVT(job), SVT(jmsg)};
        if ((s = store_run(st, Q_JOB_FAIL, pj, 2, NULL, err)) != CR_OK ||
            (s = store_run(st, Q_SESSION_FOLLOW, pj, 1, NULL, err)) != CR_OK)
            goto fail;
        out->final = 1;
    }
    return st->drv->commit(st->ctx, err);
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
    return s;
}

cr_status store_chunk_fail(store *st, const char *chunk_id, const char *worker_id, int64_t token,
                           const char *message, store_failure *out, cr_err *err)
{
    return chunk_fail(st, chunk_id, worker_id, token, message, 0, out, err);
}

cr_status store_chunk_fail_now(store *st, const char *chunk_id, const char *worker_id,
                               int64_t token, const char *message, store_failure *out, cr_err *err)
{
    return chunk_fail(st, chunk_id, worker_id, token, message, 1, out, err);
}

cr_status store_chunk_release(store *st, const char *chunk_id, const char *worker_id, int64_t token,
                              cr_err *err)
{
    cr_status s = store_need(chunk_id, "chunk id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    store_val p[3] = {SVT(chunk_id), SVT(worker_id), SVI(token)};
    return run_one(st, Q_RELEASE, p, 3, "not held: chunk", chunk_id, err);
}

cr_status store_chunks_of_job(store *st, const char *job_id, store_chunk *out, int cap, int *n,
                              cr_err *err)
{
    *n = 0;
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK || cap <= 0)
        return s;
    store_val p[2] = {SVT(job_id), SVI(cap)};
    store_rows r;
    if ((s = store_run(st, Q_CHUNKS_OF_JOB, p, 2, &r, err)) != CR_OK)
        return s;
    int k = r.nrows < cap ? r.nrows : cap;
    for (int i = 0; i < k; i++)
        chunk_from_row(&r, i, &out[i]);
    store_rows_free(&r);
    *n = k;
    return CR_OK;
}

cr_status store_reap_expired(store *st, store_reaped *out, cr_err *err)
{
    store_reaped tmp;
    if (out == NULL)
        out = &tmp;
    memset(out, 0, sizeof *out);
    store_rows r = {0};
    cr_status s = st->drv->begin(st->ctx, err);
    if (s != CR_OK)
        return s;
    if ((s = store_run(st, Q_REAP_CHUNKS, NULL, 0, &r, err)) != CR_OK)
        goto fail;
    for (int i = 0; i < r.nrows; i++) {
        const char *ns = store_cell(&r, i, 1);
        if (ns != NULL && strcmp(ns, STORE_CHUNK_FAILED) == 0) {
            out->chunks_failed++;
            char jmsg[STORE_MSG_MAX];
            snprintf(jmsg, sizeof jmsg,
                     "chunk %d failed: lease expired on its last attempt (worker lost)",
                     store_cell_int(&r, i, 2, 0));
            store_val pj[2] = {SVT(store_cell(&r, i, 0)), SVT(jmsg)};
            if ((s = store_run(st, Q_JOB_FAIL, pj, 2, NULL, err)) != CR_OK ||
                (s = store_run(st, Q_SESSION_FOLLOW, pj, 1, NULL, err)) != CR_OK)
                goto fail;
        } else {
            out->chunks_requeued++;
        }
    }
    store_rows_free(&r);
    if ((s = store_run(st, Q_REAP_JOBS, NULL, 0, &r, err)) != CR_OK)
        goto fail;
    out->jobs_requeued = (int)r.changes;
    store_rows_free(&r);
    return st->drv->commit(st->ctx, err);
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
    return s;
}

/* ---- aggregation ---------------------------------------------------------------- */

cr_status store_job_claim_aggregation(store *st, const char *job_id, const char *worker_id,
                                      double lease_seconds, store_job *out, int *won, cr_err *err)
{
    *won = 0;
    cr_status s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    if (!(lease_seconds > 0.0))
        return cr_err_set(err, CR_ERR_INVALID, "store: lease must be positive");
    store_val p[3] = {SVT(job_id), SVT(worker_id), SVF(lease_seconds)};
    store_rows r;
    s = store_run(st, job_id != NULL ? Q_AGG_CLAIM_ID : Q_AGG_CLAIM_ANY, p, 3, &r, err);
    if (s != CR_OK)
        return s;
    store_job j;
    if (r.nrows == 1) {
        *won = 1;
        job_from_row(&r, 0, &j);
        if (out != NULL)
            *out = j;
    }
    store_rows_free(&r);
    if (*won) {
        /* The session shows the work; a failure here leaves only the session's status
         * behind, which the next transition sets again. */
        store_val pf[1] = {SVT(j.id)};
        s = store_run(st, Q_SESSION_FOLLOW, pf, 1, NULL, err);
    }
    return s;
}

cr_status store_job_heartbeat(store *st, const char *job_id, const char *worker_id, int64_t token,
                              double lease_seconds, cr_err *err)
{
    cr_status s = store_need(job_id, "job id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    store_val p[4] = {SVT(job_id), SVT(worker_id), SVF(lease_seconds), SVI(token)};
    return run_one(st, Q_JOB_HEARTBEAT, p, 4, "aggregation lease lost on job", job_id, err);
}

/* The outcome is recorded only by the current holder of the aggregation lease under
 * its token: a stale aggregator (its lease reaped, the job claimed again) gets
 * CR_ERR_CONFLICT here and writes nothing, so it cannot change the job's status,
 * deep_results, findings, report or results key -- the recorded outcome is always
 * the finishing holder's.  It may still put final_results.json and report.html under
 * the job's fixed keys, even after the holder finished; those bytes are the same:
 * while a job is claimable for aggregation every chunk is completed, a completed
 * chunk's row (artifact key) never changes again (store_chunk_complete is fenced,
 * store_job_retry touches failed chunks only), and the merge is a function of the job
 * row and those artifacts. */
cr_status store_job_finish(store *st, const char *job_id, const char *worker_id, int64_t token,
                           const store_job_outcome *o, cr_err *err)
{
    cr_status s = store_need(job_id, "job id", err);
    if (s == CR_OK)
        s = store_need(worker_id, "worker id", err);
    if (s != CR_OK)
        return s;
    if (o == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "store_job_finish: no outcome");
    if ((s = st->drv->begin(st->ctx, err)) != CR_OK)
        return s;
    if (o->ok) {
        store_val p[7] = {SVT(job_id),         SVT(worker_id),        SVT(o->deep_results),
                          SVT(o->results_key), SVT(o->deep_findings), SVT(o->deep_report),
                          SVI(token)};
        s = run_one(st, Q_JOB_DONE, p, 7, "not aggregating (lease lost): job", job_id, err);
    } else {
        store_val p[4] = {
            SVT(job_id), SVT(worker_id),
            SVT(o->message != NULL && *o->message ? o->message : "aggregation failed"), SVI(token)};
        s = run_one(st, Q_JOB_FAILED, p, 4, "not aggregating (lease lost): job", job_id, err);
    }
    store_val pf[1] = {SVT(job_id)};
    if (s == CR_OK)
        s = store_run(st, Q_SESSION_FOLLOW, pf, 1, NULL, err);
    if (s != CR_OK) {
        st->drv->rollback(st->ctx);
        return s;
    }
    return st->drv->commit(st->ctx, err);
}

cr_status store_job_retry(store *st, const char *job_id, int *requeued, cr_err *err)
{
    if (requeued != NULL)
        *requeued = 0;
    cr_status s = store_need(job_id, "job id", err);
    if (s != CR_OK)
        return s;
    store_rows r = {0};
    if ((s = st->drv->begin(st->ctx, err)) != CR_OK)
        return s;
    store_val p[1] = {SVT(job_id)};
    if ((s = store_run(st, Q_JOB_LOCK, p, 1, &r, err)) != CR_OK)
        goto fail;
    if (r.nrows == 0) {
        s = cr_err_set(err, CR_ERR_NOT_FOUND, "store: no job %s", job_id);
        goto fail;
    }
    if (strcmp(store_cell(&r, 0, 0) ? store_cell(&r, 0, 0) : "", STORE_JOB_FAILED) != 0) {
        s = cr_err_set(err, CR_ERR_CONFLICT, "store: job %s is %s, not failed", job_id,
                       store_cell(&r, 0, 0));
        goto fail;
    }
    store_rows_free(&r);
    if ((s = store_run(st, Q_RETRY_CHUNKS, p, 1, &r, err)) != CR_OK)
        goto fail;
    long n = r.changes;
    store_rows_free(&r);
    if ((s = store_run(st, Q_RETRY_JOB, p, 1, NULL, err)) != CR_OK ||
        (s = store_run(st, Q_SESSION_FOLLOW, p, 1, NULL, err)) != CR_OK)
        goto fail;
    if ((s = st->drv->commit(st->ctx, err)) != CR_OK)
        return s;
    if (requeued != NULL)
        *requeued = (int)n;
    return CR_OK;
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
    return s;
}

cr_status store_queue_depth(store *st, store_depth *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    store_rows r;
    cr_status s = store_run(st, Q_DEPTH, NULL, 0, &r, err);
    if (s != CR_OK)
        return s;
    out->queued_chunks = store_cell_int(&r, 0, 0, 0);
    out->ready_chunks = store_cell_int(&r, 0, 1, 0);
    out->processing_chunks = store_cell_int(&r, 0, 2, 0);
    out->jobs_queued = store_cell_int(&r, 0, 3, 0);
    out->jobs_ready = store_cell_int(&r, 0, 4, 0);
    out->jobs_running = store_cell_int(&r, 0, 5, 0);
    store_rows_free(&r);
    return CR_OK;
}
