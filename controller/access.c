/* access.c - access-control annotations rendered into profile locations,
 * and the real client address (see access.h). */
#include "controller/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/annotations.h"
#include "controller/profiles.h"
#include "controller/validate.h"

/* "PREFIX ADDR SUFFIX" for every network of a validated list, each
 * address re-written from its parsed form and quoted. */
static void address_rules(struct ownedtext *t, size_t owner,
                          const char *prefix, const char *suffix,
                          const char *list)
{
    struct buf canon;
    char err[256];

    buf_init(&canon);
    if (cidr_list_canonical(list, strlen(list), &canon, err, sizeof(err)) < 0 ||
        buf_failed(&canon)) {
        /* Validated before: only out of memory gets here. */
        t->failed = 1;
        buf_free(&canon);
        return;
    }
    for (char *item = canon.data, *next; item && *item; item = next) {
        next = strchr(item, ' ');
        if (next)
            *next++ = '\0';
        ownedtext_quoted(t, owner, prefix, item, suffix);
    }
    buf_free(&canon);
}

/* The options of external authentication, which need auth-url. */
static const enum ann_id auth_url_options[] = {
    ANN_AUTH_METHOD, ANN_AUTH_SIGNIN, ANN_AUTH_SIGNIN_REDIRECT_PARAM,
    ANN_AUTH_RESPONSE_HEADERS, ANN_AUTH_REQUEST_REDIRECT,
    ANN_AUTH_ALWAYS_SET_COOKIE, ANN_AUTH_CACHE_KEY, ANN_AUTH_CACHE_DURATION,
};

const char *access_secret_name(const struct model_ingress *mi,
                               const char *ref, const char *what, char *err,
                               size_t errlen)
{
    const char *slash = strchr(ref, '/');

    if (slash && ((size_t)(slash - ref) != strlen(mi->ns) ||
                  strncmp(ref, mi->ns, (size_t)(slash - ref)) != 0)) {
        snprintf(err, errlen, "%s %s: a Secret of another namespace is not "
                 "allowed", what, ref);
        return NULL;
    }
    return slash ? slash + 1 : ref;
}

int access_resolve(struct model_ingress *mi, const struct model_auth *auth,
                   char *err, size_t errlen)
{
    const char *type = ann_get(&mi->ann, ANN_AUTH_TYPE);
    const char *secret = ann_get(&mi->ann, ANN_AUTH_SECRET);
    const char *stype = ann_get(&mi->ann, ANN_AUTH_SECRET_TYPE);
    const char *name;

    for (size_t i = 0; !ann_get(&mi->ann, ANN_AUTH_URL) &&
                       i < sizeof(auth_url_options) / sizeof(auth_url_options[0]);
         i++)
        if (ann_get(&mi->ann, auth_url_options[i])) {
            snprintf(err, errlen, "%s needs auth-url: without it "
                     "ingress-nginx serves the Ingress with no "
                     "authentication", ann_def_of(auth_url_options[i])->name);
            return -1;
        }
    if (ann_get(&mi->ann, ANN_AUTH_CACHE_DURATION) &&
        !ann_get(&mi->ann, ANN_AUTH_CACHE_KEY)) {
        snprintf(err, errlen, "auth-cache-duration needs auth-cache-key "
                 "(what tells one client's answer from another's)");
        return -1;
    }
    if (!type) {
        if (secret || stype || ann_get(&mi->ann, ANN_AUTH_REALM)) {
            snprintf(err, errlen, "auth-secret, auth-secret-type and "
                     "auth-realm need auth-type (basic): without it "
                     "ingress-nginx serves the Ingress with no "
                     "authentication");
            return -1;
        }
        return 0;
    }
    if (!secret) {
        snprintf(err, errlen, "auth-type needs auth-secret");
        return -1;
    }
    if (!(name = access_secret_name(mi, secret, "auth-secret", err,
                                    errlen)))
        return -1;
    if (!auth->htpasswd)
        return 0;
    return auth->htpasswd(auth->ctx, mi->ns, name,
                          stype && strcmp(stype, "auth-map") == 0,
                          &mi->auth_file, err, errlen);
}

/* The limits of an Ingress (validated counts). */
struct limits {
    long rps, rpm, conn, mult;
    const char *exempt;         /* limit-allowlist, or NULL */
};

