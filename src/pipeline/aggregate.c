/*
 * aggregate.c -- a job's chunk artifacts into final_results.json.
 *
 * The merged file can be large (a 15-minute video at 10 fps is 9,000 poses, tens of
 * MB of JSON), so it is written as text one chunk at a time: at most one chunk's
 * parsed tree is in memory.  Chunks own disjoint ranges of the global grid
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
 */
#include "pipeline/pipeline.h"

#include "analysis/analysis.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends to the merged text (core/buf.h); the status of a failure goes to `err`. */
static cr_status text_add(cr_buf *t, const char *s, size_t n, cr_err *err)
{
    if (cr_buf_add(t, s, n) != CR_OK)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory merging results (%zu bytes)",
                          t->len + n);
    return CR_OK;
}

static cr_status text_add_json(cr_buf *t, const json_t *v, cr_err *err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7) |
                                JSON_ENCODE_ANY);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory serialising results");
    cr_status st = text_add(t, s, strlen(s), err);
    free(s);
    return st;
}

/* Appends the poses of one chunk artifact; updates the running counters. */
/* The time grid of the job and what the chunks say of the video. */
typedef struct merge_grid {
    double rate;      /* the job's sample rate */
    double video_fps; /* from the artifacts; 0 = unknown */
    int cricksy;      /* chunks in Cricksy's format */
    int64_t dropped;  /* Cricksy frames that fell on a grid point already taken */
} merge_grid;

/* A pose of Cricksy's chunk format ({"poses", "metadata"}: frame_num and timestamp
 * counted from the chunk's start) placed on the global grid: frame_num = the grid
 * index k of start_sec + timestamp, t and timestamp its time.  0: the pose falls
 * outside the chunk or on a grid point already taken (dropped). */
static int cricksy_pose_to_grid(json_t *pose, const json_t *meta, merge_grid *g, int64_t last_k)
{
    double start = json_number_value(json_object_get(meta, "start_sec"));
    double end = json_number_value(json_object_get(meta, "end_sec"));
    double fps = json_number_value(json_object_get(meta, "video_fps"));
    const json_t *ts = json_object_get(pose, "timestamp");
    double rel = json_is_number(ts) ? json_number_value(ts)
                 : fps > 0 ? (double)json_integer_value(json_object_get(pose, "frame_num")) / fps
                           : -1.0;
    double t = start + rel;
    if (!(rel >= 0.0) || !isfinite(t) || (end > start && t >= end))
        return 0;
    int64_t k = llround(t * g->rate);
    if (k <= last_k)
        return 0;
    json_object_set_new(pose, "frame_num", json_integer(k));
    json_object_set_new(pose, "t", json_real(t));
    json_object_set_new(pose, "timestamp", json_real(t));
    if (!json_is_boolean(json_object_get(pose, "detected")))
        json_object_set_new(pose, "detected",
                            json_boolean(json_is_array(json_object_get(pose, "landmarks"))));
    return 1;
}

