/* faults.c — injected failures, set by CLI flags or by the loopback-only admin routes:
 *   GET    /emulator/faults   the current settings
 *   POST   /emulator/faults   {"failRate":0.3,"failNext":2,"failStatus":503,"importOnly":true,
 *                              "delayMs":200,"dropNext":1,"hangNext":1,
 *                              "conflictIds":["fbfJHSPpUQD"],"loseTasks":404,"dropRate":0.2,
 *                              "downFor":5,"reset":true}
 *                             (fields absent keep their value; "reset" clears all first)
 *   DELETE /emulator/faults   clears everything
 *   GET    /emulator/state    {"values":N,"live":N,"deleted":N,"requests":N,"imports":N,...}
 * Order of precedence for one request: down, hang, then a failing status, then a dropped body.
 * downFor plays a server that is gone for that many seconds from now (a restart): every request
 * but these admin routes has its connection closed without an answer, whatever importOnly says.
 * dropRate and dropNext cut the answer after the request took effect, so an import lands but its
 * client sees a reset.
 * loseTasks plays a DHIS2 that restarted during async imports: 404 answers 404 for every
 * import task, 200 answers as if no task ever finished; 0 turns it off. */
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "emu.h"
#include "http.h"

void faults_init(struct faults *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->fail_status = 503;
    f->rng = 0x9E3779B97F4A7C15ULL;
}

static void clear_ids(struct faults *f)
{
    for (int i = 0; i < f->n_conflict_ids; i++)
        free(f->conflict_ids[i]);
    free(f->conflict_ids);
    f->conflict_ids = NULL;
    f->n_conflict_ids = 0;
}

static void reset(struct faults *f)
{
    clear_ids(f);
    f->fail_rate = f->drop_rate = 0;
    f->down_until_ms = 0;
    f->fail_next = f->drop_next = f->hang_next = f->delay_ms = f->lose_tasks = 0;
    f->fail_status = 503;
    f->import_only = false;
}

void faults_free(struct faults *f)
{
    clear_ids(f);
    pthread_mutex_destroy(&f->mu);
}

/* A number from lo to hi under key, into *out when present. */
static int num_field(const cJSON *o, const char *key, double lo, double hi, double *out,
                     struct err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return err_set(e, ERR_INPUT, "%s must be a number from %.15g to %.15g", key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int int_field(const cJSON *o, const char *key, int *out, int lo, int hi, struct err *e)
{
    double v = *out;
    int rc = num_field(o, key, lo, hi, &v, e);
    *out = (int)v;
    return rc;
}

int faults_apply_json(struct faults *f, const cJSON *o, struct err *e)
{
    if (!cJSON_IsObject(o))
        return err_set(e, ERR_INPUT, "expected a JSON object");
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "reset")))
        reset(f);
    double down = -1;
    if ((rc = num_field(o, "failRate", 0, 1, &f->fail_rate, e)) ||
        (rc = num_field(o, "dropRate", 0, 1, &f->drop_rate, e)) ||
        (rc = num_field(o, "downFor", 0, 86400, &down, e)))
        goto out;
    if (down >= 0)
        f->down_until_ms = monotonic_ms() + (long long)(down * 1000);
    int status = f->fail_status;
    if ((rc = int_field(o, "failNext", &f->fail_next, 0, 1000000, e)) ||
        (rc = int_field(o, "failStatus", &status, 400, 599, e)) ||
        (rc = int_field(o, "delayMs", &f->delay_ms, 0, 600000, e)) ||
        (rc = int_field(o, "dropNext", &f->drop_next, 0, 1000000, e)) ||
        (rc = int_field(o, "hangNext", &f->hang_next, 0, 1000000, e)))
        goto out;
    int lose = f->lose_tasks;
    if ((rc = int_field(o, "loseTasks", &lose, 0, 404, e)))
        goto out;
    if (lose != 0 && lose != 200 && lose != 404) {
        rc = err_set(e, ERR_INPUT, "loseTasks must be 0, 200 or 404");
        goto out;
    }
    f->lose_tasks = lose;
    f->fail_status = status;
    const cJSON *io = cJSON_GetObjectItemCaseSensitive(o, "importOnly");
    if (io)
        f->import_only = cJSON_IsTrue(io);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "conflictIds");
    if (ids) {
        if (!cJSON_IsArray(ids)) {
            rc = err_set(e, ERR_INPUT, "conflictIds must be an array of ids");
            goto out;
        }
        clear_ids(f);
        int n = cJSON_GetArraySize(ids);
        f->conflict_ids = calloc((size_t)n + 1, sizeof *f->conflict_ids);
        if (!f->conflict_ids) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, ids) {
            if (cJSON_IsString(it) && (f->conflict_ids[f->n_conflict_ids] = strdup(it->valuestring)))
                f->n_conflict_ids++;
        }
    }
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

