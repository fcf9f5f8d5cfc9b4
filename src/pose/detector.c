/*
 * detector.c -- BlazePose detector post-processing: SSD anchors, box decoding and
 * MediaPipe's weighted non-maximum suppression (pose_detection_cpu graph).
 */
#include "pose/blazepose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* SsdAnchorsCalculator options of pose_detection_cpu. */
#define ANCHOR_LAYERS 5
static const int anchor_strides[ANCHOR_LAYERS] = {8, 16, 32, 32, 32};
#define ANCHOR_OFFSET 0.5f

int pose_anchors_generate(pose_anchor *out, int cap)
{
    if (cap < POSE_NUM_ANCHORS)
        return 0;
    int n = 0;
    int layer = 0;
    while (layer < ANCHOR_LAYERS) {
        /* Layers that share a stride share one feature map; each layer adds two anchors
         * per cell (aspect ratio 1 and the interpolated scale, aspect 1).  With
         * fixed_anchor_size the scales do not matter: every anchor is 1x1. */
        int per_cell = 0;
        int last = layer;
        while (last < ANCHOR_LAYERS && anchor_strides[last] == anchor_strides[layer]) {
            per_cell += 2;
            last++;
        }
        int stride = anchor_strides[layer];
        int fm = (POSE_DET_INPUT + stride - 1) / stride; /* ceil(224 / stride) */
        for (int y = 0; y < fm; y++) {
            for (int x = 0; x < fm; x++) {
                for (int a = 0; a < per_cell; a++) {
                    out[n].x = ((float)x + ANCHOR_OFFSET) / (float)fm;
                    out[n].y = ((float)y + ANCHOR_OFFSET) / (float)fm;
                    out[n].w = 1.0f;
                    out[n].h = 1.0f;
                    n++;
                }
            }
        }
        layer = last;
    }
    return n;
}

static float clipped_sigmoid(float logit)
{
    double v = logit;
    if (v < -POSE_DET_SCORE_CLIP)
        v = -POSE_DET_SCORE_CLIP;
    if (v > POSE_DET_SCORE_CLIP)
        v = POSE_DET_SCORE_CLIP;
    return (float)(1.0 / (1.0 + exp(-v)));
}

int pose_detector_decode(const float *boxes, const float *logits, const pose_anchor *anchors, int n,
                         float min_score, pose_detection *out, int cap)
{
    const float scale = (float)POSE_DET_INPUT; /* x_scale = y_scale = w_scale = h_scale */
    int count = 0;
    for (int i = 0; i < n && count < cap; i++) {
        float score = clipped_sigmoid(logits[i]);
        if (!(score >= min_score))
            continue;
        const float *r = boxes + (size_t)i * POSE_DET_COORDS;
        const pose_anchor *a = &anchors[i];
        float xc = r[0] / scale * a->w + a->x;
        float yc = r[1] / scale * a->h + a->y;
        float w = r[2] / scale * a->w;
        float h = r[3] / scale * a->h;
        /* TensorsToDetectionsCalculator drops negative or NaN sizes (b/171391719). */
        if (!(w >= 0.0f) || !(h >= 0.0f) || !isfinite(xc) || !isfinite(yc))
            continue;
        pose_detection *d = &out[count++];
        d->xmin = xc - w / 2.0f;
        d->ymin = yc - h / 2.0f;
        d->w = w;
        d->h = h;
        for (int k = 0; k < POSE_DET_KEYPOINTS; k++) {
            d->kp[k][0] = r[4 + 2 * k] / scale * a->w + a->x;
            d->kp[k][1] = r[4 + 2 * k + 1] / scale * a->h + a->y;
        }
        d->score = score;
    }
    return count;
}

float pose_detection_iou(const pose_detection *a, const pose_detection *b)
{
    float x0 = fmaxf(a->xmin, b->xmin), y0 = fmaxf(a->ymin, b->ymin);
    float x1 = fminf(a->xmin + a->w, b->xmin + b->w), y1 = fminf(a->ymin + a->h, b->ymin + b->h);
    if (!(x1 > x0) || !(y1 > y0))
        return 0.0f;
    float inter = (x1 - x0) * (y1 - y0);
    float uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

static int by_score_desc(const void *pa, const void *pb)
{
    const pose_detection *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

int pose_nms_weighted(pose_detection *dets, int n, float iou, pose_detection *out, int cap)
{
    if (n <= 0 || cap <= 0)
        return 0;
    qsort(dets, (size_t)n, sizeof *dets, by_score_desc);
    /* `remaining` compacts dets in place: the survivors of each round move to the front,
     * keeping their score order. */
    int remaining = n;
    int count = 0;
    while (remaining > 0 && count < cap) {
        pose_detection top = dets[0];
        double total = 0.0, xmin = 0.0, ymin = 0.0, xmax = 0.0, ymax = 0.0;
        double kp[POSE_DET_KEYPOINTS][2] = {{0}};
        int kept = 0;
        for (int i = 0; i < remaining; i++) {
            pose_detection c = dets[i];
            if (pose_detection_iou(&c, &top) > iou) {
                double s = c.score;
                total += s;
                xmin += c.xmin * s;
                ymin += c.ymin * s;
                xmax += (c.xmin + c.w) * s;
                ymax += (c.ymin + c.h) * s;
                for (int k = 0; k < POSE_DET_KEYPOINTS; k++) {
                    kp[k][0] += c.kp[k][0] * s;
                    kp[k][1] += c.kp[k][1] * s;
                }
            } else {
                dets[kept++] = c;
            }
        }
        pose_detection w = top;
        if (total > 0.0) {
            w.xmin = (float)(xmin / total);
            w.ymin = (float)(ymin / total);
            w.w = (float)(xmax / total) - w.xmin;
            w.h = (float)(ymax / total) - w.ymin;
            for (int k = 0; k < POSE_DET_KEYPOINTS; k++) {
                w.kp[k][0] = (float)(kp[k][0] / total);
                w.kp[k][1] = (float)(kp[k][1] / total);
            }
        }
        out[count++] = w;
        if (kept == remaining) {
            /* The top box overlapped nothing, not even itself (zero size): drop it. */
            kept = remaining - 1;
            memmove(dets, dets + 1, sizeof *dets * (size_t)kept);
        }
        remaining = kept;
    }
    return count;
}
