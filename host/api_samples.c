/* GET /api/jobs/{id}/sample?n=20 — a few data values of the job's selection, read from its
 * source as a run would (same query, no watermark), for trying a mapping on real values. The
 * transfer stops once n values are in: a large selection costs no more than a small one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "datavalue.h"
#include "db.h"
#include "dhis2.h"
#include "instances.h"
#include "jobs.h"
#include "period.h"

struct sample {
    cJSON *values;
    long want;
};

static int keep_values(void *ud, const struct datavalue *vals, size_t n, struct err *e)
{
    struct sample *s = ud;
    for (size_t i = 0; i < n && cJSON_GetArraySize(s->values) < s->want; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return err_set(e, ERR_INTERNAL, "out of memory");
        struct datavalue dv = vals[i];
        for (int k = 0; k < DV_STRINGS; k++) {
            const char *v = *datavalue_string(&dv, (enum datavalue_string)k);
            if (v)
                cJSON_AddStringToObject(o, datavalue_names[k], v);
        }
        cJSON_AddItemToArray(s->values, o);
    }
    /* enough: stop the transfer (the caller knows this "error" for what it is) */
    return cJSON_GetArraySize(s->values) >= s->want ? err_set(e, ERR_CANCELLED, "enough values") : 0;
}

/* A NULL-terminated array of the strings of arr (pointing into it); caller frees the array. */
static const char **strings(const cJSON *arr)
{
    const char **out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *out);
    size_t i = 0;
    const cJSON *item;
    if (out)
        cJSON_ArrayForEach(item, arr) out[i++] = cJSON_GetStringValue(item);
    return out;
}

/* The job's periods: its fixed list, or its last N (ISO text in buf), or none for a window. */
static const char **job_periods(const cJSON *periods, char (*buf)[PERIOD_ISO_MAX], int max,
                                struct err *e)
{
    const cJSON *fixed = cJSON_GetObjectItem(periods, "fixed");
    const cJSON *last = cJSON_GetObjectItem(periods, "last");
    if (fixed)
        return strings(fixed);
    const char **out = calloc((size_t)max + 1, sizeof *out);
    if (!out || !last)
        return out;
    int n = (int)last->valuedouble < max ? (int)last->valuedouble : max;
    struct period ps[64];
    if (n > 64)
        n = 64;
    enum period_type t = period_type_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(periods, "type")));
    if (n < 1 || period_last_n(t, date_today(), n, ps) != 0) {
        free(out);
        err_set(e, ERR_INPUT, "the job's periods cannot be computed");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        period_format(&ps[i], buf[i], PERIOD_ISO_MAX);
        out[i] = buf[i];
    }
    return out;
}

void api_jobs_sample(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long want = 20;
    const char *nq = http_query(rq, "n");
    if (nq) {
        char *end;
        want = strtol(nq, &end, 10);
        if (*end || want < 1 || want > 1000) {
            http_reply_error(rs, 400, NULL, "n must be a whole number from 1 to 1000");
            return;
        }
    }
    struct job job = {0};
    struct instance src = {0};
    struct dhis2_client *client = NULL;
    const char **data_sets = NULL, **groups = NULL, **roots = NULL, **periods = NULL;
    char iso[64][PERIOD_ISO_MAX];
    struct sample s = {cJSON_CreateArray(), want};
    long long id;
    char src_id[24];
    PGconn *c = db_acquire(app->db, &e);
    int rc = !c ? e.code : job_resolve(c, rq->params[0], &id, &e);
    if (rc == 0)
        rc = job_load(c, id, &job, &e);
    if (c)
        db_release(app->db, c);
    if (rc)
        goto fail;
    snprintf(src_id, sizeof src_id, "%lld", job.source_id);
    const cJSON *spec = job.spec, *pspec = cJSON_GetObjectItem(spec, "periods");
    data_sets = strings(cJSON_GetObjectItem(spec, "dataSets"));
    groups = strings(cJSON_GetObjectItem(spec, "dataElementGroups"));
    roots = strings(cJSON_GetObjectItem(spec, "orgUnits"));
    periods = job_periods(pspec, iso, 64, &e);
    if (!s.values || !data_sets || !groups || !roots || !periods) {
        rc = e.code ? e.code : err_set(&e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if ((rc = instance_open(app->db, &app->secret_key, src_id, &src, &e)))
        goto fail;
    struct dhis2_config cfg;
    instance_dhis2_config(&src, &cfg);
    cfg.timeout_s = 30;
    struct dhis2_dv_query q = {
        .data_sets = data_sets[0] ? data_sets : NULL,
        .data_element_groups = groups[0] ? groups : NULL,
        .org_units = roots,
        .children = cJSON_IsTrue(cJSON_GetObjectItem(spec, "children")),
        .periods = periods[0] ? periods : NULL,
        .start_date = periods[0] ? NULL : cJSON_GetStringValue(cJSON_GetObjectItem(pspec, "start")),
        .end_date = periods[0] ? NULL : cJSON_GetStringValue(cJSON_GetObjectItem(pspec, "end")),
        .batch = (size_t)want,
    };
    if (!(client = dhis2_client_new(&cfg, &e))) {
        rc = e.code;
        goto fail;
    }
    rc = dhis2_fetch_datavalues(client, &q, keep_values, &s, NULL, &e);
    if (rc && cJSON_GetArraySize(s.values) < want) {
        http_reply_error(rs, 502, NULL, "reading from the source %s: %s", src.name, e.msg);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "job", job.name);
        cJSON_AddStringToObject(o, "source", src.name);
        cJSON_AddItemToObject(o, "dataValues", s.values);
        s.values = NULL;
    }
    http_reply_json(rs, 200, o);
    goto out;
fail:
    http_reply_err(rs, &e);
out:
    cJSON_Delete(s.values);
    dhis2_client_free(client);
    instance_free(&src);
    job_free(&job);
    free(data_sets);
    free(groups);
    free(roots);
    free(periods);
}
