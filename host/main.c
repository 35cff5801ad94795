/* main.c — the `dhis2sync` command: arguments, wiring, signals. The only place that exits. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "check.h"
#include "backup.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "mapping_registry.h"
#include "notify.h"
#include "runs.h"
#include "scheduler.h"
#include "sync.h"
#include "worker.h"
#include "users.h"
#include "metrics.h"

static const char usage[] =
    "usage: dhis2sync COMMAND [ARGS]\n"
    "  serve [--port N]         HTTP admin + JSON API + scheduler + workers\n"
    "  worker                   workers only: run queued runs from the database\n"
    "  migrate                  apply the db/ migrations\n"
    "  run JOB [--dry-run] [--full]\n"
    "                           one run of a job in the foreground; exit 0 succeeded,\n"
    "                           2 partial, 1 otherwise\n"
    "  check MAPPING [--sample FILE] [--json]\n"
    "                           try a mapping on sample values (no database needed)\n"
    "  token add NAME           create an API token; prints it alone on stdout\n"
    "  user add NAME            create an admin user; the password is read from stdin\n"
    "  backup FILE              database + mappings into one archive\n"
    "  restore FILE [--force]   put an archive back (--force: replace a non-empty database)\n"
    "Environment: DATABASE_URL, DHIS2SYNC_PORT, DHIS2SYNC_MAPPINGS, DHIS2SYNC_SECRET_KEY,\n"
    "DHIS2SYNC_ADMIN_USER, DHIS2SYNC_ADMIN_PASSWORD, DHIS2SYNC_LOG, DHIS2SYNC_LOG_FORMAT,\n"
    "DHIS2SYNC_MAX_BODY, DHIS2SYNC_WORKERS, DHIS2SYNC_SCHED_TICK_MS, DHIS2SYNC_SMTP_URL ...\n"
    "(see README.md and docs/scaling.md)\n";

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

static int open_mappings(struct app *app, int watch, struct err *e)
{
    struct mapping_registry_config mc = {.dir = app->cfg.mappings_dir,
                                         .scripts_dir = app->cfg.scripts_dir, .watch = watch};
    return mapping_registry_open(&mc, &app->mappings, e);
}

static void close_all(struct app *app)
{
    sched_stop();
    worker_stop();
    mapping_registry_close(app->mappings);
    app->mappings = NULL;
    app_close(app);
}

/* serve (with_http) and worker: the process runs until SIGTERM or SIGINT. */
static int run_until_signal(struct app *app, int with_http)
{
    sigset_t set;
    block_shutdown_signals(&set);
    metrics_init();
    struct err e = {0};
    struct http_server *http = NULL;
    int rc = 1;
    if (app_open(app, app->cfg.http_threads + app->cfg.workers + 3, &e) ||
        (with_http && users_ensure_first_admin(app, &e)) || open_mappings(app, 1, &e))
        goto out;
    if (with_http && http_start(&http, app, &e))
        goto out;
    if (worker_start(app, app->cfg.workers, &e))
        goto out;
    if (with_http && sched_start(app, &e))
        goto out;
    if (with_http)
        log_info("dhis2sync %s listening on port %d", DHIS2SYNC_VERSION, app->cfg.port);
    else
        log_info("dhis2sync %s worker %s running %d runs at a time", DHIS2SYNC_VERSION, worker_id(),
                 app->cfg.workers);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    if (rc)
        fail(&e);
    /* stop taking requests first, then let runs reach a batch boundary */
    http_stop(http);
    close_all(app);
    return rc;
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
    return run_until_signal(app, 1);
}

static void on_interrupt(int sig)
{
    (void)sig;
    atomic_store(&worker_shutdown, 1);
}

struct progress_bar {
    int tty;
    double last_print;
};

static void print_progress(void *ud, const struct sync_progress *p)
{
    struct progress_bar *bar = ud;
    if (!bar->tty || (p->elapsed_s - bar->last_print < 0.2 && p->chunks_done < p->chunks_total))
        return;
    bar->last_print = p->elapsed_s;
    double frac = p->chunks_total > 0 ? (double)p->chunks_done / (double)p->chunks_total : 0;
    double rate = p->elapsed_s > 0 ? (double)p->counts.fetched / p->elapsed_s : 0;
    char eta[32] = "--";
    if (frac > 0.001 && frac < 1)
        snprintf(eta, sizeof eta, "%.0fs", p->elapsed_s * (1 - frac) / frac);
    int width = 30, filled = (int)(frac * width);
    char bar_text[64];
    for (int i = 0; i < width; i++)
        bar_text[i] = i < filled ? '#' : '.';
    bar_text[width] = '\0';
    fprintf(stderr, "\r[%s] %3.0f%%  %lld values  %.0f values/s  ETA %s   ", bar_text, frac * 100,
            p->counts.fetched, rate, eta);
    fflush(stderr);
}

