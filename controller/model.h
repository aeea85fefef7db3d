/*
 * model.h - from the store to what nginx must serve: servers (one per
 * host, plus the default server) with their locations, and upstreams (one
 * per Service port).
 *
 * The Ingress spec, exactly:
 * - Exact /p       -> LOC_EXACT /p        (the URI equals /p)
 * - Prefix /p      -> LOC_ELEMENTS /p     (whole path elements; a trailing
 *                     slash on /p is ignored); Prefix / -> LOC_PREFIX /
 * - ImplementationSpecific /p -> LOC_PREFIX /p (a plain string prefix)
 * Locations are sorted exact first, then the others longest path first
 * (Prefix before ImplementationSpecific on the same path); routes.c
 * writes them in this order into the route table, whose matcher tries
 * exact rules first and then the others in order: the spec's "longest
 * match wins; Exact beats Prefix". Wildcard hosts cover exactly one label.
 *
 * Regex paths, as ingress-nginx: when one location of a host comes from
 * an Ingress with use-regex "true", or with a rewrite-target other than
 * its path, every path of that host is a case-insensitive regular
 * expression anchored at the start (LOC_REGEX, nginx's ~* "^p"),
 * whatever its Ingress and type: a Prefix /p of another Ingress becomes
 * "^/p/" and "^/p" (ingress-nginx's two locations for it), an Exact /p
 * "^/p". They are ordered longest path first, then by path in reverse
 * byte order (ingress-nginx's two stable sorts), and tried in that order
 * (the first match wins). A converted path that PCRE2 refuses or that is
 * too costly (regex.h) is left out with a warning.
 *
 * Ingresses are processed oldest first (creationTimestamp, then
 * namespace/name): on any conflict (same host and nginx location, the
 * default backend, TLS of a host) the oldest wins, deterministically. An
 * Ingress with any invalid string is rejected as a whole with a reason;
 * the others are still served.
 */
#ifndef PORTICO_CONTROLLER_MODEL_H
#define PORTICO_CONTROLLER_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "controller/annotations.h"
#include "controller/store.h"

#define MODEL_UPSTREAM_NAME_MAX 160
#define MODEL_WARNING_MAX       512
#define MODEL_PORT_MAX          16      /* "65535" or a port name (15) */

enum loc_match {
    LOC_EXACT,      /* Exact: location = "/p" */
    LOC_PREFIX,     /* ImplementationSpecific: a plain string prefix */
    LOC_ELEMENTS,   /* Prefix: whole path elements, "/p" and "/p/..." */
    LOC_REGEX,      /* a host with regex paths: ~* "^p" (see below) */
};

struct model_location {
    enum loc_match match;
    int has_canary;         /* a canary Ingress has the same host and
                               path (ingress-nginx's alternative backend) */
    char *path;             /* validated: [A-Za-z0-9] and -._~/!*'()+,:@=&,
                               a regex path also ^$[]{}?|\% */
    char *raw;              /* the path as the Ingress wrote it, when it
                               differs (a Prefix's trailing '/'), or NULL */
    const char *upstream;   /* the upstream's name (owned by it), or NULL:
                               the backend cannot be resolved -> 503 */
    char *service;          /* the backend's Service name (metrics label) */
    char port[MODEL_PORT_MAX];  /* its port as the Ingress names it */
    size_t ingress;         /* index in model.ings (its options apply) */
    int priority;           /* 0: from Exact, 1: from Prefix/ImplSpecific */
    int regex;              /* its Ingress makes it a regex (use-regex, or a
                               rewrite-target other than the path) */
    const char *rewrite;    /* LOC_REGEX: the rewrite-target to apply (in
                               its Ingress's annotations), or NULL */
    size_t seq;             /* merge order, for ties in sorting */
    const char *canary;     /* has_canary: its upstream (owned by it) */
    size_t canary_ingress;  /* its Ingress (its canary-* values apply) */
};

