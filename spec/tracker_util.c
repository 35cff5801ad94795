/* tracker_util.c — see tracker_util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tracker_util.h"

void tu_emu_start(struct tu_emu *e, const char *const args[])
{
    memset(e, 0, sizeof *e);
    e->port = spec_free_port();
    snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->port);
    char port[16], *argv[40], *dir = spec_test_dir("emu"), log[4200];
    snprintf(port, sizeof port, "%d", e->port);
    snprintf(log, sizeof log, "%s/emulator.log", dir);
    int n = 0;
    argv[n++] = spec_bin("dhis2-emulator");
    argv[n++] = "--port";
    argv[n++] = port;
    for (int i = 0; args && args[i] && n < 39; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    e->pid = spec_spawn(argv, NULL, log);
    char state[128];
    snprintf(state, sizeof state, "%s/emulator/state", e->url);
    CHECKF(spec_wait_status(state, 200, 30000) == 0, "the emulator did not come up (log: %s)", log);
    free(argv[0]);
    free(dir);
}

static void first_id(struct tu_emu *e, const char *path, char out[12])
{
    cJSON *j = tu_call(e, "GET", path, NULL, 200);
    const cJSON *list = j->child;
    while (list && !cJSON_IsArray(list))
        list = list->next;
    const char *id = tu_str(cJSON_GetArrayItem(list, 0), "id");
    CHECKF(id != NULL, "%s: no id in the answer", path);
    snprintf(out, 12, "%s", id);
    cJSON_Delete(j);
}

void tu_emu_generate(struct tu_emu *e, long events, long tracked_entities, unsigned long seed,
                     const char *version)
{
    char gen[160];
    snprintf(gen, sizeof gen, "values=0,orgunits=50,seed=%lu,events=%ld,trackedEntities=%ld", seed, events,
             tracked_entities);
    const char *args[] = {"--generate", gen, version ? "--version" : NULL, version, NULL};
    tu_emu_start(e, args);
    first_id(e, "/api/programs?fields=id&filter=code:eq:P_CASE", e->event_program);
    first_id(e, "/api/programs?fields=id&filter=code:eq:P_CHILD", e->tracker_program);
    first_id(e, "/api/programStages?fields=id&filter=code:eq:PS_CASE", e->event_stage);
    first_id(e, "/api/programStages?fields=id&filter=code:eq:PS_BIRTH", e->birth_stage);
    first_id(e, "/api/trackedEntityTypes?fields=id", e->tet);
    first_id(e, "/api/organisationUnits?fields=id&filter=code:eq:OU_F1", e->facility);
    first_id(e, "/api/organisationUnits?fields=id&filter=code:eq:OU_COUNTRY", e->root);
}

void tu_emu_stop(struct tu_emu *e)
{
    if (e->pid > 0)
        CHECKF(spec_stop(e->pid, 10000) == 0, "the emulator on port %d did not exit cleanly", e->port);
    e->pid = 0;
}

cJSON *tu_call(struct tu_emu *e, const char *method, const char *path, const char *body, long expect)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", e->url, path);
    const char *headers[] = {"Authorization: Basic YWRtaW46ZGlzdHJpY3Q=", "Content-Type: application/json", NULL};
    struct spec_resp r;
    CHECKF(spec_http(method, url, headers, body, body ? strlen(body) : 0, &r) == 0, "%s %s: no answer", method, path);
    CHECKF(r.status == expect, "%s %s: expected HTTP %ld, saw %ld: %.2000s", method, path, expect, r.status,
           r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    CHECKF(j != NULL, "%s %s: not JSON: %.300s", method, path, r.body ? r.body : "");
    spec_resp_free(&r);
    return j;
}

const cJSON *tu_at(const cJSON *o, const char *path)
{
    char key[128];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        char *end;
        long idx = strtol(key, &end, 10);
        o = cJSON_IsArray(o) && !*end ? cJSON_GetArrayItem(o, (int)idx) : cJSON_GetObjectItemCaseSensitive(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

const char *tu_str(const cJSON *o, const char *path)
{
    return cJSON_GetStringValue(tu_at(o, path));
}

double tu_num(const cJSON *o, const char *path)
{
    const cJSON *v = tu_at(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

cJSON *tu_digest(struct tu_emu *e)
{
    char url[128];
    snprintf(url, sizeof url, "%s/emulator/tracker/digest", e->url);
    struct spec_resp r;
    CHECKF(spec_http("GET", url, NULL, NULL, 0, &r) == 0 && r.status == 200, "digest: %ld", r.status);
    cJSON *j = spec_resp_json(&r);
    spec_resp_free(&r);
    CHECK(j != NULL);
    return j;
}
