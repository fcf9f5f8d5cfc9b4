/*
 * metrics.c -- the metrics of analysis.h on a pixel-space pose series.
 *
 * The five Cricksy metrics keep Cricksy's names, meaning and 0..1 scales
 * (Cricksy_Scorer backend/services/pose_metrics.py: compute_*_score and the
 * evidence markers of build_pose_metric_evidence), with these corrections:
 *   - pixels, not normalized coordinates (a non-square frame no longer stretches x
 *     against y), relative to the body scale = median torso length of the series;
 *   - scale constants converted to torso lengths where Cricksy's were in shoulder
 *     widths or frame units (each constant says how);
 *   - a metric that cannot be computed is null with a reason (Cricksy: 0.5);
 *   - line angles are differenced modulo 360 degrees (Cricksy differenced raw
 *     atan2 values, so a line crossing +-180 degrees made a fake velocity peak);
 *   - the knee score uses the 5th percentile of the knee angle, not the single
 *     minimum frame (one landmark glitch decided Cricksy's score).
 *
 * Anthropometry (Winter, Biomechanics and Motor Control of Human Movement, 4th ed.,
 * 2009, fig. 4.1, segment lengths as fractions of height H): shoulder width
 * 0.259 H, shoulder to hip (greater trochanter) 0.818 H - 0.530 H = 0.288 H, upper
 * arm 0.186 H.  Hence 1 shoulder width = 0.9 torso lengths and H = torso / 0.288.
 */
#include "analysis/analysis.h"

#include "core/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

/* Winter 2009: torso (shoulder-hip) / height and shoulder width / torso. */
#define TORSO_PER_HEIGHT 0.288
#define SHOULDER_WIDTH_PER_TORSO (0.259 / 0.288)

/* Cricksy: head movement of 0.3 shoulder widths per sample scores 0. */
#define HEAD_MOVE_ZERO (0.3 * SHOULDER_WIDTH_PER_TORSO) /* torso lengths per sample */
/* Ours: nose positions more than 1 s apart are not differenced. */
#define HEAD_MAX_GAP_S 1.0
/* Cricksy: hip-ankle drift of 0.2 (normalized x) scores 0.  For a player 80 % of a
 * 16:9 frame's height that is 0.2 * 16/9 / (0.8 * 0.288) = 1.5 torso lengths; ours
 * is stricter, 1.0 torso length (the hips a full torso outside the feet). */
#define BALANCE_DRIFT_ZERO 1.0
/* Cricksy: knee angle 80 deg -> 0, 180 deg -> 1. */
#define KNEE_ZERO_DEG 80.0
#define KNEE_SPAN_DEG 100.0
#define KNEE_PERCENTILE 0.05 /* ours: robust "minimum" */
/* Cricksy: elbow drop (elbow below shoulder) 0.05 -> 0, 0.30 -> 1 (frame heights).
 * Ours in torso lengths: 0.2 -> 0 (elbow raised near shoulder level) and 0.65 -> 1
 * (upper arm hanging: 0.186 H / 0.288 H, Winter 2009). */
#define ELBOW_DROP_ZERO 0.2
#define ELBOW_DROP_SPAN 0.45
/* Ours: below this peak angular speed of both lines no rotation happened and the
 * lag is noise (trunk rotation in strokes and deliveries reaches several hundred
 * deg/s). */
#define ROTATION_MIN_DEG_S 90.0
/* Ours: a stride changes the ankle separation by at least half a torso length
 * (0.5 * 0.288 H = 0.14 H, ~25 cm for a 1.8 m player; a front-foot stride in
 * batting is several times that, a delivery stride more still), far above the
 * jitter of the ankles of a player standing still (a few cm). */
#define STRIDE_MIN_CHANGE 0.5
/* Cricksy per-frame proxy of the separation timing: |separation| 0..90 deg -> 0..1. */
#define SEPARATION_SPAN_DEG 90.0
/* Cricksy EVIDENCE_BAD_THRESHOLDS, EVIDENCE_WORST_FRAMES_COUNT, EVIDENCE_MERGE_GAP_FRAMES. */
#define EVIDENCE_WORST 5
#define EVIDENCE_MERGE_GAP 3
/* Ours: the nose must lead the shoulder midpoint by 0.15 torso lengths for the
 * facing direction (and so the front leg) to count as known. */
#define FACING_MIN 0.15
/* Camera view from the median shoulder width / torso length (ours): frontal 0.9
 * (Winter 2009), side-on near 0.  >= 0.6 front-on or behind, <= 0.35 side-on. */
#define VIEW_FRONT_MIN 0.6
#define VIEW_SIDE_MAX 0.35
/* ICC regulations for the review of bowlers reported with suspected illegal
 * bowling actions (2009 onward): elbow extension tolerance 15 degrees. */
#define ICC_ELBOW_LIMIT_DEG 15.0
/* Ours: look for the upper arm horizontal at most 1 s before release; one release
 * per 1 s window (a delivery stride and arm swing take well under a second); list
 * at most 50 deliveries. */
#define UAH_MAX_LOOKBACK_S 1.0
#define RELEASE_WINDOW_S 0.5
#define MAX_DELIVERIES 50

/* ---- small helpers ----------------------------------------------------------- */

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static int ok(const analysis_frame *f, int i)
{
    return f->detected && f->vis[i] >= ANALYSIS_MIN_VISIBILITY && isfinite(f->x[i]) &&
           isfinite(f->y[i]);
}

