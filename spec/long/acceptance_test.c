/* acceptance_test.c — the long acceptance run of the scheduler (about 11 minutes; not part of
 * the normal suite): a job scheduled every minute (`*' '/1 * * * *`, UTC) runs once a minute
 * for ten minutes across one `serve` (scheduler + 2 workers) and two `dhis2sync worker`
 * processes (2 each), against a slow-ish DHIS2 emulator, with real minute boundaries and the
 * default tick, heartbeat and orphan settings. It checks and prints:
 *   - one scheduled run per minute slot, queued within seconds of the boundary, no gaps;
 *   - no two runs of the job overlap in time, and none was stacked or skipped;
 *   - every run succeeded; which processes ran them;
 *   - the target ends equal to the source.
 * Build and run it with spec/long/run.sh; the report goes to $LONG_REPORT and stdout. */
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "../sched_util.h"
#include "../test.h"

enum { MINUTES = 10 };

static FILE *report;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (report) {
        va_start(ap, fmt);
        vfprintf(report, fmt, ap);
        va_end(ap);
        fflush(report);
    }
    fflush(stdout);
}

#define VERIFY(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            say("FAILED: ");                                                               \
            say(__VA_ARGS__);                                                              \
            say("\n");                                                                     \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                    \
        }                                                                                  \
        say("ok: ");                                                                       \
        say(__VA_ARGS__);                                                                  \
        say("\n");                                                                         \
    } while (0)

