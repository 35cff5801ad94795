/* GET /metrics from outside: authentication, the Content-Type of the text format, a parse by
 * the reference Python parser (python3-prometheus-client), and counters that move when runs
 * finish and requests are answered. */
#include <libpq-fe.h>
#include <unistd.h>

#include "harness.h"
#include "metrics.h"
#include "sched_util.h"
#include "test.h"

/* Debian's python, where python3-prometheus-client installs (.ci/deps.sh). Prints one line
 * per family ("F name type") and per sample ("S name{k=v,...} value", labels sorted). */
static const char parse_py[] =
    "import sys\n"
    "from prometheus_client.parser import text_string_to_metric_families\n"
    "for f in text_string_to_metric_families(sys.stdin.read()):\n"
    "    print('F', f.name, f.type, 'help' if f.documentation else 'nohelp')\n"
    "    for s in f.samples:\n"
    "        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))\n"
    "        print('S %s{%s} %r' % (s.name, labels, float(s.value)))\n";

/* The parser's view of body; fails the test if it does not parse. Caller frees. */
static char *parse(const char *body)
{
    char *argv[] = {"/usr/bin/python3", "-c", (char *)parse_py, NULL};
    char *out = NULL;
    int rc = spec_run(argv, NULL, body, &out);
    CHECKF(rc == 0, "the Prometheus parser refused the exposition (exit %d); body:\n%s", rc, body);
    return out;
}

/* Value of the sample "S name{labels}" in parsed, or -1 when it is absent. */
static double sample(const char *parsed, const char *name_labels)
{
    char needle[256];
    snprintf(needle, sizeof needle, "S %s ", name_labels);
    const char *p = strstr(parsed, needle);
    if (!p || (p != parsed && p[-1] != '\n'))
        return -1;
    return atof(p + strlen(needle));
}

