/*
 * pipeline.h -- the work of crease's workers: one chunk of a video into landmarks,
 * and a job's chunks into its final results (DESIGN.md §4-§5).
 *
 *   chunk:  blob reader on the job's video (range reads) -> video sampler on the
 *           chunk's [start, end) of the global grid -> pose tracker (video mode) ->
 *           chunk_NNNN.json in the blob store
 *   job:    the chunk artifacts in index order -> one pose series on the grid
 *           (checked: strictly increasing frame_num, no duplicate) ->
 *           final_results.json in the blob store + a summary for deep_results
 *
 * A deep_mode 'cpu' job has no chunk rows: the analysis worker processes the whole
 * video as one chunk (index 0, [0, duration)) and then aggregates it the same way.
 *
 * The worker loops (chunk worker, analysis worker) live in worker.c behind
 * pipeline_chunk_worker_run and pipeline_analysis_worker_run; `crease analyze` runs
 * both inside one process on the embedded store.  Videos come in through submit.c
 * (pipeline_submit, pipeline_complete_upload), for the API and the commands alike.
 *
 * Threads: functions here are called by one thread per tracker/store; the blob
 * store may be shared between threads.
 */
#ifndef CR_PIPELINE_PIPELINE_H
#define CR_PIPELINE_PIPELINE_H

#include "blob/blob.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "pose/pose_stepper.h"
#include "pose/pose_tracker.h"
#include "store/store.h"
#include "video/video.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

/* Called after every frame of a chunk; a non-zero return stops the chunk with
 * CR_ERR_CANCELLED (a lost lease, SIGTERM).  Workers heartbeat from here. */
typedef int (*pipeline_progress_fn)(void *ctx, int64_t frames_done);

typedef struct pipeline_chunk_spec {
    const char *session_id;
    const char *job_id;
    const char *video_key; /* the job's video in the blob store */
    int chunk_index;
    double start_sec, end_sec;
    double sample_fps; /* the job's settings (pipeline_job_settings_of) */
    int max_width;
    int64_t lease_token; /* the claim's fencing token: the artifact goes under
                            blob_key_chunk_lease; 0 = blob_key_chunk (no claim) */
    /* The video upload-complete checked (store_job.video_size / video_etag): the chunk
     * reads only that object (blob_open_reader_pinned).  NULL or "" = not pinned (a job
     * Cricksy queued, or one queued before crease pinned videos): read as it is. */
    int64_t video_size;
    const char *video_etag;
    int skip_deblock; /* the worker's CREASE_SKIP_DEBLOCK (video_sampler_opts) */
    /* The job's subject hint: follow the person nearest (subject_x, subject_y),
     * normalized to the displayed picture; subject = 0: the strongest detection.  Each
     * chunk looks for the subject at the point at its start (pose_tracker_set_subject),
     * so chunks stay independent: from behind the stumps the batter stays near the
     * crease, where the coach pointed in the first frame. */
    int subject;
    double subject_x, subject_y;
    /* Decoder threads for the chunk's video (video_sampler_opts.threads); 0 or 1: one,
     * the default, since chunks already run in parallel.  More: frame threads, for the
     * chunks at a job's end (pipeline_tail_decoder_threads).  The frames are the same. */
    int decoder_threads;
    /* Frames made ahead by a thread of the chunk's own while the model runs on the last
     * (video_sampler_opts.read_ahead); 0, the default: none.  The chunks at a job's end
     * get PIPELINE_TAIL_READ_AHEAD.  The frames are the same. */
    int read_ahead;
    /* The job's plan: its chunk count and chunk length (seconds), 0 = unknown.  Known,
     * a boundary the chunk shares with a neighbour (not 0, not the video's end) that
     * lies where the plan puts it (chunk i starts at i * chunk_seconds) moves to the
     * keyframe decoding starts from, if less than half a chunk away, as both neighbours
     * compute it (video_sampler_opts' keyframe bounds): each chunk then starts decoding
     * at its first sample instead of up to a GOP before it.  The grid points still go
     * out once each, in order; the chunk's artifact keeps the plan's start_sec and
     * end_sec, and its poses carry their own times. */
    int total_chunks;
    int chunk_seconds;
    /* Borrowed, or NULL: the picture buffers the chunk's decoder takes (video.h FRAME
     * POOL); a worker keeps one for all its chunks.  The frames are the same. */
    video_frame_pool *frame_pool;
} pipeline_chunk_spec;

