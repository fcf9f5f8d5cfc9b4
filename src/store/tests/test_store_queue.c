/*
 * test_store_queue.c -- the queue's semantics, one scenario at a time, on the
 * backend named by argv[1] ("sqlite" or "pg"; a scratch database each run):
 *   - job creation, chunk creation (idempotent), job -> queued / DEEP_QUEUED / 0 %
 *   - claim: FIFO across jobs (oldest job first, then chunk_index), attempts+1,
 *     lease and worker set, never the same chunk twice, not before next_attempt_at
 *   - heartbeat by the holder only; release does not count the attempt
 *   - complete: idempotent, completed_chunks and progress_pct per DESIGN.md §4
 *   - aggregation claim: refused until all chunks are done, then exactly one winner;
 *     finish done (100 %) or failed
 *   - fail: backoff with jitter (next_attempt_at in the future, within the bounds),
 *     final failure after max_attempts fails the job with the chunk's message;
 *     retry re-queues only the failed chunks
 *   - reaper: expired chunk leases back to queued, last attempt -> failed, expired
 *     aggregation lease -> job back to queued
 *   - queue depth; a dead database is an error, not a crash
 *   - the pinned video: set when the job is queued, kept by a repeated call, and the
 *     job's key reported in use from then on
 */
#include "store_test_util.h"

#include <math.h>

#include <sys/wait.h>
#include <time.h>

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int job_ok(store *st, const char *id, store_job *j)
{
    cr_err_clear(&E);
    if (store_job_get(st, id, j, &E) != CR_OK)
        return 0;
    cr_err e = {0};
    cr_status s = store_job_check(j, &e);
    CHECK_MSG(s == CR_OK, "invariant: %s", cr_err_msg(&e));
    return 1;
}

static void make_job(store *st, const char *session, int nchunks, int max_attempts, char *id)
{
    store_job_new jn = {.session_id = session,
                        .deep_mode = "gpu",
                        .s3_bucket = "b",
                        .s3_key = "coach_plus/sessions/s/original.mp4"};
    scratch_session(st, session);
    OK(store_job_create(st, &jn, id, 37, &E));
    store_chunk_span sp[64];
    for (int i = 0; i < nchunks; i++) {
        sp[i].start_sec = 30.0 * i;
        sp[i].end_sec = 30.0 * (i + 1);
    }
    int created = -1;
    OK(store_chunks_create(st, id, sp, nchunks, 30.0 * nchunks, max_attempts, &created, &E));
    CHECK_INT_EQ(created, nchunks);
}

