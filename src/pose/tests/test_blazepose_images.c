/*
 * test_blazepose_images.c -- the whole pipeline on real photos (static mode):
 * cold_water.jpg (a standing man, legs cut at the shins) and messi5.jpg (a player
 * lunging).  One person each; anatomical order for the standing man; every point
 * inside a bounding region drawn by hand around each person; and rotating the
 * image by 90 degrees rotates the landmarks.
 *
 * Usage: test_blazepose_images [ENGINE]   (default "ref": the whole pipeline on the
 * reference engine, the yardstick).
 */
#include "check.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *engine = "ref";

static int run_static(pose_tracker *t, const ptm_frame *f, pose_result *r)
{
    cr_err err = {0};
    cr_status st = pose_track_frame(t, f->rgb, f->w, f->h, 3 * f->w, 0, r, &err);
    CHECK_MSG(st == CR_OK, "%s", cr_err_msg(&err));
    return st == CR_OK;
}

static void print_pose(const char *name, const ptm_frame *f, const pose_result *r)
{
    fprintf(stderr, "%s: detected %d score %.3f roi (%.1f,%.1f) %.1f px rot %.3f\n", name,
            r->detected, r->score, r->roi.cx * f->w, r->roi.cy * f->h, r->roi.w * f->w,
            r->roi.rotation);
    for (int i = 0; i < POSE_LM_BODY; i++)
        fprintf(stderr, "  %2d %-17s %7.1f %7.1f vis %.2f\n", i, pose_landmark_names[i],
                r->landmarks[i].x * f->w, r->landmarks[i].y * f->h, r->landmarks[i].visibility);
}

/* All 33 points inside [x0,x1]x[y0,y1] (pixels; the region may extend below the
 * image where the model places the cut-off legs). */
static void check_region(const char *name, const ptm_frame *f, const pose_result *r, double x0,
                         double y0, double x1, double y1)
{
    for (int i = 0; i < POSE_LM_BODY; i++) {
        double x = r->landmarks[i].x * f->w, y = r->landmarks[i].y * f->h;
        CHECK_MSG(x >= x0 && x <= x1 && y >= y0 && y <= y1, "%s: %s at (%.0f, %.0f)", name,
                  pose_landmark_names[i], x, y);
    }
}

static double midy(const pose_result *r, int a, int b)
{
    return (r->landmarks[a].y + r->landmarks[b].y) / 2;
}

static void test_cold_water(pose_tracker *t)
{
    ptm_frame *f;
    int n = ptm_load("media/cold_water.jpg", 1, 0, &f);
    CHECK_INT_EQ(n, 1);
    if (n != 1)
        return;
    pose_result r;
    pose_detection dets[8];
    int nd = 0;
    cr_err err = {0};
    CHECK(pose_tracker_detect(t, f->rgb, f->w, f->h, 3 * f->w, dets, 8, &nd, &err) == CR_OK);
    /* The man is the best detection (the woman in blue on the left may be found too). */
    for (int i = 0; i < nd; i++)
        fprintf(stderr, "cold_water detection %d: score %.3f hips (%.0f, %.0f)\n", i, dets[i].score,
                dets[i].kp[0][0] * f->w, dets[i].kp[0][1] * f->h);
    CHECK(nd >= 1 && nd <= 2);
    CHECK(nd >= 1 && dets[0].kp[0][0] * f->w > 380 && dets[0].kp[0][0] * f->w < 560);
    if (run_static(t, f, &r)) {
        print_pose("cold_water", f, &r);
        CHECK(r.detected);
        CHECK(r.score > 0.9f);
        /* The man in the black sweater stands right of centre (x 270..660, head at y
         * ~165); his shins leave the image at y = 533. */
        check_region("cold_water", f, &r, 250, 140, 680, 800);
        /* Anatomical order, image y grows downwards. */
        const pose_landmark *l = r.landmarks;
        CHECK(l[0].y < midy(&r, 11, 12));
        CHECK(l[11].y < l[23].y && l[12].y < l[24].y);
        CHECK(l[23].y < l[25].y && l[24].y < l[26].y);
        CHECK(l[25].y < l[27].y && l[26].y < l[28].y);
        /* He faces the camera: his left side is on the image's right. */
        CHECK(l[11].x > l[12].x && l[23].x > l[24].x);
        /* Arms spread: wrists beyond the shoulders. */
        CHECK(l[15].x > l[11].x && l[16].x < l[12].x);
        /* World landmarks: metres, origin between the hips, shoulders above hips. */
        CHECK(fabs(r.world[23].x + r.world[24].x) < 0.1);
        CHECK(r.world[11].y < r.world[23].y);
        double sw = hypot(r.world[11].x - r.world[12].x, r.world[11].y - r.world[12].y);
        CHECK_MSG(sw > 0.2 && sw < 0.6, "shoulder width %.2f m", sw);

        /* Rotation by 90 degrees clockwise: (x, y) -> (h - 1 - y, x) in pixels. */
        ptm_frame rot = ptm_rotate90(f);
        pose_result rr;
        if (run_static(t, &rot, &rr)) {
            CHECK(rr.detected);
            double tol = 0.02 * (f->w > f->h ? f->w : f->h);
            double worst = 0, sum = 0;
            int nv = 0;
            for (int i = 0; i < POSE_LM_BODY; i++) {
                double ex = f->h - 1 - r.landmarks[i].y * f->h, ey = r.landmarks[i].x * f->w;
                double d = hypot(rr.landmarks[i].x * rot.w - ex, rr.landmarks[i].y * rot.h - ey);
                if (r.landmarks[i].visibility < 0.5f)
                    continue; /* the cut-off legs are guesses either way */
                nv++;
                sum += d;
                if (d > worst)
                    worst = d;
                CHECK_MSG(d <= tol, "rotated %s off by %.1f px (tol %.1f)", pose_landmark_names[i],
                          d, tol);
            }
            fprintf(stderr, "rotation: %d visible points, mean %.2f px, worst %.2f px\n", nv,
                    nv ? sum / nv : 0, worst);
            CHECK(nv >= 15);
        }
        free(rot.rgb);
    }
    ptm_free(f, n);
}

