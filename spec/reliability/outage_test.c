/* Runs that ride out outages, end to end: a real dhis2sync between two DHIS2 emulators over
 * HTTP, faults injected into the target (or the source, or PostgreSQL) while the run goes. In
 * each case the target ends exactly equal to the source, no run is left running, the run says
 * what happened, and the run that met the fault succeeds (unless the fault outlasts the window).
 * Single backoffs are capped at 300 ms here (DHIS2SYNC_RETRY_MAX_DELAY_MS), so that seconds of
 * outage cost seconds of test; `make soak` has the minutes-long outages. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "rel_util.h"

enum { VALUES = 3000, MAX_DELAY_MS = 300 };

static void write_mapping(struct rel *t, const char *name, const char *text)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/mappings/%s.lua", t->s.dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    CHECK(f);
    fputs(text, f);
    CHECK(fclose(f) == 0);
    CHECK(rename(tmp, path) == 0); /* as editors save */
}

/* The version of the mapping the server has loaded ("" while none). */
static char *loaded_version(struct rel *t, const char *name)
{
    cJSON *list = su_call(&t->s, "GET", "/api/mappings", NULL, 200);
    const char *version = NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(list, "mappings"))
    {
        if (strcmp(su_str(m, "name"), name) == 0)
            version = su_str(m, "version");
    }
    char *v = strdup(version ? version : "");
    cJSON_Delete(list);
    return v;
}

static char *wait_version_change(struct rel *t, const char *name, const char *old)
{
    for (int i = 0; i < 100; i++) {
        char *v = loaded_version(t, name);
        if (*v && strcmp(v, old) != 0)
            return v;
        free(v);
        usleep(100000);
    }
    test_fail(__FILE__, __LINE__, "mapping %s was not reloaded", name);
}

/* Every value of the source as the second mapping writes it: whole numbers plus one. */
static char *plus_one(const char *lines)
{
    size_t cap = strlen(lines) * 2 + 1, len = 0;
    char *out = malloc(cap);
    const char *p = lines;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *sp = nl;
        while (sp > p && sp[-1] != ' ')
            sp--;
        char *end;
        long long v = strtoll(sp, &end, 10);
        if (end == nl && end != sp)
            len += (size_t)snprintf(out + len, cap - len, "%.*s%lld\n", (int)(sp - p), p, v + 1);
        else
            len += (size_t)snprintf(out + len, cap - len, "%.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    return out;
}

/* The lines ("de pe ou coc aoc value") whose value does not end in 7: what the mapping of the
 * PostgreSQL case keeps. */
static char *without_sevens(const char *lines)
{
    char *out = malloc(strlen(lines) + 1);
    size_t len = 0;
    for (const char *p = lines; *p;) {
        const char *nl = strchr(p, '\n');
        if (nl[-1] != '7') {
            memcpy(out + len, p, (size_t)(nl - p + 1));
            len += (size_t)(nl - p + 1);
        }
        p = nl + 1;
    }
    out[len] = '\0';
    return out;
}

TEST_TIMEOUT(a_target_refusing_a_fifth_of_its_requests_with_503_changes_nothing_but_the_time, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 31, false, MAX_DELAY_MS);
    rel_job(&t, "flaky", NULL);
    su_emu_faults(&t.dst, "{\"failRate\":0.2,\"failStatus\":503}");
    cJSON *run = rel_run_wait(&t, rel_run_start(&t, "flaky", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_INT(rel_count(run, "sent"), rel_count(run, "fetched"));
    CHECK_INT(rel_count(run, "imported"), rel_count(run, "sent"));
    rel_end(&t);
}

/* The target imports a batch and the connection drops before its answer: the batch is sent
 * again (CREATE_AND_UPDATE makes that harmless). Each batch counts once, from the answer that
 * arrived: what the lost attempt imported shows as ignored, so imported + updated + ignored is
 * still exactly what was sent, and the run says how many batches went twice. */
TEST_TIMEOUT(a_target_dropping_the_connection_after_importing_counts_each_batch_once, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 32, false, MAX_DELAY_MS);
    rel_job(&t, "dropped", NULL);
    su_emu_faults(&t.dst, "{\"dropRate\":0.2,\"importOnly\":true}");
    cJSON *run = rel_run_wait(&t, rel_run_start(&t, "dropped", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    long long sent = rel_count(run, "sent");
    CHECK_INT(sent, rel_count(run, "fetched"));
    CHECK_INT(rel_count(run, "imported") + rel_count(run, "updated") + rel_count(run, "ignored"), sent);
    CHECKF(rel_count(run, "ignored") > 0, "some batch to have been imported by an attempt whose answer was lost");
    CHECKF(rel_warned(run, "sent again"), "a warning that batches were sent again");
    rel_end(&t);
}

TEST_TIMEOUT(a_target_down_for_seconds_mid_run_is_waited_for_and_the_run_succeeds, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 33, false, MAX_DELAY_MS);
    rel_job(&t, "outage", "\"retryWindow\":60");
    long long id = rel_run_into(&t, "outage", "{\"downFor\":6}", 0);
    cJSON *waiting = rel_run_waiting(&t, id, "target", 6);
    CHECK(su_str(waiting, "waitingSince") != NULL);
    CHECK_STR(su_str(waiting, "status"), "running");
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(run, "waitingFor")));
    CHECKF(rel_warned(run, "for the target from"), "a warning saying how long the run waited for the target");
    CHECK_INT(rel_count(run, "imported"), rel_count(run, "fetched"));
    rel_end(&t);
}

