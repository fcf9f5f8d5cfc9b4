/*
 * test_blazepose_unit.c -- the BlazePose building blocks without a model: anchors,
 * detection decoding, weighted NMS, letterbox, ROI maths, crops, heatmap
 * refinement, projection, One Euro, and the chunk JSON of a result.
 */
#include "check.h"
#include "pose/blazepose.h"
#include "pose/pose_int.h"
#include "pose/pose_json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

static void test_anchors(void)
{
    static pose_anchor a[POSE_NUM_ANCHORS];
    CHECK_INT_EQ(pose_anchors_generate(a, POSE_NUM_ANCHORS - 1), 0);
    CHECK_INT_EQ(pose_anchors_generate(a, POSE_NUM_ANCHORS), 2254);
    /* First: stride 8, cell (0,0) of 28x28, two anchors. */
    CHECK_NEAR(a[0].x, 0.5 / 28, 1e-7);
    CHECK_NEAR(a[0].y, 0.5 / 28, 1e-7);
    CHECK_NEAR(a[1].x, 0.5 / 28, 1e-7);
    CHECK_NEAR(a[2].x, 1.5 / 28, 1e-7); /* order: y, x, anchor */
    CHECK_NEAR(a[0].w, 1.0, 0);
    CHECK_NEAR(a[0].h, 1.0, 0);
    /* Stride 8 ends at 1568, stride 16 (14x14x2) at 1960, then 7x7x6. */
    CHECK_NEAR(a[1567].x, 27.5 / 28, 1e-6);
    CHECK_NEAR(a[1567].y, 27.5 / 28, 1e-6);
    CHECK_NEAR(a[1568].x, 0.5 / 14, 1e-7);
    CHECK_NEAR(a[1960].x, 0.5 / 7, 1e-7);
    CHECK_NEAR(a[1965].x, 0.5 / 7, 1e-7);
    CHECK_NEAR(a[1966].x, 1.5 / 7, 1e-7);
    /* Last. */
    CHECK_NEAR(a[2253].x, 6.5 / 7, 1e-6);
    CHECK_NEAR(a[2253].y, 6.5 / 7, 1e-6);
}

static void test_decode(void)
{
    pose_anchor anchors[3] = {{0.5f, 0.5f, 1, 1}, {0.25f, 0.75f, 1, 1}, {0.1f, 0.1f, 1, 1}};
    float boxes[3 * 12] = {0};
    float logits[3] = {2.0f, 500.0f, -1.0f};
    /* Anchor 0: box centred 22.4 px right of the anchor, 112 px wide, 56 tall. */
    boxes[0] = 22.4f, boxes[1] = 0, boxes[2] = 112, boxes[3] = 56;
    boxes[4] = -22.4f, boxes[5] = 44.8f; /* keypoint 0 */
    /* Anchor 1: negative width -> dropped. */
    boxes[12 + 2] = -1;
    boxes[12 + 3] = 10;
    pose_detection d[3];
    int n = pose_detector_decode(boxes, logits, anchors, 3, 0.5f, d, 3);
    CHECK_INT_EQ(n, 1);
    CHECK_NEAR(d[0].score, 1.0 / (1.0 + exp(-2.0)), 1e-6);
    CHECK_NEAR(d[0].w, 0.5, 1e-6);
    CHECK_NEAR(d[0].h, 0.25, 1e-6);
    CHECK_NEAR(d[0].xmin, 0.6 - 0.25, 1e-6);
    CHECK_NEAR(d[0].ymin, 0.5 - 0.125, 1e-6);
    CHECK_NEAR(d[0].kp[0][0], 0.4, 1e-6);
    CHECK_NEAR(d[0].kp[0][1], 0.7, 1e-6);
    /* The clip at +-100: a logit of 500 is sigmoid(100) = 1; a good box is kept. */
    boxes[12 + 2] = 10;
    n = pose_detector_decode(boxes, logits, anchors, 3, 0.5f, d, 3);
    CHECK_INT_EQ(n, 2);
    CHECK_NEAR(d[1].score, 1.0, 1e-6);
    CHECK(isfinite(d[1].score));
    /* cap respected */
    CHECK_INT_EQ(pose_detector_decode(boxes, logits, anchors, 3, 0.5f, d, 1), 1);
}

static pose_detection box(float x, float y, float w, float h, float score, float kx)
{
    pose_detection d = {x, y, w, h, {{kx, kx}, {kx, kx}, {kx, kx}, {kx, kx}}, score};
    return d;
}

static void test_nms(void)
{
    /* IoU basics. */
    pose_detection a = box(0, 0, 1, 1, 1, 0), b = box(0.5f, 0, 1, 1, 1, 0);
    CHECK_NEAR(pose_detection_iou(&a, &b), 0.5 / 1.5, 1e-6);
    b = box(2, 2, 1, 1, 1, 0);
    CHECK_NEAR(pose_detection_iou(&a, &b), 0.0, 0);

    /* Two overlapping boxes (IoU 0.6 > 0.3) and one apart. */
    pose_detection d[3] = {box(0.1f, 0.1f, 0.4f, 0.4f, 0.6f, 0.2f),
                           box(0.9f, 0.9f, 0.1f, 0.1f, 0.7f, 0.9f),
                           box(0.125f, 0.1f, 0.4f, 0.4f, 0.9f, 0.4f)};
    pose_detection out[3];
    int n = pose_nms_weighted(d, 3, 0.3f, out, 3);
    CHECK_INT_EQ(n, 2);
    /* Best first, its score kept, box and keypoints the score-weighted mean. */
    CHECK_NEAR(out[0].score, 0.9, 1e-6);
    CHECK_NEAR(out[0].xmin, (0.125 * 0.9 + 0.1 * 0.6) / 1.5, 1e-6);
    CHECK_NEAR(out[0].w, 0.4, 1e-6);
    CHECK_NEAR(out[0].kp[2][0], (0.4 * 0.9 + 0.2 * 0.6) / 1.5, 1e-6);
    CHECK_NEAR(out[1].score, 0.7, 1e-6);
    CHECK_NEAR(out[1].xmin, 0.9, 1e-6);
    /* IoU exactly below the threshold keeps both; max 1 output respected. */
    pose_detection e[2] = {box(0, 0, 1, 1, 0.8f, 0), box(0.8f, 0, 1, 1, 0.9f, 1)};
    CHECK_INT_EQ(pose_nms_weighted(e, 2, 0.3f, out, 3), 2); /* IoU 0.2/1.8 */
    CHECK_NEAR(out[0].kp[0][0], 1.0, 1e-6);                 /* not averaged */
    pose_detection f[2] = {box(0, 0, 1, 1, 0.8f, 0), box(0.8f, 0, 1, 1, 0.9f, 1)};
    CHECK_INT_EQ(pose_nms_weighted(f, 2, 0.3f, out, 1), 1);
    /* A zero-size box never loops forever. */
    pose_detection z[2] = {box(0.5f, 0.5f, 0, 0, 0.9f, 0), box(0, 0, 0.2f, 0.2f, 0.8f, 0)};
    CHECK_INT_EQ(pose_nms_weighted(z, 2, 0.3f, out, 3), 2);
    CHECK_INT_EQ(pose_nms_weighted(z, 0, 0.3f, out, 3), 0);
}