/* How many decoder threads chunk `chunk_index` of a job of `total_chunks` gets in a
 * process whose `workers` chunk worker loops share its cores.  Chunks are claimed in
 * index order, so the last `workers` of a job run while nothing of that job is left to
 * claim: as each sibling finishes, its core would idle until the job's last chunk is
 * done.  Those chunks decode with workers + 1 frame threads (at most 16), so the
 * decoding spreads to the cores their siblings free.  Every other chunk, and every
 * chunk where workers < 2: 1.  Measured (`crease analyze`, one 60 s chunk alone on 2
 * cores): a phone-like 1080p clip 18.4 -> 12.9 s with 3 threads (decoding is most of
 * its work), a low-bitrate one 6.2 -> 5.3 s; frame threads cost ~5 % more CPU for those
 * chunks, and memory: the 15-min low-bitrate reference peaked at 374-421 MB with them
 * against 339-340 MB without (its B-frames keep more frames in flight), the phone-like
 * one at 337-378 MB against ~310. */
int pipeline_tail_decoder_threads(int chunk_index, int total_chunks, int workers);

/* The read-ahead of the chunks that get more than one decoder thread above.  Those
 * chunks' frames are then decoded, scaled and converted on other threads than the
 * model's, which runs on one core; on 2 cores, a 60 s chunk alone, 1080p (`crease
 * analyze --workers 1` with the tail's settings, three runs each): low-bitrate 4.1-4.3 s
 * with 3 decoder threads, 3.7-3.8 s with those and 2 frames ahead (1 decoder thread and
 * 2 ahead: 3.5-3.7 s); phone-like 11.5-12.1 s and 10.6-11.6 s.  Every chunk reading
 * ahead made the whole 15-min low-bitrate analysis slower (37.7 -> 39.0 s, 40.3 -> 44.4
 * s, interleaved): on busy cores the second thread only takes turns with the model. */
#define PIPELINE_TAIL_READ_AHEAD 2

/* The start of the message of a chunk or job that met another object than the one
 * upload-complete checked (CR_ERR_CHANGED). */
#define PIPELINE_VIDEO_CHANGED "the uploaded video changed after upload-complete"

typedef struct pipeline_chunk_summary {
    char artifact_key[BLOB_KEY_MAX];
    int64_t frames;          /* grid points sampled */
    int64_t frames_detected; /* frames with a pose */
    uint64_t bytes_read;     /* video bytes the sampler consumed */
    uint64_t video_size;     /* size of the whole video object */
    int runtime_ms;
} pipeline_chunk_summary;

/* The sampler's full-resolution source picture of `f` (video_sampler_opts.source) as
 * the pose tracker's input (pose_track_image); the pixels stay the sampler's. */
void pipeline_frame_image(const video_frame *f, pose_image *out);

/* The sampler's scaled RGB24 picture of `f` (MAX_WIDTH, as displayed) as the pose
 * tracker's coarse picture (pose_track_images); returns 0 (and *out untouched) when
 * the frame has none (video_sampler_opts.rgb = 0). */
int pipeline_frame_coarse(const video_frame *f, pose_image *out);

/* Processes one chunk and writes its artifact (chunk JSON: job_id, session_id,
 * chunk_index, start_sec, end_sec, sample_fps, max_width, width and height of the
 * sampled frames (absent when the chunk has no frame), engine, model, frames,
 * frames_detected, runtime_ms, poses[] in the format of pose/pose_json.h).
 * The tracker is reset first.  Video errors come back as they are (CR_ERR_FORMAT,
 * ...), with the chunk named in the message.  A pinned chunk (spec->video_etag) whose
 * video is another object now -- before any frame, or at any read after -- fails with
 * CR_ERR_CHANGED, its message starting with PIPELINE_VIDEO_CHANGED, and writes no
 * artifact. */
cr_status pipeline_chunk_process(blob_store *blob, pose_tracker *tracker,
                                 const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_chunk_summary *out, cr_err *err);

