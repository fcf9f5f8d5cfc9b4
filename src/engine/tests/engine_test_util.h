/*
 * engine_test_util.h -- what the engine tests share: the engines this machine can
 * run.  Include after engine/engine.h.
 */
#ifndef CR_ENGINE_TEST_UTIL_H
#define CR_ENGINE_TEST_UTIL_H

#include <stdio.h>

/* The built engines this machine can run (engine_probe); each other one is named once
 * and skipped (the CUDA engine without a GPU).  "cpu-portable", the cpu engine with its
 * portable kernels (engine_int.h), comes last: it is not listed by engine_available. */
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
