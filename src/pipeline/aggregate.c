/*
 * aggregate.c -- a job's chunk artifacts into final_results.json.
 *
 * The merged file can be large (a 15-minute video at 10 fps is 9,000 poses, ~65 MB
 * of JSON), so it never is in memory: the poses are written as text, one chunk at a
 * time (at most one chunk's artifact and its merged text are in memory; merge.c,
 * pipeline_int.h, does the merge), into a temporary file, and
 * the results file is that text behind the head (known only at the end), assembled
 * in a second temporary file and stored from there.  Holding the text in memory
 * instead (twice, at the end) put ~60 MB on the worker's peak for a 15-minute video.  Chunks own disjoint ranges of the global grid
 * (DESIGN.md §6), so concatenating them in index order gives one series; the merge
 * checks that frame_num strictly increases (a duplicate or a chunk out of order is a
 * bug upstream and fails the job) and counts missing grid points (there should be
 * none; a video whose frames stop early leaves some).
 *
 * Analysis (DESIGN.md §8): while streaming, each pose is also appended to a compact
 * pixel-space series (analysis/analysis.h, ~0.8 KB a frame; the JSON trees are not
 * kept); after the merge the metrics, findings and report.html are computed from
 * it.  final_results.json gets `metrics` (with per-frame series), `findings` and
 * `report_key`; the deep_results summary gets the same without the per-frame
 * arrays.  Landmarks are normalized to each chunk's sampled frame size (`width`,
 * `height` in the artifact); artifacts written before those fields existed are
 * analysed as if the frame were square, and the results say so.
 *
 * Pictures (report_pictures): the report shows the key frames of the metrics
 * (analysis_report_picture_frames, at most 8) as real frames of the job's video with
 * the skeleton drawn on them.  Each is decoded exactly (its own sampler over the one
 * grid point, no GOP-tail skipping) through the same pinned reader the chunk workers
 * use, scaled to at most PICTURE_WIDTH, drawn on with pose/pose_overlay.h and
 * encoded as a JPEG (video_encode_jpeg).  The pictures are made by threads of their
 * own, each with its own reader (they are independent), while the aggregation writes
 * final_results.json; report_pictures_finish takes them back in order for the report,
 * which is written last.  A picture never fails the job: when the
 * video cannot be read (deleted, replaced) or a frame cannot be decoded, the report
 * says so and draws the poses without the video.
 */
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"

#include "analysis/analysis.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/tmpfile.h"
#include "pose/pose_overlay.h"
#include "video/video.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads chunk `index`'s artifact once and merges it (merge.c); its poses text goes on
 * to the file. */
static cr_status merge_chunk(blob_store *blob, const char *key, int index, pipeline_merge *m,
                             cr_tmpfile *poses, cr_err *err)
{
    void *data = NULL;
    size_t n = 0;
    cr_status st = blob_get(blob, key, &data, &n, err);
    if (st != CR_OK)
        return st;
    st = pipeline_merge_chunk(m, key, index, data, n, err);
    cr_free(data);
    if (st == CR_OK && m->text.len > 0)
        st = cr_tmpfile_write(poses, m->text.p, m->text.len, err);
    cr_buf_truncate(&m->text, 0);
    return st;
}

void pipeline_job_result_free(pipeline_job_result *r)
{
    if (r == NULL)
        return;
    cr_free(r->deep_results);
    cr_free(r->deep_findings);
    cr_free(r->deep_report);
    memset(r, 0, sizeof *r);
}

/* jansson's compact text of `v` (free with cr_free: jansson allocates through
 * core/mem since cr_mem_init); NULL when out of memory. */
static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
}

/* Cricksy's pose_summary (its analysis worker, coach_plus_analysis.py): true values.
 * total_frames is the video's frame count (duration x frame rate), sampled_frames the
 * grid points, frames_with_pose those with a body, the rate in percent, 1 decimal. */
