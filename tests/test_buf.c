/*
 * test_buf.c -- core/buf.h: appends, printf of any length, reserve + commit,
 * truncation, take and release, the sticky failure, and every allocation failing in turn with the
 * text left as it was.
 */
#include "check.h"

#include "core/buf.h"
#include "core/mem.h"

#include <stdint.h>
#include <string.h>

static void test_basic(void)
{
    cr_buf b = {0};
    CHECK(b.p == NULL);
    CHECK_INT_EQ(cr_buf_add(&b, "abc", 3), CR_OK);
    CHECK_INT_EQ(cr_buf_adds(&b, "def"), CR_OK);
    CHECK_INT_EQ(cr_buf_addf(&b, "-%d-%s", 42, "x"), CR_OK);
    CHECK_INT_EQ(cr_buf_add(&b, NULL, 0), CR_OK);
    CHECK_INT_EQ(b.len, 11);
    CHECK_STR_EQ(b.p, "abcdef-42-x");
    /* bytes, NUL included */
    CHECK_INT_EQ(cr_buf_add(&b, "\0z", 2), CR_OK);
    CHECK_INT_EQ(b.len, 13);
    CHECK(memcmp(b.p + 11, "\0z\0", 3) == 0);
    /* truncation keeps the memory */
    size_t cap = b.cap;
    cr_buf_truncate(&b, 99); /* beyond the end: nothing */
    CHECK_INT_EQ(b.len, 13);
    cr_buf_truncate(&b, 3);
    CHECK_STR_EQ(b.p, "abc");
    CHECK_INT_EQ(b.cap, cap);
    cr_buf_truncate(&b, 0);
    CHECK_STR_EQ(b.p, "");
    CHECK_INT_EQ(cr_buf_adds(&b, "again"), CR_OK);
    CHECK_STR_EQ(b.p, "again");
    cr_buf_release(&b);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.st == CR_OK);
    cr_buf_release(&b); /* twice is fine */
    cr_buf_release(NULL);
}

static void test_long(void)
{
    /* printf longer than any fixed scratch, and growth past many doublings */
    cr_buf b = {0};
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT_EQ(cr_buf_addf(&b, "<%s>", big), CR_OK);
    CHECK_INT_EQ(b.len, sizeof big + 1);
    CHECK(b.p[0] == '<' && b.p[b.len - 1] == '>' && b.p[b.len] == '\0');
    int bad = 0;
    for (int i = 0; i < 100000; i++)
        bad += cr_buf_add(&b, "0123456789", 10) != CR_OK;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(b.len, sizeof big + 1 + 1000000);
    CHECK(b.cap > b.len);
    cr_buf_release(&b);
}

static void test_reserve_commit(void)
{
    cr_buf b = {0};
    CHECK_INT_EQ(cr_buf_reserve(&b, 0), CR_OK);
    CHECK(b.p != NULL && b.p[0] == '\0' && b.len == 0);
    CHECK_INT_EQ(cr_buf_reserve(&b, 100), CR_OK);
    CHECK(b.cap >= 101);
    memcpy(b.p + b.len, "hello", 5);
    CHECK_INT_EQ(cr_buf_commit(&b, 5), CR_OK);
    CHECK_STR_EQ(b.p, "hello");
    /* more than reserved is a bug of the caller */
    CHECK_INT_EQ(cr_buf_commit(&b, b.cap), CR_ERR_INTERNAL);
    CHECK_STR_EQ(b.p, "hello");
    CHECK_INT_EQ(b.st, CR_ERR_INTERNAL);
    cr_buf_release(&b);
    /* overflow of the size */
    CHECK_INT_EQ(cr_buf_add(&b, "ab", 2), CR_OK);
    CHECK_INT_EQ(cr_buf_reserve(&b, SIZE_MAX - 2), CR_ERR_NOMEM);
    CHECK_STR_EQ(b.p, "ab");
    cr_buf_release(&b);
}

