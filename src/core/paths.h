/*
 * paths.h -- where crease finds its installed data (the model files).
 */
#ifndef CR_CORE_PATHS_H
#define CR_CORE_PATHS_H

#include "core/config.h"

/* Finds model file `name` (e.g. "pose_landmark_full.tflite"): in cfg->models_dir
 * when CREASE_MODELS_DIR is set (and only there), else ./models, else models/ in
 * the folder above the running binary (a build tree: build/crease), else the
 * install prefix's share/crease/models.  Writes the path into `out`.  CR_ERR_NOT_FOUND names
 * every place looked at and says how to fetch the models. */
cr_status cr_find_model(const cr_config *cfg, const char *name, char *out, size_t cap, cr_err *err);

#endif
