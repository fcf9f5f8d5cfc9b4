/*
 * graph.c -- building a checked float32 graph from an engine_tflite_model, and pruning it.
 */
#include "engine/graph.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

/* Largest tensor accepted: 2^26 floats (256 MiB); the largest pose tensor has
 * 1,622,400 floats (heavy, measured with engine_graph_from_tflite). */
#define GRAPH_MAX_ELEMS ((size_t)1 << 26)
/* Largest graph accepted: 2^28 activation floats in all (1 GiB; heavy, the largest pose
 * model, has 34.7 M, measured) and 1e11 steps of window operators (engine_graph_work:
 * heavy has 1.9e9 multiply-accumulates, POSE-NOTES.md, and pools of 3x3 at most), so a
 * hostile file cannot make an engine allocate or compute without bound.  Pooling
 * counts too: its window comes from the options, not from a weight tensor, so nothing
 * else bounds it. */
#define GRAPH_MAX_TOTAL_ELEMS ((size_t)1 << 28)
#define GRAPH_MAX_WORK 1e11
/* The widest batch engine_graph_set_batch makes (the GPU engine's largest, DESIGN.md §9). */
#define GRAPH_MAX_BATCH 1024
/* Activation floats of a whole batch: 2^33 (32 GiB).  The batch is the caller's choice,
 * not the file's (whose items stay under GRAPH_MAX_TOTAL_ELEMS); it is sized for the
 * GPU engine, which holds every activation of the batch on the device: the full
 * landmark model (pipeline outputs) has 11.2 M floats per item, 2.9 G at batch 256
 * (measured with bench_engine_gpu dump); an H200 has 141 GB. */
#define GRAPH_MAX_BATCH_ELEMS ((size_t)1 << 33)

const char *engine_graph_op_name(engine_graph_op op)
{
    switch (op) {
    case ENGINE_GRAPH_CONV2D:
        return "conv2d";
    case ENGINE_GRAPH_DWCONV2D:
        return "dwconv2d";
    case ENGINE_GRAPH_ADD:
        return "add";
    case ENGINE_GRAPH_MAX_POOL:
        return "max_pool";
    case ENGINE_GRAPH_PAD:
        return "pad";
    case ENGINE_GRAPH_RESIZE_BILINEAR:
        return "resize_bilinear";
    case ENGINE_GRAPH_DEPTH_TO_SPACE:
        return "depth_to_space";
    case ENGINE_GRAPH_RESHAPE:
        return "reshape";
    case ENGINE_GRAPH_CONCAT:
        return "concat";
    case ENGINE_GRAPH_LOGISTIC:
        return "logistic";
    case ENGINE_GRAPH_OP_COUNT:
        break;
    }
    return "?";
}

engine_graph *engine_graph_new(void)
{
    engine_graph *g = cr_calloc(1, sizeof *g);
    if (g)
        g->input = -1;
    return g;
}

void engine_graph_free(engine_graph *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < g->n_tensors; i++) {
        cr_free(g->tensors[i].name);
        if (!g->borrowed)
            cr_free(g->tensors[i].data);
    }
    cr_free(g->tensors);
    cr_free(g->nodes);
    cr_free(g);
}

static size_t pow2_at_least(int n)
{
    size_t c = 1;
    while (c < (size_t)n)
        c *= 2;
    return c;
}

cr_status engine_graph_share(const engine_graph *g, engine_graph **out, cr_err *err)
{
    *out = NULL;
    engine_graph *c = engine_graph_new();
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
    *c = *g;
    c->borrowed = 1;
    c->n_tensors = 0;
    /* room as the appenders leave it (a power of two), so that they still work */
    c->tensors = cr_calloc(pow2_at_least(g->n_tensors), sizeof *c->tensors);
    c->nodes = cr_malloc(pow2_at_least(g->n_nodes) * sizeof *c->nodes);
    if (c->tensors == NULL || c->nodes == NULL)
        goto nomem;
    for (int i = 0; i < g->n_tensors; i++, c->n_tensors++) {
        c->tensors[i] = g->tensors[i];
        if ((c->tensors[i].name = cr_strdup(g->tensors[i].name)) == NULL)
            goto nomem;
    }
    memcpy(c->nodes, g->nodes, (size_t)g->n_nodes * sizeof *c->nodes);
    *out = c;
    return CR_OK;
nomem:
    engine_graph_free(c);
    return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
}

/* Element count of a shape; 0 when a dimension is < 1 or the count exceeds GRAPH_MAX_ELEMS. */
static size_t shape_count(int rank, const int *dims)
{
    size_t c = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1 || (size_t)dims[i] > GRAPH_MAX_ELEMS / c)
            return 0;
        c *= (size_t)dims[i];
    }
    return c;
}

