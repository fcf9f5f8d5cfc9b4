/*
 * test_limits.c -- the limits on what one upload can cause (DESIGN.md §10), on the
 * embedded backends (SQLite file + local folder):
 *
 *   - a real 4 s MP4 (320x240, 25 fps, H.264, made by the ffmpeg CLI) whose mvhd and
 *     mdhd durations are rewritten to claim 10 h: upload-complete plans only the ~4 s
 *     of frames; chunks past them fail ("no video frame at or after ...") and write no
 *     artifact, while the planned ones hold only real frames
 *   - a 100 h claim (mvhd) never plans more chunks than the limit
 *   - each limit (duration, pixels, size, chunks) refused with a message naming it and
 *     the value; video_rejected is set (the API answers 422) and the job stays
 *     awaiting_upload; a video exactly at a limit passes
 */
#include "check.h"
#include "core/config.h"
#include "core/mem.h"
#include "core/reader.h"
#include "pipeline/pipeline.h"
#include "pose/pose_tracker.h"
#include "video/video.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIP_SECONDS 4 /* the real content of the test clip */
#define CLIP_W 320
#define CLIP_H 240

static char g_dir[] = "/tmp/crease-limits-XXXXXX";
static char g_dburl[400], g_blobdir[300];

/* A fake environment: the test's stores, then `extra` (name/value pairs). */
typedef struct test_env {
    const char *const *extra;
} test_env;

