#include "runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

int run_enqueue(PGconn *c, long long job_id, int dry_run, bool full, const char *trigger,
                const char *claim_by, long long *run_id, struct err *e)
{
    char job[24];
    snprintf(job, sizeof job, "%lld", job_id);
    const char *params[] = {job, dry_run < 0 ? NULL : dry_run ? "t" : "f", full ? "t" : "f", trigger,
                            claim_by};
    PGresult *r = db_query(c,
                           "INSERT INTO runs (job_id, dry_run, full_run, trigger, status, worker,"
                           "                  started_at, heartbeat_at)"
                           " SELECT id, coalesce($2::boolean,"
                           "   (spec->'importOptions'->>'dryRun')::boolean, false), $3, $4,"
                           "   CASE WHEN $5::text IS NULL THEN 'queued' ELSE 'running' END, $5,"
                           "   CASE WHEN $5::text IS NULL THEN NULL ELSE now() END,"
                           "   CASE WHEN $5::text IS NULL THEN NULL ELSE now() END"
                           " FROM jobs WHERE id = $1 RETURNING id",
                           5, params, e);
    if (!r) {
        if (e->code == ERR_CONFLICT)
            err_set(e, ERR_CONFLICT, "the job already has a run queued or running");
        return e->code;
    }
    int rc = 0;
    if (PQntuples(r) == 1)
        *run_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = err_set(e, ERR_NOT_FOUND, "no job with id %lld", job_id);
    PQclear(r);
    return rc;
}

