/*
 * engine_cuda.cu -- the CUDA engine: the pruned graph run on one NVIDIA GPU, fp32,
 * NHWC, any batch, with our own kernels (no cuDNN or cuBLAS: the binary then needs
 * nothing from CUDA but the static runtime, and starts where no CUDA is installed).
 *
 * Map of the file:
 *   kernels          one per operator, each a direct transcription of engine_ref.c
 *                    (same index arithmetic, same conventions), fp32 accumulation:
 *     conv_pointwise   1x1, stride 1, no padding: a tiled matrix product
 *                      [N*H*W, C] x [C, OC] (64x64 tiles, 16 deep, 4x4 per thread)
 *     conv_generic     every other convolution, one thread per output
 *     conv_depthwise   one thread per output, channel fastest (coalesced)
 *     add, max_pool, pad, resize_bilinear, depth_to_space, concat, logistic;
 *     reshape is a device-to-device copy
 *   load             device check (fails fast with "no CUDA device: ..."), one
 *                    stream, one device buffer per activation, every constant
 *                    uploaded once (conv filters repacked OHWI -> HWIO so that
 *                    neighbouring threads read neighbouring weights), the host
 *                    input/output buffers page-locked when the system allows, and
 *                    the whole kernel sequence captured once as a CUDA graph
 *   run              input up, graph launch (or the kernels one by one when the
 *                    capture was refused or CREASE_CUDA_GRAPHS=0), outputs down,
 *                    one synchronisation; nothing is allocated
 *
 * Launches are written LAUNCH(kernel, grid, block, stream)(args) (LAUNCH_SYNC for a
 * kernel with __syncthreads) so that the tests can compile this file as plain C++ with
 * CREASE_CUDA_EMULATE and run every kernel on the CPU (tests/cuda_emu.h).
 *
 * Every CUDA call is checked; a failure becomes a cr_status with the call and
 * cudaGetErrorString in cr_err.  Kernel faults surface at the run's synchronisation
 * (CR_ERR_INTERNAL); after one the CUDA context is unusable and every later run fails.
 *
 * Accuracy: sums are fp32 in the order of the reference (bias first, then ky, kx,
 * ic) except in the matrix product, whose order is k ascending too; the reference
 * sums in double.  The difference stays far inside DESIGN.md §7's 1e-4 of the range.
 *
 * Memory: one buffer per activation tensor (no reuse across the graph): the landmark
 * models need tens of MB per batch item, which a data-centre GPU holds for the
 * largest batch engine.h allows.  Reusing dead buffers is the next step if needed.
 */
extern "C" {
#include "engine/engine_int.h"

#include "core/mem.h"
}

#ifdef CREASE_CUDA_EMULATE
/* The CPU emulation of the kernels and of the runtime calls used here, for the tests of
 * machines without a GPU (src/engine/tests/cuda_emu.h, force-included). */
#else
#include <cuda_runtime.h>
/* Kernel launches go through these so that the emulation can run them (LAUNCH_SYNC:
 * a kernel that uses __syncthreads). */
#define LAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#define LAUNCH_SYNC(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 256          /* per block for the one-thread-per-output kernels */
#define MAX_BLOCKS (1 << 20) /* grid-stride loops cover the rest */

/* ---- kernels ---------------------------------------------------------------------- */

struct conv_p {
    long long n; /* batch */
    int H, W, C, OH, OW, OC, kh, kw, sh, sw, pt, pl;
    float lo, hi;
};

__device__ static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Element i of an NHWC tensor of OH x OW x C items: its item, row, column and channel
 * (every kernel below runs one thread per output element). */
struct nhwc_pos {
    long long n;
    int y, x, c;
};

__device__ static nhwc_pos nhwc_at(long long i, int OH, int OW, int C)
{
    nhwc_pos e;
    e.c = (int)(i % C);
    long long t = i / C;
    e.x = (int)(t % OW);
    t /= OW;
    e.y = (int)(t % OH);
    e.n = t / OH;
    return e;
}