static json_t *pose_summary(const store_job *job, const pipeline_job_summary *sum, double fps,
                            const char *model)
{
    double rate = sum->frames ? 100.0 * (double)sum->frames_detected / (double)sum->frames : 0.0;
    json_t *p = json_object();
    json_object_set_new(p, "total_frames",
                        json_integer(fps > 0
                                         ? (json_int_t)llround(job->video_duration_seconds * fps)
                                         : (json_int_t)sum->frames));
    json_object_set_new(p, "sampled_frames", json_integer(sum->frames));
    json_object_set_new(p, "frames_with_pose", json_integer(sum->frames_detected));
    json_object_set_new(p, "detection_rate_percent", json_real(round(rate * 10.0) / 10.0));
    json_object_set_new(p, "video_fps", fps > 0 ? json_real(fps) : json_null());
    char name[64];
    snprintf(name, sizeof name, "BlazePose %s (crease)", model);
    json_object_set_new(p, "model", json_string(name));
    return p;
}

/* Cricksy's metrics object reads evidence and a summary at its top level
 * (metrics.evidence[<metric>], metrics.summary): added beside crease's metrics. */
static void cricksy_metrics_extras(json_t *metrics, const pipeline_job_summary *sum)
{
    json_t *ev = json_object(), *summary = json_object();
    const char *key;
    json_t *m;
    json_object_foreach(metrics, key, m)
    {
        json_t *e = json_object_get(m, "evidence");
        if (json_is_object(e))
            json_object_set(ev, key, e);
    }
    json_object_set_new(summary, "total_frames", json_integer(sum->frames));
    json_object_set_new(summary, "frames_with_pose", json_integer(sum->frames_detected));
    json_object_set_new(metrics, "evidence", ev);
    json_object_set_new(metrics, "summary", summary);
}

/* ---- pictures of the key frames --------------------------------------------- */

/* Ours: a picture at most 640 px wide (MAX_WIDTH's default, the width the report's
 * column shows without scaling) at FFmpeg's -q:v 5, which gives ~30-60 KB a frame
 * (measured on the test videos; 640x360 to 640x480). */
#define PICTURE_WIDTH 640
#define PICTURE_QSCALE 5

/* Frame `af` of the video: decoded exactly, the skeleton drawn, as a JPEG in *jpeg
 * (cr_free).  *w, *h: its size. */
static cr_status picture_make(cr_reader *r, const pipeline_job_settings *js,
                              const analysis_series *series, const analysis_frame *af,
                              uint8_t **jpeg, size_t *n, int *w, int *h, cr_err *err)
{
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.sample_fps = js->sample_fps;
    /* the one grid point k: [k / fps, (k + 1) / fps) holds k alone (video.h, THE GRID) */
    o.start_sec = (double)af->frame_num / js->sample_fps;
    o.end_sec = (double)(af->frame_num + 1) / js->sample_fps;
    o.max_width =
        js->max_width > 0 && js->max_width < PICTURE_WIDTH ? js->max_width : PICTURE_WIDTH;
    o.threads = 1;
    o.skip_gop_tails = 0; /* exact: every frame up to the one needed (crease frames --exact) */
    video_sampler *s = NULL;
    uint8_t *rgb = NULL;
    video_frame f;
    int done = 1;
    cr_status st = video_sampler_open(r, &o, &s, err);
    if (st == CR_OK)
        st = video_sampler_next(s, &f, &done, err);
    if (st == CR_OK && (done || f.k != af->frame_num))
        st = cr_err_set(err, CR_ERR_FORMAT, "frame %lld is not in the video",
                        (long long)af->frame_num);
    if (st != CR_OK)
        goto fail;
    /* a copy to draw on: the sampler owns its frame */
    rgb = cr_malloc((size_t)f.width * 3 * (size_t)f.height);
    if (rgb == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory (%dx%d picture)", f.width, f.height);
        goto fail;
    }
    for (int y = 0; y < f.height; y++)
        memcpy(rgb + (size_t)y * 3 * (size_t)f.width, f.rgb + (size_t)y * (size_t)f.stride,
               (size_t)f.width * 3);
    /* the series is in pixels of the sampled frames; the overlay takes normalized */
    pose_result pr;
    memset(&pr, 0, sizeof pr);
    pr.detected = af->detected;
    for (int i = 0; i < ANALYSIS_LM && i < POSE_LM_BODY; i++) {
        pr.landmarks[i].x = af->x[i] / (float)series->width;
        pr.landmarks[i].y = af->y[i] / (float)series->height;
        pr.landmarks[i].visibility = af->vis[i];
        pr.landmarks[i].presence = 1.0f;
    }
    video_frame pic = f;
    pic.rgb = rgb;
    pic.stride = 3 * f.width;
    if ((st = pose_overlay_draw(rgb, f.width, f.height, pic.stride, &pr, err)) != CR_OK ||
        (st = video_encode_jpeg(&pic, PICTURE_QSCALE, jpeg, n, err)) != CR_OK)
        goto fail;
    *w = f.width;
    *h = f.height;
fail:
    cr_free(rgb);
    video_sampler_close(s);
    return st;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Opens a reader on the job's video, pinned as the chunk workers read it (pipeline.h,
 * pipeline_chunk_spec) when upload-complete pinned it. */
