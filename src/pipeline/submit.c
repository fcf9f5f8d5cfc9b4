/*
 * submit.c -- the one way a video comes in (DESIGN.md §4, steps 1-3): a job for a
 * video in the blob store (pipeline_submit), upload-complete (pipeline_complete_upload)
 * and both from a local file (pipeline_submit_file).  The API's routes and the
 * `crease submit` / `crease analyze` commands all go through here.
 *
 * Upload-complete never downloads the video: it HEADs the object, then probes it
 * through the blob reader, whose ranged reads fetch only what FFmpeg's probing needs
 * (headers and a few packets).  The chunk plan and the move to queued are one store
 * call (store_chunks_create_pinned), which is idempotent, so two completes racing each
 * other still create the chunks once.
 *
 * The object analysed is the object checked (DESIGN.md §10): the probe reads through
 * a reader pinned to the HEAD's size and etag, so the limits and the plan are those of
 * that one object, and the same call that queues the job records the pin; every
 * worker then reads only that object (chunk.c).  A presigned PUT that replaces the
 * video later (S3 cannot refuse it before the URL expires; crease's /blobs/ refuses
 * it) makes the job fail with PIPELINE_VIDEO_CHANGED instead of analysing other bytes.
 */
#include "pipeline/pipeline.h"

#include "core/log.h"
#include "core/mem.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void store_lock(pthread_mutex_t *m)
{
    if (m != NULL)
        pthread_mutex_lock(m);
}

static void store_unlock(pthread_mutex_t *m)
{
    if (m != NULL)
        pthread_mutex_unlock(m);
}

/* Rejects a local file that is not a usable video, before anything is stored. */
static cr_status check_local_video(const char *path, cr_err *err)
{
    cr_reader *local = NULL;
    video_info info;
    cr_status s = cr_reader_open_file(path, &local, err);
    if (s != CR_OK)
        return s;
    s = video_probe(local, &info, err);
    cr_reader_close(local);
    if (s != CR_OK)
        return s;
    if (info.still_image)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: a still image, not a video", path);
    return CR_OK;
}

