/*
 * bench_engine_gpu -- the GPU engine against the reference engine, and its frames/s,
 * on the four pose models; made for one bounded run on a GPU machine that has no
 * FFmpeg and no network (scripts/gpu-check), from files prepared on a CPU machine
 * (scripts/build-gpu).
 *
 *   bench_engine_gpu prepare DIR
 *       CPU side.  Reads DIR/crops/<image>_<size>.rgb (RGB24 person crops made by
 *       scripts/build-gpu with the ffmpeg CLI; size 224 for the detector, 256 for the
 *       landmark models), runs the reference engine on each, batch 1, and writes
 *       DIR/ref/<model>.<image>.<output>.f32 (raw float32, the output's values).
 *   bench_engine_gpu check DIR [--engine cuda] [--batches 1,64,256] [--check-batch 64]
 *                              [--deadline S] [--min-seconds T] [--no-timing]
 *                              [--models detector,lite,full,heavy]
 *       GPU side.  Stage 1, every model before any timing: the engine at batch 1 on
 *       each crop, then at --check-batch with the crops alternating over the items;
 *       every item's every output against the reference files:
 *       max|engine - ref| <= 1e-4 * range(ref) (DESIGN.md §7; for a one-value output
 *       the scale is max(|ref|, 1), as test_engine_models).  A mismatch prints
 *       "MISMATCH" at once and makes the exit status 1.
 *       Stage 2: frames/s per model and batch: 3 warm-up runs, then runs until
 *       --min-seconds (default 1) have passed (at least 5); a run is engine_run, so the
 *       copy of the input up and of the outputs down are in the time.  Stops starting
 *       new measurements when --deadline seconds (default 240) have passed since the
 *       start and prints the table it has.
 *   bench_engine_gpu dump MODEL OUTDIR OUTPUT...
 *       The pruned graph of MODEL (the given outputs) for scripts/gpu_torch.py:
 *       OUTDIR/graph.json (tensors, nodes with their parameters, the input and the
 *       outputs) and OUTDIR/weights.f32 (every constant, float32, at the offsets in
 *       graph.json, in floats).
 * Models are read from DIR/models (check, prepare) as copied there by scripts/build-gpu.
 * Output lines are prefixed by the stage ("check", "time", "table") for grep.
 */
#define _GNU_SOURCE
#include "engine/engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOL 1e-4 /* DESIGN.md §7 */
#define MAX_BATCHES 8

typedef struct model {
    const char *name, *file;
    int detector, size;
    int n_outs;
    const char *outs[4];
} model;

/* The outputs the pose pipeline reads (segmentation pruned away, as src/pose does). */
static const model models[] = {
    {"detector", "pose_detection.tflite", 1, 224, 2, {"Identity", "Identity_1"}},
    {"lite",
     "pose_landmark_lite.tflite",
     0,
     256,
     4,
     {"Identity", "Identity_1", "Identity_3", "Identity_4"}},
    {"full",
     "pose_landmark_full.tflite",
     0,
     256,
     4,
     {"Identity", "Identity_1", "Identity_3", "Identity_4"}},
    {"heavy",
     "pose_landmark_heavy.tflite",
     0,
     256,
     4,
     {"Identity", "Identity_1", "Identity_3", "Identity_4"}},
};
#define N_MODELS 4

/* The person crops (scripts/build-gpu). */
static const char *const images[] = {"cold_water", "messi5"};
#define N_IMAGES 2

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static float *read_f32(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v + 1);
    size_t got = f && v ? fread(v, sizeof *v, n + 1, f) : 0;
    if (f)
        fclose(f);
    if (got != n) {
        fprintf(stderr, "bench_engine_gpu: %s: expected %zu floats, got %zu\n", path, n, got);
        free(v);
        return NULL;
    }
    return v;
}

static int write_f32(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(v, sizeof *v, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "bench_engine_gpu: cannot write %s\n", path);
    return ok;
}

/* Crop `image` of model `m` as the model's input values: detector [-1,1], landmark
 * models [0,1] (DESIGN.md §7). */
