/* tasks.c — async imports (POST /api/dataValueSets?async=true, POST /api/metadata?async=true):
 * each job runs in its own thread; GET /api/system/tasks/<TYPE>[/<id>] answers its
 * notifications (newest first, the first one "completed":true when done) and
 * GET /api/system/taskSummaries/<TYPE>/<id> its ImportSummary or ImportReport, TYPE being
 * DATAVALUE_IMPORT or METADATA_IMPORT. The loseTasks fault (faults.c) makes every task
 * unknown, as after a DHIS2 restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "http.h"

struct job {
    struct job *next;
    struct emu *emu;
    pthread_t thread;
    char id[12];
    int64_t created, finished;
    char *body;
    size_t len;
    bool csv, done, metadata;
    int api_version;
    struct import_opts opts;
    struct md_import_opts md_opts;
    struct import_totals totals;
    char *summary;
};

static const char *job_type(const struct job *j)
{
    return j->metadata ? "METADATA_IMPORT" : "DATAVALUE_IMPORT";
}

/* A DHIS2-shaped UID from a counter and the clock: unique within this process. */
void make_uid(char out[12])
{
    static atomic_ulong seq;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = (uint64_t)now_ms() * 1000003u + atomic_fetch_add(&seq, 1) * 0x9E3779B97F4A7C15ULL;
    out[0] = alnum[x % 52];
    for (int i = 1; i < 11; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = alnum[(x >> 33) % 62];
    }
    out[11] = '\0';
}

static long stat_of(const cJSON *report, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(report, "stats"), key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

/* A metadata import's report, and its counts in the data value totals' terms. */
static char *run_metadata(struct job *j, struct import_totals *t)
{
    cJSON *report = md_import_execute(j->emu, j->body, j->len, &j->md_opts, &t->status);
    t->imported = stat_of(report, "created");
    t->updated = stat_of(report, "updated");
    t->deleted = stat_of(report, "deleted");
    t->ignored = stat_of(report, "ignored");
    char *text = report ? cJSON_PrintUnformatted(report) : NULL;
    cJSON_Delete(report);
    return text;
}

static void *run(void *arg)
{
    struct job *j = arg;
    struct import_totals t = {0};
    char *summary = j->metadata ? run_metadata(j, &t)
                                : import_execute(j->emu, j->body, j->len, j->csv, &j->opts, j->api_version, &t);
    pthread_mutex_lock(&j->emu->jobs_mu);
    j->summary = summary;
    j->totals = t;
    j->finished = now_ms();
    j->done = true;
    free(j->body);
    j->body = NULL;
    pthread_mutex_unlock(&j->emu->jobs_mu);
    return NULL;
}

int tasks_start(struct request *r, char *body, size_t len, bool csv, const struct import_opts *o,
                const struct md_import_opts *md)
{
    struct emu *emu = r->emu;
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        free(body);
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    }
    j->emu = emu;
    j->body = body;
    j->len = len;
    j->csv = csv;
    if (o)
        j->opts = *o;
    if (md) {
        j->metadata = true;
        j->md_opts = *md;
    }
    j->api_version = r->api_version;
    j->created = now_ms();
    make_uid(j->id);
    pthread_mutex_lock(&emu->jobs_mu);
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        pthread_mutex_unlock(&emu->jobs_mu);
        free(body);
        free(j);
        return http_webmessage(r, 500, "ERROR", "Cannot start the import job", NULL);
    }
    j->next = emu->jobs;
    emu->jobs = j;
    pthread_mutex_unlock(&emu->jobs_mu);

    bool v41 = emu->cfg.major > 2 || emu->cfg.minor >= 41;
    const char *type = job_type(j), *name = j->metadata ? "metadataImport" : "dataValueImport";
    char message[80], endpoint[80];
    if (v41)
        snprintf(message, sizeof message, "Initiated %s (%lld)", type, (long long)j->created);
    else
        snprintf(message, sizeof message, "Initiated %s", name);
    snprintf(endpoint, sizeof endpoint, "/api/system/tasks/%s", type);
    struct buf b = {0};
    webmessage_head(&b, 200, "OK", message);
    buf_puts(&b, ",\"response\":{");
    if (!v41)
        buf_puts(&b, "\"responseType\":\"JobConfigurationWebMessageResponse\",");
    buf_printf(&b, "\"name\":\"%s\",\"id\":\"%s\",\"created\":\"", name, j->id);
    buf_timestamp(&b, j->created, false);
    buf_printf(&b, "\",\"jobType\":\"%s\",\"relativeNotifierEndpoint\":\"%s/%s\"}}", type, endpoint, j->id);
    size_t n = b.len;
    char *text = buf_take(&b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send_with(r, 200, "application/json;charset=UTF-8", text, n, endpoint);
}

