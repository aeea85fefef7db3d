/* annotations.c - the annotation table and the reading of one Ingress's
 * annotations against it (see annotations.h). */
#include "controller/annotations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/validate.h"

/* ---- reasons shared by several entries ---------------------------------- */

#define FAIL_CLOSED \
    " is not implemented yet: the Ingress is refused rather than served " \
    "without it (fail closed; --allow-unenforced-access-annotations " \
    "serves it unprotected)"

static const char W_AUTH_EXTERNAL[] =
    "this option of external authentication (auth-url)" FAIL_CLOSED;
static const char W_LIMIT[] =
    "bandwidth limiting" FAIL_CLOSED;
static const char W_SATISFY[] =
    "combining access restrictions (satisfy)" FAIL_CLOSED;
static const char W_WAF[] =
    "ModSecurity (web application firewall)" FAIL_CLOSED;

#define NEVER_RENDERED \
    "raw nginx configuration from an Ingress is never rendered (an " \
    "injection path: CVE-2021-25742, CVE-2023-5043); "

static const char W_CONFIGURATION_SNIPPET[] = NEVER_RENDERED
    "use the annotation for what the snippet did (rewrite-target, "
    "upstream-vhost, x-forwarded-prefix, proxy-*, permanent-redirect; "
    "docs/migrating-from-ingress-nginx.md maps common snippets)";
static const char W_SERVER_SNIPPET[] = NEVER_RENDERED
    "use server-alias, from-to-www-redirect, permanent-redirect or "
    "temporal-redirect (docs/migrating-from-ingress-nginx.md)";
static const char W_AUTH_SNIPPET[] = NEVER_RENDERED
    "use auth-url with auth-response-headers";
static const char W_STREAM_SNIPPET[] = NEVER_RENDERED
    "Portico serves HTTP and HTTPS only (no TCP/UDP services)";
static const char W_MODSECURITY_SNIPPET[] = NEVER_RENDERED
    "and ModSecurity is not available in Portico";

static const char W_OPENTELEMETRY[] =
    "OpenTelemetry is not built into Portico's nginx";
static const char W_FASTCGI[] =
    "FastCGI backends are not supported (backend-protocol FCGI)";

/* ---- the table ---------------------------------------------------------- */

#define SUPPORTED(n, i, g, e, d) \
    {.name = n, .state = ANN_SUPPORTED, .id = i, .grammar = g, .effect = e, \
     .directive = d}
#define ACCESS(n, i, g) \
    {.name = n, .state = ANN_SUPPORTED, .flags = ANN_ACCESS, .id = i, \
     .grammar = g, .effect = ANN_EFFECT_ACCESS}
#define ACCESS_ALIAS(n, i, g, a) \
    {.name = n, .state = ANN_SUPPORTED, .flags = ANN_ACCESS, .id = i, \
     .grammar = g, .effect = ANN_EFFECT_ACCESS, .alias_of = a}
#define PROFILE(n, i, g, d) SUPPORTED(n, i, g, ANN_EFFECT_PROFILE, d)
#define PROFILE_WORDS(n, i, g, d) \
    {.name = n, .state = ANN_SUPPORTED, .id = i, .grammar = g, \
     .effect = ANN_EFFECT_PROFILE, .directive = d, .flags = ANN_WORDS}
/* CORS headers, rendered by access.c too; they open nothing that the
 * backend's own answers do not (browsers enforce them), so no ANN_ACCESS. */
#define CORS(n, i, g) \
    {.name = n, .state = ANN_SUPPORTED, .id = i, .grammar = g, \
     .effect = ANN_EFFECT_ACCESS}
/* Client certificates: words of the host's line in the certificate table
 * (controller/clientcert.h). */
#define CLIENT_CERT(n, i, g) \
    {.name = n, .state = ANN_SUPPORTED, .flags = ANN_ACCESS, .id = i, \
     .grammar = g, .effect = ANN_EFFECT_CERTS}
/* Route table words (a change is a table swap). */
#define TABLE(n, i, g) SUPPORTED(n, i, g, ANN_EFFECT_TABLE, NULL)
#define REFUSED(n, f, w) {.name = n, .state = ANN_REFUSED, .flags = f, .why = w}
#define REFUSED_ALIAS(n, f, w, a) \
    {.name = n, .state = ANN_REFUSED, .flags = f, .why = w, .alias_of = a}
#define IGNORED(n, w) {.name = n, .state = ANN_IGNORED, .why = w}