static float *load_crop(const char *dir, const model *m, const char *image)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/crops/%s_%d.rgb", dir, image, m->size);
    size_t n = (size_t)m->size * m->size * 3;
    FILE *f = fopen(path, "rb");
    unsigned char *b = malloc(n);
    float *v = malloc(n * sizeof *v);
    size_t got = f && b && v ? fread(b, 1, n, f) : 0;
    if (f)
        fclose(f);
    if (got != n) {
        fprintf(stderr, "bench_engine_gpu: %s: missing or short (made by scripts/build-gpu)\n",
                path);
        free(b);
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = m->detector ? b[i] / 127.5f - 1.0f : b[i] / 255.0f;
    free(b);
    return v;
}

static size_t count_of(const engine_shape *s)
{
    size_t c = 1;
    for (int d = 0; d < s->rank; d++)
        c *= (size_t)s->dims[d];
    return c;
}

static engine *make(const char *name, const char *dir, const model *m, int batch)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", dir, m->file);
    engine *e;
    cr_err err = {0};
    if (engine_create_batch(name, path, m->outs, m->n_outs, 1, batch, &e, &err) != CR_OK) {
        fprintf(stderr, "bench_engine_gpu: %s %s batch %d: %s\n", name, m->name, batch,
                cr_err_msg(&err));
        return NULL;
    }
    return e;
}

/* Item b of the engine's batch gets crop b % N_IMAGES. */
static void fill(engine *e, float *const crops[N_IMAGES])
{
    engine_shape s;
    float *in = engine_input(e, &s);
    size_t item = count_of(&s) / (size_t)s.dims[0];
    for (int b = 0; b < s.dims[0]; b++)
        memcpy(in + (size_t)b * item, crops[b % N_IMAGES], item * sizeof(float));
}

/* ---- prepare ------------------------------------------------------------------------ */

static int prepare(const char *dir)
{
    int ok = 1;
    for (int mi = 0; mi < N_MODELS && ok; mi++) {
        const model *m = &models[mi];
        double t0 = now_s();
        engine *e = make("ref", dir, m, 1);
        ok = e != NULL;
        for (int k = 0; k < N_IMAGES && ok; k++) {
            float *crop = load_crop(dir, m, images[k]);
            cr_err err = {0};
            ok = crop != NULL;
            if (ok) {
                memcpy(engine_input(e, NULL), crop, (size_t)m->size * m->size * 3 * sizeof(float));
                ok = engine_run(e, &err) == CR_OK;
            }
            for (int o = 0; o < m->n_outs && ok; o++) {
                engine_shape s;
                const float *v = engine_output(e, m->outs[o], &s);
                char path[1024];
                snprintf(path, sizeof path, "%s/ref/%s.%s.%s.f32", dir, m->name, images[k],
                         m->outs[o]);
                ok = write_f32(path, v, count_of(&s));
            }
            free(crop);
        }
        engine_destroy(e);
        printf("prepare: %-8s reference outputs of %d crops (%.1f s)\n", m->name, N_IMAGES,
               now_s() - t0);
    }
    return ok ? 0 : 1;
}

/* ---- check -------------------------------------------------------------------------- */

typedef struct check_opts {
    const char *dir, *engine, *models; /* models: comma-separated names */
    int batches[MAX_BATCHES], n_batches, check_batch, timing;
    double deadline, min_seconds, t0;
} check_opts;

/* Compares every item of `e`'s outputs with the reference files; item b holds crop
 * (first + b) % N_IMAGES.  Prints one line per output; returns 1 when all are within
 * tolerance. */
