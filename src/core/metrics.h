/*
 * metrics.h -- a process's own counters, gauges and histograms, and the Prometheus
 * text exposition format (version 0.0.4, prometheus.io "Exposition formats") they and
 * any value computed at scrape time are written in.
 *
 * A registry (cr_metrics) holds families declared once by the module that records
 * them (pipeline_metrics_declare for the workers' families) and is passed down to it
 * by the process that owns it (`crease serve`, `crease chunk-worker`, ...): there is
 * no global registry.  A NULL registry is valid everywhere and records nothing, so
 * code that records metrics runs unchanged where nobody scrapes them (tests, `crease
 * analyze`).
 *
 * Families have at most one label (the engine of a chunk, the kind of a lease);
 * each distinct value of it is a series, created on first use, at most
 * CR_METRICS_SERIES_MAX per family (later values are refused with CR_ERR_LIMIT, so a
 * label can never grow the registry without bound).  Values scraped from elsewhere
 * (database counts, /proc, the GPU) are not stored here: their owner writes them with
 * cr_metrics_write_header / cr_metrics_write_sample next to cr_metrics_render, so the
 * grammar lives in one file.
 *
 * Names follow Prometheus's conventions (prometheus.io "Metric and label naming"):
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a unit suffix in base units (_seconds, _bytes), counters
 * ending in _total; label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__".  Label
 * values are escaped (backslash, double quote, line feed) and HELP texts too
 * (backslash, line feed).
 *
 * Threads: every function on a registry may be called from any thread (one mutex).
 * Errors: declare and the recording calls return a status the hot paths may ignore
 * (an undeclared name, a full family); render fails only when memory runs out.
 */
#ifndef CR_CORE_METRICS_H
#define CR_CORE_METRICS_H

#include "core/buf.h"
#include "core/status.h"

#define CR_METRICS_FAMILIES_MAX 64 /* families in one registry */
#define CR_METRICS_SERIES_MAX 16   /* label values of one family */
#define CR_METRICS_BUCKETS_MAX 20  /* histogram bounds, +Inf not counted */
#define CR_METRICS_NAME_MAX 96     /* bytes of a name, + NUL */
#define CR_METRICS_VALUE_MAX 64    /* bytes of a label value, + NUL (longer ones are cut) */
#define CR_METRICS_HELP_MAX 400    /* bytes of a HELP text, + NUL (longer ones are cut) */

/* The content type of the text format, for the HTTP answer. */
#define CR_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum cr_metric_kind {
    CR_METRIC_COUNTER = 0,
    CR_METRIC_GAUGE = 1,
    CR_METRIC_HISTOGRAM = 2,
} cr_metric_kind;

typedef struct cr_metric_desc {
    cr_metric_kind kind;
    const char *name;
    const char *help;
    const char *label;    /* the one label's name, or NULL for none */
    const double *bounds; /* histograms: upper bounds, finite and strictly ascending
                             (the +Inf bucket is implied); NULL otherwise */
    int nbounds;
} cr_metric_desc;

typedef struct cr_metrics cr_metrics;

/* An empty registry.  On failure *out is NULL. */
cr_status cr_metrics_create(cr_metrics **out, cr_err *err);

/* Frees the registry.  NULL is a no-op. */
void cr_metrics_destroy(cr_metrics *m);

/* Declares a family.  Declaring the same name again with the same kind and label is
 * a no-op (several owners may declare what they share); with another kind or label
 * it is CR_ERR_CONFLICT.  A bad name, label or bounds is CR_ERR_INVALID, a full
 * registry CR_ERR_LIMIT.  m NULL: CR_OK, nothing done. */
cr_status cr_metrics_declare(cr_metrics *m, const cr_metric_desc *d, cr_err *err);

/* Declares every family of `d[0..n)` (stops at the first error). */
cr_status cr_metrics_declare_all(cr_metrics *m, const cr_metric_desc *d, int n, cr_err *err);

/* Recording.  `label_value` is the label's value (NULL or ignored for a family
 * without a label; NULL means "" for one with).  m NULL: CR_OK, nothing done.
 *   add      counter or gauge += v (a counter refuses v < 0: CR_ERR_INVALID)
 *   set      gauge = v
 *   observe  histogram: counts v in every bucket whose bound is >= v, adds it to the sum
 * CR_ERR_NOT_FOUND for an undeclared name, CR_ERR_INVALID for the wrong kind,
 * CR_ERR_LIMIT when the family already has CR_METRICS_SERIES_MAX other values. */
cr_status cr_metrics_add(cr_metrics *m, const char *name, const char *label_value, double v);
cr_status cr_metrics_set(cr_metrics *m, const char *name, const char *label_value, double v);
cr_status cr_metrics_observe(cr_metrics *m, const char *name, const char *label_value, double v);

/* Appends every family in declaration order: HELP, TYPE, then its samples (a family
 * without a label always has its one sample, 0 until recorded; one with a label has
 * a sample per value recorded so far).  Histograms: cumulative _bucket{le=...}
 * samples ending with le="+Inf", then _sum and _count.  m NULL: nothing appended.
 * CR_ERR_NOMEM when the buffer cannot grow. */
cr_status cr_metrics_render(cr_metrics *m, cr_buf *out);

/* ---- writing values computed at scrape time ------------------------------------- */

/* "# HELP name help\n# TYPE name kind\n" (help escaped). */
void cr_metrics_write_header(cr_buf *out, const char *name, cr_metric_kind kind, const char *help);

/* "name{l1="v1",...} value\n".  `labels`: NULL, or name, value pairs ending with a
 * NULL name; values are escaped. */
void cr_metrics_write_sample(cr_buf *out, const char *name, const char *const *labels, double v);

/* A value as the format writes it: integers without a fraction, others with the
 * fewest digits that read back exactly, NaN, +Inf, -Inf. */
void cr_metrics_write_number(cr_buf *out, double v);

#endif
