/* The sync engine end to end: a real dhis2sync against two DHIS2 emulators over HTTP, checked
 * by the target's end state as DHIS2 reports it (GET /api/dataValueSets), not by our counts. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "period.h"
#include "test.h"

struct emu {
    pid_t pid;
    int port;
    char url[64];
};

static void emu_start(struct emu *m, const char *generate, const char *extra)
{
    m->port = spec_free_port();
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d", m->port);
    char port[16];
    snprintf(port, sizeof port, "%d", m->port);
    char *bin = spec_bin("dhis2-emulator");
    char *argv[8] = {bin, "--port", port, "--generate", (char *)generate, NULL, NULL, NULL};
    if (extra) {
        argv[5] = "--version";
        argv[6] = (char *)extra;
    }
    char *dir = spec_test_dir("emu"), log[PATH_MAX];
    snprintf(log, sizeof log, "%s/emulator.log", dir);
    m->pid = spec_spawn(argv, NULL, log);
    char state[128];
    snprintf(state, sizeof state, "%s/emulator/state", m->url);
    CHECKF(spec_wait_status(state, 200, 30000) == 0, "emulator on %d did not start", m->port);
}

static cJSON *emu_get(struct emu *m, const char *path)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", m->url, path);
    const char *h[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", NULL}; /* admin:district */
    struct spec_resp r;
    CHECK(spec_http("GET", url, h, NULL, 0, &r) == 0);
    CHECKF(r.status == 200, "GET %s: %ld %.300s", path, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECK(j);
    return j;
}

static void emu_post(struct emu *m, const char *path, const char *body, long expect)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", m->url, path);
    const char *h[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECK(spec_http("POST", url, h, body, strlen(body), &r) == 0);
    CHECKF(r.status == expect, "POST %s: expected %ld, saw %ld %.300s", path, expect, r.status, r.body);
    spec_resp_free(&r);
}

/* The instance's data sets and country, as a job selection. */
struct selection {
    char data_sets[256]; /* JSON array */
    char root[16];
    char query[512];     /* dataValueSets query for everything */
};

static void selection_of(struct emu *m, struct selection *s)
{
    cJSON *ds = emu_get(m, "/api/dataSets?fields=id&paging=false");
    cJSON *ou = emu_get(m, "/api/organisationUnits?fields=id&filter=level:eq:1&paging=false");
    const cJSON *item;
    strcpy(s->data_sets, "[");
    char q[512] = "";
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(ds, "dataSets"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
        snprintf(s->data_sets + strlen(s->data_sets), sizeof s->data_sets - strlen(s->data_sets),
                 "%s\"%s\"", strlen(s->data_sets) > 1 ? "," : "", id);
        snprintf(q + strlen(q), sizeof q - strlen(q), "dataSet=%s&", id);
    }
    strcat(s->data_sets, "]");
    snprintf(s->root, sizeof s->root, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(ou, "organisationUnits"), 0), "id")));
    snprintf(s->query, sizeof s->query,
             "/api/dataValueSets?%sorgUnit=%s&children=true&startDate=1900-01-01&endDate=2100-12-31",
             q, s->root);
    cJSON_Delete(ds);
    cJSON_Delete(ou);
}

static int sort_strcmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every live value of the instance as sorted "de|pe|ou|coc|aoc=value" lines. */
static char *state_of(struct emu *m, const struct selection *s, int *count)
{
    cJSON *all = emu_get(m, s->query);
    cJSON *vals = cJSON_GetObjectItem(all, "dataValues");
    int n = cJSON_GetArraySize(vals);
    char **lines = calloc((size_t)n + 1, sizeof *lines);
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vals)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(v, "deleted")))
            continue;
        const char *f[] = {"dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "value"};
        char line[512] = "";
        for (int i = 0; i < 6; i++) {
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(v, f[i]));
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", i == 5 ? "=" : i ? "|" : "", t ? t : "");
        }
        lines[k++] = strdup(line);
    }
    qsort(lines, (size_t)k, sizeof *lines, sort_strcmp);
    size_t total = 1;
    for (int i = 0; i < k; i++)
        total += strlen(lines[i]) + 1;
    char *out = calloc(1, total);
    for (int i = 0; i < k; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    free(lines);
    cJSON_Delete(all);
    if (count)
        *count = k;
    return out;
}


static cJSON *api(struct spec_server *s, const char *method, const char *path, const char *body, long expect)
{
    struct spec_resp r;
    CHECK(spec_api(s, method, path, body, &r) == 0);
    CHECKF(r.status == expect, "%s %s: expected %ld, saw %ld: %.500s", method, path, expect, r.status, r.body);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    return j;
}

static void add_instance(struct spec_server *s, const char *name, const struct emu *m)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\",\"password\":\"district\"}}",
             name, m->url);
    cJSON_Delete(api(s, "POST", "/api/instances", body, 201));
}

static void add_job(struct spec_server *s, const char *name, const struct selection *sel, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":%s,"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}%s%s}",
             name, sel->data_sets, sel->root, extra ? "," : "", extra ? extra : "");
    cJSON_Delete(api(s, "POST", "/api/jobs", body, 201));
}

static const char *str(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, k)); }
static long long count(const cJSON *run, const char *k)
{
    return (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "counts"), k));
}

static cJSON *wait_run(struct spec_server *s, int id, int timeout_s)
{
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%d", id);
    for (int i = 0; i < timeout_s * 10; i++) {
        cJSON *run = api(s, "GET", path, NULL, 200);
        const char *st = str(run, "status");
        if (strcmp(st, "queued") && strcmp(st, "running"))
            return run;
        cJSON_Delete(run);
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "run %d did not finish in %d s", id, timeout_s);
}

static cJSON *run_job(struct spec_server *s, const char *job, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/jobs/%s/run%s", job, query ? query : "");
    cJSON *queued = api(s, "POST", path, "{}", 202);
    int id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(queued, "id"));
    cJSON_Delete(queued);
    return wait_run(s, id, 120);
}

