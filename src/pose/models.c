/*
 * models.c -- the pose models loaded once for many trackers (contract: pose_models.h).
 *
 * One mutex guards the table and is held while a file loads: two trackers asking for
 * the same model at once then load it once, and a load happens once per process at
 * most per file, so holding the lock through it costs nothing that matters.
 */
#include "pose/pose_models.h"

#include "core/mem.h"
#include "core/paths.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const landmark_models[] = {"lite", "full", "heavy"};
#define N_LANDMARK_MODELS (int)(sizeof landmark_models / sizeof landmark_models[0])

struct pose_models {
    const cr_config *cfg;
    pthread_mutex_t lock;
    engine_model *det;
    engine_model *lm[N_LANDMARK_MODELS];
};

cr_status pose_models_create(const cr_config *cfg, pose_models **out, cr_err *err)
{
    static const cr_config no_cfg; /* models_dir "" -> ./models, then the share dir */
    *out = NULL;
    pose_models *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "pose models: out of memory");
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        cr_free(s);
        return cr_err_set(err, CR_ERR_NOMEM, "pose models: cannot create a mutex");
    }
    s->cfg = cfg != NULL ? cfg : &no_cfg;
    *out = s;
    return CR_OK;
}

/* *slot, loading model file `file` into it first when empty (the lock held). */
static cr_status load_once(pose_models *s, const char *file, engine_model **slot, cr_err *err)
{
    if (*slot != NULL)
        return CR_OK;
    char path[4096];
    cr_status st = cr_find_model(s->cfg, file, path, sizeof path, err);
    if (st != CR_OK)
        return st;
    return engine_model_load(path, slot, err);
}

cr_status pose_models_get(pose_models *s, const char *model, engine_model **det, engine_model **lm,
                          cr_err *err)
{
    *det = *lm = NULL;
    int k = 0;
    while (k < N_LANDMARK_MODELS && (model == NULL || strcmp(model, landmark_models[k]) != 0))
        k++;
    if (k == N_LANDMARK_MODELS)
        return cr_err_set(err, CR_ERR_INVALID, "unknown pose model '%s' (lite, full, heavy)",
                          model ? model : "(null)");
    char file[64];
    snprintf(file, sizeof file, "pose_landmark_%s.tflite", landmark_models[k]);
    pthread_mutex_lock(&s->lock);
    cr_status st = load_once(s, "pose_detection.tflite", &s->det, err);
    if (st == CR_OK)
        st = load_once(s, file, &s->lm[k], err);
    if (st == CR_OK) {
        *det = engine_model_ref(s->det);
        *lm = engine_model_ref(s->lm[k]);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

void pose_models_destroy(pose_models *s)
{
    if (s == NULL)
        return;
    engine_model_free(s->det);
    for (int k = 0; k < N_LANDMARK_MODELS; k++)
        engine_model_free(s->lm[k]);
    pthread_mutex_destroy(&s->lock);
    cr_free(s);
}
