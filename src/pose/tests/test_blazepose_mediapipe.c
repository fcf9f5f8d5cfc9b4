/*
 * test_blazepose_mediapipe.c -- crease's pose pipeline against MediaPipe itself.
 *
 * usage: test_blazepose_mediapipe FRAMES_DIR MP_VIDEO.json MP_STATIC.json [ENGINE] [FPS]
 * (ENGINE default: the tracker's, cpu; FPS default 10)
 *
 * The JSON files are tests/mediapipe/mediapipe_pose.js's output for the same PNG
 * frames (MediaPipe's JS solution with useCpuInference, video and static mode).  We
 * run crease on the frames in both modes (video: timestamps (i+1)/fps, as the
 * script) and require, per mode:
 *   - the same detected / not-detected decision on every frame;
 *   - PCK@0.05 >= 0.95: the share of the 33 landmarks, over all frames where a pose
 *     was found, within 0.05 of the person's bounding-box diagonal (the box of
 *     MediaPipe's landmarks, in pixels) of MediaPipe's landmark.
 * It prints the PCK and the mean error (as a fraction of the diagonal and in pixels),
 * and requires the world landmarks' mean distance to MediaPipe's below 2 cm.
 */
#include "check.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 256
#define PCK_ALPHA 0.05 /* the issue: PCK@0.05 of the person's bbox diagonal */
#define PCK_MIN 0.95
/* World landmarks: mean distance to MediaPipe's, metres (measured: well under 1 mm). */
#define WORLD_MAX_M 0.02

static void compare(const char *mode_name, pose_mode mode, const char *engine, double fps,
                    const char *dir, char **names, int n, const char *ref_path)
{
    json_error_t jerr;
    json_t *ref = json_load_file(ref_path, 0, &jerr);
    CHECK_MSG(ref != NULL, "%s: %s", ref_path, jerr.text);
    if (ref == NULL)
        return;
    json_t *frames = json_object_get(ref, "frames");
    CHECK_INT_EQ(json_array_size(frames), n);
    pose_tracker_opts o = {engine, "full", 1, mode, NULL};
    pose_tracker *t = NULL;
    cr_err err = {0};
    CHECK_MSG(pose_tracker_create(NULL, &o, &t, &err) == CR_OK, "%s", cr_err_msg(&err));
    if (t == NULL || json_array_size(frames) != (size_t)n) {
        json_decref(ref);
        return;
    }
    long correct = 0, total = 0;
    double sum_rel = 0, sum_px = 0, worst_rel = 0, world_sum = 0;
    long world_n = 0;
    int same_decision = 0, both = 0;
    for (int i = 0; i < n; i++) {
        ptm_frame *f = ptm_load_in(dir, names[i]);
        if (f == NULL) {
            CHECK_MSG(0, "cannot read %s/%s", dir, names[i]);
            continue;
        }
        pose_result r;
        int64_t ts = (int64_t)llround((i + 1) * 1e6 / fps);
        cr_status st = pose_track_frame(t, f->rgb, f->w, f->h, 3 * f->w, ts, &r, &err);
        CHECK_MSG(st == CR_OK, "%s", cr_err_msg(&err));
        json_t *fr = json_array_get(frames, (size_t)i);
        int mp_det = json_is_true(json_object_get(fr, "detected"));
        CHECK_MSG(mp_det == r.detected, "%s frame %d (%s): MediaPipe %s, crease %s (score %.3f)",
                  mode_name, i, names[i], mp_det ? "detected" : "nothing",
                  r.detected ? "detected" : "nothing", r.score);
        same_decision += mp_det == r.detected;
        if (mp_det && r.detected) {
            both++;
            json_t *lms = json_object_get(fr, "landmarks");
            double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
            double mx[POSE_LM_BODY], my[POSE_LM_BODY];
            for (int k = 0; k < POSE_LM_BODY; k++) {
                json_t *p = json_array_get(lms, (size_t)k);
                mx[k] = json_number_value(json_array_get(p, 0)) * f->w;
                my[k] = json_number_value(json_array_get(p, 1)) * f->h;
                x0 = fmin(x0, mx[k]), x1 = fmax(x1, mx[k]);
                y0 = fmin(y0, my[k]), y1 = fmax(y1, my[k]);
            }
            double diag = hypot(x1 - x0, y1 - y0);
            double frame_sum = 0;
            for (int k = 0; k < POSE_LM_BODY; k++)
                frame_sum +=
                    hypot(r.landmarks[k].x * f->w - mx[k], r.landmarks[k].y * f->h - my[k]);
            if (getenv("POSE_TEST_VERBOSE") != NULL)
                fprintf(stderr, "  %s %s: mean error %.4f of the diagonal (%.2f px)\n", mode_name,
                        names[i], frame_sum / POSE_LM_BODY / diag, frame_sum / POSE_LM_BODY);
            json_t *wls = json_object_get(fr, "world_landmarks");
            for (int k = 0; k < POSE_LM_BODY && json_array_size(wls) == POSE_LM_BODY; k++) {
                json_t *p = json_array_get(wls, (size_t)k);
                double dx = r.world[k].x - json_number_value(json_array_get(p, 0));
                double dy = r.world[k].y - json_number_value(json_array_get(p, 1));
                double dz = r.world[k].z - json_number_value(json_array_get(p, 2));
                world_sum += sqrt(dx * dx + dy * dy + dz * dz);
                world_n++;
            }
            for (int k = 0; k < POSE_LM_BODY; k++) {
                double d = hypot(r.landmarks[k].x * f->w - mx[k], r.landmarks[k].y * f->h - my[k]);
                total++;
                correct += d <= PCK_ALPHA * diag;
                sum_rel += d / diag;
                sum_px += d;
                worst_rel = fmax(worst_rel, d / diag);
            }
        }
        ptm_free(f, 1);
    }
    double pck = total ? (double)correct / total : 0;
    fprintf(stderr,
            "%s mode (%s engine): %d frames, same decision on %d, pose in both on %d; "
            "PCK@0.05 = %.4f, mean error = %.4f of the diagonal (%.2f px), worst %.4f\n",
            mode_name, pose_tracker_engine(t), n, same_decision, both, pck,
            total ? sum_rel / total : 0, total ? sum_px / total : 0, worst_rel);
    double world_mean = world_n ? world_sum / world_n : 0;
    fprintf(stderr, "%s mode: world landmarks mean distance %.2f mm over %ld points\n", mode_name,
            1000 * world_mean, world_n);
    CHECK_MSG(pck >= PCK_MIN, "%s: PCK@0.05 %.4f < %.2f", mode_name, pck, PCK_MIN);
    CHECK(world_n > 0 && world_mean < WORLD_MAX_M);
    CHECK(both > 0);
    pose_tracker_destroy(t);
    json_decref(ref);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s FRAMES_DIR MP_VIDEO.json MP_STATIC.json [ENGINE] [FPS]\n",
                argv[0]);
        return 2;
    }
    const char *engine = argc > 4 ? argv[4] : NULL; /* NULL: the tracker's default */
    double fps = argc > 5 ? atof(argv[5]) : 10.0;
    char *names[MAX_FRAMES];
    int n = ptm_list_pngs(argv[1], names, MAX_FRAMES);
    CHECK_MSG(n > 0, "no PNG frames in %s", argv[1]);
    if (n > 0) {
        compare("video", POSE_MODE_VIDEO, engine, fps, argv[1], names, n, argv[2]);
        compare("static", POSE_MODE_STATIC, engine, fps, argv[1], names, n, argv[3]);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    return check_exit();
}
