/*
 * worker.c -- the chunk worker and analysis worker loops (DESIGN.md §5).
 *
 * Chunk worker:
 *     every REAP_EVERY_S: store_reap_expired            (any worker reaps)
 *     store_chunk_claim(1) -> none: sleep poll_seconds
 *     pipeline_chunk_process, heartbeat every lease/3 from its progress callback
 *       (CR_ERR_CONFLICT: the lease was lost, drop the chunk: someone else has it;
 *       nothing more is written for it, neither the artifact nor a completion)
 *     ok -> store_chunk_complete; error -> store_chunk_fail (backoff or final)
 *     Every call names the claim's fencing token (store.h), and the artifact goes
 *     under that claim's own key (blob_key_chunk_lease), so a worker that was paused
 *     past its lease and resumes can neither overwrite the artifact the job reads nor
 *     record a completion: the store answers CR_ERR_CONFLICT and it moves on.
 * Analysis worker:
 *     store_job_claim_aggregation(any) -> none: sleep
 *     pipeline_job_aggregate, heartbeat as above -> store_job_finish(ok | message)
 * Database errors (CR_ERR_DB: server restarting, connection lost) pause the loop for
 * DB_RETRY_S and it goes on; the store reconnects by itself.  Nothing is lost: a
 * chunk whose completion could not be recorded comes back when its lease expires,
 * and completion is idempotent.
 * A stop request (SIGTERM) is checked between chunks: the chunk in hand is finished
 * and recorded, then the loop returns.
 */
#include "pipeline/pipeline.h"

