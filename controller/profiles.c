/* profiles.c - distinct per-Ingress option sets as named locations (see
 * profiles.h). */
#include "controller/profiles.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "hash.h"
#include "controller/access.h"
#include "controller/validate.h"

/* proxy-ssl-verify without a CA of its own verifies against the system's
 * (Debian's ca-certificates). */
#define SYSTEM_CA_BUNDLE     "/etc/ssl/certs/ca-certificates.crt"
#define DEFAULT_BUFFER_SIZE  "4k"       /* nginx's proxy_buffer_size */
#define DEFAULT_PERMANENT_CODE "301"    /* ingress-nginx's defaults */
#define DEFAULT_TEMPORAL_CODE  "302"

struct keyed {
    char *key;          /* the option values, one line each */
    uint64_t hash;
    size_t ingress;
};

/* A supported annotation that renders into the profile location: a
 * proxy option, or access control (access.h). */
static int is_profile_option(enum ann_id id)
{
    const struct ann_def *d = ann_def_of(id);

    return d && (d->effect == ANN_EFFECT_PROFILE ||
                 d->effect == ANN_EFFECT_ACCESS);
}

static int www_redirect(const struct model_ingress *mi)
{
    const char *v = ann_get(&mi->ann, ANN_FROM_TO_WWW_REDIRECT);

    return v && validate_bool_value(v, strlen(v)) == 1;
}

static int is_host_of(const struct model_ingress *mi, const char *host)
{
    for (size_t i = 0; i < mi->nhosts; i++)
        if (strcmp(mi->hosts[i], host) == 0)
            return 1;
    return 0;
}

static int has_options(const struct model_ingress *mi)
{
    if (mi->state != ING_SERVED)
        return 0;
    for (size_t i = 0; i < mi->ann.nvalues; i++)
        if (is_profile_option(mi->ann.values[i].id))
            return 1;
    return 0;
}

/* "NAME VALUE\n" per profile option, in id order. Validated values never
 * hold a newline, so this is unambiguous. */
static char *options_key(const struct model_ingress *mi)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < mi->ann.nvalues; i++) {
        const struct ann_value *v = &mi->ann.values[i];
        if (is_profile_option(v->id))
            buf_printf(&b, "%s %s\n", ann_def_of(v->id)->name, v->value);
    }
    access_profile_key(mi, &b);
    /* from-to-www answers per host: the hosts are part of the options. */
    if (www_redirect(mi))
        for (size_t i = 0; i < mi->nhosts; i++)
            buf_printf(&b, "www-host %s\n", mi->hosts[i]);
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* By hash, then values (a collision stays deterministic), then age. */
static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if ((c = strcmp(x->key, y->key)) != 0)
        return c;
    return x->ingress < y->ingress ? -1 : x->ingress > y->ingress;
}

int profiles_build(const struct model *m, struct profiles *p)
{
    struct keyed *k = NULL;
    size_t nk = 0;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    p->of_ingress = malloc((m->ning ? m->ning : 1) * sizeof(*p->of_ingress));
    k = calloc(m->ning ? m->ning : 1, sizeof(*k));
    if (!p->of_ingress || !k)
        goto out;
    for (size_t i = 0; i < m->ning; i++) {
        p->of_ingress[i] = PROFILE_NONE;
        if (!has_options(&m->ings[i]))
            continue;
        if (!(k[nk].key = options_key(&m->ings[i])))
            goto out;
        k[nk].hash = hash_fnv1a64_str(HASH_FNV1A64_INIT, k[nk].key);
        k[nk].ingress = i;
        nk++;
    }
    if (nk > 1)
        qsort(k, nk, sizeof(*k), cmp_keyed);
    p->list = calloc(nk ? nk : 1, sizeof(*p->list));
    if (!p->list)
        goto out;
    for (size_t i = 0, collisions = 0; i < nk; i++) {
        int same_hash = i > 0 && k[i].hash == k[i - 1].hash;
        if (!same_hash || strcmp(k[i].key, k[i - 1].key) != 0) {
            struct profile *pr = &p->list[p->n++];
            collisions = same_hash ? collisions + 1 : 0;
            if (collisions)
                snprintf(pr->name, sizeof(pr->name), PROFILE_PREFIX "%016llx_%zu",
                         (unsigned long long)k[i].hash, collisions);
            else
                snprintf(pr->name, sizeof(pr->name), PROFILE_PREFIX "%016llx",
                         (unsigned long long)k[i].hash);
            pr->owner = k[i].ingress;   /* the oldest: sorted by age last */
        }
        p->of_ingress[k[i].ingress] = p->n - 1;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nk; i++)
        free(k[i].key);
    free(k);
    if (rc < 0)
        profiles_free(p);
    return rc;
}

