/* The DHIS2 client's retry window, against a real emulator over HTTP: an outage shorter than
 * the window is ridden out (and the waiting hook hears when it began and ended), a longer one
 * fails with a sentence naming the instance and the window, a cancel stops the wait at once, and
 * a target refusing one request in five never shows through. */
#include <time.h>

#include "../sched_util.h"
#include "../test.h"
#include "dhis2.h"

struct waits {
    int calls;
    long long first_since, last_since;
    int stop_after_calls; /* the cancel hook says stop once the waiting hook was called this often */
};

static void on_wait(void *ud, long long since)
{
    struct waits *w = ud;
    if (w->calls++ == 0)
        w->first_since = since;
    w->last_since = since;
}

static int stop_when_waiting(void *ud)
{
    const struct waits *w = ud;
    return w->stop_after_calls && w->calls >= w->stop_after_calls;
}

static struct dhis2_client *client_for(const struct su_emu *emu, long window_s, struct waits *w)
{
    struct dhis2_config cfg = {.name = "national", .base_url = emu->url, .auth_type = "basic",
                               .username = "admin", .secret = "district", .timeout_s = 10,
                               .backoff_ms = 50, .backoff_max_ms = 400, .retry_window_s = window_s};
    struct err e = {0};
    struct dhis2_client *c = dhis2_client_new(&cfg, &e);
    CHECKF(c, "client: %s", e.msg);
    dhis2_client_set_waiting(c, on_wait, w);
    dhis2_client_set_cancel(c, stop_when_waiting, w);
    return c;
}

/* dhis2_system_info by a client with that retry window, from an emulator given that fault. */
static int info_during(struct su_emu *emu, const char *fault, long window_s, struct waits *w,
                       struct err *e)
{
    struct dhis2_client *c = client_for(emu, window_s, w);
    su_emu_faults(emu, fault);
    struct dhis2_system_info info;
    int rc = dhis2_system_info(c, &info, e);
    dhis2_client_free(c);
    return rc;
}

TEST_TIMEOUT(a_client_rides_out_an_outage_shorter_than_its_retry_window_and_says_when_it_began, 60)
{
    struct su_emu emu;
    su_emu_start(&emu, 0, 5, 1);
    struct waits w = {0};
    struct err e = {0};
    long long before = (long long)time(NULL);
    CHECKF(info_during(&emu, "{\"downFor\":3}", 30, &w, &e) == 0, "system info through a 3 s outage: %s",
           e.msg);
    CHECK_INT(w.calls, 2);
    CHECKF(w.first_since >= before && w.first_since <= before + 1,
           "the outage began at %lld, the test took the target down at %lld", w.first_since, before);
    CHECK_INT(w.last_since, 0);
    su_emu_stop(&emu);
}

TEST_TIMEOUT(beyond_its_retry_window_a_request_fails_naming_the_instance_and_the_window, 60)
{
    struct su_emu emu;
    su_emu_start(&emu, 0, 5, 2);
    struct waits w = {0};
    struct err e = {0};
    CHECK(info_during(&emu, "{\"downFor\":60}", 2, &w, &e) != 0);
    CHECK_INT(e.code, ERR_NET);
    CHECK_CONTAINS(e.msg, "instance 'national' unreachable for 2 s");
    CHECK_CONTAINS(e.msg, "/api/system/info");
    /* the same for a target that answers, but only 503 */
    CHECK(info_during(&emu, "{\"reset\":true,\"failRate\":1,\"failStatus\":503}", 2, &w, &e) != 0);
    CHECK_CONTAINS(e.msg, "instance 'national' unreachable for 2 s");
    CHECK_CONTAINS(e.msg, "HTTP 503");
    su_emu_stop(&emu);
}

TEST_TIMEOUT(a_cancel_stops_a_client_waiting_out_an_outage_at_once, 30)
{
    struct su_emu emu;
    su_emu_start(&emu, 0, 5, 3);
    struct waits w = {.stop_after_calls = 1};
    struct err e = {0};
    CHECK(info_during(&emu, "{\"downFor\":600}", 600, &w, &e) != 0);
    CHECK_INT(e.code, ERR_CANCELLED);
    CHECK_INT(w.calls, 1);
    su_emu_stop(&emu);
}

TEST_TIMEOUT(a_target_refusing_one_request_in_five_with_503_answers_every_request, 60)
{
    struct su_emu emu;
    su_emu_start(&emu, 0, 5, 4);
    struct waits w = {0};
    struct dhis2_client *c = client_for(&emu, 30, &w);
    su_emu_faults(&emu, "{\"failRate\":0.2,\"failStatus\":503}");
    for (int i = 0; i < 40; i++) {
        struct dhis2_me me;
        struct err e = {0};
        CHECKF(dhis2_me(c, &me, &e) == 0, "request %d: %s", i, e.msg);
        CHECK_STR(me.username, "admin");
    }
    dhis2_client_free(c);
    su_emu_stop(&emu);
}
