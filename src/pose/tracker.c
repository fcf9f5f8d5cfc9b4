/*
 * tracker.c -- the BlazePose pipeline over frames (see pose_tracker.h for the
 * steps; constants in blazepose.h).
 */
#include "pose/pose_tracker.h"
#include "pose/pose_models.h"
#include "pose/tracker_int.h"

#include "core/mem.h"
#include "core/paths.h"
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* pose_landmark_filtering graph (MediaPipe): One Euro parameters. */
#define LM_MIN_CUTOFF 0.05
#define LM_BETA 80.0
#define LM_DCUTOFF 1.0
#define WORLD_MIN_CUTOFF 0.1
#define WORLD_BETA 40.0
#define WORLD_DCUTOFF 1.0
#define AUX_MIN_CUTOFF 0.01
#define AUX_BETA 10.0
#define AUX_DCUTOFF 1.0
#define VISIBILITY_ALPHA 0.1 /* VisibilitySmoothingCalculator low_pass_filter alpha */
/* LandmarksSmoothingCalculator: below this object scale, landmarks pass unfiltered. */
#define MIN_OBJECT_SCALE 1e-6
#define MAX_SIDE 16384 /* largest frame side accepted (video.h: VIDEO_MAX_DIM) */
/* Pyramid levels (image.c).  A crop is taken from level L, the first at which the
 * region spans at most PYR_MAX_SCALE source pixels per model input pixel, so bilinear
 * sampling does not skip source pixels wholesale (aliasing) when the region is large.
 * 4 because then pictures of up to 896 px (4 x 224) never leave level 0, as in
 * MediaPipe, whose GL converter samples bilinearly at any step: the MediaPipe
 * comparison tests feed it 768-px frames (3.4 px per detector input pixel) and
 * photos of 800 px.  A 1080p letterbox (8.6) reads level 2 (480x270, 2.1). */
#define PYR_MAX_SCALE 4.0
#define PYR_LEVELS 8

/* Tiled detection (pose_tracker.h).  Stage 1: squares of the picture's short side
 * along its long side; stage 2: squares of 2/3 of the short side in both directions.
 * Neighbours overlap by half a window, so anyone up to half a window tall lies wholly
 * inside one.  On a 1080p frame that is 3 windows of 1080 px (a person is 1.8x larger
 * in the detector's input than in the whole-frame letterbox) and 5x2 of 720 px (2.7x),
 * while the whole frame finds people of about 37 % of the height and misses them
 * at 25 % (measured on the known-motion clips, test_far_players).  The windows are
 * run TILE_BATCH at a time through a batched detector (engine.h BATCHES). */
#define TILE_BATCH 4
#define TILE_MAX_WINDOWS 16
/* After a tiled search that found nobody, the next TILE_MAX_SKIP-bounded number of
 * frames without a track skip it (1, 2, 4, 8 frames: 0.8 s at SAMPLE_FPS 10), so an
 * empty scene costs a tiled search about once a second, not on every frame. */
#define TILE_MAX_SKIP 8
/* Detections kept per search, to choose the subject among (subject hint). */
#define MAX_PEOPLE 16

struct pose_tracker {
    /* The engines: this tracker's own, or, for a sibling (pose_tracker_sibling), its
     * base's (base != NULL), which owns them and outlives it. */
    pose_tracker *base;
    engine *det;
    engine *lm;
    pose_mode mode;
    char model[16];
    pose_anchor anchors[POSE_NUM_ANCHORS];
    pose_detection cand[POSE_NUM_ANCHORS];

    /* What pose_tracker_enable_tiles and pose_tracker_lm_batch make their engines of
     * (an owner's references). */
    char eng[16];
    engine_model *det_model, *lm_model;
    int threads;
    /* The landmark model's outputs (an owner's): the heatmap's features in place of the
     * heatmap where its last layer is a 1x1 convolution, hm_head (HEATMAP below; zeroed
     * where the heatmap is taken whole). */
    const char *lm_out[4];
    engine_pointwise hm_head;

    /* Tiled detection: on or off, the batched detector (an owner's only: made the
     * first time a tracker sharing it searches), the candidates of all windows. */
    int tiles;
    engine *det_tiles;
    pose_detection tile_cand[POSE_NUM_ANCHORS];
    int tile_skip, tile_backoff; /* frames still to skip, the next backoff */

    /* The subject (pose_tracker_set_subject): where to look for it in the next detection. */
    int subject;
    float subject_x, subject_y; /* the hint, normalized */
    int have_last;              /* the subject was tracked since the last reset */
    float last_x, last_y;       /* where (its ROI centre) */

    /* The current frame's pyramid: lvl[0] is the frame, lvl[i] is lvl[i-1] halved,
     * built on demand (lvl_built levels are valid for this frame). */
    pose_image lvl[PYR_LEVELS];
    int lvl_built;
    /* The caller's area-scaled RGB24 picture of this frame, if any (pose_track_images):
     * crops that it covers with at least one pixel per model pixel come from it. */
    pose_image coarse;
    int have_coarse;
    uint8_t *lvl_buf[PYR_LEVELS];
    size_t lvl_cap[PYR_LEVELS];

