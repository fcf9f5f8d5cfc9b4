/*
 * bench_pose_crop -- milliseconds per crop of pose_crop (src/pose/crop.c) on the
 * shapes the pipeline crops from a 640x360 RGB24 frame (the MAX_WIDTH frame of the
 * 15-minute reference workload):
 *
 *   landmark  256x256, replicate border, ROI 224 px square rotated 20 degrees, inside
 *   edge      256x256, replicate border, the same ROI with a third of it past the
 *             right edge (the general, clamping path takes that part)
 *   detector  224x224 letterbox of the whole frame, zero border (49 rows above and
 *             below fall outside)
 *
 * Variants:
 *   v1 reference  the crop as it was: every pixel on its own, positions in double,
 *                 an inside test per pixel (kept here as the baseline)
 *   v2 portable   pose_crop_with(POSE_CROP_PORTABLE): row runs, the portable kernel
 *   v3 avx2       the AVX2 kernel (crop_avx2.c), where the CPU has it
 *   v4 avx512     the AVX-512 kernel (crop_avx512.c), where the CPU has it: what the
 *                 pipeline calls there (pose_crop takes the fastest)
 *
 * Each variant is validated against v1 first (max |diff| in 0..255 units; the unit
 * test's limit is 1e-4 * 255).  Timing: 20 warm-up crops, then N crops one at a time;
 * min and median wall-clock ms and the median CPU time of the thread (the machine is
 * shared: min and CPU time are the figures least disturbed by other load).
 *
 * Measured (AMD EPYC, Zen 5, 500 runs, machine shared and busy; cpu med ms):
 *   landmark  v1 0.88   v2 0.80   v3 0.255   v4 0.18
 *   edge      v1 1.07   v2 0.80   v3 0.253   v4 0.18
 *   detector  v1 0.45   v2 0.37   v3 0.148   v4 0.12
 * The AVX2 kernel is bound by its four 8-lane gathers and the byte-to-float work per
 * 8 pixels about equally (measured by taking the gathers out); the AVX-512 one halves
 * the second part per pixel.
 *
 * usage: bench_pose_crop [--runs N]
 */
#define _GNU_SOURCE
#include "pose/pose_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { W = 640, H = 360, STRIDE = W * 3, MAXD = 256 };

/* v1: pose_crop before its row runs and kernels. */
static void crop_v1(const uint8_t *rgb, int w, int h, int stride, const pose_rect *roi, int dst_w,
                    int dst_h, pose_border border, float scale, float offset, float *dst)
{
    double cx = (double)roi->cx * w, cy = (double)roi->cy * h;
    double rw = (double)roi->w * w, rh = (double)roi->h * h;
    double c = cos(roi->rotation), s = sin(roi->rotation);
    double du = rw / dst_w, dv = rh / dst_h;
    double ax = c * du, ay = s * du;
    double bx = -s * dv, by = c * dv;
    double ox = cx + c * (-rw / 2) - s * (-rh / 2) + 0.5 * (ax + bx);
    double oy = cy + s * (-rw / 2) + c * (-rh / 2) + 0.5 * (ay + by);
    for (int v = 0; v < dst_h; v++) {
        float *out = dst + (size_t)v * dst_w * 3;
        for (int u = 0; u < dst_w; u++, out += 3) {
            double px = ox + ax * u + bx * v;
            double py = oy + ay * u + by * v;
            double fx = px - 0.5, fy = py - 0.5;
            const uint8_t *r0, *r1;
            size_t c0, c1;
            float tx, ty;
            if (fx >= 0 && fx < w - 1 && fy >= 0 && fy < h - 1) {
                int x0 = (int)fx, y0 = (int)fy;
                tx = (float)(fx - x0);
                ty = (float)(fy - y0);
                r0 = rgb + (size_t)y0 * stride;
                r1 = r0 + stride;
                c0 = (size_t)x0 * 3;
                c1 = c0 + 3;
            } else {
                if (border == POSE_BORDER_ZERO && !(px >= 0 && px <= w && py >= 0 && py <= h)) {
                    out[0] = out[1] = out[2] = offset;
                    continue;
                }
                fx = isfinite(px) ? fmin(fmax(fx, -1.0), (double)w) : 0.0;
                fy = isfinite(py) ? fmin(fmax(fy, -1.0), (double)h) : 0.0;
                int x0 = (int)floor(fx), y0 = (int)floor(fy);
                tx = (float)(fx - x0);
                ty = (float)(fy - y0);
                int ya = y0 < 0 ? 0 : (y0 > h - 1 ? h - 1 : y0);
                int yb = y0 + 1 < 0 ? 0 : (y0 + 1 > h - 1 ? h - 1 : y0 + 1);
                int xa = x0 < 0 ? 0 : (x0 > w - 1 ? w - 1 : x0);
                int xb = x0 + 1 < 0 ? 0 : (x0 + 1 > w - 1 ? w - 1 : x0 + 1);
                r0 = rgb + (size_t)ya * stride;
                r1 = rgb + (size_t)yb * stride;
                c0 = (size_t)xa * 3;
                c1 = (size_t)xb * 3;
            }
            for (int ch = 0; ch < 3; ch++) {
                float top = r0[c0 + ch] + (r0[c1 + ch] - r0[c0 + ch]) * tx;
                float bot = r1[c0 + ch] + (r1[c1 + ch] - r1[c0 + ch]) * tx;
                float val = top + (bot - top) * ty;
                out[ch] = val * scale + offset;
            }
        }
    }
}

