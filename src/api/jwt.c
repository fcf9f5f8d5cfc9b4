/*
 * jwt.c -- HS256 JSON Web Tokens (RFC 7519, RFC 7515 §3.1 compact form, RFC 4648 §5
 * base64url without padding).  Only HS256 is accepted: the header's alg picks
 * nothing, it is checked against the one algorithm we use.
 */
#include "api/api.h"
#include "core/mem.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define SHA256_LEN 32

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends base64url(src[0..n)) to out (cap includes the NUL); returns length or -1. */
static long b64url_encode(const unsigned char *src, size_t n, char *out, size_t cap)
{
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (need + 1 > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)src[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)src[i + 1] << 8;
        if (i + 2 < n)
            v |= src[i + 2];
        out[o++] = b64url_chars[(v >> 18) & 63];
        out[o++] = b64url_chars[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url_chars[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url_chars[v & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes src[0..n) (no padding) into out (cap bytes); returns length or -1. */
static long b64url_decode(const char *src, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(src[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

static int hmac_sha256(const char *secret, const char *msg, size_t n, unsigned char mac[SHA256_LEN])
{
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, n, mac, &len) ==
            NULL ||
        len != SHA256_LEN)
        return -1;
    return 0;
}

/* 1 when s[0..n) is UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates,
 * nothing above U+10FFFF): what JSON text, and so a token's payload, can hold. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || len > n - i)
            return 0;
        unsigned long cp = len == 1 ? c : c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        static const unsigned long min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

cr_status api_jwt_sign(const char *secret, const char *sub, int64_t iat, int64_t exp, char **out,
                       cr_err *err)
{
    *out = NULL;
    if (secret == NULL || *secret == '\0')
        return cr_err_set(err, CR_ERR_INVALID, "APP_SECRET_KEY is empty");
    size_t sl = sub ? strlen(sub) : 0;
    if (sl == 0 || sl >= API_JWT_SUB_MAX)
        return cr_err_set(err, CR_ERR_INVALID, "sub must be 1..%d bytes", API_JWT_SUB_MAX - 1);
    /* JSON holds text only: without this check jansson refuses the payload and the
     * refusal would read as "out of memory". */
    if (!utf8_valid((const unsigned char *)sub, sl))
        return cr_err_set(err, CR_ERR_INVALID, "sub must be UTF-8 text");
    json_t *p = json_pack("{s:s, s:I}", "sub", sub, "iat", (json_int_t)iat);
    if (p != NULL && exp > 0)
        json_object_set_new(p, "exp", json_integer((json_int_t)exp));
    char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(p);
    if (ps == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t cap = (sizeof header + strlen(ps)) * 2 + 64;
    char *tok = cr_malloc(cap);
    if (tok == NULL) {
        free(ps);
        return cr_err_set(err, CR_ERR_NOMEM, "out of memory");
    }
    long h = b64url_encode((const unsigned char *)header, sizeof header - 1, tok, cap);
    tok[h] = '.';
    long pl =
        b64url_encode((const unsigned char *)ps, strlen(ps), tok + h + 1, cap - (size_t)h - 1);
    free(ps);
    size_t signed_len = (size_t)h + 1 + (size_t)pl;
    unsigned char mac[SHA256_LEN];
    if (hmac_sha256(secret, tok, signed_len, mac) != 0) {
        cr_free(tok);
        return cr_err_set(err, CR_ERR_INTERNAL, "HMAC-SHA256 failed");
    }
    tok[signed_len] = '.';
    b64url_encode(mac, sizeof mac, tok + signed_len + 1, cap - signed_len - 1);
    *out = tok;
    return CR_OK;
}

/* Decodes one base64url JSON object part. */
static json_t *decode_part(const char *s, size_t n)
{
    unsigned char buf[API_JWT_MAX];
    long len = b64url_decode(s, n, buf, sizeof buf);
    if (len < 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A NumericDate claim (RFC 7519 §2: a JSON number, possibly non-integer). */
static int claim_time(json_t *p, const char *name, int *present, double *v)
{
    json_t *x = json_object_get(p, name);
    *present = x != NULL;
    if (x == NULL)
        return 0;
    if (!json_is_number(x))
        return -1;
    *v = json_number_value(x);
    return 0;
}

cr_status api_jwt_verify(const char *secret, const char *token, int64_t now,
                         char sub_out[API_JWT_SUB_MAX], cr_err *err)
{
    sub_out[0] = '\0';
    if (secret == NULL || *secret == '\0')
        return cr_err_set(err, CR_ERR_AUTH, "server has no secret");
    if (token == NULL)
        return cr_err_set(err, CR_ERR_AUTH, "missing token");
    size_t n = strnlen(token, API_JWT_MAX + 1);
    if (n == 0 || n > API_JWT_MAX)
        return cr_err_set(err, CR_ERR_AUTH, "token empty or too long");
    const char *d1 = memchr(token, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)) != NULL)
        return cr_err_set(err, CR_ERR_AUTH, "token is not three dot-separated parts");

    json_t *h = decode_part(token, (size_t)(d1 - token));
    if (h == NULL)
        return cr_err_set(err, CR_ERR_AUTH, "token header is not base64url JSON");
    json_t *alg = json_object_get(h, "alg");
    int alg_ok = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0;
    json_decref(h);
    if (!alg_ok)
        return cr_err_set(err, CR_ERR_AUTH, "token alg must be HS256");

    unsigned char mac[SHA256_LEN], got[SHA256_LEN + 4];
    long gl = b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - token), got, sizeof got);
    if (gl != SHA256_LEN)
        return cr_err_set(err, CR_ERR_AUTH, "bad token signature");
    if (hmac_sha256(secret, token, (size_t)(d2 - token), mac) != 0)
        return cr_err_set(err, CR_ERR_INTERNAL, "HMAC-SHA256 failed");
    if (CRYPTO_memcmp(mac, got, SHA256_LEN) != 0)
        return cr_err_set(err, CR_ERR_AUTH, "bad token signature");

    json_t *p = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (p == NULL)
        return cr_err_set(err, CR_ERR_AUTH, "token payload is not base64url JSON");
    cr_status s = CR_OK;
    int has;
    double t = 0;
    if (claim_time(p, "exp", &has, &t) != 0) {
        s = cr_err_set(err, CR_ERR_AUTH, "token exp is not a number");
    } else if (has && !((double)now < t)) {
        s = cr_err_set(err, CR_ERR_AUTH, "token expired");
    } else if (claim_time(p, "nbf", &has, &t) != 0) {
        s = cr_err_set(err, CR_ERR_AUTH, "token nbf is not a number");
    } else if (has && (double)now < t) {
        s = cr_err_set(err, CR_ERR_AUTH, "token not valid yet");
    } else {
        json_t *sub = json_object_get(p, "sub");
        const char *sv = json_is_string(sub) ? json_string_value(sub) : NULL;
        size_t sl = sv ? json_string_length(sub) : 0;
        if (sv == NULL || sl == 0 || sl >= API_JWT_SUB_MAX || strlen(sv) != sl)
            s = cr_err_set(err, CR_ERR_AUTH, "token sub missing or invalid");
        else
            memcpy(sub_out, sv, sl + 1);
    }
    json_decref(p);
    return s;
}
