/*
 * test_config.c -- configuration parsing (DESIGN.md §2): defaults, every
 * DATABASE_URL form, every bad value, redaction of secrets.
 */
#include "check.h"
#include "core/config.h"
#include "core/mem.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *lookup(const char *name, void *ctx)
{
    const char **kv = ctx;
    for (; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static cr_status parse(cr_config *c, cr_err *e, const char **kv)
{
    cr_err_clear(e);
    return cr_config_parse(c, lookup, (void *)kv, e);
}

static void expect_bad(const char *name, const char *value)
{
    const char *kv[] = {name, value, NULL};
    cr_config c;
    cr_err e = {0};
    cr_status st = parse(&c, &e, kv);
    CHECK_MSG(st == CR_ERR_INVALID, "%s=%s accepted", name, value);
    CHECK_MSG(strstr(e.msg, name) == e.msg, "message does not start with %s: %s", name, e.msg);
}

static void test_defaults(void)
{
    const char *kv[] = {NULL};
    cr_config c;
    cr_err e = {0};
    CHECK(parse(&c, &e, kv) == CR_OK);
    CHECK_INT_EQ(c.chunk_seconds, 30);
    CHECK_NEAR(c.sample_fps, 10.0, 0);
    CHECK_INT_EQ(c.max_width, 640);
    CHECK(c.store == CR_STORE_SQLITE);
    CHECK_STR_EQ(c.db_target, "./crease-data/crease.db");
    CHECK(c.blob == CR_BLOB_LOCAL);
    CHECK_STR_EQ(c.blob_dir, "./crease-data/blobs");
    CHECK_STR_EQ(c.region, "us-east-1");
    CHECK(c.gpu_processing_enabled == 0);
    CHECK(c.log_level == CR_LOG_INFO && c.log_json == 0);
}

static void test_values(void)
{
    const char *kv[] = {"CHUNK_SECONDS",
                        "12",
                        "SAMPLE_FPS",
                        "7.5",
                        "MAX_WIDTH",
                        "320",
                        "GPU_PROCESSING_ENABLED",
                        "TRUE",
                        "S3_COACH_VIDEOS_BUCKET",
                        "coach-videos",
                        "S3_ENDPOINT_URL",
                        "http://127.0.0.1:4569/",
                        "AWS_REGION",
                        "eu-west-2",
                        "LOG_LEVEL",
                        "debug",
                        "LOG_FORMAT",
                        "json",
                        "SAMPLE_FPS",
                        "ignored",
                        NULL};
    cr_config c;
    cr_err e = {0};
    CHECK_MSG(parse(&c, &e, kv) == CR_OK, "%s", e.msg);
    CHECK_INT_EQ(c.chunk_seconds, 12);
    CHECK_NEAR(c.sample_fps, 7.5, 0);
    CHECK_INT_EQ(c.max_width, 320);
    CHECK(c.gpu_processing_enabled == 1);
    CHECK(c.blob == CR_BLOB_S3);
    CHECK_STR_EQ(c.bucket, "coach-videos");
    CHECK_STR_EQ(c.s3_endpoint, "http://127.0.0.1:4569");
    CHECK_STR_EQ(c.region, "eu-west-2");
    CHECK(c.log_level == CR_LOG_DEBUG && c.log_json == 1);

    /* Empty means unset (Cricksy's env files write S3_COACH_VIDEOS_BUCKET=). */
    const char *kv2[] = {"S3_COACH_VIDEOS_BUCKET", "", "CHUNK_SECONDS", "", NULL};
    CHECK(parse(&c, &e, kv2) == CR_OK);
    CHECK(c.blob == CR_BLOB_LOCAL);
    CHECK_INT_EQ(c.chunk_seconds, 30);
}

static void url_case(const char *url, cr_store_kind kind, const char *target)
{
    const char *kv[] = {"DATABASE_URL", url, NULL};
    cr_config c;
    cr_err e = {0};
    cr_status st = parse(&c, &e, kv);
    CHECK_MSG(st == CR_OK, "%s: %s", url, e.msg);
    if (st != CR_OK)
        return;
    CHECK_MSG(c.store == kind, "%s: wrong store", url);
    CHECK_STR_EQ(c.db_target, target);
}

static void test_database_urls(void)
{
    url_case("sqlite:///./data/x.db", CR_STORE_SQLITE, "./data/x.db");
    url_case("sqlite:///rel.db", CR_STORE_SQLITE, "rel.db");
    url_case("sqlite:////var/lib/crease/x.db", CR_STORE_SQLITE, "/var/lib/crease/x.db");
    url_case("sqlite+aiosqlite:///./x.db", CR_STORE_SQLITE, "./x.db");
    url_case("postgresql://u:pw@db:5432/app", CR_STORE_POSTGRES, "postgresql://u:pw@db:5432/app");
    url_case("postgres://u@localhost/app", CR_STORE_POSTGRES, "postgresql://u@localhost/app");
    url_case("postgresql+asyncpg://u:pw@db:5432/app", CR_STORE_POSTGRES,
             "postgresql://u:pw@db:5432/app");
    url_case("postgresql+psycopg2://db/app?sslmode=disable", CR_STORE_POSTGRES,
             "postgresql://db/app?sslmode=disable");

    expect_bad("DATABASE_URL", "mysql://u@h/db");
    expect_bad("DATABASE_URL", "not a url");
    expect_bad("DATABASE_URL", "sqlite://");
    expect_bad("DATABASE_URL", "sqlite:///");
    expect_bad("DATABASE_URL", "postgresql://");
    expect_bad("DATABASE_URL", "://x");
}

static void test_bad_values(void)
{
    expect_bad("CHUNK_SECONDS", "0");
    expect_bad("CHUNK_SECONDS", "-5");
    expect_bad("CHUNK_SECONDS", "abc");
    expect_bad("CHUNK_SECONDS", "30s");
    expect_bad("CHUNK_SECONDS", "99999999999999999999");
    expect_bad("SAMPLE_FPS", "abc");
    expect_bad("SAMPLE_FPS", "0");
    expect_bad("SAMPLE_FPS", "-1");
    expect_bad("SAMPLE_FPS", "nan");
    expect_bad("SAMPLE_FPS", "inf");
    expect_bad("SAMPLE_FPS", "1000");
    expect_bad("MAX_WIDTH", "0");
    expect_bad("MAX_WIDTH", "100000");
    expect_bad("MAX_WIDTH", "6.5");
    expect_bad("GPU_PROCESSING_ENABLED", "maybe");
    expect_bad("S3_COACH_VIDEOS_BUCKET", "Bad_Bucket");
    expect_bad("S3_COACH_VIDEOS_BUCKET", "ab");
    expect_bad("S3_ENDPOINT_URL", "ftp://x");
    expect_bad("AWS_REGION", "US EAST");
    expect_bad("LOG_LEVEL", "loud");
    expect_bad("LOG_FORMAT", "xml");
}

/* CREASE_SKIP_DEBLOCK: none by default, the three names in any case, anything else refused. */
static void test_skip_deblock(void)
{
    cr_config c;
    cr_err e = {0};
    const char *none[] = {NULL};
    CHECK(parse(&c, &e, none) == CR_OK);
    CHECK_INT_EQ(c.skip_deblock, 0);
    const char *names[] = {"none", "Unshown", "ALL"};
    for (int i = 0; i < 3; i++) {
        const char *kv[] = {"CREASE_SKIP_DEBLOCK", names[i], NULL};
        CHECK_MSG(parse(&c, &e, kv) == CR_OK, "%s", e.msg);
        CHECK_INT_EQ(c.skip_deblock, i);
    }
    char *j = cr_config_to_json(&c);
    CHECK(j != NULL && strstr(j, "\"skip_deblock\":\"all\"") != NULL);
    cr_free(j);
    expect_bad("CREASE_SKIP_DEBLOCK", "yes");
    expect_bad("CREASE_SKIP_DEBLOCK", "2");
}

/* CREASE_CHUNKS_PER_WORKER: 1 by default, 1..16 (a stepper's trackers), shown. */
static void test_chunks_per_worker(void)
{
    cr_config c;
    cr_err e = {0};
    const char *none[] = {NULL};
    CHECK(parse(&c, &e, none) == CR_OK);
    CHECK_INT_EQ(c.chunks_per_worker, 1);
    const char *kv[] = {"CREASE_CHUNKS_PER_WORKER", "16", NULL};
    CHECK_MSG(parse(&c, &e, kv) == CR_OK, "%s", e.msg);
    CHECK_INT_EQ(c.chunks_per_worker, 16);
    char *j = cr_config_to_json(&c);
    CHECK(j != NULL && strstr(j, "\"chunks_per_worker\":16") != NULL);
    cr_free(j);
    expect_bad("CREASE_CHUNKS_PER_WORKER", "0");
    expect_bad("CREASE_CHUNKS_PER_WORKER", "17");
    expect_bad("CREASE_CHUNKS_PER_WORKER", "two");
}

/* The limits on one upload (DESIGN.md §10): defaults, values, bounds, and
 * `crease config` shows them. */
static void test_limits(void)
{
    cr_config c;
    cr_err e = {0};
    const char *none[] = {NULL};
    CHECK(parse(&c, &e, none) == CR_OK);
    CHECK_INT_EQ(c.max_duration_seconds, 10800);
    CHECK_INT_EQ(c.max_chunks, 9999);
    CHECK_INT_EQ(c.max_pixels, 3840LL * 2160);
    CHECK_INT_EQ(c.max_upload_bytes, 4294967296LL);
    CHECK_INT_EQ(c.upload_url_seconds, 900);

    const char *kv[] = {"CREASE_MAX_DURATION_SECONDS",
                        "600",
                        "CREASE_MAX_CHUNKS",
                        "20",
                        "CREASE_MAX_PIXELS",
                        "307200",
                        "CREASE_MAX_UPLOAD_BYTES",
                        "6000000000",
                        "CREASE_UPLOAD_URL_SECONDS",
                        "120",
                        NULL};
    CHECK_MSG(parse(&c, &e, kv) == CR_OK, "%s", e.msg);
    CHECK_INT_EQ(c.max_duration_seconds, 600);
    CHECK_INT_EQ(c.max_chunks, 20);
    CHECK_INT_EQ(c.max_pixels, 307200);
    CHECK_INT_EQ(c.max_upload_bytes, 6000000000LL);
    CHECK_INT_EQ(c.upload_url_seconds, 120);
    char *j = cr_config_to_json(&c);
    CHECK(j != NULL && strstr(j, "\"max_duration_seconds\":600") != NULL);
    CHECK(j != NULL && strstr(j, "\"max_chunks\":20") != NULL);
    CHECK(j != NULL && strstr(j, "\"max_pixels\":307200") != NULL);
    CHECK(j != NULL && strstr(j, "\"max_upload_bytes\":6000000000") != NULL);
    CHECK(j != NULL && strstr(j, "\"upload_url_seconds\":120") != NULL);
    cr_free(j);

    expect_bad("CREASE_MAX_DURATION_SECONDS", "0");
    expect_bad("CREASE_MAX_DURATION_SECONDS", "3h");
    expect_bad("CREASE_MAX_DURATION_SECONDS", "35996401");
    expect_bad("CREASE_MAX_CHUNKS", "0");
    expect_bad("CREASE_MAX_CHUNKS", "10000"); /* chunk keys have 4 digits */
    expect_bad("CREASE_MAX_PIXELS", "-1");
    expect_bad("CREASE_MAX_PIXELS", "67108865");
    expect_bad("CREASE_MAX_PIXELS", "1e6");
    expect_bad("CREASE_MAX_UPLOAD_BYTES", "0");
    expect_bad("CREASE_MAX_UPLOAD_BYTES", "4GiB");
    expect_bad("CREASE_MAX_UPLOAD_BYTES", "99999999999999999999");
    expect_bad("CREASE_UPLOAD_URL_SECONDS", "59");
    expect_bad("CREASE_UPLOAD_URL_SECONDS", "604801"); /* S3's one-week limit */
    expect_bad("CREASE_UPLOAD_URL_SECONDS", "15m");
    const char *kv2[] = {"CREASE_MAX_CHUNKS", "10000", NULL};
    CHECK(parse(&c, &e, kv2) == CR_ERR_INVALID);
    CHECK_STR_EQ(e.msg, "CREASE_MAX_CHUNKS: must be an integer from 1 to 9999, got '10000'");
}

static void test_redaction(void)
{
    const char *kv[] = {"DATABASE_URL",
                        "postgresql+asyncpg://u:s3cr3t@db:5432/app",
                        "APP_SECRET_KEY",
                        "topsecretkey",
                        "AWS_SECRET_ACCESS_KEY",
                        "awssecret",
                        "AWS_ACCESS_KEY_ID",
                        "AKIAEXAMPLE",
                        "AWS_SESSION_TOKEN",
                        "tok3n",
                        NULL};
    cr_config c;
    cr_err e = {0};
    CHECK(parse(&c, &e, kv) == CR_OK);
    char *j = cr_config_to_json(&c);
    CHECK(j != NULL);
    if (j == NULL)
        return;
    CHECK(strstr(j, "\"store\":\"postgres\"") != NULL);
    CHECK(strstr(j, "s3cr3t") == NULL);
    CHECK(strstr(j, "topsecretkey") == NULL);
    CHECK(strstr(j, "awssecret") == NULL);
    CHECK(strstr(j, "AKIAEXAMPLE") == NULL);
    CHECK(strstr(j, "tok3n") == NULL);
    CHECK(strstr(j, "postgresql+asyncpg://u:***@db:5432/app") != NULL);
    cr_free(j);

    char out[256];
    cr_config_redact_url("postgresql://u@h/db", out, sizeof out);
    CHECK_STR_EQ(out, "postgresql://u@h/db");
    cr_config_redact_url("postgresql://u:p@ss@h/db", out, sizeof out);
    CHECK_STR_EQ(out, "postgresql://u:***@h/db");
    cr_config_redact_url("sqlite:///./x.db", out, sizeof out);
    CHECK_STR_EQ(out, "sqlite:///./x.db");
    /* An '@' in the path is not userinfo. */
    cr_config_redact_url("postgresql://h/db?x=a:b@c", out, sizeof out);
    CHECK_STR_EQ(out, "postgresql://h/db?x=a:b@c");
}

static void test_alloc_failure(void)
{
    const char *kv[] = {NULL};
    cr_config c;
    cr_err e = {0};
    CHECK(parse(&c, &e, kv) == CR_OK);
    /* cr_config_to_json's own allocation failing must give NULL, not a crash. */
    cr_mem_fail_after(0, 0);
    char *j = cr_config_to_json(&c);
    cr_mem_fail_after(-1, 0);
    CHECK(j == NULL);
    cr_free(j);
}

int main(void)
{
    test_defaults();
    test_values();
    test_database_urls();
    test_bad_values();
    test_limits();
    test_skip_deblock();
    test_chunks_per_worker();
    test_redaction();
    test_alloc_failure();
    return check_exit();
}
