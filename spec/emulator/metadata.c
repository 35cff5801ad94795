/* metadata.c — the metadata an instance holds (read from a /api/metadata export or built by the
 * generator, changed by imports: mdimport.c) and the list endpoints: /api/<collection>[/<id>] with fields, filter,
 * order and paging. The typed indexes (data elements, combos, org units with their DFS order,
 * data sets) are what queries and imports use; the cJSON tree is what the lists show. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The id of a reference such as "categoryCombo":{"id":"..."}. */
static const char *ref_id(const cJSON *o, const char *key)
{
    return str_of(cJSON_GetObjectItemCaseSensitive(o, key), "id");
}

static void ident_of(const cJSON *o, struct md_ident *id)
{
    id->uid = str_of(o, "id");
    id->code = str_of(o, "code");
    id->name = str_of(o, "name");
}

const char *metadata_id(const struct md_ident *id, enum id_scheme scheme)
{
    switch (scheme) {
    case SCHEME_CODE: return id->code;
    case SCHEME_NAME: return id->name;
    default: return id->uid;
    }
}

enum value_type value_type_from_name(const char *s)
{
    static const struct {
        const char *name;
        enum value_type vt;
    } names[] = {
        {"TEXT", VT_TEXT}, {"LONG_TEXT", VT_LONG_TEXT}, {"LETTER", VT_LETTER},
        {"NUMBER", VT_NUMBER}, {"INTEGER", VT_INTEGER}, {"INTEGER_POSITIVE", VT_INTEGER_POSITIVE},
        {"INTEGER_NEGATIVE", VT_INTEGER_NEGATIVE},
        {"INTEGER_ZERO_OR_POSITIVE", VT_INTEGER_ZERO_OR_POSITIVE},
        {"PERCENTAGE", VT_PERCENTAGE}, {"UNIT_INTERVAL", VT_UNIT_INTERVAL},
        {"BOOLEAN", VT_BOOLEAN}, {"TRUE_ONLY", VT_TRUE_ONLY}, {"DATE", VT_DATE},
        {"DATETIME", VT_DATETIME}, {"AGE", VT_AGE}, {"FILE_RESOURCE", VT_FILE_RESOURCE},
        {"ORGANISATION_UNIT", VT_ORGANISATION_UNIT},
    };
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].vt;
    return s ? VT_OTHER : VT_NUMBER;
}

int metadata_find(const struct metadata *md, enum md_kind kind, enum id_scheme scheme, const char *id)
{
    return strmap_get(&md->map[kind][scheme], id);
}

struct md_collection *metadata_collection(struct metadata *md, const char *name)
{
    for (int i = 0; i < md->n_cols; i++)
        if (strcmp(md->cols[i].name, name) == 0)
            return &md->cols[i];
    return NULL;
}

static cJSON *ensure_array(cJSON *root, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(a))
        return a;
    a = cJSON_CreateArray();
    if (a && !cJSON_AddItemToObject(root, key, a)) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static cJSON *ref_object(const char *uid)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "id", uid)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *find_by_name(cJSON *arr, const char *name)
{
    cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *n = str_of(it, "name");
        if (n && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

static cJSON *add_default(cJSON *arr, const char *uid)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    if (!cJSON_AddStringToObject(o, "id", uid) || !cJSON_AddStringToObject(o, "code", "default") ||
        !cJSON_AddStringToObject(o, "name", "default"))
        return NULL;
    return o;
}

static bool add_ref_list(cJSON *o, const char *key, const char *uid)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    cJSON *r = ref_object(uid);
    if (!a || !r || !cJSON_AddItemToArray(a, r)) {
        cJSON_Delete(r);
        return false;
    }
    return true;
}

/* DHIS2 always has its built-in defaults: the `default` category option, category, category
 * combo and option combo. An export that lacks them (a hand-written fixture, an empty instance)
 * gets them with the ids every DHIS2 database starts with. */
static int ensure_defaults(cJSON *root)
{
    cJSON *opts = ensure_array(root, "categoryOptions"), *cats = ensure_array(root, "categories");
    cJSON *ccs = ensure_array(root, "categoryCombos"), *cocs = ensure_array(root, "categoryOptionCombos");
    if (!opts || !cats || !ccs || !cocs)
        return -1;
    cJSON *o;
    if (!find_by_name(opts, "default") &&
        (!(o = add_default(opts, MD_DEFAULT_OPTION)) || !cJSON_AddStringToObject(o, "shortName", "default")))
        return -1;
    if (!find_by_name(cats, "default") &&
        (!(o = add_default(cats, MD_DEFAULT_CATEGORY)) || !cJSON_AddStringToObject(o, "shortName", "default") ||
         !cJSON_AddStringToObject(o, "dataDimensionType", "DISAGGREGATION") ||
         !add_ref_list(o, "categoryOptions", str_of(find_by_name(opts, "default"), "id"))))
        return -1;
    if (find_by_name(ccs, "default"))
        return 0;
    if (!(o = add_default(ccs, MD_DEFAULT_COMBO)) ||
        !cJSON_AddStringToObject(o, "dataDimensionType", "DISAGGREGATION") ||
        !add_ref_list(o, "categories", str_of(find_by_name(cats, "default"), "id")))
        return -1;
    if (!(o = add_default(cocs, MD_DEFAULT_COC)) ||
        !cJSON_AddItemToObject(o, "categoryCombo", ref_object(MD_DEFAULT_COMBO)) ||
        !add_ref_list(o, "categoryOptions", str_of(find_by_name(opts, "default"), "id")))
        return -1;
    return 0;
}

