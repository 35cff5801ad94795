/* mdimport.c — POST /api/metadata as DHIS2 2.40-2.43 does it (dhis2-core's
 * DefaultMetadataImportService and ObjectBundle validation): the payload's objects are checked
 * together, in dependency order, against each other and the store (references resolve in
 * either); atomicMode=ALL imports nothing when anything is wrong, NONE imports the valid ones;
 * importMode=VALIDATE only reports. The answer is an ImportReport (typeReports -> objectReports
 * -> errorReports with DHIS2's E-codes and messages) in a WebMessage, HTTP 409 unless OK.
 * Combos get the option combos their categories generate; 2.43 refuses posted option combos
 * that do not match that set (E1130-E1132: mdcombos.c). Deletions are recorded for
 * /api/deletedObjects. The HTTP side is mdhttp.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "http.h"
#include "mdimport.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *key_of(const char *col, const char *uid)
{
    char *k = NULL;
    return asprintf(&k, "%s/%s", col, uid ? uid : "") < 0 ? NULL : k;
}

cJSON *mdi_stored(struct ctx *c, const char *col, const char *uid)
{
    struct md_collection *mc = uid ? metadata_collection(c->md, col) : NULL;
    int i = mc ? strmap_get(&mc->by_uid, uid) : -1;
    return i >= 0 ? mc->at[i] : NULL;
}

/* The payload item for col/uid, or -1. */
int mdi_posted(struct ctx *c, const char *col, const char *uid)
{
    char *k = key_of(col, uid);
    if (!k) {
        c->oom = true;
        return -1;
    }
    int i = strmap_get(&c->by_key, k);
    free(k);
    return i;
}

/* "ANC 1st visit [fbfJHSPpUQD] (DataElement)", as PreheatIdentifier.getIdentifiersWithName. */
static void describe(char *out, size_t n, const char *col, const cJSON *o, const char *uid)
{
    char k[96];
    md_short_klass(col, k, sizeof k);
    const char *name = o ? str_of(o, "name") : NULL;
    if (name && *name)
        snprintf(out, n, "%s [%s] (%s)", name, uid ? uid : "", k);
    else
        snprintf(out, n, "[%s] (%s)", uid ? uid : "", k);
}

void mdi_add_error(struct ctx *c, struct item *it, const char *code, const char *error_col,
                      const char *property, const char *value, const char *fmt, ...)
{
    char msg[1024], main_k[160], err_k[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    md_full_klass(it->col, main_k, sizeof main_k);
    md_full_klass(error_col ? error_col : it->col, err_k, sizeof err_k);
    if (!it->errors && !(it->errors = cJSON_CreateArray())) {
        c->oom = true;
        return;
    }
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(it->errors, e)) {
        cJSON_Delete(e);
        c->oom = true;
        return;
    }
    if (!cJSON_AddStringToObject(e, "message", msg) || !cJSON_AddStringToObject(e, "mainKlass", main_k) ||
        (it->uid && !cJSON_AddStringToObject(e, "mainId", it->uid)) ||
        !cJSON_AddStringToObject(e, "errorKlass", err_k) ||
        (property && !cJSON_AddStringToObject(e, "errorProperty", property)) ||
        (value && !cJSON_AddStringToObject(e, "value", value)) || !cJSON_AddStringToObject(e, "errorCode", code))
        c->oom = true;
}

static bool is_default_type(const char *col)
{
    return !strcmp(col, "categories") || !strcmp(col, "categoryOptions") || !strcmp(col, "categoryCombos") ||
           !strcmp(col, "categoryOptionCombos");
}

/* ---- reading the payload ---- */

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    int c = strcmp(x->col, y->col);
    return c ? c : x->index - y->index;
}

/* Every object of every array in the payload ("system", "date" and the like are not arrays).
 * A `default` category, option, combo or option combo is the target's own: references to the
 * payload's one are rewritten to it, and it is not imported (DHIS2's preheat does the same). */
