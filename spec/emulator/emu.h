/* emu.h — the DHIS2 emulator's internal contract: metadata model, value store, output buffer,
 * fault state, async jobs, and the HTTP glue the handlers share. Test tooling only: nothing in
 * host/ includes this. Metadata (changed by POST /api/metadata) and values live behind one
 * read-write lock, the store's: readers of either take it for reading. */
#ifndef DHIS2SYNC_EMU_H
#define DHIS2SYNC_EMU_H

#include <cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datavalue.h"
#include "err.h"
#include "period.h"

/* ---- strmap.c: string -> int32 hash map (keys are borrowed, never copied) ---- */
struct strmap {
    const char **keys;
    int32_t *vals;
    size_t cap, n; /* cap is a power of two */
};
int strmap_put(struct strmap *m, const char *key, int32_t val); /* 0, or -1 out of memory */
int32_t strmap_get(const struct strmap *m, const char *key);      /* -1 when absent */
void strmap_free(struct strmap *m);

/* ---- json_out.c: a growable text buffer that writes JSON pieces fast ---- */
struct buf {
    char *data;
    size_t len, cap;
    bool oom; /* an allocation failed: the content is incomplete */
};
void buf_put(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal with escapes, or `null` for NULL. */
void buf_json_str(struct buf *b, const char *s);
/* `"key":` */
void buf_key(struct buf *b, const char *key);
/* A timestamp as DHIS2 writes data values: 2024-02-03T10:11:12.000+0000 (with_zone) or
 * as WebMessages do: 2024-02-03T10:11:12.000. */
void buf_timestamp(struct buf *b, int64_t ms, bool with_zone);
char *buf_take(struct buf *b); /* the NUL-terminated text (caller frees), or NULL after OOM */
void buf_free(struct buf *b);
int64_t now_ms(void);
/* Parses yyyy-MM-dd[THH:mm[:ss[.SSS]]][Z|+hhmm|+hh:mm] into ms since the epoch (UTC). */
int timestamp_parse(const char *s, int64_t *ms);

/* ---- metadata.c ---- */
enum value_type {
    VT_TEXT, VT_LONG_TEXT, VT_LETTER, VT_NUMBER, VT_INTEGER, VT_INTEGER_POSITIVE,
    VT_INTEGER_NEGATIVE, VT_INTEGER_ZERO_OR_POSITIVE, VT_PERCENTAGE, VT_UNIT_INTERVAL,
    VT_BOOLEAN, VT_TRUE_ONLY, VT_DATE, VT_DATETIME, VT_AGE, VT_FILE_RESOURCE,
    VT_ORGANISATION_UNIT, VT_OTHER,
};
enum id_scheme { SCHEME_UID, SCHEME_CODE, SCHEME_NAME };

struct md_ident {
    const char *uid, *code, *name; /* borrowed from the cJSON tree; code/name may be NULL */
};
struct md_de {
    struct md_ident id;
    enum value_type vt;
    bool zero_significant;
    int cc;
    int *ds; /* data sets holding it */
    int n_ds;
};
struct md_coc {
    struct md_ident id;
    int cc;
};
struct md_cc {
    struct md_ident id;
    int *cocs;
    int n_cocs;
};
struct md_ou {
    struct md_ident id;
    int parent, level;
    char *path;     /* owned */
    int pre, last;  /* DFS order: the subtree is every ou whose pre is in [pre, last] */
};
struct md_ds {
    struct md_ident id;
    enum period_type pt;
    int cc;
    int *des, n_des;
    uint8_t *ou_bits; /* assigned org units, a bit per ou */
};
struct md_deg {
    struct md_ident id;
    int *des, n_des;
};

/* One metadata collection served under /api/<name> (every array in metadata.json). */
struct md_collection {
    char *name;       /* "dataElements" */
    char *klass;      /* "DataElement", for 404 messages */
    cJSON *items;     /* the array, owned by metadata.root */
    cJSON **at;       /* its objects by position (cJSON arrays are lists) */
    struct strmap by_uid;
};

enum md_kind { MD_DE, MD_COC, MD_OU, MD_DS, MD_DEG, MD_CC, MD_KINDS };

struct metadata {
    cJSON *root; /* owned */
    struct md_collection *cols;
    int n_cols;
    struct md_de *de; int n_de;
    struct md_coc *coc; int n_coc;
    struct md_cc *cc; int n_cc;
    struct md_ou *ou; int n_ou;
    int *ou_by_pre; /* ou index for each DFS position */
    struct md_ds *ds; int n_ds;
    struct md_deg *deg; int n_deg;
    struct strmap map[MD_KINDS][3]; /* by kind and id scheme */
    int default_cc, default_coc;
    int root_ou; /* the first root, for /api/me */
};
/* Takes ownership of root (a /api/metadata export), fills the typed indexes, and adds what an
 * export leaves out but the API shows (ou path/level, combo option-combo lists, created and
 * lastUpdated, DHIS2's built-in defaults). */
int metadata_load(struct metadata *md, cJSON *root, struct err *e);
/* Rebuilds every index from md->root after the tree changed (an import). */
int metadata_reload(struct metadata *md, struct err *e);
void metadata_free(struct metadata *md);
int metadata_find(const struct metadata *md, enum md_kind kind, enum id_scheme scheme, const char *id);
const char *metadata_id(const struct md_ident *id, enum id_scheme scheme);
enum value_type value_type_from_name(const char *s);
/* "UID", "CODE", "NAME" (any case); dflt when s is NULL or empty. */
enum id_scheme scheme_from_name(const char *s, enum id_scheme dflt);
struct md_collection *metadata_collection(struct metadata *md, const char *name);

/* fields=id,name,categoryCombo[id],!x and filter=path:op:value, as the lists read them. */
struct field {
    char *name;
    struct field *children; /* NULL = take the value as it is */
    int n_children;
    bool exclude;
};
int md_fields_parse(const char **s, struct field **out, int *n_out);
void md_fields_free(struct field *f, int n);
cJSON *md_apply_fields(const cJSON *obj, const struct field *f, int n);
struct filter {
    char *path; /* dotted property path */
    char op[12];
    char *value;
};
int md_filter_parse(const char *s, struct filter *f);
bool md_op_known(const char *op);
bool md_filter_match(const cJSON *obj, const struct filter *f);

/* ---- mdtypes.c: what the emulator knows of each metadata type ---- */
struct md_ref {
    const char *prop;   /* "categoryCombo", or a list "categoryOptions" */
    const char *target; /* the collection it points into */
    bool many;
    const char *inner;  /* list of embedded objects: the reference inside each ("dataElement") */
};
struct md_type {
    const char *col, *klass, *package; /* "dataElements", "DataElement", "org.hisp.dhis.dataelement" */
    const char *required[6];
    const char *unique[4];
    struct md_ref refs[6];
    const char *computed[2]; /* keys the emulator adds that fields=:owner leaves out */
};
/* The type of a collection; NULL for one the emulator stores without checks. */
const struct md_type *md_type_of(const char *col);
/* Import order (dependencies first): the rank of a collection, unknown ones last. */
int md_type_rank(const char *col);
/* "org.hisp.dhis.dataelement.DataElement"; unknown collections get a made-up package. */
void md_full_klass(const char *col, char *out, size_t n);
void md_short_klass(const char *col, char *out, size_t n);
/* DHIS2's well-known ids of the built-in defaults. */
#define MD_DEFAULT_CATEGORY "GLevLNI9wkl"
#define MD_DEFAULT_OPTION "xYerKDKCefk"
#define MD_DEFAULT_COMBO "bjDvmb4bfuf"
#define MD_DEFAULT_COC "HllvX50cXC0"
bool md_valid_uid(const char *s);
/* ---- store.c: data values ---- */
struct dv {
    int32_t de, pe, ou, coc, aoc;
    bool followup, deleted;
    const char *value, *comment; /* in the store's text arena, may be NULL */
    const char *stored_by;  /* interned in the store */
    int64_t created, updated; /* ms since the epoch */
};
struct dv_key {
    int32_t de, pe, ou, coc, aoc;
};
struct ou_list {
    uint32_t *ids;
    uint32_t n, cap;
};
struct store {
    pthread_rwlock_t lock;
    struct dv *v;
    size_t n, cap;
    uint32_t *slots; /* open addressing on the key: value index + 1, 0 = empty */
    size_t n_slots;
    struct ou_list *by_ou; /* value ids per org unit */
    int n_ou;
    struct period *pe;     /* interned periods */
    char (*pe_iso)[PERIOD_ISO_MAX];
    int n_pe, cap_pe;
    struct strmap pe_map;  /* canonical and raw ISO strings -> period index */
    char **aliases; int n_aliases, cap_aliases; /* raw spellings kept alive for pe_map */
    struct strmap who_map; /* storedBy interning */
    char **who; int n_who, cap_who;
    /* Value and comment texts. Never freed one by one: an update leaves the old text behind,
     * which costs little next to a malloc and a free per value on the import path. */
    struct arena text;
};
int store_init(struct store *s, int n_ou, struct err *e);
void store_free(struct store *s);
/* Index of the period spelled iso (interning it), or -1 if it is not a valid period. Needs the
 * write lock (or no concurrency yet). */
int store_period(struct store *s, const char *iso);
/* Lookup only, for readers holding the read lock: -1 when unknown or invalid. */
int store_period_find(const struct store *s, const char *iso);
const char *store_who(struct store *s, const char *name); /* interned copy, NULL on OOM */
int64_t store_find(const struct store *s, const struct dv_key *k); /* value index or -1 */
/* A copy of t in the text arena (NULL stays NULL); *oom is set when memory ran out. */
const char *store_text(struct store *s, const char *t, bool *oom);
/* Makes room for `more` values so that a batch does not rehash halfway. 0 or -1. */
int store_reserve(struct store *s, size_t more);
/* Appends a new value (its key must be absent); value/comment must come from store_text. */
int store_add(struct store *s, const struct dv *v);
struct dv_format {
    enum id_scheme de, ou, coc, aoc;
    bool with_ou; /* false when 2.43 puts a single orgUnit at the root */
};
/* After metadata_reload: each value's data element, org unit and option combos through
 * old -> new index maps (every referenced index must map, -1 never), and room for n_ou units. */
int store_remap(struct store *s, const int *de, const int *ou, const int *coc, int n_ou);
/* Appends one value as /api/dataValueSets writes it. */
void store_write_value(struct buf *b, const struct store *s, const struct metadata *md,
                       const struct dv *v, const struct dv_format *f);
/* The same as one CSV row (the dataValueSets CSV columns), newline included. */
void store_write_value_csv(struct buf *b, const struct store *s, const struct metadata *md,
                           const struct dv *v, const struct dv_format *f);
int store_load_file(struct store *s, const struct metadata *md, const char *path, struct err *e);
int store_save_file(struct store *s, const struct metadata *md, const char *path, struct err *e);

/* ---- faults.c ---- */
enum fault_action { FAULT_NONE, FAULT_STATUS, FAULT_DROP, FAULT_HANG, FAULT_DOWN };
struct faults {
    pthread_mutex_t mu;
    double fail_rate;     /* share of requests answered fail_status */
    int fail_next;        /* the next N requests answer fail_status */
    int fail_status;      /* 500, 502 or 503 */
    bool import_only;     /* only POST /api/dataValueSets is affected */
    int delay_ms;         /* every request waits this long first */
    int drop_next;        /* the next N responses are cut mid-body */
    double drop_rate;     /* share of responses cut mid-body (after an import took effect) */
    long long down_until_ms; /* monotonic: until then every connection is closed unanswered */
    int hang_next;        /* the next N requests never get an answer */
    int lose_tasks;       /* async import tasks are lost: 404 answers 404 for them, 200
                           * answers as if they never finished; 0 = off */
    char **conflict_ids;  /* ids an import refuses as if unknown */
    int n_conflict_ids;
    uint64_t rng;
};
void faults_init(struct faults *f);
void faults_free(struct faults *f);
/* Applies a JSON object (the /emulator/faults body) or a CLI flag; 0 or -1 with e set. */
int faults_apply_json(struct faults *f, const cJSON *o, struct err *e);
char *faults_to_json(struct faults *f);
/* Decides what happens to this request; *delay_ms gets the delay to apply first. */
enum fault_action faults_decide(struct faults *f, bool is_import, int *status, int *delay_ms);
bool faults_conflict_id(struct faults *f, const char *id);
/* The lose_tasks setting: 0, 200 or 404. */
int faults_lose_tasks(struct faults *f);

/* ---- the emulator as a whole ---- */
struct emu_config {
    int port;
    const char *data_dir;
    char version[32];
    int major, minor; /* 2.41.0 -> 2, 41 */
    char user[128], password[128];
    const char *pat;
    bool save;
    long gen_values, gen_orgunits;
    uint64_t gen_seed;
    bool generate;
    long gen_events, gen_tracked_entities; /* tracker data (tracker_gen.c); -1 = not asked */
    const char *timezone;                  /* --timezone: serverTimeZoneId, tracker times */
    long gen_objects; /* --generate objects=N: extra data elements up to N metadata objects */
};

struct job; /* tasks.c */
struct tk_store; /* tracker.h */
struct tk_job;   /* tracker_import.c */
struct emu {
    struct emu_config cfg;
    struct metadata md;
    struct store st;
    struct faults faults;
    pthread_mutex_t jobs_mu;
    struct job *jobs;
    struct tk_store *tk;
    struct tk_job *tk_jobs; /* under jobs_mu */
    atomic_long requests, imports;
    cJSON *deleted; /* /api/deletedObjects: {klass, uid, code, deletedAt}, oldest first */
    bool metadata_changed; /* an import changed it: --save writes it back */
    char system_id[40];
    int64_t started_ms;
};

/* ---- generate.c ---- */
/* Builds metadata and values from --generate values=N,orgunits=M,seed=S. */
int generate_metadata(struct emu_config *cfg, cJSON **out, struct err *e);
int generate_values(struct emu *emu, struct err *e);

/* ---- tracker*.c: programs, tracked entities, enrollments, events (/api/tracker) ---- */
struct request;
/* Adds event and tracker programs, their stages, data elements, tracked entity type and
 * attributes and option sets to a generated metadata export, when --generate asks for events
 * or trackedEntities. */
int tracker_generate_metadata(const struct emu_config *cfg, cJSON *root, struct err *e);
/* Indexes the programs of emu->md and makes the generated tracker data, if any. */
int tracker_init(struct emu *emu, struct err *e);
void tracker_free(struct emu *emu);
/* To call after a metadata import rebuilt emu->md, with the store lock held for writing:
 * re-reads the programs and moves stored tracker objects to the new indexes (de_map and ou_map
 * give the new index of each old data element and org unit). 0, or -1 out of memory. */
int tracker_metadata_reloaded(struct emu *emu, const int *de_map, const int *ou_map);
int api_tracker_get(struct request *r);  /* tracker_export.c: tracker/events, trackedEntities, enrollments */
int api_tracker_post(struct request *r); /* tracker_import.c: POST tracker */
int api_tracker_jobs(struct request *r); /* tracker_import.c: tracker/jobs/<id>[/report] */
/* GET /emulator/tracker/digest: counts and a hash of every object, to compare two emulators. */
int emulator_tracker_digest(struct request *r);

/* ---- http glue (http.c) ---- */
struct MHD_Connection;
struct param {
    const char *key, *value;
};
struct request {
    struct emu *emu;
    struct MHD_Connection *conn;
    const char *method, *url;
    const char *path;    /* after /api/ or /api/NN/, without a .json suffix */
    bool csv;            /* path ended in .csv or the body is CSV */
    int api_version;     /* NN of /api/NN/, 0 when unversioned */
    struct param *params;
    int n_params;
    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    bool fault_drop; /* cut this response halfway */
    bool hung;       /* suspended by the hang fault */
};
const char *req_param(const struct request *r, const char *key);
const char *req_header(const struct request *r, const char *name);
bool req_flag(const struct request *r, const char *key, bool dflt);
/* Sends text (takes ownership of body). Returns the MHD result as an int. */
int http_send(struct request *r, int status, const char *content_type, char *body, size_t len);
int http_send_json(struct request *r, int status, cJSON *json); /* deletes json */
/* A WebMessage: {"httpStatus","httpStatusCode","status","message"[,"errorCode"]}. */
int http_webmessage(struct request *r, int status, const char *wm_status, const char *message,
                    const char *error_code);
const char *http_status_text(int status);

/* Handlers (one file each). Each returns the MHD result of queueing its response. */
int api_metadata(struct request *r);    /* metadata.c: lists, single objects */
int api_system(struct request *r);      /* system.c: system/info, me */
int api_dvs_get(struct request *r);     /* query.c */
int api_dvs_post(struct request *r);    /* import.c */
int api_tasks(struct request *r);       /* tasks.c */
int api_md_export(struct request *r);   /* mdexport.c: GET /api/metadata */
int api_deleted_objects(struct request *r); /* mdexport.c: GET /api/deletedObjects */
int api_md_import(struct request *r);   /* mdimport.c: POST /api/metadata */
int api_md_delete(struct request *r);   /* mdimport.c: DELETE /api/<collection>/<id> */

/* ---- dvs_json.c: a posted data value set, flat; strings live in the arena ---- */
struct dvs_in_value {
    const char *de, *pe, *ou, *coc, *aoc, *value, *comment, *stored_by;
    signed char followup; /* -1 = not given */
    bool deleted;
};
struct dvs_in {
    struct arena arena;
    struct dvs_in_value *v;
    size_t n, cap;
    const char *data_set, *complete_date, *period, *org_unit, *aoc, *strategy_name;
    int id_scheme, de_scheme, ou_scheme, ds_scheme; /* -1 = not given in the body */
    int dry_run;                                    /* -1 = not given in the body */
};
/* A new zeroed record at the end (NULL when out of memory). */
struct dvs_in_value *dvs_in_push(struct dvs_in *in);
/* Reads a JSON body; 0, or -1 with err set ("Unexpected character at offset N"). */
int dvs_json_read(struct dvs_in *in, const char *body, size_t len, char *err, size_t err_size);

/* ---- import.c / tasks.c shared ---- */
enum import_strategy { STRATEGY_CREATE_AND_UPDATE, STRATEGY_CREATE, STRATEGY_UPDATE, STRATEGY_DELETE };
struct import_opts {
    enum import_strategy strategy;
    bool dry_run, async, skip_existing_check, skip_audit, force, first_row_is_header;
    bool preheat_cache, preheat_cache_set;
    bool strict_periods, strict_data_elements, strict_cocs, strict_aocs, strict_org_units;
    bool require_coc, require_aoc;
    /* id schemes: -1 = not given */
    int id_scheme, de_scheme, ou_scheme, coc_scheme, ds_scheme;
    char user[128];
};
enum import_status { IMPORT_SUCCESS, IMPORT_WARNING, IMPORT_ERROR };
struct import_totals {
    long imported, updated, ignored, deleted, conflicts;
    enum import_status status;
};
/* Reads the query parameters; 0, or -1 with a message for a bad importStrategy. */
int import_opts_parse(const struct request *r, struct import_opts *o, char *msg, size_t n);
/* Imports a body (JSON, gzip-compressed JSON, or CSV) and returns the ImportSummary object as
 * JSON text (caller frees; NULL when out of memory), in the form the server version writes. */
char *import_execute(struct emu *emu, const char *body, size_t len, bool csv,
                     const struct import_opts *o, int api_version, struct import_totals *t);
/* The i18n key of the first value-type rule v breaks (dhis2-core ValidationUtils.valueIsValid),
 * or NULL when it is valid. */
const char *value_problem(const char *v, enum value_type vt);
/* A gzip body inflated (NUL-terminated, *out_len set; caller frees), or NULL when it cannot be
 * read. DHIS2 takes gzip on its import endpoints whatever the Content-Encoding says. */
char *gunzip(const char *in, size_t len, size_t *out_len);
/* Whether a body starts with gzip's magic bytes. */
#define IS_GZIP(body, len) ((len) >= 2 && (unsigned char)(body)[0] == 0x1f && (unsigned char)(body)[1] == 0x8b)
/* POST /api/metadata's options (mdimport.c). */
enum md_report_mode { MD_REPORT_ERRORS, MD_REPORT_FULL, MD_REPORT_DEBUG };
struct md_import_opts {
    enum import_strategy strategy;
    bool atomic_all, validate, merge, skip_sharing, async;
    enum md_report_mode report;
    int api_version;
};
/* Imports a /api/metadata payload under the write lock and returns the ImportReport (caller
 * frees; NULL when out of memory); *status gets OK, WARNING or ERROR as in the report. */
cJSON *md_import_execute(struct emu *emu, const char *body, size_t len,
                         const struct md_import_opts *o, enum import_status *status);
/* tasks.c: runs an import in the background; takes ownership of body. md is NULL for a data
 * value import, the options of a metadata import otherwise. */
int tasks_start(struct request *r, char *body, size_t len, bool csv, const struct import_opts *o,
                const struct md_import_opts *md);
void tasks_free(struct emu *emu);
/* A DHIS2-shaped UID from a counter and the clock: unique within this process. */
void make_uid(char out[12]);

#endif
