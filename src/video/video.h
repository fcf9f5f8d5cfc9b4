/*
 * video.h -- probe, chunk plan and the frame sampler of crease (DESIGN.md §6).
 *
 * Everything reads its input through a cr_reader (core/reader.h): a local file
 * (cr_reader_open_file) or an object store read by range requests (the blob
 * module's reader).  FFmpeg (libavformat/libavcodec/libswscale) reads through an
 * AVIOContext whose read and seek callbacks call cr_reader_read_at, so a chunk
 * reads only the bytes it needs; cr_reader_bytes_read() tells how many.
 *
 * THE GRID.  Sample times are on one global grid, t_k = k / sample_fps, k = 0, 1, ...
 * Times are seconds from the start of the video stream (its first presentation
 * time is 0, whatever the container's start time).  A chunk [s, e) owns the t_k
 * with s <= t_k < e; the frame for t_k is the last frame whose presentation time
 * is <= t_k.  A t_k before the first frame (a stream whose first frame has a
 * positive time after the rebase, e.g. VFR edits) gets the first frame.  The
 * last grid point of a video is the last t_k < duration_seconds (the probed
 * duration), so the sampler of a chunk and of the whole video agree: the union of
 * all chunks' frames equals sampling [0, duration), with no gap and no duplicate.
 * When the container lasts longer than its video (audio goes on), the last video
 * frame holds until the end.  A chunk seeks to the keyframe shown at or before its
 * first grid point and decodes forward from there.
 * Which k a time belongs to is computed by one function of (time, fps) in double
 * precision (video_grid_first_k), so chunk boundaries never disagree.
 *
 * STILL IMAGES (PNG, JPEG, ... through FFmpeg's image demuxers) are a one-frame
 * input: video_info.still_image = 1, duration_seconds = 0, and the sampler yields
 * exactly one frame, t = 0, k = 0, pts = 0, when the range contains 0
 * (start_sec <= 0 < end_sec; the default options do).  `crease pose photo.jpg`
 * uses this path.
 *
 * FRAMES.  RGB24 (R, G, B bytes), rotation from the display matrix applied
 * (multiples of 90 degrees; others are rounded to the nearest), then scaled with
 * aspect kept so that width <= max_width: out_w = min(w, max_width),
 * out_h = max(1, round(h * out_w / w)) (sizes need not be even).  Never upscaled.
 * Scaling averages the source pixels under each output pixel (swscale's area
 * filter), so a 3x reduction does not alias.
 *
 * SOURCE PICTURES.  With opts.source a frame also carries the decoded picture at full
 * resolution (video_frame.src), as the decoder wrote it: planar 4:2:0 YUV for the
 * yuv420p/yuvj420p streams (H.264 and nearly every camera), otherwise that picture
 * converted to RGB24 at full size; not rotated (src.rotation says how to).  MAX_WIDTH
 * is the size of what crease stores and draws; a model may crop its input from the
 * source instead (the pose tracker does).  With opts.rgb = 0 the scaled RGB24 picture
 * is not made at all (frame.rgb NULL, width/height still its size): for callers that
 * read only the source, which saves the full-frame scale and conversion.
 *
 * ERRORS (status + one line in cr_err, first error wins):
 *   CR_ERR_FORMAT       not a media file, truncated or corrupt, zero-length input,
 *                       no video stream (audio only), zero or unknown duration,
 *                       no decodable frame
 *   CR_ERR_UNSUPPORTED  a video stream whose codec FFmpeg cannot decode here
 *   CR_ERR_LIMIT        absurd dimensions (larger than VIDEO_MAX_DIM per side or
 *                       VIDEO_MAX_PIXELS in all)
 *   CR_ERR_INVALID      bad options (fps, range, max_width)
 *   CR_ERR_IO / CR_ERR_NET ... whatever the reader reported
 *   CR_ERR_NOMEM        an allocation failed
 * Untrusted bytes never reach an assert.  FFmpeg's own log lines are routed to
 * cr_log at debug level (event "video.ffmpeg").
 *
 * THREADS.  Functions here may be called from many threads at once on different
 * readers/samplers; one sampler (and its reader) is used by one thread at a time.
 * The first call installs a process-wide FFmpeg log callback (av_log_set_callback)
 * that forwards FFmpeg's messages to cr_log at debug level.
 */
#ifndef CR_VIDEO_VIDEO_H
#define CR_VIDEO_VIDEO_H

