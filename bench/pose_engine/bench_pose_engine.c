/*
 * bench_pose_engine -- milliseconds per frame of a pose engine on the four models,
 * pruned and unpruned, with 1 and 2 threads, on a real person crop (cold_water.jpg,
 * the square around the standing man, made with the ffmpeg CLI).
 *
 * Variants (per model):
 *   v1 all      every output of the model (no pruning)
 *   v2 pipeline the outputs the pose pipeline reads: landmarks, pose flag, the
 *               heatmap's features (the input of its last layer, which the tracker
 *               evaluates itself: pose/tracker.c HEATMAP), world landmarks
 *               (segmentation pruned away; DESIGN.md §9 target: full <= 8 ms/frame on
 *               one thread)
 *   v3 minimal  landmarks, pose flag, world landmarks (heatmap pruned as well)
 * The detector has one variant (both outputs are needed).
 *
 * Each engine is validated against the reference engine before it is timed
 * (max|diff| per output, relative to the output's range).  Timing: 5 warm-up runs,
 * then N runs; min, median and mean wall-clock ms are printed, and with one thread
 * the median CPU time of the calling thread ("cpu med", which leaves out the time
 * other processes held the core).  The machine is shared: the min and the CPU time
 * are the figures least disturbed by other load.
 *
 * With --batch 1,4,8 each variant also runs as a batch of that many copies of the crop
 * (engine_create_batch); the times are then per frame (a run's time / the batch), the
 * figure that says what stepping several chunks at once through one engine saves.
 *
 * usage: bench_pose_engine [--engine NAME] [--runs N] [--models detector,lite,full,heavy]
 *                          [--threads 1,2] [--batch 1,4] [--crop-dir DIR] [--no-validate]
 * (run from the repo root; --crop-dir reads DIR/cold_water_{224,256}.rgb, the files of the
 * engine_media test fixture, instead of running ffmpeg)
 */
#define _GNU_SOURCE
#include "engine/engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct model {
    const char *name, *file;
    int detector;
} model;

static const model models[] = {
    {"detector", "models/pose_detection.tflite", 1},
    {"lite", "models/pose_landmark_lite.tflite", 0},
    {"full", "models/pose_landmark_full.tflite", 0},
    {"heavy", "models/pose_landmark_heavy.tflite", 0},
};

static const char *const minimal_outs[] = {"Identity", "Identity_1", "Identity_4"};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* CPU time of the calling thread: with 1 thread the engine runs on the caller, so
 * this excludes the time other processes on the shared machine took the core. */
static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The crop as floats: detector [-1,1], landmark models [0,1] (DESIGN.md §7).  From
 * DIR/cold_water_SIZE.rgb when `dir` is set (the test fixture's files), else made now. */
static float *load_crop(const char *dir, int size, int detector)
{
    char cmd[1024];
    if (dir)
        snprintf(cmd, sizeof cmd, "cat '%s/cold_water_%d.rgb'", dir, size);
    else
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -nostdin -v error -i media/cold_water.jpg -vf "
                 "crop=400:400:270:133,scale=%d:%d -f rawvideo -pix_fmt rgb24 -",
                 size, size);
    FILE *p = popen(cmd, "r");
    size_t n = (size_t)size * size * 3;
    unsigned char *b = malloc(n);
    float *f = malloc(n * sizeof *f);
    size_t got = p && b ? fread(b, 1, n, p) : 0;
    if (p)
        pclose(p);
    if (got != n || f == NULL) {
        fprintf(stderr, "bench: could not make the crop with ffmpeg\n");
        free(b);
        free(f);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        f[i] = detector ? b[i] / 127.5f - 1.0f : b[i] / 255.0f;
    free(b);
    return f;
}

static size_t count_of(const engine_shape *s)
{
    size_t c = 1;
    for (int d = 0; d < s->rank; d++)
        c *= (size_t)s->dims[d];
    return c;
}

static engine *make(const char *name, const model *m, const char *const *outs, int n, int threads,
                    int batch, const float *crop)
{
    engine *e;
    cr_err err = {0};
    if (engine_create_batch(name, m->file, outs, n, threads, batch, &e, &err) != CR_OK) {
        fprintf(stderr, "bench: %s %s: %s\n", name, m->name, cr_err_msg(&err));
        return NULL;
    }
    engine_shape s;
    float *in = engine_input(e, &s);
    size_t item = count_of(&s) / (size_t)batch;
    for (int b = 0; b < batch; b++)
        memcpy(in + (size_t)b * item, crop, item * sizeof(float));
    return e;
}

/* Worst max|diff|/range over the outputs of `e` against `ref`. */
static double validate(const engine *ref, const engine *e)
{
    const engine_graph *g = engine_get_graph(e);
    double worst = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        const char *name = g->tensors[g->outputs[i]].name;
        engine_shape s;
        const float *a = engine_output(ref, name, &s), *b = engine_output(e, name, NULL);
        if (!a || !b)
            return INFINITY;
        double lo = a[0], hi = a[0], d = 0;
        for (size_t k = 0; k < count_of(&s); k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = a[k] > hi ? a[k] : hi;
            d = fmax(d, fabs((double)a[k] - b[k]));
        }
        double scale = hi - lo > 0 ? hi - lo : fmax(fabs(a[0]), 1);
        worst = fmax(worst, d / scale);
    }
    return worst;
}

