/* `dhis2sync backup` and `restore` from outside: a round trip of every table and the mapping
 * files through a new database, the refusals (non-empty database, changed mapping files),
 * --force, and failures that must leave no half archive and change nothing. */
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

static const char mapping_lua[] =
    "local t = require \"d2.tables\"\n"
    "return { orgUnits = t.csv(\"orgunits.csv\"), unmapped = \"skip\" }\n";
/* bytes that a text-mode copy would change: CRLF, a NUL, UTF-8 */
static const char orgunits_csv[] = "ImspTQPwCqd,Zx9a\r\nO6uvpzGd5pu,K\xc3\xa9\x00y\n";
#define ORGUNITS_LEN (sizeof orgunits_csv - 1)

/* Tables compared after a round trip, each as its rows in id order. */
static const char *const tables[] = {"instances", "jobs", "runs", "run_conflicts", "users",
                                     "api_tokens", "watermarks", "schema_migrations"};
static const char *const order_by[] = {"id", "id", "id", "id", "id", "id", "job_id", "version"};

static void sql(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    CHECKF(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
           "%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
}

static PGconn *connect_db(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    CHECKF(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    return c;
}

/* A table's rows as one text (row_to_json of each row, in order). Caller frees. */
static char *dump_table(const char *conninfo, size_t i)
{
    PGconn *c = connect_db(conninfo);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT coalesce(string_agg(row_to_json(t)::text, E'\\n' ORDER BY t.%s), '') FROM %s t",
             order_by[i], tables[i]);
    PGresult *r = PQexec(c, q);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQresultErrorMessage(r));
    char *out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return out;
}

static long long count(const char *conninfo, const char *q)
{
    PGconn *c = connect_db(conninfo);
    PGresult *r = PQexec(c, q);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQresultErrorMessage(r));
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECKF(f, "cannot write %s", path);
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* The file's bytes (NULL if absent); *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    CHECK(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static int file_is(const char *path, const char *data, size_t len)
{
    size_t got = 0;
    char *buf = slurp(path, &got);
    int same = buf && got == len && memcmp(buf, data, len) == 0;
    free(buf);
    return same;
}

/* Runs `dhis2sync ARGS...` against db with the given mappings folder; returns the exit status
 * and its stderr+stdout in *out (caller frees). extra: one more "K=V" or NULL. */
static int dhis2sync(const char *db, const char *mappings, const char *extra, char **out,
                     const char *a1, const char *a2, const char *a3)
{
    char *bin = spec_bin("dhis2sync");
    char *dbenv = NULL, *mapenv = NULL;
    CHECK(asprintf(&dbenv, "DATABASE_URL=%s", db) > 0);
    CHECK(asprintf(&mapenv, "DHIS2SYNC_MAPPINGS=%s", mappings) > 0);
    char *env[] = {dbenv, mapenv, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789",
                   (char *)extra, NULL};
    /* stderr into the captured output, so messages can be checked */
    char *argv[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", bin, (char *)a1, (char *)a2,
                    (char *)a3, NULL};
    int rc = spec_run(argv, env, NULL, out);
    free(bin);
    return rc;
}

/* A database with a row in every table, as a running server made it, plus mapping files.
 * Returns the server's database conninfo; *mappings gets its mappings folder. */
