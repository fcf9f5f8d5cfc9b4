/*
 * video_pool.h -- the decoder's side of the frame pool (video.h FRAME POOL): the
 * get_buffer2 callback a sampler installs on its decoder.  Internal to the video module.
 */
#ifndef CR_VIDEO_POOL_H
#define CR_VIDEO_POOL_H

#include "video/video.h"

#include <libavcodec/avcodec.h>

/* Makes `dec` take its picture buffers from `pool` (which must outlive it); call before
 * avcodec_open2. */
void video_frame_pool_attach(video_frame_pool *pool, AVCodecContext *dec);

#endif
