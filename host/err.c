#include "err.h"

#include <stdio.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
    if (e) {
        e->field[0] = '\0';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int err_field(struct err *e, const char *field, const char *fmt, ...)
{
    if (e) {
        char problem[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(problem, sizeof problem, fmt, ap);
        va_end(ap);
        e->code = ERR_INPUT;
        snprintf(e->field, sizeof e->field, "%s", field);
        snprintf(e->msg, sizeof e->msg, "%s: %s", field, problem);
    }
    return ERR_INPUT;
}

int err_name_taken(struct err *e, const char *what, const char *name)
{
    err_field(e, "name", "%s named '%s' exists already", what, name);
    if (e)
        e->code = ERR_CONFLICT;
    return ERR_CONFLICT;
}

void err_clear(struct err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
        e->field[0] = '\0';
    }
}
