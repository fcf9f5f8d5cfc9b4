/*
 * fuzz_api_body.c -- the request bodies of the JSON routes (api_int.h): the body as
 * libmicrohttpd hands it over in pieces (api_request_body), parsed as a JSON object
 * (api_body_parse), then read as each route reads it: upload initiate
 * (api_initiate_fields), upload complete (api_complete_fields, then the id check of
 * blob_id_valid), session create (api_session_fields).
 *
 * Input: one byte, then the body.  The byte's low 6 bits + 1 are the size of the
 * pieces the body arrives in; bit 6 is GPU_PROCESSING_ENABLED; bit 7 sends the body 64
 * times over (bodies beyond API_BODY_MAX are refused).
 *
 * Invariants checked: the body is kept byte for byte up to API_BODY_MAX and dropped
 * beyond; a parsed body is an object ("" is {}); an accepted initiate body gives values
 * in the documented domains (analysis mode, sample_fps 1..30, title within
 * STORE_TITLE_MAX); an accepted job id fits STORE_ID_MAX; accepted session fields have
 * a title, and player_ids text that reads back as the list sent; every refusal has a
 * message.
 */
#include "fuzz.h"

#include "analysis/analysis.h"
#include "api/api_int.h"
#include "core/log.h"
#include "core/mem.h"

#include <string.h>

FUZZ_INIT_QUIET

static void initiate(json_t *b, int gpu)
{
    pipeline_submit_opts po;
    memset(&po, 0, sizeof po);
    const char *bad = api_initiate_fields(b, gpu, &po);
    if (bad != NULL) {
        FUZZ_CHECK(bad[0] != '\0', "empty refusal");
        return;
    }
    FUZZ_CHECK(po.analysis_mode == NULL || analysis_mode_find(po.analysis_mode) >= 0,
               "analysis_mode '%s' accepted", po.analysis_mode);
    FUZZ_CHECK(po.sample_fps == 0 || (po.sample_fps >= 1 && po.sample_fps <= 30 &&
                                      po.sample_fps == (double)(int)po.sample_fps),
               "sample_fps %g accepted", po.sample_fps);
    FUZZ_CHECK(po.include_frames == 0 || po.include_frames == 1, "include_frames %d",
               po.include_frames);
    FUZZ_CHECK(po.chunked == 0 || po.chunked == 1, "chunked %d", po.chunked);
    json_t *dm = json_object_get(b, "deep_mode");
    if (dm == NULL || json_is_null(dm))
        FUZZ_CHECK(po.chunked == gpu, "deep_mode absent, chunked %d", po.chunked);
    FUZZ_CHECK(po.title == NULL || strlen(po.title) < STORE_TITLE_MAX, "title of %zu bytes",
               strlen(po.title));
}

static void complete(json_t *b)
{
    char id[STORE_ID_MAX];
    memset(id, 'x', sizeof id);
    const char *bad = api_complete_fields(b, id);
    FUZZ_CHECK(memchr(id, '\0', sizeof id) != NULL, "job id not terminated");
    if (bad != NULL) {
        FUZZ_CHECK(bad[0] != '\0' && id[0] == '\0', "refusal without a message or with an id");
        return;
    }
    const char *v = json_string_value(json_object_get(b, "job_id"));
    FUZZ_CHECK(v != NULL && strcmp(id, v) == 0, "job id '%s' of '%s'", id, v ? v : "(none)");
    blob_id_valid(id); /* what load_own_job asks next; any answer will do */
}

static void session(json_t *b)
{
    store_session_new sn;
    memset(&sn, 0, sizeof sn);
    char *players = (char *)&players;
    cr_err err = {0};
    cr_status st = api_session_fields(b, &sn, &players, &err);
    json_t *given = json_object_get(b, "player_ids");
    if (st != CR_OK) {
        FUZZ_CHECK(st == CR_ERR_INVALID || st == CR_ERR_NOMEM, "status %s", cr_status_str(st));
        FUZZ_CHECK(err.msg[0] != '\0', "refusal without a message");
        FUZZ_CHECK(players == NULL || json_is_array(given), "player text left on a refusal");
        cr_free(players);
        return;
    }
    FUZZ_CHECK(sn.title != NULL, "accepted without a title");
    if (given == NULL || json_is_null(given)) {
        FUZZ_CHECK(players == NULL && sn.player_ids_json == NULL, "player_ids out of nothing");
    } else {
        FUZZ_CHECK(players != NULL && sn.player_ids_json == players, "player_ids text missing");
        json_t *back = json_loads(players, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(back != NULL && json_equal(back, given), "player_ids %s do not read back",
                   players);
        json_decref(back);
    }
    cr_free(players);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned opt = data[0];
    const char *body = (const char *)data + 1;
    size_t n = size - 1, piece = (opt & 63) + 1;
    int repeat = opt & 128 ? 64 : 1;
    api_request rq;
    memset(&rq, 0, sizeof rq);
    rq.fd = -1;
    for (int r = 0; r < repeat; r++)
        for (size_t off = 0; off < n; off += piece)
            FUZZ_CHECK(api_request_body(&rq, body + off, n - off < piece ? n - off : piece) ==
                           MHD_YES,
                       "body refused");
    size_t total = n * (size_t)repeat;
    if (total > API_BODY_MAX) {
        FUZZ_CHECK(rq.too_large && rq.body.len == 0, "a body of %zu bytes kept", total);
        cr_buf_release(&rq.body);
        return 0;
    }
    FUZZ_CHECK(!rq.too_large && rq.body.len == total, "body of %zu bytes kept as %zu", total,
               rq.body.len);
    for (int r = 0; n > 0 && r < repeat; r++)
        FUZZ_CHECK(memcmp(rq.body.p + (size_t)r * n, body, n) == 0, "body bytes changed");
    json_t *b = api_body_parse(rq.body.p, rq.body.len);
    if (total == 0)
        FUZZ_CHECK(json_is_object(b) && json_object_size(b) == 0, "an empty body is not {}");
    if (b != NULL) {
        FUZZ_CHECK(json_is_object(b), "a body parsed as a non-object");
        initiate(b, (opt >> 6) & 1);
        complete(b);
        session(b);
        json_decref(b);
    }
    cr_buf_release(&rq.body);
    return 0;
}