cr_status pipeline_submit(const cr_config *cfg, blob_store *blob, store *st,
                          pthread_mutex_t *st_lock, const pipeline_submit_opts *o,
                          pipeline_submission *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    cr_status s;
    if (o->path != NULL && (s = check_local_video(o->path, err)) != CR_OK)
        return s;
    if (o->session_id != NULL) {
        snprintf(out->session_id, sizeof out->session_id, "%s", o->session_id);
    } else {
        const char *title = o->title;
        if (title == NULL && o->path != NULL) {
            const char *slash = strrchr(o->path, '/');
            title = slash != NULL ? slash + 1 : o->path;
        }
        char t[STORE_TITLE_MAX];
        snprintf(t, sizeof t, "%s", title != NULL && *title ? title : "Net session");
        store_session_new sn = {.owner_type = o->owner_type,
                                .owner_id = o->owner_id != NULL ? o->owner_id : "local",
                                .title = t};
        store_lock(st_lock);
        s = store_session_create(st, &sn, out->session_id, sizeof out->session_id, err);
        store_unlock(st_lock);
        if (s != CR_OK)
            return s;
    }
    /* A new session's video at DESIGN.md §4's key; a job added to an existing session
     * (Cricksy's initiate with session_id) gets a key of its own, so that its upload
     * never replaces the video an earlier job of the session analysed. */
    char job_id[37];
    if ((s = store_uuid(job_id, err)) != CR_OK)
        return s;
    s = o->session_id == NULL
            ? blob_key_original(out->session_id, out->video_key, sizeof out->video_key, err)
            : blob_key_job_original(out->session_id, job_id, out->video_key, sizeof out->video_key,
                                    err);
    if (s != CR_OK)
        return s;
    /* Linked: a local store on the file's file system keeps a hard link, not a copy
     * (a phone's 15-minute video is over a gigabyte); the pin taken at upload-complete
     * catches a file changed afterwards. */
    if (o->path != NULL &&
        (s = o->link_file
                 ? blob_put_file_shared(blob, out->video_key, o->path, "video/mp4", NULL, err)
                 : blob_put_file(blob, out->video_key, o->path, "video/mp4", err)) != CR_OK)
        return s;

    store_job_new jn = {0};
    jn.id = job_id;
    jn.session_id = out->session_id;
    jn.deep_mode = o->chunked ? STORE_DEEP_MODE_GPU : STORE_DEEP_MODE_CPU;
    jn.analysis_mode = o->analysis_mode;
    jn.s3_bucket = cfg->blob == CR_BLOB_S3 ? cfg->bucket : NULL;
    jn.s3_key = out->video_key;
    jn.sample_rate = o->sample_fps > 0 ? o->sample_fps : cfg->sample_fps;
    jn.chunk_seconds = o->chunk_seconds > 0 ? o->chunk_seconds : cfg->chunk_seconds;
    jn.max_width = o->max_width > 0 ? o->max_width : cfg->max_width;
    jn.model = o->model != NULL ? o->model : STORE_JOB_DEFAULT_MODEL;
    jn.include_frames = o->include_frames;
    jn.subject = o->subject;
    jn.subject_x = o->subject_x;
    jn.subject_y = o->subject_y;
    store_lock(st_lock);
    s = store_job_create(st, &jn, out->job_id, sizeof out->job_id, err);
    if (s == CR_OK)
        s = store_session_set_upload(st, out->session_id, jn.s3_bucket, jn.s3_key, err);
    store_unlock(st_lock);
    if (s != CR_OK && o->path != NULL) {
        cr_err ignore = {0};
        blob_delete(blob, out->video_key, &ignore);
    }
    return s;
}

/* A container duration the video's packets do not reach by more than this is not
 * planned: 2 s is twice the sampler's truncation slack (VIDEO_TRUNC_SLACK, video.c),
 * above any frame gap of phone video; 5 % allows for audio that outlasts the video
 * by a little at long durations.  Chosen, not measured. */
#define CLAIM_SLACK_SECONDS 2.0
#define CLAIM_SLACK_FRACTION 0.05

/* The duration to plan: the container's, or where the video's frames really end when
 * the container claims clearly more (a header rewritten to say 10 h over 4 s of
 * frames, or audio that goes on long after the video).  The plan covers the real
 * frames rather than rejecting the video: those frames are real and worth analysing,
 * a long audio tail is a benign file, and the cost is bounded by what is really
 * there; poses of a frozen last frame would be nonsense either way. */
static double planned_duration(const video_info *info, const char *key)
{
    double claimed = info->duration_seconds, real = info->content_seconds;
    double slack = fmax(CLAIM_SLACK_SECONDS, CLAIM_SLACK_FRACTION * real);
    if (!(real > 0) || claimed <= real + slack)
        return claimed;
    cr_log_warn("video.short_content",
                "%s: the container claims %.3f s but the video stream ends at %.3f s: "
                "planning %.3f s",
                key, claimed, real, real);
    return real;
}

/* Checks the probed video against the limits of cfg (DESIGN.md §10); CR_ERR_LIMIT
 * naming the limit and the value. */
static cr_status check_limits(const cr_config *cfg, const video_info *info, double duration,
                              int chunk_seconds, cr_err *err)
{
    long long px = (long long)info->width * info->height;
    if (px > cfg->max_pixels)
        return cr_err_set(err, CR_ERR_LIMIT,
                          "the video's picture is %dx%d (%lld pixels), above the limit of %lld "
                          "pixels (CREASE_MAX_PIXELS)",
                          info->width, info->height, px, cfg->max_pixels);
    if (duration > cfg->max_duration_seconds)
        return cr_err_set(err, CR_ERR_LIMIT,
                          "the video lasts %.1f s, above the limit of %d s "
                          "(CREASE_MAX_DURATION_SECONDS)",
                          duration, cfg->max_duration_seconds);
    double chunks = ceil(duration / chunk_seconds);
    if (chunks > cfg->max_chunks)
        return cr_err_set(err, CR_ERR_LIMIT,
                          "the video (%.1f s) needs %.0f chunks of %d s, above the limit of %d "
                          "chunks (CREASE_MAX_CHUNKS)",
                          duration, chunks, chunk_seconds, cfg->max_chunks);
    return CR_OK;
}

