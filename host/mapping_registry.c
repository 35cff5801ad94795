/* mapping_registry.c — mappings directory, refcounted versions, inotify hot reload. See
 * mapping_registry.h. */
#include "mapping_registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct entry {
    struct mapping *current; /* the version in use; NULL if the file never compiled */
    unsigned long ticket;    /* of the compile whose outcome is shown (see take_ticket) */
    struct mapping_info info;
};

struct mapping_registry {
    char dir[PATH_MAX];
    char scripts_dir[PATH_MAX];
    int debounce_ms;
    int has_limits;
    struct lua_host_limits limits;

    /* Compiles run under no lock: a slow mapping must not hold up another mapping, a run
     * acquiring one or an HTTP request. Tickets order their outcomes instead. */
    pthread_mutex_t lock;       /* entries, counters, tickets: held briefly */
    pthread_mutex_t write_lock; /* a PUT's rename and its ticket, taken together */
    struct entry *entries;
    size_t n_entries, cap_entries;
    unsigned long total_reloads, total_errors;
    unsigned long last_ticket;

    int watching;
    pthread_t thread;
    int stop_pipe[2];
    int inotify_fd;
    int dir_wd;
};

int mapping_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 100)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* "NAME.lua" with a valid NAME -> NAME in out; else 0. */
static int mapping_file_name(const char *file, char *out, size_t size)
{
    size_t n = strlen(file);
    if (n < 5 || strcmp(file + n - 4, ".lua") != 0 || n - 4 >= size)
        return 0;
    memcpy(out, file, n - 4);
    out[n - 4] = '\0';
    return mapping_name_valid(out);
}

static struct entry *find_entry(struct mapping_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n_entries; i++)
        if (strcmp(r->entries[i].info.name, name) == 0)
            return &r->entries[i];
    return NULL;
}

static struct entry *add_entry(struct mapping_registry *r, const char *name)
{
    if (r->n_entries == r->cap_entries) {
        size_t cap = r->cap_entries ? r->cap_entries * 2 : 16;
        struct entry *ne = realloc(r->entries, cap * sizeof *ne);
        if (!ne)
            return NULL;
        r->entries = ne;
        r->cap_entries = cap;
    }
    struct entry *en = &r->entries[r->n_entries++];
    memset(en, 0, sizeof *en);
    snprintf(en->info.name, sizeof en->info.name, "%s", name);
    return en;
}

static void record_error(struct mapping_info *info, const struct err *e)
{
    info->has_error = 1;
    info->errors++;
    info->error_at = time(NULL);
    snprintf(info->error, sizeof info->error, "%s", e->msg);
    const char *rest;
    if (lua_host_error_location(e->msg, info->error_file, sizeof info->error_file,
                                &info->error_line, &rest) != 0) {
        /* "district.lua: message" (no line) */
        const char *colon = strstr(e->msg, ".lua: ");
        if (colon && (size_t)(colon + 4 - e->msg) < sizeof info->error_file) {
            memcpy(info->error_file, e->msg, (size_t)(colon + 4 - e->msg));
            info->error_file[colon + 4 - e->msg] = '\0';
            rest = colon + 6;
        }
    }
    snprintf(info->error_message, sizeof info->error_message, "%s", rest);
}

/* A compile takes a ticket before it reads the file (a PUT: once its file is in place); its
 * outcome is installed only if no compile of the same mapping that started later was
 * installed first, so a slow compile of old text never replaces a newer version. */
static unsigned long take_ticket(struct mapping_registry *r)
{
    pthread_mutex_lock(&r->lock);
    unsigned long t = ++r->last_ticket;
    pthread_mutex_unlock(&r->lock);
    return t;
}

/* Puts m (a reference the caller hands over; NULL = the compile failed with e) in place of
 * mapping `name`, unless a later compile got there first. Returns the version to release
 * (the old one, or m itself when it lost) for the caller to release outside the lock. */
