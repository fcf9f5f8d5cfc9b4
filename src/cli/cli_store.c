/*
 * cli_store.c -- the commands on the store (store.h):
 *   crease migrate up [VERSION] | down [N] | status
 *   crease jobs list [--status S] [--limit N] | show ID | retry ID | depth
 *              | stuck [--older-than SECONDS] [--limit N]
 *
 * `jobs stuck` and `jobs show` answer the runbook's troubleshooting questions
 * ("chunks stuck in queued", "aggregation never triggers"): across all jobs, the
 * chunks and jobs that wait too long, lost their worker or failed; for one job, the
 * job row and every chunk with its status, attempts, worker, lease, runtime and error.
 */
#include "cli/cli.h"
#include "core/mem.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Epoch seconds (UTC) as 2026-11-26T15:13:43Z, or "-" when unset. */
static const char *fmt_time(double t, char *buf, size_t cap)
{
    if (t <= 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* The largest count these commands take (a migration version or count, --limit). */
#define COUNT_MAX 1000000

static store *open_or_report(const cr_config *cfg, const char *cmd)
{
    store *st = NULL;
    cr_err err = {0};
    if (store_open(cfg, NULL, &st, &err) != CR_OK) {
        fprintf(stderr, "crease %s: %s\n", cmd, cr_err_msg(&err));
        return NULL;
    }
    return st;
}

static const char migrate_usage[] =
    "usage: crease migrate up [VERSION] | down [N] | status\n\n"
    "Applies or undoes the store's schema migrations on DATABASE_URL.\n"
    "  up [VERSION]  apply every version up to VERSION (default: the latest)\n"
    "  down [N]      undo the N newest versions (default 1); only what `up` created is\n"
    "                dropped, so Cricksy's own tables and data are kept\n"
    "  status        print the current version and the known ones\n";

int cmd_migrate(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(migrate_usage, stdout);
        return 0;
    }
    if (argc < 2 || argc > 3) {
        fputs(migrate_usage, stderr);
        return 2;
    }
    const char *verb = argv[1];
    int arg = -1;
    if (argc == 3 && cli_parse_int(argv[2], 0, COUNT_MAX, &arg) != 0) {
        fprintf(stderr, "crease migrate: bad number '%s'\n", argv[2]);
        return 2;
    }
    if (strcmp(verb, "up") != 0 && strcmp(verb, "down") != 0 && strcmp(verb, "status") != 0) {
        fputs(migrate_usage, stderr);
        return 2;
    }
    if (strcmp(verb, "status") == 0 && argc == 3) {
        fputs(migrate_usage, stderr);
        return 2;
    }
    store *st = open_or_report(cfg, "migrate");
    if (st == NULL)
        return 1;
    cr_err err = {0};
    cr_status s = CR_OK;
    int n = 0, v = 0;
    if (strcmp(verb, "up") == 0) {
        if (arg > store_migrations_latest()) {
            fprintf(stderr, "crease migrate: no version %d (latest is %d)\n", arg,
                    store_migrations_latest());
            store_close(st);
            return 2;
        }
        s = store_migrate_up(st, arg > 0 ? arg : 0, &n, &err);
        if (s == CR_OK)
            s = store_migrate_status(st, &v, &err);
        if (s == CR_OK)
            printf("applied %d migration(s); schema at version %d\n", n, v);
    } else if (strcmp(verb, "down") == 0) {
        s = store_migrate_down(st, arg >= 0 ? arg : 1, &n, &err);
        if (s == CR_OK)
            s = store_migrate_status(st, &v, &err);
        if (s == CR_OK)
            printf("undid %d migration(s); schema at version %d\n", n, v);
    } else {
        s = store_migrate_status(st, &v, &err);
        if (s == CR_OK) {
            printf("backend: %s\nversion: %d (latest %d)\n", store_backend_name(st), v,
                   store_migrations_latest());
            for (int i = 1; i <= store_migrations_latest(); i++)
                printf("  [%c] %d %s\n", i <= v ? 'x' : ' ', i, store_migration_name(i));
        }
    }
    store_close(st);
    if (s != CR_OK) {
        fprintf(stderr, "crease migrate %s: %s\n", verb, cr_err_msg(&err));
        return 1;
    }
    return 0;
}

static const char jobs_usage[] =
    "usage: crease jobs list [--status STATUS] [--limit N] | show ID | retry ID | depth\n"
    "                 | stuck [--older-than SECONDS] [--limit N]\n\n"
    "  list      the newest jobs (default 20): id, status, stage, progress, chunks\n"
    "  show ID   one job and all its chunks: status, attempts, worker, lease, runtime, error\n"
    "  retry ID  re-queue a failed job (only its failed chunks run again)\n"
    "  depth     queue depth: queued / ready / processing chunks, queued / running jobs\n"
    "  stuck     what needs an operator (default: waiting longer than 300 s, 50 rows):\n"
    "            chunks claimable but not claimed, chunks whose worker's lease ran out,\n"
    "            failed chunks; jobs ready but not aggregated, aggregations whose lease\n"
    "            ran out, queued jobs that can never become ready (failed chunks, a\n"
    "            completed count that differs from their chunks).  Exit status 0 either\n"
    "            way; the last line says how many were found\n";

static int jobs_list(store *st, int argc, char **argv)
{
    const char *status = NULL;
    int limit = 20;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = cli_opt_value(argc, argv, &i, "--status", 0, NULL)) != NULL) {
            status = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--limit", 0, NULL)) != NULL) {
            if (cli_parse_int(v, 1, COUNT_MAX, &limit) != 0) {
                fprintf(stderr, "crease jobs list: bad --limit\n");
                return 2;
            }
        } else {
            fputs(jobs_usage, stderr);
            return 2;
        }
    }
    store_job *jobs = cr_calloc((size_t)limit, sizeof *jobs);
    if (jobs == NULL) {
        fprintf(stderr, "crease jobs list: out of memory\n");
        return 1;
    }
    int n = 0;
    cr_err err = {0};
    if (store_job_list(st, status, jobs, limit, &n, &err) != CR_OK) {
        fprintf(stderr, "crease jobs list: %s\n", cr_err_msg(&err));
        cr_free(jobs);
        return 1;
    }
    printf("%-36s  %-15s  %-12s  %4s  %11s  %-4s  %s\n", "ID", "STATUS", "STAGE", "PCT", "CHUNKS",
           "MODE", "CREATED");
    for (int i = 0; i < n; i++) {
        char t[32], chunks[24];
        snprintf(chunks, sizeof chunks, "%d/%d", jobs[i].completed_chunks, jobs[i].total_chunks);
        printf("%-36s  %-15s  %-12s  %3d%%  %11s  %-4s  %s\n", jobs[i].id, jobs[i].status,
               jobs[i].stage[0] ? jobs[i].stage : "-", jobs[i].progress_pct, chunks,
               jobs[i].deep_mode[0] ? jobs[i].deep_mode : "-",
               fmt_time(jobs[i].created_at, t, sizeof t));
    }
    cr_free(jobs);
    return 0;
}

