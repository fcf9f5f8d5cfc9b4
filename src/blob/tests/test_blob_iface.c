/*
 * test_blob_iface.c -- one test body for the blob interface, run on one backend:
 *   test_blob_iface local   a fresh folder under the build tree's temp dir
 *   test_blob_iface s3      s3rver (CREASE_TEST_S3_ENDPOINT, CREASE_TEST_S3_BUCKET,
 *                           CREASE_TEST_S3_ACCESS_KEY/SECRET_KEY); skipped without it
 *                           unless CREASE_TEST_REQUIRE_SERVICES=1
 * ctest runs it once per backend, so both pass the same suite.
 *
 * Covered: put/get/head/delete/list, overwrite, empty objects, byte ranges (inside,
 * across and past the end), missing keys, hostile keys, files of 50 MiB (S3:
 * multipart) byte-exact both ways, presigned GET and PUT (S3: used with libcurl;
 * local: checked with blob_presign_verify), expired and tampered URLs, the
 * read-ahead reader over random ranges, and the pinned reader: etags that follow the
 * bytes, and reads that refuse an object replaced after it was pinned.
 */
#include "blob/blob.h"
#include "blob/blob_int.h"
#include "core/mem.h"

#include "check.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int is_s3;
static char prefix[128]; /* unique per run: the s3rver bucket outlives test runs */
static char tmpdir[512];
static char local_dir[600]; /* the local backend's folder */

/* xorshift64*: reproducible test bytes */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static unsigned char *random_bytes(size_t n)
{
    unsigned char *p = cr_malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rnd() >> 56);
    return p;
}

static const char *K(const char *rel)
{
    static char buf[8][1200];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof buf[0], "%s%s", prefix, rel);
    return b;
}

static void test_basic(blob_store *b)
{
    cr_err err = {0};
    CHECK(blob_put(b, K("a.txt"), "hello", 5, "text/plain", &err) == CR_OK);
    void *data = NULL;
    size_t n = 0;
    CHECK_MSG(blob_get(b, K("a.txt"), &data, &n, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK_INT_EQ(n, 5);
    CHECK(data && memcmp(data, "hello", 5) == 0 && ((char *)data)[5] == '\0');
    cr_free(data);

    blob_info info;
    CHECK(blob_head(b, K("a.txt"), &info, &err) == CR_OK);
    CHECK_INT_EQ(info.size, 5);
    CHECK(info.etag[0] != '\0');
    CHECK(info.mtime > 1700000000); /* 2023-11: a real timestamp, not zero */

    /* overwrite */
    CHECK(blob_put(b, K("a.txt"), "bye", 3, NULL, &err) == CR_OK);
    CHECK(blob_get(b, K("a.txt"), &data, &n, &err) == CR_OK);
    CHECK(n == 3 && memcmp(data, "bye", 3) == 0);
    cr_free(data);

    /* empty object */
    CHECK(blob_put(b, K("empty"), NULL, 0, NULL, &err) == CR_OK);
    CHECK(blob_get(b, K("empty"), &data, &n, &err) == CR_OK);
    CHECK(n == 0 && data != NULL);
    cr_free(data);
    CHECK(blob_head(b, K("empty"), &info, &err) == CR_OK && info.size == 0);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));

    /* delete */
    CHECK(blob_delete(b, K("a.txt"), &err) == CR_OK);
    cr_err e2 = {0};
    CHECK(blob_head(b, K("a.txt"), &info, &e2) == CR_ERR_NOT_FOUND);
    CHECK(blob_delete(b, K("a.txt"), &err) == CR_OK); /* idempotent */
    CHECK(blob_delete(b, K("empty"), &err) == CR_OK);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
}