/* What DHIS2 keeps on every object: created and lastUpdated (set now when an export lacks them). */
static int stamp(cJSON *o, const char *now)
{
    if (!cJSON_IsObject(o))
        return 0;
    if (!cJSON_GetObjectItemCaseSensitive(o, "created") && !cJSON_AddStringToObject(o, "created", now))
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(o, "lastUpdated") && !cJSON_AddStringToObject(o, "lastUpdated", now))
        return -1;
    return 0;
}

/* "dataElements" -> "DataElement", "categories" -> "Category". */
static char *class_name(const char *col)
{
    size_t n = strlen(col);
    char *k = malloc(n + 2);
    if (!k)
        return NULL;
    memcpy(k, col, n + 1);
    k[0] = (char)toupper((unsigned char)k[0]);
    if (n > 3 && strcmp(k + n - 3, "ies") == 0)
        strcpy(k + n - 3, "y");
    else if (n > 1 && k[n - 1] == 's')
        k[n - 1] = '\0';
    return k;
}

static int index_kind(struct metadata *md, enum md_kind kind, const struct md_ident *id, int idx)
{
    if (strmap_put(&md->map[kind][SCHEME_UID], id->uid, idx) ||
        strmap_put(&md->map[kind][SCHEME_CODE], id->code, idx) ||
        strmap_put(&md->map[kind][SCHEME_NAME], id->name, idx))
        return -1;
    return 0;
}

static int *ids_of_refs(struct metadata *md, enum md_kind kind, const cJSON *arr, const char *inner,
                        int *n_out)
{
    int n = cJSON_GetArraySize(arr), k = 0;
    int *out = calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out)
        return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *uid = inner ? ref_id(it, inner) : str_of(it, "id");
        int i = metadata_find(md, kind, SCHEME_UID, uid);
        if (i >= 0)
            out[k++] = i;
    }
    *n_out = k;
    return out;
}

static int load_combos(struct metadata *md, cJSON *root)
{
    cJSON *ccs = cJSON_GetObjectItemCaseSensitive(root, "categoryCombos");
    cJSON *cocs = cJSON_GetObjectItemCaseSensitive(root, "categoryOptionCombos");
    md->n_cc = cJSON_GetArraySize(ccs);
    md->n_coc = cJSON_GetArraySize(cocs);
    md->cc = calloc((size_t)md->n_cc + 1, sizeof *md->cc);
    md->coc = calloc((size_t)md->n_coc + 1, sizeof *md->coc);
    if (!md->cc || !md->coc)
        return -1;
    int i = 0;
    cJSON *it;
    md->default_cc = md->default_coc = -1;
    cJSON_ArrayForEach(it, ccs) {
        ident_of(it, &md->cc[i].id);
        if (index_kind(md, MD_CC, &md->cc[i].id, i))
            return -1;
        if (md->cc[i].id.name && strcmp(md->cc[i].id.name, "default") == 0)
            md->default_cc = i;
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(it, cocs) {
        ident_of(it, &md->coc[i].id);
        md->coc[i].cc = metadata_find(md, MD_CC, SCHEME_UID, ref_id(it, "categoryCombo"));
        if (index_kind(md, MD_COC, &md->coc[i].id, i))
            return -1;
        if (md->coc[i].cc == md->default_cc && md->default_cc >= 0 && md->default_coc < 0)
            md->default_coc = i;
        i++;
    }
    /* An option combo names its combo; one that does not (a hand-written fixture) is claimed by
     * the combo that lists it. The combo's list is then rebuilt from those back references, as
     * the API shows it (DHIS2 owns the link on the option combo's side). */
    i = 0;
    cJSON_ArrayForEach(it, ccs) {
        cJSON *list = cJSON_GetObjectItemCaseSensitive(it, "categoryOptionCombos");
        cJSON *ref;
        cJSON_ArrayForEach(ref, list) {
            int k = metadata_find(md, MD_COC, SCHEME_UID, str_of(ref, "id"));
            if (k >= 0 && md->coc[k].cc < 0)
                md->coc[k].cc = i;
        }
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(it, ccs) {
        struct md_cc *cc = &md->cc[i];
        if (!(cc->cocs = calloc((size_t)md->n_coc + 1, sizeof *cc->cocs)))
            return -1;
        cJSON_DeleteItemFromObjectCaseSensitive(it, "categoryOptionCombos");
        cJSON *list = cJSON_AddArrayToObject(it, "categoryOptionCombos");
        if (!list)
            return -1;
        for (int k = 0; k < md->n_coc; k++) {
            if (md->coc[k].cc != i)
                continue;
            cc->cocs[cc->n_cocs++] = k;
            if (!cJSON_AddItemToArray(list, ref_object(md->coc[k].id.uid)))
                return -1;
        }
        i++;
    }
    if (md->default_coc < 0 && md->default_cc >= 0 && md->cc[md->default_cc].n_cocs > 0)
        md->default_coc = md->cc[md->default_cc].cocs[0];
    return md->default_cc >= 0 && md->default_coc >= 0 ? 0 : -1;
}

static int load_data_elements(struct metadata *md, cJSON *root)
{
    cJSON *des = cJSON_GetObjectItemCaseSensitive(root, "dataElements");
    md->n_de = cJSON_GetArraySize(des);
    md->de = calloc((size_t)md->n_de + 1, sizeof *md->de);
    if (!md->de)
        return -1;
    int i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, des) {
        struct md_de *de = &md->de[i];
        ident_of(it, &de->id);
        de->vt = value_type_from_name(str_of(it, "valueType"));
        de->zero_significant = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "zeroIsSignificant"));
        de->cc = metadata_find(md, MD_CC, SCHEME_UID, ref_id(it, "categoryCombo"));
        if (de->cc < 0) {
            de->cc = md->default_cc;
            cJSON_DeleteItemFromObjectCaseSensitive(it, "categoryCombo");
            if (!cJSON_AddItemToObject(it, "categoryCombo", ref_object(md->cc[de->cc].id.uid)))
                return -1;
        }
        if (index_kind(md, MD_DE, &de->id, i))
            return -1;
        i++;
    }
    return 0;
}