void profiles_free(struct profiles *p)
{
    free(p->list);
    free(p->of_ingress);
    memset(p, 0, sizeof(*p));
}

const char *profiles_of(const struct profiles *p, size_t ingress)
{
    size_t i = p->of_ingress ? p->of_ingress[ingress] : PROFILE_NONE;

    return i == PROFILE_NONE ? NULL : p->list[i].name;
}

/* ---- rendering -------------------------------------------------------------- */

const struct proxy_header profiles_proxy_headers[] = {
    {"Host", "$host", 0},
    {"Upgrade", "$http_upgrade", 0},
    {"Connection", "$portico_connection", 0},
    {"X-Real-IP", "$remote_addr", 0},
    {"X-Forwarded-For", "$proxy_add_x_forwarded_for", 0},
    {"X-Forwarded-Host", "$host", 0},
    {"X-Forwarded-Proto", "$scheme", 0},
    /* Client certificates (clientcert.h): empty, so not sent and a
     * client's own never passed on, unless the host verifies them. */
    {"ssl-client-verify", "$portico_ssl_client_verify", 1},
    {"ssl-client-subject-dn", "$portico_ssl_client_s_dn", 1},
    {"ssl-client-issuer-dn", "$portico_ssl_client_i_dn", 1},
    {"ssl-client-cert", "$portico_ssl_client_escaped_cert", 1},
    {NULL, NULL, 0},
};

enum pass {
    PASS_HTTP,
    PASS_HTTPS,
    PASS_GRPC,
    PASS_GRPCS,
};

static enum pass pass_of(const struct model_ingress *mi)
{
    const char *v = ann_get(&mi->ann, ANN_BACKEND_PROTOCOL);

    if (!v)
        return PASS_HTTP;
    if (strcasecmp(v, "https") == 0)
        return PASS_HTTPS;
    if (strcasecmp(v, "grpc") == 0)
        return PASS_GRPC;
    if (strcasecmp(v, "grpcs") == 0)
        return PASS_GRPCS;
    return PASS_HTTP;
}

/* " WORD" for each space-separated word of a validated value, quoted. */
static void quoted_words(struct buf *b, const char *v, int split)
{
    char word[VALIDATE_PATH_MAX + 1];

    while (*v) {
        size_t n = split ? strcspn(v, " ") : strlen(v);
        snprintf(word, sizeof(word), "%.*s", (int)n, v);
        buf_puts(b, " ");
        cfg_quote(b, word);
        v += n;
        while (*v == ' ')
            v++;
    }
}

/* The directive for this location: proxy_X becomes grpc_X for a gRPC
 * backend where the grpc module has it (timeouts, retries, TLS). */
static void directive(struct buf *b, const char *d, enum pass pass)
{
    static const char *const grpc_has[] = {
        "proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout",
        "proxy_next_upstream", "proxy_next_upstream_timeout",
        "proxy_next_upstream_tries", "proxy_ssl_", NULL};
    int grpc = pass == PASS_GRPC || pass == PASS_GRPCS;

    for (size_t i = 0; grpc && grpc_has[i]; i++)
        if (strncmp(d, grpc_has[i], strlen(grpc_has[i])) == 0 &&
            (grpc_has[i][strlen(grpc_has[i]) - 1] == '_' ||
             strcmp(d, grpc_has[i]) == 0)) {
            buf_printf(b, " grpc_%s", d + strlen("proxy_"));
            return;
        }
    buf_printf(b, " %s", d);
}

