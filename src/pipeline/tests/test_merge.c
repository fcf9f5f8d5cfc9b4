/*
 * test_merge.c -- the merge of chunk artifacts (pipeline_int.h, merge.c): the fast
 * path against the reference path, which is the definition.
 *
 * Every case merges the same artifact texts twice, once with the reference path
 * forced and once as pipeline_job_aggregate does, and requires the same outcome:
 * status and message, the merged poses text byte for byte, the results' chunk entries,
 * the analysis series (every float and double) and the counters.  The cases:
 *   - artifacts as chunk workers write them (pose_json + chunk.c's dump flags), with
 *     random landmarks: the fast path must take every chunk;
 *   - the same with frame_index absent, first, or with whitespace between poses (still
 *     fast), and without the frame size;
 *   - 120,000 numbers jansson wrote from random doubles of every magnitude, as
 *     landmarks and times: all taken by the fast path, the same floats and doubles;
 *   - 4,000 numbers that are not jansson's own text (more digits, '+', 'E', leading
 *     zeros, "-0", overflow, ...), one artifact each: the same result either way;
 *   - crafted artifacts: pretty-printed, escapes, non-ASCII, a key twice, "poses"
 *     twice, Cricksy's format, deep nesting, big objects, and every error the merge
 *     reports (bad JSON, no poses, no frame_num, out of order, 32 landmarks, ...);
 *   - every allocation failing in turn: CR_ERR_NOMEM (or jansson's own "out of memory"
 *     as bad JSON) or the reference's result, nothing leaked (ASan).
 */
#include "check.h"
#include "core/mem.h"
#include "pipeline/pipeline_int.h"
#include "pose/pose_json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7))
#define RATE 10.0

/* ---- a deterministic random source (xorshift64*) --------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ull;
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* A float of any magnitude a landmark may hold, with the odd exact and extreme one. */
static float rnd_float(void)
{
    switch (rnd() % 8) {
    case 0:
        return (float)((double)(rnd() % 2001) / 1000.0 - 1.0); /* few digits */
    case 1:
        return (float)(rnd_unit() * pow(10.0, (double)(rnd() % 60) - 45.0)); /* tiny..big */
    case 2:
        return (rnd() & 1) ? 0.0f : -0.0f;
    case 3:
        return (float)(rnd() % 100); /* integral */
    default:
        return (float)(rnd_unit() * 2.0 - 0.5);
    }
}

/* ---- artifacts ------------------------------------------------------------------- */

/* A chunk artifact as chunk.c writes it: `n` poses from frame `k0` on (every third
 * one not detected), random landmarks. */
static json_t *crease_artifact(int index, int64_t k0, int n)
{
    json_t *doc = json_object(), *poses = json_array();
    json_object_set_new(doc, "job_id", json_string("job-1"));
    json_object_set_new(doc, "session_id", json_string("session-1"));
    json_object_set_new(doc, "chunk_index", json_integer(index));
    json_object_set_new(doc, "start_sec", json_real((double)k0 / RATE));
    json_object_set_new(doc, "end_sec", json_real((double)(k0 + n) / RATE));
    json_object_set_new(doc, "sample_fps", json_real(RATE));
    json_object_set_new(doc, "max_width", json_integer(640));
    json_object_set_new(doc, "video_fps", json_real(29.97));
    json_object_set_new(doc, "width", json_integer(640));
    json_object_set_new(doc, "height", json_integer(360));
    json_object_set_new(doc, "engine", json_string("xnnpack"));
    json_object_set_new(doc, "model", json_string("full"));
    for (int i = 0; i < n; i++) {
        pose_result r;
        memset(&r, 0, sizeof r);
        r.detected = i % 3 != 2;
        r.score = r.detected ? (float)rnd_unit() : 0.0f;
        for (int j = 0; r.detected && j < POSE_LM_BODY; j++) {
            r.landmarks[j] = (pose_landmark){rnd_float(), rnd_float(), rnd_float(),
                                             (float)rnd_unit(), (float)rnd_unit()};
            r.world[j] = (pose_landmark){rnd_float(), rnd_float(), rnd_float(),
                                         r.landmarks[j].visibility, 1.0f};
        }
        pose_frame_meta m = {k0 + i, (double)(k0 + i) / RATE, i};
        cr_err e = {0};
        CHECK(pose_json_append(poses, &r, &m, &e) == CR_OK);
    }
    json_object_set_new(doc, "frames", json_integer(n));
    json_object_set_new(doc, "frames_detected", json_integer(n - n / 3));
    json_object_set_new(doc, "runtime_ms", json_integer(1234));
    json_object_set_new(doc, "video_bytes_read", json_integer(99999));
    json_object_set_new(doc, "poses", poses);
    return doc;
}

