/*
 * crop_avx2.c -- the AVX2 kernel of pose_crop (pose_int.h): 8 output pixels of a
 * run at a time.  Built with -mavx2 -mfma -ffp-contract=off (src/pose/CMakeLists.txt)
 * and called only when the CPU has both (crop.c: kernel_usable).
 *
 * Per 8 pixels:
 *   positions  in double, two vectors of 4, in the order of crop.c's pos_x (the
 *              compiler may not fuse them: -ffp-contract=off), clamped to the outermost
 *              pixel centres as in the portable kernel, so x0, y0, tx, ty are its
 *   taps       four 32-bit gathers per pixel row pair: the dword at the left tap
 *              (R G B of it, one byte of the next) and the dword 2 bytes further on
 *              (B of the left, R G B of the right), so no read passes the right tap's
 *              last byte (the image may end there)
 *   bilinear   per channel: a byte shuffle puts each tap's byte in a 32-bit lane,
 *              then float as the portable kernel, with fused multiply-adds
 *   store      the three channel vectors interleaved into 24 floats (RGB RGB ...) by
 *              one permute per channel and two blends per output vector
 * AVX2 rather than AVX-512: it is on every x86-64 server we run on (AMD hosts of the
 * GPU instance types included), and the gathers bound the kernel either way.
 */
#include "pose/pose_int.h"

#include <immintrin.h>

/* pshufb control: byte k of each 32-bit lane, zero-extended.  pshufb picks bytes by
 * their index in the 128-bit half (lane j's byte k is byte 4j + k there); 0x80 zeroes
 * a byte. */
static inline __m256i byte_ctl(int k)
{
    const __m256i lane = _mm256_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12);
    return _mm256_add_epi32(_mm256_set1_epi32((int)(0x80808000u | (unsigned)k)), lane);
}

/* One channel's 4 taps (bytes picked by ctl_l from the left taps' dwords, ctl_r from
 * the right taps'), interpolated and scaled. */
static inline __m256 channel(__m256i g00, __m256i g01, __m256i g10, __m256i g11, __m256i ctl_l,
                             __m256i ctl_r, __m256 tx, __m256 ty, __m256 vscale, __m256 voffset)
{
    __m256 a = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g00, ctl_l));
    __m256 b = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g01, ctl_r));
    __m256 c = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g10, ctl_l));
    __m256 d = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g11, ctl_r));
    __m256 top = _mm256_fmadd_ps(_mm256_sub_ps(b, a), tx, a);
    __m256 bot = _mm256_fmadd_ps(_mm256_sub_ps(d, c), tx, c);
    __m256 val = _mm256_fmadd_ps(_mm256_sub_ps(bot, top), ty, top);
    return _mm256_fmadd_ps(val, vscale, voffset);
}

/* The left (upper) tap of 4 positions f (pixel centres at integers): f clamped to
 * [0, fmax = size - 1] (crop.c's top comment), floor by truncation (f >= 0), at most
 * size - 2 (imax); and the weight f - tap as float. */
static inline __m128i tap_index(__m256d f, __m256d fmax, __m128i imax, __m128 *t)
{
    f = _mm256_min_pd(_mm256_max_pd(f, _mm256_setzero_pd()), fmax);
    __m128i i = _mm_min_epi32(_mm256_cvttpd_epi32(f), imax);
    *t = _mm256_cvtpd_ps(_mm256_sub_pd(f, _mm256_cvtepi32_pd(i)));
    return i;
}