static void test_letterbox_roi(void)
{
    pose_rect r;
    pose_padding p;
    /* 800x533 (cold_water.jpg): square ROI of 800 px, vertical padding. */
    pose_letterbox(800, 533, 224, 224, &r, &p);
    CHECK_NEAR(r.w, 1.0, 1e-6);
    CHECK_NEAR(r.h, 800.0 / 533.0, 1e-6);
    CHECK_NEAR(p.left, 0.0, 1e-7);
    CHECK_NEAR(p.top, (1.0 - 533.0 / 800.0) / 2, 1e-6);
    pose_detection d = box(0.25f, p.top, 0.5f, 0.5f, 1, 0.5f);
    pose_detection_unletterbox(&d, &p);
    CHECK_NEAR(d.xmin, 0.25, 1e-6);
    CHECK_NEAR(d.ymin, 0.0, 1e-6);
    CHECK_NEAR(d.h, 0.5 * 800.0 / 533.0, 1e-5);
    CHECK_NEAR(d.kp[0][1], 0.5, 1e-6); /* the centre stays the centre */
    /* Portrait: horizontal padding. */
    pose_letterbox(300, 600, 224, 224, &r, &p);
    CHECK_NEAR(p.left, 0.25, 1e-6);
    CHECK_NEAR(p.top, 0.0, 1e-7);
    CHECK_NEAR(r.w, 2.0, 1e-6);

    /* normalize_radians into [-pi, pi). */
    CHECK_NEAR(pose_normalize_radians(3 * (float)PI / 2), -PI / 2, 1e-5);
    CHECK_NEAR(pose_normalize_radians((float)PI), -PI, 1e-5);
    CHECK_NEAR(pose_normalize_radians(0.5f), 0.5, 1e-6);
    CHECK_NEAR(pose_normalize_radians(-7.0f), -7.0 + 2 * PI, 1e-5);

    /* Upright person: p1 straight above p0 -> rotation 0. 100 px apart in a 400x200
     * image: box 200 px, x1.25 = 250 px -> w = 250/400, h = 250/200. */
    r = pose_rect_from_points(0.5f, 0.75f, 0.5f, 0.25f, 400, 200);
    CHECK_NEAR(r.rotation, 0.0, 1e-6);
    CHECK_NEAR(r.cx, 0.5, 0);
    CHECK_NEAR(r.cy, 0.75, 0);
    CHECK_NEAR(r.w, 250.0 / 400, 1e-6);
    CHECK_NEAR(r.h, 250.0 / 200, 1e-6);
    /* p1 to the right of p0 (person lying, head right): rotation +pi/2. */
    r = pose_rect_from_points(0.25f, 0.5f, 0.5f, 0.5f, 400, 200);
    CHECK_NEAR(r.rotation, PI / 2, 1e-6);
    CHECK_NEAR(r.w * 400, 2 * 100 * 1.25, 1e-3);
    /* p1 to the left: -pi/2; p1 below: -pi (normalized into [-pi, pi)). */
    r = pose_rect_from_points(0.5f, 0.5f, 0.25f, 0.5f, 400, 200);
    CHECK_NEAR(r.rotation, -PI / 2, 1e-6);
    r = pose_rect_from_points(0.5f, 0.25f, 0.5f, 0.75f, 400, 200);
    CHECK_NEAR(fabs(r.rotation), PI, 1e-5);
    /* Non-square pixels: distance measured in pixels, 45 degrees. */
    r = pose_rect_from_points(0.5f, 0.5f, 0.5f + 0.1f, 0.5f - 0.2f, 400, 200);
    CHECK_NEAR(r.rotation, PI / 4, 1e-5);
}

static unsigned lcg_next(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 23;
}