static int compare(const check_opts *o, const model *m, const engine *e, int first)
{
    int ok = 1, batch = engine_batch(e);
    for (int out = 0; out < m->n_outs; out++) {
        engine_shape s;
        const float *got = engine_output(e, m->outs[out], &s);
        size_t item = count_of(&s) / (size_t)batch;
        double worst = -1, worst_scale = 1; /* the first item always becomes the worst */
        int worst_item = 0;
        for (int k = 0; k < N_IMAGES && k < batch; k++) {
            const char *image = images[(first + k) % N_IMAGES];
            char path[1024];
            snprintf(path, sizeof path, "%s/ref/%s.%s.%s.f32", o->dir, m->name, image,
                     m->outs[out]);
            float *want = read_f32(path, item);
            if (want == NULL)
                return 0;
            double lo = want[0], hi = want[0];
            for (size_t i = 0; i < item; i++) {
                lo = want[i] < lo ? want[i] : lo;
                hi = want[i] > hi ? want[i] : hi;
            }
            double scale = item == 1 ? fmax(fabs(want[0]), 1.0) : hi - lo;
            for (int b = k; b < batch; b += N_IMAGES) {
                const float *g = got + (size_t)b * item;
                double d = 0;
                for (size_t i = 0; i < item; i++) {
                    double x = fabs((double)g[i] - want[i]);
                    d = x > d || x != x ? x : d; /* a NaN is the worst */
                }
                if (d / scale > worst / worst_scale || d != d)
                    worst = d, worst_scale = scale, worst_item = b;
            }
            free(want);
        }
        int pass = worst <= TOL * worst_scale;
        printf("check: %-8s %-5s batch %-4d %-10s max|diff| %.3g  range %.4g  rel %.2e  %s\n",
               m->name, o->engine, batch, m->outs[out], worst, worst_scale, worst / worst_scale,
               pass ? "ok" : "MISMATCH");
        if (!pass)
            printf("check: MISMATCH %s %s batch %d output %s (worst item %d): %.3g > %.1e x "
                   "%.4g\n",
                   m->name, o->engine, batch, m->outs[out], worst_item, worst, TOL, worst_scale);
        ok &= pass;
    }
    fflush(stdout);
    return ok;
}

static int run_checked(engine *e, const char *what)
{
    cr_err err = {0};
    if (engine_run(e, &err) != CR_OK) {
        printf("check: FAILED run %s: %s\n", what, cr_err_msg(&err));
        return 0;
    }
    return 1;
}

/* Stage 1 for one model: batch 1 on each crop, then the check batch (crops alternating),
 * run twice (the second run replays the same CUDA graph on the same buffers). */
static int check_model(const check_opts *o, const model *m, float *const crops[N_IMAGES])
{
    int ok = 1;
    engine *single = make(o->engine, o->dir, m, 1);
    if (single == NULL) {
        printf("check: FAILED %s: engine creation\n", m->name);
        return 0;
    }
    for (int k = 0; k < N_IMAGES && ok; k++) {
        memcpy(engine_input(single, NULL), crops[k], (size_t)m->size * m->size * 3 * sizeof(float));
        ok = run_checked(single, m->name) && compare(o, m, single, k);
    }
    engine_destroy(single);
    if (ok && o->check_batch > 1) {
        engine *many = make(o->engine, o->dir, m, o->check_batch);
        ok = many != NULL;
        if (ok) {
            fill(many, crops);
            ok = run_checked(many, m->name) && compare(o, m, many, 0);
            ok = ok && run_checked(many, m->name) && compare(o, m, many, 0);
        }
        engine_destroy(many);
    }
    return ok;
}

/* Stage 2: frames/s of model `m` at batch `batch`; 0 when not measured. */
static double time_model(const check_opts *o, const model *m, int batch,
                         float *const crops[N_IMAGES])
{
    engine *e = make(o->engine, o->dir, m, batch);
    if (e == NULL)
        return 0;
    fill(e, crops);
    double fps = 0;
    int runs = 0;
    for (int i = 0; i < 3; i++)
        if (!run_checked(e, m->name))
            goto done;
    double t0 = now_s(), t = t0;
    while (runs < 5 || t - t0 < o->min_seconds) {
        if (!run_checked(e, m->name))
            goto done;
        runs++;
        t = now_s();
    }
    fps = (double)batch * runs / (t - t0);
    printf("time: %-8s %-5s batch %-4d %6d runs  %9.3f ms/run  %10.1f frames/s\n", m->name,
           o->engine, batch, runs, (t - t0) * 1e3 / runs, fps);
    fflush(stdout);
done:
    engine_destroy(e);
    return fps;
}

