/*
 * cpu_kernels.c -- the portable build of the "cpu" engine's kernels (cpu_kernels.h),
 * the weight packing both builds share, and the choice between the builds.
 *
 * The loops have the shape of the AVX-512 ones (a 16-wide panel row per k, outputs
 * accumulated in a small array) so the compiler can vectorize them for whatever the
 * build targets, and so the two builds are easy to read side by side.
 */
#include "engine/cpu_kernels.h"

#include <string.h>

#ifdef CREASE_KERNEL_EXTENTS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Stops the process where [p, p + bytes) is not all addressable (cpu_kernels.h). */
static void check_region(const char *kernel, const char *what, const void *p, size_t bytes)
{
    if (bytes == 0)
        return;
    void *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, bytes);
    if (bad == NULL)
        return;
    fprintf(stderr,
            "cpu kernel %s: %s [%p, +%zu bytes) is not addressable at %p (+%zu): the call's "
            "footprint exceeds its buffer\n",
            kernel, what, p, bytes, bad, (size_t)((const char *)bad - (const char *)p));
    __asan_describe_address(bad);
    __sanitizer_print_stack_trace();
    abort();
}

void cpu_gemm_check_extents(const cpu_gemm_args *a, size_t w_words)
{
    size_t n_pad = (size_t)(a->n + CPU_PANEL - 1) / CPU_PANEL * CPU_PANEL;
    int nseg = a->kseg > 0 ? a->k / a->kseg : 1;
    size_t seg = (size_t)(a->kseg > 0 ? a->kseg : a->k) * sizeof(float);
    check_region("gemm", "weights", a->w, w_words * 4);
    if (!a->accumulate)
        check_region("gemm", "bias", a->bias, n_pad * sizeof(float));
    for (int m = 0; m < a->m; m++) {
        for (int s = 0; s < nseg; s++)
            check_region("gemm", "input row", a->x + (size_t)m * a->ldx + (size_t)s * a->ldseg,
                         seg);
        check_region("gemm", "output row", a->y + (size_t)m * a->ldy, (size_t)a->n * sizeof(float));
    }
}

void cpu_dw_check_extents(const cpu_dw_args *a)
{
    /* full 16-float loads in the last channel block read up to 16 - c % 16 floats past a
     * row's last pixel (cpu_kernels_avx512.c) */
    size_t over = a->c % CPU_PANEL ? (size_t)(CPU_PANEL - a->c % CPU_PANEL) : 0;
    check_region("dwconv", "weights", a->wt, (size_t)a->kh * a->kw * a->cpad * sizeof(float));
    check_region("dwconv", "bias", a->bias, (size_t)a->cpad * sizeof(float));
    for (int i = 0; i < a->h; i++)
        check_region("dwconv", "input row", cpu_dw_row(a, i),
                     ((size_t)a->w * a->c + over) * sizeof(float));
    check_region("dwconv", "output", a->y,
                 (size_t)(a->oy1 - a->oy0) * a->ow * a->c * sizeof(float));
}

void cpu_add_check_extents(const float *y, const float *a, const float *b, size_t n)
{
    check_region("add", "first input", a, n * sizeof(float));
    check_region("add", "second input", b, n * sizeof(float));
    check_region("add", "output", y, n * sizeof(float));
}
#endif

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
                float xv =
                    a->kseg > 0 ? x[(size_t)(kk / a->kseg) * a->ldseg + kk % a->kseg] : x[kk];
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
    .segments = 1,
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
