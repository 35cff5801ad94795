/* deadline.h — absolute times for pthread_cond_timedwait, which counts on CLOCK_REALTIME, and
 * the monotonic milliseconds that timeouts and latencies are measured in. */
#ifndef DHIS2SYNC_DEADLINE_H
#define DHIS2SYNC_DEADLINE_H

#include <time.h>

static inline struct timespec deadline_after_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Milliseconds on CLOCK_MONOTONIC: for durations, never for dates. */
static inline long long monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#endif