static void test_messi(pose_tracker *t)
{
    ptm_frame *f;
    int n = ptm_load("media/messi5.jpg", 1, 0, &f);
    CHECK_INT_EQ(n, 1);
    if (n != 1)
        return;
    pose_result r;
    pose_detection dets[8];
    int nd = 0;
    cr_err err = {0};
    CHECK(pose_tracker_detect(t, f->rgb, f->w, f->h, 3 * f->w, dets, 8, &nd, &err) == CR_OK);
    CHECK_MSG(nd == 1, "messi5: %d detections", nd);
    if (run_static(t, f, &r)) {
        print_pose("messi5", f, &r);
        CHECK(r.detected);
        /* The player: arms from x ~65 to ~380, head at y ~60, boots at y ~330. */
        check_region("messi5", f, &r, 40, 40, 480, 342);
        /* Head above hips above the (planted) right ankle. */
        CHECK(r.landmarks[0].y < midy(&r, 23, 24));
        CHECK(midy(&r, 23, 24) < r.landmarks[28].y);
    }
    ptm_free(f, n);
}

static int same_pose(const pose_result *a, const pose_result *b)
{
    return a->detected == b->detected && a->score == b->score &&
           memcmp(a->landmarks, b->landmarks, sizeof a->landmarks) == 0;
}

/* The largest distance between the body landmarks of two poses, in source pixels. */
static double max_distance(const pose_result *a, const pose_result *b, int w, int h)
{
    double m = 0;
    for (int i = 0; i < POSE_LM_BODY; i++)
        m = fmax(m, hypot((a->landmarks[i].x - b->landmarks[i].x) * w,
                          (a->landmarks[i].y - b->landmarks[i].y) * h));
    return m;
}

/* pose_track_images with cold_water.jpg (800 px) as the source and a smaller copy of it
 * as the coarse picture.  Coarse at 640 px: the whole-frame letterbox and the man's
 * region (well over 256 coarse px) come from it, so the pose is exactly the one of the
 * 640-px picture alone.  Coarse at 64 px: too small for either crop, so everything
 * comes from the source and the pose is exactly the source's.  A coarse picture that
 * is not RGB24 as displayed is refused. */
