/* sync_kinds.c — the kinds of job this build knows, by the name a job gives as its "kind". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dv_sync.h"
#include "meta_sync.h"
#include "sync_kind.h"
#include "tracker_sync.h"

static const struct sync_kind *const kinds[] = {
    &sync_kind_data_values,
    &sync_kind_metadata,
    &sync_kind_tracker,
};

const struct sync_kind *sync_kind_find(const char *name)
{
    if (!name)
        return kinds[0];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

const char *sync_kind_names(void)
{
    static _Thread_local char names[200];
    size_t n = sizeof kinds / sizeof kinds[0];
    names[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                 i == 0 ? "" : i + 1 == n ? " or " : ", ", kinds[i]->name);
    return names;
}

void sync_problem(cJSON *problems, const char *level, const char *field, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddItemToArray(problems, p)) {
        cJSON_Delete(p);
        return;
    }
    cJSON_AddStringToObject(p, "level", level);
    cJSON_AddStringToObject(p, "field", field);
    cJSON_AddStringToObject(p, "message", msg);
}
