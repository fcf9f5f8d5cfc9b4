/*
 * video_box.c -- integer-factor box shrink of a plane (video_box.h).
 *
 * Why not swscale: its area filter is a general one, a gather per sample, and shrinking
 * the 1080p planes to 640 wide took ~8 % of a whole analysis's CPU time (perf, the
 * 15-minute reference).  A whole-number factor needs only sums: k rows added into
 * column sums (one pass over the source, vectorized), then each group of k column sums
 * added and divided, rounding to nearest, by k*k (a constant per instance: a
 * multiplication).  The result is the exact area average; swscale's fixed-point filter
 * approximates the same and may differ by one level.
 */
#include "video/video_box.h"

#include <stddef.h>

int video_box_factor(int w, int h, int sc_w, int sc_h)
{
    for (int k = 2; k <= 6; k++)
        if (w == k * sc_w && h == k * sc_h && w % (2 * k) == 0 && h % (2 * k) == 0)
            return k;
    return 0;
}

static inline void shrink_k(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int ow,
                            int oh, uint16_t *restrict sums, const int K)
{
    const int n = ow * K;
    const unsigned kk = (unsigned)(K * K);
    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *r = src + (size_t)oy * K * sstride;
        for (int x = 0; x < n; x++)
            sums[x] = r[x];
        for (int j = 1; j < K; j++) {
            const uint8_t *restrict rj = r + (size_t)j * sstride;
            for (int x = 0; x < n; x++)
                sums[x] = (uint16_t)(sums[x] + rj[x]);
        }
        uint8_t *restrict d = dst + (size_t)oy * dstride;
        for (int ox = 0; ox < ow; ox++) {
            unsigned sum = 0;
            for (int j = 0; j < K; j++)
                sum += sums[ox * K + j];
            d[ox] = (uint8_t)((sum + kk / 2) / kk);
        }
    }
}

/* One build of the loops per instruction set, chosen when the program loads (GCC's
 * target_clones; the default one runs anywhere). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
void video_box_shrink(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int ow, int oh,
                      uint16_t *sums, int k)
{
    switch (k) {
    case 2:
        shrink_k(src, sstride, dst, dstride, ow, oh, sums, 2);
        break;
    case 3:
        shrink_k(src, sstride, dst, dstride, ow, oh, sums, 3);
        break;
    case 4:
        shrink_k(src, sstride, dst, dstride, ow, oh, sums, 4);
        break;
    case 5:
        shrink_k(src, sstride, dst, dstride, ow, oh, sums, 5);
        break;
    default:
        shrink_k(src, sstride, dst, dstride, ow, oh, sums, 6);
        break;
    }
}