static void test_crop(void)
{
    /* A 4x2 image; pixel value encodes position: R = 10*x, G = 10*y, B = 200. */
    uint8_t img[2 * 16];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) {
            img[y * 16 + x * 3] = (uint8_t)(10 * x);
            img[y * 16 + x * 3 + 1] = (uint8_t)(10 * y);
            img[y * 16 + x * 3 + 2] = 200;
        }
    /* The whole image to 4x2: pixel centres map to pixel centres: identity. */
    pose_rect r = {0.5f, 0.5f, 1, 1, 0};
    float out[4 * 2 * 3];
    pose_crop(img, 4, 2, 16, &r, 4, 2, POSE_BORDER_ZERO, 1, 0, out);
    CHECK_NEAR(out[0], 0, 0);
    CHECK_NEAR(out[3 * 3], 30, 0);
    CHECK_NEAR(out[(4 + 2) * 3 + 1], 10, 0);
    /* Upscale x2: output pixel u samples source x = (u + 1/2) / 2 - 1/2. */
    float up[8 * 4 * 3];
    pose_crop(img, 4, 2, 16, &r, 8, 4, POSE_BORDER_REPLICATE, 1, 0, up);
    CHECK_NEAR(up[0], 0, 1e-6);                     /* x = -0.25: clamped to the edge */
    CHECK_NEAR(up[1 * 3], 2.5, 1e-5);               /* x = 0.25 */
    CHECK_NEAR(up[2 * 3], 7.5, 1e-5);               /* x = 0.75 */
    CHECK_NEAR(up[7 * 3], 30, 1e-5);                /* x = 3.25: clamped */
    CHECK_NEAR(up[(3 * 8) * 3 + 1], 10, 1e-5);      /* y = 1.25: clamped */
    CHECK_NEAR(up[(1 * 8 + 2) * 3 + 1], 2.5, 1e-5); /* y = 0.25 */
    /* Zero border: a sample inside the image is clamped to the edge, one outside is 0. */
    pose_crop(img, 4, 2, 16, &r, 8, 4, POSE_BORDER_ZERO, 1, 0, up);
    CHECK_NEAR(up[7 * 3], 30, 1e-5);
    pose_rect right = {1.0f, 0.5f, 1, 1, 0}; /* shifted right by half the width */
    pose_crop(img, 4, 2, 16, &right, 4, 2, POSE_BORDER_ZERO, 2.0f / 255, -1, out);
    CHECK_NEAR(out[1 * 3], 30 * 2.0 / 255 - 1, 1e-6); /* x = 3.5 inside */
    CHECK_NEAR(out[2 * 3], -1, 1e-6);                 /* x = 4.5 outside -> 0 -> -1 */
    CHECK_NEAR(out[2 * 3 + 2], -1, 1e-6);
    pose_crop(img, 4, 2, 16, &right, 4, 2, POSE_BORDER_REPLICATE, 1, 0, out);
    CHECK_NEAR(out[2 * 3], 30, 1e-6);
    CHECK_NEAR(out[2 * 3 + 2], 200, 1e-6);
    /* Far outside is the border. */
    pose_rect far = {50, 50, 1, 1, 0};
    pose_crop(img, 4, 2, 16, &far, 2, 2, POSE_BORDER_ZERO, 2.0f / 255, -1, out);
    CHECK_NEAR(out[0], -1, 1e-6);
    pose_crop(img, 4, 2, 16, &far, 2, 2, POSE_BORDER_REPLICATE, 1, 0, out);
    CHECK_NEAR(out[0], 30, 0);
    CHECK_NEAR(out[1], 10, 0);
    /* Rotation by pi about the centre flips the image: output (0,0) samples (3.5, 1.5)
     * -> pixel (3, 1). */
    pose_rect rot = {0.5f, 0.5f, 1, 1, (float)PI};
    pose_crop(img, 4, 2, 16, &rot, 4, 2, POSE_BORDER_REPLICATE, 1, 0, out);
    CHECK_NEAR(out[0], 30, 1e-4);
    CHECK_NEAR(out[1], 10, 1e-4);
    CHECK_NEAR(out[7 * 3], 0, 1e-4);
    /* rotation pi/2 of a square image: output (u, v) samples source (v', ...) */
    uint8_t sq[3 * 9];
    for (int i = 0; i < 9; i++)
        sq[i * 3] = sq[i * 3 + 1] = sq[i * 3 + 2] = (uint8_t)(i * 20);
    pose_rect q = {0.5f, 0.5f, 1, 1, (float)(PI / 2)};
    float o9[27];
    pose_crop(sq, 3, 3, 9, &q, 3, 3, POSE_BORDER_REPLICATE, 1, 0, o9);
    /* pos = c + R(u + 1/2 - 1.5, v + 1/2 - 1.5) with R(+90deg): (x,y) -> (-y, x); output
     * (0,0) -> (1.5+1, 1.5-1) = (2.5, 0.5) -> pixel (2, 0) = value index 2. */
    CHECK_NEAR(o9[0], 40, 1e-4);
    CHECK_NEAR(o9[2 * 3], 160, 1e-4); /* (1, -1) -> (1, 1): pixel (2, 2) */
}

/* A rotated crop well inside a larger image (the kernel run of pose_crop) against a
 * direct evaluation of the same map: pixel centre (u+1/2, v+1/2) of the output goes
 * to centre + R(rotation) * ((u+1/2)/dst_w - 1/2) * roi size, sampled bilinearly. */
static void test_crop_inside(void)
{
    enum { W = 97, H = 61, S = W * 3 + 5, D = 16 };
    static uint8_t img[H * S];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof img; i++) {
        x = x * 1103515245u + 12345u;
        img[i] = (uint8_t)(x >> 23);
    }
    pose_rect r = {0.52f, 0.47f, 0.35f, 0.5f, 0.37f};
    static float out[D * D * 3];
    pose_crop(img, W, H, S, &r, D, D, POSE_BORDER_REPLICATE, 1.0f / 255, 0, out);
    double c = cos(r.rotation), s = sin(r.rotation), worst = 0;
    for (int v = 0; v < D; v++)
        for (int u = 0; u < D; u++) {
            double lx = ((u + 0.5) / D - 0.5) * r.w * W, ly = ((v + 0.5) / D - 0.5) * r.h * H;
            double px = r.cx * W + c * lx - s * ly - 0.5, py = r.cy * H + s * lx + c * ly - 0.5;
            int x0 = (int)floor(px), y0 = (int)floor(py);
            double tx = px - x0, ty = py - y0;
            for (int ch = 0; ch < 3; ch++) {
                double a = img[y0 * S + x0 * 3 + ch], b = img[y0 * S + (x0 + 1) * 3 + ch];
                double cc = img[(y0 + 1) * S + x0 * 3 + ch],
                       d = img[(y0 + 1) * S + (x0 + 1) * 3 + ch];
                double want = ((a + (b - a) * tx) * (1 - ty) + (cc + (d - cc) * tx) * ty) / 255;
                double got = out[(v * D + u) * 3 + ch];
                if (fabs(got - want) > worst)
                    worst = fabs(got - want);
            }
        }
    CHECK_MSG(worst < 1e-4, "inside crop differs from the direct map by %.3g", worst);
}

