/*
 * bench_sample.c -- samples every chunk of a video the way chunk workers do.
 *
 * usage: bench_video_sample FILE [--parallel N] [--chunk-seconds C] [--fps F]
 *                           [--max-width W]
 *
 * N threads (default 2) take chunks (CHUNK_SECONDS default 30) in order from a shared
 * counter, each with its own reader and sampler (one decoder thread), like
 * long-lived `crease chunk-worker` processes do; no process is started per chunk.
 * It validates before it reports: every chunk's grid indices are contiguous and the
 * chunks together hold exactly the grid of the whole video.  Prints one JSON line:
 * {"chunks","frames","packets_decoded","packets_skipped","bytes_read","file_bytes",
 *  "wall_s","cpu_s"}.  Used by bench/video/run.sh.
 */
#include "core/mem.h"
#include "core/reader.h"
#include "video/video.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct job {
    const char *path;
    video_chunk *chunks;
    size_t nchunks;
    double fps;
    int max_width;
    atomic_size_t next;
    pthread_mutex_t mu;
    /* totals, under mu */
    long long frames, decoded, skipped, bytes;
    int failed;
    int64_t *first_k, *count; /* per chunk */
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->nchunks)
            return NULL;
        cr_err err = {0};
        cr_reader *r = NULL;
        video_sampler *s = NULL;
        video_sampler_opts o;
        video_sampler_opts_default(&o);
        o.start_sec = j->chunks[i].start_sec;
        o.end_sec = j->chunks[i].end_sec;
        o.sample_fps = j->fps;
        o.max_width = j->max_width;
        o.threads = 1;
        long long n = 0;
        int64_t first = -1, prev = -1;
        unsigned sink = 0;
        cr_status st = cr_reader_open_file(j->path, &r, &err);
        if (st == CR_OK)
            st = video_sampler_open(r, &o, &s, &err);
        while (st == CR_OK) {
            video_frame f;
            int done = 0;
            st = video_sampler_next(s, &f, &done, &err);
            if (st != CR_OK || done)
                break;
            if (first < 0)
                first = f.k;
            if (prev >= 0 && f.k != prev + 1) {
                st = cr_err_set(&err, CR_ERR_INTERNAL, "chunk %zu: k %lld after %lld", i,
                                (long long)f.k, (long long)prev);
                break;
            }
            prev = f.k;
            sink += f.rgb[(size_t)(f.height / 2) * f.stride + 3 * (f.width / 2)];
            n++;
        }
        video_sampler_stats ss = {0};
        if (s)
            video_sampler_get_stats(s, &ss);
        pthread_mutex_lock(&j->mu);
        if (st != CR_OK) {
            fprintf(stderr, "chunk %zu: %s\n", i, cr_err_msg(&err));
            j->failed = 1;
        }
        j->frames += n;
        j->decoded += ss.packets_decoded;
        j->skipped += ss.packets_skipped;
        j->bytes += r ? (long long)cr_reader_bytes_read(r) : 0;
        j->first_k[i] = first;
        j->count[i] = n;
        pthread_mutex_unlock(&j->mu);
        (void)sink;
        video_sampler_close(s);
        cr_reader_close(r);
    }
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int parallel = 2, chunk_seconds = 30, max_width = 640; /* DESIGN.md §2 defaults, §9 setup */
    double fps = 10.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (strcmp(argv[i], "--chunk-seconds") == 0 && i + 1 < argc)
            chunk_seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--fps") == 0 && i + 1 < argc)
            fps = atof(argv[++i]);
        else if (strcmp(argv[i], "--max-width") == 0 && i + 1 < argc)
            max_width = atoi(argv[++i]);
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (path == NULL || parallel < 1 || parallel > 64 || chunk_seconds < 1 || !(fps > 0) ||
        max_width < 1) {
        fprintf(stderr, "usage: bench_video_sample FILE [--parallel N] [--chunk-seconds C] "
                        "[--fps F] [--max-width W]\n");
        return 2;
    }
    double w0 = wall_now(), c0 = cpu_now();
    cr_err err = {0};
    cr_reader *r = NULL;
    video_info in;
    job j;
    memset(&j, 0, sizeof j);
    if (cr_reader_open_file(path, &r, &err) != CR_OK || video_probe(r, &in, &err) != CR_OK ||
        video_chunk_plan(in.duration_seconds, chunk_seconds, &j.chunks, &j.nchunks, &err) !=
            CR_OK) {
        fprintf(stderr, "bench_video_sample: %s\n", cr_err_msg(&err));
        cr_reader_close(r);
        return 1;
    }
    uint64_t file_bytes = cr_reader_size(r);
    cr_reader_close(r);
    j.path = path;
    j.fps = fps;
    j.max_width = max_width;
    atomic_init(&j.next, 0);
    pthread_mutex_init(&j.mu, NULL);
    j.first_k = cr_calloc(j.nchunks, sizeof *j.first_k);
    j.count = cr_calloc(j.nchunks, sizeof *j.count);
    pthread_t th[64];
    for (int i = 0; i < parallel; i++)
        pthread_create(&th[i], NULL, worker, &j);
    for (int i = 0; i < parallel; i++)
        pthread_join(th[i], NULL);
    double wall = wall_now() - w0, cpu = cpu_now() - c0;

    /* validation: chunks are contiguous on the grid and cover it exactly */
    int64_t expect = 0;
    for (size_t i = 0; i < j.nchunks && !j.failed; i++) {
        if (j.count[i] > 0 && j.first_k[i] != expect) {
            fprintf(stderr, "chunk %zu starts at k=%lld, want %lld\n", i, (long long)j.first_k[i],
                    (long long)expect);
            j.failed = 1;
        }
        expect += j.count[i];
    }
    if (!j.failed && expect != video_grid_first_k(in.duration_seconds, fps)) {
        fprintf(stderr, "%lld frames in all, want %lld\n", (long long)expect,
                (long long)video_grid_first_k(in.duration_seconds, fps));
        j.failed = 1;
    }
    printf("{\"chunks\":%zu,\"frames\":%lld,\"packets_decoded\":%lld,\"packets_skipped\":%lld,"
           "\"bytes_read\":%lld,\"file_bytes\":%llu,\"wall_s\":%.3f,\"cpu_s\":%.3f}\n",
           j.nchunks, j.frames, j.decoded, j.skipped, j.bytes, (unsigned long long)file_bytes, wall,
           cpu);
    cr_free(j.chunks);
    cr_free(j.first_k);
    cr_free(j.count);
    pthread_mutex_destroy(&j.mu);
    return j.failed ? 1 : 0;
}
