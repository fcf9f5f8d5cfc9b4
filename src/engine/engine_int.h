/*
 * engine_int.h -- what an engine backend implements, and the internal entry
 * points tests and benchmarks use (not part of the engine module's contract, engine.h).
 *
 * A backend is a const engine_ops table plus a context (`void *ctx`), as in
 * ggml's backend interface.  engine.c owns the checked, pruned graph and the
 * input/output buffers; a backend binds to them once in `load` and computes into
 * them in `run`.  Buffers carry ENGINE_SLACK spare bytes at the end
 * (XNNPACK reads up to XNN_EXTRA_BYTES = 16 bytes past a tensor, xnnpack.h).
 */
#ifndef CR_ENGINE_ENGINE_INT_H
#define CR_ENGINE_ENGINE_INT_H

#include "engine/engine.h"
#include "engine/graph.h"

/* Version of engine_ops; bump when the table changes (2: probe). */
#define ENGINE_API_VERSION 2
/* Spare bytes after every engine-owned buffer (xnnpack.h: XNN_EXTRA_BYTES = 16). */
#define ENGINE_SLACK 64
/* Buffers (activations, inputs, outputs, packed weights) start on a multiple of this:
 * with channel counts that are multiples of 16, every 16-float vector access of the
 * cpu engine is then aligned to a cache line (an unaligned one that crosses a line
 * costs two).  Measured, one thread on a Xeon: the depthwise kernel 1.5-1.6x faster on
 * the models' shapes, the full landmark model 5.40 -> 5.03 ms (malloc's 16 bytes
 * before). */
#define ENGINE_ALIGN 64

/* The buffers a backend computes with: the graph's input, and one buffer per
 * graph output (graph->outputs order), each of tensor->count floats + slack. */
typedef struct engine_io {
    float *input;
    float *const *outputs;
} engine_io;

typedef struct engine_ops {
    int api_version; /* ENGINE_API_VERSION */
    const char *name;
    /* Prepares to run `g` (which outlives ctx) with `threads` threads into `io`. */
    cr_status (*load)(const engine_graph *g, const engine_io *io, int threads, void **ctx,
                      cr_err *err);
    /* Computes every output from the input.  Fails only on a backend error. */
    cr_status (*run)(void *ctx, cr_err *err);
    void (*destroy)(void *ctx);
    /* Optional (NULL: always usable): CR_OK when the backend can run on this machine,
     * else the reason (CR_ERR_UNSUPPORTED for missing hardware), fast and without
     * allocating.  load checks the same itself. */
    cr_status (*probe)(cr_err *err);
} engine_ops;

extern const engine_ops engine_ref_ops;
/* Node `node` of `g` as the reference engine computes it, reading and writing the
 * per-tensor buffers `buf` (activations, the input and outputs, and the constants'
 * data).  Other engines use it for operators too rare to deserve their own code. */
void engine_ref_run_node(const engine_graph *g, int node, float *const *buf);
extern const engine_ops engine_cpu_ops;
/* The "cpu" engine with its portable kernels whatever the CPU (tests: both builds of
 * the kernels against the reference on a machine that has AVX-512).  Not listed by
 * engine_available(); created by the name "cpu-portable". */
extern const engine_ops engine_cpu_portable_ops;
/* The "cpu" engine with its matrix products on AMX tiles where they pay
 * (cpu_kernels_amx.c); its probe fails where cpu_kernels_amx_usable() is NULL. */
extern const engine_ops engine_cpu_amx_ops;
#ifdef CREASE_HAVE_XNNPACK
extern const engine_ops engine_xnnpack_ops;
#endif
#ifdef CREASE_HAVE_CUDA
extern const engine_ops engine_cuda_ops;
#endif

/* CR_OK when engine `name` is compiled in and can run on this machine; otherwise the
 * reason in err (CR_ERR_INVALID: not compiled in; CR_ERR_UNSUPPORTED: e.g. the CUDA
 * engine without a usable GPU, "cuda engine: no CUDA device: ...").  Tests use it to
 * skip, with that message, an engine the machine cannot run. */
cr_status engine_probe(const char *name, cr_err *err);

/* Like engine_create, but from a graph (takes ownership of `g`, freed on
 * failure too).  The graph must have passed engine_graph_check / engine_graph_from_tflite;
 * it is pruned to `outputs` here. */
cr_status engine_create_graph(const char *name, engine_graph *g, const char *const *outputs,
                              int n_outputs, int threads, engine **out, cr_err *err);
/* The same for a batch of `batch` items (engine_graph_set_batch after pruning). */
cr_status engine_create_graph_batch(const char *name, engine_graph *g, const char *const *outputs,
                                    int n_outputs, int threads, int batch, engine **out,
                                    cr_err *err);

/* The engine's graph (after pruning), for tests and benchmarks. */
const engine_graph *engine_get_graph(const engine *e);

#endif
