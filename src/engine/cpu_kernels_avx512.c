/*
 * cpu_kernels_avx512.c -- the AVX-512F build of the "cpu" engine's kernels
 * (cpu_kernels.h).  Compiled with -mavx512f -mfma (src/engine/CMakeLists.txt) and
 * called only when the CPU reports AVX-512F (cpu_kernels_best).
 *
 * MATRIX PRODUCT (1x1 convolutions, and the others through their patch matrix).  The
 * micro-kernel computes 8 rows x 32 output channels in 16 registers: per k it loads two
 * 16-float panel rows and, for each of the 8 rows, broadcasts one input value into two
 * fused multiply-adds.  That is 16 FMAs for 10 loads (XNNPACK's 7x16 kernel in Debian's
 * 2022 build does 7 for 8, and the perf profile of a whole analysis found it limited by
 * its loads, not its FMAs).  Rows are taken in blocks whose inputs fit in the L1 cache
 * (~24 kB), and each block runs through every panel pair, so a block's inputs are read
 * from L1 once per pair and the panels stream from L2.  A last odd panel uses a
 * 8 x 16 kernel; output channels beyond n are computed on the zero padding and masked off
 * at the store.  A last pair whose second panel holds 8 outputs or fewer (24 and 88
 * channels, a fifth of the full landmark model's products) pairs rows on that panel
 * (kernel_24): 12 FMAs a k for 8 rows instead of 16, the same sums; the model 0.97x.
 * A row's inputs may be segments (cpu_gemm_args.kseg): the k loop is then one loop per
 * segment, the weights still read in order.
 *
 * PREFETCH.  Each weight is read from memory once per model run, and the late layers
 * use each for few rows: timed layer by layer in the full landmark model (2-core EPYC),
 * the 8x8 layers ran at 63-75 GMAC/s against 107-112 with their panels in cache, and the
 * 4x4 and 2x2 ones read their weights at 10-20 GB/s where one core streams ~29.  So the
 * first 8 rows of every block, while they run through a panel pair, prefetch the next
 * pair into L1, one 64-byte panel row of each per k; the other rows of the block find the
 * pair in L1 or L2 and prefetch nothing.  Same values; the model took 0.92-0.96x the time
 * (bench_pose_engine, one thread, min, interleaved).
 *
 * DEPTHWISE.  16 channels per register.  Groups of 8 outputs of a row, and of the row
 * below (dw_group), all their channel blocks one after the other (dw_rows): 16
 * independent sums hide the FMA latency, each input load serves up to KW FMAs of each
 * row and each weight load up to 8, and the inputs are read in memory order (a loop over
 * one channel block along the row first was 8x slower: every load a new cache line, from
 * L2).  The groups at the borders have builds of their own that leave out the columns
 * outside the input, so no load is masked.  Timed layer by layer at the full landmark
 * model's shapes (one thread, 2-core EPYC, min of interleaved runs), against one output
 * row at a time at stride 2 and masked loads at the borders: 0.82x in all; the stride-2
 * layers 0.6-0.8x, the 8x8 and 16x16 ones (every group a border one) 0.7-0.85x; the whole
 * model 0.97x.  Filters other than 3x3 and 5x5 take one pixel at a time (dw_pixel).
 * Loads are full 16-float vectors even in the last channel block: the lanes past c
 * read the next pixel's channels or the buffers' slack (ENGINE_SLACK, and the weights'
 * padding to cpad), are computed and never stored.
 *
 * NOT DONE: SKIPPING ZERO INPUTS.  A projection's inputs come out of a ReLU6, and in the
 * full landmark model 10.9 % of the multiply-adds (23 % of the inputs) have all 8 rows of
 * a block at zero for that k.  A build that listed, per block of 8 rows, the k with a
 * nonzero input and ran the micro-kernels over that list only (the same sums: a zero
 * input adds nothing to them) was timed node by node in one process, alternating runs
 * with and without it (2-core EPYC): 1.04-1.07x the model's time when every product made
 * its list, 0.98-1.02x when only those of 256 inputs or more did.  The list costs what it
 * saves, so the kernels stay dense.
 */
#include "engine/cpu_kernels.h"
#include "engine/cpu_simd_avx512.h"

#include <immintrin.h>
#include <stddef.h>

