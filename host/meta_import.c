#include "meta_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhis2.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long count_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? (long)v->valuedouble
                                                                            : 0;
}

/* The ImportReport: the answer itself (2.40, task summaries) or its `response` (2.41+). */
static const cJSON *find_report(const cJSON *answer)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(answer, "response");
    if (cJSON_IsObject(resp) && (cJSON_GetObjectItemCaseSensitive(resp, "typeReports") ||
                                 cJSON_GetObjectItemCaseSensitive(resp, "stats")))
        return resp;
    if (cJSON_GetObjectItemCaseSensitive(answer, "typeReports") ||
        cJSON_GetObjectItemCaseSensitive(answer, "stats"))
        return answer;
    return NULL;
}

int meta_import_parse(const cJSON *answer, struct meta_report *out, meta_refused_fn fn, void *ud,
                      struct err *e)
{
    memset(out, 0, sizeof *out);
    const cJSON *rep = find_report(answer);
    if (!rep) {
        const char *msg = str_of(answer, "message");
        return err_set(e, ERR_NET, "the answer holds no import report%s%.200s", msg ? ": " : "",
                       msg ? msg : "");
    }
    snprintf(out->status, sizeof out->status, "%s", str_of(rep, "status") ? str_of(rep, "status") : "");
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(rep, "stats");
    out->created = count_of(stats, "created");
    out->updated = count_of(stats, "updated");
    out->deleted = count_of(stats, "deleted");
    out->ignored = count_of(stats, "ignored");
    out->total = count_of(stats, "total");
    const cJSON *tr, *orep;
    cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(rep, "typeReports"))
    {
        const char *klass = str_of(tr, "klass");
        cJSON_ArrayForEach(orep, cJSON_GetObjectItemCaseSensitive(tr, "objectReports"))
        {
            const cJSON *errs = cJSON_GetObjectItemCaseSensitive(orep, "errorReports");
            int n = cJSON_IsArray(errs) ? cJSON_GetArraySize(errs) : 0;
            if (n == 0)
                continue;
            out->errors += n;
            out->refused++;
            const cJSON *first = cJSON_GetArrayItem(errs, 0);
            const char *uid = str_of(orep, "uid");
            if (!uid)
                uid = str_of(first, "mainId");
            if (fn)
                fn(ud, str_of(orep, "klass") ? str_of(orep, "klass") : klass, uid,
                   str_of(first, "errorCode"), str_of(first, "message"), errs);
        }
    }
    return 0;
}

static int build_query(const struct meta_import_options *o, char **q)
{
    int rc = dhis2_query_add(q, "importStrategy", o->strategy ? o->strategy : "CREATE_AND_UPDATE");
    rc |= dhis2_query_add(q, "atomicMode", o->atomic_all ? "ALL" : "NONE");
    rc |= dhis2_query_add(q, "identifier", "UID");
    rc |= dhis2_query_add(q, "importReportMode", "ERRORS");
    rc |= dhis2_query_add(q, "importMode", o->dry_run ? "VALIDATE" : "COMMIT");
    if (o->async)
        rc |= dhis2_query_add(q, "async", "true");
    return rc;
}

int meta_import_post(struct dhis2_client *c, const char *json, size_t len,
                     const struct meta_import_options *o, struct meta_report *out,
                     meta_refused_fn fn, void *ud, struct err *e)
{
    char *q = NULL;
    cJSON *answer = NULL, *summary = NULL;
    long status = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if (build_query(o, &q) != 0) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if ((rc = dhis2_post(c, "/api/metadata", q, json, len, true, &status, &answer, e)) != 0)
        goto out;
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(answer, "response");
    const char *task = str_of(resp, "id");
    if (o->async && !find_report(answer) && task) {
        if ((rc = dhis2_await_task(c, "METADATA_IMPORT", task,
                                   o->async_timeout_s > 0 ? o->async_timeout_s : 1800, &summary,
                                   e)) != 0)
            goto out;
        rc = meta_import_parse(summary, out, fn, ud, e);
    } else {
        rc = meta_import_parse(answer, out, fn, ud, e);
    }
    if (rc) {
        char why[sizeof e->msg];
        snprintf(why, sizeof why, "%s", e->msg);
        rc = err_set(e, rc, "%s/api/metadata (HTTP %ld): %s", dhis2_client_base_url(c), status, why);
    }
out:
    cJSON_Delete(answer);
    cJSON_Delete(summary);
    free(q);
    return rc;
}
