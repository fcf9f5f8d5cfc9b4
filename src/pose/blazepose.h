/*
 * blazepose.h -- the building blocks of MediaPipe's BlazePose pipeline, as plain
 * functions on plain structs (no engine, no I/O), so each can be unit-tested.
 * The tracker (pose_tracker.h) strings them together.
 *
 * Every constant is MediaPipe's, from the pose graphs of @mediapipe/pose
 * 0.5.1675469404 (pose_detection_cpu, pose_detection_to_roi, pose_landmark_by_roi,
 * pose_landmarks_to_roi, pose_landmark_filtering); DESIGN.md §7 and
 * shared/POSE-NOTES.md list them.  Where a constant is used it cites its graph.
 *
 * Coordinates.  "Normalized" means relative to the full image: x in [0,1] across
 * the width, y in [0,1] down the height (points may fall outside).  A pose_rect is
 * normalized too (cx, cy, w = width/W, h = height/H) and rotated by `rotation`
 * radians about its centre (positive = clockwise on screen, y pointing down), as
 * MediaPipe's NormalizedRect.  Normalized times the image size puts pixel (i, j)'s
 * centre at (i + 1/2, j + 1/2) (texture convention, as MediaPipe's JS solution).
 *
 * Nothing here allocates or fails, except where a cr_status is returned.
 */
#ifndef CR_POSE_BLAZEPOSE_H
#define CR_POSE_BLAZEPOSE_H

#include <stddef.h>
#include <stdint.h>

/* --- constants (MediaPipe's pose graphs; DESIGN.md §7) ---------------------- */

#define POSE_DET_INPUT 224        /* pose_detection_cpu: ImageToTensor 224x224 */
#define POSE_NUM_ANCHORS 2254     /* 28*28*2 + 14*14*2 + 7*7*6 */
#define POSE_DET_COORDS 12        /* box x,y,w,h + 4 keypoints x,y */
#define POSE_DET_KEYPOINTS 4      /* keypoint 0 = hip centre, 1 = body size/rotation point */
#define POSE_DET_MIN_SCORE 0.5    /* TensorsToDetections min_score_thresh */
#define POSE_DET_SCORE_CLIP 100.0 /* score_clipping_thresh */
#define POSE_NMS_IOU 0.3          /* NonMaxSuppression min_suppression_threshold, WEIGHTED */
#define POSE_ROI_SCALE 1.25       /* RectTransformation scale_x/scale_y, square_long */
#define POSE_LM_INPUT 256         /* pose_landmark_by_roi: ImageToTensor 256x256 */
#define POSE_LM_ALL 39            /* landmarks in the model's output: 33 body + 2 aux + 4 */
#define POSE_LM_BODY 33           /* the body landmarks (0..32) */
#define POSE_LM_AUX0 33           /* the two auxiliary points that track the ROI */
#define POSE_HEATMAP 64           /* Identity_3: [1,64,64,39] */
#define POSE_REFINE_KERNEL 7      /* RefineLandmarksFromHeatmap kernel_size */
#define POSE_REFINE_MIN_CONF 0.5f /* ... min_confidence_to_refine */
#define POSE_FLAG_THRESHOLD 0.5f  /* ThresholdingCalculator: pose present when flag > 0.5 */

/* --- anchors ----------------------------------------------------------------- */

typedef struct pose_anchor {
    float x, y; /* centre, normalized to the 224x224 input */
    float w, h; /* 1, 1 (fixed_anchor_size) */
} pose_anchor;

/* Fills `out` (cap >= POSE_NUM_ANCHORS) with the SSD anchors of pose_detection_cpu
 * (SsdAnchorsCalculator: 5 layers, strides 8,16,32,32,32, min_scale 0.1484375,
 * max_scale 0.75, offsets 0.5, aspect ratio 1, interpolated aspect 1, fixed size),
 * in the model's output order (stride groups, then y, x, anchor).  Returns the
 * count (POSE_NUM_ANCHORS), or 0 when cap is too small. */
int pose_anchors_generate(pose_anchor *out, int cap);

/* --- detections -------------------------------------------------------------- */

typedef struct pose_detection {
    float xmin, ymin, w, h; /* box, normalized */
    float kp[POSE_DET_KEYPOINTS][2];
    float score; /* probability */
} pose_detection;

/* Decodes the detector's raw outputs: `boxes` [n,12] (224-px units relative to the
 * anchor), `logits` [n] (TensorsToDetections: reverse_output_order, scales 224, no
 * exp on box size, sigmoid of the logit clipped to +-100).  Keeps boxes with score
 * >= min_score and non-negative, finite size.  Returns how many were written to
 * `out` (at most cap), in anchor order. */