static int jobs_show(store *st, const char *id)
{
    store_job j;
    cr_err err = {0};
    if (store_job_get(st, id, &j, &err) != CR_OK) {
        fprintf(stderr, "crease jobs show: %s\n", cr_err_msg(&err));
        return 1;
    }
    char t1[32], t2[32], t3[32], t4[32];
    printf("job        %s\nsession    %s\nstatus     %s\nstage      %s\nprogress   %d%%\n"
           "chunks     %d of %d completed\nmode       %s%s%s\nvideo      %s%s%s (%.1f s)\n",
           j.id, j.session_id, j.status, j.stage[0] ? j.stage : "-", j.progress_pct,
           j.completed_chunks, j.total_chunks, j.deep_mode[0] ? j.deep_mode : "-",
           j.analysis_mode[0] ? " / " : "", j.analysis_mode, j.s3_bucket, j.s3_bucket[0] ? "/" : "",
           j.s3_key[0] ? j.s3_key : "-", j.video_duration_seconds);
    printf("created    %s\nstarted    %s\ndeep start %s\ncompleted  %s\n",
           fmt_time(j.created_at, t1, sizeof t1), fmt_time(j.started_at, t2, sizeof t2),
           fmt_time(j.deep_started_at, t3, sizeof t3), fmt_time(j.completed_at, t4, sizeof t4));
    if (j.worker_id[0])
        printf("aggregator %s (lease until %s)\n", j.worker_id,
               fmt_time(j.lease_expires_at, t1, sizeof t1));
    if (j.deep_results_s3_key[0])
        printf("results    %s\n", j.deep_results_s3_key);
    if (j.error_message[0])
        printf("error      %s\n", j.error_message);

    int cap = j.total_chunks > 0 ? j.total_chunks : 1;
    store_chunk *c = cr_calloc((size_t)cap, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "crease jobs show: out of memory\n");
        return 1;
    }
    int n = 0;
    if (store_chunks_of_job(st, id, c, cap, &n, &err) != CR_OK) {
        fprintf(stderr, "crease jobs show: %s\n", cr_err_msg(&err));
        cr_free(c);
        return 1;
    }
    int counts[4] = {0};
    if (n > 0)
        printf("\n%5s  %-17s  %-10s  %8s  %-20s  %-20s  %8s  %s\n", "CHUNK", "RANGE (s)", "STATUS",
               "ATTEMPTS", "WORKER", "LEASE / NEXT TRY", "RUNTIME", "ERROR");
    for (int i = 0; i < n; i++) {
        char range[40], att[16], rt[16], when[32];
        snprintf(range, sizeof range, "%.1f-%.1f", c[i].start_sec, c[i].end_sec);
        snprintf(att, sizeof att, "%d/%d", c[i].attempts, c[i].max_attempts);
        if (c[i].runtime_ms >= 0)
            snprintf(rt, sizeof rt, "%d ms", c[i].runtime_ms);
        else
            snprintf(rt, sizeof rt, "-");
        const char *s = c[i].status;
        double w = strcmp(s, "processing") == 0 ? c[i].lease_expires_at
                   : strcmp(s, "queued") == 0   ? c[i].next_attempt_at
                                                : 0;
        counts[strcmp(s, "queued") == 0       ? 0
               : strcmp(s, "processing") == 0 ? 1
               : strcmp(s, "completed") == 0  ? 2
                                              : 3]++;
        printf("%5d  %-17s  %-10s  %8s  %-20.20s  %-20s  %8s  %s\n", c[i].chunk_index, range, s,
               att, c[i].worker_id[0] ? c[i].worker_id : "-", fmt_time(w, when, sizeof when), rt,
               c[i].error_message);
    }
    if (n > 0)
        printf("\n%d queued, %d processing, %d completed, %d failed\n", counts[0], counts[1],
               counts[2], counts[3]);
    if (strcmp(j.status, "queued") == 0 && j.total_chunks > 0 &&
        j.completed_chunks == j.total_chunks)
        printf("all chunks completed: waiting for an analysis worker to aggregate\n");
    cr_free(c);
    return 0;
}

