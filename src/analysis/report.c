/*
 * report.c -- report.html for a coach (see analysis.h): one self-contained page,
 * inline CSS and SVG only (no scripts, fonts or images from elsewhere), every text
 * from the data HTML-escaped; pictures are JPEGs in data: URIs.  The page is written
 * into one core buffer (core/buf.h) without checking each append: its first failure
 * sticks, and analysis_report_html checks it once at the end.
 *
 * A metric that was not measured (analysis.h) is listed as "not measured" with its
 * reason, and has no plot and no picture: a flat line under a threshold, or a
 * value, would say something about a movement that did not happen.
 */
#include "analysis/analysis.h"

#include "core/buf.h"
#include "core/mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A number of a JSON array element; NAN for null and non-numbers. */
static double elem(const json_t *a, size_t i)
{
    const json_t *v = json_array_get(a, i);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The metrics shown, in order: key, label, "score" or "value", format suffix. */
static const struct {
    const char *key, *label, *field, *unit;
    int plot_scores; /* per_frame_scores (1) or per_frame_values (0) */
} shown[] = {
    {"head_stability_score", "Head stability", "score", "", 1},
    {"balance_drift_score", "Balance (hips over feet)", "score", "", 1},
    {"front_knee_brace_score", "Front knee brace", "score", "", 1},
    {"hip_shoulder_separation_timing", "Hip-shoulder separation timing", "score", " s lag", 1},
    {"elbow_drop_score", "Elbow drop", "score", "", 1},
    {"front_knee_angle_at_ffc", "Front knee angle at front-foot contact", "value", " deg", 0},
    {"stride_length", "Stride length", "value", " torso lengths", 0},
    {"trunk_lateral_flexion", "Trunk lateral flexion (max)", "value", " deg", 0},
    {"bowling_elbow_extension", "Bowling elbow extension (SCREENING ONLY)", "value", " deg", 0},
};

#define PLOT_W 560
#define PLOT_H 120
#define PLOT_MAX_POINTS 1200 /* ours: ~2 points per pixel of width */
#define PLOT_PAD 4           /* px above 1 and below 0: a line at 1 is not under the frame */

/* The y of a value on the 0..1 scale of the plot. */
static double plot_y(double v01)
{
    return PLOT_PAD + (PLOT_H - 2 * PLOT_PAD) * (1 - v01);
}

/* Whether the line breaks between series entries i-1 and i: either value is missing,
 * or frames are missing between them -- their frame numbers are more than `step`
 * grid points apart, where `step` is the samples drawn as one bucket (1 for series
 * of up to PLOT_MAX_POINTS): a shorter gap is narrower than the drawing resolves. */
static int gap_before(const json_t *v, const json_t *fn, size_t i, size_t step)
{
    if (!isfinite(elem(v, i - 1)) || !isfinite(elem(v, i)))
        return 1;
    if (json_array_size(fn) != json_array_size(v))
        return 0; /* no frame numbers: one line */
    return json_integer_value(json_array_get(fn, i)) -
               json_integer_value(json_array_get(fn, i - 1)) >
           (json_int_t)step;
}

/* The path of entries [i0, i1) (no gap inside): "M x,y L x,y ...".  A long run is
 * drawn as each bucket of `step` samples' minimum and maximum, in time order (keeps
 * spikes, bounds the page size); a run of one point is a dot (round cap). */
static void plot_run(cr_buf *b, const json_t *v, const json_t *t, size_t i0, size_t i1, size_t step,
                     double t0, double t1, double lo, double hi)
{
    int first = 1;
    for (size_t s0 = i0; s0 < i1; s0 += step) {
        size_t lo_i = s0, hi_i = s0;
        for (size_t i = s0; i < i1 && i < s0 + step; i++) {
            if (elem(v, i) < elem(v, lo_i))
                lo_i = i;
            if (elem(v, i) > elem(v, hi_i))
                hi_i = i;
        }
        size_t pick[2] = {lo_i < hi_i ? lo_i : hi_i, lo_i < hi_i ? hi_i : lo_i};
        for (int q = 0; q < (pick[0] == pick[1] ? 1 : 2); q++) {
            double x = elem(v, pick[q]), tt = elem(t, pick[q]);
            if (!isfinite(tt))
                continue;
            cr_buf_addf(b, "%s%.1f,%.1f", first ? "M" : "L", (tt - t0) / (t1 - t0) * PLOT_W,
                        plot_y((x - lo) / (hi - lo)));
            first = 0;
        }
    }
    if (i1 - i0 == 1 && !first)
        cr_buf_adds(b, "h0");
}

/* A line plot of per-frame values against time; scores on a fixed 0..1 axis.  The
 * line breaks where frames are missing (an undetected player, an invisible
 * landmark): a line across the gap would show values nobody measured. */
static void plot(cr_buf *b, const json_t *m, int scores, double bad_threshold)
{
    const json_t *v = json_object_get(m, scores ? "per_frame_scores" : "per_frame_values");
    const json_t *t = json_object_get(m, "per_frame_timestamps_s");
    const json_t *fn = json_object_get(m, "per_frame_frame_nums");
    size_t n = json_array_size(v);
    if (n < 2 || json_array_size(t) != n)
        return;
    double t0 = elem(t, 0), t1 = elem(t, n - 1);
    double lo = 0, hi = 1;
    if (!scores) {
        lo = INFINITY;
        hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double x = elem(v, i);
            if (isfinite(x)) {
                lo = fmin(lo, x);
                hi = fmax(hi, x);
            }
        }
        if (!(hi >= lo))
            return; /* no value at all */
        /* the axis includes 0: a range fitted to the data alone made a steady 2 deg
         * look like large swings */
        lo = fmin(lo, 0);
        hi = fmax(hi, 0);
        if (hi - lo < 1e-9)
            hi = lo + 1;
    }
    if (!isfinite(t0) || !isfinite(t1))
        return;
    if (t1 - t0 < 1e-9)
        t1 = t0 + 1;
    cr_buf_addf(
        b, "<svg class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">",
        PLOT_W, PLOT_H + 16, PLOT_W, PLOT_H + 16);
    cr_buf_addf(
        b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        PLOT_W, PLOT_H);
    if (scores && isfinite(bad_threshold))
        cr_buf_addf(b,
                    "<line x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d33\" "
                    "stroke-dasharray=\"4 3\"/>",
                    PLOT_W, plot_y(bad_threshold), plot_y(bad_threshold));
    cr_buf_adds(b, "<path class=\"series\" fill=\"none\" stroke=\"#2160c4\" stroke-width=\"1.5\" "
                   "stroke-linecap=\"round\" stroke-linejoin=\"round\" d=\"");
    size_t step = n > PLOT_MAX_POINTS ? (n + PLOT_MAX_POINTS / 2 - 1) / (PLOT_MAX_POINTS / 2) : 1;
    size_t i0 = 0;
    while (i0 < n && !isfinite(elem(v, i0)))
        i0++;
    while (i0 < n) {
        size_t i1 = i0 + 1;
        while (i1 < n && !gap_before(v, fn, i1, step))
            i1++;
        plot_run(b, v, t, i0, i1, step, t0, t1, lo, hi);
        for (i0 = i1; i0 < n && !isfinite(elem(v, i0)); i0++)
            ;
    }
    cr_buf_adds(b, "\"/>");
    cr_buf_addf(b,
                "<text x=\"2\" y=\"%d\" font-size=\"11\">%.1f s</text><text x=\"%d\" y=\"%d\" "
                "font-size=\"11\" text-anchor=\"end\">%.1f s</text>",
                PLOT_H + 13, t0, PLOT_W - 2, PLOT_H + 13, t1);
    cr_buf_addf(b, "<text x=\"4\" y=\"12\" font-size=\"11\">%.3g</text>", hi);
    cr_buf_addf(b, "<text x=\"4\" y=\"%d\" font-size=\"11\">%.3g</text>", PLOT_H - 3, lo);
    cr_buf_adds(b, "</svg>\n");
}

