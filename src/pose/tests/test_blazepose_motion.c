/*
 * test_blazepose_motion.c -- tracking on the known-motion clip (blazepose_frames.sh:
 * cold_water.jpg moved by a known similarity transform per frame).
 *
 * usage: test_blazepose_motion MOTION_DIR [ENGINE]
 *
 * Video mode.  Each landmark's positions, mapped back through the inverse of the
 * frame's transform, give where the landmark sits on the still; its reference is the
 * median of those over the clip.  Every landmark visible on the first frame must stay
 * within 3 % of the person's height (the bound) of the transformed reference
 * on every frame after the first.  (The first frame's ROI comes from the detector, the
 * others' from tracking; the model places the hips under the sweater ~17 px apart
 * between those crops, so the first frame is not itself the reference.)  The detector
 * runs on the first frame and at most once more; tracking never loses the man.
 */
#include "check.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FRAMES 30
#define FPS 10.0
#define TOLERANCE 0.03 /* of the person's height (the issue) */

/* The clip's transform of frame index k (0-based; ffmpeg's `in` = k + 1), as in
 * blazepose_frames.sh, and its inverse. */
static const double CX = 500, CY = 350;
static void transform(int k, double x, double y, double *ox, double *oy)
{
    double a = 0.5 * M_PI / 180 * k, s = 1 - 0.004 * k, tx = -2.0 * k, ty = 1.0 * k;
    *ox = CX + s * (cos(a) * (x - CX) - sin(a) * (y - CY)) + tx;
    *oy = CY + s * (sin(a) * (x - CX) + cos(a) * (y - CY)) + ty;
}

static void untransform(int k, double x, double y, double *ox, double *oy)
{
    double a = 0.5 * M_PI / 180 * k, s = 1 - 0.004 * k, tx = -2.0 * k, ty = 1.0 * k;
    double dx = (x - tx - CX) / s, dy = (y - ty - CY) / s;
    *ox = CX + cos(a) * dx + sin(a) * dy;
    *oy = CY - sin(a) * dx + cos(a) * dy;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double tmp[FRAMES];
    for (int i = 0; i < n; i++)
        tmp[i] = v[i];
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MOTION_DIR [ENGINE]\n", argv[0]);
        return 2;
    }
    pose_tracker_opts o = {argc > 2 ? argv[2] : NULL, "full", 1, POSE_MODE_VIDEO, NULL};
    pose_tracker *t = NULL;
    cr_err err = {0};
    CHECK_MSG(pose_tracker_create(NULL, &o, &t, &err) == CR_OK, "%s", cr_err_msg(&err));
    if (t == NULL)
        return check_exit();

    static double px[FRAMES][POSE_LM_BODY], py[FRAMES][POSE_LM_BODY]; /* image pixels */
    static double sx[POSE_LM_BODY][FRAMES], sy[POSE_LM_BODY][FRAMES]; /* on the still */
    int visible[POSE_LM_BODY] = {0};
    double height = 0;
    int n = 0;
    for (int k = 0; k < FRAMES; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%04d.png", argv[1], k + 1);
        ptm_frame *f = NULL;
        if (ptm_load(path, 1, 0, &f) != 1) {
            CHECK_MSG(0, "cannot read %s (run blazepose_frames.sh)", path);
            break;
        }
        pose_result r;
        int64_t ts = (int64_t)llround((k + 1) * 1e6 / FPS);
        CHECK_MSG(pose_track_frame(t, f->rgb, f->w, f->h, 3 * f->w, ts, &r, &err) == CR_OK, "%s",
                  cr_err_msg(&err));
        CHECK_MSG(r.detected, "frame %d: no pose", k);
        if (!r.detected) {
            ptm_free(f, 1);
            break;
        }
        double ymin = INFINITY, ymax = -INFINITY;
        for (int i = 0; i < POSE_LM_BODY; i++) {
            px[k][i] = r.landmarks[i].x * f->w;
            py[k][i] = r.landmarks[i].y * f->h;
            untransform(k, px[k][i], py[k][i], &sx[i][k], &sy[i][k]);
            if (k == 0) {
                visible[i] = r.landmarks[i].visibility >= 0.5f;
                ymin = fmin(ymin, py[k][i]);
                ymax = fmax(ymax, py[k][i]);
            }
        }
        if (k == 0)
            height = ymax - ymin;
        n++;
        ptm_free(f, 1);
    }
    CHECK_INT_EQ(n, FRAMES);
    CHECK_MSG(height > 300 && height < 700, "person's height %.0f px", height);

    double worst = 0, sum = 0, worst0 = 0;
    long count = 0;
    int nvis = 0;
    for (int i = 0; i < POSE_LM_BODY && n == FRAMES; i++) {
        if (!visible[i])
            continue;
        nvis++;
        double rx = median(sx[i], n), ry = median(sy[i], n);
        for (int k = 0; k < n; k++) {
            double ex, ey;
            transform(k, rx, ry, &ex, &ey);
            double d = hypot(px[k][i] - ex, py[k][i] - ey);
            if (k == 0) {
                worst0 = fmax(worst0, d);
                continue;
            }
            CHECK_MSG(d <= TOLERANCE * height, "frame %d %s: %.1f px from the transform (%.1f)", k,
                      pose_landmark_names[i], d, TOLERANCE * height);
            worst = fmax(worst, d);
            sum += d;
            count++;
        }
    }
    pose_tracker_stats s;
    pose_tracker_get_stats(t, &s);
    fprintf(stderr,
            "motion (%s): %d frames, detector ran %lld times; %d landmarks visible; distance to "
            "the transformed reference after the first frame: mean %.2f px, worst %.2f px "
            "(%.2f %% of the person's height %.0f px); first frame worst %.2f px\n",
            pose_tracker_engine(t), n, (long long)s.detector_runs, nvis, count ? sum / count : 0,
            worst, height > 0 ? 100 * worst / height : 0, height, worst0);
    CHECK(nvis >= 20);
    CHECK(s.detector_runs >= 1 && s.detector_runs <= 2);
    CHECK_INT_EQ(s.landmark_runs, FRAMES);
    pose_tracker_destroy(t);
    return check_exit();
}
