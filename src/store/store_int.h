/*
 * store_int.h -- the store's private parts: the database driver vtable and the
 * SQL dialect tables.  Not for use outside src/store.
 *
 * The queue logic (queue.c) and the migration runner (migrate.c) are written once
 * over this small driver interface; store_pg.c (libpq) and store_sqlite.c (SQLite)
 * implement it.  Statements differ per dialect only in their SQL text, which lives
 * in store_sql.c (queue) and migrations.c (schema), indexed by the same ids.
 *
 * Parameters are typed values; results come back as text cells (NULL for SQL NULL),
 * the form libpq gives, converted by the SQLite driver.  Booleans are 0/1,
 * timestamps are seconds since the Unix epoch (UTC) as decimal text.
 */
#ifndef CR_STORE_STORE_INT_H
#define CR_STORE_STORE_INT_H

#include "store/store.h"

#define STORE_DRIVER_API 1

typedef enum store_dialect { STORE_DIALECT_PG = 0, STORE_DIALECT_SQLITE = 1 } store_dialect;

typedef enum store_val_kind {
    SV_NULL = 0,
    SV_INT = 1,
    SV_FLOAT = 2,
    SV_TEXT = 3,
} store_val_kind;

typedef struct store_val {
    store_val_kind kind;
    long long i;
    double f;
    const char *s;
} store_val;

#define SVI(x) ((store_val){SV_INT, (long long)(x), 0.0, NULL})
#define SVF(x) ((store_val){SV_FLOAT, 0, (double)(x), NULL})
#define SVT(x) ((store_val){(x) != NULL ? SV_TEXT : SV_NULL, 0, 0.0, (x)})

/* A result: nrows x ncols text cells (row-major); a cell is NULL for SQL NULL.
 * `changes` is the number of rows a write statement touched. */
typedef struct store_rows {
    int nrows, ncols;
    char **cells;
    long changes;
} store_rows;

void store_rows_free(store_rows *r); /* frees the cells, leaves an empty result */
const char *store_cell(const store_rows *r, int row, int col);

/* The driver vtable (one per backend).  `slot` >= 0 names a statement the driver may
 * prepare once and reuse (PostgreSQL server-side prepared statements, SQLite
 * sqlite3_stmt cache); -1 runs the text once.  Every function returns a cr_status
 * with detail in err; a connection lost during the call is CR_ERR_DB and the driver
 * reconnects on its next call. */
typedef struct store_driver {
    int api_version; /* STORE_DRIVER_API */
    const char *name;
    store_dialect dialect;
    cr_status (*open)(const char *target, const store_options *opts, void **ctx, cr_err *err);
    void (*close)(void *ctx);
    /* A write transaction (PostgreSQL: BEGIN; SQLite: BEGIN IMMEDIATE). */
    cr_status (*begin)(void *ctx, cr_err *err);
    cr_status (*commit)(void *ctx, cr_err *err);
    void (*rollback)(void *ctx); /* best effort; never fails the caller */
    /* Runs one statement.  `out` may be NULL (results dropped). */
    cr_status (*exec)(void *ctx, int slot, const char *sql, const store_val *params, int nparams,
                      store_rows *out, cr_err *err);
    /* Runs a script of several statements without parameters (migrations). */
    cr_status (*exec_script)(void *ctx, const char *sql, cr_err *err);
} store_driver;

extern const store_driver store_driver_pg;
extern const store_driver store_driver_sqlite;

struct store {
    const store_driver *drv;
    void *ctx;
    store_options opts;
};

/* Statement slots of the queue (store_sql.c holds their text per dialect). */
typedef enum store_stmt {
    Q_JOB_INSERT,
    Q_JOB_GET,
    Q_JOB_LIST,
    Q_JOB_LIST_STATUS,
    Q_JOB_RESULTS,
    Q_JOB_LOCK,
    Q_CHUNK_COUNT,
    Q_CHUNK_INSERT,
    Q_JOB_SET_QUEUED,
    Q_CLAIM,
    Q_HEARTBEAT,
    Q_COMPLETE,
    Q_COMPLETE_JOB,
    Q_CHUNK_LOCK,
    Q_CHUNK_REQUEUE,
    Q_CHUNK_FAILED,
    Q_JOB_FAIL,
    Q_RELEASE,
    Q_CHUNKS_OF_JOB,
    Q_REAP_CHUNKS,
    Q_REAP_JOBS,
    Q_AGG_CLAIM_ID,
    Q_AGG_CLAIM_ANY,
    Q_JOB_HEARTBEAT,
    Q_JOB_DONE,
    Q_JOB_FAILED,
    Q_RETRY_CHUNKS,
    Q_RETRY_JOB,
    Q_DEPTH,
    Q_CHUNK_STATE,
    Q_JOB_EXISTS,
    Q_JOB_LIST_SESSION,
    Q_JOB_LIST_OWNER,
    Q_JOB_FIX_CHUNK_SECONDS,
    Q_VIDEO_KEY_IN_USE,
    Q_SESSION_INSERT,
    Q_SESSION_GET,
    Q_SESSION_LIST,
    Q_SESSION_LIST_JOBS,
    Q_SESSION_JOBS,
    Q_SESSION_SET_UPLOAD,
    Q_SESSION_FOLLOW,
    Q_COUNT_ /* number of statements */
} store_stmt;

/* Helpers shared by the store's files (queue.c defines them). */
cr_status store_run(store *st, store_stmt q, const store_val *p, int n, store_rows *out,
                    cr_err *err);                                   /* one statement */
cr_status store_need(const char *v, const char *what, cr_err *err); /* a required id */
int store_cell_int(const store_rows *r, int row, int col, int dflt);
double store_cell_double(const store_rows *r, int row, int col); /* NULL -> 0 */
int64_t store_cell_i64(const store_rows *r, int row, int col);   /* NULL -> 0 */
void store_cell_copy(char *dst, size_t cap, const store_rows *r, int row, int col);

/* SQL text of statement `q` in `d`. */
const char *store_sql(store_dialect d, store_stmt q);

/* Milliseconds of wall-clock time for jitter seeding and busy waits. */
double store_now_ms(void);

#endif