/* Queues a run of job and waits until it has posted something (sending) or at least started;
 * returns its id. */
static int start_run(struct spec_server *s, const char *job, bool sending)
{
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s/run", job);
    cJSON *queued = api(s, "POST", path, "{}", 202);
    int id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(queued, "id"));
    cJSON_Delete(queued);
    snprintf(path, sizeof path, "/api/runs/%d", id);
    for (int i = 0; i < 100; i++) {
        cJSON *r = api(s, "GET", path, NULL, 200);
        bool there = sending ? count(r, "sent") > 0 : strcmp(str(r, "status"), "running") == 0;
        cJSON_Delete(r);
        if (there)
            break;
        usleep(100000);
    }
    return id;
}

/* Waits until the server has loaded mapping `name` (written into its mappings folder). */
static void wait_mapping(struct spec_server *s, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/api/mappings/%s", name);
    for (int i = 0; i < 50; i++) {
        struct spec_resp r;
        spec_api(s, "GET", path, NULL, &r);
        long st = r.status;
        spec_resp_free(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
}

static void start_pair(struct spec_server *s, struct emu *src, struct emu *dst, const char *gen_src,
                       const char *gen_dst, char *const env[])
{
    emu_start(src, gen_src, NULL);
    emu_start(dst, gen_dst, NULL);
    CHECK(spec_server_start(s, spec_new_db(), env) == 0);
    add_instance(s, "src", src);
    add_instance(s, "dst", dst);
}

static void check_same_state(struct emu *src, struct emu *dst, const struct selection *sel, int expect_count)
{
    int n_src = 0, n_dst = 0;
    char *a = state_of(src, sel, &n_src), *b = state_of(dst, sel, &n_dst);
    CHECKF(n_src == expect_count || expect_count < 0, "source has %d values, expected %d", n_src, expect_count);
    CHECKF(n_src == n_dst, "source has %d live values, target %d", n_src, n_dst);
    if (strcmp(a, b) != 0) {
        size_t i = 0;
        while (a[i] && a[i] == b[i])
            i++;
        while (i > 0 && a[i - 1] != '\n')
            i--;
        test_fail(__FILE__, __LINE__, "target differs from source at\n  source: %.120s\n  target: %.120s",
                  a + i, b + i);
    }
    free(a);
    free(b);
}

TEST_TIMEOUT(identity_job_copies_every_value_exactly, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=3000,orgunits=30,seed=11", "values=0,orgunits=30,seed=11", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "copy", &sel, "\"importOptions\":{\"batchSize\":700}");
    cJSON *run = run_job(&s, "copy", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_INT(count(run, "fetched"), 3000);
    CHECK_INT(count(run, "sent"), 3000);
    CHECK_INT(count(run, "imported"), 3000);
    CHECK_INT(count(run, "conflicts"), 0);
    CHECK_STR(str(run, "mappingVersion"), "identity");
    check_same_state(&src, &dst, &sel, 3000);

    /* again: nothing new, every value is ignored as unchanged */
    run = run_job(&s, "copy", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_INT(count(run, "ignored"), 3000);
    CHECK_INT(count(run, "imported"), 0);
}

/* A mapping that multiplies one data element by 1000 and drops another: the target holds
 * exactly the transformed values, and every dropped one is listed on the run. */
TEST_TIMEOUT(mapped_job_leaves_the_target_in_the_exact_expected_state, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=2000,orgunits=30,seed=12", "values=0,orgunits=30,seed=12", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    cJSON *des = emu_get(&src, "/api/dataElements?fields=id,name&paging=false");
    char scaled[16] = "", dropped[16] = "";
    const cJSON *de;
    cJSON_ArrayForEach(de, cJSON_GetObjectItem(des, "dataElements"))
    {
        if (strcmp(str(de, "name"), "Malaria cases") == 0)
            snprintf(scaled, sizeof scaled, "%s", str(de, "id"));
        if (strcmp(str(de, "name"), "Supervisor remarks") == 0)
            snprintf(dropped, sizeof dropped, "%s", str(de, "id"));
    }
    CHECK(scaled[0] && dropped[0]);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/mappings/scale.lua", s.dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "return {\n"
            "  transform = function(dv)\n"
            "    if dv.dataElement == \"%s\" then return nil end\n"
            "    if dv.dataElement == \"%s\" then dv.value = tostring(math.tointeger(tonumber(dv.value) * 1000)) end\n"
            "    return dv\n"
            "  end,\n"
            "}\n",
            dropped, scaled);
    fclose(f);
    /* the new file is picked up by hot reload */
    wait_mapping(&s, "scale");
    add_job(&s, "mapped", &sel, "\"mapping\":\"scale\"");
    cJSON *run = run_job(&s, "mapped", NULL);
    CHECK_STR(str(run, "status"), "succeeded");

    /* what the target must hold, computed here from the source */
    cJSON *all = emu_get(&src, sel.query);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(all, "dataValues")), k = 0, n_dropped = 0;
    char **want = calloc((size_t)n, sizeof *want);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(all, "dataValues"))
    {
        const char *id = str(v, "dataElement");
        if (strcmp(id, dropped) == 0) {
            n_dropped++;
            continue;
        }
        char value[64];
        if (strcmp(id, scaled) == 0)
            snprintf(value, sizeof value, "%lld", atoll(str(v, "value")) * 1000);
        else
            snprintf(value, sizeof value, "%s", str(v, "value"));
        char line[512];
        snprintf(line, sizeof line, "%s|%s|%s|%s|%s=%s", id, str(v, "period"), str(v, "orgUnit"),
                 str(v, "categoryOptionCombo"), str(v, "attributeOptionCombo"), value);
        want[k++] = strdup(line);
    }
    qsort(want, (size_t)k, sizeof *want, sort_strcmp);
    int got_n = 0;
    char *got = state_of(&dst, &sel, &got_n);
    CHECK_INT(got_n, k);
    char *p = got;
    for (int i = 0; i < k; i++) {
        size_t len = strcspn(p, "\n");
        CHECKF(strlen(want[i]) == len && strncmp(p, want[i], len) == 0, "value %d: expected %s, saw %.*s", i, want[i], (int)len, p);
        p += len + 1;
    }
    CHECK(n_dropped > 0);
    CHECK_INT(count(run, "fetched"), n);
    CHECK_INT(count(run, "skipped"), n_dropped);
    CHECK_INT(count(run, "sent"), k);
    CHECK(str(run, "mappingVersion") && strcmp(str(run, "mappingVersion"), "identity") != 0);

    /* every dropped value is listed with why */
    snprintf(path, sizeof path, "/api/runs/%d/conflicts?kind=skipped&pageSize=1000",
             (int)cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id")));
    cJSON *listed = api(&s, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(listed, "pager"), "total")), n_dropped);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(listed, "conflicts"), 0);
    CHECK_STR(str(cJSON_GetObjectItem(first, "dataValue"), "dataElement"), dropped);
    CHECK(str(first, "message") != NULL);
}