#include "core/reader.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* Largest accepted side and area ("absurd size", DESIGN.md §6).  16384 is twice
 * the widest picture of H.264/HEVC level 6.2 (8192x4320); 64 Mpx is twice 8K UHD
 * (33 Mpx).  Decoders get the area as max_pixels, so even probing never allocates
 * a larger picture. */
#define VIDEO_MAX_DIM 16384
#define VIDEO_MAX_PIXELS (64LL * 1024 * 1024)

typedef struct video_info {
    double duration_seconds; /* container duration, else stream, else last packets; 0 for a still */
    double fps;              /* average frame rate (frames per second); 0 if unknown */
    int variable_frame_rate; /* 1 when FFmpeg's base rate (from the probed timestamps)
                                differs from the average by > 1 % */
    int width, height;       /* stored (coded) size, before rotation */
    int rotation;            /* clockwise degrees to apply for display: 0, 90, 180, 270 */
    int display_width;       /* size after rotation (width/height swapped for 90, 270) */
    int display_height;
    int still_image; /* 1 for a single still image (PNG, JPEG, ...) */
    char codec[32];  /* FFmpeg's codec name, e.g. "h264", "msmpeg4v3", "mjpeg" */
    /* Where the video stream's packets really end, seconds, read near the end of the
     * input by video_probe; 0 when that cannot be read cheaply (and in the sampler's
     * info, which does not read it).  Less than duration_seconds when the container claims more
     * than the video holds (audio goes on, or a rewritten header). */
    double content_seconds;
} video_info;

/* Probes the input: opens the container, finds the best video stream, checks that
 * its codec can be decoded and its size is sane, and reads the duration (from the
 * container, else the stream, else by reading the last packets).  Then it reads
 * where the video's packets really end (content_seconds): a seek to the claimed end
 * lands on the last keyframe (MP4 and Matroska by their indexes), and the packets from
 * there to the end of the input are read, at most VIDEO_TAIL_SCAN (4 MiB, video.c)
 * bytes; beyond that content_seconds is 0 (unknown).  Reads only what FFmpeg's
 * probing needs (headers and a few packets) and that tail, never the whole file.
 * On error `out` is zeroed. */
cr_status video_probe(cr_reader *r, video_info *out, cr_err *err);

/* video_probe as one line of JSON (no newline):
 * {"duration_seconds":..,"fps":..,"variable_frame_rate":..,"width":..,"height":..,
 *  "rotation":..,"codec":".."}.  Writes into `buf` (cap >= 256 is enough). */
void video_info_to_json(const video_info *info, char *buf, size_t cap);

typedef struct video_chunk {
    int index;        /* 0, 1, ... */
    double start_sec; /* index * chunk_seconds */
    double end_sec;   /* min(start_sec + chunk_seconds, duration) */
} video_chunk;

/* The chunk plan (DESIGN.md §4, the seed's rule): N = ceil(duration / chunk_seconds)
 * chunks [i*c, min((i+1)*c, duration)), the last one shorter, no overlap, covering
 * [0, duration).  `duration` must be finite and > 0, chunk_seconds >= 1 (else
 * CR_ERR_INVALID).  *out is allocated with cr_malloc; the caller frees it with
 * cr_free.  On error *out = NULL, *n = 0. */
cr_status video_chunk_plan(double duration, int chunk_seconds, video_chunk **out, size_t *n,
                           cr_err *err);

/* The smallest k >= 0 with (double)k / fps >= t (t <= 0 gives 0).  The sampler uses
 * it for both ends of a range: a range [s, e) holds k in
 * [video_grid_first_k(s, fps), video_grid_first_k(e, fps)). */
int64_t video_grid_first_k(double t, double fps);

#define VIDEO_SKIP_DEBLOCK_NONE 0
#define VIDEO_SKIP_DEBLOCK_UNSHOWN 1
#define VIDEO_SKIP_DEBLOCK_ALL 2

/* FRAME POOL.  A decoder allocates its own picture buffers (FFmpeg's pools, one per
 * decoder) and frees them when it closes: a chunk's single-threaded H.264 decoder makes
 * ~8 of them, ~25 MB at 1080p, zeroed and page-faulted afresh for every chunk (measured:
 * ~7.5k page faults a 30-s chunk, ~1.5 % of a 1080p analysis's CPU).  A video_frame_pool
 * outlives the samplers that borrow it (video_sampler_opts.frame_pool), so the next
 * chunk's decoder finds its buffers ready.  Thread-safe: decoders in several threads
 * (frame threads, or the samplers one worker steps together) may share one.  Buffers of
 * a picture size no longer asked for are freed once a few other sizes have followed. */
typedef struct video_frame_pool video_frame_pool;

