/*
 * cpu_kernels.h -- the compute kernels of the "cpu" and "cpu-amx" engines
 * (engine_cpu.c): the two operators that hold nearly all of a pose model's work, in
 * builds of the same loops chosen once at load time from what the CPU can do.
 *
 *   cpu_kernels_portable  plain C11 (cpu_kernels.c); the compiler may vectorize it
 *                         for the build's baseline ISA.  Any x86-64 or other CPU.
 *   cpu_kernels_avx512    AVX-512F intrinsics (cpu_kernels_avx512.c, compiled with
 *                         -mavx512f -mfma); only where the CPU reports AVX-512F.
 *   cpu_kernels_amx       the "cpu-amx" engine's: the AVX-512 kernels, but the matrix
 *                         product on AMX tiles where they pay (cpu_kernels_amx.c):
 *                         each float32 value as the sum of two bfloat16 ones, three
 *                         products, float32 sums; only where cpu_kernels_amx_usable().
 *
 * The float32 builds compute every output as a float32 sum in the same order of taps
 * (bias first, then the reduction index ascending), but the AVX-512 build fuses multiply
 * and add, so the two differ by float rounding only: each is held to the reference
 * engine within DESIGN.md §7's tolerance by the conformance tests.  The AMX build's
 * products on tiles carry 16 bits of mantissa instead of 24 (cpu_kernels_amx.c): it is
 * held to ten times that tolerance, and its landmarks to the float32 engines' within
 * the quality gate (test_blazepose_engines).
 *
 * THE PACKED WEIGHTS.  A matrix product's weights W[n][k] (an OHWI convolution filter
 * flattened to [O][KH*KW*I]) are packed once at load into panels of 16 output
 * channels: panel t holds W[16t + j][k] at [t][k][j], zero where 16t + j >= n, so a
 * kernel reads one contiguous 16-float row per k.  The bias is padded to a multiple
 * of 16 with zeros.  cpu_pack_weights makes this layout; the AMX build has its own
 * (cpu_amx_pack), so the engine packs through the kernels' `pack`, and sizes buffers by
 * their `packed_size`, in 32-bit words (one float, or a pair of bfloat16 values).
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
    const void *w;     /* packed by the kernels' `pack` */
    const float *bias; /* ceil(n/16)*16 floats */
    float *y;
    size_t ldy;
    float lo, hi;
    int accumulate;
    void *work; /* the kernels' work_size(k) bytes, or NULL where work_size is NULL */
    /* x's rows in segments (a convolution's filter rows, engine_cpu.c ROWS), for the
     * kernels with `segments` only: 0 = each row's k inputs one after the other; else k
     * is a multiple of kseg and input kk of a row is at kk / kseg * ldseg + kk % kseg. */
    int kseg;
    size_t ldseg;
} cpu_gemm_args;

/* Depthwise convolution of one item, NHWC, depth multiplier 1, output rows [oy0, oy1):
 * y[oy-oy0][ox][c] = clamp(bias[c] + sum_{ky,kx} x[iy-iy_base][ix][c] * w[ky][kx][c], lo, hi)
 * with iy = oy*sh - pad_top + ky, ix = ox*sw - pad_left + kx; taps outside the input rows
 * held, [iy_base, iy_base + h), or outside [0, w) are 0.  A whole tensor is oy0 = 0,
 * oy1 = oh, iy_base = 0; a band of rows (engine_cpu.c's fused blocks) holds only the input
 * rows the band needs, and the caller makes sure rows outside them are the padding.
 * With `ring` > 0 the rows held are slots of a ring: input row r is at slot r % ring
 * (so a band keeps the rows it shares with the last one where they are). */
typedef struct cpu_dw_args {
    int h, w, c;  /* input: rows held, width, channels */
    int oh, ow;   /* output */
    int oy0, oy1; /* the output rows to compute */
    int iy_base;  /* the input row held at x (ring: the first row held) */
    int ring;     /* 0: rows one after the other from x; else slots of a ring of `ring` */
    int kh, kw, sh, sw, pad_top, pad_left;
    const float *x;    /* readable up to 16 floats past its end */
    const float *wt;   /* [kh][kw][cpad], cpad = c rounded up to 16, zero padded */
    const float *bias; /* cpad floats (zeros when the model has none) */
    int cpad;
    float *y;
    float lo, hi;
} cpu_dw_args;