static void test_lifecycle(store *st)
{
    store_job_new jn = {.session_id = "sess-1",
                        .analysis_mode = "batting",
                        .s3_bucket = "bkt",
                        .s3_key = "coach_plus/sessions/sess-1/original.mp4"};
    scratch_session(st, "sess-1");
    char a[37], b[37];
    OK(store_job_create(st, &jn, a, sizeof a, &E));
    CHECK_INT_EQ(strlen(a), 36);
    store_job j;
    CHECK(job_ok(st, a, &j));
    CHECK_STR_EQ(j.status, "awaiting_upload");
    CHECK_STR_EQ(j.deep_mode, "gpu");
    CHECK_STR_EQ(j.analysis_mode, "batting");
    CHECK(j.created_at > 1.7e9); /* a UTC epoch time, not 0 */
    CHECK(!j.subject && j.subject_x == 0.0 && j.subject_y == 0.0);

    /* Explicit ids; a duplicate is a conflict. */
    store_job_new dup = {.id = a, .session_id = "x"};
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_create(st, &dup, b, sizeof b, &E), CR_ERR_CONFLICT);

    /* Claim before chunks exist: nothing (awaiting_upload is not claimable). */
    store_chunk c[8];
    int got = -1;
    OK(store_chunk_claim(st, "w1", 30, 4, c, &got, &E));
    CHECK_INT_EQ(got, 0);

    store_chunk_span sp[3] = {{0, 30}, {30, 60}, {60, 75.5}};
    int created = -1;
    OK(store_chunks_create(st, a, sp, 3, 75.5, 0, &created, &E));
    CHECK_INT_EQ(created, 3);
    OK(store_chunks_create(st, a, sp, 3, 75.5, 0, &created, &E)); /* idempotent */
    CHECK_INT_EQ(created, 0);
    CHECK(job_ok(st, a, &j));
    CHECK_STR_EQ(j.status, "queued");
    CHECK_STR_EQ(j.stage, "DEEP_QUEUED");
    CHECK_INT_EQ(j.progress_pct, 0);
    CHECK_INT_EQ(j.total_chunks, 3);
    CHECK_NEAR(j.video_duration_seconds, 75.5, 1e-9);

    /* A second, younger job: FIFO says a's chunks go first. */
    make_job(st, "sess-2", 2, 0, b);

    store_depth d;
    OK(store_queue_depth(st, &d, &E));
    CHECK_INT_EQ(d.queued_chunks, 5);
    CHECK_INT_EQ(d.ready_chunks, 5);
    CHECK_INT_EQ(d.jobs_queued, 2);

    OK(store_chunk_claim(st, "w1", 30, 2, c, &got, &E));
    CHECK_INT_EQ(got, 2);
    int seen[3] = {0};
    for (int i = 0; i < got; i++) {
        CHECK_STR_EQ(c[i].job_id, a);
        CHECK_STR_EQ(c[i].status, "processing");
        CHECK_STR_EQ(c[i].worker_id, "w1");
        CHECK_INT_EQ(c[i].attempts, 1);
        CHECK_INT_EQ(c[i].max_attempts, STORE_DEFAULT_MAX_ATTEMPTS);
        CHECK_STR_EQ(c[i].session_id, "sess-1");
        CHECK_STR_EQ(c[i].s3_key, "coach_plus/sessions/sess-1/original.mp4");
        CHECK(c[i].lease_expires_at > c[i].started_at + 29 &&
              c[i].lease_expires_at < c[i].started_at + 31);
        if (c[i].chunk_index >= 0 && c[i].chunk_index < 3)
            seen[c[i].chunk_index]++;
    }
    CHECK(seen[0] == 1 && seen[1] == 1);
    store_chunk c2[8];
    int got2 = 0;
    OK(store_chunk_claim(st, "w2", 30, 8, c2, &got2, &E));
    CHECK_INT_EQ(got2, 3); /* a's chunk 2, then b's 0 and 1 */
    CHECK(got2 == 3 && strcmp(c2[0].job_id, a) == 0 && c2[0].chunk_index == 2);
    CHECK(got2 == 3 && strcmp(c2[1].job_id, b) == 0 && c2[1].chunk_index == 0);
    OK(store_chunk_claim(st, "w3", 30, 8, c2 + 3, &got, &E));
    CHECK_INT_EQ(got, 0);

    /* Heartbeat: holder only. */
    OK(store_chunk_heartbeat(st, c[0].id, "w1", c[0].lease_token, 60, &E));
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_heartbeat(st, c[0].id, "w2", c[0].lease_token, 60, &E),
                 CR_ERR_CONFLICT);

    /* Release b's chunk 1: back to queued, the attempt does not count. */
    OK(store_chunk_release(st, c2[2].id, "w2", c2[2].lease_token, &E));
    OK(store_chunk_claim(st, "w3", 30, 1, c2 + 2, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK_INT_EQ(c2[2].attempts, 1);

    /* Complete a's chunks; progress 33, 66, then aggregation. */
    store_completion comp;
    OK(store_chunk_complete(st, c[0].id, "w1", c[0].lease_token, 1200, "k/chunk_0000.json", &comp,
                            &E));
    CHECK_INT_EQ(comp.counted, 1);
    CHECK_INT_EQ(comp.completed_chunks, 1);
    CHECK_INT_EQ(comp.total_chunks, 3);
    CHECK_INT_EQ(comp.job_ready, 0);
    CHECK(job_ok(st, a, &j));
    CHECK_INT_EQ(j.progress_pct, 33);
    OK(store_chunk_complete(st, c[0].id, "w1", c[0].lease_token, 1300, "k/chunk_0000.json", &comp,
                            &E)); /* again, by the same claim */
    CHECK_INT_EQ(comp.counted, 0);
    CHECK_INT_EQ(comp.completed_chunks, 1);
    OK(store_chunk_complete(st, c[1].id, "w1", c[1].lease_token, 1000, "k/chunk_0001.json", &comp,
                            &E));
    CHECK(job_ok(st, a, &j));
    CHECK_INT_EQ(j.progress_pct, 66);

    int won = -1;
    OK(store_job_claim_aggregation(st, a, "agg1", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 0); /* not all chunks done */

    OK(store_chunk_complete(st, c2[0].id, "w2", c2[0].lease_token, 900, "k/chunk_0002.json", &comp,
                            &E));
    CHECK_INT_EQ(comp.counted, 1);
    CHECK_INT_EQ(comp.job_ready, 1);
    CHECK_STR_EQ(comp.job_id, a);
    CHECK(job_ok(st, a, &j));
    CHECK_INT_EQ(j.progress_pct, 99);
    CHECK_STR_EQ(j.status, "queued");

    OK(store_job_claim_aggregation(st, a, "agg1", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK_STR_EQ(j.status, "deep_running");
    CHECK_STR_EQ(j.stage, "AGGREGATING");
    CHECK_INT_EQ(j.progress_pct, 99);
    OK(store_job_claim_aggregation(st, a, "agg2", 30, NULL, &won, &E));
    CHECK_INT_EQ(won, 0);
    OK(store_job_claim_aggregation(st, NULL, "agg2", 30, NULL, &won, &E));
    CHECK_INT_EQ(won, 0); /* b is not ready */
    int64_t agg1 = j.lease_token;
    CHECK(agg1 >= 1);
    OK(store_job_heartbeat(st, a, "agg1", agg1, 30, &E));
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_heartbeat(st, a, "agg2", agg1, 30, &E), CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_heartbeat(st, a, "agg1", agg1 - 1, 30, &E), CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(scratch_finish(st, a, "agg2", agg1, 1, "{}", NULL, &E), CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(scratch_finish(st, a, "agg1", agg1 + 1, 1, "{}", NULL, &E), CR_ERR_CONFLICT);
    OK(scratch_finish(st, a, "agg1", agg1, 1, "{\"metrics\":{\"n\":3}}", NULL, &E));
    CHECK(job_ok(st, a, &j));
    CHECK_STR_EQ(j.status, "done");
    CHECK_STR_EQ(j.stage, "DONE");
    CHECK_INT_EQ(j.progress_pct, 100);
    CHECK(j.completed_at >= j.created_at);
    char *json = NULL;
    OK(store_job_results(st, a, &json, &E));
    CHECK(json != NULL && strstr(json, "\"n\"") != NULL);
    cr_free(json);

    /* Chunk rows of a job. */
    store_chunk all[8];
    int n = 0;
    OK(store_chunks_of_job(st, a, all, 8, &n, &E));
    CHECK_INT_EQ(n, 3);
    for (int i = 0; i < n; i++) {
        CHECK_INT_EQ(all[i].chunk_index, i);
        CHECK_STR_EQ(all[i].status, "completed");
        CHECK(all[i].runtime_ms > 0);
    }
    CHECK(n == 3 && all[0].runtime_ms == 1200); /* the second completion changed nothing */

    /* Listing. */
    store_job list[8];
    OK(store_job_list(st, NULL, list, 8, &n, &E));
    CHECK_INT_EQ(n, 2);
    CHECK(n == 2 && strcmp(list[0].id, b) == 0); /* newest first */
    OK(store_job_list(st, "done", list, 8, &n, &E));
    CHECK_INT_EQ(n, 1);

    /* b: a worker fails, with aggregation failing at the end. */
    OK(store_chunk_complete(st, c2[1].id, "w2", c2[1].lease_token, 10, "k0", &comp, &E));
    OK(store_chunk_complete(st, c2[2].id, "w3", c2[2].lease_token, 10, "k1", &comp, &E));
    CHECK_INT_EQ(comp.job_ready, 1);
    OK(store_job_claim_aggregation(st, NULL, "agg3", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK_STR_EQ(j.id, b);
    OK(scratch_finish(st, b, "agg3", j.lease_token, 0, NULL, "merge failed: bad json", &E));
    CHECK(job_ok(st, b, &j));
    CHECK_STR_EQ(j.status, "failed");
    CHECK_STR_EQ(j.error_message, "merge failed: bad json");
    CHECK_INT_EQ(j.progress_pct, 99); /* unchanged */
    int rq = -1;
    OK(store_job_retry(st, b, &rq, &E));
    CHECK_INT_EQ(rq, 0); /* no failed chunks: straight back to aggregation */
    CHECK(job_ok(st, b, &j));
    CHECK_STR_EQ(j.status, "queued");
    OK(store_job_claim_aggregation(st, NULL, "agg3", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_retry(st, b, &rq, &E), CR_ERR_CONFLICT); /* not failed */
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_retry(st, "no-such-job", &rq, &E), CR_ERR_NOT_FOUND);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_get(st, "no-such-job", &j, &E), CR_ERR_NOT_FOUND);
}

static void test_backoff_and_max_attempts(store *st)
{
    /* Jitter bounds of the formula itself. */
    store_options o = {.backoff_base_ms = 100, .backoff_cap_ms = 1000};
    CHECK_NEAR(store_backoff_ms(&o, 1, 0.0), 50, 1e-9);
    CHECK_NEAR(store_backoff_ms(&o, 1, 0.999999), 100, 1e-3);
    CHECK_NEAR(store_backoff_ms(&o, 3, 0.0), 200, 1e-9);
    CHECK_NEAR(store_backoff_ms(&o, 10, 0.0), 500, 1e-9); /* capped */
    CHECK_NEAR(store_backoff_ms(NULL, 1, 0.0), STORE_DEFAULT_BACKOFF_BASE_MS / 2, 1e-9);

    char id[37];
    make_job(st, "sess-fail", 3, 3, id);
    store_chunk c[3];
    int got = 0;
    /* Take all three; chunk 1 succeeds, chunk 0 fails every time, chunk 2 is still being
     * worked on when the job fails. */
    OK(store_chunk_claim(st, "w", 30, 3, c, &got, &E));
    CHECK_INT_EQ(got, 3);
    if (got != 3)
        return;
    CHECK(c[0].chunk_index == 0 && c[1].chunk_index == 1 && c[2].chunk_index == 2);
    char slow_chunk[STORE_ID_MAX];
    snprintf(slow_chunk, sizeof slow_chunk, "%s", c[2].id);
    int64_t slow_token = c[2].lease_token;
    OK(store_chunk_complete(st, c[1].id, "w", c[1].lease_token, 5, "k1", NULL, &E));
    double prev_next = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (attempt > 1) {
            /* Wait out the backoff (the store's options: base 200 ms). */
            got = 0;
            for (int tries = 0; tries < 200 && got == 0; tries++) {
                OK(store_chunk_claim(st, "w", 30, 1, c, &got, &E));
                if (got == 0)
                    sleep_s(0.02);
            }
            CHECK_INT_EQ(got, 1);
            if (got != 1)
                return;
            CHECK(c[0].started_at >= prev_next - 0.01); /* not claimed before its time */
        }
        CHECK_INT_EQ(c[0].chunk_index, 0);
        CHECK_INT_EQ(c[0].attempts, attempt);
        store_failure f;
        OK(store_chunk_fail(st, c[0].id, "w", c[0].lease_token, "decoder exploded", &f, &E));
        CHECK_INT_EQ(f.attempts, attempt);
        if (attempt < 3) {
            CHECK_INT_EQ(f.final, 0);
            /* base 200 ms * 2^(attempt-1), jitter factor in [0.5, 1]. */
            double nominal = 0.2 * (1 << (attempt - 1));
            CHECK_MSG(f.retry_in_sec >= nominal * 0.5 - 1e-9 && f.retry_in_sec <= nominal + 1e-9,
                      "retry in %.3f s (nominal %.3f)", f.retry_in_sec, nominal);
            store_chunk rows[3];
            int n = 0;
            OK(store_chunks_of_job(st, id, rows, 3, &n, &E));
            CHECK_STR_EQ(rows[0].status, "queued");
            CHECK_STR_EQ(rows[0].error_message, "decoder exploded");
            CHECK(rows[0].next_attempt_at > rows[0].started_at);
            prev_next = rows[0].next_attempt_at;
            store_depth d;
            OK(store_queue_depth(st, &d, &E));
            CHECK_INT_EQ(d.queued_chunks, 1);
        } else {
            CHECK_INT_EQ(f.final, 1);
        }
        cr_err_clear(&E);
        CHECK_INT_EQ(store_chunk_fail(st, c[0].id, "w", c[0].lease_token, "again", &f, &E),
                     CR_ERR_CONFLICT);
    }
    store_job j;
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "failed");
    CHECK_STR_EQ(j.stage, "FAILED");
    CHECK_INT_EQ(j.progress_pct, 33); /* unchanged by the failure */
    CHECK_MSG(strstr(j.error_message, "decoder exploded") != NULL, "job error '%s'",
              j.error_message);
    CHECK_MSG(strstr(j.error_message, "chunk 0") != NULL, "job error '%s'", j.error_message);
    /* The slow chunk finishes after the job failed (its holder still holds it):
     * counted, progress unchanged. */
    store_completion late;
    OK(store_chunk_complete(st, slow_chunk, "w", slow_token, 6, "k2", &late, &E));
    CHECK_INT_EQ(late.counted, 1);
    CHECK_INT_EQ(late.job_ready, 0);
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "failed");
    CHECK_INT_EQ(j.progress_pct, 33);
    store_chunk rows[3];
    int n = 0;
    OK(store_chunks_of_job(st, id, rows, 3, &n, &E));
    CHECK_STR_EQ(rows[0].status, "failed");
    CHECK_INT_EQ(rows[0].attempts, 3);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_complete(st, rows[0].id, "w", rows[0].lease_token, 1, "k", NULL, &E),
                 CR_ERR_CONFLICT);

    /* Retry: only the failed chunk is re-queued, with fresh attempts. */
    int rq = -1;
    OK(store_job_retry(st, id, &rq, &E));
    CHECK_INT_EQ(rq, 1);
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "queued");
    CHECK_STR_EQ(j.stage, "DEEP_QUEUED");
    CHECK_INT_EQ(j.completed_chunks, 2);
    CHECK_INT_EQ(j.progress_pct, 66);
    CHECK_STR_EQ(j.error_message, "");
    OK(store_chunk_claim(st, "w", 30, 3, c, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK(got == 1 && c[0].chunk_index == 0 && c[0].attempts == 1);
    store_completion comp;
    OK(store_chunk_complete(st, c[0].id, "w", c[0].lease_token, 7, "k0", &comp, &E));
    CHECK_INT_EQ(comp.job_ready, 1);
    OK(store_chunks_of_job(st, id, rows, 3, &n, &E));
    CHECK(n == 3 && rows[1].runtime_ms == 5); /* the completed chunks were not re-run */
}

static void test_reaper(store *st)
{
    char id[37];
    make_job(st, "sess-reap", 2, 2, id);
    store_chunk c[2];
    int got = 0;
    OK(store_chunk_claim(st, "dead-worker", 0.3, 2, c, &got, &E));
    CHECK_INT_EQ(got, 2);
    store_reaped rp;
    OK(store_reap_expired(st, &rp, &E));
    CHECK_INT_EQ(rp.chunks_requeued + rp.chunks_failed, 0); /* leases still valid */
    OK(store_chunk_heartbeat(st, c[1].id, "dead-worker", c[1].lease_token, 30,
                             &E)); /* chunk 1 stays alive */
    sleep_s(0.5);
    OK(store_reap_expired(st, &rp, &E));
    CHECK_INT_EQ(rp.chunks_requeued, 1);
    CHECK_INT_EQ(rp.chunks_failed, 0);
    /* The lost worker's late heartbeat is refused. */
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_heartbeat(st, c[0].id, "dead-worker", c[0].lease_token, 30, &E),
                 CR_ERR_CONFLICT);
    store_chunk again;
    OK(store_chunk_claim(st, "w2", 0.3, 1, &again, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK(got == 1 && strcmp(again.id, c[0].id) == 0 && again.attempts == 2);
    sleep_s(0.5);
    OK(store_reap_expired(st, &rp, &E)); /* second (= max) attempt lost: failed */
    CHECK_INT_EQ(rp.chunks_failed, 1);
    store_job j;
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "failed");
    CHECK_MSG(strstr(j.error_message, "lease expired") != NULL, "'%s'", j.error_message);
    int rq = 0;
    OK(store_job_retry(st, id, &rq, &E));
    CHECK_INT_EQ(rq, 1);
    store_chunk c1 = c[1]; /* dead-worker's chunk 1, kept alive by its heartbeat */
    OK(store_chunk_claim(st, "w3", 30, 2, c, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK(c[0].lease_token > again.lease_token); /* a retry never resets the token */
    OK(store_chunk_complete(st, c[0].id, "w3", c[0].lease_token, 1, "k0", NULL, &E));
    store_completion comp;
    cr_err_clear(&E); /* w2's claim was reaped: its completion is refused, nothing counted */
    CHECK_INT_EQ(store_chunk_complete(st, again.id, "w2", again.lease_token, 1, "k0-w2", &comp, &E),
                 CR_ERR_CONFLICT);
    CHECK_INT_EQ(comp.counted, 0);
    OK(store_chunk_complete(st, c1.id, "dead-worker", c1.lease_token, 1, "k1", &comp, &E));
    CHECK_INT_EQ(comp.completed_chunks, 2);
    CHECK_INT_EQ(comp.job_ready, 1);

    /* An aggregation lease that expires puts the job back in line. */
    int won = 0;
    store_job dead;
    OK(store_job_claim_aggregation(st, id, "agg-dead", 0.3, &dead, &won, &E));
    CHECK_INT_EQ(won, 1);
    sleep_s(0.5);
    OK(store_reap_expired(st, &rp, &E));
    CHECK_INT_EQ(rp.jobs_requeued, 1);
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "queued");
    cr_err_clear(&E);
    CHECK_INT_EQ(scratch_finish(st, id, "agg-dead", dead.lease_token, 1, NULL, NULL, &E),
                 CR_ERR_CONFLICT);
    OK(store_job_claim_aggregation(st, id, "agg-2", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK(j.lease_token == dead.lease_token + 1);
    OK(scratch_finish(st, id, "agg-2", j.lease_token, 1, NULL, NULL, &E));
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "done");
}

/* Chunk `index` of job `id` into *out. */
static void chunk_row(store *st, const char *id, int index, store_chunk *out)
{
    store_chunk rows[8];
    int n = 0;
    OK(store_chunks_of_job(st, id, rows, 8, &n, &E));
    CHECK(index < n);
    if (index < n)
        *out = rows[index];
}

/* Every column a stale call could touch is as it was. */
static void check_chunk_unchanged(const store_chunk *was, const store_chunk *now, const char *what)
{
    CHECK_MSG(strcmp(was->status, now->status) == 0, "%s: status %s -> %s", what, was->status,
              now->status);
    CHECK_MSG(was->attempts == now->attempts, "%s: attempts", what);
    CHECK_MSG(strcmp(was->worker_id, now->worker_id) == 0, "%s: worker_id", what);
    CHECK_MSG(was->lease_token == now->lease_token, "%s: token", what);
    CHECK_MSG(strcmp(was->artifact_s3_key, now->artifact_s3_key) == 0, "%s: artifact %s -> %s",
              what, was->artifact_s3_key, now->artifact_s3_key);
    CHECK_MSG(was->lease_expires_at == now->lease_expires_at, "%s: lease", what);
    CHECK_MSG(was->next_attempt_at == now->next_attempt_at, "%s: next_attempt_at", what);
    CHECK_MSG(was->runtime_ms == now->runtime_ms, "%s: runtime", what);
    CHECK_MSG(strcmp(was->error_message, now->error_message) == 0, "%s: error", what);
}

/* Every call a worker makes with its claim's token, made with a stale one. */
static void stale_calls(store *st, const char *chunk, const char *worker, int64_t token)
{
    store_completion comp;
    store_failure f;
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_heartbeat(st, chunk, worker, token, 30, &E), CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_complete(st, chunk, worker, token, 77, "k-stale", &comp, &E),
                 CR_ERR_CONFLICT);
    CHECK_INT_EQ(comp.counted, 0);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_fail(st, chunk, worker, token, "stale failure", &f, &E),
                 CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunk_release(st, chunk, worker, token, &E), CR_ERR_CONFLICT);
}

/* Fencing (DESIGN.md §5): a worker whose lease was reaped, and then taken over,
 * changes nothing with any call; the holder's completion counts once and its
 * artifact key stays; the same for the aggregation lease. */
static void test_fencing(store *st)
{
    char id[37];
    make_job(st, "sess-fence", 2, 5, id);
    store_chunk old, cur, was, now;
    int got = 0;
    OK(store_chunk_claim(st, "old", 0.3, 1, &old, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK(old.chunk_index == 0 && old.lease_token >= 1);
    sleep_s(0.5);
    store_reaped rp;
    OK(store_reap_expired(st, &rp, &E));
    CHECK_INT_EQ(rp.chunks_requeued, 1);

    /* Reaped, not yet claimed again: the stale holder cannot take it back. */
    chunk_row(st, id, 0, &was);
    CHECK_STR_EQ(was.status, "queued");
    stale_calls(st, old.id, "old", old.lease_token);
    chunk_row(st, id, 0, &now);
    check_chunk_unchanged(&was, &now, "reaped");

    /* Claimed again by another worker: a new token. */
    OK(store_chunk_claim(st, "new", 30, 1, &cur, &got, &E));
    CHECK_INT_EQ(got, 1);
    CHECK(strcmp(cur.id, old.id) == 0 && cur.lease_token == old.lease_token + 1);
    CHECK_INT_EQ(cur.attempts, 2);
    chunk_row(st, id, 0, &was);
    stale_calls(st, old.id, "old", old.lease_token);     /* the old claim */
    stale_calls(st, old.id, "new", old.lease_token);     /* the holder's name, old token */
    stale_calls(st, old.id, "old", cur.lease_token);     /* the token, not the holder */
    stale_calls(st, old.id, "new", cur.lease_token + 1); /* a token not handed out */
    chunk_row(st, id, 0, &now);
    check_chunk_unchanged(&was, &now, "taken over");
    store_job j;
    CHECK(job_ok(st, id, &j));
    CHECK_INT_EQ(j.completed_chunks, 0);

    /* The holder completes, once; a repeat by the same claim is a no-op. */
    store_completion comp;
    OK(store_chunk_complete(st, cur.id, "new", cur.lease_token, 12, "k-new", &comp, &E));
    CHECK_INT_EQ(comp.counted, 1);
    CHECK_INT_EQ(comp.completed_chunks, 1);
    OK(store_chunk_complete(st, cur.id, "new", cur.lease_token, 13, "k-again", &comp, &E));
    CHECK_INT_EQ(comp.counted, 0);
    CHECK_INT_EQ(comp.completed_chunks, 1);
    /* The stale worker finishes late: refused, not counted, the key stays. */
    chunk_row(st, id, 0, &was);
    CHECK_STR_EQ(was.artifact_s3_key, "k-new");
    CHECK_INT_EQ(was.runtime_ms, 12);
    stale_calls(st, old.id, "old", old.lease_token);
    chunk_row(st, id, 0, &now);
    check_chunk_unchanged(&was, &now, "completed");
    CHECK(job_ok(st, id, &j));
    CHECK_INT_EQ(j.completed_chunks, 1);
    CHECK_INT_EQ(j.progress_pct, 50);

    /* The aggregation lease: reaped and taken over, the stale aggregator can neither
     * heartbeat nor finish, and the outcome is the holder's. */
    OK(store_chunk_claim(st, "w", 30, 1, &cur, &got, &E));
    CHECK(got == 1 && cur.chunk_index == 1);
    OK(store_chunk_complete(st, cur.id, "w", cur.lease_token, 5, "k1", &comp, &E));
    CHECK_INT_EQ(comp.job_ready, 1);
    store_job agg_old, agg_new;
    int won = 0;
    OK(store_job_claim_aggregation(st, id, "agg-old", 0.3, &agg_old, &won, &E));
    CHECK_INT_EQ(won, 1);
    sleep_s(0.5);
    OK(store_reap_expired(st, &rp, &E));
    CHECK_INT_EQ(rp.jobs_requeued, 1);
    cr_err_clear(&E);
    CHECK_INT_EQ(
        scratch_finish(st, id, "agg-old", agg_old.lease_token, 1, "{\"by\":\"old\"}", NULL, &E),
        CR_ERR_CONFLICT);
    OK(store_job_claim_aggregation(st, id, "agg-new", 30, &agg_new, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK(agg_new.lease_token == agg_old.lease_token + 1);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_heartbeat(st, id, "agg-old", agg_old.lease_token, 30, &E),
                 CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_heartbeat(st, id, "agg-new", agg_old.lease_token, 30, &E),
                 CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(scratch_finish(st, id, "agg-old", agg_old.lease_token, 0, NULL, "stale", &E),
                 CR_ERR_CONFLICT);
    cr_err_clear(&E);
    CHECK_INT_EQ(
        scratch_finish(st, id, "agg-new", agg_old.lease_token, 1, "{\"by\":\"old\"}", NULL, &E),
        CR_ERR_CONFLICT);
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "deep_running");
    CHECK_STR_EQ(j.worker_id, "agg-new");
    CHECK_STR_EQ(j.error_message, "");
    OK(store_job_heartbeat(st, id, "agg-new", agg_new.lease_token, 30, &E));
    OK(scratch_finish(st, id, "agg-new", agg_new.lease_token, 1, "{\"by\":\"new\"}", NULL, &E));
    cr_err_clear(&E);
    CHECK_INT_EQ(
        scratch_finish(st, id, "agg-old", agg_old.lease_token, 1, "{\"by\":\"old\"}", NULL, &E),
        CR_ERR_CONFLICT);
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "done");
    char *json = NULL;
    OK(store_job_results(st, id, &json, &E));
    CHECK(json != NULL && strstr(json, "new") != NULL && strstr(json, "old") == NULL);
    cr_free(json);
}

static void test_cpu_job(store *st)
{
    scratch_session(st, "sess-cpu");
    store_job_new jn = {.session_id = "sess-cpu", .deep_mode = "cpu"};
    char id[37];
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    int created = -1;
    OK(store_chunks_create(st, id, NULL, 0, 12.0, 0, &created, &E));
    CHECK_INT_EQ(created, 0);
    store_job j;
    CHECK(job_ok(st, id, &j));
    CHECK_STR_EQ(j.status, "queued");
    int won = 0;
    OK(store_job_claim_aggregation(st, id, "agg", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK_STR_EQ(j.id, id);
    /* A chunked job with no chunks is refused. */
    scratch_session(st, "sess-gpu");
    store_job_new g = {.session_id = "sess-gpu"};
    OK(store_job_create(st, &g, id, sizeof id, &E));
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunks_create(st, id, NULL, 0, 0, 0, &created, &E), CR_ERR_INVALID);
    store_chunk_span bad = {5, 5};
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunks_create(st, id, &bad, 1, 5, 0, &created, &E), CR_ERR_INVALID);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunks_create(st, "nope", &bad, 0, 5, 0, &created, &E), CR_ERR_NOT_FOUND);
}

static void test_unmigrated_and_dead(const char *kind)
{
    /* A store without the schema says so clearly. */
    scratch_db db;
    scratch_create(&db, kind, "bare");
    store *st = scratch_open(&db, NULL);
    cr_err_clear(&E);
    CHECK_INT_EQ(store_check_schema(st, &E), CR_ERR_DB);
    CHECK(strstr(cr_err_msg(&E), "crease migrate up") != NULL);
    store_close(st);
    scratch_drop(&db);

    /* A server that is not there: an error with a message, no crash. */
    store *dead = NULL;
    cr_err_clear(&E);
    cr_status s = store_open_target(
        strcmp(kind, "pg") == 0 ? CR_STORE_POSTGRES : CR_STORE_SQLITE,
        strcmp(kind, "pg") == 0 ? "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2"
                                : "/proc/no/such/dir/crease.db",
        NULL, &dead, &E);
    CHECK(s == CR_ERR_DB || s == CR_ERR_IO);
    CHECK(dead == NULL);
    CHECK(strlen(cr_err_msg(&E)) > 10);
}

/* Many processes at once: `migrate up` applies each version once, and the same
 * upload-complete (store_chunks_create) creates the chunks once. */
static void test_concurrent_setup(const char *kind)
{
    enum { N = 6, CHUNKS = 7 };
    scratch_db db;
    scratch_create(&db, kind, "race");
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            store *st = scratch_open(&db, NULL);
            cr_err e = {0};
            int n = 0;
            cr_status s = store_migrate_up(st, 0, &n, &e);
            if (s != CR_OK)
                fprintf(stderr, "migrate in child: %s\n", cr_err_msg(&e));
            store_close(st);
            _exit(s == CR_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    store *st = scratch_open(&db, NULL);
    OK(store_check_schema(st, &E));
    scratch_session(st, "race");
    store_job_new jn = {.session_id = "race"};
    char id[37];
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    store_chunk_span sp[CHUNKS];
    for (int i = 0; i < CHUNKS; i++)
        sp[i] = (store_chunk_span){i, i + 1.0};
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            store *cs = scratch_open(&db, NULL);
            cr_err e = {0};
            int created = 0;
            cr_status s = store_chunks_create(cs, id, sp, CHUNKS, CHUNKS, 0, &created, &e);
            store_close(cs);
            _exit(s == CR_OK ? created : 100);
        }
    }
    int total = 0, winners = 0;
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
        CHECK(code == 0 || code == CHUNKS);
        total += code;
        winners += code == CHUNKS;
    }
    CHECK_INT_EQ(winners, 1);
    CHECK_INT_EQ(total, CHUNKS);
    store_chunk c[CHUNKS + 1];
    int n = 0;
    OK(store_chunks_of_job(st, id, c, CHUNKS + 1, &n, &E));
    CHECK_INT_EQ(n, CHUNKS);
    store_close(st);
    scratch_drop(&db);
}

/* Sessions own jobs; listings filter by owner in the database; per-job settings
 * round-trip; the end of a job writes Cricksy's columns and moves the session. */
static void test_sessions(store *st)
{
    char a[37], b[37], other[37], id[37];
    store_session_new sa = {.owner_id = "coach-a",
                            .title = "Nets, Tuesday",
                            .notes = "front foot",
                            .player_ids_json = "[\"p1\",\"p2\"]",
                            .analysis_context = "batting",
                            .camera_view = "side"};
    OK(store_session_create(st, &sa, a, sizeof a, &E));
    store_session ss;
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.owner_type, "coach");
    CHECK_STR_EQ(ss.owner_id, "coach-a");
    CHECK_STR_EQ(ss.status, "pending");
    CHECK_STR_EQ(ss.analysis_context, "batting");
    CHECK_STR_EQ(ss.camera_view, "side");
    CHECK_STR_EQ(ss.notes, "front foot");
    CHECK(strstr(ss.player_ids, "p2") != NULL);
    CHECK(ss.created_at > 1.7e9);

    /* Values outside Cricksy's enums, missing owner or title: refused by name. */
    store_session_new bad = sa;
    bad.camera_view = "drone";
    CHECK_INT_EQ(store_session_create(st, &bad, b, sizeof b, &E), CR_ERR_INVALID);
    CHECK(strstr(cr_err_msg(&E), "camera_view") != NULL);
    bad = sa;
    bad.owner_type = "team";
    CHECK_INT_EQ(store_session_create(st, &bad, b, sizeof b, &E), CR_ERR_INVALID);
    bad = sa;
    bad.title = "";
    CHECK_INT_EQ(store_session_create(st, &bad, b, sizeof b, &E), CR_ERR_INVALID);
    CHECK_INT_EQ(store_session_get(st, "no-such-session", &ss, &E), CR_ERR_NOT_FOUND);

    /* A job needs an existing session. */
    store_job_new orphan = {.session_id = "no-such-session"};
    CHECK_INT_EQ(store_job_create(st, &orphan, id, sizeof id, &E), CR_ERR_NOT_FOUND);

    /* Per-job settings are stored and read back; defaults fill what is not given. */
    store_job_new jn = {.session_id = a,
                        .sample_rate = 7.5,
                        .include_frames = 1,
                        .chunk_seconds = 12,
                        .max_width = 480,
                        .model = "lite",
                        .analysis_mode = "batting"};
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    store_job j;
    OK(store_job_get(st, id, &j, &E));
    CHECK_INT_EQ(j.sample_fps, 8); /* Cricksy's integer column: the rate rounded */
    CHECK(fabs(j.sample_rate - 7.5) < 1e-9);
    CHECK_INT_EQ(j.include_frames, 1);
    CHECK_INT_EQ(j.chunk_seconds, 12);
    CHECK_INT_EQ(j.max_width, 480);
    CHECK_STR_EQ(j.model, "lite");
    CHECK_STR_EQ(j.stage, "AWAITING_UPLOAD");
    OK(store_job_fix_chunk_seconds(st, id, 30, &E)); /* already fixed: unchanged */
    OK(store_job_get(st, id, &j, &E));
    CHECK_INT_EQ(j.chunk_seconds, 12);
    store_job_new plain = {.session_id = a};
    char id2[37];
    OK(store_job_create(st, &plain, id2, sizeof id2, &E));
    OK(store_job_get(st, id2, &j, &E));
    CHECK_INT_EQ(j.sample_fps, 10);
    CHECK(fabs(j.sample_rate - 10.0) < 1e-9);
    CHECK_INT_EQ(j.chunk_seconds, 0);
    CHECK_INT_EQ(j.max_width, STORE_JOB_DEFAULT_MAX_WIDTH);
    CHECK_STR_EQ(j.model, STORE_JOB_DEFAULT_MODEL);
    OK(store_job_fix_chunk_seconds(st, id2, 30, &E));
    OK(store_job_get(st, id2, &j, &E));
    CHECK_INT_EQ(j.chunk_seconds, 30);

    /* Another coach's 60 newer jobs never hide coach-a's from coach-a's listing. */
    store_session_new so = {.owner_id = "coach-b", .title = "Flood"};
    OK(store_session_create(st, &so, other, sizeof other, &E));
    for (int i = 0; i < 60; i++) {
        store_job_new f = {.session_id = other};
        char fid[37];
        OK(store_job_create(st, &f, fid, sizeof fid, &E));
    }
    store_job list[8];
    int n = 0;
    OK(store_job_list_owner(st, "coach", "coach-a", NULL, NULL, list, 8, &n, &E));
    CHECK_INT_EQ(n, 2);
    CHECK(n == 2 && strcmp(list[0].id, id2) == 0 && strcmp(list[1].id, id) == 0);
    OK(store_job_list_owner(st, "coach", "coach-b", NULL, NULL, list, 8, &n, &E));
    CHECK_INT_EQ(n, 8);
    /* Pages of 8 through coach-b's 60 jobs: each job once, newest first. */
    {
        int total = 0, guard = 0, ordered = 1;
        char after[STORE_ID_MAX] = "";
        double last = 1e300;
        do {
            OK(store_job_list_owner(st, "coach", "coach-b", NULL, after[0] ? after : NULL, list, 8,
                                    &n, &E));
            for (int i = 0; i < n; i++) {
                ordered &= list[i].created_at <= last;
                last = list[i].created_at;
            }
            total += n;
            if (n > 0)
                snprintf(after, sizeof after, "%s", list[n - 1].id);
        } while (n == 8 && ++guard < 20);
        CHECK_INT_EQ(total, 60);
        CHECK(ordered);
    }
    OK(store_job_list_owner(st, "coach", "coach-a", "done", NULL, list, 8, &n, &E));
    CHECK_INT_EQ(n, 0);
    OK(store_job_list_session(st, a, list, 8, &n, &E));
    CHECK_INT_EQ(n, 2);
    store_session sl[4];
    OK(store_session_list(st, "coach", "coach-a", 0, sl, 4, &n, &E));
    CHECK(n == 1 && strcmp(sl[0].id, a) == 0);
    OK(store_session_list(st, "coach", "coach-a", 1, sl, 4, &n, &E));
    CHECK_INT_EQ(n, 0);
    OK(store_session_list(st, "org", "coach-a", 0, sl, 4, &n, &E));
    CHECK_INT_EQ(n, 0);
    /* Each session's jobs summed up, in the listing's one query or for one session. */
    {
        store_session_new sn = {.owner_id = "coach-a", .title = "Empty"};
        char empty[37];
        OK(store_session_create(st, &sn, empty, sizeof empty, &E));
        store_session_jobs sj[4];
        OK(store_session_list_jobs(st, "coach", "coach-a", 0, sl, sj, 4, &n, &E));
        CHECK_INT_EQ(n, 2);
        if (n == 2) {
            CHECK_STR_EQ(sl[0].id, empty); /* newest session first */
            CHECK_INT_EQ(sj[0].count, 0);
            CHECK_STR_EQ(sj[0].latest_id, "");
            CHECK_STR_EQ(sl[1].id, a);
            CHECK_INT_EQ(sj[1].count, 2);
            CHECK_STR_EQ(sj[1].latest_id, id2); /* the newer of a's two jobs */
            CHECK_STR_EQ(sj[1].latest_status, "awaiting_upload");
            CHECK(sj[1].latest_created_at > 1.7e9 && sj[1].latest_completed_at == 0);
        }
        OK(store_session_list_jobs(st, "coach", "coach-b", 0, sl, sj, 4, &n, &E));
        CHECK(n == 1 && sj[0].count == 60); /* no cap on the count */
        store_session_jobs one;
        OK(store_session_jobs_of(st, a, &one, &E));
        CHECK_INT_EQ(one.count, 2);
        CHECK_STR_EQ(one.latest_id, id2);
        OK(store_session_jobs_of(st, empty, &one, &E));
        CHECK(one.count == 0 && one.latest_id[0] == '\0');
        OK(store_session_jobs_of(st, "no-such-session", &one, &E));
        CHECK_INT_EQ(one.count, 0);
    }

    /* Upload initiate records the video's place; the session follows its job. */
    OK(store_session_set_upload(st, a, "bkt", "coach_plus/x/original.mp4", &E));
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.s3_key, "coach_plus/x/original.mp4");
    store_chunk_span sp[1] = {{0, 5}};
    OK(store_chunks_create(st, id, sp, 1, 5, 1, NULL, &E));
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.status, "uploaded");
    store_chunk c[1];
    int got = 0, won = 0;
    OK(store_chunk_claim(st, "w-s", 30, 1, c, &got, &E));
    CHECK(got == 1 && strcmp(c[0].job_id, id) == 0);
    OK(store_chunk_complete(st, c[0].id, "w-s", c[0].lease_token, 10, "k0", NULL, &E));
    OK(store_job_claim_aggregation(st, id, "agg-s", 30, &j, &won, &E));
    CHECK_INT_EQ(won, 1);
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.status, "processing");
    /* Cricksy's stale clock starts again at each heartbeat. */
    double started = j.deep_started_at;
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    OK(store_job_heartbeat(st, id, "agg-s", j.lease_token, 30, &E));
    OK(store_job_get(st, id, &j, &E));
    CHECK(j.deep_started_at > started);
    CHECK(j.started_at > 0 && j.started_at <= started);
    store_job_outcome o = {.ok = 1,
                           .deep_results = "{\"pose_summary\":{\"sampled_frames\":3}}",
                           .deep_findings = "{\"overall_level\":\"high\",\"findings\":[]}",
                           .deep_report = "{\"summary\":\"Solid\"}",
                           .results_key = "k/final_results.json"};
    OK(store_job_finish(st, id, "agg-s", j.lease_token, &o, &E));
    store_job_docs d;
    OK(store_job_docs_get(st, id, &d, &E));
    CHECK(d.deep_results != NULL && strstr(d.deep_results, "sampled_frames") != NULL);
    CHECK(d.results != NULL && strstr(d.results, "\"deep\"") != NULL &&
          strstr(d.results, "sampled_frames") != NULL);
    CHECK(d.deep_findings != NULL && strstr(d.deep_findings, "overall_level") != NULL);
    CHECK(d.deep_report != NULL && strstr(d.deep_report, "Solid") != NULL);
    store_job_docs_free(&d);
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.deep_results_s3_key, "k/final_results.json");
    CHECK(j.completed_at > 0 && j.deep_completed_at > 0);
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.status, "ready");

    /* A chunk that exhausts its attempts fails the job and the session. */
    store_chunk_span sp2[1] = {{0, 5}};
    OK(store_chunks_create(st, id2, sp2, 1, 5, 1, NULL, &E));
    OK(store_chunk_claim(st, "w-s", 30, 1, c, &got, &E));
    CHECK(got == 1 && strcmp(c[0].job_id, id2) == 0);
    store_failure f;
    OK(store_chunk_fail(st, c[0].id, "w-s", c[0].lease_token, "corrupt header", &f, &E));
    CHECK_INT_EQ(f.final, 1);
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.status, "failed");
    OK(store_job_retry(st, id2, NULL, &E));
    OK(store_session_get(st, a, &ss, &E));
    CHECK_STR_EQ(ss.status, "uploaded");
}

