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

/* Stores the artifact under `key`: `doc` serialised compactly with the poses array,
 * whose entries `poses` holds as text (pose_json_text_append), as its last member.
 * The text is what json_dumps would write for `doc` with a "poses" array of those
 * entries added last: jansson's compact dump of an object ends in '}', so the array
 * goes in front of it. */
static cr_status put_artifact(blob_store *blob, const char *key, const json_t *doc,
                              const cr_buf *poses, cr_err *err)
{
    char *head = json_dumps(doc, POSE_JSON_DUMP_FLAGS);
    if (head == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory serialising %s", key);
    size_t n = strlen(head);
    cr_buf text = {0};
    if (n >= 2 && head[n - 1] == '}') {
        cr_buf_add(&text, head, n - 1);
        cr_buf_adds(&text, n > 2 ? ",\"poses\":[" : "\"poses\":[");
        cr_buf_add(&text, poses->p, poses->len);
        cr_buf_adds(&text, "]}");
    }
    free(head); /* jansson's allocator is the default malloc */
    cr_status st = text.st;
    if (st == CR_OK && text.p == NULL)
        st = cr_err_set(err, CR_ERR_INTERNAL, "serialising %s: not an object", key);
    else if (st != CR_OK)
        cr_err_set(err, st, "out of memory serialising %s", key);
    else
        st = blob_put(blob, key, text.p, text.len, "application/json", err);
    cr_buf_release(&text);
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

/* One chunk in progress, from chunk_open to chunk_close. */
typedef struct chunk_run {
    const pipeline_chunk_spec *spec;
    pipeline_chunk_summary *out;
    double t0;
    cr_reader *r;
    blob_reader_stats bstats; /* the reader updates it while it lives */
    video_sampler *s;
    json_t *doc;
    cr_buf poses;         /* the poses' entries as text, comma-separated (put_artifact) */
    int frame_w, frame_h; /* the sampled frames' size (analysis needs pixels) */
} chunk_run;

static void chunk_close(chunk_run *c)
{
    cr_buf_release(&c->poses);
    json_decref(c->doc);
    video_sampler_close(c->s);
    cr_reader_close(c->r);
    c->doc = NULL;
    c->s = NULL;
    c->r = NULL;
}

/* Opens the chunk's video and sampler and readies `tracker` for it.  On failure
 * nothing is left open. */
static cr_status chunk_open(blob_store *blob, pose_tracker *tracker,
                            const pipeline_chunk_spec *spec, pipeline_chunk_summary *out,
                            chunk_run *c, cr_err *err)
{
    memset(c, 0, sizeof *c);
    memset(out, 0, sizeof *out);
    c->spec = spec;
    c->out = out;
    c->t0 = now_sec();
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

    if ((st = open_video(blob, spec, &c->bstats, &c->r, err)) != CR_OK)
        goto fail;

    video_sampler_opts so;
    video_sampler_opts_default(&so);
    so.start_sec = spec->start_sec;
    so.end_sec = spec->end_sec;
    so.sample_fps = spec->sample_fps;
    so.max_width = spec->max_width;
    so.threads = spec->decoder_threads > 1 ? spec->decoder_threads : 1;
    so.read_ahead = spec->read_ahead;
    /* Keyframe bounds (pipeline.h): each boundary where the plan puts it */
    double len = spec->chunk_seconds;
    so.keyframe_start = spec->total_chunks > 0 && spec->chunk_index > 0 &&
                        fabs(spec->start_sec - spec->chunk_index * len) < 1e-6;
    so.keyframe_end = spec->total_chunks > 0 && spec->chunk_index < spec->total_chunks - 1 &&
                      fabs(spec->end_sec - (spec->chunk_index + 1) * len) < 1e-6;
    so.keyframe_reach = len / 2;
    so.skip_deblock = spec->skip_deblock;
    so.frame_pool = spec->frame_pool;
    /* The model crops small regions from the full-resolution picture and large ones
     * (and the whole-frame letterbox) from the scaled RGB24 one (pose_track_images). */
    so.source = 1;
    so.rgb = 1;
    if ((st = video_sampler_open(c->r, &so, &c->s, err)) != CR_OK)
        goto fail;

    c->doc = json_object();
    if (c->doc == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    pose_tracker_reset(tracker);
    /* Distant players: tiled detection while nobody is tracked (pose_tracker.h). */
    if ((st = pose_tracker_enable_tiles(tracker, err)) != CR_OK ||
        (st = pose_tracker_set_subject(tracker, spec->subject, (float)spec->subject_x,
                                       (float)spec->subject_y, err)) != CR_OK)
        goto fail;
    return CR_OK;
fail:
    chunk_close(c);
    return st;
}

/* The chunk's next sampled frame, or *done. */
static cr_status chunk_next(chunk_run *c, video_frame *f, int *done, cr_err *err)
{
    cr_status st = video_sampler_next(c->s, f, done, err);
    if (st == CR_OK && !*done && c->frame_w == 0) {
        c->frame_w = f->width;
        c->frame_h = f->height;
    }
    return st;
}

/* The tracking timestamp of frame f (see the top). */
static int64_t chunk_timestamp(const chunk_run *c, const video_frame *f)
{
    return llround((double)(f->k + 1) * 1e6 / c->spec->sample_fps);
}

/* Appends frame f's result; then `progress` (may stop the chunk). */
static cr_status chunk_record(chunk_run *c, const video_frame *f, const pose_result *res,
                              pipeline_progress_fn progress, void *progress_ctx, cr_err *err)
{
    pose_frame_meta meta = {f->k, f->t, c->out->frames};
    if (c->out->frames > 0 && cr_buf_add(&c->poses, ",", 1) != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "pose json: out of memory");
    cr_status st = pose_json_text_append(&c->poses, res, &meta, err);
    if (st != CR_OK)
        return st;
    c->out->frames++;
    c->out->frames_detected += res->detected;
    if (progress != NULL && progress(progress_ctx, c->out->frames) != 0)
        return cr_err_set(err, CR_ERR_CANCELLED, "chunk %d stopped", c->spec->chunk_index);
    return CR_OK;
}

/* Writes the artifact of a chunk whose frames are all recorded. */
static cr_status chunk_finish(blob_store *blob, pose_tracker *tracker, chunk_run *c, cr_err *err)
{
    const pipeline_chunk_spec *spec = c->spec;
    pipeline_chunk_summary *out = c->out;
    out->bytes_read = cr_reader_bytes_read(c->r);
    out->video_size = cr_reader_size(c->r);
    out->runtime_ms = (int)lround((now_sec() - c->t0) * 1000);

    json_t *doc = c->doc;
    json_object_set_new(doc, "job_id", json_string(spec->job_id));
    json_object_set_new(doc, "session_id", json_string(spec->session_id));
    json_object_set_new(doc, "chunk_index", json_integer(spec->chunk_index));
    json_object_set_new(doc, "start_sec", json_real(spec->start_sec));
    json_object_set_new(doc, "end_sec", json_real(spec->end_sec));
    json_object_set_new(doc, "sample_fps", json_real(spec->sample_fps));
    json_object_set_new(doc, "max_width", json_integer(spec->max_width));
    const video_info *vi = video_sampler_info(c->s);
    if (vi != NULL && vi->fps > 0)
        json_object_set_new(doc, "video_fps", json_real(vi->fps));
    if (c->frame_w > 0) {
        json_object_set_new(doc, "width", json_integer(c->frame_w));
        json_object_set_new(doc, "height", json_integer(c->frame_h));
    }
    json_object_set_new(doc, "engine", json_string(pose_tracker_engine(tracker)));
    json_object_set_new(doc, "model", json_string(pose_tracker_model(tracker)));
    json_object_set_new(doc, "frames", json_integer(out->frames));
    json_object_set_new(doc, "frames_detected", json_integer(out->frames_detected));
    json_object_set_new(doc, "runtime_ms", json_integer(out->runtime_ms));
    json_object_set_new(doc, "video_bytes_read", json_integer((json_int_t)out->bytes_read));
    return put_artifact(blob, out->artifact_key, doc, &c->poses, err);
}

/* A chunk's error as the caller sees it: a changed video says so first (it can be met
 * at the open or at any read after, through the video module). */
static cr_status chunk_error(cr_status st, const cr_err *e, cr_err *err)
{
    if (st == CR_ERR_CHANGED)
        return cr_err_set(err, st, PIPELINE_VIDEO_CHANGED ": %s", cr_err_msg(e));
    return cr_err_set(err, st, "%s", cr_err_msg(e));
}

cr_status pipeline_chunk_process(blob_store *blob, pose_tracker *tracker,
                                 const pipeline_chunk_spec *spec, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_chunk_summary *out, cr_err *err)
{
    cr_err e = {0};
    chunk_run c;
    cr_status st = chunk_open(blob, tracker, spec, out, &c, &e);
    if (st != CR_OK)
        return chunk_error(st, &e, err);
    for (;;) {
        video_frame f;
        int done = 0;
        if ((st = chunk_next(&c, &f, &done, &e)) != CR_OK || done)
            break;
        pose_result res;
        pose_image img, coarse;
        pipeline_frame_image(&f, &img);
        int has_coarse = pipeline_frame_coarse(&f, &coarse);
        if ((st = pose_track_images(tracker, &img, has_coarse ? &coarse : NULL,
                                    chunk_timestamp(&c, &f), &res, &e)) != CR_OK ||
            (st = chunk_record(&c, &f, &res, progress, progress_ctx, &e)) != CR_OK)
            break;
    }
    if (st == CR_OK)
        st = chunk_finish(blob, tracker, &c, &e);
    chunk_close(&c);
    return st != CR_OK ? chunk_error(st, &e, err) : CR_OK;
}

cr_status pipeline_chunks_process(blob_store *blob, pose_stepper *stepper,
                                  const pipeline_chunk_spec *specs, int n,
                                  pipeline_progress_fn progress, void *const *progress_ctx,
                                  pipeline_chunk_summary *out, cr_status *status, cr_err *errs)
{
    if (n < 1 || n > pose_stepper_size(stepper)) {
        for (int i = 0; i < n; i++)
            status[i] =
                cr_err_set(&errs[i], CR_ERR_INVALID, "chunks: %d for a stepper of %d trackers", n,
                           pose_stepper_size(stepper));
        return CR_ERR_INVALID;
    }
    const int size = pose_stepper_size(stepper);
    chunk_run c[POSE_STEPPER_MAX];
    int live[POSE_STEPPER_MAX] = {0}, left = 0;
    cr_err e[POSE_STEPPER_MAX];
    for (int i = 0; i < n; i++) {
        cr_err_clear(&e[i]);
        status[i] =
            chunk_open(blob, pose_stepper_tracker(stepper, i), &specs[i], &out[i], &c[i], &e[i]);
        live[i] = status[i] == CR_OK;
        left += live[i];
    }
    while (left > 0) {
        pose_step_frame fr[POSE_STEPPER_MAX];
        video_frame f[POSE_STEPPER_MAX];
        pose_image img[POSE_STEPPER_MAX], coarse[POSE_STEPPER_MAX];
        pose_result res[POSE_STEPPER_MAX];
        cr_status st[POSE_STEPPER_MAX];
        for (int i = 0; i < size; i++) {
            fr[i] = (pose_step_frame){NULL, NULL, 0};
            if (i >= n || !live[i])
                continue;
            int done = 0;
            status[i] = chunk_next(&c[i], &f[i], &done, &e[i]);
            if (status[i] == CR_OK && done) /* all frames recorded: the artifact */
                status[i] = chunk_finish(blob, pose_stepper_tracker(stepper, i), &c[i], &e[i]);
            if (status[i] != CR_OK || done) {
                chunk_close(&c[i]);
                live[i] = 0;
                left--;
                continue;
            }
            pipeline_frame_image(&f[i], &img[i]);
            fr[i].img = &img[i];
            fr[i].coarse = pipeline_frame_coarse(&f[i], &coarse[i]) ? &coarse[i] : NULL;
            fr[i].timestamp_us = chunk_timestamp(&c[i], &f[i]);
        }
        if (left == 0)
            break;
        pose_stepper_step(stepper, fr, res, st, e); /* a frame's error into its chunk's */
        for (int i = 0; i < n; i++) {
            if (!live[i] || fr[i].img == NULL)
                continue;
            status[i] = st[i] != CR_OK
                            ? st[i]
                            : chunk_record(&c[i], &f[i], &res[i], progress, progress_ctx[i], &e[i]);
            if (status[i] != CR_OK) {
                chunk_close(&c[i]);
                live[i] = 0;
                left--;
            }
        }
    }
    cr_status first = CR_OK;
    for (int i = 0; i < n; i++) {
        if (status[i] != CR_OK) {
            chunk_error(status[i], &e[i], &errs[i]);
            if (first == CR_OK)
                first = status[i];
        }
    }
    return first;
}
