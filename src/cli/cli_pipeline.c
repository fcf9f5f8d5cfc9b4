/*
 * cli_pipeline.c -- `crease analyze`, `crease submit`, `crease chunk-worker`,
 * `crease analysis-worker`.
 */
#include "cli/cli.h"
#include "cli/progress.h"

#include "analysis/analysis.h"
#include "api/api.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "pose/pose_models.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void worker_name(char *out, size_t cap, int n)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (n >= 0)
        snprintf(out, cap, "%.40s:%d:%d", host, (int)getpid(), n);
    else
        snprintf(out, cap, "%.40s:%d", host, (int)getpid());
}

/* Options shared by the commands that run workers. */
typedef struct run_opts {
    pipeline_worker_opts w;
    int workers;
    const char *mode;
    const char *out;
    int whole;
    int no_progress;          /* analyze: log lines instead of the progress display */
    int metrics_port;         /* -1: no metrics listener */
    const char *metrics_bind; /* NULL: 127.0.0.1 */
    int subject;              /* --subject X,Y (analyze, submit): the job's subject hint */
    double subject_x, subject_y;
} run_opts;

enum {
    OPT_ENGINE = 256,
    OPT_MODEL,
    OPT_THREADS,
    OPT_LEASE,
    OPT_POLL,
    OPT_IDLE,
    OPT_WORKERS,
    OPT_MODE,
    OPT_OUT,
    OPT_WHOLE,
    OPT_METRICS_PORT,
    OPT_METRICS_BIND,
    OPT_NO_PROGRESS,
    OPT_SUBJECT
};

static const struct option long_opts[] = {
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"model", required_argument, NULL, OPT_MODEL},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"poll", required_argument, NULL, OPT_POLL},
    {"idle-exit", no_argument, NULL, OPT_IDLE},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"mode", required_argument, NULL, OPT_MODE},
    {"out", required_argument, NULL, OPT_OUT},
    {"whole", no_argument, NULL, OPT_WHOLE},
    {"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
    {"metrics-bind", required_argument, NULL, OPT_METRICS_BIND},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"subject", required_argument, NULL, OPT_SUBJECT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses argv into `o`; returns the index of the first positional argument, or -1
 * after printing a usage error. */
static int parse_run_opts(const char *cmd, int argc, char **argv, run_opts *o)
{
    memset(o, 0, sizeof *o);
    pipeline_worker_opts_default(&o->w);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->workers = n > 0 ? (int)n : 1;
    o->metrics_port = -1;
    optind = 1;
    opterr = 0;
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_ENGINE:
            o->w.pose.engine = optarg;
            break;
        case OPT_MODEL:
            o->w.pose.model = optarg;
            break;
        case OPT_THREADS:
            if (cli_opt_double(cmd, "--threads", optarg, 1, 64, &v))
                return -1;
            o->w.pose.threads = (int)v;
            break;
        case OPT_LEASE:
            if (cli_opt_double(cmd, "--lease", optarg, 1, 86400, &v))
                return -1;
            o->w.lease_seconds = v;
            break;
        case OPT_POLL:
            if (cli_opt_double(cmd, "--poll", optarg, 0.01, 3600, &v))
                return -1;
            o->w.poll_seconds = v;
            break;
        case OPT_IDLE:
            o->w.idle_exit = 1;
            break;
        case OPT_WORKERS:
            if (cli_opt_double(cmd, "--workers", optarg, 1, 256, &v))
                return -1;
            o->workers = (int)v;
            break;
        case OPT_MODE:
            if (analysis_mode_find(optarg) < 0) {
                fprintf(stderr, "crease %s: --mode must be " ANALYSIS_MODES_TEXT "\n", cmd);
                return -1;
            }
            o->mode = optarg;
            break;
        case OPT_OUT:
            o->out = optarg;
            break;
        case OPT_WHOLE:
            o->whole = 1;
            break;
        case OPT_METRICS_PORT:
            if (cli_opt_double(cmd, "--metrics-port", optarg, 0, 65535, &v))
                return -1;
            o->metrics_port = (int)v;
            break;
        case OPT_METRICS_BIND:
            o->metrics_bind = optarg;
            break;
        case OPT_NO_PROGRESS:
            o->no_progress = 1;
            break;
        case OPT_SUBJECT:
            if (cli_parse_point(optarg, &o->subject_x, &o->subject_y) != 0) {
                fprintf(stderr, "crease %s: --subject must be X,Y with both in 0..1, got '%s'\n",
                        cmd, optarg);
                return -1;
            }
            o->subject = 1;
            break;
        default:
            fprintf(stderr, "crease %s: unknown option '%s' (see crease %s --help)\n", cmd,
                    argv[optind - 1], cmd);
            return -1;
        }
    }
    return optind;
}

