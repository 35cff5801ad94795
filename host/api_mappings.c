/* /api/mappings — the mapping scripts: load state, source, validated atomic saves, and trying
 * a mapping (saved, or an unsaved draft) on sample values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "app.h"
#include "check.h"
#include "mapping_registry.h"

static void add_error(cJSON *o, const struct mapping_info *mi)
{
    if (!mi->has_error) {
        cJSON_AddNullToObject(o, "error");
        return;
    }
    cJSON *err = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(err, "file", mi->error_file);
    cJSON_AddNumberToObject(err, "line", mi->error_line);
    cJSON_AddStringToObject(err, "message", mi->error_message);
}

static cJSON *info_json(const struct mapping_info *mi)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", mi->name);
    /* a failed save shows as the error it is, even while the last good version stays in use */
    cJSON_AddStringToObject(o, "state", mi->has_error || !mi->loaded ? "error" : "loaded");
    if (mi->version[0])
        cJSON_AddStringToObject(o, "version", mi->version);
    else
        cJSON_AddNullToObject(o, "version");
    add_error(o, mi);
    cJSON_AddNumberToObject(o, "reloads", (double)mi->reloads);
    cJSON_AddNumberToObject(o, "errors", (double)mi->errors);
    return o;
}

void api_mappings_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    long page, size;
    if (http_paging(rq, rs, &page, &size) != 0)
        return;
    struct err e = {0};
    struct mapping_info *list = NULL;
    size_t n = 0;
    if (mapping_registry_list(app->mappings, &list, &n, &e) != 0) {
        http_reply_err(rs, &e);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "mappings");
    for (size_t i = (size_t)((page - 1) * size); i < n && i < (size_t)(page * size); i++)
        cJSON_AddItemToArray(arr, info_json(&list[i]));
    cJSON *pager = cJSON_AddObjectToObject(o, "pager");
    cJSON_AddNumberToObject(pager, "page", (double)page);
    cJSON_AddNumberToObject(pager, "pageSize", (double)size);
    cJSON_AddNumberToObject(pager, "total", (double)n);
    free(list);
    http_reply_json(rs, 200, o);
}

static int wants_json(const struct http_req *rq)
{
    const char *accept = http_header(rq, "Accept");
    return accept && strstr(accept, "application/json");
}

/* The JSON form keeps `source` as the version in use (what runs do) and adds `disk`, the file
 * an editor would overwrite, whenever the two differ: an editor that showed only the version
 * in use would save over a newer, broken file on disk without anyone having seen it. The
 * text form is the file on disk, so that its ETag describes its body. */
void api_mappings_get(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *name = rq->params[0];
    struct err e = {0};
    struct mapping_info mi;
    if (!mapping_name_valid(name) || mapping_registry_info(app->mappings, name, &mi, &e) != 0) {
        http_reply_error(rs, 404, NULL, "no mapping '%.100s'", name);
        return;
    }
    char *disk = NULL, etag[MAPPING_ETAG_SIZE];
    size_t disk_len = 0;
    if (mapping_registry_read_file(app->mappings, name, &disk, &disk_len, etag, &e) != 0 &&
        e.code != ERR_NOT_FOUND) {
        http_reply_err(rs, &e);
        return;
    }
    struct mapping *m = mapping_registry_acquire(app->mappings, name, &e);
    size_t used_len = 0;
    const char *used = m ? mapping_source(m, &used_len) : NULL;
    if (wants_json(rq)) {
        cJSON *o = info_json(&mi);
        cJSON_AddStringToObject(o, "source", used ? used : disk ? disk : "");
        if (disk && (!used || used_len != disk_len || memcmp(used, disk, disk_len) != 0)) {
            cJSON *d = cJSON_AddObjectToObject(o, "disk");
            cJSON_AddStringToObject(d, "source", disk);
            add_error(d, &mi);
        } else {
            cJSON_AddNullToObject(o, "disk");
        }
        http_reply_json(rs, 200, o);
    } else {
        free(rs->body);
        rs->body = strdup(disk ? disk : used ? used : "");
        rs->len = rs->body ? strlen(rs->body) : 0;
        rs->status = rs->body ? 200 : 500;
        rs->content_type = "text/x-lua; charset=utf-8";
    }
    if (disk)
        http_add_header(rs, "ETag", etag);
    free(disk);
    if (m)
        mapping_release(m);
}

static void reply_script_error(struct http_resp *rs, int status, const char *msg)
{
    http_reply_error(rs, status, check_error_json(msg), "%s", msg);
}

void api_mappings_put(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *name = rq->params[0];
    struct err e = {0};
    if (!mapping_name_valid(name)) {
        http_reply_error(rs, 422, NULL, "mapping names are file names: letters, digits, _ and -");
        return;
    }
    /* If-Match: the ETag the editor read; a file changed on disk since then is not overwritten
     * (412), so the editor can offer to reload it or to overwrite it knowingly */
    const char *if_match = http_header(rq, "If-Match");
    if (mapping_registry_write_if(app->mappings, name, rq->body, rq->body_len, if_match, &e) != 0) {
        if (e.code == ERR_SCRIPT)
            reply_script_error(rs, 422, e.msg);
        else if (e.code == ERR_CONFLICT)
            http_reply_error(rs, 412, NULL, "%s", e.msg);
        else
            http_reply_err(rs, &e);
        return;
    }
    char etag[MAPPING_ETAG_SIZE];
    mapping_etag(rq->body ? rq->body : "", rq->body_len, etag);
    http_add_header(rs, "ETag", etag);
    struct mapping_info mi;
    if (mapping_registry_info(app->mappings, name, &mi, &e) != 0) {
        http_reply_err(rs, &e);
        return;
    }
    http_reply_json(rs, 200, info_json(&mi));
}

/* Body: {"dataValues":[…]} to try the mapping in use, or with "source" to try a draft. */
void api_mappings_check(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *name = rq->params[0];
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    struct mapping *m = NULL;
    const cJSON *draft = cJSON_GetObjectItemCaseSensitive(body, "source");
    if (!mapping_name_valid(name)) {
        http_reply_error(rs, 422, NULL, "mapping names are file names: letters, digits, _ and -");
        goto out;
    }
    if (cJSON_IsString(draft)) {
        if (mapping_compile_source(name, mapping_registry_dir(app->mappings),
                                   mapping_registry_scripts_dir(app->mappings), draft->valuestring,
                                   strlen(draft->valuestring), NULL, &m, &e) != 0) {
            reply_script_error(rs, 422, e.msg);
            goto out;
        }
    } else if (!(m = mapping_registry_acquire(app->mappings, name, &e))) {
        if (e.code == ERR_SCRIPT)
            reply_script_error(rs, 422, e.msg);
        else
            http_reply_err(rs, &e);
        goto out;
    }
    int n_errors = 0;
    cJSON *result = check_sample(m, body, NULL, &n_errors, &e);
    if (!result)
        http_reply_err(rs, &e);
    else
        http_reply_json(rs, 200, result);
out:
    if (m)
        mapping_release(m);
    cJSON_Delete(body);
}

/* GET /docs/mappings.md — the mapping reference the editor links to, as plain text: the
 * docs/ directory beside web/ (in the repository and in the image). Behind the login like the
 * mappings themselves. */
void api_mappings_help(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    (void)rq;
    char path[4096];
    snprintf(path, sizeof path, "%s/../docs/mappings.md", app->cfg.web_dir);
    if (http_reply_file(rs, path) != 0)
        http_reply_error(rs, 404, NULL, "the mapping reference (docs/mappings.md) is not installed");
    else
        rs->content_type = "text/plain; charset=utf-8";
}
