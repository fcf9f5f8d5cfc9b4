/*
 * analysis.h -- biomechanical metrics, coaching findings and the coach's report
 * computed from a merged pose series (DESIGN.md §8).
 *
 *   series (frames on the global grid: t, detected, 33 landmarks in PIXELS +
 *           visibility, optional world landmarks in metres)
 *     -> analysis_metrics    Cricksy-compatible metrics (names, 0..1 scores,
 *                            per-frame series, evidence) + crease's extras
 *     -> analysis_findings   per-mode findings (codes, severities, cues, drills),
 *                            reliability warning
 *     -> analysis_report_html  a self-contained report.html
 *
 * Everything here is a pure function of its inputs (no I/O, no globals), so it is
 * tested on synthetic series.  The pipeline (pipeline/aggregate.c) builds the
 * series while it streams the chunk artifacts.
 *
 * Coordinates.  Cricksy computed on landmarks normalized to the frame, where one
 * unit across is not one unit down on a non-square frame; crease converts to pixels
 * first (x * frame_width, y * frame_height) and measures distances relative to the
 * body: the "body scale" is the median torso length (shoulder midpoint to hip
 * midpoint, pixels) over the series.  Only landmarks with visibility >= 0.5 are used
 * (ANALYSIS_MIN_VISIBILITY, Cricksy's get_keypoint_value rule).
 *
 * JSON shape of one Cricksy metric in analysis_metrics' result:
 *   "head_stability_score": {
 *      "score": 0..1 | null,        null when it cannot be computed; "reason" then says why
 *      "num_frames": n,             frames that contributed
 *      ...metric-specific values (avg_movement, min_knee_angle, ...),
 *      "per_frame_scores": [..], "per_frame_frame_nums": [..], "per_frame_timestamps_s": [..],
 *      "evidence": {"threshold": x,
 *                   "worst_frames": [{"frame_num","timestamp_s","score"}],   lowest 5
 *                   "bad_segments": [{"start_frame","end_frame","start_timestamp_s",
 *                                     "end_timestamp_s","min_score"}]}}
 * hip_shoulder_separation_timing's "score" is a lag in seconds (Cricksy's meaning);
 * its per-frame series is a 0..1 proxy (separation angle / 90 degrees).
 * Extras (same "value"/null/"reason" convention, units in the key names):
 * front_knee_angle_at_ffc (front-foot contact = frame of the longest stride),
 * trunk_lateral_flexion (meaningful front-on: "view_ok"), stride_length (side-on),
 * bowling_elbow_extension (every delivery screened, "deliveries": [...], the value is
 * the largest; "screening_only": true: 2D video cannot adjudicate the ICC 15 degree
 * rule).  "meta" holds frame size, body scale and the estimated camera view.
 *
 * Memory: results are jansson objects owned by the caller (json_decref).  All
 * functions return CR_ERR_NOMEM on allocation failure and leave no partial output.
 * Thread-safety: none needed (no shared state).
 */
#ifndef CR_ANALYSIS_ANALYSIS_H
#define CR_ANALYSIS_ANALYSIS_H

#include "core/status.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ANALYSIS_LM 33               /* MediaPipe's body landmarks (pose/blazepose.h) */
#define ANALYSIS_MIN_VISIBILITY 0.5f /* Cricksy pose_metrics.get_keypoint_value */
#define ANALYSIS_LOW_DETECTION 0.60  /* below: reliability warning (DESIGN.md §8, ours) */

/* MediaPipe pose landmark indices used by the metrics (pose_landmark_names order). */
enum {
    ALM_NOSE = 0,
    ALM_L_SHOULDER = 11,
    ALM_R_SHOULDER = 12,
    ALM_L_ELBOW = 13,
    ALM_R_ELBOW = 14,
    ALM_L_WRIST = 15,
    ALM_R_WRIST = 16,
    ALM_L_HIP = 23,
    ALM_R_HIP = 24,
    ALM_L_KNEE = 25,
    ALM_R_KNEE = 26,
    ALM_L_ANKLE = 27,
    ALM_R_ANKLE = 28,
};

/* One sample of the series.  When !detected the landmark arrays are ignored. */
typedef struct analysis_frame {
    int64_t frame_num; /* grid index k */
    double t;          /* seconds */
    int detected;
    int has_world;                                           /* world landmarks present */
    float x[ANALYSIS_LM];                                    /* pixels from the left edge */
    float y[ANALYSIS_LM];                                    /* pixels from the top edge */
    float vis[ANALYSIS_LM];                                  /* visibility probability */
    float wx[ANALYSIS_LM], wy[ANALYSIS_LM], wz[ANALYSIS_LM]; /* metres (world) */
} analysis_frame;

