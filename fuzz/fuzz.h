/*
 * fuzz.h -- what the fuzz targets share: the libFuzzer entry points and an invariant
 * check that aborts (libFuzzer then saves the input as a crash; the replay test fails).
 *
 * A target passes untrusted bytes to one parser and checks what the parser's header
 * promises about its result (statuses, bounds, ownership), not only that nothing
 * crashed: a broken promise is a bug as much as an overflow is.
 */
#ifndef CR_FUZZ_FUZZ_H
#define CR_FUZZ_FUZZ_H

#include "core/log.h"
#include "core/mem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* What every target sets up once: crease's allocator behind jansson, and logs of
 * errors only (a parser's warnings on hostile bytes would flood the fuzzer's output). */
static inline void fuzz_init_quiet(void)
{
    cr_mem_init();
    cr_log_configure(CR_LOG_ERROR, 0);
}

/* LLVMFuzzerInitialize for a target that needs nothing more than fuzz_init_quiet. */
#define FUZZ_INIT_QUIET                                                                            \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                              \
    {                                                                                              \
        (void)argc;                                                                                \
        (void)argv;                                                                                \
        fuzz_init_quiet();                                                                         \
        return 0;                                                                                  \
    }

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
