/*
 * test_report.c BACKEND -- the coach's report of real runs: real videos made with
 * ffmpeg, real models, a real store and blob store (BACKEND "local" = SQLite file +
 * local folder, "services" = PostgreSQL scratch database + s3rver).
 *
 *   - a player standing still (a photo looped into a 3 s video) analysed in bowling
 *     mode: hip-shoulder separation (no rotation), stride and front knee at
 *     front-foot contact (no stride) and elbow extension (no delivery) are not
 *     measured, each with its reason; no finding and no part of the overall level
 *     comes from them; report.html lists them as "not measured" and shows no lag
 *     and no plot of them
 *   - the same photo turning back and forth (a 'cpu' job, batting): the rotation is
 *     seen and the separation timing measured
 *   - the pictures: report.html holds 1..8 JPEGs as data: URIs; each decodes (FFmpeg,
 *     through the video module) to the size its <img> states, shows the video (the
 *     grey field around the player) and the skeleton drawn on it (the left
 *     shoulder's point red, the right's blue, where the landmarks say)
 *   - the video deleted: aggregating again still writes a report, without pictures,
 *     with a note saying why and the poses drawn instead
 */
#include "check.h"
#include "core/config.h"
#include "analysis/analysis.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "store_test_util.h"
#include "pipeline_test_env.h"
#include "video/video.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#define DURATION 3 /* seconds of each test video */