/* Sorted by name (a unit test checks it). Every annotation of
 * ingress-nginx's documentation and code (v1.15.1) is here. */
const struct ann_def ann_table[] = {
    TABLE("affinity", ANN_AFFINITY, validate_affinity),
    TABLE("affinity-canary-behavior", ANN_AFFINITY_CANARY_BEHAVIOR,
          validate_affinity_canary_behavior),
    TABLE("affinity-mode", ANN_AFFINITY_MODE, validate_affinity_mode),
    ACCESS("allowlist-source-range", ANN_ALLOWLIST_SOURCE_RANGE,
           validate_cidr_list),
    PROFILE("app-root", ANN_APP_ROOT, validate_path, NULL),
    ACCESS("auth-always-set-cookie", ANN_AUTH_ALWAYS_SET_COOKIE,
           validate_bool),
    ACCESS("auth-cache-duration", ANN_AUTH_CACHE_DURATION,
           validate_auth_cache_duration),
    ACCESS("auth-cache-key", ANN_AUTH_CACHE_KEY, validate_auth_cache_key),
    REFUSED("auth-keepalive", ANN_ACCESS, W_AUTH_EXTERNAL),
    REFUSED("auth-keepalive-requests", ANN_ACCESS, W_AUTH_EXTERNAL),
    REFUSED("auth-keepalive-share-vars", ANN_ACCESS, W_AUTH_EXTERNAL),
    REFUSED("auth-keepalive-timeout", ANN_ACCESS, W_AUTH_EXTERNAL),
    ACCESS("auth-method", ANN_AUTH_METHOD, validate_auth_method),
    REFUSED("auth-proxy-set-headers", ANN_ACCESS, W_AUTH_EXTERNAL),
    ACCESS("auth-realm", ANN_AUTH_REALM, validate_realm),
    ACCESS("auth-request-redirect", ANN_AUTH_REQUEST_REDIRECT,
           validate_auth_redirect),
    ACCESS("auth-response-headers", ANN_AUTH_RESPONSE_HEADERS,
           validate_header_names),
    ACCESS("auth-secret", ANN_AUTH_SECRET, validate_secret_ref),
    ACCESS("auth-secret-type", ANN_AUTH_SECRET_TYPE, validate_auth_secret_type),
    ACCESS("auth-signin", ANN_AUTH_SIGNIN, validate_auth_url),
    ACCESS("auth-signin-redirect-param", ANN_AUTH_SIGNIN_REDIRECT_PARAM,
           validate_param_name),
    REFUSED("auth-snippet", ANN_SNIPPET | ANN_ACCESS, W_AUTH_SNIPPET),
    CLIENT_CERT("auth-tls-error-page", ANN_AUTH_TLS_ERROR_PAGE,
                validate_redirect_url),
    CLIENT_CERT("auth-tls-match-cn", ANN_AUTH_TLS_MATCH_CN,
                validate_match_cn),
    CLIENT_CERT("auth-tls-pass-certificate-to-upstream",
                ANN_AUTH_TLS_PASS_CERTIFICATE, validate_bool),
    CLIENT_CERT("auth-tls-secret", ANN_AUTH_TLS_SECRET, validate_secret_ref),
    CLIENT_CERT("auth-tls-verify-client", ANN_AUTH_TLS_VERIFY_CLIENT,
                validate_verify_client),
    CLIENT_CERT("auth-tls-verify-depth", ANN_AUTH_TLS_VERIFY_DEPTH,
                validate_verify_depth),
    ACCESS("auth-type", ANN_AUTH_TYPE, validate_auth_type),
    ACCESS("auth-url", ANN_AUTH_URL, validate_auth_url),
    PROFILE("backend-protocol", ANN_BACKEND_PROTOCOL,
            validate_backend_protocol, NULL),
    SUPPORTED("canary", ANN_CANARY, validate_bool, ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-by-cookie", ANN_CANARY_BY_COOKIE,
              validate_cookie_name, ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-by-header", ANN_CANARY_BY_HEADER,
              validate_header_name, ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-by-header-pattern", ANN_CANARY_BY_HEADER_PATTERN,
              validate_word, ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-by-header-value", ANN_CANARY_BY_HEADER_VALUE,
              validate_word, ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-weight", ANN_CANARY_WEIGHT, validate_count,
              ANN_EFFECT_TABLE, NULL),
    SUPPORTED("canary-weight-total", ANN_CANARY_WEIGHT_TOTAL,
              validate_count, ANN_EFFECT_TABLE, NULL),
    PROFILE("client-body-buffer-size", ANN_CLIENT_BODY_BUFFER_SIZE,
            validate_buffer_size, "client_body_buffer_size"),
    REFUSED("configuration-snippet", ANN_SNIPPET, W_CONFIGURATION_SNIPPET),
    PROFILE("connection-proxy-header", ANN_CONNECTION_PROXY_HEADER,
            validate_header_value_token, NULL),
    CORS("cors-allow-credentials", ANN_CORS_ALLOW_CREDENTIALS, validate_bool),
    CORS("cors-allow-headers", ANN_CORS_ALLOW_HEADERS, validate_header_list),
    CORS("cors-allow-methods", ANN_CORS_ALLOW_METHODS, validate_method_list),
    CORS("cors-allow-origin", ANN_CORS_ALLOW_ORIGIN, validate_cors_origins),
    CORS("cors-expose-headers", ANN_CORS_EXPOSE_HEADERS,
         validate_header_list),
    CORS("cors-max-age", ANN_CORS_MAX_AGE, validate_seconds),
    REFUSED("custom-headers", 0,
            "response headers from a ConfigMap are not implemented (they "
            "often carry security headers such as HSTS or CSP, so the "
            "Ingress is refused rather than served without them)"),
    PROFILE("custom-http-errors", ANN_CUSTOM_HTTP_ERRORS,
            validate_http_error_codes, NULL),
    SUPPORTED("default-backend", ANN_DEFAULT_BACKEND, validate_dns_label,
              ANN_EFFECT_TABLE, NULL),
    ACCESS("denylist-source-range", ANN_DENYLIST_SOURCE_RANGE,
           validate_cidr_list),
    PROFILE("disable-proxy-intercept-errors",
            ANN_DISABLE_PROXY_INTERCEPT_ERRORS, validate_bool, NULL),
    IGNORED("enable-access-log",
            "Portico's nginx writes no access log (access_log off)"),
    CORS("enable-cors", ANN_ENABLE_CORS, validate_bool),
    IGNORED("enable-global-auth",
            "Portico has no global external authentication (ingress-nginx's "
            "global-auth-url), so there is nothing to turn on or off"),
    REFUSED("enable-modsecurity", ANN_ACCESS, W_WAF),
    IGNORED("enable-opentelemetry", W_OPENTELEMETRY),
    REFUSED("enable-owasp-core-rules", ANN_ACCESS, W_WAF),
    IGNORED("enable-rewrite-log",
            "rewrites are done by Portico's route module, which has no "
            "rewrite log"),
    REFUSED("fastcgi-index", 0, W_FASTCGI),
    REFUSED("fastcgi-params-configmap", 0, W_FASTCGI),
    SUPPORTED("force-ssl-redirect", ANN_FORCE_SSL_REDIRECT, validate_bool,
              ANN_EFFECT_TABLE, NULL),
    PROFILE("from-to-www-redirect", ANN_FROM_TO_WWW_REDIRECT, validate_bool,
            NULL),
    IGNORED("http2-push-preload",
            "HTTP/2 server push was removed from nginx and from browsers"),
    ACCESS("limit-allowlist", ANN_LIMIT_ALLOWLIST, validate_cidr_list),
    ACCESS("limit-burst-multiplier", ANN_LIMIT_BURST_MULTIPLIER,
           validate_count),
    ACCESS("limit-connections", ANN_LIMIT_CONNECTIONS, validate_count),
    REFUSED("limit-rate", ANN_ACCESS, W_LIMIT),
    REFUSED("limit-rate-after", ANN_ACCESS, W_LIMIT),
    ACCESS("limit-rpm", ANN_LIMIT_RPM, validate_count),
    ACCESS("limit-rps", ANN_LIMIT_RPS, validate_count),
    ACCESS_ALIAS("limit-whitelist", ANN_LIMIT_ALLOWLIST, validate_cidr_list,
                 "limit-allowlist"),
    IGNORED("load-balance",
            "Portico proxies to the Service's address and the cluster "
            "spreads connections over its endpoints; there is no per-Ingress "
            "balancing algorithm"),
    IGNORED("mirror-host", "request mirroring is not implemented"),
    IGNORED("mirror-request-body", "request mirroring is not implemented"),
    IGNORED("mirror-target",
            "request mirroring is not implemented: requests are served, "
            "no copy is sent"),
    REFUSED("modsecurity-snippet", ANN_SNIPPET | ANN_ACCESS,
            W_MODSECURITY_SNIPPET),
    IGNORED("modsecurity-transaction-id",
            "only used by ModSecurity, which is not available (an Ingress "
            "that enables it is refused)"),
    IGNORED("opentelemetry-operation-name", W_OPENTELEMETRY),
    IGNORED("opentelemetry-trust-incoming-span", W_OPENTELEMETRY),
    PROFILE("permanent-redirect", ANN_PERMANENT_REDIRECT,
            validate_redirect_url, NULL),
    PROFILE("permanent-redirect-code", ANN_PERMANENT_REDIRECT_CODE,
            validate_redirect_code, NULL),
    IGNORED("preserve-trailing-slash",
            "Portico's HTTPS redirect always keeps the request URI as it "
            "is, trailing slash included"),
    SUPPORTED("proxy-body-size", ANN_PROXY_BODY_SIZE, validate_size,
              ANN_EFFECT_PROFILE, "client_max_body_size"),
    PROFILE("proxy-buffer-size", ANN_PROXY_BUFFER_SIZE,
            validate_buffer_size, "proxy_buffer_size"),
    PROFILE("proxy-buffering", ANN_PROXY_BUFFERING, validate_on_off,
            "proxy_buffering"),
    PROFILE("proxy-buffers-number", ANN_PROXY_BUFFERS_NUMBER,
            validate_count, NULL),
    PROFILE("proxy-busy-buffers-size", ANN_PROXY_BUSY_BUFFERS_SIZE,
            validate_buffer_size, "proxy_busy_buffers_size"),
    SUPPORTED("proxy-connect-timeout", ANN_PROXY_CONNECT_TIMEOUT,
              validate_timeout, ANN_EFFECT_PROFILE, "proxy_connect_timeout"),
    PROFILE_WORDS("proxy-cookie-domain", ANN_PROXY_COOKIE_DOMAIN,
                  validate_cookie_rewrite, "proxy_cookie_domain"),
    PROFILE_WORDS("proxy-cookie-path", ANN_PROXY_COOKIE_PATH,
                  validate_cookie_rewrite, "proxy_cookie_path"),
    PROFILE("proxy-http-version", ANN_PROXY_HTTP_VERSION,
            validate_http_version, "proxy_http_version"),
    PROFILE("proxy-max-temp-file-size", ANN_PROXY_MAX_TEMP_FILE_SIZE,
            validate_buffer_size, "proxy_max_temp_file_size"),
    PROFILE_WORDS("proxy-next-upstream", ANN_PROXY_NEXT_UPSTREAM,
                  validate_next_upstream, "proxy_next_upstream"),
    PROFILE("proxy-next-upstream-timeout",
            ANN_PROXY_NEXT_UPSTREAM_TIMEOUT, validate_timeout,
            "proxy_next_upstream_timeout"),
    PROFILE("proxy-next-upstream-tries", ANN_PROXY_NEXT_UPSTREAM_TRIES,
            validate_count, "proxy_next_upstream_tries"),
    SUPPORTED("proxy-read-timeout", ANN_PROXY_READ_TIMEOUT, validate_timeout,
              ANN_EFFECT_PROFILE, "proxy_read_timeout"),
    PROFILE("proxy-redirect-from", ANN_PROXY_REDIRECT_FROM,
            validate_redirect_arg, NULL),
    PROFILE("proxy-redirect-to", ANN_PROXY_REDIRECT_TO,
            validate_redirect_arg, NULL),
    PROFILE("proxy-request-buffering", ANN_PROXY_REQUEST_BUFFERING,
            validate_on_off, "proxy_request_buffering"),
    SUPPORTED("proxy-send-timeout", ANN_PROXY_SEND_TIMEOUT, validate_timeout,
              ANN_EFFECT_PROFILE, "proxy_send_timeout"),
    PROFILE("proxy-ssl-ciphers", ANN_PROXY_SSL_CIPHERS,
            validate_ssl_ciphers, "proxy_ssl_ciphers"),
    PROFILE("proxy-ssl-name", ANN_PROXY_SSL_NAME, validate_server_name,
            "proxy_ssl_name"),
    PROFILE_WORDS("proxy-ssl-protocols", ANN_PROXY_SSL_PROTOCOLS,
                  validate_ssl_protocols, "proxy_ssl_protocols"),
    REFUSED("proxy-ssl-secret", 0,
            "a client certificate and CA from a Secret for TLS to the "
            "backend are not implemented yet (proxy-ssl-verify verifies "
            "against the system's CA certificates)"),
    PROFILE("proxy-ssl-server-name", ANN_PROXY_SSL_SERVER_NAME,
            validate_on_off, "proxy_ssl_server_name"),
    PROFILE("proxy-ssl-verify", ANN_PROXY_SSL_VERIFY, validate_on_off,
            NULL),
    PROFILE("proxy-ssl-verify-depth", ANN_PROXY_SSL_VERIFY_DEPTH,
            validate_verify_depth, "proxy_ssl_verify_depth"),
    IGNORED("relative-redirects",
            "Portico's redirects are absolute URLs it builds itself "
            "(HTTPS redirect, permanent-/temporal-redirect, app-root, "
            "from-to-www); nginx issues no other redirects for proxied "
            "requests"),
    SUPPORTED("rewrite-target", ANN_REWRITE_TARGET, validate_rewrite_target,
              ANN_EFFECT_TABLE, NULL),
    REFUSED("satisfy", ANN_ACCESS, W_SATISFY),
    SUPPORTED("server-alias", ANN_SERVER_ALIAS, validate_host_list,
              ANN_EFFECT_TABLE, NULL),
    REFUSED("server-snippet", ANN_SNIPPET, W_SERVER_SNIPPET),
    IGNORED("service-upstream",
            "Portico always proxies to the Service's cluster address, which "
            "is what service-upstream \"true\" does"),
    TABLE("session-cookie-change-on-failure",
          ANN_SESSION_COOKIE_CHANGE_ON_FAILURE, validate_bool),
    TABLE("session-cookie-conditional-samesite-none",
          ANN_SESSION_COOKIE_CONDITIONAL_SAMESITE_NONE, validate_bool),
    TABLE("session-cookie-domain", ANN_SESSION_COOKIE_DOMAIN,
          validate_cookie_domain),
    TABLE("session-cookie-expires", ANN_SESSION_COOKIE_EXPIRES,
          validate_seconds),
    TABLE("session-cookie-max-age", ANN_SESSION_COOKIE_MAX_AGE,
          validate_seconds),
    TABLE("session-cookie-name", ANN_SESSION_COOKIE_NAME,
          validate_cookie_name),
    TABLE("session-cookie-path", ANN_SESSION_COOKIE_PATH, validate_path),
    TABLE("session-cookie-samesite", ANN_SESSION_COOKIE_SAMESITE,
          validate_samesite),
    TABLE("session-cookie-secure", ANN_SESSION_COOKIE_SECURE, validate_bool),
    IGNORED("ssl-ciphers",
            "TLS settings are global in Portico (TLSv1.2 and TLSv1.3 with "
            "nginx's default ciphers)"),
    REFUSED("ssl-passthrough", 0,
            "TLS passthrough needs routing by SNI before TLS is terminated, "
            "which Portico does not do: the backend would receive "
            "decrypted HTTP"),
    IGNORED("ssl-prefer-server-ciphers",
            "TLS settings are global in Portico"),
    SUPPORTED("ssl-redirect", ANN_SSL_REDIRECT, validate_bool,
              ANN_EFFECT_TABLE, NULL),
    REFUSED("stream-snippet", ANN_SNIPPET, W_STREAM_SNIPPET),
    PROFILE("temporal-redirect", ANN_TEMPORAL_REDIRECT,
            validate_redirect_url, NULL),
    PROFILE("temporal-redirect-code", ANN_TEMPORAL_REDIRECT_CODE,
            validate_redirect_code, NULL),
    REFUSED("upstream-hash-by", 0,
            "consistent hashing to endpoints is not implemented: requests "
            "would not stick to one backend"),
    REFUSED("upstream-hash-by-subset", 0,
            "consistent hashing to endpoints is not implemented"),
    REFUSED("upstream-hash-by-subset-size", 0,
            "consistent hashing to endpoints is not implemented"),
    PROFILE("upstream-vhost", ANN_UPSTREAM_VHOST, validate_vhost, NULL),
    IGNORED("use-port-in-redirects",
            "Portico's HTTPS redirect names the HTTPS port when it is not "
            "443; the other redirects use the URL or Host given; nginx "
            "issues no other redirects for proxied requests"),
    SUPPORTED("use-regex", ANN_USE_REGEX, validate_bool, ANN_EFFECT_TABLE,
              NULL),
    ACCESS_ALIAS("whitelist-source-range", ANN_ALLOWLIST_SOURCE_RANGE,
                 validate_cidr_list, "allowlist-source-range"),
    PROFILE("x-forwarded-prefix", ANN_X_FORWARDED_PREFIX, validate_path,
            NULL),
};

