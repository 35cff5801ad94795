/* tracker_sync_util.c — see tracker_sync_util.h. */
#include "tracker_sync_util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "key=value" of each entry of o[list], sorted, ';'-separated, appended to line. */
static void add_values(char *line, size_t size, const cJSON *o, const char *list, const char *key)
{
    const cJSON *arr = cJSON_GetObjectItem(o, list), *v;
    int n = cJSON_GetArraySize(arr), k = 0;
    char **kv = calloc((size_t)n + 1, sizeof *kv);
    cJSON_ArrayForEach(v, arr)
    {
        if (asprintf(&kv[k], "%s=%s", su_str(v, key) ? su_str(v, key) : "?",
                     su_str(v, "value") ? su_str(v, "value") : "") < 0)
            test_fail(__FILE__, __LINE__, "out of memory");
        k++;
    }
    qsort(kv, (size_t)k, sizeof *kv, by_text);
    for (int i = 0; i < k; i++) {
        snprintf(line + strlen(line), size - strlen(line), "%s%s", i ? ";" : "|", kv[i]);
        free(kv[i]);
    }
    free(kv);
}

/* Every live object of one type of the program under the root as sorted lines of the fields a
 * copy must keep (uids, times, org units, values, attributes); *n gets their number. */
char *tk_state(struct tu_emu *m, const char *program, const char *root, enum tracker_type t,
               int minor, bool (*edit)(cJSON *item, void *ud), void *ud, int *n)
{
    static const char *const fields[TRACKER_TYPES][8] = {
        {"trackedEntity", "trackedEntityType", "orgUnit", NULL},
        {"enrollment", "program", "trackedEntity", "orgUnit", "enrolledAt", "occurredAt", "status", NULL},
        {"event", "program", "programStage", "orgUnit", "occurredAt", "status", "enrollment", "trackedEntity"},
    };
    char path[512];
    snprintf(path, sizeof path, "/api/tracker/%s?program=%s&%s=%s&%s=DESCENDANTS&pageSize=1000000&fields=*",
             tracker_type_collection(t), program, t != TRACKER_EVENT && minor >= 41 ? "orgUnits" : "orgUnit",
             root, minor >= 41 ? "orgUnitMode" : "ouMode");
    cJSON *body = tu_call(m, "GET", path, NULL, 200);
    cJSON *items = cJSON_GetObjectItem(body, tracker_type_collection(t));
    if (!items)
        items = cJSON_GetObjectItem(body, "instances");
    int k = 0, total = cJSON_GetArraySize(items);
    char **lines = calloc((size_t)total + 1, sizeof *lines);
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(it, "deleted")) || (edit && !edit((cJSON *)it, ud)))
            continue;
        char line[4096] = "";
        for (int f = 0; f < 8 && fields[t][f]; f++) {
            const char *v = su_str(it, fields[t][f]);
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", f ? "|" : "", v ? v : "");
        }
        if (t == TRACKER_EVENT)
            add_values(line, sizeof line, it, "dataValues", "dataElement");
        else
            add_values(line, sizeof line, it, "attributes", "attribute");
        lines[k++] = strdup(line);
    }
    qsort(lines, (size_t)k, sizeof *lines, by_text);
    size_t len = 1;
    for (int i = 0; i < k; i++)
        len += strlen(lines[i]) + 1;
    char *out = calloc(1, len);
    for (int i = 0; i < k; i++) {
        strcat(strcat(out, lines[i]), "\n");
        free(lines[i]);
    }
    free(lines);
    cJSON_Delete(body);
    *n = k;
    return out;
}

/* Fails at the first line where the two texts differ. */
static void check_same_text(int line, const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return;
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    while (i > 0 && a[i - 1] != '\n')
        i--;
    test_fail(__FILE__, line, "%s: the target differs from the expected state at\n  expected: %.300s\n"
              "  target:   %.300s", what, a + i, b + i);
}

