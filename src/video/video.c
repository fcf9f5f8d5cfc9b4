/*
 * video.c -- probe, chunk plan and the grid sampler on FFmpeg (contract: video.h).
 *
 * Layout:
 *   1. FFmpeg log routing (once per process)
 *   2. AVIO over cr_reader
 *   3. media: open a container through AVIO, pick the video stream, fill video_info
 *   4. the chunk plan and the grid
 *   5. the sampler: packet lookahead + non-reference skipping, decode, grid placement,
 *      conversion (swscale to the rotated/scaled RGB24 output)
 *   6. read-ahead: the sampler's frames made by a thread of its own, ahead of the caller
 *   7. PNG writing
 *
 * Memory: our own structures use cr_malloc; FFmpeg objects (AVFormatContext, the AVIO
 * buffer, packets, frames) are allocated by FFmpeg's own functions, which it requires
 * (the AVIO buffer must come from av_malloc because FFmpeg may reallocate it).
 */
#include "video/video.h"
#include "video/video_box.h"
#include "video/video_pool.h"

#include "core/log.h"
#include "core/mem.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* AVIO buffer: one reader call per refill.  128 KiB keeps the number of S3 range
 * requests low (a 1080p H.264 frame is 10-200 KiB) without reading far past what a
 * chunk needs.  Chosen, not measured against alternatives. */
#define VIDEO_AVIO_BUF (128 * 1024)

/* Packets read ahead of the decoder to learn the next presentation time of a
 * non-reference frame.  H.264 reorders at most 16 frames (max_num_reorder_frames,
 * ITU-T H.264 E.2.1), so 32 packets always hold the next one in presentation order. */
#define VIDEO_LOOKAHEAD 32
/* Presentation times of recently consumed packets, for the same question (a P frame
 * is consumed before the B frames shown before it). */
#define VIDEO_RECENT 32

/* Bytes read from the end of the input to find the duration when neither the
 * container nor the stream states it: 4 MiB holds a few seconds of 1080p H.264. */
#define VIDEO_TAIL_SCAN (4 * 1024 * 1024)

/* A stream that ends more than this short of its probed duration is truncated. 1 s
 * is longer than any frame gap of the test media and of phone videos. */
#define VIDEO_TRUNC_SLACK 1.0

/* A frame shown within 1 us after a grid time counts as shown at it: the time of a
 * tick (e.g. 512 / 12800 s) and k / fps are the same rational number rounded twice.
 * 1 us is below one tick of any common time base (90 kHz: 11 us). */
#define VIDEO_TIME_EPS 1e-6

/* ------------------------------------------------------------------------ */
/* 1. FFmpeg's log lines go to cr_log at debug level.                        */

static void video_av_log(void *avcl, int level, const char *fmt, va_list vl)
{
    static int print_prefix = 1; /* FFmpeg's line-continuation state; races are harmless */
    char line[512];
    if (level > AV_LOG_VERBOSE)
        return;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n > 0)
        cr_log_debug("video.ffmpeg", "%s", line);
}

static pthread_once_t video_once = PTHREAD_ONCE_INIT;

static void video_init_once(void)
{
    av_log_set_callback(video_av_log);
}

static void video_init(void)
{
    pthread_once(&video_once, video_init_once);
}

static const char *video_averr(int e, char *buf, size_t cap)
{
    av_strerror(e, buf, cap);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* 2. AVIO over cr_reader                                                   */

typedef struct vio {
    cr_reader *r;
    uint64_t pos;
    cr_err err; /* the reader's error, if a callback failed */
} vio;

static int vio_read(void *opaque, uint8_t *buf, int n)
{
    vio *v = opaque;
    if (n <= 0)
        return 0;
    size_t got = 0;
    cr_status st = cr_reader_read_at(v->r, v->pos, buf, (size_t)n, &got, &v->err);
    if (st != CR_OK)
        return AVERROR(EIO);
    if (got == 0)
        return AVERROR_EOF;
    v->pos += got;
    return (int)got;
}

static int64_t vio_seek(void *opaque, int64_t off, int whence)
{
    vio *v = opaque;
    uint64_t size = cr_reader_size(v->r);
    whence &= ~AVSEEK_FORCE;
    int64_t base;
    switch (whence) {
    case AVSEEK_SIZE:
        return (int64_t)size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)v->pos;
        break;
    case SEEK_END:
        base = (int64_t)size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return AVERROR(EINVAL);
    v->pos = (uint64_t)(base + off);
    return (int64_t)v->pos;
}

/* ------------------------------------------------------------------------ */
/* 3. media                                                                 */

typedef struct media {
    vio io;
    AVIOContext *pb;
    AVFormatContext *fmt;
    int si; /* video stream index */
    AVStream *st;
    const AVCodec *dec;
    int64_t start_pts; /* stream time of t = 0, in st->time_base */
    double tb;         /* st->time_base as seconds */
    double stream_end; /* where the video stream says it ends (its own duration, else the
                          container's), seconds: the truncation check compares with it */
    video_info info;
} media;

static void media_close(media *m)
{
    if (m->fmt)
        avformat_close_input(&m->fmt);
    if (m->pb) {
        av_freep(&m->pb->buffer);
        avio_context_free(&m->pb);
    }
}

/* Maps an FFmpeg error of `what` to a status, preferring the reader's own error. */
static cr_status media_fail(media *m, int averr, const char *what, cr_err *err)
{
    char eb[128];
    if (m->io.err.code != CR_OK)
        return cr_err_set(err, m->io.err.code, "%s: %s", cr_reader_name(m->io.r),
                          cr_err_msg(&m->io.err));
    if (averr == AVERROR(ENOMEM))
        return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory (%s)", cr_reader_name(m->io.r),
                          what);
    return cr_err_set(err, CR_ERR_FORMAT, "%s: %s: %s", cr_reader_name(m->io.r), what,
                      video_averr(averr, eb, sizeof eb));
}

static int media_is_still(const AVFormatContext *fmt)
{
    const char *n = fmt->iformat->name;
    return strstr(n, "_pipe") != NULL || strcmp(n, "image2") == 0 || strcmp(n, "image2pipe") == 0;
}

/* Clockwise degrees (0, 90, 180, 270) from the stream's display matrix. */
static int media_rotation(const AVStream *st)
{
    size_t sz = 0;
    const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sz);
    if (sd == NULL || sz < 9 * sizeof(int32_t))
        return 0;
    double ccw = av_display_rotation_get((const int32_t *)sd);
    if (isnan(ccw))
        return 0;
    long cw = lround(-ccw / 90.0) * 90; /* rounded to the nearest quarter turn */
    cw %= 360;
    if (cw < 0)
        cw += 360;
    return (int)cw;
}

/* Reads the last packets to find where the stream ends (seconds from t = 0).
 * Returns 0 when nothing could be learned. */
