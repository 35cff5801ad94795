/* tracker_sync.h — the tracker kind of job ("kind":"tracker"): events of event programs, and
 * tracked entities with their enrollments and events of tracker programs, read from the source
 * a page at a time, mapped (id tables on the fast path, then the mapping's `trackedEntity` and
 * `event` functions), and imported into the target's /api/tracker. Per program it reads and
 * writes parents before children (tracked entities, then enrollments, then events), so that
 * no batch refers to what the target has not been sent; in each page, deletions go first, as
 * importStrategy=DELETE with uids only. Never touches the runs table: counts, conflicts and
 * progress go through the harness (sync_kind.h). See docs/tracker.md. */
#ifndef DHIS2SYNC_TRACKER_SYNC_H
#define DHIS2SYNC_TRACKER_SYNC_H

#include "sync_kind.h"

extern const struct sync_kind sync_kind_tracker;

#endif
