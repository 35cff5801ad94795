/* mdhttp.c — the HTTP side of metadata imports: POST /api/metadata (its parameters, async as a
 * METADATA_IMPORT task, the ImportReport in a WebMessage: HTTP 409 unless OK, bare for
 * /api/37/ and older) and DELETE /api/<collection>/<id> (a one-object DELETE import answered
 * with an ObjectReport, 404 when absent, 409 when something still uses it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static int parse_opts(const struct request *r, struct md_import_opts *o, char *msg, size_t n)
{
    memset(o, 0, sizeof *o);
    o->atomic_all = true;
    o->api_version = r->api_version;
    const char *s = req_param(r, "importStrategy");
    if (!s || !strcasecmp(s, "CREATE_AND_UPDATE") || !strcasecmp(s, "NEW_AND_UPDATES"))
        o->strategy = STRATEGY_CREATE_AND_UPDATE;
    else if (!strcasecmp(s, "CREATE") || !strcasecmp(s, "NEW"))
        o->strategy = STRATEGY_CREATE;
    else if (!strcasecmp(s, "UPDATE") || !strcasecmp(s, "UPDATES"))
        o->strategy = STRATEGY_UPDATE;
    else if (!strcasecmp(s, "DELETE") || !strcasecmp(s, "DELETES"))
        o->strategy = STRATEGY_DELETE;
    else
        return snprintf(msg, n, "Value '%s' is not valid for parameter importStrategy", s), -1;
    s = req_param(r, "atomicMode");
    if (s && !strcasecmp(s, "NONE"))
        o->atomic_all = false;
    else if (s && strcasecmp(s, "ALL") != 0)
        return snprintf(msg, n, "Value '%s' is not valid for parameter atomicMode", s), -1;
    s = req_param(r, "importMode");
    o->validate = (s && !strcasecmp(s, "VALIDATE")) || req_flag(r, "dryRun", false);
    s = req_param(r, "importReportMode");
    o->report = s && !strcasecmp(s, "FULL") ? MD_REPORT_FULL : s && !strcasecmp(s, "DEBUG") ? MD_REPORT_DEBUG
                                                                                         : MD_REPORT_ERRORS;
    /* mergeMode left the import with 2.41: newer servers ignore the parameter and replace */
    s = req_param(r, "mergeMode");
    o->merge = r->emu->cfg.major == 2 && r->emu->cfg.minor < 41 && s && !strcasecmp(s, "MERGE");
    o->skip_sharing = req_flag(r, "skipSharing", false);
    o->async = req_flag(r, "async", false);
    return 0;
}