static void test_landmarks(void)
{
    /* Decode: 256-px units and sigmoid visibility/presence. */
    float raw[2 * 5] = {128, 64, -25.6f, 0, 100, 0, 256, 0, -100, 0};
    pose_landmark lm[2];
    pose_landmarks_decode(raw, 2, lm);
    CHECK_NEAR(lm[0].x, 0.5, 1e-7);
    CHECK_NEAR(lm[0].y, 0.25, 1e-7);
    CHECK_NEAR(lm[0].z, -0.1, 1e-7);
    CHECK_NEAR(lm[0].visibility, 0.5, 1e-7);
    CHECK_NEAR(lm[0].presence, 1.0, 1e-6);
    CHECK_NEAR(lm[1].visibility, 0.0, 1e-6);

    /* Heatmap refinement on a 16x16x2 map: channel 0 has a confident 3x1 blob
     * around column 6..8, row 4; channel 1 is all weak (max < 0.5): unchanged. */
    enum { H = 16, C = 2 };
    static float hm[H * H * C];
    for (int i = 0; i < H * H * C; i++)
        hm[i] = -20.0f;         /* sigmoid ~ 0 */
    hm[(4 * H + 6) * C] = 0.0f; /* 0.5 */
    hm[(4 * H + 7) * C] = 3.0f; /* 0.95 */
    hm[(4 * H + 8) * C] = 0.0f;
    hm[(10 * H + 10) * C + 1] = -0.5f; /* 0.38 < 0.5 */
    pose_landmark p[2] = {{7.5f / H, 5.2f / H, 0, 0, 0}, {10.2f / H, 10.2f / H, 0, 0, 0}};
    pose_landmarks_refine(p, 2, hm, H, H, C, 7, 0.5f);
    CHECK_NEAR(p[0].x, 7.0 / H, 1e-4); /* symmetric blob: column 7 (no half-pixel) */
    CHECK_NEAR(p[0].y, 4.0 / H, 1e-4);
    CHECK_NEAR(p[1].x, 10.2 / H, 1e-7);
    /* Outside the heatmap: unchanged. */
    pose_landmark o = {1.5f, 0.5f, 0, 0, 0};
    pose_landmarks_refine(&o, 1, hm, H, H, C, 7, 0.5f);
    CHECK_NEAR(o.x, 1.5, 0);

    /* Projection: a point right of the crop centre, ROI rotated +90 degrees in a
     * 200x100 image, ROI 50 px square centred at (100, 50). */
    pose_rect roi = {0.5f, 0.5f, 0.25f, 0.5f, (float)(PI / 2)};
    pose_landmark q = {0.75f, 0.5f, 0.1f, 0, 0};
    pose_landmarks_project(&q, 1, &roi);
    /* crop +x (12.5 px) rotates to image +y: (100, 62.5). */
    CHECK_NEAR(q.x * 200, 100, 1e-4);
    CHECK_NEAR(q.y * 100, 62.5, 1e-4);
    CHECK_NEAR(q.z, 0.025, 1e-7);
    float wraw[3] = {1, 0, 0.5f};
    pose_landmark w;
    pose_world_decode(wraw, 1, &roi, &w);
    CHECK_NEAR(w.x, 0, 1e-6);
    CHECK_NEAR(w.y, 1, 1e-6);
    CHECK_NEAR(w.z, 0.5, 0);
    CHECK_STR_EQ(pose_landmark_names[0], "nose");
    CHECK_STR_EQ(pose_landmark_names[32], "right_foot_index");
    CHECK_STR_EQ(pose_landmark_names[23], "left_hip");
}

static void test_one_euro(void)
{
    pose_lowpass lp = {0};
    CHECK_NEAR(pose_lowpass_apply(&lp, 0.1, 1.0), 1.0, 0);
    CHECK_NEAR(pose_lowpass_apply(&lp, 0.1, 0.0), 0.9, 1e-12);
    CHECK_NEAR(pose_lowpass_apply(&lp, 0.1, 0.0), 0.81, 1e-12);

    pose_one_euro f;
    pose_one_euro_init(&f, 0.05, 80, 1);
    /* A timestamp of 0 first: passed through and not recorded (MediaPipe). */
    CHECK_NEAR(pose_one_euro_apply(&f, 0, 1, 5.0), 5.0, 0);
    CHECK(!f.x.initialized);
    /* First real value passes through. */
    CHECK_NEAR(pose_one_euro_apply(&f, 100000000, 0.01, 10.0), 10.0, 0);
    CHECK_NEAR(f.frequency, 30.0, 0);
    /* Second: frequency from dt = 0.1 s -> 10 Hz; by hand: */
    double v = pose_one_euro_apply(&f, 200000000, 0.01, 20.0);
    CHECK_NEAR(f.frequency, 10.0, 1e-9);
    double dval = (20.0 - 10.0) * 0.01 * 10.0; /* 1.0 per second (scaled) */
    double ad = 1.0 / (1.0 + (1.0 / (2 * PI * 1.0)) / 0.1);
    double ed = ad * dval + (1 - ad) * 0.0; /* previous derivative 0 */
    double cutoff = 0.05 + 80 * fabs(ed);
    double a = 1.0 / (1.0 + (1.0 / (2 * PI * cutoff)) / 0.1);
    CHECK_NEAR(v, a * 20.0 + (1 - a) * 10.0, 1e-9);
    /* A timestamp that does not advance returns the input untouched. */
    CHECK_NEAR(pose_one_euro_apply(&f, 200000000, 0.01, 77.0), 77.0, 0);
    /* A still signal converges to itself; a larger beta follows a ramp more closely. */
    pose_one_euro slow, fast;
    pose_one_euro_init(&slow, 0.05, 0, 1);
    pose_one_euro_init(&fast, 0.05, 80, 1);
    double es = 0, ef = 0;
    for (int i = 1; i <= 30; i++) {
        double x = 3.0 * i;
        es = x - pose_one_euro_apply(&slow, (int64_t)i * 100000000, 1.0 / 500, x);
        ef = x - pose_one_euro_apply(&fast, (int64_t)i * 100000000, 1.0 / 500, x);
    }
    CHECK_MSG(es > 10 * ef && ef > 0, "lag slow %g fast %g", es, ef);
}

