/*
 * test_blazepose_heatmap.c -- the heatmap refinement from the features of the landmark
 * model's last heatmap layer (tracker.c HEATMAP) against the refinement from the
 * heatmap the engine computes whole, on real crops.
 *
 * usage: test_blazepose_heatmap FRAMES_DIR
 *
 * For the lite, full and heavy models and a few frames of FRAMES_DIR (each cut to a
 * square and scaled to the model's 256 x 256 input), the default engine is asked for both
 * the heatmap (Identity_3) and its layer's input; then
 *   - engine_pointwise_at gives every logit of the heatmap within 1e-4 of its range;
 *   - landmarks set near each channel's peak, and at random places (borders included),
 *     are refined to the same point both ways (1e-5 of the crop), and most of those near
 *     a peak do move (the comparison is not between two no-ops);
 * and engine_pointwise_from refuses what it cannot serve.
 */
#include "check.h"
#include "engine/engine.h"
#include "pose/blazepose.h"
#include "pose_test_media.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HM 64
#define C POSE_LM_ALL

static uint32_t rng = 88172645u;
static float frand01(void) /* uniform in [0, 1): xorshift32 */
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)(rng >> 8) / 16777216.0f;
}

/* The centre square of f scaled (nearest) to 256 x 256, in [0, 1]. */
static void crop_input(const ptm_frame *f, float *in)
{
    int side = f->w < f->h ? f->w : f->h, x0 = (f->w - side) / 2, y0 = (f->h - side) / 2;
    for (int y = 0; y < POSE_LM_INPUT; y++)
        for (int x = 0; x < POSE_LM_INPUT; x++) {
            const uint8_t *p = f->rgb + ((size_t)(y0 + y * side / POSE_LM_INPUT) * f->w + x0 +
                                         x * side / POSE_LM_INPUT) *
                                            3;
            for (int c = 0; c < 3; c++)
                in[((size_t)y * POSE_LM_INPUT + x) * 3 + c] = p[c] / 255.0f;
        }
}