const size_t ann_table_len = sizeof(ann_table) / sizeof(ann_table[0]);

static int cmp_name(const void *key, const void *entry)
{
    return strcmp(key, ((const struct ann_def *)entry)->name);
}

const struct ann_def *ann_lookup(const char *name)
{
    return bsearch(name, ann_table, ann_table_len, sizeof(ann_table[0]),
                   cmp_name);
}

const struct ann_def *ann_def_of(enum ann_id id)
{
    for (size_t i = 0; i < ann_table_len; i++)
        if (ann_table[i].state == ANN_SUPPORTED && ann_table[i].id == id)
            return &ann_table[i];
    return NULL;
}

/* ---- names -------------------------------------------------------------- */

static const char *const outcome_names[ANN_OUTCOME_COUNT] = {
    [ANN_APPLIED] = "applied",
    [ANN_NOT_APPLIED] = "ignored",
    [ANN_UNENFORCED] = "unenforced",
    [ANN_UNKNOWN] = "unknown",
    [ANN_SHADOWED] = "shadowed",
    [ANN_REFUSING] = "refused",
};

const char *ann_outcome_name(enum ann_outcome o)
{
    return o < ANN_OUTCOME_COUNT ? outcome_names[o] : "?";
}

const char *ann_state_name(enum ann_state s)
{
    switch (s) {
    case ANN_SUPPORTED:
        return "supported";
    case ANN_REFUSED:
        return "refused";
    case ANN_IGNORED:
        return "ignored";
    }
    return "?";
}

