/*
 * monitor.c -- a worker's metrics port (`crease chunk-worker --metrics-port N`,
 * api.h): a small libmicrohttpd listener beside the worker loop, answering
 *
 *   GET /metrics  the same scrape as `crease serve` (metrics.c) from this process's
 *                 registry, which its worker loop records into
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the database and the blob store answer, else 503 + reason
 *
 * It has its own store connection, opened on the first scrape that needs it and
 * again after a failed open (a worker may start before its database), and its own
 * blob store handle, so a scrape never waits on the worker's connection.
 */
#include "api/api_int.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Scrapes are a few per minute; a handful of connections at once is plenty. */
#define MONITOR_CONNECTIONS_MAX 16
#define MONITOR_IDLE_S 10

struct api_monitor {
    cr_config cfg;
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock; /* held around every use of st (and its opening) */
    store *st;            /* NULL until an open succeeded */
    blob_store *blob;
    api_gpu *gpu;
    cr_metrics *reg;
    char role[32];
};

/* The scrape's view, with the store opened if it was not yet. */
static api_scrape monitor_scrape(api_monitor *m)
{
    pthread_mutex_lock(&m->lock);
    if (m->st == NULL) {
        cr_err e = {0};
        if (store_open(&m->cfg, NULL, &m->st, &e) != CR_OK) {
            cr_log_warn("monitor.database", "%s", cr_err_msg(&e));
            m->st = NULL;
        }
    }
    pthread_mutex_unlock(&m->lock);
    api_scrape sc = {m->st, &m->lock, m->blob, m->reg, m->gpu, m->role};
    return sc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    api_monitor *m = cls;
    if (*con_cls == NULL) { /* headers only: wait for the (ignored) body */
        *con_cls = m;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    int metrics = strcmp(url, "/metrics") == 0, healthz = strcmp(url, "/healthz") == 0,
        readyz = strcmp(url, "/readyz") == 0;
    if (!metrics && !healthz && !readyz)
        return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such route");
    if (strcmp(method, "GET") != 0)
        return api_send_error_header(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET",
                                     MHD_HTTP_HEADER_ALLOW, "GET");
    if (healthz)
        return api_send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    api_scrape sc = monitor_scrape(m);
    return metrics ? api_send_metrics(c, &sc) : api_send_readiness(c, &sc);
}

cr_status api_monitor_start(const cr_config *cfg, const api_monitor_opts *o, api_monitor **out,
                            cr_err *err)
{
    *out = NULL;
    api_monitor *m = cr_calloc(1, sizeof *m);
    if (m == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->reg = o->metrics;
    snprintf(m->role, sizeof m->role, "%s", o->role ? o->role : "worker");
    pthread_mutex_init(&m->lock, NULL);
    int fd = -1;
    cr_status st = api_listen(o->bind ? o->bind : "127.0.0.1", o->port, &fd, &m->port, err);
    if (st == CR_OK)
        st = blob_open(cfg, NULL, &m->blob, err);
    if (st != CR_OK)
        goto fail;
    m->gpu = api_gpu_open();
    m->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)MONITOR_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)MONITOR_CONNECTIONS_MAX, MHD_OPTION_END);
    fd = -1; /* MHD's now, started or not (it may close it on a failed start) */
    if (m->daemon == NULL) {
        st = cr_err_set(err, CR_ERR_IO, "cannot start the metrics listener");
        goto fail;
    }
    cr_log_info("monitor.listening", "http://%s:%d/metrics role=%s",
                o->bind ? o->bind : "127.0.0.1", m->port, m->role);
    *out = m;
    return CR_OK;
fail:
    if (fd >= 0)
        close(fd);
    api_monitor_stop(m);
    return st;
}

int api_monitor_port(const api_monitor *m)
{
    return m->port;
}

void api_monitor_stop(api_monitor *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    store_close(m->st);
    blob_close(m->blob);
    api_gpu_close(m->gpu);
    pthread_mutex_destroy(&m->lock);
    cr_free(m);
}
