/*
 * test_store_migrations.c -- migrations up / down / up, on the backend of argv[1]:
 *   - on an empty database: up creates the schema (the queue works), down to 0
 *     removes every table, type and bookkeeping table it created, up again works;
 *   - (pg) on a database that already holds Cricksy's tables and rows: up adds only
 *     what is missing (the queue columns, and analysis_mode, absent from the older
 *     Cricksy revision used here), Cricksy's rows stay readable and the queue runs
 *     on Cricksy's tables; down removes only what up added and keeps Cricksy's
 *     tables, types, columns and data; up again works.
 *
 * The Cricksy schema below is rebuilt from the public Cricksy Scorer backend
 * (github.com/Jnpaul1984/Cricksy_Scorer, backend/sql_app/models.py and the Alembic
 * revisions g2h3i4j5k6l7 "add video analysis chunk model", p2q3r4s5t6u7 "staged
 * video analysis fields", d1e2f3g4h5i6 "s3 snapshot", f1a2b3c4d5e6 "awaiting_upload"):
 * same names, types, nullability and indexes (SQLAlchemy's client-side defaults do
 * not exist in the database, so NOT NULL columns like sample_fps have none).
 */
#include "store_test_util.h"

#include <sqlite3.h>

static const char *cricksy_schema =
    "CREATE TYPE owner_type AS ENUM ('coach', 'org');"
    "CREATE TYPE video_session_status AS ENUM ('pending', 'uploaded', 'processing', 'ready', "
    "'failed');"
    "CREATE TABLE video_sessions (id varchar PRIMARY KEY, owner_type owner_type NOT NULL, "
    "owner_id varchar NOT NULL, title varchar(255) NOT NULL, notes text, player_ids json NOT "
    "NULL, s3_bucket varchar(255), s3_key varchar(500), status video_session_status NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT "
    "now());"
    "CREATE TYPE video_analysis_job_status AS ENUM ('queued', 'processing', 'completed', "
    "'failed');"
    "ALTER TYPE video_analysis_job_status ADD VALUE IF NOT EXISTS 'awaiting_upload' BEFORE "
    "'queued';"
    "ALTER TYPE video_analysis_job_status ADD VALUE IF NOT EXISTS 'quick_running';"
    "ALTER TYPE video_analysis_job_status ADD VALUE IF NOT EXISTS 'quick_done';"
    "ALTER TYPE video_analysis_job_status ADD VALUE IF NOT EXISTS 'deep_running';"
    "ALTER TYPE video_analysis_job_status ADD VALUE IF NOT EXISTS 'done';"
    "CREATE TABLE video_analysis_jobs (id varchar PRIMARY KEY, session_id varchar NOT NULL "
    "REFERENCES video_sessions (id) ON DELETE CASCADE, sample_fps integer NOT NULL, "
    "include_frames boolean NOT NULL, status video_analysis_job_status NOT NULL, error_message "
    "text, sqs_message_id varchar(255), results json, created_at timestamptz NOT NULL DEFAULT "
    "now(), started_at timestamptz, completed_at timestamptz, updated_at timestamptz NOT NULL "
    "DEFAULT now(), progress_pct integer NOT NULL, stage varchar(50), deep_enabled boolean NOT "
    "NULL, quick_results json, deep_results json, quick_started_at timestamptz, "
    "quick_completed_at timestamptz, deep_started_at timestamptz, deep_completed_at "
    "timestamptz, s3_bucket varchar(255), s3_key varchar(500), deep_mode varchar(50), "
    "total_chunks integer, completed_chunks integer, video_duration_seconds double precision, "
    "quick_results_s3_key varchar(500), deep_results_s3_key varchar(500));"
    "CREATE INDEX ix_analysis_jobs_session_id ON video_analysis_jobs (session_id);"
    "CREATE INDEX ix_analysis_jobs_status ON video_analysis_jobs (status);"
    "CREATE INDEX ix_analysis_jobs_created_at ON video_analysis_jobs (created_at);"
    "CREATE TYPE video_analysis_chunk_status AS ENUM ('queued', 'processing', 'completed', "
    "'failed');"
    "CREATE TABLE video_analysis_chunks (id varchar NOT NULL PRIMARY KEY, job_id varchar NOT "
    "NULL REFERENCES video_analysis_jobs (id) ON DELETE CASCADE, chunk_index integer NOT NULL, "
    "start_sec double precision NOT NULL, end_sec double precision NOT NULL, status "
    "video_analysis_chunk_status NOT NULL DEFAULT 'queued', attempts integer NOT NULL DEFAULT "
    "0, artifact_s3_key varchar(500), runtime_ms integer, error_message text, created_at "
    "timestamptz NOT NULL DEFAULT now(), started_at timestamptz, completed_at timestamptz);"
    "CREATE INDEX ix_analysis_chunks_job_id ON video_analysis_chunks (job_id);"
    "CREATE INDEX ix_analysis_chunks_status ON video_analysis_chunks (status);"
    "CREATE UNIQUE INDEX ix_analysis_chunks_job_chunk_idx ON video_analysis_chunks (job_id, "
    "chunk_index);"
    "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
    "INSERT INTO alembic_version VALUES ('g2h3i4j5k6l7');";