/* 1 when mi limits anything. */
static int limits_of(const struct model_ingress *mi, struct limits *l)
{
    const char *v;

    memset(l, 0, sizeof(*l));
    l->mult = ACCESS_BURST_MULTIPLIER;
    if ((v = ann_get(&mi->ann, ANN_LIMIT_RPS)))
        l->rps = atol(v);
    if ((v = ann_get(&mi->ann, ANN_LIMIT_RPM)))
        l->rpm = atol(v);
    if ((v = ann_get(&mi->ann, ANN_LIMIT_CONNECTIONS)))
        l->conn = atol(v);
    if ((v = ann_get(&mi->ann, ANN_LIMIT_BURST_MULTIPLIER)))
        l->mult = atol(v);
    l->exempt = ann_get(&mi->ann, ANN_LIMIT_ALLOWLIST);
    return l->rps || l->rpm || l->conn;
}

void access_profile_key(const struct model_ingress *mi, struct buf *key)
{
    struct limits l;

    if (mi->auth_file)
        buf_printf(key, "auth-file %s\n", mi->auth_file);
    /* Limits are per Ingress (as ingress-nginx's zones): its own
     * profile, so its own zones. */
    if (limits_of(mi, &l))
        buf_printf(key, "limits-of %s/%s\n", mi->ns, mi->name);
}

/* Calls fn for each name of a validated header list (auth-response-
 * headers), with its index. */
static void each_header(const char *list, void (*fn)(void *, size_t,
                                                     const char *),
                        void *arg)
{
    char name[VALIDATE_CIDR_TEXT_MAX + 8];
    size_t i = 0;

    while (*list) {
        size_t n = strcspn(list, ","), a = 0, b = n;
        while (a < b && list[a] == ' ')
            a++;
        while (b > a && list[b - 1] == ' ')
            b--;
        snprintf(name, sizeof(name), "%.*s", (int)(b - a), list + a);
        fn(arg, i++, name);
        list += n;
        list += *list == ',';
    }
}

struct header_out {
    struct buf *b;
    const char *set;
    const char *profile;
};

/* " SET NAME $P_auth_I;": the auth service's answer header to the
 * backend. */
static void response_header_to_backend(void *arg, size_t i, const char *name)
{
    struct header_out *o = arg;

    buf_printf(o->b, "%s %s $%s_auth_%zu;", o->set, name, o->profile, i);
}

void access_proxy_headers(const struct model_ingress *mi, const char *set,
                          const char *profile, struct buf *out)
{
    const char *copy = ann_get(&mi->ann, ANN_AUTH_RESPONSE_HEADERS);
    struct header_out o = {out, set, profile};

    /* The backend never sees the password (as ingress-nginx). */
    if (ann_get(&mi->ann, ANN_AUTH_TYPE))
        buf_printf(out, "%s Authorization \"\";", set);
    if (copy && ann_get(&mi->ann, ANN_AUTH_URL))
        each_header(copy, response_header_to_backend, &o);
}

/* Basic authentication against the password file. */
static void basic_auth(struct ownedtext *t, size_t owner,
                       const struct model_ingress *mi)
{
    const char *realm = ann_get(&mi->ann, ANN_AUTH_REALM);

    if (!ann_get(&mi->ann, ANN_AUTH_TYPE))
        return;
    if (!mi->auth_file) {
        /* Never rendered so (the model resolves the file), but if it
         * were: nobody passes rather than everybody. */
        ownedtext_printf(t, owner, " deny all;");
        return;
    }
    ownedtext_quoted(t, owner, " auth_basic ",
                     realm ? realm : "Authentication Required", ";");
    ownedtext_quoted(t, owner, " auth_basic_user_file ", mi->auth_file, ";");
}

/* ---- external authentication ---------------------------------------------- */

struct auth_set {
    struct ownedtext *t;
    size_t owner;
    const char *profile;
};

/* auth_request_set $P_auth_I $upstream_http_NAME (lowercase, '-' as
 * '_', as nginx names them). */
static void response_header_var(void *arg, size_t i, const char *name)
{
    struct auth_set *a = arg;
    char var[VALIDATE_CIDR_TEXT_MAX + 8];
    size_t n = 0;

    for (; name[n] && n + 1 < sizeof(var); n++)
        var[n] = name[n] == '-' ? '_'
               : (name[n] >= 'A' && name[n] <= 'Z') ? (char)(name[n] + 32)
                                                    : name[n];
    var[n] = '\0';
    ownedtext_printf(a->t, a->owner, " auth_request_set $%s_auth_%zu "
                     "$upstream_http_%s;", a->profile, i, var);
}

