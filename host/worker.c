#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "db.h"
#include "deadline.h"
#include "log.h"
#include "notify.h"
#include "runs.h"
#include "sync.h"

/* Idle run threads look for queued runs this often even when no NOTIFY wakes them. */
enum { IDLE_POLL_MS = 1000, MAX_THREADS = 64, LISTEN_RETRY_MS = 1000 };

atomic_int worker_shutdown;

static struct app *worker_app;
static pthread_t threads[MAX_THREADS], heartbeat_thread, listen_thread;
static int n_threads;
static bool heartbeat_running, listen_running;
/* The runs this process is running now: only these get a heartbeat, so that a run left
 * `running` by a failure of ours (the database gone when it ended) is orphaned like any other. */
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static long long active[MAX_THREADS + 1];
/* cancel requests seen by the heartbeat, for runs whose own progress writes are held up (a
 * source that stalls inside one request) */
static bool cancel_seen[MAX_THREADS + 1];
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static char id_text[300];

const char *worker_id(void)
{
    if (!id_text[0]) {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(id_text, sizeof id_text, "%s:%d", host, (int)getpid());
    }
    return id_text;
}

void worker_wake(void)
{
    pthread_mutex_lock(&wake_lock);
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

static void idle_wait(int ms)
{
    struct timespec until = deadline_after_ms(ms);
    pthread_mutex_lock(&wake_lock);
    if (!atomic_load(&worker_shutdown))
        pthread_cond_timedwait(&wake_cond, &wake_lock, &until);
    pthread_mutex_unlock(&wake_lock);
}

void worker_track(long long run_id)
{
    pthread_mutex_lock(&active_lock);
    for (int i = 0; i <= MAX_THREADS; i++) {
        if (!active[i]) {
            active[i] = run_id;
            cancel_seen[i] = false;
            break;
        }
    }
    pthread_mutex_unlock(&active_lock);
}

bool worker_cancel_requested(long long run_id)
{
    bool seen = false;
    pthread_mutex_lock(&active_lock);
    for (int i = 0; i <= MAX_THREADS; i++)
        if (active[i] == run_id)
            seen = cancel_seen[i];
    pthread_mutex_unlock(&active_lock);
    return seen;
}

static void note_cancel(long long run_id)
{
    pthread_mutex_lock(&active_lock);
    for (int i = 0; i <= MAX_THREADS; i++)
        if (active[i] == run_id)
            cancel_seen[i] = true;
    pthread_mutex_unlock(&active_lock);
}

void worker_untrack(long long run_id)
{
    pthread_mutex_lock(&active_lock);
    for (int i = 0; i <= MAX_THREADS; i++)
        if (active[i] == run_id)
            active[i] = 0;
    pthread_mutex_unlock(&active_lock);
}

/* "{1,2,3}": the active runs as a PostgreSQL array literal; "{}" for none. */
static void active_list(char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "{");
    pthread_mutex_lock(&active_lock);
    for (int i = 0; i <= MAX_THREADS && len < size; i++)
        if (active[i])
            len += (size_t)snprintf(buf + len, size - len, "%s%lld", len > 1 ? "," : "", active[i]);
    pthread_mutex_unlock(&active_lock);
    if (len < size)
        snprintf(buf + len, size - len, "}");
}

/* After sync_run: a run it could not finish (no database at its start or end) must not stay
 * `running`; it is failed here if the database answers again, else the heartbeat stops and
 * another process finds it orphaned. */
static void make_sure_finished(PGconn *c, long long run_id)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", run_id);
    const char *params[] = {id, worker_id()};
    struct err e = {0};
    PGresult *r = db_query(c,
                           "UPDATE runs SET status = 'failed', finished_at = now(),"
                           " error = coalesce(error, 'the run stopped without recording how it ended')"
                           " WHERE id = $1 AND status = 'running' AND worker = $2 RETURNING id",
                           2, params, &e);
    if (!r)
        log_warn("run %lld: cannot check that it ended: %s", run_id, e.msg);
    else if (PQntuples(r) == 1)
        log_warn("run %lld had not recorded its end; marked failed", run_id);
    PQclear(r);
}

static void *run_loop(void *arg)
{
    (void)arg;
    struct sync_options opt = {.worker = worker_id(), .cancel_requested = worker_cancel_requested,
                               .shutdown = &worker_shutdown};
    while (!atomic_load(&worker_shutdown)) {
        struct err e = {0};
        long long run_id = 0;
        PGconn *c = db_acquire(worker_app->db, &e);
        if (c) {
            if (run_claim(c, worker_id(), &run_id, &e) != 0)
                log_warn("cannot look for queued runs: %s", e.msg);
            db_release(worker_app->db, c);
        }
        if (!run_id) {
            idle_wait(IDLE_POLL_MS);
            continue;
        }
        worker_track(run_id);
        const char *status = "failed";
        sync_run(worker_app, run_id, &opt, &status, &e);
        struct err ne = {0};
        if ((c = db_acquire(worker_app->db, &ne))) {
            make_sure_finished(c, run_id);
            db_release(worker_app->db, c);
        }
        worker_untrack(run_id);
        if (notify_run(worker_app, run_id, &worker_shutdown, &ne) != 0)
            log_warn("run %lld: notification: %s", run_id, ne.msg);
    }
    return NULL;
}

