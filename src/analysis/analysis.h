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
 *     -> analysis_report_html  a self-contained report.html (pictures of key frames
 *                              come from the pipeline, which has the video)
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
 *      "score": 0..1 | null,        null when it was not measured
 *      "measured": true | false,    false: no score, and "reason" says why in words
 *                                   for the coach ("no rotation seen: ...")
 *      "num_frames": n,             frames that contributed
 *      ...metric-specific values (avg_movement, min_knee_angle, ...),
 *      "per_frame_scores": [..], "per_frame_frame_nums": [..], "per_frame_timestamps_s": [..],
 *      "evidence": {"threshold": x,
 *                   "worst_frames": [{"frame_num","timestamp_s","score"}],   lowest 5
 *                   "bad_segments": [{"start_frame","end_frame","start_timestamp_s",
 *                                     "end_timestamp_s","min_score"}]}}
 * hip_shoulder_separation_timing's "score" is a lag in seconds (Cricksy's meaning);
 * its per-frame series is a 0..1 proxy (separation angle / 90 degrees).
 * NOT MEASURED.  A metric is not measured (score/value null, "measured": false,
 * "reason") when its frames are missing or fewer than ANALYSIS_MIN_FRAMES, and when
 * what it measures did not happen: no rotation (hip_shoulder_separation_timing; its
 * "rotation_detected" is false), no stride (stride_length, front_knee_angle_at_ffc),
 * no delivery (bowling_elbow_extension).  Its per-frame series stay (what was seen),
 * its evidence lists are empty, and findings, the overall level and the report's
 * plots leave it out; the report lists it as "not measured" with the reason.
 * Extras (same "value"/"measured"/"reason" convention, units in the key names):
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
/* Fewest frames a metric is measured from: half a second at the default 10 fps
 * (SAMPLE_FPS); fewer do not show a movement (ours). */
#define ANALYSIS_MIN_FRAMES 5

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

/* The frame with grid index `frame_num` (frames are in increasing frame_num, as the
 * pipeline appends them), or NULL when the series has none. */
const analysis_frame *analysis_series_find(const analysis_series *s, int64_t frame_num);

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
 * the detection counts.  Metrics not measured are left out of the findings and the
 * overall level and listed in metrics_not_measured (those the mode judges: the five
 * Cricksy metrics, and in bowling the three screening extras); overall_level is
 * "low" when none was measured (findings.c says why):
 *   {"mode": m, "overall_level": "low|medium|high", "detection_rate": percent,
 *    "metrics_measured": [names], "metrics_not_measured": [{"metric","reason"}],
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
cr_status analysis_report_json(const json_t *findings, const char *mode, json_t **out, cr_err *err);

/* A picture for the report: one video frame with the skeleton drawn on it, as a
 * JPEG (the pipeline makes them; the analysis does no I/O). */
typedef struct analysis_picture {
    int64_t frame_num;   /* grid index k */
    const uint8_t *jpeg; /* not owned */
    size_t jpeg_len;
    int width, height; /* pixels */
} analysis_picture;

/* The pictures that could be made, and a note (shown as is; NULL for none) when
 * some or all could not, e.g. because the video cannot be read. */
typedef struct analysis_pictures {
    const analysis_picture *items;
    size_t n;
    const char *note;
} analysis_pictures;

/* At most this many pictures, of at most this many JPEG bytes together (ours: 8 at
 * ~640 px wide are ~50 KB each, ~0.5 MB of base64; the bound keeps a report of
 * large frames under ~2 MB). */
#define ANALYSIS_REPORT_MAX_PICTURES 8
#define ANALYSIS_REPORT_PICTURE_BYTES (1536 * 1024)

/* The frames the report shows pictures of (frame_num, at most `cap`, at most
 * ANALYSIS_REPORT_MAX_PICTURES), into out[]; returns how many.  The key frame of each
 * measured metric (a score's worst frame, an extra's frame: longest stride, release,
 * most lateral flexion), those of the findings' metrics first, without repeats. */
size_t analysis_report_picture_frames(const json_t *metrics, const json_t *findings, int64_t *out,
                                      size_t cap);

/* The coach's report: a self-contained HTML page (no external resources) with the
 * summary, reliability warning, top issues with cues and drills, the metrics table
 * (what was not measured, and why), inline SVG plots of the measured per-frame series
 * (a line breaks where frames are missing) and pictures of the key frames.
 * `info` (may be NULL) carries job_id, video_duration_seconds, ...; `pictures` (may
 * be NULL) are embedded as data: URIs (up to ANALYSIS_REPORT_PICTURE_BYTES); where a
 * frame has no picture and `series` (may be NULL) has its pose, an issue shows the
 * pose as a line drawing.  *html is NUL-terminated, cr_free. */
cr_status analysis_report_html(const json_t *metrics, const json_t *findings, const json_t *info,
                               const analysis_series *series, const analysis_pictures *pictures,
                               char **html, size_t *len, cr_err *err);

#endif
