/* err.h — the one error shape every module fills.
 * A function that can fail returns 0 (or a non-NULL pointer) on success and, on failure, a
 * negative code (or NULL) with a caller-owned struct err holding a sentence a user can act on. */
#ifndef DHIS2SYNC_ERR_H
#define DHIS2SYNC_ERR_H

#include <stdarg.h>

enum err_code {
    ERR_OK = 0,
    ERR_INTERNAL = -1,   /* a bug or an allocation failure */
    ERR_INPUT = -2,      /* the caller's input is invalid (400/422) */
    ERR_NOT_FOUND = -3,  /* 404 */
    ERR_CONFLICT = -4,   /* 409: unique name taken, state does not allow it */
    ERR_DB = -5,         /* PostgreSQL unreachable or refused the statement */
    ERR_NET = -6,        /* a remote server could not be reached or answered badly */
    ERR_AUTH = -7,       /* 401 */
    ERR_FORBIDDEN = -8,  /* 403 */
    ERR_TOO_LARGE = -9,  /* 413 */
    ERR_SCRIPT = -10,    /* a mapping script failed */
    ERR_CANCELLED = -11, /* stopped on request */
};

/* Every field error of one input, for a form that shows each beside its field. A caller that
 * wants them all points err.fields at one before validating: err_field then adds each error to
 * it and keeps the first in the err. With labels ({field, label} pairs, NULL-terminated), a
 * message reads "Batch size must be ..." rather than "importOptions.batchSize: must be ...". */
enum { ERR_FIELDS_MAX = 32 };
struct err_fields {
    const char *const (*labels)[2];
    const char *const (*more_labels)[2]; /* looked in after labels (a job's kind's fields) */
    int n;
    struct {
        char field[64];
        char msg[256];
    } v[ERR_FIELDS_MAX];
};

struct err {
    int code;
    char msg[256];
    char field[64];  /* for ERR_INPUT: the input field at fault ("importOptions.batchSize"), or "" */
    struct err_fields *fields; /* borrowed; NULL: only the last error is kept */
};

/* Sets e->code and formats e->msg; returns code so callers can `return err_set(...)`.
 * e may be NULL. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void err_clear(struct err *e);
/* An ERR_CONFLICT on field "name": "name: <a job> named '<name>' exists already". */
int err_name_taken(struct err *e, const char *what, const char *name);
/* An ERR_INPUT naming the field at fault; msg reads "field: problem". */
int err_field(struct err *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
