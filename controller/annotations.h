/*
 * annotations.h - every Ingress annotation Portico knows, in one table,
 * and how one Ingress's annotations are read against it.
 *
 * An annotation is read under two prefixes: Portico's own "portico.io/"
 * and, for users coming from ingress-nginx, that controller's prefix
 * ("nginx.ingress.kubernetes.io/", changed with --annotations-prefix as in
 * ingress-nginx, or not read at all). The same name means the same thing
 * under both; when both are set, "portico.io/" wins and the other is
 * reported as shadowed.
 *
 * Each table entry (annotations.c) has a name, a state and, when it is
 * supported, a strict grammar and what it renders:
 * - supported: the value must match the grammar (else the Ingress is
 *   refused with the reason) and is applied: an option of the Ingress's
 *   profile location in nginx.conf (a new set of values reloads nginx),
 *   or data of the route table (a change is a table swap);
 * - refused: the Ingress is refused with the entry's reason. Snippets
 *   (raw nginx configuration) are always refused; annotations that
 *   restrict access (ANN_ACCESS) and are not implemented are refused so
 *   that nothing guarded becomes public ("fail closed"), unless the
 *   operator starts the controller with --allow-unenforced-access-
 *   annotations, which serves them without the restriction, loudly;
 * - ignored: the Ingress is served, the annotation has no effect, and
 *   that is reported with the entry's reason.
 * A key under either prefix that is not in the table is unknown: the
 * Ingress is served and the key is reported (log line, Event, metric).
 *
 * To implement an annotation: give its entry ANN_SUPPORTED, an id (enum
 * ann_id), a grammar, and its effect; the model, profiles and route
 * table read values by id.
 */
#ifndef PORTICO_CONTROLLER_ANNOTATIONS_H
#define PORTICO_CONTROLLER_ANNOTATIONS_H

#include <stddef.h>

#include <json-c/json.h>

#define ANN_PORTICO_PREFIX     "portico.io"
#define ANN_NGINX_PREFIX       "nginx.ingress.kubernetes.io"
#define ANN_PREFIX_MAX         253
#define ANN_REASON_MAX         512

enum ann_state {
    ANN_SUPPORTED,
    ANN_REFUSED,
    ANN_IGNORED,
};

/* What a supported annotation changes, and so what a change costs. */
enum ann_effect {
    ANN_EFFECT_NONE,
    ANN_EFFECT_PROFILE,     /* a directive in the Ingress's profile
                               location (nginx.conf): a reload */
    ANN_EFFECT_TABLE,       /* route table data: a table swap */
    ANN_EFFECT_ACCESS,      /* access control in the profile location,
                               rendered by controller/access.c (several
                               directives, http-level zones): a reload */
    ANN_EFFECT_CERTS,       /* certificate table data of the Ingress's
                               hosts (client certificates,
                               controller/clientcert.h): a table swap */
};

/* Flags of an entry. */
#define ANN_ACCESS   0x1u   /* restricts who may reach the backend */
#define ANN_SNIPPET  0x2u   /* raw nginx configuration */
#define ANN_WORDS    0x4u   /* a profile value of several words, rendered
                               as that many (quoted) arguments */

/* The supported annotations, by which the rest of the controller reads
 * their values. ANN_ID_NONE: an entry that is not supported. */
