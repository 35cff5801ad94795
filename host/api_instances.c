/* /api/instances — DHIS2 servers we read from and write to. Secrets are write-only: they are
 * sealed on the way in (crypto.h) and no answer ever carries them. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "instances.h"
#include "validate.h"

struct instance_input {
    const char *name, *url, *auth_type, *username, *secret, *ca_file;
    bool has_auth, has_ca_file;
};

static int check_url(const char *url, struct err *e)
{
    const char *rest = strncmp(url, "https://", 8) == 0 ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
    if (!rest)
        return err_field(e, "url", "must start with https:// (or http://)");
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0)
        return err_field(e, "url", "has no host name");
    if (memchr(rest, '@', authority))
        return err_field(e, "url", "must not hold credentials; put them in auth");
    if (strpbrk(url, " \t<>\"") || strchr(rest, '?') || strchr(rest, '#'))
        return err_field(e, "url", "must be the instance's base URL, without spaces, query or fragment");
    return 0;
}

static const char *const auth_types[] = {"basic", "pat", NULL};

/* Reads the body; on update (creating false) every field is optional. */
static int read_input(const cJSON *body, bool creating, struct instance_input *in, struct err *e)
{
    memset(in, 0, sizeof *in);
    int rc;
    if ((rc = v_string(body, "", "name", creating, 1, 200, &in->name, e)) ||
        (rc = v_string(body, "", "url", creating, 1, 2000, &in->url, e)) ||
        (in->url && (rc = check_url(in->url, e))))
        return rc;
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(body, "caFile");
    in->has_ca_file = ca != NULL;
    if ((rc = v_string(body, "", "caFile", false, 1, 1000, &in->ca_file, e)))
        return rc;
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(body, "auth");
    if (!auth || cJSON_IsNull(auth))
        return creating ? err_field(e, "auth", "is required: {\"type\":\"basic\",\"username\",\"password\"} "
                                               "or {\"type\":\"pat\",\"token\"}")
                        : 0;
    if (!cJSON_IsObject(auth))
        return err_field(e, "auth", "must be an object");
    in->has_auth = true;
    if ((rc = v_enum(auth, "auth.", "type", auth_types, NULL, &in->auth_type, e)))
        return rc;
    if (!in->auth_type)
        return err_field(e, "auth.type", "is required (basic or pat)");
    if (strcmp(in->auth_type, "basic") == 0) {
        if ((rc = v_string(auth, "auth.", "username", creating, 1, 255, &in->username, e)) ||
            (rc = v_string(auth, "auth.", "password", creating, 1, 1024, &in->secret, e)))
            return rc;
    } else if ((rc = v_string(auth, "auth.", "token", creating, 1, 1024, &in->secret, e))) {
        return rc;
    }
    return 0;
}

