#include "backup.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pgembed.h"

#define FORMAT_NAME "dhis2sync-backup"
#define FORMAT_VERSION 1
#define MAX_MAPPING_BYTES (512L * 1024 * 1024) /* all mapping files together, held in memory */
#define MAX_MANIFEST_BYTES (4L * 1024 * 1024)

/* Tables whose rows make a database "not empty" for restore. */
static const char *const user_tables[] = {"instances", "jobs", "runs", "users", "api_tokens"};

/* ---------------------------------------------------------------- the database to work on */

struct target {
    char *conninfo;       /* libpq URI or keyword string */
    struct pgembed pg;
    int private_started;  /* we started the private cluster: stop it when done */
    int server_major;
};

static int target_open(struct target *t, const struct config *cfg, struct err *e)
{
    memset(t, 0, sizeof *t);
    if (cfg->database_url) {
        t->conninfo = strdup(cfg->database_url);
    } else {
        char dir[PATH_MAX];
        mkdir(cfg->var_dir, 0755);
        snprintf(dir, sizeof dir, "%s/pg", cfg->var_dir);
        int rc;
        if ((rc = pgembed_init(&t->pg, dir, e)) || (rc = pgembed_start(&t->pg, e)))
            return rc;
        t->private_started = t->pg.started_here;
        if ((rc = pgembed_ensure_db(&t->pg, "dhis2sync", e)))
            return rc;
        t->conninfo = pgembed_conninfo(&t->pg, "dhis2sync");
    }
    if (!t->conninfo)
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

static void target_close(struct target *t)
{
    free(t->conninfo);
    t->conninfo = NULL;
    if (t->private_started) {
        struct err e = {0};
        if (pgembed_stop(&t->pg, &e))
            log_warn("stopping the private PostgreSQL: %s", e.msg);
        t->private_started = 0;
    }
}

static const char *where(const struct config *cfg)
{
    return cfg->database_url ? "the database of DATABASE_URL" : "the private database under var/pg";
}

static PGconn *target_connect(struct target *t, const struct config *cfg, struct err *e)
{
    PGconn *c = PQconnectdb(t->conninfo);
    if (!c) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        err_set(e, ERR_DB, "cannot connect to %s: %s — check that PostgreSQL runs and the URL is right",
                where(cfg), msg);
        PQfinish(c);
        return NULL;
    }
    t->server_major = PQserverVersion(c) / 10000;
    return c;
}

/* ---------------------------------------------------------------- PostgreSQL's tools */

/* pg_dump / pg_restore / psql matching the server: DHIS2SYNC_PG_BIN (as for the private
 * cluster), else /usr/lib/postgresql/<server major or newer>/bin, else PATH. */
static int find_tool(const char *name, int major, char *out, size_t size, struct err *e)
{
    const char *env = getenv("DHIS2SYNC_PG_BIN");
    if (env && *env) {
        snprintf(out, size, "%s/%s", env, name);
        if (access(out, X_OK) == 0)
            return 0;
        return err_set(e, ERR_INTERNAL, "%s not found in DHIS2SYNC_PG_BIN (%s): fix or unset it",
                       name, env);
    }
    for (int v = major > 0 ? major : 15; v <= (major > 0 ? major : 15) + 10; v++) {
        snprintf(out, size, "/usr/lib/postgresql/%d/bin/%s", v, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path);
        if (!copy)
            return err_set(e, ERR_INTERNAL, "out of memory");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            snprintf(out, size, "%s/%s", *dir ? dir : ".", name);
            if (access(out, X_OK) == 0) {
                free(copy);
                return 0;
            }
        }
        free(copy);
    }
    return err_set(e, ERR_INTERNAL,
                   "%s not found (looked in /usr/lib/postgresql/%d+/bin and PATH): install "
                   "postgresql-client-%d (`make deps`) or set DHIS2SYNC_PG_BIN",
                   name, major > 0 ? major : 15, major > 0 ? major : 15);
}

struct child {
    pid_t pid;
    int err_fd;  /* memfd holding the child's stderr */
    const char *name;
};

/* Starts argv with stdin/stdout on in_fd/out_fd (-1: /dev/null) and the connection of
 * conninfo in its environment, so no password appears on a command line. */
static int child_start(struct child *ch, char *const argv[], const char *conninfo, int in_fd,
                       int out_fd, struct err *e)
{
    ch->pid = -1;
    ch->name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        PQfreemem(perr);
        return err_set(e, ERR_INPUT, "the database connection string cannot be parsed");
    }
    ch->err_fd = memfd_create("pg-tool-stderr", MFD_CLOEXEC);
    if (ch->err_fd < 0) {
        PQconninfoFree(opts);
        return err_set(e, ERR_INTERNAL, "memfd_create: %s", strerror(errno));
    }
    fflush(NULL);
    ch->pid = fork();
    if (ch->pid < 0) {
        PQconninfoFree(opts);
        return err_set(e, ERR_INTERNAL, "fork: %s", strerror(errno));
    }
    if (ch->pid == 0) {
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->envvar && o->val && *o->val)
                setenv(o->envvar, o->val, 1);
        if (!getenv("PGCONNECT_TIMEOUT"))
            setenv("PGCONNECT_TIMEOUT", "10", 1);
        int devnull = open("/dev/null", O_RDWR);
        dup2(in_fd >= 0 ? in_fd : devnull, STDIN_FILENO);
        dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO);
        dup2(ch->err_fd, STDERR_FILENO);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    PQconninfoFree(opts);
    return 0;
}

