/* pgembed.h — a private PostgreSQL cluster owned by this program.
 * With no DATABASE_URL, `serve` keeps its database in a cluster under var/pg that listens on a
 * Unix socket only (no TCP port) and that it starts and stops itself. The test harness uses the
 * same code for its throw-away clusters. PostgreSQL refuses to run as root, so when we are root
 * the cluster's files and processes belong to the `postgres` system user.
 * It never touches a cluster it did not create (the system's one included). */
#ifndef DHIS2SYNC_PGEMBED_H
#define DHIS2SYNC_PGEMBED_H

#include <limits.h>
#include <sys/types.h>

#include "err.h"

struct pgembed {
    char data_dir[PATH_MAX];  /* absolute: <dir>/data */
    char sock_dir[PATH_MAX];  /* absolute: <dir>/run; the socket is .s.PGSQL.5432 in it */
    char log_path[PATH_MAX];  /* <dir>/postgres.log */
    char bin_dir[PATH_MAX];   /* where initdb and pg_ctl are */
    uid_t uid;                /* who runs the server */
    gid_t gid;
    int started_here;         /* pgembed_start found it stopped and started it */
};

/* Prepares dir (created if absent) and runs initdb once. Does not start the server. */
int pgembed_init(struct pgembed *pg, const char *dir, struct err *e);
/* Starts the server and waits until it accepts connections; a running one is left as it is
 * (and started_here stays 0, so that this process will not stop what it did not start). */
int pgembed_start(struct pgembed *pg, struct err *e);
/* Fast shutdown; waits until the server is gone. */
int pgembed_stop(struct pgembed *pg, struct err *e);
/* Creates the database if it does not exist. */
int pgembed_ensure_db(struct pgembed *pg, const char *dbname, struct err *e);
/* libpq keyword/value connection string for dbname; caller frees. */
char *pgembed_conninfo(const struct pgembed *pg, const char *dbname);

#endif
