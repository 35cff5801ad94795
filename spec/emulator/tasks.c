/* tasks.c — async imports (POST /api/dataValueSets?async=true): each job runs in its own
 * thread; GET /api/system/tasks/DATAVALUE_IMPORT[/<id>] answers its notifications (newest
 * first, the first one "completed":true when done) and
 * GET /api/system/taskSummaries/DATAVALUE_IMPORT/<id> its ImportSummary. The loseTasks
 * fault (faults.c) makes every task unknown, as after a DHIS2 restart. */
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
    bool csv, done;
    int api_version;
    struct import_opts opts;
    struct import_totals totals;
    char *summary;
};

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

static void *run(void *arg)
{
    struct job *j = arg;
    struct import_totals t = {0};
    char *summary = import_execute(j->emu, j->body, j->len, j->csv, &j->opts, j->api_version, &t);
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

int tasks_start(struct request *r, char *body, size_t len, bool csv, const struct import_opts *o)
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
    j->opts = *o;
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
    char message[80];
    if (v41)
        snprintf(message, sizeof message, "Initiated DATAVALUE_IMPORT (%lld)", (long long)j->created);
    else
        snprintf(message, sizeof message, "Initiated dataValueImport");
    struct buf b = {0};
    webmessage_head(&b, 200, "OK", message);
    buf_puts(&b, ",\"response\":{");
    if (!v41)
        buf_puts(&b, "\"responseType\":\"JobConfigurationWebMessageResponse\",");
    buf_printf(&b, "\"name\":\"dataValueImport\",\"id\":\"%s\",\"created\":\"", j->id);
    buf_timestamp(&b, j->created, false);
    buf_printf(&b, "\",\"jobType\":\"DATAVALUE_IMPORT\",\"relativeNotifierEndpoint\":"
                   "\"/api/system/tasks/DATAVALUE_IMPORT/%s\"}}", j->id);
    size_t n = b.len;
    char *text = buf_take(&b);
    if (!text)
        return http_webmessage(r, 500, "ERROR", "Out of memory", NULL);
    return http_send_with(r, 200, "application/json;charset=UTF-8", text, n,
                          "/api/system/tasks/DATAVALUE_IMPORT");
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
        buf_printf(b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"DATAVALUE_IMPORT\",\"time\":\"", uid);
        buf_timestamp(b, j->finished, false);
        buf_printf(b, "\",\"message\":\"Import complete with status %s, %ld created, %ld updated, "
                      "%ld deleted, %ld ignored\",\"completed\":true},",
                   status_word(j->totals.status), j->totals.imported, j->totals.updated,
                   j->totals.deleted, j->totals.ignored);
    }
    make_uid(uid);
    buf_printf(b, "{\"uid\":\"%s\",\"level\":\"INFO\",\"category\":\"DATAVALUE_IMPORT\",\"time\":\"", uid);
    buf_timestamp(b, j->created, false);
    buf_puts(b, "\",\"message\":\"Process started\",\"completed\":false}]");
}

int api_tasks(struct request *r)
{
    struct emu *emu = r->emu;
    bool summaries = strncmp(r->path, "system/taskSummaries/", 21) == 0;
    const char *rest = r->path + (summaries ? 21 : 13);
    if (strncmp(rest, "DATAVALUE_IMPORT", 16) != 0 || (rest[16] && rest[16] != '/')) {
        char *empty = strdup(summaries ? "{}" : "[]");
        return empty ? http_send(r, 200, "application/json", empty, 2) : 0;
    }
    const char *id = rest[16] ? rest + 17 : "";
    int lose = faults_lose_tasks(&emu->faults);
    if (*id && lose == 404)
        return http_webmessage(r, 404, "ERROR", "Task not found", NULL);
    struct buf b = {0};
    pthread_mutex_lock(&emu->jobs_mu);
    if (!*id) {
        buf_putc(&b, '{');
        for (struct job *j = emu->jobs; j; j = j->next) {
            if (j != emu->jobs)
                buf_putc(&b, ',');
            buf_key(&b, j->id);
            if (summaries)
                buf_puts(&b, j->summary ? j->summary : "null");
            else
                write_notifications(&b, j);
        }
        buf_putc(&b, '}');
    } else {
        struct job *j = lose ? NULL : emu->jobs;
        while (j && strcmp(j->id, id) != 0)
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
