/* api_index.c — GET /api/ (links to the collections and to the API's description) and
 * GET /api/openapi.json, the OpenAPI 3.1 document of every route, kept as web/openapi.json.
 * spec/openapi_test.c holds it to the route table and to the answers of a live server. */
#include <stdio.h>

#include "api.h"
#include "app.h"

void api_index(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    (void)app;
    (void)rq;
    http_reply_json_text(rs, 200,
                         "{\"links\":{\"instances\":\"/api/instances\",\"jobs\":\"/api/jobs\","
                         "\"runs\":\"/api/runs\",\"mappings\":\"/api/mappings\","
                         "\"users\":\"/api/users\",\"tokens\":\"/api/tokens\","
                         "\"openapi\":\"/api/openapi.json\"}}");
}

void api_openapi(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    (void)rq;
    char file[4096];
    snprintf(file, sizeof file, "%s/openapi.json", app->cfg.web_dir);
    if (http_reply_file(rs, file) != 0)
        http_reply_error(rs, 500, NULL, "the API description %s cannot be read", file);
}
