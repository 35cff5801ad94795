/* instances.h — DHIS2 instances as stored: lookup by id or name, and loading one with its
 * secret opened (for a run or a connection test). The secret leaves this module only inside
 * a struct instance, which callers free with instance_free (it wipes the secret). */
#ifndef DHIS2SYNC_INSTANCES_H
#define DHIS2SYNC_INSTANCES_H

#include <libpq-fe.h>

#include "crypto.h"
#include "dhis2.h"
#include "err.h"

struct db;

struct instance {
    long long id;
    char *name, *url, *auth_type, *username, *ca_file;
    char *secret; /* opened password or token */
};

/* The id of the instance whose id (digits) or name is ref; ERR_NOT_FOUND naming ref. */
int instance_resolve(PGconn *c, const char *ref, long long *id, struct err *e);
int instance_load(PGconn *c, const struct crypto_key *key, long long id, struct instance *out,
                  struct err *e);
void instance_free(struct instance *in);
/* instance_resolve + instance_load on a connection of the pool. */
int instance_open(struct db *db, const struct crypto_key *key, const char *ref,
                  struct instance *out, struct err *e);
/* A DHIS2 client configuration pointing into in (valid while in lives). */
void instance_dhis2_config(const struct instance *in, struct dhis2_config *out);
/* The additional authenticated data that binds a sealed secret to the instances table. */
#define INSTANCE_SECRET_AAD "dhis2sync:instance-secret"

#endif
