/*
 * test_far_players.c -- people far from the camera (far_clips.sh): the sampler's
 * full-resolution picture, the tracker with tiled detection, on 1080p clips of a man
 * 15 % to 40 % of the frame's height moving on a known path; and the subject hint on
 * two men side by side.
 *
 * usage: test_far_players CLIPS_DIR
 *
 * Per size: the share of sampled frames (10 fps, 20 frames) with a pose, which must
 * be >= 95 % from 20 % of the height up (at 15 % it is printed only); and, with the
 * known motion removed (the overlay's corner, far_clips.sh), each landmark's position
 * on the still: for every landmark visible (>= 0.5) on at least half the detected
 * frames, its mean distance from its median position must be within 2 % of the man's
 * height (the clip's scaled region, head to shins).  The figures are printed.
 */
#include "check.h"
#include "core/reader.h"
#include "pipeline/pipeline.h"
#include "pose/pose_tracker.h"
#include "video/video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FPS 10.0
#define MAX_FRAMES 20
#define MIN_RATE 0.95
#define MAX_DEV 0.02 /* of the man's height */

static const char *dir;

/* The overlay's top-left corner at time t for a man h px tall (far_clips.sh). */
static void corner(double t, double h, double *x, double *y)
{
    *x = floor(700 + 0.8 * h * sin(2 * M_PI * t / 3));
    *y = floor(400 + 0.2 * h * sin(2 * M_PI * t / 2));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double tmp[MAX_FRAMES];
    for (int i = 0; i < n; i++)
        tmp[i] = v[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* Tracks `name` (subject hint when `subject`); fills res[] (up to MAX_FRAMES) and the
 * frame times, returns the frame count (-1 on error). */
static int track(pose_tracker *t, const char *name, int subject, float sx, float sy,
                 pose_result *res, double *times)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_err err = {0};
    cr_reader *r = NULL;
    video_sampler *s = NULL;
    int n = -1;
    if (cr_reader_open_file(path, &r, &err) != CR_OK)
        goto done;
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.sample_fps = FPS;
    o.source = 1;
    o.rgb = 0;
    if (video_sampler_open(r, &o, &s, &err) != CR_OK)
        goto done;
    pose_tracker_reset(t);
    if (pose_tracker_set_subject(t, subject, sx, sy, &err) != CR_OK)
        goto done;
    n = 0;
    while (n < MAX_FRAMES) {
        video_frame f;
        int done = 0;
        if (video_sampler_next(s, &f, &done, &err) != CR_OK) {
            n = -1;
            break;
        }
        if (done)
            break;
        pose_image img;
        pipeline_frame_image(&f, &img);
        CHECK(img.format == POSE_PIX_YUV420P && img.width == 1920 && img.height == 1080);
        if (pose_track_image(t, &img, (f.k + 1) * 100000, &res[n], &err) != CR_OK) {
            n = -1;
            break;
        }
        times[n++] = f.t;
    }
done:
    CHECK_MSG(n >= 0, "%s: %s", name, cr_err_msg(&err));
    video_sampler_close(s);
    cr_reader_close(r);
    return n;
}

static void check_size(pose_tracker *t, int size)
{
    static pose_result res[MAX_FRAMES];
    double times[MAX_FRAMES];
    char name[64];
    snprintf(name, sizeof name, "far_%d.mp4", size);
    pose_tracker_stats st0, st1;
    pose_tracker_get_stats(t, &st0);
    int n = track(t, name, 0, 0, 0, res, times);
    pose_tracker_get_stats(t, &st1);
    if (n <= 0)
        return;
    double height = floor((size * 1080 + 50) / 100.0); /* far_clips.sh: the scaled region */
    int detected = 0;
    for (int i = 0; i < n; i++)
        detected += res[i].detected;
    double rate = (double)detected / n;
    double worst = 0, sum = 0;
    int kept = 0;
    for (int lm = 0; lm < POSE_LM_BODY && detected > 0; lm++) {
        double xs[MAX_FRAMES], ys[MAX_FRAMES];
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (!res[i].detected || res[i].landmarks[lm].visibility < 0.5f)
                continue;
            double ox, oy;
            corner(times[i], height, &ox, &oy);
            xs[m] = res[i].landmarks[lm].x * 1920 - ox;
            ys[m] = res[i].landmarks[lm].y * 1080 - oy;
            m++;
        }
        if (m * 2 < detected)
            continue;
        double mx = median(xs, m), my = median(ys, m), dev = 0;
        for (int i = 0; i < m; i++)
            dev += hypot(xs[i] - mx, ys[i] - my);
        dev /= m * height;
        kept++;
        sum += dev;
        if (dev > worst)
            worst = dev;
        if (size >= 20)
            CHECK_MSG(dev <= MAX_DEV, "%d %%: %s moves %.2f %% of the height", size,
                      pose_landmark_names[lm], 100 * dev);
    }
    fprintf(stderr,
            "%2d %% of the height: pose on %d of %d frames (%.0f %%); %d landmarks, mean "
            "deviation %.2f %%, worst %.2f %% of the height; %lld tiled searches, %lld windows\n",
            size, detected, n, 100 * rate, kept, kept ? 100 * sum / kept : 0.0, 100 * worst,
            (long long)(st1.tile_searches - st0.tile_searches),
            (long long)(st1.tile_windows - st0.tile_windows));
    if (size >= 20) {
        CHECK_MSG(rate >= MIN_RATE, "%d %%: pose on %.0f %% of the frames", size, 100 * rate);
        CHECK(kept >= 10);
    }
}

