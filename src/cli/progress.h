/*
 * progress.h -- the progress display of a long command (`crease analyze`): work
 * units done of a total, elapsed time and an estimate of the time left.
 *
 * Two forms, chosen once by the caller (cli_progress_open):
 *   - a terminal: one line redrawn in place ("\r" + erase to the end of the line),
 *         analyzing [########------------]  4/10 chunks  12.3 s  ETA 18 s
 *     redrawn on every update, finished with a newline by cli_progress_close;
 *   - anything else (a log file, a pipe): a plain line per change of the count,
 *         progress: 4/10 chunks, 12.3 s elapsed, ETA 18 s
 *     so that logs keep a readable history and are not flooded with repeats.
 *
 * The estimate is the average time per unit so far times the units left; it is
 * "--" before the first unit is done.  Time is passed in by the caller (seconds
 * since the start), so the formatting is a pure function and testable.
 *
 * Nothing here reads the clock or the store; one display is used by one thread.
 */
#ifndef CR_CLI_PROGRESS_H
#define CR_CLI_PROGRESS_H

#include <stdio.h>

typedef struct cli_progress {
    FILE *out;
    int tty;           /* redraw in place */
    int last_done;     /* the count of the last plain line (-1: none yet) */
    int drawn;         /* a terminal line is on screen (close ends it) */
    const char *what;  /* the verb shown on a terminal, e.g. "analyzing" */
    const char *units; /* plural unit, e.g. "chunks" */
} cli_progress;

/* Starts a display on `out`; tty: 1 to redraw one line in place, 0 for plain lines. */
void cli_progress_open(cli_progress *p, FILE *out, int tty, const char *what, const char *units);

/* Shows `done` of `total` units after `elapsed` seconds.  total <= 0: unknown yet,
 * nothing is shown.  A plain display prints only when `done` changed. */
void cli_progress_update(cli_progress *p, int done, int total, double elapsed);

/* Ends the display: a terminal line gets its newline.  Prints nothing else. */
void cli_progress_close(cli_progress *p);

/* Formats one line (no "\r", no newline) into buf: the terminal form when tty, else
 * the plain form.  Returns buf. */
char *cli_progress_format(char *buf, size_t cap, int tty, const char *what, const char *units,
                          int done, int total, double elapsed);

#endif
