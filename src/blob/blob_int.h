/*
 * blob_int.h -- internals of the blob module shared by its files and its tests:
 * the backend vtable, AWS Signature Version 4, and the small S3 XML reader (text
 * is built in core's buffer, core/buf.h).  Not part of the module's contract (that is blob.h).
 */
#ifndef CR_BLOB_BLOB_INT_H
#define CR_BLOB_BLOB_INT_H

#include "blob/blob.h"
#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- backends ---- */

typedef struct blob_ops {
    const char *name;
    cr_status (*put_mem)(void *ctx, const char *key, const void *data, size_t n, const char *ctype,
                         cr_err *err);
    cr_status (*put_file)(void *ctx, const char *key, const char *path, const char *ctype,
                          cr_err *err);
    /* Optional (NULL: put_file): store the file itself when possible (blob_put_file_shared);
     * sets *linked. */
    cr_status (*put_file_shared)(void *ctx, const char *key, const char *path, const char *ctype,
                                 int *linked, cr_err *err);
    cr_status (*get_mem)(void *ctx, const char *key, cr_buf *out, cr_err *err);
    cr_status (*get_file)(void *ctx, const char *key, const char *path, cr_err *err);
    /* if_match (NULL = any object): read only from the object whose etag (blob_info's
     * form) it is, else CR_ERR_CHANGED and nothing read -- decided by the same request
     * or descriptor that reads, never by an earlier look. */
    cr_status (*get_range)(void *ctx, const char *key, uint64_t off, void *buf, size_t n,
                           const char *if_match, size_t *got, cr_err *err);
    cr_status (*head)(void *ctx, const char *key, blob_info *out, cr_err *err);
    cr_status (*del)(void *ctx, const char *key, cr_err *err);
    cr_status (*list)(void *ctx, const char *prefix, blob_list_fn fn, void *fnctx, cr_err *err);
    cr_status (*presign)(void *ctx, const char *key, blob_method m, int64_t expires_s, int64_t now,
                         char **url, cr_err *err);
    void (*destroy)(void *ctx);
} blob_ops;

struct blob_store {
    const blob_ops *ops;
    void *ctx;
};

/* Fills defaults into a copy of `opt` (NULL = all defaults). */
void blob_options_resolve(const blob_options *opt, blob_options *out);

/* Wraps a backend; on failure destroys ctx. */
cr_status blob_store_wrap(const blob_ops *ops, void *ctx, blob_store **out, cr_err *err);

extern const blob_ops blob_local_ops;
extern const blob_ops blob_s3_ops;

cr_status blob_local_create(const char *dir, const char *secret, const blob_options *opt,
                            void **ctx, cr_err *err);
/* 1 when the local store `b` resolves paths with openat2(2), 0 when it walks them
 * one segment at a time (no openat2 here, or CREASE_BLOB_NO_OPENAT2 set when it was
 * opened; see blob_local.c), and for other backends. */
int blob_local_uses_openat2(const blob_store *b);
cr_status blob_s3_create(const blob_s3_params *p, const blob_options *opt, void **ctx, cr_err *err);

/* Checks a prefix for blob_list (see blob.h). */
cr_status blob_prefix_check(const char *prefix, cr_err *err);

/* Writes the lowercase hex of n bytes into out[2n+1]. */
void blob_hex(const unsigned char *in, size_t n, char *out);

/* HMAC-SHA256 */
void blob_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                      unsigned char out[32]);

/* ---- AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing
 * process" and "Authenticating Requests: Using Query Parameters (AWS SigV4)") ---- */

/* SHA-256 of the empty payload. */
#define BLOB_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BLOB_SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"

typedef struct blob_sigv4_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" = none */
    const char *region;
    const char *service; /* "s3" */
} blob_sigv4_creds;

typedef struct blob_sigv4_kv {
    const char *name;
    const char *value; /* raw; NULL for a query parameter without value ("?uploads") */
} blob_sigv4_kv;

