/*
 * pipeline_int.h -- the pipeline module's private parts: the merge of a job's chunk
 * artifacts into one pose series (merge.c), used by aggregate.c, by the module's
 * tests, bench/pipeline and fuzz/fuzz_chunk_json.c.  Not for use by other modules.
 *
 * pipeline_merge_chunk takes one artifact's bytes at a time, in chunk index order,
 * and appends its poses to the merged text and to the analysis series.  It has two
 * paths that give the same result, byte for byte (merge.c's header says how and
 * why): the reference one (jansson: parse the artifact, fix up each pose, dump it)
 * and the fast one (the pose text is copied as it is when it is jansson's own compact
 * text of itself, which a crease artifact's is).  The fast one hands any artifact it
 * cannot prove it reproduces exactly to the reference one, errors included, so
 * callers see one behaviour; `reference` forces the reference path (tests, bench).
 *
 * Memory: the merge owns `text`, `chunks` and `series` until pipeline_merge_free.
 * Threads: one merge is used by one thread.
 */
#ifndef CR_PIPELINE_PIPELINE_INT_H
#define CR_PIPELINE_PIPELINE_INT_H

#include "analysis/analysis.h"
#include "core/buf.h"
#include "pipeline/pipeline.h"
#include "core/status.h"

#include <jansson.h>
#include <stdint.h>

typedef struct pipeline_merge {
    /* set by pipeline_merge_init, read-only after */
    double rate;   /* the job's sample rate: Cricksy's poses are placed on its grid */
    int reference; /* 1: every chunk through the reference path */
    /* The poses text of what was merged since the caller last emptied it (the caller
     * may cr_buf_truncate it to 0 between chunks, as aggregate.c does to write it to
     * a file): the compact JSON of each pose, a comma before each but the first pose
     * of the series, so the concatenation of all of it is the inside of "poses":[...]. */
    cr_buf text;
    json_t *chunks; /* one entry per chunk merged: the results' "chunks" array */
    analysis_series series;
    int64_t last_k; /* frame_num of the last pose merged; -1 before the first */
    int64_t frames, frames_detected;
    int64_t grid_gaps; /* grid points missing between the first and last frame */
    int size_known;    /* 0 once a chunk with poses had no frame size */
    double video_fps;  /* from the artifacts; 0 = unknown */
    int cricksy;       /* a chunk was in Cricksy's format */
    int64_t dropped;   /* Cricksy frames that fell on a grid point already taken */
    int chunks_fast;   /* chunks merged by the fast path (the others: the reference) */
} pipeline_merge;

/* An empty merge for a job sampled at `rate` frames per second.  CR_ERR_NOMEM. */
cr_status pipeline_merge_init(pipeline_merge *m, double rate, int reference, cr_err *err);

/* Merges the artifact `data` (n bytes; chunk `index`, stored under `key`, both only
 * for the results and the messages).  Errors: CR_ERR_FORMAT for bytes that are not an
 * artifact (bad JSON, no poses array, a pose without frame_num, a landmark that is not
 * a point), CR_ERR_INTERNAL for a frame_num not after the previous one (a duplicate
 * or a chunk out of order: a bug upstream), CR_ERR_NOMEM.  After a failure the merge
 * is unusable but can be freed. */
cr_status pipeline_merge_chunk(pipeline_merge *m, const char *key, int index, const char *data,
                               size_t n, cr_err *err);

void pipeline_merge_free(pipeline_merge *m);

/* pipeline_job_aggregate (pipeline.h) with every chunk merged by the reference path:
 * the oracle of the tests and the benchmark, which compare its stored results and
 * report with pipeline_job_aggregate's, byte for byte. */
cr_status pipeline_job_aggregate_reference(const cr_config *cfg, blob_store *blob,
                                           const store_job *job, const char *const *artifact_keys,
                                           pose_tracker *tracker, pipeline_job_summary *out,
                                           pipeline_job_result *result, cr_err *err);

#endif
