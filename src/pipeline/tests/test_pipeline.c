/*
 * test_pipeline.c BACKEND -- the whole pipeline on a real video, real models, a real
 * store and blob store: BACKEND "local" = SQLite file + local folder (the embedded
 * default), "services" = PostgreSQL scratch database + s3rver.
 *
 *   - submit: the video is stored, probed, and planned into ceil(5 s / 1 s) chunks
 *   - two chunk workers (threads) + one analysis worker take the job to done, 100 %
 *   - final_results.json holds one pose per grid point, frame_num 0..49 without gap
 *     or duplicate, the person found in (nearly) every frame, one artifact per chunk
 *   - the same video as one 'cpu' job (no chunks) gives the same grid and landmarks
 *     close to the chunked run (tracking restarts at chunk edges: small differences)
 *   - the merge of the real chunk artifacts: the fast path takes every one and gives
 *     what the reference path gives (the same poses text and series), and the whole
 *     aggregation stores the same final_results.json, report.html and deep_results
 *     both ways, byte for byte
 *   - the analysis: final_results.json has metrics (per-frame series, computed on the
 *     480x360 sampled frames), findings and report_key; deep_results the same
 *     metrics without per-frame arrays; report.html exists and is a whole page
 *   - fencing: a worker whose chunk lease was reaped and taken over by another worker
 *     stops at its next heartbeat without writing, its artifact key is its own
 *     claim's, its completion (and fail, release, heartbeat) is CR_ERR_CONFLICT and
 *     changes nothing, and final_results.json is built from the new holder's artifact
 *   - bad input is rejected before any job exists; a chunk whose video vanished
 *     fails with a clear error and writes no artifact
 *   - upload-complete (pipeline_complete_upload): CR_ERR_CONFLICT before the upload,
 *     a rejected video leaves the job awaiting_upload, then the chunks, queued,
 *     DEEP_QUEUED, 0 %, the video's size and etag pinned; a second call changes nothing
 *   - the swapped upload: another video PUT under the job's key after upload-complete
 *     (nothing refuses it on S3) makes the job fail with "the uploaded video changed
 *     after upload-complete", chunked or 'cpu', on the first attempt and without
 *     results; the same bytes PUT again change nothing (the job is done)
 */
#include "check.h"
#include "core/config.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"
#include "store_test_util.h"
#include "pipeline_test_env.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define DURATION 5 /* seconds of test video */
#define FPS 10     /* SAMPLE_FPS */

typedef struct worker_arg {
    const cr_config *cfg;
    pipeline_worker_opts o;
    pipeline_worker_stats stats;
    cr_status st;
    cr_err err;
} worker_arg;

static void *chunk_worker(void *p)
{
    worker_arg *a = p;
    a->st = pipeline_chunk_worker_run(a->cfg, &a->o, &a->stats, &a->err);
    return NULL;
}

/* Runs `nchunk_workers` chunk workers (stepping cpw + i chunks each, worker i; cpw 0:
 * the config's), then an analysis worker, until the job is done. */