static void test_json(void)
{
    pose_result r;
    memset(&r, 0, sizeof r);
    r.detected = 1;
    r.score = 0.9f;
    for (int i = 0; i < POSE_LM_BODY; i++) {
        r.landmarks[i] = (pose_landmark){i / 100.0f, 0.5f, -0.1f, 0.75f, 0.9f};
        r.world[i] = (pose_landmark){0.1f, -0.2f, i / 10.0f, 0.75f, 0.9f};
    }
    pose_frame_meta m = {37, 3.7, 2};
    json_t *p = pose_json_pose(&r, &m);
    CHECK(p != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(p, "frame_num")), 37);
    CHECK_INT_EQ(json_integer_value(json_object_get(p, "timestamp_ms")), 3700);
    CHECK_INT_EQ(json_integer_value(json_object_get(p, "frame_index")), 2);
    CHECK_NEAR(json_real_value(json_object_get(p, "t")), 3.7, 1e-12);
    CHECK_NEAR(json_real_value(json_object_get(p, "timestamp")), 3.7, 1e-12);
    CHECK(json_is_true(json_object_get(p, "detected")));
    CHECK_INT_EQ(json_array_size(json_object_get(p, "landmarks")), 33);
    CHECK_INT_EQ(json_array_size(json_object_get(p, "world_landmarks")), 33);
    json_t *kp = json_object_get(p, "keypoints");
    CHECK_INT_EQ(json_object_size(kp), 33);
    json_t *lw = json_object_get(kp, "left_wrist");
    CHECK_NEAR(json_real_value(json_object_get(lw, "x")), 0.15, 1e-6);
    CHECK_NEAR(json_real_value(json_object_get(lw, "visibility")), 0.75, 1e-6);
    json_t *w5 = json_array_get(json_object_get(p, "world_landmarks"), 5);
    CHECK_NEAR(json_real_value(json_object_get(w5, "z")), 0.5, 1e-6);
    json_decref(p);

    r.detected = 0;
    p = pose_json_pose(&r, &m);
    CHECK(json_is_false(json_object_get(p, "detected")));
    CHECK_INT_EQ(json_array_size(json_object_get(p, "landmarks")), 0);
    CHECK_INT_EQ(json_object_size(json_object_get(p, "keypoints")), 0);
    json_decref(p);
}

/* A float spanning what a pose holds and what formatting has to get right: every
 * decimal exponent from 1e-12 to 1e12, both signs, zeros, halves, whole numbers
 * (jansson adds ".0"), floats whose 7-digit rounding carries (9.9999999), and the
 * non-finite values written as 0. */
static float json_value(unsigned *x)
{
    unsigned k = lcg_next(x) % 16;
    double mant = (lcg_next(x) * 512.0 + lcg_next(x)) / (512.0 * 512.0) * 10.0;
    double v = mant * pow(10.0, (int)(lcg_next(x) % 25) - 12);
    if (lcg_next(x) % 2)
        v = -v;
    switch (k) {
    case 0:
        return 0.0f;
    case 1:
        return -0.0f;
    case 2:
        return (float)(lcg_next(x) % 2000) - 1000.0f;
    case 3:
        return (float)(lcg_next(x) % 64) / 4.0f;
    case 4:
        return 9.9999999f;
    case 5:
        return lcg_next(x) % 2 ? NAN : -INFINITY;
    case 6:
        return 1e-7f * (float)(lcg_next(x) % 100);
    default:
        return (float)v;
    }
}

/* pose_json_text_append against jansson's dump of pose_json_pose, byte for byte, on
 * random poses (the merge's fast path copies these bytes: pipeline/merge.c). */
static void test_json_text(void)
{
    const size_t flags =
        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(POSE_JSON_REAL_DIGITS);
    unsigned x = 12345;
    cr_buf all = {0};
    cr_buf want_all = {0};
    int same = 0, total = 0;
    for (int n = 0; n < 400; n++) {
        pose_result r;
        memset(&r, 0, sizeof r);
        r.detected = n % 7 != 3;
        r.score = json_value(&x);
        for (int i = 0; i < POSE_LM_BODY; i++) {
            float *l = &r.landmarks[i].x, *w = &r.world[i].x;
            for (int j = 0; j < 5; j++) {
                l[j] = json_value(&x);
                w[j] = json_value(&x);
            }
        }
        int64_t k = n < 200 ? n : (int64_t)lcg_next(&x) * 100003;
        /* times up to 1e6 s (timestamp_ms must fit an integer) */
        pose_frame_meta m = {k, n % 5 == 0 ? k / 10.0 : fmod((double)json_value(&x) * 1e3, 1e6), n};
        if (!isfinite(m.t))
            m.t = 1e-9 * n;
        json_t *p = pose_json_pose(&r, &m);
        char *want = p != NULL ? json_dumps(p, flags) : NULL;
        json_decref(p);
        CHECK(want != NULL);
        if (want == NULL)
            continue;
        cr_buf got = {0};
        cr_err err = {0};
        CHECK_MSG(pose_json_text_append(&got, &r, &m, &err) == CR_OK, "%s", cr_err_msg(&err));
        total++;
        if (got.p != NULL && strcmp(got.p, want) == 0)
            same++;
        else if (total - same <= 3)
            CHECK_MSG(0, "pose %d:\n  got  %.300s\n  want %.300s", n, got.p ? got.p : "", want);
        /* appended after other text, entries stay whole */
        cr_buf_adds(&want_all, n > 0 ? "," : "");
        cr_buf_adds(&want_all, want);
        if (n > 0)
            cr_buf_add(&all, ",", 1);
        CHECK(pose_json_text_append(&all, &r, &m, &err) == CR_OK);
        cr_buf_release(&got);
        free(want);
    }
    CHECK_INT_EQ(same, total);
    CHECK(total == 400 && all.p != NULL && want_all.p != NULL && strcmp(all.p, want_all.p) == 0);

    /* a time that is not finite: an error, and the buffer as it was */
    pose_result r;
    memset(&r, 0, sizeof r);
    pose_frame_meta m = {1, NAN, 0};
    size_t len = all.len;
    cr_err err = {0};
    CHECK_INT_EQ(pose_json_text_append(&all, &r, &m, &err), CR_ERR_INVALID);
    CHECK(strstr(cr_err_msg(&err), "not finite") != NULL);
    CHECK(all.len == len && all.st == CR_OK);
    cr_buf_release(&all);
    cr_buf_release(&want_all);
}