/* The skeleton's edges (body part of MediaPipe's POSE_CONNECTIONS). */
static const int bones[][2] = {{11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16}, {11, 23},
                               {12, 24}, {23, 24}, {23, 25}, {25, 27}, {24, 26}, {26, 28},
                               {27, 29}, {29, 31}, {27, 31}, {28, 30}, {30, 32}, {28, 32}};

/* The detected pose of frame k, or NULL. */
static const analysis_frame *find_frame(const analysis_series *s, int64_t k)
{
    const analysis_frame *f = analysis_series_find(s, k);
    return f != NULL && f->detected ? f : NULL;
}

/* The pose of one frame as a small SVG, fitted to its bounding box. */
static void skeleton(cr_buf *b, const analysis_frame *f, double t)
{
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < ANALYSIS_LM; i++) {
        if (f->vis[i] < ANALYSIS_MIN_VISIBILITY || !isfinite(f->x[i]) || !isfinite(f->y[i]))
            continue;
        x0 = fmin(x0, f->x[i]);
        y0 = fmin(y0, f->y[i]);
        x1 = fmax(x1, f->x[i]);
        y1 = fmax(y1, f->y[i]);
    }
    if (!(x1 > x0) || !(y1 > y0))
        return;
    double sc = 160.0 / fmax(x1 - x0, y1 - y0);
    cr_buf_adds(
        b, "<figure class=\"skel\"><svg viewBox=\"0 0 180 180\" width=\"180\" height=\"180\">");
    for (size_t i = 0; i < sizeof bones / sizeof *bones; i++) {
        int a = bones[i][0], c = bones[i][1];
        if (f->vis[a] < ANALYSIS_MIN_VISIBILITY || f->vis[c] < ANALYSIS_MIN_VISIBILITY)
            continue;
        cr_buf_addf(b,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                    "stroke-width=\"3\" stroke-linecap=\"round\"/>",
                    10 + (f->x[a] - x0) * sc, 10 + (f->y[a] - y0) * sc, 10 + (f->x[c] - x0) * sc,
                    10 + (f->y[c] - y0) * sc);
    }
    if (f->vis[0] >= ANALYSIS_MIN_VISIBILITY)
        cr_buf_addf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"#c33\"/>",
                    10 + (f->x[0] - x0) * sc, 10 + (f->y[0] - y0) * sc);
    cr_buf_addf(b, "</svg><figcaption>frame %lld, %.1f s</figcaption></figure>",
                (long long)f->frame_num, t);
}