static const char *pose_opts_help =
    "  --engine cpu|cpu-amx|xnnpack|ref|cuda  pose engine (default with one thread:\n"
    "                         cpu-amx on a CPU with AMX, cpu on one with AVX-512;\n"
    "                         else xnnpack; cuda: one NVIDIA GPU)\n"
    "  --model lite|full|heavy  landmark model (default full)\n"
    "  --threads N            engine threads per worker (default 1)\n";

/* ---- crease analyze ------------------------------------------------------------- */

typedef struct thread_arg {
    const cr_config *cfg;
    pipeline_worker_opts w;
    char name[96];
    pipeline_worker_stats stats;
    cr_status st;
    cr_err err;
    atomic_int *finished; /* counts the threads that returned */
} thread_arg;

static void *chunk_thread(void *p)
{
    thread_arg *a = p;
    a->w.worker_id = a->name;
    a->st = pipeline_chunk_worker_run(a->cfg, &a->w, &a->stats, &a->err);
    atomic_fetch_add(a->finished, 1);
    return NULL;
}

/* The default landmark model and the detector, read into the process's set while the
 * video is stored and planned (cmd_analyze), so the workers find them loaded and only
 * pack their engines' weights.  A failure is left to the workers: pose_models_get tries
 * a file again on the next call and they report its error. */
typedef struct model_preload {
    pose_models *models;
    const char *model;
} model_preload;

