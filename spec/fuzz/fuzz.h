/* fuzz.h — the fuzz harnesses' entry points, one per parser of bytes from outside.
 * Each is a plain function so that two drivers share it: libfuzzer.c (clang, `make fuzz`) and
 * spec/fuzz_regress_test.c (the suite replays the seed corpora and every crash input kept under
 * spec/fuzz/regress/). A harness returns 0; a broken property aborts, which both drivers see. */
#ifndef DHIS2SYNC_FUZZ_H
#define DHIS2SYNC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_dvstream(const uint8_t *data, size_t size);
int fuzz_import_summary(const uint8_t *data, size_t size);
int fuzz_job_body(const uint8_t *data, size_t size);
int fuzz_period(const uint8_t *data, size_t size);
int fuzz_cron(const uint8_t *data, size_t size);
int fuzz_csv(const uint8_t *data, size_t size);
int fuzz_backup(const uint8_t *data, size_t size);

/* The input as a C string (parsers of text stop at its first NUL, as they would in a request). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A broken invariant: say which, then crash so the driver keeps the input. */
#define FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: fuzz property broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
