/*
 * sigv4.c -- AWS Signature Version 4, with OpenSSL's SHA-256 and HMAC.
 *
 * The algorithm (AWS General Reference, "Create a signed AWS API request"):
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n HexPayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n Hex(SHA256(CanonicalRequest))
 *   Scope            = Date/Region/Service/"aws4_request"
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+Secret, Date), Region), Service),
 *                           "aws4_request")
 *   Signature        = Hex(HMAC(SigningKey, StringToSign))
 * S3 differs from other services in two ways that matter here: the canonical URI
 * is the key encoded once (not twice), and '/' in it stays as is.  blob_aws_sign (at
 * the end) is the entry point for the other services (blob.h).
 * Tested against AWS's published S3 examples and the SigV4 test suite's vectors in
 * tests/test_blob_sigv4.c.
 */
#include "blob/blob_int.h"

#include "core/mem.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ---- */

void blob_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void blob_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    blob_hex(md, sizeof md, out);
}

void blob_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                      unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len);
}

/* ---- canonical pieces ---- */

void blob_sigv4_amz_date(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void blob_sigv4_uri_encode(cr_buf *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            cr_buf_add(out, &s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            cr_buf_add(out, e, 3);
        }
    }
}

typedef struct enc_pair {
    cr_buf name, value;
} enc_pair;

static int cmp_pair(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name.p, y->name.p);
    return c ? c : strcmp(x->value.p, y->value.p);
}

cr_status blob_sigv4_canonical_query(const blob_sigv4_kv *p, size_t n, cr_buf *out)
{
    if (n == 0) {
        cr_buf_adds(out, "");
        return out->st != CR_OK ? CR_ERR_NOMEM : CR_OK;
    }
    enc_pair *e = cr_calloc(n, sizeof *e);
    if (e == NULL)
        return CR_ERR_NOMEM;
    int oom = 0;
    for (size_t i = 0; i < n; i++) {
        blob_sigv4_uri_encode(&e[i].name, p[i].name, strlen(p[i].name), 0);
        cr_buf_adds(&e[i].name, "");
        const char *v = p[i].value ? p[i].value : "";
        blob_sigv4_uri_encode(&e[i].value, v, strlen(v), 0);
        cr_buf_adds(&e[i].value, "");
        oom |= e[i].name.st != CR_OK || e[i].value.st != CR_OK;
    }
    if (!oom) {
        qsort(e, n, sizeof *e, cmp_pair);
        for (size_t i = 0; i < n; i++) {
            if (i)
                cr_buf_add(out, "&", 1);
            cr_buf_add(out, e[i].name.p, e[i].name.len);
            cr_buf_add(out, "=", 1);
            cr_buf_add(out, e[i].value.p, e[i].value.len);
        }
    }
    for (size_t i = 0; i < n; i++) {
        cr_buf_release(&e[i].name);
        cr_buf_release(&e[i].value);
    }
    cr_free(e);
    return (oom || out->st != CR_OK) ? CR_ERR_NOMEM : CR_OK;
}

typedef struct canon_header {
    cr_buf name;
    cr_buf value;
} canon_header;

static int cmp_header(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    return strcmp(x->name.p, y->name.p);
}

/* Lower-cases the name; trims the value and folds runs of spaces into one. */
static void canon_one(const blob_sigv4_kv *h, canon_header *c)
{
    for (const char *s = h->name; *s; s++) {
        char ch = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
        cr_buf_add(&c->name, &ch, 1);
    }
    cr_buf_adds(&c->name, "");
    const char *v = h->value ? h->value : "";
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int in_space = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            if (!in_space)
                cr_buf_add(&c->value, " ", 1);
            in_space = 1;
        } else {
            cr_buf_add(&c->value, &v[i], 1);
            in_space = 0;
        }
    }
    cr_buf_adds(&c->value, "");
}