/* pipeline_chunk_process for n chunks at once (1 <= n <= the stepper's size): chunk i
 * on the stepper's tracker i, one frame of each per step, the landmark crops of a step
 * run as one batch (pose_stepper.h).  Each chunk's outcome is its own, as
 * pipeline_chunk_process gives it: status[i], errs[i] (set when status[i] fails) and
 * out[i]; progress(progress_ctx[i], ...) after each of chunk i's frames (non-zero
 * stops chunk i alone).  A chunk that ends early (fewer frames, an error) leaves the
 * others stepping on.  Returns the first failed chunk's status, or CR_OK. */
cr_status pipeline_chunks_process(blob_store *blob, pose_stepper *stepper,
                                  const pipeline_chunk_spec *specs, int n,
                                  pipeline_progress_fn progress, void *const *progress_ctx,
                                  pipeline_chunk_summary *out, cr_status *status, cr_err *errs);

typedef struct pipeline_job_summary {
    char results_key[BLOB_KEY_MAX];
    int chunks;
    int64_t frames;
    int64_t frames_detected;
    int64_t grid_gaps; /* grid points missing between the first and last frame */
} pipeline_job_summary;

/* Aggregates a job the caller holds (store_job_claim_aggregation won): reads its
 * chunk artifacts (for a 'cpu' job with no chunks, first processes the whole video
 * with `tracker`, which may be NULL for chunked jobs), merges them, computes the
 * analysis (analysis/analysis.h: `metrics`, `findings`, `report_key`; report.html
 * written to blob_key_report), writes final_results.json and returns in *summary_json (cr_free) the
 * summary that goes into deep_results.  `progress` (may be NULL) is called per frame of a 'cpu' job
 * and per chunk read.  Does not change the job's status: the caller calls
 * store_job_finish with the outcome. */
/* What an aggregation hands to store_job_finish (JSON texts, cr_free each; or all
 * with pipeline_job_result_free). */
typedef struct pipeline_job_result {
    char *deep_results;  /* Cricksy's deep_results: pose_summary, metrics, findings,
                            report, analysis_mode_used, meta, outputs + crease's keys */
    char *deep_findings; /* the findings object */
    char *deep_report;   /* the report object (Cricksy's shape) */
} pipeline_job_result;
void pipeline_job_result_free(pipeline_job_result *r);

/* `artifact_keys` (may be NULL: keys rebuilt from blob_key_chunk) names each chunk's
 * artifact as its chunk row records it (a mixed fleet: Cricksy's workers write their
 * own keys); artifacts in Cricksy's chunk format ({"poses", "metadata"}, frames
 * numbered from the chunk's start) are accepted and placed on the global grid. */
cr_status pipeline_job_aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                                 const char *const *artifact_keys, pose_tracker *tracker,
                                 pipeline_progress_fn progress, void *progress_ctx,
                                 pipeline_job_summary *out, pipeline_job_result *result,
                                 cr_err *err);

/* Whether a chunk's error can never succeed on another attempt, so the chunk fails at
 * once: the one place that decides.  Permanent: the video is malformed
 * (CR_ERR_FORMAT), unsupported, beyond a limit, gone (CR_ERR_NOT_FOUND), not the one
 * upload-complete checked (CR_ERR_CHANGED), or the job's settings are invalid.
 * Everything else (I/O, network, timeouts, the database, memory, our own bugs) is
 * retried with backoff. */
int pipeline_error_permanent(cr_status s);

/* ---- worker loops ---------------------------------------------------------------- */

typedef struct pipeline_worker_opts {
    const char *worker_id;             /* "host:pid[:n]" */
    double lease_seconds;              /* default 60 */
    double poll_seconds;               /* sleep when the queue is empty, default 1 */
    int idle_exit;                     /* stop when nothing is claimable (and, with
                                          wait_job, when that job left 'queued') */
    const char *wait_job;              /* with idle_exit: keep going until this job is
                                          no longer queued */
    const volatile sig_atomic_t *stop; /* set by a signal handler: finish and exit */
    pose_tracker_opts pose;
    /* Chunk workers: chunks claimed at once and stepped together, one frame of each per
     * landmark model run (pipeline_chunks_process); 1..POSE_STEPPER_MAX; 0: the
     * config's CREASE_CHUNKS_PER_WORKER (pipeline_worker_opts_default leaves 0). */
    int chunks_per_worker;
    /* Chunk worker loops this process runs side by side on its cores, this one included
     * (0 = 1): a job's last chunks decode with more threads where it is 2 or more
     * (pipeline_tail_decoder_threads).  A process cannot see its neighbours, so a loop
     * on its own (crease chunk-worker) leaves it 1. */
    int workers;
    cr_metrics *metrics; /* where the loop records (pipeline_metrics_declare'd);
                            NULL = nowhere.  Shared by every loop of the process */
} pipeline_worker_opts;