    /* Tracking state (video mode). */
    int have_roi;
    pose_rect roi; /* the next frame's ROI, from the filtered aux points */
    int last_w, last_h;
    int filters_live;
    pose_one_euro lm_f[POSE_LM_BODY][3];
    pose_one_euro aux_f[2][3];
    pose_one_euro world_f[POSE_LM_BODY][3];
    pose_lowpass vis_f[POSE_LM_BODY];

    pose_tracker_stats stats;
};

static const char *const det_outputs[] = {"Identity", "Identity_1"};
/* Everything but the segmentation head (Identity_2). */
static const char *const lm_outputs[] = {"Identity", "Identity_1", "Identity_3", "Identity_4"};

/* HEATMAP.  The heatmap (Identity_3, 64x64x39 logits) is read only in a 7x7 window
 * around each of its 39 landmarks (pose_landmarks_refine), 1/40 of it, and its last
 * layer is a 1x1 convolution of 48 features a pixel, 0.11 ms of the full model's 4.1
 * (one thread, AVX-512).  So the engines are asked for that layer's input instead, the
 * layer is pruned away, and the windows' logits are computed here from the features
 * (pose_landmarks_refine_from_features, ~2k dot products of 48).  A model whose heatmap
 * is made otherwise gets the heatmap itself. */
static cr_status heatmap_head_load(pose_tracker *t, cr_err *err)
{
    memcpy(t->lm_out, lm_outputs, sizeof t->lm_out);
    cr_err e = {0};
    cr_status st = engine_pointwise_from(t->lm_model, "Identity_3", &t->hm_head, &e);
    if (st == CR_ERR_UNSUPPORTED)
        return CR_OK;
    if (st != CR_OK)
        return cr_err_set(err, st, "%s", cr_err_msg(&e));
    if (t->hm_head.c_out != POSE_LM_ALL) {
        engine_pointwise_free(&t->hm_head);
        return CR_OK; /* engine_create's shape checks speak for it */
    }
    t->lm_out[2] = t->hm_head.input;
    return CR_OK;
}

static void filters_reset(pose_tracker *t)
{
    for (int i = 0; i < POSE_LM_BODY; i++) {
        for (int a = 0; a < 3; a++) {
            pose_one_euro_init(&t->lm_f[i][a], LM_MIN_CUTOFF, LM_BETA, LM_DCUTOFF);
            pose_one_euro_init(&t->world_f[i][a], WORLD_MIN_CUTOFF, WORLD_BETA, WORLD_DCUTOFF);
        }
        t->vis_f[i] = (pose_lowpass){0};
    }
    for (int i = 0; i < 2; i++)
        for (int a = 0; a < 3; a++)
            pose_one_euro_init(&t->aux_f[i][a], AUX_MIN_CUTOFF, AUX_BETA, AUX_DCUTOFF);
    t->filters_live = 0;
}

/* Forgets the track (the next frame runs the detector); keeps the tiled-search
 * backoff and the subject's last position, which outlive a lost frame. */
static void track_reset(pose_tracker *t)
{
    t->have_roi = 0;
    filters_reset(t);
}

void pose_tracker_reset(pose_tracker *t)
{
    track_reset(t);
    t->tile_skip = 0;
    t->tile_backoff = 1;
    t->have_last = 0;
}

static cr_status check_shape(engine *e, const char *what, int rank, const int *dims, cr_err *err)
{
    engine_shape s;
    if (engine_input(e, &s) == NULL || s.rank != rank)
        return cr_err_set(err, CR_ERR_FORMAT, "%s: unexpected input tensor", what);
    for (int i = 0; i < rank; i++)
        if (s.dims[i] != dims[i])
            return cr_err_set(err, CR_ERR_FORMAT, "%s: input dimension %d is %d, expected %d", what,
                              i, s.dims[i], dims[i]);
    return CR_OK;
}

