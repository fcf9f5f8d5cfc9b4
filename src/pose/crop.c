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
 * linear function of u, so a row splits into three runs, found once per row:
 *
 *   [0, k0)   zero border, position outside the image: the offset alone (fill)
 *   [k0, k1)  everything else: a kernel with no branches (the AVX-512 one in
 *             crop_avx512.c, then the AVX2 one in crop_avx2.c, where the CPU has them,
 *             else span_portable)
 *   [k1, n)   outside again (fill)
 *
 * with k0 = 0, k1 = n for the replicate border.  The kernels clamp each position to
 * the image's outermost pixel centres, [0, size - 1] with centres at integers, before
 * taking the taps x0 = min(floor(f), size - 2) and x0 + 1: inside, that changes
 * nothing; beyond an edge both the clamped lookup and the kernel give the edge pixel
 * (the lookup by two taps on it, the kernel by weight 1 on its tap: the same value up
 * to float rounding), so no pixel near an edge needs clamped taps of its own.  The run
 * ends are solved in real numbers and then corrected pixel by pixel with the zero
 * border's own test (run_of), so every pixel falls on the side of the border it would
 * fall on by itself.  The general per-pixel code (edge_pixel) remains for what the
 * kernels do not take: images less than 2 pixels wide or high, and rows whose positions
 * are not finite (a corrupt region; it maps those to position 0 as before).  Positions
 * are computed in double, in the same order everywhere (pose_int.h: pose_crop_row), so
 * the kernels differ only in float rounding of the weights and sums.  Measured with
 * bench/pose_crop (its header has the figures): the 256x256 landmark crop of a 640x360
 * frame took 1.0 ms as one loop over pixels with an inside test each.
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

