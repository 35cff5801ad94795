#include "err.h"

#include <stdio.h>
#include <string.h>

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

static const char *label_in(const char *const (*labels)[2], const char *field)
{
    for (int i = 0; labels && labels[i][0]; i++)
        if (strcmp(labels[i][0], field) == 0)
            return labels[i][1];
    return NULL;
}

static const char *label_of(const struct err_fields *all, const char *field)
{
    if (!all)
        return NULL;
    const char *label = label_in(all->labels, field);
    return label ? label : label_in(all->more_labels, field);
}

int err_field(struct err *e, const char *field, const char *fmt, ...)
{
    if (!e)
        return ERR_INPUT;
    char problem[200], msg[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    const char *label = label_of(e->fields, field);
    snprintf(msg, sizeof msg, label ? "%s %s" : "%s: %s", label ? label : field, problem);
    struct err_fields *all = e->fields;
    if (!all || all->n == 0) {
        e->code = ERR_INPUT;
        snprintf(e->field, sizeof e->field, "%s", field);
        snprintf(e->msg, sizeof e->msg, "%s", msg);
    }
    if (all && all->n < ERR_FIELDS_MAX) {
        snprintf(all->v[all->n].field, sizeof all->v[all->n].field, "%s", field);
        snprintf(all->v[all->n].msg, sizeof all->v[all->n].msg, "%s", msg);
        all->n++;
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