static void cpu_name(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            snprintf(out, cap, "%s", c ? c + 2 : line);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    const char *crop_dir = NULL;
    const char *eng_name = "xnnpack", *model_list = "detector,lite,full,heavy",
               *thread_list = "1,2", *batch_list = "1";
    int runs = 50, do_validate = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--engine") == 0 && i + 1 < argc)
            eng_name = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            model_list = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            thread_list = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch_list = argv[++i];
        else if (strcmp(argv[i], "--crop-dir") == 0 && i + 1 < argc)
            crop_dir = argv[++i];
        else if (strcmp(argv[i], "--no-validate") == 0)
            do_validate = 0;
        else {
            fprintf(stderr, "usage: bench_pose_engine [--engine NAME] [--runs N] [--models "
                            "detector,lite,full,heavy] [--threads 1,2] [--batch 1,4] "
                            "[--crop-dir DIR] [--no-validate]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (runs < 1)
        runs = 1;
    char cpu[300];
    cpu_name(cpu, sizeof cpu);
    printf("bench_pose_engine: engine %s, %d runs, %s (shared machine: see min)\n", eng_name, runs,
           cpu);
    printf("%-9s %-9s %3s %5s %6s %9s %9s %9s %9s %10s\n", "model", "variant", "thr", "batch",
           "nodes", "min ms", "median", "mean", "cpu med", "val diff");
    int failed = 0;
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        const model *m = &models[mi];
        if (strstr(model_list, m->name) == NULL)
            continue;
        /* heavy is ~5x full (1.9 GMAC): a fifth of the runs keeps the bench short */
        int n_runs = m->detector || strcmp(m->name, "heavy") != 0 ? runs : (runs + 4) / 5;
        float *crop = load_crop(crop_dir, m->detector ? 224 : 256, m->detector);
        if (crop == NULL)
            return 1;
        /* v2's heatmap features: an inner tensor, so the reference is asked for it too */
        engine_pointwise head = {0};
        engine_model *lm = NULL;
        cr_status hs = m->detector ? CR_OK : engine_model_load(m->file, &lm, NULL);
        if (!m->detector && hs == CR_OK)
            hs = engine_pointwise_from(lm, "Identity_3", &head, NULL);
        engine_model_free(lm);
        if (hs != CR_OK) {
            fprintf(stderr, "bench: %s: no 1x1 heatmap layer\n", m->name);
            free(crop);
            return 1;
        }
        const char *const pipeline_outs[] = {"Identity", "Identity_1", head.input, "Identity_4"};
        const char *const ref_outs[] = {"Identity",   "Identity_1", "Identity_2",
                                        "Identity_3", "Identity_4", head.input};
        engine *ref = NULL;
        if (do_validate &&
            (ref = make("ref", m, m->detector ? NULL : ref_outs, m->detector ? 0 : 6, 1, 1,
                        crop)) != NULL &&
            engine_run(ref, NULL) != CR_OK) {
            engine_destroy(ref);
            ref = NULL;
        }
        for (int v = 0; v < (m->detector ? 1 : 3); v++) {
            const char *const *outs = v == 1 ? pipeline_outs : v == 2 ? minimal_outs : NULL;
            int n_outs = v == 1 ? 4 : v == 2 ? 3 : 0;
            const char *vname = v == 0 ? "v1 all" : v == 1 ? "v2 pipe" : "v3 min";
            for (const char *t = thread_list; *t;
                 t += strcspn(t, ",") + (t[strcspn(t, ",")] != 0)) {
                int threads = atoi(t);
                for (const char *bl = batch_list; *bl;
                     bl += strcspn(bl, ",") + (bl[strcspn(bl, ",")] != 0)) {
                    int batch = atoi(bl) > 0 ? atoi(bl) : 1;
                    engine *e = make(eng_name, m, outs, n_outs, threads, batch, crop);
                    if (e == NULL) {
                        failed = 1;
                        continue;
                    }
                    double *ms = malloc(sizeof(double) * (size_t)n_runs), sum = 0;
                    double *cpu_ms = malloc(sizeof(double) * (size_t)n_runs);
                    cr_err err = {0};
                    for (int i = 0; i < 5; i++) /* warm-up: caches, thread pool, page faults */
                        engine_run(e, &err);
                    double diff = ref ? validate(ref, e) : NAN;
                    if (ref && !(diff <= 1e-3)) {
                        fprintf(stderr, "bench: %s %s %s: does not validate (%g)\n", eng_name,
                                m->name, vname, diff);
                        failed = 1;
                    }
                    for (int i = 0; i < n_runs; i++) {
                        double t0 = now_ms(), c0 = thread_cpu_ms();
                        engine_run(e, &err);
                        ms[i] = (now_ms() - t0) / batch;
                        cpu_ms[i] = (thread_cpu_ms() - c0) / batch;
                        sum += ms[i];
                    }
                    qsort(ms, (size_t)n_runs, sizeof *ms, cmp_double);
                    qsort(cpu_ms, (size_t)n_runs, sizeof *cpu_ms, cmp_double);
                    char cpu_col[32] = "-"; /* with a pool, the caller's CPU time means little */
                    if (threads == 1)
                        snprintf(cpu_col, sizeof cpu_col, "%.2f", cpu_ms[n_runs / 2]);
                    printf("%-9s %-9s %3d %5d %6d %9.2f %9.2f %9.2f %9s %10.2e\n", m->name, vname,
                           threads, batch, engine_get_graph(e)->n_nodes, ms[0], ms[n_runs / 2],
                           sum / n_runs, cpu_col, diff);
                    free(cpu_ms);
                    fflush(stdout);
                    free(ms);
                    engine_destroy(e);
                }
            }
        }
        engine_destroy(ref);
        engine_pointwise_free(&head);
        free(crop);
    }
    return failed;
}
