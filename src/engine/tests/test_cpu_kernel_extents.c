/*
 * test_cpu_kernel_extents -- the sanitizer build's footprint checks of the AVX-512
 * kernels (cpu_kernels.h, CREASE_KERNEL_EXTENTS).  Those kernels are compiled without
 * AddressSanitizer, so these checks are all that stands between them and a buffer one
 * float too short: each kernel is called on buffers of exactly the size its contract
 * asks for (it must run, and agree with the portable kernel), then, in a child process
 * each, on one buffer a float shorter, or without the slack a depthwise input must have
 * past its end: the child must stop with SIGABRT and name the buffer.  Built only with
 * CREASE_SANITIZE on x86-64; skipped on a CPU without AVX-512F.
 */
#include "check.h"
#include "engine/cpu_kernels.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint32_t rng = 2463534242u;
static float frand(void) /* uniform in [-1, 1): xorshift32 */
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

/* A heap buffer of exactly n floats (so its end is a redzone), random values. */
static float *rand_exact(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = frand();
    return v;
}

/* A copy of the first n floats of src in a buffer of exactly n floats. */
static float *copy_exact(const float *src, size_t n)
{
    float *v = malloc(n * sizeof *v);
    if (v)
        memcpy(v, src, n * sizeof *v);
    return v;
}

/* Runs fn(arg) in a child; checks that it died of SIGABRT with `needle` on its stderr. */
static void expect_abort(const char *name, void (*fn)(void *), void *arg, const char *needle)
{
    int fd[2];
    if (pipe(fd) != 0) {
        CHECK_MSG(0, "%s: pipe", name);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        fn(arg);
        _exit(0); /* not reached when the check works */
    }
    close(fd[1]);
    char out[16384];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "%s: the child was not stopped by SIGABRT (status %#x)", name, status);
    CHECK_MSG(strstr(out, "footprint exceeds its buffer") != NULL, "%s: no footprint message",
              name);
    CHECK_MSG(strstr(out, needle) != NULL, "%s: the message does not name '%s': %.400s", name,
              needle, out);
}

/* ---- matrix product: 11 rows x 37 inputs x 21 outputs (a partial second panel) ---- */
enum { GM = 11, GK = 37, GN = 21 };

static cpu_gemm_args gemm_args(const float *x, const float *w, const float *bias, float *y)
{
    cpu_gemm_args a = {.m = GM,
                       .k = GK,
                       .n = GN,
                       .x = x,
                       .ldx = GK,
                       .w = w,
                       .bias = bias,
                       .y = y,
                       .ldy = GN,
                       .lo = -INFINITY,
                       .hi = INFINITY};
    return a;
}

static void gemm_call(void *arg)
{
    cpu_kernels_avx512.gemm(arg);
}

static void check_gemm(void)
{
    float *x = rand_exact((size_t)GM * GK), *wraw = rand_exact((size_t)GN * GK);
    float *bias_raw = rand_exact(GN);
    float *w = malloc(cpu_packed_size(GN, GK) * sizeof(float));
    float *bias = malloc((GN + CPU_PANEL - 1) / CPU_PANEL * CPU_PANEL * sizeof(float));
    float *y = malloc((size_t)GM * GN * sizeof(float)),
          *yref = malloc((size_t)GM * GN * sizeof(float));
    cpu_pack_weights(wraw, GK, GN, GK, w);
    cpu_pack_bias(bias_raw, GN, bias);

    cpu_gemm_args a = gemm_args(x, w, bias, y);
    cpu_kernels_avx512.gemm(&a);
    cpu_gemm_args r = gemm_args(x, w, bias, yref);
    cpu_kernels_portable.gemm(&r);
    float worst = 0;
    for (size_t i = 0; i < (size_t)GM * GN; i++)
        worst = fmaxf(worst, fabsf(y[i] - yref[i]));
    CHECK_MSG(worst < 1e-4f, "gemm on exact buffers: %g from the portable kernel", worst);

    /* inputs one float short */
    float *x_short = copy_exact(x, (size_t)GM * GK - 1);
    cpu_gemm_args bad = gemm_args(x_short, w, bias, y);
    expect_abort("gemm, input short", gemm_call, &bad, "input row");
    /* inputs in segments (a 3-row filter's rows, 3 x 12 + 1 inputs do not divide: use
     * 3 segments of 12 over rows 40 floats apart, the last row's last segment short) */
    float *xs = rand_exact((size_t)(GM - 1) * 40 + 2 * 40 + 12 - 1);
    cpu_gemm_args seg = gemm_args(xs, w, bias, y);
    seg.k = 36;
    seg.kseg = 12;
    seg.ldseg = 40;
    seg.ldx = 40;
    expect_abort("gemm, segment short", gemm_call, &seg, "input row");
    /* outputs one float short */
    float *y_short = malloc(((size_t)GM * GN - 1) * sizeof(float));
    bad = gemm_args(x, w, bias, y_short);
    expect_abort("gemm, output short", gemm_call, &bad, "output row");
    /* weights: one panel row short */
    float *w_short = copy_exact(w, cpu_packed_size(GN, GK) - CPU_PANEL);
    bad = gemm_args(x, w_short, bias, y);
    expect_abort("gemm, weights short", gemm_call, &bad, "weights");
    /* the bias not padded to the panels */
    float *b_short = copy_exact(bias, GN);
    bad = gemm_args(x, w, b_short, y);
    expect_abort("gemm, bias unpadded", gemm_call, &bad, "bias");

    free(x), free(wraw), free(bias_raw), free(w), free(bias), free(y), free(yref);
    free(x_short), free(xs), free(y_short), free(w_short), free(b_short);
}

