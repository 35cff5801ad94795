#include "log.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static int json_lines;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_configure(const char *level, const char *format)
{
    int rc = 0;
    if (level && *level) {
        int found = 0;
        for (int i = 0; i < 4; i++) {
            if (strcmp(level, level_names[i]) == 0) {
                min_level = (enum log_level)i;
                found = 1;
            }
        }
        if (!found)
            rc = -1;
    }
    if (format && *format) {
        if (strcmp(format, "json") == 0)
            json_lines = 1;
        else if (strcmp(format, "text") == 0)
            json_lines = 0;
        else
            rc = -1;
    }
    return rc;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    pthread_mutex_lock(&log_lock);
    if (json_lines) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o && cJSON_AddStringToObject(o, "time", when) &&
            cJSON_AddStringToObject(o, "level", level_names[level]) &&
            cJSON_AddStringToObject(o, "msg", msg))
            line = cJSON_PrintUnformatted(o);
        fprintf(stderr, "%s\n", line ? line : msg);
        free(line);
        cJSON_Delete(o);
    } else {
        /* one event, one line: a newline inside a message would forge a second event */
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        fprintf(stderr, "%s %-5s %s\n", when, level_names[level], msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
