/*
 * video_writer.h -- writing RGB24 frames out as an MP4 file (FFmpeg's libavcodec:
 * H.264 through libx264 when present, else MPEG-4 part 2; yuv420p, so odd sizes
 * lose their last row/column).  The counterpart of the sampler in video.h: used to
 * write annotated frames (`crease pose --overlay out.mp4`).
 *
 * Frames are RGB24 (R, G, B bytes), `stride` bytes per row, all of the size given
 * at open.  Frame i is shown at time i / fps; packets have a duration of one frame.
 *
 * ERRORS (status + one line in cr_err, first error wins): CR_ERR_INVALID for a bad
 * size or fps, CR_ERR_UNSUPPORTED when FFmpeg has neither encoder, CR_ERR_NOMEM, and
 * CR_ERR_IO for anything FFmpeg reports while encoding or writing.
 * THREADS.  A writer is used by one thread at a time; writers are independent.
 * OWNERSHIP.  Nothing here keeps a pointer to a frame after returning; the writer
 * owns its file until video_writer_close.
 */
#ifndef CR_VIDEO_VIDEO_WRITER_H
#define CR_VIDEO_VIDEO_WRITER_H

#include "core/status.h"

#include <stdint.h>

typedef struct video_writer video_writer;

/* Opens (creates or truncates) the MP4 file `path` for frames of w x h (>= 2 each)
 * at `fps` (> 0).  On error *out = NULL and nothing leaks (a partial file may remain). */
cr_status video_writer_open(const char *path, int w, int h, double fps, video_writer **out,
                            cr_err *err);

/* Encodes one frame (same size as at open).  After an error, only
 * video_writer_close may be called. */
cr_status video_writer_add(video_writer *v, const uint8_t *rgb, int stride, cr_err *err);

/* Flushes the encoder, writes the trailer and frees the writer (also after an error;
 * NULL is a no-op returning CR_OK).  `v` is freed whatever the result. */
cr_status video_writer_close(video_writer *v, cr_err *err);

#endif
