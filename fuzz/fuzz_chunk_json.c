/*
 * fuzz_chunk_json.c -- chunk artifacts as the analysis worker reads them
 * (pipeline_job_aggregate, pipeline.h): crease's chunk JSON and Cricksy's
 * ({"poses", "metadata"}), which in a mixed fleet another program writes.  Each input
 * is one job: its chunk artifacts are stored in a local blob store (a folder under
 * /dev/shm, else $TMPDIR or /tmp) and the job is aggregated, analysis and report
 * included.
 *
 * Input: one byte of job settings (bits 0-1 the analysis mode, bit 2 sample rate 30
 * instead of 10, bit 3 a 60-s instead of a 3-s video), then 1 to 4 artifacts separated
 * by NUL bytes (a NUL is never part of JSON text).
 *
 * Invariants checked: the merge's fast path (pipeline_int.h) gives what its reference
 * path gives -- the same status and message, poses text, chunk entries, series and
 * counters -- whatever the bytes; a failure is CR_ERR_FORMAT (malformed artifact) or
 * CR_ERR_INTERNAL (frames out of order or repeated: the merge's own check) with a
 * message; on success the three documents handed to the store are JSON,
 * final_results.json is JSON whose poses are those counted, on strictly increasing
 * grid indices, and report.html exists.
 */
#define _GNU_SOURCE /* nftw */
#include "fuzz.h"

#include "analysis/analysis.h"
#include "blob/blob.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"

#include <ftw.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#define SESSION "fuzz-session"
#define JOB "fuzz-job"
#define MAX_CHUNKS 4

static char dir[256];
static blob_store *blob;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    blob_close(blob);
    blob = NULL;
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init_quiet();
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/crease-fuzz-XXXXXX", base ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "cannot make a folder under %s", base);
    cr_err err = {0};
    FUZZ_CHECK(blob_open_local(dir, "fuzz-secret", NULL, &blob, &err) == CR_OK, "blob: %s",
               cr_err_msg(&err));
    atexit(cleanup);
    return 0;
}

static void check_results(const pipeline_job_summary *sum, const pipeline_job_result *res)
{
    const char *docs[3] = {res->deep_results, res->deep_findings, res->deep_report};
    for (int i = 0; i < 3; i++) {
        json_t *j = docs[i] ? json_loads(docs[i], 0, NULL) : NULL;
        FUZZ_CHECK(json_is_object(j), "result document %d is not a JSON object", i);
        json_decref(j);
    }
    FUZZ_CHECK(sum->frames_detected >= 0 && sum->frames_detected <= sum->frames &&
                   sum->grid_gaps >= 0,
               "frames %lld detected %lld gaps %lld", (long long)sum->frames,
               (long long)sum->frames_detected, (long long)sum->grid_gaps);
    void *data = NULL;
    size_t n = 0;
    cr_err err = {0};
    FUZZ_CHECK(blob_get(blob, sum->results_key, &data, &n, &err) == CR_OK, "results: %s",
               cr_err_msg(&err));
    json_error_t je;
    json_t *doc = json_loadb(data, n, 0, &je);
    FUZZ_CHECK(doc != NULL, "final_results.json is not JSON: %s at %d", je.text, je.position);
    json_t *poses = json_object_get(doc, "poses");
    FUZZ_CHECK(json_is_array(poses) && (int64_t)json_array_size(poses) == sum->frames,
               "%zu poses, %lld counted", json_array_size(poses), (long long)sum->frames);
    int64_t last = -1;
    size_t i;
    json_t *p;
    json_array_foreach(poses, i, p)
    {
        json_t *k = json_object_get(p, "frame_num");
        FUZZ_CHECK(json_is_integer(k) && json_integer_value(k) > last, "pose %zu frame_num", i);
        last = json_integer_value(k);
        FUZZ_CHECK(json_integer_value(json_object_get(p, "frame_index")) == (json_int_t)i,
                   "pose %zu frame_index", i);
    }
    json_decref(doc);
    cr_free(data);
    char key[BLOB_KEY_MAX + 1];
    blob_info bi;
    FUZZ_CHECK(blob_key_report(SESSION, JOB, key, sizeof key, &err) == CR_OK &&
                   blob_head(blob, key, &bi, &err) == CR_OK && bi.size > 0,
               "no report.html: %s", cr_err_msg(&err));
}