static struct mapping *install(struct mapping_registry *r, const char *name, unsigned long ticket,
                               struct mapping *m, const struct err *e)
{
    struct mapping *old = NULL;
    pthread_mutex_lock(&r->lock);
    struct entry *en = find_entry(r, name);
    if (!en)
        en = add_entry(r, name);
    if (!en || en->ticket > ticket) {
        old = m;
        goto out;
    }
    en->ticket = ticket;
    if (!m) {
        record_error(&en->info, e);
        r->total_errors++;
        log_warn("mapping %s: %s; %s", name, e->msg,
                 en->current ? "keeping the last good version" : "it has no good version");
        goto out;
    }
    en->info.has_error = 0;
    if (en->current && strcmp(mapping_version(en->current), mapping_version(m)) == 0) {
        old = m; /* same content: nothing changes */
        goto out;
    }
    if (en->current) {
        en->info.reloads++;
        r->total_reloads++;
        log_info("mapping %s: reloaded, version %s (was %s)", name, mapping_version(m),
                 mapping_version(en->current));
    } else {
        log_info("mapping %s: loaded, version %s", name, mapping_version(m));
    }
    old = en->current;
    en->current = m;
    en->info.loaded = 1;
    snprintf(en->info.version, sizeof en->info.version, "%s", mapping_version(m));
    en->info.loaded_at = time(NULL);
out:
    pthread_mutex_unlock(&r->lock);
    return old;
}

static void remove_entry(struct mapping_registry *r, const char *name, unsigned long ticket)
{
    struct mapping *old = NULL;
    pthread_mutex_lock(&r->lock);
    struct entry *en = find_entry(r, name);
    if (en && en->ticket < ticket) {
        old = en->current;
        *en = r->entries[--r->n_entries];
        log_info("mapping %s: file removed; running runs keep their version", name);
    }
    pthread_mutex_unlock(&r->lock);
    mapping_release(old);
}

static int compile_checked(struct mapping_registry *r, const char *name, const char *path,
                           const char *src, size_t len, struct mapping **out, struct err *e)
{
    const struct lua_host_limits *lim = r->has_limits ? &r->limits : NULL;
    int rc = src ? mapping_compile_source(name, r->dir, r->scripts_dir, src, len, lim, out, e)
                 : mapping_compile_with(name, path, r->scripts_dir, lim, out, e);
    if (rc != 0)
        return rc;
    struct err why;
    if (mapping_canary(*out, &why) != 0) {
        mapping_release(*out);
        *out = NULL;
        return err_set(e, ERR_SCRIPT, "%s (canary call on a sample value)", why.msg);
    }
    return 0;
}

/* Compiles DIR/NAME.lua and installs the result (or records the error). */
static void load_one(struct mapping_registry *r, const char *name)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s.lua", r->dir, name);
    unsigned long ticket = take_ticket(r);
    struct stat st;
    if (stat(path, &st) != 0) {
        remove_entry(r, name, ticket);
        return;
    }
    struct mapping *m = NULL;
    struct err e = {0};
    int rc = compile_checked(r, name, path, NULL, 0, &m, &e);
    if (rc == ERR_NOT_FOUND) {
        remove_entry(r, name, ticket);
        return;
    }
    mapping_release(install(r, name, ticket, rc == 0 ? m : NULL, &e));
}

