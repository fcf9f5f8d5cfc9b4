/*
 * engine_xnnpack.c -- the XNNPACK engine: the graph as one XNNPACK subgraph and
 * runtime (Debian 12 libxnnpack 0.0~git20220216), built once at load and invoked
 * for every frame; `threads` > 1 runs it on a pthreadpool of that many threads.
 *
 * Mapping (POSE-NOTES.md, xnnpack.h):
 *   conv2d          xnn_define_convolution_2d (OHWI filters, explicit TF pads)
 *   dwconv2d        xnn_define_depthwise_convolution_2d ([1,KH,KW,C] filters)
 *   add, max_pool   xnn_define_add2, xnn_define_max_pooling_2d
 *   pad             xnn_define_static_constant_pad
 *   resize_bilinear xnn_define_static_resize_bilinear_2d: half-pixel = flags 0,
 *                   align corners = XNN_FLAG_ALIGN_CORNERS, neither = TF legacy mode
 *   depth_to_space  xnn_define_depth_to_space (DCR, as TFLite)
 *   reshape         xnn_define_static_reshape
 *   logistic        xnn_define_sigmoid
 *   concat          not in this XNNPACK: its inputs become external outputs and
 *                   are copied by hand after the runtime ran.  A concat's result
 *                   may therefore not feed another operator (CR_ERR_UNSUPPORTED).
 * Fused activations are output clamps.  Constants were converted to float32 at
 * load (graph.h) and are passed as static data; the graph outlives the runtime,
 * as XNNPACK requires.  XNNPACK does not drop dead nodes (setup fails on them):
 * the graph is already pruned.
 */
#include "engine/engine_int.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>
#include <xnnpack.h>

typedef struct xnn_ctx {
    const engine_graph *g;
    pthreadpool_t pool;
    xnn_runtime_t rt;
    float **buf;   /* per tensor: host buffer of external values, NULL otherwise */
    char *owned;   /* per tensor: buf allocated here */
    uint32_t *vid; /* per tensor: XNNPACK value id or XNN_INVALID_VALUE_ID */
} xnn_ctx;

static cr_status xfail(cr_err *err, enum xnn_status s, const char *what, int node)
{
    return cr_err_set(err, s == xnn_status_out_of_memory ? CR_ERR_NOMEM : CR_ERR_UNSUPPORTED,
                      "xnnpack engine: %s failed (node %d, xnn_status %d)", what, node, (int)s);
}

static void xnn_ctx_destroy(void *vctx)
{
    xnn_ctx *c = vctx;
    if (c == NULL)
        return;
    if (c->rt)
        xnn_delete_runtime(c->rt);
    if (c->pool)
        pthreadpool_destroy(c->pool);
    if (c->buf && c->owned)
        for (int i = 0; i < c->g->n_tensors; i++)
            if (c->owned[i])
                cr_free(c->buf[i]);
    cr_free(c->buf);
    cr_free(c->owned);
    cr_free(c->vid);
    cr_free(c);
}