static void *preload_models(void *p)
{
    model_preload *m = p;
    engine_model *det = NULL, *lm = NULL;
    cr_err e = {0};
    if (pose_models_get(m->models, m->model, &det, &lm, &e) == CR_OK) {
        engine_model_free(det); /* the set keeps its own references */
        engine_model_free(lm);
    }
    return NULL;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Shows the job's chunk count from the store until `started` worker threads have
 * returned: the store is the truth (a chunk counts when its transaction commits),
 * and reading it needs nothing from the workers.  A failed read skips one update. */
static void show_chunk_progress(store *st, const char *job_id, atomic_int *finished, int started,
                                const struct timespec *t0)
{
    cli_progress pr;
    int tty = isatty(STDERR_FILENO);
    cli_progress_open(&pr, stderr, tty, "analyzing", "chunks");
    /* a terminal redraws 4 times a second; plain lines come only on a change, so a
     * poll each second is enough there */
    struct timespec nap = {tty ? 0 : 1, tty ? 250000000L : 0};
    for (;;) {
        int all_done = atomic_load(finished) >= started;
        store_job j;
        cr_err e = {0};
        if (store_job_get(st, job_id, &j, &e) == CR_OK)
            cli_progress_update(&pr, j.completed_chunks, j.total_chunks, seconds_since(t0));
        if (all_done)
            break;
        nanosleep(&nap, NULL);
    }
    cli_progress_close(&pr);
}

static int print_job_outcome(const cr_config *cfg, store *st, blob_store *blob, const char *job_id,
                             const char *out_path, double seconds)
{
    store_job j;
    cr_err e = {0};
    if (store_job_get(st, job_id, &j, &e) != CR_OK) {
        fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
        return 1;
    }
    if (strcmp(j.status, STORE_JOB_DONE) != 0) {
        fprintf(stderr, "crease analyze: job %s %s: %s\n", j.id, j.status,
                j.error_message[0] ? j.error_message : "not finished");
        return 1;
    }
    char *results = NULL;
    json_t *sum = NULL;
    if (store_job_results(st, job_id, &results, &e) == CR_OK && results != NULL)
        sum = json_loads(results, 0, NULL);
    json_t *s = json_object_get(sum, "summary");
    printf("job %s done in %.1f s\n", j.id, seconds);
    printf("  video: %.2f s, %d chunks of %d s, sampled at %g fps\n", j.video_duration_seconds,
           j.total_chunks, cfg->chunk_seconds, cfg->sample_fps);
    printf("  frames: %lld, person detected in %lld (%.0f %%)\n",
           (long long)json_integer_value(json_object_get(s, "frames")),
           (long long)json_integer_value(json_object_get(s, "frames_detected")),
           100.0 * json_real_value(json_object_get(s, "detection_rate")));
    /* the top findings (sorted by severity) and the report */
    json_t *fd = json_object_get(sum, "findings");
    const json_t *rel = json_object_get(fd, "reliability");
    if (json_is_true(json_object_get(rel, "low")))
        printf("  WARNING: %s\n", json_string_value(json_object_get(rel, "warning")));
    json_t *list = json_object_get(fd, "findings");
    if (json_is_array(list)) {
        printf("  mode: %s, overall level: %s, %zu finding%s\n",
               json_string_value(json_object_get(fd, "mode")),
               json_string_value(json_object_get(fd, "overall_level")), json_array_size(list),
               json_array_size(list) == 1 ? "" : "s");
        for (size_t i = 0; i < json_array_size(list) && i < 3; i++) {
            json_t *f = json_array_get(list, i);
            printf("    [%s] %s (%s)\n", json_string_value(json_object_get(f, "severity")),
                   json_string_value(json_object_get(f, "title")),
                   json_string_value(json_object_get(f, "code")));
        }
    }
    const char *report = json_string_value(json_object_get(sum, "report_key"));
    if (cfg->blob == CR_BLOB_LOCAL)
        printf("  results: %s/%s\n", cfg->blob_dir, j.deep_results_s3_key);
    else
        printf("  results: s3://%s/%s\n", cfg->bucket, j.deep_results_s3_key);
    if (report != NULL) {
        if (cfg->blob == CR_BLOB_LOCAL)
            printf("  report: %s/%s\n", cfg->blob_dir, report);
        else
            printf("  report: s3://%s/%s\n", cfg->bucket, report);
    }
    json_decref(sum);
    cr_free(results);
    if (out_path != NULL) {
        if (blob_get_file(blob, j.deep_results_s3_key, out_path, &e) != CR_OK) {
            fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
            return 1;
        }
        printf("  written to %s\n", out_path);
    }
    return 0;
}

int cmd_analyze(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease analyze [OPTIONS] VIDEO\n\n"
               "Analyses one video end to end on the configured store and blob store (by\n"
               "default the embedded SQLite file and local folder under ./crease-data):\n"
               "stores the video, plans its chunks, runs pose estimation on the chunks in\n"
               "parallel worker threads, merges them into final_results.json (landmarks,\n"
               "metrics, findings) and writes report.html, the report for the coach.\n\n"
               "options:\n"
               "  --workers N            chunk worker threads (default: the number of CPUs)\n"
               "  --mode MODE            " ANALYSIS_MODES_BAR "\n"
               "  --out FILE             also write final_results.json to FILE\n"
               "  --no-progress          the workers' log lines (LOG_LEVEL) on stderr instead of\n"
               "                         the progress display (a bar on a terminal, a line per\n"
               "                         finished chunk otherwise)\n"
               "  --subject X,Y          follow the player nearest this point of the first\n"
               "                         frame (0..1 each, from the top left); default: the\n"
               "                         strongest detection\n"
               "%s",
               pose_opts_help);
        return 0;
    }
    run_opts o;
    int i = parse_run_opts("analyze", argc, argv, &o);
    if (i < 0)
        return 2;
    if (argc - i != 1) {
        fprintf(stderr, "usage: crease analyze [OPTIONS] VIDEO (see crease analyze --help)\n");
        return 2;
    }
    const char *path = argv[i];
    /* The progress display says what the workers' info lines would say, and those
     * would break a bar drawn in place: unless LOG_LEVEL asks for them, only warnings
     * and errors are logged while it is shown. */
    if (!o.no_progress && getenv("LOG_LEVEL") == NULL && cfg->log_level < CR_LOG_WARN)
        cr_log_configure(CR_LOG_WARN, cfg->log_json);
    /* SIGTERM/SIGINT: workers finish the chunk in hand and stop. */
    volatile sig_atomic_t *stop = cli_stop_on_signals();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    store *st = NULL;
    blob_store *blob = NULL;
    cr_err e = {0};
    int rc = 1;
    thread_arg *args = NULL;
    pthread_t *tids = NULL;
    int started = 0;
    /* the models, loaded once for all the worker threads */
    pose_models *models = NULL;
    if (pose_models_create(cfg, &models, &e) != CR_OK) {
        fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
        return 1;
    }
    o.w.pose.models = models;
    model_preload pre = {models, o.w.pose.model != NULL ? o.w.pose.model : "full"};
    pthread_t pre_tid;
    int preloading = pthread_create(&pre_tid, NULL, preload_models, &pre) == 0;
    if (store_open(cfg, NULL, &st, &e) != CR_OK || store_migrate_up(st, 0, NULL, &e) != CR_OK ||
        blob_open(cfg, NULL, &blob, &e) != CR_OK) {
        fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
        goto done;
    }
    pipeline_submission sub;
    /* analysed now: the video is linked into a local store, not copied */
    pipeline_submit_opts so = {.path = path,
                               .link_file = 1,
                               .analysis_mode = o.mode,
                               .chunked = 1,
                               .subject = o.subject,
                               .subject_x = o.subject_x,
                               .subject_y = o.subject_y};
    if (pipeline_submit_file(cfg, blob, st, &so, &sub, &e) != CR_OK) {
        fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
        goto done;
    }
    atomic_int finished = 0;
    int nw = o.workers < sub.chunks ? o.workers : sub.chunks;
    args = cr_calloc((size_t)nw, sizeof *args);
    tids = cr_calloc((size_t)nw, sizeof *tids);
    if (args == NULL || tids == NULL) {
        fprintf(stderr, "crease analyze: out of memory\n");
        goto done;
    }
    for (int k = 0; k < nw; k++) {
        args[k].cfg = cfg;
        args[k].w = o.w;
        args[k].w.idle_exit = 1;
        args[k].w.wait_job = sub.job_id;
        args[k].w.poll_seconds = 0.1;
        args[k].w.stop = stop;
        args[k].w.workers = nw;
        args[k].finished = &finished;
        worker_name(args[k].name, sizeof args[k].name, k);
        if (pthread_create(&tids[k], NULL, chunk_thread, &args[k]) != 0) {
            fprintf(stderr, "crease analyze: cannot start worker thread %d\n", k);
            *stop = 1;
            break;
        }
        started++;
    }
    if (!o.no_progress)
        show_chunk_progress(st, sub.job_id, &finished, started, &t0);
    int worker_failed = 0;
    for (int k = 0; k < started; k++) {
        pthread_join(tids[k], NULL);
        if (args[k].st != CR_OK) {
            fprintf(stderr, "crease analyze: worker %d: %s\n", k, cr_err_msg(&args[k].err));
            worker_failed = 1;
        }
    }
    if (*stop || worker_failed || started < nw) {
        fprintf(stderr, "crease analyze: stopped; job %s stays queued (crease jobs show %s)\n",
                sub.job_id, sub.job_id);
        goto done;
    }
    /* The analysis worker, for this job only. */
    pipeline_worker_opts aw = o.w;
    char name[96];
    worker_name(name, sizeof name, -1);
    aw.worker_id = name;
    aw.idle_exit = 1;
    aw.wait_job = sub.job_id;
    aw.poll_seconds = 0.1;
    aw.stop = stop;
    pipeline_worker_stats ws;
    if (!o.no_progress && !*stop)
        fprintf(stderr, "analyzing: merging %d chunks, metrics and report\n", sub.chunks);
    if (pipeline_analysis_worker_run(cfg, &aw, &ws, &e) != CR_OK) {
        fprintf(stderr, "crease analyze: %s\n", cr_err_msg(&e));
        goto done;
    }
    rc = print_job_outcome(cfg, st, blob, sub.job_id, o.out, seconds_since(&t0));
