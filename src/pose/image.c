/*
 * image.c -- model inputs cropped straight from a decoded picture (pose_image: RGB24
 * or planar 4:2:0 YUV, stored orientation plus a display rotation), and the 2x
 * pyramid levels used where a region is much larger than the model's input.
 *
 * Conventions are crop.c's (MediaPipe's JS solution): output pixel centres map into
 * the rotated rectangle, pixel centres at half-integers, bilinear in float,
 * clamp-to-edge, and with POSE_BORDER_ZERO a position outside the image gives 0.
 * Positions are taken in display coordinates and mapped into the stored picture
 * (the rotation is a relabelling of pixels, so it is exact).  For YUV each plane is
 * sampled bilinearly at the position (chroma at half the luma resolution, sample
 * centres in the middle of each 2x2 luma block), then converted to RGB with BT.601
 * and clamped to 0..255, as swscale converts (video.h: SOURCE PICTURES).  Sampling the
 * planes and then converting equals converting and then sampling except at the clamp.
 *
 * Two implementations with the same arithmetic: pose_image_crop_ref (each tap
 * clamped and looked up through the general sampler; plain and slow) and
 * pose_image_crop (the positions inside the picture, the bulk of every crop, read the
 * planes directly).  test_blazepose_unit holds them to each other.
 */
#include "pose/blazepose.h"
#include "pose/pose_int.h"

#include <math.h>
#include <string.h>

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void pose_image_display_size(const pose_image *img, int *w, int *h)
{
    int swap = img->rotation == 90 || img->rotation == 270;
    *w = swap ? img->height : img->width;
    *h = swap ? img->width : img->height;
}

/* The YUV -> RGB coefficients (ITU-R BT.601, as swscale's default). */
typedef struct yuv_coef {
    float ys, yo; /* Y' = (Y - yo) * ys */
    float cs;     /* Cb' = (U - 128) * cs, Cr' likewise */
} yuv_coef;

static yuv_coef coef_of(const pose_image *img)
{
    yuv_coef c;
    if (img->full_range) {
        c.ys = 1.0f;
        c.yo = 0.0f;
        c.cs = 1.0f;
    } else {
        c.ys = 255.0f / 219.0f;
        c.yo = 16.0f;
        c.cs = 255.0f / 224.0f;
    }
    return c;
}

static inline float clamp255(float v)
{
    return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
}

static inline void yuv_to_rgb(const yuv_coef *c, float y, float u, float v, float *rgb)
{
    float yy = (y - c->yo) * c->ys, cb = (u - 128.0f) * c->cs, cr = (v - 128.0f) * c->cs;
    rgb[0] = clamp255(yy + 1.402f * cr);
    rgb[1] = clamp255(yy - 0.344136f * cb - 0.714136f * cr);
    rgb[2] = clamp255(yy + 1.772f * cb);
}

/* Bilinear sample of one channel of a plane at (fx, fy), pixel centres at integers,
 * clamp-to-edge.  `step` is the distance between a pixel and the next in a row. */
static float plane_sample(const uint8_t *p, int w, int h, int stride, int step, double fx,
                          double fy)
{
    fx = isfinite(fx) ? fmin(fmax(fx, -1.0), (double)w) : 0.0;
    fy = isfinite(fy) ? fmin(fmax(fy, -1.0), (double)h) : 0.0;
    int x0 = (int)floor(fx), y0 = (int)floor(fy);
    float tx = (float)(fx - x0), ty = (float)(fy - y0);
    const uint8_t *r0 = p + (size_t)clampi(y0, 0, h - 1) * stride;
    const uint8_t *r1 = p + (size_t)clampi(y0 + 1, 0, h - 1) * stride;
    size_t c0 = (size_t)clampi(x0, 0, w - 1) * step, c1 = (size_t)clampi(x0 + 1, 0, w - 1) * step;
    float top = r0[c0] + (r0[c1] - r0[c0]) * tx;
    float bot = r1[c0] + (r1[c1] - r1[c0]) * tx;
    return top + (bot - top) * ty;
}

/* The RGB value at stored position (sx, sy) (pixel edges at integers). */
static void sample_ref(const pose_image *img, const yuv_coef *c, double sx, double sy, float *rgb)
{
    if (img->format == POSE_PIX_RGB24) {
        for (int ch = 0; ch < 3; ch++)
            rgb[ch] = plane_sample(img->data[0] + ch, img->width, img->height, img->stride[0], 3,
                                   sx - 0.5, sy - 0.5);
        return;
    }
    int cw = (img->width + 1) / 2, chh = (img->height + 1) / 2;
    float y =
        plane_sample(img->data[0], img->width, img->height, img->stride[0], 1, sx - 0.5, sy - 0.5);
    float u = plane_sample(img->data[1], cw, chh, img->stride[1], 1, sx / 2 - 0.5, sy / 2 - 0.5);
    float v = plane_sample(img->data[2], cw, chh, img->stride[2], 1, sx / 2 - 0.5, sy / 2 - 0.5);
    yuv_to_rgb(c, y, u, v, rgb);
}