static char *make_data(struct spec_server *s, char **mappings, long long *running_run)
{
    char *db = spec_new_db();
    CHECK(spec_server_start(s, db, NULL) == 0);
    PGconn *c = connect_db(db);
    sql(c, "INSERT INTO users (name, password_hash) VALUES ('amina', '$y$j9T$salt$hash')");
    sql(c, "INSERT INTO api_tokens (name, token_hash) VALUES ('robot', sha256('d2s_x'::bytea))");
    sql(c, "INSERT INTO instances (name, url, auth_type, username, secret) VALUES "
           "('district', 'https://hmis.example.org/dhis', 'basic', 'sync', 'v1:sealed-a'), "
           "('national \"HQ\" é', 'https://dhis2.example.gov', 'pat', NULL, 'v1:sealed-b')");
    /* next_run_at set, as the API sets it: a job without one would be given one by the
     * server's scheduler while the test compares the tables */
    sql(c, "INSERT INTO jobs (name, source_id, target_id, mapping, spec, schedule, next_run_at) "
           "SELECT 'district-to-national', a.id, b.id, 'district_to_national', "
           "'{\"dataSets\":[\"BfMAe6Itzgt\"],\"periods\":{\"last\":12,\"type\":\"Monthly\"}}', "
           "'0 2 * * *', '2099-01-01T02:00:00Z' FROM instances a, instances b "
           "WHERE a.name = 'district' AND b.name <> 'district'");
    sql(c, "INSERT INTO runs (job_id, status, started_at, finished_at, counts, mapping_version) "
           "SELECT id, 'partial', now() - interval '1 hour', now(), "
           "'{\"fetched\":3,\"imported\":2,\"conflicts\":1}', 'abc123' FROM jobs");
    sql(c, "INSERT INTO run_conflicts (run_id, kind, object, value, error_code, message, data_value) "
           "SELECT id, 'conflict', 'O6uvpzGd5pu', '12', 'E7617', 'outside the hierarchy', "
           "'{\"value\":\"12\"}' FROM runs");
    sql(c, "INSERT INTO watermarks (job_id, last_updated, run_id) "
           "SELECT job_id, '2026-11-25T02:00:00.000', id FROM runs");
    sql(c, "INSERT INTO runs (job_id, status, started_at, trigger) "
           "SELECT id, 'running', now(), 'schedule' FROM jobs");
    PQfinish(c);
    *running_run = count(db, "SELECT id FROM runs WHERE status = 'running'");

    CHECK(asprintf(mappings, "%s/mappings", s->dir) > 0);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/district_to_national.lua", *mappings);
    write_file(path, mapping_lua, strlen(mapping_lua));
    snprintf(path, sizeof path, "%s/orgunits.csv", *mappings);
    write_file(path, orgunits_csv, ORGUNITS_LEN);
    return db;
}

static char *backup_of(const char *db, const char *mappings)
{
    char *dir = spec_test_dir("bk");
    char *file = NULL;
    CHECK(asprintf(&file, "%s/dhis2sync.backup", dir) > 0);
    char *out = NULL;
    int rc = dhis2sync(db, mappings, NULL, &out, "backup", file, NULL);
    CHECKF(rc == 0, "backup exited %d: %s", rc, out);
    struct stat st;
    CHECK(stat(file, &st) == 0);
    CHECKF((st.st_mode & 0777) == 0600, "the archive is mode %o, expected 0600", st.st_mode & 0777);
    free(out);
    return file;
}

static void check_same_tables(const char *a, const char *b, long long skip_run)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char *x = dump_table(a, i), *y = dump_table(b, i);
        if (skip_run && strcmp(tables[i], "runs") == 0) {
            /* the run that was running is compared apart */
            char *p = strstr(x, "\n{\"id\":");
            char *q = strstr(y, "\n{\"id\":");
            while (p && atoll(p + 7) != skip_run)
                p = strstr(p + 1, "\n{\"id\":");
            while (q && atoll(q + 7) != skip_run)
                q = strstr(q + 1, "\n{\"id\":");
            if (p)
                *p = '\0';
            if (q)
                *q = '\0';
        }
        CHECKF(strcmp(x, y) == 0, "table %s differs after the round trip:\nbefore: %.1500s\nafter:  %.1500s",
               tables[i], x, y);
        CHECKF(strcmp(tables[i], "schema_migrations") == 0 || strlen(x) > 2,
               "table %s was empty: the test data is incomplete", tables[i]);
        free(x);
        free(y);
    }
}