int engine_graph_add_tensor(engine_graph *g, const char *name, int rank, const int *dims,
                            const float *data, cr_err *err)
{
    if (rank < 0 || rank > ENGINE_GRAPH_MAX_RANK) {
        cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: tensor %s has rank %d", name, rank);
        return -1;
    }
    size_t count = shape_count(rank, dims);
    if (count == 0) {
        cr_err_set(err, CR_ERR_LIMIT, "graph: tensor %s: empty or too large shape", name);
        return -1;
    }
    if (data && g->borrowed) { /* it would not be freed with the graph */
        cr_err_set(err, CR_ERR_INVALID, "graph: tensor %s: a shared graph takes no constants",
                   name);
        return -1;
    }
    /* Grow by doubling: amortised O(1) appends. */
    if ((g->n_tensors & (g->n_tensors - 1)) == 0) {
        size_t cap = g->n_tensors ? 2 * (size_t)g->n_tensors : 1;
        engine_graph_tensor *t = cr_realloc(g->tensors, cap * sizeof *t);
        if (t == NULL) {
            cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
            return -1;
        }
        g->tensors = t;
    }
    engine_graph_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = cr_strdup(name);
    if (data) {
        t->data = cr_malloc(count * sizeof(float));
        if (t->data)
            memcpy(t->data, data, count * sizeof(float));
    }
    if (t->name == NULL || (data && t->data == NULL)) {
        cr_free(t->name);
        cr_free(t->data);
        cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
        return -1;
    }
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof(int));
    t->count = count;
    t->producer = -1;
    return g->n_tensors++;
}

int engine_graph_add_node(engine_graph *g, const engine_graph_node *node, cr_err *err)
{
    if ((g->n_nodes & (g->n_nodes - 1)) == 0) {
        size_t cap = g->n_nodes ? 2 * (size_t)g->n_nodes : 1;
        engine_graph_node *n = cr_realloc(g->nodes, cap * sizeof *n);
        if (n == NULL) {
            cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
            return -1;
        }
        g->nodes = n;
    }
    g->nodes[g->n_nodes] = *node;
    return g->n_nodes++;
}

int engine_graph_find(const engine_graph *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return i;
    return -1;
}

double engine_graph_macs(const engine_graph *g)
{
    double macs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const engine_graph_node *n = &g->nodes[i];
        const engine_graph_tensor *o = &g->tensors[n->out];
        if (n->op == ENGINE_GRAPH_CONV2D)
            macs += (double)o->count * n->kh * n->kw * g->tensors[n->in[0]].dims[3];
        else if (n->op == ENGINE_GRAPH_DWCONV2D)
            macs += (double)o->count * n->kh * n->kw;
    }
    return macs;
}

double engine_graph_work(const engine_graph *g)
{
    double work = engine_graph_macs(g);
    for (int i = 0; i < g->n_nodes; i++) {
        const engine_graph_node *n = &g->nodes[i];
        if (n->op == ENGINE_GRAPH_MAX_POOL)
            work += (double)g->tensors[n->out].count * n->kh * n->kw;
    }
    return work;
}

/* ---- checking ---------------------------------------------------------------- */

static int same_shape(const engine_graph_tensor *a, const engine_graph_tensor *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, (size_t)a->rank * sizeof(int)) == 0;
}

/* 1 when tensor `t` is an activation usable by node `ni` (the input or produced earlier). */
static int is_ready(const engine_graph *g, int t, int ni)
{
    const engine_graph_tensor *x = &g->tensors[t];
    if (x->data)
        return 0;
    return t == g->input || (x->producer >= 0 && x->producer < ni);
}

static int is_const(const engine_graph *g, int t)
{
    return t >= 0 && t < g->n_tensors && g->tensors[t].data != NULL;
}

/* Output size of a window op along one axis, or 0 when it does not fit. */
static int window_out(int in, int k, int s, int before, int after)
{
    if (k < 1 || s < 1 || before < 0 || after < 0 || before >= k || after >= k)
        return 0;
    long span = (long)in + before + after - k;
    return span < 0 ? 0 : (int)(span / s + 1);
}