int ann_check_prefix(const char *prefix, char *err, size_t errlen)
{
    char sub[256];

    if (validate_dns_subdomain(prefix, strlen(prefix), sub, sizeof(sub)) < 0) {
        snprintf(err, errlen, "--annotations-prefix: %s", sub);
        return -1;
    }
    if (strcmp(prefix, ANN_PORTICO_PREFIX) == 0) {
        snprintf(err, errlen, "--annotations-prefix: %s is always read",
                 ANN_PORTICO_PREFIX);
        return -1;
    }
    return 0;
}

/* ---- reading one Ingress ------------------------------------------------ */

/* An annotation under one of our prefixes. */
struct candidate {
    const char *key;            /* borrowed from the json object */
    const char *name;           /* after the prefix and '/' */
    int own;                    /* under portico.io/ */
    struct json_object *value;
};

/* Order of precedence: portico.io/ before the ingress-nginx prefix, an
 * entry's own name before an alias of it; then by key. */
static int cmp_candidate(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    const struct ann_def *dx = ann_lookup(x->name), *dy = ann_lookup(y->name);
    int ax = dx && dx->alias_of, ay = dy && dy->alias_of;

    if (x->own != y->own)
        return x->own ? -1 : 1;
    if (ax != ay)
        return ax ? 1 : -1;
    return strcmp(x->key, y->key);
}

