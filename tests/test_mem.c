/*
 * test_mem.c -- core/mem.h's aligned allocations: the alignment asked for, zeroing,
 * overflow, and the test builds' injected failures.
 */
#include "check.h"
#include "core/mem.h"

#include <stdint.h>

int main(void)
{
    const size_t aligns[] = {sizeof(void *), 16, 64, 4096};
    const size_t sizes[] = {0, 1, 63, 64, 65, 100000};
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            unsigned char *p = cr_malloc_aligned(aligns[a], sizes[s]);
            CHECK_MSG(p != NULL && (uintptr_t)p % aligns[a] == 0, "malloc align %zu size %zu",
                      aligns[a], sizes[s]);
            if (p != NULL && sizes[s] > 0) /* writable to the end */
                p[sizes[s] - 1] = 1;
            cr_free(p);
            unsigned char *z = cr_calloc_aligned(aligns[a], sizes[s], 3);
            CHECK_MSG(z != NULL && (uintptr_t)z % aligns[a] == 0, "calloc align %zu size %zu",
                      aligns[a], sizes[s]);
            size_t nonzero = 0;
            for (size_t i = 0; z != NULL && i < 3 * sizes[s]; i++)
                nonzero += z[i] != 0;
            CHECK_INT_EQ(nonzero, 0);
            cr_free(z);
        }
    /* count * size overflows: refused, not wrapped */
    CHECK(cr_calloc_aligned(64, SIZE_MAX / 2, 4) == NULL);
    /* an alignment posix_memalign refuses (not a power of two) */
    CHECK(cr_malloc_aligned(48, 100) == NULL);
    /* injected failures reach the aligned allocations too, once */
    cr_mem_fail_after(0, 0);
    CHECK(cr_malloc_aligned(64, 100) == NULL);
    void *p = cr_malloc_aligned(64, 100);
    CHECK(p != NULL);
    cr_free(p);
    cr_mem_fail_after(1, 0);
    void *q = cr_calloc_aligned(64, 10, 10);
    CHECK(q != NULL);
    CHECK(cr_calloc_aligned(64, 10, 10) == NULL);
    cr_free(q);
    return check_exit();
}