static cr_status check_node(engine_graph *g, int ni, cr_err *err)
{
    engine_graph_node *n = &g->nodes[ni];
    const char *op = engine_graph_op_name(n->op);
    if ((unsigned)n->op >= ENGINE_GRAPH_OP_COUNT)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: node %d: unknown op", ni);
    if (n->out < 0 || n->out >= g->n_tensors || n->n_in < 1 || n->n_in > ENGINE_GRAPH_MAX_INPUTS)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: node %d (%s): bad operands", ni, op);
    engine_graph_tensor *o = &g->tensors[n->out];
    if (o->data || n->out == g->input || o->producer != -1)
        return cr_err_set(
            err, CR_ERR_FORMAT,
            "graph: node %d (%s): output %s is a constant, the input or produced twice", ni, op,
            o->name);
    for (int i = 0; i < n->n_in; i++) {
        int t = n->in[i];
        int optional = (n->op == ENGINE_GRAPH_CONV2D || n->op == ENGINE_GRAPH_DWCONV2D) && i == 2;
        if (t == -1 && optional)
            continue;
        if (t < 0 || t >= g->n_tensors)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: node %d (%s): bad operand", ni, op);
    }
    const engine_graph_tensor *x = &g->tensors[n->in[0]];
    int want[ENGINE_GRAPH_MAX_RANK] = {0}, want_rank = x->rank;
    memcpy(want, x->dims, sizeof want);
    int first_needs_act = 1;

    switch (n->op) {
    case ENGINE_GRAPH_CONV2D:
    case ENGINE_GRAPH_DWCONV2D: {
        if (n->n_in != 3 || x->rank != 4 || x->dims[0] != 1 || !is_const(g, n->in[1]))
            goto bad;
        const engine_graph_tensor *w = &g->tensors[n->in[1]];
        int dw = n->op == ENGINE_GRAPH_DWCONV2D;
        if (w->rank != 4 ||
            (dw ? (w->dims[0] != 1 || w->dims[3] != x->dims[3]) : (w->dims[3] != x->dims[3])))
            goto bad;
        int oc = dw ? w->dims[3] : w->dims[0];
        if (n->in[2] >= 0) {
            const engine_graph_tensor *b = &g->tensors[n->in[2]];
            if (!is_const(g, n->in[2]) || b->rank != 1 || b->dims[0] != oc)
                goto bad;
        }
        n->kh = w->dims[1];
        n->kw = w->dims[2];
        want[1] = window_out(x->dims[1], n->kh, n->stride_h, n->pad_top, n->pad_bottom);
        want[2] = window_out(x->dims[2], n->kw, n->stride_w, n->pad_left, n->pad_right);
        want[3] = oc;
        break;
    }
    case ENGINE_GRAPH_MAX_POOL:
        if (n->n_in != 1 || x->rank != 4 || x->dims[0] != 1)
            goto bad;
        want[1] = window_out(x->dims[1], n->kh, n->stride_h, n->pad_top, n->pad_bottom);
        want[2] = window_out(x->dims[2], n->kw, n->stride_w, n->pad_left, n->pad_right);
        break;
    case ENGINE_GRAPH_ADD:
        if (n->n_in != 2 || !same_shape(x, &g->tensors[n->in[1]]))
            goto bad;
        first_needs_act = 0;
        for (int i = 0; i < 2; i++)
            if (!is_const(g, n->in[i]) && !is_ready(g, n->in[i], ni))
                goto bad;
        break;
    case ENGINE_GRAPH_PAD:
        if (n->n_in != 1)
            goto bad;
        for (int d = 0; d < x->rank; d++) {
            if (n->pads[d][0] < 0 || n->pads[d][1] < 0 ||
                (long)x->dims[d] + n->pads[d][0] + n->pads[d][1] > (long)GRAPH_MAX_ELEMS)
                goto bad;
            want[d] = x->dims[d] + n->pads[d][0] + n->pads[d][1];
        }
        break;
    case ENGINE_GRAPH_RESIZE_BILINEAR:
        if (n->n_in != 1 || x->rank != 4 || x->dims[0] != 1 || o->rank != 4)
            goto bad;
        if (n->align_corners && n->half_pixel)
            goto bad;
        want[1] = o->dims[1];
        want[2] = o->dims[2];
        /* Align corners scales by (in-1)/(out-1): an output of 1 needs an input of 1. */
        if (n->align_corners &&
            ((want[1] < 2 && x->dims[1] > 1) || (want[2] < 2 && x->dims[2] > 1)))
            goto bad;
        break;
    case ENGINE_GRAPH_DEPTH_TO_SPACE: {
        int b = n->block;
        if (n->n_in != 1 || x->rank != 4 || x->dims[0] != 1 || b < 1 || b > 64 ||
            x->dims[3] % (b * b) != 0)
            goto bad;
        if ((long)x->dims[1] * b > (long)GRAPH_MAX_ELEMS ||
            (long)x->dims[2] * b > (long)GRAPH_MAX_ELEMS)
            goto bad;
        want[1] = x->dims[1] * b;
        want[2] = x->dims[2] * b;
        want[3] = x->dims[3] / (b * b);
        break;
    }
    case ENGINE_GRAPH_RESHAPE:
        if (n->n_in != 1 || o->count != x->count)
            goto bad;
        want_rank = o->rank;
        memcpy(want, o->dims, sizeof want);
        break;
    case ENGINE_GRAPH_CONCAT: {
        if (n->axis < 0 || n->axis >= x->rank)
            goto bad;
        long sum = 0;
        for (int i = 0; i < n->n_in; i++) {
            const engine_graph_tensor *y = &g->tensors[n->in[i]];
            if (y->rank != x->rank)
                goto bad;
            for (int d = 0; d < x->rank; d++)
                if (d != n->axis && y->dims[d] != x->dims[d])
                    goto bad;
            if (!is_const(g, n->in[i]) && !is_ready(g, n->in[i], ni))
                goto bad;
            sum += y->dims[n->axis];
        }
        if (sum > (long)GRAPH_MAX_ELEMS)
            goto bad;
        want[n->axis] = (int)sum;
        first_needs_act = 0;
        break;
    }
    case ENGINE_GRAPH_LOGISTIC:
        if (n->n_in != 1)
            goto bad;
        break;
    case ENGINE_GRAPH_OP_COUNT:
        goto bad;
    }
    if (first_needs_act && !is_ready(g, n->in[0], ni))
        return cr_err_set(err, CR_ERR_FORMAT,
                          "graph: node %d (%s): input %s is not computed before it", ni, op,
                          x->name);
    if (want_rank != o->rank || memcmp(want, o->dims, (size_t)o->rank * sizeof(int)) != 0)
        return cr_err_set(err, CR_ERR_FORMAT,
                          "graph: node %d (%s): output %s has a shape the operator does not make",
                          ni, op, o->name);
    o->producer = ni;
    return CR_OK;
bad:
    return cr_err_set(err, CR_ERR_FORMAT, "graph: node %d (%s): inconsistent operands (output %s)",
                      ni, op, o->name);
}

