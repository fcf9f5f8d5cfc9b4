-- Cricksy Scorer's video tables at its alembic head (ab12cd34ef56), for crease's tests.
-- Written from the public repository github.com/Jnpaul1984/Cricksy_Scorer
-- (backend/alembic/versions/*, commit a84a6522): names, types, nullability, defaults,
-- enum orders and indexes as those revisions leave them.  Tests load it into a scratch
-- PostgreSQL database to play "a database that Cricksy's alembic built".
--
-- Revisions touching these tables, in upgrade order:
--   n4i5j6k7l8m9  create video_sessions, video_analysis_jobs, enums owner_type,
--                 video_session_status, video_analysis_job_status (player_ids created as json)
--   p2q3r4s5t6u7  ALTER TYPE video_analysis_job_status ADD VALUE quick_running, quick_done,
--                 deep_running, done (appended); job cols progress_pct, stage, deep_enabled,
--                 quick_results, deep_results, quick_/deep_ started/completed_at
--                 (server defaults of progress_pct/deep_enabled dropped again at end)
--   q8r9s0t1u2v3  video_sessions.player_ids json|varchar[] -> jsonb
--   a1b2c3d4e5f6  video_sessions.file_size_bytes + ix_video_sessions_owner_size
--   c3d4e5f6g7h8  enum video_session_type; video_sessions.session_type, min_duration_seconds
--   d1e2f3g4h5i6  video_analysis_jobs.s3_bucket, s3_key
--   f1a2b3c4d5e6  ALTER TYPE video_analysis_job_status ADD VALUE 'awaiting_upload' BEFORE 'queued'
--   g2h3i4j5k6l7  enum video_analysis_chunk_status; table video_analysis_chunks; job cols
--                 deep_mode, total_chunks, completed_chunks, video_duration_seconds
--                 (UPDATE ... SET deep_mode='cpu' WHERE deep_mode IS NULL for existing rows)
--   h3i4j5k6l7m8  quick_findings, quick_report, deep_findings, deep_report (json),
--                 quick_results_s3_key, deep_results_s3_key
--   8fad14d07603  pdf_s3_key, pdf_generated_at
--   j4k5l6m7n8o9  coach_goals, outcomes (jsonb), goal_compliance_pct
--   20260106190609 enums analysis_context, camera_view; video_sessions.analysis_context,
--                 camera_view + ix_video_sessions_analysis_context
--   z1a2b3c4d5e6  video_analysis_jobs.analysis_mode
--   pitch_calibration_001  video_sessions.pitch_corners (json)
--   p3q4r5s6t7u8  coach_suggestions, player_summary (jsonb)
-- Other tables with FKs INTO these (not reproduced): coach_notes.video_session_id (SET NULL),
-- video_moment_markers.video_session_id (CASCADE), target_zones.session_id (SET NULL).
-- video_sessions has NO FK to users/orgs: owner_id is a plain varchar (user id or org id).

-- ---------------------------------------------------------------- enums
CREATE TYPE owner_type AS ENUM ('coach', 'org');

CREATE TYPE video_session_status AS ENUM ('pending', 'uploaded', 'processing', 'ready', 'failed');

-- Created as ('queued','processing','completed','failed') in n4i5j6k7l8m9;
-- p2q3r4s5t6u7 appends quick_running, quick_done, deep_running, done;
-- f1a2b3c4d5e6 inserts awaiting_upload BEFORE 'queued'. Resulting pg_enum order:
CREATE TYPE video_analysis_job_status AS ENUM (
    'awaiting_upload', 'queued', 'processing', 'completed', 'failed',
    'quick_running', 'quick_done', 'deep_running', 'done'
);
-- (Python enum order in models.py differs: awaiting_upload, queued, quick_running, quick_done,
--  deep_running, done, processing, completed, failed -- irrelevant to storage.)

CREATE TYPE video_analysis_chunk_status AS ENUM ('queued', 'processing', 'completed', 'failed');

-- Needed by video_sessions columns (not in the brief's list, but part of HEAD):
CREATE TYPE video_session_type AS ENUM ('batting', 'bowling', 'fielding', 'wicketkeeping');
CREATE TYPE analysis_context AS ENUM ('batting', 'bowling', 'wicketkeeping', 'fielding', 'mixed');
CREATE TYPE camera_view AS ENUM ('side', 'front', 'behind', 'other');

-- ---------------------------------------------------------------- video_sessions
CREATE TABLE video_sessions (
    id                   VARCHAR NOT NULL,                 -- uuid4 string, generated app-side
    owner_type           owner_type NOT NULL,
    owner_id             VARCHAR NOT NULL,                 -- user id (coach) or org id; no FK
    title                VARCHAR(255) NOT NULL,
    notes                TEXT,
    player_ids           JSONB NOT NULL,                   -- json at create, jsonb after q8r9s0t1u2v3
    s3_bucket            VARCHAR(255),
    s3_key               VARCHAR(500),
    status               video_session_status NOT NULL,    -- no server default (app default 'pending')
    created_at           TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at           TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,  -- ORM onupdate=now()
    file_size_bytes      BIGINT,
    session_type         video_session_type,
    min_duration_seconds INTEGER DEFAULT 300 NOT NULL,
    analysis_context     analysis_context,
    camera_view          camera_view,
    pitch_corners        JSON,
    CONSTRAINT video_sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX ix_video_sessions_owner ON video_sessions (owner_type, owner_id);
CREATE INDEX ix_video_sessions_status ON video_sessions (status);
CREATE INDEX ix_video_sessions_created_at ON video_sessions (created_at);
CREATE INDEX ix_video_sessions_owner_size ON video_sessions (owner_id, status, file_size_bytes);
CREATE INDEX ix_video_sessions_session_type ON video_sessions (session_type);
CREATE INDEX ix_video_sessions_analysis_context ON video_sessions (analysis_context);


-- ---------------------------------------------------------------- video_analysis_jobs
CREATE TABLE video_analysis_jobs (
    id                     VARCHAR NOT NULL,               -- uuid4 string, generated app-side
    session_id             VARCHAR NOT NULL,
    sample_fps             INTEGER NOT NULL,               -- no server default (ORM default 10)
    include_frames         BOOLEAN NOT NULL,               -- no server default (ORM default false)
    status                 video_analysis_job_status NOT NULL,  -- no server default (ORM default 'queued')
    error_message          TEXT,
    sqs_message_id         VARCHAR(255),
    results                JSON,
    created_at             TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    started_at             TIMESTAMP WITH TIME ZONE,
    completed_at           TIMESTAMP WITH TIME ZONE,
    updated_at             TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,  -- ORM onupdate=now()
    -- p2q3r4s5t6u7
    progress_pct           INTEGER NOT NULL,               -- server default '0' dropped (ORM default 0)
    stage                  VARCHAR(50),
    deep_enabled           BOOLEAN NOT NULL,               -- server default true dropped (ORM default true)
    quick_results          JSON,
    deep_results           JSON,
    quick_started_at       TIMESTAMP WITH TIME ZONE,
    quick_completed_at     TIMESTAMP WITH TIME ZONE,
    deep_started_at        TIMESTAMP WITH TIME ZONE,
    deep_completed_at      TIMESTAMP WITH TIME ZONE,
    -- d1e2f3g4h5i6
    s3_bucket              VARCHAR(255),
    s3_key                 VARCHAR(500),
    -- g2h3i4j5k6l7
    deep_mode              VARCHAR(50),                    -- ORM default 'cpu'; values 'cpu' | 'gpu'
    total_chunks           INTEGER,
    completed_chunks       INTEGER,                        -- ORM default 0
    video_duration_seconds DOUBLE PRECISION,               -- sa.Float
    -- h3i4j5k6l7m8
    quick_findings         JSON,
    quick_report           JSON,
    deep_findings          JSON,
    deep_report            JSON,
    quick_results_s3_key   VARCHAR(500),
    deep_results_s3_key    VARCHAR(500),
    -- 8fad14d07603
    pdf_s3_key             VARCHAR(500),
    pdf_generated_at       TIMESTAMP WITH TIME ZONE,
    -- j4k5l6m7n8o9 (JSONB in migration; models.py says JSON)
    coach_goals            JSONB,
    outcomes               JSONB,
    goal_compliance_pct    DOUBLE PRECISION,
    -- z1a2b3c4d5e6
    analysis_mode          VARCHAR(50),
    -- p3q4r5s6t7u8 (JSONB in migration; models.py says JSON)
    coach_suggestions      JSONB,
    player_summary         JSONB,
    CONSTRAINT video_analysis_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT video_analysis_jobs_session_id_fkey FOREIGN KEY (session_id)
        REFERENCES video_sessions (id) ON DELETE CASCADE
);
CREATE INDEX ix_analysis_jobs_session_id ON video_analysis_jobs (session_id);
CREATE INDEX ix_analysis_jobs_status ON video_analysis_jobs (status);
CREATE INDEX ix_analysis_jobs_created_at ON video_analysis_jobs (created_at);
CREATE INDEX ix_analysis_jobs_sqs_message_id ON video_analysis_jobs (sqs_message_id);


-- ---------------------------------------------------------------- video_analysis_chunks
CREATE TABLE video_analysis_chunks (
    id              VARCHAR NOT NULL,                       -- uuid4 string, generated app-side
    job_id          VARCHAR NOT NULL,
    chunk_index     INTEGER NOT NULL,                       -- 0-based
    start_sec       DOUBLE PRECISION NOT NULL,              -- sa.Float
    end_sec         DOUBLE PRECISION NOT NULL,
    status          video_analysis_chunk_status DEFAULT 'queued' NOT NULL,
    attempts        INTEGER DEFAULT 0 NOT NULL,
    artifact_s3_key VARCHAR(500),
    runtime_ms      INTEGER,
    error_message   TEXT,
    created_at      TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    started_at      TIMESTAMP WITH TIME ZONE,
    completed_at    TIMESTAMP WITH TIME ZONE,
    CONSTRAINT video_analysis_chunks_pkey PRIMARY KEY (id),
    CONSTRAINT video_analysis_chunks_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES video_analysis_jobs (id) ON DELETE CASCADE
);
CREATE INDEX ix_analysis_chunks_job_id ON video_analysis_chunks (job_id);
CREATE INDEX ix_analysis_chunks_status ON video_analysis_chunks (status);
CREATE UNIQUE INDEX ix_analysis_chunks_job_chunk_idx ON video_analysis_chunks (job_id, chunk_index);