/* Two men, corners (500, 400) and (1200, 400), 30 % of the height (324 px; the region
 * is 313 px wide): the hint on either picks that one, on every frame. */
static void check_subject(pose_tracker *t)
{
    static pose_result res[MAX_FRAMES];
    double times[MAX_FRAMES];
    const double left[2] = {500, 1200};
    for (int which = 0; which < 2; which++) {
        float hx = (float)((left[which] + 156) / 1920.0), hy = (float)((400 + 162) / 1080.0);
        int n = track(t, "two.mp4", 1, hx, hy, res, times);
        int right = 0, detected = 0;
        for (int i = 0; i < n; i++) {
            if (!res[i].detected)
                continue;
            detected++;
            /* the hips' midpoint inside the chosen man's region */
            double x = (res[i].landmarks[23].x + res[i].landmarks[24].x) / 2 * 1920;
            right += x > left[which] && x < left[which] + 313;
        }
        fprintf(stderr, "subject hint (%.3f, %.3f): pose on %d of %d frames, %d on that man\n",
                (double)hx, (double)hy, detected, n, right);
        CHECK_MSG(n > 0 && detected == n && right == n, "hint %d: %d of %d frames on the man",
                  which, right, n);
    }
    cr_err err = {0};
    CHECK(pose_tracker_set_subject(t, 1, 1.5f, 0.5f, &err) == CR_ERR_INVALID);
    CHECK(pose_tracker_set_subject(t, 1, NAN, 0.5f, &err) == CR_ERR_INVALID);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_far_players CLIPS_DIR\n");
        return 2;
    }
    dir = argv[1];
    cr_err err = {0};
    pose_tracker *t = NULL;
    pose_tracker_opts o = {.model = "full", .threads = 1, .mode = POSE_MODE_VIDEO};
    CHECK_MSG(pose_tracker_create(NULL, &o, &t, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK_MSG(t && pose_tracker_enable_tiles(t, &err) == CR_OK, "%s", cr_err_msg(&err));
    if (t != NULL) {
        const int sizes[] = {15, 20, 25, 40};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            check_size(t, sizes[i]);
        check_subject(t);
    }
    pose_tracker_destroy(t);
    return check_exit();
}