int pose_crop_span_avx2(const uint8_t *rgb, int w, int h, int stride, const pose_crop_row *row,
                        int u0, int u1, float scale, float offset, float *out)
{
    const __m256d ox = _mm256_set1_pd(row->ox), oy = _mm256_set1_pd(row->oy);
    const __m256d ax = _mm256_set1_pd(row->ax), ay = _mm256_set1_pd(row->ay);
    const __m256d bxv = _mm256_set1_pd(row->bxv), byv = _mm256_set1_pd(row->byv);
    const __m256d half = _mm256_set1_pd(0.5);
    const __m256d k_lo = _mm256_setr_pd(0, 1, 2, 3), k_hi = _mm256_setr_pd(4, 5, 6, 7);
    const __m256d fxmax = _mm256_set1_pd(w - 1), fymax = _mm256_set1_pd(h - 1);
    const __m128i xmax = _mm_set1_epi32(w - 2), ymax = _mm_set1_epi32(h - 2);
    const __m256i vstride = _mm256_set1_epi32(stride);
    const __m256i two = _mm256_set1_epi32(2);
    const __m256 vscale = _mm256_set1_ps(scale), voffset = _mm256_set1_ps(offset);
    /* Interleaving (see the top comment): output vector j takes R at the positions
     * where the permuted R holds its pixels, and so on. */
    const __m256i perm_r = _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5);
    const __m256i perm_g = _mm256_setr_epi32(5, 0, 3, 6, 1, 4, 7, 2);
    const __m256i perm_b = _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7);
    const __m256i ctl0 = byte_ctl(0), ctl1 = byte_ctl(1), ctl2 = byte_ctl(2), ctl3 = byte_ctl(3);
    const int *base = (const int *)(const void *)rgb;
    int u = u0;
    for (; u1 - u >= 8; u += 8, out += 24) {
        __m256d ul = _mm256_add_pd(_mm256_set1_pd((double)u), k_lo);
        __m256d uh = _mm256_add_pd(_mm256_set1_pd((double)u), k_hi);
        __m256d fxl =
            _mm256_sub_pd(_mm256_add_pd(_mm256_add_pd(ox, _mm256_mul_pd(ax, ul)), bxv), half);
        __m256d fxh =
            _mm256_sub_pd(_mm256_add_pd(_mm256_add_pd(ox, _mm256_mul_pd(ax, uh)), bxv), half);
        __m256d fyl =
            _mm256_sub_pd(_mm256_add_pd(_mm256_add_pd(oy, _mm256_mul_pd(ay, ul)), byv), half);
        __m256d fyh =
            _mm256_sub_pd(_mm256_add_pd(_mm256_add_pd(oy, _mm256_mul_pd(ay, uh)), byv), half);
        __m128 txl, txh, tyl, tyh;
        __m128i xl = tap_index(fxl, fxmax, xmax, &txl), xh = tap_index(fxh, fxmax, xmax, &txh);
        __m128i yl = tap_index(fyl, fymax, ymax, &tyl), yh = tap_index(fyh, fymax, ymax, &tyh);
        __m256i x0 = _mm256_set_m128i(xh, xl), y0 = _mm256_set_m128i(yh, yl);
        __m256 tx = _mm256_set_m128(txh, txl), ty = _mm256_set_m128(tyh, tyl);

        __m256i x3 = _mm256_add_epi32(x0, _mm256_add_epi32(x0, x0));
        __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(y0, vstride), x3);
        __m256i off2 = _mm256_add_epi32(off, two);
        __m256i g00 = _mm256_i32gather_epi32(base, off, 1);
        __m256i g01 = _mm256_i32gather_epi32(base, off2, 1);
        __m256i g10 = _mm256_i32gather_epi32(base, _mm256_add_epi32(off, vstride), 1);
        __m256i g11 = _mm256_i32gather_epi32(base, _mm256_add_epi32(off2, vstride), 1);

        /* Left taps: byte c of the dword at the tap; right taps: byte c + 1 of the
         * dword 2 bytes on. */
        __m256 cr = channel(g00, g01, g10, g11, ctl0, ctl1, tx, ty, vscale, voffset);
        __m256 cg = channel(g00, g01, g10, g11, ctl1, ctl2, tx, ty, vscale, voffset);
        __m256 cb = channel(g00, g01, g10, g11, ctl2, ctl3, tx, ty, vscale, voffset);
        __m256 r = _mm256_permutevar8x32_ps(cr, perm_r);
        __m256 g = _mm256_permutevar8x32_ps(cg, perm_g);
        __m256 b = _mm256_permutevar8x32_ps(cb, perm_b);
        /* blend bit i set: element i from the second operand.  Positions 0,3,6 are
         * 0x49, 1,4,7 are 0x92, 2,5 are 0x24. */
        _mm256_storeu_ps(out, _mm256_blend_ps(_mm256_blend_ps(r, g, 0x92), b, 0x24));
        _mm256_storeu_ps(out + 8, _mm256_blend_ps(_mm256_blend_ps(r, g, 0x24), b, 0x49));
        _mm256_storeu_ps(out + 16, _mm256_blend_ps(_mm256_blend_ps(r, g, 0x49), b, 0x92));
    }
    return u;
}
