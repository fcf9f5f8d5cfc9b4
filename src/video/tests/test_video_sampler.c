/*
 * test_video_sampler.c -- the grid sampler on real FFmpeg-decoded video.
 *
 * argv[1]: the folder gen_media.sh filled.  Every generated clip shows its frame
 * number as 8 bits in a 4x2 grid of blocks, so each sampled t_k is checked against
 * the source frame that DESIGN.md §6 says it must get: the last frame whose
 * presentation time is <= t_k.  For several chunk lengths the union of all chunks
 * must equal sampling the whole video: same k, same source frame, same pixels.
 */
#include "check.h"
#include "core/mem.h"
#include "core/reader.h"
#include "video/video.h"

#include <stdint.h>
#include <unistd.h>

static const char *dir;
/* the decoding shortcuts sample() asks for (video_sampler_opts) */
static int opt_skip_gop_tails = 1, opt_skip_deblock = 0;
static int opt_kf_start = 0, opt_kf_end = 0; /* keyframe bounds, with opt_kf_reach */
static double opt_kf_reach = 0;
static video_frame_pool *opt_pool = NULL; /* the decoder's picture buffers (NULL: its own) */
static int opt_threads = 1;
static int opt_read_ahead = 0; /* video_sampler_opts.read_ahead */
static int opt_source = 0;     /* video_sampler_opts.source: rec.src_hash */
static int opt_linger_us = 0;  /* a pause before a frame is read (the read-ahead runs on) */

typedef struct rec {
    int64_t k;
    double t, pts;
    int w, h;
    int n;             /* frame number read from the pixels, -1 when not a pattern clip */
    uint64_t hash;     /* FNV-1a of the pixels */
    uint64_t src_hash; /* of the source picture's (opt_source), else 0 */
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
    uint64_t bytes_read, file_bytes;
    video_sampler_stats stats;
} recs;

static uint64_t fnv_rows(uint64_t h, const uint8_t *p, int row_bytes, int rows, int stride)
{
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < row_bytes; x++) {
            h ^= p[(size_t)y * stride + x];
            h *= 1099511628211ULL;
        }
    return h;
}

static uint64_t fnv(const video_frame *f)
{
    return fnv_rows(1469598103934665603ULL, f->rgb, 3 * f->width, f->height, f->stride);
}

/* FNV-1a of the source picture's planes */
static uint64_t fnv_src(const video_picture *p)
{
    uint64_t h = 1469598103934665603ULL;
    if (p->format == VIDEO_PIX_RGB24)
        return fnv_rows(h, p->data[0], 3 * p->width, p->height, p->stride[0]);
    h = fnv_rows(h, p->data[0], p->width, p->height, p->stride[0]);
    for (int i = 1; i < 3; i++)
        h = fnv_rows(h, p->data[i], (p->width + 1) / 2, (p->height + 1) / 2, p->stride[i]);
    return h;
}

/* Reads the 8-bit frame number.  (u, v) of bit b is its block centre in stored
 * normalized coordinates; `rot` maps it to the displayed frame. */
static int read_number(const video_frame *f, int rot)
{
    int n = 0;
    for (int b = 0; b < 8; b++) {
        double u = ((b % 4) + 0.5) / 4.0, v = ((b / 4) + 0.5) / 2.0, du, dv;
        switch (rot) {
        case 90:
            du = 1 - v;
            dv = u;
            break;
        case 180:
            du = 1 - u;
            dv = 1 - v;
            break;
        case 270:
            du = v;
            dv = 1 - u;
            break;
        default:
            du = u;
            dv = v;
        }
        int x = (int)(du * f->width), y = (int)(dv * f->height);
        const uint8_t *p = f->rgb + (size_t)y * f->stride + 3 * x;
        if (p[0] > 128)
            n |= 1 << b;
    }
    return n;
}

static void path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Samples [start, end) of `file` into `out` (appending).  Returns the status. */
static cr_status sample(const char *file, double start, double end, double fps, int max_width,
                        int pattern, recs *out)
{
    char p[1024];
    if (file[0] == '/' || strncmp(file, "media/", 6) == 0)
        snprintf(p, sizeof p, "%s", file);
    else
        path_of(p, sizeof p, file);
    cr_err err = {0};
    cr_reader *r = NULL;
    cr_status st = cr_reader_open_file(p, &r, &err);
    if (st != CR_OK) {
        fprintf(stderr, "%s\n", cr_err_msg(&err));
        return st;
    }
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.start_sec = start;
    o.end_sec = end;
    o.sample_fps = fps;
    o.max_width = max_width;
    o.skip_gop_tails = opt_skip_gop_tails;
    o.skip_deblock = opt_skip_deblock;
    o.keyframe_start = opt_kf_start;
    o.keyframe_end = opt_kf_end;
    o.keyframe_reach = opt_kf_reach;
    o.frame_pool = opt_pool;
    o.threads = opt_threads;
    o.read_ahead = opt_read_ahead;
    o.source = opt_source;
    video_sampler *s = NULL;
    st = video_sampler_open(r, &o, &s, &err);
    int rot = st == CR_OK ? video_sampler_info(s)->rotation : 0;
    while (st == CR_OK) {
        video_frame f;
        int done = 0;
        st = video_sampler_next(s, &f, &done, &err);
        if (st != CR_OK || done)
            break;
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 64;
            out->v = realloc(out->v, out->cap * sizeof *out->v);
        }
        if (opt_linger_us > 0)
            usleep((useconds_t)opt_linger_us);
        rec *e = &out->v[out->n++];
        e->k = f.k;
        e->t = f.t;
        e->pts = f.pts_sec;
        e->w = f.width;
        e->h = f.height;
        e->n = pattern ? read_number(&f, rot) : -1;
        e->hash = fnv(&f);
        e->src_hash = opt_source ? fnv_src(&f.src) : 0;
    }
    if (st != CR_OK)
        fprintf(stderr, "%s [%g, %g): %s\n", p, start, end, cr_err_msg(&err));
    if (s)
        video_sampler_get_stats(s, &out->stats);
    out->bytes_read += cr_reader_bytes_read(r);
    out->file_bytes = cr_reader_size(r);
    video_sampler_close(s);
    cr_reader_close(r);
    return st;
}

