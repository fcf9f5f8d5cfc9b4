/*
 * test_engine_cuda -- the CUDA engine where it is built.  Skipped (77) when the binary
 * has no "cuda" engine.
 *
 * Without a usable GPU (CPU CI, where nvcc builds the engine but nothing can run it):
 * engine_probe and engine_create / engine_create_batch fail with CR_ERR_UNSUPPORTED and
 * "cuda engine: no CUDA device: <the runtime's reason>", leave *out NULL, and fail the
 * same way when asked again (nothing sticky, no crash).  A hang is caught by the test's
 * TIMEOUT.
 * CREASE_TEST_REQUIRE_GPU=1 (scripts/gpu-check) makes a missing GPU a failure.
 * With a GPU: creation succeeds and a run of the lite landmark model on a constant
 * image gives finite outputs, the pose flag a probability.  Agreement with the reference
 * is checked by test_engine_ops and test_engine_models, which run every engine the
 * machine can run, and by scripts/gpu-check.
 */
#include "check.h"
#include "engine/engine_int.h"

#define LITE "models/pose_landmark_lite.tflite"

static int built(void)
{
    for (const char *const *e = engine_available(); *e != NULL; e++)
        if (strcmp(*e, "cuda") == 0)
            return 1;
    return 0;
}

static void no_device(const cr_err *probe_err)
{
    printf("no GPU here: %s\n", cr_err_msg(probe_err));
    CHECK_MSG(strstr(cr_err_msg(probe_err), "cuda engine: no CUDA device: ") != NULL, "%s",
              cr_err_msg(probe_err));
    for (int attempt = 0; attempt < 2; attempt++) {
        engine *e = (engine *)1;
        cr_err err = {0};
        CHECK_INT_EQ(engine_create("cuda", LITE, NULL, 0, 1, &e, &err), CR_ERR_UNSUPPORTED);
        CHECK(e == NULL);
        CHECK_MSG(strstr(cr_err_msg(&err), "no CUDA device") != NULL, "%s", cr_err_msg(&err));
        e = (engine *)1;
        cr_err_clear(&err);
        CHECK_INT_EQ(engine_create_batch("cuda", LITE, NULL, 0, 1, 64, &e, &err),
                     CR_ERR_UNSUPPORTED);
        CHECK(e == NULL);
        CHECK_MSG(strstr(cr_err_msg(&err), "no CUDA device") != NULL, "%s", cr_err_msg(&err));
    }
}

static void with_device(void)
{
    const char *outs[] = {"Identity", "Identity_1"};
    engine *e = NULL;
    cr_err err = {0};
    cr_status st = engine_create_batch("cuda", LITE, outs, 2, 1, 2, &e, &err);
    CHECK_MSG(st == CR_OK, "%s", cr_err_msg(&err));
    if (st != CR_OK)
        return;
    engine_shape s;
    float *in = engine_input(e, &s);
    size_t n = (size_t)s.dims[0] * s.dims[1] * s.dims[2] * s.dims[3];
    for (size_t i = 0; i < n; i++)
        in[i] = 0.5f;
    st = engine_run(e, &err);
    CHECK_MSG(st == CR_OK, "%s", cr_err_msg(&err));
    const float *lm = engine_output(e, "Identity", &s),
                *flag = engine_output(e, "Identity_1", NULL);
    int finite = 1;
    for (int i = 0; st == CR_OK && i < s.dims[0] * s.dims[1]; i++)
        finite &= isfinite(lm[i]);
    CHECK(finite);
    CHECK(st != CR_OK || (flag[0] >= 0.0f && flag[0] <= 1.0f && flag[0] == flag[1]));
    engine_destroy(e);
}

int main(void)
{
    if (!built()) {
        fprintf(stderr, "skip: the cuda engine is not built in (CREASE_CUDA)\n");
        return 77;
    }
    cr_err err = {0};
    const char *need = getenv("CREASE_TEST_REQUIRE_GPU");
    if (engine_probe("cuda", &err) == CR_OK)
        with_device();
    else if (need != NULL && strcmp(need, "1") == 0)
        CHECK_MSG(0, "CREASE_TEST_REQUIRE_GPU=1: %s", cr_err_msg(&err));
    else
        no_device(&err);
    return check_exit();
}