/* The row loops must be unrolled for the accumulators to live in registers. */
#define UNROLL _Pragma("GCC unroll 8")
#define UNROLL_ALL _Pragma("GCC unroll 32")

/* MR rows x 32 channels (panels p0, p1); with PF, prefetches the pair at pf (PREFETCH).
 * A row's K inputs are nseg segments of K / nseg, ldseg apart (cpu_gemm_args.kseg). */
static ALWAYS_INLINE void kernel_32(int MR, int PF, int K, const float *x, size_t ldx, int nseg,
                                    size_t ldseg, const float *p0, const float *p1, const float *pf,
                                    const float *bias, float *y, size_t ldy, __mmask16 m0,
                                    __mmask16 m1, __m512 lo, __m512 hi, int acc)
{
    __m512 c0[8], c1[8];
    __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + CPU_PANEL);
    UNROLL for (int r = 0; r < MR; r++)
    {
        c0[r] = acc ? _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy) : b0;
        c1[r] = acc ? _mm512_maskz_loadu_ps(m1, y + (size_t)r * ldy + CPU_PANEL) : b1;
    }
    const int ks = K / nseg;
    for (int s = 0, k = 0; s < nseg; s++, x += ldseg)
        for (int kk = 0; kk < ks; kk++, k++) {
            __m512 w0 = _mm512_loadu_ps(p0 + (size_t)k * CPU_PANEL);
            __m512 w1 = _mm512_loadu_ps(p1 + (size_t)k * CPU_PANEL);
            if (PF) {
                _mm_prefetch((const char *)(pf + (size_t)k * CPU_PANEL), _MM_HINT_T0);
                _mm_prefetch((const char *)(pf + (size_t)(K + k) * CPU_PANEL), _MM_HINT_T0);
            }
            UNROLL for (int r = 0; r < MR; r++)
            {
                __m512 xv = _mm512_set1_ps(x[(size_t)r * ldx + kk]);
                c0[r] = _mm512_fmadd_ps(xv, w0, c0[r]);
                c1[r] = _mm512_fmadd_ps(xv, w1, c1[r]);
            }
        }
    UNROLL for (int r = 0; r < MR; r++)
    {
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, clamp16(c0[r], lo, hi));
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + CPU_PANEL, m1, clamp16(c1[r], lo, hi));
    }
}

/* The 8 floats at p in both halves of a vector (AVX-512F: through the 64-bit form). */
static ALWAYS_INLINE __m512 half_broadcast(const float *p)
{
    return _mm512_castpd_ps(
        _mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)(const void *)p)));
}

/* MR rows x 24 channels or fewer: panel p0 whole, panel p1 with at most 8 outputs (the
 * layers of 24 or 88 channels).  kernel_32 would spend half of p1's FMAs on padding;
 * here rows pair up on p1: h[j] holds row 2j's sums in lanes 0-7 and row 2j+1's in lanes
 * 8-15, against p1's 8 weights in both halves, so 8 rows take 12 FMAs a k instead of 16
 * (the blend that pairs the two inputs runs beside the FMAs: 0.75x the time of the 16,
 * measured here).  Every output is the same sum in the same order as kernel_32's.  p1's
 * 8 weights are read into both halves at once; segments as kernel_32's.  m1 has at
 * most 8 lanes.  It serves only a last pair: there is no next pair to prefetch. */
