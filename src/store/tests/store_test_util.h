/*
 * store_test_util.h -- scratch databases for the store's tests.
 *
 * Each test gets its own database so tests never collide, in parallel or with a
 * previous run: on PostgreSQL a fresh database created through
 * CREASE_TEST_PG_ADMIN_URL (named after the test and the pid) and dropped at the
 * end; on SQLite a file in a fresh temporary folder.  A missing PostgreSQL is a
 * skip (or a failure when CREASE_TEST_REQUIRE_SERVICES=1).
 */
#ifndef CR_STORE_TEST_UTIL_H
#define CR_STORE_TEST_UTIL_H

#include "check.h"
#include "core/mem.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct scratch_db {
    cr_store_kind kind;
    char target[1024]; /* libpq URI or file path */
    char name[128];    /* PostgreSQL database name */
    char dir[256];     /* SQLite temp folder */
} scratch_db;

static void scratch_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int scratch_admin_exec(const char *sql)
{
    const char *admin = getenv("CREASE_TEST_PG_ADMIN_URL");
    PGconn *c = PQconnectdb(admin);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(c, scratch_quiet, NULL);
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "admin: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "admin connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

/* kind_name: "pg" or "sqlite". */
static void scratch_create(scratch_db *db, const char *kind_name, const char *tag)
{
    memset(db, 0, sizeof *db);
    if (strcmp(kind_name, "pg") == 0) {
        const char *url = getenv("CREASE_TEST_PG_URL");
        const char *admin = getenv("CREASE_TEST_PG_ADMIN_URL");
        if (url == NULL || *url == '\0' || admin == NULL || *admin == '\0')
            SKIP_OR_FAIL("CREASE_TEST_PG_URL / CREASE_TEST_PG_ADMIN_URL not set: no PostgreSQL");
        db->kind = CR_STORE_POSTGRES;
        snprintf(db->name, sizeof db->name, "crease_store_%s_%ld", tag, (long)getpid());
        char sql[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
        scratch_admin_exec(sql);
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
        if (!scratch_admin_exec(sql))
            SKIP_OR_FAIL("cannot create scratch database %s", db->name);
        /* Same server and user as CREASE_TEST_PG_URL, other database. */
        const char *slash = strrchr(url, '/');
        const char *q = strchr(url, '?');
        int base = (int)(slash - url);
        snprintf(db->target, sizeof db->target, "%.*s/%s%s", base, url, db->name, q ? q : "");
    } else {
        db->kind = CR_STORE_SQLITE;
        snprintf(db->dir, sizeof db->dir, "/tmp/crease-store-%s-XXXXXX", tag);
        if (mkdtemp(db->dir) == NULL) {
            perror("mkdtemp");
            exit(1);
        }
        snprintf(db->target, sizeof db->target, "%s/crease.db", db->dir);
    }
}

static void scratch_drop(scratch_db *db)
{
    if (db->kind == CR_STORE_POSTGRES) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
        scratch_admin_exec(sql);
    } else {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", db->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", db->dir);
    }
}

static store *scratch_open(const scratch_db *db, const store_options *opts)
{
    store *st = NULL;
    cr_err err = {0};
    if (store_open_target(db->kind, db->target, opts, &st, &err) != CR_OK) {
        fprintf(stderr, "store_open_target: %s\n", cr_err_msg(&err));
        exit(1);
    }
    return st;
}

/* Makes sure session `id` exists (owned by coach-test): a job needs its session. */
static inline void scratch_session(store *st, const char *id)
{
    store_session_new sn = {.id = id, .owner_id = "coach-test", .title = "Nets"};
    char out[37];
    cr_err e = {0};
    cr_status s = store_session_create(st, &sn, out, sizeof out, &e);
    if (s != CR_OK && s != CR_ERR_CONFLICT) {
        fprintf(stderr, "store_session_create %s: %s\n", id, cr_err_msg(&e));
        exit(1);
    }
}

/* Finishes a job held by `worker` under `token`: done (results may be NULL) or failed
 * with `message`. */
static inline cr_status scratch_finish(store *st, const char *job, const char *worker,
                                       int64_t token, int ok, const char *results,
                                       const char *message, cr_err *err)
{
    store_job_outcome o = {.ok = ok, .deep_results = results, .message = message};
    return store_job_finish(st, job, worker, token, &o, err);
}

/* The error buffer of the call under test; OK(call) checks it returned CR_OK. */
static cr_err E;
#define OK(call)                                                                                   \
    do {                                                                                           \
        cr_err_clear(&E);                                                                          \
        cr_status s_ = (call);                                                                     \
        CHECK_MSG(s_ == CR_OK, "%s -> %s: %s", #call, cr_status_str(s_), cr_err_msg(&E));          \
    } while (0)

#endif
