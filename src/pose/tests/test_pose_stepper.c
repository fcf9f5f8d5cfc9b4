/*
 * test_pose_stepper.c -- trackers stepped together (pose_stepper.h) give what the same
 * trackers give stepped one by one.
 *
 * usage: test_pose_stepper MOTION_DIR VTEST_DIR [ENGINE...]
 * (ENGINE default: the default engine, and "cpu" and "xnnpack" where built)
 *
 * Three trackers in one stepper, each beside its own twin, a plain pose_tracker with
 * the same settings fed the same frames with pose_track_frame:
 *   0  the known-motion clip, every step;
 *   1  the vtest excerpt (people walking; some frames without anyone), every step,
 *      tiles on (the batched detector shared through the base tracker);
 *   2  the known-motion clip on every other step only, from the third step, with a
 *      subject point: steps where only one crop exists take the batch-1 engine.
 * Required, per tracker and frame: the same decision, and landmarks within 1e-4 of the
 * twin's box diagonal on average (the cpu engines compute each item of a batch as a
 * batch of one does, so they agree exactly; 1e-4 leaves room for XNNPACK's kernels,
 * chosen per batch size).  Both kinds of run happen.  Then: a bad frame for one
 * tracker is its error alone; a stepper of one is the plain tracker; bad sizes are
 * refused.
 */
#include "check.h"
#include "engine/engine.h"
#include "pose/pose_stepper.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 64
#define MEAN_MAX 1e-4 /* of the twin's landmark box diagonal */
#define N 3

typedef struct clip {
    ptm_frame *f[MAX_FRAMES];
    int n;
} clip;

static void clip_load(clip *c, const char *dir)
{
    char *names[MAX_FRAMES];
    c->n = ptm_list_pngs(dir, names, MAX_FRAMES);
    CHECK_MSG(c->n > 0, "no PNG frames in %s", dir);
    for (int i = 0; i < c->n; i++) {
        c->f[i] = ptm_load_in(dir, names[i]);
        CHECK_MSG(c->f[i] != NULL, "cannot read %s/%s", dir, names[i]);
        free(names[i]);
    }
}

/* Tracker i's settings, applied to the stepper's tracker and to its twin alike. */
static void setup(pose_tracker *t, int i)
{
    cr_err err = {0};
    pose_tracker_reset(t);
    if (i == 1)
        CHECK_MSG(pose_tracker_enable_tiles(t, &err) == CR_OK, "tiles: %s", cr_err_msg(&err));
    if (i == 2)
        CHECK(pose_tracker_set_subject(t, 1, 0.45f, 0.5f, &err) == CR_OK);
}

/* Tracker i's frame at step k, or NULL (none this step). */
static const ptm_frame *frame_at(const clip *motion, const clip *vtest, int i, int k)
{
    if (i == 0)
        return k < motion->n ? motion->f[k] : NULL;
    if (i == 1)
        return k < vtest->n ? vtest->f[k] : NULL;
    if (k < 2 || k % 2 == 1)
        return NULL;
    int j = (k - 2) / 2;
    return j < motion->n ? motion->f[j] : NULL;
}

