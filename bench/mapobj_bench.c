/* mapobj_bench.c — per-object cost of mapping_apply_object: a real DHIS2 event and metadata
 * object through a function that returns them unchanged (the JSON <-> Lua conversion both
 * ways and the call) and one that changes a field. Prints figures; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "mapping.h"

enum { N_OBJECTS = 20000, ROUNDS = 5 };

/* CPU time of this thread: the figures stay meaningful on a busy machine */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static cJSON *first(const char *path, const char *section, const char *key)
{
    char *text = NULL;
    size_t len = 0;
    if (http_read_file(path, &text, &len) != 0) {
        fprintf(stderr, "cannot read %s (run from the repository)\n", path);
        exit(1);
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON *parent = section ? cJSON_GetObjectItem(root, section) : root;
    cJSON *o = cJSON_DetachItemFromArray(cJSON_GetObjectItem(parent, key), 0);
    cJSON_Delete(root);
    return o;
}

static void bench(const char *what, struct mapping *m, const char *fn, const cJSON *sample,
                  const char *type)
{
    double best = 1e9;
    int nodes = 0;
    char *text = cJSON_PrintUnformatted(sample);
    for (const char *p = text; *p; p++)
        nodes += *p == ':' || *p == '[';
    free(text);
    for (int r = 0; r < ROUNDS; r++) {
        cJSON *objs[64];
        double spent = 0;
        for (int i = 0; i < N_OBJECTS; i += 64) {
            for (int k = 0; k < 64; k++)
                objs[k] = cJSON_Duplicate(sample, 1);
            double t0 = now_s();
            for (int k = 0; k < 64; k++) {
                struct err why;
                if (mapping_apply_object(m, fn, &objs[k], type, NULL, &why) != MAP_OK) {
                    fprintf(stderr, "%s: %s\n", what, why.msg);
                    exit(1);
                }
            }
            spent += now_s() - t0;
            for (int k = 0; k < 64; k++)
                cJSON_Delete(objs[k]);
        }
        if (spent < best)
            best = spent;
    }
    int n = (N_OBJECTS + 63) / 64 * 64;
    printf("%-44s %7.2f µs/object (~%d fields and elements)\n", what, best / n * 1e6, nodes);
}

int main(void)
{
    const char *src = "return {\n"
                      "  event = function(ev) return ev end,\n"
                      "  metadata = function(obj) return obj end,\n"
                      "  trackedEntity = function(te) te.orgUnit = 'O6uvpzGd5pu' return te end,\n"
                      "}\n";
    struct mapping *m = NULL;
    struct err e;
    if (mapping_compile_source("bench", ".", "scripts", src, strlen(src), NULL, &m, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    cJSON *ev = first("spec/fixtures/mappings/events_sample.json", NULL, "events");
    cJSON *te = first("spec/fixtures/mappings/tracked_entities_sample.json", NULL, "trackedEntities");
    cJSON *de = first("spec/fixtures/mappings/metadata_sample.json", "metadata", "dataElements");
    bench("event, returned unchanged", m, "event", ev, NULL);
    bench("data element, returned unchanged", m, "metadata", de, "dataElements");
    bench("tracked entity, one field changed", m, "trackedEntity", te, NULL);
    cJSON_Delete(ev);
    cJSON_Delete(te);
    cJSON_Delete(de);
    mapping_release(m);
    return 0;
}