cr_status engine_graph_check(engine_graph *g, cr_err *err)
{
    if (g->input < 0 || g->input >= g->n_tensors)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: no input");
    const engine_graph_tensor *in = &g->tensors[g->input];
    if (in->rank != 4 || in->dims[0] != 1 || in->data)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: input %s is not [1,H,W,C]", in->name);
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i].producer = -1;
    size_t total = in->count;
    for (int i = 0; i < g->n_nodes; i++) {
        cr_status st = check_node(g, i, err);
        if (st)
            return st;
        total += g->tensors[g->nodes[i].out].count;
        if (total > GRAPH_MAX_TOTAL_ELEMS)
            return cr_err_set(err, CR_ERR_LIMIT, "graph: activations exceed %zu floats",
                              GRAPH_MAX_TOTAL_ELEMS);
    }
    if (engine_graph_work(g) > GRAPH_MAX_WORK)
        return cr_err_set(err, CR_ERR_LIMIT,
                          "graph: more than %.0e multiply-accumulates and pooling comparisons",
                          GRAPH_MAX_WORK);
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        if (t < 0 || t >= g->n_tensors || g->tensors[t].producer < 0)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: output %d is not computed", i);
    }
    return CR_OK;
}

/* ---- from TFLite ------------------------------------------------------------- */

/* IEEE 754 binary16 -> binary32, exact (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp == 0) {
        float f = ldexpf((float)man, -24); /* subnormal: man * 2^-24 */
        return sign ? -f : f;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13; /* rebias 15 -> 127 */
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static float rd_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int32_t rd_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static size_t index_at(const engine_tflite_index_vec *v, size_t i)
{
    const uint8_t *p = v->data + i * (size_t)v->elem_size;
    return v->elem_size == 1 ? p[0] : v->elem_size == 2 ? rd16(p) : (size_t)(uint32_t)rd_i32(p);
}

/* Float value k of a dense constant of type `type` (FLOAT16 or FLOAT32). */
static float value_at(const uint8_t *data, int type, size_t k)
{
    return type == ENGINE_TFLITE_FLOAT16 ? half_to_float(rd16(data + 2 * k)) : rd_f32(data + 4 * k);
}

/* Densifies a sparse constant into `dst`, zeroed by the caller, in the layout the pose
 * models use (POSE-NOTES.md): traversal order identity, no block map, dims 0..r-2
 * DENSE, dim r-1 SPARSE_CSR: dense[row*I + idx[k]] = val[k] for k in [seg[row],
 * seg[row+1]). */
static cr_status densify(const engine_tflite_tensor *t, size_t count, float *dst, cr_err *err)
{
    const engine_tflite_sparsity *s = t->sparsity;
    int r = t->rank;
    if (r < 1 || s->n_block_map != 0 || s->n_order != r || s->n_dims != r)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: tensor %s: sparsity layout", t->name);
    for (int d = 0; d < r; d++) {
        if (s->traversal_order[d] != d || s->dims[d].sparse_csr != (d == r - 1))
            return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: tensor %s: sparsity layout",
                              t->name);
        if (d < r - 1 && s->dims[d].dense_size != t->dims[d])
            return cr_err_set(err, CR_ERR_FORMAT, "graph: tensor %s: sparse dense_size", t->name);
    }
    size_t inner = (size_t)t->dims[r - 1], rows = count / inner;
    const engine_tflite_index_vec *seg = &s->dims[r - 1].segments, *idx = &s->dims[r - 1].indices;
    size_t es = t->type == ENGINE_TFLITE_FLOAT16 ? 2 : 4, nnz = idx->count;
    if (seg->count != rows + 1 || index_at(seg, 0) != 0 || index_at(seg, rows) != nnz ||
        t->size != nnz * es)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: tensor %s: sparse sizes", t->name);
    for (size_t row = 0; row < rows; row++) {
        size_t a = index_at(seg, row), b = index_at(seg, row + 1);
        if (a > b || b > nnz)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: tensor %s: sparse segments", t->name);
        for (size_t k = a; k < b; k++) {
            size_t col = index_at(idx, k);
            if (col >= inner)
                return cr_err_set(err, CR_ERR_FORMAT, "graph: tensor %s: sparse index", t->name);
            dst[row * inner + col] = value_at(t->data, t->type, k);
        }
    }
    return CR_OK;
}

/* Float32 values of a constant tflite tensor (dense or sparse, fp16 or fp32). */
static cr_status const_values(const engine_tflite_tensor *t, size_t count, float **out, cr_err *err)
{
    *out = NULL;
    if (t->type != ENGINE_TFLITE_FLOAT16 && t->type != ENGINE_TFLITE_FLOAT32)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: constant %s has type %d", t->name,
                          t->type);
    /* a sparse constant's zeros come from calloc: fresh pages are zero already, so a
     * large one is not written twice (the detector's 38 sparse constants are ~15 MB) */
    float *v = t->sparsity ? cr_calloc(count, sizeof(float)) : cr_malloc(count * sizeof(float));
    if (v == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
    cr_status st = CR_OK;
    if (t->sparsity) {
        st = densify(t, count, v, err);
    } else if (t->size != count * (t->type == ENGINE_TFLITE_FLOAT16 ? 2 : 4)) {
        st = cr_err_set(err, CR_ERR_FORMAT, "graph: constant %s: %zu bytes for %zu values", t->name,
                        t->size, count);
    } else {
        for (size_t k = 0; k < count; k++)
            v[k] = value_at(t->data, t->type, k);
    }
    if (st) {
        cr_free(v);
        return st;
    }
    *out = v;
    return CR_OK;
}

