#include "instances.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"

int instance_resolve(PGconn *c, const char *ref, long long *id, struct err *e)
{
    /* an id wins over a name made of digits, so that /api/instances/{id} is never ambiguous */
    return db_find_id(c,
                      "SELECT id FROM instances WHERE name = $1 OR "
                      "(id::text = $1 AND $1 ~ '^[0-9]{1,18}$') "
                      "ORDER BY (id::text = $1) DESC LIMIT 1",
                      ref, "instance", id, e);
}

static char *dup_or_null(const PGresult *r, int col)
{
    const char *v = db_value(r, 0, col);
    return v ? strdup(v) : NULL;
}

int instance_load(PGconn *c, const struct crypto_key *key, long long id, struct instance *out,
                  struct err *e)
{
    memset(out, 0, sizeof *out);
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    const char *params[] = {idtext};
    PGresult *r = db_query(c,
                           "SELECT name, url, auth_type, username, ca_file, secret "
                           "FROM instances WHERE id = $1",
                           1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1) {
        rc = err_set(e, ERR_NOT_FOUND, "no instance with id %lld", id);
        goto out;
    }
    out->id = id;
    out->name = dup_or_null(r, 0);
    out->url = dup_or_null(r, 1);
    out->auth_type = dup_or_null(r, 2);
    out->username = dup_or_null(r, 3);
    out->ca_file = dup_or_null(r, 4);
    if (!out->name || !out->url || !out->auth_type) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    size_t len;
    if (crypto_open(key, PQgetvalue(r, 0, 5), INSTANCE_SECRET_AAD, &out->secret, &len, e) != 0)
        rc = err_set(e, ERR_AUTH,
                     "instance '%s': its stored credentials cannot be opened with this "
                     "DHIS2SYNC_SECRET_KEY (was the key changed?); enter them again",
                     out->name);
out:
    PQclear(r);
    if (rc)
        instance_free(out);
    return rc;
}

void instance_free(struct instance *in)
{
    free(in->name);
    free(in->url);
    free(in->auth_type);
    free(in->username);
    free(in->ca_file);
    crypto_free_secret(in->secret);
    memset(in, 0, sizeof *in);
}

void instance_dhis2_config(const struct instance *in, struct dhis2_config *out)
{
    memset(out, 0, sizeof *out);
    out->name = in->name;
    out->base_url = in->url;
    out->auth_type = in->auth_type;
    out->username = in->username;
    out->secret = in->secret;
    out->ca_file = in->ca_file;
}

int instance_open(struct db *db, const struct crypto_key *key, const char *ref,
                  struct instance *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    long long id;
    PGconn *c = db_acquire(db, e);
    int rc = !c ? e->code : instance_resolve(c, ref, &id, e);
    if (!rc)
        rc = instance_load(c, key, id, out, e);
    if (c)
        db_release(db, c);
    return rc;
}
