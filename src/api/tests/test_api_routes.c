/*
 * test_api_routes.c -- the route table (api_routes, routes.c) against the OpenAPI
 * document the server serves at /openapi.json, over real HTTP on a running server
 * (embedded shape: SQLite, local blobs, no workers):
 *   - the document: OpenAPI 3, every $ref resolves, every {param} of a path declared
 *     as a required path parameter, every operation with responses
 *   - every route of the table is documented (path and method), with the bearer
 *     security and a 401 answer exactly when the table says it needs a token
 *   - every documented operation is a route of the table, and answers -- with real
 *     ids, bodies and a presigned query -- neither 404 nor 405; without its token a
 *     token route answers 401
 *   - a path of no route answers 404, a route's path with another method 405 with Allow
 *   - the origin the web page's policy takes from an upload URL (api_web_origin)
 */
#include "api/api_int.h"
#include "check.h"
#include "core/mem.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "routes-test-secret-0123456789"

static int port;

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    size_t n = sz * nm;
    char *np = realloc(b->p, b->n + n + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->n, d, n);
    b->p = np;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static size_t on_header(char *d, size_t sz, size_t nm, void *ud)
{
    size_t n = sz * nm;
    if (n > 6 && strncasecmp(d, "Allow:", 6) == 0)
        snprintf(ud, 64, "%.*s", (int)(n - 6), d + 6);
    return n;
}

/* The status of METHOD path (+ body); *out the body (free), allow the Allow header. */
static long http(const char *method, const char *path, const char *token, const char *body,
                 char **out, char allow[64])
{
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    buf b = {0};
    struct curl_slist *h = NULL;
    char auth[API_JWT_MAX + 64];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    char al[64] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, al);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (allow)
        snprintf(allow, 64, "%s", al);
    if (out)
        *out = b.p ? b.p : strdup("");
    else
        free(b.p);
    return code;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

static const char *lookup(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    for (int i = 0; kv[i]; i += 2)
        if (strcmp(kv[i], name) == 0)
            return kv[i + 1];
    return NULL;
}

/* ---- the document on its own ---------------------------------------------------- */

/* Every {"$ref": "#/components/schemas/X"} below `v` names an existing schema. */
static void check_refs(json_t *doc, json_t *v, int *nrefs)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(x)) {
                const char *r = json_string_value(x);
                const char *pre = "#/components/schemas/";
                (*nrefs)++;
                CHECK_MSG(strncmp(r, pre, strlen(pre)) == 0 &&
                              json_object_get(
                                  json_object_get(json_object_get(doc, "components"), "schemas"),
                                  r + strlen(pre)) != NULL,
                          "dangling $ref %s", r);
            } else {
                check_refs(doc, x, nrefs);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_refs(doc, x, nrefs);
    }
}

/* Whether `name` is a required path parameter of the path item or the operation. */
static int path_param_declared(json_t *item, json_t *op, const char *name)
{
    json_t *lists[2] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(lists[l], i, p)
        {
            if (strcmp(jstr(p, "in"), "path") == 0 && strcmp(jstr(p, "name"), name) == 0 &&
                json_is_true(json_object_get(p, "required")))
                return 1;
        }
    }
    return 0;
}

static const char *const methods[] = {"get",   "put",  "post",    "delete",
                                      "patch", "head", "options", NULL};

