/* Admin users from outside: `dhis2sync user add` with the password on stdin, the first admin
 * made at start-up from DHIS2SYNC_ADMIN_USER / DHIS2SYNC_ADMIN_PASSWORD, and how passwords
 * are stored. */
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include "harness.h"
#include "test.h"

static long login_status(struct spec_server *s, const char *user, const char *password)
{
    struct spec_resp r;
    spec_login(s, user, password, NULL, &r);
    long status = r.status;
    spec_resp_free(&r);
    return status;
}

/* `dhis2sync user add NAME` against db with stdin_text; exit status, stdout into *out. */
static int user_add(const char *db, const char *name, const char *stdin_text, char **out)
{
    char *bin = spec_bin("dhis2sync"), *dbenv = NULL;
    if (asprintf(&dbenv, "DATABASE_URL=%s", db) < 0)
        abort();
    char *env[] = {dbenv, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789", NULL};
    char *argv[] = {bin, "user", "add", (char *)name, NULL};
    int rc = spec_run(argv, env, stdin_text, out);
    free(dbenv);
    free(bin);
    return rc;
}

static char *count_users(const char *db, const char *name)
{
    PGconn *c = PQconnectdb(db);
    CHECKF(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    const char *params[] = {name};
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM users WHERE name = $1", 1, NULL, params,
                               NULL, NULL, 0);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* The stored hash of name is yescrypt and does not contain password. */
static void check_hash(const char *db, const char *name, const char *password)
{
    PGconn *c = PQconnectdb(db);
    const char *params[] = {name};
    PGresult *r = PQexecParams(c, "SELECT password_hash FROM users WHERE name = $1", 1, NULL,
                               params, NULL, NULL, 0);
    CHECKF(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "user %s: %s", name,
           PQresultErrorMessage(r));
    const char *hash = PQgetvalue(r, 0, 0);
    CHECKF(strncmp(hash, "$y$", 3) == 0, "not a yescrypt hash: %.10s…", hash);
    CHECKF(!strstr(hash, password), "the stored hash contains the password");
    PQclear(r);
    PQfinish(c);
}

TEST(user_add_reads_the_password_from_stdin_and_the_user_can_log_in)
{
    struct spec_server s;
    CHECK(spec_server_start(&s, spec_new_db(), NULL) == 0);
    const char *name = "Ana María (district HMIS)";
    char *out = NULL;
    CHECK_INT(user_add(s.db, name, "correct horse battery staple\n", &out), 0);
    CHECKF(!strstr(out, "correct horse"), "the password was echoed: %s", out);
    free(out);
    check_hash(s.db, name, "correct horse battery staple");
    CHECK_INT(login_status(&s, name, "correct horse battery staple"), 200);
    CHECK_INT(login_status(&s, name, "correct horse battery"), 401);

    /* a name is unique */
    CHECK_INT(user_add(s.db, name, "another long password\n", NULL), 1);
    CHECK_INT(login_status(&s, name, "correct horse battery staple"), 200);
    /* a password without a line end (`printf %s "$PW" | …`) is fine too */
    CHECK_INT(user_add(s.db, "bob", "no newline here", NULL), 0);
    CHECK_INT(login_status(&s, "bob", "no newline here"), 200);
    spec_server_stop(&s);
}

TEST(user_add_refuses_short_or_empty_passwords_and_bad_names)
{
    char *db = spec_new_db();
    /* a migrated database, so that "no user was made" can be checked */
    CHECK_INT(user_add(db, "first", "long enough password\n", NULL), 0);
    CHECK(user_add(db, "alice", "short\n", NULL) != 0);
    CHECK(user_add(db, "alice", "\n", NULL) != 0);
    CHECK(user_add(db, "alice", "", NULL) != 0);
    CHECK_STR(count_users(db, "alice"), "0");
    char long_name[256];
    memset(long_name, 'n', 201);
    long_name[201] = '\0';
    CHECK(user_add(db, long_name, "long enough password\n", NULL) != 0);
    long_name[200] = '\0';
    CHECK_INT(user_add(db, long_name, "long enough password\n", NULL), 0);
    CHECK(user_add(db, "line\nbreak", "long enough password\n", NULL) != 0);
    /* 8 characters, in more bytes than that */
    CHECK_INT(user_add(db, "émile", "ééééàààà\n", NULL), 0);

    char *bin = spec_bin("dhis2sync");
    char *usage[] = {bin, "user", "add", NULL};
    CHECK_INT(spec_run(usage, NULL, NULL, NULL), 2);
}

TEST(the_first_admin_is_created_at_start_up_and_its_password_is_never_reset)
{
    char *db = spec_new_db();
    struct spec_server s;
    CHECK(spec_server_start(&s, db, NULL) == 0);
    check_hash(db, "admin", "spec-admin-password");
    CHECK_INT(login_status(&s, "admin", "spec-admin-password"), 200);
    spec_server_stop(&s);

    /* a later start with another password keeps the one the admin has */
    char *env[] = {"DHIS2SYNC_ADMIN_PASSWORD=another-password", NULL};
    CHECK(spec_server_start(&s, db, env) == 0);
    CHECK_INT(login_status(&s, "admin", "spec-admin-password"), 200);
    CHECK_INT(login_status(&s, "admin", "another-password"), 401);
    spec_server_stop(&s);

    /* DHIS2SYNC_ADMIN_USER names it */
    char *named[] = {"DHIS2SYNC_ADMIN_USER=root of all sync", NULL};
    CHECK(spec_server_start(&s, db, named) == 0);
    CHECK_INT(login_status(&s, "root of all sync", "spec-admin-password"), 200);
    spec_server_stop(&s);
}

TEST(with_no_user_and_no_admin_password_an_admin_gets_a_random_password_in_a_private_file)
{
    struct spec_server s;
    char *env[] = {"DHIS2SYNC_ADMIN_PASSWORD=", NULL};
    char *db = spec_new_db();
    CHECK(spec_server_start(&s, db, env) == 0);
    CHECK_STR(count_users(db, "admin"), "1");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/var/admin-password", s.dir);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECKF((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
    FILE *f = fopen(path, "r");
    char password[128] = "";
    CHECK(f && fgets(password, sizeof password, f));
    fclose(f);
    password[strcspn(password, "\n")] = '\0';
    CHECK(strlen(password) >= 32);
    /* it logs in, and the log names the file but never the password */
    char url[128], body[256];
    snprintf(url, sizeof url, "%s/api/session", s.base);
    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", password);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct spec_resp r;
    spec_http("POST", url, h, body, strlen(body), &r);
    CHECK_INT(r.status, 200);
    spec_resp_free(&r);
    spec_server_stop(&s);
    char *cat[] = {"/bin/cat", s.log_path, NULL};
    char *log = NULL;
    spec_run(cat, NULL, NULL, &log);
    CHECK_CONTAINS(log, "var/admin-password");
    CHECK(!strstr(log, password));
    /* a second start changes nothing */
    CHECK(spec_server_start(&s, db, env) == 0);
    CHECK_STR(count_users(db, "admin"), "1");
}

TEST(a_too_short_admin_password_stops_serve_with_a_clear_error)
{
    char *db = spec_new_db();
    char *bin = spec_bin("dhis2sync"), *dbenv = NULL;
    CHECK(asprintf(&dbenv, "DATABASE_URL=%s", db) > 0);
    char port[16];
    snprintf(port, sizeof port, "%d", spec_free_port());
    char *env[] = {dbenv, "DHIS2SYNC_SECRET_KEY=spec-secret-key-0123456789",
                   "DHIS2SYNC_ADMIN_PASSWORD=short", NULL};
    char *dir = spec_test_dir("log");
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/serve.log", dir);
    char *argv[] = {bin, "serve", "--port", port, NULL};
    pid_t pid = spec_spawn(argv, env, log);
    int status = -1, exited = 0;
    for (int waited = 0; waited < 30000 && !exited; waited += 50) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
        if (!exited)
            usleep(50000);
    }
    if (!exited)
        spec_stop(pid, 1000);
    CHECKF(exited && WIFEXITED(status) && WEXITSTATUS(status) == 1,
           "serve with a 5-character admin password should exit 1 (status 0x%x)", status);
    char *grep[] = {"/bin/grep", "-c", "DHIS2SYNC_ADMIN_PASSWORD: the password is too short", log, NULL};
    char *count = NULL;
    spec_run(grep, NULL, NULL, &count);
    CHECKF(count && strcmp(count, "0\n") != 0, "no clear error in the log %s", log);
}
