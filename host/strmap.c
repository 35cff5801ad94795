#include "strmap.h"

#include <stdlib.h>

static int alloc_slots(struct strmap *m, size_t expected)
{
    size_t cap = 8;
    while (cap < expected * 2 + 1)
        cap <<= 1;
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    m->slots = slots;
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

int strmap_init(struct strmap *m, size_t expected)
{
    m->slots = NULL;
    return alloc_slots(m, expected);
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}

static void insert(struct strmap *m, uint64_t h, const char *key, const char *val)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key) {
            *s = (struct strmap_slot){h, key, val};
            m->count++;
            return;
        }
        if (s->hash == h && strcmp(s->key, key) == 0) {
            s->val = val;
            return;
        }
    }
}

int strmap_put(struct strmap *m, const char *key, const char *val)
{
    /* at most half full, so that a probe ends quickly and always finds a hole */
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        struct strmap old = *m;
        if (alloc_slots(m, old.count + 1 > 4 ? (old.count + 1) * 2 : 8) != 0) {
            *m = old;
            return -1;
        }
        for (size_t i = 0; old.slots && i <= old.mask; i++)
            if (old.slots[i].key)
                insert(m, old.slots[i].hash, old.slots[i].key, old.slots[i].val);
        free(old.slots);
    }
    insert(m, strmap_hash(key), key, val);
    return 0;
}