TEST_TIMEOUT(incremental_runs_carry_edits_and_deletions_and_move_the_watermark, 180)
{
    struct spec_server s;
    struct emu src, dst;
    /* no read-back overlap, so that the second run's fetch count proves the watermark works */
    char *env[] = {"DHIS2SYNC_WATERMARK_OVERLAP=0", NULL};
    start_pair(&s, &src, &dst, "values=1500,orgunits=30,seed=13", "values=0,orgunits=30,seed=13", env);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "inc", &sel, "\"incremental\":true,\"deletions\":true");
    cJSON *run = run_job(&s, "inc", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_INT(count(run, "fetched"), 1500);
    cJSON *job = api(&s, "GET", "/api/jobs/inc", NULL, 200);
    CHECK(str(job, "watermark") != NULL);
    sleep(1); /* the source's clock must pass the watermark before the edits */

    /* at the source: change 3 values, delete 2, through DHIS2's own API */
    cJSON *all = emu_get(&src, sel.query);
    cJSON *vals = cJSON_GetObjectItem(all, "dataValues");
    cJSON *edits = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(edits, "dataValues");
    int changed = 0;
    for (int i = 0; i < cJSON_GetArraySize(vals) && changed < 5; i++) {
        cJSON *v = cJSON_Duplicate(cJSON_GetArrayItem(vals, i), 1);
        const char *value = str(v, "value");
        if (!value || strspn(value, "0123456789") != strlen(value) || !*value) {
            cJSON_Delete(v);
            continue;
        }
        if (changed < 3) {
            char nv[32];
            snprintf(nv, sizeof nv, "%lld", atoll(value) + 7);
            cJSON_ReplaceItemInObject(v, "value", cJSON_CreateString(nv));
        } else {
            cJSON_AddBoolToObject(v, "deleted", 1);
        }
        cJSON_AddItemToArray(arr, v);
        changed++;
    }
    char *body = cJSON_PrintUnformatted(edits);
    emu_post(&src, "/api/dataValueSets", body, 200);

    run = run_job(&s, "inc", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_STR(str(run, "since"), str(job, "watermark"));
    CHECK_INT(count(run, "fetched"), 5);
    CHECK_INT(count(run, "updated"), 3);
    CHECK_INT(count(run, "deleted"), 2);
    check_same_state(&src, &dst, &sel, 1498);

    /* --full reads everything again and changes nothing */
    run = run_job(&s, "inc", "?full=true");
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK(count(run, "fetched") >= 1498);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(run, "since")));
    /* the two deletions are sent again as deletions; no live value changes */
    CHECK_INT(count(run, "updated"), 0);
    check_same_state(&src, &dst, &sel, 1498);
}

TEST_TIMEOUT(conflicts_from_the_target_are_listed_per_value_and_hold_the_watermark, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=800,orgunits=30,seed=14", "values=0,orgunits=30,seed=14", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    cJSON *des = emu_get(&src, "/api/dataElements?fields=id,name&paging=false");
    const char *refused = str(cJSON_GetArrayItem(cJSON_GetObjectItem(des, "dataElements"), 0), "id");
    char faults[128];
    snprintf(faults, sizeof faults, "{\"conflictIds\":[\"%s\"]}", refused);
    emu_post(&dst, "/emulator/faults", faults, 200);
    add_job(&s, "conf", &sel, "\"incremental\":true");
    cJSON *run = run_job(&s, "conf", NULL);
    CHECK_STR(str(run, "status"), "partial");
    CHECK(count(run, "conflicts") >= 1);
    CHECK_INT(count(run, "fetched"), 800);
    CHECK_INT(count(run, "sent"), 800);

    /* how many values of that element the source has: each must be listed as refused */
    cJSON *all = emu_get(&src, sel.query);
    int expect = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(all, "dataValues")) expect += strcmp(str(v, "dataElement"), refused) == 0;
    CHECK(expect > 0);
    CHECK_INT(count(run, "imported"), 800 - expect);
    char path[96];
    snprintf(path, sizeof path, "/api/runs/%d/conflicts?kind=conflict&pageSize=1000",
             (int)cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id")));
    cJSON *listed = api(&s, "GET", path, NULL, 200);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(listed, "pager"), "total")), expect);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(listed, "conflicts"), 0);
    CHECK_STR(str(first, "errorCode"), "E7610");
    CHECK_STR(str(first, "object"), refused);
    CHECK_CONTAINS(str(first, "message"), refused);
    CHECK_STR(str(cJSON_GetObjectItem(first, "dataValue"), "dataElement"), refused);

    /* a partial run leaves the watermark where it was */
    cJSON *job = api(&s, "GET", "/api/jobs/conf", NULL, 200);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(job, "watermark")));
}

