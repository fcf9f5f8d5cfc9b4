/*
 * metrics.c -- the registry of metrics.h and the text exposition format.
 *
 *   registry  fixed arrays (families x series x buckets) behind one mutex: no
 *             allocation after cr_metrics_create, so recording never fails for
 *             memory and never frees under a reader
 *   format    write_header / write_sample / write_number: the grammar of the text
 *             format (prometheus.io/docs/instrumenting/exposition_formats), used by
 *             render and by whoever writes values computed at scrape time
 */
#include "core/metrics.h"

#include "core/mem.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
    char value[CR_METRICS_VALUE_MAX]; /* the label's value ("" without a label) */
    double v;                         /* counter, gauge; histogram: the sum */
    double count;                     /* histogram: observations */
    double buckets[CR_METRICS_BUCKETS_MAX];
} series;

typedef struct family {
    cr_metric_kind kind;
    char name[CR_METRICS_NAME_MAX];
    char label[CR_METRICS_NAME_MAX]; /* "" = none */
    char help[CR_METRICS_HELP_MAX];
    double bounds[CR_METRICS_BUCKETS_MAX];
    int nbounds;
    int nseries;
    series s[CR_METRICS_SERIES_MAX];
} family;

struct cr_metrics {
    pthread_mutex_t lock;
    int n;
    family f[CR_METRICS_FAMILIES_MAX];
};

