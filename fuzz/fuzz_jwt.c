/*
 * fuzz_jwt.c -- API tokens (api_jwt_verify, api_jwt_sign; api.h, RFC 7519 HS256).
 *
 * Input: one byte choosing the mode (its value mod 3), then:
 *   0  a token, verified as the Authorization header's value would be;
 *   1  a header and a payload (the bytes before and after the first NUL), each taken as
 *      JSON text, made into a correctly signed token: the payload's claims are then
 *      reached, and the verdict is compared with RFC 7519's rules evaluated here;
 *   2  iat and exp (8 bytes each, little-endian) and a subject: a token signed with
 *      api_jwt_sign verifies to that subject unless expired, and changing any one of
 *      its characters makes it fail; a subject that is not 1..API_JWT_SUB_MAX-1 bytes
 *      of UTF-8 is refused with CR_ERR_INVALID.
 * Invariants: every refusal is CR_ERR_AUTH with a message and an empty subject; an
 * accepted token's subject is 1..API_JWT_SUB_MAX-1 bytes without NUL.
 */
#include "fuzz.h"

#include "api/api.h"
#include "core/log.h"
#include "core/mem.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define SECRET "fuzz-secret"
#define NOW ((int64_t)1700000000)

FUZZ_INIT_QUIET

/* Verifies `token` and checks the contract of the answer; returns the status. */
static cr_status verify(const char *token, char sub[API_JWT_SUB_MAX])
{
    cr_err err = {0};
    memset(sub, 'x', API_JWT_SUB_MAX);
    cr_status st = api_jwt_verify(SECRET, token, NOW, sub, &err);
    if (st != CR_OK) {
        FUZZ_CHECK(st == CR_ERR_AUTH, "status %s (%s)", cr_status_str(st), cr_err_msg(&err));
        FUZZ_CHECK(err.msg[0] != '\0' && sub[0] == '\0', "refusal without message or with a sub");
    } else {
        size_t n = strnlen(sub, API_JWT_SUB_MAX);
        FUZZ_CHECK(n >= 1 && n < API_JWT_SUB_MAX, "accepted sub of %zu bytes", n);
    }
    return st;
}

