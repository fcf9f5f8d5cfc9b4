/*
 * tracker_int.h -- the tracker's frame step cut in two around the landmark model, for
 * the stepper (stepper.c), which runs the model once for several trackers' frames.
 * Internal to the pose module (its files and tests); the contract is pose_tracker.h
 * and pose_stepper.h.
 *
 * pose_track_images(t, img, coarse, ts, out) is exactly
 *     pose_track_begin(t, img, coarse, <t's landmark input>, out, &need)
 *     if need: run t's landmark engine, pose_lm_outputs_of(t, it, 0), pose_track_end
 * so a caller that fills item i of a batched landmark engine's input in begin and
 * hands item i's outputs to end gets the same result, within the engine's tolerance
 * between batch sizes (engine.h BATCHES).
 */
#ifndef CR_POSE_TRACKER_INT_H
#define CR_POSE_TRACKER_INT_H

#include "engine/engine.h"
#include "pose/pose_tracker.h"

/* One item's outputs of a landmark model run (engine.h: the landmark outputs). */
typedef struct pose_lm_outputs {
    const float *raw;             /* [195] */
    const float *flag;            /* [1] */
    const float *heatmap;         /* [64][64][39] logits, or with `head` its features */
    const engine_pointwise *head; /* NULL, or the heatmap's 1x1 layer (tracker.c HEATMAP) */
    const float *world;           /* [117] */
} pose_lm_outputs;

/* A tracker with its own state (tracking, filters, subject, tiles on or off, pyramid)
 * that runs on `base`'s engines (its base's, if `base` is a sibling itself).  The base
 * must outlive it and be used by the same thread.  Tiles turned on in a sibling load
 * the base's batched detector once for all of them. */
cr_status pose_tracker_sibling(pose_tracker *base, pose_tracker **out, cr_err *err);

/* t's batch-1 landmark engine (its base's for a sibling). */
engine *pose_tracker_lm(pose_tracker *t);

/* A landmark engine like t's (engine, model, pruned outputs), for a batch of `batch`. */
cr_status pose_tracker_lm_batch(pose_tracker *t, int batch, engine **out, cr_err *err);

/* The first part of a frame: checks, the detector where there is no region to track,
 * then the landmark model's input crop into `lm_input` (256 x 256 x 3 floats).
 * *need_lm = 1: the caller runs the model and calls pose_track_end with `out` as left
 * here (its roi is the crop's region); 0: *out is the frame's result already (nobody
 * found), or the status is an error (the tracking state reset, as pose_track_images
 * does). */
cr_status pose_track_begin(pose_tracker *t, const pose_image *img, const pose_image *coarse,
                           float *lm_input, pose_result *out, int *need_lm, cr_err *err);

/* Item `item`'s outputs of the last run of landmark engine `lm` (t's, or one from
 * pose_tracker_lm_batch: it has the outputs t's has), checked sizes. */
cr_status pose_lm_outputs_of(pose_tracker *t, engine *lm, int item, pose_lm_outputs *o,
                             cr_err *err);

/* The second part: decodes, smooths and completes *out from the model's outputs. */
void pose_track_end(pose_tracker *t, const pose_lm_outputs *o, int64_t timestamp_us,
                    pose_result *out);

/* A frame begun that cannot end (the model failed): the tracking state is reset and
 * *out zeroed, as pose_track_images does on an error. */
void pose_track_abort(pose_tracker *t, pose_result *out);

#endif
