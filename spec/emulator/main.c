/* dhis2-emulator — answers the part of the DHIS2 2.40-2.43 Web API that dhis2sync uses, the way
 * DHIS2 answers it, for tests and benchmarks. State is in memory.
 *
 * Usage:
 *   dhis2-emulator --port P [--data DIR] [--version 2.41.0] [--user U:P] [--pat TOKEN]
 *                  [--generate values=N,orgunits=M,objects=K,seed=S[,events=N,trackedEntities=M]]
 *                  [--save] [--timezone Europe/Oslo]
 *                  [--fail-rate R] [--fail-next N] [--fail-status 500|502|503] [--fail-import-only]
 *                  [--delay-ms N] [--drop-next N] [--hang-next N] [--conflict-ids ID,ID...]
 *   --data DIR      metadata from DIR/metadata.json (a /api/metadata export: dataElements,
 *                   categoryCombos, categoryOptionCombos, organisationUnits, dataSets,
 *                   dataElementGroups...; every array becomes /api/<name>), values from
 *                   DIR/dataValues.json (the dataValueSets shape).
 *   --generate      a deterministic instance instead (see generate.c); values=0 gives the same
 *                   metadata with no values, i.e. an empty sync target. objects=K adds data
 *                   elements (in a data set and a group of their own) until the instance holds
 *                   at least K metadata objects, for memory tests of metadata sync. events=N adds an event
 *                   program with N events, trackedEntities=M a tracker program with M enrolled
 *                   tracked entities and their events (tracker_gen.c); 0 gives the programs alone.
 *   --timezone      the server's zone (default Etc/UTC): /api/system/info serverTimeZoneId, and
 *                   the zone of tracker timestamps, which DHIS2 writes without an offset.
 *   Without --generate and without DIR/metadata.json the instance holds only DHIS2's built-in
 *   defaults: the `default` category option, category, category combo and option combo with
 *   DHIS2's well-known ids (xYerKDKCefk, GLevLNI9wkl, bjDvmb4bfuf, HllvX50cXC0).
 *   --save          on SIGTERM/SIGINT writes the values (deleted ones too) to
 *                   DIR/dataValues.json, and the generated or imported metadata to
 *                   DIR/metadata.json.
 *   --version       the version /api/system/info reports; 2.43.x also changes the answers:
 *                   import conflicts are HTTP 200 WARNING and a single requested org unit is
 *                   written once at the root of a data value set; 2.40 and older use the old
 *                   async message; 2.37 and /api/37/ answer a bare ImportSummary.
 *   Default credentials admin:district (HTTP Basic); --pat accepts `Authorization: ApiToken T`.
 *   Prints "listening on PORT" on stderr once it accepts connections.
 *
 * Routes: /api/[NN/]system/info, system/ping, me, dataValueSets (GET as JSON or CSV; POST
 * JSON, gzip-compressed JSON or CSV), system/tasks/{DATAVALUE,METADATA}_IMPORT/<id>,
 * system/taskSummaries/{DATAVALUE,METADATA}_IMPORT/<id>, tracker/events|trackedEntities|enrollments[/<id>]
 * (GET), tracker (POST), tracker/jobs/<id>[/report] (see tracker_export.c, tracker_import.c),
 * every metadata collection:
 * /api/<name>[/<id>] with fields, filter, rootJunction, order, paging (DELETE /api/<name>/<id>
 * deletes one object), GET /api/metadata (export: <type>=true, <type>:fields, <type>:filter,
 * fields, filter, defaults=EXCLUDE, skipSharing), POST /api/metadata (import: importStrategy,
 * atomicMode, importMode=VALIDATE, importReportMode, identifier=UID, async, mergeMode on 2.40
 * only; E-codes and 2.43's option combo rules in mdimport.c) and GET /api/deletedObjects.
 * A request line over 8 KB (Tomcat's default) answers 414. Not modelled: sharing and user org
 * unit scopes (the user sees everything), option values, approvals, locking, expiry days,
 * ATTRIBUTE:<uid> id schemes and identifier=CODE (read as UID), XML.
 *
 * Fault injection (no DHIS2 auth, loopback clients only; the flags above set the same):
 *   GET    /emulator/faults   current settings
 *   POST   /emulator/faults   {"failRate":0.3,"failNext":2,"failStatus":503,"importOnly":true,
 *                              "delayMs":200,"dropNext":1,"hangNext":1,
 *                              "conflictIds":["<id>"],"dropRate":0.2,"downFor":5,"reset":true}
 *          failRate/failNext answer failStatus with an HTML proxy page; importOnly limits every
 *          fault to POST /api/dataValueSets; delayMs waits before answering; dropNext cuts the
 *          next responses halfway (connection closed) and dropRate that share of them, after the
 *          request took effect; downFor closes every connection unanswered for that many
 *          seconds; hangNext never answers; conflictIds are
 *          refused by imports as if unknown (E7610/E7612/E7613/E7615/E7611 conflicts, HTTP 409).
 *   DELETE /emulator/faults   clears them
 *   GET    /emulator/state    {"values","live","deleted","periods","requests","imports",...}
 *   GET    /emulator/tracker/digest  {"events":{"live","deleted","digest"},"trackedEntities":..,
 *                              "enrollments":..}: equal digests = the same tracker data (ids,
 *                              references, status, dates, values; not created/updated stamps)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "emu.h"
#include "http.h"
#include "log.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: dhis2-emulator --port P [--data DIR] [--version 2.41.0] [--user U:P] [--pat TOKEN]\n"
            "                      [--generate values=N,orgunits=M,objects=K,seed=S,events=N,trackedEntities=M]\n"
            "                      [--save] [--timezone ZONE]\n"
            "                      [--fail-rate R] [--fail-next N] [--fail-status S] [--fail-import-only]\n"
            "                      [--delay-ms N] [--drop-next N] [--hang-next N] [--conflict-ids A,B]\n"
            "  --generate objects=K  at least K metadata objects (extra data elements), for memory tests\n"
            "  without --generate or DIR/metadata.json: only DHIS2's built-in defaults; metadata is\n"
            "  imported with POST /api/metadata and exported with GET /api/metadata\n");
}

static int parse_version(struct emu_config *c, const char *v, struct err *e)
{
    int major = 0, minor = 0;
    if (sscanf(v, "%d.%d", &major, &minor) != 2 || major < 2)
        return err_set(e, ERR_INPUT, "--version %s: expected a DHIS2 version such as 2.41.0", v);
    snprintf(c->version, sizeof c->version, "%s", v);
    c->major = major;
    c->minor = minor;
    return 0;
}

static int parse_generate(struct emu_config *c, const char *spec, struct err *e)
{
    c->generate = true;
    c->gen_values = 0;
    c->gen_orgunits = 100;
    c->gen_seed = 1;
    c->gen_events = c->gen_tracked_entities = -1; /* not asked: no tracker metadata */
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && !rc; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        char *end = NULL;
        if (!eq) {
            rc = err_set(e, ERR_INPUT, "--generate: expected key=value, saw '%s'", kv);
            break;
        }
        *eq = '\0';
        unsigned long long n = strtoull(eq + 1, &end, 10);
        if (!*(eq + 1) || *end)
            rc = err_set(e, ERR_INPUT, "--generate %s: expected a number", kv);
        else if (!strcmp(kv, "values"))
            c->gen_values = (long)n;
        else if (!strcmp(kv, "orgunits"))
            c->gen_orgunits = (long)n;
        else if (!strcmp(kv, "events"))
            c->gen_events = (long)n;
        else if (!strcmp(kv, "trackedEntities"))
            c->gen_tracked_entities = (long)n;
        else if (!strcmp(kv, "seed"))
            c->gen_seed = n;
        else if (!strcmp(kv, "objects"))
            c->gen_objects = (long)n;
        else
            rc = err_set(e, ERR_INPUT, "--generate: unknown key '%s' (values, orgunits, objects, seed, events, trackedEntities)", kv);
    }
    free(copy);
    return rc;
}

