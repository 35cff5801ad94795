/* strmap.h — an open-addressing hash map from strings to strings, for ids: the mappings'
 * lookup tables (read on every value, so finding is inline) and per-run caches. Keys and values
 * are borrowed: they belong to an arena (or other storage) that outlives the map. A NULL value
 * is a value too ("known, maps to nothing"). Not thread-safe for writes. */
#ifndef DHIS2SYNC_STRMAP_H
#define DHIS2SYNC_STRMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct strmap_slot {
    uint64_t hash;
    const char *key;
    const char *val;
};

struct strmap {
    struct strmap_slot *slots;
    size_t mask, count;
};

/* Sized for `expected` keys without growing. 0, or -1 when out of memory. */
int strmap_init(struct strmap *m, size_t expected);
void strmap_free(struct strmap *m);
/* Adds or replaces; grows as needed. 0, or -1 when out of memory. */
int strmap_put(struct strmap *m, const char *key, const char *val);

static inline uint64_t strmap_hash(const char *s)
{
    /* FNV-1a: ids are short and come from no adversary */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static inline const struct strmap_slot *strmap_find(const struct strmap *m, const char *key)
{
    if (!m->slots)
        return NULL;
    uint64_t h = strmap_hash(key);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const struct strmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

#endif
