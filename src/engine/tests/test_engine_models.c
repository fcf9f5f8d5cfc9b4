/*
 * test_engine_models -- every built engine against the reference engine on the
 * real pose models, on a real person crop and on noise (DESIGN.md §7): for each
 * output, max|engine - ref| <= 1e-4 * (max(ref) - min(ref)).  For an output of a
 * single value (the pose flag, a probability) the range is 0, so its scale is
 * max(|ref|, 1) instead.  One documented exception: segmentation (see compare()).
 * Sanity checks on the crop of cold_water.jpg (a frontal standing man) prove the
 * reference itself computes the model: detector best score > 0.5, landmark pose
 * flag > 0.5, nose inside the head region, shoulders below the nose.
 *
 *   test_engine_models detector|lite|full|heavy   conformance + sanity
 *   test_engine_models prune                       pruned == unpruned (full, detector)
 *
 * The crops are made by the CTest fixture engine_media (ffmpeg CLI) into
 * $CREASE_ENGINE_TEST_MEDIA: cold_water_224.rgb and cold_water_256.rgb (RGB24).
 */
#include "check.h"
#include "engine/engine_int.h"

#include <stdint.h>

#define TOL 1e-4 /* DESIGN.md §7 */

typedef struct model_case {
    const char *name, *file;
    int detector;
} model_case;

static const model_case cases[] = {
    {"detector", "models/pose_detection.tflite", 1},
    {"lite", "models/pose_landmark_lite.tflite", 0},
    {"full", "models/pose_landmark_full.tflite", 0},
    {"heavy", "models/pose_landmark_heavy.tflite", 0},
};

/* Fills the engine's input from the RGB24 crop: detector [-1,1], landmarks [0,1]
 * (MediaPipe's pose graphs, DESIGN.md §7). */
static int fill_crop(engine *e, int detector)
{
    engine_shape s;
    float *in = engine_input(e, &s);
    const char *dir = getenv("CREASE_ENGINE_TEST_MEDIA");
    char path[1024];
    snprintf(path, sizeof path, "%s/cold_water_%d.rgb", dir ? dir : ".", s.dims[1]);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (made by the engine_media fixture)\n", path);
        return 0;
    }
    size_t n = (size_t)s.dims[1] * s.dims[2] * s.dims[3];
    unsigned char *b = malloc(n);
    size_t got = b ? fread(b, 1, n, f) : 0;
    fclose(f);
    if (got != n) {
        free(b);
        fprintf(stderr, "%s: short file\n", path);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = detector ? b[i] / 127.5f - 1.0f : b[i] / 255.0f;
    free(b);
    return 1;
}

static void fill_noise(engine *e, int detector, uint32_t seed)
{
    engine_shape s;
    float *in = engine_input(e, &s);
    size_t n = (size_t)s.dims[1] * s.dims[2] * s.dims[3];
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        float u = (float)(seed >> 8) / 16777216.0f;
        in[i] = detector ? 2.0f * u - 1.0f : u;
    }
}

static size_t count_of(const engine_shape *s)
{
    size_t c = 1;
    for (int d = 0; d < s->rank; d++)
        c *= (size_t)s->dims[d];
    return c;
}

/* Compares every output of `e` with `ref`; prints the max difference per output. */
static void compare(const engine *ref, const engine *e, const char *label)
{
    const engine_graph *g = engine_get_graph(ref);
    for (int i = 0; i < g->n_outputs; i++) {
        const char *name = g->tensors[g->outputs[i]].name;
        engine_shape sr, se;
        const float *a = engine_output(ref, name, &sr);
        const float *b = engine_output(e, name, &se);
        CHECK_MSG(a && b, "%s: output %s missing", label, name);
        if (!a || !b)
            continue;
        size_t n = count_of(&sr);
        CHECK_INT_EQ(count_of(&se), n);
        double lo = a[0], hi = a[0], amax = 0, diff = 0;
        for (size_t k = 0; k < n; k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = a[k] > hi ? a[k] : hi;
            amax = fabs(a[k]) > amax ? fabs(a[k]) : amax;
            double d = fabs((double)a[k] - b[k]);
            diff = d > diff || d != d ? d : diff; /* NaN counts as a failure */
        }
        double scale = hi - lo > 0 ? hi - lo : (amax > 1 ? amax : 1);
        double tol = TOL;
        /* The landmark models' segmentation logits (Identity_2, range ~2000) are
         * ill-conditioned in float32: on the cold_water crop a reference that
         * accumulates in float instead of double differs from this one by 2.2e-4 of
         * the range at the same element where XNNPACK differs by 1.1e-4 (measured).
         * No float32 engine meets 1e-4 there; the pipeline prunes this output. */
        if (strcmp(name, "Identity_2") == 0 && g->n_outputs == 5)
            tol = 1e-3;
        printf("  %-26s %-10s max|diff| %.3g  range %.4g  ratio %.2e\n", label, name, diff, scale,
               scale > 0 ? diff / scale : diff);
        CHECK_MSG(diff <= tol * scale, "%s %s: max|diff| %g > %g * %g", label, name, diff, tol,
                  scale);
    }
}

static engine *make(const char *name, const model_case *mc, const char *const *outs, int n_outs,
                    int threads)
{
    engine *e = NULL;
    cr_err err = {0};
    cr_status st = engine_create(name, mc->file, outs, n_outs, threads, &e, &err);
    CHECK_MSG(st == CR_OK, "%s on %s: %s", name, mc->name, cr_err_msg(&err));
    return e;
}

