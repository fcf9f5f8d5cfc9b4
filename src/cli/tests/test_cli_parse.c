/*
 * test_cli_parse.c -- the command line's shared helpers (cli.h) on their edges:
 * numbers (empty, blanks, signs, trailing junk, overflow, range ends, non-finite),
 * option values (--name VALUE, --name=VALUE, a missing value, look-alike names),
 * --help detection, and the stop flag raised by SIGTERM and SIGINT.
 */
#include "check.h"
#include "cli/cli.h"

#include <float.h>
#include <limits.h>
#include <signal.h>

static void test_long(void)
{
    long v = 7;
    CHECK(cli_parse_long("42", 0, 100, &v) == 0 && v == 42);
    CHECK(cli_parse_long("0", 0, 100, &v) == 0 && v == 0);
    CHECK(cli_parse_long("100", 0, 100, &v) == 0 && v == 100);
    CHECK(cli_parse_long("-5", -10, 10, &v) == 0 && v == -5);
    CHECK(cli_parse_long("+5", 0, 10, &v) == 0 && v == 5);
    CHECK(cli_parse_long(" 5", 0, 10, &v) == 0 && v == 5); /* strtol's leading blanks */
    v = 7;
    CHECK(cli_parse_long("", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long(NULL, 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("-", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("5x", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("5 ", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("1.0", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("0x10", 0, 100, &v) == -1 && v == 7);
    CHECK(cli_parse_long("-1", 0, 10, &v) == -1 && v == 7);
    CHECK(cli_parse_long("101", 0, 100, &v) == -1 && v == 7);
    CHECK(cli_parse_long("99999999999999999999", 0, LONG_MAX, &v) == -1 && v == 7);
    CHECK(cli_parse_long("-99999999999999999999", LONG_MIN, 0, &v) == -1 && v == 7);
    CHECK(cli_parse_long("9223372036854775807", 0, LONG_MAX, &v) == 0 && v == LONG_MAX);
}

static void test_int(void)
{
    int v = 7;
    CHECK(cli_parse_int("64", 1, 64, &v) == 0 && v == 64);
    CHECK(cli_parse_int("1", 1, 64, &v) == 0 && v == 1);
    v = 7;
    CHECK(cli_parse_int("0", 1, 64, &v) == -1 && v == 7);
    CHECK(cli_parse_int("65", 1, 64, &v) == -1 && v == 7);
    CHECK(cli_parse_int("-3", 1, 64, &v) == -1 && v == 7);
    CHECK(cli_parse_int("", 1, 64, &v) == -1 && v == 7);
    CHECK(cli_parse_int("4294967297", INT_MIN, INT_MAX, &v) == -1 && v == 7); /* 2^32+1 */
    CHECK(cli_parse_int("2147483647", INT_MIN, INT_MAX, &v) == 0 && v == INT_MAX);
    CHECK(cli_parse_int("-2147483648", INT_MIN, INT_MAX, &v) == 0 && v == INT_MIN);
}

static void test_double(void)
{
    double v = 7;
    CHECK(cli_parse_double("0.5", 0, 1, &v) == 0 && v == 0.5);
    CHECK(cli_parse_double("1e1", 0, 100, &v) == 0 && v == 10);
    CHECK(cli_parse_double("-2.5", -10, 10, &v) == 0 && v == -2.5);
    CHECK(cli_parse_double("0.01", 0.01, 3600, &v) == 0 && v == 0.01);
    v = 7;
    CHECK(cli_parse_double("", 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double(NULL, 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double(".", 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double("0.5s", 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double("-0.5", 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double("1.0001", 0, 1, &v) == -1 && v == 7);
    CHECK(cli_parse_double("nan", -DBL_MAX, DBL_MAX, &v) == -1 && v == 7);
    CHECK(cli_parse_double("inf", -DBL_MAX, DBL_MAX, &v) == -1 && v == 7);
    CHECK(cli_parse_double("-inf", -DBL_MAX, DBL_MAX, &v) == -1 && v == 7);
    CHECK(cli_parse_double("1e999", -DBL_MAX, DBL_MAX, &v) == -1 && v == 7);  /* overflow */
    CHECK(cli_parse_double("1e-999", -DBL_MAX, DBL_MAX, &v) == -1 && v == 7); /* underflow */
}

/* The option error line goes to stderr; here only the results are checked. */
static void test_opt_numbers(void)
{
    long l = 7;
    double d = 7;
    CHECK(cli_opt_long("serve", "--port", "8080", 0, 65535, &l) == 0 && l == 8080);
    CHECK(cli_opt_long("serve", "--port", "65536", 0, 65535, &l) == -1 && l == 8080);
    CHECK(cli_opt_long("serve", "--port", NULL, 0, 65535, &l) == -1 && l == 8080);
    CHECK(cli_opt_double("analyze", "--workers", "3", 1, 256, &d) == 0 && d == 3);
    CHECK(cli_opt_double("analyze", "--workers", "0", 1, 256, &d) == -1 && d == 3);
}

static void test_opt_value(void)
{
    char *argv[] = {"cmd", "--out", "x.json", "--out=y.json", "--outside", "--model", NULL};
    int argc = 6, i = 1, missing = 0;
    const char *v = cli_opt_value(argc, argv, &i, "--out", 0, &missing);
    CHECK(v != NULL && strcmp(v, "x.json") == 0 && i == 2 && missing == 0);
    i = 3; /* --out=y.json */
    CHECK(cli_opt_value(argc, argv, &i, "--out", 0, &missing) == NULL && i == 3 && !missing);
    v = cli_opt_value(argc, argv, &i, "--out", CLI_OPT_INLINE, &missing);
    CHECK(v != NULL && strcmp(v, "y.json") == 0 && i == 3 && missing == 0);
    i = 4; /* --outside is another option */
    CHECK(cli_opt_value(argc, argv, &i, "--out", CLI_OPT_INLINE, &missing) == NULL && i == 4);
    CHECK(missing == 0);
    i = 2; /* a value is not an option */
    CHECK(cli_opt_value(argc, argv, &i, "--out", 0, &missing) == NULL && i == 2 && !missing);
    i = 5; /* --model with nothing after it */
    CHECK(cli_opt_value(argc, argv, &i, "--model", 0, NULL) == NULL && i == 5);
    CHECK(cli_opt_value(argc, argv, &i, "--model", CLI_OPT_INLINE, &missing) == NULL && i == 5);
    CHECK(missing == 1);
    /* a chain of calls keeps the flag: the later names do not clear it */
    CHECK(cli_opt_value(argc, argv, &i, "--out", CLI_OPT_INLINE, &missing) == NULL && i == 5);
    CHECK(missing == 1);
}

static void test_help(void)
{
    char *a[] = {"probe", "x.mp4", "-h", NULL};
    char *b[] = {"probe", "--helpful", "help", NULL};
    char *c[] = {"--help", "x", NULL}; /* argv[0] is the command name, not an argument */
    CHECK(cli_wants_help(3, a) == 1);
    CHECK(cli_wants_help(3, b) == 0);
    CHECK(cli_wants_help(2, c) == 0);
}

static void test_stop(void)
{
    volatile sig_atomic_t *stop = cli_stop_on_signals();
    CHECK(stop != NULL && *stop == 0);
    CHECK(cli_stop_on_signals() == stop);
    raise(SIGTERM);
    CHECK(*stop == 1);
    *stop = 0;
    raise(SIGINT);
    CHECK(*stop == 1);
}

int main(void)
{
    test_long();
    test_int();
    test_double();
    test_opt_numbers();
    test_opt_value();
    test_help();
    test_stop();
    return check_exit();
}