/* Any convolution; filter HWIO [KH,KW,C,OC]. */
__global__ static void conv_generic(const float *__restrict__ x, const float *__restrict__ w,
                                    const float *__restrict__ b, float *__restrict__ y, conv_p p)
{
    long long total = p.n * p.OH * p.OW * p.OC;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        nhwc_pos e = nhwc_at(i, p.OH, p.OW, p.OC);
        int oc = e.c, ox = e.x, oy = e.y;
        long long n = e.n;
        float acc = b ? b[oc] : 0.0f;
        for (int ky = 0; ky < p.kh; ky++) {
            int iy = oy * p.sh - p.pt + ky;
            if (iy < 0 || iy >= p.H)
                continue; /* zero padding */
            for (int kx = 0; kx < p.kw; kx++) {
                int ix = ox * p.sw - p.pl + kx;
                if (ix < 0 || ix >= p.W)
                    continue;
                const float *xp = x + ((n * p.H + iy) * p.W + ix) * p.C;
                const float *wp = w + ((size_t)ky * p.kw + kx) * p.C * p.OC + oc;
                for (int ic = 0; ic < p.C; ic++)
                    acc += xp[ic] * wp[(size_t)ic * p.OC];
            }
        }
        y[i] = clampf(acc, p.lo, p.hi);
    }
}

/* Depthwise convolution; filter [KH,KW,C] (C == OC). */
__global__ static void conv_depthwise(const float *__restrict__ x, const float *__restrict__ w,
                                      const float *__restrict__ b, float *__restrict__ y, conv_p p)
{
    long long total = p.n * p.OH * p.OW * p.OC;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        nhwc_pos e = nhwc_at(i, p.OH, p.OW, p.OC);
        int c = e.c, ox = e.x, oy = e.y;
        long long n = e.n;
        float acc = b ? b[c] : 0.0f;
        for (int ky = 0; ky < p.kh; ky++) {
            int iy = oy * p.sh - p.pt + ky;
            if (iy < 0 || iy >= p.H)
                continue;
            for (int kx = 0; kx < p.kw; kx++) {
                int ix = ox * p.sw - p.pl + kx;
                if (ix < 0 || ix >= p.W)
                    continue;
                acc += x[((n * p.H + iy) * p.W + ix) * p.C + c] * w[(ky * p.kw + kx) * p.C + c];
            }
        }
        y[i] = clampf(acc, p.lo, p.hi);
    }
}

/* The pointwise convolution as Y[M,OC] = X[M,K] W[K,OC] (+ bias, clamp), M = N*H*W.
 * Block: a 64x64 tile of Y from 16-deep slices of X and W staged in shared memory;
 * thread (ty,tx) of 16x16 owns rows ty+16i and columns tx+16j (i,j < 4), so that a
 * warp's stores and its shared-memory reads of W hit consecutive addresses. */
#define PW_BM 64
#define PW_BN 64
#define PW_BK 16
__global__ static void __launch_bounds__(256)
    conv_pointwise(const float *__restrict__ x, const float *__restrict__ w,
                   const float *__restrict__ b, float *__restrict__ y, long long M, int K, int OC,
                   float lo, float hi)
{
    __shared__ float As[PW_BK][PW_BM + 4];
    __shared__ float Bs[PW_BK][PW_BN + 4];
    int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    /* rows on x: M reaches millions of rows at large batches, beyond gridDim.y's 65535 */
    long long row0 = (long long)blockIdx.x * PW_BM;
    int col0 = blockIdx.y * PW_BN;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += PW_BK) {
        for (int s = 0; s < 4; s++) {
            int e = tid + s * 256;
            int r = e / PW_BK, kk = e % PW_BK; /* A: along a row of X (coalesced) */
            long long gr = row0 + r;
            int gk = k0 + kk;
            As[kk][r] = gr < M && gk < K ? x[gr * K + gk] : 0.0f;
            int kb = e / PW_BN, c = e % PW_BN; /* B: along a row of W */
            int gkb = k0 + kb, gc = col0 + c;
            Bs[kb][c] = gkb < K && gc < OC ? w[(size_t)gkb * OC + gc] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < PW_BK; kk++) {
            float a[4], bb[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++)
                bb[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] += a[i] * bb[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        long long r = row0 + ty + 16 * i;
        if (r >= M)
            continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx + 16 * j;
            if (c < OC)
                y[r * OC + c] = clampf((b ? b[c] : 0.0f) + acc[i][j], lo, hi);
        }
    }
}