static void against_twins(const char *engine, const clip *motion, const clip *vtest)
{
    pose_tracker_opts o = {engine, "full", 1, POSE_MODE_VIDEO, NULL};
    pose_stepper *s = NULL;
    pose_tracker *twin[N] = {0};
    cr_err err = {0};
    cr_status cs = pose_stepper_create(NULL, &o, N, &s, &err);
    CHECK_MSG(cs == CR_OK, "%s: %s", engine, cr_err_msg(&err));
    if (cs != CR_OK)
        return;
    CHECK(pose_stepper_size(s) == N);
    CHECK(pose_stepper_tracker(s, N) == NULL && pose_stepper_tracker(s, -1) == NULL);
    for (int i = 0; i < N; i++) {
        CHECK_MSG(pose_tracker_create(NULL, &o, &twin[i], &err) == CR_OK, "%s", cr_err_msg(&err));
        setup(pose_stepper_tracker(s, i), i);
        setup(twin[i], i);
    }
    int steps = motion->n > vtest->n ? motion->n : vtest->n;
    steps = steps > 2 + 2 * motion->n ? steps : 2 + 2 * motion->n;
    int compared[N] = {0}, detected[N] = {0};
    double worst[N] = {0}, sum[N] = {0};
    for (int k = 0; k < steps; k++) {
        pose_step_frame fr[N];
        pose_image img[N];
        const ptm_frame *src[N];
        int any = 0;
        for (int i = 0; i < N; i++) {
            src[i] = frame_at(motion, vtest, i, k);
            fr[i] = (pose_step_frame){NULL, NULL, (int64_t)(k + 1) * 100000};
            if (src[i] != NULL) {
                img[i] = ptm_image(src[i]);
                fr[i].img = &img[i];
                any = 1;
            }
        }
        if (!any)
            continue;
        pose_result got[N], want;
        cr_status st[N];
        cr_err errs[N];
        CHECK_MSG(pose_stepper_step(s, fr, got, st, errs) == CR_OK, "%s step %d", engine, k);
        for (int i = 0; i < N; i++) {
            if (src[i] == NULL)
                continue;
            CHECK_MSG(st[i] == CR_OK, "%s step %d tracker %d: %s", engine, k, i,
                      cr_err_msg(&errs[i]));
            CHECK(pose_track_frame(twin[i], src[i]->rgb, src[i]->w, src[i]->h, 3 * src[i]->w,
                                   fr[i].timestamp_us, &want, &err) == CR_OK);
            CHECK_MSG(got[i].detected == want.detected, "%s step %d tracker %d: %d vs twin %d",
                      engine, k, i, got[i].detected, want.detected);
            CHECK(got[i].detector_ran == want.detector_ran);
            if (got[i].detected && want.detected) {
                double d = ptm_mean_over_diagonal(&want, &got[i], src[i]->w, src[i]->h);
                sum[i] += d;
                worst[i] = fmax(worst[i], d);
                compared[i]++;
            }
            detected[i] += want.detected;
        }
    }
    int64_t batched = 0, single = 0;
    pose_stepper_runs(s, &batched, &single);
    printf("  %s: %lld batched runs, %lld single\n", engine, (long long)batched, (long long)single);
    CHECK_MSG(batched > 0 && single > 0, "%s: both kinds of run", engine);
    for (int i = 0; i < N; i++) {
        double mean = compared[i] ? sum[i] / compared[i] : 0;
        printf("  %s tracker %d: %d frames with a pose in both, mean %.2g (worst %.2g) of the "
               "diagonal\n",
               engine, i, compared[i], mean, worst[i]);
        CHECK_MSG(compared[i] > 0 && detected[i] > 0, "%s tracker %d: no pose to compare", engine,
                  i);
        CHECK_MSG(mean <= MEAN_MAX, "%s tracker %d: mean %.3g > %.0e", engine, i, mean, MEAN_MAX);
        pose_tracker_destroy(twin[i]);
    }
    pose_stepper_destroy(s);
}

/* A bad frame for tracker 0 fails it alone; tracker 1's frame goes on. */
static void bad_frame_is_its_own(const char *engine, const clip *motion)
{
    pose_tracker_opts o = {engine, "full", 1, POSE_MODE_VIDEO, NULL};
    pose_stepper *s = NULL;
    cr_err err = {0};
    cr_status cs = pose_stepper_create(NULL, &o, 2, &s, &err);
    CHECK(cs == CR_OK);
    if (cs != CR_OK)
        return;
    pose_image bad = ptm_image(motion->f[0]), good = ptm_image(motion->f[0]);
    bad.stride[0] = 1; /* shorter than a row */
    pose_step_frame fr[2] = {{&bad, NULL, 100000}, {&good, NULL, 100000}};
    pose_result out[2];
    cr_status st[2];
    cr_err errs[2];
    CHECK(pose_stepper_step(s, fr, out, st, errs) == CR_ERR_INVALID);
    CHECK(st[0] == CR_ERR_INVALID && strstr(cr_err_msg(&errs[0]), "bad frame") != NULL);
    CHECK(st[1] == CR_OK && out[1].detected == 1);
    /* then both fine (tracker 0 unharmed by its bad frame) */
    fr[0].img = &good;
    fr[0].timestamp_us = fr[1].timestamp_us = 200000;
    CHECK(pose_stepper_step(s, fr, out, st, errs) == CR_OK);
    CHECK(st[0] == CR_OK && st[1] == CR_OK && out[0].detected && out[1].detected);
    pose_stepper_destroy(s);
}

