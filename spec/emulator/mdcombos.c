/* mdcombos.c — the option combos of a category combo: every combination of its categories'
 * options, in category order (DHIS2's CombinationGenerator). An import makes the missing ones
 * itself, on every version; 2.43 also refuses posted option combos that are not exactly that
 * set (CategoryOptionComboObjectBundleHook: E1130 count, E1131 unexpected set, E1132 duplicate
 * of a stored one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdimport.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The object as it will be: the valid payload version, else the stored one. */
static cJSON *current(struct ctx *c, const char *col, const char *uid)
{
    int i = uid ? mdi_posted(c, col, uid) : -1;
    if (i >= 0 && !c->items[i].errors && c->o->strategy != STRATEGY_DELETE)
        return c->items[i].obj;
    return mdi_stored(c, col, uid);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "a,b" from a list of option ids, sorted so that sets compare as text. */
static char *set_text(const char **ids, int n)
{
    const char **s = malloc(((size_t)n + 1) * sizeof *s);
    if (!s)
        return NULL;
    memcpy(s, ids, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, str_cmp);
    struct buf b = {0};
    buf_putc(&b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_puts(&b, ", ");
        buf_puts(&b, s[i]);
    }
    buf_putc(&b, ']');
    free(s);
    return buf_take(&b);
}

/* The option lists of a combo's categories, in category order (NULL entries for unknown ones).
 * Returns the number of categories, -1 when out of memory. */
static int combo_options(struct ctx *c, const cJSON *cc, cJSON ***lists)
{
    cJSON *cats = cJSON_GetObjectItemCaseSensitive(cc, "categories");
    int n = cJSON_GetArraySize(cats), k = 0;
    if (!(*lists = calloc((size_t)n + 1, sizeof **lists)))
        return -1;
    cJSON *r;
    cJSON_ArrayForEach(r, cats)
        (*lists)[k++] = cJSON_GetObjectItemCaseSensitive(current(c, "categories", str_of(r, "id")),
                                                         "categoryOptions");
    return n;
}

/* Calls fn with every combination of options (ids), as DHIS2's CombinationGenerator walks them. */
static int each_combination(cJSON **lists, int n, int (*fn)(void *, const char **, int), void *arg)
{
    int *pos = calloc((size_t)n + 1, sizeof *pos);
    const char **ids = calloc((size_t)n + 1, sizeof *ids);
    int rc = -1;
    if (!pos || !ids)
        goto out;
    for (int i = 0; i < n; i++)
        if (cJSON_GetArraySize(lists[i]) == 0) {
            rc = 0;
            goto out;
        }
    for (;;) {
        for (int i = 0; i < n; i++)
            ids[i] = str_of(cJSON_GetArrayItem(lists[i], pos[i]), "id");
        if (fn(arg, ids, n))
            goto out;
        int i = n - 1;
        while (i >= 0 && ++pos[i] >= cJSON_GetArraySize(lists[i]))
            pos[i--] = 0;
        if (i < 0)
            break;
    }
    rc = 0;
out:
    free(pos);
    free(ids);
    return rc;
}

struct sets {
    char **s;
    int n;
};

static int add_set(void *arg, const char **ids, int n)
{
    struct sets *x = arg;
    char **grown = realloc(x->s, ((size_t)x->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    x->s = grown;
    return (x->s[x->n++] = set_text(ids, n)) ? 0 : -1;
}

static void sets_free(struct sets *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->s[i]);
    free(x->s);
}

static bool sets_has(const struct sets *x, const char *s)
{
    for (int i = 0; i < x->n; i++)
        if (x->s[i] && !strcmp(x->s[i], s))
            return true;
    return false;
}

static char *coc_set(const cJSON *coc)
{
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(coc, "categoryOptions");
    int n = cJSON_GetArraySize(opts), k = 0;
    const char **ids = calloc((size_t)n + 1, sizeof *ids);
    if (!ids)
        return NULL;
    cJSON *r;
    cJSON_ArrayForEach(r, opts)
        ids[k++] = str_of(r, "id") ? str_of(r, "id") : "";
    char *s = set_text(ids, n);
    free(ids);
    return s;
}

/* 2.43's CategoryOptionComboObjectBundleHook: the posted option combos of a combo must be
 * exactly the set its categories generate. */
void mdi_check_coc_43(struct ctx *c, struct item *it)
{
    const char *cc_uid = it->existing ? str_of(cJSON_GetObjectItemCaseSensitive(it->existing, "categoryCombo"), "id")
                                      : str_of(cJSON_GetObjectItemCaseSensitive(it->obj, "categoryCombo"), "id");
    cJSON *cc = current(c, "categoryCombos", cc_uid);
    if (!cc)
        return; /* E5002 says it */
    const char *cc_name = str_of(cc, "name");
    if (cc_name && !strcmp(cc_name, "default"))
        return;
    cJSON **lists = NULL;
    struct sets expected = {0};
    char *mine = coc_set(it->obj);
    int n = combo_options(c, cc, &lists);
    if (!mine || n < 0 || each_combination(lists, n, add_set, &expected)) {
        c->oom = true;
        goto out;
    }
    int provided = 0;
    for (int i = 0; i < c->n; i++) {
        const struct item *o = &c->items[i];
        if (strcmp(o->col, "categoryOptionCombos") != 0)
            continue;
        const char *ref = str_of(cJSON_GetObjectItemCaseSensitive(o->existing ? o->existing : o->obj, "categoryCombo"), "id");
        provided += ref && !strcmp(ref, cc_uid);
    }
    if (provided != expected.n) {
        mdi_add_error(c, it, "E1130", "categoryOptionCombos", NULL, NULL,
                  "Importing %d CategoryOptionCombos does not match the expected amount of %d for CategoryCombo %s",
                  provided, expected.n, cc_uid);
        goto out;
    }
    if (!it->existing) {
        struct md_collection *mc = metadata_collection(c->md, "categoryOptionCombos");
        cJSON *s;
        cJSON_ArrayForEach(s, (mc ? mc->items : NULL)) {
            const char *ref = str_of(cJSON_GetObjectItemCaseSensitive(s, "categoryCombo"), "id");
            char *theirs = ref && !strcmp(ref, cc_uid) ? coc_set(s) : NULL;
            bool same = theirs && !strcmp(theirs, mine);
            free(theirs);
            if (same) {
                mdi_add_error(c, it, "E1132", "categoryOptionCombos", NULL, NULL,
                          "Provided CategoryOptionCombo %s cannot be processed (potential duplicate). An existing "
                          "CategoryOptionCombo %s has the same CategoryCombo %s and same CategoryOptions %s",
                          it->uid, str_of(s, "id"), cc_uid, mine);
                goto out;
            }
        }
    }
    if (!sets_has(&expected, mine)) {
        struct buf b = {0};
        buf_putc(&b, '[');
        for (int i = 0; i < expected.n; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", expected.s[i]);
        buf_putc(&b, ']');
        char *missing = buf_take(&b);
        mdi_add_error(c, it, "E1131", "categoryOptionCombos", NULL, NULL,
                  "Unexpected CategoryOptionCombo provided with CategoryOptions: %s for CategoryCombo: %s. Missing "
                  "expected CategoryOptionCombos with CategoryOption sets: %s",
                  mine, cc_uid, missing ? missing : "[]");
        free(missing);
    }
out:
    free(mine);
    free(lists);
    sets_free(&expected);
}

struct gen {
    struct ctx *c;
    const cJSON *cc;
    struct sets have;
    cJSON *cocs;
    const char *now;
};

static int generate_one(void *arg, const char **ids, int n)
{
    struct gen *g = arg;
    char *set = set_text(ids, n);
    if (!set)
        return -1;
    bool have = sets_has(&g->have, set);
    free(set);
    if (have)
        return 0;
    char uid[12];
    make_uid(uid);
    struct buf name = {0};
    for (int i = 0; i < n; i++) {
        const char *on = str_of(mdi_stored(g->c, "categoryOptions", ids[i]), "name");
        buf_printf(&name, "%s%s", i ? ", " : "", on ? on : ids[i]);
    }
    char *nm = buf_take(&name);
    /* everything hangs from o as soon as it is made: one delete frees it all */
    cJSON *o = cJSON_CreateObject();
    cJSON *ref = o ? cJSON_AddObjectToObject(o, "categoryCombo") : NULL;
    cJSON *opts = o ? cJSON_AddArrayToObject(o, "categoryOptions") : NULL;
    bool ok = nm && ref && opts && cJSON_AddStringToObject(o, "id", uid) && cJSON_AddStringToObject(o, "name", nm) &&
              cJSON_AddStringToObject(ref, "id", str_of(g->cc, "id"));
    for (int i = 0; i < n && ok; i++) {
        cJSON *r = cJSON_CreateObject();
        ok = r && cJSON_AddItemToArray(opts, r) && cJSON_AddStringToObject(r, "id", ids[i]);
        if (r && !ok && !cJSON_GetArrayItem(opts, i))
            cJSON_Delete(r); /* not attached */
    }
    ok = ok && cJSON_AddStringToObject(o, "created", g->now) && cJSON_AddStringToObject(o, "lastUpdated", g->now) &&
         cJSON_AddItemToArray(g->cocs, o);
    free(nm);
    if (!ok) {
        cJSON_Delete(o);
        return -1;
    }
    return 0;
}

/* DHIS2 generates a combo's option combos itself: every combination of its categories' options
 * that no option combo of the combo has yet gets one. Runs on the reloaded store. */
int mdi_generate_cocs(struct ctx *c, const char *now)
{
    cJSON *cocs = mdi_store_array(c->md, "categoryOptionCombos");
    if (!cocs)
        return -1;
    for (int i = 0; i < c->md->n_cc; i++) {
        const struct md_cc *mc = &c->md->cc[i];
        if (i == c->md->default_cc)
            continue;
        cJSON *cc = mdi_stored(c, "categoryCombos", mc->id.uid);
        bool touched = mdi_posted(c, "categoryCombos", mc->id.uid) >= 0;
        cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(cc, "categories"))
            touched = touched || mdi_posted(c, "categories", str_of(r, "id")) >= 0;
        if (!touched)
            continue;
        struct gen g = {c, cc, {0}, cocs, now};
        for (int k = 0; k < mc->n_cocs; k++) {
            char *s = coc_set(mdi_stored(c, "categoryOptionCombos", c->md->coc[mc->cocs[k]].id.uid));
            char **grown = realloc(g.have.s, ((size_t)g.have.n + 1) * sizeof *grown);
            if (!s || !grown) {
                free(s);
                free(grown ? grown : g.have.s);
                return -1;
            }
            g.have.s = grown;
            g.have.s[g.have.n++] = s;
        }
        cJSON **lists = NULL;
        int n = combo_options(c, cc, &lists);
        int rc = n < 0 ? -1 : each_combination(lists, n, generate_one, &g);
        free(lists);
        sets_free(&g.have);
        if (rc)
            return -1;
    }
    return 0;
}

