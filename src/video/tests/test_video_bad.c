/*
 * test_video_bad.c -- bad input gives a clear error, never a crash or a leak.
 *
 * argv[1]: the folder gen_media.sh filled (it also receives the files made here).
 * Run under ASan/UBSan by the sanitizer pass of scripts/test.
 */
#include "check.h"
#include "core/mem.h"
#include "core/reader.h"
#include "video/video.h"

#include <stdint.h>

static const char *dir;

static uint32_t lcg_state = 12345;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u; /* Numerical Recipes' LCG */
    return lcg_state >> 8;
}

static void write_file(const char *name, const void *data, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static uint8_t *read_file(const char *name, size_t *n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

/* video_sampler_opts.read_ahead of every sampler below: each check runs without and
 * with it, and must meet the same errors after the same frames */
static int read_ahead = 0;

/* Samples the whole input; returns the first non-OK status (probe or sampling). */
static cr_status run_reader(cr_reader *r, cr_err *err, int *frames)
{
    video_info in;
    cr_status st = video_probe(r, &in, err);
    if (st != CR_OK)
        return st;
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.read_ahead = read_ahead;
    video_sampler *s = NULL;
    st = video_sampler_open(r, &o, &s, err);
    *frames = 0;
    while (st == CR_OK) {
        video_frame f;
        int done = 0;
        st = video_sampler_next(s, &f, &done, err);
        if (done)
            break;
        if (st == CR_OK)
            (*frames)++;
    }
    video_sampler_close(s);
    return st;
}

static cr_status run_file(const char *name, cr_err *err)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_reader *r = NULL;
    cr_status st = cr_reader_open_file(p, &r, err);
    if (st != CR_OK)
        return st;
    int frames = 0;
    st = run_reader(r, err, &frames);
    cr_reader_close(r);
    return st;
}

static void expect(const char *name, cr_status want, const char *words)
{
    cr_err err = {0};
    cr_status st = run_file(name, &err);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", name, cr_status_str(st),
              cr_status_str(want), cr_err_msg(&err));
    CHECK_MSG(strstr(cr_err_msg(&err), words) != NULL, "%s: message '%s' lacks '%s'", name,
              cr_err_msg(&err), words);
    CHECK_MSG(strstr(cr_err_msg(&err), name) != NULL, "%s: message '%s' does not name the file",
              name, cr_err_msg(&err));
}

/* A reader that fails every read past `limit` bytes. */
typedef struct failing {
    cr_reader *inner;
    uint64_t limit;
} failing;

static cr_status failing_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got,
                              cr_err *err)
{
    failing *f = ctx;
    if (off + n > f->limit) {
        *got = 0;
        return cr_err_set(err, CR_ERR_NET, "range request failed (test)");
    }
    return cr_reader_read_at(f->inner, off, buf, n, got, err);
}

static void failing_close(void *ctx)
{
    failing *f = ctx;
    cr_reader_close(f->inner);
    cr_free(f);
}

static const cr_reader_ops failing_ops = {failing_read, failing_close};

static void check_reader_errors(void)
{
    /* fails in the probe (small limits) or in the middle of sampling (4 MB) */
    const char *files[] = {"cfr25.mp4", "cfr25.mp4", "cfr25.mp4", "media/vtest.avi"};
    uint64_t limits[] = {0, 100, 4000, 4000000};
    static int frames_before[4] = {-1, -1, -1, -1}; /* without read-ahead (the first run) */
    for (size_t i = 0; i < 4; i++) {
        char p[1024];
        if (strncmp(files[i], "media/", 6) == 0)
            snprintf(p, sizeof p, "%s", files[i]);
        else
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        cr_err err = {0};
        failing *f = cr_calloc(1, sizeof *f);
        CHECK(cr_reader_open_file(p, &f->inner, &err) == CR_OK);
        f->limit = limits[i];
        cr_reader *r = NULL;
        CHECK(cr_reader_create(&failing_ops, f, cr_reader_size(f->inner), "s3://b/k", &r, &err) ==
              CR_OK);
        int frames = 0;
        cr_status st = run_reader(r, &err, &frames);
        CHECK_MSG(st == CR_ERR_NET, "limit %llu: %s (%s)", (unsigned long long)limits[i],
                  cr_status_str(st), cr_err_msg(&err));
        CHECK(strstr(cr_err_msg(&err), "range request failed") != NULL);
        if (frames_before[i] < 0)
            frames_before[i] = frames;
        CHECK_MSG(frames == frames_before[i],
                  "limit %llu, read-ahead %d: %d frames before the "
                  "error, %d without",
                  (unsigned long long)limits[i], read_ahead, frames, frames_before[i]);
        cr_reader_close(r);
    }
}

