/*
 * cli_pose.c -- `crease pose`: BlazePose on an image or a video, JSON in the chunk
 * format (pose_json.h) and an optional skeleton overlay (pose_overlay.h).
 *
 * Input frames come from the video module's sampler (video.h): a still image is one
 * frame; a video is sampled on the SAMPLE_FPS grid at width <= MAX_WIDTH.
 * Timestamps given to the tracker are the grid times plus 1 us (MediaPipe's One Euro
 * filter ignores a first timestamp of exactly 0; spacing is what matters).
 */
#include "cli/cli.h"

#include "core/mem.h"
#include "core/reader.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"
#include "pose/pose_json.h"
#include "pose/pose_overlay.h"
#include "pose/pose_tracker.h"
#include "video/video.h"
#include "video/video_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f, "usage: crease pose INPUT [--model lite|full|heavy]\n"
           "                   [--engine cpu|cpu-amx|xnnpack|ref|cuda]\n"
           "                   [--static] [--out FILE.json] [--overlay OUT.png|OUT.mp4]\n"
           "                   [--threads N] [--subject X,Y]\n"
           "\n"
           "Runs BlazePose (MediaPipe's models) on INPUT, an image (PNG, JPEG, ...) or a video\n"
           "sampled at SAMPLE_FPS frames per second and scaled to width <= MAX_WIDTH.\n"
           "\n"
           "  --model M      landmark model: lite, full (default), heavy\n"
           "  --engine E     inference engine: cpu (own kernels, one thread; the default with one\n"
           "                 thread on an AVX-512 CPU), cpu-amx (the same on Intel's AMX tiles,\n"
           "                 16-bit mantissas; the default with one thread where the CPU has\n"
           "                 AMX), xnnpack (the default otherwise, when built), ref (plain C,\n"
           "                 slow) or cuda (one NVIDIA GPU, when built)\n"
           "  --static       detect in every frame, no tracking or smoothing (images always)\n"
           "  --out FILE     write the poses as chunk-format JSON to FILE (default: stdout)\n"
           "  --overlay OUT  draw the skeleton: OUT.png for an image (for a video, one PNG per\n"
           "                 frame named OUT-00000.png, ...), OUT.mp4 for a video\n"
           "  --threads N    engine threads (default 1)\n"
           "  --subject X,Y  follow the person nearest this point of the picture (0..1 each,\n"
           "                 from the top left; default: the strongest detection)\n"
           "\n"
           "The models see the full-resolution picture; while nobody is tracked the detector\n"
           "also looks in zoomed windows of it, to find people far from the camera.\n"
           "\n"
           "Models are looked up in CREASE_MODELS_DIR, ./models, then the install's share dir.\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

typedef struct pose_cli_args {
    const char *input, *model, *engine, *out, *overlay;
    int is_static, threads;
    int subject;
    double subject_x, subject_y;
} pose_cli_args;

