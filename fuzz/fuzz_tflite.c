/*
 * fuzz_tflite.c -- the TFLite reader, the graph built from what it read, pruning, and
 * the reference engine on the graphs that pass the checks.
 *
 * Invariants checked (tflite.h, graph.h, engine.h):
 *   - parse: a status of the documented set and a message, *out NULL on failure; on
 *     success every tensor's rank, dims, constant bytes (inside the input) and sparse
 *     index vectors, and every operator's tensor indices, are in range;
 *   - graph: the same status contract; on success the input is [1,H,W,C], every node
 *     reads only constants, the input or tensors produced by an earlier node, and the
 *     declared outputs are produced;
 *   - prune: asking for a constant is CR_ERR_INVALID and leaves the graph unchanged; a
 *     pruned graph keeps the dataflow order, drops no value a kept node reads, and
 *     pruning it again changes nothing;
 *   - engine: a graph small enough to compute quickly (FUZZ_MAX_WORK, FUZZ_MAX_ELEMS)
 *     runs through the reference engine, whose header says the checks are all it needs.
 */
#include "fuzz.h"

#include "core/log.h"
#include "core/mem.h"
#include "engine/engine_int.h"
#include "engine/graph.h"
#include "engine/tflite.h"

#include <string.h>

/* Bounds for the engine run (engine_graph_work, elements of all tensors): a few
 * milliseconds per input at most. */
#define FUZZ_MAX_WORK 2e5
#define FUZZ_MAX_ELEMS ((size_t)1 << 18)

FUZZ_INIT_QUIET

static int inside(const uint8_t *p, size_t len, const uint8_t *data, size_t size)
{
    return p >= data && p <= data + size && len <= (size_t)(data + size - p);
}

static void check_status(cr_status st, const cr_err *err, const char *what)
{
    FUZZ_CHECK(st == CR_ERR_FORMAT || st == CR_ERR_UNSUPPORTED || st == CR_ERR_LIMIT ||
                   st == CR_ERR_NOMEM,
               "%s: status %s (%s)", what, cr_status_str(st), cr_err_msg(err));
    FUZZ_CHECK(err->msg[0] != '\0', "%s: an error without a message", what);
}

static void check_model(const engine_tflite_model *m, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(m->n_tensors >= 1 && m->tensors != NULL, "%d tensors", m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const engine_tflite_tensor *t = &m->tensors[i];
        FUZZ_CHECK(t->name != NULL, "tensor %d has no name", i);
        FUZZ_CHECK(t->rank >= 0 && t->rank <= ENGINE_TFLITE_MAX_RANK, "tensor %d rank %d", i,
                   t->rank);
        for (int d = 0; d < t->rank; d++)
            FUZZ_CHECK(t->dims[d] >= 1, "tensor %d dim %d = %d", i, d, t->dims[d]);
        FUZZ_CHECK((t->data == NULL) == (t->size == 0), "tensor %d data/size", i);
        FUZZ_CHECK(t->data == NULL || inside(t->data, t->size, data, size),
                   "tensor %d constant outside the file", i);
        const engine_tflite_sparsity *s = t->sparsity;
        if (s == NULL)
            continue;
        FUZZ_CHECK(s->n_order >= 0 && s->n_order <= ENGINE_TFLITE_MAX_RANK && s->n_dims >= 0 &&
                       s->n_dims <= ENGINE_TFLITE_MAX_RANK,
                   "tensor %d sparsity counts", i);
        for (int d = 0; d < s->n_dims; d++) {
            const engine_tflite_dim_meta *dm = &s->dims[d];
            if (!dm->sparse_csr)
                continue;
            const engine_tflite_index_vec *v[2] = {&dm->segments, &dm->indices};
            for (int k = 0; k < 2; k++)
                FUZZ_CHECK(
                    v[k]->data != NULL &&
                        (v[k]->elem_size == 1 || v[k]->elem_size == 2 || v[k]->elem_size == 4) &&
                        v[k]->count <= size &&
                        inside(v[k]->data, v[k]->count * (size_t)v[k]->elem_size, data, size),
                    "tensor %d sparse index vector outside the file", i);
        }
    }
    FUZZ_CHECK(m->n_ops >= 0 && (m->n_ops == 0 || m->ops != NULL), "%d operators", m->n_ops);
    for (int i = 0; i < m->n_ops; i++) {
        const engine_tflite_op *o = &m->ops[i];
        FUZZ_CHECK(o->n_inputs >= 0 && o->n_inputs <= ENGINE_TFLITE_MAX_OP_IO &&
                       o->n_outputs >= 0 && o->n_outputs <= ENGINE_TFLITE_MAX_OP_IO,
                   "operator %d operand counts", i);
        for (int k = 0; k < o->n_inputs; k++)
            FUZZ_CHECK(o->inputs[k] >= -1 && o->inputs[k] < m->n_tensors,
                       "operator %d input %d = %d", i, k, o->inputs[k]);
        for (int k = 0; k < o->n_outputs; k++)
            FUZZ_CHECK(o->outputs[k] >= 0 && o->outputs[k] < m->n_tensors,
                       "operator %d output %d = %d", i, k, o->outputs[k]);
        FUZZ_CHECK(o->opt.n_new_shape >= -1 && o->opt.n_new_shape <= ENGINE_TFLITE_MAX_NEW_SHAPE,
                   "operator %d reshape rank", i);
    }
    FUZZ_CHECK(m->n_inputs >= 0 && m->n_inputs <= ENGINE_TFLITE_MAX_OP_IO && m->n_outputs >= 0 &&
                   m->n_outputs <= ENGINE_TFLITE_MAX_OP_IO,
               "model io counts");
    for (int k = 0; k < m->n_inputs; k++)
        FUZZ_CHECK(m->inputs[k] >= 0 && m->inputs[k] < m->n_tensors, "model input %d", k);
    for (int k = 0; k < m->n_outputs; k++)
        FUZZ_CHECK(m->outputs[k] >= 0 && m->outputs[k] < m->n_tensors, "model output %d", k);
}

