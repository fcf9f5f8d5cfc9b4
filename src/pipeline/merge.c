/*
 * merge.c -- one chunk artifact at a time into the job's merged poses (see
 * pipeline_int.h).  Two paths, one result.
 *
 * REFERENCE (merge_reference): what the merge means, written plainly.  json_loadb the
 * artifact; for each pose set frame_index (its position in the merged series; for
 * Cricksy's format also frame_num, t, timestamp and detected, cricksy_pose_to_grid),
 * json_dumps it (compact, insertion order, JSON_REAL_PRECISION(7)) and add it to the
 * series (analysis_series_add_pose_json).  For a 15-minute video (9,000 poses of ~7 KB)
 * this is seconds: jansson allocates a node per value (~400 numbers a pose), strtod
 * reads and printf("%.7g") writes every number, and the tree is freed again.
 *
 * FAST (merge_fast): a chunk worker wrote the artifact with the very json_dumps flags
 * the reference dumps with (chunk.c, put_json), so the text of each pose already is
 * what the reference would write, but for frame_index.  The fast path scans the text
 * once and copies each pose's bytes, putting the new frame_index in place of the old
 * value (or as the last member, where jansson adds a new key); while scanning it reads
 * the few numbers the series needs.  That copy is only right when the pose's text is
 * a fixed point of parse-then-dump, so the scanner checks, for every token, that it
 * is exactly jansson's compact text of the value it denotes:
 *   - no whitespace inside a pose (JSON_COMPACT writes none);
 *   - strings of printable ASCII without escapes (jansson writes those bytes as they
 *     are; any escape, control or non-ASCII byte could be written another way);
 *   - no key twice in an object (jansson keeps the last value at the first place);
 *   - integers without a leading zero or "-0", at most 18 digits (in range);
 *   - reals with at most 7 significant digits, written as "%.7g" writes them after
 *     jansson's touches (".0" added when there is no '.' or 'e'; exponent without '+'
 *     or leading zeros), decimal exponent within +-300: number_check rebuilds that
 *     text from the digits and compares.  Such a text T has a nearest double d, and
 *     %.7g of d is T again: d is within 2^-53 relative of T, far inside the half unit
 *     of T's 7th digit that would round elsewhere (normal doubles only, hence +-300).
 * The numbers the series needs are read exactly as strtod would (number_value:
 * Clinger's fast path, one correctly rounded operation on exact operands, else
 * strtod itself), so the series gets the same floats.
 *
 * Anything else -- an escape, a number with more digits, Cricksy's format (its poses
 * are rewritten), a frame out of order, a detected pose whose landmarks are not 33
 * points, bad JSON -- and the fast path undoes what it did to the merge and hands the
 * chunk to the reference path, which gives the output or the error message that is
 * the definition.  The artifact's members other than "poses" (a few hundred bytes)
 * are parsed by jansson, from the artifact's text with the poses array replaced by
 * "[]": the poses array, checked token by token above, is a valid JSON value, so the
 * artifact is valid JSON exactly when that text is.  The tests
 * (tests/test_merge.c) hold the two paths to the same bytes, series and errors on
 * real chunk artifacts and on crafted ones, and check number_check against jansson.
 */
#include "pipeline/pipeline_int.h"

#include "core/mem.h"
#include "pose/pose_json.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flags of every dump of a pose (chunk.c's put_json writes artifacts with them). */
#define POSE_DUMP_FLAGS POSE_JSON_DUMP_FLAGS

