/*
 * main.c -- the `crease` binary: parse the configuration once, then dispatch to a
 * subcommand.  Configuration errors exit with status 2 (CLI_EXIT_USAGE) and one line
 * naming the variable, before any command runs.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

#ifndef CREASE_VERSION
#define CREASE_VERSION "0.1.0"
#endif

typedef struct command {
    const char *name;
    cr_command_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {"analyze", cmd_analyze, "analyse one video end to end (embedded store and blobs)"},
    {"serve", cmd_serve, "run the HTTP API (with worker threads in embedded mode)"},
    {"token", cmd_token, "print an API token for a coach (HS256 JWT)"},
    {"submit", cmd_submit, "store a video and queue its analysis job (upload + complete)"},
    {"chunk-worker", cmd_chunk_worker, "claim and process video chunks from the queue"},
    {"analysis-worker", cmd_analysis_worker, "aggregate finished jobs into results and reports"},
    {"probe", cmd_probe, "print a video's duration, frame rate, size, rotation, codec"},
    {"chunks", cmd_chunks, "print a video's chunk plan"},
    {"frames", cmd_frames, "sample a time range of a video on the pose grid"},
    {"pose", cmd_pose, "run BlazePose on an image or video"},
    {"migrate", cmd_migrate, "apply or undo database migrations (up | down [N] | status)"},
    {"jobs", cmd_jobs, "list, show, retry analysis jobs; queue depth; stuck and failed chunks"},
    {"gpu-mode", cmd_gpu_mode, "chunked (gpu) or whole-video (cpu) analysis of jobs not started"},
    {"autoscale-metric", cmd_autoscale_metric, "publish queued chunks per worker to CloudWatch"},
    {"blob", cmd_blob, "put, get, head, ls, rm, presign objects in the blob store"},
    {"config", cmd_config, "print the effective configuration as JSON"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: crease COMMAND [ARGS...]\n\n"
               "crease analyses cricket coaching videos: pose estimation, metrics, reports.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-16s %s\n", "help COMMAND", "explain one command");
    fprintf(f, "\nConfiguration comes from the environment (CHUNK_SECONDS, SAMPLE_FPS, MAX_WIDTH,\n"
               "DATABASE_URL, S3_COACH_VIDEOS_BUCKET, ...); `crease config` shows it.\n");
}

static const command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    cr_mem_init();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("crease %s\n", CREASE_VERSION);
        return CLI_EXIT_OK;
    }

    char *help_argv[3];
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const command *c = find(argv[2]);
        if (c == NULL) {
            fprintf(stderr, "crease: unknown command '%s' (see crease --help)\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        help_argv[0] = argv[2];
        help_argv[1] = "--help";
        help_argv[2] = NULL;
        static const cr_config defaults_for_help; /* help never reads the configuration */
        return c->fn(&defaults_for_help, 2, help_argv);
    }

    const command *c = find(name);
    if (c == NULL) {
        fprintf(stderr, "crease: unknown command '%s' (see crease --help)\n", name);
        return CLI_EXIT_USAGE;
    }

    static cr_config cfg; /* large; lives for the whole run */
    cr_err err = {0};
    if (cli_wants_help(argc - 1, argv + 1) == 0 && cr_config_from_env(&cfg, &err) != CR_OK) {
        fprintf(stderr, "crease: configuration error: %s\n", cr_err_msg(&err));
        return CLI_EXIT_USAGE;
    }
    cr_log_configure(cfg.log_level, cfg.log_json);
    return c->fn(&cfg, argc - 1, argv + 1);
}