static void one_is_a_tracker(const char *engine, const clip *motion)
{
    pose_tracker_opts o = {engine, "full", 1, POSE_MODE_VIDEO, NULL};
    pose_stepper *s = NULL;
    pose_tracker *t = NULL;
    cr_err err = {0};
    cr_status cs = pose_stepper_create(NULL, &o, 1, &s, &err);
    if (cs == CR_OK)
        cs = pose_tracker_create(NULL, &o, &t, &err);
    CHECK_MSG(cs == CR_OK, "%s: %s", engine, cr_err_msg(&err));
    if (cs != CR_OK) {
        pose_stepper_destroy(s);
        return;
    }
    int same = 0;
    for (int k = 0; k < motion->n; k++) {
        pose_image img = ptm_image(motion->f[k]);
        pose_step_frame fr = {&img, NULL, (int64_t)(k + 1) * 100000};
        pose_result got, want;
        cr_status st;
        CHECK(pose_stepper_step(s, &fr, &got, &st, NULL) == CR_OK && st == CR_OK);
        CHECK(pose_track_image(t, &img, fr.timestamp_us, &want, &err) == CR_OK);
        same += memcmp(got.landmarks, want.landmarks, sizeof got.landmarks) == 0 &&
                got.detected == want.detected;
    }
    CHECK_MSG(same == motion->n, "%s: stepper of one: %d of %d frames identical", engine, same,
              motion->n);
    int64_t batched, single;
    pose_stepper_runs(s, &batched, &single);
    CHECK(batched == 0 && single == motion->n);
    pose_stepper_destroy(s);
    pose_tracker_destroy(t);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pose_stepper MOTION_DIR VTEST_DIR [ENGINE...]\n");
        return 2;
    }
    clip motion = {0}, vtest = {0};
    clip_load(&motion, argv[1]);
    clip_load(&vtest, argv[2]);
    if (motion.n == 0 || vtest.n == 0)
        return check_exit();

    pose_stepper *s = NULL;
    cr_err err = {0};
    CHECK(pose_stepper_create(NULL, NULL, 0, &s, &err) == CR_ERR_INVALID && s == NULL);
    CHECK(pose_stepper_create(NULL, NULL, POSE_STEPPER_MAX + 1, &s, &err) == CR_ERR_INVALID);
    pose_tracker_opts bad = {"no-such-engine", "full", 1, POSE_MODE_VIDEO, NULL};
    CHECK(pose_stepper_create(NULL, &bad, 2, &s, &err) == CR_ERR_INVALID && s == NULL);

    const char *defaults[] = {engine_default(1), "cpu", "xnnpack"};
    const char *const *avail = engine_available();
    for (int e = 0; e < (argc > 3 ? argc - 3 : 3); e++) {
        const char *engine = argc > 3 ? argv[3 + e] : defaults[e];
        int built = 0, dup = 0;
        for (int i = 0; avail[i] != NULL; i++)
            built |= strcmp(avail[i], engine) == 0;
        for (int j = 0; argc <= 3 && j < e; j++)
            dup |= strcmp(defaults[j], engine) == 0;
        if (!built || dup)
            continue;
        printf("engine %s\n", engine);
        against_twins(engine, &motion, &vtest);
        bad_frame_is_its_own(engine, &motion);
        one_is_a_tracker(engine, &motion);
    }
    for (int i = 0; i < motion.n; i++)
        ptm_free(motion.f[i], 1);
    for (int i = 0; i < vtest.n; i++)
        ptm_free(vtest.f[i], 1);
    return check_exit();
}
