/*
 * migrations.c -- the versioned schema of the store, per backend, compiled in, and
 * the runner behind `crease migrate up | down [N] | status`.
 *
 * A migration is a list of steps, each creating one object: an enum type (T), a
 * table (t), a column (c), an index (i), an enum value (e) or a table constraint (k);
 * or changing data (d: run once on the way up, nothing to undo, nothing recorded).  `up` runs a
 * step only when its object is missing and records what it created in crease_schema_objects; `down`
 * drops exactly the recorded objects, newest first.  So on a database that already holds Cricksy's
 * tables `up` adds only what is missing and `down` leaves Cricksy's tables, columns and data alone,
 * and on an empty database down undoes up completely (the bookkeeping tables go when the last
 * version is undone). Enum values added to an existing Cricksy type (e) are the one thing down
 * keeps: PostgreSQL cannot drop an enum value without rebuilding the type under Cricksy's columns,
 * and an unused value harms nothing.
 *
 * Versions (the same numbers on both backends):
 *   1 video_analysis_tables -- Cricksy's tables, types and indexes (compat: never
 *     change names or values; the definitions follow Cricksy's Alembic revisions
 *     g2h3i4j5k6l7, p2q3r4s5t6u7, d1e2f3g4h5i6 and the model VideoAnalysisJob).
 *   2 queue_columns -- what crease's queue adds (DESIGN.md §3): chunk leases,
 *     worker ids, next_attempt_at, max_attempts; the job's aggregation lease;
 *     partial indexes for the claim and the reaper.
 *   3 cricksy_sessions_and_job_settings -- Cricksy's video_sessions, the job columns
 *     of its later revisions and the job -> session foreign key; crease's per-job
 *     settings (see v3_pg below).
 *   4 lease_tokens -- the fencing token of DESIGN.md §5 on chunks and jobs: a counter
 *     bumped by every claim and never reset (see v4_pg below).
 *   5 video_pins -- the video a job's upload-complete checked: its size and etag,
 *     which every worker compares before it reads (DESIGN.md §10; see v5_pg below).
 *
 * Each version runs in one transaction (DDL is transactional on both backends);
 * on PostgreSQL an advisory lock serialises concurrent `migrate` runs, on SQLite
 * BEGIN IMMEDIATE does.  Identifiers in the generated DDL are the constants below,
 * never input.
 */
#include "store/store_int.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mig_step {
    char kind; /* 'T' type, 't' table, 'c' column, 'i' index, 'e' enum value */
    const char *table;
    const char *name;
    const char *def;
} mig_step;

typedef struct migration {
    const char *name;
    const mig_step *pg;
    const mig_step *sq;
} migration;

/* ---- version 1: Cricksy's tables ------------------------------------------------ */

static const mig_step v1_pg[] = {
    {'T', NULL, "video_analysis_job_status",
     "'awaiting_upload', 'queued', 'processing', 'completed', 'failed', 'quick_running', "
     "'quick_done', 'deep_running', 'done'"},
    {'e', "video_analysis_job_status", "awaiting_upload", NULL},
    {'e', "video_analysis_job_status", "quick_running", NULL},
    {'e', "video_analysis_job_status", "quick_done", NULL},
    {'e', "video_analysis_job_status", "deep_running", NULL},
    {'e', "video_analysis_job_status", "done", NULL},
    {'T', NULL, "video_analysis_chunk_status", "'queued', 'processing', 'completed', 'failed'"},
    {'t', NULL, "video_analysis_jobs",
     "id varchar PRIMARY KEY, session_id varchar NOT NULL, sample_fps integer NOT NULL DEFAULT "
     "10, include_frames boolean NOT NULL DEFAULT false, status video_analysis_job_status NOT "
     "NULL DEFAULT 'awaiting_upload', error_message text, results json, created_at timestamptz "
     "NOT NULL DEFAULT now(), started_at timestamptz, completed_at timestamptz, updated_at "
     "timestamptz NOT NULL DEFAULT now()"},
    {'c', "video_analysis_jobs", "progress_pct", "integer NOT NULL DEFAULT 0"},
    {'c', "video_analysis_jobs", "stage", "varchar(50)"},
    {'c', "video_analysis_jobs", "deep_enabled", "boolean NOT NULL DEFAULT true"},
    {'c', "video_analysis_jobs", "deep_results", "json"},
    {'c', "video_analysis_jobs", "deep_started_at", "timestamptz"},
    {'c', "video_analysis_jobs", "deep_completed_at", "timestamptz"},
    {'c', "video_analysis_jobs", "s3_bucket", "varchar(255)"},
    {'c', "video_analysis_jobs", "s3_key", "varchar(500)"},
    {'c', "video_analysis_jobs", "deep_mode", "varchar(50)"},
    {'c', "video_analysis_jobs", "total_chunks", "integer"},
    {'c', "video_analysis_jobs", "completed_chunks", "integer"},
    {'c', "video_analysis_jobs", "video_duration_seconds", "double precision"},
    {'c', "video_analysis_jobs", "analysis_mode", "varchar(50)"},
    {'c', "video_analysis_jobs", "deep_results_s3_key", "varchar(500)"},
    {'i', NULL, "ix_analysis_jobs_status",
     "CREATE INDEX ix_analysis_jobs_status ON video_analysis_jobs (status)"},
    {'t', NULL, "video_analysis_chunks",
     "id varchar PRIMARY KEY, job_id varchar NOT NULL REFERENCES video_analysis_jobs (id) ON "
     "DELETE CASCADE, chunk_index integer NOT NULL, start_sec double precision NOT NULL, end_sec "
     "double precision NOT NULL, status video_analysis_chunk_status NOT NULL DEFAULT 'queued', "
     "attempts integer NOT NULL DEFAULT 0, artifact_s3_key varchar(500), runtime_ms integer, "
     "error_message text, created_at timestamptz NOT NULL DEFAULT now(), started_at "
     "timestamptz, completed_at timestamptz"},
    {'i', NULL, "ix_analysis_chunks_job_id",
     "CREATE INDEX ix_analysis_chunks_job_id ON video_analysis_chunks (job_id)"},
    {'i', NULL, "ix_analysis_chunks_status",
     "CREATE INDEX ix_analysis_chunks_status ON video_analysis_chunks (status)"},
    {'i', NULL, "ix_analysis_chunks_job_chunk_idx",
     "CREATE UNIQUE INDEX ix_analysis_chunks_job_chunk_idx ON video_analysis_chunks (job_id, "
     "chunk_index)"},
    {0, NULL, NULL, NULL},
};