int worker_reap_orphans(PGconn *c, int stale_s, struct err *e)
{
    PGresult *r = db_query(c, "SELECT id, worker FROM runs WHERE status = 'running'", 0, NULL, e);
    if (!r)
        return e->code;
    const char *me = worker_id();
    const char *colon = strrchr(me, ':');
    size_t host_len = colon ? (size_t)(colon - me) : strlen(me);
    int found = 0;
    char stale[24];
    snprintf(stale, sizeof stale, "%d", stale_s);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *w = db_value(r, i, 1);
        bool dead = false;
        /* on this host, a pid that is gone is proof enough; elsewhere only silence is */
        if (w && strncmp(w, me, host_len) == 0 && w[host_len] == ':') {
            pid_t pid = (pid_t)atoi(w + host_len + 1);
            dead = pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
        }
        const char *params[] = {id, dead ? "t" : "f", stale};
        PGresult *u = db_query(c,
                               "UPDATE runs SET status = 'interrupted', finished_at = now(),"
                               " error = 'its process stopped (' || coalesce(worker, '?') || ') before it finished'"
                               " WHERE id = $1 AND status = 'running'"
                               " AND ($2::boolean OR heartbeat_at < now() - make_interval(secs => $3::int))"
                               " RETURNING id",
                               3, params, e);
        if (!u)
            continue;
        int marked = PQntuples(u) == 1;
        PQclear(u);
        if (!marked)
            continue;
        found++;
        log_warn("run %s was orphaned by %s: marked interrupted", id, w ? w : "?");
        run_requeue_once(c, strtoll(id, NULL, 10), e);
    }
    PQclear(r);
    return found;
}

static void *heartbeat_loop(void *arg)
{
    (void)arg;
    const int every_ms = worker_app->cfg.heartbeat_ms, stale_s = worker_app->cfg.orphan_after_s;
    while (!atomic_load(&worker_shutdown)) {
        struct err e = {0};
        PGconn *c = db_acquire(worker_app->db, &e);
        if (c) {
            char ids[(MAX_THREADS + 1) * 21 + 3];
            active_list(ids, sizeof ids);
            const char *params[] = {ids, worker_id()};
            PGresult *r = strcmp(ids, "{}") == 0 ? NULL
                : db_query(c, "UPDATE runs SET heartbeat_at = now()"
                              " WHERE id = ANY($1::bigint[]) AND worker = $2 AND status = 'running'"
                              " RETURNING id, cancel_requested",
                           2, params, &e);
            if (!r && strcmp(ids, "{}") != 0)
                log_warn("heartbeat: %s", e.msg);
            for (int i = 0; r && i < PQntuples(r); i++)
                if (strcmp(PQgetvalue(r, i, 1), "t") == 0)
                    note_cancel(strtoll(PQgetvalue(r, i, 0), NULL, 10));
            PQclear(r);
            if (worker_reap_orphans(c, stale_s, &e) > 0)
                worker_wake();
            db_release(worker_app->db, c);
        }
        for (int slept = 0; slept < every_ms && !atomic_load(&worker_shutdown); slept += 50)
            usleep(50000);
    }
    return NULL;
}

/* LISTEN dhis2sync_runs on a connection of its own (db/003_sched.sql notifies on every queued
 * run): idle run threads start at once instead of at their next poll. */
static void *listen_loop(void *arg)
{
    (void)arg;
    PGconn *c = NULL;
    while (!atomic_load(&worker_shutdown)) {
        struct err e = {0};
        if (!c) {
            if (!(c = db_connect(worker_app->db, &e)) ||
                db_exec(c, "LISTEN dhis2sync_runs", 0, NULL, &e) != 0) {
                log_debug("worker: cannot listen for queued runs (polling meanwhile): %s", e.msg);
                if (c)
                    PQfinish(c);
                c = NULL;
                for (int slept = 0; slept < LISTEN_RETRY_MS && !atomic_load(&worker_shutdown); slept += 50)
                    usleep(50000);
                continue;
            }
        }
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        int ready = poll(&p, 1, 250);
        if (ready < 0 && errno != EINTR)
            ready = 0;
        if (ready > 0 && PQconsumeInput(c) == 0) {
            log_debug("worker: lost the listening connection: %s", PQerrorMessage(c));
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool woken = false;
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            woken = true;
            PQfreemem(n);
        }
        if (woken)
            worker_wake();
    }
    if (c)
        PQfinish(c);
    return NULL;
}

int worker_start(struct app *app, int n, struct err *e)
{
    worker_app = app;
    atomic_store(&worker_shutdown, 0);
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    if (pthread_create(&heartbeat_thread, NULL, heartbeat_loop, NULL) != 0)
        return err_set(e, ERR_INTERNAL, "cannot start the heartbeat thread");
    heartbeat_running = true;
    if (n > 0) {
        if (pthread_create(&listen_thread, NULL, listen_loop, NULL) != 0)
            return err_set(e, ERR_INTERNAL, "cannot start the thread that listens for queued runs");
        listen_running = true;
    }
    for (n_threads = 0; n_threads < n; n_threads++)
        if (pthread_create(&threads[n_threads], NULL, run_loop, NULL) != 0)
            return err_set(e, ERR_INTERNAL, "cannot start worker thread %d", n_threads + 1);
    return 0;
}

void worker_stop(void)
{
    atomic_store(&worker_shutdown, 1);
    worker_wake();
    for (int i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    n_threads = 0;
    if (listen_running)
        pthread_join(listen_thread, NULL);
    listen_running = false;
    if (heartbeat_running)
        pthread_join(heartbeat_thread, NULL);
    heartbeat_running = false;
}
