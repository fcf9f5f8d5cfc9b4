/*
 * metrics.c -- one scrape (what /metrics answers, on `crease serve` and on a worker's
 * metrics port) and the readiness check behind /readyz.
 *
 * A scrape is written in four parts, each family's HELP saying which kind it is:
 *   build and process  crease_build_info; process_* as Prometheus's client libraries
 *                      name them (from /proc/self: CPU, memory, start time, fds)
 *   database-derived   gauges read from the database at scrape time
 *                      (store_monitor_read): the same value from every process, so a
 *                      fleet's figure is max(), not sum(); absent -- not 0 -- when the
 *                      database cannot be read (crease_database_up is then 0), so that
 *                      an autoscaler never reads an outage as an empty queue
 *   GPU                NVML (gpu.c), absent without the NVIDIA driver
 *   per process        the registry (core/metrics.h): what this process's workers
 *                      counted since it started (pipeline_metrics_declare)
 */
#include "api/api_int.h"

#include "core/log.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef CREASE_VERSION
#define CREASE_VERSION "0.1.0"
#endif

/* ---- process -------------------------------------------------------------------- */

/* Fields 14, 15 (utime, stime: clock ticks), 22 (starttime: ticks after boot), 23
 * (vsize: bytes), 24 (rss: pages) of /proc/self/stat (proc(5)); the line's second
 * field, the command name in parentheses, may hold spaces: parse after its last ')'. */
static int read_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    char line[2048];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime, stime, start, vs;
    long long rss;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime cutime cstime priority nice threads itrealvalue
     * starttime(22) vsize rss */
    if (sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vs, &rss) != 5)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / hz;
    *start_ticks = (double)start / hz;
    *vsize = (double)vs;
    *rss_pages = (double)rss;
    return 0;
}

/* The boot time (btime of /proc/stat, Unix seconds). */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the one opendir holds */
}

static void gauge(cr_buf *out, const char *name, const char *help, double v)
{
    cr_metrics_write_header(out, name, CR_METRIC_GAUGE, help);
    cr_metrics_write_sample(out, name, NULL, v);
}

static void write_process(cr_buf *out)
{
    double cpu, start, vs, rss;
    if (read_stat(&cpu, &start, &vs, &rss) == 0) {
        cr_metrics_write_header(out, "process_cpu_seconds_total", CR_METRIC_COUNTER,
                                "Per process: user and system CPU time spent, in seconds.");
        cr_metrics_write_sample(out, "process_cpu_seconds_total", NULL, cpu);
        gauge(out, "process_resident_memory_bytes", "Per process: resident memory, in bytes.",
              rss * (double)sysconf(_SC_PAGESIZE));
        gauge(out, "process_virtual_memory_bytes", "Per process: virtual memory, in bytes.", vs);
        double bt = boot_time();
        if (bt > 0)
            gauge(out, "process_start_time_seconds",
                  "Per process: start time since the Unix epoch, in seconds.", bt + start);
    }
    long fds = open_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "Per process: open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "Per process: the limit on open file descriptors.",
              (double)rl.rlim_cur);
}

/* ---- database-derived --------------------------------------------------------- */

#define DB_NOTE " Database-derived: the same from every process (aggregate with max, not sum)."

static void write_database(const store_monitor *m, cr_buf *out)
{
    gauge(out, "crease_chunks_queued",
          "Chunks waiting to be processed (queued chunks of queued jobs): the autoscaling "
          "signal, target 5 per chunk worker." DB_NOTE,
          (double)m->depth.queued_chunks);
    gauge(out, "crease_chunks_ready",
          "Queued chunks claimable now (their retry backoff has passed)." DB_NOTE,
          (double)m->depth.ready_chunks);
    gauge(out, "crease_chunks_in_flight",
          "Chunks being processed: held by a worker under a lease." DB_NOTE,
          (double)m->depth.processing_chunks);
    gauge(
        out, "crease_failed_chunks",
        "Chunks in status failed (their jobs failed; `crease jobs retry` re-queues them)." DB_NOTE,
        (double)m->chunks_failed);
    gauge(out, "crease_oldest_queued_chunk_age_seconds",
          "Seconds the longest-waiting claimable chunk has waited; rising while chunks are "
          "queued means no chunk worker is taking work." DB_NOTE,
          m->oldest_queued_s);
    gauge(out, "crease_jobs_ready_for_aggregation",
          "Queued jobs waiting for an analysis worker (all chunks completed, or whole-video "
          "jobs)." DB_NOTE,
          (double)m->depth.jobs_ready);
    gauge(out, "crease_workers_active",
          "Distinct workers holding an unexpired chunk or aggregation lease now (idle workers "
          "hold none)." DB_NOTE,
          (double)m->workers_active);
    cr_metrics_write_header(out, "crease_jobs", CR_METRIC_GAUGE, "Jobs by status." DB_NOTE);
    for (int i = 0; i < STORE_JOB_STATUS_N; i++) {
        const char *lab[] = {"status", store_job_status_name(i), NULL};
        cr_metrics_write_sample(out, "crease_jobs", lab, (double)m->jobs[i]);
    }
}