TEST_TIMEOUT(backup_restore_round_trip_into_a_new_database, 180)
{
    struct spec_server s;
    char *mappings = NULL;
    long long running = 0;
    char *db = make_data(&s, &mappings, &running);
    /* taken while serve runs: no downtime needed */
    char *file = backup_of(db, mappings);
    spec_server_stop(&s);

    /* a host that lost everything: a new empty database and no mappings folder */
    char *fresh = spec_new_db();
    char *home = spec_test_dir("home");
    char *new_mappings = NULL;
    CHECK(asprintf(&new_mappings, "%s/mappings", home) > 0);
    char *out = NULL;
    int rc = dhis2sync(fresh, new_mappings, NULL, &out, "restore", file, NULL);
    CHECKF(rc == 0, "restore exited %d: %s", rc, out);
    free(out);

    check_same_tables(db, fresh, running);
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM runs WHERE id = %lld AND status = 'interrupted' "
                          "AND finished_at IS NOT NULL", running);
    CHECKF(count(fresh, q) == 1, "the run that was running at backup time is not interrupted");
    /* sequences come back too: a new row does not collide with a restored id */
    CHECK_INT(count(fresh, "SELECT (nextval('instances_id_seq') > (SELECT max(id) FROM instances))::int"), 1);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/district_to_national.lua", new_mappings);
    CHECKF(file_is(path, mapping_lua, strlen(mapping_lua)), "%s differs after restore", path);
    snprintf(path, sizeof path, "%s/orgunits.csv", new_mappings);
    CHECKF(file_is(path, orgunits_csv, ORGUNITS_LEN), "%s differs after restore", path);

    /* the server starts normally on the restored database */
    struct spec_server t;
    CHECK(spec_server_start(&t, fresh, NULL) == 0);
    struct spec_resp r;
    CHECK(spec_api(&t, "GET", "/metrics", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(r.body, "dhis2sync_runs_total{status=\"partial\"} 1");
    spec_resp_free(&r);
    spec_server_stop(&t);
}

TEST_TIMEOUT(restore_refuses_a_non_empty_db_unless_forced, 180)
{
    struct spec_server s;
    char *mappings = NULL;
    long long running = 0;
    char *db = make_data(&s, &mappings, &running);
    char *file = backup_of(db, mappings);
    spec_server_stop(&s);

    char *other = spec_new_db();
    struct spec_server o;
    CHECK(spec_server_start(&o, other, NULL) == 0);  /* migrated, and a token made */
    spec_server_stop(&o);
    PGconn *c = connect_db(other);
    sql(c, "INSERT INTO users (name, password_hash) VALUES ('someone-else', 'x')");
    PQfinish(c);
    char *home = spec_test_dir("home");
    char *other_mappings = NULL;
    CHECK(asprintf(&other_mappings, "%s/mappings", home) > 0);
    CHECK(mkdir(other_mappings, 0755) == 0);

    char *before[sizeof tables / sizeof tables[0]];
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        before[i] = dump_table(other, i);
    char *out = NULL;
    CHECK_INT(dhis2sync(other, other_mappings, NULL, &out, "restore", file, NULL), 1);
    CHECK_CONTAINS(out, "not empty");
    CHECK_CONTAINS(out, "--force");
    free(out);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char *now = dump_table(other, i);
        CHECKF(strcmp(before[i], now) == 0, "table %s changed although restore refused", tables[i]);
        free(now);
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/orgunits.csv", other_mappings);
    CHECKF(access(path, F_OK) != 0, "restore refused but wrote %s", path);

    /* a mapping file that differs from the archived one is refused too, before the database */
    static const char mine[] = "return {} -- edited here\n";
    snprintf(path, sizeof path, "%s/district_to_national.lua", other_mappings);
    write_file(path, mine, strlen(mine));

    CHECK_INT(dhis2sync(other, other_mappings, NULL, &out, "restore", file, "--force"), 0);
    free(out);
    check_same_tables(db, other, running);
    CHECK_INT(count(other, "SELECT count(*) FROM users WHERE name = 'someone-else'"), 0);
    CHECK(file_is(path, mapping_lua, strlen(mapping_lua)));
    /* the replaced file is kept */
    char *find_argv[] = {"/usr/bin/find", other_mappings, "-path", "*/.before-restore-*/district_to_national.lua", NULL};
    char *found = NULL;
    spec_run(find_argv, NULL, NULL, &found);
    CHECKF(found && *found, "no copy of the replaced mapping under .before-restore-*");
    found[strcspn(found, "\n")] = '\0';
    CHECK(file_is(found, mine, strlen(mine)));
    free(found);

    /* forcing again over the restored data works and is idempotent */
    CHECK_INT(dhis2sync(other, other_mappings, NULL, &out, "restore", file, "--force"), 0);
    free(out);
    check_same_tables(db, other, running);
}

/* Idle connections of a live server hold no lock that would stop a restore: it is refused,
 * naming the server, for as long as the server is connected. */
TEST_TIMEOUT(restore_is_refused_while_a_server_is_connected, 180)
{
    struct spec_server s;
    char *mappings = NULL;
    long long running = 0;
    char *db = make_data(&s, &mappings, &running);
    char *file = backup_of(db, mappings);
    PGconn *c = connect_db(db);
    sql(c, "INSERT INTO users (name, password_hash) VALUES ('after-backup', 'x')");
    PQfinish(c);

    char *out = NULL, serve_name[64];
    CHECK_INT(dhis2sync(db, mappings, NULL, &out, "restore", file, "--force"), 1);
    snprintf(serve_name, sizeof serve_name, "dhis2sync serve:%d ", (int)s.pid);
    CHECK_CONTAINS(out, "is in use: stop dhis2sync");
    CHECK_CONTAINS(out, serve_name);
    CHECK_CONTAINS(out, "nothing was changed");
    free(out);
    CHECK_INT(count(db, "SELECT count(*) FROM users WHERE name = 'after-backup'"), 1);

    spec_server_stop(&s);
    int rc = dhis2sync(db, mappings, NULL, &out, "restore", file, "--force");
    CHECKF(rc == 0, "restore after the server stopped exited %d: %s", rc, out);
    free(out);
    CHECK_INT(count(db, "SELECT count(*) FROM users WHERE name = 'after-backup'"), 0);
}

TEST_TIMEOUT(backup_and_restore_failures_change_nothing, 180)
{
    struct spec_server s;
    char *mappings = NULL;
    long long running = 0;
    char *db = make_data(&s, &mappings, &running);
    spec_server_stop(&s);
    char *dir = spec_test_dir("fail");
    char file[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/x.backup", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    char *out = NULL;

    /* no pg_dump where we were told to look */
    CHECK_INT(dhis2sync(db, mappings, "DHIS2SYNC_PG_BIN=/nonexistent", &out, "backup", file, NULL), 1);
    CHECK_CONTAINS(out, "pg_dump not found");
    free(out);
    CHECK(access(file, F_OK) != 0 && access(tmp, F_OK) != 0);

    /* a database nobody listens for */
    char bad_db[128];
    snprintf(bad_db, sizeof bad_db, "postgresql://nobody:secret-pw@127.0.0.1:%d/x", spec_free_port());
    CHECK_INT(dhis2sync(bad_db, mappings, NULL, &out, "backup", file, NULL), 1);
    CHECK_CONTAINS(out, "cannot connect");
    CHECKF(!strstr(out, "secret-pw"), "the password was printed: %s", out);
    free(out);
    CHECK(access(file, F_OK) != 0 && access(tmp, F_OK) != 0);

    /* a folder that does not exist */
    CHECK_INT(dhis2sync(db, mappings, NULL, &out, "backup", "/nonexistent/dir/x.backup", NULL), 1);
    CHECK_CONTAINS(out, "cannot write /nonexistent/dir/x.backup.tmp");
    free(out);

    /* pg_dump failing half way (killed): the earlier archive under FILE stays as it was */
    char *good = backup_of(db, mappings);
    size_t good_len = 0;
    char *good_bytes = slurp(good, &good_len);
    char *fake = spec_test_dir("bin");
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/pg_dump", fake);
    write_file(script, "#!/bin/sh\nprintf 'PGDMP partial'\necho 'pg_dump: error: connection lost' >&2\nexit 1\n",
               strlen("#!/bin/sh\nprintf 'PGDMP partial'\necho 'pg_dump: error: connection lost' >&2\nexit 1\n"));
    CHECK(chmod(script, 0755) == 0);
    char *pgbin = NULL;
    CHECK(asprintf(&pgbin, "DHIS2SYNC_PG_BIN=%s", fake) > 0);
    CHECK_INT(dhis2sync(db, mappings, pgbin, &out, "backup", good, NULL), 1);
    CHECK_CONTAINS(out, "connection lost");
    free(out);
    char tmp2[PATH_MAX + 8];
    snprintf(tmp2, sizeof tmp2, "%s.tmp", good);
    CHECK(access(tmp2, F_OK) != 0);
    CHECKF(file_is(good, good_bytes, good_len), "a failed backup changed the existing archive");

    /* restore: a pg_restore that dies after printing SQL must not let psql commit the drop */
    char *target = spec_new_db();
    PGconn *c = connect_db(target);
    sql(c, "CREATE TABLE users (id bigserial PRIMARY KEY, name text)");
    sql(c, "INSERT INTO users (name) VALUES ('keep-me')");
    PQfinish(c);
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/psql", fake);
    CHECK(symlink("/usr/lib/postgresql/15/bin/psql", link) == 0);
    snprintf(script, sizeof script, "%s/pg_restore", fake);
    const char *bad_restore = "#!/bin/sh\necho 'DROP TABLE public.users;'\n"
                              "echo 'pg_restore: error: could not read input file' >&2\nexit 1\n";
    write_file(script, bad_restore, strlen(bad_restore));
    CHECK(chmod(script, 0755) == 0);
    char *target_home = spec_test_dir("home");
    char *target_mappings = NULL;
    CHECK(asprintf(&target_mappings, "%s/mappings", target_home) > 0);
    CHECK_INT(dhis2sync(target, target_mappings, pgbin, &out, "restore", good, "--force"), 1);
    CHECK_CONTAINS(out, "nothing was changed");
    free(out);
    CHECK_INT(count(target, "SELECT count(*) FROM users WHERE name = 'keep-me'"), 1);
    CHECK(access(target_mappings, F_OK) != 0);

    /* a damaged archive (one byte of the dump flipped, or cut short) is refused up front */
    char damaged[PATH_MAX + 16];
    snprintf(damaged, sizeof damaged, "%s/damaged.backup", dir);
    good_bytes[2048] ^= 0x55;
    write_file(damaged, good_bytes, good_len);
    CHECK_INT(dhis2sync(target, target_mappings, NULL, &out, "restore", damaged, "--force"), 1);
    CHECK_CONTAINS(out, "damaged");
    free(out);
    good_bytes[2048] ^= 0x55;
    write_file(damaged, good_bytes, good_len / 2);
    CHECK_INT(dhis2sync(target, target_mappings, NULL, &out, "restore", damaged, "--force"), 1);
    CHECK_CONTAINS(out, "damaged or incomplete");
    free(out);
    CHECK_INT(dhis2sync(target, target_mappings, NULL, &out, "restore", "/etc/hostname", NULL), 1);
    CHECK_CONTAINS(out, "not a dhis2sync backup");
    free(out);
    CHECK_INT(count(target, "SELECT count(*) FROM users WHERE name = 'keep-me'"), 1);
    free(good_bytes);
}

/* No DATABASE_URL: the private cluster under var/pg (started for the command if it is not
 * running; as root pg_dump connects as postgres over the 0700 socket directory). The whole
 * var/pg is wiped between backup and restore, as on a new host. */
TEST_TIMEOUT(backup_and_restore_with_the_private_cluster, 240)
{
    char *home = spec_test_dir("priv");
    char cwd[PATH_MAX], repo_db[PATH_MAX + 8], link[PATH_MAX * 2];
    CHECK(getcwd(cwd, sizeof cwd));
    snprintf(repo_db, sizeof repo_db, "%s/db", cwd);
    snprintf(link, sizeof link, "%s/db", home);
    CHECK(symlink(repo_db, link) == 0);
    char *bin = spec_bin("dhis2sync");
    CHECK(chdir(home) == 0);
    unsetenv("DATABASE_URL");
    CHECK(mkdir("mappings", 0755) == 0);
    write_file("mappings/orgunits.csv", orgunits_csv, ORGUNITS_LEN);
    char *env[] = {"DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    char *migrate[] = {bin, "migrate", NULL};
    CHECK_INT(spec_run(migrate, env, NULL, NULL), 0);

    char *tok[] = {bin, "token", "add", "kept", NULL};
    CHECK_INT(spec_run(tok, env, NULL, NULL), 0);

    char *backup[] = {bin, "backup", "private.backup", NULL};
    CHECK_INT(spec_run(backup, env, NULL, NULL), 0);
    struct stat st;
    CHECK(stat("private.backup", &st) == 0 && st.st_size > 1024);
    CHECKF(stat("var/pg/run/.s.PGSQL.5432", &st) != 0, "backup left the private PostgreSQL running");

    /* a new host: no cluster, no mappings */
    char *rm[] = {"/bin/rm", "-rf", "var/pg", "mappings", NULL};
    CHECK_INT(spec_run(rm, NULL, NULL, NULL), 0);
    char *restore[] = {bin, "restore", "private.backup", NULL};
    CHECK_INT(spec_run(restore, env, NULL, NULL), 0);
    CHECK(file_is("mappings/orgunits.csv", orgunits_csv, ORGUNITS_LEN));

    /* the restored token is there: a second restore without --force is refused */
    CHECK_INT(spec_run(restore, env, NULL, NULL), 1);
    char *force[] = {bin, "restore", "private.backup", "--force", NULL};
    CHECK_INT(spec_run(force, env, NULL, NULL), 0);
    CHECK(chdir(cwd) == 0);
}

/* Archives of older versions keep restoring: spec/fixtures/backup/v0.1.0.backup (see the
 * README there), then serve applies the migrations newer than it. */
TEST_TIMEOUT(restore_of_a_0_1_0_archive_then_serve, 180)
{
    char cwd[PATH_MAX], fixture[PATH_MAX + 64];
    CHECK(getcwd(cwd, sizeof cwd));
    snprintf(fixture, sizeof fixture, "%s/spec/fixtures/backup/v0.1.0.backup", cwd);
    char *db = spec_new_db();
    char *home = spec_test_dir("home");
    char *mappings = NULL;
    CHECK(asprintf(&mappings, "%s/mappings", home) > 0);
    char *out = NULL;
    int rc = dhis2sync(db, mappings, NULL, &out, "restore", fixture, NULL);
    CHECKF(rc == 0, "restore exited %d: %s", rc, out);
    free(out);
    CHECK_INT(count(db, "SELECT count(*) FROM instances WHERE name IN ('district', 'national')"), 2);
    CHECK_INT(count(db, "SELECT count(*) FROM jobs j JOIN instances s ON s.id = j.source_id "
                        "WHERE j.name = 'district-to-national' AND s.name = 'district'"), 1);
    CHECK_INT(count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded' "
                        "AND (counts->>'imported')::int = 4"), 1);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/orgunits.csv", mappings);
    CHECK(file_is(path, "ImspTQPwCqd,Zx9aQ1b2c3d\n", 24));

    struct spec_server s;
    CHECK(spec_server_start(&s, db, NULL) == 0);
    /* every migration of this version is applied once serve has started */
    char *ls = NULL;
    char *ls_argv[] = {"/bin/sh", "-c", "ls db | grep -c '^[0-9].*\\.sql$'", NULL};
    CHECK_INT(spec_run(ls_argv, NULL, NULL, &ls), 0);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), atoll(ls));
    free(ls);
    spec_server_stop(&s);
}

