/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *log_program = "portico";
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *program, enum log_level level)
{
    log_program = program;
    log_threshold = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_enabled(enum log_level level)
{
    return level >= log_threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[2048], stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    if (!log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", stamp,
                 (long)(tv.tv_usec / 1000), level_names[level], log_program);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from several threads never interleave. */
    size_t len = strlen(line);
    for (size_t i = (size_t)n; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    if (len + 1 < sizeof(line)) {
        line[len++] = '\n';
        line[len] = '\0';
    } else {
        line[sizeof(line) - 2] = '\n';
    }
    fputs(line, stderr);
}