cr_status pipeline_merge_init(pipeline_merge *m, double rate, int reference, cr_err *err)
{
    memset(m, 0, sizeof *m);
    m->rate = rate;
    m->reference = reference;
    m->last_k = -1;
    m->size_known = 1;
    m->chunks = json_array();
    if (m->chunks == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    return CR_OK;
}

void pipeline_merge_free(pipeline_merge *m)
{
    cr_buf_release(&m->text);
    json_decref(m->chunks);
    m->chunks = NULL;
    analysis_series_free(&m->series);
}

/* ---- what both paths share ------------------------------------------------------ */

/* The artifact's members but its poses (either path's parsed document): the chunk's
 * format, the video's frame rate and the frame size of its landmarks, into the merge.
 * `npose`: the number of poses in the artifact. */
static void chunk_meta(pipeline_merge *m, const json_t *doc, size_t npose)
{
    const json_t *meta = json_object_get(doc, "metadata");
    int cricksy = json_is_object(meta) && json_object_get(doc, "chunk_index") == NULL;
    m->cricksy |= cricksy;
    double vfps = json_number_value(json_object_get(cricksy ? meta : doc, "video_fps"));
    if (vfps > 0 && m->video_fps <= 0)
        m->video_fps = vfps;
    /* the frame size of this chunk's landmarks */
    json_int_t w = json_integer_value(json_object_get(doc, "width"));
    json_int_t h = json_integer_value(json_object_get(doc, "height"));
    if (w > 0 && h > 0 && w <= 65536 && h <= 65536) {
        m->series.width = (int)w;
        m->series.height = (int)h;
    } else if (npose > 0) {
        m->size_known = 0;
        if (m->series.width <= 0) {
            m->series.width = 1000; /* unknown: analysed as a square frame */
            m->series.height = 1000;
        }
    }
}

/* Sets o[key] = v unless v is NULL; non-zero when out of memory. */
static int set_present(json_t *o, const char *key, json_t *v)
{
    return v != NULL && json_object_set(o, key, v) != 0;
}

/* The chunk's entry of the results' "chunks". */
static cr_status chunk_entry(pipeline_merge *m, const json_t *doc, const char *key, int index,
                             int64_t frames, int64_t detected, cr_err *err)
{
    const json_t *meta = json_object_get(doc, "metadata");
    int cricksy = json_is_object(meta) && json_object_get(doc, "chunk_index") == NULL;
    const json_t *src = cricksy ? meta : doc;
    json_t *c = json_object();
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    /* members the artifact lacks (Cricksy's has no runtime_ms) are left out */
    int bad = json_object_set_new(c, "index", json_integer(index)) != 0;
    bad |= set_present(c, "start_sec", json_object_get(src, "start_sec"));
    bad |= set_present(c, "end_sec", json_object_get(src, "end_sec"));
    bad |= json_object_set_new(c, "format", json_string(cricksy ? "cricksy" : "crease")) != 0;
    bad |= json_object_set_new(c, "frames", json_integer(frames)) != 0;
    bad |= json_object_set_new(c, "frames_detected", json_integer(detected)) != 0;
    bad |= set_present(c, "runtime_ms", json_object_get(doc, "runtime_ms"));
    bad |= json_object_set_new(c, "artifact_key", json_string(key)) != 0;
    if (bad || json_array_append_new(m->chunks, c) != 0) {
        if (!bad)
            c = NULL; /* json_array_append_new took it */
        json_decref(c);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    return CR_OK;
}

/* ---- the reference path --------------------------------------------------------- */

/* A pose of Cricksy's chunk format ({"poses", "metadata"}: frame_num and timestamp
 * counted from the chunk's start) placed on the global grid: frame_num = the grid
 * index k of start_sec + timestamp, t and timestamp its time.  0: the pose falls
 * outside the chunk or on a grid point already taken (dropped). */
static int cricksy_pose_to_grid(json_t *pose, const json_t *meta, double rate, int64_t last_k)
{
    double start = json_number_value(json_object_get(meta, "start_sec"));
    double end = json_number_value(json_object_get(meta, "end_sec"));
    double fps = json_number_value(json_object_get(meta, "video_fps"));
    const json_t *ts = json_object_get(pose, "timestamp");
    double rel = json_is_number(ts) ? json_number_value(ts)
                 : fps > 0 ? (double)json_integer_value(json_object_get(pose, "frame_num")) / fps
                           : -1.0;
    double t = start + rel;
    if (!(rel >= 0.0) || !isfinite(t) || (end > start && t >= end))
        return 0;
    int64_t k = llround(t * rate);
    if (k <= last_k)
        return 0;
    json_object_set_new(pose, "frame_num", json_integer(k));
    json_object_set_new(pose, "t", json_real(t));
    json_object_set_new(pose, "timestamp", json_real(t));
    if (!json_is_boolean(json_object_get(pose, "detected")))
        json_object_set_new(pose, "detected",
                            json_boolean(json_is_array(json_object_get(pose, "landmarks"))));
    return 1;
}

/* Appends the compact text of `v` to the merged text. */
static cr_status text_add_json(cr_buf *b, const json_t *v, cr_err *err)
{
    char *s = json_dumps(v, POSE_DUMP_FLAGS | JSON_ENCODE_ANY);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory serialising results");
    cr_status st = cr_buf_adds(b, s);
    cr_free(s); /* jansson allocates through core/mem (cr_mem_init) */
    if (st != CR_OK)
        return cr_err_set(err, st, "out of memory serialising results");
    return CR_OK;
}

static cr_status merge_reference(pipeline_merge *m, const char *key, int index, const char *data,
                                 size_t n, cr_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(data, n, 0, &je);
    if (doc == NULL)
        return cr_err_set(err, CR_ERR_FORMAT, "chunk %d artifact %s: bad JSON at line %d: %s",
                          index, key, je.line, je.text);
    json_t *arr = json_object_get(doc, "poses");
    if (!json_is_array(arr)) {
        json_decref(doc);
        return cr_err_set(err, CR_ERR_FORMAT, "chunk %d artifact %s: no poses array", index, key);
    }
    json_t *meta = json_object_get(doc, "metadata");
    int cricksy = json_is_object(meta) && json_object_get(doc, "chunk_index") == NULL;
    chunk_meta(m, doc, json_array_size(arr));
    int64_t frames = 0, detected = 0;
    cr_status st = CR_OK;
    size_t i;
    json_t *pose;
    json_array_foreach(arr, i, pose)
    {
        if (cricksy && !cricksy_pose_to_grid(pose, meta, m->rate, m->last_k)) {
            m->dropped++;
            continue;
        }
        json_t *kv = json_object_get(pose, "frame_num");
        if (!json_is_integer(kv)) {
            st = cr_err_set(err, CR_ERR_FORMAT, "chunk %d: pose %zu has no frame_num", index, i);
            break;
        }
        int64_t k = json_integer_value(kv);
        if (k <= m->last_k) {
            st = cr_err_set(err, CR_ERR_INTERNAL,
                            "chunk %d: frame_num %lld after %lld (duplicate or out of order)",
                            index, (long long)k, (long long)m->last_k);
            break;
        }
        /* k > last_k >= -1, so (k - 1) - last_k cannot overflow; k - last_k would
         * for a frame_num of INT64_MAX (the artifact's bytes are untrusted). */
        m->grid_gaps += (k - 1) - m->last_k;
        m->last_k = k;
        /* frame_index becomes the position in the merged series. */
        if (json_object_set_new(pose, "frame_index", json_integer(m->frames)) != 0) {
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
            break;
        }
        if (m->frames > 0 && (st = cr_buf_add(&m->text, ",", 1)) != CR_OK) {
            st = cr_err_set(err, st, "out of memory serialising results");
            break;
        }
        if ((st = text_add_json(&m->text, pose, err)) != CR_OK)
            break;
        if ((st = analysis_series_add_pose_json(&m->series, pose, err)) != CR_OK)
            break;
        m->frames++;
        frames++;
        if (json_is_true(json_object_get(pose, "detected"))) {
            m->frames_detected++;
            detected++;
        }
    }
    if (st == CR_OK)
        st = chunk_entry(m, doc, key, index, frames, detected, err);
    json_decref(doc);
    return st;
}

/* ---- the fast path: checking tokens --------------------------------------------- */

/* A number token as jansson would read it. */
typedef struct number {
    int is_int;
    int64_t i; /* is_int */
    double d;  /* the value (also for an integer: json_number_value's (double)i) */
} number;

/* 10^0 .. 10^22, the powers of ten a double holds exactly (Clinger's fast path). */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define REAL_DIGITS 7    /* JSON_REAL_PRECISION(7) */
#define REAL_EXP_MAX 300 /* decimal exponents of normal doubles, with a margin */

/* Checks the number token at [p, end) (`*next`: the first byte after it) and reads it
 * into *out when out != NULL.  1: it is jansson's compact text of its own value (see
 * the top of the file); 0: it is not, or not a JSON number at all. */
static int number_check(const char *p, const char *end, const char **next, number *out)
{
    /* the token: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
    const char *start = p;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return 0;
    const char *int_start = p;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    const char *int_end = p, *frac_start = p, *frac_end = p;
    int is_int = 1;
    if (p < end && *p == '.') {
        is_int = 0;
        frac_start = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == frac_start)
            return 0; /* "1." */
        frac_end = p;
    }
    long ex = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        const char *es = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (ex < 100000) /* beyond any double's; the +-300 check refuses it */
                ex = ex * 10 + (*p - '0');
            p++;
        }
        if (p == es)
            return 0;
        if (eneg)
            ex = -ex;
    }
    *next = p;
    size_t len = (size_t)(p - start);
    if (is_int) {
        /* jansson: strtoll, printed with "%lld"; 18 digits are always in range */
        size_t int_len = (size_t)(int_end - int_start);
        if (int_len > 18 || (neg && *int_start == '0'))
            return 0;
        int64_t v = 0;
        for (const char *c = int_start; c < int_end; c++)
            v = v * 10 + (*c - '0');
        if (out != NULL) {
            out->is_int = 1;
            out->i = neg ? -v : v;
            out->d = (double)out->i;
        }
        return 1;
    }
    /* A real.  Its significant digits (leading and trailing zeros dropped, at most
     * REAL_DIGITS) and the power of ten of the first one, over the integer part then
     * the fraction. */
    char dig[REAL_DIGITS];
    int nd = 0, zeros = 0; /* zeros: seen after the last significant digit */
    long first_pow = 0, pow = (long)(int_end - int_start) - 1;
    for (const char *q = int_start; q < frac_end; q++) {
        if (q == int_end)
            q = frac_start; /* over the '.' */
        if (q >= frac_end)
            break;
        if (*q == '0') {
            zeros += nd > 0;
        } else {
            if (nd == 0)
                first_pow = pow;
            if (nd + zeros + 1 > REAL_DIGITS)
                return 0;
            for (; zeros > 0; zeros--)
                dig[nd++] = '0';
            dig[nd++] = *q;
        }
        pow--;
    }
    /* what jansson writes for a double of that value: "%.7g", then ".0" when there is
     * no '.' or 'e', and the exponent without '+' or leading zeros */
    char want[40];
    size_t w = 0;
    if (neg)
        want[w++] = '-';
    long x = first_pow + ex; /* the decimal exponent of the value */
    if (nd == 0) {
        memcpy(want + w, "0.0", 3); /* "%.7g" of a zero is "0" or "-0" */
        w += 3;
    } else if (x < -REAL_EXP_MAX || x > REAL_EXP_MAX) {
        return 0;
    } else if (x >= -4 && x < REAL_DIGITS) { /* %g's fixed notation */
        if (x < 0) {
            want[w++] = '0';
            want[w++] = '.';
            for (long z = -1; z > x; z--)
                want[w++] = '0';
            memcpy(want + w, dig, (size_t)nd);
            w += (size_t)nd;
        } else {
            for (long d = 0; d <= x; d++)
                want[w++] = d < nd ? dig[d] : '0';
            want[w++] = '.';
            if (nd > x + 1) {
                memcpy(want + w, dig + x + 1, (size_t)(nd - x - 1));
                w += (size_t)(nd - x - 1);
            } else {
                want[w++] = '0';
            }
        }
    } else { /* exponent notation */
        want[w++] = dig[0];
        if (nd > 1) {
            want[w++] = '.';
            memcpy(want + w, dig + 1, (size_t)(nd - 1));
            w += (size_t)(nd - 1);
        }
        w += (size_t)snprintf(want + w, sizeof want - w, "e%ld", x);
    }
    want[w] = '\0';
    if (w != len || memcmp(want, start, len) != 0)
        return 0;
    if (out != NULL) {
        out->is_int = 0;
        if (nd == 0) {
            out->d = neg ? -0.0 : 0.0;
        } else {
            double mant = 0;
            for (int d = 0; d < nd; d++)
                mant = mant * 10 + (dig[d] - '0'); /* < 10^7: exact */
            long e10 = x - (nd - 1);
            if (e10 >= 0 && e10 <= 22)
                out->d = mant * pow10_exact[e10];
            else if (e10 < 0 && e10 >= -22)
                out->d = mant / pow10_exact[-e10];
            else /* what jansson calls; the text has a '.' only where C's locale
                    does (crease never calls setlocale) */
                out->d = strtod(want + neg, NULL);
            if (neg)
                out->d = -out->d;
        }
    }
    return 1;
}

