/* store.c — the data values: one array (a value's index never changes; deletions are soft),
 * a hash on the five-part key for imports, a list of value indexes per org unit for queries,
 * interned periods and storedBy names. Callers hold s->lock (read or write) around every use
 * once the server runs; loading and generation run before that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "log.h"

int store_init(struct store *s, int n_ou, struct err *e)
{
    memset(s, 0, sizeof *s);
    s->n_ou = n_ou;
    s->by_ou = calloc((size_t)n_ou + 1, sizeof *s->by_ou);
    s->n_slots = 1024;
    s->slots = calloc(s->n_slots, sizeof *s->slots);
    if (!s->by_ou || !s->slots || pthread_rwlock_init(&s->lock, NULL) != 0) {
        free(s->by_ou);
        free(s->slots);
        return err_set(e, ERR_INTERNAL, "store: out of memory");
    }
    return 0;
}

void store_free(struct store *s)
{
    arena_free(&s->text);
    free(s->v);
    free(s->slots);
    for (int i = 0; i < s->n_ou; i++)
        free(s->by_ou[i].ids);
    free(s->by_ou);
    free(s->pe);
    free(s->pe_iso);
    strmap_free(&s->pe_map);
    for (int i = 0; i < s->n_aliases; i++)
        free(s->aliases[i]);
    free(s->aliases);
    strmap_free(&s->who_map);
    for (int i = 0; i < s->n_who; i++)
        free(s->who[i]);
    free(s->who);
    pthread_rwlock_destroy(&s->lock);
    memset(s, 0, sizeof *s);
}

static uint64_t key_hash(const struct dv_key *k)
{
    uint64_t h = (uint64_t)(uint32_t)k->de * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)(uint32_t)k->pe * 0xC2B2AE3D27D4EB4FULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)(uint32_t)k->ou * 0x165667B19E3779F9ULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)(uint32_t)k->coc * 0x27D4EB2F165667C5ULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)(uint32_t)k->aoc * 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    return h ^ (h >> 31);
}

static bool key_eq(const struct dv *v, const struct dv_key *k)
{
    return v->de == k->de && v->pe == k->pe && v->ou == k->ou && v->coc == k->coc && v->aoc == k->aoc;
}

int64_t store_find(const struct store *s, const struct dv_key *k)
{
    size_t mask = s->n_slots - 1, j = key_hash(k) & mask;
    while (s->slots[j]) {
        const struct dv *v = &s->v[s->slots[j] - 1];
        if (key_eq(v, k))
            return s->slots[j] - 1;
        j = (j + 1) & mask;
    }
    return -1;
}

static void slot_insert(uint32_t *slots, size_t n_slots, const struct dv *v, uint32_t id)
{
    struct dv_key k = {v->de, v->pe, v->ou, v->coc, v->aoc};
    size_t mask = n_slots - 1, j = key_hash(&k) & mask;
    while (slots[j])
        j = (j + 1) & mask;
    slots[j] = id + 1;
}

const char *store_text(struct store *s, const char *t, bool *oom)
{
    if (!t)
        return NULL;
    const char *copy = arena_strdup(&s->text, t);
    if (!copy)
        *oom = true;
    return copy;
}

int store_reserve(struct store *s, size_t more)
{
    size_t want = s->n + more;
    if (want > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < want)
            cap *= 2;
        struct dv *grown = realloc(s->v, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->v = grown;
        s->cap = cap;
    }
    if (want * 2 > s->n_slots) {
        size_t n_slots = s->n_slots;
        while (want * 2 > n_slots)
            n_slots *= 2;
        uint32_t *slots = calloc(n_slots, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < s->n; i++)
            slot_insert(slots, n_slots, &s->v[i], (uint32_t)i);
        free(s->slots);
        s->slots = slots;
        s->n_slots = n_slots;
    }
    return 0;
}

int store_add(struct store *s, const struct dv *v)
{
    if (store_reserve(s, 1))
        return -1;
    struct ou_list *l = &s->by_ou[v->ou];
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        uint32_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        l->ids = ids;
        l->cap = cap;
    }
    uint32_t id = (uint32_t)s->n;
    s->v[s->n++] = *v;
    slot_insert(s->slots, s->n_slots, v, id);
    l->ids[l->n++] = id;
    return 0;
}

int store_period_find(const struct store *s, const char *iso)
{
    return strmap_get(&s->pe_map, iso);
}

int store_period(struct store *s, const char *iso)
{
    int idx = strmap_get(&s->pe_map, iso);
    if (idx >= 0 || !iso)
        return idx;
    struct period p;
    char canon[PERIOD_ISO_MAX];
    if (period_parse(iso, &p) != 0 || period_format(&p, canon, sizeof canon) < 0)
        return -1;
    idx = strmap_get(&s->pe_map, canon);
    if (idx < 0) {
        if (s->n_pe == s->cap_pe) {
            int cap = s->cap_pe ? s->cap_pe * 2 : 64;
            struct period *pe = realloc(s->pe, (size_t)cap * sizeof *pe);
            if (!pe)
                return -1;
            s->pe = pe;
            char(*isos)[PERIOD_ISO_MAX] = realloc(s->pe_iso, (size_t)cap * sizeof *isos);
            if (!isos)
                return -1;
            s->pe_iso = isos;
            s->cap_pe = cap;
            /* pe_map keys point into pe_iso: rebuild them after the move */
            struct strmap fresh = {0};
            for (int i = 0; i < s->n_pe; i++)
                if (strmap_put(&fresh, s->pe_iso[i], i))
                    return -1;
            for (int i = 0; i < s->n_aliases; i++)
                if (strmap_put(&fresh, s->aliases[i], strmap_get(&s->pe_map, s->aliases[i])))
                    return -1;
            strmap_free(&s->pe_map);
            s->pe_map = fresh;
        }
        idx = s->n_pe++;
        s->pe[idx] = p;
        memcpy(s->pe_iso[idx], canon, sizeof canon);
        if (strmap_put(&s->pe_map, s->pe_iso[idx], idx))
            return -1;
    }
    if (strcmp(canon, iso) != 0) {
        /* Remember the other spelling ("2024-01") so it is parsed once. */
        if (s->n_aliases == s->cap_aliases) {
            int cap = s->cap_aliases ? s->cap_aliases * 2 : 16;
            char **a = realloc(s->aliases, (size_t)cap * sizeof *a);
            if (!a)
                return idx;
            s->aliases = a;
            s->cap_aliases = cap;
        }
        char *copy = strdup(iso);
        if (copy) {
            s->aliases[s->n_aliases++] = copy;
            strmap_put(&s->pe_map, copy, idx);
        }
    }
    return idx;
}