static const char *lookup(const char *name, void *ctx)
{
    const test_env *env = ctx;
    for (const char *const *kv = env->extra; kv != NULL && kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    if (strcmp(name, "DATABASE_URL") == 0)
        return g_dburl;
    if (strcmp(name, "CREASE_BLOB_DIR") == 0)
        return g_blobdir;
    if (strcmp(name, "CHUNK_SECONDS") == 0)
        return "1";
    if (strcmp(name, "CREASE_MODELS_DIR") == 0)
        return "models";
    return NULL;
}

static int config_with(cr_config *cfg, const char *const *extra)
{
    test_env env = {extra};
    cr_err e = {0};
    if (cr_config_parse(cfg, lookup, &env, &e) != CR_OK) {
        CHECK_MSG(0, "config: %s", cr_err_msg(&e));
        return -1;
    }
    return 0;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = sz > 0 ? malloc((size_t)sz) : NULL;
    if (d != NULL && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *n = d != NULL ? (size_t)sz : 0;
    return d;
}

static uint64_t be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* Rewrites the duration of every `type` box ('mvhd' or 'mdhd', ISO/IEC 14496-12
 * 8.2.2 and 8.4.2: version, flags, then times, timescale, duration; 32-bit fields in
 * version 0, 64-bit times and duration in version 1) inside the 'moov' box to
 * `seconds` in the box's own timescale.  A version-0 field too small for the value is
 * left alone.  Returns the number of boxes rewritten. */
static int patch_duration(unsigned char *d, size_t n, const char *type, uint64_t seconds)
{
    /* the top-level boxes, to find moov (the clip's mdat may hold any bytes) */
    size_t pos = 0, moov = 0, moov_end = 0;
    while (pos + 8 <= n) {
        uint64_t size = be(d + pos, 4);
        if (size == 1 && pos + 16 <= n)
            size = be(d + pos + 8, 8);
        else if (size == 0)
            size = n - pos;
        if (size < 8 || size > n - pos)
            break;
        if (memcmp(d + pos + 4, "moov", 4) == 0) {
            moov = pos;
            moov_end = pos + size;
        }
        pos += size;
    }
    int patched = 0;
    for (size_t i = moov + 4; moov_end > 0 && i + 36 <= moov_end; i++) {
        if (memcmp(d + i, type, 4) != 0)
            continue;
        int v1 = d[i + 4] == 1;
        size_t ts_at = i + 8 + (v1 ? 16 : 8), dur_at = ts_at + 4;
        uint64_t value = seconds * be(d + ts_at, 4);
        if (!v1 && value >= UINT32_MAX)
            continue;
        put_be(d + dur_at, value, v1 ? 8 : 4);
        patched++;
    }
    return patched;
}

/* Writes a copy of `src` claiming `seconds`: mvhd always, mdhd where it fits. */
static int write_claim(const char *src, const char *dst, uint64_t seconds)
{
    size_t n = 0;
    unsigned char *d = slurp(src, &n);
    if (d == NULL)
        return -1;
    int mv = patch_duration(d, n, "mvhd", seconds);
    patch_duration(d, n, "mdhd", seconds);
    FILE *f = fopen(dst, "wb");
    int ok = f != NULL && fwrite(d, 1, n, f) == n;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    free(d);
    return ok && mv == 1 ? 0 : -1;
}

static void probe(const char *path, video_info *info)
{
    cr_reader *r = NULL;
    cr_err e = {0};
    memset(info, 0, sizeof *info);
    CHECK_MSG(cr_reader_open_file(path, &r, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (r == NULL)
        return;
    CHECK_MSG(video_probe(r, info, &e) == CR_OK, "%s", cr_err_msg(&e));
    cr_reader_close(r);
}

typedef struct env {
    blob_store *blob;
    store *st;
} env;

static int env_open(const cr_config *cfg, env *v)
{
    cr_err e = {0};
    memset(v, 0, sizeof *v);
    if (blob_open(cfg, NULL, &v->blob, &e) != CR_OK || store_open(cfg, NULL, &v->st, &e) != CR_OK ||
        store_migrate_up(v->st, 0, NULL, &e) != CR_OK) {
        CHECK_MSG(0, "stores: %s", cr_err_msg(&e));
        return -1;
    }
    return 0;
}

static void env_close(env *v)
{
    store_close(v->st);
    blob_close(v->blob);
}

/* A chunked job for `video`, uploaded, then upload-complete.  Returns its status and
 * fills *up and the job id. */
static cr_status submit_complete(const cr_config *cfg, env *v, const char *video,
                                 pipeline_upload *up, char *job_id, size_t cap, cr_err *e)
{
    pipeline_submit_opts o = {.analysis_mode = "batting", .chunked = 1};
    pipeline_submission sub;
    cr_status s = pipeline_submit(cfg, v->blob, v->st, NULL, &o, &sub, e);
    CHECK_MSG(s == CR_OK, "submit: %s", cr_err_msg(e));
    if (s != CR_OK)
        return s;
    snprintf(job_id, cap, "%s", sub.job_id);
    CHECK(blob_put_file(v->blob, sub.video_key, video, "video/mp4", e) == CR_OK);
    return pipeline_complete_upload(cfg, v->blob, v->st, NULL, sub.job_id, up, e);
}

/* One limit: upload-complete refuses `video` under `extra`, naming `limit` and showing
 * `value`; the job stays awaiting_upload. */
static void expect_refused(const char *const *extra, const char *video, const char *limit,
                           const char *value)
{
    cr_config cfg;
    env v;
    if (config_with(&cfg, extra) != 0 || env_open(&cfg, &v) != 0)
        return;
    pipeline_upload up;
    char job_id[64];
    cr_err e = {0};
    cr_status s = submit_complete(&cfg, &v, video, &up, job_id, sizeof job_id, &e);
    CHECK_MSG(s == CR_ERR_LIMIT, "%s: %s (%s)", limit, cr_status_str(s), cr_err_msg(&e));
    CHECK_MSG(up.video_rejected, "%s: not a rejection of the video", limit);
    CHECK_MSG(strstr(cr_err_msg(&e), limit) != NULL, "message does not name %s: %s", limit,
              cr_err_msg(&e));
    CHECK_MSG(strstr(cr_err_msg(&e), value) != NULL, "message does not show %s: %s", value,
              cr_err_msg(&e));
    store_job job;
    cr_err_clear(&e);
    CHECK(store_job_get(v.st, job_id, &job, &e) == CR_OK);
    CHECK_STR_EQ(job.status, STORE_JOB_AWAITING_UPLOAD);
    CHECK_INT_EQ(job.total_chunks, 0);
    env_close(&v);
}

/* The same video under `extra` is accepted with `chunks` chunks. */
static void expect_accepted(const char *const *extra, const char *video, int chunks)
{
    cr_config cfg;
    env v;
    if (config_with(&cfg, extra) != 0 || env_open(&cfg, &v) != 0)
        return;
    pipeline_upload up;
    char job_id[64];
    cr_err e = {0};
    cr_status s = submit_complete(&cfg, &v, video, &up, job_id, sizeof job_id, &e);
    CHECK_MSG(s == CR_OK, "%s (%s)", cr_status_str(s), cr_err_msg(&e));
    CHECK_INT_EQ(up.chunks, chunks);
    env_close(&v);
}

static void test_each_limit(const char *clip)
{
    const char *dur[] = {"CREASE_MAX_DURATION_SECONDS", "3", NULL};
    expect_refused(dur, clip, "CREASE_MAX_DURATION_SECONDS", "4.0 s");
    const char *px[] = {"CREASE_MAX_PIXELS", "76799", NULL};
    expect_refused(px, clip, "CREASE_MAX_PIXELS", "320x240");
    const char *size[] = {"CREASE_MAX_UPLOAD_BYTES", "1000", NULL};
    expect_refused(size, clip, "CREASE_MAX_UPLOAD_BYTES", "1000 bytes");
    const char *chunks[] = {"CREASE_MAX_CHUNKS", "3", NULL};
    expect_refused(chunks, clip, "CREASE_MAX_CHUNKS", "4 chunks");
    /* exactly at each limit: accepted */
    const char *at[] = {"CREASE_MAX_DURATION_SECONDS",
                        "4",
                        "CREASE_MAX_PIXELS",
                        "76800",
                        "CREASE_MAX_CHUNKS",
                        "4",
                        NULL};
    expect_accepted(at, clip, CLIP_SECONDS);
}

/* Processes chunk `index` [start, end) of the job; returns its status. */
static cr_status run_chunk(env *v, pose_tracker *tr, const pipeline_submission *sub, int index,
                           double start, double end, pipeline_chunk_summary *cs, cr_err *e)
{
    pipeline_chunk_spec spec = {.session_id = sub->session_id,
                                .job_id = sub->job_id,
                                .video_key = sub->video_key,
                                .chunk_index = index,
                                .start_sec = start,
                                .end_sec = end,
                                .sample_fps = 10.0,
                                .max_width = CLIP_W,
                                .decoder_threads = 1};
    return pipeline_chunk_process(v->blob, tr, &spec, NULL, NULL, cs, e);
}

static void test_claim_10h(const char *claim)
{
    video_info info;
    probe(claim, &info);
    CHECK_NEAR(info.duration_seconds, 36000, 1e-6);
    CHECK_NEAR(info.content_seconds, CLIP_SECONDS, 0.05);

    cr_config cfg;
    env v;
    if (config_with(&cfg, NULL) != 0 || env_open(&cfg, &v) != 0)
        return;
    cr_err e = {0};
    pipeline_submit_opts o = {.analysis_mode = "batting", .chunked = 1, .path = claim};
    pipeline_submission sub;
    cr_status s = pipeline_submit_file(&cfg, v.blob, v.st, &o, &sub, &e);
    CHECK_MSG(s == CR_OK, "%s (%s)", cr_status_str(s), cr_err_msg(&e));
    /* planned on the frames that exist, not on the header's claim */
    CHECK_NEAR(sub.duration_seconds, CLIP_SECONDS, 0.05);
    CHECK_INT_EQ(sub.chunks, CLIP_SECONDS);
    store_chunk rows[8];
    int n = 0;
    CHECK(store_chunks_of_job(v.st, sub.job_id, rows, 8, &n, &e) == CR_OK);
    CHECK_INT_EQ(n, CLIP_SECONDS);
    for (int i = 0; i < n; i++)
        CHECK_MSG(rows[i].end_sec <= CLIP_SECONDS + 0.05, "chunk %d ends at %.3f", i,
                  rows[i].end_sec);

    pose_tracker_opts po = {.model = "lite", .threads = 1};
    pose_tracker *tr = NULL;
    if (pose_tracker_create(&cfg, &po, &tr, &e) != CR_OK) {
        CHECK_MSG(0, "pose tracker: %s", cr_err_msg(&e));
        env_close(&v);
        return;
    }
    /* the last planned chunk: real frames, 10 grid points */
    pipeline_chunk_summary cs;
    s = run_chunk(&v, tr, &sub, n - 1, rows[n - 1].start_sec, rows[n - 1].end_sec, &cs, &e);
    CHECK_MSG(s == CR_OK, "last chunk: %s", cr_err_msg(&e));
    CHECK_INT_EQ(cs.frames, 10);

    /* chunks the 10 h claim would have planned: no poses of a frozen frame, no artifact */
    const double starts[] = {30, 3600, 35970};
    for (int i = 0; i < 3; i++) {
        cr_err_clear(&e);
        int index = (int)(starts[i] / 30);
        s = run_chunk(&v, tr, &sub, index, starts[i], starts[i] + 30, &cs, &e);
        CHECK_MSG(s == CR_ERR_FORMAT, "chunk at %.0f s: %s (%s)", starts[i], cr_status_str(s),
                  cr_err_msg(&e));
        CHECK_MSG(strstr(cr_err_msg(&e), "no video frame at or after") != NULL, "%s",
                  cr_err_msg(&e));
        CHECK_INT_EQ(cs.frames, 0);
        char key[BLOB_KEY_MAX];
        blob_info bi;
        CHECK(blob_key_chunk(sub.session_id, sub.job_id, index, key, sizeof key, &e) == CR_OK);
        CHECK_MSG(blob_head(v.blob, key, &bi, &e) == CR_ERR_NOT_FOUND, "artifact %s exists", key);
    }
    /* a chunk that starts within the last second of real content still has frames */
    cr_err_clear(&e);
    s = run_chunk(&v, tr, &sub, 0, 3.5, 4.0, &cs, &e);
    CHECK_MSG(s == CR_OK, "chunk [3.5, 4): %s", cr_err_msg(&e));
    CHECK_INT_EQ(cs.frames, 5);
    pose_tracker_destroy(tr);
    env_close(&v);
}

static void test_claim_100h(const char *claim)
{
    video_info info;
    probe(claim, &info);
    CHECK_NEAR(info.duration_seconds, 360000, 1e-6);
    /* with the defaults (30 s chunks, 9999 at most): the real 4 s, one chunk */
    const char *dflt[] = {"CHUNK_SECONDS", "30", NULL};
    expect_accepted(dflt, claim, 1);
    /* never more than the chunk limit, whatever the duration limit allows */
    const char *many[] = {"CREASE_MAX_DURATION_SECONDS", "35996400", "CREASE_MAX_CHUNKS", "3",
                          NULL};
    expect_refused(many, claim, "CREASE_MAX_CHUNKS", "4 chunks");
}

int main(void)
{
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(g_dburl, sizeof g_dburl, "sqlite:///%s/crease.db", g_dir);
    snprintf(g_blobdir, sizeof g_blobdir, "%s/blobs", g_dir);
    char clip[300], claim10[300], claim100[300], cmd[800];
    snprintf(clip, sizeof clip, "%s/clip.mp4", g_dir);
    snprintf(claim10, sizeof claim10, "%s/claim10h.mp4", g_dir);
    snprintf(claim100, sizeof claim100, "%s/claim100h.mp4", g_dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i testsrc=d=%d:s=%dx%d:r=25 -c:v libx264 -preset "
             "ultrafast -pix_fmt yuv420p %s",
             CLIP_SECONDS, CLIP_W, CLIP_H, clip);
    if (system(cmd) != 0)
        SKIP_OR_FAIL("ffmpeg could not make the test clip");
    CHECK(write_claim(clip, claim10, 36000) == 0);
    CHECK(write_claim(clip, claim100, 360000) == 0);

    test_each_limit(clip);
    test_claim_10h(claim10);
    test_claim_100h(claim100);

    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_exit();
}