int run_claim(PGconn *c, const char *worker, long long *run_id, struct err *e)
{
    const char *params[] = {worker};
    PGresult *r = db_query(c,
                           "UPDATE runs SET status = 'running', worker = $1, started_at = now(),"
                           " heartbeat_at = now()"
                           " WHERE id = (SELECT id FROM runs WHERE status = 'queued'"
                           "   ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1)"
                           " RETURNING id",
                           1, params, e);
    if (!r)
        return e->code;
    *run_id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

cJSON *run_counts_json(const struct run_counts *k)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const struct { const char *name; long long v; } fields[] = {
        {"fetched", k->fetched}, {"mapped", k->mapped}, {"skipped", k->skipped},
        {"errors", k->errors}, {"sent", k->sent}, {"imported", k->imported},
        {"updated", k->updated}, {"ignored", k->ignored}, {"deleted", k->deleted},
        {"conflicts", k->conflicts}, {"refused", k->refused},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!cJSON_AddNumberToObject(o, fields[i].name, (double)fields[i].v)) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

static char *counts_text(const struct run_counts *counts)
{
    cJSON *o = run_counts_json(counts);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

int run_progress(PGconn *c, long long run_id, const char *worker, long long done,
                 long long total, const struct run_counts *counts, bool *cancel, struct err *e)
{
    char id[24], d[24], t[24];
    snprintf(id, sizeof id, "%lld", run_id);
    snprintf(d, sizeof d, "%lld", done);
    snprintf(t, sizeof t, "%lld", total);
    char *k = counts_text(counts);
    if (!k)
        return err_set(e, ERR_INTERNAL, "out of memory");
    const char *params[] = {id, d, total >= 0 ? t : NULL, k, worker};
    PGresult *r = db_query(c,
                           "UPDATE runs SET progress_done = $2, progress_total = $3, counts = $4::jsonb,"
                           " heartbeat_at = now() WHERE id = $1 AND status = 'running' AND worker = $5"
                           " RETURNING cancel_requested",
                           5, params, e);
    free(k);
    if (!r)
        return e->code;
    int rc = 0;
    if (PQntuples(r) != 1)
        rc = err_set(e, ERR_CONFLICT, "run %lld is no longer this process's: another one marked it "
                     "interrupted after a silence", run_id);
    else if (cancel)
        *cancel = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return rc;
}

int run_set_waiting(PGconn *c, long long run_id, const char *worker, const char *waiting_for,
                    long long since, struct err *e)
{
    char id[24], at[24];
    snprintf(id, sizeof id, "%lld", run_id);
    snprintf(at, sizeof at, "%lld", since);
    const char *params[] = {id, worker, waiting_for, waiting_for ? at : NULL};
    return db_exec(c,
                   "UPDATE runs SET waiting_for = $3, waiting_since = to_timestamp($4::bigint)"
                   " WHERE id = $1 AND status = 'running' AND worker = $2",
                   4, params, e);
}

int run_set_info(PGconn *c, long long run_id, const char *mapping_version,
                 const char *watermark_from, const char *watermark_to, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    const char *params[] = {id, mapping_version, watermark_from, watermark_to};
    return db_exec(c,
                   "UPDATE runs SET mapping_version = $2, watermark_from = $3, watermark_to = $4"
                   " WHERE id = $1",
                   4, params, e);
}

int run_add_warning(PGconn *c, long long run_id, const char *warning, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    const char *params[] = {id, warning};
    return db_exec(c, "UPDATE runs SET warnings = warnings || to_jsonb($2::text) WHERE id = $1", 2,
                   params, e);
}

int run_finish(PGconn *c, long long run_id, const char *worker, const char *status,
               const struct run_counts *counts, const char *error, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    char *k = counts_text(counts);
    if (!k)
        return err_set(e, ERR_INTERNAL, "out of memory");
    const char *params[] = {id, status, k, error, worker};
    PGresult *r = db_query(c,
                           "UPDATE runs SET status = $2, counts = $3::jsonb, error = $4,"
                           " finished_at = now(), heartbeat_at = now()"
                           " WHERE id = $1 AND status = 'running' AND worker = $5 RETURNING id",
                           5, params, e);
    free(k);
    if (!r)
        return e->code;
    int rc = PQntuples(r) == 1 ? 0
                               : err_set(e, ERR_CONFLICT, "run %lld is no longer this process's: "
                                         "its end was not recorded", run_id);
    PQclear(r);
    return rc;
}

int run_requeue_once(PGconn *c, long long run_id, struct err *e)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    const char *params[] = {id};
    return db_exec(c,
                   "INSERT INTO runs (job_id, dry_run, full_run, trigger, retry_of)"
                   " SELECT job_id, dry_run, full_run, 'retry', id FROM runs"
                   " WHERE id = $1 AND retry_of IS NULL"
                   " ON CONFLICT (job_id) WHERE status IN ('queued', 'running') DO NOTHING",
                   1, params, e);
}

struct run_items {
    char run_id[24];
    char *buf;       /* COPY text-format rows */
    size_t len, cap, rows;
};

struct run_items *run_items_new(long long run_id)
{
    struct run_items *items = calloc(1, sizeof *items);
    if (items)
        snprintf(items->run_id, sizeof items->run_id, "%lld", run_id);
    return items;
}

static int append(struct run_items *it, const char *s, size_t n)
{
    if (it->len + n + 1 > it->cap) {
        size_t cap = (it->len + n + 1) * 2;
        char *grown = realloc(it->buf, cap);
        if (!grown)
            return -1;
        it->buf = grown;
        it->cap = cap;
    }
    memcpy(it->buf + it->len, s, n);
    it->len += n;
    return 0;
}

/* Length of the UTF-8 sequence at p that PostgreSQL accepts, or 0: RFC 3629's well-formed
 * sequences, so no overlong forms, no encoded surrogates (U+D800-DFFF) and nothing past
 * U+10FFFF. (A NUL cannot reach here: the fields are C strings.) */
static int utf8_len(const unsigned char *p)
{
    unsigned char lo = 0x80, hi = 0xBF;
    int n;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3, lo = p[0] == 0xE0 ? 0xA0 : 0x80, hi = p[0] == 0xED ? 0x9F : 0xBF;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4, lo = p[0] == 0xF0 ? 0x90 : 0x80, hi = p[0] == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* One COPY text-format field: \N for NULL, backslash escapes for the separators, and U+FFFD
 * for each byte PostgreSQL would refuse: one bad byte in a comment must not lose the list. */
static int append_field(struct run_items *it, const char *v, bool last)
{
    int rc = 0;
    if (!v) {
        rc = append(it, "\\N", 2);
    } else {
        for (const char *p = v; *p && rc == 0; p++) {
            int n = utf8_len((const unsigned char *)p);
            if (n == 0) {
                rc = append(it, "\xEF\xBF\xBD", 3);
                continue;
            }
            if (n > 1) {
                rc = append(it, p, (size_t)n);
                p += n - 1;
                continue;
            }
            switch (*p) {
            case '\\': rc = append(it, "\\\\", 2); break;
            case '\t': rc = append(it, "\\t", 2); break;
            case '\n': rc = append(it, "\\n", 2); break;
            case '\r': rc = append(it, "\\r", 2); break;
            default: rc = append(it, p, 1);
            }
        }
    }
    return rc ? rc : append(it, last ? "\n" : "\t", 1);
}

int run_items_add(struct run_items *items, enum run_item_kind kind, const char *object,
                  const char *value, const char *error_code, const char *message,
                  const char *data_value_json, const char *source_json, const char *item_json,
                  struct err *e)
{
    static const char *const kinds[] = {"conflict", "skipped", "error"};
    const char *fields[] = {items->run_id, kinds[kind], object,          value,
                            error_code,    message,     data_value_json, source_json, item_json};
    enum { N_FIELDS = sizeof fields / sizeof fields[0] };
    for (int i = 0; i < N_FIELDS; i++)
        if (append_field(items, fields[i], i == N_FIELDS - 1) != 0)
            return err_set(e, ERR_INTERNAL, "out of memory listing a refused value");
    items->rows++;
    return 0;
}

size_t run_items_pending(const struct run_items *items) { return items->rows; }

int run_items_flush(PGconn *c, struct run_items *items, struct err *e)
{
    if (!items->rows)
        return 0;
    PGresult *r = PQexec(c, "COPY run_conflicts (run_id, kind, object, value, error_code, message,"
                            " data_value, source, item) FROM STDIN");
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok)
        return err_set(e, ERR_DB, "database: cannot list refused values: %s", PQerrorMessage(c));
    if (PQputCopyData(c, items->buf, (int)items->len) != 1 || PQputCopyEnd(c, NULL) != 1)
        return err_set(e, ERR_DB, "database: cannot list refused values: %s", PQerrorMessage(c));
    int rc = 0;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = err_set(e, ERR_DB, "database: cannot list refused values: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (rc == 0) {
        items->len = 0;
        items->rows = 0;
    }
    return rc;
}

void run_items_free(struct run_items *items)
{
    if (items) {
        free(items->buf);
        free(items);
    }
}
