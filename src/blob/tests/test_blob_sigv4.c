/*
 * test_blob_sigv4.c -- AWS Signature Version 4 against published values.
 *
 * 1. AWS's own S3 examples (Amazon S3 API Reference, "Examples: Signature
 *    Calculations in AWS Signature Version 4" and "Authenticating Requests: Using
 *    Query Parameters"): keys AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
 *    us-east-1, 20130524T000000Z, bucket examplebucket.  Canonical requests and
 *    signatures must match byte for byte.
 * 2. Other services through blob_aws_sign: the "get-vanilla" and
 *    "post-x-www-form-urlencoded" vectors of AWS's Signature Version 4 test suite
 *    (AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service
 *    "service", 20150830T123600Z, host example.amazonaws.com).
 * 3. Edge cases (spaces, '/', '=', '+', '~', unicode in keys and query values,
 *    header whitespace folding, a session token): the expected canonical request
 *    and signatures were computed once with botocore 1.43 (S3SigV4Auth,
 *    S3SigV4QueryAuth), an independent implementation, and pasted here.
 */
#include "blob/blob_int.h"

#include "check.h"

#include <string.h>

static const blob_sigv4_creds aws = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL, "us-east-1", "s3"};
#define AWS_DATE "20130524T000000Z"

/* Signs and returns the signature; also checks the canonical request when given. */
static void sign(const char *method, const char *uri, const char *query, const blob_sigv4_kv *h,
                 size_t nh, const char *payload, const char *want_creq, const char *want_sig)
{
    cr_buf creq = {0}, sh = {0};
    CHECK(blob_sigv4_canonical_request(method, uri, query, h, nh, payload, &creq, &sh) == CR_OK);
    if (want_creq)
        CHECK_STR_EQ(creq.p, want_creq);
    char sig[65];
    cr_err err = {0};
    CHECK(blob_sigv4_signature(&aws, AWS_DATE, creq.p, sig, &err) == CR_OK);
    CHECK_STR_EQ(sig, want_sig);
    cr_buf_release(&creq);
    cr_buf_release(&sh);
}

