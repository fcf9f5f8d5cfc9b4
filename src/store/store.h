/*
 * store.h -- crease's job store and chunk queue (DESIGN.md §3, §4, §5).
 *
 * One interface, two backends chosen by DATABASE_URL (cr_config.store/db_target):
 *   - PostgreSQL through libpq: claims use one UPDATE ... WHERE id IN (SELECT ...
 *     FOR UPDATE SKIP LOCKED); any number of processes on any machines.
 *   - SQLite (the embedded default): the same statements under BEGIN IMMEDIATE in
 *     WAL mode; any number of threads or processes on one machine.
 * The semantics below hold on both; tests run every scenario on both.
 *
 * Tables are Cricksy's `video_analysis_jobs` and `video_analysis_chunks` (compat:
 * never change their names, the column names, the status values or the stage names
 * listed here).  crease adds queue columns: chunks get lease_expires_at, worker_id,
 * next_attempt_at, max_attempts; jobs get lease_expires_at and worker_id (the lease of
 * the aggregating worker).  The schema is created and upgraded by store_migrate_up
 * (`crease migrate up`); on a database that already holds Cricksy's tables only the
 * missing parts are added and `down` removes exactly what `up` added.
 *
 * States (the full diagram with the function behind each transition is at the top
 * of queue.c):
 *   job:   awaiting_upload -> queued (DEEP_QUEUED, 0..99 %) -> deep_running
 *          (AGGREGATING, 99 %) -> done (DONE, 100 %); any of queued/deep_running ->
 *          failed (error_message set, progress unchanged); failed -> queued by retry.
 *   chunk: queued -> processing (claimed, leased) -> completed; processing -> queued
 *          (failure with attempts left, expired lease, release) or -> failed.
 *
 * Fencing (DESIGN.md §5): every claim -- of a chunk, or of a job's aggregation --
 * hands out a lease token (store_chunk.lease_token, store_job.lease_token), a
 * per-row counter that each claim bumps and nothing resets.  Every later call of the
 * claimant names its worker_id and that token, and succeeds only while both are the
 * row's current ones and the row is still held (processing / deep_running);
 * otherwise it is CR_ERR_CONFLICT and changes nothing.  So a worker that lost its
 * lease (paused past it, partitioned) and comes back can neither count a chunk,
 * nor set its artifact key, nor fail, release or finish what another worker holds.
 * Artifacts go under keys that carry the token (blob_key_chunk_lease), and readers
 * take the key recorded on the row, so a stale worker's file is never read.
 *
 * Time: every timestamp is UTC, taken from the database server's clock (never the
 * worker's), and reported here as seconds since the Unix epoch (0 = not set).
 *
 * Errors: every function returns a cr_status with detail in `err` (first error
 * wins).  A database that cannot be reached is CR_ERR_DB with a clear message, never
 * a crash; on PostgreSQL a lost connection is re-established on the next call
 * (callers retry after a pause: a failed call may or may not have taken effect, and
 * every operation is safe to repeat -- see each function).  CR_ERR_CONFLICT means
 * the row is not in the state the call needs (lost lease, job not failed, ...).
 * CR_ERR_NOT_FOUND means no such job.  All SQL is parameterized.
 *
 * Threads: a `store` is one connection; use one per thread (or lock around it).
 * Processes: open the store after fork(), never share one across fork().
 *
 * How the workers use it (DESIGN.md §4-§5):
 *   upload complete:  store_job_create (at initiate) ... store_chunks_create (idempotent)
 *   chunk worker:     loop { every ~5 s store_reap_expired;
 *                            store_chunk_claim(me, lease, n) -> chunks (none: sleep);
 *                            per chunk: work, store_chunk_heartbeat every lease/3
 *                            (CR_ERR_CONFLICT: drop the chunk, write nothing),
 *                            artifact under blob_key_chunk_lease, then
 *                            store_chunk_complete (-> job_ready: try
 *                            store_job_claim_aggregation(job_id) or leave it to the
 *                            analysis workers) or store_chunk_fail(message);
 *                            SIGTERM: stop claiming, finish or store_chunk_release }
 *   analysis worker:  loop { store_job_claim_aggregation(NULL, me, lease) -> job
 *                            (chunked and complete, or deep_mode cpu); heartbeat with
 *                            store_job_heartbeat; store_job_finish(ok or message) }
 *   CR_ERR_DB from any call: pause (e.g. 0.5-2 s) and call again; the same store
 *   reconnects.  Choose the lease well above the heartbeat period (e.g. 60 s with a
 *   heartbeat every 20 s): a lost worker's chunks come back after at most one lease.
 *   worker_id: any stable text up to 63 bytes naming the process (host:pid).
 *
 * Sessions: video_analysis_jobs.session_id references video_sessions(id) (a foreign
 * key on PostgreSQL, checked by store_job_create on SQLite): store_session_create
 * comes first.  Ownership (owner_type, owner_id) lives on the session.
 */
