/*
 * s3_xml.c -- just enough XML to read S3's answers (ListObjectsV2,
 * CreateMultipartUpload, CompleteMultipartUpload, error bodies).
 *
 * S3's answers are flat and namespace-free where we look: <Tag>text</Tag>.  This is
 * not an XML parser: it finds the first "<Tag>" or "<Tag ...>" (or "<Tag/>") at or
 * after a position and the next "</Tag>" after it, and decodes entities in the
 * text.  The bytes are untrusted: every access is bounded by `n`, nothing asserts,
 * and malformed input just means "not found".
 */
#define _GNU_SOURCE /* mkostemp, strptime */
#include "blob/blob_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Finds "<tag" followed by '>', ' ' or "/>" in xml[*pos..n). */
static int find_open(const char *xml, size_t n, size_t from, const char *tag, size_t *content,
                     int *empty)
{
    size_t tl = strlen(tag);
    for (size_t i = from; i + tl + 2 <= n; i++) {
        if (xml[i] != '<' || memcmp(xml + i + 1, tag, tl) != 0)
            continue;
        size_t j = i + 1 + tl;
        char c = xml[j];
        if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\n' && c != '\r')
            continue;
        /* end of the start tag */
        while (j < n && xml[j] != '>')
            j++;
        if (j >= n)
            return 0;
        *empty = xml[j - 1] == '/';
        *content = j + 1;
        return 1;
    }
    return 0;
}

int blob_xml_element(const char *xml, size_t n, size_t *pos, const char *tag, size_t *start,
                     size_t *end)
{
    if (xml == NULL || *pos > n)
        return 0;
    size_t c;
    int empty;
    if (!find_open(xml, n, *pos, tag, &c, &empty))
        return 0;
    if (empty) {
        *start = *end = c;
        *pos = c;
        return 1;
    }
    size_t tl = strlen(tag);
    for (size_t i = c; i + tl + 3 <= n; i++) {
        if (xml[i] == '<' && xml[i + 1] == '/' && memcmp(xml + i + 2, tag, tl) == 0 &&
            xml[i + 2 + tl] == '>') {
            *start = c;
            *end = i;
            *pos = i + tl + 3;
            return 1;
        }
    }
    return 0;
}

static void put_utf8(cr_buf *out, unsigned long cp)
{
    char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    cr_buf_add(out, b, k);
}

int blob_xml_text(const char *xml, size_t n, size_t *pos, const char *tag, cr_buf *out)
{
    size_t s, e;
    if (!blob_xml_element(xml, n, pos, tag, &s, &e))
        return 0;
    cr_buf_truncate(out, 0);
    cr_buf_adds(out, "");
    for (size_t i = s; i < e; i++) {
        if (xml[i] != '&') {
            cr_buf_add(out, xml + i, 1);
            continue;
        }
        size_t semi = i + 1;
        while (semi < e && semi - i < 12 && xml[semi] != ';')
            semi++;
        if (semi >= e || xml[semi] != ';')
            return 0;
        const char *ent = xml + i + 1;
        size_t el = semi - i - 1;
        if (el == 3 && memcmp(ent, "amp", 3) == 0)
            cr_buf_add(out, "&", 1);
        else if (el == 2 && memcmp(ent, "lt", 2) == 0)
            cr_buf_add(out, "<", 1);
        else if (el == 2 && memcmp(ent, "gt", 2) == 0)
            cr_buf_add(out, ">", 1);
        else if (el == 4 && memcmp(ent, "quot", 4) == 0)
            cr_buf_add(out, "\"", 1);
        else if (el == 4 && memcmp(ent, "apos", 4) == 0)
            cr_buf_add(out, "'", 1);
        else if (el >= 2 && ent[0] == '#') {
            unsigned long cp = 0;
            int hex = ent[1] == 'x' || ent[1] == 'X';
            size_t d = hex ? 2 : 1;
            if (d >= el)
                return 0;
            for (; d < el; d++) {
                char ch = ent[d];
                int v;
                if (ch >= '0' && ch <= '9')
                    v = ch - '0';
                else if (hex && ch >= 'a' && ch <= 'f')
                    v = ch - 'a' + 10;
                else if (hex && ch >= 'A' && ch <= 'F')
                    v = ch - 'A' + 10;
                else
                    return 0;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
                if (cp > 0x10FFFF)
                    return 0;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
            put_utf8(out, cp);
        } else {
            return 0;
        }
        i = semi;
    }
    return out->st == CR_OK;
}

int64_t blob_parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || strlen(s) < 19)
        return 0;
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The ETag of a listing entry without its quotes, cut to fit `out`. */
static void etag_copy(const cr_buf *val, char *out, size_t cap)
{
    const char *e = val->p;
    size_t l = val->len;
    if (l >= 2 && e[0] == '"' && e[l - 1] == '"') {
        e++;
        l -= 2;
    }
    if (l >= cap)
        l = cap - 1;
    memcpy(out, e, l);
    out[l] = '\0';
}

cr_status blob_s3_list_page(const char *xml, size_t n, blob_list_fn fn, void *ctx, int *stopped,
                            int *truncated, cr_buf *token, cr_err *err)
{
    cr_buf key = {0}, val = {0};
    cr_status st = CR_OK;
    size_t pos = 0, cs, ce;
    *stopped = 0;
    *truncated = 0;
    while (blob_xml_element(xml, n, &pos, "Contents", &cs, &ce)) {
        const char *el = xml + cs;
        size_t en = ce - cs, p2 = 0;
        if (!blob_xml_text(el, en, &p2, "Key", &key)) {
            st = cr_err_set(err, key.st != CR_OK ? CR_ERR_NOMEM : CR_ERR_FORMAT,
                            "s3 list: an entry without <Key>");
            goto done;
        }
        blob_info info = {0};
        p2 = 0;
        if (blob_xml_text(el, en, &p2, "Size", &val))
            info.size = strtoull(val.p, NULL, 10);
        p2 = 0;
        if (blob_xml_text(el, en, &p2, "LastModified", &val))
            info.mtime = blob_parse_iso8601(val.p);
        p2 = 0;
        if (blob_xml_text(el, en, &p2, "ETag", &val))
            etag_copy(&val, info.etag, sizeof info.etag);
        if (val.st != CR_OK) {
            st = cr_err_set(err, CR_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (fn(ctx, key.p, &info) != 0) {
            *stopped = 1;
            goto done;
        }
    }
    pos = 0;
    *truncated = blob_xml_text(xml, n, &pos, "IsTruncated", &val) && strcmp(val.p, "true") == 0;
    if (*truncated) {
        pos = 0;
        cr_buf_truncate(token, 0);
        if (!blob_xml_text(xml, n, &pos, "NextContinuationToken", token) || token->len == 0)
            st = cr_err_set(err, token->st != CR_OK ? CR_ERR_NOMEM : CR_ERR_FORMAT,
                            "s3 list: truncated without a continuation token");
    }
done:
    cr_buf_release(&key);
    cr_buf_release(&val);
    return st;
}
