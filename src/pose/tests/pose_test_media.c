/*
 * pose_test_media.c -- see pose_test_media.h.
 */
#include "pose_test_media.h"

#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int convert(AVFrame *f, int max_w, double pts, ptm_frame *out)
{
    int w = f->width, h = f->height;
    if (max_w > 0 && w > max_w) {
        h = (int)((double)h * max_w / w + 0.5);
        w = max_w;
    }
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, w, h, AV_PIX_FMT_RGB24,
                                            SWS_BICUBIC, NULL, NULL, NULL);
    if (sws == NULL)
        return -1;
    out->rgb = malloc((size_t)w * h * 3);
    uint8_t *dst[1] = {out->rgb};
    int ds[1] = {3 * w};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, ds);
    sws_freeContext(sws);
    out->w = w;
    out->h = h;
    out->pts = pts;
    return 0;
}

int ptm_load(const char *path, int max, int max_w, ptm_frame **out)
{
    *out = NULL;
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(fmt, NULL) < 0) {
        fprintf(stderr, "ptm_load: cannot open %s\n", path);
        avformat_close_input(&fmt);
        return 0;
    }
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0) {
        avformat_close_input(&fmt);
        return 0;
    }
    AVStream *st = fmt->streams[si];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, st->codecpar);
    dec->thread_count = 1;
    if (avcodec_open2(dec, codec, NULL) < 0) {
        avcodec_free_context(&dec);
        avformat_close_input(&fmt);
        return 0;
    }
    ptm_frame *frames = calloc((size_t)max, sizeof *frames);
    int n = 0;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int eof = 0;
    while (n < max) {
        if (!eof) {
            int rc = av_read_frame(fmt, pkt);
            if (rc < 0) {
                eof = 1;
                avcodec_send_packet(dec, NULL);
            } else {
                if (pkt->stream_index == si)
                    avcodec_send_packet(dec, pkt);
                av_packet_unref(pkt);
            }
        }
        int rc = 0;
        while (n < max && (rc = avcodec_receive_frame(dec, f)) == 0) {
            double pts = f->best_effort_timestamp == AV_NOPTS_VALUE
                             ? 0.0
                             : f->best_effort_timestamp * av_q2d(st->time_base);
            if (convert(f, max_w, pts, &frames[n]) == 0)
                n++;
            av_frame_unref(f);
        }
        if (eof && (n >= max || rc == AVERROR_EOF || rc != AVERROR(EAGAIN)))
            break;
    }
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    *out = frames;
    return n;
}

void ptm_free(ptm_frame *f, int n)
{
    if (f == NULL)
        return;
    for (int i = 0; i < n; i++)
        free(f[i].rgb);
    free(f);
}

ptm_frame ptm_rotate90(const ptm_frame *s)
{
    /* clockwise: source (x, y) -> destination (h - 1 - y, x) */
    ptm_frame d = {malloc((size_t)s->w * s->h * 3), s->h, s->w, s->pts};
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++)
            memcpy(d.rgb + ((size_t)x * d.w + (s->h - 1 - y)) * 3,
                   s->rgb + ((size_t)y * s->w + x) * 3, 3);
    return d;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ptm_list_pngs(const char *dir, char **names, int cap)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".png") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    return n;
}

ptm_frame *ptm_load_in(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ptm_frame *f = NULL;
    return ptm_load(path, 1, 0, &f) == 1 ? f : NULL;
}

pose_image ptm_image(const ptm_frame *f)
{
    pose_image img = {.format = POSE_PIX_RGB24, .width = f->w, .height = f->h, .full_range = 1};
    img.data[0] = f->rgb;
    img.stride[0] = 3 * f->w;
    return img;
}

double ptm_mean_over_diagonal(const pose_result *a, const pose_result *b, int w, int h)
{
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY, sum = 0;
    for (int k = 0; k < POSE_LM_BODY; k++) {
        double x = a->landmarks[k].x * w, y = a->landmarks[k].y * h;
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        sum += hypot(b->landmarks[k].x * w - x, b->landmarks[k].y * h - y);
    }
    double diag = hypot(x1 - x0, y1 - y0);
    return diag > 0 ? sum / POSE_LM_BODY / diag : INFINITY;
}
