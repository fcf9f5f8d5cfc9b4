/*
 * engine.h -- the engine module's contract: the inference runtime under crease's
 * pose models.  Load a .tflite model, run it on an input tensor, read named outputs.
 *
 * This module is the home of every inference engine: the reference, cpu and XNNPACK
 * engines today, the CUDA engine and the int8 engines to come (DESIGN.md §7).  It
 * depends on core only (and XNNPACK when built with it); nothing here knows about
 * BlazePose, which lives in the pose module on top of this header.
 *
 * Engines (selected by name):
 *   "ref"      plain C11 loops, no intrinsics, no threads: slow and obviously
 *              correct; the yardstick every other engine is tested against.
 *   "cpu"      our own kernels (engine_cpu.c, cpu_kernels.h): AVX-512 where the CPU
 *              has it (chosen at load), portable C elsewhere; one thread (`threads`
 *              is ignored).  Always built.
 *   "cpu-amx"  the same, with most matrix products on Intel's AMX tiles, each float32
 *              product as three bfloat16 ones (cpu_kernels_amx.c): 16 bits of mantissa,
 *              so within 1e-3 of each output's range instead of 1e-4, and landmarks
 *              within the quality gate of the float32 engines'.  Built on x86-64;
 *              creating it without AMX (or an OS that grants it) fails with
 *              CR_ERR_UNSUPPORTED.
 *   "xnnpack"  XNNPACK's subgraph API (CPU), one runtime per model, reused
 *              across frames; `threads` sets its thread pool (1 = no pool).
 *              Built with the CMake option CREASE_XNNPACK (on by default).
 *   "cuda"     one NVIDIA GPU (engine_cuda.cu: own kernels, fp32, one stream, the
 *              run captured as a CUDA graph); `threads` is ignored.  Built with the
 *              CMake option CREASE_CUDA (AUTO: when nvcc is found).  Creating it on
 *              a machine without a usable GPU fails at once with CR_ERR_UNSUPPORTED
 *              and "cuda engine: no CUDA device: <reason>".
 * All engines agree with "ref" within 1e-4 of each output's range (DESIGN.md §7), but
 * "cpu-amx" (1e-3).
 * engine_available() lists those compiled in.
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
 * BATCHES.  One run computes one batch: the model's whole input tensor, NHWC
 * [N,H,W,C].  The models declare N = 1; engine_create_batch widens them to N items that
 * are computed independently (item i's outputs depend on item i's input only, and equal
 * what a batch-1 run of that input gives, within the engine's tolerance).  Every input
 * and output buffer holds N items one after the other.  This is how one worker steps
 * several chunks at once (one frame of each per run) and how the CUDA engine fills a GPU.
 *
 * NAMES.  One prefix for the whole module, `engine_`:
 *   engine_*           this header: the handle and its functions (the contract)
 *   engine_tflite_*    the TFLite file reader (tflite.h; ENGINE_TFLITE_* constants)
 *   engine_graph_*     the float32 graph built from a model, checks and pruning
 *                      (graph.h; ENGINE_GRAPH_* constants)
 *   engine_<name>_ops  a backend's table (engine_int.h, with the other internals)
 * tflite.h, graph.h and engine_int.h are the module's internals, used by its own
 * files, its tests and benchmarks; other modules include this header only.
 *
 * LOADED MODELS.  engine_create reads, converts and checks the model file each time.  A
 * caller that makes several engines of one model (a worker per core, a batch engine
 * beside a batch-1 one) loads it once (engine_model_load) and makes each engine from it
 * (engine_create_from): the engines share its float32 constants instead of each holding
 * a copy, and each holds a reference, so the model lives as long as the last of them.
 *
 * THREADS.  An engine is used by one thread at a time; create one per worker.
 * Engines are independent: several may run at once in different threads.  A loaded
 * model never changes after engine_model_load: threads may make engines of it at once.
 * OWNERSHIP.  The engine owns its input and output buffers; pointers returned by
 * engine_input/engine_output stay valid until engine_destroy.  It keeps no pointer
 * to anything the caller passed (names are copied or looked up at create), but a
 * reference to the engine_model it was made from.
 * ERRORS.  cr_status + one line in cr_err (first error wins).  A failed
 * engine_create leaves *out NULL with nothing leaked; a failed engine_run leaves
 * the outputs unspecified until the next successful run, and the engine usable or
 * destroyable.  Model files are untrusted input: any byte string gives a status,
 * never a crash.
 */
#ifndef CR_ENGINE_ENGINE_H
#define CR_ENGINE_ENGINE_H

#include "core/status.h"

#include <stddef.h>

typedef struct engine engine;

/* Shape of a tensor: rank 1..4, dims in NHWC order for 4-D tensors. */
typedef struct engine_shape {
    int rank;
    int dims[4];
} engine_shape;