/* SQLite: enums are TEXT with CHECK, json is TEXT, timestamps are epoch seconds (REAL). */
static const mig_step v1_sq[] = {
    {'t', NULL, "video_analysis_jobs",
     "id TEXT PRIMARY KEY, session_id TEXT NOT NULL, sample_fps INTEGER NOT NULL DEFAULT 10, "
     "include_frames INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'awaiting_upload' "
     "CHECK (status IN ('awaiting_upload', 'queued', 'processing', 'completed', 'failed', "
     "'quick_running', 'quick_done', 'deep_running', 'done')), error_message TEXT, results TEXT, "
     "created_at REAL NOT NULL, started_at REAL, completed_at REAL, updated_at REAL NOT NULL, "
     "progress_pct INTEGER NOT NULL DEFAULT 0, stage TEXT, deep_enabled INTEGER NOT NULL DEFAULT "
     "1, deep_results TEXT, deep_started_at REAL, deep_completed_at REAL, s3_bucket TEXT, s3_key "
     "TEXT, deep_mode TEXT, total_chunks INTEGER, completed_chunks INTEGER, "
     "video_duration_seconds REAL, analysis_mode TEXT, deep_results_s3_key TEXT"},
    {'i', NULL, "ix_analysis_jobs_status",
     "CREATE INDEX ix_analysis_jobs_status ON video_analysis_jobs (status)"},
    {'t', NULL, "video_analysis_chunks",
     "id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES video_analysis_jobs (id) ON DELETE "
     "CASCADE, chunk_index INTEGER NOT NULL, start_sec REAL NOT NULL, end_sec REAL NOT NULL, "
     "status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', "
     "'completed', 'failed')), attempts INTEGER NOT NULL DEFAULT 0, artifact_s3_key TEXT, "
     "runtime_ms INTEGER, error_message TEXT, created_at REAL NOT NULL, started_at REAL, "
     "completed_at REAL"},
    {'i', NULL, "ix_analysis_chunks_job_id",
     "CREATE INDEX ix_analysis_chunks_job_id ON video_analysis_chunks (job_id)"},
    {'i', NULL, "ix_analysis_chunks_status",
     "CREATE INDEX ix_analysis_chunks_status ON video_analysis_chunks (status)"},
    {'i', NULL, "ix_analysis_chunks_job_chunk_idx",
     "CREATE UNIQUE INDEX ix_analysis_chunks_job_chunk_idx ON video_analysis_chunks (job_id, "
     "chunk_index)"},
    {0, NULL, NULL, NULL},
};

/* ---- version 2: the queue ------------------------------------------------------- */

static const mig_step v2_pg[] = {
    {'c', "video_analysis_chunks", "lease_expires_at", "timestamptz"},
    {'c', "video_analysis_chunks", "worker_id", "varchar(64)"},
    {'c', "video_analysis_chunks", "next_attempt_at", "timestamptz NOT NULL DEFAULT now()"},
    {'c', "video_analysis_chunks", "max_attempts", "integer NOT NULL DEFAULT 3"},
    {'c', "video_analysis_jobs", "worker_id", "varchar(64)"},
    {'c', "video_analysis_jobs", "lease_expires_at", "timestamptz"},
    {'i', NULL, "ix_crease_chunks_claim",
     "CREATE INDEX ix_crease_chunks_claim ON video_analysis_chunks (job_id, chunk_index) WHERE "
     "status = 'queued'"},
    {'i', NULL, "ix_crease_chunks_lease",
     "CREATE INDEX ix_crease_chunks_lease ON video_analysis_chunks (lease_expires_at) WHERE "
     "status = 'processing'"},
    {'i', NULL, "ix_crease_jobs_queued",
     "CREATE INDEX ix_crease_jobs_queued ON video_analysis_jobs (created_at, id) WHERE status "
     "= 'queued'"},
    {0, NULL, NULL, NULL},
};

