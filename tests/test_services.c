/*
 * test_services.c -- proves the test services are up and reachable the way
 * crease will use them: a real PostgreSQL server (SELECT 1 through libpq) and a
 * real S3-protocol server (s3rver: PUT then GET of an object through libcurl).
 *
 * Environment (set by scripts/test): CREASE_TEST_PG_URL, CREASE_TEST_S3_ENDPOINT,
 * CREASE_TEST_S3_BUCKET.  Missing ones skip, unless CREASE_TEST_REQUIRE_SERVICES=1.
 */
#include "check.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <time.h>

static void test_postgres(void)
{
    const char *url = getenv("CREASE_TEST_PG_URL");
    if (url == NULL || *url == '\0')
        SKIP_OR_FAIL("CREASE_TEST_PG_URL not set: no PostgreSQL server");
    PGconn *c = PQconnectdb(url);
    CHECK_MSG(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT 1 + 1");
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            CHECK_STR_EQ(PQgetvalue(r, 0, 0), "2");
        PQclear(r);
        CHECK(PQserverVersion(c) >= 150000);
    }
    PQfinish(c);
}

typedef struct buf {
    char data[4096];
    size_t len;
} buf;

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    buf *b = ud;
    size_t k = sz * n;
    if (b->len + k > sizeof b->data)
        return 0;
    memcpy(b->data + b->len, p, k);
    b->len += k;
    return k;
}

static long s3_request(const char *method, const char *url, const char *body, buf *out)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    /* s3rver's fixed test credentials; libcurl signs (SigV4) for this check only. */
    curl_easy_setopt(h, CURLOPT_USERPWD, "S3RVER:S3RVER");
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    /* s3rver requires the payload hash header; UNSIGNED-PAYLOAD is valid SigV4. */
    struct curl_slist *hdr = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    long code = 0;
    CURLcode rc = curl_easy_perform(h);
    CHECK_MSG(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return code;
}

static void test_s3(void)
{
    const char *ep = getenv("CREASE_TEST_S3_ENDPOINT");
    const char *bucket = getenv("CREASE_TEST_S3_BUCKET");
    if (ep == NULL || *ep == '\0' || bucket == NULL || *bucket == '\0')
        SKIP_OR_FAIL("CREASE_TEST_S3_ENDPOINT/CREASE_TEST_S3_BUCKET not set: no S3 server");
    char body[128], url[512];
    snprintf(body, sizeof body, "crease services check %ld", (long)time(NULL));
    snprintf(url, sizeof url, "%s/%s/services-check/object.txt", ep, bucket);
    buf out = {0};
    long code = s3_request("PUT", url, body, &out);
    CHECK_MSG(code == 200, "PUT -> %ld: %.*s", code, (int)out.len, out.data);
    out.len = 0;
    code = s3_request("GET", url, NULL, &out);
    CHECK_MSG(code == 200, "GET -> %ld", code);
    CHECK(out.len == strlen(body) && memcmp(out.data, body, out.len) == 0);
    out.len = 0;
    code = s3_request("DELETE", url, NULL, &out);
    CHECK_MSG(code == 204, "DELETE -> %ld", code);
    out.len = 0;
    code = s3_request("GET", url, NULL, &out);
    CHECK_MSG(code == 404, "GET after DELETE -> %ld", code);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_postgres();
    test_s3();
    curl_global_cleanup();
    return check_exit();
}
