/*
 * check.h -- the tiny assertion kit of crease's C tests.
 *
 * CHECK(cond) and friends record a failure with file:line and go on; a test's
 * main returns check_exit() (0 when nothing failed).  SKIP(...) ends the test as
 * skipped (exit 77, ctest's SKIP_RETURN_CODE) -- only for a missing service or
 * device, and never when CREASE_TEST_REQUIRE_SERVICES=1 (CI sets it) makes the
 * service mandatory.
 */
#ifndef CR_TESTS_CHECK_H
#define CR_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "'%s' != '%s'", (a), (b))
#define CHECK_INT_EQ(a, b)                                                                         \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %.3g)", (double)(a),    \
              (double)(b), (double)(tol))

static inline int check_services_required(void)
{
    const char *v = getenv("CREASE_TEST_REQUIRE_SERVICES");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Skips (exit 77) unless services are required, in which case it fails (exit 1). */
#define SKIP_OR_FAIL(...)                                                                          \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(check_services_required() ? 1 : 77);                                                  \
    } while (0)

static inline int check_exit(void)
{
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
