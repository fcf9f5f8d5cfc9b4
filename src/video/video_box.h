/*
 * video_box.h -- shrinking a picture plane by an integer factor with a box (area)
 * average: the first step of the sampler's 4:2:0 -> scaled RGB24 path (video.c) when
 * the factor is a whole number, as 1080p -> 640 wide is (3).
 *
 * Internal to the video module.  Built with -O3 (its loops are meant to vectorize).
 */
#ifndef CR_VIDEO_VIDEO_BOX_H
#define CR_VIDEO_VIDEO_BOX_H

#include <stdint.h>

/* The integer factor k (2..6) by which a 4:2:0 picture of w x h shrinks to sc_w x sc_h
 * on both axes, its chroma planes too (w and h multiples of 2k); else 0. */
int video_box_factor(int w, int h, int sc_w, int sc_h);

/* Plane `src` (rows sstride bytes apart) shrunk by k (2..6) into `dst`, ow x oh samples:
 * each output sample is the rounded mean of the k x k source samples it covers.
 * `sums` holds ow*k entries (scratch). */
void video_box_shrink(const uint8_t *src, int sstride, uint8_t *dst, int dstride, int ow, int oh,
                      uint16_t *sums, int k);

#endif
