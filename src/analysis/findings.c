/*
 * findings.c -- coaching findings per analysis mode from a metrics object (see
 * analysis.h).
 *
 * Codes, per-mode thresholds, severity bands, the overall level, per-finding
 * confidence and the visibility finding follow Cricksy (Cricksy_Scorer
 * backend/services/coach_findings.py: THRESHOLDS_BY_MODE, _get_severity,
 * _get_overall_level, _calculate_finding_confidence, INSUFFICIENT_POSE_VISIBILITY);
 * each threshold below carries its source.  Differences, on purpose:
 *   - ROTATION_TIMING uses the per-mode tolerance Cricksy defines but never applied
 *     (Cricksy flagged any lag 0.01 s off target): a finding only outside
 *     target +- tolerance, severity by the excess;
 *   - a detection rate under 60 % (ANALYSIS_LOW_DETECTION) always gives the
 *     reliability warning and the visibility finding (ours; DESIGN.md §8);
 *   - bowling adds crease's screening findings (elbow extension, front knee at
 *     front-foot contact, trunk lateral flexion);
 *   - a metric that was not measured (analysis.h) gives no finding and no part of
 *     the overall level, which is rated from the findings about technique only
 *     (not the visibility finding) and is "low" when nothing was measured
 *     (Cricksy: "high" whenever there was no finding, so a video of nothing rated
 *     best); the visibility finding counts metrics with fewer than
 *     ANALYSIS_MIN_FRAMES frames (Cricksy: none).
 * Texts (titles, reasons, cues, drills) are ours.
 */
#include "analysis/analysis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { M_N = ANALYSIS_MODE_COUNT };
/* The names of analysis_mode (analysis.h), in its order. */
static const char *const mode_names[M_N] = {"batting", "bowling", "wicketkeeping", "fielding"};

/* Cricksy THRESHOLDS_BY_MODE (coach_findings.py), per mode in mode_names order. */
static const double thr_head[M_N] = {0.60, 0.65, 0.58, 0.55};
static const double thr_balance[M_N] = {0.55, 0.60, 0.52, 0.50};
static const double thr_knee[M_N] = {0.50, 0.55, 0.45, 0.48};
static const double thr_elbow[M_N] = {0.55, 0.60, 0.50, 0.52};
static const double sep_target[M_N] = {0.12, 0.15, 0.10, 0.11};
static const double sep_tol[M_N] = {0.10, 0.12, 0.08, 0.09};
#define CRICKSY_SRC "Cricksy coach_findings.py THRESHOLDS_BY_MODE"

/* Bowling extras (ours unless cited). */
#define ICC_ELBOW_LIMIT 15.0 /* ICC regulations on suspected illegal actions (2009-): 15 deg */
/* Front knee at front-foot contact: under 150 deg (30 deg of flexion) counts as a
 * flexing front leg.  Ours, after Portus et al. 2004 (J Sports Sci 22:1127), whose
 * action groups separate braced from flexor front-knee techniques. */
#define FFC_KNEE_MIN 150.0
/* Trunk lateral flexion over 40 deg from vertical.  Ours, after Portus et al. 2004,
 * who relate large contralateral trunk side flexion to lumbar stress injury. */
#define TRUNK_LATERAL_MAX 40.0

typedef struct text {
    const char *code, *metric;
    const char *title[M_N];
    const char *why[M_N];
    const char *cues[3]; /* low, medium, high */
    const char *drills[M_N][3];
} text;

static const text T_HEAD = {
    "HEAD_MOVEMENT",
    "head_stability_score",
    {"Head movement during the stroke", "Head movement during the delivery",
     "Head movement while keeping", "Head movement while fielding"},
    {"A still head lets the batter track the ball and control the bat face.",
     "A still head keeps the eyes on the target through the crease, for line and length.",
     "A still head is what lets the keeper follow the ball into the gloves.",
     "A still head steadies the eyes for catches and clean pick-ups."},
    {"Keep the eyes level and the head over the front foot.",
     "The head moves enough to upset timing: slow the movement down in drills.",
     "The head moves a lot: rebuild the set-up position before adding pace."},
    {{"Throw-downs with the head over a marker on the ground",
      "Shadow batting in front of a mirror, holding the finish",
      "Front-foot drives off a tee with eyes on the contact point"},
     {"Bowl at a single stump focusing on a fixed gaze",
      "Walk-through deliveries watching the head in a mirror",
      "Standing deliveries with the eyes level at release"},
     {"Catch from a bowling machine holding the head still", "Reaction-ball takes in a low crouch",
      "Side-step and take with the eyes level"},
     {"Short catches with the head held still through the take",
      "Pick-up and throw with the eyes on the ball into the hands",
      "High catches calling early and settling the head"}},
};

