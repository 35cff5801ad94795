/* api.h — the handlers behind http_routes (routes.c), one api_*.c file per resource.
 * Each handler validates its input, talks to the database through db.h and answers with the
 * reply helpers of http.h; none of them writes SQL built from input. */
#ifndef DHIS2SYNC_API_H
#define DHIS2SYNC_API_H

#include "http.h"

void api_health(struct app *app, struct http_req *rq, struct http_resp *rs);
void api_metrics(struct app *app, struct http_req *rq, struct http_resp *rs);

#endif
