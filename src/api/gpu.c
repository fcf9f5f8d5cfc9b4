/*
 * gpu.c -- GPU figures for /metrics, read through NVML (NVIDIA's management library)
 * opened with dlopen at run time: crease has no build dependency on CUDA or NVML, and
 * on a machine without the NVIDIA driver (no libnvidia-ml.so.1) the GPU gauges are
 * simply absent.
 *
 * The few NVML declarations used are restated here from nvml.h (NVML API reference,
 * "Device Queries"): the functions and the two structs have kept these exact layouts
 * since the _v2 entry points (driver 319), which is why their versioned names are
 * the ones looked up.
 */
#include "api/api_int.h"

#include "core/log.h"
#include "core/mem.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int nvml_return;              /* nvmlReturn_t; NVML_SUCCESS = 0 */
typedef struct nvml_device *nvml_dev; /* nvmlDevice_t (opaque) */
typedef struct nvml_utilization {     /* nvmlUtilization_t */
    unsigned int gpu;                 /* percent of time a kernel ran, last sample period */
    unsigned int memory;              /* percent of time memory was read or written */
} nvml_utilization;
typedef struct nvml_memory {              /* nvmlMemory_t (v1) */
    unsigned long long total, free, used; /* bytes */
} nvml_memory;

struct api_gpu {
    void *lib;
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_dev *);
    nvml_return (*util)(nvml_dev, nvml_utilization *);
    nvml_return (*mem)(nvml_dev, nvml_memory *);
    nvml_return (*uuid)(nvml_dev, char *, unsigned int);
};

api_gpu *api_gpu_open(void)
{
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return NULL; /* no NVIDIA driver here: no GPU gauges */
    api_gpu *g = cr_calloc(1, sizeof *g);
    nvml_return (*init)(void) = NULL;
    if (g == NULL)
        goto fail;
    g->lib = lib;
    /* dlsym returns void *; ISO C has no conversion to function pointers, POSIX
     * guarantees it works (dlsym(3)): copy the bits. */
#define SYM(dst, name)                                                                             \
    do {                                                                                           \
        void *p = dlsym(lib, name);                                                                \
        if (p == NULL)                                                                             \
            goto fail;                                                                             \
        memcpy(&(dst), &p, sizeof p);                                                              \
    } while (0)
    SYM(init, "nvmlInit_v2");
    SYM(g->shutdown, "nvmlShutdown");
    SYM(g->count, "nvmlDeviceGetCount_v2");
    SYM(g->handle, "nvmlDeviceGetHandleByIndex_v2");
    SYM(g->util, "nvmlDeviceGetUtilizationRates");
    SYM(g->mem, "nvmlDeviceGetMemoryInfo");
    SYM(g->uuid, "nvmlDeviceGetUUID");
#undef SYM
    if (init() != 0) {
        cr_log_warn("gpu.nvml", "libnvidia-ml.so.1 found but nvmlInit failed: no GPU metrics");
        goto fail;
    }
    return g;
fail:
    cr_free(g);
    dlclose(lib);
    return NULL;
}

void api_gpu_close(api_gpu *g)
{
    if (g == NULL)
        return;
    g->shutdown();
    dlclose(g->lib);
    cr_free(g);
}

void api_gpu_write(api_gpu *g, cr_buf *out)
{
    if (g == NULL)
        return;
    unsigned int n = 0;
    if (g->count(&n) != 0 || n == 0)
        return;
    if (n > 64)
        n = 64;
    nvml_utilization u[64];
    nvml_memory m[64];
    char uuid[64][96];
    int ok_u[64] = {0}, ok_m[64] = {0};
    for (unsigned int i = 0; i < n; i++) {
        nvml_dev d = NULL;
        uuid[i][0] = '\0';
        if (g->handle(i, &d) != 0)
            continue;
        ok_u[i] = g->util(d, &u[i]) == 0;
        ok_m[i] = g->mem(d, &m[i]) == 0;
        if (g->uuid(d, uuid[i], sizeof uuid[i]) != 0)
            uuid[i][0] = '\0';
    }
    static const struct {
        const char *name, *help;
        cr_metric_kind kind;
        int which;
    } fam[] = {
        {"crease_gpu_utilization_ratio",
         "Per machine (NVML): fraction of the last sample period in which a kernel ran on the "
         "GPU, 0..1.",
         CR_METRIC_GAUGE, 0},
        {"crease_gpu_memory_used_bytes", "Per machine (NVML): GPU memory in use, all processes.",
         CR_METRIC_GAUGE, 1},
        {"crease_gpu_memory_total_bytes", "Per machine (NVML): GPU memory installed.",
         CR_METRIC_GAUGE, 2},
    };
    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        cr_metrics_write_header(out, fam[k].name, fam[k].kind, fam[k].help);
        for (unsigned int i = 0; i < n; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%u", i);
            const char *lab[] = {"gpu", idx, "uuid", uuid[i], NULL};
            if (fam[k].which == 0 && ok_u[i])
                cr_metrics_write_sample(out, fam[k].name, lab, u[i].gpu / 100.0);
            else if (fam[k].which == 1 && ok_m[i])
                cr_metrics_write_sample(out, fam[k].name, lab, (double)m[i].used);
            else if (fam[k].which == 2 && ok_m[i])
                cr_metrics_write_sample(out, fam[k].name, lab, (double)m[i].total);
        }
    }
}