#ifndef CR_STORE_STORE_H
#define CR_STORE_STORE_H

#include "core/config.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* Sizes of the text fields copied into the structs below (longer values are
 * truncated; ids are uuids, 36 chars). */
#define STORE_ID_MAX 64
#define STORE_KEY_MAX 512
#define STORE_MSG_MAX 512
#define STORE_ETAG_MAX 128 /* video_etag is varchar(128) */

/* Job statuses: values of PostgreSQL enum `video_analysis_job_status`.
 * compat: never change (Cricksy's values; processing/completed are legacy ones we
 * read but never write). */
#define STORE_JOB_AWAITING_UPLOAD "awaiting_upload"
#define STORE_JOB_QUEUED "queued"
#define STORE_JOB_QUICK_RUNNING "quick_running"
#define STORE_JOB_QUICK_DONE "quick_done"
#define STORE_JOB_DEEP_RUNNING "deep_running"
#define STORE_JOB_DONE "done"
#define STORE_JOB_FAILED "failed"
#define STORE_JOB_LEGACY_PROCESSING "processing"
#define STORE_JOB_LEGACY_COMPLETED "completed"

/* Chunk statuses: values of enum `video_analysis_chunk_status`.  compat: never change. */
#define STORE_CHUNK_QUEUED "queued"
#define STORE_CHUNK_PROCESSING "processing"
#define STORE_CHUNK_COMPLETED "completed"
#define STORE_CHUNK_FAILED "failed"

/* Stages (video_analysis_jobs.stage): DEEP_QUEUED and AGGREGATING from DESIGN.md §4,
 * DONE and FAILED as Cricksy's analysis worker writes them.  compat: never change. */
#define STORE_STAGE_DEEP_QUEUED "DEEP_QUEUED"
#define STORE_STAGE_AGGREGATING "AGGREGATING"
#define STORE_STAGE_DONE "DONE"
#define STORE_STAGE_FAILED "FAILED"

/* Deep modes (video_analysis_jobs.deep_mode).  compat: never change. */
#define STORE_DEEP_MODE_CPU "cpu"
#define STORE_DEEP_MODE_GPU "gpu"

/* Defaults (DESIGN.md §5 asks for backoff with jitter and a bounded number of tries;
 * the numbers are ours: 3 tries, 2 s then 4 s, ... capped at 5 min). */
#define STORE_DEFAULT_MAX_ATTEMPTS 3
#define STORE_DEFAULT_BACKOFF_BASE_MS 2000
#define STORE_DEFAULT_BACKOFF_CAP_MS 300000

/* ---- opening ------------------------------------------------------------------ */

typedef struct store_options {
    int backoff_base_ms; /* first retry delay; 0 = default.  delay(a) = base * 2^(a-1),
                            capped, then scaled by a random factor in [0.5, 1.0] */
    int backoff_cap_ms;  /* 0 = default */
    int busy_timeout_ms; /* SQLite: how long to wait for the write lock; 0 = 30 s */
} store_options;

/* Opens the store named by cfg->store and cfg->db_target (SQLite: creates the file
 * and its folder if needed).  `opts` may be NULL.  Does not touch the schema.
 * On failure *out is NULL. */
cr_status store_open(const cr_config *cfg, const store_options *opts, store **out, cr_err *err);

/* Same, from a backend kind and target (a libpq URI or a file path). */
cr_status store_open_target(cr_store_kind kind, const char *target, const store_options *opts,
                            store **out, cr_err *err);

void store_close(store *st); /* NULL is fine */

/* "postgres" or "sqlite". */
const char *store_backend_name(const store *st);

/* ---- migrations (`crease migrate`) --------------------------------------------- */

/* The schema versions this binary knows: 1..store_migrations_latest(). */
int store_migrations_latest(void);
/* Name of version v (1-based), or NULL. */
const char *store_migration_name(int v);

/* Current version (0 = none applied) into *version.  Creates nothing. */
cr_status store_migrate_status(store *st, int *version, cr_err *err);

/* Applies versions up to `target` (<= 0: the latest); each version in its own
 * transaction.  Objects that already exist (Cricksy's tables, columns, types) are
 * kept and recorded as not ours, so `down` never drops them.  Safe to run from many
 * processes at once.  *applied (may be NULL) gets the number applied. */
cr_status store_migrate_up(store *st, int target, int *applied, cr_err *err);

