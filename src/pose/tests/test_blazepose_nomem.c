/*
 * test_blazepose_nomem.c -- allocations of pose_tracker_create failing in turn:
 * CR_ERR_NOMEM (or success), nothing leaks (ASan), and a tracker made afterwards
 * works.  pose_track_frame allocates nothing.  Lite model on the reference engine.
 * The create makes ~2,900 allocations (mostly the engines'); failing each takes 85 s,
 * so we fail the first 16 and then every 53rd (~70 runs; both engines' paths).
 */
#include "check.h"
#include "core/mem.h"
#include "pose/pose_tracker.h"
#include "pose_test_media.h"

#include <stdio.h>

int main(void)
{
    ptm_frame *f = NULL;
    int nf = ptm_load("media/messi5.jpg", 1, 0, &f); /* before injection: not ours */
    CHECK_INT_EQ(nf, 1);
    if (nf != 1)
        return check_exit();
    pose_tracker_opts o = {"ref", "lite", 1, POSE_MODE_VIDEO, NULL};
    int ok_at = -1, failures = 0;
    for (long n = 0; n < 100000; n += n < 16 ? 1 : 53) {
        pose_tracker *t = NULL;
        cr_err err = {0};
        cr_mem_fail_after(n, 0);
        cr_status st = pose_tracker_create(NULL, &o, &t, &err);
        cr_mem_fail_after(-1, 0);
        if (st == CR_OK) {
            ok_at = (int)n;
            pose_tracker_destroy(t);
            break;
        }
        failures++;
        CHECK_MSG(st == CR_ERR_NOMEM, "n=%ld: %s", n, cr_err_msg(&err));
        CHECK(t == NULL);
    }
    fprintf(stderr, "pose_tracker_create succeeded once %d allocations could\n", ok_at);
    CHECK(ok_at > 0);

    /* pose_track_frame itself does not allocate: injection changes nothing. */
    pose_tracker *t = NULL;
    cr_err err = {0};
    CHECK(pose_tracker_create(NULL, &o, &t, &err) == CR_OK);
    if (t != NULL) {
        pose_result r;
        cr_mem_fail_after(0, 1);
        cr_status st = pose_track_frame(t, f->rgb, f->w, f->h, 3 * f->w, 100000, &r, &err);
        cr_mem_fail_after(-1, 0);
        CHECK_MSG(st == CR_OK && r.detected, "%s", cr_err_msg(&err));
        pose_tracker_destroy(t);
    }
    ptm_free(f, nf);
    return check_exit();
}
