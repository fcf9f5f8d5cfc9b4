/*
 * video_pool.c -- picture buffers that outlive a decoder (video.h FRAME POOL).
 *
 * A decoder asks for each picture through AVCodecContext.get_buffer2.  FFmpeg's default
 * keeps one AVBufferPool per plane in the decoder and frees them with it; here the
 * pools belong to a video_frame_pool the caller keeps across decoders.  A picture is one
 * buffer holding all of its planes, laid out as FFmpeg's default lays out its planes:
 *   - the width is first rounded up by avcodec_align_dimensions2 (the codec's macroblock
 *     and edge needs), then widened until every plane's row length is a multiple of
 *     the row alignment the codec asks for and of FRAME_ALIGN (SIMD loads), so the
 *     planes' row lengths keep their ratio (H.264 reads both chroma planes with one);
 *   - each plane starts FRAME_ALIGN-aligned and has FRAME_PLANE_PAD spare bytes after
 *     its last row, which motion compensation and the SIMD loops may touch.
 * Buffers come zeroed from av_buffer_allocz when first made, as FFmpeg's own are, and
 * hold an earlier picture's pixels when reused, as FFmpeg's own do within a decoder:
 * decoders write every pixel of a picture they output (a corrupt stream's concealment
 * copies from reference pictures, which are whole pictures themselves).
 *
 * Pools are kept per buffer size: FRAME_POOL_SIZES of them, the oldest size dropped
 * (av_buffer_pool_uninit: freed when its last buffer comes back) when another size
 * comes.  One mutex guards the table and each take from a pool: a sampler's frame
 * threads, and the several samplers one worker steps, ask at once.
 *
 * Buffers are ordinary pages.  Backing them with 2 MB pages (mmap at a 2 MB boundary,
 * madvise MADV_HUGEPAGE; Linux's THP setting here is "madvise") made decoding slower,
 * not faster: the 60 s phone-like clip of bench/reference-workload in two 30 s chunks
 * took 18.2-19.5 s of user CPU (median 18.9) against 17.9-18.6 s (median 18.1), 17 runs
 * interleaved in three sittings, with the buffers' starts staggered by a few pages as
 * well as without.
 */
#include "video/video_pool.h"

#include "core/mem.h"

#include <libavutil/imgutils.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define FRAME_POOL_SIZES 4
#define FRAME_ALIGN 64
#define FRAME_PLANE_PAD (16 + FRAME_ALIGN)

struct video_frame_pool {
    pthread_mutex_t lock;
    struct {
        size_t size;
        AVBufferPool *pool;
    } sizes[FRAME_POOL_SIZES];
    int next; /* the slot a new size takes: the oldest */
    atomic_llong allocations;
};

cr_status video_frame_pool_create(video_frame_pool **out, cr_err *err)
{
    *out = NULL;
    video_frame_pool *p = cr_calloc(1, sizeof *p);
    if (p == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "frame pool: out of memory");
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        cr_free(p);
        return cr_err_set(err, CR_ERR_NOMEM, "frame pool: no mutex");
    }
    atomic_init(&p->allocations, 0);
    *out = p;
    return CR_OK;
}

void video_frame_pool_destroy(video_frame_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < FRAME_POOL_SIZES; i++)
        av_buffer_pool_uninit(&p->sizes[i].pool);
    pthread_mutex_destroy(&p->lock);
    cr_free(p);
}

int64_t video_frame_pool_allocations(const video_frame_pool *p)
{
    return p != NULL ? (int64_t)atomic_load(&((video_frame_pool *)p)->allocations) : 0;
}

static AVBufferRef *pool_alloc(void *opaque, size_t size)
{
    video_frame_pool *p = opaque;
    atomic_fetch_add(&p->allocations, 1);
    return av_buffer_allocz(size);
}

/* A buffer of `size` bytes from the pool of that size (made if need be), or NULL. */
static AVBufferRef *pool_take(video_frame_pool *p, size_t size)
{
    AVBufferRef *b = NULL;
    pthread_mutex_lock(&p->lock);
    int slot = -1;
    for (int i = 0; i < FRAME_POOL_SIZES && slot < 0; i++)
        if (p->sizes[i].pool != NULL && p->sizes[i].size == size)
            slot = i;
    if (slot < 0) {
        slot = p->next;
        p->next = (p->next + 1) % FRAME_POOL_SIZES;
        av_buffer_pool_uninit(&p->sizes[slot].pool);
        p->sizes[slot].size = size;
        p->sizes[slot].pool = av_buffer_pool_init2(size, p, pool_alloc, NULL);
    }
    if (p->sizes[slot].pool != NULL)
        b = av_buffer_pool_get(p->sizes[slot].pool);
    pthread_mutex_unlock(&p->lock);
    return b;
}

static int pool_get_buffer(AVCodecContext *dec, AVFrame *f, int flags)
{
    video_frame_pool *p = dec->opaque;
    if (dec->codec_type != AVMEDIA_TYPE_VIDEO || !(dec->codec->capabilities & AV_CODEC_CAP_DR1))
        return avcodec_default_get_buffer2(dec, f, flags); /* what FFmpeg requires */
    int w = f->width, h = f->height, align[AV_NUM_DATA_POINTERS];
    avcodec_align_dimensions2(dec, &w, &h, align);
    int ls[4], aligned;
    do {
        if (av_image_fill_linesizes(ls, f->format, w) < 0)
            return avcodec_default_get_buffer2(dec, f, flags); /* not a plain pixel format */
        aligned = 1;
        for (int i = 0; i < 4; i++) {
            int a = align[i] > FRAME_ALIGN ? align[i] : FRAME_ALIGN;
            aligned &= ls[i] % a == 0;
        }
        w += w & ~(w - 1); /* the next multiple of a larger power of two */
    } while (!aligned);
    ptrdiff_t lsp[4];
    size_t sz[4], off[4], total = FRAME_ALIGN; /* room to align the first plane */
    for (int i = 0; i < 4; i++)
        lsp[i] = ls[i];
    if (av_image_fill_plane_sizes(sz, f->format, h, lsp) < 0)
        return avcodec_default_get_buffer2(dec, f, flags);
    for (int i = 0; i < 4; i++) {
        off[i] = total;
        if (sz[i] > 0)
            total += (sz[i] + FRAME_PLANE_PAD + FRAME_ALIGN - 1) / FRAME_ALIGN * FRAME_ALIGN;
    }
    AVBufferRef *b = pool_take(p, total);
    if (b == NULL)
        return AVERROR(ENOMEM);
    uint8_t *base = b->data + (FRAME_ALIGN - (uintptr_t)b->data % FRAME_ALIGN) % FRAME_ALIGN;
    memset(f->data, 0, sizeof f->data);
    memset(f->linesize, 0, sizeof f->linesize);
    for (int i = 0; i < 4; i++)
        if (sz[i] > 0) {
            f->data[i] = base + off[i] - FRAME_ALIGN;
            f->linesize[i] = ls[i];
        }
    f->buf[0] = b;
    f->extended_data = f->data;
    return 0;
}

void video_frame_pool_attach(video_frame_pool *pool, AVCodecContext *dec)
{
    dec->opaque = pool;
    dec->get_buffer2 = pool_get_buffer;
}