/* 1 when tensor t may be read by node ni: a constant (values kept), the input, or
 * produced by an earlier node. */
static int readable(const engine_graph *g, int t, int ni)
{
    const engine_graph_tensor *x = &g->tensors[t];
    return x->data != NULL || t == g->input || (x->producer >= 0 && x->producer < ni);
}

static void check_graph(const engine_graph *g, size_t *total_elems)
{
    FUZZ_CHECK(g->input >= 0 && g->input < g->n_tensors, "input %d", g->input);
    const engine_graph_tensor *in = &g->tensors[g->input];
    FUZZ_CHECK(in->rank == 4 && in->dims[0] == 1 && in->data == NULL, "input shape");
    size_t total = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const engine_graph_tensor *t = &g->tensors[i];
        size_t c = 1;
        FUZZ_CHECK(t->rank >= 0 && t->rank <= ENGINE_GRAPH_MAX_RANK, "tensor %d rank", i);
        for (int d = 0; d < t->rank; d++) {
            FUZZ_CHECK(t->dims[d] >= 1, "tensor %d dim %d", i, d);
            c *= (size_t)t->dims[d];
        }
        FUZZ_CHECK(c == t->count, "tensor %d count %zu, shape says %zu", i, t->count, c);
        total += t->count;
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const engine_graph_node *n = &g->nodes[ni];
        FUZZ_CHECK(n->out >= 0 && n->out < g->n_tensors && g->tensors[n->out].producer == ni,
                   "node %d output %d", ni, n->out);
        FUZZ_CHECK(n->n_in >= 1 && n->n_in <= ENGINE_GRAPH_MAX_INPUTS, "node %d n_in", ni);
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t == -1 && k == 2 &&
                (n->op == ENGINE_GRAPH_CONV2D || n->op == ENGINE_GRAPH_DWCONV2D))
                continue;
            FUZZ_CHECK(t >= 0 && t < g->n_tensors && readable(g, t, ni),
                       "node %d (%s) reads tensor %d before it exists", ni,
                       engine_graph_op_name(n->op), t);
        }
    }
    FUZZ_CHECK(g->n_outputs >= 1 && g->n_outputs <= ENGINE_GRAPH_MAX_INPUTS, "%d outputs",
               g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        FUZZ_CHECK(t >= 0 && t < g->n_tensors && g->tensors[t].producer >= 0 &&
                       g->tensors[t].producer < g->n_nodes,
                   "output %d (tensor %d) is not computed", i, t);
    }
    *total_elems = total;
}

/* Prunes as a caller would: to the model's outputs (n = 0) or to one or two computed
 * tensors chosen by `pick`. */
