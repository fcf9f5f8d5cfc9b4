/*
 * store_pg.c -- the PostgreSQL driver of the store (libpq).
 *
 * One connection per store.  Statements with a slot are prepared on the server the
 * first time they run on a connection and executed by name afterwards (saves the
 * parse and plan of the claim query on every cycle).  Parameters travel as text.
 *
 * Connection loss (server restart, network): the failing call returns CR_ERR_DB
 * ("connection lost"); the next call resets the connection (PQreset), forgets the
 * prepared statements and goes on.  Inside a transaction there is no silent
 * reconnect: the transaction is gone, so every call fails until the caller rolls
 * back.  A server that is down makes each call fail fast with CR_ERR_DB; nothing
 * here sleeps or retries on its own -- workers pause and call again.
 */
#include "store/store_int.h"

#include "core/mem.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pg_ctx {
    char *target;
    PGconn *conn;
    int in_tx;
    unsigned char prepared[Q_COUNT_ + 64];
} pg_ctx;

/* Drops server notices ("relation ... already exists, skipping"): they are not errors
 * and would interleave with crease's own log lines. */
static void pg_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Copies a libpq message into err without its trailing newline. */
static cr_status pg_fail(cr_err *err, cr_status code, const char *what, const char *msg)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%s", msg != NULL ? msg : "");
    /* libpq's messages span lines ("...refused\n\tIs the server running..."): fold
     * them into one, as every crease error is one line. */
    size_t w = 0;
    for (size_t r = 0; buf[r] != '\0'; r++) {
        char ch = (buf[r] == '\n' || buf[r] == '\t' || buf[r] == '\r') ? ' ' : buf[r];
        if (ch == ' ' && (w == 0 || buf[w - 1] == ' '))
            continue;
        buf[w++] = ch;
    }
    while (w > 0 && buf[w - 1] == ' ')
        w--;
    buf[w] = '\0';
    return cr_err_set(err, code, "postgres: %s: %s", what, buf);
}

static cr_status pg_connect(pg_ctx *c, cr_err *err)
{
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
        return CR_OK;
    if (c->in_tx)
        return cr_err_set(err, CR_ERR_DB,
                          "postgres: connection lost inside a transaction (rolled back)");
    memset(c->prepared, 0, sizeof c->prepared);
    if (c->conn != NULL) {
        PQreset(c->conn);
    } else {
        /* connect_timeout 10 s: a server that does not answer is an error, not a hang. */
        const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
        const char *vals[] = {c->target, "10", "crease", NULL};
        c->conn = PQconnectdbParams(keys, vals, 1);
        if (c->conn == NULL)
            return cr_err_set(err, CR_ERR_NOMEM, "postgres: out of memory connecting");
    }
    if (PQstatus(c->conn) != CONNECTION_OK)
        return pg_fail(err, CR_ERR_DB, "cannot connect", PQerrorMessage(c->conn));
    PQsetNoticeProcessor(c->conn, pg_notice, NULL);
    return CR_OK;
}

static cr_status pg_open(const char *target, const store_options *opts, void **ctx, cr_err *err)
{
    (void)opts;
    pg_ctx *c = cr_calloc(1, sizeof *c);
    if (c == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "postgres: out of memory");
    c->target = cr_strdup(target);
    if (c->target == NULL) {
        cr_free(c);
        return cr_err_set(err, CR_ERR_NOMEM, "postgres: out of memory");
    }
    cr_status s = pg_connect(c, err);
    if (s != CR_OK) {
        if (c->conn != NULL)
            PQfinish(c->conn);
        cr_free(c->target);
        cr_free(c);
        return s;
    }
    *ctx = c;
    return CR_OK;
}

static void pg_close(void *ctx)
{
    pg_ctx *c = ctx;
    if (c == NULL)
        return;
    if (c->conn != NULL)
        PQfinish(c->conn);
    cr_free(c->target);
    cr_free(c);
}

