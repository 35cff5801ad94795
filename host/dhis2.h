/* dhis2.h — the client for one DHIS2 instance's Web API, on libcurl.
 * Owns HTTP to DHIS2: authentication (Basic or `ApiToken`), TLS, timeouts, gzip, retries with
 * backoff, and reading and writing DHIS2's JSON (system info, the current user, metadata lists,
 * dataValueSets streamed in and posted out, import summaries). It never touches the database,
 * the mappings or the run's bookkeeping.
 *
 * Threads: a client owns one CURL handle (so connections and the DHIS2 session cookie are
 * reused from request to request) and must be used by one thread at a time; make one client
 * per worker. curl_global_init must have run before the first client is made (main does it).
 *
 * Errors name the instance, the URL (without its query) and the HTTP status, and say what to
 * check: "instance 'national': HTTP 401 from https://x/api/me — check the credentials".
 * Secrets never appear in messages or logs. */
#ifndef DHIS2SYNC_DHIS2_H
#define DHIS2SYNC_DHIS2_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "datavalue.h"
#include "err.h"

struct dhis2_config {
    const char *name;      /* the instance's name, for messages */
    const char *base_url;  /* https://host or https://host/context-path; trailing '/' is fine */
    const char *auth_type; /* "basic" or "pat" */
    const char *username;  /* basic only */
    const char *secret;    /* the password (basic) or the personal access token (pat) */
    const char *ca_file;   /* PEM bundle to trust instead of the system's; NULL = system CAs */
    long timeout_s;        /* a request's limit, also the longest stall in a transfer; 0 = 120 */
    int max_retries;       /* extra attempts after a network error, 5xx or 429; < 0 = 0 */
    long backoff_ms;       /* base of the exponential backoff (full jitter); 0 = 500 */
    /* > 0: instead of max_retries, network errors, refused or reset connections, 5xx (but 501)
     * and 429 are retried until this many seconds have passed since the first failure of the
     * outage; then the request fails with "instance 'x' unreachable for 10 min: …". */
    long retry_window_s;
    long backoff_max_ms;   /* the longest single backoff; 0 = 30 000 (a server's Retry-After is
                            * obeyed up to 10 min, and within the retry window) */
};

struct dhis2_client;

/* Copies cfg; checks the URL (http/https, no credentials in it) and the auth settings. */
struct dhis2_client *dhis2_client_new(const struct dhis2_config *cfg, struct err *e);
void dhis2_client_free(struct dhis2_client *c);
/* A cancellation hook, polled during transfers (about once a second), between retries and
 * while waiting out a backoff; when it returns non-zero the request stops with ERR_CANCELLED. */
void dhis2_client_set_cancel(struct dhis2_client *c, int (*should_stop)(void *ud), void *ud);
/* A hook told when the client starts waiting out an outage (since: when its first failed
 * attempt began, seconds since the epoch) and when the server answers again (since = 0). It is
 * called on the thread using the client, after the second failure in a row (one refused request
 * is not an outage worth showing). */
void dhis2_client_set_waiting(struct dhis2_client *c, void (*on_wait)(void *ud, long long since),
                              void *ud);
/* How many POSTs this client sent more than once because an attempt got no usable answer: a
 * lost answer may follow an import that took place, so the answer that counts describes a
 * second write of the same body. */
long dhis2_client_resent(const struct dhis2_client *c);
/* The normalised base URL (no trailing '/'). */
const char *dhis2_client_base_url(const struct dhis2_client *c);

/* ---- connection test ------------------------------------------------------------------- */

struct dhis2_system_info {
    char version[32];        /* "2.41.1" */
    int major, minor, patch; /* 2, 41, 1 (patch 0 when absent) */
    char revision[64];
    char server_date[40]; /* the server's clock, "2026-11-24T10:15:30.123": use for watermarks */
    char system_name[256];
    char context_path[512];
};
int dhis2_system_info(struct dhis2_client *c, struct dhis2_system_info *out, struct err *e);

struct dhis2_me {
    char id[16];
    char username[256];
    char name[256];
};
int dhis2_me(struct dhis2_client *c, struct dhis2_me *out, struct err *e);

/* ---- metadata ---------------------------------------------------------------------------- */

