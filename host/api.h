/* api.h — the handlers behind http_routes (routes.c), one api_*.c file per resource.
 * Each handler validates its input, talks to the database through db.h and answers with the
 * reply helpers of http.h; none of them writes SQL built from input. */
#ifndef DHIS2SYNC_API_H
#define DHIS2SYNC_API_H

#include "http.h"

/* Runs sql, which yields one row of one JSON column, and answers it with status; no row (or
 * NULL) answers 404 with not_found. */
void api_reply_query(struct app *app, struct http_resp *rs, int status, const char *sql, int n,
                     const char *const *params, const char *not_found);
/* ?page/?pageSize as SQL LIMIT and OFFSET text, plus the page number; -1 after a 400. */
int api_paging_params(const struct http_req *rq, struct http_resp *rs, char limit[24],
                      char offset[24], char page_text[24]);
/* A page of `table` in the list shape {"<table>":[…],"pager":{page,pageSize,total}}, each
 * row shown by <row_json>(row), ordered by name. table and row_json are ours, never input. */
void api_reply_page(struct app *app, struct http_req *rq, struct http_resp *rs, const char *table,
                    const char *row_json);
/* The same under another key than the table's name. */
void api_reply_page_as(struct app *app, struct http_req *rq, struct http_resp *rs,
                       const char *key, const char *table, const char *row_json);

void api_health(struct app *app, struct http_req *rq, struct http_resp *rs);
/* api_index.c: GET /api/ and the OpenAPI document */
void api_index(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_openapi(struct app *app, struct http_req *rq, struct http_resp *rs);
/* api_session.c */
void api_session_create(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_session_get(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_session_delete(struct app *app, struct http_req *rq, struct http_resp *rs);

void api_instances_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_instances_create(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_instances_get(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_instances_update(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_instances_delete(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_instances_test(struct app *app, struct http_req *rq, struct http_resp *rs);
/* GET /api/instances/{id}/metadata/{dataSets|dataElementGroups|organisationUnits}
 * ?fields=&filter= (filter repeatable): {"<kind>":[…],"truncated":bool}; 502 if DHIS2 fails. */
void api_metadata_list(struct app *app, struct http_req *rq, struct http_resp *rs);

void api_jobs_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_create(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_get(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_update(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_delete(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_run(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_check(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_check_saved(struct app *app, struct http_req *rq, struct http_resp *rs);

void api_runs_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_runs_get(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_runs_cancel(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_runs_conflicts(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_runs_conflict_groups(struct app *app, struct http_req *rq, struct http_resp *rs);

void api_mappings_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_mappings_get(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_mappings_put(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_mappings_check(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_mappings_help(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_schedule(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_jobs_sample(struct app *app, struct http_req *rq, struct http_resp *rs);

void api_metrics(struct app *app, struct http_req *rq, struct http_resp *rs);

/* api_tokens.c: the API tokens of `dhis2sync token`; a token is shown once, when made. */
void api_tokens_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_tokens_create(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_tokens_delete(struct app *app, struct http_req *rq, struct http_resp *rs);

/* api_users.c: the people who log in; at least one enabled user always remains. */
void api_users_list(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_users_create(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_users_update(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_users_delete(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_users_password(struct app *app, struct http_req *rq, struct http_resp *rs);

#endif
