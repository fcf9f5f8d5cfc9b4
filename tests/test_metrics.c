/*
 * test_metrics.c -- core/metrics.h: the registry (declare, record, limits, errors, a
 * NULL registry) and the text it renders, line by line against the exposition format
 * (prometheus.io/docs/instrumenting/exposition_formats): HELP and TYPE before the
 * samples, escaping of label values and HELP, cumulative buckets ending in +Inf equal
 * to _count, numbers written so that they read back exactly.  A scrape of a running
 * crease is also parsed by a real parser (src/cli/tests/monitoring_cli.sh).
 */
#include "core/mem.h"
#include "core/metrics.h"

#include "check.h"

#include <math.h>
#include <pthread.h>

static const double bounds[] = {0.005, 0.25, 1, 2.5};

static char *render(cr_metrics *m)
{
    cr_buf b = {0};
    CHECK(cr_metrics_render(m, &b) == CR_OK);
    char *s = NULL;
    CHECK(cr_buf_take(&b, &s, NULL) == CR_OK);
    return s;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void test_declare(void)
{
    cr_metrics *m = NULL;
    cr_err e = {0};
    CHECK(cr_metrics_create(&m, &e) == CR_OK);
    cr_metric_desc ok = {CR_METRIC_COUNTER, "x_total", "help", NULL, NULL, 0};
    CHECK(cr_metrics_declare(m, &ok, &e) == CR_OK);
    CHECK(cr_metrics_declare(m, &ok, &e) == CR_OK); /* again: a no-op */
    cr_metric_desc other = {CR_METRIC_GAUGE, "x_total", "help", NULL, NULL, 0};
    CHECK(cr_metrics_declare(m, &other, &e) == CR_ERR_CONFLICT);
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", NULL};
    for (int i = 0; bad_names[i]; i++) {
        cr_metric_desc d = {CR_METRIC_GAUGE, bad_names[i], "", NULL, NULL, 0};
        cr_err_clear(&e);
        CHECK_MSG(cr_metrics_declare(m, &d, &e) == CR_ERR_INVALID, "name '%s'", bad_names[i]);
    }
    const char *bad_labels[] = {"__x", "le", "a:b", "9", NULL};
    for (int i = 0; bad_labels[i]; i++) {
        cr_metric_desc d = {CR_METRIC_GAUGE, "g", "", bad_labels[i], NULL, 0};
        cr_err_clear(&e);
        CHECK_MSG(cr_metrics_declare(m, &d, &e) == CR_ERR_INVALID, "label '%s'", bad_labels[i]);
    }
    const double down[] = {1, 0.5};
    const double inf[] = {1, INFINITY};
    cr_metric_desc h1 = {CR_METRIC_HISTOGRAM, "h_seconds", "", NULL, down, 2};
    cr_metric_desc h2 = {CR_METRIC_HISTOGRAM, "h_seconds", "", NULL, inf, 2};
    cr_metric_desc h3 = {CR_METRIC_HISTOGRAM, "h_seconds", "", NULL, NULL, 0};
    CHECK(cr_metrics_declare(m, &h1, &e) == CR_ERR_INVALID);
    CHECK(cr_metrics_declare(m, &h2, &e) == CR_ERR_INVALID);
    CHECK(cr_metrics_declare(m, &h3, &e) == CR_ERR_INVALID);
    /* the registry is bounded */
    cr_status last = CR_OK;
    for (int i = 0; i < CR_METRICS_FAMILIES_MAX + 2 && last == CR_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%d", i);
        cr_metric_desc d = {CR_METRIC_GAUGE, name, "", NULL, NULL, 0};
        cr_err_clear(&e);
        last = cr_metrics_declare(m, &d, &e);
    }
    CHECK(last == CR_ERR_LIMIT);
    cr_metrics_destroy(m);
}

static void test_record_and_render(void)
{
    cr_metrics *m = NULL;
    cr_err e = {0};
    CHECK(cr_metrics_create(&m, &e) == CR_OK);
    const cr_metric_desc d[] = {
        {CR_METRIC_COUNTER, "c_total", "A counter\\with a backslash\nand a line feed.", NULL, NULL,
         0},
        {CR_METRIC_COUNTER, "by_total", "By engine.", "engine", NULL, 0},
        {CR_METRIC_GAUGE, "g_bytes", "A gauge.", NULL, NULL, 0},
        {CR_METRIC_HISTOGRAM, "h_seconds", "A histogram.", "engine", bounds, 4},
        {CR_METRIC_HISTOGRAM, "plain_seconds", "No label.", NULL, bounds, 4},
    };
    CHECK(cr_metrics_declare_all(m, d, 5, &e) == CR_OK);

    /* errors of the recording calls */
    CHECK(cr_metrics_add(m, "nope", NULL, 1) == CR_ERR_NOT_FOUND);
    CHECK(cr_metrics_add(m, "c_total", NULL, -1) == CR_ERR_INVALID);
    CHECK(cr_metrics_add(m, "c_total", NULL, NAN) == CR_ERR_INVALID);
    CHECK(cr_metrics_set(m, "c_total", NULL, 1) == CR_ERR_INVALID);
    CHECK(cr_metrics_observe(m, "c_total", NULL, 1) == CR_ERR_INVALID);
    CHECK(cr_metrics_add(m, "h_seconds", "x", 1) == CR_ERR_INVALID);
    /* a NULL registry records nothing and says so with CR_OK */
    CHECK(cr_metrics_add(NULL, "c_total", NULL, 1) == CR_OK);
    cr_metric_desc any = {CR_METRIC_GAUGE, "g", "", NULL, NULL, 0};
    CHECK(cr_metrics_declare(NULL, &any, &e) == CR_OK);

    /* before anything is recorded: families without a label have their sample at 0,
     * those with one have none */
    char *t = render(m);
    CHECK(has_line(t, "c_total 0"));
    CHECK(has_line(t, "g_bytes 0"));
    CHECK(has_line(t, "plain_seconds_bucket{le=\"+Inf\"} 0"));
    CHECK(has_line(t, "plain_seconds_count 0"));
    CHECK(strstr(t, "by_total{") == NULL);
    CHECK(strstr(t, "h_seconds_bucket") == NULL);
    CHECK(has_line(t, "# TYPE h_seconds histogram"));
    cr_free(t);

    CHECK(cr_metrics_add(m, "c_total", NULL, 2) == CR_OK);
    CHECK(cr_metrics_add(m, "c_total", NULL, 0.5) == CR_OK);
    CHECK(cr_metrics_add(m, "by_total", "xnnpack", 3) == CR_OK);
    CHECK(cr_metrics_add(m, "by_total", "we\"ird\\one\nline", 1) == CR_OK);
    CHECK(cr_metrics_set(m, "g_bytes", NULL, 1e20) == CR_OK);
    CHECK(cr_metrics_add(m, "g_bytes", NULL, -2e20) == CR_OK); /* gauges go down */
    double obs[] = {0.001, 0.005, 0.2, 0.3, 2.5, 7};
    for (int i = 0; i < 6; i++)
        CHECK(cr_metrics_observe(m, "h_seconds", "ref", obs[i]) == CR_OK);
    CHECK(cr_metrics_observe(m, "h_seconds", "xnnpack", 0.1) == CR_OK);

    t = render(m);
    /* HELP escaped (backslash, line feed), then TYPE, then samples */
    CHECK(has_line(t, "# HELP c_total A counter\\\\with a backslash\\nand a line feed."));
    const char *help = strstr(t, "# HELP c_total"), *type = strstr(t, "# TYPE c_total counter"),
               *sample = strstr(t, "\nc_total 2.5\n");
    CHECK(help != NULL && type != NULL && sample != NULL && help < type && type < sample);
    CHECK(has_line(t, "by_total{engine=\"xnnpack\"} 3"));
    CHECK(has_line(t, "by_total{engine=\"we\\\"ird\\\\one\\nline\"} 1"));
    CHECK(has_line(t, "g_bytes -100000000000000000000") || has_line(t, "g_bytes -1e+20"));
    /* cumulative buckets: <=0.005: 2 (0.001 and 0.005 itself), <=0.25: 3, <=1: 4,
     * <=2.5: 5, +Inf: 6 = count; sum exact */
    CHECK(has_line(t, "h_seconds_bucket{engine=\"ref\",le=\"0.005\"} 2"));
    CHECK(has_line(t, "h_seconds_bucket{engine=\"ref\",le=\"0.25\"} 3"));
    CHECK(has_line(t, "h_seconds_bucket{engine=\"ref\",le=\"1\"} 4"));
    CHECK(has_line(t, "h_seconds_bucket{engine=\"ref\",le=\"2.5\"} 5"));
    CHECK(has_line(t, "h_seconds_bucket{engine=\"ref\",le=\"+Inf\"} 6"));
    CHECK(has_line(t, "h_seconds_count{engine=\"ref\"} 6"));
    double sum = 0;
    for (int i = 0; i < 6; i++)
        sum += obs[i];
    const char *sl = strstr(t, "\nh_seconds_sum{engine=\"ref\"} ");
    CHECK(sl != NULL && strtod(sl + strlen("\nh_seconds_sum{engine=\"ref\"} "), NULL) == sum);
    CHECK(has_line(t, "h_seconds_count{engine=\"xnnpack\"} 1"));
    cr_free(t);

    /* a label's values are bounded: the 17th distinct one is refused */
    cr_status last = CR_OK;
    int made = 2;
    for (int i = 0; i < CR_METRICS_SERIES_MAX + 2 && last == CR_OK; i++) {
        char v[16];
        snprintf(v, sizeof v, "e%d", i);
        last = cr_metrics_add(m, "by_total", v, 1);
        made += last == CR_OK;
    }
    CHECK(last == CR_ERR_LIMIT);
    CHECK_INT_EQ(made, CR_METRICS_SERIES_MAX);
    cr_metrics_destroy(m);
}

static void test_numbers(void)
{
    struct {
        double v;
        const char *text;
    } cases[] = {{0, "0"},
                 {-0.0, "0"},
                 {42, "42"},
                 {0.1, "0.1"},
                 {0.005, "0.005"},
                 {1.0 / 3, "0.333333333333333315"},
                 {NAN, "NaN"},
                 {INFINITY, "+Inf"},
                 {-INFINITY, "-Inf"},
                 {1e300, "1.0000000000000001e+300"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_buf b = {0};
        cr_metrics_write_number(&b, cases[i].v);
        if (strcmp(cases[i].text, "0.333333333333333315") == 0 ||
            strcmp(cases[i].text, "1.0000000000000001e+300") == 0)
            CHECK_MSG(b.p && strtod(b.p, NULL) == cases[i].v, "%s reads back", b.p);
        else
            CHECK_STR_EQ(b.p ? b.p : "", cases[i].text);
        cr_buf_release(&b);
    }
    /* every written number reads back as the same double */
    unsigned x = 7;
    for (int i = 0; i < 10000; i++) {
        x = x * 1664525u + 1013904223u;
        double v = (double)x / 3.0e4 * ((x & 1) ? 1 : -1e-3);
        cr_buf b = {0};
        cr_metrics_write_number(&b, v);
        CHECK_MSG(b.p && strtod(b.p, NULL) == v, "%.17g written as %s", v, b.p);
        cr_buf_release(&b);
    }
}

static void *adder(void *p)
{
    cr_metrics *m = p;
    for (int i = 0; i < 10000; i++) {
        cr_metrics_add(m, "c_total", NULL, 1);
        cr_metrics_observe(m, "h_seconds", i & 1 ? "a" : "b", 0.5);
    }
    return NULL;
}

static void test_threads(void)
{
    cr_metrics *m = NULL;
    cr_err e = {0};
    CHECK(cr_metrics_create(&m, &e) == CR_OK);
    const cr_metric_desc d[] = {{CR_METRIC_COUNTER, "c_total", "", NULL, NULL, 0},
                                {CR_METRIC_HISTOGRAM, "h_seconds", "", "k", bounds, 4}};
    CHECK(cr_metrics_declare_all(m, d, 2, &e) == CR_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render(m);
    CHECK(has_line(s, "c_total 40000"));
    CHECK(has_line(s, "h_seconds_count{k=\"a\"} 20000"));
    CHECK(has_line(s, "h_seconds_bucket{k=\"b\",le=\"1\"} 20000"));
    cr_free(s);
    cr_metrics_destroy(m);
}

int main(void)
{
    test_declare();
    test_record_and_render();
    test_numbers();
    test_threads();
    return check_exit();
}