cr_status pose_tracker_create(const cr_config *cfg, const pose_tracker_opts *opts,
                              pose_tracker **out, cr_err *err)
{
    *out = NULL;
    const char *eng_name = opts != NULL ? opts->engine : NULL;
    const char *model = opts != NULL && opts->model != NULL ? opts->model : "full";
    int threads = opts != NULL && opts->threads > 0 ? opts->threads : 1;
    pose_mode mode = opts != NULL ? opts->mode : POSE_MODE_VIDEO;
    if (eng_name == NULL) /* the cpu engine with one thread where it is fast (engine.h) */
        eng_name = engine_default(threads);
    /* an unknown model name is refused by pose_models_get, which keeps the list */
    if (mode != POSE_MODE_VIDEO && mode != POSE_MODE_STATIC)
        return cr_err_set(err, CR_ERR_INVALID, "unknown pose mode %d", (int)mode);

    char lm_name[64];
    snprintf(lm_name, sizeof lm_name, "pose_landmark_%s.tflite", model);
    pose_tracker *t = cr_calloc(1, sizeof *t);
    if (t == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "pose tracker: out of memory");
    /* the process's loaded models, or a set of this tracker's own */
    pose_models *own = NULL, *models = opts != NULL ? opts->models : NULL;
    cr_status st = models != NULL ? CR_OK : pose_models_create(cfg, &own, err);
    if (st == CR_OK)
        st =
            pose_models_get(models != NULL ? models : own, model, &t->det_model, &t->lm_model, err);
    pose_models_destroy(own); /* the tracker keeps its references */
    if (st != CR_OK)
        goto fail;
    t->mode = mode;
    snprintf(t->model, sizeof t->model, "%s", model);
    if (pose_anchors_generate(t->anchors, POSE_NUM_ANCHORS) != POSE_NUM_ANCHORS) {
        st = cr_err_set(err, CR_ERR_INTERNAL, "pose anchors: wrong count");
        goto fail;
    }
    st = heatmap_head_load(t, err);
    if (st != CR_OK)
        goto fail;
    st = engine_create_from(eng_name, t->det_model, det_outputs, 2, threads, 1, &t->det, err);
    if (st != CR_OK)
        goto fail;
    st = engine_create_from(eng_name, t->lm_model, t->lm_out, 4, threads, 1, &t->lm, err);
    if (st != CR_OK)
        goto fail;
    st = check_shape(t->det, "pose_detection.tflite", 4,
                     (const int[]){1, POSE_DET_INPUT, POSE_DET_INPUT, 3}, err);
    if (st != CR_OK)
        goto fail;
    st = check_shape(t->lm, lm_name, 4, (const int[]){1, POSE_LM_INPUT, POSE_LM_INPUT, 3}, err);
    if (st != CR_OK)
        goto fail;
    snprintf(t->eng, sizeof t->eng, "%s", eng_name);
    t->threads = threads;
    pose_tracker_reset(t);
    *out = t;
    return CR_OK;
fail:
    pose_tracker_destroy(t);
    return st;
}

/* The tracker that owns t's engines: t, or its base. */
static pose_tracker *owner_of(pose_tracker *t)
{
    return t->base != NULL ? t->base : t;
}

cr_status pose_tracker_enable_tiles(pose_tracker *t, cr_err *err)
{
    (void)err; /* the batched detector is made at the first search (detect_windows) */
    t->tiles = 1;
    return CR_OK;
}

cr_status pose_tracker_sibling(pose_tracker *base, pose_tracker **out, cr_err *err)
{
    *out = NULL;
    base = owner_of(base);
    pose_tracker *t = cr_calloc(1, sizeof *t);
    if (t == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "pose tracker: out of memory");
    t->base = base;
    t->det = base->det;
    t->lm = base->lm;
    t->mode = base->mode;
    memcpy(t->model, base->model, sizeof t->model);
    memcpy(t->anchors, base->anchors, sizeof t->anchors);
    memcpy(t->eng, base->eng, sizeof t->eng);
    t->threads = base->threads;
    pose_tracker_reset(t);
    *out = t;
    return CR_OK;
}

engine *pose_tracker_lm(pose_tracker *t)
{
    return t->lm;
}

cr_status pose_tracker_lm_batch(pose_tracker *t, int batch, engine **out, cr_err *err)
{
    const pose_tracker *owner = owner_of(t);
    return engine_create_from(owner->eng, owner->lm_model, owner->lm_out, 4, owner->threads, batch,
                              out, err);
}

cr_status pose_tracker_set_subject(pose_tracker *t, int on, float x, float y, cr_err *err)
{
    if (on && !(x >= 0.0f && x <= 1.0f && y >= 0.0f && y <= 1.0f))
        return cr_err_set(err, CR_ERR_INVALID, "subject point (%g, %g) is not within 0..1",
                          (double)x, (double)y);
    t->subject = on != 0;
    t->subject_x = on ? x : 0.0f;
    t->subject_y = on ? y : 0.0f;
    t->have_last = 0;
    return CR_OK;
}

void pose_tracker_destroy(pose_tracker *t)
{
    if (t == NULL)
        return;
    if (t->base == NULL) {
        engine_destroy(t->det);
        engine_destroy(t->lm);
        engine_destroy(t->det_tiles);
        engine_pointwise_free(&t->hm_head);
        engine_model_free(t->det_model);
        engine_model_free(t->lm_model);
    }
    for (int i = 0; i < PYR_LEVELS; i++)
        cr_free(t->lvl_buf[i]);
    cr_free(t);
}

void pose_tracker_get_stats(const pose_tracker *t, pose_tracker_stats *out)
{
    *out = t->stats;
}

const char *pose_tracker_engine(const pose_tracker *t)
{
    return engine_name(t->lm);
}

const char *pose_tracker_model(const pose_tracker *t)
{
    return t->model;
}