/* Rows, in a second transaction: PostgreSQL refuses enum values added in the same one. */
static const char *cricksy_rows =
    "INSERT INTO video_sessions (id, owner_type, owner_id, title, player_ids, s3_bucket, s3_key, "
    "status) VALUES ('sess-c', 'coach', 'coach-1', 'Nets', '[]', 'bkt', "
    "'coach_plus/sessions/sess-c/original.mp4', 'ready');"
    "INSERT INTO video_analysis_jobs (id, session_id, sample_fps, include_frames, status, "
    "progress_pct, stage, deep_enabled, deep_results, deep_mode, total_chunks, "
    "completed_chunks) VALUES ('job-cricksy', 'sess-c', 10, false, 'done', 100, 'DONE', true, "
    "'{\"from\":\"cricksy\"}', 'gpu', 2, 2);"
    "INSERT INTO video_analysis_chunks (id, job_id, chunk_index, start_sec, end_sec, status, "
    "attempts, artifact_s3_key, runtime_ms) VALUES ('ch-0', 'job-cricksy', 0, 0, 30, "
    "'completed', 1, 'jobs/job-cricksy/chunks/chunk_0000.json', 9000), ('ch-1', 'job-cricksy', "
    "1, 30, 45, 'completed', 1, 'jobs/job-cricksy/chunks/chunk_0001.json', 4500);";

static long pg_count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atol(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static long sq_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* Number of user objects in the database: tables, types (pg), indexes. */
static long object_count(const scratch_db *db)
{
    if (db->kind == CR_STORE_SQLITE)
        return sq_count(db->target, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE "
                                    "'sqlite_%'");
    PGconn *c = PQconnectdb(db->target);
    long v = pg_count(c, "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = "
                         "'public'::regnamespace) + (SELECT count(*) FROM pg_type WHERE "
                         "typnamespace = 'public'::regnamespace AND typtype = 'e')");
    PQfinish(c);
    return v;
}

/* Runs one job through the queue end to end; returns 1 when it ends done. */
static int queue_smoke(store *st, const char *session)
{
    scratch_session(st, session);
    store_job_new jn = {.session_id = session, .analysis_mode = "bowling"};
    char id[37];
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    store_chunk_span sp[2] = {{0, 30}, {30, 50}};
    OK(store_chunks_create(st, id, sp, 2, 50, 0, NULL, &E));
    store_chunk c[2];
    int got = 0, won = 0;
    OK(store_chunk_claim(st, "w", 10, 2, c, &got, &E));
    CHECK_INT_EQ(got, 2);
    for (int i = 0; i < got; i++)
        OK(store_chunk_complete(st, c[i].id, "w", c[i].lease_token, 5, "k", NULL, &E));
    store_job held;
    OK(store_job_claim_aggregation(st, id, "a", 10, &held, &won, &E));
    CHECK_INT_EQ(won, 1);
    OK(scratch_finish(st, id, "a", held.lease_token, 1, "{}", NULL, &E));
    store_job j;
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.analysis_mode, "bowling");
    return strcmp(j.status, "done") == 0;
}

