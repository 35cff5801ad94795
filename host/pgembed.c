#include "pgembed.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const bin_dir_candidates[] = {
    "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", NULL,
};

static int find_bin_dir(char *out, size_t size, struct err *e)
{
    const char *env = getenv("DHIS2SYNC_PG_BIN");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return 0;
    }
    for (int i = 0; bin_dir_candidates[i]; i++) {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/initdb", bin_dir_candidates[i]);
        if (access(probe, X_OK) == 0) {
            snprintf(out, size, "%s", bin_dir_candidates[i]);
            return 0;
        }
    }
    return err_set(e, ERR_INTERNAL,
                   "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin); "
                   "run `make deps` or set DATABASE_URL");
}

static int mkdir_owned(const char *path, mode_t mode, uid_t uid, gid_t gid, struct err *e)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return err_set(e, ERR_INTERNAL, "cannot create %s: %s", path, strerror(errno));
    if (chmod(path, mode) != 0 || (getuid() == 0 && chown(path, uid, gid) != 0))
        return err_set(e, ERR_INTERNAL, "cannot set owner of %s: %s", path, strerror(errno));
    return 0;
}

/* Runs a PostgreSQL tool as the cluster's owner, with its output appended to the log. */
static int run_tool(const struct pgembed *pg, char *const argv[], struct err *e)
{
    pid_t pid = fork();
    if (pid < 0)
        return err_set(e, ERR_INTERNAL, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(pg->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            if (fchown(fd, pg->uid, pg->gid) != 0) { /* best effort: the log is for people */ }
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        if (getuid() == 0 && pg->uid != 0) {
            if (setgid(pg->gid) != 0 || setuid(pg->uid) != 0)
                _exit(126);
        }
        /* a server started by us must not take our process group's signals */
        setsid();
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return err_set(e, ERR_INTERNAL, "waitpid: %s", strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return err_set(e, ERR_DB, "%s failed (exit %d); see %s", argv[0],
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, pg->log_path);
    return 0;
}

int pgembed_init(struct pgembed *pg, const char *dir, struct err *e)
{
    memset(pg, 0, sizeof *pg);
    int rc = find_bin_dir(pg->bin_dir, sizeof pg->bin_dir, e);
    if (rc)
        return rc;
    pg->uid = getuid();
    pg->gid = getgid();
    if (pg->uid == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            return err_set(e, ERR_INTERNAL,
                           "running as root and there is no `postgres` user to own the private "
                           "database; install postgresql (`make deps`) or set DATABASE_URL");
        pg->uid = pw->pw_uid;
        pg->gid = pw->pw_gid;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return err_set(e, ERR_INTERNAL, "cannot create %s: %s", dir, strerror(errno));
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        return err_set(e, ERR_INTERNAL, "cannot resolve %s: %s", dir, strerror(errno));
    snprintf(pg->data_dir, sizeof pg->data_dir, "%s/data", abs);
    snprintf(pg->sock_dir, sizeof pg->sock_dir, "%s/run", abs);
    snprintf(pg->log_path, sizeof pg->log_path, "%s/postgres.log", abs);
    if (strlen(pg->sock_dir) > 90)
        return err_set(e, ERR_INPUT, "path %s is too long for a Unix socket; run from a shorter directory",
                       pg->sock_dir);
    if ((rc = mkdir_owned(abs, 0755, pg->uid, pg->gid, e)) ||
        (rc = mkdir_owned(pg->sock_dir, 0700, pg->uid, pg->gid, e)))
        return rc;

    char version_file[PATH_MAX + 16];
    snprintf(version_file, sizeof version_file, "%s/PG_VERSION", pg->data_dir);
    if (access(version_file, F_OK) == 0)
        return 0;
    if ((rc = mkdir_owned(pg->data_dir, 0700, pg->uid, pg->gid, e)))
        return rc;
    char initdb[PATH_MAX + 16], pgdata[PATH_MAX + 16];
    snprintf(initdb, sizeof initdb, "%s/initdb", pg->bin_dir);
    snprintf(pgdata, sizeof pgdata, "--pgdata=%s", pg->data_dir);
    /* trust is safe here: the only way in is the socket in a 0700 directory */
    char *argv[] = {initdb, pgdata, "--username=postgres", "--auth=trust", "--encoding=UTF8",
                    "--locale=C", "--no-instructions", NULL};
    return run_tool(pg, argv, e);
}

static int server_accepts(const struct pgembed *pg)
{
    char *ci = pgembed_conninfo(pg, "postgres");
    if (!ci)
        return 0;
    PGPing ping = PQping(ci);
    free(ci);
    return ping == PQPING_OK;
}

int pgembed_start(struct pgembed *pg, struct err *e)
{
    if (server_accepts(pg))
        return 0;
    char pg_ctl[PATH_MAX + 16], opts[2 * PATH_MAX];
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", pg->bin_dir);
    snprintf(opts, sizeof opts,
             "-c listen_addresses='' -c unix_socket_directories='%s' -c port=5432 "
             "-c max_connections=200 -c fsync=on",
             pg->sock_dir);
    char *argv[] = {pg_ctl, "start", "-w", "-t", "60", "-D", pg->data_dir, "-l", pg->log_path,
                    "-o", opts, NULL};
    int rc = run_tool(pg, argv, e);
    pg->started_here = rc == 0;
    return rc;
}

int pgembed_stop(struct pgembed *pg, struct err *e)
{
    char pg_ctl[PATH_MAX + 16];
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", pg->bin_dir);
    char *argv[] = {pg_ctl, "stop", "-w", "-t", "60", "-m", "fast", "-D", pg->data_dir, NULL};
    return run_tool(pg, argv, e);
}

int pgembed_ensure_db(struct pgembed *pg, const char *dbname, struct err *e)
{
    char *ci = pgembed_conninfo(pg, "postgres");
    if (!ci)
        return err_set(e, ERR_INTERNAL, "out of memory");
    PGconn *c = PQconnectdb(ci);
    free(ci);
    int rc = 0;
    if (PQstatus(c) != CONNECTION_OK) {
        rc = err_set(e, ERR_DB, "private PostgreSQL: %s", PQerrorMessage(c));
        goto out;
    }
    const char *params[] = {dbname};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params,
                               NULL, NULL, 0);
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!exists) {
        /* CREATE DATABASE takes no parameters: quote the identifier with libpq's own escaping */
        char *ident = PQescapeIdentifier(c, dbname, strlen(dbname));
        char sql[512];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = err_set(e, ERR_DB, "cannot create database %s: %s", dbname, PQresultErrorMessage(r));
        PQclear(r);
    }
out:
    PQfinish(c);
    return rc;
}

char *pgembed_conninfo(const struct pgembed *pg, const char *dbname)
{
    char *out = NULL;
    if (asprintf(&out, "host=%s port=5432 user=postgres dbname=%s connect_timeout=5", pg->sock_dir,
                 dbname) < 0)
        return NULL;
    return out;
}
