/* globals.c - nginx globals from a ConfigMap folder (see globals.h). */
#include "controller/globals.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "controller/validate.h"

enum check { CHECK_WORKERS, CHECK_TIMEOUT, CHECK_COUNT, CHECK_SIZE,
             CHECK_LOG_FORMAT };

struct key {
    const char *name;
    size_t offset;
    enum check check;
};

#define FIELD(f) offsetof(struct nginx_globals, f)

static const struct key KEYS[] = {
    {"worker-processes", FIELD(worker_processes), CHECK_WORKERS},
    {"keep-alive", FIELD(keep_alive), CHECK_TIMEOUT},
    {"keep-alive-requests", FIELD(keep_alive_requests), CHECK_COUNT},
    {"client-header-timeout", FIELD(client_header_timeout), CHECK_TIMEOUT},
    {"client-body-timeout", FIELD(client_body_timeout), CHECK_TIMEOUT},
    {"proxy-connect-timeout", FIELD(proxy_connect_timeout), CHECK_TIMEOUT},
    {"proxy-read-timeout", FIELD(proxy_read_timeout), CHECK_TIMEOUT},
    {"proxy-send-timeout", FIELD(proxy_send_timeout), CHECK_TIMEOUT},
    {"proxy-body-size", FIELD(proxy_body_size), CHECK_SIZE},
    {"log-format-upstream", FIELD(log_format), CHECK_LOG_FORMAT},
};

#define NKEYS (sizeof(KEYS) / sizeof(KEYS[0]))
#define COUNT_DIGITS_MAX 9

static int digits(const char *s, size_t max)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && n <= max && s[n] == '\0' && s[0] != '0';
}

/* A log format: printable ASCII and tabs; every '$' starts an nginx
 * variable name ($name or ${name}). Rendered double-quoted with '"' and
 * '\\' escaped, so nothing in it can end the directive. */
static int log_format_ok(const char *s)
{
    for (; *s; s++) {
        if ((*s < 0x20 && *s != '\t') || *s == 0x7f || (*s & 0x80))
            return 0;
        if (*s == '$') {
            const char *name = s[1] == '{' ? s + 2 : s + 1;
            size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (n == 0 || (s[1] == '{' && name[n] != '}'))
                return 0;
        }
    }
    return 1;
}

static int check_value(const struct key *k, const char *v, char *err,
                       size_t errlen)
{
    size_t len = strlen(v);

    switch (k->check) {
    case CHECK_WORKERS:
        if (strcmp(v, "auto") == 0 || digits(v, 3))
            return 0;
        snprintf(err, errlen, "want auto or a number");
        return -1;
    case CHECK_TIMEOUT:
        return validate_timeout(v, len, err, errlen);
    case CHECK_COUNT:
        if (digits(v, COUNT_DIGITS_MAX))
            return 0;
        snprintf(err, errlen, "want a positive number");
        return -1;
    case CHECK_SIZE:
        return validate_size(v, len, err, errlen);
    case CHECK_LOG_FORMAT:
        if (len > 0 && log_format_ok(v))
            return 0;
        snprintf(err, errlen, "want printable characters");
        return -1;
    }
    return -1;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return &KEYS[i];
    return NULL;
}

int globals_load(const char *dir, struct nginx_globals *g, char *err,
                 size_t errlen)
{
    DIR *d;
    struct dirent *de;
    char path[4096], why[256];
    int rc = 0;

    memset(g, 0, sizeof(*g));
    if (!dir || !*dir)
        return 0;
    if (!(d = opendir(dir))) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d))) {
        const struct key *k;
        char *v, shown[80];
        size_t len;

        if (de->d_name[0] == '.')   /* ., .., and the kubelet's ..data */
            continue;
        validate_printable(de->d_name, shown, sizeof(shown));
        if (!(k = find_key(de->d_name))) {
            snprintf(err, errlen, "unknown key \"%s\" in %s", shown, dir);
            rc = -1;
            break;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (!(v = file_read(path, GLOBALS_VALUE_MAX, &len))) {
            snprintf(err, errlen, "%s: %s", shown, strerror(errno));
            rc = -1;
            break;
        }
        while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == ' '))
            v[--len] = '\0';
        if (strlen(v) != len || check_value(k, v, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: %s", shown,
                     strlen(v) != len ? "contains a NUL byte" : why);
            free(v);
            rc = -1;
            break;
        }
        char **field = (char **)((char *)g + k->offset);
        free(*field);
        *field = v;
    }
    closedir(d);
    if (rc < 0)
        globals_free(g);
    return rc;
}

void globals_free(struct nginx_globals *g)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char **field = (char **)((char *)g + KEYS[i].offset);
        free(*field);
        *field = NULL;
    }
}

const char *globals_or(const char *value, const char *fallback)
{
    return value ? value : fallback;
}

void globals_render_http(const struct nginx_globals *g, struct buf *out)
{
    if (!g || !g->log_format) {
        buf_puts(out, "access_log off;\n");
        return;
    }
    buf_puts(out, "log_format portico_upstream \"");
    for (const char *c = g->log_format; *c; c++) {
        if (*c == '"' || *c == '\\')
            buf_append(out, "\\", 1);
        buf_append(out, c, 1);
    }
    buf_puts(out, "\";\naccess_log /dev/stderr portico_upstream;\n");
}
