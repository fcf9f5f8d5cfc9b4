/*
 * bench_store.c -- claim+complete cycles per second and claim latency (p50, p99)
 * of the store's queue with 1, 4 and 16 worker processes, on PostgreSQL and SQLite
 * (DESIGN.md §9 target: >= 2,000 cycles/s with 16 workers on local PostgreSQL).
 *
 * usage: bench_store [pg|sqlite|all] [SECONDS per run, default 3]
 *   pg needs CREASE_TEST_PG_URL and CREASE_TEST_PG_ADMIN_URL (a scratch database is
 *   created and dropped per run); sqlite uses a file in /tmp.
 *
 * One variant (v1): each worker loops { claim 1 chunk (lease 30 s); complete it }
 * over 200 jobs x 100 chunks (more than any run consumes), so the queue never runs
 * dry.  Before timing, each run validates: every cycle's chunk was counted exactly
 * once (completed_chunks sums to the cycle count).  Latency is of the claim call
 * alone, per call, on CLOCK_MONOTONIC.  Prints one line per (backend, workers).
 */
#include "core/status.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JOBS 200
#define CHUNKS 100
#define MAX_SAMPLES 200000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("CREASE_TEST_PG_ADMIN_URL"));
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One worker: cycles until `until`; writes its latencies (seconds) to `out`. */
static void worker(cr_store_kind kind, const char *target, double until, const char *out, int id)
{
    store *st = NULL;
    cr_err err = {0};
    if (store_open_target(kind, target, NULL, &st, &err) != CR_OK) {
        fprintf(stderr, "worker: %s\n", cr_err_msg(&err));
        _exit(1);
    }
    static double lat[MAX_SAMPLES];
    int n = 0;
    char me[32];
    snprintf(me, sizeof me, "bench-%d", id);
    while (now_s() < until && n < MAX_SAMPLES) {
        store_chunk c;
        int got = 0;
        double t0 = now_s();
        if (store_chunk_claim(st, me, 30, 1, &c, &got, &err) != CR_OK) {
            fprintf(stderr, "claim: %s\n", cr_err_msg(&err));
            _exit(1);
        }
        lat[n++] = now_s() - t0;
        if (got == 0)
            break;
        store_completion comp;
        if (store_chunk_complete(st, c.id, me, c.lease_token, 1, "k", &comp, &err) != CR_OK ||
            !comp.counted) {
            fprintf(stderr, "complete: %s\n", cr_err_msg(&err));
            _exit(1);
        }
    }
    store_close(st);
    FILE *f = fopen(out, "wb");
    if (f == NULL || fwrite(lat, sizeof lat[0], (size_t)n, f) != (size_t)n)
        _exit(1);
    fclose(f);
    _exit(0);
}