/* ---- key frames and their pictures ------------------------------------------- */

static int measured(const json_t *m)
{
    return json_is_object(m) && !json_is_false(json_object_get(m, "measured"));
}

/* The key frame of shown[k] and its time (*t, may be NAN): a score's worst frame, an
 * extra's own frame (longest stride, release, most lateral flexion); -1 when none or
 * not measured. */
static int64_t key_frame(const json_t *metrics, size_t k, double *t)
{
    const json_t *m = json_object_get(metrics, shown[k].key);
    *t = NAN;
    if (!measured(m) || !isfinite(num(m, shown[k].field)))
        return -1;
    const json_t *f;
    if (shown[k].plot_scores) {
        const json_t *w =
            json_array_get(json_object_get(json_object_get(m, "evidence"), "worst_frames"), 0);
        f = json_object_get(w, "frame_num");
        *t = num(w, "timestamp_s");
    } else if (json_object_get(m, "release_frame_num") != NULL) {
        f = json_object_get(m, "release_frame_num");
        *t = num(m, "release_timestamp_s");
    } else {
        f = json_object_get(m, "frame_num");
        *t = num(m, "timestamp_s");
    }
    return json_is_integer(f) && json_integer_value(f) >= 0 ? json_integer_value(f) : -1;
}

static size_t shown_index(const char *key)
{
    for (size_t k = 0; key != NULL && k < sizeof shown / sizeof *shown; k++)
        if (strcmp(shown[k].key, key) == 0)
            return k;
    return (size_t)-1;
}

static size_t add_frame(int64_t *out, size_t n, size_t cap, int64_t f)
{
    if (f < 0 || n >= cap)
        return n;
    for (size_t i = 0; i < n; i++)
        if (out[i] == f)
            return n;
    out[n] = f;
    return n + 1;
}

size_t analysis_report_picture_frames(const json_t *metrics, const json_t *findings, int64_t *out,
                                      size_t cap)
{
    if (cap > ANALYSIS_REPORT_MAX_PICTURES)
        cap = ANALYSIS_REPORT_MAX_PICTURES;
    size_t n = 0, i;
    const json_t *f;
    json_array_foreach(json_object_get(findings, "findings"), i, f)
    {
        size_t k = shown_index(str(f, "metric"));
        double t;
        if (k != (size_t)-1)
            n = add_frame(out, n, cap, key_frame(metrics, k, &t));
    }
    for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
        double t;
        n = add_frame(out, n, cap, key_frame(metrics, k, &t));
    }
    return n;
}

