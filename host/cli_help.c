/* cli_help.c — what `dhis2sync --help` and `dhis2sync COMMAND --help` print: one entry per
 * command, so the overview and the details cannot disagree about which commands exist. */
#include "cli.h"

#include <string.h>

/* Read by every command that opens the database. */
#define ENV_DB                                                                                     \
    "  DATABASE_URL            libpq URI; absent: a private cluster under var/pg\n"               \
    "  DHIS2SYNC_PG_BIN        PostgreSQL's bin directory, for the private cluster\n"
#define ENV_LOG                                                                                    \
    "  DHIS2SYNC_LOG           debug, info (default), warn or error; logs go to stderr\n"        \
    "  DHIS2SYNC_LOG_FORMAT    text (default) or json lines\n"
#define ENV_KEY "  DHIS2SYNC_SECRET_KEY    key of stored instance credentials (16+ characters)\n"
#define ENV_RUNS                                                                                   \
    ENV_KEY                                                                                        \
    "  DHIS2SYNC_MAPPINGS      the mappings directory (./mappings)\n"                            \
    "  DHIS2SYNC_WATERMARK_OVERLAP, DHIS2SYNC_HEARTBEAT_MS, DHIS2SYNC_ORPHAN_AFTER_S,\n"       \
    "  DHIS2SYNC_SMTP_URL, DHIS2SYNC_SMTP_FROM, DHIS2SYNC_SMTP_USER, DHIS2SYNC_SMTP_PASSWORD,\n" \
    "  DHIS2SYNC_NOTIFY_RETRY_MS, DHIS2SYNC_PUBLIC_URL   (see README.md)\n"

struct command_help {
    const char *name;
    const char *summary;        /* the overview's line(s) */
    const char *details;        /* after "usage: dhis2sync ": synopsis, options, environment */
};