static int cmd_run(struct app *app, int argc, char **argv)
{
    const char *job_ref = NULL;
    int dry_run = -1, full = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            dry_run = 1;
        else if (strcmp(argv[i], "--full") == 0)
            full = 1;
        else if (!job_ref && argv[i][0] != '-')
            job_ref = argv[i];
        else {
            fprintf(stderr, "usage: dhis2sync run JOB [--dry-run] [--full]\n");
            return 2;
        }
    }
    if (!job_ref) {
        fprintf(stderr, "usage: dhis2sync run JOB [--dry-run] [--full]\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct err e = {0};
    long long job_id, run_id = 0;
    const char *status = "failed";
    int rc = 1;
    PGconn *c = NULL;
    if (app_open(app, 4, &e) || open_mappings(app, 0, &e) || !(c = db_acquire(app->db, &e)) ||
        job_resolve(c, job_ref, &job_id, &e) ||
        run_enqueue(c, job_id, dry_run, full, "cli", worker_id(), &run_id, &e))
        goto out;
    db_release(app->db, c);
    c = NULL;
    /* the heartbeat keeps this run from looking orphaned to a serve elsewhere */
    if (worker_start(app, 0, &e))
        goto out;
    worker_track(run_id);
    struct progress_bar bar = {.tty = isatty(STDERR_FILENO)};
    struct sync_options opt = {.shutdown = &worker_shutdown, .on_progress = print_progress, .ud = &bar};
    sync_run(app, run_id, &opt, &status, &e);
    if (bar.tty)
        fputc('\n', stderr);
    worker_untrack(run_id);
    rc = strcmp(status, "succeeded") == 0 ? 0 : strcmp(status, "partial") == 0 ? 2 : 1;
    struct err ne = {0};
    if (notify_run(app, run_id, &worker_shutdown, &ne) != 0)
        log_warn("run %lld: notification: %s", run_id, ne.msg);
    if ((c = db_acquire(app->db, &e))) {
        char id[24];
        snprintf(id, sizeof id, "%lld", run_id);
        const char *params[] = {id};
        PGresult *r = db_query(c, "SELECT run_json(r) FROM runs r WHERE id = $1", 1, params, &e);
        if (r && PQntuples(r) == 1)
            printf("%s\n", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    goto done; /* sync_run logged how it ended */
out:
    fail(&e);
done:
    if (c)
        db_release(app->db, c);
    close_all(app);
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

/* One line of stdin, without its line end; on a terminal without echo. The caller frees it
 * with crypto_free_secret. NULL at end of input. */
static char *read_password(void)
{
    struct termios saved, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        fputs("password: ", stderr);
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputs("\n", stderr);
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static int cmd_user(struct app *app, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "add") != 0) {
        fprintf(stderr, "usage: dhis2sync user add NAME   (the password is read from stdin)\n");
        return 2;
    }
    struct err e = {0};
    /* checked before the database is touched: a typo costs nothing */
    if (users_check_name(argv[1], &e))
        return fail(&e);
    char *password = read_password();
    if (!password) {
        err_set(&e, ERR_INPUT, "no password: write it as one line on stdin");
        return fail(&e);
    }
    int rc = 1;
    long long id = 0;
    if (users_check_password(password, &e) == 0 && app_open(app, 1, &e) == 0) {
        PGconn *c = db_acquire(app->db, &e);
        if (c) {
            rc = users_create(c, argv[1], password, &id, &e) ? 1 : 0;
            db_release(app->db, c);
        }
    }
    crypto_free_secret(password);
    if (rc)
        fail(&e);
    else
        log_info("created user '%s' (id %lld)", argv[1], id);
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
    db_set_command(cmd);
    if (strcmp(cmd, "check") == 0)
        return check_command(argc - 1, argv + 1);
    curl_global_init(CURL_GLOBAL_ALL);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "worker") == 0)
        return argc == 2 ? run_until_signal(&app, 0) : (fputs(usage, stderr), 2);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&app);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "user") == 0)
        return cmd_user(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "restore") == 0)
        return cmd_restore(&app, argc - 2, argv + 2);
    fprintf(stderr, "unknown command '%s'\n%s", cmd, usage);
    return 2;
}
