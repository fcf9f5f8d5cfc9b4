/*
 * pose_test_media.h -- decoding test media for the pose pipeline tests (FFmpeg):
 * an image or the first frames of a video as RGB24, and a few frame helpers.
 */
#ifndef CR_POSE_TEST_MEDIA_H
#define CR_POSE_TEST_MEDIA_H

#include "pose/pose_tracker.h"

#include <stdint.h>

typedef struct ptm_frame {
    uint8_t *rgb; /* RGB24, stride = 3 * w, malloc'd */
    int w, h;
    double pts; /* seconds */
} ptm_frame;

/* Decodes up to `max` frames of `path` (an image gives one), scaled to width <= max_w
 * (0: no limit).  Returns the count (0 on error, message on stderr); *out is a
 * malloc'd array, free it with ptm_free. */
int ptm_load(const char *path, int max, int max_w, ptm_frame **out);
void ptm_free(ptm_frame *f, int n);

/* The image `dir`/`name` (ptm_load, one frame, full size), or NULL (message on stderr);
 * free it with ptm_free(f, 1). */
ptm_frame *ptm_load_in(const char *dir, const char *name);

/* The names of the PNG files in `dir`, at most `cap`, sorted; each strdup'd into
 * names[i] (free each).  Returns the count (0 when `dir` cannot be read). */
int ptm_list_pngs(const char *dir, char **names, int cap);

/* f's pixels as the pose module's RGB24 picture (no copy; rotation 0). */
pose_image ptm_image(const ptm_frame *f);

/* The mean distance, in pixels of a w x h picture, between b's body landmarks and a's,
 * over the diagonal of a's landmarks' bounding box (INFINITY for a box of no size). */
double ptm_mean_over_diagonal(const pose_result *a, const pose_result *b, int w, int h);

/* A copy of `src` rotated by 90 degrees clockwise (w x h -> h x w). */
ptm_frame ptm_rotate90(const ptm_frame *src);

#endif