/* An error that cannot go away fails the chunk and its job at once, attempts left. */
static void test_fail_now(store *st)
{
    char id[37];
    make_job(st, "sess-now", 2, 3, id);
    store_chunk all[16], c[1];
    int got = 0, mine = 0;
    OK(store_chunk_claim(st, "w-now", 30, 16, all, &got, &E));
    for (int i = 0; i < got; i++) {
        if (!mine && strcmp(all[i].job_id, id) == 0)
            c[mine++] = all[i];
        else /* older jobs' leftovers go back untouched */
            OK(store_chunk_release(st, all[i].id, "w-now", all[i].lease_token, &E));
    }
    CHECK_INT_EQ(mine, 1);
    store_failure f;
    OK(store_chunk_fail_now(st, c[0].id, "w-now", c[0].lease_token, "corrupt header", &f, &E));
    CHECK_INT_EQ(f.final, 1);
    CHECK_INT_EQ(f.attempts, 1);
    store_job j;
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.status, "failed");
    CHECK(strstr(j.error_message, "corrupt header") != NULL);
    /* a stale token still changes nothing */
    CHECK_INT_EQ(store_chunk_fail_now(st, c[0].id, "w-now", c[0].lease_token + 1, "x", &f, &E),
                 CR_ERR_CONFLICT);
}