static void check_document(json_t *doc)
{
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    CHECK_MSG(v != NULL && strncmp(v, "3.", 2) == 0, "openapi version %s", v ? v : "(none)");
    CHECK(json_is_string(json_object_get(json_object_get(doc, "info"), "title")));
    CHECK(json_is_string(json_object_get(json_object_get(doc, "info"), "version")));
    int nrefs = 0;
    check_refs(doc, doc, &nrefs);
    CHECK(nrefs > 10);
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        for (int m = 0; methods[m]; m++) {
            json_t *op = json_object_get(item, methods[m]);
            if (op == NULL)
                continue;
            CHECK_MSG(json_object_size(json_object_get(op, "responses")) > 0, "%s %s: responses",
                      methods[m], path);
            CHECK_MSG(json_is_string(json_object_get(op, "operationId")), "%s %s: operationId",
                      methods[m], path);
            for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
                char name[64];
                size_t n = strcspn(p + 1, "}");
                snprintf(name, sizeof name, "%.*s", (int)n, p + 1);
                CHECK_MSG(path_param_declared(item, op, name), "%s %s: {%s} not declared",
                          methods[m], path, name);
            }
        }
    }
}

/* ---- table vs document ------------------------------------------------------------ */

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
    out[i] = '\0';
}

static void check_table_documented(json_t *paths)
{
    for (int i = 0; i < api_routes_n; i++) {
        const api_route *r = &api_routes[i];
        char m[16];
        lower(r->method, m, sizeof m);
        json_t *op = json_object_get(json_object_get(paths, r->path), m);
        CHECK_MSG(op != NULL, "route %s %s is not in openapi.json", r->method, r->path);
        if (op == NULL)
            continue;
        int secured = json_array_size(json_object_get(op, "security")) > 0;
        int has401 = json_object_get(json_object_get(op, "responses"), "401") != NULL;
        int auth = (r->flags & API_ROUTE_AUTH) != 0;
        CHECK_MSG(secured == auth && has401 == auth, "%s %s: security %d, 401 %d, table auth %d",
                  r->method, r->path, secured, has401, auth);
    }
}

/* What a documented operation is called with: the path with real ids in place of its
 * parameters (+ the presigned query of /blobs/), and a body. */
typedef struct fixture {
    char session_id[64], job_id[64], blob_get_query[512], blob_put_query[512], blob_key[600];
} fixture;

static void concrete(const char *tmpl, const char *method, const fixture *fx, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 1 < cap;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
            const char *v = strcmp(name, "session_id") == 0 ? fx->session_id
                            : strcmp(name, "job_id") == 0   ? fx->job_id
                            : strcmp(name, "key") == 0      ? fx->blob_key
                                                            : "unknown";
            n += (size_t)snprintf(out + n, cap - n, "%s", v);
            p = e + 1;
        } else {
            out[n++] = *p++;
            out[n] = '\0';
        }
    }
    if (strncmp(tmpl, BLOB_LOCAL_URL_PREFIX, strlen(BLOB_LOCAL_URL_PREFIX)) == 0)
        snprintf(out + n, cap - n, "?%s",
                 strcmp(method, "PUT") == 0 ? fx->blob_put_query : fx->blob_get_query);
}

static const char *body_for(const char *method, const char *path, const fixture *fx, char *buf,
                            size_t cap)
{
    if (strcmp(method, "GET") == 0)
        return NULL;
    if (strstr(path, "upload/complete"))
        snprintf(buf, cap, "{\"job_id\":\"%s\"}", fx->job_id);
    else if (strcmp(path, API_PREFIX "sessions") == 0)
        snprintf(buf, cap, "{\"title\":\"Nets\"}");
    else if (strncmp(path, BLOB_LOCAL_URL_PREFIX, strlen(BLOB_LOCAL_URL_PREFIX)) == 0)
        snprintf(buf, cap, "bytes of an object");
    else
        snprintf(buf, cap, "{}");
    return buf;
}