/* The text of `doc` as chunk.c writes it (cr_free); takes the reference. */
static char *artifact_text(json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    json_decref(doc);
    return text;
}

/* The artifacts' texts (cr_free each) and their lengths. */
typedef struct texts {
    char *t[8];
    size_t len[8];
    int n;
} texts;

static void texts_add(texts *ts, char *text)
{
    CHECK(text != NULL && ts->n < 8);
    if (text == NULL || ts->n >= 8) {
        cr_free(text);
        return;
    }
    ts->t[ts->n] = text;
    ts->len[ts->n] = strlen(text);
    ts->n++;
}

static void texts_add_json(texts *ts, json_t *doc, size_t flags)
{
    texts_add(ts, json_dumps(doc, flags));
    json_decref(doc);
}

static void texts_free(texts *ts)
{
    for (int i = 0; i < ts->n; i++)
        cr_free(ts->t[i]);
    ts->n = 0;
}

/* `text` with the first `from` after `after` (NULL: anywhere) replaced by `to`. */
static char *edit(const char *text, const char *after, const char *from, const char *to)
{
    const char *base = after ? strstr(text, after) : text;
    const char *p = base ? strstr(base, from) : NULL;
    CHECK_MSG(p != NULL, "'%s' not found", from);
    if (p == NULL)
        return cr_strdup(text);
    size_t head = (size_t)(p - text), fl = strlen(from), tl = strlen(to);
    char *out = cr_malloc(strlen(text) - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, p + fl);
    return out;
}

/* ---- the two merges -------------------------------------------------------------- */

typedef struct outcome {
    cr_status st;
    cr_err err;
    pipeline_merge m;
    int merged; /* chunks merged without error */
} outcome;

static void run(const texts *ts, int reference, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->st = pipeline_merge_init(&o->m, RATE, reference, &o->err);
    for (int i = 0; o->st == CR_OK && i < ts->n; i++) {
        char key[64];
        snprintf(key, sizeof key, "jobs/j/chunks/chunk_%04d.json", i);
        o->st = pipeline_merge_chunk(&o->m, key, i, ts->t[i], ts->len[i], &o->err);
        o->merged += o->st == CR_OK;
    }
}

static int same_frames(const analysis_series *a, const analysis_series *b)
{
    if (a->n != b->n || a->width != b->width || a->height != b->height)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const analysis_frame *x = &a->frames[i], *y = &b->frames[i];
        /* exact: memcmp, so -0.0 and 0.0 differ and the doubles are bit for bit */
        if (x->frame_num != y->frame_num || memcmp(&x->t, &y->t, sizeof x->t) != 0 ||
            x->detected != y->detected || x->has_world != y->has_world ||
            memcmp(x->x, y->x, sizeof x->x) != 0 || memcmp(x->y, y->y, sizeof x->y) != 0 ||
            memcmp(x->vis, y->vis, sizeof x->vis) != 0 || memcmp(x->wx, y->wx, sizeof x->wx) != 0 ||
            memcmp(x->wy, y->wy, sizeof x->wy) != 0 || memcmp(x->wz, y->wz, sizeof x->wz) != 0) {
            fprintf(stderr, "  series differ at frame %zu (frame_num %lld)\n", i,
                    (long long)x->frame_num);
            return 0;
        }
    }
    return 1;
}

