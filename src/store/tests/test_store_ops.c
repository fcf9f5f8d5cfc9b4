/*
 * test_store_ops.c -- the store's operations side (store.h, "operations"), on the
 * backend named by argv[1] ("sqlite" or "pg"; a scratch database each run):
 *   - store_monitor_read: jobs by status, failed chunks, workers holding a lease, the
 *     oldest claimable chunk's wait; queued_chunks equals STORE_SQL_QUEUED_CHUNKS run
 *     as it stands (the text KEDA runs)
 *   - store_stuck_chunks: waiting (only past the limit), lease expired, failed
 *   - store_stuck_jobs: ready but not claimed, aggregation lease expired, a completed
 *     count that differs from the rows, queued with failed chunks
 *   - store_gpu_mode_set: off turns awaiting and idle queued chunked jobs whole-video
 *     (chunk rows gone, claimable by an analysis worker), leaves a job whose chunk is
 *     processing; on turns awaiting ones chunked
 */
#include "store_test_util.h"

#include <sqlite3.h>
#include <time.h>

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Runs `sql` on the scratch database behind the store's back (what another writer,
 * e.g. Cricksy's workers, would do); returns the first cell of the first row as a
 * number (0 when none). */
static long raw(const scratch_db *db, const char *sql)
{
    long v = 0;
    if (db->kind == CR_STORE_POSTGRES) {
        PGconn *c = PQconnectdb(db->target);
        PGresult *r = PQexec(c, sql);
        int st = PQresultStatus(r);
        CHECK_MSG(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
        if (st == PGRES_TUPLES_OK && PQntuples(r) > 0)
            v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *d = NULL;
        sqlite3_stmt *s = NULL;
        CHECK(sqlite3_open(db->target, &d) == SQLITE_OK);
        sqlite3_busy_timeout(d, 10000);
        CHECK_MSG(sqlite3_prepare_v2(d, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(d));
        int rc = sqlite3_step(s);
        CHECK_MSG(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(d));
        if (rc == SQLITE_ROW)
            v = (long)sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(d);
    }
    return v;
}

static void make_job(store *st, const char *session, const char *mode, int nchunks, char *id)
{
    sleep_s(0.02); /* jobs in a known created_at order: the claims are FIFO across jobs */
    store_job_new jn = {.session_id = session,
                        .deep_mode = mode,
                        .s3_bucket = "b",
                        .s3_key = "coach_plus/sessions/s/original.mp4"};
    scratch_session(st, session);
    OK(store_job_create(st, &jn, id, 37, &E));
    if (nchunks < 0)
        return; /* stays awaiting_upload */
    store_chunk_span sp[16];
    for (int i = 0; i < nchunks; i++) {
        sp[i].start_sec = 30.0 * i;
        sp[i].end_sec = 30.0 * (i + 1);
    }
    OK(store_chunks_create(st, id, sp, nchunks, 30.0 * (nchunks ? nchunks : 1), 3, NULL, &E));
}

#define S1 "11111111-1111-4111-8111-111111111111"
#define S2 "22222222-2222-4222-8222-222222222222"

static int find_chunk(const store_stuck_chunk *c, int n, const char *job, int index,
                      store_stuck_reason reason)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].job_id, job) == 0 && c[i].chunk_index == index && c[i].reason == reason)
            return 1;
    return 0;
}

static int find_job(const store_stuck_job *j, int n, const char *id, store_stuck_job_reason r)
{
    for (int i = 0; i < n; i++)
        if (strcmp(j[i].id, id) == 0 && j[i].reason == r)
            return 1;
    return 0;
}