/* The profile location: every request is first asked of the auth
 * service (subrequest to the server's location of this profile); 2xx
 * lets it through, 401/403 are the answer (401 to auth-signin when
 * set), anything else (down, slow, 5xx) is 500. */
static void external_auth(struct ownedtext *t, size_t owner,
                          const struct model_ingress *mi, const char *profile)
{
    const char *copy = ann_get(&mi->ann, ANN_AUTH_RESPONSE_HEADERS);
    const char *always = ann_get(&mi->ann, ANN_AUTH_ALWAYS_SET_COOKIE);
    struct auth_set a = {t, owner, profile};

    if (!ann_get(&mi->ann, ANN_AUTH_URL))
        return;
    ownedtext_printf(t, owner, " auth_request " ACCESS_AUTH_LOCATION "%s;",
                     profile);
    ownedtext_printf(t, owner, " auth_request_set $%s_auth_cookie "
                     "$upstream_http_set_cookie; add_header Set-Cookie "
                     "$%s_auth_cookie%s;", profile, profile,
                     always && validate_bool_value(always, strlen(always)) == 1
                         ? " always" : "");
    if (copy)
        each_header(copy, response_header_var, &a);
    if (ann_get(&mi->ann, ANN_AUTH_SIGNIN))
        ownedtext_printf(t, owner, " error_page 401 = @%s_signin;", profile);
}

/* The allowed variable at s (validate.h), for auth_text(). */
typedef size_t (*auth_var_fn)(const char *s, size_t len);

static size_t auth_cache_key_var(const char *s, size_t len)
{
    int client;

    return validate_auth_cache_key_var(s, len, &client);
}

/* A validated auth URL or cache key as nginx text (inside quotes): its
 * variables kept ($escaped_request_uri becomes $request_uri, already
 * encoded by the client: Debian's nginx cannot encode), nothing else to
 * escape (no '"', '\\' or other '$' passes the grammar). */
static void auth_text(struct buf *b, const char *url, auth_var_fn var)
{
    size_t len = strlen(url);

    for (size_t i = 0; i < len;) {
        size_t v = url[i] == '$' ? var(url + i, len - i) : 0;
        if (v && strncmp(url + i, "$escaped_request_uri", v) == 0)
            buf_puts(b, "$request_uri");
        else if (v)
            buf_append(b, url + i, v);
        else if (url[i] == '"' || url[i] == '\\' || url[i] == '$')
            buf_puts(b, "_");     /* never: the grammar refuses them */
        else
            buf_append(b, url + i, 1);
        i += v ? v : 1;
    }
}

static void auth_url_text(struct buf *b, const char *url)
{
    auth_text(b, url, validate_auth_url_var);
}

#define AUTH_CACHE_CLIENT_CERT \
    "$portico_ssl_client_verify|$portico_ssl_client_s_dn|" \
    "$portico_ssl_client_i_dn"

/* The auth service's answers cached (auth-cache-key): in the shared
 * zone, under a key that starts with the host, the profile (its name is
 * a hash of all its options), the auth URL and the client certificate,
 * then the annotation's variables; each auth-cache-duration entry a proxy_cache_valid line.
 * Buffered: nginx caches nothing it passes through unbuffered. The auth
 * service's own Cache-Control, Expires and Set-Cookie are honoured
 * (nginx's defaults: an answer that sets a cookie is not cached). */