/* HEADs and probes the video at `key`, checks it against the limits and plans its
 * chunks into *spans (cr_free); *pin gets what the HEAD said of the object (its etag
 * "" when the backend gave none: nothing to pin).  *rejected = 1 when the video itself
 * is at fault (not when a store failed, nor when it was replaced meanwhile). */
static cr_status plan_object(const cr_config *cfg, int chunk_seconds, blob_store *blob,
                             const char *key, double *duration, store_chunk_span **spans, size_t *n,
                             blob_info *pin, int *rejected, cr_err *err)
{
    blob_info *bi = pin;
    cr_err e = {0};
    cr_status s = blob_head(blob, key, bi, &e);
    if (s == CR_ERR_NOT_FOUND)
        return cr_err_set(err, CR_ERR_CONFLICT, "the video has not been uploaded");
    if (s != CR_OK)
        return cr_err_set(err, s, "%s", cr_err_msg(&e));
    if ((long long)bi->size > cfg->max_upload_bytes) {
        *rejected = 1;
        return cr_err_set(err, CR_ERR_LIMIT,
                          "the video is %llu bytes, above the limit of %lld bytes "
                          "(CREASE_MAX_UPLOAD_BYTES)",
                          (unsigned long long)bi->size, cfg->max_upload_bytes);
    }

    cr_reader *r = NULL;
    video_info info;
    if (bi->etag[0] == '\0')
        cr_log_warn("video.unpinned", "%s: the blob store gave no etag: the video is not pinned",
                    key);
    s = bi->etag[0] != '\0' ? blob_open_reader_pinned(blob, key, bi, 0, NULL, &r, err)
                            : blob_open_reader(blob, key, 0, NULL, &r, err);
    if (s == CR_OK) {
        s = video_probe(r, &info, err);
        cr_reader_close(r);
    }
    if (s == CR_OK && info.still_image)
        s = cr_err_set(err, CR_ERR_FORMAT, "a still image, not a video");
    double planned = s == CR_OK ? planned_duration(&info, key) : 0;
    if (s == CR_OK)
        s = check_limits(cfg, &info, planned, chunk_seconds, err);
    video_chunk *plan = NULL;
    if (s == CR_OK)
        s = video_chunk_plan(planned, chunk_seconds, &plan, n, err);
    if (s != CR_OK) {
        *rejected = !(s == CR_ERR_NOMEM || s == CR_ERR_DB || s == CR_ERR_NET ||
                      s == CR_ERR_TIMEOUT || s == CR_ERR_IO || s == CR_ERR_CHANGED);
        return s;
    }
    *spans = cr_calloc(*n, sizeof **spans);
    if (*spans == NULL) {
        cr_free(plan);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < *n; i++) {
        (*spans)[i].start_sec = plan[i].start_sec;
        (*spans)[i].end_sec = plan[i].end_sec;
    }
    cr_free(plan);
    *duration = planned;
    return CR_OK;
}

