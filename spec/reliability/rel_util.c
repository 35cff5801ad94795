#include "rel_util.h"

#include <unistd.h>

#include "../test.h"

void rel_start(struct rel *t, long values, unsigned long seed, bool own_pg, long max_delay_ms)
{
    memset(t, 0, sizeof *t);
    su_emu_start(&t->src, values, 30, seed);
    su_emu_start(&t->dst, 0, 30, seed);
    t->own_pg = own_pg;
    if (own_pg) {
        char *dir = spec_test_dir("pg");
        struct err e = {0};
        CHECKF(pgembed_init(&t->pg, dir, &e) == 0 && pgembed_start(&t->pg, &e) == 0 &&
                   pgembed_ensure_db(&t->pg, "rel", &e) == 0,
               "a private PostgreSQL: %s", e.msg);
        t->db = pgembed_conninfo(&t->pg, "rel");
        free(dir);
    } else {
        t->db = spec_new_db();
    }
    char delay[64];
    snprintf(delay, sizeof delay, "DHIS2SYNC_RETRY_MAX_DELAY_MS=%ld", max_delay_ms);
    char *env[] = {delay, "DHIS2SYNC_HEARTBEAT_MS=500", NULL};
    CHECK(spec_server_start(&t->s, t->db, env) == 0);
    su_instance(&t->s, "src", t->src.url);
    su_instance(&t->s, "dst", t->dst.url);
}

void rel_restart_postgres(struct rel *t, int down_ms)
{
    struct err e = {0};
    CHECKF(pgembed_stop(&t->pg, &e) == 0, "stopping PostgreSQL: %s", e.msg);
    usleep((useconds_t)down_ms * 1000);
    CHECKF(pgembed_start(&t->pg, &e) == 0, "starting PostgreSQL again: %s", e.msg);
}

void rel_job(struct rel *t, const char *name, const char *extra)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":[\"%s\",\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,"
             "\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"},"
             "\"importOptions\":{\"batchSize\":100}%s%s}",
             name, t->src.ds_monthly, t->src.ds_quarterly, t->src.root, extra ? "," : "",
             extra ? extra : "");
    cJSON_Delete(su_call(&t->s, "POST", "/api/jobs", body, 201));
}

cJSON *rel_run_get(struct rel *t, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%lld", id);
    return su_call(&t->s, "GET", path, NULL, 200);
}

long long rel_count(const cJSON *run, const char *key)
{
    return (long long)su_num(cJSON_GetObjectItem(run, "counts"), key);
}

long long rel_run_start(struct rel *t, const char *job, bool until_sent)
{
    char path[256];
    snprintf(path, sizeof path, "/api/jobs/%s/run", job);
    cJSON *queued = su_call(&t->s, "POST", path, "{}", 202);
    long long id = (long long)su_num(queued, "id");
    cJSON_Delete(queued);
    for (int i = 0; i < 600; i++) {
        cJSON *run = rel_run_get(t, id);
        const char *st = su_str(run, "status");
        bool there = strcmp(st, "queued") != 0 && (!until_sent || rel_count(run, "sent") > 0 ||
                                                   strcmp(st, "running") != 0);
        cJSON_Delete(run);
        if (there)
            return id;
        usleep(50000);
    }
    test_fail(__FILE__, __LINE__, "run %lld did not start sending", id);
}

long long rel_run_into(struct rel *t, const char *job, const char *fault, int pg_down_ms)
{
    su_emu_faults(&t->dst, "{\"delayMs\":100,\"importOnly\":true}");
    long long id = rel_run_start(t, job, true);
    if (fault)
        su_emu_faults(&t->dst, fault);
    else
        rel_restart_postgres(t, pg_down_ms);
    return id;
}

cJSON *rel_run_wait(struct rel *t, long long id, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        cJSON *run = rel_run_get(t, id);
        const char *st = su_str(run, "status");
        if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
            return run;
        cJSON_Delete(run);
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "run %lld did not end in %d s", id, timeout_s);
}

cJSON *rel_run_waiting(struct rel *t, long long id, const char *what, int timeout_s)
{
    char last[200] = "";
    for (int i = 0; i < timeout_s * 20; i++) {
        cJSON *run = rel_run_get(t, id);
        const char *w = su_str(run, "waitingFor");
        if (w && strcmp(w, what) == 0)
            return run;
        snprintf(last, sizeof last, "%s, waiting for %s", su_str(run, "status"), w ? w : "nothing");
        cJSON_Delete(run);
        usleep(50000);
    }
    test_fail(__FILE__, __LINE__, "run %lld never showed it waits for the %s (last: %s)", id, what,
              last);
}

bool rel_warned(const cJSON *run, const char *needle)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(run, "warnings"))
    {
        if (cJSON_IsString(w) && strstr(w->valuestring, needle))
            return true;
    }
    return false;
}

void rel_check_same(struct rel *t, long n)
{
    const char *sets[] = {t->src.ds_monthly, t->src.ds_quarterly};
    long total = 0;
    for (int i = 0; i < 2; i++) {
        long n_src = 0, n_dst = 0;
        char *a = su_emu_values(&t->src, sets[i], &n_src), *b = su_emu_values(&t->dst, sets[i], &n_dst);
        CHECKF(n_src == n_dst, "data set %s: the source holds %ld values, the target %ld", sets[i],
               n_src, n_dst);
        if (strcmp(a, b) != 0) {
            size_t k = 0;
            while (a[k] && a[k] == b[k])
                k++;
            while (k > 0 && a[k - 1] != '\n')
                k--;
            test_fail(__FILE__, __LINE__, "the target differs from the source at\n  source: %.100s\n"
                      "  target: %.100s", a + k, b + k);
        }
        total += n_src;
        free(a);
        free(b);
    }
    CHECKF(n < 0 || total == n, "the source holds %ld values, expected %ld", total, n);
}

void rel_check_none_running(struct rel *t)
{
    cJSON *runs = su_call(&t->s, "GET", "/api/runs?status=running", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(runs, "runs")), 0);
    cJSON_Delete(runs);
    runs = su_call(&t->s, "GET", "/api/runs?status=queued", NULL, 200);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(runs, "runs")), 0);
    cJSON_Delete(runs);
}

void rel_stop(struct rel *t)
{
    spec_server_stop(&t->s);
    su_emu_stop(&t->src);
    su_emu_stop(&t->dst);
    if (t->own_pg) {
        struct err e = {0};
        pgembed_stop(&t->pg, &e);
    }
    free(t->db);
}

void rel_end(struct rel *t)
{
    su_emu_faults(&t->src, NULL);
    su_emu_faults(&t->dst, NULL);
    rel_check_same(t, -1);
    rel_check_none_running(t);
    rel_stop(t);
}