/* Appends the SigV4 URI encoding of s[0..n): unreserved bytes A-Za-z0-9-._~ as is,
 * '/' as is when keep_slash, every other byte as %XX (upper-case hex). */
void blob_sigv4_uri_encode(cr_buf *out, const char *s, size_t n, int keep_slash);

/* Appends the canonical query string of `p` (names and values encoded, sorted by
 * name then value, joined by '&'; a NULL value is written as "name="). */
cr_status blob_sigv4_canonical_query(const blob_sigv4_kv *p, size_t n, cr_buf *out);

/* Appends the canonical request (method, canonical URI, canonical query, headers
 * lower-cased, trimmed, sequential spaces folded, sorted; signed-header list;
 * payload hash) to `out`, and the signed-header list to `signed_headers`. */
cr_status blob_sigv4_canonical_request(const char *method, const char *canonical_uri,
                                       const char *canonical_query, const blob_sigv4_kv *headers,
                                       size_t nh, const char *payload_hash, cr_buf *out,
                                       cr_buf *signed_headers);

/* The hex signature of `canonical_request` at `amz_date` ("YYYYMMDDTHHMMSSZ"). */
cr_status blob_sigv4_signature(const blob_sigv4_creds *c, const char *amz_date,
                               const char *canonical_request, char sig[65], cr_err *err);

/* The value of the Authorization header for a request with these parts. */
cr_status blob_sigv4_authorization(const blob_sigv4_creds *c, const char *amz_date,
                                   const char *method, const char *canonical_uri,
                                   const char *canonical_query, const blob_sigv4_kv *headers,
                                   size_t nh, const char *payload_hash, cr_buf *out, cr_err *err);

/* A presigned URL: origin ("https://host[:port]") + canonical_uri + "?" + the
 * X-Amz-* query + "&X-Amz-Signature=...".  Signs only the host header and
 * UNSIGNED-PAYLOAD.  `extra`: additional query parameters to sign (may be NULL). */
cr_status blob_sigv4_presign(const blob_sigv4_creds *c, const char *amz_date, int64_t expires_s,
                             const char *method, const char *origin, const char *host,
                             const char *canonical_uri, const blob_sigv4_kv *extra, size_t nextra,
                             cr_buf *url, cr_err *err);

/* "YYYYMMDDTHHMMSSZ" of Unix time t (UTC). */
void blob_sigv4_amz_date(int64_t t, char out[17]);

void blob_sha256_hex(const void *data, size_t n, char out[65]);

/* ---- S3 XML (untrusted bytes: bounds-checked, never asserts) ---- */

/* Finds the text of the first <tag>...</tag> in xml[0..n) at or after *pos and
 * decodes the five XML entities and numeric character references into `out`.
 * On success advances *pos past the closing tag and returns 1; 0 when not found
 * or malformed. */
int blob_xml_text(const char *xml, size_t n, size_t *pos, const char *tag, cr_buf *out);

/* Finds the next <tag>...</tag> element at or after *pos; sets [*start, *end) to
 * its content and *pos past it.  1 when found. */
int blob_xml_element(const char *xml, size_t n, size_t *pos, const char *tag, size_t *start,
                     size_t *end);

/* Parses an ISO-8601 UTC timestamp "2013-05-24T00:00:00.000Z" (S3's LastModified). */
int64_t blob_parse_iso8601(const char *s);

/* One page of a ListObjectsV2 answer: calls fn(ctx, key, info) for each <Contents>
 * entry in document order (info: Size, LastModified, ETag without quotes; 0 / "" when
 * absent) until fn returns non-zero, which sets *stopped.  *truncated is 1 when
 * <IsTruncated> is "true"; `token` then holds <NextContinuationToken>.  An entry
 * without <Key>, or a truncated page without a token, is CR_ERR_FORMAT; CR_ERR_NOMEM.
 * Entries already passed to fn stay passed. */
cr_status blob_s3_list_page(const char *xml, size_t n, blob_list_fn fn, void *ctx, int *stopped,
                            int *truncated, cr_buf *token, cr_err *err);

#endif
