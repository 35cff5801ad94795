/* check.c — `dhis2sync check` and the check route's logic. See check.h. */
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapping_registry.h"

cJSON *check_datavalue_json(const struct datavalue *dv)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (int i = 0; i < DV_STRINGS; i++) {
        const char *s = *datavalue_string((struct datavalue *)dv, (enum datavalue_string)i);
        if (s)
            cJSON_AddStringToObject(o, datavalue_names[i], s);
    }
    cJSON_AddBoolToObject(o, "followup", dv->followup);
    if (dv->deleted)
        cJSON_AddBoolToObject(o, "deleted", 1);
    return o;
}

static int parse_value(const cJSON *j, size_t index, struct datavalue *dv, struct arena *a,
                       struct err *e)
{
    memset(dv, 0, sizeof *dv);
    if (!cJSON_IsObject(j))
        return err_set(e, ERR_INPUT, "sample: dataValues[%zu] is not an object", index);
    for (int i = 0; i < DV_STRINGS; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, datavalue_names[i]);
        const char **dst = datavalue_string(dv, (enum datavalue_string)i);
        if (!f || cJSON_IsNull(f))
            continue;
        if (cJSON_IsString(f)) {
            *dst = arena_strdup(a, f->valuestring);
        } else if (cJSON_IsNumber(f) && i == 5) {
            char buf[64];
            /* whole numbers print whole; compared, not cast, since a cast of 1e300 is undefined */
            if (fabs(f->valuedouble) <= 9007199254740992.0 && f->valuedouble == floor(f->valuedouble))
                snprintf(buf, sizeof buf, "%.0f", f->valuedouble + 0.0);  /* + 0.0: no "-0" */
            else
                snprintf(buf, sizeof buf, "%.15g", f->valuedouble);
            *dst = arena_strdup(a, buf);
        } else {
            return err_set(e, ERR_INPUT, "sample: dataValues[%zu].%s must be a string", index,
                           datavalue_names[i]);
        }
        if (!*dst)
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (!dv->data_element || !dv->period || !dv->org_unit)
        return err_set(e, ERR_INPUT,
                       "sample: dataValues[%zu] needs dataElement, period and orgUnit", index);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "followup");
    dv->followup = cJSON_IsTrue(b);
    b = cJSON_GetObjectItemCaseSensitive(j, "deleted");
    dv->deleted = cJSON_IsTrue(b);
    return 0;
}

cJSON *check_error_json(const char *msg)
{
    char file[128];
    int line;
    const char *rest;
    lua_host_error_location(msg, file, sizeof file, &line, &rest);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "line", line);
    cJSON_AddStringToObject(o, "message", rest);
    return o;
}

static void add_time(cJSON *o, const char *key, time_t t)
{
    if (!t) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, key, buf);
}

cJSON *check_info_json(const struct mapping_info *info, const char *source)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", info->name);
    if (info->version[0])
        cJSON_AddStringToObject(o, "version", info->version);
    else
        cJSON_AddNullToObject(o, "version");
    cJSON_AddStringToObject(o, "state", info->has_error ? "error" : "loaded");
    if (info->has_error) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "file", info->error_file);
        cJSON_AddNumberToObject(e, "line", info->error_line);
        cJSON_AddStringToObject(e, "message", info->error_message);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    cJSON_AddBoolToObject(o, "loaded", info->loaded);
    cJSON_AddNumberToObject(o, "reloads", (double)info->reloads);
    cJSON_AddNumberToObject(o, "errors", (double)info->errors);
    add_time(o, "loadedAt", info->loaded_at);
    add_time(o, "errorAt", info->has_error ? info->error_at : 0);
    if (source)
        cJSON_AddStringToObject(o, "source", source);
    return o;
}

/* A result's status and what goes with it: the output (taken over), the reason it was skipped
 * or where it failed. */
static void add_outcome(cJSON *res, enum map_result r, cJSON *output, const struct err *why)
{
    static const char *const status[] = {"mapped", "skipped", "error"};
    cJSON_AddStringToObject(res, "status", status[r]);
    if (r == MAP_OK) {
        cJSON_AddItemToObject(res, "output", output);
    } else if (r == MAP_SKIP) {
        cJSON_AddStringToObject(res, "reason", why->msg);
    } else {
        cJSON_AddItemToObject(res, "error", check_error_json(why->msg));
        cJSON_AddStringToObject(res, "message", why->msg);
    }
}

