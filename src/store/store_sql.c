/*
 * store_sql.c -- the SQL text of every queue statement, per dialect.
 *
 * The two columns of each entry do the same thing; queue.c binds the same typed
 * parameters to both ($n in PostgreSQL, ?n in SQLite) and reads the same result
 * columns.  Timestamps: PostgreSQL columns are timestamptz read as epoch seconds;
 * SQLite columns hold epoch seconds (REAL) computed from julianday('now')
 * (2440587.5 = the Julian day of 1970-01-01T00:00Z, SQLite's lang_datefunc.html).
 *
 * Table, column, enum and stage names here are Cricksy's (compat: never change).
 */
#include "store/store_int.h"

#define PG_NOW "now()"
#define SQ_NOW "((julianday('now') - 2440587.5) * 86400.0)"
#define PG_E(x) "extract(epoch from " x ")"

/* 33 job columns, read by queue.c's job_from_row in this order: the 22 of Cricksy's
 * columns crease reads, then the per-job settings (DESIGN.md §3; crease's own
 * columns are NULL on jobs Cricksy created: sample_rate falls back to sample_fps),
 * then the aggregation lease's fencing token, then the pinned video's size and etag
 * (NULL: no pin). */
// clang-format off
#define PG_JOB_COLS                                                                     \
    "j.id, j.session_id, j.status::text, COALESCE(j.stage, ''), "                       \
    "COALESCE(j.progress_pct, 0), COALESCE(j.deep_mode, ''), "                          \
    "COALESCE(j.analysis_mode, ''), COALESCE(j.total_chunks, 0), "                      \
    "COALESCE(j.completed_chunks, 0), COALESCE(j.video_duration_seconds, 0), "          \
    "j.s3_bucket, j.s3_key, j.error_message, j.deep_results_s3_key, j.worker_id, "      \
    PG_E("j.created_at") ", " PG_E("j.started_at") ", " PG_E("j.completed_at") ", "     \
    PG_E("j.deep_started_at") ", " PG_E("j.deep_completed_at") ", "                     \
    PG_E("j.updated_at") ", " PG_E("j.lease_expires_at") ", "                           \
    "j.sample_fps, COALESCE(j.sample_rate, j.sample_fps), "                             \
    "CASE WHEN j.include_frames THEN 1 ELSE 0 END, COALESCE(j.chunk_seconds, 0), "      \
    "COALESCE(j.max_width, 0), COALESCE(j.pose_model, ''), j.lease_token, "             \
    "j.video_size_bytes, j.video_etag, COALESCE(j.subject_x, -1), COALESCE(j.subject_y, -1)"
#define SQ_JOB_COLS(j)                                                                  \
    j "id, " j "session_id, " j "status, COALESCE(" j "stage, ''), "                    \
    "COALESCE(" j "progress_pct, 0), COALESCE(" j "deep_mode, ''), "                    \
    "COALESCE(" j "analysis_mode, ''), COALESCE(" j "total_chunks, 0), "                \
    "COALESCE(" j "completed_chunks, 0), COALESCE(" j "video_duration_seconds, 0), "    \
    j "s3_bucket, " j "s3_key, " j "error_message, " j "deep_results_s3_key, "          \
    j "worker_id, " j "created_at, " j "started_at, " j "completed_at, "                \
    j "deep_started_at, " j "deep_completed_at, " j "updated_at, "                      \
    j "lease_expires_at, " j "sample_fps, COALESCE(" j "sample_rate, " j "sample_fps), " \
    j "include_frames, COALESCE(" j "chunk_seconds, 0), COALESCE(" j "max_width, 0), "  \
    "COALESCE(" j "pose_model, ''), " j "lease_token, " j "video_size_bytes, "          \
    j "video_etag, COALESCE(" j "subject_x, -1), COALESCE(" j "subject_y, -1)"

/* 13 session columns, read by sessions.c's session_from_row in this order. */
#define PG_SESSION_COLS                                                                 \
    "s.id, s.owner_type::text, s.owner_id, s.title, COALESCE(s.notes, ''), "            \
    "s.player_ids::text, s.status::text, s.s3_bucket, s.s3_key, "                       \
    "COALESCE(s.analysis_context::text, ''), COALESCE(s.camera_view::text, ''), "       \
    PG_E("s.created_at") ", " PG_E("s.updated_at")
#define SQ_SESSION_COLS                                                                 \
    "s.id, s.owner_type, s.owner_id, s.title, COALESCE(s.notes, ''), s.player_ids, "    \
    "s.status, s.s3_bucket, s.s3_key, COALESCE(s.analysis_context, ''), "               \
    "COALESCE(s.camera_view, ''), s.created_at, s.updated_at"

/* 5 columns summing up the jobs of session `sid` (an SQL expression): their count, then
 * the newest one's id, status, created_at and completed_at, from `l`, joined by
 * SESSION_LATEST_JOIN.  ix_analysis_jobs_session_id serves both. */
#define PG_SESSION_JOBS_COLS(sid)                                                       \
    "(SELECT count(*) FROM video_analysis_jobs c WHERE c.session_id = " sid "), "       \
    "l.id, l.status::text, " PG_E("l.created_at") ", " PG_E("l.completed_at")
#define SQ_SESSION_JOBS_COLS(sid)                                                       \
    "(SELECT count(*) FROM video_analysis_jobs c WHERE c.session_id = " sid "), "       \
    "l.id, l.status, l.created_at, l.completed_at"