/* Both outcomes the same in everything the aggregation reads. */
static int same(const char *what, const outcome *r, const outcome *f)
{
    int ok = 1;
#define SAME(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: the paths differ: %s\n", what, #cond);                            \
            ok = 0;                                                                                \
        }                                                                                          \
    } while (0)
    SAME(r->st == f->st);
    SAME(r->st == CR_OK || strcmp(r->err.msg, f->err.msg) == 0);
    SAME(r->merged == f->merged);
    SAME(r->m.text.len == f->m.text.len &&
         (r->m.text.len == 0 || memcmp(r->m.text.p, f->m.text.p, r->m.text.len) == 0));
    char *rc = json_dumps(r->m.chunks, DUMP_FLAGS), *fc = json_dumps(f->m.chunks, DUMP_FLAGS);
    SAME(rc != NULL && fc != NULL && strcmp(rc, fc) == 0);
    cr_free(rc);
    cr_free(fc);
    SAME(same_frames(&r->m.series, &f->m.series));
    SAME(r->m.last_k == f->m.last_k);
    SAME(r->m.frames == f->m.frames);
    SAME(r->m.frames_detected == f->m.frames_detected);
    SAME(r->m.grid_gaps == f->m.grid_gaps);
    SAME(r->m.size_known == f->m.size_known);
    SAME(r->m.video_fps == f->m.video_fps);
    SAME(r->m.cricksy == f->m.cricksy);
    SAME(r->m.dropped == f->m.dropped);
#undef SAME
    return ok;
}

/* Merges `ts` both ways, checks they agree; returns the chunks the fast path took
 * (-1 when they disagree).  *st: the outcome's status. */
static int merge_both(const char *what, texts *ts, cr_status *st)
{
    outcome r, f;
    run(ts, 1, &r);
    run(ts, 0, &f);
    CHECK_INT_EQ(r.m.chunks_fast, 0);
    int ok = same(what, &r, &f);
    CHECK_MSG(ok, "%s", what);
    if (st != NULL)
        *st = r.st;
    int fast = f.m.chunks_fast;
    pipeline_merge_free(&r.m);
    pipeline_merge_free(&f.m);
    texts_free(ts);
    return ok ? fast : -1;
}

/* ---- the cases ------------------------------------------------------------------- */

static void check_crease_artifacts(void)
{
    texts ts = {0};
    for (int i = 0; i < 3; i++)
        texts_add_json(&ts, crease_artifact(i, 30 * i, 30), DUMP_FLAGS);
    /* the fast path took them all and wrote what was expected: 90 poses */
    outcome f;
    run(&ts, 0, &f);
    CHECK(f.st == CR_OK);
    CHECK_INT_EQ(f.m.chunks_fast, 3);
    CHECK_INT_EQ(f.m.frames, 90);
    CHECK_INT_EQ(f.m.frames_detected, 60);
    CHECK_INT_EQ(f.m.series.n, 90);
    CHECK_INT_EQ(f.m.grid_gaps, 0);
    CHECK_INT_EQ(json_array_size(f.m.chunks), 3);
    size_t len = f.m.text.len + 2;
    char *whole = cr_malloc(len + 1);
    snprintf(whole, len + 1, "[%s]", f.m.text.p);
    json_t *poses = json_loads(whole, 0, NULL);
    CHECK(json_array_size(poses) == 90);
    for (size_t i = 0; i < json_array_size(poses); i++)
        CHECK(json_integer_value(json_object_get(json_array_get(poses, i), "frame_index")) ==
              (json_int_t)i);
    json_decref(poses);
    cr_free(whole);
    pipeline_merge_free(&f.m);
    CHECK_INT_EQ(merge_both("crease artifacts", &ts, NULL), 3);

    /* frame_index absent (added last), first (replaced in place) */
    for (int i = 0; i < 3; i++) {
        json_t *doc = crease_artifact(i, 30 * i, 30);
        size_t k;
        json_t *pose;
        json_array_foreach(json_object_get(doc, "poses"), k, pose)
        {
            json_object_del(pose, "frame_index");
            if (i == 1) { /* first: rebuilt with it in front */
                json_t *p2 = json_object();
                json_object_set_new(p2, "frame_index", json_integer(7));
                json_object_update(p2, pose);
                json_array_set_new(json_object_get(doc, "poses"), k, p2);
            }
        }
        texts_add_json(&ts, doc, DUMP_FLAGS);
    }
    CHECK_INT_EQ(merge_both("frame_index absent or first", &ts, NULL), 3);

    /* whitespace between poses only: still the fast path */
    char *text = artifact_text(crease_artifact(0, 0, 4), DUMP_FLAGS);
    texts_add(&ts, edit(text, "\"poses\":", "[", "[ \n"));
    char *t2 = edit(ts.t[0], NULL, "},{\"frame_num\":1,", "} ,\t{\"frame_num\":1,");
    cr_free(ts.t[0]);
    ts.t[0] = t2;
    ts.len[0] = strlen(t2);
    cr_free(text);
    CHECK_INT_EQ(merge_both("whitespace between poses", &ts, NULL), 1);

    /* no frame size (artifacts from before it was recorded) */
    for (int i = 0; i < 2; i++) {
        json_t *doc = crease_artifact(i, 30 * i, 10);
        json_object_del(doc, "width");
        json_object_del(doc, "height");
        texts_add_json(&ts, doc, DUMP_FLAGS);
    }
    CHECK_INT_EQ(merge_both("no frame size", &ts, NULL), 2);

    /* an empty chunk between two others, and a gap in the grid */
    texts_add_json(&ts, crease_artifact(0, 0, 5), DUMP_FLAGS);
    texts_add_json(&ts, crease_artifact(1, 5, 0), DUMP_FLAGS);
    texts_add_json(&ts, crease_artifact(2, 12, 5), DUMP_FLAGS);
    CHECK_INT_EQ(merge_both("an empty chunk, a gap", &ts, NULL), 3);
}