static void auth_cache(struct ownedtext *t, size_t owner,
                       const struct model_ingress *mi, const char *profile,
                       const char *url)
{
    const char *key = ann_get(&mi->ann, ANN_AUTH_CACHE_KEY);
    const char *d = ann_get(&mi->ann, ANN_AUTH_CACHE_DURATION);
    size_t from;

    if (!key)
        return;
    from = t->text.len;
    buf_printf(&t->text, " proxy_buffering on; proxy_cache "
               ACCESS_AUTH_CACHE_ZONE "; proxy_cache_key \"$host|%s|",
               profile);
    auth_url_text(&t->text, url);
    /* The verified client certificate the auth service is told of
     * (profiles_proxy_headers; empty unless the host verifies): two
     * certificates never share an answer. */
    buf_puts(&t->text, "|" AUTH_CACHE_CLIENT_CERT "|");
    auth_text(&t->text, key, auth_cache_key_var);
    buf_puts(&t->text, "\";");
    /* Validated: digits, spaces, a unit letter; entries split by ','. */
    for (d = d ? d : ACCESS_AUTH_CACHE_DURATION; *d;) {
        size_t n = strcspn(d, ",");
        int space = 1;
        buf_puts(&t->text, " proxy_cache_valid");
        for (size_t i = 0; i < n; i++) {
            if (d[i] == ' ') {
                space = 1;
                continue;
            }
            if (space)
                buf_puts(&t->text, " ");
            buf_append(&t->text, &d[i], 1);
            space = 0;
        }
        buf_puts(&t->text, ";");
        d += n;
        d += *d == ',';
    }
    ownedtext_track(t, from, owner);
}

int access_uses_auth_cache(const struct model_ingress *mi)
{
    return ann_get(&mi->ann, ANN_AUTH_URL) &&
           ann_get(&mi->ann, ANN_AUTH_CACHE_KEY);
}

/* The proxy timeouts of the Ingress apply to its auth service too. */
static const enum ann_id auth_timeouts[] = {
    ANN_PROXY_CONNECT_TIMEOUT, ANN_PROXY_READ_TIMEOUT, ANN_PROXY_SEND_TIMEOUT,
};

/* The server's locations of profile i: the auth subrequest's target and
 * the sign-in redirect. */
static void auth_locations(struct ownedtext *t, const struct model *m,
                           const struct profiles *p, size_t i)
{
    size_t owner = p->list[i].owner;
    const struct model_ingress *mi = &m->ings[owner];
    const char *name = p->list[i].name;
    const char *url = ann_get(&mi->ann, ANN_AUTH_URL);
    const char *method = ann_get(&mi->ann, ANN_AUTH_METHOD);
    const char *redirect = ann_get(&mi->ann, ANN_AUTH_REQUEST_REDIRECT);
    const char *signin = ann_get(&mi->ann, ANN_AUTH_SIGNIN);
    size_t from;

    if (!url)
        return;
    ownedtext_printf(t, owner, "    location = " ACCESS_AUTH_LOCATION "%s { "
                     "internal; proxy_pass_request_body off; "
                     "proxy_set_header Content-Length \"\"; "
                     "proxy_set_header X-Original-URL "
                     "$scheme://$http_host$request_uri; "
                     "proxy_set_header X-Original-URI $request_uri; "
                     "proxy_set_header X-Original-Method $request_method; "
                     "proxy_set_header X-Scheme $scheme; "
                     "proxy_set_header X-Real-IP $remote_addr; "
                     "proxy_set_header X-Forwarded-For $remote_addr; "
                     "proxy_set_header X-Sent-From \"portico\"; "
                     "proxy_http_version 1.1; "
                     "proxy_set_header Connection \"\"; "
                     "proxy_ssl_server_name on;", name);
    /* The auth service gets the client certificate like the backend;
     * a client's own headers of these names never reach it. */
    for (const struct proxy_header *h = profiles_proxy_headers; h->name; h++)
        if (h->always)
            ownedtext_printf(t, owner, " proxy_set_header %s %s;", h->name,
                             h->value);
    if (redirect)
        ownedtext_quoted(t, owner, " proxy_set_header X-Auth-Request-Redirect ",
                         redirect, ";");
    else
        ownedtext_printf(t, owner, " proxy_set_header X-Auth-Request-Redirect "
                         "$request_uri;");
    if (method)
        ownedtext_quoted(t, owner, " proxy_method ", method, ";");
    for (size_t k = 0; k < sizeof(auth_timeouts) / sizeof(auth_timeouts[0]);
         k++) {
        const char *v = ann_get(&mi->ann, auth_timeouts[k]);
        char prefix[64];
        if (!v)
            continue;
        snprintf(prefix, sizeof(prefix), " %s ",
                 ann_def_of(auth_timeouts[k])->directive);
        ownedtext_quoted(t, owner, prefix, v, ";");
    }
    auth_cache(t, owner, mi, name, url);
    /* A variable: the name is resolved when asked (nginx's resolver, the
     * DNS cache), never at load time. */
    from = t->text.len;
    buf_puts(&t->text, " set $portico_auth_target \"");
    auth_url_text(&t->text, url);
    buf_puts(&t->text, "\"; proxy_pass $portico_auth_target; }\n");
    ownedtext_track(t, from, owner);
    if (!signin)
        return;
    /* The request's own address after the URL (not percent-encoded:
     * nginx has no function for it), unless the URL names rd itself. */
    {
        const char *param = ann_get(&mi->ann, ANN_AUTH_SIGNIN_REDIRECT_PARAM);
        const char *q = strchr(signin, '?');
        char has[80];
        if (!param)
            param = "rd";
        snprintf(has, sizeof(has), "%s=", param);
        from = t->text.len;
        buf_printf(&t->text, "    location @%s_signin { return 302 \"",
                   name);
        auth_url_text(&t->text, signin);
        if (!q)
            buf_printf(&t->text, "?%s=$scheme://$http_host$request_uri",
                       param);
        else if (!strstr(q, has))
            buf_printf(&t->text, "&%s=$scheme://$http_host$request_uri",
                       param);
        buf_puts(&t->text, "\"; }\n");
        ownedtext_track(t, from, owner);
    }
}