static int collect(struct ctx *c, cJSON *root)
{
    cJSON *arr;
    int cap = 0;
    cJSON_ArrayForEach(arr, root) {
        if (!cJSON_IsArray(arr) || !arr->string)
            continue;
        int index = 0;
        cJSON *o;
        cJSON_ArrayForEach(o, arr) {
            if (!cJSON_IsObject(o))
                continue;
            const char *name = str_of(o, "name");
            if (is_default_type(arr->string) && name && !strcmp(name, "default")) {
                cJSON *mine = NULL;
                struct md_collection *mc = metadata_collection(c->md, arr->string);
                cJSON *s;
                cJSON_ArrayForEach(s, (mc ? mc->items : NULL)) {
                    const char *n = str_of(s, "name");
                    if (n && !strcmp(n, "default"))
                        mine = s;
                }
                if (str_of(o, "id") && mine &&
                    !cJSON_AddStringToObject(c->defaults, str_of(o, "id"), str_of(mine, "id")))
                    return -1;
                index++;
                continue;
            }
            if (c->n == cap) {
                cap = cap ? cap * 2 : 64;
                struct item *grown = realloc(c->items, (size_t)cap * sizeof *grown);
                if (!grown)
                    return -1;
                c->items = grown;
            }
            struct item *it = &c->items[c->n++];
            memset(it, 0, sizeof *it);
            it->col = arr->string;
            it->type = md_type_of(arr->string);
            it->rank = md_type_rank(arr->string);
            it->index = index++;
            it->obj = o;
            it->parent = arr;
        }
    }
    qsort(c->items, (size_t)c->n, sizeof *c->items, item_cmp);
    if (!(c->keys = calloc((size_t)c->n + 1, sizeof *c->keys)))
        return -1;
    for (int i = 0; i < c->n; i++) {
        struct item *it = &c->items[i];
        it->uid = str_of(it->obj, "id");
        if (!it->uid && c->o->strategy != STRATEGY_DELETE) {
            char uid[12];
            make_uid(uid); /* DHIS2 gives an object posted without an id one */
            if (!cJSON_AddStringToObject(it->obj, "id", uid))
                return -1;
            it->uid = str_of(it->obj, "id");
        }
        if (!it->uid)
            continue;
        it->existing = mdi_stored(c, it->col, it->uid);
        it->is_new = !it->existing;
        if (!(c->keys[i] = key_of(it->col, it->uid)))
            return -1;
        if (strmap_get(&c->by_key, c->keys[i]) >= 0) {
            char k[96];
            md_short_klass(it->col, k, sizeof k);
            mdi_add_error(c, it, "E5004", NULL, "id", it->uid,
                      "Id `%s` for type `%s` exists on more than 1 object in the payload, removing all but "
                      "the first found", it->uid, k);
        } else if (strmap_put(&c->by_key, c->keys[i], i)) {
            return -1;
        }
    }
    return c->oom ? -1 : 0;
}

/* ---- validation ---- */

/* Where a reference points: 1 the store, 2 a valid payload object, 0 nowhere. */
static int resolve(struct ctx *c, const char *col, const char *uid)
{
    if (mdi_stored(c, col, uid))
        return 1;
    int i = mdi_posted(c, col, uid);
    return i >= 0 && !c->items[i].errors ? 2 : 0;
}

/* Calls fn on each reference object ({"id":...}) of a property. */
static void each_ref(cJSON *obj, const struct md_ref *ref, void (*fn)(struct ctx *, struct item *,
                     const struct md_ref *, cJSON *), struct ctx *c, struct item *it)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, ref->prop);
    if (!ref->many) {
        if (cJSON_IsObject(v))
            fn(c, it, ref, v);
        return;
    }
    cJSON *e;
    cJSON_ArrayForEach(e, v) {
        cJSON *r = ref->inner ? cJSON_GetObjectItemCaseSensitive(e, ref->inner) : e;
        if (cJSON_IsObject(r))
            fn(c, it, ref, r);
    }
}

static void check_ref(struct ctx *c, struct item *it, const struct md_ref *ref, cJSON *r)
{
    const char *id = str_of(r, "id");
    if (!id)
        return;
    const char *mine = str_of(c->defaults, id);
    if (mine) {
        cJSON *to = cJSON_CreateString(mine);
        if (!to || !cJSON_ReplaceItemInObjectCaseSensitive(r, "id", to)) {
            cJSON_Delete(to);
            c->oom = true;
        }
        return;
    }
    if (resolve(c, ref->target, id))
        return;
    char what[300], k[96];
    describe(what, sizeof what, it->col, it->obj, it->uid);
    md_short_klass(ref->target, k, sizeof k);
    mdi_add_error(c, it, "E5002", ref->target, ref->prop, id,
              "Invalid reference [%s] (%s) on object %s for association `%s`", id, k, what, ref->prop);
}

/* Values of unique properties already taken: "col/prop/value" -> a stored holder (its index in
 * objs) or a payload item (-3 - item). */
