/*
 * config.c -- parse and print the configuration (DESIGN.md §2).
 *
 * Empty variables count as unset: Cricksy's deployment files set
 * S3_COACH_VIDEOS_BUCKET= to mean "no bucket", and we keep that meaning for all.
 */
#include "core/config.h"

#include "core/mem.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env_lookup(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static const char *get(cr_config_lookup lookup, void *ctx, const char *name)
{
    const char *v = lookup(name, ctx);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

static cr_status parse_int(const char *name, const char *v, long lo, long hi, int *out, cr_err *err)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        return cr_err_set(err, CR_ERR_INVALID,
                          "%s: must be an integer from %ld to %ld, got '%.64s'", name, lo, hi, v);
    *out = (int)x;
    return CR_OK;
}

static cr_status parse_ll(const char *name, const char *v, long long lo, long long hi,
                          long long *out, cr_err *err)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        return cr_err_set(err, CR_ERR_INVALID,
                          "%s: must be an integer from %lld to %lld, got '%.64s'", name, lo, hi, v);
    *out = x;
    return CR_OK;
}

static cr_status copy_str(const char *name, const char *v, char *dst, size_t cap, cr_err *err)
{
    size_t n = strlen(v);
    if (n >= cap)
        return cr_err_set(err, CR_ERR_INVALID, "%s: longer than %zu bytes", name, cap - 1);
    memcpy(dst, v, n + 1);
    return CR_OK;
}

cr_status cr_config_parse_database_url(const char *url, cr_store_kind *store, char *target,
                                       size_t cap, cr_err *err)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return cr_err_set(err, CR_ERR_INVALID,
                          "DATABASE_URL: expected scheme://..., e.g. sqlite:///./crease.db or "
                          "postgresql://user@host/db");
    size_t slen = (size_t)(sep - url);
    char scheme[64];
    if (slen == 0 || slen >= sizeof scheme)
        return cr_err_set(err, CR_ERR_INVALID, "DATABASE_URL: bad scheme");
    memcpy(scheme, url, slen);
    scheme[slen] = '\0';
    char *plus = strchr(scheme, '+'); /* SQLAlchemy's dialect+driver: the driver is ignored */
    if (plus != NULL)
        *plus = '\0';
    const char *rest = sep + 3;

    if (strcasecmp(scheme, "sqlite") == 0) {
        /* sqlite:///relative/path and sqlite:////absolute/path (SQLAlchemy's forms). */
        if (rest[0] != '/' || rest[1] == '\0')
            return cr_err_set(err, CR_ERR_INVALID,
                              "DATABASE_URL: sqlite URL must be sqlite:///PATH (relative) or "
                              "sqlite:////PATH (absolute)");
        const char *path = rest + 1;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || plen >= cap)
            return cr_err_set(err, CR_ERR_INVALID, "DATABASE_URL: sqlite path empty or too long");
        memcpy(target, path, plen);
        target[plen] = '\0';
        *store = CR_STORE_SQLITE;
        return CR_OK;
    }
    if (strcasecmp(scheme, "postgresql") == 0 || strcasecmp(scheme, "postgres") == 0) {
        if (rest[0] == '\0')
            return cr_err_set(err, CR_ERR_INVALID, "DATABASE_URL: postgresql URL has no host");
        int n = snprintf(target, cap, "postgresql://%s", rest);
        if (n < 0 || (size_t)n >= cap)
            return cr_err_set(err, CR_ERR_INVALID, "DATABASE_URL: too long");
        *store = CR_STORE_POSTGRES;
        return CR_OK;
    }
    return cr_err_set(err, CR_ERR_INVALID,
                      "DATABASE_URL: unknown scheme '%s' (use sqlite, postgresql or postgres)",
                      scheme);
}

static cr_status parse_bool(const char *name, const char *v, int *out, cr_err *err)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return CR_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return CR_OK;
        }
    }
    return cr_err_set(err, CR_ERR_INVALID, "%s: must be true or false, got '%.64s'", name, v);
}

/* The limits' upper bounds: beyond them a limit means nothing.  Duration: the longest
 * plan that fits CR_CONFIG_MAX_CHUNKS chunks of CHUNK_SECONDS' maximum (9999 x 3600 s).
 * Pixels: the video module's own hard limit (VIDEO_MAX_PIXELS, video/video.h), above
 * which even probing refuses.  Bytes: S3's largest object (5 TiB, AWS S3 quotas). */
