/*
 * log.h - one-line structured logging to stderr, shared by every daemon.
 *
 * Lines look like: 2026-11-22T04:12:51.123Z warn portico-dnscache: msg
 * The level and program name are set once at start (log_init); that is the
 * only process-wide state, and it is written before any thread starts.
 */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *program, enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