static ALWAYS_INLINE void kernel_24(int MR, int K, const float *x, size_t ldx, int nseg,
                                    size_t ldseg, const float *p0, const float *p1,
                                    const float *bias, float *y, size_t ldy, __mmask16 m0,
                                    __mmask16 m1, __m512 lo, __m512 hi, int acc)
{
    const int NH = (MR + 1) / 2; /* row pairs, the last maybe a single row */
    __m512 c0[8], h[4];
    __m512 b0 = _mm512_loadu_ps(bias);
    __m512 b1 = half_broadcast(bias + CPU_PANEL);
    UNROLL for (int r = 0; r < MR; r++) c0[r] =
        acc ? _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy) : b0;
    UNROLL for (int j = 0; j < NH; j++)
    {
        if (!acc) {
            h[j] = b1;
            continue;
        }
        __m512 top = _mm512_maskz_loadu_ps(m1, y + (size_t)(2 * j) * ldy + CPU_PANEL);
        __m512 bot = 2 * j + 1 < MR
                         ? _mm512_maskz_loadu_ps(m1, y + (size_t)(2 * j + 1) * ldy + CPU_PANEL)
                         : _mm512_setzero_ps();
        h[j] = _mm512_shuffle_f32x4(top, bot, 0x44); /* top's lanes 0-7, then bot's */
    }
    const int ks = K / nseg;
    for (int s = 0, k = 0; s < nseg; s++, x += ldseg)
        for (int kk = 0; kk < ks; kk++, k++) {
            __m512 w0 = _mm512_loadu_ps(p0 + (size_t)k * CPU_PANEL);
            __m512 w1 = half_broadcast(p1 + (size_t)k * CPU_PANEL);
            UNROLL for (int j = 0; j < NH; j++)
            {
                __m512 xa = _mm512_set1_ps(x[(size_t)(2 * j) * ldx + kk]);
                c0[2 * j] = _mm512_fmadd_ps(xa, w0, c0[2 * j]);
                if (2 * j + 1 < MR) {
                    __m512 xb = _mm512_set1_ps(x[(size_t)(2 * j + 1) * ldx + kk]);
                    c0[2 * j + 1] = _mm512_fmadd_ps(xb, w0, c0[2 * j + 1]);
                    xa = _mm512_mask_blend_ps(0xFF00, xa, xb);
                }
                h[j] = _mm512_fmadd_ps(xa, w1, h[j]);
            }
        }
    UNROLL for (int r = 0; r < MR; r++)
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, clamp16(c0[r], lo, hi));
    UNROLL for (int j = 0; j < NH; j++)
    {
        __m512 v = clamp16(h[j], lo, hi);
        _mm512_mask_storeu_ps(y + (size_t)(2 * j) * ldy + CPU_PANEL, m1, v);
        if (2 * j + 1 < MR) /* lanes 8-15 moved down */
            _mm512_mask_storeu_ps(y + (size_t)(2 * j + 1) * ldy + CPU_PANEL, m1,
                                  _mm512_shuffle_f32x4(v, v, 0xEE));
    }
}

/* MR rows x 16 channels (panel p0); segments as kernel_32's. */
static ALWAYS_INLINE void kernel_16(int MR, int K, const float *x, size_t ldx, int nseg,
                                    size_t ldseg, const float *p0, const float *bias, float *y,
                                    size_t ldy, __mmask16 m0, __m512 lo, __m512 hi, int acc)
{
    __m512 c0[8];
    __m512 b0 = _mm512_loadu_ps(bias);
    UNROLL for (int r = 0; r < MR; r++) c0[r] =
        acc ? _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy) : b0;
    const int ks = K / nseg;
    for (int s = 0, k = 0; s < nseg; s++, x += ldseg)
        for (int kk = 0; kk < ks; kk++, k++) {
            __m512 w0 = _mm512_loadu_ps(p0 + (size_t)k * CPU_PANEL);
            UNROLL for (int r = 0; r < MR; r++) c0[r] =
                _mm512_fmadd_ps(_mm512_set1_ps(x[(size_t)r * ldx + kk]), w0, c0[r]);
        }
    UNROLL for (int r = 0; r < MR; r++)
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, clamp16(c0[r], lo, hi));
}

/* The row count as a constant, so each kernel is unrolled for it. */
#define DISPATCH_MR(mr, call)                                                                      \
    switch (mr) {                                                                                  \
    case 8:                                                                                        \
        call(8);                                                                                   \
        break;                                                                                     \
    case 7:                                                                                        \
        call(7);                                                                                   \
        break;                                                                                     \
    case 6:                                                                                        \
        call(6);                                                                                   \
        break;                                                                                     \
    case 5:                                                                                        \
        call(5);                                                                                   \
        break;                                                                                     \
    case 4:                                                                                        \
        call(4);                                                                                   \
        break;                                                                                     \
    case 3:                                                                                        \
        call(3);                                                                                   \
        break;                                                                                     \
    case 2:                                                                                        \
        call(2);                                                                                   \
        break;                                                                                     \
    default:                                                                                       \
        call(1);                                                                                   \
        break;                                                                                     \
    }