/* The pose text of one pose whose numbers are `vals` (132 landmark values, 99 world
 * values, then t): a detected pose of chunk.c's shape. */
static void pose_text(json_t *poses, int64_t k, char vals[][32])
{
    cr_buf b = {0};
    cr_buf_addf(&b,
                "{\"frame_num\":%lld,\"timestamp\":%s,\"t\":%s,\"frame_index\":0,"
                "\"detected\":true,\"score\":0.5,\"landmarks\":[",
                (long long)k, vals[231], vals[231]);
    for (int i = 0; i < POSE_LM_BODY; i++)
        cr_buf_addf(&b, "%s{\"x\":%s,\"y\":%s,\"z\":%s,\"visibility\":%s}", i ? "," : "",
                    vals[4 * i], vals[4 * i + 1], vals[4 * i + 2], vals[4 * i + 3]);
    cr_buf_adds(&b, "],\"world_landmarks\":[");
    for (int i = 0; i < POSE_LM_BODY; i++)
        cr_buf_addf(&b, "%s{\"x\":%s,\"y\":%s,\"z\":%s,\"visibility\":1.0}", i ? "," : "",
                    vals[132 + 3 * i], vals[132 + 3 * i + 1], vals[132 + 3 * i + 2]);
    cr_buf_adds(&b, "]}");
    json_array_append_new(poses, json_string(b.p)); /* spliced in as text below */
    cr_buf_release(&b);
}

/* An artifact whose poses are the given texts. */
static char *artifact_of_pose_texts(json_t *poses, int index)
{
    cr_buf b = {0};
    cr_buf_addf(&b, "{\"chunk_index\":%d,\"width\":640,\"height\":480,\"poses\":[", index);
    for (size_t i = 0; i < json_array_size(poses); i++)
        cr_buf_addf(&b, "%s%s", i ? "," : "", json_string_value(json_array_get(poses, i)));
    cr_buf_adds(&b, "]}");
    char *out = NULL;
    size_t n;
    cr_buf_take(&b, &out, &n);
    return out;
}

/* A double of any magnitude the fast path takes (decimal exponents within +-290):
 * random bits, or random digits at a random scale. */
static double rnd_double(void)
{
    double d;
    do {
        if (rnd() & 1) {
            uint64_t bits = rnd();
            memcpy(&d, &bits, sizeof d);
        } else {
            d = rnd_unit() * pow(10.0, (double)(rnd() % 80) - 40.0) * ((rnd() & 1) ? 1 : -1);
        }
    } while (!isfinite(d) || (d != 0 && (fabs(d) < 1e-290 || fabs(d) > 1e290)));
    return d;
}

