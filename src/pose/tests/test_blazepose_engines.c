/*
 * test_blazepose_engines.c -- the landmarks of every fast engine against the float32
 * oracle, frame by frame through the whole pose pipeline.
 *
 * usage: test_blazepose_engines FRAMES_DIR... [-- ENGINE...]
 * (ENGINE default: every built engine but the oracle and "ref"; one this machine cannot
 * run, such as "cuda" without a GPU, is skipped with a message)
 *
 * The oracle is "xnnpack" (DESIGN.md §7: the float32 path MediaPipe itself runs on a
 * CPU), or "cpu" in a build without XNNPACK.  For each frame set, in video and static
 * mode, the oracle's tracker and the engine's run side by side on the same frames, and
 * per engine and mode we require:
 *   - the same detected / not-detected decision on every frame;
 *   - the mean distance between the two engines' landmarks, over all frames with a pose,
 *     at most 0.5 % of the person's bounding-box diagonal (the box of the oracle's 33
 *     landmarks, in pixels): the gate for any engine that is faster by computing in
 *     less than float32;
 *   - the world landmarks' mean distance under 5 mm.
 * Today's engines all compute in float32 and agree far closer (measured: at most
 * 0.003 % of the diagonal on average, 0.05 % on the worst frame; video mode lets a
 * difference carry from frame to frame through the tracked region).  Models in
 * bfloat16 (AMX tiles) missed this gate: 0.8-2 % on the vtest frames.
 * Exit 77 (skipped) where no engine but the oracle is built.
 */
#include "check.h"
#include "engine/engine.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 256
#define MEAN_MAX 0.005    /* of the bounding-box diagonal: the landmark quality gate */
#define WORLD_MAX_M 0.005 /* metres */

static pose_tracker *tracker(const char *engine, pose_mode mode)
{
    pose_tracker_opts o = {engine, "full", 1, mode, NULL};
    pose_tracker *t = NULL;
    cr_err err = {0};
    CHECK_MSG(pose_tracker_create(NULL, &o, &t, &err) == CR_OK, "%s: %s", engine, cr_err_msg(&err));
    return t;
}

static double world_mean(const pose_result *a, const pose_result *b)
{
    double sum = 0;
    for (int k = 0; k < POSE_LM_BODY; k++) {
        double dx = a->world[k].x - b->world[k].x, dy = a->world[k].y - b->world[k].y,
               dz = a->world[k].z - b->world[k].z;
        sum += sqrt(dx * dx + dy * dy + dz * dz);
    }
    return sum / POSE_LM_BODY;
}

