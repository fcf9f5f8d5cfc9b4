/*
 * pipeline_cli.c -- the pipeline module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_chunk_worker(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease chunk-worker ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease chunk-worker: not implemented yet\n");
    return 1;
}

int cmd_analysis_worker(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease analysis-worker ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease analysis-worker: not implemented yet\n");
    return 1;
}

int cmd_analyze(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease analyze VIDEO\n\nAnalyses one video end to end.\n");
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: crease analyze VIDEO\n");
        return 2;
    }
    printf("analysis not implemented yet\n");
    return 0;
}
