/*
 * fuzz_video.c -- the probe and the frame sampler (video.h) on bytes served as an
 * in-memory file through the custom I/O layer (core/reader.h, FFmpeg's AVIO over it).
 *
 * Input: one byte of options, then the file.
 *   bits 0-1  reader: 0 plain, 1 short reads (at most 7 bytes a call), 2 and 3 an I/O
 *             error from the middle / three quarters of the file on
 *   bits 2-3  start of the range: 0, 0.5, 1 or 2.5 s
 *   bit  4    max_width 16 or 48
 *   bit  5    sample_fps 5 or 30
 *   bits 6-7  length of the range: 0.5, 1, 2 s or to the end
 * Work is bounded per input: at most FUZZ_MAX_FRAMES frames are taken, and pictures
 * over FUZZ_MAX_PIXELS are probed but not sampled.
 *
 * Invariants checked (video.h): statuses of the documented set with a message, and the
 * reader's CR_ERR_IO whenever a read failed during the call; a zeroed video_info after
 * a failed probe;
 * sizes, rotation and duration in range, video_info_to_json valid JSON; the sampler
 * probes as video_probe does; frames come in consecutive grid indices inside the
 * range, at t = k / fps, scaled to min(display width, max_width), every byte of them
 * readable; after the end or an error the sampler stays done.
 */
#include "fuzz.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/reader.h"
#include "video/video.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define FUZZ_MAX_FRAMES 12
#define FUZZ_MAX_PIXELS (256 * 256)

FUZZ_INIT_QUIET

typedef struct mem_file {
    const uint8_t *p;
    size_t n;
    uint64_t fail_at; /* reads at or past this offset fail */
    size_t max_read;
    int failed;
} mem_file;

static cr_status mem_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got, cr_err *err)
{
    mem_file *f = ctx;
    *got = 0;
    if (off + n > f->fail_at) {
        f->failed = 1;
        return cr_err_set(err, CR_ERR_IO, "injected read error at %llu", (unsigned long long)off);
    }
    if (off >= f->n)
        return CR_OK;
    size_t k = f->n - (size_t)off;
    if (k > n)
        k = n;
    if (k > f->max_read)
        k = f->max_read;
    memcpy(buf, f->p + off, k);
    *got = k;
    return CR_OK;
}

static const cr_reader_ops mem_ops = {mem_read_at, NULL};

/* A failed call: when a read failed during it, the verdict rests on missing bytes, so
 * it must be the reader's error (a worker retries those; CR_ERR_FORMAT would fail the
 * job for good).  Otherwise one of the statuses of malformed input. */
static void check_status(cr_status st, const cr_err *err, const mem_file *f, const char *what)
{
    if (f->failed)
        FUZZ_CHECK(st == CR_ERR_IO || st == CR_ERR_NOMEM, "%s: a read failed, yet status %s (%s)",
                   what, cr_status_str(st), cr_err_msg(err));
    else
        FUZZ_CHECK(st == CR_ERR_FORMAT || st == CR_ERR_UNSUPPORTED || st == CR_ERR_LIMIT ||
                       st == CR_ERR_NOMEM,
                   "%s: status %s (%s)", what, cr_status_str(st), cr_err_msg(err));
    FUZZ_CHECK(err->msg[0] != '\0', "%s: an error without a message", what);
}

static void check_info(const video_info *in)
{
    FUZZ_CHECK(in->width > 0 && in->height > 0 && in->width <= VIDEO_MAX_DIM &&
                   in->height <= VIDEO_MAX_DIM &&
                   (long long)in->width * in->height <= VIDEO_MAX_PIXELS,
               "size %dx%d", in->width, in->height);
    FUZZ_CHECK(in->rotation == 0 || in->rotation == 90 || in->rotation == 180 ||
                   in->rotation == 270,
               "rotation %d", in->rotation);
    int swap = in->rotation == 90 || in->rotation == 270;
    FUZZ_CHECK(in->display_width == (swap ? in->height : in->width) &&
                   in->display_height == (swap ? in->width : in->height),
               "display size %dx%d", in->display_width, in->display_height);
    FUZZ_CHECK(isfinite(in->duration_seconds) && isfinite(in->fps) && in->fps >= 0 &&
                   isfinite(in->content_seconds) && in->content_seconds >= 0,
               "duration %g fps %g content %g", in->duration_seconds, in->fps, in->content_seconds);
    FUZZ_CHECK(in->still_image ? in->duration_seconds == 0 : in->duration_seconds > 0,
               "duration %g of a %s", in->duration_seconds, in->still_image ? "still" : "video");
    FUZZ_CHECK(memchr(in->codec, '\0', sizeof in->codec) != NULL, "codec name not terminated");
    char text[512];
    video_info_to_json(in, text, sizeof text);
    json_t *j = json_loads(text, 0, NULL);
    FUZZ_CHECK(j != NULL && strlen(text) < 256, "video_info_to_json: %s", text);
    json_decref(j);
    if (!in->still_image) {
        video_chunk *ch = NULL;
        size_t n = 0;
        cr_err err = {0};
        cr_status st = video_chunk_plan(in->duration_seconds, 30, &ch, &n, &err);
        FUZZ_CHECK(st == CR_OK || st == CR_ERR_LIMIT, "chunk plan of %g s: %s",
                   in->duration_seconds, cr_err_msg(&err));
        FUZZ_CHECK(st != CR_OK || (n >= 1 && ch[n - 1].end_sec == in->duration_seconds),
                   "chunk plan does not end at the duration");
        cr_free(ch);
    }
}

