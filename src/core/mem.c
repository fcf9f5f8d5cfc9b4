/*
 * mem.c -- allocation wrappers with fault injection for tests, and the hook that
 * makes jansson use them.
 */
#include "core/mem.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1; /* test configuration: <0 = off */
static atomic_int fail_persistent = 0;

void cr_mem_fail_after(long n, int persistent)
{
    atomic_store(&fail_persistent, persistent);
    atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
    long c = atomic_load(&fail_countdown);
    if (c < 0)
        return 0;
    if (c == 0) {
        if (!atomic_load(&fail_persistent))
            atomic_store(&fail_countdown, -1);
        return 1;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *cr_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *cr_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *cr_malloc_aligned(size_t align, size_t n)
{
    /* checked here: posix_memalign's answer to a bad alignment is EINVAL, a sanitizer's
     * is to abort */
    if (align == 0 || (align & (align - 1)) != 0 || align % sizeof(void *) != 0)
        return NULL;
    if (should_fail())
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, align, n ? n : 1) == 0 ? p : NULL;
}

void *cr_calloc_aligned(size_t align, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = cr_malloc_aligned(align, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *cr_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *cr_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = cr_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *cr_strdup(const char *s)
{
    return cr_strndup(s, SIZE_MAX);
}

void cr_free(void *p)
{
    free(p);
}

void cr_mem_init(void)
{
    json_set_alloc_funcs(cr_malloc, cr_free);
}