static const struct command_help commands[] = {
    {"serve", "  serve [--port N]         HTTP admin + JSON API + scheduler + workers\n",
     "serve [--port N]\n"
     "The web admin, the JSON API, the scheduler and workers in one process, until SIGTERM.\n"
     "Options:\n"
     "  --port N                listen on port N (default DHIS2SYNC_PORT, 4999)\n"
     "Environment:\n" ENV_DB ENV_LOG ENV_RUNS
     "  DHIS2SYNC_PORT          port (4999)\n"
     "  DHIS2SYNC_ADMIN_USER, DHIS2SYNC_ADMIN_PASSWORD   the first admin, made if none exists\n"
     "  DHIS2SYNC_WORKERS       runs at a time (2)\n"
     "  DHIS2SYNC_HTTP_THREADS  HTTP threads (4)\n"
     "  DHIS2SYNC_MAX_BODY      request body cap in bytes (10 MB)\n"
     "  DHIS2SYNC_SCHED_TICK_MS scheduler tick (1000)\n"
     "  DHIS2SYNC_TRUSTED_PROXIES  proxies whose X-Forwarded-* headers count\n"
     "  DHIS2SYNC_METRICS_PUBLIC   1: /metrics needs no credentials\n"},
    {"worker", "  worker                   workers only: run queued runs from the database\n",
     "worker\n"
     "Workers only: claims queued runs from PostgreSQL until SIGTERM (scale-out on more hosts).\n"
     "Options: none.\n"
     "Environment:\n" ENV_DB ENV_LOG ENV_RUNS
     "  DHIS2SYNC_WORKERS       runs at a time (2)\n"},
    {"migrate", "  migrate                  apply the db/ migrations\n",
     "migrate\n"
     "Applies the pending db/ migrations (serve does it too at start).\n"
     "Options: none.\n"
     "Environment:\n" ENV_DB ENV_LOG},
    {"run",
     "  run JOB [--dry-run] [--full] [--json]\n"
     "                           one run of a job in the foreground; exit 0 succeeded,\n"
     "                           2 partial, 1 otherwise\n",
     "run JOB [--dry-run] [--full] [--json]\n"
     "One run of a sync job (its name, '/' and all, or its id) in the foreground. stdout gets\n"
     "the finished run as JSON, the shape of GET /api/runs/{id}; logs and, on a terminal, a\n"
     "progress bar go to stderr. Exit 0 succeeded, 2 partial, 1 otherwise.\n"
     "Options:\n"
     "  --dry-run               fetch and map, send nothing\n"
     "  --full                  ignore the watermark: the whole selection\n"
     "  --json                  stdout is one JSON document whatever happens: the run, or\n"
     "                          {\"error\":\"...\",\"detail\":null} when it could not start;\n"
     "                          no progress bar\n"
     "Environment:\n" ENV_DB ENV_LOG ENV_RUNS},
    {"check",
     "  check MAPPING [--sample FILE] [--json]\n"
     "                           try a mapping on sample values (no database needed)\n",
     "check MAPPING [--sample FILE|-] [--json] [--scripts DIR]\n"
     "Compiles a mapping (a name under DHIS2SYNC_MAPPINGS, or a path to a .lua file) in the\n"
     "sandbox and shows what it does to sample data values, or what its functions event,\n"
     "trackedEntity and metadata do to sample objects. Needs no database. Exit 1 on a\n"
     "compile error or an error on any sample value or object.\n"
     "Options:\n"
     "  --sample FILE           {\"dataValues\":[...]}, {\"events\":[...]},\n"
     "                          {\"trackedEntities\":[...]} or {\"metadata\":{\"dataElements\":[...]}}\n"
     "                          to try (- for stdin)\n"
     "  --json                  the result as JSON\n"
     "  --scripts DIR           the shared scripts directory (./scripts)\n"
     "Environment:\n"
     "  DHIS2SYNC_MAPPINGS      the mappings directory (./mappings)\n"
     "  DHIS2SYNC_SCRIPTS       the shared scripts directory (./scripts)\n" ENV_LOG},
    {"user", "  user add NAME            create an admin user; the password is read from stdin\n",
     "user add NAME\n"
     "Creates an admin user. The password is one line on stdin (not echoed on a terminal).\n"
     "Options: none.\n"
     "Environment:\n" ENV_DB ENV_LOG},
    {"token",
     "  token add NAME [--expires 90d|12h|30m|DATE]\n"
     "                           create an API token; prints it alone on stdout\n"
     "  token list               id, label, created, last used, expires (never the token)\n"
     "  token revoke NAME|ID     delete a token: refused from its next request on\n",
     "token add NAME [--expires 90d|12h|30m|2027-01-31|2027-01-31T12:00:00Z]\n"
     "       dhis2sync token list\n"
     "       dhis2sync token revoke NAME|ID\n"
     "add: a new API token labelled NAME, printed alone on stdout (shown this once).\n"
     "list: id, label, created, last used, expires; never the token.\n"
     "revoke: deletes a token by label or id; refused from its next request on.\n"
     "Options:\n"
     "  --expires WHEN          add: a duration from now (90d, 12h, 30m) or a UTC date/time\n"
     "Environment:\n" ENV_DB ENV_LOG},
    {"backup", "  backup FILE              database + mappings into one archive\n",
     "backup FILE\n"
     "Writes the database and the mappings into one archive.\n"
     "Options: none.\n"
     "Environment:\n" ENV_DB ENV_LOG "  DHIS2SYNC_MAPPINGS      the mappings directory (./mappings)\n"},
    {"restore", "  restore FILE [--force]   put an archive back (--force: replace a non-empty database)\n",
     "restore FILE [--force]\n"
     "Puts an archive made by backup back: database and mappings.\n"
     "Options:\n"
     "  --force                 replace a database that is not empty\n"
     "Environment:\n" ENV_DB ENV_LOG "  DHIS2SYNC_MAPPINGS      the mappings directory (./mappings)\n"},
    {"status",
     "  status [--json]          jobs (last and next run), scheduler leader, processes,\n"
     "                           runs queued or running\n",
     "status [--json]\n"
     "For a terminal without a browser: each job (enabled, schedule, last run and when, next\n"
     "run), the scheduler leader (the serve holding the scheduler lock), the dhis2sync\n"
     "processes connected to the database, and the runs queued or running with their worker.\n"
     "Exit 0, or 1 when the database cannot be reached.\n"
     "Options:\n"
     "  --json                  one JSON object: jobs, leader, processes, runs\n"
     "Environment:\n" ENV_DB ENV_LOG},
    {"help", "  help [COMMAND]           this overview, or one command's options and environment\n",
     "help [COMMAND]\n"
     "This overview, or COMMAND's usage, options and environment (as COMMAND --help).\n"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct command_help *find(const char *name)
{
    for (size_t i = 0; name && i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_usage(FILE *out)
{
    fputs("usage: dhis2sync COMMAND [ARGS]   (dhis2sync COMMAND --help for one command)\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fputs(commands[i].summary, out);
    fputs("Environment: DATABASE_URL, DHIS2SYNC_PORT, DHIS2SYNC_MAPPINGS, DHIS2SYNC_SECRET_KEY,\n"
          "DHIS2SYNC_ADMIN_USER, DHIS2SYNC_ADMIN_PASSWORD, DHIS2SYNC_LOG, DHIS2SYNC_LOG_FORMAT,\n"
          "DHIS2SYNC_MAX_BODY, DHIS2SYNC_WORKERS, DHIS2SYNC_SCHED_TICK_MS, DHIS2SYNC_SMTP_URL ...\n"
          "(see README.md and docs/scaling.md)\n",
          out);
}

bool cli_known(const char *command) { return find(command) != NULL; }

int cli_help(const char *command, FILE *out)
{
    const struct command_help *c = find(command);
    if (!c)
        return -1;
    fprintf(out, "usage: dhis2sync %s", c->details);
    return 0;
}