/* The merge of the artifacts both ways (merge.c): the same outcome in everything. */
static void check_merge_paths(const uint8_t *const *art, const size_t *len, int n, double rate)
{
    pipeline_merge m[2];
    cr_status st[2];
    cr_err err[2] = {{0}, {0}};
    for (int k = 0; k < 2; k++) {
        st[k] = pipeline_merge_init(&m[k], rate, k == 0, &err[k]);
        for (int i = 0; st[k] == CR_OK && i < n; i++)
            st[k] = pipeline_merge_chunk(&m[k], "chunk", i, (const char *)art[i], len[i], &err[k]);
    }
    FUZZ_CHECK(st[0] == st[1] && strcmp(err[0].msg, err[1].msg) == 0,
               "merge paths: reference %s (%s), fast %s (%s)", cr_status_str(st[0]),
               cr_err_msg(&err[0]), cr_status_str(st[1]), cr_err_msg(&err[1]));
    FUZZ_CHECK(m[0].text.len == m[1].text.len &&
                   (m[0].text.len == 0 || memcmp(m[0].text.p, m[1].text.p, m[0].text.len) == 0),
               "merge paths: the poses text differs");
    char *c0 = json_dumps(m[0].chunks, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *c1 = json_dumps(m[1].chunks, JSON_COMPACT | JSON_PRESERVE_ORDER);
    FUZZ_CHECK(c0 != NULL && c1 != NULL && strcmp(c0, c1) == 0, "merge paths: chunks differ");
    cr_free(c0);
    cr_free(c1);
    const analysis_series *a = &m[0].series, *b = &m[1].series;
    FUZZ_CHECK(a->n == b->n && a->width == b->width && a->height == b->height &&
                   (a->n == 0 || memcmp(a->frames, b->frames, a->n * sizeof a->frames[0]) == 0),
               "merge paths: the series differ");
    FUZZ_CHECK(m[0].last_k == m[1].last_k && m[0].frames == m[1].frames &&
                   m[0].frames_detected == m[1].frames_detected &&
                   m[0].grid_gaps == m[1].grid_gaps && m[0].size_known == m[1].size_known &&
                   m[0].video_fps == m[1].video_fps && m[0].cricksy == m[1].cricksy &&
                   m[0].dropped == m[1].dropped,
               "merge paths: the counters differ");
    pipeline_merge_free(&m[0]);
    pipeline_merge_free(&m[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    store_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.id, sizeof job.id, "%s", JOB);
    snprintf(job.session_id, sizeof job.session_id, "%s", SESSION);
    snprintf(job.deep_mode, sizeof job.deep_mode, "%s", "gpu");
    snprintf(job.analysis_mode, sizeof job.analysis_mode, "%s", analysis_mode_name(opt & 3));
    job.sample_rate = opt & 4 ? 30 : 10;
    job.sample_fps = (int)job.sample_rate;
    job.video_duration_seconds = opt & 8 ? 60 : 3;
    job.chunk_seconds = 1;

    const uint8_t *p = data + 1, *end = data + size;
    cr_err err = {0};
    int n = 0;
    const uint8_t *art[MAX_CHUNKS];
    size_t len[MAX_CHUNKS];
    while (n < MAX_CHUNKS) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        const uint8_t *stop = nul && n < MAX_CHUNKS - 1 ? nul : end;
        char key[BLOB_KEY_MAX + 1];
        FUZZ_CHECK(blob_key_chunk(SESSION, JOB, n, key, sizeof key, &err) == CR_OK &&
                       blob_put(blob, key, p, (size_t)(stop - p), "application/json", &err) ==
                           CR_OK,
                   "storing chunk %d: %s", n, cr_err_msg(&err));
        art[n] = p;
        len[n] = (size_t)(stop - p);
        n++;
        if (stop == end)
            break;
        p = stop + 1;
    }
    job.total_chunks = n;
    check_merge_paths(art, len, n, job.sample_rate);

    cr_config cfg;
    memset(&cfg, 0, sizeof cfg);
    pipeline_job_summary sum;
    pipeline_job_result res;
    cr_status st =
        pipeline_job_aggregate(&cfg, blob, &job, NULL, NULL, NULL, NULL, &sum, &res, &err);
    if (st != CR_OK) {
        FUZZ_CHECK(st == CR_ERR_FORMAT || st == CR_ERR_INTERNAL || st == CR_ERR_NOMEM,
                   "aggregate: %s (%s)", cr_status_str(st), cr_err_msg(&err));
        FUZZ_CHECK(err.msg[0] != '\0', "a failure without a message");
        FUZZ_CHECK(res.deep_results == NULL && res.deep_findings == NULL && res.deep_report == NULL,
                   "a failed aggregation left results");
    } else {
        check_results(&sum, &res);
    }
    pipeline_job_result_free(&res);
    return 0;
}
