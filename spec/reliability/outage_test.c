/* Runs that ride out outages, end to end: a real dhis2sync between two DHIS2 emulators over
 * HTTP, faults injected into the target (or the source, or PostgreSQL) while the run goes. In
 * each case the target ends exactly equal to the source, no run is left running, the run says
 * what happened, and the run that met the fault succeeds (unless the fault outlasts the window).
 * Single backoffs are capped at 300 ms here (DHIS2SYNC_RETRY_MAX_DELAY_MS), so that seconds of
 * outage cost seconds of test; `make soak` has the minutes-long outages. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "rel_util.h"

enum { VALUES = 3000, MAX_DELAY_MS = 300 };

TEST_TIMEOUT(a_target_refusing_a_fifth_of_its_requests_with_503_changes_nothing_but_the_time, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 31, false, MAX_DELAY_MS);
    rel_job(&t, "flaky", NULL);
    su_emu_faults(&t.dst, "{\"failRate\":0.2,\"failStatus\":503}");
    cJSON *run = rel_run_wait(&t, rel_run_start(&t, "flaky", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_INT(rel_count(run, "sent"), rel_count(run, "fetched"));
    CHECK_INT(rel_count(run, "imported"), rel_count(run, "sent"));
    su_emu_faults(&t.dst, NULL);
    rel_check_same(&t, -1);
    rel_check_none_running(&t);
    rel_stop(&t);
}

/* The target imports a batch and the connection drops before its answer: the batch is sent
 * again (CREATE_AND_UPDATE makes that harmless). Each batch counts once, from the answer that
 * arrived: what the lost attempt imported shows as ignored, so imported + updated + ignored is
 * still exactly what was sent, and the run says how many batches went twice. */
TEST_TIMEOUT(a_target_dropping_the_connection_after_importing_counts_each_batch_once, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 32, false, MAX_DELAY_MS);
    rel_job(&t, "dropped", NULL);
    su_emu_faults(&t.dst, "{\"dropRate\":0.2,\"importOnly\":true}");
    cJSON *run = rel_run_wait(&t, rel_run_start(&t, "dropped", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    long long sent = rel_count(run, "sent");
    CHECK_INT(sent, rel_count(run, "fetched"));
    CHECK_INT(rel_count(run, "imported") + rel_count(run, "updated") + rel_count(run, "ignored"), sent);
    CHECKF(rel_count(run, "ignored") > 0, "some batch to have been imported by an attempt whose answer was lost");
    CHECKF(rel_warned(run, "sent again"), "a warning that batches were sent again");
    su_emu_faults(&t.dst, NULL);
    rel_check_same(&t, -1);
    rel_check_none_running(&t);
    rel_stop(&t);
}

TEST_TIMEOUT(a_target_down_for_seconds_mid_run_is_waited_for_and_the_run_succeeds, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 33, false, MAX_DELAY_MS);
    rel_job(&t, "outage", "\"retryWindow\":60");
    su_emu_faults(&t.dst, "{\"delayMs\":100,\"importOnly\":true}");
    long long id = rel_run_start(&t, "outage", true);
    su_emu_faults(&t.dst, "{\"downFor\":6}");
    cJSON *waiting = rel_run_waiting(&t, id, "target", 6);
    CHECK(su_str(waiting, "waitingSince") != NULL);
    CHECK_STR(su_str(waiting, "status"), "running");
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(run, "waitingFor")));
    CHECKF(rel_warned(run, "for the target from"), "a warning saying how long the run waited for the target");
    CHECK_INT(rel_count(run, "imported"), rel_count(run, "fetched"));
    su_emu_faults(&t.dst, NULL);
    rel_check_same(&t, -1);
    rel_check_none_running(&t);
    rel_stop(&t);
}

/* A value stream that breaks after values were delivered is not read again (they would count
 * twice), so the source is down from the run's first request on. */