static void compare(const char *oracle, const char *engine, pose_mode mode, const char *dir)
{
    const char *mode_name = mode == POSE_MODE_VIDEO ? "video" : "static";
    char *names[MAX_FRAMES];
    int n = ptm_list_pngs(dir, names, MAX_FRAMES);
    CHECK_MSG(n > 0, "no PNG frames in %s", dir);
    pose_tracker *ta = tracker(oracle, mode), *tb = tracker(engine, mode);
    int both = 0, same = 0;
    double sum = 0, worst = 0, world = 0;
    for (int i = 0; i < n && ta != NULL && tb != NULL; i++) {
        ptm_frame *f = ptm_load_in(dir, names[i]);
        if (f == NULL) {
            CHECK_MSG(0, "cannot read %s/%s", dir, names[i]);
            continue;
        }
        int64_t ts = (int64_t)(i + 1) * 100000; /* 10 fps */
        pose_result ra, rb;
        cr_err err = {0};
        CHECK_MSG(pose_track_frame(ta, f->rgb, f->w, f->h, 3 * f->w, ts, &ra, &err) == CR_OK, "%s",
                  cr_err_msg(&err));
        CHECK_MSG(pose_track_frame(tb, f->rgb, f->w, f->h, 3 * f->w, ts, &rb, &err) == CR_OK, "%s",
                  cr_err_msg(&err));
        CHECK_MSG(ra.detected == rb.detected, "%s %s frame %s: %s %s (%.3f), %s %s (%.3f)", dir,
                  mode_name, names[i], oracle, ra.detected ? "detected" : "nothing", ra.score,
                  engine, rb.detected ? "detected" : "nothing", rb.score);
        same += ra.detected == rb.detected;
        if (ra.detected && rb.detected) {
            double d = ptm_mean_over_diagonal(&ra, &rb, f->w, f->h);
            both++;
            sum += d;
            worst = fmax(worst, d);
            world += world_mean(&ra, &rb);
        }
        ptm_free(f, 1);
    }
    double mean = both ? sum / both : 0;
    fprintf(stderr,
            "%s against %s, %s, %s mode: %d frames, same decision on %d, pose in both on %d; "
            "mean distance %.5f of the diagonal (worst frame %.5f), world %.2f mm\n",
            engine, oracle, dir, mode_name, n, same, both, mean, worst,
            both ? 1000 * world / both : 0);
    CHECK_MSG(both > 0, "%s: no frame with a pose in both", dir);
    CHECK_MSG(mean <= MEAN_MAX, "%s %s: mean distance %.5f > %.3f of the diagonal", engine,
              mode_name, mean, MEAN_MAX);
    CHECK_MSG(both == 0 || world / both <= WORLD_MAX_M, "%s %s: world landmarks %.2f mm apart",
              engine, mode_name, 1000 * world / both);
    pose_tracker_destroy(ta);
    pose_tracker_destroy(tb);
    for (int i = 0; i < n; i++)
        free(names[i]);
}

/* 1: this machine runs `engine` (a tracker can be made with it); else says why not.  An
 * engine that cannot run here fails with CR_ERR_UNSUPPORTED (engine.h); any other error
 * is a failure. */
static int runnable(const char *engine)
{
    pose_tracker_opts o = {engine, "full", 1, POSE_MODE_VIDEO, NULL};
    pose_tracker *t = NULL;
    cr_err err = {0};
    cr_status st = pose_tracker_create(NULL, &o, &t, &err);
    pose_tracker_destroy(t);
    if (st == CR_OK)
        return 1;
    CHECK_MSG(st == CR_ERR_UNSUPPORTED, "%s: %s", engine, cr_err_msg(&err));
    printf("  skip engine %s: %s\n", engine, cr_err_msg(&err));
    return 0;
}

int main(int argc, char **argv)
{
    int dirs = 1;
    while (dirs < argc && strcmp(argv[dirs], "--") != 0)
        dirs++;
    if (dirs == 1) {
        fprintf(stderr, "usage: %s FRAMES_DIR... [-- ENGINE...]\n", argv[0]);
        return 2;
    }
    const char *oracle = "cpu";
    const char *const *all = engine_available();
    for (int k = 0; all[k] != NULL; k++)
        if (strcmp(all[k], "xnnpack") == 0)
            oracle = "xnnpack";
    const char *const *engines = dirs < argc ? (const char *const *)argv + dirs + 1 : all;
    int n_engines = dirs < argc ? argc - dirs - 1 : 0;
    if (dirs >= argc)
        while (all[n_engines] != NULL)
            n_engines++;
    int compared = 0;
    for (int e = 0; e < n_engines; e++) {
        /* the oracle itself, and the reference engine (minutes a frame set) are not run */
        if (strcmp(engines[e], oracle) == 0 || strcmp(engines[e], "ref") == 0 ||
            !runnable(engines[e]))
            continue;
        for (int d = 1; d < dirs; d++) {
            compare(oracle, engines[e], POSE_MODE_VIDEO, argv[d]);
            compare(oracle, engines[e], POSE_MODE_STATIC, argv[d]);
        }
        compared++;
    }
    if (compared == 0) {
        printf("no engine to compare with %s in this build\n", oracle);
        return check_exit() ? check_exit() : 77;
    }
    return check_exit();
}
