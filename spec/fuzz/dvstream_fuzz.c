/* dvstream_fuzz.c — the streaming reader of DHIS2 dataValueSets responses (an untrusted
 * server's bytes). Input: one byte of options (fallback org unit/period, batch size), one byte
 * seeding the chunk sizes, then the body. The body is read twice, whole and in chunks split at
 * the seeded places (as the network splits it): both readings must agree on success and on
 * every value delivered. */
#include "dvstream.h"
#include "fuzz.h"

struct digest {
    uint64_t hash;
    size_t values;
};

static void mix(struct digest *d, const char *s)
{
    if (!s) {
        d->hash = (d->hash ^ 0x100) * 1099511628211u;
        return;
    }
    for (; *s; s++)
        d->hash = (d->hash ^ (unsigned char)*s) * 1099511628211u;
    d->hash = (d->hash ^ 0x101) * 1099511628211u;
}

static int collect(void *ud, const struct datavalue *vals, size_t n, struct err *e)
{
    struct digest *d = ud;
    (void)e;
    for (size_t i = 0; i < n; i++) {
        struct datavalue dv = vals[i];
        for (int f = 0; f < DV_STRINGS; f++)
            mix(d, *datavalue_string(&dv, f));
        mix(d, dv.followup ? "f" : NULL);
        mix(d, dv.deleted ? "d" : NULL);
    }
    d->values += n;
    return 0;
}

/* Reads body in chunks: sizes from a xorshift seeded by seed, or the whole when seed is 0. */
static int read_body(const struct dvstream_options *opt, const char *body, size_t len,
                     unsigned seed, struct digest *d)
{
    struct dvstream *s = dvstream_new(opt, collect, d);
    FUZZ_ASSERT(s);
    struct err e = {0};
    int rc = 0;
    uint32_t x = seed * 2654435761u | 1;
    for (size_t at = 0; !rc && at < len;) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t n = seed ? 1 + x % 64 : len;
        if (n > len - at)
            n = len - at;
        rc = dvstream_feed(s, body + at, n, &e);
        at += n;
    }
    if (!rc)
        rc = dvstream_finish(s, &e);
    FUZZ_ASSERT(!rc || e.msg[0]);
    struct dvstream_stats st;
    dvstream_stats(s, &st);
    FUZZ_ASSERT(st.values == d->values);
    dvstream_free(s);
    return rc;
}

int fuzz_dvstream(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct dvstream_options opt = {
        .batch = 1 + (data[0] & 7),
        .fallback_org_unit = data[0] & 8 ? "ImspTQPwCqd" : NULL,
        .fallback_period = data[0] & 16 ? "202401" : NULL,
    };
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    struct digest whole = {0}, split = {0};
    int rc_whole = read_body(&opt, body, len, 0, &whole);
    int rc_split = read_body(&opt, body, len, data[1] | 0x100u, &split);
    FUZZ_ASSERT((rc_whole == 0) == (rc_split == 0));
    if (rc_whole == 0)
        FUZZ_ASSERT(whole.values == split.values && whole.hash == split.hash);
    return 0;
}
