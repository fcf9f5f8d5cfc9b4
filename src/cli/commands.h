/*
 * commands.h -- the subcommands of the `crease` binary.
 *
 * The commands of each area live in cli/cli_<area>.c, above the module libraries
 * they drive (no module includes this header).  A command gets the parsed
 * configuration and its own argv (argv[0] is the command name), returns the process
 * exit status (0 ok, 1 failure, 2 usage error), and handles `--help`/`-h` itself by
 * printing its usage to stdout and returning 0.
 */
#ifndef CR_CLI_COMMANDS_H
#define CR_CLI_COMMANDS_H

#include "core/config.h"

typedef int (*cr_command_fn)(const cr_config *cfg, int argc, char **argv);

/* config (cli.c) */
int cmd_config(const cr_config *cfg, int argc, char **argv);
/* video */
int cmd_probe(const cr_config *cfg, int argc, char **argv);
int cmd_chunks(const cr_config *cfg, int argc, char **argv);
int cmd_frames(const cr_config *cfg, int argc, char **argv);
/* pose */
int cmd_pose(const cr_config *cfg, int argc, char **argv);
/* store */
int cmd_migrate(const cr_config *cfg, int argc, char **argv);
int cmd_jobs(const cr_config *cfg, int argc, char **argv);
/* blob */
int cmd_blob(const cr_config *cfg, int argc, char **argv);
/* pipeline */
int cmd_analyze(const cr_config *cfg, int argc, char **argv);
int cmd_chunk_worker(const cr_config *cfg, int argc, char **argv);
int cmd_analysis_worker(const cr_config *cfg, int argc, char **argv);
int cmd_submit(const cr_config *cfg, int argc, char **argv);
/* api */
int cmd_serve(const cr_config *cfg, int argc, char **argv);
int cmd_token(const cr_config *cfg, int argc, char **argv);

/* True when argv (after the command name) asks for help. */
int cli_wants_help(int argc, char **argv);

#endif