#define SESSION_LATEST_JOIN(sid)                                                        \
    " LEFT JOIN video_analysis_jobs l ON l.id = (SELECT x.id FROM video_analysis_jobs x " \
    "WHERE x.session_id = " sid " ORDER BY x.created_at DESC, x.id DESC LIMIT 1)"
/* One owner's sessions, newest first, a page: $1 owner_type, $2 owner_id, $3 limit,
 * $4 offset. */
#define PG_OWNER_PAGE                                                                   \
    " WHERE s.owner_type::text = $1 AND s.owner_id = $2 ORDER BY s.created_at DESC, "   \
    "s.id DESC LIMIT $3 OFFSET $4"
#define SQ_OWNER_PAGE                                                                   \
    " WHERE s.owner_type = ?1 AND s.owner_id = ?2 ORDER BY s.created_at DESC, "         \
    "s.id DESC LIMIT ?3 OFFSET ?4"

/* The session status that follows a job's status (store.h, store_session_follow_job). */
#define SESSION_FOLLOWS(js)                                                             \
    "CASE " js " WHEN 'done' THEN 'ready' WHEN 'failed' THEN 'failed' WHEN "            \
    "'deep_running' THEN 'processing' ELSE 'uploaded' END"
// clang-format on

/* 18 chunk columns, read by queue.c's chunk_from_row in this order (the last is the
 * fencing token of the newest claim). */
#define PG_CHUNK_COLS(c)                                                                           \
    c "id, " c "job_id, " c "chunk_index, " c "start_sec, " c "end_sec, " c "status::text, " c     \
      "attempts, COALESCE(" c "max_attempts, 3), " c "worker_id, " c "artifact_s3_key, " c         \
      "runtime_ms, " c "error_message, " PG_E(c "created_at") ", " PG_E(c "started_at") ", " PG_E( \
          c                                                                                        \
          "completed_at") ", " PG_E(c                                                              \
                                    "lease_expires_at") ", " PG_E(c                                \
                                                                  "next_attempt_at") ", " c        \
                                                                                     "lease_token"
#define SQ_CHUNK_COLS(c)                                                                           \
    c "id, " c "job_id, " c "chunk_index, " c "start_sec, " c "end_sec, " c "status, " c           \
      "attempts, COALESCE(" c "max_attempts, 3), " c "worker_id, " c "artifact_s3_key, " c         \
      "runtime_ms, " c "error_message, " c "created_at, " c "started_at, " c "completed_at, " c    \
      "lease_expires_at, " c "next_attempt_at, " c "lease_token"

typedef struct sql_pair {
    const char *pg, *sq;
} sql_pair;

