/*
 * test_engine_ops -- operator by operator: the reference engine against values
 * worked out by hand (its own oracle), then every other built engine (that this machine
 * can run: engine_probe; the CUDA engine without a GPU is named and skipped) against the
 * reference on single-operator graphs with random data over the parameters the
 * pose models use and a few more (SAME/VALID, strides 1/2, kernels 1/3/5, RELU6,
 * half-pixel / align-corners / legacy resize, channel padding).  Also the
 * engine API's errors and allocation-failure cleanup.
 */
#include "check.h"
#include "core/mem.h"
#include "engine/engine_int.h"
#include "engine_test_util.h"

#include <pthread.h>
#include <stdint.h>

/* Thread-local: the thread checks build the same graph in three threads at once,
 * each from the same seed. */
static _Thread_local uint32_t rng = 2463534242u;
static float frand(void) /* uniform in [-1, 1): xorshift32 (Marsaglia 2003) */
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

static int add_t(engine_graph *g, const char *name, int rank, int d0, int d1, int d2, int d3,
                 const float *data)
{
    int dims[4] = {d0, d1, d2, d3};
    return engine_graph_add_tensor(g, name, rank, dims, data, NULL);
}

static float *rand_buf(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = frand();
    return v;
}

static engine_graph_node node0(engine_graph_op op, int in, int out)
{
    engine_graph_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.n_in = 1;
    n.in[0] = in;
    n.out = out;
    n.act_min = -INFINITY;
    n.act_max = INFINITY;
    n.stride_h = n.stride_w = 1;
    return n;
}

/* Runs graph `g` (input values `x`) on engine `name`; copies output 0 to `y`. */
static int run_graph(const char *name, engine_graph *g, const float *x, float *y, int threads)
{
    engine *e;
    cr_err err = {0};
    cr_status st = engine_graph_check(g, &err);
    CHECK_MSG(st == CR_OK, "engine_graph_check: %s", cr_err_msg(&err));
    if (st) {
        engine_graph_free(g);
        return 0;
    }
    const char *out_name = g->tensors[g->outputs[0]].name;
    st = engine_create_graph(name, g, NULL, 0, threads, &e, &err);
    CHECK_MSG(st == CR_OK, "%s: %s", name, cr_err_msg(&err));
    if (st)
        return 0;
    engine_shape s;
    float *in = engine_input(e, &s);
    memcpy(in, x, (size_t)s.dims[0] * s.dims[1] * s.dims[2] * s.dims[3] * sizeof(float));
    st = engine_run(e, &err);
    CHECK_MSG(st == CR_OK, "%s run: %s", name, cr_err_msg(&err));
    const float *o = engine_output(e, out_name, &s);
    size_t n = 1;
    for (int d = 0; d < s.rank; d++)
        n *= (size_t)s.dims[d];
    memcpy(y, o, n * sizeof(float));
    engine_destroy(e);
    return st == CR_OK;
}

/* ---- the reference against hand-computed values ------------------------------- */

typedef engine_graph *(*builder)(void *arg);

static void expect_ref(const char *what, engine_graph *g, const float *x, const float *want,
                       size_t n)
{
    float y[64];
    if (!run_graph("ref", g, x, y, 1))
        return;
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(fabsf(y[i] - want[i]) < 1e-5f, "%s[%zu]: %g, want %g", what, i, y[i], want[i]);
}

static engine_graph *conv_graph(int H, int W, int C, int O, int K, int stride, int same, int dw,
                                const float *w, const float *b, float lo, float hi)
{
    engine_graph *g = engine_graph_new();
    g->input = add_t(g, "x", 4, 1, H, W, C, NULL);
    int wt = dw ? add_t(g, "w", 4, 1, K, K, C, w) : add_t(g, "w", 4, O, K, K, C, w);
    int bt = b ? add_t(g, "b", 1, dw ? C : O, 0, 0, 0, b) : -1;
    int OH = same ? (H + stride - 1) / stride : (H - K) / stride + 1;
    int OW = same ? (W + stride - 1) / stride : (W - K) / stride + 1;
    int y = add_t(g, "y", 4, 1, OH, OW, dw ? C : O, NULL);
    engine_graph_node n = node0(dw ? ENGINE_GRAPH_DWCONV2D : ENGINE_GRAPH_CONV2D, g->input, y);
    n.n_in = 3;
    n.in[1] = wt;
    n.in[2] = bt;
    n.stride_h = n.stride_w = stride;
    if (same) { /* TensorFlow SAME (graph.h) */
        int th = (OH - 1) * stride + K - H, tw = (OW - 1) * stride + K - W;
        th = th < 0 ? 0 : th;
        tw = tw < 0 ? 0 : tw;
        n.pad_top = th / 2;
        n.pad_bottom = th - th / 2;
        n.pad_left = tw / 2;
        n.pad_right = tw - tw / 2;
    }
    n.act_min = lo;
    n.act_max = hi;
    engine_graph_add_node(g, &n, NULL);
    g->outputs[g->n_outputs++] = y;
    return g;
}