__global__ static void add_k(const float *__restrict__ a, const float *__restrict__ b,
                             float *__restrict__ y, long long n, float lo, float hi)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        y[i] = clampf(a[i] + b[i], lo, hi);
}

__global__ static void logistic_k(const float *__restrict__ x, float *__restrict__ y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

/* Max over the window's positions inside the input (padding never wins, as in TFLite). */
__global__ static void max_pool_k(const float *__restrict__ x, float *__restrict__ y, conv_p p)
{
    long long total = p.n * p.OH * p.OW * p.OC;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        nhwc_pos e = nhwc_at(i, p.OH, p.OW, p.OC);
        int c = e.c, ox = e.x, oy = e.y;
        long long n = e.n;
        float m = -INFINITY;
        for (int ky = 0; ky < p.kh; ky++)
            for (int kx = 0; kx < p.kw; kx++) {
                int iy = oy * p.sh - p.pt + ky, ix = ox * p.sw - p.pl + kx;
                if (iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) {
                    float v = x[((n * p.H + iy) * p.W + ix) * p.C + c];
                    m = v > m ? v : m;
                }
            }
        y[i] = clampf(m, p.lo, p.hi);
    }
}

struct pad_p {
    int xd[4], yd[4], before[4];
    float value;
};

/* A tensor of rank <= 4 seen as 4-D with leading 1s (the batch is one of the dims). */
__global__ static void pad_k(const float *__restrict__ x, float *__restrict__ y, long long n,
                             pad_p p)
{
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n;
         k += (long long)gridDim.x * blockDim.x) {
        long long t = k;
        int d3 = (int)(t % p.yd[3]);
        t /= p.yd[3];
        int d2 = (int)(t % p.yd[2]);
        t /= p.yd[2];
        int d1 = (int)(t % p.yd[1]);
        int d0 = (int)(t / p.yd[1]);
        int i0 = d0 - p.before[0], i1 = d1 - p.before[1], i2 = d2 - p.before[2],
            i3 = d3 - p.before[3];
        int inside = i0 >= 0 && i0 < p.xd[0] && i1 >= 0 && i1 < p.xd[1] && i2 >= 0 &&
                     i2 < p.xd[2] && i3 >= 0 && i3 < p.xd[3];
        y[k] = inside ? x[(((long long)i0 * p.xd[1] + i1) * p.xd[2] + i2) * p.xd[3] + i3] : p.value;
    }
}

/* TFLite's ComputeInterpolationValues (reference_ops ResizeBilinear), as engine_ref.c. */
__device__ static void interp(int o, float scale, int half_pixel, int size, float *v, int *lo,
                              int *hi)
{
    *v = half_pixel ? ((float)o + 0.5f) * scale - 0.5f : (float)o * scale;
    float fl = floorf(*v);
    *lo = fl < 0.0f ? 0 : (int)fl;
    int c = (int)ceilf(*v);
    *hi = c < size - 1 ? c : size - 1;
}

struct resize_p {
    long long n;
    int H, W, C, OH, OW, half_pixel;
    float sh, sw;
};

__global__ static void resize_k(const float *__restrict__ x, float *__restrict__ y, resize_p p)
{
    long long total = p.n * p.OH * p.OW * p.C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        nhwc_pos e = nhwc_at(i, p.OH, p.OW, p.C);
        int c = e.c, ox = e.x, oy = e.y;
        long long n = e.n;
        float fy, fx;
        int y0, y1, x0, x1;
        interp(oy, p.sh, p.half_pixel, p.H, &fy, &y0, &y1);
        interp(ox, p.sw, p.half_pixel, p.W, &fx, &x0, &x1);
        float dy = fy - (float)y0, dx = fx - (float)x0;
        const float *xn = x + n * p.H * p.W * p.C;
        float v00 = xn[((long long)y0 * p.W + x0) * p.C + c],
              v01 = xn[((long long)y0 * p.W + x1) * p.C + c];
        float v10 = xn[((long long)y1 * p.W + x0) * p.C + c],
              v11 = xn[((long long)y1 * p.W + x1) * p.C + c];
        y[i] =
            v00 * (1 - dy) * (1 - dx) + v10 * dy * (1 - dx) + v01 * (1 - dy) * dx + v11 * dy * dx;
    }
}