/* Undoes the `n` newest versions (n <= 0: all), dropping only what `up` created. */
cr_status store_migrate_down(store *st, int n, int *undone, cr_err *err);

/* CR_OK when the schema is at store_migrations_latest(); otherwise CR_ERR_DB with
 * "schema at version X, this crease needs Y: run `crease migrate up`". */
cr_status store_check_schema(store *st, cr_err *err);

/* ---- sessions (Cricksy's video_sessions: ownership lives here) ------------------ */

/* Session statuses: enum video_session_status.  compat: never change. */
#define STORE_SESSION_PENDING "pending"
#define STORE_SESSION_UPLOADED "uploaded"
#define STORE_SESSION_PROCESSING "processing"
#define STORE_SESSION_READY "ready"
#define STORE_SESSION_FAILED "failed"
/* Owner types: enum owner_type.  compat: never change. */
#define STORE_OWNER_COACH "coach"
#define STORE_OWNER_ORG "org"

#define STORE_TITLE_MAX 256
#define STORE_NOTES_MAX 2048
#define STORE_PLAYERS_MAX 2048

typedef struct store_session_new {
    const char *id;               /* NULL or "": a new uuid v4 */
    const char *owner_type;       /* "coach" (NULL) or "org" */
    const char *owner_id;         /* required (the token's subject) */
    const char *title;            /* required, at most 255 bytes */
    const char *notes;            /* NULL = none */
    const char *player_ids_json;  /* a JSON array of strings; NULL = [] */
    const char *analysis_context; /* NULL or batting|bowling|wicketkeeping|fielding|mixed */
    const char *camera_view;      /* NULL or side|front|behind|other */
} store_session_new;

typedef struct store_session {
    char id[STORE_ID_MAX];
    char owner_type[8];
    char owner_id[STORE_ID_MAX];
    char title[STORE_TITLE_MAX];
    char notes[STORE_NOTES_MAX];        /* "" = none */
    char player_ids[STORE_PLAYERS_MAX]; /* JSON array text */
    char status[16];
    char s3_bucket[256];
    char s3_key[STORE_KEY_MAX];
    char analysis_context[16]; /* "" = none */
    char camera_view[16];      /* "" = none */
    double created_at, updated_at;
} store_session;

/* Creates a session in status pending; its id goes to id_out (cap >= 37).  Values
 * outside the enums above are CR_ERR_INVALID (checked here, not left to the
 * database).  An existing explicit id is CR_ERR_CONFLICT. */
cr_status store_session_create(store *st, const store_session_new *in, char *id_out, size_t cap,
                               cr_err *err);

/* CR_ERR_NOT_FOUND when absent. */
cr_status store_session_get(store *st, const char *session_id, store_session *out, cr_err *err);

/* One owner's sessions, newest first: at most `cap` after skipping `offset`. */
cr_status store_session_list(store *st, const char *owner_type, const char *owner_id, int offset,
                             store_session *out, int cap, int *n, cr_err *err);

/* A session's jobs at a glance (Cricksy's VideoSessionRead: analysis_job_count and
 * latest_job_*). */
typedef struct store_session_jobs {
    int count;                    /* the session's jobs */
    char latest_id[STORE_ID_MAX]; /* its newest job (created_at, then id); "" = none */
    char latest_status[24];
    double latest_created_at, latest_completed_at; /* 0 = not set */
} store_session_jobs;

/* store_session_list, with each session's jobs summed up in jobs[i] -- one query for
 * the whole page, not one per session. */
cr_status store_session_list_jobs(store *st, const char *owner_type, const char *owner_id,
                                  int offset, store_session *out, store_session_jobs *jobs, int cap,
                                  int *n, cr_err *err);

/* One session's jobs summed up (one query).  A session that does not exist, or has no
 * job, has count 0. */
cr_status store_session_jobs_of(store *st, const char *session_id, store_session_jobs *out,
                                cr_err *err);

/* Records where the session's video goes (upload initiate): s3_bucket, s3_key,
 * status pending.  CR_ERR_NOT_FOUND when absent. */
cr_status store_session_set_upload(store *st, const char *session_id, const char *bucket,
                                   const char *key, cr_err *err);

/* The session's status follows its job's, as Cricksy's routes and workers move it:
 * job queued -> uploaded, deep_running -> processing, done -> ready, failed ->
 * failed.  The store calls this itself at each of those transitions. */
cr_status store_session_follow_job(store *st, const char *job_id, cr_err *err);

/* ---- jobs ---------------------------------------------------------------------- */

/* Per-job settings (DESIGN.md §3): fixed when the job is created, read by every
 * worker from the job, never from the worker's environment.  A job that Cricksy
 * created has only sample_fps; the others read back as 0 / "" and workers use
 * DESIGN.md §2's defaults for them (STORE_JOB_DEFAULT_*), not their environment. */