/* The plain crop, pixel by pixel with every position in double: pose_crop as it was
 * before its row runs and kernels (crop.c), kept as the reference they are held to. */
static void crop_reference(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi,
                           int dst_w, int dst_h, pose_border border, float scale, float offset,
                           float *dst)
{
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    double du = rw / dst_w, dv = rh / dst_h;
    double ax = c * du, ay = s * du, bx = -s * dv, by = c * dv;
    double ox = cx + c * (-rw / 2) - s * (-rh / 2) + 0.5 * (ax + bx);
    double oy = cy + s * (-rw / 2) + c * (-rh / 2) + 0.5 * (ay + by);
    for (int v = 0; v < dst_h; v++)
        for (int u = 0; u < dst_w; u++) {
            float *out = dst + ((size_t)v * dst_w + u) * 3;
            double px = ox + ax * u + bx * v, py = oy + ay * u + by * v;
            if (border == POSE_BORDER_ZERO && !(px >= 0 && px <= w && py >= 0 && py <= h)) {
                out[0] = out[1] = out[2] = offset;
                continue;
            }
            double fx = isfinite(px) ? fmin(fmax(px - 0.5, -1.0), (double)w) : 0.0;
            double fy = isfinite(py) ? fmin(fmax(py - 0.5, -1.0), (double)h) : 0.0;
            int x0 = (int)floor(fx), y0 = (int)floor(fy);
            float tx = (float)(fx - x0), ty = (float)(fy - y0);
            int ya = y0 < 0 ? 0 : (y0 > h - 1 ? h - 1 : y0);
            int yb = y0 + 1 < 0 ? 0 : (y0 + 1 > h - 1 ? h - 1 : y0 + 1);
            int xa = x0 < 0 ? 0 : (x0 > w - 1 ? w - 1 : x0);
            int xb = x0 + 1 < 0 ? 0 : (x0 + 1 > w - 1 ? w - 1 : x0 + 1);
            const uint8_t *r0 = rgb + (size_t)ya * stride, *r1 = rgb + (size_t)yb * stride;
            for (int ch = 0; ch < 3; ch++) {
                float top = r0[xa * 3 + ch] + (r0[xb * 3 + ch] - r0[xa * 3 + ch]) * tx;
                float bot = r1[xa * 3 + ch] + (r1[xb * 3 + ch] - r1[xa * 3 + ch]) * tx;
                out[ch] = (top + (bot - top) * ty) * scale + offset;
            }
        }
}

static double uniform(unsigned *x, double lo, double hi)
{
    return lo + (hi - lo) * (lcg_next(x) / 511.0 + lcg_next(x)) / 512.0;
}

/* pose_crop (whichever kernel this machine runs) and every kernel this machine has
 * (pose_crop_with) against crop_reference on random rotated rectangles: inside, across
 * edges and wholly outside the image, both borders, odd and tiny images (1x1, 2x2, one
 * row, one column), padded strides, odd output sizes, rotations of several turns.  The
 * AVX2 and AVX-512 kernels do the same arithmetic lane for lane: their crops must be the
 * same floats.  Each image is allocated to its exact size, so ASan catches a read past
 * its end. */
