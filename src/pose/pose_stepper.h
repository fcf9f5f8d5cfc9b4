/*
 * pose_stepper.h -- several pose trackers stepped together: one frame of each per
 * step, their landmark crops run through the model as one batch.
 *
 * WHY.  Frames within a video chunk are sequential (each frame's region comes from the
 * last one's landmarks), so one chunk cannot batch its own frames; a worker that holds
 * several chunks can, one frame from each.  On a CPU the gain is the weights' memory
 * traffic: in an analysis, decoding between two frames evicts the landmark model's
 * 13 MB of weights from the caches, and a batch of two reads them once for two frames
 * (measured on a Xeon with AMX, one thread, 64 MB of other memory touched between
 * runs: 6.0 -> 5.3 ms a frame; with hot caches 5% less).  On a GPU, batches are what
 * fill it.
 *
 * Each tracker is an ordinary pose_tracker (pose_tracker.h) with its own state:
 * reset it, turn tiles on, set its subject through pose_stepper_tracker.  They share
 * one detector (the detector runs per tracker, only where one has nobody to track)
 * and one batch-1 landmark engine, and the stepper owns a landmark engine for a batch
 * of all of them.  A step with a single landmark crop runs it through the batch-1
 * engine; with more, through the batched one (unused slots computed and ignored).
 *
 * Results are those of the same trackers stepped one by one with pose_track_images,
 * within the engine's tolerance between batch sizes (engine.h BATCHES; the cpu
 * engines compute each item as a batch of one does, bit for bit).
 *
 * Threads: one thread at a time, like a tracker.  Errors: per tracker (its frame's
 * status and message) for what concerns one frame; a failed model run fails every
 * frame that needed it, and each such tracker is reset (pose_track_images' rule).
 */
#ifndef CR_POSE_STEPPER_H
#define CR_POSE_STEPPER_H

#include "pose/pose_tracker.h"

#define POSE_STEPPER_MAX 16 /* trackers in one stepper */

typedef struct pose_stepper pose_stepper;

/* One tracker's frame for a step (pose_track_images' arguments); img NULL: this
 * tracker has no frame this step (its result is not written). */
typedef struct pose_step_frame {
    const pose_image *img;
    const pose_image *coarse; /* may be NULL */
    int64_t timestamp_us;
} pose_step_frame;

/* `n` trackers (1..POSE_STEPPER_MAX) created with `opts` as pose_tracker_create does
 * (same errors; CR_ERR_INVALID for a bad n).  n = 1 loads no batched engine. */
cr_status pose_stepper_create(const cr_config *cfg, const pose_tracker_opts *opts, int n,
                              pose_stepper **out, cr_err *err);

int pose_stepper_size(const pose_stepper *s);

/* Tracker i (0 <= i < size), owned by the stepper. */
pose_tracker *pose_stepper_tracker(pose_stepper *s, int i);

/* One step: frames[i] (size entries) for tracker i.  For each i with a frame,
 * status[i] is CR_OK and out[i] its result, or its error with errs[i] set (errs may
 * be NULL).  Returns CR_OK, or the first error met (any frame's). */
cr_status pose_stepper_step(pose_stepper *s, const pose_step_frame *frames, pose_result *out,
                            cr_status *status, cr_err *errs);

/* Model runs so far: batched (two or more crops) and single. */
void pose_stepper_runs(const pose_stepper *s, int64_t *batched, int64_t *single);

/* Frees the trackers and engines.  NULL is a no-op. */
void pose_stepper_destroy(pose_stepper *s);

#endif
