/*
 * test_blob_robust.c -- the blob module under failing allocations and hostile bytes.
 *
 *  1. Allocation failures: a sequence of local-store operations and SigV4 signing
 *     runs with the Nth cr_malloc failing, for N = 0, 1, ... until a run sees no
 *     failure.  Every call must return CR_OK or CR_ERR_NOMEM, and (under ASan) leak
 *     nothing.
 *  2. S3 XML (untrusted): 20,000 seeded mutations of real S3 answers through
 *     blob_xml_element/blob_xml_text, each in an exactly-sized heap buffer so that ASan
 *     catches any read past the end; results must lie inside the input.
 *  3. Keys: random byte strings through blob_key_check; every accepted one has the
 *     promised properties (no "..", ".", empty segment, leading '/', control byte).
 *  4. The key layout helpers build exactly DESIGN.md §4's keys and refuse bad ids.
 */
#include "blob/blob_int.h"
#include "core/mem.h"

#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static int count_cb(void *ctx, const char *key, const blob_info *info)
{
    (void)key;
    (void)info;
    (*(int *)ctx)++;
    return 0;
}

#define OK_OR_NOMEM(st, what, n)                                                                   \
    do {                                                                                           \
        cr_status s_ = (st);                                                                       \
        CHECK_MSG(s_ == CR_OK || s_ == CR_ERR_NOMEM, "%s at N=%ld: %s", what, n,                   \
                  cr_status_str(s_));                                                              \
        if (s_ != CR_OK)                                                                           \
            failed = 1;                                                                            \
    } while (0)

/* One run of the sequence; returns 1 when some step failed (with NOMEM). */
static int sequence(const char *dir, long n)
{
    int failed = 0;
    cr_err err = {0};
    blob_store *b = NULL;
    cr_status st = blob_open_local(dir, "secret", NULL, &b, &err);
    OK_OR_NOMEM(st, "open", n);
    if (st != CR_OK)
        return 1;
    OK_OR_NOMEM(blob_put(b, "a/b/c.txt", "0123456789", 10, NULL, &err), "put", n);
    void *d = NULL;
    size_t len = 0;
    st = blob_get(b, "a/b/c.txt", &d, &len, &err);
    if (st != CR_ERR_NOT_FOUND) /* when the put failed */
        OK_OR_NOMEM(st, "get", n);
    cr_free(d);
    int count = 0;
    OK_OR_NOMEM(blob_list(b, "a/", count_cb, &count, &err), "list", n);
    char *url = NULL;
    OK_OR_NOMEM(blob_presign(b, "a/b/c.txt", BLOB_GET, 60, &url, &err), "presign", n);
    cr_free(url);
    cr_reader *r = NULL;
    st = blob_open_reader(b, "a/b/c.txt", 0, NULL, &r, &err);
    if (st != CR_ERR_NOT_FOUND)
        OK_OR_NOMEM(st, "reader", n);
    if (r) {
        char buf[4];
        size_t got;
        OK_OR_NOMEM(cr_reader_read_at(r, 3, buf, 4, &got, &err), "read", n);
        cr_reader_close(r);
    }
    OK_OR_NOMEM(blob_delete(b, "a/b/c.txt", &err), "delete", n);

    blob_sigv4_creds c = {"AK", "SK", "token", "us-east-1", "s3"};
    blob_sigv4_kv h[] = {{"Host", "h"}, {"x-amz-date", "20130524T000000Z"}, {"Range", "bytes=0-1"}};
    cr_buf auth = {0}, purl = {0};
    OK_OR_NOMEM(blob_sigv4_authorization(&c, "20130524T000000Z", "GET", "/k", "a=b", h, 3,
                                         BLOB_SIGV4_EMPTY_SHA256, &auth, &err),
                "authorization", n);
    OK_OR_NOMEM(blob_sigv4_presign(&c, "20130524T000000Z", 60, "PUT", "http://h", "h", "/k", NULL,
                                   0, &purl, &err),
                "sigv4 presign", n);
    cr_buf_release(&auth);
    cr_buf_release(&purl);
    blob_close(b);
    return failed;
}