void access_render_server(struct ownedtext *t, const struct model *m,
                          const struct profiles *p)
{
    for (size_t i = 0; i < p->n; i++)
        auth_locations(t, m, p, i);
}

/* limit_req / limit_conn on the profile's zones (access_render_zones). */
static void limit_rules(struct ownedtext *t, size_t owner,
                        const struct model_ingress *mi, const char *profile)
{
    struct limits l;

    if (!limits_of(mi, &l))
        return;
    if (l.rps)
        ownedtext_printf(t, owner, " limit_req zone=%s_rps burst=%ld nodelay;",
                         profile, l.rps * l.mult);
    if (l.rpm)
        ownedtext_printf(t, owner, " limit_req zone=%s_rpm burst=%ld nodelay;",
                         profile, l.rpm * l.mult);
    if (l.conn)
        ownedtext_printf(t, owner, " limit_conn %s_conn %ld;", profile,
                         l.conn);
    ownedtext_printf(t, owner, " limit_req_status %d; limit_conn_status %d;",
                     ACCESS_LIMIT_STATUS, ACCESS_LIMIT_STATUS);
}

/* ---- CORS ----------------------------------------------------------------- */

/* ingress-nginx's defaults. */
#define CORS_METHODS  "GET, PUT, POST, DELETE, PATCH, OPTIONS"
#define CORS_HEADERS  "DNT,Keep-Alive,User-Agent,X-Requested-With," \
                      "If-Modified-Since,Cache-Control,Content-Type,Range," \
                      "Authorization"
#define CORS_MAX_AGE  "1728000"

/* A response header of CORS and the variable holding its value. */
struct cors_header {
    const char *name;           /* Access-Control-... */
    const char *var;            /* suffix of $PROFILE_cors_... */
    enum ann_id id;             /* its annotation */
    const char *dflt;           /* NULL: not sent unless set */
};

static const struct cors_header cors_headers[] = {
    {"Access-Control-Allow-Credentials", "credentials",
     ANN_CORS_ALLOW_CREDENTIALS, "true"},
    {"Access-Control-Allow-Methods", "methods", ANN_CORS_ALLOW_METHODS,
     CORS_METHODS},
    {"Access-Control-Allow-Headers", "headers", ANN_CORS_ALLOW_HEADERS,
     CORS_HEADERS},
    {"Access-Control-Expose-Headers", "expose", ANN_CORS_EXPOSE_HEADERS,
     NULL},
    {"Access-Control-Max-Age", "max_age", ANN_CORS_MAX_AGE, CORS_MAX_AGE},
};

#define NCORS (sizeof(cors_headers) / sizeof(cors_headers[0]))

static int cors_on(const struct model_ingress *mi)
{
    const char *v = ann_get(&mi->ann, ANN_ENABLE_CORS);

    return v && validate_bool_value(v, strlen(v)) == 1;
}

/* The value of header h for mi, or NULL when it is not sent. */
static const char *cors_value(const struct model_ingress *mi,
                              const struct cors_header *h)
{
    const char *v = ann_get(&mi->ann, h->id);

    if (!v)
        v = h->dflt;
    if (v && h->id == ANN_CORS_ALLOW_CREDENTIALS &&
        validate_bool_value(v, strlen(v)) != 1)
        return NULL;
    if (h->id == ANN_CORS_ALLOW_CREDENTIALS)
        v = "true";     /* "True", "1", ... are sent as browsers want */
    return v;
}

