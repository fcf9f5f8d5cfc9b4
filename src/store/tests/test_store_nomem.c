/*
 * test_store_nomem.c -- allocation failure (STYLE.md rule 4) on the backend of
 * argv[1]: a sequence of queue operations runs with the Nth crease allocation
 * failing from then on, for N = 0, 1, 2, ... until the sequence gets through.  Each
 * operation must either succeed or return CR_ERR_NOMEM, never crash or leak (ASan
 * checks), and the database must stay coherent: every job passes store_job_check
 * and its completed_chunks equals its completed chunk rows.
 */
#include "store_test_util.h"

/* One pass; returns the first status that is not CR_OK (CR_OK if none). */
static cr_status sequence(store *st)
{
    cr_err e = {0};
    cr_status s;
    char id[37];
    store_job_new jn = {.session_id = "nomem", .s3_key = "k"};
    if ((s = store_job_create(st, &jn, id, sizeof id, &e)) != CR_OK)
        return s;
    store_chunk_span sp[3] = {{0, 1}, {1, 2}, {2, 3}};
    if ((s = store_chunks_create(st, id, sp, 3, 3, 2, NULL, &e)) != CR_OK)
        return s;
    store_chunk c[3];
    int got = 0;
    if ((s = store_chunk_claim(st, "w", 30, 3, c, &got, &e)) != CR_OK)
        return s;
    if (got > 0 &&
        (s = store_chunk_complete(st, c[0].id, "w", c[0].lease_token, 1, "k", NULL, &e)) != CR_OK)
        return s;
    if (got > 1 &&
        (s = store_chunk_fail(st, c[1].id, "w", c[1].lease_token, "boom", NULL, &e)) != CR_OK)
        return s;
    if (got > 2 && (s = store_chunk_heartbeat(st, c[2].id, "w", c[2].lease_token, 30, &e)) != CR_OK)
        return s;
    store_job j;
    if ((s = store_job_get(st, id, &j, &e)) != CR_OK)
        return s;
    store_job list[4];
    int n = 0;
    if ((s = store_job_list(st, NULL, list, 4, &n, &e)) != CR_OK)
        return s;
    if ((s = store_chunks_of_job(st, id, c, 3, &n, &e)) != CR_OK)
        return s;
    store_depth d;
    if ((s = store_queue_depth(st, &d, &e)) != CR_OK)
        return s;
    if ((s = store_reap_expired(st, NULL, &e)) != CR_OK)
        return s;
    char *json = NULL;
    s = store_job_results(st, id, &json, &e);
    cr_free(json);
    return s;
}

static void check_coherent(store *st)
{
    store_job jobs[256];
    int n = 0;
    OK(store_job_list(st, NULL, jobs, 256, &n, &E));
    for (int i = 0; i < n; i++) {
        cr_err e = {0};
        CHECK_MSG(store_job_check(&jobs[i], &e) == CR_OK, "%s", cr_err_msg(&e));
        store_chunk c[3];
        int k = 0, done = 0;
        OK(store_chunks_of_job(st, jobs[i].id, c, 3, &k, &E));
        for (int x = 0; x < k; x++)
            done += strcmp(c[x].status, "completed") == 0;
        CHECK_INT_EQ(jobs[i].completed_chunks, done);
        CHECK(k == 0 || k == 3); /* chunks are created all or none */
        CHECK(k == jobs[i].total_chunks);
    }
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "sqlite";
    scratch_db db;
    scratch_create(&db, kind, "nomem");
    store *st = scratch_open(&db, NULL);
    OK(store_migrate_up(st, 0, NULL, &E));
    scratch_session(st, "nomem");
    int passes = 0;
    for (long n = 0; n < 2000; n++) {
        cr_mem_fail_after(n, 1);
        cr_status s = sequence(st);
        cr_mem_fail_after(-1, 0);
        CHECK_MSG(s == CR_OK || s == CR_ERR_NOMEM, "n=%ld: %s", n, cr_status_str(s));
        passes++;
        if (s == CR_OK)
            break;
    }
    fprintf(stderr, "%d passes with injected allocation failures\n", passes - 1);
    CHECK(passes > 10); /* the injection really hit the store */
    check_coherent(st);
    store_close(st);
    scratch_drop(&db);
    return check_exit();
}
