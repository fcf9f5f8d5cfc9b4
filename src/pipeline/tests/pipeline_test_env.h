/*
 * pipeline_test_env.h -- the configuration the pipeline's end-to-end tests run under,
 * one of two shapes:
 *   local     a SQLite file and a blob folder under the test's scratch folder;
 *   services  a scratch PostgreSQL database and the test S3 server (s3rver); without
 *             them the test skips, or fails under CREASE_TEST_REQUIRE_SERVICES=1;
 * with the settings every such test shares: 1-s chunks, 10 fps, 480-px frames, the
 * repository's models.  Include after store_test_util.h (scratch_db, SKIP_OR_FAIL).
 */
#ifndef CR_PIPELINE_TEST_ENV_H
#define CR_PIPELINE_TEST_ENV_H

#include "core/config.h"

#include <stdio.h>
#include <string.h>

static const char *const ptest_common_env[] = {
    "CHUNK_SECONDS",     "1",      "SAMPLE_FPS", "10", "MAX_WIDTH", "480",
    "CREASE_MODELS_DIR", "models", NULL};

static const char *ptest_find_kv(const char *const *kv, const char *name)
{
    for (; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

/* The shape's own name/value pairs (NULL-terminated), then the shared settings. */
static const char *ptest_lookup(const char *name, void *ctx)
{
    const char *const *shape = ctx;
    const char *v = ptest_find_kv(shape, name);
    return v != NULL ? v : ptest_find_kv(ptest_common_env, name);
}

/* Fills *cfg for the shape (`services` 0 or 1) under the scratch folder `dir`; for
 * services, *db becomes a scratch database named after `tag` (drop it with
 * scratch_drop).  Returns 0, or 1 after printing the configuration error. */
static int ptest_config(int services, const char *dir, const char *tag, scratch_db *db,
                        cr_config *cfg)
{
    static char dburl[1200], blobdir[300];
    const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
    memset(db, 0, sizeof *db);
    if (services) {
        scratch_create(db, "pg", tag); /* skips when there is no PostgreSQL */
        if (ep == NULL || *ep == '\0')
            SKIP_OR_FAIL("CREASE_TEST_S3_ENDPOINT not set: no S3 server");
        snprintf(dburl, sizeof dburl, "%s", db->target);
    } else {
        snprintf(dburl, sizeof dburl, "sqlite:///%s/crease.db", dir);
    }
    snprintf(blobdir, sizeof blobdir, "%s/blobs", dir);
    const char *kv_local[] = {"DATABASE_URL", dburl, "CREASE_BLOB_DIR", blobdir, NULL};
    const char *kv_s3[] = {"DATABASE_URL",
                           dburl,
                           "S3_COACH_VIDEOS_BUCKET",
                           getenv("CREASE_TEST_S3_BUCKET"),
                           "S3_ENDPOINT_URL",
                           ep,
                           "AWS_ACCESS_KEY_ID",
                           getenv("CREASE_TEST_S3_ACCESS_KEY"),
                           "AWS_SECRET_ACCESS_KEY",
                           getenv("CREASE_TEST_S3_SECRET_KEY"),
                           NULL};
    cr_err e = {0};
    if (cr_config_parse(cfg, ptest_lookup, (void *)(services ? kv_s3 : kv_local), &e) != CR_OK) {
        fprintf(stderr, "config: %s\n", cr_err_msg(&e));
        return 1;
    }
    return 0;
}

#endif
