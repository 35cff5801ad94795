/* backup.h — `dhis2sync backup FILE` and `dhis2sync restore FILE [--force]`.
 * One archive (ustar, readable with `tar tvf`) holding database.dump (pg_dump custom format of
 * our database), mappings/... (every file of DHIS2SYNC_MAPPINGS, dot-files left out) and,
 * last, manifest.json (format, dhis2sync version, applied migrations, creation time, size and
 * SHA-256 of every member), so a truncated or damaged archive is refused before anything is
 * changed. Works against DATABASE_URL or the private cluster under var/pg; pg_dump, pg_restore
 * and psql are run as child processes with the connection in their environment (PG* variables),
 * never on their command line. Never holds or writes the secret key. */
#ifndef DHIS2SYNC_BACKUP_H
#define DHIS2SYNC_BACKUP_H

#include "config.h"
#include "err.h"

/* Writes FILE.tmp, then renames it to FILE (mode 0600). On failure FILE is left as it was and
 * FILE.tmp is removed. */
int backup_create(const struct config *cfg, const char *file, struct err *e);

/* Checks the whole archive first (manifest, checksums, migrations this version knows), then
 * refuses unless force when the database has rows in instances, jobs, runs, users or api_tokens
 * or when an archived mapping would replace a different file. Then, in one transaction, drops
 * every table, view, sequence, function and type of schema public and restores the dump; runs
 * that were `running` become `interrupted`. Last, the mappings are written (each atomically);
 * files they replace are kept in MAPPINGS/.before-restore-<UTC time>/. */
int backup_restore(const struct config *cfg, const char *file, int force, struct err *e);

/* The checks backup_restore makes of the archive itself (members, paths, sizes, manifest,
 * checksums, known migrations) with no database and nothing written: the dump is read and
 * discarded. The fuzz harness's entry into the archive reader. */
int backup_check(const struct config *cfg, const char *file, struct err *e);

#endif