/* ---- depthwise 3x3, stride 1, SAME: 9 x 10 pixels of 20 channels (cpad 32) ---- */
enum { DH = 9, DW = 10, DC = 20, DCP = 32 };

static cpu_dw_args dw_args(const float *x, const float *wt, const float *bias, float *y)
{
    cpu_dw_args a = {.h = DH,
                     .w = DW,
                     .c = DC,
                     .oh = DH,
                     .ow = DW,
                     .oy0 = 0,
                     .oy1 = DH,
                     .kh = 3,
                     .kw = 3,
                     .sh = 1,
                     .sw = 1,
                     .pad_top = 1,
                     .pad_left = 1,
                     .x = x,
                     .wt = wt,
                     .bias = bias,
                     .cpad = DCP,
                     .y = y,
                     .lo = -INFINITY,
                     .hi = INFINITY};
    return a;
}

static void dw_call(void *arg)
{
    cpu_kernels_avx512.dwconv(arg);
}

static void check_dwconv(void)
{
    size_t n_in = (size_t)DH * DW * DC, slack = CPU_PANEL - DC % CPU_PANEL;
    float *x = rand_exact(n_in + slack), *wt = rand_exact(9 * DCP), *bias = rand_exact(DCP);
    float *y = malloc(n_in * sizeof(float)), *yref = malloc(n_in * sizeof(float));

    cpu_dw_args a = dw_args(x, wt, bias, y);
    cpu_kernels_avx512.dwconv(&a);
    cpu_dw_args r = dw_args(x, wt, bias, yref);
    cpu_kernels_portable.dwconv(&r);
    float worst = 0;
    for (size_t i = 0; i < n_in; i++)
        worst = fmaxf(worst, fabsf(y[i] - yref[i]));
    CHECK_MSG(worst < 1e-4f, "dwconv on exact buffers: %g from the portable kernel", worst);

    /* the input without the slack its last pixel's full loads read */
    float *x_noslack = copy_exact(x, n_in);
    cpu_dw_args bad = dw_args(x_noslack, wt, bias, y);
    expect_abort("dwconv, input without slack", dw_call, &bad, "input row");
    float *y_short = malloc((n_in - 1) * sizeof(float));
    bad = dw_args(x, wt, bias, y_short);
    expect_abort("dwconv, output short", dw_call, &bad, "output");
    float *wt_short = copy_exact(wt, 9 * DCP - 1);
    bad = dw_args(x, wt_short, bias, y);
    expect_abort("dwconv, weights short", dw_call, &bad, "weights");

    free(x), free(wt), free(bias), free(y), free(yref), free(x_noslack), free(y_short);
    free(wt_short);
}

/* ---- ADD of 45 floats ---- */
struct add_call {
    float *y;
    const float *a, *b;
};

static void add_call(void *arg)
{
    struct add_call *c = arg;
    cpu_kernels_avx512.add(c->y, c->a, c->b, 45, -INFINITY, INFINITY);
}

static void check_add(void)
{
    float *a = rand_exact(45), *b = rand_exact(45), *y = malloc(45 * sizeof(float));
    float *b_short = copy_exact(b, 44);
    cpu_kernels_avx512.add(y, a, b, 45, -INFINITY, INFINITY);
    int same = 1;
    for (int i = 0; i < 45; i++)
        same &= y[i] == a[i] + b[i];
    CHECK_MSG(same, "add on exact buffers: not a + b");
    struct add_call c = {y, a, b_short};
    expect_abort("add, input short", add_call, &c, "second input");
    free(a), free(b), free(y), free(b_short);
}

int main(void)
{
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "no AVX-512F on this CPU: the AVX-512 kernels never run here\n");
        return 77;
    }
    check_gemm();
    check_dwconv();
    check_add();
    return check_exit();
}