static int run(const char *backend, int workers, double seconds)
{
    cr_store_kind kind = strcmp(backend, "pg") == 0 ? CR_STORE_POSTGRES : CR_STORE_SQLITE;
    char target[1024], dbname[64], dir[64] = "/tmp/crease-bench-store-XXXXXX";
    if (kind == CR_STORE_POSTGRES) {
        const char *url = getenv("CREASE_TEST_PG_URL");
        if (url == NULL || getenv("CREASE_TEST_PG_ADMIN_URL") == NULL) {
            printf("%-7s %3d workers: skipped (CREASE_TEST_PG_URL not set)\n", backend, workers);
            return 0;
        }
        snprintf(dbname, sizeof dbname, "crease_bench_store_%ld", (long)getpid());
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        admin(sql);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
        if (!admin(sql))
            return 1;
        snprintf(target, sizeof target, "%.*s/%s", (int)(strrchr(url, '/') - url), url, dbname);
    } else {
        if (mkdtemp(dir) == NULL)
            return 1;
        snprintf(target, sizeof target, "%s/bench.db", dir);
    }
    store *st = NULL;
    cr_err err = {0};
    if (store_open_target(kind, target, NULL, &st, &err) != CR_OK ||
        store_migrate_up(st, 0, NULL, &err) != CR_OK) {
        fprintf(stderr, "setup: %s\n", cr_err_msg(&err));
        return 1;
    }
    static store_chunk_span sp[CHUNKS];
    for (int i = 0; i < CHUNKS; i++)
        sp[i] = (store_chunk_span){i, i + 1.0};
    static char ids[JOBS][37];
    store_session_new sn = {.id = "bench", .owner_id = "bench", .title = "bench"};
    char sid[37];
    if (store_session_create(st, &sn, sid, sizeof sid, &err) != CR_OK) {
        fprintf(stderr, "setup: %s\n", cr_err_msg(&err));
        return 1;
    }
    for (int j = 0; j < JOBS; j++) {
        store_job_new jn = {.session_id = "bench"};
        if (store_job_create(st, &jn, ids[j], 37, &err) != CR_OK ||
            store_chunks_create(st, ids[j], sp, CHUNKS, CHUNKS, 0, NULL, &err) != CR_OK) {
            fprintf(stderr, "setup: %s\n", cr_err_msg(&err));
            return 1;
        }
    }
    store_close(st);

    double start = now_s() + 0.3, until = start + seconds;
    pid_t pids[64];
    char paths[64][96];
    for (int w = 0; w < workers; w++) {
        snprintf(paths[w], sizeof paths[w], "/tmp/crease-bench-store-%ld-%d.lat", (long)getpid(),
                 w);
        pids[w] = fork();
        if (pids[w] == 0) {
            while (now_s() < start) /* start together */
                usleep(1000);
            worker(kind, target, until, paths[w], w);
        }
    }
    int bad = 0;
    for (int w = 0; w < workers; w++) {
        int status = 0;
        waitpid(pids[w], &status, 0);
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double elapsed = now_s() - start;
    static double all[MAX_SAMPLES * 4];
    size_t n = 0;
    for (int w = 0; w < workers; w++) {
        FILE *f = fopen(paths[w], "rb");
        if (f != NULL) {
            n += fread(all + n, sizeof all[0], sizeof all / sizeof all[0] - n, f);
            fclose(f);
        }
        unlink(paths[w]);
    }
    /* Validation: the cycles counted by the store equal the cycles we timed. */
    long counted = 0;
    if (store_open_target(kind, target, NULL, &st, &err) == CR_OK) {
        for (int j = 0; j < JOBS; j++) {
            store_job job;
            if (store_job_get(st, ids[j], &job, &err) == CR_OK)
                counted += job.completed_chunks;
        }
        store_close(st);
    }
    qsort(all, n, sizeof all[0], cmp_double);
    double p50 = n ? all[n / 2] : 0, p99 = n ? all[(size_t)((double)n * 0.99)] : 0;
    printf("%-7s %3d workers: %8.0f cycles/s  claim p50 %6.3f ms  p99 %7.3f ms  (%ld cycles, "
           "%.1f s)%s\n",
           backend, workers, (double)counted / elapsed, p50 * 1e3, p99 * 1e3, counted, elapsed,
           (bad || counted != (long)n) ? "  INVALID: counts differ" : "");
    fflush(stdout);
    if (kind == CR_STORE_POSTGRES) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        admin(sql);
    } else {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return bad;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    struct utsname u;
    uname(&u);
    printf("bench_store v1: claim(1)+complete cycles; %s %s, %ld CPUs\n", u.nodename, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN));
    int rc = 0;
    const int counts[] = {1, 4, 16};
    for (int b = 0; b < 2; b++) {
        const char *backend = b == 0 ? "pg" : "sqlite";
        if (strcmp(which, "all") != 0 && strcmp(which, backend) != 0)
            continue;
        for (int i = 0; i < 3; i++)
            rc |= run(backend, counts[i], seconds);
    }
    return rc;
}
