/* scaleout_test.c — workers in several processes on one database, against DHIS2 emulators:
 * each run is run by exactly one process, a worker killed mid-run leads to exactly one re-run
 * and an exact target, a run whose process went silent elsewhere is re-queued once, and a
 * cancelled run stops at its next batch boundary. */
#include <unistd.h>

#include "sched_util.h"
#include "test.h"

static char *const api_only[] = {"DHIS2SYNC_WORKERS=0", "DHIS2SYNC_HEARTBEAT_MS=200",
                                 "DHIS2SYNC_ORPHAN_AFTER_S=30", NULL};
static char *const fast_worker[] = {"DHIS2SYNC_WORKERS=2", "DHIS2SYNC_HEARTBEAT_MS=200",
                                    "DHIS2SYNC_ORPHAN_AFTER_S=30", NULL};
static char *const one_thread_worker[] = {"DHIS2SYNC_WORKERS=1", "DHIS2SYNC_HEARTBEAT_MS=200",
                                          "DHIS2SYNC_ORPHAN_AFTER_S=30", NULL};

/* A job syncing the monthly data set of the whole source, 24 monthly periods (24 chunks). */
static int make_job(struct spec_server *s, const char *name, const char *src, const char *dst,
                    const struct su_emu *emu, int batch)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"source\":\"%s\",\"target\":\"%s\",\"dataSets\":[\"%s\"],"
             "\"orgUnits\":[\"%s\"],\"children\":true,\"periods\":{\"last\":24,\"type\":\"Monthly\"},"
             "\"importOptions\":{\"batchSize\":%d}}",
             name, src, dst, emu->ds_monthly, emu->root, batch);
    cJSON *j = su_call(s, "POST", "/api/jobs", body, 201);
    int id = (int)su_num(j, "id");
    cJSON_Delete(j);
    return id;
}

static int queue_run(struct spec_server *s, int job)
{
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d/run", job);
    cJSON *r = su_call(s, "POST", path, "{}", 202);
    int id = (int)su_num(r, "id");
    cJSON_Delete(r);
    return id;
}

