/*
 * cli_video.c -- `crease probe`, `crease chunks`, `crease frames` (video.h).
 */
#include "cli/cli.h"
#include "core/mem.h"
#include "core/reader.h"
#include "video/video.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The largest count these commands take (chunk seconds, width, threads). */
#define COUNT_MAX 1000000000

static int open_input(const char *cmd, const char *path, cr_reader **r)
{
    cr_err err = {0};
    if (cr_reader_open_file(path, r, &err) != CR_OK) {
        fprintf(stderr, "crease %s: %s\n", cmd, cr_err_msg(&err));
        return 1;
    }
    return 0;
}

int cmd_probe(const cr_config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease probe FILE\n\n"
               "Prints the video's duration, frame rate, size, rotation and codec as JSON:\n"
               "{\"duration_seconds\",\"fps\",\"variable_frame_rate\",\"width\",\"height\","
               "\"rotation\",\"codec\"}\n"
               "width and height are the stored size; rotation (clockwise degrees) is applied\n"
               "by `crease frames`.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: crease probe FILE\n");
        return 2;
    }
    cr_reader *r = NULL;
    if (open_input("probe", argv[1], &r))
        return 1;
    cr_err err = {0};
    video_info info;
    cr_status st = video_probe(r, &info, &err);
    cr_reader_close(r);
    if (st != CR_OK) {
        fprintf(stderr, "crease probe: %s\n", cr_err_msg(&err));
        return 1;
    }
    char buf[512];
    video_info_to_json(&info, buf, sizeof buf);
    printf("%s\n", buf);
    return 0;
}