TEST_TIMEOUT(a_minutely_job_runs_once_a_minute_across_three_processes_for_ten_minutes, 1200)
{
    const char *path = getenv("LONG_REPORT");
    report = fopen(path ? path : "long-test-report.txt", "w");
    time_t t0 = time(NULL);
    say("acceptance run started %s", ctime(&t0));
    struct su_emu src, dst;
    su_emu_start(&src, 2000, 60, 41);
    su_emu_start(&dst, 0, 60, 41);
    /* each request to the source waits 3 s: a run takes seconds, not milliseconds */
    su_emu_faults(&src, "{\"delayMs\":3000}");
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, (char *const[]){"DHIS2SYNC_WORKERS=2", "DHIS2SYNC_LOG=info", NULL}) == 0);
    PGconn *c = su_db(db);
    struct su_worker w1, w2;
    su_worker_start(&w1, db, (char *const[]){"DHIS2SYNC_WORKERS=2", NULL});
    su_worker_start(&w2, db, (char *const[]){"DHIS2SYNC_WORKERS=2", NULL});
    su_instance(&s, "district", src.url);
    su_instance(&s, "national", dst.url);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"every-minute\",\"source\":\"district\",\"target\":\"national\","
             "\"dataSets\":[\"%s\",\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"2000-01-01\",\"end\":\"2100-12-31\"},\"incremental\":true,"
             "\"importOptions\":{\"batchSize\":200},\"schedule\":\"*/1 * * * *\",\"enabled\":true}",
             src.ds_monthly, src.ds_quarterly, src.root);
    cJSON *job = su_call(&s, "POST", "/api/jobs", body, 201);
    say("job 'every-minute' created, schedule */1 * * * *, first due %s\n", su_str(job, "nextRunAt"));
    say("processes: serve pid %d (scheduler + 2 workers), worker %s, worker %s\n", (int)s.pid, w1.id, w2.id);
    cJSON_Delete(job);

    /* ten scheduled runs finished: about ten and a half minutes */
    char want[16];
    snprintf(want, sizeof want, "%d", MINUTES);
    for (int waited = 0;; waited += 5) {
        long long done = su_sql_int(c, "SELECT count(*) FROM runs WHERE trigger = 'schedule' AND finished_at IS NOT NULL");
        if (done >= MINUTES)
            break;
        CHECKF(waited < 13 * 60, "after %d s only %lld scheduled runs finished", waited, done);
        if (waited % 60 == 0)
            say("  %3d s: %lld scheduled runs finished\n", waited, done);
        sleep(5);
    }
    /* stop the scheduler first, so that the history below is complete */
    spec_server_stop(&s);
    su_worker_stop(&w1);
    su_worker_stop(&w2);

    PGresult *r = PQexec(c,
                         "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'),"
                         " to_char(started_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'),"
                         " to_char(finished_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), status, worker,"
                         " trigger, (counts->>'fetched')::bigint,"
                         " extract(epoch FROM created_at - date_trunc('minute', created_at)),"
                         " extract(epoch FROM date_trunc('minute', created_at))::bigint / 60,"
                         " extract(epoch FROM finished_at - started_at)"
                         " FROM runs ORDER BY id");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
    int n = PQntuples(r);
    say("\nrun history (UTC):\n  %-4s %-12s %-12s %-12s %-10s %-9s %-8s %s\n", "id", "queued", "started",
        "finished", "status", "trigger", "fetched", "worker");
    for (int i = 0; i < n; i++)
        say("  %-4s %-12s %-12s %-12s %-10s %-9s %-8s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
            PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 6),
            PQgetvalue(r, i, 7), PQgetvalue(r, i, 5));
    say("\n");
    VERIFY(n >= MINUTES, "at least %d runs in the history (saw %d)", MINUTES, n);
    int scheduled = 0, by_serve = 0, by_w1 = 0, by_w2 = 0;
    double max_delay = 0, max_duration = 0;
    long long prev_minute = -1;
    bool consecutive = true, all_scheduled = true, all_succeeded = true;
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(r, i, 6), "schedule") != 0)
            all_scheduled = false;
        scheduled++;
        if (strcmp(PQgetvalue(r, i, 4), "succeeded") != 0)
            all_succeeded = false;
        double delay = atof(PQgetvalue(r, i, 8)), duration = atof(PQgetvalue(r, i, 10));
        max_delay = delay > max_delay ? delay : max_delay;
        max_duration = duration > max_duration ? duration : max_duration;
        long long minute = strtoll(PQgetvalue(r, i, 9), NULL, 10);
        if (prev_minute >= 0 && minute != prev_minute + 1)
            consecutive = false;
        prev_minute = minute;
        const char *w = PQgetvalue(r, i, 5);
        if (strcmp(w, w1.id) == 0)
            by_w1++;
        else if (strcmp(w, w2.id) == 0)
            by_w2++;
        else
            by_serve++;
    }
    VERIFY(all_scheduled, "every run was queued by the scheduler (trigger 'schedule'): %d runs", scheduled);
    VERIFY(consecutive, "one run per minute slot: consecutive minutes, no slot twice, no gap");
    VERIFY(max_delay < 10, "each run was queued within 10 s of its minute boundary (latest: %.1f s)", max_delay);
    VERIFY(all_succeeded, "every run succeeded");
    /* no overlap: each run started after the previous one finished */
    long long overlaps = su_sql_int(c,
                                    "SELECT count(*) FROM runs a JOIN runs b ON a.id < b.id"
                                    " WHERE a.job_id = b.job_id AND b.started_at < a.finished_at");
    VERIFY(overlaps == 0, "no two runs of the job overlapped in time (longest run %.1f s)", max_duration);
    long long skipped = su_sql_int(c, "SELECT schedule_skipped FROM jobs");
    VERIFY(skipped == 0, "no slot was skipped for a run still going (schedule_skipped = %lld)", skipped);
    say("runs by process: serve %d, worker 1 %d, worker 2 %d\n", by_serve, by_w1, by_w2);
    VERIFY(by_serve + by_w1 + by_w2 == n && (by_serve > 0) + (by_w1 > 0) + (by_w2 > 0) >= 2,
           "runs were shared by more than one process (%d processes ran some)",
           (by_serve > 0) + (by_w1 > 0) + (by_w2 > 0));
    long n_src, n_dst;
    char *a = su_emu_values(&src, src.ds_monthly, &n_src), *b = su_emu_values(&dst, dst.ds_monthly, &n_dst);
    VERIFY(n_src > 0 && n_src == n_dst && strcmp(a, b) == 0,
           "the target's monthly values equal the source's (%ld and %ld)", n_dst, n_src);
    free(a);
    free(b);
    a = su_emu_values(&src, src.ds_quarterly, &n_src);
    b = su_emu_values(&dst, dst.ds_quarterly, &n_dst);
    VERIFY(n_src == n_dst && strcmp(a, b) == 0, "the target's quarterly values equal the source's (%ld and %ld)",
           n_dst, n_src);
    free(a);
    free(b);
    PQclear(r);
    time_t t1 = time(NULL);
    say("acceptance run passed in %ld s\n", (long)(t1 - t0));
    PQfinish(c);
    if (report)
        fclose(report);
}
