/*
 * cli_api.c -- `crease serve` (the HTTP API, api.h) and `crease token` (an API token
 * for a coach, for operators and tests).
 */
#include "api/api.h"
#include "cli/cli.h"
#include "core/mem.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char serve_usage[] =
    "usage: crease serve [--port N] [--bind ADDR] [--workers N] [--public-url URL]\n"
    "\n"
    "Runs the HTTP API (POST /api/coaches/plus/videos/upload/initiate|complete,\n"
    "GET /api/coaches/plus/analysis-jobs[/{id}], POST .../analysis-jobs/{id}/retry, the\n"
    "session routes, and /blobs/ for the local blob store's presigned URLs; every one is\n"
    "in GET /openapi.json) and, without a token, GET /health, /healthz (the process\n"
    "runs), /readyz (database and blob store answer, else 503 with the reason) and\n"
    "/metrics (Prometheus: the queue, jobs by status, GPU, this process's counters),\n"
    "and the coach's web page at GET / (sign in with a token, upload, progress, report).\n"
    "Requires APP_SECRET_KEY (signs the HS256 tokens: see `crease token`).\n"
    "With the embedded SQLite store it migrates the schema and runs N chunk-worker\n"
    "threads and one analysis-worker thread; with PostgreSQL run the workers apart.\n"
    "\n"
    "  --port N         port to listen on (default 8000; 0 = any free port)\n"
    "  --bind ADDR      IPv4 address to listen on (default 127.0.0.1)\n"
    "  --workers N      chunk-worker threads in the embedded shape (default 2; 0 = none)\n"
    "  --public-url URL base of the local blob store's upload/download URLs\n"
    "                   (default http://ADDR:PORT)\n"
    "  --jobs-burst N   new jobs one token may create at once (default 10)\n"
    "  --jobs-per-minute N  then per minute (default 30; 0 = no limit); beyond: 429\n"
    "                   with Retry-After\n"
    "SIGTERM or SIGINT stops it cleanly (exit 0).\n";

int cmd_serve(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(serve_usage, stdout);
        return 0;
    }
    static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
                                             {"bind", required_argument, NULL, 'b'},
                                             {"workers", required_argument, NULL, 'w'},
                                             {"public-url", required_argument, NULL, 'u'},
                                             {"jobs-burst", required_argument, NULL, 'B'},
                                             {"jobs-per-minute", required_argument, NULL, 'R'},
                                             {NULL, 0, NULL, 0}};
    api_options o = {0};
    o.bind = "127.0.0.1";
    o.port = 8000;
    o.chunk_workers = 2; /* the machine DESIGN.md §9 measures on has 2 cores */
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cli_opt_long("serve", "--port", optarg, 0, 65535, &v) != 0)
                return 2;
            o.port = (int)v;
            break;
        case 'b':
            o.bind = optarg;
            break;
        case 'w':
            if (cli_opt_long("serve", "--workers", optarg, 0, 256, &v) != 0)
                return 2;
            o.chunk_workers = (int)v;
            break;
        case 'u':
            o.public_url = optarg;
            break;
        case 'B':
            if (cli_opt_long("serve", "--jobs-burst", optarg, 1, 100000, &v) != 0)
                return 2;
            o.jobs_burst = (double)v;
            break;
        case 'R':
            if (cli_opt_long("serve", "--jobs-per-minute", optarg, 0, 1000000, &v) != 0)
                return 2;
            o.jobs_per_minute = v == 0 ? -1.0 : (double)v; /* 0: no limit */
            break;
        default:
            fputs(serve_usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crease serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cfg->app_secret_key[0] == '\0') {
        fprintf(stderr, "crease serve: APP_SECRET_KEY is required (it signs the API tokens)\n");
        return 2;
    }

    /* SIGTERM/SIGINT: stop accepting, stop the workers, exit 0. */
    volatile sig_atomic_t *serve_stop = cli_stop_on_signals();
    signal(SIGPIPE, SIG_IGN);

    api_server *srv = NULL;
    cr_err e = {0};
    if (api_server_start(cfg, &o, &srv, &e) != CR_OK) {
        fprintf(stderr, "crease serve: %s\n", cr_err_msg(&e));
        return 1;
    }
    printf("crease serve: listening on http://%s:%d\n", o.bind, api_server_port(srv));
    fflush(stdout);
    while (!*serve_stop) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    api_server_stop(srv);
    printf("crease serve: stopped\n");
    return 0;
}

static const char token_usage[] =
    "usage: crease token --sub COACH [--ttl SECONDS]\n"
    "\n"
    "Prints an API token (HS256 JWT signed with APP_SECRET_KEY) whose subject is the\n"
    "coach id COACH.  --ttl: lifetime in seconds (default 3600; 0 = no expiry).\n";

int cmd_token(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(token_usage, stdout);
        return 0;
    }
    static const struct option longopts[] = {{"sub", required_argument, NULL, 's'},
                                             {"ttl", required_argument, NULL, 't'},
                                             {NULL, 0, NULL, 0}};
    const char *sub = NULL;
    long ttl = 3600;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            sub = optarg;
            break;
        case 't':
            if (cli_opt_long("token", "--ttl", optarg, 0, 10L * 365 * 86400, &ttl) != 0)
                return 2;
            break;
        default:
            fputs(token_usage, stderr);
            return 2;
        }
    }
    if (sub == NULL || optind < argc) {
        fputs(token_usage, stderr);
        return 2;
    }
    if (cfg->app_secret_key[0] == '\0') {
        fprintf(stderr, "crease token: APP_SECRET_KEY is required (it signs the token)\n");
        return 2;
    }
    int64_t now = (int64_t)time(NULL);
    char *tok = NULL;
    cr_err e = {0};
    if (api_jwt_sign(cfg->app_secret_key, sub, now, ttl > 0 ? now + ttl : 0, &tok, &e) != CR_OK) {
        fprintf(stderr, "crease token: %s\n", cr_err_msg(&e));
        return 2;
    }
    printf("%s\n", tok);
    cr_free(tok);
    return 0;
}
