/*
 * blob.h -- the blob store: named byte strings ("objects") under string keys,
 * on a local folder or in S3 (DESIGN.md §1, §4, §10).
 *
 * One interface, two backends:
 *   "local"  a folder (CREASE_BLOB_DIR, the embedded default).  A key is a relative
 *            path below the folder.  Writes are atomic: the bytes go to a temporary
 *            file under <dir>/.crease-tmp/ which is fsync'ed and renamed into place,
 *            so a reader sees the old object or the new one, never a torn one.
 *            Presigned URLs are paths served by `crease serve` (BLOB_LOCAL_URL_PREFIX),
 *            signed with HMAC-SHA256 under APP_SECRET_KEY; the API checks them with
 *            blob_presign_verify.
 *   "s3"     S3 over libcurl with our own AWS Signature V4 (headers and presigned
 *            query URLs).  Path-style URLs when S3_ENDPOINT_URL is set (S3-compatible
 *            servers), virtual-hosted style (https://<bucket>.s3.<region>.amazonaws.com)
 *            otherwise.  Credentials are the AWS_* fields of cr_config; instance
 *            roles are not supported.  Files from BLOB_MULTIPART_MIN bytes up go up
 *            as a multipart upload (parts of part_size >= 8 MiB; the upload is
 *            aborted when a part fails).  Requests that fail with HTTP 5xx, 429, a
 *            timeout or a dropped connection are retried with exponential backoff
 *            and jitter; 403 is CR_ERR_AUTH, 404 CR_ERR_NOT_FOUND, each with S3's
 *            own error code in the message.  Connections are reused: the store keeps
 *            a pool of curl easy handles (one per concurrently running request).
 *
 * Keys.  Every function that takes a key validates it (blob_key_check) and fails
 * with CR_ERR_INVALID before touching the backend: keys are 1..1024 bytes of valid
 * UTF-8 (1024: S3's key limit), relative ('/'-separated, no leading '/'), with no
 * empty, "." or ".." segment, no control characters or NUL, no backslash, and not
 * under ".crease-tmp/".  Keys are built by crease from validated ids (the
 * blob_key_* layout helpers below), never taken from raw client strings.
 *
 * Thread-safety: a blob_store may be used by several threads at once (the S3 pool
 * hands each running request its own handle).  A cr_reader from blob_open_reader
 * is used by one thread at a time, like every cr_reader, and must be closed before
 * its store.
 *
 * Errors: every function returns a cr_status and writes one line to `err`; failed
 * calls leave no partial object behind (local: the temporary file is removed;
 * S3: the multipart upload is aborted).  Secrets never appear in messages.
 */
#ifndef CR_BLOB_BLOB_H
#define CR_BLOB_BLOB_H

#include "core/config.h"
#include "core/reader.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct blob_store blob_store;

/* S3's limit on a key's length in bytes (AWS "Creating object key names"). */
#define BLOB_KEY_MAX 1024

/* Files of this size and larger are uploaded in parts by the S3 backend. */
#define BLOB_MULTIPART_MIN (16u * 1024 * 1024)
/* The smallest part size we use (the ">= 8 MiB"; S3 itself allows 5 MiB). */
#define BLOB_PART_MIN (8u * 1024 * 1024)

/* Local presigned URLs look like
 *   <url_base>/blobs/<key, URI-encoded>?method=GET&expires=<unix s>&sig=<64 hex>  */
#define BLOB_LOCAL_URL_PREFIX "/blobs/"

/* Longest expiry of a presigned URL: one week (S3's limit for SigV4 query auth). */
#define BLOB_PRESIGN_MAX_S 604800

/* Tuning of the network backend; zero fields take the defaults noted. */
typedef struct blob_options {
    long connect_timeout_ms; /* TCP+TLS connect, default 5000 */
    long timeout_ms;         /* no-progress timeout of one request: fails when fewer than
                                1 byte/s flow for this long, default 30000 */
    int max_retries;         /* retries after the first try, default 4; -1 = none */
    long retry_base_ms;      /* first backoff, doubled each retry (+ up to 50% jitter),
                                default 200 */
    long retry_max_ms;       /* backoff cap, default 5000 */
    size_t part_size;        /* multipart part size, default and minimum BLOB_PART_MIN */
    const char *url_base;    /* local backend: prefix of presigned URLs, e.g.
                                "http://localhost:8000"; default "" (a path) */
} blob_options;

