/* migrate.h — the schema: numbered SQL files in db/ (001_init.sql, 002_…), applied in order in
 * one transaction, each recorded in schema_migrations and never applied twice. A transaction-
 * scoped advisory lock makes two processes starting at once take turns. */
#ifndef DHIS2SYNC_MIGRATE_H
#define DHIS2SYNC_MIGRATE_H

#include <libpq-fe.h>

#include "err.h"

/* Applies what is missing; *applied (may be NULL) gets how many files were applied. */
int migrate_run(PGconn *c, const char *db_dir, int *applied, struct err *e);

#endif
