/*
 * test_blob_video.c -- the video sampler reading a stored video through the blob
 * reader (DESIGN.md §6): one chunk of a video reads a small part of the file, and
 * gives exactly the frames that sampling the local file gives.
 *
 *   test_blob_video local|s3 OUTDIR
 *
 * Inputs: media/vtest.avi (real footage, MS-MPEG4v3 in AVI, index at the end) and
 * an H.264 MP4 (moov at the end, as phones write it) generated with the ffmpeg CLI
 * into OUTDIR.  For each: store it, sample the middle 10 s chunk through
 * blob_open_reader, and compare frame count and pixels with the same chunk read
 * from the local file.  The bytes fetched versus the file size are printed (the
 * issue's acceptance figure) and must stay below half the file.
 */
#include "blob/blob.h"
#include "core/mem.h"
#include "video/video.h"

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_S 10 /* chunk length for the test: several chunks in an 80 s video */

typedef struct sample_result {
    int frames;
    uint64_t hash;
    cr_status st;
} sample_result;

static sample_result sample(cr_reader *r, double start, double end)
{
    sample_result res = {0, 1469598103934665603ull, CR_OK}; /* FNV-1a offset basis */
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.start_sec = start;
    o.end_sec = end;
    video_sampler *s = NULL;
    cr_err err = {0};
    if ((res.st = video_sampler_open(r, &o, &s, &err)) != CR_OK) {
        fprintf(stderr, "sampler: %s\n", cr_err_msg(&err));
        return res;
    }
    for (;;) {
        video_frame f;
        int done = 0;
        if ((res.st = video_sampler_next(s, &f, &done, &err)) != CR_OK) {
            fprintf(stderr, "sampler: %s\n", cr_err_msg(&err));
            break;
        }
        if (done)
            break;
        res.frames++;
        for (int y = 0; y < f.height; y++) {
            const uint8_t *row = f.rgb + (size_t)y * (size_t)f.stride;
            for (int x = 0; x < 3 * f.width; x++)
                res.hash = (res.hash ^ row[x]) * 1099511628211ull; /* FNV-1a prime */
        }
    }
    video_sampler_close(s);
    return res;
}