/* The pictures embedded so far and the bytes they took. */
typedef struct pics {
    const analysis_pictures *all;
    unsigned char *shown; /* per item: embedded already */
    size_t bytes;
} pics;

static const analysis_picture *picture_of(const pics *p, int64_t frame, size_t *index)
{
    for (size_t i = 0; p->all != NULL && i < p->all->n; i++)
        if (p->all->items[i].frame_num == frame && p->all->items[i].jpeg_len > 0) {
            *index = i;
            return &p->all->items[i];
        }
    return NULL;
}

static void add_base64(cr_buf *b, const uint8_t *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        q[0] = a[v >> 18 & 63];
        q[1] = a[v >> 12 & 63];
        q[2] = i + 1 < n ? a[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? a[v & 63] : '=';
        cr_buf_add(b, q, 4);
    }
}

/* What frame `frame` is the key frame of: "12.3 s (frame 123): lowest Head
 * stability score, 0.31; Stride length: 2.1 torso lengths". */
static void caption_of(cr_buf *b, const json_t *metrics, int64_t frame)
{
    int n = 0;
    for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
        double t;
        if (key_frame(metrics, k, &t) != frame)
            continue;
        const json_t *m = json_object_get(metrics, shown[k].key);
        if (n++ == 0 && isfinite(t))
            cr_buf_addf(b, "%.1f s (frame %lld): ", t, (long long)frame);
        else if (n == 1)
            cr_buf_addf(b, "frame %lld: ", (long long)frame);
        else
            cr_buf_adds(b, "; ");
        if (shown[k].plot_scores) {
            const json_t *w =
                json_array_get(json_object_get(json_object_get(m, "evidence"), "worst_frames"), 0);
            cr_buf_adds(b, "lowest ");
            cr_buf_add_escaped(b, shown[k].label);
            cr_buf_addf(b, " score, %.2f", num(w, "score"));
        } else {
            cr_buf_add_escaped(b, shown[k].label);
            cr_buf_addf(b, ": %.1f%s", num(m, shown[k].field), shown[k].unit);
        }
    }
}

/* Embeds the picture of `frame` (1) unless it has none, was embedded already, or
 * the byte budget is spent (0). */
static int picture(cr_buf *b, pics *p, const json_t *metrics, int64_t frame)
{
    size_t i;
    const analysis_picture *pic = picture_of(p, frame, &i);
    if (pic == NULL || p->shown[i] || p->bytes + pic->jpeg_len > ANALYSIS_REPORT_PICTURE_BYTES)
        return 0;
    p->shown[i] = 1;
    p->bytes += pic->jpeg_len;
    cr_buf_addf(b,
                "<figure class=\"pic\"><img width=\"%d\" height=\"%d\" alt=\"frame %lld with "
                "the detected skeleton\" src=\"data:image/jpeg;base64,",
                pic->width, pic->height, (long long)frame);
    add_base64(b, pic->jpeg, pic->jpeg_len);
    cr_buf_adds(b, "\"><figcaption>");
    caption_of(b, metrics, frame);
    cr_buf_adds(b, "</figcaption></figure>\n");
    return 1;
}

static void list_of(cr_buf *b, const json_t *a)
{
    size_t i;
    const json_t *v;
    cr_buf_adds(b, "<ul>");
    json_array_foreach(a, i, v)
    {
        cr_buf_adds(b, "<li>");
        cr_buf_add_escaped(b, json_string_value(v));
        cr_buf_adds(b, "</li>");
    }
    cr_buf_adds(b, "</ul>");
}

