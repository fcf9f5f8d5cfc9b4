/*
 * bench_aggregate.c -- how long a job's aggregation (pipeline_job_aggregate: the merge
 * of its chunk artifacts, the metrics, findings, report and final_results.json)
 * takes, on a job `crease analyze` already finished.
 *
 *   bench_aggregate DIR [RUNS]
 *
 * DIR is the folder `crease analyze` ran in (its ./crease-data: the SQLite store and
 * the local blob folder).  The newest done job there is aggregated as the analysis
 * worker would, writing its final_results.json and report.html again (same keys, same
 * bytes); the job's video is taken as it is now (the pin upload-complete recorded is
 * replaced by the object's current size and etag, so a copy of DIR works).  Variants:
 *   v1  the merge's reference path (pipeline_job_aggregate_reference)
 *   v2  pipeline_job_aggregate (the fast path where it applies)
 * Each runs once untimed, then RUNS (default 5) timed runs; reported: the wall time
 * of each run, the best and the median.
 *
 * Validation before timing: every run of both variants must store the same bytes
 * (FNV-1a of final_results.json and report.html) as the first run of v1.  The hashes
 * are printed, so two builds can be compared on the same job too.  On a shared
 * machine expect noisy times: compare medians taken in the same conditions.
 */
#include "blob/blob.h"
#include "core/config.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 50

static const char *const variants[] = {
    "v1 reference merge (jansson: parse, fix up, dump each pose)",
    "v2 fast merge (pose text copied where it is jansson's own)",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* FNV-1a of a stored object; 0 when it cannot be read. */
static uint64_t blob_hash(blob_store *blob, const char *key, size_t *len)
{
    void *data = NULL;
    size_t n = 0;
    cr_err e = {0};
    *len = 0;
    if (blob_get(blob, key, &data, &n, &e) != CR_OK) {
        fprintf(stderr, "bench_aggregate: %s\n", cr_err_msg(&e));
        return 0;
    }
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    cr_free(data);
    *len = n;
    return h;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bench_aggregate DIR [RUNS]\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_aggregate: RUNS is 1..%d\n", MAX_RUNS);
        return 2;
    }
    if (chdir(argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    cr_mem_init();
    cr_config cfg;
    cr_err e = {0};
    store *st = NULL;
    blob_store *blob = NULL;
    store_job *job = cr_calloc(1, sizeof *job);
    store_chunk *rows = NULL;
    const char **keys = NULL;
    int n = 0, rc = 1;
    if (job == NULL || cr_config_from_env(&cfg, &e) != CR_OK ||
        store_open(&cfg, NULL, &st, &e) != CR_OK || blob_open(&cfg, NULL, &blob, &e) != CR_OK ||
        store_job_list(st, STORE_JOB_DONE, job, 1, &n, &e) != CR_OK)
        goto fail;
    if (n != 1 || job->total_chunks < 1) {
        fprintf(stderr, "bench_aggregate: no done job with chunks in %s\n", argv[1]);
        goto done;
    }
    rows = cr_calloc((size_t)job->total_chunks, sizeof *rows);
    keys = cr_calloc((size_t)job->total_chunks, sizeof *keys);
    if (rows == NULL || keys == NULL ||
        store_chunks_of_job(st, job->id, rows, job->total_chunks, &n, &e) != CR_OK)
        goto fail;
    /* The video as it is now: a copy of DIR holds the same bytes under another local
     * etag (inode, mtime), which the report's pictures would refuse. */
    blob_info vi;
    if (blob_head(blob, job->s3_key, &vi, &e) != CR_OK)
        goto fail;
    snprintf(job->video_etag, sizeof job->video_etag, "%s", vi.etag);
    job->video_size = (int64_t)vi.size;
    for (int i = 0; i < n; i++)
        keys[i] = rows[i].artifact_s3_key[0] != '\0' ? rows[i].artifact_s3_key : NULL;
    printf("job %s: %d chunks, %.0f s of video\n", job->id, n, job->video_duration_seconds);

    char report_key[BLOB_KEY_MAX];
    if (blob_key_report(job->session_id, job->id, report_key, sizeof report_key, &e) != CR_OK)
        goto fail;
    uint64_t want_res = 0, want_rep = 0;
    for (int v = 1; v <= 2; v++) {
        double ms[MAX_RUNS];
        for (int r = 0; r <= runs; r++) {
            pipeline_job_summary sum;
            pipeline_job_result res = {0};
            double t0 = now_s();
            cr_status s = v == 1 ? pipeline_job_aggregate_reference(&cfg, blob, job, keys, NULL,
                                                                    &sum, &res, &e)
                                 : pipeline_job_aggregate(&cfg, blob, job, keys, NULL, NULL, NULL,
                                                          &sum, &res, &e);
            double t1 = now_s();
            pipeline_job_result_free(&res);
            if (s != CR_OK)
                goto fail;
            size_t lres, lrep;
            uint64_t hres = blob_hash(blob, sum.results_key, &lres);
            uint64_t hrep = blob_hash(blob, report_key, &lrep);
            if (v == 1 && r == 0) {
                want_res = hres;
                want_rep = hrep;
                printf("final_results.json %zu bytes fnv1a %016llx\nreport.html %zu bytes "
                       "fnv1a %016llx\n",
                       lres, (unsigned long long)hres, lrep, (unsigned long long)hrep);
            }
            if (hres != want_res || hrep != want_rep) {
                fprintf(stderr, "bench_aggregate: %s run %d gave other bytes than the first\n",
                        variants[v - 1], r);
                goto done;
            }
            if (r > 0)
                ms[r - 1] = (t1 - t0) * 1000.0;
        }
        qsort(ms, (size_t)runs, sizeof ms[0], cmp_double);
        printf("%s: best %.0f ms, median %.0f ms over %d runs (", variants[v - 1], ms[0],
               ms[runs / 2], runs);
        for (int r = 0; r < runs; r++)
            printf("%s%.0f", r ? " " : "", ms[r]);
        printf(")\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench_aggregate: %s\n", cr_err_msg(&e));
done:
    cr_free(keys);
    cr_free(rows);
    cr_free(job);
    blob_close(blob);
    store_close(st);
    return rc;
}
