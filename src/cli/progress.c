/*
 * progress.c -- the progress display of long commands (see progress.h).
 */
#include "cli/progress.h"

#include <math.h>
#include <string.h>

#define BAR_WIDTH 24

/* "12 s", "3 min 05 s", "1 h 02 min": short, and exact enough for a wait. */
static void format_duration(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "--");
        return;
    }
    long r = lround(s);
    if (r < 60)
        snprintf(buf, cap, "%ld s", r);
    else if (r < 3600)
        snprintf(buf, cap, "%ld min %02ld s", r / 60, r % 60);
    else
        snprintf(buf, cap, "%ld h %02ld min", r / 3600, (r % 3600) / 60);
}

char *cli_progress_format(char *buf, size_t cap, int tty, const char *what, const char *units,
                          int done, int total, double elapsed)
{
    if (done < 0)
        done = 0;
    if (done > total)
        done = total;
    char eta[32], el[32];
    /* time per unit so far times the units left; unknown before the first one */
    if (done > 0 && done < total)
        format_duration(eta, sizeof eta, elapsed / done * (total - done));
    else if (done == total)
        snprintf(eta, sizeof eta, "0 s");
    else
        snprintf(eta, sizeof eta, "--");
    format_duration(el, sizeof el, elapsed);
    if (!tty) {
        snprintf(buf, cap, "progress: %d/%d %s, %s elapsed, ETA %s", done, total, units, el, eta);
        return buf;
    }
    char bar[BAR_WIDTH + 1];
    int fill = total > 0 ? (int)((long long)done * BAR_WIDTH / total) : 0;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = '\0';
    snprintf(buf, cap, "%s [%s] %d/%d %s  %s  ETA %s", what, bar, done, total, units, el, eta);
    return buf;
}

void cli_progress_open(cli_progress *p, FILE *out, int tty, const char *what, const char *units)
{
    p->out = out;
    p->tty = tty;
    p->last_done = -1;
    p->drawn = 0;
    p->what = what;
    p->units = units;
}

void cli_progress_update(cli_progress *p, int done, int total, double elapsed)
{
    if (total <= 0 || (!p->tty && done == p->last_done))
        return;
    char line[160];
    cli_progress_format(line, sizeof line, p->tty, p->what, p->units, done, total, elapsed);
    if (p->tty) {
        fprintf(p->out, "\r%s\033[K", line); /* ESC [ K: erase the rest of the old line */
        p->drawn = 1;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    p->last_done = done;
    fflush(p->out);
}

void cli_progress_close(cli_progress *p)
{
    if (p->tty && p->drawn) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    p->drawn = 0;
}