typedef struct pipeline_worker_stats {
    int64_t chunks_done;
    int64_t chunks_failed;
    int64_t jobs_done;
    int64_t jobs_failed;
    int64_t frames;
} pipeline_worker_stats;

/* Claims and processes chunks until *stop (or idle, see idle_exit).  Reaps expired
 * leases every few seconds.  On stop, the chunk in hand is finished (stop is checked
 * between chunks; a chunk lasts seconds).  Returns CR_OK on a clean stop. */
cr_status pipeline_chunk_worker_run(const cr_config *cfg, const pipeline_worker_opts *opts,
                                    pipeline_worker_stats *stats, cr_err *err);

/* Claims ready jobs (all chunks completed, or deep_mode 'cpu') and aggregates them
 * until *stop (or idle).  Each job ends done or failed with its error message. */
cr_status pipeline_analysis_worker_run(const cr_config *cfg, const pipeline_worker_opts *opts,
                                       pipeline_worker_stats *stats, cr_err *err);

/* Fills the options' defaults (lease 60 s, poll 1 s, pose defaults). */
void pipeline_worker_opts_default(pipeline_worker_opts *o);

/* ---- metrics (core/metrics.h) ------------------------------------------------------
 *
 * What the worker loops record in pipeline_worker_opts.metrics.  All of it is per
 * process: counted by the process that did the work since it started, so a fleet's
 * totals are the sum over its processes (Prometheus: sum(rate(...))).  The values
 * taken from the database (queued chunks, jobs by status) are not here: they are the
 * same seen from every process, and the API module writes them at scrape time. */

/* Seconds one chunk took (claim to artifact written: reading, decoding, pose), label
 * engine ("xnnpack", "ref", ...). */
#define PIPELINE_M_CHUNK_SECONDS "crease_chunk_processing_seconds"
#define PIPELINE_M_CHUNKS_COMPLETED "crease_chunks_completed_total" /* label engine */
#define PIPELINE_M_CHUNKS_FAILED "crease_chunks_failed_total"       /* failed for good */
#define PIPELINE_M_CHUNKS_RETRIED "crease_chunks_retried_total"     /* failed, queued again */
/* Seconds from upload-complete (the job's started_at) to done, for jobs this process
 * finished; both ends from the database's clock. */
#define PIPELINE_M_JOB_SECONDS "crease_job_completion_seconds"
#define PIPELINE_M_JOBS_COMPLETED "crease_jobs_completed_total"
#define PIPELINE_M_JOBS_FAILED "crease_jobs_failed_total"
/* Leases that expired and were taken back by this process's reaper, label kind
 * ("chunk": back to queued or failed; "job": an aggregation back to queued). */
#define PIPELINE_M_LEASES_REAPED "crease_lease_expiries_reaped_total"
/* Lease renewals sent, label kind ("chunk", "job"), and the time of the latest loop
 * turn (a worker whose value stops moving is stuck). */
#define PIPELINE_M_HEARTBEATS "crease_worker_heartbeats_total"
#define PIPELINE_M_LAST_ACTIVITY "crease_worker_last_activity_timestamp_seconds"
/* Chunks and jobs this process is working on now, label kind ("chunk", "job"). */
#define PIPELINE_M_IN_FLIGHT "crease_worker_in_flight"

/* Declares the families above in `m` (NULL: nothing).  Idempotent. */
cr_status pipeline_metrics_declare(cr_metrics *m, cr_err *err);

