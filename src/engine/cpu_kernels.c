/*
 * cpu_kernels.c -- the portable build of the "cpu" engine's kernels (cpu_kernels.h),
 * the weight packing both builds share, and the choice between the builds.
 *
 * The loops have the shape of the AVX-512 ones (a 16-wide panel row per k, outputs
 * accumulated in a small array) so the compiler can vectorize them for whatever the
 * build targets, and so the two builds are easy to read side by side.
 */
#include "engine/cpu_kernels.h"

#include <stdint.h>
#include <string.h>

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

size_t cpu_packed_size(int n, int k)
{
    return (size_t)((n + CPU_PANEL - 1) / CPU_PANEL) * (size_t)k * CPU_PANEL;
}

void cpu_pack_weights(const float *w, size_t ldw, int n, int k, void *vout)
{
    float *out = vout;
    int panels = (n + CPU_PANEL - 1) / CPU_PANEL;
    for (int t = 0; t < panels; t++)
        for (int kk = 0; kk < k; kk++)
            for (int j = 0; j < CPU_PANEL; j++) {
                int row = t * CPU_PANEL + j;
                out[((size_t)t * k + kk) * CPU_PANEL + j] =
                    row < n ? w[(size_t)row * ldw + kk] : 0.0f;
            }
}

void cpu_pack_bias(const float *bias, int n, float *out)
{
    int padded = (n + CPU_PANEL - 1) / CPU_PANEL * CPU_PANEL;
    for (int i = 0; i < padded; i++)
        out[i] = bias != NULL && i < n ? bias[i] : 0.0f;
}

/* ---- the AMX layout (cpu_kernels_amx.c) ------------------------------------- */

#define AMX_K 32 /* bfloat16 values per tile row: k is padded to a multiple */

static int amx_kp(int k)
{
    return (k + AMX_K - 1) / AMX_K * AMX_K;
}

/* 32-bit words of the tiles: per 16-channel panel and 32 inputs, two 1 kB tiles (hi,
 * lo) of bfloat16 pairs. */
static size_t amx_tiles_size(int n, int k)
{
    return (size_t)((n + CPU_PANEL - 1) / CPU_PANEL) * (size_t)(amx_kp(k) / AMX_K) * 2 * 256;
}

int cpu_amx_pays(int k, int n)
{
    /* Measured per shape of the pose models (Xeon with AMX, one core, 64-byte aligned
     * buffers): from 16 rows up, the tiles take 0.34-0.7x the float32 kernel's time from
     * 24 inputs and 48 outputs up; below 24 inputs or outputs their fixed costs (the
     * split of the inputs, 32-row blocks, k and n padded to 32) make them up to 5x
     * slower.  With 24 or 32 outputs and 128 inputs or more, hot caches alone had the
     * float32 kernel ahead, but inside the full landmark model (the projections of its
     * chains: 144 -> 24, 144 -> 32, 192 -> 32) the tiles took 0.86-0.91x its time.  Rows
     * are not asked: a product of fewer (the models' last 2x2 and 1x1 layers) takes
     * ~10 us more a frame on the tiles, and keeping a float32 copy of every packed weight
     * for it took 32 MB a process. */
    return k >= 24 && n >= 24;
}

size_t cpu_amx_packed_size(int n, int k)
{
    return cpu_amx_pays(k, n) ? amx_tiles_size(n, k) : cpu_packed_size(n, k);
}

size_t cpu_amx_work_size(int k)
{
    return (size_t)2 * 32 * amx_kp(k) * sizeof(uint16_t); /* 32 rows, hi and lo */
}

/* float32 -> bfloat16, rounded to nearest even (as VCVTNE2PS2BF16); NaN stays NaN. */
static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* The split of cpu_kernels_amx.c: hi = f rounded to bfloat16, lo = f - hi rounded. */
static void bf16_split(float f, uint16_t *hi, uint16_t *lo)
{
    *hi = bf16_of(f);
    uint32_t u = (uint32_t)*hi << 16;
    float h;
    memcpy(&h, &u, sizeof h);
    *lo = bf16_of(f - h);
}