char *faults_to_json(struct faults *f)
{
    struct buf b = {0};
    pthread_mutex_lock(&f->mu);
    buf_printf(&b, "{\"failRate\":%g,\"failNext\":%d,\"failStatus\":%d,\"importOnly\":%s,"
                   "\"delayMs\":%d,\"dropNext\":%d,\"dropRate\":%g,\"hangNext\":%d,"
                   "\"loseTasks\":%d,\"down\":%s,\"conflictIds\":[",
               f->fail_rate, f->fail_next, f->fail_status, f->import_only ? "true" : "false",
               f->delay_ms, f->drop_next, f->drop_rate, f->hang_next, f->lose_tasks,
               monotonic_ms() < f->down_until_ms ? "true" : "false");
    for (int i = 0; i < f->n_conflict_ids; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_json_str(&b, f->conflict_ids[i]);
    }
    buf_puts(&b, "]}");
    pthread_mutex_unlock(&f->mu);
    return buf_take(&b);
}

static double next_unit(struct faults *f)
{
    /* xorshift64*: deterministic, so a failing share replays the same way each run */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

enum fault_action faults_decide(struct faults *f, bool is_import, int *status, int *delay_ms)
{
    enum fault_action a = FAULT_NONE;
    pthread_mutex_lock(&f->mu);
    *delay_ms = 0;
    if (f->down_until_ms && monotonic_ms() < f->down_until_ms) {
        a = FAULT_DOWN;
        goto out;
    }
    if (f->import_only && !is_import)
        goto out;
    *delay_ms = f->delay_ms;
    *status = f->fail_status;
    if (f->hang_next > 0) {
        f->hang_next--;
        a = FAULT_HANG;
    } else if (f->fail_next > 0) {
        f->fail_next--;
        a = FAULT_STATUS;
    } else if (f->fail_rate > 0 && next_unit(f) < f->fail_rate) {
        a = FAULT_STATUS;
    } else if (f->drop_next > 0) {
        f->drop_next--;
        a = FAULT_DROP;
    } else if (f->drop_rate > 0 && next_unit(f) < f->drop_rate) {
        a = FAULT_DROP;
    }
out:
    pthread_mutex_unlock(&f->mu);
    return a;
}

bool faults_conflict_id(struct faults *f, const char *id)
{
    if (!id || !f->n_conflict_ids)
        return false;
    bool hit = false;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n_conflict_ids && !hit; i++)
        hit = strcmp(f->conflict_ids[i], id) == 0;
    pthread_mutex_unlock(&f->mu);
    return hit;
}

int faults_lose_tasks(struct faults *f)
{
    pthread_mutex_lock(&f->mu);
    int lose = f->lose_tasks;
    pthread_mutex_unlock(&f->mu);
    return lose;
}

static int send_text_json(struct request *r, int status, char *text)
{
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send(r, status, "application/json", text, strlen(text));
}

static int state(struct request *r)
{
    struct emu *emu = r->emu;
    size_t live = 0, deleted = 0;
    pthread_rwlock_rdlock(&emu->st.lock);
    for (size_t i = 0; i < emu->st.n; i++) {
        if (emu->st.v[i].deleted)
            deleted++;
        else
            live++;
    }
    int periods = emu->st.n_pe, n_de = emu->md.n_de, n_ou = emu->md.n_ou;
    pthread_rwlock_unlock(&emu->st.lock);
    struct buf b = {0};
    buf_printf(&b, "{\"values\":%zu,\"live\":%zu,\"deleted\":%zu,\"periods\":%d,"
                   "\"requests\":%ld,\"imports\":%ld,\"dataElements\":%d,\"organisationUnits\":%d,"
                   "\"version\":",
               live + deleted, live, deleted, periods, atomic_load(&emu->requests),
               atomic_load(&emu->imports), n_de, n_ou);
    buf_json_str(&b, emu->cfg.version);
    buf_putc(&b, '}');
    return send_text_json(r, 200, buf_take(&b));
}

int emulator_admin(struct request *r)
{
    struct faults *f = &r->emu->faults;
    if (!strcmp(r->url, "/emulator/state") && !strcmp(r->method, "GET"))
        return state(r);
    if (!strcmp(r->url, "/emulator/tracker/digest") && !strcmp(r->method, "GET"))
        return emulator_tracker_digest(r);
    if (strcmp(r->url, "/emulator/faults") != 0)
        return http_webmessage(r, 404, "ERROR", "Not Found", NULL);
    if (!strcmp(r->method, "DELETE")) {
        pthread_mutex_lock(&f->mu);
        reset(f);
        pthread_mutex_unlock(&f->mu);
    } else if (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
        cJSON *o = cJSON_ParseWithLength(r->body ? r->body : "", r->body_len);
        struct err e = {0};
        int rc = faults_apply_json(f, o, &e);
        cJSON_Delete(o);
        if (rc)
            return http_webmessage(r, 400, "ERROR", e.msg, NULL);
    } else if (strcmp(r->method, "GET") != 0) {
        return http_webmessage(r, 405, "ERROR", "Request method not supported", NULL);
    }
    return send_text_json(r, 200, faults_to_json(f));
}