static void test_nomem(void)
{
    char dir[] = "/tmp/crease-blob-nomem-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    long n;
    for (n = 0; n < 5000; n++) {
        cr_mem_fail_after(n, 0);
        int failed = sequence(dir, n);
        cr_mem_fail_after(-1, 0);
        if (!failed)
            break;
    }
    CHECK_MSG(n > 10 && n < 5000, "the sequence ran clean at N=%ld", n);
    fprintf(stderr, "allocation failures: %ld points checked\n", n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static const char *samples[] = {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
    "<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>p/a&amp;b &#xfc;&#252;</Key><LastModified>2013-05-24T00:00:00.000Z"
    "</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD"
    "</StorageClass></Contents><Contents><Key>p/c</Key><Size/></Contents>"
    "<NextContinuationToken>tok==</NextContinuationToken></ListBucketResult>",
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
    "<Key>a</Key><RequestId>1</RequestId></Error>",
    "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2Fk"
    "</UploadId></InitiateMultipartUploadResult>",
};

static void test_xml_fuzz(void)
{
    /* the unmutated sample decodes as S3 means it */
    size_t pos = 0;
    cr_buf t = {0};
    CHECK(blob_xml_text(samples[0], strlen(samples[0]), &pos, "Key", &t));
    CHECK_STR_EQ(t.p, "p/a&b \xc3\xbc\xc3\xbc");
    CHECK(blob_xml_text(samples[0], strlen(samples[0]), &pos, "Key", &t));
    CHECK_STR_EQ(t.p, "p/c");
    pos = 0;
    CHECK(blob_xml_text(samples[0], strlen(samples[0]), &pos, "ETag", &t));
    CHECK_STR_EQ(t.p, "\"abc\"");
    pos = 0;
    CHECK(blob_xml_text(samples[0], strlen(samples[0]), &pos, "Size", &t)); /* <Size/> later */
    CHECK_STR_EQ(t.p, "12");
    CHECK(blob_xml_text(samples[0], strlen(samples[0]), &pos, "Size", &t));
    CHECK_STR_EQ(t.p, "");
    pos = 0;
    CHECK(!blob_xml_text("<K>&#0;</K>", 11, &pos, "K", &t));       /* NUL */
    CHECK(!blob_xml_text("<K>&#xD800;</K>", 15, &pos, "K", &t));   /* a surrogate */
    CHECK(!blob_xml_text("<K>&bogus;</K>", 14, &pos, "K", &t));    /* unknown entity */
    CHECK(!blob_xml_text("<K>&#x110000;</K>", 17, &pos, "K", &t)); /* > U+10FFFF */
    CHECK(!blob_xml_text("<K>open", 7, &pos, "K", &t));            /* unclosed */
    const char *inserts[] = {"<",  ">",     "&",      "&#",         "&#x", ";",    "</",
                             "/>", "<Key>", "</Key>", "<Contents>", "\0",  "&amp", "&#99999999;"};
    const char *tags[] = {"Key", "Contents", "Size", "Error", "Code", "UploadId", "ETag"};
    int checked = 0;
    for (int it = 0; it < 20000; it++) {
        const char *src = samples[rnd() % 3];
        size_t n = strlen(src);
        char work[2048];
        memcpy(work, src, n);
        int muts = 1 + (int)(rnd() % 4);
        for (int m = 0; m < muts; m++) {
            int kind = (int)(rnd() % 4);
            if (kind == 0 && n > 0) { /* flip a byte */
                work[rnd() % n] = (char)(rnd() & 0xff);
            } else if (kind == 1 && n > 0) { /* truncate */
                n = rnd() % n;
            } else if (kind == 2) { /* insert a token */
                const char *ins = inserts[rnd() % (sizeof inserts / sizeof *inserts)];
                size_t il = strlen(ins) ? strlen(ins) : 1;
                size_t at = n ? rnd() % n : 0;
                if (n + il < sizeof work) {
                    memmove(work + at + il, work + at, n - at);
                    memcpy(work + at, ins, il);
                    n += il;
                }
            } else if (n > 1) { /* delete a span */
                size_t at = rnd() % n, len = 1 + rnd() % 8;
                if (at + len > n)
                    len = n - at;
                memmove(work + at, work + at + len, n - at - len);
                n -= len;
            }
        }
        char *buf = cr_malloc(n ? n : 1); /* exactly n bytes: ASan sees any overrun */
        memcpy(buf, work, n);
        for (size_t ti = 0; ti < sizeof tags / sizeof *tags; ti++) {
            size_t p = 0, s, e;
            int guard = 0;
            while (blob_xml_element(buf, n, &p, tags[ti], &s, &e) && guard++ < 100) {
                if (!(s <= e && e <= n && p <= n)) {
                    CHECK_MSG(0, "element out of bounds: %zu %zu %zu of %zu", s, e, p, n);
                    break;
                }
                checked++;
            }
            p = 0;
            guard = 0;
            while (blob_xml_text(buf, n, &p, tags[ti], &t) && guard++ < 100)
                CHECK(t.p != NULL && p <= n);
        }
        cr_free(buf);
    }
    fprintf(stderr, "xml fuzz: %d elements found in mutated inputs\n", checked);
    CHECK(checked > 1000);
    cr_buf_release(&t);
}

static void test_key_fuzz(void)
{
    const char alphabet[] = "ab./\\\x01\x7f\xc3\xbc\xff\xe2\x82\xac-_ ~=+%";
    int accepted = 0;
    for (int it = 0; it < 50000; it++) {
        char k[24];
        size_t n = rnd() % sizeof k;
        for (size_t i = 0; i < n; i++)
            k[i] = alphabet[rnd() % (sizeof alphabet - 1)];
        if (blob_key_check(k, n, NULL) != CR_OK)
            continue;
        accepted++;
        int bad = n == 0 || k[0] == '/' || k[n - 1] == '/';
        size_t seg = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i == n || k[i] == '/') {
                size_t sl = i - seg;
                bad |= sl == 0 || (sl == 1 && k[seg] == '.') ||
                       (sl == 2 && k[seg] == '.' && k[seg + 1] == '.');
                seg = i + 1;
            } else {
                unsigned char c = (unsigned char)k[i];
                bad |= c < 0x20 || c == 0x7f || c == '\\' || c == 0xff;
            }
        }
        CHECK_MSG(!bad, "accepted a bad key '%.*s'", (int)n, k);
    }
    CHECK(accepted > 100);
}

