/*
 * engine_cpu.c -- the "cpu" engine: the graph run by our own kernels, one thread; and
 * "cpu-amx", the same code with the AMX kernels (cpu_kernels_amx.c).
 *
 * Why it exists: on the machines crease runs on, a whole analysis spent half its CPU
 * time in XNNPACK, and a third of all of it in one matrix-product micro-kernel of
 * Debian's 2022 XNNPACK build, limited by its loads (cpu_kernels_avx512.c).  A pose
 * model is nearly all 1x1 convolutions (~88 % of the multiply-adds of the full
 * landmark model) and depthwise ones; those two get kernels of their own
 * (cpu_kernels.h), in an AVX-512 build chosen at load time where the CPU has it and a
 * portable one everywhere else.  Measured (bench_pose_engine, full landmark model with
 * the pipeline's outputs, one thread, 2-core EPYC with AVX-512): 5.9 ms a frame against
 * XNNPACK's 7.2 in the same run; the portable build takes ~110 ms, which is why
 * engine_default (engine.c) picks this engine only where the AVX-512 kernels run.
 * The floor: this core peaks near 100 GMAC/s, and the model is 351 MMAC (3.5 ms).
 * On a Xeon with AMX (one thread, same bench): "cpu" 5.1 ms, "cpu-amx" 4.3 ms, XNNPACK
 * 6.5 ms.
 *
 * Operators:
 *   conv2d 1x1, stride 1, no padding   the matrix product on the activations directly
 *   conv2d, any other                  by filter rows (ROWS below) where a row has 16
 *                                      or more inside columns; else its patch matrix
 *                                      (im2col, zeros for the padding) in bands, then
 *                                      the matrix product
 *   dwconv2d                           the depthwise kernel
 *   add                                the kernels' vector add (also inside chains)
 *   pad                                a plain float loop here (vectorizable)
 *   resize_bilinear                    its taps computed at load, the channel loop
 *                                      built per instruction set (target_clones)
 *   max_pool                           a plain float loop here, channels inner
 *   depth_to_space, reshape,
 *   concat, logistic                   the reference engine's code (engine_ref_run_node):
 *                                      they are a negligible part of the work
 * Weights are packed once at load (cpu_kernels.h); the graph's float32 constants are
 * read only then.
 *
 * MEMORY.  Activation buffers are shared between tensors whose lifetimes do not
 * overlap: at load, each node's output takes the smallest free buffer that holds it
 * (or a new one), and a tensor's buffer is freed after the last node that reads it.
 * The engine's input and output buffers (engine.c) are never shared.  This keeps the
 * working set, and a worker's memory, near the largest few activations instead of
 * their sum.
 *
 * CHAINS.  An inverted-residual block (1x1 expand -> depthwise -> 1x1 project, and the
 * ADD of the block's input where there is one) writes its widest tensors, the expanded
 * ones, only to be read once right after: at 64x64x144 that is 2.4 MB out and back in
 * twice, from L3, per block.  Where the expanded tensor is large (CHAIN_MIN_BYTES), the
 * block runs as one chain (run_chain) band by band of output rows: the expand rows a
 * band needs (those shared with the last band kept), the depthwise rows of the band,
 * then the projection and the ADD into the output rows, so the expanded data stays in
 * L1/L2.  Every value is computed by the same kernel calls in the same order as when the
 * nodes run one by one, so a chain changes no result.  Measured on the full landmark
 * model (bench_pose_engine, one thread, this 2-core EPYC, shared): bands of >= 32 output
 * pixels, 6.4-6.9 ms against 7.0-7.2 ms without chains.  The expand rows live in a ring
 * of slots (cpu_dw_args.ring), so the rows a band shares with the last stay where they
 * are: at 64 pixels a row, a band of one output row used to move two 37 kB rows to
 * compute one, 3 % of a low-bitrate analysis's CPU; with the ring the full model went
 * 4.8 -> 4.4 ms (cpu-amx, Xeon).  Without those moves larger bands pay: bands of >= 128
 * output pixels read each expand row fewer times and give the depthwise kernel two
 * output rows at a time, 2.5 % faster than >= 32 (cpu-amx and cpu, Xeon, interleaved).
 * The first layers of every model (3x3 stride-2 convolution -> depthwise 3x3 -> 1x1)
 * have the same shape with a convolution by filter rows (ROWS) for the expand: they
 * run as a chain too, two output rows of it at a time, so its 128x128x24 result
 * (1.5 MB) never leaves L2.  (A band is at least two rows for the depthwise kernel's
 * pairs of rows: one row a band, the stem's depthwise layer took 98 us, two 62 us, at
 * this model's shapes, one thread, 2-core EPYC.)  Timed node by node in the full
 * landmark model (2-core EPYC): those three layers 0.457 -> 0.420 ms; the whole model
 * ~1-2 % faster, inside this host's noise (min and median of six interleaved runs).
 *
 * ROWS.  A convolution other than 1x1 (the 3x3 stride-2 first layer of every model)
 * would need its patch matrix: 9 copies of each input value.  Instead, each output row
 * is the sum over filter rows ky of one matrix product: the input row's pixels at the
 * stride are the matrix rows, read in place (rows ldx = stride*C apart, each KW*C
 * long, overlapping), times that filter row's weights, accumulated into the output
 * (the bias first, the clamp with the last).  Only the border columns, whose taps leave
 * the input, go through the patch matrix.  The first layer took 0.56 ms of 6.2 by
 * the patch matrix.  Where every filter row of an output row is inside the input (all
 * but the top and bottom rows) and the kernels read segmented rows (cpu_gemm_args.kseg),
 * the filter rows are one product instead, each matrix row's inputs KH segments one
 * input row apart: the sums stay in registers from the first filter row to the last,
 * in the same order, so the values are the same bit for bit.  Timed node by node (full
 * landmark model, 2-core EPYC, min of five interleaved runs) the stem chain went
 * 0.402 -> 0.372 ms.
 *
 * `threads` is accepted and ignored: crease runs one engine per chunk worker and one
 * worker per core (pipeline.h), so parallelism comes from above.
 */
#include "engine/cpu_kernels.h"
#include "engine/engine_int.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

/* One output row or column of a bilinear resize: its two input taps and the weight of
 * the second. */
