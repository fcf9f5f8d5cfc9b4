/*
 * test_store_cli.c -- `crease migrate` and `crease jobs` as a user runs them, on a
 * SQLite file (argv[1] is the crease binary):
 *   --help (0), bad usage (2), an unmigrated database (1, says "crease migrate up"),
 *   migrate up / status / down / up, jobs list / show / retry / depth on a job the
 *   test puts in place through the store API (a failed chunk, a completed one), and
 *   an unreachable PostgreSQL server (1, one clear line, no crash).
 */
#include "store_test_util.h"

#include <sys/wait.h>

static char out[65536];
static char url[1100];

/* Runs `crease ARGS` with DATABASE_URL=db_url; output (stdout+stderr) in out[]. */
static int crease(const char *bin, const char *db_url, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' '%s' %s 2>&1", db_url, bin, args);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define RUN_EXPECT(args, code, needle)                                                             \
    do {                                                                                           \
        int rc_ = crease(bin, url, args);                                                          \
        CHECK_MSG(rc_ == (code), "crease %s -> %d (want %d): %s", args, rc_, code, out);           \
        CHECK_MSG(strstr(out, needle) != NULL, "crease %s: no '%s' in: %s", args, needle, out);    \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_store_cli CREASE\n");
        return 2;
    }
    const char *bin = argv[1];
    scratch_db db;
    scratch_create(&db, "sqlite", "cli");
    snprintf(url, sizeof url, "sqlite:///%s", db.target);

    RUN_EXPECT("migrate --help", 0, "usage: crease migrate");
    RUN_EXPECT("jobs --help", 0, "usage: crease jobs");
    RUN_EXPECT("migrate", 2, "usage");
    RUN_EXPECT("migrate sideways", 2, "usage");
    RUN_EXPECT("migrate down x", 2, "bad number");
    RUN_EXPECT("jobs show", 2, "usage");
    RUN_EXPECT("jobs list", 1, "crease migrate up");
    RUN_EXPECT("migrate status", 0, "version: 0");
    RUN_EXPECT("migrate up", 0, "schema at version 6");
    RUN_EXPECT("migrate up", 0, "applied 0 migration(s)");
    RUN_EXPECT("migrate status", 0, "[x] 2 queue_columns");
    RUN_EXPECT("migrate status", 0, "[x] 3 cricksy_sessions_and_job_settings");
    RUN_EXPECT("migrate status", 0, "[x] 4 lease_tokens");
    RUN_EXPECT("migrate status", 0, "[x] 5 video_pins");
    RUN_EXPECT("migrate down", 0, "schema at version 5");
    RUN_EXPECT("migrate down 6", 0, "schema at version 0");
    RUN_EXPECT("migrate up 1", 0, "schema at version 1");
    RUN_EXPECT("migrate up", 0, "schema at version 6");

    /* A job with one completed chunk and one failed chunk. */
    store *st = scratch_open(&db, NULL);
    char id[37];
    scratch_session(st, "sess-cli");
    store_job_new jn = {.session_id = "sess-cli", .s3_bucket = "bkt", .s3_key = "v.mp4"};
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    store_chunk_span sp[2] = {{0, 30}, {30, 42}};
    OK(store_chunks_create(st, id, sp, 2, 42, 1, NULL, &E));
    store_chunk c[2];
    int got = 0;
    OK(store_chunk_claim(st, "gpu-worker-7", 60, 2, c, &got, &E));
    CHECK_INT_EQ(got, 2);
    if (got == 2) {
        OK(store_chunk_complete(st, c[0].id, "gpu-worker-7", c[0].lease_token, 8123,
                                "chunk_0000.json", NULL, &E));
        OK(store_chunk_fail(st, c[1].id, "gpu-worker-7", c[1].lease_token, "CUDA out of memory",
                            NULL, &E));
    }
    store_close(st);

    RUN_EXPECT("jobs list", 0, id);
    RUN_EXPECT("jobs list --status failed", 0, "1/2");
    char args[128];
    snprintf(args, sizeof args, "jobs show %s", id);
    RUN_EXPECT(args, 0, "CUDA out of memory");
    CHECK(strstr(out, "8123 ms") != NULL);
    CHECK(strstr(out, "gpu-worker-7") != NULL);
    CHECK(strstr(out, "1 completed, 1 failed") != NULL);
    RUN_EXPECT("jobs show no-such-job", 1, "no job");
    RUN_EXPECT("jobs depth", 0, "0 queued");
    snprintf(args, sizeof args, "jobs retry %s", id);
    RUN_EXPECT(args, 0, "1 failed chunk(s) queued again");
    RUN_EXPECT(args, 1, "not failed");
    RUN_EXPECT("jobs depth", 0, "1 queued (1 ready now)");
    snprintf(args, sizeof args, "jobs show %s", id);
    RUN_EXPECT(args, 0, "status     queued");

    /* No server: one clear line, exit 1. */
    int rc = crease(bin, "postgresql://nobody@127.0.0.1:1/none", "migrate status");
    CHECK_INT_EQ(rc, 1);
    CHECK(strstr(out, "cannot connect") != NULL);
    scratch_drop(&db);
    return check_exit();
}
