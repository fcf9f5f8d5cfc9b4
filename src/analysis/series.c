/*
 * series.c -- the in-memory pose series the metrics read (see analysis.h): a
 * compact array of frames, landmarks in pixels.  ~0.8 KB a frame, so a 15-minute
 * video at 10 fps (9,000 frames) is ~7 MB.
 */
#include "analysis/analysis.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

cr_status analysis_series_push(analysis_series *s, const analysis_frame *f, cr_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        analysis_frame *p = cr_realloc(s->frames, cap * sizeof *p);
        if (p == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory (%zu frames)", cap);
        s->frames = p;
        s->cap = cap;
    }
    s->frames[s->n++] = *f;
    return CR_OK;
}

void analysis_series_free(analysis_series *s)
{
    cr_free(s->frames);
    s->frames = NULL;
    s->n = s->cap = 0;
}

const analysis_frame *analysis_series_find(const analysis_series *s, int64_t frame_num)
{
    size_t lo = 0, hi = s ? s->n : 0;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (s->frames[m].frame_num < frame_num)
            lo = m + 1;
        else
            hi = m;
    }
    return s && lo < s->n && s->frames[lo].frame_num == frame_num ? &s->frames[lo] : NULL;
}

/* Reads a finite number field; 0 when absent or not a number. */
static int num_field(const json_t *o, const char *k, float *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!isfinite(d))
        return 0;
    *out = (float)d;
    return 1;
}

cr_status analysis_series_add_pose_json(analysis_series *s, const json_t *pose, cr_err *err)
{
    analysis_frame f;
    memset(&f, 0, sizeof f);
    const json_t *k = json_object_get(pose, "frame_num");
    if (!json_is_integer(k))
        return cr_err_set(err, CR_ERR_FORMAT, "analysis: pose without frame_num");
    f.frame_num = json_integer_value(k);
    const json_t *t = json_object_get(pose, "t");
    if (!json_is_number(t))
        t = json_object_get(pose, "timestamp");
    f.t = json_is_number(t) ? json_number_value(t) : 0.0;
    if (!isfinite(f.t))
        return cr_err_set(err, CR_ERR_FORMAT, "analysis: frame %lld: bad time",
                          (long long)f.frame_num);
    f.detected = json_is_true(json_object_get(pose, "detected"));
    if (f.detected) {
        if (s->width <= 0 || s->height <= 0)
            return cr_err_set(err, CR_ERR_INVALID, "analysis: frame size unknown");
        const json_t *lms = json_object_get(pose, "landmarks");
        if (!json_is_array(lms) || json_array_size(lms) != ANALYSIS_LM)
            return cr_err_set(err, CR_ERR_FORMAT,
                              "analysis: frame %lld: landmarks are not %d points",
                              (long long)f.frame_num, ANALYSIS_LM);
        for (int i = 0; i < ANALYSIS_LM; i++) {
            const json_t *p = json_array_get(lms, (size_t)i);
            float x, y, v = 0;
            if (!num_field(p, "x", &x) || !num_field(p, "y", &y))
                return cr_err_set(err, CR_ERR_FORMAT,
                                  "analysis: frame %lld: landmark %d is not a point",
                                  (long long)f.frame_num, i);
            num_field(p, "visibility", &v);
            f.x[i] = x * (float)s->width;
            f.y[i] = y * (float)s->height;
            f.vis[i] = v;
        }
        const json_t *wls = json_object_get(pose, "world_landmarks");
        if (json_is_array(wls) && json_array_size(wls) == ANALYSIS_LM) {
            f.has_world = 1;
            for (int i = 0; i < ANALYSIS_LM && f.has_world; i++) {
                const json_t *p = json_array_get(wls, (size_t)i);
                if (!num_field(p, "x", &f.wx[i]) || !num_field(p, "y", &f.wy[i]) ||
                    !num_field(p, "z", &f.wz[i]))
                    f.has_world = 0;
            }
        }
    }
    return analysis_series_push(s, &f, err);
}
