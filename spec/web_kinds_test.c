/* web_kinds_test.c — the web admin shows each kind of job in its own terms: spec/browser/kinds.mjs
 * makes metadata and tracker jobs through the form (against the kinds' real validation), sees
 * field errors beside their fields, the jobs list's kind column and the job page's selection in
 * words, and reads a metadata run whose conflict entries name their item. That run is written here with SQL: a target that refuses
 * metadata objects on cue is not something the emulator offers. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "test.h"
#include "web_util.h"

static void api_ok(struct spec_server *s, const char *path, const char *body, char *id, size_t n)
{
    struct spec_resp r;
    CHECK(spec_api(s, "POST", path, body, &r) == 0);
    CHECKF(r.status == 201, "POST %s: %ld %s", path, (long)r.status, r.body ? r.body : "");
    cJSON *j = spec_resp_json(&r);
    snprintf(id, n, "%d", (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")));
    cJSON_Delete(j);
    spec_resp_free(&r);
}

/* A finished metadata run of job_id that the target partly refused: two entries, each naming
 * the object (type and id) it concerns. Returns the run's id. */
static void seed_metadata_run(const char *db, const char *job_id, char *run_id, size_t n)
{
    PGconn *c = PQconnectdb(db);
    CHECKF(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    const char *params[] = {job_id};
    PGresult *r = PQexecParams(c,
        "INSERT INTO runs (job_id, status, started_at, finished_at, counts) VALUES ($1::bigint, "
        "'partial', now() - interval '1 minute', now(), '{\"fetched\":12,\"mapped\":12,\"sent\":12,"
        "\"imported\":8,\"updated\":2,\"ignored\":2,\"refused\":2,\"conflicts\":2}') RETURNING id",
        1, NULL, params, NULL, NULL, 0);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    snprintf(run_id, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *entry[] = {run_id};
    r = PQexecParams(c,
        "INSERT INTO run_conflicts (run_id, kind, object, error_code, message, item) VALUES "
        "($1::bigint, 'conflict', 'fbfJHSPpUQD', 'E5003', 'Property `code` with value `ANC1` "
        "on object ANC 1st visit already exists', '{\"type\":\"dataElements\",\"id\":\"fbfJHSPpUQD\"}'), "
        "($1::bigint, 'conflict', 'BfMAe6Itzgt', 'E4000', 'Missing required property `periodType`', "
        "'{\"type\":\"dataSets\",\"id\":\"BfMAe6Itzgt\"}')",
        1, NULL, entry, NULL, NULL, 0);
    CHECKF(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

TEST_TIMEOUT(web_kinds_job_form_list_summary_and_run_entries_in_each_kinds_terms, 180)
{
    char *dir = spec_test_dir("kinds");
    struct emulator em;
    emulator_start(&em, "values=0,orgunits=20,seed=5", dir);
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);

    char body[512], id[32], job_id[32], run_id[32];
    const char *names[] = {"district", "national"};
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"name\":\"%s\",\"url\":\"%s\",\"auth\":{\"type\":\"basic\","
                 "\"username\":\"admin\",\"password\":\"district\"}}", names[i], em.base);
        api_ok(&s, "/api/instances", body, id, sizeof id);
    }
    api_ok(&s, "/api/jobs", "{\"name\":\"seeded-meta\",\"kind\":\"metadata\",\"source\":\"district\","
           "\"target\":\"national\",\"objects\":{\"dataElements\":\"all\"}}", job_id, sizeof job_id);
    seed_metadata_run(db, job_id, run_id, sizeof run_id);

    char run_env[64], src_env[96];
    snprintf(run_env, sizeof run_env, "META_RUN=%s", run_id);
    snprintf(src_env, sizeof src_env, "SOURCE_URL=%s", em.base);
    char *extra[] = {run_env, src_env, NULL};
    run_browser_script("kinds.mjs", &s, extra);
    spec_server_stop(&s);
    spec_stop(em.pid, 5000);
    free(db);
    free(dir);
}