static void check_documented_answer(api_server *srv, json_t *paths, const fixture *fx,
                                    const char *tok)
{
    const char *path;
    json_t *item;
    int ops = 0;
    json_object_foreach(paths, path, item)
    {
        for (int m = 0; methods[m]; m++) {
            if (json_object_get(item, methods[m]) == NULL)
                continue;
            ops++;
            char method[16];
            snprintf(method, sizeof method, "%s", methods[m]);
            for (char *c = method; *c; c++)
                *c = (char)(*c - 'a' + 'A');
            char url[2048], body[256];
            concrete(path, method, fx, url, sizeof url);
            char bare[2048];
            snprintf(bare, sizeof bare, "%s", url);
            bare[strcspn(bare, "?")] = '\0';
            const api_route *r = api_route_find(srv, bare, method);
            CHECK_MSG(r != NULL && strcmp(r->path, path) == 0,
                      "documented %s %s has no route in the table", method, path);
            char *resp = NULL;
            long code =
                http(method, url, tok, body_for(method, path, fx, body, sizeof body), &resp, NULL);
            CHECK_MSG(code != 0 && code != 404 && code != 405, "%s %s -> %ld %.200s", method, url,
                      code, resp);
            free(resp);
            if (r != NULL && (r->flags & API_ROUTE_AUTH))
                CHECK_MSG(http(method, url, NULL, body_for(method, path, fx, body, sizeof body),
                               NULL, NULL) == 401,
                          "%s %s without a token", method, path);
        }
    }
    CHECK_INT_EQ(ops, api_routes_n);
}

/* ---- the web page's upload origin ---------------------------------------------------- */

