/*
 * test_log.c -- log lines: one line per event, level filtering, JSON lines with
 * escaping, newlines in messages folded.
 */
#include "check.h"
#include "core/log.h"

#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

/* Runs `fn` with stderr redirected to a temporary file; returns what was written. */
static char *capture(void (*fn)(void))
{
    static char out[8192];
    FILE *tmp = tmpfile();
    if (tmp == NULL)
        return NULL;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void emit_text(void)
{
    cr_log_configure(CR_LOG_INFO, 0);
    cr_log_debug("hidden.event", "not shown");
    cr_log_info("job.created", "job=%d", 7);
    cr_log_error("chunk.failed", "two\nlines");
}

static void emit_json(void)
{
    cr_log_configure(CR_LOG_WARN, 1);
    cr_log_info("hidden.event", "not shown");
    cr_log_warn("odd\"event", "quote \" backslash \\ tab \t end");
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int main(void)
{
    char *t = capture(emit_text);
    CHECK(t != NULL);
    CHECK_INT_EQ(count_lines(t), 2);
    CHECK(strstr(t, "hidden.event") == NULL);
    CHECK(strstr(t, "info  job.created job=7\n") != NULL);
    CHECK(strstr(t, "error chunk.failed two lines\n") != NULL);

    char *j = capture(emit_json);
    CHECK(j != NULL);
    CHECK_INT_EQ(count_lines(j), 1);
    json_error_t e;
    json_t *o = json_loads(j, 0, &e);
    CHECK_MSG(o != NULL, "not JSON: %s (%s)", j, e.text);
    if (o != NULL) {
        CHECK_STR_EQ(json_string_value(json_object_get(o, "level")), "warn");
        CHECK_STR_EQ(json_string_value(json_object_get(o, "event")), "odd\"event");
        CHECK_STR_EQ(json_string_value(json_object_get(o, "msg")),
                     "quote \" backslash \\ tab \t end");
        CHECK(json_string_value(json_object_get(o, "ts")) != NULL);
        json_decref(o);
    }

    cr_log_level l;
    CHECK(cr_log_level_parse("WARNING", &l) == 0 && l == CR_LOG_WARN);
    CHECK(cr_log_level_parse("verbose", &l) != 0);
    return check_exit();
}
