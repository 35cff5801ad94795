/* sched_test.c — the scheduler from outside: real `serve` processes on a real database, due
 * times driven through jobs.next_run_at (no test waits for a minute boundary), no workers
 * (DHIS2SYNC_WORKERS=0) so queued runs stay queued and can be counted. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched_util.h"
#include "test.h"

static char *const fast_no_workers[] = {"DHIS2SYNC_WORKERS=0", "DHIS2SYNC_SCHED_TICK_MS=100", NULL};

/* Instances that are never called (no worker runs anything here). */
static void make_instances(struct spec_server *s)
{
    su_instance(s, "src", "http://127.0.0.1:9");
    su_instance(s, "dst", "http://127.0.0.1:9");
}

static void make_job(struct spec_server *s, const char *name, const char *schedule, bool enabled)
{
    char body[1024], sched[128] = "";
    if (schedule)
        snprintf(sched, sizeof sched, ",\"schedule\":\"%s\"", schedule);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"BfMAe6Itzgt\"],"
             "\"orgUnits\":[\"ImspTQPwCqd\"],\"periods\":{\"fixed\":[\"202401\"]},\"enabled\":%s%s}",
             name, enabled ? "true" : "false", sched);
    cJSON_Delete(su_call(s, "POST", "/api/jobs", body, 201));
}

static long long scheduled_runs(PGconn *c, const char *job)
{
    return su_sql_int(c,
                      "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id"
                      " WHERE j.name = '%s' AND r.trigger = 'schedule'", job);
}

TEST(scheduler_queues_one_run_per_due_slot_and_coalesces_while_busy)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, fast_no_workers) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    /* yearly: nothing but the test makes it due */
    make_job(&s, "yearly", "0 0 1 1 *", true);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE next_run_at > now()"), 1);

    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 second'");
    su_wait_sql(c, 20000, "1", "SELECT count(*) FROM runs WHERE trigger = 'schedule'");
    /* the due time moved to the next slot: 1 January, midnight UTC */
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE next_run_at > now() AND"
                            " next_run_at = date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                            "   + interval '1 year'"), 1);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs WHERE status = 'queued' AND NOT dry_run"), 1);

    /* due again while that run is still queued: skipped, not stacked */
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 second'");
    su_wait_sql(c, 20000, "1", "SELECT schedule_skipped FROM jobs");
    CHECK_INT(scheduled_runs(c, "yearly"), 1);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE next_run_at > now() AND last_skipped_at IS NOT NULL"), 1);
    CHECK(su_wait_file(s.log_path, "the run due at", 5000) == 0);
    CHECK(su_wait_file(s.log_path, "is skipped, run", 5000) == 0);

    /* once it has finished, the next due slot queues the next run */
    su_sql_exec(c, "UPDATE runs SET status = 'succeeded', finished_at = now()");
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 second'");
    su_wait_sql(c, 20000, "2", "SELECT count(*) FROM runs WHERE trigger = 'schedule'");
    CHECK_INT(su_sql_int(c, "SELECT schedule_skipped FROM jobs"), 1);
    /* and nothing more comes while nothing is due: wait for a later tick by a second job */
    make_job(&s, "canary", "0 0 1 1 *", true);
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 second' WHERE name = 'canary'");
    su_wait_sql(c, 20000, "1", "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'canary'");
    CHECK_INT(scheduled_runs(c, "yearly"), 2);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(scheduler_catches_up_once_after_downtime)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, fast_no_workers) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    make_job(&s, "every-minute", "* * * * *", true);
    make_job(&s, "every-5", "*/5 * * * *", true);
    spec_server_stop(&s);

    /* while no process ran, 90 minutes of slots went by */
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '90 minutes'");
    CHECK(spec_server_start(&s, db, fast_no_workers) == 0);
    su_wait_sql(c, 20000, "2", "SELECT count(*) FROM runs WHERE trigger = 'schedule'");
    CHECK_INT(scheduled_runs(c, "every-minute"), 1);
    CHECK_INT(scheduled_runs(c, "every-5"), 1);
    /* next due: the first slot after now, not the next missed one */
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE next_run_at > now()"
                            " AND next_run_at <= now() + interval '5 minutes'"
                            " AND extract(second FROM next_run_at) = 0"), 2);
    CHECK(su_wait_file(s.log_path, "slots were missed, caught up with this one run", 5000) == 0);
    /* the queued runs stay alone: a later slot of the minutely job is coalesced */
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '3 minutes'");
    su_wait_sql(c, 20000, "2", "SELECT sum(schedule_skipped) FROM jobs");
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs"), 2);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(scheduler_never_queues_disabled_or_unscheduled_jobs)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, fast_no_workers) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    make_job(&s, "canary", "0 0 1 1 *", true);
    make_job(&s, "disabled", "0 0 1 1 *", false);
    make_job(&s, "unscheduled", NULL, true);
    make_job(&s, "broken", "0 0 1 1 *", true);
    make_job(&s, "no-due-time", "0 0 1 1 *", true);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE name = 'unscheduled' AND next_run_at IS NULL"), 1);
    /* a schedule spoiled by hand is reported, not run */
    su_sql_exec(c, "UPDATE jobs SET schedule = '61 * * * *' WHERE name = 'broken'");
    for (int round = 1; round <= 3; round++) {
        /* all look due; one pass handles all due jobs in one transaction */
        su_sql_exec(c, "UPDATE runs SET status = 'succeeded', finished_at = now()");
        /* and a job stored without a due time gets one, from now on: no run yet */
        su_sql_exec(c, "UPDATE jobs SET next_run_at = CASE WHEN name = 'no-due-time' THEN NULL"
                       " ELSE now() - interval '10 minutes' END");
        char want[8];
        snprintf(want, sizeof want, "%d", round);
        su_wait_sql(c, 20000, want, "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'canary'");
    }
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs"), 3);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE name IN ('broken', 'no-due-time')"
                            " AND next_run_at > now()"), 2);
    CHECK(su_wait_file(s.log_path, "job 'broken' is not scheduled: cron expression '61 * * * *'", 5000) == 0);
    /* a disabled job that is enabled again is due from now on, not caught up */
    cJSON *j = su_call(&s, "PATCH", "/api/jobs/disabled", "{\"enabled\":true}", 200);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE name = 'disabled' AND next_run_at > now()"), 1);
    cJSON_Delete(j);
    su_sql_exec(c, "UPDATE runs SET status = 'succeeded', finished_at = now()");
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 second' WHERE name = 'canary'");
    su_wait_sql(c, 20000, "4", "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'canary'");
    CHECK_INT(scheduled_runs(c, "disabled"), 0);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(changing_a_schedule_recomputes_the_next_run)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, fast_no_workers) == 0);
    PGconn *c = su_db(db);
    make_instances(&s);
    make_job(&s, "j", "0 0 1 1 *", true);
    su_sql_exec(c, "UPDATE jobs SET next_run_at = '2090-01-01T00:00:00Z'");
    /* other changes keep the due time */
    cJSON *j = su_call(&s, "PATCH", "/api/jobs/j", "{\"name\":\"j2\",\"importOptions\":{\"batchSize\":10}}", 200);
    CHECK_STR(su_str(j, "nextRunAt"), "2090-01-01T00:00:00.000Z");
    cJSON_Delete(j);
    j = su_call(&s, "PATCH", "/api/jobs/j2", "{\"schedule\":\"30 3 * * *\"}", 200);
    const char *next = su_str(j, "nextRunAt");
    CHECKF(next && strstr(next, "T03:30:00.000Z"), "nextRunAt: expected the next 03:30 UTC, saw %s",
           next ? next : "(null)");
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM jobs WHERE next_run_at > now()"
                            " AND next_run_at <= now() + interval '1 day'"), 1);
    cJSON_Delete(j);
    j = su_call(&s, "PATCH", "/api/jobs/j2", "{\"schedule\":\"@hourly\"}", 200);
    CHECKF(strstr(su_str(j, "nextRunAt"), ":00:00.000Z") != NULL, "nextRunAt %s", su_str(j, "nextRunAt"));
    cJSON_Delete(j);
    j = su_call(&s, "PATCH", "/api/jobs/j2", "{\"schedule\":null}", 200);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "nextRunAt")));
    cJSON_Delete(j);
    /* a schedule that never comes is refused, naming the field */
    j = su_call(&s, "PATCH", "/api/jobs/j2", "{\"schedule\":\"0 0 30 2 *\"}", 422);
    CHECK_STR(su_str(cJSON_GetObjectItem(j, "detail"), "field"), "schedule");
    CHECK_CONTAINS(su_str(j, "error"), "never due");
    cJSON_Delete(j);
    PQfinish(c);
    spec_server_stop(&s);
}

