/* soak_test.c — the long reliability cases (`make soak`; not part of `make test`): the outages
 * a DHIS2 deployment meets at night, at their real length and with the production backoff
 * (single waits up to 30 s, DHIS2SYNC_RETRY_MAX_DELAY_MS unset): the target down a minute and
 * five minutes mid-run with the default 10-minute window, five minutes past a 2-minute window,
 * and PostgreSQL down half a minute. Each ends with the target equal to the source and no run
 * left running; the run that met a fault within its window succeeds. */
#include <unistd.h>

#include "../../test.h"
#include "../rel_util.h"

enum { VALUES = 20000, PRODUCTION_MAX_DELAY_MS = 30000 };

/* The target down for down_s seconds while a run posts; the run as it ended. */
static cJSON *run_through_target_outage(struct rel *t, const char *job, int down_s)
{
    char fault[64];
    snprintf(fault, sizeof fault, "{\"downFor\":%d}", down_s);
    long long id = rel_run_into(t, job, fault, 0);
    cJSON_Delete(rel_run_waiting(t, id, "target", 60));
    return rel_run_wait(t, id, down_s + 600);
}

/* The target down for down_s seconds, within the default window: the run succeeds. */
static void ride_out_target_outage(unsigned long seed, const char *job, int down_s)
{
    struct rel t;
    rel_start(&t, VALUES, seed, false, PRODUCTION_MAX_DELAY_MS);
    rel_job(&t, job, NULL);
    cJSON *run = run_through_target_outage(&t, job, down_s);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the target from"), "a warning saying how long the run waited");
    rel_end(&t);
}

TEST_TIMEOUT(the_target_down_for_a_minute_mid_run_is_ridden_out, 1200)
{
    ride_out_target_outage(51, "minute", 60);
}

TEST_TIMEOUT(the_target_down_for_five_minutes_within_the_default_window_is_ridden_out, 1500)
{
    ride_out_target_outage(52, "five-minutes", 300);
}

TEST_TIMEOUT(the_target_down_for_five_minutes_past_a_two_minute_window_fails_the_run, 1500)
{
    struct rel t;
    rel_start(&t, VALUES, 53, false, PRODUCTION_MAX_DELAY_MS);
    rel_job(&t, "past window", "\"retryWindow\":120");
    cJSON *run = run_through_target_outage(&t, "past%20window", 300);
    CHECK_STR(su_str(run, "status"), "failed");
    CHECK_CONTAINS(su_str(run, "error"), "instance 'dst' unreachable for 2 min");
    rel_check_none_running(&t);
    /* the outage over, the next run makes the target whole */
    for (int i = 0; i < 400; i++) {
        cJSON *faults = NULL;
        char url[128];
        snprintf(url, sizeof url, "%s/emulator/faults", t.dst.url);
        struct spec_resp r;
        if (spec_http("GET", url, NULL, NULL, 0, &r) == 0)
            faults = spec_resp_json(&r);
        spec_resp_free(&r);
        bool down = cJSON_IsTrue(cJSON_GetObjectItem(faults, "down"));
        cJSON_Delete(faults);
        if (!down)
            break;
        sleep(1);
    }
    su_emu_faults(&t.dst, NULL);
    run = rel_run_wait(&t, rel_run_start(&t, "past%20window", false), 600);
    CHECK_STR(su_str(run, "status"), "succeeded");
    rel_end(&t);
}

TEST_TIMEOUT(postgresql_down_for_half_a_minute_mid_run_is_ridden_out, 900)
{
    struct rel t;
    rel_start(&t, VALUES, 54, true, PRODUCTION_MAX_DELAY_MS);
    rel_job(&t, "database", NULL);
    long long id = rel_run_into(&t, "database", NULL, 30000);
    cJSON *run = rel_run_wait(&t, id, 600);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the database from"), "a warning saying how long the run waited");
    rel_end(&t);
}
