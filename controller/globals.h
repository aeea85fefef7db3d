/*
 * globals.h - nginx's global settings from the chart's ConfigMap.
 *
 * The ConfigMap is mounted as a folder with one file per key (as the
 * kubelet mounts it); the controller reads it once at start (the chart
 * rolls the pod when it changes) and refuses, with the key and the
 * reason, any value that does not pass the same checks as annotations,
 * and any key it does not know: a setting it would not honour is never
 * silently dropped. Keys (ingress-nginx's names):
 *   worker-processes        auto or N
 *   keep-alive              client keep-alive timeout (75s)
 *   keep-alive-requests     requests per client connection (1000)
 *   client-header-timeout   client-body-timeout
 *   proxy-connect-timeout   proxy-read-timeout   proxy-send-timeout
 *   proxy-body-size         client_max_body_size (1m)
 *   log-format-upstream     access log format, written to /dev/stderr
 *                           (no key: access log off)
 */
#ifndef PORTICO_CONTROLLER_GLOBALS_H
#define PORTICO_CONTROLLER_GLOBALS_H

#include <stddef.h>

#include "buf.h"

#define GLOBALS_VALUE_MAX   4096    /* bytes per value */

struct nginx_globals {
    char *worker_processes;
    char *keep_alive, *keep_alive_requests;
    char *client_header_timeout, *client_body_timeout;
    char *proxy_connect_timeout, *proxy_read_timeout, *proxy_send_timeout;
    char *proxy_body_size;
    char *log_format;
};

/* Reads dir (NULL or "": nothing, all defaults). 0, or -1 with the key
 * and the reason in err. */
int globals_load(const char *dir, struct nginx_globals *g, char *err,
                 size_t errlen);
void globals_free(struct nginx_globals *g);

/* value if set, else fallback. */
const char *globals_or(const char *value, const char *fallback);
/* The http{} lines the globals set (access log and its format). */
void globals_render_http(const struct nginx_globals *g, struct buf *out);

#endif
