/*
 * pose_tracker.h -- BlazePose on a sequence of frames: the whole MediaPipe pose
 * pipeline (pose_landmark_cpu graph) on top of an inference engine (engine/engine.h).
 *
 * One frame, video mode:
 *   1. If there is no ROI from the previous frame, run the detector: letterbox the
 *      frame to 224x224 ([-1,1], zero border), decode 2254 anchors, weighted NMS,
 *      undo the letterbox, take the best detection, ROI from its keypoints 0 and 1.
 *   2. Crop the ROI (rotated, 256x256, [0,1], border replicate), run the landmark
 *      model, read the pose flag.  Flag <= 0.5: no pose this frame, the filters are
 *      reset and the next frame runs the detector.
 *   3. Decode the 39 landmarks, refine them from the heatmap, project them into the
 *      image; world landmarks rotated by the ROI.
 *   4. Smooth (One Euro: landmarks 0.05/80/1 and aux points 0.01/10/1 in pixels with
 *      value scale 1/object size, object size = mean side of the alignment rectangle of
 *      the unfiltered aux points, without the 1.25 scale of the tracking ROI;
 *      world landmarks 0.1/40/1 unscaled; visibility low-pass alpha 0.1).
 *   5. The next frame's ROI comes from the filtered aux points 33 and 34.
 * Static mode: the detector runs on every frame and nothing is smoothed (each
 * frame is independent; timestamps are ignored).
 *
 * Beyond MediaPipe (off until set, so the default is MediaPipe's pipeline):
 *   tiles    When the whole-frame detector finds nobody, the detector runs on
 *            overlapping zoomed windows of the picture (squares of its short side,
 *            then of 2/3 of it, half a window apart; tracker.c), batched; their
 *            detections are mapped back and merged with the same weighted NMS, and
 *            tracking goes on as usual.  A person far from the camera (a quarter of
 *            the frame's height or less) is too small in the 224x224 letterbox to be
 *            found there.  Tiles run only while nobody is tracked; after a search that
 *            finds nobody the next 1, 2, 4, then 8 untracked frames skip it.
 *   subject  Which person to follow when the detector finds several: the one whose
 *            box is nearest the point (0 inside it).  Once tracked, a lost subject is
 *            looked for near its last position (until pose_tracker_reset, which a
 *            chunk calls at its start: each chunk starts from the point again, so
 *            chunks stay independent and can run in parallel).  With tiles, a
 *            whole-frame detection that does not cover the point also starts a tiled
 *            search (the subject may be the small player).
 *
 * Timestamps (video mode) are in microseconds and must increase; MediaPipe's One
 * Euro filter ignores a timestamp of 0 at the first frame, so start at the first
 * frame's own positive time (e.g. (k+1)/fps) to match it exactly -- any start
 * works otherwise.
 *
 * Threads: a tracker is used by one thread at a time (it owns its engines); make
 * one per worker.  Errors: cr_status + cr_err; after an engine error the tracker
 * stays usable (its tracking state is reset).
 */
#ifndef CR_POSE_TRACKER_H
#define CR_POSE_TRACKER_H

#include "core/config.h"
#include "core/status.h"
#include "pose/blazepose.h"

#include <stdint.h>

typedef enum pose_mode {
    POSE_MODE_VIDEO = 0,  /* tracking + smoothing (needs increasing timestamps) */
    POSE_MODE_STATIC = 1, /* detector on every frame, no smoothing */
} pose_mode;

typedef struct pose_models pose_models; /* pose_models.h */

typedef struct pose_tracker_opts {
    const char *engine; /* "ref", "cpu", "xnnpack", "cuda" (NULL: engine_default) */
    const char *model;  /* "lite", "full", "heavy" (NULL = "full", DESIGN.md §7) */
    int threads;        /* engine threads, >= 1 (0 = 1) */
    pose_mode mode;
    /* The process's loaded models (pose_models.h), shared by its trackers; NULL: the
     * tracker loads its own (cfg says where).  Not needed after pose_tracker_create. */
    pose_models *models;
} pose_tracker_opts;

/* The result of one frame. */
typedef struct pose_result {
    int detected; /* 1 when a pose was found (pose flag > 0.5) */
    float score;  /* the pose flag (presence probability); 0 when none was computed */
    /* Body landmarks: x, y normalized to the image (may fall outside [0,1]), z on the
     * scale of x, visibility and presence probabilities.  Zeros when !detected. */
    pose_landmark landmarks[POSE_LM_BODY];
    /* World landmarks in metres (origin between the hips), visibility and presence
     * copied from `landmarks`.  Zeros when !detected. */
    pose_landmark world[POSE_LM_BODY];
    pose_rect roi;    /* the region the landmark model saw this frame */
    int detector_ran; /* 1 when the detector ran for this frame */
} pose_result;

