/*
 * pose_int.h -- internals of the pose module shared between its files, its tests and
 * its benchmarks (not part of the contract, blazepose.h).
 *
 * The crop kernels: pose_crop (crop.c) walks the output row by row and hands each row's
 * run of pixels that are not outside a zero border to a kernel: the portable one in
 * crop.c or, where the CPU has it, the AVX2 one (crop_avx2.c, built with -mavx2 -mfma
 * and chosen at run time).  Every kernel computes the positions of its pixels in
 * double exactly as crop.c's per-pixel code does and clamps them to the image's
 * outermost pixel centres, so the kernels differ from each other only in float
 * rounding of the bilinear weights and sums.
 */
#ifndef CR_POSE_POSE_INT_H
#define CR_POSE_POSE_INT_H

#include "pose/blazepose.h"

#include <stdint.h>

/* One output row of a crop: output pixel u of the row samples the image at
 * (ox + ax*u + bxv, oy + ay*u + byv), pixel edges at integers, evaluated in that order
 * in double (bxv = bx*v, byv = by*v of the row v). */
typedef struct pose_crop_row {
    double ox, oy, ax, ay, bxv, byv;
} pose_crop_row;

/* Output pixel (u, v) of a dst_w x dst_h crop of the rotated rectangle `roi` of a w x h
 * picture -> its position o + a*u + b*v in that picture, pixel edges at integers (output
 * pixel centres map to the rectangle's, crop.c).  image.c turns it into stored
 * positions for rotated pictures. */
typedef struct pose_crop_map {
    double ox, oy, ax, ay, bx, by;
} pose_crop_map;

pose_crop_map pose_crop_map_of(int w, int h, const pose_rect *roi, int dst_w, int dst_h);

/* The kernels of pose_crop's middle runs (crop.c), slowest first. */
#define POSE_CROP_PORTABLE 0
#define POSE_CROP_AVX2 1
#define POSE_CROP_AVX512 2

/* pose_crop with `kernel` (POSE_CROP_*), or the fastest one below it that runs on this
 * machine and image: the same contract and, up to float rounding, the same values.  For
 * tests and benchmarks; pose_crop takes the fastest. */
void pose_crop_with(int kernel, const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi,
                    int dst_w, int dst_h, pose_border border, float scale, float offset,
                    float *dst);

/* 1 when `kernel` runs on this machine. */
int pose_crop_kernel_usable(int kernel);

/* The kernel pose_crop uses on this machine (POSE_CROP_*). */
int pose_crop_kernel(void);

/* A kernel's name: "portable", "avx2", "avx512" ("unknown" for another number). */
const char *pose_crop_kernel_name(int kernel);

/* The AVX2 kernel (crop_avx2.c; only where CREASE_POSE_AVX2 is defined, and to be
 * called only when the CPU has AVX2 and FMA): writes output pixels u0, u0+8, ... in
 * whole groups of 8 from `out` (pixel u0) on and returns the first u it did not write
 * (the caller does the rest, fewer than 8).  Positions are clamped to the outermost
 * pixel centres (crop.c), so any finite position reads inside the image; w, h >= 2,
 * and (h - 1) * stride + 3 * w must fit in an int32 (the gathers' offsets). */
int pose_crop_span_avx2(const uint8_t *rgb, int w, int h, int stride, const pose_crop_row *row,
                        int u0, int u1, float scale, float offset, float *out);

/* The AVX-512 kernel (crop_avx512.c; where CREASE_POSE_AVX2 is defined, to be called
 * only when the CPU has AVX512F and AVX512BW besides AVX2 and FMA): pose_crop_span_avx2's
 * contract in groups of 16, writing the same floats bit for bit. */
int pose_crop_span_avx512(const uint8_t *rgb, int w, int h, int stride, const pose_crop_row *row,
                          int u0, int u1, float scale, float offset, float *out);

#endif