static const char *const stuck_chunk_what[] = {
    [STORE_STUCK_WAITING] = "waiting: no chunk worker is claiming (are any running?)",
    [STORE_STUCK_LEASE_EXPIRED] = "lease expired: its worker is gone, no live worker reaped it",
    [STORE_STUCK_FAILED] = "failed: `crease jobs retry JOB` re-queues it",
};
static const char *const stuck_job_what[] = {
    [STORE_STUCK_JOB_WAITING] = "ready, not aggregated: no analysis worker is claiming",
    [STORE_STUCK_JOB_LEASE_EXPIRED] = "aggregation lease expired: its worker is gone",
    [STORE_STUCK_JOB_COUNT_DRIFT] =
        "completed_chunks differs from its completed chunks: never ready (gpu-mode off)",
    [STORE_STUCK_JOB_FAILED_CHUNKS] = "queued with failed chunks: never ready (gpu-mode off)",
};

static int jobs_stuck(store *st, int argc, char **argv)
{
    double older = 300;
    int limit = 50;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = cli_opt_value(argc, argv, &i, "--older-than", 0, NULL)) != NULL) {
            if (cli_opt_double("jobs stuck", "--older-than", v, 0, 1e9, &older) != 0)
                return 2;
        } else if ((v = cli_opt_value(argc, argv, &i, "--limit", 0, NULL)) != NULL) {
            if (cli_parse_int(v, 1, COUNT_MAX, &limit) != 0) {
                fprintf(stderr, "crease jobs stuck: bad --limit\n");
                return 2;
            }
        } else {
            fputs(jobs_usage, stderr);
            return 2;
        }
    }
    store_stuck_chunk *c = cr_calloc((size_t)limit, sizeof *c);
    store_stuck_job *j = cr_calloc((size_t)limit, sizeof *j);
    int nc = 0, nj = 0, rc = 0;
    cr_err err = {0};
    if (c == NULL || j == NULL) {
        fprintf(stderr, "crease jobs stuck: out of memory\n");
        rc = 1;
    } else if (store_stuck_chunks(st, older, c, limit, &nc, &err) != CR_OK ||
               store_stuck_jobs(st, older, j, limit, &nj, &err) != CR_OK) {
        fprintf(stderr, "crease jobs stuck: %s\n", cr_err_msg(&err));
        rc = 1;
    }
    if (rc == 0 && nc > 0) {
        printf("%-36s  %5s  %-10s  %8s  %8s  %-20s  %s\n", "JOB", "CHUNK", "STATUS", "ATTEMPTS",
               "AGE", "WORKER", "WHY / LAST ERROR");
        for (int i = 0; i < nc; i++) {
            char att[16], age[24];
            snprintf(att, sizeof att, "%d/%d", c[i].attempts, c[i].max_attempts);
            snprintf(age, sizeof age, "%.0fs", c[i].age_s);
            printf("%-36s  %5d  %-10s  %8s  %8s  %-20.20s  %s%s%s\n", c[i].job_id, c[i].chunk_index,
                   c[i].status, att, age, c[i].worker_id[0] ? c[i].worker_id : "-",
                   stuck_chunk_what[c[i].reason], c[i].error_message[0] ? "; last error: " : "",
                   c[i].error_message);
        }
    }
    if (rc == 0 && nj > 0) {
        printf("%s%-36s  %-12s  %-4s  %9s  %9s  %8s  %s\n", nc ? "\n" : "", "JOB", "STATUS", "MODE",
               "COUNTED", "ROWS", "IDLE", "WHY");
        for (int i = 0; i < nj; i++) {
            char counted[24], rows[40], idle[24];
            snprintf(counted, sizeof counted, "%d/%d", j[i].completed_chunks, j[i].total_chunks);
            snprintf(rows, sizeof rows, "%d ok %d x", j[i].rows_completed, j[i].rows_failed);
            snprintf(idle, sizeof idle, "%.0fs", j[i].idle_s);
            printf("%-36s  %-12s  %-4s  %9s  %9s  %8s  %s\n", j[i].id, j[i].status,
                   j[i].deep_mode[0] ? j[i].deep_mode : "-", counted, rows, idle,
                   stuck_job_what[j[i].reason]);
        }
    }
    if (rc == 0)
        printf("%s%d chunk(s) and %d job(s) need attention (waiting over %.0f s, lost, failed)\n",
               nc || nj ? "\n" : "", nc, nj, older);
    cr_free(c);
    cr_free(j);
    return rc;
}