/* Walks each org unit up to its root to find its level and path (a cycle or a missing parent
 * ends the walk: such a unit is treated as a root). */
static int load_org_units(struct metadata *md, cJSON *root)
{
    cJSON *ous = cJSON_GetObjectItemCaseSensitive(root, "organisationUnits");
    int n = md->n_ou = cJSON_GetArraySize(ous);
    md->ou = calloc((size_t)n + 1, sizeof *md->ou);
    md->ou_by_pre = calloc((size_t)n + 1, sizeof *md->ou_by_pre);
    int *chain = calloc((size_t)n + 1, sizeof *chain);
    int *first_child = malloc(((size_t)n + 1) * sizeof(int));
    int *next_sibling = malloc(((size_t)n + 1) * sizeof(int));
    int *stack = malloc(((size_t)n + 1) * sizeof(int));
    int rc = -1;
    if (!md->ou || !md->ou_by_pre || !chain || !first_child || !next_sibling || !stack)
        goto out;
    cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, ous) {
        ident_of(it, &md->ou[i].id);
        if (index_kind(md, MD_OU, &md->ou[i].id, i))
            goto out;
        i++;
    }
    i = 0;
    md->root_ou = -1;
    for (int k = 0; k < n; k++)
        first_child[k] = next_sibling[k] = -1;
    cJSON_ArrayForEach(it, ous) {
        int p = metadata_find(md, MD_OU, SCHEME_UID, ref_id(it, "parent"));
        md->ou[i].parent = p == i ? -1 : p;
        i++;
    }
    /* Children lists in reverse so that the DFS below visits them in file order. */
    for (int k = n - 1; k >= 0; k--) {
        int p = md->ou[k].parent;
        if (p >= 0) {
            next_sibling[k] = first_child[p];
            first_child[p] = k;
        }
    }
    i = 0;
    cJSON_ArrayForEach(it, ous) {
        int depth = 0;
        for (int c = i; c >= 0 && depth < n; c = md->ou[c].parent)
            chain[depth++] = c;
        if (depth >= n && md->ou[chain[n - 1]].parent >= 0) {
            md->ou[i].parent = -1; /* a cycle: cut it here */
            depth = 1;
            chain[0] = i;
        }
        struct buf path = {0};
        for (int d = depth - 1; d >= 0; d--) {
            buf_putc(&path, '/');
            buf_puts(&path, md->ou[chain[d]].id.uid ? md->ou[chain[d]].id.uid : "");
        }
        md->ou[i].level = depth;
        if (!(md->ou[i].path = buf_take(&path)))
            goto out;
        cJSON_DeleteItemFromObjectCaseSensitive(it, "path");
        cJSON_DeleteItemFromObjectCaseSensitive(it, "level");
        if (!cJSON_AddStringToObject(it, "path", md->ou[i].path) ||
            !cJSON_AddNumberToObject(it, "level", depth))
            goto out;
        if (md->ou[i].parent < 0 && md->root_ou < 0)
            md->root_ou = i;
        i++;
    }
    /* Pre-order numbering: a subtree is a contiguous range of positions. */
    int pos = 0;
    for (int r = 0; r < n; r++) {
        if (md->ou[r].parent >= 0)
            continue;
        int sp = 0;
        stack[sp++] = r;
        while (sp > 0) {
            int c = stack[--sp];
            md->ou[c].pre = pos;
            md->ou_by_pre[pos++] = c;
            /* push children reversed so the first child is visited first */
            int cnt = 0;
            for (int ch = first_child[c]; ch >= 0; ch = next_sibling[ch])
                cnt++;
            sp += cnt;
            int k = sp - 1;
            for (int ch = first_child[c]; ch >= 0; ch = next_sibling[ch])
                stack[k--] = ch;
        }
    }
    /* last = pre + subtree size - 1, from the leaves up */
    for (int k = 0; k < n; k++)
        md->ou[k].last = md->ou[k].pre;
    for (int p = n - 1; p >= 0; p--) {
        int c = md->ou_by_pre[p];
        int par = md->ou[c].parent;
        if (par >= 0 && md->ou[c].last > md->ou[par].last)
            md->ou[par].last = md->ou[c].last;
    }
    rc = 0;