static int parse_args(int argc, char **argv, struct emu_config *c, struct faults *f, struct err *e)
{
    snprintf(c->user, sizeof c->user, "admin");
    snprintf(c->password, sizeof c->password, "district");
    if (parse_version(c, "2.41.0", e))
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        cJSON *fault = NULL;
        if (!strcmp(a, "--save")) {
            c->save = true;
            continue;
        }
        if (!strcmp(a, "--fail-import-only")) {
            fault = cJSON_CreateObject();
            cJSON_AddBoolToObject(fault, "importOnly", true);
        } else if (!v) {
            return err_set(e, ERR_INPUT, "%s: missing value (or unknown option)", a);
        } else if (!strcmp(a, "--port")) {
            c->port = atoi(v);
        } else if (!strcmp(a, "--data")) {
            c->data_dir = v;
        } else if (!strcmp(a, "--version")) {
            if (parse_version(c, v, e))
                return -1;
        } else if (!strcmp(a, "--user")) {
            const char *colon = strchr(v, ':');
            if (!colon)
                return err_set(e, ERR_INPUT, "--user: expected USER:PASSWORD");
            snprintf(c->user, sizeof c->user, "%.*s", (int)(colon - v), v);
            snprintf(c->password, sizeof c->password, "%s", colon + 1);
        } else if (!strcmp(a, "--timezone")) {
            c->timezone = v;
        } else if (!strcmp(a, "--pat")) {
            c->pat = v;
        } else if (!strcmp(a, "--generate")) {
            if (parse_generate(c, v, e))
                return -1;
        } else if (!strcmp(a, "--fail-rate")) {
            fault = cJSON_CreateObject();
            cJSON_AddNumberToObject(fault, "failRate", atof(v));
        } else if (!strcmp(a, "--fail-next") || !strcmp(a, "--fail-status") ||
                   !strcmp(a, "--delay-ms") || !strcmp(a, "--drop-next") || !strcmp(a, "--hang-next")) {
            static const char *keys[][2] = {{"--fail-next", "failNext"}, {"--fail-status", "failStatus"},
                                            {"--delay-ms", "delayMs"}, {"--drop-next", "dropNext"},
                                            {"--hang-next", "hangNext"}};
            fault = cJSON_CreateObject();
            for (size_t k = 0; k < 5; k++)
                if (!strcmp(a, keys[k][0]))
                    cJSON_AddNumberToObject(fault, keys[k][1], atof(v));
        } else if (!strcmp(a, "--conflict-ids")) {
            fault = cJSON_CreateObject();
            cJSON *ids = cJSON_AddArrayToObject(fault, "conflictIds");
            char *copy = strdup(v), *save = NULL;
            for (char *id = copy ? strtok_r(copy, ",", &save) : NULL; id; id = strtok_r(NULL, ",", &save))
                cJSON_AddItemToArray(ids, cJSON_CreateString(id));
            free(copy);
        } else {
            return err_set(e, ERR_INPUT, "unknown option %s", a);
        }
        if (strcmp(a, "--fail-import-only") != 0)
            i++;
        if (fault) {
            int rc = faults_apply_json(f, fault, e);
            cJSON_Delete(fault);
            if (rc)
                return err_set(e, ERR_INPUT, "%s: %s", a, e->msg);
        }
    }
    if (c->port <= 0 || c->port > 65535)
        return err_set(e, ERR_INPUT, "--port: a TCP port is required");
    if (c->save && !c->data_dir)
        return err_set(e, ERR_INPUT, "--save needs --data DIR");
    return 0;
}