/* An output of the last run with exactly `count` floats. */
static const float *output(engine *e, const char *name, size_t count, cr_err *err)
{
    engine_shape s;
    const float *p = engine_output(e, name, &s);
    if (p == NULL) {
        cr_err_set(err, CR_ERR_INTERNAL, "pose engine: no output %s", name);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= (size_t)(s.dims[i] > 0 ? s.dims[i] : 0);
    if (n != count) {
        cr_err_set(err, CR_ERR_FORMAT, "pose engine: output %s has %zu values, expected %zu", name,
                   n, count);
        return NULL;
    }
    return p;
}

static cr_status check_image(const pose_image *img, cr_err *err)
{
    int ok =
        img != NULL && img->width >= 1 && img->height >= 1 && img->width <= MAX_SIDE &&
        img->height <= MAX_SIDE &&
        (img->rotation == 0 || img->rotation == 90 || img->rotation == 180 || img->rotation == 270);
    if (ok && img->format == POSE_PIX_RGB24)
        ok = img->data[0] != NULL && img->stride[0] >= 3 * img->width;
    else if (ok && img->format == POSE_PIX_YUV420P)
        ok = img->data[0] != NULL && img->data[1] != NULL && img->data[2] != NULL &&
             img->stride[0] >= img->width && img->stride[1] >= (img->width + 1) / 2 &&
             img->stride[2] >= (img->width + 1) / 2;
    else
        ok = 0;
    if (!ok)
        return cr_err_set(err, CR_ERR_INVALID, "pose: bad frame (%dx%d, format %d, rotation %d)",
                          img != NULL ? img->width : 0, img != NULL ? img->height : 0,
                          img != NULL ? (int)img->format : -1, img != NULL ? img->rotation : 0);
    return CR_OK;
}

static pose_image rgb_image(const uint8_t *rgb, int w, int h, int stride)
{
    pose_image img = {.format = POSE_PIX_RGB24, .width = w, .height = h};
    img.data[0] = rgb;
    img.stride[0] = stride;
    return img;
}

/* Starts a frame: its pyramid is level 0 only until a crop needs more. */
static void frame_begin(pose_tracker *t, const pose_image *img, const pose_image *coarse)
{
    t->lvl[0] = *img;
    t->lvl_built = 1;
    t->have_coarse = coarse != NULL;
    if (coarse != NULL)
        t->coarse = *coarse;
}

/* Crops `roi` of the current frame into `dst` from the pyramid level that keeps the
 * sampling step at most PYR_MAX_SCALE source pixels (see the constant). */
static cr_status crop_frame(pose_tracker *t, const pose_rect *roi, int dst_w, int dst_h,
                            pose_border border, float scale, float offset, float *dst, cr_err *err)
{
    int dw, dh;
    /* A region that the coarse picture covers with at least one pixel per model pixel
     * on both axes is cropped from it: that picture is area-filtered (no aliasing), and
     * the source would give the model nothing more than a sharper downscale at the
     * price of building pyramid levels of the full frame (measured: +5 ms a frame for
     * a 1080p subject).  Smaller regions, where the source's detail matters, come from
     * the source. */
    if (t->have_coarse) {
        pose_image_display_size(&t->coarse, &dw, &dh);
        if (fmin((double)roi->w * dw / dst_w, (double)roi->h * dh / dst_h) >= 1.0) {
            pose_image_crop(&t->coarse, roi, dst_w, dst_h, border, scale, offset, dst);
            return CR_OK;
        }
    }
    pose_image_display_size(&t->lvl[0], &dw, &dh);
    double step = fmax((double)roi->w * dw / dst_w, (double)roi->h * dh / dst_h);
    int level = 0;
    while (step > PYR_MAX_SCALE && level + 1 < PYR_LEVELS && t->lvl[level].width > 1 &&
           t->lvl[level].height > 1) {
        step /= 2.0;
        level++;
    }
    while (t->lvl_built <= level) {
        int i = t->lvl_built;
        size_t need = pose_image_halve_size(&t->lvl[i - 1]);
        if (need > t->lvl_cap[i]) {
            uint8_t *buf = cr_malloc(need);
            if (buf == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "pose: out of memory for a pyramid level");
            cr_free(t->lvl_buf[i]);
            t->lvl_buf[i] = buf;
            t->lvl_cap[i] = need;
        }
        pose_image_halve(&t->lvl[i - 1], t->lvl_buf[i], &t->lvl[i]);
        t->lvl_built++;
    }
    /* A level is ceil(size / 2) per halving, so an odd size adds half a pixel at the
     * right or bottom edge: restate the region in the level's own normalized units so
     * that it covers the same source pixels. */
    pose_rect r = *roi;
    if (level > 0) {
        int lw, lh;
        pose_image_display_size(&t->lvl[level], &lw, &lh);
        double sx = (double)dw / (double)(1 << level) / lw;
        double sy = (double)dh / (double)(1 << level) / lh;
        r.cx = (float)(roi->cx * sx);
        r.w = (float)(roi->w * sx);
        r.cy = (float)(roi->cy * sy);
        r.h = (float)(roi->h * sy);
    }
    pose_image_crop(&t->lvl[level], &r, dst_w, dst_h, border, scale, offset, dst);
    return CR_OK;
}

/* The detector on the whole current frame (letterboxed), up to `cap` detections. */
static cr_status detect_frame(pose_tracker *t, pose_detection *dets, int cap, int *n, cr_err *err)
{
    *n = 0;
    int w, h;
    pose_image_display_size(&t->lvl[0], &w, &h);
    pose_rect roi;
    pose_padding pad;
    pose_letterbox(w, h, POSE_DET_INPUT, POSE_DET_INPUT, &roi, &pad);
    /* pose_detection_cpu: [-1,1] from 8-bit, border zero (-> -1). */
    cr_status st = crop_frame(t, &roi, POSE_DET_INPUT, POSE_DET_INPUT, POSE_BORDER_ZERO,
                              2.0f / 255.0f, -1.0f, engine_input(t->det, NULL), err);
    if (st != CR_OK)
        return st;
    st = engine_run(t->det, err);
    if (st != CR_OK)
        return st;
    t->stats.detector_runs++;
    const float *boxes =
        output(t->det, "Identity", (size_t)POSE_NUM_ANCHORS * POSE_DET_COORDS, err);
    const float *logits = output(t->det, "Identity_1", POSE_NUM_ANCHORS, err);
    if (boxes == NULL || logits == NULL)
        return err != NULL ? err->code : CR_ERR_INTERNAL;
    int nc = pose_detector_decode(boxes, logits, t->anchors, POSE_NUM_ANCHORS,
                                  (float)POSE_DET_MIN_SCORE, t->cand, POSE_NUM_ANCHORS);
    int k = pose_nms_weighted(t->cand, nc, (float)POSE_NMS_IOU, dets, cap);
    for (int i = 0; i < k; i++)
        pose_detection_unletterbox(&dets[i], &pad);
    *n = k;
    return CR_OK;
}

cr_status pose_tracker_detect_image(pose_tracker *t, const pose_image *img, pose_detection *dets,
                                    int cap, int *n, cr_err *err)
{
    *n = 0;
    cr_status st = check_image(img, err);
    if (st != CR_OK)
        return st;
    frame_begin(t, img, NULL);
    return detect_frame(t, dets, cap, n, err);
}

cr_status pose_tracker_detect(pose_tracker *t, const uint8_t *rgb, int w, int h, int stride,
                              pose_detection *dets, int cap, int *n, cr_err *err)
{
    pose_image img = rgb_image(rgb, w, h, stride);
    return pose_tracker_detect_image(t, &img, dets, cap, n, err);
}

/* The windows of tiled-detection stage `stage` (1 or 2) of a w x h picture, as
 * square regions (normalized, rotation 0); returns their count (0: the stage would not
 * zoom in, e.g. stage 1 of a square picture, or windows below the detector's input). */
static int tile_windows(int w, int h, int stage, pose_rect *out, int cap)
{
    int shorter = w < h ? w : h, longer = w < h ? h : w;
    double side = stage == 1 ? shorter : shorter * 2.0 / 3.0;
    if (side < POSE_DET_INPUT)
        return 0; /* would enlarge the picture: no more detail than the whole frame */
    /* Windows per axis: half a window apart, the first at 0, the last at the end. */
    int nl = (int)ceil(2.0 * longer / side) - 1, ns = (int)ceil(2.0 * shorter / side) - 1;
    if (nl < 1)
        nl = 1;
    if (ns < 1)
        ns = 1;
    if (nl * ns <= 1 || nl * ns > cap)
        return 0;
    int nx = w >= h ? nl : ns, ny = w >= h ? ns : nl;
    int n = 0;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            double x0 = nx > 1 ? (w - side) * i / (nx - 1) : (w - side) / 2;
            double y0 = ny > 1 ? (h - side) * j / (ny - 1) : (h - side) / 2;
            out[n].cx = (float)((x0 + side / 2) / w);
            out[n].cy = (float)((y0 + side / 2) / h);
            out[n].w = (float)(side / w);
            out[n].h = (float)(side / h);
            out[n].rotation = 0.0f;
            n++;
        }
    return n;
}