static const sql_pair sql_text[Q_COUNT_] = {
    /* $1 id, $2 session, $3 deep_mode, $4 analysis_mode, $5 bucket, $6 key, $7 fps,
     * $8 sample_rate, $9 include_frames, $10 chunk_seconds, $11 max_width, $12 model,
     * $13 subject_x, $14 subject_y (NULL: no subject hint).
     * sample_fps, include_frames and deep_enabled are Cricksy's NOT NULL columns
     * without server defaults, so every insert names them.  The session must exist
     * (SQLite has no foreign key to say so): no row inserted then. */
    [Q_JOB_INSERT] =
        {"INSERT INTO video_analysis_jobs (id, session_id, status, stage, progress_pct, "
         "deep_mode, analysis_mode, s3_bucket, s3_key, sample_fps, sample_rate, include_frames, "
         "deep_enabled, chunk_seconds, max_width, pose_model, subject_x, subject_y, total_chunks, "
         "completed_chunks, created_at, updated_at) SELECT $1::varchar, $2::varchar, "
         "'awaiting_upload', 'AWAITING_UPLOAD', 0, $3::varchar, $4::varchar, $5::varchar, "
         "$6::varchar, $7::int, $8::float8, $9::int <> 0, true, $10::int, $11::int, $12::varchar, "
         "$13::float8, $14::float8, 0, 0, now(), now() "
         "WHERE EXISTS (SELECT 1 FROM video_sessions WHERE id = $2::varchar) "
         "ON CONFLICT (id) DO NOTHING",
         "INSERT INTO video_analysis_jobs (id, session_id, status, stage, progress_pct, "
         "deep_mode, analysis_mode, s3_bucket, s3_key, sample_fps, sample_rate, include_frames, "
         "deep_enabled, chunk_seconds, max_width, pose_model, subject_x, subject_y, total_chunks, "
         "completed_chunks, created_at, updated_at) SELECT ?1, ?2, 'awaiting_upload', "
         "'AWAITING_UPLOAD', 0, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12, ?13, ?14, 0, 0, "
         /* FIFO needs created_at to follow creation order, and SQLite's clock has
          * millisecond steps: two jobs made within one millisecond would tie and the
          * claim would order them by their random ids.  Writers are serialised, so
          * "at least 1 ms after the newest job" makes created_at strictly increasing. */
         "MAX(" SQ_NOW
         ", COALESCE((SELECT MAX(created_at) FROM video_analysis_jobs), 0) + 0.001), " SQ_NOW
         " WHERE EXISTS (SELECT 1 FROM video_sessions WHERE id = ?2) ON CONFLICT (id) DO NOTHING"},
    [Q_JOB_EXISTS] = {"SELECT count(*) FROM video_analysis_jobs WHERE id = $1",
                      "SELECT count(*) FROM video_analysis_jobs WHERE id = ?1"},
    [Q_JOB_GET] = {"SELECT " PG_JOB_COLS " FROM video_analysis_jobs j WHERE j.id = $1",
                   "SELECT " SQ_JOB_COLS("j.") " FROM video_analysis_jobs j WHERE j.id = ?1"},
    [Q_JOB_LIST] = {"SELECT " PG_JOB_COLS " FROM video_analysis_jobs j "
                    "ORDER BY j.created_at DESC, j.id DESC LIMIT $1",
                    "SELECT " SQ_JOB_COLS("j.") " FROM video_analysis_jobs j "
                                                "ORDER BY j.created_at DESC, j.id DESC LIMIT ?1"},
    [Q_JOB_LIST_STATUS] =
        {"SELECT " PG_JOB_COLS " FROM video_analysis_jobs j "
         "WHERE j.status::text = $2 ORDER BY j.created_at DESC, j.id DESC "
         "LIMIT $1",
         "SELECT " SQ_JOB_COLS(
             "j.") " FROM video_analysis_jobs j "
                   "WHERE j.status = ?2 ORDER BY j.created_at DESC, j.id DESC LIMIT ?1"},
    [Q_JOB_RESULTS] = {"SELECT deep_results::text, results::text, deep_findings::text, "
                       "deep_report::text FROM video_analysis_jobs WHERE id = $1",
                       "SELECT deep_results, results, deep_findings, deep_report FROM "
                       "video_analysis_jobs WHERE id = ?1"},
    [Q_JOB_LOCK] = {"SELECT status::text, COALESCE(total_chunks, 0), COALESCE(deep_mode, '') "
                    "FROM video_analysis_jobs WHERE id = $1 FOR UPDATE",
                    "SELECT status, COALESCE(total_chunks, 0), COALESCE(deep_mode, '') "
                    "FROM video_analysis_jobs WHERE id = ?1"},
    [Q_CHUNK_COUNT] = {"SELECT count(*) FROM video_analysis_chunks WHERE job_id = $1",
                       "SELECT count(*) FROM video_analysis_chunks WHERE job_id = ?1"},
    /* PG: $1 job, $2 starts (float8[] literal), $3 ends, $4 max_attempts: one statement.
     * SQLite: ?1 id, ?2 job, ?3 index, ?4 start, ?5 end, ?6 max_attempts: one per chunk. */
    [Q_CHUNK_INSERT] =
        {"INSERT INTO video_analysis_chunks (id, job_id, chunk_index, start_sec, end_sec, status, "
         "attempts, max_attempts, next_attempt_at, created_at) SELECT gen_random_uuid()::text, $1, "
         "(t.i - 1)::int, t.s, t.e, 'queued', 0, $4, now(), now() "
         "FROM unnest($2::float8[], $3::float8[]) WITH ORDINALITY AS t(s, e, i)",
         "INSERT INTO video_analysis_chunks (id, job_id, chunk_index, start_sec, end_sec, status, "
         "attempts, max_attempts, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, "
         "'queued', 0, ?6, " SQ_NOW ", " SQ_NOW ")"},
    /* $1 job, $2 chunks, $3 duration, $4 and $5 the pinned video's size and etag (or
     * NULL): the pin is set in the transaction that queues the job. */
    [Q_JOB_SET_QUEUED] =
        {"UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', "
         "progress_pct = 0, total_chunks = $2, completed_chunks = 0, "
         "video_duration_seconds = $3, error_message = NULL, video_size_bytes = $4::bigint, "
         "video_etag = $5::varchar, started_at = COALESCE(started_at, now()), updated_at = now() "
         "WHERE id = $1",
         "UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', "
         "progress_pct = 0, total_chunks = ?2, completed_chunks = 0, "
         "video_duration_seconds = ?3, error_message = NULL, video_size_bytes = ?4, "
         "video_etag = ?5, started_at = COALESCE(started_at, " SQ_NOW "), updated_at = " SQ_NOW
         " WHERE id = ?1"},
    /* DESIGN.md §5: one statement, SKIP LOCKED, oldest job first.  The jobs are walked
     * in created_at order on ix_crease_jobs_queued and each job's queued chunks on
     * ix_crease_chunks_claim, so a claim reads a few rows however long the queue is
     * (a join-then-sort read every queued chunk: 28 ms per claim at 20,000 chunks).
     * PostgreSQL: the outer ORDER BY names only what the job index delivers, so no
     * sort runs and the LIMIT stops at the first job with enough chunks (with
     * c2.chunk_index added, a database without statistics sorted the lateral rows of
     * every queued job -- locking one chunk in each -- 6 ms a claim); within a job the
     * lateral yields chunk_index order.  SQLite, without statistics, must be told the
     * loop order (CROSS JOIN, INDEXED BY).  $1 worker,
     * $2 lease s, $3 n.  Each claim adds 1 to lease_token, the fencing token every later
     * call of the claimant names (migrations.c, version 4).  Returns the 18 chunk columns +
     * session_id, s3_bucket, s3_key, job created_at (RETURNING has no order: queue.c sorts
     * by the last column, job_id, chunk_index).
     */
    [Q_CLAIM] =
        {"UPDATE video_analysis_chunks c SET status = 'processing', attempts = c.attempts + 1, "
         "lease_token = c.lease_token + 1, worker_id = $1, started_at = now(), lease_expires_at = "
         "now() + $2 * interval '1 second' "
         "FROM video_analysis_jobs j WHERE j.id = c.job_id AND c.id IN (SELECT c2.id FROM "
         "video_analysis_jobs j2 CROSS JOIN LATERAL (SELECT c3.id, c3.chunk_index FROM "
         "video_analysis_chunks c3 WHERE c3.job_id = j2.id AND c3.status = 'queued' AND "
         "c3.next_attempt_at <= now() ORDER BY c3.chunk_index LIMIT $3 FOR UPDATE SKIP LOCKED) "
         "c2 WHERE j2.status = 'queued' ORDER BY j2.created_at, j2.id LIMIT $3) "
         "RETURNING " PG_CHUNK_COLS("c.") ", j.session_id, j.s3_bucket, j.s3_key, " PG_E(
             "j.created_at"),
         "UPDATE video_analysis_chunks SET status = 'processing', attempts = attempts + 1, "
         "lease_token = lease_token + 1, worker_id = ?1, started_at = " SQ_NOW
         ", lease_expires_at = " SQ_NOW " + ?2 "
         "WHERE id IN (SELECT c2.id FROM video_analysis_jobs AS j2 INDEXED BY "
         "ix_crease_jobs_queued "
         "CROSS JOIN video_analysis_chunks AS c2 INDEXED BY ix_crease_chunks_claim WHERE "
         "c2.job_id = j2.id AND c2.status = 'queued' AND c2.next_attempt_at <= " SQ_NOW
         " AND j2.status = 'queued' ORDER BY j2.created_at, j2.id, c2.chunk_index LIMIT ?3) "
         "RETURNING " SQ_CHUNK_COLS(
             "") ", (SELECT j.session_id FROM video_analysis_jobs j WHERE j.id "
                 "= video_analysis_chunks.job_id), (SELECT j.s3_bucket FROM video_analysis_jobs j "
                 "WHERE "
                 "j.id = video_analysis_chunks.job_id), (SELECT j.s3_key FROM video_analysis_jobs "
                 "j "
                 "WHERE j.id = video_analysis_chunks.job_id), (SELECT j.created_at FROM "
                 "video_analysis_jobs j WHERE j.id = video_analysis_chunks.job_id)"},
    /* $1 chunk, $2 worker, $3 lease s, $4 token. */
    [Q_HEARTBEAT] = {"UPDATE video_analysis_chunks SET lease_expires_at = now() + $3 * interval "
                     "'1 second' WHERE id = $1 AND worker_id = $2 AND lease_token = $4 AND "
                     "status = 'processing'",
                     "UPDATE video_analysis_chunks SET lease_expires_at = " SQ_NOW " + ?3 "
                     "WHERE id = ?1 AND worker_id = ?2 AND lease_token = ?4 AND "
                     "status = 'processing'"},
    /* PG: one statement; the job row update is guarded by the chunk's own transition
     * and increments under the row lock (PostgreSQL re-reads the newest row version
     * for a concurrent update, so no increment is lost) -- the race-free form of
     * DESIGN.md §5.  Progress moves only while the job is queued (a failed job keeps
     * its progress, DESIGN.md §4).  Returns job id, completed, total, status (no row:
     * not counted).  Fenced: only the current holder with the current token ($4 worker,
     * $5 token) completes, so a stale worker never sets the artifact key or counts.
     * SQLite: the chunk half here, Q_COMPLETE_JOB after it, under BEGIN IMMEDIATE. */
    [Q_COMPLETE] =
        {"WITH c AS (UPDATE video_analysis_chunks SET status = 'completed', completed_at = now(), "
         "runtime_ms = $2, artifact_s3_key = $3, lease_expires_at = NULL, error_message = NULL "
         "WHERE id = $1 AND status = 'processing' AND worker_id = $4 AND lease_token = $5 "
         "RETURNING job_id) "
         "UPDATE video_analysis_jobs j SET completed_chunks = COALESCE(j.completed_chunks, 0) + 1, "
         "progress_pct = CASE WHEN j.status = 'queued' THEN LEAST(99, (100 * "
         "(COALESCE(j.completed_chunks, 0) + 1)) / GREATEST(COALESCE(j.total_chunks, 1), 1)) ELSE "
         "j.progress_pct END, updated_at = now() FROM c WHERE j.id = "
         "c.job_id RETURNING j.id, j.completed_chunks, COALESCE(j.total_chunks, 0), j.status::text",
         "UPDATE video_analysis_chunks SET status = 'completed', completed_at = " SQ_NOW ", "
         "runtime_ms = ?2, artifact_s3_key = ?3, lease_expires_at = NULL, error_message = NULL "
         "WHERE id = ?1 AND status = 'processing' AND worker_id = ?4 AND lease_token = ?5 "
         "RETURNING job_id"},
    [Q_COMPLETE_JOB] =
        {NULL, "UPDATE video_analysis_jobs SET completed_chunks = (SELECT count(*) FROM "
               "video_analysis_chunks WHERE job_id = ?1 AND status = 'completed'), progress_pct = "
               "CASE WHEN status = 'queued' THEN MIN(99, (100 * (SELECT count(*) FROM "
               "video_analysis_chunks WHERE job_id = ?1 AND status = 'completed')) / "
               "MAX(COALESCE(total_chunks, 1), 1)) ELSE progress_pct END, updated_at = " SQ_NOW
               " WHERE id = ?1 RETURNING id, completed_chunks, COALESCE(total_chunks, 0), status"},
    /* $1 chunk, $2 worker, $3 token: the held chunk, locked. */
    [Q_CHUNK_LOCK] = {"SELECT attempts, COALESCE(max_attempts, 3), job_id, chunk_index FROM "
                      "video_analysis_chunks WHERE id = $1 AND status = 'processing' AND "
                      "worker_id = $2 AND lease_token = $3 FOR UPDATE",
                      "SELECT attempts, COALESCE(max_attempts, 3), job_id, chunk_index FROM "
                      "video_analysis_chunks WHERE id = ?1 AND status = 'processing' AND "
                      "worker_id = ?2 AND lease_token = ?3"},
    /* $1 chunk, $2 delay ms, $3 message. */
    [Q_CHUNK_REQUEUE] = {"UPDATE video_analysis_chunks SET status = 'queued', next_attempt_at = "
                         "now() + $2 * interval '1 millisecond', error_message = $3, worker_id = "
                         "NULL, lease_expires_at = NULL WHERE id = $1",
                         "UPDATE video_analysis_chunks SET status = 'queued', next_attempt_at = "
                         "" SQ_NOW " + ?2 / 1000.0, error_message = ?3, worker_id = NULL, "
                         "lease_expires_at = NULL WHERE id = ?1"},
    [Q_CHUNK_FAILED] = {"UPDATE video_analysis_chunks SET status = 'failed', error_message = $2, "
                        "lease_expires_at = NULL WHERE id = $1",
                        "UPDATE video_analysis_chunks SET status = 'failed', error_message = ?2, "
                        "lease_expires_at = NULL WHERE id = ?1"},
    /* $1 job, $2 message.  Progress unchanged (DESIGN.md §4). */
    [Q_JOB_FAIL] = {"UPDATE video_analysis_jobs SET status = 'failed', stage = 'FAILED', "
                    "error_message = $2, worker_id = NULL, lease_expires_at = NULL, "
                    "completed_at = now(), updated_at = now() WHERE id = $1 AND status IN "
                    "('queued', 'deep_running')",
                    "UPDATE video_analysis_jobs SET status = 'failed', stage = 'FAILED', "
                    "error_message = ?2, worker_id = NULL, lease_expires_at = NULL, "
                    "completed_at = " SQ_NOW ", updated_at = " SQ_NOW
                    " WHERE id = ?1 AND status IN ('queued', 'deep_running')"},
    /* A released attempt does not count.  $1 chunk, $2 worker, $3 token. */
    [Q_RELEASE] = {"UPDATE video_analysis_chunks SET status = 'queued', attempts = "
                   "GREATEST(attempts - 1, 0), worker_id = NULL, lease_expires_at = NULL, "
                   "next_attempt_at = now() WHERE id = $1 AND worker_id = $2 AND lease_token = $3 "
                   "AND status = 'processing'",
                   "UPDATE video_analysis_chunks SET status = 'queued', attempts = "
                   "MAX(attempts - 1, 0), worker_id = NULL, lease_expires_at = NULL, "
                   "next_attempt_at = " SQ_NOW
                   " WHERE id = ?1 AND worker_id = ?2 AND lease_token = "
                   "?3 AND status = 'processing'"},
    [Q_CHUNKS_OF_JOB] = {"SELECT " PG_CHUNK_COLS("") " FROM video_analysis_chunks WHERE "
                                                     "job_id = $1 ORDER BY chunk_index LIMIT $2",
                         "SELECT " SQ_CHUNK_COLS("") " FROM video_analysis_chunks WHERE "
                                                     "job_id = ?1 ORDER BY chunk_index LIMIT ?2"},
    /* Expired leases: back to queued, or failed on the last attempt.  Returns job_id,
     * new status, chunk_index. */
    [Q_REAP_CHUNKS] =
        {"UPDATE video_analysis_chunks SET status = (CASE WHEN attempts >= COALESCE(max_attempts, "
         "3) THEN 'failed' ELSE 'queued' END)::video_analysis_chunk_status, error_message = "
         "'lease expired (worker lost)', worker_id = NULL, lease_expires_at = NULL, "
         "next_attempt_at = now() WHERE status = 'processing' AND lease_expires_at < now() "
         "RETURNING job_id, status::text, chunk_index",
         "UPDATE video_analysis_chunks SET status = (CASE WHEN attempts >= COALESCE(max_attempts, "
         "3) THEN 'failed' ELSE 'queued' END), error_message = 'lease expired (worker lost)', "
         "worker_id = NULL, lease_expires_at = NULL, next_attempt_at = " SQ_NOW
         " WHERE status = 'processing' AND lease_expires_at < " SQ_NOW
         " RETURNING job_id, status, chunk_index"},
    [Q_REAP_JOBS] = {"UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', "
                     "worker_id = NULL, lease_expires_at = NULL, updated_at = now() WHERE status "
                     "= 'deep_running' AND lease_expires_at < now()",
                     "UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', "
                     "worker_id = NULL, lease_expires_at = NULL, updated_at = " SQ_NOW
                     " WHERE status = 'deep_running' AND lease_expires_at < " SQ_NOW},
    /* DESIGN.md §5: the conditional update that exactly one worker wins.  $1 job,
     * $2 worker, $3 lease s.  lease_token + 1 is the claim's fencing token. */
    [Q_AGG_CLAIM_ID] =
        {"UPDATE video_analysis_jobs j SET status = 'deep_running', stage = 'AGGREGATING', "
         "progress_pct = 99, deep_started_at = now(), worker_id = $2, lease_token = "
         "j.lease_token + 1, lease_expires_at = now() + "
         "$3 * interval '1 second', updated_at = now() WHERE j.id = $1 AND j.status = 'queued' AND "
         "((COALESCE(j.total_chunks, 0) > 0 AND j.completed_chunks = j.total_chunks) OR "
         "j.deep_mode = 'cpu') RETURNING " PG_JOB_COLS,
         "UPDATE video_analysis_jobs SET status = 'deep_running', stage = 'AGGREGATING', "
         "progress_pct = 99, deep_started_at = " SQ_NOW ", worker_id = ?2, lease_token = "
         "lease_token + 1, lease_expires_at = "
         "" SQ_NOW " + ?3, updated_at = " SQ_NOW " WHERE id = ?1 AND status = 'queued' AND "
         "((COALESCE(total_chunks, 0) > 0 AND completed_chunks = total_chunks) OR "
         "deep_mode = 'cpu') RETURNING " SQ_JOB_COLS("")},
    [Q_AGG_CLAIM_ANY] =
        {"UPDATE video_analysis_jobs j SET status = 'deep_running', stage = 'AGGREGATING', "
         "progress_pct = 99, deep_started_at = now(), worker_id = $2, lease_token = "
         "j.lease_token + 1, lease_expires_at = now() + "
         "$3 * interval '1 second', updated_at = now() WHERE j.id = (SELECT id FROM "
         "video_analysis_jobs WHERE status = 'queued' AND ((COALESCE(total_chunks, 0) > 0 AND "
         "completed_chunks = total_chunks) OR deep_mode = 'cpu') ORDER BY created_at, id LIMIT 1 "
         "FOR UPDATE SKIP LOCKED) AND j.status = 'queued' AND $1::text IS NULL "
         "RETURNING " PG_JOB_COLS,
         "UPDATE video_analysis_jobs SET status = 'deep_running', stage = 'AGGREGATING', "
         "progress_pct = 99, deep_started_at = " SQ_NOW ", worker_id = ?2, lease_token = "
         "lease_token + 1, lease_expires_at = "
         "" SQ_NOW " + ?3, updated_at = " SQ_NOW " WHERE id = (SELECT id FROM "
         "video_analysis_jobs WHERE status = 'queued' AND ((COALESCE(total_chunks, 0) > 0 AND "
         "completed_chunks = total_chunks) OR deep_mode = 'cpu') ORDER BY created_at, id LIMIT 1) "
         "AND ?1 IS NULL RETURNING " SQ_JOB_COLS("")},
    /* deep_started_at and updated_at move too: Cricksy's stale clock (store.h).
     * $1 job, $2 worker, $3 lease s, $4 token. */
    [Q_JOB_HEARTBEAT] = {"UPDATE video_analysis_jobs SET lease_expires_at = now() + $3 * interval "
                         "'1 second', deep_started_at = now(), updated_at = now() WHERE id = $1 "
                         "AND worker_id = $2 AND lease_token = $4 AND status = 'deep_running'",
                         "UPDATE video_analysis_jobs SET lease_expires_at = " SQ_NOW " + ?3, "
                         "deep_started_at = " SQ_NOW ", updated_at = " SQ_NOW " WHERE id = ?1 "
                         "AND worker_id = ?2 AND lease_token = ?4 AND status = 'deep_running'"},
    /* $1 job, $2 worker, $3 deep_results, $4 results key, $5 findings, $6 report,
     * $7 token: the columns Cricksy's analysis worker writes at the end of a deep pass,
     * only by the current holder of the aggregation lease. */
    [Q_JOB_DONE] = {"UPDATE video_analysis_jobs SET status = 'done', stage = 'DONE', progress_pct "
                    "= 100, deep_results = $3::json, results = json_build_object('deep', "
                    "$3::json), deep_findings = $5::json, deep_report = $6::json, "
                    "deep_results_s3_key = $4, worker_id = NULL, lease_expires_at = NULL, "
                    "deep_completed_at = now(), completed_at = now(), updated_at = now() WHERE "
                    "id = $1 AND worker_id = $2 AND lease_token = $7 AND status = "
                    "'deep_running'",
                    "UPDATE video_analysis_jobs SET status = 'done', stage = 'DONE', progress_pct "
                    "= 100, deep_results = ?3, results = json_object('deep', json(?3)), "
                    "deep_findings = ?5, deep_report = ?6, deep_results_s3_key = ?4, worker_id = "
                    "NULL, lease_expires_at = NULL, deep_completed_at = " SQ_NOW ", completed_at "
                    "= " SQ_NOW ", updated_at = " SQ_NOW " WHERE id = ?1 AND worker_id = ?2 AND "
                    "lease_token = ?7 AND status = 'deep_running'"},
    /* $1 job, $2 worker, $3 message, $4 token. */
    [Q_JOB_FAILED] = {"UPDATE video_analysis_jobs SET status = 'failed', stage = 'FAILED', "
                      "error_message = $3, worker_id = NULL, lease_expires_at = NULL, "
                      "completed_at = now(), updated_at = now() WHERE id = $1 AND worker_id = $2 "
                      "AND lease_token = $4 AND status = 'deep_running'",
                      "UPDATE video_analysis_jobs SET status = 'failed', stage = 'FAILED', "
                      "error_message = ?3, worker_id = NULL, lease_expires_at = NULL, "
                      "completed_at = " SQ_NOW ", updated_at = " SQ_NOW " WHERE id = ?1 AND "
                      "worker_id = ?2 AND lease_token = ?4 AND status = 'deep_running'"},
    [Q_RETRY_CHUNKS] = {"UPDATE video_analysis_chunks SET status = 'queued', attempts = 0, "
                        "error_message = NULL, worker_id = NULL, lease_expires_at = NULL, "
                        "next_attempt_at = now() WHERE job_id = $1 AND status = 'failed'",
                        "UPDATE video_analysis_chunks SET status = 'queued', attempts = 0, "
                        "error_message = NULL, worker_id = NULL, lease_expires_at = NULL, "
                        "next_attempt_at = " SQ_NOW " WHERE job_id = ?1 AND status = 'failed'"},
    [Q_RETRY_JOB] =
        {"UPDATE video_analysis_jobs j SET status = 'queued', stage = 'DEEP_QUEUED', error_message "
         "= NULL, worker_id = NULL, lease_expires_at = NULL, completed_at = NULL, "
         "completed_chunks = s.n, progress_pct = LEAST(99, (100 * s.n) / "
         "GREATEST(COALESCE(j.total_chunks, 1), 1)), updated_at = now() FROM (SELECT count(*)::int "
         "AS n FROM video_analysis_chunks WHERE job_id = $1 AND status = 'completed') s "
         "WHERE j.id = $1 AND j.status = 'failed'",
         "UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', error_message "
         "= NULL, worker_id = NULL, lease_expires_at = NULL, completed_at = NULL, "
         "completed_chunks = (SELECT count(*) FROM video_analysis_chunks WHERE job_id = ?1 AND "
         "status = 'completed'), progress_pct = MIN(99, (100 * (SELECT count(*) FROM "
         "video_analysis_chunks WHERE job_id = ?1 AND status = 'completed')) / "
         "MAX(COALESCE(total_chunks, 1), 1)), updated_at = " SQ_NOW
         " WHERE id = ?1 AND status = 'failed'"},
    /* queued (the autoscaling signal, store.h), ready, processing chunks; queued, ready,
     * running jobs. */
    [Q_DEPTH] =
        {"SELECT (" STORE_SQL_QUEUED_CHUNKS "), (SELECT count(*) FROM "
         "video_analysis_chunks c JOIN video_analysis_jobs j ON j.id = c.job_id WHERE c.status = "
         "'queued' AND j.status = 'queued' AND c.next_attempt_at <= now()), (SELECT count(*) FROM "
         "video_analysis_chunks WHERE status = 'processing'), (SELECT count(*) FROM "
         "video_analysis_jobs WHERE status = 'queued'), (SELECT count(*) FROM video_analysis_jobs "
         "WHERE status = 'queued' AND ((COALESCE(total_chunks, 0) > 0 AND completed_chunks = "
         "total_chunks) OR deep_mode = 'cpu')), (SELECT count(*) FROM video_analysis_jobs WHERE "
         "status = 'deep_running')",
         "SELECT (" STORE_SQL_QUEUED_CHUNKS "), (SELECT count(*) FROM "
         "video_analysis_chunks c JOIN video_analysis_jobs j ON j.id = c.job_id WHERE c.status = "
         "'queued' AND j.status = 'queued' AND c.next_attempt_at <= " SQ_NOW "), (SELECT count(*) "
         "FROM video_analysis_chunks WHERE status = 'processing'), (SELECT count(*) FROM "
         "video_analysis_jobs WHERE status = 'queued'), (SELECT count(*) FROM video_analysis_jobs "
         "WHERE status = 'queued' AND ((COALESCE(total_chunks, 0) > 0 AND completed_chunks = "
         "total_chunks) OR deep_mode = 'cpu')), (SELECT count(*) FROM video_analysis_jobs WHERE "
         "status = 'deep_running')"},
    /* $1 chunk.  Status, job id, the job's counts and status, the chunk's holder and
     * token (a repeated completion is recognised by them). */
    [Q_CHUNK_STATE] = {"SELECT c.status::text, c.job_id, COALESCE(j.completed_chunks, 0), "
                       "COALESCE(j.total_chunks, 0), j.status::text, c.worker_id, "
                       "c.lease_token FROM video_analysis_chunks c "
                       "JOIN video_analysis_jobs j ON j.id = c.job_id WHERE c.id = $1",
                       "SELECT c.status, c.job_id, COALESCE(j.completed_chunks, 0), "
                       "COALESCE(j.total_chunks, 0), j.status, c.worker_id, c.lease_token "
                       "FROM video_analysis_chunks c "
                       "JOIN video_analysis_jobs j ON j.id = c.job_id WHERE c.id = ?1"},
    [Q_JOB_LIST_SESSION] =
        {"SELECT " PG_JOB_COLS " FROM video_analysis_jobs j WHERE "
         "j.session_id = $1 ORDER BY j.created_at DESC, j.id DESC LIMIT $2",
         "SELECT " SQ_JOB_COLS(
             "j.") " FROM video_analysis_jobs j WHERE "
                   "j.session_id = ?1 ORDER BY j.created_at DESC, j.id DESC LIMIT ?2"},
    /* $1 limit, $2 owner_type, $3 owner_id, $4 status or NULL, $5 the cursor: the id of
     * the last job of the previous page (or NULL), whose (created_at, id) the page
     * continues below. */
    [Q_JOB_LIST_OWNER] =
        {"SELECT " PG_JOB_COLS " FROM video_analysis_jobs j JOIN video_sessions "
         "s ON s.id = j.session_id WHERE s.owner_type::text = $2 AND "
         "s.owner_id = $3 AND ($4::text IS NULL OR j.status::text = $4) AND ($5::text IS "
         "NULL OR (j.created_at, j.id) < (SELECT a.created_at, a.id FROM video_analysis_jobs a "
         "WHERE a.id = $5)) ORDER BY j.created_at DESC, j.id DESC LIMIT $1",
         "SELECT " SQ_JOB_COLS(
             "j.") " FROM video_analysis_jobs j JOIN "
                   "video_sessions s ON s.id = j.session_id WHERE s.owner_type = ?2 AND "
                   "s.owner_id = ?3 AND (?4 IS NULL OR j.status = ?4) AND (?5 IS NULL OR "
                   "(j.created_at, j.id) < (SELECT a.created_at, a.id FROM video_analysis_jobs a "
                   "WHERE a.id = ?5)) ORDER BY j.created_at DESC, j.id DESC LIMIT ?1"},
    /* $1 key: is it the video of a job whose upload is complete? */
    [Q_VIDEO_KEY_IN_USE] = {"SELECT count(*) FROM video_analysis_jobs WHERE s3_key = $1 AND "
                            "status::text <> 'awaiting_upload'",
                            "SELECT count(*) FROM video_analysis_jobs WHERE s3_key = ?1 AND "
                            "status <> 'awaiting_upload'"},
    [Q_JOB_FIX_CHUNK_SECONDS] = {"UPDATE video_analysis_jobs SET chunk_seconds = $2 WHERE id = "
                                 "$1 AND chunk_seconds IS NULL",
                                 "UPDATE video_analysis_jobs SET chunk_seconds = ?2 WHERE id = "
                                 "?1 AND chunk_seconds IS NULL"},
    /* $1 id, $2 owner_type, $3 owner_id, $4 title, $5 notes, $6 player_ids json,
     * $7 analysis_context, $8 camera_view. */
    [Q_SESSION_INSERT] =
        {"INSERT INTO video_sessions (id, owner_type, owner_id, title, notes, player_ids, status, "
         "analysis_context, camera_view, created_at, updated_at) VALUES ($1, "
         "$2::text::owner_type, $3, $4, $5, $6::text::jsonb, 'pending', "
         "$7::text::analysis_context, $8::text::camera_view, now(), now()) ON CONFLICT (id) DO "
         "NOTHING",
         "INSERT INTO video_sessions (id, owner_type, owner_id, title, notes, player_ids, status, "
         "analysis_context, camera_view, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
         "'pending', ?7, ?8, " SQ_NOW ", " SQ_NOW ") ON CONFLICT (id) DO NOTHING"},
    [Q_SESSION_GET] = {"SELECT " PG_SESSION_COLS " FROM video_sessions s WHERE s.id = $1",
                       "SELECT " SQ_SESSION_COLS " FROM video_sessions s WHERE s.id = ?1"},
    /* $1 owner_type, $2 owner_id, $3 limit, $4 offset. */
    [Q_SESSION_LIST] = {"SELECT " PG_SESSION_COLS " FROM video_sessions s WHERE "
                        "s.owner_type::text = $1 AND s.owner_id = $2 ORDER BY s.created_at "
                        "DESC, s.id DESC LIMIT $3 OFFSET $4",
                        "SELECT " SQ_SESSION_COLS " FROM video_sessions s WHERE s.owner_type = "
                        "?1 AND s.owner_id = ?2 ORDER BY s.created_at DESC, s.id DESC LIMIT ?3 "
                        "OFFSET ?4"},
    /* Q_SESSION_LIST with each session's jobs summed up: the 13 session columns, then
     * the 5 of PG_SESSION_JOBS_COLS. */
    [Q_SESSION_LIST_JOBS] = {"SELECT " PG_SESSION_COLS ", " PG_SESSION_JOBS_COLS(
                                 "s.id") " FROM video_sessions s" SESSION_LATEST_JOIN("s.id")
                                 PG_OWNER_PAGE,
                             "SELECT " SQ_SESSION_COLS ", " SQ_SESSION_JOBS_COLS(
                                 "s.id") " FROM video_sessions s" SESSION_LATEST_JOIN("s.id")
                                 SQ_OWNER_PAGE},
    /* $1 session: the 5 columns of PG_SESSION_JOBS_COLS, one row. */
    [Q_SESSION_JOBS] =
        {"SELECT " PG_SESSION_JOBS_COLS("$1::varchar") " FROM (SELECT 1) one" SESSION_LATEST_JOIN(
             "$1::varchar"),
         "SELECT " SQ_SESSION_JOBS_COLS("?1") " FROM (SELECT 1) one" SESSION_LATEST_JOIN("?1")},
    [Q_SESSION_SET_UPLOAD] = {"UPDATE video_sessions SET s3_bucket = $2, s3_key = $3, status = "
                              "'pending', updated_at = now() WHERE id = $1",
                              "UPDATE video_sessions SET s3_bucket = ?2, s3_key = ?3, status = "
                              "'pending', updated_at = " SQ_NOW " WHERE id = ?1"},
    /* $1 job.  Only at the job statuses crease moves jobs to. */
    [Q_SESSION_FOLLOW] =
        {"UPDATE video_sessions s SET status = (" SESSION_FOLLOWS(
             "j.status::text") ")::video_session_status, updated_at = now() FROM "
                               "video_analysis_jobs j WHERE j.id = $1 AND s.id = j.session_id "
                               "AND j.status::text IN ('queued', 'deep_running', 'done', "
                               "'failed')",
         "UPDATE video_sessions SET status = (SELECT " SESSION_FOLLOWS(
             "j.status") " FROM video_analysis_jobs j WHERE j.id = ?1), updated_at = " SQ_NOW
                         " WHERE id = (SELECT j.session_id FROM video_analysis_jobs j WHERE j.id "
                         "= ?1 AND j.status IN ('queued', 'deep_running', 'done', 'failed'))"},
};

const char *store_sql(store_dialect d, store_stmt q)
{
    if ((int)q < 0 || q >= Q_COUNT_)
        return NULL;
    return d == STORE_DIALECT_PG ? sql_text[q].pg : sql_text[q].sq;
}