/* Int32 values of a constant parameter tensor with exactly `n` elements. */
static cr_status int_param(const engine_tflite_model *m, int ti, size_t n, int *dst, cr_err *err)
{
    const engine_tflite_tensor *t = ti >= 0 ? &m->tensors[ti] : NULL;
    size_t count = t ? shape_count(t->rank, t->dims) : 0;
    if (t == NULL || t->type != ENGINE_TFLITE_INT32 || t->data == NULL || t->sparsity ||
        count != n || t->size != 4 * n)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: parameter tensor %d is not %zu int32 values",
                          ti, n);
    for (size_t i = 0; i < n; i++)
        dst[i] = rd_i32(t->data + 4 * i);
    return CR_OK;
}

static cr_status set_activation(int act, engine_graph_node *n, cr_err *err)
{
    switch (act) {
    case ENGINE_TFLITE_ACT_NONE:
        n->act_min = -INFINITY;
        n->act_max = INFINITY;
        return CR_OK;
    case ENGINE_TFLITE_ACT_RELU:
        n->act_min = 0.0f;
        n->act_max = INFINITY;
        return CR_OK;
    case ENGINE_TFLITE_ACT_RELU_N1_TO_1:
        n->act_min = -1.0f;
        n->act_max = 1.0f;
        return CR_OK;
    case ENGINE_TFLITE_ACT_RELU6:
        n->act_min = 0.0f;
        n->act_max = 6.0f;
        return CR_OK;
    }
    return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: fused activation %d", act);
}

/* TensorFlow's padding rule for one axis. */
static cr_status set_padding(int padding, int in, int k, int s, int *before, int *after,
                             cr_err *err)
{
    if (s < 1 || s > 64 || k < 1)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: stride %d or window %d", s, k);
    if (padding == ENGINE_TFLITE_PADDING_VALID) {
        *before = *after = 0;
    } else if (padding == ENGINE_TFLITE_PADDING_SAME) {
        long out = ((long)in + s - 1) / s;
        long total = (out - 1) * s + k - in;
        if (total < 0)
            total = 0;
        *before = (int)(total / 2);
        *after = (int)(total - total / 2);
    } else {
        return cr_err_set(err, CR_ERR_FORMAT, "graph: padding type %d", padding);
    }
    return CR_OK;
}

/* 1 when operator `oi` is the only reader of tensor `t`: no other operator takes it as an
 * input and it is not one of the model's outputs. */
static int sole_reader(const engine_tflite_model *m, int t, int oi)
{
    for (int i = 0; i < m->n_outputs; i++)
        if (m->outputs[i] == t)
            return 0;
    for (int i = 0; i < m->n_ops; i++)
        for (int k = 0; k < m->ops[i].n_inputs; k++)
            if (m->ops[i].inputs[k] == t && i != oi)
                return 0;
    return 1;
}