static void check_numbers(void)
{
    /* jansson's text of random doubles: the fast path takes every one */
    int fast = 0, chunks = 0;
    int64_t k = 0;
    char vals[232][32];
    for (int c = 0; c < 16; c++) {
        json_t *poses = json_array();
        for (int p = 0; p < 32; p++) {
            for (int v = 0; v < 232; v++) {
                json_t *r = json_real(v == 231 ? fabs(rnd_double()) : rnd_double());
                char *s = json_dumps(r, DUMP_FLAGS | JSON_ENCODE_ANY);
                snprintf(vals[v], sizeof vals[v], "%s", s);
                cr_free(s);
                json_decref(r);
            }
            pose_text(poses, k++, vals);
        }
        texts ts = {0};
        texts_add(&ts, artifact_of_pose_texts(poses, c));
        json_decref(poses);
        fast += merge_both("jansson's numbers", &ts, NULL);
        chunks++;
    }
    CHECK_INT_EQ(fast, chunks);

    /* numbers written otherwise: one per artifact, the same result either way */
    static const char *const odd[] = {"0.50",
                                      "5e-1",
                                      "5E-1",
                                      "5e-01",
                                      "5e+1",
                                      "1.0e1",
                                      "00.5",
                                      "-0",
                                      "-0.0",
                                      "0.0",
                                      "0",
                                      "1e400",
                                      "-1e400",
                                      "1e-400",
                                      "4.940656e-324",
                                      "1e-323",
                                      "1.797693e308",
                                      "1.7976931348623157e308",
                                      "0.1234567",
                                      "0.12345678",
                                      "123456789",
                                      "1234567.0",
                                      "12345678.0",
                                      "1.234568e7",
                                      "1e7",
                                      "1e6",
                                      "1000000.0",
                                      "100000.0",
                                      "0.0001",
                                      "1e-4",
                                      "0.00001",
                                      "1e-5",
                                      "1e5",
                                      "-",
                                      "1.",
                                      ".5",
                                      "+1",
                                      "1e",
                                      "0x10",
                                      "Infinity",
                                      "NaN",
                                      "1.5e-300",
                                      "1.5e-301",
                                      "9223372036854775807",
                                      "9223372036854775808",
                                      "-9223372036854775808",
                                      "123456789012345678",
                                      "1234567890123456789",
                                      "1e-45",
                                      "2.5e-23",
                                      "2.5e23",
                                      "2.5e22"};
    int odd_fast = 0;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        for (int slot = 0; slot < 3; slot++) { /* a landmark x, a world z, t */
            json_t *poses = json_array();
            for (int v = 0; v < 232; v++)
                snprintf(vals[v], sizeof vals[v], "0.%d", 1 + v % 9);
            snprintf(vals[slot == 0 ? 0 : slot == 1 ? 134 : 231], sizeof vals[0], "%s", odd[i]);
            pose_text(poses, 0, vals);
            texts ts = {0};
            texts_add(&ts, artifact_of_pose_texts(poses, 0));
            json_decref(poses);
            char what[80];
            snprintf(what, sizeof what, "the number %s", odd[i]);
            int f = merge_both(what, &ts, NULL);
            odd_fast += f > 0;
        }
    }
    /* mutations of jansson's text: digits added, dropped, the exponent rewritten */
    for (int i = 0; i < 4000; i++) {
        json_t *r = json_real(rnd_double());
        char *s = json_dumps(r, DUMP_FLAGS | JSON_ENCODE_ANY);
        json_decref(r);
        char m[32];
        size_t n = strlen(s);
        int how = (int)(rnd() % 5);
        if (how == 0)
            snprintf(m, sizeof m, "%s%d", s, (int)(rnd() % 10)); /* a digit more */
        else if (how == 1 && n > 2)
            snprintf(m, sizeof m, "%.*s", (int)(n - 1), s); /* one less */
        else if (how == 2)
            snprintf(m, sizeof m, "%.17g", strtod(s, NULL));
        else if (how == 3)
            snprintf(m, sizeof m, "%.6e", strtod(s, NULL));
        else
            snprintf(m, sizeof m, "%.*g", 1 + (int)(rnd() % 9), strtod(s, NULL));
        cr_free(s);
        json_t *poses = json_array();
        for (int v = 0; v < 232; v++)
            snprintf(vals[v], sizeof vals[v], "0.5");
        snprintf(vals[i % 232], sizeof vals[0], "%s", m);
        pose_text(poses, 0, vals);
        texts ts = {0};
        texts_add(&ts, artifact_of_pose_texts(poses, 0));
        json_decref(poses);
        char what[80];
        snprintf(what, sizeof what, "the number %s", m);
        merge_both(what, &ts, NULL);
    }
    fprintf(stderr, "numbers: %d chunks of jansson's text all fast; %d of %zu odd ones fast\n",
            fast, odd_fast, 3 * sizeof odd / sizeof odd[0]);
}