/* Runs the detector on `windows` of the current frame, TILE_BATCH at a time, and
 * appends each window's detections, mapped back to the picture, to t->tile_cand
 * (*nc of them so far). */
static cr_status detect_windows(pose_tracker *t, const pose_rect *windows, int n, int *nc,
                                cr_err *err)
{
    const size_t in_size = (size_t)POSE_DET_INPUT * POSE_DET_INPUT * 3;
    const size_t box_size = (size_t)POSE_NUM_ANCHORS * POSE_DET_COORDS;
    pose_tracker *owner = owner_of(t);
    /* Made the first time a tracker sharing it searches, not when tiles are turned on:
     * most videos show their player at once and never search, and the batch's weights
     * and activations (~14 MB) would be made for nothing in every worker. */
    if (owner->det_tiles == NULL) {
        cr_status st = engine_create_from(owner->eng, owner->det_model, det_outputs, 2,
                                          owner->threads, TILE_BATCH, &owner->det_tiles, err);
        if (st != CR_OK)
            return st;
    }
    engine *tiles = owner->det_tiles;
    for (int first = 0; first < n; first += TILE_BATCH) {
        int m = n - first < TILE_BATCH ? n - first : TILE_BATCH;
        float *in = engine_input(tiles, NULL);
        for (int i = 0; i < TILE_BATCH; i++) {
            float *dst = in + in_size * i;
            if (i >= m) { /* an unused slot: any input will do, its output is ignored */
                for (size_t k = 0; k < in_size; k++)
                    dst[k] = -1.0f;
                continue;
            }
            cr_status st = crop_frame(t, &windows[first + i], POSE_DET_INPUT, POSE_DET_INPUT,
                                      POSE_BORDER_ZERO, 2.0f / 255.0f, -1.0f, dst, err);
            if (st != CR_OK)
                return st;
        }
        cr_status st = engine_run(tiles, err);
        if (st != CR_OK)
            return st;
        t->stats.tile_windows += m;
        const float *boxes = output(tiles, "Identity", box_size * TILE_BATCH, err);
        const float *logits =
            output(tiles, "Identity_1", (size_t)POSE_NUM_ANCHORS * TILE_BATCH, err);
        if (boxes == NULL || logits == NULL)
            return err != NULL ? err->code : CR_ERR_INTERNAL;
        for (int i = 0; i < m; i++) {
            const pose_rect *win = &windows[first + i];
            int k =
                pose_detector_decode(boxes + box_size * i, logits + (size_t)POSE_NUM_ANCHORS * i,
                                     t->anchors, POSE_NUM_ANCHORS, (float)POSE_DET_MIN_SCORE,
                                     t->tile_cand + *nc, POSE_NUM_ANCHORS - *nc);
            /* Window-normalized -> picture-normalized. */
            float x0 = win->cx - win->w / 2, y0 = win->cy - win->h / 2;
            for (int d = *nc; d < *nc + k; d++) {
                pose_detection *p = &t->tile_cand[d];
                p->xmin = x0 + p->xmin * win->w;
                p->ymin = y0 + p->ymin * win->h;
                p->w *= win->w;
                p->h *= win->h;
                for (int q = 0; q < POSE_DET_KEYPOINTS; q++) {
                    p->kp[q][0] = x0 + p->kp[q][0] * win->w;
                    p->kp[q][1] = y0 + p->kp[q][1] * win->h;
                }
            }
            *nc += k;
        }
    }
    return CR_OK;
}

