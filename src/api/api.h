/*
 * api.h -- crease's HTTP API (`crease serve`, DESIGN.md §1, §4, §5, §10).
 *
 * A libmicrohttpd daemon (one thread per connection) serving the routes of one table
 * (api_routes in routes.c, each with its method, OpenAPI path template and auth;
 * GET /openapi.json documents every one of them, and a test holds the two to each
 * other):
 *
 *   GET  /health                                   {"status":"ok"}; 503 when the database
 *                                                  cannot be reached (Cricksy's shape)
 *   GET  /healthz                                  200 while the process runs
 *   GET  /readyz                                   200 when the database (at the current
 *                                                  schema) and the blob store answer;
 *                                                  503 {"status","reason"} otherwise
 *   GET  /metrics                                  Prometheus text (metrics.c): database-
 *                                                  derived gauges (crease_chunks_queued,
 *                                                  the autoscaling signal, jobs by status,
 *                                                  ...), GPU gauges (NVML, when present),
 *                                                  and this process's counters and
 *                                                  histograms (its embedded workers')
 *   GET  /openapi.json                             the OpenAPI 3 document
 *   GET  /, /web/app.js, /web/app.css, /web/icon.svg  the coach's web page (web.c):
 *                                                  sign in with a token, sessions and
 *                                                  jobs with live progress, upload with
 *                                                  progress, the report; files compiled
 *                                                  in, strict CSP, nosniff, ETag
 *   POST /api/coaches/plus/sessions, GET .../sessions[/{id}[/analysis-jobs]]
 *   POST /api/coaches/plus/videos/upload/initiate  {"filename"?, "analysis_mode"?} ->
 *                                                  {"job_id","session_id","upload_url",
 *                                                  "s3_key","expires_in"}: a new session and
 *                                                  a job in awaiting_upload; the presigned
 *                                                  PUT lives CREASE_UPLOAD_URL_SECONDS
 *                                                  (expires_in); every call makes a new job
 *                                                  with a key of its own: no route hands
 *                                                  out an upload URL for an existing job
 *   POST /api/coaches/plus/videos/upload/complete  {"job_id"} -> the job, queued with its
 *                                                  chunks (DEEP_QUEUED, 0 %) and its video
 *                                                  pinned (size, etag); idempotent
 *   GET  /api/coaches/plus/analysis-jobs           ?status=... -> {"jobs":[...]} (own only)
 *   GET  /api/coaches/plus/analysis-jobs/{id}      the job, its results summary and, when
 *                                                  done, presigned GET URLs of
 *                                                  final_results.json and report.html
 *   POST /api/coaches/plus/analysis-jobs/{id}/retry  store_job_retry (409 when not failed)
 *   PUT|GET /blobs/<key>?method=&expires=&sig=     the local blob backend's presigned URLs
 *                                                  (blob_presign_verify is the auth); a PUT
 *                                                  to the video of a job whose upload is
 *                                                  complete is 409
 *
 * No token: /health, /healthz, /readyz, /metrics, /openapi.json, the web page's files
 * (the page asks for the token and sends it to the API itself).
 * Auth (DESIGN.md §10): every /api route needs `Authorization: Bearer <JWT>`, HS256
 * only, signed with APP_SECRET_KEY (api_jwt_verify below); its `sub` is the coach.
 * Errors are JSON {"error": "..."}: 400 malformed body or id, 401 missing or bad token,
 * 404 unknown route or not the caller's job (never revealing that it exists), 405 (with
 * Allow),
 * 409 wrong state, 413 body too large (API_BODY_MAX; uploads CREASE_MAX_UPLOAD_BYTES), 422 the
 * upload is not a usable video, 503 database unreachable.
 *
 * Owners.  The store has no owner column (its tables are Cricksy's), so the owner of
 * a session lives in the blob store, next to the session's video:
 *   coach_plus/sessions/<session_id>/owner.json   {"owner": "<sub>", "created_at": s}
 * written at initiate, before the job exists.  Why the blob store and not a side table:
 * it works unchanged on both shapes (local folder, S3) without a second database
 * client or a schema outside the migrations, the key is built only from a validated
 * uuid, and it is read once per request (a GET of ~60 bytes).  A job whose session has
 * no owner.json (made by `crease submit` or by Cricksy) belongs to nobody and is
 * invisible through the API.  Listing reads one owner.json per distinct session among
 * the newest API_LIST_MAX jobs.
 *
 * Upload complete when the object is not a usable video: 422 with the probe's
 * message, and the job stays awaiting_upload (the store has no call that fails a job
 * outside a worker), so the client may upload again and call complete again.
 *
 * Workers: in the embedded shape (SQLite store) api_server_start also runs
 * `chunk_workers` chunk-worker threads and one analysis-worker thread (the pipeline
 * loops); api_server_stop stops them (they finish or release what they hold).
 * Schema: SQLite is migrated up at start; PostgreSQL must already be at the latest
 * version (store_check_schema; run `crease migrate up`).
 *
 * Threads: the daemon's threads share one store connection behind a mutex and one
 * blob store (thread-safe).  Errors: cr_status with detail in cr_err.
 */
#ifndef CR_API_API_H
#define CR_API_API_H