enum ann_id {
    ANN_ID_NONE = 0,
    ANN_PROXY_BODY_SIZE,
    ANN_PROXY_CONNECT_TIMEOUT,
    ANN_PROXY_READ_TIMEOUT,
    ANN_PROXY_SEND_TIMEOUT,
    ANN_ALLOWLIST_SOURCE_RANGE,
    ANN_DENYLIST_SOURCE_RANGE,
    ANN_PROXY_BUFFERING,
    ANN_PROXY_BUFFER_SIZE,
    ANN_PROXY_BUFFERS_NUMBER,
    ANN_PROXY_BUSY_BUFFERS_SIZE,
    ANN_PROXY_MAX_TEMP_FILE_SIZE,
    ANN_PROXY_REQUEST_BUFFERING,
    ANN_CLIENT_BODY_BUFFER_SIZE,
    ANN_PROXY_NEXT_UPSTREAM,
    ANN_PROXY_NEXT_UPSTREAM_TIMEOUT,
    ANN_PROXY_NEXT_UPSTREAM_TRIES,
    ANN_PROXY_HTTP_VERSION,
    ANN_PROXY_COOKIE_DOMAIN,
    ANN_PROXY_COOKIE_PATH,
    ANN_PROXY_REDIRECT_FROM,
    ANN_PROXY_REDIRECT_TO,
    ANN_UPSTREAM_VHOST,
    ANN_X_FORWARDED_PREFIX,
    ANN_CONNECTION_PROXY_HEADER,
    ANN_BACKEND_PROTOCOL,
    ANN_PROXY_SSL_VERIFY,
    ANN_PROXY_SSL_VERIFY_DEPTH,
    ANN_PROXY_SSL_NAME,
    ANN_PROXY_SSL_SERVER_NAME,
    ANN_PROXY_SSL_PROTOCOLS,
    ANN_PROXY_SSL_CIPHERS,
    ANN_AUTH_TYPE,
    ANN_AUTH_SECRET,
    ANN_AUTH_SECRET_TYPE,
    ANN_AUTH_REALM,
    ANN_PERMANENT_REDIRECT,
    ANN_PERMANENT_REDIRECT_CODE,
    ANN_TEMPORAL_REDIRECT,
    ANN_TEMPORAL_REDIRECT_CODE,
    ANN_APP_ROOT,
    ANN_SSL_REDIRECT,
    ANN_FORCE_SSL_REDIRECT,
    ANN_SERVER_ALIAS,
    ANN_LIMIT_RPS,
    ANN_LIMIT_RPM,
    ANN_LIMIT_CONNECTIONS,
    ANN_LIMIT_BURST_MULTIPLIER,
    ANN_LIMIT_ALLOWLIST,
    ANN_ENABLE_CORS,
    ANN_CORS_ALLOW_ORIGIN,
    ANN_CORS_ALLOW_METHODS,
    ANN_CORS_ALLOW_HEADERS,
    ANN_CORS_ALLOW_CREDENTIALS,
    ANN_CORS_MAX_AGE,
    ANN_CORS_EXPOSE_HEADERS,
    ANN_FROM_TO_WWW_REDIRECT,
    ANN_AUTH_URL,
    ANN_AUTH_METHOD,
    ANN_AUTH_SIGNIN,
    ANN_AUTH_SIGNIN_REDIRECT_PARAM,
    ANN_AUTH_RESPONSE_HEADERS,
    ANN_AUTH_REQUEST_REDIRECT,
    ANN_AUTH_ALWAYS_SET_COOKIE,
    ANN_USE_REGEX,
    ANN_REWRITE_TARGET,
    ANN_AUTH_TLS_SECRET,
    ANN_AUTH_TLS_VERIFY_CLIENT,
    ANN_AUTH_TLS_VERIFY_DEPTH,
    ANN_AUTH_TLS_ERROR_PAGE,
    ANN_AUTH_TLS_PASS_CERTIFICATE,
    ANN_AUTH_TLS_MATCH_CN,
    ANN_CANARY,
    ANN_CANARY_BY_COOKIE,
    ANN_CANARY_BY_HEADER,
    ANN_CANARY_BY_HEADER_PATTERN,
    ANN_CANARY_BY_HEADER_VALUE,
    ANN_CANARY_WEIGHT,
    ANN_CANARY_WEIGHT_TOTAL,
    ANN_AUTH_CACHE_KEY,
    ANN_AUTH_CACHE_DURATION,
    ANN_CUSTOM_HTTP_ERRORS,
    ANN_DEFAULT_BACKEND,
    ANN_DISABLE_PROXY_INTERCEPT_ERRORS,
    ANN_AFFINITY,
    ANN_AFFINITY_MODE,
    ANN_AFFINITY_CANARY_BEHAVIOR,
    ANN_SESSION_COOKIE_NAME,
    ANN_SESSION_COOKIE_PATH,
    ANN_SESSION_COOKIE_DOMAIN,
    ANN_SESSION_COOKIE_MAX_AGE,
    ANN_SESSION_COOKIE_EXPIRES,
    ANN_SESSION_COOKIE_SAMESITE,
    ANN_SESSION_COOKIE_CONDITIONAL_SAMESITE_NONE,
    ANN_SESSION_COOKIE_SECURE,
    ANN_SESSION_COOKIE_CHANGE_ON_FAILURE,
    ANN_ID_COUNT
};