typedef struct cpu_tap {
    int lo, hi;
    float frac;
} cpu_tap;

/* What a node needs beyond the graph: packed weights for the matrix products, a
 * zero-filled bias for a depthwise convolution without one. */
typedef struct cpu_node {
    float *packed; /* owned: conv2d panels, dwconv2d weights padded to cpad channels */
    float *bias;   /* owned: padded bias (zeros when the model has none) */
    int direct;    /* conv2d: 1x1 stride 1 unpadded, no patch matrix */
    /* Where a zero PAD feeds this convolution alone, the convolution reads the PAD's
     * input with the padding added to its own, and the PAD is skipped (folded). */
    int x; /* input tensor (the PAD's input when folded) */
    int pad_top, pad_left;
    int folded; /* a PAD folded into the node that reads it */
    /* conv2d by filter rows (ROWS): each filter row's weights packed on their own, and
     * the output columns [col0, col1) whose taps are all inside the input */
    float *rows;
    int col0, col1;
    /* resize_bilinear: per output row, then per output column, the two input taps and
     * the fraction of the way to the second (computed at load) */
    struct cpu_tap *taps;
    int chain; /* index of the chain this node ends (runs it), or -1 */
    int inner; /* a node of a chain other than its last: run by the chain */
} cpu_node;

/* An inverted-residual chain run band by band (see "CHAINS" at the top):
 * e (1x1 expand, or a convolution by filter rows) -> d (depthwise, maybe through a
 * folded PAD) -> p (1x1 project)
 * [-> a (ADD of p's result and `skip`)].  Only `x`, `skip` and `out` are tensors in
 * memory; e's and d's results live a band at a time in the context's band buffers. */
typedef struct cpu_chain {
    int e, d, p, a; /* nodes; a = -1 without the ADD */
    int x, skip;    /* e's input; the ADD's other input (-1 without) */
    int out;        /* the chain's result: a's output, or p's */
    int band;       /* output rows of d per band */
    int ring;       /* e rows band_e holds: the most one band reads */
} cpu_chain;

typedef struct cpu_ctx {
    const engine_graph *g;
    const cpu_kernels *kern;
    float **buf;     /* per tensor: its data (activation, constant, input, output) */
    cpu_node *nodes; /* per node */
    float **blocks;  /* owned activation buffers, shared by tensors */
    int n_blocks;
    float *scratch;  /* owned: the largest patch matrix */
    void *gemm_work; /* owned: the kernels' work memory for the largest matrix product */
    cpu_chain *chains;
    int n_chains;
    float *band_e, *band_d; /* owned: a band of e's and of d's results (largest chain) */
} cpu_ctx;

static int padded(int c)
{
    return (c + CPU_PANEL - 1) / CPU_PANEL * CPU_PANEL;
}

/* ---- operators computed here ------------------------------------------------ */

/* Output rows [oy0, oy1) of the patch matrix of one item: row (oy*OW + ox) - oy0*OW,
 * column ((ky*KW + kx)*C + c), zero where the tap falls in the padding; the layout of an
 * OHWI filter's rows.  A filter row's taps inside the input are KW*C consecutive floats
 * (fewer at the edges), copied as one run. */
static void im2col(const engine_graph_node *n, const cpu_node *cn, const engine_graph_tensor *xt,
                   const float *x, int oy0, int oy1, int ox0, int ox1, float *col)
{
    int H = xt->dims[1], W = xt->dims[2], C = xt->dims[3];
    size_t K = (size_t)n->kh * n->kw * C;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = ox0; ox < ox1; ox++) {
            float *row = col + ((size_t)(oy - oy0) * (ox1 - ox0) + (ox - ox0)) * K;
            int ix0 = ox * n->stride_w - cn->pad_left;
            int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = W - ix0 < n->kw ? W - ix0 : n->kw;
            for (int ky = 0; ky < n->kh; ky++) {
                int iy = oy * n->stride_h - cn->pad_top + ky;
                float *dst = row + (size_t)ky * n->kw * C;
                if (iy < 0 || iy >= H || kx0 >= kx1) {
                    memset(dst, 0, (size_t)n->kw * C * sizeof(float));
                    continue;
                }
                const float *src = x + ((size_t)iy * W + ix0 + kx0) * C;
                size_t before = (size_t)kx0 * C, run = (size_t)(kx1 - kx0) * C;
                size_t after = (size_t)n->kw * C - before - run;
                for (size_t i = 0; i < before; i++)
                    dst[i] = 0.0f;
                for (size_t i = 0; i < run; i++) /* 9 floats in the models' first layer */
                    dst[before + i] = src[i];
                for (size_t i = 0; i < after; i++)
                    dst[before + run + i] = 0.0f;
            }
        }
}

/* Output rows per patch-matrix band: about 32 kB of patches, so a band is still in L1
 * when the matrix product reads it. */
static int im2col_band(int OW, size_t K)
{
    size_t rows = 32768 / ((size_t)OW * K * sizeof(float));
    return rows < 1 ? 1 : (int)rows;
}

/* A matrix product of node n's packed weights: k inputs, its output channels and clamp;
 * the rows, x and y are the caller's. */
static cpu_gemm_args node_gemm(const cpu_ctx *c, const engine_graph_node *n, const cpu_node *cn,
                               int k, int oc)
{
    cpu_gemm_args a = {.k = k,
                       .work = c->gemm_work,
                       .n = oc,
                       .w = cn->packed,
                       .bias = cn->bias,
                       .ldx = (size_t)k,
                       .ldy = (size_t)oc,
                       .lo = n->act_min,
                       .hi = n->act_max};
    return a;
}

/* Depthwise node n over an input w wide with c channels, every output row of an
 * oh x ow output; x, y (and for a band h, iy_base, oy0, oy1) are the caller's. */
static cpu_dw_args node_dw(const engine_graph_node *n, const cpu_node *cn, int h, int w, int c,
                           int oh, int ow)
{
    cpu_dw_args a = {.h = h,
                     .w = w,
                     .c = c,
                     .oh = oh,
                     .oy1 = oh,
                     .ow = ow,
                     .kh = n->kh,
                     .kw = n->kw,
                     .sh = n->stride_h,
                     .sw = n->stride_w,
                     .pad_top = cn->pad_top,
                     .pad_left = cn->pad_left,
                     .wt = cn->packed,
                     .bias = cn->bias,
                     .cpad = padded(c),
                     .lo = n->act_min,
                     .hi = n->act_max};
    return a;
}

