/*
 * cli_blob.c -- `crease blob`: operator commands on the configured blob store
 * (S3 when S3_COACH_VIDEOS_BUCKET is set, else the folder CREASE_BLOB_DIR).
 */
#include "cli/cli.h"

#include "blob/blob.h"
#include "core/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRESIGN_DEFAULT_S 3600 /* one hour, the API's upload URL lifetime (DESIGN.md §4) */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crease blob put FILE KEY\n"
            "       crease blob get KEY FILE      (FILE '-' = standard output)\n"
            "       crease blob head KEY\n"
            "       crease blob ls [PREFIX]\n"
            "       crease blob rm KEY\n"
            "       crease blob presign KEY [--put] [--expires SECONDS]\n"
            "\n"
            "Works on the configured blob store: S3 when S3_COACH_VIDEOS_BUCKET is set\n"
            "(AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
            "S3_ENDPOINT_URL), else the folder CREASE_BLOB_DIR.  presign prints a URL valid\n"
            "for SECONDS (default %d, at most %d); local URLs need APP_SECRET_KEY.\n",
            PRESIGN_DEFAULT_S, BLOB_PRESIGN_MAX_S);
}

static int print_entry(void *ctx, const char *key, const blob_info *info)
{
    (void)ctx;
    char when[32] = "-";
    if (info->mtime > 0) {
        time_t t = (time_t)info->mtime;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    printf("%12llu  %s  %s\n", (unsigned long long)info->size, when, key);
    return 0;
}

static int to_stdout(blob_store *b, const char *key, cr_err *err)
{
    void *data = NULL;
    size_t n = 0;
    if (blob_get(b, key, &data, &n, err) != CR_OK)
        return 1;
    int rc = fwrite(data, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
    if (rc)
        cr_err_set(err, CR_ERR_IO, "writing standard output failed");
    cr_free(data);
    return rc;
}

int cmd_blob(const cr_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    int nargs = argc - 2;
    char **a = argv + 2;
    int put = 0;
    long long expires = PRESIGN_DEFAULT_S;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 0; i < nargs; i++) {
        if (strcmp(sub, "presign") == 0 && strcmp(a[i], "--put") == 0) {
            put = 1;
        } else if (strcmp(sub, "presign") == 0 && strcmp(a[i], "--expires") == 0) {
            long v;
            if (i + 1 >= nargs || cli_parse_long(a[++i], 1, BLOB_PRESIGN_MAX_S, &v) != 0) {
                fprintf(stderr, "crease blob presign: --expires needs 1..%d seconds\n",
                        BLOB_PRESIGN_MAX_S);
                return 2;
            }
            expires = v;
        } else if (a[i][0] == '-' && a[i][1] != '\0') {
            fprintf(stderr, "crease blob %s: unknown option '%s'\n", sub, a[i]);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a[i];
        } else {
            fprintf(stderr, "crease blob %s: too many arguments\n", sub);
            return 2;
        }
    }
    int want;
    if (strcmp(sub, "put") == 0 || strcmp(sub, "get") == 0)
        want = 2;
    else if (strcmp(sub, "head") == 0 || strcmp(sub, "rm") == 0 || strcmp(sub, "presign") == 0)
        want = 1;
    else if (strcmp(sub, "ls") == 0)
        want = npos; /* PREFIX is optional */
    else {
        fprintf(stderr, "crease blob: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    if (npos != want || (strcmp(sub, "ls") == 0 && npos > 1)) {
        fprintf(stderr, "crease blob %s: wrong number of arguments\n", sub);
        usage(stderr);
        return 2;
    }

    cr_err err = {0};
    blob_store *b = NULL;
    if (blob_open(cfg, NULL, &b, &err) != CR_OK) {
        fprintf(stderr, "crease blob: %s\n", cr_err_msg(&err));
        return 1;
    }
    int rc = 0;
    if (strcmp(sub, "put") == 0) {
        rc = blob_put_file(b, pos[1], pos[0], NULL, &err) != CR_OK;
    } else if (strcmp(sub, "get") == 0) {
        if (strcmp(pos[1], "-") == 0)
            rc = to_stdout(b, pos[0], &err);
        else
            rc = blob_get_file(b, pos[0], pos[1], &err) != CR_OK;
    } else if (strcmp(sub, "head") == 0) {
        blob_info info;
        rc = blob_head(b, pos[0], &info, &err) != CR_OK;
        if (!rc) {
            json_t *o = json_pack("{s:s,s:I,s:I,s:s}", "key", pos[0], "size", (json_int_t)info.size,
                                  "mtime", (json_int_t)info.mtime, "etag", info.etag);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s)
                printf("%s\n", s);
            else
                rc = 1, cr_err_set(&err, CR_ERR_NOMEM, "out of memory");
            free(s);
            json_decref(o);
        }
    } else if (strcmp(sub, "ls") == 0) {
        rc = blob_list(b, npos ? pos[0] : "", print_entry, NULL, &err) != CR_OK;
    } else if (strcmp(sub, "rm") == 0) {
        rc = blob_delete(b, pos[0], &err) != CR_OK;
    } else {
        char *url = NULL;
        rc = blob_presign(b, pos[0], put ? BLOB_PUT : BLOB_GET, expires, &url, &err) != CR_OK;
        if (!rc)
            printf("%s\n", url);
        cr_free(url);
    }
    if (rc)
        fprintf(stderr, "crease blob %s: %s\n", sub, cr_err_msg(&err));
    blob_close(b);
    return rc;
}