static const mig_step v2_sq[] = {
    {'c', "video_analysis_chunks", "lease_expires_at", "REAL"},
    {'c', "video_analysis_chunks", "worker_id", "TEXT"},
    {'c', "video_analysis_chunks", "next_attempt_at", "REAL NOT NULL DEFAULT 0"},
    {'c', "video_analysis_chunks", "max_attempts", "INTEGER NOT NULL DEFAULT 3"},
    {'c', "video_analysis_jobs", "worker_id", "TEXT"},
    {'c', "video_analysis_jobs", "lease_expires_at", "REAL"},
    {'i', NULL, "ix_crease_chunks_claim",
     "CREATE INDEX ix_crease_chunks_claim ON video_analysis_chunks (job_id, chunk_index) WHERE "
     "status = 'queued'"},
    {'i', NULL, "ix_crease_chunks_lease",
     "CREATE INDEX ix_crease_chunks_lease ON video_analysis_chunks (lease_expires_at) WHERE "
     "status = 'processing'"},
    {'i', NULL, "ix_crease_jobs_queued",
     "CREATE INDEX ix_crease_jobs_queued ON video_analysis_jobs (created_at, id) WHERE status "
     "= 'queued'"},
    {0, NULL, NULL, NULL},
};

/* ---- version 3: Cricksy's sessions, the rest of its job columns, per-job settings - */

/* Cricksy's alembic head (ab12cd34ef56): video_sessions and its enums (revisions
 * n4i5j6k7l8m9, q8r9s0t1u2v3, a1b2c3d4e5f6, c3d4e5f6g7h8, 20260106190609,
 * pitch_calibration_001), the job columns of p2q3r4s5t6u7, h3i4j5k6l7m8, 8fad14d07603,
 * j4k5l6m7n8o9 and p3q4r5s6t7u8, the job indexes and the job -> session foreign key.
 * compat: never change these names, types or enum orders.  Then crease's per-job
 * settings (DESIGN.md §3): sample_rate (the exact SAMPLE_FPS; Cricksy's sample_fps is
 * an integer), chunk_seconds, max_width, pose_model.  Jobs created before this version
 * have no session row: one is made for each (owner unknown: owner_id '') so that the
 * foreign key holds. */