struct uniq {
    struct strmap map;
    char **keys;
    cJSON **objs;
    int n, cap, n_objs;
    bool built;
};

static int uniq_put(struct uniq *u, char *key, int32_t v)
{
    if (u->n == u->cap) {
        int cap = u->cap ? u->cap * 2 : 256;
        char **grown = realloc(u->keys, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(key);
            return -1;
        }
        u->keys = grown;
        u->cap = cap;
    }
    u->keys[u->n++] = key;
    return strmap_put(&u->map, key, v);
}

static char *uniq_key(const char *col, const char *prop, const char *value)
{
    char *k = NULL;
    return asprintf(&k, "%s/%s/%s", col, prop, value) < 0 ? NULL : k;
}

static int uniq_build(struct ctx *c, struct uniq *u)
{
    u->built = true;
    int total = 0;
    for (int m = 0; m < c->md->n_cols; m++)
        total += cJSON_GetArraySize(c->md->cols[m].items);
    if (!(u->objs = calloc((size_t)total + 1, sizeof *u->objs)))
        return -1;
    for (int m = 0; m < c->md->n_cols; m++) {
        const struct md_type *t = md_type_of(c->md->cols[m].name);
        cJSON *o;
        cJSON_ArrayForEach(o, (t ? c->md->cols[m].items : NULL)) {
            u->objs[u->n_objs] = o;
            for (int p = 0; p < 4 && t->unique[p]; p++) {
                const char *v = str_of(o, t->unique[p]);
                char *k = v ? uniq_key(t->col, t->unique[p], v) : NULL;
                if (v && !k)
                    return -1;
                if (k && strmap_get(&u->map, k) >= 0)
                    free(k); /* the first holder is enough to name */
                else if (k && uniq_put(u, k, u->n_objs))
                    return -1;
            }
            u->n_objs++;
        }
    }
    return 0;
}

static void free_uniq(struct uniq *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->keys[i]);
    free(u->keys);
    free(u->objs);
    strmap_free(&u->map);
}

static void check_unique(struct ctx *c, struct uniq *u, struct item *it, int self)
{
    for (int p = 0; p < 4 && it->type->unique[p]; p++) {
        const char *prop = it->type->unique[p], *v = str_of(it->obj, prop);
        if (!v)
            continue;
        char *k = uniq_key(it->col, prop, v);
        if (!k) {
            c->oom = true;
            return;
        }
        int who = strmap_get(&u->map, k);
        const cJSON *other = NULL;
        if (who >= 0) {
            /* a stored holder clashes unless it is this object, or is itself being rewritten */
            const char *ou = str_of(u->objs[who], "id");
            if (ou && strcmp(ou, it->uid) != 0 && mdi_posted(c, it->col, ou) < 0)
                other = u->objs[who];
        } else if (who <= -3 && -3 - who != self && !c->items[-3 - who].errors) {
            other = c->items[-3 - who].obj;
        }
        if (other) {
            char what[300], theirs[300];
            describe(what, sizeof what, it->col, it->obj, it->uid);
            describe(theirs, sizeof theirs, it->col, other, str_of(other, "id"));
            mdi_add_error(c, it, "E5003", NULL, prop, v,
                      "Property `%s` with value `%s` on object %s already exists on object %s", prop, v, what,
                      theirs);
        }
        if (who == -1) {
            if (uniq_put(u, k, -3 - self))
                c->oom = true;
        } else {
            free(k);
        }
    }
}

static bool blank(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring);
}

static void check_object(struct ctx *c, struct uniq *u, struct item *it, int self)
{
    char what[300];
    describe(what, sizeof what, it->col, it->obj, it->uid);
    if (!md_valid_uid(it->uid)) {
        mdi_add_error(c, it, "E4014", NULL, "id", it->uid, "Invalid UID `%s` for property `%s`", it->uid, "id");
        return;
    }
    if (c->o->strategy == STRATEGY_CREATE && it->existing) {
        mdi_add_error(c, it, "E5000", NULL, "id", it->uid,
                  "Found matching object for reference, but import strategy is CREATE. Identifier was UID, and "
                  "object was %s.", what);
        return;
    }
    if (c->o->strategy == STRATEGY_UPDATE && !it->existing) {
        mdi_add_error(c, it, "E5001", NULL, "id", it->uid,
                  "No matching object for reference. Identifier was UID, and object was %s.", what);
        return;
    }
    if (!it->type)
        return;
    for (int p = 0; p < 6 && it->type->required[p]; p++) {
        const char *prop = it->type->required[p];
        if (blank(cJSON_GetObjectItemCaseSensitive(it->obj, prop)) &&
            !(c->o->merge && it->existing && !blank(cJSON_GetObjectItemCaseSensitive(it->existing, prop))))
            mdi_add_error(c, it, "E4000", NULL, prop, NULL, "Missing required property `%s`", prop);
    }
    if (!strcmp(it->col, "categoryOptionCombos") && !it->existing &&
        !str_of(cJSON_GetObjectItemCaseSensitive(it->obj, "categoryCombo"), "id"))
        mdi_add_error(c, it, "E1133", "categoryCombos", "categoryCombo", NULL,
                  "CategoryCombo must be provided for Category option combo %s",
                  str_of(it->obj, "name") ? str_of(it->obj, "name") : it->uid);
    if (!u->built && uniq_build(c, u))
        c->oom = true;
    check_unique(c, u, it, self);
    for (int r = 0; r < 6 && it->type->refs[r].prop; r++)
        each_ref(it->obj, &it->type->refs[r], check_ref, c, it);
}