static cr_status translate_op(const engine_tflite_model *m, engine_graph *g,
                              const engine_tflite_op *op, int oi, cr_err *err)
{
    engine_graph_node n;
    memset(&n, 0, sizeof n);
    n.act_min = -INFINITY;
    n.act_max = INFINITY;
    const engine_tflite_options *o = &op->opt;
    cr_status st = CR_OK;
    if (op->n_outputs != 1 || op->n_inputs < 1)
        return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d (%s): operand counts", oi,
                          engine_tflite_op_name(op->code));
    for (int i = 0; i < op->n_inputs; i++)
        if (op->inputs[i] < 0 && !(i == 2 && (op->code == ENGINE_TFLITE_OP_CONV_2D ||
                                              op->code == ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D)))
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: missing input", oi);
    n.out = op->outputs[0];
    n.in[0] = op->inputs[0];
    n.n_in = 1;
    const engine_graph_tensor *x = &g->tensors[n.in[0]];

    switch (op->code) {
    case ENGINE_TFLITE_OP_DEQUANTIZE:
    case ENGINE_TFLITE_OP_DENSIFY: {
        /* Folded at load: the input is a constant already converted to float32. */
        engine_graph_tensor *y = &g->tensors[n.out];
        if (op->n_inputs != 1 || x->data == NULL || y->data != NULL || y->producer != -1 ||
            n.out == g->input || y->count != x->count)
            return cr_err_set(err, CR_ERR_UNSUPPORTED,
                              "graph: operator %d: %s of a non-constant tensor", oi,
                              engine_tflite_op_name(op->code));
        if (sole_reader(m, n.in[0], oi)) {
            /* the usual case (each fp16 weight has one DEQUANTIZE): the values move, so a
             * model's weights are not held twice; the emptied constant is read by nothing
             * and pruned with the rest of what no output needs */
            y->data = g->tensors[n.in[0]].data;
            g->tensors[n.in[0]].data = NULL;
            return CR_OK;
        }
        y->data = cr_malloc(y->count * sizeof(float));
        if (y->data == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
        memcpy(y->data, x->data, y->count * sizeof(float));
        return CR_OK;
    }
    case ENGINE_TFLITE_OP_CONV_2D:
    case ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D: {
        int dw = op->code == ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D;
        if (op->n_inputs != 3 && op->n_inputs != 2)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: operand counts", oi);
        if (o->dilation_h != 1 || o->dilation_w != 1 || (dw && o->depth_multiplier != 1))
            return cr_err_set(err, CR_ERR_UNSUPPORTED,
                              "graph: operator %d: dilation or depth multiplier != 1", oi);
        n.op = dw ? ENGINE_GRAPH_DWCONV2D : ENGINE_GRAPH_CONV2D;
        n.n_in = 3;
        n.in[1] = op->inputs[1];
        n.in[2] = op->n_inputs == 3 ? op->inputs[2] : -1;
        const engine_graph_tensor *w = &g->tensors[n.in[1]];
        if (x->rank != 4 || w->rank != 4)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: conv ranks", oi);
        n.stride_h = o->stride_h;
        n.stride_w = o->stride_w;
        if ((st = set_activation(o->activation, &n, err)) ||
            (st = set_padding(o->padding, x->dims[1], w->dims[1], o->stride_h, &n.pad_top,
                              &n.pad_bottom, err)) ||
            (st = set_padding(o->padding, x->dims[2], w->dims[2], o->stride_w, &n.pad_left,
                              &n.pad_right, err)))
            return st;
        break;
    }
    case ENGINE_TFLITE_OP_MAX_POOL_2D:
        if (x->rank != 4)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: pool rank", oi);
        n.op = ENGINE_GRAPH_MAX_POOL;
        n.kh = o->filter_h;
        n.kw = o->filter_w;
        n.stride_h = o->stride_h;
        n.stride_w = o->stride_w;
        if ((st = set_activation(o->activation, &n, err)) ||
            (st = set_padding(o->padding, x->dims[1], n.kh, n.stride_h, &n.pad_top, &n.pad_bottom,
                              err)) ||
            (st = set_padding(o->padding, x->dims[2], n.kw, n.stride_w, &n.pad_left, &n.pad_right,
                              err)))
            return st;
        break;
    case ENGINE_TFLITE_OP_ADD:
        if (op->n_inputs != 2)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: operand counts", oi);
        n.op = ENGINE_GRAPH_ADD;
        n.n_in = 2;
        n.in[1] = op->inputs[1];
        if ((st = set_activation(o->activation, &n, err)))
            return st;
        break;
    case ENGINE_TFLITE_OP_PAD:
    case ENGINE_TFLITE_OP_PADV2: {
        int pads[2 * ENGINE_GRAPH_MAX_RANK];
        if (op->n_inputs != (op->code == ENGINE_TFLITE_OP_PAD ? 2 : 3) || x->rank < 1)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: operand counts", oi);
        n.op = ENGINE_GRAPH_PAD;
        if ((st = int_param(m, op->inputs[1], 2 * (size_t)x->rank, pads, err)))
            return st;
        for (int d = 0; d < x->rank; d++) {
            n.pads[d][0] = pads[2 * d];
            n.pads[d][1] = pads[2 * d + 1];
        }
        if (op->code == ENGINE_TFLITE_OP_PADV2) {
            const engine_graph_tensor *v = &g->tensors[op->inputs[2]];
            if (v->data == NULL || v->count != 1)
                return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: pad value", oi);
            n.pad_value = v->data[0];
        }
        break;
    }
    case ENGINE_TFLITE_OP_RESIZE_BILINEAR: {
        int size[2];
        const engine_graph_tensor *y = &g->tensors[n.out];
        if (op->n_inputs != 2)
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: operand counts", oi);
        if ((st = int_param(m, op->inputs[1], 2, size, err)))
            return st;
        if (y->rank != 4 || size[0] != y->dims[1] || size[1] != y->dims[2])
            return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: resize size", oi);
        n.op = ENGINE_GRAPH_RESIZE_BILINEAR;
        n.align_corners = o->align_corners != 0;
        n.half_pixel = o->half_pixel_centers != 0;
        break;
    }
    case ENGINE_TFLITE_OP_DEPTH_TO_SPACE:
        n.op = ENGINE_GRAPH_DEPTH_TO_SPACE;
        n.block = o->block_size;
        break;
    case ENGINE_TFLITE_OP_RESHAPE: {
        /* The output tensor's shape is authoritative; a shape given as an option or a
         * constant second input must agree with it (a -1 entry is inferred). */
        const engine_graph_tensor *y = &g->tensors[n.out];
        n.op = ENGINE_GRAPH_RESHAPE;
        int shape[ENGINE_TFLITE_MAX_NEW_SHAPE], rank = -1;
        if (op->n_inputs >= 2 && m->tensors[op->inputs[1]].data) {
            const engine_tflite_tensor *s = &m->tensors[op->inputs[1]];
            size_t c = shape_count(s->rank, s->dims);
            if (c > ENGINE_TFLITE_MAX_NEW_SHAPE || s->rank > 1)
                return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: reshape shape", oi);
            if ((st = int_param(m, op->inputs[1], c, shape, err)))
                return st;
            rank = (int)c;
        } else if (o->n_new_shape >= 0) {
            rank = o->n_new_shape;
            memcpy(shape, o->new_shape, sizeof shape);
        }
        if (rank >= 0) {
            if (rank != y->rank)
                return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: reshape rank", oi);
            for (int d = 0; d < rank; d++)
                if (shape[d] != -1 && shape[d] != y->dims[d])
                    return cr_err_set(err, CR_ERR_FORMAT, "graph: operator %d: reshape shape", oi);
        }
        break;
    }
    case ENGINE_TFLITE_OP_CONCATENATION: {
        const engine_graph_tensor *y = &g->tensors[n.out];
        n.op = ENGINE_GRAPH_CONCAT;
        n.n_in = op->n_inputs;
        memcpy(n.in, op->inputs, (size_t)op->n_inputs * sizeof(int));
        n.axis = o->axis < 0 ? o->axis + y->rank : o->axis;
        if (o->activation != ENGINE_TFLITE_ACT_NONE)
            return cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: operator %d: fused activation", oi);
        break;
    }
    case ENGINE_TFLITE_OP_LOGISTIC:
        n.op = ENGINE_GRAPH_LOGISTIC;
        break;
    default:
        return cr_err_set(err, CR_ERR_UNSUPPORTED,
                          "graph: operator %d: unsupported operator %s (%d)", oi,
                          engine_tflite_op_name(op->code), op->code);
    }
    if (engine_graph_add_node(g, &n, err) < 0)
        return CR_ERR_NOMEM;
    return check_node(g, g->n_nodes - 1, err);
}

