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