/* TFLite's DepthToSpace (DCR): in channel = ((oy % b) * b + ox % b) * OC + oc. */
__global__ static void depth_to_space_k(const float *__restrict__ x, float *__restrict__ y,
                                        conv_p p, int blk)
{
    long long total = p.n * p.OH * p.OW * p.OC;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        nhwc_pos e = nhwc_at(i, p.OH, p.OW, p.OC);
        int oc = e.c, ox = e.x, oy = e.y;
        long long n = e.n;
        int ic = ((oy % blk) * blk + ox % blk) * p.OC + oc;
        y[i] = x[((n * p.H + oy / blk) * p.W + ox / blk) * p.C + ic];
    }
}

/* One input of a concatenation: outer blocks of `inner` values go to offset `off` of
 * each output block of `row` values. */
__global__ static void concat_k(const float *__restrict__ x, float *__restrict__ y, long long outer,
                                long long inner, long long row, long long off)
{
    long long total = outer * inner;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x)
        y[(i / inner) * row + off + i % inner] = x[i];
}

/* ---- the engine ------------------------------------------------------------------- */

typedef struct cuda_ctx {
    const engine_graph *g;
    int device;
    cudaStream_t stream;
    float **dbuf;   /* per tensor: device activation or constant, NULL when unused */
    float **wnode;  /* per node: repacked conv filter (HWIO), NULL otherwise */
    float *h_input; /* engine.c's buffers */
    float *h_out[ENGINE_GRAPH_MAX_INPUTS];
    char registered; /* the host buffers are page-locked */
    cudaGraphExec_t exec;
} cuda_ctx;

static cr_status cufail(cr_err *err, cudaError_t e, const char *what)
{
    return cr_err_set(err, e == cudaErrorMemoryAllocation ? CR_ERR_NOMEM : CR_ERR_INTERNAL,
                      "cuda engine: %s: %s", what, cudaGetErrorString(e));
}