TEST_TIMEOUT(retries_through_503s_and_dropped_connections_lose_and_double_nothing, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=2500,orgunits=30,seed=15", "values=0,orgunits=30,seed=15", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    emu_post(&dst, "/emulator/faults", "{\"failNext\":3,\"failStatus\":503,\"importOnly\":true}", 200);
    add_job(&s, "flaky", &sel, "\"importOptions\":{\"batchSize\":500}");
    cJSON *run = run_job(&s, "flaky", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_INT(count(run, "sent"), 2500);
    CHECK_INT(count(run, "imported") + count(run, "updated") + count(run, "ignored"), 2500);
    check_same_state(&src, &dst, &sel, 2500);

    /* the connection cut halfway through the answer: the batch may have landed, or not */
    emu_post(&dst, "/emulator/faults", "{\"reset\":true,\"dropNext\":2,\"importOnly\":true}", 200);
    emu_post(&src, "/api/dataValueSets?importStrategy=DELETE",
             "{\"dataValues\":[]}", 200);
    run = run_job(&s, "flaky", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_INT(count(run, "imported") + count(run, "updated") + count(run, "ignored"), 2500);
    check_same_state(&src, &dst, &sel, 2500);
}

TEST_TIMEOUT(a_dry_run_changes_nothing_at_the_target_and_moves_no_watermark, 120)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=600,orgunits=30,seed=16", "values=0,orgunits=30,seed=16", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "dry", &sel, "\"incremental\":true");
    cJSON *run = run_job(&s, "dry", "?dryRun=true");
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "dryRun")));
    CHECK_INT(count(run, "imported"), 600);
    int n = -1;
    free(state_of(&dst, &sel, &n));
    CHECK_INT(n, 0);
    cJSON *job = api(&s, "GET", "/api/jobs/dry", NULL, 200);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(job, "watermark")));
}

TEST_TIMEOUT(a_cancelled_run_stops_at_a_batch_boundary_and_says_so, 120)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=3000,orgunits=30,seed=17", "values=0,orgunits=30,seed=17", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    emu_post(&dst, "/emulator/faults", "{\"delayMs\":400,\"importOnly\":true}", 200);
    add_job(&s, "slow", &sel, "\"importOptions\":{\"batchSize\":100}");
    int id = start_run(&s, "slow", true);
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%d/cancel", id);
    cJSON_Delete(api(&s, "POST", path, NULL, 202));
    cJSON *run = wait_run(&s, id, 60);
    CHECK_STR(str(run, "status"), "cancelled");
    CHECK_CONTAINS(str(run, "error"), "cancel");
    CHECK(count(run, "sent") < 3000);
}

TEST_TIMEOUT(run_command_exit_codes_follow_the_run_outcome, 120)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=400,orgunits=30,seed=18", "values=0,orgunits=30,seed=18", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "cli job", &sel, NULL);
    char *bin = spec_bin("dhis2sync"), *dburl = NULL;
    CHECK(asprintf(&dburl, "DATABASE_URL=%s", s.db) > 0);
    char *env[] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    char *argv[] = {bin, "run", "cli job", "--dry-run", NULL};
    char *out = NULL;
    CHECK(chdir(s.dir) == 0);
    CHECK_INT(spec_run(argv, env, NULL, &out), 0);
    cJSON *run = cJSON_Parse(out);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK_STR(str(run, "trigger"), "cli");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "dryRun")));

    cJSON *des = emu_get(&src, "/api/dataElements?fields=id&paging=false");
    char faults[128];
    snprintf(faults, sizeof faults, "{\"conflictIds\":[\"%s\"]}",
             str(cJSON_GetArrayItem(cJSON_GetObjectItem(des, "dataElements"), 0), "id"));
    emu_post(&dst, "/emulator/faults", faults, 200);
    char *real[] = {bin, "run", "cli job", NULL};
    CHECK_INT(spec_run(real, env, NULL, NULL), 2);
    char *missing[] = {bin, "run", "no such job", NULL};
    CHECK_INT(spec_run(missing, env, NULL, NULL), 1);
}

TEST_TIMEOUT(a_run_killed_with_sigkill_is_interrupted_then_retried_once_from_the_same_watermark, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=3000,orgunits=30,seed=19", "values=0,orgunits=30,seed=19", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "killed", &sel, "\"incremental\":true,\"importOptions\":{\"batchSize\":100}");
    emu_post(&dst, "/emulator/faults", "{\"delayMs\":300,\"importOnly\":true}", 200);
    int id = start_run(&s, "killed", true);
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;
    emu_post(&dst, "/emulator/faults", "{\"reset\":true}", 200);

    /* the next process finds the orphan at start, marks it, and queues it once more */
    struct spec_server again;
    char *env[] = {NULL};
    CHECK(spec_server_start(&again, s.db, env) == 0);
    cJSON *first = wait_run(&again, id, 60);
    CHECK_STR(str(first, "status"), "interrupted");
    CHECK(str(first, "error") != NULL);
    cJSON *retry = wait_run(&again, id + 1, 120);
    CHECK_STR(str(retry, "trigger"), "retry");
    /* the retry reads from where the interrupted run did: there was no watermark yet */
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(retry, "since")));
    CHECK_STR(str(retry, "status"), "succeeded");
    check_same_state(&src, &dst, &sel, 3000);
    cJSON *runs = api(&again, "GET", "/api/runs?job=killed", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(runs, "runs")), 2);
}

TEST_TIMEOUT(a_dhis2_2_43_source_that_writes_the_org_unit_once_at_the_root_syncs_exactly, 120)
{
    struct spec_server s;
    struct emu src, dst;
    emu_start(&src, "values=1200,orgunits=30,seed=20", "2.43.0");
    emu_start(&dst, "values=0,orgunits=30,seed=20", NULL);
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    add_instance(&s, "src", &src);
    add_instance(&s, "dst", &dst);
    struct selection sel;
    selection_of(&src, &sel);
    /* one facility, no children: 2.43 answers it with the org unit at the root only */
    cJSON *fac = emu_get(&src, "/api/organisationUnits?fields=id&filter=level:eq:4&pageSize=1");
    const char *ou = str(cJSON_GetArrayItem(cJSON_GetObjectItem(fac, "organisationUnits"), 0), "id");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"one\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":%s,\"orgUnits\":[\"%s\"],"
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}}", sel.data_sets, ou);
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));
    cJSON *run = run_job(&s, "one", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    CHECK(count(run, "fetched") > 0);
    CHECK_INT(count(run, "imported"), count(run, "fetched"));
    char q[600];
    snprintf(q, sizeof q, "/api/dataValueSets?%.*sorgUnit=%s&startDate=1900-01-01&endDate=2100-12-31",
             (int)(strstr(sel.query, "orgUnit=") - strchr(sel.query, '?') - 1), strchr(sel.query, '?') + 1, ou);
    cJSON *target = emu_get(&dst, q);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(target, "dataValues")), count(run, "fetched"));
}

