/* dvstream.h — a streaming reader for DHIS2 `dataValueSets` JSON responses.
 * Owns turning bytes, in chunks of any size as they arrive, into struct datavalue batches.
 * It never holds the whole body nor a JSON tree of it: each flat object of the `dataValues`
 * array is parsed by hand in place, in one pass, when it lies wholly inside a chunk; one that
 * straddles chunks is found by scanning (tracking strings, escapes and brace depth), kept and
 * then parsed. Values reach a callback in batches whose strings live in an arena that is reset
 * after each batch, so memory stays bounded whatever the response size.
 *
 * Root-level `orgUnit`, `period` and `attributeOptionCombo` (DHIS2 2.43 writes `orgUnit` once at
 * the root and leaves it out of each value when a single org unit was asked for; older versions
 * add a `period`/`orgUnit` header when one of each was asked for) fill the values that lack
 * them. JSON does not fix the order of keys, so the root may come after the array: a value that
 * lacks a field then takes the caller's fallback (the single org unit / period it asked for),
 * and a root that turns up later and contradicts a fallback already used is an error. A value
 * lacking a field with neither a root nor a fallback is an error too: it cannot be placed.
 * A missing category or attribute option combo stays NULL (= the default combo).
 *
 * Not thread-safe; one stream per response. */
#ifndef DHIS2SYNC_DVSTREAM_H
#define DHIS2SYNC_DVSTREAM_H

#include <stddef.h>

#include "datavalue.h"
#include "err.h"

/* Called with up to `batch` values; their strings are valid only during the call. Return 0 to
 * go on, or a negative code (filling e) to stop the stream with that error. */
typedef int (*dvstream_fn)(void *ud, const struct datavalue *vals, size_t n, struct err *e);

struct dvstream_options {
    size_t batch;                  /* values per callback; 0 = 1000 */
    const char *fallback_org_unit; /* the single org unit asked for, or NULL */
    const char *fallback_period;   /* the single period asked for, or NULL */
};

struct dvstream_stats {
    size_t values;     /* values delivered to the callback */
    size_t bytes;      /* bytes fed */
    size_t peak_bytes; /* most bytes in use at once: arena + straddling object + batch */
};

struct dvstream;
struct dvstream *dvstream_new(const struct dvstream_options *opt, dvstream_fn fn, void *ud);
/* Feeds the next n bytes. Returns 0, or negative with e filled on malformed JSON (the message
 * gives the byte offset) or when the callback stopped the stream. */
int dvstream_feed(struct dvstream *s, const char *buf, size_t n, struct err *e);
/* Ends the input: delivers the last batch and checks that the document was complete. */
int dvstream_finish(struct dvstream *s, struct err *e);
void dvstream_stats(const struct dvstream *s, struct dvstream_stats *out);
void dvstream_free(struct dvstream *s);

/* Parses one flat data value object (`{...}`, exactly len bytes) into dv, strings in arena.
 * Unknown keys are skipped; `deleted`/`followup` are read as booleans. Exposed for tests. */
int dvstream_parse_object(const char *p, size_t len, struct arena *arena, struct datavalue *dv,
                          struct err *e);

#endif