out:
    free(chain);
    free(first_child);
    free(next_sibling);
    free(stack);
    return rc;
}

static int load_data_sets(struct metadata *md, cJSON *root)
{
    cJSON *dss = cJSON_GetObjectItemCaseSensitive(root, "dataSets");
    md->n_ds = cJSON_GetArraySize(dss);
    md->ds = calloc((size_t)md->n_ds + 1, sizeof *md->ds);
    if (!md->ds)
        return -1;
    int i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, dss) {
        struct md_ds *ds = &md->ds[i];
        ident_of(it, &ds->id);
        ds->pt = period_type_from_name(str_of(it, "periodType"));
        if (ds->pt == PERIOD_INVALID)
            ds->pt = PERIOD_MONTHLY;
        ds->cc = metadata_find(md, MD_CC, SCHEME_UID, ref_id(it, "categoryCombo"));
        if (ds->cc < 0) {
            ds->cc = md->default_cc;
            cJSON_DeleteItemFromObjectCaseSensitive(it, "categoryCombo");
            if (!cJSON_AddItemToObject(it, "categoryCombo", ref_object(md->cc[ds->cc].id.uid)))
                return -1;
        }
        cJSON *dse = cJSON_GetObjectItemCaseSensitive(it, "dataSetElements");
        if (cJSON_IsArray(dse))
            ds->des = ids_of_refs(md, MD_DE, dse, "dataElement", &ds->n_des);
        else
            ds->des = ids_of_refs(md, MD_DE, cJSON_GetObjectItemCaseSensitive(it, "dataElements"),
                                  NULL, &ds->n_des);
        ds->ou_bits = calloc((size_t)md->n_ou / 8 + 1, 1);
        if (!ds->des || !ds->ou_bits || index_kind(md, MD_DS, &ds->id, i))
            return -1;
        int n_ous = 0;
        int *ous = ids_of_refs(md, MD_OU, cJSON_GetObjectItemCaseSensitive(it, "organisationUnits"),
                               NULL, &n_ous);
        if (!ous)
            return -1;
        for (int k = 0; k < n_ous; k++)
            ds->ou_bits[ous[k] / 8] |= (uint8_t)(1u << (ous[k] % 8));
        free(ous);
        for (int k = 0; k < ds->n_des; k++) {
            struct md_de *de = &md->de[ds->des[k]];
            int *grown = realloc(de->ds, (size_t)(de->n_ds + 1) * sizeof *grown);
            if (!grown)
                return -1;
            de->ds = grown;
            de->ds[de->n_ds++] = i;
        }
        i++;
    }
    return 0;
}

static int load_groups(struct metadata *md, cJSON *root)
{
    cJSON *degs = cJSON_GetObjectItemCaseSensitive(root, "dataElementGroups");
    md->n_deg = cJSON_GetArraySize(degs);
    md->deg = calloc((size_t)md->n_deg + 1, sizeof *md->deg);
    if (!md->deg)
        return -1;
    int i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, degs) {
        ident_of(it, &md->deg[i].id);
        md->deg[i].des = ids_of_refs(md, MD_DE, cJSON_GetObjectItemCaseSensitive(it, "dataElements"),
                                     NULL, &md->deg[i].n_des);
        if (!md->deg[i].des || index_kind(md, MD_DEG, &md->deg[i].id, i))
            return -1;
        i++;
    }
    return 0;
}