static const text T_BALANCE = {
    "BALANCE_DRIFT",
    "balance_drift_score",
    {"Balance drift in the stance and stroke", "Balance drift in the action",
     "Balance drift in the crouch", "Balance drift while moving"},
    {"Hips over the feet give a stable base for power and control.",
     "Hips that drift outside the base of support move the release point around.",
     "A centred crouch lets the keeper move either way quickly.",
     "A centred base lets the fielder change direction and throw accurately."},
    {"Finish each shot balanced, holding the position for two seconds.",
     "The hips drift outside the feet: shorten the movement to regain control.",
     "Balance is lost often: work on the base before adding speed."},
    {{"Hold-the-finish drill after every drive", "Single-leg balance holds between sets",
      "Footwork ladder then shadow shots"},
     {"Gather-and-hold drill at the crease", "Single-leg landings on the front leg",
      "Run-up rhythm drill with a balanced gather"},
     {"Lateral shuffles staying low", "Split-step and hold", "Crouch holds on an unstable surface"},
     {"Attack the ball and stop balanced before throwing",
      "Lateral cone drill with controlled stops", "Single-leg pick-up and throw"}},
};

static const text T_KNEE = {
    "KNEE_COLLAPSE",
    "front_knee_brace_score",
    {"Front knee collapse during the stroke", "Front knee collapse at delivery",
     "Knee stability in the crouch", "Knee stability while fielding"},
    {"A firm front leg transfers weight into the shot.",
     "A braced front leg at front-foot contact turns run-up speed into ball speed and spares "
     "the lower back.",
     "Stable knees in the crouch allow a fast push-off to either side.",
     "A stable knee gives a firm base for pick-ups and throws."},
    {"Land on a firm front leg and stay tall through the shot.",
     "The front knee bends noticeably: strengthen and practise landing firm.",
     "The front knee collapses a lot: reduce load and see a coach or physiotherapist."},
    {{"Front-foot drives holding a firm front leg", "Split squats and lunges",
      "Step-and-hold onto a line"},
     {"Front-foot landing drill onto a mat", "Eccentric quadriceps work (slow lunges)",
      "Drop landings holding a braced knee"},
     {"Crouch endurance holds", "Lateral lunges", "Knee tracking in dive practice"},
     {"Low pick-up drill with the knee over the foot", "Lateral lunges",
      "Single-leg strength work"}},
};

static const text T_ROT = {
    "ROTATION_TIMING",
    "hip_shoulder_separation_timing",
    {"Hip-shoulder sequencing in the stroke", "Hip-shoulder sequencing in the action",
     "Hip-shoulder sequencing in throws", "Hip-shoulder sequencing in throws"},
    {"Hips leading the shoulders pass power up the body into the bat.",
     "Hips leading the shoulders create the whip of the bowling arm.",
     "Hips leading the shoulders power the throw to the stumps.",
     "Hips leading the shoulders give a longer, easier throw."},
    {"Start the rotation from the hips.",
     "Hips and shoulders turn almost together: practise separating them.",
     "The sequence is far off: drill it slowly before adding pace."},
    {{"Medicine-ball rotational throws", "Shadow shots starting with the hips",
      "Hip mobility routine"},
     {"Medicine-ball throws in the delivery position", "Counter-rotation drill with a pole",
      "Thoracic mobility routine"},
     {"Throws from the crouch leading with the hips", "Rotational band work",
      "Footwork into the throw"},
     {"Crow-hop throws leading with the hips", "Medicine-ball side throws",
      "Hip mobility routine"}},
};

