#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datavalue.h"

struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[];
};

enum { ARENA_MIN_BLOCK = 64 * 1024, ARENA_SPARE_MAX = 8 * 1024 * 1024 };

static struct arena_block *take_spare(struct arena *a, size_t size)
{
    for (struct arena_block **p = &a->spare; *p; p = &(*p)->next) {
        if ((*p)->size >= size) {
            struct arena_block *b = *p;
            *p = b->next;
            b->used = 0;
            return b;
        }
    }
    return NULL;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t block = size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK;
        b = take_spare(a, size);
        if (!b) {
            if (!(b = malloc(sizeof *b + block)))
                return NULL;
            b->size = block;
            b->used = 0;
        }
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
    size_t kept = 0;
    for (struct arena_block *b = a->spare; b; b = b->next)
        kept += b->size;
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (kept + b->size <= ARENA_SPARE_MAX) {
            kept += b->size;
            b->next = a->spare;
            a->spare = b;
        } else {
            free(b);
        }
    }
    a->head = NULL;
    a->used_bytes = 0;
}

static void free_list(struct arena_block *b)
{
    for (struct arena_block *next; b; b = next) {
        next = b->next;
        free(b);
    }
}

void arena_free(struct arena *a)
{
    free_list(a->head);
    free_list(a->spare);
    a->head = a->spare = NULL;
    a->used_bytes = 0;
}
