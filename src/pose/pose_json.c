/*
 * pose_json.c -- pose results as chunk-format JSON (see pose_json.h).
 */
#include "pose/pose_json.h"

#include "core/buf.h"

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

/* ---- the same entry as text ----------------------------------------------------
 *
 * A chunk writes ~300 poses of ~400 numbers each.  Through jansson that is a node
 * per number, a dump that walks them and a free of each; here each number is
 * formatted once (a landmark's text serves both "landmarks" and "keypoints") and the
 * text is appended.  The bytes must be jansson's (the merge's fast path copies them
 * and checks they are, pipeline/merge.c), so the formatting below is jansson 2.14's
 * dump of a real, an integer and a key; test_blazepose_unit holds the two writers to
 * the same bytes on random poses. */

/* A real as jansson writes it at JSON_REAL_PRECISION(POSE_JSON_REAL_DIGITS) (its
 * jsonp_dtostr): "%.7g"; ".0" added when the text has neither '.' nor 'e' (so it
 * reads back as a real); the exponent without '+' or leading zeros.  `v` is finite.
 * Returns the length written to `out` (NUL-terminated). */
static size_t real_text(double v, char out[32])
{
    int n = snprintf(out, 32, "%.*g", POSE_JSON_REAL_DIGITS, v);
    if (n <= 0 || n >= 29) { /* cannot happen for a finite double at 7 digits */
        memcpy(out, "0.0", 4);
        return 3;
    }
    size_t len = (size_t)n;
    char *e = strchr(out, 'e');
    if (e == NULL) {
        if (strchr(out, '.') == NULL) {
            memcpy(out + len, ".0", 3);
            len += 2;
        }
        return len;
    }
    char *start = e + 1, *end = e + 2; /* start: the sign */
    if (*start == '-')
        start++;
    while (*end == '0')
        end++;
    if (end != start) {
        memmove(start, end, len - (size_t)(end - out) + 1); /* with the NUL */
        len -= (size_t)(end - start);
    }
    return len;
}

/* `{"x":..,"y":..,"z":..,"visibility":..}` of p, as point() dumps. */
static void point_text(cr_buf *b, const pose_landmark *p)
{
    const float v[4] = {p->x, p->y, p->z, p->visibility};
    static const char *const key[4] = {"{\"x\":", ",\"y\":", ",\"z\":", ",\"visibility\":"};
    char t[32];
    for (int i = 0; i < 4; i++) {
        cr_buf_adds(b, key[i]);
        size_t n = real_text(isfinite(v[i]) ? (double)v[i] : 0.0, t);
        cr_buf_add(b, t, n);
    }
    cr_buf_add(b, "}", 1);
}

cr_status pose_json_text_append(cr_buf *b, const pose_result *r, const pose_frame_meta *m,
                                cr_err *err)
{
    if (!isfinite(m->t)) /* json_real refuses it, and so pose_json_pose */
        return cr_err_set(err, CR_ERR_INVALID, "pose json: time %g is not finite", m->t);
    const size_t len0 = b->len;
    char t[32];
    cr_buf_addf(b, "{\"frame_num\":%lld,\"timestamp\":", (long long)m->frame_num);
    size_t tn = real_text(m->t, t);
    cr_buf_add(b, t, tn);
    cr_buf_adds(b, ",\"t\":");
    cr_buf_add(b, t, tn);
    cr_buf_addf(b, ",\"timestamp_ms\":%lld,\"frame_index\":%lld,\"detected\":%s,\"score\":",
                (long long)floor(m->t * 1000.0 + 0.5), (long long)m->frame_index,
                r->detected ? "true" : "false");
    cr_buf_add(b, t, real_text(isfinite(r->score) ? (double)r->score : 0.0, t));
    if (!r->detected) {
        cr_buf_adds(b, ",\"landmarks\":[],\"keypoints\":{},\"world_landmarks\":[]}");
    } else {
        /* the landmarks' text, then the same bytes under the keypoints' names */
        cr_buf_adds(b, ",\"landmarks\":[");
        size_t at[POSE_LM_BODY + 1];
        for (int i = 0; i < POSE_LM_BODY; i++) {
            if (i > 0)
                cr_buf_add(b, ",", 1);
            at[i] = b->len;
            point_text(b, &r->landmarks[i]);
        }
        at[POSE_LM_BODY] = b->len;
        cr_buf_adds(b, "],\"keypoints\":{");
        for (int i = 0; i < POSE_LM_BODY && b->st == CR_OK; i++) {
            cr_buf_adds(b, i > 0 ? ",\"" : "\"");
            cr_buf_adds(b, pose_landmark_names[i]);
            cr_buf_add(b, "\":", 2);
            size_t n = at[i + 1] - at[i] - (i + 1 < POSE_LM_BODY); /* less the comma */
            if (cr_buf_reserve(b, n) == CR_OK) /* b->p may move: copy after reserving */
                cr_buf_add(b, b->p + at[i], n);
        }
        cr_buf_adds(b, "},\"world_landmarks\":[");
        for (int i = 0; i < POSE_LM_BODY; i++) {
            if (i > 0)
                cr_buf_add(b, ",", 1);
            point_text(b, &r->world[i]);
        }
        cr_buf_adds(b, "]}");
    }
    if (b->st != CR_OK) {
        cr_buf_truncate(b, len0); /* no half entry (the failure stays recorded) */
        return cr_err_set(err, b->st, "pose json: out of memory");
    }
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
