/*
 * engine.c -- the engine handle: model file -> checked graph (engine_model) -> the
 * engine's pruned share of it -> backend.
 *
 * The engine owns its graph and the input/output buffers, and holds a reference to the
 * loaded model whose constants that graph borrows; the backend (engine_ref.c,
 * engine_cpu.c, engine_xnnpack.c, engine_cuda.cu) computes into the buffers.  See
 * engine.h for the contract.
 */
#include "engine/cpu_kernels.h"
#include "engine/engine_int.h"

#include "core/mem.h"
#include "engine/tflite.h"

#include <stdatomic.h>
#include <string.h>

struct engine {
    const engine_ops *ops;
    void *ctx;
    engine_graph *g;     /* pruned; its constants are `model`'s when model != NULL */
    engine_model *model; /* a reference: the constants' owner (NULL: g owns them) */
    float *input;
    float *outputs[ENGINE_GRAPH_MAX_INPUTS];
};

/* A loaded model: the checked, unpruned graph, never changed after load (engines prune
 * and widen their own shares of it), so threads may read it at once.  Freed with its
 * last reference: the loader's and one per engine made from it. */
struct engine_model {
    engine_graph *g;
    char *path; /* for messages */
    atomic_int refs;
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

cr_status engine_model_load(const char *path, engine_model **out, cr_err *err)
{
    *out = NULL;
    if (path == NULL)
        return cr_err_set(err, CR_ERR_INVALID, "pose engine: no model path");
    engine_model *m = cr_calloc(1, sizeof *m);
    if (m == NULL || (m->path = cr_strdup(path)) == NULL) {
        cr_free(m);
        return cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
    }
    atomic_init(&m->refs, 1);
    engine_tflite_model *t;
    cr_status st = engine_tflite_model_load(path, &t, err);
    if (st == CR_OK) {
        st = engine_graph_from_tflite(t, &m->g, err);
        engine_tflite_model_free(t);
        if (st)
            cr_err_set(err, st, "pose engine: %s", path);
    }
    if (st) {
        engine_model_free(m);
        return st;
    }
    *out = m;
    return CR_OK;
}

engine_model *engine_model_ref(engine_model *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void engine_model_free(engine_model *m)
{
    if (m == NULL || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    engine_graph_free(m->g);
    cr_free(m->path);
    cr_free(m);
}

cr_status engine_create_from(const char *name, engine_model *m, const char *const *outputs,
                             int n_outputs, int threads, int batch, engine **out, cr_err *err)
{
    *out = NULL;
    engine_graph *g;
    cr_status st = engine_graph_share(m->g, &g, err);
    if (st)
        return st;
    st = engine_create_graph_batch(name, g, outputs, n_outputs, threads, batch, out, err);
    if (st == CR_OK) /* the engine reads the model's constants from now on */
        (*out)->model = engine_model_ref(m);
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
    engine_model *m;
    cr_status st = engine_model_load(model_path, &m, err);
    if (st)
        return st;
    st = engine_create_from(name, m, outputs, n_outputs, threads, batch, out, err);
    engine_model_free(m); /* the engine holds its own reference */
    return st;
}

cr_status engine_pointwise_from(const engine_model *m, const char *output, engine_pointwise *out,
                                cr_err *err)
{
    memset(out, 0, sizeof *out);
    const engine_graph *g = m->g;
    cr_status st = CR_OK;
    int ti = engine_graph_find(g, output);
    const engine_graph_node *n = NULL;
    if (ti < 0) {
        st = cr_err_set(err, CR_ERR_INVALID, "pose engine: %s: no tensor %s", m->path, output);
        goto done;
    }
    if (g->tensors[ti].producer >= 0)
        n = &g->nodes[g->tensors[ti].producer];
    const engine_graph_tensor *x = n ? &g->tensors[n->in[0]] : NULL;
    const engine_graph_tensor *f = n ? &g->tensors[n->in[1]] : NULL;
    if (n == NULL || n->op != ENGINE_GRAPH_CONV2D || n->kh != 1 || n->kw != 1 || n->stride_h != 1 ||
        n->stride_w != 1 || n->pad_top || n->pad_bottom || n->pad_left || n->pad_right ||
        x->rank != 4 || x->data != NULL || f->data == NULL) {
        st = cr_err_set(err, CR_ERR_UNSUPPORTED,
                        "pose engine: %s: %s is not made by a 1x1 convolution", m->path, output);
        goto done;
    }
    /* graph.c checked the operands: filter [O,1,1,I] with I = x's channels, bias [O] */
    out->c_out = f->dims[0];
    out->c_in = f->dims[3];
    out->input = cr_strdup(x->name);
    out->weights = cr_malloc((size_t)out->c_out * out->c_in * sizeof(float));
    out->bias = cr_calloc((size_t)out->c_out, sizeof(float));
    if (out->input == NULL || out->weights == NULL || out->bias == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "pose engine: out of memory");
        goto done;
    }
    memcpy(out->weights, f->data, (size_t)out->c_out * out->c_in * sizeof(float));
    if (n->in[2] >= 0)
        memcpy(out->bias, g->tensors[n->in[2]].data, (size_t)out->c_out * sizeof(float));
    out->lo = n->act_min;
    out->hi = n->act_max;
done:
    if (st)
        engine_pointwise_free(out);
    return st;
}

float engine_pointwise_at(const engine_pointwise *p, const float *x, int o)
{
    /* eight partial sums, so that the adds do not wait on one another: as one chain, a
     * 48-long product waits ~4 cycles an add, and a frame takes ~2k of them */
    const float *w = p->weights + (size_t)o * p->c_in;
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= p->c_in; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += x[i + j] * w[i + j];
    for (; i < p->c_in; i++)
        s[0] += x[i] * w[i];
    float y = p->bias[o] + (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
    return y < p->lo ? p->lo : y > p->hi ? p->hi : y;
}

void engine_pointwise_free(engine_pointwise *p)
{
    if (p == NULL)
        return;
    cr_free(p->input);
    cr_free(p->weights);
    cr_free(p->bias);
    memset(p, 0, sizeof *p);
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
    engine_model_free(e->model); /* after the graph that borrows from it */
    cr_free(e);
}
