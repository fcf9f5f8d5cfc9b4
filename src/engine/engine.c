/*
 * engine.c -- pose_engine: model file -> checked graph -> pruned graph -> backend.
 *
 * The engine owns the graph and the input/output buffers; the backend (engine_ref.c,
 * engine_xnnpack.c) computes into them.  See engine.h for the contract.
 */
#include "engine/engine_int.h"

#include "core/mem.h"
#include "engine/tflite.h"

#include <string.h>

struct pose_engine {
    const pose_engine_ops *ops;
    void *ctx;
    graph *g;
    float *input;
    float *outputs[GRAPH_MAX_INPUTS];
};

static const pose_engine_ops *const backends[] = {
    &pose_engine_ref_ops,
#ifdef CREASE_HAVE_XNNPACK
    &pose_engine_xnnpack_ops,
#endif
};

static const char *const backend_names[] = {
    "ref",
#ifdef CREASE_HAVE_XNNPACK
    "xnnpack",
#endif
    NULL,
};

const char *const *pose_engine_available(void)
{
    return backend_names;
}

static float *alloc_buffer(size_t count)
{
    return cr_calloc(1, count * sizeof(float) + POSE_ENGINE_SLACK);
}

cr_status pose_engine_create_graph(const char *engine_name, graph *g, const char *const *outputs,
                                   int n_outputs, int threads, pose_engine **out, cr_err *err)
{
    *out = NULL;
    cr_status st;
    const pose_engine_ops *ops = NULL;
    for (size_t i = 0; engine_name && i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, engine_name) == 0)
            ops = backends[i];
    if (ops == NULL || threads < 1 || n_outputs < 0 || (n_outputs > 0 && outputs == NULL)) {
        graph_free(g);
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: unknown engine '%s' or bad arguments",
                          engine_name ? engine_name : "(null)");
    }
    pose_engine *e = cr_calloc(1, sizeof *e);
    if (e == NULL) {
        graph_free(g);
        return cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
    }
    e->ops = ops;
    e->g = g;
    if ((st = graph_prune(g, outputs, n_outputs, err)))
        goto fail;
    e->input = alloc_buffer(g->tensors[g->input].count);
    if (e->input == NULL)
        goto nomem;
    for (int i = 0; i < g->n_outputs; i++)
        if ((e->outputs[i] = alloc_buffer(g->tensors[g->outputs[i]].count)) == NULL)
            goto nomem;
    pose_engine_io io = {e->input, e->outputs};
    if ((st = ops->load(g, &io, threads, &e->ctx, err)))
        goto fail;
    *out = e;
    return CR_OK;
nomem:
    st = cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
fail:
    pose_engine_destroy(e);
    return st;
}

cr_status pose_engine_create(const char *engine_name, const char *model_path,
                             const char *const *outputs, int n_outputs, int threads,
                             pose_engine **out, cr_err *err)
{
    *out = NULL;
    if (model_path == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: no model path");
    tflite_model *m;
    graph *g;
    cr_status st = tflite_model_load(model_path, &m, err);
    if (st)
        return st;
    st = graph_from_tflite(m, &g, err);
    tflite_model_free(m);
    if (st) {
        cr_err_set(err, st, "pose engine: %s", model_path);
        return st;
    }
    return pose_engine_create_graph(engine_name, g, outputs, n_outputs, threads, out, err);
}

float *pose_engine_input(pose_engine *e, pose_shape *shape)
{
    if (shape) {
        const graph_tensor *t = &e->g->tensors[e->g->input];
        shape->rank = t->rank;
        memcpy(shape->dims, t->dims, sizeof shape->dims);
    }
    return e->input;
}

cr_status pose_engine_run(pose_engine *e, cr_err *err)
{
    return e->ops->run(e->ctx, err);
}

const float *pose_engine_output(const pose_engine *e, const char *name, pose_shape *shape)
{
    if (e == NULL || name == NULL)
        return NULL;
    for (int i = 0; i < e->g->n_outputs; i++) {
        const graph_tensor *t = &e->g->tensors[e->g->outputs[i]];
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

const char *pose_engine_name(const pose_engine *e)
{
    return e->ops->name;
}

const graph *pose_engine_graph(const pose_engine *e)
{
    return e->g;
}

void pose_engine_destroy(pose_engine *e)
{
    if (e == NULL)
        return;
    if (e->ctx)
        e->ops->destroy(e->ctx);
    for (int i = 0; i < GRAPH_MAX_INPUTS; i++)
        cr_free(e->outputs[i]);
    cr_free(e->input);
    graph_free(e->g);
    cr_free(e);
}
