/* sync_bench — end-to-end throughput and memory of `dhis2sync run` between two emulators.
 * For each size it generates a source (values=N) and an empty twin target, stores a job that
 * copies everything, runs `dhis2sync run` once and prints wall time, values/s and the peak RSS
 * of the dhis2sync process (from wait4). It prints figures; it asserts nothing.
 *   build/bench/sync_bench [N ...]      default: 100000 1000000 */
#include "bench.h"

static int bench_one(long n, struct bench_db *db)
{
    int src_port = free_port(), dst_port = free_port();
    char gen[128];
    snprintf(gen, sizeof gen, "values=%ld,orgunits=2000,seed=7", n);
    double t0 = now_s();
    pid_t src = emulator(src_port, gen);
    double gen_s = now_s() - t0;
    pid_t dst = emulator(dst_port, "values=0,orgunits=2000,seed=7");

    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/dataSets?fields=id&paging=false", src_port);
    char *ds_text = get(url, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/organisationUnits?fields=id&filter=level:eq:1", src_port);
    char *ou_text = get(url, NULL);
    cJSON *ds = cJSON_Parse(ds_text ? ds_text : ""), *ou = cJSON_Parse(ou_text ? ou_text : "");
    cJSON *ids = cJSON_CreateArray(), *item;
    char query[512] = "";
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(ds, "dataSets"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        cJSON_AddItemToArray(ids, cJSON_CreateString(id));
        snprintf(query + strlen(query), sizeof query - strlen(query), "dataSet=%s&", id);
    }
    const char *root = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(ou, "organisationUnits"), 0), "id"));
    if (!root) {
        fprintf(stderr, "the emulators did not answer\n");
        kill(src, SIGTERM);
        kill(dst, SIGTERM);
        return -1;
    }

    /* how long the source takes to answer the whole set in one request */
    size_t bytes = 0;
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/api/dataValueSets?%sorgUnit=%s&children=true&startDate=1900-01-01&endDate=2100-12-31",
             src_port, query, root);
    t0 = now_s();
    free(get(url, &bytes));
    double get_s = now_s() - t0;

    char job[64];
    snprintf(job, sizeof job, "bench-%ld", n);
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddItemToObject(spec, "dataSets", ids);
    cJSON_AddItemToObject(spec, "dataElementGroups", cJSON_CreateArray());
    cJSON *roots = cJSON_AddArrayToObject(spec, "orgUnits");
    cJSON_AddItemToArray(roots, cJSON_CreateString(root));
    cJSON_AddBoolToObject(spec, "children", 1);
    cJSON *periods = cJSON_AddObjectToObject(spec, "periods");
    cJSON_AddStringToObject(periods, "start", "1900-01-01");
    cJSON_AddStringToObject(periods, "end", "2100-12-31");
    cJSON *opts = cJSON_AddObjectToObject(spec, "importOptions");
    cJSON_AddStringToObject(opts, "importStrategy", "CREATE_AND_UPDATE");
    cJSON_AddNumberToObject(opts, "batchSize", 5000);
    char *spec_text = cJSON_PrintUnformatted(spec);
    int rc = bench_job(db, job, NULL, src_port, dst_port, spec_text);
    if (rc)
        goto out;

    double run_s, rss_mb;
    int exit_code = bench_run(job, &run_s, &rss_mb);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/emulator/state", dst_port);
    char *state = get(url, NULL);
    cJSON *st = cJSON_Parse(state ? state : "");
    long live = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "live"));
    printf("%8ld values  run %6.2f s  %8.0f values/s  peak RSS %6.1f MB  exit %d  target holds %ld"
           "  |  source: generated in %.1f s, whole set in one GET %.2f s (%.0f MB)\n",
           n, run_s, (double)n / run_s, rss_mb, exit_code, live, gen_s, get_s, (double)bytes / 1e6);
    fflush(stdout);
    free(state);
    cJSON_Delete(st);
out:
    emulator_stop(src);
    emulator_stop(dst);
    free(spec_text);
    cJSON_Delete(spec);
    free(ds_text);
    free(ou_text);
    cJSON_Delete(ds);
    cJSON_Delete(ou);
    return rc;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, "sync_bench: dhis2sync run between two emulators on this machine", bench_one);
}