/* Runs the job to the end: chunk worker, then analysis worker, in this thread. */
static void run_job(const cr_config *cfg, const char *job_id)
{
    pipeline_worker_opts o;
    pipeline_worker_stats ws;
    cr_err e = {0};
    pipeline_worker_opts_default(&o);
    o.worker_id = "test:report";
    o.idle_exit = 1;
    o.wait_job = job_id;
    o.poll_seconds = 0.05;
    CHECK_MSG(pipeline_chunk_worker_run(cfg, &o, &ws, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_MSG(pipeline_analysis_worker_run(cfg, &o, &ws, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_INT_EQ(ws.jobs_done, 1);
}

/* The object `key` of the blob store as a NUL-terminated string (cr_free); NULL and a
 * failed check when it cannot be read. */
static char *get_text(blob_store *blob, const char *key)
{
    void *data = NULL;
    size_t n = 0;
    cr_err e = {0};
    if (key == NULL || blob_get(blob, key, &data, &n, &e) != CR_OK) {
        CHECK_MSG(0, "%s: %s", key ? key : "(no key)", cr_err_msg(&e));
        return NULL;
    }
    char *s = cr_strndup(data, n);
    cr_free(data);
    return s;
}

/* The job's final_results.json (done, 100 %). */
static json_t *load_results(blob_store *blob, store *st, const char *job_id)
{
    store_job j;
    cr_err e = {0};
    CHECK(store_job_get(st, job_id, &j, &e) == CR_OK);
    CHECK_STR_EQ(j.status, STORE_JOB_DONE);
    char *text = get_text(blob, j.deep_results_s3_key);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    cr_free(text);
    CHECK(doc != NULL);
    return doc;
}

static const char *reason_of(const json_t *metrics, const char *name)
{
    const json_t *m = json_object_get(metrics, name);
    CHECK_MSG(json_is_false(json_object_get(m, "measured")), "%s is measured", name);
    const char *why = json_string_value(json_object_get(m, "reason"));
    CHECK_MSG(why != NULL, "%s has no reason", name);
    return why ? why : "";
}

static int b64(int c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* Decodes base64 s[0..n) (padding allowed) into *out (cr_free); its length, or -1. */
static long unbase64(const char *s, size_t n, uint8_t **out)
{
    *out = cr_malloc(n / 4 * 3 + 3);
    if (*out == NULL)
        return -1;
    long len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            (*out)[len++] = (uint8_t)(acc >> bits);
        }
    }
    return len;
}

/* The pixel (x, y) of an RGB24 frame. */
static void pixel(const video_frame *f, int x, int y, int rgb[3])
{
    x = x < 0 ? 0 : x >= f->width ? f->width - 1 : x;
    y = y < 0 ? 0 : y >= f->height ? f->height - 1 : y;
    const uint8_t *p = f->rgb + (size_t)y * (size_t)f->stride + 3 * (size_t)x;
    rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
}

/* One picture: JPEG bytes decoded through the video module (FFmpeg's image demuxer),
 * checked against the size its <img> states, the grey field of the video and the
 * shoulders' points at the landmarks of the pose it shows. */
static void check_picture(const char *dir, const uint8_t *jpeg, size_t n, int w, int h,
                          const json_t *pose)
{
    char path[300];
    snprintf(path, sizeof path, "%s/picture.jpg", dir);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL && fwrite(jpeg, 1, n, fp) == n);
    if (fp != NULL)
        fclose(fp);
    cr_reader *r = NULL;
    video_sampler *s = NULL;
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.max_width = VIDEO_MAX_DIM; /* as it is */
    cr_err e = {0};
    video_frame f;
    int done = 1;
    CHECK_MSG(cr_reader_open_file(path, &r, &e) == CR_OK &&
                  video_sampler_open(r, &o, &s, &e) == CR_OK &&
                  video_sampler_next(s, &f, &done, &e) == CR_OK && !done,
              "picture: %s", cr_err_msg(&e));
    if (!done) {
        CHECK_STR_EQ(video_sampler_info(s)->codec, "mjpeg");
        CHECK_INT_EQ(f.width, w);
        CHECK_INT_EQ(f.height, h);
        int c[3];
        pixel(&f, 3, 3, c); /* the grey field (lavfi "gray", 128) */
        CHECK_MSG(abs(c[0] - 128) < 16 && abs(c[1] - 128) < 16 && abs(c[2] - 128) < 16,
                  "corner %d,%d,%d is not the video's grey", c[0], c[1], c[2]);
        /* pose/overlay.c: left points red (1, .2, .1), right points blue (.1, .4, 1) */
        const json_t *lms = json_object_get(pose, "landmarks");
        int drawn = 0;
        for (int side = 0; side < 2; side++) {
            const json_t *lm = json_array_get(lms, side ? 12 : 11);
            if (json_number_value(json_object_get(lm, "visibility")) < 0.5)
                continue;
            double x = json_number_value(json_object_get(lm, "x")) * w;
            double y = json_number_value(json_object_get(lm, "y")) * h;
            pixel(&f, (int)lround(x), (int)lround(y), c);
            int mine = side ? c[2] : c[0], o1 = side ? c[0] : c[1], o2 = side ? c[1] : c[2];
            CHECK_MSG(mine > o1 + 60 && mine > o2 + 60,
                      "%s shoulder at %.0f,%.0f is %d,%d,%d: not the drawn colour",
                      side ? "right" : "left", x, y, c[0], c[1], c[2]);
            drawn++;
        }
        CHECK_MSG(drawn > 0, "no visible shoulder to look for");
    }
    video_sampler_close(s);
    cr_reader_close(r);
}

/* The pose of frame_num k in the results. */
static const json_t *pose_of(const json_t *doc, long long k)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "poses"), i, p)
    {
        if (json_integer_value(json_object_get(p, "frame_num")) == k)
            return p;
    }
    return NULL;
}

/* Every <img> of the report: a JPEG data: URI, decoded and checked; returns how many. */
static int check_pictures(const char *dir, const char *html, const json_t *doc)
{
    int n = 0;
    for (const char *p = html; (p = strstr(p, "<img ")) != NULL; p++) {
        int w = 0, h = 0;
        long long k = -1;
        CHECK(sscanf(p, "<img width=\"%d\" height=\"%d\" alt=\"frame %lld", &w, &h, &k) == 3);
        const char *uri = strstr(p, "src=\"data:image/jpeg;base64,");
        const char *end = uri ? strchr(uri + 5, '"') : NULL;
        CHECK(uri != NULL && end != NULL);
        if (uri == NULL || end == NULL)
            break;
        uri += strlen("src=\"data:image/jpeg;base64,");
        uint8_t *jpeg = NULL;
        long len = unbase64(uri, (size_t)(end - uri), &jpeg);
        CHECK_MSG(len > 1000 && jpeg[0] == 0xff && jpeg[1] == 0xd8, "picture %d: %ld bytes", n,
                  len);
        const json_t *pose = pose_of(doc, k);
        CHECK_MSG(pose != NULL && json_is_true(json_object_get(pose, "detected")),
                  "frame %lld has no pose", k);
        if (len > 0 && pose != NULL)
            check_picture(dir, jpeg, (size_t)len, w, h, pose);
        fprintf(stderr, "picture %d: frame %lld, %dx%d, %ld bytes\n", n, k, w, h, len);
        cr_free(jpeg);
        n++;
    }
    return n;
}

