/*
 * render.h - the model to nginx.conf text, deterministically: the same
 * model gives the same bytes (everything in it is already sorted), and
 * the config hash is computed over those bytes.
 *
 * Routing is not in nginx.conf but in the route table (routes.h), nor are
 * the upstreams (the table's `upstream` lines) and the hosts'
 * certificates (certtable.h, docs/certificates.md): nginx loads both
 * tables without a reload. nginx.conf holds what nginx itself must know:
 * the zone of the upstreams (`resolve_upstreams`, its state file in
 * PREFIX/state), the dispatch upstreams every location passes to, which
 * hold the keepalive caches (one for plain HTTP, one per profile with TLS
 * or gRPC to its backend: profiles_dispatch(), profiles.h), the default
 * server (for
 * every host: the default certificate and `portico_certificate_by_sni`,
 * which takes each handshake's certificate from the table), routing every
 * request with `portico_route` and holding one named location per option
 * profile (profiles.h), and the status server.
 * `portico_routes routes config=TOKEN;` names the route tables made for
 * it (routes_config_token(), routes.h).
 * Shared proxy settings live at http level. Every value that came from a
 * resource is quoted with cfg_quote().
 *
 * The renderer records which Ingress produced each line (ownedtext.h).
 */
#ifndef PORTICO_CONTROLLER_RENDER_H
#define PORTICO_CONTROLLER_RENDER_H

#include <stddef.h>

#include "controller/access.h"
#include "controller/globals.h"
#include "controller/model.h"
#include "controller/ownedtext.h"
#include "controller/profiles.h"

#define RENDER_HASH_LEN   16        /* hex digits of the config hash */
#define RENDER_METRICS_PER_INGRESS 256  /* the module's default */

struct render_opts {
    const char *module_path;        /* load_module; NULL: none */
    const char *resolver;           /* "127.0.0.1:53" */
    int resolver_sockets;           /* list it this many times: nginx opens
                                       one UDP socket per entry and spreads
                                       queries over them (>= 1) */
    const char *resolve_ttl;        /* "1s 30s" */
    const char *bind_address;       /* NULL/"": all addresses */
    int http_port, https_port;
    int status_port;                /* 127.0.0.1 only */
    const char *prefix;             /* state dir: pid, temp paths */
    const char *default_crt, *default_key;
    const char *certs_dir;          /* the pairs of the certificate table
                                       (NULL: the table's folder) */
    const char *worker_processes;   /* "auto" */
    const char *worker_shutdown_timeout;    /* "40s"; NULL: the default */
    int keepalive;                  /* idle upstream connections per
                                       worker and dispatch upstream */
    const char *error_log;          /* "stderr" */
    struct access_globals access;   /* real client address (access.h) */
    const struct nginx_globals *globals;    /* the ConfigMap's; may be NULL */
    const char *metrics_zone;       /* portico_metrics zone= ("32m"), or
                                       NULL: no request metrics */
    int metrics_per_ingress;        /* max_series_per_ingress; 0: the
                                       module's default */
};

struct render_result {
    struct ownedtext t;
    char hash[RENDER_HASH_LEN + 1];
};

/* 0, or -1 out of memory. */
int render_config(const struct model *m, const struct profiles *p,
                  const struct render_opts *o, struct render_result *out);
/* The configuration that checks a candidate route table (`nginx -t` of
 * it, next to the table): nginx.conf as render_config() makes it, so the
 * table refers to the same upstreams, profiles and config token, without
 * what a table does not refer to and what makes `nginx -t` slow: the TLS
 * listen and default certificate, the session cache, the certificate
 * table, the request metrics zone and the status server (about 25 of the
 * 38 ms of CPU of `nginx -t` of an nginx.conf with an empty table). Its
 * hash is not nginx.conf's. 0, or -1 out of memory. */
int render_check_config(const struct model *m, const struct profiles *p,
                        const struct render_opts *o,
                        struct render_result *out);
void render_result_free(struct render_result *r);

#endif