/* The video upload-complete checked is recorded when the job is queued, only then,
 * and its key is in use from that moment. */
static void test_video_pin(store *st)
{
    const char *key = "coach_plus/sessions/sess-pin/original.mp4";
    store_job_new jn = {.session_id = "sess-pin", .deep_mode = "cpu", .s3_key = key};
    scratch_session(st, "sess-pin");
    char id[37];
    OK(store_job_create(st, &jn, id, sizeof id, &E));
    store_job j;
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.video_etag, "");
    CHECK_INT_EQ(j.video_size, 0);
    int in_use = -1;
    OK(store_video_key_in_use(st, key, &in_use, &E));
    CHECK_INT_EQ(in_use, 0); /* awaiting_upload: the client may still upload */

    store_video_pin bad = {.size = 10, .etag = ""};
    cr_err_clear(&E);
    CHECK_INT_EQ(store_chunks_create_pinned(st, id, NULL, 0, 3.0, 0, &bad, NULL, &E),
                 CR_ERR_INVALID);
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.status, "awaiting_upload");

    /* 5 GB: the size is a 64-bit number on both backends */
    store_video_pin pin = {.size = 5000000000LL, .etag = "9b2cf535f27731c974343645a3985328"};
    OK(store_chunks_create_pinned(st, id, NULL, 0, 3.0, 0, &pin, NULL, &E));
    OK(store_job_get(st, id, &j, &E));
    CHECK_STR_EQ(j.status, "queued");
    CHECK_INT_EQ(j.video_size, 5000000000LL);
    CHECK_STR_EQ(j.video_etag, pin.etag);
    OK(store_video_key_in_use(st, key, &in_use, &E));
    CHECK_INT_EQ(in_use, 1);
    in_use = -1;
    OK(store_video_key_in_use(st, "coach_plus/sessions/sess-pin/other.mp4", &in_use, &E));
    CHECK_INT_EQ(in_use, 0);

    /* a second upload-complete (another object by then) changes nothing */
    store_video_pin other = {.size = 7, .etag = "other"};
    OK(store_chunks_create_pinned(st, id, NULL, 0, 3.0, 0, &other, NULL, &E));
    OK(store_job_get(st, id, &j, &E));
    CHECK_INT_EQ(j.video_size, 5000000000LL);
    CHECK_STR_EQ(j.video_etag, pin.etag);
    /* the pin travels with the aggregation claim */
    store_job held;
    int won = 0;
    OK(store_job_claim_aggregation(st, id, "w-pin", 30, &held, &won, &E));
    CHECK_INT_EQ(won, 1);
    CHECK_STR_EQ(held.video_etag, pin.etag);
    CHECK_INT_EQ(held.video_size, 5000000000LL);
}