#define STORE_JOB_DEFAULT_MAX_WIDTH 640
#define STORE_JOB_DEFAULT_CHUNK_SECONDS 30
#define STORE_JOB_DEFAULT_MODEL "full"

typedef struct store_job_new {
    const char *id;            /* NULL or "": a new uuid v4 is generated */
    const char *session_id;    /* required; the session row must exist */
    const char *deep_mode;     /* "cpu" or "gpu"; NULL = "gpu" */
    const char *analysis_mode; /* "batting", ...; NULL = none */
    const char *s3_bucket;     /* NULL = none */
    const char *s3_key;        /* NULL = none */
    int sample_fps;            /* Cricksy's NOT NULL integer column; 0 = round(sample_rate),
                                  else 10 (DESIGN.md §2) */
    double sample_rate;        /* the exact sampling rate (frames/s); 0 = sample_fps */
    int include_frames;        /* Cricksy's column, stored as given */
    int chunk_seconds;         /* 0 = not fixed yet (fixed at upload-complete) */
    int max_width;             /* 0 = STORE_JOB_DEFAULT_MAX_WIDTH */
    const char *model; /* pose model: "lite", "full", "heavy"; NULL = STORE_JOB_DEFAULT_MODEL */
    /* The subject hint (pose_tracker.h): follow the person nearest (subject_x,
     * subject_y), 0..1 of the first frame from the top left (else CR_ERR_INVALID);
     * subject = 0: none (the strongest detection). */
    int subject;
    double subject_x, subject_y;
} store_job_new;

typedef struct store_job {
    char id[STORE_ID_MAX];
    char session_id[STORE_ID_MAX];
    char status[24];
    char stage[32];
    int progress_pct;
    char deep_mode[8];
    char analysis_mode[32];
    int total_chunks;
    int completed_chunks;
    double video_duration_seconds;
    char s3_bucket[256];
    char s3_key[STORE_KEY_MAX];
    char error_message[STORE_MSG_MAX];
    char deep_results_s3_key[STORE_KEY_MAX];
    char worker_id[STORE_ID_MAX]; /* the aggregating worker, "" if none */
    double created_at, started_at, completed_at, deep_started_at, deep_completed_at, updated_at,
        lease_expires_at;
    /* per-job settings (see store_job_new) */
    int sample_fps;     /* Cricksy's integer column */
    double sample_rate; /* exact rate; = sample_fps where crease's column is unset */
    int include_frames;
    int chunk_seconds;   /* 0 = unset (a job Cricksy created) */
    int max_width;       /* 0 = unset */
    char model[16];      /* "" = unset */
    int64_t lease_token; /* the aggregation claim's fencing token (store_job_claim_aggregation) */
    /* The video upload-complete checked (store_chunks_create_pinned): its size and etag.
     * video_etag "" = no pin (a job queued by Cricksy, or before crease pinned). */
    int64_t video_size;
    char video_etag[STORE_ETAG_MAX];
    int subject; /* the subject hint (store_job_new); 0 = none, x and y then 0 */
    double subject_x, subject_y;
} store_job;

/* Creates a job in status awaiting_upload (stage AWAITING_UPLOAD, 0 %).  Writes its
 * id to `id_out` (cap >= 37).  A job with the same explicit id already existing is
 * CR_ERR_CONFLICT; a session that does not exist is CR_ERR_NOT_FOUND. */
cr_status store_job_create(store *st, const store_job_new *in, char *id_out, size_t cap,
                           cr_err *err);

cr_status store_job_get(store *st, const char *job_id, store_job *out, cr_err *err);

/* The newest jobs first (at most `cap`), optionally only those in `status` (NULL =
 * all).  *n gets the number written. */
cr_status store_job_list(store *st, const char *status, store_job *out, int cap, int *n,
                         cr_err *err);

/* The jobs of one session, newest first (at most `cap`). */
cr_status store_job_list_session(store *st, const char *session_id, store_job *out, int cap, int *n,
                                 cr_err *err);

/* The jobs of one owner's sessions, newest first, optionally only in `status`; the
 * owner filter runs in the database (one owner's many jobs never hide another's).
 * Pages: `after_id` (NULL = from the newest) is the last job of the previous page. */
cr_status store_job_list_owner(store *st, const char *owner_type, const char *owner_id,
                               const char *status, const char *after_id, store_job *out, int cap,
                               int *n, cr_err *err);

/* *in_use = 1 when `key` is the video (s3_key) of a job past awaiting_upload: its
 * upload is complete and the job analyses (or analysed) what is there, so nothing may
 * be written there any more (the local blob server refuses such a PUT). */