int tk_check_expected(int line, struct tu_emu *src, struct tu_emu *dst, int minor,
                      bool (*edit)(cJSON *item, void *ud), void *ud)
{
    int total = 0;
    for (int t = 0; t < TRACKER_TYPES; t++) {
        for (int which = t == TRACKER_EVENT ? 0 : 1; which < 2; which++) {
            const char *program = which ? src->tracker_program : src->event_program;
            int n_src, n_dst;
            char *a = tk_state(src, program, src->root, (enum tracker_type)t, minor, edit, ud, &n_src);
            char *b = tk_state(dst, program, src->root, (enum tracker_type)t, minor, NULL, NULL, &n_dst);
            char what[96];
            snprintf(what, sizeof what, "%s of %s (source %d, target %d)", tracker_type_collection(t),
                     program, n_src, n_dst);
            check_same_text(line, what, a, b);
            total += n_src;
            free(a);
            free(b);
        }
    }
    return total;
}

int tk_check_same(int line, struct tu_emu *src, struct tu_emu *dst, int minor)
{
    return tk_check_expected(line, src, dst, minor, NULL, NULL);
}

long long tk_counted(const cJSON *run, const char *key)
{
    return (long long)su_num(cJSON_GetObjectItem(run, "counts"), key);
}

cJSON *tk_wait_done(struct spec_server *s, long long id, int timeout_s)
{
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%lld", id);
    for (int i = 0; i < timeout_s * 10; i++) {
        cJSON *run = su_call(s, "GET", path, NULL, 200);
        const char *st = su_str(run, "status");
        if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
            return run;
        cJSON_Delete(run);
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "run %lld did not finish in %d s", id, timeout_s);
}

long long tk_queue_run(struct spec_server *s, const char *job, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/jobs/%s/run%s", job, query ? query : "");
    cJSON *queued = su_call(s, "POST", path, "{}", 202);
    long long id = (long long)su_num(queued, "id");
    cJSON_Delete(queued);
    return id;
}

cJSON *tk_run_once(struct spec_server *s, const char *job, const char *query)
{
    return tk_wait_done(s, tk_queue_run(s, job, query), 1800);
}

cJSON *tk_run_succeeded(int line, struct spec_server *s, const char *job, const char *query)
{
    cJSON *run = tk_run_once(s, job, query);
    if (strcmp(su_str(run, "status"), "succeeded") != 0)
        test_fail(__FILE__, line, "run of %s: expected succeeded, saw %s", job, cJSON_PrintUnformatted(run));
    return run;
}

void tk_add_job(struct spec_server *s, const char *name, const struct tu_emu *src, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"kind\":\"tracker\",\"source\":\"src\",\"target\":\"dst\","
             "\"programs\":[\"%s\",\"%s\"],\"orgUnits\":[\"%s\"],\"children\":true%s%s}",
             name, src->event_program, src->tracker_program, src->root, extra ? "," : "", extra ? extra : "");
    cJSON_Delete(su_call(s, "POST", "/api/jobs", body, 201));
}

/* A target whose metadata has ids renamed: the metadata of an empty twin is saved (--save on
 * SIGTERM), renamed, and loaded with --data. */
static void spawn_renamed_twin(struct tu_emu *dst, const struct tk_pair *o)
{
    char *dir = spec_test_dir("twin"), gen[96], path[PATH_MAX];
    snprintf(gen, sizeof gen, "values=0,orgunits=50,seed=%lu,events=0,trackedEntities=0", o->seed);
    struct tu_emu maker;
    tu_emu_start(&maker, (const char *const[]){"--generate", gen, "--data", dir, "--save", NULL});
    tu_emu_stop(&maker);
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    char *text = su_read_file(path);
    CHECKF(text != NULL, "the emulator saved no metadata in %s", dir);
    for (int i = 0; o->renames[i]; i += 2) {
        CHECK(strlen(o->renames[i]) == 11 && strlen(o->renames[i + 1]) == 11);
        for (char *at = strstr(text, o->renames[i]); at; at = strstr(at + 11, o->renames[i]))
            memcpy(at, o->renames[i + 1], 11);
    }
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    free(text);
    tu_emu_start(dst, (const char *const[]){"--data", dir, o->version ? "--version" : NULL, o->version, NULL});
    free(dir);
}

void tk_start_pair(struct spec_server *s, struct tu_emu *src, struct tu_emu *dst, const struct tk_pair *o)
{
    tu_emu_generate(src, o->events, o->tracked_entities, o->seed, o->version);
    if (o->renames)
        spawn_renamed_twin(dst, o);
    else
        tu_emu_generate(dst, 0, 0, o->seed, o->version);
    CHECK(spec_server_start(s, spec_new_db(), o->env) == 0);
    su_instance(s, "src", src->url);
    su_instance(s, "dst", dst->url);
}