/* Two facilities mapped onto one with aggregate = "sum": their values come in different chunks
 * (one per org unit root) and must still be added up, not overwrite each other. */
TEST_TIMEOUT(summing_mapping_adds_values_across_chunks, 120)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=3000,orgunits=30,seed=21", "values=0,orgunits=30,seed=21", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    cJSON *fac = emu_get(&src, "/api/organisationUnits?fields=id&filter=level:eq:4&paging=false");
    char a[16], b[16];
    snprintf(a, sizeof a, "%s", str(cJSON_GetArrayItem(cJSON_GetObjectItem(fac, "organisationUnits"), 0), "id"));
    snprintf(b, sizeof b, "%s", str(cJSON_GetArrayItem(cJSON_GetObjectItem(fac, "organisationUnits"), 1), "id"));
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/mappings/merge.lua", s.dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "return { orgUnits = { %s = \"%s\", %s = \"%s\" }, aggregate = \"sum\" }\n", a, a, b, a);
    fclose(f);
    wait_mapping(&s, "merge");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"merge\",\"source\":\"src\",\"target\":\"dst\",\"mapping\":\"merge\",\"dataSets\":%s,"
             "\"orgUnits\":[\"%s\",\"%s\"],\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"},"
             "\"importOptions\":{\"batchSize\":50}}", sel.data_sets, a, b);
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));
    cJSON *run = run_job(&s, "merge", NULL);
    CHECK_STR(str(run, "status"), "succeeded");

    /* expected: per (de, pe, coc, aoc), the sum of A's and B's integer values */
    char q[1024];
    const char *ds_part = strchr(sel.query, '?') + 1;
    int ds_len = (int)(strstr(sel.query, "orgUnit=") - ds_part);
    snprintf(q, sizeof q, "/api/dataValueSets?%.*sorgUnit=%s&orgUnit=%s&startDate=1900-01-01&endDate=2100-12-31",
             ds_len, ds_part, a, b);
    cJSON *srcvals = emu_get(&src, q);
    snprintf(q, sizeof q, "/api/dataValueSets?%.*sorgUnit=%s&startDate=1900-01-01&endDate=2100-12-31",
             ds_len, ds_part, a);
    cJSON *dstvals = emu_get(&dst, q);
    int shared_keys = 0, checked = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(dstvals, "dataValues"))
    {
        long long want = 0;
        int parts = 0, integers = 1;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(srcvals, "dataValues"))
        {
            const char *k[] = {"dataElement", "period", "categoryOptionCombo", "attributeOptionCombo"};
            int same = 1;
            for (int i = 0; i < 4; i++)
                same &= strcmp(str(v, k[i]), str(t, k[i])) == 0;
            if (!same)
                continue;
            const char *val = str(v, "value");
            integers &= val && strspn(val + (val[0] == '-'), "0123456789") == strlen(val + (val[0] == '-'));
            want += integers ? atoll(val) : 0;
            parts++;
        }
        CHECKF(parts >= 1, "target value %s|%s has no source", str(t, "dataElement"), str(t, "period"));
        if (!integers)
            continue;
        CHECKF(atoll(str(t, "value")) == want, "%s|%s|%s: expected the sum %lld of %d values, saw %s",
               str(t, "dataElement"), str(t, "period"), str(t, "categoryOptionCombo"), want, parts,
               str(t, "value"));
        shared_keys += parts > 1;
        checked++;
    }
    CHECKF(shared_keys > 0, "the two facilities share no key: the test proves nothing (%d checked)", checked);
}

/* A source that stops answering in the middle of a request: the cancel request reaches the run
 * through the heartbeat and ends the stalled request, long before DHIS2's timeout would. */
TEST_TIMEOUT(a_run_stuck_on_a_silent_source_can_still_be_cancelled, 120)
{
    struct spec_server s;
    struct emu src, dst;
    char *env[] = {"DHIS2SYNC_HEARTBEAT_MS=500", NULL};
    start_pair(&s, &src, &dst, "values=300,orgunits=30,seed=22", "values=0,orgunits=30,seed=22", env);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "stuck", &sel, NULL);
    emu_post(&src, "/emulator/faults", "{\"hangNext\":1}", 200);
    int id = start_run(&s, "stuck", false);
    char path[64];
    sleep(1); /* it is now waiting on the source */
    snprintf(path, sizeof path, "/api/runs/%d/cancel", id);
    cJSON_Delete(api(&s, "POST", path, NULL, 202));
    /* DHIS2 requests time out after 120 s: a run that ends well before saw the cancel */
    cJSON *run = wait_run(&s, id, 60);
    CHECK_STR(str(run, "status"), "cancelled");
    emu_post(&src, "/emulator/faults", "{\"reset\":true}", 200);
}

/* The data set of the source whose period type is pt; its id into out. */
static void data_set_of_type(struct emu *m, const char *pt, char out[16])
{
    cJSON *ds = emu_get(m, "/api/dataSets?fields=id,periodType&paging=false");
    const cJSON *item;
    out[0] = '\0';
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(ds, "dataSets"))
        if (strcmp(str(item, "periodType"), pt) == 0)
            snprintf(out, 16, "%s", str(item, "id"));
    cJSON_Delete(ds);
    CHECKF(out[0], "the source has no %s data set", pt);
}

