/* render.c - the model to nginx.conf (see render.h). */
#include "controller/render.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/validate.h"

#define SERVER_NAMES_HASH_MIN      1024
#define SERVER_NAMES_BUCKET_SIZE   128
#define UPSTREAM_ZONE              "portico_upstreams"
#define UPSTREAM_ZONE_MIN_BYTES    (1024 * 1024)
#define UPSTREAM_ZONE_PER_UPSTREAM (16 * 1024)
#define WORKER_CONNECTIONS         16384
#define WORKER_SHUTDOWN_TIMEOUT    "240s"
#define DEFAULT_HTTPS_PORT         443

struct emitter {
    struct render_result *r;
    size_t cap_lines;
    int failed;
};

/* Records owner for every line completed since the last call. */
static void track(struct emitter *e, size_t from, size_t owner)
{
    struct render_result *r = e->r;

    for (size_t i = from; i < r->text.len; i++) {
        if (r->text.data[i] != '\n')
            continue;
        if (r->nlines == e->cap_lines) {
            size_t cap = e->cap_lines ? e->cap_lines * 2 : 1024;
            size_t *n = realloc(r->line_owner, cap * sizeof(*n));
            if (!n) {
                e->failed = 1;
                return;
            }
            r->line_owner = n;
            e->cap_lines = cap;
        }
        r->line_owner[r->nlines++] = owner;
    }
}

