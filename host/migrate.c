#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

static int is_migration(const char *name)
{
    size_t n = strlen(name);
    return n > 8 && name[0] >= '0' && name[0] <= '9' && strcmp(name + n - 4, ".sql") == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)size + 1)) || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        err_set(e, ERR_INTERNAL, "cannot read %s", path);
        free(buf);
        buf = NULL;
    } else {
        buf[size] = '\0';
    }
    fclose(f);
    return buf;
}

int migrate_run(PGconn *c, const char *db_dir, int *applied, struct err *e)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, count = 0;
    DIR *d = opendir(db_dir);
    if (!d)
        return err_set(e, ERR_INTERNAL, "cannot open the migrations folder %s: %s", db_dir,
                       strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_migration(de->d_name))
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
            if (!grown) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                goto out;
            }
            names = grown;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, by_name);

    if ((rc = db_exec(c, "BEGIN", 0, NULL, e)) ||
        (rc = db_exec(c, "SELECT pg_advisory_xact_lock(hashtext('dhis2sync:migrate'))", 0, NULL, e)) ||
        (rc = db_exec(c,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version text PRIMARY KEY,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, e)))
        goto rollback;
    /* a database that a newer dhis2sync migrated must not be run by this older one */
    PGresult *known = db_query(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, e);
    if (!known) {
        rc = e->code;
        goto rollback;
    }
    for (int row = 0; row < PQntuples(known); row++) {
        const char *v = PQgetvalue(known, row, 0);
        if (!bsearch(&v, names, n, sizeof *names, by_name)) {
            rc = err_set(e, ERR_CONFLICT,
                         "the database was migrated by a newer dhis2sync (it has %s, which this "
                         "version does not know): run the newer version, or restore a backup taken "
                         "before the upgrade", v);
            PQclear(known);
            goto rollback;
        }
    }
    PQclear(known);
    for (size_t i = 0; i < n; i++) {
        const char *params[] = {names[i]};
        PGresult *r = db_query(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params, e);
        if (!r) {
            rc = e->code;
            goto rollback;
        }
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", db_dir, names[i]);
        char *sql = read_file(path, e);
        if (!sql) {
            rc = e->code;
            goto rollback;
        }
        /* a migration file holds several statements: the simple-query protocol runs them all */
        PGresult *res = PQexec(c, sql);
        free(sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = err_set(e, ERR_DB, "migration %s failed: %s", names[i], PQresultErrorMessage(res));
            PQclear(res);
            goto rollback;
        }
        PQclear(res);
        if ((rc = db_exec(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, params, e)))
            goto rollback;
        log_info("applied migration %s", names[i]);
        count++;
    }
    if ((rc = db_exec(c, "COMMIT", 0, NULL, e)))
        goto out;
    if (applied)
        *applied = count;
    goto out;
rollback:
    PQclear(PQexec(c, "ROLLBACK"));
out:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
