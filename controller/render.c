/* render.c - the model to nginx.conf (see render.h). */
#include "controller/render.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/certtable.h"
#include "controller/routes.h"
#include "controller/validate.h"

#define SERVER_NAMES_HASH_MIN      1024
#define SERVER_NAMES_BUCKET_SIZE   128
/* The zone of the table upstreams: a power of two of at least 32 MiB
 * with room for twice the upstreams (about 1 KiB each with one address),
 * so it changes size (a reload, seeded from the state file) only when the
 * count doubles. Untouched pages cost no memory. */
#define UPSTREAM_ZONE_MIN_BYTES    (32 * 1024 * 1024)
#define UPSTREAM_ZONE_PER_UPSTREAM (2 * 1024)
#define UPSTREAM_STATE_FILE        "state/upstreams"
#define WORKER_CONNECTIONS         16384
#define WORKER_SHUTDOWN_TIMEOUT    "240s"
#define DISPATCH_UPSTREAM          "portico_dispatch"
#define ROUTE_AND_PROXY            "portico_route; proxy_pass http://" \
                                   DISPATCH_UPSTREAM ";"

/* HTTPS listens speak HTTP/2 too (ALPN), as ingress-nginx's do by default:
 * gRPC backends (backend-protocol GRPC, GRPCS) need it from the client. */
static void listen_lines(struct ownedtext *t, const struct render_opts *o,
                         const char *extra, int check)
{
    const char *addr = o->bind_address && *o->bind_address ? o->bind_address
                                                            : NULL;
    const char *pp = o->access.proxy_protocol ? " proxy_protocol" : "";

    if (addr) {
        int v6 = strchr(addr, ':') != NULL;     /* [::1]:80 */
        ownedtext_printf(t, OWNER_NONE, "    listen %s%s%s:%d%s%s;\n",
                         v6 ? "[" : "", addr, v6 ? "]" : "", o->http_port,
                         extra, pp);
        if (!check)
            ownedtext_printf(t, OWNER_NONE,
                             "    listen %s%s%s:%d ssl http2%s%s;\n",
                             v6 ? "[" : "", addr, v6 ? "]" : "",
                             o->https_port, extra, pp);
    } else {
        ownedtext_printf(t, OWNER_NONE, "    listen %d%s%s;\n", o->http_port,
                         extra, pp);
        if (!check)
            ownedtext_printf(t, OWNER_NONE, "    listen %d ssl http2%s%s;\n",
                             o->https_port, extra, pp);
    }
}

/* What every server routes with: `location /` and one named location per
 * profile, owned by the profile's oldest Ingress (a value nginx refuses
 * leaves that Ingress out). */
static void routing_locations(struct ownedtext *t, const struct model *m,
                              const struct profiles *p)
{
    ownedtext_printf(t, OWNER_NONE, "    location / { %s }\n",
                     ROUTE_AND_PROXY);
    for (size_t i = 0; i < p->n; i++)
        profiles_render_location(t, m, p, i, DISPATCH_UPSTREAM);
    access_render_server(t, m, p);
}

static void default_server(struct ownedtext *t, const struct model *m,
                           const struct profiles *p,
                           const struct render_opts *o, int check)
{
    ownedtext_printf(t, OWNER_NONE, "server {\n");
    listen_lines(t, o, " default_server", check);
    ownedtext_printf(t, OWNER_NONE, "    server_name _;\n");
    /* The default certificate; every host's own comes from the
     * certificate table, per handshake by SNI (certtable.h). */
    if (!check) {
        ownedtext_printf(t, OWNER_NONE, "    ssl_certificate \"%s\";\n",
                         o->default_crt);
        ownedtext_printf(t, OWNER_NONE, "    ssl_certificate_key \"%s\";\n",
                         o->default_key);
        ownedtext_printf(t, OWNER_NONE, "    portico_certificate_by_sni;\n");
    }
    routing_locations(t, m, p);
    ownedtext_printf(t, OWNER_NONE, "}\n");
}

static size_t zone_bytes(size_t nups)
{
    size_t bytes = UPSTREAM_ZONE_MIN_BYTES;

    while (bytes / UPSTREAM_ZONE_PER_UPSTREAM < 2 * nups)
        bytes *= 2;
    return bytes;
}

/* The upstreams are the route table's (routes.c); nginx.conf has their
 * zone (resolve_upstreams) and the dispatch upstreams every location
 * passes to, which hold the keepalive caches (one for plain HTTP, one per
 * profile with TLS or gRPC to the backend: profiles_dispatch()). */
