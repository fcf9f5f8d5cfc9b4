/*
 * worker.c -- the chunk worker and analysis worker loops (DESIGN.md §5).
 *
 * Chunk worker:
 *     every REAP_EVERY_S: store_reap_expired            (any worker reaps)
 *     store_chunk_claim(CREASE_CHUNKS_PER_WORKER) -> none: sleep poll_seconds
 *     pipeline_chunks_process (the chunks stepped together), each chunk's heartbeat
 *       every lease/3 from its progress callback
 *       (CR_ERR_CONFLICT: the lease was lost, drop the chunk: someone else has it;
 *       nothing more is written for it, neither the artifact nor a completion)
 *     per chunk: ok -> store_chunk_complete; error -> store_chunk_fail (backoff or
 *       final); a lost lease stops that chunk alone
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

/* What one worker loop holds: its connections, its trackers, its counters. */
typedef struct worker_ctx {
    const cr_config *cfg;
    const pipeline_worker_opts *o;
    store *st;
    blob_store *blob;
    int batch;        /* chunks claimed and stepped together (1 for analysis workers) */
    pose_stepper *sp; /* `batch` trackers; analysis workers create it on their first
                         'cpu' job */
    pose_tracker *tr; /* the stepper's first tracker */
    pipeline_worker_stats *stats;
    video_frame_pool *frames; /* the decoders' picture buffers, kept from chunk to chunk */
} worker_ctx;

/* Trackers for the job's model: the worker's own when it matches, else new ones
 * (per-job settings come from the job, never from the worker's options). */