/* The subject hint is stored as given and read back; outside 0..1 it is refused. */
static void test_subject_hint(store *st)
{
    store_job_new hinted = {
        .session_id = "sess-hint", .subject = 1, .subject_x = 0.25, .subject_y = 0.625};
    scratch_session(st, "sess-hint");
    char id[37];
    OK(store_job_create(st, &hinted, id, sizeof id, &E));
    store_job j;
    CHECK(job_ok(st, id, &j));
    CHECK(j.subject && j.subject_x == 0.25 && j.subject_y == 0.625);
    hinted.subject_x = 1.25;
    cr_err_clear(&E);
    CHECK_INT_EQ(store_job_create(st, &hinted, id, sizeof id, &E), CR_ERR_INVALID);
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "sqlite";
    scratch_db db;
    scratch_create(&db, kind, "queue");
    store_options opts = {.backoff_base_ms = 200, .backoff_cap_ms = 2000};
    store *st = scratch_open(&db, &opts);
    int applied = 0;
    OK(store_migrate_up(st, 0, &applied, &E));
    CHECK_INT_EQ(applied, store_migrations_latest());
    OK(store_check_schema(st, &E));

    test_lifecycle(st);
    test_backoff_and_max_attempts(st);
    test_reaper(st);
    test_fencing(st);
    test_cpu_job(st);
    test_sessions(st);
    test_fail_now(st);
    test_video_pin(st);
    test_subject_hint(st);

    store_close(st);
    scratch_drop(&db);
    test_unmigrated_and_dead(kind);
    test_concurrent_setup(kind);
    return check_exit();
}
