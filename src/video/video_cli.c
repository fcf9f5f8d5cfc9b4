/*
 * video_cli.c -- the video module's subcommands (placeholder until the module lands).
 */
#include "cli/commands.h"

#include <stdio.h>

int cmd_probe(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease probe ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease probe: not implemented yet\n");
    return 1;
}

int cmd_chunks(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease chunks ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease chunks: not implemented yet\n");
    return 1;
}

int cmd_frames(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease frames ...\n\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "crease frames: not implemented yet\n");
    return 1;
}