int pose_detector_decode(const float *boxes, const float *logits, const pose_anchor *anchors, int n,
                         float min_score, pose_detection *out, int cap);

/* Intersection over union of two boxes (0 when they do not overlap). */
float pose_detection_iou(const pose_detection *a, const pose_detection *b);

/* MediaPipe's weighted non-maximum suppression: repeatedly takes the best remaining
 * detection, and replaces its box and keypoints by the score-weighted mean of all
 * remaining detections overlapping it by IoU > iou (itself included), keeping its
 * score; those are removed.  `dets` is reordered (sorted by score).  Writes at most
 * `cap` results to `out`, best first; returns their count. */
int pose_nms_weighted(pose_detection *dets, int n, float iou, pose_detection *out, int cap);

/* --- letterbox and rectangles ------------------------------------------------ */

typedef struct pose_rect {
    float cx, cy;   /* centre, normalized */
    float w, h;     /* size, normalized (w = pixels / image width) */
    float rotation; /* radians */
} pose_rect;

typedef struct pose_padding {
    float left, top, right, bottom; /* fractions of the letterboxed input */
} pose_padding;

/* The detector's input ROI: the whole image, padded to the output's aspect ratio
 * (ImageToTensor keep_aspect_ratio).  Writes the ROI and the padding fractions. */
void pose_letterbox(int img_w, int img_h, int dst_w, int dst_h, pose_rect *roi, pose_padding *pad);

/* Maps a detection from letterboxed coordinates back to the image
 * (DetectionLetterboxRemovalCalculator). */
void pose_detection_unletterbox(pose_detection *d, const pose_padding *pad);

/* a - 2*pi*floor((a + pi) / (2*pi)): into [-pi, pi). */
float pose_normalize_radians(float a);

/* The ROI of two alignment points (normalized): centre p0, size 2*|p1 - p0| in
 * pixels, rotation pi/2 - atan2(-(y1-y0), x1-x0) (AlignmentPointsRectsCalculator,
 * target angle 90 degrees), then scaled by 1.25 and made square on its long side in
 * pixels (RectTransformationCalculator).  Used for detection -> ROI (keypoints 0, 1)
 * and landmarks -> ROI (aux points 33, 34). */
pose_rect pose_rect_from_points(float x0, float y0, float x1, float y1, int img_w, int img_h);

/* --- crops ------------------------------------------------------------------- */

typedef enum pose_border {
    POSE_BORDER_ZERO = 0,      /* samples outside the image are 0 (the detector's letterbox) */
    POSE_BORDER_REPLICATE = 1, /* nearest edge pixel (the landmark crop) */
} pose_border;

/* Samples the rotated rectangle `roi` of an RGB24 image into a dst_w x dst_h x 3
 * float tensor (NHWC), as MediaPipe's JS solution does (its GL converter; crop.c
 * says how this was established): output pixel centres map into the rectangle,
 * image pixel centres sit at half-integers of normalized*size, bilinear in float,
 * clamp-to-edge; with POSE_BORDER_ZERO a sample outside the image is 0.  Then
 * out = value * scale + offset (detector: 2/255, -1; landmarks: 1/255, 0). */
void pose_crop(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
               int dst_h, pose_border border, float scale, float offset, float *dst);

/* --- source images (image.c) ------------------------------------------------ */

typedef enum pose_pixfmt {
    POSE_PIX_RGB24 = 0,   /* data[0]: R, G, B bytes */
    POSE_PIX_YUV420P = 1, /* data[0..2]: Y, U, V; chroma (w+1)/2 x (h+1)/2, centred */
} pose_pixfmt;

/* A decoded picture as the decoder left it (video.h: video_picture): stored
 * orientation, `rotation` clockwise degrees (0, 90, 180, 270) to apply for display.
 * Normalized coordinates (pose_rect, landmarks) refer to the displayed picture.  YUV
 * is BT.601, full_range 1 for 0..255 levels, 0 for 16..235 (swscale's conversion). */
typedef struct pose_image {
    pose_pixfmt format;
    const uint8_t *data[3];
    int stride[3];
    int width, height; /* stored size */
    int rotation;
    int full_range;
} pose_image;

/* The displayed size (width and height swapped for 90 and 270). */
void pose_image_display_size(const pose_image *img, int *w, int *h);

/* pose_crop on a pose_image: the rotated rectangle `roi` (normalized to the displayed
 * picture) sampled bilinearly from the source planes, converted to RGB (0..255) and
 * then out = value * scale + offset.  For an unrotated RGB24 image it is pose_crop. */
void pose_image_crop(const pose_image *img, const pose_rect *roi, int dst_w, int dst_h,
                     pose_border border, float scale, float offset, float *dst);

/* The same values by the plain route (every tap clamped and sampled on its own): the
 * reference the fast path is tested against. */
