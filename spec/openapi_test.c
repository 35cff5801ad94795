/* openapi_test.c — web/openapi.json never drifts from the route table: every route of
 * http_routes is documented under its method, and every documented operation is a route, both
 * public or both authenticated. That each one answers as documented is checked against a live
 * server by spec/web_test.c (spec/browser/openapi.mjs). */
#include <ctype.h>

#include "http.h"
#include "sched_util.h"
#include "test.h"

/* A path with every "{name}" segment written "{}", as the route table writes them. */
static void normalise(const char *path, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = path; *p && n + 3 < size; p++) {
        out[n++] = *p;
        if (*p == '{') {
            p += strcspn(p, "}") - 1;
            if (!p[1])
                break;
        }
    }
    out[n] = '\0';
}

static const cJSON *documented(const cJSON *paths, const char *pattern, const char *method)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, paths) {
        char path[256];
        normalise(item->string, path, sizeof path);
        if (strcmp(path, pattern) != 0)
            continue;
        char lower[16];
        size_t i = 0;
        for (; method[i] && i + 1 < sizeof lower; i++)
            lower[i] = (char)tolower((unsigned char)method[i]);
        lower[i] = '\0';
        return cJSON_GetObjectItem(item, lower);
    }
    return NULL;
}

static cJSON *load_document(void)
{
    char *text = su_read_file("web/openapi.json");
    CHECKF(text, "web/openapi.json cannot be read");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    CHECKF(doc, "web/openapi.json is not JSON");
    return doc;
}

TEST(openapi_documents_every_route_of_the_route_table_as_public_or_not)
{
    cJSON *doc = load_document();
    const cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    for (const struct route *r = http_routes; r->pattern; r++) {
        const cJSON *op = documented(paths, r->pattern, r->method);
        CHECKF(op, "route %s %s is not in web/openapi.json", r->method, r->pattern);
        const cJSON *security = cJSON_GetObjectItem(op, "security");
        int public_in_doc = cJSON_IsArray(security) && cJSON_GetArraySize(security) == 0;
        /* /metrics authenticates itself unless DHIS2SYNC_METRICS_PUBLIC=1: documented as not public */
        int public_route = r->auth == ROUTE_PUBLIC && strcmp(r->pattern, "/metrics") != 0;
        CHECKF(public_in_doc == public_route, "%s %s is %s but web/openapi.json says %s", r->method,
               r->pattern, public_route ? "public" : "authenticated",
               public_in_doc ? "public" : "authenticated");
    }
    cJSON_Delete(doc);
}

TEST(openapi_documents_no_operation_the_server_does_not_have)
{
    cJSON *doc = load_document();
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "paths")) {
        char path[256];
        normalise(item->string, path, sizeof path);
        const cJSON *op;
        cJSON_ArrayForEach(op, item) {
            if (!cJSON_GetObjectItem(op, "operationId"))
                continue;  /* "parameters" shared by the path's operations */
            char method[16];
            size_t i = 0;
            for (; op->string[i] && i + 1 < sizeof method; i++)
                method[i] = (char)toupper((unsigned char)op->string[i]);
            method[i] = '\0';
            int found = 0;
            for (const struct route *r = http_routes; r->pattern && !found; r++)
                found = strcmp(r->pattern, path) == 0 &&
                        (strcmp(r->method, method) == 0 ||
                         (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0));
            CHECKF(found, "web/openapi.json documents %s %s, which is not a route", method, item->string);
        }
    }
    cJSON_Delete(doc);
}
