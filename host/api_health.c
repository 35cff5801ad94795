/* GET /health — public: is this process up and can it reach its database? */
#include "api.h"

#include "app.h"
#include "config.h"
#include "db.h"

void api_health(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    (void)rq;
    struct err e = {0};
    int db_ok = db_ping(app->db, &e) == 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", db_ok ? "ok" : "error");
    cJSON_AddStringToObject(o, "db", db_ok ? "ok" : "unreachable");
    cJSON_AddStringToObject(o, "version", DHIS2SYNC_VERSION);
    http_reply_json(rs, db_ok ? 200 : 503, o);
}