/* Called per item; item belongs to the page and is freed after the call. Return 0 to go on. */
typedef int (*dhis2_item_fn)(void *ud, const cJSON *item, struct err *e);
/* GET /api/<kind>?fields=…&filter=…, page after page (page_size items each) until the pager
 * says done; page_size 0 asks for everything at once (paging=false). filters: NULL-terminated
 * list of DHIS2 filters ("code:eq:X"), ANDed; may be NULL. fields NULL = DHIS2's default. */
int dhis2_list(struct dhis2_client *c, const char *kind, const char *fields,
               const char *const *filters, int page_size, dhis2_item_fn fn, void *ud,
               struct err *e);

/* The importStrategy values every DHIS2 import takes, NULL-terminated. */
extern const char *const dhis2_import_strategies[];

/* ---- any JSON resource (metadata, tracker) ------------------------------------------------- */

/* GET path?query (query URL-encoded already, NULL = none), expecting 200 with JSON, parsed into
 * *out (caller deletes). Retried as every request is. A 404 is ERR_NOT_FOUND. */
int dhis2_get(struct dhis2_client *c, const char *path, const char *query, cJSON **out,
              struct err *e);
/* POST a JSON body of len bytes to path?query (gzipped above 64 KB when may_gzip: only some
 * DHIS2 importers look for gzip's magic bytes). An answer of 2xx or 409 with a JSON body is an answer,
 * not an error: it is parsed into *out (caller deletes) and its status stored in *status.
 * Anything else (other statuses, no JSON) is an error that quotes the answer. Network errors,
 * 5xx and 429 are retried: post only what may safely arrive twice (an import by UID with
 * CREATE_AND_UPDATE or DELETE does). */
int dhis2_post(struct dhis2_client *c, const char *path, const char *query, const char *json,
               size_t len, bool may_gzip, long *status, cJSON **out, struct err *e);
/* Appends "name=value" (after a '&' when *q holds pairs already) to a query being built in *q
 * (malloc'd, grown; NULL to start), value URL-encoded; NULL or empty values are left out. -1 when out of memory (*q is still the
 * caller's to free). */
int dhis2_query_add(char **q, const char *name, const char *value);
/* An async import's task: polls /api/system/tasks/<job_type>/<job> until DHIS2 says it
 * completed, then reads /api/system/taskSummaries/<job_type>/<job> into *summary (caller
 * deletes). Gives up after timeout_s, since a task DHIS2 forgot in a restart may answer as
 * running forever; a 404 says DHIS2 lost it. */
int dhis2_await_task(struct dhis2_client *c, const char *job_type, const char *job,
                     long timeout_s, cJSON **summary, struct err *e);
/* Sleeps ms, or less if the run must stop (the cancel hook): false when it must. */
bool dhis2_wait(struct dhis2_client *c, long ms);

/* ---- reading data values --------------------------------------------------------------- */

/* Lists are NULL-terminated; NULL = none. */
struct dhis2_dv_query {
    const char *const *data_sets;
    const char *const *data_element_groups;
    const char *const *org_units;
    bool children;                     /* the org units' whole subtrees */
    const char *const *periods;        /* ISO periods, or: */
    const char *start_date, *end_date; /* yyyy-MM-dd: periods wholly inside */
    const char *last_updated; /* only values updated at or after this (date or timestamp) */
    bool include_deleted;
    const char *id_scheme; /* NULL = UID; also the three below */
    const char *data_element_id_scheme, *org_unit_id_scheme, *category_option_combo_id_scheme;
    size_t batch; /* values per callback; 0 = 1000 */
};

/* Called with up to batch values whose strings live until the call returns (copy what you
 * keep). Return 0 to go on, negative (filling e) to stop the transfer with that error. */
typedef int (*dhis2_values_fn)(void *ud, const struct datavalue *vals, size_t n, struct err *e);

struct dhis2_fetch_stats {
    size_t values;
    size_t bytes;      /* of JSON after gzip decoding */
    size_t peak_bytes; /* the most memory the splitter held at once */
};

