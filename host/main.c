/* main.c — the `dhis2sync` command: arguments, wiring, signals. The only place that exits. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "check.h"
#include "cli.h"
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

/* A command's arguments are wrong: why, then its usage, on stderr; exit status 2. */
static int bad_usage(const char *command, const char *fmt, const char *arg)
{
    fprintf(stderr, "dhis2sync %s: ", command);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    cli_help(command, stderr);
    return 2;
}

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
            if (port < 1 || port > 65535)
                return bad_usage("serve", "--port takes a number from 1 to 65535, not '%s'", argv[i]);
            app->cfg.port = port;
        } else {
            return bad_usage("serve", "unknown argument '%s'", argv[i]);
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
    char waiting[80] = "";
    if (p->waiting_for) {
        time_t since = (time_t)p->waiting_since;
        struct tm tm;
        char at[16] = "?";
        localtime_r(&since, &tm);
        strftime(at, sizeof at, "%H:%M:%S", &tm);
        snprintf(waiting, sizeof waiting, "  waiting for the %s since %s (retrying)", p->waiting_for, at);
    }
    fprintf(stderr, "\r[%s] %3.0f%%  %lld values  %.0f values/s  ETA %s%s   ", bar_text, frac * 100,
            p->counts.fetched, rate, eta, waiting);
    fflush(stderr);
}

/* For --json: stdout holds one document even when there is no run to print, shaped like the
 * API's errors. */
static void print_error_json(const struct err *e)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "error", e->msg) && cJSON_AddNullToObject(o, "detail"))
        text = cJSON_PrintUnformatted(o);
    if (text)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

static int cmd_run(struct app *app, int argc, char **argv)
{
    const char *job_ref = NULL;
    int dry_run = -1, full = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            dry_run = 1;
        else if (strcmp(argv[i], "--full") == 0)
            full = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (!job_ref && argv[i][0] != '-')
            job_ref = argv[i];
        else
            return bad_usage("run", "unexpected argument '%s'", argv[i]);
    }
    if (!job_ref)
        return bad_usage("run", "which job? (%s)", "its name or id");
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
    struct progress_bar bar = {.tty = !json && isatty(STDERR_FILENO)};
    struct sync_options opt = {.worker = worker_id(), .cancel_requested = worker_cancel_requested,
                               .shutdown = &worker_shutdown, .on_progress = print_progress, .ud = &bar};
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
    if (json)
        print_error_json(&e);
done:
    if (c)
        db_release(app->db, c);
    close_all(app);
    return rc;
}

static int cmd_migrate(struct app *app, int argc, char **argv)
{
    if (argc > 0)
        return bad_usage("migrate", "unexpected argument '%s'", argv[0]);
    struct err e = {0};
    int rc = app_open(app, 1, &e) ? fail(&e) : 0;
    if (!rc)
        log_info("database schema is up to date");
    app_close(app);
    return rc;
}

/* One token a line, tab-separated under a header; never the token itself. */
static void print_tokens(const cJSON *tokens)
{
    static const char *const keys[] = {"createdAt", "lastUsedAt", "expiresAt"};
    printf("ID\tNAME\tCREATED\tLAST USED\tEXPIRES\n");
    const cJSON *t;
    cJSON_ArrayForEach(t, tokens)
    {
        printf("%.0f\t%s", cJSON_GetNumberValue(cJSON_GetObjectItem(t, "id")),
               cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")));
        for (int i = 0; i < 3; i++) {
            const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(t, keys[i]));
            printf("\t%s", v ? v : "-");
        }
        printf("%s\n", cJSON_IsTrue(cJSON_GetObjectItem(t, "expired")) ? " (expired)" : "");
    }
}

static int cmd_token(struct app *app, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    bool add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0,
         revoke = strcmp(sub, "revoke") == 0;
    struct err e = {0};
    time_t expires = 0;
    if (add && argc == 4 && strcmp(argv[2], "--expires") == 0) {
        /* checked before the database is touched: a typo costs nothing */
        if (auth_token_expiry(argv[3], time(NULL), &expires, &e)) {
            log_error("--expires %s", e.msg);
            return 2;
        }
    } else if (!(add && argc == 2) && !(list && argc == 1) && !(revoke && argc == 2)) {
        return bad_usage("token", "'%s' is not add NAME, list or revoke NAME|ID",
                         argc > 0 ? argv[0] : "");
    }
    char *token = NULL;
    cJSON *tokens = NULL;
    long long id = 0;
    int rc = 1;
    if (app_open(app, 1, &e) == 0) {
        PGconn *c = db_acquire(app->db, &e);
        if (c) {
            if (add)
                rc = auth_token_create_expiring(c, argv[1], expires, &token, NULL, &e) ? 1 : 0;
            else if (list)
                rc = (tokens = auth_token_list(c, &e)) ? 0 : 1;
            else
                rc = auth_token_revoke(c, argv[1], &id, &e) ? 1 : 0;
            db_release(app->db, c);
        }
    }
    if (rc)
        fail(&e);
    else if (add)
        printf("%s\n", token);
    else if (list)
        print_tokens(tokens);
    else
        log_info("revoked API token %lld", id);
    free(token);
    cJSON_Delete(tokens);
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
    if (argc != 2 || strcmp(argv[0], "add") != 0)
        return bad_usage("user", "%s", "the one subcommand is add NAME");
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
    if (argc != 1 || argv[0][0] == '-')
        return bad_usage("backup", "%s", "one argument: the archive to write");
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
    if (!file || bad)
        return bad_usage("restore", "%s", "one archive, and --force at most");
    struct err e = {0};
    return backup_restore(&app->cfg, file, force, &e) ? fail(&e) : 0;
}

static bool is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* help needs nothing else, not even a valid environment */
    if (strcmp(cmd, "help") == 0 || is_help(cmd)) {
        if (argc < 3) {
            cli_usage(stdout);
            return 0;
        }
        cmd = argv[2];
    }
    if (!cli_known(cmd)) {
        fprintf(stderr, "dhis2sync: unknown command '%s'\n", cmd);
        cli_usage(stderr);
        return 2;
    }
    bool want_help = cmd != argv[1];
    for (int i = 2; i < argc; i++)
        want_help |= is_help(argv[i]);
    if (want_help) {
        cli_help(cmd, stdout);
        return 0;
    }
    struct app app = {0};
    struct err e = {0};
    if (config_load(&app.cfg, &e))
        return fail(&e);
    if (log_configure(app.cfg.log_level, app.cfg.log_format) != 0)
        log_warn("DHIS2SYNC_LOG must be debug, info, warn or error and DHIS2SYNC_LOG_FORMAT text "
                 "or json; using the defaults");
    db_set_command(cmd);
    if (strcmp(cmd, "check") == 0)
        return check_command(argc - 1, argv + 1);
    curl_global_init(CURL_GLOBAL_ALL);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "worker") == 0)
        return argc == 2 ? run_until_signal(&app, 0) : bad_usage("worker", "unexpected argument '%s'", argv[2]);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "user") == 0)
        return cmd_user(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "restore") == 0)
        return cmd_restore(&app, argc - 2, argv + 2);
    if (strcmp(cmd, "status") == 0)
        return cli_status(&app, argc - 2, argv + 2);
    return 2; /* cli_known() knows no other command */
}
