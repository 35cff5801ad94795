/* app.h — what a running process shares between its parts: configuration, the database pool,
 * the key for stored secrets, the mapping registry. Built by main.c, read-only afterwards
 * (each part that changes state has its own lock). */
#ifndef DHIS2SYNC_APP_H
#define DHIS2SYNC_APP_H

#include "config.h"
#include "crypto.h"
#include "err.h"

struct db;
struct mapping_registry;

struct app {
    struct config cfg;
    struct db *db;
    struct crypto_key secret_key;  /* seals stored instance credentials */
    struct mapping_registry *mappings; /* NULL until a command that runs or checks opens it */
};

/* Connects to DATABASE_URL, or creates and starts the private cluster under var/pg, opens a
 * pool of pool_size connections and applies pending migrations. */
int app_open(struct app *app, int pool_size, struct err *e);
/* Closes the pool; stops the private cluster if this process started it. */
void app_close(struct app *app);

#endif
