/*
 * test_store_concurrency.c -- 16 worker processes, 1,000 chunks over 50 jobs, on the
 * backend of argv[1] ("sqlite" or "pg"), in the mode of argv[2]:
 *   plain: every chunk completed exactly once, every job's completed_chunks ==
 *          total_chunks, each job aggregated (claimed and finished) exactly once;
 *   chaos: the same while the parent SIGKILLs workers at random moments and starts
 *          new ones, and (pg) restarts the PostgreSQL server once mid-run
 *          ($CREASE_TEST_PG_RESTART): nothing lost (all jobs done), nothing stuck
 *          (the run ends), no double count.
 *
 * Proof of exactly-once: each worker appends a line to a side file (O_APPEND, one
 * write(2) per line, atomic for short lines) when the store tells it that *its* call
 * made a transition: "C <chunk>" for a counted completion, "G <job>" for a won
 * aggregation claim, "A <job>" for a finished aggregation, "L <job>" for a finish
 * refused because the claim's lease was lost, "R <n>" for a reap that returned n
 * expired aggregation leases to the queue.  The parent checks the lines against the
 * database.  Under chaos a worker can be killed between the database commit and its
 * write(2), so a line may be missing (at most one per kill), but "C" and "A" may
 * never appear twice for one id.
 *
 * Leases are 1 s and the reaper runs every 0.3 s, so killed work comes back fast.
 * The same short lease also expires under load without any kill: a worker that
 * waits over a second for SQLite's write lock between its aggregation claim and its
 * finish (16 processes on two cores under ASan do) has its job reaped and claimed
 * again.  That is a second "G" for the job, not a second outcome: the first claimant's
 * finish names a stale fencing token and is refused ("L").  So the plain run checks
 * claims = jobs + reaped leases and refusals = reaped leases, with one "A" per job.
 */
#include "store_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define N_WORKERS 16
#define N_JOBS 50
#define CHUNKS_PER_JOB 20 /* 50 x 20 = 1,000 chunks */
#define LEASE_S 1.0
#define WORKER_DEADLINE_S 90.0

static scratch_db db;
static char side_path[512];
static int chaos;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void side_write(int fd, char tag, const char *id)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%c %s\n", tag, id);
    if (write(fd, line, (size_t)n) != n)
        _exit(4);
}

/* Tries to aggregate `job` (NULL: any ready job).  Returns 1 when it did some work. */
static int aggregate(store *st, int fd, const char *job, const char *me)
{
    cr_err err = {0};
    store_job j;
    int won = 0;
    if (store_job_claim_aggregation(st, job, me, LEASE_S, &j, &won, &err) != CR_OK || !won)
        return 0;
    side_write(fd, 'G', j.id);
    cr_err_clear(&err);
    cr_status s = scratch_finish(st, j.id, me, j.lease_token, 1, "{\"ok\":true}", NULL, &err);
    if (s == CR_OK)
        side_write(fd, 'A', j.id);
    else if (s == CR_ERR_CONFLICT)
        side_write(fd, 'L', j.id);
    return 1;
}

