/*
 * pose_models.h -- the pose models loaded once for many trackers.
 *
 * A tracker needs the detector and one landmark model (lite, full or heavy), and makes
 * up to four engines of them (pose_tracker.h: the detector, the landmark model, the
 * tiled detector's batch, a stepper's landmark batch).  Each engine made from a file
 * reads, converts and checks all of it again: ~50 ms and ~13 MB for the full model.  A
 * process that runs several trackers (a worker loop per core, a loop switching models
 * from job to job) keeps one pose_models and names it in pose_tracker_opts.models: each
 * file is then loaded once, the first time a tracker asks for it, and every engine
 * shares its constants (engine.h, LOADED MODELS).
 *
 * Thread-safe: trackers on several threads may ask at once.  The set keeps what it
 * loaded until pose_models_destroy; a tracker holds its own references, so it may
 * outlive the set.
 */
#ifndef CR_POSE_MODELS_H
#define CR_POSE_MODELS_H

#include "core/config.h"
#include "core/status.h"
#include "engine/engine.h"

typedef struct pose_models pose_models;

/* An empty set that finds model files with cr_find_model(cfg, ...) (cfg NULL:
 * ./models, then the share dir); cfg must outlive it.  On failure *out is NULL. */
cr_status pose_models_create(const cr_config *cfg, pose_models **out, cr_err *err);

/* The detector and landmark model `model` ("lite", "full", "heavy"), each loaded the
 * first time it is asked for; *det and *lm are new references (engine_model_free).
 * An unknown model is CR_ERR_INVALID; a file that fails to load gives engine_model_load's
 * error, and is tried again on the next call.  On failure *det and *lm are NULL. */
cr_status pose_models_get(pose_models *s, const char *model, engine_model **det, engine_model **lm,
                          cr_err *err);

/* Releases the set's references.  NULL is a no-op. */
void pose_models_destroy(pose_models *s);

#endif