void pose_image_crop_ref(const pose_image *img, const pose_rect *roi, int dst_w, int dst_h,
                         pose_border border, float scale, float offset, float *dst);

/* Bytes pose_image_halve needs for `src`'s next pyramid level. */
size_t pose_image_halve_size(const pose_image *src);

/* The next pyramid level: ceil(w/2) x ceil(h/2), each sample the mean of 2x2 source
 * samples (per plane; an odd last row or column pairs with itself), same format and
 * rotation, written into `buf` (pose_image_halve_size bytes, owned by the caller;
 * `dst` points into it).  Normalized coordinates keep their meaning on the level. */
void pose_image_halve(const pose_image *src, uint8_t *buf, pose_image *dst);

/* --- landmarks --------------------------------------------------------------- */

typedef struct pose_landmark {
    float x, y;       /* normalized (to the crop before projection, to the image after) */
    float z;          /* depth, same scale as x (relative to the hips' depth) */
    float visibility; /* probability */
    float presence;   /* probability */
} pose_landmark;

/* Decodes `raw` [n*5] (Identity: x, y, z in 256-px crop units, visibility and
 * presence logits) into crop-normalized landmarks (TensorsToLandmarksCalculator). */
void pose_landmarks_decode(const float *raw, int n, pose_landmark *out);

/* Refines x, y of each landmark from heatmap logits [hm_h, hm_w, hm_c] (channel c =
 * landmark c): the centroid of sigmoid(heatmap) over a kernel x kernel window around
 * the landmark, when the window's maximum >= min_conf
 * (RefineLandmarksFromHeatmapCalculator). */
void pose_landmarks_refine(pose_landmark *lm, int n, const float *heatmap, int hm_h, int hm_w,
                           int hm_c, int kernel, float min_conf);

struct engine_pointwise; /* engine.h */

/* The same from the features [hm_h, hm_w, head->c_in] of the model's last layer, the 1x1
 * convolution `head` (head->c_out channels) evaluated only in the windows read: 7x7 of
 * 64x64 pixels for each of 39 landmarks, 1/40 of the layer's work. */
void pose_landmarks_refine_from_features(pose_landmark *lm, int n, const float *features, int hm_h,
                                         int hm_w, const struct engine_pointwise *head, int kernel,
                                         float min_conf);

/* Projects crop-normalized landmarks into the image (LandmarkProjectionCalculator):
 * rotate about the crop centre by roi->rotation, scale by the ROI's size, z by its
 * width. */
void pose_landmarks_project(pose_landmark *lm, int n, const pose_rect *roi);

/* World landmarks: `raw` [n*3] metres, rotated by roi->rotation about the z axis
 * (WorldLandmarkProjectionCalculator).  Writes x, y, z; visibility/presence = 0. */
void pose_world_decode(const float *raw, int n, const pose_rect *roi, pose_landmark *out);

/* --- smoothing (mediapipe/util/filtering) ------------------------------------ */

typedef struct pose_lowpass {
    double raw, stored;
    int initialized;
} pose_lowpass;

/* First value passes through; then alpha*value + (1-alpha)*previous output. */
double pose_lowpass_apply(pose_lowpass *f, double alpha, double value);

typedef struct pose_one_euro {
    double frequency; /* Hz; 30 until two timestamps are seen, then 1/dt */
    double min_cutoff, beta, derivative_cutoff;
    int64_t last_ns; /* 0 = none yet (as MediaPipe: a first timestamp of 0 is ignored) */
    pose_lowpass x, dx;
} pose_one_euro;

/* MediaPipe's initial sampling frequency (LandmarksSmoothingCalculator). */
#define POSE_ONE_EURO_FREQUENCY 30.0

void pose_one_euro_init(pose_one_euro *f, double min_cutoff, double beta, double derivative_cutoff);

/* Filters `value` at time t_ns: a timestamp not after the last one returns `value`
 * unchanged; the derivative (scaled by value_scale) is low-passed with the
 * derivative cutoff; the value with min_cutoff + beta*|derivative|; the smoothing
 * factor is 1 / (1 + frequency / (2*pi*cutoff)). */
double pose_one_euro_apply(pose_one_euro *f, int64_t t_ns, double value_scale, double value);

/* --- names ------------------------------------------------------------------- */

/* MediaPipe's names of the 33 body landmarks ("nose", ..., "right_foot_index"). */
extern const char *const pose_landmark_names[POSE_LM_BODY];

/* The skeleton's edges (MediaPipe's POSE_CONNECTIONS), pairs of landmark indices. */
#define POSE_NUM_CONNECTIONS 35
extern const int pose_connections[POSE_NUM_CONNECTIONS][2];

#endif
