#include "meta_deps.h"

#include <string.h>

#define END {NULL, NULL, false}

static const struct meta_ref ou_refs[] = {{"parent", "organisationUnits", true}, END};
static const struct meta_ref oug_refs[] = {{"organisationUnits", "organisationUnits", true}, END};
static const struct meta_ref co_refs[] = {{"organisationUnits", "organisationUnits", true}, END};
static const struct meta_ref cat_refs[] = {{"categoryOptions", "categoryOptions", true}, END};
static const struct meta_ref cc_refs[] = {{"categories", "categories", true}, END};
static const struct meta_ref coc_refs[] = {{"categoryCombo", "categoryCombos", true},
                                           {"categoryOptions", "categoryOptions", true}, END};
static const struct meta_ref none[] = {END};
static const struct meta_ref os_refs[] = {{"options", "options", true}, END};
static const struct meta_ref opt_refs[] = {{"optionSet", "optionSets", true}, END};
static const struct meta_ref de_refs[] = {{"categoryCombo", "categoryCombos", true},
                                          {"optionSet", "optionSets", true},
                                          {"commentOptionSet", "optionSets", true},
                                          {"legendSets", "legendSets", true}, END};
static const struct meta_ref deg_refs[] = {{"dataElements", "dataElements", true}, END};
static const struct meta_ref ind_refs[] = {{"indicatorType", "indicatorTypes", true},
                                           {"legendSets", "legendSets", true}, END};
static const struct meta_ref ds_refs[] = {{"dataSetElements.dataElement", "dataElements", true},
                                          {"dataSetElements.categoryCombo", "categoryCombos", true},
                                          {"categoryCombo", "categoryCombos", true},
                                          {"legendSets", "legendSets", true},
                                          {"indicators", "indicators", true},
                                          {"organisationUnits", "organisationUnits", true}, END};
/* greyed fields name combos the target generates itself: referred to, never brought */
static const struct meta_ref sec_refs[] = {{"dataSet", "dataSets", true},
                                           {"dataElements", "dataElements", true},
                                           {"indicators", "indicators", true},
                                           {"greyedFields.dataElement", "dataElements", false},
                                           {"greyedFields.categoryOptionCombo",
                                            "categoryOptionCombos", false}, END};
static const struct meta_ref tea_refs[] = {{"optionSet", "optionSets", true},
                                           {"legendSets", "legendSets", true}, END};
static const struct meta_ref tet_refs[] = {
    {"trackedEntityTypeAttributes.trackedEntityAttribute", "trackedEntityAttributes", true}, END};
static const struct meta_ref pr_refs[] = {
    {"categoryCombo", "categoryCombos", true},
    {"trackedEntityType", "trackedEntityTypes", true},
    {"programTrackedEntityAttributes.trackedEntityAttribute", "trackedEntityAttributes", true},
    {"programStages", "programStages", true},
    {"organisationUnits", "organisationUnits", true}, END};
static const struct meta_ref ps_refs[] = {
    {"program", "programs", true},
    {"programStageDataElements.dataElement", "dataElements", true}, END};

static const struct meta_owned ds_owned[] = {{"sections", "dataSet.id"}, {NULL, NULL}};
static const struct meta_owned cc_owned[] = {{"categoryOptionCombos", "categoryCombo.id"},
                                             {NULL, NULL}};
static const struct meta_owned pr_owned[] = {{"programStages", "program.id"}, {NULL, NULL}};

