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
 * both inside one process on the embedded store.
 *
 * Threads: functions here are called by one thread per tracker/store; the blob
 * store may be shared between threads.
 */
#ifndef CR_PIPELINE_PIPELINE_H
#define CR_PIPELINE_PIPELINE_H

#include "blob/blob.h"
#include "core/config.h"
#include "core/status.h"
#include "pose/pose_tracker.h"
#include "store/store.h"

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
} pipeline_chunk_spec;

typedef struct pipeline_chunk_summary {
    char artifact_key[BLOB_KEY_MAX];
    int64_t frames;          /* grid points sampled */
    int64_t frames_detected; /* frames with a pose */
    uint64_t bytes_read;     /* video bytes the sampler consumed */
    uint64_t video_size;     /* size of the whole video object */
    int runtime_ms;
} pipeline_chunk_summary;

/* Processes one chunk and writes its artifact (chunk JSON: job_id, session_id,
 * chunk_index, start_sec, end_sec, sample_fps, max_width, width and height of the
 * sampled frames (absent when the chunk has no frame), engine, model, frames,
 * frames_detected, runtime_ms, poses[] in the format of pose/pose_json.h).
 * The tracker is reset first.  Video errors come back as they are (CR_ERR_FORMAT,
 * ...), with the chunk named in the message. */
cr_status pipeline_chunk_process(const cr_config *cfg, blob_store *blob, pose_tracker *tracker,
                                 const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_chunk_summary *out, cr_err *err);

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
 * written to blob_key_report), writes final_results.json and returns in *summary_json (cr_free) the summary that goes
 * into deep_results.  `progress` (may be NULL) is called per frame of a 'cpu' job
 * and per chunk read.  Does not change the job's status: the caller calls
 * store_job_finish with the outcome. */
cr_status pipeline_job_aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                                 pose_tracker *tracker, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_job_summary *out, char **summary_json,
                                 cr_err *err);

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

/* ---- submitting ------------------------------------------------------------------ */

typedef struct pipeline_submission {
    char session_id[STORE_ID_MAX];
    char job_id[STORE_ID_MAX];
    char video_key[BLOB_KEY_MAX];
    double duration_seconds;
    int chunks;
} pipeline_submission;

/* What upload + upload-complete do, from a local file: stores the video under a new
 * session's original.mp4 key, probes it through the blob store (range reads),
 * creates the job and its chunk plan (deep_mode 'gpu' = chunked when `chunked`,
 * else 'cpu'), job queued.  A file that is not a usable video is rejected before any
 * job exists (CR_ERR_FORMAT, ...). */
cr_status pipeline_submit_file(const cr_config *cfg, blob_store *blob, store *st, const char *path,
                               const char *analysis_mode, int chunked, pipeline_submission *out,
                               cr_err *err);

#endif
