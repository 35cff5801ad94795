#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datavalue.h"

struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[];
};

enum { ARENA_MIN_BLOCK = 64 * 1024 };

void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t block = size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK;
        b = malloc(sizeof *b + block);
        if (!b)
            return NULL;
        b->size = block;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    a->used_bytes += size;
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void arena_reset(struct arena *a)
{
    struct arena_block *keep = NULL;
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (!b->next) {
            keep = b;
        } else {
            free(b);
        }
    }
    a->head = keep;
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->used_bytes = 0;
}

void arena_free(struct arena *a)
{
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->used_bytes = 0;
}
