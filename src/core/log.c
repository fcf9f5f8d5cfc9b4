/*
 * log.c -- line-oriented logging to stderr, text or JSON lines.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static cr_log_level log_min = CR_LOG_INFO; /* configuration, set once by main */
static int log_json = 0;

void cr_log_configure(cr_log_level min_level, int json)
{
    log_min = min_level;
    log_json = json;
}

int cr_log_level_parse(const char *s, cr_log_level *out)
{
    if (strcasecmp(s, "debug") == 0)
        *out = CR_LOG_DEBUG;
    else if (strcasecmp(s, "info") == 0)
        *out = CR_LOG_INFO;
    else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
        *out = CR_LOG_WARN;
    else if (strcasecmp(s, "error") == 0)
        *out = CR_LOG_ERROR;
    else
        return -1;
    return 0;
}

const char *cr_log_level_name(cr_log_level l)
{
    switch (l) {
    case CR_LOG_DEBUG:
        return "debug";
    case CR_LOG_INFO:
        return "info";
    case CR_LOG_WARN:
        return "warn";
    case CR_LOG_ERROR:
        return "error";
    }
    return "info";
}

/* Appends `s` to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t cap, size_t len, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void cr_log(cr_log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one event, one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    char line[4096];
    size_t len;
    if (log_json) {
        len = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"",
                               when, cr_log_level_name(level));
        len = json_escape(line, sizeof line, len, event);
        len += (size_t)snprintf(line + len, sizeof line - len, "\",\"msg\":\"");
        len = json_escape(line, sizeof line, len, msg);
        len += (size_t)snprintf(line + len, sizeof line - len, "\"}\n");
    } else {
        len = (size_t)snprintf(line, sizeof line, "%s %-5s %s %s\n", when, cr_log_level_name(level),
                               event, msg);
    }
    if (len >= sizeof line) {
        len = sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