/* The last 12 months before today, and the first and last quarter overlapping them. */
static void last_12_months(struct period months[12], struct period *first_q, struct period *last_q)
{
    CHECK(period_last_n(PERIOD_MONTHLY, date_today(), 12, months) == 0);
    period_containing(PERIOD_QUARTERLY, months[0].start, first_q);
    period_containing(PERIOD_QUARTERLY, months[11].end, last_q);
}

/* A selection of one data set's values in periods wholly inside [start, end]. */
static void selection_between(struct selection *s, const char *data_set, const char *root, int32_t start,
                              int32_t end)
{
    char a[11], b[11];
    date_format(start, a);
    date_format(end, b);
    snprintf(s->root, sizeof s->root, "%s", root);
    snprintf(s->query, sizeof s->query,
             "/api/dataValueSets?dataSet=%s&orgUnit=%s&children=true&startDate=%s&endDate=%s", data_set,
             root, a, b);
}

/* "last 12 Monthly" over a Monthly and a Quarterly data set: DHIS2 answers a quarterly data set
 * asked for months with nothing, so the run must ask it for the quarters overlapping the window,
 * say so on the run, and leave the target equal to the source in every period overlapping it. */
TEST_TIMEOUT(a_relative_window_reads_each_data_set_in_its_own_period_type, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=6000,orgunits=30,seed=23", "values=0,orgunits=30,seed=23", NULL);
    struct selection all;
    selection_of(&src, &all);
    char monthly[16], quarterly[16], body[1024];
    data_set_of_type(&src, "Monthly", monthly);
    data_set_of_type(&src, "Quarterly", quarterly);
    snprintf(body, sizeof body,
             "{\"name\":\"rel\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":%s,"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"last\":12,\"type\":\"Monthly\"}}",
             all.data_sets, all.root);
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));
    cJSON *run = run_job(&s, "rel", NULL);
    CHECK_STR(str(run, "status"), "succeeded");

    struct period months[12], first_q, last_q;
    last_12_months(months, &first_q, &last_q);
    struct selection m_sel, q_sel;
    selection_between(&m_sel, monthly, all.root, months[0].start, months[11].end);
    selection_between(&q_sel, quarterly, all.root, first_q.start, last_q.end);
    int n_monthly = 0, n_quarterly = 0, n_target = 0;
    free(state_of(&src, &m_sel, &n_monthly));
    free(state_of(&src, &q_sel, &n_quarterly));
    CHECKF(n_monthly > 0 && n_quarterly > 0, "the source has %d monthly and %d quarterly values in the window",
           n_monthly, n_quarterly);
    check_same_state(&src, &dst, &m_sel, n_monthly);
    check_same_state(&src, &dst, &q_sel, n_quarterly);
    /* and nothing beyond: the target holds exactly those */
    free(state_of(&dst, &all, &n_target));
    CHECK_INT(n_target, n_monthly + n_quarterly);
    CHECK_INT(count(run, "sent"), n_monthly + n_quarterly);

    const cJSON *warnings = cJSON_GetObjectItem(run, "warnings");
    CHECK_INT(cJSON_GetArraySize(warnings), 1);
    char first[PERIOD_ISO_MAX], last[PERIOD_ISO_MAX], expect[256];
    period_format(&first_q, first, sizeof first);
    period_format(&last_q, last, sizeof last);
    snprintf(expect, sizeof expect, "(%s): periods %s\xe2\x80\x93%s selected for the window last 12 Monthly",
             quarterly, first, last);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetArrayItem(warnings, 0)), expect);
    cJSON_Delete(run);
}

/* A fixed list naming no period of a selected data set's type would read nothing of it: the
 * job is refused at save, naming the data set; a list that serves every data set is kept. */
TEST_TIMEOUT(a_fixed_list_that_serves_no_period_of_a_data_set_is_refused_at_save, 120)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=100,orgunits=30,seed=24", "values=0,orgunits=30,seed=24", NULL);
    struct selection all;
    selection_of(&src, &all);
    char quarterly[16], body[1024];
    data_set_of_type(&src, "Quarterly", quarterly);
    const char *form = "{\"name\":\"fixed\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":%s,"
                       "\"orgUnits\":[\"%s\"],\"periods\":{\"fixed\":[%s]}}";
    snprintf(body, sizeof body, form, all.data_sets, all.root, "\"202401\",\"202402\"");
    cJSON *refused = api(&s, "POST", "/api/jobs", body, 422);
    CHECK_CONTAINS(str(refused, "error"), quarterly);
    CHECK_CONTAINS(str(refused, "error"), "Quarterly Programme Report");
    CHECK_STR(str(cJSON_GetObjectItem(refused, "detail"), "field"), "periods.fixed");
    cJSON_Delete(refused);
    snprintf(body, sizeof body, form, all.data_sets, all.root, "\"202401\",\"2024Q1\"");
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));
}

/* A date window is one chunk: while it runs, its progress moves in values read and sent, with a
 * rate, and (once a previous run says how many values the selection holds) a time left. */