static void sample(cr_reader *r, const video_info *probed, uint8_t opt, mem_file *f)
{
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    static const double starts[4] = {0, 0.5, 1.0, 2.5}, lengths[4] = {0.5, 1, 2, INFINITY};
    o.start_sec = starts[(opt >> 2) & 3];
    o.end_sec = o.start_sec + lengths[(opt >> 6) & 3];
    o.max_width = opt & 16 ? 48 : 16;
    o.sample_fps = opt & 32 ? 30 : 5;
    video_sampler *s = (video_sampler *)&s;
    cr_err err = {0};
    f->failed = 0;
    cr_status st = video_sampler_open(r, &o, &s, &err);
    if (st != CR_OK) {
        FUZZ_CHECK(s == NULL, "a failed open left a sampler");
        check_status(st, &err, f, "sampler open");
        return;
    }
    const video_info *in = video_sampler_info(s);
    FUZZ_CHECK(f->failed ||
                   (in->width == probed->width && in->height == probed->height &&
                    in->rotation == probed->rotation && in->still_image == probed->still_image),
               "the sampler probed %dx%d rot %d, video_probe %dx%d rot %d", in->width, in->height,
               in->rotation, probed->width, probed->height, probed->rotation);
    double end = in->still_image ? 0 : fmin(o.end_sec, in->duration_seconds);
    int64_t k_first = video_grid_first_k(o.start_sec, o.sample_fps);
    int64_t k_end = video_grid_first_k(end, o.sample_fps);
    int want_w = in->display_width < o.max_width ? in->display_width : o.max_width;
    int64_t last_k = -1;
    int done = 0;
    for (int i = 0; i < FUZZ_MAX_FRAMES && !done; i++) {
        video_frame fr;
        cr_err_clear(&err);
        f->failed = 0;
        st = video_sampler_next(s, &fr, &done, &err);
        if (st != CR_OK) {
            check_status(st, &err, f, "sampler next");
            video_frame again;
            FUZZ_CHECK(video_sampler_next(s, &again, &done, &err) == CR_OK && done,
                       "a sampler went on after an error");
            break;
        }
        if (done)
            break;
        FUZZ_CHECK(fr.rgb != NULL && fr.width == want_w && fr.height >= 1 &&
                       fr.stride >= 3 * fr.width,
                   "frame %dx%d stride %d, want width %d", fr.width, fr.height, fr.stride, want_w);
        if (in->still_image)
            FUZZ_CHECK(fr.k == 0 && fr.t == 0 && fr.pts_sec == 0, "still frame k %lld",
                       (long long)fr.k);
        else
            FUZZ_CHECK(fr.k >= k_first && fr.k < k_end && fr.t == (double)fr.k / o.sample_fps,
                       "frame k %lld t %g outside [%lld, %lld)", (long long)fr.k, fr.t,
                       (long long)k_first, (long long)k_end);
        FUZZ_CHECK(last_k < 0 || fr.k == last_k + 1, "frame k %lld after %lld", (long long)fr.k,
                   (long long)last_k);
        last_k = fr.k;
        unsigned sum = 0; /* every byte of the frame is ours to read */
        for (int y = 0; y < fr.height; y++)
            for (int x = 0; x < 3 * fr.width; x++)
                sum += fr.rgb[(size_t)y * (size_t)fr.stride + (size_t)x];
        (void)sum;
    }
    if (done) {
        video_frame again;
        FUZZ_CHECK(video_sampler_next(s, &again, &done, &err) == CR_OK && done,
                   "a finished sampler produced more");
    }
    video_sampler_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    mem_file f = {data + 1, size - 1, UINT64_MAX, SIZE_MAX, 0};
    if ((opt & 3) == 1)
        f.max_read = 7;
    else if ((opt & 3) == 2)
        f.fail_at = f.n / 2;
    else if ((opt & 3) == 3)
        f.fail_at = f.n / 4 * 3;
    cr_reader *r = NULL;
    cr_err err = {0};
    FUZZ_CHECK(cr_reader_create(&mem_ops, &f, f.n, "fuzz", &r, &err) == CR_OK, "reader: %s",
               cr_err_msg(&err));
    video_info in;
    memset(&in, 0xa5, sizeof in);
    cr_status st = video_probe(r, &in, &err);
    if (st != CR_OK) {
        check_status(st, &err, &f, "probe");
        video_info zero;
        memset(&zero, 0, sizeof zero);
        FUZZ_CHECK(memcmp(&in, &zero, sizeof in) == 0, "a failed probe left video_info set");
    } else {
        check_info(&in);
        if ((long long)in.width * in.height <= FUZZ_MAX_PIXELS)
            sample(r, &in, opt, &f);
    }
    cr_reader_close(r);
    return 0;
}