int metadata_load(struct metadata *md, cJSON *root, struct err *e)
{
    memset(md, 0, sizeof *md);
    md->root = root;
    if (!cJSON_IsObject(root))
        return err_set(e, ERR_INPUT, "metadata: expected a JSON object (a /api/metadata export)");
    if (ensure_defaults(root) || !ensure_array(root, "dataElements") ||
        !ensure_array(root, "organisationUnits") || !ensure_array(root, "dataSets") ||
        !ensure_array(root, "dataElementGroups"))
        return err_set(e, ERR_INTERNAL, "metadata: out of memory");
    if (load_combos(md, root))
        return err_set(e, ERR_INPUT, "metadata: category combos are inconsistent (no default option combo)");
    if (load_data_elements(md, root) || load_org_units(md, root) || load_data_sets(md, root) ||
        load_groups(md, root))
        return err_set(e, ERR_INTERNAL, "metadata: out of memory while indexing");
    char now[32];
    struct buf tb = {0};
    buf_timestamp(&tb, now_ms(), false);
    snprintf(now, sizeof now, "%.*s", (int)tb.len, tb.data ? tb.data : "");
    buf_free(&tb);
    cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (!cJSON_IsArray(it) || !it->string)
            continue;
        struct md_collection *cols = realloc(md->cols, (size_t)(md->n_cols + 1) * sizeof *cols);
        if (!cols)
            return err_set(e, ERR_INTERNAL, "metadata: out of memory");
        md->cols = cols;
        struct md_collection *c = &md->cols[md->n_cols++];
        memset(c, 0, sizeof *c);
        c->items = it;
        c->name = strdup(it->string);
        c->klass = class_name(it->string);
        if (!c->name || !c->klass)
            return err_set(e, ERR_INTERNAL, "metadata: out of memory");
        int k = 0;
        cJSON *o;
        if (!(c->at = calloc((size_t)cJSON_GetArraySize(it) + 1, sizeof *c->at)))
            return err_set(e, ERR_INTERNAL, "metadata: out of memory");
        cJSON_ArrayForEach(o, it) {
            c->at[k] = o;
            if (stamp(o, now) || strmap_put(&c->by_uid, str_of(o, "id"), k++))
                return err_set(e, ERR_INTERNAL, "metadata: out of memory");
        }
    }
    return 0;
}

int metadata_reload(struct metadata *md, struct err *e)
{
    cJSON *root = md->root;
    md->root = NULL;
    metadata_free(md);
    return metadata_load(md, root, e);
}

void metadata_free(struct metadata *md)
{
    for (int i = 0; i < md->n_cols; i++) {
        free(md->cols[i].name);
        free(md->cols[i].klass);
        free(md->cols[i].at);
        strmap_free(&md->cols[i].by_uid);
    }
    free(md->cols);
    for (int i = 0; md->de && i < md->n_de; i++)
        free(md->de[i].ds);
    for (int i = 0; md->cc && i < md->n_cc; i++)
        free(md->cc[i].cocs);
    for (int i = 0; md->ou && i < md->n_ou; i++)
        free(md->ou[i].path);
    for (int i = 0; md->ds && i < md->n_ds; i++) {
        free(md->ds[i].des);
        free(md->ds[i].ou_bits);
    }
    for (int i = 0; md->deg && i < md->n_deg; i++)
        free(md->deg[i].des);
    free(md->de);
    free(md->coc);
    free(md->cc);
    free(md->ou);
    free(md->ou_by_pre);
    free(md->ds);
    free(md->deg);
    for (int k = 0; k < MD_KINDS; k++)
        for (int s = 0; s < 3; s++)
            strmap_free(&md->map[k][s]);
    cJSON_Delete(md->root);
    memset(md, 0, sizeof *md);
}

/* ---- fields=: a small tree of wanted properties ---- */


void md_fields_free(struct field *f, int n)
{
    for (int i = 0; i < n; i++) {
        free(f[i].name);
        md_fields_free(f[i].children, f[i].n_children);
    }
    free(f);
}

/* Parses "id,name,categoryCombo[id,name],x[y[z]]" from *s up to a closing ']' or the end. */
int md_fields_parse(const char **s, struct field **out, int *n_out)
{
    struct field *f = NULL;
    int n = 0;
    while (**s && **s != ']') {
        const char *start = *s;
        while (**s && **s != ',' && **s != '[' && **s != ']' && **s != '(')
            (*s)++;
        size_t len = (size_t)(*s - start);
        struct field *grown = realloc(f, (size_t)(n + 1) * sizeof *f);
        if (!grown)
            goto fail;
        f = grown;
        struct field *cur = &f[n++];
        memset(cur, 0, sizeof *cur);
        if (len && *start == '!') {
            cur->exclude = true;
            start++;
            len--;
        }
        if (!(cur->name = strndup(start, len)))
            goto fail;
        if (**s == '(') { /* transformers like name(rename) are not supported: skip them */
            while (**s && **s != ')')
                (*s)++;
            if (**s)
                (*s)++;
        }
        if (**s == '[') {
            (*s)++;
            if (md_fields_parse(s, &cur->children, &cur->n_children))
                goto fail;
            if (**s == ']')
                (*s)++;
        }
        if (**s == ',')
            (*s)++;
    }
    *out = f;
    *n_out = n;
    return 0;
fail:
    md_fields_free(f, n);
    return -1;
}

static bool is_all(const char *name)
{
    return strcmp(name, "*") == 0 || strcmp(name, ":all") == 0 || strcmp(name, ":owner") == 0;
}