/* The header list with the profile's Host, Connection and
 * X-Forwarded-Prefix, when it sets any of them. */
static void headers(struct buf *b, const struct model_ingress *mi,
                    enum pass pass, const char *name)
{
    struct buf extra;       /* access control's own (access.h) */
    const char *host = ann_get(&mi->ann, ANN_UPSTREAM_VHOST);
    const char *conn = ann_get(&mi->ann, ANN_CONNECTION_PROXY_HEADER);
    const char *prefix = ann_get(&mi->ann, ANN_X_FORWARDED_PREFIX);
    const char *set = pass == PASS_GRPC || pass == PASS_GRPCS
                          ? " grpc_set_header" : " proxy_set_header";

    buf_init(&extra);
    access_proxy_headers(mi, set, name, &extra);
    if (buf_failed(&extra))
        b->failed = 1;
    if (pass == PASS_GRPC || pass == PASS_GRPCS) {
        /* grpc_pass would send :authority "portico_dispatch". */
        buf_printf(b, "%s Host", set);
        if (host)
            quoted_words(b, host, 0);
        else
            buf_puts(b, " $host");
        buf_puts(b, ";");
        if (prefix) {
            buf_printf(b, "%s X-Forwarded-Prefix", set);
            quoted_words(b, prefix, 0);
            buf_puts(b, ";");
        }
        for (const struct proxy_header *h = profiles_proxy_headers; h->name;
             h++)
            if (h->always)
                buf_printf(b, "%s %s %s;", set, h->name, h->value);
        buf_puts(b, extra.data ? extra.data : "");
        buf_free(&extra);
        return;
    }
    if (!host && !conn && !prefix && !extra.len) {
        buf_free(&extra);
        return;
    }
    for (const struct proxy_header *h = profiles_proxy_headers; h->name; h++) {
        const char *mine = strcmp(h->name, "Host") == 0         ? host
                         : strcmp(h->name, "Connection") == 0   ? conn
                                                                : NULL;
        buf_printf(b, "%s %s", set, h->name);
        if (mine)
            quoted_words(b, mine, 0);
        else
            buf_printf(b, " %s", h->value);
        buf_puts(b, ";");
    }
    if (prefix) {
        buf_printf(b, "%s X-Forwarded-Prefix", set);
        quoted_words(b, prefix, 0);
        buf_puts(b, ";");
    }
    buf_puts(b, extra.data ? extra.data : "");
    buf_free(&extra);
}

/* " return CODE "URL";" (the code, else the default). */
static void answer(struct buf *b, const char *url, const char *code,
                   const char *default_code)
{
    buf_printf(b, " return %s", code ? code : default_code);
    quoted_words(b, url, 0);
    buf_puts(b, ";");
}

/* permanent-/temporal-redirect (temporal wins, as in ingress-nginx) and
 * app-root: the profile answers instead of proxying. The values are
 * validated URL and path characters (no quote, backslash or '$'). */