static void test_coarse(pose_tracker *t)
{
    ptm_frame *src, *big, *tiny;
    int n = ptm_load("media/cold_water.jpg", 1, 0, &src) +
            ptm_load("media/cold_water.jpg", 1, 640, &big) +
            ptm_load("media/cold_water.jpg", 1, 64, &tiny);
    CHECK_INT_EQ(n, 3);
    if (n != 3)
        return;
    CHECK(src->w == 800 && big->w == 640 && tiny->w == 64);
    pose_image is = ptm_image(src), ib = ptm_image(big), it = ptm_image(tiny);
    pose_result with, alone;
    cr_err err = {0};
    CHECK(pose_track_images(t, &is, &ib, 1, &with, &err) == CR_OK);
    CHECK(pose_track_image(t, &ib, 1, &alone, &err) == CR_OK);
    /* the same crops, but the tracker measures the region in the source's aspect
     * (533/800) rather than the 640-px copy's (427/640): equal within a pixel */
    double d_big = max_distance(&with, &alone, 800, 533);
    fprintf(stderr, "coarse 640: %.2f px from the 640-px pose\n", d_big);
    CHECK_MSG(with.detected && alone.detected && d_big < 1.0, "%.2f px", d_big);
    CHECK_MSG(fmin(with.roi.w * 640, with.roi.h * big->h) >= POSE_LM_INPUT, "region %.0f coarse px",
              with.roi.w * 640);
    CHECK(pose_track_images(t, &is, &it, 1, &with, &err) == CR_OK);
    CHECK(pose_track_image(t, &is, 1, &alone, &err) == CR_OK);
    CHECK(with.detected && same_pose(&with, &alone));
    /* and the 640-px pose differs from the source's: the two paths were both taken */
    pose_result from_big;
    CHECK(pose_track_image(t, &ib, 1, &from_big, &err) == CR_OK);
    double d_paths = max_distance(&from_big, &alone, 800, 533);
    fprintf(stderr, "640-px pose vs the source's: %.2f px\n", d_paths);
    CHECK_MSG(d_paths > d_big, "%.2f px vs %.2f px", d_paths, d_big);
    pose_image rotated = ib;
    rotated.rotation = 90;
    CHECK(pose_track_images(t, &is, &rotated, 1, &with, &err) == CR_ERR_INVALID);
    ptm_free(src, 1);
    ptm_free(big, 1);
    ptm_free(tiny, 1);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        engine = argv[1];
    pose_tracker_opts o = {engine, "full", 1, POSE_MODE_STATIC, NULL};
    pose_tracker *t = NULL;
    cr_err err = {0};
    cr_status st = pose_tracker_create(NULL, &o, &t, &err);
    CHECK_MSG(st == CR_OK, "%s", cr_err_msg(&err));
    if (st != CR_OK)
        return check_exit();
    test_cold_water(t);
    test_messi(t);
    pose_tracker_stats s;
    pose_tracker_get_stats(t, &s);
    CHECK_INT_EQ(s.detector_runs, 5); /* static: once per frame, + the two detect calls */
    CHECK_INT_EQ(s.landmark_runs, 3);
    CHECK_INT_EQ(s.frames_detected, 3);
    CHECK_STR_EQ(pose_tracker_engine(t), engine);
    test_coarse(t);
    /* Bad frames are refused; the tracker stays usable. */
    uint8_t px[3 * 4] = {0};
    pose_result r;
    cr_err e1 = {0};
    CHECK(pose_track_frame(t, px, 0, 2, 6, 1, &r, &e1) == CR_ERR_INVALID);
    CHECK(pose_track_frame(t, px, 2, 2, 5, 1, &r, &e1) == CR_ERR_INVALID);
    CHECK(pose_track_frame(t, NULL, 2, 2, 6, 1, &r, &e1) == CR_ERR_INVALID);
    CHECK(pose_track_frame(t, px, 20000, 1, 60000, 1, &r, &e1) == CR_ERR_INVALID);
    /* A tiny black frame: nothing found, no error. */
    cr_err e3 = {0};
    CHECK(pose_track_frame(t, px, 2, 2, 6, 1, &r, &e3) == CR_OK && !r.detected);
    pose_tracker_destroy(t);

    /* Bad arguments. */
    pose_tracker_opts bad = {engine, "huge", 1, POSE_MODE_STATIC, NULL};
    cr_err e2 = {0};
    CHECK(pose_tracker_create(NULL, &bad, &t, &e2) == CR_ERR_INVALID && t == NULL);
    return check_exit();
}