static void issue(cr_buf *b, const json_t *f, const json_t *metrics, const analysis_series *s,
                  pics *p)
{
    const char *sev = str(f, "severity");
    cr_buf_adds(b, "<section class=\"issue\"><h3><span class=\"sev sev-");
    cr_buf_add_escaped(b, sev);
    cr_buf_adds(b, "\">");
    cr_buf_add_escaped(b, sev);
    cr_buf_adds(b, "</span> ");
    cr_buf_add_escaped(b, str(f, "title"));
    cr_buf_adds(b, "</h3><p>");
    cr_buf_add_escaped(b, str(f, "why_it_matters"));
    cr_buf_adds(b, "</p>");
    /* the measured value against its threshold */
    const json_t *ev = json_object_get(f, "evidence");
    const char *k;
    const json_t *v;
    cr_buf_adds(b, "<p class=\"ev\">");
    json_object_foreach((json_t *)ev, k, v)
    {
        cr_buf_add_escaped(b, k);
        if (json_is_number(v))
            cr_buf_addf(b, " = %.3g; ", json_number_value(v));
        else if (json_is_string(v)) {
            cr_buf_adds(b, " = ");
            cr_buf_add_escaped(b, json_string_value(v));
            cr_buf_adds(b, "; ");
        } else
            cr_buf_adds(b, "; ");
    }
    cr_buf_adds(b, "<br><small>threshold: ");
    cr_buf_add_escaped(b, str(f, "threshold_source"));
    cr_buf_adds(b, "</small></p>");
    cr_buf_adds(b, "<h4>Cues</h4>");
    list_of(b, json_object_get(f, "cues"));
    cr_buf_adds(b, "<h4>Drills</h4>");
    list_of(b, json_object_get(f, "suggested_drills"));
    const json_t *segs = json_object_get(json_object_get(f, "video_evidence"), "bad_segments");
    if (json_array_size(segs) > 0) {
        cr_buf_adds(b, "<p>Look at: ");
        size_t i;
        json_array_foreach(segs, i, v)
        {
            cr_buf_add_escaped(b, str(v, "start"));
            cr_buf_adds(b, "&ndash;");
            cr_buf_add_escaped(b, str(v, "end"));
            if (i + 1 < json_array_size(segs))
                cr_buf_adds(b, ", ");
        }
        cr_buf_adds(b, "</p>");
    }
    /* the picture of the metric's key frame; without one, the pose as a drawing */
    size_t si = shown_index(str(f, "metric")), pi = 0;
    double t;
    int64_t frame = si != (size_t)-1 ? key_frame(metrics, si, &t) : -1;
    if (frame >= 0 && !picture(b, p, metrics, frame)) {
        const analysis_frame *fr = NULL;
        if (picture_of(p, frame, &pi) != NULL && p->shown[pi])
            cr_buf_addf(b, "<p class=\"ev\">Its key frame, frame %lld, is pictured above.</p>",
                        (long long)frame);
        else if ((fr = find_frame(s, frame)) != NULL)
            skeleton(b, fr, fr->t);
    }
    cr_buf_adds(b, "</section>\n");
}

/* Summary rows: the overall level and what it rests on, what was not measured. */
static void level_rows(cr_buf *b, const json_t *findings)
{
    const json_t *done = json_object_get(findings, "metrics_measured");
    const json_t *undone = json_object_get(findings, "metrics_not_measured");
    cr_buf_adds(b, "<tr><th>Overall level</th><td>");
    if (json_is_array(done) && json_array_size(done) == 0) {
        cr_buf_adds(b, "none: nothing could be measured");
    } else {
        cr_buf_add_escaped(b, str(findings, "overall_level"));
        if (json_is_array(done))
            cr_buf_addf(b, " (from the %zu metric%s measured)", json_array_size(done),
                        json_array_size(done) == 1 ? "" : "s");
    }
    cr_buf_adds(b, "</td></tr>");
    if (json_array_size(undone) == 0)
        return;
    cr_buf_adds(b, "<tr><th>Not measured</th><td>");
    size_t i;
    const json_t *u;
    json_array_foreach(undone, i, u)
    {
        size_t k = shown_index(str(u, "metric"));
        cr_buf_adds(b, i ? ", " : "");
        cr_buf_add_escaped(b, k != (size_t)-1 ? shown[k].label : str(u, "metric"));
    }
    cr_buf_adds(b, " (why: see Metrics)</td></tr>");
}

