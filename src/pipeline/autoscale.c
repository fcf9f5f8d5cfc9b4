/*
 * autoscale.c -- the chunk workers' autoscaling signal (DESIGN.md §12: queued chunks
 * per worker, target 5) and its publication to CloudWatch for ECS, where nothing
 * scrapes Prometheus: `crease autoscale-metric` publishes QueuedChunks and
 * QueuedChunksPerWorker once a minute and an ECS target-tracking policy
 * (deploy/ecs/) follows the second.
 *
 * PutMetricData through CloudWatch's query API (CloudWatch API Reference,
 * "PutMetricData" and "Query API requests"): a form-encoded POST to "/" of
 * monitoring.<region>.amazonaws.com, Action=PutMetricData&Version=2010-08-01, signed
 * with SigV4 for the service "monitoring" by the blob module's signer (blob_aws_sign)
 * with the credentials the S3 client uses.  One try per publication: the next one
 * comes a minute later anyway, and a stale value is worse than a missing one for an
 * autoscaler.
 */
#include "pipeline/pipeline.h"

#include "core/buf.h"
#include "core/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

cr_status pipeline_autoscale_read(store *st, int workers, pipeline_autoscale_sample *out,
                                  cr_err *err)
{
    memset(out, 0, sizeof *out);
    store_monitor m;
    cr_status s = store_monitor_read(st, &m, err);
    if (s != CR_OK)
        return s;
    out->queued_chunks = m.depth.queued_chunks;
    out->workers_active = m.workers_active;
    /* No worker holding a lease (scaled to zero, or all idle) counts as one: the queue
     * itself is then the value, and a policy targeting 5 per worker scales out. */
    out->workers = workers > 0 ? workers : (m.workers_active > 0 ? m.workers_active : 1);
    out->per_worker = (double)out->queued_chunks / (double)out->workers;
    return CR_OK;
}

/* Appends `s` form-encoded: RFC 3986's unreserved bytes as they are, every other byte
 * as %XX (what AWS's query API and SigV4 both expect; a space is %20, never '+'). */
static void form_add(cr_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            cr_buf_add(b, s, 1);
        else
            cr_buf_addf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
}

static void form_pair(cr_buf *b, const char *name, const char *value)
{
    if (b->len > 0)
        cr_buf_add(b, "&", 1);
    form_add(b, name);
    cr_buf_add(b, "=", 1);
    form_add(b, value);
}

/* One MetricData member. */
static void form_metric(cr_buf *b, int n, const char *name, double value, const char *stamp,
                        const pipeline_cloudwatch *cw)
{
    char k[96], v[64];
    snprintf(k, sizeof k, "MetricData.member.%d.MetricName", n);
    form_pair(b, k, name);
    snprintf(k, sizeof k, "MetricData.member.%d.Value", n);
    snprintf(v, sizeof v, "%.10g", value);
    form_pair(b, k, v);
    snprintf(k, sizeof k, "MetricData.member.%d.Unit", n);
    form_pair(b, k, "Count");
    snprintf(k, sizeof k, "MetricData.member.%d.Timestamp", n);
    form_pair(b, k, stamp);
    if (cw->dimension_name != NULL && cw->dimension_name[0]) {
        snprintf(k, sizeof k, "MetricData.member.%d.Dimensions.member.1.Name", n);
        form_pair(b, k, cw->dimension_name);
        snprintf(k, sizeof k, "MetricData.member.%d.Dimensions.member.1.Value", n);
        form_pair(b, k, cw->dimension_value ? cw->dimension_value : "");
    }
}

cr_status pipeline_cloudwatch_body(const pipeline_cloudwatch *cw,
                                   const pipeline_autoscale_sample *s, int64_t now, cr_buf *out)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    form_pair(out, "Action", "PutMetricData");
    form_pair(out, "Version", "2010-08-01");
    form_pair(out, "Namespace", cw->name_space ? cw->name_space : PIPELINE_CLOUDWATCH_NAMESPACE);
    form_metric(out, 1, PIPELINE_CW_QUEUED, (double)s->queued_chunks, stamp, cw);
    form_metric(out, 2, PIPELINE_CW_PER_WORKER, s->per_worker, stamp, cw);
    return out->st;
}

static size_t on_body(char *d, size_t sz, size_t nm, void *ud)
{
    cr_buf *b = ud;
    size_t n = sz * nm;
    if (b->len < 4096) /* an error document is short; keep its start */
        cr_buf_add(b, d, n < 4096 - b->len ? n : 4096 - b->len);
    return n;
}

/* The text of <tag>...</tag> in an AWS error document (no entities decoded: the codes
 * and messages we print are plain), or "" when absent. */
