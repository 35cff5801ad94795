/* job_body_fuzz.c — a body posted to /api/jobs, through the JSON parser and job_validate_body
 * (every field: periods, import options, notify, schedule). What it accepts is stored and
 * scheduled, so its spec must be complete. */
#include <cJSON.h>

#include "fuzz.h"
#include "jobs.h"

int fuzz_job_body(const uint8_t *data, size_t size)
{
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (!body)
        return 0;
    struct job_input in;
    struct err e = {0};
    if (job_validate_body(body, &in, &e) == 0) {
        static const char *const keys[] = {"dataSets", "dataElementGroups", "orgUnits", "periods",
                                           "importOptions", "children", "incremental", "deletions"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            FUZZ_ASSERT(cJSON_GetObjectItemCaseSensitive(in.spec, keys[i]));
        FUZZ_ASSERT(in.name && (!in.schedule || in.next_run > 0));
        char *text = cJSON_PrintUnformatted(in.spec);
        FUZZ_ASSERT(text);
        free(text);
        cJSON_Delete(in.spec);
    } else {
        FUZZ_ASSERT(e.msg[0] && !in.spec);
    }
    cJSON_Delete(body);
    return 0;
}
