/*
 * pose_overlay.h -- drawing the skeleton of a pose_result onto frames (cairo) and
 * writing one out as a PNG (cairo).  An MP4 of overlay frames is written with the
 * video module's writer (video/video_writer.h).
 *
 * Frames are RGB24 (R, G, B bytes), `stride` bytes per row.  Nothing here keeps a
 * pointer to a frame after returning.
 */
#ifndef CR_POSE_OVERLAY_H
#define CR_POSE_OVERLAY_H

#include "core/status.h"
#include "pose/pose_tracker.h"

#include <stdint.h>

/* Draws the skeleton (MediaPipe's 35 connections and the 33 points; points with
 * visibility < 0.5 are drawn faded) of `r` onto the frame, in place.  Nothing is drawn
 * when !r->detected.  CR_ERR_NOMEM when cairo cannot get memory. */
cr_status pose_overlay_draw(uint8_t *rgb, int w, int h, int stride, const pose_result *r,
                            cr_err *err);

/* Writes an RGB24 frame as a PNG file. */
cr_status pose_overlay_write_png(const char *path, const uint8_t *rgb, int w, int h, int stride,
                                 cr_err *err);

#endif