static void redirects(struct buf *b, const struct model_ingress *mi)
{
    const char *temporal = ann_get(&mi->ann, ANN_TEMPORAL_REDIRECT);
    const char *permanent = ann_get(&mi->ann, ANN_PERMANENT_REDIRECT);
    const char *root = ann_get(&mi->ann, ANN_APP_ROOT);

    /* from-to-www: a request for a host's twin answers 308 to the host
     * (hosts are validated names: no quote, backslash or '$'). */
    for (size_t i = 0; www_redirect(mi) && i < mi->nhosts; i++) {
        char twin[VALIDATE_HOST_MAX + 1];
        if (model_www_twin(mi->hosts[i], twin, sizeof(twin)) == 0 &&
            !is_host_of(mi, twin))
            buf_printf(b, " if ($host = \"%s\") { return 308 "
                          "\"$scheme://%s$request_uri\"; }",
                       twin, mi->hosts[i]);
    }
    if (root && !strpbrk(root, "\"\\$"))
        buf_printf(b, " if ($uri = /) { return 302 "
                      "\"$scheme://$http_host%s\"; }", root);
    if (temporal)
        answer(b, temporal, ann_get(&mi->ann, ANN_TEMPORAL_REDIRECT_CODE),
               DEFAULT_TEMPORAL_CODE);
    else if (permanent)
        answer(b, permanent, ann_get(&mi->ann, ANN_PERMANENT_REDIRECT_CODE),
               DEFAULT_PERMANENT_CODE);
}

/* The options rendered from several annotations together. */
static void combined(struct buf *b, const struct model_ingress *mi,
                     enum pass pass)
{
    const char *n = ann_get(&mi->ann, ANN_PROXY_BUFFERS_NUMBER);
    const char *size = ann_get(&mi->ann, ANN_PROXY_BUFFER_SIZE);
    const char *from = ann_get(&mi->ann, ANN_PROXY_REDIRECT_FROM);
    const char *to = ann_get(&mi->ann, ANN_PROXY_REDIRECT_TO);
    const char *verify = ann_get(&mi->ann, ANN_PROXY_SSL_VERIFY);

    if (n) {
        buf_puts(b, " proxy_buffers");
        quoted_words(b, n, 0);
        quoted_words(b, size ? size : DEFAULT_BUFFER_SIZE, 0);
        buf_puts(b, ";");
    }
    /* ingress-nginx: "off" or "default" alone, else both or nothing. */
    if (from && (strcmp(from, "off") == 0 || strcmp(from, "default") == 0)) {
        buf_printf(b, " proxy_redirect %s;", from);
    } else if (from && to) {
        buf_puts(b, " proxy_redirect");
        quoted_words(b, from, 0);
        quoted_words(b, to, 0);
        buf_puts(b, ";");
    }
    if (verify) {
        directive(b, "proxy_ssl_verify", pass);
        quoted_words(b, verify, 0);
        buf_puts(b, ";");
        if (strcmp(verify, "on") == 0) {
            directive(b, "proxy_ssl_trusted_certificate", pass);
            buf_puts(b, " \"" SYSTEM_CA_BUNDLE "\";");
        }
    }
}

/* custom-http-errors: the upstream's answers with these codes are
 * intercepted (unless disable-proxy-intercept-errors) and each code's
 * error page is a named location of its own, as ingress-nginx's
 * "error_page CODE = @custom_..._CODE": its answer is the default
 * backend's, status included. Codes are validated: 3 digits and ','. */
static void custom_errors(struct buf *b, const struct model_ingress *mi,
                          enum pass pass, const char *name)
{
    const char *codes = ann_get(&mi->ann, ANN_CUSTOM_HTTP_ERRORS);
    const char *off = ann_get(&mi->ann, ANN_DISABLE_PROXY_INTERCEPT_ERRORS);
    int grpc = pass == PASS_GRPC || pass == PASS_GRPCS;

    if (!codes)
        return;
    buf_printf(b, " %s_intercept_errors %s;", grpc ? "grpc" : "proxy",
               off && validate_bool_value(off, strlen(off)) == 1 ? "off"
                                                                : "on");
    for (const char *c = codes; *c; c += c[3] ? 4 : 3)
        buf_printf(b, " error_page %.3s = @%s_e%.3s;", c, name, c);
}

/* The error pages of custom-http-errors, one named location per code:
 * the default backend of the request's rule (the module finds it:
 * portico_route_errors) gets "/" with ingress-nginx's headers; without
 * one the answer is nginx's own page for the code. */