static cr_status picture_reader(blob_store *blob, const store_job *job, cr_reader **r, cr_err *err)
{
    size_t etag_len = strlen(job->video_etag);
    if (etag_len >= sizeof((blob_info *)0)->etag)
        return cr_err_set(err, CR_ERR_INVALID, "the job's video etag is too long");
    if (etag_len == 0)
        return blob_open_reader(blob, job->s3_key, 0, NULL, r, err);
    blob_info pin = {.size = (uint64_t)job->video_size};
    memcpy(pin.etag, job->video_etag, etag_len + 1);
    return blob_open_reader_pinned(blob, job->s3_key, &pin, 0, NULL, r, err);
}

/* One key frame's picture, made by picture_thread. */
typedef struct picture_task {
    const analysis_frame *af; /* NULL: not pictured (no such frame, or no pose in it) */
    int opened;               /* the reader opened (else st is the open's error) */
    cr_status st;
    cr_err err;
    uint8_t *jpeg; /* owned until report_pictures_finish takes it: cr_free */
    size_t n;
    int w, h;
} picture_task;

typedef struct picture_pool {
    blob_store *blob;
    const store_job *job;
    const pipeline_job_settings *js;
    const analysis_series *series; /* read only while the threads run */
    picture_task *tasks;
    size_t n;
    atomic_size_t next; /* the next task to take */
} picture_pool;

/* Takes tasks until none is left.  Touches no jansson value: the aggregation's thread
 * goes on with the results meanwhile, and jansson's values are not shared between
 * threads. */
static void *picture_thread(void *arg)
{
    picture_pool *pool = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&pool->next, 1);
        if (i >= pool->n)
            return NULL;
        picture_task *t = &pool->tasks[i];
        if (t->af == NULL)
            continue;
        cr_reader *r = NULL;
        t->st = picture_reader(pool->blob, pool->job, &r, &t->err);
        t->opened = t->st == CR_OK;
        if (t->opened)
            t->st = picture_make(r, pool->js, pool->series, t->af, &t->jpeg, &t->n, &t->w, &t->h,
                                 &t->err);
        cr_reader_close(r);
    }
}

/* Threads making pictures at once: each decodes its own GOP run (the pictures are
 * independent), so up to one per core, and at most 4: a 1080p H.264 decoder holds
 * some 50 MB of reference frames, and DESIGN.md §9 bounds the peak memory. */
#define PICTURE_THREADS_MAX 4

/* The report's pictures, made in the background between report_pictures_start and
 * report_pictures_finish, then taken in the key frames' order, so the outcome is the
 * one of making them one after the other: the byte budget is spent in that order, the
 * first error is the one named, and after one that means the video is gone or changed
 * the later pictures are dropped as if never tried. */
typedef struct report_pictures {
    /* the work */
    picture_task tasks[ANALYSIS_REPORT_MAX_PICTURES];
    picture_pool pool;
    pthread_t th[PICTURE_THREADS_MAX];
    size_t threads; /* started */
    int running;    /* started and not finished */
    size_t nf;      /* key frames */
    cr_status st;   /* the video could not be read at all: no picture tried */
    cr_err err;
    const char *job_id;
    double t0;
    /* the result */
    analysis_picture items[ANALYSIS_REPORT_MAX_PICTURES];
    uint8_t *jpeg[ANALYSIS_REPORT_MAX_PICTURES]; /* owned: cr_free */
    size_t n, bytes;
    char note[320];
    analysis_pictures view; /* what the report reads */
} report_pictures;

/* Starts the pictures of the key frames of `metrics` and `findings` (read here, not
 * after).  `blob`, `job`, `js` and `series` must stay as they are until
 * report_pictures_finish. */
