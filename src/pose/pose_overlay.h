/*
 * pose_overlay.h -- drawing the skeleton of a pose_result onto frames (cairo) and
 * writing them out: one PNG (cairo), or an MP4 (FFmpeg's libavcodec: H.264 through
 * libx264 when present, else MPEG-4 part 2; yuv420p, so odd sizes lose their last
 * row/column).
 *
 * Frames are RGB24 (R, G, B bytes), `stride` bytes per row.  Nothing here keeps a
 * pointer to a frame after returning.  A writer is used by one thread at a time.
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

typedef struct pose_video_writer pose_video_writer;

/* Opens an MP4 file for frames of w x h (>= 2 each) at `fps`.  On error *out = NULL. */
cr_status pose_video_writer_open(const char *path, int w, int h, double fps,
                                 pose_video_writer **out, cr_err *err);

/* Encodes one frame (same size as at open). */
cr_status pose_video_writer_add(pose_video_writer *v, const uint8_t *rgb, int stride, cr_err *err);

/* Flushes the encoder, writes the trailer and frees the writer (also after an error;
 * NULL is a no-op returning CR_OK). */
cr_status pose_video_writer_close(pose_video_writer *v, cr_err *err);

#endif