/* Midpoint of the visible ones of landmarks a, b; 0 when neither is visible. */
static int mid(const analysis_frame *f, int a, int b, double *x, double *y)
{
    int n = 0;
    double sx = 0, sy = 0;
    if (ok(f, a)) {
        sx += f->x[a];
        sy += f->y[a];
        n++;
    }
    if (ok(f, b)) {
        sx += f->x[b];
        sy += f->y[b];
        n++;
    }
    if (n == 0)
        return 0;
    *x = sx / n;
    *y = sy / n;
    return 1;
}

/* Angle ABC at B in degrees, NAN when a side has zero length. */
static double angle3(double ax, double ay, double az, double bx, double by, double bz, double cx,
                     double cy, double cz)
{
    double ux = ax - bx, uy = ay - by, uz = az - bz, vx = cx - bx, vy = cy - by, vz = cz - bz;
    double nu = sqrt(ux * ux + uy * uy + uz * uz), nv = sqrt(vx * vx + vy * vy + vz * vz);
    if (nu <= 0 || nv <= 0)
        return NAN;
    double c = (ux * vx + uy * vy + uz * vz) / (nu * nv);
    c = c < -1 ? -1 : c > 1 ? 1 : c;
    return acos(c) * 180.0 / PI;
}

static double angle2(const analysis_frame *f, int a, int b, int c)
{
    return angle3(f->x[a], f->y[a], 0, f->x[b], f->y[b], 0, f->x[c], f->y[c], 0);
}

static double wrap180(double a)
{
    return a - 360.0 * floor((a + 180.0) / 360.0);
}