static double media_scan_tail(media *m)
{
    uint64_t size = cr_reader_size(m->io.r);
    int64_t from = size > VIDEO_TAIL_SCAN ? (int64_t)(size - VIDEO_TAIL_SCAN) : 0;
    /* demuxers that cannot seek by byte (Matroska) resynchronise after a raw seek */
    if (avformat_seek_file(m->fmt, -1, INT64_MIN, from, INT64_MAX, AVSEEK_FLAG_BYTE) < 0) {
        if (avio_seek(m->fmt->pb, from, SEEK_SET) < 0)
            return 0;
        avformat_flush(m->fmt);
    }
    AVPacket *pkt = av_packet_alloc();
    if (pkt == NULL)
        return 0;
    double end = 0;
    while (av_read_frame(m->fmt, pkt) >= 0) {
        if (pkt->stream_index == m->si) {
            int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            if (ts != AV_NOPTS_VALUE) {
                double e =
                    (double)(ts - m->start_pts + (pkt->duration > 0 ? pkt->duration : 0)) * m->tb;
                if (e > end)
                    end = e;
            }
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_seek_file(m->fmt, m->si, INT64_MIN, m->start_pts, m->start_pts, 0);
    return end;
}

/* Where the video stream's packets really end (seconds from t = 0), read cheaply:
 * a seek to `claimed` lands on the last keyframe at or before it (MP4 and Matroska
 * from their indexes, others by the demuxer's own search), then the packets to the
 * end are read, at most VIDEO_TAIL_SCAN bytes.  Returns 0 when unknown (no seek, a
 * longer tail, a reader error: m->io.err tells that one).  Leaves the demuxer at
 * the end: for video_probe only. */
static double media_content_end(media *m, double claimed)
{
    double ticks = floor(claimed / m->tb);
    int64_t ts = ticks < 9e18 ? m->start_pts + (int64_t)ticks : INT64_MAX;
    if (av_seek_frame(m->fmt, m->si, ts, AVSEEK_FLAG_BACKWARD) < 0)
        return 0;
    AVPacket *pkt = av_packet_alloc();
    if (pkt == NULL)
        return 0;
    uint64_t from = cr_reader_bytes_read(m->io.r);
    double end = 0;
    int rc;
    while ((rc = av_read_frame(m->fmt, pkt)) >= 0) {
        if (pkt->stream_index == m->si) {
            int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            if (t != AV_NOPTS_VALUE) {
                double e =
                    (double)(t - m->start_pts + (pkt->duration > 0 ? pkt->duration : 0)) * m->tb;
                if (e > end)
                    end = e;
            }
        }
        av_packet_unref(pkt);
        if (cr_reader_bytes_read(m->io.r) - from > VIDEO_TAIL_SCAN) {
            end = 0; /* not cheap: the sampler's own check stands guard */
            break;
        }
    }
    av_packet_free(&pkt);
    return m->io.err.code != CR_OK ? 0 : end;
}

static cr_status media_open(cr_reader *r, media *m, cr_err *err)
{
    char eb[128];
    memset(m, 0, sizeof *m);
    m->io.r = r;
    m->si = -1;
    video_init();
    const char *name = cr_reader_name(r);

    if (cr_reader_size(r) == 0)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: empty input (0 bytes), not a video", name);

    uint8_t *buf = av_malloc(VIDEO_AVIO_BUF);
    if (buf == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
    m->pb = avio_alloc_context(buf, VIDEO_AVIO_BUF, 0, &m->io, vio_read, NULL, vio_seek);
    if (m->pb == NULL) {
        av_free(buf);
        return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
    }
    m->fmt = avformat_alloc_context();
    if (m->fmt == NULL) {
        cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    m->fmt->pb = m->pb;
    m->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    /* No URL: the format is found from the bytes only, and no demuxer opens files
     * by name behind the reader's back (image2 would). */
    int rc = avformat_open_input(&m->fmt, "", NULL, NULL);
    if (rc < 0) {
        /* avformat_open_input frees the context on failure */
        if (m->io.err.code != CR_OK)
            cr_err_set(err, m->io.err.code, "%s: %s", name, cr_err_msg(&m->io.err));
        else if (rc == AVERROR(ENOMEM))
            cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
        else
            cr_err_set(err, CR_ERR_FORMAT, "%s: not a recognised video or image (%s)", name,
                       video_averr(rc, eb, sizeof eb));
        goto fail;
    }

    /* Decoders probing the streams must not allocate absurd pictures. */
    AVDictionary **opts = av_calloc(m->fmt->nb_streams ? m->fmt->nb_streams : 1, sizeof *opts);
    if (opts == NULL) {
        cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (unsigned i = 0; i < m->fmt->nb_streams; i++)
        av_dict_set_int(&opts[i], "max_pixels", VIDEO_MAX_PIXELS, 0);
    unsigned nopts = m->fmt->nb_streams;
    rc = avformat_find_stream_info(m->fmt, opts);
    for (unsigned i = 0; i < nopts; i++)
        av_dict_free(&opts[i]);
    av_free(opts);
    if (rc < 0) {
        media_fail(m, rc, "cannot read stream information", err);
        goto fail;
    }

    rc = av_find_best_stream(m->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (rc < 0) {
        /* an attached picture (cover art) alone is not a video either */
        cr_err_set(err, CR_ERR_FORMAT, "%s: no video stream (%u streams, e.g. audio only)", name,
                   m->fmt->nb_streams);
        goto fail;
    }
    m->si = rc;
    m->st = m->fmt->streams[m->si];
    AVCodecParameters *par = m->st->codecpar;
    m->tb = av_q2d(m->st->time_base);
    if (!(m->tb > 0)) {
        cr_err_set(err, CR_ERR_FORMAT, "%s: video stream has no time base", name);
        goto fail;
    }
    for (unsigned i = 0; i < m->fmt->nb_streams; i++)
        if ((int)i != m->si)
            m->fmt->streams[i]->discard = AVDISCARD_ALL;

    video_info *in = &m->info;
    const char *cname = avcodec_get_name(par->codec_id);
    snprintf(in->codec, sizeof in->codec, "%s", cname);
    m->dec = avcodec_find_decoder(par->codec_id);
    if (par->codec_id == AV_CODEC_ID_NONE || m->dec == NULL) {
        char tag[AV_FOURCC_MAX_STRING_SIZE];
        av_fourcc_make_string(tag, par->codec_tag);
        cr_err_set(err, CR_ERR_UNSUPPORTED, "%s: unsupported video codec '%s' (tag %s)", name,
                   cname, tag);
        goto fail;
    }
    if (par->width > VIDEO_MAX_DIM || par->height > VIDEO_MAX_DIM ||
        (long long)par->width * par->height > VIDEO_MAX_PIXELS) {
        cr_err_set(err, CR_ERR_LIMIT,
                   "%s: picture size %dx%d is beyond the limit (%d per side, %lld pixels)", name,
                   par->width, par->height, VIDEO_MAX_DIM, VIDEO_MAX_PIXELS);
        goto fail;
    }
    if (par->width <= 0 || par->height <= 0) {
        cr_err_set(err, CR_ERR_FORMAT, "%s: video stream has no picture size (corrupt?)", name);
        goto fail;
    }
    in->width = par->width;
    in->height = par->height;
    in->rotation = media_rotation(m->st);
    int swap = in->rotation == 90 || in->rotation == 270;
    in->display_width = swap ? in->height : in->width;
    in->display_height = swap ? in->width : in->height;
    in->still_image = media_is_still(m->fmt);

    m->start_pts = m->st->start_time != AV_NOPTS_VALUE ? m->st->start_time : 0;

    AVRational fr = m->st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0)
        fr = m->st->r_frame_rate;
    in->fps = (fr.num > 0 && fr.den > 0) ? av_q2d(fr) : 0;
    /* VFR: the average rate differs from FFmpeg's base rate (the smallest rate that
     * represents every timestamp seen while probing) by more than 1 %. */
    AVRational rr = m->st->r_frame_rate;
    if (in->fps > 0 && rr.num > 0 && rr.den > 0)
        in->variable_frame_rate = fabs(av_q2d(rr) - in->fps) > 0.01 * in->fps;

    if (in->still_image) {
        in->duration_seconds = 0;
        in->fps = 0;
        in->variable_frame_rate = 0;
        return CR_OK;
    }

    double dur = 0;
    if (m->fmt->duration != AV_NOPTS_VALUE && m->fmt->duration > 0 &&
        m->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE)
        dur = (double)m->fmt->duration / AV_TIME_BASE;
    else if (m->st->duration != AV_NOPTS_VALUE && m->st->duration > 0)
        dur = (double)m->st->duration * m->tb;
    else
        dur = in->content_seconds = media_scan_tail(m);
    if (!(dur > 0) || !isfinite(dur)) {
        cr_err_set(err, CR_ERR_FORMAT, "%s: video has zero or unknown duration", name);
        goto fail;
    }
    in->duration_seconds = dur;
    /* a container can be longer than its video (audio goes on): only the video
     * stream's own length tells a truncated file */
    m->stream_end = (m->st->duration != AV_NOPTS_VALUE && m->st->duration > 0)
                        ? (double)m->st->duration * m->tb
                        : dur;
    return CR_OK;

fail:
    media_close(m);
    memset(&m->info, 0, sizeof m->info);
    return err && err->code != CR_OK ? err->code : CR_ERR_FORMAT;
}

cr_status video_probe(cr_reader *r, video_info *out, cr_err *err)
{
    media m;
    cr_status st = media_open(r, &m, err);
    if (st != CR_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    if (!m.info.still_image && m.info.content_seconds == 0) {
        m.info.content_seconds = media_content_end(&m, m.info.duration_seconds);
        if (m.io.err.code != CR_OK) { /* the reader failed: not the video's fault */
            st = cr_err_set(err, m.io.err.code, "%s: %s", cr_reader_name(r), cr_err_msg(&m.io.err));
            media_close(&m);
            memset(out, 0, sizeof *out);
            return st;
        }
    }
    *out = m.info;
    media_close(&m);
    return CR_OK;
}

void video_info_to_json(const video_info *in, char *buf, size_t cap)
{
    /* codec names are FFmpeg identifiers: [a-z0-9_] only, no escaping needed */
    snprintf(buf, cap,
             "{\"duration_seconds\":%.6f,\"fps\":%.6f,\"variable_frame_rate\":%s,\"width\":%d,"
             "\"height\":%d,\"rotation\":%d,\"codec\":\"%s\"}",
             in->duration_seconds, in->fps, in->variable_frame_rate ? "true" : "false", in->width,
             in->height, in->rotation, in->codec);
}

/* ------------------------------------------------------------------------ */
/* 4. chunk plan and grid                                                   */

cr_status video_chunk_plan(double duration, int chunk_seconds, video_chunk **out, size_t *n,
                           cr_err *err)
{
    *out = NULL;
    *n = 0;
    if (!(duration > 0) || !isfinite(duration))
        return cr_err_set(err, CR_ERR_INVALID, "chunk plan: duration must be > 0, got %g",
                          duration);
    if (chunk_seconds < 1)
        return cr_err_set(err, CR_ERR_INVALID, "chunk plan: chunk seconds must be >= 1, got %d",
                          chunk_seconds);
    double c = ceil(duration / chunk_seconds);
    /* 10 million chunks (10 years of video at 30 s): beyond any real input */
    if (c > 10e6)
        return cr_err_set(err, CR_ERR_LIMIT, "chunk plan: %g chunks is too many", c);
    size_t cnt = (size_t)c;
    /* ceil of a quotient that is an integer up to rounding: drop an empty last chunk */
    while (cnt > 1 && (double)(cnt - 1) * chunk_seconds >= duration)
        cnt--;
    video_chunk *ch = cr_calloc(cnt, sizeof *ch);
    if (ch == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "chunk plan: out of memory");
    for (size_t i = 0; i < cnt; i++) {
        ch[i].index = (int)i;
        ch[i].start_sec = (double)i * chunk_seconds;
        double e = (double)(i + 1) * chunk_seconds;
        ch[i].end_sec = e < duration ? e : duration;
    }
    *out = ch;
    *n = cnt;
    return CR_OK;
}

int64_t video_grid_first_k(double t, double fps)
{
    if (!(t > 0) || !(fps > 0))
        return 0;
    double x = ceil(t * fps);
    if (x > 9e15)
        return INT64_MAX / 2;
    int64_t k = (int64_t)x;
    while (k > 0 && (double)(k - 1) / fps >= t)
        k--;
    while ((double)k / fps < t)
        k++;
    return k;
}

/* ------------------------------------------------------------------------ */
/* 5. the sampler                                                           */

struct video_sampler {
    media m;
    video_sampler_opts o;
    AVCodecContext *dec;
    int h264_nal_len; /* 0 = Annex B, else the NAL length field size of avcC */
    int is_h264;

    /* packet lookahead ring */
    AVPacket *q[VIDEO_LOOKAHEAD];
    int q_head, q_len;
    int demux_eof;
    double recent[VIDEO_RECENT]; /* seconds; NAN = empty */
    int recent_pos;
    double max_pts_seen; /* end of the latest packet seen, seconds */

    /* decoding state */
    int dec_flushed; /* NULL packet sent */
    int dec_eof;     /* decoder drained */
    AVFrame *held;   /* the last frame with pts <= the next grid time */
    double held_pts;
    int have_held;
    AVFrame *pend; /* a decoded frame past the next grid time */
    double pend_pts;
    int have_pend;
    double last_frame_pts;
    int64_t held_serial, conv_serial, serial;

    int64_t k_next, k_end;
    int finished;
    int fresh; /* a frame shown at or after start_sec was decoded */

    /* conversion */
    struct SwsContext *sws;  /* source -> RGB24 (one step), or source -> mid (scaling) */
    struct SwsContext *sws2; /* mid -> RGB24, unscaled (two-step path) */
    uint8_t *mid;            /* sc_w x sc_h planar YUV of the two-step path */
    uint8_t *mid_data[4];
    int mid_linesize[4];
    int mid_fmt;       /* AVPixelFormat of mid, AV_PIX_FMT_NONE while not allocated */
    uint16_t *box_row; /* column sums of the box path (box_shrink), box_row_n entries */
    size_t box_row_n;
    int out_w, out_h; /* after rotation */
    int sc_w, sc_h;   /* scaled size in stored orientation */
    uint8_t *scaled;  /* sc_w x sc_h RGB24 */
    int scaled_stride;
    uint8_t *rotated; /* out_w x out_h RGB24 when rotation != 0 */
    int rotated_stride;
    /* the source picture (opts.source) of a format other than 4:2:0, as RGB24 */
    struct SwsContext *sws_src;
    uint8_t *src_rgb;
    int src_rgb_w, src_rgb_h, src_rgb_stride;
    int64_t src_serial; /* held_serial of the frame in src_rgb */

    video_sampler_stats stats;
    struct sampler_ahead *ahead; /* opts.read_ahead: section 6; NULL: none */
};

/* Section 6, read-ahead */
static void ahead_start(video_sampler *s);
static void ahead_stop(video_sampler *s);
static void ahead_stats(struct sampler_ahead *a, video_sampler_stats *out);

void video_sampler_opts_default(video_sampler_opts *o)
{
    o->start_sec = 0;
    o->end_sec = INFINITY;
    o->sample_fps = 10.0; /* SAMPLE_FPS default, DESIGN.md §2 */
    o->max_width = 640;   /* MAX_WIDTH default, DESIGN.md §2 */
    o->threads = 1;
    o->skip_gop_tails = 1;
    o->skip_deblock = VIDEO_SKIP_DEBLOCK_NONE;
    o->source = 0;
    o->rgb = 1;
    o->keyframe_start = o->keyframe_end = 0;
    o->keyframe_reach = 0;
    o->frame_pool = NULL;
    o->read_ahead = 0;
}

const video_info *video_sampler_info(const video_sampler *s)
{
    return &s->m.info;
}

void video_sampler_get_stats(const video_sampler *s, video_sampler_stats *out)
{
    if (s->ahead != NULL)
        ahead_stats(s->ahead, out);
    else
        *out = s->stats;
}

static double pkt_time(const video_sampler *s, const AVPacket *p)
{
    int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
    if (ts == AV_NOPTS_VALUE)
        return NAN;
    return (double)(ts - s->m.start_pts) * s->m.tb;
}

static double grid_t(const video_sampler *s, int64_t k)
{
    return (double)k / s->o.sample_fps;
}

/* Reads one packet of our stream into the lookahead ring.  0 ok, 1 EOF, <0 error. */
static int q_fill_one(video_sampler *s)
{
    if (s->demux_eof || s->q_len == VIDEO_LOOKAHEAD)
        return s->demux_eof ? 1 : 0;
    AVPacket *p = s->q[(s->q_head + s->q_len) % VIDEO_LOOKAHEAD];
    for (;;) {
        int rc = av_read_frame(s->m.fmt, p);
        if (rc < 0 && s->m.io.err.code != CR_OK)
            return rc; /* the reader failed: not the end of the data */
        if (rc == AVERROR_EOF || (rc < 0 && avio_feof(s->m.fmt->pb))) {
            s->demux_eof = 1;
            return 1;
        }
        if (rc < 0)
            return rc;
        if (p->stream_index != s->m.si) {
            av_packet_unref(p);
            continue;
        }
        double t = pkt_time(s, p);
        if (!isnan(t)) {
            double e = t + (p->duration > 0 ? (double)p->duration * s->m.tb : 0);
            if (e > s->max_pts_seen)
                s->max_pts_seen = e;
        }
        s->q_len++;
        return 0;
    }
}

/* What the slices of an H.264 access unit say (ITU-T H.264 7.4.1): *vcl = 1 when it
 * holds a slice, *ref = 1 when a slice may be referenced (nal_ref_idc != 0 or IDR),
 * *idr = 1 when a slice is an IDR slice (nal_unit_type 5).  A malformed unit reads as a
 * referenced, non-IDR one: the safe answer for both questions asked of it. */
static void h264_units(const video_sampler *s, const uint8_t *d, int size, int *vcl, int *ref,
                       int *idr)
{
    *vcl = *ref = *idr = 0;
    int pos = 0;
    while (pos < size) {
        int start, end;
        if (s->h264_nal_len > 0) {
            if (size - pos < s->h264_nal_len)
                goto malformed;
            uint32_t len = 0;
            for (int i = 0; i < s->h264_nal_len; i++)
                len = (len << 8) | d[pos + i];
            pos += s->h264_nal_len;
            if (len == 0 || len > (uint32_t)(size - pos))
                goto malformed;
            start = pos;
            end = pos + (int)len;
            pos = end;
        } else {
            /* Annex B: find the next start code 00 00 01 */
            while (pos + 2 < size && !(d[pos] == 0 && d[pos + 1] == 0 && d[pos + 2] == 1))
                pos++;
            if (pos + 2 >= size)
                break;
            pos += 3;
            start = pos;
            while (pos + 2 < size && !(d[pos] == 0 && d[pos + 1] == 0 && d[pos + 2] == 1))
                pos++;
            end = pos + 2 >= size ? size : pos;
        }
        if (start >= end)
            continue;
        int type = d[start] & 0x1f, ref_idc = (d[start] >> 5) & 3;
        if (type >= 1 && type <= 5) {
            *vcl = 1;
            if (ref_idc != 0 || type == 5)
                *ref = 1;
            if (type == 5)
                *idr = 1;
        }
    }
    return;
malformed:
    *vcl = *ref = 1;
    *idr = 0;
}

/* 1 when the H.264 access unit holds only non-reference slices, so no other picture
 * can depend on it. */
static int h264_is_nonref(const video_sampler *s, const uint8_t *d, int size)
{
    int vcl, ref, idr;
    h264_units(s, d, size, &vcl, &ref, &idr);
    return vcl && !ref;
}

/* 1 when the H.264 access unit is an IDR picture: no picture after it in decoding
 * order refers to one before it, and none after it is shown before it (H.264 8.2.1). */
static int h264_is_idr(const video_sampler *s, const uint8_t *d, int size)
{
    int vcl, ref, idr;
    h264_units(s, d, size, &vcl, &ref, &idr);
    return idr;
}

/* The smallest presentation time > t among packets seen (recent and queued), or
 * INFINITY at the end of the stream, or NAN when not known yet. */
static double next_pts_after(const video_sampler *s, double t)
{
    double best = INFINITY;
    for (int i = 0; i < VIDEO_RECENT; i++)
        if (!isnan(s->recent[i]) && s->recent[i] > t && s->recent[i] < best)
            best = s->recent[i];
    for (int i = 1; i < s->q_len; i++) {
        double u = pkt_time(s, s->q[(s->q_head + i) % VIDEO_LOOKAHEAD]);
        if (!isnan(u) && u > t && u < best)
            best = u;
    }
    if (isinf(best) && !s->demux_eof)
        return NAN;
    return best;
}

/* 1 when a grid point of the range still to produce falls in [t0, t1) (seconds, the
 * VIDEO_TIME_EPS rule: a frame shown within EPS after a grid time counts as shown at it). */
static int grid_point_in(const video_sampler *s, double t0, double t1)
{
    int64_t k = video_grid_first_k(t0 - VIDEO_TIME_EPS, s->o.sample_fps);
    if (k < s->k_next)
        k = s->k_next;
    return k < s->k_end && grid_t(s, k) + VIDEO_TIME_EPS < t1;
}

/* The GOP-tail rule (skip_gop_tails): the packets from the head of the queue up to an
 * IDR packet in the lookahead can all be left undecoded when no grid point of the range
 * falls between the earliest presentation time among them and the IDR's.  Frames decoded
 * before the head are not affected (nothing decoded earlier refers to a later packet),
 * and nothing from the IDR on refers to them or is shown before the IDR.  The lookahead
 * must already be full (head_skippable fills it). */
static int head_in_gop_tail(const video_sampler *s)
{
    if (!s->is_h264 || !s->o.skip_gop_tails)
        return 0;
    double first = INFINITY;
    for (int i = 0; i < s->q_len; i++) {
        const AVPacket *p = s->q[(s->q_head + i) % VIDEO_LOOKAHEAD];
        double t = pkt_time(s, p);
        if (isnan(t) || (p->flags & AV_PKT_FLAG_DISCARD))
            return 0;
        if (p->flags & AV_PKT_FLAG_KEY) {
            if (i == 0 || !h264_is_idr(s, p->data, p->size))
                return 0;
            return !grid_point_in(s, first, t);
        }
        if (t < first)
            first = t;
    }
    return 0; /* no IDR in sight */
}

/* Decides whether the packet at the head of the queue can be left undecoded. */
static int head_skippable(video_sampler *s)
{
    AVPacket *p = s->q[s->q_head];
    if (p->flags & (AV_PKT_FLAG_KEY | AV_PKT_FLAG_DISCARD))
        return 0;
    double t = pkt_time(s, p);
    if (isnan(t))
        return 0;
    int nonref = (p->flags & AV_PKT_FLAG_DISPOSABLE) != 0;
    if (!nonref && s->is_h264)
        nonref = h264_is_nonref(s, p->data, p->size);
    if (!nonref && !(s->is_h264 && s->o.skip_gop_tails))
        return 0;
    /* make sure the next packets in presentation order are known */
    while (!s->demux_eof && s->q_len < VIDEO_LOOKAHEAD)
        if (q_fill_one(s) < 0)
            return 0;
    if (!nonref) {
        if (!head_in_gop_tail(s))
            return 0;
        s->stats.packets_skipped_gop_tail++;
        return 1;
    }
    double nx = next_pts_after(s, t);
    if (isnan(nx))
        return 0;
    /* the frame is needed iff a grid point in range falls in [t, nx) */
    return !grid_point_in(s, t, nx);
}

/* skip_deblock: 1 when the head packet's frame is shown at no grid point of the range,
 * so it is decoded only for the frames that refer to it. */
static int head_unshown(video_sampler *s)
{
    AVPacket *p = s->q[s->q_head];
    double t = pkt_time(s, p);
    if (isnan(t))
        return 0;
    double nx = next_pts_after(s, t);
    return !isnan(nx) && !grid_point_in(s, t, nx);
}

/* Consumes the head packet; returns it (still owned by the ring) */
static AVPacket *q_pop(video_sampler *s)
{
    AVPacket *p = s->q[s->q_head];
    s->recent[s->recent_pos] = pkt_time(s, p);
    s->recent_pos = (s->recent_pos + 1) % VIDEO_RECENT;
    s->q_head = (s->q_head + 1) % VIDEO_LOOKAHEAD;
    s->q_len--;
    return p;
}

static void q_clear(video_sampler *s)
{
    while (s->q_len > 0)
        av_packet_unref(q_pop(s));
    for (int i = 0; i < VIDEO_RECENT; i++)
        s->recent[i] = NAN;
    s->demux_eof = 0;
}

/* Sends the next needed packet (or the flush packet at EOF) to the decoder. */
static cr_status feed_decoder(video_sampler *s, cr_err *err)
{
    for (;;) {
        if (s->q_len == 0) {
            int rc = q_fill_one(s);
            /* A damaged MP4 whose sample table claims a packet of gigabytes makes the
             * demuxer fail to allocate it: ENOMEM for an 8 kB file (`ffmpeg -i` says
             * "Cannot allocate memory" too).  A packet read is too small an allocation
             * to fail otherwise, so that is a damaged file, not a machine out of memory. */
            if (rc == AVERROR(ENOMEM) && s->m.io.err.code == CR_OK)
                return cr_err_set(err, CR_ERR_FORMAT,
                                  "%s: read error: a packet too large to hold (damaged file?)",
                                  cr_reader_name(s->m.io.r));
            if (rc < 0)
                return media_fail(&s->m, rc, "read error", err);
            if (rc == 1) {
                if (!s->dec_flushed) {
                    avcodec_send_packet(s->dec, NULL);
                    s->dec_flushed = 1;
                }
                return CR_OK;
            }
        }
        if (head_skippable(s)) {
            av_packet_unref(q_pop(s));
            s->stats.packets_skipped++;
            continue;
        }
        if (s->is_h264 && s->o.skip_deblock) {
            /* read by the decoder per slice, and copied to its frame threads when the
             * packet is submitted: it applies to this packet only */
            int skip = s->o.skip_deblock == VIDEO_SKIP_DEBLOCK_ALL || head_unshown(s);
            s->dec->skip_loop_filter = skip ? AVDISCARD_ALL : AVDISCARD_DEFAULT;
            s->stats.packets_undeblocked += skip;
        }
        AVPacket *p = q_pop(s);
        int rc = avcodec_send_packet(s->dec, p);
        av_packet_unref(p);
        s->stats.packets_decoded++;
        if (rc == AVERROR(ENOMEM))
            return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory decoding",
                              cr_reader_name(s->m.io.r));
        /* a corrupt packet is concealed or dropped by the decoder; carry on */
        if (rc < 0 && rc != AVERROR(EAGAIN))
            cr_log_debug("video.decode", "packet rejected by decoder: %d", rc);
        return CR_OK;
    }
}

/* Gets the next decoded frame into s->pend.  Sets s->dec_eof at the end. */
static cr_status next_decoded(video_sampler *s, cr_err *err)
{
    for (;;) {
        int rc = avcodec_receive_frame(s->dec, s->pend);
        if (rc == 0) {
            s->stats.frames_decoded++;
            int64_t ts = s->pend->best_effort_timestamp;
            double t;
            if (ts != AV_NOPTS_VALUE)
                t = (double)(ts - s->m.start_pts) * s->m.tb;
            else if (s->serial > 0)
                t = s->last_frame_pts + (s->m.info.fps > 0 ? 1.0 / s->m.info.fps : 0.04);
            else
                t = 0;
            if (s->serial > 0 && t <= s->last_frame_pts) {
                /* out-of-order or duplicate time (broken stream): keep order */
                av_frame_unref(s->pend);
                continue;
            }
            s->last_frame_pts = t;
            if (t + VIDEO_TIME_EPS >= s->o.start_sec)
                s->fresh = 1;
            s->pend_pts = t;
            s->have_pend = 1;
            s->serial++;
            return CR_OK;
        }
        if (rc == AVERROR_EOF) {
            s->dec_eof = 1;
            return CR_OK;
        }
        if (rc != AVERROR(EAGAIN)) {
            if (rc == AVERROR(ENOMEM))
                return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory decoding",
                                  cr_reader_name(s->m.io.r));
            continue; /* a broken picture: the decoder drops it */
        }
        if (s->dec_flushed) {
            s->dec_eof = 1;
            return CR_OK;
        }
        cr_status st = feed_decoder(s, err);
        if (st != CR_OK)
            return st;
    }
}

static cr_status conv_setup(video_sampler *s, cr_err *err)
{
    const video_info *in = &s->m.info;
    int dw = in->display_width, dh = in->display_height;
    int ow = dw < s->o.max_width ? dw : s->o.max_width;
    long oh = lround((double)dh * ow / dw);
    if (oh < 1)
        oh = 1;
    s->out_w = ow;
    s->out_h = (int)oh;
    int swap = in->rotation == 90 || in->rotation == 270;
    s->sc_w = swap ? s->out_h : s->out_w;
    s->sc_h = swap ? s->out_w : s->out_h;
    /* rows padded to 64 bytes; swscale's SIMD writers may touch a few bytes past
     * the row, hence the extra row of slack */
    s->scaled_stride = (s->sc_w * 3 + 63) & ~63;
    s->scaled = cr_malloc((size_t)s->scaled_stride * (s->sc_h + 1));
    if (s->scaled == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
    if (in->rotation != 0) {
        s->rotated_stride = (s->out_w * 3 + 63) & ~63;
        s->rotated = cr_malloc((size_t)s->rotated_stride * s->out_h);
        if (s->rotated == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
    }
    return CR_OK;
}

/* Converts s->held into the output buffer (once per decoded frame). */
static cr_status convert_held(video_sampler *s, cr_err *err)
{
    if (s->conv_serial == s->held_serial)
        return CR_OK;
    AVFrame *f = s->held;
    if (f->width <= 0 || f->height <= 0 || f->width > VIDEO_MAX_DIM || f->height > VIDEO_MAX_DIM)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: decoded picture has a bad size %dx%d",
                          cr_reader_name(s->m.io.r), f->width, f->height);
    const char *fmt_name = av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?";
    uint8_t *dst[4] = {s->scaled, NULL, NULL, NULL};
    int dst_stride[4] = {s->scaled_stride, 0, 0, 0};
    /* SWS_AREA averages the source pixels under each output pixel, so a 3x
     * reduction (1080p -> 640) does not alias.  For 4:2:0 sources, scaling in
     * 4:2:0 then converting at the output size with swscale's SIMD YUV->RGB path
     * costs 0.5 ms per 1080p frame instead of 1.6 ms for one scaling RGB24 step
     * (measured here, FFmpeg 5.1, x86-64; see bench/video/run.sh). */
    int two_step = (f->width != s->sc_w || f->height != s->sc_h) &&
                   (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P);
    if (two_step) {
        if (s->mid_fmt != f->format) {
            cr_free(s->mid);
            s->mid_fmt = AV_PIX_FMT_NONE;
            int sz = av_image_get_buffer_size(f->format, s->sc_w, s->sc_h, 64);
            s->mid = sz > 0 ? cr_malloc((size_t)sz + 64) : NULL;
            if (s->mid == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
            av_image_fill_arrays(s->mid_data, s->mid_linesize, s->mid, f->format, s->sc_w, s->sc_h,
                                 64);
            s->mid_fmt = f->format;
        }
        /* An integer factor (1080p -> 640: 3) is a box average, done here: swscale's
         * area filter is a general one (gathers per sample) and took ~8 % of a whole
         * analysis's CPU time, the box ~1 %. */
        int k = video_box_factor(f->width, f->height, s->sc_w, s->sc_h);
        if (k > 0 && s->box_row_n < (size_t)f->width) {
            cr_free(s->box_row);
            s->box_row_n = 0;
            if ((s->box_row = cr_malloc((size_t)f->width * sizeof *s->box_row)) == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
            s->box_row_n = (size_t)f->width;
        }
        if (k == 0)
            s->sws = sws_getCachedContext(s->sws, f->width, f->height, f->format, s->sc_w, s->sc_h,
                                          f->format, SWS_AREA, NULL, NULL, NULL);
        s->sws2 = sws_getCachedContext(s->sws2, s->sc_w, s->sc_h, f->format, s->sc_w, s->sc_h,
                                       AV_PIX_FMT_RGB24, SWS_POINT, NULL, NULL, NULL);
        if ((k == 0 && s->sws == NULL) || s->sws2 == NULL)
            return cr_err_set(err, CR_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s",
                              cr_reader_name(s->m.io.r), fmt_name);
        if (k > 0)
            for (int p = 0; p < 3; p++)
                video_box_shrink(f->data[p], f->linesize[p], s->mid_data[p], s->mid_linesize[p],
                                 p ? s->sc_w / 2 : s->sc_w, p ? s->sc_h / 2 : s->sc_h, s->box_row,
                                 k);
        else
            sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                      s->mid_data, s->mid_linesize);
        sws_scale(s->sws2, (const uint8_t *const *)s->mid_data, s->mid_linesize, 0, s->sc_h, dst,
                  dst_stride);
    } else {
        s->sws = sws_getCachedContext(s->sws, f->width, f->height, f->format, s->sc_w, s->sc_h,
                                      AV_PIX_FMT_RGB24, SWS_AREA, NULL, NULL, NULL);
        if (s->sws == NULL)
            return cr_err_set(err, CR_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s",
                              cr_reader_name(s->m.io.r), fmt_name);
        sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                  dst_stride);
    }
    int rot = s->m.info.rotation;
    if (rot != 0) {
        /* out(x, y) = scaled(sx, sy); stored size sc_w x sc_h, output out_w x out_h */
        for (int y = 0; y < s->out_h; y++) {
            uint8_t *o = s->rotated + (size_t)y * s->rotated_stride;
            for (int x = 0; x < s->out_w; x++) {
                int sx, sy;
                if (rot == 90) { /* clockwise: output column x is stored row (H-1-x) */
                    sx = y;
                    sy = s->sc_h - 1 - x;
                } else if (rot == 180) {
                    sx = s->sc_w - 1 - x;
                    sy = s->sc_h - 1 - y;
                } else { /* 270 */
                    sx = s->sc_w - 1 - y;
                    sy = x;
                }
                const uint8_t *p = s->scaled + (size_t)sy * s->scaled_stride + 3 * sx;
                o[3 * x] = p[0];
                o[3 * x + 1] = p[1];
                o[3 * x + 2] = p[2];
            }
        }
    }
    s->conv_serial = s->held_serial;
    s->stats.frames_output++;
    return CR_OK;
}

/* The held frame as a full-resolution source picture: its own planes for 4:2:0,
 * else converted (unscaled) to RGB24 once per decoded frame. */
static cr_status source_held(video_sampler *s, video_picture *out, cr_err *err)
{
    AVFrame *f = s->held;
    memset(out, 0, sizeof *out);
    out->width = f->width;
    out->height = f->height;
    out->rotation = s->m.info.rotation;
    if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) {
        out->format = VIDEO_PIX_YUV420P;
        out->full_range = f->format == AV_PIX_FMT_YUVJ420P;
        for (int i = 0; i < 3; i++) {
            out->data[i] = f->data[i];
            out->stride[i] = f->linesize[i];
        }
        return CR_OK;
    }
    if (f->width <= 0 || f->height <= 0 || f->width > VIDEO_MAX_DIM || f->height > VIDEO_MAX_DIM)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: decoded picture has a bad size %dx%d",
                          cr_reader_name(s->m.io.r), f->width, f->height);
    if (s->src_rgb == NULL || s->src_rgb_w != f->width || s->src_rgb_h != f->height) {
        cr_free(s->src_rgb);
        s->src_rgb_stride = (f->width * 3 + 63) & ~63;
        /* one extra row: swscale's SIMD writers may touch a few bytes past a row */
        s->src_rgb = cr_malloc((size_t)s->src_rgb_stride * (f->height + 1));
        if (s->src_rgb == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
        s->src_rgb_w = f->width;
        s->src_rgb_h = f->height;
        s->src_serial = -1;
    }
    s->sws_src = sws_getCachedContext(s->sws_src, f->width, f->height, f->format, f->width,
                                      f->height, AV_PIX_FMT_RGB24, SWS_POINT, NULL, NULL, NULL);
    if (s->sws_src == NULL)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s",
                          cr_reader_name(s->m.io.r),
                          av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
    if (s->src_serial != s->held_serial) {
        uint8_t *dst[4] = {s->src_rgb, NULL, NULL, NULL};
        int dst_stride[4] = {s->src_rgb_stride, 0, 0, 0};
        sws_scale(s->sws_src, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                  dst_stride);
        s->src_serial = s->held_serial;
    }
    out->format = VIDEO_PIX_RGB24;
    out->data[0] = s->src_rgb;
    out->stride[0] = s->src_rgb_stride;
    return CR_OK;
}

static cr_status emit(video_sampler *s, video_frame *out, cr_err *err)
{
    cr_status st = s->o.rgb ? convert_held(s, err) : CR_OK;
    if (st == CR_OK && s->o.source)
        st = source_held(s, &out->src, err);
    else
        memset(&out->src, 0, sizeof out->src);
    if (st != CR_OK) {
        s->finished = 1;
        return st;
    }
    if (s->o.rgb) {
        out->rgb = s->m.info.rotation ? s->rotated : s->scaled;
        out->stride = s->m.info.rotation ? s->rotated_stride : s->scaled_stride;
    } else {
        out->rgb = NULL;
        out->stride = 0;
    }
    out->width = s->out_w;
    out->height = s->out_h;
    out->k = s->k_next;
    out->t = grid_t(s, s->k_next);
    out->pts_sec = s->m.info.still_image ? 0 : s->held_pts;
    s->k_next++;
    return CR_OK;
}

/* Moves the pending frame into the held slot. */
static void hold_pending(video_sampler *s)
{
    AVFrame *tmp = s->held;
    s->held = s->pend;
    s->pend = tmp;
    av_frame_unref(s->pend);
    s->held_pts = s->pend_pts;
    s->have_held = 1;
    s->have_pend = 0;
    s->held_serial = s->serial;
}

/* *out = the presentation time of the keyframe a seek to t lands on: the last one the
 * index lists at or before t (see video_sampler_opts' keyframe bounds), read off its
 * packet; t where the index does not tell or that keyframe is `reach` or more away.
 * Only MP4/MOV: their index holds every keyframe as soon as the file is open, so every
 * sampler of the file finds the same one (Matroska loads its cues at the first seek,
 * which a range at 0 never makes).  Neighbouring ranges must find the same bound, so a
 * read error or no memory is an error here, never a quiet "t".  Leaves the demuxer
 * anywhere: the caller seeks. */
static cr_status keyframe_bound(media *m, double t, double reach, double *out, cr_err *err)
{
    *out = t;
    double ticks = floor(t / m->tb);
    if (strstr(m->fmt->iformat->name, "mp4") == NULL || !(t > 0) || !(ticks < 9e18) ||
        avformat_index_get_entries_count(m->st) <= 0)
        return CR_OK;
    if (av_seek_frame(m->fmt, m->si, m->start_pts + (int64_t)ticks, AVSEEK_FLAG_BACKWARD) < 0)
        return m->io.err.code != CR_OK ? media_fail(m, AVERROR(EIO), "seek", err) : CR_OK;
    AVPacket *pkt = av_packet_alloc();
    if (pkt == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", cr_reader_name(m->io.r));
    for (int n = 0; n < VIDEO_LOOKAHEAD && av_read_frame(m->fmt, pkt) >= 0; n++) {
        int key = pkt->stream_index == m->si && (pkt->flags & AV_PKT_FLAG_KEY);
        if (key && pkt->pts != AV_NOPTS_VALUE) {
            double kt = (double)(pkt->pts - m->start_pts) * m->tb;
            *out = fabs(kt - t) < reach ? kt : t;
        }
        av_packet_unref(pkt);
        if (key)
            break;
    }
    av_packet_free(&pkt);
    if (m->io.err.code != CR_OK)
        return media_fail(m, AVERROR(EIO), "read error", err);
    return CR_OK;
}

/* Seeks so that decoding starts at a keyframe shown at or before `t` (seconds). */
static cr_status sampler_seek(video_sampler *s, double t, cr_err *err)
{
    double back = 0;
    for (int attempt = 0; attempt < 6; attempt++) {
        double target = t - back;
        int64_t ts = s->m.start_pts + (int64_t)floor(target / s->m.tb);
        int rc;
        if (target <= 0)
            rc =
                avformat_seek_file(s->m.fmt, s->m.si, INT64_MIN, s->m.start_pts, s->m.start_pts, 0);
        else
            rc = av_seek_frame(s->m.fmt, s->m.si, ts, AVSEEK_FLAG_BACKWARD);
        if (rc < 0 && target > 0) {
            back = back > 0 ? back * 2 : 1;
            continue;
        }
        if (rc < 0) {
            /* formats that cannot seek: read from the start, if we are there */
            if (avio_seek(s->m.fmt->pb, 0, SEEK_SET) < 0)
                return media_fail(&s->m, rc, "cannot seek", err);
        }
        q_clear(s);
        if (target <= 0)
            return CR_OK;
        /* check the first keyframe's presentation time (B-frames: a keyframe found
         * by decode time can be shown after t) */
        int r2;
        while ((r2 = q_fill_one(s)) == 0) {
            AVPacket *p = s->q[(s->q_head + s->q_len - 1) % VIDEO_LOOKAHEAD];
            if (p->flags & AV_PKT_FLAG_KEY)
                break;
            if (s->q_len == VIDEO_LOOKAHEAD)
                break;
        }
        if (r2 < 0)
            return media_fail(&s->m, r2, "read error after seek", err);
        if (s->q_len > 0) {
            AVPacket *p = s->q[(s->q_head + s->q_len - 1) % VIDEO_LOOKAHEAD];
            double kt = pkt_time(s, p);
            if ((p->flags & AV_PKT_FLAG_KEY) && !isnan(kt) && kt > t && kt > 0) {
                back = back > 0 ? back * 2 : 1;
                continue;
            }
        }
        return CR_OK;
    }
    /* give up being clever: decode from the start */
    int rc = avformat_seek_file(s->m.fmt, s->m.si, INT64_MIN, s->m.start_pts, s->m.start_pts, 0);
    if (rc < 0)
        return media_fail(&s->m, rc, "cannot seek to the start", err);
    q_clear(s);
    return CR_OK;
}

cr_status video_sampler_open(cr_reader *r, const video_sampler_opts *opts, video_sampler **out,
                             cr_err *err)
{
    *out = NULL;
    video_sampler_opts o;
    if (opts)
        o = *opts;
    else
        video_sampler_opts_default(&o);
    if (!(o.sample_fps > 0 && o.sample_fps <= 240))
        return cr_err_set(err, CR_ERR_INVALID, "sample fps must be in (0, 240], got %g",
                          o.sample_fps);
    if (!(o.start_sec >= 0) || !isfinite(o.start_sec) || !(o.end_sec > o.start_sec))
        return cr_err_set(err, CR_ERR_INVALID, "bad time range [%g, %g)", o.start_sec, o.end_sec);
    if (o.max_width < 1)
        return cr_err_set(err, CR_ERR_INVALID, "max width must be >= 1, got %d", o.max_width);
    if (o.threads < 0)
        o.threads = 0;
    if (o.skip_deblock < VIDEO_SKIP_DEBLOCK_NONE || o.skip_deblock > VIDEO_SKIP_DEBLOCK_ALL)
        return cr_err_set(err, CR_ERR_INVALID, "skip_deblock must be 0..2, got %d", o.skip_deblock);
    if (o.read_ahead < 0 || o.read_ahead > VIDEO_READ_AHEAD_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "read_ahead must be 0..%d, got %d",
                          VIDEO_READ_AHEAD_MAX, o.read_ahead);

    video_sampler *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    s->o = o;
    s->mid_fmt = AV_PIX_FMT_NONE;
    for (int i = 0; i < VIDEO_RECENT; i++)
        s->recent[i] = NAN;
    cr_status st = media_open(r, &s->m, err);
    if (st != CR_OK) {
        cr_free(s);
        return st;
    }
    const char *name = cr_reader_name(r);
    for (int i = 0; i < VIDEO_LOOKAHEAD; i++)
        if ((s->q[i] = av_packet_alloc()) == NULL)
            goto nomem;
    s->held = av_frame_alloc();
    s->pend = av_frame_alloc();
    s->dec = avcodec_alloc_context3(s->m.dec);
    if (s->held == NULL || s->pend == NULL || s->dec == NULL)
        goto nomem;
    int rc = avcodec_parameters_to_context(s->dec, s->m.st->codecpar);
    if (rc < 0) {
        st = media_fail(&s->m, rc, "cannot set up the decoder", err);
        goto fail;
    }
    s->dec->pkt_timebase = s->m.st->time_base;
    s->dec->thread_count = o.threads;
    s->dec->max_pixels = VIDEO_MAX_PIXELS;
    if (o.frame_pool != NULL)
        video_frame_pool_attach(o.frame_pool, s->dec);
#if LIBAVCODEC_VERSION_MAJOR < 60
    /* Before FFmpeg 6 a custom get_buffer2 must say it is thread-safe (the pool's is: it
     * takes its lock), or each frame thread waits for the caller to be inside the decoder
     * to get a buffer: a 60 s chunk with three decoder threads alone on 2 cores, 1080p,
     * took 5.3 s without, 4.6-5.0 s with (bench/pipeline clips, low-bitrate; phone-like
     * 11.7-12.6 s against 11.2-11.8 s). */
    AV_NOWARN_DEPRECATED(s->dec->thread_safe_callbacks = 1;)
#endif
    rc = avcodec_open2(s->dec, s->m.dec, NULL);
    if (rc < 0) {
        if (rc == AVERROR(ENOMEM))
            goto nomem;
        st = cr_err_set(err, CR_ERR_UNSUPPORTED, "%s: cannot open the %s decoder", name,
                        s->m.info.codec);
        goto fail;
    }
    s->is_h264 = s->m.st->codecpar->codec_id == AV_CODEC_ID_H264;
    if (s->is_h264 && s->dec->extradata_size >= 7 && s->dec->extradata[0] == 1)
        s->h264_nal_len = (s->dec->extradata[4] & 3) + 1; /* avcC, ISO/IEC 14496-15 5.2.4.1 */
    st = conv_setup(s, err);
    if (st != CR_OK)
        goto fail;

    const video_info *in = &s->m.info;
    if (in->still_image) {
        s->k_next = 0;
        s->k_end = (o.start_sec <= 0 && o.end_sec > 0) ? 1 : 0;
    } else {
        int moved = 0;
        /* the same test of a shared boundary on both sides of it: 0 < t < duration */
        if (o.keyframe_start && o.keyframe_reach > 0 && o.start_sec > 0 &&
            o.start_sec < in->duration_seconds) {
            if ((st = keyframe_bound(&s->m, o.start_sec, o.keyframe_reach, &o.start_sec, err)) !=
                CR_OK)
                goto fail;
            moved = 1;
        }
        if (o.keyframe_end && o.keyframe_reach > 0 && o.end_sec < in->duration_seconds) {
            if ((st = keyframe_bound(&s->m, o.end_sec, o.keyframe_reach, &o.end_sec, err)) != CR_OK)
                goto fail;
            moved = 1;
        }
        s->o.start_sec = o.start_sec;
        s->o.end_sec = o.end_sec;
        double end = o.end_sec < in->duration_seconds ? o.end_sec : in->duration_seconds;
        s->k_next = video_grid_first_k(o.start_sec, o.sample_fps);
        s->k_end = video_grid_first_k(end, o.sample_fps);
        if (s->k_end < s->k_next)
            s->k_end = s->k_next;
        if (s->k_next < s->k_end && grid_t(s, s->k_next) > 0)
            st = sampler_seek(s, grid_t(s, s->k_next), err);
        else if (moved) /* a bound was looked up and no seek follows: back to the start */
            st = sampler_seek(s, 0, err);
        if (st != CR_OK)
            goto fail;
    }
    if (o.read_ahead > 0)
        ahead_start(s);
    *out = s;
    return CR_OK;

nomem:
    st = cr_err_set(err, CR_ERR_NOMEM, "%s: out of memory", name);
fail:
    video_sampler_close(s);
    return st;
}

/* video_sampler_next without read-ahead: the next grid point's frame, made now. */
static cr_status sampler_step(video_sampler *s, video_frame *out, int *done, cr_err *err)
{
    *done = 0;
    for (;;) {
        if (s->finished || s->k_next >= s->k_end) {
            s->finished = 1;
            *done = 1;
            return CR_OK;
        }
        if (s->have_pend) {
            /* the first frame is always held (grid points before it get it); a later
             * one replaces the held frame when it is shown at or before t */
            if (!s->have_held || s->pend_pts <= grid_t(s, s->k_next) + VIDEO_TIME_EPS) {
                hold_pending(s);
                continue;
            }
            return emit(s, out, err);
        }
        if (s->dec_eof) {
            if (!s->have_held) {
                s->finished = 1;
                return cr_err_set(err, CR_ERR_FORMAT, "%s: no decodable video frame",
                                  cr_reader_name(s->m.io.r));
            }
            double dur = s->m.stream_end;
            if (!s->m.info.still_image && s->max_pts_seen < dur - VIDEO_TRUNC_SLACK &&
                grid_t(s, s->k_next) > s->max_pts_seen + VIDEO_TRUNC_SLACK) {
                s->finished = 1;
                return cr_err_set(err, CR_ERR_FORMAT,
                                  "%s: truncated: the video stream ends at %.3f s of %.3f s",
                                  cr_reader_name(s->m.io.r), s->max_pts_seen, dur);
            }
            /* a range after the last frame: the container claims more than the
             * video holds, and every grid point would get the same old frame */
            if (!s->m.info.still_image && s->o.start_sec > 0 && !s->fresh &&
                grid_t(s, s->k_next) > s->max_pts_seen + VIDEO_TRUNC_SLACK) {
                s->finished = 1;
                return cr_err_set(err, CR_ERR_FORMAT,
                                  "%s: no video frame at or after %.3f s: the video stream "
                                  "ends at %.3f s although the container claims %.3f s",
                                  cr_reader_name(s->m.io.r), s->o.start_sec, s->max_pts_seen,
                                  s->m.info.duration_seconds);
            }
            /* the last frame holds for every remaining grid point before the end */
            return emit(s, out, err);
        }
        cr_status st = next_decoded(s, err);
        if (st != CR_OK) {
            s->finished = 1;
            return st;
        }
    }
}

void video_sampler_close(video_sampler *s)
{
    if (s == NULL)
        return;
    ahead_stop(s);
    for (int i = 0; i < VIDEO_LOOKAHEAD; i++)
        av_packet_free(&s->q[i]);
    av_frame_free(&s->held);
    av_frame_free(&s->pend);
    avcodec_free_context(&s->dec);
    sws_freeContext(s->sws);
    sws_freeContext(s->sws2);
    sws_freeContext(s->sws_src);
    cr_free(s->src_rgb);
    cr_free(s->mid);
    cr_free(s->box_row);
    cr_free(s->scaled);
    cr_free(s->rotated);
    media_close(&s->m);
    cr_free(s);
}

/* ------------------------------------------------------------------------ */
/* 6. read-ahead                                                            */
/*
 * With opts.read_ahead = n, a thread of the sampler's own makes the frames (sampler_step:
 * reading, decoding, scaling, converting) up to n grid points ahead of the caller, while
 * the caller works on the frame it was given last.  Each frame made is detached from the
 * sampler into a slot of a ring of n + 1 (n made ahead, one in the caller's hands):
 *   - its source picture by a reference on the decoder's frame: a decoder never writes a
 *     frame it has output, and the reference keeps the buffer from being reused;
 *   - its RGB24 pictures by swapping buffers with the sampler, which converts the next
 *     frame into the slot's old buffer.  Its conversion cache is dropped with the buffer,
 *     so a frame shown at two grid points (a video slower than the sample rate) is
 *     converted twice.
 * A slot goes back to the thread when the caller asks for the next frame, so the frame
 * it was given stays valid until then, as without read-ahead.  The frames, their order,
 * errors and the end are those sampler_step gives: the thread stops at the first error
 * or the end, and the caller meets it after the frames made before it.  The thread owns
 * the sampler's decoding state (and its reader) until it stops; the counters the caller
 * sees are those of the last frame it was given.
 */
typedef struct ahead_slot {
    video_frame f;
    AVFrame *ref;     /* the source picture's frame (a reference), or unreferenced */
    uint8_t *rgb;     /* owned: the output RGB24 buffer, swapped with the sampler's */
    uint8_t *src_rgb; /* owned: a source picture converted to RGB24, swapped likewise */
    int src_rgb_w, src_rgb_h, src_rgb_stride;
    video_sampler_stats stats; /* the sampler's counters once f was made */
    cr_status st;
    cr_err e;
    int done;
} ahead_slot;

typedef struct sampler_ahead {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* a slot made, a slot given back, or stop */
    int n;                     /* slots in use: read_ahead + 1 */
    int head, count;           /* the slots made and not yet taken: count of them from head */
    int taken;                 /* the slot in the caller's hands, or -1 */
    int stop;                  /* the caller closes the sampler */
    int over;                  /* the caller was given the last slot (the end or an error) */
    video_sampler_stats stats; /* of the slot taken last */
    ahead_slot slot[VIDEO_READ_AHEAD_MAX + 1];
} sampler_ahead;

/* Bytes of the sampler's output RGB24 buffer (conv_setup sizes it once). */
static size_t out_buf_bytes(const video_sampler *s)
{
    return s->m.info.rotation ? (size_t)s->rotated_stride * s->out_h
                              : (size_t)s->scaled_stride * (s->sc_h + 1);
}

/* Detaches the frame sampler_step just made into `sl` (see the top of the section). */
static cr_status ahead_detach(video_sampler *s, ahead_slot *sl, cr_err *err)
{
    video_frame *f = &sl->f;
    if (f->rgb != NULL) {
        uint8_t **buf = s->m.info.rotation ? &s->rotated : &s->scaled;
        if (sl->rgb == NULL && (sl->rgb = cr_malloc(out_buf_bytes(s))) == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
        uint8_t *mine = *buf; /* f->rgb */
        *buf = sl->rgb;
        sl->rgb = mine;
        f->rgb = mine;
        s->conv_serial = -1;
    }
    if (f->src.data[0] == NULL)
        return CR_OK;
    if (f->src.format == VIDEO_PIX_YUV420P) { /* planes of s->held */
        if (av_frame_ref(sl->ref, s->held) < 0)
            return cr_err_set(err, CR_ERR_NOMEM, "out of memory for frames");
        for (int i = 0; i < 3; i++) /* the same unless the frame was not refcounted */
            f->src.data[i] = sl->ref->data[i];
        return CR_OK;
    }
    uint8_t *mine = s->src_rgb; /* f->src.data[0] */
    int w = s->src_rgb_w, h = s->src_rgb_h, stride = s->src_rgb_stride;
    s->src_rgb = sl->src_rgb; /* source_held reallocates it when its size is not the frame's */
    s->src_rgb_w = sl->src_rgb_w;
    s->src_rgb_h = sl->src_rgb_h;
    s->src_rgb_stride = sl->src_rgb_stride;
    s->src_serial = -1;
    sl->src_rgb = mine;
    sl->src_rgb_w = w;
    sl->src_rgb_h = h;
    sl->src_rgb_stride = stride;
    return CR_OK;
}

static void *ahead_main(void *arg)
{
    video_sampler *s = arg;
    sampler_ahead *a = s->ahead;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->count + (a->taken >= 0) >= a->n)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        /* neither waiting nor taken: the caller does not touch it until count says so */
        ahead_slot *sl = &a->slot[(a->head + a->count) % a->n];
        pthread_mutex_unlock(&a->mu);
        cr_err_clear(&sl->e);
        sl->done = 0;
        sl->st = sampler_step(s, &sl->f, &sl->done, &sl->e);
        if (sl->st == CR_OK && !sl->done)
            sl->st = ahead_detach(s, sl, &sl->e);
        sl->stats = s->stats;
        pthread_mutex_lock(&a->mu);
        a->count++;
        pthread_cond_broadcast(&a->cv);
        if (sl->st != CR_OK || sl->done)
            break;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void ahead_free(sampler_ahead *a)
{
    for (int i = 0; i < VIDEO_READ_AHEAD_MAX + 1; i++) {
        av_frame_free(&a->slot[i].ref);
        cr_free(a->slot[i].rgb);
        cr_free(a->slot[i].src_rgb);
    }
    cr_free(a);
}

/* Starts the thread of opts.read_ahead.  Without memory or a thread the sampler makes
 * its frames on the caller's thread, as without read-ahead (the same frames). */
static void ahead_start(video_sampler *s)
{
    sampler_ahead *a = cr_calloc(1, sizeof *a);
    if (a == NULL)
        return;
    a->n = s->o.read_ahead + 1; /* 1..VIDEO_READ_AHEAD_MAX: checked at the open */
    a->taken = -1;
    for (int i = 0; i < a->n; i++)
        if ((a->slot[i].ref = av_frame_alloc()) == NULL) {
            ahead_free(a);
            return;
        }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        ahead_free(a);
        return;
    }
    if (pthread_cond_init(&a->cv, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        ahead_free(a);
        return;
    }
    s->ahead = a;
    if (pthread_create(&a->th, NULL, ahead_main, s) != 0) {
        cr_log_warn("video.read_ahead", "%s: no thread to read ahead: frames made in turn",
                    cr_reader_name(s->m.io.r));
        s->ahead = NULL;
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        ahead_free(a);
    }
}

/* Stops and joins the thread (it finishes the frame in hand) and frees the slots. */
static void ahead_stop(video_sampler *s)
{
    sampler_ahead *a = s->ahead;
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    ahead_free(a);
    s->ahead = NULL;
}

static cr_status ahead_next(sampler_ahead *a, video_frame *out, int *done, cr_err *err)
{
    *done = 0;
    /* The caller is done with the frame it was given last.  Its slot stays the caller's
     * until `taken` says otherwise, so its picture goes back to the decoder's buffers
     * outside the lock. */
    if (a->taken >= 0)
        av_frame_unref(a->slot[a->taken].ref);
    pthread_mutex_lock(&a->mu);
    if (a->taken >= 0) {
        a->taken = -1;
        pthread_cond_broadcast(&a->cv);
    }
    if (a->over) {
        pthread_mutex_unlock(&a->mu);
        *done = 1;
        return CR_OK;
    }
    while (a->count == 0)
        pthread_cond_wait(&a->cv, &a->mu);
    ahead_slot *sl = &a->slot[a->head];
    a->taken = a->head;
    a->head = (a->head + 1) % a->n;
    a->count--;
    a->stats = sl->stats;
    a->over = sl->st != CR_OK || sl->done;
    pthread_mutex_unlock(&a->mu);
    if (sl->st != CR_OK)
        return cr_err_set(err, sl->st, "%s", cr_err_msg(&sl->e));
    if (sl->done) {
        *done = 1;
        return CR_OK;
    }
    *out = sl->f;
    return CR_OK;
}

static void ahead_stats(sampler_ahead *a, video_sampler_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->stats;
    pthread_mutex_unlock(&a->mu);
}

cr_status video_sampler_next(video_sampler *s, video_frame *out, int *done, cr_err *err)
{
    if (s->ahead != NULL)
        return ahead_next(s->ahead, out, done, err);
    return sampler_step(s, out, done, err);
}

/* ------------------------------------------------------------------------ */
/* 7. PNG                                                                   */

cr_status video_write_png(const char *path, const video_frame *f, cr_err *err)
{
    video_init();
    cr_status st = CR_OK;
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "no PNG encoder in this FFmpeg");
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    AVFrame *fr = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    FILE *fp = NULL;
    if (ctx == NULL || fr == NULL || pkt == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    ctx->width = f->width;
    ctx->height = f->height;
    ctx->pix_fmt = AV_PIX_FMT_RGB24;
    ctx->time_base = (AVRational){1, 1};
    if (avcodec_open2(ctx, c, NULL) < 0) {
        st = cr_err_set(err, CR_ERR_INTERNAL, "cannot open the PNG encoder");
        goto done;
    }
    fr->width = f->width;
    fr->height = f->height;
    fr->format = AV_PIX_FMT_RGB24;
    fr->data[0] = (uint8_t *)f->rgb;
    fr->linesize[0] = f->stride;
    if (avcodec_send_frame(ctx, fr) < 0 || avcodec_send_frame(ctx, NULL) < 0 ||
        avcodec_receive_packet(ctx, pkt) < 0) {
        st = cr_err_set(err, CR_ERR_INTERNAL, "PNG encoding failed for %s", path);
        goto done;
    }
    fp = fopen(path, "wb");
    if (fp == NULL) {
        st = cr_err_set(err, CR_ERR_IO, "open %s: %s", path, strerror(errno));
        goto done;
    }
    if (fwrite(pkt->data, 1, (size_t)pkt->size, fp) != (size_t)pkt->size) {
        st = cr_err_set(err, CR_ERR_IO, "write %s: %s", path, strerror(errno));
        goto done;
    }
done:
    if (fp && fclose(fp) != 0 && st == CR_OK)
        st = cr_err_set(err, CR_ERR_IO, "close %s: %s", path, strerror(errno));
    if (fr)
        fr->data[0] = NULL; /* not ours */
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    return st;
}
