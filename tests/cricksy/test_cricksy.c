/*
 * test_cricksy.c -- crease's workers on a database Cricksy's alembic built, with rows
 * written the way Cricksy's upload routes write them; then every column and JSON
 * field Cricksy's API and coach's screen read is checked.
 *
 *   1. tests/cricksy/schema.sql (Cricksy's head) in a scratch PostgreSQL database,
 *      then `crease migrate up` (adds only crease's columns).
 *   2. A video in the S3 bucket (s3rver) at Cricksy's key layout
 *      coach_plus/coach/<owner>/<session>/<video>/original.mp4; a session, a job and
 *      its chunk rows as backend/routes/coach_pro_plus.py's upload_initiate and
 *      upload_complete (GPU mode) leave them: job queued / DEEP_QUEUED / 0 %,
 *      deep_mode gpu, sample_fps 10, chunk rows queued without artifact keys.
 *   3. Chunk 1 done by "a Cricksy worker": an artifact in Cricksy's chunk format
 *      (backend/workers/gpu_chunk_worker.py: {"poses", "metadata"}, frames numbered
 *      from the chunk's start) at Cricksy's key jobs/<job>/chunks/chunk_0001.json,
 *      the row completed with that key and completed_chunks 1.
 *   4. crease's chunk worker started with SAMPLE_FPS=5 and MAX_WIDTH=320 in its
 *      environment: the job's 10 fps and 640 px rule its output.
 *   5. crease's analysis worker; then the checks.
 * Needs PostgreSQL and s3rver (label services): skipped (77) without them.
 */
#include "blob/blob.h"
#include "check.h"
#include "core/config.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "store/store.h"
#include "store_test_util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION 6 /* seconds of video */
#define CHUNK 2    /* Cricksy's CHUNK_SECONDS for this job */

