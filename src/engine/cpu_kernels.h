/*
 * cpu_kernels.h -- the compute kernels of the "cpu" engine (engine_cpu.c): the two
 * operators that hold nearly all of a pose model's work, in two builds of the same
 * loops, chosen once at load time from what the CPU can do.
 *
 *   cpu_kernels_portable  plain C11 (cpu_kernels.c); the compiler may vectorize it
 *                         for the build's baseline ISA.  Any x86-64 or other CPU.
 *   cpu_kernels_avx512    AVX-512F intrinsics (cpu_kernels_avx512.c, compiled with
 *                         -mavx512f -mfma); only where the CPU reports AVX-512F.
 *
 * Both compute every output as a float32 sum in the same order of taps (bias first,
 * then the reduction index ascending), but the AVX-512 build fuses multiply and add, so
 * the two differ by float rounding only: each is held to the reference engine within
 * DESIGN.md §7's tolerance by the conformance tests.
 *
 * THE PACKED WEIGHTS.  A matrix product's weights W[n][k] (an OHWI convolution filter
 * flattened to [O][KH*KW*I]) are packed once at load into panels of 16 output
 * channels: panel t holds W[16t + j][k] at [t][k][j], zero where 16t + j >= n, so a
 * kernel reads one contiguous 16-float row per k.  The bias is padded to a multiple
 * of 16 with zeros.  cpu_pack_weights makes this layout.
 *
 * Kernels do not allocate and do not fail: engine_cpu.c checks shapes at load.
 */
#ifndef CR_ENGINE_CPU_KERNELS_H
#define CR_ENGINE_CPU_KERNELS_H

#include <stddef.h>

/* Width of a weight panel (one AVX-512 register of floats). */
#define CPU_PANEL 16

/* y[m][n] = clamp(bias[n] + sum_k x[m][k] * W[n][k], lo, hi) for m < M, n < N, or with
 * `accumulate` clamp(y[m][n] + sum ..., lo, hi) (the bias is then not read).
 * x rows are ldx floats apart (rows may overlap: ldx < k), y rows ldy; w is packed
 * (above), bias padded. */
typedef struct cpu_gemm_args {
    int m, k, n;
    const float *x;
    size_t ldx;
    const float *w;    /* packed panels: ceil(n/16) x k x 16 */
    const float *bias; /* ceil(n/16)*16 floats */
    float *y;
    size_t ldy;
    float lo, hi;
    int accumulate;
} cpu_gemm_args;

/* Depthwise convolution of one item, NHWC, depth multiplier 1, output rows [oy0, oy1):
 * y[oy-oy0][ox][c] = clamp(bias[c] + sum_{ky,kx} x[iy-iy_base][ix][c] * w[ky][kx][c], lo, hi)
 * with iy = oy*sh - pad_top + ky, ix = ox*sw - pad_left + kx; taps outside the input rows
 * held, [iy_base, iy_base + h), or outside [0, w) are 0.  A whole tensor is oy0 = 0,
 * oy1 = oh, iy_base = 0; a band of rows (engine_cpu.c's fused blocks) holds only the input
 * rows the band needs, and the caller makes sure rows outside them are the padding. */
typedef struct cpu_dw_args {
    int h, w, c;  /* input: rows held, width, channels */
    int oh, ow;   /* output */
    int oy0, oy1; /* the output rows to compute */
    int iy_base;  /* the input row held at x */
    int kh, kw, sh, sw, pad_top, pad_left;
    const float *x;    /* readable up to 16 floats past its end */
    const float *wt;   /* [kh][kw][cpad], cpad = c rounded up to 16, zero padded */
    const float *bias; /* cpad floats (zeros when the model has none) */
    int cpad;
    float *y;
    float lo, hi;
} cpu_dw_args;

typedef struct cpu_kernels {
    const char *isa; /* "portable", "avx512" */
    void (*gemm)(const cpu_gemm_args *a);
    void (*dwconv)(const cpu_dw_args *a);
    /* y[i] = clamp(a[i] + b[i], lo, hi) for i < n (y may be a or b). */
    void (*add)(float *y, const float *a, const float *b, size_t n, float lo, float hi);
} cpu_kernels;

extern const cpu_kernels cpu_kernels_portable;
#ifdef CREASE_CPU_AVX512 /* set by CMake where cpu_kernels_avx512.c is built */
extern const cpu_kernels cpu_kernels_avx512;
#endif

/* The best kernels this CPU runs (AVX-512 where available, else portable). */
const cpu_kernels *cpu_kernels_best(void);

/* Packs W (n rows of k floats, row i at w + i*ldw) into `out`, which holds
 * cpu_packed_size(n, k) floats; biases (n floats, or NULL for zeros) into `bias_out`
 * (ceil(n/16)*16 floats), unless bias_out is NULL (weights only). */
size_t cpu_packed_size(int n, int k);
void cpu_pack_weights(const float *w, size_t ldw, int n, int k, const float *bias, float *out,
                      float *bias_out);

#endif
