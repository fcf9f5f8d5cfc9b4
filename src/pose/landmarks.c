/*
 * landmarks.c -- BlazePose landmark decoding, heatmap refinement and projection
 * back into the image (pose_landmark_by_roi graph), and the landmark names.
 */
#include "pose/blazepose.h"

#include "engine/engine.h"

#include <math.h>

const char *const pose_landmark_names[POSE_LM_BODY] = {
    "nose",        "left_eye_inner",  "left_eye",         "left_eye_outer", "right_eye_inner",
    "right_eye",   "right_eye_outer", "left_ear",         "right_ear",      "mouth_left",
    "mouth_right", "left_shoulder",   "right_shoulder",   "left_elbow",     "right_elbow",
    "left_wrist",  "right_wrist",     "left_pinky",       "right_pinky",    "left_index",
    "right_index", "left_thumb",      "right_thumb",      "left_hip",       "right_hip",
    "left_knee",   "right_knee",      "left_ankle",       "right_ankle",    "left_heel",
    "right_heel",  "left_foot_index", "right_foot_index",
};

/* mediapipe/python/solutions/pose_connections.py: POSE_CONNECTIONS. */
const int pose_connections[POSE_NUM_CONNECTIONS][2] = {
    {0, 1},   {1, 2},   {2, 3},   {3, 7},   {0, 4},   {4, 5},   {5, 6},   {6, 8},   {9, 10},
    {11, 12}, {11, 13}, {13, 15}, {15, 17}, {15, 19}, {15, 21}, {17, 19}, {12, 14}, {14, 16},
    {16, 18}, {16, 20}, {16, 22}, {18, 20}, {11, 23}, {12, 24}, {23, 24}, {23, 25}, {24, 26},
    {25, 27}, {26, 28}, {27, 29}, {28, 30}, {29, 31}, {30, 32}, {27, 31}, {28, 32},
};

static float sigmoidf(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

void pose_landmarks_decode(const float *raw, int n, pose_landmark *out)
{
    /* TensorsToLandmarksCalculator: input_image_width/height 256, visibility and
     * presence activation SIGMOID; z is divided by the input width too. */
    const float size = (float)POSE_LM_INPUT;
    for (int i = 0; i < n; i++) {
        const float *r = raw + (size_t)i * 5;
        out[i].x = r[0] / size;
        out[i].y = r[1] / size;
        out[i].z = r[2] / size;
        out[i].visibility = sigmoidf(r[3]);
        out[i].presence = sigmoidf(r[4]);
    }
}

/* Where the logits come from: the whole heatmap [h][w][c], or the features [h][w][c_in]
 * of its 1x1 convolution (head != NULL). */
typedef struct heatmap_src {
    const float *v;
    int hm_w, hm_c;
    const engine_pointwise *head;
} heatmap_src;

static float logit_at(const heatmap_src *src, int r, int c, int i)
{
    size_t px = (size_t)r * src->hm_w + c;
    if (src->head == NULL)
        return src->v[px * src->hm_c + i];
    return engine_pointwise_at(src->head, src->v + px * src->head->c_in, i);
}

static void refine(pose_landmark *lm, int n, const heatmap_src *src, int hm_h, int hm_w, int kernel,
                   float min_conf)
{
    int offset = (kernel - 1) / 2;
    for (int i = 0; i < n && i < src->hm_c; i++) {
        float fx = lm[i].x * (float)hm_w, fy = lm[i].y * (float)hm_h;
        if (!(fx > -1.0f && fx < (float)hm_w && fy > -1.0f && fy < (float)hm_h))
            continue;                     /* outside the heatmap: keep as is */
        int col = (int)fx, row = (int)fy; /* static_cast<int>: truncation toward 0 */
        /* MediaPipe compares the column with the height here; our heatmaps are square. */
        if (col < 0 || col >= hm_w || row < 0 || row >= hm_h)
            continue;
        int c0 = col - offset > 0 ? col - offset : 0;
        int c1 = col + offset + 1 < hm_w ? col + offset + 1 : hm_w;
        int r0 = row - offset > 0 ? row - offset : 0;
        int r1 = row + offset + 1 < hm_h ? row + offset + 1 : hm_h;
        float sum = 0.0f, wc = 0.0f, wr = 0.0f, maxc = 0.0f;
        for (int r = r0; r < r1; r++) {
            for (int c = c0; c < c1; c++) {
                float conf = sigmoidf(logit_at(src, r, c, i));
                sum += conf;
                if (conf > maxc)
                    maxc = conf;
                wc += (float)c * conf;
                wr += (float)r * conf;
            }
        }
        if (maxc >= min_conf && sum > 0.0f) {
            lm[i].x = wc / (float)hm_w / sum;
            lm[i].y = wr / (float)hm_h / sum;
        }
    }
}

void pose_landmarks_refine(pose_landmark *lm, int n, const float *heatmap, int hm_h, int hm_w,
                           int hm_c, int kernel, float min_conf)
{
    heatmap_src src = {heatmap, hm_w, hm_c, NULL};
    refine(lm, n, &src, hm_h, hm_w, kernel, min_conf);
}

void pose_landmarks_refine_from_features(pose_landmark *lm, int n, const float *features, int hm_h,
                                         int hm_w, const engine_pointwise *head, int kernel,
                                         float min_conf)
{
    heatmap_src src = {features, hm_w, head->c_out, head};
    refine(lm, n, &src, hm_h, hm_w, kernel, min_conf);
}

void pose_landmarks_project(pose_landmark *lm, int n, const pose_rect *roi)
{
    float c = cosf(roi->rotation), s = sinf(roi->rotation);
    for (int i = 0; i < n; i++) {
        float x = lm[i].x - 0.5f, y = lm[i].y - 0.5f;
        float nx = c * x - s * y, ny = s * x + c * y;
        lm[i].x = nx * roi->w + roi->cx;
        lm[i].y = ny * roi->h + roi->cy;
        lm[i].z = lm[i].z * roi->w;
    }
}

void pose_world_decode(const float *raw, int n, const pose_rect *roi, pose_landmark *out)
{
    float c = cosf(roi->rotation), s = sinf(roi->rotation);
    for (int i = 0; i < n; i++) {
        float x = raw[i * 3], y = raw[i * 3 + 1];
        out[i].x = c * x - s * y;
        out[i].y = s * x + c * y;
        out[i].z = raw[i * 3 + 2];
        out[i].visibility = 0.0f;
        out[i].presence = 0.0f;
    }
}