static int count_in(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void expect_same_values(struct su_emu *src, struct su_emu *dst, long *n_out)
{
    long n_src, n_dst;
    char *a = su_emu_values(src, src->ds_monthly, &n_src);
    char *b = su_emu_values(dst, dst->ds_monthly, &n_dst);
    CHECKF(n_src > 0, "the source has no values");
    CHECKF(n_src == n_dst && strcmp(a, b) == 0,
           "the target (%ld values) differs from the source (%ld values)", n_dst, n_src);
    if (n_out)
        *n_out = n_src;
    free(a);
    free(b);
}

TEST_TIMEOUT(two_worker_processes_never_run_the_same_run_and_counts_are_exact, 300)
{
    enum { PAIRS = 2, JOBS_PER_PAIR = 3, ROUNDS = 4 };
    struct su_emu src[PAIRS], dst[PAIRS];
    long expected[PAIRS];
    for (int p = 0; p < PAIRS; p++) {
        su_emu_start(&src[p], 300, 20, 11 + (unsigned long)p);
        su_emu_start(&dst[p], 0, 20, 11 + (unsigned long)p);
        char *v = su_emu_values(&src[p], src[p].ds_monthly, &expected[p]);
        free(v);
    }
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, api_only) == 0);
    PGconn *c = su_db(db);
    int jobs[PAIRS * JOBS_PER_PAIR];
    for (int p = 0; p < PAIRS; p++) {
        char sn[16], dn[16];
        snprintf(sn, sizeof sn, "src%d", p);
        snprintf(dn, sizeof dn, "dst%d", p);
        su_instance(&s, sn, src[p].url);
        su_instance(&s, dn, dst[p].url);
        for (int k = 0; k < JOBS_PER_PAIR; k++) {
            char name[32];
            snprintf(name, sizeof name, "pair%d-job%d", p, k);
            /* small batches: several posts per run */
            jobs[p * JOBS_PER_PAIR + k] = make_job(&s, name, sn, dn, &src[p], 40 + 10 * k);
        }
    }
    struct su_worker w1, w2;
    su_worker_start(&w1, db, fast_worker);
    su_worker_start(&w2, db, fast_worker);
    int n_jobs = PAIRS * JOBS_PER_PAIR;
    for (int round = 1; round <= ROUNDS; round++) {
        for (int j = 0; j < n_jobs; j++)
            queue_run(&s, jobs[j]);
        char want[16];
        snprintf(want, sizeof want, "%d", n_jobs * round);
        su_wait_sql(c, 120000, want, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL");
    }
    su_worker_stop(&w1);
    su_worker_stop(&w2);

    /* each run: one process, succeeded, exact counts */
    PGresult *r = PQexec(c, "SELECT r.id, r.status, r.worker, (r.counts->>'fetched')::bigint,"
                            " (r.counts->>'sent')::bigint, (r.counts->>'imported')::bigint"
                            "  + (r.counts->>'updated')::bigint + (r.counts->>'ignored')::bigint,"
                            " (r.counts->>'conflicts')::bigint, j.name FROM runs r JOIN jobs j ON j.id = r.job_id ORDER BY r.id");
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
    CHECK_INT(PQntuples(r), n_jobs * ROUNDS);
    char *log1 = su_read_file(w1.log_path), *log2 = su_read_file(w2.log_path);
    int by1 = 0, by2 = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *worker = PQgetvalue(r, i, 2);
        int pair = PQgetvalue(r, i, 7)[4] - '0';
        CHECKF(strcmp(PQgetvalue(r, i, 1), "succeeded") == 0, "run %s: %s", id, PQgetvalue(r, i, 1));
        CHECKF(strcmp(worker, w1.id) == 0 || strcmp(worker, w2.id) == 0, "run %s: worker %s", id, worker);
        long long fetched = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        CHECKF(fetched == expected[pair], "run %s fetched %lld, the source has %ld", id, fetched, expected[pair]);
        CHECKF(strtoll(PQgetvalue(r, i, 4), NULL, 10) == fetched, "run %s sent %s of %lld", id,
               PQgetvalue(r, i, 4), fetched);
        CHECKF(strtoll(PQgetvalue(r, i, 5), NULL, 10) == fetched, "run %s: target accounted for %s of %lld",
               id, PQgetvalue(r, i, 5), fetched);
        CHECK_INT(strtoll(PQgetvalue(r, i, 6), NULL, 10), 0);
        /* the start of a run is logged by the process that runs it: once, in one log */
        char needle[64];
        snprintf(needle, sizeof needle, "run %s of job '", id);
        int in1 = count_in(log1, needle), in2 = count_in(log2, needle);
        CHECKF(in1 + in2 == 1, "run %s was started %d times (worker 1) and %d times (worker 2)", id, in1, in2);
        CHECKF((in1 == 1) == (strcmp(worker, w1.id) == 0), "run %s: the database and the logs disagree", id);
        strcmp(worker, w1.id) == 0 ? by1++ : by2++;
    }
    PQclear(r);
    printf("%d runs: %d by worker 1, %d by worker 2\n", n_jobs * ROUNDS, by1, by2);
    for (int p = 0; p < PAIRS; p++)
        expect_same_values(&src[p], &dst[p], NULL);
    free(log1);
    free(log2);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST_TIMEOUT(a_worker_killed_mid_run_leads_to_exactly_one_rerun_and_an_exact_target, 300)
{
    struct su_emu src, dst;
    su_emu_start(&src, 400, 20, 21);
    su_emu_start(&dst, 0, 20, 21);
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, api_only) == 0);
    PGconn *c = su_db(db);
    su_instance(&s, "src", src.url);
    su_instance(&s, "dst", dst.url);
    int job = make_job(&s, "slow", "src", "dst", &src, 20);
    su_emu_faults(&src, "{\"delayMs\":400}");

    struct su_worker a, b;
    su_worker_start(&a, db, one_thread_worker);
    int first = queue_run(&s, job);
    /* some chunks are done (and some values posted), far from all */
    su_wait_sql(c, 60000, "t", "SELECT status = 'running' AND progress_done >= 3 FROM runs WHERE id = %d", first);
    su_worker_kill(&a);
    su_emu_faults(&src, NULL);

    /* another worker on this host sees the pid is gone: interrupted, queued again once */
    su_worker_start(&b, db, one_thread_worker);
    su_wait_sql(c, 60000, "interrupted", "SELECT status FROM runs WHERE id = %d", first);
    CHECK_CONTAINS(su_sql(c, "SELECT error FROM runs WHERE id = %d", first), "its process stopped");
    su_wait_sql(c, 120000, "succeeded", "SELECT status FROM runs WHERE retry_of = %d", first);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs"), 2);
    CHECK_STR(su_sql(c, "SELECT trigger FROM runs WHERE retry_of = %d", first), "retry");
    CHECK_STR(su_sql(c, "SELECT worker FROM runs WHERE retry_of = %d", first), b.id);
    long n;
    expect_same_values(&src, &dst, &n);
    CHECK_INT(su_sql_int(c, "SELECT (counts->>'fetched')::bigint FROM runs WHERE retry_of = %d", first), n);
    /* more heartbeats and orphan checks go by: still one re-run */
    char *log = su_read_file(b.log_path);
    size_t len = strlen(log);
    free(log);
    for (int waited = 0; waited < 10000; waited += 100) {
        log = su_read_file(b.log_path);
        bool more = strlen(log) > len + 200;
        free(log);
        if (more)
            break;
        usleep(100000);
    }
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs"), 2);
    su_worker_stop(&b);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST(a_run_silent_elsewhere_is_interrupted_and_queued_again_once)
{
    char *db = spec_new_db();
    struct spec_server s;
    char *const env[] = {"DHIS2SYNC_WORKERS=0", "DHIS2SYNC_HEARTBEAT_MS=200", "DHIS2SYNC_ORPHAN_AFTER_S=3", NULL};
    CHECK(spec_server_start(&s, db, env) == 0);
    PGconn *c = su_db(db);
    su_instance(&s, "src", "http://127.0.0.1:9");
    su_instance(&s, "dst", "http://127.0.0.1:9");
    struct su_emu fake = {.ds_monthly = "BfMAe6Itzgt", .root = "ImspTQPwCqd"};
    int j1 = make_job(&s, "a", "src", "dst", &fake, 100);
    int j2 = make_job(&s, "b", "src", "dst", &fake, 100);
    /* a run on another host, heard from a second ago: alive */
    su_sql_exec(c, "INSERT INTO runs (job_id, status, worker, started_at, heartbeat_at)"
                   " VALUES (%d, 'running', 'elsewhere.example:4242', now(), now() - interval '1 second')", j1);
    /* a retry on another host, silent for ten minutes: interrupted, not retried again */
    su_sql_exec(c, "INSERT INTO runs (job_id, status, worker, started_at, heartbeat_at, trigger, retry_of)"
                   " VALUES (%d, 'running', 'elsewhere.example:4243', now(), now() - interval '10 minutes',"
                   " 'retry', NULL)", j2);
    su_sql_exec(c, "UPDATE runs SET retry_of = id WHERE worker = 'elsewhere.example:4243'");
    su_wait_sql(c, 20000, "interrupted", "SELECT status FROM runs WHERE worker = 'elsewhere.example:4243'");
    /* the first goes silent: after DHIS2SYNC_ORPHAN_AFTER_S it is interrupted and queued again */
    su_wait_sql(c, 20000, "interrupted", "SELECT status FROM runs WHERE worker = 'elsewhere.example:4242'");
    su_wait_sql(c, 20000, "queued retry", "SELECT status || ' ' || trigger FROM runs WHERE retry_of ="
                                          " (SELECT id FROM runs WHERE worker = 'elsewhere.example:4242')");
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs WHERE job_id = %d", j2), 1);
    CHECK_INT(su_sql_int(c, "SELECT count(*) FROM runs WHERE job_id = %d", j1), 2);
    CHECK(su_wait_file(s.log_path, "was orphaned by elsewhere.example:4242", 5000) == 0);
    PQfinish(c);
    spec_server_stop(&s);
}