/* Is model `name` in the comma-separated list? */
static int chosen(const check_opts *o, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = o->models; p != NULL; p = strchr(p, ','), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static void print_table(const check_opts *o, double fps[N_MODELS][MAX_BATCHES], int verified)
{
    printf("table: frames/s, engine %s (engine_run: input up, model, outputs down)%s\n", o->engine,
           verified ? "" : " UNVERIFIED: the check failed");
    printf("table: %-8s", "model");
    for (int b = 0; b < o->n_batches; b++)
        printf(" %12s%-4d", "batch ", o->batches[b]);
    printf("\n");
    for (int mi = 0; mi < N_MODELS; mi++) {
        if (!chosen(o, models[mi].name))
            continue;
        printf("table: %-8s", models[mi].name);
        for (int b = 0; b < o->n_batches; b++)
            if (fps[mi][b] > 0)
                printf(" %16.1f", fps[mi][b]);
            else
                printf(" %16s", "-");
        printf("\n");
    }
}

static int check(const check_opts *o)
{
    float *crops[N_MODELS][N_IMAGES] = {{0}};
    int ok = 1;
    for (int mi = 0; mi < N_MODELS; mi++)
        for (int k = 0; k < N_IMAGES; k++)
            if ((crops[mi][k] = load_crop(o->dir, &models[mi], images[k])) == NULL)
                ok = 0;
    int loaded = ok;
    for (int mi = 0; mi < N_MODELS && loaded; mi++) { /* every model, even after a failure */
        if (!chosen(o, models[mi].name))
            continue;
        double t = now_s();
        int pass = check_model(o, &models[mi], crops[mi]);
        printf("check: %-8s %s (%.1f s)\n", models[mi].name, pass ? "PASS" : "FAIL", now_s() - t);
        ok &= pass;
    }
    printf("check: %s\n", ok ? "all outputs agree with the reference"
                             : "MISMATCH or failure: see the lines above");
    fflush(stdout);
    double fps[N_MODELS][MAX_BATCHES] = {{0}};
    for (int b = 0; o->timing && b < o->n_batches; b++)
        for (int mi = 0; mi < N_MODELS; mi++) {
            if (now_s() - o->t0 > o->deadline) {
                printf("time: deadline of %.0f s reached: the table is partial\n", o->deadline);
                b = o->n_batches;
                break;
            }
            if (crops[mi][0] != NULL && chosen(o, models[mi].name))
                fps[mi][b] = time_model(o, &models[mi], o->batches[b], crops[mi]);
        }
    if (o->timing)
        print_table(o, fps, ok);
    for (int mi = 0; mi < N_MODELS; mi++)
        for (int k = 0; k < N_IMAGES; k++)
            free(crops[mi][k]);
    return ok ? 0 : 1;
}

static int parse_check(int argc, char **argv, check_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dir = argv[2];
    o->engine = "cuda";
    o->models = "detector,lite,full,heavy";
    o->batches[0] = 1, o->batches[1] = 64, o->batches[2] = 256, o->n_batches = 3;
    o->check_batch = 64;
    o->timing = 1;
    o->deadline = 240;
    o->min_seconds = 1;
    for (int i = 3; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--no-timing") == 0) {
            o->timing = 0;
        } else if (v == NULL) {
            fprintf(stderr, "bench_engine_gpu: %s needs a value\n", argv[i]);
            return 0;
        } else if (strcmp(argv[i], "--models") == 0) {
            o->models = v, i++;
        } else if (strcmp(argv[i], "--engine") == 0) {
            o->engine = v, i++;
        } else if (strcmp(argv[i], "--check-batch") == 0) {
            o->check_batch = atoi(v), i++;
        } else if (strcmp(argv[i], "--deadline") == 0) {
            o->deadline = atof(v), i++;
        } else if (strcmp(argv[i], "--min-seconds") == 0) {
            o->min_seconds = atof(v), i++;
        } else if (strcmp(argv[i], "--batches") == 0) {
            o->n_batches = 0;
            for (const char *p = v; *p && o->n_batches < MAX_BATCHES; p = strchr(p, ',') + 1) {
                o->batches[o->n_batches++] = atoi(p);
                if (strchr(p, ',') == NULL)
                    break;
            }
            i++;
        } else {
            fprintf(stderr, "bench_engine_gpu: unknown option %s\n", argv[i]);
            return 0;
        }
    }
    for (int b = 0; b < o->n_batches; b++)
        if (o->batches[b] < 1 || o->batches[b] > 1024)
            return fprintf(stderr, "bench_engine_gpu: batches are 1..1024\n"), 0;
    if (o->check_batch < 1 || o->check_batch > 1024)
        return fprintf(stderr, "bench_engine_gpu: --check-batch is 1..1024\n"), 0;
    return 1;
}

