/* cli_status.c — `dhis2sync status`: the state of a deployment for a terminal without a
 * browser, read from the database alone (any host that reaches it can ask). One query builds
 * the JSON; the table is printed from that same JSON, so the two cannot disagree. */
#include "cli.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "scheduler.h"

/* The leader is whoever holds the scheduler's advisory lock (as /metrics counts it); the
 * processes are our connections, which name themselves "dhis2sync COMMAND:PID"
 * (db_application_name), this one left out. */
static const char status_sql[] =
    "SELECT json_build_object("
    " 'jobs', coalesce((SELECT json_agg(json_build_object("
    "     'name', j.name, 'enabled', j.enabled, 'schedule', j.schedule,"
    "     'nextRunAt', iso_utc(j.next_run_at),"
    "     'lastRun', (SELECT json_build_object('id', r.id, 'status', r.status,"
    "                        'finishedAt', iso_utc(r.finished_at))"
    "                   FROM runs r WHERE r.job_id = j.id AND r.finished_at IS NOT NULL"
    "                  ORDER BY r.finished_at DESC, r.id DESC LIMIT 1))"
    "   ORDER BY j.name) FROM jobs j), '[]'),"
    " 'leader', (SELECT json_build_object('process', a.application_name,"
    "                   'since', iso_utc(a.backend_start))"
    "              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    "             WHERE " SCHED_LEADER_LOCK_SQL("l")
    "             LIMIT 1),"
    " 'processes', coalesce((SELECT json_agg(json_build_object('process', p.name,"
    "                   'address', p.address, 'connections', p.n, 'since', iso_utc(p.since))"
    "                   ORDER BY p.name)"
    "     FROM (SELECT application_name AS name, min(host(client_addr)) AS address,"
    "                  count(*) AS n, min(backend_start) AS since"
    "             FROM pg_stat_activity"
    "            WHERE datname = current_database() AND application_name LIKE 'dhis2sync %:%'"
    "              AND application_name <> $1"
    "            GROUP BY application_name) p), '[]'),"
    " 'runs', coalesce((SELECT json_agg(json_build_object('id', r.id, 'job', j.name,"
    "                   'status', r.status, 'trigger', r.trigger, 'worker', r.worker,"
    "                   'createdAt', iso_utc(r.created_at), 'startedAt', iso_utc(r.started_at),"
    "                   'progress', json_build_object('done', r.progress_done,"
    "                                                 'total', r.progress_total))"
    "                   ORDER BY r.id)"
    "     FROM runs r JOIN jobs j ON j.id = r.job_id"
    "    WHERE r.status IN ('queued', 'running')), '[]'))";

static const char *text_of(const cJSON *o, const char *key, const char *none)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return v ? v : none;
}

/* Tab-separated tables under headers, like `token list`: easy on eyes, cut and awk. */
static void print_table(const cJSON *st)
{
    const cJSON *o;
    printf("JOB\tENABLED\tSCHEDULE\tLAST RUN\tFINISHED\tNEXT RUN\n");
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(st, "jobs"))
    {
        const cJSON *last = cJSON_GetObjectItem(o, "lastRun");
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", text_of(o, "name", "?"),
               cJSON_IsTrue(cJSON_GetObjectItem(o, "enabled")) ? "yes" : "no",
               text_of(o, "schedule", "-"), text_of(last, "status", "-"),
               text_of(last, "finishedAt", "-"), text_of(o, "nextRunAt", "-"));
    }
    const cJSON *leader = cJSON_GetObjectItem(st, "leader");
    if (cJSON_IsObject(leader))
        printf("\nSCHEDULER LEADER\t%s\tsince %s\n", text_of(leader, "process", "?"),
               text_of(leader, "since", "?"));
    else
        printf("\nSCHEDULER LEADER\tnone: no serve holds the scheduler lock, nothing is queued "
               "on schedule\n");
    printf("\nPROCESS\tADDRESS\tCONNECTIONS\tSINCE\n");
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(st, "processes"))
        printf("%s\t%s\t%.0f\t%s\n", text_of(o, "process", "?"), text_of(o, "address", "local"),
               cJSON_GetNumberValue(cJSON_GetObjectItem(o, "connections")), text_of(o, "since", "-"));
    printf("\nRUN\tJOB\tSTATUS\tTRIGGER\tWORKER\tSTARTED\tPROGRESS\n");
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(st, "runs"))
    {
        const cJSON *p = cJSON_GetObjectItem(o, "progress");
        const cJSON *total = cJSON_GetObjectItem(p, "total");
        char progress[64];
        snprintf(progress, sizeof progress, cJSON_IsNumber(total) ? "%.0f/%.0f" : "%.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(p, "done")), cJSON_GetNumberValue(total));
        printf("%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id")),
               text_of(o, "job", "?"), text_of(o, "status", "?"), text_of(o, "trigger", "?"),
               text_of(o, "worker", "-"), text_of(o, "startedAt", "-"), progress);
    }
}

int cli_status(struct app *app, int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "dhis2sync status: unexpected argument '%s'\n", argv[i]);
            cli_help("status", stderr);
            return 2;
        }
        json = 1;
    }
    struct err e = {0};
    PGconn *c = NULL;
    PGresult *r = NULL;
    int rc = 1;
    char self[DB_APPLICATION_NAME_SIZE];
    db_application_name(self);
    const char *params[] = {self};
    if (app_open(app, 1, &e) || !(c = db_acquire(app->db, &e)) ||
        !(r = db_query(c, status_sql, 1, params, &e)))
        goto out;
    if (json) {
        printf("%s\n", PQgetvalue(r, 0, 0));
        rc = 0;
        goto out;
    }
    cJSON *st = cJSON_Parse(PQgetvalue(r, 0, 0));
    if (!st) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    print_table(st);
    cJSON_Delete(st);
    rc = 0;
out:
    if (rc)
        log_error("status: %s", e.msg);
    PQclear(r);
    if (c)
        db_release(app->db, c);
    app_close(app);
    return rc;
}