typedef void (*crop_fn)(const uint8_t *, int, int, int, const pose_rect *, int, int, pose_border,
                        float, float, float *);

#define WITH(kernel)                                                                               \
    static void crop_##kernel(const uint8_t *rgb, int w, int h, int stride, const pose_rect *r,    \
                              int dw, int dh, pose_border b, float scale, float offset,            \
                              float *dst)                                                          \
    {                                                                                              \
        pose_crop_with(POSE_CROP_##kernel, rgb, w, h, stride, r, dw, dh, b, scale, offset, dst);   \
    }
WITH(PORTABLE)
WITH(AVX2)
WITH(AVX512)

static const struct {
    const char *name;
    crop_fn fn;
    int kernel; /* POSE_CROP_*, or -1: runs anywhere */
} variants[] = {
    {"v1 reference", crop_v1, -1},
    {"v2 portable", crop_PORTABLE, POSE_CROP_PORTABLE},
    {"v3 avx2", crop_AVX2, POSE_CROP_AVX2},
    {"v4 avx512", crop_AVX512, POSE_CROP_AVX512},
};

typedef struct shape {
    const char *name;
    pose_rect roi;
    int d;
    pose_border border;
    float scale, offset;
} shape;

static double now_ms(clockid_t clk)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_pose_crop [--runs N]\n");
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    /* A frame with texture everywhere: smooth gradients plus noise. */
    uint8_t *img = malloc((size_t)H * STRIDE);
    float *ref = malloc(sizeof(float) * MAXD * MAXD * 3);
    float *out = malloc(sizeof(float) * MAXD * MAXD * 3);
    double *wall = malloc(sizeof(double) * runs), *cpu = malloc(sizeof(double) * runs);
    if (img == NULL || ref == NULL || out == NULL || wall == NULL || cpu == NULL) {
        fprintf(stderr, "bench_pose_crop: out of memory\n");
        return 1;
    }
    unsigned x = 1;
    for (int y = 0; y < H; y++)
        for (int i = 0; i < STRIDE; i++) {
            x = x * 1103515245u + 12345u;
            img[(size_t)y * STRIDE + i] = (uint8_t)((i / 3 + y + (i % 3) * 60 + (x >> 28)) & 255);
        }
    const float rot = (float)(20 * 3.14159265358979323846 / 180);
    const float sq = 224.0f / W; /* 224 px square: normalized width; height * W / H */
    const shape shapes[] = {
        {"landmark", {0.5f, 0.5f, sq, sq * W / H, rot}, 256, POSE_BORDER_REPLICATE, 1.0f / 255, 0},
        {"edge", {0.9f, 0.5f, sq, sq * W / H, rot}, 256, POSE_BORDER_REPLICATE, 1.0f / 255, 0},
        {"detector", {0.5f, 0.5f, 1.0f, (float)W / H, 0}, 224, POSE_BORDER_ZERO, 2.0f / 255, -1},
    };
    printf("bench_pose_crop: %dx%d RGB24 source, kernel of pose_crop here: %s, %d runs\n", W, H,
           pose_crop_kernel_name(pose_crop_kernel()), runs);
    printf("%-9s %-13s %10s %10s %10s %12s\n", "shape", "variant", "min ms", "med ms", "cpu med",
           "max|diff|");
    int bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        crop_v1(img, W, H, STRIDE, &s->roi, s->d, s->d, s->border, s->scale, s->offset, ref);
        double base = 0;
        for (size_t vi = 0; vi < sizeof variants / sizeof variants[0]; vi++) {
            crop_fn fn = variants[vi].fn;
            if (variants[vi].kernel >= 0 && !pose_crop_kernel_usable(variants[vi].kernel))
                continue; /* not on this machine */
            fn(img, W, H, STRIDE, &s->roi, s->d, s->d, s->border, s->scale, s->offset, out);
            double diff = 0;
            for (int i = 0; i < s->d * s->d * 3; i++)
                diff = fmax(diff, fabs((double)out[i] - ref[i]) / s->scale);
            if (diff > 1e-4 * 255) {
                fprintf(stderr, "%s %s: %.3g from v1: not timed\n", s->name, variants[vi].name,
                        diff);
                bad = 1;
                continue;
            }
            for (int i = 0; i < 20; i++)
                fn(img, W, H, STRIDE, &s->roi, s->d, s->d, s->border, s->scale, s->offset, out);
            double best = INFINITY;
            for (int i = 0; i < runs; i++) {
                double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
                fn(img, W, H, STRIDE, &s->roi, s->d, s->d, s->border, s->scale, s->offset, out);
                cpu[i] = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
                wall[i] = now_ms(CLOCK_MONOTONIC) - t0;
                best = fmin(best, wall[i]);
            }
            qsort(wall, runs, sizeof *wall, cmp_double);
            qsort(cpu, runs, sizeof *cpu, cmp_double);
            if (vi == 0)
                base = best;
            printf("%-9s %-13s %10.4f %10.4f %10.4f %12.3g   x%.1f\n", s->name, variants[vi].name,
                   best, wall[runs / 2], cpu[runs / 2], diff, base / best);
        }
    }
    free(img), free(ref), free(out), free(wall), free(cpu);
    return bad;
}