static void test_crop_random(void)
{
    static const int sizes[][2] = {{1, 1},  {2, 2},   {1, 7},   {9, 1},   {3, 2},    {2, 5},
                                   {17, 9}, {40, 23}, {64, 64}, {97, 61}, {160, 90}, {641, 359}};
    enum { NS = sizeof sizes / sizeof sizes[0], CASES = 40, MAXD = 72, NK = POSE_CROP_AVX512 + 1 };
    static float ref[MAXD * MAXD * 3], fast[MAXD * MAXD * 3], by[NK][MAXD * MAXD * 3];
    unsigned x = 2024;
    double worst_fast = 0, worst[NK] = {0};
    long inside = 0, total = 0, same_simd = 0;
    for (int si = 0; si < NS; si++) {
        int w = sizes[si][0], h = sizes[si][1], stride = w * 3 + (si % 3 == 1 ? 5 : 0);
        size_t bytes = (size_t)(h - 1) * stride + (size_t)w * 3;
        uint8_t *img = malloc(bytes);
        CHECK(img != NULL);
        if (img == NULL)
            return;
        for (size_t i = 0; i < bytes; i++)
            img[i] = (uint8_t)lcg_next(&x);
        for (int k = 0; k < CASES; k++) {
            pose_rect r;
            int kind = k % 4; /* inside, across an edge, anywhere, wholly outside */
            double cmin = kind == 0 ? 0.3 : (kind == 1 ? -0.2 : -1.0), cmax = 1.0 - cmin;
            r.cx = (float)uniform(&x, cmin, cmax);
            r.cy = (float)uniform(&x, cmin, cmax);
            r.w = (float)uniform(&x, kind == 0 ? 0.05 : 0.2, kind == 0 ? 0.4 : 2.5);
            r.h = (float)uniform(&x, kind == 0 ? 0.05 : 0.2, kind == 0 ? 0.4 : 2.5);
            if (kind == 3) {
                r.cx = (float)uniform(&x, 2.5, 4.0) * (k % 8 == 3 ? -1 : 1);
                r.w = r.h = 0.5f;
            }
            r.rotation = (float)uniform(&x, -7.0, 7.0);
            if (k % 10 == 5)
                r.rotation = (float)(PI / 2 * (k % 3)); /* axis-aligned: zero steps */
            int dw = 1 + (int)(lcg_next(&x) % MAXD), dh = 1 + (int)(lcg_next(&x) % MAXD);
            pose_border border = (pose_border)(k % 2);
            float scale = k % 3 == 0 ? 2.0f / 255 : 1.0f / 255, offset = k % 3 == 0 ? -1.0f : 0;
            crop_reference(img, w, h, stride, &r, dw, dh, border, scale, offset, ref);
            pose_crop(img, w, h, stride, &r, dw, dh, border, scale, offset, fast);
            double tol = 1e-4 * 255 * scale, wf = 0;
            for (int i = 0; i < dw * dh * 3; i++) {
                wf = fmax(wf, fabs(fast[i] - ref[i]));
                inside += ref[i] != offset;
            }
            total += dw * dh * 3;
            CHECK_MSG(wf <= tol, "pose_crop: %dx%d, rect %d: %.3g from the reference", w, h, k, wf);
            worst_fast = fmax(worst_fast, wf / scale);
            for (int kern = 0; kern < NK; kern++) {
                if (!pose_crop_kernel_usable(kern))
                    continue;
                pose_crop_with(kern, img, w, h, stride, &r, dw, dh, border, scale, offset,
                               by[kern]);
                double wk = 0;
                for (int i = 0; i < dw * dh * 3; i++)
                    wk = fmax(wk, fabs(by[kern][i] - ref[i]));
                CHECK_MSG(wk <= tol, "%s: %dx%d, rect %d: %.3g from the reference",
                          pose_crop_kernel_name(kern), w, h, k, wk);
                worst[kern] = fmax(worst[kern], wk / scale);
            }
            if (pose_crop_kernel_usable(POSE_CROP_AVX512)) {
                size_t n = (size_t)dw * dh * 3;
                CHECK_MSG(memcmp(by[POSE_CROP_AVX2], by[POSE_CROP_AVX512], n * sizeof(float)) == 0,
                          "avx2 and avx512: %dx%d, rect %d: other floats", w, h, k);
                same_simd += (long)n;
            }
        }
        free(img);
    }
    fprintf(stderr,
            "crop kernels vs reference (pose_crop: %s): max |diff| %.3g (pose_crop), %.3g "
            "(portable), %.3g (avx2), %.3g (avx512), in 0..255 units; %ld floats the same "
            "from avx2 and avx512\n",
            pose_crop_kernel_name(pose_crop_kernel()), worst_fast, worst[0], worst[1], worst[2],
            same_simd);
    /* The cases must reach the image, not only the border. */
    CHECK(inside > total / 4);
}

/* A 256x256 landmark crop and a 224x224 letterbox of a 640x360 frame, the shapes the
 * pipeline crops, against the reference; and a rectangle given as NaN (a corrupt
 * region) takes the same clamped or zero values as the reference. */