/* Output row oy of one item (x) by filter rows (see "ROWS" at the top) into yrow: for
 * each filter row inside the input, one matrix product over the columns whose taps are
 * all inside, its inputs read in place; the other columns through the patch matrix. */
static void conv2d_rows(const cpu_ctx *c, const engine_graph_node *n, const cpu_node *cn,
                        const engine_graph_tensor *xt, const engine_graph_tensor *yt,
                        const float *x, float *yrow, int oy)
{
    int H = xt->dims[1], W = xt->dims[2], C = xt->dims[3], OW = yt->dims[2], OC = yt->dims[3];
    int kwc = n->kw * C;
    size_t K = (size_t)n->kh * kwc;
    cpu_gemm_args a = node_gemm(c, n, cn, kwc, OC);
    a.ldx = (size_t)n->stride_w * C; /* the input row's pixels at the stride, in place */
    a.m = cn->col1 - cn->col0;
    a.y = yrow + (size_t)cn->col0 * OC;
    int first = 1, last_ky = -1, iy0 = oy * n->stride_h - cn->pad_top;
    for (int ky = 0; ky < n->kh; ky++) {
        int iy = iy0 + ky;
        if (iy >= 0 && iy < H)
            last_ky = ky;
    }
    if (c->kern->segments && iy0 >= 0 && iy0 + n->kh <= H) {
        /* every filter row inside: one product over all of them, each row's inputs a
         * segment (the same sums in the same order as one product per filter row) */
        a.k = (int)K;
        a.kseg = kwc;
        a.ldseg = (size_t)W * C;
        a.x = x + ((size_t)iy0 * W + (size_t)(cn->col0 * n->stride_w - cn->pad_left)) * C;
        a.w = cn->packed;
        c->kern->gemm(&a);
        first = 0;
        last_ky = -1;
    }
    for (int ky = 0; ky <= last_ky; ky++) {
        int iy = oy * n->stride_h - cn->pad_top + ky;
        if (iy < 0)
            continue;
        a.x = x + ((size_t)iy * W + (size_t)(cn->col0 * n->stride_w - cn->pad_left)) * C;
        a.w = cn->rows + (size_t)ky * c->kern->packed_size(OC, kwc);
        a.accumulate = !first;
        a.lo = ky == last_ky ? n->act_min : -INFINITY;
        a.hi = ky == last_ky ? n->act_max : INFINITY;
        c->kern->gemm(&a);
        first = 0;
    }
    if (first) { /* no filter row inside the input: the bias alone, clamped */
        for (int ox = cn->col0; ox < cn->col1; ox++)
            for (int o = 0; o < OC; o++)
                yrow[(size_t)ox * OC + o] = fminf(fmaxf(cn->bias[o], n->act_min), n->act_max);
    }
    cpu_gemm_args b = node_gemm(c, n, cn, (int)K, OC);
    b.x = c->scratch;
    int spans[2][2] = {{0, cn->col0}, {cn->col1, OW}};
    for (int k = 0; k < 2; k++)
        if (spans[k][1] > spans[k][0]) {
            im2col(n, cn, xt, x, oy, oy + 1, spans[k][0], spans[k][1], c->scratch);
            b.m = spans[k][1] - spans[k][0];
            b.y = yrow + (size_t)spans[k][0] * OC;
            c->kern->gemm(&b);
        }
}

static void conv2d(const cpu_ctx *c, int ni)
{
    const engine_graph *g = c->g;
    const engine_graph_node *n = &g->nodes[ni];
    const cpu_node *cn = &c->nodes[ni];
    const engine_graph_tensor *xt = &g->tensors[cn->x], *yt = &g->tensors[n->out];
    int items = xt->dims[0], C = xt->dims[3], OC = yt->dims[3];
    size_t M = (size_t)yt->dims[1] * yt->dims[2], K = (size_t)n->kh * n->kw * C;
    cpu_gemm_args a = node_gemm(c, n, cn, (int)K, OC);
    if (cn->direct) { /* all items at once: their rows follow each other */
        a.m = (int)(M * items);
        a.x = c->buf[cn->x];
        a.y = c->buf[n->out];
        c->kern->gemm(&a);
        return;
    }
    int OH = yt->dims[1], OW = yt->dims[2], band = im2col_band(OW, K);
    if (cn->rows != NULL) {
        for (int b = 0; b < items; b++)
            for (int oy = 0; oy < OH; oy++)
                conv2d_rows(c, n, cn, xt, yt, c->buf[cn->x] + (size_t)b * (xt->count / items),
                            c->buf[n->out] + ((size_t)b * M + (size_t)oy * OW) * OC, oy);
        return;
    }
    for (int b = 0; b < items; b++)
        for (int oy0 = 0; oy0 < OH; oy0 += band) {
            int oy1 = oy0 + band < OH ? oy0 + band : OH;
            im2col(n, cn, xt, c->buf[cn->x] + (size_t)b * (xt->count / items), oy0, oy1, 0, OW,
                   c->scratch);
            a.m = (oy1 - oy0) * OW;
            a.x = c->scratch;
            a.y = c->buf[n->out] + ((size_t)b * M + (size_t)oy0 * OW) * OC;
            c->kern->gemm(&a);
        }
}

static void dwconv2d(const cpu_ctx *c, int ni)
{
    const engine_graph *g = c->g;
    const engine_graph_node *n = &g->nodes[ni];
    const cpu_node *cn = &c->nodes[ni];
    const engine_graph_tensor *xt = &g->tensors[cn->x], *yt = &g->tensors[n->out];
    int items = xt->dims[0];
    cpu_dw_args a = node_dw(n, cn, xt->dims[1], xt->dims[2], xt->dims[3], yt->dims[1], yt->dims[2]);
    for (int b = 0; b < items; b++) {
        a.x = c->buf[cn->x] + (size_t)b * (xt->count / items);
        a.y = c->buf[n->out] + (size_t)b * (yt->count / items);
        c->kern->dwconv(&a);
    }
}

