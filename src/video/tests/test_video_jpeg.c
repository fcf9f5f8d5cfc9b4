/*
 * test_video_jpeg.c -- video_encode_jpeg: a synthetic frame (four coloured quadrants,
 * odd size, padded rows) encoded and decoded back through the sampler (FFmpeg's image
 * demuxer): same size, the colours within JPEG's error, a coarser quantizer gives
 * fewer bytes; bad frames and quantizers are CR_ERR_INVALID, a failed allocation
 * CR_ERR_NOMEM with nothing handed out.
 */
#include "check.h"
#include "core/mem.h"
#include "video/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define W 97 /* odd sizes: 4:2:0 rounds the chroma planes up */
#define H 63
#define STRIDE (3 * W + 5) /* rows padded: the stride is honoured */

static const uint8_t colours[4][3] = {{220, 30, 20}, {20, 200, 40}, {30, 60, 230}, {240, 240, 240}};

static int quadrant(int x, int y)
{
    return (x >= W / 2) + 2 * (y >= H / 2);
}

/* Decodes `jpeg` through a file and the sampler; checks size and colours. */
static void check_decoded(const uint8_t *jpeg, size_t n, int tolerance)
{
    char path[] = "/tmp/crease-jpeg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, jpeg, n) == (ssize_t)n);
    if (fd >= 0)
        close(fd);
    cr_reader *r = NULL;
    video_sampler *s = NULL;
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.max_width = VIDEO_MAX_DIM;
    cr_err e = {0};
    video_frame f;
    int done = 1;
    CHECK_MSG(cr_reader_open_file(path, &r, &e) == CR_OK &&
                  video_sampler_open(r, &o, &s, &e) == CR_OK &&
                  video_sampler_next(s, &f, &done, &e) == CR_OK && !done,
              "%s", cr_err_msg(&e));
    if (!done) {
        CHECK_STR_EQ(video_sampler_info(s)->codec, "mjpeg");
        CHECK_INT_EQ(f.width, W);
        CHECK_INT_EQ(f.height, H);
        /* each quadrant's centre, away from the edges JPEG blurs */
        for (int q = 0; q < 4; q++) {
            int x = q % 2 ? 3 * W / 4 : W / 4, y = q / 2 ? 3 * H / 4 : H / 4;
            const uint8_t *p = f.rgb + (size_t)y * (size_t)f.stride + 3 * (size_t)x;
            for (int c = 0; c < 3; c++)
                CHECK_MSG(abs(p[c] - colours[q][c]) <= tolerance,
                          "quadrant %d channel %d: %d, want %d +- %d", q, c, p[c], colours[q][c],
                          tolerance);
        }
    }
    video_sampler_close(s);
    cr_reader_close(r);
    unlink(path);
}

int main(void)
{
    cr_mem_init();
    uint8_t *rgb = cr_calloc(H, STRIDE);
    CHECK(rgb != NULL);
    if (rgb == NULL)
        return check_exit();
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(rgb + (size_t)y * STRIDE + 3 * (size_t)x, colours[quadrant(x, y)], 3);
    video_frame f = {.rgb = rgb, .width = W, .height = H, .stride = STRIDE};

    uint8_t *fine = NULL, *coarse = NULL;
    size_t nf = 0, nc = 0;
    cr_err e = {0};
    CHECK_MSG(video_encode_jpeg(&f, VIDEO_JPEG_QSCALE_BEST, &fine, &nf, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    CHECK_MSG(video_encode_jpeg(&f, VIDEO_JPEG_QSCALE_WORST, &coarse, &nc, &e) == CR_OK, "%s",
              cr_err_msg(&e));
    CHECK(fine != NULL && nf > 100 && fine[0] == 0xff && fine[1] == 0xd8); /* SOI */
    CHECK(coarse != NULL && nc > 100 && coarse[nc - 2] == 0xff && coarse[nc - 1] == 0xd9);
    CHECK_MSG(nc < nf, "q%d gave %zu bytes, q%d %zu", VIDEO_JPEG_QSCALE_WORST, nc,
              VIDEO_JPEG_QSCALE_BEST, nf);
    printf("jpeg %dx%d: %zu bytes at q%d, %zu at q%d\n", W, H, nf, VIDEO_JPEG_QSCALE_BEST, nc,
           VIDEO_JPEG_QSCALE_WORST);
    if (fine != NULL)
        check_decoded(fine, nf, 12);
    if (coarse != NULL)
        check_decoded(coarse, nc, 40);
    cr_free(fine);
    cr_free(coarse);

    /* bad input: nothing handed out */
    uint8_t *out = (uint8_t *)&e;
    size_t n = 7;
    CHECK(video_encode_jpeg(&f, 1, &out, &n, &e) == CR_ERR_INVALID && out == NULL && n == 0);
    CHECK(video_encode_jpeg(&f, 32, &out, &n, NULL) == CR_ERR_INVALID);
    video_frame bad = f;
    bad.stride = 3 * W - 1;
    CHECK(video_encode_jpeg(&bad, 5, &out, &n, NULL) == CR_ERR_INVALID);
    bad = f;
    bad.width = 0;
    CHECK(video_encode_jpeg(&bad, 5, &out, &n, NULL) == CR_ERR_INVALID);
    bad = f;
    bad.rgb = NULL;
    CHECK(video_encode_jpeg(&bad, 5, &out, &n, NULL) == CR_ERR_INVALID);
    /* the output buffer cannot be allocated */
    cr_mem_fail_after(0, 0);
    cr_status st = video_encode_jpeg(&f, 5, &out, &n, NULL);
    cr_mem_fail_after(-1, 0);
    CHECK(st == CR_ERR_NOMEM && out == NULL && n == 0);
    cr_free(rgb);
    return check_exit();
}