/* ---------------------------------------------------------------- object samples */

/* The lists of an object sample: where they are, the mapping function that takes them, and the
 * type each result names (NULL: the metadata collection's name). */
#define SAMPLE_SHAPES                                                                      \
    "{\"dataValues\":[…]}, {\"events\":[…]}, {\"trackedEntities\":[…]} or "                \
    "{\"metadata\":{\"dataElements\":[…],…}}"

static const struct {
    const char *key, *fn, *type;
} object_lists[] = {
    {"events", "event", "event"},
    {"trackedEntities", "trackedEntity", "trackedEntity"},
    {"metadata", "metadata", NULL},
};
enum { OBJECT_LISTS = sizeof object_lists / sizeof object_lists[0] };

static int is_object_sample(const cJSON *sample)
{
    for (int i = 0; i < OBJECT_LISTS; i++)
        if (cJSON_GetObjectItemCaseSensitive(sample, object_lists[i].key))
            return 1;
    return 0;
}

struct object_check {
    struct mapping *m;
    const struct mapping_lookup *lookup;
    cJSON *results;
    int counts[3];
    int index;
};

/* Maps every object of list (a sample's events, or one metadata collection) with fn. */
static int check_list(struct object_check *oc, const cJSON *list, const char *where,
                      const char *fn, const char *type, const char *fn_type, struct err *e)
{
    if (!cJSON_IsArray(list))
        return err_set(e, ERR_INPUT, "sample: %s must be a list of objects", where);
    int i = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, list) {
        if (!cJSON_IsObject(j))
            return err_set(e, ERR_INPUT, "sample: %s[%d] is not an object", where, i);
        cJSON *res = cJSON_CreateObject();
        cJSON *obj = cJSON_Duplicate(j, 1);
        if (!res || !obj || !cJSON_AddItemToArray(oc->results, res)) {
            cJSON_Delete(res);
            cJSON_Delete(obj);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        cJSON_AddNumberToObject(res, "index", oc->index++);
        cJSON_AddStringToObject(res, "type", type);
        cJSON_AddItemToObject(res, "input", cJSON_Duplicate(j, 1));
        struct err why = {0};
        enum map_result r = mapping_apply_object(oc->m, fn, &obj, fn_type, oc->lookup, &why);
        add_outcome(res, r, r == MAP_OK ? obj : NULL, &why);
        if (r != MAP_OK)
            cJSON_Delete(obj);
        oc->counts[r]++;
        i++;
    }
    return 0;
}

