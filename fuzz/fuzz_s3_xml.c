/*
 * fuzz_s3_xml.c -- S3's XML answers as the S3 backend reads them (blob_int.h): the
 * elements and texts of every tag it looks for (blob_xml_element, blob_xml_text), the
 * LastModified times (blob_parse_iso8601), and a ListObjectsV2 page
 * (blob_s3_list_page).  The input is the answer's body, as received.
 *
 * Invariants checked: found elements lie inside the bytes and each search moves
 * forward; blob_xml_text finds the element blob_xml_element finds, and a text without
 * '&' comes back unchanged; a listing page reports each <Contents> element once, in
 * order, with its <Key> text, stops when asked, and a truncated page has a token.
 */
#include "fuzz.h"

#include "blob/blob_int.h"
#include "core/log.h"
#include "core/mem.h"

#include <string.h>

FUZZ_INIT_QUIET

static const char *const tags[] = {
    "Contents", "Key",      "Size",        "LastModified",         "ETag", "Error", "Code",
    "Message",  "UploadId", "IsTruncated", "NextContinuationToken"};

static void walk(const char *xml, size_t n, const char *tag, int *count)
{
    size_t pos = 0, tpos = 0, s, e;
    cr_buf t = {0};
    *count = 0;
    while (blob_xml_element(xml, n, &pos, tag, &s, &e)) {
        FUZZ_CHECK(s <= e && e <= n && pos <= n && pos > tpos, "<%s> at [%zu, %zu) pos %zu of %zu",
                   tag, s, e, pos, n);
        int got = blob_xml_text(xml, n, &tpos, tag, &t);
        if (got) {
            FUZZ_CHECK(tpos == pos && t.p != NULL && strlen(t.p) <= t.len,
                       "<%s> text at pos %zu, element at %zu", tag, tpos, pos);
            if (memchr(xml + s, '&', e - s) == NULL)
                FUZZ_CHECK(t.len == e - s && memcmp(t.p, xml + s, t.len) == 0,
                           "<%s> text changed without an entity", tag);
            if (strcmp(tag, "LastModified") == 0)
                blob_parse_iso8601(t.p);
        } else {
            FUZZ_CHECK(memchr(xml + s, '&', e - s) != NULL, "<%s> text refused without an entity",
                       tag);
        }
        tpos = pos;
        (*count)++;
    }
    FUZZ_CHECK(pos <= n, "pos %zu past %zu", pos, n);
    cr_buf_release(&t);
}

typedef struct listing {
    const char *xml;
    size_t n, pos; /* the next <Contents> element expected */
    int seen, stop_after;
} listing;

static int on_entry(void *ctx, const char *key, const blob_info *info)
{
    listing *l = ctx;
    size_t s, e, p = 0;
    FUZZ_CHECK(blob_xml_element(l->xml, l->n, &l->pos, "Contents", &s, &e),
               "entry %d has no <Contents> element", l->seen);
    cr_buf want = {0};
    FUZZ_CHECK(blob_xml_text(l->xml + s, e - s, &p, "Key", &want) && strcmp(want.p, key) == 0,
               "entry %d: key '%s'", l->seen, key);
    cr_buf_release(&want);
    FUZZ_CHECK(memchr(info->etag, '\0', sizeof info->etag) != NULL, "etag not terminated");
    l->seen++;
    return l->stop_after > 0 && l->seen >= l->stop_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    int contents = 0;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        int c;
        walk(xml, size, tags[i], &c);
        if (i == 0)
            contents = c;
    }
    listing l = {xml, size, 0, 0, (int)(size % 5)};
    int stopped = -1, truncated = -1;
    cr_buf token = {0};
    cr_err err = {0};
    cr_status st = blob_s3_list_page(xml, size, on_entry, &l, &stopped, &truncated, &token, &err);
    if (st != CR_OK) {
        FUZZ_CHECK(st == CR_ERR_FORMAT || st == CR_ERR_NOMEM, "list: %s", cr_status_str(st));
        FUZZ_CHECK(err.msg[0] != '\0', "a refusal without a message");
    } else if (stopped) {
        FUZZ_CHECK(l.stop_after > 0 && l.seen == l.stop_after, "stopped after %d of %d", l.seen,
                   l.stop_after);
    } else {
        FUZZ_CHECK(l.seen == contents, "%d entries of %d <Contents>", l.seen, contents);
        FUZZ_CHECK(!truncated || token.len > 0, "truncated without a token");
    }
    cr_buf_release(&token);
    return 0;
}
