/* dvstream_bench.c — speed of the data value JSON paths of the DHIS2 client.
 * Parse: feeds 2 million values as 2.41 writes them (about 300 bytes each) to the
 * dataValueSets stream splitter in 16 KB chunks, as curl hands them over, and prints values/s,
 * MB/s and the peak memory the stream held. Serialise: builds POST bodies of 10 000 values
 * (the batch DHIS2's own sync uses) and prints values/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dhis2.h"
#include "dvstream.h"

enum { VALUES_PER_BLOCK = 100000, BLOCKS = 20, CHUNK = 16384 };

static int count_fn(void *ud, const struct datavalue *v, size_t n, struct err *e)
{
    (void)e;
    size_t *count = ud;
    for (size_t i = 0; i < n; i++)
        *count += v[i].value != NULL;
    return 0;
}

/* CPU time of this process: the figures hold on a busy machine too */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    size_t cap = (size_t)VALUES_PER_BLOCK * 400, len = 0;
    char *block = malloc(cap);
    if (!block)
        return 1;
    for (size_t i = 0; i < VALUES_PER_BLOCK; i++)
        len += (size_t)snprintf(block + len, cap - len,
                                ",{\"dataElement\":\"fbfJHSPpUQD\",\"period\":\"2024%02zu\","
                                "\"orgUnit\":\"DiszpKrYNg8\",\"categoryOptionCombo\":"
                                "\"pq2XI5kz2BY\",\"attributeOptionCombo\":\"HllvX50cXC0\","
                                "\"value\":\"%zu\",\"storedBy\":\"admin\",\"created\":"
                                "\"2024-02-03T10:11:12.000+0000\",\"lastUpdated\":"
                                "\"2024-02-03T10:11:12.000+0000\",\"comment\":\"checked\","
                                "\"followup\":false}",
                                i % 12 + 1, i);
    struct err e = {0};
    size_t count = 0;
    struct dvstream *s = dvstream_new(NULL, count_fn, &count);
    if (!s)
        return 1;
    double t0 = now();
    int rc = dvstream_feed(s, "{\"dataValues\":[", 15, &e);
    for (int b = 0; b < BLOCKS && rc == 0; b++) {
        size_t off = b == 0 ? 1 : 0; /* no comma before the first value */
        for (; off < len && rc == 0; off += CHUNK)
            rc = dvstream_feed(s, block + off, len - off < CHUNK ? len - off : CHUNK, &e);
    }
    if (rc == 0)
        rc = dvstream_feed(s, "]}", 2, &e);
    if (rc == 0)
        rc = dvstream_finish(s, &e);
    double secs = now() - t0;
    if (rc) {
        fprintf(stderr, "dvstream_bench: %s\n", e.msg);
        return 1;
    }
    struct dvstream_stats st;
    dvstream_stats(s, &st);
    printf("dvstream: %zu values, %.1f MB in %.3f s CPU: %.0f values/s, %.0f MB/s, peak %zu KB\n",
           st.values, (double)st.bytes / 1e6, secs, (double)st.values / secs,
           (double)st.bytes / 1e6 / secs, st.peak_bytes / 1024);
    dvstream_free(s);
    free(block);
    if (count != st.values)
        return 1;

    enum { BATCH = 10000, ROUNDS = 200 };
    struct datavalue *vals = calloc(BATCH, sizeof *vals);
    if (!vals)
        return 1;
    for (size_t i = 0; i < BATCH; i++)
        vals[i] = (struct datavalue){.data_element = "fbfJHSPpUQD",
                                     .period = "202401",
                                     .org_unit = "DiszpKrYNg8",
                                     .category_option_combo = "pq2XI5kz2BY",
                                     .attribute_option_combo = "HllvX50cXC0",
                                     .value = "12345",
                                     .comment = "checked \"twice\""};
    size_t bytes = 0;
    t0 = now();
    for (int r = 0; r < ROUNDS; r++) {
        size_t len = 0;
        char *json = dhis2_datavalues_json(vals, BATCH, &len);
        if (!json)
            return 1;
        bytes += len;
        free(json);
    }
    secs = now() - t0;
    printf("serialise: %d values, %.1f MB in %.3f s CPU: %.0f values/s\n", BATCH * ROUNDS,
           (double)bytes / 1e6, secs, BATCH * ROUNDS / secs);
    free(vals);
    return 0;
}