const char *store_who(struct store *s, const char *name)
{
    int idx = strmap_get(&s->who_map, name);
    if (idx >= 0)
        return s->who[idx];
    if (s->n_who == s->cap_who) {
        int cap = s->cap_who ? s->cap_who * 2 : 8;
        char **w = realloc(s->who, (size_t)cap * sizeof *w);
        if (!w)
            return NULL;
        s->who = w;
        s->cap_who = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    s->who[s->n_who] = copy;
    if (strmap_put(&s->who_map, copy, s->n_who)) {
        free(copy);
        return NULL;
    }
    s->n_who++;
    return copy;
}

void store_write_value(struct buf *b, const struct store *s, const struct metadata *md,
                       const struct dv *v, const struct dv_format *f)
{
    buf_put(b, "{\"dataElement\":", 15);
    buf_json_str(b, metadata_id(&md->de[v->de].id, f->de));
    buf_put(b, ",\"period\":\"", 11);
    buf_puts(b, s->pe_iso[v->pe]);
    buf_putc(b, '"');
    if (f->with_ou) {
        buf_put(b, ",\"orgUnit\":", 11);
        buf_json_str(b, metadata_id(&md->ou[v->ou].id, f->ou));
    }
    buf_put(b, ",\"categoryOptionCombo\":", 23);
    buf_json_str(b, metadata_id(&md->coc[v->coc].id, f->coc));
    buf_put(b, ",\"attributeOptionCombo\":", 24);
    buf_json_str(b, metadata_id(&md->coc[v->aoc].id, f->aoc));
    buf_put(b, ",\"value\":", 9);
    buf_json_str(b, v->value);
    buf_put(b, ",\"storedBy\":", 12);
    buf_json_str(b, v->stored_by);
    buf_put(b, ",\"created\":\"", 12);
    buf_timestamp(b, v->created, true);
    buf_put(b, "\",\"lastUpdated\":\"", 17);
    buf_timestamp(b, v->updated, true);
    buf_put(b, "\",\"comment\":", 12);
    buf_json_str(b, v->comment);
    buf_puts(b, v->followup ? ",\"followup\":true" : ",\"followup\":false");
    if (v->deleted)
        buf_puts(b, ",\"deleted\":true");
    buf_putc(b, '}');
}

static void csv_field(struct buf *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

void store_write_value_csv(struct buf *b, const struct store *s, const struct metadata *md,
                           const struct dv *v, const struct dv_format *f)
{
    csv_field(b, metadata_id(&md->de[v->de].id, f->de));
    buf_putc(b, ',');
    buf_puts(b, s->pe_iso[v->pe]);
    buf_putc(b, ',');
    csv_field(b, metadata_id(&md->ou[v->ou].id, f->ou));
    buf_putc(b, ',');
    csv_field(b, metadata_id(&md->coc[v->coc].id, f->coc));
    buf_putc(b, ',');
    csv_field(b, metadata_id(&md->coc[v->aoc].id, f->aoc));
    buf_putc(b, ',');
    csv_field(b, v->value);
    buf_putc(b, ',');
    csv_field(b, v->stored_by);
    buf_putc(b, ',');
    buf_timestamp(b, v->updated, true);
    buf_putc(b, ',');
    csv_field(b, v->comment);
    buf_puts(b, v->followup ? ",true," : ",false,");
    buf_puts(b, v->deleted ? "true\n" : "false\n");
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *value_text(struct store *s, const cJSON *v, bool *oom)
{
    if (cJSON_IsString(v))
        return store_text(s, v->valuestring, oom);
    if (cJSON_IsNumber(v)) {
        char num[64];
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        return store_text(s, num, oom);
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return NULL;
}

int store_load_file(struct store *s, const struct metadata *md, const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0; /* no values yet: an empty instance */
    int rc = -1;
    char *text = NULL;
    cJSON *root = NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        goto io;
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto io;
    text = malloc((size_t)size + 1);
    if (!text) {
        err_set(e, ERR_INTERNAL, "%s: out of memory", path);
        goto out;
    }
    if (fread(text, 1, (size_t)size, f) != (size_t)size)
        goto io;
    text[size] = '\0';
    root = cJSON_ParseWithLength(text, (size_t)size);
    if (!root) {
        err_set(e, ERR_INPUT, "%s: not valid JSON", path);
        goto out;
    }
    free(text);
    text = NULL;
    int64_t now = now_ms();
    long skipped = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "dataValues")) {
        struct dv v = {0};
        v.de = metadata_find(md, MD_DE, SCHEME_UID, str_of(it, "dataElement"));
        v.ou = metadata_find(md, MD_OU, SCHEME_UID, str_of(it, "orgUnit"));
        v.pe = store_period(s, str_of(it, "period"));
        const char *coc = str_of(it, "categoryOptionCombo"), *aoc = str_of(it, "attributeOptionCombo");
        v.coc = coc ? metadata_find(md, MD_COC, SCHEME_UID, coc) : md->default_coc;
        v.aoc = aoc ? metadata_find(md, MD_COC, SCHEME_UID, aoc) : md->default_coc;
        struct dv_key k = {v.de, v.pe, v.ou, v.coc, v.aoc};
        if (v.de < 0 || v.ou < 0 || v.pe < 0 || v.coc < 0 || v.aoc < 0 || store_find(s, &k) >= 0) {
            skipped++;
            continue;
        }
        const char *who = str_of(it, "storedBy");
        v.stored_by = who ? store_who(s, who) : NULL;
        bool oom = false;
        v.value = value_text(s, cJSON_GetObjectItemCaseSensitive(it, "value"), &oom);
        v.comment = value_text(s, cJSON_GetObjectItemCaseSensitive(it, "comment"), &oom);
        if (timestamp_parse(str_of(it, "created"), &v.created))
            v.created = now;
        if (timestamp_parse(str_of(it, "lastUpdated"), &v.updated))
            v.updated = v.created;
        v.followup = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "followup"));
        v.deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "deleted"));
        if (oom || store_add(s, &v)) {
            err_set(e, ERR_INTERNAL, "%s: out of memory", path);
            goto out;
        }
    }
    if (skipped)
        log_warn("%s: skipped %ld values with unknown ids or duplicate keys", path, skipped);
    rc = 0;
    goto out;