static void test_crop_pipeline_shapes(void)
{
    enum { W = 640, H = 360, S = W * 3 };
    uint8_t *img = malloc((size_t)H * S);
    float *a = malloc(sizeof(float) * 256 * 256 * 3), *b = malloc(sizeof(float) * 256 * 256 * 3);
    CHECK(img != NULL && a != NULL && b != NULL);
    if (img == NULL || a == NULL || b == NULL) {
        free(img), free(a), free(b);
        return;
    }
    unsigned x = 5;
    for (size_t i = 0; i < (size_t)H * S; i++)
        img[i] = (uint8_t)lcg_next(&x);
    const struct {
        pose_rect r;
        int d;
        pose_border border;
        float scale, offset;
    } cases[] = {
        {{0.45f, 0.55f, 0.3f, 0.3f * 640 / 360, 0.35f}, 256, POSE_BORDER_REPLICATE, 1.0f / 255, 0},
        {{0.9f, 0.8f, 0.4f, 0.4f * 640 / 360, -0.3f}, 256, POSE_BORDER_REPLICATE, 1.0f / 255, 0},
        {{0.5f, 0.5f, 1.0f, 640.0f / 360, 0}, 224, POSE_BORDER_ZERO, 2.0f / 255, -1},
        {{NAN, 0.5f, 0.3f, 0.3f, 0.1f}, 16, POSE_BORDER_REPLICATE, 1.0f / 255, 0},
        {{0.5f, 0.5f, 0.3f, 0.3f, NAN}, 16, POSE_BORDER_ZERO, 1.0f / 255, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int d = cases[k].d;
        crop_reference(img, W, H, S, &cases[k].r, d, d, cases[k].border, cases[k].scale,
                       cases[k].offset, a);
        pose_crop(img, W, H, S, &cases[k].r, d, d, cases[k].border, cases[k].scale, cases[k].offset,
                  b);
        double worst = 0;
        for (int i = 0; i < d * d * 3; i++)
            worst = fmax(worst, fabs(a[i] - b[i]));
        CHECK_MSG(worst <= 1e-4 * 255 * cases[k].scale, "case %zu: %.3g from the reference", k,
                  worst);
    }
    free(img), free(a), free(b);
}

/* pose_image_crop (fast path) against pose_image_crop_ref (every tap clamped) on an
 * odd-sized YUV picture, every rotation, both borders, regions inside, across the
 * edge and far outside. */
static void test_image_crop_ref(void)
{
    enum { W = 37, H = 29, CW = (W + 1) / 2, CH = (H + 1) / 2, D = 12 };
    static uint8_t y[H * (W + 3)], u[CH * (CW + 1)], v[CH * (CW + 1)];
    unsigned x = 777;
    for (size_t i = 0; i < sizeof y; i++)
        y[i] = (uint8_t)lcg_next(&x);
    for (size_t i = 0; i < sizeof u; i++) {
        u[i] = (uint8_t)lcg_next(&x);
        v[i] = (uint8_t)lcg_next(&x);
    }
    pose_image img = {POSE_PIX_YUV420P, {y, u, v}, {W + 3, CW + 1, CW + 1}, W, H, 0, 0};
    const pose_rect rects[] = {{0.5f, 0.5f, 0.6f, 0.7f, 0.3f},
                               {0.1f, 0.9f, 0.5f, 0.5f, -1.2f},
                               {0.95f, 0.2f, 0.3f, 0.9f, 2.5f},
                               {3.0f, -2.0f, 0.2f, 0.2f, 0.0f}};
    static float a[D * D * 3], b[D * D * 3];
    double worst = 0;
    int nonzero = 0;
    for (int rot = 0; rot < 360; rot += 90) {
        img.rotation = rot;
        for (int fr = 0; fr < 2; fr++) {
            img.full_range = fr;
            for (size_t k = 0; k < sizeof rects / sizeof rects[0]; k++)
                for (int border = 0; border < 2; border++) {
                    pose_image_crop(&img, &rects[k], D, D, (pose_border)border, 1.0f / 255, 0, a);
                    pose_image_crop_ref(&img, &rects[k], D, D, (pose_border)border, 1.0f / 255, 0,
                                        b);
                    for (int i = 0; i < D * D * 3; i++) {
                        worst = fmax(worst, fabs(a[i] - b[i]));
                        nonzero += a[i] != 0.0f;
                    }
                }
        }
    }
    CHECK_MSG(worst <= 1e-6, "fast and reference YUV crops differ by %.3g", worst);
    CHECK(nonzero > 1000);
}

/* A display rotation is a relabelling: the crop of a stored picture with rotation 90
 * equals the crop of the same pixels rotated by hand; and a uniform YUV colour gives
 * its BT.601 RGB. */
static void test_image_rotation_colour(void)
{
    enum { W = 9, H = 5, D = 7 };
    static uint8_t st[H * W * 3], disp[W * H * 3]; /* stored W x H, displayed H x W */
    unsigned x = 99;
    for (size_t i = 0; i < sizeof st; i++)
        st[i] = (uint8_t)lcg_next(&x);
    /* 90 clockwise: display (dx, dy) = stored (dy, H - 1 - dx) (video.c). */
    for (int dy = 0; dy < W; dy++)
        for (int dx = 0; dx < H; dx++)
            for (int c = 0; c < 3; c++)
                disp[(dy * H + dx) * 3 + c] = st[((H - 1 - dx) * W + dy) * 3 + c];
    pose_image a = {POSE_PIX_RGB24, {st}, {W * 3}, W, H, 90, 0};
    pose_image b = {POSE_PIX_RGB24, {disp}, {H * 3}, H, W, 0, 0};
    int dw, dh;
    pose_image_display_size(&a, &dw, &dh);
    CHECK(dw == H && dh == W);
    pose_rect r = {0.45f, 0.55f, 0.8f, 0.6f, 0.4f};
    static float oa[D * D * 3], ob[D * D * 3];
    pose_image_crop(&a, &r, D, D, POSE_BORDER_ZERO, 1, 0, oa);
    pose_image_crop(&b, &r, D, D, POSE_BORDER_ZERO, 1, 0, ob);
    double worst = 0;
    for (int i = 0; i < D * D * 3; i++)
        worst = fmax(worst, fabs(oa[i] - ob[i]));
    CHECK_MSG(worst < 1e-3, "rotated source differs from rotated pixels by %.3g", worst);

    /* Limited-range red: Y 81, U 90, V 240 -> about (255, 0, 0). */
    static uint8_t py[4 * 4], pu[2 * 2], pv[2 * 2];
    memset(py, 81, sizeof py);
    memset(pu, 90, sizeof pu);
    memset(pv, 240, sizeof pv);
    pose_image yuv = {POSE_PIX_YUV420P, {py, pu, pv}, {4, 2, 2}, 4, 4, 0, 0};
    pose_rect all = {0.5f, 0.5f, 1, 1, 0};
    float px[2 * 2 * 3];
    pose_image_crop(&yuv, &all, 2, 2, POSE_BORDER_REPLICATE, 1, 0, px);
    CHECK_NEAR(px[0], 255, 1.5);
    CHECK_NEAR(px[1], 0, 1.5);
    CHECK_NEAR(px[2], 0, 1.5);
}

/* A pyramid level: 2x2 means, odd edges paired with themselves, chroma likewise. */
static void test_image_halve(void)
{
    static const uint8_t y[3 * 3] = {0, 4, 8, 12, 16, 20, 24, 28, 32};
    static const uint8_t u[2 * 2] = {10, 20, 30, 40}, v[2 * 2] = {50, 60, 70, 80};
    pose_image img = {POSE_PIX_YUV420P, {y, u, v}, {3, 2, 2}, 3, 3, 270, 1};
    size_t need = pose_image_halve_size(&img);
    CHECK(need > 0);
    static uint8_t buf[4096];
    CHECK(need <= sizeof buf);
    pose_image h;
    pose_image_halve(&img, buf, &h);
    CHECK(h.width == 2 && h.height == 2 && h.rotation == 270 && h.full_range == 1);
    CHECK_INT_EQ(h.data[0][0], 8);                /* (0+4+12+16+2)/4 */
    CHECK_INT_EQ(h.data[0][1], 14);               /* (8+8+20+20+2)/4 */
    CHECK_INT_EQ(h.data[0][h.stride[0]], 26);     /* (24+28+24+28+2)/4 */
    CHECK_INT_EQ(h.data[0][h.stride[0] + 1], 32); /* 32 four times */
    CHECK_INT_EQ(h.data[1][0], 25);               /* (10+20+30+40+2)/4 */
    CHECK_INT_EQ(h.data[2][0], 65);
}

int main(void)
{
    test_anchors();
    test_decode();
    test_nms();
    test_letterbox_roi();
    test_crop();
    test_crop_inside();
    test_crop_random();
    test_crop_pipeline_shapes();
    test_image_crop_ref();
    test_image_rotation_colour();
    test_image_halve();
    test_landmarks();
    test_one_euro();
    test_json();
    test_json_text();
    return check_exit();
}