/* Tiled detection: stage 1, then stage 2 if stage 1 found nobody; the detections of
 * a stage's windows (and `prior`, those of the whole frame) merged by the same
 * weighted NMS.  Writes up to `cap`, best first. */
static cr_status detect_tiled(pose_tracker *t, int w, int h, const pose_detection *prior,
                              int nprior, pose_detection *dets, int cap, int *n, cr_err *err)
{
    *n = 0;
    t->stats.tile_searches++;
    for (int stage = 1; stage <= 2; stage++) {
        pose_rect windows[TILE_MAX_WINDOWS];
        int nw = tile_windows(w, h, stage, windows, TILE_MAX_WINDOWS);
        if (nw == 0)
            continue;
        int nc = nprior;
        memcpy(t->tile_cand, prior, sizeof *prior * (size_t)nprior);
        cr_status st = detect_windows(t, windows, nw, &nc, err);
        if (st != CR_OK)
            return st;
        *n = pose_nms_weighted(t->tile_cand, nc, (float)POSE_NMS_IOU, dets, cap);
        if (*n > nprior)
            return CR_OK;
    }
    return CR_OK;
}

/* Distance, in pixels, from (x, y) (normalized) to a detection's box (0 inside it). */
static double box_distance(const pose_detection *d, float x, float y, int w, int h)
{
    double dx = fmax(fmax(d->xmin - x, x - (d->xmin + d->w)), 0.0) * w;
    double dy = fmax(fmax(d->ymin - y, y - (d->ymin + d->h)), 0.0) * h;
    return hypot(dx, dy);
}

/* The detection to follow: the strongest (MediaPipe's choice), or with a subject the
 * one whose box is nearest the subject's last tracked position, else the hint point. */
static int pick(const pose_tracker *t, const pose_detection *dets, int n, int w, int h,
                double *dist)
{
    *dist = 0.0;
    if (!t->subject || n <= 0)
        return 0;
    float x = t->have_last ? t->last_x : t->subject_x;
    float y = t->have_last ? t->last_y : t->subject_y;
    int best = 0;
    *dist = INFINITY;
    for (int i = 0; i < n; i++) {
        double d = box_distance(&dets[i], x, y, w, h);
        /* equal distances (inside two boxes): the box centre nearer the point wins */
        double cx = (dets[i].xmin + dets[i].w / 2 - x) * w,
               cy = (dets[i].ymin + dets[i].h / 2 - y) * h;
        double bx = (dets[best].xmin + dets[best].w / 2 - x) * w;
        double by = (dets[best].ymin + dets[best].h / 2 - y) * h;
        if (d < *dist || (d == *dist && hypot(cx, cy) < hypot(bx, by))) {
            *dist = d;
            best = i;
        }
    }
    return best;
}

/* Finds the person to track in the current frame (w x h displayed): the whole-frame
 * detector; then, with tiles, the tiled search when it found nobody (or, with a
 * subject, nobody at the point), subject to the backoff.  *n = 1 and *out when found. */