cr_status engine_graph_from_tflite(const engine_tflite_model *m, engine_graph **out, cr_err *err)
{
    *out = NULL;
    cr_status st = CR_OK;
    engine_graph *g = engine_graph_new();
    if (g == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
    if (m->n_inputs != 1 || m->n_outputs < 1 || m->n_outputs > ENGINE_GRAPH_MAX_INPUTS) {
        st = cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: model has %d inputs, %d outputs",
                        m->n_inputs, m->n_outputs);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const engine_tflite_tensor *t = &m->tensors[i];
        if (engine_graph_add_tensor(g, t->name, t->rank, t->dims, NULL, err) < 0) {
            /* tflite.c bounds rank and dims, so only the size or memory can fail here */
            st = shape_count(t->rank, t->dims) == 0 ? CR_ERR_LIMIT : CR_ERR_NOMEM;
            goto fail;
        }
        /* Float constants are converted now; int32 parameters are read by their operator. */
        if (t->data && t->type != ENGINE_TFLITE_INT32 &&
            (st = const_values(t, g->tensors[i].count, &g->tensors[i].data, err)))
            goto fail;
    }
    g->input = m->inputs[0];
    {
        const engine_graph_tensor *in = &g->tensors[g->input];
        if (in->rank != 4 || in->dims[0] != 1 || in->data ||
            m->tensors[g->input].type != ENGINE_TFLITE_FLOAT32) {
            st = cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: input %s is not float32 [1,H,W,C]",
                            in->name);
            goto fail;
        }
    }
    for (int i = 0; i < m->n_ops; i++) {
        const engine_tflite_op *op = &m->ops[i];
        /* Every activation operand must be float32. */
        for (int k = 0; k < op->n_outputs; k++)
            if (m->tensors[op->outputs[k]].type != ENGINE_TFLITE_FLOAT32 &&
                op->code != ENGINE_TFLITE_OP_DENSIFY) {
                st = cr_err_set(err, CR_ERR_UNSUPPORTED, "graph: operator %d: non-float output", i);
                goto fail;
            }
        if ((st = translate_op(m, g, op, i, err)))
            goto fail;
    }
    if ((st = engine_graph_check(g, err))) /* whole-graph limits; re-checks every node */
        goto fail;
    g->n_outputs = m->n_outputs;
    for (int i = 0; i < m->n_outputs; i++) {
        g->outputs[i] = m->outputs[i];
        if (g->tensors[g->outputs[i]].producer < 0) {
            st = cr_err_set(err, CR_ERR_FORMAT, "graph: output %s is not computed",
                            g->tensors[g->outputs[i]].name);
            goto fail;
        }
    }
    *out = g;
    return CR_OK;
fail:
    if (st == CR_OK)
        st = CR_ERR_INTERNAL;
    engine_graph_free(g);
    return st;
}

/* ---- pruning ----------------------------------------------------------------- */

/* 1 when tensor i is an activation of the (pruned) graph: its input or a node's output. */
static int is_activation(const engine_graph *g, int i)
{
    if (i == g->input)
        return 1;
    for (int k = 0; k < g->n_nodes; k++)
        if (g->nodes[k].out == i)
            return 1;
    return 0;
}

