/* lua_bounds_test.c — mappings stuck in a call, from outside: `dhis2sync check` answers at
 * once, a slow mapping holds up no other mapping, a cancel stops a run stuck in its mapping.
 * (What each library call pays is tested in lua_sandbox_test.c.) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "sched_util.h"
#include "test.h"

struct put {
    struct spec_server *s;
    const char *name, *source;
    long status;
    char body[300];
    atomic_int done;
};

static void put_mapping(struct put *p)
{
    char url[256], auth[200];
    snprintf(url, sizeof url, "%s/api/mappings/%s", p->s->base, p->name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p->s->token);
    const char *headers[] = {auth, "Content-Type: text/x-lua", NULL};
    struct spec_resp r = {0};
    p->status = spec_http("PUT", url, headers, p->source, strlen(p->source), &r) == 0 ? r.status : -1;
    snprintf(p->body, sizeof p->body, "%s", r.body ? r.body : "");
    spec_resp_free(&r);
    atomic_store(&p->done, 1);
}

static void *put_thread(void *arg)
{
    put_mapping(arg);
    return NULL;
}

/* Compiling a mapping holds no lock another mapping, a run or a request needs: while a PUT of
 * a mapping whose file takes seconds to load is compiling, a PUT of another mapping and the
 * list of mappings are answered. */
TEST_TIMEOUT(lua_bounds_a_slow_mapping_put_does_not_hold_up_another, 120)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    struct put slow = {.s = &s, .name = "slow",
                       /* seconds of wall clock but few charged instructions (comparing long
                        * strings is one each), so it stays within the load budget however
                        * fast the machine is */
                       .source = "print('slow mapping: compiling')\n"
                                 "local a, b = ('x'):rep(1 << 16), ('x'):rep(1 << 16)\n"
                                 "local t0 = os.time() while os.time() - t0 < 4 do local _ = a == b end\n"
                                 "return {}\n"};
    struct put other = {.s = &s, .name = "other",
                        .source = "return { dataElements = { a = 'b' } }\n"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, put_thread, &slow) == 0);
    CHECKF(su_wait_file(s.log_path, "slow mapping: compiling", 30000) == 0,
           "the slow PUT never started");
    put_mapping(&other);
    CHECKF(other.status == 200, "PUT other: %ld %s", other.status, other.body);
    struct spec_resp r = {0};
    CHECK(spec_api(&s, "GET", "/api/mappings", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "\"other\"");
    spec_resp_free(&r);
    CHECKF(!atomic_load(&slow.done), "the other PUT waited for the slow one to finish");
    pthread_join(t, NULL);
    CHECKF(slow.status == 200, "PUT slow: %ld %s", slow.status, slow.body);
    spec_server_stop(&s);
}

/* `dhis2sync check` on a mapping stuck in a library call answers at once, naming the mapping
 * and the line, and exits 1. */
TEST_TIMEOUT(lua_bounds_check_names_the_mapping_and_line_of_a_stuck_call, 120)
{
    const char *stuck[] = {
        "table.move({}, 1, 1 << 30, 1, {})",
        "local s = ('x'):rep(1 << 40)",
        "local s = ('a'):rep(40) s:match(('a?'):rep(40) .. ('a'):rep(40))",
        "local s = ('a'):rep(1 << 20) s:find(('a'):rep(1 << 19) .. 'b.')",
    };
    const char *expect[] = {"stuck0.lua:3: stopped", "stuck1.lua: memory cap",
                            "stuck2.lua:3: stopped", "stuck3.lua:3: stopped"};
    char *dir = spec_test_dir("check");
    char *bin = spec_bin("dhis2sync");
    for (size_t i = 0; i < sizeof stuck / sizeof stuck[0]; i++) {
        char path[PATH_MAX + 32], *cmd = NULL, *out = NULL;
        snprintf(path, sizeof path, "%s/stuck%zu.lua", dir, i);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fprintf(f, "return {\n  transform = function(dv)\n    %s\n    return dv end }\n", stuck[i]);
        fclose(f);
        if (asprintf(&cmd, "'%s' check '%s' --sample spec/fixtures/mappings/age_bands_sample.json 2>&1",
                     bin, path) < 0)
            abort();
        char *sh[] = {"/bin/sh", "-c", cmd, NULL};
        char *env[] = {"DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", NULL};
        CHECK_INT(spec_run(sh, env, NULL, &out), 1);
        CHECKF(out && strstr(out, expect[i]), "check of `%s`: expected \"%s\" in:\n%s", stuck[i],
               expect[i], out ? out : "");
        free(out);
        free(cmd);
    }
    free(bin);
    free(dir);
}

/* A run whose mapping spends each value's whole time limit (400 values: minutes) ends
 * `cancelled` soon after a cancel: the call in progress sees the request, not only the end of
 * the batch of values it is in. */
TEST_TIMEOUT(lua_bounds_a_cancelled_run_with_a_stuck_mapping_ends_cancelled, 180)
{
    struct su_emu src, dst;
    su_emu_start(&src, 400, 5, 17);
    su_emu_start(&dst, 0, 5, 17);
    char *db = spec_new_db();
    struct spec_server s;
    char *const env[] = {"DHIS2SYNC_WORKERS=1", "DHIS2SYNC_HEARTBEAT_MS=200", NULL};
    CHECK(spec_server_start(&s, db, env) == 0);
    PGconn *c = su_db(db);
    su_instance(&s, "src", src.url);
    su_instance(&s, "dst", dst.url);
    struct put stuck = {.s = &s, .name = "stuck",
                        .source = "return {\n"
                                  "  sample = { dataElement = 'a', period = '202401', orgUnit = 'b', value = 'canary' },\n"
                                  "  transform = function(dv)\n"
                                  "    if dv.value == 'canary' then return dv end\n"
                                  "    while true do local _ = ('x'):rep(1000) end\n"
                                  "  end }\n"};
    put_mapping(&stuck);
    CHECKF(stuck.status == 200, "PUT stuck: %ld %s", stuck.status, stuck.body);
    /* one date window: one chunk, all 400 values in one batch */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"stuck\",\"source\":\"src\",\"target\":\"dst\",\"mapping\":\"stuck\","
             "\"dataSets\":[\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"2000-01-01\",\"end\":\"2035-12-31\"}}",
             src.ds_monthly, src.root);
    cJSON *job = su_call(&s, "POST", "/api/jobs", body, 201);
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d/run", (int)su_num(job, "id"));
    cJSON_Delete(job);
    cJSON *run = su_call(&s, "POST", path, "{}", 202);
    int id = (int)su_num(run, "id");
    cJSON_Delete(run);
    su_wait_sql(c, 60000, "running", "SELECT status FROM runs WHERE id = %d", id);
    sleep(2); /* the values are fetched in milliseconds: the run is in its transforms now */
    snprintf(path, sizeof path, "/api/runs/%d/cancel", id);
    cJSON_Delete(su_call(&s, "POST", path, NULL, 202));
    /* without the call seeing it: the rest of the batch first, ~400 x 500 ms */
    su_wait_sql(c, 30000, "cancelled", "SELECT status FROM runs WHERE id = %d", id);
    snprintf(path, sizeof path, "/api/runs/%d", id);
    cJSON *got = su_call(&s, "GET", path, NULL, 200);
    CHECK_STR(su_str(got, "error"), "cancelled on request");
    cJSON_Delete(got);
    PQfinish(c);
    spec_server_stop(&s);
    su_emu_stop(&src);
    su_emu_stop(&dst);
}
