/*
 * test_video_box -- the integer-factor box shrink (video_box.h) against the area mean
 * computed plainly, for every factor, on random planes with padded rows (and the
 * largest sums); and which sizes take it.
 */
#include "check.h"
#include "video/video_box.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345u;
static uint8_t rand_byte(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

static void check_plain(int k, int ow, int oh)
{
    int sw = ow * k, sh = oh * k, sstride = sw + 7, dstride = ow + 5;
    uint8_t *src = malloc((size_t)sstride * sh), *dst = malloc((size_t)dstride * oh);
    uint16_t *sums = malloc((size_t)sw * sizeof *sums);
    for (size_t i = 0; i < (size_t)sstride * sh; i++)
        src[i] = rand_byte();
    if (k == 6) /* the largest sums: all 255 */
        memset(src, 255, (size_t)sstride * sh);
    video_box_shrink(src, sstride, dst, dstride, ow, oh, sums, k);
    int bad = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            unsigned sum = 0;
            for (int j = 0; j < k; j++)
                for (int i = 0; i < k; i++)
                    sum += src[(size_t)(y * k + j) * sstride + x * k + i];
            unsigned want = (sum * 2 + (unsigned)(k * k)) / (unsigned)(2 * k * k); /* round */
            bad += dst[(size_t)y * dstride + x] != want;
        }
    CHECK_MSG(bad == 0, "k=%d %dx%d: %d samples differ from the mean", k, ow, oh, bad);
    free(src);
    free(dst);
    free(sums);
}

int main(void)
{
    for (int k = 2; k <= 6; k++) {
        check_plain(k, 1, 1);
        check_plain(k, 37, 5);
        check_plain(k, 640, 4);
    }
    CHECK_INT_EQ(video_box_factor(1920, 1080, 640, 360), 3);
    CHECK_INT_EQ(video_box_factor(1280, 720, 640, 360), 2);
    CHECK_INT_EQ(video_box_factor(3840, 2160, 640, 360), 6);
    CHECK_INT_EQ(video_box_factor(1920, 1080, 640, 361), 0); /* not the same factor */
    CHECK_INT_EQ(video_box_factor(1923, 1080, 641, 360), 0); /* odd: chroma not whole */
    CHECK_INT_EQ(video_box_factor(640, 360, 640, 360), 0);
    CHECK_INT_EQ(video_box_factor(4480, 2520, 640, 360), 0); /* 7: beyond the factors */
    return check_exit();
}
