/*
 * test_pose_models -- the pose models loaded once for many trackers (pose_models.h):
 *   - each file is loaded once: the same model twice is the same handle, another
 *     landmark model shares the detector; unknown names and missing files are errors
 *     (with nothing handed out) and a later call still works;
 *   - eight threads asking at once all get the one model;
 *   - a tracker made from the set gives the same results, bit for bit, as one that
 *     loads its own, on real frames in video mode, and outlives the set (under ASan a
 *     reference not taken is a use after free).
 */
#include "check.h"
#include "engine/engine.h"
#include "pose/pose_models.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8

typedef struct asker {
    pose_models *set;
    engine_model *det, *lm;
    cr_status st;
} asker;

static void *ask(void *p)
{
    asker *a = p;
    a->st = pose_models_get(a->set, "lite", &a->det, &a->lm, NULL);
    return NULL;
}

static void check_loading(void)
{
    pose_models *set = NULL;
    CHECK_INT_EQ(pose_models_create(NULL, &set, NULL), CR_OK);
    if (set == NULL)
        return;
    engine_model *d1 = NULL, *l1 = NULL, *d2 = NULL, *l2 = NULL, *d3 = NULL, *l3 = NULL;
    cr_err err = {0};
    CHECK_INT_EQ(pose_models_get(set, "full", &d1, &l1, &err), CR_OK);
    CHECK_INT_EQ(pose_models_get(set, "full", &d2, &l2, &err), CR_OK);
    CHECK(d1 != NULL && l1 != NULL && d1 == d2 && l1 == l2 && d1 != l1);
    CHECK_INT_EQ(pose_models_get(set, "heavy", &d3, &l3, &err), CR_OK);
    CHECK(d3 == d1 && l3 != NULL && l3 != l1);
    engine_model *d = (engine_model *)&err, *l = (engine_model *)&err;
    CHECK_INT_EQ(pose_models_get(set, "huge", &d, &l, &err), CR_ERR_INVALID);
    CHECK(d == NULL && l == NULL && strstr(cr_err_msg(&err), "huge") != NULL);
    CHECK_INT_EQ(pose_models_get(set, NULL, &d, &l, NULL), CR_ERR_INVALID);

    /* eight threads at once, the model not loaded yet */
    asker a[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (asker){set, NULL, NULL, CR_ERR_INTERNAL};
        CHECK(pthread_create(&tid[i], NULL, ask, &a[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        CHECK_INT_EQ(a[i].st, CR_OK);
        CHECK(a[i].det == d1 && a[i].lm != NULL && a[i].lm == a[0].lm && a[i].lm != l1);
    }
    pose_models_destroy(set);
    /* what was handed out outlives the set: an engine from each */
    engine_model *held[] = {d1, l1, l3};
    for (int i = 0; i < 3; i++) {
        engine *e = NULL;
        CHECK_INT_EQ(engine_create_from("ref", held[i], NULL, 0, 1, 1, &e, &err), CR_OK);
        CHECK(e != NULL && engine_input(e, NULL) != NULL);
        engine_destroy(e);
    }
    engine_model *all[] = {d1, l1, d2, l2, d3, l3};
    for (int i = 0; i < 6; i++)
        engine_model_free(all[i]);
    for (int i = 0; i < THREADS; i++) {
        engine_model_free(a[i].det);
        engine_model_free(a[i].lm);
    }

    /* a folder without the models: not found, and nothing cached in its place */
    static cr_config empty;
    snprintf(empty.models_dir, sizeof empty.models_dir, "/nonexistent/crease-models");
    CHECK_INT_EQ(pose_models_create(&empty, &set, NULL), CR_OK);
    for (int round = 0; set != NULL && round < 2; round++) {
        err = (cr_err){0};
        cr_status st = pose_models_get(set, "lite", &d, &l, &err);
        CHECK_MSG(st == CR_ERR_NOT_FOUND, "round %d: %s", round, cr_err_msg(&err));
        CHECK(d == NULL && l == NULL);
    }
    pose_models_destroy(set);
    pose_models_destroy(NULL);
}

static void check_tracking(const char *dir)
{
    char *names[8];
    int n = ptm_list_pngs(dir, names, 8);
    CHECK_MSG(n == 8, "%s: %d frames", dir, n);
    pose_models *set = NULL;
    pose_tracker *own = NULL, *shared = NULL;
    cr_err err = {0};
    pose_tracker_opts o = {"cpu", "full", 1, POSE_MODE_VIDEO, NULL};
    CHECK_INT_EQ(pose_tracker_create(NULL, &o, &own, &err), CR_OK);
    CHECK_INT_EQ(pose_models_create(NULL, &set, &err), CR_OK);
    o.models = set;
    CHECK_INT_EQ(pose_tracker_create(NULL, &o, &shared, &err), CR_OK);
    pose_models_destroy(set); /* the tracker keeps what it took */
    int detected = 0, differ = 0;
    for (int i = 0; own != NULL && shared != NULL && i < n; i++) {
        ptm_frame *f = ptm_load_in(dir, names[i]);
        CHECK(f != NULL);
        if (f == NULL)
            continue;
        pose_result a, b;
        int64_t ts = (int64_t)(i + 1) * 100000;
        CHECK_INT_EQ(pose_track_frame(own, f->rgb, f->w, f->h, 3 * f->w, ts, &a, &err), CR_OK);
        CHECK_INT_EQ(pose_track_frame(shared, f->rgb, f->w, f->h, 3 * f->w, ts, &b, &err), CR_OK);
        detected += a.detected;
        differ += memcmp(a.landmarks, b.landmarks, sizeof a.landmarks) != 0 ||
                  memcmp(a.world, b.world, sizeof a.world) != 0 || a.detected != b.detected;
        ptm_free(f, 1);
    }
    printf("tracking: %d of %d frames with a pose, %d differ\n", detected, n, differ);
    CHECK(detected >= n / 2);
    CHECK_INT_EQ(differ, 0);
    pose_tracker_destroy(own);
    pose_tracker_destroy(shared);
    for (int i = 0; i < n; i++)
        free(names[i]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_pose_models FRAMES_DIR\n");
        return 2;
    }
    check_loading();
    check_tracking(argv[1]);
    return check_exit();
}