/* ---- the fast path: scanning a pose --------------------------------------------- */

#define SCAN_DEPTH_MAX 16 /* a pose nests 3 deep; deeper goes to the reference */
#define SCAN_KEYS_MAX                                                                              \
    64 /* keys of one object the duplicate check holds (a pose's
                             "keypoints" has 33) */

/* The members x, y, z, visibility of one landmark object, as analysis reads them. */
enum { PT_X, PT_Y, PT_Z, PT_VIS, PT_N };
typedef struct point {
    int is_obj;
    int has[PT_N]; /* the member is there and is a number */
    number num[PT_N];
} point;

/* An array of landmark points (only the first ANALYSIS_LM are kept). */
typedef struct points {
    int present; /* the member is there and is an array */
    size_t n;    /* its elements */
    point p[ANALYSIS_LM];
} points;

/* What the series and the merge read of one pose. */
typedef struct pose_scan {
    int nkeys;
    const char *fi_start, *fi_end; /* frame_index's value; NULL when absent */
    int has_frame_num, has_t, has_ts;
    number frame_num, t, ts;
    int detected; /* "detected" is true */
    points lm, wl;
} pose_scan;

typedef struct scan {
    const char *p, *end;
} scan;

static int scan_value(scan *s, int depth, point *pt_out, points *pts_out, number *num_out,
                      int *true_out);