/* Defines node `ni` in the subgraph. */
static enum xnn_status define_node(xnn_subgraph_t sg, const xnn_ctx *c, int ni)
{
    const engine_graph *g = c->g;
    const engine_graph_node *n = &g->nodes[ni];
    const engine_graph_tensor *xt = &g->tensors[n->in[0]];
    uint32_t x = c->vid[n->in[0]], y = c->vid[n->out];
    switch (n->op) {
    case ENGINE_GRAPH_CONV2D:
    case ENGINE_GRAPH_DWCONV2D: {
        uint32_t w = c->vid[n->in[1]], b = n->in[2] >= 0 ? c->vid[n->in[2]] : XNN_INVALID_VALUE_ID;
        if (n->op == ENGINE_GRAPH_DWCONV2D)
            return xnn_define_depthwise_convolution_2d(
                sg, (uint32_t)n->pad_top, (uint32_t)n->pad_right, (uint32_t)n->pad_bottom,
                (uint32_t)n->pad_left, (uint32_t)n->kh, (uint32_t)n->kw, (uint32_t)n->stride_h,
                (uint32_t)n->stride_w, 1, 1, 1, (size_t)xt->dims[3], n->act_min, n->act_max, x, w,
                b, y, 0);
        return xnn_define_convolution_2d(
            sg, (uint32_t)n->pad_top, (uint32_t)n->pad_right, (uint32_t)n->pad_bottom,
            (uint32_t)n->pad_left, (uint32_t)n->kh, (uint32_t)n->kw, (uint32_t)n->stride_h,
            (uint32_t)n->stride_w, 1, 1, 1, (size_t)xt->dims[3], (size_t)g->tensors[n->out].dims[3],
            n->act_min, n->act_max, x, w, b, y, 0);
    }
    case ENGINE_GRAPH_ADD:
        return xnn_define_add2(sg, n->act_min, n->act_max, x, c->vid[n->in[1]], y, 0);
    case ENGINE_GRAPH_MAX_POOL:
        return xnn_define_max_pooling_2d(
            sg, (uint32_t)n->pad_top, (uint32_t)n->pad_right, (uint32_t)n->pad_bottom,
            (uint32_t)n->pad_left, (uint32_t)n->kh, (uint32_t)n->kw, (uint32_t)n->stride_h,
            (uint32_t)n->stride_w, 1, 1, n->act_min, n->act_max, x, y, 0);
    case ENGINE_GRAPH_PAD: {
        size_t pre[ENGINE_GRAPH_MAX_RANK], post[ENGINE_GRAPH_MAX_RANK];
        for (int d = 0; d < xt->rank; d++) {
            pre[d] = (size_t)n->pads[d][0];
            post[d] = (size_t)n->pads[d][1];
        }
        return xnn_define_static_constant_pad(sg, pre, post, n->pad_value, x, y, 0);
    }
    case ENGINE_GRAPH_RESIZE_BILINEAR: {
        const engine_graph_tensor *yt = &g->tensors[n->out];
        uint32_t flags = n->align_corners ? XNN_FLAG_ALIGN_CORNERS
                         : n->half_pixel  ? 0
                                          : XNN_FLAG_TENSORFLOW_LEGACY_MODE;
        return xnn_define_static_resize_bilinear_2d(sg, (size_t)yt->dims[1], (size_t)yt->dims[2], x,
                                                    y, flags);
    }
    case ENGINE_GRAPH_DEPTH_TO_SPACE:
        return xnn_define_depth_to_space(sg, x, y, (uint32_t)n->block, 0);
    case ENGINE_GRAPH_RESHAPE: {
        const engine_graph_tensor *yt = &g->tensors[n->out];
        size_t shape[ENGINE_GRAPH_MAX_RANK];
        for (int d = 0; d < yt->rank; d++)
            shape[d] = (size_t)yt->dims[d];
        return xnn_define_static_reshape(sg, (size_t)yt->rank, shape, x, y, 0);
    }
    case ENGINE_GRAPH_LOGISTIC:
        return xnn_define_sigmoid(sg, x, y, 0);
    case ENGINE_GRAPH_CONCAT: /* copied by hand, never defined */
    case ENGINE_GRAPH_OP_COUNT:
        break;
    }
    return xnn_status_unsupported_parameter;
}

/* Copies a concat's inputs into its output (same algorithm as the reference). */
static void run_concat(const xnn_ctx *c, const engine_graph_node *n)
{
    const engine_graph *g = c->g;
    const engine_graph_tensor *yt = &g->tensors[n->out];
    float *y = c->buf[n->out];
    size_t outer = 1, k = 0;
    for (int d = 0; d < n->axis; d++)
        outer *= (size_t)yt->dims[d];
    for (size_t o = 0; o < outer; o++)
        for (int i = 0; i < n->n_in; i++) {
            int t = n->in[i];
            const float *x = c->buf[t] ? c->buf[t] : g->tensors[t].data;
            size_t inner = g->tensors[t].count / outer;
            memcpy(y + k, x + o * inner, inner * sizeof(float));
            k += inner;
        }
}

static cr_status xnn_ctx_run(void *vctx, cr_err *err)
{
    xnn_ctx *c = vctx;
    enum xnn_status s = xnn_invoke_runtime(c->rt);
    if (s != xnn_status_success)
        return xfail(err, s, "xnn_invoke_runtime", -1);
    for (int i = 0; i < c->g->n_nodes; i++)
        if (c->g->nodes[i].op == ENGINE_GRAPH_CONCAT)
            run_concat(c, &c->g->nodes[i]);
    return CR_OK;
}