/* The affine map from output pixel (u, v) to the stored position: pos = o + a*u + b*v. */
static pose_crop_map map_of(const pose_image *img, const pose_rect *roi, int dst_w, int dst_h)
{
    int dw, dh;
    pose_image_display_size(img, &dw, &dh);
    /* Display positions, as crop.c. */
    pose_crop_map d = pose_crop_map_of(dw, dh, roi, dst_w, dst_h);
    double ox = d.ox, oy = d.oy, ax = d.ax, ay = d.ay, bx = d.bx, by = d.by;
    /* Display (x, y) -> stored (sx, sy), edges at integers (video.c's rotation):
     * 90: (y, H - x); 180: (W - x, H - y); 270: (W - y, x); W, H the stored size. */
    double W = img->width, H = img->height;
    pose_crop_map m;
    switch (img->rotation) {
    case 90:
        m = (pose_crop_map){oy, H - ox, ay, -ax, by, -bx};
        break;
    case 180:
        m = (pose_crop_map){W - ox, H - oy, -ax, -ay, -bx, -by};
        break;
    case 270:
        m = (pose_crop_map){W - oy, ox, -ay, ax, -by, bx};
        break;
    default:
        m = (pose_crop_map){ox, oy, ax, ay, bx, by};
        break;
    }
    return m;
}

void pose_image_crop_ref(const pose_image *img, const pose_rect *roi, int dst_w, int dst_h,
                         pose_border border, float scale, float offset, float *dst)
{
    pose_crop_map m = map_of(img, roi, dst_w, dst_h);
    yuv_coef c = coef_of(img);
    for (int v = 0; v < dst_h; v++) {
        for (int u = 0; u < dst_w; u++) {
            float *out = dst + ((size_t)v * dst_w + u) * 3;
            double sx = m.ox + m.ax * u + m.bx * v, sy = m.oy + m.ay * u + m.by * v;
            if (border == POSE_BORDER_ZERO &&
                !(sx >= 0 && sx <= img->width && sy >= 0 && sy <= img->height)) {
                out[0] = out[1] = out[2] = offset;
                continue;
            }
            float rgb[3];
            sample_ref(img, &c, sx, sy, rgb);
            for (int ch = 0; ch < 3; ch++)
                out[ch] = rgb[ch] * scale + offset;
        }
    }
}

/* Bilinear weights of one plane at (fx, fy) when all four taps are inside. */
static inline float tap4(const uint8_t *r0, int stride, int x0, float tx, float ty)
{
    const uint8_t *r1 = r0 + stride;
    float top = r0[x0] + (r0[x0 + 1] - r0[x0]) * tx;
    float bot = r1[x0] + (r1[x0 + 1] - r1[x0]) * tx;
    return top + (bot - top) * ty;
}

void pose_image_crop(const pose_image *img, const pose_rect *roi, int dst_w, int dst_h,
                     pose_border border, float scale, float offset, float *dst)
{
    if (img->format == POSE_PIX_RGB24 && img->rotation == 0) {
        pose_crop(img->data[0], img->width, img->height, img->stride[0], roi, dst_w, dst_h, border,
                  scale, offset, dst);
        return;
    }
    pose_crop_map m = map_of(img, roi, dst_w, dst_h);
    yuv_coef c = coef_of(img);
    int w = img->width, h = img->height;
    int cw = (w + 1) / 2, chh = (h + 1) / 2;
    for (int v = 0; v < dst_h; v++) {
        float *out = dst + (size_t)v * dst_w * 3;
        for (int u = 0; u < dst_w; u++, out += 3) {
            double sx = m.ox + m.ax * u + m.bx * v, sy = m.oy + m.ay * u + m.by * v;
            double fx = sx - 0.5, fy = sy - 0.5;
            double gx = sx / 2 - 0.5, gy = sy / 2 - 0.5; /* chroma */
            float rgb[3];
            if (img->format == POSE_PIX_YUV420P && fx >= 0 && fx < w - 1 && fy >= 0 && fy < h - 1 &&
                gx >= 0 && gx < cw - 1 && gy >= 0 && gy < chh - 1) {
                int x0 = (int)fx, y0 = (int)fy, x1 = (int)gx, y1 = (int)gy;
                float y = tap4(img->data[0] + (size_t)y0 * img->stride[0], img->stride[0], x0,
                               (float)(fx - x0), (float)(fy - y0));
                float tx = (float)(gx - x1), ty = (float)(gy - y1);
                float cu =
                    tap4(img->data[1] + (size_t)y1 * img->stride[1], img->stride[1], x1, tx, ty);
                float cv =
                    tap4(img->data[2] + (size_t)y1 * img->stride[2], img->stride[2], x1, tx, ty);
                yuv_to_rgb(&c, y, cu, cv, rgb);
            } else {
                if (border == POSE_BORDER_ZERO && !(sx >= 0 && sx <= w && sy >= 0 && sy <= h)) {
                    out[0] = out[1] = out[2] = offset;
                    continue;
                }
                sample_ref(img, &c, sx, sy, rgb);
            }
            out[0] = rgb[0] * scale + offset;
            out[1] = rgb[1] * scale + offset;
            out[2] = rgb[2] * scale + offset;
        }
    }
}