/* Every NAME.lua in the directory, plus every known entry (so deletions are seen). */
static void load_all(struct mapping_registry *r)
{
    size_t n = 0, cap = 0;
    char (*names)[128] = NULL;
    DIR *d = opendir(r->dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char name[128];
        if (!mapping_file_name(de->d_name, name, sizeof name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            void *nn = realloc(names, cap * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        snprintf(names[n++], sizeof names[0], "%s", name);
    }
    if (d)
        closedir(d);
    pthread_mutex_lock(&r->lock);
    size_t known = r->n_entries;
    char (*old)[128] = known ? malloc(known * sizeof *old) : NULL;
    for (size_t i = 0; old && i < known; i++)
        snprintf(old[i], sizeof old[0], "%s", r->entries[i].info.name);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++)
        load_one(r, names[i]);
    for (size_t i = 0; old && i < known; i++) {
        int seen = 0;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(old[i], names[j]) == 0;
        if (!seen)
            load_one(r, old[i]); /* gone: removes it */
    }
    free(old);
    free(names);
}

void mapping_registry_reload(struct mapping_registry *r, const char *name)
{
    if (name && mapping_name_valid(name))
        load_one(r, name);
    else if (!name)
        load_all(r);
}

/* ---------------------------------------------------------------- watcher */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct pending {
    int all;
    size_t n;
    char names[64][128];
};

static void pending_add(struct pending *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return;
    if (p->n == sizeof p->names / sizeof p->names[0]) {
        p->all = 1;
        return;
    }
    snprintf(p->names[p->n++], sizeof p->names[0], "%s", name);
}

static void watch_scripts(struct mapping_registry *r, int fd)
{
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM;
    if (inotify_add_watch(fd, r->scripts_dir, mask) < 0)
        return;
    DIR *d = opendir(r->scripts_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX + 256];
        snprintf(sub, sizeof sub, "%s/%s", r->scripts_dir, de->d_name);
        struct stat st;
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            inotify_add_watch(fd, sub, mask);
    }
    if (d)
        closedir(d);
}

static void *watcher(void *arg)
{
    struct mapping_registry *r = arg;
    int fd = r->inotify_fd, dir_wd = r->dir_wd;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    long long deadline = -1;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        struct pollfd fds[2] = {{r->stop_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
        int timeout = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        int n = poll(fds, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (n > 0 && (fds[1].revents & POLLIN)) {
            ssize_t len = read(fd, buf, sizeof buf);
            for (char *q = buf; len > 0 && q < buf + len;) {
                struct inotify_event *ev = (struct inotify_event *)q;
                q += sizeof *ev + ev->len;
                if (ev->mask & IN_Q_OVERFLOW) {
                    p->all = 1;
                } else if (ev->wd == dir_wd && ev->len) {
                    char name[128];
                    if (ev->name[0] == '.')
                        continue; /* our own temp files, editors' swap files */
                    if (mapping_file_name(ev->name, name, sizeof name))
                        pending_add(p, name);
                    else if (strlen(ev->name) > 4 && strcmp(ev->name + strlen(ev->name) - 4, ".csv") == 0)
                        p->all = 1; /* a table file: any mapping may read it */
                    else
                        continue;
                } else if (ev->wd != dir_wd) {
                    if (ev->len && strlen(ev->name) > 4 &&
                        strcmp(ev->name + strlen(ev->name) - 4, ".lua") == 0)
                        p->all = 1; /* a module in scripts/ */
                    else
                        continue;
                }
                deadline = now_ms() + r->debounce_ms;
            }
            continue;
        }
        if (deadline >= 0 && now_ms() >= deadline) {
            deadline = -1;
            if (p->all)
                load_all(r);
            else
                for (size_t i = 0; i < p->n; i++)
                    load_one(r, p->names[i]);
            memset(p, 0, sizeof *p);
        }
    }
    free(p);
    return NULL;
}

/* ---------------------------------------------------------------- public */

int mapping_registry_open(const struct mapping_registry_config *cfg, struct mapping_registry **out,
                          struct err *e)
{
    *out = NULL;
    struct mapping_registry *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_INTERNAL, "out of memory");
    snprintf(r->dir, sizeof r->dir, "%s", cfg && cfg->dir && *cfg->dir ? cfg->dir : "mappings");
    snprintf(r->scripts_dir, sizeof r->scripts_dir, "%s",
             cfg && cfg->scripts_dir && *cfg->scripts_dir ? cfg->scripts_dir : "scripts");
    r->debounce_ms = cfg && cfg->debounce_ms > 0 ? cfg->debounce_ms : 250;
    if (cfg && cfg->limits) {
        r->limits = *cfg->limits;
        r->has_limits = 1;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->write_lock, NULL);
    r->stop_pipe[0] = r->stop_pipe[1] = r->inotify_fd = -1;
    if (mkdir(r->dir, 0755) != 0 && errno != EEXIST) {
        int rc = err_set(e, ERR_INTERNAL, "mappings directory %s: %s", r->dir, strerror(errno));
        mapping_registry_close(r);
        return rc;
    }
    if (cfg && cfg->watch) {
        /* watches first, so that a change made while loading is not missed */
        r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->inotify_fd >= 0) {
            r->dir_wd = inotify_add_watch(r->inotify_fd, r->dir,
                                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM);
            if (r->dir_wd < 0)
                log_warn("mappings: cannot watch %s: %s; hot reload is off", r->dir,
                         strerror(errno));
            watch_scripts(r, r->inotify_fd);
        }
    }
    mapping_registry_reload(r, NULL);
    if (cfg && cfg->watch) {
        if (r->inotify_fd < 0 || pipe2(r->stop_pipe, O_CLOEXEC) != 0 ||
            pthread_create(&r->thread, NULL, watcher, r) != 0) {
            int rc = err_set(e, ERR_INTERNAL, "mappings: cannot start the watcher: %s",
                             strerror(errno));
            mapping_registry_close(r);
            return rc;
        }
        r->watching = 1;
    }
    *out = r;
    return 0;
}

void mapping_registry_close(struct mapping_registry *r)
{
    if (!r)
        return;
    if (r->watching) {
        ssize_t w = write(r->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(r->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (r->stop_pipe[i] >= 0)
            close(r->stop_pipe[i]);
    if (r->inotify_fd >= 0)
        close(r->inotify_fd);
    for (size_t i = 0; i < r->n_entries; i++)
        mapping_release(r->entries[i].current);
    free(r->entries);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->write_lock);
    free(r);
}

struct mapping *mapping_registry_acquire(struct mapping_registry *r, const char *name,
                                         struct err *e)
{
    if (!mapping_name_valid(name)) {
        err_set(e, ERR_INPUT, "'%s' is not a mapping name (letters, digits, '_' and '-')",
                name ? name : "");
        return NULL;
    }
    struct mapping *m = NULL;
    pthread_mutex_lock(&r->lock);
    struct entry *en = find_entry(r, name);
    if (!en)
        err_set(e, ERR_NOT_FOUND, "no mapping '%s' in %s", name, r->dir);
    else if (!en->current)
        err_set(e, ERR_SCRIPT, "mapping '%s' has no version that compiles: %s", name,
                en->info.error);
    else
        m = mapping_retain(en->current);
    pthread_mutex_unlock(&r->lock);
    return m;
}

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const struct mapping_info *)a)->name, ((const struct mapping_info *)b)->name);
}

