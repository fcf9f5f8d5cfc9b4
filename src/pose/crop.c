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
 *
 * Speed (this crop runs several times a frame): positions along an output row are a
 * linear function of u, so each of the three ways a pixel can be computed holds on
 * one run of the row, found once per row from the line equation:
 *
 *   [0, k0)   zero border, position outside the image: the offset alone (fill)
 *   [k0, f0)  near or beyond an edge: every tap clamped (edge_pixel, the general code)
 *   [f0, f1)  both taps inside on both axes, the bulk of every crop: a kernel with no
 *             clamping and no branches (the AVX2 one in crop_avx2.c where the CPU has
 *             it, else span_portable)
 *   [f1, k1)  near or beyond the other edge (edge_pixel)
 *   [k1, n)   outside again (fill)
 *
 * with k0 = 0, k1 = n for the replicate border.  The run ends are solved in real
 * numbers and then corrected pixel by pixel with the very tests the per-pixel code
 * makes (run_of), so every pixel takes the same branch it would take on its own.
 * Positions are computed in double, in the same order everywhere (pose_int.h:
 * pose_crop_row), so the kernels differ only in float rounding of the weights and sums.
 * Measured with bench/pose_crop: 256x256 landmark crop of a 640x360 frame 1.0 ms
 * before, see that benchmark's header for the figures after.
 */
#include "pose/pose_int.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct crop_src {
    const uint8_t *rgb;
    int w, h, stride;
    pose_border border;
    float scale, offset;
} crop_src;

/* Output pixel (u, v) -> image position o + a*u + b*v (pixel edges at integers). */
typedef struct crop_map {
    double ox, oy, ax, ay, bx, by;
} crop_map;