done:
    if (preloading)
        pthread_join(pre_tid, NULL);
    cr_free(args);
    cr_free(tids);
    blob_close(blob);
    store_close(st);
    pose_models_destroy(models);
    return rc;
}

/* ---- crease submit -------------------------------------------------------------- */

int cmd_submit(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease submit [--mode MODE] [--whole] [--subject X,Y] VIDEO\n\n"
               "Does what the API's upload + upload-complete do, from a local file: stores\n"
               "the video under a new session, probes it, creates the job and its chunks\n"
               "(queued for chunk workers; --whole: deep_mode 'cpu', one analysis worker\n"
               "does it all).  Prints {job_id, session_id, video_key, duration_seconds,\n"
               "chunks} as JSON.  The schema must be migrated (crease migrate up).\n");
        return 0;
    }
    run_opts o;
    int i = parse_run_opts("submit", argc, argv, &o);
    if (i < 0)
        return 2;
    if (argc - i != 1) {
        fprintf(stderr, "usage: crease submit [--mode MODE] [--whole] VIDEO\n");
        return 2;
    }
    store *st = NULL;
    blob_store *blob = NULL;
    cr_err e = {0};
    int rc = 1;
    pipeline_submission sub;
    pipeline_submit_opts so = {.path = argv[i],
                               .analysis_mode = o.mode,
                               .chunked = !o.whole,
                               .subject = o.subject,
                               .subject_x = o.subject_x,
                               .subject_y = o.subject_y};
    if (store_open(cfg, NULL, &st, &e) != CR_OK || store_check_schema(st, &e) != CR_OK ||
        blob_open(cfg, NULL, &blob, &e) != CR_OK ||
        pipeline_submit_file(cfg, blob, st, &so, &sub, &e) != CR_OK) {
        fprintf(stderr, "crease submit: %s\n", cr_err_msg(&e));
        goto done;
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:f,s:i}", "job_id", sub.job_id, "session_id",
                          sub.session_id, "video_key", sub.video_key, "duration_seconds",
                          sub.duration_seconds, "chunks", sub.chunks);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
        rc = 0;
    }
    free(text);
    json_decref(j);
