/*
 * bench_blob_read.c -- how many bytes and requests sampling a chunk of a stored
 * video costs through the blob reader, and how long it takes.
 *
 *   bench_blob_read FILE [CHUNK_SECONDS [SAMPLE_FPS]]
 *
 * The store: s3rver (or any S3) when CREASE_TEST_S3_ENDPOINT, CREASE_TEST_S3_BUCKET,
 * CREASE_TEST_S3_ACCESS_KEY and CREASE_TEST_S3_SECRET_KEY are set (scripts/services
 * start prints them), else a local folder in /tmp.  FILE is uploaded once (S3:
 * multipart when large), then every chunk of the plan (CHUNK_SECONDS, default 30)
 * is sampled at SAMPLE_FPS (default 10), width <= 640, through blob_open_reader,
 * with three read-ahead limits:
 *   v1  64 KiB  (BLOB_READ_WINDOW_MIN: no growth)
 *   v2  1 MiB   (BLOB_READ_WINDOW_DEFAULT)
 *   v3  4 MiB
 * Validation before timing: every variant must give the same frame count and pixel
 * hash per chunk as sampling the local file with cr_reader_open_file.
 * Reported per variant: bytes fetched per chunk (mean, max) as a share of the file,
 * requests per chunk, wall time per chunk.  On a shared 2-core machine expect
 * noisy times; byte and request counts are exact.
 */
#include "blob/blob.h"
#include "core/mem.h"
#include "video/video.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