static void worker(int slot)
{
    char me[64];
    snprintf(me, sizeof me, "w%02d-%ld", slot, (long)getpid());
    srand((unsigned)getpid());
    int fd = open(side_path, O_WRONLY | O_APPEND);
    if (fd < 0)
        _exit(5);
    store_options opts = {.backoff_base_ms = 50, .backoff_cap_ms = 500};
    store *st = NULL;
    double start = now_s(), last_reap = 0;
    while (now_s() - start < WORKER_DEADLINE_S) {
        cr_err err = {0};
        if (st == NULL && store_open_target(db.kind, db.target, &opts, &st, &err) != CR_OK) {
            sleep_ms(50); /* server restarting */
            continue;
        }
        if (now_s() - last_reap > 0.3) {
            store_reaped rp = {0};
            if (store_reap_expired(st, &rp, &err) == CR_OK && rp.jobs_requeued > 0) {
                char n[16];
                snprintf(n, sizeof n, "%d", rp.jobs_requeued);
                side_write(fd, 'R', n);
            }
            last_reap = now_s();
        }
        store_chunk c[2];
        int got = 0;
        cr_err_clear(&err);
        if (store_chunk_claim(st, me, LEASE_S, 2, c, &got, &err) != CR_OK) {
            sleep_ms(50);
            continue;
        }
        for (int i = 0; i < got; i++) {
            if (chaos)
                sleep_ms(10 + rand() % 30); /* "work", so kills land on held chunks */
            store_completion comp;
            cr_err_clear(&err);
            /* A completion whose reply is lost (server restart) is retried: the store
             * makes the second call a no-op that reports counted = 0. */
            cr_status s;
            int tries = 0;
            while ((s = store_chunk_complete(st, c[i].id, me, c[i].lease_token, 1 + rand() % 50,
                                             "chunk.json", &comp, &err)) == CR_ERR_DB &&
                   tries++ < 200) {
                cr_err_clear(&err);
                sleep_ms(50);
            }
            if (s != CR_OK) /* CR_ERR_CONFLICT: the lease was lost, another claim has it */
                continue;
            if (comp.counted)
                side_write(fd, 'C', c[i].id);
            if (comp.job_ready)
                aggregate(st, fd, comp.job_id, me);
        }
        if (got > 0)
            continue;
        if (aggregate(st, fd, NULL, me))
            continue;
        store_depth d;
        cr_err_clear(&err);
        if (store_queue_depth(st, &d, &err) != CR_OK) {
            sleep_ms(50);
            continue;
        }
        if (d.jobs_queued == 0 && d.jobs_running == 0 && d.processing_chunks == 0)
            break; /* all done */
        sleep_ms(5 + rand() % 20);
    }
    store_close(st);
    close(fd);
    _exit(now_s() - start < WORKER_DEADLINE_S ? 0 : 3);
}

static pid_t spawn(int slot)
{
    pid_t p = fork();
    if (p == 0)
        worker(slot);
    return p;
}

/* Counts of each id in the side file for one tag. */
typedef struct tally {
    char id[64];
    int n;
} tally;

