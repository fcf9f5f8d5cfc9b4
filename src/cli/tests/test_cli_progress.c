/*
 * test_cli_progress.c -- the progress display (cli/progress.h): the plain and the
 * terminal forms, the estimate of the time left, the clamping of odd counts, and
 * what each form writes to its stream (plain: one line per change; terminal: one
 * line redrawn in place, ended by close).
 */
#include "check.h"
#include "cli/progress.h"

#include <stdlib.h>
#include <string.h>

static void test_format(void)
{
    char b[160];
    /* 4 of 10 in 12 s: 3 s a chunk, 6 left -> 18 s */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 0, "analyzing", "chunks", 4, 10, 12.3),
                 "progress: 4/10 chunks, 12 s elapsed, ETA 18 s");
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 1, "analyzing", "chunks", 4, 10, 12.3),
                 "analyzing [#########---------------] 4/10 chunks  12 s  ETA 18 s");
    /* nothing done yet: no estimate */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 0, "a", "chunks", 0, 3, 5),
                 "progress: 0/3 chunks, 5 s elapsed, ETA --");
    /* all done: a full bar, nothing left */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 1, "a", "chunks", 3, 3, 75),
                 "a [########################] 3/3 chunks  1 min 15 s  ETA 0 s");
    /* long waits in minutes and hours */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 0, "a", "chunks", 1, 31, 125),
                 "progress: 1/31 chunks, 2 min 05 s elapsed, ETA 1 h 02 min");
    /* counts out of range are clamped, never a bar past its end */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 1, "a", "u", 12, 10, 1),
                 "a [########################] 10/10 u  1 s  ETA 0 s");
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 0, "a", "u", -2, 10, 1),
                 "progress: 0/10 u, 1 s elapsed, ETA --");
    /* a clock that went wrong reads as unknown */
    CHECK_STR_EQ(cli_progress_format(b, sizeof b, 0, "a", "u", 1, 2, -1),
                 "progress: 1/2 u, -- elapsed, ETA --");
    /* a small buffer is cut, never overrun */
    char small[12];
    cli_progress_format(small, sizeof small, 1, "analyzing", "chunks", 1, 2, 1);
    CHECK(strlen(small) == sizeof small - 1);
}

static char *stream_of(int tty)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_progress p;
    cli_progress_open(&p, f, tty, "analyzing", "chunks");
    cli_progress_update(&p, 0, 0, 0.1); /* total unknown: nothing */
    cli_progress_update(&p, 0, 2, 0.5);
    cli_progress_update(&p, 0, 2, 0.9); /* same count */
    cli_progress_update(&p, 1, 2, 2.0);
    cli_progress_update(&p, 2, 2, 4.0);
    cli_progress_close(&p);
    fclose(f);
    return text;
}

static void test_streams(void)
{
    char *plain = stream_of(0);
    CHECK_STR_EQ(plain, "progress: 0/2 chunks, 1 s elapsed, ETA --\n"
                        "progress: 1/2 chunks, 2 s elapsed, ETA 2 s\n"
                        "progress: 2/2 chunks, 4 s elapsed, ETA 0 s\n");
    free(plain);
    char *tty = stream_of(1);
    /* every update redraws (4), each from the line's start with the rest erased, and
     * the only newline is the last character */
    int redraws = 0;
    for (const char *c = tty; (c = strstr(c, "\r")) != NULL; c++)
        redraws++;
    CHECK(redraws == 4);
    CHECK(strchr(tty, '\n') == tty + strlen(tty) - 1);
    CHECK(strstr(tty, "\r analyzing") == NULL && strstr(tty, "\ranalyzing [") != NULL);
    CHECK(strstr(tty, "2/2 chunks  4 s  ETA 0 s\033[K\n") != NULL);
    free(tty);
    /* close without any update prints nothing */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_progress p;
    cli_progress_open(&p, f, 1, "a", "b");
    cli_progress_close(&p);
    fclose(f);
    CHECK(len == 0);
    free(text);
}

int main(void)
{
    test_format();
    test_streams();
    return check_exit();
}