cr_status cr_metrics_create(cr_metrics **out, cr_err *err)
{
    *out = cr_calloc(1, sizeof **out);
    if (*out == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory creating the metrics registry");
    pthread_mutex_init(&(*out)->lock, NULL);
    return CR_OK;
}

void cr_metrics_destroy(cr_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    cr_free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (metric names; label names also refuse ':' and "__"). */
static int name_ok(const char *s, int label)
{
    if (s == NULL || s[0] == '\0' || strlen(s) >= CR_METRICS_NAME_MAX)
        return 0;
    if (label && strncmp(s, "__", 2) == 0)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c == ':' && !label);
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static family *find_family(cr_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return &m->f[i];
    return NULL;
}

static cr_status check_desc(const cr_metric_desc *d, cr_err *err)
{
    if (!name_ok(d->name, 0))
        return cr_err_set(err, CR_ERR_INVALID, "metrics: bad metric name '%s'",
                          d->name ? d->name : "(null)");
    if (d->label != NULL && (!name_ok(d->label, 1) || strcmp(d->label, "le") == 0))
        return cr_err_set(err, CR_ERR_INVALID, "metrics: %s: bad label name '%s'", d->name,
                          d->label);
    if (d->kind == CR_METRIC_HISTOGRAM) {
        if (d->bounds == NULL || d->nbounds < 1 || d->nbounds > CR_METRICS_BUCKETS_MAX)
            return cr_err_set(err, CR_ERR_INVALID, "metrics: %s: 1..%d bounds needed", d->name,
                              CR_METRICS_BUCKETS_MAX);
        for (int i = 0; i < d->nbounds; i++)
            if (!isfinite(d->bounds[i]) || (i > 0 && !(d->bounds[i] > d->bounds[i - 1])))
                return cr_err_set(err, CR_ERR_INVALID,
                                  "metrics: %s: bounds must be finite and ascending", d->name);
    } else if (d->kind != CR_METRIC_COUNTER && d->kind != CR_METRIC_GAUGE) {
        return cr_err_set(err, CR_ERR_INVALID, "metrics: %s: unknown kind", d->name);
    }
    return CR_OK;
}

cr_status cr_metrics_declare(cr_metrics *m, const cr_metric_desc *d, cr_err *err)
{
    if (m == NULL)
        return CR_OK;
    cr_status st = check_desc(d, err);
    if (st != CR_OK)
        return st;
    pthread_mutex_lock(&m->lock);
    family *f = find_family(m, d->name);
    if (f != NULL) {
        if (f->kind != d->kind || strcmp(f->label, d->label ? d->label : "") != 0)
            st = cr_err_set(err, CR_ERR_CONFLICT,
                            "metrics: %s declared twice with another kind or label", d->name);
    } else if (m->n == CR_METRICS_FAMILIES_MAX) {
        st = cr_err_set(err, CR_ERR_LIMIT, "metrics: more than %d families",
                        CR_METRICS_FAMILIES_MAX);
    } else {
        f = &m->f[m->n++];
        memset(f, 0, sizeof *f);
        f->kind = d->kind;
        snprintf(f->name, sizeof f->name, "%s", d->name);
        snprintf(f->label, sizeof f->label, "%s", d->label ? d->label : "");
        snprintf(f->help, sizeof f->help, "%s", d->help ? d->help : "");
        if (d->kind == CR_METRIC_HISTOGRAM) {
            memcpy(f->bounds, d->bounds, (size_t)d->nbounds * sizeof *f->bounds);
            f->nbounds = d->nbounds;
        }
        if (f->label[0] == '\0')
            f->nseries = 1; /* the one series, there from the start */
    }
    pthread_mutex_unlock(&m->lock);
    return st;
}

cr_status cr_metrics_declare_all(cr_metrics *m, const cr_metric_desc *d, int n, cr_err *err)
{
    for (int i = 0; i < n; i++) {
        cr_status st = cr_metrics_declare(m, &d[i], err);
        if (st != CR_OK)
            return st;
    }
    return CR_OK;
}

/* The series of `value` in `f`, created when new; NULL when the family is full.
 * Called under the lock. */
static series *find_series(family *f, const char *value)
{
    if (f->label[0] == '\0')
        return &f->s[0];
    char v[CR_METRICS_VALUE_MAX];
    snprintf(v, sizeof v, "%s", value ? value : "");
    for (int i = 0; i < f->nseries; i++)
        if (strcmp(f->s[i].value, v) == 0)
            return &f->s[i];
    if (f->nseries == CR_METRICS_SERIES_MAX)
        return NULL;
    series *s = &f->s[f->nseries++];
    memcpy(s->value, v, sizeof v);
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static cr_status record(cr_metrics *m, const char *name, const char *label_value, double v,
                        enum op op)
{
    if (m == NULL)
        return CR_OK;
    cr_status st = CR_OK;
    pthread_mutex_lock(&m->lock);
    family *f = find_family(m, name);
    series *s = NULL;
    if (f == NULL)
        st = CR_ERR_NOT_FOUND;
    else if ((op == OP_OBSERVE) != (f->kind == CR_METRIC_HISTOGRAM) ||
             (op == OP_SET && f->kind != CR_METRIC_GAUGE) ||
             (f->kind == CR_METRIC_COUNTER && !(v >= 0)))
        st = CR_ERR_INVALID;
    else if ((s = find_series(f, label_value)) == NULL)
        st = CR_ERR_LIMIT;
    else if (op == OP_ADD)
        s->v += v;
    else if (op == OP_SET)
        s->v = v;
    else {
        s->v += v;
        s->count += 1;
        for (int i = 0; i < f->nbounds; i++)
            if (v <= f->bounds[i])
                s->buckets[i] += 1; /* stored cumulative, as written */
    }
    pthread_mutex_unlock(&m->lock);
    return st;
}

cr_status cr_metrics_add(cr_metrics *m, const char *name, const char *label_value, double v)
{
    return record(m, name, label_value, v, OP_ADD);
}

cr_status cr_metrics_set(cr_metrics *m, const char *name, const char *label_value, double v)
{
    return record(m, name, label_value, v, OP_SET);
}

cr_status cr_metrics_observe(cr_metrics *m, const char *name, const char *label_value, double v)
{
    return record(m, name, label_value, v, OP_OBSERVE);
}

/* ---- the text format ------------------------------------------------------------- */

void cr_metrics_write_number(cr_buf *out, double v)
{
    if (isnan(v)) {
        cr_buf_adds(out, "NaN");
        return;
    }
    if (isinf(v)) {
        cr_buf_adds(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        cr_buf_addf(out, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
        return;
    }
    /* The shortest of %.15g and %.17g that reads back as the same double: 0.005 stays
     * 0.005 rather than 0.0050000000000000001. */
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof s, "%.17g", v);
    cr_buf_adds(out, s);
}

/* Escapes `s` for a label value (\\, \", \n) or a HELP text (\\, \n). */
static void add_escaped(cr_buf *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            cr_buf_adds(out, "\\\\");
        else if (*s == '\n')
            cr_buf_adds(out, "\\n");
        else if (*s == '"' && quote)
            cr_buf_adds(out, "\\\"");
        else
            cr_buf_add(out, s, 1);
    }
}

void cr_metrics_write_header(cr_buf *out, const char *name, cr_metric_kind kind, const char *help)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    cr_buf_addf(out, "# HELP %s ", name);
    add_escaped(out, help ? help : "", 0);
    cr_buf_addf(out, "\n# TYPE %s %s\n", name, kinds[kind]);
}

void cr_metrics_write_sample(cr_buf *out, const char *name, const char *const *labels, double v)
{
    cr_buf_adds(out, name);
    if (labels != NULL && labels[0] != NULL) {
        cr_buf_add(out, "{", 1);
        for (int i = 0; labels[i] != NULL; i += 2) {
            cr_buf_addf(out, "%s%s=\"", i ? "," : "", labels[i]);
            add_escaped(out, labels[i + 1] ? labels[i + 1] : "", 1);
            cr_buf_add(out, "\"", 1);
        }
        cr_buf_add(out, "}", 1);
    }
    cr_buf_add(out, " ", 1);
    cr_metrics_write_number(out, v);
    cr_buf_add(out, "\n", 1);
}

static void render_histogram(cr_buf *out, const family *f, const series *s)
{
    char name[CR_METRICS_NAME_MAX + 16];
    const char *lab[5] = {NULL};
    int k = 0;
    if (f->label[0]) {
        lab[k++] = f->label;
        lab[k++] = s->value;
    }
    lab[k] = "le";
    lab[k + 2] = NULL;
    snprintf(name, sizeof name, "%s_bucket", f->name);
    for (int i = 0; i < f->nbounds; i++) {
        cr_buf le = {0};
        cr_metrics_write_number(&le, f->bounds[i]);
        lab[k + 1] = le.p ? le.p : "";
        cr_metrics_write_sample(out, name, lab, s->buckets[i]);
        cr_buf_release(&le);
    }
    lab[k + 1] = "+Inf";
    cr_metrics_write_sample(out, name, lab, s->count);
    lab[k] = NULL;
    snprintf(name, sizeof name, "%s_sum", f->name);
    cr_metrics_write_sample(out, name, lab, s->v);
    snprintf(name, sizeof name, "%s_count", f->name);
    cr_metrics_write_sample(out, name, lab, s->count);
}

cr_status cr_metrics_render(cr_metrics *m, cr_buf *out)
{
    if (m == NULL)
        return out->st;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n; i++) {
        const family *f = &m->f[i];
        cr_metrics_write_header(out, f->name, f->kind, f->help);
        for (int j = 0; j < f->nseries; j++) {
            const series *s = &f->s[j];
            if (f->kind == CR_METRIC_HISTOGRAM) {
                render_histogram(out, f, s);
            } else {
                const char *lab[3] = {f->label, s->value, NULL};
                cr_metrics_write_sample(out, f->name, f->label[0] ? lab : NULL, s->v);
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    return out->st;
}
