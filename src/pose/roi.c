/*
 * roi.c -- the detector's letterbox and the rotated regions of interest
 * (pose_detection_to_roi, pose_landmarks_to_roi graphs).
 */
#include "pose/blazepose.h"

#include <math.h>

void pose_letterbox(int img_w, int img_h, int dst_w, int dst_h, pose_rect *roi, pose_padding *pad)
{
    /* ImageToTensorCalculator keep_aspect_ratio (image_to_tensor_utils PadRoi), in pixels. */
    float tensor_aspect = (float)dst_h / (float)dst_w;
    float roi_w = (float)img_w, roi_h = (float)img_h;
    float roi_aspect = roi_h / roi_w;
    float hpad = 0.0f, vpad = 0.0f;
    if (tensor_aspect > roi_aspect) {
        roi_h = roi_w * tensor_aspect;
        vpad = (1.0f - roi_aspect / tensor_aspect) / 2.0f;
    } else {
        roi_w = roi_h / tensor_aspect;
        hpad = (1.0f - tensor_aspect / roi_aspect) / 2.0f;
    }
    roi->cx = 0.5f;
    roi->cy = 0.5f;
    roi->w = roi_w / (float)img_w;
    roi->h = roi_h / (float)img_h;
    roi->rotation = 0.0f;
    pad->left = pad->right = hpad;
    pad->top = pad->bottom = vpad;
}

void pose_detection_unletterbox(pose_detection *d, const pose_padding *pad)
{
    /* DetectionLetterboxRemovalCalculator. */
    float sx = 1.0f - pad->left - pad->right;
    float sy = 1.0f - pad->top - pad->bottom;
    d->xmin = (d->xmin - pad->left) / sx;
    d->ymin = (d->ymin - pad->top) / sy;
    d->w /= sx;
    d->h /= sy;
    for (int k = 0; k < POSE_DET_KEYPOINTS; k++) {
        d->kp[k][0] = (d->kp[k][0] - pad->left) / sx;
        d->kp[k][1] = (d->kp[k][1] - pad->top) / sy;
    }
}

float pose_normalize_radians(float a)
{
    const double pi = 3.14159265358979323846;
    return (float)(a - 2.0 * pi * floor((a - (-pi)) / (2.0 * pi)));
}

pose_rect pose_rect_from_points(float x0, float y0, float x1, float y1, int img_w, int img_h)
{
    const double pi = 3.14159265358979323846;
    /* AlignmentPointsRectsCalculator (rotation_vector_target_angle_degrees: 90). */
    double px0 = (double)x0 * img_w, py0 = (double)y0 * img_h;
    double px1 = (double)x1 * img_w, py1 = (double)y1 * img_h;
    double box = 2.0 * sqrt((px1 - px0) * (px1 - px0) + (py1 - py0) * (py1 - py0));
    double rotation = pi / 2.0 - atan2(-(py1 - py0), px1 - px0);
    pose_rect r;
    r.cx = x0;
    r.cy = y0;
    r.rotation = pose_normalize_radians((float)rotation);
    /* RectTransformationCalculator: square_long, then scale 1.25 (no shift).  The
     * alignment box is square in pixels already, so its long side is `box`. */
    r.w = (float)(box * POSE_ROI_SCALE / img_w);
    r.h = (float)(box * POSE_ROI_SCALE / img_h);
    return r;
}