void cpu_amx_pack(const float *w, size_t ldw, int n, int k, void *vout)
{
    if (!cpu_amx_pays(k, n)) {
        cpu_pack_weights(w, ldw, n, k, vout);
        return;
    }
    uint16_t *out = vout;
    int panels = (n + CPU_PANEL - 1) / CPU_PANEL, kp = amx_kp(k);
    /* [panel][k/32][hi, lo][16 pairs][16 channels][2]: in tile (panel t, block b), pair p
     * of channel j holds W[16t + j][32b + 2p] and W[16t + j][32b + 2p + 1], zero past n
     * or k */
    for (int t = 0; t < panels; t++)
        for (int kk = 0; kk < kp; kk++)
            for (int j = 0; j < CPU_PANEL; j++) {
                int row = t * CPU_PANEL + j;
                float v = row < n && kk < k ? w[(size_t)row * ldw + kk] : 0.0f;
                size_t tile = ((size_t)t * (kp / AMX_K) + kk / AMX_K) * 2 * 512;
                size_t at = ((size_t)(kk % AMX_K) / 2 * CPU_PANEL + j) * 2 + kk % 2;
                bf16_split(v, &out[tile + at], &out[tile + 512 + at]);
            }
}

static void gemm_portable(const cpu_gemm_args *a)
{
    int panels = (a->n + CPU_PANEL - 1) / CPU_PANEL;
    for (int m = 0; m < a->m; m++) {
        const float *x = a->x + (size_t)m * a->ldx;
        float *y = a->y + (size_t)m * a->ldy;
        for (int t = 0; t < panels; t++) {
            const float *p = (const float *)a->w + (size_t)t * a->k * CPU_PANEL;
            float acc[CPU_PANEL];
            int nj = a->n - t * CPU_PANEL < CPU_PANEL ? a->n - t * CPU_PANEL : CPU_PANEL;
            memcpy(acc, a->bias + (size_t)t * CPU_PANEL, sizeof acc);
            for (int j = 0; a->accumulate && j < nj; j++)
                acc[j] = y[t * CPU_PANEL + j];
            for (int kk = 0; kk < a->k; kk++) {
                float xv = x[kk];
                for (int j = 0; j < CPU_PANEL; j++)
                    acc[j] += xv * p[(size_t)kk * CPU_PANEL + j];
            }
            for (int j = 0; j < nj; j++)
                y[t * CPU_PANEL + j] = clampf(acc[j], a->lo, a->hi);
        }
    }
}

static void dwconv_portable(const cpu_dw_args *a)
{
    int C = a->c;
    for (int oy = a->oy0; oy < a->oy1; oy++)
        for (int ox = 0; ox < a->ow; ox++) {
            float *y = a->y + ((size_t)(oy - a->oy0) * a->ow + ox) * C;
            for (int c = 0; c < C; c++)
                y[c] = a->bias[c];
            for (int ky = 0; ky < a->kh; ky++) {
                int iy = oy * a->sh - a->pad_top + ky - a->iy_base;
                if (iy < 0 || iy >= a->h)
                    continue;
                for (int kx = 0; kx < a->kw; kx++) {
                    int ix = ox * a->sw - a->pad_left + kx;
                    if (ix < 0 || ix >= a->w)
                        continue;
                    const float *x = cpu_dw_row(a, iy) + (size_t)ix * C;
                    const float *wt = a->wt + ((size_t)ky * a->kw + kx) * a->cpad;
                    for (int c = 0; c < C; c++)
                        y[c] += x[c] * wt[c];
                }
            }
            for (int c = 0; c < C; c++)
                y[c] = clampf(y[c], a->lo, a->hi);
        }
}

static void add_portable(float *y, const float *a, const float *b, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        y[i] = clampf(a[i] + b[i], lo, hi);
}

const cpu_kernels cpu_kernels_portable = {
    .isa = "portable",
    .packed_size = cpu_packed_size,
    .pack = cpu_pack_weights,
    .gemm = gemm_portable,
    .dwconv = dwconv_portable,
    .add = add_portable,
};

const cpu_kernels *cpu_kernels_best(void)
{
#ifdef CREASE_CPU_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return &cpu_kernels_avx512;
#endif
    return &cpu_kernels_portable;
}

#ifndef CREASE_CPU_AMX
const cpu_kernels *cpu_kernels_amx_usable(void)
{
    return NULL;
}
#endif
