/*
 * engine_ref.c -- the reference engine: plain C11 loops, no intrinsics, no threads.
 *
 * Slow and obviously correct: every operator is written out from its definition
 * (TensorFlow Lite's reference kernels for the conventions), sums accumulate in
 * double, and each activation tensor has its own buffer.  It is the yardstick
 * every other engine is tested against (DESIGN.md §7), so clarity wins over speed.
 */
#include "engine/engine_int.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

typedef struct ref_ctx {
    const engine_graph *g;
    float **buf; /* per tensor: activation buffer, or constant data, or NULL */
    char *owned; /* per tensor: 1 when buf[i] was allocated here */
} ref_ctx;

static float clampf(double v, float lo, float hi)
{
    float f = (float)v;
    return f < lo ? lo : f > hi ? hi : f;
}

static void conv2d(const engine_graph_node *n, const engine_graph_tensor *xt,
                   const engine_graph_tensor *yt, const float *x, const float *w, const float *b,
                   float *y, int depthwise)
{
    int H = xt->dims[1], W = xt->dims[2], C = xt->dims[3];
    int OH = yt->dims[1], OW = yt->dims[2], OC = yt->dims[3];
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++)
            for (int oc = 0; oc < OC; oc++) {
                double acc = b ? b[oc] : 0.0;
                for (int ky = 0; ky < n->kh; ky++) {
                    int iy = oy * n->stride_h - n->pad_top + ky;
                    if (iy < 0 || iy >= H)
                        continue; /* zero padding */
                    for (int kx = 0; kx < n->kw; kx++) {
                        int ix = ox * n->stride_w - n->pad_left + kx;
                        if (ix < 0 || ix >= W)
                            continue;
                        const float *xp = x + ((size_t)iy * W + ix) * C;
                        if (depthwise) { /* filter [1,KH,KW,C] */
                            acc += (double)xp[oc] * w[((size_t)ky * n->kw + kx) * C + oc];
                        } else { /* filter [OC,KH,KW,C] */
                            const float *wp = w + (((size_t)oc * n->kh + ky) * n->kw + kx) * C;
                            for (int ic = 0; ic < C; ic++)
                                acc += (double)xp[ic] * wp[ic];
                        }
                    }
                }
                y[((size_t)oy * OW + ox) * OC + oc] = clampf(acc, n->act_min, n->act_max);
            }
}

/* Max over the window's positions inside the input (padding never wins, as in TFLite). */
static void max_pool(const engine_graph_node *n, const engine_graph_tensor *xt,
                     const engine_graph_tensor *yt, const float *x, float *y)
{
    int H = xt->dims[1], W = xt->dims[2], C = xt->dims[3], OH = yt->dims[1], OW = yt->dims[2];
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++)
            for (int c = 0; c < C; c++) {
                float m = -INFINITY;
                for (int ky = 0; ky < n->kh; ky++)
                    for (int kx = 0; kx < n->kw; kx++) {
                        int iy = oy * n->stride_h - n->pad_top + ky;
                        int ix = ox * n->stride_w - n->pad_left + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            float v = x[((size_t)iy * W + ix) * C + c];
                            m = v > m ? v : m;
                        }
                    }
                y[((size_t)oy * OW + ox) * C + c] = clampf(m, n->act_min, n->act_max);
            }
}

static void resize_bilinear(const engine_graph_node *n, const engine_graph_tensor *xt,
                            const engine_graph_tensor *yt, const float *x, float *y)
{
    int H = xt->dims[1], W = xt->dims[2], C = xt->dims[3], OH = yt->dims[1], OW = yt->dims[2];
    float sh = engine_graph_resize_scale(n, H, OH), sw = engine_graph_resize_scale(n, W, OW);
    for (int oy = 0; oy < OH; oy++) {
        float fy;
        int y0, y1;
        engine_graph_resize_taps(n, sh, oy, H, &fy, &y0, &y1);
        for (int ox = 0; ox < OW; ox++) {
            float fx;
            int x0, x1;
            engine_graph_resize_taps(n, sw, ox, W, &fx, &x0, &x1);
            double dy = fy - y0, dx = fx - x0;
            for (int c = 0; c < C; c++) {
                double v00 = x[((size_t)y0 * W + x0) * C + c],
                       v01 = x[((size_t)y0 * W + x1) * C + c];
                double v10 = x[((size_t)y1 * W + x0) * C + c],
                       v11 = x[((size_t)y1 * W + x1) * C + c];
                double v = v00 * (1 - dy) * (1 - dx) + v10 * dy * (1 - dx) + v01 * (1 - dy) * dx +
                           v11 * dy * dx;
                y[((size_t)oy * OW + ox) * C + c] = (float)v;
            }
        }
    }
}