static void xml_text(const char *doc, const char *tag, char *out, size_t cap)
{
    char open[40], close[40];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    out[0] = '\0';
    const char *a = doc ? strstr(doc, open) : NULL;
    const char *z = a ? strstr(a, close) : NULL;
    if (a == NULL || z == NULL)
        return;
    a += strlen(open);
    size_t n = (size_t)(z - a) < cap - 1 ? (size_t)(z - a) : cap - 1;
    memcpy(out, a, n);
    out[n] = '\0';
}

/* scheme://host[:port]/path -> host (with the port as given) and path ("/" when none). */
static cr_status split_endpoint(const char *url, char *host, size_t hcap, char *path, size_t pcap,
                                cr_err *err)
{
    const char *p = strstr(url, "://");
    if (p == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return cr_err_set(err, CR_ERR_INVALID, "endpoint '%s' is not an http(s) URL", url);
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= hcap || p[n] == '?' || p[n] == '#')
        return cr_err_set(err, CR_ERR_INVALID, "endpoint '%s': bad host or a query", url);
    memcpy(host, p, n);
    host[n] = '\0';
    snprintf(path, pcap, "%s", p[n] == '/' ? p + n : "/");
    return CR_OK;
}

cr_status pipeline_cloudwatch_put(const cr_config *cfg, const pipeline_cloudwatch *cw,
                                  const pipeline_autoscale_sample *s, int64_t now, cr_err *err)
{
    blob_aws_creds creds;
    cr_status st = blob_aws_creds_of(cfg, &creds, err);
    if (st != CR_OK)
        return st;
    char url[CR_CONFIG_STR], host[256], path[512];
    if (cw->endpoint != NULL && cw->endpoint[0])
        snprintf(url, sizeof url, "%s", cw->endpoint);
    else
        snprintf(url, sizeof url, "https://monitoring.%s.amazonaws.com/", creds.region);
    if ((st = split_endpoint(url, host, sizeof host, path, sizeof path, err)) != CR_OK)
        return st;

    static const char ctype[] = "application/x-www-form-urlencoded; charset=utf-8";
    cr_buf body = {0}, resp = {0};
    cr_buf hb[4] = {{0}};
    struct curl_slist *h = NULL;
    CURL *c = NULL;
    if (pipeline_cloudwatch_body(cw, s, now, &body) != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    blob_aws_request rq = {"monitoring", "POST", host, path, ctype, body.p, body.len, now};
    blob_aws_signed sig;
    if ((st = blob_aws_sign(&creds, &rq, &sig, err)) != CR_OK)
        goto done;
    /* Host is set to exactly what was signed (curl would write the same for a default
     * port, but saying it removes the doubt). */
    cr_buf_addf(&hb[0], "Host: %s", host);
    cr_buf_addf(&hb[1], "Content-Type: %s", ctype);
    cr_buf_addf(&hb[2], "X-Amz-Date: %s", sig.amz_date);
    cr_buf_addf(&hb[3], "Authorization: %s", sig.authorization);
    for (int i = 0; i < 4; i++)
        h = curl_slist_append(h, hb[i].p ? hb[i].p : "");
    char tok[CR_CONFIG_STR * 2 + 32];
    if (creds.session_token != NULL && creds.session_token[0]) {
        snprintf(tok, sizeof tok, "X-Amz-Security-Token: %s", creds.session_token);
        h = curl_slist_append(h, tok);
    }
    h = curl_slist_append(h, "Expect:");
    c = curl_easy_init();
    if (c == NULL || h == NULL) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    if (rc != CURLE_OK) {
        st = cr_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? CR_ERR_TIMEOUT : CR_ERR_NET,
                        "CloudWatch %s: %s", host, curl_easy_strerror(rc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        char ecode[96], msg[256];
        xml_text(resp.p, "Code", ecode, sizeof ecode);
        xml_text(resp.p, "Message", msg, sizeof msg);
        st = cr_err_set(err,
                        code == 403 || code == 401 ? CR_ERR_AUTH
                        : code >= 500              ? CR_ERR_NET
                                                   : CR_ERR_INVALID,
                        "CloudWatch %s: HTTP %ld %s%s%s", host, code, ecode[0] ? ecode : "",
                        msg[0] ? ": " : "", msg);
    }
done:
    if (c != NULL)
        curl_easy_cleanup(c);
    curl_slist_free_all(h);
    for (int i = 0; i < 4; i++)
        cr_buf_release(&hb[i]);
    cr_buf_release(&body);
    cr_buf_release(&resp);
    return st;
}
