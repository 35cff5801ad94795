/* routes.c — every route of the server in one table: which ones are public is answered here.
 * Paths not listed: /api/... is 401/404, anything else is the web admin (http.c). */
#include "api.h"

const struct route http_routes[] = {
    {"GET", "/health", api_health, ROUTE_PUBLIC},
    /* logging in is public by nature; the session's own routes need it */
    {"POST", "/api/session", api_session_create, ROUTE_PUBLIC},
    {"GET", "/api/session", api_session_get, ROUTE_AUTH},
    {"DELETE", "/api/session", api_session_delete, ROUTE_AUTH},
    {NULL, NULL, NULL, ROUTE_PUBLIC},
};