static void add(const cpu_ctx *c, const engine_graph_node *n)
{
    c->kern->add(c->buf[n->out], c->buf[n->in[0]], c->buf[n->in[1]], c->g->tensors[n->out].count,
                 n->act_min, n->act_max);
}

/* Pads a tensor of rank <= 4 (seen as 4-D with leading 1s): whole rows of the last
 * dimension are copied, the rest filled. */
static void pad(const cpu_ctx *c, const engine_graph_node *n)
{
    const engine_graph *g = c->g;
    const float *x = c->buf[n->in[0]];
    float *y = c->buf[n->out];
    engine_graph_pad4 p4 = engine_graph_pad_4d(g, n);
    const int *xd = p4.xd, *yd = p4.yd, *before = p4.before;
    size_t k = 0;
    for (int a = 0; a < yd[0]; a++)
        for (int b = 0; b < yd[1]; b++)
            for (int r = 0; r < yd[2]; r++, k += (size_t)yd[3]) {
                int i0 = a - before[0], i1 = b - before[1], i2 = r - before[2];
                float *dst = y + k;
                if (i0 < 0 || i0 >= xd[0] || i1 < 0 || i1 >= xd[1] || i2 < 0 || i2 >= xd[2]) {
                    for (int d = 0; d < yd[3]; d++)
                        dst[d] = n->pad_value;
                    continue;
                }
                const float *src = x + (((size_t)i0 * xd[1] + i1) * xd[2] + i2) * xd[3];
                int d = 0;
                for (; d < before[3]; d++)
                    dst[d] = n->pad_value;
                memcpy(dst + d, src, (size_t)xd[3] * sizeof(float));
                for (d += xd[3]; d < yd[3]; d++)
                    dst[d] = n->pad_value;
            }
}

/* Max pooling, channels as the inner loop (so it vectorizes): the reference engine's
 * comparisons, tap by tap in the same order, so the same values.  Per item, padding
 * taps skipped.  It was 1.4 % of the full landmark model's time on the reference
 * engine's loops (one channel at a time).  Built per instruction set, as the resize. */
__attribute__((target_clones("arch=x86-64-v4", "default"))) static void
max_pool(const cpu_ctx *c, const engine_graph_node *n)
{
    const engine_graph *g = c->g;
    const engine_graph_tensor *xt = &g->tensors[n->in[0]], *yt = &g->tensors[n->out];
    int items = xt->dims[0], H = xt->dims[1], W = xt->dims[2], C = xt->dims[3];
    int OH = yt->dims[1], OW = yt->dims[2];
    for (int b = 0; b < items; b++) {
        const float *x = c->buf[n->in[0]] + (size_t)b * H * W * C;
        float *y = c->buf[n->out] + (size_t)b * OH * OW * C;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *m = y + ((size_t)oy * OW + ox) * C;
                for (int ch = 0; ch < C; ch++)
                    m[ch] = -INFINITY;
                for (int ky = 0; ky < n->kh; ky++) {
                    int iy = oy * n->stride_h - n->pad_top + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < n->kw; kx++) {
                        int ix = ox * n->stride_w - n->pad_left + kx;
                        if (ix < 0 || ix >= W)
                            continue;
                        const float *v = x + ((size_t)iy * W + ix) * C;
                        for (int ch = 0; ch < C; ch++)
                            m[ch] = v[ch] > m[ch] ? v[ch] : m[ch];
                    }
                }
                for (int ch = 0; ch < C; ch++) /* the reference's clamp (NaN stays) */
                    m[ch] = m[ch] < n->act_min   ? n->act_min
                            : m[ch] > n->act_max ? n->act_max
                                                 : m[ch];
            }
    }
}

