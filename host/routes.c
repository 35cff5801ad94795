/* routes.c — every route of the server in one table: which ones are public is answered here.
 * Paths not listed: /api/... is 401/404, anything else is the web admin (http.c). */
#include "api.h"

const struct route http_routes[] = {
    {"GET", "/health", api_health, ROUTE_PUBLIC},
    /* not public unless DHIS2SYNC_METRICS_PUBLIC=1: api_metrics authenticates itself */
    {"GET", "/metrics", api_metrics, ROUTE_PUBLIC},
    {NULL, NULL, NULL, ROUTE_PUBLIC},
};