const struct meta_type meta_types[] = {
    {"organisationUnits", "OrganisationUnit", "orgUnits", ou_refs, NULL},
    {"organisationUnitGroups", "OrganisationUnitGroup", "organisationUnitGroups", oug_refs, NULL},
    {"categoryOptions", "CategoryOption", "categoryOptions", co_refs, NULL},
    {"categories", "Category", "categories", cat_refs, NULL},
    {"categoryCombos", "CategoryCombo", "categoryCombos", cc_refs, cc_owned},
    {"categoryOptionCombos", "CategoryOptionCombo", "categoryOptionCombos", coc_refs, NULL},
    {"legendSets", "LegendSet", "legendSets", none, NULL},
    {"optionSets", "OptionSet", "optionSets", os_refs, NULL},
    {"options", "Option", "options", opt_refs, NULL},
    {"dataElements", "DataElement", "dataElements", de_refs, NULL},
    {"dataElementGroups", "DataElementGroup", "dataElementGroups", deg_refs, NULL},
    {"indicatorTypes", "IndicatorType", "indicatorTypes", none, NULL},
    {"indicators", "Indicator", "indicators", ind_refs, NULL},
    {"dataSets", "DataSet", "dataSets", ds_refs, ds_owned},
    {"sections", "Section", "sections", sec_refs, NULL},
    {"trackedEntityAttributes", "TrackedEntityAttribute", "trackedEntityAttributes", tea_refs, NULL},
    {"trackedEntityTypes", "TrackedEntityType", "trackedEntityTypes", tet_refs, NULL},
    {"programs", "Program", "programs", pr_refs, pr_owned},
    {"programStages", "ProgramStage", "programStages", ps_refs, NULL},
};
const size_t meta_n_types = sizeof meta_types / sizeof meta_types[0];

const struct meta_type *meta_type_find(const char *name)
{
    for (size_t i = 0; name && i < meta_n_types; i++)
        if (strcmp(meta_types[i].name, name) == 0)
            return &meta_types[i];
    return NULL;
}

const struct meta_type *meta_type_by_klass(const char *klass)
{
    if (!klass)
        return NULL;
    const char *dot = strrchr(klass, '.');
    const char *simple = dot ? dot + 1 : klass;
    for (size_t i = 0; i < meta_n_types; i++)
        if (strcmp(meta_types[i].klass, simple) == 0)
            return &meta_types[i];
    return NULL;
}

size_t meta_type_index(const struct meta_type *t)
{
    return (size_t)(t - meta_types);
}

/* The id of a reference value {"id":"…"}, or NULL. */
static const char *ref_id(const cJSON *v)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
    return cJSON_IsString(id) ? id->valuestring : NULL;
}

/* The key holding the references and, for "list.key", the key inside each list entry. */
static void split_path(const char *path, char *outer, size_t size, const char **inner)
{
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= size)
        n = size - 1;
    memcpy(outer, path, n);
    outer[n] = '\0';
    *inner = dot ? dot + 1 : NULL;
}

int meta_ref_each(const cJSON *obj, const struct meta_ref *r,
                  int (*fn)(void *ud, const char *id), void *ud)
{
    char outer[64];
    const char *inner;
    split_path(r->path, outer, sizeof outer, &inner);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, outer);
    if (cJSON_IsObject(v) && !inner) {
        const char *id = ref_id(v);
        return id ? fn(ud, id) : 0;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, (cJSON_IsArray(v) ? v : NULL))
    {
        const char *id = ref_id(inner ? cJSON_GetObjectItemCaseSensitive(item, inner) : item);
        int rc = id ? fn(ud, id) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Points ref {"id":…} at to (when it differs); false when out of memory. */
static bool set_ref(cJSON *ref, const char *from, const char *to)
{
    if (to == from || strcmp(to, from) == 0)
        return true;
    cJSON *s = cJSON_CreateString(to);
    return s && cJSON_ReplaceItemInObjectCaseSensitive(ref, "id", s);
}

int meta_ref_rewrite(cJSON *obj, const struct meta_ref *r,
                     const char *(*fn)(void *ud, const char *id), void *ud)
{
    char outer[64];
    const char *inner;
    split_path(r->path, outer, sizeof outer, &inner);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, outer);
    int dropped = 0;
    if (cJSON_IsObject(v) && !inner) {
        const char *id = ref_id(v);
        const char *to = id ? fn(ud, id) : NULL;
        if (id && !to) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, outer);
            return 1;
        }
        return !id || set_ref(v, id, to) ? 0 : -1;
    }
    if (!cJSON_IsArray(v))
        return 0;
    for (cJSON *item = v->child, *next; item; item = next) {
        next = item->next;
        cJSON *ref = inner ? cJSON_GetObjectItemCaseSensitive(item, inner) : item;
        const char *id = ref_id(ref);
        if (!id)
            continue;
        const char *to = fn(ud, id);
        if (!to) {
            /* the entry goes: a data set element without its element means nothing */
            cJSON_Delete(cJSON_DetachItemViaPointer(v, item));
            dropped++;
        } else if (!set_ref(ref, id, to)) {
            return -1;
        }
    }
    return dropped;
}
