/*
 * workers.c -- the worker threads of the embedded shape (api.h): `crease serve` on
 * the SQLite store runs the pipeline's loops inside the server, n chunk workers and
 * one analysis worker, each on its own store connection (the loops open their own),
 * so they never wait on the API's st_lock.  api_workers_stop sets the stop flag the
 * loops poll between chunks and joins them.
 */
#include "api/api_int.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"
#include "pose/pose_models.h"

#include <stdio.h>
#include <unistd.h>

struct api_worker {
    api_server *srv;
    int analysis; /* 1: the analysis worker */
    char name[96];
    pthread_t tid;
    int started;
    cr_status st;
    cr_err err;
};

static void *worker_main(void *p)
{
    api_worker *w = p;
    pipeline_worker_opts o;
    pipeline_worker_opts_default(&o);
    o.worker_id = w->name;
    o.poll_seconds = 0.5; /* a short idle poll: API jobs start within half a second */
    o.stop = &w->srv->stop_workers;
    o.metrics = w->srv->metrics;
    o.workers = w->srv->n_workers - 1; /* the chunk workers; the last thread aggregates */
    o.pose.models = w->srv->models;    /* loaded once for all of them */
    pipeline_worker_stats stats;
    w->st = w->analysis ? pipeline_analysis_worker_run(&w->srv->cfg, &o, &stats, &w->err)
                        : pipeline_chunk_worker_run(&w->srv->cfg, &o, &stats, &w->err);
    if (w->st != CR_OK && w->st != CR_ERR_CANCELLED)
        cr_log_error("api.worker", "%s: %s", w->name, cr_err_msg(&w->err));
    return NULL;
}

void api_workers_stop(api_server *s)
{
    s->stop_workers = 1;
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].tid, NULL);
    cr_free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    pose_models_destroy(s->models);
    s->models = NULL;
}

cr_status api_workers_start(api_server *s, int n, cr_err *err)
{
    cr_status st = pose_models_create(&s->cfg, &s->models, err);
    if (st != CR_OK)
        return st;
    s->workers = cr_calloc((size_t)n + 1, sizeof *s->workers);
    if (s->workers == NULL) {
        pose_models_destroy(s->models);
        s->models = NULL;
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    s->n_workers = n + 1;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (int i = 0; i <= n; i++) {
        api_worker *w = &s->workers[i];
        w->srv = s;
        w->analysis = i == n;
        if (w->analysis)
            snprintf(w->name, sizeof w->name, "%.40s:%d:serve-analysis", host, (int)getpid());
        else
            snprintf(w->name, sizeof w->name, "%.40s:%d:serve-%d", host, (int)getpid(), i);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            api_workers_stop(s);
            return cr_err_set(err, CR_ERR_INTERNAL, "cannot start worker thread");
        }
        w->started = 1;
    }
    return CR_OK;
}