/* ---- dump --------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void dump_node(FILE *f, const engine_graph_node *n)
{
    fprintf(f, "{\"op\": \"%s\", \"in\": [", engine_graph_op_name(n->op));
    for (int k = 0; k < n->n_in; k++)
        fprintf(f, "%s%d", k ? ", " : "", n->in[k]);
    fprintf(f,
            "], \"out\": %d, \"kh\": %d, \"kw\": %d, \"stride\": [%d, %d], "
            "\"pad\": [%d, %d, %d, %d], \"act_min\": %.9g, \"act_max\": %.9g, \"pads\": [",
            n->out, n->kh, n->kw, n->stride_h, n->stride_w, n->pad_top, n->pad_bottom, n->pad_left,
            n->pad_right, isinf(n->act_min) ? -3.4e38 : n->act_min,
            isinf(n->act_max) ? 3.4e38 : n->act_max);
    for (int d = 0; d < ENGINE_GRAPH_MAX_RANK; d++)
        fprintf(f, "%s[%d, %d]", d ? ", " : "", n->pads[d][0], n->pads[d][1]);
    fprintf(f,
            "], \"pad_value\": %.9g, \"align_corners\": %d, \"half_pixel\": %d, "
            "\"block\": %d, \"axis\": %d}",
            n->pad_value, n->align_corners, n->half_pixel, n->block, n->axis);
}

static int dump(const char *model_path, const char *outdir, const char *const *outs, int n_outs)
{
    engine *e;
    cr_err err = {0};
    if (engine_create("ref", model_path, outs, n_outs, 1, &e, &err) != CR_OK) {
        fprintf(stderr, "bench_engine_gpu: %s: %s\n", model_path, cr_err_msg(&err));
        return 1;
    }
    const engine_graph *g = engine_get_graph(e);
    char path[1024];
    snprintf(path, sizeof path, "%s/graph.json", outdir);
    FILE *f = fopen(path, "w");
    snprintf(path, sizeof path, "%s/weights.f32", outdir);
    FILE *w = fopen(path, "wb");
    int ok = f != NULL && w != NULL;
    size_t offset = 0;
    if (ok) {
        fprintf(f, "{\"input\": %d, \"outputs\": [", g->input);
        for (int i = 0; i < g->n_outputs; i++)
            fprintf(f, "%s%d", i ? ", " : "", g->outputs[i]);
        fprintf(f, "],\n \"tensors\": [\n");
        for (int t = 0; t < g->n_tensors; t++) {
            const engine_graph_tensor *tt = &g->tensors[t];
            fprintf(f, "  {\"name\": ");
            json_str(f, tt->name ? tt->name : "");
            fprintf(f, ", \"dims\": [");
            for (int d = 0; d < tt->rank; d++)
                fprintf(f, "%s%d", d ? ", " : "", tt->dims[d]);
            fprintf(f, "], \"offset\": %lld}%s\n", tt->data ? (long long)offset : -1LL,
                    t + 1 < g->n_tensors ? "," : "");
            if (tt->data) {
                ok &= fwrite(tt->data, sizeof(float), tt->count, w) == tt->count;
                offset += tt->count;
            }
        }
        fprintf(f, " ],\n \"nodes\": [\n");
        for (int ni = 0; ni < g->n_nodes; ni++) {
            fprintf(f, "  ");
            dump_node(f, &g->nodes[ni]);
            fprintf(f, "%s\n", ni + 1 < g->n_nodes ? "," : "");
        }
        fprintf(f, " ]}\n");
    }
    if (f && fclose(f) != 0)
        ok = 0;
    if (w && fclose(w) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "bench_engine_gpu: cannot write the dump into %s\n", outdir);
    else
        printf("dump: %s: %d nodes, %zu weights\n", model_path, g->n_nodes, offset);
    engine_destroy(e);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "prepare") == 0)
        return prepare(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "check") == 0) {
        check_opts o;
        if (!parse_check(argc, argv, &o))
            return 2;
        o.t0 = now_s();
        return check(&o);
    }
    if (argc >= 5 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2], argv[3], (const char *const *)argv + 4, argc - 4);
    fprintf(stderr, "usage: bench_engine_gpu prepare DIR | check DIR [options] | "
                    "dump MODEL OUTDIR OUTPUT...\n(see the top of bench_engine_gpu.c)\n");
    return 2;
}