done:
    blob_close(blob);
    store_close(st);
    return rc;
}

/* ---- the worker commands -------------------------------------------------------- */

static int run_worker(const cr_config *cfg, int argc, char **argv, const char *cmd, int analysis)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease %s [OPTIONS]\n\n%s\n\noptions:\n"
               "  --lease SECONDS        lease on claimed work, renewed every third (default 60)\n"
               "  --poll SECONDS         wait when there is no work (default 1)\n"
               "  --idle-exit            exit when the queue has no more work\n"
               "  --metrics-port N       serve GET /metrics, /healthz, /readyz on port N\n"
               "                         (0: any free port, logged)\n"
               "  --metrics-bind ADDR    IPv4 address of that port (default 127.0.0.1)\n"
               "%s"
               "SIGTERM or SIGINT: stop claiming, finish the work in hand, exit 0.\n",
               cmd,
               analysis ? "Claims jobs whose chunks are all completed (or deep_mode 'cpu' jobs),\n"
                          "merges their chunks into final_results.json, marks them done."
                        : "Claims queued chunks (oldest job first), runs pose estimation on\n"
                          "each, writes chunk_NNNN.json to the blob store, marks them completed.",
               pose_opts_help);
        return 0;
    }
    run_opts o;
    int i = parse_run_opts(cmd, argc, argv, &o);
    if (i < 0)
        return 2;
    if (i != argc) {
        fprintf(stderr, "crease %s: unexpected argument '%s'\n", cmd, argv[i]);
        return 2;
    }
    char name[96];
    worker_name(name, sizeof name, -1);
    o.w.worker_id = name;
    o.w.stop = cli_stop_on_signals(); /* SIGTERM/SIGINT: finish the work in hand, stop */
    {
        store *st = NULL;
        cr_err e = {0};
        cr_status s = store_open(cfg, NULL, &st, &e);
        if (s == CR_OK)
            s = store_check_schema(st, &e);
        store_close(st);
        if (s != CR_OK) {
            fprintf(stderr, "crease %s: %s\n", cmd, cr_err_msg(&e));
            return 1;
        }
    }
    /* The metrics port: the registry the loop records into, served beside it. */
    cr_metrics *reg = NULL;
    api_monitor *mon = NULL;
    cr_err e = {0};
    if (o.metrics_port >= 0) {
        cr_status ms = cr_metrics_create(&reg, &e);
        if (ms == CR_OK)
            ms = pipeline_metrics_declare(reg, &e);
        if (ms == CR_OK) {
            api_monitor_opts mo = {o.metrics_bind, o.metrics_port, cmd, reg};
            ms = api_monitor_start(cfg, &mo, &mon, &e);
        }
        if (ms != CR_OK) {
            fprintf(stderr, "crease %s: metrics port: %s\n", cmd, cr_err_msg(&e));
            cr_metrics_destroy(reg);
            return 1;
        }
        o.w.metrics = reg;
    }
    cr_log_info("worker.start", "%s %s lease=%.0fs metrics_port=%d", cmd, name, o.w.lease_seconds,
                mon ? api_monitor_port(mon) : -1);
    pipeline_worker_stats ws = {0};
    pose_models *models = NULL; /* a loop that switches models loads each once */
    cr_status s = pose_models_create(cfg, &models, &e);
    o.w.pose.models = models;
    if (s == CR_OK)
        s = analysis ? pipeline_analysis_worker_run(cfg, &o.w, &ws, &e)
                     : pipeline_chunk_worker_run(cfg, &o.w, &ws, &e);
    pose_models_destroy(models);
    cr_log_info("worker.stop", "%s %s chunks=%lld failed=%lld jobs=%lld jobs_failed=%lld", cmd,
                name, (long long)ws.chunks_done, (long long)ws.chunks_failed,
                (long long)ws.jobs_done, (long long)ws.jobs_failed);
    api_monitor_stop(mon);
    cr_metrics_destroy(reg);
    if (s != CR_OK) {
        fprintf(stderr, "crease %s: %s\n", cmd, cr_err_msg(&e));
        return 1;
    }
    return 0;
}

int cmd_chunk_worker(const cr_config *cfg, int argc, char **argv)
{
    return run_worker(cfg, argc, argv, "chunk-worker", 0);
}

int cmd_analysis_worker(const cr_config *cfg, int argc, char **argv)
{
    return run_worker(cfg, argc, argv, "analysis-worker", 1);
}