void pipeline_job_settings_of(const store_job *job, pipeline_job_settings *out)
{
    memset(out, 0, sizeof *out);
    out->sample_fps = job->sample_rate > 0  ? job->sample_rate
                      : job->sample_fps > 0 ? job->sample_fps
                                            : 10.0; /* DESIGN.md §2 */
    out->max_width = job->max_width > 0 ? job->max_width : STORE_JOB_DEFAULT_MAX_WIDTH;
    out->chunk_seconds =
        job->chunk_seconds > 0 ? job->chunk_seconds : STORE_JOB_DEFAULT_CHUNK_SECONDS;
    snprintf(out->model, sizeof out->model, "%s",
             job->model[0] != '\0' ? job->model : STORE_JOB_DEFAULT_MODEL);
    out->subject = job->subject;
    out->subject_x = job->subject_x;
    out->subject_y = job->subject_y;
}

cr_status pipeline_complete_upload(const cr_config *cfg, blob_store *blob, store *st,
                                   pthread_mutex_t *st_lock, const char *job_id,
                                   pipeline_upload *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    store_job job;
    store_lock(st_lock);
    cr_status s = store_job_get(st, job_id, &job, err);
    store_unlock(st_lock);
    if (s != CR_OK)
        return s;
    if (strcmp(job.status, STORE_JOB_AWAITING_UPLOAD) != 0) { /* already completed */
        out->job = job;
        out->duration_seconds = job.video_duration_seconds;
        out->chunks = job.total_chunks;
        return CR_OK;
    }

    double duration = 0;
    store_chunk_span *spans = NULL;
    size_t n = 0;
    int rejected = 0;
    /* The chunk length is the job's; one Cricksy's initiate made has none yet: it is
     * fixed now, from this process's default, and stored before chunks exist. */
    int chunk_seconds = job.chunk_seconds > 0 ? job.chunk_seconds : cfg->chunk_seconds;
    if (job.chunk_seconds <= 0) {
        store_lock(st_lock);
        s = store_job_fix_chunk_seconds(st, job.id, chunk_seconds, err);
        if (s == CR_OK)
            s = store_job_get(st, job.id, &job, err);
        store_unlock(st_lock);
        if (s != CR_OK)
            return s;
        chunk_seconds = job.chunk_seconds > 0 ? job.chunk_seconds : chunk_seconds;
    }
    blob_info bi;
    s = plan_object(cfg, chunk_seconds, blob, job.s3_key, &duration, &spans, &n, &bi, &rejected,
                    err);
    if (s != CR_OK) {
        out->video_rejected = rejected;
        return s;
    }
    store_video_pin pin = {.size = (int64_t)bi.size};
    snprintf(pin.etag, sizeof pin.etag, "%s", bi.etag);
    int chunks = strcmp(job.deep_mode, STORE_DEEP_MODE_GPU) == 0 ? (int)n : 0;
    store_lock(st_lock);
    s = store_chunks_create_pinned(st, job.id, spans, chunks, duration, 0,
                                   pin.etag[0] != '\0' ? &pin : NULL, NULL, err);
    if (s == CR_OK)
        s = store_job_get(st, job.id, &job, err);
    store_unlock(st_lock);
    cr_free(spans);
    if (s != CR_OK)
        return s;
    out->job = job;
    out->duration_seconds = duration;
    out->chunks = chunks;
    out->queued = 1;
    return CR_OK;
}

cr_status pipeline_submit_file(const cr_config *cfg, blob_store *blob, store *st,
                               const pipeline_submit_opts *o, pipeline_submission *out, cr_err *err)
{
    cr_status s = pipeline_submit(cfg, blob, st, NULL, o, out, err);
    if (s != CR_OK)
        return s;
    pipeline_upload up;
    if ((s = pipeline_complete_upload(cfg, blob, st, NULL, out->job_id, &up, err)) != CR_OK) {
        cr_err ignore = {0};
        blob_delete(blob, out->video_key, &ignore);
        return s;
    }
    out->duration_seconds = up.duration_seconds;
    out->chunks = up.chunks;
    cr_log_info("job.submitted", "job=%s session=%s duration=%.2fs chunks=%d", out->job_id,
                out->session_id, out->duration_seconds, out->chunks);
    return CR_OK;
}