static void test_take(void)
{
    cr_buf b = {0};
    char *s = (char *)1;
    size_t n = 99;
    /* a buffer that never grew gives "" */
    CHECK_INT_EQ(cr_buf_take(&b, &s, &n), CR_OK);
    CHECK(s != NULL && s[0] == '\0' && n == 0);
    cr_free(s);
    cr_buf_adds(&b, "owned");
    CHECK_INT_EQ(cr_buf_take(&b, &s, NULL), CR_OK);
    CHECK_STR_EQ(s, "owned");
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    cr_free(s);
    /* a failed buffer cannot be taken and stays as it was */
    cr_buf_adds(&b, "kept");
    CHECK_INT_EQ(cr_buf_adds(&b, NULL), CR_ERR_INVALID);
    CHECK_INT_EQ(cr_buf_take(&b, &s, &n), CR_ERR_INVALID);
    CHECK(s == NULL && n == 0);
    CHECK_STR_EQ(b.p, "kept");
    cr_buf_release(&b);
}

/* Every allocation of every call fails in turn: the call returns CR_ERR_NOMEM,
 * the text is as it was, later calls keep failing, and nothing leaks (ASan). */
static void test_nomem(void)
{
    int failures = 0;
    for (long n = 0;; n++) {
        cr_buf b = {0};
        char expect[256] = "";
        cr_mem_fail_after(n, 0);
        cr_status st = CR_OK;
        for (int i = 0; i < 12 && st == CR_OK; i++) {
            char before[256];
            snprintf(before, sizeof before, "%s", b.p ? b.p : "");
            size_t len = b.len;
            switch (i % 4) {
            case 0:
                st = cr_buf_add(&b, "0123456789", 10);
                break;
            case 1:
                st = cr_buf_adds(&b, "abcdefghij");
                break;
            case 2:
                st = cr_buf_addf(&b, "%08d..", i);
                break;
            default:
                st = cr_buf_reserve(&b, 10);
                if (st == CR_OK) {
                    memcpy(b.p + b.len, "!!!!!!!!!!", 10);
                    st = cr_buf_commit(&b, 10);
                }
            }
            if (st != CR_OK) {
                CHECK_INT_EQ(st, CR_ERR_NOMEM);
                CHECK_INT_EQ(b.st, CR_ERR_NOMEM);
                CHECK_INT_EQ(b.len, len);
                CHECK_STR_EQ(b.p ? b.p : "", before);
                CHECK_INT_EQ(cr_buf_adds(&b, "x"), CR_ERR_NOMEM); /* sticky */
                CHECK_INT_EQ(b.len, len);
            }
            snprintf(expect, sizeof expect, "%s", b.p ? b.p : "");
        }
        char *s = NULL;
        cr_status tst = cr_buf_take(&b, &s, NULL);
        cr_mem_fail_after(-1, 0);
        if (st == CR_OK && tst == CR_OK) {
            CHECK_INT_EQ(strlen(s), 120);
            CHECK_STR_EQ(s, expect);
            cr_free(s);
            break;
        }
        CHECK(s == NULL);
        cr_buf_release(&b);
        failures++;
        CHECK(n < 100);
        if (n >= 100)
            break;
    }
    printf("buf: %d injected allocation failures, then success\n", failures);
    CHECK(failures >= 2);

    /* take of a buffer that never grew, its one allocation failing */
    cr_buf b = {0};
    char *s = (char *)1;
    cr_mem_fail_after(0, 0);
    CHECK_INT_EQ(cr_buf_take(&b, &s, NULL), CR_ERR_NOMEM);
    cr_mem_fail_after(-1, 0);
    CHECK(s == NULL && b.p == NULL);
    cr_buf_release(&b);
}

/* Entities for HTML and XML text: each of & < > " ' and nothing else. */
static void test_escaped(void)
{
    cr_buf b = {0};
    CHECK_INT_EQ(cr_buf_add_escaped(&b, "a<b & \"c\" 'd'>e"), CR_OK);
    CHECK_INT_EQ(cr_buf_add_escaped(&b, NULL), CR_OK);
    CHECK_INT_EQ(cr_buf_add_escaped(&b, ""), CR_OK);
    CHECK(b.p != NULL && strcmp(b.p, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;e") == 0);
    cr_buf_release(&b);
    cr_mem_fail_after(0, 0);
    CHECK_INT_EQ(cr_buf_add_escaped(&b, "<x>"), CR_ERR_NOMEM);
    cr_mem_fail_after(-1, 0);
    CHECK(b.len == 0);
    cr_buf_release(&b);
}

int main(void)
{
    test_escaped();
    test_basic();
    test_long();
    test_reserve_commit();
    test_take();
    test_nomem();
    return check_exit();
}