cr_status store_video_key_in_use(store *st, const char *key, int *in_use, cr_err *err);

/* Sets the per-job chunk length when it was not fixed at creation (a job Cricksy's
 * initiate created, planned by crease's upload-complete).  Unchanged when set. */
cr_status store_job_fix_chunk_seconds(store *st, const char *job_id, int chunk_seconds,
                                      cr_err *err);

/* The deep_results JSON text of a job (caller frees with cr_free); NULL when unset. */
cr_status store_job_results(store *st, const char *job_id, char **json_out, cr_err *err);

/* The JSON documents of a job as Cricksy's API returns them (each NULL when unset;
 * free with store_job_docs_free, which a failed call leaves nothing to free for). */
typedef struct store_job_docs {
    char *deep_results, *results, *deep_findings, *deep_report;
} store_job_docs;
cr_status store_job_docs_get(store *st, const char *job_id, store_job_docs *out, cr_err *err);
void store_job_docs_free(store_job_docs *d); /* NULL is fine */

/* Checks the invariants of one job row (status known, progress and counts coherent
 * with the status: the progress table of DESIGN.md §4).  Used by tests and debug
 * builds; CR_ERR_INTERNAL with the broken rule. */
cr_status store_job_check(const store_job *job, cr_err *err);

/* ---- chunks -------------------------------------------------------------------- */

typedef struct store_chunk_span {
    double start_sec, end_sec;
} store_chunk_span;

/* Creates the job's chunks 0..n-1 and moves the job from awaiting_upload (or
 * queued without chunks) to queued, stage DEEP_QUEUED, 0 %, total_chunks = n,
 * completed_chunks = 0, video_duration_seconds = duration.  Idempotent: when the job
 * already has chunks (or total_chunks set), nothing changes and *created = 0.
 * n == 0 is allowed for deep_mode 'cpu' jobs (the analysis worker does it all).
 * max_attempts <= 0: STORE_DEFAULT_MAX_ATTEMPTS.  *created may be NULL. */
cr_status store_chunks_create(store *st, const char *job_id, const store_chunk_span *spans, int n,
                              double duration, int max_attempts, int *created, cr_err *err);

/* The video upload-complete checked (DESIGN.md §10): what blob_head said of it. */
typedef struct store_video_pin {
    int64_t size;
    char etag[STORE_ETAG_MAX];
} store_video_pin;

/* store_chunks_create that also records `pin` (may be NULL: none) on the job, in the
 * same transaction that queues it, so a queued job always carries the pin of the
 * object its plan was made from; workers compare the object with it before they read
 * (pipeline.h).  Idempotent like store_chunks_create: when the job already has its
 * chunks, nothing changes, the pin included.  CR_ERR_INVALID for a pin without an etag
 * or with one of STORE_ETAG_MAX bytes or more. */
cr_status store_chunks_create_pinned(store *st, const char *job_id, const store_chunk_span *spans,
                                     int n, double duration, int max_attempts,
                                     const store_video_pin *pin, int *created, cr_err *err);

typedef struct store_chunk {
    char id[STORE_ID_MAX];
    char job_id[STORE_ID_MAX];
    int chunk_index;
    double start_sec, end_sec;
    char status[16];
    int attempts, max_attempts;
    char worker_id[STORE_ID_MAX];
    char artifact_s3_key[STORE_KEY_MAX];
    int runtime_ms; /* -1 = not set */
    char error_message[STORE_MSG_MAX];
    double created_at, started_at, completed_at, lease_expires_at, next_attempt_at;
    int64_t lease_token; /* the newest claim's fencing token: store_chunk_claim's value
                            is what the claimant passes to every later call */
    /* Filled by store_chunk_claim only: the job's session and blob location, so a
     * worker needs no second query to find the video. */
    char session_id[STORE_ID_MAX];
    char s3_bucket[256];
    char s3_key[STORE_KEY_MAX];
} store_chunk;

/* Claims up to `n` chunks for `worker_id`: queued chunks whose next_attempt_at has
 * come, of jobs in status queued, oldest job first then chunk_index (FIFO across
 * jobs).  Each becomes processing with attempts+1, lease_token+1 (out[i].lease_token:
 * the fencing token to pass to every later call on the chunk), worker_id, started_at
 * = now and lease_expires_at = now + lease_seconds.  One statement; concurrent claimers never
 * get the same chunk.  *got (0..n) chunks are written to out[].  If the call fails
 * after the database committed, the chunks come back when their lease expires. */
cr_status store_chunk_claim(store *st, const char *worker_id, double lease_seconds, int n,
                            store_chunk *out, int *got, cr_err *err);