/* One crease artifact of `n` poses from frame k0, edited: `from` (after `after`)
 * becomes `to`. */
static void add_edited(texts *ts, int index, int64_t k0, int n, const char *after, const char *from,
                       const char *to)
{
    char *text = artifact_text(crease_artifact(index, k0, n), DUMP_FLAGS);
    texts_add(ts, edit(text, after, from, to));
    cr_free(text);
}

/* Cricksy's chunk format: {"poses", "metadata"}, frames counted from the chunk. */
static char *cricksy_artifact(double start, double end)
{
    json_t *doc = crease_artifact(0, 0, 6);
    json_t *meta =
        json_pack("{s:f,s:f,s:f}", "start_sec", start, "end_sec", end, "video_fps", 30.0);
    json_object_del(doc, "chunk_index");
    json_object_set_new(doc, "metadata", meta);
    size_t i;
    json_t *pose;
    json_array_foreach(json_object_get(doc, "poses"), i, pose)
    {
        json_object_set_new(pose, "frame_num", json_integer((json_int_t)i * 5));
        json_object_set_new(pose, "timestamp", json_real((double)i * 5 / 30.0));
        json_object_del(pose, "t");
        if (i == 1)
            json_object_del(pose, "detected");
    }
    char *text = json_dumps(doc, DUMP_FLAGS);
    json_decref(doc);
    return text;
}

/* One edit of a crease artifact at 0 (four poses): `from` replaced by `to` in its text
 * after `after` (NULL: anywhere), merged both ways; the chunks the fast path takes and
 * the status both paths give. */
typedef struct edit_case {
    const char *what, *after, *from, *to;
    int fast;
    cr_status st;
} edit_case;

#define POSE1 "{\"frame_num\":1," /* the second pose of an artifact at 0 */