static void make_video(const char *path, const char *motion)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i color=c=gray:s=720x540:r=25:d=%d -loop 1 -i "
             "media/cold_water.jpg -filter_complex \"[1]scale=480:-2%s[p];[0][p]overlay="
             "x=(W-w)/2:y=(H-h)/2:shortest=1,format=yuv420p\" -t %d -c:v libx264 -preset "
             "veryfast -g 50 %s",
             DURATION, motion, DURATION, path);
    CHECK_MSG(system(cmd) == 0, "ffmpeg failed: %s", cmd);
}

int main(int argc, char **argv)
{
    (void)scratch_open; /* store_test_util.h helpers this test does not need */
    (void)E;
    const char *backend = argc > 1 ? argv[1] : "local";
    int services = strcmp(backend, "services") == 0;
    char dir[] = "/tmp/crease-report-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    scratch_db db;
    char still[300], turning[300], cmd[400];
    cr_config cfg;
    cr_err e = {0};
    if (ptest_config(services, dir, "report", &db, &cfg) != 0)
        return 1;
    snprintf(still, sizeof still, "%s/still.mp4", dir);
    snprintf(turning, sizeof turning, "%s/turning.mp4", dir);
    make_video(still, "");
    /* turning back and forth in the image plane, +-29 deg every 1.5 s: hips and
     * shoulders peak near 120 deg/s */
    make_video(turning, ",rotate=a='0.5*sin(2*PI*t/1.5)':fillcolor=gray:ow=hypot(iw\\,ih):oh=ow");

    store *st = NULL;
    blob_store *blob = NULL;
    CHECK_MSG(store_open(&cfg, NULL, &st, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_MSG(store_migrate_up(st, 0, NULL, &e) == CR_OK, "%s", cr_err_msg(&e));
    CHECK_MSG(blob_open(&cfg, NULL, &blob, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (st == NULL || blob == NULL)
        return check_exit();

    /* Standing still, bowling, chunked. */
    pipeline_submission sub;
    CHECK_MSG(pipeline_submit_file(
                  &cfg, blob, st,
                  &(pipeline_submit_opts){.path = still, .analysis_mode = "bowling", .chunked = 1},
                  &sub, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    run_job(&cfg, sub.job_id);
    json_t *doc = load_results(blob, st, sub.job_id);
    const json_t *m = json_object_get(doc, "metrics");
    const json_t *f = json_object_get(doc, "findings");
    CHECK(strstr(reason_of(m, "hip_shoulder_separation_timing"), "no rotation seen") != NULL);
    CHECK(json_is_null(
        json_object_get(json_object_get(m, "hip_shoulder_separation_timing"), "score")));
    CHECK(strstr(reason_of(m, "stride_length"), "no stride seen") != NULL ||
          strstr(reason_of(m, "stride_length"), "ankles") != NULL);
    reason_of(m, "front_knee_angle_at_ffc");
    CHECK(strstr(reason_of(m, "bowling_elbow_extension"), "no delivery seen") != NULL);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(f, "findings"), i, x)
    {
        const char *code = json_string_value(json_object_get(x, "code"));
        CHECK_MSG(code && strcmp(code, "ROTATION_TIMING") != 0 &&
                      strcmp(code, "ELBOW_EXTENSION_SCREEN") != 0 &&
                      strcmp(code, "FRONT_KNEE_FLEXED_AT_FFC") != 0,
                  "finding %s about a metric not measured", code);
    }
    int listed = 0;
    json_array_foreach(json_object_get(f, "metrics_not_measured"), i, x)
    {
        const char *name = json_string_value(json_object_get(x, "metric"));
        listed += name && strcmp(name, "hip_shoulder_separation_timing") == 0;
    }
    CHECK_INT_EQ(listed, 1);
    /* the summary in the database's deep_report says so too */
    const char *summary =
        json_string_value(json_object_get(json_object_get(doc, "report"), "summary"));
    CHECK(summary != NULL);
    char *html = get_text(blob, json_string_value(json_object_get(doc, "report_key")));
    if (html != NULL) {
        const char *row = strstr(html, "<tr><td>Hip-shoulder separation timing</td>");
        CHECK(row != NULL && strstr(row, "not measured") != NULL &&
              strstr(row, "not measured") < strstr(row, "</tr>"));
        CHECK(strstr(html, "s lag") == NULL);
        CHECK(strstr(html, "<h3>Hip-shoulder separation timing") == NULL);
        CHECK(strstr(html, "<tr><th>Not measured</th>") != NULL);
        int n = check_pictures(dir, html, doc);
        CHECK_MSG(n >= 1 && n <= ANALYSIS_REPORT_MAX_PICTURES, "%d pictures", n);
        CHECK(strstr(html, "could not be read") == NULL);
        fprintf(stderr, "report of the still video: %zu bytes, %d pictures\n", strlen(html), n);
    }
    cr_free(html);

    /* The video deleted: the report is still written, with a note and drawings. */
    store_job job;
    store_chunk rows[DURATION];
    const char *keys[DURATION] = {0};
    int nr = 0;
    CHECK(store_job_get(st, sub.job_id, &job, &e) == CR_OK);
    CHECK(store_chunks_of_job(st, sub.job_id, rows, DURATION, &nr, &e) == CR_OK);
    CHECK_INT_EQ(nr, DURATION);
    for (int k = 0; k < nr; k++)
        keys[k] = rows[k].artifact_s3_key;
    CHECK(blob_delete(blob, job.s3_key, &e) == CR_OK);
    pipeline_job_summary js;
    pipeline_job_result jr;
    cr_err_clear(&e);
    CHECK_MSG(pipeline_job_aggregate(&cfg, blob, &job, keys, NULL, NULL, NULL, &js, &jr, &e) ==
                  CR_OK,
              "without its video: %s", cr_err_msg(&e));
    pipeline_job_result_free(&jr);
    html = get_text(blob, json_string_value(json_object_get(doc, "report_key")));
    if (html != NULL) {
        CHECK(strstr(html, "</html>") != NULL);
        CHECK(strstr(html, "The video could not be read") != NULL);
        CHECK(strstr(html, "data:image/jpeg") == NULL);
        if (json_array_size(json_object_get(f, "findings")) > 0)
            CHECK(strstr(html, "class=\"skel\"") != NULL);
    }
    cr_free(html);
    json_decref(doc);

    /* Turning, batting, one 'cpu' job: the rotation is measured. */
    CHECK_MSG(pipeline_submit_file(&cfg, blob, st,
                                   &(pipeline_submit_opts){
                                       .path = turning, .analysis_mode = "batting", .chunked = 0},
                                   &sub, &e) == CR_OK,
              "%s", cr_err_msg(&e));
    run_job(&cfg, sub.job_id);
    doc = load_results(blob, st, sub.job_id);
    const json_t *sep =
        json_object_get(json_object_get(doc, "metrics"), "hip_shoulder_separation_timing");
    CHECK_MSG(json_is_true(json_object_get(sep, "measured")), "separation: %s",
              json_string_value(json_object_get(sep, "reason")));
    CHECK(json_is_true(json_object_get(sep, "rotation_detected")));
    CHECK(json_is_number(json_object_get(sep, "score")));
    html = get_text(blob, json_string_value(json_object_get(doc, "report_key")));
    if (html != NULL) {
        CHECK(strstr(html, "<h3>Hip-shoulder separation timing") != NULL);
        CHECK(strstr(html, " s lag") != NULL);
        int n = check_pictures(dir, html, doc);
        CHECK_MSG(n >= 1 && n <= ANALYSIS_REPORT_MAX_PICTURES, "%d pictures", n);
    }
    cr_free(html);
    json_decref(doc);

    blob_close(blob);
    store_close(st);
    if (services)
        scratch_drop(&db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