static void upstreams(struct ownedtext *t, const struct model *m,
                      const struct profiles *p, const struct render_opts *o)
{
    char ttl[64], name[PROFILE_DISPATCH_MAX];

    /* "1s 30s" -> "1s:30s" */
    snprintf(ttl, sizeof(ttl), "%s", o->resolve_ttl);
    for (char *c = ttl; *c; c++)
        if (*c == ' ')
            *c = ':';
    ownedtext_printf(t, OWNER_NONE, "resolve_upstreams zone=%zum ttl=%s "
                     "\"state=%s/" UPSTREAM_STATE_FILE "\";\n",
                     zone_bytes(m->nups) / (1024 * 1024), ttl, o->prefix);
    ownedtext_printf(t, OWNER_NONE,
                     "upstream %s { portico_dispatch; keepalive %d; }\n",
                     DISPATCH_UPSTREAM, o->keepalive);
    for (size_t i = 0; i < p->n; i++)
        if (profiles_dispatch(m, p, i, DISPATCH_UPSTREAM, name))
            ownedtext_printf(t, p->list[i].owner,
                             "upstream %s { portico_dispatch; keepalive %d; "
                             "}\n", name, o->keepalive);
}

static void http_settings(struct ownedtext *t, const struct model *m,
                          const struct render_opts *o, const char *config,
                          int check)
{
    static const char *const temp[] = {"client_body", "proxy", "fastcgi",
                                       "uwsgi", "scgi"};
    const size_t N = OWNER_NONE;

    ownedtext_printf(t, N, "http {\n");
    ownedtext_printf(t, N, "default_type application/octet-stream;\n");
    const struct nginx_globals *g = o->globals;
    static const struct nginx_globals none;
    if (!g)
        g = &none;
    {
        size_t from = t->text.len;
        globals_render_http(g, &t->text);
        ownedtext_track(t, from, N);
    }
    ownedtext_printf(t, N, "server_tokens off;\n");
    ownedtext_printf(t, N, "sendfile on;\ntcp_nodelay on;\n"
                           "keepalive_timeout %s;\nkeepalive_requests %s;\n",
                     globals_or(g->keep_alive, "75s"),
                     globals_or(g->keep_alive_requests, "1000"));
    if (g->client_header_timeout)
        ownedtext_printf(t, N, "client_header_timeout %s;\n",
                         g->client_header_timeout);
    if (g->client_body_timeout)
        ownedtext_printf(t, N, "client_body_timeout %s;\n",
                         g->client_body_timeout);
    for (size_t i = 0; i < sizeof(temp) / sizeof(temp[0]); i++)
        ownedtext_printf(t, N, "%s_temp_path \"%s/tmp/%s\";\n", temp[i],
                         o->prefix, temp[i]);
    ownedtext_printf(t, N, "server_names_hash_max_size %d;\n",
                     SERVER_NAMES_HASH_MIN);
    ownedtext_printf(t, N, "server_names_hash_bucket_size %d;\n",
                     SERVER_NAMES_BUCKET_SIZE);
    {
        size_t from = t->text.len;
        buf_puts(&t->text, "resolver");
        for (int i = 0; i < (o->resolver_sockets > 0 ? o->resolver_sockets : 1);
             i++)
            buf_printf(&t->text, " %s", o->resolver);
        buf_puts(&t->text, " ipv6=off;\nresolver_timeout 2s;\n");
        ownedtext_track(t, from, N);
    }
    ownedtext_printf(t, N, "ssl_protocols TLSv1.2 TLSv1.3;\n");
    if (!check)
        ownedtext_printf(t, N, "ssl_session_cache shared:portico_ssl:10m;\n");
    ownedtext_printf(t, N, "client_max_body_size %s;\n",
                     globals_or(g->proxy_body_size, "1m"));
    ownedtext_printf(t, N, "proxy_http_version 1.1;\n");
    ownedtext_printf(t, N, "map $http_upgrade $portico_connection { default "
                           "upgrade; \"\" \"\"; }\n");
    for (const struct proxy_header *h = profiles_proxy_headers; h->name; h++)
        ownedtext_printf(t, N, "proxy_set_header %s %s;\n", h->name, h->value);
    ownedtext_printf(t, N, "proxy_connect_timeout %s;\nproxy_send_timeout "
                           "%s;\nproxy_read_timeout %s;\n",
                     globals_or(g->proxy_connect_timeout, "5s"),
                     globals_or(g->proxy_send_timeout, "60s"),
                     globals_or(g->proxy_read_timeout, "60s"));
    ownedtext_printf(t, N, "proxy_next_upstream error timeout;\n");
    ownedtext_printf(t, N, "proxy_buffering off;\n");
    access_render_http(t, &o->access);
    /* Relative: next to this nginx.conf, so a candidate config in its own
     * folder is tested with its own candidate table. */
    /* config=: the token of the tables made for this file (routes.h). */
    ownedtext_printf(t, N, "portico_routes %s config=%s;\n", ROUTES_FILE,
                     config);
    /* The same for the certificate table; the files it names are in the
     * certificates folder (without one: next to the table). */
    if (check) {
        /* a route table check: no certificates, no metrics zone */
    } else if (o->certs_dir) {
        struct buf dir;
        buf_init(&dir);
        buf_printf(&dir, "dir=%s", o->certs_dir);
        ownedtext_quoted(t, N, "portico_certificates " CERTTABLE_FILE " ",
                         buf_failed(&dir) ? "" : dir.data, ";\n");
        if (buf_failed(&dir))
            t->failed = 1;
        buf_free(&dir);
    } else {
        ownedtext_printf(t, N, "portico_certificates %s;\n", CERTTABLE_FILE);
    }
    /* Request metrics per rule (docs/metrics.md); the same size at every
     * reload keeps the zone and its counters. */
    if (o->metrics_zone && !check)
        ownedtext_printf(t, N, "portico_metrics zone=%s "
                               "max_series_per_ingress=%d;\n",
                         o->metrics_zone, o->metrics_per_ingress > 0
                                              ? o->metrics_per_ingress
                                              : RENDER_METRICS_PER_INGRESS);
}