/* Output row `oy`'s pixels of a bilinear resize: input rows r0, r1 (weight dy of r1),
 * columns by tx.  Built per instruction set (GCC's target_clones): the channel loop is
 * most of the resize's time, and C is known only here. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
static void
resize_row(float *out, const float *r0, const float *r1, float dy, const cpu_tap *tx, int OW, int C)
{
    for (int ox = 0; ox < OW; ox++, out += C) {
        float dx = tx[ox].frac;
        const float *p00 = r0 + (size_t)tx[ox].lo * C, *p01 = r0 + (size_t)tx[ox].hi * C;
        const float *p10 = r1 + (size_t)tx[ox].lo * C, *p11 = r1 + (size_t)tx[ox].hi * C;
        float w00 = (1 - dy) * (1 - dx), w01 = (1 - dy) * dx, w10 = dy * (1 - dx), w11 = dy * dx;
        for (int ch = 0; ch < C; ch++)
            out[ch] = p00[ch] * w00 + p10[ch] * w10 + p01[ch] * w01 + p11[ch] * w11;
    }
}

static void resize_bilinear(const cpu_ctx *c, int ni)
{
    const engine_graph_node *n = &c->g->nodes[ni];
    const engine_graph_tensor *xt = &c->g->tensors[n->in[0]], *yt = &c->g->tensors[n->out];
    int items = xt->dims[0], H = xt->dims[1], W = xt->dims[2], C = xt->dims[3];
    int OH = yt->dims[1], OW = yt->dims[2];
    const cpu_tap *ty = c->nodes[ni].taps, *tx = ty + OH;
    for (int b = 0; b < items; b++) {
        const float *x = c->buf[n->in[0]] + (size_t)b * H * W * C;
        float *y = c->buf[n->out] + (size_t)b * OH * OW * C;
        for (int oy = 0; oy < OH; oy++)
            resize_row(y + (size_t)oy * OW * C, x + (size_t)ty[oy].lo * W * C,
                       x + (size_t)ty[oy].hi * W * C, ty[oy].frac, tx, OW, C);
    }
}

/* The taps of every output row, then column, of resize node n (engine_graph_resize_taps). */
static cr_status prepare_resize(cpu_ctx *c, int ni, cr_err *err)
{
    const engine_graph_node *n = &c->g->nodes[ni];
    const engine_graph_tensor *xt = &c->g->tensors[n->in[0]], *yt = &c->g->tensors[n->out];
    int H = xt->dims[1], W = xt->dims[2], OH = yt->dims[1], OW = yt->dims[2];
    cpu_tap *t = cr_malloc((size_t)(OH + OW) * sizeof *t);
    if (t == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
    float sh = engine_graph_resize_scale(n, H, OH), sw = engine_graph_resize_scale(n, W, OW);
    for (int o = 0; o < OH + OW; o++) {
        float v;
        int row = o < OH;
        engine_graph_resize_taps(n, row ? sh : sw, row ? o : o - OH, row ? H : W, &v, &t[o].lo,
                                 &t[o].hi);
        t[o].frac = v - (float)t[o].lo;
    }
    c->nodes[ni].taps = t;
    return CR_OK;
}

/* Runs chain k: for each band of d's output rows, the e rows it needs that the last band
 * did not compute, into band_e's ring of rows (a row keeps its slot while bands need
 * it), then d on them, then p (and the ADD) straight into the chain's output rows. */
static void run_chain(const cpu_ctx *c, const cpu_chain *ch)
{
    const engine_graph *g = c->g;
    const engine_graph_node *ne = &g->nodes[ch->e], *nd = &g->nodes[ch->d], *np = &g->nodes[ch->p];
    const cpu_node *ce = &c->nodes[ch->e], *cd = &c->nodes[ch->d], *cp = &c->nodes[ch->p];
    const engine_graph_tensor *xt = &g->tensors[ch->x], *et = &g->tensors[ne->out],
                              *dt = &g->tensors[nd->out];
    /* H x W: e's output, the depthwise input (e's input too where e is pointwise) */
    int items = xt->dims[0], H = et->dims[1], W = et->dims[2], CI = xt->dims[3];
    int CE = et->dims[3], OH = dt->dims[1], OW = dt->dims[2];
    int CO = g->tensors[np->out].dims[3];
    size_t row_e = (size_t)W * CE;
    cpu_gemm_args ge = node_gemm(c, ne, ce, CI, CE), gp = node_gemm(c, np, cp, CE, CO);
    gp.x = c->band_d;
    cpu_dw_args da = node_dw(nd, cd, 0, W, CE, OH, OW);
    da.x = c->band_e;
    da.y = c->band_d;
    da.ring = ch->ring;
    float lo = ch->a >= 0 ? g->nodes[ch->a].act_min : 0,
          hi = ch->a >= 0 ? g->nodes[ch->a].act_max : 0;
    for (int b = 0; b < items; b++) {
        const float *x = c->buf[ch->x] + (size_t)b * (xt->count / items);
        float *out = c->buf[ch->out] + (size_t)b * OH * OW * CO;
        const float *skip = ch->skip >= 0 ? c->buf[ch->skip] + (size_t)b * OH * OW * CO : NULL;
        int have_hi = 0; /* e rows [.., have_hi) are in the ring */
        for (int oy0 = 0; oy0 < OH; oy0 += ch->band) {
            int oy1 = oy0 + ch->band < OH ? oy0 + ch->band : OH;
            int lo_row = oy0 * da.sh - da.pad_top, hi_row = (oy1 - 1) * da.sh - da.pad_top + da.kh;
            lo_row = lo_row < 0 ? 0 : lo_row;
            hi_row = hi_row > H ? H : hi_row;
            /* rows [lo_row, hi_row) are at most `ring`: the new ones never land on a slot
             * this band still reads.  A run of new rows that wraps is two products. */
            for (int r = lo_row > have_hi ? lo_row : have_hi; r < hi_row;) {
                int slot = r % ch->ring,
                    n = hi_row - r < ch->ring - slot ? hi_row - r : ch->ring - slot;
                if (!ce->direct) { /* by filter rows, one output row at a time */
                    for (int i = 0; i < n; i++)
                        conv2d_rows(c, ne, ce, xt, et, x, c->band_e + (size_t)(slot + i) * row_e,
                                    r + i);
                    r += n;
                    continue;
                }
                ge.m = n * W;
                ge.x = x + (size_t)r * W * CI;
                ge.y = c->band_e + (size_t)slot * row_e;
                c->kern->gemm(&ge);
                r += n;
            }
            have_hi = hi_row > have_hi ? hi_row : have_hi;
            da.h = hi_row - lo_row;
            da.iy_base = lo_row;
            da.oy0 = oy0;
            da.oy1 = oy1;
            c->kern->dwconv(&da);
            gp.m = (oy1 - oy0) * OW;
            gp.y = out + (size_t)oy0 * OW * CO;
            c->kern->gemm(&gp);
            if (skip) {
                size_t n = (size_t)(oy1 - oy0) * OW * CO, off = (size_t)oy0 * OW * CO;
                c->kern->add(gp.y, gp.y, skip + off, n, lo, hi);
            }
        }
    }
}

static cr_status cpu_run(void *vctx, cr_err *err)
{
    cpu_ctx *c = vctx;
    (void)err;
    for (int ni = 0; ni < c->g->n_nodes; ni++) {
        const engine_graph_node *n = &c->g->nodes[ni];
        if (c->nodes[ni].inner)
            continue;
        if (c->nodes[ni].chain >= 0) {
            run_chain(c, &c->chains[c->nodes[ni].chain]);
            continue;
        }
        switch (n->op) {
        case ENGINE_GRAPH_CONV2D:
            conv2d(c, ni);
            break;
        case ENGINE_GRAPH_DWCONV2D:
            dwconv2d(c, ni);
            break;
        case ENGINE_GRAPH_ADD:
            add(c, n);
            break;
        case ENGINE_GRAPH_PAD:
            if (!c->nodes[ni].folded)
                pad(c, n);
            break;
        case ENGINE_GRAPH_RESIZE_BILINEAR:
            resize_bilinear(c, ni);
            break;
        case ENGINE_GRAPH_MAX_POOL:
            max_pool(c, n);
            break;
        case ENGINE_GRAPH_DEPTH_TO_SPACE:
        case ENGINE_GRAPH_RESHAPE:
        case ENGINE_GRAPH_CONCAT:
        case ENGINE_GRAPH_LOGISTIC:
        case ENGINE_GRAPH_OP_COUNT:
            engine_ref_run_node(c->g, ni, c->buf);
            break;
        }
    }
    return CR_OK;
}

/* ---- load ------------------------------------------------------------------- */

static void cpu_destroy(void *vctx)
{
    cpu_ctx *c = vctx;
    if (c == NULL)
        return;
    if (c->nodes)
        for (int i = 0; i < c->g->n_nodes; i++) {
            cr_free(c->nodes[i].packed);
            cr_free(c->nodes[i].rows);
            cr_free(c->nodes[i].bias);
            cr_free(c->nodes[i].taps);
        }
    for (int i = 0; i < c->n_blocks; i++)
        cr_free(c->blocks[i]);
    cr_free(c->blocks);
    cr_free(c->nodes);
    cr_free(c->buf);
    cr_free(c->scratch);
    cr_free(c->gemm_work);
    cr_free(c->chains);
    cr_free(c->band_e);
    cr_free(c->band_d);
    cr_free(c);
}

/* The node that reads tensor t, when exactly one node does and t is not a graph output;
 * else -1. */
static int sole_reader(const engine_graph *g, int t)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return -1;
    int reader = -1;
    for (int ni = 0; ni < g->n_nodes; ni++)
        for (int k = 0; k < g->nodes[ni].n_in; k++)
            if (g->nodes[ni].in[k] == t) {
                if (reader >= 0)
                    return -1;
                reader = ni;
            }
    return reader;
}