static void test_empty(const char *kind)
{
    scratch_db db;
    scratch_create(&db, kind, "mig_empty");
    long before = object_count(&db);
    store *st = scratch_open(&db, NULL);
    int v = -1, n = 0;
    OK(store_migrate_status(st, &v, &E));
    CHECK_INT_EQ(v, 0);
    OK(store_migrate_up(st, 1, &n, &E)); /* one version at a time */
    CHECK_INT_EQ(n, 1);
    OK(store_migrate_status(st, &v, &E));
    CHECK_INT_EQ(v, 1);
    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest() - 1);
    OK(store_migrate_up(st, 0, &n, &E)); /* nothing left to do */
    CHECK_INT_EQ(n, 0);
    OK(store_check_schema(st, &E));
    CHECK(queue_smoke(st, "s1"));
    long full = object_count(&db);
    CHECK(full > before + 5);

    OK(store_migrate_down(st, 1, &n, &E));
    CHECK_INT_EQ(n, 1);
    OK(store_migrate_status(st, &v, &E));
    CHECK_INT_EQ(v, store_migrations_latest() - 1);
    OK(store_migrate_down(st, 0, &n, &E));
    OK(store_migrate_status(st, &v, &E));
    CHECK_INT_EQ(v, 0);
    CHECK_INT_EQ(object_count(&db), before); /* down undid up completely */
    OK(store_migrate_down(st, 0, &n, &E));   /* nothing to undo */
    CHECK_INT_EQ(n, 0);
    CHECK_INT_EQ(object_count(&db), before);

    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    CHECK_INT_EQ(object_count(&db), full);
    CHECK(queue_smoke(st, "s2"));
    store_close(st);
    scratch_drop(&db);
}

static long col_exists(PGconn *c, const char *table, const char *col)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM information_schema.columns WHERE table_name = '%s' AND "
             "column_name = '%s'",
             table, col);
    return pg_count(c, sql);
}