/* GET /api/dataValueSets for q, streamed: values reach fn in batches as the bytes arrive, in
 * bounded memory whatever the size. A value's missing org unit / period comes from the response
 * root (2.43), else from q when it names exactly one org unit (without children) / one period.
 * Attempts that fail before any value was delivered are retried; once values have reached fn a
 * failure is returned, since a retry would deliver them twice. stats may be NULL. */
int dhis2_fetch_datavalues(struct dhis2_client *c, const struct dhis2_dv_query *q,
                           dhis2_values_fn fn, void *ud, struct dhis2_fetch_stats *stats,
                           struct err *e);

/* ---- writing data values --------------------------------------------------------------- */

struct dhis2_import_options {
    const char *import_strategy; /* CREATE_AND_UPDATE (NULL) | CREATE | UPDATE | DELETE */
    bool dry_run;
    const char *id_scheme; /* NULL = UID; also the three below */
    const char *data_element_id_scheme, *org_unit_id_scheme, *category_option_combo_id_scheme;
    bool skip_existing_check; /* faster, for values known to be new */
    bool skip_audit;
    bool async;   /* async=true, then poll the task until its summary is ready */
    long async_timeout_s; /* async: the chunk fails when the task has not finished by then
                           * (DHIS2 may have lost it in a restart); 0 = 1800 */
    bool no_gzip; /* never compress the body (gzip is used above 64 KB) */
};

struct dhis2_conflict {
    char *object;     /* the id concerned */
    char *objects;    /* the "objects" map as compact JSON (2.38+), or NULL */
    char *value;      /* DHIS2's message */
    char *error_code; /* "E7610"…, or NULL (2.37 and older) */
    char *property;   /* the data value's field ("dataElement", "orgUnit", ...), or NULL */
    size_t *indexes;  /* 0-based positions in the posted array */
    size_t n_indexes;
};

enum dhis2_import_status { DHIS2_IMPORT_SUCCESS, DHIS2_IMPORT_WARNING, DHIS2_IMPORT_ERROR };

struct dhis2_import_summary {
    enum dhis2_import_status status; /* from the body: 2.43 says WARNING with HTTP 200 */
    char status_text[16];            /* as DHIS2 wrote it ("SUCCESS", "OK", "WARNING"...) */
    char description[256];
    long imported, updated, ignored, deleted;
    struct dhis2_conflict *conflicts;
    size_t n_conflicts;
    size_t *rejected_indexes;
    size_t n_rejected;
    long http_status; /* of the answer the summary came from */
    int attempts;     /* POSTs made, 1 + retries */
};
void dhis2_import_summary_free(struct dhis2_import_summary *s);

/* POST /api/dataValueSets {"dataValues":[…]} of n values with opt (NULL = defaults), and reads
 * the import summary into out (2.38+ WebMessage-wrapped, or 2.37's bare ImportSummary, whatever
 * the HTTP status: 409 carries one and is not retried). Returns 0 whenever a summary was read,
 * whatever its status; check out->status and the conflicts. Fields sent: dataElement, period,
 * orgUnit, categoryOptionCombo and attributeOptionCombo (left out when NULL = default), value,
 * comment and storedBy when not NULL, followup and deleted only when true; created and
 * lastUpdated are not sent (DHIS2 ignores them).
 *
 * Retries: network errors, 5xx and 429 (after Retry-After) are retried with exponential backoff
 * and full jitter, up to max_retries or for the retry window. That is safe because
 * CREATE_AND_UPDATE is idempotent, but if a failed attempt did reach the server, the counts of
 * the attempt that answers describe the second write: values the first attempt imported show as
 * `ignored` (or `updated`), not `imported`. out->attempts > 1 tells the caller this may have
 * happened. */
int dhis2_post_datavalues(struct dhis2_client *c, const struct datavalue *vals, size_t n,
                          const struct dhis2_import_options *opt, struct dhis2_import_summary *out,
                          struct err *e);

/* Serialises values as the body posted above ({"dataValues":[…]}); malloc'd, *len set.
 * Exposed for tests and for `dhis2sync check` output. */
char *dhis2_datavalues_json(const struct datavalue *vals, size_t n, size_t *len);
/* Reads an import summary from a response body (either shape). Exposed for tests. */
int dhis2_parse_import_summary(const char *body, struct dhis2_import_summary *out, struct err *e);

#endif