#include "core/config.h"
#include "core/metrics.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* Largest JSON request body: 64 KiB (the routes take a few short fields). */
#define API_BODY_MAX (64u * 1024)
/* Lifetime of the presigned download URLs the API hands out (results, report): 1 hour.
 * Upload URLs live cr_config.upload_url_seconds (CREASE_UPLOAD_URL_SECONDS). */
#define API_PRESIGN_S 3600
/* Newest jobs examined by a listing. */
#define API_LIST_MAX 200
/* Longest `sub` accepted in a token (bytes, + NUL). */
#define API_JWT_SUB_MAX 128
/* Longest token accepted (bytes). */
#define API_JWT_MAX 4096

/* ---- tokens (HS256 JWT, RFC 7519) ---------------------------------------------- */

/* A compact JWT {"alg":"HS256","typ":"JWT"}.{"sub":sub,"iat":iat[,"exp":exp]} signed
 * with HMAC-SHA256 under `secret`; exp <= 0 = no expiry.  *out freed with cr_free.
 * CR_ERR_INVALID for an empty secret, or a sub that is not 1..API_JWT_SUB_MAX-1 bytes
 * of UTF-8. */
cr_status api_jwt_sign(const char *secret, const char *sub, int64_t iat, int64_t exp, char **out,
                       cr_err *err);

/* Verifies `token` at time `now` (Unix seconds): three base64url parts, header alg
 * exactly "HS256" (anything else, "none" included, is refused), signature compared in
 * constant time, `exp` (if present) > now, `nbf` (if present) <= now, `sub` a string
 * of 1..API_JWT_SUB_MAX-1 bytes, copied to sub_out.  CR_ERR_AUTH with the reason
 * otherwise.  Never logs the token. */
cr_status api_jwt_verify(const char *secret, const char *token, int64_t now,
                         char sub_out[API_JWT_SUB_MAX], cr_err *err);

/* ---- the server ---------------------------------------------------------------- */

typedef struct api_options {
    const char *bind;       /* IPv4 address to listen on; NULL = "127.0.0.1" */
    int port;               /* 0 = a free port (see api_server_port) */
    int chunk_workers;      /* embedded shape: chunk-worker threads (0 = none, and then no
                               analysis worker either) */
    const char *public_url; /* base of the local backend's presigned URLs; NULL =
                               "http://<bind>:<port>" */
    uint64_t upload_max;    /* largest upload through /blobs/; 0 = the configured limit
                               (cr_config.max_upload_bytes, CREASE_MAX_UPLOAD_BYTES) */
    double jobs_per_minute; /* job creations (initiate) per token subject and minute once
                               the burst is spent; 0 = API_JOBS_PER_MINUTE, < 0 = no limit */
    double jobs_burst;      /* creations allowed at once; 0 = API_JOBS_BURST */
} api_options;

/* Connections served at once (one thread each); more wait in the listen backlog.
 * Ours: requests are short except uploads, and a thread costs its stack. */
#define API_CONNECTIONS_MAX 256
/* At most this many of them from one client address, so that a few trickling
 * clients can never hold every slot (ours: a quarter). */
#define API_CONNECTIONS_PER_CLIENT (API_CONNECTIONS_MAX / 4)
/* Seconds of silence before a connection is dropped (ours: long enough for a slow
 * phone upload's pauses, short enough that idle sockets do not pile up). */
#define API_IDLE_S 30

/* Job creation limits (ours: a coach uploads a few net sessions a day; 10 at once and
 * one every 2 s after that is far above that and far below flooding the queue). */
#define API_JOBS_PER_MINUTE 30
#define API_JOBS_BURST 10

typedef struct api_server api_server;

/* Checks cfg->app_secret_key (CR_ERR_INVALID when empty), opens the store and blob
 * store, migrates or checks the schema, listens, and starts the workers.  `cfg` is
 * copied.  On failure *out is NULL and nothing is left running. */
cr_status api_server_start(const cr_config *cfg, const api_options *opt, api_server **out,
                           cr_err *err);

/* The port listened on. */
int api_server_port(const api_server *s);

/* Stops accepting, waits for the requests in flight, stops and joins the workers,
 * frees everything.  NULL is a no-op. */
void api_server_stop(api_server *s);

/* ---- a worker's metrics port ------------------------------------------------------ */

/* `crease chunk-worker --metrics-port N` (and analysis-worker): GET /metrics (the same
 * scrape as the server's, from the process's registry, which its worker loop records
 * into through pipeline_worker_opts.metrics), /healthz and /readyz, on a listener of
 * its own (monitor.c) with its own store connection, opened when first needed. */
typedef struct api_monitor api_monitor;

typedef struct api_monitor_opts {
    const char *bind;    /* IPv4 address; NULL = "127.0.0.1" */
    int port;            /* 0 = a free port (api_monitor_port) */
    const char *role;    /* crease_build_info's role: "chunk-worker", "analysis-worker" */
    cr_metrics *metrics; /* the process's registry (kept, not owned) */
} api_monitor_opts;

/* Listens and serves until api_monitor_stop.  `cfg` is copied.  On failure *out is NULL
 * and nothing is left running. */
cr_status api_monitor_start(const cr_config *cfg, const api_monitor_opts *o, api_monitor **out,
                            cr_err *err);
int api_monitor_port(const api_monitor *m);
/* Stops listening and frees it (waits for scrapes in flight).  NULL is a no-op. */
void api_monitor_stop(api_monitor *m);

#endif
