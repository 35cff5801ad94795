/* GET /metrics — Prometheus text format. Authenticated like the API (Bearer token or session)
 * unless DHIS2SYNC_METRICS_PUBLIC=1; the route is listed as public in routes.c and this
 * handler decides, because the choice is made at start from the configuration. */
#include "api.h"

#include <stdlib.h>

#include "app.h"
#include "auth.h"
#include "db.h"
#include "mapping_registry.h"
#include "metrics.h"

/* The registry keeps its own totals; they are copied in at each scrape. */
static void copy_mapping_counters(struct mapping_registry *reg)
{
    unsigned long reloads = 0, failures = 0;
    mapping_registry_counters(reg, &reloads, &failures);
    metrics_mapping_totals(reloads, failures);
    struct mapping_info *list = NULL;
    size_t n = 0;
    struct err e = {0};
    if (mapping_registry_list(reg, &list, &n, &e) == 0) {
        long in_error = 0;
        for (size_t i = 0; i < n; i++)
            in_error += list[i].has_error;
        metrics_mapping_errors_set(in_error);
    }
    free(list);
}

void api_metrics(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    if (!app->cfg.metrics_public && auth_check(app, rq, &e) != 0) {
        http_reply_err(rs, &e);
        if (e.code == ERR_AUTH)
            http_add_header(rs, "WWW-Authenticate", "Bearer realm=\"dhis2sync\"");
        return;
    }
    if (app->mappings)
        copy_mapping_counters(app->mappings);
    PGconn *c = db_acquire(app->db, &e);
    char *text = NULL;
    size_t len = 0;
    int rc = metrics_render(c, &text, &len, &e);
    if (c)
        db_release(app->db, c);
    if (rc) {
        http_reply_err(rs, &e);
        return;
    }
    free(rs->body);
    rs->status = 200;
    rs->body = text;
    rs->len = len;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    http_add_header(rs, "Cache-Control", "no-store");
}