static const edit_case edit_cases[] = {
    /* valid, but not jansson's compact text of itself: the reference path */
    {"escapes in a pose", POSE1, "\"detected\"", "\"note\":\"a\\\"b\\u00e9\\/\",\"detected\"", 0,
     CR_OK},
    {"UTF-8 in a pose", POSE1, "\"detected\"", "\"note\":\"caf\xc3\xa9\",\"detected\"", 0, CR_OK},
    {"bad UTF-8 in a pose", POSE1, "\"detected\"", "\"note\":\"caf\xc3\",\"detected\"", 0,
     CR_ERR_FORMAT},
    {"DEL in a pose", POSE1, "\"detected\"", "\"note\":\"\x7f\",\"detected\"", 0, CR_OK},
    {"a key twice in a pose", POSE1, "\"detected\":true", "\"detected\":false,\"detected\":true", 0,
     CR_OK},
    {"frame_index twice", POSE1, "\"frame_index\":1", "\"frame_index\":1,\"frame_index\":9", 0,
     CR_OK},
    {"a landmark's x twice", POSE1, "{\"x\":", "{\"x\":0.5,\"x\":", 0, CR_OK},
    {"poses twice", NULL, "\"job_id\"", "\"poses\":[],\"job_id\"", 0, CR_OK},
    {"poses twice, once escaped", NULL, "\"job_id\"", "\"pos\\u0065s\":[],\"job_id\"", 0, CR_OK},
    {"whitespace and escapes outside the poses", NULL, "\"job_id\":\"job-1\"",
     "\"job_id\" : \"j\\\"ob\\u0031\" ", 1, CR_OK},
    {"an integer out of range", POSE1, "\"detected\"", "\"n\":12345678901234567890,\"detected\"", 0,
     CR_ERR_FORMAT},
    /* what analysis reads, every way it can be */
    {"no t: timestamp", POSE1, "\"t\":0.1,", "", 1, CR_OK},
    {"t a string", POSE1, "\"t\":0.1,", "\"t\":\"0.1\",", 1, CR_OK},
    {"t an integer", POSE1, "\"timestamp\":0.1,\"t\":0.1,", "\"t\":1,", 1, CR_OK},
    {"detected a string", POSE1, "\"detected\":true", "\"detected\":\"true\"", 1, CR_OK},
    {"a landmark without visibility", POSE1, "\"visibility\":", "\"vis\":", 1, CR_OK},
    {"a world landmark without z", "\"world_landmarks\":[{", ",\"z\":", ",\"zz\":", 1, CR_OK},
    {"a world landmark without y", "\"world_landmarks\":[{", "\"y\":", "\"yy\":", 1, CR_OK},
    {"34 world landmarks", "\"world_landmarks\":[", "{\"x\"", "7,{\"x\"", 1, CR_OK},
    {"a world landmark's x null", "\"world_landmarks\":[{", "\"x\":", "\"x\":null,\"xx\":", 1,
     CR_OK},
    /* errors: the reference's status and message, whichever path meets them */
    {"garbage after the end", "\"video_bytes_read\"", "]}", "]}x", 0, CR_ERR_FORMAT},
    {"a trailing comma", "\"video_bytes_read\"", "]}", "],}", 0, CR_ERR_FORMAT},
    {"a pose that is a number", NULL, "\"poses\":[", "\"poses\":[1,", 0, CR_ERR_FORMAT},
    {"poses not an array", NULL, "\"poses\":[", "\"poses\":{\"a\":[", 0, CR_ERR_FORMAT},
    {"no poses", NULL, "\"poses\":", "\"posed\":", 0, CR_ERR_FORMAT},
    {"a pose without frame_num", NULL, "\"frame_num\":2,", "", 0, CR_ERR_FORMAT},
    {"a frame_num that is a real", NULL, "\"frame_num\":2,", "\"frame_num\":2.0,", 0,
     CR_ERR_FORMAT},
    {"a frame twice", NULL, "\"frame_num\":2,", "\"frame_num\":1,", 0, CR_ERR_INTERNAL},
    {"a landmark that is not a point", POSE1, "\"landmarks\":[{", "\"landmarks\":[", 0,
     CR_ERR_FORMAT},
    {"a landmark x that is a string", POSE1,
     "\"landmarks\":[{\"x\":", "\"landmarks\":[{\"x\":\"1\",\"q\":", 0, CR_ERR_FORMAT},
};

