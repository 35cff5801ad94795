/* notify.h — tells people that a run ended badly: a webhook POST (JSON) and an e-mail over
 * SMTP (libcurl), for the statuses a job lists in its `notify` setting:
 *   {"on":["failed","partial"], "webhook":"https://…", "email":["ops@example.org"]}
 * ("on" defaults to failed and partial). Each channel is tried up to NOTIFY_ATTEMPTS times with
 * a doubling backoff (DHIS2SYNC_NOTIFY_RETRY_MS first); the outcome is stored on
 * runs.notification: {"webhook":{"status":"delivered"|"failed","attempts":N,"httpStatus":…,
 * "error":…,"at":…},"email":{…,"recipients":N}}.
 * Never: sends or stores a secret. The message is the run as the API shows it (id, job, status,
 * counts, error, timings) plus a link; the stored outcome names no URL (webhook URLs often
 * carry a token) and no SMTP credentials. Never holds a database connection while it waits. */
#ifndef DHIS2SYNC_NOTIFY_H
#define DHIS2SYNC_NOTIFY_H

#include <cJSON.h>
#include <stdatomic.h>

#include "err.h"

struct app;

enum { NOTIFY_ATTEMPTS = 3 };

/* Checks a job's `notify` object and returns its normalised copy (caller deletes); errors name
 * the field ("notify.webhook"). */
cJSON *notify_validate(const cJSON *notify, struct err *e);

/* After a run has finished: sends what its job asks for (nothing when the job has no notify
 * setting or the status is not listed) and stores the outcome. stop (may be NULL) cuts
 * retries short when the process is shutting down. Returns 0, or a negative error when the
 * run could not be read or the outcome not stored (delivery failures are outcomes, not errors). */
int notify_run(struct app *app, long long run_id, atomic_int *stop, struct err *e);

#endif
