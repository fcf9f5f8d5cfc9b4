/*
 * crop_avx512.c -- the AVX-512 kernel of pose_crop (pose_int.h): crop_avx2.c's steps on
 * 16 output pixels at a time.  Built with -mavx512f -mavx512bw -mfma -ffp-contract=off
 * (src/pose/CMakeLists.txt) and called only when the CPU has AVX512F and AVX512BW
 * (crop.c: kernel_usable).
 *
 * The same arithmetic as the AVX2 kernel, lane for lane: positions in double in the
 * order of crop.c's pos_x, clamped, the taps and weights, the four 32-bit gathers per
 * pixel row pair, the byte shuffles (per 128-bit lane, as pshufb), the bilinear
 * interpolation with fused multiply-adds.  So both kernels write the same floats, bit
 * for bit (test_blazepose_unit.c: test_crop_random checks it).  Only the interleaving
 * of the three channel vectors into 48 floats differs: two-source permutes for red and
 * green, then a masked permute for blue, per output vector.
 */
#include "pose/pose_int.h"

#include <immintrin.h>

/* vpshufb control: byte k of each 32-bit lane, zero-extended (crop_avx2.c's, for four
 * 128-bit lanes). */
static inline __m512i byte_ctl(int k)
{
    const __m512i lane = _mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
    return _mm512_add_epi32(_mm512_set1_epi32((int)(0x80808000u | (unsigned)k)), lane);
}

static inline __m512 channel(__m512i g00, __m512i g01, __m512i g10, __m512i g11, __m512i ctl_l,
                             __m512i ctl_r, __m512 tx, __m512 ty, __m512 vscale, __m512 voffset)
{
    __m512 a = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(g00, ctl_l));
    __m512 b = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(g01, ctl_r));
    __m512 c = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(g10, ctl_l));
    __m512 d = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(g11, ctl_r));
    __m512 top = _mm512_fmadd_ps(_mm512_sub_ps(b, a), tx, a);
    __m512 bot = _mm512_fmadd_ps(_mm512_sub_ps(d, c), tx, c);
    __m512 val = _mm512_fmadd_ps(_mm512_sub_ps(bot, top), ty, top);
    return _mm512_fmadd_ps(val, vscale, voffset);
}

/* crop_avx2.c's tap_index on 8 positions. */
static inline __m256i tap_index(__m512d f, __m512d fmax, __m256i imax, __m256 *t)
{
    f = _mm512_min_pd(_mm512_max_pd(f, _mm512_setzero_pd()), fmax);
    __m256i i = _mm256_min_epi32(_mm512_cvttpd_epi32(f), imax);
    *t = _mm512_cvtpd_ps(_mm512_sub_pd(f, _mm512_cvtepi32_pd(i)));
    return i;
}

static inline __m512i join_i(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m512 join_f(__m256 lo, __m256 hi)
{
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

int pose_crop_span_avx512(const uint8_t *rgb, int w, int h, int stride, const pose_crop_row *row,
                          int u0, int u1, float scale, float offset, float *out)
{
    const __m512d ox = _mm512_set1_pd(row->ox), oy = _mm512_set1_pd(row->oy);
    const __m512d ax = _mm512_set1_pd(row->ax), ay = _mm512_set1_pd(row->ay);
    const __m512d bxv = _mm512_set1_pd(row->bxv), byv = _mm512_set1_pd(row->byv);
    const __m512d half = _mm512_set1_pd(0.5);
    const __m512d k_lo = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512d k_hi = _mm512_setr_pd(8, 9, 10, 11, 12, 13, 14, 15);
    const __m512d fxmax = _mm512_set1_pd(w - 1), fymax = _mm512_set1_pd(h - 1);
    const __m256i xmax = _mm256_set1_epi32(w - 2), ymax = _mm256_set1_epi32(h - 2);
    const __m512i vstride = _mm512_set1_epi32(stride), two = _mm512_set1_epi32(2);
    const __m512 vscale = _mm512_set1_ps(scale), voffset = _mm512_set1_ps(offset);
    const __m512i ctl0 = byte_ctl(0), ctl1 = byte_ctl(1), ctl2 = byte_ctl(2), ctl3 = byte_ctl(3);
    /* Output float p of the 48 is channel p % 3 of pixel p / 3.  Vector j holds p = 16j
     * .. 16j + 15: rg[j] picks red (index pixel) or green (16 + pixel) for them, then
     * blue (index pixel) goes where the mask bm[j] says. */
    __m512i rg[3], bi[3];
    __mmask16 bm[3];
    for (int j = 0; j < 3; j++) {
        int irg[16], ib[16];
        unsigned m = 0;
        for (int e = 0; e < 16; e++) {
            int p = 16 * j + e, px = p / 3, ch = p % 3;
            irg[e] = ch == 1 ? 16 + px : px;
            ib[e] = px;
            m |= (unsigned)(ch == 2) << e;
        }
        rg[j] = _mm512_loadu_si512(irg);
        bi[j] = _mm512_loadu_si512(ib);
        bm[j] = (__mmask16)m;
    }
    const int *base = (const int *)(const void *)rgb;
    int u = u0;
    for (; u1 - u >= 16; u += 16, out += 48) {
        __m512d ul = _mm512_add_pd(_mm512_set1_pd((double)u), k_lo);
        __m512d uh = _mm512_add_pd(_mm512_set1_pd((double)u), k_hi);
        __m512d fxl =
            _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(ox, _mm512_mul_pd(ax, ul)), bxv), half);
        __m512d fxh =
            _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(ox, _mm512_mul_pd(ax, uh)), bxv), half);
        __m512d fyl =
            _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(oy, _mm512_mul_pd(ay, ul)), byv), half);
        __m512d fyh =
            _mm512_sub_pd(_mm512_add_pd(_mm512_add_pd(oy, _mm512_mul_pd(ay, uh)), byv), half);
        __m256 txl, txh, tyl, tyh;
        __m256i xl = tap_index(fxl, fxmax, xmax, &txl), xh = tap_index(fxh, fxmax, xmax, &txh);
        __m256i yl = tap_index(fyl, fymax, ymax, &tyl), yh = tap_index(fyh, fymax, ymax, &tyh);
        __m512i x0 = join_i(xl, xh), y0 = join_i(yl, yh);
        __m512 tx = join_f(txl, txh), ty = join_f(tyl, tyh);

        __m512i x3 = _mm512_add_epi32(x0, _mm512_add_epi32(x0, x0));
        __m512i off = _mm512_add_epi32(_mm512_mullo_epi32(y0, vstride), x3);
        __m512i off2 = _mm512_add_epi32(off, two);
        __m512i g00 = _mm512_i32gather_epi32(off, base, 1);
        __m512i g01 = _mm512_i32gather_epi32(off2, base, 1);
        __m512i g10 = _mm512_i32gather_epi32(_mm512_add_epi32(off, vstride), base, 1);
        __m512i g11 = _mm512_i32gather_epi32(_mm512_add_epi32(off2, vstride), base, 1);

        __m512 cr = channel(g00, g01, g10, g11, ctl0, ctl1, tx, ty, vscale, voffset);
        __m512 cg = channel(g00, g01, g10, g11, ctl1, ctl2, tx, ty, vscale, voffset);
        __m512 cb = channel(g00, g01, g10, g11, ctl2, ctl3, tx, ty, vscale, voffset);
        for (int j = 0; j < 3; j++) {
            __m512 v = _mm512_permutex2var_ps(cr, rg[j], cg);
            _mm512_storeu_ps(out + 16 * j, _mm512_mask_permutexvar_ps(v, bm[j], bi[j], cb));
        }
    }
    return u;
}