static void run_workers(const cr_config *cfg, const char *job_id, int nchunk_workers, int cpw)
{
    worker_arg a[2];
    pthread_t t[2];
    char names[2][32];
    for (int i = 0; i < nchunk_workers; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].cfg = cfg;
        pipeline_worker_opts_default(&a[i].o);
        snprintf(names[i], sizeof names[i], "test:%d", i);
        a[i].o.worker_id = names[i];
        a[i].o.idle_exit = 1;
        a[i].o.wait_job = job_id;
        a[i].o.poll_seconds = 0.05;
        a[i].o.lease_seconds = 30;
        a[i].o.chunks_per_worker = cpw > 0 ? cpw + i : 0;
        a[i].o.workers = nchunk_workers; /* the job's last chunks: frame threads */
        CHECK(pthread_create(&t[i], NULL, chunk_worker, &a[i]) == 0);
    }
    for (int i = 0; i < nchunk_workers; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(a[i].st == CR_OK, "chunk worker %d: %s", i, cr_err_msg(&a[i].err));
    }
    pipeline_worker_opts o;
    pipeline_worker_opts_default(&o);
    o.worker_id = "test:aggregator";
    o.idle_exit = 1;
    o.wait_job = job_id;
    o.poll_seconds = 0.05;
    pipeline_worker_stats ws;
    cr_err e = {0};
    CHECK_MSG(pipeline_analysis_worker_run(cfg, &o, &ws, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_INT_EQ(ws.jobs_done, 1);
}

/* The analysis parts of final_results.json (doc) and deep_results (dr). */
static void check_analysis(blob_store *blob, json_t *doc, json_t *dr)
{
    json_t *m = json_object_get(doc, "metrics");
    CHECK(json_is_object(m));
    CHECK_INT_EQ(json_integer_value(json_object_get(doc, "frame_width")), 480);
    CHECK_INT_EQ(json_integer_value(json_object_get(doc, "frame_height")), 360);
    CHECK(json_is_true(json_object_get(doc, "frame_size_known")));
    const char *names[] = {"head_stability_score", "balance_drift_score", "front_knee_brace_score",
                           "hip_shoulder_separation_timing", "elbow_drop_score"};
    for (int i = 0; i < 5; i++) {
        json_t *x = json_object_get(m, names[i]);
        CHECK_MSG(json_is_object(x), "%s", names[i]);
        CHECK_MSG(json_is_array(json_object_get(x, "per_frame_scores")), "%s", names[i]);
        CHECK_MSG(json_is_object(json_object_get(x, "evidence")), "%s", names[i]);
        json_t *c = json_object_get(json_object_get(dr, "metrics"), names[i]);
        CHECK_MSG(json_is_object(c) && json_object_get(c, "per_frame_scores") == NULL, "%s",
                  names[i]);
    }
    /* a person sliding 24 px/s over 5 s, seen in nearly every frame: a steady head */
    double head =
        json_number_value(json_object_get(json_object_get(m, "head_stability_score"), "score"));
    CHECK_MSG(head > 0.5 && head <= 1.0, "head stability %.3f", head);
    json_t *f = json_object_get(doc, "findings");
    CHECK(json_is_array(json_object_get(f, "findings")));
    CHECK(json_is_false(json_object_get(json_object_get(f, "reliability"), "low")));
    CHECK(json_equal(f, json_object_get(dr, "findings")));
    const char *rk = json_string_value(json_object_get(doc, "report_key"));
    CHECK(rk != NULL && strstr(rk, "/report.html") != NULL);
    void *html = NULL;
    size_t n = 0;
    cr_err e = {0};
    CHECK_MSG(rk != NULL && blob_get(blob, rk, &html, &n, &e) == CR_OK, "report: %s",
              cr_err_msg(&e));
    if (html != NULL) {
        char *h = cr_strndup(html, n);
        CHECK(h != NULL && strncmp(h, "<!DOCTYPE html>", 15) == 0);
        CHECK(h != NULL && strstr(h, "</html>") != NULL);
        CHECK(h != NULL && strstr(h, "<h2>Summary</h2>") != NULL);
        CHECK(h != NULL && strstr(h, "<path class=\"series\"") != NULL);
        cr_free(h);
    }
    cr_free(html);
}

/* Loads the job's final results; NULL (and a failed check) when absent. */
static json_t *load_results(blob_store *blob, store *st, const char *job_id)
{
    store_job j;
    cr_err e = {0};
    CHECK(store_job_get(st, job_id, &j, &e) == CR_OK);
    CHECK_STR_EQ(j.status, STORE_JOB_DONE);
    CHECK_INT_EQ(j.progress_pct, 100);
    CHECK_STR_EQ(j.stage, STORE_STAGE_DONE);
    CHECK(j.completed_chunks == j.total_chunks);
    void *data = NULL;
    size_t n = 0;
    if (blob_get(blob, j.deep_results_s3_key, &data, &n, &e) != CR_OK) {
        CHECK_MSG(0, "results %s: %s", j.deep_results_s3_key, cr_err_msg(&e));
        return NULL;
    }
    json_t *doc = json_loadb(data, n, 0, NULL);
    cr_free(data);
    CHECK(doc != NULL);
    /* deep_results in the database is the same summary. */
    char *dr = NULL;
    CHECK(store_job_results(st, job_id, &dr, &e) == CR_OK && dr != NULL);
    json_t *drj = dr ? json_loads(dr, 0, NULL) : NULL;
    CHECK(drj != NULL &&
          json_equal(json_object_get(drj, "summary"), json_object_get(doc, "summary")));
    check_analysis(blob, doc, drj);
    json_decref(drj);
    cr_free(dr);
    return doc;
}

static void check_series(json_t *doc)
{
    json_t *poses = json_object_get(doc, "poses");
    CHECK_INT_EQ(json_array_size(poses), DURATION * FPS);
    size_t i;
    json_t *p;
    int detected = 0;
    json_array_foreach(poses, i, p)
    {
        CHECK_INT_EQ(json_integer_value(json_object_get(p, "frame_num")), (long long)i);
        CHECK_INT_EQ(json_integer_value(json_object_get(p, "frame_index")), (long long)i);
        CHECK_NEAR(json_number_value(json_object_get(p, "t")), (double)i / FPS, 1e-9);
        detected += json_is_true(json_object_get(p, "detected"));
    }
    CHECK_MSG(detected >= (int)(0.9 * DURATION * FPS), "detected in %d of %d frames", detected,
              DURATION * FPS);
    json_t *sum = json_object_get(doc, "summary");
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "frames")), DURATION * FPS);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "frames_detected")), detected);
    CHECK_INT_EQ(json_integer_value(json_object_get(sum, "grid_gaps")), 0);
}

/* Mean distance (normalized units) between the landmarks of two series, over frames
 * where both detected a pose. */
/* An object's bytes as text (cr_free), NULL when it cannot be read. */
static char *blob_text(blob_store *blob, const char *key, size_t *len)
{
    void *data = NULL;
    cr_err e = {0};
    *len = 0;
    if (blob_get(blob, key, &data, len, &e) != CR_OK) {
        fprintf(stderr, "%s: %s\n", key, cr_err_msg(&e));
        return NULL;
    }
    return data;
}

/* The merge and the aggregation of a real job both ways (pipeline_int.h). */
/* The blob at `key` parsed as JSON, or NULL (checked: a test failure). */
static json_t *blob_json(blob_store *blob, const char *key)
{
    void *data = NULL;
    size_t len = 0;
    cr_err e = {0};
    CHECK_MSG(blob_get(blob, key, &data, &len, &e) == CR_OK, "%s: %s", key, cr_err_msg(&e));
    json_t *doc = data ? json_loadb(data, len, 0, NULL) : NULL;
    cr_free(data);
    CHECK_MSG(doc != NULL, "%s: not JSON", key);
    return doc;
}

/* The chunks at a job's end decode with frame threads (pipeline_tail_decoder_threads)
 * and read ahead (PIPELINE_TAIL_READ_AHEAD), which must not change a frame: a chunk
 * across a keyframe, with B-frames skipped between the samples, gives the same poses
 * bit for bit with 1 and 3 threads, reading ahead or not. */