/* An archive whose manifest names a migration this version lacks came from a newer version. */
TEST(restore_refuses_an_archive_from_a_newer_version)
{
    char cwd[PATH_MAX], fixture[PATH_MAX + 64];
    CHECK(getcwd(cwd, sizeof cwd));
    snprintf(fixture, sizeof fixture, "%s/spec/fixtures/backup/v0.1.0.backup", cwd);
    char *dir = spec_test_dir("newer");
    char *newer = NULL;
    CHECK(asprintf(&newer, "%s/newer.backup", dir) > 0);
    static const char py[] =
        "import io, json, sys, tarfile\n"
        "src = tarfile.open(sys.argv[1]); dst = tarfile.open(sys.argv[2], 'w', format=tarfile.USTAR_FORMAT)\n"
        "for m in src.getmembers():\n"
        "    data = src.extractfile(m).read()\n"
        "    if m.name == 'manifest.json':\n"
        "        j = json.loads(data); j['migrations'].append('999_from_the_future.sql')\n"
        "        data = json.dumps(j).encode(); m.size = len(data)\n"
        "    dst.addfile(m, io.BytesIO(data))\n"
        "dst.close()\n";
    char *argv[] = {"/usr/bin/python3", "-c", (char *)py, fixture, newer, NULL};
    CHECK_INT(spec_run(argv, NULL, NULL, NULL), 0);
    char *db = spec_new_db();
    char *out = NULL;
    char *mappings = NULL;
    CHECK(asprintf(&mappings, "%s/mappings", dir) > 0);
    CHECK_INT(dhis2sync(db, mappings, NULL, &out, "restore", newer, "--force"), 1);
    CHECK_CONTAINS(out, "999_from_the_future.sql");
    CHECK_CONTAINS(out, "restore it with that version or newer");
    free(out);
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0);
}