/* One origin of a validated list as a regex: "." as "[.]", a leading
 * "*." as one label; nothing else in a valid origin needs escaping (and
 * none of '"', '\\', '$' can be in it). */
static void origin_regex(struct buf *b, const char *o, size_t n)
{
    const char *host = strstr(o, "://");
    size_t i = 0;

    if (host && (size_t)(host - o) < n) {
        buf_append(b, o, (size_t)(host - o) + 3);
        i = (size_t)(host - o) + 3;
    }
    if (i + 1 < n && o[i] == '*' && o[i + 1] == '.') {
        buf_puts(b, "[A-Za-z0-9-]+[.]");
        i += 2;
    }
    for (; i < n; i++) {
        if (o[i] == '.')
            buf_puts(b, "[.]");
        else
            buf_append(b, &o[i], 1);
    }
}

/* http level: $P_cors_origin (the allowed Origin, "*", or empty), the
 * value of each header (empty when the origin is not allowed, so that
 * add_header leaves it out) and $P_cors_preflight. */
static void cors_maps(struct ownedtext *t, size_t owner, const char *name,
                      const struct model_ingress *mi)
{
    const char *origins = ann_get(&mi->ann, ANN_CORS_ALLOW_ORIGIN);
    size_t from = t->text.len;

    if (!origins || strcmp(origins, "*") == 0) {
        buf_printf(&t->text, "map $http_origin $%s_cors_origin { default "
                   "\"*\"; }\n", name);
    } else {
        const char *p = origins;
        int first = 1;
        buf_printf(&t->text, "map $http_origin $%s_cors_origin { default "
                   "\"\"; \"~*^(", name);
        while (*p) {
            size_t n = strcspn(p, ","), a = 0, b = n;
            while (a < b && p[a] == ' ')
                a++;
            while (b > a && p[b - 1] == ' ')
                b--;
            if (!first)
                buf_puts(&t->text, "|");
            origin_regex(&t->text, p + a, b - a);
            first = 0;
            p += n;
            p += *p == ',';
        }
        buf_puts(&t->text, ")$\" $http_origin; }\n");
    }
    buf_printf(&t->text, "map \"$request_method $%s_cors_origin\" "
               "$%s_cors_preflight { default 0; \"~^OPTIONS .\" 1; }\n",
               name, name);
    ownedtext_track(t, from, owner);
    for (size_t i = 0; i < NCORS; i++) {
        const char *v = cors_value(mi, &cors_headers[i]);
        char head[3 * PROFILE_NAME_MAX + 64];
        if (!v)
            continue;
        snprintf(head, sizeof(head), "map $%s_cors_origin $%s_cors_%s { "
                 "\"\" \"\"; default ", name, name, cors_headers[i].var);
        ownedtext_quoted(t, owner, head, v, "; }\n");
    }
}

/* The profile location: preflight answered here (204, never proxied),
 * the headers added to every answer, the backend's own hidden. */
static void cors_rules(struct ownedtext *t, size_t owner,
                       const struct model_ingress *mi, const char *profile)
{
    if (!cors_on(mi))
        return;
    ownedtext_printf(t, owner, " if ($%s_cors_preflight) { return 204; }",
                     profile);
    ownedtext_printf(t, owner, " proxy_hide_header "
                     "Access-Control-Allow-Origin; add_header "
                     "Access-Control-Allow-Origin $%s_cors_origin always;",
                     profile);
    for (size_t i = 0; i < NCORS; i++) {
        if (!cors_value(mi, &cors_headers[i]))
            continue;
        ownedtext_printf(t, owner, " proxy_hide_header %s; add_header %s "
                         "$%s_cors_%s always;", cors_headers[i].name,
                         cors_headers[i].name, profile, cors_headers[i].var);
    }
}

