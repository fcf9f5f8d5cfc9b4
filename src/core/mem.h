/*
 * mem.h -- the allocation wrappers every crease module uses.
 *
 * They behave like malloc/calloc/realloc/free/strdup.  Tests can make the Nth
 * allocation from now on fail (cr_mem_fail_after), once or persistently, to prove
 * that every allocating function cleans up and returns CR_ERR_NOMEM.  The fault
 * counter is process-wide test configuration, not program state.
 */
#ifndef CR_CORE_MEM_H
#define CR_CORE_MEM_H

#include <stddef.h>

void *cr_malloc(size_t n);
void *cr_calloc(size_t count, size_t size); /* NULL on overflow of count*size */
void *cr_realloc(void *p, size_t n);        /* on failure `p` is untouched */
char *cr_strdup(const char *s);
char *cr_strndup(const char *s, size_t n);
void cr_free(void *p);

/* Tests only: the allocation after `n` more successful ones fails (n = 0: the next
 * one).  `persistent` keeps failing afterwards.  n < 0 turns injection off. */
void cr_mem_fail_after(long n, int persistent);

#endif