/* A value stream that breaks after values were delivered is not read again (they would count
 * twice), so the source is down from the run's first request on. */
TEST_TIMEOUT(a_source_down_when_the_run_starts_is_waited_for_and_the_run_succeeds, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 34, false, MAX_DELAY_MS);
    rel_job(&t, "source outage", "\"retryWindow\":60");
    su_emu_faults(&t.src, "{\"downFor\":5}");
    long long id = rel_run_start(&t, "source%20outage", false);
    cJSON_Delete(rel_run_waiting(&t, id, "source", 5));
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the source from"), "a warning saying how long the run waited for the source");
    rel_end(&t);
}

TEST_TIMEOUT(an_outage_longer_than_the_retry_window_fails_the_run_saying_so, 120)
{
    struct rel t;
    rel_start(&t, VALUES, 35, false, MAX_DELAY_MS);
    rel_job(&t, "short window", "\"retryWindow\":3");
    long long id = rel_run_into(&t, "short%20window", "{\"downFor\":600}", 0);
    cJSON *run = rel_run_wait(&t, id, 60);
    CHECK_STR(su_str(run, "status"), "failed");
    CHECK_CONTAINS(su_str(run, "error"), "instance 'dst' unreachable for 3 s");
    rel_check_none_running(&t);
    /* once the target is back, the next run repairs everything */
    su_emu_faults(&t.dst, "{\"reset\":true}");
    run = rel_run_wait(&t, rel_run_start(&t, "short%20window", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    rel_end(&t);
}

/* PostgreSQL stops (every connection cut) and comes back while the run posts: the run thread's
 * connection and the heartbeat reconnect, progress and the listed values written after it, and
 * no listed value is lost or written twice. */
TEST_TIMEOUT(a_postgresql_restart_mid_run_is_ridden_out_and_nothing_is_lost_or_doubled, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 36, true, MAX_DELAY_MS);
    /* values ending in 7 are dropped on purpose: they are listed on the run, buffered while the
     * database is away */
    write_mapping(&t, "skip_some",
                  "return { transform = function(dv) if dv.value:sub(-1) == '7' then return nil end "
                  "return dv end }\n");
    free(wait_version_change(&t, "skip_some", ""));
    rel_job(&t, "pg restart", "\"mapping\":\"skip_some\",\"retryWindow\":60");
    long long id = rel_run_into(&t, "pg%20restart", NULL, 2000);
    cJSON *run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECKF(rel_warned(run, "for the database from"), "a warning saying the run waited for the database");
    long long skipped = rel_count(run, "skipped");
    CHECKF(skipped > 0, "some values skipped by the mapping");
    CHECK_INT(rel_count(run, "sent") + skipped, rel_count(run, "fetched"));
    char conflicts[64];
    snprintf(conflicts, sizeof conflicts, "/api/runs/%lld/conflicts?pageSize=1", id);
    cJSON *listed = su_call(&t.s, "GET", conflicts, NULL, 200);
    CHECK_INT(su_num(cJSON_GetObjectItem(listed, "pager"), "total"), skipped);
    cJSON_Delete(listed);
    su_emu_faults(&t.dst, NULL);
    rel_check_none_running(&t);
    const char *sets[] = {t.src.ds_monthly, t.src.ds_quarterly};
    for (int i = 0; i < 2; i++) {
        char *src = su_emu_values(&t.src, sets[i], NULL), *dst = su_emu_values(&t.dst, sets[i], NULL);
        char *want = without_sevens(src);
        CHECKF(strcmp(want, dst) == 0, "data set %s: the target should hold the source's values but "
               "those ending in 7", sets[i]);
        free(src);
        free(dst);
        free(want);
    }
    /* the next run (the same mapping, full) sends the same values: the target has them all */
    run = rel_run_wait(&t, rel_run_start(&t, "pg%20restart", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_INT(rel_count(run, "imported"), 0);
    rel_stop(&t);
}

/* The process dies (SIGKILL) while its run waits for a target that is down: the next process
 * marks the run interrupted, queues it once more, and that retry makes the target whole. */
TEST_TIMEOUT(a_run_killed_while_it_waits_out_an_outage_is_interrupted_and_its_retry_succeeds, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 37, false, MAX_DELAY_MS);
    rel_job(&t, "killed", "\"retryWindow\":600");
    long long id = rel_run_into(&t, "killed", "{\"downFor\":600}", 0);
    cJSON_Delete(rel_run_waiting(&t, id, "target", 10));
    kill(t.s.pid, SIGKILL);
    waitpid(t.s.pid, NULL, 0);
    t.s.pid = 0;
    su_emu_faults(&t.dst, "{\"reset\":true}");
    char delay[64];
    snprintf(delay, sizeof delay, "DHIS2SYNC_RETRY_MAX_DELAY_MS=%d", MAX_DELAY_MS);
    char *env[] = {delay, NULL};
    CHECK(spec_server_start(&t.s, t.db, env) == 0);
    cJSON *first = rel_run_wait(&t, id, 60);
    CHECK_STR(su_str(first, "status"), "interrupted");
    CHECK_CONTAINS(su_str(first, "error"), "stopped");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(first, "waitingFor")));
    cJSON *retry = rel_run_wait(&t, id + 1, 120);
    CHECK_STR(su_str(retry, "trigger"), "retry");
    CHECK_STR(su_str(retry, "status"), "succeeded");
    rel_end(&t);
}