io:
    err_set(e, ERR_INPUT, "%s: cannot read it", path);
out:
    fclose(f);
    free(text);
    cJSON_Delete(root);
    return rc;
}

int store_save_file(struct store *s, const struct metadata *md, const char *path, struct err *e)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return err_set(e, ERR_INPUT, "%s: cannot write it", tmp);
    struct buf b = {0};
    struct dv_format fmt = {SCHEME_UID, SCHEME_UID, SCHEME_UID, SCHEME_UID, true};
    buf_puts(&b, "{\"dataValues\":[");
    bool ok = true;
    for (size_t i = 0; i < s->n && ok; i++) {
        if (i)
            buf_putc(&b, ',');
        store_write_value(&b, s, md, &s->v[i], &fmt);
        if (b.len > (1 << 20)) {
            ok = !b.oom && fwrite(b.data, 1, b.len, f) == b.len;
            b.len = 0;
        }
    }
    buf_puts(&b, "]}\n");
    ok = ok && !b.oom && fwrite(b.data, 1, b.len, f) == b.len;
    buf_free(&b);
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return err_set(e, ERR_INPUT, "%s: cannot write it", path);
    }
    return 0;
}

int store_remap(struct store *s, const int *de, const int *ou, const int *coc, int n_ou)
{
    struct ou_list *by_ou = calloc((size_t)n_ou + 1, sizeof *by_ou);
    uint32_t *count = calloc((size_t)n_ou + 1, sizeof *count);
    uint32_t *slots = calloc(s->n_slots, sizeof *slots);
    int rc = -1;
    if (!by_ou || !count || !slots)
        goto out;
    for (size_t i = 0; i < s->n; i++)
        count[ou[s->v[i].ou]]++;
    for (int u = 0; u < n_ou; u++) {
        by_ou[u].cap = count[u] ? count[u] : 0;
        if (count[u] && !(by_ou[u].ids = malloc(count[u] * sizeof *by_ou[u].ids)))
            goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct dv *v = &s->v[i];
        v->de = de[v->de];
        v->ou = ou[v->ou];
        v->coc = coc[v->coc];
        v->aoc = coc[v->aoc];
        by_ou[v->ou].ids[by_ou[v->ou].n++] = (uint32_t)i;
        slot_insert(slots, s->n_slots, v, (uint32_t)i);
    }
    for (int u = 0; u < s->n_ou; u++)
        free(s->by_ou[u].ids);
    free(s->by_ou);
    free(s->slots);
    s->by_ou = by_ou;
    s->slots = slots;
    s->n_ou = n_ou;
    by_ou = NULL;
    slots = NULL;
    rc = 0;
out:
    for (int u = 0; by_ou && u < n_ou; u++)
        free(by_ou[u].ids);
    free(by_ou);
    free(count);
    free(slots);
    return rc;
}