static cr_status find_person(pose_tracker *t, int w, int h, pose_detection *out, int *n,
                             cr_err *err)
{
    pose_detection dets[MAX_PEOPLE];
    int nd = 0;
    *n = 0;
    cr_status st = detect_frame(t, dets, MAX_PEOPLE, &nd, err);
    if (st != CR_OK)
        return st;
    double dist;
    int best = pick(t, dets, nd, w, h, &dist);
    int missing = nd == 0 || (t->subject && dist > 0.0);
    if (missing && t->tiles) {
        if (t->tile_skip > 0) {
            t->tile_skip--;
        } else {
            int nt = 0;
            pose_detection tiled[MAX_PEOPLE];
            st = detect_tiled(t, w, h, dets, nd, tiled, MAX_PEOPLE, &nt, err);
            if (st != CR_OK)
                return st;
            if (nt > nd) {
                memcpy(dets, tiled, sizeof tiled[0] * (size_t)nt);
                nd = nt;
                best = pick(t, dets, nd, w, h, &dist);
                t->tile_backoff = 1;
            } else {
                t->tile_skip = t->tile_backoff;
                t->tile_backoff =
                    t->tile_backoff * 2 > TILE_MAX_SKIP ? TILE_MAX_SKIP : t->tile_backoff * 2;
            }
        }
    }
    if (nd > 0) {
        *out = dets[best];
        *n = 1;
        t->tile_skip = 0;
    }
    return CR_OK;
}

static void smooth(pose_tracker *t, pose_landmark *lm, int w, int h, int64_t ts_ns)
{
    /* Object scale (pose_landmark_filtering): the mean side in pixels of the alignment
     * rectangle of the unfiltered aux points -- AlignmentPointsRectsCalculator alone, without
     * the 1.25 RectTransformation of the tracking ROI.  (With the 1.25 the landmarks drifted
     * from MediaPipe's by up to 0.8 % of the person's box per frame; without, 0.00 %.) */
    const pose_landmark *a = &lm[POSE_LM_AUX0];
    pose_rect r = pose_rect_from_points(a[0].x, a[0].y, a[1].x, a[1].y, w, h);
    double object = ((double)r.w * w + (double)r.h * h) / 2.0 / POSE_ROI_SCALE;
    if (object >= MIN_OBJECT_SCALE) {
        double scale = 1.0 / object;
        for (int i = 0; i < POSE_LM_BODY + 2; i++) {
            pose_one_euro *f = i < POSE_LM_BODY ? t->lm_f[i] : t->aux_f[i - POSE_LM_BODY];
            lm[i].x = (float)(pose_one_euro_apply(&f[0], ts_ns, scale, (double)lm[i].x * w) / w);
            lm[i].y = (float)(pose_one_euro_apply(&f[1], ts_ns, scale, (double)lm[i].y * h) / h);
            lm[i].z = (float)(pose_one_euro_apply(&f[2], ts_ns, scale, (double)lm[i].z * w) / w);
        }
    }
    for (int i = 0; i < POSE_LM_BODY; i++)
        lm[i].visibility =
            (float)pose_lowpass_apply(&t->vis_f[i], VISIBILITY_ALPHA, lm[i].visibility);
    t->filters_live = 1;
}

static void smooth_world(pose_tracker *t, pose_landmark *wl, int64_t ts_ns)
{
    for (int i = 0; i < POSE_LM_BODY; i++) {
        wl[i].x = (float)pose_one_euro_apply(&t->world_f[i][0], ts_ns, 1.0, wl[i].x);
        wl[i].y = (float)pose_one_euro_apply(&t->world_f[i][1], ts_ns, 1.0, wl[i].y);
        wl[i].z = (float)pose_one_euro_apply(&t->world_f[i][2], ts_ns, 1.0, wl[i].z);
    }
}

static void lost(pose_tracker *t, pose_result *out)
{
    out->detected = 0;
    memset(out->landmarks, 0, sizeof out->landmarks);
    memset(out->world, 0, sizeof out->world);
    track_reset(t);
}

cr_status pose_track_frame(pose_tracker *t, const uint8_t *rgb, int w, int h, int stride,
                           int64_t timestamp_us, pose_result *out, cr_err *err)
{
    pose_image img = rgb_image(rgb, w, h, stride);
    return pose_track_image(t, &img, timestamp_us, out, err);
}

cr_status pose_track_image(pose_tracker *t, const pose_image *img, int64_t timestamp_us,
                           pose_result *out, cr_err *err)
{
    return pose_track_images(t, img, NULL, timestamp_us, out, err);
}

cr_status pose_track_begin(pose_tracker *t, const pose_image *img, const pose_image *coarse,
                           float *lm_input, pose_result *out, int *need_lm, cr_err *err)
{
    memset(out, 0, sizeof *out);
    *need_lm = 0;
    cr_status st = check_image(img, err);
    if (st != CR_OK)
        return st;
    if (coarse != NULL && ((st = check_image(coarse, err)) != CR_OK))
        return st;
    if (coarse != NULL && (coarse->format != POSE_PIX_RGB24 || coarse->rotation != 0))
        return cr_err_set(err, CR_ERR_INVALID,
                          "pose: the coarse picture must be RGB24 as displayed (rotation 0)");
    int w, h;
    pose_image_display_size(img, &w, &h);
    frame_begin(t, img, coarse);
    if (w != t->last_w || h != t->last_h)
        pose_tracker_reset(t);
    else if (t->mode == POSE_MODE_STATIC)
        track_reset(t);
    t->last_w = w;
    t->last_h = h;

    pose_rect roi;
    if (t->have_roi) {
        roi = t->roi;
    } else {
        pose_detection det;
        int n = 0;
        st = find_person(t, w, h, &det, &n, err);
        if (st != CR_OK) {
            pose_track_abort(t, out);
            return st;
        }
        out->detector_ran = 1;
        if (n == 0) {
            lost(t, out);
            t->stats.frames++;
            return CR_OK;
        }
        /* pose_detection_to_roi: keypoint 0 (hip centre) and 1 (scale/rotation). */
        roi = pose_rect_from_points(det.kp[0][0], det.kp[0][1], det.kp[1][0], det.kp[1][1], w, h);
    }
    out->roi = roi;

    /* pose_landmark_by_roi: 256x256, [0,1], border replicate. */
    st = crop_frame(t, &roi, POSE_LM_INPUT, POSE_LM_INPUT, POSE_BORDER_REPLICATE, 1.0f / 255.0f,
                    0.0f, lm_input, err);
    if (st != CR_OK) {
        pose_track_abort(t, out);
        return st;
    }
    *need_lm = 1;
    return CR_OK;
}