/* ---- autoscaling (autoscale.c) -----------------------------------------------------
 *
 * The chunk workers scale on queued chunks per worker (DESIGN.md §12, target 5):
 * KEDA reads STORE_SQL_QUEUED_CHUNKS itself (deploy/kubernetes/); on ECS
 * `crease autoscale-metric` publishes these to CloudWatch for a target-tracking
 * policy (deploy/ecs/). */

#define PIPELINE_CLOUDWATCH_NAMESPACE "Cricksy/VideoAnalysis" /* Cricksy's pipeline doc's */
#define PIPELINE_CW_QUEUED "QueuedChunks"
#define PIPELINE_CW_PER_WORKER "QueuedChunksPerWorker"

typedef struct pipeline_autoscale_sample {
    long queued_chunks;  /* STORE_SQL_QUEUED_CHUNKS */
    long workers_active; /* workers holding a lease now (store_monitor) */
    long workers;        /* the divisor: the fixed count given, else workers_active, at
                            least 1 (none active: the queue itself is the value) */
    double per_worker;   /* queued_chunks / workers */
} pipeline_autoscale_sample;

/* Reads the signal; workers > 0 fixes the divisor (a known fleet size). */
cr_status pipeline_autoscale_read(store *st, int workers, pipeline_autoscale_sample *out,
                                  cr_err *err);

typedef struct pipeline_cloudwatch {
    const char *endpoint;   /* NULL: https://monitoring.<AWS_REGION>.amazonaws.com/ */
    const char *name_space; /* NULL: PIPELINE_CLOUDWATCH_NAMESPACE */
    const char *dimension_name, *dimension_value; /* one dimension on both metrics; NULL:
                                                     none */
} pipeline_cloudwatch;

/* The form-encoded PutMetricData body for `s` at Unix time `now` (appended to out):
 * Action, Version, Namespace, then QueuedChunks and QueuedChunksPerWorker (Unit
 * Count, Timestamp, the dimension). */
cr_status pipeline_cloudwatch_body(const pipeline_cloudwatch *cw,
                                   const pipeline_autoscale_sample *s, int64_t now, cr_buf *out);

/* Publishes `s` with one signed POST (credentials and region: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, as for S3).  CR_ERR_AUTH for
 * missing or refused credentials, CR_ERR_NET / CR_ERR_TIMEOUT for the network or a
 * 5xx, CR_ERR_INVALID for another refusal; CloudWatch's error code and message in err. */
cr_status pipeline_cloudwatch_put(const cr_config *cfg, const pipeline_cloudwatch *cw,
                                  const pipeline_autoscale_sample *s, int64_t now, cr_err *err);

/* ---- submitting (DESIGN.md §4, steps 1-3) ---------------------------------------- */

/* Every video comes in through two calls: pipeline_submit creates its job
 * (awaiting_upload), pipeline_complete_upload queues it once the video is in the blob
 * store.  The API's initiate and upload-complete routes make one call each;
 * `crease submit` and `crease analyze` make both through pipeline_submit_file.
 *
 * Locking: `st_lock` (may be NULL) is held around each use of `st` -- the API server
 * shares one store connection between its threads -- and never across a blob call
 * (a probe may take seconds on S3). */

typedef struct pipeline_submit_opts {
    const char *session_id;    /* NULL = a new session (uuid v4) owned by owner_id;
                                  else an existing session (the caller checked it is
                                  the owner's) */
    const char *owner_type;    /* a new session's owner: "coach" (NULL) or "org" */
    const char *owner_id;      /* NULL = "local" (the command line's owner) */
    const char *title;         /* a new session's title; NULL = the file's name or
                                  "Net session" */
    const char *path;          /* a local file to store as the video first; NULL = the
                                  client uploads it later (presigned PUT) */
    int link_file;             /* store `path` as a hard link where the blob store can
                                  (blob_put_file_shared) instead of a copy: for a
                                  caller that analyses it at once (crease analyze); the
                                  object then has the file's own etag (blob.h), and a
                                  file changed before the job ends fails the job */
    const char *analysis_mode; /* "batting", ...; NULL = none */
    int chunked;               /* deep_mode 'gpu' (chunk workers) when set, else 'cpu'
                                  (one analysis worker does it all) */
    /* Per-job settings, fixed now and stored on the job (DESIGN.md §3); 0 / NULL =
     * the environment's defaults (cfg). */
    double sample_fps;
    int chunk_seconds;
    int max_width;
    const char *model;
    int include_frames;
    /* The subject hint (pipeline_chunk_spec): 1 with x, y in 0..1; 0 = none. */
    int subject;
    double subject_x, subject_y;
} pipeline_submit_opts;