/* Pads a tensor of rank <= 4, seen as 4-D with leading 1s. */
static void pad(const engine_graph *g, const engine_graph_node *n, const float *x, float *y)
{
    engine_graph_pad4 p4 = engine_graph_pad_4d(g, n);
    const int *xd = p4.xd, *yd = p4.yd, *before = p4.before;
    size_t k = 0;
    for (int a = 0; a < yd[0]; a++)
        for (int b = 0; b < yd[1]; b++)
            for (int c = 0; c < yd[2]; c++)
                for (int d = 0; d < yd[3]; d++, k++) {
                    int i0 = a - before[0], i1 = b - before[1], i2 = c - before[2],
                        i3 = d - before[3];
                    int inside = i0 >= 0 && i0 < xd[0] && i1 >= 0 && i1 < xd[1] && i2 >= 0 &&
                                 i2 < xd[2] && i3 >= 0 && i3 < xd[3];
                    y[k] = inside ? x[(((size_t)i0 * xd[1] + i1) * xd[2] + i2) * xd[3] + i3]
                                  : n->pad_value;
                }
}

/* TFLite's DepthToSpace (DCR): in channel = ((oy % b) * b + ox % b) * OC + oc. */
static void depth_to_space(const engine_graph_node *n, const engine_graph_tensor *xt,
                           const engine_graph_tensor *yt, const float *x, float *y)
{
    int b = n->block, W = xt->dims[2], C = xt->dims[3];
    int OH = yt->dims[1], OW = yt->dims[2], OC = yt->dims[3];
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++)
            for (int oc = 0; oc < OC; oc++) {
                int ic = ((oy % b) * b + ox % b) * OC + oc;
                y[((size_t)oy * OW + ox) * OC + oc] = x[((size_t)(oy / b) * W + ox / b) * C + ic];
            }
}

static void concat(const engine_graph *g, float *const *buf, const engine_graph_node *n,
                   const engine_graph_tensor *yt, float *y)
{
    size_t outer = 1;
    for (int d = 0; d < n->axis; d++)
        outer *= (size_t)yt->dims[d];
    size_t k = 0;
    for (size_t o = 0; o < outer; o++)
        for (int i = 0; i < n->n_in; i++) {
            const engine_graph_tensor *xt = &g->tensors[n->in[i]];
            size_t inner = xt->count / outer;
            memcpy(y + k, buf[n->in[i]] + o * inner, inner * sizeof(float));
            k += inner;
        }
}

/* One item of a spatial operator: x and y point at the item's [H,W,C] data. */
static void run_spatial(float *const *buf, const engine_graph_node *n,
                        const engine_graph_tensor *xt, const engine_graph_tensor *yt,
                        const float *x, float *y)
{
    switch (n->op) {
    case ENGINE_GRAPH_CONV2D:
    case ENGINE_GRAPH_DWCONV2D:
        conv2d(n, xt, yt, x, buf[n->in[1]], n->in[2] >= 0 ? buf[n->in[2]] : NULL, y,
               n->op == ENGINE_GRAPH_DWCONV2D);
        break;
    case ENGINE_GRAPH_MAX_POOL:
        max_pool(n, xt, yt, x, y);
        break;
    case ENGINE_GRAPH_RESIZE_BILINEAR:
        resize_bilinear(n, xt, yt, x, y);
        break;
    case ENGINE_GRAPH_DEPTH_TO_SPACE:
        depth_to_space(n, xt, yt, x, y);
        break;
    default:
        break;
    }
}

