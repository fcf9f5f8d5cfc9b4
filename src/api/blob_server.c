/*
 * blob_server.c -- /blobs/<key>: the local blob backend's presigned URLs, served by
 * the API's daemon (api.h).  The signature in the query (blob_presign_verify) is the
 * only auth; an upload's is checked from its headers, before any byte is accepted.
 * Uploads stream into a temporary file under $TMPDIR (at most upload_max bytes) that
 * blob_put_file then stores; downloads stream from a blob reader.  Nothing here
 * touches the blob folder itself: every path below it goes through the blob calls,
 * which never follow a symbolic link there (blob_local.c), so a link planted in the
 * folder makes the request fail (400) instead of writing outside.  Only with the
 * local backend: on S3 the clients talk to S3 itself.
 *
 * A PUT to the video of a job whose upload is complete is refused (409), however
 * fresh its signature: upload-complete checked that object and pinned it on the job,
 * and what is analysed must be what was checked (DESIGN.md §10).  It is asked before
 * the body is accepted and again just before the upload is stored, since an upload
 * can take minutes and upload-complete may come meanwhile; a replacement that still
 * slipped between that last look and the rename would be refused by the workers
 * (pipeline.h: the job fails, "the uploaded video changed after upload-complete").
 */
#include "api/api_int.h"
#include "core/log.h"
#include "core/tmpfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cr_status blob_request_check(struct MHD_Connection *c, const char *url, blob_method m,
                                    const char *secret, cr_err *err)
{
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    return blob_presign_verify(
        secret, key, m, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "method"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expires"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sig"), (int64_t)time(NULL), err);
}

static const char *content_type_of(const char *key)
{
    size_t n = strlen(key);
    if (n >= 5 && strcmp(key + n - 5, ".json") == 0)
        return "application/json";
    if (n >= 5 && strcmp(key + n - 5, ".html") == 0)
        return "text/html; charset=utf-8";
    if (n >= 4 && strcmp(key + n - 4, ".mp4") == 0)
        return "video/mp4";
    return "application/octet-stream";
}

/* ---- GET: an object, streamed from a blob reader --------------------------------- */

static ssize_t blob_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    cr_reader *r = cls;
    size_t got = 0;
    cr_err e = {0};
    if (cr_reader_read_at(r, pos, buf, max, &got, &e) != CR_OK)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (got == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)got;
}

static void blob_free_cb(void *cls)
{
    cr_reader_close(cls);
}

enum MHD_Result api_blob_get(api_server *s, struct MHD_Connection *c, const char *url)
{
    cr_err e = {0};
    cr_status st = blob_request_check(c, url, BLOB_GET, s->cfg.app_secret_key, &e);
    if (st != CR_OK)
        return api_send_error(c, st == CR_ERR_AUTH ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
                              cr_err_msg(&e));
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    cr_reader *r = NULL;
    if ((st = blob_open_reader(s->blob, key, 0, NULL, &r, &e)) != CR_OK)
        return st == CR_ERR_NOT_FOUND ? api_send_error(c, MHD_HTTP_NOT_FOUND, "no such object")
                                      : api_send_status(c, st, &e);
    struct MHD_Response *resp = MHD_create_response_from_callback(cr_reader_size(r), 64 * 1024,
                                                                  blob_read_cb, r, blob_free_cb);
    if (resp == NULL) {
        cr_reader_close(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(key));
    /* Objects are served from the API's own origin, where the web page keeps its
     * token: whatever an object holds (a report.html, or an upload that is HTML in
     * disguise), it runs no script and reaches nothing -- a sandboxed document of its
     * own origin that may show its inline styles and embedded (data:) pictures; and
     * its type is the one its name says, never sniffed. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                            "media-src 'self'; sandbox");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- PUT: an upload, streamed into a temporary file ------------------------------ */

#define UPLOAD_CLOSED                                                                              \
    "the upload of this video is complete (its job is queued or done): it can no longer be "       \
    "replaced; start a new upload"

/* 0 when `key` may still be written; else the answer has been queued in *ret. */
static int upload_closed(api_server *s, struct MHD_Connection *c, const char *key,
                         enum MHD_Result *ret)
{
    int in_use = 0;
    cr_err e = {0};
    pthread_mutex_lock(&s->st_lock);
    cr_status st = store_video_key_in_use(s->st, key, &in_use, &e);
    pthread_mutex_unlock(&s->st_lock);
    if (st != CR_OK) {
        *ret = api_send_status(c, st, &e);
        return 1;
    }
    if (!in_use)
        return 0;
    cr_log_warn("api.upload_closed", "key=%s: refused, its upload is complete", key);
    *ret = api_send_error(c, MHD_HTTP_CONFLICT, UPLOAD_CLOSED);
    return 1;
}

enum MHD_Result api_blob_put_begin(api_server *s, struct MHD_Connection *c, const char *url,
                                   api_request *rq)
{
    /* Check the signature before accepting any bytes. */
    cr_err e = {0};
    cr_status st = blob_request_check(c, url, BLOB_PUT, s->cfg.app_secret_key, &e);
    if (st != CR_OK)
        return api_send_error(c, st == CR_ERR_AUTH ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
                              cr_err_msg(&e));
    enum MHD_Result closed;
    if (upload_closed(s, c, url + strlen(BLOB_LOCAL_URL_PREFIX), &closed))
        return closed;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > s->upload_max)
        return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "upload too large");
    rq->fd = cr_tmpfile_mkstemp(rq->tmp, sizeof rq->tmp, "crease-upload-");
    if (rq->fd < 0) {
        cr_log_error("api.upload", "mkstemp: %s", strerror(errno));
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    }
    return MHD_YES;
}

void api_blob_put_data(api_server *s, api_request *rq, const char *data, size_t n)
{
    if (rq->too_large || rq->write_failed)
        return;
    if (rq->written + n > s->upload_max) {
        rq->too_large = 1;
        return;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(rq->fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rq->write_failed = 1;
            return;
        }
        off += (size_t)w;
    }
    rq->written += n;
}

enum MHD_Result api_blob_put_done(api_server *s, struct MHD_Connection *c, const char *url,
                                  api_request *rq)
{
    if (rq->too_large)
        return api_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "upload too large");
    if (rq->write_failed || rq->fd < 0)
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    if (close(rq->fd) != 0) {
        rq->fd = -1;
        return api_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
    }
    rq->fd = -1;
    const char *key = url + strlen(BLOB_LOCAL_URL_PREFIX);
    enum MHD_Result closed;
    if (upload_closed(s, c, key, &closed)) /* completed while the bytes came in */
        return closed;
    cr_err e = {0};
    cr_status st = blob_put_file(s->blob, key, rq->tmp, content_type_of(key), &e);
    if (st != CR_OK)
        return api_send_status(c, st, &e);
    cr_log_info("api.upload", "key=%s bytes=%llu", key, (unsigned long long)rq->written);
    return api_send_text(c, MHD_HTTP_OK, "application/json", "{}", 2);
}
