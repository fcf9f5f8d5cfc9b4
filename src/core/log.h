/*
 * log.h -- one line per event on stderr.
 *
 * Text form:  2026-11-26T15:13:43.123Z info  chunk.claimed job=... chunk=3
 * JSON form (LOG_FORMAT=json): {"ts":"...","level":"info","event":"chunk.claimed","msg":"job=...
 * chunk=3"}
 *
 * The level and format are process-wide configuration, set once at start by
 * main from the parsed configuration (cr_log_configure); logging is thread-safe
 * (each line is one write(2)).  Never pass secrets to these functions.
 */
#ifndef CR_CORE_LOG_H
#define CR_CORE_LOG_H

typedef enum cr_log_level {
    CR_LOG_DEBUG = 0,
    CR_LOG_INFO = 1,
    CR_LOG_WARN = 2,
    CR_LOG_ERROR = 3,
} cr_log_level;

void cr_log_configure(cr_log_level min_level, int json);

/* Parses "debug", "info", "warn"/"warning", "error" (case-insensitive). 0 on success. */
int cr_log_level_parse(const char *s, cr_log_level *out);
const char *cr_log_level_name(cr_log_level l);

/* `event` is a short dotted name ("job.created"); the rest is free text. */
void cr_log(cr_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cr_log_debug(ev, ...) cr_log(CR_LOG_DEBUG, ev, __VA_ARGS__)
#define cr_log_info(ev, ...) cr_log(CR_LOG_INFO, ev, __VA_ARGS__)
#define cr_log_warn(ev, ...) cr_log(CR_LOG_WARN, ev, __VA_ARGS__)
#define cr_log_error(ev, ...) cr_log(CR_LOG_ERROR, ev, __VA_ARGS__)

#endif
