/*
 * store_sqlite.c -- the SQLite driver of the store (the embedded default).
 *
 * One connection per store, in WAL mode (readers never block the writer) with
 * synchronous=NORMAL (durable at checkpoints; a power cut can lose the last
 * transactions but never corrupts -- SQLite's wal.html) and foreign keys on, so
 * ON DELETE CASCADE works as in PostgreSQL.  Write transactions are BEGIN
 * IMMEDIATE: the write lock is taken first, so two writers never deadlock on a lock
 * upgrade; a single write statement takes it at its start.  Lock waits go through
 * a busy handler that sleeps 0.1-1 ms at a time (randomised, so waiting processes
 * do not wake in lockstep) up to busy_timeout_ms -- SQLite's own handler sleeps up
 * to 100 ms per try, which starves a queue with 16 workers.
 *
 * Prepared statements are cached per slot for the life of the connection.
 * Results are converted to text cells (REAL as %.17g so epoch times keep their
 * milliseconds).
 */
#include "store/store_int.h"

#include "core/mem.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>

typedef struct sq_ctx {
    sqlite3 *db;
    sqlite3_stmt *stmts[Q_COUNT_ + 64];
    int busy_timeout_ms;
    double busy_start_ms;
    unsigned rng;
} sq_ctx;

static int sq_busy(void *arg, int count)
{
    sq_ctx *c = arg;
    double now = store_now_ms();
    if (count == 0)
        c->busy_start_ms = now;
    if (now - c->busy_start_ms > c->busy_timeout_ms)
        return 0;
    c->rng = c->rng * 1103515245u + 12345u;
    long us = 100 + (long)((c->rng >> 8) % (count < 10 ? 400u : 900u));
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* mkdir -p of the folder holding `path`. */
static cr_status sq_make_parent(const char *path, cr_err *err)
{
    char dir[1024];
    if (strlen(path) >= sizeof dir)
        return cr_err_set(err, CR_ERR_INVALID, "sqlite: path too long");
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return CR_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return cr_err_set(err, CR_ERR_IO, "sqlite: mkdir %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cr_err_set(err, CR_ERR_IO, "sqlite: mkdir %s: %s", dir, strerror(errno));
    return CR_OK;
}

static cr_status sq_open(const char *target, const store_options *opts, void **ctx, cr_err *err)
{
    cr_status s = sq_make_parent(target, err);
    if (s != CR_OK)
        return s;
    sq_ctx *c = cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "sqlite: out of memory");
    /* 30 s: longer than any write transaction of the queue by orders of magnitude. */
    c->busy_timeout_ms =
        (opts != NULL && opts->busy_timeout_ms > 0) ? opts->busy_timeout_ms : 30000;
    c->rng = (unsigned)store_now_ms() ^ (unsigned)(uintptr_t)c;
    int rc = sqlite3_open_v2(
        target, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        s = cr_err_set(err, CR_ERR_DB, "sqlite: open %s: %s", target,
                       c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        cr_free(c);
        return s;
    }
    sqlite3_busy_handler(c->db, sq_busy, c);
    char *msg = NULL;
    /* Switching a new file to WAL takes an exclusive lock, and SQLite answers
     * SQLITE_BUSY at once -- without calling the busy handler -- when another
     * connection is opening the same new file at that moment.  So retry here, within
     * the same time limit as the busy handler. */
    double start = store_now_ms();
    for (;;) {
        rc = sqlite3_exec(c->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "PRAGMA foreign_keys=ON;",
                          NULL, NULL, &msg);
        int prim = rc & 0xff;
        if ((prim != SQLITE_BUSY && prim != SQLITE_LOCKED) ||
            store_now_ms() - start > c->busy_timeout_ms)
            break;
        sqlite3_free(msg);
        msg = NULL;
        sq_busy(c, 0); /* sleeps 0.1-0.5 ms */
    }
    if (rc != SQLITE_OK) {
        s = cr_err_set(err, CR_ERR_DB, "sqlite: %s: %s", target,
                       msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(c->db);
        cr_free(c);
        return s;
    }
    *ctx = c;
    return CR_OK;
}

static void sq_close(void *ctx)
{
    sq_ctx *c = ctx;
    if (c == NULL)
        return;
    for (size_t i = 0; i < sizeof c->stmts / sizeof c->stmts[0]; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    cr_free(c);
}

static cr_status sq_error(sq_ctx *c, int rc, cr_err *err)
{
    int prim = rc & 0xff;
    cr_status code = CR_ERR_DB;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        code = CR_ERR_CONFLICT;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return cr_err_set(err, CR_ERR_DB, "sqlite: database is locked (waited %d ms)",
                          c->busy_timeout_ms);
    return cr_err_set(err, code, "sqlite: %s", sqlite3_errmsg(c->db));
}

static cr_status sq_bind(sq_ctx *c, sqlite3_stmt *st, const store_val *params, int n, cr_err *err)
{
    for (int i = 0; i < n; i++) {
        int rc = SQLITE_OK;
        switch (params[i].kind) {
        case SV_NULL:
            rc = sqlite3_bind_null(st, i + 1);
            break;
        case SV_INT:
            rc = sqlite3_bind_int64(st, i + 1, params[i].i);
            break;
        case SV_FLOAT:
            rc = sqlite3_bind_double(st, i + 1, params[i].f);
            break;
        case SV_TEXT:
            rc = sqlite3_bind_text(st, i + 1, params[i].s, -1, SQLITE_STATIC);
            break;
        }
        if (rc != SQLITE_OK)
            return sq_error(c, rc, err);
    }
    return CR_OK;
}

/* Appends the current row of `st` to `out` (grown geometrically in `cap` rows). */
static cr_status sq_take_row(sqlite3_stmt *st, store_rows *out, int *cap, cr_err *err)
{
    int nc = sqlite3_column_count(st);
    if (out->nrows == *cap) {
        int ncap = *cap ? *cap * 2 : 8;
        char **cells =
            cr_realloc(out->cells, (size_t)ncap * (size_t)(nc ? nc : 1) * sizeof(char *));
        if (cells == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "sqlite: out of memory");
        out->cells = cells;
        *cap = ncap;
    }
    out->ncols = nc;
    char **row = out->cells + (size_t)out->nrows * (size_t)nc;
    for (int j = 0; j < nc; j++)
        row[j] = NULL;
    out->nrows++;
    for (int j = 0; j < nc; j++) {
        int t = sqlite3_column_type(st, j);
        if (t == SQLITE_NULL)
            continue;
        char buf[64];
        const char *v;
        if (t == SQLITE_FLOAT) {
            snprintf(buf, sizeof buf, "%.17g", sqlite3_column_double(st, j));
            v = buf;
        } else {
            v = (const char *)sqlite3_column_text(st, j);
            if (v == NULL)
                return cr_err_set(err, CR_ERR_NOMEM, "sqlite: out of memory");
        }
        row[j] = cr_strdup(v);
        if (row[j] == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "sqlite: out of memory");
    }
    return CR_OK;
}

static cr_status sq_exec(void *ctx, int slot, const char *sql, const store_val *params, int nparams,
                         store_rows *out, cr_err *err)
{
    sq_ctx *c = ctx;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    int cached = slot >= 0 && slot < (int)(sizeof c->stmts / sizeof c->stmts[0]);
    if (cached)
        st = c->stmts[slot];
    if (st == NULL) {
        int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
            return sq_error(c, rc, err);
        if (cached)
            c->stmts[slot] = st;
    }
    cr_status s = sq_bind(c, st, params, nparams, err);
    int cap = 0;
    while (s == CR_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            s = sq_error(c, rc, err);
            break;
        }
        if (out != NULL)
            s = sq_take_row(st, out, &cap, err);
    }
    if (out != NULL) {
        out->changes = sqlite3_changes(c->db);
        if (s != CR_OK)
            store_rows_free(out);
    }
    if (cached) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
    return s;
}

static cr_status sq_exec_script(void *ctx, const char *sql, cr_err *err)
{
    sq_ctx *c = ctx;
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        cr_status s;
        if ((rc & 0xff) == SQLITE_BUSY)
            s = sq_error(c, rc, err);
        else
            s = cr_err_set(err, CR_ERR_DB, "sqlite: %s", msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return s;
    }
    return CR_OK;
}

static cr_status sq_begin(void *ctx, cr_err *err)
{
    return sq_exec_script(ctx, "BEGIN IMMEDIATE", err);
}

static cr_status sq_commit(void *ctx, cr_err *err)
{
    sq_ctx *c = ctx;
    cr_status s = sq_exec_script(ctx, "COMMIT", err);
    if (s != CR_OK && !sqlite3_get_autocommit(c->db))
        sq_exec_script(ctx, "ROLLBACK", NULL);
    return s;
}

static void sq_rollback(void *ctx)
{
    sq_ctx *c = ctx;
    if (!sqlite3_get_autocommit(c->db))
        sq_exec_script(ctx, "ROLLBACK", NULL);
}

const store_driver store_driver_sqlite = {
    .api_version = STORE_DRIVER_API,
    .name = "sqlite",
    .dialect = STORE_DIALECT_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
};