TEST_TIMEOUT(a_one_chunk_run_shows_values_rate_and_time_left_while_it_runs, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=2400,orgunits=30,seed=25", "values=0,orgunits=30,seed=25", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    add_job(&s, "slow", &sel, "\"importOptions\":{\"batchSize\":100}");
    cJSON_Delete(run_job(&s, "slow", NULL));
    emu_post(&dst, "/emulator/faults", "{\"delayMs\":250,\"importOnly\":true}", 200);
    int id = start_run(&s, "slow", true);
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%d", id);
    bool seen = false;
    for (int i = 0; i < 200 && !seen; i++) {
        cJSON *run = api(&s, "GET", path, NULL, 200);
        const cJSON *p = cJSON_GetObjectItem(run, "progress");
        double sent = cJSON_GetNumberValue(cJSON_GetObjectItem(p, "valuesSent"));
        CHECKF(strcmp(str(run, "status"), "running") == 0, "the run ended before its progress was seen: %s",
               str(run, "status"));
        seen = cJSON_GetNumberValue(cJSON_GetObjectItem(p, "done")) == 0 &&
               cJSON_GetNumberValue(cJSON_GetObjectItem(p, "total")) == 1 && sent > 0 && sent < 2400 &&
               cJSON_GetNumberValue(cJSON_GetObjectItem(p, "valuesRead")) >= sent &&
               cJSON_GetNumberValue(cJSON_GetObjectItem(p, "valuesPerSecond")) > 0 &&
               cJSON_GetNumberValue(cJSON_GetObjectItem(p, "etaSeconds")) > 0;
        cJSON_Delete(run);
        if (!seen)
            usleep(100000);
    }
    CHECKF(seen, "no snapshot of the running run showed values read and sent, a rate and a time left");
    cJSON *run = wait_run(&s, id, 120);
    CHECK_STR(str(run, "status"), "succeeded");
    const cJSON *p = cJSON_GetObjectItem(run, "progress");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "valuesSent")), 2400);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(p, "etaSeconds")));
    cJSON_Delete(run);
    emu_post(&dst, "/emulator/faults", "{\"reset\":true}", 200);
}

/* Values the target refuses after a mapping changed them: each entry shows the value as read
 * beside the value as sent, the run counts them, the groups add up to the entries, and the CSV
 * holds every entry. */
TEST_TIMEOUT(refused_values_show_their_source_value_in_groups_and_csv, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=900,orgunits=30,seed=26", "values=0,orgunits=30,seed=26", NULL);
    struct selection sel;
    selection_of(&src, &sel);
    cJSON *des = emu_get(&src, "/api/dataElements?fields=id,name&paging=false");
    char scaled[16] = "";
    const cJSON *de;
    cJSON_ArrayForEach(de, cJSON_GetObjectItem(des, "dataElements"))
        if (strcmp(str(de, "name"), "Malaria cases") == 0)
            snprintf(scaled, sizeof scaled, "%s", str(de, "id"));
    cJSON_Delete(des);
    CHECK(scaled[0]);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/mappings/scale.lua", s.dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "return { transform = function(dv)\n"
               "  if dv.dataElement == \"%s\" then dv.value = tostring(math.tointeger(tonumber(dv.value) * 1000)) end\n"
               "  return dv end }\n", scaled);
    fclose(f);
    wait_mapping(&s, "scale");
    char faults[128];
    snprintf(faults, sizeof faults, "{\"conflictIds\":[\"%s\"]}", scaled);
    emu_post(&dst, "/emulator/faults", faults, 200);
    add_job(&s, "refusing", &sel, "\"mapping\":\"scale\",\"importOptions\":{\"batchSize\":200}");
    cJSON *run = run_job(&s, "refusing", NULL);
    CHECK_STR(str(run, "status"), "partial");
    CHECK_STR(str(run, "kind"), "dataValues");
    long long refused = count(run, "refused");
    CHECK(refused > 0);
    int id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(run, "id"));
    cJSON_Delete(run);

    snprintf(path, sizeof path, "/api/runs/%d/conflicts?kind=conflict&pageSize=1000", id);
    cJSON *listed = api(&s, "GET", path, NULL, 200);
    long long total = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(listed, "pager"), "total"));
    CHECK_INT(total, refused);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(listed, "conflicts"))
    {
        const cJSON *sent = cJSON_GetObjectItem(entry, "dataValue"), *read = cJSON_GetObjectItem(entry, "source");
        CHECK_STR(str(read, "dataElement"), scaled);
        CHECK_STR(str(read, "orgUnit"), str(sent, "orgUnit"));
        CHECK_INT(atoll(str(read, "value")) * 1000, atoll(str(sent, "value")));
        /* the item of a data value entry is the value as sent */
        CHECK(cJSON_Compare(cJSON_GetObjectItem(entry, "item"), sent, 1));
    }
    cJSON_Delete(listed);

    snprintf(path, sizeof path, "/api/runs/%d/conflicts/groups", id);
    cJSON *groups = api(&s, "GET", path, NULL, 200);
    /* one group per disaggregation of the element: their counts add up to the entries */
    long long in_groups = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(groups, "groups"))
    {
        CHECK_STR(str(g, "kind"), "refused");
        CHECK_STR(str(g, "errorCode"), "E7610");
        CHECK_STR(str(cJSON_GetObjectItem(g, "source"), "dataElement"), scaled);
        CHECK_STR(str(cJSON_GetObjectItem(g, "target"), "dataElement"), scaled);
        CHECK_STR(str(cJSON_GetObjectItem(g, "source"), "categoryOptionCombo"),
                  str(cJSON_GetObjectItem(g, "target"), "categoryOptionCombo"));
        double n_ou = cJSON_GetNumberValue(cJSON_GetObjectItem(g, "orgUnitCount"));
        CHECK(n_ou >= 1);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(g, "orgUnits")), n_ou < 20 ? n_ou : 20);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(g, "periods")) >= 1);
        CHECK(str(g, "firstSeen") && str(g, "lastSeen"));
        in_groups += (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(g, "count"));
    }
    CHECK_INT(in_groups, refused);
    cJSON_Delete(groups);

    snprintf(path, sizeof path, "/api/runs/%d/conflicts?format=csv", id);
    struct spec_resp r;
    CHECK(spec_api(&s, "GET", path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "text/csv");
    CHECK(strncmp(r.body, "kind,errorCode,object,value,message,dataElement,", 48) == 0);
    long long lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    CHECK_INT(lines, refused + 1);
    CHECK_CONTAINS(r.body, "\r\nrefused,E7610,");
    spec_resp_free(&r);
}

static const cJSON *problem_on(const cJSON *check, const char *level, const char *field)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(check, "problems"))
        if (strcmp(str(p, "level"), level) == 0 && strcmp(str(p, "field"), field) == 0)
            return p;
    return NULL;
}

/* The preflight asks both instances what a run would meet: ids the mapping writes that the
 * target lacks, data sets read in other periods than the window's, the same instance at both
 * ends, an instance that does not answer; and estimates the chunks and (after a run) values. */