static cJSON *apply_to_value(const cJSON *v, const struct field *f)
{
    if (!f->children)
        return cJSON_Duplicate(v, 1);
    if (cJSON_IsObject(v))
        return md_apply_fields(v, f->children, f->n_children);
    if (cJSON_IsArray(v)) {
        cJSON *a = cJSON_CreateArray();
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            cJSON *x = cJSON_IsObject(it) ? md_apply_fields(it, f->children, f->n_children)
                                          : cJSON_Duplicate(it, 1);
            if (!a || !x || !cJSON_AddItemToArray(a, x)) {
                cJSON_Delete(x);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    return cJSON_Duplicate(v, 1);
}

static const char *display_source(const char *name)
{
    if (strcmp(name, "displayName") == 0 || strcmp(name, "displayFormName") == 0)
        return "name";
    if (strcmp(name, "displayShortName") == 0)
        return "shortName";
    return name;
}

cJSON *md_apply_fields(const cJSON *obj, const struct field *f, int n)
{
    cJSON *out = cJSON_CreateObject();
    if (!out)
        return NULL;
    bool all = false;
    for (int i = 0; i < n; i++)
        if (!f[i].exclude && is_all(f[i].name))
            all = true;
    if (all) {
        const cJSON *it;
        cJSON_ArrayForEach(it, obj) {
            cJSON *x = cJSON_Duplicate(it, 1);
            if (!x || !cJSON_AddItemToObject(out, it->string, x)) {
                cJSON_Delete(x);
                goto fail;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (f[i].exclude || is_all(f[i].name))
            continue;
        const char *src = f[i].name;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, src);
        if (!v)
            v = cJSON_GetObjectItemCaseSensitive(obj, display_source(src));
        if (!v)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(out, f[i].name);
        cJSON *x = apply_to_value(v, &f[i]);
        if (!x || !cJSON_AddItemToObject(out, f[i].name, x)) {
            cJSON_Delete(x);
            goto fail;
        }
    }
    for (int i = 0; i < n; i++)
        if (f[i].exclude)
            cJSON_DeleteItemFromObjectCaseSensitive(out, f[i].name);
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

/* ---- filter=property:operator:value ---- */


static void value_text(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v))
        snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, n, "%.15g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else
        buf[0] = '\0';
}

/* Collects the leaf values found at path (arrays fan out). */
static void collect(const cJSON *v, const char *path, const cJSON **out, int *n, int max)
{
    if (!v || *n >= max)
        return;
    if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) collect(it, path, out, n, max);
        return;
    }
    if (!*path) {
        if (!cJSON_IsNull(v))
            out[(*n)++] = v;
        return;
    }
    if (!cJSON_IsObject(v))
        return;
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)len, path);
    const cJSON *child = cJSON_GetObjectItemCaseSensitive(v, key);
    if (!child)
        child = cJSON_GetObjectItemCaseSensitive(v, display_source(key));
    collect(child, dot ? dot + 1 : "", out, n, max);
}

static bool contains_ci(const char *h, const char *n, bool ci)
{
    return ci ? strcasestr(h, n) != NULL : strstr(h, n) != NULL;
}

static bool in_list(const char *v, const char *list)
{
    /* [a,b,c] */
    const char *p = list;
    if (*p == '[')
        p++;
    size_t vl = strlen(v);
    while (*p && *p != ']') {
        const char *end = p;
        while (*end && *end != ',' && *end != ']')
            end++;
        if ((size_t)(end - p) == vl && strncmp(p, v, vl) == 0)
            return true;
        p = *end == ',' ? end + 1 : end;
    }
    return false;
}

static bool compare_op(const char *op, const char *v, const char *want, const cJSON *raw)
{
    if (!strcmp(op, "eq")) return strcmp(v, want) == 0;
    if (!strcmp(op, "ieq")) return strcasecmp(v, want) == 0;
    if (!strcmp(op, "like")) return contains_ci(v, want, false);
    if (!strcmp(op, "ilike") || !strcmp(op, "token")) return contains_ci(v, want, true);
    if (!strcmp(op, "$like")) return strncmp(v, want, strlen(want)) == 0;
    if (!strcmp(op, "$ilike")) return strncasecmp(v, want, strlen(want)) == 0;
    if (!strcmp(op, "like$") || !strcmp(op, "ilike$")) {
        size_t a = strlen(v), b = strlen(want);
        return a >= b && (op[0] == 'i' ? strcasecmp(v + a - b, want) : strcmp(v + a - b, want)) == 0;
    }
    if (!strcmp(op, "in")) return in_list(v, want);
    if (!strcmp(op, "gt") || !strcmp(op, "ge") || !strcmp(op, "lt") || !strcmp(op, "le")) {
        double c;
        int64_t ta, tb;
        if (cJSON_IsNumber(raw))
            c = raw->valuedouble - strtod(want, NULL);
        else if (timestamp_parse(v, &ta) == 0 && timestamp_parse(want, &tb) == 0)
            c = (double)(ta - tb); /* lastUpdated:gt:2024-01-01 compares instants, not text */
        else
            c = strcmp(v, want);
        return op[0] == 'g' ? (op[1] == 't' ? c > 0 : c >= 0) : (op[1] == 't' ? c < 0 : c <= 0);
    }
    return false;
}