static void check_decoder_threads(const cr_config *cfg, blob_store *blob,
                                  const pipeline_submission *sub)
{
    CHECK_INT_EQ(pipeline_tail_decoder_threads(0, 30, 2), 1);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(27, 30, 2), 1);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(28, 30, 2), 3);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(29, 30, 2), 3);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(29, 30, 1), 1);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(29, 30, 0), 1);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(0, 1, 4), 5);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(2, 3, 8), 9);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(99, 100, 64), 16);
    CHECK_INT_EQ(pipeline_tail_decoder_threads(35, 100, 64), 1);
    cr_err e = {0};
    pose_tracker *tr = NULL;
    pose_tracker_opts po = {0};
    CHECK_MSG(pose_tracker_create(cfg, &po, &tr, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (tr == NULL)
        return;
    json_t *poses[3] = {NULL, NULL, NULL};
    const int threads[3] = {1, 3, 3}, ahead[3] = {0, 0, PIPELINE_TAIL_READ_AHEAD};
    for (int i = 0; i < 3; i++) {
        pipeline_chunk_spec spec = {.session_id = sub->session_id,
                                    .job_id = sub->job_id,
                                    .video_key = sub->video_key,
                                    .chunk_index = 1,
                                    .start_sec = 0.5,
                                    .end_sec = 4.5,
                                    .sample_fps = FPS,
                                    .max_width = 640,
                                    .decoder_threads = threads[i],
                                    .read_ahead = ahead[i]};
        pipeline_chunk_summary cs;
        CHECK_MSG(pipeline_chunk_process(blob, tr, &spec, NULL, NULL, &cs, &e) == CR_OK,
                  "%d threads, %d ahead: %s", threads[i], ahead[i], cr_err_msg(&e));
        CHECK_INT_EQ(cs.frames, 4 * FPS);
        json_t *doc = blob_json(blob, cs.artifact_key);
        poses[i] = json_incref(json_object_get(doc, "poses"));
        json_decref(doc);
    }
    CHECK(json_array_size(poses[0]) == 4 * FPS && json_equal(poses[0], poses[1]) &&
          json_equal(poses[0], poses[2]));
    for (int i = 0; i < 3; i++)
        json_decref(poses[i]);

    /* Keyframe bounds (pipeline_chunk_spec.total_chunks): chunk 1 of a plan of 3 s
     * chunks starts at the keyframe at 2 s (the clip has one every 2 s), 1 s before the
     * plan's 3 s and within half a chunk; chunk 0 ends there.  Together they give
     * every grid point of the clip once. */
    int64_t first[2] = {-1, -1}, count[2] = {0, 0}, last0 = -1;
    for (int i = 0; i < 2; i++) {
        pipeline_chunk_spec spec = {.session_id = sub->session_id,
                                    .job_id = sub->job_id,
                                    .video_key = sub->video_key,
                                    .chunk_index = i,
                                    .start_sec = 3.0 * i,
                                    .end_sec = i == 0 ? 3.0 : DURATION,
                                    .sample_fps = FPS,
                                    .max_width = 640,
                                    .total_chunks = 2,
                                    .chunk_seconds = 3};
        pipeline_chunk_summary cs;
        CHECK_MSG(pipeline_chunk_process(blob, tr, &spec, NULL, NULL, &cs, &e) == CR_OK,
                  "chunk %d: %s", i, cr_err_msg(&e));
        count[i] = cs.frames;
        json_t *doc = blob_json(blob, cs.artifact_key);
        json_t *ps = json_object_get(doc, "poses");
        first[i] = json_integer_value(json_object_get(json_array_get(ps, 0), "frame_num"));
        if (i == 0)
            last0 = json_integer_value(
                json_object_get(json_array_get(ps, json_array_size(ps) - 1), "frame_num"));
        CHECK(json_real_value(json_object_get(doc, "start_sec")) == 3.0 * i); /* the plan's */
        json_decref(doc);
    }
    CHECK_INT_EQ(first[0], 0);
    CHECK_INT_EQ(last0, 2 * FPS - 1);
    CHECK_INT_EQ(first[1], 2 * FPS);
    CHECK_INT_EQ(count[0] + count[1], DURATION * FPS);
    pose_tracker_destroy(tr);
}

static void check_merge_paths(const cr_config *cfg, blob_store *blob, store *st, const char *job_id)
{
    cr_err e = {0};
    store_job job;
    store_chunk rows[DURATION];
    const char *keys[DURATION] = {0};
    int n = 0;
    CHECK(store_job_get(st, job_id, &job, &e) == CR_OK);
    CHECK(store_chunks_of_job(st, job_id, rows, DURATION, &n, &e) == CR_OK);
    CHECK_INT_EQ(n, DURATION);
    pipeline_merge ref, fast;
    CHECK(pipeline_merge_init(&ref, FPS, 1, &e) == CR_OK);
    CHECK(pipeline_merge_init(&fast, FPS, 0, &e) == CR_OK);
    for (int i = 0; i < n; i++) {
        keys[i] = rows[i].artifact_s3_key;
        size_t len = 0;
        char *data = blob_text(blob, keys[i], &len);
        CHECK(data != NULL);
        if (data == NULL)
            continue;
        CHECK_MSG(pipeline_merge_chunk(&ref, keys[i], i, data, len, &e) == CR_OK, "%s",
                  cr_err_msg(&e));
        CHECK_MSG(pipeline_merge_chunk(&fast, keys[i], i, data, len, &e) == CR_OK, "%s",
                  cr_err_msg(&e));
        cr_free(data);
    }
    CHECK_INT_EQ(fast.chunks_fast, n);
    CHECK_INT_EQ(ref.chunks_fast, 0);
    CHECK_INT_EQ(fast.frames, DURATION * FPS);
    CHECK(fast.text.len > 0 && fast.text.len == ref.text.len &&
          memcmp(fast.text.p, ref.text.p, ref.text.len) == 0);
    CHECK(fast.series.n == ref.series.n && fast.series.n > 0 &&
          memcmp(fast.series.frames, ref.series.frames,
                 fast.series.n * sizeof fast.series.frames[0]) == 0);
    CHECK(fast.frames_detected == ref.frames_detected && fast.last_k == ref.last_k);
    pipeline_merge_free(&ref);
    pipeline_merge_free(&fast);

    /* the whole aggregation: what is stored, byte for byte */
    char *res[2] = {0}, *rep[2] = {0}, *deep[2] = {0};
    size_t res_len[2] = {0}, rep_len[2] = {0};
    char report_key[BLOB_KEY_MAX];
    CHECK(blob_key_report(job.session_id, job.id, report_key, sizeof report_key, &e) == CR_OK);
    for (int k = 0; k < 2; k++) {
        pipeline_job_summary js;
        pipeline_job_result jr = {0};
        cr_status s =
            k == 0 ? pipeline_job_aggregate_reference(cfg, blob, &job, keys, NULL, &js, &jr, &e)
                   : pipeline_job_aggregate(cfg, blob, &job, keys, NULL, NULL, NULL, &js, &jr, &e);
        CHECK_MSG(s == CR_OK, "%s", cr_err_msg(&e));
        if (s != CR_OK)
            continue;
        res[k] = blob_text(blob, js.results_key, &res_len[k]);
        rep[k] = blob_text(blob, report_key, &rep_len[k]);
        deep[k] = jr.deep_results;
        jr.deep_results = NULL;
        pipeline_job_result_free(&jr);
    }
    CHECK(res[0] != NULL && res[1] != NULL && res_len[0] == res_len[1] &&
          memcmp(res[0], res[1], res_len[0]) == 0);
    CHECK(rep[0] != NULL && rep[1] != NULL && rep_len[0] == rep_len[1] &&
          memcmp(rep[0], rep[1], rep_len[0]) == 0);
    CHECK(deep[0] != NULL && deep[1] != NULL && strcmp(deep[0], deep[1]) == 0);
    for (int k = 0; k < 2; k++) {
        cr_free(res[k]);
        cr_free(rep[k]);
        cr_free(deep[k]);
    }
}

static double mean_landmark_distance(json_t *a, json_t *b)
{
    json_t *pa = json_object_get(a, "poses"), *pb = json_object_get(b, "poses");
    double sum = 0;
    long n = 0;
    for (size_t i = 0; i < json_array_size(pa) && i < json_array_size(pb); i++) {
        json_t *la = json_object_get(json_array_get(pa, i), "landmarks");
        json_t *lb = json_object_get(json_array_get(pb, i), "landmarks");
        if (json_array_size(la) != 33 || json_array_size(lb) != 33)
            continue;
        for (size_t k = 0; k < 33; k++) {
            double dx = json_number_value(json_object_get(json_array_get(la, k), "x")) -
                        json_number_value(json_object_get(json_array_get(lb, k), "x"));
            double dy = json_number_value(json_object_get(json_array_get(la, k), "y")) -
                        json_number_value(json_object_get(json_array_get(lb, k), "y"));
            sum += sqrt(dx * dx + dy * dy);
            n++;
        }
    }
    CHECK(n > 33 * 40);
    return n ? sum / n : 1e9;
}

/* Upload-complete through the pipeline, as the API's routes use it: a job before its
 * video is there, a video that is not one, then the video, completed twice. */
/* A heartbeat from the progress callback, as the chunk worker's: non-zero (stop) when
 * the store says the lease is lost. */
typedef struct fence_beat {
    store *st;
    const char *chunk_id, *worker_id;
    int64_t token;
    int beats;
} fence_beat;

static int fence_heartbeat(void *ctx, int64_t frames)
{
    (void)frames;
    fence_beat *b = ctx;
    cr_err e = {0};
    b->beats++;
    return store_chunk_heartbeat(b->st, b->chunk_id, b->worker_id, b->token, 30, &e) ==
           CR_ERR_CONFLICT;
}

/* A worker whose lease was taken over (paused past it, say) writes nothing that
 * ends up in final_results.json: chunk 0 is claimed by test:stale with a short
 * lease, reaped, claimed by test:fresh, processed and completed; then the stale
 * worker resumes.  The job's other chunks and its aggregation go to the workers. */
static void check_fencing(const cr_config *cfg, blob_store *blob, store *st, const char *video)
{
    cr_err e = {0};
    pipeline_submission sub;
    CHECK_MSG(pipeline_submit_file(
                  cfg, blob, st,
                  &(pipeline_submit_opts){.path = video, .analysis_mode = "batting", .chunked = 1},
                  &sub, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    store_job job;
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    pipeline_job_settings js;
    pipeline_job_settings_of(&job, &js);
    pose_tracker *tr = NULL;
    pose_tracker_opts po = {0};
    CHECK_MSG(pose_tracker_create(cfg, &po, &tr, &e) == CR_OK, "%s", cr_err_msg(&e));
    store_chunk stale, fresh;
    int got = 0;
    CHECK(store_chunk_claim(st, "test:stale", 0.2, 1, &stale, &got, &e) == CR_OK && got == 1);
    if (tr == NULL || got != 1) {
        pose_tracker_destroy(tr);
        return;
    }
    CHECK_STR_EQ(stale.job_id, sub.job_id);
    struct timespec pause = {0, 400 * 1000 * 1000};
    nanosleep(&pause, NULL);
    store_reaped rp;
    CHECK(store_reap_expired(st, &rp, &e) == CR_OK);
    CHECK_INT_EQ(rp.chunks_requeued, 1);
    CHECK(store_chunk_claim(st, "test:fresh", 30, 1, &fresh, &got, &e) == CR_OK && got == 1);
    CHECK(strcmp(fresh.id, stale.id) == 0 && fresh.lease_token > stale.lease_token);
    pipeline_chunk_spec spec = {.session_id = fresh.session_id,
                                .job_id = fresh.job_id,
                                .video_key = fresh.s3_key,
                                .chunk_index = fresh.chunk_index,
                                .start_sec = fresh.start_sec,
                                .end_sec = fresh.end_sec,
                                .sample_fps = js.sample_fps,
                                .max_width = js.max_width,
                                .lease_token = fresh.lease_token,
                                .decoder_threads = 1};
    pipeline_chunk_summary fs;
    CHECK_MSG(pipeline_chunk_process(blob, tr, &spec, NULL, NULL, &fs, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    store_completion comp;
    CHECK(store_chunk_complete(st, fresh.id, "test:fresh", fresh.lease_token, fs.runtime_ms,
                               fs.artifact_key, &comp, &e) == CR_OK);
    CHECK_INT_EQ(comp.counted, 1);

    /* The stale worker resumes: its first heartbeat is refused, it stops and writes
     * no artifact. */
    char stale_key[BLOB_KEY_MAX];
    CHECK(blob_key_chunk_lease(stale.session_id, stale.job_id, stale.chunk_index, stale.lease_token,
                               stale_key, sizeof stale_key, &e) == CR_OK);
    CHECK(strcmp(stale_key, fs.artifact_key) != 0);
    fence_beat fb = {st, stale.id, "test:stale", stale.lease_token, 0};
    spec.lease_token = stale.lease_token;
    pipeline_chunk_summary ss;
    cr_err_clear(&e);
    cr_status s = pipeline_chunk_process(blob, tr, &spec, fence_heartbeat, &fb, &ss, &e);
    CHECK_MSG(s == CR_ERR_CANCELLED, "stale chunk: %s (%s)", cr_status_str(s), cr_err_msg(&e));
    CHECK_INT_EQ(fb.beats, 1);
    blob_info bi;
    cr_err_clear(&e);
    CHECK(blob_head(blob, stale_key, &bi, &e) == CR_ERR_NOT_FOUND);
    /* Paused after its last heartbeat instead, it writes its artifact -- under its
     * own key (here a broken one, which must never be read) -- and tries to record
     * it: every call is refused and nothing changes. */
    CHECK(blob_put(blob, stale_key, "{broken", 7, "application/json", &e) == CR_OK);
    cr_err_clear(&e);
    CHECK_INT_EQ(store_chunk_complete(st, stale.id, "test:stale", stale.lease_token, 1, stale_key,
                                      &comp, &e),
                 CR_ERR_CONFLICT);
    CHECK_INT_EQ(comp.counted, 0);
    cr_err_clear(&e);
    CHECK_INT_EQ(store_chunk_fail(st, stale.id, "test:stale", stale.lease_token, "late", NULL, &e),
                 CR_ERR_CONFLICT);
    cr_err_clear(&e);
    CHECK_INT_EQ(store_chunk_release(st, stale.id, "test:stale", stale.lease_token, &e),
                 CR_ERR_CONFLICT);
    store_chunk rows[DURATION];
    int n = 0;
    CHECK(store_chunks_of_job(st, sub.job_id, rows, DURATION, &n, &e) == CR_OK);
    CHECK(n == DURATION && strcmp(rows[0].status, STORE_CHUNK_COMPLETED) == 0);
    CHECK_STR_EQ(rows[0].artifact_s3_key, fs.artifact_key);
    CHECK_STR_EQ(rows[0].worker_id, "test:fresh");
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK_INT_EQ(job.completed_chunks, 1);
    pose_tracker_destroy(tr);

    run_workers(cfg, sub.job_id, 2, 0);
    json_t *doc = load_results(blob, st, sub.job_id);
    if (doc != NULL) {
        check_series(doc);
        json_t *c0 = json_array_get(json_object_get(doc, "chunks"), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(c0, "artifact_key")), fs.artifact_key);
    }
    json_decref(doc);
    CHECK(store_chunks_of_job(st, sub.job_id, rows, DURATION, &n, &e) == CR_OK);
    CHECK(n == DURATION && rows[0].attempts == 2 && rows[1].attempts == 1);
    CHECK_STR_EQ(rows[0].artifact_s3_key, fs.artifact_key);
}

static void check_upload(const cr_config *cfg, blob_store *blob, store *st, const char *video,
                         const char *junk)
{
    cr_err e = {0};
    pipeline_submit_opts o = {.analysis_mode = "batting", .chunked = 1};
    pipeline_submission sub;
    pipeline_upload up;
    store_job job;
    CHECK_MSG(pipeline_submit(cfg, blob, st, NULL, &o, &sub, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK_STR_EQ(job.status, STORE_JOB_AWAITING_UPLOAD);
    CHECK_STR_EQ(job.s3_key, sub.video_key);
    /* A second job of the same session gets a video key of its own. */
    pipeline_submit_opts o2 = {.session_id = sub.session_id, .analysis_mode = "batting"};
    pipeline_submission sub2;
    CHECK_MSG(pipeline_submit(cfg, blob, st, NULL, &o2, &sub2, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_STR_EQ(sub2.session_id, sub.session_id);
    CHECK(strcmp(sub2.video_key, sub.video_key) != 0);
    CHECK(strstr(sub2.video_key, sub2.job_id) != NULL);

    cr_status s = pipeline_complete_upload(cfg, blob, st, NULL, sub.job_id, &up, &e);
    CHECK_MSG(s == CR_ERR_CONFLICT, "not uploaded: %s (%s)", cr_status_str(s), cr_err_msg(&e));
    CHECK_INT_EQ(up.video_rejected, 0);
    cr_err_clear(&e);
    CHECK(blob_put_file(blob, sub.video_key, junk, "video/mp4", &e) == CR_OK);
    s = pipeline_complete_upload(cfg, blob, st, NULL, sub.job_id, &up, &e);
    CHECK_MSG(s != CR_OK && up.video_rejected, "junk: %s (%s)", cr_status_str(s), cr_err_msg(&e));
    cr_err_clear(&e);
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK_STR_EQ(job.status, STORE_JOB_AWAITING_UPLOAD);

    CHECK(blob_put_file(blob, sub.video_key, video, "video/mp4", &e) == CR_OK);
    CHECK_MSG(pipeline_complete_upload(cfg, blob, st, NULL, sub.job_id, &up, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    CHECK_INT_EQ(up.queued, 1);
    CHECK_INT_EQ(up.chunks, DURATION);
    CHECK_STR_EQ(up.job.status, STORE_JOB_QUEUED);
    CHECK_STR_EQ(up.job.stage, STORE_STAGE_DEEP_QUEUED);
    CHECK_INT_EQ(up.job.progress_pct, 0);
    CHECK_INT_EQ(up.job.total_chunks, DURATION);
    blob_info bi;
    CHECK(blob_head(blob, sub.video_key, &bi, &e) == CR_OK);
    CHECK_STR_EQ(up.job.video_etag, bi.etag);
    CHECK_INT_EQ(up.job.video_size, (long long)bi.size);
    double updated = up.job.updated_at;
    /* a second call changes nothing */
    CHECK_MSG(pipeline_complete_upload(cfg, blob, st, NULL, sub.job_id, &up, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    CHECK_INT_EQ(up.queued, 0);
    CHECK_INT_EQ(up.chunks, DURATION);
    CHECK(up.job.updated_at == updated);
    store_chunk chunks[8];
    int n = 0;
    CHECK(store_chunks_of_job(st, sub.job_id, chunks, 8, &n, &e) == CR_OK);
    CHECK_INT_EQ(n, DURATION);

    s = pipeline_complete_upload(cfg, blob, st, NULL, "00000000-0000-4000-8000-000000000000", &up,
                                 &e);
    CHECK_MSG(s == CR_ERR_NOT_FOUND, "no such job: %s", cr_status_str(s));
}

/* Runs a chunk worker, then an analysis worker, on `job_id` until it settles (done or
 * failed), whatever the outcome. */
static void run_to_end(const cr_config *cfg, const char *job_id, pipeline_worker_stats *chunks,
                       pipeline_worker_stats *jobs)
{
    worker_arg wa;
    memset(&wa, 0, sizeof wa);
    wa.cfg = cfg;
    pipeline_worker_opts_default(&wa.o);
    wa.o.worker_id = "test:swap";
    wa.o.idle_exit = 1;
    wa.o.wait_job = job_id;
    wa.o.poll_seconds = 0.05;
    chunk_worker(&wa);
    CHECK_MSG(wa.st == CR_OK, "%s", cr_err_msg(&wa.err));
    *chunks = wa.stats;
    pipeline_worker_opts o = wa.o;
    o.worker_id = "test:swap-aggregator";
    cr_err e = {0};
    CHECK_MSG(pipeline_analysis_worker_run(cfg, &o, jobs, &e) == CR_OK, "%s", cr_err_msg(&e));
}

/* The object analysed is the object checked (DESIGN.md §10): a video PUT under a job's
 * key after its upload-complete -- what a presigned S3 URL still allows until it
 * expires -- is refused by the workers, and the job fails saying why; it is never
 * analysed.  The same bytes PUT again are the same object. */
static void check_swap(const cr_config *cfg, blob_store *blob, store *st, const char *video,
                       const char *other, int chunked)
{
    cr_err e = {0};
    pipeline_submission sub;
    CHECK_MSG(pipeline_submit_file(cfg, blob, st,
                                   &(pipeline_submit_opts){.path = video, .chunked = chunked}, &sub,
                                   &e) == CR_OK,
              "%s", cr_err_msg(&e));
    store_job job;
    blob_info bi;
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK(blob_head(blob, sub.video_key, &bi, &e) == CR_OK);
    CHECK_STR_EQ(job.video_etag, bi.etag); /* pinned at upload-complete */
    CHECK_INT_EQ(job.video_size, (long long)bi.size);

    CHECK(blob_put_file(blob, sub.video_key, other, "video/mp4", &e) == CR_OK);
    pipeline_worker_stats cs = {0}, js = {0};
    run_to_end(cfg, sub.job_id, &cs, &js);
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK_STR_EQ(job.status, STORE_JOB_FAILED);
    CHECK_MSG(strstr(job.error_message, PIPELINE_VIDEO_CHANGED) != NULL, "error_message: %s",
              job.error_message);
    CHECK_STR_EQ(job.deep_results_s3_key, "");
    CHECK_INT_EQ(js.jobs_done, 0);
    char *results = NULL;
    CHECK(store_job_results(st, sub.job_id, &results, &e) == CR_OK && results == NULL);
    cr_free(results);
    if (chunked) { /* the first chunk fails at once, no retries, nothing processed (the
                      worker's counts also hold older jobs' chunks: look at this job's) */
        store_chunk rows[DURATION];
        int n = 0;
        CHECK(store_chunks_of_job(st, sub.job_id, rows, DURATION, &n, &e) == CR_OK);
        int failed = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(rows[i].status, STORE_CHUNK_FAILED) == 0) {
                failed++;
                CHECK_INT_EQ(rows[i].attempts, 1);
                CHECK_STR_EQ(rows[i].artifact_s3_key, "");
            }
            CHECK(strcmp(rows[i].status, STORE_CHUNK_COMPLETED) != 0);
        }
        CHECK_INT_EQ(failed, 1);
        CHECK(cs.chunks_failed >= 1);
    } else {
        CHECK_INT_EQ(js.jobs_failed, 1);
    }

    /* The same bytes again: the same etag, so the job is analysed as usual. */
    CHECK_MSG(pipeline_submit_file(cfg, blob, st,
                                   &(pipeline_submit_opts){.path = video, .chunked = chunked}, &sub,
                                   &e) == CR_OK,
              "%s", cr_err_msg(&e));
    CHECK(blob_put_file(blob, sub.video_key, video, "video/mp4", &e) == CR_OK);
    run_to_end(cfg, sub.job_id, &cs, &js);
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK_MSG(strcmp(job.status, STORE_JOB_DONE) == 0, "%s: %s", job.status, job.error_message);
}

int main(int argc, char **argv)
{
    (void)scratch_open; /* store_test_util.h helpers this test does not need */
    (void)E;
    const char *backend = argc > 1 ? argv[1] : "local";
    int services = strcmp(backend, "services") == 0;
    char dir[] = "/tmp/crease-pipeline-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;

    scratch_db db;
    char video[300], junk[300], cmd[1200];
    cr_config cfg;
    cr_err e = {0};
    if (ptest_config(services, dir, "pipeline", &db, &cfg) != 0)
        return 1;

    /* A person sliding right by 24 px/s over a grey field: 5 s, 25 fps, H.264. */
    snprintf(video, sizeof video, "%s/clip.mp4", dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i color=c=gray:s=720x540:r=25:d=%d -loop 1 -i "
             "media/cold_water.jpg -filter_complex \"[1]scale=560:-2[p];[0][p]overlay=x='20+24*t'"
             ":y=60:shortest=1,format=yuv420p\" -t %d -c:v libx264 -preset veryfast -g 50 %s",
             DURATION, DURATION, video);
    CHECK_MSG(system(cmd) == 0, "ffmpeg failed: %s", cmd);

    store *st = NULL;
    blob_store *blob = NULL;
    CHECK_MSG(store_open(&cfg, NULL, &st, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_MSG(store_migrate_up(st, 0, NULL, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_MSG(blob_open(&cfg, NULL, &blob, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (st == NULL || blob == NULL)
        return check_exit();

    /* Chunked job. */
    pipeline_submission sub;
    CHECK_MSG(pipeline_submit_file(
                  &cfg, blob, st,
                  &(pipeline_submit_opts){.path = video, .analysis_mode = "batting", .chunked = 1},
                  &sub, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    CHECK_INT_EQ(sub.chunks, DURATION);
    CHECK_NEAR(sub.duration_seconds, DURATION, 0.05);
    blob_info bi;
    CHECK(blob_head(blob, sub.video_key, &bi, &e) == CR_OK);
    run_workers(&cfg, sub.job_id, 2, 0);
    json_t *chunked = load_results(blob, st, sub.job_id);
    if (chunked != NULL) {
        check_series(chunked);
        json_t *chunks = json_object_get(chunked, "chunks");
        CHECK_INT_EQ(json_array_size(chunks), DURATION);
        store_chunk rows[DURATION];
        int nr = 0;
        CHECK(store_chunks_of_job(st, sub.job_id, rows, DURATION, &nr, &e) == CR_OK);
        for (size_t i = 0; i < json_array_size(chunks) && (int)i < nr; i++) {
            json_t *c = json_array_get(chunks, i);
            CHECK_INT_EQ(json_integer_value(json_object_get(c, "index")), (long long)i);
            CHECK_INT_EQ(json_integer_value(json_object_get(c, "frames")), FPS);
            /* each chunk's artifact under its claim's key, as its row records it */
            const char *key = json_string_value(json_object_get(c, "artifact_key"));
            char want[BLOB_KEY_MAX];
            blob_key_chunk_lease(sub.session_id, sub.job_id, (int)i, rows[i].lease_token, want,
                                 sizeof want, &e);
            CHECK(key != NULL && strcmp(key, want) == 0);
            CHECK_STR_EQ(rows[i].artifact_s3_key, want);
            CHECK(key != NULL && blob_head(blob, key, &bi, &e) == CR_OK);
        }
        CHECK_STR_EQ(json_string_value(json_object_get(chunked, "analysis_mode")), "batting");
    }
    check_merge_paths(&cfg, blob, st, sub.job_id);
    check_decoder_threads(&cfg, blob, &sub);
    /* Artifacts written before they recorded the frame size: analysed as a square
     * frame, and the results say so. */
    store_job job;
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    store_chunk old_rows[DURATION];
    const char *old_keys[DURATION] = {0};
    int nold = 0;
    CHECK(store_chunks_of_job(st, sub.job_id, old_rows, DURATION, &nold, &e) == CR_OK);
    for (int i = 0; i < nold; i++)
        old_keys[i] = old_rows[i].artifact_s3_key;
    for (int i = 0; i < nold; i++) {
        const char *key = old_keys[i];
        json_t *a = blob_json(blob, key);
        CHECK(a != NULL && json_object_get(a, "width") != NULL);
        json_object_del(a, "width");
        json_object_del(a, "height");
        char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
        CHECK(text != NULL &&
              blob_put(blob, key, text, strlen(text), "application/json", &e) == CR_OK);
        free(text);
        json_decref(a);
    }
    pipeline_job_summary js;
    pipeline_job_result jr;
    CHECK_MSG(pipeline_job_aggregate(&cfg, blob, &job, old_keys, NULL, NULL, NULL, &js, &jr, &e) ==
                  CR_OK,
              "%s", cr_err_msg(&e));
    char *summary = jr.deep_results;
    json_t *sj = summary ? json_loads(summary, 0, NULL) : NULL;
    CHECK(sj != NULL && json_is_false(json_object_get(sj, "frame_size_known")));
    CHECK(sj != NULL && json_is_string(json_object_get(
                            json_object_get(json_object_get(sj, "metrics"), "meta"), "note")));
    CHECK(sj != NULL &&
          json_is_number(json_object_get(
              json_object_get(json_object_get(sj, "metrics"), "head_stability_score"), "score")));
    json_decref(sj);
    pipeline_job_result_free(&jr);

    store_chunk chunks[8];
    int n = 0;
    CHECK(store_chunks_of_job(st, sub.job_id, chunks, 8, &n, &e) == CR_OK);
    CHECK_INT_EQ(n, DURATION);
    for (int i = 0; i < n; i++) {
        CHECK_STR_EQ(chunks[i].status, STORE_CHUNK_COMPLETED);
        CHECK_INT_EQ(chunks[i].attempts, 1);
        CHECK(chunks[i].runtime_ms >= 0);
    }

    /* The same video as one 'cpu' job: the analysis worker does it all. */
    pipeline_submission whole;
    CHECK_MSG(pipeline_submit_file(
                  &cfg, blob, st,
                  &(pipeline_submit_opts){.path = video, .analysis_mode = NULL, .chunked = 0},
                  &whole, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    CHECK_INT_EQ(whole.chunks, 0);
    run_workers(&cfg, whole.job_id, 0, 0);
    json_t *single = load_results(blob, st, whole.job_id);
    if (single != NULL)
        check_series(single);
    if (chunked != NULL && single != NULL) {
        double d = mean_landmark_distance(chunked, single);
        fprintf(stderr, "chunked vs whole: mean landmark distance %.4f (normalized)\n", d);
        CHECK_MSG(d < 0.02, "chunked and whole-video landmarks differ by %.4f", d);
    }
    /* Chunks stepped together (2 and 3 per worker: batched runs, and single ones where
     * a worker holds one chunk or one has ended) give the poses of chunks one at a
     * time, frame by frame. */
    pipeline_submission stepped;
    CHECK_MSG(pipeline_submit_file(
                  &cfg, blob, st,
                  &(pipeline_submit_opts){.path = video, .analysis_mode = "batting", .chunked = 1},
                  &stepped, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    run_workers(&cfg, stepped.job_id, 2, 2);
    json_t *together = load_results(blob, st, stepped.job_id);
    if (together != NULL)
        check_series(together);
    if (chunked != NULL && together != NULL) {
        json_t *pa = json_object_get(chunked, "poses"), *pb = json_object_get(together, "poses");
        size_t same = 0;
        for (size_t i = 0; i < json_array_size(pa) && i < json_array_size(pb); i++)
            same += json_equal(json_object_get(json_array_get(pa, i), "detected"),
                               json_object_get(json_array_get(pb, i), "detected"));
        CHECK_INT_EQ(same, DURATION * FPS);
        double d = mean_landmark_distance(chunked, together);
        fprintf(stderr, "chunks stepped together vs one at a time: mean distance %.2g\n", d);
        CHECK_MSG(d < 1e-6, "stepped chunks' landmarks differ by %.3g", d);
    }
    json_decref(together);
    json_decref(chunked);
    json_decref(single);

    check_fencing(&cfg, blob, st, video);

    /* Bad input: rejected before any job exists. */
    store_job jobs[16];
    int before = 0, after = 0;
    CHECK(store_job_list(st, NULL, jobs, 16, &before, &e) == CR_OK);
    snprintf(junk, sizeof junk, "%s/junk.mp4", dir);
    FILE *f = fopen(junk, "wb");
    for (int i = 0; f != NULL && i < 100000; i++)
        fputc((i * 7919) & 0xff, f);
    if (f != NULL)
        fclose(f);
    cr_err_clear(&e);
    cr_status s = pipeline_submit_file(
        &cfg, blob, st, &(pipeline_submit_opts){.path = junk, .analysis_mode = NULL, .chunked = 1},
        &whole, &e);
    CHECK_MSG(s == CR_ERR_FORMAT, "junk: %s (%s)", cr_status_str(s), cr_err_msg(&e));
    CHECK(store_job_list(st, NULL, jobs, 16, &after, &e) == CR_OK);
    CHECK_INT_EQ(after, before);

    /* A chunk whose video vanished: a clear error and no artifact. */
    pipeline_submission gone;
    CHECK(pipeline_submit_file(
              &cfg, blob, st,
              &(pipeline_submit_opts){.path = video, .analysis_mode = NULL, .chunked = 1}, &gone,
              &e) == CR_OK);
    CHECK(blob_delete(blob, gone.video_key, &e) == CR_OK);
    pose_tracker *tr = NULL;
    pose_tracker_opts po = {0};
    CHECK(pose_tracker_create(&cfg, &po, &tr, &e) == CR_OK);
    pipeline_chunk_spec spec = {.session_id = gone.session_id,
                                .job_id = gone.job_id,
                                .video_key = gone.video_key,
                                .chunk_index = 0,
                                .start_sec = 0,
                                .end_sec = 1,
                                .sample_fps = 10.0,
                                .max_width = 640,
                                .decoder_threads = 1};
    pipeline_chunk_summary cs;
    cr_err_clear(&e);
    s = pipeline_chunk_process(blob, tr, &spec, NULL, NULL, &cs, &e);
    CHECK_MSG(s == CR_ERR_NOT_FOUND, "vanished video: %s (%s)", cr_status_str(s), cr_err_msg(&e));
    char key[BLOB_KEY_MAX];
    blob_key_chunk(gone.session_id, gone.job_id, 0, key, sizeof key, &e);
    cr_err_clear(&e);
    CHECK(blob_head(blob, key, &bi, &e) == CR_ERR_NOT_FOUND);
    pose_tracker_destroy(tr);

    /* A chunk worker on that job: the error can never go away (the video is gone), so
     * the chunk and the job fail on the first attempt, no retries. */
    {
        worker_arg wa;
        memset(&wa, 0, sizeof wa);
        wa.cfg = &cfg;
        pipeline_worker_opts_default(&wa.o);
        wa.o.worker_id = "test:permanent";
        wa.o.idle_exit = 1;
        wa.o.wait_job = gone.job_id;
        wa.o.poll_seconds = 0.05;
        chunk_worker(&wa);
        CHECK_MSG(wa.st == CR_OK, "%s", cr_err_msg(&wa.err));
        store_job gj;
        CHECK(store_job_get(st, gone.job_id, &gj, &e) == CR_OK);
        CHECK_STR_EQ(gj.status, STORE_JOB_FAILED);
        store_chunk gc[8];
        int gn = 0;
        CHECK(store_chunks_of_job(st, gone.job_id, gc, 8, &gn, &e) == CR_OK);
        CHECK(gn >= 1 && gc[0].attempts == 1 && strcmp(gc[0].status, STORE_CHUNK_FAILED) == 0);
        /* The chunks claimed together (CREASE_CHUNKS_PER_WORKER) fail together; the job
         * failed with them, so no other chunk was claimed after. */
        int together = gn < cfg.chunks_per_worker ? gn : cfg.chunks_per_worker;
        CHECK_INT_EQ(wa.stats.chunks_failed, together);
        for (int i = 0; i < gn; i++)
            CHECK_MSG(gc[i].attempts == (i < together), "chunk %d: %d attempts", i, gc[i].attempts);
    }

    check_upload(&cfg, blob, st, video, junk);

    /* Another real video for the swapped upload (3 s, blue, 320x240). */
    char other[300];
    snprintf(other, sizeof other, "%s/other.mp4", dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i color=c=blue:s=320x240:r=25:d=3 -pix_fmt yuv420p "
             "-c:v libx264 -preset veryfast %s",
             other);
    CHECK_MSG(system(cmd) == 0, "ffmpeg failed: %s", cmd);
    check_swap(&cfg, blob, st, video, other, 1);
    check_swap(&cfg, blob, st, video, other, 0);

    blob_close(blob);
    store_close(st);
    if (services)
        scratch_drop(&db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
