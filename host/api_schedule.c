/* GET /api/schedule?cron=EXPR — a schedule in words and its next five times, from the same
 * host/cron.c the scheduler uses, so that what the job form says is what will happen. */
#include <stdio.h>
#include <time.h>

#include "api.h"
#include "cron.h"

void api_schedule(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    (void)app;
    const char *expr = http_query(rq, "cron");
    struct err e = {0};
    struct cron c;
    char words[512];
    if (!expr || !*expr) {
        http_reply_error(rs, 422, NULL, "Schedule is required: ?cron=EXPR");
        return;
    }
    if (cron_parse(expr, &c, &e) != 0 || cron_describe(expr, words, sizeof words, &e) != 0) {
        http_reply_error(rs, 422, NULL, "%s", e.msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *next = o ? cJSON_AddArrayToObject(o, "next") : NULL;
    if (!next) {
        cJSON_Delete(o);
        http_reply_error(rs, 500, NULL, "out of memory");
        return;
    }
    cJSON_AddStringToObject(o, "description", words);
    time_t t = time(NULL);
    for (int i = 0; i < 5 && (t = cron_next(&c, t)) != -1; i++) {
        struct tm tm;
        char iso[32];
        gmtime_r(&t, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cJSON_AddItemToArray(next, cJSON_CreateString(iso));
    }
    http_reply_json(rs, 200, o);
}