/* What a HEAD returns. */
typedef struct blob_info {
    uint64_t size;
    int64_t mtime; /* last modified, Unix seconds (0 when unknown) */
    char etag[80]; /* S3: the ETag without quotes; local: the SHA-256 of the bytes (64
                      hex digits), or "<size hex>-<mtime ns hex>-<inode hex>" for a file
                      the store did not write (blob_local.c).  Another object under the
                      same key has another etag (unless its bytes are the same). */
} blob_info;

typedef enum blob_method { BLOB_GET = 0, BLOB_PUT = 1 } blob_method;

/* ---- opening ---- */

/* Opens the backend the configuration selects: S3 when cfg->bucket is set (with
 * cfg->region, credentials, s3_endpoint), else the folder cfg->blob_dir (created
 * if missing) with cfg->app_secret_key for presigning.  `opt` may be NULL. */
cr_status blob_open(const cr_config *cfg, const blob_options *opt, blob_store **out, cr_err *err);

/* The local backend on folder `dir` (created with its parents if missing).
 * `secret` signs presigned URLs; NULL or "" makes blob_presign fail. */
cr_status blob_open_local(const char *dir, const char *secret, const blob_options *opt,
                          blob_store **out, cr_err *err);

/* Parameters of the S3 backend (copied; need not outlive the call). */
typedef struct blob_s3_params {
    const char *bucket;
    const char *region;            /* NULL/"": us-east-1 */
    const char *endpoint;          /* NULL/"": AWS, virtual-hosted; else path-style */
    const char *access_key_id;     /* required */
    const char *secret_access_key; /* required */
    const char *session_token;     /* NULL/"": none */
} blob_s3_params;

cr_status blob_open_s3(const blob_s3_params *p, const blob_options *opt, blob_store **out,
                       cr_err *err);

/* "local" or "s3". */
const char *blob_backend_name(const blob_store *b);

/* Frees the store (and its connections).  NULL is a no-op. */
void blob_close(blob_store *b);

/* ---- objects ---- */

/* Stores `n` bytes under `key`, replacing any object there.  `content_type` may be
 * NULL (application/octet-stream). */
cr_status blob_put(blob_store *b, const char *key, const void *data, size_t n,
                   const char *content_type, cr_err *err);

/* Stores the file at `path` under `key` (S3: multipart from BLOB_MULTIPART_MIN). */
cr_status blob_put_file(blob_store *b, const char *key, const char *path, const char *content_type,
                        cr_err *err);

/* blob_put_file for a file the caller will not change afterwards: the local store keeps
 * the file itself, as a hard link, when its folder is on the same file system (no copy
 * of a video of gigabytes; the object then shares the file's contents, size and time),
 * and copies it otherwise; S3 uploads it as blob_put_file does.  *linked (may be NULL)
 * tells which happened. */
cr_status blob_put_file_shared(blob_store *b, const char *key, const char *path,
                               const char *content_type, int *linked, cr_err *err);

/* Reads the whole object into a new buffer (*data, freed with cr_free; it has one
 * extra NUL byte after the *n bytes, so text can be used as a C string). */
cr_status blob_get(blob_store *b, const char *key, void **data /* OUT */, size_t *n /* OUT */,
                   cr_err *err);

/* Reads up to `n` bytes at `off` into `buf`.  *got < n only at the end of the object
 * (*got == 0 at or past the end). */
cr_status blob_get_range(blob_store *b, const char *key, uint64_t off, void *buf, size_t n,
                         size_t *got /* OUT */, cr_err *err);

/* Writes the object to the file `path` (atomically: temp file + rename). */
cr_status blob_get_file(blob_store *b, const char *key, const char *path, cr_err *err);

/* Size, mtime and etag of an object; CR_ERR_NOT_FOUND when there is none. */
cr_status blob_head(blob_store *b, const char *key, blob_info *out /* OUT */, cr_err *err);

/* Removes the object.  Removing a missing key succeeds (as in S3). */
cr_status blob_delete(blob_store *b, const char *key, cr_err *err);

/* Called once per key, in byte-wise ascending key order; return non-zero to stop. */
typedef int (*blob_list_fn)(void *ctx, const char *key, const blob_info *info);

/* Lists the objects whose key starts with `prefix` (a plain string prefix, not a
 * folder: "a/b" matches "a/b/c" and "a/bc"; "" lists everything).  The prefix is
 * checked like a key, except that it may be empty or end with '/' or inside a
 * segment. */
cr_status blob_list(blob_store *b, const char *prefix, blob_list_fn fn, void *ctx, cr_err *err);