/* Folds zero PADs of the spatial dimensions into the convolution that alone reads them
 * (XNNPACK does the same): the convolution reads the PAD's input, with the padding
 * added to its own; taps beyond the input read 0 in both. */
static void fold_pads(cpu_ctx *c)
{
    const engine_graph *g = c->g;
    for (int ni = 0; ni < g->n_nodes; ni++) {
        cpu_node *cn = &c->nodes[ni];
        cn->x = g->nodes[ni].in[0];
        cn->pad_top = g->nodes[ni].pad_top;
        cn->pad_left = g->nodes[ni].pad_left;
    }
    for (int pi = 0; pi < g->n_nodes; pi++) {
        const engine_graph_node *p = &g->nodes[pi];
        const engine_graph_tensor *pt = &g->tensors[p->in[0]];
        if (p->op != ENGINE_GRAPH_PAD || p->pad_value != 0.0f || pt->rank != 4 || p->pads[0][0] ||
            p->pads[0][1] || p->pads[3][0] || p->pads[3][1])
            continue;
        int ni = sole_reader(g, p->out);
        if (ni < 0 || g->nodes[ni].in[0] != p->out ||
            (g->nodes[ni].op != ENGINE_GRAPH_CONV2D && g->nodes[ni].op != ENGINE_GRAPH_DWCONV2D))
            continue;
        cpu_node *cn = &c->nodes[ni];
        cn->x = p->in[0];
        cn->pad_top += p->pads[1][0];
        cn->pad_left += p->pads[2][0];
        c->nodes[pi].folded = 1;
    }
}

/* 1: node ni is a 1x1, stride-1, unpadded convolution (a matrix product over pixels). */
static int is_pointwise(const cpu_ctx *c, int ni)
{
    const engine_graph_node *n = &c->g->nodes[ni];
    const cpu_node *cn = &c->nodes[ni];
    return n->op == ENGINE_GRAPH_CONV2D && n->kh == 1 && n->kw == 1 && n->stride_h == 1 &&
           n->stride_w == 1 && cn->pad_top == 0 && cn->pad_left == 0 &&
           c->g->tensors[cn->x].dims[1] == c->g->tensors[n->out].dims[1] &&
           c->g->tensors[cn->x].dims[2] == c->g->tensors[n->out].dims[2];
}

/* 1: convolution node ni runs by filter rows (ROWS): it is not pointwise and at least
 * 16 output columns have all their taps inside the input, [*col0, *col1). */
static int by_rows(const cpu_ctx *c, int ni, int *col0, int *col1)
{
    const engine_graph_node *n = &c->g->nodes[ni];
    const cpu_node *cn = &c->nodes[ni];
    *col0 = *col1 = 0;
    if (n->op != ENGINE_GRAPH_CONV2D)
        return 0;
    int OW = c->g->tensors[n->out].dims[2], W = c->g->tensors[cn->x].dims[2];
    *col0 = (cn->pad_left + n->stride_w - 1) / n->stride_w;
    *col1 = W - n->kw + cn->pad_left >= 0 ? (W - n->kw + cn->pad_left) / n->stride_w + 1 : 0;
    *col1 = *col1 > OW ? OW : *col1;
    return !is_pointwise(c, ni) && *col1 - *col0 >= 16;
}

/* Expanded results smaller than this stay whole tensors: they fit in L2 anyway, and the
 * matrix products of a band would be short. */
#define CHAIN_MIN_BYTES (256 * 1024)

/* The most a chain's ring of expand rows takes where its bands could be smaller: the
 * ring and the band's depthwise results stay in L2, and a worker's engines do not grow
 * by megabytes for the detector's narrow, deep chains. */
#define CHAIN_RING_BYTES (256 * 1024)

