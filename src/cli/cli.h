/*
 * cli.h -- the `crease` command line: its subcommands and the helpers they share.
 *
 * The CLI is the top layer.  The commands of each area live in cli/cli_<area>.c,
 * above the module libraries they drive; no module includes this header.
 *
 * A command gets the parsed configuration and its own argv (argv[0] is the command
 * name), returns the process exit status (cli_exit), and handles `--help`/`-h`
 * itself by printing its usage to stdout and returning 0.  Errors go to stderr as
 * one line, "crease COMMAND: what went wrong".
 *
 * The helpers print nothing unless their comment says so, and never exit.
 */
#ifndef CR_CLI_H
#define CR_CLI_H

#include "core/config.h"

#include <signal.h>

/* Exit statuses of `crease` and of every command.  Scripts test them: never change. */
typedef enum cli_exit {
    CLI_EXIT_OK = 0,    /* done */
    CLI_EXIT_FAIL = 1,  /* the work failed (input, store, blob store, ...) */
    CLI_EXIT_USAGE = 2, /* bad command line or configuration; nothing was done */
} cli_exit;

typedef int (*cr_command_fn)(const cr_config *cfg, int argc, char **argv);

/* config (cli_config.c) */
int cmd_config(const cr_config *cfg, int argc, char **argv);
/* video (cli_video.c) */
int cmd_probe(const cr_config *cfg, int argc, char **argv);
int cmd_chunks(const cr_config *cfg, int argc, char **argv);
int cmd_frames(const cr_config *cfg, int argc, char **argv);
/* pose (cli_pose.c) */
int cmd_pose(const cr_config *cfg, int argc, char **argv);
/* store (cli_store.c) */
int cmd_migrate(const cr_config *cfg, int argc, char **argv);
int cmd_jobs(const cr_config *cfg, int argc, char **argv);
/* blob (cli_blob.c) */
int cmd_blob(const cr_config *cfg, int argc, char **argv);
/* pipeline (cli_pipeline.c) */
int cmd_analyze(const cr_config *cfg, int argc, char **argv);
int cmd_chunk_worker(const cr_config *cfg, int argc, char **argv);
int cmd_analysis_worker(const cr_config *cfg, int argc, char **argv);
int cmd_submit(const cr_config *cfg, int argc, char **argv);
/* operations (cli_ops.c) */
int cmd_autoscale_metric(const cr_config *cfg, int argc, char **argv);
int cmd_gpu_mode(const cr_config *cfg, int argc, char **argv);
/* api (cli_api.c) */
int cmd_serve(const cr_config *cfg, int argc, char **argv);
int cmd_token(const cr_config *cfg, int argc, char **argv);

/* ---- help and options (cli.c) ------------------------------------------------------ */

/* True when argv (after the command name) asks for help: any `--help` or `-h`. */
int cli_wants_help(int argc, char **argv);

/* cli_opt_value flags. */
#define CLI_OPT_INLINE 1u /* also accept `--name=value` in one argument */

/*
 * When argv[*i] is the option `name` followed by a value, returns the value and
 * leaves *i on the last argument used (the value).  Otherwise returns NULL with *i
 * unchanged, and sets *missing (if not NULL) to 1 when argv[*i] is exactly `name`
 * with nothing after it.  *missing is never cleared, so one flag serves a chain of
 * calls: `else if (missing)` after them reports the option that lacks its value.
 */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, unsigned flags,
                          int *missing);

/* ---- numbers (cli.c) --------------------------------------------------------------- */

/*
 * Parse all of s as a number in [lo, hi] and store it in *out.  Integers are decimal
 * (strtol: leading blanks and a sign allowed); doubles are what strtod reads, finite.
 * Return 0, or -1 with *out untouched when s is NULL or empty, has trailing
 * characters, overflows, or lies outside [lo, hi].
 */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_int(const char *s, int lo, int hi, int *out);

/* Parses "X,Y" with both numbers in 0..1 (a point of the picture, normalized: the
 * subject hint).  Returns 0, or -1 (outputs untouched) for anything else. */
int cli_parse_point(const char *s, double *x, double *y);
int cli_parse_double(const char *s, double lo, double hi, double *out);

/*
 * The same for the value v of option `opt` of command `cmd`; on -1 they also print
 * the one-line usage error
 *   crease CMD: OPT must be an integer from LO to HI, got 'V'   (cli_opt_long)
 *   crease CMD: OPT must be a number from LO to HI, got 'V'     (cli_opt_double)
 * and the command returns CLI_EXIT_USAGE.
 */
int cli_opt_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);
int cli_opt_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
                   double *out);

/* ---- graceful stop (cli.c) --------------------------------------------------------- */

/*
 * Installs handlers for SIGTERM and SIGINT that only set the returned flag, so a
 * long-running command can finish the work in hand and exit 0.  The flag starts at
 * 0 and is the same on every call; a command may also set it itself to stop its
 * threads.  Call it from the main thread before starting other threads.
 */
volatile sig_atomic_t *cli_stop_on_signals(void);

#endif
