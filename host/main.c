/* main.c — the `dhis2sync` command: arguments, wiring, signals. The only place that exits. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "backup.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

static const char usage[] =
    "usage: dhis2sync COMMAND [ARGS]\n"
    "  serve [--port N]         HTTP admin + JSON API + scheduler + workers\n"
    "  migrate                  apply the db/ migrations\n"
    "  token add NAME           create an API token; prints it alone on stdout\n"
    "  backup FILE              database + mappings into one archive\n"
    "  restore FILE [--force]   put an archive back (--force: replace a non-empty database)\n"
    "Environment: DATABASE_URL, DHIS2SYNC_PORT, DHIS2SYNC_MAPPINGS, DHIS2SYNC_SECRET_KEY,\n"
    "DHIS2SYNC_ADMIN_USER, DHIS2SYNC_ADMIN_PASSWORD, DHIS2SYNC_LOG, DHIS2SYNC_LOG_FORMAT,\n"
    "DHIS2SYNC_MAX_BODY (see README.md)\n";

static int fail(const struct err *e)
{
    log_error("%s", e->msg);
    return 1;
}

/* SIGTERM/SIGINT are blocked in every thread and taken by sigwait in main, so that shutdown
 * runs as ordinary code, not in a signal handler. */
static void block_shutdown_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int cmd_serve(struct app *app, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            int port = atoi(argv[++i]);
            if (port < 1 || port > 65535) {
                fprintf(stderr, "--port takes a number from 1 to 65535\n");
                return 2;
            }
            app->cfg.port = port;
        } else {
            fprintf(stderr, "serve: unknown argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    sigset_t set;
    block_shutdown_signals(&set);
    metrics_init();
    struct err e = {0};
    struct http_server *http = NULL;
    int rc = 1;
    if (app_open(app, app->cfg.http_threads + app->cfg.workers + 2, &e))
        goto out;
    if (http_start(&http, app, &e))
        goto out;
    log_info("dhis2sync %s listening on port %d", DHIS2SYNC_VERSION, app->cfg.port);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    if (rc)
        fail(&e);
    http_stop(http);
    app_close(app);
    return rc;
}

static int cmd_migrate(struct app *app)
{
    struct err e = {0};
    int rc = app_open(app, 1, &e) ? fail(&e) : 0;
    if (!rc)
        log_info("database schema is up to date");
    app_close(app);
    return rc;
}

static int cmd_token(struct app *app, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "add") != 0) {
        fprintf(stderr, "usage: dhis2sync token add NAME\n");
        return 2;
    }
    struct err e = {0};
    char *token = NULL;
    int rc = 1;
    if (app_open(app, 1, &e) == 0) {
        PGconn *c = db_acquire(app->db, &e);
        if (c) {
            rc = auth_token_create(c, argv[1], &token, &e) ? 1 : 0;
            db_release(app->db, c);
        }
    }
    if (rc)
        fail(&e);
    else
        printf("%s\n", token);
    free(token);
    app_close(app);
    return rc;
}

static int cmd_backup(struct app *app, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: dhis2sync backup FILE\n");
        return 2;
    }
    struct err e = {0};
    return backup_create(&app->cfg, argv[0], &e) ? fail(&e) : 0;
}

static int cmd_restore(struct app *app, int argc, char **argv)
{
    const char *file = NULL;
    int force = 0, bad = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            bad = 1;
    }
    if (!file || bad) {
        fprintf(stderr, "usage: dhis2sync restore FILE [--force]\n");
        return 2;
    }
    struct err e = {0};
    return backup_restore(&app->cfg, file, force, &e) ? fail(&e) : 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct app app = {0};
    struct err e = {0};
    if (config_load(&app.cfg, &e))
        return fail(&e);
    if (log_configure(app.cfg.log_level, app.cfg.log_format) != 0)
        log_warn("DHIS2SYNC_LOG must be debug, info, warn or error and DHIS2SYNC_LOG_FORMAT text "
                 "or json; using the defaults");
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&app);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "restore") == 0)
        return cmd_restore(&app, argc - 2, argv + 2);
    fprintf(stderr, "unknown command '%s'\n%s", cmd, usage);
    return 2;
}