TEST_TIMEOUT(a_cancelled_run_stops_at_the_next_batch_boundary_and_says_so, 180)
{
    struct su_emu src, dst;
    su_emu_start(&src, 400, 20, 31);
    su_emu_start(&dst, 0, 20, 31);
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, one_thread_worker) == 0);
    PGconn *c = su_db(db);
    su_instance(&s, "src", src.url);
    su_instance(&s, "dst", dst.url);
    int job = make_job(&s, "slow", "src", "dst", &src, 20);
    su_emu_faults(&src, "{\"delayMs\":400}");
    int run = queue_run(&s, job);
    su_wait_sql(c, 60000, "t", "SELECT status = 'running' AND progress_done >= 2 FROM runs WHERE id = %d", run);
    char path[64];
    snprintf(path, sizeof path, "/api/runs/%d/cancel", run);
    cJSON_Delete(su_call(&s, "POST", path, NULL, 202));
    /* the next chunk boundary is at most one slow request away */
    su_wait_sql(c, 15000, "cancelled", "SELECT status FROM runs WHERE id = %d", run);
    snprintf(path, sizeof path, "/api/runs/%d", run);
    cJSON *got = su_call(&s, "GET", path, NULL, 200);
    CHECK_STR(su_str(got, "error"), "cancelled on request");
    CHECK(su_str(got, "finishedAt") != NULL);
    cJSON *progress = cJSON_GetObjectItem(got, "progress");
    CHECKF(su_num(progress, "done") < su_num(progress, "total"), "progress %.0f of %.0f: it did not stop early",
           su_num(progress, "done"), su_num(progress, "total"));
    cJSON_Delete(got);
    /* the job is free again */
    su_emu_faults(&src, NULL);
    int again = queue_run(&s, job);
    su_wait_sql(c, 60000, "succeeded", "SELECT status FROM runs WHERE id = %d", again);
    expect_same_values(&src, &dst, NULL);
    PQfinish(c);
    spec_server_stop(&s);
}