struct model_server {
    char *host;             /* NULL for the default server */
    int wildcard;
    int unchanged;          /* made as in the model built before with
                               the same cache (see below) */
    struct model_location *locs;
    size_t nlocs, caplocs;
    int has_fallback;       /* an Ingress defaultBackend applies here */
    int redirect;           /* 308 http -> https */
    const char *fallback;   /* its upstream, or NULL (503) */
    char *fallback_service; /* its Service name */
    char fallback_port[MODEL_PORT_MAX];
    size_t fallback_ingress;
    char *crt, *key;        /* certificate files, or NULL (default cert) */
    const char *client;     /* client certificate words of the table line
                               (clientcert.h; owned by the Ingress, or
                               CLIENTCERT_DENY), or NULL */
    const char *ca_file;    /* the CA file they name, or NULL */
    size_t client_owner;    /* the Ingress they come from */
    size_t owner;           /* oldest Ingress contributing */
    int regex;              /* its paths are regexes (below) */
    int borrowed;           /* its strings (host, the locations' paths,
                               services, upstreams) belong to a merge
                               memo the model holds (model.c); its locs
                               array is in one of the model's
                               loc_blocks */
};

/* model_server.unchanged: 1 when the server was made from the same merge
 * memo (model.c: the same compiled version of its one Ingress, the same
 * answers of its Services) as the server of the same host in the
 * previous model_build() with the same model_opts.cache (whatever became
 * of that model). Its fields then equal that server's but for Ingress
 * indexes (owner, locs[].ingress and .seq), which may shift; what the
 * render writes of its fields and of its Ingress's own options (name,
 * annotations) is then the same bytes. 0 says nothing. */

struct model_upstream {
    char *name;             /* uH..._ns_svc_port (4-15 hex digits) */
    char *server;           /* host:port, resolved by the module */
    size_t owner;           /* the oldest Ingress using it (index in ings) */
    int borrowed;           /* name and server belong to a merge memo */
};

enum ingress_state {
    ING_SERVED,
    ING_REJECTED,           /* failed validation */
    ING_EXCLUDED,           /* left out because nginx -t failed on it */
    ING_STATE_COUNT
};

struct model_compiled;          /* model.c: one Ingress version, checked */
struct merge_memo;              /* model.c: what merging one Ingress gave */
struct model_cache;             /* model.c: what builds keep */

struct model_ingress {
    char *ns, *name, *uid;
    time_t created;
    uint64_t content_hash;  /* of labels, annotations and spec */
    enum ingress_state state;
    char *reason;           /* rejection/exclusion reason, or NULL */
    char **hosts;           /* rule and tls hosts, deduplicated */
    size_t nhosts;
    /* Its ExternalDNS annotations (model_opts.externaldns_prefix), the
     * prefix taken off, for its DNSEndpoint; NULL when none. */
    struct json_object *externaldns;
    /* Its annotations (annotations.h): validated values of the supported
     * ones, and findings: what was not applied (unknown, ignored, ...),
     * plus the applied ones with model_opts.keep_applied_annotations. */
    struct ann_result ann;
    char *notice;           /* served, but annotations not applied: one
                               line (ann_notice), or NULL */
    char *auth_file;        /* basic authentication: the password file of
                               its auth-secret (model_auth), or NULL */
    char *client;           /* auth-tls-*: the certificate table words
                               of its hosts (clientcert.h), or NULL */
    char *ca_file;          /* the CA file of auth-tls-secret, or NULL */
    const char *default_backend;    /* default-backend: the upstream of its
                                       Service's first port (owned by it),
                                       or NULL */
    struct model_compiled *compiled;    /* model.c: owns the strings above
                                           but reason, or NULL */
};

struct model {
    struct model_ingress *ings;     /* selected Ingresses, oldest first */
    size_t ning;
    struct model_server def;        /* default server */
    struct model_server *servers;   /* sorted by host */
    size_t nservers;
    struct model_upstream *ups;     /* sorted by name */
    size_t nups;
    char **vault_hosts;             /* hosts of ssl: "true" Ingresses, sorted */
    size_t nvault;
    uint64_t vault_digest;          /* changes when any ssl: "true" Ingress
                                       changes (order-independent) */
    char **warnings;                /* conflicts, unresolved backends, TLS
                                       problems: one line each */
    size_t nwarnings;
    struct merge_memo **memos;      /* model.c: the memos its borrowed
                                       servers and upstreams come from
                                       (a reference each) */
    size_t nmemos;
    struct model_location **loc_blocks;     /* model.c: the locations of
                                               borrowed servers */
    size_t nloc_blocks;
};