/* A URL through which anyone may GET or PUT the object for `expires_s` seconds
 * (1..BLOB_PRESIGN_MAX_S).  *url is freed with cr_free.  S3: SigV4 query auth,
 * UNSIGNED-PAYLOAD; local: BLOB_LOCAL_URL_PREFIX path with an HMAC (needs the
 * secret). */
cr_status blob_presign(blob_store *b, const char *key, blob_method m, int64_t expires_s,
                       char **url /* OUT */, cr_err *err);

/* As blob_presign, as if the time were `now` (Unix seconds); for tests and tools. */
cr_status blob_presign_at(blob_store *b, const char *key, blob_method m, int64_t expires_s,
                          int64_t now, char **url /* OUT */, cr_err *err);

/* Checks a local presigned URL's parts, as `crease serve` receives them: `key` (URI-
 * decoded path after BLOB_LOCAL_URL_PREFIX), the request's method, and the query
 * values `method`, `expires` and `sig` (each NULL when absent).  CR_OK when the
 * signature matches `secret` (constant-time compare), the query's method equals
 * `m`, and now <= expires; CR_ERR_AUTH otherwise ("expired", "bad signature", ...);
 * CR_ERR_INVALID for a bad key. */
cr_status blob_presign_verify(const char *secret, const char *key, blob_method m,
                              const char *q_method, const char *q_expires, const char *q_sig,
                              int64_t now, cr_err *err);

/* ---- reading for FFmpeg ---- */

/* Counters a blob reader updates (what went over the wire, not what the consumer
 * read: cr_reader_bytes_read counts that). */
typedef struct blob_reader_stats {
    uint64_t bytes_fetched; /* bytes received from the backend */
    uint64_t requests;      /* range requests made */
} blob_reader_stats;

/* Default and bounds of the read-ahead window.  FFmpeg's AVIO reads are 32 KiB
 * (IO_BUFFER_SIZE in libavformat/aviobuf.c); BLOB_READ_WINDOW_MIN is two of them, and
 * the 1 MiB default turns 32 sequential reads into one request. */
#define BLOB_READ_WINDOW_DEFAULT (1u << 20)
#define BLOB_READ_WINDOW_MIN (64u << 10)
#define BLOB_READ_WINDOW_MAX (64u << 20)

/* Opens a cr_reader over the object `key` (one HEAD for its size, then ranged GETs).
 * A read inside the last fetched range is served from memory.  A read outside it
 * fetches [off, off + max(n, w)): w is BLOB_READ_WINDOW_MIN after a seek and doubles,
 * up to `window`, while reads go on where the last fetch ended (so probing and
 * seeking cost small requests, sequential demuxing few large ones).  `window` 0 =
 * BLOB_READ_WINDOW_DEFAULT, else clamped to [BLOB_READ_WINDOW_MIN,
 * BLOB_READ_WINDOW_MAX].  `stats` (may be NULL) is updated while the reader lives
 * and must outlive it.  The reader borrows `b`: close the reader first. */
cr_status blob_open_reader(blob_store *b, const char *key, size_t window, blob_reader_stats *stats,
                           cr_reader **out, cr_err *err);

/* As blob_open_reader, but only over the object `pin` describes (its size and etag, as
 * blob_head gave them when it was checked): CR_ERR_CHANGED, naming both, when the
 * object under `key` is another one now, and every later read fails with
 * CR_ERR_CHANGED, reading nothing, once the object is replaced -- the check rides on
 * each read (S3: the ranged GET carries If-Match and the ETag of its answer is
 * compared too, for servers that ignore If-Match; local: the tag is read from the
 * descriptor the bytes are read from).  So the bytes a pinned reader returns are
 * always the pinned object's.  CR_ERR_INVALID when pin->etag is empty. */
cr_status blob_open_reader_pinned(blob_store *b, const char *key, const blob_info *pin,
                                  size_t window, blob_reader_stats *stats, cr_reader **out,
                                  cr_err *err);

/* ---- keys ---- */

/* CR_OK when key[0..len) is a valid key (see the top comment); CR_ERR_INVALID with
 * the reason otherwise.  Takes a length so that keys with embedded NULs (from HTTP)
 * are rejected too. */
cr_status blob_key_check(const char *key, size_t len, cr_err *err);

/* True when `id` is a safe id for a key segment: 1..128 of [A-Za-z0-9_-] (uuids,
 * integers).  The layout helpers accept nothing else. */
int blob_id_valid(const char *id);