static const char *const *test_kv;
static const char *lookup(const char *name, void *ctx)
{
    (void)ctx;
    for (int i = 0; test_kv[i] != NULL; i += 2)
        if (strcmp(test_kv[i], name) == 0)
            return test_kv[i + 1];
    return NULL;
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* One text cell (cr_free), or NULL. */
static char *pg_cell(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = cr_strdup(PQgetvalue(r, 0, 0));
    else
        CHECK_MSG(0, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static json_t *pg_json(PGconn *c, const char *sql)
{
    char *t = pg_cell(c, sql);
    json_t *v = t != NULL ? json_loads(t, 0, NULL) : NULL;
    cr_free(t);
    return v;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = cr_malloc(1 << 16);
    size_t n = b ? fread(b, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (b)
        b[n] = '\0';
    return b;
}

/* Rewrites crease's artifact of chunk `index` into Cricksy's chunk format at
 * Cricksy's key, and removes crease's. */
static void make_cricksy_artifact(blob_store *blob, const char *crease_key, const char *key,
                                  double start, double end, double video_fps)
{
    void *data = NULL;
    size_t n = 0;
    cr_err e = {0};
    CHECK_MSG(blob_get(blob, crease_key, &data, &n, &e) == CR_OK, "%s", cr_err_msg(&e));
    json_t *doc = data ? json_loadb(data, n, 0, NULL) : NULL;
    cr_free(data);
    json_t *out = json_object(), *poses = json_array(), *meta = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "poses"), i, p)
    {
        double t = json_number_value(json_object_get(p, "t")) - start;
        json_t *q = json_object();
        json_object_set_new(q, "frame_num", json_integer((json_int_t)llround(t * video_fps)));
        json_object_set_new(q, "timestamp", json_real(round(t * 1000) / 1000));
        json_object_set_new(q, "detected", json_copy(json_object_get(p, "detected")));
        json_object_set(q, "landmarks",
                        json_is_true(json_object_get(p, "detected"))
                            ? json_object_get(p, "landmarks")
                            : json_null());
        json_array_append_new(poses, q);
    }
    json_object_set_new(meta, "start_sec", json_real(start));
    json_object_set_new(meta, "end_sec", json_real(end));
    json_object_set_new(meta, "chunk_duration", json_real(end - start));
    json_object_set_new(meta, "video_fps", json_real(video_fps));
    json_object_set_new(out, "poses", poses);
    json_object_set_new(out, "metadata", meta);
    char *text = json_dumps(out, JSON_COMPACT);
    CHECK(text != NULL && blob_put(blob, key, text, strlen(text), "application/json", &e) == CR_OK);
    cr_free(text);
    CHECK(blob_delete(blob, crease_key, &e) == CR_OK);
    json_decref(out);
    json_decref(doc);
}

static void run_workers(const cr_config *cfg, const char *job)
{
    pipeline_worker_opts o;
    pipeline_worker_stats ws;
    cr_err e = {0};
    pipeline_worker_opts_default(&o);
    o.worker_id = "test:chunks";
    o.idle_exit = 1;
    o.wait_job = job;
    o.poll_seconds = 0.05;
    o.lease_seconds = 30;
    CHECK_MSG(pipeline_chunk_worker_run(cfg, &o, &ws, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_INT_EQ(ws.chunks_done, 2); /* 0 and 2: 1 was Cricksy's */
    o.worker_id = "test:analysis";
    CHECK_MSG(pipeline_analysis_worker_run(cfg, &o, &ws, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_INT_EQ(ws.jobs_done, 1);
}

#define JOB_COL(col) "SELECT " col " FROM video_analysis_jobs WHERE id = 'job-cricksy'"

/* What Cricksy's API and frontend read, each with the Cricksy file it comes from. */
static void check_columns(PGconn *c, blob_store *blob)
{
    char *v;
    /* routes/coach_pro_plus.py VideoAnalysisJobRead; analysis_worker.py's end of job */
    v = pg_cell(c, JOB_COL("status::text || '/' || stage || '/' || progress_pct"));
    CHECK_STR_EQ(v ? v : "", "done/DONE/100");
    cr_free(v);
    v = pg_cell(c, JOB_COL("(completed_at IS NOT NULL AND deep_completed_at IS NOT NULL)::text"));
    CHECK_STR_EQ(v ? v : "", "true");
    cr_free(v);
    v = pg_cell(c, "SELECT status::text FROM video_sessions WHERE id = 'sess-cricksy'");
    CHECK_STR_EQ(v ? v : "", "ready"); /* analysis_worker.py: session.status = ready */
    cr_free(v);
    char *key = pg_cell(c, JOB_COL("deep_results_s3_key"));
    CHECK(key != NULL && strstr(key, "final_results.json") != NULL);

    json_t *dr = pg_json(c, JOB_COL("deep_results::text"));
    json_t *res = pg_json(c, JOB_COL("results::text"));
    json_t *df = pg_json(c, JOB_COL("deep_findings::text"));
    json_t *rep = pg_json(c, JOB_COL("deep_report::text"));
    CHECK(dr != NULL && res != NULL && df != NULL && rep != NULL);
    /* results = {"deep": deep_results} (analysis_worker.py) */
    CHECK(json_equal(json_object_get(res, "deep"), dr));
    /* deep_results.pose_summary (coach_plus_analysis.py; coachVideoAnalysisNormalize.ts
     * reads total_frames, sampled_frames, frames_with_pose, detection_rate_percent,
     * video_fps) */
    json_t *ps = json_object_get(dr, "pose_summary");
    json_int_t sampled = json_integer_value(json_object_get(ps, "sampled_frames"));
    json_int_t with_pose = json_integer_value(json_object_get(ps, "frames_with_pose"));
    CHECK_INT_EQ(sampled, DURATION * 10); /* the job's 10 fps, not the worker's 5 */
    CHECK(with_pose > sampled / 2 && with_pose <= sampled);
    CHECK_INT_EQ(json_integer_value(json_object_get(ps, "total_frames")), DURATION * 25);
    CHECK(fabs(json_number_value(json_object_get(ps, "video_fps")) - 25.0) < 0.01);
    CHECK(fabs(json_number_value(json_object_get(ps, "detection_rate_percent")) -
               round(1000.0 * (double)with_pose / (double)sampled) / 10.0) < 1e-9);
    CHECK(json_is_string(json_object_get(ps, "model")));
    /* metrics: the five Cricksy metrics with 0..1 scores, evidence by metric
     * (coachVideoAnalysisNarrative.ts reads metrics.evidence[<metric>]) */
    json_t *m = json_object_get(dr, "metrics");
    const char *names[] = {"head_stability_score", "balance_drift_score", "front_knee_brace_score",
                           "hip_shoulder_separation_timing", "elbow_drop_score"};
    for (int i = 0; i < 5; i++) {
        json_t *x = json_object_get(m, names[i]);
        CHECK_MSG(json_is_object(x), "metrics.%s", names[i]);
        json_t *sc = json_object_get(x, "score");
        CHECK_MSG(json_is_number(sc) || json_is_null(sc), "metrics.%s.score", names[i]);
        if (i != 3 && json_is_number(sc))
            CHECK(json_number_value(sc) >= 0 && json_number_value(sc) <= 1);
    }
    CHECK(json_is_object(json_object_get(json_object_get(m, "evidence"), "head_stability_score")));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(m, "summary"), "total_frames")),
                 sampled);
    /* findings (coach_findings.py generate_findings; the narrative reads
     * findings.findings[].code/title/severity/why_it_matters/cues/suggested_drills) */
    json_t *f = json_object_get(dr, "findings");
    CHECK(json_equal(f, df));
    CHECK(json_is_array(json_object_get(f, "findings")));
    const char *lvl = json_string_value(json_object_get(f, "overall_level"));
    CHECK(lvl != NULL && (!strcmp(lvl, "low") || !strcmp(lvl, "medium") || !strcmp(lvl, "high")));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(f, "findings"), i, it)
    {
        CHECK(json_is_string(json_object_get(it, "code")));
        CHECK(json_is_string(json_object_get(it, "title")));
        CHECK(json_is_string(json_object_get(it, "severity")));
        CHECK(json_is_array(json_object_get(it, "cues")));
        CHECK(json_is_array(json_object_get(it, "suggested_drills")));
    }
    /* report (coach_report_service.py; the narrative reads report.summary,
     * normalize reads report.key_issues) */
    json_t *r = json_object_get(dr, "report");
    CHECK(json_equal(r, rep));
    CHECK(json_is_string(json_object_get(r, "summary")) &&
          json_string_length(json_object_get(r, "summary")) > 20);
    CHECK(json_is_array(json_object_get(r, "top_issues")));
    CHECK(json_is_array(json_object_get(r, "key_issues")));
    CHECK(json_is_array(json_object_get(r, "drills")));
    CHECK(json_array_size(json_object_get(r, "top_issues")) ==
          (json_array_size(json_object_get(f, "findings")) < 3
               ? json_array_size(json_object_get(f, "findings"))
               : 3));
    /* analysis_mode_used, meta, outputs (chunk_aggregation.py's final payload) */
    CHECK_STR_EQ(json_string_value(json_object_get(dr, "analysis_mode_used")), "batting");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(dr, "meta"), "processing_mode")),
                 "gpu_chunked");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(dr, "meta"), "total_chunks")),
                 DURATION / CHUNK);
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(dr, "outputs"), "deep_results_s3_key")),
        key ? key : "");
    CHECK(json_is_true(json_object_get(json_object_get(dr, "meta"), "cricksy_chunks")));

    /* final_results.json: the poses on the job's 10 fps grid, none missing, none twice,
     * with the frames of Cricksy's chunk in place; the width is the job's 640 px. */
    void *data = NULL;
    size_t n = 0;
    cr_err e = {0};
    CHECK_MSG(key && blob_get(blob, key, &data, &n, &e) == CR_OK, "%s", cr_err_msg(&e));
    json_t *doc = data ? json_loadb(data, n, 0, NULL) : NULL;
    cr_free(data);
    json_t *poses = json_object_get(doc, "poses");
    CHECK_INT_EQ(json_array_size(poses), DURATION * 10);
    json_array_foreach(poses, i, it)
        CHECK_INT_EQ(json_integer_value(json_object_get(it, "frame_num")), (json_int_t)i);
    CHECK_INT_EQ(json_integer_value(json_object_get(doc, "frame_width")), 640);
    json_decref(doc);
    cr_free(key);
    json_decref(dr);
    json_decref(res);
    json_decref(df);
    json_decref(rep);
}

