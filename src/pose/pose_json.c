/*
 * pose_json.c -- pose results as chunk-format JSON (see pose_json.h).
 */
#include "pose/pose_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A float as JSON: non-finite values (never expected) become 0 to keep the file valid. */
static json_t *num(float v)
{
    return json_real(isfinite(v) ? (double)v : 0.0);
}

static json_t *point(const pose_landmark *p)
{
    return json_pack("{s:o,s:o,s:o,s:o}", "x", num(p->x), "y", num(p->y), "z", num(p->z),
                     "visibility", num(p->visibility));
}

json_t *pose_json_pose(const pose_result *r, const pose_frame_meta *m)
{
    json_t *lms = json_array(), *kps = json_object(), *wls = json_array();
    if (lms == NULL || kps == NULL || wls == NULL)
        goto fail;
    if (r->detected) {
        for (int i = 0; i < POSE_LM_BODY; i++) {
            if (json_array_append_new(lms, point(&r->landmarks[i])) != 0 ||
                json_object_set_new(kps, pose_landmark_names[i], point(&r->landmarks[i])) != 0 ||
                json_array_append_new(wls, point(&r->world[i])) != 0)
                goto fail;
        }
    }
    double ms = floor(m->t * 1000.0 + 0.5);
    json_t *o = json_pack("{s:I,s:f,s:f,s:I,s:I,s:b,s:o,s:o,s:o,s:o}", "frame_num",
                          (json_int_t)m->frame_num, "timestamp", m->t, "t", m->t, "timestamp_ms",
                          (json_int_t)ms, "frame_index", (json_int_t)m->frame_index, "detected",
                          r->detected ? 1 : 0, "score", num(r->score), "landmarks", lms,
                          "keypoints", kps, "world_landmarks", wls);
    return o; /* json_pack steals the "o" references, also on failure */
fail:
    json_decref(lms);
    json_decref(kps);
    json_decref(wls);
    return NULL;
}

cr_status pose_json_append(json_t *poses, const pose_result *r, const pose_frame_meta *m,
                           cr_err *err)
{
    json_t *p = pose_json_pose(r, m);
    if (p == NULL || json_array_append_new(poses, p) != 0)
        return cr_err_set(err, CR_ERR_NOMEM, "pose json: out of memory");
    return CR_OK;
}

cr_status pose_json_write_file(const json_t *doc, const char *path, cr_err *err)
{
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(7));
    if (text == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "pose json: out of memory");
    cr_status st = CR_OK;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        st = cr_err_set(err, CR_ERR_IO, "open %s: %s", path, strerror(errno));
    } else {
        size_t len = strlen(text);
        int bad = fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF;
        if (fclose(f) != 0 || bad)
            st = cr_err_set(err, CR_ERR_IO, "write %s: %s", path, strerror(errno));
    }
    free(text); /* jansson's allocator is the default malloc */
    return st;
}