#define CK(call, what)                                                                             \
    do {                                                                                           \
        cudaError_t ck_ = (call);                                                                  \
        if (ck_ != cudaSuccess) {                                                                  \
            st = cufail(err, ck_, what);                                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static unsigned blocks_for(long long n)
{
    long long b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}

static conv_p conv_params(const engine_graph_node *n, const engine_graph_tensor *xt,
                          const engine_graph_tensor *yt)
{
    conv_p p;
    p.n = xt->dims[0];
    p.H = xt->dims[1], p.W = xt->dims[2], p.C = xt->dims[3];
    p.OH = yt->dims[1], p.OW = yt->dims[2], p.OC = yt->dims[3];
    p.kh = n->kh, p.kw = n->kw, p.sh = n->stride_h, p.sw = n->stride_w;
    p.pt = n->pad_top, p.pl = n->pad_left;
    p.lo = n->act_min, p.hi = n->act_max;
    return p;
}

static int is_pointwise(const engine_graph_node *n)
{
    return n->op == ENGINE_GRAPH_CONV2D && n->kh == 1 && n->kw == 1 && n->stride_h == 1 &&
           n->stride_w == 1 && n->pad_top == 0 && n->pad_left == 0 && n->pad_bottom == 0 &&
           n->pad_right == 0;
}

/* Enqueues node `ni` on the stream.  A refused launch (bad configuration) is read right
 * after it; a fault inside a kernel surfaces at the run's synchronisation. */
static cr_status enqueue_node(const cuda_ctx *c, int ni, cr_err *err)
{
    const engine_graph *g = c->g;
    const engine_graph_node *n = &g->nodes[ni];
    const engine_graph_tensor *xt = &g->tensors[n->in[0]], *yt = &g->tensors[n->out];
    const float *x = c->dbuf[n->in[0]];
    float *y = c->dbuf[n->out];
    long long count = (long long)yt->count;
    cudaStream_t s = c->stream;
    cr_status st = CR_OK;
    switch (n->op) {
    case ENGINE_GRAPH_CONV2D:
    case ENGINE_GRAPH_DWCONV2D: {
        const float *b = n->in[2] >= 0 ? c->dbuf[n->in[2]] : NULL;
        conv_p p = conv_params(n, xt, yt);
        if (n->op == ENGINE_GRAPH_DWCONV2D) {
            LAUNCH(conv_depthwise, blocks_for(count), THREADS, s)(x, c->dbuf[n->in[1]], b, y, p);
        } else if (is_pointwise(n)) {
            long long M = p.n * p.H * p.W;
            dim3 grid((unsigned)((M + PW_BM - 1) / PW_BM), (unsigned)((p.OC + PW_BN - 1) / PW_BN));
            LAUNCH_SYNC(conv_pointwise, grid, 256, s)
            (x, c->wnode[ni], b, y, M, p.C, p.OC, p.lo, p.hi);
        } else {
            LAUNCH(conv_generic, blocks_for(count), THREADS, s)(x, c->wnode[ni], b, y, p);
        }
        break;
    }
    case ENGINE_GRAPH_ADD:
        LAUNCH(add_k, blocks_for(count), THREADS, s)
        (x, c->dbuf[n->in[1]], y, count, n->act_min, n->act_max);
        break;
    case ENGINE_GRAPH_MAX_POOL:
        LAUNCH(max_pool_k, blocks_for(count), THREADS, s)(x, y, conv_params(n, xt, yt));
        break;
    case ENGINE_GRAPH_PAD: {
        pad_p p;
        engine_graph_pad4 p4 = engine_graph_pad_4d(c->g, n);
        memcpy(p.xd, p4.xd, sizeof p.xd);
        memcpy(p.yd, p4.yd, sizeof p.yd);
        memcpy(p.before, p4.before, sizeof p.before);
        p.value = n->pad_value;
        LAUNCH(pad_k, blocks_for(count), THREADS, s)(x, y, count, p);
        break;
    }
    case ENGINE_GRAPH_RESIZE_BILINEAR: {
        resize_p p;
        p.n = xt->dims[0];
        p.H = xt->dims[1], p.W = xt->dims[2], p.C = xt->dims[3];
        p.OH = yt->dims[1], p.OW = yt->dims[2];
        p.half_pixel = n->half_pixel;
        /* the scales exactly as engine_ref.c computes them (float) */
        p.sh = n->align_corners && p.OH > 1 ? (float)(p.H - 1) / (float)(p.OH - 1)
                                            : (float)p.H / (float)p.OH;
        p.sw = n->align_corners && p.OW > 1 ? (float)(p.W - 1) / (float)(p.OW - 1)
                                            : (float)p.W / (float)p.OW;
        LAUNCH(resize_k, blocks_for(count), THREADS, s)(x, y, p);
        break;
    }
    case ENGINE_GRAPH_DEPTH_TO_SPACE:
        LAUNCH(depth_to_space_k, blocks_for(count), THREADS, s)
        (x, y, conv_params(n, xt, yt), n->block);
        break;
    case ENGINE_GRAPH_RESHAPE: {
        cudaError_t e =
            cudaMemcpyAsync(y, x, yt->count * sizeof(float), cudaMemcpyDeviceToDevice, s);
        if (e != cudaSuccess)
            return cufail(err, e, "reshape copy");
        break;
    }
    case ENGINE_GRAPH_CONCAT: {
        long long outer = 1, row = (long long)yt->count, off = 0;
        for (int d = 0; d < n->axis; d++)
            outer *= yt->dims[d];
        row /= outer;
        for (int i = 0; i < n->n_in; i++) {
            long long inner = (long long)g->tensors[n->in[i]].count / outer;
            LAUNCH(concat_k, blocks_for(outer * inner), THREADS, s)
            (c->dbuf[n->in[i]], y, outer, inner, row, off);
            off += inner;
        }
        break;
    }
    case ENGINE_GRAPH_LOGISTIC:
        LAUNCH(logistic_k, blocks_for(count), THREADS, s)(x, y, count);
        break;
    case ENGINE_GRAPH_OP_COUNT:
        return cr_err_set(err, CR_ERR_INTERNAL, "cuda engine: node %d: bad operator", ni);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        st = cr_err_set(err, CR_ERR_INTERNAL, "cuda engine: node %d (%s): launch: %s", ni,
                        engine_graph_op_name(n->op), cudaGetErrorString(e));
    return st;
}

static cr_status enqueue_all(const cuda_ctx *c, cr_err *err)
{
    for (int ni = 0; ni < c->g->n_nodes; ni++) {
        cr_status st = enqueue_node(c, ni, err);
        if (st != CR_OK)
            return st;
    }
    return CR_OK;
}

static void cuda_destroy(void *vctx)
{
    cuda_ctx *c = (cuda_ctx *)vctx;
    if (c == NULL)
        return;
    /* Errors are ignored here: a destroy cannot fail, and after a fault the context
     * refuses everything anyway. */
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    if (c->exec)
        cudaGraphExecDestroy(c->exec);
    if (c->registered) {
        cudaHostUnregister(c->h_input);
        for (int i = 0; i < c->g->n_outputs; i++)
            cudaHostUnregister(c->h_out[i]);
    }
    if (c->dbuf)
        for (int i = 0; i < c->g->n_tensors; i++)
            cudaFree(c->dbuf[i]);
    if (c->wnode)
        for (int i = 0; i < c->g->n_nodes; i++)
            cudaFree(c->wnode[i]);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    cudaGetLastError(); /* leave no sticky launch error to the next engine on this thread */
    cr_free(c->dbuf);
    cr_free(c->wnode);
    cr_free(c);
}

/* Is there a device to run on?  Fast and without side effects beyond initialising the
 * CUDA runtime; the message names the runtime's reason. */
static cr_status cuda_probe(cr_err *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "cuda engine: no CUDA device: %s",
                          cudaGetErrorString(e));
    }
    if (count < 1)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "cuda engine: no CUDA device: none found");
    return CR_OK;
}