#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REAP_EVERY_S 5.0 /* DESIGN.md §5: "every few seconds" */
#define DB_RETRY_S 1.0   /* pause after a database error before trying again */

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_sec(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int stopping(const pipeline_worker_opts *o)
{
    return o->stop != NULL && *o->stop;
}

void pipeline_worker_opts_default(pipeline_worker_opts *o)
{
    memset(o, 0, sizeof *o);
    o->worker_id = "crease";
    o->lease_seconds = 60;
    o->poll_seconds = 1;
}

/* ---- metrics ------------------------------------------------------------------ */

/* Bucket bounds (seconds).  Chunks: Cricksy's runbook expects ~10 s for a 30 s chunk
 * on a GPU; on CPUs the same chunk takes up to minutes (DESIGN.md §9: 6.2 ms/frame for
 * the landmark model alone on one thread).  Jobs: Cricksy's SLA is 5 min for a 15 min
 * video; the buckets straddle it. */
static const double chunk_bounds[] = {0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};
static const double job_bounds[] = {5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200};
#define N_BOUNDS(a) ((int)(sizeof(a) / sizeof(a)[0]))

cr_status pipeline_metrics_declare(cr_metrics *m, cr_err *err)
{
    const cr_metric_desc d[] = {
        {CR_METRIC_HISTOGRAM, PIPELINE_M_CHUNK_SECONDS,
         "Per process: seconds one chunk took in this process's chunk workers, from claim to "
         "artifact written (video reads, decoding, pose), by pose engine.",
         "engine", chunk_bounds, N_BOUNDS(chunk_bounds)},
        {CR_METRIC_COUNTER, PIPELINE_M_CHUNKS_COMPLETED,
         "Per process: chunks this process completed, by pose engine.", "engine", NULL, 0},
        {CR_METRIC_COUNTER, PIPELINE_M_CHUNKS_FAILED,
         "Per process: chunks this process failed for good (no attempt left, or an error no "
         "retry can fix); their job failed with them.",
         NULL, NULL, 0},
        {CR_METRIC_COUNTER, PIPELINE_M_CHUNKS_RETRIED,
         "Per process: failed chunk attempts of this process that went back to the queue "
         "with a backoff.",
         NULL, NULL, 0},
        {CR_METRIC_HISTOGRAM, PIPELINE_M_JOB_SECONDS,
         "Per process: seconds from upload-complete to done (database clock) of the jobs "
         "this process's analysis workers finished.",
         NULL, job_bounds, N_BOUNDS(job_bounds)},
        {CR_METRIC_COUNTER, PIPELINE_M_JOBS_COMPLETED,
         "Per process: jobs this process aggregated into results (done).", NULL, NULL, 0},
        {CR_METRIC_COUNTER, PIPELINE_M_JOBS_FAILED,
         "Per process: jobs whose aggregation failed in this process.", NULL, NULL, 0},
        {CR_METRIC_COUNTER, PIPELINE_M_LEASES_REAPED,
         "Per process: expired leases this process's reaper took back, by kind (chunk: back "
         "to the queue or failed; job: an aggregation back to the queue).",
         "kind", NULL, 0},
        {CR_METRIC_COUNTER, PIPELINE_M_HEARTBEATS,
         "Per process: lease renewals (heartbeats) this process's workers sent, by kind.", "kind",
         NULL, 0},
        {CR_METRIC_GAUGE, PIPELINE_M_LAST_ACTIVITY,
         "Per process: Unix time of the latest turn of any worker loop of this process "
         "(claim, work or idle poll); a value that stops moving means a stuck worker.",
         NULL, NULL, 0},
        {CR_METRIC_GAUGE, PIPELINE_M_IN_FLIGHT,
         "Per process: chunks and jobs this process's workers hold now, by kind.", "kind", NULL, 0},
    };
    return cr_metrics_declare_all(m, d, N_BOUNDS(d), err);
}

/* Heartbeat state shared with the progress callback. */
typedef struct beat {
    store *st;
    const pipeline_worker_opts *o;
    const char *id; /* chunk or job id */
    int64_t token;  /* the claim's fencing token */
    int is_job;
    double next;
    int lost; /* the lease is gone: stop working */
} beat;

static int on_progress(void *ctx, int64_t frames)
{
    (void)frames;
    beat *b = ctx;
    double t = now_sec();
    if (t < b->next)
        return 0;
    b->next = t + b->o->lease_seconds / 3;
    cr_err e = {0};
    cr_status s = b->is_job ? store_job_heartbeat(b->st, b->id, b->o->worker_id, b->token,
                                                  b->o->lease_seconds, &e)
                            : store_chunk_heartbeat(b->st, b->id, b->o->worker_id, b->token,
                                                    b->o->lease_seconds, &e);
    if (s == CR_ERR_CONFLICT) {
        cr_log_warn("lease.lost", "%s %s: %s", b->is_job ? "job" : "chunk", b->id, cr_err_msg(&e));
        b->lost = 1;
        return 1;
    }
    if (s == CR_OK)
        cr_metrics_add(b->o->metrics, PIPELINE_M_HEARTBEATS, b->is_job ? "job" : "chunk", 1);
    if (s != CR_OK) /* the database is away: keep working, the lease may still hold */
        cr_log_warn("heartbeat.failed", "%s %s: %s", b->is_job ? "job" : "chunk", b->id,
                    cr_err_msg(&e));
    return 0;
}

/* Runs `call` into `s` again while it fails with CR_ERR_DB (the server is away; the
 * store reconnects), unless we are stopping. */
#define DB_RETRY(o, s, call, e)                                                                    \
    do {                                                                                           \
        for (;;) {                                                                                 \
            cr_err_clear(e);                                                                       \
            (s) = (call);                                                                          \
            if ((s) != CR_ERR_DB || stopping(o))                                                   \
                break;                                                                             \
            cr_log_warn("db.retry", "%s", cr_err_msg(e));                                          \
            sleep_sec(DB_RETRY_S);                                                                 \
        }                                                                                          \
    } while (0)

/* Whether an idle worker should return. */
static int idle_done(store *st, const pipeline_worker_opts *o, int for_jobs)
{
    if (!o->idle_exit)
        return 0;
    cr_err e = {0};
    if (o->wait_job != NULL) {
        store_job j;
        if (store_job_get(st, o->wait_job, &j, &e) != CR_OK)
            return 0;
        if (for_jobs)
            return strcmp(j.status, STORE_JOB_QUEUED) != 0 &&
                   strcmp(j.status, STORE_JOB_DEEP_RUNNING) != 0;
        return strcmp(j.status, STORE_JOB_QUEUED) != 0 || j.completed_chunks >= j.total_chunks;
    }
    store_depth d;
    if (store_queue_depth(st, &d, &e) != CR_OK)
        return 0;
    if (for_jobs)
        return d.jobs_ready == 0 && d.jobs_running == 0 && d.queued_chunks == 0 &&
               d.processing_chunks == 0;
    return d.queued_chunks == 0 && d.processing_chunks == 0;
}

/* Opens the store, waiting out a database that is down (a worker started before its
 * database, or during a restart) until it answers or we are asked to stop. */
static cr_status open_store(const cr_config *cfg, const pipeline_worker_opts *o, store **st,
                            cr_err *err)
{
    for (;;) {
        cr_err e = {0};
        cr_status s = store_open(cfg, NULL, st, &e);
        if (s != CR_ERR_DB || stopping(o))
            return s == CR_OK ? s : cr_err_set(err, s, "%s", cr_err_msg(&e));
        cr_log_warn("db.retry", "open: %s", cr_err_msg(&e));
        sleep_sec(DB_RETRY_S);
    }
}

static void maybe_reap(store *st, const pipeline_worker_opts *o, double *next_reap)
{
    double t = now_sec();
    if (t < *next_reap)
        return;
    *next_reap = t + REAP_EVERY_S;
    store_reaped r = {0};
    cr_err e = {0};
    if (store_reap_expired(st, &r, &e) != CR_OK)
        cr_log_warn("reap.failed", "%s", cr_err_msg(&e));
    else if (r.chunks_requeued || r.chunks_failed || r.jobs_requeued) {
        cr_log_info("reap", "chunks requeued=%d failed=%d jobs requeued=%d", r.chunks_requeued,
                    r.chunks_failed, r.jobs_requeued);
        cr_metrics_add(o->metrics, PIPELINE_M_LEASES_REAPED, "chunk",
                       r.chunks_requeued + r.chunks_failed);
        cr_metrics_add(o->metrics, PIPELINE_M_LEASES_REAPED, "job", r.jobs_requeued);
    }
}

/* What one worker loop holds: its connections, its tracker, its counters. */
typedef struct worker_ctx {
    const cr_config *cfg;
    const pipeline_worker_opts *o;
    store *st;
    blob_store *blob;
    pose_tracker *tr; /* analysis workers create it on their first 'cpu' job */
    pipeline_worker_stats *stats;
} worker_ctx;

/* A tracker for the job's model: the worker's own when it matches, else a new one
 * (per-job settings come from the job, never from the worker's options). */
static cr_status tracker_for(worker_ctx *w, const char *model, cr_err *err)
{
    if (w->tr != NULL && strcmp(pose_tracker_model(w->tr), model) == 0)
        return CR_OK;
    pose_tracker_opts po = w->o->pose;
    po.model = model;
    pose_tracker *t = NULL;
    cr_status s = pose_tracker_create(w->cfg, &po, &t, err);
    if (s != CR_OK)
        return s;
    pose_tracker_destroy(w->tr);
    w->tr = t;
    return CR_OK;
}

int pipeline_error_permanent(cr_status s)
{
    switch (s) {
    case CR_ERR_FORMAT:
    case CR_ERR_UNSUPPORTED:
    case CR_ERR_LIMIT:
    case CR_ERR_NOT_FOUND:
    case CR_ERR_INVALID:
    case CR_ERR_CHANGED: /* the video is not the one upload-complete checked: it stays so */
        return 1;
    case CR_OK:
    case CR_ERR_NOMEM:
    case CR_ERR_IO:
    case CR_ERR_DB:
    case CR_ERR_NET:
    case CR_ERR_TIMEOUT:
    case CR_ERR_CONFLICT:
    case CR_ERR_AUTH:
    case CR_ERR_INTERNAL:
    case CR_ERR_CANCELLED:
        return 0;
    }
    return 0;
}

/* Processes one claimed chunk and records the outcome. */
static void work_chunk(worker_ctx *w, const store_chunk *c)
{
    store *st = w->st;
    const pipeline_worker_opts *o = w->o;
    pipeline_worker_stats *stats = w->stats;
    beat b = {st, o, c->id, c->lease_token, 0, now_sec() + o->lease_seconds / 3, 0};
    pipeline_chunk_summary sum;
    cr_err e = {0};
    cr_log_info("chunk.claimed", "job=%s chunk=%d [%.2f, %.2f) attempt=%d", c->job_id,
                c->chunk_index, c->start_sec, c->end_sec, c->attempts);
    /* The job's settings (DESIGN.md §3): one read per chunk, seconds of work each. */
    store_job job;
    pipeline_job_settings js;
    cr_status s;
    int video_error = 0; /* the chunk's own work failed, not this worker's set-up */
    DB_RETRY(o, s, store_job_get(st, c->job_id, &job, &e), &e);
    if (s == CR_OK) {
        pipeline_job_settings_of(&job, &js);
        s = tracker_for(w, js.model, &e);
    }
    if (s == CR_OK) {
        pipeline_chunk_spec spec = {c->session_id,  c->job_id,      c->s3_key,
                                    c->chunk_index, c->start_sec,   c->end_sec,
                                    js.sample_fps,  js.max_width,   c->lease_token,
                                    job.video_size, job.video_etag, w->cfg->skip_deblock,
                                    js.subject,     js.subject_x,   js.subject_y};
        s = pipeline_chunk_process(w->blob, w->tr, &spec, on_progress, &b, &sum, &e);
        video_error = s != CR_OK;
    }
    if (b.lost)
        return; /* someone else holds it now: no completion, no failure recorded */
    if (s == CR_OK) {
        store_completion comp = {0};
        cr_err e2 = {0};
        DB_RETRY(o, s,
                 store_chunk_complete(st, c->id, o->worker_id, c->lease_token, sum.runtime_ms,
                                      sum.artifact_key, &comp, &e2),
                 &e2);
        if (s == CR_ERR_CONFLICT) { /* the lease went between the last beat and now */
            cr_log_warn("lease.lost", "job=%s chunk=%d: %s", c->job_id, c->chunk_index,
                        cr_err_msg(&e2));
            return;
        }
        if (s != CR_OK) {
            cr_log_error("chunk.complete_failed", "job=%s chunk=%d: %s", c->job_id, c->chunk_index,
                         cr_err_msg(&e2));
            return;
        }
        stats->chunks_done++;
        stats->frames += sum.frames;
        cr_metrics_observe(o->metrics, PIPELINE_M_CHUNK_SECONDS, pose_tracker_engine(w->tr),
                           sum.runtime_ms / 1000.0);
        cr_metrics_add(o->metrics, PIPELINE_M_CHUNKS_COMPLETED, pose_tracker_engine(w->tr), 1);
        cr_log_info("chunk.completed",
                    "job=%s chunk=%d frames=%lld detected=%lld runtime_ms=%d read=%llu/%llu "
                    "progress=%d/%d",
                    c->job_id, c->chunk_index, (long long)sum.frames,
                    (long long)sum.frames_detected, sum.runtime_ms,
                    (unsigned long long)sum.bytes_read, (unsigned long long)sum.video_size,
                    comp.completed_chunks, comp.total_chunks);
        return;
    }
    store_failure f = {0};
    cr_err e2 = {0};
    cr_status fs;
    if (video_error && pipeline_error_permanent(s))
        DB_RETRY(
            o, fs,
            store_chunk_fail_now(st, c->id, o->worker_id, c->lease_token, cr_err_msg(&e), &f, &e2),
            &e2);
    else
        DB_RETRY(o, fs,
                 store_chunk_fail(st, c->id, o->worker_id, c->lease_token, cr_err_msg(&e), &f, &e2),
                 &e2);
    stats->chunks_failed++;
    if (fs != CR_OK) {
        cr_log_error("chunk.fail_unrecorded", "job=%s chunk=%d: %s (then: %s)", c->job_id,
                     c->chunk_index, cr_err_msg(&e), cr_err_msg(&e2));
        return;
    }
    cr_metrics_add(o->metrics, f.final ? PIPELINE_M_CHUNKS_FAILED : PIPELINE_M_CHUNKS_RETRIED, NULL,
                   1);
    if (f.final)
        cr_log_error("chunk.failed", "job=%s chunk=%d attempt=%d, final: %s", c->job_id,
                     c->chunk_index, f.attempts, cr_err_msg(&e));
    else
        cr_log_warn("chunk.retry", "job=%s chunk=%d attempt=%d, retry in %.1fs: %s", c->job_id,
                    c->chunk_index, f.attempts, f.retry_in_sec, cr_err_msg(&e));
}

/* A job this worker finished: counted, and its time from upload-complete (started_at,
 * set when its chunks were queued) to done (completed_at), both from the database's
 * clock, observed.  One more read per job; a failed read only loses the observation. */
static void record_job_done(worker_ctx *w, const char *job_id)
{
    cr_metrics *m = w->o->metrics;
    if (m == NULL)
        return;
    cr_metrics_add(m, PIPELINE_M_JOBS_COMPLETED, NULL, 1);
    store_job j;
    cr_err e = {0};
    if (store_job_get(w->st, job_id, &j, &e) != CR_OK) {
        cr_log_warn("metrics.job_time", "job=%s: %s", job_id, cr_err_msg(&e));
        return;
    }
    if (j.started_at > 0 && j.completed_at >= j.started_at)
        cr_metrics_observe(m, PIPELINE_M_JOB_SECONDS, NULL, j.completed_at - j.started_at);
}

/* Aggregates one job this worker holds and records the outcome. */
static void work_job(worker_ctx *w, const store_job *job)
{
    const cr_config *cfg = w->cfg;
    store *st = w->st;
    const pipeline_worker_opts *o = w->o;
    pipeline_worker_stats *stats = w->stats;
    pose_tracker **tr = &w->tr;
    cr_err e = {0};
    cr_status s = CR_OK;
    cr_log_info("job.aggregating", "job=%s chunks=%d mode=%s", job->id, job->total_chunks,
                job->deep_mode);
    if (job->total_chunks == 0) { /* a 'cpu' job: the whole video here, the job's model */
        pipeline_job_settings js;
        pipeline_job_settings_of(job, &js);
        s = tracker_for(w, js.model, &e);
    }
    /* Each chunk's artifact where its row says (Cricksy's workers name theirs). */
    store_chunk *rows = NULL;
    const char **keys = NULL;
    int nrows = 0;
    if (s == CR_OK && job->total_chunks > 0) {
        rows = cr_calloc((size_t)job->total_chunks, sizeof *rows);
        keys = cr_calloc((size_t)job->total_chunks, sizeof *keys);
        if (rows == NULL || keys == NULL)
            s = cr_err_set(&e, CR_ERR_NOMEM, "out of memory");
        if (s == CR_OK)
            DB_RETRY(o, s, store_chunks_of_job(st, job->id, rows, job->total_chunks, &nrows, &e),
                     &e);
        if (s == CR_OK && nrows != job->total_chunks)
            s = cr_err_set(&e, CR_ERR_INTERNAL, "job has %d chunk rows, expected %d", nrows,
                           job->total_chunks);
        for (int i = 0; s == CR_OK && i < nrows; i++) {
            if (rows[i].chunk_index != i)
                s = cr_err_set(&e, CR_ERR_INTERNAL, "chunk %d missing", i);
            keys[i] = rows[i].artifact_s3_key[0] != '\0' ? rows[i].artifact_s3_key : NULL;
        }
    }
    beat b = {st, o, job->id, job->lease_token, 1, now_sec() + o->lease_seconds / 3, 0};
    pipeline_job_summary sum;
    pipeline_job_result res = {0};
    if (s == CR_OK)
        s = pipeline_job_aggregate(cfg, w->blob, job, keys, *tr, on_progress, &b, &sum, &res, &e);
    cr_free(keys);
    cr_free(rows);
    if (b.lost) {
        pipeline_job_result_free(&res);
        return;
    }
    cr_err e2 = {0};
    cr_status fs;
    if (s == CR_OK) {
        store_job_outcome oc = {.ok = 1,
                                .deep_results = res.deep_results,
                                .deep_findings = res.deep_findings,
                                .deep_report = res.deep_report,
                                .results_key = sum.results_key};
        DB_RETRY(o, fs, store_job_finish(st, job->id, o->worker_id, job->lease_token, &oc, &e2),
                 &e2);
        if (fs == CR_OK) {
            stats->jobs_done++;
            stats->frames += sum.frames;
            cr_log_info("job.done", "job=%s frames=%lld detected=%lld results=%s", job->id,
                        (long long)sum.frames, (long long)sum.frames_detected, sum.results_key);
            record_job_done(w, job->id);
        }
    } else {
        char msg[STORE_MSG_MAX];
        snprintf(msg, sizeof msg, "aggregation failed: %s", cr_err_msg(&e));
        store_job_outcome oc = {.ok = 0, .message = msg};
        DB_RETRY(o, fs, store_job_finish(st, job->id, o->worker_id, job->lease_token, &oc, &e2),
                 &e2);
        stats->jobs_failed++;
        if (fs == CR_OK)
            cr_metrics_add(o->metrics, PIPELINE_M_JOBS_FAILED, NULL, 1);
        cr_log_error("job.failed", "job=%s: %s", job->id, msg);
    }
    if (fs != CR_OK)
        cr_log_error("job.finish_unrecorded", "job=%s: %s", job->id, cr_err_msg(&e2));
    pipeline_job_result_free(&res);
}

/* Claims one unit of work -- a chunk, or with `jobs` a job to aggregate -- and does
 * it.  *idle = 1 when there was nothing to claim. */
static cr_status claim_and_work(worker_ctx *w, int jobs, int *idle, cr_err *e)
{
    const pipeline_worker_opts *o = w->o;
    cr_status s;
    if (jobs) {
        store_job job;
        int won = 0;
        s = store_job_claim_aggregation(w->st, o->wait_job, o->worker_id, o->lease_seconds, &job,
                                        &won, e);
        if (s == CR_OK && won) {
            cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "job", 1);
            work_job(w, &job);
            cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "job", -1);
        }
        *idle = !won;
        return s;
    }
    store_chunk c;
    int got = 0;
    s = store_chunk_claim(w->st, o->worker_id, o->lease_seconds, 1, &c, &got, e);
    if (s == CR_OK && got == 1) {
        cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "chunk", 1);
        work_chunk(w, &c);
        cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "chunk", -1);
    }
    *idle = got == 0;
    return s;
}

