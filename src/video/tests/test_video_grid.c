/*
 * test_video_grid.c -- the chunk plan and the grid arithmetic (no media).
 */
#include "check.h"
#include "core/mem.h"
#include "video/video.h"

static void check_plan(double dur, int c, size_t want_n)
{
    video_chunk *ch = NULL;
    size_t n = 0;
    cr_err err = {0};
    CHECK(video_chunk_plan(dur, c, &ch, &n, &err) == CR_OK);
    CHECK_MSG(n == want_n, "plan(%g, %d): %zu chunks, want %zu", dur, c, n, want_n);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT_EQ(ch[i].index, i);
        CHECK(ch[i].start_sec == (double)i * c);
        CHECK(ch[i].end_sec > ch[i].start_sec);
        if (i + 1 < n)
            CHECK(ch[i].end_sec == ch[i + 1].start_sec);
    }
    if (n > 0)
        CHECK(ch[n - 1].end_sec == dur);
    cr_free(ch);
}

int main(void)
{
    check_plan(79.5, 30, 3);
    check_plan(60, 30, 2);
    check_plan(60.000001, 30, 3);
    check_plan(0.04, 30, 1);
    check_plan(900, 30, 30);
    check_plan(4.004, 1, 5);
    check_plan(3.0000000000000004, 1, 4);

    video_chunk *ch = (video_chunk *)1;
    size_t n = 5;
    cr_err err = {0};
    CHECK(video_chunk_plan(0, 30, &ch, &n, &err) == CR_ERR_INVALID);
    CHECK(ch == NULL && n == 0);
    cr_err_clear(&err);
    CHECK(video_chunk_plan(NAN, 30, &ch, &n, &err) == CR_ERR_INVALID);
    cr_err_clear(&err);
    CHECK(video_chunk_plan(10, 0, &ch, &n, &err) == CR_ERR_INVALID);
    CHECK(strstr(cr_err_msg(&err), "chunk seconds") != NULL);
    cr_err_clear(&err);

    /* allocation failure leaves nothing behind */
    cr_mem_fail_after(0, 0);
    CHECK(video_chunk_plan(100, 30, &ch, &n, &err) == CR_ERR_NOMEM);
    CHECK(ch == NULL && n == 0);
    cr_mem_fail_after(-1, 0);

    /* the grid: the smallest k with k / fps >= t */
    CHECK_INT_EQ(video_grid_first_k(0, 10), 0);
    CHECK_INT_EQ(video_grid_first_k(-1, 10), 0);
    CHECK_INT_EQ(video_grid_first_k(30, 10), 300);
    CHECK_INT_EQ(video_grid_first_k(30.0000001, 10), 301);
    CHECK_INT_EQ(video_grid_first_k(0.3, 10), 3); /* 0.3 * 10 rounds to 3.0000000000000004 */
    CHECK_INT_EQ(video_grid_first_k(1.0 / 3, 3), 1);
    double fpss[] = {10, 7.3, 29.97, 3, 240, 0.5};
    for (size_t f = 0; f < sizeof fpss / sizeof fpss[0]; f++)
        for (int i = 0; i < 2000; i++) {
            double t = i * 0.0137;
            int64_t k = video_grid_first_k(t, fpss[f]);
            CHECK((double)k / fpss[f] >= t);
            CHECK(k == 0 || (double)(k - 1) / fpss[f] < t);
        }
    return check_exit();
}
