/* check.h — trying a mapping on sample data values or objects, without a database or a DHIS2:
 * `dhis2sync check MAPPING [--sample FILE] [--json]` and POST /api/mappings/{name}/check.
 * Owns: reading samples in the DHIS2 shapes ({"dataValues":[…]}, {"events":[…]},
 * {"trackedEntities":[…]}, {"metadata":{"dataElements":[…],…}}), reporting per value or object
 * mapped / skipped (why) / error (file:line), and the aggregate step. Never: writes anything. */
#ifndef DHIS2SYNC_CHECK_H
#define DHIS2SYNC_CHECK_H

#include <cJSON.h>

#include "err.h"
#include "mapping.h"

/* The `check` command. argv[0] is "check"; the rest: MAPPING (a name under
 * $DHIS2SYNC_MAPPINGS, default ./mappings, or a path to a .lua file), --sample FILE ("-" =
 * stdin), --json (print the JSON result of check_sample), --scripts DIR (default
 * $DHIS2SYNC_SCRIPTS or ./scripts). Prints to stdout, problems to stderr. Returns the exit
 * code: 0, 1 (compile error, canary failure, an error on any sample value, bad sample), 2
 * (usage). */
int check_command(int argc, char **argv);

/* Applies m to every value of `sample` ({"dataValues":[…]} or a bare array) and answers
 * {"mapping","version","counts":{"values","mapped","skipped","errors"},
 *  "results":[{"index","input",{"status":"mapped","output"}|{"status":"skipped","reason"}|
 *              {"status":"error","error":{"file","line","message"},"message"}}],
 *  "aggregated":[…] (with aggregate = "sum": what would be sent), "note": "…" (optional)}.
 * A sample of objects ({"events":[…]}, {"trackedEntities":[…]} and/or
 * {"metadata":{"dataElements":[…],…}}, no "dataValues") goes through the mapping's functions
 * event, trackedEntity and metadata (the id tables are the job kind's to apply) and answers
 * {"mapping","version","counts":{"objects","mapped","skipped","errors"},
 *  "results":[{"index","type":"event"|"trackedEntity"|"dataElements"|…,"input",
 *              "status" and "output"|"reason"|"error"+"message" as above}],
 *  "note": "the mapping has no event function: events pass unchanged" (optional)}.
 * lookup may be NULL. *n_errors (may be NULL) gets the number of values or objects in error.
 * NULL with ERR_INPUT when the sample is in none of those shapes (e says where). */
cJSON *check_sample(struct mapping *m, const cJSON *sample, const struct mapping_lookup *lookup,
                    int *n_errors, struct err *e);

/* {"file","line","message"} for a mapping error message "district.lua:12: message" (line 0
 * and file "" when it has none), as the API reports compile errors. */
cJSON *check_error_json(const char *msg);

/* A mapping's state for GET /api/mappings[/{name}]:
 * {"name","version"|null,"state":"loaded"|"error","error":{"file","line","message"}|null,
 *  "loaded":bool,"reloads":N,"errors":N,"loadedAt":"…"|null,"errorAt":"…"|null} plus
 * "source" when source is non-NULL. "state" is "error" when the file on disk failed its last
 * compile, even if an older good version is still in use (then "loaded" is true and
 * "version" is that version's). */
struct mapping_info;
cJSON *check_info_json(const struct mapping_info *info, const char *source);

/* One data value in the DHIS2 JSON shape (fields absent when NULL). */
cJSON *check_datavalue_json(const struct datavalue *dv);

#endif
