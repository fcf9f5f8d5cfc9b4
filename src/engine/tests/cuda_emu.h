/*
 * cuda_emu.h -- runs engine_cuda.cu's kernels and host code on the CPU, for the tests of
 * machines without a GPU (where CI runs).  Force-included (-include) when engine_cuda.cu
 * is compiled as plain C++ with CREASE_CUDA_EMULATE (src/engine/CMakeLists.txt); not
 * part of any shipped binary.
 *
 * What it proves: the kernels' index arithmetic, bounds, tiling and shared-memory use,
 * the filter repacking, the buffer plan, batches, and the host code's call sequence,
 * against the reference engine (test_engine_ops, test_engine_models).  What it cannot:
 * anything of the real GPU (memory model, launch limits, timing, CUDA graphs: capture
 * is refused here, so the engine's node-by-node path runs), which scripts/gpu-check
 * covers on a GPU machine.
 *
 * Execution model: one launch runs its blocks one after the other, in the calling
 * thread.  A kernel launched with LAUNCH runs its threads one after the other (it must
 * not use __syncthreads).  A kernel launched with LAUNCH_SYNC runs each thread as a
 * coroutine (ucontext) and __syncthreads switches to the next one, so every thread of
 * the block reaches the barrier before any goes on, as on the GPU.  __shared__ is a
 * static of the kernel, per OS thread (engines may run in several threads at once).
 * Device memory is host memory filled with 0xff bytes (NaN) at allocation, so a read of
 * a value no kernel wrote shows as NaN in the comparison.
 */
#ifndef CR_ENGINE_TESTS_CUDA_EMU_H
#define CR_ENGINE_TESTS_CUDA_EMU_H

#include <functional>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __shared__ static thread_local
#define __launch_bounds__(n)

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

static thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

/* ---- runtime calls -------------------------------------------------------------------- */

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorNotSupported = 801,
};
enum cudaMemcpyKind {
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
};
enum cudaStreamCaptureMode { cudaStreamCaptureModeThreadLocal = 1 };
#define cudaStreamNonBlocking 1u
#define cudaHostRegisterDefault 0u

struct emu_stream {
    int unused;
};
typedef emu_stream *cudaStream_t;
typedef struct emu_graph *cudaGraph_t;
typedef struct emu_graph_exec *cudaGraphExec_t;

static inline const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "no error (emulated)";
    case cudaErrorInvalidValue:
        return "invalid argument (emulated)";
    case cudaErrorMemoryAllocation:
        return "out of memory (emulated)";
    case cudaErrorNotSupported:
        return "operation not supported (emulated)";
    }
    return "unknown error (emulated)";
}
static inline cudaError_t cudaGetLastError(void)
{
    return cudaSuccess;
}
static inline cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int)
{
    return cudaSuccess;
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = (cudaStream_t)calloc(1, sizeof(emu_stream));
    return *s ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    free(s);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t)
{
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (*p == NULL)
        return cudaErrorMemoryAllocation;
    memset(*p, 0xff, n); /* NaN: device memory is not zeroed either */
    return cudaSuccess;
}
static inline cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind)
{
    memcpy(d, s, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind,
                                          cudaStream_t)
{
    memcpy(d, s, n);
    return cudaSuccess;
}
static inline cudaError_t cudaHostRegister(void *, size_t, unsigned)
{
    return cudaSuccess;
}
static inline cudaError_t cudaHostUnregister(void *)
{
    return cudaSuccess;
}
/* No CUDA graphs here: the engine falls back to enqueueing node by node. */
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode)
{
    return cudaErrorNotSupported;
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g)
{
    *g = NULL;
    return cudaErrorNotSupported;
}
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *, cudaGraph_t, unsigned long long)
{
    return cudaErrorNotSupported;
}
static inline cudaError_t cudaGraphDestroy(cudaGraph_t)
{
    return cudaSuccess;
}
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t)
{
    return cudaSuccess;
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t)
{
    return cudaErrorNotSupported;
}

/* ---- launches ------------------------------------------------------------------------- */

#define EMU_STACK (256 * 1024)

/* The coroutines of one block of a LAUNCH_SYNC kernel (per OS thread). */
struct emu_block {
    ucontext_t main;
    std::vector<ucontext_t> ctx;
    std::vector<std::vector<char>> stacks;
    std::vector<int> done;
    const std::function<void()> *body = nullptr;
    int cur = -1; /* the running thread, -1 outside a LAUNCH_SYNC block */
};
static thread_local emu_block emu_b;

static inline void __syncthreads(void)
{
    if (emu_b.cur < 0)
        abort(); /* a kernel launched with LAUNCH that needs LAUNCH_SYNC */
    swapcontext(&emu_b.ctx[emu_b.cur], &emu_b.main);
}

static void emu_entry(void)
{
    (*emu_b.body)();
    emu_b.done[emu_b.cur] = 1; /* then back to main through uc_link */
}

static inline void emu_set_thread(unsigned t, const dim3 &b)
{
    threadIdx = dim3(t % b.x, t / b.x % b.y, t / (b.x * b.y));
}

static inline void emu_run_block_sync(const dim3 &b, const std::function<void()> &body)
{
    unsigned n = b.x * b.y * b.z;
    emu_b.ctx.resize(n);
    emu_b.stacks.resize(n);
    emu_b.done.assign(n, 0);
    emu_b.body = &body;
    for (unsigned t = 0; t < n; t++) {
        emu_b.stacks[t].resize(EMU_STACK);
        getcontext(&emu_b.ctx[t]);
        emu_b.ctx[t].uc_stack.ss_sp = emu_b.stacks[t].data();
        emu_b.ctx[t].uc_stack.ss_size = EMU_STACK;
        emu_b.ctx[t].uc_link = &emu_b.main;
        makecontext(&emu_b.ctx[t], emu_entry, 0);
    }
    /* Round robin: each round runs every live thread up to its next barrier (or end). */
    for (unsigned live = n; live > 0;)
        for (unsigned t = 0; t < n; t++) {
            if (emu_b.done[t])
                continue;
            emu_b.cur = (int)t;
            emu_set_thread(t, b);
            swapcontext(&emu_b.main, &emu_b.ctx[t]);
            if (emu_b.done[t])
                live--;
        }
    emu_b.cur = -1;
}

static inline void emu_run(dim3 g, dim3 b, bool sync, const std::function<void()> &body)
{
    gridDim = g;
    blockDim = b;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx = dim3(x, y, z);
                if (sync) {
                    emu_run_block_sync(b, body);
                    continue;
                }
                for (unsigned t = 0; t < b.x * b.y * b.z; t++) {
                    emu_set_thread(t, b);
                    body();
                }
            }
}

template <class... P> struct emu_launcher {
    void (*kernel)(P...);
    dim3 g, b;
    bool sync;
    template <class... A> void operator()(A... a) const
    {
        void (*k)(P...) = kernel;
        std::function<void()> body = [&]() { k(a...); };
        emu_run(g, b, sync, body);
    }
};

template <class... P>
static inline emu_launcher<P...> emu_launch(void (*k)(P...), dim3 g, dim3 b, bool sync)
{
    return emu_launcher<P...>{k, g, b, sync};
}

#define LAUNCH(kernel, grid, block, stream) emu_launch(kernel, dim3(grid), dim3(block), false)
#define LAUNCH_SYNC(kernel, grid, block, stream) emu_launch(kernel, dim3(grid), dim3(block), true)

#endif