static const mig_step v3_pg[] = {
    {'T', NULL, "owner_type", "'coach', 'org'"},
    {'T', NULL, "video_session_status", "'pending', 'uploaded', 'processing', 'ready', 'failed'"},
    {'T', NULL, "video_session_type", "'batting', 'bowling', 'fielding', 'wicketkeeping'"},
    {'T', NULL, "analysis_context", "'batting', 'bowling', 'wicketkeeping', 'fielding', 'mixed'"},
    {'T', NULL, "camera_view", "'side', 'front', 'behind', 'other'"},
    {'t', NULL, "video_sessions",
     "id varchar NOT NULL PRIMARY KEY, owner_type owner_type NOT NULL, owner_id varchar NOT "
     "NULL, title varchar(255) NOT NULL, notes text, player_ids jsonb NOT NULL, s3_bucket "
     "varchar(255), s3_key varchar(500), status video_session_status NOT NULL, created_at "
     "timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), "
     "file_size_bytes bigint, session_type video_session_type, min_duration_seconds integer NOT "
     "NULL DEFAULT 300, analysis_context analysis_context, camera_view camera_view, "
     "pitch_corners json"},
    /* On a Cricksy database older than its head, the columns of later revisions. */
    {'c', "video_sessions", "file_size_bytes", "bigint"},
    {'c', "video_sessions", "session_type", "video_session_type"},
    {'c', "video_sessions", "min_duration_seconds", "integer NOT NULL DEFAULT 300"},
    {'c', "video_sessions", "analysis_context", "analysis_context"},
    {'c', "video_sessions", "camera_view", "camera_view"},
    {'c', "video_sessions", "pitch_corners", "json"},
    {'i', NULL, "ix_video_sessions_owner",
     "CREATE INDEX ix_video_sessions_owner ON video_sessions (owner_type, owner_id)"},
    {'i', NULL, "ix_video_sessions_status",
     "CREATE INDEX ix_video_sessions_status ON video_sessions (status)"},
    {'i', NULL, "ix_video_sessions_created_at",
     "CREATE INDEX ix_video_sessions_created_at ON video_sessions (created_at)"},
    {'i', NULL, "ix_video_sessions_owner_size",
     "CREATE INDEX ix_video_sessions_owner_size ON video_sessions (owner_id, status, "
     "file_size_bytes)"},
    {'i', NULL, "ix_video_sessions_session_type",
     "CREATE INDEX ix_video_sessions_session_type ON video_sessions (session_type)"},
    {'i', NULL, "ix_video_sessions_analysis_context",
     "CREATE INDEX ix_video_sessions_analysis_context ON video_sessions (analysis_context)"},
    {'c', "video_analysis_jobs", "sqs_message_id", "varchar(255)"},
    {'c', "video_analysis_jobs", "quick_results", "json"},
    {'c', "video_analysis_jobs", "quick_started_at", "timestamptz"},
    {'c', "video_analysis_jobs", "quick_completed_at", "timestamptz"},
    {'c', "video_analysis_jobs", "quick_findings", "json"},
    {'c', "video_analysis_jobs", "quick_report", "json"},
    {'c', "video_analysis_jobs", "deep_findings", "json"},
    {'c', "video_analysis_jobs", "deep_report", "json"},
    {'c', "video_analysis_jobs", "quick_results_s3_key", "varchar(500)"},
    {'c', "video_analysis_jobs", "pdf_s3_key", "varchar(500)"},
    {'c', "video_analysis_jobs", "pdf_generated_at", "timestamptz"},
    {'c', "video_analysis_jobs", "coach_goals", "jsonb"},
    {'c', "video_analysis_jobs", "outcomes", "jsonb"},
    {'c', "video_analysis_jobs", "goal_compliance_pct", "double precision"},
    {'c', "video_analysis_jobs", "coach_suggestions", "jsonb"},
    {'c', "video_analysis_jobs", "player_summary", "jsonb"},
    {'i', NULL, "ix_analysis_jobs_session_id",
     "CREATE INDEX ix_analysis_jobs_session_id ON video_analysis_jobs (session_id)"},
    {'i', NULL, "ix_analysis_jobs_created_at",
     "CREATE INDEX ix_analysis_jobs_created_at ON video_analysis_jobs (created_at)"},
    {'i', NULL, "ix_analysis_jobs_sqs_message_id",
     "CREATE INDEX ix_analysis_jobs_sqs_message_id ON video_analysis_jobs (sqs_message_id)"},
    {'d', NULL, "sessions_for_orphan_jobs",
     "INSERT INTO video_sessions (id, owner_type, owner_id, title, player_ids, status) SELECT "
     "DISTINCT j.session_id, 'coach'::owner_type, '', 'Untitled session', '[]'::jsonb, "
     "'uploaded'::video_session_status FROM "
     "video_analysis_jobs j WHERE NOT EXISTS (SELECT 1 FROM video_sessions s WHERE s.id = "
     "j.session_id)"},
    {'k', "video_analysis_jobs", "video_analysis_jobs_session_id_fkey",
     "FOREIGN KEY (session_id) REFERENCES video_sessions (id) ON DELETE CASCADE"},
    {'c', "video_analysis_jobs", "sample_rate", "double precision"},
    {'c', "video_analysis_jobs", "chunk_seconds", "integer"},
    {'c', "video_analysis_jobs", "max_width", "integer"},
    {'c', "video_analysis_jobs", "pose_model", "varchar(16)"},
    {0, NULL, NULL, NULL},
};

/* SQLite: the same in its types (enums as TEXT with CHECK, json as TEXT, times as epoch
 * seconds).  SQLite cannot add a foreign key to an existing table; store.c checks that
 * a job's session exists before creating the job. */