static void test_missing(blob_store *b)
{
    cr_err err = {0};
    void *data = NULL;
    size_t n = 0;
    CHECK(blob_get(b, K("nope/missing.bin"), &data, &n, &err) == CR_ERR_NOT_FOUND);
    CHECK(data == NULL);
    CHECK_MSG(strstr(cr_err_msg(&err), "not found") != NULL, "%s", cr_err_msg(&err));
    cr_err_clear(&err);
    blob_info info;
    CHECK(blob_head(b, K("nope/missing.bin"), &info, &err) == CR_ERR_NOT_FOUND);
    cr_err_clear(&err);
    char buf[8];
    size_t got = 99;
    CHECK(blob_get_range(b, K("nope/missing.bin"), 0, buf, 8, &got, &err) == CR_ERR_NOT_FOUND);
    CHECK_INT_EQ(got, 0);
    cr_err_clear(&err);
    char path[600];
    snprintf(path, sizeof path, "%s/missing.out", tmpdir);
    CHECK(blob_get_file(b, K("nope/missing.bin"), path, &err) == CR_ERR_NOT_FOUND);
    CHECK(access(path, F_OK) != 0); /* nothing half-written */
    cr_reader *r = NULL;
    cr_err_clear(&err);
    CHECK(blob_open_reader(b, K("nope/missing.bin"), 0, NULL, &r, &err) == CR_ERR_NOT_FOUND);
    CHECK(r == NULL);
}

static void test_ranges(blob_store *b)
{
    const size_t size = 200 * 1024 + 17;
    unsigned char *src = random_bytes(size);
    cr_err err = {0};
    CHECK(blob_put(b, K("range.bin"), src, size, NULL, &err) == CR_OK);
    struct {
        uint64_t off;
        size_t n, want;
    } cases[] = {
        {0, 10, 10},           {1000, 5000, 5000}, {size - 7, 100, 7}, /* across the end */
        {size - 1, 1, 1},                                              /* the last byte */
        {size, 10, 0},                                                 /* at the end */
        {size + 100, 10, 0},                                           /* past it */
        {0, size, size},                                               /* all */
        {12345, 65536, 65536},                                         /* odd offset */
    };
    unsigned char *buf = cr_malloc(size + 200);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = 999;
        cr_err_clear(&err);
        CHECK_MSG(blob_get_range(b, K("range.bin"), cases[i].off, buf, cases[i].n, &got, &err) ==
                      CR_OK,
                  "case %zu: %s", i, cr_err_msg(&err));
        CHECK_MSG(got == cases[i].want, "case %zu: got %zu want %zu", i, got, cases[i].want);
        if (got == cases[i].want && got > 0)
            CHECK_MSG(memcmp(buf, src + cases[i].off, got) == 0, "case %zu bytes", i);
    }
    cr_free(buf);
    cr_free(src);
    CHECK(blob_delete(b, K("range.bin"), &err) == CR_OK);
}

static int collect(void *ctx, const char *key, const blob_info *info)
{
    char *out = ctx;
    size_t plen = strlen(prefix);
    char line[1300];
    snprintf(line, sizeof line, "%s:%llu;", strncmp(key, prefix, plen) == 0 ? key + plen : key,
             (unsigned long long)info->size);
    strncat(out, line, 4096 - strlen(out) - 1);
    return 0;
}

static int stop_after_one(void *ctx, const char *key, const blob_info *info)
{
    (void)key;
    (void)info;
    (*(int *)ctx)++;
    return 1;
}