/* A string of printable ASCII without escapes; [*ks, *ke) its bytes. */
static int scan_string(scan *s, const char **ks, const char **ke)
{
    const char *p = s->p + 1; /* s->p is at the '"' */
    const char *start = p;
    while (p < s->end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return 0;
        p++;
    }
    if (p >= s->end)
        return 0;
    *ks = start;
    *ke = p;
    s->p = p + 1;
    return 1;
}

static int key_is(const char *ks, const char *ke, const char *name, size_t len)
{
    return (size_t)(ke - ks) == len && memcmp(ks, name, len) == 0;
}
#define KEY_IS(ks, ke, lit) key_is(ks, ke, lit, sizeof lit - 1)

/* An object; `pose` (the pose level) or `pt` (a landmark) say what to read of it. */
static int scan_object(scan *s, int depth, pose_scan *pose, point *pt)
{
    const char *keys[SCAN_KEYS_MAX][2];
    int nk = 0;
    s->p++; /* '{' */
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        const char *ks, *ke;
        if (s->p >= s->end || *s->p != '"' || !scan_string(s, &ks, &ke))
            return 0;
        if (nk == SCAN_KEYS_MAX)
            return 0;
        for (int i = 0; i < nk; i++)
            if (keys[i][1] - keys[i][0] == ke - ks &&
                memcmp(keys[i][0], ks, (size_t)(ke - ks)) == 0)
                return 0; /* a key twice */
        keys[nk][0] = ks;
        keys[nk][1] = ke;
        nk++;
        if (s->p >= s->end || *s->p != ':')
            return 0;
        s->p++;
        points *vpts = NULL;
        number *vnum = NULL;
        int *has = NULL, is_fi = 0, is_detected = 0, is_true = 0;
        if (pose != NULL) {
            if (KEY_IS(ks, ke, "frame_num")) {
                vnum = &pose->frame_num;
                has = &pose->has_frame_num;
            } else if (KEY_IS(ks, ke, "t")) {
                vnum = &pose->t;
                has = &pose->has_t;
            } else if (KEY_IS(ks, ke, "timestamp")) {
                vnum = &pose->ts;
                has = &pose->has_ts;
            } else if (KEY_IS(ks, ke, "detected")) {
                is_detected = 1;
            } else if (KEY_IS(ks, ke, "landmarks")) {
                vpts = &pose->lm;
            } else if (KEY_IS(ks, ke, "world_landmarks")) {
                vpts = &pose->wl;
            } else if (KEY_IS(ks, ke, "frame_index")) {
                is_fi = 1;
                pose->fi_start = s->p;
            }
        } else if (pt != NULL) {
            int which = KEY_IS(ks, ke, "x")            ? PT_X
                        : KEY_IS(ks, ke, "y")          ? PT_Y
                        : KEY_IS(ks, ke, "z")          ? PT_Z
                        : KEY_IS(ks, ke, "visibility") ? PT_VIS
                                                       : -1;
            if (which >= 0) {
                vnum = &pt->num[which];
                has = &pt->has[which];
            }
        }
        if (vnum != NULL)
            vnum->is_int = -1; /* stays -1 unless the value is a number */
        if (!scan_value(s, depth + 1, NULL, vpts, vnum, is_detected ? &is_true : NULL))
            return 0;
        if (has != NULL)
            *has = vnum->is_int >= 0;
        if (is_detected)
            pose->detected = is_true;
        if (is_fi)
            pose->fi_end = s->p;
        if (s->p >= s->end)
            return 0;
        if (*s->p == '}') {
            s->p++;
            if (pose != NULL)
                pose->nkeys = nk;
            return 1;
        }
        if (*s->p != ',')
            return 0;
        s->p++;
    }
}