/* Uploads constant tensor `t` once. */
static cr_status upload_const(cuda_ctx *c, int t, cr_err *err)
{
    cr_status st = CR_OK;
    const engine_graph_tensor *tt = &c->g->tensors[t];
    if (c->dbuf[t] != NULL)
        return CR_OK;
    CK(cudaMalloc((void **)&c->dbuf[t], tt->count * sizeof(float)), "cudaMalloc (constant)");
    CK(cudaMemcpy(c->dbuf[t], tt->data, tt->count * sizeof(float), cudaMemcpyHostToDevice),
       "upload of a constant");
fail:
    return st;
}

/* A conv filter OHWI [OC,KH,KW,C] repacked as HWIO [KH,KW,C,OC] for node `ni`. */
static cr_status upload_hwio(cuda_ctx *c, int ni, cr_err *err)
{
    cr_status st = CR_OK;
    const engine_graph_node *n = &c->g->nodes[ni];
    const engine_graph_tensor *wt = &c->g->tensors[n->in[1]];
    int OC = wt->dims[0], KH = wt->dims[1], KW = wt->dims[2], C = wt->dims[3];
    float *h = (float *)cr_malloc(wt->count * sizeof(float));
    if (h == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "cuda engine: out of memory");
    for (int oc = 0; oc < OC; oc++)
        for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++)
                for (int ic = 0; ic < C; ic++)
                    h[(((size_t)ky * KW + kx) * C + ic) * OC + oc] =
                        wt->data[(((size_t)oc * KH + ky) * KW + kx) * C + ic];
    CK(cudaMalloc((void **)&c->wnode[ni], wt->count * sizeof(float)), "cudaMalloc (filter)");
    CK(cudaMemcpy(c->wnode[ni], h, wt->count * sizeof(float), cudaMemcpyHostToDevice),
       "upload of a filter");
fail:
    cr_free(h);
    return st;
}

/* Page-locks engine.c's host buffers so the copies run at full speed and can be
 * asynchronous.  Optional: a refusal (locked-memory limits) leaves them pageable. */