/* Finds the chains (see "CHAINS" at the top) and sizes their band buffers. */
static cr_status find_chains(cpu_ctx *c, size_t *band_e, size_t *band_d, cr_err *err)
{
    const engine_graph *g = c->g;
    c->chains = cr_calloc((size_t)g->n_nodes, sizeof *c->chains);
    if (c->chains == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
    for (int d = 0; d < g->n_nodes; d++) {
        const engine_graph_node *nd = &g->nodes[d];
        if (nd->op != ENGINE_GRAPH_DWCONV2D)
            continue;
        int e = g->tensors[c->nodes[d].x].producer;
        int p = sole_reader(g, nd->out), col0, col1;
        if (e < 0 || p < 0 || !is_pointwise(c, p) || c->nodes[e].inner || c->nodes[e].chain >= 0 ||
            !(is_pointwise(c, e) || by_rows(c, e, &col0, &col1)))
            continue;
        int via = sole_reader(g, g->nodes[e].out); /* d, or a PAD folded into d */
        if (via != d && !(via >= 0 && c->nodes[via].folded && c->nodes[d].x == g->nodes[via].in[0]))
            continue;
        const engine_graph_tensor *et = &g->tensors[g->nodes[e].out], *dt = &g->tensors[nd->out];
        if (et->count / (size_t)et->dims[0] * sizeof(float) < CHAIN_MIN_BYTES)
            continue;
        cpu_chain ch = {.e = e,
                        .d = d,
                        .p = p,
                        .a = -1,
                        .x = c->nodes[e].x,
                        .skip = -1,
                        .out = g->nodes[p].out};
        int a = sole_reader(g, g->nodes[p].out);
        if (a >= 0 && g->nodes[a].op == ENGINE_GRAPH_ADD &&
            g->nodes[a].in[0] != g->nodes[a].in[1]) {
            ch.a = a;
            ch.skip = g->nodes[a].in[0] == g->nodes[p].out ? g->nodes[a].in[1] : g->nodes[a].in[0];
            ch.out = g->nodes[a].out;
        }
        /* Bands of at least 128 output pixels and two rows (see CHAINS above), fewer
         * where the ring of expand rows would pass CHAIN_RING_BYTES. */
        int OW = dt->dims[2];
        size_t row_bytes = (size_t)et->dims[2] * et->dims[3] * sizeof(float);
        ch.band = (128 + OW - 1) / OW;
        ch.band = ch.band < 2 ? 2 : ch.band;
        while (ch.band > 1 &&
               ((size_t)(ch.band - 1) * nd->stride_h + nd->kh) * row_bytes > CHAIN_RING_BYTES)
            ch.band--;
        int rows_e = (ch.band - 1) * nd->stride_h + nd->kh;
        ch.ring = rows_e;
        size_t need_e = (size_t)rows_e * row_bytes / sizeof(float);
        size_t need_d = (size_t)ch.band * OW * dt->dims[3];
        *band_e = need_e > *band_e ? need_e : *band_e;
        *band_d = need_d > *band_d ? need_d : *band_d;
        int last = ch.a >= 0 ? ch.a : p;
        c->nodes[e].inner = c->nodes[d].inner = 1;
        if (ch.a >= 0)
            c->nodes[p].inner = 1;
        c->nodes[last].chain = c->n_chains;
        c->chains[c->n_chains++] = ch;
    }
    return CR_OK;
}

/* The kernels' work memory for a matrix product of k inputs, kept in *work if larger. */
static void need_work(const cpu_ctx *c, int k, size_t *work)
{
    size_t need = c->kern->work_size ? c->kern->work_size(k) : 0;
    *work = need > *work ? need : *work;
}

static cr_status prepare_node(cpu_ctx *c, int ni, size_t *scratch, size_t *work, cr_err *err)
{
    const engine_graph *g = c->g;
    const engine_graph_node *n = &g->nodes[ni];
    cpu_node *cn = &c->nodes[ni];
    const engine_graph_tensor *xt = &g->tensors[cn->x], *yt = &g->tensors[n->out];
    const float *bias = n->in[2] >= 0 ? g->tensors[n->in[2]].data : NULL;
    if (n->op == ENGINE_GRAPH_CONV2D) {
        int OC = yt->dims[3], K = n->kh * n->kw * xt->dims[3];
        cn->packed = cr_malloc_aligned(ENGINE_ALIGN, c->kern->packed_size(OC, K) * sizeof(float));
        cn->bias = cr_malloc_aligned(ENGINE_ALIGN, (size_t)padded(OC) * sizeof(float));
        if (cn->packed == NULL || cn->bias == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        c->kern->pack(g->tensors[n->in[1]].data, (size_t)K, OC, K, cn->packed);
        cpu_pack_bias(bias, OC, cn->bias);
        need_work(c, K, work);
        cn->direct = n->kh == 1 && n->kw == 1 && n->stride_h == 1 && n->stride_w == 1 &&
                     cn->pad_top == 0 && cn->pad_left == 0 && xt->dims[1] == yt->dims[1] &&
                     xt->dims[2] == yt->dims[2];
        size_t need = (size_t)im2col_band(yt->dims[2], (size_t)K) * yt->dims[2] * K;
        if (by_rows(c, ni, &cn->col0, &cn->col1)) { /* ROWS */
            int kwc = n->kw * xt->dims[3];
            size_t one = c->kern->packed_size(OC, kwc);
            cn->rows = cr_malloc_aligned(ENGINE_ALIGN, (size_t)n->kh * one * sizeof(float));
            if (cn->rows == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
            for (int ky = 0; ky < n->kh; ky++)
                c->kern->pack(g->tensors[n->in[1]].data + (size_t)ky * kwc, (size_t)K, OC, kwc,
                              cn->rows + (size_t)ky * one);
            need_work(c, kwc, work);
        }
        if (!cn->direct && need > *scratch)
            *scratch = need;
    } else if (n->op == ENGINE_GRAPH_DWCONV2D) {
        int C = yt->dims[3], cpad = padded(C), taps = n->kh * n->kw;
        cn->packed = cr_calloc_aligned(ENGINE_ALIGN, (size_t)taps * cpad, sizeof(float));
        cn->bias = cr_calloc_aligned(ENGINE_ALIGN, (size_t)cpad, sizeof(float));
        if (cn->packed == NULL || cn->bias == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        const float *w = g->tensors[n->in[1]].data;
        for (int t = 0; t < taps; t++)
            memcpy(cn->packed + (size_t)t * cpad, w + (size_t)t * C, (size_t)C * sizeof(float));
        if (bias)
            memcpy(cn->bias, bias, (size_t)C * sizeof(float));
    } else if (n->op == ENGINE_GRAPH_RESIZE_BILINEAR) {
        return prepare_resize(c, ni, err);
    }
    return CR_OK;
}

/* Tensor that node ni reads as its input k (-1: none): a folded PAD reads nothing, and
 * the convolution it folded into reads the PAD's input instead of its output. */
static int reads(const cpu_ctx *c, int ni, int k)
{
    if (c->nodes[ni].folded || c->nodes[ni].inner)
        return -1;
    if (c->nodes[ni].chain >= 0) { /* a chain reads its input and the ADD's other input */
        const cpu_chain *ch = &c->chains[c->nodes[ni].chain];
        return k == 0 ? ch->x : k == 1 ? ch->skip : -1;
    }
    return k == 0 ? c->nodes[ni].x : c->g->nodes[ni].in[k];
}

/* Assigns every activation a buffer, shared where lifetimes do not overlap (see the
 * top comment). */
static cr_status plan_buffers(cpu_ctx *c, cr_err *err)
{
    const engine_graph *g = c->g;
    cr_status st = CR_OK;
    int *last = cr_malloc((size_t)g->n_tensors * sizeof *last);
    int *block_of = cr_malloc((size_t)g->n_tensors * sizeof *block_of);
    size_t *cap = cr_calloc((size_t)g->n_nodes + 1, sizeof *cap);
    char *busy = cr_calloc((size_t)g->n_nodes + 1, 1);
    c->blocks = cr_calloc((size_t)g->n_nodes + 1, sizeof *c->blocks);
    if (last == NULL || block_of == NULL || cap == NULL || busy == NULL || c->blocks == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        goto fail;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        last[t] = -1;
        block_of[t] = -1;
    }
    for (int ni = 0; ni < g->n_nodes; ni++)
        for (int k = 0; k < g->nodes[ni].n_in; k++)
            if (reads(c, ni, k) >= 0)
                last[reads(c, ni, k)] = ni;
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const engine_graph_node *n = &g->nodes[ni];
        if (c->nodes[ni].folded || c->nodes[ni].inner)
            continue;                 /* computes nothing here; its output is never read */
        if (c->buf[n->out] == NULL) { /* an internal activation: pick a block */
            size_t need = g->tensors[n->out].count * sizeof(float) + ENGINE_SLACK;
            int best = -1;
            for (int b = 0; b < c->n_blocks; b++)
                if (!busy[b] && cap[b] >= need && (best < 0 || cap[b] < cap[best]))
                    best = b;
            if (best < 0) {
                best = c->n_blocks;
                if ((c->blocks[best] = cr_malloc_aligned(ENGINE_ALIGN, need)) == NULL) {
                    st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
                    goto fail;
                }
                cap[best] = need;
                c->n_blocks++;
            }
            busy[best] = 1;
            block_of[n->out] = best;
            c->buf[n->out] = c->blocks[best];
        }
        for (int k = 0; k < n->n_in; k++) { /* inputs read for the last time */
            int t = reads(c, ni, k);
            if (t >= 0 && last[t] == ni && block_of[t] >= 0)
                busy[block_of[t]] = 0;
        }
        if (last[n->out] < 0 && block_of[n->out] >= 0) /* never read (pruned graphs: none) */
            busy[block_of[n->out]] = 0;
    }
fail:
    cr_free(last);
    cr_free(block_of);
    cr_free(cap);
    cr_free(busy);
    return st;
}

static cr_status load_with(const cpu_kernels *kern, const engine_graph *g, const engine_io *io,
                           void **out, cr_err *err)
{
    *out = NULL;
    cr_status st;
    cpu_ctx *c = cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
    c->g = g;
    c->kern = kern;
    c->buf = cr_calloc((size_t)g->n_tensors, sizeof *c->buf);
    c->nodes = cr_calloc((size_t)g->n_nodes, sizeof *c->nodes);
    if (c->buf == NULL || c->nodes == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        goto fail;
    }
    c->buf[g->input] = io->input;
    for (int i = 0; i < g->n_outputs; i++)
        c->buf[g->outputs[i]] = io->outputs[i];
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].data != NULL)
            c->buf[t] = g->tensors[t].data;
    fold_pads(c);
    size_t scratch = 0, work = 0, band_e = 0, band_d = 0;
    for (int ni = 0; ni < g->n_nodes; ni++)
        c->nodes[ni].chain = -1;
    if ((st = find_chains(c, &band_e, &band_d, err)))
        goto fail;
    if (band_e > 0 &&
        ((c->band_e = cr_malloc_aligned(ENGINE_ALIGN, band_e * sizeof(float) + ENGINE_SLACK)) ==
             NULL ||
         (c->band_d = cr_malloc_aligned(ENGINE_ALIGN, band_d * sizeof(float) + ENGINE_SLACK)) ==
             NULL)) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        goto fail;
    }
    for (int ni = 0; ni < g->n_nodes; ni++)
        if ((st = prepare_node(c, ni, &scratch, &work, err)))
            goto fail;
    if (work > 0 && (c->gemm_work = cr_malloc_aligned(ENGINE_ALIGN, work)) == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        goto fail;
    }
    if (scratch > 0 && (c->scratch = cr_malloc_aligned(ENGINE_ALIGN, scratch * sizeof(float) +
                                                                         ENGINE_SLACK)) == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cpu engine: out of memory");
        goto fail;
    }
    if ((st = plan_buffers(c, err)))
        goto fail;
    *out = c;
    return CR_OK;
fail:
    cpu_destroy(c);
    return st;
}

