#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "pgembed.h"

static struct pgembed private_pg;
static int using_private_pg;

int app_open(struct app *app, int pool_size, struct err *e)
{
    int rc = 0;
    char *conninfo = NULL, key_path[4096];
    snprintf(key_path, sizeof key_path, "%s/secret.key", app->cfg.var_dir);
    /* 0755, not the 0700 the key file's own code would make: the private cluster below it
     * runs as another user (postgres) that must reach var/pg */
    mkdir(app->cfg.var_dir, 0755);
    if ((rc = crypto_key_load(&app->secret_key, app->cfg.secret_key, key_path, e)))
        return rc;
    if (app->cfg.database_url) {
        conninfo = strdup(app->cfg.database_url);
    } else {
        /* no DATABASE_URL: the private cluster under var/pg, Unix socket only */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/pg", app->cfg.var_dir);
        if ((rc = pgembed_init(&private_pg, dir, e)) || (rc = pgembed_start(&private_pg, e)) ||
            (rc = pgembed_ensure_db(&private_pg, "dhis2sync", e)))
            return rc;
        using_private_pg = 1;
        if (private_pg.started_here)
            log_info("started the private PostgreSQL in %s", private_pg.data_dir);
        conninfo = pgembed_conninfo(&private_pg, "dhis2sync");
    }
    if (!conninfo)
        return err_set(e, ERR_INTERNAL, "out of memory");
    rc = db_open(&app->db, conninfo, pool_size, e);
    free(conninfo);
    if (rc)
        return rc;
    PGconn *c = db_acquire(app->db, e);
    if (!c)
        return e->code;
    int applied = 0;
    rc = migrate_run(c, app->cfg.db_dir, &applied, e);
    db_release(app->db, c);
    return rc;
}

/* Other processes (serve, a worker, a CLI run) may share the private cluster: it is stopped by
 * the last one to leave, whoever started it. */
static int others_connected(struct app *app)
{
    struct err e = {0};
    PGconn *c = db_acquire(app->db, &e);
    if (!c)
        return 0;
    char mine[DB_APPLICATION_NAME_SIZE];
    db_application_name(mine);
    const char *params[] = {mine};
    PGresult *r = db_query(c,
                           "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                           " AND application_name <> $1",
                           1, params, &e);
    int others = r ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    db_release(app->db, c);
    return others;
}

void app_close(struct app *app)
{
    int others = using_private_pg && app->db ? others_connected(app) : 0;
    db_close(app->db);
    app->db = NULL;
    if (!using_private_pg)
        return;
    using_private_pg = 0;
    if (others > 0) {
        log_info("the private PostgreSQL stays up: %d connection(s) of other processes use it", others);
        return;
    }
    struct err e = {0};
    if (pgembed_stop(&private_pg, &e))
        log_warn("stopping the private PostgreSQL: %s", e.msg);
    else
        log_info("stopped the private PostgreSQL");
}