int cmd_jobs(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(jobs_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(jobs_usage, stderr);
        return 2;
    }
    const char *verb = argv[1];
    int needs_id = strcmp(verb, "show") == 0 || strcmp(verb, "retry") == 0;
    if (!needs_id && strcmp(verb, "list") != 0 && strcmp(verb, "depth") != 0 &&
        strcmp(verb, "stuck") != 0) {
        fputs(jobs_usage, stderr);
        return 2;
    }
    if ((needs_id && argc != 3) || (strcmp(verb, "depth") == 0 && argc != 2)) {
        fputs(jobs_usage, stderr);
        return 2;
    }
    store *st = open_or_report(cfg, "jobs");
    if (st == NULL)
        return 1;
    cr_err err = {0};
    int rc = 0;
    if (store_check_schema(st, &err) != CR_OK) {
        fprintf(stderr, "crease jobs: %s\n", cr_err_msg(&err));
        store_close(st);
        return 1;
    }
    if (strcmp(verb, "list") == 0) {
        rc = jobs_list(st, argc, argv);
    } else if (strcmp(verb, "stuck") == 0) {
        rc = jobs_stuck(st, argc, argv);
    } else if (strcmp(verb, "show") == 0) {
        rc = jobs_show(st, argv[2]);
    } else if (strcmp(verb, "retry") == 0) {
        int n = 0;
        if (store_job_retry(st, argv[2], &n, &err) != CR_OK) {
            fprintf(stderr, "crease jobs retry: %s\n", cr_err_msg(&err));
            rc = 1;
        } else {
            printf("job %s re-queued (%d failed chunk(s) queued again)\n", argv[2], n);
        }
    } else {
        store_depth d;
        if (store_queue_depth(st, &d, &err) != CR_OK) {
            fprintf(stderr, "crease jobs depth: %s\n", cr_err_msg(&err));
            rc = 1;
        } else {
            printf("chunks: %ld queued (%ld ready now), %ld processing\n"
                   "jobs:   %ld queued (%ld ready to aggregate), %ld aggregating\n",
                   d.queued_chunks, d.ready_chunks, d.processing_chunks, d.jobs_queued,
                   d.jobs_ready, d.jobs_running);
        }
    }
    store_close(st);
    return rc;
}