int mapping_registry_list(struct mapping_registry *r, struct mapping_info **out, size_t *n,
                          struct err *e)
{
    pthread_mutex_lock(&r->lock);
    *n = r->n_entries;
    *out = malloc((*n ? *n : 1) * sizeof **out);
    for (size_t i = 0; *out && i < *n; i++)
        (*out)[i] = r->entries[i].info;
    pthread_mutex_unlock(&r->lock);
    if (!*out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    qsort(*out, *n, sizeof **out, cmp_info);
    return 0;
}

int mapping_registry_info(struct mapping_registry *r, const char *name, struct mapping_info *out,
                          struct err *e)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    struct entry *en = mapping_name_valid(name) ? find_entry(r, name) : NULL;
    if (en)
        *out = en->info;
    else
        rc = err_set(e, ERR_NOT_FOUND, "no mapping '%s'", name ? name : "");
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int write_atomic(const char *dir, const char *name, const char *src, size_t len,
                        struct err *e)
{
    char tmp[PATH_MAX + 160], path[PATH_MAX + 160];
    snprintf(tmp, sizeof tmp, "%s/.%s.lua.XXXXXX", dir, name);
    snprintf(path, sizeof path, "%s/%s.lua", dir, name);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return err_set(e, ERR_INTERNAL, "cannot write mapping %s in %s: %s", name, dir,
                       strerror(errno));
    int rc = 0;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, src + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = err_set(e, ERR_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set(e, ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

void mapping_etag(const char *src, size_t len, char out[MAPPING_ETAG_SIZE])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: a change detector, not a security check */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)src[i]) * 0x100000001b3ULL;
    snprintf(out, MAPPING_ETAG_SIZE, "\"%016" PRIx64 "\"", h);
}

int mapping_registry_read_file(struct mapping_registry *r, const char *name, char **src,
                               size_t *len, char etag[MAPPING_ETAG_SIZE], struct err *e)
{
    *src = NULL;
    *len = 0;
    if (!mapping_name_valid(name))
        return err_set(e, ERR_INPUT, "'%s' is not a mapping name", name ? name : "");
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s.lua", r->dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_INTERNAL, "cannot read %s: %s",
                       path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    char chunk[8192];
    int rc = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + got + 1 > cap) {
            char *grown = realloc(buf, cap = (n + got + 1) * 2);
            if (!grown) {
                rc = err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
                break;
            }
            buf = grown;
        }
        memcpy(buf + n, chunk, got);
        n += got;
    }
    if (rc == 0 && ferror(f))
        rc = err_set(e, ERR_INTERNAL, "cannot read %s", path);
    fclose(f);
    if (rc == 0 && !buf && !(buf = malloc(1)))
        rc = err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    mapping_etag(buf, n, etag);
    *src = buf;
    *len = n;
    return 0;
}