int main(void)
{
    const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
    if (ep == NULL || getenv("CREASE_TEST_PG_ADMIN_URL") == NULL)
        SKIP_OR_FAIL("PostgreSQL and s3rver are needed (scripts/services start)");
    scratch_db db;
    scratch_create(&db, "pg", "cricksy");
    PGconn *c = PQconnectdb(db.target);
    CHECK(PQstatus(c) == CONNECTION_OK);
    char *schema = read_file("tests/cricksy/schema.sql");
    CHECK_MSG(schema != NULL, "tests/cricksy/schema.sql");
    pg_exec(c, schema ? schema : "SELECT 1");
    cr_free(schema);

    /* The worker's environment disagrees with the job on purpose. */
    const char *kv[] = {"DATABASE_URL",
                        db.target,
                        "S3_COACH_VIDEOS_BUCKET",
                        getenv("CREASE_TEST_S3_BUCKET"),
                        "S3_ENDPOINT_URL",
                        ep,
                        "AWS_ACCESS_KEY_ID",
                        getenv("CREASE_TEST_S3_ACCESS_KEY"),
                        "AWS_SECRET_ACCESS_KEY",
                        getenv("CREASE_TEST_S3_SECRET_KEY"),
                        "SAMPLE_FPS",
                        "5",
                        "MAX_WIDTH",
                        "320",
                        "CHUNK_SECONDS",
                        "30",
                        NULL};
    test_kv = kv;
    cr_config cfg;
    cr_err e = {0};
    CHECK_MSG(cr_config_parse(&cfg, lookup, NULL, &e) == CR_OK, "%s", cr_err_msg(&e));
    store *st = NULL;
    blob_store *blob = NULL;
    st = scratch_open(&db, NULL);
    OK(store_migrate_up(st, 0, NULL, &E));
    CHECK_MSG(blob_open(&cfg, NULL, &blob, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (st == NULL || blob == NULL)
        return check_exit();

    /* The video: a person sliding across a grey field, 6 s at 25 fps, 720 px wide. */
    char dir[] = "/tmp/crease-cricksy-XXXXXX", video[256], cmd[1024];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(video, sizeof video, "%s/clip.mp4", dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i color=c=gray:s=720x540:r=25:d=%d -loop 1 -i "
             "media/cold_water.jpg -filter_complex \"[1]scale=560:-2[p];[0][p]overlay=x='20+24*t'"
             ":y=60:shortest=1,format=yuv420p\" -t %d -c:v libx264 -preset veryfast -g 50 %s",
             DURATION, DURATION, video);
    CHECK_MSG(system(cmd) == 0, "ffmpeg failed: %s", cmd);
    const char *vkey = "coach_plus/coach/coach-1/sess-cricksy/vid-1/original.mp4";
    CHECK_MSG(blob_put_file(blob, vkey, video, "video/mp4", &e) == CR_OK, "%s", cr_err_msg(&e));

    /* Rows as Cricksy's upload_initiate + upload_complete (GPU mode) write them. */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO video_sessions (id, owner_type, owner_id, title, player_ids, s3_bucket, "
             "s3_key, status) VALUES ('sess-cricksy', 'coach', 'coach-1', 'Nets', '[]', '%s', "
             "'%s', 'uploaded');"
             "INSERT INTO video_analysis_jobs (id, session_id, sample_fps, include_frames, status, "
             "stage, progress_pct, deep_enabled, analysis_mode, s3_bucket, s3_key, deep_mode, "
             "completed_chunks, total_chunks, video_duration_seconds) VALUES ('job-cricksy', "
             "'sess-cricksy', 10, false, 'queued', 'DEEP_QUEUED', 0, true, 'batting', '%s', '%s', "
             "'gpu', 0, %d, %d);"
             "INSERT INTO video_analysis_chunks (id, job_id, chunk_index, start_sec, end_sec, "
             "status) SELECT 'c' || i, 'job-cricksy', i, i * %d, (i + 1) * %d, 'queued' FROM "
             "generate_series(0, %d) i",
             cfg.bucket, vkey, cfg.bucket, vkey, DURATION / CHUNK, DURATION, CHUNK, CHUNK,
             DURATION / CHUNK - 1);
    pg_exec(c, sql);

    /* Chunk 1 by a Cricksy worker: crease makes the poses, they are rewritten into
     * Cricksy's format and key, and the row completed as gpu_chunk_worker.py does. */
    pose_tracker *tr = NULL;
    pose_tracker_opts po = {0};
    CHECK_MSG(pose_tracker_create(&cfg, &po, &tr, &e) == CR_OK, "%s", cr_err_msg(&e));
    pipeline_chunk_spec spec = {.session_id = "sess-cricksy",
                                .job_id = "job-cricksy",
                                .video_key = vkey,
                                .chunk_index = 1,
                                .start_sec = CHUNK,
                                .end_sec = 2 * CHUNK,
                                .sample_fps = 10.0,
                                .max_width = 640,
                                .decoder_threads = 1};
    pipeline_chunk_summary cs;
    CHECK_MSG(tr && pipeline_chunk_process(blob, tr, &spec, NULL, NULL, &cs, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    pose_tracker_destroy(tr);
    make_cricksy_artifact(blob, cs.artifact_key, "jobs/job-cricksy/chunks/chunk_0001.json", CHUNK,
                          2 * CHUNK, 25.0);
    pg_exec(c, "UPDATE video_analysis_chunks SET status = 'completed', attempts = 1, "
               "artifact_s3_key = 'jobs/job-cricksy/chunks/chunk_0001.json', completed_at = "
               "now() WHERE id = 'c1'; UPDATE video_analysis_jobs SET completed_chunks = 1, "
               "progress_pct = 33 WHERE id = 'job-cricksy'");

    run_workers(&cfg, "job-cricksy");
    check_columns(c, blob);

    /* Migrations down and up again on Cricksy's database keep its rows. */
    CHECK_MSG(store_migrate_down(st, 0, NULL, &e) == CR_OK, "%s", cr_err_msg(&e));
    char *left = pg_cell(c, JOB_COL("status::text"));
    CHECK_STR_EQ(left ? left : "", "done");
    cr_free(left);
    CHECK_MSG(store_migrate_up(st, 0, NULL, &e) == CR_OK, "%s", cr_err_msg(&e));

    store_close(st);
    blob_close(blob);
    PQfinish(c);
    scratch_drop(&db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_exit();
}