int cmd_chunks(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: crease chunks FILE [--chunk-seconds N]\n\n"
               "Prints the chunk plan of the video as JSON: "
               "[{\"index\",\"start_sec\",\"end_sec\"}, ...]\n"
               "N = ceil(duration / CHUNK_SECONDS) chunks, the last one shorter.\n"
               "--chunk-seconds N  chunk length (default: CHUNK_SECONDS, now %d)\n",
               cfg->chunk_seconds);
        return 0;
    }
    const char *path = NULL;
    int chunk = cfg->chunk_seconds;
    for (int i = 1; i < argc; i++) {
        const char *v = cli_opt_value(argc, argv, &i, "--chunk-seconds", 0, NULL);
        if (v != NULL) {
            if (cli_parse_int(v, 1, COUNT_MAX, &chunk) != 0) {
                fprintf(stderr, "crease chunks: --chunk-seconds must be an integer >= 1\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: crease chunks FILE [--chunk-seconds N]\n");
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: crease chunks FILE [--chunk-seconds N]\n");
        return 2;
    }
    cr_reader *r = NULL;
    if (open_input("chunks", path, &r))
        return 1;
    cr_err err = {0};
    video_info info;
    cr_status st = video_probe(r, &info, &err);
    cr_reader_close(r);
    video_chunk *ch = NULL;
    size_t n = 0;
    if (st == CR_OK && info.still_image)
        st = cr_err_set(&err, CR_ERR_INVALID, "%s is a still image: it has no chunks", path);
    if (st == CR_OK)
        st = video_chunk_plan(info.duration_seconds, chunk, &ch, &n, &err);
    if (st != CR_OK) {
        fprintf(stderr, "crease chunks: %s\n", cr_err_msg(&err));
        return 1;
    }
    printf("[");
    for (size_t i = 0; i < n; i++)
        printf("%s{\"index\":%d,\"start_sec\":%.6f,\"end_sec\":%.6f}", i ? "," : "", ch[i].index,
               ch[i].start_sec, ch[i].end_sec);
    printf("]\n");
    cr_free(ch);
    return 0;
}

static void frames_usage(FILE *f, const cr_config *cfg)
{
    fprintf(f,
            "usage: crease frames FILE [--start S] [--end E] [--fps F] [--max-width W]\n"
            "                      [--threads N] [--exact] [--skip-deblock] [--dump DIR]\n\n"
            "Samples [S, E) on the global grid t_k = k / F and prints one JSON line per frame:\n"
            "{\"k\",\"t\",\"pts\",\"width\",\"height\"}.  A summary line goes to stderr:\n"
            "{\"frames\",\"bytes_read\",\"file_bytes\",\"packets_decoded\",\"packets_skipped\",\n"
            "\"packets_skipped_gop_tail\",\"packets_undeblocked\"}.\n"
            "  --start S      start time in seconds (default 0)\n"
            "  --end E        end time in seconds, exclusive (default: end of the video)\n"
            "  --fps F        sampling rate (default: SAMPLE_FPS, now %g)\n"
            "  --max-width W  frames are scaled to width <= W (default: MAX_WIDTH, now %d)\n"
            "  --threads N    decoder threads, 0 = automatic (default 1)\n"
            "  --exact        decode every frame up to the last one needed (no GOP-tail skipping)\n"
            "  --skip-deblock decode the frames no grid point shows without deblocking\n"
            "  --dump DIR     also write each frame as DIR/frame_<k>.png\n",
            cfg->sample_fps, cfg->max_width);
}

int cmd_frames(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        frames_usage(stdout, cfg);
        return 0;
    }
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.sample_fps = cfg->sample_fps;
    o.max_width = cfg->max_width;
    const char *path = NULL, *dump = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int bad = 0;
        if ((v = cli_opt_value(argc, argv, &i, "--start", 0, NULL)) != NULL)
            bad = cli_parse_double(v, 0, DBL_MAX, &o.start_sec) != 0;
        else if ((v = cli_opt_value(argc, argv, &i, "--end", 0, NULL)) != NULL)
            bad = cli_parse_double(v, -DBL_MAX, DBL_MAX, &o.end_sec) != 0;
        else if ((v = cli_opt_value(argc, argv, &i, "--fps", 0, NULL)) != NULL)
            bad = cli_parse_double(v, 0, 240, &o.sample_fps) != 0 || !(o.sample_fps > 0);
        else if ((v = cli_opt_value(argc, argv, &i, "--max-width", 0, NULL)) != NULL)
            bad = cli_parse_int(v, 1, COUNT_MAX, &o.max_width) != 0;
        else if ((v = cli_opt_value(argc, argv, &i, "--threads", 0, NULL)) != NULL)
            bad = cli_parse_int(v, 0, COUNT_MAX, &o.threads) != 0;
        else if (strcmp(a, "--exact") == 0)
            o.skip_gop_tails = 0;
        else if (strcmp(a, "--skip-deblock") == 0)
            o.skip_deblock = 1;
        else if ((v = cli_opt_value(argc, argv, &i, "--dump", 0, NULL)) != NULL)
            dump = v;
        else if (a[0] != '-' && path == NULL)
            path = a;
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "crease frames: bad argument '%s'\n", a);
            frames_usage(stderr, cfg);
            return 2;
        }
    }
    if (path == NULL || !(o.end_sec > o.start_sec)) {
        fprintf(stderr, "crease frames: %s\n",
                path ? "--end must be greater than --start" : "FILE is missing");
        frames_usage(stderr, cfg);
        return 2;
    }
    if (dump && mkdir(dump, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "crease frames: mkdir %s: %s\n", dump, strerror(errno));
        return 1;
    }
    cr_reader *r = NULL;
    if (open_input("frames", path, &r))
        return 1;
    cr_err err = {0};
    video_sampler *s = NULL;
    long long count = 0;
    cr_status st = video_sampler_open(r, &o, &s, &err);
    while (st == CR_OK) {
        video_frame f;
        int done = 0;
        st = video_sampler_next(s, &f, &done, &err);
        if (st != CR_OK || done)
            break;
        count++;
        printf("{\"k\":%lld,\"t\":%.6f,\"pts\":%.6f,\"width\":%d,\"height\":%d}\n", (long long)f.k,
               f.t, f.pts_sec, f.width, f.height);
        if (dump) {
            char fn[4096];
            snprintf(fn, sizeof fn, "%s/frame_%06lld.png", dump, (long long)f.k);
            st = video_write_png(fn, &f, &err);
        }
    }
    fflush(stdout);
    if (st == CR_OK) {
        video_sampler_stats ss;
        video_sampler_get_stats(s, &ss);
        fprintf(stderr,
                "{\"frames\":%lld,\"bytes_read\":%llu,\"file_bytes\":%llu,"
                "\"packets_decoded\":%lld,\"packets_skipped\":%lld,"
                "\"packets_skipped_gop_tail\":%lld,\"packets_undeblocked\":%lld}\n",
                count, (unsigned long long)cr_reader_bytes_read(r),
                (unsigned long long)cr_reader_size(r), (long long)ss.packets_decoded,
                (long long)ss.packets_skipped, (long long)ss.packets_skipped_gop_tail,
                (long long)ss.packets_undeblocked);
    } else {
        fprintf(stderr, "crease frames: %s\n", cr_err_msg(&err));
    }
    video_sampler_close(s);
    cr_reader_close(r);
    return st == CR_OK ? 0 : 1;
}
