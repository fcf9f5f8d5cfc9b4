/*
 * chunk.c -- one chunk of a video into its landmark artifact.
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

#include "pose/pose_json.h"
#include "video/video.h"

#include <jansson.h>
#include <math.h>
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

/* The job's video, as upload-complete pinned it when it did (pipeline.h). */
static cr_status open_video(blob_store *blob, const pipeline_chunk_spec *spec,
                            blob_reader_stats *bstats, cr_reader **r, cr_err *err)
{
    if (spec->video_etag == NULL || spec->video_etag[0] == '\0')
        return blob_open_reader(blob, spec->video_key, 0, bstats, r, err);
    blob_info pin = {.size = (uint64_t)spec->video_size};
    snprintf(pin.etag, sizeof pin.etag, "%s", spec->video_etag);
    return blob_open_reader_pinned(blob, spec->video_key, &pin, 0, bstats, r, err);
}

void pipeline_frame_image(const video_frame *f, pose_image *out)
{
    const video_picture *p = &f->src;
    memset(out, 0, sizeof *out);
    out->format = p->format == VIDEO_PIX_YUV420P ? POSE_PIX_YUV420P : POSE_PIX_RGB24;
    for (int i = 0; i < 3; i++) {
        out->data[i] = p->data[i];
        out->stride[i] = p->stride[i];
    }
    out->width = p->width;
    out->height = p->height;
    out->rotation = p->rotation;
    out->full_range = p->full_range;
}

int pipeline_frame_coarse(const video_frame *f, pose_image *out)
{
    if (f->rgb == NULL)
        return 0;
    memset(out, 0, sizeof *out);
    out->format = POSE_PIX_RGB24;
    out->data[0] = f->rgb;
    out->stride[0] = f->stride;
    out->width = f->width;
    out->height = f->height;
    out->full_range = 1;
    return 1;
}

static cr_status chunk_process(blob_store *blob, pose_tracker *tracker,
                               const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                               void *progress_ctx, pipeline_chunk_summary *out, cr_err *err)
{
    double t0 = now_sec();
    memset(out, 0, sizeof *out);
    if (!(spec->sample_fps > 0.0) || spec->max_width <= 0)
        return cr_err_set(err, CR_ERR_INVALID, "chunk %d: no sample rate or width",
                          spec->chunk_index);
    /* A claim's own key (store.h, fencing): a worker that lost its lease writes beside
     * the holder's artifact, never over it. */
    cr_status st = spec->lease_token > 0
                       ? blob_key_chunk_lease(spec->session_id, spec->job_id, spec->chunk_index,
                                              spec->lease_token, out->artifact_key,
                                              sizeof out->artifact_key, err)
                       : blob_key_chunk(spec->session_id, spec->job_id, spec->chunk_index,
                                        out->artifact_key, sizeof out->artifact_key, err);
    if (st != CR_OK)
        return st;

    cr_reader *r = NULL;
    video_sampler *s = NULL;
    json_t *doc = NULL, *poses = NULL;
    blob_reader_stats bstats = {0};
    if ((st = open_video(blob, spec, &bstats, &r, err)) != CR_OK)
        goto fail;

    video_sampler_opts so;
    video_sampler_opts_default(&so);
    so.start_sec = spec->start_sec;
    so.end_sec = spec->end_sec;
    so.sample_fps = spec->sample_fps;
    so.max_width = spec->max_width;
    so.threads = 1; /* chunks run in parallel: one decoder thread each */
    so.skip_deblock = spec->skip_deblock;
    /* The model crops small regions from the full-resolution picture and large ones
     * (and the whole-frame letterbox) from the scaled RGB24 one (pose_track_images). */
    so.source = 1;
    so.rgb = 1;
    if ((st = video_sampler_open(r, &so, &s, err)) != CR_OK)
        goto fail;

    doc = json_object();
    poses = json_array();
    if (doc == NULL || poses == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    pose_tracker_reset(tracker);
    /* Distant players: tiled detection while nobody is tracked (pose_tracker.h). */
    if ((st = pose_tracker_enable_tiles(tracker, err)) != CR_OK ||
        (st = pose_tracker_set_subject(tracker, spec->subject, (float)spec->subject_x,
                                       (float)spec->subject_y, err)) != CR_OK)
        goto fail;
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
        int64_t ts_us = llround((double)(f.k + 1) * 1e6 / spec->sample_fps);
        pose_result res;
        pose_image img, coarse;
        pipeline_frame_image(&f, &img);
        int has_coarse = pipeline_frame_coarse(&f, &coarse);
        if ((st = pose_track_images(tracker, &img, has_coarse ? &coarse : NULL, ts_us, &res,
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
    json_object_set_new(doc, "sample_fps", json_real(spec->sample_fps));
    json_object_set_new(doc, "max_width", json_integer(spec->max_width));
    const video_info *vi = video_sampler_info(s);
    if (vi != NULL && vi->fps > 0)
        json_object_set_new(doc, "video_fps", json_real(vi->fps));
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

cr_status pipeline_chunk_process(blob_store *blob, pose_tracker *tracker,
                                 const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_chunk_summary *out, cr_err *err)
{
    /* A changed video can be met at the open or at any read after (through the video
     * module): either way the message says so first. */
    cr_err e = {0};
    cr_status st = chunk_process(blob, tracker, spec, progress, progress_ctx, out, &e);
    if (st == CR_ERR_CHANGED)
        return cr_err_set(err, st, PIPELINE_VIDEO_CHANGED ": %s", cr_err_msg(&e));
    if (st != CR_OK)
        return cr_err_set(err, st, "%s", cr_err_msg(&e));
    return CR_OK;
}
