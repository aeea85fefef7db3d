/*
 * httpd.h - tiny HTTP endpoint for /metrics, /healthz and friends, on
 * libmicrohttpd with its own thread.
 *
 * The handler runs on the HTTP thread: it must only read state that is safe
 * to read concurrently (atomics, or data behind the component's own lock).
 * Only GET and HEAD reach the handler; anything else gets 405.
 */
#ifndef PORTICO_HTTPD_H
#define PORTICO_HTTPD_H

#include <stddef.h>

#include "buf.h"

struct httpd;

struct httpd_response {
    int status;                 /* default 200 */
    const char *content_type;   /* default text/plain; charset=utf-8 */
    struct buf body;            /* the handler appends to it */
};

typedef void (*httpd_handler)(void *ctx, const char *path,
                              struct httpd_response *resp);

/* listen is "ADDR:PORT" (numeric, IPv4 or [IPv6]). Returns NULL and a
 * message in err on failure. */
struct httpd *httpd_start(const char *listen, httpd_handler handler,
                          void *ctx, char *err, size_t errlen);
/* The bound port (useful when listen asked for port 0). */
int httpd_port(const struct httpd *h);
void httpd_stop(struct httpd *h);

#endif
