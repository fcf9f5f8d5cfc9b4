/*
 * video_jpeg.c -- one RGB24 frame as a JPEG in memory (video.h, video_encode_jpeg):
 * swscale converts to full-range YUV 4:2:0, BT.601 (JFIF, what JPEG viewers expect),
 * FFmpeg's mjpeg encoder compresses it at a fixed quantizer scale.  Used for the
 * pictures embedded in the coach's report.
 */
#include "video/video.h"

#include "core/mem.h"

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <string.h>

cr_status video_encode_jpeg(const video_frame *f, int qscale, uint8_t **out, size_t *n, cr_err *err)
{
    *out = NULL;
    *n = 0;
    if (f == NULL || f->rgb == NULL || f->width < 1 || f->height < 1 || f->width > VIDEO_MAX_DIM ||
        f->height > VIDEO_MAX_DIM || f->stride < 3 * f->width)
        return cr_err_set(err, CR_ERR_INVALID, "jpeg: bad frame");
    if (qscale < VIDEO_JPEG_QSCALE_BEST || qscale > VIDEO_JPEG_QSCALE_WORST)
        return cr_err_set(err, CR_ERR_INVALID, "jpeg: quantizer scale %d is not in %d..%d", qscale,
                          VIDEO_JPEG_QSCALE_BEST, VIDEO_JPEG_QSCALE_WORST);
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_UNSUPPORTED, "no JPEG (mjpeg) encoder in this FFmpeg");
    cr_status st = CR_OK;
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    AVFrame *yuv = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    /* Full-range 4:2:0 (the JFIF convention), said as YUV420P with a full colour range
     * (the YUVJ formats that meant the same are deprecated in swscale). */
    struct SwsContext *sws =
        sws_getContext(f->width, f->height, AV_PIX_FMT_RGB24, f->width, f->height,
                       AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (ctx == NULL || yuv == NULL || pkt == NULL || sws == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "jpeg: out of memory (%dx%d)", f->width, f->height);
        goto fail;
    }
    const int *coefs = sws_getCoefficients(SWS_CS_ITU601); /* JFIF: BT.601 */
    sws_setColorspaceDetails(sws, coefs, 1, coefs, 1, 0, 1 << 16, 1 << 16);
    ctx->width = f->width;
    ctx->height = f->height;
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    ctx->color_range = AVCOL_RANGE_JPEG;
    ctx->time_base = (AVRational){1, 1};
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * qscale;
    if (avcodec_open2(ctx, c, NULL) < 0) {
        st = cr_err_set(err, CR_ERR_INTERNAL, "jpeg: cannot open the mjpeg encoder");
        goto fail;
    }
    yuv->format = AV_PIX_FMT_YUV420P;
    yuv->color_range = AVCOL_RANGE_JPEG;
    yuv->width = f->width;
    yuv->height = f->height;
    if (av_frame_get_buffer(yuv, 0) < 0) {
        st = cr_err_set(err, CR_ERR_NOMEM, "jpeg: out of memory (%dx%d)", f->width, f->height);
        goto fail;
    }
    const uint8_t *src[1] = {f->rgb};
    const int src_stride[1] = {f->stride};
    sws_scale(sws, src, src_stride, 0, f->height, yuv->data, yuv->linesize);
    yuv->quality = ctx->global_quality; /* the encoder reads the frame's quality */
    yuv->pts = 0;
    if (avcodec_send_frame(ctx, yuv) < 0 || avcodec_send_frame(ctx, NULL) < 0 ||
        avcodec_receive_packet(ctx, pkt) < 0 || pkt->size <= 0) {
        st = cr_err_set(err, CR_ERR_INTERNAL, "jpeg: encoding failed (%dx%d)", f->width, f->height);
        goto fail;
    }
    *out = cr_malloc((size_t)pkt->size);
    if (*out == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "jpeg: out of memory (%d bytes)", pkt->size);
        goto fail;
    }
    memcpy(*out, pkt->data, (size_t)pkt->size);
    *n = (size_t)pkt->size;
fail:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&yuv);
    avcodec_free_context(&ctx);
    return st;
}