static void test_list(blob_store *b)
{
    cr_err err = {0};
    const char *names[] = {"l/a", "l/b/c", "l/bc", "l/\xc3\xbc x=+.bin", "l/b/d/e", "m/x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(blob_put(b, K(names[i]), "12345", i + 1, NULL, &err) == CR_OK);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
    char out[4096] = "";
    CHECK(blob_list(b, K("l/"), collect, out, &err) == CR_OK);
    CHECK_STR_EQ(out, "l/a:1;l/b/c:2;l/b/d/e:5;l/bc:3;l/\xc3\xbc x=+.bin:4;");
    out[0] = '\0';
    CHECK(blob_list(b, K("l/b"), collect, out, &err) == CR_OK); /* a string prefix */
    CHECK_STR_EQ(out, "l/b/c:2;l/b/d/e:5;l/bc:3;");
    out[0] = '\0';
    CHECK(blob_list(b, K("l/\xc3\xbc"), collect, out, &err) == CR_OK);
    CHECK_STR_EQ(out, "l/\xc3\xbc x=+.bin:4;");
    out[0] = '\0';
    CHECK(blob_list(b, K("zzz/"), collect, out, &err) == CR_OK);
    CHECK_STR_EQ(out, "");
    int calls = 0;
    CHECK(blob_list(b, K(""), stop_after_one, &calls, &err) == CR_OK);
    CHECK_INT_EQ(calls, 1);
    /* the odd key reads back */
    void *data = NULL;
    size_t n = 0;
    CHECK(blob_get(b, K("l/\xc3\xbc x=+.bin"), &data, &n, &err) == CR_OK && n == 4);
    cr_free(data);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(blob_delete(b, K(names[i]), &err) == CR_OK);
    out[0] = '\0';
    CHECK(blob_list(b, K(""), collect, out, &err) == CR_OK);
    CHECK_STR_EQ(out, "");
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
}

static void test_hostile(blob_store *b)
{
    const char *bad[] = {"",     "/etc/passwd", "../x",     "a/../../x",    "a/..",
                         "a//b", "a/./b",       "./a",      "a/",           "a\\b",
                         "a\nb", "a\x7f",       "\xff\xfe", "\xc0\xaf",     "\xed\xa0\x80",
                         "..",   ".",           "a/.",      ".crease-tmp/x"};
    cr_err err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_err_clear(&err);
        CHECK_MSG(blob_put(b, bad[i], "x", 1, NULL, &err) == CR_ERR_INVALID, "put '%s'", bad[i]);
        void *d = NULL;
        size_t n;
        cr_err_clear(&err);
        CHECK_MSG(blob_get(b, bad[i], &d, &n, &err) == CR_ERR_INVALID, "get '%s'", bad[i]);
        blob_info info;
        cr_err_clear(&err);
        CHECK_MSG(blob_head(b, bad[i], &info, &err) == CR_ERR_INVALID, "head '%s'", bad[i]);
        cr_err_clear(&err);
        CHECK_MSG(blob_delete(b, bad[i], &err) == CR_ERR_INVALID, "rm '%s'", bad[i]);
        char *url = NULL;
        cr_err_clear(&err);
        CHECK_MSG(blob_presign(b, bad[i], BLOB_GET, 60, &url, &err) == CR_ERR_INVALID,
                  "presign '%s'", bad[i]);
        CHECK(url == NULL);
    }
    CHECK(blob_key_check("a\0b", 3, NULL) == CR_ERR_INVALID); /* NUL from an HTTP path */
    char longkey[BLOB_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey);
    longkey[BLOB_KEY_MAX + 1] = '\0';
    CHECK(blob_key_check(longkey, BLOB_KEY_MAX + 1, NULL) == CR_ERR_INVALID);
    CHECK(blob_key_check(longkey, BLOB_KEY_MAX, NULL) == CR_OK);
    CHECK(blob_put(b, NULL, "x", 1, NULL, &err) == CR_ERR_INVALID);
    CHECK(blob_list(b, "../", collect, NULL, &err) == CR_ERR_INVALID);
    CHECK(blob_list(b, "/abs", collect, NULL, &err) == CR_ERR_INVALID);
    /* nothing escaped the store: the local folder's parent holds no stray 'x' */
    CHECK(access("x", F_OK) != 0 || !is_s3);
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        char x[65536], y[65536];
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        if (na != nb || memcmp(x, y, na) != 0)
            eq = 0;
        if (na == 0)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

static void test_files(blob_store *b)
{
    /* 50 MiB + 3 bytes: 7 parts of 8 MiB on S3 (the last one short) */
    const size_t size = 50u * 1024 * 1024 + 3;
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/big.src", tmpdir);
    snprintf(dst, sizeof dst, "%s/big.dst", tmpdir);
    FILE *f = fopen(src, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    for (size_t done = 0; done < size;) {
        size_t n = size - done < (1u << 20) ? size - done : (1u << 20);
        unsigned char *chunk = random_bytes(n);
        fwrite(chunk, 1, n, f);
        cr_free(chunk);
        done += n;
    }
    fclose(f);
    cr_err err = {0};
    CHECK_MSG(blob_put_file(b, K("big.bin"), src, "video/mp4", &err) == CR_OK, "%s",
              cr_err_msg(&err));
    blob_info info;
    CHECK(blob_head(b, K("big.bin"), &info, &err) == CR_OK);
    CHECK_INT_EQ(info.size, size);
    CHECK_MSG(blob_get_file(b, K("big.bin"), dst, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK(files_equal(src, dst));
    /* a small file takes the single-PUT path */
    FILE *s = fopen(src, "wb");
    fputs("small", s);
    fclose(s);
    CHECK(blob_put_file(b, K("small.bin"), src, NULL, &err) == CR_OK);
    CHECK(blob_get_file(b, K("small.bin"), dst, &err) == CR_OK);
    CHECK(files_equal(src, dst));
    cr_err e2 = {0};
    CHECK(blob_put_file(b, K("x.bin"), "/nonexistent/file", NULL, &e2) == CR_ERR_NOT_FOUND);
    CHECK(blob_delete(b, K("big.bin"), &err) == CR_OK);
    CHECK(blob_delete(b, K("small.bin"), &err) == CR_OK);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
    unlink(src);
    unlink(dst);
    /* no temp files left next to the destination */
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    int stray = 0;
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp-"))
            stray++;
    if (d)
        closedir(d);
    CHECK_INT_EQ(stray, 0);
}

/* ---- presigned URLs ---- */

typedef struct membuf {
    char *p;
    size_t n;
} membuf;

static size_t curl_sink(char *d, size_t s, size_t n, void *ud)
{
    membuf *m = ud;
    char *p = realloc(m->p, m->n + s * n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + m->n, d, s * n);
    m->p = p;
    m->n += s * n;
    m->p[m->n] = '\0';
    return s * n;
}

/* GET or PUT `url` with libcurl; returns the HTTP status, body in *out. */
static long http(const char *method, const char *url, const char *body, membuf *out)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

/* Splits a local presigned URL "/blobs/<key>?method=..&expires=..&sig=.." */
static int parse_local(const char *url, char *key, char *method, char *expires, char *sig)
{
    const char *p = strstr(url, BLOB_LOCAL_URL_PREFIX);
    if (p == NULL)
        return 0;
    p += strlen(BLOB_LOCAL_URL_PREFIX);
    size_t k = 0;
    for (; *p && *p != '?'; p++) {
        if (*p == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            key[k++] = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            key[k++] = *p;
        }
    }
    key[k] = '\0';
    return sscanf(p, "?method=%7[A-Z]&expires=%23[0-9]&sig=%64[0-9a-f]", method, expires, sig) == 3;
}

static void test_presign(blob_store *b)
{
    cr_err err = {0};
    const char *key = K("pre/sig ned=+\xc3\xa9.txt");
    char *get = NULL, *put = NULL, *old = NULL;
    int64_t now = (int64_t)time(NULL);
    CHECK_MSG(blob_presign(b, key, BLOB_PUT, 300, &put, &err) == CR_OK, "%s", cr_err_msg(&err));
    CHECK(blob_presign(b, key, BLOB_GET, 300, &get, &err) == CR_OK);
    CHECK(blob_presign_at(b, key, BLOB_GET, 60, now - 3600, &old, &err) == CR_OK);
    char *none = NULL;
    cr_err e0 = {0};
    CHECK(blob_presign(b, key, BLOB_GET, 0, &none, &e0) == CR_ERR_INVALID && none == NULL);
    CHECK(blob_presign(b, key, BLOB_GET, BLOB_PRESIGN_MAX_S + 1, &none, &e0) == CR_ERR_INVALID);
    if (!put || !get || !old)
        goto done;
    if (is_s3) {
        membuf m = {0};
        CHECK_INT_EQ(http("PUT", put, "uploaded by URL", &m), 200);
        free(m.p);
        m = (membuf){0};
        CHECK_INT_EQ(http("GET", get, NULL, &m), 200);
        CHECK(m.p && strcmp(m.p, "uploaded by URL") == 0);
        free(m.p);
        m = (membuf){0};
        /* s3rver enforces X-Amz-Date + X-Amz-Expires (it does not check V4 signatures) */
        CHECK_INT_EQ(http("GET", old, NULL, &m), 403);
        CHECK(m.p && strstr(m.p, "Request has expired") != NULL);
        free(m.p);
        void *d = NULL;
        size_t n = 0;
        CHECK(blob_get(b, key, &d, &n, &err) == CR_OK && n == 15);
        cr_free(d);
    } else {
        const char *secret = "test-secret";
        char k[1200], meth[8], exp[24], sig[65];
        CHECK(strncmp(put, "http://crease.test" BLOB_LOCAL_URL_PREFIX, 25) == 0);
        CHECK(parse_local(put, k, meth, exp, sig));
        CHECK_STR_EQ(k, key);
        CHECK_STR_EQ(meth, "PUT");
        CHECK(blob_presign_verify(secret, k, BLOB_PUT, meth, exp, sig, now, &err) == CR_OK);
        CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
        cr_err e = {0};
        CHECK(blob_presign_verify(secret, k, BLOB_GET, meth, exp, sig, now, &e) == CR_ERR_AUTH);
        cr_err_clear(&e);
        CHECK(blob_presign_verify("other", k, BLOB_PUT, meth, exp, sig, now, &e) == CR_ERR_AUTH);
        cr_err_clear(&e);
        CHECK(blob_presign_verify(secret, K("other"), BLOB_PUT, meth, exp, sig, now, &e) ==
              CR_ERR_AUTH);
        cr_err_clear(&e);
        char exp2[32];
        snprintf(exp2, sizeof exp2, "%lld", atoll(exp) + 1);
        CHECK(blob_presign_verify(secret, k, BLOB_PUT, meth, exp2, sig, now, &e) == CR_ERR_AUTH);
        cr_err_clear(&e);
        sig[3] = sig[3] == 'a' ? 'b' : 'a';
        CHECK(blob_presign_verify(secret, k, BLOB_PUT, meth, exp, sig, now, &e) == CR_ERR_AUTH);
        CHECK_MSG(strstr(cr_err_msg(&e), "bad signature") != NULL, "%s", cr_err_msg(&e));
        cr_err_clear(&e);
        CHECK(blob_presign_verify(secret, k, BLOB_PUT, meth, exp, NULL, now, &e) == CR_ERR_AUTH);
        cr_err_clear(&e);
        CHECK(blob_presign_verify(secret, "../x", BLOB_PUT, meth, exp, sig, now, &e) ==
              CR_ERR_INVALID);
        /* the expired one */
        CHECK(parse_local(old, k, meth, exp, sig));
        CHECK_STR_EQ(meth, "GET");
        cr_err_clear(&e);
        CHECK(blob_presign_verify(secret, k, BLOB_GET, meth, exp, sig, now, &e) == CR_ERR_AUTH);
        CHECK_MSG(strstr(cr_err_msg(&e), "expired") != NULL, "%s", cr_err_msg(&e));
        /* ... valid until its last second */
        cr_err_clear(&e);
        CHECK(blob_presign_verify(secret, k, BLOB_GET, meth, exp, sig, atoll(exp), &e) == CR_OK);
        CHECK(parse_local(get, k, meth, exp, sig));
        CHECK(blob_presign_verify(secret, k, BLOB_GET, meth, exp, sig, now, &err) == CR_OK);
    }
done:
    cr_free(put);
    cr_free(get);
    cr_free(old);
    blob_delete(b, key, &err);
}

/* ---- reader ---- */

static void test_reader(blob_store *b)
{
    const size_t size = 3 * 1024 * 1024 + 1234;
    unsigned char *src = random_bytes(size);
    cr_err err = {0};
    CHECK(blob_put(b, K("reader.bin"), src, size, NULL, &err) == CR_OK);
    blob_reader_stats stats = {0};
    cr_reader *r = NULL;
    const size_t window = 256 * 1024;
    CHECK_MSG(blob_open_reader(b, K("reader.bin"), window, &stats, &r, &err) == CR_OK, "%s",
              cr_err_msg(&err));
    if (r == NULL)
        goto done;
    CHECK_INT_EQ(cr_reader_size(r), size);
    CHECK_STR_EQ(cr_reader_name(r), K("reader.bin"));
    unsigned char *buf = cr_malloc(400 * 1024);
    /* sequential, FFmpeg-sized (32 KiB) reads: one request per window */
    uint64_t off = 0;
    int ok = 1;
    while (off < size) {
        size_t got = 0;
        if (cr_reader_read_at(r, off, buf, 32768, &got, &err) != CR_OK || got == 0) {
            ok = 0;
            break;
        }
        ok &= memcmp(buf, src + off, got) == 0;
        off += got;
    }
    CHECK(ok && off == size);
    CHECK_INT_EQ(cr_reader_bytes_read(r), size);
    /* fetches of 64 KiB, 128 KiB, then 256 KiB (the window) each */
    uint64_t want_req = 0, pos = 0, w = 64 * 1024;
    for (; pos < size; want_req++, w = w * 2 < window ? w * 2 : window)
        pos += w;
    CHECK_INT_EQ(stats.requests, want_req);
    CHECK_INT_EQ(stats.bytes_fetched, size);
    /* random ranges, small and large (some larger than the window), some past the end */
    for (int i = 0; i < 300; i++) {
        uint64_t o = rnd() % (size + 1000);
        size_t n = (i % 10 == 0) ? (size_t)(rnd() % (400 * 1024)) : (size_t)(rnd() % 5000);
        size_t got = 0;
        if (cr_reader_read_at(r, o, buf, n, &got, &err) != CR_OK) {
            CHECK_MSG(0, "read %llu+%zu: %s", (unsigned long long)o, n, cr_err_msg(&err));
            break;
        }
        size_t want = o >= size ? 0 : (size - o < n ? (size_t)(size - o) : n);
        CHECK_MSG(got == want, "read %llu+%zu: got %zu", (unsigned long long)o, n, got);
        if (got == want && got)
            CHECK_MSG(memcmp(buf, src + o, got) == 0, "read %llu+%zu bytes", (unsigned long long)o,
                      n);
    }
    cr_free(buf);
    cr_reader_close(r);
done:
    cr_free(src);
    blob_delete(b, K("reader.bin"), &err);
}

/* ---- the pinned reader (DESIGN.md §10: the object analysed is the object checked) ---- */

static void test_pinned(blob_store *b)
{
    const size_t size = 300 * 1024;
    unsigned char *a = random_bytes(size), *bb = random_bytes(size);
    cr_err err = {0};
    blob_info ia, ia2, ib;
    CHECK(blob_put(b, K("pin.bin"), a, size, NULL, &err) == CR_OK);
    CHECK(blob_head(b, K("pin.bin"), &ia, &err) == CR_OK);
    if (!is_s3) { /* local: the etag is the SHA-256 of the bytes */
        char hex[65];
        blob_sha256_hex(a, size, hex);
        CHECK_STR_EQ(ia.etag, hex);
    }
    /* the same bytes again: the same etag (S3: the MD5 of a simple upload) */
    CHECK(blob_put(b, K("pin.bin"), a, size, NULL, &err) == CR_OK);
    CHECK(blob_head(b, K("pin.bin"), &ia2, &err) == CR_OK);
    CHECK_STR_EQ(ia2.etag, ia.etag);

    /* pinned to what HEAD said: reads the whole object */
    cr_reader *r = NULL;
    unsigned char *buf = cr_malloc(size);
    size_t got = 0;
    CHECK_MSG(blob_open_reader_pinned(b, K("pin.bin"), &ia, BLOB_READ_WINDOW_MIN, NULL, &r, &err) ==
                  CR_OK,
              "%s", cr_err_msg(&err));
    CHECK(r != NULL && cr_reader_read_at(r, 0, buf, size, &got, &err) == CR_OK && got == size &&
          memcmp(buf, a, size) == 0);

    /* replaced while the reader is open (same size, other bytes): the next fetch
     * refuses it and reads nothing */
    CHECK(blob_put(b, K("pin.bin"), bb, size, NULL, &err) == CR_OK);
    CHECK(blob_head(b, K("pin.bin"), &ib, &err) == CR_OK);
    CHECK(strcmp(ib.etag, ia.etag) != 0);
    CHECK_INT_EQ(ib.size, ia.size);
    cr_err e2 = {0};
    got = 1;
    CHECK(r != NULL && cr_reader_read_at(r, 200 * 1024, buf, 1000, &got, &e2) == CR_ERR_CHANGED);
    CHECK_INT_EQ(got, 0);
    CHECK_MSG(strstr(cr_err_msg(&e2), "changed") != NULL, "%s", cr_err_msg(&e2));
    cr_reader_close(r);
    r = NULL;

    /* opened with the old pin: refused at once, naming both etags */
    cr_err_clear(&e2);
    CHECK(blob_open_reader_pinned(b, K("pin.bin"), &ia, 0, NULL, &r, &e2) == CR_ERR_CHANGED);
    CHECK(r == NULL);
    CHECK_MSG(strstr(cr_err_msg(&e2), ia.etag) != NULL && strstr(cr_err_msg(&e2), ib.etag) != NULL,
              "%s", cr_err_msg(&e2));
    /* the same size and etag, another size: refused too */
    blob_info wrong = ib;
    wrong.size++;
    cr_err_clear(&e2);
    CHECK(blob_open_reader_pinned(b, K("pin.bin"), &wrong, 0, NULL, &r, &e2) == CR_ERR_CHANGED);
    /* no etag: nothing to pin */
    blob_info none = {0};
    cr_err_clear(&e2);
    CHECK(blob_open_reader_pinned(b, K("pin.bin"), &none, 0, NULL, &r, &e2) == CR_ERR_INVALID);
    /* gone */
    CHECK(blob_delete(b, K("pin.bin"), &err) == CR_OK);
    cr_err_clear(&e2);
    CHECK(blob_open_reader_pinned(b, K("pin.bin"), &ib, 0, NULL, &r, &e2) == CR_ERR_NOT_FOUND);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
    cr_free(buf);
    cr_free(a);
    cr_free(bb);
}

static int etag_of(void *ctx, const char *key, const blob_info *info)
{
    (void)key;
    snprintf(ctx, 80, "%s", info->etag);
    return 1;
}

/* Local: a file changed in place behind the store's back, or one the store did not
 * write, has the fallback etag (size-mtime-inode), never a content tag that no longer
 * fits; blob_list reports the etag blob_head does. */
static void test_local_tags(blob_store *b)
{
    cr_err err = {0};
    blob_info i1, i2, i3;
    char path[1400], listed[80] = "";
    snprintf(path, sizeof path, "%s/%s", local_dir, K("tag.bin"));
    CHECK(blob_put(b, K("tag.bin"), "0123456789", 10, NULL, &err) == CR_OK);
    CHECK(blob_head(b, K("tag.bin"), &i1, &err) == CR_OK);
    CHECK_INT_EQ(strlen(i1.etag), 64);
    CHECK(blob_list(b, K("tag.bin"), etag_of, listed, &err) == CR_OK);
    CHECK_STR_EQ(listed, i1.etag);
    /* rewritten in place, same size, one second later */
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(pwrite(fd, "abcdefghij", 10, 0) == 10);
        struct timespec ts[2] = {{0, UTIME_OMIT}, {time(NULL) + 1, 0}};
        CHECK(futimens(fd, ts) == 0);
        close(fd);
    }
    CHECK(blob_head(b, K("tag.bin"), &i2, &err) == CR_OK);
    CHECK(strcmp(i2.etag, i1.etag) != 0);
    CHECK(strchr(i2.etag, '-') != NULL); /* the fallback form */
    CHECK(blob_list(b, K("tag.bin"), etag_of, listed, &err) == CR_OK);
    CHECK_STR_EQ(listed, i2.etag);
    /* a file put there by other means (rename over the object: a new inode) */
    char other[1500];
    snprintf(other, sizeof other, "%s.new", path);
    FILE *f = fopen(other, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("abcdefghij", f);
        fclose(f);
    }
    CHECK(rename(other, path) == 0);
    CHECK(blob_head(b, K("tag.bin"), &i3, &err) == CR_OK);
    CHECK(strchr(i3.etag, '-') != NULL);
    CHECK(strcmp(i3.etag, i2.etag) != 0);
    CHECK(blob_delete(b, K("tag.bin"), &err) == CR_OK);
    CHECK_MSG(err.code == CR_OK, "%s", cr_err_msg(&err));
}

/* ---- several threads on one store (the S3 backend's handle pool) ---- */

typedef struct worker {
    blob_store *b;
    int id;
    int ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    w->ok = 1;
    for (int i = 0; i < 20; i++) {
        char key[1200], val[64];
        snprintf(key, sizeof key, "%sthreads/%d/%d", prefix, w->id, i);
        int n = snprintf(val, sizeof val, "value %d of worker %d", i, w->id);
        cr_err err = {0};
        void *d = NULL;
        size_t got = 0;
        if (blob_put(w->b, key, val, (size_t)n, NULL, &err) != CR_OK ||
            blob_get(w->b, key, &d, &got, &err) != CR_OK || got != (size_t)n ||
            memcmp(d, val, got) != 0 || blob_delete(w->b, key, &err) != CR_OK) {
            fprintf(stderr, "worker %d: %s\n", w->id, cr_err_msg(&err));
            w->ok = 0;
        }
        cr_free(d);
    }
    return NULL;
}

static void test_threads(blob_store *b)
{
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){b, i, 0};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(w[i].ok, "worker %d", i);
    }
}

static void test_errors_s3(const char *endpoint, const char *bucket)
{
    /* wrong credentials -> 403 with S3's code, not retried */
    blob_s3_params p = {.bucket = bucket,
                        .endpoint = endpoint,
                        .access_key_id = "NOT-A-KEY",
                        .secret_access_key = "nope"};
    blob_store *b = NULL;
    cr_err err = {0};
    CHECK(blob_open_s3(&p, NULL, &b, &err) == CR_OK);
    if (b) {
        CHECK(blob_put(b, K("denied"), "x", 1, NULL, &err) == CR_ERR_AUTH);
        CHECK_MSG(strstr(cr_err_msg(&err), "403") && strstr(cr_err_msg(&err), "InvalidAccessKeyId"),
                  "%s", cr_err_msg(&err));
        CHECK_MSG(strstr(cr_err_msg(&err), "(1 tries)") != NULL, "%s", cr_err_msg(&err));
        blob_close(b);
    }
    /* a bucket that does not exist -> 404 */
    p.access_key_id = getenv("CREASE_TEST_S3_ACCESS_KEY");
    p.secret_access_key = getenv("CREASE_TEST_S3_SECRET_KEY");
    p.bucket = "no-such-bucket-here";
    cr_err_clear(&err);
    CHECK(blob_open_s3(&p, NULL, &b, &err) == CR_OK);
    if (b) {
        CHECK(blob_put(b, "k", "x", 1, NULL, &err) == CR_ERR_NOT_FOUND);
        CHECK_MSG(strstr(cr_err_msg(&err), "NoSuchBucket") != NULL, "%s", cr_err_msg(&err));
        blob_close(b);
    }
    /* configuration mistakes */
    p.bucket = bucket;
    p.secret_access_key = "";
    cr_err_clear(&err);
    CHECK(blob_open_s3(&p, NULL, &b, &err) == CR_ERR_AUTH && b == NULL);
    p.secret_access_key = "x";
    p.endpoint = "ftp://host";
    cr_err_clear(&err);
    CHECK(blob_open_s3(&p, NULL, &b, &err) == CR_ERR_INVALID && b == NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "local") != 0 && strcmp(argv[1], "s3") != 0)) {
        fprintf(stderr, "usage: test_blob_iface local|s3\n");
        return 2;
    }
    is_s3 = strcmp(argv[1], "s3") == 0;
    snprintf(prefix, sizeof prefix, "t/%ld-%ld/", (long)getpid(), (long)time(NULL));
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/crease-blob-test-XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    blob_store *b = NULL;
    cr_err err = {0};
    blob_options opt = {.url_base = "http://crease.test"};
    if (is_s3) {
        const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
        const char *bucket = getenv("CREASE_TEST_S3_BUCKET");
        if (ep == NULL || bucket == NULL)
            SKIP_OR_FAIL("test_blob_iface s3: CREASE_TEST_S3_ENDPOINT/BUCKET not set");
        blob_s3_params p = {.bucket = bucket,
                            .endpoint = ep,
                            .access_key_id = getenv("CREASE_TEST_S3_ACCESS_KEY"),
                            .secret_access_key = getenv("CREASE_TEST_S3_SECRET_KEY")};
        if (blob_open_s3(&p, &opt, &b, &err) != CR_OK) {
            fprintf(stderr, "open: %s\n", cr_err_msg(&err));
            return 1;
        }
        CHECK_STR_EQ(blob_backend_name(b), "s3");
    } else {
        char *dir = local_dir;
        snprintf(local_dir, sizeof local_dir, "%s/store/sub", tmpdir); /* made with parents */
        if (blob_open_local(dir, "test-secret", &opt, &b, &err) != CR_OK) {
            fprintf(stderr, "open: %s\n", cr_err_msg(&err));
            return 1;
        }
        CHECK_STR_EQ(blob_backend_name(b), "local");
    }
    test_basic(b);
    test_missing(b);
    test_ranges(b);
    test_list(b);
    test_hostile(b);
    test_presign(b);
    test_reader(b);
    test_pinned(b);
    if (!is_s3)
        test_local_tags(b);
    test_files(b);
    test_threads(b);
    if (is_s3)
        test_errors_s3(getenv("CREASE_TEST_S3_ENDPOINT"), getenv("CREASE_TEST_S3_BUCKET"));
    blob_close(b);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_exit();
}
