/* bench_common.h — the few helpers every benchmark program needs: which build to run, a
 * monotonic clock, and a libcurl sink that keeps an answer. Static inline: each bench is one
 * translation unit and uses some of them. */
#ifndef DHIS2SYNC_BENCH_COMMON_H
#define DHIS2SYNC_BENCH_COMMON_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* build/ or build/asan/, as `make bench` was asked */
static inline const char *build_dir(void)
{
    const char *b = getenv("DHIS2SYNC_BUILD");
    return b && *b ? b : "build";
}

static inline double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* An answer kept whole, NUL-terminated. */
struct bench_body {
    char *p;
    size_t len;
};

/* CURLOPT_WRITEFUNCTION appending to the struct bench_body in ud. */
static inline size_t bench_keep(char *p, size_t size, size_t n, void *ud)
{
    struct bench_body *b = ud;
    char *grown = realloc(b->p, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->p = grown;
    memcpy(b->p + b->len, p, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

#endif