/* References to payload objects that were refused make their referrers invalid too; repeat
 * until nothing changes. */
static void propagate(struct ctx *c)
{
    for (bool changed = true; changed && !c->oom;) {
        changed = false;
        for (int i = 0; i < c->n; i++) {
            struct item *it = &c->items[i];
            if (it->errors || !it->type)
                continue;
            for (int r = 0; r < 6 && it->type->refs[r].prop; r++)
                each_ref(it->obj, &it->type->refs[r], check_ref, c, it);
            changed = changed || it->errors;
        }
    }
}

/* ---- DELETE ---- */

static void note_ref(struct ctx *c, struct item *it, const struct md_ref *ref, cJSON *r)
{
    (void)it;
    const char *id = str_of(r, "id");
    char *k = id ? key_of(ref->target, id) : NULL;
    if (!id || c->oom)
        return;
    if (!k || strmap_get(&c->refd, k) >= 0) {
        free(k);
        c->oom = c->oom || !k;
        return;
    }
    char **grown = realloc(c->refd_keys, ((size_t)c->n_refd_keys + 1) * sizeof *grown);
    if (!grown || strmap_put(&c->refd, k, c->n_refd_keys)) {
        free(k);
        c->oom = true;
        return;
    }
    c->refd_keys = grown;
    c->refd_keys[c->n_refd_keys++] = k;
}

/* Data values that name an object keep it (DHIS2's foreign keys do). */
static bool has_values(struct ctx *c, const char *col, const char *uid)
{
    static const char *cols[3] = {"dataElements", "organisationUnits", "categoryOptionCombos"};
    static const enum md_kind kinds[3] = {MD_DE, MD_OU, MD_COC};
    const struct store *st = &c->emu->st;
    const struct metadata *md = c->md;
    if (!c->used[0]) {
        c->used[0] = calloc((size_t)md->n_de + 1, 1);
        c->used[1] = calloc((size_t)md->n_ou + 1, 1);
        c->used[2] = calloc((size_t)md->n_coc + 1, 1);
        if (!c->used[0] || !c->used[1] || !c->used[2]) {
            c->oom = true;
            return true;
        }
        for (size_t i = 0; i < st->n; i++) {
            c->used[0][st->v[i].de] = c->used[1][st->v[i].ou] = 1;
            c->used[2][st->v[i].coc] = c->used[2][st->v[i].aoc] = 1;
        }
    }
    for (int k = 0; k < 3; k++)
        if (!strcmp(col, cols[k])) {
            int idx = metadata_find(md, kinds[k], SCHEME_UID, uid);
            return idx >= 0 && c->used[k][idx];
        }
    return false;
}

/* A combo's option combos go with it (DHIS2 cascades the delete), so their link to it does
 * not keep it. */
static bool owned_by_combo(const struct md_type *t, const struct md_ref *ref)
{
    return !strcmp(t->col, "categoryOptionCombos") && !strcmp(ref->prop, "categoryCombo");
}

/* Calls fn on each stored option combo of the combo uid. */
static int each_coc_of(struct ctx *c, const char *uid, int (*fn)(struct ctx *, cJSON *, void *), void *arg)
{
    struct md_collection *mc = metadata_collection(c->md, "categoryOptionCombos");
    cJSON *o = mc ? mc->items->child : NULL;
    while (o) {
        cJSON *next = o->next; /* fn may take o out */
        const char *cc = str_of(cJSON_GetObjectItemCaseSensitive(o, "categoryCombo"), "id");
        if (cc && !strcmp(cc, uid) && fn(c, o, arg))
            return -1;
        o = next;
    }
    return 0;
}