static engine_graph *unary_graph(engine_graph_op op, int rank, const int *xd, const int *yd,
                                 engine_graph_node *tmpl)
{
    engine_graph *g = engine_graph_new();
    g->input = add_t(g, "x", rank, xd[0], xd[1], xd[2], xd[3], NULL);
    int y = add_t(g, "y", rank, yd[0], yd[1], yd[2], yd[3], NULL);
    engine_graph_node n = tmpl ? *tmpl : node0(op, 0, 0);
    n.op = op;
    n.n_in = 1;
    n.in[0] = g->input;
    n.out = y;
    engine_graph_add_node(g, &n, NULL);
    g->outputs[g->n_outputs++] = y;
    return g;
}

static void hand_checks(void)
{
    float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, ones[16], w9[9], b = 0.5f;
    for (int i = 0; i < 16; i++)
        ones[i] = 1;
    for (int i = 0; i < 9; i++)
        w9[i] = 1;
    /* 3x3 box filter, SAME: corner = 1+2+4+5 + bias, centre = 45 + bias. */
    float want_same[9] = {12.5f, 21.5f, 16.5f, 27.5f, 45.5f, 33.5f, 24.5f, 39.5f, 28.5f};
    expect_ref("conv same", conv_graph(3, 3, 1, 1, 3, 1, 1, 0, w9, &b, -INFINITY, INFINITY), x9,
               want_same, 9);
    float want_valid[1] = {45.5f};
    expect_ref("conv valid", conv_graph(3, 3, 1, 1, 3, 1, 0, 0, w9, &b, -INFINITY, INFINITY), x9,
               want_valid, 1);
    /* RELU6 clamps. */
    float want_relu6[1] = {6.0f};
    expect_ref("conv relu6", conv_graph(3, 3, 1, 1, 3, 1, 0, 0, w9, &b, 0, 6), x9, want_relu6, 1);
    /* Stride 2 SAME on 4x4: TF pads 0 before, 1 after -> 9 ones at (0,0), 4 at (1,1). */
    float want_s2[4] = {9, 6, 6, 4};
    expect_ref("conv s2 same", conv_graph(4, 4, 1, 1, 3, 2, 1, 0, w9, NULL, -INFINITY, INFINITY),
               ones, want_s2, 4);
    /* Two in, two out channels, 1x1: y0 = x0 + 2 x1, y1 = 3 x0 + 4 x1. */
    float w4[4] = {1, 2, 3, 4}, x2[2] = {10, 100}, want_1x1[2] = {210, 430};
    expect_ref("conv 1x1", conv_graph(1, 1, 2, 2, 1, 1, 0, 0, w4, NULL, -INFINITY, INFINITY), x2,
               want_1x1, 2);
    /* Depthwise 1x1 on two channels: per-channel scale 1 and 2 plus bias 1 and 0. */
    float wd[2] = {1, 2}, bd[2] = {1, 0}, want_dw[2] = {11, 200};
    expect_ref("dwconv", conv_graph(1, 1, 2, 2, 1, 1, 0, 1, wd, bd, -INFINITY, INFINITY), x2,
               want_dw, 2);

    /* Resize [0,1] -> 4 wide: half-pixel, align corners, legacy. */
    int xd[4] = {1, 1, 2, 1}, yd[4] = {1, 1, 4, 1};
    float x01[2] = {0, 1};
    engine_graph_node r = node0(ENGINE_GRAPH_RESIZE_BILINEAR, 0, 0);
    r.half_pixel = 1;
    float want_hp[4] = {0, 0.25f, 0.75f, 1};
    expect_ref("resize half-pixel", unary_graph(ENGINE_GRAPH_RESIZE_BILINEAR, 4, xd, yd, &r), x01,
               want_hp, 4);
    r.half_pixel = 0;
    r.align_corners = 1;
    float want_ac[4] = {0, 1.0f / 3, 2.0f / 3, 1};
    expect_ref("resize align", unary_graph(ENGINE_GRAPH_RESIZE_BILINEAR, 4, xd, yd, &r), x01,
               want_ac, 4);
    r.align_corners = 0;
    float want_lg[4] = {0, 0.5f, 1, 1};
    expect_ref("resize legacy", unary_graph(ENGINE_GRAPH_RESIZE_BILINEAR, 4, xd, yd, &r), x01,
               want_lg, 4);

    /* Depth to space, block 2, 2 output channels: DCR order. */
    int dd[4] = {1, 1, 1, 8}, ddo[4] = {1, 2, 2, 2};
    float x8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    engine_graph_node d = node0(ENGINE_GRAPH_DEPTH_TO_SPACE, 0, 0);
    d.block = 2;
    expect_ref("depth_to_space", unary_graph(ENGINE_GRAPH_DEPTH_TO_SPACE, 4, dd, ddo, &d), x8, x8,
               8);
    int dd1[4] = {1, 1, 2, 4}, ddo1[4] = {1, 2, 4, 1};
    float want_d2s[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    expect_ref("depth_to_space 2", unary_graph(ENGINE_GRAPH_DEPTH_TO_SPACE, 4, dd1, ddo1, &d), x8,
               want_d2s, 8);

    /* Pad H (1,0), W (0,1), C (0,1) with 0; and PADV2's value. */
    int pd[4] = {1, 1, 2, 1}, pdo[4] = {1, 2, 3, 2};
    engine_graph_node p = node0(ENGINE_GRAPH_PAD, 0, 0);
    p.pads[1][0] = 1;
    p.pads[2][1] = 1;
    p.pads[3][1] = 1;
    float x56[2] = {5, 6}, want_pad[12] = {0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0};
    expect_ref("pad", unary_graph(ENGINE_GRAPH_PAD, 4, pd, pdo, &p), x56, want_pad, 12);
    p.pad_value = -1;
    float want_pad1[12] = {-1, -1, -1, -1, -1, -1, 5, -1, 6, -1, -1, -1};
    expect_ref("pad value", unary_graph(ENGINE_GRAPH_PAD, 4, pd, pdo, &p), x56, want_pad1, 12);

    /* Max pool 2x2 stride 2 on 4x4 of 0..15. */
    int md[4] = {1, 4, 4, 1}, mdo[4] = {1, 2, 2, 1};
    float x16[16], want_mp[4] = {5, 7, 13, 15};
    for (int i = 0; i < 16; i++)
        x16[i] = (float)i;
    engine_graph_node mp = node0(ENGINE_GRAPH_MAX_POOL, 0, 0);
    mp.kh = mp.kw = mp.stride_h = mp.stride_w = 2;
    expect_ref("max_pool", unary_graph(ENGINE_GRAPH_MAX_POOL, 4, md, mdo, &mp), x16, want_mp, 4);

    /* Logistic. */
    int ld[4] = {1, 1, 1, 2};
    float xl[2] = {0, 2}, want_l[2] = {0.5f, 0.88079708f};
    expect_ref("logistic", unary_graph(ENGINE_GRAPH_LOGISTIC, 4, ld, ld, NULL), xl, want_l, 2);

    /* Add with RELU6, second operand a constant; concat of the input and a logistic. */
    engine_graph *g = engine_graph_new();
    float c2[2] = {-3, 1};
    g->input = add_t(g, "x", 4, 1, 1, 1, 2, NULL);
    int k = add_t(g, "k", 4, 1, 1, 1, 2, c2);
    int s = add_t(g, "s", 4, 1, 1, 1, 2, NULL);
    int y = add_t(g, "y", 4, 1, 1, 1, 4, NULL);
    engine_graph_node a = node0(ENGINE_GRAPH_ADD, g->input, s);
    a.n_in = 2;
    a.in[1] = k;
    a.act_min = 0;
    a.act_max = 6;
    engine_graph_add_node(g, &a, NULL);
    engine_graph_node c = node0(ENGINE_GRAPH_CONCAT, g->input, y);
    c.n_in = 2;
    c.in[1] = s;
    c.axis = 3;
    engine_graph_add_node(g, &c, NULL);
    g->outputs[g->n_outputs++] = y;
    float xa[2] = {2, 9}, want_cat[4] = {2, 9, 0, 6};
    expect_ref("add relu6 + concat", g, xa, want_cat, 4);
}

/* ---- every engine against the reference, one operator at a time --------------- */

static void against_ref(const char *what, engine_graph *(*make)(const void *), const void *arg)
{
    const char *const *engines = runnable_engines();
    engine_graph *g0 = make(arg);
    if (engine_graph_check(g0, NULL) != CR_OK) {
        CHECK_MSG(0, "%s: engine_graph_check", what);
        engine_graph_free(g0);
        return;
    }
    size_t nin = g0->tensors[g0->input].count, nout = g0->tensors[g0->outputs[0]].count;
    engine_graph_free(g0);
    float *x = rand_buf(nin), *want = malloc(nout * 4), *got = malloc(nout * 4);
    if (run_graph("ref", make(arg), x, want, 1)) {
        double lo = want[0], hi = want[0];
        for (size_t i = 0; i < nout; i++) {
            lo = want[i] < lo ? want[i] : lo;
            hi = want[i] > hi ? want[i] : hi;
        }
        for (int e = 0; engines[e]; e++) {
            if (strcmp(engines[e], "ref") == 0)
                continue;
            for (int threads = 1; threads <= (engine_test_threaded(engines[e]) ? 2 : 1);
                 threads++) {
                if (!run_graph(engines[e], make(arg), x, got, threads))
                    continue;
                double diff = 0;
                for (size_t i = 0; i < nout; i++) {
                    double d = fabs((double)got[i] - want[i]);
                    diff = d > diff || d != d ? d : diff;
                }
                double scale = hi - lo > 0 ? hi - lo : 1;
                printf("  %-34s %s/%dt max|diff| %.3g (range %.3g)\n", what, engines[e], threads,
                       diff, scale);
                CHECK_MSG(diff <= 1e-4 * engine_test_looseness(engines[e]) * scale, "%s on %s",
                          what, engines[e]);
            }
        }
    }
    free(x);
    free(want);
    free(got);
}

typedef struct conv_case {
    int H, W, C, O, K, stride, same, dw, relu6;
} conv_case;

static engine_graph *make_conv(const void *arg)
{
    const conv_case *c = arg;
    size_t nw = c->dw ? (size_t)c->K * c->K * c->C : (size_t)c->O * c->K * c->K * c->C;
    uint32_t saved = rng;
    rng = 99991u + (uint32_t)nw; /* same weights for every engine */
    float *w = rand_buf(nw), *b = rand_buf(c->dw ? c->C : c->O);
    rng = saved;
    engine_graph *g = conv_graph(c->H, c->W, c->C, c->O, c->K, c->stride, c->same, c->dw, w, b,
                                 c->relu6 ? 0 : -INFINITY, c->relu6 ? 6 : INFINITY);
    free(w);
    free(b);
    return g;
}

typedef struct unary_case {
    engine_graph_op op;
    int xd[4], yd[4];
    engine_graph_node n;
} unary_case;

static engine_graph *make_unary(const void *arg)
{
    const unary_case *u = arg;
    engine_graph_node n = u->n;
    if (n.act_max == 0 && n.act_min == 0) {
        n.act_min = -INFINITY;
        n.act_max = INFINITY;
    }
    return unary_graph(u->op, 4, u->xd, u->yd, &n);
}

static engine_graph *make_add_concat(const void *arg)
{
    (void)arg;
    /* y = concat(reshape(x + x) to [1,96,2], reshape(logistic(x)) to [1,96,2]) on axis 1 */
    engine_graph *g = engine_graph_new();
    g->input = add_t(g, "x", 4, 1, 4, 6, 8, NULL);
    int s = add_t(g, "s", 4, 1, 4, 6, 8, NULL), l = add_t(g, "l", 4, 1, 4, 6, 8, NULL);
    int rs = add_t(g, "rs", 3, 1, 96, 2, 0, NULL), rl = add_t(g, "rl", 3, 1, 96, 2, 0, NULL);
    int y = add_t(g, "y", 3, 1, 192, 2, 0, NULL);
    engine_graph_node a = node0(ENGINE_GRAPH_ADD, g->input, s);
    a.n_in = 2;
    a.in[1] = g->input;
    a.act_min = 0;
    a.act_max = 6;
    engine_graph_add_node(g, &a, NULL);
    engine_graph_node lg = node0(ENGINE_GRAPH_LOGISTIC, g->input, l);
    engine_graph_add_node(g, &lg, NULL);
    engine_graph_node r1 = node0(ENGINE_GRAPH_RESHAPE, s, rs),
                      r2 = node0(ENGINE_GRAPH_RESHAPE, l, rl);
    engine_graph_add_node(g, &r1, NULL);
    engine_graph_add_node(g, &r2, NULL);
    engine_graph_node c = node0(ENGINE_GRAPH_CONCAT, rs, y);
    c.n_in = 2;
    c.in[1] = rl;
    c.axis = 1;
    engine_graph_add_node(g, &c, NULL);
    g->outputs[g->n_outputs++] = y;
    return g;
}

/* A zero PAD of the spatial dimensions feeding a VALID convolution, as the pose models
 * pad before each stride-2 layer: engines may fold the PAD into the convolution (the cpu
 * engine does).  With `shared` the PAD's output also feeds an ADD, and with `value` the
 * pad is not zero: both must not be folded. */
typedef struct pad_conv_case {
    int H, W, C, O, K, stride, dw, top, bottom, left, right, shared;
    float value;
} pad_conv_case;

static engine_graph *make_pad_conv(const void *arg)
{
    const pad_conv_case *c = arg;
    size_t nw = c->dw ? (size_t)c->K * c->K * c->C : (size_t)c->O * c->K * c->K * c->C;
    uint32_t saved = rng;
    rng = 4242u + (uint32_t)nw;
    float *w = rand_buf(nw), *b = rand_buf(c->dw ? c->C : c->O);
    rng = saved;
    int PH = c->H + c->top + c->bottom, PW = c->W + c->left + c->right;
    int OH = (PH - c->K) / c->stride + 1, OW = (PW - c->K) / c->stride + 1,
        OC = c->dw ? c->C : c->O;
    engine_graph *g = engine_graph_new();
    g->input = add_t(g, "x", 4, 1, c->H, c->W, c->C, NULL);
    int p = add_t(g, "p", 4, 1, PH, PW, c->C, NULL);
    int wt = c->dw ? add_t(g, "w", 4, 1, c->K, c->K, c->C, w)
                   : add_t(g, "w", 4, c->O, c->K, c->K, c->C, w);
    int bt = add_t(g, "b", 1, OC, 0, 0, 0, b);
    int y = add_t(g, "y", 4, 1, OH, OW, OC, NULL);
    engine_graph_node pn = node0(ENGINE_GRAPH_PAD, g->input, p);
    pn.pads[1][0] = c->top;
    pn.pads[1][1] = c->bottom;
    pn.pads[2][0] = c->left;
    pn.pads[2][1] = c->right;
    pn.pad_value = c->value;
    engine_graph_add_node(g, &pn, NULL);
    engine_graph_node n = node0(c->dw ? ENGINE_GRAPH_DWCONV2D : ENGINE_GRAPH_CONV2D, p, y);
    n.n_in = 3;
    n.in[1] = wt;
    n.in[2] = bt;
    n.stride_h = n.stride_w = c->stride;
    n.kh = n.kw = c->K;
    n.act_min = 0;
    n.act_max = 6;
    engine_graph_add_node(g, &n, NULL);
    g->outputs[g->n_outputs++] = y;
    if (c->shared) { /* the padded tensor is an output too */
        int s = add_t(g, "s", 4, 1, PH, PW, c->C, NULL);
        engine_graph_node a = node0(ENGINE_GRAPH_ADD, p, s);
        a.n_in = 2;
        a.in[1] = p;
        engine_graph_add_node(g, &a, NULL);
        g->outputs[g->n_outputs++] = s;
    }
    free(w);
    free(b);
    return g;
}

/* An inverted-residual block, as the pose models have them: 1x1 expand (RELU6) ->
 * [zero PAD] -> depthwise KxK (RELU6) -> 1x1 project [-> ADD of the block's input].
 * Large enough for the cpu engine to run it as one chain, band by band (engine_cpu.c;
 * test_engine_models_batch runs the models' chains with several items).  With `stem`,
 * the models' first layers instead: a 3-channel input, PAD 1 -> 3x3 stride-2
 * convolution (by filter rows in the cpu engine) -> depthwise -> 1x1. */
typedef struct block_case {
    int H, W, C, CE, K, stride, pad, residual, stem;
} block_case;

static int block_conv(engine_graph *g, int x, int O, int I, int K, int dw, const char *name,
                      int stride, float lo, float hi, int OH, int OW)
{
    size_t nw = dw ? (size_t)K * K * I : (size_t)O * K * K * I;
    float *w = rand_buf(nw), *b = rand_buf(dw ? I : O);
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s_w", name);
    snprintf(bn, sizeof bn, "%s_b", name);
    int wt = dw ? add_t(g, wn, 4, 1, K, K, I, w) : add_t(g, wn, 4, O, K, K, I, w);
    int bt = add_t(g, bn, 1, dw ? I : O, 0, 0, 0, b);
    int y = add_t(g, name, 4, 1, OH, OW, dw ? I : O, NULL);
    engine_graph_node n = node0(dw ? ENGINE_GRAPH_DWCONV2D : ENGINE_GRAPH_CONV2D, x, y);
    n.n_in = 3;
    n.in[1] = wt;
    n.in[2] = bt;
    n.kh = n.kw = K;
    n.stride_h = n.stride_w = stride;
    n.act_min = lo;
    n.act_max = hi;
    if (dw && stride == 1) { /* SAME */
        n.pad_top = n.pad_left = (K - 1) / 2;
        n.pad_bottom = n.pad_right = K / 2;
    }
    engine_graph_add_node(g, &n, NULL);
    free(w);
    free(b);
    return y;
}

static engine_graph *make_block(const void *arg)
{
    const block_case *c = arg;
    uint32_t saved = rng;
    rng = 777u + (uint32_t)(c->H * 31 + c->CE);
    engine_graph *g = engine_graph_new();
    g->input = add_t(g, "x", 4, 1, c->H, c->W, c->stem ? 3 : c->C, NULL);
    int e, EH = c->H, EW = c->W;
    if (c->stem) {
        int xp = add_t(g, "xp", 4, 1, c->H + 2, c->W + 2, 3, NULL);
        engine_graph_node pn = node0(ENGINE_GRAPH_PAD, g->input, xp);
        pn.pads[1][0] = pn.pads[1][1] = pn.pads[2][0] = pn.pads[2][1] = 1;
        engine_graph_add_node(g, &pn, NULL);
        EH = (c->H + 2 - 3) / 2 + 1;
        EW = (c->W + 2 - 3) / 2 + 1;
        e = block_conv(g, xp, c->CE, 3, 3, 0, "e", 2, -INFINITY, INFINITY, EH, EW);
    } else {
        e = block_conv(g, g->input, c->CE, c->C, 1, 0, "e", 1, 0, 6, c->H, c->W);
    }
    int din = e, DH = EH, DW = EW;
    if (c->pad) { /* as the models pad before a stride-2 depthwise: (K-2)/2 before, the rest after */
        int before = (c->K - 2) / 2, after = c->K - 2 - before + 1;
        DH = c->H + before + after;
        DW = c->W + before + after;
        din = add_t(g, "p", 4, 1, DH, DW, c->CE, NULL);
        engine_graph_node pn = node0(ENGINE_GRAPH_PAD, e, din);
        pn.pads[1][0] = pn.pads[2][0] = before;
        pn.pads[1][1] = pn.pads[2][1] = after;
        engine_graph_add_node(g, &pn, NULL);
    }
    int OH = c->pad ? (DH - c->K) / c->stride + 1 : EH;
    int OW = c->pad ? (DW - c->K) / c->stride + 1 : EW;
    int d = block_conv(g, din, c->CE, c->CE, c->K, 1, "d", c->stride, 0, 6, OH, OW);
    int y = block_conv(g, d, c->C, c->CE, 1, 0, "pr", 1, -INFINITY, INFINITY, OH, OW);
    if (c->residual) {
        int r = add_t(g, "r", 4, 1, OH, OW, c->C, NULL);
        engine_graph_node a = node0(ENGINE_GRAPH_ADD, y, r);
        a.n_in = 2;
        a.in[1] = g->input;
        engine_graph_add_node(g, &a, NULL);
        y = r;
    }
    g->outputs[g->n_outputs++] = y;
    rng = saved;
    return g;
}

static void engine_checks(void)
{
    static const block_case blocks[] = {
        {40, 37, 24, 144, 3, 1, 0, 1, 0},  /* 3x3 residual */
        {35, 33, 16, 96, 5, 1, 0, 1, 0},   /* 5x5 residual */
        {42, 38, 24, 144, 5, 2, 1, 0, 0},  /* 5x5 stride 2 after a PAD */
        {41, 41, 16, 160, 3, 2, 1, 0, 0},  /* 3x3 stride 2, odd size */
        {30, 11, 88, 528, 5, 1, 0, 1, 0},  /* bands of 12 rows, 12 and 6, mostly border */
        {127, 126, 16, 24, 3, 1, 0, 0, 1}, /* the stem: 3x3 s2 convolution by rows first */
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        const block_case *c = &blocks[i];
        char what[96];
        snprintf(what, sizeof what, "block %dx%dx%d x%d dw%d s%d%s%s", c->H, c->W, c->C, c->CE,
                 c->K, c->stride, c->residual ? " +add" : "", c->stem ? " stem" : "");
        against_ref(what, make_block, c);
    }
    static const pad_conv_case pad_convs[] = {
        /* the landmark models' shapes: 5x5 s2 and 3x3 s2 depthwise, the 3x3 s2 stem */
        {16, 16, 24, 0, 5, 2, 1, 1, 2, 1, 2, 0, 0.0f},
        {12, 12, 88, 0, 3, 2, 1, 0, 1, 0, 1, 0, 0.0f},
        {18, 18, 3, 24, 3, 2, 0, 1, 1, 1, 1, 0, 0.0f},
        /* the pads the pose models have (1 a side before 3x3, 2 before 5x5): the border
         * groups of the AVX-512 depthwise kernel's own builds, on the left, on the right
         * and (8 outputs) both */
        {20, 20, 40, 0, 5, 2, 1, 2, 2, 2, 2, 0, 0.0f},
        {18, 18, 24, 0, 3, 2, 1, 1, 1, 1, 1, 0, 0.0f},
        {16, 16, 40, 0, 5, 2, 1, 2, 2, 2, 2, 0, 0.0f},
        {10, 9, 20, 0, 5, 1, 1, 2, 2, 2, 2, 1, 0.0f},
        {10, 9, 20, 0, 5, 1, 1, 2, 2, 2, 2, 0, 0.5f},
    };
    for (size_t i = 0; i < sizeof pad_convs / sizeof pad_convs[0]; i++) {
        const pad_conv_case *c = &pad_convs[i];
        char what[96];
        snprintf(what, sizeof what, "pad %d,%d,%d,%d%s -> %s %dx%d s%d %dx%dx%d", c->top, c->bottom,
                 c->left, c->right,
                 c->shared  ? " shared"
                 : c->value ? " 0.5"
                            : "",
                 c->dw ? "dwconv" : "conv", c->K, c->K, c->stride, c->H, c->W, c->C);
        against_ref(what, make_pad_conv, c);
    }
    static const conv_case convs[] = {
        {17, 13, 8, 16, 3, 1, 1, 0, 0},
        {17, 13, 8, 16, 3, 2, 1, 0, 1},
        {16, 16, 5, 7, 5, 2, 1, 0, 0},
        {12, 12, 24, 40, 1, 1, 1, 0, 1},
        {15, 15, 3, 8, 3, 2, 0, 0, 1},
        {17, 13, 8, 8, 3, 1, 1, 1, 1},
        {16, 16, 12, 12, 5, 2, 1, 1, 0},
        {15, 15, 6, 6, 3, 2, 0, 1, 0},
        {9, 9, 32, 32, 5, 1, 1, 1, 1},
        /* depthwise where borders are most of the picture, channels not a multiple of 16,
         * and rows long enough for whole groups of outputs */
        {8, 8, 88, 88, 5, 1, 1, 1, 0},
        {3, 2, 40, 40, 5, 1, 1, 1, 1},
        {23, 37, 24, 24, 3, 1, 1, 1, 1},
        {23, 37, 144, 144, 5, 2, 1, 1, 0},
        /* rows of 4 to 7 outputs (groups of 4), an odd row count (a last row alone) */
        {7, 7, 40, 40, 3, 1, 1, 1, 1},
        {7, 6, 24, 24, 5, 1, 1, 1, 0},
        {5, 5, 16, 16, 5, 1, 1, 1, 0},
        /* 1x1 over several 64x64 tiles and 16-deep slices of the CUDA engine's matrix
         * product, each dimension with a partial last tile */
        {20, 20, 40, 70, 1, 1, 1, 0, 0},
        /* wide enough for the cpu engine's convolution by filter rows, with border
         * columns through the patch matrix */
        {40, 37, 3, 24, 3, 2, 1, 0, 1},
        {20, 24, 8, 16, 5, 1, 1, 0, 0},
        {21, 40, 5, 7, 3, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const conv_case *c = &convs[i];
        char what[96];
        snprintf(what, sizeof what, "%s %dx%d s%d %s %dx%dx%d->%d%s", c->dw ? "dwconv" : "conv",
                 c->K, c->K, c->stride, c->same ? "SAME" : "VALID", c->H, c->W, c->C,
                 c->dw ? c->C : c->O, c->relu6 ? " relu6" : "");
        against_ref(what, make_conv, c);
    }
    unary_case u;
    memset(&u, 0, sizeof u);
    u.n = node0(ENGINE_GRAPH_RESIZE_BILINEAR, 0, 0);
    int rx[4] = {1, 7, 5, 6}, ry[4] = {1, 14, 10, 6};
    memcpy(u.xd, rx, sizeof rx);
    memcpy(u.yd, ry, sizeof ry);
    u.op = ENGINE_GRAPH_RESIZE_BILINEAR;
    u.n.half_pixel = 1;
    against_ref("resize half-pixel 7x5 -> 14x10", make_unary, &u);
    u.n.half_pixel = 0;
    u.n.align_corners = 1;
    against_ref("resize align-corners 7x5 -> 14x10", make_unary, &u);
    u.n.align_corners = 0;
    against_ref("resize legacy 7x5 -> 14x10", make_unary, &u);

    u.op = ENGINE_GRAPH_DEPTH_TO_SPACE;
    u.n = node0(ENGINE_GRAPH_DEPTH_TO_SPACE, 0, 0);
    u.n.block = 2;
    int dx[4] = {1, 7, 7, 32}, dy[4] = {1, 14, 14, 8};
    memcpy(u.xd, dx, sizeof dx);
    memcpy(u.yd, dy, sizeof dy);
    against_ref("depth_to_space 7x7x32 b2", make_unary, &u);

    u.op = ENGINE_GRAPH_PAD;
    u.n = node0(ENGINE_GRAPH_PAD, 0, 0);
    u.n.pads[1][0] = 1;
    u.n.pads[1][1] = 2;
    u.n.pads[2][0] = 2;
    u.n.pads[2][1] = 1;
    u.n.pads[3][1] = 5;
    int px[4] = {1, 6, 5, 3}, py[4] = {1, 9, 8, 8};
    memcpy(u.xd, px, sizeof px);
    memcpy(u.yd, py, sizeof py);
    against_ref("pad spatial + channels", make_unary, &u);

    u.op = ENGINE_GRAPH_MAX_POOL;
    u.n = node0(ENGINE_GRAPH_MAX_POOL, 0, 0);
    u.n.kh = u.n.kw = u.n.stride_h = u.n.stride_w = 2;
    int mx[4] = {1, 8, 8, 12}, my[4] = {1, 4, 4, 12};
    memcpy(u.xd, mx, sizeof mx);
    memcpy(u.yd, my, sizeof my);
    against_ref("max_pool 2x2 s2", make_unary, &u);
    /* padding taps (skipped), an odd width, and a clamp */
    u.n.kh = u.n.kw = 3;
    u.n.pad_top = u.n.pad_left = u.n.pad_bottom = u.n.pad_right = 1;
    u.n.act_min = 0.0f;
    u.n.act_max = 0.5f;
    int mx3[4] = {1, 9, 7, 20}, my3[4] = {1, 5, 4, 20};
    memcpy(u.xd, mx3, sizeof mx3);
    memcpy(u.yd, my3, sizeof my3);
    against_ref("max_pool 3x3 s2 padded, clamped", make_unary, &u);
    memcpy(u.xd, mx, sizeof mx);

    u.op = ENGINE_GRAPH_LOGISTIC;
    u.n = node0(ENGINE_GRAPH_LOGISTIC, 0, 0);
    memcpy(u.yd, mx, sizeof mx);
    against_ref("logistic", make_unary, &u);

    against_ref("add relu6, logistic, reshape, concat", make_add_concat, NULL);
}

/* ---- API errors and allocation failures --------------------------------------- */

static void api_checks(void)
{
    engine *e = (engine *)1;
    cr_err err = {0};
    CHECK_INT_EQ(engine_create("nope", "models/pose_landmark_lite.tflite", NULL, 0, 1, &e, &err),
                 CR_ERR_INVALID);
    CHECK(e == NULL);
    cr_err_clear(&err);
    CHECK_INT_EQ(engine_create("ref", "models/missing.tflite", NULL, 0, 1, &e, &err),
                 CR_ERR_NOT_FOUND);
    const char *bad[] = {"Identity_9"};
    CHECK_INT_EQ(engine_create("ref", "models/pose_landmark_lite.tflite", bad, 1, 1, &e, NULL),
                 CR_ERR_INVALID);
    CHECK_INT_EQ(engine_create("ref", "models/pose_landmark_lite.tflite", NULL, 0, 0, &e, NULL),
                 CR_ERR_INVALID);
    CHECK(e == NULL);
    engine_destroy(NULL);
    const char *const *names = engine_available();
    CHECK_STR_EQ(names[0], "ref");
    /* The default engine is one of those built, XNNPACK for several threads when built. */
    int have_xnnpack = 0;
    for (int threads = 1; threads <= 2; threads++) {
        int listed = 0;
        for (int k = 0; names[k]; k++) {
            listed |= strcmp(names[k], engine_default(threads)) == 0;
            have_xnnpack |= strcmp(names[k], "xnnpack") == 0;
        }
        CHECK_MSG(listed, "engine_default(%d) = %s", threads, engine_default(threads));
    }
    CHECK_STR_EQ(engine_default(2), have_xnnpack ? "xnnpack" : "cpu");

    /* Graphs beyond the compute and memory limits (graph.c) are refused before any run. */
    float *w = calloc((size_t)64 * 5 * 5 * 64, sizeof *w);
    engine_graph *big = conv_graph(1024, 1024, 64, 64, 5, 1, 1, 0, w, NULL, -INFINITY, INFINITY);
    free(w);
    CHECK_INT_EQ(engine_graph_check(big, NULL), CR_ERR_LIMIT); /* 1.07e11 MACs */
    engine_graph_free(big);
    big = engine_graph_new();
    big->input = add_t(big, "x", 4, 1, 1024, 1024, 64, NULL);
    for (int i = 0, prev = big->input; i < 4; i++) { /* 5 x 2^26 floats of activations */
        char name[8] = {'y', (char)('0' + i), 0};
        int y = add_t(big, name, 4, 1, 1024, 1024, 64, NULL);
        engine_graph_node n = node0(ENGINE_GRAPH_LOGISTIC, prev, y);
        engine_graph_add_node(big, &n, NULL);
        prev = y;
    }
    big->outputs[big->n_outputs++] = big->n_tensors - 1;
    CHECK_INT_EQ(engine_graph_check(big, NULL), CR_ERR_LIMIT);
    engine_graph_free(big);
    /* A pooling window comes from the options alone (no weight tensor bounds it): its
     * comparisons count against the same limit.  4 outputs x a 2^18 x 2^18 window. */
    engine_graph *pool = engine_graph_new();
    pool->input = add_t(pool, "x", 4, 1, 2, 2, 1, NULL);
    int py = add_t(pool, "y", 4, 1, 2, 2, 1, NULL);
    engine_graph_node pn = node0(ENGINE_GRAPH_MAX_POOL, pool->input, py);
    pn.kh = pn.kw = 1 << 18;
    pn.stride_h = pn.stride_w = 1;
    pn.pad_top = pn.pad_left = (1 << 17) - 1; /* SAME: total (2-1)*1 + 2^18 - 2 */
    pn.pad_bottom = pn.pad_right = 1 << 17;
    engine_graph_add_node(pool, &pn, NULL);
    pool->outputs[pool->n_outputs++] = py;
    CHECK_INT_EQ(engine_graph_check(pool, NULL), CR_ERR_LIMIT);
    CHECK(engine_graph_work(pool) > 1e11 && engine_graph_macs(pool) == 0);
    pool->nodes[0].kh = pool->nodes[0].kw = 3; /* the same pool, 3x3 SAME */
    pool->nodes[0].pad_top = pool->nodes[0].pad_left = 1;
    pool->nodes[0].pad_bottom = pool->nodes[0].pad_right = 1;
    CHECK_INT_EQ(engine_graph_check(pool, NULL), CR_OK);
    CHECK(engine_graph_work(pool) == 4 * 9);
    engine_graph_free(pool);

    /* Every allocation failure during creation is CR_ERR_NOMEM and leaks nothing (ASan). */
    const char *const *engines = runnable_engines();
    for (int k = 0; engines[k]; k++) {
        int ok = 0, nomem = 0;
        for (long n = 0; n < 200 && !ok; n++) {
            conv_case c = {6, 6, 4, 4, 3, 2, 1, 0, 1};
            engine_graph *g = make_conv(&c);
            CHECK_INT_EQ(engine_graph_check(g, NULL), CR_OK);
            cr_mem_fail_after(n, 0);
            cr_err err = {0};
            cr_status st = engine_create_graph(engines[k], g, NULL, 0, 1, &e, &err);
            cr_mem_fail_after(-1, 0);
            if (st != CR_OK && st != CR_ERR_NOMEM)
                fprintf(stderr, "allocation %ld: %s\n", n, cr_err_msg(&err));
            if (st == CR_OK) {
                ok = 1;
                engine_destroy(e);
            } else {
                CHECK_INT_EQ(st, CR_ERR_NOMEM);
                CHECK(e == NULL);
                nomem++;
            }
        }
        printf("  %s: %d injected allocation failures, then success\n", engines[k], nomem);
        CHECK(ok && nomem > 3);
    }
}

/* Engines in different threads at once (one engine per thread, engine.h). */
typedef struct worker {
    const char *engine;
    float out[8 * 8 * 16];
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    conv_case c = {16, 16, 8, 16, 3, 2, 1, 0, 1};
    float x[16 * 16 * 8];
    for (int i = 0; i < 16 * 16 * 8; i++)
        x[i] = (float)((i * 37) % 101) / 101.0f;
    engine_graph *g = make_conv(&c);
    engine *e = NULL;
    w->ok = engine_graph_check(g, NULL) == CR_OK &&
            engine_create_graph(w->engine, g, NULL, 0, 1, &e, NULL) == CR_OK;
    for (int r = 0; w->ok && r < 20; r++) {
        memcpy(engine_input(e, NULL), x, sizeof x);
        w->ok = engine_run(e, NULL) == CR_OK;
    }
    if (w->ok)
        memcpy(w->out, engine_output(e, "y", NULL), sizeof w->out);
    engine_destroy(e);
    return NULL;
}

static void thread_checks(void)
{
    const char *const *engines = runnable_engines();
    for (int k = 0; engines[k]; k++) {
        worker w[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
            w[i].engine = engines[k];
            CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
        }
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        CHECK(w[0].ok && w[1].ok && w[2].ok);
        CHECK(memcmp(w[0].out, w[1].out, sizeof w[0].out) == 0 &&
              memcmp(w[0].out, w[2].out, sizeof w[0].out) == 0);
    }
}

int main(void)
{
    hand_checks();
    engine_checks();
    api_checks();
    thread_checks();
    return check_exit();
}