/* Waits for the child; 0 when it exited 0, else an error quoting its stderr. */
static int child_wait(struct child *ch, struct err *e)
{
    if (ch->pid <= 0)
        return 0;
    int status = 0;
    while (waitpid(ch->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    ch->pid = -1;
    int rc = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* the most useful line is the first one saying "error" (psql, pg_dump), else the first */
        char text[4096] = "";
        ssize_t n = pread(ch->err_fd, text, sizeof text - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        char *line = strstr(text, "ERROR:");
        if (!line)
            line = strstr(text, "error:");
        if (!line)
            line = text;
        line[strcspn(line, "\n")] = '\0';
        rc = err_set(e, ERR_DB, "%s failed (%s %d): %s", ch->name,
                     WIFEXITED(status) ? "exit" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : -1,
                     *line ? line : "no message");
    }
    close(ch->err_fd);
    ch->err_fd = -1;
    return rc;
}

/* ---------------------------------------------------------------- SHA-256 */

static int sha_begin(EVP_MD_CTX **ctx, struct err *e)
{
    *ctx = EVP_MD_CTX_new();
    if (!*ctx || EVP_DigestInit_ex(*ctx, EVP_sha256(), NULL) != 1)
        return err_set(e, ERR_INTERNAL, "out of memory (SHA-256)");
    return 0;
}

static void sha_end(EVP_MD_CTX *ctx, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
}

static void sha_buf(const void *data, size_t len, char hex[65])
{
    EVP_MD_CTX *ctx = NULL;
    if (sha_begin(&ctx, NULL)) {
        EVP_MD_CTX_free(ctx);
        hex[0] = '\0';
        return;
    }
    EVP_DigestUpdate(ctx, data, len);
    sha_end(ctx, hex);
}

/* ---------------------------------------------------------------- ustar */

#define BLOCK 512

static void octal(char *field, size_t width, unsigned long long v)
{
    snprintf(field, width, "%0*llo", (int)width - 1, v);
}

/* Sizes past the 11 octal digits (8 GiB) use the base-256 form GNU tar reads. */
static void tar_size(char field[12], unsigned long long size)
{
    if (size < 077777777777ULL) {
        octal(field, 12, size);
        return;
    }
    memset(field, 0, 12);
    field[0] = (char)0x80;
    for (int i = 11; i > 3; i--, size >>= 8)
        field[i] = (char)(size & 0xff);
}

static int tar_header(char h[BLOCK], const char *name, unsigned long long size, time_t mtime,
                      struct err *e)
{
    memset(h, 0, BLOCK);
    size_t len = strlen(name);
    if (len <= 100) {
        memcpy(h, name, len);
    } else {
        /* split into prefix (155) / name (100) at a slash */
        const char *split = NULL;
        for (const char *p = name; *p; p++)
            if (*p == '/' && (size_t)(p - name) <= 155 && strlen(p + 1) <= 100 && p[1])
                split = split ? split : p;
        if (!split)
            return err_set(e, ERR_INPUT, "the path %s is too long to archive: shorten it", name);
        memcpy(h + 345, name, (size_t)(split - name));
        memcpy(h, split + 1, strlen(split + 1));
    }
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    tar_size(h + 124, size);
    octal(h + 136, 12, (unsigned long long)(mtime > 0 ? mtime : 0));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "dhis2sync", 9);
    memcpy(h + 297, "dhis2sync", 9);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == len ? 0 : -1;
}

struct tarw {
    int fd;
    const char *path;       /* for messages */
    unsigned long long off;
    cJSON *files;           /* manifest entries */
};

static int tarw_fail(struct tarw *w, struct err *e)
{
    return err_set(e, ERR_INTERNAL, "cannot write %s: %s — check the free space and permissions",
                   w->path, strerror(errno ? errno : EIO));
}

static int tarw_pad(struct tarw *w, struct err *e)
{
    static const char zeros[BLOCK];
    size_t pad = (BLOCK - w->off % BLOCK) % BLOCK;
    if (pad && write_all(w->fd, zeros, pad))
        return tarw_fail(w, e);
    w->off += pad;
    return 0;
}

static int manifest_file(struct tarw *w, const char *name, unsigned long long size,
                         const char *sha, struct err *e)
{
    cJSON *f = cJSON_CreateObject();
    if (!f || !cJSON_AddStringToObject(f, "name", name) ||
        !cJSON_AddNumberToObject(f, "size", (double)size) ||
        !cJSON_AddStringToObject(f, "sha256", sha) || !cJSON_AddItemToArray(w->files, f)) {
        cJSON_Delete(f);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/* One member from memory. */
static int tarw_add(struct tarw *w, const char *name, const void *data, size_t len, time_t mtime,
                    int listed, struct err *e)
{
    char h[BLOCK];
    int rc;
    if ((rc = tar_header(h, name, len, mtime, e)))
        return rc;
    if (write_all(w->fd, h, BLOCK) || (len && write_all(w->fd, data, len)))
        return tarw_fail(w, e);
    w->off += BLOCK + len;
    if ((rc = tarw_pad(w, e)))
        return rc;
    if (listed) {
        char sha[65];
        sha_buf(data, len, sha);
        return manifest_file(w, name, len, sha, e);
    }
    return 0;
}

/* database.dump, streamed from pg_dump's stdout: the header is written with size 0 and
 * rewritten once the size is known. */
static int tarw_add_dump(struct tarw *w, const char *pg_dump, const char *conninfo, struct err *e)
{
    char h[BLOCK];
    unsigned long long header_at = w->off, size = 0;
    int rc, p[2] = {-1, -1};
    struct child ch = {.pid = -1, .err_fd = -1};
    EVP_MD_CTX *sha = NULL;
    char *buf = malloc(1 << 16);
    if (!buf)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if ((rc = tar_header(h, "database.dump", 0, time(NULL), e)))
        goto out;
    if (write_all(w->fd, h, BLOCK)) {
        rc = tarw_fail(w, e);
        goto out;
    }
    w->off += BLOCK;
    if ((rc = sha_begin(&sha, e)))
        goto out;
    if (pipe2(p, O_CLOEXEC) != 0) {
        rc = err_set(e, ERR_INTERNAL, "pipe: %s", strerror(errno));
        goto out;
    }
    char *argv[] = {(char *)pg_dump, "--format=custom", "--compress=6", "--no-password", NULL};
    if ((rc = child_start(&ch, argv, conninfo, -1, p[1], e)))
        goto out;
    close(p[1]);
    p[1] = -1;
    int write_failed = 0;
    for (;;) {
        ssize_t n = read(p[0], buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!write_failed && write_all(w->fd, buf, (size_t)n)) {
            write_failed = errno ? errno : EIO;
            /* keep reading so pg_dump is not left blocked on a full pipe */
        }
        EVP_DigestUpdate(sha, buf, (size_t)n);
        size += (unsigned long long)n;
    }
    rc = child_wait(&ch, e);
    if (rc)
        goto out;
    if (write_failed) {
        errno = write_failed;
        rc = tarw_fail(w, e);
        goto out;
    }
    if (size == 0) {
        rc = err_set(e, ERR_DB, "pg_dump wrote nothing");
        goto out;
    }
    w->off += size;
    if ((rc = tar_header(h, "database.dump", size, time(NULL), e)))
        goto out;
    if (pwrite(w->fd, h, BLOCK, (off_t)header_at) != BLOCK) {
        rc = tarw_fail(w, e);
        goto out;
    }
    if ((rc = tarw_pad(w, e)))
        goto out;
    char hex[65];
    sha_end(sha, hex);
    sha = NULL;
    rc = manifest_file(w, "database.dump", size, hex, e);
out:
    if (ch.pid > 0) {
        struct err ignored = {0};
        child_wait(&ch, &ignored);
    }
    if (ch.err_fd >= 0)
        close(ch.err_fd);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    EVP_MD_CTX_free(sha);
    free(buf);
    return rc;
}

static char *read_file(const char *path, size_t *len, long max, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        err_set(e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size > max) {
        err_set(e, ERR_TOO_LARGE, "%s is larger than %ld bytes", path, max);
        goto out;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (read_all(fd, buf, (size_t)st.st_size)) {
        err_set(e, ERR_INTERNAL, "cannot read %s (did it change meanwhile?)", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[st.st_size] = '\0';
    *len = (size_t)st.st_size;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* Every regular file under dir (symbolic links followed), as mappings/REL; names starting with
 * a dot (editor files, .before-restore-* copies) are left out. */
static int add_mappings(struct tarw *w, const char *dir, const char *rel, int depth, int *count,
                        long *total, struct err *e)
{
    if (depth > 8)
        return err_set(e, ERR_INPUT, "%s is nested too deep (a symbolic link loop?)", dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (depth == 0 && errno == ENOENT) {
            log_warn("the mappings folder %s does not exist: the backup holds no mappings", dir);
            return 0;
        }
        return err_set(e, ERR_INTERNAL, "cannot read the folder %s: %s", dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX], name[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "%s/%s", rel, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            log_warn("skipping %s: %s", path, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = add_mappings(w, path, name, depth + 1, count, total, e);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            char *data = read_file(path, &len, MAX_MAPPING_BYTES, e);
            if (!data) {
                rc = e->code;
                break;
            }
            *total += (long)len;
            if (*total > MAX_MAPPING_BYTES)
                rc = err_set(e, ERR_TOO_LARGE, "the mappings folder holds more than %ld bytes",
                             MAX_MAPPING_BYTES);
            else
                rc = tarw_add(w, name, data, len, st.st_mtime, 1, e);
            free(data);
            (*count)++;
        }
    }
    closedir(d);
    return rc;
}

static void utc_now(char *out, size_t size, const char *fmt)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, fmt, &tm);
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int backup_create(const struct config *cfg, const char *file, struct err *e)
{
    struct target t;
    struct tarw w = {.fd = -1};
    PGconn *c = NULL;
    PGresult *r = NULL;
    cJSON *manifest = NULL;
    char *text = NULL, tmp[PATH_MAX], pg_dump[PATH_MAX];
    int rc, count = 0;
    long total = 0;
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    if (stat(file, &st) == 0 && !S_ISREG(st.st_mode))
        return err_set(e, ERR_INPUT, "%s exists and is not a file: give the path of the archive to write",
                       file);
    if ((rc = target_open(&t, cfg, e)))
        goto out;
    if (!(c = target_connect(&t, cfg, e))) {
        rc = e->code;
        goto out;
    }
    if ((rc = find_tool("pg_dump", t.server_major, pg_dump, sizeof pg_dump, e)))
        goto out;

    manifest = cJSON_CreateObject();
    cJSON *migrations = cJSON_AddArrayToObject(manifest, "migrations");
    if (!manifest || !migrations) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    r = PQexec(c, "SELECT version FROM schema_migrations ORDER BY version");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++)
            if (!cJSON_AddItemToArray(migrations, cJSON_CreateString(PQgetvalue(r, i, 0)))) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                goto out;
            }
    } else {
        log_warn("%s has no schema_migrations table: was `dhis2sync migrate` ever run on it?",
                 where(cfg));
    }
    const char *server_version = PQparameterStatus(c, "server_version");
    char created[32];
    utc_now(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ");
    if (!cJSON_AddStringToObject(manifest, "format", FORMAT_NAME) ||
        !cJSON_AddNumberToObject(manifest, "formatVersion", FORMAT_VERSION) ||
        !cJSON_AddStringToObject(manifest, "version", DHIS2SYNC_VERSION) ||
        !cJSON_AddStringToObject(manifest, "createdAt", created) ||
        !cJSON_AddStringToObject(manifest, "postgresVersion", server_version ? server_version : "") ||
        !(w.files = cJSON_AddArrayToObject(manifest, "files"))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    PQclear(r);
    r = NULL;
    PQfinish(c);
    c = NULL;

    w.path = tmp;
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w.fd < 0) {
        rc = err_set(e, ERR_INPUT, "cannot write %s: %s — choose a folder dhis2sync may write to",
                     tmp, strerror(errno));
        goto out;
    }
    fchmod(w.fd, 0600);
    if ((rc = tarw_add_dump(&w, pg_dump, t.conninfo, e)) ||
        (rc = add_mappings(&w, cfg->mappings_dir, "mappings", 0, &count, &total, e)))
        goto out;
    if (!(text = cJSON_Print(manifest))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if ((rc = tarw_add(&w, "manifest.json", text, strlen(text), time(NULL), 0, e)))
        goto out;
    static const char end[2 * BLOCK];
    if (write_all(w.fd, end, sizeof end) || fsync(w.fd) != 0) {
        rc = tarw_fail(&w, e);
        goto out;
    }
    int fd = w.fd;
    w.fd = -1;
    if (close(fd) != 0) {
        rc = tarw_fail(&w, e);
        goto out;
    }
    if (rename(tmp, file) != 0) {
        rc = err_set(e, ERR_INPUT, "cannot rename %s to %s: %s", tmp, file, strerror(errno));
        goto out;
    }
    fsync_dir_of(file);
    log_info("backup written to %s (%llu bytes): the database and %d mapping file%s", file,
             (unsigned long long)w.off + 2 * BLOCK, count, count == 1 ? "" : "s");
out:
    if (w.fd >= 0)
        close(w.fd);
    if (rc && w.path)
        unlink(tmp);
    PQclear(r);
    if (c)
        PQfinish(c);
    cJSON_Delete(manifest);
    free(text);
    target_close(&t);
    return rc;
}

/* ---------------------------------------------------------------- restore */

struct member {
    char *rel;     /* path under mappings/ */
    char *data;
    size_t len;
    char sha[65];
};

struct archive {
    char *manifest;
    size_t manifest_len;
    int have_dump;
    unsigned long long dump_size;
    char dump_sha[65];
    struct member *maps;
    size_t n_maps, cap_maps;
    long maps_total;
};

static void archive_free(struct archive *a)
{
    free(a->manifest);
    for (size_t i = 0; i < a->n_maps; i++) {
        free(a->maps[i].rel);
        free(a->maps[i].data);
    }
    free(a->maps);
    memset(a, 0, sizeof *a);
}

static int parse_octal(const char *f, size_t width, unsigned long long *out)
{
    if ((unsigned char)f[0] & 0x80) {
        unsigned long long v = 0;
        for (size_t i = 1; i < width; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | (unsigned char)f[i];
        }
        *out = v;
        return 0;
    }
    unsigned long long v = 0;
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++)
        v = v * 8 + (unsigned long long)(f[i] - '0');
    *out = v;
    return 0;
}

/* A mapping path from an archive is taken only if it stays inside the folder: relative, no
 * empty, "." or ".." parts, no part starting with a dot. */
static int safe_rel(const char *rel)
{
    if (!*rel || *rel == '/' || strlen(rel) > 1000)
        return 0;
    const char *p = rel;
    while (*p) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || p[0] == '.')
            return 0;
        for (size_t i = 0; i < seg; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\')
                return 0;
        p += seg;
        if (*p == '/')
            p++;
        if (!*p && p[-1] == '/')
            return 0;
    }
    return 1;
}

static int damaged(const char *file, unsigned long long at, const char *what, struct err *e)
{
    return err_set(e, ERR_INPUT, "%s is damaged or incomplete (%s at byte %llu): use another archive",
                   file, what, at);
}

/* Reads the whole archive: the dump into dump_fd (hashed), mappings and manifest into memory. */
static int archive_read(const char *file, int dump_fd, struct archive *a, struct err *e)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_INPUT, "cannot open %s: %s", file, strerror(errno));
    int rc = 0, ended = 0;
    unsigned long long at = 0;
    char h[BLOCK];
    char *buf = malloc(1 << 16);
    if (!buf) {
        close(fd);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (;;) {
        if (read_all(fd, h, BLOCK)) {
            rc = at == 0 ? err_set(e, ERR_INPUT, "%s is not a dhis2sync backup (not a tar archive)", file)
                         : damaged(file, at, "it ends before the end-of-archive mark", e);
            break;
        }
        int zero = 1;
        for (int i = 0; i < BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero) {
            ended = 1;
            break;
        }
        unsigned long long sum_stored = 0, size = 0;
        parse_octal(h + 148, 8, &sum_stored);
        unsigned sum = 0;
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)h[i];
        if (sum != sum_stored || memcmp(h + 257, "ustar", 5) != 0) {
            rc = at == 0 ? err_set(e, ERR_INPUT, "%s is not a dhis2sync backup (not a tar archive)", file)
                         : damaged(file, at, "bad header checksum", e);
            break;
        }
        if (parse_octal(h + 124, 12, &size)) {
            rc = damaged(file, at, "bad size", e);
            break;
        }
        char name[300];
        if (h[345])
            snprintf(name, sizeof name, "%.155s/%.100s", h + 345, h);
        else
            snprintf(name, sizeof name, "%.100s", h);
        at += BLOCK;
        char type = h[156];
        unsigned long long padded = (size + BLOCK - 1) / BLOCK * BLOCK;
        if (type == '5') {
            continue;
        }
        if (type != '0' && type != '\0') {
            rc = err_set(e, ERR_INPUT, "%s holds %s, which is not a plain file: not a dhis2sync backup",
                         file, name);
            break;
        }
        if (strcmp(name, "database.dump") == 0) {
            if (a->have_dump) {
                rc = damaged(file, at, "two database dumps", e);
                break;
            }
            EVP_MD_CTX *sha = NULL;
            if ((rc = sha_begin(&sha, e))) {
                EVP_MD_CTX_free(sha);
                break;
            }
            unsigned long long left = size;
            while (!rc && left) {
                size_t n = left > (1 << 16) ? (1 << 16) : (size_t)left;
                if (read_all(fd, buf, n))
                    rc = damaged(file, at + size - left, "the database dump is cut short", e);
                else if (write_all(dump_fd, buf, n))
                    rc = err_set(e, ERR_INTERNAL, "cannot write the extracted dump: %s", strerror(errno));
                else
                    EVP_DigestUpdate(sha, buf, n);
                left -= rc ? left : n;
            }
            sha_end(sha, a->dump_sha);
            if (rc)
                break;
            a->have_dump = 1;
            a->dump_size = size;
            if (lseek(fd, (off_t)(padded - size), SEEK_CUR) < 0) {
                rc = damaged(file, at, "seek", e);
                break;
            }
            at += padded;
            continue;
        }
        int is_manifest = strcmp(name, "manifest.json") == 0;
        int is_mapping = strncmp(name, "mappings/", 9) == 0;
        if (!is_manifest && !is_mapping) {
            rc = err_set(e, ERR_INPUT, "%s holds %s, which this version does not know: made by a "
                         "newer dhis2sync, or not a dhis2sync backup", file, name);
            break;
        }
        if (is_mapping && !safe_rel(name + 9)) {
            rc = err_set(e, ERR_INPUT, "%s holds the unsafe path %s: refused", file, name);
            break;
        }
        long max = is_manifest ? MAX_MANIFEST_BYTES : MAX_MAPPING_BYTES - a->maps_total;
        if (size > (unsigned long long)max) {
            rc = err_set(e, ERR_TOO_LARGE, "%s in %s is too large", name, file);
            break;
        }
        char *data = malloc((size_t)padded + 1);
        if (!data) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        if (read_all(fd, data, (size_t)padded)) {
            free(data);
            rc = damaged(file, at, "a file is cut short", e);
            break;
        }
        data[size] = '\0';
        at += padded;
        if (is_manifest) {
            free(a->manifest);
            a->manifest = data;
            a->manifest_len = (size_t)size;
            continue;
        }
        if (a->n_maps == a->cap_maps) {
            size_t cap = a->cap_maps ? a->cap_maps * 2 : 16;
            struct member *grown = realloc(a->maps, cap * sizeof *grown);
            if (!grown) {
                free(data);
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            a->maps = grown;
            a->cap_maps = cap;
        }
        struct member *m = &a->maps[a->n_maps];
        if (!(m->rel = strdup(name + 9))) {
            free(data);
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        m->data = data;
        m->len = (size_t)size;
        sha_buf(data, m->len, m->sha);
        a->maps_total += (long)size;
        a->n_maps++;
    }
    (void)ended;
    free(buf);
    close(fd);
    return rc;
}

static int migration_known(const char *db_dir, const char *name)
{
    if (!*name || strchr(name, '/'))
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", db_dir, name);
    return access(path, R_OK) == 0;
}

/* The manifest must name this format, list exactly the members read with matching sizes and
 * SHA-256, and only migrations this version has. */
static int manifest_check(const struct config *cfg, const char *file, struct archive *a,
                          char *created, size_t created_size, struct err *e)
{
    if (!a->manifest)
        return err_set(e, ERR_INPUT, "%s has no manifest: it is incomplete, or not a dhis2sync backup",
                       file);
    cJSON *m = cJSON_ParseWithLength(a->manifest, a->manifest_len);
    int rc = 0;
    if (!m || !cJSON_IsObject(m)) {
        rc = err_set(e, ERR_INPUT, "the manifest of %s is not valid JSON: the archive is damaged", file);
        goto out;
    }
    const char *format = cJSON_GetStringValue(cJSON_GetObjectItem(m, "format"));
    cJSON *fv = cJSON_GetObjectItem(m, "formatVersion");
    if (!format || strcmp(format, FORMAT_NAME) != 0 || !cJSON_IsNumber(fv)) {
        rc = err_set(e, ERR_INPUT, "%s is not a dhis2sync backup (its manifest says otherwise)", file);
        goto out;
    }
    const char *version = cJSON_GetStringValue(cJSON_GetObjectItem(m, "version"));
    if (fv->valueint > FORMAT_VERSION) {
        rc = err_set(e, ERR_INPUT, "%s was made by dhis2sync %s, whose archive format this version "
                     "(%s) cannot read: restore it with that version or newer",
                     file, version ? version : "?", DHIS2SYNC_VERSION);
        goto out;
    }
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(m, "createdAt"));
    snprintf(created, created_size, "%s", c ? c : "?");
    cJSON *mig;
    cJSON_ArrayForEach(mig, cJSON_GetObjectItem(m, "migrations")) {
        const char *name = cJSON_GetStringValue(mig);
        if (!name || !migration_known(cfg->db_dir, name)) {
            rc = err_set(e, ERR_INPUT, "%s was made by dhis2sync %s with the migration %s, which "
                         "this version (%s) does not have: restore it with that version or newer",
                         file, version ? version : "?", name ? name : "?", DHIS2SYNC_VERSION);
            goto out;
        }
    }
    size_t listed = 0, listed_maps = 0;
    int dump_listed = 0;
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(m, "files")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(f, "sha256"));
        cJSON *size = cJSON_GetObjectItem(f, "size");
        if (!name || !sha || !cJSON_IsNumber(size)) {
            rc = err_set(e, ERR_INPUT, "the manifest of %s is damaged", file);
            goto out;
        }
        listed++;
        const char *have_sha = NULL;
        unsigned long long have_size = 0;
        if (strcmp(name, "database.dump") == 0 && a->have_dump) {
            have_sha = a->dump_sha;
            have_size = a->dump_size;
            dump_listed = 1;
        } else if (strncmp(name, "mappings/", 9) == 0) {
            for (size_t i = 0; i < a->n_maps; i++) {
                if (strcmp(a->maps[i].rel, name + 9) == 0) {
                    have_sha = a->maps[i].sha;
                    have_size = a->maps[i].len;
                    listed_maps++;
                    break;
                }
            }
        }
        if (!have_sha) {
            rc = err_set(e, ERR_INPUT, "%s lacks %s, which its manifest lists: the archive is damaged",
                         file, name);
            goto out;
        }
        /* compared as doubles: casting any number to an integer type could be undefined */
        if ((double)have_size != size->valuedouble || strcmp(have_sha, sha) != 0) {
            rc = err_set(e, ERR_INPUT, "%s in %s does not match its checksum: the archive is damaged",
                         name, file);
            goto out;
        }
    }
    if (!dump_listed || listed_maps != a->n_maps || listed != a->n_maps + 1)
        rc = err_set(e, ERR_INPUT, "%s holds files its manifest does not list: the archive is damaged",
                     file);
out:
    cJSON_Delete(m);
    return rc;
}

/* Everything restore checks in the archive itself, before it looks at the database. */
static int archive_load(const struct config *cfg, const char *file, int dump_fd, struct archive *a,
                        char *created, size_t created_size, struct err *e)
{
    int rc = archive_read(file, dump_fd, a, e);
    if (rc)
        return rc;
    if (!a->have_dump)
        return err_set(e, ERR_INPUT, "%s holds no database dump: not a dhis2sync backup", file);
    return manifest_check(cfg, file, a, created, created_size, e);
}

int backup_check(const struct config *cfg, const char *file, struct err *e)
{
    int dump_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dump_fd < 0)
        return err_set(e, ERR_INTERNAL, "cannot open /dev/null: %s", strerror(errno));
    struct archive a = {0};
    char created[64];
    int rc = archive_load(cfg, file, dump_fd, &a, created, sizeof created, e);
    archive_free(&a);
    close(dump_fd);
    return rc;
}