/* --- pyramid levels ------------------------------------------------------------ */

static void half_size(const pose_image *img, int *w, int *h)
{
    *w = (img->width + 1) / 2;
    *h = (img->height + 1) / 2;
}

static size_t row_bytes(int w)
{
    return ((size_t)w + 63) & ~(size_t)63;
}

size_t pose_image_halve_size(const pose_image *src)
{
    int w, h;
    half_size(src, &w, &h);
    if (src->format == POSE_PIX_RGB24)
        return row_bytes((size_t)w * 3) * (size_t)h;
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    return row_bytes(w) * (size_t)h + 2 * row_bytes(cw) * (size_t)ch;
}

/* dst (dw x dh) = the 2x2 means of src (sw x sh, `chans` interleaved channels); an odd
 * last column or row is paired with itself. */
static void halve_plane(const uint8_t *src, int sw, int sh, int sstride, int chans, uint8_t *dst,
                        int dw, int dh, int dstride)
{
    for (int y = 0; y < dh; y++) {
        const uint8_t *r0 = src + (size_t)(2 * y) * sstride;
        const uint8_t *r1 = src + (size_t)(2 * y + 1 < sh ? 2 * y + 1 : sh - 1) * sstride;
        uint8_t *o = dst + (size_t)y * dstride;
        if (chans == 1) {
            /* The planes of every YUV frame: whole 2x2 blocks in a loop with no
             * clamping (the compiler vectorizes it), then an odd last column paired
             * with itself -- the same values as the general loop below. */
            int pairs = sw / 2;
            for (int x = 0; x < pairs; x++)
                o[x] = (uint8_t)((r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] + 2) >> 2);
            if (dw > pairs)
                o[pairs] = (uint8_t)((2 * r0[sw - 1] + 2 * r1[sw - 1] + 2) >> 2);
            continue;
        }
        for (int x = 0; x < dw; x++) {
            size_t a = (size_t)(2 * x) * chans;
            size_t b = (size_t)(2 * x + 1 < sw ? 2 * x + 1 : sw - 1) * chans;
            for (int ch = 0; ch < chans; ch++)
                o[(size_t)x * chans + ch] =
                    (uint8_t)((r0[a + ch] + r0[b + ch] + r1[a + ch] + r1[b + ch] + 2) >> 2);
        }
    }
}

void pose_image_halve(const pose_image *src, uint8_t *buf, pose_image *dst)
{
    int w, h;
    half_size(src, &w, &h);
    memset(dst, 0, sizeof *dst);
    dst->format = src->format;
    dst->width = w;
    dst->height = h;
    dst->rotation = src->rotation;
    dst->full_range = src->full_range;
    if (src->format == POSE_PIX_RGB24) {
        dst->data[0] = buf;
        dst->stride[0] = (int)row_bytes((size_t)w * 3);
        halve_plane(src->data[0], src->width, src->height, src->stride[0], 3, buf, w, h,
                    dst->stride[0]);
        return;
    }
    int scw = (src->width + 1) / 2, sch = (src->height + 1) / 2;
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    uint8_t *planes[3];
    planes[0] = buf;
    planes[1] = buf + row_bytes(w) * (size_t)h;
    planes[2] = planes[1] + row_bytes(cw) * (size_t)ch;
    dst->stride[0] = (int)row_bytes(w);
    dst->stride[1] = dst->stride[2] = (int)row_bytes(cw);
    halve_plane(src->data[0], src->width, src->height, src->stride[0], 1, planes[0], w, h,
                dst->stride[0]);
    for (int p = 1; p < 3; p++)
        halve_plane(src->data[p], scw, sch, src->stride[p], 1, planes[p], cw, ch, dst->stride[p]);
    for (int p = 0; p < 3; p++)
        dst->data[p] = planes[p];
}