bool md_filter_match(const cJSON *obj, const struct filter *f)
{
    const cJSON *vals[256];
    int n = 0;
    collect(obj, f->path, vals, &n, 256);
    const char *op = f->op;
    if (!strcmp(op, "null")) return n == 0;
    if (!strcmp(op, "!null")) return n > 0;
    if (!strcmp(op, "empty")) return n == 0;
    if (!strcmp(op, "!empty")) return n > 0;
    bool negate = false;
    if (op[0] == '!') {
        negate = true;
        op++;
    } else if (!strcmp(op, "ne") || !strcmp(op, "neq")) {
        negate = true;
        op = "eq";
    }
    bool any = false;
    char text[512];
    for (int i = 0; i < n && !any; i++) {
        value_text(vals[i], text, sizeof text);
        any = compare_op(op, text, f->value ? f->value : "", vals[i]);
    }
    return negate ? !any : any;
}

int md_filter_parse(const char *s, struct filter *f)
{
    memset(f, 0, sizeof *f);
    const char *c1 = strchr(s, ':');
    if (!c1)
        return -1;
    const char *c2 = strchr(c1 + 1, ':');
    size_t oplen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
    if (oplen == 0 || oplen >= sizeof f->op)
        return -1;
    memcpy(f->op, c1 + 1, oplen);
    f->path = strndup(s, (size_t)(c1 - s));
    f->value = strdup(c2 ? c2 + 1 : "");
    return f->path && f->value ? 0 : -1;
}

static const char *known_ops[] = {"eq", "!eq", "ne", "neq", "ieq", "like", "!like", "ilike",
                                  "!ilike", "$like", "!$like", "$ilike", "!$ilike", "like$",
                                  "!like$", "ilike$", "!ilike$", "in", "!in", "null", "!null",
                                  "empty", "!empty", "gt", "ge", "lt", "le", "token", "!token"};

bool md_op_known(const char *op)
{
    for (size_t i = 0; i < sizeof known_ops / sizeof known_ops[0]; i++)
        if (!strcmp(op, known_ops[i]))
            return true;
    return false;
}

/* ---- ordering ---- */

struct order {
    char *prop;
    bool desc, ci;
};

static int order_cmp(const void *a, const void *b, void *ctx)
{
    const struct order *o = ctx;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, o->prop);
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, o->prop);
    int c;
    if (cJSON_IsNumber(x) && cJSON_IsNumber(y))
        c = (x->valuedouble > y->valuedouble) - (x->valuedouble < y->valuedouble);
    else {
        char tx[512], ty[512];
        value_text(x, tx, sizeof tx);
        value_text(y, ty, sizeof ty);
        c = o->ci ? strcasecmp(tx, ty) : strcmp(tx, ty);
    }
    return o->desc ? -c : c;
}

/* ---- the handler ---- */

static int not_found(struct request *r, const struct md_collection *c, const char *id)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s with id %s could not be found.", c->klass, id);
    return http_webmessage(r, 404, "ERROR", msg, "E1005");
}

/* The page link DHIS2 puts in the pager: this request's URL with page replaced. */
static char *page_link(struct request *r, int page)
{
    struct buf b = {0};
    const char *host = req_header(r, "Host");
    buf_printf(&b, "http://%s%s", host ? host : "localhost", r->url);
    char sep = '?';
    for (int i = 0; i < r->n_params; i++) {
        if (!strcmp(r->params[i].key, "page"))
            continue;
        buf_printf(&b, "%c%s=%s", sep, r->params[i].key, r->params[i].value ? r->params[i].value : "");
        sep = '&';
    }
    buf_printf(&b, "%cpage=%d", sep, page);
    return buf_take(&b);
}

static int list_locked(struct request *r);

int api_metadata(struct request *r)
{
    pthread_rwlock_rdlock(&r->emu->st.lock);
    int rc = list_locked(r);
    pthread_rwlock_unlock(&r->emu->st.lock);
    return rc;
}