static const mig_step v3_sq[] = {
    {'t', NULL, "video_sessions",
     "id TEXT NOT NULL PRIMARY KEY, owner_type TEXT NOT NULL CHECK (owner_type IN ('coach', "
     "'org')), owner_id TEXT NOT NULL, title TEXT NOT NULL, notes TEXT, player_ids TEXT NOT NULL "
     "DEFAULT '[]', s3_bucket TEXT, s3_key TEXT, status TEXT NOT NULL CHECK (status IN "
     "('pending', 'uploaded', 'processing', 'ready', 'failed')), created_at REAL NOT NULL, "
     "updated_at REAL NOT NULL, file_size_bytes INTEGER, session_type TEXT CHECK (session_type "
     "IN ('batting', 'bowling', 'fielding', 'wicketkeeping')), min_duration_seconds INTEGER NOT "
     "NULL DEFAULT 300, analysis_context TEXT CHECK (analysis_context IN ('batting', 'bowling', "
     "'wicketkeeping', 'fielding', 'mixed')), camera_view TEXT CHECK (camera_view IN ('side', "
     "'front', 'behind', 'other')), pitch_corners TEXT"},
    {'c', "video_sessions", "analysis_context", "TEXT"},
    {'c', "video_sessions", "camera_view", "TEXT"},
    {'i', NULL, "ix_video_sessions_owner",
     "CREATE INDEX ix_video_sessions_owner ON video_sessions (owner_type, owner_id)"},
    {'i', NULL, "ix_video_sessions_status",
     "CREATE INDEX ix_video_sessions_status ON video_sessions (status)"},
    {'i', NULL, "ix_video_sessions_created_at",
     "CREATE INDEX ix_video_sessions_created_at ON video_sessions (created_at)"},
    {'c', "video_analysis_jobs", "sqs_message_id", "TEXT"},
    {'c', "video_analysis_jobs", "quick_results", "TEXT"},
    {'c', "video_analysis_jobs", "quick_started_at", "REAL"},
    {'c', "video_analysis_jobs", "quick_completed_at", "REAL"},
    {'c', "video_analysis_jobs", "quick_findings", "TEXT"},
    {'c', "video_analysis_jobs", "quick_report", "TEXT"},
    {'c', "video_analysis_jobs", "deep_findings", "TEXT"},
    {'c', "video_analysis_jobs", "deep_report", "TEXT"},
    {'c', "video_analysis_jobs", "quick_results_s3_key", "TEXT"},
    {'c', "video_analysis_jobs", "pdf_s3_key", "TEXT"},
    {'c', "video_analysis_jobs", "pdf_generated_at", "REAL"},
    {'c', "video_analysis_jobs", "coach_goals", "TEXT"},
    {'c', "video_analysis_jobs", "outcomes", "TEXT"},
    {'c', "video_analysis_jobs", "goal_compliance_pct", "REAL"},
    {'c', "video_analysis_jobs", "coach_suggestions", "TEXT"},
    {'c', "video_analysis_jobs", "player_summary", "TEXT"},
    {'i', NULL, "ix_analysis_jobs_session_id",
     "CREATE INDEX ix_analysis_jobs_session_id ON video_analysis_jobs (session_id)"},
    {'i', NULL, "ix_analysis_jobs_created_at",
     "CREATE INDEX ix_analysis_jobs_created_at ON video_analysis_jobs (created_at)"},
    {'d', NULL, "sessions_for_orphan_jobs",
     "INSERT INTO video_sessions (id, owner_type, owner_id, title, player_ids, status, "
     "created_at, updated_at) SELECT DISTINCT j.session_id, 'coach', '', 'Untitled session', "
     "'[]', 'uploaded', MIN(j.created_at), MIN(j.created_at) FROM video_analysis_jobs j WHERE "
     "NOT EXISTS (SELECT 1 FROM video_sessions s WHERE s.id = j.session_id) GROUP BY "
     "j.session_id"},
    {'c', "video_analysis_jobs", "sample_rate", "REAL"},
    {'c', "video_analysis_jobs", "chunk_seconds", "INTEGER"},
    {'c', "video_analysis_jobs", "max_width", "INTEGER"},
    {'c', "video_analysis_jobs", "pose_model", "TEXT"},
    {0, NULL, NULL, NULL},
};

/* ---- version 4: fencing tokens ------------------------------------------------ */

/* lease_token counts the claims of a row: store_chunk_claim and
 * store_job_claim_aggregation add 1 and hand the new value to the claimant, and every
 * later call of that claimant (heartbeat, complete, fail, release, finish) names it.
 * attempts cannot serve: a release takes one back and a retry resets it to 0, so an
 * old attempt number comes round again while its worker may still be alive.  The
 * counter only grows, so a token names one claim for the life of the row.  Rows that
 * Cricksy's workers insert get the default 0, which no claim hands out. */
static const mig_step v4_pg[] = {
    {'c', "video_analysis_chunks", "lease_token", "bigint NOT NULL DEFAULT 0"},
    {'c', "video_analysis_jobs", "lease_token", "bigint NOT NULL DEFAULT 0"},
    {0, NULL, NULL, NULL},
};

static const mig_step v4_sq[] = {
    {'c', "video_analysis_chunks", "lease_token", "INTEGER NOT NULL DEFAULT 0"},
    {'c', "video_analysis_jobs", "lease_token", "INTEGER NOT NULL DEFAULT 0"},
    {0, NULL, NULL, NULL},
};

/* ---- version 5: the pinned video ------------------------------------------------ */

/* Upload-complete records the size and etag of the object it probed and checked
 * (blob_info: S3's ETag, or the local store's SHA-256), in the same transaction that
 * queues the job; workers refuse to read another object under the job's key.  NULL on
 * jobs queued before this version or by Cricksy's own upload-complete (nothing to
 * compare: they are read as before).  Crease's columns beside Cricksy's (whose
 * video_sessions.file_size_bytes stays untouched).  The index serves the local blob
 * server's question "is this key the video of a job already past its upload?"
 * (store_video_key_pinned). */
static const mig_step v5_pg[] = {
    {'c', "video_analysis_jobs", "video_size_bytes", "bigint"},
    {'c', "video_analysis_jobs", "video_etag", "varchar(128)"},
    {'i', NULL, "ix_crease_jobs_s3_key",
     "CREATE INDEX ix_crease_jobs_s3_key ON video_analysis_jobs (s3_key)"},
    {0, NULL, NULL, NULL},
};

static const mig_step v5_sq[] = {
    {'c', "video_analysis_jobs", "video_size_bytes", "INTEGER"},
    {'c', "video_analysis_jobs", "video_etag", "TEXT"},
    {'i', NULL, "ix_crease_jobs_s3_key",
     "CREATE INDEX ix_crease_jobs_s3_key ON video_analysis_jobs (s3_key)"},
    {0, NULL, NULL, NULL},
};

/* ---- version 6: the subject hint ----------------------------------------------- */

