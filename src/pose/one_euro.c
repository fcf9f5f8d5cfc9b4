/*
 * one_euro.c -- MediaPipe's low-pass and One Euro filters
 * (mediapipe/util/filtering/low_pass_filter.cc, one_euro_filter.cc), used by
 * LandmarksSmoothingCalculator and VisibilitySmoothingCalculator.
 */
#include "pose/blazepose.h"

#include <math.h>

double pose_lowpass_apply(pose_lowpass *f, double alpha, double value)
{
    double result;
    if (f->initialized) {
        result = alpha * value + (1.0 - alpha) * f->stored;
    } else {
        result = value;
        f->initialized = 1;
    }
    f->raw = value;
    f->stored = result;
    return result;
}

void pose_one_euro_init(pose_one_euro *f, double min_cutoff, double beta, double derivative_cutoff)
{
    f->frequency = POSE_ONE_EURO_FREQUENCY;
    f->min_cutoff = min_cutoff;
    f->beta = beta;
    f->derivative_cutoff = derivative_cutoff;
    f->last_ns = 0;
    f->x = (pose_lowpass){0};
    f->dx = (pose_lowpass){0};
}

static double one_euro_alpha(const pose_one_euro *f, double cutoff)
{
    const double pi = 3.14159265358979323846;
    double te = 1.0 / f->frequency;
    double tau = 1.0 / (2.0 * pi * cutoff);
    return 1.0 / (1.0 + tau / te);
}

double pose_one_euro_apply(pose_one_euro *f, int64_t t_ns, double value_scale, double value)
{
    if (f->last_ns >= t_ns)
        return value; /* as MediaPipe: a timestamp that does not advance changes nothing */
    if (f->last_ns != 0 && t_ns != 0)
        f->frequency = 1.0 / ((double)(t_ns - f->last_ns) * 1e-9);
    f->last_ns = t_ns;
    double dvalue = f->x.initialized ? (value - f->x.raw) * value_scale * f->frequency : 0.0;
    double edvalue = pose_lowpass_apply(&f->dx, one_euro_alpha(f, f->derivative_cutoff), dvalue);
    double cutoff = f->min_cutoff + f->beta * fabs(edvalue);
    return pose_lowpass_apply(&f->x, one_euro_alpha(f, cutoff), value);
}