cr_status pose_lm_outputs_of(pose_tracker *t, engine *lm, int item, pose_lm_outputs *o, cr_err *err)
{
    const pose_tracker *owner = owner_of(t);
    const engine_pointwise *head = owner->hm_head.input != NULL ? &owner->hm_head : NULL;
    size_t n = (size_t)engine_batch(lm);
    const size_t raw_n = POSE_LM_ALL * 5, world_n = POSE_LM_ALL * 3,
                 hm_n = (size_t)POSE_HEATMAP * POSE_HEATMAP *
                        (size_t)(head != NULL ? head->c_in : POSE_LM_ALL);
    const float *raw = output(lm, "Identity", raw_n * n, err);
    const float *flag = output(lm, "Identity_1", n, err);
    const float *hm = output(lm, owner->lm_out[2], hm_n * n, err);
    const float *world = output(lm, "Identity_4", world_n * n, err);
    if (raw == NULL || flag == NULL || hm == NULL || world == NULL)
        return err != NULL ? err->code : CR_ERR_INTERNAL;
    o->raw = raw + raw_n * (size_t)item;
    o->flag = flag + item;
    o->heatmap = hm + hm_n * (size_t)item;
    o->head = head;
    o->world = world + world_n * (size_t)item;
    return CR_OK;
}

void pose_track_abort(pose_tracker *t, pose_result *out)
{
    pose_tracker_reset(t);
    memset(out, 0, sizeof *out);
}

void pose_track_end(pose_tracker *t, const pose_lm_outputs *o, int64_t timestamp_us,
                    pose_result *out)
{
    int w = t->last_w, h = t->last_h;
    pose_rect roi = out->roi;
    t->stats.landmark_runs++;
    out->score = o->flag[0];
    if (!(o->flag[0] > POSE_FLAG_THRESHOLD)) {
        lost(t, out);
        t->stats.frames++;
        return;
    }

    pose_landmark lm[POSE_LM_ALL];
    pose_landmarks_decode(o->raw, POSE_LM_ALL, lm);
    if (o->head != NULL)
        pose_landmarks_refine_from_features(lm, POSE_LM_ALL, o->heatmap, POSE_HEATMAP, POSE_HEATMAP,
                                            o->head, POSE_REFINE_KERNEL, POSE_REFINE_MIN_CONF);
    else
        pose_landmarks_refine(lm, POSE_LM_ALL, o->heatmap, POSE_HEATMAP, POSE_HEATMAP, POSE_LM_ALL,
                              POSE_REFINE_KERNEL, POSE_REFINE_MIN_CONF);
    pose_landmarks_project(lm, POSE_LM_ALL, &roi);
    pose_landmark wl[POSE_LM_BODY];
    pose_world_decode(o->world, POSE_LM_BODY, &roi, wl);

    int64_t ts_ns = timestamp_us * 1000;
    if (t->mode == POSE_MODE_VIDEO) {
        smooth(t, lm, w, h, ts_ns);
        smooth_world(t, wl, ts_ns);
        const pose_landmark *a = &lm[POSE_LM_AUX0];
        t->roi = pose_rect_from_points(a[0].x, a[0].y, a[1].x, a[1].y, w, h);
        t->have_roi = 1;
    }
    t->have_last = 1;
    t->last_x = roi.cx;
    t->last_y = roi.cy;
    for (int i = 0; i < POSE_LM_BODY; i++) {
        out->landmarks[i] = lm[i];
        wl[i].visibility = lm[i].visibility;
        wl[i].presence = lm[i].presence;
        out->world[i] = wl[i];
    }
    out->detected = 1;
    t->stats.frames++;
    t->stats.frames_detected++;
}

cr_status pose_track_images(pose_tracker *t, const pose_image *img, const pose_image *coarse,
                            int64_t timestamp_us, pose_result *out, cr_err *err)
{
    int need_lm = 0;
    cr_status st = pose_track_begin(t, img, coarse, engine_input(t->lm, NULL), out, &need_lm, err);
    if (st != CR_OK || !need_lm)
        return st;
    pose_lm_outputs o;
    if ((st = engine_run(t->lm, err)) != CR_OK ||
        (st = pose_lm_outputs_of(t, t->lm, 0, &o, err)) != CR_OK) {
        pose_track_abort(t, out);
        return st;
    }
    pose_track_end(t, &o, timestamp_us, out);
    return CR_OK;
}