typedef struct run {
    int frames;
    uint64_t hash;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sample(cr_reader *r, const video_chunk *c, double fps, run *out)
{
    video_sampler_opts o;
    video_sampler_opts_default(&o);
    o.start_sec = c->start_sec;
    o.end_sec = c->end_sec;
    o.sample_fps = fps;
    video_sampler *s = NULL;
    cr_err err = {0};
    out->frames = 0;
    out->hash = 1469598103934665603ull; /* FNV-1a */
    if (video_sampler_open(r, &o, &s, &err) != CR_OK) {
        fprintf(stderr, "sampler: %s\n", cr_err_msg(&err));
        return -1;
    }
    for (;;) {
        video_frame f;
        int done = 0;
        if (video_sampler_next(s, &f, &done, &err) != CR_OK) {
            fprintf(stderr, "sampler: %s\n", cr_err_msg(&err));
            video_sampler_close(s);
            return -1;
        }
        if (done)
            break;
        out->frames++;
        for (int x = 0; x < 3 * f.width; x += 7) /* first row, sparsely: cheap identity */
            out->hash = (out->hash ^ f.rgb[x]) * 1099511628211ull;
        out->hash = (out->hash ^ (uint64_t)f.k) * 1099511628211ull;
    }
    video_sampler_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_blob_read FILE [CHUNK_SECONDS [SAMPLE_FPS]]\n");
        return 2;
    }
    const char *path = argv[1];
    int chunk_s = argc > 2 ? atoi(argv[2]) : 30;
    double fps = argc > 3 ? atof(argv[3]) : 10.0;
    struct stat sb;
    if (stat(path, &sb) != 0 || chunk_s < 1 || fps <= 0) {
        fprintf(stderr, "bench_blob_read: bad FILE or arguments\n");
        return 2;
    }
    cr_err err = {0};
    blob_store *b = NULL;
    const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
    char dir[] = "/tmp/crease-bench-blob-XXXXXX";
    int local = 0;
    if (ep && getenv("CREASE_TEST_S3_BUCKET")) {
        blob_s3_params p = {.bucket = getenv("CREASE_TEST_S3_BUCKET"),
                            .endpoint = ep,
                            .access_key_id = getenv("CREASE_TEST_S3_ACCESS_KEY"),
                            .secret_access_key = getenv("CREASE_TEST_S3_SECRET_KEY")};
        if (blob_open_s3(&p, NULL, &b, &err) != CR_OK) {
            fprintf(stderr, "open: %s\n", cr_err_msg(&err));
            return 1;
        }
    } else {
        local = 1;
        if (mkdtemp(dir) == NULL || blob_open_local(dir, NULL, NULL, &b, &err) != CR_OK) {
            fprintf(stderr, "open local: %s\n", cr_err_msg(&err));
            return 1;
        }
    }
    struct utsname u;
    uname(&u);
    printf("bench_blob_read: %s on %s (%s, %ld cores), backend %s\n", path, u.nodename, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN), blob_backend_name(b));

    char key[128];
    snprintf(key, sizeof key, "bench/%ld/video", (long)getpid());
    double t0 = now_s();
    if (blob_put_file(b, key, path, "video/mp4", &err) != CR_OK) {
        fprintf(stderr, "upload: %s\n", cr_err_msg(&err));
        return 1;
    }
    uint64_t size = (uint64_t)sb.st_size;
    printf("upload: %.1f MiB in %.2f s\n", (double)size / 1048576.0, now_s() - t0);

    cr_reader *lr = NULL;
    video_info info;
    if (cr_reader_open_file(path, &lr, &err) != CR_OK || video_probe(lr, &info, &err) != CR_OK) {
        fprintf(stderr, "probe: %s\n", cr_err_msg(&err));
        return 1;
    }
    cr_reader_close(lr);
    video_chunk *plan = NULL;
    size_t n = 0;
    if (video_chunk_plan(info.duration_seconds, chunk_s, &plan, &n, &err) != CR_OK) {
        fprintf(stderr, "plan: %s\n", cr_err_msg(&err));
        return 1;
    }
    printf("video: %.1f s, %s %dx%d; %zu chunks of %d s at %.1f fps\n", info.duration_seconds,
           info.codec, info.width, info.height, n, chunk_s, fps);

    /* reference: the local file */
    run *ref = cr_calloc(n, sizeof *ref);
    uint64_t local_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (cr_reader_open_file(path, &lr, &err) != CR_OK || sample(lr, &plan[i], fps, &ref[i]))
            return 1;
        local_bytes += cr_reader_bytes_read(lr);
        cr_reader_close(lr);
    }
    printf("local file reader: the sampler reads %.1f %% of the file per chunk on average\n",
           100.0 * (double)local_bytes / (double)n / (double)size);

    const struct {
        const char *name;
        size_t window;
    } vs[] = {{"v1", 64u << 10}, {"v2", 1u << 20}, {"v3", 4u << 20}};
    printf("%-4s %8s %12s %12s %10s %10s %10s\n", "var", "window", "fetched/ch", "max/ch",
           "% of file", "req/ch", "s/chunk");
    int bad = 0;
    for (size_t v = 0; v < sizeof vs / sizeof vs[0]; v++) {
        uint64_t total = 0, maxc = 0, reqs = 0;
        double secs = 0;
        for (size_t i = 0; i < n; i++) {
            blob_reader_stats st = {0};
            cr_reader *r = NULL;
            double t1 = now_s();
            if (blob_open_reader(b, key, vs[v].window, &st, &r, &err) != CR_OK) {
                fprintf(stderr, "reader: %s\n", cr_err_msg(&err));
                return 1;
            }
            run got;
            if (sample(r, &plan[i], fps, &got) != 0)
                return 1;
            secs += now_s() - t1;
            cr_reader_close(r);
            if (got.frames != ref[i].frames || got.hash != ref[i].hash) {
                fprintf(stderr, "%s chunk %zu: frames differ from the local file's\n", vs[v].name,
                        i);
                bad = 1;
            }
            total += st.bytes_fetched;
            reqs += st.requests;
            if (st.bytes_fetched > maxc)
                maxc = st.bytes_fetched;
        }
        printf("%-4s %7zuK %12.0f %12llu %9.1f%% %10.1f %10.3f\n", vs[v].name, vs[v].window >> 10,
               (double)total / (double)n, (unsigned long long)maxc,
               100.0 * (double)total / (double)n / (double)size, (double)reqs / (double)n,
               secs / (double)n);
    }
    blob_delete(b, key, &err);
    blob_close(b);
    cr_free(plan);
    cr_free(ref);
    if (local) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return bad;
}
