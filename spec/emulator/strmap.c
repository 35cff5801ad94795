/* strmap.c — string -> int32 open-addressing hash map. Keys are borrowed: they belong to the
 * metadata tree or the store, which outlive the map. */
#include <stdlib.h>
#include <string.h>

#include "emu.h"

/* FNV-1a: short ids, no adversary, good enough spread. */
static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int grow(struct strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys);
    int32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash_bytes(m->keys[i], strlen(m->keys[i])) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, int32_t val)
{
    if (!key)
        return 0;
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t j = hash_bytes(key, strlen(key)) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            m->vals[j] = val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return 0;
}

static int32_t strmap_getn(const struct strmap *m, const char *key, size_t len)
{
    if (!m->cap || !key)
        return -1;
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[j]) {
        if (strncmp(m->keys[j], key, len) == 0 && m->keys[j][len] == '\0')
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

int32_t strmap_get(const struct strmap *m, const char *key)
{
    return key ? strmap_getn(m, key, strlen(key)) : -1;
}

void strmap_free(struct strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