/* The settings a worker uses for a job: the job's own, else (a job Cricksy created)
 * DESIGN.md §2's defaults -- never the worker's environment. */
typedef struct pipeline_job_settings {
    double sample_fps;
    int max_width;
    int chunk_seconds;
    char model[16];
    int subject; /* the subject hint (0 = none) */
    double subject_x, subject_y;
} pipeline_job_settings;
void pipeline_job_settings_of(const store_job *job, pipeline_job_settings *out);

typedef struct pipeline_submission {
    char session_id[STORE_ID_MAX];
    char job_id[STORE_ID_MAX];
    char video_key[BLOB_KEY_MAX];
    double duration_seconds;
    int chunks;
} pipeline_submission;

/* Creates the job of a video at the session's original.mp4 key (blob_key_original),
 * in awaiting_upload.  With o->path, the file is first probed where it lies (a file
 * that is not a usable video is rejected before anything is stored: CR_ERR_FORMAT,
 * ...) and then stored under that key.  Fills session_id, job_id and video_key of
 * *out (duration_seconds and chunks stay 0: pipeline_complete_upload knows them).
 * On failure no job exists and the video this call stored has been removed. */
cr_status pipeline_submit(const cr_config *cfg, blob_store *blob, store *st,
                          pthread_mutex_t *st_lock, const pipeline_submit_opts *o,
                          pipeline_submission *out, cr_err *err);

typedef struct pipeline_upload {
    store_job job;           /* the job after the call */
    double duration_seconds; /* the probed duration (the stored one when unchanged) */
    int chunks;              /* chunk rows of the job (0 for a 'cpu' job) */
    int queued;              /* 1: this call queued the job; 0: it was already past
                                awaiting_upload and nothing changed */
    int video_rejected;      /* on failure, 1 when the object is not a usable video
                                (the probe's or the plan's error, a still image) */
} pipeline_upload;

/* Upload-complete for the job `job_id`: HEADs its video (s3_key; CR_ERR_CONFLICT "the
 * video has not been uploaded" when it is not there), probes the duration by ranged
 * reads through a reader pinned to what the HEAD said (headers and a few packets, never
 * the whole file; an object replaced meanwhile is CR_ERR_CHANGED, not the video's
 * fault: call again), plans ceil(duration / chunk length) chunks (the job's; a job
 * created without one, by Cricksy's initiate, gets cfg->chunk_seconds now, stored on
 * it) and creates them (none for a 'cpu' job): the job becomes queued, stage
 * DEEP_QUEUED, 0 %, with the size and etag of the object it checked pinned on it
 * (store_chunks_create_pinned; DESIGN.md §10: the object analysed is the object checked
 * -- every worker refuses another).  Idempotent: a job already past awaiting_upload is
 * left as it is and returned with out->queued = 0.
 * CR_ERR_NOT_FOUND when there is no such job.  On failure the job is unchanged (still
 * awaiting_upload: the client may upload again and call again), out->video_rejected
 * tells whether the video is at fault, and the rest of *out is zero. */
cr_status pipeline_complete_upload(const cr_config *cfg, blob_store *blob, store *st,
                                   pthread_mutex_t *st_lock, const char *job_id,
                                   pipeline_upload *out, cr_err *err);

/* What upload + upload-complete do, from a local file: pipeline_submit with o->path
 * (o->session_id NULL: a new session), then
 * pipeline_complete_upload; fills all of *out.  A file that is not a usable video is
 * rejected before any job exists (CR_ERR_FORMAT, ...).  When the upload cannot be
 * completed (the stores failing), the stored video is removed and the job stays in
 * awaiting_upload. */
cr_status pipeline_submit_file(const cr_config *cfg, blob_store *blob, store *st,
                               const pipeline_submit_opts *o, pipeline_submission *out,
                               cr_err *err);

#endif
