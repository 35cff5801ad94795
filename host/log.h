/* log.h — one line per event on stderr, as text or JSON lines (DHIS2SYNC_LOG_FORMAT=json).
 * Thread-safe. Never pass a secret: nothing here can tell one from other text. */
#ifndef DHIS2SYNC_LOG_H
#define DHIS2SYNC_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* level: "debug"|"info"|"warn"|"error" (NULL = info); format: "text"|"json" (NULL = text).
 * Returns -1 for an unknown name, leaving the setting unchanged. */
int log_configure(const char *level, const char *format);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