/* Extends the lease of a chunk this worker holds to now + lease_seconds.
 * CR_ERR_CONFLICT when the chunk is no longer processing by `worker_id` under `token`
 * (its lease expired and it was reaped or claimed again): stop working on it and
 * write nothing more for it. */
cr_status store_chunk_heartbeat(store *st, const char *chunk_id, const char *worker_id,
                                int64_t token, double lease_seconds, cr_err *err);

typedef struct store_completion {
    int counted;          /* 1: this call moved the chunk to completed (exactly one call
                             per chunk ever gets 1); 0: it was already completed */
    int completed_chunks; /* the job's counts after the call */
    int total_chunks;
    int job_ready; /* all chunks completed and the job is queued: call
                      store_job_claim_aggregation */
    char job_id[STORE_ID_MAX];
} store_completion;

/* Marks a chunk completed with its runtime and artifact key, and in the same
 * transaction bumps the job's completed_chunks and progress_pct = min(99,
 * floor(100 * completed / total)).  Fenced: accepted only from processing held by
 * `worker_id` under `token`.  Idempotent for that holder: when the chunk is already
 * completed by the same worker and token (a retry after a lost reply) nothing
 * changes and counted = 0.  Anything else -- the lease was reaped or claimed again,
 * the chunk was completed under another claim, or failed -- is CR_ERR_CONFLICT and
 * changes nothing (not the status, the count or the artifact key).  `out` may be
 * NULL. */
cr_status store_chunk_complete(store *st, const char *chunk_id, const char *worker_id,
                               int64_t token, int runtime_ms, const char *artifact_key,
                               store_completion *out, cr_err *err);

typedef struct store_failure {
    int final;           /* 1: the chunk is failed and so is its job */
    int attempts;        /* attempts so far */
    double retry_in_sec; /* when !final: the backoff chosen */
} store_failure;

/* Records a failed attempt of a chunk held by `worker_id` under `token` (`message`
 * goes to error_message).  attempts < max_attempts: back to queued with next_attempt_at =
 * now + backoff (exponential with jitter); otherwise the chunk is failed and its job
 * failed with "chunk N: message".  CR_ERR_CONFLICT, changing nothing, when the
 * worker no longer holds it under `token`.  `out` may be NULL. */
cr_status store_chunk_fail(store *st, const char *chunk_id, const char *worker_id, int64_t token,
                           const char *message, store_failure *out, cr_err *err);

/* The same for an error that can never succeed on another attempt (a corrupt or
 * unsupported video, a limit): the chunk and its job fail now, attempts left or not. */
cr_status store_chunk_fail_now(store *st, const char *chunk_id, const char *worker_id,
                               int64_t token, const char *message, store_failure *out, cr_err *err);

/* Gives a held chunk back without counting the attempt (SIGTERM: a worker stops
 * and releases what it did not finish).  CR_ERR_CONFLICT when not held by
 * `worker_id` under `token`. */
cr_status store_chunk_release(store *st, const char *chunk_id, const char *worker_id, int64_t token,
                              cr_err *err);

/* The chunks of a job by chunk_index (at most `cap`); *n gets the count. */
cr_status store_chunks_of_job(store *st, const char *job_id, store_chunk *out, int cap, int *n,
                              cr_err *err);

typedef struct store_reaped {
    int chunks_requeued; /* lease expired with attempts left: back to queued */
    int chunks_failed;   /* lease expired on the last attempt: failed, job failed */
    int jobs_requeued;   /* aggregation lease expired: job back to queued */
} store_reaped;

/* Returns chunks whose lease expired to queued (immediately claimable; the lost
 * attempt counts) or, on their last attempt, fails them and their job ("lease
 * expired"); returns deep_running jobs whose aggregation lease expired to queued.
 * Any worker may call it every few seconds; concurrent calls are safe. */
cr_status store_reap_expired(store *st, store_reaped *out, cr_err *err);

/* ---- aggregation ---------------------------------------------------------------- */

/* Claims a job for aggregation by `worker_id`: the conditional update status =
 * 'queued' AND (completed_chunks = total_chunks > 0 OR deep_mode = 'cpu') ->
 * deep_running, stage AGGREGATING, 99 %, deep_started_at, lease.  job_id NULL:
 * the oldest such job.  Exactly one concurrent caller wins; *won = 1 and `out`
 * (may be NULL) filled for the winner, *won = 0 for everyone else.  The claim bumps
 * the job's lease_token: out->lease_token is the fencing token for
 * store_job_heartbeat and store_job_finish.  A claim whose lease expires
 * (store_reap_expired) lets the job be claimed again, so one job can have two
 * winners over time; only the newest can heartbeat or finish it. */