/* The loop both workers run: reap, claim, work, until stopped (or idle, see
 * pipeline_worker_opts.idle_exit). */
static cr_status run_worker(const cr_config *cfg, const pipeline_worker_opts *o,
                            pipeline_worker_stats *stats, int jobs, cr_err *err)
{
    memset(stats, 0, sizeof *stats);
    worker_ctx w = {cfg, o, NULL, NULL, NULL, stats};
    cr_status s;
    if ((s = pipeline_metrics_declare(o->metrics, err)) != CR_OK)
        return s;
    if ((s = open_store(cfg, o, &w.st, err)) != CR_OK ||
        (s = blob_open(cfg, NULL, &w.blob, err)) != CR_OK ||
        (!jobs && (s = pose_tracker_create(cfg, &o->pose, &w.tr, err)) != CR_OK))
        /* chunk workers load their default model at start (a bad engine or a missing
         * model stops them at once); jobs with another model get their own tracker */
        goto done;
    double next_reap = 0;
    while (!stopping(o)) {
        cr_metrics_set(o->metrics, PIPELINE_M_LAST_ACTIVITY, NULL, (double)time(NULL));
        maybe_reap(w.st, o, &next_reap);
        cr_err e = {0};
        int idle = 0;
        s = claim_and_work(&w, jobs, &idle, &e);
        if (s == CR_ERR_DB) {
            cr_log_warn("db.retry", "claim: %s", cr_err_msg(&e));
            sleep_sec(DB_RETRY_S);
            continue;
        }
        if (s != CR_OK) {
            s = cr_err_set(err, s, "claim: %s", cr_err_msg(&e));
            goto done;
        }
        if (idle) {
            if (idle_done(w.st, o, jobs))
                break;
            sleep_sec(o->poll_seconds);
        }
    }
    s = CR_OK;
done:
    pose_tracker_destroy(w.tr);
    blob_close(w.blob);
    store_close(w.st);
    return s;
}

cr_status pipeline_chunk_worker_run(const cr_config *cfg, const pipeline_worker_opts *o,
                                    pipeline_worker_stats *stats, cr_err *err)
{
    return run_worker(cfg, o, stats, 0, err);
}

cr_status pipeline_analysis_worker_run(const cr_config *cfg, const pipeline_worker_opts *o,
                                       pipeline_worker_stats *stats, cr_err *err)
{
    return run_worker(cfg, o, stats, 1, err);
}