static cr_status merge_chunk(blob_store *blob, const char *key, int index, cr_buf *poses,
                             json_t *chunks, int64_t *last_k, pipeline_job_summary *sum,
                             analysis_series *series, int *size_known, merge_grid *g, cr_err *err)
{
    void *data = NULL;
    size_t n = 0;
    cr_status st = blob_get(blob, key, &data, &n, err);
    if (st != CR_OK)
        return st;
    json_error_t je;
    json_t *doc = json_loadb(data, n, 0, &je);
    cr_free(data);
    if (doc == NULL)
        return cr_err_set(err, CR_ERR_FORMAT, "chunk %d artifact %s: bad JSON at line %d: %s",
                          index, key, je.line, je.text);
    json_t *arr = json_object_get(doc, "poses");
    if (!json_is_array(arr)) {
        json_decref(doc);
        return cr_err_set(err, CR_ERR_FORMAT, "chunk %d artifact %s: no poses array", index, key);
    }
    json_t *meta = json_object_get(doc, "metadata");
    int cricksy = json_is_object(meta) && json_object_get(doc, "chunk_index") == NULL;
    g->cricksy |= cricksy;
    double vfps = json_number_value(json_object_get(cricksy ? meta : doc, "video_fps"));
    if (vfps > 0 && g->video_fps <= 0)
        g->video_fps = vfps;
    /* the frame size of this chunk's landmarks */
    json_int_t w = json_integer_value(json_object_get(doc, "width"));
    json_int_t h = json_integer_value(json_object_get(doc, "height"));
    if (w > 0 && h > 0 && w <= 65536 && h <= 65536) {
        series->width = (int)w;
        series->height = (int)h;
    } else if (json_array_size(arr) > 0) {
        *size_known = 0;
        if (series->width <= 0) {
            series->width = 1000; /* unknown: analysed as a square frame */
            series->height = 1000;
        }
    }
    int64_t frames = 0, detected = 0;
    size_t i;
    json_t *pose;
    json_array_foreach(arr, i, pose)
    {
        if (cricksy && !cricksy_pose_to_grid(pose, meta, g, *last_k)) {
            g->dropped++;
            continue;
        }
        json_t *kv = json_object_get(pose, "frame_num");
        if (!json_is_integer(kv)) {
            st = cr_err_set(err, CR_ERR_FORMAT, "chunk %d: pose %zu has no frame_num", index, i);
            break;
        }
        int64_t k = json_integer_value(kv);
        if (k <= *last_k) {
            st = cr_err_set(err, CR_ERR_INTERNAL,
                            "chunk %d: frame_num %lld after %lld (duplicate or out of order)",
                            index, (long long)k, (long long)*last_k);
            break;
        }
        /* k > *last_k >= -1, so (k - 1) - *last_k cannot overflow; k - *last_k would
         * for a frame_num of INT64_MAX (the artifact's bytes are untrusted). */
        sum->grid_gaps += (k - 1) - *last_k;
        *last_k = k;
        /* frame_index becomes the position in the merged series. */
        json_object_set_new(pose, "frame_index", json_integer(sum->frames));
        if (sum->frames > 0 && (st = text_add(poses, ",", 1, err)) != CR_OK)
            break;
        if ((st = text_add_json(poses, pose, err)) != CR_OK)
            break;
        if ((st = analysis_series_add_pose_json(series, pose, err)) != CR_OK)
            break;
        sum->frames++;
        frames++;
        if (json_is_true(json_object_get(pose, "detected"))) {
            sum->frames_detected++;
            detected++;
        }
    }
    if (st == CR_OK) {
        json_t *c = json_object();
        json_object_set_new(c, "index", json_integer(index));
        json_object_set(c, "start_sec", json_object_get(cricksy ? meta : doc, "start_sec"));
        json_object_set(c, "end_sec", json_object_get(cricksy ? meta : doc, "end_sec"));
        json_object_set_new(c, "format", json_string(cricksy ? "cricksy" : "crease"));
        json_object_set_new(c, "frames", json_integer(frames));
        json_object_set_new(c, "frames_detected", json_integer(detected));
        json_object_set(c, "runtime_ms", json_object_get(doc, "runtime_ms"));
        json_object_set_new(c, "artifact_key", json_string(key));
        json_array_append_new(chunks, c);
    }
    json_decref(doc);
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

cr_status pipeline_job_aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                                 const char *const *artifact_keys, pose_tracker *tracker,
                                 pipeline_progress_fn progress, void *progress_ctx,
                                 pipeline_job_summary *out, pipeline_job_result *result,
                                 cr_err *err)
{
    (void)cfg;
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
        pipeline_chunk_spec spec = {job->session_id,
                                    job->id,
                                    job->s3_key,
                                    0,
                                    0.0,
                                    end,
                                    js.sample_fps,
                                    js.max_width,
                                    job->lease_token,
                                    job->video_size,
                                    job->video_etag,
                                    cfg->skip_deblock,
                                    js.subject,
                                    js.subject_x,
                                    js.subject_y};
        if ((st = pipeline_chunk_process(blob, tracker, &spec, progress, progress_ctx, &cs, err)) !=
            CR_OK)
            return st;
        nchunks = 1;
        artifact_keys = cpu_keys;
    }
    if ((st = blob_key_final_results(job->session_id, job->id, out->results_key,
                                     sizeof out->results_key, err)) != CR_OK)
        return st;

    cr_buf poses = {0}, doc = {0};
    json_t *chunks = json_array(), *head = json_object();
    json_t *metrics = NULL, *findings = NULL, *report = NULL;
    char *head_text = NULL, *doc_head = NULL, *html = NULL;
    analysis_series series = {0};
    int size_known = 1;
    merge_grid grid = {js.sample_fps, 0, 0, 0};
    if (chunks == NULL || head == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t last_k = -1;
    for (int i = 0; i < nchunks; i++) {
        char key[BLOB_KEY_MAX];
        if (artifact_keys != NULL && artifact_keys[i] != NULL)
            snprintf(key, sizeof key, "%s", artifact_keys[i]);
        else if ((st = blob_key_chunk(job->session_id, job->id, i, key, sizeof key, err)) != CR_OK)
            goto done;
        if ((st = merge_chunk(blob, key, i, &poses, chunks, &last_k, out, &series, &size_known,
                              &grid, err)) != CR_OK)
            goto done;
        if (progress != NULL && progress(progress_ctx, out->frames) != 0) {
            st = cr_err_set(err, CR_ERR_CANCELLED, "aggregation of job %s stopped", job->id);
            goto done;
        }
    }
    out->chunks = nchunks;

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
    if ((st = analysis_metrics(&series, &metrics, err)) != CR_OK ||
        (st = analysis_findings(metrics, mode, out->frames, out->frames_detected, &findings,
                                err)) != CR_OK ||
        (st = analysis_report_json(findings, mode, &report, err)) != CR_OK)
        goto done;
    if (!size_known)
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
    json_object_set_new(head, "pose_summary", pose_summary(job, out, grid.video_fps, js.model));
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
    json_object_set_new(meta, "cricksy_chunks", json_boolean(grid.cricksy));
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
    json_object_set_new(summary, "cricksy_frames_dropped", json_integer(grid.dropped));
    json_object_set_new(head, "summary", summary);
    json_object_set(head, "chunks", chunks);
    json_object_set_new(head, "frame_width",
                        series.width > 0 ? json_integer(series.width) : json_null());
    json_object_set_new(head, "frame_height",
                        series.height > 0 ? json_integer(series.height) : json_null());
    json_object_set_new(head, "frame_size_known", json_boolean(size_known));
    json_object_set_new(head, "report_key", json_string(report_key));
    json_t *compact = analysis_metrics_compact(metrics);
    if (compact != NULL)
        cricksy_metrics_extras(compact, out);
    json_object_set_new(head, "metrics", compact);
    json_object_set(head, "findings", findings);
    size_t html_len = 0;
    if ((st = analysis_report_html(metrics, findings, head, &series, &html, &html_len, err)) !=
        CR_OK)
        goto done;
    if ((st = blob_put(blob, report_key, html, html_len, "text/html; charset=utf-8", err)) != CR_OK)
        goto done;

    /* deep_results: metrics without per-frame arrays */
    head_text = dump(head);
    /* the results file: full metrics */
    cricksy_metrics_extras(metrics, out);
    json_object_set(head, "metrics", metrics);
    doc_head = dump(head);
    if (head_text == NULL || doc_head == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* {head...} -> {head...,"poses":[...]} */
    size_t hl = strlen(doc_head);
    if ((st = text_add(&doc, doc_head, hl - 1, err)) != CR_OK ||
        (st = text_add(&doc, ",\"poses\":[", 10, err)) != CR_OK ||
        (poses.len > 0 && (st = text_add(&doc, poses.p, poses.len, err)) != CR_OK) ||
        (st = text_add(&doc, "]}\n", 3, err)) != CR_OK)
        goto done;
    if ((st = blob_put(blob, out->results_key, doc.p, doc.len, "application/json", err)) != CR_OK)
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
    cr_free(head_text);
    cr_free(doc_head);
    cr_free(html);
    json_decref(metrics);
    json_decref(findings);
    json_decref(report);
    analysis_series_free(&series);
    json_decref(head);
    json_decref(chunks);
    cr_buf_release(&poses);
    cr_buf_release(&doc);
    return st;
}