/* Row i of the rows held (input row iy_base + i, 0 <= i < h) of a depthwise input. */
static inline const float *cpu_dw_row(const cpu_dw_args *a, int i)
{
    size_t slot = a->ring > 0 ? (size_t)((a->iy_base + i) % a->ring) : (size_t)i;
    return a->x + slot * (size_t)a->w * (size_t)a->c;
}

typedef struct cpu_kernels {
    const char *isa; /* "portable", "avx512", "amx" */
    /* The packed weights of an n x k matrix product: their size in 32-bit words, and
     * the packing of W (n rows of k floats, row i at w + i*ldw) into `out`. */
    size_t (*packed_size)(int n, int k);
    void (*pack)(const float *w, size_t ldw, int n, int k, void *out);
    /* Bytes of work memory gemm needs for k inputs, or NULL: none. */
    size_t (*work_size)(int k);
    void (*gemm)(const cpu_gemm_args *a);
    int segments; /* 1: gemm reads cpu_gemm_args' kseg and ldseg */
    void (*dwconv)(const cpu_dw_args *a);
    /* y[i] = clamp(a[i] + b[i], lo, hi) for i < n (y may be a or b). */
    void (*add)(float *y, const float *a, const float *b, size_t n, float lo, float hi);
} cpu_kernels;

extern const cpu_kernels cpu_kernels_portable;
#ifdef CREASE_CPU_AVX512 /* set by CMake where cpu_kernels_avx512.c is built */
extern const cpu_kernels cpu_kernels_avx512;
#endif
#ifdef CREASE_CPU_AMX /* set by CMake where cpu_kernels_amx.c is built */
extern const cpu_kernels cpu_kernels_amx;
void cpu_gemm_amx(const cpu_gemm_args *a);
#endif

/* The best float32 kernels this CPU runs: AVX-512, else portable.  Thread-safe. */
const cpu_kernels *cpu_kernels_best(void);

/* The AMX kernels, where this build has them, the CPU has AMX-BF16 and AVX512-BF16 and
 * the OS grants this process the tile state (asked once); else NULL.  Thread-safe. */
const cpu_kernels *cpu_kernels_amx_usable(void);

/* The float32 panels: W (n rows of k floats, row i at w + i*ldw) packed into `out`,
 * which holds cpu_packed_size(n, k) floats. */
size_t cpu_packed_size(int n, int k);
void cpu_pack_weights(const float *w, size_t ldw, int n, int k, void *out);

#ifdef CREASE_CPU_AMX
/* The AMX kernels' packing (cpu_kernels_amx.c, with its layout): where the tiles pay
 * (cpu_amx_pays: k inputs, n outputs), the tiles (k padded to 32, each weight as the sum
 * of two bfloat16 values); else the float32 panels of cpu_pack_weights, for the AVX-512
 * kernel.  cpu_amx_packed_size(n, k) 32-bit words. */
size_t cpu_amx_packed_size(int n, int k);
void cpu_amx_pack(const float *w, size_t ldw, int n, int k, void *out);
int cpu_amx_pays(int k, int n);
size_t cpu_amx_work_size(int k);
#endif

/* A bias (n floats, or NULL for zeros) padded with zeros to ceil(n/16)*16 floats. */
void cpu_pack_bias(const float *bias, int n, float *out);

#ifdef CREASE_KERNEL_EXTENTS
/* The sanitizer build's check of one kernel call (CREASE_SANITIZE, cpu_kernels.c): every
 * byte the call may read or write under its contract above is addressable, or the process
 * stops with AddressSanitizer's description of the first byte that is not.  The AVX-512
 * kernels are compiled without AddressSanitizer (their 64-byte loads each went through
 * its slow path: the model ran 25x slower, most of the sanitizer test run) and check
 * their whole footprint this way at entry instead; the portable kernels keep the
 * per-access checks.  w_words: the packed weights' size (the kernels' packed_size). */
void cpu_gemm_check_extents(const cpu_gemm_args *a, size_t w_words);
void cpu_dw_check_extents(const cpu_dw_args *a);
void cpu_add_check_extents(const float *y, const float *a, const float *b, size_t n);
#endif

#endif
