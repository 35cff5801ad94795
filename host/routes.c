/* routes.c — every route of the server in one table: which ones are public is answered here.
 * Paths not listed: /api/... is 401/404, anything else is the web admin (http.c). */
#include "api.h"

const struct route http_routes[] = {
    {"GET", "/health", api_health, ROUTE_PUBLIC},
    /* the earlier app's URL: monitors probing it must see the database down, not a page */
    {"GET", "/health/", api_health, ROUTE_PUBLIC},
    {"GET", "/api/openapi.json", api_openapi, ROUTE_PUBLIC},
    {"GET", "/api/", api_index, ROUTE_AUTH},
    /* logging in is public by nature; the session's own routes need it */
    {"POST", "/api/session", api_session_create, ROUTE_PUBLIC},
    {"GET", "/api/session", api_session_get, ROUTE_AUTH},
    {"DELETE", "/api/session", api_session_delete, ROUTE_AUTH},

    {"GET", "/api/instances", api_instances_list, ROUTE_AUTH},
    {"POST", "/api/instances", api_instances_create, ROUTE_AUTH},
    {"GET", "/api/instances/{}", api_instances_get, ROUTE_AUTH},
    {"PUT", "/api/instances/{}", api_instances_update, ROUTE_AUTH},
    {"PATCH", "/api/instances/{}", api_instances_update, ROUTE_AUTH},
    {"DELETE", "/api/instances/{}", api_instances_delete, ROUTE_AUTH},
    {"POST", "/api/instances/{}/test", api_instances_test, ROUTE_AUTH},
    {"GET", "/api/instances/{}/metadata/{}", api_metadata_list, ROUTE_AUTH},

    {"GET", "/api/jobs", api_jobs_list, ROUTE_AUTH},
    {"POST", "/api/jobs", api_jobs_create, ROUTE_AUTH},
    {"GET", "/api/jobs/{}", api_jobs_get, ROUTE_AUTH},
    {"PUT", "/api/jobs/{}", api_jobs_update, ROUTE_AUTH},
    {"PATCH", "/api/jobs/{}", api_jobs_update, ROUTE_AUTH},
    {"DELETE", "/api/jobs/{}", api_jobs_delete, ROUTE_AUTH},
    {"POST", "/api/jobs/{}/run", api_jobs_run, ROUTE_AUTH},
    {"GET", "/api/jobs/{}/sample", api_jobs_sample, ROUTE_AUTH},
    {"POST", "/api/jobs/check", api_jobs_check, ROUTE_AUTH},
    {"POST", "/api/jobs/{}/check", api_jobs_check_saved, ROUTE_AUTH},

    {"GET", "/api/runs", api_runs_list, ROUTE_AUTH},
    {"GET", "/api/runs/{}", api_runs_get, ROUTE_AUTH},
    {"POST", "/api/runs/{}/cancel", api_runs_cancel, ROUTE_AUTH},
    {"GET", "/api/runs/{}/conflicts", api_runs_conflicts, ROUTE_AUTH},
    {"GET", "/api/runs/{}/conflicts/groups", api_runs_conflict_groups, ROUTE_AUTH},

    {"GET", "/api/mappings", api_mappings_list, ROUTE_AUTH},
    {"GET", "/api/mappings/{}", api_mappings_get, ROUTE_AUTH},
    {"PUT", "/api/mappings/{}", api_mappings_put, ROUTE_AUTH},
    {"POST", "/api/mappings/{}/check", api_mappings_check, ROUTE_AUTH},
    {"GET", "/api/tokens", api_tokens_list, ROUTE_AUTH},
    {"POST", "/api/tokens", api_tokens_create, ROUTE_AUTH},
    {"DELETE", "/api/tokens/{}", api_tokens_delete, ROUTE_AUTH},
    {"GET", "/api/users", api_users_list, ROUTE_AUTH},
    {"POST", "/api/users", api_users_create, ROUTE_AUTH},
    {"PATCH", "/api/users/{}", api_users_update, ROUTE_AUTH},
    {"DELETE", "/api/users/{}", api_users_delete, ROUTE_AUTH},
    {"POST", "/api/users/me/password", api_users_password, ROUTE_AUTH},

    {"GET", "/docs/mappings.md", api_mappings_help, ROUTE_AUTH},
    {"GET", "/api/schedule", api_schedule, ROUTE_AUTH},
    /* not public unless DHIS2SYNC_METRICS_PUBLIC=1: api_metrics authenticates itself */
    {"GET", "/metrics", api_metrics, ROUTE_PUBLIC},
    {NULL, NULL, NULL, ROUTE_PUBLIC},
};