cr_status engine_graph_set_batch(engine_graph *g, int n, cr_err *err)
{
    if (n < 1 || n > GRAPH_MAX_BATCH)
        return cr_err_set(err, CR_ERR_LIMIT, "graph: batch must be 1..%d, got %d", GRAPH_MAX_BATCH,
                          n);
    /* check everything first, so that a refusal changes nothing */
    size_t total = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const engine_graph_tensor *t = &g->tensors[i];
        if (!is_activation(g, i))
            continue;
        if (t->rank < 1 || t->dims[0] != 1)
            return cr_err_set(err, CR_ERR_UNSUPPORTED,
                              "graph: tensor %s does not start with a batch dimension of 1",
                              t->name);
        total += t->count;
    }
    if (total > GRAPH_MAX_BATCH_ELEMS / (size_t)n)
        return cr_err_set(err, CR_ERR_LIMIT, "graph: a batch of %d exceeds %zu floats", n,
                          GRAPH_MAX_BATCH_ELEMS);
    for (int i = 0; i < g->n_nodes; i++) {
        const engine_graph_node *nd = &g->nodes[i];
        if ((nd->op == ENGINE_GRAPH_PAD && (nd->pads[0][0] != 0 || nd->pads[0][1] != 0)) ||
            (nd->op == ENGINE_GRAPH_CONCAT && nd->axis == 0))
            return cr_err_set(err, CR_ERR_UNSUPPORTED,
                              "graph: node %d (%s) works across the batch dimension", i,
                              engine_graph_op_name(nd->op));
    }
    for (int i = 0; i < g->n_tensors; i++) {
        engine_graph_tensor *t = &g->tensors[i];
        if (!is_activation(g, i))
            continue;
        t->count *= (size_t)n;
        t->dims[0] = n;
    }
    return CR_OK;
}

cr_status engine_graph_prune(engine_graph *g, const char *const *names, int n, cr_err *err)
{
    int outs[ENGINE_GRAPH_MAX_INPUTS], n_outs = 0;
    if (n < 0 || n > ENGINE_GRAPH_MAX_INPUTS)
        return cr_err_set(err, CR_ERR_INVALID, "graph: %d outputs requested", n);
    if (n == 0) {
        n_outs = g->n_outputs;
        memcpy(outs, g->outputs, sizeof outs);
    }
    for (int i = 0; i < n; i++) {
        int t = names[i] ? engine_graph_find(g, names[i]) : -1;
        if (t < 0 || g->tensors[t].producer < 0)
            return cr_err_set(err, CR_ERR_INVALID, "graph: no computed tensor named '%s'",
                              names[i] ? names[i] : "(null)");
        for (int j = 0; j < n_outs; j++)
            if (outs[j] == t)
                return cr_err_set(err, CR_ERR_INVALID, "graph: output '%s' asked twice", names[i]);
        outs[n_outs++] = t;
    }
    char *needed = cr_calloc((size_t)g->n_tensors, 1);
    int *remap = cr_malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    if (needed == NULL || remap == NULL) {
        cr_free(needed);
        cr_free(remap);
        return cr_err_set(err, CR_ERR_NOMEM, "graph: out of memory");
    }
    for (int i = 0; i < n_outs; i++)
        needed[outs[i]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const engine_graph_node *nd = &g->nodes[i];
        if (!needed[nd->out])
            continue;
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0)
                needed[nd->in[k]] = 1;
    }
    int kept = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        remap[i] = -1;
        if (needed[g->nodes[i].out]) {
            remap[i] = kept;
            g->nodes[kept++] = g->nodes[i];
        }
    }
    g->n_nodes = kept;
    for (int i = 0; i < g->n_tensors; i++) {
        engine_graph_tensor *t = &g->tensors[i];
        if (t->producer >= 0)
            t->producer = remap[t->producer];
        if (!needed[i] && t->data) { /* an unused constant: keep the tensor, drop the values */
            if (!g->borrowed)
                cr_free(t->data);
            t->data = NULL;
            t->producer = -2; /* neither computed nor constant: any use would be a bug */
        }
    }
    g->n_outputs = n_outs;
    memcpy(g->outputs, outs, sizeof outs);
    cr_free(needed);
    cr_free(remap);
    return CR_OK;
}

engine_graph_pad4 engine_graph_pad_4d(const engine_graph *g, const engine_graph_node *n)
{
    const engine_graph_tensor *xt = &g->tensors[n->in[0]], *yt = &g->tensors[n->out];
    engine_graph_pad4 p = {{1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0, 0, 0}};
    int off = 4 - xt->rank;
    for (int d = 0; d < xt->rank; d++) {
        p.xd[off + d] = xt->dims[d];
        p.yd[off + d] = yt->dims[d];
        p.before[off + d] = n->pads[d][0];
    }
    return p;
}

float engine_graph_resize_scale(const engine_graph_node *n, int in, int out)
{
    return n->align_corners && out > 1 ? (float)(in - 1) / (float)(out - 1)
                                       : (float)in / (float)out;
}

void engine_graph_resize_taps(const engine_graph_node *n, float scale, int o, int in, float *v,
                              int *lo, int *hi)
{
    *v = n->half_pixel ? ((float)o + 0.5f) * scale - 0.5f : (float)o * scale;
    float fl = floorf(*v);
    *lo = fl < 0.0f ? 0 : (int)fl;
    int c = (int)ceilf(*v);
    *hi = c < in - 1 ? c : in - 1;
}