/* Loads `model_path` into engine `name` ("ref", "xnnpack"), keeping only what the
 * `n_outputs` named outputs need (n_outputs == 0: all of the model's outputs).
 * `threads` >= 1.  Malformed model files are CR_ERR_FORMAT, unknown operators
 * CR_ERR_UNSUPPORTED, an unknown engine or output name CR_ERR_INVALID, a missing
 * file CR_ERR_NOT_FOUND.  On failure *out is NULL and nothing leaks. */
cr_status engine_create(const char *name, const char *model_path, const char *const *outputs,
                        int n_outputs, int threads, engine **out, cr_err *err);

/* engine_create for a batch of `batch` items (1..1024; engine_create is batch 1).  A
 * model whose operators mix items (none of the pose models does) is CR_ERR_UNSUPPORTED;
 * a batch too large for the engine's size limits CR_ERR_LIMIT. */
cr_status engine_create_batch(const char *name, const char *model_path, const char *const *outputs,
                              int n_outputs, int threads, int batch, engine **out, cr_err *err);

/* A model file loaded once for several engines (see LOADED MODELS). */
typedef struct engine_model engine_model;

/* Reads, converts and checks the model at `path`: the errors of engine_create for the
 * file.  The caller holds one reference (engine_model_free).  On failure *out is NULL. */
cr_status engine_model_load(const char *path, engine_model **out, cr_err *err);

/* One more reference to `m` (returned), released with engine_model_free. */
engine_model *engine_model_ref(engine_model *m);

/* Releases one reference; the last one frees the model.  NULL is a no-op. */
void engine_model_free(engine_model *m);

/* engine_create_batch from a loaded model: the same engine, without reading the file;
 * the engine holds a reference to `m`. */
cr_status engine_create_from(const char *name, engine_model *m, const char *const *outputs,
                             int n_outputs, int threads, int batch, engine **out, cr_err *err);

/* The batch size the engine was created with. */
int engine_batch(const engine *e);

/* The model's (single) input buffer, float32 NHWC [N,H,W,C] (N = the batch); write it
 * before each run.  Never NULL for a created engine. */
float *engine_input(engine *e, engine_shape *shape /* OUT, may be NULL */);

/* Runs the model on the current input.  Fails only on a backend error (CR_ERR_NOMEM,
 * or what the backend reports); the outputs are then unspecified until a later run
 * succeeds. */
cr_status engine_run(engine *e, cr_err *err);

/* The named output of the last run (one of those requested at create), or NULL; its
 * first dimension is the batch. */
const float *engine_output(const engine *e, const char *name,
                           engine_shape *shape /* OUT, may be NULL */);

/* The engine's name ("ref", "xnnpack"). */
const char *engine_name(const engine *e);

/* Frees everything.  NULL is a no-op. */
void engine_destroy(engine *e);

/* A 1x1 convolution of a model, for a caller that needs few of its outputs and computes
 * those itself: the landmark model's heatmap logits (Identity_3, 64x64x39) are read in 39
 * windows of 7x7 only, 1/40 of them, so the tracker asks the engine for this layer's
 * input in Identity_3's place (pruning then drops the layer) and evaluates the windows.
 * y[o] = clamp(bias[o] + sum_i x[i] * weights[o][i], lo, hi) for a pixel's x[c_in]. */
typedef struct engine_pointwise {
    char *input; /* the convolution's input tensor: a name engine_create takes as an output */
    int c_in, c_out;
    float *weights; /* [c_out][c_in] */
    float *bias;    /* [c_out], zeros when the model has none */
    float lo, hi;   /* the fused activation (-INFINITY, INFINITY: none) */
} engine_pointwise;

/* The 1x1, stride-1, unpadded convolution that produces tensor `output` of model `m`,
 * into *out (a copy, owned; engine_pointwise_free).  CR_ERR_UNSUPPORTED when `output` is
 * produced otherwise, CR_ERR_INVALID when the model has no such tensor.  On failure
 * *out is zeroed. */
cr_status engine_pointwise_from(const engine_model *m, const char *output, engine_pointwise *out,
                                cr_err *err);

/* Output channel o of one pixel whose input is x[c_in] (c_in partial sums, then their
 * total: not bit for bit what an engine's kernel gives, within float rounding of it). */
float engine_pointwise_at(const engine_pointwise *p, const float *x, int o);

/* Frees what engine_pointwise_from allocated and zeroes *p.  Zeroed or NULL: no-op. */
void engine_pointwise_free(engine_pointwise *p);

/* Names of the engines compiled into this binary, NULL-terminated. */
const char *const *engine_available(void);

/* The engine to use when none is named, for an engine run on `threads` threads on this
 * machine: for one thread "cpu-amx" where the CPU has AMX (the full landmark model in
 * 0.84x "cpu"'s time), else "cpu" where its AVX-512 kernels run (it beats XNNPACK
 * there: engine_cpu.c); else "xnnpack" when built (its own kernels are chosen for the
 * CPU and it uses the threads), else "cpu".  Never NULL. */
const char *engine_default(int threads);

#endif