static const text T_ELBOW = {
    "ELBOW_DROP",
    "elbow_drop_score",
    {"Elbow position in the stroke", "Elbow position in the action",
     "Elbow and hand position while keeping", "Elbow position while fielding"},
    {"Elbows held high and tense restrict the swing.",
     "Arm position through the action affects the release and shoulder load.",
     "Relaxed elbows give soft hands for clean takes.",
     "Relaxed elbows make catching and pick-ups cleaner."},
    {"Relax the shoulders and let the elbows settle.",
     "The elbows stay high: work on a relaxed set-up.",
     "The elbows are very high: rebuild the set-up position."},
    {{"Mirror set-up drill for arm position", "Relaxed grip and shoulder drill",
      "Shadow batting with a relaxed top hand"},
     {"Bowling-arm path drill with a band", "Wall drill for the arm path",
      "Video review of the release position"},
     {"Soft-hands catching drill", "Glove position drill", "High-repetition takes"},
     {"Soft-hands catching drill", "Relaxed ready-position drill", "High-repetition catches"}},
};

int analysis_mode_count(void)
{
    return M_N;
}

const char *analysis_mode_name(int i)
{
    return i >= 0 && i < M_N ? mode_names[i] : NULL;
}

int analysis_mode_find(const char *name)
{
    for (int i = 0; name != NULL && i < M_N; i++)
        if (strcmp(name, mode_names[i]) == 0)
            return i;
    return -1;
}

/* The mode of a job: NULL or "" is batting (Cricksy's default). */
static int mode_index(const char *mode)
{
    if (mode == NULL || *mode == '\0')
        return ANALYSIS_BATTING;
    return analysis_mode_find(mode);
}

int analysis_mode_valid(const char *mode)
{
    return mode_index(mode) >= 0;
}

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

static json_t *strings(jb *b, const char *const *s, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (s[i] && json_array_append_new(a, json_string(s[i])))
            b->bad = 1;
    if (a == NULL)
        b->bad = 1;
    return a;
}

/* Cricksy _get_severity: gap below the threshold < 0.05 low, < 0.15 medium, else high. */
static const char *severity_of(double gap)
{
    return gap < 0.05 ? "low" : gap < 0.15 ? "medium" : "high";
}

static int sev_rank(const char *s)
{
    return strcmp(s, "high") == 0 ? 3 : strcmp(s, "medium") == 0 ? 2 : 1;
}

