#include "tracker_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "dhis2.h"
#include "tracker_read.h"

void tracker_report_free(struct tracker_report *r)
{
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i].message);
    free(r->errors);
    memset(r, 0, sizeof *r);
}

bool tracker_error_already_deleted(const char *code)
{
    static const char *const gone[] = {"E1082", "E1113", "E1114", "E4017"};
    for (size_t i = 0; code && i < sizeof gone / sizeof *gone; i++)
        if (strcmp(code, gone[i]) == 0)
            return true;
    return false;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? (long)v->valuedouble : 0;
}

static bool seen(const struct tracker_report *r, int type, const char *uid, const char *code)
{
    for (size_t i = 0; i < r->n_errors; i++)
        if (r->errors[i].type == type && strcmp(r->errors[i].uid, uid) == 0 &&
            strcmp(r->errors[i].code, code) == 0)
            return true;
    return false;
}

/* Adds each entry of an errorReports array; uid and type fall back to the object report's. */
static int add_errors(struct tracker_report *r, const cJSON *reports, const char *type_fallback,
                      const char *uid_fallback, struct err *e)
{
    const cJSON *er;
    cJSON_ArrayForEach(er, reports)
    {
        const char *type_text = str(er, "trackerType");
        int type = tracker_type_from_report(type_text ? type_text : type_fallback);
        const char *uid = str(er, "uid") ? str(er, "uid") : uid_fallback ? uid_fallback : "";
        const char *code = str(er, "errorCode") ? str(er, "errorCode") : "";
        if (seen(r, type, uid, code))
            continue;
        if (r->n_errors % 64 == 0) {
            struct tracker_error *grown = realloc(r->errors, (r->n_errors + 64) * sizeof *grown);
            if (!grown)
                return err_set(e, ERR_INTERNAL, "out of memory");
            r->errors = grown;
        }
        struct tracker_error *out = &r->errors[r->n_errors];
        out->type = type;
        snprintf(out->uid, sizeof out->uid, "%s", uid);
        snprintf(out->code, sizeof out->code, "%s", code);
        out->message = strdup(str(er, "message") ? str(er, "message") : "refused, no message given");
        if (!out->message)
            return err_set(e, ERR_INTERNAL, "out of memory");
        r->n_errors++;
    }
    return 0;
}

static int add_bundle_errors(struct tracker_report *r, const cJSON *bundle, struct err *e)
{
    const cJSON *type_report;
    cJSON_ArrayForEach(type_report, cJSON_GetObjectItemCaseSensitive(bundle, "typeReportMap"))
    {
        const cJSON *obj;
        cJSON_ArrayForEach(obj, cJSON_GetObjectItemCaseSensitive(type_report, "objectReports"))
        {
            const char *type = str(obj, "trackerType") ? str(obj, "trackerType") : type_report->string;
            int rc = add_errors(r, cJSON_GetObjectItemCaseSensitive(obj, "errorReports"), type,
                                str(obj, "uid"), e);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int tracker_report_parse(const cJSON *body, struct tracker_report *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    const cJSON *rep = body;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(body, "response");
    if (!cJSON_GetObjectItemCaseSensitive(body, "validationReport") && cJSON_IsObject(inner))
        rep = inner;
    const char *status = str(rep, "status");
    if (!status)
        return err_set(e, ERR_NET, "the answer of /api/tracker is not an import report (no status)");
    snprintf(out->status, sizeof out->status, "%s", status);
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(rep, "stats");
    out->created = num(stats, "created");
    out->updated = num(stats, "updated");
    out->deleted = num(stats, "deleted");
    out->ignored = num(stats, "ignored");
    const cJSON *validation = cJSON_GetObjectItemCaseSensitive(rep, "validationReport");
    int rc = add_errors(out, cJSON_GetObjectItemCaseSensitive(validation, "errorReports"), NULL,
                        NULL, e);
    if (!rc)
        rc = add_bundle_errors(out, cJSON_GetObjectItemCaseSensitive(rep, "bundleReport"), e);
    if (rc)
        tracker_report_free(out);
    return rc;
}

/* Whether a tracker job's notifications (newest first, as DHIS2 lists them) say it is done. */
static bool job_completed(const cJSON *notes)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, notes)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "completed")))
            return true;
    }
    return false;
}

static int await_report(struct dhis2_client *c, const cJSON *added, long timeout_s, cJSON **report,
                        struct err *e)
{
    const char *id = str(cJSON_GetObjectItemCaseSensitive(added, "response"), "id");
    if (!id || strlen(id) > 64 || strpbrk(id, "/?#&"))
        return err_set(e, ERR_NET, "the answer of an async POST /api/tracker names no job id");
    char path[128];
    snprintf(path, sizeof path, "/api/tracker/jobs/%s", id);
    long long deadline = monotonic_ms() + (timeout_s > 0 ? timeout_s : 1800) * 1000LL;
    long delay = 100;
    for (;;) {
        cJSON *notes = NULL;
        int rc = dhis2_get(c, path, NULL, &notes, e);
        bool done = rc == 0 && job_completed(notes);
        cJSON_Delete(notes);
        if (rc)
            return rc;
        if (done)
            break;
        if (monotonic_ms() > deadline)
            return err_set(e, ERR_NET, "the tracker import job %s did not finish in %ld s (the "
                           "target may have restarted and lost it)", id, timeout_s > 0 ? timeout_s : 1800);
        if (!dhis2_wait(c, delay))
            return err_set(e, ERR_CANCELLED, "cancelled while the target imported");
        delay = delay < 2000 ? delay * 2 : 2000;
    }
    char report_path[160];
    snprintf(report_path, sizeof report_path, "%s/report", path);
    return dhis2_get(c, report_path, "reportMode=ERRORS", report, e);
}

int tracker_import(struct dhis2_client *c, const struct tracker_import *opt, const char *json,
                   size_t len, struct tracker_report *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    char *q = NULL;
    if (dhis2_query_add(&q, "importStrategy", opt->strategy) ||
        dhis2_query_add(&q, "atomicMode", opt->atomic_all ? "ALL" : "OBJECT") ||
        dhis2_query_add(&q, "importMode", opt->dry_run ? "VALIDATE" : "COMMIT") ||
        dhis2_query_add(&q, "async", opt->async ? "true" : "false") ||
        dhis2_query_add(&q, "reportMode", "ERRORS")) {
        free(q);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    long status = 0;
    cJSON *answer = NULL, *report = NULL;
    /* the tracker importer reads its body with Jackson, which does not inflate gzip */
    int rc = dhis2_post(c, "/api/tracker", q, json, len, false, &status, &answer, e);
    free(q);
    if (rc == 0 && opt->async)
        rc = await_report(c, answer, opt->async_timeout_s, &report, e);
    if (rc == 0)
        rc = tracker_report_parse(report ? report : answer, out, e);
    cJSON_Delete(answer);
    cJSON_Delete(report);
    return rc;
}
