/*
 * crop.c -- rotated-rectangle crops of an RGB24 image into a float tensor, the way
 * MediaPipe's pose solution makes its model inputs (ImageToTensorCalculator).
 *
 * Measured against MediaPipe's JS solution (tests/mediapipe, useCpuInference), whose
 * image-to-tensor step is the GL texture converter: the output pixel centre (u+1/2,
 * v+1/2) maps into the rectangle, image pixels have their centres at (i+1/2, j+1/2)
 * in normalized-times-size coordinates (texture convention), sampling is bilinear in
 * float (no rounding to 8 bits), clamp-to-edge for the replicate border, and for the
 * zero border a sample whose position falls outside the image is 0 (the converter's
 * custom zero-border test; WebGL has no CLAMP_TO_BORDER).  The OpenCV path of
 * MediaPipe's C++ CPU build (corner-to-corner mapping, 8-bit warpPerspective) gives
 * inputs that differ by half a pixel; against the JS solution it left a mean landmark
 * error of 0.55 % of the person's box diagonal on the known-motion clip, this
 * convention 0.05 % (video mode 0.02 %).
 */
#include "pose/blazepose.h"

#include <math.h>

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void pose_crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
               int dst_h, pose_border border, float scale, float offset, float *dst)
{
    /* Rectangle in image units (pixel edges at integers). */
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    /* Output pixel centre (u+1/2, v+1/2) -> centre + R * (((u+1/2)/dst_w - 1/2) rw, ...). */
    double du = rw / dst_w, dv = rh / dst_h;
    double ax = c * du, ay = s * du;  /* d pos / d u */
    double bx = -s * dv, by = c * dv; /* d pos / d v */
    double ox = cx + c * (-rw / 2) - s * (-rh / 2) + 0.5 * (ax + bx);
    double oy = cy + s * (-rw / 2) + c * (-rh / 2) + 0.5 * (ay + by);

    /* Per output pixel: where both bilinear taps fall inside the image (the bulk of
     * every crop), sample directly; only near and beyond the edges take the clamping
     * path.  Both compute the same positions with the same arithmetic, so the split
     * changes no value.  This crop runs on every frame; the clamping code alone made
     * it 2 ms of a frame's time. */
    for (int v = 0; v < dst_h; v++) {
        float *out = dst + (size_t)v * dst_w * 3;
        for (int u = 0; u < dst_w; u++, out += 3) {
            double px = ox + ax * u + bx * v; /* position, pixel edges at integers */
            double py = oy + ay * u + by * v;
            double fx = px - 0.5, fy = py - 0.5; /* pixel centres at integers */
            const uint8_t *r0, *r1;
            size_t c0, c1;
            float tx, ty;
            if (fx >= 0 && fx < w - 1 && fy >= 0 && fy < h - 1) {
                int x0 = (int)fx, y0 = (int)fy; /* >= 0: truncation is floor */
                tx = (float)(fx - x0);
                ty = (float)(fy - y0);
                r0 = rgb + (size_t)y0 * stride;
                r1 = r0 + stride;
                c0 = (size_t)x0 * 3;
                c1 = c0 + 3;
            } else {
                if (border == POSE_BORDER_ZERO && !(px >= 0 && px <= w && py >= 0 && py <= h)) {
                    out[0] = out[1] = out[2] = offset;
                    continue;
                }
                /* Clamp far-away positions (and NaN) so the integer conversions stay
                 * defined; clamp-to-edge gives the same value anywhere beyond the edge. */
                fx = isfinite(px) ? fmin(fmax(fx, -1.0), (double)w) : 0.0;
                fy = isfinite(py) ? fmin(fmax(fy, -1.0), (double)h) : 0.0;
                int x0 = (int)floor(fx), y0 = (int)floor(fy);
                tx = (float)(fx - x0);
                ty = (float)(fy - y0);
                r0 = rgb + (size_t)clampi(y0, 0, h - 1) * stride;
                r1 = rgb + (size_t)clampi(y0 + 1, 0, h - 1) * stride;
                c0 = (size_t)clampi(x0, 0, w - 1) * 3;
                c1 = (size_t)clampi(x0 + 1, 0, w - 1) * 3;
            }
            for (int ch = 0; ch < 3; ch++) {
                float top = r0[c0 + ch] + (r0[c1 + ch] - r0[c0 + ch]) * tx;
                float bot = r1[c0 + ch] + (r1[c1 + ch] - r1[c0 + ch]) * tx;
                float val = top + (bot - top) * ty;
                out[ch] = val * scale + offset;
            }
        }
    }
}