static void test_cricksy(void)
{
    scratch_db db;
    scratch_create(&db, "pg", "mig_cricksy");
    PGconn *c = PQconnectdb(db.target);
    CHECK(PQstatus(c) == CONNECTION_OK);
    for (int i = 0; i < 2; i++) {
        PGresult *r = PQexec(c, i == 0 ? cricksy_schema : cricksy_rows);
        CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "cricksy schema: %s",
                  PQresultErrorMessage(r));
        PQclear(r);
    }
    long before = object_count(&db);

    store *st = scratch_open(&db, NULL);
    int n = 0, v = 0;
    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    /* Cricksy's rows, read through the store. */
    store_job j;
    OK(store_job_get(st, "job-cricksy", &j, &E));
    CHECK_STR_EQ(j.status, "done");
    CHECK_INT_EQ(j.completed_chunks, 2);
    store_chunk ch[4];
    OK(store_chunks_of_job(st, "job-cricksy", ch, 4, &n, &E));
    CHECK_INT_EQ(n, 2);
    CHECK(n == 2 && ch[1].runtime_ms == 4500 && ch[1].max_attempts == 3);
    char *json = NULL;
    OK(store_job_results(st, "job-cricksy", &json, &E));
    CHECK(json != NULL && strstr(json, "cricksy") != NULL);
    cr_free(json);
    CHECK_INT_EQ(col_exists(c, "video_analysis_jobs", "analysis_mode"), 1);
    CHECK_INT_EQ(col_exists(c, "video_analysis_chunks", "lease_expires_at"), 1);
    /* The queue on Cricksy's tables (its FK wants a real session). */
    CHECK(queue_smoke(st, "sess-c"));

    OK(store_migrate_down(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    OK(store_migrate_status(st, &v, &E));
    CHECK_INT_EQ(v, 0);
    CHECK_INT_EQ(object_count(&db), before); /* only what up added is gone */
    CHECK_INT_EQ(col_exists(c, "video_analysis_jobs", "analysis_mode"), 0);
    CHECK_INT_EQ(col_exists(c, "video_analysis_chunks", "lease_expires_at"), 0);
    CHECK_INT_EQ(col_exists(c, "video_analysis_chunks", "worker_id"), 0);
    CHECK_INT_EQ(col_exists(c, "video_analysis_jobs", "deep_results_s3_key"), 1);
    CHECK_INT_EQ(col_exists(c, "video_analysis_jobs", "quick_results"), 1);
    CHECK_INT_EQ(pg_count(c, "SELECT count(*) FROM video_analysis_jobs"), 2);
    CHECK_INT_EQ(pg_count(c, "SELECT count(*) FROM video_analysis_chunks"), 4);
    CHECK_INT_EQ(pg_count(c, "SELECT count(*) FROM alembic_version"), 1);
    CHECK_INT_EQ(pg_count(c, "SELECT count(*) FROM video_analysis_chunks WHERE runtime_ms = "
                             "4500 AND status = 'completed'"),
                 1);
    CHECK_INT_EQ(pg_count(c, "SELECT count(*) FROM pg_enum e JOIN pg_type t ON t.oid = "
                             "e.enumtypid WHERE t.typname = 'video_analysis_job_status'"),
                 9);

    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    OK(store_job_get(st, "job-cricksy", &j, &E));
    CHECK_STR_EQ(j.status, "done");
    CHECK(queue_smoke(st, "sess-c"));
    store_close(st);
    PQfinish(c);
    scratch_drop(&db);
}

/* ---- Cricksy's alembic head (tests/cricksy/schema.sql) ---------------------------- */

/* One text cell of a query (cr_free), or NULL. */
static char *pg_text(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = cr_strdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* The shape of the video tables: every column with its type and nullability, every
 * enum with its labels in order, every index by name. */
static char *schema_shape(PGconn *c)
{
    return pg_text(
        c, "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT table_name || '.' || "
           "column_name || ' ' || udt_name || ' ' || is_nullable AS x FROM "
           "information_schema.columns WHERE table_schema = current_schema() AND table_name IN "
           "('video_sessions', 'video_analysis_jobs', 'video_analysis_chunks') UNION ALL SELECT "
           "t.typname || ' = ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM "
           "pg_enum e JOIN pg_type t ON t.oid = e.enumtypid GROUP BY t.typname UNION ALL SELECT "
           "'index ' || indexname FROM pg_indexes WHERE schemaname = current_schema() AND "
           "tablename IN ('video_sessions', 'video_analysis_jobs', 'video_analysis_chunks') "
           "UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE contype = 'f') s");
}

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = cr_malloc(1 << 16);
    size_t n = buf != NULL ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

static void load_cricksy_head(PGconn *c)
{
    char *sql = read_text_file("tests/cricksy/schema.sql");
    CHECK_MSG(sql != NULL, "tests/cricksy/schema.sql: cannot read");
    if (sql == NULL)
        return;
    PGresult *r = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "cricksy head schema: %s",
              PQresultErrorMessage(r));
    PQclear(r);
    cr_free(sql);
}

#define COLUMN_COUNT                                                                               \
    "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND "   \
    "table_name IN ('video_sessions', 'video_analysis_jobs', 'video_analysis_chunks')"

/* crease's own columns: what `up` may add to a database Cricksy's alembic built. */
static const char *const crease_columns[] = {
    "video_analysis_chunks.lease_expires_at", "video_analysis_chunks.worker_id",
    "video_analysis_chunks.next_attempt_at",  "video_analysis_chunks.max_attempts",
    "video_analysis_jobs.worker_id",          "video_analysis_jobs.lease_expires_at",
    "video_analysis_jobs.sample_rate",        "video_analysis_jobs.chunk_seconds",
    "video_analysis_jobs.max_width",          "video_analysis_jobs.pose_model",
    "video_analysis_chunks.lease_token",      "video_analysis_jobs.lease_token",
    "video_analysis_jobs.video_size_bytes",   "video_analysis_jobs.video_etag",
    "video_analysis_jobs.subject_x",          "video_analysis_jobs.subject_y",
};

/* On Cricksy's head: up adds exactly crease's columns (and its partial indexes),
 * down restores the exact shape; on an empty database up builds every column, enum
 * (in Cricksy's order) and index of Cricksy's head. */
static void test_cricksy_head(void)
{
    scratch_db db, empty;
    scratch_create(&db, "pg", "mig_head");
    scratch_create(&empty, "pg", "mig_head_empty");
    PGconn *c = PQconnectdb(db.target), *ce = PQconnectdb(empty.target);
    CHECK(PQstatus(c) == CONNECTION_OK && PQstatus(ce) == CONNECTION_OK);
    load_cricksy_head(c);
    char *head = schema_shape(c);
    CHECK(head != NULL && strstr(head, "video_sessions.owner_type owner_type NO") != NULL);

    long cricksy_cols = pg_count(c, COLUMN_COUNT);
    CHECK_INT_EQ(cricksy_cols, 17 + 41 + 13); /* sessions, jobs, chunks at Cricksy's head */
    store *st = scratch_open(&db, NULL);
    int n = 0;
    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    char *up = schema_shape(c);
    /* Every line of Cricksy's shape is still there, unchanged. */
    for (char *line = head; line != NULL && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        char want[256];
        snprintf(want, sizeof want, "%.*s", (int)len, line);
        CHECK_MSG(up != NULL && strstr(up, want) != NULL, "lost after up: %s", want);
        line = nl != NULL ? nl + 1 : NULL;
    }
    /* Added columns: exactly crease's. */
    long added = pg_count(c, COLUMN_COUNT);
    for (size_t i = 0; i < sizeof crease_columns / sizeof crease_columns[0]; i++)
        CHECK_MSG(up != NULL && strstr(up, crease_columns[i]) != NULL, "missing %s",
                  crease_columns[i]);
    CHECK_INT_EQ(added, cricksy_cols + (long)(sizeof crease_columns / sizeof crease_columns[0]));
    /* The queue runs on Cricksy's tables. */
    PGresult *r = PQexec(c, "INSERT INTO video_sessions (id, owner_type, owner_id, title, "
                            "player_ids, status) VALUES ('s-head', 'coach', 'u1', 'Nets', "
                            "'[]', 'pending')");
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    CHECK(queue_smoke(st, "s-head"));

    OK(store_migrate_down(st, 0, &n, &E));
    char *down = schema_shape(c);
    CHECK_MSG(head != NULL && down != NULL && strcmp(head, down) == 0,
              "down did not restore Cricksy's shape");
    OK(store_migrate_up(st, 0, &n, &E));
    CHECK_INT_EQ(n, store_migrations_latest());
    store_close(st);

    /* An empty database: everything of Cricksy's head is there after up. */
    store *se = scratch_open(&empty, NULL);
    OK(store_migrate_up(se, 0, &n, &E));
    char *built = schema_shape(ce);
    for (char *line = head; line != NULL && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        char want[256];
        snprintf(want, sizeof want, "%.*s", (int)len, line);
        /* Types and nullability are Cricksy's, except where crease's older version 1
         * added server defaults (defaults are not part of the shape). */
        CHECK_MSG(built != NULL && strstr(built, want) != NULL, "missing on an empty database: %s",
                  want);
        line = nl != NULL ? nl + 1 : NULL;
    }
    store_close(se);
    cr_free(head);
    cr_free(up);
    cr_free(down);
    cr_free(built);
    PQfinish(c);
    PQfinish(ce);
    scratch_drop(&db);
    scratch_drop(&empty);
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "sqlite";
    test_empty(kind);
    if (strcmp(kind, "pg") == 0) {
        test_cricksy();
        test_cricksy_head();
    }
    return check_exit();
}
