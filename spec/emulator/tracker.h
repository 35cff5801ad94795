/* tracker.h — tracker data inside the emulator, shared by tracker*.c only: the program
 * metadata an import checks against (read from the metadata collections), and the store of
 * tracked entities, enrollments and events. Objects are compact structs addressed by index;
 * uids live in fixed chunks so that the uid maps can borrow them, texts in an arena, so a
 * million events cost about 200 MB and no cJSON tree. One rwlock guards everything. */
#ifndef DHIS2SYNC_EMU_TRACKER_H
#define DHIS2SYNC_EMU_TRACKER_H

#include "emu.h"

enum tk_type { TK_TE, TK_ENR, TK_EV, TK_TYPES };
/* DHIS2's TrackerType names, in the order of enum tk_type. */
extern const char *const tk_type_names[TK_TYPES];

enum { TK_NONE = -1, TK_UID_CHUNK = 4096 };
#define TK_NULL_TIME INT64_MIN

struct tk_uids {
    char (**chunks)[12];
    size_t n, n_chunks;
    struct strmap map;
};

struct tk_program {
    const char *uid;
    bool registration;
    int tet;
    int *stages, n_stages;
    uint8_t *ou_bits; /* assigned org units; NULL when the program names none */
};
struct tk_stage {
    const char *uid;
    int program;
    int *des, n_des; /* md->de indexes */
};
struct tk_attribute {
    const char *uid;
    enum value_type vt;
    const char *vt_name; /* as the metadata spells it */
    int option_set;
};
struct tk_option_set {
    const char *uid;
    struct strmap codes;
};
struct tk_md {
    struct tk_program *pr; int n_pr;
    struct tk_stage *ps; int n_ps;
    const char **tet; int n_tet;
    struct tk_attribute *tea; int n_tea;
    struct tk_option_set *os; int n_os;
    struct strmap pr_map, ps_map, tet_map, tea_map, os_map;
    struct arena names;      /* every name above: the index owns its copies */
    int *de_option_set;      /* per md->de, -1 for none */
    const char **de_vt_name; /* per md->de, as the metadata spells it */
};

/* A data value of an event (id = md->de index) or an attribute of a tracked entity (id = tea
 * index). */
struct tk_value {
    int32_t id;
    bool provided_elsewhere;
    const char *value;
    int64_t created, updated;
};
struct tk_te {
    int32_t tet, ou, first_enr;
    uint32_t val_first;
    uint16_t n_val;
    bool deleted, inactive;
    int64_t created, updated;
};
enum tk_enr_status { ENR_ACTIVE, ENR_COMPLETED, ENR_CANCELLED, ENR_STATUSES };
struct tk_enr {
    int32_t program, te, ou, next_in_te, first_ev;
    uint8_t status;
    bool deleted, follow_up;
    int64_t enrolled, occurred, created, updated;
    const char *stored_by, *notes;
};
enum tk_ev_status { EV_ACTIVE, EV_COMPLETED, EV_VISITED, EV_SCHEDULE, EV_OVERDUE, EV_SKIPPED, EV_STATUSES };
struct tk_ev {
    int32_t program, stage, ou, enr, next_in_enr;
    uint32_t val_first;
    uint16_t n_val;
    uint8_t status;
    bool deleted, follow_up;
    int64_t occurred, scheduled, created, updated, completed;
    const char *stored_by, *completed_by, *notes; /* notes: a JSON array text, NULL = [] */
};
extern const char *const tk_enr_status_names[ENR_STATUSES];
extern const char *const tk_ev_status_names[EV_STATUSES];

struct tk_store {
    pthread_rwlock_t lock;
    struct tk_md md;
    struct tk_uids uids[TK_TYPES];
    struct tk_te *te; size_t n_te, cap_te;
    struct tk_enr *enr; size_t n_enr, cap_enr;
    struct tk_ev *ev; size_t n_ev, cap_ev;
    /* An update appends a new run of values and leaves the old one behind, as store.c does
     * with texts. */
    struct tk_value *val; size_t n_val, cap_val;
    struct arena text;
    /* The sorted matches of the last list query, so that paging through it sorts once (DHIS2
     * has indexes); every write bumps version, which makes it stale. */
    uint64_t version;
    pthread_mutex_t cache_mu;
    char *cache_key;
    uint64_t cache_version;
    int32_t *cache_hits;
    size_t cache_n;
    struct strmap who_map; /* storedBy names -> who[] */
    const char **who;
    size_t n_who, cap_who;
};

/* tracker.c */
const char *tk_uid(const struct tk_uids *u, int32_t i);
int32_t tk_find(const struct tk_store *s, enum tk_type t, const char *uid); /* -1 when absent */
/* Appends a zeroed object of type t with this uid; its index, or -1 out of memory. */
int32_t tk_add(struct tk_store *s, enum tk_type t, const char *uid);
/* Room for n values at the end of s->val; the index of the first, or -1 out of memory. */
int64_t tk_values_reserve(struct tk_store *s, size_t n);
const char *tk_text(struct tk_store *s, const char *t); /* arena copy; NULL stays NULL */
const char *tk_who(struct tk_store *s, const char *name); /* interned */
int tk_status_find(const char *const *names, int n, const char *s); /* -1 when unknown */
/* Sends b's text as a 200 JSON answer (with a Location header unless NULL); 500 when b ran
 * out of memory. */
int tk_send(struct request *r, struct buf *b, const char *location);
bool tk_ou_assigned(const struct tk_program *p, int ou);
/* Server-local time as DHIS2 writes tracker timestamps (no offset), and the reverse: a string
 * without an offset is read as server-local time. */
void tk_time_write(struct buf *b, int64_t ms);
int64_t tk_local_offset(int64_t utc_ms); /* the server zone's offset from UTC then, in ms */
int tk_time_parse(const char *s, int64_t *ms);
/* tracker_import.c: joins the async import threads and frees their jobs */
void tracker_jobs_free(struct emu *emu);
/* tracker_gen.c */
int tracker_generate_data(struct emu *emu, struct tk_store *s, struct err *e);

#endif
