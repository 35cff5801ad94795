/* validate.h — reading a posted JSON object field by field. Every failure is an ERR_INPUT that
 * names the field ("importOptions.batchSize: must be a whole number from 1 to 50000"), which
 * the API answers as 422 with detail.field. prefix ("" or "importOptions.") only decorates
 * the name in messages. */
#ifndef DHIS2SYNC_VALIDATE_H
#define DHIS2SYNC_VALIDATE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* DHIS2 UID: 11 characters, a letter then letters or digits. */
bool uid_valid(const char *s);

/* *out = the string (owned by o), or NULL when absent/null and not required. Length counts
 * UTF-8 characters; invalid UTF-8 and control characters are refused. */
int v_string(const cJSON *o, const char *prefix, const char *key, bool required, size_t min_chars,
             size_t max_chars, const char **out, struct err *e);
int v_bool(const cJSON *o, const char *prefix, const char *key, bool fallback, bool *out,
           struct err *e);
int v_int(const cJSON *o, const char *prefix, const char *key, long fallback, long min, long max,
          long *out, struct err *e);
/* One of allowed (NULL-terminated, compared exactly); fallback when absent. */
int v_enum(const cJSON *o, const char *prefix, const char *key, const char *const *allowed,
           const char *fallback, const char **out, struct err *e);
/* An array of UIDs (absent = empty); *out is the array inside o or NULL. */
int v_uid_array(const cJSON *o, const char *prefix, const char *key, const cJSON **out,
                struct err *e);

/* Of two results, the one to report: a failure that is not the input's (the database, memory)
 * over an input error, an input error over success. Lets a validator run every check and still
 * answer the failure that matters. */
int v_worse(int a, int b);

#endif
