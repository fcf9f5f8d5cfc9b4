/*
 * engine.c -- the engine handle: model file -> checked graph -> pruned graph -> backend.
 *
 * The engine owns the graph and the input/output buffers; the backend (engine_ref.c,
 * engine_xnnpack.c) computes into them.  See engine.h for the contract.
 */
#include "engine/cpu_kernels.h"
#include "engine/engine_int.h"

#include "core/mem.h"
#include "engine/tflite.h"

#include <string.h>

struct engine {
    const engine_ops *ops;
    void *ctx;
    engine_graph *g;
    float *input;
    float *outputs[ENGINE_GRAPH_MAX_INPUTS];
};

static const engine_ops *const backends[] = {
    &engine_ref_ops,          &engine_cpu_ops,
    &engine_cpu_portable_ops, /* not listed below: tests name it */
#ifdef CREASE_CPU_AMX
    &engine_cpu_amx_ops,
#endif
#ifdef CREASE_HAVE_XNNPACK
    &engine_xnnpack_ops,
#endif
#ifdef CREASE_HAVE_CUDA
    &engine_cuda_ops,
#endif
};

static const char *const backend_names[] = {
    "ref",     "cpu",
#ifdef CREASE_CPU_AMX
    "cpu-amx",
#endif
#ifdef CREASE_HAVE_XNNPACK
    "xnnpack",
#endif
#ifdef CREASE_HAVE_CUDA
    "cuda",
#endif
    NULL,
};

const char *const *engine_available(void)
{
    return backend_names;
}

const char *engine_default(int threads)
{
    if (threads <= 1 && cpu_kernels_amx_usable() != NULL)
        return "cpu-amx";
#ifdef CREASE_HAVE_XNNPACK
    if (threads > 1 || strcmp(cpu_kernels_best()->isa, "portable") == 0)
        return "xnnpack";
#else
    (void)threads;
#endif
    return "cpu";
}

static const engine_ops *find_backend(const char *name)
{
    for (size_t i = 0; name && i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

cr_status engine_probe(const char *name, cr_err *err)
{
    const engine_ops *ops = find_backend(name);
    if (ops == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: engine '%s' is not built in",
                          name ? name : "(null)");
    return ops->probe ? ops->probe(err) : CR_OK;
}

static float *alloc_buffer(size_t count)
{
    return cr_calloc_aligned(ENGINE_ALIGN, 1, count * sizeof(float) + ENGINE_SLACK);
}

cr_status engine_create_graph(const char *name, engine_graph *g, const char *const *outputs,
                              int n_outputs, int threads, engine **out, cr_err *err)
{
    return engine_create_graph_batch(name, g, outputs, n_outputs, threads, 1, out, err);
}

cr_status engine_create_graph_batch(const char *name, engine_graph *g, const char *const *outputs,
                                    int n_outputs, int threads, int batch, engine **out,
                                    cr_err *err)
{
    *out = NULL;
    cr_status st;
    const engine_ops *ops = find_backend(name);
    if (ops == NULL || threads < 1 || n_outputs < 0 || (n_outputs > 0 && outputs == NULL)) {
        engine_graph_free(g);
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: unknown engine '%s' or bad arguments",
                          name ? name : "(null)");
    }
    engine *e = cr_calloc(1, sizeof *e);
    if (e == NULL) {
        engine_graph_free(g);
        return cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
    }
    e->ops = ops;
    e->g = g;
    if ((st = engine_graph_prune(g, outputs, n_outputs, err)))
        goto fail;
    if (batch != 1 && (st = engine_graph_set_batch(g, batch, err)))
        goto fail;
    e->input = alloc_buffer(g->tensors[g->input].count);
    if (e->input == NULL)
        goto nomem;
    for (int i = 0; i < g->n_outputs; i++)
        if ((e->outputs[i] = alloc_buffer(g->tensors[g->outputs[i]].count)) == NULL)
            goto nomem;
    engine_io io = {e->input, e->outputs};
    if ((st = ops->load(g, &io, threads, &e->ctx, err)))
        goto fail;
    *out = e;
    return CR_OK;
nomem:
    st = cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
fail:
    engine_destroy(e);
    return st;
}

cr_status engine_create(const char *name, const char *model_path, const char *const *outputs,
                        int n_outputs, int threads, engine **out, cr_err *err)
{
    return engine_create_batch(name, model_path, outputs, n_outputs, threads, 1, out, err);
}

cr_status engine_create_batch(const char *name, const char *model_path, const char *const *outputs,
                              int n_outputs, int threads, int batch, engine **out, cr_err *err)
{
    *out = NULL;
    if (model_path == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: no model path");
    engine_tflite_model *m;
    engine_graph *g;
    cr_status st = engine_tflite_model_load(model_path, &m, err);
    if (st)
        return st;
    st = engine_graph_from_tflite(m, &g, err);
    engine_tflite_model_free(m);
    if (st) {
        cr_err_set(err, st, "pose engine: %s", model_path);
        return st;
    }
    return engine_create_graph_batch(name, g, outputs, n_outputs, threads, batch, out, err);
}

int engine_batch(const engine *e)
{
    return e->g->tensors[e->g->input].dims[0];
}

float *engine_input(engine *e, engine_shape *shape)
{
    if (shape) {
        const engine_graph_tensor *t = &e->g->tensors[e->g->input];
        shape->rank = t->rank;
        memcpy(shape->dims, t->dims, sizeof shape->dims);
    }
    return e->input;
}

cr_status engine_run(engine *e, cr_err *err)
{
    return e->ops->run(e->ctx, err);
}

const float *engine_output(const engine *e, const char *name, engine_shape *shape)
{
    if (e == NULL || name == NULL)
        return NULL;
    for (int i = 0; i < e->g->n_outputs; i++) {
        const engine_graph_tensor *t = &e->g->tensors[e->g->outputs[i]];
        if (strcmp(t->name, name) != 0)
            continue;
        if (shape) {
            shape->rank = t->rank;
            memset(shape->dims, 0, sizeof shape->dims);
            memcpy(shape->dims, t->dims, (size_t)t->rank * sizeof(int));
        }
        return e->outputs[i];
    }
    return NULL;
}

const char *engine_name(const engine *e)
{
    return e->ops->name;
}

const engine_graph *engine_get_graph(const engine *e)
{
    return e->g;
}

void engine_destroy(engine *e)
{
    if (e == NULL)
        return;
    if (e->ctx)
        e->ops->destroy(e->ctx);
    for (int i = 0; i < ENGINE_GRAPH_MAX_INPUTS; i++)
        cr_free(e->outputs[i]);
    cr_free(e->input);
    engine_graph_free(e->g);
    cr_free(e);
}