pose_crop_map pose_crop_map_of(int w, int h, const pose_rect *roi, int dst_w, int dst_h)
{
    /* Rectangle in image units (pixel edges at integers). */
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    /* Output pixel centre (u+1/2, v+1/2) -> centre + R * (((u+1/2)/dst_w - 1/2) rw, ...). */
    double du = rw / dst_w, dv = rh / dst_h;
    pose_crop_map m;
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

/* The pixels [*first, *end) of row r (n pixels) that the zero border keeps.  The
 * position bounds (0 <= x <= w, 0 <= y <= h) are solved in real numbers on both axes
 * and intersected ([a, b] in u); that estimate is then corrected pixel by pixel with
 * kept_at itself.  kept_at bounds positions that grow or shrink monotonically with u
 * (rounding keeps o + a*u monotonic), so it holds on one run, and a run whose two end
 * pixels pass holds everywhere between them: the result is exact (an estimate far off
 * would only make the correction walk further). */
static void run_of(const crop_src *s, const pose_crop_row *r, int n, int *first, int *end)
{
    double ax, bx, ay, by;
    solve_1d(r->ox + r->bxv, r->ax, 0.0, s->w, &ax, &bx);
    solve_1d(r->oy + r->byv, r->ay, 0.0, s->h, &ay, &by);
    double a = fmax(ax, ay), b = fmin(bx, by);
    int f = 0, e = 0;
    if (a <= b) { /* neither is NaN */
        f = a <= 0 ? 0 : (a >= n ? n : (int)ceil(a));
        e = b < 0 ? 0 : (b >= n - 1 ? n : (int)floor(b) + 1);
        if (e < f)
            e = f;
    }
    while (f > 0 && kept_at(s, r, f - 1))
        f--;
    while (f < e && !kept_at(s, r, f))
        f++;
    while (e < n && kept_at(s, r, e))
        e++;
    while (e > f && !kept_at(s, r, e - 1))
        e--;
    *first = f;
    *end = e;
}

/* Position p (pixel edges at integers) as f = p - 1/2 (pixel centres at integers),
 * clamped to [-1, size]: far-away positions (and NaN, taken as 0) keep the integer
 * conversions defined, and clamp-to-edge gives the same value anywhere beyond the
 * edge.  Comparisons, not fmin/fmax: those are library calls on baseline x86-64, and
 * this runs for every pixel near an edge. */
static inline double edge_clamp(double p, int size)
{
    if (!isfinite(p))
        return 0.0;
    double f = p - 0.5;
    return f < -1.0 ? -1.0 : (f > size ? (double)size : f);
}

/* floor(f) for f in [-1, size] (the library floor is a call on baseline x86-64). */
static inline int floor_small(double f)
{
    int i = (int)f; /* truncation: floor for f >= 0, one too high for a negative fraction */
    return i > f ? i - 1 : i;
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
    double fx = edge_clamp(px, w), fy = edge_clamp(py, h);
    int x0 = floor_small(fx), y0 = floor_small(fy);
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

/* The portable kernel for pixels u0..u1-1 of a row (w, h >= 2, finite positions), in
 * blocks: first the taps and weights of the block (no branches, so the compiler can
 * vectorize it), then the samples.  Positions clamped as the top comment says. */
static void span_portable(const crop_src *s, const pose_crop_row *r, int u0, int u1, float *out)
{
    enum { BLOCK = 64 };
    ptrdiff_t off[BLOCK];
    float tx[BLOCK], ty[BLOCK];
    double xmax = s->w - 1, ymax = s->h - 1;
    for (int b = u0; b < u1; b += BLOCK) {
        int n = u1 - b < BLOCK ? u1 - b : BLOCK;
        for (int i = 0; i < n; i++) {
            double fx = pos_x(r, b + i) - 0.5, fy = pos_y(r, b + i) - 0.5;
            fx = fx < 0 ? 0 : (fx > xmax ? xmax : fx);
            fy = fy < 0 ? 0 : (fy > ymax ? ymax : fy);
            int x0 = (int)fx, y0 = (int)fy; /* >= 0: truncation is floor */
            x0 = x0 > s->w - 2 ? s->w - 2 : x0;
            y0 = y0 > s->h - 2 ? s->h - 2 : y0;
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

/* Whether the kernels can take row r (n pixels): an image of at least 2x2 and
 * finite positions (a linear function finite at both ends is finite between). */
static int kernel_row(const crop_src *s, const pose_crop_row *r, int n)
{
    return s->w >= 2 && s->h >= 2 && isfinite(pos_x(r, 0)) && isfinite(pos_y(r, 0)) &&
           isfinite(pos_x(r, n - 1)) && isfinite(pos_y(r, n - 1));
}

/* Output row r (n pixels) into out, by the runs of the top comment, the middle one by
 * kernel `kern` (usable here: kernel_usable). */
static void crop_row(const crop_src *s, const pose_crop_row *r, int n, int kern, float *out)
{
    if (!kernel_row(s, r, n)) {
        edge_span(s, r, 0, n, out);
        return;
    }
    int k0 = 0, k1 = n;
    if (s->border == POSE_BORDER_ZERO)
        run_of(s, r, n, &k0, &k1);
    fill(s->offset, (size_t)k0 * 3, out);
    int u = k0;
#ifdef CREASE_POSE_AVX2
    if (kern == POSE_CROP_AVX512)
        u = pose_crop_span_avx512(s->rgb, s->w, s->h, s->stride, r, u, k1, s->scale, s->offset,
                                  out + (size_t)u * 3);
    if (kern >= POSE_CROP_AVX2) /* a CPU with AVX-512 has AVX2: groups of 8 of the rest */
        u = pose_crop_span_avx2(s->rgb, s->w, s->h, s->stride, r, u, k1, s->scale, s->offset,
                                out + (size_t)u * 3);
#else
    (void)kern;
#endif
    span_portable(s, r, u, k1, out + (size_t)u * 3);
    fill(s->offset, (size_t)(n - k1) * 3, out + (size_t)k1 * 3);
}

/* Whether kernel `kern` may run on this machine for this image. */
static int kernel_usable(int kern, int w, int h, int stride)
{
    if (kern == POSE_CROP_PORTABLE)
        return 1;
#ifdef CREASE_POSE_AVX2
    /* The gathers take int32 byte offsets from the image's start. */
    if (w < 2 || h < 2 || stride <= 0 ||
        (long long)(h - 1) * stride + 3LL * w + 8 > (long long)INT32_MAX)
        return 0;
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (kern == POSE_CROP_AVX2)
        return avx2;
    if (kern == POSE_CROP_AVX512)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    (void)w, (void)h, (void)stride;
#endif
    return 0;
}

/* The fastest kernel at most `kern` that runs here on this image. */
static int kernel_at_most(int kern, int w, int h, int stride)
{
    while (kern > POSE_CROP_PORTABLE && !kernel_usable(kern, w, h, stride))
        kern--;
    return kern;
}

static void crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
                 int dst_h, pose_border border, float scale, float offset, int kern, float *dst)
{
    crop_src s = {rgb, w, h, stride, border, scale, offset};
    pose_crop_map m = pose_crop_map_of(w, h, roi, dst_w, dst_h);
    for (int v = 0; v < dst_h; v++) {
        pose_crop_row r = {m.ox, m.oy, m.ax, m.ay, m.bx * v, m.by * v};
        crop_row(&s, &r, dst_w, kern, dst + (size_t)v * dst_w * 3);
    }
}

void pose_crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
               int dst_h, pose_border border, float scale, float offset, float *dst)
{
    pose_crop_with(POSE_CROP_AVX512, rgb, w, h, stride, roi, dst_w, dst_h, border, scale, offset,
                   dst);
}

void pose_crop_with(int kernel, const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi,
                    int dst_w, int dst_h, pose_border border, float scale, float offset, float *dst)
{
    crop(rgb, w, h, stride, roi, dst_w, dst_h, border, scale, offset,
         kernel_at_most(kernel, w, h, stride), dst);
}

int pose_crop_kernel_usable(int kernel)
{
    return kernel_usable(kernel, 2, 2, 6);
}

int pose_crop_kernel(void)
{
    return kernel_at_most(POSE_CROP_AVX512, 2, 2, 6);
}

const char *pose_crop_kernel_name(int kernel)
{
    static const char *const names[] = {"portable", "avx2", "avx512"};
    return kernel >= POSE_CROP_PORTABLE && kernel <= POSE_CROP_AVX512 ? names[kernel] : "unknown";
}