static void gemm_avx512(const cpu_gemm_args *a)
{
#ifdef CREASE_KERNEL_EXTENTS
    cpu_gemm_check_extents(a, cpu_packed_size(a->n, a->k));
#endif
    const int K = a->k, panels = (a->n + CPU_PANEL - 1) / CPU_PANEL;
    const int nseg = a->kseg > 0 ? K / a->kseg : 1;
    const size_t ldseg = a->ldseg;
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    /* Rows per block: their inputs in ~24 kB of L1, a multiple of 8, at least 8. */
    int block = (int)(24576 / ((size_t)K * sizeof(float))) & ~7;
    if (block < 8)
        block = 8;
    for (int m0 = 0; m0 < a->m; m0 += block) {
        int m1 = m0 + block < a->m ? m0 + block : a->m;
        for (int t = 0; t < panels; t += 2) {
            const float *p0 = (const float *)a->w + (size_t)t * K * CPU_PANEL;
            const float *bias = a->bias + (size_t)t * CPU_PANEL;
            __mmask16 mk0 = tail_mask(a->n - t * CPU_PANEL);
            for (int m = m0; m < m1; m += 8) {
                int mr = m1 - m < 8 ? m1 - m : 8;
                const float *x = a->x + (size_t)m * a->ldx;
                float *y = a->y + (size_t)m * a->ldy + (size_t)t * CPU_PANEL;
                if (t + 1 < panels) {
                    const float *p1 = p0 + (size_t)K * CPU_PANEL;
                    const float *pf = p1 + (size_t)K * CPU_PANEL; /* the next pair */
                    __mmask16 mk1 = tail_mask(a->n - (t + 1) * CPU_PANEL);
                    /* only a whole next pair (a last odd panel is left to the hardware) */
                    int prefetch = m == m0 && t + 3 < panels;
#define CALL32(R)                                                                                  \
    kernel_32(R, 0, K, x, a->ldx, nseg, ldseg, p0, p1, pf, bias, y, a->ldy, mk0, mk1, lo, hi,      \
              a->accumulate)
#define CALL32_PF(R)                                                                               \
    kernel_32(R, 1, K, x, a->ldx, nseg, ldseg, p0, p1, pf, bias, y, a->ldy, mk0, mk1, lo, hi,      \
              a->accumulate)
#define CALL24(R)                                                                                  \
    kernel_24(R, K, x, a->ldx, nseg, ldseg, p0, p1, bias, y, a->ldy, mk0, mk1, lo, hi,             \
              a->accumulate)
                    /* a half second panel is the last one: no next pair to prefetch */
                    if (a->n - (t + 1) * CPU_PANEL <= CPU_PANEL / 2) {
                        DISPATCH_MR(mr, CALL24)
                    } else if (prefetch) {
                        DISPATCH_MR(mr, CALL32_PF)
                    } else {
                        DISPATCH_MR(mr, CALL32)
                    }
#undef CALL32
#undef CALL32_PF
#undef CALL24
                } else {
#define CALL16(R)                                                                                  \
    kernel_16(R, K, x, a->ldx, nseg, ldseg, p0, bias, y, a->ldy, mk0, lo, hi, a->accumulate)
                    DISPATCH_MR(mr, CALL16)
#undef CALL16
                }
            }
        }
    }
}

/* One output pixel, taps clipped to [ky0,ky1) x [kx0,kx1): filters other than 3x3 and
 * 5x5, and rows narrower than a group. */
static void dw_pixel(const cpu_dw_args *a, int oy, int ox, __m512 lo, __m512 hi)
{
    const int C = a->c;
    int iy0 = oy * a->sh - a->pad_top - a->iy_base, ix0 = ox * a->sw - a->pad_left;
    int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a->h - iy0 < a->kh ? a->h - iy0 : a->kh;
    int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a->w - ix0 < a->kw ? a->w - ix0 : a->kw;
    float *y = a->y + ((size_t)(oy - a->oy0) * a->ow + ox) * C;
    for (int c = 0; c < C; c += CPU_PANEL) {
        __m512 acc = _mm512_loadu_ps(a->bias + c);
        for (int ky = ky0; ky < ky1; ky++) {
            const float *xr = cpu_dw_row(a, iy0 + ky) + (ptrdiff_t)ix0 * C + c;
            const float *wr = a->wt + (size_t)ky * a->kw * a->cpad + c;
            for (int kx = kx0; kx < kx1; kx++)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(xr + (size_t)kx * C),
                                      _mm512_loadu_ps(wr + (size_t)kx * a->cpad), acc);
        }
        _mm512_mask_storeu_ps(y + c, tail_mask(C - c), clamp16(acc, lo, hi));
    }
}

