/* tracker_long_test.c — the tracker job's full-size acceptance case (minutes; not part of the
 * normal suite, which runs a smaller one): 100 k events of an event program and 10 k tracked
 * entities with their enrollments and events, copied from one emulator to an empty one; the
 * target must then equal the source (uids, occurredAt, org units, data values, attributes).
 * Build and run it with spec/long/run.sh. */
#include <string.h>

#include "../test.h"
#include "../tracker_sync_util.h"

TEST_TIMEOUT(a_tracker_job_copies_100k_events_and_10k_tracked_entities_exactly, 1800)
{
    struct spec_server s;
    struct tu_emu src, dst;
    const struct tk_pair pair = {.events = 100000, .tracked_entities = 10000, .seed = 59};
    tk_start_pair(&s, &src, &dst, &pair);
    tk_add_job(&s, "full", &src, NULL);
    cJSON *run = tk_run_succeeded(__LINE__, &s, "full", NULL);
    int total = tk_check_same(__LINE__, &src, &dst, 41);
    CHECK(total >= 110000);
    CHECK_INT(tk_counted(run, "fetched"), total);
    CHECK_INT(tk_counted(run, "imported"), total);
    printf("tracker: %d objects copied and equal\n", total);
    cJSON_Delete(run);
}
