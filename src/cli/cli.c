/*
 * cli.c -- helpers shared by the subcommands, and `crease config`.
 */
#include "cli/commands.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

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