static void emit(struct emitter *e, size_t owner, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emit(struct emitter *e, size_t owner, const char *fmt, ...)
{
    size_t from = e->r->text.len;
    char small[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        e->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        buf_append(&e->r->text, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (!big) {
            e->failed = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_append(&e->r->text, big, (size_t)n);
        free(big);
    }
    track(e, from, owner);
}

/* "<prefix>" + cfg_quote(value) + "<suffix>", one owner. */
static void emit_quoted(struct emitter *e, size_t owner, const char *prefix,
                        const char *value, const char *suffix)
{
    size_t from = e->r->text.len;

    buf_puts(&e->r->text, prefix);
    cfg_quote(&e->r->text, value);
    buf_puts(&e->r->text, suffix);
    track(e, from, owner);
}

static void listen_lines(struct emitter *e, const struct render_opts *o,
                         const char *extra)
{
    const char *addr = o->bind_address && *o->bind_address ? o->bind_address
                                                            : NULL;
    if (addr) {
        int v6 = strchr(addr, ':') != NULL;     /* [::1]:80 */
        emit(e, RENDER_NO_OWNER, "    listen %s%s%s:%d%s;\n", v6 ? "[" : "",
             addr, v6 ? "]" : "", o->http_port, extra);
        emit(e, RENDER_NO_OWNER, "    listen %s%s%s:%d ssl%s;\n",
             v6 ? "[" : "", addr, v6 ? "]" : "", o->https_port, extra);
    } else {
        emit(e, RENDER_NO_OWNER, "    listen %d%s;\n", o->http_port, extra);
        emit(e, RENDER_NO_OWNER, "    listen %d ssl%s;\n", o->https_port,
             extra);
    }
}

/* `location ~ "^PATH..." {` for a non-exact rule. The path is validated
 * (letters, digits, -._~/!*'()+,:@=&), so no quote, backslash or '$' can
 * occur; regex metacharacters among those become one-character classes.
 * Prefix rules end in (?:/|$): whole path elements. */
static void regex_head(struct emitter *e, size_t owner, enum loc_match match,
                       const char *path)
{
    size_t from = e->r->text.len;
    struct buf *b = &e->r->text;

    buf_puts(b, "    location ~ \"^");
    for (const char *p = path; *p; p++) {
        if (strchr(".*()+", *p)) {
            char cls[4] = {'[', *p, ']', '\0'};
            buf_puts(b, cls);
        } else {
            buf_append(b, p, 1);
        }
    }
    buf_puts(b, match == LOC_ELEMENTS ? "(?:/|$)\" {" : "\" {");
    track(e, from, owner);
}

/* One location block for l, under the nginx path `path` (normally
 * l->path). */
static void location_as(struct emitter *e, const struct model *m,
                        const struct render_opts *o,
                        const struct model_location *l, enum loc_match match,
                        const char *path)
{
    const struct model_ingress *mi = &m->ings[l->ingress];
    size_t owner = l->ingress;

    if (match == LOC_EXACT || strcmp(path, "/") == 0)
        emit_quoted(e, owner,
                    match == LOC_EXACT ? "    location = " : "    location ",
                    path, " {");
    else
        regex_head(e, owner, match, path);
    if (mi->body_size)
        emit_quoted(e, owner, " client_max_body_size ", mi->body_size, ";");
    if (mi->connect_timeout)
        emit_quoted(e, owner, " proxy_connect_timeout ", mi->connect_timeout,
                    ";");
    if (mi->read_timeout)
        emit_quoted(e, owner, " proxy_read_timeout ", mi->read_timeout, ";");
    if (mi->send_timeout)
        emit_quoted(e, owner, " proxy_send_timeout ", mi->send_timeout, ";");
    if (!l->upstream)
        emit(e, owner, " return 503; }\n");
    else if (o->upstream_mode == UPSTREAM_VARIABLE)
        emit(e, owner, " set $portico_upstream %s; proxy_pass "
                       "http://$portico_upstream; }\n",
             l->upstream);
    else
        emit(e, owner, " proxy_pass http://%s; }\n", l->upstream);
}

static void location(struct emitter *e, const struct model *m,
                     const struct render_opts *o,
                     const struct model_location *l)
{
    location_as(e, m, o, l, l->match, l->path);
}

static const struct model_location *find_loc(const struct model_server *sv,
                                             enum loc_match match,
                                             const char *path, size_t len)
{
    for (size_t i = 0; i < sv->nlocs; i++)
        if (sv->locs[i].match == match && strlen(sv->locs[i].path) == len &&
            strncmp(sv->locs[i].path, path, len) == 0)
            return &sv->locs[i];
    return NULL;
}

/* The non-exact rule that would serve uri: the longest that matches
 * (locs are sorted that way already). */
static const struct model_location *best_prefix(const struct model_server *sv,
                                                const char *uri)
{
    for (size_t i = 0; i < sv->nlocs; i++) {
        const struct model_location *l = &sv->locs[i];
        size_t n = strlen(l->path);
        if (l->match == LOC_EXACT || strncmp(uri, l->path, n) != 0)
            continue;
        if (l->match == LOC_PREFIX || uri[n] == '\0' || uri[n] == '/')
            return l;
    }
    return NULL;
}

static void fallback_body(struct emitter *e, const struct model_server *sv,
                          const struct render_opts *o, const char *match,
                          const char *path);

/* nginx answers "/p" with a 301 to "/p/" when a proxy_pass location
 * "= /p/" exists and "/p" has no location of its own. The spec says an
 * Exact "/p/" must not match "/p", so give "/p" the location it would
 * have had without "/p/". */
static void exact_slash_guards(struct emitter *e, const struct model *m,
                               const struct render_opts *o,
                               const struct model_server *sv)
{
    char bare[VALIDATE_PATH_MAX + 1];

    for (size_t i = 0; i < sv->nlocs; i++) {
        const struct model_location *l = &sv->locs[i];
        size_t n = strlen(l->path);
        if (l->match != LOC_EXACT || n < 2 || l->path[n - 1] != '/' ||
            n > sizeof(bare))
            continue;
        if (find_loc(sv, LOC_EXACT, l->path, n - 1))
            continue;
        memcpy(bare, l->path, n - 1);
        bare[n - 1] = '\0';
        /* Emitted once per bare path: skip if an earlier "/p/" did it. */
        const struct model_location *b = best_prefix(sv, bare);
        if (b)
            location_as(e, m, o, b, LOC_EXACT, bare);
        else
            fallback_body(e, sv, o, "= ", bare);
    }
}

/* A location answering like the server's fallback (defaultBackend or
 * 404) under match ("" or "= ") and path. */
static void fallback_body(struct emitter *e, const struct model_server *sv,
                          const struct render_opts *o, const char *match,
                          const char *path)
{
    char head[32];

    snprintf(head, sizeof(head), "    location %s", match);
    if (!sv->has_fallback) {
        emit_quoted(e, RENDER_NO_OWNER, head, path, " { return 404; }\n");
    } else if (!sv->fallback) {
        emit_quoted(e, sv->fallback_ingress, head, path,
                    " { return 503; }\n");
    } else {
        emit_quoted(e, sv->fallback_ingress, head, path, " {");
        if (o->upstream_mode == UPSTREAM_VARIABLE)
            emit(e, sv->fallback_ingress,
                 " set $portico_upstream %s; proxy_pass "
                 "http://$portico_upstream; }\n",
                 sv->fallback);
        else
            emit(e, sv->fallback_ingress, " proxy_pass http://%s; }\n",
                 sv->fallback);
    }
}

/* The fallback "location /" when no rule covers it. */
static void fallback(struct emitter *e, const struct model_server *sv,
                     const struct render_opts *o)
{
    if (find_loc(sv, LOC_PREFIX, "/", 1))
        return;
    fallback_body(e, sv, o, "", "/");
}

/* server_name for a host: exact, or a one-label regex for "*.x.y". */
static void server_name(struct emitter *e, const struct model_server *sv)
{
    if (!sv->wildcard) {
        emit_quoted(e, sv->owner, "    server_name ", sv->host, ";\n");
        return;
    }
    /* The host is validated ([a-z0-9.-]); dots become [.] so no escape
     * character is needed. */
    struct buf re;
    buf_init(&re);
    buf_puts(&re, "~^[^.]+");
    for (const char *p = sv->host + 1; *p; p++) {
        if (*p == '.')
            buf_puts(&re, "[.]");
        else
            buf_append(&re, p, 1);
    }
    emit(e, sv->owner, "    server_name \"%s$\";\n",
         re.data ? re.data : "");
    buf_free(&re);
}

static void server(struct emitter *e, const struct model *m,
                   const struct render_opts *o, const struct model_server *sv)
{
    emit(e, sv->owner, "server {\n");
    listen_lines(e, o, "");
    server_name(e, sv);
    if (sv->crt) {
        emit_quoted(e, sv->owner, "    ssl_certificate ", sv->crt, ";\n");
        emit_quoted(e, sv->owner, "    ssl_certificate_key ", sv->key, ";\n");
    }
    if (sv->redirect) {
        if (o->https_port == DEFAULT_HTTPS_PORT)
            emit(e, sv->owner, "    if ($scheme = http) { return 308 "
                               "https://$host$request_uri; }\n");
        else
            emit(e, sv->owner, "    if ($scheme = http) { return 308 "
                               "https://$host:%d$request_uri; }\n",
                 o->https_port);
    }
    for (size_t i = 0; i < sv->nlocs; i++)
        location(e, m, o, &sv->locs[i]);
    exact_slash_guards(e, m, o, sv);
    fallback(e, sv, o);
    emit(e, sv->owner, "}\n");
}

static void default_server(struct emitter *e, const struct model *m,
                           const struct render_opts *o)
{
    emit(e, RENDER_NO_OWNER, "server {\n");
    listen_lines(e, o, " default_server");
    emit(e, RENDER_NO_OWNER, "    server_name _;\n");
    /* Only here, not at http level: a server with certificates gets its
     * own SSL context (about 0.6 ms of nginx -t each); servers without one
     * keep the default server's context after SNI. */
    emit(e, RENDER_NO_OWNER, "    ssl_certificate \"%s\";\n", o->default_crt);
    emit(e, RENDER_NO_OWNER, "    ssl_certificate_key \"%s\";\n",
         o->default_key);
    for (size_t i = 0; i < m->def.nlocs; i++)
        location(e, m, o, &m->def.locs[i]);
    exact_slash_guards(e, m, o, &m->def);
    fallback(e, &m->def, o);
    emit(e, RENDER_NO_OWNER, "}\n");
}

static size_t zone_bytes(size_t nups)
{
    size_t bytes = nups * UPSTREAM_ZONE_PER_UPSTREAM;

    /* Whole MiB, so small changes in the count keep the same zone. */
    bytes = (bytes + UPSTREAM_ZONE_MIN_BYTES - 1) / UPSTREAM_ZONE_MIN_BYTES *
            UPSTREAM_ZONE_MIN_BYTES;
    return bytes < UPSTREAM_ZONE_MIN_BYTES ? UPSTREAM_ZONE_MIN_BYTES : bytes;
}

static void upstreams(struct emitter *e, const struct model *m,
                      const struct render_opts *o)
{
    for (size_t i = 0; i < m->nups; i++) {
        const struct model_upstream *u = &m->ups[i];
        emit(e, RENDER_NO_OWNER, "upstream %s {", u->name);
        if (i == 0)
            emit(e, RENDER_NO_OWNER, " zone %s %zum;", UPSTREAM_ZONE,
                 zone_bytes(m->nups) / (1024 * 1024));
        else
            emit(e, RENDER_NO_OWNER, " zone %s;", UPSTREAM_ZONE);
        emit(e, RENDER_NO_OWNER, " resolve_server %s;", u->server);
        emit(e, RENDER_NO_OWNER, " resolve_ttl %s; keepalive %d; }\n",
             o->resolve_ttl, o->keepalive);
    }
}

static size_t names_hash_size(size_t nservers)
{
    size_t n = SERVER_NAMES_HASH_MIN;

    while (n < nservers * 2)
        n *= 2;
    return n;
}

static void http_settings(struct emitter *e, const struct model *m,
                          const struct render_opts *o)
{
    static const char *const temp[] = {"client_body", "proxy", "fastcgi",
                                       "uwsgi", "scgi"};
    const size_t N = RENDER_NO_OWNER;

    emit(e, N, "http {\n");
    emit(e, N, "default_type application/octet-stream;\n");
    emit(e, N, "access_log off;\nserver_tokens off;\n");
    emit(e, N, "sendfile on;\ntcp_nodelay on;\nkeepalive_timeout 75s;\n");
    for (size_t i = 0; i < sizeof(temp) / sizeof(temp[0]); i++)
        emit(e, N, "%s_temp_path \"%s/tmp/%s\";\n", temp[i], o->prefix,
             temp[i]);
    emit(e, N, "server_names_hash_max_size %zu;\n",
         names_hash_size(m->nservers));
    emit(e, N, "server_names_hash_bucket_size %d;\n",
         SERVER_NAMES_BUCKET_SIZE);
    {
        size_t from = e->r->text.len;
        buf_puts(&e->r->text, "resolver");
        for (int i = 0; i < (o->resolver_sockets > 0 ? o->resolver_sockets : 1);
             i++)
            buf_printf(&e->r->text, " %s", o->resolver);
        buf_puts(&e->r->text, " ipv6=off;\nresolver_timeout 2s;\n");
        track(e, from, N);
    }
    emit(e, N, "ssl_protocols TLSv1.2 TLSv1.3;\n");
    emit(e, N, "ssl_session_cache shared:portico_ssl:10m;\n");
    emit(e, N, "client_max_body_size 1m;\n");
    emit(e, N, "proxy_http_version 1.1;\n");
    emit(e, N, "map $http_upgrade $portico_connection { default upgrade; "
               "\"\" \"\"; }\n");
    emit(e, N, "proxy_set_header Host $host;\n");
    emit(e, N, "proxy_set_header Upgrade $http_upgrade;\n");
    emit(e, N, "proxy_set_header Connection $portico_connection;\n");
    emit(e, N, "proxy_set_header X-Real-IP $remote_addr;\n");
    emit(e, N, "proxy_set_header X-Forwarded-For "
               "$proxy_add_x_forwarded_for;\n");
    emit(e, N, "proxy_set_header X-Forwarded-Host $host;\n");
    emit(e, N, "proxy_set_header X-Forwarded-Proto $scheme;\n");
    emit(e, N, "proxy_connect_timeout 5s;\nproxy_send_timeout 60s;\n"
               "proxy_read_timeout 60s;\n");
    emit(e, N, "proxy_next_upstream error timeout;\n");
    emit(e, N, "proxy_buffering off;\n");
}

static void status_server(struct emitter *e, const struct render_opts *o,
                          const char *hash)
{
    const size_t N = RENDER_NO_OWNER;

    emit(e, N, "server {\n    listen 127.0.0.1:%d;\n    access_log off;\n",
         o->status_port);
    emit(e, N, "    location = /nginx_status { stub_status; }\n");
    if (o->upstream_mode == UPSTREAM_MODULE)
        emit(e, N, "    location = /upstreams { upstream_resolve_status; }\n");
    emit(e, N, "    location = /config-version { default_type text/plain; "
               "return 200 \"%s\\n\"; }\n", hash);
    emit(e, N, "    location / { return 404; }\n}\n");
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

int render_config(const struct model *m, const struct render_opts *o,
                  struct render_result *out)
{
    struct emitter e = {.r = out};
    const size_t N = RENDER_NO_OWNER;

    memset(out, 0, sizeof(*out));
    buf_init(&out->text);
    emit(&e, N, "# Generated by portico-controller; do not edit.\n");
    if (o->module_path && *o->module_path &&
        o->upstream_mode == UPSTREAM_MODULE)
        emit(&e, N, "load_module \"%s\";\n", o->module_path);
    emit(&e, N, "daemon off;\nmaster_process on;\n");
    emit(&e, N, "worker_processes %s;\n", o->worker_processes);
    emit(&e, N, "worker_shutdown_timeout %s;\n", WORKER_SHUTDOWN_TIMEOUT);
    emit(&e, N, "pid \"%s/nginx.pid\";\n", o->prefix);
    emit(&e, N, "error_log %s notice;\n", o->error_log);
    emit(&e, N, "events { worker_connections %d; }\n", WORKER_CONNECTIONS);
    http_settings(&e, m, o);
    if (o->upstream_mode == UPSTREAM_MODULE)
        upstreams(&e, m, o);
    default_server(&e, m, o);
    for (size_t i = 0; i < m->nservers; i++)
        server(&e, m, o, &m->servers[i]);
    hash_text(&out->text, out->hash);
    status_server(&e, o, out->hash);
    emit(&e, N, "}\n");
    if (e.failed || buf_failed(&out->text)) {
        render_result_free(out);
        return -1;
    }
    return 0;
}

void render_result_free(struct render_result *r)
{
    buf_free(&r->text);
    free(r->line_owner);
    memset(r, 0, sizeof(*r));
}

size_t render_error_line(const char *output, const char *file)
{
    size_t flen = strlen(file);
    const char *p = output;

    while ((p = strstr(p, file)) != NULL) {
        p += flen;
        if (*p == ':' && p[1] >= '0' && p[1] <= '9')
            return (size_t)strtoul(p + 1, NULL, 10);
    }
    return 0;
}