cr_status analysis_report_html(const json_t *metrics, const json_t *findings, const json_t *info,
                               const analysis_series *series, const analysis_pictures *pictures,
                               char **html, size_t *len, cr_err *err)
{
    *html = NULL;
    if (len)
        *len = 0;
    cr_buf b = {0};
    pics p = {pictures, NULL, 0};
    if (pictures != NULL && pictures->n > 0 &&
        (p.shown = cr_calloc(pictures->n, sizeof *p.shown)) == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory writing the report");
    {
        static const char head[] =
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>crease &ndash; coaching report</title>\n<style>\n"
            "body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;padding:0 1em;"
            "color:#222}\nh1{font-size:1.6em}h2{border-bottom:2px solid #2160c4;"
            "padding-bottom:.2em}\n"
            ".warn{background:#fff3cd;border:1px solid #e0b000;padding:.8em;border-radius:6px}\n"
            ".issue{border:1px solid #ddd;border-radius:6px;padding:.4em 1em;margin:1em 0}\n"
            ".sev{display:inline-block;padding:0 .5em;border-radius:4px;color:#fff;font-size:.8em;"
            "text-transform:uppercase}\n.sev-high{background:#c0392b}"
            ".sev-medium{background:#e67e22}.sev-low{background:#7f8c8d}\n"
            "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;"
            "padding:.3em;text-align:left}\n.ev{color:#555;font-size:.9em}\n"
            ".skel{display:inline-block;margin:0}.skel svg{background:#f4f4f4}\n"
            ".pic{display:inline-block;margin:.5em .5em .5em 0;max-width:100%;"
            "vertical-align:top}\n.pic img{display:block;max-width:100%;height:auto;"
            "border-radius:4px}\n.pic figcaption{font-size:.85em;color:#555;max-width:640px}\n"
            ".pics .pic{max-width:390px}\n.nm{color:#8a6d00;font-style:italic;white-space:nowrap}\n"
            ".plot{max-width:100%;height:auto}\n</style>\n</head>\n<body>\n";
        cr_buf_add(&b, head, sizeof head - 1);
    }
    const char *mode = str(findings, "mode");
    cr_buf_adds(&b, "<h1>Coaching report");
    if (mode) {
        cr_buf_adds(&b, ": ");
        cr_buf_add_escaped(&b, mode);
    }
    cr_buf_adds(&b, "</h1>\n");

    /* summary */
    const json_t *rel = json_object_get(findings, "reliability");
    const json_t *list = json_object_get(findings, "findings");
    cr_buf_adds(&b, "<h2>Summary</h2>\n<table>");
    if (str(info, "job_id")) {
        cr_buf_adds(&b, "<tr><th>Job</th><td>");
        cr_buf_add_escaped(&b, str(info, "job_id"));
        cr_buf_adds(&b, "</td></tr>");
    }
    double dur = num(info, "video_duration_seconds");
    if (isfinite(dur))
        cr_buf_addf(&b, "<tr><th>Video</th><td>%.1f s</td></tr>", dur);
    cr_buf_addf(&b,
                "<tr><th>Frames analysed</th><td>%lld, player detected in %lld (%.0f %%)</td></tr>",
                (long long)json_integer_value(json_object_get(rel, "frames")),
                (long long)json_integer_value(json_object_get(rel, "frames_detected")),
                100 * num(rel, "detection_rate"));
    level_rows(&b, findings);
    cr_buf_addf(&b, "<tr><th>Issues found</th><td>%zu</td></tr></table>\n", json_array_size(list));
    if (json_is_true(json_object_get(rel, "low"))) {
        cr_buf_adds(&b,
                    "<p class=\"warn\" id=\"reliability\"><strong>Reliability warning.</strong> ");
        cr_buf_add_escaped(&b, str(rel, "warning"));
        cr_buf_adds(&b, "</p>\n");
    }

    /* top issues */
    cr_buf_adds(&b, "<h2>Top issues</h2>\n");
    const json_t *done = json_object_get(findings, "metrics_measured");
    size_t nundone = json_array_size(json_object_get(findings, "metrics_not_measured"));
    if (json_array_size(list) == 0 && json_is_array(done) && json_array_size(done) == 0)
        cr_buf_adds(&b, "<p>Nothing could be measured, so nothing could be judged.</p>\n");
    else if (json_array_size(list) == 0 && nundone > 0)
        cr_buf_addf(&b,
                    "<p>No issue crossed its threshold in the %zu metric%s measured; %zu could "
                    "not be measured (see Metrics).</p>\n",
                    json_array_size(done), json_array_size(done) == 1 ? "" : "s", nundone);
    else if (json_array_size(list) == 0)
        cr_buf_adds(&b, "<p>No issue crossed its threshold.</p>\n");
    size_t i;
    const json_t *f;
    json_array_foreach(list, i, f)
    {
        if (i >= 5)
            break;
        issue(&b, f, metrics, series, &p);
    }

    /* the key frames not pictured with an issue */
    size_t left = 0;
    for (size_t k = 0; pictures != NULL && k < pictures->n; k++)
        left += !p.shown[k];
    if (left > 0 || (pictures != NULL && pictures->note != NULL)) {
        cr_buf_adds(&b, "<h2>Key frames</h2>\n");
        if (pictures->note != NULL) {
            cr_buf_adds(&b, "<p class=\"warn\" id=\"pictures\">");
            cr_buf_add_escaped(&b, pictures->note);
            cr_buf_adds(&b, "</p>\n");
        }
        cr_buf_adds(&b, "<div class=\"pics\">\n");
        for (size_t k = 0; k < pictures->n; k++)
            picture(&b, &p, metrics, pictures->items[k].frame_num);
        cr_buf_adds(&b, "</div>\n");
    }

    /* metrics table + plots */
    cr_buf_adds(&b, "<h2>Metrics</h2>\n<table><tr><th>Metric</th><th>Value</th><th>Note</th></tr>");
    for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
        const json_t *m = json_object_get(metrics, shown[k].key);
        if (!json_is_object(m))
            continue;
        cr_buf_adds(&b, "<tr><td>");
        cr_buf_add_escaped(&b, shown[k].label);
        cr_buf_adds(&b, "</td><td>");
        double v = measured(m) ? num(m, shown[k].field) : NAN;
        if (isfinite(v))
            cr_buf_addf(&b, "%.2f%s", v, shown[k].unit);
        else
            cr_buf_adds(&b, "<span class=\"nm\">not measured</span>");
        cr_buf_adds(&b, "</td><td>");
        cr_buf_add_escaped(&b, isfinite(v) ? str(m, "note") : str(m, "reason"));
        cr_buf_adds(&b, "</td></tr>\n");
    }
    cr_buf_adds(&b, "</table>\n");
    /* every screened delivery */
    const json_t *dels =
        json_object_get(json_object_get(metrics, "bowling_elbow_extension"), "deliveries");
    if (json_array_size(dels) > 0) {
        cr_buf_adds(&b,
                    "<h3>Deliveries screened for elbow extension (screening only)</h3>\n"
                    "<table><tr><th>Release</th><th>Arm</th><th>Extension</th><th>From</th></tr>");
        size_t di;
        const json_t *d;
        json_array_foreach(dels, di, d)
        {
            double x = num(d, "extension_deg");
            cr_buf_addf(&b, "<tr><td>%.1f s</td><td>", num(d, "release_timestamp_s"));
            cr_buf_add_escaped(&b, str(d, "side"));
            if (isfinite(x))
                cr_buf_addf(&b, "</td><td>%.1f deg%s</td><td>", x, x > 15.0 ? " (over 15)" : "");
            else
                cr_buf_adds(&b, "</td><td>&ndash;</td><td>");
            cr_buf_add_escaped(&b, isfinite(x) ? str(d, "space") : str(d, "reason"));
            cr_buf_adds(&b, "</td></tr>\n");
        }
        cr_buf_adds(&b, "</table>\n");
    }
    cr_buf_adds(&b, "<h2>Per-frame plots</h2>\n");
    int nplots = 0;
    for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
        const json_t *m = json_object_get(metrics, shown[k].key);
        if (!measured(m) || !isfinite(num(m, shown[k].field)) ||
            json_array_size(json_object_get(m, shown[k].plot_scores ? "per_frame_scores"
                                                                    : "per_frame_values")) < 2)
            continue;
        cr_buf_adds(&b, "<h3>");
        cr_buf_add_escaped(&b, shown[k].label);
        cr_buf_adds(&b, shown[k].plot_scores
                            ? " (score 0&ndash;1, dashed: evidence threshold)</h3>\n"
                            : "</h3>\n");
        plot(&b, m, shown[k].plot_scores, num(json_object_get(m, "evidence"), "threshold"));
        nplots++;
    }
    if (nplots == 0)
        cr_buf_adds(&b, "<p>No metric was measured over enough frames to plot.</p>\n");
    {
        static const char tail[] =
            "<p><small>Measured from 2D video with pose estimation. Elbow-extension figures are "
            "a screening aid only and cannot adjudicate a bowling action.</small></p>\n"
            "</body>\n</html>\n";
        cr_buf_add(&b, tail, sizeof tail - 1);
    }
    cr_free(p.shown);
    if (cr_buf_take(&b, html, len) != CR_OK) {
        cr_buf_release(&b);
        return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory writing the report");
    }
    return CR_OK;
}