static void check_crafted(void)
{
    texts ts = {0};
    cr_status st;
    int f;
    for (size_t i = 0; i < sizeof edit_cases / sizeof *edit_cases; i++) {
        const edit_case *c = &edit_cases[i];
        add_edited(&ts, 0, 0, 4, c->after, c->from, c->to);
        f = merge_both(c->what, &ts, &st);
        CHECK_MSG(f == c->fast && st == c->st, "%s: fast %d, %s", c->what, f, cr_status_str(st));
    }

    /* valid, but not jansson's compact text of itself: the reference path */
    texts_add_json(&ts, crease_artifact(0, 0, 4),
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    f = merge_both("pretty-printed", &ts, &st);
    CHECK(f == 0 && st == CR_OK);
    {
        char deep[80] = "\"deep\":";
        for (int i = 0; i < 20; i++)
            strcat(deep, "[");
        strcat(deep, "1");
        for (int i = 0; i < 20; i++)
            strcat(deep, "]");
        strcat(deep, ",\"detected\"");
        add_edited(&ts, 0, 0, 4, POSE1, "\"detected\"", deep);
    }
    f = merge_both("deep nesting", &ts, &st);
    CHECK(f == 0 && st == CR_OK);
    {
        cr_buf big = {0};
        cr_buf_adds(&big, "\"big\":{");
        for (int i = 0; i < 80; i++)
            cr_buf_addf(&big, "%s\"k%d\":%d", i ? "," : "", i, i);
        cr_buf_adds(&big, "},\"detected\"");
        add_edited(&ts, 0, 0, 4, POSE1, "\"detected\"", big.p);
        cr_buf_release(&big);
    }
    f = merge_both("an object of 80 keys", &ts, &st);
    CHECK(f == 0 && st == CR_OK);
    texts_add(&ts, cricksy_artifact(3.0, 6.0));
    texts_add(&ts, cricksy_artifact(6.0, 9.0));
    f = merge_both("Cricksy's format", &ts, &st);
    CHECK(f == 0 && st == CR_OK);
    /* a crease chunk, then a Cricksy one, then crease again */
    texts_add_json(&ts, crease_artifact(0, 0, 30), DUMP_FLAGS);
    texts_add(&ts, cricksy_artifact(3.0, 6.0));
    texts_add_json(&ts, crease_artifact(2, 60, 30), DUMP_FLAGS);
    f = merge_both("a mixed fleet", &ts, &st);
    CHECK(f == 2 && st == CR_OK);

    /* errors: the reference's status and message, whichever path meets them */
    texts_add(&ts, cr_strdup(""));
    f = merge_both("empty", &ts, &st);
    CHECK(f == 0 && st == CR_ERR_FORMAT);
    {
        char *text = artifact_text(crease_artifact(0, 0, 4), DUMP_FLAGS);
        text[strlen(text) / 2] = '\0';
        texts_add(&ts, text);
    }
    f = merge_both("truncated", &ts, &st);
    CHECK(f == 0 && st == CR_ERR_FORMAT);
    texts_add_json(&ts, crease_artifact(0, 0, 10), DUMP_FLAGS);
    texts_add_json(&ts, crease_artifact(1, 5, 10), DUMP_FLAGS);
    f = merge_both("chunks overlapping", &ts, &st);
    CHECK(f == 1 && st == CR_ERR_INTERNAL);
    {
        char *text = artifact_text(crease_artifact(0, 0, 4), DUMP_FLAGS);
        char *a = strstr(text, "\"frame_num\":1,"), *b = a ? strstr(a, "\"landmarks\":[{") : NULL;
        char *c = b ? strstr(b, "},{") : NULL; /* drop the first landmark */
        if (c != NULL)
            memmove(b + 13, c + 2, strlen(c + 2) + 1);
        CHECK(c != NULL);
        texts_add(&ts, text);
    }
    f = merge_both("32 landmarks", &ts, &st);
    CHECK(f == 0 && st == CR_ERR_FORMAT);
    texts_add(&ts, cr_strdup("[{\"poses\":[]}]"));
    f = merge_both("an array at the top", &ts, &st);
    CHECK(f == 0 && st == CR_ERR_FORMAT);
    texts_add(&ts, cr_strdup("{\"poses\":[]}"));
    f = merge_both("nothing but poses", &ts, &st);
    CHECK(f == 1 && st == CR_OK);
}

/* Every allocation of a fast merge failing in turn (the merge of two small chunks makes
 * a few hundred; NOMEM_TRIES is well past them, checked by the last tries passing). */
#define NOMEM_TRIES 1500
static void check_nomem(void)
{
    texts ts = {0};
    texts_add_json(&ts, crease_artifact(0, 0, 6), DUMP_FLAGS);
    texts_add_json(&ts, crease_artifact(1, 6, 6), DUMP_FLAGS);
    outcome r;
    run(&ts, 1, &r);
    CHECK(r.st == CR_OK);
    int failed = 0, last_ok = 0;
    for (long n = 0; n < NOMEM_TRIES; n++) {
        outcome f;
        cr_mem_fail_after(n, 0);
        run(&ts, 0, &f);
        cr_mem_fail_after(-1, 0);
        last_ok = f.st == CR_OK && f.m.chunks_fast == 2;
        if (f.st == CR_OK) {
            /* past the last allocation, or a failure the reference path absorbed */
            CHECK_MSG(same("after a failed allocation", &r, &f), "n=%ld", n);
        } else {
            failed++;
            CHECK_MSG(f.st == CR_ERR_NOMEM ||
                          (f.st == CR_ERR_FORMAT && strstr(f.err.msg, "out of memory") != NULL),
                      "n=%ld: %s: %s", n, cr_status_str(f.st), cr_err_msg(&f.err));
        }
        pipeline_merge_free(&f.m);
    }
    CHECK(failed > 0 && last_ok);
    fprintf(stderr, "allocation failures: %d of %d tries failed the merge\n", failed, NOMEM_TRIES);
    pipeline_merge_free(&r.m);
    texts_free(&ts);
}

int main(void)
{
    cr_mem_init(); /* jansson through core/mem, so check_nomem reaches its allocations */
    check_crease_artifacts();
    check_crafted();
    check_numbers();
    check_nomem();
    return check_exit();
}