/* Direction of the line p -> q from the image x axis, degrees. */
static double line_deg(const analysis_frame *f, int p, int q)
{
    return atan2(f->y[q] - f->y[p], f->x[q] - f->x[p]) * 180.0 / PI;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Torso length in pixels (shoulder midpoint to hip midpoint), NAN when unseen. */
static double torso_px(const analysis_frame *f)
{
    double sx, sy, hx, hy;
    if (!mid(f, ALM_L_SHOULDER, ALM_R_SHOULDER, &sx, &sy) ||
        !mid(f, ALM_L_HIP, ALM_R_HIP, &hx, &hy))
        return NAN;
    double d = hypot(sx - hx, sy - hy);
    return d > 0 ? d : NAN;
}

/* +1 when the player faces image right, -1 left, 0 unknown (frontal, nose unseen). */
static int facing(const analysis_frame *f, double scale)
{
    double sx, sy;
    if (!ok(f, ALM_NOSE) || !mid(f, ALM_L_SHOULDER, ALM_R_SHOULDER, &sx, &sy))
        return 0;
    double dx = (f->x[ALM_NOSE] - sx) / scale;
    return dx > FACING_MIN ? 1 : dx < -FACING_MIN ? -1 : 0;
}

/* ---- JSON building with one error flag ---------------------------------------- */

typedef struct jb {
    int bad;
} jb;

/* o[k] = v.  The new reference `v` is consumed whatever happens, also when `o` is
 * NULL (its own allocation failed). */
static void put(jb *b, json_t *o, const char *k, json_t *v)
{
    if (o == NULL || v == NULL) {
        json_decref(v);
        b->bad = 1;
    } else if (json_object_set_new(o, k, v) != 0) {
        b->bad = 1;
    }
}

/* Appends v to the array a; consumes `v` like put. */
static void append(jb *b, json_t *a, json_t *v)
{
    if (a == NULL || v == NULL) {
        json_decref(v);
        b->bad = 1;
    } else if (json_array_append_new(a, v) != 0) {
        b->bad = 1;
    }
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A per-frame series: values with their frame numbers and times. */
typedef struct pfs {
    double *v;
    int64_t *fn;
    double *ts;
    size_t n;
} pfs;

static int pfs_init(pfs *p, size_t cap)
{
    memset(p, 0, sizeof *p);
    cap = cap ? cap : 1;
    p->v = cr_malloc(cap * sizeof *p->v);
    p->fn = cr_malloc(cap * sizeof *p->fn);
    p->ts = cr_malloc(cap * sizeof *p->ts);
    return p->v && p->fn && p->ts;
}

static void pfs_free(pfs *p)
{
    cr_free(p->v);
    cr_free(p->fn);
    cr_free(p->ts);
}

static void pfs_add(pfs *p, const analysis_frame *f, double v)
{
    p->v[p->n] = v;
    p->fn[p->n] = f->frame_num;
    p->ts[p->n] = f->t;
    p->n++;
}

/* per_frame_<name>, per_frame_frame_nums, per_frame_timestamps_s */
static void put_series(jb *b, json_t *o, const char *name, const pfs *p)
{
    json_t *v = json_array(), *fn = json_array(), *ts = json_array();
    for (size_t i = 0; v && fn && ts && i < p->n; i++) {
        if (json_array_append_new(v, jnum(p->v[i])) ||
            json_array_append_new(fn, json_integer(p->fn[i])) ||
            json_array_append_new(ts, jnum(p->ts[i])))
            b->bad = 1;
    }
    put(b, o, name, v);
    put(b, o, "per_frame_frame_nums", fn);
    put(b, o, "per_frame_timestamps_s", ts);
}

/* Cricksy's evidence markers: the 5 lowest-scoring frames, and the runs of frames
 * below `threshold` (indices in the per-frame series) merged across gaps of at most
 * 3 series entries. */
static json_t *evidence(jb *b, const pfs *p, double threshold)
{
    json_t *e = json_object(), *worst = json_array(), *segs = json_array();
    put(b, e, "threshold", json_real(threshold));
    /* selection of the lowest EVIDENCE_WORST, ties by order */
    size_t pick[EVIDENCE_WORST];
    size_t np = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t j = np < EVIDENCE_WORST ? np++ : EVIDENCE_WORST;
        if (j == EVIDENCE_WORST) {
            if (!(p->v[i] < p->v[pick[EVIDENCE_WORST - 1]]))
                continue;
            j = EVIDENCE_WORST - 1;
        }
        while (j > 0 && p->v[i] < p->v[pick[j - 1]]) {
            pick[j] = pick[j - 1];
            j--;
        }
        pick[j] = i;
    }
    for (size_t k = 0; k < np; k++) {
        size_t i = pick[k];
        json_t *w = json_object();
        put(b, w, "frame_num", json_integer(p->fn[i]));
        put(b, w, "timestamp_s", jnum(p->ts[i]));
        put(b, w, "score", jnum(p->v[i]));
        append(b, worst, w);
    }
    /* runs below threshold, merged */
    long s0 = -1, e0 = -1;
    double mn = 1;
    for (size_t i = 0; i <= p->n; i++) {
        int below = i < p->n && p->v[i] < threshold;
        if (below) {
            if (s0 >= 0 && (long)i - e0 - 1 <= EVIDENCE_MERGE_GAP) {
                e0 = (long)i;
                mn = fmin(mn, p->v[i]);
                continue;
            }
        }
        if ((below || i == p->n) && s0 >= 0) {
            json_t *sg = json_object();
            put(b, sg, "start_frame", json_integer(p->fn[s0]));
            put(b, sg, "end_frame", json_integer(p->fn[e0]));
            put(b, sg, "start_timestamp_s", jnum(p->ts[s0]));
            put(b, sg, "end_timestamp_s", jnum(p->ts[e0]));
            put(b, sg, "min_score", jnum(mn));
            append(b, segs, sg);
            s0 = -1;
        }
        if (below) {
            s0 = e0 = (long)i;
            mn = p->v[i];
        }
    }
    put(b, e, "worst_frames", worst);
    put(b, e, "bad_segments", segs);
    return e;
}

/* A metric object: score and "measured": true, or score null, "measured": false and
 * the reason.  A score from fewer than ANALYSIS_MIN_FRAMES frames (`frames`; the
 * num_frames field counts samples, which for elbow_drop_score are arms) is not
 * measured. */
static json_t *metric(jb *b, double score, const char *reason, int64_t num_frames, int64_t frames)
{
    char few[160];
    if (isfinite(score) && frames < ANALYSIS_MIN_FRAMES) {
        snprintf(few, sizeof few, "only %lld frame%s to measure it from (%d needed)",
                 (long long)frames, frames == 1 ? "" : "s", ANALYSIS_MIN_FRAMES);
        score = NAN;
        reason = few;
    }
    json_t *m = json_object();
    put(b, m, "score", isfinite(score) ? json_real(score) : json_null());
    put(b, m, "measured", json_boolean(isfinite(score)));
    if (!isfinite(score))
        put(b, m, "reason", json_string(reason));
    put(b, m, "num_frames", json_integer(num_frames));
    return m;
}

/* The per-frame series stay (they are what was seen), but a metric that was not
 * measured has no evidence markers: its worst frames would point a coach at
 * frames of something that did not happen. */
static void finish_cricksy(jb *b, json_t *all, const char *name, json_t *m, const pfs *p,
                           double bad_threshold)
{
    pfs none = {0};
    put_series(b, m, "per_frame_scores", p);
    put(b, m, "evidence",
        evidence(b, json_is_true(json_object_get(m, "measured")) ? p : &none, bad_threshold));
    put(b, all, name, m);
}

/* ---- the metrics -------------------------------------------------------------- */

static const char *NO_SCALE = "no frame shows both the shoulders and the hips (no body scale)";

static void head_stability(jb *b, json_t *all, const analysis_series *s, double scale, pfs *p)
{
    double sum = 0;
    int64_t nmov = 0;
    const analysis_frame *prev = NULL;
    for (size_t i = 0; isfinite(scale) && i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        if (!ok(f, ALM_NOSE))
            continue;
        double mov = 0;
        /* movement per sample: over a gap, divided by the samples it spans; across a
         * gap longer than HEAD_MAX_GAP_S not measured (Cricksy bridged any gap) */
        if (prev != NULL && f->t - prev->t <= HEAD_MAX_GAP_S) {
            int64_t gap = f->frame_num - prev->frame_num;
            mov = hypot(f->x[ALM_NOSE] - prev->x[ALM_NOSE], f->y[ALM_NOSE] - prev->y[ALM_NOSE]) /
                  scale / (double)(gap > 1 ? gap : 1);
            sum += mov;
            nmov++;
        }
        prev = f;
        pfs_add(p, f, clamp01(1.0 - mov / HEAD_MOVE_ZERO));
    }
    double avg = nmov ? sum / nmov : NAN;
    json_t *m = metric(b, nmov ? clamp01(1.0 - avg / HEAD_MOVE_ZERO) : NAN,
                       isfinite(scale) ? "fewer than two frames with a visible nose" : NO_SCALE,
                       nmov, nmov);
    put(b, m, "avg_movement", jnum(avg));
    put(b, m, "avg_movement_px", jnum(avg * scale));
    put(b, m, "units", json_string("torso lengths per sample"));
    finish_cricksy(b, all, "head_stability_score", m, p, 0.60);
}

static void balance_drift(jb *b, json_t *all, const analysis_series *s, double scale, pfs *p)
{
    double sum = 0;
    int64_t n = 0;
    for (size_t i = 0; isfinite(scale) && i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        if (!ok(f, ALM_L_HIP) || !ok(f, ALM_R_HIP) || !ok(f, ALM_L_ANKLE) || !ok(f, ALM_R_ANKLE))
            continue;
        double hx = (f->x[ALM_L_HIP] + f->x[ALM_R_HIP]) / 2;
        double ax = (f->x[ALM_L_ANKLE] + f->x[ALM_R_ANKLE]) / 2;
        double d = fabs(hx - ax) / scale;
        sum += d;
        n++;
        pfs_add(p, f, clamp01(1.0 - d / BALANCE_DRIFT_ZERO));
    }
    double avg = n ? sum / n : NAN;
    json_t *m = metric(
        b, n ? clamp01(1.0 - avg / BALANCE_DRIFT_ZERO) : NAN,
        isfinite(scale) ? "no frame with both hips and both ankles visible" : NO_SCALE, n, n);
    put(b, m, "avg_drift", jnum(avg));
    put(b, m, "avg_drift_px", jnum(avg * scale));
    put(b, m, "units", json_string("torso lengths"));
    finish_cricksy(b, all, "balance_drift_score", m, p, 0.55);
}

/* The knee angle of a frame: the front leg's when the facing direction is known and
 * that leg is visible, else the smaller of the visible knees (Cricksy).  *side: 'L',
 * 'R' or '?'.  NAN when no leg is visible. */
static double knee_of_frame(const analysis_frame *f, double scale, char *side)
{
    double a[2] = {NAN, NAN};
    const int hip[2] = {ALM_L_HIP, ALM_R_HIP}, knee[2] = {ALM_L_KNEE, ALM_R_KNEE},
              ank[2] = {ALM_L_ANKLE, ALM_R_ANKLE};
    for (int k = 0; k < 2; k++)
        if (ok(f, hip[k]) && ok(f, knee[k]) && ok(f, ank[k]))
            a[k] = angle2(f, hip[k], knee[k], ank[k]);
    int face = isfinite(scale) ? facing(f, scale) : 0;
    if (face != 0 && ok(f, ALM_L_ANKLE) && ok(f, ALM_R_ANKLE)) {
        int front = (f->x[ALM_L_ANKLE] - f->x[ALM_R_ANKLE]) * face > 0 ? 0 : 1;
        if (isfinite(a[front])) {
            *side = front == 0 ? 'L' : 'R';
            return a[front];
        }
    }
    *side = '?';
    if (isfinite(a[0]) && isfinite(a[1]))
        return fmin(a[0], a[1]);
    return isfinite(a[0]) ? a[0] : a[1];
}

static int front_knee(jb *b, json_t *all, const analysis_series *s, double scale, pfs *p)
{
    double *angles = cr_malloc((s->n ? s->n : 1) * sizeof *angles);
    if (angles == NULL)
        return -1;
    size_t n = 0;
    double mn = NAN, mx = NAN;
    for (size_t i = 0; i < s->n; i++) {
        char side;
        double a = knee_of_frame(&s->frames[i], scale, &side);
        if (!isfinite(a))
            continue;
        angles[n++] = a;
        mn = isfinite(mn) ? fmin(mn, a) : a;
        mx = isfinite(mx) ? fmax(mx, a) : a;
        pfs_add(p, &s->frames[i], clamp01((a - KNEE_ZERO_DEG) / KNEE_SPAN_DEG));
    }
    double p5 = NAN;
    if (n > 0) {
        qsort(angles, n, sizeof *angles, cmp_double);
        p5 = angles[(size_t)floor(KNEE_PERCENTILE * (double)(n - 1))];
    }
    cr_free(angles);
    json_t *m =
        metric(b, n ? clamp01((p5 - KNEE_ZERO_DEG) / KNEE_SPAN_DEG) : NAN,
               "no frame with hip, knee and ankle of a leg visible", (int64_t)n, (int64_t)n);
    put(b, m, "min_knee_angle", jnum(mn));
    put(b, m, "max_knee_angle", jnum(mx));
    put(b, m, "p5_knee_angle", jnum(p5));
    put(b, m, "units", json_string("degrees"));
    finish_cricksy(b, all, "front_knee_brace_score", m, p, 0.50);
    return 0;
}

static void separation_timing(jb *b, json_t *all, const analysis_series *s, pfs *p)
{
    /* Over detected frames in order (Cricksy): line angles, velocities between
     * consecutive detected frames where both have the line. */
    int have_hp = 0, have_sp = 0, prev_h = 0, prev_s = 0;
    double ph = 0, ps = 0, pt = 0, hv = -1, sv = -1, ht = NAN, st = NAN;
    int64_t detected = 0, nh = 0;
    for (size_t i = 0; i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        if (!f->detected)
            continue;
        detected++;
        int hh = ok(f, ALM_L_HIP) && ok(f, ALM_R_HIP);
        int sh = ok(f, ALM_L_SHOULDER) && ok(f, ALM_R_SHOULDER);
        double h = hh ? line_deg(f, ALM_L_HIP, ALM_R_HIP) : 0;
        double sa = sh ? line_deg(f, ALM_L_SHOULDER, ALM_R_SHOULDER) : 0;
        double dt = f->t - pt;
        nh += hh;
        if (hh && prev_h && detected > 1) {
            double v = dt > 0 ? fabs(wrap180(h - ph)) / dt : 0;
            if (v > hv) {
                hv = v;
                ht = f->t;
            }
            have_hp = 1;
        }
        if (sh && prev_s && detected > 1) {
            double v = dt > 0 ? fabs(wrap180(sa - ps)) / dt : 0;
            if (v > sv) {
                sv = v;
                st = f->t;
            }
            have_sp = 1;
        }
        if (hh && sh)
            pfs_add(p, f, clamp01(fabs(wrap180(sa - h)) / SEPARATION_SPAN_DEG));
        prev_h = hh;
        prev_s = sh;
        ph = h;
        ps = sa;
        pt = f->t;
    }
    int good = nh >= 3 && have_hp && have_sp; /* Cricksy: at least 3 hip angles */
    int turned = good && (hv >= ROTATION_MIN_DEG_S || sv >= ROTATION_MIN_DEG_S);
    /* Without a rotation the two peaks are noise and their "lag" means nothing
     * (a player standing still gave lags of seconds): not measured. */
    char still[160];
    snprintf(still, sizeof still,
             "no rotation seen: the hips and shoulders turned at most %.0f deg/s "
             "(a rotation reaches %.0f)",
             fmax(hv, sv), ROTATION_MIN_DEG_S);
    /* too few frames is the first reason (metric() says it), before "no rotation" */
    json_t *m = metric(b, turned || (good && detected < ANALYSIS_MIN_FRAMES) ? st - ht : NAN,
                       nh < 3  ? "fewer than 3 frames with both hips visible"
                       : !good ? "no consecutive frames with the hip and shoulder lines"
                               : still,
                       good ? detected : 0, good ? detected : 0);
    put(b, m, "hip_peak_time", jnum(good ? ht : NAN));
    put(b, m, "shoulder_peak_time", jnum(good ? st : NAN));
    put(b, m, "hip_peak_velocity_deg_s", jnum(good ? hv : NAN));
    put(b, m, "shoulder_peak_velocity_deg_s", jnum(good ? sv : NAN));
    put(b, m, "rotation_detected", good ? json_boolean(turned) : json_null());
    put(b, m, "units", json_string("seconds (shoulder peak - hip peak)"));
    finish_cricksy(b, all, "hip_shoulder_separation_timing", m, p, 0.35);
}

static void elbow_drop(jb *b, json_t *all, const analysis_series *s, double scale, pfs *p)
{
    double sum = 0;
    int64_t n = 0;
    int64_t nframes = 0;
    const int sh[2] = {ALM_L_SHOULDER, ALM_R_SHOULDER}, el[2] = {ALM_L_ELBOW, ALM_R_ELBOW};
    for (size_t i = 0; isfinite(scale) && i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        double fs = 0;
        int fn = 0;
        for (int k = 0; k < 2; k++) {
            if (!ok(f, sh[k]) || !ok(f, el[k]))
                continue;
            double d = (f->y[el[k]] - f->y[sh[k]]) / scale;
            sum += d;
            n++;
            fs += d;
            fn++;
        }
        if (fn) {
            pfs_add(p, f, clamp01((fs / fn - ELBOW_DROP_ZERO) / ELBOW_DROP_SPAN));
            nframes++;
        }
    }
    double avg = n ? sum / n : NAN;
    json_t *m = metric(
        b, n ? clamp01((avg - ELBOW_DROP_ZERO) / ELBOW_DROP_SPAN) : NAN,
        isfinite(scale) ? "no frame with a shoulder and its elbow visible" : NO_SCALE, n, nframes);
    put(b, m, "avg_elbow_drop", jnum(avg));
    put(b, m, "avg_elbow_drop_px", jnum(avg * scale));
    put(b, m, "units", json_string("torso lengths (elbow below shoulder)"));
    finish_cricksy(b, all, "elbow_drop_score", m, p, 0.55);
}

/* ---- extras ------------------------------------------------------------------- */

/* An extra's object: value and "measured": true, or null, false and the reason. */
static json_t *extra(jb *b, double value, const char *reason)
{
    json_t *m = json_object();
    put(b, m, "value", jnum(value));
    put(b, m, "measured", json_boolean(isfinite(value)));
    if (!isfinite(value))
        put(b, m, "reason", json_string(reason));
    return m;
}

/* Stride length (ankle separation) and the front knee at the frame of the longest
 * stride, taken as front-foot contact of the longest delivery/stride.  A stride is
 * seen when the ankle separation changes by STRIDE_MIN_CHANGE; otherwise the feet
 * stayed where they were and neither is measured. */
static void stride_and_ffc(jb *b, json_t *all, const analysis_series *s, double scale, pfs *p)
{
    double best = NAN, least = NAN;
    const analysis_frame *bf = NULL;
    for (size_t i = 0; isfinite(scale) && i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        if (!ok(f, ALM_L_ANKLE) || !ok(f, ALM_R_ANKLE))
            continue;
        double d =
            hypot(f->x[ALM_L_ANKLE] - f->x[ALM_R_ANKLE], f->y[ALM_L_ANKLE] - f->y[ALM_R_ANKLE]) /
            scale;
        pfs_add(p, f, d);
        if (!isfinite(best) || d > best) {
            best = d;
            bf = f;
        }
        least = isfinite(least) ? fmin(least, d) : d;
    }
    char still[160];
    snprintf(still, sizeof still,
             "no stride seen: the ankle separation changed by %.2f torso lengths (a stride "
             "changes it by %.1f)",
             best - least, STRIDE_MIN_CHANGE);
    int strode = isfinite(best) && best - least >= STRIDE_MIN_CHANGE;
    const char *why = !isfinite(scale)  ? NO_SCALE
                      : !isfinite(best) ? "no frame with both ankles visible"
                                        : still;
    if (!strode)
        bf = NULL;
    json_t *m = extra(b, strode ? best : NAN, why);
    put(b, m, "units", json_string("torso lengths"));
    put(b, m, "value_px", jnum(strode ? best * scale : NAN));
    put(b, m, "value_height_fraction", jnum(strode ? best * TORSO_PER_HEIGHT : NAN));
    put(b, m, "max_ankle_separation", jnum(best));
    put(b, m, "min_ankle_separation", jnum(least));
    put(b, m, "frame_num", bf ? json_integer(bf->frame_num) : json_null());
    put(b, m, "timestamp_s", bf ? json_real(bf->t) : json_null());
    put(b, m, "note",
        json_string("2D ankle separation in the image; height estimated as torso / "
                    "0.288 (Winter 2009); true only for a side-on camera"));
    put_series(b, m, "per_frame_values", p);
    put(b, all, "stride_length", m);

    char side = '?';
    double knee = bf ? knee_of_frame(bf, scale, &side) : NAN;
    json_t *k = extra(b, knee, bf ? "front knee not visible at front-foot contact" : why);
    put(b, k, "units", json_string("degrees (180 = straight)"));
    put(b, k, "frame_num", bf ? json_integer(bf->frame_num) : json_null());
    put(b, k, "timestamp_s", bf ? json_real(bf->t) : json_null());
    put(b, k, "side", json_string(side == 'L' ? "left" : side == 'R' ? "right" : "unknown"));
    put(b, k, "note",
        json_string("front-foot contact taken as the frame of the longest stride; "
                    "2D angle in the image plane"));
    put(b, all, "front_knee_angle_at_ffc", k);
}

static void trunk_lateral(jb *b, json_t *all, const analysis_series *s, pfs *p, const char *view)
{
    double mx = NAN, sum = 0;
    const analysis_frame *mf = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        double sx, sy, hx, hy;
        if (!mid(f, ALM_L_SHOULDER, ALM_R_SHOULDER, &sx, &sy) ||
            !mid(f, ALM_L_HIP, ALM_R_HIP, &hx, &hy) || (sx == hx && sy == hy))
            continue;
        /* signed angle of hip->shoulder from image-up, positive toward image right */
        double a = atan2(sx - hx, hy - sy) * 180.0 / PI;
        pfs_add(p, f, a);
        sum += fabs(a);
        if (!isfinite(mx) || fabs(a) > fabs(mx)) {
            mx = a;
            mf = f;
        }
    }
    char few[160];
    snprintf(few, sizeof few, "only %zu frame%s with shoulders and hips visible (%d needed)", p->n,
             p->n == 1 ? "" : "s", ANALYSIS_MIN_FRAMES);
    int enough = p->n >= ANALYSIS_MIN_FRAMES;
    json_t *m = extra(b, isfinite(mx) && enough ? fabs(mx) : NAN,
                      p->n == 0 ? "no frame with shoulders and hips visible" : few);
    put(b, m, "units", json_string("degrees from vertical (max |angle|)"));
    put(b, m, "signed_deg", jnum(mx));
    put(b, m, "mean_abs_deg", jnum(p->n ? sum / (double)p->n : NAN));
    put(b, m, "camera_view", json_string(view));
    /* lateral flexion is visible only when the camera looks at the chest or back */
    put(b, m, "view_ok", json_boolean(strcmp(view, "front_or_behind") == 0));
    put(b, m, "frame_num", mf ? json_integer(mf->frame_num) : json_null());
    put(b, m, "timestamp_s", mf ? json_real(mf->t) : json_null());
    put(b, m, "note",
        json_string("trunk (hip midpoint to shoulder midpoint) against the image "
                    "vertical: lateral flexion only with a front-on or behind "
                    "camera; side-on it is forward lean"));
    put_series(b, m, "per_frame_values", p);
    put(b, all, "trunk_lateral_flexion", m);
}

