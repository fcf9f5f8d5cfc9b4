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
static cr_status merge_chunk(blob_store *blob, const char *key, int index, cr_buf *poses,
                             json_t *chunks, int64_t *last_k, pipeline_job_summary *sum,
                             analysis_series *series, int *size_known, cr_err *err)
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
        sum->grid_gaps += k - *last_k - 1;
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
        json_object_set(c, "start_sec", json_object_get(doc, "start_sec"));
        json_object_set(c, "end_sec", json_object_get(doc, "end_sec"));
        json_object_set_new(c, "frames", json_integer(frames));
        json_object_set_new(c, "frames_detected", json_integer(detected));
        json_object_set(c, "runtime_ms", json_object_get(doc, "runtime_ms"));
        json_object_set_new(c, "artifact_key", json_string(key));
        json_array_append_new(chunks, c);
    }
    json_decref(doc);
    return st;
}

cr_status pipeline_job_aggregate(const cr_config *cfg, blob_store *blob, const store_job *job,
                                 pose_tracker *tracker, pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_job_summary *out, char **summary_json,
                                 cr_err *err)
{
    memset(out, 0, sizeof *out);
    *summary_json = NULL;
    cr_status st;
    int nchunks = job->total_chunks;
    int cpu_job = nchunks == 0;
    if (cpu_job) {
        /* deep_mode 'cpu': the whole video is one chunk, processed here. */
        if (tracker == NULL)
            return cr_err_set(err, CR_ERR_INVALID, "job %s needs a pose tracker ('cpu' job)",
                              job->id);
        pipeline_chunk_spec spec = {job->session_id, job->id, job->s3_key, 0, 0.0, INFINITY};
        pipeline_chunk_summary cs;
        if ((st = pipeline_chunk_process(cfg, blob, tracker, &spec, progress, progress_ctx, &cs,
                                         err)) != CR_OK)
            return st;
        nchunks = 1;
    }
    if ((st = blob_key_final_results(job->session_id, job->id, out->results_key,
                                     sizeof out->results_key, err)) != CR_OK)
        return st;

    cr_buf poses = {0}, doc = {0};
    json_t *chunks = json_array(), *head = json_object();
    json_t *metrics = NULL, *findings = NULL;
    char *head_text = NULL, *doc_head = NULL, *html = NULL;
    analysis_series series = {0};
    int size_known = 1;
    if (chunks == NULL || head == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t last_k = -1;
    for (int i = 0; i < nchunks; i++) {
        char key[BLOB_KEY_MAX];
        if ((st = blob_key_chunk(job->session_id, job->id, i, key, sizeof key, err)) != CR_OK)
            goto done;
        if ((st = merge_chunk(blob, key, i, &poses, chunks, &last_k, out, &series, &size_known,
                              err)) != CR_OK)
            goto done;
        if (progress != NULL && progress(progress_ctx, out->frames) != 0) {
            st = cr_err_set(err, CR_ERR_CANCELLED, "aggregation of job %s stopped", job->id);
            goto done;
        }
    }
    out->chunks = nchunks;

    /* The head of the results: everything but the poses; it is also the summary
     * stored in deep_results. */
    json_object_set_new(head, "job_id", json_string(job->id));
    json_object_set_new(head, "session_id", json_string(job->session_id));
    json_object_set_new(head, "analysis_mode", json_string(job->analysis_mode));
    json_object_set_new(head, "deep_mode", json_string(job->deep_mode));
    json_object_set_new(head, "video_key", json_string(job->s3_key));
    json_object_set_new(head, "video_duration_seconds", json_real(job->video_duration_seconds));
    json_object_set_new(head, "sample_fps", json_real(cfg->sample_fps));
    json_object_set_new(head, "chunk_seconds", json_integer(cfg->chunk_seconds));
    json_object_set_new(head, "results_key", json_string(out->results_key));
    json_t *summary = json_object();
    json_object_set_new(summary, "frames", json_integer(out->frames));
    json_object_set_new(summary, "frames_detected", json_integer(out->frames_detected));
    json_object_set_new(summary, "detection_rate",
                        json_real(out->frames ? (double)out->frames_detected / out->frames : 0));
    json_object_set_new(summary, "grid_gaps", json_integer(out->grid_gaps));
    json_object_set_new(head, "summary", summary);
    json_object_set(head, "chunks", chunks);
    json_object_set_new(head, "frame_width",
                        series.width > 0 ? json_integer(series.width) : json_null());
    json_object_set_new(head, "frame_height",
                        series.height > 0 ? json_integer(series.height) : json_null());
    json_object_set_new(head, "frame_size_known", json_boolean(size_known));

    /* Analysis: metrics, findings for the job's mode (none or one findings do not
     * know: batting, Cricksy's default), report.html. */
    const char *mode = job->analysis_mode;
    if (!analysis_mode_valid(mode)) {
        cr_log_warn("job.analysis", "job=%s unknown analysis_mode '%s': analysed as batting",
                    job->id, mode);
        mode = "batting";
    }
    if ((st = analysis_metrics(&series, &metrics, err)) != CR_OK ||
        (st = analysis_findings(metrics, mode, out->frames, out->frames_detected, &findings,
                                err)) != CR_OK)
        goto done;
    if (!size_known)
        json_object_set_new(json_object_get(metrics, "meta"), "note",
                            json_string("frame size missing from the chunk artifacts: "
                                        "analysed as a square frame"));
    char report_key[BLOB_KEY_MAX];
    if ((st = blob_key_report(job->session_id, job->id, report_key, sizeof report_key, err)) !=
        CR_OK)
        goto done;
    json_object_set_new(head, "report_key", json_string(report_key));
    json_object_set_new(head, "metrics", analysis_metrics_compact(metrics));
    json_object_set(head, "findings", findings);
    size_t html_len = 0;
    if ((st = analysis_report_html(metrics, findings, head, &series, &html, &html_len, err)) !=
        CR_OK)
        goto done;
    if ((st = blob_put(blob, report_key, html, html_len, "text/html; charset=utf-8", err)) != CR_OK)
        goto done;

    /* the summary: metrics without per-frame arrays */
    head_text = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    /* the results file: full metrics */
    json_object_set(head, "metrics", metrics);
    doc_head = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
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
    *summary_json = cr_strdup(head_text);
    if (*summary_json == NULL)
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    else
        cr_log_info("job.aggregated", "job=%s chunks=%d frames=%lld detected=%lld gaps=%lld",
                    job->id, nchunks, (long long)out->frames, (long long)out->frames_detected,
                    (long long)out->grid_gaps);

done:
    free(head_text);
    free(doc_head);
    cr_free(html);
    json_decref(metrics);
    json_decref(findings);
    analysis_series_free(&series);
    json_decref(head);
    json_decref(chunks);
    cr_buf_release(&poses);
    cr_buf_release(&doc);
    return st;
}
