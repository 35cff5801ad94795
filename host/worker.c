#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "runs.h"
#include "sync.h"

/* A run's heartbeat is refreshed this often; one silent for HEARTBEAT_STALE_S is orphaned. */
enum { HEARTBEAT_EVERY_S = 5, HEARTBEAT_STALE_S = 60, IDLE_POLL_MS = 1000, MAX_THREADS = 64 };

atomic_int worker_shutdown;

static struct app *worker_app;
static pthread_t threads[MAX_THREADS], heartbeat_thread;
static int n_threads;
static bool heartbeat_running;
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
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wake_lock);
    if (!atomic_load(&worker_shutdown))
        pthread_cond_timedwait(&wake_cond, &wake_lock, &until);
    pthread_mutex_unlock(&wake_lock);
}

static void *run_loop(void *arg)
{
    (void)arg;
    struct sync_options opt = {.shutdown = &worker_shutdown};
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
        const char *status;
        sync_run(worker_app, run_id, &opt, &status, &e);
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
        const char *again[] = {id};
        db_exec(c,
                "INSERT INTO runs (job_id, dry_run, full_run, trigger, retry_of)"
                " SELECT job_id, dry_run, full_run, 'retry', id FROM runs"
                " WHERE id = $1 AND retry_of IS NULL"
                " ON CONFLICT (job_id) WHERE status IN ('queued', 'running') DO NOTHING",
                1, again, e);
    }
    PQclear(r);
    return found;
}

static void *heartbeat_loop(void *arg)
{
    (void)arg;
    int since_reap = HEARTBEAT_STALE_S;
    while (!atomic_load(&worker_shutdown)) {
        struct err e = {0};
        PGconn *c = db_acquire(worker_app->db, &e);
        if (c) {
            const char *params[] = {worker_id()};
            if (db_exec(c, "UPDATE runs SET heartbeat_at = now() WHERE worker = $1 AND status = 'running'",
                        1, params, &e) != 0)
                log_warn("heartbeat: %s", e.msg);
            if (since_reap >= HEARTBEAT_STALE_S / 4) {
                since_reap = 0;
                if (worker_reap_orphans(c, HEARTBEAT_STALE_S, &e) > 0)
                    worker_wake();
            }
            db_release(worker_app->db, c);
        }
        for (int i = 0; i < HEARTBEAT_EVERY_S * 10 && !atomic_load(&worker_shutdown); i++)
            usleep(100000);
        since_reap += HEARTBEAT_EVERY_S;
    }
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
    if (heartbeat_running)
        pthread_join(heartbeat_thread, NULL);
    heartbeat_running = false;
}