/* An array; with `pts`, its elements are read as landmark points. */
static int scan_array(scan *s, int depth, points *pts)
{
    s->p++; /* '[' */
    if (pts != NULL)
        pts->present = 1;
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (size_t i = 0;; i++) {
        point *pt = NULL;
        if (pts != NULL) {
            pts->n = i + 1;
            if (i < ANALYSIS_LM) {
                pt = &pts->p[i];
                memset(pt, 0, sizeof *pt);
            }
        }
        if (!scan_value(s, depth + 1, pt, NULL, NULL, NULL))
            return 0;
        if (s->p >= s->end)
            return 0;
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p != ',')
            return 0;
        s->p++;
    }
}

/* One value, checked (see the top of the file).  What is asked for is read:
 * pt_out (a landmark: its members if the value is an object), pts_out (an array of
 * landmarks), num_out (a number; is_int stays as it was when the value is not one),
 * true_out (1 when the value is `true`). */
static int scan_value(scan *s, int depth, point *pt_out, points *pts_out, number *num_out,
                      int *true_out)
{
    if (depth > SCAN_DEPTH_MAX || s->p >= s->end)
        return 0;
    const char *p = s->p;
    size_t left = (size_t)(s->end - p);
    const char *ks, *ke;
    switch (*p) {
    case '{':
        if (pt_out != NULL)
            pt_out->is_obj = 1;
        return scan_object(s, depth, NULL, pt_out);
    case '[':
        return scan_array(s, depth, pts_out);
    case '"':
        return scan_string(s, &ks, &ke);
    case 't':
        if (left < 4 || memcmp(p, "true", 4) != 0)
            return 0;
        s->p += 4;
        if (true_out != NULL)
            *true_out = 1;
        return 1;
    case 'f':
        if (left < 5 || memcmp(p, "false", 5) != 0)
            return 0;
        s->p += 5;
        return 1;
    case 'n':
        if (left < 4 || memcmp(p, "null", 4) != 0)
            return 0;
        s->p += 4;
        return 1;
    default:
        return number_check(p, s->end, &s->p, num_out);
    }
}