/* Elbow flexion (180 - interior angle) of side k at frame f, 3D world when `world`. */
static double flexion(const analysis_frame *f, int k, int world)
{
    const int sh = k ? ALM_R_SHOULDER : ALM_L_SHOULDER, el = k ? ALM_R_ELBOW : ALM_L_ELBOW,
              wr = k ? ALM_R_WRIST : ALM_L_WRIST;
    double a = world ? angle3(f->wx[sh], f->wy[sh], f->wz[sh], f->wx[el], f->wy[el], f->wz[el],
                              f->wx[wr], f->wy[wr], f->wz[wr])
                     : angle2(f, sh, el, wr);
    return 180.0 - a;
}

static int arm_ok(const analysis_frame *f, int k)
{
    return k ? ok(f, ALM_R_SHOULDER) && ok(f, ALM_R_ELBOW) && ok(f, ALM_R_WRIST)
             : ok(f, ALM_L_SHOULDER) && ok(f, ALM_L_ELBOW) && ok(f, ALM_L_WRIST);
}

/* One delivery's screening: release frame r of arm `side`. */
typedef struct delivery {
    long r, u;   /* release, upper arm horizontal (-1: not found) */
    int side;    /* 0 left, 1 right */
    int world;   /* angles from world landmarks */
    int samples; /* frames with the arm visible in [u, r] */
    double ext, fu, fmax, fr;
    const char *reason; /* NULL when ext is known */
} delivery;

