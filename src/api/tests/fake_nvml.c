/*
 * fake_nvml.c -- a stand-in libnvidia-ml.so.1 for test_api_gpu: the NVML entry points
 * gpu.c looks up, with fixed answers (two devices; the second has no utilization
 * reading), so that the dlopen path and the gauges it writes can be checked on a
 * machine without an NVIDIA driver.  Signatures and structs as in nvml.h.
 */
#include <stdio.h>
#include <string.h>

typedef struct fake_device {
    int index;
} fake_device;
typedef struct {
    unsigned int gpu, memory;
} fake_utilization;
typedef struct {
    unsigned long long total, free, used;
} fake_memory;

static fake_device devices[2] = {{0}, {1}};
static int initialised;

int nvmlInit_v2(void)
{
    initialised = 1;
    return 0;
}

int nvmlShutdown(void)
{
    initialised = 0;
    return 0;
}

int nvmlDeviceGetCount_v2(unsigned int *n)
{
    if (!initialised)
        return 1; /* NVML_ERROR_UNINITIALIZED */
    *n = 2;
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, fake_device **d)
{
    if (i > 1)
        return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    *d = &devices[i];
    return 0;
}

int nvmlDeviceGetUtilizationRates(fake_device *d, fake_utilization *u)
{
    if (d->index == 1)
        return 3; /* NVML_ERROR_NOT_SUPPORTED */
    u->gpu = 42;
    u->memory = 7;
    return 0;
}

int nvmlDeviceGetMemoryInfo(fake_device *d, fake_memory *m)
{
    m->total = 80ull << 30;
    m->used = (unsigned long long)(d->index + 1) << 30;
    m->free = m->total - m->used;
    return 0;
}

int nvmlDeviceGetUUID(fake_device *d, char *out, unsigned int n)
{
    snprintf(out, n, "GPU-fake-%d", d->index);
    return 0;
}