/* Walks the sample's lists; the note says which functions the mapping does not define. */
static int check_lists(struct object_check *oc, const cJSON *sample, char *note, size_t size,
                       struct err *e)
{
    if (cJSON_GetObjectItemCaseSensitive(sample, "dataValues"))
        return err_set(e, ERR_INPUT, "sample: data values and objects (events, trackedEntities, "
                                     "metadata) go in separate samples");
    for (int i = 0; i < OBJECT_LISTS; i++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(sample, object_lists[i].key);
        if (!list)
            continue;
        if (!mapping_has_function(oc->m, object_lists[i].fn))
            snprintf(note + strlen(note), size - strlen(note), "%sthe mapping has no %s "
                     "function: %s pass unchanged", *note ? "; " : "", object_lists[i].fn,
                     object_lists[i].key);
        int rc;
        if (object_lists[i].type) {
            rc = check_list(oc, list, object_lists[i].key, object_lists[i].fn,
                            object_lists[i].type, NULL, e);
        } else if (!cJSON_IsObject(list)) {
            rc = err_set(e, ERR_INPUT, "sample: metadata must be an object of lists "
                                       "({\"dataElements\":[…],…})");
        } else {
            rc = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, list) {
                char where[160];
                snprintf(where, sizeof where, "metadata.%s", c->string);
                if ((rc = check_list(oc, c, where, "metadata", c->string, c->string, e)) != 0)
                    break;
            }
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static cJSON *check_objects(struct mapping *m, const cJSON *sample,
                            const struct mapping_lookup *lookup, int *n_errors, struct err *e)
{
    struct object_check oc = {.m = m, .lookup = lookup, .results = cJSON_CreateArray()};
    cJSON *root = cJSON_CreateObject();
    char note[512] = "";
    if (!root || !oc.results) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (check_lists(&oc, sample, note, sizeof note, e) != 0)
        goto fail;
    cJSON_AddStringToObject(root, "mapping", mapping_name(m));
    cJSON_AddStringToObject(root, "version", mapping_version(m));
    cJSON *c = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(c, "objects", oc.index);
    cJSON_AddNumberToObject(c, "mapped", oc.counts[MAP_OK]);
    cJSON_AddNumberToObject(c, "skipped", oc.counts[MAP_SKIP]);
    cJSON_AddNumberToObject(c, "errors", oc.counts[MAP_ERROR]);
    cJSON_AddItemToObject(root, "results", oc.results);
    if (*note)
        cJSON_AddStringToObject(root, "note", note);
    if (n_errors)
        *n_errors = oc.counts[MAP_ERROR];
    return root;
fail:
    cJSON_Delete(oc.results);
    cJSON_Delete(root);
    return NULL;
}

/* ---------------------------------------------------------------- data value samples */

cJSON *check_sample(struct mapping *m, const cJSON *sample, const struct mapping_lookup *lookup,
                    int *n_errors, struct err *e)
{
    if (cJSON_IsObject(sample) && is_object_sample(sample))
        return check_objects(m, sample, lookup, n_errors, e);
    const cJSON *list = cJSON_IsArray(sample) ? sample
                                              : cJSON_GetObjectItemCaseSensitive(sample, "dataValues");
    if (!cJSON_IsArray(list)) {
        err_set(e, ERR_INPUT, "sample: expected %s", SAMPLE_SHAPES);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    struct arena a = {0};
    struct datavalue *mapped = malloc((n ? n : 1) * sizeof *mapped);
    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_CreateArray();
    if (!mapped || !root || !results) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    cJSON_AddStringToObject(root, "mapping", mapping_name(m));
    cJSON_AddStringToObject(root, "version", mapping_version(m));
    int counts[3] = {0};
    size_t n_mapped = 0, index = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, list) {
        struct datavalue in;
        if (parse_value(j, index, &in, &a, e) != 0)
            goto fail;
        struct err why = {0};
        enum map_result r = mapping_apply(m, &in, &mapped[n_mapped], &a, lookup, &why);
        cJSON *res = cJSON_CreateObject();
        cJSON_AddItemToArray(results, res);
        cJSON_AddNumberToObject(res, "index", (double)index);
        cJSON_AddItemToObject(res, "input", check_datavalue_json(&in));
        add_outcome(res, r, r == MAP_OK ? check_datavalue_json(&mapped[n_mapped]) : NULL, &why);
        n_mapped += r == MAP_OK;
        counts[r]++;
        index++;
    }
    cJSON *c = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(c, "values", (double)n);
    cJSON_AddNumberToObject(c, "mapped", counts[MAP_OK]);
    cJSON_AddNumberToObject(c, "skipped", counts[MAP_SKIP]);
    cJSON_AddNumberToObject(c, "errors", counts[MAP_ERROR]);
    cJSON_AddItemToObject(root, "results", results);
    results = NULL;
    struct mapping_stats st;
    mapping_stats(m, &st);
    if (st.aggregate_sum) {
        struct err note = {0};
        size_t k = mapping_aggregate(m, mapped, n_mapped, &a, &note);
        cJSON *agg = cJSON_AddArrayToObject(root, "aggregated");
        for (size_t i = 0; i < k; i++)
            cJSON_AddItemToArray(agg, check_datavalue_json(&mapped[i]));
        if (note.msg[0])
            cJSON_AddStringToObject(root, "note", note.msg);
    }
    if (n_errors)
        *n_errors = counts[MAP_ERROR];
    free(mapped);
    arena_free(&a);
    return root;
fail:
    cJSON_Delete(results);
    cJSON_Delete(root);
    free(mapped);
    arena_free(&a);
    return NULL;
}

/* ---------------------------------------------------------------- the command */

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (n + 1 == cap) {
            char *nb = cap < (256u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static const char *or_dash(const char *s) { return s ? s : "-"; }

static void print_value(const char *prefix, const cJSON *v)
{
    const char *f[6];
    const char *keys[6] = {"dataElement", "categoryOptionCombo", "attributeOptionCombo",
                           "period", "orgUnit", "value"};
    for (int i = 0; i < 6; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(v, keys[i]);
        f[i] = cJSON_IsString(j) ? j->valuestring : NULL;
    }
    printf("%s%s/%s/%s %s %s = %s", prefix, or_dash(f[0]), or_dash(f[1]), or_dash(f[2]),
           or_dash(f[3]), or_dash(f[4]), f[5] ? f[5] : "(none)");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "deleted")))
        printf(" (deleted)");
}

static void print_summary(struct mapping *m, const char *path)
{
    struct mapping_stats st;
    mapping_stats(m, &st);
    printf("%s: compiles (version %s) from %s\n", mapping_name(m), mapping_version(m), path);
    for (int k = 0; k < MAP_KINDS; k++) {
        if (st.table_size[k] < 0)
            printf("  %-22s not declared (ids pass unchanged)\n", mapping_kind_name(k));
        else
            printf("  %-22s %ld entr%s\n", mapping_kind_name(k), st.table_size[k],
                   st.table_size[k] == 1 ? "y" : "ies");
    }
    static const char *const modes[] = {"skip", "keep", "error"};
    printf("  unmapped = \"%s\", aggregate = %s, transform: %s\n", modes[st.unmapped],
           st.aggregate_sum ? "\"sum\"" : "none", st.has_transform ? "yes" : "no");
    static const char *const tables[] = {"programs", "programStages", "trackedEntityAttributes",
                                         "options"};
    static const char *const fns[] = {"metadata", "event", "trackedEntity"};
    char objects[256] = "";
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (mapping_has_table(m, tables[i]))
            snprintf(objects + strlen(objects), sizeof objects - strlen(objects), " %s",
                     tables[i]);
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (mapping_has_function(m, fns[i]))
            snprintf(objects + strlen(objects), sizeof objects - strlen(objects), " %s()", fns[i]);
    if (*objects)
        printf("  for metadata and tracker data:%s\n", objects);
}

/* "event ZwwuwNp6gVd": the type of an object and its uid, whichever key holds it. */
static void print_object(const char *prefix, const cJSON *r)
{
    static const char *const id_keys[] = {"id", "event", "trackedEntity", "enrollment"};
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r, "input");
    const char *id = "(no id)";
    for (size_t i = 0; i < sizeof id_keys / sizeof id_keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, id_keys[i]);
        if (cJSON_IsString(v)) {
            id = v->valuestring;
            break;
        }
    }
    printf("%s%s %s", prefix, cJSON_GetObjectItemCaseSensitive(r, "type")->valuestring, id);
}