cr_status store_job_claim_aggregation(store *st, const char *job_id, const char *worker_id,
                                      double lease_seconds, store_job *out, int *won, cr_err *err);

/* Extends the aggregation lease.  CR_ERR_CONFLICT when this worker lost the job (it
 * is no longer deep_running by `worker_id` under `token`).
 * Also sets deep_started_at and updated_at to now: Cricksy's API fails a job that
 * sits in deep_running longer than its stale threshold counted from deep_started_at
 * (COACH_PLUS_STALE_JOB_THRESHOLD_SECONDS, default 1800 s), so a live job's clock is
 * kept fresh; its true start stays in started_at. */
cr_status store_job_heartbeat(store *st, const char *job_id, const char *worker_id, int64_t token,
                              double lease_seconds, cr_err *err);

/* What an aggregation leaves on the job, as Cricksy's own analysis worker leaves it
 * (JSON texts; each may be NULL). */
typedef struct store_job_outcome {
    int ok;
    const char *deep_results;  /* final_results.json + outputs; also results = {"deep": ..} */
    const char *deep_findings; /* the findings object */
    const char *deep_report;   /* the report object */
    const char *results_key;   /* deep_results_s3_key */
    const char *message;       /* !ok: error_message */
} store_job_outcome;

/* Finishes a job held by `worker_id` (deep_running), with its session:
 *   ok = 1: done, stage DONE, 100 %, the outcome's columns, deep_completed_at and
 *           completed_at; the session ready.
 *   ok = 0: failed, stage FAILED, error_message = message, progress unchanged; the
 *           session failed.
 * CR_ERR_CONFLICT, changing nothing, when the worker does not hold the job under
 * `token` (lease lost). */
cr_status store_job_finish(store *st, const char *job_id, const char *worker_id, int64_t token,
                           const store_job_outcome *outcome, cr_err *err);

/* Re-queues a failed job: its failed chunks go back to queued with attempts = 0
 * (completed chunks are kept), the job to queued, stage DEEP_QUEUED, error cleared,
 * counts and progress recomputed.  *requeued (may be NULL) = chunks re-queued.
 * CR_ERR_CONFLICT when the job is not failed; CR_ERR_NOT_FOUND when absent. */
cr_status store_job_retry(store *st, const char *job_id, int *requeued, cr_err *err);

/* ---- metrics ------------------------------------------------------------------- */

typedef struct store_depth {
    long queued_chunks;     /* chunks waiting (of queued jobs), for autoscaling */
    long ready_chunks;      /* of those, claimable now (backoff elapsed) */
    long processing_chunks; /* chunks held under a lease */
    long jobs_queued;       /* jobs in status queued */
    long jobs_ready;        /* of those, waiting for an analysis worker */
    long jobs_running;      /* deep_running */
} store_depth;

cr_status store_queue_depth(store *st, store_depth *out, cr_err *err);

/* ---- helpers ------------------------------------------------------------------- */

/* A new random uuid v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into out[37]. */
cr_status store_uuid(char out[37], cr_err *err);

/* The backoff before retry number `attempts` (>= 1) for the given options, with
 * `u` in [0,1) the jitter draw: base * 2^(attempts-1), capped, times (0.5 + u/2). */
double store_backoff_ms(const store_options *opts, int attempts, double u);

/* ---- operations (ops.c): monitoring, autoscaling, the runbook's commands ---------- */

/* The autoscaling signal: chunks waiting to be processed -- queued chunks of queued
 * jobs, backoff elapsed or not.  The one query that counts them: store_queue_depth's
 * queued_chunks, the crease_chunks_queued gauge of /metrics, `crease autoscale-metric`
 * (CloudWatch) and the KEDA ScaledObject's postgresql trigger (a copy checked by the
 * deploy test; `crease autoscale-metric --print-query` prints this) all use it.  The
 * same text runs on both dialects. */
#define STORE_SQL_QUEUED_CHUNKS                                                                    \
    "SELECT count(*) FROM video_analysis_chunks c JOIN video_analysis_jobs j ON j.id = "           \
    "c.job_id WHERE c.status = 'queued' AND j.status = 'queued'"

/* The job statuses (video_analysis_job_status, Cricksy's order): index i of
 * store_monitor.jobs counts store_job_status_name(i). */
#define STORE_JOB_STATUS_N 9
const char *store_job_status_name(int i); /* NULL outside 0..STORE_JOB_STATUS_N-1 */

/* What monitoring reads from the database (the same seen from every process). */
typedef struct store_monitor {
    store_depth depth;
    long jobs[STORE_JOB_STATUS_N]; /* jobs by status */
    long chunks_failed;            /* chunks in status failed */
    long workers_active;           /* distinct workers holding an unexpired chunk or aggregation
                              lease now (idle workers hold none) */
    double oldest_queued_s;        /* seconds the longest-waiting claimable chunk has waited
                               (since it was planned or its backoff ended); 0 if none */
} store_monitor;

