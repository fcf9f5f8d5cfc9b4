/*
 * engine_test_util.h -- what the engine tests share: the engines this machine can
 * run.  Include after engine/engine.h.
 */
#ifndef CR_ENGINE_TEST_UTIL_H
#define CR_ENGINE_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

/* How much looser than the float32 engines (DESIGN.md §7's 1e-4 of each output's range)
 * an engine's results may be against the reference: "cpu-amx" multiplies in three
 * bfloat16 products per float32 one (cpu_kernels_amx.c), 16 bits of mantissa instead of
 * 24, so its outputs differ ~10x more (measured on the full landmark model with noise
 * input: 1.9e-4 of the landmarks' range).  Its landmarks are held to the float32
 * engines' by test_blazepose_engines. */
static double engine_test_looseness(const char *engine)
{
    return strcmp(engine, "cpu-amx") == 0 ? 10.0 : 1.0;
}

/* 1: the engine runs on the thread count it is given, so a test tries 1 and 2; the others
 * ignore it (engine.h: "cpu", "cpu-amx", "cuda"), and a second run of each would test the
 * same code again (the emulated CUDA engine's took ~45 s). */
static int engine_test_threaded(const char *engine)
{
    return strcmp(engine, "xnnpack") == 0;
}

/* The built engines this machine can run (engine_probe); each other one is named once
 * and skipped (the CUDA engine without a GPU, "cpu-amx" without AMX).  "cpu-portable",
 * the cpu engine with its portable kernels (engine_int.h), comes last: it is not listed
 * by engine_available. */
static const char *const *runnable_engines(void)
{
    static const char *list[16];
    static int said;
    const char *const *all = engine_available();
    int n = 0;
    for (int k = 0; all[k] != NULL && n < 14; k++) {
        cr_err err = {0};
        if (engine_probe(all[k], &err) == CR_OK)
            list[n++] = all[k];
        else if (!said)
            printf("  skip engine %s: %s\n", all[k], cr_err_msg(&err));
    }
    list[n++] = "cpu-portable";
    said = 1;
    list[n] = NULL;
    return list;
}

#endif