static void register_host(cuda_ctx *c, const engine_io *io)
{
    const engine_graph *g = c->g;
    size_t in_bytes = g->tensors[g->input].count * sizeof(float);
    if (cudaHostRegister(io->input, in_bytes, cudaHostRegisterDefault) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (cudaHostRegister(io->outputs[i], g->tensors[g->outputs[i]].count * sizeof(float),
                             cudaHostRegisterDefault) != cudaSuccess) {
            cudaGetLastError();
            cudaHostUnregister(io->input);
            for (int k = 0; k < i; k++)
                cudaHostUnregister(io->outputs[k]);
            return;
        }
    c->registered = 1;
}

/* Captures the kernel sequence as a CUDA graph (one launch per run instead of one per
 * node: the landmark models have ~200 nodes, whose launch costs dominate at batch 1).
 * Optional: any refusal leaves c->exec NULL and run() enqueues node by node. */
static void capture_graph(cuda_ctx *c)
{
    const char *env = getenv("CREASE_CUDA_GRAPHS");
    if (env != NULL && strcmp(env, "0") == 0)
        return;
    cudaGraph_t graph = NULL;
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    cr_err ignored = {};
    cr_status st = enqueue_all(c, &ignored);
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (st == CR_OK && e == cudaSuccess && graph != NULL)
        e = cudaGraphInstantiate(&c->exec, graph, 0);
    if (graph != NULL)
        cudaGraphDestroy(graph);
    if (st != CR_OK || e != cudaSuccess) {
        c->exec = NULL;
        cudaGetLastError();
    }
}

static cr_status cuda_load(const engine_graph *g, const engine_io *io, int threads, void **out,
                           cr_err *err)
{
    (void)threads; /* the GPU is the parallelism; one host thread feeds it */
    *out = NULL;
    cr_status st = cuda_probe(err);
    if (st != CR_OK)
        return st;
    cuda_ctx *c = (cuda_ctx *)cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "cuda engine: out of memory");
    c->g = g;
    c->dbuf = (float **)cr_calloc((size_t)g->n_tensors, sizeof *c->dbuf);
    c->wnode = (float **)cr_calloc((size_t)g->n_nodes, sizeof *c->wnode);
    if (c->dbuf == NULL || c->wnode == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "cuda engine: out of memory");
        goto fail;
    }
    c->h_input = io->input;
    for (int i = 0; i < g->n_outputs; i++)
        c->h_out[i] = io->outputs[i];
    c->device = 0;
    CK(cudaSetDevice(c->device), "cudaSetDevice");
    CK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    CK(cudaMalloc((void **)&c->dbuf[g->input], g->tensors[g->input].count * sizeof(float)),
       "cudaMalloc (input)");
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const engine_graph_node *n = &g->nodes[ni];
        int conv = n->op == ENGINE_GRAPH_CONV2D;
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0 || g->tensors[t].data == NULL || (conv && k == 1))
                continue;
            if ((st = upload_const(c, t, err)) != CR_OK)
                goto fail;
        }
        if (conv && (st = upload_hwio(c, ni, err)) != CR_OK)
            goto fail;
        if (c->dbuf[n->out] == NULL)
            CK(cudaMalloc((void **)&c->dbuf[n->out], g->tensors[n->out].count * sizeof(float)),
               "cudaMalloc (activation)");
    }
    register_host(c, io);
    capture_graph(c);
    *out = c;
    return CR_OK;
fail:
    cuda_destroy(c);
    return st;
}

static cr_status cuda_run(void *vctx, cr_err *err)
{
    cuda_ctx *c = (cuda_ctx *)vctx;
    const engine_graph *g = c->g;
    cr_status st = CR_OK;
    CK(cudaSetDevice(c->device), "cudaSetDevice");
    CK(cudaMemcpyAsync(c->dbuf[g->input], c->h_input, g->tensors[g->input].count * sizeof(float),
                       cudaMemcpyHostToDevice, c->stream),
       "input upload");
    if (c->exec != NULL)
        CK(cudaGraphLaunch(c->exec, c->stream), "cudaGraphLaunch");
    else if ((st = enqueue_all(c, err)) != CR_OK)
        goto fail;
    for (int i = 0; i < g->n_outputs; i++) {
        const engine_graph_tensor *t = &g->tensors[g->outputs[i]];
        CK(cudaMemcpyAsync(c->h_out[i], c->dbuf[g->outputs[i]], t->count * sizeof(float),
                           cudaMemcpyDeviceToHost, c->stream),
           "output download");
    }
    CK(cudaStreamSynchronize(c->stream), "run");
fail:
    return st;
}

extern "C" const engine_ops engine_cuda_ops = {
    ENGINE_API_VERSION, "cuda", cuda_load, cuda_run, cuda_destroy, cuda_probe,
};