/* A new, empty pool (CR_ERR_NOMEM). */
cr_status video_frame_pool_create(video_frame_pool **out, cr_err *err);

/* Frees the pool; buffers still held by frames are freed when those frames let them go.
 * NULL is a no-op. */
void video_frame_pool_destroy(video_frame_pool *p);

/* Picture buffers the pool has allocated since its creation (reuses not counted). */
int64_t video_frame_pool_allocations(const video_frame_pool *p);

typedef struct video_sampler_opts {
    double start_sec;  /* >= 0 */
    double end_sec;    /* > start_sec; INFINITY (the default) = to the end of the video */
    double sample_fps; /* (0, 240]; default 10 (SAMPLE_FPS) */
    int max_width;     /* >= 1; default 640 (MAX_WIDTH); frames are never upscaled */
    int threads;       /* decoder threads; 0 = FFmpeg's automatic choice, default 1
                          (chunks already run in parallel) */
    /* Decoding shortcuts (see video_sampler_next).  skip_gop_tails (default 1) leaves
     * undecoded the frames before an H.264 IDR frame that no grid point needs: the output
     * is the same, bit for bit.  skip_deblock (default 0) decodes the frames no grid point
     * shows without H.264's deblocking filter: cheaper, and the sampled frames that are
     * predicted from them drift slightly from the exact pictures until the next keyframe;
     * VIDEO_SKIP_DEBLOCK_ALL decodes every frame without it. */
    int skip_gop_tails;
    int skip_deblock; /* VIDEO_SKIP_DEBLOCK_NONE, _UNSHOWN or _ALL */
    int source;       /* 1: frames carry the full-resolution source picture (default 0) */
    int rgb;          /* 1 (default): frames carry the scaled RGB24 picture; 0: not made */
    /* Keyframe bounds (default 0, 0, 0: none).  With keyframe_start, start_sec moves to
     * the presentation time of the keyframe a seek to it starts decoding from, the last
     * one the container's index lists at or before it (MP4/MOV, which index every
     * keyframe up front; other containers: unmoved), when that is less than
     * keyframe_reach seconds away; with keyframe_end, end_sec does the same.  A range
     * that begins where the previous one ends, both moved, begins at the keyframe its
     * decoding starts from anyway: the frames between that keyframe and the nominal
     * start are decoded once (for their own samples, here) instead of twice (once as the
     * previous range's samples, once as this one's pre-roll).  Each side computes the
     * same bound from the same file, so neighbouring ranges still share the grid points
     * out exactly once, provided they pass the same reach, under half of either range's
     * length (so no range turns empty or backwards).  Never set keyframe_end on the last
     * range of a video: the grid points after the bound would belong to no range. */
    int keyframe_start, keyframe_end;
    double keyframe_reach;
    /* Borrowed (FRAME POOL above), or NULL (the default): the decoder's own buffers.  It
     * must outlive the sampler.  The frames are the same either way. */
    video_frame_pool *frame_pool;
    /* Frames made ahead of the caller by a thread of the sampler's own (decoding, scaling
     * and converting them while the caller works on the last one it was given), 0 (the
     * default) to VIDEO_READ_AHEAD_MAX; 0: made in video_sampler_next.  The same frames,
     * in the same order, with the same errors; each holds a decoded picture and an RGB24
     * one until the caller asks for the next. */
    int read_ahead;
} video_sampler_opts;

#define VIDEO_READ_AHEAD_MAX 4

/* Fills `o` with the defaults above. */
void video_sampler_opts_default(video_sampler_opts *o);

#define VIDEO_PIX_RGB24 0   /* data[0]: R, G, B bytes */
#define VIDEO_PIX_YUV420P 1 /* data[0..2]: Y, U, V planes, chroma halved both ways */

/* A decoded picture at full resolution, stored orientation (see SOURCE PICTURES).
 * Colour: BT.601 coefficients (what swscale applies to the scaled RGB24 picture; the
 * streams' own colour-space tags are not read), full_range 1 for yuvj420p (0..255)
 * and 0 for yuv420p (Y 16..235, U/V 16..240). */
typedef struct video_picture {
    int format;             /* VIDEO_PIX_RGB24 or VIDEO_PIX_YUV420P */
    const uint8_t *data[3]; /* owned by the sampler, valid as video_frame.rgb */
    int stride[3];          /* bytes per row of each plane */
    int width, height;      /* stored size (video_info.width, .height) */
    int rotation;           /* clockwise degrees to apply for display: 0, 90, 180, 270 */
    int full_range;
} video_picture;

