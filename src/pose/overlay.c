/*
 * overlay.c -- skeleton drawing (cairo) and PNG output of overlay frames.  MP4 output
 * is the video module's writer (video/video_writer.h).
 */
#include "pose/pose_overlay.h"

#include "core/mem.h"

#include <cairo.h>
#include <math.h>
#include <string.h>

#define VISIBLE 0.5f /* visibility below this is drawn faded (DESIGN.md §8 uses 0.5 too) */

/* RGB24 -> cairo's native-endian xRGB32 and back. */
static void to_cairo(const uint8_t *rgb, int w, int h, int stride, uint8_t *data, int cstride)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *s = rgb + (size_t)y * stride;
        uint32_t *d = (uint32_t *)(data + (size_t)y * cstride);
        for (int x = 0; x < w; x++)
            d[x] =
                0xff000000u | (uint32_t)s[3 * x] << 16 | (uint32_t)s[3 * x + 1] << 8 | s[3 * x + 2];
    }
}

static void from_cairo(const uint8_t *data, int cstride, uint8_t *rgb, int w, int h, int stride)
{
    for (int y = 0; y < h; y++) {
        const uint32_t *s = (const uint32_t *)(data + (size_t)y * cstride);
        uint8_t *d = rgb + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            d[3 * x] = (uint8_t)(s[x] >> 16);
            d[3 * x + 1] = (uint8_t)(s[x] >> 8);
            d[3 * x + 2] = (uint8_t)s[x];
        }
    }
}

static cairo_surface_t *surface_of(const uint8_t *rgb, int w, int h, int stride, cr_err *err)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        cr_err_set(err, CR_ERR_NOMEM, "cairo: cannot make a %dx%d surface", w, h);
        return NULL;
    }
    cairo_surface_flush(s);
    to_cairo(rgb, w, h, stride, cairo_image_surface_get_data(s), cairo_image_surface_get_stride(s));
    cairo_surface_mark_dirty(s);
    return s;
}

cr_status pose_overlay_draw(uint8_t *rgb, int w, int h, int stride, const pose_result *r,
                            cr_err *err)
{
    if (!r->detected)
        return CR_OK;
    cairo_surface_t *s = surface_of(rgb, w, h, stride, err);
    if (s == NULL)
        return CR_ERR_NOMEM;
    cairo_t *cr = cairo_create(s);
    double lw = fmax(2.0, (w > h ? w : h) / 250.0);
    cairo_set_line_width(cr, lw);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    const pose_landmark *p = r->landmarks;
    for (int i = 0; i < POSE_NUM_CONNECTIONS; i++) {
        const pose_landmark *a = &p[pose_connections[i][0]], *b = &p[pose_connections[i][1]];
        double alpha = a->visibility >= VISIBLE && b->visibility >= VISIBLE ? 0.95 : 0.35;
        cairo_set_source_rgba(cr, 1.0, 1.0, 1.0, alpha);
        cairo_move_to(cr, a->x * w, a->y * h);
        cairo_line_to(cr, b->x * w, b->y * h);
        cairo_stroke(cr);
    }
    for (int i = 0; i < POSE_LM_BODY; i++) {
        double alpha = p[i].visibility >= VISIBLE ? 1.0 : 0.35;
        /* left side red, right side blue, centre (nose) green */
        int left = i > 0 && (i <= 3 || i == 7 || i == 9 || (i >= 11 && i % 2 == 1));
        if (i == 0)
            cairo_set_source_rgba(cr, 0.1, 0.9, 0.1, alpha);
        else if (left)
            cairo_set_source_rgba(cr, 1.0, 0.2, 0.1, alpha);
        else
            cairo_set_source_rgba(cr, 0.1, 0.4, 1.0, alpha);
        cairo_arc(cr, p[i].x * w, p[i].y * h, lw * 1.6, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_destroy(cr);
    cairo_surface_flush(s);
    from_cairo(cairo_image_surface_get_data(s), cairo_image_surface_get_stride(s), rgb, w, h,
               stride);
    cairo_surface_destroy(s);
    return CR_OK;
}

cr_status pose_overlay_write_png(const char *path, const uint8_t *rgb, int w, int h, int stride,
                                 cr_err *err)
{
    cairo_surface_t *s = surface_of(rgb, w, h, stride, err);
    if (s == NULL)
        return CR_ERR_NOMEM;
    cairo_status_t cs = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS)
        return cr_err_set(err, CR_ERR_IO, "write %s: %s", path, cairo_status_to_string(cs));
    return CR_OK;
}