static void test_monitor_and_stuck(const scratch_db *db, store *st)
{
    char a[37], b[37], c[37], d[37];
    make_job(st, S1, "gpu", 3, a);  /* 3 queued chunks */
    make_job(st, S1, "gpu", 2, b);  /* will be completed: ready, then aggregating */
    make_job(st, S2, "gpu", 1, c);  /* its chunk fails for good */
    make_job(st, S2, "cpu", -1, d); /* awaiting upload */

    store_monitor m;
    OK(store_monitor_read(st, &m, &E));
    CHECK_INT_EQ(m.depth.queued_chunks, 6);
    CHECK_INT_EQ(m.depth.queued_chunks,
                 raw(db, STORE_SQL_QUEUED_CHUNKS)); /* the text KEDA runs, as it stands */
    CHECK_INT_EQ(m.jobs[1], 3);                     /* queued */
    CHECK_INT_EQ(m.jobs[0], 1);                     /* awaiting_upload */
    CHECK_STR_EQ(store_job_status_name(0), "awaiting_upload");
    CHECK_STR_EQ(store_job_status_name(8), "done");
    CHECK(store_job_status_name(9) == NULL);
    CHECK_INT_EQ(m.workers_active, 0);
    CHECK_INT_EQ(m.chunks_failed, 0);
    CHECK(m.oldest_queued_s >= 0 && m.oldest_queued_s < 60);

    /* Two workers hold leases: w1 on a chunk of `a` (short lease, about to expire),
     * w2 works through `b`'s chunks and `c`'s. */
    store_chunk ch[4];
    int got = 0;
    OK(store_chunk_claim(st, "w1", 0.5, 1, ch, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK_STR_EQ(ch[0].job_id, a);
    OK(store_monitor_read(st, &m, &E));
    CHECK_INT_EQ(m.workers_active, 1);
    CHECK_INT_EQ(m.depth.processing_chunks, 1);
    CHECK_INT_EQ(m.depth.queued_chunks, 5);
    /* everything else: a's remaining two (given back), b's two, c's one */
    store_chunk ch5[5];
    OK(store_chunk_claim(st, "w2", 60, 5, ch5, &got, &E));
    CHECK_INT_EQ(got, 5);
    OK(store_monitor_read(st, &m, &E));
    CHECK_INT_EQ(m.workers_active, 2);
    for (int i = 0; i < got; i++) {
        if (strcmp(ch5[i].job_id, b) == 0)
            OK(store_chunk_complete(st, ch5[i].id, "w2", ch5[i].lease_token, 10, "k", NULL, &E));
        else if (strcmp(ch5[i].job_id, c) == 0)
            OK(store_chunk_fail_now(st, ch5[i].id, "w2", ch5[i].lease_token, "corrupt video", NULL,
                                    &E));
        else
            OK(store_chunk_release(st, ch5[i].id, "w2", ch5[i].lease_token, &E));
    }
    sleep_s(0.8); /* w1's lease runs out */

    store_stuck_chunk sc[32];
    int n = 0;
    /* a limit of a day: no chunk has waited that long, only the lost and the failed */
    OK(store_stuck_chunks(st, 86400, sc, 32, &n, &E));
    CHECK_INT_EQ(n, 2);
    CHECK(find_chunk(sc, n, a, 0, STORE_STUCK_LEASE_EXPIRED));
    CHECK(find_chunk(sc, n, c, 0, STORE_STUCK_FAILED));
    CHECK_MSG(n > 0 && sc[0].reason == STORE_STUCK_LEASE_EXPIRED, "lease-expired first");
    for (int i = 0; i < n; i++)
        if (sc[i].reason == STORE_STUCK_FAILED)
            CHECK(strstr(sc[i].error_message, "corrupt video") != NULL);
    /* no limit: a's other two waiting chunks too */
    OK(store_stuck_chunks(st, 0, sc, 32, &n, &E));
    CHECK_INT_EQ(n, 4);
    CHECK(find_chunk(sc, n, a, 1, STORE_STUCK_WAITING));
    CHECK(find_chunk(sc, n, a, 2, STORE_STUCK_WAITING));
    OK(store_stuck_chunks(st, 0, sc, 1, &n, &E)); /* the cap holds */
    CHECK_INT_EQ(n, 1);

    OK(store_monitor_read(st, &m, &E));
    CHECK_INT_EQ(m.chunks_failed, 1);
    CHECK_INT_EQ(m.jobs[4], 1);        /* failed: c */
    CHECK_INT_EQ(m.workers_active, 0); /* w1's lease expired; w2 holds nothing */

    /* Jobs: b is ready (all chunks completed) but nobody aggregates it. */
    store_stuck_job sj[16];
    OK(store_stuck_jobs(st, 86400, sj, 16, &n, &E));
    CHECK_INT_EQ(n, 0);
    OK(store_stuck_jobs(st, 0, sj, 16, &n, &E));
    CHECK(find_job(sj, n, b, STORE_STUCK_JOB_WAITING));
    CHECK(!find_job(sj, n, a, STORE_STUCK_JOB_WAITING)); /* not ready */
    /* an aggregation whose worker vanished */
    store_job held;
    int won = 0;
    OK(store_job_claim_aggregation(st, b, "agg", 0.5, &held, &won, &E));
    CHECK_INT_EQ(won, 1);
    sleep_s(0.8);
    OK(store_stuck_jobs(st, 86400, sj, 16, &n, &E));
    CHECK(find_job(sj, n, b, STORE_STUCK_JOB_LEASE_EXPIRED));

    /* A writer counting without a lock (Cricksy's gpu_chunk_worker) lost an
     * increment on a: never ready. */
    store_reaped rp;
    OK(store_reap_expired(st, &rp, &E)); /* a's chunk 0 back to queued, b back to queued */
    OK(store_chunk_claim(st, "w3", 60, 3, ch, &got, &E));
    CHECK_INT_EQ(got, 3);
    for (int i = 0; i < got; i++)
        OK(store_chunk_complete(st, ch[i].id, "w3", ch[i].lease_token, 10, "k", NULL, &E));
    raw(db, "UPDATE video_analysis_jobs SET completed_chunks = 2 WHERE deep_mode = 'gpu' AND "
            "total_chunks = 3");
    OK(store_stuck_jobs(st, 86400, sj, 16, &n, &E));
    CHECK(find_job(sj, n, a, STORE_STUCK_JOB_COUNT_DRIFT));
    /* A writer failing a chunk but not its job (Cricksy's) */
    raw(db, "UPDATE video_analysis_jobs SET status = 'queued', stage = 'DEEP_QUEUED', "
            "error_message = NULL WHERE total_chunks = 1");
    OK(store_stuck_jobs(st, 86400, sj, 16, &n, &E));
    CHECK(find_job(sj, n, c, STORE_STUCK_JOB_FAILED_CHUNKS));
}

static void test_gpu_mode(const scratch_db *db, store *st)
{
    char aw_gpu[37], aw_cpu[37], idle[37], busy[37], whole[37];
    make_job(st, S1, "gpu", -1, aw_gpu);
    make_job(st, S1, "cpu", -1, aw_cpu);
    make_job(st, S2, "gpu", 3, idle);
    make_job(st, S2, "gpu", 2, busy);
    make_job(st, S2, "cpu", 0, whole); /* queued whole-video */

    /* idle: one chunk completed, none in a worker's hands; busy: one chunk processing */
    store_chunk ch[4];
    int got = 0;
    OK(store_chunk_claim(st, "w", 60, 1, ch, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK_STR_EQ(ch[0].job_id, idle);
    OK(store_chunk_complete(st, ch[0].id, "w", ch[0].lease_token, 10, "k", NULL, &E));
    /* claim busy's first chunk: take idle's two remaining first, give them back */
    OK(store_chunk_claim(st, "w", 60, 3, ch, &got, &E));
    CHECK_INT_EQ(got, 3);
    const store_chunk *busy_chunk = NULL;
    for (int i = 0; i < got; i++) {
        if (strcmp(ch[i].job_id, busy) == 0 && busy_chunk == NULL)
            busy_chunk = &ch[i];
        else
            OK(store_chunk_release(st, ch[i].id, "w", ch[i].lease_token, &E));
    }
    CHECK(busy_chunk != NULL);

    store_gpu_mode_counts cnt;
    OK(store_gpu_mode_counts_read(st, &cnt, &E));
    CHECK_INT_EQ(cnt.gpu, 3);
    CHECK_INT_EQ(cnt.cpu, 2);

    store_gpu_mode_change chg;
    OK(store_gpu_mode_set(st, 0, &chg, &E));
    CHECK_INT_EQ(chg.awaiting_changed, 1);
    CHECK_INT_EQ(chg.queued_changed, 1);
    CHECK_INT_EQ(chg.queued_skipped, 1);
    store_job j;
    OK(store_job_get(st, aw_gpu, &j, &E));
    CHECK_STR_EQ(j.deep_mode, "cpu");
    CHECK_STR_EQ(j.status, "awaiting_upload");
    OK(store_job_get(st, idle, &j, &E));
    CHECK_STR_EQ(j.deep_mode, "cpu");
    CHECK_STR_EQ(j.status, "queued");
    CHECK_INT_EQ(j.total_chunks, 0);
    CHECK_INT_EQ(j.completed_chunks, 0);
    CHECK_INT_EQ(j.progress_pct, 0);
    cr_err e = {0};
    CHECK_MSG(store_job_check(&j, &e) == CR_OK, "%s", cr_err_msg(&e));
    int n = 0;
    OK(store_chunks_of_job(st, idle, ch, 4, &n, &E));
    CHECK_INT_EQ(n, 0);
    OK(store_job_get(st, busy, &j, &E)); /* left: its chunk is in a worker's hands */
    CHECK_STR_EQ(j.deep_mode, "gpu");
    CHECK_INT_EQ(j.total_chunks, 2);
    OK(store_chunks_of_job(st, busy, ch, 4, &n, &E));
    CHECK_INT_EQ(n, 2);
    CHECK_INT_EQ(raw(db, "SELECT count(*) FROM video_analysis_chunks"), 2);

    /* The analysis workers now take the turned job whole (oldest ready first: the
     * whole-video job queued before it, then it). */
    store_job held;
    int won = 0;
    OK(store_job_claim_aggregation(st, idle, "agg", 60, &held, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK_STR_EQ(held.deep_mode, "cpu");
    CHECK_INT_EQ(held.total_chunks, 0);

    /* Once busy's chunk is done, off again turns it too. */
    OK(store_chunk_release(st, busy_chunk->id, "w", busy_chunk->lease_token, &E));
    OK(store_gpu_mode_set(st, 0, &chg, &E));
    CHECK_INT_EQ(chg.awaiting_changed, 0);
    CHECK_INT_EQ(chg.queued_changed, 1);
    CHECK_INT_EQ(chg.queued_skipped, 0);
    OK(store_gpu_mode_counts_read(st, &cnt, &E));
    CHECK_INT_EQ(cnt.gpu, 0);

    /* on: awaiting jobs become chunked; queued whole-video ones stay. */
    OK(store_gpu_mode_set(st, 1, &chg, &E));
    CHECK_INT_EQ(chg.awaiting_changed, 2);
    CHECK_INT_EQ(chg.queued_changed, 0);
    OK(store_job_get(st, aw_cpu, &j, &E));
    CHECK_STR_EQ(j.deep_mode, "gpu");
    OK(store_job_get(st, whole, &j, &E));
    CHECK_STR_EQ(j.deep_mode, "cpu");
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "sqlite";
    cr_mem_init();
    for (int t = 0; t < 2; t++) {
        scratch_db db;
        scratch_create(&db, kind, t == 0 ? "ops_stuck" : "ops_gpu");
        store *st = scratch_open(&db, NULL);
        OK(store_migrate_up(st, 0, NULL, &E));
        if (t == 0)
            test_monitor_and_stuck(&db, st);
        else
            test_gpu_mode(&db, st);
        store_close(st);
        scratch_drop(&db);
    }
    return check_exit();
}
