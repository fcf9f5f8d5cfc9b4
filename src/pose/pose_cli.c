/*
 * pose_cli.c -- the pose module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_pose(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease pose ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease pose: not implemented yet\n");
    return 1;
}