/* 1 if the file on disk is the one the writer read: its ETag is among if_match ("*": any
 * file at all). A comma-separated list, as HTTP allows. */
static int disk_matches(struct mapping_registry *r, const char *name, const char *if_match)
{
    char *disk, etag[MAPPING_ETAG_SIZE];
    size_t len;
    struct err ignored;
    if (mapping_registry_read_file(r, name, &disk, &len, etag, &ignored) != 0)
        return 0;
    free(disk);
    for (const char *p = if_match; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 1 && *p == '*') || (n == strlen(etag) && strncmp(p, etag, n) == 0))
            return 1;
        p += n;
    }
    return 0;
}

int mapping_registry_write(struct mapping_registry *r, const char *name, const char *source,
                           size_t len, struct err *e)
{
    return mapping_registry_write_if(r, name, source, len, NULL, e);
}

int mapping_registry_write_if(struct mapping_registry *r, const char *name, const char *source,
                              size_t len, const char *if_match, struct err *e)
{
    if (!mapping_name_valid(name))
        return err_set(e, ERR_INPUT, "'%s' is not a mapping name (letters, digits, '_' and '-')",
                       name ? name : "");
    struct mapping *m = NULL;
    int rc = compile_checked(r, name, NULL, source, len, &m, e);
    if (rc != 0)
        return rc;
    /* the last PUT to rename its file is the last to install: disk and memory agree; the file
     * it replaces is compared with If-Match under the same lock, so no write slips between */
    pthread_mutex_lock(&r->write_lock);
    if (if_match && !disk_matches(r, name, if_match))
        rc = err_set(e, ERR_CONFLICT, "%s.lua changed on disk since it was read: nothing was "
                     "written", name);
    else
        rc = write_atomic(r->dir, name, source, len, e);
    if (rc == 0)
        m = install(r, name, take_ticket(r), m, NULL);
    pthread_mutex_unlock(&r->write_lock);
    mapping_release(m);
    return rc;
}

void mapping_registry_counters(struct mapping_registry *r, unsigned long *reloads,
                               unsigned long *errors)
{
    pthread_mutex_lock(&r->lock);
    *reloads = r->total_reloads;
    *errors = r->total_errors;
    pthread_mutex_unlock(&r->lock);
}

const char *mapping_registry_dir(const struct mapping_registry *r) { return r->dir; }
const char *mapping_registry_scripts_dir(const struct mapping_registry *r)
{
    return r->scripts_dir;
}
