/*
 * video_writer.c -- the MP4 writer of video_writer.h: RGB24 frames -> swscale to
 * yuv420p -> libx264 (CRF 20), else MPEG-4 part 2 (4 Mb/s) -> the mp4 muxer.
 *
 * Encoder settings: GOP 12 frames; no B-frames, so decode order is presentation
 * order and the MP4 needs no edit list; one encoder thread (the caller's workers
 * already use the cores).  Error messages name the "overlay video", the one use of
 * this writer that users see (`crease pose --overlay out.mp4`).
 */
#include "video/video_writer.h"

#include "core/mem.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

struct video_writer {
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    struct SwsContext *sws;
    AVFrame *frame;
    AVPacket *pkt;
    int w, h; /* input size */
    int64_t next_pts;
    int header_written;
};

static cr_status av_fail(cr_err *err, int rc, const char *what)
{
    char buf[128];
    av_strerror(rc, buf, sizeof buf);
    return cr_err_set(err, rc == AVERROR(ENOMEM) ? CR_ERR_NOMEM : CR_ERR_IO, "%s: %s", what, buf);
}

static cr_status drain(video_writer *v, cr_err *err)
{
    for (;;) {
        int rc = avcodec_receive_packet(v->enc, v->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return CR_OK;
        if (rc < 0)
            return av_fail(err, rc, "encode overlay video");
        if (v->pkt->duration <= 0)
            v->pkt->duration = 1; /* one frame; else the MP4's last frame has no length */
        av_packet_rescale_ts(v->pkt, v->enc->time_base, v->st->time_base);
        v->pkt->stream_index = v->st->index;
        rc = av_interleaved_write_frame(v->fmt, v->pkt);
        if (rc < 0)
            return av_fail(err, rc, "write overlay video");
    }
}

cr_status video_writer_open(const char *path, int w, int h, double fps, video_writer **out,
                            cr_err *err)
{
    *out = NULL;
    if (w < 2 || h < 2 || !(fps > 0.0))
        return cr_err_set(err, CR_ERR_INVALID, "overlay video: bad size %dx%d or fps", w, h);
    video_writer *v = cr_calloc(1, sizeof *v);
    if (v == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "overlay video: out of memory");
    v->w = w;
    v->h = h;
    cr_status st;
    int rc = avformat_alloc_output_context2(&v->fmt, NULL, "mp4", path);
    if (rc < 0) {
        st = av_fail(err, rc, "overlay video: mp4 muxer");
        goto fail;
    }
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (codec == NULL)
        codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (codec == NULL) {
        st = cr_err_set(err, CR_ERR_UNSUPPORTED, "overlay video: no H.264 or MPEG-4 encoder");
        goto fail;
    }
    v->st = avformat_new_stream(v->fmt, NULL);
    v->enc = avcodec_alloc_context3(codec);
    v->frame = av_frame_alloc();
    v->pkt = av_packet_alloc();
    if (v->st == NULL || v->enc == NULL || v->frame == NULL || v->pkt == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "overlay video: out of memory");
        goto fail;
    }
    v->enc->width = w & ~1;
    v->enc->height = h & ~1;
    v->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    v->enc->time_base = av_d2q(1.0 / fps, 100000);
    v->enc->framerate = av_d2q(fps, 100000);
    v->enc->gop_size = 12;
    v->enc->max_b_frames = 0; /* decode order = presentation order: no edit list needed */
    v->enc->thread_count = 1;
    if (codec->id == AV_CODEC_ID_MPEG4)
        v->enc->bit_rate = 4000000;
    else
        av_opt_set(v->enc->priv_data, "crf", "20", 0);
    if (v->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        v->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    rc = avcodec_open2(v->enc, codec, NULL);
    if (rc < 0) {
        st = av_fail(err, rc, "overlay video: open encoder");
        goto fail;
    }
    rc = avcodec_parameters_from_context(v->st->codecpar, v->enc);
    if (rc < 0) {
        st = av_fail(err, rc, "overlay video: stream parameters");
        goto fail;
    }
    v->st->time_base = v->enc->time_base;
    v->frame->format = AV_PIX_FMT_YUV420P;
    v->frame->width = v->enc->width;
    v->frame->height = v->enc->height;
    rc = av_frame_get_buffer(v->frame, 0);
    if (rc < 0) {
        st = av_fail(err, rc, "overlay video: frame");
        goto fail;
    }
    v->sws = sws_getContext(v->enc->width, v->enc->height, AV_PIX_FMT_RGB24, v->enc->width,
                            v->enc->height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (v->sws == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "overlay video: swscale");
        goto fail;
    }
    rc = avio_open(&v->fmt->pb, path, AVIO_FLAG_WRITE);
    if (rc < 0) {
        st = av_fail(err, rc, path);
        goto fail;
    }
    rc = avformat_write_header(v->fmt, NULL);
    if (rc < 0) {
        st = av_fail(err, rc, "overlay video: header");
        goto fail;
    }
    v->header_written = 1;
    *out = v;
    return CR_OK;
fail:
    video_writer_close(v, NULL);
    return st;
}

cr_status video_writer_add(video_writer *v, const uint8_t *rgb, int stride, cr_err *err)
{
    int rc = av_frame_make_writable(v->frame);
    if (rc < 0)
        return av_fail(err, rc, "overlay video: frame");
    const uint8_t *src[1] = {rgb};
    int src_stride[1] = {stride};
    sws_scale(v->sws, src, src_stride, 0, v->enc->height, v->frame->data, v->frame->linesize);
    v->frame->pts = v->next_pts++;
    rc = avcodec_send_frame(v->enc, v->frame);
    if (rc < 0)
        return av_fail(err, rc, "overlay video: encode");
    return drain(v, err);
}

cr_status video_writer_close(video_writer *v, cr_err *err)
{
    if (v == NULL)
        return CR_OK;
    cr_status st = CR_OK;
    if (v->header_written) {
        int rc = avcodec_send_frame(v->enc, NULL);
        if (rc < 0)
            st = av_fail(err, rc, "overlay video: flush");
        if (st == CR_OK)
            st = drain(v, err);
        rc = av_write_trailer(v->fmt);
        if (rc < 0 && st == CR_OK)
            st = av_fail(err, rc, "overlay video: trailer");
    }
    if (v->fmt != NULL && v->fmt->pb != NULL)
        avio_closep(&v->fmt->pb);
    avformat_free_context(v->fmt);
    avcodec_free_context(&v->enc);
    sws_freeContext(v->sws);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    cr_free(v);
    return st;
}