/* The key layout of DESIGN.md §4 (compat: Cricksy's S3 layout, never change):
 *   coach_plus/sessions/<session_id>/original.mp4
 *   coach_plus/sessions/<session_id>/analysis/jobs/<job_id>/chunks/chunk_%04d.json
 *   coach_plus/sessions/<session_id>/analysis/jobs/<job_id>/final_results.json
 *   coach_plus/sessions/<session_id>/analysis/jobs/<job_id>/report.html
 * Each writes a NUL-terminated key into out[cap]; CR_ERR_INVALID for an id that
 * fails blob_id_valid or a chunk index outside 0..9999, CR_ERR_LIMIT when cap is too
 * small. */
cr_status blob_key_original(const char *session_id, char *out, size_t cap, cr_err *err);
/* The video of a later job of a session (a session's first job uses
 * blob_key_original; each later one gets its own, so an upload never replaces a
 * video another job analysed):
 *   coach_plus/sessions/<session_id>/analysis/jobs/<job_id>/original.mp4 */
cr_status blob_key_job_original(const char *session_id, const char *job_id, char *out, size_t cap,
                                cr_err *err);
cr_status blob_key_chunk(const char *session_id, const char *job_id, int chunk_index, char *out,
                         size_t cap, cr_err *err);
/* The key of one claim's chunk artifact:
 *   .../analysis/jobs/<job_id>/chunks/chunk_%04d_t<token>.json
 * where token (>= 1) is the claim's fencing token (store.h).  Each claim writes its
 * own file and the chunk row records the one whose completion was accepted, so a
 * worker that lost its lease never overwrites what the analysis reads.  blob_key_chunk
 * stays for artifacts written before, and by Cricksy's workers.  CR_ERR_INVALID for
 * a token < 1, else as blob_key_chunk. */
cr_status blob_key_chunk_lease(const char *session_id, const char *job_id, int chunk_index,
                               int64_t token, char *out, size_t cap, cr_err *err);
cr_status blob_key_final_results(const char *session_id, const char *job_id, char *out, size_t cap,
                                 cr_err *err);
cr_status blob_key_report(const char *session_id, const char *job_id, char *out, size_t cap,
                          cr_err *err);
/* The common prefix of a job's artifacts: ".../analysis/jobs/<job_id>/" */
cr_status blob_key_job_prefix(const char *session_id, const char *job_id, char *out, size_t cap,
                              cr_err *err);

/* ---- AWS Signature Version 4 for other AWS services (sigv4.c) ----
 *
 * The S3 client's signer, for the other AWS APIs crease calls (CloudWatch's
 * PutMetricData: `crease autoscale-metric`): header-signed requests (Authorization,
 * X-Amz-Date, X-Amz-Security-Token with a session token) with the payload's SHA-256 in
 * the canonical request.  Signed headers: content-type (when given), host, x-amz-date,
 * x-amz-security-token (when a session token is set).  The canonical URI follows
 * SigV4's rule for every service but S3: the path as sent, URI-encoded once more. */

typedef struct blob_aws_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" = none */
    const char *region;        /* NULL or "" = us-east-1 */
} blob_aws_creds;

/* The credentials of the configuration (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_REGION: the variables the S3 client uses); pointers into cfg.
 * CR_ERR_AUTH naming the variables when the key or the secret is missing. */
cr_status blob_aws_creds_of(const cr_config *cfg, blob_aws_creds *out, cr_err *err);

typedef struct blob_aws_request {
    const char *service;      /* the signing name: "monitoring" for CloudWatch */
    const char *method;       /* "POST" */
    const char *host;         /* the Host header exactly as sent ("host" or "host:port") */
    const char *path;         /* the URI path as sent (percent-encoded), "/" at least; no
                                 query string */
    const char *content_type; /* the Content-Type header as sent; NULL = none */
    const void *body;         /* the payload (may be NULL when body_len is 0) */
    size_t body_len;
    int64_t now; /* Unix time of the signature */
} blob_aws_request;

/* The headers to send with the request (besides Host and Content-Type). */
typedef struct blob_aws_signed {
    char amz_date[17];       /* X-Amz-Date: "YYYYMMDDTHHMMSSZ" */
    char authorization[768]; /* Authorization */
} blob_aws_signed;

/* Signs `rq`.  CR_ERR_INVALID for a missing field or an unusable value (an
 * Authorization value that would not fit), CR_ERR_NOMEM. */
cr_status blob_aws_sign(const blob_aws_creds *c, const blob_aws_request *rq, blob_aws_signed *out,
                        cr_err *err);

#endif