/* The most input rows and columns one group reads: a 5x5 filter at stride 2, two output
 * rows of eight pixels (dw_group: KH + SH*(R-1) rows, (NX-1)*SW + KW columns). */
#define DW_ROWS 7
#define DW_COLS 19

/* NX outputs (oy, ox .. ox+NX-1) of one 16-channel block, and with R = 2 the same of row
 * oy+1, the filter at wt (tap t's 16 weights at wt + t*cpad).  The group reads input
 * columns ix0 .. ix0 + T-1 (ix0 = ox*SW - pad_left) of input rows iy0 .. iy0 + NR-1, of
 * which the first ZL and the last ZR are outside the input (the borders): those taps add
 * nothing and are skipped.  rows[ir] is input row iy0 + ir at column ix0 + ZL, or NULL
 * where that row is outside the input; columns are cs floats apart.  Input row ir feeds
 * output row r with filter row ir - r*SH, so each input row is loaded once for both
 * output rows.  Along a row the input columns are read once each, in order, and each
 * feeds every output whose window holds it: (NX-1)*SW + KW loads per row instead of
 * NX*KW.  The weights of the filter rows an input row meets are loaded with it (from
 * L1): holding the whole filter in registers left room for only four sums with a 5x5
 * filter, too few to cover the FMA latency.  Each output's taps are summed in the order
 * ky, then kx, as in the portable kernel. */
static ALWAYS_INLINE void dw_group(int KH, int KW, int SH, int SW, int NX, int R, int ZL, int ZR,
                                   const float *const *rows, size_t cs, const float *wt,
                                   size_t cpad, __m512 b, float *y, size_t ys, size_t yrow,
                                   __mmask16 mk, __m512 lo, __m512 hi)
{
    const int T = (NX - 1) * SW + KW, NR = KH + SH * (R - 1);
    __m512 acc[2][8];
    UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int j = 0; j < NX; j++) acc[r][j] = b;
    UNROLL_ALL for (int ir = 0; ir < NR; ir++)
    {
        if (rows[ir] == NULL)
            continue;
        __m512 w[2][5];
        UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int kx = 0; kx < KW; kx++)
        {
            int ky = ir - r * SH;
            w[r][kx] = ky >= 0 && ky < KH ? _mm512_loadu_ps(wt + (size_t)(ky * KW + kx) * cpad)
                                          : _mm512_setzero_ps();
        }
        const float *q = rows[ir];
        UNROLL_ALL for (int t = ZL; t < T - ZR; t++, q += cs)
        {
            __m512 v = _mm512_loadu_ps(q);
            /* one load per column: GCC otherwise folds it into every FMA that reads it,
             * up to KW loads of the same vector, and the group waits on its loads */
            __asm__("" : "+v"(v));
            UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int j = 0; j < NX; j++)
            {
                int ky = ir - r * SH, kx = t - j * SW;
                if (ky >= 0 && ky < KH && kx >= 0 && kx < KW)
                    acc[r][j] = _mm512_fmadd_ps(v, w[r][kx], acc[r][j]);
            }
        }
    }
    UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int j = 0; j < NX; j++)
        _mm512_mask_storeu_ps(y + (size_t)r * yrow + (size_t)j * ys, mk,
                              clamp16(acc[r][j], lo, hi));
}

/* Output row oy (and oy+1 with R = 2) of a KH x KW filter at strides SH, SW, in groups
 * of NX pixels.  A row whose width is not a multiple of NX ends with a group moved left
 * onto the one before it: the outputs both hold are computed twice, the same way, and
 * stored twice.  The groups at the borders skip the columns outside the input by their
 * own builds of dw_group (ZL, ZR): with "same" padding, P = KW/2 columns on the left,
 * and on the right P at stride 1, P-1 at stride 2.  With a masked load per column
 * instead, the 8x8 and 16x16 layers, where every group is a border one, took 1.2-1.4x
 * the time.  Any other border (other paddings) reads a copy of its window with zeros
 * outside (`win`), which adds the same +0 products.  Channels of few blocks (DW_C_INNER
 * or fewer) are the inner loop: a pixel's channels are then read together, and the
 * input streams through the caches once; with more, the outer loop (a block's column of
 * the rows stays in L1). */
