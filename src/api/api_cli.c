/*
 * api_cli.c -- the api module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_serve(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease serve ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease serve: not implemented yet\n");
    return 1;
}