/* A growable series.  Zero-initialise, set width/height (the sampled frame size in
 * pixels; both > 0) before adding normalized poses, free with analysis_series_free. */
typedef struct analysis_series {
    analysis_frame *frames;
    size_t n, cap;
    int width, height;
} analysis_series;

/* Appends a copy of *f.  On failure the series is unchanged. */
cr_status analysis_series_push(analysis_series *s, const analysis_frame *f, cr_err *err);

/* Appends one `poses[]` entry in the pose/pose_json.h format (frame_num, t,
 * detected, landmarks[33] normalized, world_landmarks[33]), converting x, y to
 * pixels with the series' width/height.  A detected entry whose landmarks are not
 * 33 points, or non-numeric values, are CR_ERR_FORMAT (untrusted artifact bytes). */
cr_status analysis_series_add_pose_json(analysis_series *s, const json_t *pose, cr_err *err);

void analysis_series_free(analysis_series *s);

/* The metrics object (shape above) of a series.  An empty or undetected series
 * gives every metric score/value null with a reason, never NaN. */
cr_status analysis_metrics(const analysis_series *s, json_t **out, cr_err *err);

/* Same object without the per-frame arrays (for the deep_results summary):
 * a new reference; NULL when out of memory. */
json_t *analysis_metrics_compact(const json_t *metrics);

/* The analysis modes, the one list of them in crease (the command line and the
 * HTTP API check against it).  compat: the names are Cricksy's and are stored in
 * the jobs table; never change them.  The order indexes findings' tables. */
typedef enum analysis_mode {
    ANALYSIS_BATTING,
    ANALYSIS_BOWLING,
    ANALYSIS_WICKETKEEPING,
    ANALYSIS_FIELDING,
    ANALYSIS_MODE_COUNT
} analysis_mode;

/* The names for messages, in the order above (string literals, so they can be
 * joined to a message at compile time; the tests check them against the list). */
#define ANALYSIS_MODES_TEXT "batting, bowling, wicketkeeping or fielding"
#define ANALYSIS_MODES_BAR "batting|bowling|wicketkeeping|fielding"

/* The number of modes (ANALYSIS_MODE_COUNT). */
int analysis_mode_count(void);

/* The name of mode `i` ("batting", ...); NULL when i is out of range. */
const char *analysis_mode_name(int i);

/* The mode named exactly `name`, or -1 (for NULL, "" and unknown names too).  For
 * checking user input. */
int analysis_mode_find(const char *name);

/* True for the modes findings know; NULL or "" means batting (Cricksy's default). */
int analysis_mode_valid(const char *mode);

/* Findings for `mode` (NULL/"" = batting; an unknown mode is CR_ERR_INVALID) from a
 * metrics object (as analysis_metrics returns, or hand-made with just "score"s) and
 * the detection counts:
 *   {"mode": m, "overall_level": "low|medium|high", "detection_rate": percent,
 *    "reliability": {"frames","frames_detected","detection_rate","low": bool,
 *                    "warning": text|null},
 *    "findings": [{"code","title","severity","metric","evidence":{<metric>: score,
 *                  "threshold"}, "threshold_source", "video_evidence":{...},
 *                  "why_it_matters","cues":[..],"suggested_drills":[..],
 *                  "confidence"}...]}   sorted high -> low severity */
cr_status analysis_findings(const json_t *metrics, const char *mode, int64_t frames,
                            int64_t frames_detected, json_t **out, cr_err *err);

/* The coach's report as Cricksy's API returns it (report_json.c has the shape:
 * summary, top_issues, key_issues, drills, notes, reliability_warning) from a
 * findings object; `mode` NULL/"" = batting.  A new object in *out. */
cr_status analysis_report_json(const json_t *findings, const char *mode, json_t **out,
                               cr_err *err);

/* The coach's report: a self-contained HTML page (no external resources) with the
 * summary, reliability warning, top issues with cues and drills, the metrics table,
 * inline SVG plots of the per-frame series and a skeleton at each issue's worst
 * frame.  `info` (may be NULL) carries job_id, video_duration_seconds, ...;
 * `series` (may be NULL) supplies the skeletons.  *html is NUL-terminated, cr_free. */
cr_status analysis_report_html(const json_t *metrics, const json_t *findings, const json_t *info,
                               const analysis_series *series, char **html, size_t *len,
                               cr_err *err);

#endif