static void print_json(const char *prefix, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    printf("%s%s", prefix, s ? s : "(out of memory)");
    free(s);
}

static void print_results(const cJSON *res)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "counts");
    int objects = cJSON_GetObjectItemCaseSensitive(c, "objects") != NULL;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(res, "results")) {
        int index = cJSON_GetObjectItemCaseSensitive(r, "index")->valueint;
        const char *status = cJSON_GetObjectItemCaseSensitive(r, "status")->valuestring;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%4d %-8s ", index + 1, status);
        if (objects)
            print_object(prefix, r);
        else
            print_value(prefix, cJSON_GetObjectItemCaseSensitive(r, "input"));
        if (strcmp(status, "mapped") == 0) {
            (objects ? print_json : print_value)("\n              -> ",
                                                 cJSON_GetObjectItemCaseSensitive(r, "output"));
        } else if (strcmp(status, "skipped") == 0) {
            printf("\n              %s",
                   cJSON_GetObjectItemCaseSensitive(r, "reason")->valuestring);
        } else {
            printf("\n              %s",
                   cJSON_GetObjectItemCaseSensitive(r, "message")->valuestring);
        }
        printf("\n");
    }
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(res, "aggregated");
    if (agg) {
        printf("after aggregate = \"sum\": %d value(s) to send\n", cJSON_GetArraySize(agg));
        const cJSON *v;
        cJSON_ArrayForEach(v, agg) {
            print_value("              ", v);
            printf("\n");
        }
    }
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(res, "note");
    if (cJSON_IsString(note))
        printf("note: %s\n", note->valuestring);
    int errors = cJSON_GetObjectItemCaseSensitive(c, "errors")->valueint;
    printf("%d %s(s): %d mapped, %d skipped, %d error%s\n",
           cJSON_GetObjectItemCaseSensitive(c, objects ? "objects" : "values")->valueint,
           objects ? "object" : "value",
           cJSON_GetObjectItemCaseSensitive(c, "mapped")->valueint,
           cJSON_GetObjectItemCaseSensitive(c, "skipped")->valueint, errors,
           errors == 1 ? "" : "s");
}