static void check_video(blob_store *b, const char *path, const char *key)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        CHECK_MSG(0, "%s missing", path);
        return;
    }
    cr_err err = {0};
    CHECK_MSG(blob_put_file(b, key, path, "video/mp4", &err) == CR_OK, "%s", cr_err_msg(&err));

    /* the plan from the local file's duration */
    cr_reader *local = NULL;
    CHECK(cr_reader_open_file(path, &local, &err) == CR_OK);
    video_info info;
    CHECK_MSG(video_probe(local, &info, &err) == CR_OK, "%s", cr_err_msg(&err));
    cr_reader_close(local);
    video_chunk *plan = NULL;
    size_t n = 0;
    CHECK(video_chunk_plan(info.duration_seconds, CHUNK_S, &plan, &n, &err) == CR_OK);
    if (n < 3) {
        CHECK_MSG(0, "%s: only %zu chunks", path, n);
        cr_free(plan);
        return;
    }
    video_chunk c = plan[n / 2];
    cr_free(plan);

    CHECK(cr_reader_open_file(path, &local, &err) == CR_OK);
    sample_result want = sample(local, c.start_sec, c.end_sec);
    uint64_t local_bytes = cr_reader_bytes_read(local);
    cr_reader_close(local);

    blob_reader_stats stats = {0};
    cr_reader *r = NULL;
    CHECK_MSG(blob_open_reader(b, key, 0, &stats, &r, &err) == CR_OK, "%s", cr_err_msg(&err));
    if (r == NULL)
        return;
    sample_result got = sample(r, c.start_sec, c.end_sec);
    CHECK(want.st == CR_OK && got.st == CR_OK);
    CHECK_INT_EQ(got.frames, want.frames);
    CHECK_INT_EQ(got.frames, (int)llround((c.end_sec - c.start_sec) * 10)); /* SAMPLE_FPS 10 */
    CHECK_MSG(got.hash == want.hash, "%s: frames differ from the local file's", path);
    uint64_t size = (uint64_t)sb.st_size;
    fprintf(stderr,
            "%s (%s): chunk %d [%.0f, %.0f) s of %.1f s: fetched %llu of %llu bytes (%.1f %%) "
            "in %llu requests; the sampler read %llu bytes (local file: %llu)\n",
            path, blob_backend_name(b), c.index, c.start_sec, c.end_sec, info.duration_seconds,
            (unsigned long long)stats.bytes_fetched, (unsigned long long)size,
            100.0 * (double)stats.bytes_fetched / (double)size, (unsigned long long)stats.requests,
            (unsigned long long)cr_reader_bytes_read(r), (unsigned long long)local_bytes);
    CHECK_MSG(stats.bytes_fetched < size / 2, "fetched %llu of %llu",
              (unsigned long long)stats.bytes_fetched, (unsigned long long)size);
    cr_reader_close(r);
    CHECK(blob_delete(b, key, &err) == CR_OK);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "local") != 0 && strcmp(argv[1], "s3") != 0)) {
        fprintf(stderr, "usage: test_blob_video local|s3 OUTDIR\n");
        return 2;
    }
    int is_s3 = strcmp(argv[1], "s3") == 0;
    const char *out = argv[2];
    blob_store *b = NULL;
    cr_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/store-%s", out, argv[1]);
    if (is_s3) {
        const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
        const char *bucket = getenv("CREASE_TEST_S3_BUCKET");
        if (ep == NULL || bucket == NULL)
            SKIP_OR_FAIL("test_blob_video s3: CREASE_TEST_S3_ENDPOINT/BUCKET not set");
        blob_s3_params p = {.bucket = bucket,
                            .endpoint = ep,
                            .access_key_id = getenv("CREASE_TEST_S3_ACCESS_KEY"),
                            .secret_access_key = getenv("CREASE_TEST_S3_SECRET_KEY")};
        if (blob_open_s3(&p, NULL, &b, &err) != CR_OK) {
            fprintf(stderr, "open: %s\n", cr_err_msg(&err));
            return 1;
        }
    } else if (blob_open_local(dir, NULL, NULL, &b, &err) != CR_OK) {
        fprintf(stderr, "open: %s\n", cr_err_msg(&err));
        return 1;
    }

    /* 80 s of H.264 at 25 fps, 320x240, GOP 2 s, moov at the end.  The local and the S3
     * variants of this test may make it at the same time: each writes its own
     * temporary file and renames it into place (atomic). */
    char mp4[1024], cmd[8192];
    snprintf(mp4, sizeof mp4, "%s/blob_video_h264.mp4", out);
    struct stat sb;
    if (stat(mp4, &sb) != 0) {
        snprintf(cmd, sizeof cmd,
                 "mkdir -p '%s' && ffmpeg -nostdin -hide_banner -v error -y -f lavfi "
                 "-i testsrc2=s=320x240:r=25:d=80 -c:v libx264 -preset ultrafast -g 50 "
                 "-pix_fmt yuv420p '%s.%ld.tmp.mp4' && mv '%s.%ld.tmp.mp4' '%s'",
                 out, mp4, (long)getpid(), mp4, (long)getpid(), mp4);
        if (system(cmd) != 0) {
            fprintf(stderr, "ffmpeg failed: %s\n", cmd);
            return 1;
        }
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t/%ld-%ld", (long)getpid(), (long)time(NULL));
    char k1[128], k2[128];
    snprintf(k1, sizeof k1, "%s/vtest.avi", prefix);
    snprintf(k2, sizeof k2, "%s/original.mp4", prefix);
    check_video(b, "media/vtest.avi", k1);
    check_video(b, mp4, k2);
    blob_close(b);
    return check_exit();
}