static int cmp_finding(const void *a, const void *b)
{
    return strcmp(((const struct ann_finding *)a)->key,
                  ((const struct ann_finding *)b)->key);
}

static int cmp_value(const void *a, const void *b)
{
    const struct ann_value *x = a, *y = b;

    return (int)x->id - (int)y->id;
}

/* The name after "PREFIX/" in key, or NULL. */
static const char *after_prefix(const char *key, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(key, prefix, n) != 0 || key[n] != '/')
        return NULL;
    return key + n + 1;
}

static int add_finding(struct ann_result *res, const char *key,
                       enum ann_outcome o, const char *reason)
{
    struct ann_finding *f;

    f = realloc(res->findings, (res->nfindings + 1) * sizeof(*f));
    if (!f)
        return -1;
    res->findings = f;
    f = &res->findings[res->nfindings];
    f->key = strdup(key);
    f->outcome = o;
    f->reason = reason ? strdup(reason) : NULL;
    if (!f->key || (reason && !f->reason)) {
        free(f->key);
        free(f->reason);
        return -1;
    }
    res->nfindings++;
    res->refusing += o == ANN_REFUSING;
    return 0;
}

static int add_value(struct ann_result *res, enum ann_id id, const char *v)
{
    struct ann_value *nv;

    nv = realloc(res->values, (res->nvalues + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    res->values = nv;
    if (!(nv[res->nvalues].value = strdup(v)))
        return -1;
    nv[res->nvalues].id = id;
    res->nvalues++;
    return 0;
}

/* A supported annotation: validated, then its value kept unless a key of
 * higher precedence already set it. */
static int read_supported(const struct ann_def *d, const struct candidate *c,
                          int keep_applied, struct ann_result *res)
{
    char sub[ANN_REASON_MAX];
    const char *v;
    size_t len;

    if (ann_get(res, d->id))
        return add_finding(res, c->key, ANN_SHADOWED,
                           "the same setting is set by a key that takes "
                           "precedence (portico.io/ before the ingress-nginx "
                           "prefix, a name before its alias)");
    if (!json_object_is_type(c->value, json_type_string))
        return add_finding(res, c->key, ANN_REFUSING, "must be a string");
    v = json_object_get_string(c->value);
    len = (size_t)json_object_get_string_len(c->value);
    if (d->grammar(v, len, sub, sizeof(sub)) < 0)
        return add_finding(res, c->key, ANN_REFUSING, sub);
    if (add_value(res, d->id, v) < 0)
        return -1;
    if (!keep_applied)
        return 0;
    if (d->effect == ANN_EFFECT_PROFILE) {
        snprintf(sub, sizeof(sub), "%s%s%s (nginx.conf; a reload when this "
                 "set of options is new)",
                 d->directive ? d->directive : "in the Ingress's profile: ",
                 d->directive ? " " : "", v);
        return add_finding(res, c->key, ANN_APPLIED, sub);
    }
    if (d->effect == ANN_EFFECT_ACCESS)
        return add_finding(res, c->key, ANN_APPLIED,
                           "access control in the Ingress's profile "
                           "(nginx.conf; a reload when this set of options "
                           "is new)");
    if (d->effect == ANN_EFFECT_CERTS)
        return add_finding(res, c->key, ANN_APPLIED,
                           "client certificates of the Ingress's hosts "
                           "(certificate table: a table swap, no reload)");
    return add_finding(res, c->key, ANN_APPLIED,
                       "route table (a table swap, no reload)");
}

static int read_one(const struct ann_config *cfg, const struct candidate *c,
                    int keep_applied, struct ann_result *res)
{
    const struct ann_def *d = ann_lookup(c->name);
    char why[ANN_REASON_MAX];

    if (!d)
        return add_finding(res, c->key, ANN_UNKNOWN,
                           "not an annotation Portico knows");
    switch (d->state) {
    case ANN_SUPPORTED:
        return read_supported(d, c, keep_applied, res);
    case ANN_IGNORED:
        return add_finding(res, c->key, ANN_NOT_APPLIED, d->why);
    case ANN_REFUSED:
        if ((d->flags & ANN_ACCESS) && !(d->flags & ANN_SNIPPET) &&
            cfg->allow_unenforced_access) {
            snprintf(why, sizeof(why), "NOT ENFORCED "
                     "(--allow-unenforced-access-annotations): %s", d->why);
            return add_finding(res, c->key, ANN_UNENFORCED, why);
        }
        return add_finding(res, c->key, ANN_REFUSING, d->why);
    }
    return 0;
}

int ann_read(const struct ann_config *cfg, struct json_object *annotations,
             int keep_applied, struct ann_result *res)
{
    const char *nginx = cfg->nginx_prefix_off ? NULL
                      : cfg->nginx_prefix ? cfg->nginx_prefix
                                          : ANN_NGINX_PREFIX;
    struct candidate *cand = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (!annotations || !json_object_is_type(annotations, json_type_object))
        return 0;
    json_object_object_foreach(annotations, key, val) {
        const char *name = after_prefix(key, ANN_PORTICO_PREFIX);
        int own = name != NULL;
        if (!name && nginx)
            name = after_prefix(key, nginx);
        if (!name)
            continue;
        if (n == cap) {
            struct candidate *nc;
            cap = cap ? cap * 2 : 8;
            nc = realloc(cand, cap * sizeof(*nc));
            if (!nc) {
                rc = -1;
                goto out;
            }
            cand = nc;
        }
        cand[n++] = (struct candidate){.key = key, .name = name, .own = own,
                                       .value = val};
    }
    if (n > 1)
        qsort(cand, n, sizeof(*cand), cmp_candidate);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = read_one(cfg, &cand[i], keep_applied, res);
    if (rc == 0 && res->nfindings > 1)
        qsort(res->findings, res->nfindings, sizeof(*res->findings),
              cmp_finding);
    if (rc == 0 && res->nvalues > 1)
        qsort(res->values, res->nvalues, sizeof(*res->values), cmp_value);
out:
    free(cand);
    if (rc < 0)
        ann_result_free(res);
    return rc;
}

void ann_result_free(struct ann_result *res)
{
    for (size_t i = 0; i < res->nvalues; i++)
        free(res->values[i].value);
    free(res->values);
    for (size_t i = 0; i < res->nfindings; i++) {
        free(res->findings[i].key);
        free(res->findings[i].reason);
    }
    free(res->findings);
    memset(res, 0, sizeof(*res));
}

const char *ann_get(const struct ann_result *res, enum ann_id id)
{
    for (size_t i = 0; i < res->nvalues; i++)
        if (res->values[i].id == id)
            return res->values[i].value;
    return NULL;
}

/* ---- reasons ------------------------------------------------------------ */

/* The key for a reason: as it is when it is a key Kubernetes could have
 * accepted, else escaped and cut (local mode reads any YAML). */
static void shown_key(const char *key, char *out, size_t outlen)
{
    size_t n = strlen(key);

    if (n < outlen &&
        strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_./") == n)
        memcpy(out, key, n + 1);
    else
        validate_printable(key, out, outlen);
}

static int same_reason(const struct ann_finding *x,
                       const struct ann_finding *y)
{
    return x->outcome == y->outcome &&
           strcmp(x->reason ? x->reason : "", y->reason ? y->reason : "") == 0;
}

static int listed(const struct ann_finding *f, int refusing)
{
    return f->outcome != ANN_APPLIED &&
           (f->outcome == ANN_REFUSING) == refusing;
}

/* The refusing findings ("annotation K: WHY; annotations K1, K2: WHY") or
 * the others ("K (OUTCOME: WHY); K1, K2 (OUTCOME: WHY)"): keys that share
 * a reason are named together, so that every key fits. */
static void list_findings(const struct ann_result *res, int refusing,
                          struct buf *b)
{
    size_t groups = 0;

    for (size_t i = 0; i < res->nfindings; i++) {
        const struct ann_finding *f = &res->findings[i];
        size_t n = 0;
        int first_of_group = 1;
        if (!listed(f, refusing))
            continue;
        for (size_t j = 0; j < i && first_of_group; j++)
            first_of_group = !(listed(&res->findings[j], refusing) &&
                               same_reason(&res->findings[j], f));
        if (!first_of_group)
            continue;
        for (size_t j = i; j < res->nfindings; j++)
            n += listed(&res->findings[j], refusing) &&
                 same_reason(&res->findings[j], f);
        buf_puts(b, groups++ ? "; " : "");
        if (refusing)
            buf_puts(b, n > 1 ? "annotations " : "annotation ");
        for (size_t j = i, k = 0; j < res->nfindings; j++) {
            char key[ANN_PREFIX_MAX + 128];
            if (!listed(&res->findings[j], refusing) ||
                !same_reason(&res->findings[j], f))
                continue;
            shown_key(res->findings[j].key, key, sizeof(key));
            buf_printf(b, "%s%s", k++ ? ", " : "", key);
        }
        if (refusing)
            buf_printf(b, ": %s", f->reason ? f->reason : "refused");
        else
            buf_printf(b, " (%s%s%s)", ann_outcome_name(f->outcome),
                       f->reason ? ": " : "", f->reason ? f->reason : "");
    }
}

static void copy_out(struct buf *b, char *out, size_t outlen)
{
    if (!outlen)
        return;
    snprintf(out, outlen, "%s", buf_failed(b) || !b->data ? "" : b->data);
    if (b->data && b->len >= outlen && outlen > 4)
        memcpy(out + outlen - 4, "...", 4);
    buf_free(b);
}

void ann_refusal(const struct ann_result *res, char *err, size_t errlen)
{
    struct buf b;

    buf_init(&b);
    list_findings(res, 1, &b);
    copy_out(&b, err, errlen);
}

void ann_notice(const struct ann_result *res, char *out, size_t outlen)
{
    struct buf b;

    buf_init(&b);
    list_findings(res, 0, &b);
    if (b.len) {
        struct buf all;
        buf_init(&all);
        buf_printf(&all, "annotations not applied: %s", b.data);
        buf_free(&b);
        copy_out(&all, out, outlen);
        return;
    }
    copy_out(&b, out, outlen);
}