static cr_status tracker_for(worker_ctx *w, const char *model, cr_err *err)
{
    if (w->tr != NULL && strcmp(pose_tracker_model(w->tr), model) == 0)
        return CR_OK;
    pose_tracker_opts po = w->o->pose;
    po.model = model;
    pose_stepper *sp = NULL;
    cr_status s = pose_stepper_create(w->cfg, &po, w->batch, &sp, err);
    if (s != CR_OK)
        return s;
    pose_stepper_destroy(w->sp);
    w->sp = sp;
    w->tr = pose_stepper_tracker(sp, 0);
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

/* Records a claimed chunk's outcome: its completion, or its failure (at once when
 * the chunk's own work failed for good, else with a retry).  Nothing when the lease
 * was lost: someone else holds the chunk now. */
static void chunk_outcome(worker_ctx *w, const store_chunk *c, const beat *b, cr_status s,
                          const pipeline_chunk_summary *sum, const cr_err *e, int video_error)
{
    store *st = w->st;
    const pipeline_worker_opts *o = w->o;
    pipeline_worker_stats *stats = w->stats;
    if (b->lost)
        return;
    if (s == CR_OK) {
        store_completion comp = {0};
        cr_err e2 = {0};
        DB_RETRY(o, s,
                 store_chunk_complete(st, c->id, o->worker_id, c->lease_token, sum->runtime_ms,
                                      sum->artifact_key, &comp, &e2),
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
        stats->frames += sum->frames;
        cr_metrics_observe(o->metrics, PIPELINE_M_CHUNK_SECONDS, pose_tracker_engine(w->tr),
                           sum->runtime_ms / 1000.0);
        cr_metrics_add(o->metrics, PIPELINE_M_CHUNKS_COMPLETED, pose_tracker_engine(w->tr), 1);
        cr_log_info("chunk.completed",
                    "job=%s chunk=%d frames=%lld detected=%lld runtime_ms=%d read=%llu/%llu "
                    "progress=%d/%d",
                    c->job_id, c->chunk_index, (long long)sum->frames,
                    (long long)sum->frames_detected, sum->runtime_ms,
                    (unsigned long long)sum->bytes_read, (unsigned long long)sum->video_size,
                    comp.completed_chunks, comp.total_chunks);
        return;
    }
    store_failure f = {0};
    cr_err e2 = {0};
    cr_status fs;
    if (video_error && pipeline_error_permanent(s))
        DB_RETRY(
            o, fs,
            store_chunk_fail_now(st, c->id, o->worker_id, c->lease_token, cr_err_msg(e), &f, &e2),
            &e2);
    else
        DB_RETRY(o, fs,
                 store_chunk_fail(st, c->id, o->worker_id, c->lease_token, cr_err_msg(e), &f, &e2),
                 &e2);
    stats->chunks_failed++;
    if (fs != CR_OK) {
        cr_log_error("chunk.fail_unrecorded", "job=%s chunk=%d: %s (then: %s)", c->job_id,
                     c->chunk_index, cr_err_msg(e), cr_err_msg(&e2));
        return;
    }
    cr_metrics_add(o->metrics, f.final ? PIPELINE_M_CHUNKS_FAILED : PIPELINE_M_CHUNKS_RETRIED, NULL,
                   1);
    if (f.final)
        cr_log_error("chunk.failed", "job=%s chunk=%d attempt=%d, final: %s", c->job_id,
                     c->chunk_index, f.attempts, cr_err_msg(e));
    else
        cr_log_warn("chunk.retry", "job=%s chunk=%d attempt=%d, retry in %.1fs: %s", c->job_id,
                    c->chunk_index, f.attempts, f.retry_in_sec, cr_err_msg(e));
}

int pipeline_tail_decoder_threads(int chunk_index, int total_chunks, int workers)
{
    if (workers < 2 || chunk_index < total_chunks - workers)
        return 1;
    return workers < 16 ? workers + 1 : 16; /* FFmpeg's own ceiling for automatic threads */
}

/* What work_chunks keeps per claimed chunk. */
typedef struct chunk_slot {
    beat b;
    store_job job;
    pipeline_job_settings js;
    pipeline_chunk_summary sum;
    cr_status s;
    cr_err e;
    int stepped; /* in the group stepped together */
} chunk_slot;

/* Processes claimed chunks, stepped together (pipeline_chunks_process), and records
 * each one's outcome.  They need trackers for one model: chunks of a job with another
 * model than the first's are given back to the queue (store_chunk_release) for a
 * later claim. */
static void work_chunks(worker_ctx *w, const store_chunk *cs, int n)
{
    const pipeline_worker_opts *o = w->o;
    chunk_slot *sl = cr_calloc((size_t)n, sizeof *sl);
    if (sl == NULL) { /* nothing begun: the chunks come back when their leases expire */
        cr_log_error("chunk.no_memory", "%d chunks claimed, no memory to work them", n);
        return;
    }
    const char *model = NULL; /* the group's, from its first chunk */
    cr_status model_st = CR_OK;
    cr_err model_err = {0};
    /* The group, packed (the stepper's trackers 0..k-1); idx[j]: its claimed chunk. */
    pipeline_chunk_spec specs[POSE_STEPPER_MAX];
    void *ctx[POSE_STEPPER_MAX];
    pipeline_chunk_summary sums[POSE_STEPPER_MAX];
    cr_status st[POSE_STEPPER_MAX];
    cr_err errs[POSE_STEPPER_MAX];
    int idx[POSE_STEPPER_MAX], k = 0;
    for (int i = 0; i < n; i++) { /* n <= POSE_STEPPER_MAX: the claim asked no more */
        const store_chunk *c = &cs[i];
        chunk_slot *x = &sl[i];
        x->b = (beat){w->st, o, c->id, c->lease_token, 0, now_sec() + o->lease_seconds / 3, 0};
        cr_log_info("chunk.claimed", "job=%s chunk=%d [%.2f, %.2f) attempt=%d", c->job_id,
                    c->chunk_index, c->start_sec, c->end_sec, c->attempts);
        /* The job's settings (DESIGN.md §3): one read per chunk, seconds of work each. */
        DB_RETRY(o, x->s, store_job_get(w->st, c->job_id, &x->job, &x->e), &x->e);
        if (x->s != CR_OK)
            continue;
        pipeline_job_settings_of(&x->job, &x->js);
        if (model == NULL) {
            model = x->js.model;
            model_st = tracker_for(w, model, &model_err);
        } else if (strcmp(model, x->js.model) != 0) {
            cr_err e2 = {0};
            cr_status rs;
            DB_RETRY(o, rs, store_chunk_release(w->st, c->id, o->worker_id, c->lease_token, &e2),
                     &e2);
            cr_log_info("chunk.released", "job=%s chunk=%d: model %s, not %s%s%s", c->job_id,
                        c->chunk_index, x->js.model, model, rs != CR_OK ? ": " : "",
                        rs != CR_OK ? cr_err_msg(&e2) : "");
            x->b.lost = 1; /* not ours to record */
            continue;
        }
        if (model_st != CR_OK) { /* this worker's set-up failed, for each chunk alike */
            x->s = cr_err_set(&x->e, model_st, "%s", cr_err_msg(&model_err));
            continue;
        }
        int threads =
            pipeline_tail_decoder_threads(c->chunk_index, x->job.total_chunks, o->workers);
        specs[k] = (pipeline_chunk_spec){.session_id = c->session_id,
                                         .job_id = c->job_id,
                                         .video_key = c->s3_key,
                                         .chunk_index = c->chunk_index,
                                         .start_sec = c->start_sec,
                                         .end_sec = c->end_sec,
                                         .sample_fps = x->js.sample_fps,
                                         .max_width = x->js.max_width,
                                         .lease_token = c->lease_token,
                                         .video_size = x->job.video_size,
                                         .video_etag = x->job.video_etag,
                                         .skip_deblock = w->cfg->skip_deblock,
                                         .subject = x->js.subject,
                                         .subject_x = x->js.subject_x,
                                         .subject_y = x->js.subject_y,
                                         .decoder_threads = threads,
                                         .read_ahead = threads > 1 ? PIPELINE_TAIL_READ_AHEAD : 0,
                                         .total_chunks = x->job.total_chunks,
                                         .chunk_seconds = x->job.chunk_seconds,
                                         .frame_pool = w->frames};
        ctx[k] = &x->b;
        cr_err_clear(&errs[k]);
        idx[k++] = i;
        x->stepped = 1;
    }
    if (k > 0) {
        pipeline_chunks_process(w->blob, w->sp, specs, k, on_progress, ctx, sums, st, errs);
        for (int j = 0; j < k; j++) {
            chunk_slot *x = &sl[idx[j]];
            x->s = st[j];
            x->sum = sums[j];
            x->e = errs[j];
        }
    }
    for (int i = 0; i < n; i++) /* the chunk's own work failed, or this worker's set-up */
        chunk_outcome(w, &cs[i], &sl[i].b, sl[i].s, &sl[i].sum, &sl[i].e, sl[i].stepped);
    cr_free(sl);
}

/* A job this worker finished: its time from upload-complete (started_at, set when its
 * chunks were queued) to done (completed_at), both from the database's clock, observed,
 * then the job counted.  In that order, so a scrape that sees the count also sees the
 * observation.  One more read per job; a failed read only loses the observation. */
static void record_job_done(worker_ctx *w, const char *job_id)
{
    cr_metrics *m = w->o->metrics;
    if (m == NULL)
        return;
    store_job j;
    cr_err e = {0};
    if (store_job_get(w->st, job_id, &j, &e) != CR_OK)
        cr_log_warn("metrics.job_time", "job=%s: %s", job_id, cr_err_msg(&e));
    else if (j.started_at > 0 && j.completed_at >= j.started_at)
        cr_metrics_observe(m, PIPELINE_M_JOB_SECONDS, NULL, j.completed_at - j.started_at);
    cr_metrics_add(m, PIPELINE_M_JOBS_COMPLETED, NULL, 1);
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
    store_chunk c[POSE_STEPPER_MAX];
    int got = 0;
    s = store_chunk_claim(w->st, o->worker_id, o->lease_seconds, w->batch, c, &got, e);
    if (s == CR_OK && got > 0) {
        cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "chunk", got);
        work_chunks(w, c, got);
        cr_metrics_add(o->metrics, PIPELINE_M_IN_FLIGHT, "chunk", -got);
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
    worker_ctx w = {cfg, o, NULL, NULL, 1, NULL, NULL, stats, NULL};
    if (!jobs) {
        w.batch = o->chunks_per_worker > 0 ? o->chunks_per_worker : cfg->chunks_per_worker;
        w.batch = w.batch < 1 ? 1 : w.batch > POSE_STEPPER_MAX ? POSE_STEPPER_MAX : w.batch;
    }
    cr_status s;
    if ((s = pipeline_metrics_declare(o->metrics, err)) != CR_OK)
        return s;
    if ((!jobs && (s = video_frame_pool_create(&w.frames, err)) != CR_OK) ||
        (s = open_store(cfg, o, &w.st, err)) != CR_OK ||
        (s = blob_open(cfg, NULL, &w.blob, err)) != CR_OK ||
        (!jobs &&
         (s = tracker_for(&w, o->pose.model != NULL ? o->pose.model : "full", err)) != CR_OK))
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
    pose_stepper_destroy(w.sp);
    video_frame_pool_destroy(w.frames); /* after the last chunk's decoder is gone */
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