#define DW_C_INNER 64
static ALWAYS_INLINE void dw_rows(const cpu_dw_args *a, int KH, int KW, int SH, int SW, int NX,
                                  int R, int oy, __m512 lo, __m512 hi)
{
    const int C = a->c, T = (NX - 1) * SW + KW, NR = KH + SH * (R - 1);
    const int P = KW / 2, Q = SW == 1 ? P : P - 1;
    const int iy0 = oy * SH - a->pad_top - a->iy_base;
    const float *rows[DW_ROWS]; /* found once per output row pair, not per group */
    for (int ir = 0; ir < NR; ir++)
        rows[ir] = iy0 + ir >= 0 && iy0 + ir < a->h ? cpu_dw_row(a, iy0 + ir) : NULL;
    const int c_inner = C <= DW_C_INNER;
    const int n_ox = (a->ow + NX - 1) / NX, n_c = (C + CPU_PANEL - 1) / CPU_PANEL;
    float *yo = a->y + (size_t)(oy - a->oy0) * a->ow * C;
    for (int i = 0; i < n_ox * n_c; i++) {
        int ox = (c_inner ? i / n_c : i % n_ox) * NX;
        int c = (c_inner ? i % n_c : i / n_ox) * CPU_PANEL;
        ox = ox + NX <= a->ow ? ox : a->ow - NX;
        int ix0 = ox * SW - a->pad_left;
        int zl = ix0 < 0 ? -ix0 : 0, zr = ix0 + T > a->w ? ix0 + T - a->w : 0;
        const float *rp[DW_ROWS];
        for (int ir = 0; ir < NR; ir++)
            rp[ir] = rows[ir] != NULL ? rows[ir] + (ptrdiff_t)(ix0 + zl) * C + c : NULL;
        const float *wt = a->wt + c;
        const size_t cp = (size_t)a->cpad, ys = (size_t)C, yrow = (size_t)a->ow * C;
        const __m512 b = _mm512_loadu_ps(a->bias + c);
        float *y = yo + (size_t)ox * C + c;
        const __mmask16 mk = tail_mask(C - c);
        if (zl == 0 && zr == 0)
            dw_group(KH, KW, SH, SW, NX, R, 0, 0, rp, ys, wt, cp, b, y, ys, yrow, mk, lo, hi);
        else if (zl == P && zr == 0)
            dw_group(KH, KW, SH, SW, NX, R, P, 0, rp, ys, wt, cp, b, y, ys, yrow, mk, lo, hi);
        else if (Q > 0 && zl == 0 && zr == Q)
            dw_group(KH, KW, SH, SW, NX, R, 0, Q, rp, ys, wt, cp, b, y, ys, yrow, mk, lo, hi);
        else if (Q > 0 && zl == P && zr == Q)
            dw_group(KH, KW, SH, SW, NX, R, P, Q, rp, ys, wt, cp, b, y, ys, yrow, mk, lo, hi);
        else { /* another border: a copy of the window, zeros outside the input */
            _Alignas(64) float win[DW_ROWS][DW_COLS * CPU_PANEL];
            for (int ir = 0; ir < NR; ir++) {
                rp[ir] = rows[ir] != NULL ? win[ir] : NULL;
                for (int t = 0; t < T && rows[ir] != NULL; t++) {
                    int ix = ix0 + t;
                    __m512 v = ix >= 0 && ix < a->w ? _mm512_loadu_ps(rows[ir] + (size_t)ix * C + c)
                                                    : _mm512_setzero_ps();
                    _mm512_store_ps(win[ir] + t * CPU_PANEL, v);
                }
            }
            dw_group(KH, KW, SH, SW, NX, R, 0, 0, rp, CPU_PANEL, wt, cp, b, y, ys, yrow, mk, lo,
                     hi);
        }
    }
}

/* One function per filter, stride, group width and row count. */
#define DW_ROWS_FN(K, S, NX, R)                                                                    \
    static __attribute__((noinline)) void dw_rows_##K##_##S##_##NX##_##R(                          \
        const cpu_dw_args *a, int oy, __m512 lo, __m512 hi)                                        \
    {                                                                                              \
        dw_rows(a, K, K, S, S, NX, R, oy, lo, hi);                                                 \
    }
#define DW_ROWS_FNS(K, S)                                                                          \
    DW_ROWS_FN(K, S, 8, 2) DW_ROWS_FN(K, S, 8, 1) DW_ROWS_FN(K, S, 4, 2) DW_ROWS_FN(K, S, 4, 1)