static char *fetch(struct spec_server *s)
{
    struct spec_resp r;
    CHECK(spec_api(s, "GET", "/metrics", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
    char *parsed = parse(r.body);
    spec_resp_free(&r);
    return parsed;
}

static void exec_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    CHECKF(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
           "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

TEST(metrics_needs_a_token_and_parses_with_the_prometheus_parser)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s.base);
    struct spec_resp r;
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    CHECK_CONTAINS(r.headers, "WWW-Authenticate: Bearer");
    spec_resp_free(&r);

    char *parsed = fetch(&s);
    const char *families[] = {
        "F dhis2sync_runs counter help",            /* the parser drops _total from names */
        "F dhis2sync_runs_running gauge help",
        "F dhis2sync_values counter help",
        "F dhis2sync_conflicts counter help",
        "F dhis2sync_http_requests counter help",
        "F dhis2sync_mapping_reloads counter help",
        "F dhis2sync_mapping_errors gauge help",
        "F dhis2sync_build_info gauge help",
        "F dhis2sync_up gauge help",
        "F process_start_time_seconds gauge help",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        CHECK_CONTAINS(parsed, families[i]);
    CHECK(sample(parsed, "dhis2sync_up{}") == 1);
    CHECK(sample(parsed, "dhis2sync_db_up{}") == 1);
    CHECK(sample(parsed, "dhis2sync_build_info{version=0.1.0}") == 1);
    CHECK(sample(parsed, "process_start_time_seconds{}") > 1.7e9);
    CHECK(sample(parsed, "dhis2sync_runs_total{status=succeeded}") == 0);
    CHECK(sample(parsed, "dhis2sync_runs_total{status=interrupted}") == 0);
    CHECK(sample(parsed, "dhis2sync_values_total{kind=imported}") == 0);
    CHECK(sample(parsed, "dhis2sync_mapping_reloads_total{result=error}") == 0);
    /* the 401 above was counted */
    CHECK(sample(parsed, "dhis2sync_http_requests_total{code=401,method=GET}") >= 1);
    free(parsed);
}

TEST(metrics_counters_move_with_finished_runs_and_requests)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    char *before = fetch(&s);
    double ok0 = sample(before, "dhis2sync_http_requests_total{code=200,method=GET}");
    double nf0 = sample(before, "dhis2sync_http_requests_total{code=404,method=GET}");
    if (nf0 < 0)
        nf0 = 0;
    CHECK(ok0 >= 0);

    PGconn *c = PQconnectdb(db);
    CHECK(PQstatus(c) == CONNECTION_OK);
    exec_sql(c, "INSERT INTO instances (name, url, auth_type, username, secret) VALUES "
                "('a', 'http://a', 'basic', 'u', 'x'), ('b', 'http://b', 'pat', NULL, 'y')");
    exec_sql(c, "INSERT INTO jobs (name, source_id, target_id, spec) SELECT 'j', a.id, b.id, '{}' "
                "FROM instances a, instances b WHERE a.name = 'a' AND b.name = 'b'");
    exec_sql(c, "INSERT INTO runs (job_id, status, finished_at, counts) SELECT id, 'succeeded', "
                "now(), '{\"fetched\":10,\"sent\":9,\"imported\":7,\"updated\":1,\"ignored\":1,"
                "\"skipped\":1,\"conflicts\":2}' FROM jobs");
    exec_sql(c, "INSERT INTO runs (job_id, status, finished_at, counts) SELECT id, 'partial', "
                "now(), '{\"fetched\":5,\"imported\":3,\"conflicts\":1}' FROM jobs");
    /* a dry run's figures are not values synced */
    exec_sql(c, "INSERT INTO runs (job_id, status, dry_run, finished_at, counts) SELECT id, "
                "'failed', true, now(), '{\"imported\":1000}' FROM jobs");
    exec_sql(c, "INSERT INTO runs (job_id, status, started_at) SELECT id, 'running', now() FROM jobs");
    PQfinish(c);

    struct spec_resp r;
    for (int i = 0; i < 3; i++) {
        spec_api(&s, "GET", "/api/no-such-thing", NULL, &r);
        CHECK_INT(r.status, 404);
        spec_resp_free(&r);
    }
    char *after = fetch(&s);
    CHECK(sample(after, "dhis2sync_runs_total{status=succeeded}") == 1);
    CHECK(sample(after, "dhis2sync_runs_total{status=partial}") == 1);
    CHECK(sample(after, "dhis2sync_runs_total{status=failed}") == 1);
    CHECK(sample(after, "dhis2sync_runs_running{}") == 1);
    CHECK(sample(after, "dhis2sync_values_total{kind=fetched}") == 15);
    CHECK(sample(after, "dhis2sync_values_total{kind=imported}") == 10);
    CHECK(sample(after, "dhis2sync_values_total{kind=sent}") == 9);
    CHECK(sample(after, "dhis2sync_values_total{kind=deleted}") == 0);
    CHECK(sample(after, "dhis2sync_conflicts_total{}") == 3);
    CHECK(sample(after, "dhis2sync_http_requests_total{code=200,method=GET}") >= ok0 + 1);
    CHECK(sample(after, "dhis2sync_http_requests_total{code=404,method=GET}") == nf0 + 3);
    free(before);
    free(after);
}

TEST(metrics_public_setting_opens_metrics_but_not_the_api)
{
    struct spec_server s;
    char *env[] = {"DHIS2SYNC_METRICS_PUBLIC=1", NULL};
    CHECK(spec_server_start(&s, spec_new_db(), env) == 0);
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s.base);
    struct spec_resp r;
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    char *parsed = parse(r.body);
    CHECK(sample(parsed, "dhis2sync_up{}") == 1);
    spec_resp_free(&r);
    snprintf(url, sizeof url, "%s/api/runs", s.base);
    CHECK(spec_http("GET", url, NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 401);
    spec_resp_free(&r);
    free(parsed);
}

/* The renderer alone: without a database the process's own figures still come out, odd
 * methods fold into "other", and the mapping counters move with the calls the Lua host makes. */
TEST(metrics_render_without_a_database_keeps_process_counters)
{
    metrics_init();
    metrics_http_request("BREW", 418);
    metrics_http_request("GET\"\n", 200);
    metrics_http_request("GET", 200);
    metrics_mapping_reload(1);
    metrics_mapping_reload(0);
    metrics_mapping_reload(0);
    metrics_mapping_errors_set(1);
    char *text = NULL;
    size_t len = 0;
    struct err e = {0};
    CHECK(metrics_render(NULL, &text, &len, &e) == 0);
    CHECK_INT(strlen(text), len);
    char *parsed = parse(text);
    CHECK(sample(parsed, "dhis2sync_db_up{}") == 0);
    CHECK(sample(parsed, "dhis2sync_runs_total{status=succeeded}") == -1);
    CHECK(sample(parsed, "dhis2sync_http_requests_total{code=418,method=other}") == 1);
    CHECK(sample(parsed, "dhis2sync_http_requests_total{code=200,method=other}") == 1);
    CHECK(sample(parsed, "dhis2sync_http_requests_total{code=200,method=GET}") == 1);
    CHECK(sample(parsed, "dhis2sync_mapping_reloads_total{result=ok}") == 1);
    CHECK(sample(parsed, "dhis2sync_mapping_reloads_total{result=error}") == 2);
    CHECK(sample(parsed, "dhis2sync_mapping_errors{}") == 1);
    metrics_mapping_totals(7, 3);
    free(text);
    CHECK(metrics_render(NULL, &text, &len, &e) == 0);
    CHECK_CONTAINS(text, "dhis2sync_mapping_reloads_total{result=\"ok\"} 7\n");
    free(text);
    free(parsed);
    CHECK_NO_LEAKS();
}

/* A database with one scheduled job (name with a quote, to check label escaping) that
 * succeeded at a known time and then failed, so that every per-job family has a sample. */
static void insert_scheduled_job(const char *db)
{
    PGconn *c = PQconnectdb(db);
    CHECK(PQstatus(c) == CONNECTION_OK);
    exec_sql(c, "INSERT INTO instances (name, url, auth_type, username, secret) VALUES "
                "('a', 'http://a', 'basic', 'u', 'x'), ('b', 'http://b', 'pat', NULL, 'y')");
    exec_sql(c, "INSERT INTO jobs (name, source_id, target_id, spec, schedule) "
                "SELECT 'nightly \"x\"', a.id, b.id, '{}', '0 2 * * *' "
                "FROM instances a, instances b WHERE a.name = 'a' AND b.name = 'b'");
    exec_sql(c, "INSERT INTO runs (job_id, status, finished_at) SELECT id, 'succeeded', "
                "'2026-01-02 03:04:05+00' FROM jobs");
    exec_sql(c, "INSERT INTO runs (job_id, status, finished_at) SELECT id, 'failed', "
                "'2026-01-03 03:04:05+00' FROM jobs");
    PQfinish(c);
}

TEST(metrics_per_job_series_and_the_scheduler_leader)
{
    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    insert_scheduled_job(db);
    char *m = NULL;
    /* the server's scheduler takes its lock on its first tick */
    for (int i = 0; i < 50; i++) {
        free(m);
        m = fetch(&s);
        if (sample(m, "dhis2sync_scheduler_leader{}") == 1)
            break;
        usleep(100 * 1000);
    }
    CHECK(sample(m, "dhis2sync_scheduler_leader{}") == 1);
    CHECK(sample(m, "dhis2sync_job_last_success_timestamp_seconds{job_name=nightly \"x\"}") ==
          1767323045);
    CHECK(sample(m, "dhis2sync_job_schedule_interval_seconds{job_name=nightly \"x\"}") == 86400);
    CHECK(sample(m, "dhis2sync_job_last_run_status{job_name=nightly \"x\",status=failed}") == 1);
    free(m);

    /* the leader is read from the database, so a process that is not the scheduler (this
     * one) renders 0 once the only serve is gone */
    CHECK(spec_server_stop(&s) == 0);
    PGconn *c = PQconnectdb(db);
    CHECK(PQstatus(c) == CONNECTION_OK);
    char *text = NULL;
    size_t len = 0;
    struct err e = {0};
    CHECK(metrics_render(c, &text, &len, &e) == 0);
    CHECK_CONTAINS(text, "\ndhis2sync_scheduler_leader 0\n");
    free(text);
    PQfinish(c);
    free(db);
}

/* Runs a command from the repository root; fails the test with its output unless it exits 0. */
static void run_ok(char *const argv[])
{
    char *out = NULL;
    int rc = spec_run(argv, NULL, NULL, &out);
    CHECKF(rc == 0, "%s %s exited %d:\n%s", argv[0], argv[1], rc, out ? out : "");
    free(out);
}

/* Every dhis2sync_* or process_* name in text is a family of the parsed exposition. */
static void check_metrics_exist(const char *what, const char *text, const char *parsed)
{
    for (const char *p = text; (p = strpbrk(p, "dp")); ) {
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz_0123456789");
        /* a name ending in _ is a prefix in prose ("the dhis2sync_job_* series") */
        if ((strncmp(p, "dhis2sync_", 10) == 0 || strncmp(p, "process_", 8) == 0) && p[len - 1] != '_' &&
            (p == text || !strchr("abcdefghijklmnopqrstuvwxyz_0123456789", p[-1]))) {
            /* the parser names a counter's family without _total, its samples with it */
            char family[128], samples[128];
            snprintf(family, sizeof family, "F %.*s ", (int)len, p);
            snprintf(samples, sizeof samples, "S %.*s{", (int)len, p);
            CHECKF(strstr(parsed, family) || strstr(parsed, samples),
                   "%s uses %.*s, which /metrics does not have", what, (int)len, p);
        }
        p += len ? len : 1;
    }
}

TEST(monitoring_rules_and_dashboard_load_and_use_only_metrics_that_exist)
{
    char *check[] = {"/usr/bin/promtool", "check", "rules", "docs/monitoring/alerts.yml", NULL};
    run_ok(check);
    char *unit[] = {"/usr/bin/promtool", "test", "rules", "docs/monitoring/alerts_test.yml", NULL};
    run_ok(unit);

    char *rules = su_read_file("docs/monitoring/alerts.yml");
    char *dashboard = su_read_file("docs/monitoring/grafana-dashboard.json");
    CHECK(rules && dashboard);
    cJSON *d = cJSON_Parse(dashboard);
    CHECKF(d, "grafana-dashboard.json is not JSON");
    const cJSON *panels = cJSON_GetObjectItem(d, "panels");
    CHECK(cJSON_IsArray(panels) && cJSON_GetArraySize(panels) > 0);
    const cJSON *panel;
    cJSON_ArrayForEach(panel, panels) {
        const cJSON *targets = cJSON_GetObjectItem(panel, "targets");
        CHECKF(cJSON_IsArray(targets) && cJSON_GetArraySize(targets) > 0, "panel %s has no query",
               cJSON_GetStringValue(cJSON_GetObjectItem(panel, "title")));
        const cJSON *t;
        cJSON_ArrayForEach(t, targets)
            CHECK(cJSON_IsString(cJSON_GetObjectItem(t, "expr")));
    }
    cJSON_Delete(d);

    struct spec_server s;
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, NULL) == 0);
    insert_scheduled_job(db);
    char *parsed = fetch(&s);
    check_metrics_exist("alerts.yml", rules, parsed);
    check_metrics_exist("grafana-dashboard.json", dashboard, parsed);
    free(parsed);
    free(rules);
    free(dashboard);
    free(db);
}