/* ---- the scrape ------------------------------------------------------------------ */

void api_metrics_write(const api_scrape *sc, cr_buf *out)
{
    cr_metrics_write_header(out, "crease_build_info", CR_METRIC_GAUGE,
                            "Per process: always 1; the labels say what runs.");
    const char *lab[] = {"version", CREASE_VERSION,
                         "role",    sc->role,
                         "store",   sc->st ? store_backend_name(sc->st) : "",
                         "blobs",   sc->blob ? blob_backend_name(sc->blob) : "",
                         NULL};
    cr_metrics_write_sample(out, "crease_build_info", lab, 1);
    write_process(out);

    store_monitor m;
    cr_err e = {0};
    cr_status st = CR_ERR_DB;
    if (sc->st != NULL) {
        pthread_mutex_lock(sc->lock);
        st = store_monitor_read(sc->st, &m, &e);
        pthread_mutex_unlock(sc->lock);
        if (st != CR_OK)
            cr_log_warn("metrics.database", "%s", cr_err_msg(&e));
    }
    gauge(out, "crease_database_up",
          "1 when this scrape read the database; 0 when not (the database-derived gauges "
          "are then absent).",
          st == CR_OK);
    if (st == CR_OK)
        write_database(&m, out);
    api_gpu_write(sc->gpu, out);
    cr_metrics_render(sc->reg, out);
}

/* ---- readiness ------------------------------------------------------------------- */

static int stop_listing(void *ctx, const char *key, const blob_info *info)
{
    (void)ctx;
    (void)key;
    (void)info;
    return 1;
}

/* A key prefix nobody writes: listing it proves the blob store answers (S3: the
 * bucket exists and the credentials may list it; local: the folder is there), at the
 * cost of one small request and without writing anything. */
#define READY_PREFIX "crease/readyz/"

int api_ready(const api_scrape *sc, char *reason, size_t cap)
{
    cr_err e = {0};
    cr_status st = CR_ERR_DB;
    if (sc->st == NULL) {
        snprintf(reason, cap, "database: not connected");
        return -1;
    }
    pthread_mutex_lock(sc->lock);
    st = store_check_schema(sc->st, &e);
    pthread_mutex_unlock(sc->lock);
    if (st != CR_OK) {
        snprintf(reason, cap, "database: %s", cr_err_msg(&e));
        return -1;
    }
    cr_err_clear(&e);
    if (blob_list(sc->blob, READY_PREFIX, stop_listing, NULL, &e) != CR_OK) {
        snprintf(reason, cap, "blob store (%s): %s", blob_backend_name(sc->blob), cr_err_msg(&e));
        return -1;
    }
    return 0;
}

enum MHD_Result api_send_readiness(struct MHD_Connection *c, const api_scrape *sc)
{
    char reason[CR_ERR_MSG_MAX + 64];
    if (api_ready(sc, reason, sizeof reason) == 0)
        return api_send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"));
    cr_log_warn("api.not_ready", "%s", reason);
    return api_send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         json_pack("{s:s, s:s}", "status", "not ready", "reason", reason));
}

enum MHD_Result api_send_metrics(struct MHD_Connection *c, const api_scrape *sc)
{
    cr_buf b = {0};
    api_metrics_write(sc, &b);
    if (b.st != CR_OK) {
        cr_buf_release(&b);
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    enum MHD_Result r = api_send_text(c, MHD_HTTP_OK, CR_METRICS_CONTENT_TYPE, b.p, b.len);
    cr_buf_release(&b);
    return r;
}
