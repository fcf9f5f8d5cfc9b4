/*
 * cli_ops.c -- the operator's commands of the runbook (docs/runbook.md):
 *   crease autoscale-metric [--once] ...   the autoscaling signal to CloudWatch (ECS)
 *   crease gpu-mode [status|on|off]        chunked ('gpu') or whole-video ('cpu') jobs
 * (`crease jobs stuck` lives with the other job commands in cli_store.c.)
 */
#include "cli/cli.h"

#include "core/log.h"
#include "pipeline/pipeline.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static store *open_checked(const cr_config *cfg, const char *cmd)
{
    store *st = NULL;
    cr_err e = {0};
    if (store_open(cfg, NULL, &st, &e) != CR_OK || store_check_schema(st, &e) != CR_OK) {
        fprintf(stderr, "crease %s: %s\n", cmd, cr_err_msg(&e));
        store_close(st);
        return NULL;
    }
    return st;
}

/* ---- crease autoscale-metric ------------------------------------------------------ */

static const char autoscale_usage[] =
    "usage: crease autoscale-metric [--once] [--interval SECONDS] [--endpoint URL]\n"
    "                               [--namespace NS] [--dimension NAME=VALUE] [--workers N]\n"
    "       crease autoscale-metric --print-query\n"
    "\n"
    "Publishes the chunk workers' autoscaling signal to CloudWatch (PutMetricData), for\n"
    "an ECS target-tracking policy on QueuedChunksPerWorker (target 5; deploy/ecs/):\n"
    "  QueuedChunks           chunks waiting to be processed\n"
    "  QueuedChunksPerWorker  the same divided by the workers holding a lease now (at\n"
    "                         least 1), or by --workers N\n"
    "every interval until SIGTERM; each publication is logged, a failed one too (the\n"
    "next comes an interval later).  Credentials and region come from the variables the\n"
    "S3 client uses: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
    "AWS_REGION.\n"
    "\n"
    "  --once              publish once and exit (1 when it failed)\n"
    "  --interval SECONDS  between publications (default 60, CloudWatch's resolution)\n"
    "  --endpoint URL      CloudWatch's endpoint (default "
    "https://monitoring.REGION.amazonaws.com/)\n"
    "  --namespace NS      metric namespace (default " PIPELINE_CLOUDWATCH_NAMESPACE ")\n"
    "  --dimension N=V     one dimension on both metrics, e.g. ServiceName=crease-chunk-workers\n"
    "  --workers N         divide by N instead of the workers holding a lease\n"
    "  --print-query       print the SQL that counts queued chunks (KEDA's query) and exit\n";