void access_render_zones(struct ownedtext *t, const struct model *m,
                         const struct profiles *p,
                         const struct access_globals *g, const char *prefix)
{
    const char *size = g->limit_zone_size ? g->limit_zone_size
                                          : ACCESS_LIMIT_ZONE_SIZE;

    for (size_t i = 0; i < p->n; i++)
        if (access_uses_auth_cache(&m->ings[p->list[i].owner])) {
            ownedtext_printf(t, OWNER_NONE, "proxy_cache_path \"%s/"
                             ACCESS_AUTH_CACHE_DIR "\" levels=1:2 keys_zone="
                             ACCESS_AUTH_CACHE_ZONE ":%s max_size="
                             ACCESS_AUTH_CACHE_MAX " inactive="
                             ACCESS_AUTH_CACHE_INACTIVE " use_temp_path=off;"
                             "\n", prefix,
                             g->auth_cache_size ? g->auth_cache_size
                                                : ACCESS_AUTH_CACHE_SIZE);
            break;
        }

    for (size_t i = 0; i < p->n; i++) {
        const char *name = p->list[i].name;
        size_t owner = p->list[i].owner;
        const struct model_ingress *mi = &m->ings[owner];
        char key[PROFILE_NAME_MAX + 16];
        struct limits l;
        if (cors_on(mi))
            cors_maps(t, owner, name, mi);
        if (!limits_of(mi, &l))
            continue;
        snprintf(key, sizeof(key), "$binary_remote_addr");
        if (l.exempt) {
            /* An empty key is not counted: the exempt networks map to
             * it (geo reads the client address after realip). */
            ownedtext_printf(t, owner, "geo $%s_exempt { default 0;", name);
            address_rules(t, owner, " ", " 1;", l.exempt);
            ownedtext_printf(t, owner, " }\n");
            ownedtext_printf(t, owner, "map $%s_exempt $%s_key { 0 "
                             "$binary_remote_addr; 1 \"\"; }\n", name, name);
            snprintf(key, sizeof(key), "$%s_key", name);
        }
        if (l.rps)
            ownedtext_printf(t, owner, "limit_req_zone %s zone=%s_rps:%s "
                             "rate=%ldr/s;\n", key, name, size, l.rps);
        if (l.rpm)
            ownedtext_printf(t, owner, "limit_req_zone %s zone=%s_rpm:%s "
                             "rate=%ldr/m;\n", key, name, size, l.rpm);
        if (l.conn)
            ownedtext_printf(t, owner, "limit_conn_zone %s zone=%s_conn:%s;"
                             "\n", key, name, size);
    }
}

void access_render_location(struct ownedtext *t, size_t owner,
                            const struct model_ingress *mi,
                            const char *profile)
{
    const char *deny = ann_get(&mi->ann, ANN_DENYLIST_SOURCE_RANGE);
    const char *allow = ann_get(&mi->ann, ANN_ALLOWLIST_SOURCE_RANGE);

    /* The access module stops at the first rule that matches: denials
     * first, then the allowed networks, then everyone else is denied. */
    if (deny)
        address_rules(t, owner, " deny ", ";", deny);
    if (allow) {
        address_rules(t, owner, " allow ", ";", allow);
        ownedtext_printf(t, owner, " deny all;");
    }
    basic_auth(t, owner, mi);
    external_auth(t, owner, mi, profile);
    limit_rules(t, owner, mi, profile);
    cors_rules(t, owner, mi, profile);
}

void access_render_http(struct ownedtext *t, const struct access_globals *g)
{
    if (!g->real_ip_header)
        return;
    /* nginx's realip module: the client address is taken from the header
     * (the rightmost address not trusted, with real_ip_recursive) or the
     * PROXY protocol, only on connections from trusted proxies. */
    ownedtext_quoted(t, OWNER_NONE, "real_ip_header ", g->real_ip_header,
                     ";\n");
    ownedtext_printf(t, OWNER_NONE, "real_ip_recursive on;\n");
    if (g->real_ip_from) {
        const char *p = g->real_ip_from;
        while (*p) {
            char item[VALIDATE_CIDR_TEXT_MAX];
            size_t n = strcspn(p, " ");
            if (n < sizeof(item)) {
                memcpy(item, p, n);
                item[n] = '\0';
                ownedtext_quoted(t, OWNER_NONE, "set_real_ip_from ", item,
                                 ";\n");
            }
            p += n;
            p += *p == ' ';
        }
    }
}

int access_check_header_name(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);

    if (n == 0 || n > ACCESS_HEADER_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-") != n) {
        snprintf(err, errlen, "a header name is 1-%d of [A-Za-z0-9-]",
                 ACCESS_HEADER_NAME_MAX);
        return -1;
    }
    return 0;
}