typedef struct video_frame {
    const uint8_t *rgb; /* RGB24 pixels, owned by the sampler, valid until the next
                           video_sampler_next or video_sampler_close; NULL when
                           opts.rgb = 0 */
    int width, height;  /* after rotation and scaling */
    int stride;         /* bytes from one row to the next (>= 3 * width) */
    int64_t k;          /* grid index */
    double t;           /* grid time k / sample_fps, seconds */
    double pts_sec;     /* presentation time of the source frame, seconds from stream start */
    video_picture src;  /* with opts.source: the full-resolution picture; else zeroed */
} video_frame;

typedef struct video_sampler video_sampler;

/* Opens a sampler on `r` for the range and rate in `opts` (NULL = defaults).  Probes
 * the input (the same checks and errors as video_probe), seeks to the keyframe at or
 * before start_sec and prepares the decoder.  `r` is not owned and must outlive the
 * sampler.  On error *out = NULL. */
cr_status video_sampler_open(cr_reader *r, const video_sampler_opts *opts, video_sampler **out,
                             cr_err *err);

/* The probe result of the sampler's input. */
const video_info *video_sampler_info(const video_sampler *s);

/* Produces the frame of the next grid point of the range, in increasing k, into
 * `out` and sets *done = 0; after the last one sets *done = 1 (and leaves `out`
 * alone), as often as it is called.  Frames that are not needed are not decoded:
 * a packet is left out when it is not referenced by other frames (H.264: every
 * slice has nal_ref_idc 0; any codec: the container flags it disposable) and no
 * grid point of the range falls between its presentation time and the next
 * frame's.  Only output frames are converted to RGB (once, however many grid
 * points repeat them).  With skip_gop_tails, a run of frames that ends just before an
 * H.264 IDR frame is left out too when no grid point of the range falls within it: an IDR
 * frame starts afresh, so nothing after it depends on them (the IDR is seen in the
 * lookahead, so a GOP longer than VIDEO_LOOKAHEAD packets is decoded whole until its end is
 * in sight).  With skip_deblock, a frame that is decoded only because others depend on it
 * skips the deblocking filter.  Corrupt packets are concealed or dropped by the decoder
 * as FFmpeg does; a stream that ends more than 1 s before its probed duration is
 * CR_ERR_FORMAT ("truncated"), and one without any decodable frame too.  A range
 * with start_sec > 0 in which no frame is shown, while its first grid point lies
 * more than 1 s past the end of the last packet (the frames ended before the range:
 * only the last frame would be held), is CR_ERR_FORMAT ("no video frame at or after
 * ...") rather than frames of a frozen picture.  After an
 * error the sampler is finished (*done = 1 afterwards). */
cr_status video_sampler_next(video_sampler *s, video_frame *out, int *done, cr_err *err);

/* Counters for tests and benchmarks (frames handed to the decoder, frames it
 * returned, packets skipped without decoding -- of which the GOP tails --, packets
 * decoded without deblocking, frames converted to RGB). */
typedef struct video_sampler_stats {
    int64_t packets_decoded;
    int64_t packets_skipped;
    int64_t packets_skipped_gop_tail;
    int64_t packets_undeblocked;
    int64_t frames_decoded;
    int64_t frames_output;
} video_sampler_stats;
void video_sampler_get_stats(const video_sampler *s, video_sampler_stats *out);

/* Frees everything.  NULL is a no-op. */
void video_sampler_close(video_sampler *s);

/* Writes an RGB24 frame as a PNG file (FFmpeg's PNG encoder). */
cr_status video_write_png(const char *path, const video_frame *f, cr_err *err);

/* FFmpeg's quantizer scale for JPEG (-q:v): 2 is the finest, 31 the coarsest. */
#define VIDEO_JPEG_QSCALE_BEST 2
#define VIDEO_JPEG_QSCALE_WORST 31

/* Encodes an RGB24 frame (its width, height, stride and rgb; the other fields are
 * not read) as a baseline JPEG, full-range YUV 4:2:0, with FFmpeg's mjpeg encoder at
 * quantizer scale `qscale` (VIDEO_JPEG_QSCALE_BEST..WORST).  *out is allocated with
 * cr_malloc (the caller frees it with cr_free), *n its size.  CR_ERR_INVALID for a
 * bad frame or qscale, CR_ERR_UNSUPPORTED without the encoder, CR_ERR_NOMEM; on
 * error *out = NULL and *n = 0.  Thread-safe (no shared state). */
cr_status video_encode_jpeg(const video_frame *f, int qscale, uint8_t **out, size_t *n,
                            cr_err *err);

#endif