/* ---- the fast path: the artifact ------------------------------------------------ */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips a string at s->p ('"'), escapes and all, unchecked. */
static int skip_string(scan *s)
{
    s->p++;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\' && s->end - s->p < 2)
            return 0;
        s->p += *s->p == '\\' ? 2 : 1;
    }
    if (s->p >= s->end)
        return 0;
    s->p++;
    return 1;
}

/* Skips one value of the artifact's top level without checking it (jansson checks
 * those members: see merge_fast).  0 when the text ends inside it. */
static int skip_value(scan *s)
{
    if (s->p >= s->end)
        return 0;
    if (*s->p == '"')
        return skip_string(s);
    if (*s->p != '[' && *s->p != '{') { /* a number, true, false, null */
        while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']' && !is_ws(*s->p))
            s->p++;
        return 1;
    }
    int depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (!skip_string(s))
                return 0;
            continue;
        }
        s->p++;
        if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && --depth == 0)
            return 1;
    }
    return 0;
}

static void skip_ws(scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

/* Writes v in decimal ("%lld") into buf (>= 21 bytes); returns its length. */
static size_t int_text(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    size_t w = 0;
    if (v < 0)
        buf[w++] = '-';
    while (n > 0)
        buf[w++] = tmp[--n];
    return w;
}

/* One pose of the poses array: checked, its text (with the new frame_index) appended,
 * its frame added to the series (x, y still normalized: merge_fast scales them once
 * the frame size is known).  *fallback = 1 when the reference path must take the
 * chunk; CR_ERR_NOMEM otherwise. */
static cr_status fast_pose(pipeline_merge *m, scan *s, pose_scan *ps, int64_t *frames,
                           int64_t *detected, int *fallback, cr_err *err)
{
    const char *start = s->p;
    memset(ps, 0, offsetof(pose_scan, lm));
    ps->lm.present = ps->wl.present = 0;
    ps->lm.n = ps->wl.n = 0;
    if (s->p >= s->end || *s->p != '{' || !scan_object(s, 0, ps, NULL) || !ps->has_frame_num ||
        !ps->frame_num.is_int || ps->frame_num.i <= m->last_k) {
        *fallback = 1;
        return CR_OK;
    }
    /* the frame, as analysis_series_add_pose_json reads the pose */
    analysis_frame f;
    memset(&f, 0, sizeof f);
    f.frame_num = ps->frame_num.i;
    f.t = ps->has_t ? ps->t.d : ps->has_ts ? ps->ts.d : 0.0;
    f.detected = ps->detected;
    if (f.detected) {
        if (!ps->lm.present || ps->lm.n != ANALYSIS_LM) {
            *fallback = 1;
            return CR_OK;
        }
        for (int i = 0; i < ANALYSIS_LM; i++) {
            const point *p = &ps->lm.p[i];
            if (!p->is_obj || !p->has[PT_X] || !p->has[PT_Y]) {
                *fallback = 1;
                return CR_OK;
            }
            f.x[i] = (float)p->num[PT_X].d;
            f.y[i] = (float)p->num[PT_Y].d;
            f.vis[i] = p->has[PT_VIS] ? (float)p->num[PT_VIS].d : 0.0f;
        }
        if (ps->wl.present && ps->wl.n == ANALYSIS_LM) {
            f.has_world = 1;
            /* member by member as analysis reads them: what was read before a missing
             * one stays in the frame */
            for (int i = 0; i < ANALYSIS_LM && f.has_world; i++) {
                const point *p = &ps->wl.p[i];
                if (!p->is_obj || !p->has[PT_X]) {
                    f.has_world = 0;
                    break;
                }
                f.wx[i] = (float)p->num[PT_X].d;
                if (!p->has[PT_Y]) {
                    f.has_world = 0;
                    break;
                }
                f.wy[i] = (float)p->num[PT_Y].d;
                if (!p->has[PT_Z]) {
                    f.has_world = 0;
                    break;
                }
                f.wz[i] = (float)p->num[PT_Z].d;
            }
        }
    }
    cr_status st = analysis_series_push(&m->series, &f, err);
    if (st != CR_OK)
        return st;
    /* the text: the pose's own bytes, frame_index replaced or added last */
    char num[24];
    int64_t index = m->frames + *frames;
    size_t nl = int_text(index, num);
    if (m->frames + *frames > 0)
        cr_buf_add(&m->text, ",", 1);
    if (ps->fi_start != NULL) {
        cr_buf_add(&m->text, start, (size_t)(ps->fi_start - start));
        cr_buf_add(&m->text, num, nl);
        cr_buf_add(&m->text, ps->fi_end, (size_t)(s->p - ps->fi_end));
    } else {
        cr_buf_add(&m->text, start, (size_t)(s->p - 1 - start));
        if (ps->nkeys > 0)
            cr_buf_add(&m->text, ",", 1);
        cr_buf_adds(&m->text, "\"frame_index\":");
        cr_buf_add(&m->text, num, nl);
        cr_buf_add(&m->text, "}", 1);
    }
    if (m->text.st != CR_OK)
        return cr_err_set(err, m->text.st, "out of memory serialising results");
    m->grid_gaps += (f.frame_num - 1) - m->last_k; /* cannot overflow: see merge_reference */
    m->last_k = f.frame_num;
    (*frames)++;
    if (f.detected)
        (*detected)++;
    return CR_OK;
}

/* The poses array at s->p ('['), pose by pose; *npose: its elements. */
static cr_status fast_poses(pipeline_merge *m, scan *s, size_t *npose, int64_t *frames,
                            int64_t *detected, int *fallback, cr_err *err)
{
    pose_scan *ps = cr_malloc(sizeof *ps);
    if (ps == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    cr_status st = CR_OK;
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        goto done;
    }
    for (;;) {
        if ((st = fast_pose(m, s, ps, frames, detected, fallback, err)) != CR_OK || *fallback)
            goto done;
        (*npose)++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            goto done;
        }
        if (s->p >= s->end || *s->p != ',') {
            *fallback = 1;
            goto done;
        }
        s->p++;
        skip_ws(s);
    }
done:
    cr_free(ps);
    return st;
}