static cr_status xnn_ctx_load(const engine_graph *g, const engine_io *io, int threads, void **out,
                              cr_err *err)
{
    *out = NULL;
    cr_status st = CR_OK;
    enum xnn_status s;
    xnn_subgraph_t sg = NULL;
    struct xnn_external_value *ext = NULL;
    /* xnn_initialize may be called any number of times (it initializes once). */
    if ((s = xnn_initialize(NULL)) != xnn_status_success)
        return xfail(err, s, "xnn_initialize", -1);
    xnn_ctx *c = cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "xnnpack engine: out of memory");
    c->g = g;
    size_t nt = (size_t)g->n_tensors;
    c->buf = cr_calloc(nt, sizeof *c->buf);
    c->owned = cr_calloc(nt, 1);
    c->vid = cr_malloc(nt * sizeof *c->vid);
    char *is_ext = cr_calloc(nt, 1), *used = cr_calloc(nt, 1);
    ext = cr_calloc(nt, sizeof *ext);
    if (c->buf == NULL || c->owned == NULL || c->vid == NULL || is_ext == NULL || used == NULL ||
        ext == NULL)
        goto nomem;
    for (size_t i = 0; i < nt; i++)
        c->vid[i] = XNN_INVALID_VALUE_ID;

    /* Host buffers: the input, the outputs, and every computed input of a concat. */
    c->buf[g->input] = io->input;
    is_ext[g->input] = 1;
    for (int i = 0; i < g->n_outputs; i++) {
        c->buf[g->outputs[i]] = io->outputs[i];
        is_ext[g->outputs[i]] = 1;
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const engine_graph_node *n = &g->nodes[ni];
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0)
                continue;
            used[t] = 1;
            const engine_graph_tensor *tt = &g->tensors[t];
            if (tt->producer >= 0 && g->nodes[tt->producer].op == ENGINE_GRAPH_CONCAT) {
                st =
                    cr_err_set(err, CR_ERR_UNSUPPORTED,
                               "xnnpack engine: concat result %s feeds another operator", tt->name);
                goto fail;
            }
            if (n->op == ENGINE_GRAPH_CONCAT && tt->data == NULL && c->buf[t] == NULL) {
                c->buf[t] = cr_calloc(1, tt->count * sizeof(float) + ENGINE_SLACK);
                if (c->buf[t] == NULL)
                    goto nomem;
                c->owned[t] = 1;
                is_ext[t] = 1;
            }
        }
    }

    /* External ids: 0 .. n_ext-1, in tensor order. */
    uint32_t n_ext = 0;
    for (size_t i = 0; i < nt; i++)
        if (is_ext[i] && !(g->tensors[i].producer >= 0 &&
                           g->nodes[g->tensors[i].producer].op == ENGINE_GRAPH_CONCAT))
            n_ext++;
    if ((s = xnn_create_subgraph(n_ext, 0, &sg)) != xnn_status_success) {
        st = xfail(err, s, "xnn_create_subgraph", -1);
        goto fail;
    }
    uint32_t next_ext = 0;
    size_t n_setup = 0;
    for (size_t i = 0; i < nt; i++) {
        const engine_graph_tensor *t = &g->tensors[i];
        int computed = (int)i == g->input ||
                       (t->producer >= 0 && g->nodes[t->producer].op != ENGINE_GRAPH_CONCAT);
        if (!(computed || (t->data && used[i])))
            continue; /* concat results, unused constants, pruned tensors */
        size_t dims[ENGINE_GRAPH_MAX_RANK];
        for (int d = 0; d < t->rank; d++)
            dims[d] = (size_t)t->dims[d];
        uint32_t flags = 0, ext_id = XNN_INVALID_VALUE_ID;
        if (computed && is_ext[i]) {
            ext_id = next_ext++;
            flags =
                (int)i == g->input ? XNN_VALUE_FLAG_EXTERNAL_INPUT : XNN_VALUE_FLAG_EXTERNAL_OUTPUT;
            ext[n_setup].id = ext_id;
            ext[n_setup].data = c->buf[i];
            n_setup++;
        }
        s = xnn_define_tensor_value(sg, xnn_datatype_fp32, (size_t)t->rank, dims,
                                    computed ? NULL : t->data, ext_id, flags, &c->vid[i]);
        if (s != xnn_status_success) {
            st = xfail(err, s, "xnn_define_tensor_value", -1);
            goto fail;
        }
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        if (g->nodes[ni].op == ENGINE_GRAPH_CONCAT)
            continue;
        if ((s = define_node(sg, c, ni)) != xnn_status_success) {
            st = xfail(err, s, engine_graph_op_name(g->nodes[ni].op), ni);
            goto fail;
        }
    }
    if (threads > 1 && (c->pool = pthreadpool_create((size_t)threads)) == NULL)
        goto nomem;
    /* Workers sleep between frames instead of spinning: the pipeline does other work
     * (decoding, crops) between runs, and other workers share the cores. */
    if ((s = xnn_create_runtime_v2(sg, c->pool, XNN_FLAG_YIELD_WORKERS, &c->rt)) !=
        xnn_status_success) {
        st = xfail(err, s, "xnn_create_runtime_v2", -1);
        goto fail;
    }
    xnn_delete_subgraph(sg);
    sg = NULL;
    /* The buffers never move, so one setup serves every run. */
    if ((s = xnn_setup_runtime(c->rt, n_setup, ext)) != xnn_status_success) {
        st = xfail(err, s, "xnn_setup_runtime", -1);
        goto fail;
    }
    cr_free(is_ext);
    cr_free(used);
    cr_free(ext);
    *out = c;
    return CR_OK;
nomem:
    st = cr_err_set(err, CR_ERR_NOMEM, "xnnpack engine: out of memory");
fail:
    if (sg)
        xnn_delete_subgraph(sg);
    cr_free(is_ext);
    cr_free(used);
    cr_free(ext);
    xnn_ctx_destroy(c);
    return st;
}

const engine_ops engine_xnnpack_ops = {
    .api_version = ENGINE_API_VERSION,
    .name = "xnnpack",
    .load = xnn_ctx_load,
    .run = xnn_ctx_run,
    .destroy = xnn_ctx_destroy,
};