/* Sleeps until `until` (CLOCK_MONOTONIC seconds) or a stop request. */
static void wait_until(double until, volatile sig_atomic_t *stop)
{
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = until - ((double)now.tv_sec + now.tv_nsec / 1e9);
        if (left <= 0 || *stop)
            return;
        double step = left < 0.2 ? left : 0.2;
        struct timespec ts = {0, (long)(step * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* One reading and publication; 0 when published.  A failure is one line on stderr
 * (--once: the command's error) or in the log (the loop goes on). */
static int publish_once(const cr_config *cfg, store *st, const pipeline_cloudwatch *cw, int workers,
                        int once)
{
    pipeline_autoscale_sample s;
    cr_err e = {0};
    cr_status r = pipeline_autoscale_read(st, workers, &s, &e);
    if (r == CR_OK)
        r = pipeline_cloudwatch_put(cfg, cw, &s, (int64_t)time(NULL), &e);
    if (r != CR_OK) {
        if (once)
            fprintf(stderr, "crease autoscale-metric: %s\n", cr_err_msg(&e));
        else
            cr_log_error("autoscale.failed", "%s", cr_err_msg(&e));
        return -1;
    }
    cr_log_info("autoscale.published", "%s=%ld %s=%.3f workers=%ld (active %ld)",
                PIPELINE_CW_QUEUED, s.queued_chunks, PIPELINE_CW_PER_WORKER, s.per_worker,
                s.workers, s.workers_active);
    return 0;
}

int cmd_autoscale_metric(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(autoscale_usage, stdout);
        return CLI_EXIT_OK;
    }
    static const struct option longopts[] = {{"once", no_argument, NULL, 'o'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"endpoint", required_argument, NULL, 'e'},
                                             {"namespace", required_argument, NULL, 'n'},
                                             {"dimension", required_argument, NULL, 'd'},
                                             {"workers", required_argument, NULL, 'w'},
                                             {"print-query", no_argument, NULL, 'q'},
                                             {NULL, 0, NULL, 0}};
    pipeline_cloudwatch cw = {0};
    int once = 0, print_query = 0;
    long workers = 0;
    double interval = 60;
    char dim[256] = "";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            once = 1;
            break;
        case 'i':
            if (cli_opt_double("autoscale-metric", "--interval", optarg, 1, 3600, &interval))
                return CLI_EXIT_USAGE;
            break;
        case 'e':
            cw.endpoint = optarg;
            break;
        case 'n':
            if (optarg[0] == '\0' || strlen(optarg) > 255) {
                fprintf(stderr, "crease autoscale-metric: --namespace must be 1..255 bytes\n");
                return CLI_EXIT_USAGE;
            }
            cw.name_space = optarg;
            break;
        case 'd': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || strlen(optarg) >= sizeof dim) {
                fprintf(stderr,
                        "crease autoscale-metric: --dimension must be NAME=VALUE, got "
                        "'%s'\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            snprintf(dim, sizeof dim, "%s", optarg);
            dim[eq - optarg] = '\0';
            cw.dimension_name = dim;
            cw.dimension_value = dim + (eq - optarg) + 1;
            break;
        }
        case 'w':
            if (cli_opt_long("autoscale-metric", "--workers", optarg, 1, 100000, &workers))
                return CLI_EXIT_USAGE;
            break;
        case 'q':
            print_query = 1;
            break;
        default:
            fputs(autoscale_usage, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crease autoscale-metric: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (print_query) {
        printf("%s\n", STORE_SQL_QUEUED_CHUNKS);
        return CLI_EXIT_OK;
    }
    volatile sig_atomic_t *stop = cli_stop_on_signals();
    store *st = open_checked(cfg, "autoscale-metric");
    if (st == NULL)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    if (once) {
        rc = publish_once(cfg, st, &cw, (int)workers, 1) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    } else {
        /* On a fixed grid (start + k * interval), so a slow publication does not drift
         * the next. */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        double next = (double)t0.tv_sec + t0.tv_nsec / 1e9;
        while (!*stop) {
            publish_once(cfg, st, &cw, (int)workers, 0);
            next += interval;
            wait_until(next, stop);
        }
    }
    store_close(st);
    return rc;
}

/* ---- crease gpu-mode -------------------------------------------------------------- */

static const char gpu_usage[] =
    "usage: crease gpu-mode [status | on | off]\n"
    "\n"
    "GPU mode is chunked analysis (deep_mode 'gpu': chunk workers in parallel, then an\n"
    "analysis worker merges); the other mode analyses each video whole in one analysis\n"
    "worker ('cpu').  The mode is stored per job; GPU_PROCESSING_ENABLED (or the\n"
    "request's deep_mode) picks it for new jobs.  This changes the jobs not started yet,\n"
    "as the pipeline runbook's `UPDATE video_analysis_jobs SET deep_mode = ...` does:\n"
    "  status  unfinished jobs per mode (the default)\n"
    "  off     jobs awaiting upload, and queued chunked jobs none of whose chunks is being\n"
    "          processed, become whole-video jobs (their chunks are dropped; an analysis\n"
    "          worker does the whole video); queued jobs with a chunk in processing are\n"
    "          left: run it again once those chunks finish\n"
    "  on      jobs awaiting upload become chunked (queued whole-video jobs stay)\n"
    "Set GPU_PROCESSING_ENABLED to match on the API servers, or new jobs keep the old mode.\n";

int cmd_gpu_mode(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(gpu_usage, stdout);
        return CLI_EXIT_OK;
    }
    const char *verb = argc >= 2 ? argv[1] : "status";
    int on = strcmp(verb, "on") == 0, off = strcmp(verb, "off") == 0;
    if (argc > 2 || (!on && !off && strcmp(verb, "status") != 0)) {
        fputs(gpu_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    store *st = open_checked(cfg, "gpu-mode");
    if (st == NULL)
        return CLI_EXIT_FAIL;
    cr_err e = {0};
    int rc = CLI_EXIT_OK;
    if (on || off) {
        store_gpu_mode_change ch;
        if (store_gpu_mode_set(st, on, &ch, &e) != CR_OK) {
            fprintf(stderr, "crease gpu-mode %s: %s\n", verb, cr_err_msg(&e));
            rc = CLI_EXIT_FAIL;
        } else if (on) {
            printf("gpu mode on: %d job(s) awaiting upload now chunked (gpu)\n",
                   ch.awaiting_changed);
        } else {
            printf("gpu mode off: %d job(s) awaiting upload and %d queued job(s) now whole-video "
                   "(cpu)\n",
                   ch.awaiting_changed, ch.queued_changed);
            if (ch.queued_skipped > 0)
                printf("%d queued job(s) have a chunk in processing and were left as they are: "
                       "run `crease gpu-mode off` again once those chunks finish\n",
                       ch.queued_skipped);
        }
    }
    store_gpu_mode_counts n;
    if (rc == CLI_EXIT_OK && store_gpu_mode_counts_read(st, &n, &e) != CR_OK) {
        fprintf(stderr, "crease gpu-mode: %s\n", cr_err_msg(&e));
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK) {
        printf("unfinished jobs: %ld chunked (gpu), %ld whole-video (cpu)\n", n.gpu, n.cpu);
        printf("new jobs here: %s (GPU_PROCESSING_ENABLED=%s)\n",
               cfg->gpu_processing_enabled ? "chunked (gpu)" : "whole-video (cpu)",
               cfg->gpu_processing_enabled ? "true" : "false");
        if ((on || off) && on != cfg->gpu_processing_enabled)
            printf("note: set GPU_PROCESSING_ENABLED=%s on the API servers too\n",
                   on ? "true" : "false");
    }
    store_close(st);
    return rc;
}