static void run(engine *e)
{
    cr_err err = {0};
    cr_status st = engine_run(e, &err);
    CHECK_MSG(st == CR_OK, "run: %s", cr_err_msg(&err));
}

static void sanity(const engine *ref, const model_case *mc)
{
    if (mc->detector) {
        engine_shape s;
        const float *logit = engine_output(ref, "Identity_1", &s);
        double best = -100;
        for (size_t k = 0; logit && k < count_of(&s); k++) {
            double v = logit[k] < -100 ? -100 : logit[k] > 100 ? 100 : logit[k]; /* clip ±100 */
            best = v > best ? v : best;
        }
        double score = 1 / (1 + exp(-best));
        printf("  %s: best detection score %.4f\n", mc->name, score);
        CHECK_MSG(score > 0.5, "detector best score %g", score);
        return;
    }
    const float *flag = engine_output(ref, "Identity_1", NULL);
    const float *lm = engine_output(ref, "Identity", NULL);
    if (!flag || !lm) {
        CHECK(!"landmark outputs missing");
        return;
    }
    /* Identity: 39 x (x, y, z, visibility, presence) in 256-px units; 0 nose, 11/12 shoulders. */
    printf("  %s: pose flag %.4f, nose (%.1f, %.1f), shoulders y %.1f %.1f\n", mc->name, flag[0],
           lm[0], lm[1], lm[11 * 5 + 1], lm[12 * 5 + 1]);
    CHECK_MSG(flag[0] > 0.5f, "pose flag %g", flag[0]);
    /* The head of the man in the crop spans about x 100..150, y 20..90 (by hand). */
    CHECK_MSG(lm[0] > 100 && lm[0] < 150 && lm[1] > 20 && lm[1] < 90, "nose at %g,%g", lm[0],
              lm[1]);
    CHECK(lm[11 * 5 + 1] > lm[1] + 10 && lm[12 * 5 + 1] > lm[1] + 10);
}

static void conformance(const model_case *mc, int with_noise)
{
    const char *const *engines = engine_available();
    engine *ref = make("ref", mc, NULL, 0, 1);
    if (ref == NULL)
        return;
    if (!fill_crop(ref, mc->detector)) {
        CHECK(!"no crop");
        engine_destroy(ref);
        return;
    }
    run(ref);
    sanity(ref, mc);
    for (int pass = 0; pass < (with_noise ? 2 : 1); pass++) {
        if (pass == 1) {
            fill_noise(ref, mc->detector, 12345);
            run(ref);
        }
        for (int k = 0; engines[k]; k++) {
            if (strcmp(engines[k], "ref") == 0)
                continue;
            for (int threads = 1; threads <= 2; threads++) {
                engine *e = make(engines[k], mc, NULL, 0, threads);
                if (e == NULL)
                    continue;
                engine_shape s;
                float *dst = engine_input(e, &s);
                memcpy(dst, engine_input(ref, NULL), count_of(&s) * sizeof(float));
                run(e);
                run(e); /* a reused runtime gives the same result */
                char label[96];
                snprintf(label, sizeof label, "%s %s/%dt %s", mc->name, engines[k], threads,
                         pass ? "noise" : "crop");
                compare(ref, e, label);
                engine_destroy(e);
            }
        }
    }
    engine_destroy(ref);
}

/* Pruned to some outputs == unpruned on those outputs, with fewer operators: the
 * landmark model without segmentation (what the pipeline asks for), and the detector
 * with its scores only (a concatenation of reshapes, copied by hand in XNNPACK). */
static void prune_case(const model_case *mc, const char *const *need, int n_need,
                       const char *dropped)
{
    const char *const *engines = engine_available();
    for (int k = 0; engines[k]; k++) {
        engine *all = make(engines[k], mc, NULL, 0, 1);
        engine *some = make(engines[k], mc, need, n_need, 1);
        if (!all || !some || !fill_crop(all, mc->detector) || !fill_crop(some, mc->detector)) {
            CHECK(!"setup");
            engine_destroy(all);
            engine_destroy(some);
            continue;
        }
        int n_all = engine_get_graph(all)->n_nodes, n_some = engine_get_graph(some)->n_nodes;
        printf("  %s %s: %d operators unpruned, %d pruned\n", mc->name, engines[k], n_all, n_some);
        CHECK(n_some < n_all);
        CHECK(engine_output(some, dropped, NULL) == NULL);
        run(all);
        run(some);
        for (int i = 0; i < n_need; i++) {
            engine_shape s;
            const float *a = engine_output(all, need[i], &s);
            const float *b = engine_output(some, need[i], NULL);
            CHECK_MSG(a && b && memcmp(a, b, count_of(&s) * sizeof(float)) == 0,
                      "%s %s: pruned %s differs", mc->name, engines[k], need[i]);
        }
        engine_destroy(all);
        engine_destroy(some);
    }
}

static void prune_test(void)
{
    static const char *const landmark_need[] = {"Identity", "Identity_1", "Identity_3",
                                                "Identity_4"};
    static const char *const detector_need[] = {"Identity_1"};
    prune_case(&cases[2], landmark_need, 4, "Identity_2");
    prune_case(&cases[0], detector_need, 1, "Identity");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_engine_models detector|lite|full|heavy|prune\n");
        return 2;
    }
    if (strcmp(argv[1], "prune") == 0) {
        prune_test();
        return check_exit();
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            /* heavy: ~2 GMAC in the reference engine, so the crop only (POSE-NOTES.md) */
            conformance(&cases[i], strcmp(argv[1], "heavy") != 0);
            return check_exit();
        }
    fprintf(stderr, "unknown model %s\n", argv[1]);
    return 2;
}
