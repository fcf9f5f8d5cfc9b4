/*
 * store_cli.c -- the store module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_migrate(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease migrate ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease migrate: not implemented yet\n");
    return 1;
}

int cmd_jobs(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease jobs ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease jobs: not implemented yet\n");
    return 1;
}