static size_t b64url(const uint8_t *src, size_t n, char *out)
{
    static const char c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)src[i] << 16 | (i + 1 < n ? (unsigned)src[i + 1] << 8 : 0) |
                     (i + 2 < n ? src[i + 2] : 0);
        out[o++] = c[(v >> 18) & 63];
        out[o++] = c[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = c[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = c[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* RFC 7519 with crease's rules (api.h): alg HS256; exp, nbf numbers when present with
 * nbf <= now < exp; sub a string of 1..API_JWT_SUB_MAX-1 bytes without NUL.  Both parts
 * JSON objects, duplicate names refused.  1 when such a token is valid; *sub_out the
 * subject. */
static int expect_valid(const uint8_t *h, size_t hn, const uint8_t *p, size_t pn,
                        char sub_out[API_JWT_SUB_MAX])
{
    json_t *hj = json_loadb((const char *)h, hn, JSON_REJECT_DUPLICATES, NULL);
    json_t *pj = json_loadb((const char *)p, pn, JSON_REJECT_DUPLICATES, NULL);
    int ok = json_is_object(hj) && json_is_object(pj);
    if (ok) {
        json_t *alg = json_object_get(hj, "alg");
        ok = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0 &&
             json_string_length(alg) == 5;
    }
    if (ok) {
        json_t *exp = json_object_get(pj, "exp"), *nbf = json_object_get(pj, "nbf");
        if (exp != NULL)
            ok = json_is_number(exp) && (double)NOW < json_number_value(exp);
        if (ok && nbf != NULL)
            ok = json_is_number(nbf) && json_number_value(nbf) <= (double)NOW;
    }
    if (ok) {
        json_t *sub = json_object_get(pj, "sub");
        size_t sl = json_is_string(sub) ? json_string_length(sub) : 0;
        ok = sl >= 1 && sl < API_JWT_SUB_MAX && strlen(json_string_value(sub)) == sl;
        if (ok)
            memcpy(sub_out, json_string_value(sub), sl + 1);
    }
    json_decref(hj);
    json_decref(pj);
    return ok;
}

static void signed_parts(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t hn = nul ? (size_t)(nul - data) : size;
    const uint8_t *p = nul ? nul + 1 : data + size;
    size_t pn = nul ? size - hn - 1 : 0;
    char *tok = cr_malloc(2 * size + 64);
    FUZZ_CHECK(tok != NULL, "out of memory");
    size_t n = b64url(data, hn, tok);
    tok[n++] = '.';
    size_t signed_len = n + b64url(p, pn, tok + n);
    unsigned char mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, signed_len, mac,
         &maclen);
    tok[signed_len] = '.';
    size_t total = signed_len + 1 + b64url(mac, maclen, tok + signed_len + 1);
    char sub[API_JWT_SUB_MAX], want[API_JWT_SUB_MAX];
    /* A part decodes into a buffer of API_JWT_MAX bytes: longer tokens are refused. */
    int valid = total <= API_JWT_MAX && expect_valid(data, hn, p, pn, want);
    cr_status st = verify(tok, sub);
    FUZZ_CHECK((st == CR_OK) == valid, "verdict %s, RFC 7519 says %s", cr_status_str(st),
               valid ? "valid" : "invalid");
    if (valid)
        FUZZ_CHECK(strcmp(sub, want) == 0, "sub '%s', payload says '%s'", sub, want);
    cr_free(tok);
}

static int64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void round_trip(const uint8_t *data, size_t size)
{
    if (size < 16)
        return;
    int64_t iat = le64(data), exp = le64(data + 8);
    char *sub = cr_strndup((const char *)data + 16, size - 16); /* up to the first NUL */
    FUZZ_CHECK(sub != NULL, "out of memory");
    char *tok = NULL;
    cr_err err = {0};
    size_t sl = strlen(sub);
    json_t *js = json_string(sub); /* NULL: not UTF-8, so not JSON text */
    int text = js != NULL;
    json_decref(js);
    cr_status st = api_jwt_sign(SECRET, sub, iat, exp, &tok, &err);
    if (sl == 0 || sl >= API_JWT_SUB_MAX || !text) {
        FUZZ_CHECK(st == CR_ERR_INVALID && tok == NULL, "signing a sub of %zu bytes%s: %s", sl,
                   text ? "" : " (not UTF-8)", cr_status_str(st));
        cr_free(sub);
        return;
    }
    FUZZ_CHECK(st == CR_OK && tok != NULL, "sign: %s", cr_err_msg(&err));
    char got[API_JWT_SUB_MAX];
    int valid = exp <= 0 || NOW < exp;
    st = verify(tok, got);
    FUZZ_CHECK((st == CR_OK) == valid, "own token with exp %lld: %s", (long long)exp,
               cr_status_str(st));
    if (valid) {
        FUZZ_CHECK(strcmp(got, sub) == 0, "sub '%s' came back as '%s'", sub, got);
        /* any one character changed: refused */
        size_t n = strlen(tok);
        size_t at = (size_t)((uint64_t)iat % n);
        char keep = tok[at];
        tok[at] = keep == 'A' ? 'B' : 'A';
        FUZZ_CHECK(verify(tok, got) == CR_ERR_AUTH, "a token with byte %zu changed verified", at);
        tok[at] = keep;
    }
    cr_free(tok);
    cr_free(sub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        char *tok = cr_strndup((const char *)data, size);
        FUZZ_CHECK(tok != NULL, "out of memory");
        char sub[API_JWT_SUB_MAX];
        verify(tok, sub);
        cr_free(tok);
    } else if (mode == 1) {
        signed_parts(data, size);
    } else {
        round_trip(data, size);
    }
    return 0;
}
