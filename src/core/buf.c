/*
 * buf.c -- the growable byte/text buffer (see buf.h for the contract).
 *
 * Growth doubles the capacity from 64 bytes (ours: small enough for the short
 * strings of request signing, and a few dozen doublings reach the tens of MB of a
 * merged results file), so appending n bytes in pieces costs O(n) copies.
 */
#include "core/buf.h"

#include "core/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BUF_MIN_CAP 64

static cr_status fail(cr_buf *b, cr_status st)
{
    b->st = st;
    return st;
}

cr_status cr_buf_reserve(cr_buf *b, size_t n)
{
    if (b->st != CR_OK)
        return b->st;
    if (n > SIZE_MAX - 1 - b->len)
        return fail(b, CR_ERR_NOMEM);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return CR_OK;
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = cr_realloc(b->p, cap);
    if (p == NULL)
        return fail(b, CR_ERR_NOMEM);
    if (b->p == NULL)
        p[0] = '\0';
    b->p = p;
    b->cap = cap;
    return CR_OK;
}

cr_status cr_buf_commit(cr_buf *b, size_t n)
{
    if (b->st != CR_OK)
        return b->st;
    if (b->p == NULL || n > b->cap - b->len - 1)
        return fail(b, CR_ERR_INTERNAL);
    b->len += n;
    b->p[b->len] = '\0';
    return CR_OK;
}

cr_status cr_buf_add(cr_buf *b, const void *data, size_t n)
{
    cr_status st = cr_buf_reserve(b, n);
    if (st != CR_OK)
        return st;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return CR_OK;
}

cr_status cr_buf_adds(cr_buf *b, const char *s)
{
    if (b->st != CR_OK)
        return b->st;
    if (s == NULL)
        return fail(b, CR_ERR_INVALID);
    return cr_buf_add(b, s, strlen(s));
}

cr_status cr_buf_vaddf(cr_buf *b, const char *fmt, va_list ap)
{
    if (b->st != CR_OK)
        return b->st;
    va_list ap2;
    va_copy(ap2, ap);
    int need = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (need < 0)
        return fail(b, CR_ERR_INVALID);
    cr_status st = cr_buf_reserve(b, (size_t)need);
    if (st != CR_OK)
        return st;
    vsnprintf(b->p + b->len, (size_t)need + 1, fmt, ap);
    b->len += (size_t)need;
    return CR_OK;
}

cr_status cr_buf_addf(cr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_status st = cr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return st;
}

void cr_buf_truncate(cr_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->p[len] = '\0';
}

cr_status cr_buf_take(cr_buf *b, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (b->st != CR_OK)
        return b->st;
    cr_status st = cr_buf_reserve(b, 0); /* a buffer that never grew: "" */
    if (st != CR_OK)
        return st;
    *out = b->p;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return CR_OK;
}

void cr_buf_release(cr_buf *b)
{
    if (b == NULL)
        return;
    cr_free(b->p);
    memset(b, 0, sizeof *b);
}

cr_status cr_buf_add_escaped(cr_buf *b, const char *s)
{
    for (; s != NULL && *s; s++) {
        const char *ent = *s == '&'    ? "&amp;"
                          : *s == '<'  ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&#39;"
                                       : NULL;
        cr_status st = ent != NULL ? cr_buf_adds(b, ent) : cr_buf_add(b, s, 1);
        if (st != CR_OK)
            return st;
    }
    return b->st;
}
