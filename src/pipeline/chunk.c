/*
 * chunk.c -- one chunk of a video into its landmark artifact, and the submission
 * of a video (upload + upload-complete without the HTTP API).
 *
 * Tracking timestamps: the tracker's One Euro filters need increasing times and
 * MediaPipe's filter ignores a first timestamp of 0 (POSE-NOTES), so frame k is
 * given the time (k + 1) / fps.  Only differences matter to the filters, so this
 * shift changes nothing else.
 *
 * The artifact records the size of the sampled frames (`width`, `height`, after
 * rotation and scaling; absent when the chunk has no frame): landmarks are
 * normalized to it, and the analysis converts them back to pixels.
 */
#include "pipeline/pipeline.h"

#include "core/log.h"
#include "core/mem.h"
#include "pose/pose_json.h"
#include "video/video.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Serialises `doc` compactly and stores it under `key`. */
static cr_status put_json(blob_store *blob, const char *key, const json_t *doc, cr_err *err)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    if (text == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory serialising %s", key);
    cr_status st = blob_put(blob, key, text, strlen(text), "application/json", err);
    free(text);
    return st;
}

cr_status pipeline_chunk_process(const cr_config *cfg, blob_store *blob, pose_tracker *tracker,
                                 const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_chunk_summary *out, cr_err *err)
{
    double t0 = now_sec();
    memset(out, 0, sizeof *out);
    cr_status st = blob_key_chunk(spec->session_id, spec->job_id, spec->chunk_index,
                                  out->artifact_key, sizeof out->artifact_key, err);
    if (st != CR_OK)
        return st;

    cr_reader *r = NULL;
    video_sampler *s = NULL;
    json_t *doc = NULL, *poses = NULL;
    blob_reader_stats bstats = {0};
    if ((st = blob_open_reader(blob, spec->video_key, 0, &bstats, &r, err)) != CR_OK)
        goto fail;

    video_sampler_opts so;
    video_sampler_opts_default(&so);
    so.start_sec = spec->start_sec;
    so.end_sec = spec->end_sec;
    so.sample_fps = cfg->sample_fps;
    so.max_width = cfg->max_width;
    so.threads = 1; /* chunks run in parallel: one decoder thread each */
    if ((st = video_sampler_open(r, &so, &s, err)) != CR_OK)
        goto fail;

    doc = json_object();
    poses = json_array();
    if (doc == NULL || poses == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    pose_tracker_reset(tracker);
    int frame_w = 0, frame_h = 0; /* the sampled frames' size (analysis needs pixels) */
    for (;;) {
        video_frame f;
        int done = 0;
        if ((st = video_sampler_next(s, &f, &done, err)) != CR_OK)
            goto fail;
        if (done)
            break;
        if (frame_w == 0) {
            frame_w = f.width;
            frame_h = f.height;
        }
        int64_t ts_us = llround((double)(f.k + 1) * 1e6 / cfg->sample_fps);
        pose_result res;
        if ((st = pose_track_frame(tracker, f.rgb, f.width, f.height, f.stride, ts_us, &res,
                                   err)) != CR_OK)
            goto fail;
        pose_frame_meta meta = {f.k, f.t, out->frames};
        if ((st = pose_json_append(poses, &res, &meta, err)) != CR_OK)
            goto fail;
        out->frames++;
        out->frames_detected += res.detected;
        if (progress != NULL && progress(progress_ctx, out->frames) != 0) {
            st = cr_err_set(err, CR_ERR_CANCELLED, "chunk %d stopped", spec->chunk_index);
            goto fail;
        }
    }
    out->bytes_read = cr_reader_bytes_read(r);
    out->video_size = cr_reader_size(r);
    out->runtime_ms = (int)lround((now_sec() - t0) * 1000);

    json_object_set_new(doc, "job_id", json_string(spec->job_id));
    json_object_set_new(doc, "session_id", json_string(spec->session_id));
    json_object_set_new(doc, "chunk_index", json_integer(spec->chunk_index));
    json_object_set_new(doc, "start_sec", json_real(spec->start_sec));
    json_object_set_new(doc, "end_sec", json_real(spec->end_sec));
    json_object_set_new(doc, "sample_fps", json_real(cfg->sample_fps));
    json_object_set_new(doc, "max_width", json_integer(cfg->max_width));
    if (frame_w > 0) {
        json_object_set_new(doc, "width", json_integer(frame_w));
        json_object_set_new(doc, "height", json_integer(frame_h));
    }
    json_object_set_new(doc, "engine", json_string(pose_tracker_engine(tracker)));
    json_object_set_new(doc, "model", json_string(pose_tracker_model(tracker)));
    json_object_set_new(doc, "frames", json_integer(out->frames));
    json_object_set_new(doc, "frames_detected", json_integer(out->frames_detected));
    json_object_set_new(doc, "runtime_ms", json_integer(out->runtime_ms));
    json_object_set_new(doc, "video_bytes_read", json_integer((json_int_t)out->bytes_read));
    json_object_set(doc, "poses", poses);
    if ((st = put_json(blob, out->artifact_key, doc, err)) != CR_OK)
        goto fail;
    json_decref(poses);
    json_decref(doc);
    video_sampler_close(s);
    cr_reader_close(r);
    return CR_OK;

fail:
    json_decref(poses);
    json_decref(doc);
    video_sampler_close(s);
    cr_reader_close(r);
    return st;
}

cr_status pipeline_submit_file(const cr_config *cfg, blob_store *blob, store *st, const char *path,
                               const char *analysis_mode, int chunked, pipeline_submission *out,
                               cr_err *err)
{
    memset(out, 0, sizeof *out);
    cr_status s;
    cr_reader *local = NULL, *r = NULL;
    video_chunk *plan = NULL;
    store_chunk_span *spans = NULL;
    size_t n = 0;
    int uploaded = 0;

    /* Reject what is not a usable video before storing anything. */
    video_info info;
    if ((s = cr_reader_open_file(path, &local, err)) != CR_OK)
        return s;
    s = video_probe(local, &info, err);
    cr_reader_close(local);
    if (s != CR_OK)
        return s;
    if (info.still_image)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: a still image, not a video", path);

    if ((s = store_uuid(out->session_id, err)) != CR_OK)
        return s;
    if ((s = blob_key_original(out->session_id, out->video_key, sizeof out->video_key, err)))
        return s;
    if ((s = blob_put_file(blob, out->video_key, path, "video/mp4", err)) != CR_OK)
        return s;
    uploaded = 1;

    /* What upload-complete does: probe the stored object by range reads. */
    if ((s = blob_open_reader(blob, out->video_key, 0, NULL, &r, err)) != CR_OK)
        goto fail;
    s = video_probe(r, &info, err);
    cr_reader_close(r);
    if (s != CR_OK)
        goto fail;
    if ((s = video_chunk_plan(info.duration_seconds, cfg->chunk_seconds, &plan, &n, err)))
        goto fail;
    spans = cr_calloc(n, sizeof *spans);
    if (spans == NULL) {
        s = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        spans[i].start_sec = plan[i].start_sec;
        spans[i].end_sec = plan[i].end_sec;
    }

    store_job_new jn = {0};
    jn.session_id = out->session_id;
    jn.deep_mode = chunked ? STORE_DEEP_MODE_GPU : STORE_DEEP_MODE_CPU;
    jn.analysis_mode = analysis_mode;
    jn.s3_bucket = cfg->blob == CR_BLOB_S3 ? cfg->bucket : NULL;
    jn.s3_key = out->video_key;
    jn.sample_fps = (int)lround(cfg->sample_fps);
    if ((s = store_job_create(st, &jn, out->job_id, sizeof out->job_id, err)) != CR_OK)
        goto fail;
    if ((s = store_chunks_create(st, out->job_id, spans, chunked ? (int)n : 0,
                                 info.duration_seconds, 0, NULL, err)) != CR_OK)
        goto fail;
    out->duration_seconds = info.duration_seconds;
    out->chunks = chunked ? (int)n : 0;
    cr_free(spans);
    cr_free(plan);
    cr_log_info("job.submitted", "job=%s session=%s duration=%.2fs chunks=%d", out->job_id,
                out->session_id, out->duration_seconds, out->chunks);
    return CR_OK;

fail:
    if (uploaded) {
        cr_err ignore = {0};
        blob_delete(blob, out->video_key, &ignore);
    }
    cr_free(spans);
    cr_free(plan);
    return s;
}