TEST_TIMEOUT(the_preflight_names_each_problem_with_its_field_and_estimates_the_run, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=500,orgunits=30,seed=27", "values=0,orgunits=30,seed=27", NULL);
    struct selection all;
    selection_of(&src, &all);
    cJSON *des = emu_get(&src, "/api/dataElements?fields=id&paging=false");
    const char *de = str(cJSON_GetArrayItem(cJSON_GetObjectItem(des, "dataElements"), 0), "id");
    char path[PATH_MAX + 64], body[1024];
    snprintf(path, sizeof path, "%s/mappings/ghost.lua", s.dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "return { dataElements = { %s = \"Gh0stElemnt\" }, unmapped = \"keep\" }\n", de);
    fclose(f);
    cJSON_Delete(des);
    wait_mapping(&s, "ghost");
    const char *form = "{\"name\":\"pre\",\"source\":\"%s\",\"target\":\"%s\",\"dataSets\":%s,\"mapping\":\"ghost\","
                       "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"last\":12,\"type\":\"Monthly\"}}";
    snprintf(body, sizeof body, form, "src", "dst", all.data_sets, all.root);
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));

    cJSON *check = api(&s, "POST", "/api/jobs/pre/check", "{}", 200);
    const cJSON *p = problem_on(check, "error", "mapping");
    CHECKF(p, "no mapping error in %s", cJSON_PrintUnformatted(check));
    CHECK_CONTAINS(str(p, "message"), "Gh0stElemnt");
    p = problem_on(check, "warning", "periods");
    CHECK(p);
    CHECK_CONTAINS(str(p, "message"), "selected for the window last 12 Monthly");
    CHECK(!problem_on(check, "error", "source") && !problem_on(check, "error", "target"));
    struct period months[12];
    period_last_n(PERIOD_MONTHLY, date_today(), 12, months);
    int quarters = period_overlapping(PERIOD_QUARTERLY, months[0].start, months[11].end, NULL, 0);
    const cJSON *estimate = cJSON_GetObjectItem(check, "estimate");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(estimate, "chunks")), 12 + quarters);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(estimate, "values")));
    cJSON_Delete(check);

    /* after a run, the estimate of values is what it read */
    cJSON *run = run_job(&s, "pre", NULL);
    long long fetched = count(run, "fetched");
    cJSON_Delete(run);
    check = api(&s, "POST", "/api/jobs/pre/check", NULL, 200);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(check, "estimate"), "values")), fetched);
    cJSON_Delete(check);

    /* an unsaved job: the same instance at both ends, and an instance that does not answer */
    char dead[512];
    snprintf(dead, sizeof dead,
             "{\"name\":\"dead\",\"url\":\"http://127.0.0.1:%d\",\"auth\":{\"type\":\"basic\","
             "\"username\":\"admin\",\"password\":\"district\"}}", spec_free_port());
    cJSON_Delete(api(&s, "POST", "/api/instances", dead, 201));
    snprintf(body, sizeof body, form, "src", "src", all.data_sets, all.root);
    check = api(&s, "POST", "/api/jobs/check", body, 200);
    CHECK_CONTAINS(str(problem_on(check, "error", "target"), "message"), "same DHIS2 instance");
    cJSON_Delete(check);
    snprintf(body, sizeof body, form, "dead", "dst", all.data_sets, all.root);
    check = api(&s, "POST", "/api/jobs/check", body, 200);
    CHECK(problem_on(check, "error", "source"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(check, "estimate"), "chunks")));
    cJSON_Delete(check);
    /* an invalid body is answered as a save would */
    cJSON_Delete(api(&s, "POST", "/api/jobs/check", "{\"source\":\"src\"}", 422));
}

/* A data element group has no period type of its own: its elements are read in the periods of
 * the data sets holding them (here the quarterly HIV elements, for a monthly window). */
TEST_TIMEOUT(a_relative_window_reads_a_group_in_its_data_sets_period_type, 180)
{
    struct spec_server s;
    struct emu src, dst;
    start_pair(&s, &src, &dst, "values=3000,orgunits=30,seed=28", "values=0,orgunits=30,seed=28", NULL);
    struct selection all;
    selection_of(&src, &all);
    char quarterly[16], body[1024];
    data_set_of_type(&src, "Quarterly", quarterly);
    cJSON *groups = emu_get(&src, "/api/dataElementGroups?fields=id&filter=name:eq:HIV&paging=false");
    const char *hiv = str(cJSON_GetArrayItem(cJSON_GetObjectItem(groups, "dataElementGroups"), 0), "id");
    snprintf(body, sizeof body,
             "{\"name\":\"grp\",\"source\":\"src\",\"target\":\"dst\",\"dataElementGroups\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"last\":12,\"type\":\"Monthly\"}}",
             hiv, all.root);
    cJSON_Delete(api(&s, "POST", "/api/jobs", body, 201));
    cJSON *run = run_job(&s, "grp", NULL);
    CHECK_STR(str(run, "status"), "succeeded");
    struct period months[12], first_q, last_q;
    last_12_months(months, &first_q, &last_q);
    struct selection q_sel;
    selection_between(&q_sel, quarterly, all.root, first_q.start, last_q.end);
    int n_quarterly = 0, n_target = 0;
    free(state_of(&src, &q_sel, &n_quarterly));
    CHECK(n_quarterly > 0);
    check_same_state(&src, &dst, &q_sel, n_quarterly);
    free(state_of(&dst, &all, &n_target));
    CHECK_INT(n_target, n_quarterly);
    const cJSON *warnings = cJSON_GetObjectItem(run, "warnings");
    CHECK_INT(cJSON_GetArraySize(warnings), 1);
    char expect[128];
    snprintf(expect, sizeof expect, "data element group HIV (%s): Quarterly periods", hiv);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetArrayItem(warnings, 0)), expect);
    cJSON_Delete(groups);
    cJSON_Delete(run);
}