static void check_web_origin(void)
{
    static const char *const ok[][2] = {
        {"http://127.0.0.1:8000/blobs/k?method=PUT&sig=ab", "http://127.0.0.1:8000"},
        {"https://b.s3.us-east-1.amazonaws.com/coach_plus/x.mp4?X-Amz-Date=1",
         "https://b.s3.us-east-1.amazonaws.com"},
        {"http://[::1]:9000/bucket/key", "http://[::1]:9000"},
        {"https://crease.example.com?x", "https://crease.example.com"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[128] = "";
        CHECK_MSG(api_web_origin(ok[i][0], out, sizeof out) == 0 && strcmp(out, ok[i][1]) == 0,
                  "%s -> %s", ok[i][0], out);
    }
    /* a path, another scheme, no host, what could break out of a CSP source */
    static const char *const bad[] = {"/blobs/k?sig=1", "ftp://h/k",           "http:///k",
                                      "http://a b/k",   "http://h;x/k",        "http://u@h/k",
                                      "http://h'/k",    "javascript:alert(1)", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[128] = "";
        CHECK_MSG(api_web_origin(bad[i], out, sizeof out) == -1, "%s accepted", bad[i]);
    }
    char small[8];
    CHECK(api_web_origin("http://127.0.0.1:8000/x", small, sizeof small) == -1);
}

/* ---- the server -------------------------------------------------------------------- */

int main(void)
{
    cr_mem_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    check_web_origin();
    char dir[] = "/tmp/crease-routes-test-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char db[600], blobs[600];
    snprintf(db, sizeof db, "sqlite:///%s/crease.db", dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    const char *kv[] = {"DATABASE_URL", db,          "CREASE_BLOB_DIR", blobs, "APP_SECRET_KEY",
                        SECRET,         "LOG_LEVEL", "error",           NULL};
    cr_config cfg;
    cr_err e = {0};
    CHECK_MSG(cr_config_parse(&cfg, lookup, (void *)kv, &e) == CR_OK, "%s", cr_err_msg(&e));
    api_options o = {0};
    api_server *srv = NULL;
    CHECK_MSG(api_server_start(&cfg, &o, &srv, &e) == CR_OK, "%s", cr_err_msg(&e));
    if (srv == NULL)
        return check_exit();
    port = api_server_port(srv);
    char *tok = NULL;
    int64_t now = (int64_t)time(NULL);
    CHECK(api_jwt_sign(SECRET, "coach-r", now, now + 600, &tok, &e) == CR_OK);

    char *body = NULL;
    CHECK_INT_EQ(http("GET", "/openapi.json", NULL, NULL, &body, NULL), 200);
    json_error_t je;
    json_t *doc = json_loads(body, 0, &je);
    CHECK_MSG(doc != NULL, "openapi.json: %s at line %d", je.text, je.line);
    free(body);
    json_t *paths = json_object_get(doc, "paths");
    check_document(doc);
    check_table_documented(paths);

    /* Real ids: a session, a job of it (its upload URL gives /blobs/'s query). */
    fixture fx = {0};
    CHECK_INT_EQ(http("POST", API_PREFIX "sessions", tok, "{\"title\":\"Nets\"}", &body, NULL),
                 200);
    json_t *j = json_loads(body, 0, NULL);
    snprintf(fx.session_id, sizeof fx.session_id, "%s", jstr(j, "id"));
    json_decref(j);
    free(body);
    char ini[128];
    snprintf(ini, sizeof ini, "{\"session_id\":\"%s\"}", fx.session_id);
    CHECK_INT_EQ(http("POST", API_PREFIX "videos/upload/initiate", tok, ini, &body, NULL), 200);
    j = json_loads(body, 0, NULL);
    snprintf(fx.job_id, sizeof fx.job_id, "%s", jstr(j, "job_id"));
    const char *up = json_string_value(json_object_get(j, "upload_url"));
    const char *at = up ? strstr(up, BLOB_LOCAL_URL_PREFIX) : NULL;
    CHECK(at != NULL);
    if (at != NULL) {
        const char *q = strchr(at, '?');
        snprintf(fx.blob_key, sizeof fx.blob_key, "%.*s",
                 (int)(q - at - strlen(BLOB_LOCAL_URL_PREFIX)), at + strlen(BLOB_LOCAL_URL_PREFIX));
        snprintf(fx.blob_put_query, sizeof fx.blob_put_query, "%s", q + 1);
    }
    json_decref(j);
    free(body);
    /* the object exists, so that its GET answers 200 (a missing one is a 404 of the
     * route, which the check below could not tell from a missing route) */
    char put_path[2048];
    snprintf(put_path, sizeof put_path, "%s%s?%s", BLOB_LOCAL_URL_PREFIX, fx.blob_key,
             fx.blob_put_query);
    CHECK_INT_EQ(http("PUT", put_path, NULL, "not a video", NULL, NULL), 200);
    /* A presigned GET of the same key, signed as the server signs (same folder, same
     * secret). */
    blob_store *bs = NULL;
    char *get_url = NULL;
    CHECK(blob_open_local(blobs, SECRET, NULL, &bs, &e) == CR_OK);
    CHECK(blob_presign(bs, fx.blob_key, BLOB_GET, 600, &get_url, &e) == CR_OK);
    if (get_url != NULL && strchr(get_url, '?'))
        snprintf(fx.blob_get_query, sizeof fx.blob_get_query, "%s", strchr(get_url, '?') + 1);
    cr_free(get_url);
    blob_close(bs);

    check_documented_answer(srv, paths, &fx, tok);

    /* no route: 404; a route's path with another method: 405 and Allow */
    char allow[64];
    CHECK_INT_EQ(http("GET", "/no/such/route", NULL, NULL, NULL, NULL), 404);
    CHECK_INT_EQ(http("GET", API_PREFIX "no-such", tok, NULL, NULL, NULL), 404);
    CHECK_INT_EQ(http("DELETE", "/metrics", NULL, NULL, NULL, allow), 405);
    CHECK_MSG(strstr(allow, "GET") != NULL, "Allow: %s", allow);
    CHECK_INT_EQ(http("PUT", API_PREFIX "sessions", tok, "{}", NULL, allow), 405);
    CHECK_MSG(strstr(allow, "GET") != NULL && strstr(allow, "POST") != NULL, "Allow: %s", allow);
    /* a token route's 405 comes after its 401 (the route exists; the caller is nobody) */
    CHECK_INT_EQ(http("PUT", API_PREFIX "sessions", NULL, "{}", NULL, NULL), 401);

    json_decref(doc);
    cr_free(tok);
    api_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    curl_global_cleanup();
    return check_exit();
}