static int parse_args(int argc, char **argv, pose_cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->model = "full";
    a->threads = 1;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        const char *v;
        if (strcmp(argv[i], "--static") == 0) {
            a->is_static = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--model", CLI_OPT_INLINE, &bad)) != NULL) {
            a->model = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--engine", CLI_OPT_INLINE, &bad)) != NULL) {
            a->engine = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--out", CLI_OPT_INLINE, &bad)) != NULL) {
            a->out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--overlay", CLI_OPT_INLINE, &bad)) != NULL) {
            a->overlay = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", CLI_OPT_INLINE, &bad)) != NULL) {
            if (cli_parse_int(v, 1, 64, &a->threads) != 0) {
                fprintf(stderr, "crease pose: --threads must be 1..64, got '%s'\n", v);
                return 2;
            }
        } else if ((v = cli_opt_value(argc, argv, &i, "--subject", CLI_OPT_INLINE, &bad)) != NULL) {
            if (cli_parse_point(v, &a->subject_x, &a->subject_y) != 0) {
                fprintf(stderr, "crease pose: --subject must be X,Y with both in 0..1, got '%s'\n",
                        v);
                return 2;
            }
            a->subject = 1;
        } else if (bad) {
            fprintf(stderr, "crease pose: %s needs a value\n", argv[i]);
            return 2;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "crease pose: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (a->input == NULL) {
            a->input = argv[i];
        } else {
            fprintf(stderr, "crease pose: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (a->input == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(a->model, "lite") != 0 && strcmp(a->model, "full") != 0 &&
        strcmp(a->model, "heavy") != 0) {
        fprintf(stderr, "crease pose: --model must be lite, full or heavy, got '%s'\n", a->model);
        return 2;
    }
    if (a->engine != NULL) {
        int known = 0;
        for (const char *const *e = engine_available(); e != NULL && *e != NULL; e++)
            known |= strcmp(*e, a->engine) == 0;
        if (!known) {
            fprintf(stderr, "crease pose: engine '%s' is not built in (available:", a->engine);
            for (const char *const *e = engine_available(); e != NULL && *e != NULL; e++)
                fprintf(stderr, " %s", *e);
            fprintf(stderr, ")\n");
            return 2;
        }
    }
    if (a->overlay != NULL && !ends_with(a->overlay, ".png") && !ends_with(a->overlay, ".mp4")) {
        fprintf(stderr, "crease pose: --overlay must name a .png or .mp4 file\n");
        return 2;
    }
    return 0;
}

/* Draws the overlay of one frame and writes it where it goes. */
static cr_status overlay_frame(const pose_cli_args *a, const video_info *info, const video_frame *f,
                               const pose_result *r, double fps, video_writer **vw, uint8_t **buf,
                               cr_err *err)
{
    size_t size = (size_t)f->width * 3 * f->height;
    uint8_t *b = cr_realloc(*buf, size);
    if (b == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "overlay: out of memory");
    *buf = b;
    for (int y = 0; y < f->height; y++)
        memcpy(b + (size_t)y * f->width * 3, f->rgb + (size_t)y * f->stride, (size_t)f->width * 3);
    cr_status st = pose_overlay_draw(b, f->width, f->height, f->width * 3, r, err);
    if (st != CR_OK)
        return st;
    if (ends_with(a->overlay, ".mp4")) {
        if (*vw == NULL) {
            st = video_writer_open(a->overlay, f->width, f->height, fps, vw, err);
            if (st != CR_OK)
                return st;
        }
        return video_writer_add(*vw, b, f->width * 3, err);
    }
    if (info->still_image)
        return pose_overlay_write_png(a->overlay, b, f->width, f->height, f->width * 3, err);
    char path[4096];
    int stem = (int)strlen(a->overlay) - 4;
    snprintf(path, sizeof path, "%.*s-%05lld.png", stem, a->overlay, (long long)f->k);
    return pose_overlay_write_png(path, b, f->width, f->height, f->width * 3, err);
}

int cmd_pose(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    pose_cli_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;

    cr_err err = {0};
    cr_reader *reader = NULL;
    video_sampler *sampler = NULL;
    pose_tracker *tracker = NULL;
    video_writer *vw = NULL;
    uint8_t *overlay_buf = NULL;
    json_t *doc = NULL, *poses = NULL;
    int ok = 0;

    cr_status st = cr_reader_open_file(a.input, &reader, &err);
    if (st != CR_OK)
        goto done;
    video_sampler_opts so;
    video_sampler_opts_default(&so);
    so.sample_fps = cfg->sample_fps;
    so.max_width = cfg->max_width;
    so.skip_deblock = cfg->skip_deblock;
    so.source = 1; /* small regions are cropped from the full-resolution picture, */
    so.rgb = 1;    /* large ones from the scaled picture (pose_track_images) */
    st = video_sampler_open(reader, &so, &sampler, &err);
    if (st != CR_OK)
        goto done;
    const video_info *info = video_sampler_info(sampler);
    if (a.overlay != NULL && ends_with(a.overlay, ".mp4") && info->still_image) {
        st = cr_err_set(&err, CR_ERR_INVALID, "--overlay: an image input needs a .png overlay");
        goto done;
    }

    pose_tracker_opts to = {a.engine, a.model, a.threads,
                            a.is_static || info->still_image ? POSE_MODE_STATIC : POSE_MODE_VIDEO,
                            NULL};
    st = pose_tracker_create(cfg, &to, &tracker, &err);
    if (st == CR_OK)
        st = pose_tracker_enable_tiles(tracker, &err);
    if (st == CR_OK)
        st = pose_tracker_set_subject(tracker, a.subject, (float)a.subject_x, (float)a.subject_y,
                                      &err);
    if (st != CR_OK)
        goto done;

    poses = json_array();
    if (poses == NULL) {
        st = cr_err_set(&err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t index = 0;
    int width = 0, height = 0;
    for (;;) {
        video_frame f;
        int finished = 0;
        st = video_sampler_next(sampler, &f, &finished, &err);
        if (st != CR_OK)
            goto done;
        if (finished)
            break;
        width = f.width;
        height = f.height;
        pose_result r;
        int64_t ts_us = (int64_t)llround(f.t * 1e6) + 1;
        pose_image img, coarse;
        pipeline_frame_image(&f, &img);
        int has_coarse = pipeline_frame_coarse(&f, &coarse);
        st = pose_track_images(tracker, &img, has_coarse ? &coarse : NULL, ts_us, &r, &err);
        if (st != CR_OK)
            goto done;
        pose_frame_meta m = {f.k, f.t, index++};
        st = pose_json_append(poses, &r, &m, &err);
        if (st != CR_OK)
            goto done;
        if (a.overlay != NULL) {
            st = overlay_frame(&a, info, &f, &r, so.sample_fps, &vw, &overlay_buf, &err);
            if (st != CR_OK)
                goto done;
        }
    }
    st = video_writer_close(vw, &err);
    vw = NULL;
    if (st != CR_OK)
        goto done;

    pose_tracker_stats stats;
    pose_tracker_get_stats(tracker, &stats);
    doc = json_pack("{s:s,s:i,s:i,s:f,s:b,s:s,s:s,s:s,s:I,s:I,s:I,s:O}", "source", a.input, "width",
                    width, "height", height, "sample_fps", so.sample_fps, "still_image",
                    info->still_image, "model", pose_tracker_model(tracker), "engine",
                    pose_tracker_engine(tracker), "mode",
                    to.mode == POSE_MODE_STATIC ? "static" : "video", "frames",
                    (json_int_t)stats.frames, "frames_detected", (json_int_t)stats.frames_detected,
                    "detector_runs", (json_int_t)stats.detector_runs, "poses", poses);
    if (doc == NULL) {
        st = cr_err_set(&err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (a.out != NULL) {
        st = pose_json_write_file(doc, a.out, &err);
        if (st != CR_OK)
            goto done;
        fprintf(stderr,
                "crease pose: %lld frames, %lld with a pose, detector ran %lld times -> %s\n",
                (long long)stats.frames, (long long)stats.frames_detected,
                (long long)stats.detector_runs, a.out);
    } else if (json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(7)) != 0 ||
               fputc('\n', stdout) == EOF) {
        st = cr_err_set(&err, CR_ERR_IO, "write to stdout failed");
        goto done;
    }
    ok = 1;
done:
    if (!ok)
        fprintf(stderr, "crease pose: %s\n", cr_err_msg(&err));
    video_writer_close(vw, NULL);
    cr_free(overlay_buf);
    json_decref(doc);
    json_decref(poses);
    pose_tracker_destroy(tracker);
    video_sampler_close(sampler);
    cr_reader_close(reader);
    return ok ? 0 : 1;
}