typedef struct pose_tracker_stats {
    int64_t frames;          /* pose_track_frame calls that succeeded */
    int64_t detector_runs;   /* detector invocations */
    int64_t landmark_runs;   /* landmark model invocations */
    int64_t frames_detected; /* frames with detected = 1 */
    int64_t tile_searches;   /* tiled searches (opts.tiles) */
    int64_t tile_windows;    /* windows the detector ran on in them */
} pose_tracker_stats;

typedef struct pose_tracker pose_tracker;

/* Takes the detector and the landmark model from opts->models, or else finds them
 * with cr_find_model(cfg, ...) (cfg NULL: ./models) and loads them, and makes the
 * engines of them (the landmark model pruned of its segmentation head).  Unknown model
 * or engine names are CR_ERR_INVALID; engine errors pass through.  On failure *out is
 * NULL. */
cr_status pose_tracker_create(const cr_config *cfg, const pose_tracker_opts *opts,
                              pose_tracker **out, cr_err *err);

/* Runs the pipeline on one RGB24 frame (`stride` bytes per row, >= 3*w) at
 * `timestamp_us` and fills *out (always fully written on CR_OK).  Frame sizes may
 * change between calls (tracking then restarts).  w, h must be 1..16384. */
cr_status pose_track_frame(pose_tracker *t, const uint8_t *rgb, int w, int h, int stride,
                           int64_t timestamp_us, pose_result *out, cr_err *err);

/* pose_track_frame on a decoded picture at any resolution and orientation (e.g. the
 * sampler's full-resolution source, video.h SOURCE PICTURES): the crops are taken from
 * its pixels (a 2x pyramid level where the region is more than 3 source pixels per
 * model input pixel), landmarks are normalized to the displayed picture.  Invalid
 * images (size, strides, format, rotation) are CR_ERR_INVALID. */
cr_status pose_track_image(pose_tracker *t, const pose_image *img, int64_t timestamp_us,
                           pose_result *out, cr_err *err);

/* pose_track_image with, in `coarse` (may be NULL), the same frame as displayed, area-
 * scaled to a smaller RGB24 picture (the sampler's MAX_WIDTH frame, video.h FRAMES):
 * a crop whose region spans at least one coarse pixel per model input pixel on both
 * axes is taken from it (large subjects, the whole-frame letterbox, wide tiles), the
 * others from `img` (small subjects get the source's detail).  A coarse picture that
 * is not RGB24 with rotation 0 is CR_ERR_INVALID. */
cr_status pose_track_images(pose_tracker *t, const pose_image *img, const pose_image *coarse,
                            int64_t timestamp_us, pose_result *out, cr_err *err);

/* Turns tiled detection on (see the top).  The batched detector it needs is made at the
 * first tiled search, whose pose_track_frame call then passes an engine error through.
 * Never fails today; err is for the contract. */
cr_status pose_tracker_enable_tiles(pose_tracker *t, cr_err *err);

/* Follows the person nearest (x, y), normalized to the picture, from the next
 * detection on (on = 0: the strongest, as MediaPipe).  x, y outside 0..1 (or NaN) are
 * CR_ERR_INVALID and change nothing.  Forgets the subject's last position. */
cr_status pose_tracker_set_subject(pose_tracker *t, int on, float x, float y, cr_err *err);

/* Forgets the tracking state (the next frame runs the detector, filters restart), the
 * tiled-search backoff and the subject's last position. */
void pose_tracker_reset(pose_tracker *t);

void pose_tracker_get_stats(const pose_tracker *t, pose_tracker_stats *out);

/* The engine's and the landmark model's names ("xnnpack", "full"). */
const char *pose_tracker_engine(const pose_tracker *t);
const char *pose_tracker_model(const pose_tracker *t);

/* Frees everything.  NULL is a no-op. */
void pose_tracker_destroy(pose_tracker *t);

/* --- lower-level steps, for tests and other drivers --------------------------- */

/* Runs only the detector on a frame: writes up to `cap` detections after NMS, in
 * image coordinates, best first; *n = their count. */
cr_status pose_tracker_detect(pose_tracker *t, const uint8_t *rgb, int w, int h, int stride,
                              pose_detection *dets, int cap, int *n, cr_err *err);
cr_status pose_tracker_detect_image(pose_tracker *t, const pose_image *img, pose_detection *dets,
                                    int cap, int *n, cr_err *err);

#endif