static int coc_has_values(struct ctx *c, cJSON *coc, void *arg)
{
    (void)arg;
    return has_values(c, "categoryOptionCombos", str_of(coc, "id"));
}

/* What stored objects that stay reference, with the referrer's type kept in refd's value. */
static void build_refd(struct ctx *c)
{
    for (int m = 0; m < c->md->n_cols && !c->oom; m++) {
        const struct md_type *t = md_type_of(c->md->cols[m].name);
        cJSON *o;
        cJSON_ArrayForEach(o, (t ? c->md->cols[m].items : NULL)) {
            if (mdi_posted(c, t->col, str_of(o, "id")) >= 0)
                continue;
            struct item fake = {.col = t->col, .type = t};
            int before = c->n_refd_keys;
            for (int r = 0; r < 6 && t->refs[r].prop; r++)
                if (!owned_by_combo(t, &t->refs[r]))
                    each_ref(o, &t->refs[r], note_ref, c, &fake);
            char **by = realloc(c->refd_by, ((size_t)c->n_refd_keys + 1) * sizeof *by);
            if (!by) {
                c->oom = true;
                return;
            }
            c->refd_by = by;
            for (int k = before; k < c->n_refd_keys; k++)
                c->refd_by[k] = (char *)t->klass;
        }
    }
}

static void check_delete(struct ctx *c, struct item *it)
{
    char what[300];
    describe(what, sizeof what, it->col, it->obj, it->uid);
    if (!it->uid || !it->existing) {
        mdi_add_error(c, it, "E5001", NULL, "id", it->uid,
                  "No matching object for reference. Identifier was UID, and object was %s.", what);
        return;
    }
    const char *name = str_of(it->existing, "name");
    char *k = key_of(it->col, it->uid);
    int who = k ? strmap_get(&c->refd, k) : -1;
    free(k);
    bool values = has_values(c, it->col, it->uid) ||
                  (!strcmp(it->col, "categoryCombos") && each_coc_of(c, it->uid, coc_has_values, NULL));
    const char *by = who >= 0 ? c->refd_by[who] : values ? "DataValue"
                     : is_default_type(it->col) && name && !strcmp(name, "default") ? "default"
                                                                                     : NULL;
    if (by)
        mdi_add_error(c, it, "E4030", NULL, NULL, it->uid,
                  "Object could not be deleted because it is associated with another object: %s", by);
}

/* ---- applying ---- */

static char *now_text(void)
{
    struct buf b = {0};
    buf_timestamp(&b, now_ms(), false);
    return buf_take(&b);
}

