/* db.h — PostgreSQL access: a small pool of libpq connections shared by the HTTP threads and
 * the workers, and parameterised statements only (no SQL is ever built from input).
 * A connection found broken (the server restarted) is reset the next time it is taken, so
 * the process recovers without a restart. */
#ifndef DHIS2SYNC_DB_H
#define DHIS2SYNC_DB_H

#include <libpq-fe.h>

#include "err.h"

struct db;

#define DB_APPLICATION_NAME_SIZE 64

/* Opens a pool of `size` connections lazily (none is made until needed). conninfo is a libpq
 * URI or keyword string; connect_timeout defaults to 5 s unless it sets its own. */
int db_open(struct db **out, const char *conninfo, int size, struct err *e);
void db_close(struct db *db);

/* Takes a connection (waits when all are busy), reconnecting it if it is broken. */
PGconn *db_acquire(struct db *db, struct err *e);
void db_release(struct db *db, PGconn *conn);
/* Reconnects c in place (same PGconn) when its server went away, e.g. restarted: 0 when it
 * works again (or never stopped), ERR_DB while PostgreSQL does not answer. */
int db_revive(PGconn *c, struct err *e);

/* Names this process's connections in pg_stat_activity after its command ("dhis2sync
 * serve:PID"), so that restore can say which process uses a database. main sets it once, before
 * any connection; command must live as long as the process. */
void db_set_command(const char *command);
/* The application_name of this process's connections. */
void db_application_name(char out[DB_APPLICATION_NAME_SIZE]);

/* A fresh connection outside the pool (for long-lived listeners or locks); caller PQfinish-es. */
PGconn *db_connect(const struct db *db, struct err *e);

/* Runs a parameterised statement (text params; NULL = SQL NULL). Returns the result when it
 * is PGRES_TUPLES_OK or PGRES_COMMAND_OK, else NULL with e->msg from PostgreSQL; a unique
 * violation sets ERR_CONFLICT, a lost connection ERR_DB. Caller PQclear-s. */
PGresult *db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                   struct err *e);
/* db_query for statements whose result is not needed. */
int db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, struct err *e);
/* Ends the transaction on c: COMMIT when rc is 0, else ROLLBACK; returns rc or COMMIT's
 * failure. */
int db_finish(PGconn *c, int rc, struct err *e);

/* SELECT 1 on a pooled connection: 0 when the database answers. */
int db_ping(struct db *db, struct err *e);

/* Runs sql with $1 = ref and reads a bigint from its first row into *id; ERR_NOT_FOUND
 * (e->msg "no <what> 'ref'") when there is no row. For lookups of a thing by id or name. */
int db_find_id(PGconn *c, const char *sql, const char *ref, const char *what, long long *id,
               struct err *e);

/* Text of row r, column c, or NULL for SQL NULL. */
const char *db_value(const PGresult *res, int row, int col);

#endif