static double num_or_nan(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The number `field` of metric `m` when it was measured (analysis.h: a number, and
 * "measured" not false; hand-made objects without "measured" count as measured),
 * else NAN. */
static double measured_num(const json_t *m, const char *field)
{
    if (!json_is_object(m) || json_is_false(json_object_get(m, "measured")))
        return NAN;
    return num_or_nan(json_object_get(m, field));
}

static json_t *copy_or_null(const json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

/* Cricksy _attach_evidence_markers: top 3 worst frames and bad segments, times as MM:SS. */
static json_t *video_evidence(jb *b, const json_t *metric)
{
    const json_t *ev = json_object_get(metric, "evidence");
    json_t *o = json_object(), *wf = json_array(), *bs = json_array();
    char ts[32];
    for (size_t i = 0; i < 3 && i < json_array_size(json_object_get(ev, "worst_frames")); i++) {
        const json_t *w = json_array_get(json_object_get(ev, "worst_frames"), i);
        double t = num_or_nan(json_object_get(w, "timestamp_s"));
        if (!isfinite(t))
            continue;
        snprintf(ts, sizeof ts, "%02d:%02d", (int)(t / 60), (int)fmod(t, 60));
        json_t *r = json_object();
        put(b, r, "frame", copy_or_null(json_object_get(w, "frame_num")));
        put(b, r, "timestamp", json_string(ts));
        put(b, r, "timestamp_s", json_real(t));
        put(b, r, "score", copy_or_null(json_object_get(w, "score")));
        append(b, wf, r);
    }
    for (size_t i = 0; i < 3 && i < json_array_size(json_object_get(ev, "bad_segments")); i++) {
        const json_t *g = json_array_get(json_object_get(ev, "bad_segments"), i);
        double t0 = num_or_nan(json_object_get(g, "start_timestamp_s"));
        double t1 = num_or_nan(json_object_get(g, "end_timestamp_s"));
        if (!isfinite(t0) || !isfinite(t1))
            continue;
        json_t *r = json_object();
        snprintf(ts, sizeof ts, "%02d:%02d", (int)(t0 / 60), (int)fmod(t0, 60));
        put(b, r, "start", json_string(ts));
        snprintf(ts, sizeof ts, "%02d:%02d", (int)(t1 / 60), (int)fmod(t1, 60));
        put(b, r, "end", json_string(ts));
        put(b, r, "start_timestamp_s", json_real(t0));
        put(b, r, "end_timestamp_s", json_real(t1));
        put(b, r, "min_score", copy_or_null(json_object_get(g, "min_score")));
        append(b, bs, r);
    }
    put(b, o, "worst_frames", wf);
    put(b, o, "bad_segments", bs);
    return o;
}

/* Cricksy _calculate_finding_confidence: by margin from the threshold, +0.05 with
 * video evidence. */
static double confidence(double margin, const json_t *vev)
{
    double c = margin >= 0.20 ? 0.95 : margin >= 0.10 ? 0.85 : margin >= 0.05 ? 0.75 : 0.60;
    if (json_array_size(json_object_get(vev, "worst_frames")) ||
        json_array_size(json_object_get(vev, "bad_segments")))
        c = fmin(1.0, c + 0.05);
    return c;
}

static json_t *finding(jb *b, const text *t, int mode, const char *severity, json_t *evidence,
                       const char *source, const json_t *metric, double margin)
{
    json_t *f = json_object();
    put(b, f, "code", json_string(t->code));
    put(b, f, "title", json_string(t->title[mode]));
    put(b, f, "severity", json_string(severity));
    put(b, f, "metric", json_string(t->metric));
    put(b, f, "evidence", evidence);
    put(b, f, "threshold_source", json_string(source));
    json_t *vev = video_evidence(b, metric);
    put(b, f, "confidence", json_real(confidence(margin, vev)));
    put(b, f, "video_evidence", vev);
    put(b, f, "why_it_matters", json_string(t->why[mode]));
    put(b, f, "cues", strings(b, &t->cues[sev_rank(severity) - 1], 1));
    put(b, f, "suggested_drills", strings(b, t->drills[mode], 3));
    return f;
}

/* A score metric below its per-mode threshold. */
static void check_score(jb *b, json_t *list, const json_t *metrics, const text *t, int mode,
                        const double *thr)
{
    const json_t *m = json_object_get(metrics, t->metric);
    double s = measured_num(m, "score");
    if (!isfinite(s) || s >= thr[mode])
        return;
    json_t *ev = json_object();
    put(b, ev, t->metric, json_real(s));
    put(b, ev, "threshold", json_real(thr[mode]));
    char src[128];
    snprintf(src, sizeof src, CRICKSY_SRC "[%s][%s]", mode_names[mode], t->metric);
    append(b, list, finding(b, t, mode, severity_of(thr[mode] - s), ev, src, m, thr[mode] - s));
}

static void check_rotation(jb *b, json_t *list, const json_t *metrics, int mode)
{
    const json_t *m = json_object_get(metrics, T_ROT.metric);
    double lag = json_is_object(m) ? measured_num(m, "score") : num_or_nan(m);
    /* ours: no finding when no rotation was seen (the lag of two noise peaks) */
    if (!isfinite(lag) || json_is_false(json_object_get(m, "rotation_detected")))
        return;
    double excess = fabs(lag - sep_target[mode]) - sep_tol[mode];
    if (excess <= 0)
        return;
    json_t *ev = json_object();
    put(b, ev, "hip_shoulder_separation_lag_seconds", json_real(lag));
    put(b, ev, "target_lag_seconds", json_real(sep_target[mode]));
    put(b, ev, "tolerance_seconds", json_real(sep_tol[mode]));
    char src[128];
    snprintf(src, sizeof src, CRICKSY_SRC "[%s] target and tolerance", mode_names[mode]);
    append(b, list, finding(b, &T_ROT, mode, severity_of(excess), ev, src, m, excess));
}

static json_t *simple_finding(jb *b, const char *code, const char *title, const char *severity,
                              json_t *evidence, const char *source, const char *why,
                              const char *const *cues, int ncues, const char *const *drills,
                              int ndrills)
{
    json_t *f = json_object();
    put(b, f, "code", json_string(code));
    put(b, f, "title", json_string(title));
    put(b, f, "severity", json_string(severity));
    put(b, f, "evidence", evidence);
    put(b, f, "threshold_source", json_string(source));
    put(b, f, "why_it_matters", json_string(why));
    put(b, f, "cues", strings(b, cues, ncues));
    put(b, f, "suggested_drills", strings(b, drills, ndrills));
    put(b, f, "confidence", json_real(0.5));
    return f;
}

/* f with "metric": the metric it judges (as the score findings have); f consumed. */
static json_t *with_metric(jb *b, json_t *f, const char *metric)
{
    if (f != NULL)
        put(b, f, "metric", json_string(metric));
    return f;
}

static void check_bowling_extras(jb *b, json_t *list, const json_t *metrics)
{
    const json_t *e = json_object_get(metrics, "bowling_elbow_extension");
    double ext = measured_num(e, "value");
    if (isfinite(ext) && ext > ICC_ELBOW_LIMIT) {
        json_t *ev = json_object();
        put(b, ev, "elbow_extension_deg", json_real(ext));
        put(b, ev, "limit_deg", json_real(ICC_ELBOW_LIMIT));
        put(b, ev, "space", copy_or_null(json_object_get(e, "space")));
        put(b, ev, "release_frame_num", copy_or_null(json_object_get(e, "release_frame_num")));
        put(b, ev, "screening_only", json_true());
        static const char *const cues[] = {
            "Screening only: 2D video cannot adjudicate a bowling action.",
            "If it recurs across sessions, ask for an assessment by an accredited testing centre."};
        static const char *const drills[] = {"Film from side-on and behind at a high frame rate",
                                             "Review the arm path with a qualified coach"};
        append(b, list,
               with_metric(
                   b,
                   simple_finding(
                       b, "ELBOW_EXTENSION_SCREEN",
                       "Possible elbow extension over 15 degrees (screening only)", "medium", ev,
                       "ICC regulations on suspected illegal bowling actions: 15 degrees",
                       "Laws of cricket allow at most 15 degrees of elbow extension from upper "
                       "arm horizontal to release; this estimate comes from video and is only a "
                       "prompt for proper testing.",
                       cues, 2, drills, 2),
                   "bowling_elbow_extension"));
    }
    const json_t *k = json_object_get(metrics, "front_knee_angle_at_ffc");
    double knee = measured_num(k, "value");
    if (isfinite(knee) && knee < FFC_KNEE_MIN) {
        json_t *ev = json_object();
        put(b, ev, "front_knee_angle_deg", json_real(knee));
        put(b, ev, "threshold_deg", json_real(FFC_KNEE_MIN));
        put(b, ev, "frame_num", copy_or_null(json_object_get(k, "frame_num")));
        static const char *const cues[] = {"Land on a firm front leg and keep it braced."};
        static const char *const drills[] = {"Front-foot landing drill onto a mat",
                                             "Drop landings holding a braced knee",
                                             "Eccentric quadriceps strength work"};
        append(b, list,
               with_metric(
                   b,
                   simple_finding(
                       b, "FRONT_KNEE_FLEXED_AT_FFC", "Front knee flexed at front-foot contact",
                       knee < FFC_KNEE_MIN - 20 ? "medium" : "low", ev,
                       "ours (after Portus et al. 2004): 150 degrees",
                       "A front leg that flexes at front-foot contact absorbs the energy the "
                       "run-up built.",
                       cues, 1, drills, 3),
                   "front_knee_angle_at_ffc"));
    }
    const json_t *tl = json_object_get(metrics, "trunk_lateral_flexion");
    double lat = measured_num(tl, "value");
    /* side-on, the same angle is forward lean: only with a front/behind view */
    if (isfinite(lat) && lat > TRUNK_LATERAL_MAX &&
        !json_is_false(json_object_get(tl, "view_ok"))) {
        json_t *ev = json_object();
        put(b, ev, "trunk_lateral_flexion_deg", json_real(lat));
        put(b, ev, "threshold_deg", json_real(TRUNK_LATERAL_MAX));
        put(b, ev, "frame_num", copy_or_null(json_object_get(tl, "frame_num")));
        static const char *const cues[] = {
            "Stay taller through release; check with a front-on camera."};
        static const char *const drills[] = {"Core anti-lateral-flexion work (side planks)",
                                             "Walk-through deliveries staying tall"};
        append(b, list,
               with_metric(
                   b,
                   simple_finding(
                       b, "TRUNK_LATERAL_FLEXION", "Large trunk side bend", "medium", ev,
                       "ours (after Portus et al. 2004): 40 degrees",
                       "Large side bending of the trunk in the delivery is linked to lower back "
                       "stress injuries in fast bowlers.",
                       cues, 1, drills, 2),
                   "trunk_lateral_flexion"));
    }
}

#define T_VISIBILITY "INSUFFICIENT_POSE_VISIBILITY"

/* The metrics the findings of `mode` judge, in the order of the findings. */
static const struct {
    const char *key, *field;
    int bowling_only;
} judged[] = {
    {"head_stability_score", "score", 0},    {"balance_drift_score", "score", 0},
    {"front_knee_brace_score", "score", 0},  {"hip_shoulder_separation_timing", "score", 0},
    {"elbow_drop_score", "score", 0},        {"bowling_elbow_extension", "value", 1},
    {"front_knee_angle_at_ffc", "value", 1}, {"trunk_lateral_flexion", "value", 1},
};

/* Sorts the metrics the mode judges (those present in `metrics`) into measured
 * (names appended to `done`) and not ({"metric", "reason"} appended to `undone`);
 * returns the number measured.  Trunk lateral flexion seen by a side-on camera is
 * forward lean, which the findings do not judge: not measured. */
static int judged_metrics(jb *b, const json_t *metrics, int mode, json_t *done, json_t *undone)
{
    int n = 0;
    for (size_t i = 0; i < sizeof judged / sizeof *judged; i++) {
        const json_t *m = json_object_get(metrics, judged[i].key);
        if (m == NULL || (judged[i].bowling_only && mode != ANALYSIS_BOWLING))
            continue;
        const char *reason = NULL;
        if (json_is_object(m) && !isfinite(measured_num(m, judged[i].field)))
            reason = json_string_value(json_object_get(m, "reason"));
        else if (json_is_object(m) && json_is_false(json_object_get(m, "view_ok")))
            reason = "the camera is not front-on or behind: a side bend of the trunk cannot be "
                     "told from a forward lean";
        else if (!json_is_object(m) && !json_is_number(m))
            reason = "no value";
        if (reason == NULL &&
            isfinite(json_is_object(m) ? measured_num(m, judged[i].field) : num_or_nan(m))) {
            append(b, done, json_string(judged[i].key));
            n++;
            continue;
        }
        json_t *o = json_object();
        put(b, o, "metric", json_string(judged[i].key));
        put(b, o, "reason", json_string(reason ? reason : "not measured"));
        append(b, undone, o);
    }
    return n;
}

cr_status analysis_findings(const json_t *metrics, const char *mode_name, int64_t frames,
                            int64_t frames_detected, json_t **out, cr_err *err)
{
    *out = NULL;
    int mode = mode_index(mode_name);
    if (mode < 0)
        return cr_err_set(err, CR_ERR_INVALID, "analysis: unknown analysis mode '%s'", mode_name);
    jb b = {0};
    json_t *res = json_object(), *list = json_array();
    check_score(&b, list, metrics, &T_HEAD, mode, thr_head);
    check_score(&b, list, metrics, &T_BALANCE, mode, thr_balance);
    check_score(&b, list, metrics, &T_KNEE, mode, thr_knee);
    check_rotation(&b, list, metrics, mode);
    check_score(&b, list, metrics, &T_ELBOW, mode, thr_elbow);
    if (mode == ANALYSIS_BOWLING)
        check_bowling_extras(&b, list, metrics);

    double rate = frames > 0 ? (double)frames_detected / (double)frames : 0.0;
    int low = rate < ANALYSIS_LOW_DETECTION;
    /* Cricksy: more than 2 metrics without frames -> visibility finding; ours: a
     * metric with fewer than ANALYSIS_MIN_FRAMES frames is as good as without. */
    const char *names[] = {"head_stability_score", "balance_drift_score", "front_knee_brace_score",
                           "hip_shoulder_separation_timing", "elbow_drop_score"};
    int zero = 0;
    for (int i = 0; i < 5; i++) {
        const json_t *m = json_object_get(metrics, names[i]);
        const json_t *nf = json_object_get(m, "num_frames");
        if (json_is_object(m) && json_is_integer(nf) &&
            json_integer_value(nf) < ANALYSIS_MIN_FRAMES)
            zero++;
    }
    json_t *done = json_array(), *undone = json_array();
    int nmeasured = judged_metrics(&b, metrics, mode, done, undone);
    char warn[256] = "";
    if (low)
        snprintf(warn, sizeof warn,
                 "A person was detected in only %.0f %% of the frames (%lld of %lld): the "
                 "metrics and findings are unreliable.",
                 100 * rate, (long long)frames_detected, (long long)frames);
    if (low || zero > 2) {
        json_t *ev = json_object();
        put(&b, ev, "zero_frame_metrics", json_integer(zero));
        put(&b, ev, "detection_rate", json_real(100 * rate));
        put(&b, ev, "threshold_percent", json_real(100 * ANALYSIS_LOW_DETECTION));
        static const char *const cues[] = {"Film the whole body, in good light, from side-on.",
                                           "Keep one player in view and the camera still."};
        static const char *const drills[] = {"Re-record the session with the full body in frame",
                                             "Try a tripod at hip height, 5-10 m away"};
        append(
            &b, list,
            simple_finding(&b, T_VISIBILITY, "Insufficient pose visibility",
                           rate >= 0.5 ? "low" : "medium", ev,
                           "Cricksy coach_findings.py (over 2 metrics without frames; severity by "
                           "50 % detection) and ours (detection under 60 %)",
                           "Too few frames show the player clearly for reliable measurements.",
                           cues, 2, drills, 2));
    }

    /* sort high -> low severity, stable */
    size_t n = json_array_size(list);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(list, j - 1), *c = json_array_get(list, j);
            if (sev_rank(json_string_value(json_object_get(c, "severity"))) <=
                sev_rank(json_string_value(json_object_get(a, "severity"))))
                break;
            json_incref(a);
            json_array_set(list, j - 1, c);
            json_array_set_new(list, j, a);
        }
    /* Cricksy _get_overall_level over the findings about technique (ours: the
     * visibility finding is about the video, not the player, and is left out).
     * When no metric was measured there is nothing to rate.  The field must still
     * be low|medium|high (Cricksy's readers know only these), and "high" would tell
     * the coach all is well, "medium" a middle grade that was measured: "low", the
     * one that asks for attention (film again), with metrics_measured empty and the
     * visibility finding or metrics_not_measured saying why. */
    double avg = 0;
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(f, "code")), T_VISIBILITY) == 0)
            continue;
        avg += sev_rank(json_string_value(json_object_get(f, "severity")));
        nt++;
    }
    avg = nt ? avg / (double)nt : 0;
    const char *level = nmeasured == 0         ? "low"
                        : nt == 0 || avg < 1.5 ? "high"
                        : avg < 2.5            ? "medium"
                                               : "low";

    put(&b, res, "mode", json_string(mode_names[mode]));
    put(&b, res, "overall_level", json_string(level));
    put(&b, res, "metrics_measured", done);
    put(&b, res, "metrics_not_measured", undone);
    put(&b, res, "detection_rate", json_real(round(1000 * rate) / 10));
    json_t *rel = json_object();
    put(&b, rel, "frames", json_integer(frames));
    put(&b, rel, "frames_detected", json_integer(frames_detected));
    put(&b, rel, "detection_rate", json_real(rate));
    put(&b, rel, "low", json_boolean(low));
    put(&b, rel, "threshold", json_real(ANALYSIS_LOW_DETECTION));
    put(&b, rel, "warning", low ? json_string(warn) : json_null());
    put(&b, res, "reliability", rel);
    put(&b, res, "findings", list);
    if (b.bad) {
        json_decref(res);
        return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory building findings");
    }
    *out = res;
    return CR_OK;
}