static int mkdirs(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* 1 when path holds exactly data, 0 when it is absent, -1 when it differs (or is not a file). */
static int same_file(const char *path, const struct member *m)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != m->len)
        return -1;
    size_t len = 0;
    char *data = read_file(path, &len, MAX_MAPPING_BYTES, NULL);
    int same = data && len == m->len && memcmp(data, m->data, len) == 0;
    free(data);
    return same ? 1 : -1;
}

/* Writes data to path through a hidden temporary file in the same folder and a rename, so a
 * reader (the mapping hot reload) sees the old file or the new one, never half of one. */
static int write_atomic(const char *path, const char *data, size_t len, const struct stat *owner,
                        struct err *e)
{
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(tmp, sizeof tmp, "%.*s.%s.restore-%d", slash ? (int)(slash - path + 1) : 0, path,
             slash ? slash + 1 : path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
    if (owner && geteuid() == 0 && fchown(fd, owner->st_uid, owner->st_gid) != 0) {
        /* best effort: the folder's owner should be able to edit what we restored */
    }
    int ok = write_all(fd, data, len) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return err_set(e, ERR_INTERNAL, "cannot write %s: %s", path, strerror(saved));
    }
    return 0;
}

static int restore_mappings(const struct config *cfg, const struct archive *a, int *written,
                            char *saved_dir, size_t saved_size, struct err *e)
{
    const char *base = cfg->mappings_dir;
    struct stat owner;
    if (mkdirs(base, 0755) != 0 || stat(base, &owner) != 0)
        return err_set(e, ERR_INTERNAL, "cannot create the mappings folder %s: %s", base, strerror(errno));
    char stamp[32];
    utc_now(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ");
    saved_dir[0] = '\0';
    for (size_t i = 0; i < a->n_maps; i++) {
        const struct member *m = &a->maps[i];
        char path[PATH_MAX], dir[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", base, m->rel);
        int same = same_file(path, m);
        if (same == 1)
            continue;
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = '\0';
        if (mkdirs(dir, 0755) != 0)
            return err_set(e, ERR_INTERNAL, "cannot create %s: %s", dir, strerror(errno));
        if (same == -1) {
            /* keep what is replaced */
            char keep[PATH_MAX], keep_dir[PATH_MAX];
            snprintf(saved_dir, saved_size, "%s/.before-restore-%s", base, stamp);
            snprintf(keep, sizeof keep, "%s/%s", saved_dir, m->rel);
            snprintf(keep_dir, sizeof keep_dir, "%s", keep);
            *strrchr(keep_dir, '/') = '\0';
            if (mkdirs(keep_dir, 0700) != 0 || rename(path, keep) != 0)
                return err_set(e, ERR_INTERNAL, "cannot keep a copy of %s in %s: %s", path,
                               saved_dir, strerror(errno));
        }
        int rc = write_atomic(path, m->data, m->len, &owner, e);
        if (rc)
            return rc;
        (*written)++;
    }
    return 0;
}

/* Rows in the tables a user fills; 0 and *summary "" when there are none. Tables that do not
 * exist yet (a database never migrated) count as empty. */
/* Refuses while dhis2sync processes (serve, workers, a run) are connected to the database:
 * their idle connections hold no lock that would stop the restore, so it would replace the
 * tables under a live server. Each process is named by its connections' application_name
 * (db_set_command); our own connection does not count. */
static int refuse_when_in_use(PGconn *c, const struct config *cfg, struct err *e)
{
    PGresult *r = PQexec(c,
        "SELECT application_name, coalesce(host(client_addr), 'the local socket'), "
        "       coalesce(to_char(min(backend_start), 'YYYY-MM-DD HH24:MI:SS TZ'), '?'), "
        "       count(*) "
        "  FROM pg_stat_activity "
        " WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "   AND application_name LIKE 'dhis2sync%' "
        " GROUP BY 1, 2 ORDER BY min(backend_start)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = err_set(e, ERR_DB, "cannot see who uses %s: %s", where(cfg), PQerrorMessage(c));
        PQclear(r);
        return rc;
    }
    int n = PQntuples(r), rc = 0;
    if (n > 0) {
        /* the advice first: the list may be cut at the message's end */
        char who[256] = "";
        size_t used = 0;
        for (int i = 0; i < n && used < sizeof who; i++)
            used += (size_t)snprintf(who + used, sizeof who - used, "%s%s from %s since %s "
                                     "(%s connection%s)", i ? "; " : "", PQgetvalue(r, i, 0),
                                     PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                                     strcmp(PQgetvalue(r, i, 3), "1") ? "s" : "");
        rc = err_set(e, ERR_CONFLICT, "%s is in use: stop dhis2sync (serve, workers, runs), then "
                     "restore again; nothing was changed. Connected: %s", where(cfg), who);
    }
    PQclear(r);
    return rc;
}

static int count_rows(PGconn *c, char *summary, size_t size, struct err *e)
{
    summary[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof user_tables / sizeof user_tables[0]; i++) {
        char reg[64];
        snprintf(reg, sizeof reg, "public.%s", user_tables[i]);
        const char *params[] = {reg};
        PGresult *r = PQexecParams(c, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL,
                                   NULL, 0);
        int exists = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
        PQclear(r);
        if (failed)
            return err_set(e, ERR_DB, "cannot inspect the database: %s", PQerrorMessage(c));
        if (!exists)
            continue;
        /* the table name is one of ours, not input */
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM public.%s", user_tables[i]);
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return err_set(e, ERR_DB, "cannot count the rows of %s: %s", user_tables[i],
                           PQerrorMessage(c));
        }
        long long n = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (n > 0 && used < size)
            used += (size_t)snprintf(summary + used, size - used, "%s%s %lld", used ? ", " : "",
                                     user_tables[i], n);
    }
    return 0;
}

/* Drops our objects in schema public: tables (with their sequences and indexes), views,
 * left-over sequences, functions and types; objects of extensions are left alone. */
static const char drop_sql[] =
    "DO $$ DECLARE r record; BEGIN "
    /* each object is checked again just before its drop: a CASCADE may have taken it */
    "FOR r IN SELECT c.oid, c.relkind FROM pg_class c "
    "  JOIN pg_namespace n ON n.oid = c.relnamespace "
    " WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','f','S') "
    "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "
    " ORDER BY c.relkind = 'S' LOOP "
    "  IF EXISTS (SELECT 1 FROM pg_class WHERE oid = r.oid) THEN "
    "    EXECUTE format('DROP %s %s CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW' "
    "      WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN "
    "      'SEQUENCE' ELSE 'TABLE' END, r.oid::regclass); "
    "  END IF; "
    "END LOOP; "
    "FOR r IN SELECT p.oid FROM pg_proc p "
    "  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
    "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP "
    "  IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = r.oid) THEN "
    "    EXECUTE format('DROP ROUTINE %s CASCADE', r.oid::regprocedure); "
    "  END IF; "
    "END LOOP; "
    "FOR r IN SELECT t.oid FROM pg_type t "
    "  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
    "   AND (t.typtype IN ('e','d','r') OR (t.typtype = 'c' AND "
    "        (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) "
    "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP "
    "  IF EXISTS (SELECT 1 FROM pg_type WHERE oid = r.oid) THEN "
    "    EXECUTE format('DROP TYPE %s CASCADE', r.oid::regtype); "
    "  END IF; "
    "END LOOP; END $$";

/* Runs still `running` in the archive have no process any more after a restore. */
static const char interrupt_sql[] =
    "DO $$ BEGIN IF to_regclass('public.runs') IS NOT NULL THEN "
    "UPDATE public.runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()), "
    "error = coalesce(error, 'interrupted: the database was restored from a backup') "
    "WHERE status = 'running'; END IF; END $$";

/* pg_restore turns the dump into SQL, which we pass on to psql; psql runs the drop, the dump
 * and the update in one transaction (--single-transaction: BEGIN before the first command,
 * COMMIT after the last). psql's input is closed only once pg_restore has succeeded; if it
 * failed, psql is killed before it can commit. Either way, on an error nothing has changed. */
static int restore_database(const struct target *t, const char *dump_path, struct err *e)
{
    char pg_restore[PATH_MAX], psql[PATH_MAX];
    int rc, from_restore[2] = {-1, -1}, to_psql[2] = {-1, -1};
    struct child dump = {.pid = -1, .err_fd = -1}, sql = {.pid = -1, .err_fd = -1};
    char *drop_arg = NULL, *interrupt_arg = NULL, *buf = NULL;
    if ((rc = find_tool("pg_restore", t->server_major, pg_restore, sizeof pg_restore, e)) ||
        (rc = find_tool("psql", t->server_major, psql, sizeof psql, e)))
        return rc;
    if (asprintf(&drop_arg, "--command=%s", drop_sql) < 0 ||
        asprintf(&interrupt_arg, "--command=%s", interrupt_sql) < 0 || !(buf = malloc(1 << 16))) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (pipe2(from_restore, O_CLOEXEC) != 0 || pipe2(to_psql, O_CLOEXEC) != 0) {
        rc = err_set(e, ERR_INTERNAL, "pipe: %s", strerror(errno));
        goto out;
    }
    char *restore_argv[] = {pg_restore, "--no-owner", "--no-privileges", "--file=-",
                            (char *)dump_path, NULL};
    char *psql_argv[] = {psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
                         "--single-transaction", "--command=SET lock_timeout = '20s'", drop_arg,
                         "--file=-", interrupt_arg, NULL};
    if ((rc = child_start(&sql, psql_argv, t->conninfo, to_psql[0], -1, e)))
        goto out;
    close(to_psql[0]);
    to_psql[0] = -1;
    if ((rc = child_start(&dump, restore_argv, t->conninfo, -1, from_restore[1], e)))
        goto out;
    close(from_restore[1]);
    from_restore[1] = -1;
    int psql_gone = 0;
    for (;;) {
        ssize_t n = read(from_restore[0], buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* psql stopped reading (an error): keep draining so pg_restore can finish */
        if (!psql_gone && write_all(to_psql[1], buf, (size_t)n))
            psql_gone = 1;
    }
    struct err dump_err = {0};
    if (child_wait(&dump, &dump_err)) {
        kill(sql.pid, SIGKILL);
        struct err ignored = {0};
        child_wait(&sql, &ignored);
        rc = err_set(e, dump_err.code, "restore failed, nothing was changed: %.200s", dump_err.msg);
        goto out;
    }
    close(to_psql[1]);
    to_psql[1] = -1;
    if ((rc = child_wait(&sql, e))) {
        if (strstr(e->msg, "lock timeout"))
            err_set(e, ERR_CONFLICT, "the database is in use (a lock wait timed out): stop "
                    "dhis2sync serve and its workers, then restore again; nothing was changed");
        else
            err_set(e, e->code, "restore failed, nothing was changed: %.200s", e->msg);
    }
out:
    /* kill psql before its input closes: an EOF would let it commit the drop */
    if (sql.pid > 0 && rc)
        kill(sql.pid, SIGKILL);
    for (int i = 0; i < 2; i++) {
        if (from_restore[i] >= 0)
            close(from_restore[i]);
        if (to_psql[i] >= 0)
            close(to_psql[i]);
    }
    struct err ignored = {0};
    child_wait(&dump, &ignored);
    child_wait(&sql, &ignored);
    if (dump.err_fd >= 0)
        close(dump.err_fd);
    if (sql.err_fd >= 0)
        close(sql.err_fd);
    free(drop_arg);
    free(interrupt_arg);
    free(buf);
    return rc;
}

int backup_restore(const struct config *cfg, const char *file, int force, struct err *e)
{
    struct archive a = {0};
    struct target t = {0};
    PGconn *c = NULL;
    int rc, dump_fd = -1, written = 0, target_opened = 0;
    char dump_path[PATH_MAX], created[64] = "?", saved[PATH_MAX] = "";
    mkdir(cfg->var_dir, 0755);
    snprintf(dump_path, sizeof dump_path, "%s/restore-XXXXXX", cfg->var_dir);
    dump_fd = mkstemp(dump_path);
    if (dump_fd < 0) {
        dump_path[0] = '\0';
        rc = err_set(e, ERR_INTERNAL, "cannot create a temporary file in %s: %s", cfg->var_dir,
                     strerror(errno));
        goto out;
    }
    /* the private cluster's server (user postgres) does not read it: pg_restore, run by us, does */
    if ((rc = archive_load(cfg, file, dump_fd, &a, created, sizeof created, e)))
        goto out;
    close(dump_fd);
    dump_fd = -1;

    /* refusals first, before anything is changed */
    if (!force) {
        for (size_t i = 0; i < a.n_maps; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", cfg->mappings_dir, a.maps[i].rel);
            if (same_file(path, &a.maps[i]) == -1) {
                rc = err_set(e, ERR_CONFLICT, "%s differs from the archived copy; restore replaces "
                             "it (keeping the current one in %s/.before-restore-*): add --force",
                             path, cfg->mappings_dir);
                goto out;
            }
        }
    }
    if ((rc = target_open(&t, cfg, e)))
        goto out;
    target_opened = 1;
    if (!(c = target_connect(&t, cfg, e))) {
        rc = e->code;
        goto out;
    }
    char rows[256];
    if ((rc = refuse_when_in_use(c, cfg, e)) || (rc = count_rows(c, rows, sizeof rows, e)))
        goto out;
    PQfinish(c);
    c = NULL;
    if (rows[0] && !force) {
        rc = err_set(e, ERR_CONFLICT, "%s is not empty (%s); restore replaces everything in it: "
                     "add --force if that is what you want", where(cfg), rows);
        goto out;
    }
    if ((rc = restore_database(&t, dump_path, e)))
        goto out;
    if ((rc = restore_mappings(cfg, &a, &written, saved, sizeof saved, e))) {
        err_set(e, e->code, "the database was restored, but the mappings were not: %.180s", e->msg);
        goto out;
    }
    log_info("restored %s (made %s): the database and %d changed mapping file%s of %zu", file,
             created, written, written == 1 ? "" : "s", a.n_maps);
    if (saved[0])
        log_info("the mapping files it replaced are in %s", saved);
    log_info("start dhis2sync serve: it applies the migrations newer than the backup");
out:
    if (dump_fd >= 0)
        close(dump_fd);
    if (dump_path[0])
        unlink(dump_path);
    if (c)
        PQfinish(c);
    if (target_opened)
        target_close(&t);
    archive_free(&a);
    return rc;
}