static void report_pictures_start(blob_store *blob, const store_job *job,
                                  const pipeline_job_settings *js, const analysis_series *series,
                                  const json_t *metrics, const json_t *findings,
                                  report_pictures *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->job_id = job->id;
    int64_t frames[ANALYSIS_REPORT_MAX_PICTURES];
    size_t nf =
        analysis_report_picture_frames(metrics, findings, frames, ANALYSIS_REPORT_MAX_PICTURES);
    if (nf == 0 || series->width <= 0 || series->height <= 0 || !(js->sample_fps > 0))
        return;
    rp->nf = nf;
    rp->t0 = now_sec();
    size_t todo = 0;
    for (size_t i = 0; i < nf; i++) {
        const analysis_frame *af = analysis_series_find(series, frames[i]);
        if (af != NULL && af->detected) {
            rp->tasks[i].af = af;
            todo++;
        }
    }
    /* the video first: when it cannot be read at all, no picture is tried */
    cr_reader *r = NULL;
    rp->st = picture_reader(blob, job, &r, &rp->err);
    cr_reader_close(r);
    rp->pool = (picture_pool){blob, job, js, series, rp->tasks, rp->st == CR_OK ? nf : 0, 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = todo < PICTURE_THREADS_MAX ? todo : PICTURE_THREADS_MAX;
    if (cpus > 0 && (size_t)cpus < want)
        want = (size_t)cpus;
    for (size_t i = 0; i < want && rp->st == CR_OK; i++)
        if (pthread_create(&rp->th[rp->threads], NULL, picture_thread, &rp->pool) == 0)
            rp->threads++;
    rp->running = 1;
}

/* Waits for the pictures (this thread takes what is left, so it works without threads
 * too) and fills items, note and view.  Whatever fails goes to rp->note. */
static void report_pictures_finish(report_pictures *rp)
{
    if (!rp->running)
        return;
    rp->running = 0;
    picture_thread(&rp->pool);
    for (size_t i = 0; i < rp->threads; i++)
        pthread_join(rp->th[i], NULL);
    cr_err *e = &rp->err;
    cr_status st = rp->st;
    size_t failed = 0;
    for (size_t i = 0; i < rp->nf; i++) {
        picture_task *t = &rp->tasks[i];
        if (st != CR_OK || t->af == NULL) {
            cr_free(t->jpeg);
            continue;
        }
        if (!t->opened) { /* no reader: the video cannot be read at all */
            cr_err_set(e, t->st, "%s", cr_err_msg(&t->err));
            st = t->st;
            continue;
        }
        if (t->st == CR_OK && rp->bytes + t->n <= ANALYSIS_REPORT_PICTURE_BYTES) {
            rp->jpeg[rp->n] = t->jpeg;
            rp->items[rp->n] = (analysis_picture){t->af->frame_num, t->jpeg, t->n, t->w, t->h};
            rp->n++;
            rp->bytes += t->n;
            continue;
        }
        cr_free(t->jpeg);
        failed++;
        if (t->st != CR_OK && e->msg[0] == '\0')
            cr_err_set(e, t->st, "%s", cr_err_msg(&t->err));
        /* the video itself is gone or changed: no use trying the other frames */
        if (t->st == CR_ERR_NOT_FOUND || t->st == CR_ERR_CHANGED)
            st = t->st;
    }
    if (st != CR_OK)
        snprintf(rp->note, sizeof rp->note,
                 "The video could not be read (%s), so the key frames are not pictured; the "
                 "issues show the detected poses as drawings.",
                 cr_err_msg(e));
    else if (failed > 0)
        snprintf(rp->note, sizeof rp->note, "%zu of the key frames could not be pictured (%s).",
                 failed, e->msg[0] ? cr_err_msg(e) : "over the report's size limit");
    if (rp->note[0] != '\0')
        cr_log_warn("job.report_pictures", "job=%s pictures=%zu of %zu: %s", rp->job_id, rp->n,
                    rp->nf, rp->note);
    else
        cr_log_info("job.report_pictures", "job=%s pictures=%zu bytes=%zu threads=%zu ms=%.0f",
                    rp->job_id, rp->n, rp->bytes, rp->threads, (now_sec() - rp->t0) * 1000);
    rp->view = (analysis_pictures){rp->items, rp->n, rp->note[0] ? rp->note : NULL};
}

/* Finishes (if started) and frees the pictures. */
static void report_pictures_free(report_pictures *rp)
{
    report_pictures_finish(rp);
    for (size_t i = 0; i < rp->n; i++)
        cr_free(rp->jpeg[i]);
    rp->n = 0;
}

/* pipeline_job_aggregate, with the merge's reference path forced or not. */
static cr_status aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                           const char *const *artifact_keys, pose_tracker *tracker,
                           pipeline_progress_fn progress, void *progress_ctx, int reference,
                           pipeline_job_summary *out, pipeline_job_result *result, cr_err *err)
{
    memset(out, 0, sizeof *out);
    memset(result, 0, sizeof *result);
    cr_status st;
    pipeline_job_settings js;
    pipeline_job_settings_of(job, &js);
    int nchunks = job->total_chunks;
    int cpu_job = nchunks == 0;
    pipeline_chunk_summary cs; /* a 'cpu' job's one chunk */
    const char *cpu_keys[1] = {cs.artifact_key};
    if (cpu_job) {
        /* deep_mode 'cpu': the whole video is one chunk, processed here. */
        if (tracker == NULL)
            return cr_err_set(err, CR_ERR_INVALID, "job %s needs a pose tracker ('cpu' job)",
                              job->id);
        /* To the planned duration: upload-complete plans only the frames that exist
         * when the container claims more (submit.c, planned_duration).  Under the
         * aggregation claim's own key: an aggregator whose lease was taken over writes
         * beside this one's intermediate artifact, never over it. */
        double end = job->video_duration_seconds > 0 ? job->video_duration_seconds : INFINITY;
        pipeline_chunk_spec spec = {.session_id = job->session_id,
                                    .job_id = job->id,
                                    .video_key = job->s3_key,
                                    .chunk_index = 0,
                                    .start_sec = 0.0,
                                    .end_sec = end,
                                    .sample_fps = js.sample_fps,
                                    .max_width = js.max_width,
                                    .lease_token = job->lease_token,
                                    .video_size = job->video_size,
                                    .video_etag = job->video_etag,
                                    .skip_deblock = cfg->skip_deblock,
                                    .subject = js.subject,
                                    .subject_x = js.subject_x,
                                    .subject_y = js.subject_y,
                                    .decoder_threads = 1};
        if ((st = pipeline_chunk_process(blob, tracker, &spec, progress, progress_ctx, &cs, err)) !=
            CR_OK)
            return st;
        nchunks = 1;
        artifact_keys = cpu_keys;
    }
    if ((st = blob_key_final_results(job->session_id, job->id, out->results_key,
                                     sizeof out->results_key, err)) != CR_OK)
        return st;

    cr_tmpfile poses = {0}, doc = {0};
    json_t *head = json_object();
    json_t *metrics = NULL, *findings = NULL, *report = NULL;
    char *head_text = NULL, *doc_head = NULL, *html = NULL;
    pipeline_merge m;
    report_pictures pictures;
    memset(&pictures, 0, sizeof pictures); /* nothing started: report_pictures_free no-op */
    double t0 = now_sec();
    if ((st = pipeline_merge_init(&m, js.sample_fps, reference, err)) != CR_OK)
        goto done;
    if (head == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = cr_tmpfile_create(&poses, "crease-poses-", err)) != CR_OK)
        goto done;
    for (int i = 0; i < nchunks; i++) {
        char key[BLOB_KEY_MAX];
        if (artifact_keys != NULL && artifact_keys[i] != NULL)
            snprintf(key, sizeof key, "%s", artifact_keys[i]);
        else if ((st = blob_key_chunk(job->session_id, job->id, i, key, sizeof key, err)) != CR_OK)
            goto done;
        if ((st = merge_chunk(blob, key, i, &m, &poses, err)) != CR_OK)
            goto done;
        if (progress != NULL && progress(progress_ctx, m.frames) != 0) {
            st = cr_err_set(err, CR_ERR_CANCELLED, "aggregation of job %s stopped", job->id);
            goto done;
        }
    }
    out->chunks = nchunks;
    out->frames = m.frames;
    out->frames_detected = m.frames_detected;
    out->grid_gaps = m.grid_gaps;
    cr_log_info("job.merged", "job=%s chunks=%d fast=%d frames=%lld ms=%.0f", job->id, nchunks,
                m.chunks_fast, (long long)m.frames, (now_sec() - t0) * 1000);

    /* Analysis: metrics, findings for the job's mode (none or one findings do not
     * know: batting, Cricksy's default), report.html. */
    const char *mode = job->analysis_mode;
    if (!analysis_mode_valid(mode)) {
        cr_log_warn("job.analysis", "job=%s unknown analysis_mode '%s': analysed as batting",
                    job->id, mode);
        mode = "batting";
    }
    if (mode[0] == '\0')
        mode = "batting";
    if ((st = analysis_metrics(&m.series, &metrics, err)) != CR_OK ||
        (st = analysis_findings(metrics, mode, out->frames, out->frames_detected, &findings,
                                err)) != CR_OK ||
        (st = analysis_report_json(findings, mode, &report, err)) != CR_OK)
        goto done;
    if (!m.size_known)
        json_object_set_new(json_object_get(metrics, "meta"), "note",
                            json_string("frame size missing from the chunk artifacts: "
                                        "analysed as a square frame"));
    char report_key[BLOB_KEY_MAX];
    if ((st = blob_key_report(job->session_id, job->id, report_key, sizeof report_key, err)) !=
        CR_OK)
        goto done;

    /* The head of the results: everything but the poses; it is also deep_results.
     * First what Cricksy's API and frontend read (its analysis worker's keys), then
     * crease's own, under names that do not collide with Cricksy's. */
    json_object_set_new(head, "pose_summary", pose_summary(job, out, m.video_fps, js.model));
    json_object_set_new(head, "analysis_mode_used", json_string(mode));
    json_t *meta = json_object();
    json_object_set_new(meta, "processing_mode", json_string(cpu_job ? "cpu" : "gpu_chunked"));
    json_object_set_new(meta, "total_chunks", json_integer(job->total_chunks));
    json_object_set_new(meta, "video_duration_seconds", json_real(job->video_duration_seconds));
    json_object_set_new(meta, "sample_fps", json_real(js.sample_fps));
    json_object_set_new(meta, "max_width", json_integer(js.max_width));
    json_object_set_new(meta, "analysis_mode", json_string(job->analysis_mode));
    json_object_set_new(meta, "analysis_mode_used", json_string(mode));
    json_object_set_new(meta, "model", json_string(js.model));
    json_object_set_new(meta, "cricksy_chunks", json_boolean(m.cricksy));
    json_object_set_new(head, "meta", meta);
    json_t *outputs = json_object();
    json_object_set_new(outputs, "deep_results_s3_key", json_string(out->results_key));
    json_object_set_new(outputs, "report_html_s3_key", json_string(report_key));
    json_object_set_new(head, "outputs", outputs);
    json_object_set(head, "report", report);

    json_object_set_new(head, "job_id", json_string(job->id));
    json_object_set_new(head, "session_id", json_string(job->session_id));
    json_object_set_new(head, "analysis_mode", json_string(job->analysis_mode));
    json_object_set_new(head, "deep_mode", json_string(job->deep_mode));
    json_object_set_new(head, "video_key", json_string(job->s3_key));
    json_object_set_new(head, "video_duration_seconds", json_real(job->video_duration_seconds));
    json_object_set_new(head, "sample_fps", json_real(js.sample_fps));
    json_object_set_new(head, "chunk_seconds", json_integer(js.chunk_seconds));
    json_object_set_new(head, "results_key", json_string(out->results_key));
    json_t *summary = json_object();
    json_object_set_new(summary, "frames", json_integer(out->frames));
    json_object_set_new(summary, "frames_detected", json_integer(out->frames_detected));
    json_object_set_new(summary, "detection_rate",
                        json_real(out->frames ? (double)out->frames_detected / out->frames : 0));
    json_object_set_new(summary, "grid_gaps", json_integer(out->grid_gaps));
    json_object_set_new(summary, "cricksy_frames_dropped", json_integer(m.dropped));
    json_object_set_new(head, "summary", summary);
    json_object_set(head, "chunks", m.chunks);
    json_object_set_new(head, "frame_width",
                        m.series.width > 0 ? json_integer(m.series.width) : json_null());
    json_object_set_new(head, "frame_height",
                        m.series.height > 0 ? json_integer(m.series.height) : json_null());
    json_object_set_new(head, "frame_size_known", json_boolean(m.size_known));
    json_object_set_new(head, "report_key", json_string(report_key));
    json_t *compact = analysis_metrics_compact(metrics);
    if (compact != NULL)
        cricksy_metrics_extras(compact, out);
    json_object_set_new(head, "metrics", compact);
    json_object_set(head, "findings", findings);
    /* The pictures are made in the background while the results file is written:
     * until report_pictures_finish nothing changes what they read (the series, the
     * job), and they touch no jansson value. */
    report_pictures_start(blob, job, &js, &m.series, metrics, findings, &pictures);

    /* deep_results: metrics without per-frame arrays */
    head_text = dump(head);
    /* The results file: the full metrics with Cricksy's extras, in shallow copies of
     * the head and the metrics (the report below reads them as they are). */
    json_t *doc_obj = json_copy(head), *full = json_copy(metrics);
    if (doc_obj != NULL && full != NULL) {
        cricksy_metrics_extras(full, out);
        if (json_object_set(doc_obj, "metrics", full) == 0)
            doc_head = dump(doc_obj);
    }
    json_decref(doc_obj);
    json_decref(full);
    if (head_text == NULL || doc_head == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* {head...} -> {head...,"poses":[...]} */
    size_t hl = strlen(doc_head);
    if ((st = cr_tmpfile_create(&doc, "crease-results-", err)) != CR_OK ||
        (st = cr_tmpfile_write(&doc, doc_head, hl - 1, err)) != CR_OK ||
        (st = cr_tmpfile_write(&doc, ",\"poses\":[", 10, err)) != CR_OK ||
        (st = cr_tmpfile_append_file(&doc, &poses, err)) != CR_OK ||
        (st = cr_tmpfile_write(&doc, "]}\n", 3, err)) != CR_OK ||
        (st = cr_tmpfile_flush(&doc, err)) != CR_OK)
        goto done;
    cr_tmpfile_remove(&poses); /* before the upload: the disk holds one copy at a time */
    if ((st = blob_put_file(blob, out->results_key, doc.path, "application/json", err)) != CR_OK)
        goto done;
    report_pictures_finish(&pictures);
    size_t html_len = 0;
    st = analysis_report_html(metrics, findings, head, &m.series, &pictures.view, &html, &html_len,
                              err);
    report_pictures_free(&pictures);
    if (st != CR_OK)
        goto done;
    if ((st = blob_put(blob, report_key, html, html_len, "text/html; charset=utf-8", err)) != CR_OK)
        goto done;
    result->deep_results = cr_strdup(head_text);
    result->deep_findings = dump(findings);
    result->deep_report = dump(report);
    if (result->deep_results == NULL || result->deep_findings == NULL ||
        result->deep_report == NULL) {
        pipeline_job_result_free(result);
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    } else {
        cr_log_info("job.aggregated", "job=%s chunks=%d frames=%lld detected=%lld gaps=%lld",
                    job->id, nchunks, (long long)out->frames, (long long)out->frames_detected,
                    (long long)out->grid_gaps);
    }

done:
    report_pictures_free(&pictures); /* before the series goes: the threads read it */
    cr_free(head_text);
    cr_free(doc_head);
    cr_free(html);
    json_decref(metrics);
    json_decref(findings);
    json_decref(report);
    pipeline_merge_free(&m);
    json_decref(head);
    cr_tmpfile_remove(&poses);
    cr_tmpfile_remove(&doc);
    return st;
}

cr_status pipeline_job_aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                                 const char *const *artifact_keys, pose_tracker *tracker,
                                 pipeline_progress_fn progress, void *progress_ctx,
                                 pipeline_job_summary *out, pipeline_job_result *result,
                                 cr_err *err)
{
    return aggregate(cfg, blob, job, artifact_keys, tracker, progress, progress_ctx, 0, out, result,
                     err);
}

cr_status pipeline_job_aggregate_reference(const cr_config *cfg, blob_store *blob,
                                           const store_job *job, const char *const *artifact_keys,
                                           pose_tracker *tracker, pipeline_job_summary *out,
                                           pipeline_job_result *result, cr_err *err)
{
    return aggregate(cfg, blob, job, artifact_keys, tracker, NULL, NULL, 1, out, result, err);
}