static const char *status_word(enum import_status s)
{
    return s == IMPORT_SUCCESS ? "SUCCESS" : s == IMPORT_WARNING ? "WARNING" : "ERROR";
}

/* Notifications, newest first. Caller holds jobs_mu. */
static void write_notifications(struct buf *b, const struct job *j)
{
    char uid[12];
    buf_putc(b, '[');
    if (j->done) {
        make_uid(uid);
        buf_printf(b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"%s\",\"time\":\"", uid, job_type(j));
        buf_timestamp(b, j->finished, false);
        buf_printf(b, "\",\"message\":\"Import complete with status %s, %ld created, %ld updated, "
                      "%ld deleted, %ld ignored\",\"completed\":true},",
                   status_word(j->totals.status), j->totals.imported, j->totals.updated,
                   j->totals.deleted, j->totals.ignored);
    }
    make_uid(uid);
    buf_printf(b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"%s\",\"time\":\"", uid, job_type(j));
    buf_timestamp(b, j->created, false);
    buf_puts(b, "\",\"message\":\"Process started\",\"completed\":false}]");
}

int api_tasks(struct request *r)
{
    struct emu *emu = r->emu;
    bool summaries = strncmp(r->path, "system/taskSummaries/", 21) == 0;
    const char *rest = r->path + (summaries ? 21 : 13);
    bool metadata = strncmp(rest, "METADATA_IMPORT", 15) == 0 && (!rest[15] || rest[15] == '/');
    if (!metadata && (strncmp(rest, "DATAVALUE_IMPORT", 16) != 0 || (rest[16] && rest[16] != '/'))) {
        char *empty = strdup(summaries ? "{}" : "[]");
        return empty ? http_send(r, 200, "application/json", empty, 2) : 0;
    }
    size_t tl = metadata ? 15 : 16;
    const char *id = rest[tl] ? rest + tl + 1 : "";
    int lose = faults_lose_tasks(&emu->faults);
    if (*id && lose == 404)
        return http_webmessage(r, 404, "ERROR", "Task not found", NULL);
    struct buf b = {0};
    pthread_mutex_lock(&emu->jobs_mu);
    if (!*id) {
        buf_putc(&b, '{');
        bool first = true;
        for (struct job *j = emu->jobs; j; j = j->next) {
            if (j->metadata != metadata)
                continue;
            if (!first)
                buf_putc(&b, ',');
            first = false;
            buf_key(&b, j->id);
            if (summaries)
                buf_puts(&b, j->summary ? j->summary : "null");
            else
                write_notifications(&b, j);
        }
        buf_putc(&b, '}');
    } else {
        struct job *j = lose ? NULL : emu->jobs;
        while (j && (strcmp(j->id, id) != 0 || j->metadata != metadata))
            j = j->next;
        if (summaries)
            buf_puts(&b, j && j->summary ? j->summary : "null");
        else if (j)
            write_notifications(&b, j);
        else
            buf_puts(&b, "[]");
    }
    pthread_mutex_unlock(&emu->jobs_mu);
    size_t n = b.len;
    char *text = buf_take(&b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send(r, 200, "application/json;charset=UTF-8", text, n);
}

void tasks_free(struct emu *emu)
{
    struct job *j = emu->jobs;
    while (j) {
        struct job *next = j->next;
        pthread_join(j->thread, NULL);
        free(j->body);
        free(j->summary);
        free(j);
        j = next;
    }
    emu->jobs = NULL;
}
