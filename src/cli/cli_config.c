/*
 * cli_config.c -- `crease config`: the effective configuration (core/config.h) as
 * one line of JSON, secrets masked.
 */
#include "cli/cli.h"
#include "core/mem.h"

#include <stdio.h>

int cmd_config(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease config\n\n"
               "Prints the effective configuration (from the environment) as one line of JSON.\n"
               "Passwords and secrets are shown as \"***\".\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "crease config: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    char *s = cr_config_to_json(cfg);
    if (s == NULL) {
        fprintf(stderr, "crease config: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    cr_free(s);
    return 0;
}