/* Which player to follow (pose_tracker_set_subject): a point of the picture, 0..1 from
 * the top left, given when the job is created; NULL = the strongest detection (every job
 * before this version, and Cricksy's). */
static const mig_step v6_pg[] = {
    {'c', "video_analysis_jobs", "subject_x", "double precision"},
    {'c', "video_analysis_jobs", "subject_y", "double precision"},
    {0, NULL, NULL, NULL},
};

static const mig_step v6_sq[] = {
    {'c', "video_analysis_jobs", "subject_x", "REAL"},
    {'c', "video_analysis_jobs", "subject_y", "REAL"},
    {0, NULL, NULL, NULL},
};

static const migration migrations[] = {
    {"video_analysis_tables", v1_pg, v1_sq},
    {"queue_columns", v2_pg, v2_sq},
    {"cricksy_sessions_and_job_settings", v3_pg, v3_sq},
    {"lease_tokens", v4_pg, v4_sq},
    {"video_pins", v5_pg, v5_sq},
    {"subject_hints", v6_pg, v6_sq},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int store_migrations_latest(void)
{
    return N_MIGRATIONS;
}

const char *store_migration_name(int v)
{
    return (v >= 1 && v <= N_MIGRATIONS) ? migrations[v - 1].name : NULL;
}

/* ---- runner --------------------------------------------------------------------- */

static const char *bookkeeping_pg =
    "CREATE TABLE IF NOT EXISTS crease_schema_migrations (version integer PRIMARY KEY, name "
    "text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); "
    "CREATE TABLE IF NOT EXISTS crease_schema_objects (version integer NOT NULL, seq integer "
    "NOT NULL, kind text NOT NULL, tbl text, name text NOT NULL, PRIMARY KEY (version, seq))";
static const char *bookkeeping_sq =
    "CREATE TABLE IF NOT EXISTS crease_schema_migrations (version INTEGER PRIMARY KEY, name "
    "TEXT NOT NULL, applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * "
    "86400.0)); "
    "CREATE TABLE IF NOT EXISTS crease_schema_objects (version INTEGER NOT NULL, seq INTEGER "
    "NOT NULL, kind TEXT NOT NULL, tbl TEXT, name TEXT NOT NULL, PRIMARY KEY (version, seq))";

static int pg(const store *st)
{
    return st->drv->dialect == STORE_DIALECT_PG;
}

static cr_status count_of(store *st, const char *sql, const store_val *p, int n, long *out,
                          cr_err *err)
{
    store_rows r;
    cr_status s = st->drv->exec(st->ctx, -1, sql, p, n, &r, err);
    if (s != CR_OK)
        return s;
    const char *v = store_cell(&r, 0, 0);
    *out = v != NULL ? atol(v) : 0;
    store_rows_free(&r);
    return CR_OK;
}

static cr_status object_exists(store *st, const mig_step *s, int *exists, cr_err *err)
{
    const char *sql = NULL;
    store_val p[2] = {SVT(s->name), SVT(s->table)};
    int n = 1;
    switch (s->kind) {
    case 'T':
        sql = "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
              "WHERE t.typname = $1 AND n.nspname = current_schema()";
        break;
    case 'e':
        sql = "SELECT count(*) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN "
              "pg_namespace n ON n.oid = t.typnamespace WHERE e.enumlabel = $1 AND t.typname = "
              "$2 AND n.nspname = current_schema()";
        n = 2;
        break;
    case 't':
        sql = pg(st) ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                       "current_schema() AND table_name = $1"
                     : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1";
        break;
    case 'c':
        sql = pg(st) ? "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                       "current_schema() AND column_name = $1 AND table_name = $2"
                     : "SELECT count(*) FROM pragma_table_info(?2) WHERE name = ?1";
        n = 2;
        break;
    case 'i':
        sql = pg(st) ? "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND "
                       "indexname = $1"
                     : "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1";
        break;
    case 'k':
        sql = "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = "
              "c.connamespace WHERE c.conname = $1 AND n.nspname = current_schema()";
        break;
    case 'd':
        *exists = 0; /* data steps always run on the way up */
        return CR_OK;
    default:
        return cr_err_set(err, CR_ERR_INTERNAL, "migrate: bad step kind %c", s->kind);
    }
    long c = 0;
    cr_status rc = count_of(st, sql, p, n, &c, err);
    *exists = c > 0;
    return rc;
}

static cr_status step_sql(const mig_step *s, int up, char *buf, size_t cap, cr_err *err)
{
    int n = 0;
    switch (s->kind) {
    case 'T':
        n = up ? snprintf(buf, cap, "CREATE TYPE %s AS ENUM (%s)", s->name, s->def)
               : snprintf(buf, cap, "DROP TYPE %s", s->name);
        break;
    case 't':
        n = up ? snprintf(buf, cap, "CREATE TABLE %s (%s)", s->name, s->def)
               : snprintf(buf, cap, "DROP TABLE %s", s->name);
        break;
    case 'c':
        n = up ? snprintf(buf, cap, "ALTER TABLE %s ADD COLUMN %s %s", s->table, s->name, s->def)
               : snprintf(buf, cap, "ALTER TABLE %s DROP COLUMN %s", s->table, s->name);
        break;
    case 'i':
        n = up ? snprintf(buf, cap, "%s", s->def) : snprintf(buf, cap, "DROP INDEX %s", s->name);
        break;
    case 'e':
        n = up ? snprintf(buf, cap, "ALTER TYPE %s ADD VALUE IF NOT EXISTS '%s'", s->table, s->name)
               : snprintf(buf, cap, "SELECT 1"); /* kept: see the top of this file */
        break;
    case 'k':
        n = up ? snprintf(buf, cap, "ALTER TABLE %s ADD CONSTRAINT %s %s", s->table, s->name,
                          s->def)
               : snprintf(buf, cap, "ALTER TABLE %s DROP CONSTRAINT %s", s->table, s->name);
        break;
    case 'd':
        n = up ? snprintf(buf, cap, "%s", s->def) : snprintf(buf, cap, "SELECT 1");
        break;
    default:
        return cr_err_set(err, CR_ERR_INTERNAL, "migrate: bad step kind %c", s->kind);
    }
    if (n < 0 || (size_t)n >= cap)
        return cr_err_set(err, CR_ERR_INTERNAL, "migrate: step %s too long", s->name);
    return CR_OK;
}

/* Starts a migration transaction holding the migration lock, bookkeeping present. */
static cr_status mig_begin(store *st, cr_err *err)
{
    cr_status s = st->drv->begin(st->ctx, err);
    if (s != CR_OK)
        return s;
    /* Advisory lock key: an arbitrary constant private to crease's migrations
     * (0x637265617365 = "crease" in ASCII). */
    if (pg(st))
        s = st->drv->exec_script(st->ctx, "SELECT pg_advisory_xact_lock(109342744306533)", err);
    if (s == CR_OK)
        s = st->drv->exec_script(st->ctx, pg(st) ? bookkeeping_pg : bookkeeping_sq, err);
    if (s != CR_OK)
        st->drv->rollback(st->ctx);
    return s;
}

static cr_status current_version(store *st, int *v, cr_err *err)
{
    long c = 0;
    cr_status s = count_of(st, "SELECT COALESCE(max(version), 0) FROM crease_schema_migrations",
                           NULL, 0, &c, err);
    *v = (int)c;
    return s;
}

cr_status store_migrate_status(store *st, int *version, cr_err *err)
{
    *version = 0;
    long have = 0;
    cr_status s = count_of(st,
                           pg(st) ? "SELECT count(*) FROM information_schema.tables WHERE "
                                    "table_schema = current_schema() AND table_name = "
                                    "'crease_schema_migrations'"
                                  : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                    "name = 'crease_schema_migrations'",
                           NULL, 0, &have, err);
    if (s != CR_OK || have == 0)
        return s;
    return current_version(st, version, err);
}

cr_status store_check_schema(store *st, cr_err *err)
{
    int v = 0;
    cr_status s = store_migrate_status(st, &v, err);
    if (s != CR_OK)
        return s;
    if (v != N_MIGRATIONS)
        return cr_err_set(err, CR_ERR_DB,
                          "schema at version %d, this crease needs %d: run `crease migrate up`", v,
                          N_MIGRATIONS);
    return CR_OK;
}

static cr_status apply_version(store *st, int v, int *did, cr_err *err)
{
    *did = 0;
    cr_status s = mig_begin(st, err);
    if (s != CR_OK)
        return s;
    int cur = 0;
    if ((s = current_version(st, &cur, err)) != CR_OK)
        goto fail;
    if (cur >= v) {
        st->drv->rollback(st->ctx); /* another process got here first */
        return CR_OK;
    }
    if (cur != v - 1) {
        s = cr_err_set(err, CR_ERR_DB, "migrate: at version %d, cannot apply %d", cur, v);
        goto fail;
    }
    const mig_step *steps = pg(st) ? migrations[v - 1].pg : migrations[v - 1].sq;
    for (int i = 0; steps[i].kind != 0; i++) {
        int exists = 0;
        if ((s = object_exists(st, &steps[i], &exists, err)) != CR_OK)
            goto fail;
        if (exists)
            continue; /* Cricksy's, or left by someone else: not ours to drop */
        char sql[2048];
        if ((s = step_sql(&steps[i], 1, sql, sizeof sql, err)) != CR_OK)
            goto fail;
        if ((s = st->drv->exec_script(st->ctx, sql, err)) != CR_OK)
            goto fail;
        if (steps[i].kind == 'd')
            continue; /* nothing to undo */
        char kind[2] = {steps[i].kind, 0};
        store_val p[5] = {SVI(v), SVI(i), SVT(kind), SVT(steps[i].table), SVT(steps[i].name)};
        s = st->drv->exec(st->ctx, -1,
                          pg(st) ? "INSERT INTO crease_schema_objects (version, seq, kind, tbl, "
                                   "name) VALUES ($1, $2, $3, $4, $5)"
                                 : "INSERT INTO crease_schema_objects (version, seq, kind, tbl, "
                                   "name) VALUES (?1, ?2, ?3, ?4, ?5)",
                          p, 5, NULL, err);
        if (s != CR_OK)
            goto fail;
    }
    store_val pv[2] = {SVI(v), SVT(migrations[v - 1].name)};
    s = st->drv->exec(st->ctx, -1,
                      pg(st)
                          ? "INSERT INTO crease_schema_migrations (version, name) VALUES ($1, $2)"
                          : "INSERT INTO crease_schema_migrations (version, name) VALUES (?1, "
                            "?2)",
                      pv, 2, NULL, err);
    if (s != CR_OK)
        goto fail;
    if ((s = st->drv->commit(st->ctx, err)) != CR_OK)
        return s;
    *did = 1;
    return CR_OK;
fail:
    st->drv->rollback(st->ctx);
    return s;
}

cr_status store_migrate_up(store *st, int target, int *applied, cr_err *err)
{
    if (applied != NULL)
        *applied = 0;
    if (target <= 0 || target > N_MIGRATIONS)
        target = N_MIGRATIONS;
    for (int v = 1; v <= target; v++) {
        int did = 0;
        cr_status s = apply_version(st, v, &did, err);
        if (s != CR_OK)
            return s;
        if (did && applied != NULL)
            (*applied)++;
    }
    return CR_OK;
}

static const mig_step *find_step(const mig_step *steps, int seq)
{
    int n = 0;
    while (steps[n].kind != 0)
        n++;
    return (seq >= 0 && seq < n) ? &steps[seq] : NULL;
}

static cr_status undo_newest(store *st, int *did, cr_err *err)
{
    *did = 0;
    cr_status s = mig_begin(st, err);
    if (s != CR_OK)
        return s;
    int v = 0;
    store_rows r = {0};
    if ((s = current_version(st, &v, err)) != CR_OK)
        goto fail;
    if (v == 0) {
        s = st->drv->exec_script(st->ctx,
                                 "DROP TABLE crease_schema_objects; DROP TABLE "
                                 "crease_schema_migrations",
                                 err);
        if (s != CR_OK)
            goto fail;
        return st->drv->commit(st->ctx, err);
    }
    if (v > N_MIGRATIONS) {
        s = cr_err_set(err, CR_ERR_DB,
                       "migrate: database at version %d is newer than this crease (%d)", v,
                       N_MIGRATIONS);
        goto fail;
    }
    store_val pv[1] = {SVI(v)};
    s = st->drv->exec(st->ctx, -1,
                      pg(st) ? "SELECT seq FROM crease_schema_objects WHERE version = $1 ORDER BY "
                               "seq DESC"
                             : "SELECT seq FROM crease_schema_objects WHERE version = ?1 ORDER BY "
                               "seq DESC",
                      pv, 1, &r, err);
    if (s != CR_OK)
        goto fail;
    const mig_step *steps = pg(st) ? migrations[v - 1].pg : migrations[v - 1].sq;
    for (int i = 0; i < r.nrows; i++) {
        const mig_step *step = find_step(steps, atoi(store_cell(&r, i, 0)));
        if (step == NULL) {
            s = cr_err_set(err, CR_ERR_INTERNAL, "migrate: unknown object in version %d", v);
            goto fail;
        }
        char sql[512];
        if ((s = step_sql(step, 0, sql, sizeof sql, err)) != CR_OK)
            goto fail;
        if ((s = st->drv->exec_script(st->ctx, sql, err)) != CR_OK)
            goto fail;
    }
    store_rows_free(&r);
    s = st->drv->exec(st->ctx, -1,
                      pg(st) ? "DELETE FROM crease_schema_objects WHERE version = $1"
                             : "DELETE FROM crease_schema_objects WHERE version = ?1",
                      pv, 1, NULL, err);
    if (s == CR_OK)
        s = st->drv->exec(st->ctx, -1,
                          pg(st) ? "DELETE FROM crease_schema_migrations WHERE version = $1"
                                 : "DELETE FROM crease_schema_migrations WHERE version = ?1",
                          pv, 1, NULL, err);
    if (s == CR_OK && v == 1) /* nothing left: the bookkeeping goes too */
        s = st->drv->exec_script(st->ctx,
                                 "DROP TABLE crease_schema_objects; DROP TABLE "
                                 "crease_schema_migrations",
                                 err);
    if (s != CR_OK)
        goto fail;
    if ((s = st->drv->commit(st->ctx, err)) != CR_OK)
        return s;
    *did = 1;
    return CR_OK;
fail:
    store_rows_free(&r);
    st->drv->rollback(st->ctx);
    return s;
}

cr_status store_migrate_down(store *st, int n, int *undone, cr_err *err)
{
    if (undone != NULL)
        *undone = 0;
    if (n <= 0)
        n = N_MIGRATIONS;
    for (int i = 0; i < n; i++) {
        int did = 0;
        cr_status s = undo_newest(st, &did, err);
        if (s != CR_OK)
            return s;
        if (!did)
            break;
        if (undone != NULL)
            (*undone)++;
    }
    return CR_OK;
}