/* What merge_fast changes in the merge, kept to undo it. */
typedef struct merge_mark {
    size_t text_len, series_n;
    int width, height, size_known, cricksy;
    int64_t last_k, grid_gaps;
    double video_fps;
} merge_mark;

static cr_status merge_fast(pipeline_merge *m, const char *key, int index, const char *data,
                            size_t n, int *fallback, cr_err *err)
{
    merge_mark mk = {m->text.len, m->series.n, m->series.width, m->series.height, m->size_known,
                     m->cricksy,  m->last_k,   m->grid_gaps,    m->video_fps};
    scan s = {data, data + n};
    const char *ps = NULL, *pe = NULL; /* the poses array's text */
    size_t npose = 0;
    int64_t frames = 0, detected = 0;
    char *rest = NULL;
    json_t *doc = NULL;
    cr_status st = CR_OK;
    *fallback = 0;
    /* the top level: an object whose "poses" (once, a plain key) is an array */
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        goto fallback;
    s.p++;
    skip_ws(&s);
    while (s.p < s.end && *s.p != '}') {
        if (*s.p != '"')
            goto fallback;
        const char *ks = s.p + 1, *ke = ks;
        while (ke < s.end && *ke != '"' && *ke != '\\')
            ke++;
        if (ke >= s.end || *ke != '"')
            goto fallback; /* a key with an escape could spell "poses" */
        s.p = ke + 1;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            goto fallback;
        s.p++;
        skip_ws(&s);
        if (KEY_IS(ks, ke, "poses")) {
            if (ps != NULL || s.p >= s.end || *s.p != '[')
                goto fallback;
            ps = s.p;
            if ((st = fast_poses(m, &s, &npose, &frames, &detected, fallback, err)) != CR_OK)
                goto done;
            if (*fallback)
                goto fallback;
            pe = s.p;
        } else if (!skip_value(&s)) {
            goto fallback;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == '}')
                goto fallback; /* a trailing comma */
        } else if (s.p >= s.end || *s.p != '}') {
            goto fallback;
        }
    }
    if (ps == NULL)
        goto fallback;
    /* the other members, by jansson: the text with "[]" for the poses */
    size_t head = (size_t)(ps - data), tail = n - (size_t)(pe - data);
    rest = cr_malloc(head + 2 + tail);
    if (rest == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(rest, data, head);
    memcpy(rest + head, "[]", 2);
    memcpy(rest + head + 2, pe, tail);
    json_error_t je;
    doc = json_loadb(rest, head + 2 + tail, 0, &je);
    if (doc == NULL || !json_is_array(json_object_get(doc, "poses")))
        goto fallback;
    const json_t *meta = json_object_get(doc, "metadata");
    if (json_is_object(meta) && json_object_get(doc, "chunk_index") == NULL)
        goto fallback; /* Cricksy's format: its poses are rewritten */
    chunk_meta(m, doc, npose);
    /* the frame size is known now: normalized to pixels, as analysis does it */
    for (size_t i = mk.series_n; i < m->series.n; i++) {
        analysis_frame *f = &m->series.frames[i];
        if (!f->detected)
            continue;
        if (m->series.width <= 0 || m->series.height <= 0)
            goto fallback;
        for (int j = 0; j < ANALYSIS_LM; j++) {
            f->x[j] = f->x[j] * (float)m->series.width;
            f->y[j] = f->y[j] * (float)m->series.height;
        }
    }
    if ((st = chunk_entry(m, doc, key, index, frames, detected, err)) != CR_OK)
        goto done;
    m->frames += frames;
    m->frames_detected += detected;
    m->chunks_fast++;
    goto done;
fallback:
    *fallback = 1;
    cr_buf_truncate(&m->text, mk.text_len);
    m->series.n = mk.series_n;
    m->series.width = mk.width;
    m->series.height = mk.height;
    m->size_known = mk.size_known;
    m->cricksy = mk.cricksy;
    m->last_k = mk.last_k;
    m->grid_gaps = mk.grid_gaps;
    m->video_fps = mk.video_fps;
done:
    json_decref(doc);
    cr_free(rest);
    return st;
}

cr_status pipeline_merge_chunk(pipeline_merge *m, const char *key, int index, const char *data,
                               size_t n, cr_err *err)
{
    if (!m->reference) {
        int fallback = 0;
        cr_status st = merge_fast(m, key, index, data, n, &fallback, err);
        if (st != CR_OK || !fallback)
            return st;
    }
    return merge_reference(m, key, index, data, n, err);
}