static void error_locations(struct ownedtext *t, size_t owner,
                            const struct model_ingress *mi, const char *name,
                            const char *dispatch)
{
    const char *codes = ann_get(&mi->ann, ANN_CUSTOM_HTTP_ERRORS);

    for (const char *c = codes; c && *c; c += c[3] ? 4 : 3) {
        size_t from = t->text.len;
        buf_printf(&t->text, "    location @%s_e%.3s { "
                   "proxy_intercept_errors off;"
                   " proxy_set_header X-Code %.3s;"
                   " proxy_set_header X-Format $http_accept;"
                   " proxy_set_header X-Original-URI $request_uri;"
                   " proxy_set_header X-Namespace $portico_namespace;"
                   " proxy_set_header X-Ingress-Name $portico_ingress_name;"
                   " proxy_set_header X-Service-Name $portico_service_name;"
                   " proxy_set_header X-Service-Port $portico_service_port;"
                   " proxy_set_header X-Request-ID $request_id;"
                   " proxy_set_header X-Forwarded-For $remote_addr;"
                   " proxy_set_header Host $host;"
                   " proxy_set_header Connection \"\";",
                   name, c, c);
        for (const struct proxy_header *h = profiles_proxy_headers; h->name;
             h++)
            if (h->always)
                buf_printf(&t->text, " proxy_set_header %s %s;", h->name,
                           h->value);
        buf_printf(&t->text, " rewrite ^ / break; portico_route_errors %.3s;"
                   " proxy_pass http://%s; }\n", c, dispatch);
        ownedtext_track(t, from, owner);
    }
}

int profiles_dispatch(const struct model *m, const struct profiles *p,
                      size_t i, const char *shared,
                      char out[PROFILE_DISPATCH_MAX])
{
    const char *name = p->list[i].name + strlen(PROFILE_PREFIX);

    if (pass_of(&m->ings[p->list[i].owner]) == PASS_HTTP) {
        snprintf(out, PROFILE_DISPATCH_MAX, "%s", shared);
        return 0;
    }
    snprintf(out, PROFILE_DISPATCH_MAX, "%s_p%s", shared, name);
    return 1;
}

void profiles_render_location(struct ownedtext *t, const struct model *m,
                              const struct profiles *p, size_t i,
                              const char *dispatch)
{
    size_t owner = p->list[i].owner;
    const struct model_ingress *mi = &m->ings[owner];
    enum pass pass = pass_of(mi);
    static const char *const pass_line[] = {
        [PASS_HTTP] = "proxy_pass http://",
        [PASS_HTTPS] = "proxy_pass https://",
        [PASS_GRPC] = "grpc_pass grpc://",
        [PASS_GRPCS] = "grpc_pass grpcs://",
    };
    size_t from = t->text.len;
    char upstream[PROFILE_DISPATCH_MAX];

    profiles_dispatch(m, p, i, dispatch, upstream);
    buf_printf(&t->text, "    location @%s {", p->list[i].name);
    for (size_t v = 0; v < mi->ann.nvalues; v++) {
        const struct ann_def *d = ann_def_of(mi->ann.values[v].id);
        if (!d || d->effect != ANN_EFFECT_PROFILE || !d->directive)
            continue;
        directive(&t->text, d->directive, pass);
        quoted_words(&t->text, mi->ann.values[v].value,
                     (d->flags & ANN_WORDS) != 0);
        buf_puts(&t->text, ";");
    }
    combined(&t->text, mi, pass);
    headers(&t->text, mi, pass, p->list[i].name);
    redirects(&t->text, mi);
    custom_errors(&t->text, mi, pass, p->list[i].name);
    ownedtext_track(t, from, owner);
    access_render_location(t, owner, mi, p->list[i].name);
    ownedtext_printf(t, owner, " portico_route; %s%s; }\n", pass_line[pass],
                     upstream);
    error_locations(t, owner, mi, p->list[i].name, dispatch);
}
