#include "db.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct db {
    char *conninfo;
    int size;
    PGconn **idle;      /* stack of idle connections, NULL slots are not yet opened */
    int n_idle;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

int db_open(struct db **out, const char *conninfo, int size, struct err *e)
{
    struct db *db = calloc(1, sizeof *db);
    if (!db || !(db->conninfo = strdup(conninfo)) || !(db->idle = calloc((size_t)size, sizeof(PGconn *)))) {
        if (db)
            free(db->conninfo);
        free(db);
        return err_set(e, ERR_INTERNAL, "out of memory opening the database pool");
    }
    db->size = size;
    db->n_idle = size; /* all slots idle and unopened */
    pthread_mutex_init(&db->lock, NULL);
    pthread_cond_init(&db->freed, NULL);
    *out = db;
    return 0;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->n_idle; i++)
        if (db->idle[i])
            PQfinish(db->idle[i]);
    pthread_mutex_destroy(&db->lock);
    pthread_cond_destroy(&db->freed);
    free(db->idle);
    free(db->conninfo);
    free(db);
}

/* PostgreSQL's notices ("relation exists, skipping") are for people at a psql prompt */
static void notice_to_debug_log(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres: %.*s", (int)strcspn(message, "\n"), message);
}

static const char *command_name;

void db_set_command(const char *command) { command_name = command; }

void db_application_name(char out[DB_APPLICATION_NAME_SIZE])
{
    /* the pid tells this process's connections from other processes' */
    snprintf(out, DB_APPLICATION_NAME_SIZE, "dhis2sync%s%.32s:%d", command_name ? " " : "",
             command_name ? command_name : "", (int)getpid());
}

PGconn *db_connect(const struct db *db, struct err *e)
{
    /* connect_timeout first: the conninfo's own settings, expanded after it, win */
    char name[DB_APPLICATION_NAME_SIZE];
    db_application_name(name);
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", name, db->conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        err_set(e, ERR_INTERNAL, "out of memory connecting to PostgreSQL");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        err_set(e, ERR_DB, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, notice_to_debug_log, NULL);
    return c;
}

/* A connection whose server went away while it sat in the pool has the server's goodbye and
 * then EOF waiting on its socket: reading them now finds that out before a statement is lost
 * to it. (One read may return the goodbye only; EOF shows on the next.) */
static int still_connected(PGconn *c)
{
    for (int reads = 0; PQstatus(c) == CONNECTION_OK && reads < 4; reads++) {
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return 1;
        if (!PQconsumeInput(c))
            return 0;
    }
    return PQstatus(c) == CONNECTION_OK;
}

int db_revive(PGconn *c, struct err *e)
{
    if (still_connected(c))
        return 0;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK)
        return err_set(e, ERR_DB, "cannot reconnect to PostgreSQL: %.*s",
                       (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
    log_info("reconnected to PostgreSQL");
    return 0;
}

PGconn *db_acquire(struct db *db, struct err *e)
{
    pthread_mutex_lock(&db->lock);
    while (db->n_idle == 0)
        pthread_cond_wait(&db->freed, &db->lock);
    PGconn *c = db->idle[--db->n_idle];
    pthread_mutex_unlock(&db->lock);

    if (c && db_revive(c, e) != 0) {
        PQfinish(c);
        c = NULL;
        goto give_back;
    }
    if (!c)
        c = db_connect(db, e);
    if (c)
        return c;
give_back:
    db_release(db, NULL);
    return NULL;
}

void db_release(struct db *db, PGconn *conn)
{
    /* a connection left inside a transaction must not leak it into the next user's work */
    if (conn && PQtransactionStatus(conn) != PQTRANS_IDLE && PQstatus(conn) == CONNECTION_OK) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&db->lock);
    db->idle[db->n_idle++] = conn;
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->lock);
}

PGresult *db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                   struct err *e)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int code = ERR_DB;
    if (state && strcmp(state, "23505") == 0)
        code = ERR_CONFLICT;
    else if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        code = ERR_INPUT;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    err_set(e, code, "database: %.*s", (int)strcspn(msg, "\n"), msg);
    PQclear(r);
    return NULL;
}

int db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, struct err *e)
{
    PGresult *r = db_query(c, sql, nparams, params, e);
    if (!r)
        return e ? e->code : ERR_DB;
    PQclear(r);
    return 0;
}

int db_ping(struct db *db, struct err *e)
{
    PGconn *c = db_acquire(db, e);
    if (!c)
        return ERR_DB;
    int rc = db_exec(c, "SELECT 1", 0, NULL, e);
    db_release(db, c);
    return rc;
}

const char *db_value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int db_finish(PGconn *c, int rc, struct err *e)
{
    if (rc) {
        PQclear(PQexec(c, "ROLLBACK"));
        return rc;
    }
    return db_exec(c, "COMMIT", 0, NULL, e);
}

int db_find_id(PGconn *c, const char *sql, const char *ref, const char *what, long long *id,
               struct err *e)
{
    const char *params[] = {ref};
    PGresult *r = db_query(c, sql, 1, params, e);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) >= 1)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = err_set(e, ERR_NOT_FOUND, "no %s '%s'", what, ref);
    PQclear(r);
    return rc;
}