static void prune(engine_graph *g, unsigned pick)
{
    cr_err err = {0};
    /* A constant is not an output: refused, graph unchanged. */
    for (int i = 0; i < g->n_tensors; i++) {
        if (g->tensors[i].data == NULL)
            continue;
        int nodes = g->n_nodes, outs = g->n_outputs;
        const char *name = g->tensors[i].name;
        cr_status st = engine_graph_prune(g, &name, 1, &err);
        FUZZ_CHECK(st == CR_ERR_INVALID || (st == CR_OK && engine_graph_find(g, name) != i),
                   "pruning to constant %s: %s", name, cr_status_str(st));
        if (st == CR_OK) /* an earlier tensor of the same name is computed: fine */
            return;
        FUZZ_CHECK(g->n_nodes == nodes && g->n_outputs == outs,
                   "a refused prune changed the graph");
        cr_err_clear(&err);
        break;
    }
    if (g->n_nodes == 0 || (pick & 1) == 0) {
        FUZZ_CHECK(engine_graph_prune(g, NULL, 0, &err) == CR_OK, "prune: %s", cr_err_msg(&err));
        return;
    }
    const char *names[2];
    int n = 0;
    names[n++] = g->tensors[g->nodes[(pick >> 1) % (unsigned)g->n_nodes].out].name;
    const char *second = g->tensors[g->nodes[(pick >> 9) % (unsigned)g->n_nodes].out].name;
    if (strcmp(second, names[0]) != 0)
        names[n++] = second;
    /* Names resolve to the first tensor so named: when that one is a constant or never
     * computed (a model may repeat names), the prune is refused and the graph is
     * unchanged; then prune as a caller without names would. */
    int nodes = g->n_nodes;
    cr_status st = engine_graph_prune(g, names, n, &err);
    FUZZ_CHECK(st == CR_OK || st == CR_ERR_INVALID, "prune to named: %s", cr_status_str(st));
    if (st == CR_OK) {
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(strcmp(g->tensors[g->outputs[i]].name, names[i]) == 0, "output %d order", i);
        return;
    }
    FUZZ_CHECK(g->n_nodes == nodes, "a refused prune changed the graph");
    cr_err_clear(&err);
    FUZZ_CHECK(engine_graph_prune(g, NULL, 0, &err) == CR_OK, "prune: %s", cr_err_msg(&err));
}

static void run_engine(engine_graph *g, const uint8_t *data, size_t size)
{
    engine *e = NULL;
    cr_err err = {0};
    cr_status st = engine_create_graph("ref", g, NULL, 0, 1, &e, &err); /* takes g */
    FUZZ_CHECK(st == CR_OK || st == CR_ERR_NOMEM, "engine_create_graph: %s", cr_err_msg(&err));
    if (st != CR_OK)
        return;
    engine_shape sh;
    float *in = engine_input(e, &sh);
    size_t count = (size_t)sh.dims[0] * sh.dims[1] * sh.dims[2] * sh.dims[3];
    for (size_t i = 0; i < count; i++)
        in[i] = size ? (float)data[i % size] / 255.0f : 0.0f;
    st = engine_run(e, &err);
    FUZZ_CHECK(st == CR_OK, "engine_run: %s", cr_err_msg(&err));
    engine_destroy(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    engine_tflite_model *m = (engine_tflite_model *)&m; /* must be overwritten */
    cr_err err = {0};
    cr_status st = engine_tflite_model_parse(data, size, &m, &err);
    if (st != CR_OK) {
        FUZZ_CHECK(m == NULL, "a failed parse left a model");
        check_status(st, &err, "parse");
        return 0;
    }
    check_model(m, data, size);

    engine_graph *g = (engine_graph *)&g;
    cr_err_clear(&err);
    st = engine_graph_from_tflite(m, &g, &err);
    engine_tflite_model_free(m); /* the graph owns copies of everything */
    if (st != CR_OK) {
        FUZZ_CHECK(g == NULL, "a failed graph build left a graph");
        check_status(st, &err, "graph");
        return 0;
    }
    size_t total;
    check_graph(g, &total);
    unsigned pick = size >= 2 ? (unsigned)data[size - 1] | (unsigned)data[size - 2] << 8 : 0;
    prune(g, pick);
    check_graph(g, &total);
    int nodes = g->n_nodes;
    FUZZ_CHECK(engine_graph_prune(g, NULL, 0, &err) == CR_OK && g->n_nodes == nodes,
               "pruning a pruned graph again changed it");
    if (engine_graph_work(g) <= FUZZ_MAX_WORK && total <= FUZZ_MAX_ELEMS)
        run_engine(g, data, size); /* frees g */
    else
        engine_graph_free(g);
    return 0;
}
