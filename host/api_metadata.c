/* GET /api/instances/{id}/metadata/{kind}?fields=&filter=&parent= — a few metadata lists of an
 * instance (data sets, data element groups, org units), read through dhis2_list with the
 * instance's stored credentials, so the web admin's pickers never talk to DHIS2 themselves.
 * Only the kinds a job selects by are allowed; answers are capped at METADATA_MAX items.
 * parent=ID keeps the org units right below ID: the picker's tree reads one level at a time,
 * so an instance of 20,000 units is never listed whole. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "instances.h"
#include "validate.h"

#define METADATA_MAX 2000
#define METADATA_MAX_FILTERS 4

static const struct {
    const char *kind, *default_fields;
} kinds[] = {
    {"dataSets", "id,displayName,periodType"},
    {"dataElementGroups", "id,displayName"},
    {"organisationUnits", "id,displayName,level,path"},
};

struct filters {
    const char *v[METADATA_MAX_FILTERS + 1];
    int n;
    int too_many;
};

static enum MHD_Result collect_filter(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct filters *f = cls;
    (void)kind;
    if (strcmp(key, "filter") != 0 || !value || !*value)
        return MHD_YES;
    if (f->n >= METADATA_MAX_FILTERS) {
        f->too_many = 1;
        return MHD_NO;
    }
    f->v[f->n++] = value;
    return MHD_YES;
}

struct collected {
    cJSON *items;
    int n;
    int truncated;
};

static int add_item(void *ud, const cJSON *item, struct err *e)
{
    struct collected *c = ud;
    (void)e;
    if (c->n >= METADATA_MAX) {
        c->truncated = 1;
        return 1; /* stop: enough for a picker; the user narrows with a filter */
    }
    cJSON *copy = cJSON_Duplicate(item, 1);
    if (!copy)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cJSON_AddItemToArray(c->items, copy);
    c->n++;
    return 0;
}

/* parent=ID as the DHIS2 filter parent.id:eq:ID in buf ("" without one); -1 once it has
 * answered 400 for a parent that is no uid or a kind without parents. */
static int parent_as_filter(struct http_req *rq, const char *kind, char *buf, size_t size,
                            struct http_resp *rs)
{
    const char *parent = http_query(rq, "parent");
    buf[0] = '\0';
    if (!parent)
        return 0;
    if (!uid_valid(parent) || strcmp(kind, "organisationUnits") != 0) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", "parent");
        http_reply_error(rs, 400, d, "parent: the id of an org unit (11 letters and digits), "
                                     "for organisationUnits only");
        return -1;
    }
    snprintf(buf, size, "parent.id:eq:%s", parent);
    return 0;
}

void api_metadata_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    struct instance in = {0};
    struct dhis2_client *client = NULL;
    struct collected got = {0};
    const char *kind = rq->params[1], *fields = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i].kind) == 0)
            fields = kinds[i].default_fields;
    if (!fields) {
        http_reply_error(rs, 404, NULL,
                         "no metadata list '%.64s' here: ask for dataSets, dataElementGroups or "
                         "organisationUnits", kind);
        return;
    }
    const char *asked = http_query(rq, "fields");
    if (asked && *asked) {
        if (strlen(asked) > 300 ||
            strspn(asked, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_,[]:") !=
                strlen(asked)) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "field", "fields");
            http_reply_error(rs, 400, d, "fields: a DHIS2 field list such as id,displayName,level");
            return;
        }
        fields = asked;
    }
    struct filters f = {0};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_filter, &f);
    for (int i = 0; i < f.n && !f.too_many; i++)
        if (strlen(f.v[i]) > 300 || !strchr(f.v[i], ':'))
            f.too_many = 2;
    if (f.too_many) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", "filter");
        http_reply_error(rs, 400, d,
                         "filter: up to %d DHIS2 filters such as displayName:ilike:clinic",
                         METADATA_MAX_FILTERS);
        return;
    }
    char parent_filter[32];
    if (parent_as_filter(rq, kind, parent_filter, sizeof parent_filter, rs))
        return;
    if (*parent_filter)
        f.v[f.n++] = parent_filter; /* v has room for one beyond METADATA_MAX_FILTERS */

    if (instance_open(app->db, &app->secret_key, rq->params[0], &in, &e)) {
        http_reply_err(rs, &e);
        return;
    }
    struct dhis2_config cfg;
    instance_dhis2_config(&in, &cfg);
    cfg.timeout_s = 30;
    if (!(got.items = cJSON_CreateArray())) {
        http_reply_error(rs, 500, NULL, "out of memory");
        goto out;
    }
    if (!(client = dhis2_client_new(&cfg, &e))) {
        http_reply_error(rs, e.code == ERR_INPUT ? 422 : 502, NULL, "%s", e.msg);
        goto out;
    }
    int rc = dhis2_list(client, kind, fields, f.n ? f.v : NULL, 500, add_item, &got, &e);
    if (rc < 0) {
        http_reply_error(rs, e.code == ERR_INPUT ? 422 : e.code == ERR_INTERNAL ? 500 : 502, NULL,
                         "%s", e.msg);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        http_reply_error(rs, 500, NULL, "out of memory");
        goto out;
    }
    cJSON_AddItemToObject(o, kind, got.items);
    got.items = NULL;
    cJSON_AddBoolToObject(o, "truncated", got.truncated);
    http_reply_json(rs, 200, o);
out:
    cJSON_Delete(got.items);
    dhis2_client_free(client);
    instance_free(&in);
}
