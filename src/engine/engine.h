/*
 * engine.h -- the contract of a pose inference engine: load a .tflite model,
 * run it on one input tensor, read named outputs.
 *
 * Engines (selected by name):
 *   "ref"      plain C11 loops, no intrinsics, no threads: slow and obviously
 *              correct; the yardstick every other engine is tested against.
 *   "xnnpack"  XNNPACK's subgraph API (CPU), one runtime per model, reused
 *              across frames; `threads` sets its thread pool (1 = no pool).
 *   "cuda"     (later) cuDNN/cuBLAS.
 * All engines agree with "ref" within 1e-4 of each output's range (DESIGN.md §7).
 *
 * Only the operators needed for the requested outputs are kept (pruning): asking
 * a landmark model for {"Identity","Identity_1","Identity_3","Identity_4"} drops
 * the segmentation head.  Output names are the model's tensor names:
 *   pose_detection.tflite: "Identity" [1,2254,12] boxes+keypoints (224-px units),
 *                          "Identity_1" [1,2254,1] score logits
 *   pose_landmark_*.tflite: "Identity" [1,195], "Identity_1" [1,1] pose flag
 *                          (already a probability), "Identity_2" [1,256,256,1]
 *                          segmentation, "Identity_3" [1,64,64,39] heatmap logits,
 *                          "Identity_4" [1,117] world landmarks (metres)
 *
 * Threading: an engine is used by one thread at a time; create one per worker.
 * Ownership: the engine owns its input and output buffers; pointers returned by
 * pose_engine_input/pose_engine_output stay valid until pose_engine_destroy.
 */
#ifndef CR_ENGINE_ENGINE_H
#define CR_ENGINE_ENGINE_H

#include "core/status.h"

#include <stddef.h>

typedef struct pose_engine pose_engine;

/* Shape of a tensor: rank 1..4, dims in NHWC order for 4-D tensors. */
typedef struct pose_shape {
    int rank;
    int dims[4];
} pose_shape;

/* Loads `model_path` into engine `engine_name` ("ref", "xnnpack"), keeping only what the
 * `n_outputs` named outputs need (n_outputs == 0: all of the model's outputs).
 * `threads` >= 1.  Malformed model files are CR_ERR_FORMAT, unknown operators
 * CR_ERR_UNSUPPORTED, an unknown engine or output name CR_ERR_INVALID, a missing
 * file CR_ERR_NOT_FOUND.  On failure *out is NULL and nothing leaks. */
cr_status pose_engine_create(const char *engine_name, const char *model_path,
                             const char *const *outputs, int n_outputs, int threads,
                             pose_engine **out, cr_err *err);

/* The model's (single) input buffer, float32 NHWC [1,H,W,C]; write it before each run. */
float *pose_engine_input(pose_engine *e, pose_shape *shape /* OUT, may be NULL */);

/* Runs the model on the current input. */
cr_status pose_engine_run(pose_engine *e, cr_err *err);

/* The named output of the last run (one of those requested at create), or NULL. */
const float *pose_engine_output(const pose_engine *e, const char *name,
                                pose_shape *shape /* OUT, may be NULL */);

/* The engine's name ("ref", "xnnpack"). */
const char *pose_engine_name(const pose_engine *e);

/* Frees everything.  NULL is a no-op. */
void pose_engine_destroy(pose_engine *e);

/* Names of the engines compiled into this binary, NULL-terminated. */
const char *const *pose_engine_available(void);

#endif