DW_ROWS_FNS(3, 1)
DW_ROWS_FNS(3, 2)
DW_ROWS_FNS(5, 1)
DW_ROWS_FNS(5, 2)

/* Every output row of a K x K filter at stride S, two at a time (the last of an odd
 * count alone), in groups of 8 pixels, or 4 for rows of 4 to 7; narrower rows one pixel
 * at a time. */
#define DW_FIXED(K, S)                                                                             \
    for (int oy = a->oy0; oy < a->oy1;) {                                                          \
        int R = oy + 1 < a->oy1 ? 2 : 1;                                                           \
        if (a->ow >= 8 && R == 2)                                                                  \
            dw_rows_##K##_##S##_8_2(a, oy, lo, hi);                                                \
        else if (a->ow >= 8)                                                                       \
            dw_rows_##K##_##S##_8_1(a, oy, lo, hi);                                                \
        else if (a->ow >= 4 && R == 2)                                                             \
            dw_rows_##K##_##S##_4_2(a, oy, lo, hi);                                                \
        else if (a->ow >= 4)                                                                       \
            dw_rows_##K##_##S##_4_1(a, oy, lo, hi);                                                \
        else                                                                                       \
            for (int r = 0; r < R; r++)                                                            \
                for (int ox = 0; ox < a->ow; ox++)                                                 \
                    dw_pixel(a, oy + r, ox, lo, hi);                                               \
        oy += R;                                                                                   \
    }

static void dwconv_avx512(const cpu_dw_args *a)
{
#ifdef CREASE_KERNEL_EXTENTS
    cpu_dw_check_extents(a);
#endif
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    if (a->kh == 3 && a->kw == 3 && a->sh == 1 && a->sw == 1)
        DW_FIXED(3, 1)
    else if (a->kh == 3 && a->kw == 3 && a->sh == 2 && a->sw == 2)
        DW_FIXED(3, 2)
    else if (a->kh == 5 && a->kw == 5 && a->sh == 1 && a->sw == 1)
        DW_FIXED(5, 1)
    else if (a->kh == 5 && a->kw == 5 && a->sh == 2 && a->sw == 2)
        DW_FIXED(5, 2)
    else { /* other filters and strides: one pixel at a time */
        for (int oy = a->oy0; oy < a->oy1; oy++)
            for (int ox = 0; ox < a->ow; ox++)
                dw_pixel(a, oy, ox, lo, hi);
    }
}

static void add_avx512(float *y, const float *a, const float *b, size_t n, float lo, float hi)
{
#ifdef CREASE_KERNEL_EXTENTS
    cpu_add_check_extents(y, a, b, n);
#endif
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    size_t i = 0;
    for (; i + CPU_PANEL <= n; i += CPU_PANEL)
        _mm512_storeu_ps(
            y + i,
            clamp16(_mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)), vlo, vhi));
    if (i < n) {
        __mmask16 mk = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(y + i, mk,
                              clamp16(_mm512_add_ps(_mm512_maskz_loadu_ps(mk, a + i),
                                                    _mm512_maskz_loadu_ps(mk, b + i)),
                                      vlo, vhi));
    }
}

const cpu_kernels cpu_kernels_avx512 = {
    .isa = "avx512",
    .packed_size = cpu_packed_size,
    .pack = cpu_pack_weights,
    .gemm = gemm_avx512,
    .segments = 1,
    .dwconv = dwconv_avx512,
    .add = add_avx512,
};

#ifdef CREASE_CPU_AMX
/* The matrix product on AMX tiles (cpu_kernels_amx.c) where they pay, else above. */
static void gemm_amx_or_avx512(const cpu_gemm_args *a)
{
    if (cpu_amx_pays(a->k, a->n))
        cpu_gemm_amx(a);
    else
        gemm_avx512(a);
}

/* The AMX kernels: the matrix product on tiles where they pay, the depthwise
 * convolution and the ADD as above. */
const cpu_kernels cpu_kernels_amx = {
    .isa = "amx",
    .packed_size = cpu_amx_packed_size,
    .pack = cpu_amx_pack,
    .work_size = cpu_amx_work_size,
    .gemm = gemm_amx_or_avx512,
    .dwconv = dwconv_avx512,
    .add = add_avx512,
};
#endif
