/* Every route in the table, called without credentials: only the public ones answer. */
#include "harness.h"
#include "http.h"
#include "test.h"

TEST(every_route_but_the_public_ones_answers_401_without_credentials)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    int checked = 0;
    for (const struct route *r = http_routes; r->pattern; r++) {
        char path[256] = "";
        for (const char *p = r->pattern; *p; p++) {
            if (p[0] == '{' && p[1] == '}') {
                strcat(path, "1");
                p++;
            } else {
                strncat(path, p, 1);
            }
        }
        char url[512];
        snprintf(url, sizeof url, "%s%s", s.base, path);
        const char *h[] = {"Content-Type: application/json", NULL};
        struct spec_resp resp;
        spec_http(r->method, url, h, "{}", 2, &resp);
        if (r->auth == ROUTE_AUTH) {
            CHECKF(resp.status == 401, "%s %s without credentials: expected 401, saw %ld", r->method,
                   path, resp.status);
        } else {
            /* public: /health (also as /health/), logging in, the API's description, and
             * /metrics (which checks credentials itself unless DHIS2SYNC_METRICS_PUBLIC=1) */
            CHECKF(strcmp(path, "/health") == 0 || strcmp(path, "/health/") == 0 ||
                       strcmp(path, "/api/session") == 0 || strcmp(path, "/api/openapi.json") == 0 ||
                       (strcmp(path, "/metrics") == 0 && resp.status == 401),
                   "%s %s is public and answered %ld", r->method, path, resp.status);
        }
        spec_resp_free(&resp);
        checked++;
    }
    CHECK(checked > 25);
}