static void check_frame(const char *model, const engine_pointwise *head, engine *e,
                        const ptm_frame *f)
{
    crop_input(f, engine_input(e, NULL));
    cr_err err = {0};
    if (engine_run(e, &err) != CR_OK) {
        CHECK_MSG(0, "%s: run: %s", model, cr_err_msg(&err));
        return;
    }
    const float *hm = engine_output(e, "Identity_3", NULL);
    const float *feat = engine_output(e, head->input, NULL);
    CHECK(hm != NULL && feat != NULL);
    if (hm == NULL || feat == NULL)
        return;

    /* every logit */
    float lo = INFINITY, hi = -INFINITY, worst = 0.0f;
    for (size_t i = 0; i < (size_t)HM * HM * C; i++) {
        lo = fminf(lo, hm[i]);
        hi = fmaxf(hi, hm[i]);
    }
    for (size_t px = 0; px < (size_t)HM * HM; px++)
        for (int c = 0; c < C; c++)
            worst = fmaxf(worst, fabsf(engine_pointwise_at(head, feat + px * head->c_in, c) -
                                       hm[px * C + c]));
    CHECK_MSG(hi > lo && worst <= 1e-4f * (hi - lo), "%s: a logit %g from the engine's (range %g)",
              model, (double)worst, (double)(hi - lo));

    /* landmarks near each channel's peak, then at random places */
    for (int set = 0; set < 2; set++) {
        pose_landmark a[C], b[C];
        memset(a, 0, sizeof a);
        for (int c = 0; c < C; c++) {
            if (set == 0) {
                size_t best = 0;
                for (size_t px = 1; px < (size_t)HM * HM; px++)
                    if (hm[px * C + c] > hm[best * C + c])
                        best = px;
                a[c].x = ((float)(best % HM) + 0.3f) / HM + 0.02f;
                a[c].y = ((float)(best / HM) + 0.6f) / HM - 0.02f;
            } else {
                a[c].x = frand01() * 1.1f - 0.05f; /* a few outside: left as they are */
                a[c].y = c % 5 == 0 ? 0.0f : frand01();
            }
        }
        pose_landmark orig[C];
        memcpy(b, a, sizeof b);
        memcpy(orig, a, sizeof orig);
        pose_landmarks_refine(a, C, hm, HM, HM, C, POSE_REFINE_KERNEL, POSE_REFINE_MIN_CONF);
        pose_landmarks_refine_from_features(b, C, feat, HM, HM, head, POSE_REFINE_KERNEL,
                                            POSE_REFINE_MIN_CONF);
        float d = 0.0f;
        int moved = 0;
        for (int c = 0; c < C; c++) {
            d = fmaxf(d, fmaxf(fabsf(a[c].x - b[c].x), fabsf(a[c].y - b[c].y)));
            moved += a[c].x != orig[c].x || a[c].y != orig[c].y;
        }
        CHECK_MSG(d <= 1e-5f, "%s, set %d: refined %g apart", model, set, (double)d);
        if (set == 0)
            CHECK_MSG(moved >= C / 2, "%s: %d of %d landmarks near a peak refined", model, moved,
                      C);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_blazepose_heatmap FRAMES_DIR\n");
        return 2;
    }
    char *names[4];
    int n = ptm_list_pngs(argv[1], names, 4);
    CHECK_MSG(n == 4, "%s: %d frames", argv[1], n);
    ptm_frame *frames[4] = {0};
    for (int i = 0; i < n; i++)
        frames[i] = ptm_load_in(argv[1], names[i]);

    static const char *const models[] = {"lite", "full", "heavy"};
    for (int m = 0; m < 3; m++) {
        char path[64];
        snprintf(path, sizeof path, "models/pose_landmark_%s.tflite", models[m]);
        engine_pointwise head = {0};
        engine_model *model = NULL;
        cr_err err = {0};
        cr_status st = engine_model_load(path, &model, &err);
        if (st == CR_OK)
            st = engine_pointwise_from(model, "Identity_3", &head, &err);
        CHECK_MSG(st == CR_OK, "%s: %s", path, cr_err_msg(&err));
        if (st != CR_OK) {
            engine_model_free(model);
            continue;
        }
        CHECK_INT_EQ(head.c_out, C);
        CHECK(head.c_in > 0);
        const char *outs[] = {"Identity_3", head.input};
        engine *e = NULL;
        st = engine_create_from(engine_default(1), model, outs, 2, 1, 1, &e, &err);
        engine_model_free(model); /* the engine holds its own reference */
        CHECK_MSG(st == CR_OK, "%s: %s", path, cr_err_msg(&err));
        for (int i = 0; e != NULL && i < n; i++)
            if (frames[i] != NULL)
                check_frame(models[m], &head, e, frames[i]);
        engine_destroy(e);
        engine_pointwise_free(&head);
        CHECK(head.input == NULL && head.weights == NULL);
    }

    /* what it refuses */
    engine_pointwise p;
    engine_model *lite = NULL;
    cr_err err = {0};
    CHECK_INT_EQ(engine_model_load("models/pose_landmark_lite.tflite", &lite, &err), CR_OK);
    if (lite != NULL) {
        CHECK_INT_EQ(engine_pointwise_from(lite, "Identity", &p, &err), CR_ERR_UNSUPPORTED);
        CHECK(p.input == NULL && strstr(cr_err_msg(&err), "1x1") != NULL);
        err = (cr_err){0};
        CHECK_INT_EQ(engine_pointwise_from(lite, "nope", &p, &err), CR_ERR_INVALID);
        CHECK(p.input == NULL);
        engine_model_free(lite);
    }
    err = (cr_err){0};
    CHECK_INT_EQ(engine_model_load("models/absent.tflite", &lite, &err), CR_ERR_NOT_FOUND);
    CHECK(lite == NULL);
    engine_pointwise_free(NULL);
    engine_model_free(NULL);

    for (int i = 0; i < n; i++) {
        if (frames[i] != NULL)
            ptm_free(frames[i], 1);
        free(names[i]);
    }
    return check_exit();
}
