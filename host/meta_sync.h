/* meta_sync.h — the metadata kind of job: copies DHIS2 metadata objects with their
 * dependencies from the source to the target (docs/metadata.md).
 *
 * A run (1) lists the job's objects by type (ids, "all", DHIS2 filters), (2) walks their
 * dependencies (meta_deps.h), fetching each object once from GET /api/metadata in chunks of at
 * most 200 ids and spooling it to a temporary file as one line of JSON, so that memory holds
 * ids, not objects, (3) reads the spool back in import order: leaves out what the target
 * generates itself (category option combos on 2.43+), what an incremental run need not send
 * (unchanged since the watermark and present at the target), strips sharing, users and org
 * unit assignments as the job says, rewrites ids through the mapping's tables and its
 * `metadata` function, and posts one payload (atomicMode ALL) or parts of batchSize objects
 * (NONE), (4) sends the source's deletions since the watermark with importStrategy=DELETE.
 * Every refused object is listed on the run with DHIS2's error code.
 * Never: touches the runs table (the harness does), keeps a whole payload of cJSON objects. */
#ifndef DHIS2SYNC_META_SYNC_H
#define DHIS2SYNC_META_SYNC_H

#include "sync_kind.h"

extern const struct sync_kind sync_kind_metadata;

#endif