cr_status blob_sigv4_canonical_request(const char *method, const char *canonical_uri,
                                       const char *canonical_query, const blob_sigv4_kv *headers,
                                       size_t nh, const char *payload_hash, cr_buf *out,
                                       cr_buf *signed_headers)
{
    canon_header *c = cr_calloc(nh ? nh : 1, sizeof *c);
    if (c == NULL)
        return CR_ERR_NOMEM;
    int oom = 0;
    for (size_t i = 0; i < nh; i++) {
        canon_one(&headers[i], &c[i]);
        oom |= c[i].name.st != CR_OK || c[i].value.st != CR_OK;
    }
    if (!oom) {
        qsort(c, nh, sizeof *c, cmp_header);
        cr_buf_addf(out, "%s\n%s\n%s\n", method, canonical_uri, canonical_query);
        for (size_t i = 0; i < nh; i++)
            cr_buf_addf(out, "%s:%s\n", c[i].name.p, c[i].value.p);
        cr_buf_add(out, "\n", 1);
        for (size_t i = 0; i < nh; i++) {
            if (i)
                cr_buf_add(signed_headers, ";", 1);
            cr_buf_adds(signed_headers, c[i].name.p);
        }
        cr_buf_adds(signed_headers, "");
        cr_buf_adds(out, signed_headers->p);
        cr_buf_addf(out, "\n%s", payload_hash);
    }
    for (size_t i = 0; i < nh; i++) {
        cr_buf_release(&c[i].name);
        cr_buf_release(&c[i].value);
    }
    cr_free(c);
    return (oom || out->st != CR_OK || signed_headers->st != CR_OK) ? CR_ERR_NOMEM : CR_OK;
}

cr_status blob_sigv4_signature(const blob_sigv4_creds *c, const char *amz_date,
                               const char *canonical_request, char sig[65], cr_err *err)
{
    if (strlen(amz_date) != 16)
        return cr_err_set(err, CR_ERR_INVALID, "sigv4: bad date '%s'", amz_date);
    char day[9];
    memcpy(day, amz_date, 8);
    day[8] = '\0';

    char creq_hash[65];
    blob_sha256_hex(canonical_request, strlen(canonical_request), creq_hash);

    cr_buf sts = {0};
    cr_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, day, c->region,
                c->service, creq_hash);
    cr_buf k = {0};
    cr_buf_addf(&k, "AWS4%s", c->secret_access_key);
    if (sts.st != CR_OK || k.st != CR_OK) {
        cr_buf_release(&sts);
        cr_buf_release(&k);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory signing a request");
    }
    unsigned char a[32], b[32];
    blob_hmac_sha256(k.p, k.len, day, 8, a);
    blob_hmac_sha256(a, 32, c->region, strlen(c->region), b);
    blob_hmac_sha256(b, 32, c->service, strlen(c->service), a);
    blob_hmac_sha256(a, 32, "aws4_request", 12, b);
    blob_hmac_sha256(b, 32, sts.p, sts.len, a);
    blob_hex(a, 32, sig);
    /* the derived key is a secret: do not leave it on the stack or heap */
    OPENSSL_cleanse(b, sizeof b);
    OPENSSL_cleanse(k.p, k.len);
    cr_buf_release(&sts);
    cr_buf_release(&k);
    return CR_OK;
}

cr_status blob_sigv4_authorization(const blob_sigv4_creds *c, const char *amz_date,
                                   const char *method, const char *canonical_uri,
                                   const char *canonical_query, const blob_sigv4_kv *headers,
                                   size_t nh, const char *payload_hash, cr_buf *out, cr_err *err)
{
    cr_buf creq = {0}, sh = {0};
    cr_status st = blob_sigv4_canonical_request(method, canonical_uri, canonical_query, headers, nh,
                                                payload_hash, &creq, &sh);
    if (st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory signing a request");
        goto done;
    }
    char sig[65];
    if ((st = blob_sigv4_signature(c, amz_date, creq.p, sig, err)) != CR_OK)
        goto done;
    cr_buf_addf(out,
                "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
                "Signature=%s",
                c->access_key_id, amz_date, c->region, c->service, sh.p, sig);
    if (out->st != CR_OK)
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory signing a request");
done:
    cr_buf_release(&creq);
    cr_buf_release(&sh);
    return st;
}