static video_info probe(const char *name)
{
    char p[1024];
    if (name[0] == '/' || strncmp(name, "media/", 6) == 0)
        snprintf(p, sizeof p, "%s", name);
    else
        path_of(p, sizeof p, name);
    video_info in;
    memset(&in, 0, sizeof in);
    cr_err err = {0};
    cr_reader *r = NULL;
    if (cr_reader_open_file(p, &r, &err) == CR_OK) {
        cr_status st = video_probe(r, &in, &err);
        CHECK_MSG(st == CR_OK, "probe %s: %s", p, cr_err_msg(&err));
    } else {
        CHECK_MSG(0, "%s", cr_err_msg(&err));
    }
    cr_reader_close(r);
    return in;
}

/* Presentation time of frame n of a generated clip (gen_media.sh). */
typedef double (*pts_fn)(int n);
static double pts25(int n)
{
    return n / 25.0;
}
static double pts30(int n)
{
    return n / 30.0;
}
static double pts2997(int n)
{
    return n * 1001.0 / 30000.0;
}
static double ptsvfr(int n)
{
    return (n + 2 * (n / 4)) / 30.0;
}

/* The frame DESIGN.md §6 assigns to t: the last n < nframes with pts(n) <= t. */
static int expected_frame(pts_fn f, int nframes, double t)
{
    int best = 0;
    for (int n = 0; n < nframes; n++)
        if (f(n) <= t + 1e-6)
            best = n;
    return best;
}

static void check_union(const char *file, double duration, double fps, int max_width, int pattern,
                        const recs *whole)
{
    const int lens[] = {1, 2, 3};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        video_chunk *ch = NULL;
        size_t nch = 0;
        cr_err err = {0};
        CHECK(video_chunk_plan(duration, lens[li], &ch, &nch, &err) == CR_OK);
        recs u = {0};
        for (size_t i = 0; i < nch; i++)
            CHECK(sample(file, ch[i].start_sec, ch[i].end_sec, fps, max_width, pattern, &u) ==
                  CR_OK);
        CHECK_MSG(u.n == whole->n, "%s chunks of %ds: %zu frames, whole: %zu", file, lens[li], u.n,
                  whole->n);
        for (size_t i = 0; i < u.n && i < whole->n; i++) {
            const rec *a = &u.v[i], *b = &whole->v[i];
            CHECK_MSG(a->k == b->k && a->pts == b->pts && a->hash == b->hash,
                      "%s chunks of %ds, #%zu: k %lld/%lld pts %.4f/%.4f hash %s", file, lens[li],
                      i, (long long)a->k, (long long)b->k, a->pts, b->pts,
                      a->hash == b->hash ? "same" : "differs");
        }
        free(u.v);
        cr_free(ch);
    }
}

