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
 * at the store.  A row's inputs may be segments (cpu_gemm_args.kseg): the k loop is then
 * one loop per segment, the weights still read in order.
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
 * DEPTHWISE.  16 channels per register.  Where all of a pixel's taps fall inside the
 * input (all but the border rows and columns), 4 outputs of a row are computed together,
 * all their channel blocks one after the other (dw_row): 4 independent sums hide the FMA
 * latency, each weight load serves 4 FMAs, and the inputs are read in memory order (a
 * loop over one channel block along the row first was 8x slower: every load a new cache
 * line, from L2).  The borders take one pixel at a time with the taps clipped
 * (dw_pixel).
 * Loads are full 16-float vectors even in the last channel block: the lanes past c
 * read the next pixel's channels or the buffers' slack (ENGINE_SLACK, and the weights'
 * padding to cpad), are computed and never stored.
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
                    if (prefetch) {
                        DISPATCH_MR(mr, CALL32_PF)
                    } else {
                        DISPATCH_MR(mr, CALL32)
                    }
#undef CALL32
#undef CALL32_PF
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

/* One output pixel, taps clipped to [ky0,ky1) x [kx0,kx1): filters other than 3x3, 5x5. */
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

/* NX outputs (oy, ox .. ox+NX-1) of one 16-channel block (and with R = 2 the same of
 * row oy+1), the filter at wt (tap t's 16 weights at wt + t*cpad).  Along a filter row
 * the input columns are read once each, in order (one pointer step of C floats per load),
 * and each feeds every output whose window holds it: (NX-1)*SW + KW loads per filter row
 * instead of NX*KW.  The weights of the filter rows an input row meets are loaded with
 * it (from L1): holding the whole filter in registers left room for only four sums with
 * a 5x5 filter, too few to cover the FMA latency.  With `masked`, input rows outside the
 * input are skipped and columns outside it load as zeros (a zero-masked load reads no
 * memory), and outputs past the row's end are not stored: the borders.  Each output's
 * taps are summed in the order ky, then kx, as in the portable kernel. */
static ALWAYS_INLINE void dw_group(const cpu_dw_args *a, int KH, int KW, int SW, int NX, int R,
                                   int masked, const float *const *rows, const float *wt, __m512 b,
                                   int oy, int ox, int c, __mmask16 mk, __m512 lo, __m512 hi)
{
    /* R output rows (oy, oy+1 when R = 2, vertical stride 1): input row ir feeds output
     * row r with filter row ir - r, so each input row is loaded once for both.  rows[ir]:
     * the input row's start, NULL outside the input (only where `masked`). */
    const int C = a->c, T = (NX - 1) * SW + KW;
    const int ix0 = ox * SW - a->pad_left;
    __m512 acc[2][8];
    UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int j = 0; j < NX; j++) acc[r][j] = b;
    UNROLL_ALL for (int ir = 0; ir < KH + R - 1; ir++)
    {
        if (masked && rows[ir] == NULL)
            continue;
        __m512 w[2][5];
        UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int kx = 0; kx < KW; kx++)
        {
            int ky = ir - r;
            w[r][kx] = ky >= 0 && ky < KH ? _mm512_loadu_ps(wt + (size_t)(ky * KW + kx) * a->cpad)
                                          : _mm512_setzero_ps();
        }
        const float *q = rows[ir] + (ptrdiff_t)ix0 * C + c;
        UNROLL_ALL for (int t = 0; t < T; t++, q += C)
        {
            __m512 v;
            if (masked)
                v = _mm512_maskz_loadu_ps(ix0 + t >= 0 && ix0 + t < a->w ? 0xFFFF : 0, q);
            else
                v = _mm512_loadu_ps(q);
            UNROLL_ALL for (int r = 0; r < R; r++) UNROLL_ALL for (int j = 0; j < NX; j++)
            {
                int ky = ir - r, kx = t - j * SW;
                if (ky >= 0 && ky < KH && kx >= 0 && kx < KW)
                    acc[r][j] = _mm512_fmadd_ps(v, w[r][kx], acc[r][j]);
            }
        }
    }
    UNROLL_ALL for (int r = 0; r < R; r++)
    {
        float *y = a->y + ((size_t)(oy + r - a->oy0) * a->ow + ox) * C + c;
        UNROLL_ALL for (int j = 0; j < NX; j++) if (!masked || ox + j < a->ow)
            _mm512_mask_storeu_ps(y + (size_t)j * C, mk, clamp16(acc[r][j], lo, hi));
    }
}

