/*
 * cli.c -- the helpers every command shares (cli.h): --help detection, option
 * values, number parsing with range checks, and the stop flag set by SIGTERM and
 * SIGINT.  Each of these is written here once; the commands call them.
 */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name, unsigned flags,
                          int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=' && (flags & CLI_OPT_INLINE))
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        if (missing != NULL)
            *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (s == NULL)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_point(const char *s, double *x, double *y)
{
    char *end;
    errno = 0;
    double a = strtod(s, &end);
    if (end == s || *end != ',' || errno != 0)
        return -1;
    const char *t = end + 1;
    double b = strtod(t, &end);
    if (end == t || *end != '\0' || errno != 0)
        return -1;
    if (!(a >= 0.0 && a <= 1.0 && b >= 0.0 && b <= 1.0))
        return -1;
    *x = a;
    *y = b;
    return 0;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
    long v;
    if (cli_parse_long(s, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    if (s == NULL)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_opt_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out)
{
    if (cli_parse_long(v, lo, hi, out) == 0)
        return 0;
    fprintf(stderr, "crease %s: %s must be an integer from %ld to %ld, got '%s'\n", cmd, opt, lo,
            hi, v ? v : "");
    return -1;
}

int cli_opt_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
                   double *out)
{
    if (cli_parse_double(v, lo, hi, out) == 0)
        return 0;
    fprintf(stderr, "crease %s: %s must be a number from %g to %g, got '%s'\n", cmd, opt, lo, hi,
            v ? v : "");
    return -1;
}

/* Set by SIGTERM/SIGINT (on_stop_signal); read by the commands' loops and workers. */
static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *cli_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return &stop_requested;
}
