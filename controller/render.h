/*
 * render.h - the model to nginx.conf text, deterministically: the same
 * model gives the same bytes (everything in it is already sorted), and
 * the config hash is computed over those bytes.
 *
 * Shared proxy settings live at http level so that a location is one line
 * (`proxy_pass http://UPSTREAM;`) plus only the options its Ingress set.
 * Every value that came from a resource is quoted with cfg_quote().
 *
 * The renderer also records which Ingress produced each line, so that an
 * `nginx -t` error ("... in FILE:LINE") can be traced back to the Ingress
 * to leave out.
 */
#ifndef PORTICO_CONTROLLER_RENDER_H
#define PORTICO_CONTROLLER_RENDER_H

#include <stddef.h>

#include "buf.h"
#include "controller/model.h"

#define RENDER_HASH_LEN   16        /* hex digits of the config hash */
#define RENDER_NO_OWNER   ((size_t)-1)

enum upstream_mode {
    UPSTREAM_MODULE,    /* upstream{} + resolve_server (our module) */
    UPSTREAM_VARIABLE,  /* proxy_pass http://$var with nginx's resolver
                           (no module; for nginx builds without it) */
};

struct render_opts {
    const char *module_path;        /* load_module; NULL: none */
    enum upstream_mode upstream_mode;
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
    const char *worker_processes;   /* "auto" */
    int keepalive;                  /* idle upstream connections */
    const char *error_log;          /* "stderr" */
};

struct render_result {
    struct buf text;
    char hash[RENDER_HASH_LEN + 1];
    size_t *line_owner;     /* per line (1-based index - 1): Ingress index
                               in model.ings, or RENDER_NO_OWNER */
    size_t nlines;
};

/* 0, or -1 out of memory. */
int render_config(const struct model *m, const struct render_opts *o,
                  struct render_result *out);
void render_result_free(struct render_result *r);

/* Parses "... in /path/file:123" from an nginx -t error; 0 if none. */
size_t render_error_line(const char *nginx_output, const char *file);

#endif