static cJSON *read_json_file(const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, ERR_NOT_FOUND, "%s: cannot open it", path);
        return NULL;
    }
    struct buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_put(&b, chunk, n);
    fclose(f);
    size_t len = b.len;
    char *text = buf_take(&b);
    if (!text) {
        err_set(e, ERR_INTERNAL, "%s: out of memory", path);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j)
        err_set(e, ERR_INPUT, "%s: not valid JSON", path);
    return j;
}

static int write_metadata(const struct emu *emu, const char *path, struct err *e)
{
    char *text = cJSON_PrintUnformatted(emu->md.root);
    if (!text)
        return err_set(e, ERR_INTERNAL, "out of memory");
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f || fputs(text, f) < 0)
        rc = err_set(e, ERR_INPUT, "%s: cannot write it", path);
    if (f && fclose(f) != 0)
        rc = err_set(e, ERR_INPUT, "%s: cannot write it", path);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    static struct emu emu;
    struct err e = {0};
    int status = 1;
    struct MHD_Daemon *d = NULL;
    char path[4096];
    log_configure(getenv("DHIS2SYNC_LOG"), getenv("DHIS2SYNC_LOG_FORMAT"));
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
    faults_init(&emu.faults);
    pthread_mutex_init(&emu.jobs_mu, NULL);
    if (parse_args(argc, argv, &emu.cfg, &emu.faults, &e)) {
        fprintf(stderr, "dhis2-emulator: %s\n", e.msg);
        usage();
        faults_free(&emu.faults);
        return 2;
    }
    if (!emu.cfg.timezone)
        emu.cfg.timezone = "Etc/UTC";
    /* the whole process reads the zone; tracker times are written in it */
    setenv("TZ", emu.cfg.timezone, 1);
    tzset();
    emu.started_ms = now_ms();
    snprintf(emu.system_id, sizeof emu.system_id, "emu-%016llx",
             (unsigned long long)(emu.cfg.generate ? emu.cfg.gen_seed : (uint64_t)emu.started_ms));

    cJSON *meta = NULL;
    if (emu.cfg.generate) {
        if (generate_metadata(&emu.cfg, &meta, &e) || tracker_generate_metadata(&emu.cfg, meta, &e))
            goto out;
    } else if (emu.cfg.data_dir) {
        snprintf(path, sizeof path, "%s/metadata.json", emu.cfg.data_dir);
        struct stat sb;
        meta = stat(path, &sb) == 0 ? read_json_file(path, &e) : cJSON_CreateObject();
        if (!meta)
            goto out;
    } else if (!(meta = cJSON_CreateObject())) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (metadata_load(&emu.md, meta, &e) || store_init(&emu.st, emu.md.n_ou, &e))
        goto out;
    if (!(emu.deleted = cJSON_CreateArray())) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    int64_t t0 = now_ms();
    if (emu.cfg.generate) {
        if (generate_values(&emu, &e))
            goto out;
        log_info("generated %zu values over %d org units in %lld ms", emu.st.n, emu.md.n_ou,
                 (long long)(now_ms() - t0));
    } else if (emu.cfg.data_dir) {
        snprintf(path, sizeof path, "%s/dataValues.json", emu.cfg.data_dir);
        if (store_load_file(&emu.st, &emu.md, path, &e))
            goto out;
    }
    if (tracker_init(&emu, &e))
        goto out;

    /* Signals are taken synchronously by this thread; the server threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!(d = http_start(&emu, &e)))
        goto out;
    fprintf(stderr, "listening on %d\n", emu.cfg.port);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: stopping", sig);
    http_stop(d);
    tasks_free(&emu);
    status = 0;
    if (emu.cfg.save) {
        if (emu.cfg.generate || emu.metadata_changed) {
            snprintf(path, sizeof path, "%s/metadata.json", emu.cfg.data_dir);
            if (write_metadata(&emu, path, &e))
                status = 1;
        }
        snprintf(path, sizeof path, "%s/dataValues.json", emu.cfg.data_dir);
        if (!status && store_save_file(&emu.st, &emu.md, path, &e))
            status = 1;
    }
out:
    if (status)
        fprintf(stderr, "dhis2-emulator: %s\n", e.msg);
    tasks_free(&emu);
    tracker_free(&emu);
    store_free(&emu.st);
    metadata_free(&emu.md);
    cJSON_Delete(emu.deleted);
    faults_free(&emu.faults);
    return status;
}