void engine_ref_run_node(const engine_graph *g, int node, float *const *buf)
{
    const engine_graph_node *n = &g->nodes[node];
    const engine_graph_tensor *xt = &g->tensors[n->in[0]], *yt = &g->tensors[n->out];
    const float *x = buf[n->in[0]];
    float *y = buf[n->out];
    /* The spatial operators below see one item [1,H,W,C]; they run once per item of
     * the batch (dims[0], engine_graph_set_batch).  The others are elementwise or
     * treat the batch as one more outer dimension already. */
    int items = xt->rank == 4 ? xt->dims[0] : 1;
    size_t xstep = xt->count / (size_t)items, ystep = yt->count / (size_t)items;
    if (n->op == ENGINE_GRAPH_CONV2D || n->op == ENGINE_GRAPH_DWCONV2D ||
        n->op == ENGINE_GRAPH_MAX_POOL || n->op == ENGINE_GRAPH_RESIZE_BILINEAR ||
        n->op == ENGINE_GRAPH_DEPTH_TO_SPACE) {
        for (int b = 0; b < items; b++)
            run_spatial(buf, n, xt, yt, x + (size_t)b * xstep, y + (size_t)b * ystep);
        return;
    }
    switch (n->op) {
    case ENGINE_GRAPH_ADD: {
        const float *x2 = buf[n->in[1]];
        for (size_t i = 0; i < yt->count; i++)
            y[i] = clampf((double)x[i] + x2[i], n->act_min, n->act_max);
        break;
    }
    case ENGINE_GRAPH_PAD:
        pad(g, n, x, y);
        break;
    case ENGINE_GRAPH_RESHAPE:
        memcpy(y, x, yt->count * sizeof(float));
        break;
    case ENGINE_GRAPH_CONCAT:
        concat(g, buf, n, yt, y);
        break;
    case ENGINE_GRAPH_LOGISTIC:
        for (size_t i = 0; i < yt->count; i++)
            y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        break;
    default: /* the spatial operators, above */
        break;
    }
}

static cr_status ref_run(void *vctx, cr_err *err)
{
    ref_ctx *c = vctx;
    (void)err;
    for (int ni = 0; ni < c->g->n_nodes; ni++)
        engine_ref_run_node(c->g, ni, c->buf);
    return CR_OK;
}

static void ref_destroy(void *vctx)
{
    ref_ctx *c = vctx;
    if (c == NULL)
        return;
    if (c->buf && c->owned)
        for (int i = 0; i < c->g->n_tensors; i++)
            if (c->owned[i])
                cr_free(c->buf[i]);
    cr_free(c->buf);
    cr_free(c->owned);
    cr_free(c);
}

static cr_status ref_load(const engine_graph *g, const engine_io *io, int threads, void **out,
                          cr_err *err)
{
    (void)threads; /* the reference engine is single-threaded by design */
    *out = NULL;
    ref_ctx *c = cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "ref engine: out of memory");
    c->g = g;
    c->buf = cr_calloc((size_t)g->n_tensors, sizeof *c->buf);
    c->owned = cr_calloc((size_t)g->n_tensors, 1);
    if (c->buf == NULL || c->owned == NULL)
        goto nomem;
    c->buf[g->input] = io->input;
    for (int i = 0; i < g->n_outputs; i++)
        c->buf[g->outputs[i]] = io->outputs[i];
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const engine_graph_node *n = &g->nodes[ni];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && c->buf[n->in[k]] == NULL)
                c->buf[n->in[k]] = g->tensors[n->in[k]].data; /* a constant */
        if (c->buf[n->out] == NULL) {
            c->buf[n->out] = cr_malloc(g->tensors[n->out].count * sizeof(float));
            if (c->buf[n->out] == NULL)
                goto nomem;
            c->owned[n->out] = 1;
        }
    }
    *out = c;
    return CR_OK;
nomem:
    ref_destroy(c);
    return cr_err_set(err, CR_ERR_NOMEM, "ref engine: out of memory");
}

const engine_ops engine_ref_ops = {
    .api_version = ENGINE_API_VERSION,
    .name = "ref",
    .load = ref_load,
    .run = ref_run,
    .destroy = ref_destroy,
};
