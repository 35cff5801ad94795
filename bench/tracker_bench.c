/* tracker_bench — end-to-end throughput and memory of a tracker job (`dhis2sync run`) between
 * two emulators: for each size a source generated with that many events of an event program,
 * an empty twin as target, one full run; prints events/s and the peak RSS of the dhis2sync
 * process (which must stay flat with the number of events, under 100 MB at 1 M). It prints
 * figures; it asserts nothing.
 *   build/bench/tracker_bench [N ...]      default: 100000 1000000 */
#include "bench.h"

static int bench_one(long n, struct bench_db *db)
{
    int src_port = free_port(), dst_port = free_port();
    char gen[128];
    snprintf(gen, sizeof gen, "events=%ld,trackedEntities=0,seed=7", n);
    double started = now_s();
    pid_t src = emulator(src_port, gen);
    double generated_s = now_s() - started;
    pid_t dst = emulator(dst_port, "events=0,trackedEntities=0,seed=7");

    cJSON *progs = get_json(src_port, "/api/programs?fields=id,programType&paging=false");
    cJSON *ou = get_json(src_port, "/api/organisationUnits?fields=id&filter=level:eq:1");
    cJSON *spec = cJSON_CreateObject(), *prog;
    cJSON *event_programs = cJSON_AddArrayToObject(spec, "programs");
    cJSON_ArrayForEach(prog, cJSON_GetObjectItem(progs, "programs"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(prog, "programType"));
        if (type && strcmp(type, "WITHOUT_REGISTRATION") == 0)
            cJSON_AddItemToArray(event_programs, cJSON_Duplicate(cJSON_GetObjectItem(prog, "id"), 0));
    }
    const char *root = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(ou, "organisationUnits"), 0), "id"));
    int rc = -1;
    char *spec_text = NULL;
    if (!root || cJSON_GetArraySize(event_programs) == 0) {
        fprintf(stderr, "the source answered no event program or no root org unit\n");
        goto out;
    }
    cJSON *roots = cJSON_AddArrayToObject(spec, "orgUnits");
    cJSON_AddItemToArray(roots, cJSON_CreateString(root));
    cJSON_AddBoolToObject(spec, "children", 1);
    cJSON_AddBoolToObject(spec, "incremental", 0);
    cJSON_AddBoolToObject(spec, "deletions", 0);
    cJSON *opts = cJSON_AddObjectToObject(spec, "importOptions");
    cJSON_AddStringToObject(opts, "atomicMode", "OBJECT");
    cJSON_AddNumberToObject(opts, "batchSize", 500);
    cJSON_AddBoolToObject(opts, "dryRun", 0);
    cJSON_AddBoolToObject(opts, "async", 0);
    spec_text = cJSON_PrintUnformatted(spec);
    char job[64];
    snprintf(job, sizeof job, "tracker-bench-%ld", n);
    rc = bench_job(db, job, "tracker", src_port, dst_port, spec_text);
    if (rc)
        goto out;
    double run_s, rss_mb;
    int exit_code = bench_run(job, &run_s, &rss_mb);
    printf("%8ld events  run %7.2f s  %8.0f events/s  peak RSS %6.1f MB  exit %d"
           "  |  source generated in %.1f s\n",
           n, run_s, (double)n / run_s, rss_mb, exit_code, generated_s);
    fflush(stdout);
out:
    emulator_stop(src);
    emulator_stop(dst);
    free(spec_text);
    cJSON_Delete(spec);
    cJSON_Delete(progs);
    cJSON_Delete(ou);
    return rc;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, "tracker_bench: a tracker job's dhis2sync run between two emulators", bench_one);
}