TEST_TIMEOUT(a_source_down_when_the_run_starts_is_waited_for_and_the_run_succeeds, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 34, false, MAX_DELAY_MS);
    rel_job(&t, "source outage", "\"retryWindow\":60");
    su_emu_faults(&t.src, "{\"downFor\":5}");
    long long id = rel_run_start(&t, "source%20outage", false);
    cJSON_Delete(rel_run_waiting(&t, id, "source", 5));
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the source from"), "a warning saying how long the run waited for the source");
    su_emu_faults(&t.src, NULL);
    rel_check_same(&t, -1);
    rel_check_none_running(&t);
    rel_stop(&t);
}

TEST_TIMEOUT(an_outage_longer_than_the_retry_window_fails_the_run_saying_so, 120)
{
    struct rel t;
    rel_start(&t, VALUES, 35, false, MAX_DELAY_MS);
    rel_job(&t, "short window", "\"retryWindow\":3");
    su_emu_faults(&t.dst, "{\"delayMs\":100,\"importOnly\":true}");
    long long id = rel_run_start(&t, "short%20window", true);
    su_emu_faults(&t.dst, "{\"downFor\":600}");
    cJSON *run = rel_run_wait(&t, id, 60);
    CHECK_STR(su_str(run, "status"), "failed");
    CHECK_CONTAINS(su_str(run, "error"), "instance 'dst' unreachable for 3 s");
    rel_check_none_running(&t);
    /* once the target is back, the next run repairs everything */
    su_emu_faults(&t.dst, "{\"reset\":true}");
    run = rel_run_wait(&t, rel_run_start(&t, "short%20window", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    rel_check_same(&t, -1);
    rel_stop(&t);
}

/* PostgreSQL stops (every connection cut) and comes back while the run posts: the run thread's
 * connection and the heartbeat reconnect, progress and the listed values written after it, and
 * no listed value is lost or written twice. */
TEST_TIMEOUT(a_postgresql_restart_mid_run_is_ridden_out_and_nothing_is_lost_or_doubled, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 36, true, MAX_DELAY_MS);
    /* one data element is dropped on purpose: its values are listed on the run, buffered
     * while the database is away */
    cJSON *des = su_call(&t.s, "GET", "/api/instances", NULL, 200);
    cJSON_Delete(des);
    char *dir = NULL, path[4200];
    CHECK(asprintf(&dir, "%s/mappings", t.s.dir) > 0);
    snprintf(path, sizeof path, "%s/skip_some.lua", dir);
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs("return { transform = function(dv) if dv.value:sub(-1) == '7' then return nil end return dv end }\n", f);
    fclose(f);
    for (int i = 0; i < 50; i++) {
        struct spec_resp r;
        spec_api(&t.s, "GET", "/api/mappings/skip_some", NULL, &r);
        long st = r.status;
        spec_resp_free(&r);
        if (st == 200)
            break;
        usleep(100000);
    }
    rel_job(&t, "pg restart", "\"mapping\":\"skip_some\",\"retryWindow\":60");
    su_emu_faults(&t.dst, "{\"delayMs\":100,\"importOnly\":true}");
    long long id = rel_run_start(&t, "pg%20restart", true);
    rel_restart_postgres(&t, 2000);
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the database from"), "a warning saying the run waited for the database");
    long long skipped = rel_count(run, "skipped");
    CHECKF(skipped > 0, "some values skipped by the mapping");
    CHECK_INT(rel_count(run, "sent") + skipped, rel_count(run, "fetched"));
    char conflicts[64];
    snprintf(conflicts, sizeof conflicts, "/api/runs/%lld/conflicts?pageSize=1", id);
    cJSON *listed = su_call(&t.s, "GET", conflicts, NULL, 200);
    CHECK_INT(su_num(cJSON_GetObjectItem(listed, "pager"), "total"), skipped);
    cJSON_Delete(listed);
    su_emu_faults(&t.dst, NULL);
    rel_check_none_running(&t);
    /* the next run (the same mapping, full) sends the same values: the target holds them all */
    run = rel_run_wait(&t, rel_run_start(&t, "pg%20restart", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_INT(rel_count(run, "imported"), 0);
    free(dir);
    rel_stop(&t);
}
