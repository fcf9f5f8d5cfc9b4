/*
 * crop.c -- rotated-rectangle crops of an RGB24 image into a float tensor, the way
 * MediaPipe's CPU ImageToTensorCalculator does it (OpenCV warpPerspective with
 * INTER_LINEAR on 8-bit pixels, then convertTo(float, scale, offset)).
 *
 * OpenCV's 8-bit bilinear remap puts source coordinates on a 1/32-pixel grid
 * (INTER_BITS = 5, rounded to nearest) and weighs the four neighbours with
 * integer coefficients; with 32 steps the weights (32-fx)(32-fy) etc. sum to 1024
 * exactly, and the result is rounded to 8 bits.  We do the same, so our tensors
 * match MediaPipe's to the 8-bit rounding.
 */
#include "pose/blazepose.h"

#include <math.h>

#define INTER_BITS 5 /* OpenCV imgproc.hpp: INTER_BITS */
#define INTER_TAB (1 << INTER_BITS)

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void pose_crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
               int dst_h, pose_border border, float scale, float offset, float *dst)
{
    /* Pixel-space rectangle. */
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    /* dst (u, v) -> src = centre + R * ((u/dst_w - 1/2) rw, (v/dst_h - 1/2) rh). */
    double du = rw / dst_w, dv = rh / dst_h;
    double ax = c * du, ay = s * du;  /* d src / d u */
    double bx = -s * dv, by = c * dv; /* d src / d v */
    double ox = cx + c * (-rw / 2) - s * (-rh / 2);
    double oy = cy + s * (-rw / 2) + c * (-rh / 2);

    for (int v = 0; v < dst_h; v++) {
        for (int u = 0; u < dst_w; u++) {
            double fx = ox + ax * u + bx * v;
            double fy = oy + ay * u + by * v;
            float *out = dst + ((size_t)v * dst_w + u) * 3;
            /* Far outside (or not finite): the border value for every neighbour. */
            if (!(fx > -4.0 * w - 8 && fx < 5.0 * w + 8 && fy > -4.0 * h - 8 && fy < 5.0 * h + 8)) {
                int x0 = fx > 0 ? w - 1 : 0, y0 = fy > 0 ? h - 1 : 0;
                for (int ch = 0; ch < 3; ch++) {
                    int val =
                        border == POSE_BORDER_ZERO ? 0 : rgb[(size_t)y0 * stride + x0 * 3 + ch];
                    out[ch] = (float)val * scale + offset;
                }
                continue;
            }
            long X = lrint(fx * INTER_TAB), Y = lrint(fy * INTER_TAB);
            int ix = (int)(X >> INTER_BITS), iy = (int)(Y >> INTER_BITS);
            int wx = (int)(X & (INTER_TAB - 1)), wy = (int)(Y & (INTER_TAB - 1));
            int wt[4] = {(INTER_TAB - wx) * (INTER_TAB - wy), wx * (INTER_TAB - wy),
                         (INTER_TAB - wx) * wy, wx * wy};
            int px[4] = {ix, ix + 1, ix, ix + 1};
            int py[4] = {iy, iy, iy + 1, iy + 1};
            const uint8_t *p[4];
            for (int k = 0; k < 4; k++) {
                if (px[k] >= 0 && px[k] < w && py[k] >= 0 && py[k] < h) {
                    p[k] = rgb + (size_t)py[k] * stride + (size_t)px[k] * 3;
                } else if (border == POSE_BORDER_REPLICATE) {
                    p[k] = rgb + (size_t)clampi(py[k], 0, h - 1) * stride +
                           (size_t)clampi(px[k], 0, w - 1) * 3;
                } else {
                    p[k] = NULL;
                }
            }
            for (int ch = 0; ch < 3; ch++) {
                int acc = 0;
                for (int k = 0; k < 4; k++)
                    if (p[k] != NULL)
                        acc += wt[k] * p[k][ch];
                /* Weights sum to 32*32 = 1024; round half up (OpenCV's CV_DESCALE). */
                int val = (acc + (1 << 9)) >> 10;
                out[ch] = (float)val * scale + offset;
            }
        }
    }
}