static double wrist_height(const analysis_frame *f, int k)
{
    return f->y[k ? ALM_R_WRIST : ALM_L_WRIST] - f->y[k ? ALM_R_SHOULDER : ALM_L_SHOULDER];
}

/* Upper arm horizontal = the last frame before release with the elbow at or below
 * shoulder height; extension = max flexion in [UAH, release] - flexion at release. */
static void screen_delivery(const analysis_series *s, delivery *d)
{
    int side = d->side;
    const analysis_frame *rf = &s->frames[d->r];
    d->u = -1;
    d->ext = d->fu = d->fmax = d->fr = NAN;
    d->world = 0;
    d->samples = 0;
    for (long j = d->r; j >= 0 && rf->t - s->frames[j].t <= UAH_MAX_LOOKBACK_S; j--) {
        const analysis_frame *f = &s->frames[j];
        if (arm_ok(f, side) && f->y[side ? ALM_R_ELBOW : ALM_L_ELBOW] >=
                                   f->y[side ? ALM_R_SHOULDER : ALM_L_SHOULDER]) {
            d->u = j;
            break;
        }
    }
    if (d->u < 0) {
        d->reason = "the bowling arm is not seen at shoulder height before release";
        return;
    }
    d->world = 1;
    for (long j = d->u; j <= d->r; j++)
        if (arm_ok(&s->frames[j], side) && !s->frames[j].has_world)
            d->world = 0;
    for (long j = d->u; j <= d->r; j++) {
        if (!arm_ok(&s->frames[j], side))
            continue;
        double fl = flexion(&s->frames[j], side, d->world);
        if (isfinite(fl) && (!isfinite(d->fmax) || fl > d->fmax))
            d->fmax = fl;
        d->samples++;
    }
    d->fu = flexion(&s->frames[d->u], side, d->world);
    d->fr = flexion(&s->frames[d->r], side, d->world);
    d->ext = d->fmax - d->fr;
    d->reason = isfinite(d->ext) ? NULL : "degenerate arm (zero-length segment)";
}

