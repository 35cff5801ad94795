/* import_summary_fuzz.c — dhis2_parse_import_summary on any body, as DHIS2 (an untrusted
 * server) may answer a POST of data values: both shapes, any status, any conflicts. */
#include "dhis2.h"
#include "fuzz.h"

int fuzz_import_summary(const uint8_t *data, size_t size)
{
    char *body = fuzz_text(data, size);
    struct dhis2_import_summary s;
    struct err e = {0};
    if (dhis2_parse_import_summary(body, &s, &e) == 0) {
        for (size_t i = 0; i < s.n_conflicts; i++) {
            const struct dhis2_conflict *c = &s.conflicts[i];
            FUZZ_ASSERT(c->n_indexes == 0 || c->indexes);
            /* every string the report will print must be a readable C string */
            FUZZ_ASSERT(!c->value || strlen(c->value) < size + 1);
            FUZZ_ASSERT(!c->object || strlen(c->object) < size + 1);
        }
        FUZZ_ASSERT(s.n_rejected == 0 || s.rejected_indexes);
        FUZZ_ASSERT(strlen(s.status_text) < sizeof s.status_text);
    } else {
        FUZZ_ASSERT(e.msg[0]);
    }
    dhis2_import_summary_free(&s);
    free(body);
    return 0;
}