static int usage(void)
{
    fprintf(stderr, "usage: dhis2sync check MAPPING [--sample FILE|-] [--json] [--scripts DIR]\n"
                    "  MAPPING: a name under $DHIS2SYNC_MAPPINGS (default ./mappings) or a "
                    "path to a .lua file\n");
    return 2;
}

int check_command(int argc, char **argv)
{
    const char *target = NULL, *sample_path = NULL, *scripts = getenv("DHIS2SYNC_SCRIPTS");
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sample") == 0 && i + 1 < argc)
            sample_path = argv[++i];
        else if (strncmp(argv[i], "--sample=", 9) == 0)
            sample_path = argv[i] + 9;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--scripts") == 0 && i + 1 < argc)
            scripts = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage();
        else if (argv[i][0] == '-' && argv[i][1])
            return usage();
        else if (!target)
            target = argv[i];
        else
            return usage();
    }
    if (!target)
        return usage();
    if (!scripts || !*scripts)
        scripts = "scripts";

    char path[4096], name[128];
    size_t tl = strlen(target);
    if (strchr(target, '/') || (tl > 4 && strcmp(target + tl - 4, ".lua") == 0)) {
        snprintf(path, sizeof path, "%s", target);
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        snprintf(name, sizeof name, "%.*s", (int)(strlen(base) > 4 && strcmp(base + strlen(base) - 4, ".lua") == 0 ? strlen(base) - 4 : strlen(base)), base);
    } else {
        if (!mapping_name_valid(target)) {
            fprintf(stderr, "check: '%s' is not a mapping name (letters, digits, '_' and '-') "
                            "nor a path\n", target);
            return 1;
        }
        const char *dir = getenv("DHIS2SYNC_MAPPINGS");
        snprintf(path, sizeof path, "%s/%s.lua", dir && *dir ? dir : "mappings", target);
        snprintf(name, sizeof name, "%s", target);
    }

    int rc = 1;
    struct mapping *m = NULL;
    cJSON *sample = NULL, *res = NULL;
    char *text = NULL;
    struct err e = {0};
    if (mapping_compile(name, path, scripts, &m, &e) != 0) {
        fprintf(stderr, "check: %s\n", e.msg);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "mapping", name);
            cJSON_AddStringToObject(o, "state", "error");
            cJSON_AddItemToObject(o, "error", check_error_json(e.msg));
            char *s = cJSON_Print(o);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(o);
        }
        goto out;
    }
    if (mapping_canary(m, &e) != 0) {
        fprintf(stderr, "check: %s (canary call on a sample value; a reload would keep the "
                        "previous version)\n", e.msg);
        goto out;
    }
    if (!json)
        print_summary(m, path);
    if (!sample_path) {
        rc = 0;
        goto out;
    }
    FILE *f = strcmp(sample_path, "-") == 0 ? stdin : fopen(sample_path, "rb");
    if (!f) {
        fprintf(stderr, "check: cannot read %s: %s\n", sample_path, strerror(errno));
        goto out;
    }
    size_t len = 0;
    text = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    sample = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (!sample) {
        fprintf(stderr, "check: %s is not JSON (expected %s)\n", sample_path, SAMPLE_SHAPES);
        goto out;
    }
    int errors = 0;
    res = check_sample(m, sample, NULL, &errors, &e);
    if (!res) {
        fprintf(stderr, "check: %s: %s\n", sample_path, e.msg);
        goto out;
    }
    if (json) {
        char *s = cJSON_Print(res);
        printf("%s\n", s);
        free(s);
    } else {
        print_results(res);
    }
    rc = errors ? 1 : 0;
out:
    fflush(stdout);
    cJSON_Delete(res);
    cJSON_Delete(sample);
    free(text);
    mapping_release(m);
    return rc;
}