static cr_status cpu_load(const engine_graph *g, const engine_io *io, int threads, void **out,
                          cr_err *err)
{
    (void)threads; /* one thread: see the top comment */
    return load_with(cpu_kernels_best(), g, io, out, err);
}

static cr_status cpu_load_portable(const engine_graph *g, const engine_io *io, int threads,
                                   void **out, cr_err *err)
{
    (void)threads;
    return load_with(&cpu_kernels_portable, g, io, out, err);
}

const engine_ops engine_cpu_ops = {
    .api_version = ENGINE_API_VERSION,
    .name = "cpu",
    .load = cpu_load,
    .run = cpu_run,
    .destroy = cpu_destroy,
};

static cr_status cpu_probe_amx(cr_err *err)
{
    if (cpu_kernels_amx_usable() == NULL)
        return cr_err_set(err, CR_ERR_UNSUPPORTED,
                          "cpu-amx engine: this CPU or OS offers no AMX tiles (it needs "
                          "AMX-BF16 and AVX512-BF16, and Linux 5.16 or later)");
    return CR_OK;
}

static cr_status cpu_load_amx(const engine_graph *g, const engine_io *io, int threads, void **out,
                              cr_err *err)
{
    (void)threads;
    cr_status st = cpu_probe_amx(err);
    return st ? st : load_with(cpu_kernels_amx_usable(), g, io, out, err);
}

const engine_ops engine_cpu_amx_ops = {
    .api_version = ENGINE_API_VERSION,
    .name = "cpu-amx",
    .load = cpu_load_amx,
    .run = cpu_run,
    .destroy = cpu_destroy,
    .probe = cpu_probe_amx,
};

const engine_ops engine_cpu_portable_ops = {
    .api_version = ENGINE_API_VERSION,
    .name = "cpu-portable",
    .load = cpu_load_portable,
    .run = cpu_run,
    .destroy = cpu_destroy,
};