/* Turns a finished PGresult into rows or an error. */
static cr_status pg_result(pg_ctx *c, PGresult *r, store_rows *out, cr_err *err)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        cr_status code = CR_ERR_DB;
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *what = "statement failed";
        if (PQstatus(c->conn) != CONNECTION_OK) {
            what = "connection lost";
            memset(c->prepared, 0, sizeof c->prepared);
        } else if (state != NULL && strcmp(state, "23505") == 0) {
            code = CR_ERR_CONFLICT; /* unique_violation */
        }
        cr_status s =
            pg_fail(err, code, what, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c->conn));
        PQclear(r);
        return s;
    }
    if (out != NULL) {
        int nr = PQntuples(r), nc = PQnfields(r);
        out->nrows = 0;
        out->ncols = nc;
        out->cells = NULL;
        const char *ct = PQcmdTuples(r);
        out->changes = (ct != NULL && *ct != '\0') ? atol(ct) : nr;
        if (nr > 0 && nc > 0) {
            out->cells = cr_calloc((size_t)nr * (size_t)nc, sizeof(char *));
            if (out->cells == NULL) {
                PQclear(r);
                return cr_err_set(err, CR_ERR_NOMEM, "postgres: out of memory");
            }
            out->nrows = nr;
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < nc; j++) {
                    if (PQgetisnull(r, i, j))
                        continue;
                    char *v = cr_strdup(PQgetvalue(r, i, j));
                    if (v == NULL) {
                        PQclear(r);
                        store_rows_free(out);
                        return cr_err_set(err, CR_ERR_NOMEM, "postgres: out of memory");
                    }
                    out->cells[(size_t)i * (size_t)nc + (size_t)j] = v;
                }
        }
    }
    PQclear(r);
    return CR_OK;
}

#define PG_MAX_PARAMS 16

static cr_status pg_exec(void *ctx, int slot, const char *sql, const store_val *params, int nparams,
                         store_rows *out, cr_err *err)
{
    pg_ctx *c = ctx;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (nparams > PG_MAX_PARAMS)
        return cr_err_set(err, CR_ERR_INTERNAL, "postgres: too many parameters");
    cr_status s = pg_connect(c, err);
    if (s != CR_OK)
        return s;
    char num[PG_MAX_PARAMS][40];
    const char *vals[PG_MAX_PARAMS];
    for (int i = 0; i < nparams; i++) {
        switch (params[i].kind) {
        case SV_NULL:
            vals[i] = NULL;
            break;
        case SV_INT:
            snprintf(num[i], sizeof num[i], "%lld", params[i].i);
            vals[i] = num[i];
            break;
        case SV_FLOAT:
            snprintf(num[i], sizeof num[i], "%.17g", params[i].f);
            vals[i] = num[i];
            break;
        case SV_TEXT:
            vals[i] = params[i].s;
            break;
        }
    }
    PGresult *r;
    if (slot >= 0 && slot < (int)sizeof c->prepared) {
        char name[32];
        snprintf(name, sizeof name, "crease_q%d", slot);
        if (!c->prepared[slot]) {
            PGresult *p = PQprepare(c->conn, name, sql, nparams, NULL);
            s = pg_result(c, p, NULL, err);
            if (s != CR_OK)
                return s;
            c->prepared[slot] = 1;
        }
        r = PQexecPrepared(c->conn, name, nparams, vals, NULL, NULL, 0);
    } else {
        r = PQexecParams(c->conn, sql, nparams, NULL, vals, NULL, NULL, 0);
    }
    if (r == NULL)
        return pg_fail(err, CR_ERR_DB, "connection lost", PQerrorMessage(c->conn));
    return pg_result(c, r, out, err);
}

static cr_status pg_exec_script(void *ctx, const char *sql, cr_err *err)
{
    pg_ctx *c = ctx;
    cr_status s = pg_connect(c, err);
    if (s != CR_OK)
        return s;
    PGresult *r = PQexec(c->conn, sql);
    if (r == NULL)
        return pg_fail(err, CR_ERR_DB, "connection lost", PQerrorMessage(c->conn));
    return pg_result(c, r, NULL, err);
}

static cr_status pg_begin(void *ctx, cr_err *err)
{
    pg_ctx *c = ctx;
    cr_status s = pg_exec_script(c, "BEGIN", err);
    if (s == CR_OK)
        c->in_tx = 1;
    return s;
}

static cr_status pg_commit(void *ctx, cr_err *err)
{
    pg_ctx *c = ctx;
    cr_status s = CR_OK;
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK) {
        PGresult *r = PQexec(c->conn, "COMMIT");
        s = r != NULL ? pg_result(c, r, NULL, err)
                      : pg_fail(err, CR_ERR_DB, "connection lost", PQerrorMessage(c->conn));
    } else {
        s = cr_err_set(err, CR_ERR_DB, "postgres: connection lost before commit");
    }
    c->in_tx = 0;
    return s;
}

static void pg_rollback(void *ctx)
{
    pg_ctx *c = ctx;
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
        PQclear(PQexec(c->conn, "ROLLBACK"));
    c->in_tx = 0;
}

const store_driver store_driver_pg = {
    .api_version = STORE_DRIVER_API,
    .name = "postgres",
    .dialect = STORE_DIALECT_PG,
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
};
