/*
 * cpu_simd_avx512.h -- the small AVX-512 helpers the kernel files built with AVX-512
 * flags share (cpu_kernels_avx512.c, cpu_kernels_amx.c).  Include it only from such a
 * file: its inline functions use AVX-512 intrinsics.
 */
#ifndef CR_ENGINE_CPU_SIMD_AVX512_H
#define CR_ENGINE_CPU_SIMD_AVX512_H

#include "engine/cpu_kernels.h"

#include <immintrin.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* v clamped to [lo, hi], lane by lane. */
static ALWAYS_INLINE __m512 clamp16(__m512 v, __m512 lo, __m512 hi)
{
    return _mm512_min_ps(_mm512_max_ps(v, lo), hi);
}

/* The first n of 16 lanes (none for n <= 0, all for n >= 16). */
static ALWAYS_INLINE __mmask16 tail_mask(int n)
{
    return n >= CPU_PANEL ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
}

#endif