static void test_aws_get_object_range(void)
{
    /* GET Object, "Example: GET Object" */
    blob_sigv4_kv h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", BLOB_SIGV4_EMPTY_SHA256},
        {"x-amz-date", AWS_DATE},
    };
    sign("GET", "/test.txt", "", h, 4, BLOB_SIGV4_EMPTY_SHA256,
         "GET\n/test.txt\n\n"
         "host:examplebucket.s3.amazonaws.com\n"
         "range:bytes=0-9\n"
         "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
         "x-amz-date:20130524T000000Z\n\n"
         "host;range;x-amz-content-sha256;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

    /* and the Authorization header built around it */
    cr_buf auth = {0};
    cr_err err = {0};
    CHECK(blob_sigv4_authorization(&aws, AWS_DATE, "GET", "/test.txt", "", h, 4,
                                   BLOB_SIGV4_EMPTY_SHA256, &auth, &err) == CR_OK);
    CHECK_STR_EQ(auth.p,
                 "AWS4-HMAC-SHA256 "
                 "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    cr_buf_release(&auth);
}

static void test_aws_put_object(void)
{
    /* PUT Object, "Example: PUT Object": '$' in the key, a payload hash */
    const char *payload = "Welcome to Amazon S3.";
    char ph[65];
    blob_sha256_hex(payload, strlen(payload), ph);
    CHECK_STR_EQ(ph, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    cr_buf uri = {0};
    cr_buf_adds(&uri, "/");
    blob_sigv4_uri_encode(&uri, "test$file.text", 14, 1);
    CHECK_STR_EQ(uri.p, "/test%24file.text");
    blob_sigv4_kv h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", AWS_DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", ph},
    };
    sign("PUT", uri.p, "", h, 5, ph, NULL,
         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    cr_buf_release(&uri);
}

static void test_aws_bucket_queries(void)
{
    blob_sigv4_kv h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", AWS_DATE},
        {"x-amz-content-sha256", BLOB_SIGV4_EMPTY_SHA256},
    };
    /* "Example: GET Bucket Lifecycle": a parameter without value signs as "lifecycle=" */
    blob_sigv4_kv q1 = {"lifecycle", NULL};
    cr_buf q = {0};
    CHECK(blob_sigv4_canonical_query(&q1, 1, &q) == CR_OK);
    CHECK_STR_EQ(q.p, "lifecycle=");
    sign("GET", "/", q.p, h, 3, BLOB_SIGV4_EMPTY_SHA256, NULL,
         "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    cr_buf_release(&q);

    /* "Example: Get Bucket (List Objects)": parameters sorted */
    blob_sigv4_kv q2[] = {{"prefix", "J"}, {"max-keys", "2"}};
    CHECK(blob_sigv4_canonical_query(q2, 2, &q) == CR_OK);
    CHECK_STR_EQ(q.p, "max-keys=2&prefix=J");
    sign("GET", "/", q.p, h, 3, BLOB_SIGV4_EMPTY_SHA256, NULL,
         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    cr_buf_release(&q);
}

static void test_aws_presigned(void)
{
    /* "Authenticating Requests: Using Query Parameters", the example GET for 24 hours */
    cr_buf url = {0};
    cr_err err = {0};
    CHECK(blob_sigv4_presign(&aws, AWS_DATE, 86400, "GET", "https://examplebucket.s3.amazonaws.com",
                             "examplebucket.s3.amazonaws.com", "/test.txt", NULL, 0, &url,
                             &err) == CR_OK);
    CHECK_STR_EQ(url.p,
                 "https://examplebucket.s3.amazonaws.com/test.txt"
                 "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                 "&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    cr_buf_release(&url);
}

static void test_encoding(void)
{
    cr_buf b = {0};
    const char *key = "dir one/a=b+c/\xc3\xbc \xc3\xb1~.txt"; /* ü ñ */
    blob_sigv4_uri_encode(&b, key, strlen(key), 1);
    CHECK_STR_EQ(b.p, "dir%20one/a%3Db%2Bc/%C3%BC%20%C3%B1~.txt");
    b.len = 0;
    blob_sigv4_uri_encode(&b, key, strlen(key), 0); /* query values: '/' is encoded too */
    CHECK_STR_EQ(b.p, "dir%20one%2Fa%3Db%2Bc%2F%C3%BC%20%C3%B1~.txt");
    b.len = 0;
    blob_sigv4_uri_encode(&b, "A-Z_a.z~09*'()!@#$%^&", 21, 0);
    CHECK_STR_EQ(b.p, "A-Z_a.z~09%2A%27%28%29%21%40%23%24%25%5E%26");
    cr_buf_release(&b);

    /* same name twice: sorted by value too; empty and NULL values */
    blob_sigv4_kv q[] = {{"b", "2"}, {"a", "z"}, {"b", "1"}, {"c", ""}, {"d", NULL}};
    CHECK(blob_sigv4_canonical_query(q, 5, &b) == CR_OK);
    CHECK_STR_EQ(b.p, "a=z&b=1&b=2&c=&d=");
    cr_buf_release(&b);
}

static void test_botocore_edge_cases(void)
{
    /* path-style, unicode key with ' ', '=', '+', '~'; query values with ' ', '/', '=',
     * '+', unicode; header values with runs of spaces and padding */
    const char *key = "dir one/a=b+c/\xc3\xbc \xc3\xb1~.txt";
    cr_buf uri = {0}, q = {0};
    cr_buf_adds(&uri, "/crease-test/");
    blob_sigv4_uri_encode(&uri, key, strlen(key), 1);
    blob_sigv4_kv qp[] = {{"prefix", "a b/c=d+e/\xc3\xbc"}, {"list-type", "2"}, {"x", "+="}};
    CHECK(blob_sigv4_canonical_query(qp, 3, &q) == CR_OK);
    blob_sigv4_kv h[] = {
        {"X-Amz-Date", AWS_DATE},    {"x-amz-content-sha256", BLOB_SIGV4_EMPTY_SHA256},
        {"Range", "  bytes=0-9  "},  {"X-Amz-Meta-Note", "a   b  c"},
        {"host", "127.0.0.1:45711"},
    };
    sign("GET", uri.p, q.p, h, 5, BLOB_SIGV4_EMPTY_SHA256,
         "GET\n"
         "/crease-test/dir%20one/a%3Db%2Bc/%C3%BC%20%C3%B1~.txt\n"
         "list-type=2&prefix=a%20b%2Fc%3Dd%2Be%2F%C3%BC&x=%2B%3D\n"
         "host:127.0.0.1:45711\n"
         "range:bytes=0-9\n"
         "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
         "x-amz-date:20130524T000000Z\n"
         "x-amz-meta-note:a b c\n"
         "\n"
         "host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-note\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "0fe6ae8395a1c6c2fc189b6b0ee580852c08d55418060818166f1c6a497e9fcf");
    cr_buf_release(&uri);
    cr_buf_release(&q);

    /* a presigned PUT with a session token, another region, a unicode key */
    blob_sigv4_creds c = aws;
    c.session_token = "tok/en+=1";
    c.region = "eu-west-1";
    const char *k2 = "coach plus/\xc3\xa9t\xc3\xa9=1+2.mp4"; /* été */
    cr_buf u2 = {0}, url = {0};
    cr_buf_adds(&u2, "/");
    blob_sigv4_uri_encode(&u2, k2, strlen(k2), 1);
    cr_err err = {0};
    CHECK(blob_sigv4_presign(&c, "20240102T030405Z", 900, "PUT",
                             "https://examplebucket.s3.eu-west-1.amazonaws.com",
                             "examplebucket.s3.eu-west-1.amazonaws.com", u2.p, NULL, 0, &url,
                             &err) == CR_OK);
    CHECK(strstr(url.p, "/coach%20plus/%C3%A9t%C3%A9%3D1%2B2.mp4?") != NULL);
    CHECK(strstr(url.p, "&X-Amz-Security-Token=tok%2Fen%2B%3D1&") != NULL);
    const char *sig = strstr(url.p, "X-Amz-Signature=");
    CHECK(sig != NULL);
    if (sig)
        CHECK_STR_EQ(sig + 16, "0e4192ff653bbf4ae0b6129474fd221911663e0b48f28f6a9d70d35beca7b79c");
    cr_buf_release(&u2);
    cr_buf_release(&url);
}

static void test_botocore_put_with_token(void)
{
    /* a header-signed PUT of a chunk artifact part: session token header, payload hash,
     * '/', '+', '=' in a query value, another region (botocore 1.43, S3SigV4Auth) */
    blob_sigv4_creds c = aws;
    c.session_token = "FQoGZXIvYXdzE//token+=";
    c.region = "ap-south-1";
    const char *body = "{\"chunk\": 7}";
    char ph[65];
    blob_sha256_hex(body, strlen(body), ph);
    CHECK_STR_EQ(ph, "e8f9615fc5fadc3b5de9431c5e9c8e199f3aabc7147e8bcd6df77d85fcf76c01");
    blob_sigv4_kv q[] = {{"uploadId", "a/b+c="}, {"partNumber", "3"}};
    cr_buf qs = {0}, auth = {0};
    CHECK(blob_sigv4_canonical_query(q, 2, &qs) == CR_OK);
    CHECK_STR_EQ(qs.p, "partNumber=3&uploadId=a%2Fb%2Bc%3D");
    blob_sigv4_kv h[] = {
        {"host", "crease-videos.s3.ap-south-1.amazonaws.com"},
        {"x-amz-content-sha256", ph},
        {"x-amz-date", "20261126T151200Z"},
        {"x-amz-security-token", c.session_token},
    };
    cr_err err = {0};
    CHECK(
        blob_sigv4_authorization(&c, "20261126T151200Z", "PUT",
                                 "/coach_plus/sessions/s1/analysis/jobs/j1/chunks/chunk_0007.json",
                                 qs.p, h, 4, ph, &auth, &err) == CR_OK);
    CHECK_STR_EQ(auth.p,
                 "AWS4-HMAC-SHA256 "
                 "Credential=AKIAIOSFODNN7EXAMPLE/20261126/ap-south-1/s3/aws4_request, "
                 "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
                 "Signature=5e98968a92efa2e7e474bc82f178a50048692930d642aa82e0922e322236feec");
    cr_buf_release(&qs);
    cr_buf_release(&auth);
}

static void test_dates(void)
{
    char d[17];
    blob_sigv4_amz_date(1369353600, d); /* 2013-05-24T00:00:00Z */
    CHECK_STR_EQ(d, AWS_DATE);
    CHECK_INT_EQ(blob_parse_iso8601("2013-05-24T00:00:00.000Z"), 1369353600);
    CHECK_INT_EQ(blob_parse_iso8601("garbage"), 0);
}

static void test_suite_other_services(void)
{
    blob_aws_creds c = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL,
                        "us-east-1"};
    blob_aws_signed out;
    cr_err e = {0};
    /* get-vanilla */
    blob_aws_request get = {"service", "GET",     "example.amazonaws.com", "/", NULL, NULL,
                            0,         1440938160 /* 2015-08-30T12:36:00Z */};
    CHECK(blob_aws_sign(&c, &get, &out, &e) == CR_OK);
    CHECK_STR_EQ(out.amz_date, "20150830T123600Z");
    CHECK_STR_EQ(out.authorization,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=host;x-amz-date, "
                 "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* post-x-www-form-urlencoded */
    blob_aws_request post = {"service",
                             "POST",
                             "example.amazonaws.com",
                             "/",
                             "application/x-www-form-urlencoded",
                             "Param1=value1",
                             13,
                             1440938160};
    CHECK(blob_aws_sign(&c, &post, &out, &e) == CR_OK);
    CHECK_STR_EQ(out.authorization,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=content-type;host;x-amz-date, "
                 "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    /* a session token is signed as x-amz-security-token; the body changes the signature */
    c.session_token = "token/with+chars=";
    CHECK(blob_aws_sign(&c, &post, &out, &e) == CR_OK);
    CHECK(strstr(out.authorization,
                 "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, ") != NULL);
    char with_token[sizeof out.authorization];
    memcpy(with_token, out.authorization, sizeof with_token);
    post.body = "Param1=value2";
    CHECK(blob_aws_sign(&c, &post, &out, &e) == CR_OK);
    CHECK(strcmp(out.authorization, with_token) != 0);
    /* what cannot be signed */
    blob_aws_request bad = get;
    bad.path = "no-slash";
    CHECK(blob_aws_sign(&c, &bad, &out, &e) == CR_ERR_INVALID);
    bad = get;
    bad.body_len = 3;
    cr_err_clear(&e);
    CHECK(blob_aws_sign(&c, &bad, &out, &e) == CR_ERR_INVALID);
    /* credentials from the configuration: missing ones name the variables */
    cr_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cr_err_clear(&e);
    CHECK(blob_aws_creds_of(&cfg, &c, &e) == CR_ERR_AUTH);
    CHECK(strstr(cr_err_msg(&e), "AWS_ACCESS_KEY_ID") != NULL);
    snprintf(cfg.access_key_id, sizeof cfg.access_key_id, "AKID");
    snprintf(cfg.secret_access_key, sizeof cfg.secret_access_key, "secret");
    snprintf(cfg.region, sizeof cfg.region, "eu-west-1");
    CHECK(blob_aws_creds_of(&cfg, &c, &e) == CR_OK);
    CHECK_STR_EQ(c.region, "eu-west-1");
}

int main(void)
{
    test_aws_get_object_range();
    test_aws_put_object();
    test_aws_bucket_queries();
    test_aws_presigned();
    test_encoding();
    test_botocore_edge_cases();
    test_botocore_put_with_token();
    test_dates();
    test_suite_other_services();
    return check_exit();
}