/* One generated clip: probe, whole sampling checked frame by frame, chunk unions. */
static void check_clip(const char *file, pts_fn pf, int nframes, double fps_expect, int vfr,
                       int rot, double sample_fps, int max_width, int want_w, int want_h)
{
    video_info in = probe(file);
    CHECK_NEAR(in.fps, fps_expect, 0.01);
    CHECK_INT_EQ(in.variable_frame_rate, vfr);
    CHECK_INT_EQ(in.rotation, rot);
    CHECK_INT_EQ(in.still_image, 0);
    CHECK_STR_EQ(in.codec, "h264");
    double last = pf(nframes - 1);
    CHECK_MSG(in.duration_seconds > last && in.duration_seconds < last + 0.2,
              "%s: duration %.3f, last frame at %.3f", file, in.duration_seconds, last);

    recs w = {0};
    CHECK(sample(file, 0, INFINITY, sample_fps, max_width, 1, &w) == CR_OK);
    int64_t kend = video_grid_first_k(in.duration_seconds, sample_fps);
    CHECK_MSG((int64_t)w.n == kend, "%s: %zu frames, want %lld", file, w.n, (long long)kend);
    int bad = 0;
    for (size_t i = 0; i < w.n; i++) {
        const rec *e = &w.v[i];
        int want = expected_frame(pf, nframes, e->t);
        if (e->k != (int64_t)i || e->n != want || fabs(e->pts - pf(want)) > 1e-3 ||
            e->w != want_w || e->h != want_h) {
            if (bad++ < 5)
                CHECK_MSG(0,
                          "%s k=%lld t=%.4f: frame %d pts %.4f size %dx%d; want frame %d pts %.4f "
                          "size %dx%d",
                          file, (long long)e->k, e->t, e->n, e->pts, e->w, e->h, want, pf(want),
                          want_w, want_h);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d wrong frames", file, bad);
    check_union(file, in.duration_seconds, sample_fps, max_width, 1, &w);
    free(w.v);
}

/* Rotation: the rotated clip's frames are the plain clip's frames turned by hand. */
static void check_rotation_pixels(const char *file, int rot)
{
    char p1[1024], p2[1024];
    path_of(p1, sizeof p1, "cfr30.mp4");
    path_of(p2, sizeof p2, file);
    cr_err err = {0};
    cr_reader *r1 = NULL, *r2 = NULL;
    video_sampler *s1 = NULL, *s2 = NULL;
    CHECK(cr_reader_open_file(p1, &r1, &err) == CR_OK);
    CHECK(cr_reader_open_file(p2, &r2, &err) == CR_OK);
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.start_sec = 1.0;
    o.end_sec = 1.5;
    CHECK(video_sampler_open(r1, &o, &s1, &err) == CR_OK);
    CHECK(video_sampler_open(r2, &o, &s2, &err) == CR_OK);
    int frames = 0, diff = 0;
    for (;;) {
        video_frame a, b;
        int d1 = 1, d2 = 1;
        if (video_sampler_next(s1, &a, &d1, &err) != CR_OK ||
            video_sampler_next(s2, &b, &d2, &err) != CR_OK || d1 || d2) {
            CHECK(d1 && d2);
            break;
        }
        frames++;
        int swap = rot == 90 || rot == 270;
        CHECK_INT_EQ(b.width, swap ? a.height : a.width);
        CHECK_INT_EQ(b.height, swap ? a.width : a.height);
        for (int y = 0; y < b.height && b.width == (swap ? a.height : a.width); y++)
            for (int x = 0; x < b.width; x++) {
                int sx, sy; /* a's pixel shown at (x, y) of b */
                if (rot == 90) {
                    sx = y;
                    sy = a.height - 1 - x;
                } else if (rot == 180) {
                    sx = a.width - 1 - x;
                    sy = a.height - 1 - y;
                } else {
                    sx = a.width - 1 - y;
                    sy = x;
                }
                if (memcmp(b.rgb + (size_t)y * b.stride + 3 * x,
                           a.rgb + (size_t)sy * a.stride + 3 * sx, 3) != 0)
                    diff++;
            }
    }
    CHECK_INT_EQ(frames, 5);
    CHECK_MSG(diff == 0, "%s: %d pixels differ from the turned plain clip", file, diff);
    video_sampler_close(s1);
    video_sampler_close(s2);
    cr_reader_close(r1);
    cr_reader_close(r2);
}

static void check_still(const char *file, int want_w, int want_h, int max_width)
{
    video_info in = probe(file);
    CHECK_INT_EQ(in.still_image, 1);
    CHECK_STR_EQ(in.codec, "mjpeg");
    recs r = {0};
    CHECK(sample(file, 0, INFINITY, 10, max_width, 0, &r) == CR_OK);
    CHECK_INT_EQ(r.n, 1);
    if (r.n == 1) {
        CHECK_INT_EQ(r.v[0].k, 0);
        CHECK(r.v[0].t == 0 && r.v[0].pts == 0);
        CHECK_INT_EQ(r.v[0].w, want_w);
        CHECK_INT_EQ(r.v[0].h, want_h);
    }
    free(r.v);
    /* a range without t = 0 has no frame of a still */
    recs r2 = {0};
    CHECK(sample(file, 1, 2, 10, max_width, 0, &r2) == CR_OK);
    CHECK_INT_EQ(r2.n, 0);
    free(r2.v);
}

/* messi5.jpg unscaled against FFmpeg's own RGB conversion of it. */
static void check_still_pixels(void)
{
    char p[1024];
    path_of(p, sizeof p, "messi5.rgb");
    FILE *fp = fopen(p, "rb");
    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    size_t n = 548 * 342 * 3;
    uint8_t *ref = malloc(n);
    CHECK(fread(ref, 1, n, fp) == n);
    fclose(fp);
    cr_err err = {0};
    cr_reader *r = NULL;
    video_sampler *s = NULL;
    CHECK(cr_reader_open_file("media/messi5.jpg", &r, &err) == CR_OK);
    CHECK(video_sampler_open(r, NULL, &s, &err) == CR_OK);
    video_frame f;
    int done = 1;
    CHECK(s && video_sampler_next(s, &f, &done, &err) == CR_OK && !done);
    if (!done && f.width == 548 && f.height == 342) {
        double sum = 0;
        for (int y = 0; y < 342; y++)
            for (int x = 0; x < 548 * 3; x++)
                sum += abs((int)f.rgb[(size_t)y * f.stride + x] - ref[(size_t)y * 548 * 3 + x]);
        double mad = sum / (double)n;
        CHECK_MSG(mad < 3.0, "messi5: mean abs difference %.2f from ffmpeg's rgb24", mad);
    } else {
        CHECK_MSG(0, "messi5: no 548x342 frame");
    }
    video_sampler_close(s);
    cr_reader_close(r);
    free(ref);
}

/* vtest.avi: 768x576 msmpeg4v3 at 10 fps, 79.5 s, with repeated (empty) frames. */
static void check_vtest(void)
{
    video_info in = probe("media/vtest.avi");
    CHECK_STR_EQ(in.codec, "msmpeg4v3");
    CHECK_NEAR(in.fps, 10, 1e-6);
    CHECK_INT_EQ(in.width, 768);
    CHECK_INT_EQ(in.height, 576);
    CHECK_NEAR(in.duration_seconds, 79.5, 0.05);
    recs w = {0};
    CHECK(sample("media/vtest.avi", 0, INFINITY, 10, 160, 0, &w) == CR_OK);
    CHECK_INT_EQ(w.n, video_grid_first_k(in.duration_seconds, 10));
    for (size_t i = 0; i < w.n; i++) {
        CHECK(w.v[i].pts <= w.v[i].t + 1e-6 && w.v[i].pts > w.v[i].t - 1.0);
        CHECK(w.v[i].w == 160 && w.v[i].h == 120);
    }
    /* chunks of 7 s and 30 s give the same frames */
    const int lens[] = {7, 30};
    for (int li = 0; li < 2; li++) {
        video_chunk *ch = NULL;
        size_t nch = 0;
        cr_err err = {0};
        CHECK(video_chunk_plan(in.duration_seconds, lens[li], &ch, &nch, &err) == CR_OK);
        recs u = {0};
        for (size_t i = 0; i < nch; i++)
            CHECK(sample("media/vtest.avi", ch[i].start_sec, ch[i].end_sec, 10, 160, 0, &u) ==
                  CR_OK);
        CHECK_INT_EQ(u.n, w.n);
        int bad = 0;
        for (size_t i = 0; i < u.n && i < w.n; i++)
            bad += u.v[i].k != w.v[i].k || u.v[i].pts != w.v[i].pts || u.v[i].hash != w.v[i].hash;
        CHECK_MSG(bad == 0, "vtest.avi chunks of %d s: %d frames differ", lens[li], bad);
        free(u.v);
        cr_free(ch);
    }
    /* the last 30 s chunk reads far less than the file */
    recs c = {0};
    CHECK(sample("media/vtest.avi", 60, 79.5, 10, 160, 0, &c) == CR_OK);
    CHECK_MSG(c.bytes_read < c.file_bytes / 2, "chunk read %llu of %llu bytes",
              (unsigned long long)c.bytes_read, (unsigned long long)c.file_bytes);
    free(c.v);
    free(w.v);
}

/* Non-reference frames off the grid are not decoded. */
static void check_skipping(void)
{
    recs w = {0};
    CHECK(sample("cfr30.mp4", 0, INFINITY, 5, 640, 1, &w) == CR_OK);
    CHECK_MSG(w.stats.packets_skipped > 0, "no packet skipped (decoded %lld)",
              (long long)w.stats.packets_decoded);
    /* every packet is either decoded or skipped (the last few need not be read) */
    CHECK(w.stats.packets_skipped + w.stats.packets_decoded <= 120);
    CHECK(w.stats.packets_skipped + w.stats.packets_decoded >= 115);
    free(w.v);
}

/* GOP tails: the frames before an IDR that no grid point needs are not decoded, and
 * the output is the same as decoding them, bit for bit, whole or in chunks. */
static void check_gop_tails(void)
{
    recs exact = {0}, fast = {0}, chunked = {0};
    opt_skip_gop_tails = 0;
    CHECK(sample("gop30.mp4", 0, INFINITY, 10, 640, 1, &exact) == CR_OK);
    opt_skip_gop_tails = 1;
    CHECK(sample("gop30.mp4", 0, INFINITY, 10, 640, 1, &fast) == CR_OK);
    CHECK(exact.stats.packets_skipped_gop_tail == 0);
    /* frames 28 and 29 of each of the first three seconds (the fourth has no IDR after it) */
    CHECK_MSG(fast.stats.packets_skipped_gop_tail == 6, "%lld GOP-tail packets skipped",
              (long long)fast.stats.packets_skipped_gop_tail);
    CHECK(fast.stats.packets_decoded + fast.stats.packets_skipped_gop_tail ==
          exact.stats.packets_decoded);
    /* chunks that end inside a GOP (1.45 s) and start inside one */
    CHECK(sample("gop30.mp4", 0, 1.45, 10, 640, 1, &chunked) == CR_OK);
    CHECK(sample("gop30.mp4", 1.45, 2.95, 10, 640, 1, &chunked) == CR_OK);
    CHECK(sample("gop30.mp4", 2.95, INFINITY, 10, 640, 1, &chunked) == CR_OK);
    CHECK_INT_EQ(fast.n, exact.n);
    CHECK_INT_EQ(chunked.n, exact.n);
    int bad = 0;
    for (size_t i = 0; i < exact.n && i < fast.n && i < chunked.n; i++)
        bad += fast.v[i].hash != exact.v[i].hash || fast.v[i].k != exact.v[i].k ||
               fast.v[i].pts != exact.v[i].pts || chunked.v[i].hash != exact.v[i].hash ||
               fast.v[i].n != expected_frame(pts30, 120, exact.v[i].t);
    CHECK_MSG(bad == 0, "%d frames differ with GOP tails skipped", bad);
    free(exact.v);
    free(fast.v);
    free(chunked.v);

    /* B-frames, GOP 12 (cfr30.mp4): sampling at 2 fps leaves whole GOP tails out */
    recs e2 = {0}, f2 = {0};
    opt_skip_gop_tails = 0;
    CHECK(sample("cfr30.mp4", 0, INFINITY, 2, 640, 1, &e2) == CR_OK);
    opt_skip_gop_tails = 1;
    CHECK(sample("cfr30.mp4", 0, INFINITY, 2, 640, 1, &f2) == CR_OK);
    CHECK_MSG(f2.stats.packets_skipped_gop_tail > 0, "no GOP-tail packet skipped in cfr30.mp4");
    CHECK_INT_EQ(f2.n, e2.n);
    bad = 0;
    for (size_t i = 0; i < e2.n && i < f2.n; i++)
        bad += f2.v[i].hash != e2.v[i].hash || f2.v[i].n != expected_frame(pts30, 120, e2.v[i].t);
    CHECK_MSG(bad == 0, "%d frames of cfr30.mp4 differ with GOP tails skipped", bad);
    free(e2.v);
    free(f2.v);
}

/* Keyframe bounds: ranges [0, 1.5), [1.5, 3), [3, end) with their shared boundaries
 * moved to keyframes give every grid point once, the same frames as one whole pass,
 * and decode fewer packets than without (the pre-roll from the keyframe before 1.5 is
 * no longer decoded twice).  `moved_to`: where the second range must start (the
 * keyframe at or before 1.5 s), or 1.5 where nothing may move. */
static void check_keyframe_bounds(const char *file, double moved_to, int nframes)
{
    video_sampler_opts d; /* the defaults move nothing, whatever the struct held */
    memset(&d, 0xA5, sizeof d);
    video_sampler_opts_default(&d);
    CHECK(d.keyframe_start == 0 && d.keyframe_end == 0 && d.keyframe_reach == 0);
    recs whole = {0}, plain = {0}, bound = {0};
    CHECK(sample(file, 0, INFINITY, 10, 640, 1, &whole) == CR_OK);
    const double cuts[] = {0, 1.5, 3.0, INFINITY};
    uint64_t decoded_plain = 0, decoded_bound = 0;
    int64_t first_k = -1;
    for (int i = 0; i < 3; i++) {
        size_t before = bound.n;
        CHECK(sample(file, cuts[i], cuts[i + 1], 10, 640, 1, &plain) == CR_OK);
        decoded_plain += plain.stats.packets_decoded;
        opt_kf_start = i > 0;
        opt_kf_end = i < 2;
        opt_kf_reach = 0.75; /* half the ranges' length */
        CHECK(sample(file, cuts[i], cuts[i + 1], 10, 640, 1, &bound) == CR_OK);
        opt_kf_start = opt_kf_end = 0;
        opt_kf_reach = 0;
        decoded_bound += bound.stats.packets_decoded;
        if (i == 1 && bound.n > before)
            first_k = bound.v[before].k;
    }
    CHECK_INT_EQ(plain.n, whole.n);
    CHECK_INT_EQ(bound.n, whole.n);
    int bad = 0;
    for (size_t i = 0; i < whole.n && i < bound.n; i++)
        bad += bound.v[i].k != whole.v[i].k || bound.v[i].pts != whole.v[i].pts ||
               bound.v[i].hash != whole.v[i].hash ||
               bound.v[i].n != expected_frame(pts30, nframes, whole.v[i].t);
    CHECK_MSG(bad == 0, "%s: %d frames differ with keyframe bounds", file, bad);
    CHECK_MSG(first_k == video_grid_first_k(moved_to, 10), "%s: second range starts at k %lld",
              file, (long long)first_k);
    if (moved_to < 1.5)
        CHECK_MSG(decoded_bound < decoded_plain,
                  "%s: %llu packets decoded with bounds, %llu without", file,
                  (unsigned long long)decoded_bound, (unsigned long long)decoded_plain);
    else
        CHECK_INT_EQ(decoded_bound, decoded_plain);
    free(whole.v);
    free(plain.v);
    free(bound.v);
}

/* skip_deblock: the frames no grid point shows are decoded without deblocking; the
 * sampled ones are still the right frames. */
static void check_skip_deblock(void)
{
    recs w = {0};
    opt_skip_deblock = 1;
    CHECK(sample("gop30.mp4", 0, INFINITY, 10, 640, 1, &w) == CR_OK);
    opt_skip_deblock = 0;
    /* 2 of every 3 frames are not shown; the GOP tails are not decoded at all */
    CHECK_MSG(w.stats.packets_undeblocked >= 70 && w.stats.packets_undeblocked <= 80,
              "%lld packets decoded without deblocking", (long long)w.stats.packets_undeblocked);
    CHECK_INT_EQ(w.n, 40);
    int bad = 0;
    for (size_t i = 0; i < w.n; i++)
        bad += w.v[i].n != expected_frame(pts30, 120, w.v[i].t);
    CHECK_MSG(bad == 0, "%d wrong frames with deblocking skipped", bad);
    free(w.v);
}

/* Audio going on after the video: the grid runs to the container's end and the
 * last video frame holds; this is not a truncated file. */
static void check_long_audio(void)
{
    video_info in = probe("longaudio.mp4");
    CHECK_MSG(in.duration_seconds > 3.9 && in.duration_seconds < 4.2, "duration %.3f",
              in.duration_seconds);
    recs w = {0};
    CHECK(sample("longaudio.mp4", 0, INFINITY, 10, 640, 1, &w) == CR_OK);
    CHECK_INT_EQ(w.n, video_grid_first_k(in.duration_seconds, 10));
    int bad = 0;
    for (size_t i = 0; i < w.n; i++)
        bad += w.v[i].n != expected_frame(pts30, 60, w.v[i].t);
    CHECK_MSG(bad == 0, "longaudio.mp4: %d wrong frames", bad);
    if (w.n > 0)
        CHECK_INT_EQ(w.v[w.n - 1].n, 59);
    free(w.v);
}

/* The source picture (opts.source) against the scaled RGB24 picture of the same
 * frame, unscaled (max_width above the width): same size after `rotation`, and the same
 * pixels through the rotation (BT.601, nearest chroma sample here, so only a mean
 * difference is bounded); with opts.rgb = 0 no RGB24 picture at all. */
static void check_source(const char *name, int rotation, int want_format)
{
    char p[1024];
    path_of(p, sizeof p, name);
    cr_err err = {0};
    cr_reader *r = NULL;
    CHECK(cr_reader_open_file(p, &r, &err) == CR_OK);
    for (int pass = 0; pass < 2 && r != NULL; pass++) {
        video_sampler_opts o;
        video_sampler_opts_default(&o);
        o.end_sec = 1.0;
        o.max_width = 4096;
        o.source = 1;
        o.rgb = pass == 0;
        video_sampler *s = NULL;
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_OK);
        int frames = 0;
        double worst_mad = 0;
        for (;;) {
            video_frame f;
            int done = 1;
            if (s == NULL || video_sampler_next(s, &f, &done, &err) != CR_OK || done)
                break;
            frames++;
            const video_picture *src = &f.src;
            CHECK(src->format == want_format && src->rotation == rotation);
            int swap = rotation == 90 || rotation == 270;
            CHECK(f.width == (swap ? src->height : src->width));
            CHECK(f.height == (swap ? src->width : src->height));
            if (pass == 1) {
                CHECK(f.rgb == NULL);
                continue;
            }
            double sum = 0;
            for (int y = 0; y < f.height; y++)
                for (int x = 0; x < f.width; x++) {
                    int sx = x, sy = y; /* display -> stored, video.c's rotation */
                    if (rotation == 90)
                        sx = y, sy = src->height - 1 - x;
                    else if (rotation == 180)
                        sx = src->width - 1 - x, sy = src->height - 1 - y;
                    else if (rotation == 270)
                        sx = src->width - 1 - y, sy = x;
                    double rgb[3];
                    if (src->format == VIDEO_PIX_RGB24) {
                        for (int c = 0; c < 3; c++)
                            rgb[c] = src->data[0][(size_t)sy * src->stride[0] + 3 * sx + c];
                    } else {
                        double yy =
                            (src->data[0][(size_t)sy * src->stride[0] + sx] - 16) * 255.0 / 219;
                        double cb =
                            (src->data[1][(size_t)(sy / 2) * src->stride[1] + sx / 2] - 128) *
                            255.0 / 224;
                        double cr =
                            (src->data[2][(size_t)(sy / 2) * src->stride[2] + sx / 2] - 128) *
                            255.0 / 224;
                        rgb[0] = yy + 1.402 * cr;
                        rgb[1] = yy - 0.344136 * cb - 0.714136 * cr;
                        rgb[2] = yy + 1.772 * cb;
                    }
                    for (int c = 0; c < 3; c++) {
                        double v = rgb[c] < 0 ? 0 : (rgb[c] > 255 ? 255 : rgb[c]);
                        sum += fabs(v - f.rgb[(size_t)y * f.stride + 3 * x + c]);
                    }
                }
            double mad = sum / (3.0 * f.width * f.height);
            if (mad > worst_mad)
                worst_mad = mad;
        }
        CHECK_MSG(frames == 10, "%s: %d frames", name, frames);
        if (pass == 0)
            CHECK_MSG(worst_mad < 6.0, "%s: source and RGB24 differ by %.2f on average", name,
                      worst_mad);
        video_sampler_close(s);
    }
    cr_reader_close(r);
}

/* The same frames whether the decoder's pictures come from a frame pool or its own,
 * one thread or frame threads; a pool's buffers serve the next sampler again. */
static int same_frames(const recs *a, const recs *b)
{
    if (a->n != b->n || a->n == 0)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].k != b->v[i].k || a->v[i].hash != b->v[i].hash)
            return 0;
    return 1;
}

