/* /api/instances — DHIS2 servers we read from and write to. Secrets are write-only: they are
 * sealed on the way in (crypto.h) and no answer ever carries them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "deadline.h"
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
        return err_field(e, "url", "must not hold a user name or password: use Authentication");
    if (strpbrk(url, " \t<>\"") || strchr(rest, '?') || strchr(rest, '#'))
        return err_field(e, "url", "must be the address only, without spaces, query or fragment");
    return 0;
}

static const char *const auth_types[] = {"basic", "pat", NULL};

/* The words the form uses for each field, so that a message reads "Base URL is required". */
static const char *const instance_field_labels[][2] = {
    {"name", "Name"}, {"url", "Base URL"}, {"caFile", "CA file"}, {"auth", "Authentication"},
    {"auth.type", "Authentication type"}, {"auth.username", "User name"},
    {"auth.password", "Password"}, {"auth.token", "Token"}, {NULL, NULL}};

/* A string field: required means present and not blank (a blank name is no name). */
static void text_field(const cJSON *o, const char *prefix, const char *key, bool required,
                       size_t max_chars, const char **out, struct err *e)
{
    if (v_string(o, prefix, key, false, required ? 0 : 1, max_chars, out, e) != 0)
        return;
    if (required && (!*out || !(*out)[strspn(*out, " \t")])) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        err_field(e, name, "is required");
        *out = NULL;
    }
}

/* Reads the body; on update (creating false) every field is optional. Every problem goes to
 * e's field list (a form shows them all at once); 0 when there is none. */
static int read_input(const cJSON *body, bool creating, struct instance_input *in, struct err *e)
{
    memset(in, 0, sizeof *in);
    bool has_name = cJSON_GetObjectItemCaseSensitive(body, "name") != NULL;
    bool has_url = cJSON_GetObjectItemCaseSensitive(body, "url") != NULL;
    text_field(body, "", "name", creating || has_name, 200, &in->name, e);
    text_field(body, "", "url", creating || has_url, 2000, &in->url, e);
    if (in->url)
        check_url(in->url, e);
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(body, "caFile");
    in->has_ca_file = ca != NULL;
    v_string(body, "", "caFile", false, 1, 1000, &in->ca_file, e);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(body, "auth");
    if (!auth || cJSON_IsNull(auth)) {
        if (creating)
            err_field(e, "auth", "is required: a user name and password, or a personal access token");
    } else if (!cJSON_IsObject(auth)) {
        err_field(e, "auth", "must be an object");
    } else {
        in->has_auth = true;
        if (v_enum(auth, "auth.", "type", auth_types, NULL, &in->auth_type, e) != 0) {
            in->auth_type = NULL;
        } else if (!in->auth_type) {
            err_field(e, "auth.type", "is required (basic or pat)");
        } else if (strcmp(in->auth_type, "basic") == 0) {
            text_field(auth, "auth.", "username", creating, 255, &in->username, e);
            text_field(auth, "auth.", "password", creating, 1024, &in->secret, e);
        } else {
            text_field(auth, "auth.", "token", creating, 1024, &in->secret, e);
        }
    }
    return e->fields->n ? ERR_INPUT : 0;
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

/* Calls /api/system/info and /api/me of instance ref, as a run starts, and stores the
 * outcome (when, ok, version, latency, error) as the instance's last test. 0 when it
 * connected; else the error, with *unopened set when the instance itself could not be opened
 * (no such instance: nothing stored) rather than DHIS2 failing (a 404 from DHIS2 is not one). */
static int test_and_record(struct app *app, const char *ref, struct dhis2_system_info *info,
                           struct dhis2_me *me, bool *unopened, struct err *e)
{
    struct instance in = {0};
    *unopened = instance_open(app->db, &app->secret_key, ref, &in, e) != 0;
    if (*unopened)
        return e->code;
    struct dhis2_config cfg;
    instance_dhis2_config(&in, &cfg);
    cfg.timeout_s = 20;
    long long t0 = monotonic_ms();
    struct dhis2_client *client = dhis2_client_new(&cfg, e);
    int rc = !client ? e->code : dhis2_system_info(client, info, e);
    long latency = (long)(monotonic_ms() - t0);
    if (rc == 0)
        rc = dhis2_me(client, me, e);
    dhis2_client_free(client);
    char idtext[24], ms[24];
    snprintf(idtext, sizeof idtext, "%lld", in.id);
    snprintf(ms, sizeof ms, "%ld", latency);
    const char *params[] = {idtext, rc == 0 ? "t" : "f", rc == 0 ? info->version : NULL,
                            rc == 0 ? ms : NULL, rc == 0 ? NULL : e->msg};
    struct err ignored = {0};
    PGconn *c = db_acquire(app->db, &ignored);
    if (c) {
        /* a test that cannot be recorded is still a test: its answer goes back regardless */
        db_exec(c, "UPDATE instances SET last_test_at = now(), last_test_ok = $2,"
                   " last_test_version = $3, last_test_latency_ms = $4, last_test_error = $5"
                   " WHERE id = $1", 5, params, &ignored);
        db_release(app->db, c);
    }
    instance_free(&in);
    return rc;
}

/* After a save that changes how the instance is reached: test it (a failure does not undo the
 * save; it shows in lastTest) and answer the instance as stored. */
static void reply_tested(struct app *app, struct http_resp *rs, int status, const char *id)
{
    struct dhis2_system_info info;
    struct dhis2_me me;
    struct err e = {0};
    bool unopened;
    test_and_record(app, id, &info, &me, &unopened, &e);
    const char *params[] = {id};
    api_reply_query(app, rs, status, "SELECT instance_json(i) FROM instances i WHERE i.id = $1::bigint",
                    1, params, "no such instance");
}

void api_instances_create(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    cJSON *body = http_body_json(rq, rs);
    if (!body)
        return;
    struct err_fields all = {.labels = instance_field_labels};
    struct err e = {.fields = &all};
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
                               "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text",
                               6, params, &e)
                    : NULL;
    if (c)
        db_release(app->db, c);
    if (!r) {
        if (e.code == ERR_CONFLICT)
            err_name_taken(&e, "an instance", in.name);
        http_reply_err(rs, &e);
    } else {
        reply_tested(app, rs, 201, PQgetvalue(r, 0, 0));
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
    struct err_fields all = {.labels = instance_field_labels};
    struct err e = {.fields = &all};
    struct instance_input in;
    char *sealed = NULL;
    PGconn *c = NULL;
    PGresult *r = NULL;
    long long id;
    if (read_input(body, false, &in, &e) || !(c = db_acquire(app->db, &e)) || instance_resolve(c, rq->params[0], &id, &e))
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
    db_release(app->db, c);
    c = NULL;
    if (in.url || in.has_auth || in.has_ca_file)
        reply_tested(app, rs, 200, idtext);
    else
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
 * /api/me. A failure answers 502 with the reason in words (wrong password, TLS, proxy page).
 * Either way the outcome is stored as the instance's lastTest. */
void api_instances_test(struct app *app, struct http_req *rq, struct http_resp *rs)
{
    struct err e = {0};
    struct dhis2_system_info info;
    struct dhis2_me me;
    bool unopened;
    int rc = test_and_record(app, rq->params[0], &info, &me, &unopened, &e);
    if (unopened) {
        http_reply_err(rs, &e);
        return;
    }
    if (rc != 0) {
        http_reply_error(rs, e.code == ERR_INPUT ? 422 : 502, NULL, "%s", e.msg);
        return;
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
}