/* Bowling elbow extension, screening only.  Releases: frames where a wrist is above
 * its shoulder and highest within +-RELEASE_WINDOW_S (one per delivery; of two arms
 * at once, the higher wrist); each is screened (screen_delivery); the value is the
 * largest extension. */
static int elbow_extension(jb *b, json_t *all, const analysis_series *s)
{
    delivery *dl = cr_malloc((s->n ? s->n : 1) * sizeof *dl);
    if (dl == NULL)
        return -1;
    size_t nd = 0;
    for (size_t i = 0; i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        int side = -1;
        double h = 0;
        for (int k = 0; k < 2; k++)
            if (arm_ok(f, k) && wrist_height(f, k) < h) {
                h = wrist_height(f, k);
                side = k;
            }
        if (side < 0)
            continue;
        /* highest within the window (earlier frames win ties), either arm */
        int peak = 1;
        for (int dir = -1; dir <= 1 && peak; dir += 2)
            for (long j = (long)i + dir; j >= 0 && j < (long)s->n && peak; j += dir) {
                const analysis_frame *g = &s->frames[j];
                if (fabs(g->t - f->t) > RELEASE_WINDOW_S)
                    break;
                for (int k = 0; k < 2; k++)
                    if (arm_ok(g, k) &&
                        (wrist_height(g, k) < h || (wrist_height(g, k) == h && j < (long)i)))
                        peak = 0;
            }
        if (!peak)
            continue;
        memset(&dl[nd], 0, sizeof dl[nd]);
        dl[nd].r = (long)i;
        dl[nd].side = side;
        screen_delivery(s, &dl[nd]);
        nd++;
    }
    /* the delivery reported in the top-level fields: the largest extension */
    const delivery *best = NULL;
    for (size_t i = 0; i < nd; i++)
        if (dl[i].reason == NULL && (best == NULL || dl[i].ext > best->ext))
            best = &dl[i];
    if (best == NULL && nd > 0)
        best = &dl[0];
    const char *reason =
        nd == 0 ? "no frame with a visible arm and the wrist above the shoulder (no delivery seen)"
                : best->reason;
    double ext = best && best->reason == NULL ? best->ext : NAN;
    json_t *m = extra(b, ext, reason);
    put(b, m, "units", json_string("degrees of elbow extension, UAH to release"));
    put(b, m, "screening_only", json_true());
    put(b, m, "icc_limit_deg", json_real(ICC_ELBOW_LIMIT_DEG));
    put(b, m, "exceeds_limit",
        isfinite(ext) ? json_boolean(ext > ICC_ELBOW_LIMIT_DEG) : json_null());
    put(b, m, "flexion_at_uah_deg", jnum(best ? best->fu : NAN));
    put(b, m, "max_flexion_deg", jnum(best ? best->fmax : NAN));
    put(b, m, "flexion_at_release_deg", jnum(best ? best->fr : NAN));
    put(b, m, "uah_frame_num",
        best && best->u >= 0 ? json_integer(s->frames[best->u].frame_num) : json_null());
    put(b, m, "release_frame_num", best ? json_integer(s->frames[best->r].frame_num) : json_null());
    put(b, m, "uah_timestamp_s",
        best && best->u >= 0 ? json_real(s->frames[best->u].t) : json_null());
    put(b, m, "release_timestamp_s", best ? json_real(s->frames[best->r].t) : json_null());
    put(b, m, "side", json_string(!best ? "unknown" : best->side ? "right" : "left"));
    put(b, m, "space",
        json_string(!best || best->reason ? "none"
                    : best->world         ? "world_3d"
                                          : "image_2d"));
    put(b, m, "samples", json_integer(best ? best->samples : 0));
    json_t *list = json_array();
    for (size_t i = 0; i < nd && i < MAX_DELIVERIES; i++) {
        const delivery *d = &dl[i];
        json_t *o = json_object();
        put(b, o, "release_frame_num", json_integer(s->frames[d->r].frame_num));
        put(b, o, "release_timestamp_s", json_real(s->frames[d->r].t));
        put(b, o, "uah_frame_num",
            d->u >= 0 ? json_integer(s->frames[d->u].frame_num) : json_null());
        put(b, o, "side", json_string(d->side ? "right" : "left"));
        put(b, o, "extension_deg", jnum(d->reason ? NAN : d->ext));
        put(b, o, "space", json_string(d->reason ? "none" : d->world ? "world_3d" : "image_2d"));
        put(b, o, "samples", json_integer(d->samples));
        if (d->reason)
            put(b, o, "reason", json_string(d->reason));
        append(b, list, o);
    }
    put(b, m, "deliveries", list);
    put(b, m, "deliveries_seen", json_integer((json_int_t)nd));
    put(b, m, "note",
        json_string("SCREENING ONLY: video pose estimation at the sampled frame rate cannot "
                    "adjudicate a bowling action; the ICC 15-degree rule is tested only in an "
                    "accredited laboratory with 3D motion capture"));
    put(b, all, "bowling_elbow_extension", m);
    cr_free(dl);
    return 0;
}