cr_status blob_sigv4_presign(const blob_sigv4_creds *c, const char *amz_date, int64_t expires_s,
                             const char *method, const char *origin, const char *host,
                             const char *canonical_uri, const blob_sigv4_kv *extra, size_t nextra,
                             cr_buf *url, cr_err *err)
{
    cr_status st = CR_OK;
    cr_buf cred = {0}, q = {0}, creq = {0}, sh = {0};
    char exp[24];
    snprintf(exp, sizeof exp, "%lld", (long long)expires_s);
    cr_buf_addf(&cred, "%s/%.8s/%s/%s/aws4_request", c->access_key_id, amz_date, c->region,
                c->service);
    int has_token = c->session_token && c->session_token[0];
    size_t np = 5 + (size_t)has_token + nextra;
    blob_sigv4_kv *p = cr_calloc(np, sizeof *p);
    if (p == NULL || cred.st != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory presigning");
        goto done;
    }
    size_t i = 0;
    p[i++] = (blob_sigv4_kv){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    p[i++] = (blob_sigv4_kv){"X-Amz-Credential", cred.p};
    p[i++] = (blob_sigv4_kv){"X-Amz-Date", amz_date};
    p[i++] = (blob_sigv4_kv){"X-Amz-Expires", exp};
    p[i++] = (blob_sigv4_kv){"X-Amz-SignedHeaders", "host"};
    if (has_token)
        p[i++] = (blob_sigv4_kv){"X-Amz-Security-Token", c->session_token};
    for (size_t j = 0; j < nextra; j++)
        p[i++] = extra[j];
    if ((st = blob_sigv4_canonical_query(p, np, &q)) != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory presigning");
        goto done;
    }
    blob_sigv4_kv h = {"host", host};
    if ((st = blob_sigv4_canonical_request(method, canonical_uri, q.p, &h, 1, BLOB_SIGV4_UNSIGNED,
                                           &creq, &sh)) != CR_OK) {
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory presigning");
        goto done;
    }
    char sig[65];
    if ((st = blob_sigv4_signature(c, amz_date, creq.p, sig, err)) != CR_OK)
        goto done;
    cr_buf_addf(url, "%s%s?%s&X-Amz-Signature=%s", origin, canonical_uri, q.p, sig);
    if (url->st != CR_OK)
        st = cr_err_set(err, CR_ERR_NOMEM, "out of memory presigning");
done:
    cr_free(p);
    cr_buf_release(&cred);
    cr_buf_release(&q);
    cr_buf_release(&creq);
    cr_buf_release(&sh);
    return st;
}

/* ---- other AWS services (blob.h) ---- */

cr_status blob_aws_creds_of(const cr_config *cfg, blob_aws_creds *out, cr_err *err)
{
    memset(out, 0, sizeof *out);
    if (cfg->access_key_id[0] == '\0' || cfg->secret_access_key[0] == '\0')
        return cr_err_set(err, CR_ERR_AUTH,
                          "AWS credentials missing: set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)");
    out->access_key_id = cfg->access_key_id;
    out->secret_access_key = cfg->secret_access_key;
    out->session_token = cfg->session_token;
    out->region = cfg->region;
    return CR_OK;
}

cr_status blob_aws_sign(const blob_aws_creds *c, const blob_aws_request *rq, blob_aws_signed *out,
                        cr_err *err)
{
    memset(out, 0, sizeof *out);
    if (c->access_key_id == NULL || c->secret_access_key == NULL || rq->service == NULL ||
        rq->method == NULL || rq->host == NULL || rq->path == NULL || rq->path[0] != '/' ||
        (rq->body == NULL && rq->body_len > 0))
        return cr_err_set(err, CR_ERR_INVALID, "sigv4: incomplete request to sign");
    int token = c->session_token != NULL && c->session_token[0] != '\0';
    blob_sigv4_creds sc = {c->access_key_id, c->secret_access_key, token ? c->session_token : NULL,
                           c->region != NULL && c->region[0] ? c->region : "us-east-1",
                           rq->service};
    blob_sigv4_amz_date(rq->now, out->amz_date);
    blob_sigv4_kv h[4];
    size_t nh = 0;
    if (rq->content_type != NULL)
        h[nh++] = (blob_sigv4_kv){"content-type", rq->content_type};
    h[nh++] = (blob_sigv4_kv){"host", rq->host};
    h[nh++] = (blob_sigv4_kv){"x-amz-date", out->amz_date};
    if (token)
        h[nh++] = (blob_sigv4_kv){"x-amz-security-token", c->session_token};
    char payload[65];
    blob_sha256_hex(rq->body_len ? rq->body : "", rq->body_len, payload);
    /* Every service but S3 signs the path URI-encoded once more than it is sent. */
    cr_buf uri = {0}, auth = {0};
    if (strcmp(rq->service, "s3") == 0)
        cr_buf_adds(&uri, rq->path);
    else
        blob_sigv4_uri_encode(&uri, rq->path, strlen(rq->path), 1);
    cr_buf_adds(&uri, "");
    cr_status st = uri.st != CR_OK
                       ? cr_err_set(err, CR_ERR_NOMEM, "out of memory signing a request")
                       : blob_sigv4_authorization(&sc, out->amz_date, rq->method, uri.p, "", h, nh,
                                                  payload, &auth, err);
    if (st == CR_OK && auth.len >= sizeof out->authorization)
        st = cr_err_set(err, CR_ERR_INVALID, "sigv4: credentials too long");
    if (st == CR_OK)
        memcpy(out->authorization, auth.p, auth.len + 1);
    cr_buf_release(&uri);
    cr_buf_release(&auth);
    return st;
}
