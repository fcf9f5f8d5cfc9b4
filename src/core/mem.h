/*
 * mem.h -- the allocation wrappers every crease module uses.
 *
 * They behave like malloc/calloc/realloc/free/strdup.  Tests can make the Nth
 * allocation from now on fail (cr_mem_fail_after), once or persistently, to prove
 * that every allocating function cleans up and returns CR_ERR_NOMEM.  The fault
 * counter is process-wide test configuration, not program state.  cr_mem_init
 * makes jansson allocate through them as well.
 */
#ifndef CR_CORE_MEM_H
#define CR_CORE_MEM_H

#include <stddef.h>

void *cr_malloc(size_t n);
void *cr_calloc(size_t count, size_t size); /* NULL on overflow of count*size */
void *cr_realloc(void *p, size_t n);        /* on failure `p` is untouched */
/* n bytes (zeroed with cr_calloc_aligned) at an address that is a multiple of `align`, a
 * power of two and a multiple of sizeof(void *) (else NULL); freed with cr_free.  For the engines'
 * buffers: a 64-byte vector load from an unaligned address that crosses a cache line
 * costs two. */
void *cr_malloc_aligned(size_t align, size_t n);
void *cr_calloc_aligned(size_t align, size_t count, size_t size);
char *cr_strdup(const char *s);
char *cr_strndup(const char *s, size_t n);
void cr_free(void *p);

/* Routes the allocations of the libraries that allow it (jansson) through the
 * wrappers above, so that fault injection reaches JSON code too.  Call once at
 * program start (main, a test's main), before any other thread runs and before any
 * JSON value exists.  Memory jansson hands out (json_dumps) is then cr_malloc'd and
 * freed with cr_free (which is free).  Cannot fail. */
void cr_mem_init(void);

/* Tests only: the allocation after `n` more successful ones fails (n = 0: the next
 * one).  `persistent` keeps failing afterwards.  n < 0 turns injection off. */
void cr_mem_fail_after(long n, int persistent);

#endif