#define MAX_DURATION_CAP (9999L * 3600)
#define MAX_PIXELS_CAP (64LL * 1024 * 1024)
#define MAX_UPLOAD_CAP (5LL << 40)
/* Presigned URLs: SigV4 query authentication allows at most one week (604800 s, AWS
 * "Authenticating Requests: Using Query Parameters"); under a minute leaves a client
 * no time to start its upload. */
#define UPLOAD_URL_MIN_S 60
#define UPLOAD_URL_MAX_S 604800

static cr_status parse_limits(cr_config *c, cr_config_lookup lookup, void *ctx, cr_err *err)
{
    const char *v;
    cr_status st;
    if ((v = get(lookup, ctx, "CREASE_MAX_DURATION_SECONDS")) &&
        (st = parse_int("CREASE_MAX_DURATION_SECONDS", v, 1, MAX_DURATION_CAP,
                        &c->max_duration_seconds, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_MAX_CHUNKS")) &&
        (st = parse_int("CREASE_MAX_CHUNKS", v, 1, CR_CONFIG_MAX_CHUNKS, &c->max_chunks, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_MAX_PIXELS")) &&
        (st = parse_ll("CREASE_MAX_PIXELS", v, 1, MAX_PIXELS_CAP, &c->max_pixels, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_MAX_UPLOAD_BYTES")) &&
        (st = parse_ll("CREASE_MAX_UPLOAD_BYTES", v, 1, MAX_UPLOAD_CAP, &c->max_upload_bytes, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_UPLOAD_URL_SECONDS")) &&
        (st = parse_int("CREASE_UPLOAD_URL_SECONDS", v, UPLOAD_URL_MIN_S, UPLOAD_URL_MAX_S,
                        &c->upload_url_seconds, err)))
        return st;
    return CR_OK;
}

static cr_status parse_skip_deblock(const char *v, int *out, cr_err *err)
{
    static const char *const names[] = {"none", "unshown", "all"};
    for (int i = 0; i < 3; i++)
        if (strcasecmp(v, names[i]) == 0) {
            *out = i;
            return CR_OK;
        }
    return cr_err_set(err, CR_ERR_INVALID,
                      "CREASE_SKIP_DEBLOCK: must be none, unshown or all, got '%.64s'", v);
}

cr_status cr_config_parse(cr_config *c, cr_config_lookup lookup, void *ctx, cr_err *err)
{
    memset(c, 0, sizeof *c);
    c->chunk_seconds = 30;
    c->sample_fps = 10.0;
    c->max_width = 640;
    c->log_level = CR_LOG_INFO;
    strcpy(c->region, "us-east-1");
    strcpy(c->database_url, "sqlite:///./crease-data/crease.db");
    strcpy(c->blob_dir, "./crease-data/blobs");
    c->max_duration_seconds = 3 * 3600; /* 3 h: a long net session (DESIGN.md §10) */
    c->max_chunks = CR_CONFIG_MAX_CHUNKS;
    c->max_pixels = 3840LL * 2160;   /* 4K UHD, the largest size phones commonly record */
    c->max_upload_bytes = 4LL << 30; /* 4 GiB: 3 h of 1080p at 3 Mbit/s is 4 GB */
    /* 15 min: a client starts its PUT right after initiate; an upload that has started
     * goes on past the expiry (the signature is checked when the request arrives). */
    c->upload_url_seconds = 900;
    c->chunks_per_worker = 1;

    const char *v;
    cr_status st;
    if ((v = get(lookup, ctx, "CHUNK_SECONDS")) &&
        (st = parse_int("CHUNK_SECONDS", v, 1, 3600, &c->chunk_seconds, err)))
        return st;
    if ((v = get(lookup, ctx, "SAMPLE_FPS"))) {
        char *end;
        errno = 0;
        double f = strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !isfinite(f) || f <= 0 || f > 240)
            return cr_err_set(err, CR_ERR_INVALID,
                              "SAMPLE_FPS: must be a number above 0 and at most 240, got '%.64s'",
                              v);
        c->sample_fps = f;
    }
    if ((v = get(lookup, ctx, "MAX_WIDTH")) &&
        (st = parse_int("MAX_WIDTH", v, 16, 8192, &c->max_width, err)))
        return st;

    if ((v = get(lookup, ctx, "DATABASE_URL")) &&
        (st = copy_str("DATABASE_URL", v, c->database_url, sizeof c->database_url, err)))
        return st;
    if ((st = cr_config_parse_database_url(c->database_url, &c->store, c->db_target,
                                           sizeof c->db_target, err)))
        return st;

    if ((v = get(lookup, ctx, "APP_SECRET_KEY")) &&
        (st = copy_str("APP_SECRET_KEY", v, c->app_secret_key, sizeof c->app_secret_key, err)))
        return st;

    if ((v = get(lookup, ctx, "S3_COACH_VIDEOS_BUCKET"))) {
        if ((st = copy_str("S3_COACH_VIDEOS_BUCKET", v, c->bucket, sizeof c->bucket, err)))
            return st;
        /* S3 bucket names: 3-63 of [a-z0-9.-] (AWS naming rules). */
        size_t n = strlen(c->bucket);
        if (n < 3 || n > 63 || strspn(c->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
            return cr_err_set(err, CR_ERR_INVALID,
                              "S3_COACH_VIDEOS_BUCKET: must be 3-63 characters of a-z, 0-9, '.', "
                              "'-', got '%.64s'",
                              v);
        c->blob = CR_BLOB_S3;
    }
    if ((v = get(lookup, ctx, "CREASE_BLOB_DIR")) &&
        (st = copy_str("CREASE_BLOB_DIR", v, c->blob_dir, sizeof c->blob_dir, err)))
        return st;
    if ((v = get(lookup, ctx, "AWS_REGION"))) {
        if ((st = copy_str("AWS_REGION", v, c->region, sizeof c->region, err)))
            return st;
        if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
            return cr_err_set(err, CR_ERR_INVALID,
                              "AWS_REGION: must be lower-case letters, digits and '-', got '%.64s'",
                              v);
    }
    if ((v = get(lookup, ctx, "AWS_ACCESS_KEY_ID")) &&
        (st = copy_str("AWS_ACCESS_KEY_ID", v, c->access_key_id, sizeof c->access_key_id, err)))
        return st;
    if ((v = get(lookup, ctx, "AWS_SECRET_ACCESS_KEY")) &&
        (st = copy_str("AWS_SECRET_ACCESS_KEY", v, c->secret_access_key,
                       sizeof c->secret_access_key, err)))
        return st;
    if ((v = get(lookup, ctx, "AWS_SESSION_TOKEN")) &&
        (st = copy_str("AWS_SESSION_TOKEN", v, c->session_token, sizeof c->session_token, err)))
        return st;
    if ((v = get(lookup, ctx, "S3_ENDPOINT_URL"))) {
        if (strncasecmp(v, "http://", 7) != 0 && strncasecmp(v, "https://", 8) != 0)
            return cr_err_set(err, CR_ERR_INVALID,
                              "S3_ENDPOINT_URL: must start with http:// or https://, got '%.64s'",
                              v);
        if ((st = copy_str("S3_ENDPOINT_URL", v, c->s3_endpoint, sizeof c->s3_endpoint, err)))
            return st;
        size_t n = strlen(c->s3_endpoint); /* one canonical form: no trailing slash */
        while (n > 0 && c->s3_endpoint[n - 1] == '/')
            c->s3_endpoint[--n] = '\0';
    }

    if ((v = get(lookup, ctx, "GPU_PROCESSING_ENABLED")) &&
        (st = parse_bool("GPU_PROCESSING_ENABLED", v, &c->gpu_processing_enabled, err)))
        return st;

    if ((v = get(lookup, ctx, "LOG_LEVEL")) && cr_log_level_parse(v, &c->log_level) != 0)
        return cr_err_set(err, CR_ERR_INVALID,
                          "LOG_LEVEL: must be debug, info, warn or error, got '%.64s'", v);
    if ((v = get(lookup, ctx, "LOG_FORMAT"))) {
        if (strcasecmp(v, "json") == 0)
            c->log_json = 1;
        else if (strcasecmp(v, "text") == 0)
            c->log_json = 0;
        else
            return cr_err_set(err, CR_ERR_INVALID, "LOG_FORMAT: must be text or json, got '%.64s'",
                              v);
    }
    if ((v = get(lookup, ctx, "CREASE_MODELS_DIR")) &&
        (st = copy_str("CREASE_MODELS_DIR", v, c->models_dir, sizeof c->models_dir, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_SKIP_DEBLOCK")) &&
        (st = parse_skip_deblock(v, &c->skip_deblock, err)))
        return st;
    if ((v = get(lookup, ctx, "CREASE_CHUNKS_PER_WORKER")) &&
        (st = parse_int("CREASE_CHUNKS_PER_WORKER", v, 1, 16, &c->chunks_per_worker, err)))
        return st;
    return parse_limits(c, lookup, ctx, err);
}

cr_status cr_config_from_env(cr_config *out, cr_err *err)
{
    return cr_config_parse(out, env_lookup, NULL, err);
}

void cr_config_redact_url(const char *url, char *out, size_t cap)
{
    /* scheme://user:password@host... -> scheme://user:***@host...  The userinfo ends
     * at the last '@' before the first '/' after the authority starts. */
    const char *auth = strstr(url, "://");
    const char *at = NULL, *colon = NULL;
    if (auth != NULL) {
        auth += 3;
        const char *end = auth + strcspn(auth, "/?#");
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        if (at != NULL)
            colon = memchr(auth, ':', (size_t)(at - auth));
    }
    if (colon == NULL) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

char *cr_config_to_json(const cr_config *c)
{
    char redacted[CR_CONFIG_STR + 8];
    cr_config_redact_url(c->database_url, redacted, sizeof redacted);
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "chunk_seconds", json_integer(c->chunk_seconds));
    json_object_set_new(o, "sample_fps", json_real(c->sample_fps));
    json_object_set_new(o, "max_width", json_integer(c->max_width));
    json_object_set_new(o, "database_url", json_string(redacted));
    json_object_set_new(o, "store",
                        json_string(c->store == CR_STORE_POSTGRES ? "postgres" : "sqlite"));
    json_object_set_new(o, "blob", json_string(c->blob == CR_BLOB_S3 ? "s3" : "local"));
    json_object_set_new(o, "bucket", json_string(c->bucket));
    json_object_set_new(o, "blob_dir", json_string(c->blob_dir));
    json_object_set_new(o, "region", json_string(c->region));
    json_object_set_new(o, "s3_endpoint", json_string(c->s3_endpoint));
    json_object_set_new(o, "aws_access_key_id", json_string(c->access_key_id[0] ? "***" : ""));
    json_object_set_new(o, "aws_secret_access_key",
                        json_string(c->secret_access_key[0] ? "***" : ""));
    json_object_set_new(o, "aws_session_token", json_string(c->session_token[0] ? "***" : ""));
    json_object_set_new(o, "app_secret_key", json_string(c->app_secret_key[0] ? "***" : ""));
    json_object_set_new(o, "gpu_processing_enabled", json_boolean(c->gpu_processing_enabled));
    json_object_set_new(o, "log_level", json_string(cr_log_level_name(c->log_level)));
    json_object_set_new(o, "log_format", json_string(c->log_json ? "json" : "text"));
    json_object_set_new(o, "models_dir", json_string(c->models_dir));
    json_object_set_new(o, "max_duration_seconds", json_integer(c->max_duration_seconds));
    json_object_set_new(o, "max_chunks", json_integer(c->max_chunks));
    json_object_set_new(o, "max_pixels", json_integer(c->max_pixels));
    json_object_set_new(o, "max_upload_bytes", json_integer(c->max_upload_bytes));
    json_object_set_new(o, "skip_deblock",
                        json_string(c->skip_deblock == 2   ? "all"
                                    : c->skip_deblock == 1 ? "unshown"
                                                           : "none"));
    json_object_set_new(o, "upload_url_seconds", json_integer(c->upload_url_seconds));
    json_object_set_new(o, "chunks_per_worker", json_integer(c->chunks_per_worker));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        return NULL;
    char *r = cr_strdup(s);
    free(s);
    return r;
}