static bool same_text(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* An update without a secret keeps the stored one, which was entered for this server with this
 * trust: a new url or caFile could send it elsewhere (POST /test would hand it over at once),
 * and a new kind of authentication has no secret of its kind yet. */
static int check_kept_secret(PGconn *c, const char *idtext, const struct instance_input *in,
                             struct err *e)
{
    const char *p[] = {idtext};
    PGresult *cur = db_query(c, "SELECT auth_type, url, ca_file FROM instances WHERE id = $1", 1,
                             p, e);
    if (!cur)
        return e->code;
    int rc = 0;
    if (PQntuples(cur) != 1)
        rc = err_set(e, ERR_NOT_FOUND, "no such instance");
    else if ((in->url && strcmp(in->url, PQgetvalue(cur, 0, 1)) != 0) ||
             (in->has_ca_file && !same_text(in->ca_file, db_value(cur, 0, 2))))
        rc = err_field(e, "auth", "is required with its password or token when url or caFile "
                                  "changes: stored credentials are never sent to another server");
    else if (in->has_auth && strcmp(PQgetvalue(cur, 0, 0), in->auth_type) != 0)
        rc = err_field(e, strcmp(in->auth_type, "basic") == 0 ? "auth.password" : "auth.token",
                       "is required when the authentication type changes");
    PQclear(cur);
    return rc;
}

static char *seal(struct app *app, const char *secret, struct err *e)
{
    char *sealed = NULL;
    if (secret && crypto_seal(&app->secret_key, secret, strlen(secret), INSTANCE_SECRET_AAD,
                              &sealed, e) != 0)
        return NULL;
    return sealed;
}

void api_instances_list(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    api_reply_page(app, rq, rs, "instances", "instance_json");
}

void api_instances_get(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    const char *params[] = {rq->params[0]};
    api_reply_query(app, rs, 200,
                    "SELECT instance_json(i) FROM instances i WHERE i.name = $1 OR "
                    "(i.id::text = $1 AND $1 ~ '^[0-9]{1,18}$') ORDER BY (i.id::text = $1) DESC LIMIT 1",
                    1, params, "no such instance");
}

void api_instances_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    struct instance_input in;
    char *sealed = NULL;
    if (read_input(body, true, &in, &e) || !(sealed = seal(app, in.secret, &e))) {
        http_reply_err(rs, &e);
        goto out;
    }
    const char *params[] = {in.name, in.url, in.auth_type,
                            strcmp(in.auth_type, "basic") == 0 ? in.username : NULL, sealed,
                            in.ca_file};
    PGconn *c = db_acquire(app->db, &e);
    PGresult *r = c ? db_query(c,
                               "INSERT INTO instances (name, url, auth_type, username, secret, ca_file) "
                               "VALUES ($1, $2, $3, $4, $5, $6) RETURNING instance_json(instances)",
                               6, params, &e)
                    : NULL;
    if (c)
        db_release(app->db, c);
    if (!r) {
        if (e.code == ERR_CONFLICT)
            err_name_taken(&e, "an instance", in.name);
        http_reply_err(rs, &e);
    } else {
        http_reply_json_text(rs, 201, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
out:
    free(sealed);
    cJSON_Delete(body);
}

void api_instances_update(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err e = {0};
    struct instance_input in;
    char *sealed = NULL;
    PGconn *c = NULL;
    PGresult *r = NULL;
    long long id;
    if (read_input(body, false, &in, &e) || !(c = db_acquire(app->db, &e)) ||
        instance_resolve(c, rq->params[0], &id, &e))
        goto fail;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    if ((in.has_auth || in.url || in.has_ca_file) && !in.secret &&
        check_kept_secret(c, idtext, &in, &e))
        goto fail;
    if (in.secret && !(sealed = seal(app, in.secret, &e)))
        goto fail;
    const char *params[] = {idtext, in.name, in.url, in.auth_type, in.username, sealed,
                            in.ca_file, in.has_ca_file ? "t" : "f"};
    r = db_query(c,
                 "UPDATE instances SET name = coalesce($2, name), url = coalesce($3, url),"
                 " auth_type = coalesce($4, auth_type),"
                 " username = CASE WHEN coalesce($4, auth_type) = 'pat' THEN NULL"
                 "                 ELSE coalesce($5, username) END,"
                 " secret = coalesce($6, secret),"
                 " ca_file = CASE WHEN $8::boolean THEN $7 ELSE ca_file END,"
                 " updated_at = now()"
                 " WHERE id = $1 RETURNING instance_json(instances)",
                 8, params, &e);
    if (!r) {
        if (e.code == ERR_CONFLICT)
            err_name_taken(&e, "an instance", in.name);
        goto fail;
    }
    http_reply_json_text(rs, 200, PQgetvalue(r, 0, 0));
    goto out;
fail:
    http_reply_err(rs, &e);
out:
    PQclear(r);
    if (c)
        db_release(app->db, c);
    free(sealed);
    cJSON_Delete(body);
}

void api_instances_delete(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    long long id;
    PGconn *c = db_acquire(app->db, &e);
    if (!c || instance_resolve(c, rq->params[0], &id, &e))
        goto fail;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    PGresult *r = db_query(c,
                           "SELECT string_agg(name, ', ' ORDER BY name) FROM jobs "
                           "WHERE source_id = $1 OR target_id = $1",
                           1, params, &e);
    if (!r)
        goto fail;
    if (!PQgetisnull(r, 0, 0)) {
        err_set(&e, ERR_CONFLICT, "the instance is used by jobs: %.180s; delete or change them first",
                PQgetvalue(r, 0, 0));
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    if (db_exec(c, "DELETE FROM instances WHERE id = $1", 1, params, &e))
        goto fail;
    db_release(app->db, c);
    rs->status = 204;
    rs->content_type = "application/json";
    return;
fail:
    if (c)
        db_release(app->db, c);
    http_reply_err(rs, &e);
}

/* POST /api/instances/{id}/test — the same calls a run starts with: /api/system/info and
 * /api/me. A failure answers 502 with the reason in words (wrong password, TLS, proxy page). */
void api_instances_test(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    struct instance in = {0};
    struct dhis2_client *client = NULL;
    if (instance_open(app->db, &app->secret_key, rq->params[0], &in, &e)) {
        http_reply_err(rs, &e);
        return;
    }
    struct dhis2_config cfg;
    instance_dhis2_config(&in, &cfg);
    cfg.timeout_s = 20;
    struct dhis2_system_info info;
    struct dhis2_me me;
    if (!(client = dhis2_client_new(&cfg, &e)) || dhis2_system_info(client, &info, &e) ||
        dhis2_me(client, &me, &e)) {
        http_reply_error(rs, e.code == ERR_INPUT ? 422 : 502, NULL, "%s", e.msg);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *user = cJSON_CreateObject();
    if (o && user) {
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddStringToObject(o, "version", info.version);
        cJSON_AddStringToObject(o, "revision", info.revision);
        cJSON_AddStringToObject(o, "serverDate", info.server_date);
        cJSON_AddStringToObject(o, "systemName", info.system_name);
        cJSON_AddStringToObject(user, "id", me.id);
        cJSON_AddStringToObject(user, "username", me.username);
        cJSON_AddStringToObject(user, "name", me.name);
        cJSON_AddItemToObject(o, "user", user);
        user = NULL;
    }
    cJSON_Delete(user);
    http_reply_json(rs, 200, o);
out:
    dhis2_client_free(client);
    instance_free(&in);
}