static void check_frame_pool(void)
{
    static const char *const files[] = {"cfr30.mp4", "odd.mp4", "gop30.mp4"};
    video_frame_pool *pool = NULL;
    cr_err err = {0};
    CHECK(video_frame_pool_create(&pool, &err) == CR_OK);
    CHECK_INT_EQ(video_frame_pool_allocations(pool), 0);
    recs own[3] = {{0}};
    int64_t after_first = 0;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3; i++) {
            recs got = {0};
            opt_pool = round == 0 ? NULL : pool;
            opt_threads = round == 2 && i == 0 ? 3 : 1;
            CHECK(sample(files[i], 0, 4.0, 30, 4096, 0, round == 0 ? &own[i] : &got) == CR_OK);
            if (round > 0)
                CHECK_MSG(same_frames(&own[i], &got), "%s: other frames from the pool (round %d)",
                          files[i], round);
            free(got.v);
            if (round == 1 && i == 2)
                after_first = video_frame_pool_allocations(pool);
        }
    opt_pool = NULL;
    opt_threads = 1;
    printf("frame pool: %lld buffers for three videos, %lld after the second round\n",
           (long long)after_first, (long long)video_frame_pool_allocations(pool));
    /* the first round through the pool made its buffers; one thread again needs none,
     * frame threads (three pictures in flight at once) may add a few */
    CHECK(after_first > 0);
    int64_t before = video_frame_pool_allocations(pool);
    recs again = {0};
    opt_pool = pool;
    CHECK(sample(files[1], 0, 4.0, 30, 4096, 0, &again) == CR_OK);
    opt_pool = NULL;
    CHECK(same_frames(&own[1], &again));
    CHECK_INT_EQ(video_frame_pool_allocations(pool), before);
    free(again.v);
    for (int i = 0; i < 3; i++)
        free(own[i].v);
    video_frame_pool_destroy(pool);
    video_frame_pool_destroy(NULL);
}