static int set_str(cJSON *o, const char *key, const char *v)
{
    cJSON *s = cJSON_CreateString(v);
    if (!s)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(o, key, s) ? 0 : -1;
    if (!cJSON_AddItemToObject(o, key, s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

cJSON *mdi_store_array(struct metadata *md, const char *col)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(md->root, col);
    if (cJSON_IsArray(a))
        return a;
    a = cJSON_CreateArray();
    if (a && !cJSON_AddItemToObject(md->root, col, a)) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* What the API computes or shows and DHIS2 does not store as posted. */
static void strip_transient(cJSON *o, bool skip_sharing)
{
    static const char *keys[] = {"href", "access", "displayName", "displayShortName", "displayFormName",
                                 "displayDescription", "favorite", "favorites"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, keys[i]);
    if (skip_sharing)
        cJSON_DeleteItemFromObjectCaseSensitive(o, "sharing");
}

static int record_deletion(struct emu *emu, const char *col, const cJSON *o, const char *now)
{
    char k[96];
    md_short_klass(col, k, sizeof k);
    cJSON *d = cJSON_CreateObject();
    if (!d || !cJSON_AddItemToArray(emu->deleted, d)) {
        cJSON_Delete(d);
        return -1;
    }
    const char *code = str_of(o, "code");
    if (!cJSON_AddStringToObject(d, "klass", k) || !cJSON_AddStringToObject(d, "uid", str_of(o, "id")) ||
        !(code ? cJSON_AddStringToObject(d, "code", code) : cJSON_AddNullToObject(d, "code")) ||
        !cJSON_AddStringToObject(d, "deletedAt", now) || !cJSON_AddStringToObject(d, "deletedBy", emu->cfg.user))
        return -1;
    return 0;
}

static int delete_coc(struct ctx *c, cJSON *coc, void *now)
{
    if (record_deletion(c->emu, "categoryOptionCombos", coc, now))
        return -1;
    cJSON_Delete(cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(c->md->root, "categoryOptionCombos"), coc));
    return 0;
}

static int apply_item(struct ctx *c, struct item *it, const char *now)
{
    struct metadata *md = c->md;
    if (c->o->strategy == STRATEGY_DELETE) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(md->root, it->col);
        if (record_deletion(c->emu, it->col, it->existing, now))
            return -1;
        if (!strcmp(it->col, "categoryCombos") && each_coc_of(c, it->uid, delete_coc, (void *)now))
            return -1;
        cJSON_Delete(cJSON_DetachItemViaPointer(arr, it->existing));
        it->existing = NULL;
        return 0;
    }
    cJSON *o = cJSON_DetachItemViaPointer(it->parent, it->obj);
    it->obj = o;
    strip_transient(o, c->o->skip_sharing);
    if (it->existing) {
        if (c->o->merge) {
            cJSON *e;
            cJSON_ArrayForEach(e, it->existing) {
                if (cJSON_GetObjectItemCaseSensitive(o, e->string))
                    continue;
                cJSON *x = cJSON_Duplicate(e, 1);
                if (!x || !cJSON_AddItemToObject(o, e->string, x)) {
                    cJSON_Delete(x);
                    return -1;
                }
            }
        }
        const char *created = str_of(it->existing, "created");
        if ((created && set_str(o, "created", created)) || set_str(o, "lastUpdated", now))
            return -1;
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(md->root, it->col);
        if (!cJSON_ReplaceItemViaPointer(arr, it->existing, o))
            return -1;
        it->existing = o;
        return 0;
    }
    if ((!str_of(o, "created") && set_str(o, "created", now)) || set_str(o, "lastUpdated", now))
        return -1;
    cJSON *arr = mdi_store_array(md, it->col);
    if (!arr || !cJSON_AddItemToArray(arr, o))
        return -1;
    it->existing = o;
    return 0;
}

/* Old uid of each typed index, to carry the data values over the reload. */
static char **uids_of(const struct md_ident *base, size_t stride, int n)
{
    char **out = calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; out && i < n; i++) {
        const struct md_ident *id = (const struct md_ident *)((const char *)base + stride * (size_t)i);
        if (id->uid && !(out[i] = strdup(id->uid))) {
            for (int k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static int *new_indexes(struct metadata *md, enum md_kind kind, char **old, int n)
{
    int *map = calloc((size_t)n + 1, sizeof *map);
    for (int i = 0; map && i < n; i++)
        map[i] = old[i] ? metadata_find(md, kind, SCHEME_UID, old[i]) : -1;
    return map;
}

static void free_uids(char **u, int n)
{
    for (int i = 0; u && i < n; i++)
        free(u[i]);
    free(u);
}

/* Applies the valid items, regenerates option combos, rebuilds the indexes and moves the data
 * values to the new ones. Deletions never take an object that values name (E4030). */
static int commit(struct ctx *c)
{
    struct metadata *md = c->md;
    int n_de = md->n_de, n_ou = md->n_ou, n_coc = md->n_coc, rc = -1;
    char **de = uids_of(&md->de[0].id, sizeof md->de[0], n_de);
    char **ou = uids_of(&md->ou[0].id, sizeof md->ou[0], n_ou);
    char **coc = uids_of(&md->coc[0].id, sizeof md->coc[0], n_coc);
    int *de_map = NULL, *ou_map = NULL, *coc_map = NULL;
    char *now = now_text();
    struct err e = {0};
    if (!de || !ou || !coc || !now)
        goto out;
    for (int i = 0; i < c->n; i++) {
        struct item *it = &c->items[i];
        /* deletions go referrers first: the reverse of the import order */
        if (c->o->strategy == STRATEGY_DELETE)
            it = &c->items[c->n - 1 - i];
        if (!it->errors && apply_item(c, it, now))
            goto out;
    }
    if (metadata_reload(md, &e))
        goto out;
    if (c->o->strategy != STRATEGY_DELETE) {
        int before = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(md->root, "categoryOptionCombos"));
        if (mdi_generate_cocs(c, now))
            goto out;
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(md->root, "categoryOptionCombos")) != before &&
            metadata_reload(md, &e))
            goto out;
    }
    de_map = new_indexes(md, MD_DE, de, n_de);
    ou_map = new_indexes(md, MD_OU, ou, n_ou);
    coc_map = new_indexes(md, MD_COC, coc, n_coc);
    if (!de_map || !ou_map || !coc_map || store_remap(&c->emu->st, de_map, ou_map, coc_map, md->n_ou))
        goto out;
    /* tracker data names data elements and org units by index too */
    if (tracker_metadata_reloaded(c->emu, de_map, ou_map))
        goto out;
    rc = 0;
out:
    free_uids(de, n_de);
    free_uids(ou, n_ou);
    free_uids(coc, n_coc);
    free(de_map);
    free(ou_map);
    free(coc_map);
    free(now);
    return rc;
}

/* ---- the report ---- */

static const char *strategy_name(enum import_strategy s)
{
    return s == STRATEGY_CREATE ? "CREATE" : s == STRATEGY_UPDATE ? "UPDATE" : s == STRATEGY_DELETE ? "DELETE"
                                                                                                   : "CREATE_AND_UPDATE";
}

static cJSON *stats_object(const long s[4])
{
    cJSON *st = cJSON_CreateObject();
    if (!st || !cJSON_AddNumberToObject(st, "created", (double)s[0]) ||
        !cJSON_AddNumberToObject(st, "updated", (double)s[1]) || !cJSON_AddNumberToObject(st, "deleted", (double)s[2]) ||
        !cJSON_AddNumberToObject(st, "ignored", (double)s[3]) ||
        !cJSON_AddNumberToObject(st, "total", (double)(s[0] + s[1] + s[2] + s[3]))) {
        cJSON_Delete(st);
        return NULL;
    }
    return st;
}

static cJSON *import_params(const struct ctx *c)
{
    const struct md_import_opts *o = c->o;
    cJSON *p = cJSON_CreateObject();
    static const char *modes[] = {"ERRORS", "FULL", "DEBUG"};
    if (!p || !cJSON_AddStringToObject(p, "userOverrideMode", "NONE") ||
        !cJSON_AddStringToObject(p, "importMode", o->validate ? "VALIDATE" : "COMMIT") ||
        !cJSON_AddStringToObject(p, "identifier", "UID") || !cJSON_AddStringToObject(p, "preheatMode", "REFERENCE") ||
        !cJSON_AddStringToObject(p, "importStrategy", strategy_name(o->strategy)) ||
        !cJSON_AddStringToObject(p, "atomicMode", o->atomic_all ? "ALL" : "NONE") ||
        (c->emu->cfg.major == 2 && c->emu->cfg.minor < 41 &&
         !cJSON_AddStringToObject(p, "mergeMode", o->merge ? "MERGE" : "REPLACE")) ||
        !cJSON_AddStringToObject(p, "flushMode", "AUTO") ||
        !cJSON_AddStringToObject(p, "importReportMode", modes[o->report]) ||
        !cJSON_AddBoolToObject(p, "skipSharing", o->skip_sharing) ||
        !cJSON_AddBoolToObject(p, "skipTranslation", false) || !cJSON_AddBoolToObject(p, "skipValidation", false) ||
        !cJSON_AddBoolToObject(p, "async", o->async)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* The ImportReport: per type (in import order) its stats and object reports. */
static cJSON *report(struct ctx *c, bool any_error, enum import_status *status)
{
    cJSON *rep = cJSON_CreateObject(), *types = NULL;
    long total[4] = {0};
    *status = !any_error ? IMPORT_SUCCESS : c->o->atomic_all ? IMPORT_ERROR : IMPORT_WARNING;
    if (!rep || !cJSON_AddItemToObject(rep, "importParams", import_params(c)) ||
        !cJSON_AddStringToObject(rep, "status", *status == IMPORT_SUCCESS ? "OK"
                                                : *status == IMPORT_ERROR ? "ERROR"
                                                                          : "WARNING"))
        goto fail;
    /* stats are filled at the end, but come before typeReports */
    if (!cJSON_AddObjectToObject(rep, "stats") || !(types = cJSON_AddArrayToObject(rep, "typeReports")))
        goto fail;
    bool all_objects = c->o->report != MD_REPORT_ERRORS && !c->o->validate;
    for (int i = 0; i < c->n;) {
        int j = i;
        long s[4] = {0};
        while (j < c->n && !strcmp(c->items[j].col, c->items[i].col))
            j++;
        cJSON *tr = cJSON_CreateObject(), *ors = NULL;
        char klass[160];
        md_full_klass(c->items[i].col, klass, sizeof klass);
        if (!tr || !cJSON_AddItemToArray(types, tr) || !cJSON_AddStringToObject(tr, "klass", klass))
            goto fail;
        if (!cJSON_AddObjectToObject(tr, "stats") || !(ors = cJSON_AddArrayToObject(tr, "objectReports")))
            goto fail;
        for (int k = i; k < j; k++) {
            struct item *it = &c->items[k];
            int which = it->errors ? 3 : c->o->strategy == STRATEGY_DELETE ? 2 : it->is_new ? 0 : 1;
            if (any_error && c->o->atomic_all)
                which = 3;
            s[which]++;
            if (!it->errors && !all_objects)
                continue;
            cJSON *orp = cJSON_CreateObject();
            if (!orp || !cJSON_AddItemToArray(ors, orp) || !cJSON_AddStringToObject(orp, "klass", klass) ||
                !cJSON_AddNumberToObject(orp, "index", it->index) ||
                (it->uid && !cJSON_AddStringToObject(orp, "uid", it->uid)) ||
                (c->o->report == MD_REPORT_DEBUG && str_of(it->obj, "name") &&
                 !cJSON_AddStringToObject(orp, "displayName", str_of(it->obj, "name"))))
                goto fail;
            cJSON *errs = it->errors ? cJSON_Duplicate(it->errors, 1) : cJSON_CreateArray();
            if (!errs || !cJSON_AddItemToObject(orp, "errorReports", errs)) {
                cJSON_Delete(errs);
                goto fail;
            }
        }
        cJSON *st = stats_object(s);
        if (!st || !cJSON_ReplaceItemInObjectCaseSensitive(tr, "stats", st)) {
            cJSON_Delete(st);
            goto fail;
        }
        for (int q = 0; q < 4; q++)
            total[q] += s[q];
        i = j;
    }
    cJSON *st = stats_object(total);
    if (!st || !cJSON_ReplaceItemInObjectCaseSensitive(rep, "stats", st)) {
        cJSON_Delete(st);
        goto fail;
    }
    return rep;
fail:
    cJSON_Delete(rep);
    return NULL;
}

static void ctx_free(struct ctx *c)
{
    for (int i = 0; i < c->n; i++) {
        cJSON_Delete(c->items[i].errors);
        if (c->keys)
            free(c->keys[i]);
    }
    free(c->items);
    free(c->keys);
    strmap_free(&c->by_key);
    strmap_free(&c->refd);
    for (int i = 0; i < c->n_refd_keys; i++)
        free(c->refd_keys[i]);
    free(c->refd_keys);
    free(c->refd_by);
    for (int k = 0; k < 3; k++)
        free(c->used[k]);
    cJSON_Delete(c->defaults);
}

cJSON *md_import_execute(struct emu *emu, const char *body, size_t len, const struct md_import_opts *o,
                         enum import_status *status)
{
    cJSON *root = cJSON_ParseWithLength(body, len), *rep = NULL;
    struct ctx c = {.emu = emu, .md = &emu->md, .o = o, .v43 = emu->cfg.major > 2 || emu->cfg.minor >= 43};
    struct uniq u = {0};
    *status = IMPORT_ERROR;
    if (!root || !(c.defaults = cJSON_CreateObject())) {
        cJSON_Delete(root);
        return NULL;
    }
    pthread_rwlock_wrlock(&emu->st.lock);
    if (collect(&c, root))
        goto out;
    if (o->strategy == STRATEGY_DELETE) {
        build_refd(&c);
        for (int i = 0; i < c.n; i++)
            if (!c.items[i].errors)
                check_delete(&c, &c.items[i]);
    } else {
        for (int i = 0; i < c.n; i++)
            if (!c.items[i].errors)
                check_object(&c, &u, &c.items[i], i);
        for (int i = 0; c.v43 && i < c.n; i++)
            if (!c.items[i].errors && !strcmp(c.items[i].col, "categoryOptionCombos"))
                mdi_check_coc_43(&c, &c.items[i]);
        propagate(&c);
    }
    if (c.oom)
        goto out;
    bool any_error = false;
    for (int i = 0; i < c.n; i++)
        any_error = any_error || c.items[i].errors;
    if (!o->validate && !(any_error && o->atomic_all)) {
        emu->metadata_changed = true;
        if (commit(&c))
            goto out;
    }
    rep = report(&c, any_error, status);
out:
    pthread_rwlock_unlock(&emu->st.lock);
    free_uniq(&u);
    ctx_free(&c);
    cJSON_Delete(root);
    return rep;
}
