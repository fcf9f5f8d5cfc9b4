/*
 * test_api_gpu.c -- the GPU gauges (gpu.c): NVML is opened with dlopen at run time.
 *   "fake":   run with LD_LIBRARY_PATH at a stand-in libnvidia-ml.so.1 (fake_nvml.c,
 *             fixed answers): the gauges carry its values per device, and a device whose
 *             utilization cannot be read has no utilization sample (but its memory)
 *   "absent": run without it: where the machine has no NVIDIA driver, nothing opens and
 *             nothing is written (skipped where a real libnvidia-ml.so.1 is installed)
 */
#include "api/api_int.h"
#include "check.h"

#include <dlfcn.h>

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int fake = argc > 1 && strcmp(argv[1], "fake") == 0;
    if (!fake) {
        void *real = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (real != NULL) {
            dlclose(real);
            fprintf(stderr, "skip: this machine has libnvidia-ml.so.1\n");
            return 77;
        }
    }
    api_gpu *g = api_gpu_open();
    cr_buf b = {0};
    api_gpu_write(g, &b);
    if (!fake) {
        CHECK(g == NULL);
        CHECK(b.len == 0);
    } else {
        CHECK(g != NULL);
        const char *t = b.p ? b.p : "";
        CHECK(has_line(t, "# TYPE crease_gpu_utilization_ratio gauge"));
        CHECK(has_line(t, "crease_gpu_utilization_ratio{gpu=\"0\",uuid=\"GPU-fake-0\"} 0.42"));
        CHECK(strstr(t, "crease_gpu_utilization_ratio{gpu=\"1\"") == NULL);
        CHECK(
            has_line(t, "crease_gpu_memory_used_bytes{gpu=\"1\",uuid=\"GPU-fake-1\"} 2147483648"));
        CHECK(has_line(t,
                       "crease_gpu_memory_total_bytes{gpu=\"0\",uuid=\"GPU-fake-0\"} 85899345920"));
        fputs(t, stderr);
    }
    cr_buf_release(&b);
    api_gpu_close(g);
    return check_exit();
}
