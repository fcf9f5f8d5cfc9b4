/*
 * stepper.c -- pose trackers stepped together, their landmark crops as one batch (see
 * pose_stepper.h).
 *
 * A step is three passes: every tracker with a frame begins it (pose_track_begin:
 * the detector where needed, then its crop into the next free slot of the batched
 * input); the model runs once; every tracker that needed it ends its frame from its
 * slot's outputs.  Slots are given in tracker order, so a step's batch holds only the
 * crops that exist: a single crop (a chunk that has ended beside one that has not, or
 * a tracker that found nobody) goes through the batch-1 engine instead, after a copy
 * of its 0.8 MB input.
 */
#include "pose/pose_stepper.h"
#include "pose/tracker_int.h"

#include "core/mem.h"
#include "engine/engine.h"

#include <string.h>

struct pose_stepper {
    int n;
    pose_tracker *t[POSE_STEPPER_MAX]; /* t[0] owns the shared engines */
    engine *batch;                     /* the landmark model for n items (n >= 2) */
    int64_t batched_runs, single_runs;
};

cr_status pose_stepper_create(const cr_config *cfg, const pose_tracker_opts *opts, int n,
                              pose_stepper **out, cr_err *err)
{
    *out = NULL;
    if (n < 1 || n > POSE_STEPPER_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "pose stepper: %d trackers (1..%d)", n,
                          POSE_STEPPER_MAX);
    pose_stepper *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "pose stepper: out of memory");
    cr_status st = pose_tracker_create(cfg, opts, &s->t[0], err);
    for (int i = 1; st == CR_OK && i < n; i++)
        st = pose_tracker_sibling(s->t[0], &s->t[i], err);
    if (st == CR_OK && n > 1)
        st = pose_tracker_lm_batch(s->t[0], n, &s->batch, err);
    s->n = n;
    if (st != CR_OK) {
        pose_stepper_destroy(s);
        return st;
    }
    *out = s;
    return CR_OK;
}

int pose_stepper_size(const pose_stepper *s)
{
    return s->n;
}

pose_tracker *pose_stepper_tracker(pose_stepper *s, int i)
{
    return i >= 0 && i < s->n ? s->t[i] : NULL;
}

void pose_stepper_runs(const pose_stepper *s, int64_t *batched, int64_t *single)
{
    *batched = s->batched_runs;
    *single = s->single_runs;
}

cr_status pose_stepper_step(pose_stepper *s, const pose_step_frame *frames, pose_result *out,
                            cr_status *status, cr_err *errs)
{
    const size_t in_size = (size_t)POSE_LM_INPUT * POSE_LM_INPUT * 3;
    float *slots = s->batch != NULL ? engine_input(s->batch, NULL) : NULL;
    int slot_of[POSE_STEPPER_MAX], crops = 0;
    cr_status first = CR_OK;
    for (int i = 0; i < s->n; i++) {
        slot_of[i] = -1;
        if (frames[i].img == NULL)
            continue;
        cr_err *e = errs != NULL ? &errs[i] : NULL;
        if (e != NULL)
            cr_err_clear(e);
        /* With one tracker the crop goes straight into the batch-1 engine. */
        float *dst = slots != NULL ? slots + in_size * (size_t)crops
                                   : engine_input(pose_tracker_lm(s->t[0]), NULL);
        int need = 0;
        status[i] =
            pose_track_begin(s->t[i], frames[i].img, frames[i].coarse, dst, &out[i], &need, e);
        if (status[i] != CR_OK && first == CR_OK)
            first = status[i];
        if (status[i] == CR_OK && need)
            slot_of[i] = crops++;
    }
    if (crops == 0)
        return first;

    engine *lm = s->batch;
    if (crops == 1 || lm == NULL) {
        lm = pose_tracker_lm(s->t[0]);
        if (slots != NULL)
            memcpy(engine_input(lm, NULL), slots, in_size * sizeof(float));
        s->single_runs++;
    } else {
        s->batched_runs++;
    }
    cr_err run_err = {0};
    cr_status st = engine_run(lm, &run_err);
    for (int i = 0; i < s->n; i++) {
        if (slot_of[i] < 0)
            continue;
        pose_lm_outputs o;
        cr_status si = st != CR_OK ? st : pose_lm_outputs_of(s->t[i], lm, slot_of[i], &o, &run_err);
        if (si != CR_OK) {
            pose_track_abort(s->t[i], &out[i]);
            status[i] = si;
            if (errs != NULL)
                cr_err_set(&errs[i], si, "%s", cr_err_msg(&run_err));
            if (first == CR_OK)
                first = si;
            continue;
        }
        pose_track_end(s->t[i], &o, frames[i].timestamp_us, &out[i]);
    }
    return first;
}

void pose_stepper_destroy(pose_stepper *s)
{
    if (s == NULL)
        return;
    for (int i = s->n - 1; i >= 1; i--) /* the siblings before the engines' owner */
        pose_tracker_destroy(s->t[i]);
    pose_tracker_destroy(s->t[0]);
    engine_destroy(s->batch);
    cr_free(s);
}