static void test_layout(void)
{
    char k[512];
    cr_err err = {0};
    const char *sid = "7f8e3f5c-1b2a-4c3d-9e8f-001122334455";
    const char *jid = "a1b2c3d4-0000-4000-8000-0000000000ff";
    CHECK(blob_key_original(sid, k, sizeof k, &err) == CR_OK);
    CHECK_STR_EQ(k, "coach_plus/sessions/7f8e3f5c-1b2a-4c3d-9e8f-001122334455/original.mp4");
    CHECK(blob_key_chunk(sid, jid, 7, k, sizeof k, &err) == CR_OK);
    CHECK_STR_EQ(k, "coach_plus/sessions/7f8e3f5c-1b2a-4c3d-9e8f-001122334455/analysis/jobs/"
                    "a1b2c3d4-0000-4000-8000-0000000000ff/chunks/chunk_0007.json");
    CHECK(blob_key_chunk(sid, jid, 9999, k, sizeof k, &err) == CR_OK);
    CHECK(strstr(k, "/chunks/chunk_9999.json") != NULL);
    CHECK(blob_key_final_results(sid, jid, k, sizeof k, &err) == CR_OK);
    CHECK_STR_EQ(k, "coach_plus/sessions/7f8e3f5c-1b2a-4c3d-9e8f-001122334455/analysis/jobs/"
                    "a1b2c3d4-0000-4000-8000-0000000000ff/final_results.json");
    CHECK(blob_key_report(sid, jid, k, sizeof k, &err) == CR_OK);
    CHECK_STR_EQ(k, "coach_plus/sessions/7f8e3f5c-1b2a-4c3d-9e8f-001122334455/analysis/jobs/"
                    "a1b2c3d4-0000-4000-8000-0000000000ff/report.html");
    CHECK(blob_key_job_prefix("42", "7", k, sizeof k, &err) == CR_OK);
    CHECK_STR_EQ(k, "coach_plus/sessions/42/analysis/jobs/7/");
    CHECK(blob_key_check(k, strlen(k), &err) != CR_OK); /* a prefix, not a key ... */
    CHECK(blob_prefix_check(k, &err) == CR_OK);         /* ... but a valid prefix */
    CHECK_MSG(err.code != CR_OK, "the key check above recorded its error");

    const char *bad_ids[] = {"", "..", "a/b", "a b", "a.b", "x\n", "\xc3\xbc", NULL};
    for (int i = 0; bad_ids[i]; i++) {
        cr_err e = {0};
        CHECK_MSG(blob_key_original(bad_ids[i], k, sizeof k, &e) == CR_ERR_INVALID, "'%s'",
                  bad_ids[i]);
        cr_err_clear(&e);
        CHECK(blob_key_chunk(sid, bad_ids[i], 0, k, sizeof k, &e) == CR_ERR_INVALID);
        cr_err_clear(&e);
        CHECK(blob_key_report(bad_ids[i], jid, k, sizeof k, &e) == CR_ERR_INVALID);
    }
    char long_id[200];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK(!blob_id_valid(long_id));
    CHECK(!blob_id_valid(NULL));
    cr_err e = {0};
    CHECK(blob_key_chunk(sid, jid, -1, k, sizeof k, &e) == CR_ERR_INVALID);
    CHECK(blob_key_chunk(sid, jid, 10000, k, sizeof k, &e) == CR_ERR_INVALID);
    char small[20];
    cr_err_clear(&e);
    CHECK(blob_key_original(sid, small, sizeof small, &e) == CR_ERR_LIMIT);
    CHECK_STR_EQ(small, "");
}

int main(void)
{
    test_layout();
    test_key_fuzz();
    test_xml_fuzz();
    test_nomem();
    return check_exit();
}