static void status_server(struct ownedtext *t, const struct render_opts *o,
                          const char *hash)
{
    const size_t N = OWNER_NONE;

    ownedtext_printf(t, N, "server {\n    listen 127.0.0.1:%d;\n"
                           "    access_log off;\n", o->status_port);
    ownedtext_printf(t, N, "    location = /nginx_status { stub_status; }\n");
    ownedtext_printf(t, N, "    location = /upstreams { "
                           "upstream_resolve_status; }\n");
    ownedtext_printf(t, N, "    location = /routes-version { "
                           "portico_routes_status; }\n");
    ownedtext_printf(t, N, "    location = /certificates-version { "
                           "portico_certificates_status; }\n");
    if (o->metrics_zone)
        ownedtext_printf(t, N, "    location = /metrics { "
                               "portico_metrics_status; }\n");
    ownedtext_printf(t, N, "    location = /upstreams-state { "
                           "resolve_upstreams_status; }\n");
    ownedtext_printf(t, N, "    location = /config-version { default_type "
                           "text/plain; return 200 \"%s\\n\"; }\n", hash);
    ownedtext_printf(t, N, "    location / { return 404; }\n}\n");
}

static void hash_text(const struct buf *b, char out[RENDER_HASH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    EVP_Digest(b->data ? b->data : "", b->len, md, &mdlen, EVP_sha256(),
               NULL);
    for (size_t i = 0; i < RENDER_HASH_LEN / 2 && i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[RENDER_HASH_LEN] = '\0';
}

/* nginx.conf, or with check the route table check's configuration
 * (render.h). */
static int render(const struct model *m, const struct profiles *p,
                  const struct render_opts *o, int check,
                  struct render_result *out)
{
    struct ownedtext *t = &out->t;
    const size_t N = OWNER_NONE;
    char config[ROUTES_CONFIG_LEN + 1];

    memset(out, 0, sizeof(*out));
    if (routes_config_token(p, config) < 0)
        return -1;
    ownedtext_init(t);
    ownedtext_printf(t, N, check ? "# Generated by portico-controller: "
                              "checks a candidate route table; not served.\n"
                              : "# Generated by portico-controller; do not "
                              "edit.\n");
    if (o->module_path && *o->module_path)
        ownedtext_printf(t, N, "load_module \"%s\";\n", o->module_path);
    ownedtext_printf(t, N, "daemon off;\nmaster_process on;\n");
    ownedtext_printf(t, N, "worker_processes %s;\n",
                     globals_or(o->globals ? o->globals->worker_processes
                                           : NULL, o->worker_processes));
    ownedtext_printf(t, N, "worker_shutdown_timeout %s;\n",
                     o->worker_shutdown_timeout ? o->worker_shutdown_timeout
                                                : WORKER_SHUTDOWN_TIMEOUT);
    ownedtext_printf(t, N, "pid \"%s/nginx.pid\";\n", o->prefix);
    ownedtext_printf(t, N, "error_log %s notice;\n", o->error_log);
    ownedtext_printf(t, N, "events { worker_connections %d; }\n",
                     WORKER_CONNECTIONS);
    http_settings(t, m, o, config, check);
    access_render_zones(t, m, p, &o->access, o->prefix);
    upstreams(t, m, p, o);
    default_server(t, m, p, o, check);
    hash_text(&t->text, out->hash);
    if (!check)
        status_server(t, o, out->hash);
    ownedtext_printf(t, N, "}\n");
    if (ownedtext_failed(t)) {
        render_result_free(out);
        return -1;
    }
    return 0;
}

int render_config(const struct model *m, const struct profiles *p,
                  const struct render_opts *o, struct render_result *out)
{
    return render(m, p, o, 0, out);
}

int render_check_config(const struct model *m, const struct profiles *p,
                        const struct render_opts *o,
                        struct render_result *out)
{
    return render(m, p, o, 1, out);
}

void render_result_free(struct render_result *r)
{
    ownedtext_free(&r->t);
    memset(r, 0, sizeof(*r));
}