static crop_map map_of(int w, int h, const pose_rect *roi, int dst_w, int dst_h)
{
    /* Rectangle in image units (pixel edges at integers). */
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    /* Output pixel centre (u+1/2, v+1/2) -> centre + R * (((u+1/2)/dst_w - 1/2) rw, ...). */
    double du = rw / dst_w, dv = rh / dst_h;
    crop_map m;
    m.ax = c * du, m.ay = s * du;  /* d pos / d u */
    m.bx = -s * dv, m.by = c * dv; /* d pos / d v */
    m.ox = cx + c * (-rw / 2) - s * (-rh / 2) + 0.5 * (m.ax + m.bx);
    m.oy = cy + s * (-rw / 2) + c * (-rh / 2) + 0.5 * (m.ay + m.by);
    return m;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The position of pixel u of row r; every path computes it this way. */
static inline double pos_x(const pose_crop_row *r, int u)
{
    return r->ox + r->ax * u + r->bxv;
}

static inline double pos_y(const pose_crop_row *r, int u)
{
    return r->oy + r->ay * u + r->byv;
}

/* Whether pixel u of row r has both bilinear taps inside the image on both axes
 * (pixel centres at integers: 0 <= f < size - 1). */
static int fast_at(const crop_src *s, const pose_crop_row *r, int u)
{
    double fx = pos_x(r, u) - 0.5, fy = pos_y(r, u) - 0.5;
    return fx >= 0 && fx < s->w - 1 && fy >= 0 && fy < s->h - 1;
}

/* Whether the zero border keeps pixel u of row r (its position is inside the image). */
static int kept_at(const crop_src *s, const pose_crop_row *r, int u)
{
    double px = pos_x(r, u), py = pos_y(r, u);
    return px >= 0 && px <= s->w && py >= 0 && py <= s->h;
}

/* The real u with lo <= p + d*u <= hi, as [*a, *b] (empty when not *a <= *b). */
static void solve_1d(double p, double d, double lo, double hi, double *a, double *b)
{
    if (isnan(p) || isnan(d)) {
        *a = 1, *b = 0;
    } else if (d > 0) {
        *a = (lo - p) / d, *b = (hi - p) / d;
    } else if (d < 0) {
        *a = (hi - p) / d, *b = (lo - p) / d;
    } else if (p >= lo && p <= hi) {
        *a = -HUGE_VAL, *b = HUGE_VAL;
    } else {
        *a = 1, *b = 0;
    }
}

/* The pixels [*first, *end) of row r (n pixels) where at() holds.  The position
 * bounds are solved in real numbers, both axes, and intersected (x_lo <= x <= x_hi,
 * y likewise; [a, b] in u); that estimate is then corrected pixel by pixel with at()
 * itself.  at() bounds positions that grow or shrink monotonically with u (rounding
 * keeps o + a*u monotonic), so it holds on one run, and a run whose two end pixels
 * pass holds everywhere between them: the result is exact (an estimate far off would
 * only make the correction walk further, or leave pixels to the general path). */
static void run_of(const crop_src *s, const pose_crop_row *r, int n, int fast, int *first, int *end)
{
    double lo = fast ? 0.5 : 0.0; /* fast: 0 <= pos - 1/2 < size - 1 */
    double hx = fast ? s->w - 0.5 : s->w, hy = fast ? s->h - 0.5 : s->h;
    double ax, bx, ay, by;
    solve_1d(r->ox + r->bxv, r->ax, lo, hx, &ax, &bx);
    solve_1d(r->oy + r->byv, r->ay, lo, hy, &ay, &by);
    double a = fmax(ax, ay), b = fmin(bx, by);
    int f = 0, e = 0;
    if (a <= b) { /* neither is NaN */
        f = a <= 0 ? 0 : (a >= n ? n : (int)ceil(a));
        e = b < 0 ? 0 : (b >= n - 1 ? n : (int)floor(b) + 1);
        if (e < f)
            e = f;
    }
    int (*at)(const crop_src *, const pose_crop_row *, int) = fast ? fast_at : kept_at;
    while (f > 0 && at(s, r, f - 1))
        f--;
    while (f < e && !at(s, r, f))
        f++;
    while (e < n && at(s, r, e))
        e++;
    while (e > f && !at(s, r, e - 1))
        e--;
    *first = f;
    *end = e;
}

/* One output pixel by the general route: the zero border's test, then every tap
 * clamped to the image. */
static void edge_pixel(const crop_src *s, double px, double py, float *out)
{
    int w = s->w, h = s->h;
    if (s->border == POSE_BORDER_ZERO && !(px >= 0 && px <= w && py >= 0 && py <= h)) {
        out[0] = out[1] = out[2] = s->offset;
        return;
    }
    /* Clamp far-away positions (and NaN) so the integer conversions stay defined;
     * clamp-to-edge gives the same value anywhere beyond the edge. */
    double fx = isfinite(px) ? fmin(fmax(px - 0.5, -1.0), (double)w) : 0.0;
    double fy = isfinite(py) ? fmin(fmax(py - 0.5, -1.0), (double)h) : 0.0;
    int x0 = (int)floor(fx), y0 = (int)floor(fy);
    float tx = (float)(fx - x0), ty = (float)(fy - y0);
    const uint8_t *r0 = s->rgb + (ptrdiff_t)clampi(y0, 0, h - 1) * s->stride;
    const uint8_t *r1 = s->rgb + (ptrdiff_t)clampi(y0 + 1, 0, h - 1) * s->stride;
    size_t c0 = (size_t)clampi(x0, 0, w - 1) * 3, c1 = (size_t)clampi(x0 + 1, 0, w - 1) * 3;
    for (int ch = 0; ch < 3; ch++) {
        float top = r0[c0 + ch] + (r0[c1 + ch] - r0[c0 + ch]) * tx;
        float bot = r1[c0 + ch] + (r1[c1 + ch] - r1[c0 + ch]) * tx;
        float val = top + (bot - top) * ty;
        out[ch] = val * s->scale + s->offset;
    }
}

static void edge_span(const crop_src *s, const pose_crop_row *r, int u0, int u1, float *out)
{
    for (int u = u0; u < u1; u++, out += 3)
        edge_pixel(s, pos_x(r, u), pos_y(r, u), out);
}

/* The portable kernel for pixels u0..u1-1 of a fast run, in blocks: first the tap
 * offsets and weights of the block (no branches, so the compiler vectorizes it), then
 * the samples.  The clamps of x0 and y0 change nothing on a fast run; they keep the
 * reads inside the image should a compiler evaluate a position with other rounding
 * here than in fast_at (contracting it into a fused multiply-add, for one). */
static void span_portable(const crop_src *s, const pose_crop_row *r, int u0, int u1, float *out)
{
    enum { BLOCK = 64 };
    ptrdiff_t off[BLOCK];
    float tx[BLOCK], ty[BLOCK];
    for (int b = u0; b < u1; b += BLOCK) {
        int n = u1 - b < BLOCK ? u1 - b : BLOCK;
        for (int i = 0; i < n; i++) {
            double fx = pos_x(r, b + i) - 0.5, fy = pos_y(r, b + i) - 0.5;
            int x0 = (int)fx, y0 = (int)fy; /* >= 0: truncation is floor */
            x0 = x0 < 0 ? 0 : (x0 > s->w - 2 ? s->w - 2 : x0);
            y0 = y0 < 0 ? 0 : (y0 > s->h - 2 ? s->h - 2 : y0);
            tx[i] = (float)(fx - x0);
            ty[i] = (float)(fy - y0);
            off[i] = (ptrdiff_t)y0 * s->stride + (ptrdiff_t)x0 * 3;
        }
        for (int i = 0; i < n; i++, out += 3) {
            const uint8_t *p0 = s->rgb + off[i], *p1 = p0 + s->stride;
            for (int ch = 0; ch < 3; ch++) {
                float top = p0[ch] + (p0[3 + ch] - p0[ch]) * tx[i];
                float bot = p1[ch] + (p1[3 + ch] - p1[ch]) * tx[i];
                float val = top + (bot - top) * ty[i];
                out[ch] = val * s->scale + s->offset;
            }
        }
    }
}

static void fill(float v, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = v;
}

/* Output row r (n pixels) into out, by the runs of the top comment. */
static void crop_row(const crop_src *s, const pose_crop_row *r, int n, int avx2, float *out)
{
    int k0 = 0, k1 = n, f0, f1;
    if (s->border == POSE_BORDER_ZERO)
        run_of(s, r, n, 0, &k0, &k1);
    run_of(s, r, n, 1, &f0, &f1);
    /* Both taps inside implies inside, so a fast run lies within the kept one; the
     * clamps only make that plain to the reader. */
    f0 = f0 < k0 ? k0 : f0;
    f1 = f1 > k1 ? k1 : f1;
    if (f1 <= f0)
        f0 = f1 = k0;
    fill(s->offset, (size_t)k0 * 3, out);
    edge_span(s, r, k0, f0, out + (size_t)k0 * 3);
    int u = f0;
#ifdef CREASE_POSE_AVX2
    if (avx2)
        u = pose_crop_span_avx2(s->rgb, s->w, s->h, s->stride, r, f0, f1, s->scale, s->offset,
                                out + (size_t)f0 * 3);
#else
    (void)avx2;
#endif
    span_portable(s, r, u, f1, out + (size_t)u * 3);
    edge_span(s, r, f1, k1, out + (size_t)f1 * 3);
    fill(s->offset, (size_t)(n - k1) * 3, out + (size_t)k1 * 3);
}

/* Whether the AVX2 kernel may run on this machine for this image. */
static int use_avx2(int w, int h, int stride)
{
#ifdef CREASE_POSE_AVX2
    /* Its gathers take int32 byte offsets from the image's start. */
    if (w < 2 || h < 2 || stride <= 0 ||
        (long long)(h - 1) * stride + 3LL * w + 8 > (long long)INT32_MAX)
        return 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)w, (void)h, (void)stride;
    return 0;
#endif
}

static void crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
                 int dst_h, pose_border border, float scale, float offset, int avx2, float *dst)
{
    crop_src s = {rgb, w, h, stride, border, scale, offset};
    crop_map m = map_of(w, h, roi, dst_w, dst_h);
    for (int v = 0; v < dst_h; v++) {
        pose_crop_row r = {m.ox, m.oy, m.ax, m.ay, m.bx * v, m.by * v};
        crop_row(&s, &r, dst_w, avx2, dst + (size_t)v * dst_w * 3);
    }
}

void pose_crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
               int dst_h, pose_border border, float scale, float offset, float *dst)
{
    crop(rgb, w, h, stride, roi, dst_w, dst_h, border, scale, offset, use_avx2(w, h, stride), dst);
}

void pose_crop_portable(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi,
                        int dst_w, int dst_h, pose_border border, float scale, float offset,
                        float *dst)
{
    crop(rgb, w, h, stride, roi, dst_w, dst_h, border, scale, offset, 0, dst);
}

const char *pose_crop_kernel_name(void)
{
    return use_avx2(2, 2, 6) ? "avx2" : "portable";
}