static int tally_add(tally *t, int *n, int cap, const char *id)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].id, id) == 0)
            return ++t[i].n;
    if (*n >= cap)
        return -1;
    snprintf(t[*n].id, sizeof t[*n].id, "%s", id);
    t[*n].n = 1;
    (*n)++;
    return 1;
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "sqlite";
    chaos = argc > 2 && strcmp(argv[2], "chaos") == 0;
    const char *restart = getenv("CREASE_TEST_PG_RESTART");
    if (chaos && strcmp(kind, "pg") == 0 && (restart == NULL || *restart == '\0'))
        SKIP_OR_FAIL("CREASE_TEST_PG_RESTART not set: cannot restart PostgreSQL");
    scratch_create(&db, kind, chaos ? "chaos" : "conc");
    snprintf(side_path, sizeof side_path, "/tmp/crease-store-side-%ld.log", (long)getpid());
    int fd = open(side_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);

    store *st = scratch_open(&db, NULL);
    OK(store_migrate_up(st, 0, NULL, &E));
    static char job_ids[N_JOBS][37];
    store_chunk_span sp[CHUNKS_PER_JOB];
    for (int i = 0; i < CHUNKS_PER_JOB; i++)
        sp[i] = (store_chunk_span){30.0 * i, 30.0 * (i + 1)};
    for (int j = 0; j < N_JOBS; j++) {
        char session[32];
        snprintf(session, sizeof session, "session-%02d", j);
        scratch_session(st, session);
        store_job_new jn = {.session_id = session};
        OK(store_job_create(st, &jn, job_ids[j], 37, &E));
        /* Chaos can kill a chunk's worker several times, and under load (ASan, two
         * cores) a 1 s lease can lapse while a worker waits for the write lock: a
         * stale holder's completion is refused, so the chunk is claimed again.  10
         * tries keep it alive. */
        OK(store_chunks_create(st, job_ids[j], sp, CHUNKS_PER_JOB, 600.0, 10, NULL, &E));
    }
    store_close(st); /* no connection of ours across fork() or the restart */

    pid_t pids[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++)
        pids[i] = spawn(i);

    int kills = 0, restarted_pg = 0, alive = N_WORKERS, failed_workers = 0;
    double t0 = now_s(), next_kill = t0 + 0.2;
    srand((unsigned)getpid());
    while (alive > 0) {
        int status = 0;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < N_WORKERS; i++) {
                if (pids[i] != p)
                    continue;
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && chaos) {
                    pids[i] = spawn(i); /* a killed worker is replaced */
                } else {
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        failed_workers++;
                        fprintf(stderr, "worker %d ended with status 0x%x\n", i, status);
                    }
                    pids[i] = -1;
                    alive--;
                }
            }
            continue;
        }
        if (chaos && kills < 12 && now_s() >= next_kill) {
            int i = rand() % N_WORKERS;
            if (pids[i] > 0 && kill(pids[i], SIGKILL) == 0)
                kills++;
            next_kill = now_s() + 0.05 + (rand() % 250) / 1000.0;
        }
        if (chaos && strcmp(kind, "pg") == 0 && !restarted_pg && now_s() - t0 > 0.6) {
            restarted_pg = 1;
            fprintf(stderr, "restarting PostgreSQL: %s\n", restart);
            CHECK(system(restart) == 0);
        }
        sleep_ms(5);
    }
    fprintf(stderr, "%s %s: %.1f s, %d kills, pg restarted: %d\n", kind, chaos ? "chaos" : "plain",
            now_s() - t0, kills, restarted_pg);
    CHECK_INT_EQ(failed_workers, 0);
    if (chaos)
        CHECK(kills > 0);

    /* The database: every job done, counts exact. */
    st = scratch_open(&db, NULL);
    static store_chunk chunks[CHUNKS_PER_JOB];
    int total_completed = 0;
    for (int j = 0; j < N_JOBS; j++) {
        store_job job;
        OK(store_job_get(st, job_ids[j], &job, &E));
        cr_err e = {0};
        CHECK_MSG(store_job_check(&job, &e) == CR_OK, "%s", cr_err_msg(&e));
        CHECK_STR_EQ(job.status, "done");
        CHECK_INT_EQ(job.total_chunks, CHUNKS_PER_JOB);
        CHECK_INT_EQ(job.completed_chunks, CHUNKS_PER_JOB);
        CHECK_INT_EQ(job.progress_pct, 100);
        int n = 0;
        OK(store_chunks_of_job(st, job_ids[j], chunks, CHUNKS_PER_JOB, &n, &E));
        CHECK_INT_EQ(n, CHUNKS_PER_JOB);
        for (int i = 0; i < n; i++)
            total_completed += strcmp(chunks[i].status, "completed") == 0;
    }
    CHECK_INT_EQ(total_completed, N_JOBS * CHUNKS_PER_JOB);
    store_depth d;
    OK(store_queue_depth(st, &d, &E));
    CHECK_INT_EQ(d.queued_chunks + d.processing_chunks + d.jobs_queued + d.jobs_running, 0);
    store_close(st);

    /* The side file: no completion or outcome ever recorded twice. */
    static tally cl[N_JOBS * CHUNKS_PER_JOB + 8], al[N_JOBS + 8];
    int nc = 0, ng = 0, na = 0, nl = 0, reaped = 0, dup_c = 0, dup_a = 0;
    FILE *f = fopen(side_path, "r");
    CHECK(f != NULL);
    char line[128];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'C')
            dup_c += tally_add(cl, &nc, N_JOBS * CHUNKS_PER_JOB + 8, line + 2) != 1;
        else if (line[0] == 'G')
            ng++;
        else if (line[0] == 'L')
            nl++;
        else if (line[0] == 'R')
            reaped += atoi(line + 2);
        else if (line[0] == 'A')
            dup_a += tally_add(al, &na, N_JOBS + 8, line + 2) != 1;
    }
    if (f != NULL)
        fclose(f);
    CHECK_INT_EQ(dup_c, 0);
    CHECK_INT_EQ(dup_a, 0);
    fprintf(stderr,
            "side file: %d chunk completions, %d aggregation claims, %d finishes, %d stale "
            "finishes refused, %d aggregation leases reaped\n",
            nc, ng, na, nl, reaped);
    if (!chaos) {
        CHECK_INT_EQ(nc, N_JOBS * CHUNKS_PER_JOB);
        CHECK_INT_EQ(na, N_JOBS);
        /* A job is claimed again only after its lease was reaped, and that claim's
         * finish is then refused: the stale claimant changed nothing. */
        CHECK_INT_EQ(ng, N_JOBS + reaped);
        CHECK_INT_EQ(nl, reaped);
    } else {
        /* At most one line lost per kill (killed between commit and write). */
        /* ... or per worker whose reply was cut by the server restart. */
        int slack = kills + (restarted_pg ? N_WORKERS : 0);
        CHECK(nc >= N_JOBS * CHUNKS_PER_JOB - slack);
        CHECK(na >= N_JOBS - slack);
    }
    unlink(side_path);
    scratch_drop(&db);
    return check_exit();
}