/* A mapping saved while a run uses it: the run keeps the version it started with to its end,
 * and the next run uses the new one. */
TEST_TIMEOUT(a_mapping_saved_mid_run_leaves_the_run_on_the_version_it_started_with, 180)
{
    struct rel t;
    rel_start(&t, VALUES, 38, false, MAX_DELAY_MS);
    write_mapping(&t, "edited", "return {}\n");
    char *v1 = wait_version_change(&t, "edited", "");
    rel_job(&t, "edited mid run", "\"mapping\":\"edited\"");
    su_emu_faults(&t.dst, "{\"delayMs\":100,\"importOnly\":true}");
    long long id = rel_run_start(&t, "edited%20mid%20run", true);
    write_mapping(&t, "edited",
                  "return { transform = function(dv)\n"
                  "  if dv.value:match('^%-?%d+$') then dv.value = tostring(tonumber(dv.value) + 1) end\n"
                  "  return dv\n"
                  "end }\n");
    char *v2 = wait_version_change(&t, "edited", v1);
    cJSON *run = rel_run_get(&t, id);
    CHECKF(strcmp(su_str(run, "status"), "running") == 0, "the run to be still running when the mapping was saved, saw %s", su_str(run, "status"));
    cJSON_Delete(run);
    run = rel_run_wait(&t, id, 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_STR(su_str(run, "mappingVersion"), v1);
    su_emu_faults(&t.dst, NULL);
    rel_check_same(&t, -1);
    rel_check_none_running(&t);

    run = rel_run_wait(&t, rel_run_start(&t, "edited%20mid%20run", false), 120);
    CHECK_STR(su_str(run, "status"), "succeeded");
    CHECK_STR(su_str(run, "mappingVersion"), v2);
    const char *sets[] = {t.src.ds_monthly, t.src.ds_quarterly};
    for (int i = 0; i < 2; i++) {
        char *src = su_emu_values(&t.src, sets[i], NULL), *dst = su_emu_values(&t.dst, sets[i], NULL);
        char *want = plus_one(src);
        size_t k = 0;
        while (want[k] && want[k] == dst[k])
            k++;
        while (k > 0 && want[k - 1] != '\n')
            k--;
        CHECKF(strcmp(want, dst) == 0, "data set %s: the target should hold the source's values "
               "plus one\n  expected: %.100s\n  target: %.100s", sets[i], want + k, dst + k);
        free(src);
        free(dst);
        free(want);
    }
    free(v1);
    free(v2);
    rel_stop(&t);
}

/* `dhis2sync run` on a terminal: its progress line says what the run waits for. */
TEST_TIMEOUT(the_run_command_shows_what_it_waits_for_in_its_progress_line, 120)
{
    struct rel t;
    rel_start(&t, 500, 39, false, MAX_DELAY_MS);
    rel_job(&t, "cli", "\"retryWindow\":60");
    char *bin = spec_bin("dhis2sync"), *dburl = NULL, *cmd = NULL, delay[64];
    CHECK(asprintf(&dburl, "DATABASE_URL=%s", t.db) > 0);
    CHECK(asprintf(&cmd, "%s run cli", bin) > 0);
    snprintf(delay, sizeof delay, "DHIS2SYNC_RETRY_MAX_DELAY_MS=%d", MAX_DELAY_MS);
    char *env[] = {dburl, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", delay, NULL};
    /* script(1) gives the command a terminal, where the progress line is drawn */
    char *argv[] = {"/usr/bin/script", "-qec", cmd, "/dev/null", NULL};
    CHECK(chdir(t.s.dir) == 0);
    su_emu_faults(&t.dst, "{\"downFor\":3}");
    char *out = NULL;
    CHECK_INT(spec_run(argv, env, NULL, &out), 0);
    CHECK_CONTAINS(out, "waiting for the target since ");
    CHECK_CONTAINS(out, " (retrying)");
    free(out);
    free(cmd);
    free(dburl);
    free(bin);
    rel_end(&t);
}