/* A KH x KW filter with column stride SW, all outputs, eight at a time; with vertical
 * stride 1 two output rows at a time (dw_group's R): a 3x3 filter reads 40 inputs for 144
 * FMAs instead of 30 for 72.  Channels of few blocks (DW_C_INNER or fewer) are the inner
 * loop: a pixel's channels are then read together, and the input streams through the
 * caches once; with more, the outer loop (a block's column of the rows stays in L1). */
#define DW_C_INNER 64
static ALWAYS_INLINE void dw_fixed(const cpu_dw_args *a, int KH, int KW, int SW)
{
    const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
    const int NX = 8;
    for (int oy = a->oy0; oy < a->oy1;) {
        int R = a->sh == 1 && oy + 1 < a->oy1 ? 2 : 1;
        int iy0 = oy * a->sh - a->pad_top - a->iy_base;
        int rows_inside = iy0 >= 0 && iy0 + KH + R - 1 <= a->h;
        const float *rows[6]; /* KH + R - 1 <= 6; found once per output row, not per group */
        for (int ir = 0; ir < KH + R - 1; ir++)
            rows[ir] = iy0 + ir >= 0 && iy0 + ir < a->h ? cpu_dw_row(a, iy0 + ir) : NULL;
        int c_inner = a->c <= DW_C_INNER;
        int n_ox = (a->ow + NX - 1) / NX, n_c = (a->c + CPU_PANEL - 1) / CPU_PANEL;
        for (int i = 0; i < n_ox * n_c; i++) {
            int ox = (c_inner ? i / n_c : i % n_ox) * NX;
            int c = (c_inner ? i % n_c : i / n_ox) * CPU_PANEL;
            __mmask16 mk = tail_mask(a->c - c);
            __m512 b = _mm512_loadu_ps(a->bias + c);
            const float *wt = a->wt + c;
            int ix0 = ox * SW - a->pad_left, ix1 = ix0 + (NX - 1) * SW + KW;
            int inside = rows_inside && ix0 >= 0 && ix1 <= a->w && ox + NX <= a->ow;
            if (R == 2 && inside)
                dw_group(a, KH, KW, SW, NX, 2, 0, rows, wt, b, oy, ox, c, mk, lo, hi);
            else if (R == 2)
                dw_group(a, KH, KW, SW, NX, 2, 1, rows, wt, b, oy, ox, c, mk, lo, hi);
            else if (inside)
                dw_group(a, KH, KW, SW, NX, 1, 0, rows, wt, b, oy, ox, c, mk, lo, hi);
            else
                dw_group(a, KH, KW, SW, NX, 1, 1, rows, wt, b, oy, ox, c, mk, lo, hi);
        }
        oy += R;
    }
}

static void dwconv_avx512(const cpu_dw_args *a)
{
#ifdef CREASE_KERNEL_EXTENTS
    cpu_dw_check_extents(a);
#endif
    if (a->kh == 3 && a->kw == 3 && a->sw == 1)
        dw_fixed(a, 3, 3, 1);
    else if (a->kh == 3 && a->kw == 3 && a->sw == 2)
        dw_fixed(a, 3, 3, 2);
    else if (a->kh == 5 && a->kw == 5 && a->sw == 1)
        dw_fixed(a, 5, 5, 1);
    else if (a->kh == 5 && a->kw == 5 && a->sw == 2)
        dw_fixed(a, 5, 5, 2);
    else { /* other filters: one pixel at a time */
        const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
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