/* The report in its WebMessage (bare for /api/37/ and older, as withPlainResponseBefore(V38)). */
static int send_report(struct request *r, cJSON *rep, enum import_status status)
{
    int code = status == IMPORT_SUCCESS ? 200 : 409;
    if (r->api_version && r->api_version < 38)
        return http_send_json(r, code, rep);
    cJSON *wm = cJSON_CreateObject();
    if (!wm || !cJSON_AddStringToObject(wm, "httpStatus", http_status_text(code)) ||
        !cJSON_AddNumberToObject(wm, "httpStatusCode", code) ||
        !cJSON_AddStringToObject(wm, "status", code == 200 ? "OK" : "WARNING") ||
        (code != 200 &&
         !cJSON_AddStringToObject(wm, "message", "One or more errors occurred, please see full details in import report.")) ||
        !cJSON_AddStringToObject(rep, "responseType", "ImportReport")) {
        cJSON_Delete(wm);
        cJSON_Delete(rep);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    /* responseType comes first in DHIS2's answer */
    cJSON *rt = cJSON_DetachItemFromObject(rep, "responseType");
    rt->next = rep->child;
    if (rep->child) {
        rt->prev = rep->child->prev;
        rep->child->prev = rt;
    } else {
        rt->prev = rt;
    }
    rep->child = rt;
    cJSON_AddItemToObject(wm, "response", rep);
    return http_send_json(r, code, wm);
}

int api_md_import(struct request *r)
{
    struct md_import_opts o;
    char msg[256];
    if (parse_opts(r, &o, msg, sizeof msg))
        return http_webmessage(r, 409, "ERROR", msg, NULL);
    /* DHIS2 reads a gzip body (StreamUtils.wrapAndCheckCompressionFormat), as dhis2sync sends
     * one above 64 KB */
    const char *body = r->body ? r->body : "";
    size_t len = r->body_len;
    char *plain = NULL;
    if (IS_GZIP(body, len)) {
        if (!(plain = gunzip(body, len, &len)))
            return http_webmessage(r, 400, "ERROR", "Request body is not a valid gzip stream", NULL);
        body = plain;
    }
    cJSON *probe = cJSON_ParseWithLength(body, len);
    bool ok = cJSON_IsObject(probe);
    cJSON_Delete(probe);
    if (!ok) {
        free(plain);
        return http_webmessage(r, 400, "ERROR", "Request body is not a valid JSON metadata object", NULL);
    }
    if (o.async) {
        char *copy = plain ? plain : malloc(len + 1);
        if (!copy)
            return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
        if (!plain)
            memcpy(copy, body, len + 1);
        return tasks_start(r, copy, len, false, NULL, &o);
    }
    enum import_status status;
    cJSON *rep = md_import_execute(r->emu, body, len, &o, &status);
    free(plain);
    if (!rep)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return send_report(r, rep, status);
}

/* DELETE /api/<collection>/<id>: DHIS2 answers an ObjectReport, 404 when there is no such
 * object, 409 when something still uses it. */
int api_md_delete(struct request *r)
{
    char col[128], payload[512];
    const char *slash = strchr(r->path, '/');
    if (!slash || strchr(slash + 1, '/') || (size_t)(slash - r->path) >= sizeof col)
        return http_webmessage(r, 405, "ERROR", "Request method not supported", NULL);
    snprintf(col, sizeof col, "%.*s", (int)(slash - r->path), r->path);
    pthread_rwlock_rdlock(&r->emu->st.lock);
    bool exists = metadata_collection(&r->emu->md, col) &&
                  strmap_get(&metadata_collection(&r->emu->md, col)->by_uid, slash + 1) >= 0;
    pthread_rwlock_unlock(&r->emu->st.lock);
    char k[96];
    md_short_klass(col, k, sizeof k);
    if (!exists) {
        snprintf(payload, sizeof payload, "%s with id %s could not be found.", k, slash + 1);
        return http_webmessage(r, 404, "ERROR", payload, "E1005");
    }
    cJSON *body = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(body, col), *one = cJSON_CreateObject();
    if (!body || !arr || !one || !cJSON_AddItemToArray(arr, one) || !cJSON_AddStringToObject(one, "id", slash + 1)) {
        cJSON_Delete(body);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    struct md_import_opts o = {.strategy = STRATEGY_DELETE, .atomic_all = true, .report = MD_REPORT_FULL};
    enum import_status status;
    cJSON *rep = text ? md_import_execute(r->emu, text, strlen(text), &o, &status) : NULL;
    free(text);
    if (!rep)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    cJSON *orp = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rep, "typeReports"), 0),
                                         "objectReports"), 0);
    cJSON *wm = cJSON_CreateObject();
    int code = status == IMPORT_SUCCESS ? 200 : 409;
    cJSON *resp = orp ? cJSON_Duplicate(orp, 1) : cJSON_CreateObject();
    cJSON_Delete(rep);
    if (!wm || !resp || !cJSON_AddStringToObject(wm, "httpStatus", http_status_text(code)) ||
        !cJSON_AddNumberToObject(wm, "httpStatusCode", code) ||
        !cJSON_AddStringToObject(wm, "status", code == 200 ? "OK" : "ERROR") ||
        (code != 200 && !cJSON_AddStringToObject(wm, "message", "One or more errors occurred, please see full details in import report.")) ||
        !cJSON_AddStringToObject(resp, "responseType", "ObjectReport")) {
        cJSON_Delete(wm);
        cJSON_Delete(resp);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    cJSON_AddItemToObject(wm, "response", resp);
    return http_send_json(r, code, wm);
}
