/*
 * test_engine_models -- every built engine (that this machine can run: engine_probe;
 * the CUDA engine without a GPU is named and skipped) against the reference engine on the
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
 *   test_engine_models batch                       a batch of 3 == 3 runs of 1, every engine
 *   test_engine_models features                    the heatmap layer's input as an output
 *                                                  (lite): alone, and with the layer kept
 *
 * The crops are made by the CTest fixture engine_media (ffmpeg CLI) into
 * $CREASE_ENGINE_TEST_MEDIA: cold_water_224.rgb and cold_water_256.rgb (RGB24).
 */
#include "check.h"
#include "engine/engine_int.h"
#include "engine_test_util.h"

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
        double tol = TOL * engine_test_looseness(engine_name(e));
        /* The landmark models' segmentation logits (Identity_2, range ~2000) are
         * ill-conditioned in float32: on the cold_water crop a reference that
         * accumulates in float instead of double differs from this one by 2.2e-4 of
         * the range at the same element where XNNPACK differs by 1.1e-4 (measured).
         * No float32 engine meets 1e-4 there; the pipeline prunes this output. */
        if (strcmp(name, "Identity_2") == 0 && g->n_outputs == 5)
            tol = 1e-3 * engine_test_looseness(engine_name(e));
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
    const char *const *engines = runnable_engines();
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
            for (int threads = 1; threads <= (engine_test_threaded(engines[k]) ? 2 : 1);
                 threads++) {
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
    const char *const *engines = runnable_engines();
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

/* Item `b` of a batch engine's input: the crop, noise, or the crop mirrored left to
 * right (three different pictures of the same size). */
static void fill_item(engine *one, int detector, int b)
{
    engine_shape s;
    float *in = engine_input(one, &s);
    if (b == 1) {
        fill_noise(one, detector, 777);
        return;
    }
    if (!fill_crop(one, detector))
        CHECK(!"no crop");
    if (b == 2)
        for (int y = 0; y < s.dims[1]; y++)
            for (int x = 0; x < s.dims[2] / 2; x++)
                for (int c = 0; c < s.dims[3]; c++) {
                    float *p = in + ((size_t)y * s.dims[2] + x) * s.dims[3] + c;
                    float *q = in + ((size_t)y * s.dims[2] + s.dims[2] - 1 - x) * s.dims[3] + c;
                    float t = *p;
                    *p = *q;
                    *q = t;
                }
}

/* A batch of 3 computes each item as a batch of 1 does: bit for bit in the reference
 * engine (the same loops over the same data), within TOL of each output's range in the
 * others (XNNPACK may pick other microkernels for other batch sizes). */
static void batch_case(const model_case *mc, const char *const *outs, int n_outs)
{
    enum { N = 3 };
    const char *const *engines = runnable_engines();
    for (int k = 0; engines[k]; k++) {
        engine *one = make(engines[k], mc, outs, n_outs, 1), *many = NULL;
        cr_err err = {0};
        CHECK_MSG(engine_create_batch(engines[k], mc->file, outs, n_outs, 1, N, &many, &err) ==
                      CR_OK,
                  "%s batch %d: %s", engines[k], N, cr_err_msg(&err));
        if (one == NULL || many == NULL) {
            engine_destroy(one);
            engine_destroy(many);
            continue;
        }
        CHECK_INT_EQ(engine_batch(many), N);
        CHECK_INT_EQ(engine_batch(one), 1);
        engine_shape s1, sn;
        float *in1 = engine_input(one, &s1), *inn = engine_input(many, &sn);
        CHECK(sn.dims[0] == N && sn.dims[1] == s1.dims[1] && sn.dims[3] == s1.dims[3]);
        size_t item = count_of(&s1);
        for (int b = 0; b < N; b++) {
            fill_item(one, mc->detector, b);
            memcpy(inn + (size_t)b * item, in1, item * sizeof(float));
        }
        run(many);
        const engine_graph *g = engine_get_graph(one);
        for (int b = 0; b < N; b++) {
            fill_item(one, mc->detector, b);
            run(one);
            for (int i = 0; i < g->n_outputs; i++) {
                const char *name = g->tensors[g->outputs[i]].name;
                engine_shape o1, on;
                const float *a = engine_output(one, name, &o1);
                const float *bn = engine_output(many, name, &on);
                size_t n = count_of(&o1);
                CHECK(on.dims[0] == N && count_of(&on) == N * n);
                bn += (size_t)b * n;
                double lo = a[0], hi = a[0], diff = 0;
                for (size_t j = 0; j < n; j++) {
                    lo = a[j] < lo ? a[j] : lo;
                    hi = a[j] > hi ? a[j] : hi;
                    double d = fabs((double)a[j] - bn[j]);
                    diff = d > diff || d != d ? d : diff;
                }
                double scale = hi - lo > 0 ? hi - lo : 1;
                int exact = strcmp(engines[k], "ref") == 0;
                printf("  %s %s item %d %-10s max|diff| %.3g (range %.4g)\n", mc->name, engines[k],
                       b, name, diff, scale);
                CHECK_MSG(
                    exact ? diff == 0 : diff <= TOL * engine_test_looseness(engines[k]) * scale,
                    "%s %s item %d %s: batch differs by %g", mc->name, engines[k], b, name, diff);
            }
        }
        engine_destroy(one);
        engine_destroy(many);
    }
}

/* A graph whose operator mixes the items of a batch is refused, and left unchanged. */
static void batch_refused(void)
{
    cr_err err = {0};
    engine_graph *g = engine_graph_new();
    CHECK(g != NULL);
    if (g == NULL)
        return;
    int d[4] = {1, 2, 2, 3}, d2[4] = {2, 2, 2, 3};
    int x = engine_graph_add_tensor(g, "x", 4, d, NULL, &err);
    int y = engine_graph_add_tensor(g, "y", 4, d2, NULL, &err);
    g->input = x;
    engine_graph_node n = {.op = ENGINE_GRAPH_CONCAT, .n_in = 2, .in = {x, x}, .out = y, .axis = 0};
    CHECK(engine_graph_add_node(g, &n, &err) >= 0);
    g->n_outputs = 1;
    g->outputs[0] = y;
    CHECK_MSG(engine_graph_check(g, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK(engine_graph_set_batch(g, 4, &err) == CR_ERR_UNSUPPORTED);
    CHECK(strstr(cr_err_msg(&err), "batch") != NULL);
    CHECK(g->tensors[x].dims[0] == 1 && g->tensors[y].dims[0] == 2);
    err = (cr_err){0};
    CHECK(engine_graph_set_batch(g, 0, &err) == CR_ERR_LIMIT);
    engine_graph_free(g);
}

/* The batch limit is on the whole batch's activations (2^33 floats, graph.c): the full
 * landmark model, pipeline outputs (11.2 M floats an item), takes a batch of 256 (the
 * GPU engine's benchmark size) and refuses 1024, leaving the graph unchanged. */
static void batch_limit(void)
{
    static const char *const need[] = {"Identity", "Identity_1", "Identity_3", "Identity_4"};
    engine_tflite_model *m = NULL;
    engine_graph *g = NULL;
    cr_err err = {0};
    CHECK_MSG(engine_tflite_model_load(cases[2].file, &m, &err) == CR_OK, "%s", cr_err_msg(&err));
    if (m == NULL)
        return;
    CHECK_MSG(engine_graph_from_tflite(m, &g, &err) == CR_OK, "%s", cr_err_msg(&err));
    engine_tflite_model_free(m);
    if (g == NULL)
        return;
    CHECK(engine_graph_prune(g, need, 4, &err) == CR_OK);
    CHECK_INT_EQ(engine_graph_set_batch(g, 1024, &err), CR_ERR_LIMIT);
    CHECK(g->tensors[g->input].dims[0] == 1);
    err = (cr_err){0};
    CHECK_MSG(engine_graph_set_batch(g, 256, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK(g->tensors[g->input].dims[0] == 256);
    engine_graph_free(g);
}

static void batch_test(void)
{
    static const char *const landmark_need[] = {"Identity", "Identity_1", "Identity_3",
                                                "Identity_4"};
    batch_case(&cases[0], NULL, 0);
    batch_case(&cases[2], landmark_need, 4);
    batch_refused();
    batch_limit();
}

/* The outputs the pose tracker asks for (pose/tracker.c HEATMAP): the input of the
 * heatmap's last layer in the heatmap's place, so that pruning leaves it a last tensor no
 * operator reads; and that input next to the heatmap, an inner tensor given out as well.
 * Every engine against the reference asked for the same. */
static void features_test(const model_case *mc)
{
    engine_pointwise head = {0};
    engine_model *model = NULL;
    cr_err err = {0};
    cr_status st = engine_model_load(mc->file, &model, &err);
    if (st == CR_OK)
        st = engine_pointwise_from(model, "Identity_3", &head, &err);
    engine_model_free(model);
    CHECK_MSG(st == CR_OK, "%s: %s", mc->name, cr_err_msg(&err));
    if (head.input == NULL)
        return;
    const char *const alone[] = {"Identity", "Identity_1", head.input, "Identity_4"};
    const char *const both[] = {"Identity_3", head.input};
    const char *const *sets[] = {alone, both};
    const int n_sets[] = {4, 2};
    const char *const *engines = runnable_engines();
    for (int set = 0; set < 2; set++) {
        engine *ref = make("ref", mc, sets[set], n_sets[set], 1);
        if (ref == NULL || !fill_crop(ref, mc->detector)) {
            CHECK(!"setup");
            engine_destroy(ref);
            continue;
        }
        run(ref);
        int nodes_ref = engine_get_graph(ref)->n_nodes;
        for (int k = 0; engines[k]; k++) {
            if (strcmp(engines[k], "ref") == 0)
                continue;
            engine *e = make(engines[k], mc, sets[set], n_sets[set], 1);
            if (e == NULL)
                continue;
            engine_shape s;
            float *dst = engine_input(e, &s); /* s is set before count_of reads it */
            memcpy(dst, engine_input(ref, NULL), count_of(&s) * sizeof(float));
            run(e);
            char label[96];
            snprintf(label, sizeof label, "%s %s %s", mc->name, engines[k],
                     set ? "features+heatmap" : "features");
            compare(ref, e, label);
            CHECK_INT_EQ(engine_get_graph(e)->n_nodes, nodes_ref);
            engine_destroy(e);
        }
        if (set == 0) { /* the heatmap layer, and it alone, is gone */
            static const char *const pipeline[] = {"Identity", "Identity_1", "Identity_3",
                                                   "Identity_4"};
            CHECK(engine_output(ref, "Identity_3", NULL) == NULL);
            engine *with = make("ref", mc, pipeline, 4, 1);
            CHECK(with != NULL && engine_get_graph(with)->n_nodes == nodes_ref + 1);
            engine_destroy(with);
        }
        engine_destroy(ref);
    }
    engine_pointwise_free(&head);
}

/* Engines made from one loaded model (engine_create_from) against engines made from the
 * file: the same graph and the same numbers, bit for bit.  The loader's reference is
 * dropped before the engines run (each holds its own: under ASan a missing one is a
 * use after free), and one engine asks for every output at batch 2 while another is
 * pruned, so a share that changed the model would show in the other. */
static void shared_test(const model_case *mc)
{
    static const char *const pipeline[] = {"Identity", "Identity_1", "Identity_3", "Identity_4"};
    const char *const *engines = runnable_engines();
    for (int k = 0; engines[k]; k++) {
#ifdef CREASE_CUDA_EMULATE
        /* emulated, the CUDA engine takes ~10 s a run of the lite model: its graph comes
         * from engine.c as every engine's does, and a GPU run checks the real one */
        if (strcmp(engines[k], "cuda") == 0)
            continue;
#endif
        engine_model *model = NULL;
        engine *pruned = NULL, *whole = NULL, *own = make(engines[k], mc, pipeline, 4, 1);
        cr_err err = {0};
        cr_status st = engine_model_load(mc->file, &model, &err);
        if (st == CR_OK)
            st = engine_create_from(engines[k], model, NULL, 0, 1, 2, &whole, &err);
        if (st == CR_OK)
            st = engine_create_from(engines[k], model, pipeline, 4, 1, 1, &pruned, &err);
        engine_model_free(model);
        CHECK_MSG(st == CR_OK, "%s from a loaded %s: %s", engines[k], mc->name, cr_err_msg(&err));
        if (st != CR_OK || own == NULL || !fill_crop(own, mc->detector)) {
            engine_destroy(pruned);
            engine_destroy(whole);
            engine_destroy(own);
            continue;
        }
        engine_shape s;
        float *in = engine_input(pruned, &s);
        size_t n = count_of(&s);
        memcpy(in, engine_input(own, NULL), n * sizeof(float));
        float *in2 = engine_input(whole, NULL);
        memcpy(in2, in, n * sizeof(float));
        memcpy(in2 + n, in, n * sizeof(float));
        run(whole);
        run(pruned);
        run(own);
        CHECK_INT_EQ(engine_get_graph(pruned)->n_nodes, engine_get_graph(own)->n_nodes);
        CHECK(engine_get_graph(whole)->n_nodes > engine_get_graph(pruned)->n_nodes);
        int differ = 0;
        for (int i = 0; i < 4; i++) {
            engine_shape os;
            const float *a = engine_output(pruned, pipeline[i], &os);
            const float *b = engine_output(own, pipeline[i], NULL);
            CHECK(a != NULL && b != NULL && engine_output(whole, pipeline[i], NULL) != NULL);
            for (size_t j = 0; a && b && j < count_of(&os); j++)
                differ += memcmp(&a[j], &b[j], sizeof a[j]) != 0;
        }
        printf("  %-26s %-10s from a loaded model: %d values differ\n", mc->name, engines[k],
               differ);
        CHECK_INT_EQ(differ, 0);
        engine_destroy(pruned);
        engine_destroy(whole);
        engine_destroy(own);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr,
                "usage: test_engine_models detector|lite|full|heavy|prune|batch|features\n");
        return 2;
    }
    if (strcmp(argv[1], "prune") == 0) {
        prune_test();
        return check_exit();
    }
    if (strcmp(argv[1], "batch") == 0) {
        batch_test();
        return check_exit();
    }
    if (strcmp(argv[1], "features") == 0) {
        features_test(&cases[1]);
        shared_test(&cases[1]);
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