static pid_t leader_of(struct spec_server *a, struct spec_server *b, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        char *la = su_read_file(a->log_path), *lb = su_read_file(b->log_path);
        bool in_a = la && strstr(la, "now queues the scheduled runs");
        bool in_b = lb && strstr(lb, "now queues the scheduled runs");
        free(la);
        free(lb);
        CHECKF(!(in_a && in_b), "both processes say they queue the scheduled runs");
        if (in_a || in_b)
            return in_a ? a->pid : b->pid;
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "no process became the scheduler");
}

TEST(one_process_schedules_at_a_time_and_another_takes_over_when_it_dies)
{
    char *db = spec_new_db();
    struct spec_server a, b;
    CHECK(spec_server_start(&a, db, fast_no_workers) == 0);
    CHECK(spec_server_start(&b, db, fast_no_workers) == 0);
    PGconn *c = su_db(db);
    make_instances(&a);
    enum { JOBS = 12, ROUNDS = 4 };
    for (int i = 0; i < JOBS; i++) {
        char name[16];
        snprintf(name, sizeof name, "job%d", i);
        make_job(i % 2 ? &a : &b, name, "0 0 1 1 *", true);
    }
    pid_t leader = leader_of(&a, &b, 20000);
    /* the lock: one session of this database holds it */
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                            " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"), 1);
    for (int round = 1; round <= ROUNDS; round++) {
        su_sql_exec(c, "UPDATE runs SET status = 'succeeded', finished_at = now() WHERE status = 'queued'");
        su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 minute'");
        char want[16];
        snprintf(want, sizeof want, "%d", JOBS * round);
        su_wait_sql(c, 20000, want, "SELECT count(*) FROM runs");
    }
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM (SELECT job_id FROM runs GROUP BY job_id"
                            " HAVING count(*) = %d) x", ROUNDS), JOBS);

    /* the scheduling process dies without a word: its session ends, the other takes over */
    struct spec_server *dead = leader == a.pid ? &a : &b, *alive = leader == a.pid ? &b : &a;
    kill(dead->pid, SIGKILL);
    waitpid(dead->pid, NULL, 0);
    dead->pid = 0;
    CHECKF(su_wait_file(alive->log_path, "now queues the scheduled runs", 20000) == 0,
           "the surviving process did not take over");
    su_sql_exec(c, "UPDATE runs SET status = 'succeeded', finished_at = now() WHERE status = 'queued'");
    su_sql_exec(c, "UPDATE jobs SET next_run_at = now() - interval '1 minute'");
    char want[16];
    snprintf(want, sizeof want, "%d", JOBS * (ROUNDS + 1));
    su_wait_sql(c, 20000, want, "SELECT count(*) FROM runs");
    PQfinish(c);
    spec_server_stop(alive);
}