/* Random damage to a good file: any status but a crash, a leak or an assert. */
static void check_damage(void)
{
    size_t n = 0;
    uint8_t *good = read_file("cfr25.mp4", &n);
    CHECK(good != NULL && n > 1000);
    if (good == NULL)
        return;
    uint8_t *b = malloc(n);
    int ok = 0, failed = 0;
    for (int it = 0; it < 40; it++) {
        memcpy(b, good, n);
        int flips = 1 + (int)(lcg() % 16);
        for (int i = 0; i < flips; i++)
            b[lcg() % n] = (uint8_t)lcg();
        size_t len = it % 4 == 3 ? lcg() % n : n; /* sometimes cut as well */
        write_file("damaged.mp4", b, len);
        cr_err err = {0};
        cr_status st = run_file("damaged.mp4", &err);
        CHECK_MSG(st == CR_OK || st == CR_ERR_FORMAT || st == CR_ERR_UNSUPPORTED ||
                      st == CR_ERR_LIMIT,
                  "damaged #%d: %s (%s)", it, cr_status_str(st), cr_err_msg(&err));
        if (st == CR_OK)
            ok++;
        else
            failed++;
    }
    fprintf(stderr, "damaged files: %d decoded, %d refused\n", ok, failed);
    free(b);
    free(good);
}

/* Every allocation of ours failing in turn: CR_ERR_NOMEM or success, no leak. */
static void check_nomem(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/cfr25.mp4", dir);
    int nomem = 0;
    for (long i = 0; i < 12; i++) {
        cr_err err = {0};
        cr_reader *r = NULL;
        CHECK(cr_reader_open_file(p, &r, &err) == CR_OK);
        cr_mem_fail_after(i, 0);
        video_sampler *s = NULL;
        cr_status st = video_sampler_open(r, NULL, &s, &err);
        cr_mem_fail_after(-1, 0);
        CHECK(st == CR_OK || st == CR_ERR_NOMEM);
        nomem += st == CR_ERR_NOMEM;
        CHECK((st == CR_OK) == (s != NULL));
        video_sampler_close(s);
        cr_reader_close(r);
    }
    CHECK(nomem > 0);
}

static void check_bad_inputs(void);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_video_bad MEDIA_DIR\n");
        return 2;
    }
    dir = argv[1];
    for (read_ahead = 0; read_ahead <= 2; read_ahead += 2)
        check_bad_inputs();
    read_ahead = 0;
    check_nomem();
    return check_exit();
}

static void check_bad_inputs(void)
{
    write_file("empty.bin", "", 0);
    expect("empty.bin", CR_ERR_FORMAT, "empty");

    uint8_t rnd[65536];
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)lcg();
    write_file("random.bin", rnd, sizeof rnd);
    expect("random.bin", CR_ERR_FORMAT, "not a recognised video");

    expect("audio.m4a", CR_ERR_FORMAT, "no video stream");
    expect("unsupported.avi", CR_ERR_UNSUPPORTED, "unsupported video codec");
    expect("absurd.y4m", CR_ERR_LIMIT, "17000x16");
    expect("noframes.y4m", CR_ERR_FORMAT, "duration");
    expect("truncated_nomoov.mp4", CR_ERR_FORMAT, "not a recognised video");
    expect("truncated_fast.mp4", CR_ERR_FORMAT, "truncated");

    /* a plain text file */
    const char *txt = "this is not a video\n";
    write_file("text.mp4", txt, strlen(txt));
    expect("text.mp4", CR_ERR_FORMAT, "not a recognised video");

    /* bad options */
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/cfr25.mp4", dir);
        cr_err err = {0};
        cr_reader *r = NULL;
        CHECK(cr_reader_open_file(p, &r, &err) == CR_OK);
        video_sampler_opts o;
        video_sampler_opts_default(&o);
        video_sampler *s = (video_sampler *)1;
        o.sample_fps = 0;
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_ERR_INVALID && s == NULL);
        video_sampler_opts_default(&o);
        o.start_sec = 3;
        o.end_sec = 2;
        cr_err_clear(&err);
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_ERR_INVALID && s == NULL);
        video_sampler_opts_default(&o);
        o.max_width = 0;
        cr_err_clear(&err);
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_ERR_INVALID && s == NULL);
        for (int bad = -1; bad <= VIDEO_READ_AHEAD_MAX + 1; bad += VIDEO_READ_AHEAD_MAX + 2) {
            video_sampler_opts_default(&o);
            o.read_ahead = bad;
            cr_err_clear(&err);
            CHECK(video_sampler_open(r, &o, &s, &err) == CR_ERR_INVALID && s == NULL);
            CHECK(strstr(cr_err_msg(&err), "read_ahead") != NULL);
        }
        /* a range past the end is empty, not an error */
        video_sampler_opts_default(&o);
        o.start_sec = 100;
        o.end_sec = 130;
        o.read_ahead = read_ahead;
        cr_err_clear(&err);
        CHECK(video_sampler_open(r, &o, &s, &err) == CR_OK);
        video_frame f;
        int done = 0;
        CHECK(s && video_sampler_next(s, &f, &done, &err) == CR_OK && done == 1);
        video_sampler_close(s);
        cr_reader_close(r);
    }

    check_reader_errors();
    check_damage();
}
