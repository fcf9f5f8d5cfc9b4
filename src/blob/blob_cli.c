/*
 * blob_cli.c -- the blob module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_blob(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease blob ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease blob: not implemented yet\n");
    return 1;
}