/* ---- entry points ------------------------------------------------------------- */

cr_status analysis_metrics(const analysis_series *s, json_t **out, cr_err *err)
{
    *out = NULL;
    jb b = {0};
    pfs p[8];
    int np = 0;
    for (np = 0; np < 8; np++)
        if (!pfs_init(&p[np], s->n)) {
            np++;
            b.bad = 1;
            break;
        }
    double *tl = cr_malloc((s->n ? s->n : 1) * sizeof *tl);
    json_t *all = json_object();
    if (b.bad || tl == NULL || all == NULL) {
        b.bad = 1;
        goto done;
    }
    /* body scale: median torso length */
    size_t nt = 0;
    int64_t detected = 0;
    for (size_t i = 0; i < s->n; i++) {
        detected += s->frames[i].detected != 0;
        double d = torso_px(&s->frames[i]);
        if (isfinite(d))
            tl[nt++] = d;
    }
    double scale = NAN;
    if (nt > 0) {
        qsort(tl, nt, sizeof *tl, cmp_double);
        scale = nt % 2 ? tl[nt / 2] : (tl[nt / 2 - 1] + tl[nt / 2]) / 2;
    }
    /* camera view: median shoulder width over the body scale */
    size_t nw = 0;
    for (size_t i = 0; isfinite(scale) && i < s->n; i++) {
        const analysis_frame *f = &s->frames[i];
        if (ok(f, ALM_L_SHOULDER) && ok(f, ALM_R_SHOULDER))
            tl[nw++] = hypot(f->x[ALM_L_SHOULDER] - f->x[ALM_R_SHOULDER],
                             f->y[ALM_L_SHOULDER] - f->y[ALM_R_SHOULDER]) /
                       scale;
    }
    double width_ratio = NAN;
    if (nw > 0) {
        qsort(tl, nw, sizeof *tl, cmp_double);
        width_ratio = tl[nw / 2];
    }
    const char *view = !isfinite(width_ratio)          ? "unknown"
                       : width_ratio >= VIEW_FRONT_MIN ? "front_or_behind"
                       : width_ratio <= VIEW_SIDE_MAX  ? "side"
                                                       : "oblique";
    json_t *meta = json_object();
    put(&b, meta, "camera_view", json_string(view));
    put(&b, meta, "shoulder_width_ratio", jnum(width_ratio));
    put(&b, meta, "total_frames", json_integer((json_int_t)s->n));
    put(&b, meta, "frames_analyzed", json_integer(detected));
    put(&b, meta, "frame_width", json_integer(s->width));
    put(&b, meta, "frame_height", json_integer(s->height));
    put(&b, meta, "space", json_string("pixels"));
    put(&b, meta, "body_scale_px", jnum(scale));
    put(&b, meta, "body_scale", json_string("median torso length (shoulder to hip midpoint)"));
    put(&b, meta, "min_visibility", json_real(ANALYSIS_MIN_VISIBILITY));
    put(&b, all, "meta", meta);

    head_stability(&b, all, s, scale, &p[0]);
    balance_drift(&b, all, s, scale, &p[1]);
    if (front_knee(&b, all, s, scale, &p[2]) != 0)
        b.bad = 1;
    separation_timing(&b, all, s, &p[3]);
    elbow_drop(&b, all, s, scale, &p[4]);
    stride_and_ffc(&b, all, s, scale, &p[5]);
    trunk_lateral(&b, all, s, &p[6], view);
    if (elbow_extension(&b, all, s) != 0)
        b.bad = 1;

done:
    for (int i = 0; i < np; i++)
        pfs_free(&p[i]);
    cr_free(tl);
    if (b.bad) {
        json_decref(all);
        return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory computing metrics");
    }
    *out = all;
    return CR_OK;
}

json_t *analysis_metrics_compact(const json_t *metrics)
{
    json_t *c = json_deep_copy(metrics);
    const char *k;
    json_t *m;
    json_object_foreach(c, k, m)
    {
        const char *drop[] = {"per_frame_scores", "per_frame_values", "per_frame_frame_nums",
                              "per_frame_timestamps_s"};
        for (size_t i = 0; json_is_object(m) && i < sizeof drop / sizeof *drop; i++)
            json_object_del(m, drop[i]);
    }
    return c;
}