/* Read-ahead (video_sampler_opts.read_ahead): the same frames, source pictures and
 * decoding counters as without, with the frame pool and frame threads too, while the
 * caller lingers on each frame so the thread runs ahead of it and fills its ring: a
 * frame it overwrote before the next call would hash differently.  The clips cover
 * the rotated output, a source converted to RGB24 (odd.mp4), B-frames skipped and
 * repeats (33.3 fps from 25).  Then a sampler closed in the middle of its range. */
static void check_read_ahead(void)
{
    static const struct {
        const char *file;
        double fps;
    } clips[] = {{"cfr30.mp4", 10},   {"rot90tag.mp4", 10}, {"odd.mp4", 10},
                 {"cfr25.mp4", 33.3}, {"gop30.mp4", 10},    {"vfr.mp4", 24}};
    video_frame_pool *pool = NULL;
    cr_err err = {0};
    CHECK(video_frame_pool_create(&pool, &err) == CR_OK);
    opt_source = 1;
    for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++) {
        recs want = {0};
        opt_read_ahead = opt_linger_us = 0;
        opt_pool = NULL;
        opt_threads = 1;
        CHECK(sample(clips[c].file, 0.3, 3.7, clips[c].fps, 100, 0, &want) == CR_OK);
        CHECK(want.n > 10);
        for (int ahead = 1; ahead <= VIDEO_READ_AHEAD_MAX; ahead++) {
            recs got = {0};
            opt_read_ahead = ahead;
            opt_linger_us = ahead == 2 ? 2000 : 0;
            opt_pool = ahead >= 3 ? pool : NULL;
            opt_threads = ahead == 4 ? 3 : 1;
            CHECK(sample(clips[c].file, 0.3, 3.7, clips[c].fps, 100, 0, &got) == CR_OK);
            int same = same_frames(&want, &got);
            for (size_t i = 0; same && i < got.n; i++)
                same = got.v[i].src_hash == want.v[i].src_hash && got.v[i].pts == want.v[i].pts;
            CHECK_MSG(same, "%s at %g fps, %d ahead: other frames than without", clips[c].file,
                      clips[c].fps, ahead);
            /* frame threads hand more packets to the decoder before the last frame */
            CHECK_MSG(opt_threads > 1 || (got.stats.packets_decoded == want.stats.packets_decoded &&
                                          got.stats.packets_skipped == want.stats.packets_skipped &&
                                          got.stats.frames_decoded == want.stats.frames_decoded),
                      "%s, %d ahead: decoded %lld packets, skipped %lld (without: %lld, %lld)",
                      clips[c].file, ahead, (long long)got.stats.packets_decoded,
                      (long long)got.stats.packets_skipped, (long long)want.stats.packets_decoded,
                      (long long)want.stats.packets_skipped);
            free(got.v);
        }
        free(want.v);
    }
    opt_source = 0;
    opt_read_ahead = 0;
    opt_linger_us = 0;
    opt_pool = NULL;
    opt_threads = 1;

    /* closed with frames made ahead and the thread waiting for a free slot; then
     * closed at once after the open (the thread in its first frame) */
    char p[1024];
    path_of(p, sizeof p, "cfr30.mp4");
    for (int taken = 0; taken <= 2; taken += 2) {
        cr_reader *r = NULL;
        CHECK(cr_reader_open_file(p, &r, &err) == CR_OK);
        video_sampler_opts o;
        video_sampler_opts_default(&o);
        o.read_ahead = 2;
        o.frame_pool = pool;
        video_sampler *s = NULL;
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_OK);
        for (int i = 0; i < taken && s != NULL; i++) {
            video_frame f;
            int done = 1;
            CHECK(video_sampler_next(s, &f, &done, &err) == CR_OK && !done && f.k == i);
        }
        if (taken > 0)
            usleep(20000); /* the thread fills its ring and waits */
        video_sampler_close(s);
        cr_reader_close(r);
    }
    video_frame_pool_destroy(pool);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_video_sampler MEDIA_DIR\n");
        return 2;
    }
    dir = argv[1];
    check_clip("cfr25.mp4", pts25, 100, 25, 0, 0, 10, 640, 160, 120);
    check_clip("cfr30.mp4", pts30, 120, 30, 0, 0, 10, 640, 160, 120);
    check_clip("cfr2997.mp4", pts2997, 120, 29.97, 0, 0, 10, 640, 160, 120);
    /* denser than the video and off its frame times: many repeats */
    check_clip("cfr25.mp4", pts25, 100, 25, 0, 0, 33.3, 640, 160, 120);
    check_clip("cfr2997.mp4", pts2997, 120, 29.97, 0, 0, 7.0, 100, 100, 75);
    check_clip("vfr.mp4", ptsvfr, 80, 20.34, 1, 0, 10, 640, 160, 120);
    check_clip("vfr.mp4", ptsvfr, 80, 20.34, 1, 0, 24, 640, 160, 120);
    /* 161x121 scaled to 100 wide: 121 * 100 / 161 = 75.2 -> 75 */
    {
        video_info in = probe("odd.mp4");
        CHECK(in.width == 161 && in.height == 121);
    }
    check_clip("odd.mp4", pts30, 60, 30, 0, 0, 10, 640, 161, 121);
    check_clip("odd.mp4", pts30, 60, 30, 0, 0, 10, 100, 100, 75);
    /* rotation: FFmpeg writes rotate=90 as a display matrix shown 270 clockwise */
    check_clip("rot90tag.mp4", pts30, 120, 30, 0, 270, 10, 640, 120, 160);
    check_clip("rot270tag.mp4", pts30, 120, 30, 0, 90, 10, 100, 100, 133);
    check_clip("rot180tag.mp4", pts30, 120, 30, 0, 180, 10, 640, 160, 120);
    check_rotation_pixels("rot90tag.mp4", 270);
    check_rotation_pixels("rot270tag.mp4", 90);
    check_rotation_pixels("rot180tag.mp4", 180);
    check_source("cfr30.mp4", 0, VIDEO_PIX_YUV420P);
    check_source("rot90tag.mp4", 270, VIDEO_PIX_YUV420P);
    check_source("rot180tag.mp4", 180, VIDEO_PIX_YUV420P);
    check_source("odd.mp4", 0, VIDEO_PIX_RGB24);
    check_skipping();
    check_clip("gop30.mp4", pts30, 120, 30, 0, 0, 10, 640, 160, 120);
    check_gop_tails();
    check_keyframe_bounds("gop30.mp4", 1.0, 120); /* IDR every second */
    /* B-frames: the keyframe before 1.5 s is shown at 1.467 s (decoded at 1.4), less
     * than a grid step before: the same grid points and packets either way */
    check_keyframe_bounds("cfr30.mp4", 1.5, 120);
    check_keyframe_bounds("gop30.mkv", 1.5, 120); /* Matroska: no bound moves */
    check_skip_deblock();
    check_frame_pool();
    check_read_ahead();
    check_long_audio();
    /* stills: 800x533 -> 640 x round(533 * 0.8 = 426.4); 548x342 is not upscaled */
    check_still("media/cold_water.jpg", 640, 426, 640);
    check_still("media/messi5.jpg", 548, 342, 640);
    check_still_pixels();
    check_vtest();
    return check_exit();
}
