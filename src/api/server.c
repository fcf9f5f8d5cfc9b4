/*
 * server.c -- the API server's lifetime (api.h): api_server_start checks the
 * configuration, listens, opens the blob store and the store (migrating SQLite up,
 * checking PostgreSQL's schema), starts the daemon (http.c) and, in the embedded
 * shape, the workers (workers.c); api_server_stop undoes it in reverse.
 */
#include "api/api_int.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

cr_status api_server_start(const cr_config *cfg, const api_options *opt, api_server **out,
                           cr_err *err)
{
    *out = NULL;
    if (cfg->app_secret_key[0] == '\0')
        return cr_err_set(err, CR_ERR_INVALID,
                          "APP_SECRET_KEY is required: it signs the API tokens");
    const char *bind_addr = opt && opt->bind ? opt->bind : "127.0.0.1";
    int port = opt ? opt->port : 0;

    api_server *s = cr_calloc(1, sizeof *s);
    if (s == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->upload_max = opt && opt->upload_max ? opt->upload_max : (uint64_t)cfg->max_upload_bytes;
    double rate = opt && opt->jobs_per_minute != 0 ? opt->jobs_per_minute : API_JOBS_PER_MINUTE;
    api_rate_init(&s->job_rate, rate > 0 ? rate : 0,
                  opt && opt->jobs_burst > 0 ? opt->jobs_burst : API_JOBS_BURST);
    pthread_mutex_init(&s->st_lock, NULL);
    cr_status st;
    int fd = -1;

    /* The registry first (the embedded workers record in it), then the socket: its
     * port goes into the local backend's presigned URLs. */
    if ((st = cr_metrics_create(&s->metrics, err)) != CR_OK ||
        (st = pipeline_metrics_declare(s->metrics, err)) != CR_OK)
        goto fail;
    s->gpu = api_gpu_open();
    if ((st = api_listen(bind_addr, port, &fd, &s->port, err)) != CR_OK)
        goto fail;

    char base[CR_CONFIG_STR + 64];
    if (opt && opt->public_url && opt->public_url[0])
        snprintf(base, sizeof base, "%s", opt->public_url);
    else
        snprintf(base, sizeof base, "http://%s:%d", bind_addr, s->port);
    blob_options bo = {0};
    bo.url_base = base;
    if ((st = blob_open(cfg, &bo, &s->blob, err)) != CR_OK)
        goto fail;
    api_web_init(s); /* the page's policy names the blob store's upload origin */
    if ((st = store_open(cfg, NULL, &s->st, err)) != CR_OK)
        goto fail;
    if (cfg->store == CR_STORE_SQLITE)
        st = store_migrate_up(s->st, 0, NULL, err);
    else
        st = store_check_schema(s->st, err);
    if (st != CR_OK)
        goto fail;

    /* The gate owns the socket from here (closed by it on a failed start too: never
     * close it twice). */
    st = api_http_start(s, fd, err);
    fd = -1;
    if (st != CR_OK)
        goto fail;
    if (cfg->store == CR_STORE_SQLITE && opt && opt->chunk_workers > 0)
        if ((st = api_workers_start(s, opt->chunk_workers, err)) != CR_OK)
            goto fail;
    cr_log_info("api.listening", "http://%s:%d store=%s blobs=%s workers=%d", bind_addr, s->port,
                store_backend_name(s->st), blob_backend_name(s->blob),
                s->n_workers ? s->n_workers - 1 : 0);
    *out = s;
    return CR_OK;

fail:
    if (fd >= 0)
        close(fd);
    api_http_stop(s);
    api_workers_stop(s);
    store_close(s->st);
    blob_close(s->blob);
    api_gpu_close(s->gpu);
    cr_metrics_destroy(s->metrics);
    pthread_mutex_destroy(&s->st_lock);
    api_rate_destroy(&s->job_rate);
    cr_free(s);
    return st;
}

int api_server_port(const api_server *s)
{
    return s->port;
}

void api_server_stop(api_server *s)
{
    if (s == NULL)
        return;
    api_http_stop(s); /* stops accepting, waits for the connections */
    api_workers_stop(s);
    store_close(s->st);
    blob_close(s->blob);
    api_gpu_close(s->gpu);
    cr_metrics_destroy(s->metrics);
    pthread_mutex_destroy(&s->st_lock);
    api_rate_destroy(&s->job_rate);
    cr_free(s);
}