typedef int (*ann_grammar)(const char *value, size_t len, char *err,
                           size_t errlen);

struct ann_def {
    const char *name;           /* without prefix, e.g. "proxy-body-size" */
    enum ann_state state;
    unsigned flags;             /* ANN_ACCESS, ANN_SNIPPET */
    enum ann_id id;             /* supported: its id */
    ann_grammar grammar;        /* supported: the strict grammar */
    enum ann_effect effect;     /* supported: what it renders */
    const char *directive;      /* ANN_EFFECT_PROFILE: the nginx directive
                                   rendered with the (quoted) value; NULL:
                                   rendered by render.c with others
                                   (headers, the pass line, ...) */
    const char *why;            /* refused / ignored: the reason, and what
                                   to use instead */
    const char *alias_of;       /* another name for that entry's setting */
};

/* The table, sorted by name. */
extern const struct ann_def ann_table[];
extern const size_t ann_table_len;

/* The entry of a name (without prefix), or NULL. */
const struct ann_def *ann_lookup(const char *name);
/* The entry of a supported id. */
const struct ann_def *ann_def_of(enum ann_id id);

/* How the annotations of Ingresses are read (zero: the defaults). */
struct ann_config {
    const char *nginx_prefix;   /* NULL: ANN_NGINX_PREFIX */
    int nginx_prefix_off;       /* read portico.io/ only */
    int allow_unenforced_access;    /* serve ANN_ACCESS entries that are
                                       refused, without the restriction */
};

/* A validated value of a supported annotation. */
struct ann_value {
    enum ann_id id;
    char *value;
};

/* What became of one annotation under our prefixes. */
enum ann_outcome {
    ANN_APPLIED,        /* supported and valid */
    ANN_NOT_APPLIED,    /* an ignored entry */
    ANN_UNENFORCED,     /* an access entry served without it (the flag) */
    ANN_UNKNOWN,        /* not in the table */
    ANN_SHADOWED,       /* the same name under portico.io/ is used */
    ANN_REFUSING,       /* refuses the Ingress (refused entry, or a value
                           failing its grammar, or not a string) */
    ANN_OUTCOME_COUNT
};

struct ann_finding {
    char *key;                  /* the full key, as written */
    enum ann_outcome outcome;
    char *reason;               /* why (NULL for ANN_APPLIED) */
};

/* One Ingress's annotations, read. */
struct ann_result {
    struct ann_value *values;   /* sorted by id, at most one per id */
    size_t nvalues;
    struct ann_finding *findings;   /* in key order */
    size_t nfindings;
    size_t refusing;            /* findings with ANN_REFUSING */
};

/* Reads the annotations object of an Ingress (may be NULL). keep_applied:
 * also record a finding for every applied annotation (lint mode; the
 * controller keeps only what must be reported). 0, or -1 out of memory
 * (res is then empty). res->refusing > 0 means the Ingress must be
 * refused; ann_refusal() gives the reason. */
int ann_read(const struct ann_config *c, struct json_object *annotations,
             int keep_applied, struct ann_result *res);
void ann_result_free(struct ann_result *res);

/* The value of a supported annotation, or NULL when not set. */
const char *ann_get(const struct ann_result *res, enum ann_id id);

/* The reason an Ingress is refused, naming every refusing annotation
 * (as many as fit in errlen). */
void ann_refusal(const struct ann_result *res, char *err, size_t errlen);
/* One line about the annotations that are not applied (unknown,
 * ignored, unenforced, shadowed) for a served Ingress; "" when none. */
void ann_notice(const struct ann_result *res, char *out, size_t outlen);

const char *ann_outcome_name(enum ann_outcome o);
const char *ann_state_name(enum ann_state s);

/* Checks an --annotations-prefix value: a DNS-1123 subdomain, not
 * portico.io. 0 or -1 with a reason. */
int ann_check_prefix(const char *prefix, char *err, size_t errlen);

#endif