static int list_locked(struct request *r)
{
    struct metadata *md = &r->emu->md;
    char name[128];
    const char *slash = strchr(r->path, '/');
    snprintf(name, sizeof name, "%.*s", slash ? (int)(slash - r->path) : (int)strlen(r->path), r->path);
    struct md_collection *c = metadata_collection(md, name);
    if (!c)
        return http_webmessage(r, 404, "ERROR", "Not Found", NULL);

    struct field *fields = NULL;
    int n_fields = 0;
    struct filter *filters = NULL;
    int n_filters = 0;
    cJSON *result = NULL, **matched = NULL;
    struct order ord = {0};
    int rc;

    /* fields= may repeat; they add up */
    struct buf fb = {0};
    for (int i = 0; i < r->n_params; i++)
        if (!strcmp(r->params[i].key, "fields") && r->params[i].value) {
            if (fb.len)
                buf_putc(&fb, ',');
            buf_puts(&fb, r->params[i].value);
        }
    char *fspec = buf_take(&fb);
    if (!fspec)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    const char *spec = *fspec ? fspec : (slash ? "*" : "id,displayName");
    if (md_fields_parse(&spec, &fields, &n_fields)) {
        free(fspec);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    free(fspec);

    if (slash) {
        const char *id = slash + 1;
        int idx = strmap_get(&c->by_uid, id);
        if (idx < 0) {
            rc = not_found(r, c, id);
            goto out;
        }
        rc = http_send_json(r, 200, md_apply_fields(c->at[idx], fields, n_fields));
        goto out;
    }

    for (int i = 0; i < r->n_params; i++) {
        if (strcmp(r->params[i].key, "filter") || !r->params[i].value)
            continue;
        struct filter *grown = realloc(filters, (size_t)(n_filters + 1) * sizeof *grown);
        if (!grown) {
            rc = http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
            goto out;
        }
        filters = grown;
        if (md_filter_parse(r->params[i].value, &filters[n_filters]) || !md_op_known(filters[n_filters].op)) {
            n_filters++;
            char msg[512];
            snprintf(msg, sizeof msg, "Query failed because of a syntax error (filter: %s)", r->params[i].value);
            rc = http_webmessage(r, 400, "ERROR", msg, NULL);
            goto out;
        }
        n_filters++;
    }
    const char *junction = req_param(r, "rootJunction");
    bool any_of = junction && !strcasecmp(junction, "OR");

    int total_items = cJSON_GetArraySize(c->items), n_matched = 0;
    matched = malloc(((size_t)total_items + 1) * sizeof *matched);
    if (!matched) {
        rc = http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
        goto out;
    }
    cJSON *it;
    cJSON_ArrayForEach(it, c->items) {
        bool ok = !any_of || n_filters == 0;
        for (int k = 0; k < n_filters; k++) {
            bool m = md_filter_match(it, &filters[k]);
            if (any_of && m) {
                ok = true;
                break;
            }
            if (!any_of && !m) {
                ok = false;
                break;
            }
        }
        if (ok)
            matched[n_matched++] = it;
    }
    const char *order = req_param(r, "order");
    if (order && *order) {
        const char *colon = strchr(order, ':');
        ord.prop = strndup(order, colon ? (size_t)(colon - order) : strlen(order));
        ord.desc = colon && strncasecmp(colon + 1, "desc", 4) == 0;
        ord.ci = colon && strncasecmp(colon + 1, "i", 1) == 0;
        if (ord.prop)
            qsort_r(matched, (size_t)n_matched, sizeof *matched, order_cmp, &ord);
    }

    bool paging = req_flag(r, "paging", true);
    const char *ps = req_param(r, "pageSize"), *pg = req_param(r, "page");
    int page_size = ps ? atoi(ps) : 50, page = pg ? atoi(pg) : 1;
    if (page_size < 1)
        page_size = 50;
    if (page < 1)
        page = 1;
    int first = 0, last = n_matched;
    if (!(result = cJSON_CreateObject()))
        goto oom;
    if (paging) {
        int page_count = n_matched ? (n_matched + page_size - 1) / page_size : 1;
        cJSON *pager = cJSON_AddObjectToObject(result, "pager");
        if (!pager || !cJSON_AddNumberToObject(pager, "page", page) ||
            !cJSON_AddNumberToObject(pager, "pageCount", page_count) ||
            !cJSON_AddNumberToObject(pager, "total", n_matched) ||
            !cJSON_AddNumberToObject(pager, "pageSize", page_size))
            goto oom;
        if (page < page_count) {
            char *link = page_link(r, page + 1);
            if (!link || !cJSON_AddStringToObject(pager, "nextPage", link)) {
                free(link);
                goto oom;
            }
            free(link);
        }
        if (page > 1) {
            char *link = page_link(r, page - 1);
            if (!link || !cJSON_AddStringToObject(pager, "prevPage", link)) {
                free(link);
                goto oom;
            }
            free(link);
        }
        first = (page - 1) * page_size;
        if (first > n_matched)
            first = n_matched;
        last = first + page_size < n_matched ? first + page_size : n_matched;
    }
    cJSON *arr = cJSON_AddArrayToObject(result, c->name);
    if (!arr)
        goto oom;
    for (int k = first; k < last; k++) {
        cJSON *x = md_apply_fields(matched[k], fields, n_fields);
        if (!x || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            goto oom;
        }
    }
    rc = http_send_json(r, 200, result);
    result = NULL;
    goto out;
oom:
    rc = http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
out:
    cJSON_Delete(result);
    free(matched);
    free(ord.prop);
    for (int k = 0; k < n_filters; k++) {
        free(filters[k].path);
        free(filters[k].value);
    }
    free(filters);
    md_fields_free(fields, n_fields);
    return rc;
}