/* A few aggregate queries (counts use the status indexes). */
cr_status store_monitor_read(store *st, store_monitor *out, cr_err *err);

/* Chunks that need an operator's eye (`crease jobs stuck`). */
typedef enum store_stuck_reason {
    STORE_STUCK_WAITING = 0,       /* queued and claimable for longer than the limit: no
                                      chunk worker is taking work */
    STORE_STUCK_LEASE_EXPIRED = 1, /* processing past its lease: its worker is gone and no
                                      live worker has reaped it yet */
    STORE_STUCK_FAILED = 2,        /* failed (its job too): `crease jobs retry JOB` */
} store_stuck_reason;

typedef struct store_stuck_chunk {
    store_stuck_reason reason;
    char job_id[STORE_ID_MAX];
    int chunk_index;
    char status[16];
    char job_status[24];
    int attempts, max_attempts;
    char worker_id[STORE_ID_MAX];
    double age_s; /* waiting: since claimable; lease-expired: since claimed; failed:
                     since planned */
    char error_message[STORE_MSG_MAX];
} store_stuck_chunk;

/* At most `cap` such chunks (waiting ones only when waiting longer than
 * `older_than_s`), lease-expired first, then waiting, then failed, oldest first. */
cr_status store_stuck_chunks(store *st, double older_than_s, store_stuck_chunk *out, int cap,
                             int *n, cr_err *err);

/* Jobs whose aggregation does not start (`crease jobs stuck`). */
typedef enum store_stuck_job_reason {
    STORE_STUCK_JOB_WAITING = 0,       /* ready (all chunks completed, or a whole-video
                                          job) for longer than the limit: no analysis
                                          worker is taking work */
    STORE_STUCK_JOB_LEASE_EXPIRED = 1, /* aggregating past its lease: worker gone */
    STORE_STUCK_JOB_COUNT_DRIFT = 2,   /* completed_chunks differs from its completed
                                          chunk rows (a writer that counts without a lock,
                                          e.g. Cricksy's gpu_chunk_worker): never ready */
    STORE_STUCK_JOB_FAILED_CHUNKS = 3, /* queued with failed chunks (a writer that fails a
                                          chunk but not its job): never ready */
} store_stuck_job_reason;

typedef struct store_stuck_job {
    store_stuck_job_reason reason;
    char id[STORE_ID_MAX];
    char status[24];
    char deep_mode[8];
    int total_chunks, completed_chunks; /* the job's columns */
    int rows_completed, rows_failed;    /* its chunk rows */
    double idle_s;                      /* seconds since the job row last changed */
    char worker_id[STORE_ID_MAX];
} store_stuck_job;

cr_status store_stuck_jobs(store *st, double older_than_s, store_stuck_job *out, int cap, int *n,
                           cr_err *err);

/* `crease gpu-mode on|off`: what the pipeline runbook's "UPDATE video_analysis_jobs SET
 * deep_mode = ..." does, limited to jobs not started yet so that no work in progress
 * is lost.  deep_mode is per job (GPU_PROCESSING_ENABLED only picks it for new jobs):
 *   off  jobs awaiting upload become 'cpu' (analysed whole by an analysis worker); each
 *        queued 'gpu' job none of whose chunks is being processed becomes a 'cpu' job:
 *        its chunk rows are deleted (completed ones too: the whole video is analysed
 *        again) and it stays queued, 0 %, for the analysis workers.  Queued jobs with a
 *        chunk in processing are left (skipped): run it again once they finish.
 *   on   jobs awaiting upload become 'gpu' (chunked at upload-complete).  Queued 'cpu'
 *        jobs stay as they are (their video is not planned into chunks).
 * Each job changes in its own transaction, under the lock of its rows. */
typedef struct store_gpu_mode_change {
    int awaiting_changed; /* jobs awaiting upload switched */
    int queued_changed;   /* off: queued chunked jobs turned whole-video */
    int queued_skipped;   /* off: queued chunked jobs left (a chunk in processing) */
} store_gpu_mode_change;

cr_status store_gpu_mode_set(store *st, int on, store_gpu_mode_change *out, cr_err *err);

/* Unfinished jobs (awaiting_upload, queued, deep_running) per deep mode. */
typedef struct store_gpu_mode_counts {
    long gpu, cpu;
} store_gpu_mode_counts;

cr_status store_gpu_mode_counts_read(store *st, store_gpu_mode_counts *out, cr_err *err);

#endif