/* TLS material lookups, so that the model stays testable without files. */
struct model_tls {
    /* Paths of the validated pair of Secret ns/name covering host.
     * 0 with malloc'd paths, or -1 with a reason. */
    int (*secret)(void *ctx, const char *ns, const char *name,
                  const char *host, char **crt, char **key, char *err,
                  size_t errlen);
    /* Paths of the Vault pair served for host: 0, or -1 (none yet). */
    int (*vault)(void *ctx, const char *host, char **crt, char **key);
    /* The CA file (ca.crt, then ca.crl) of Secret ns/name, validated
     * and written: 0 with a malloc'd path DIR/STEM.ca, or -1 with a
     * reason. NULL: only the annotations are checked (lint). */
    int (*ca)(void *ctx, const char *ns, const char *name, char **path,
              char *err, size_t errlen);
    void *ctx;
};

/* Files made from Secrets for access control (access.h). */
struct model_auth {
    /* The password file of Secret ns/name (map: auth-secret-type
     * auth-map), written when it changed: 0 with a malloc'd path, or -1
     * with a reason. NULL: basic authentication refuses its Ingress. */
    int (*htpasswd)(void *ctx, const char *ns, const char *name, int map,
                    char **path, char *err, size_t errlen);
    void *ctx;
};

struct regex_memo;

struct model_opts {
    const char *controller_class;   /* portico.io/ingress-controller */
    const char *ingress_class;      /* portico */
    int watch_without_class;
    const char *cluster_domain;     /* cluster.local */
    const char *externaldns_prefix; /* ExternalDNS's annotation prefix, or
                                       NULL: not read */
    struct ann_config annotations;  /* prefixes, fail-closed override */
    int keep_applied_annotations;   /* findings for applied ones too (lint) */
    int select_all;                 /* every Ingress, whatever its class
                                       (lint) */
    struct model_tls tls;
    struct model_auth auth;
    struct regex_memo *regex_memo;  /* patterns checked already (regex.h),
                                       or NULL */
    /* 1 if this Ingress version must be left out (nginx -t failed on it),
     * with the reason; NULL: never. */
    int (*excluded)(void *ctx, const char *ns, const char *name,
                    uint64_t content_hash, const char **reason);
    void *excluded_ctx;
    /* What builds keep (model_cache_new), so that a build parses and
     * checks only the Ingress and Service versions it has not met, and
     * its cost is mostly merging; NULL: nothing is kept. One cache serves
     * one store with the same options (but excluded). */
    struct model_cache *cache;
};

/* 1 if the Ingress belongs to us (class rules of model.h's caller). */
int model_ingress_selected(const struct store *s, struct json_object *ing,
                           const struct model_opts *o);
/* 0, or -1 out of memory. */
int model_build(struct model *m, const struct store *s,
                const struct model_opts *o);
void model_free(struct model *m);
/* NULL out of memory. Models built with a cache may outlive it. */
struct model_cache *model_cache_new(void);
void model_cache_free(struct model_cache *c);
/* The strings of the cache's compiled Ingresses that are not in their
 * blocks (each compiled Ingress keeps its strings in two allocations),
 * plus its Service summaries and their upstreams that are not one block
 * each: 0 unless out of memory struck while packing. For tests. */
size_t model_cache_loose_strings(const struct model_cache *c);
/* 1 when the cache's last build put the store's changed Ingresses in
 * the order of the build before (the store's feed), 0 when it sorted
 * them all. For tests. */
int model_cache_patched(const struct model_cache *c);
size_t model_count_state(const struct model *m, enum ingress_state st);
const char *ingress_state_name(enum ingress_state st);

/* from-to-www-redirect: the other name of host ("www." added, or taken
 * away when host starts with it) into out; 0, or -1 when there is none
 * (a wildcard, a name that would be too long or have a single label). */
int model_www_twin(const char *host, char *out, size_t outlen);

/* A canary Ingress's canary-weight-total as ingress-nginx's balancer uses
 * it: the annotation, or MODEL_CANARY_TOTAL when it is absent or less. */
#define MODEL_CANARY_TOTAL 100
long model_canary_total(const struct model_ingress *mi);

/* 1 when the annotation is set to a true value (strconv.ParseBool). */
int model_ann_true(const struct model_ingress *mi, enum ann_id id);

/* The cookie of session affinity when session-cookie-name is not set
 * (ingress-nginx's default). */
#define MODEL_AFFINITY_COOKIE "INGRESSCOOKIE"

/* "2026-01-02T03:04:05Z" -> seconds; 0 when absent or malformed. */
time_t model_parse_time(const char *s);

#endif
