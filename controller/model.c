/* model.c - Ingresses, Services and Secrets to servers, locations and
 * upstreams (see model.h). */
#include "controller/model.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "keytable.h"
#include "log.h"
#include "controller/access.h"
#include "controller/clientcert.h"
#include "controller/kube/externaldns.h"
#include "controller/object.h"
#include "controller/regex.h"
#include "controller/validate.h"

#define REASON_MAX 512
#define SUB_MAX    256     /* a nested reason, prefixed into REASON_MAX */
#define PORT_MAX   65535
#define UPSTREAM_HASH_MIN_DIGITS   4
#define UPSTREAM_HASH_EXTRA_DIGITS 12     /* 4..15 hex digits */
#define HOST_INDEX_START 64
#define SERVICES_NAMED_MAX 64   /* changed Services memo_current compares */

static const char *const state_names[ING_STATE_COUNT] = {
    [ING_SERVED] = "served",
    [ING_REJECTED] = "rejected",
    [ING_EXCLUDED] = "excluded",
};

const char *ingress_state_name(enum ingress_state st)
{
    return st < ING_STATE_COUNT ? state_names[st] : "unknown";
}

size_t model_count_state(const struct model *m, enum ingress_state st)
{
    size_t n = 0;

    for (size_t i = 0; i < m->ning; i++)
        n += m->ings[i].state == st;
    return n;
}

time_t model_parse_time(const char *s)
{
    return (time_t)k8s_parse_time(s);
}

/* ---- class selection --------------------------------------------------- */

static int class_is_ours(const struct store *s, const char *name,
                         const struct model_opts *o)
{
    struct json_object *ic = store_get(s, RK_INGRESS_CLASS, NULL, name);
    const char *ctl = ic ? k8s_str(ic, "spec.controller") : NULL;
    int ours = ctl && strcmp(ctl, o->controller_class) == 0;

    json_object_put(ic);
    return ours;
}

static const char *annotation(struct json_object *obj, const char *key)
{
    struct json_object *ann = k8s_get(obj, "metadata.annotations"), *v;

    if (!ann || !json_object_is_type(ann, json_type_object) ||
        !json_object_object_get_ex(ann, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int label_true(struct json_object *obj, const char *key)
{
    struct json_object *l = k8s_get(obj, "metadata.labels"), *v;

    return l && json_object_is_type(l, json_type_object) &&
           json_object_object_get_ex(l, key, &v) &&
           json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), "true") == 0;
}

static int our_default_class_exists(const struct store *s,
                                    const struct model_opts *o)
{
    const struct store_entry **ics;
    size_t n;
    int found = 0;

    if (store_entries(s, RK_INGRESS_CLASS, &ics, &n) < 0)
        return 0;
    for (size_t i = 0; i < n && !found; i++) {
        struct json_object *ic = store_entry_parse(ics[i]);
        const char *ctl = k8s_str(ic, "spec.controller");
        const char *def =
            annotation(ic, "ingressclass.kubernetes.io/is-default-class");
        found = ctl && strcmp(ctl, o->controller_class) == 0 && def &&
                strcmp(def, "true") == 0;
        json_object_put(ic);
    }
    free(ics);
    return found;
}

/* What selected() learnt during one build: every Ingress names a class,
 * and parsing that IngressClass again for each of 10k Ingresses cost 6%
 * of a build. */
struct class_cache {
    int default_class;          /* -1 unknown, else the answer */
    char name[VALIDATE_SUBDOMAIN_MAX + 1];     /* last class looked up */
    int ours;                   /* its answer; name "" = none yet */
};

/* cls: spec.ingressClassName, legacy: the kubernetes.io/ingress.class
 * annotation (either NULL when absent). */
static int selected(const struct store *s, const char *cls,
                    const char *legacy, const struct model_opts *o,
                    struct class_cache *c)
{
    if (cls) {
        if (c->name[0] && strcmp(c->name, cls) == 0)
            return c->ours;
        c->ours = class_is_ours(s, cls, o);
        snprintf(c->name, sizeof(c->name), "%s", cls);
        if (strcmp(c->name, cls) != 0)
            c->name[0] = '\0';        /* too long to remember: ask again */
        return c->ours;
    }
    if (legacy)
        return strcmp(legacy, o->ingress_class) == 0;
    if (o->watch_without_class)
        return 1;
    if (c->default_class < 0)
        c->default_class = our_default_class_exists(s, o);
    return c->default_class;
}

int model_ingress_selected(const struct store *s, struct json_object *ing,
                           const struct model_opts *o)
{
    struct class_cache c = {.default_class = -1};

    return selected(s, k8s_str(ing, "spec.ingressClassName"),
                    annotation(ing, "kubernetes.io/ingress.class"), o, &c);
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t content_hash(struct json_object *ing)
{
    static const char *const parts[] = {"metadata.labels",
                                        "metadata.annotations", "spec"};
    uint64_t h = HASH_FNV1A64_INIT;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        struct json_object *v = k8s_get(ing, parts[i]);
        h = hash_fnv1a64_str(h, v ? json_object_to_json_string_ext(
                                        v, JSON_C_TO_STRING_PLAIN)
                                  : "-");
        h = hash_fnv1a64_str(h, "|");
    }
    return h;
}

/* A string member as (pointer, length); NULL when absent or not a string. */
static const char *str_len(struct json_object *obj, const char *path,
                           size_t *len)
{
    struct json_object *v = k8s_get(obj, path);

    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static int push_str(char ***arr, size_t *n, const char *s)
{
    char **a;

    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], s) == 0)
            return 0;
    a = realloc(*arr, (*n + 1) * sizeof(*a));
    if (!a)
        return -1;
    *arr = a;
    if (!(a[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- per-Ingress validation -------------------------------------------- */

/* One route of an Ingress, validated, before merging (in a pending list,
 * host, path, svc and port_name are its own copies). */
struct route {
    const char *host;           /* NULL: no host (default server) */
    enum loc_match match;
    char *path;                 /* nginx location path */
    const char *raw;            /* the Ingress's path when it differs */
    int regex;                  /* a regex path of its own (model.h) */
    int priority;
    const char *svc;
    long port_number;           /* or 0 with port_name */
    const char *port_name;
};

struct pending {
    struct route *routes;
    size_t n, cap;
    int has_default;
    const char *def_svc, *def_port_name;
    long def_port_number;
};

/* The routes array at its size (add_route doubles it; most Ingresses
 * have a few routes, and the cache keeps them all). */
static void pending_shrink(struct pending *p)
{
    struct route *r;

    if (p->cap <= p->n)
        return;
    if (p->n == 0) {
        free(p->routes);
        p->routes = NULL;
        p->cap = 0;
        return;
    }
    if ((r = realloc(p->routes, p->n * sizeof(*r)))) {
        p->routes = r;
        p->cap = p->n;
    }
}

/* *dst = a copy of src (NULL stays NULL); 0, or -1 out of memory. */
static int dup_opt(const char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int add_route(struct pending *p, const struct route *r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct route *nr = realloc(p->routes, cap * sizeof(*nr));
        if (!nr)
            return -1;
        p->routes = nr;
        p->cap = cap;
    }
    struct route *d = &p->routes[p->n];
    *d = *r;
    d->host = d->svc = d->port_name = d->raw = NULL;
    if (!(d->path = strdup(r->path)) || dup_opt(&d->host, r->host) < 0 ||
        dup_opt(&d->svc, r->svc) < 0 ||
        dup_opt(&d->port_name, r->port_name) < 0 ||
        (r->raw && strcmp(r->raw, r->path) != 0 &&
         !(d->raw = strdup(r->raw)))) {
        free(d->path);
        free((char *)d->host);
        free((char *)d->svc);
        free((char *)d->port_name);
        return -1;
    }
    p->n++;
    return 0;
}

/* Validates an IngressBackend; fills svc/port. */
static int check_backend(struct json_object *be, const char **svc,
                         long *port_number, const char **port_name,
                         char *err, size_t errlen)
{
    struct json_object *port;
    const char *s;
    size_t len;

    if (k8s_get(be, "resource")) {
        snprintf(err, errlen, "resource backends are not supported");
        return -1;
    }
    s = str_len(be, "service.name", &len);
    if (!s) {
        snprintf(err, errlen, "backend without service.name");
        return -1;
    }
    if (validate_dns_label(s, len, err, errlen) < 0)
        return -1;
    *svc = s;
    *port_number = 0;
    *port_name = NULL;
    port = k8s_get(be, "service.port.number");
    if (port) {
        int64_t v = json_object_get_int64(port);
        if (!json_object_is_type(port, json_type_int) || v < 1 ||
            v > PORT_MAX) {
            snprintf(err, errlen, "invalid service port number (1-65535)");
            return -1;
        }
        *port_number = (long)v;
        return 0;
    }
    s = str_len(be, "service.port.name", &len);
    if (!s) {
        snprintf(err, errlen, "backend service %s without port", *svc);
        return -1;
    }
    if (validate_port_name(s, len, err, errlen) < 0)
        return -1;
    *port_name = s;
    return 0;
}

/* Reads the annotations through the annotation layer; -1 with the
 * reason when one of them refuses the Ingress. */
static int check_annotations(struct json_object *ing,
                             struct model_ingress *mi,
                             const struct model_opts *o, char *err,
                             size_t errlen)
{
    char notice[REASON_MAX];

    if (ann_read(&o->annotations, k8s_get(ing, "metadata.annotations"),
                 o->keep_applied_annotations, &mi->ann) < 0) {
        snprintf(err, errlen, "out of memory reading annotations");
        return -1;
    }
    if (mi->ann.refusing) {
        ann_refusal(&mi->ann, err, errlen);
        return -1;
    }
    if (access_resolve(mi, &o->auth, err, errlen) < 0 ||
        clientcert_resolve(mi, &o->tls, err, errlen) < 0)
        return -1;
    ann_notice(&mi->ann, notice, sizeof(notice));
    if (notice[0] && !(mi->notice = strdup(notice))) {
        snprintf(err, errlen, "out of memory reading annotations");
        return -1;
    }
    return 0;
}

int model_ann_true(const struct model_ingress *mi, enum ann_id id)
{
    const char *v = ann_get(&mi->ann, id);

    return v && validate_bool_value(v, strlen(v)) == 1;
}

/* use-regex "true", or a rewrite-target other than the path: the path
 * is a regular expression (ingress-nginx's UseRegex and needsRewrite). */
static int regex_of_its_own(const struct model_ingress *mi, const char *path)
{
    const char *target = ann_get(&mi->ann, ANN_REWRITE_TARGET);

    return model_ann_true(mi, ANN_USE_REGEX) ||
           (target && strcmp(target, path));
}

/* canary-weight-total as ingress-nginx's balancer reads it: below 100,
 * 100 (model.h). */
long model_canary_total(const struct model_ingress *mi)
{
    const char *t = ann_get(&mi->ann, ANN_CANARY_WEIGHT_TOTAL);
    long total = t ? strtol(t, NULL, 10) : MODEL_CANARY_TOTAL;

    return total < MODEL_CANARY_TOTAL ? MODEL_CANARY_TOTAL : total;
}

/* The canary annotations: only with canary "true" (ingress-nginx refuses
 * them otherwise too); a weight within the total; a header pattern that
 * PCRE2 takes and that stays within the match limits (regex.h). */
static int check_canary(const struct model_ingress *mi,
                        const struct model_opts *o, char *err, size_t errlen)
{
    static const enum ann_id words[] = {
        ANN_CANARY_BY_COOKIE, ANN_CANARY_BY_HEADER,
        ANN_CANARY_BY_HEADER_PATTERN, ANN_CANARY_BY_HEADER_VALUE,
        ANN_CANARY_WEIGHT, ANN_CANARY_WEIGHT_TOTAL,
    };
    const char *weight = ann_get(&mi->ann, ANN_CANARY_WEIGHT);
    const char *pattern = ann_get(&mi->ann, ANN_CANARY_BY_HEADER_PATTERN);
    char sub[SUB_MAX];

    if (!model_ann_true(mi, ANN_CANARY)) {
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (ann_get(&mi->ann, words[i])) {
                snprintf(err, errlen, "%s is set but canary is not "
                         "\"true\"", ann_def_of(words[i])->name);
                return -1;
            }
        return 0;
    }
    if (weight && strtol(weight, NULL, 10) > model_canary_total(mi)) {
        snprintf(err, errlen, "canary-weight %s is more than the "
                 "canary-weight-total %ld", weight, model_canary_total(mi));
        return -1;
    }
    if (pattern &&
        regex_check(pattern, strlen(pattern), REGEX_HEADER, o->regex_memo,
                    sub, sizeof(sub)) < 0) {
        snprintf(err, errlen, "canary-by-header-pattern %s: %s", pattern,
                 sub);
        return -1;
    }
    return 0;
}

/* Expands one HTTPIngressPath into nginx locations. A regex path
 * (ImplementationSpecific may use the regex characters, as ingress-nginx's
 * strict path validation allows) is compiled and probed (regex.h). */
static int expand_path(struct pending *p, const struct model_ingress *mi,
                       const struct model_opts *o, const char *host,
                       const char *type, const char *path, size_t len,
                       const char *svc, long port_number,
                       const char *port_name, char *err, size_t errlen)
{
    struct route r = {.host = host, .svc = svc, .port_number = port_number,
                      .port_name = port_name, .raw = path};
    char buf[VALIDATE_PATH_MAX + 2];
    char sub[SUB_MAX];

    r.regex = regex_of_its_own(mi, path);
    if (r.regex && strcmp(type, "ImplementationSpecific") == 0) {
        if (validate_regex_path(path, len, err, errlen) < 0)
            return -1;
    } else if (validate_path(path, len, err, errlen) < 0) {
        return -1;
    }
    if (r.regex && ann_get(&mi->ann, ANN_AFFINITY) &&
        !ann_get(&mi->ann, ANN_SESSION_COOKIE_PATH)) {
        snprintf(err, errlen, "path %s is a regular expression (use-regex "
                              "or rewrite-target): session affinity needs "
                              "session-cookie-path, a cookie's path cannot "
                              "be a pattern", path);
        return -1;
    }
    if (r.regex &&
        regex_check(path, len, REGEX_ROUTE, o->regex_memo, sub,
                    sizeof(sub)) < 0) {
        snprintf(err, errlen, "path %s (a regular expression: use-regex "
                              "or rewrite-target): %s", path, sub);
        return -1;
    }
    if (strcmp(type, "Exact") == 0) {
        r.match = LOC_EXACT;
        r.priority = 0;
        r.path = (char *)path;
        return add_route(p, &r);
    }
    if (strcmp(type, "ImplementationSpecific") == 0) {
        r.match = LOC_PREFIX;
        r.priority = 1;
        r.path = (char *)path;
        return add_route(p, &r);
    }
    if (strcmp(type, "Prefix") != 0) {
        snprintf(err, errlen, "invalid pathType (Exact, Prefix or "
                              "ImplementationSpecific)");
        return -1;
    }
    /* Prefix: strip trailing slashes; "/" stays a plain prefix. */
    memcpy(buf, path, len);
    while (len > 1 && buf[len - 1] == '/')
        len--;
    buf[len] = '\0';
    r.priority = 1;
    r.match = strcmp(buf, "/") == 0 ? LOC_PREFIX : LOC_ELEMENTS;
    r.path = buf;
    return add_route(p, &r);
}

/* Validates the whole Ingress into p and mi; -1 with a reason. */
static int check_ingress(struct json_object *ing, struct model_ingress *mi,
                         const struct model_opts *o, struct pending *p,
                         char *err, size_t errlen)
{
    struct json_object *rules, *tls, *def;
    const char *s;
    size_t len;

    s = str_len(ing, "metadata.namespace", &len);
    if (!s || validate_dns_label(s, len, err, errlen) < 0)
        return s ? -1 : (snprintf(err, errlen, "no namespace"), -1);
    s = str_len(ing, "metadata.name", &len);
    if (!s || validate_dns_subdomain(s, len, err, errlen) < 0)
        return s ? -1 : (snprintf(err, errlen, "no name"), -1);
    if (check_annotations(ing, mi, o, err, errlen) < 0 ||
        check_canary(mi, o, err, errlen) < 0)
        return -1;

    def = k8s_get(ing, "spec.defaultBackend");
    if (def) {
        char sub[SUB_MAX];
        const char *svc, *port_name;
        if (check_backend(def, &svc, &p->def_port_number, &port_name, sub,
                          sizeof(sub)) < 0) {
            snprintf(err, errlen, "defaultBackend: %s", sub);
            return -1;
        }
        if (dup_opt(&p->def_svc, svc) < 0 ||
            dup_opt(&p->def_port_name, port_name) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->has_default = 1;
    }

    rules = k8s_get(ing, "spec.rules");
    if (rules && !json_object_is_type(rules, json_type_array)) {
        snprintf(err, errlen, "spec.rules is not a list");
        return -1;
    }
    for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
        struct json_object *rule = json_object_array_get_idx(rules, i);
        struct json_object *paths = k8s_get(rule, "http.paths");
        const char *host = str_len(rule, "host", &len);
        if (host && len == 0)
            host = NULL;
        if (host) {
            if (validate_host(host, len, err, errlen) < 0)
                return -1;
            if (push_str(&mi->hosts, &mi->nhosts, host) < 0)
                return -1;
        }
        if (!paths)
            continue;
        if (!json_object_is_type(paths, json_type_array)) {
            snprintf(err, errlen, "http.paths is not a list");
            return -1;
        }
        for (size_t j = 0; j < json_object_array_length(paths); j++) {
            struct json_object *hp = json_object_array_get_idx(paths, j);
            const char *type = k8s_str(hp, "pathType");
            const char *svc, *port_name;
            long port_number;
            char sub[SUB_MAX];
            const char *path = str_len(hp, "path", &len);
            if (!type) {
                snprintf(err, errlen, "path without pathType");
                return -1;
            }
            if (!path) {
                if (strcmp(type, "ImplementationSpecific") != 0) {
                    snprintf(err, errlen, "%s path without path", type);
                    return -1;
                }
                path = "/";
                len = 1;
            }
            if (check_backend(k8s_get(hp, "backend"), &svc, &port_number,
                              &port_name, sub, sizeof(sub)) < 0) {
                snprintf(err, errlen, "path backend: %s", sub);
                return -1;
            }
            if (expand_path(p, mi, o, host, type, path, len, svc,
                            port_number, port_name, err, errlen) < 0)
                return -1;
        }
    }

    tls = k8s_get(ing, "spec.tls");
    for (size_t i = 0; tls && json_object_is_type(tls, json_type_array) &&
                       i < json_object_array_length(tls);
         i++) {
        struct json_object *t = json_object_array_get_idx(tls, i);
        struct json_object *hosts = k8s_get(t, "hosts");
        s = str_len(t, "secretName", &len);
        if (s && validate_dns_subdomain(s, len, err, errlen) < 0)
            return -1;
        for (size_t j = 0; hosts && json_object_is_type(hosts, json_type_array) &&
                           j < json_object_array_length(hosts);
             j++) {
            struct json_object *h = json_object_array_get_idx(hosts, j);
            if (!json_object_is_type(h, json_type_string) ||
                validate_host(json_object_get_string(h),
                              (size_t)json_object_get_string_len(h), err,
                              errlen) < 0) {
                if (!json_object_is_type(h, json_type_string))
                    snprintf(err, errlen, "tls host is not a string");
                return -1;
            }
            if (push_str(&mi->hosts, &mi->nhosts, json_object_get_string(h)) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- what builds keep: compiled Ingresses and Services ---------------- */

/* The spec.tls entries of an Ingress, for apply_tls. */
struct tls_spec {
    char *secret;               /* secretName, or NULL */
    char **hosts;
    size_t nhosts;
};

/* One version of an Ingress (a store entry's rev), parsed and checked
 * once. Models borrow its model_ingress strings and hold a reference. */
struct model_compiled {
    char *key;                  /* the store key */
    unsigned long long rev;     /* of the store entry it was made from */
    int refs;                   /* the cache's, one per model */
    unsigned long seen;         /* the last build that met it */
    int parsed;                 /* 0: not JSON we can read (never served) */
    char *cls;                  /* spec.ingressClassName, or NULL */
    char *legacy;               /* kubernetes.io/ingress.class, or NULL */
    struct model_ingress mi;    /* describe(); then check_ingress()'s */
    int checked;                /* check_ingress() ran: valid, reason, p */
    int valid;
    char *reason;               /* why not valid */
    int reads_secrets;          /* its check read Secrets: checked anew
                                   by every build */
    struct pending p;           /* its routes */
    int vault, https_only;      /* labels ssl, httpsOnly (or the
                                   force-ssl-redirect annotation) */
    uint64_t vault_hash;        /* of the whole object, for vault_digest */
    struct tls_spec *tls;
    size_t ntls;
    /* Its strings live in two blocks (compiled_pack): what compile()
     * read, after the struct in its own allocation (size bytes in all),
     * and what compile_check() added, in strings (strings_size bytes).
     * 100k Ingresses are ~1.5M strings otherwise, each with its malloc
     * header and rounding. A string outside both (never, once packed)
     * is freed on its own. */
    size_t size;
    char *strings;
    size_t strings_size;
    struct merge_memo *memo;    /* what merging it alone gave, or NULL */
};

/* One version of a Service: what backend_upstream() needs. */
struct svc_port {
    char *name;                 /* or NULL */
    int has_port;
    long port;
    int target;                 /* targetPort: 0 absent, 1 a number, 2 a
                                   name */
    long target_port;
};

/* The upstream of one port of a Service, as backend_upstream() found it
 * (the same for every Ingress naming that port). */
struct svc_use {
    long number;                /* the Ingress's port number, or 0 */
    char *port_name;            /* or its port name */
    char *name, *server;        /* the upstream, or NULL: problem */
    char *problem;              /* "Service ns/x has no port 80", ... */
    char *strings;              /* the four above in one block
                                   (svc_use_pack), or NULL: each alone */
};

struct svc_summary {
    char *key;
    unsigned long long rev;
    unsigned long seen;
    struct svc_use *uses;
    size_t nuses;
    int external;               /* type ExternalName */
    char *ext;                  /* its name without a final dot, or NULL */
    char *ext_problem;          /* why it cannot be used, or NULL */
    int headless;               /* clusterIP None */
    struct svc_port *ports;
    size_t nports;
    int packed;                 /* one block: the struct, its ports, then
                                   key, ext, ext_problem and port names
                                   (svc_summary_pack) */
};

struct model_cache {
    struct keytable ings;       /* store key -> struct model_compiled */
    struct keytable svcs;       /* store key -> struct svc_summary */
    unsigned long build;
    /* The store's Ingresses as the last build met them, oldest first
     * (cmp_entry_age), a reference to each: the next build puts those
     * the store's feed names since feed_mark in place (order_patch)
     * instead of sorting them all again. */
    struct model_compiled **order;
    size_t norder, caporder;
    int ordered;                /* order is the store's at feed_mark */
    int patched;                /* the last build patched it */
    unsigned long long feed_mark;
    /* The Services at the last build: their generation and feed mark
     * (memo_current), when services_known. */
    int services_known;
    unsigned long long services_gen, services_mark;
};

static void ingress_fields_free(struct model_ingress *mi)
{
    free(mi->ns);
    free(mi->name);
    free(mi->uid);
    for (size_t j = 0; j < mi->nhosts; j++)
        free(mi->hosts[j]);
    free(mi->hosts);
    ann_result_free(&mi->ann);
    json_object_put(mi->externaldns);
    free(mi->notice);
    free(mi->auth_file);
    free(mi->client);
    free(mi->ca_file);
}

/* Calls visit on every string slot a compiled Ingress owns: those of
 * compile() first (the key, the class and the names), then those of
 * compile_check(). */
static void compiled_strings(struct model_compiled *c,
                             void (*visit)(char **s, void *arg), void *arg)
{
    struct model_ingress *mi = &c->mi;

    visit(&c->key, arg);
    visit(&c->cls, arg);
    visit(&c->legacy, arg);
    visit(&mi->ns, arg);
    visit(&mi->name, arg);
    visit(&mi->uid, arg);
    for (size_t i = 0; i < mi->nhosts; i++)
        visit(&mi->hosts[i], arg);
    for (size_t i = 0; i < mi->ann.nvalues; i++)
        visit(&mi->ann.values[i].value, arg);
    for (size_t i = 0; i < mi->ann.nfindings; i++) {
        visit(&mi->ann.findings[i].key, arg);
        visit(&mi->ann.findings[i].reason, arg);
    }
    visit(&mi->notice, arg);
    visit(&mi->auth_file, arg);
    visit(&mi->client, arg);
    visit(&mi->ca_file, arg);
    visit(&c->reason, arg);
    for (size_t i = 0; i < c->p.n; i++) {
        struct route *r = &c->p.routes[i];
        visit(&r->path, arg);
        visit((char **)&r->raw, arg);
        visit((char **)&r->host, arg);
        visit((char **)&r->svc, arg);
        visit((char **)&r->port_name, arg);
    }
    visit((char **)&c->p.def_svc, arg);
    visit((char **)&c->p.def_port_name, arg);
    for (size_t i = 0; i < c->ntls; i++) {
        visit(&c->tls[i].secret, arg);
        for (size_t j = 0; j < c->tls[i].nhosts; j++)
            visit(&c->tls[i].hosts[j], arg);
    }
}

/* 1 when s lies in one of c's blocks. */
static int compiled_packed(const struct model_compiled *c, const char *s)
{
    const char *self = (const char *)c;

    return (s >= self && s < self + c->size) ||
           (c->strings && s >= c->strings &&
            s < c->strings + c->strings_size);
}

/* What packing a compiled Ingress's strings needs: the one being packed,
 * the room its loose strings take, and where the next one goes. */
struct compiled_packing {
    struct model_compiled *c;
    size_t size;
    char *to;
};

static void count_loose(char **s, void *arg)
{
    struct compiled_packing *k = arg;

    if (*s && !compiled_packed(k->c, *s))
        k->size += strlen(*s) + 1;
}

static void move_loose(char **s, void *arg)
{
    struct compiled_packing *k = arg;
    size_t len;

    if (!*s || compiled_packed(k->c, *s))
        return;
    len = strlen(*s) + 1;
    memcpy(k->to, *s, len);
    free(*s);
    *s = k->to;
    k->to += len;
}

static void free_loose(char **s, void *arg)
{
    struct model_compiled *c = arg;

    if (*s && !compiled_packed(c, *s))
        free(*s);
    *s = NULL;
}

/* Moves c's loose strings into one block: the first time (c->size 0) a
 * new allocation of c and them, which replaces c (not yet shared: the
 * cache does not hold it); after that a block of its own in
 * c->strings (once: compile_check()). NULL out of memory (c is then
 * unchanged, and still the caller's). */
static struct model_compiled *compiled_pack(struct model_compiled *c)
{
    struct compiled_packing k = {.c = c};
    struct model_compiled *packed = c;
    char *block;

    compiled_strings(c, count_loose, &k);
    if (c->size == 0) {
        if (!(packed = malloc(sizeof(*c) + k.size)))
            return NULL;
        *packed = *c;
        packed->size = sizeof(*c) + k.size;
        block = (char *)(packed + 1);
    } else if (k.size == 0) {
        return c;
    } else {
        if (c->strings)
            return c;           /* (never: they stay loose) */
        if (!(block = malloc(k.size)))
            return NULL;
        c->strings = block;
        c->strings_size = k.size;
    }
    /* count_loose saw c's slots; move them from c's copy, then drop c */
    k.c = c;
    k.to = block;
    compiled_strings(packed, move_loose, &k);
    if (packed != c)
        free(c);
    return packed;
}
static void memo_unref(struct merge_memo *memo);

static void compiled_unref(struct model_compiled *c)
{
    if (!c || --c->refs > 0)
        return;
    memo_unref(c->memo);
    compiled_strings(c, free_loose, c);
    free(c->mi.hosts);
    free(c->mi.ann.values);
    free(c->mi.ann.findings);
    json_object_put(c->mi.externaldns);
    free(c->p.routes);
    for (size_t i = 0; i < c->ntls; i++)
        free(c->tls[i].hosts);
    free(c->tls);
    free(c->strings);
    free(c);
}

/* The string slots of a Service port's upstream. */
#define SVC_USE_STRINGS 4
static void svc_use_slots(struct svc_use *u, char **slots[SVC_USE_STRINGS])
{
    slots[0] = &u->port_name;
    slots[1] = &u->name;
    slots[2] = &u->server;
    slots[3] = &u->problem;
}

/* Moves u's strings into one block (100k Services: 100k allocations
 * instead of 200k-400k); out of memory they stay where they are. */
static void svc_use_pack(struct svc_use *u)
{
    char **slots[SVC_USE_STRINGS];
    size_t size = 0;
    char *to;

    svc_use_slots(u, slots);
    for (int i = 0; i < SVC_USE_STRINGS; i++)
        size += *slots[i] ? strlen(*slots[i]) + 1 : 0;
    if (u->strings || size == 0 || !(u->strings = to = malloc(size)))
        return;
    for (int i = 0; i < SVC_USE_STRINGS; i++) {
        if (!*slots[i])
            continue;
        size = strlen(*slots[i]) + 1;
        memcpy(to, *slots[i], size);
        free(*slots[i]);
        *slots[i] = to;
        to += size;
    }
}

static void svc_use_free(struct svc_use *u)
{
    char **slots[SVC_USE_STRINGS];

    svc_use_slots(u, slots);
    for (int i = 0; i < SVC_USE_STRINGS && !u->strings; i++)
        free(*slots[i]);
    free(u->strings);
}

/* Copies s (or NULL) to *to, which moves past it. */
static char *copy_to(char **to, const char *s)
{
    char *d = *to;
    size_t len;

    if (!s)
        return NULL;
    len = strlen(s) + 1;
    memcpy(d, s, len);
    *to += len;
    return d;
}

static void svc_summary_free(struct svc_summary *v);

/* v (not yet in the cache, without uses) as one block: the struct, its
 * ports, then its strings. The packed copy, or NULL out of memory (v is
 * then unchanged). */
static struct svc_summary *svc_summary_pack(struct svc_summary *v)
{
    size_t size = sizeof(*v) + v->nports * sizeof(*v->ports);
    struct svc_summary *p;
    char *to;

    size += strlen(v->key) + 1;
    size += v->ext ? strlen(v->ext) + 1 : 0;
    size += v->ext_problem ? strlen(v->ext_problem) + 1 : 0;
    for (size_t i = 0; i < v->nports; i++)
        size += v->ports[i].name ? strlen(v->ports[i].name) + 1 : 0;
    if (!(p = malloc(size)))
        return NULL;
    *p = *v;
    p->packed = 1;
    to = (char *)(p + 1);
    p->ports = v->nports ? memcpy(to, v->ports,
                                  v->nports * sizeof(*v->ports)) : NULL;
    to += v->nports * sizeof(*v->ports);
    p->key = copy_to(&to, v->key);
    p->ext = copy_to(&to, v->ext);
    p->ext_problem = copy_to(&to, v->ext_problem);
    for (size_t i = 0; i < v->nports; i++)
        p->ports[i].name = copy_to(&to, v->ports[i].name);
    svc_summary_free(v);
    return p;
}

static void svc_summary_free(struct svc_summary *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nuses; i++)
        svc_use_free(&v->uses[i]);
    free(v->uses);
    if (v->packed) {
        free(v);
        return;
    }
    free(v->key);
    free(v->ext);
    free(v->ext_problem);
    for (size_t i = 0; i < v->nports; i++)
        free(v->ports[i].name);
    free(v->ports);
    free(v);
}

static const char *compiled_key(const void *c)
{
    return ((const struct model_compiled *)c)->key;
}

static const char *svc_key(const void *v)
{
    return ((const struct svc_summary *)v)->key;
}

/* Forgets the order (its references). */
static void order_drop(struct model_cache *c)
{
    for (size_t i = 0; i < c->norder; i++)
        compiled_unref(c->order[i]);
    c->norder = 0;
    c->ordered = 0;
}

struct model_cache *model_cache_new(void)
{
    struct model_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    keytable_init(&c->ings, compiled_key);
    keytable_init(&c->svcs, svc_key);
    return c;
}

void model_cache_free(struct model_cache *c)
{
    void *v;
    size_t pos = 0;

    if (!c)
        return;
    while ((v = keytable_next(&c->ings, &pos)))
        compiled_unref(v);
    pos = 0;
    while ((v = keytable_next(&c->svcs, &pos)))
        svc_summary_free(v);
    keytable_fini(&c->ings);
    keytable_fini(&c->svcs);
    order_drop(c);
    free(c->order);
    free(c);
}

static void count_unpacked(char **s, void *arg)
{
    struct compiled_packing *k = arg;

    if (*s && !compiled_packed(k->c, *s))
        k->size++;
}

int model_cache_patched(const struct model_cache *c)
{
    return c->patched;
}

size_t model_cache_loose_strings(const struct model_cache *c)
{
    struct compiled_packing k = {0};
    size_t pos = 0;

    const struct svc_summary *v;

    while ((k.c = keytable_next(&c->ings, &pos)))
        compiled_strings(k.c, count_unpacked, &k);
    pos = 0;
    while ((v = keytable_next(&c->svcs, &pos))) {
        k.size += !v->packed;
        for (size_t i = 0; i < v->nuses; i++)
            k.size += !v->uses[i].strings;
    }
    return k.size;
}

/* Drops what the last build did not meet (deleted objects, old
 * versions). */
static int drop_unseen_compiled(void *v, void *arg)
{
    struct model_compiled *c = v;

    if (c->seen == *(unsigned long *)arg)
        return 0;
    compiled_unref(c);
    return 1;
}

static int drop_unseen_svc(void *v, void *arg)
{
    struct svc_summary *sv = v;

    if (sv->seen == *(unsigned long *)arg)
        return 0;
    svc_summary_free(sv);
    return 1;
}

/* Drops what the last build did not meet; the compiled Ingresses only
 * when it met them through the store (order_patch() drops those that
 * left it). */
static void cache_sweep(struct model_cache *c, int ings)
{
    if (ings)
        keytable_remove_if(&c->ings, drop_unseen_compiled, &c->build);
    keytable_remove_if(&c->svcs, drop_unseen_svc, &c->build);
}

/* The Service ns/name as backend_upstream() reads it; NULL when it does
 * not exist (or out of memory). */
static struct svc_summary *service(struct model_cache *c,
                                         const struct store *s,
                                         const char *ns, const char *name)
{
    const struct store_entry *e = store_lookup(s, RK_SERVICE, ns, name);
    struct json_object *svc, *ports;
    struct svc_summary *v, *old, *packed;
    const char *type, *ext, *cip;
    size_t len;
    char err[REASON_MAX];

    if (!e)
        return NULL;
    if ((v = keytable_get(&c->svcs, e->key)) && v->rev == e->rev) {
        v->seen = c->build;
        return v;
    }
    if (!(svc = store_entry_parse(e)) || !(v = calloc(1, sizeof(*v)))) {
        json_object_put(svc);
        return NULL;
    }
    v->rev = e->rev;
    v->seen = c->build;
    ports = k8s_get(svc, "spec.ports");
    if (ports && json_object_is_type(ports, json_type_array) &&
        json_object_array_length(ports) > 0) {
        v->nports = json_object_array_length(ports);
        if (!(v->ports = calloc(v->nports, sizeof(*v->ports))))
            goto oom;
    }
    for (size_t i = 0; i < v->nports; i++) {
        struct json_object *p = json_object_array_get_idx(ports, i);
        struct json_object *num = k8s_get(p, "port");
        struct json_object *tp = k8s_get(p, "targetPort");
        struct svc_port *sp = &v->ports[i];
        if (dup_opt((const char **)&sp->name, k8s_str(p, "name")) < 0)
            goto oom;
        sp->has_port = num != NULL;
        sp->port = num ? (long)json_object_get_int64(num) : 0;
        sp->target = !tp ? 0 : json_object_is_type(tp, json_type_int) ? 1 : 2;
        sp->target_port = sp->target == 1 ? (long)json_object_get_int64(tp)
                                          : 0;
    }
    type = k8s_str(svc, "spec.type");
    v->external = type && strcmp(type, "ExternalName") == 0;
    ext = str_len(svc, "spec.externalName", &len);
    if (v->external && !ext) {
        v->ext_problem = strdup("ExternalName without spec.externalName");
        if (!v->ext_problem)
            goto oom;
    } else if (v->external &&
               validate_external_name(ext, len, err, sizeof(err)) < 0) {
        if (!(v->ext_problem = strdup(err)))
            goto oom;
    } else if (v->external) {
        if (!(v->ext = strndup(ext, len && ext[len - 1] == '.' ? len - 1
                                                             : len)))
            goto oom;
    }
    cip = k8s_str(svc, "spec.clusterIP");
    v->headless = cip && strcmp(cip, "None") == 0;
    if (!(v->key = strdup(e->key)))
        goto oom;
    if (!(packed = svc_summary_pack(v)))
        goto oom;
    v = packed;
    if (keytable_put(&c->svcs, v, (void **)&old) < 0)
        goto oom;
    svc_summary_free(old);      /* its older version */
    json_object_put(svc);
    return v;
oom:
    json_object_put(svc);
    svc_summary_free(v);
    return NULL;
}

/* Finds the Service port for number or name; NULL if none. */
static const struct svc_port *service_port(const struct svc_summary *v,
                                           long number, const char *name)
{
    for (size_t i = 0; i < v->nports; i++) {
        const struct svc_port *p = &v->ports[i];
        if (name ? (p->name && strcmp(p->name, name) == 0)
                 : (p->has_port && p->port == number))
            return p;
    }
    return NULL;
}

/* ---- merge memos -------------------------------------------------------- */

/* A plain Ingress (memo_plain()) that is the only one to name its hosts
 * (not another Ingress's host, alias or www twin) merges into servers of
 * its own, and what that gives depends on nothing but its version and
 * the versions of the Services it names. The first build that merges it
 * keeps, with its compiled version, what the Services gave (the upstream
 * of each route, the warnings) and their store revisions; later builds
 * that find those revisions and its hosts still its own make its servers
 * from its routes and the memo (merge_replay()), with no Service lookup
 * and no string copied: the model borrows the compiled Ingress's strings
 * and the memo's upstream names, and holds a reference to both. A memo is
 * one allocation (about 200 bytes for a route or two); the Services of
 * memo'd Ingresses leave the cache's summaries. */
struct memo_service {
    const char *name;           /* a route's svc (the compiled Ingress's) */
    unsigned long long rev;     /* its store entry's, 0: none */
};

struct memo_upstream {
    const char *name, *server;
};

struct merge_memo {
    int refs;
    unsigned replayed;          /* the last build (cache->build) that
                                   replayed it (model_server.unchanged) */
    unsigned long long services_gen;    /* the store's Services then (or
                                           when found current since) */
    size_t nservices, nups, nroutes, nwarnings;
    struct memo_service *services;
    struct memo_upstream *ups;  /* every upstream the merge used, in the
                                   order it did */
    int *route_ups;             /* per route: its index in ups, or -1
                                   (503: the warning says why) */
    const char **warnings;
};

/* What recording a memo collects (strings borrowed for the build). */
struct memo_rec {
    struct memo_service *services;
    size_t nservices;
    struct memo_upstream *ups;
    size_t nups;
    int *calls;                 /* each backend_upstream() call's upstream
                                   (index in ups) or -1 */
    size_t ncalls;
    int failed;                 /* out of memory */
};

static void memo_unref(struct merge_memo *memo)
{
    if (memo && --memo->refs == 0)
        free(memo);
}

static void memo_rec_free(struct memo_rec *rec)
{
    free(rec->services);
    free(rec->ups);
    free(rec->calls);
    memset(rec, 0, sizeof(*rec));
}

/* Grows *arr (of size bytes items) to hold n + 1; 0, or -1. */
static int grow(void *arr, size_t n, size_t size)
{
    void *a = realloc(*(void **)arr, (n + 1) * size);

    if (!a)
        return -1;
    *(void **)arr = a;
    return 0;
}

static void memo_note_service(struct memo_rec *rec, const char *name,
                              unsigned long long rev)
{
    for (size_t i = 0; i < rec->nservices; i++)
        if (strcmp(rec->services[i].name, name) == 0)
            return;
    if (grow(&rec->services, rec->nservices, sizeof(*rec->services)) < 0) {
        rec->failed = 1;
        return;
    }
    rec->services[rec->nservices++] =
        (struct memo_service){.name = name, .rev = rev};
}

/* One backend_upstream() call's outcome: name/server, or NULL. */
static void memo_note_call(struct memo_rec *rec, const char *name,
                           const char *server)
{
    size_t i = 0;

    while (name && i < rec->nups && strcmp(rec->ups[i].name, name) != 0)
        i++;
    if (name && i == rec->nups) {
        if (grow(&rec->ups, rec->nups, sizeof(*rec->ups)) < 0) {
            rec->failed = 1;
            return;
        }
        rec->ups[rec->nups++] =
            (struct memo_upstream){.name = name, .server = server};
    }
    if (grow(&rec->calls, rec->ncalls, sizeof(*rec->calls)) < 0) {
        rec->failed = 1;
        return;
    }
    rec->calls[rec->ncalls++] = name ? (int)i : -1;
}

/* The memo of what rec saw and the warnings w..: one block. NULL out of
 * memory. */
static struct merge_memo *memo_pack(const struct memo_rec *rec,
                                    char *const *warnings, size_t nw)
{
    size_t size = sizeof(struct merge_memo) +
                  rec->nservices * sizeof(struct memo_service) +
                  rec->nups * sizeof(struct memo_upstream) +
                  nw * sizeof(char *) + rec->ncalls * sizeof(int);
    struct merge_memo *memo;
    char *to;

    for (size_t i = 0; i < rec->nups; i++)
        size += strlen(rec->ups[i].name) + strlen(rec->ups[i].server) + 2;
    for (size_t i = 0; i < nw; i++)
        size += strlen(warnings[i]) + 1;
    if (!(memo = malloc(size)))
        return NULL;
    memo->refs = 1;
    memo->replayed = 0;
    memo->nservices = rec->nservices;
    memo->nups = rec->nups;
    memo->nroutes = rec->ncalls;
    memo->nwarnings = nw;
    /* pointers first, then the ints, then the bytes */
    memo->services = (struct memo_service *)(memo + 1);
    memo->ups = (struct memo_upstream *)(memo->services + rec->nservices);
    memo->warnings = (const char **)(memo->ups + rec->nups);
    memo->route_ups = (int *)(memo->warnings + nw);
    to = (char *)(memo->route_ups + rec->ncalls);
    if (rec->nservices)
        memcpy(memo->services, rec->services,
               rec->nservices * sizeof(*rec->services));
    if (rec->ncalls)
        memcpy(memo->route_ups, rec->calls, rec->ncalls * sizeof(int));
    for (size_t i = 0; i < rec->nups; i++) {
        size_t n = strlen(rec->ups[i].name) + 1;
        memcpy(to, rec->ups[i].name, n);
        memo->ups[i].name = to;
        to += n;
        n = strlen(rec->ups[i].server) + 1;
        memcpy(to, rec->ups[i].server, n);
        memo->ups[i].server = to;
        to += n;
    }
    for (size_t i = 0; i < nw; i++) {
        size_t n = strlen(warnings[i]) + 1;
        memcpy(to, warnings[i], n);
        memo->warnings[i] = to;
        to += n;
    }
    return memo;
}

/* ---- backends ------------------------------------------------------------ */

struct builder {
    struct model *m;
    const struct store *s;
    const struct model_opts *o;
    struct model_cache *cache;
    struct lh_table *host_index;        /* host -> server index (not
                                           of memo'd servers) */
    struct keytable ups_index;          /* upstream names (the model's) */
    size_t capservers, capups, capmemos;
    struct json_object *deny_hosts;     /* hosts of refused Ingresses that
                                           asked for client certificates
                                           (a set) */
    size_t seq;                         /* locations merged so far */
    struct canary_route *canaries;      /* of canary Ingresses, oldest
                                           first, attached at the end */
    size_t ncanaries, capcanaries;
    int memos;                          /* merge memos are used (a build
                                           with a cache) */
    struct keytable claimed;            /* hosts an Ingress to be merged
                                           names (memos below: a host of
                                           one only) */
    struct keytable shared;             /* of those, hosts two or more
                                           name */
    struct json_object *other_claims;   /* aliases and www twins (a set) */
    struct memo_rec *rec;               /* the memo being recorded */
    size_t loc_left;                    /* in the last of m->loc_blocks */
    char *const *svc_changed;           /* keys of the Services changed
                                           since the last build (the
                                           store's feed), when known */
    size_t nsvc_changed;
    int svc_changes_known;
};

/* A path of a canary Ingress, waiting for the locations of the others. */
struct canary_route {
    char *host;                         /* NULL: no host */
    char *path;                         /* as the Ingress wrote it */
    const char *upstream;               /* NULL: cannot be resolved */
    size_t owner;
};

/* Indexes: keys borrowed (the servers' hosts, the upstreams' names). */
static int index_find(struct lh_table *t, const char *key, size_t *idx)
{
    void *v;

    if (!lh_table_lookup_ex(t, key, &v))
        return 0;
    if (idx)
        *idx = (size_t)(uintptr_t)v;
    return 1;
}

static int index_add(struct lh_table *t, const char *key, size_t idx)
{
    return lh_table_insert(t, key, (const void *)(uintptr_t)idx);
}

/* Records a problem that does not reject the Ingress (a missing
 * Service, a lost conflict). The reloader logs each one once. */
static void warn(struct builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(struct builder *b, const char *fmt, ...)
{
    struct model *m = b->m;
    char msg[MODEL_WARNING_MAX];
    va_list ap;
    char **w;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Parts may come from certificates: one printable line only. */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            *c = '?';
    w = realloc(m->warnings, (m->nwarnings + 1) * sizeof(*w));
    if (!w)
        return;
    m->warnings = w;
    if ((w[m->nwarnings] = strdup(msg)))
        m->nwarnings++;
}

/* What backend_upstream() finds for a port of Service svc_name: an
 * upstream (name and host:port) or a problem. 0, or -1 out of memory. */
static int find_upstream(const struct svc_summary *svc, const char *ns,
                         const char *svc_name, long number,
                         const char *port_name, const char *cluster_domain,
                         struct svc_use *use)
{
    const struct svc_port *port = service_port(svc, number, port_name);
    char host[512], name[MODEL_UPSTREAM_NAME_MAX], server[600];
    char problem[MODEL_WARNING_MAX];
    long target = 0;

    problem[0] = '\0';
    if (svc->external) {
        if (svc->ext_problem)
            snprintf(problem, sizeof(problem), "Service %s/%s: %s", ns,
                     svc_name, svc->ext_problem);
        else if (port_name && !port)
            snprintf(problem, sizeof(problem),
                     "Service %s/%s has no port named %s", ns, svc_name,
                     port_name);
        target = port ? port->port : number;
        if (!problem[0])
            snprintf(host, sizeof(host), "%s", svc->ext);
    } else {
        if (!port && port_name)
            snprintf(problem, sizeof(problem),
                     "Service %s/%s has no port named %s", ns, svc_name,
                     port_name);
        else if (!port)
            snprintf(problem, sizeof(problem),
                     "Service %s/%s has no port %ld", ns, svc_name, number);
        else
            target = port->port;
        /* Headless: DNS gives pod addresses, so use the target port. */
        if (port && svc->headless && port->target == 1)
            target = port->target_port;
        else if (port && svc->headless && port->target == 2)
            snprintf(problem, sizeof(problem),
                     "headless Service %s/%s uses a named targetPort, which "
                     "needs endpoints; 503", ns, svc_name);
        snprintf(host, sizeof(host), "%s.%s.svc.%s", svc_name, ns,
                 cluster_domain);
    }
    if (!problem[0] && (target < 1 || target > PORT_MAX))
        snprintf(problem, sizeof(problem),
                 "Service %s/%s: port out of range", ns, svc_name);
    use->number = number;
    if (dup_opt((const char **)&use->port_name, port_name) < 0)
        return -1;
    if (problem[0])
        return (use->problem = strdup(problem)) ? 0 : -1;
    /* A hash first, of varying length (it sped up nginx's linear upstream
     * lookup when upstreams were upstream{} blocks; names stay stable). */
    snprintf(server, sizeof(server), "%s/%s/%ld", ns, svc_name, target);
    uint64_t h = hash_fnv1a64_str(HASH_FNV1A64_INIT, server);
    char hex[17];
    int digits = UPSTREAM_HASH_MIN_DIGITS +
                 (int)(h % UPSTREAM_HASH_EXTRA_DIGITS);
    h *= 0x9e3779b97f4a7c15ULL;         /* mix the bits used below */
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
    snprintf(name, sizeof(name), "u%.*s_%s_%s_%ld", digits, hex, ns,
             svc_name, target);
    snprintf(server, sizeof(server), "%s:%ld", host, target);
    use->name = strdup(name);
    use->server = strdup(server);
    return use->name && use->server ? 0 : -1;
}

/* The model's upstream name (created on first use, owned by the Ingress
 * at index owner): strdup'd, or borrowed from a memo the model holds.
 * A borrowed one is added without looking (100k lookups a build): the
 * same name twice is merged once the upstreams are sorted (ups_merge).
 * NULL out of memory. */
static const char *use_upstream(struct builder *b, const char *name,
                                const char *server, size_t owner,
                                int borrowed)
{
    struct model_upstream *u;
    const char *known = borrowed ? NULL : keytable_get(&b->ups_index, name);

    if (known)
        return known;
    if (b->m->nups == b->capups) {
        size_t cap = b->capups ? b->capups * 2 : 64;
        u = realloc(b->m->ups, cap * sizeof(*u));
        if (!u)
            return NULL;
        b->m->ups = u;
        b->capups = cap;
    }
    u = &b->m->ups[b->m->nups];
    u->owner = owner;
    u->borrowed = borrowed;
    u->name = borrowed ? (char *)name : strdup(name);
    u->server = borrowed ? (char *)server : strdup(server);
    if (!u->name || !u->server ||
        (!borrowed && keytable_put(&b->ups_index, u->name, NULL) < 0)) {
        if (!borrowed) {
            free(u->name);
            free(u->server);
        }
        return NULL;
    }
    b->m->nups++;
    return u->name;
}

/* The upstream for ns/svc/port (created on first use); NULL with a
 * warning when it cannot be resolved (the location answers 503). */
static const char *backend_upstream(struct builder *b, const char *ns,
                                    const char *svc_name, long number,
                                    const char *port_name, const char *who,
                                    size_t owner)
{
    struct svc_summary *svc = service(b->cache, b->s, ns, svc_name);
    struct svc_use *use = NULL;

    if (b->rec)
        memo_note_service(b->rec, svc_name, svc ? svc->rev : 0);
    if (!svc) {
        if (b->rec)
            memo_note_call(b->rec, NULL, NULL);
        /* (out of memory reading a Service that exists: no memo) */
        if (b->rec && store_lookup(b->s, RK_SERVICE, ns, svc_name))
            b->rec->failed = 1;
        warn(b, "ingress %s: Service %s/%s not found (503 until it exists)",
                 who, ns, svc_name);
        return NULL;
    }
    for (size_t i = 0; i < svc->nuses && !use; i++)
        if (port_name ? svc->uses[i].port_name &&
                            strcmp(svc->uses[i].port_name, port_name) == 0
                      : !svc->uses[i].port_name &&
                            svc->uses[i].number == number)
            use = &svc->uses[i];
    if (!use) {
        struct svc_use *u = realloc(svc->uses,
                                    (svc->nuses + 1) * sizeof(*u));
        if (!u) {
            if (b->rec)
                b->rec->failed = 1;
            return NULL;
        }
        svc->uses = u;
        use = &u[svc->nuses];
        memset(use, 0, sizeof(*use));
        svc->nuses++;
        if (find_upstream(svc, ns, svc_name, number, port_name,
                          b->o->cluster_domain, use) < 0) {
            if (b->rec)
                b->rec->failed = 1;
            return NULL;    /* freed with svc */
        }
        svc_use_pack(use);
    }
    if (use->problem) {
        warn(b, "ingress %s: %s", who, use->problem);
        if (b->rec)
            memo_note_call(b->rec, NULL, NULL);
        return NULL;
    }
    if (b->rec)
        memo_note_call(b->rec, use->name, use->server);
    return use_upstream(b, use->name, use->server, owner, 0);
}

/* ---- merging --------------------------------------------------------------- */

/* A zeroed server after the model's last (not counted yet); NULL out of
 * memory. */
static struct model_server *next_server(struct builder *b)
{
    struct model_server *sv;

    if (b->m->nservers == b->capservers) {
        size_t cap = b->capservers ? b->capservers * 2 : 64;
        sv = realloc(b->m->servers, cap * sizeof(*sv));
        if (!sv)
            return NULL;
        b->m->servers = sv;
        b->capservers = cap;
    }
    sv = &b->m->servers[b->m->nservers];
    memset(sv, 0, sizeof(*sv));
    return sv;
}

static struct model_server *server_for(struct builder *b, const char *host,
                                       size_t owner)
{
    size_t idx;
    struct model_server *sv;

    if (!host)
        return &b->m->def;
    if (index_find(b->host_index, host, &idx))
        return &b->m->servers[idx];
    if (!(sv = next_server(b)) || !(sv->host = strdup(host)))
        return NULL;
    sv->wildcard = host[0] == '*';
    sv->owner = owner;
    if (index_add(b->host_index, sv->host, b->m->nservers) < 0) {
        free(sv->host);
        return NULL;
    }
    b->m->nservers++;
    return sv;
}

/* The port as the Ingress names it: a number or a port name. */
static void port_text(char out[MODEL_PORT_MAX], long number, const char *name)
{
    char digits[MODEL_PORT_MAX];
    size_t n = 0, i = 0;
    unsigned long v = number > 0 ? (unsigned long)number : 0; /* 0-65535 */

    if (name) {
        snprintf(out, MODEL_PORT_MAX, "%s", name);
        return;
    }
    /* (no printf: every location of every build) */
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && n < MODEL_PORT_MAX - 1);
    while (n > 0)
        out[i++] = digits[--n];
    out[i] = '\0';
}

static int merge_route(struct builder *b, size_t owner, const struct route *r,
                       const char *upstream)
{
    struct model_server *sv = server_for(b, r->host, owner);
    const struct model_ingress *mi = &b->m->ings[owner];

    if (!sv)
        return -1;
    for (size_t i = 0; i < sv->nlocs; i++) {
        struct model_location *l = &sv->locs[i];
        if (l->match != r->match || strcmp(l->path, r->path) != 0)
            continue;
        if (r->priority < l->priority) {
            /* Exact beats Prefix on the same path, whatever the age. */
            char *service = r->svc ? strdup(r->svc) : NULL;
            char *raw = r->raw ? strdup(r->raw) : NULL;
            if ((r->svc && !service) || (r->raw && !raw)) {
                free(service);
                return -1;
            }
            free(l->service);
            free(l->raw);
            l->service = service;
            l->raw = raw;
            port_text(l->port, r->port_number, r->port_name);
            l->upstream = upstream;
            l->ingress = owner;
            l->priority = r->priority;
            l->regex = r->regex;
        } else if (l->ingress != owner) {
            warn(b, "ingress %s/%s: location %s%s on host %s already "
                     "served by the older ingress %s/%s",
                     mi->ns, mi->name,
                     r->match == LOC_EXACT ? "= " :
                     r->match == LOC_ELEMENTS ? "(Prefix) " : "",
                     r->path, r->host ? r->host : "(any)",
                     b->m->ings[l->ingress].ns, b->m->ings[l->ingress].name);
        }
        return 0;
    }
    if (sv->nlocs == sv->caplocs) {
        size_t cap = sv->caplocs ? sv->caplocs * 2 : 4;
        struct model_location *nl = realloc(sv->locs, cap * sizeof(*nl));
        if (!nl)
            return -1;
        sv->locs = nl;
        sv->caplocs = cap;
    }
    struct model_location *l = &sv->locs[sv->nlocs];
    memset(l, 0, sizeof(*l));
    if (!(l->path = strdup(r->path)))
        return -1;
    if ((r->svc && !(l->service = strdup(r->svc))) ||
        (r->raw && !(l->raw = strdup(r->raw)))) {
        free(l->path);
        free(l->service);
        return -1;
    }
    l->match = r->match;
    l->upstream = upstream;
    port_text(l->port, r->port_number, r->port_name);
    l->ingress = owner;
    l->priority = r->priority;
    l->regex = r->regex;
    l->seq = b->seq++;
    sv->nlocs++;
    return 0;
}

static int set_fallback(struct model_server *sv, const char *ups,
                        const char *svc, const char *port, size_t owner)
{
    if (sv->has_fallback)
        return 0;
    if (!(sv->fallback_service = strdup(svc)))
        return -1;
    snprintf(sv->fallback_port, sizeof(sv->fallback_port), "%s", port);
    sv->has_fallback = 1;
    sv->fallback = ups;
    sv->fallback_ingress = owner;
    return 0;
}

/* TLS for host from this Ingress's spec.tls or from Vault. */
static void apply_tls(struct builder *b, const struct model_compiled *c,
                      size_t owner, struct model_server *sv, int vault)
{
    const struct model_ingress *mi = &b->m->ings[owner];
    char err[REASON_MAX];

    if (sv->crt || !sv->host)
        return;
    for (size_t i = 0; i < c->ntls; i++) {
        const struct tls_spec *t = &c->tls[i];
        int covers = 0;
        for (size_t j = 0; j < t->nhosts; j++)
            covers |= strcmp(t->hosts[j], sv->host) == 0;
        if (!covers || !t->secret || !b->o->tls.secret)
            continue;
        if (b->o->tls.secret(b->o->tls.ctx, mi->ns, t->secret, sv->host,
                             &sv->crt, &sv->key, err, sizeof(err)) == 0)
            return;
        warn(b, "ingress %s/%s: TLS for %s from Secret %s: %s", mi->ns,
                 mi->name, sv->host, t->secret, err);
    }
    if (vault && b->o->tls.vault)
        b->o->tls.vault(b->o->tls.ctx, sv->host, &sv->crt, &sv->key);
}

/* A supported boolean annotation set to a true value. */

/* ssl-redirect "false" on the oldest Ingress of a host turns the host's
 * HTTPS redirect off (ingress-nginx decides per location; the route table
 * redirects per host). */
static int tls_redirect_off(const struct model *m, size_t owner)
{
    const char *v = owner < m->ning ? ann_get(&m->ings[owner].ann,
                                              ANN_SSL_REDIRECT)
                                    : NULL;

    return v && validate_bool_value(v, strlen(v)) == 0;
}

/* An alias or a www twin is verified as the host it serves. */
static void copy_client(struct model_server *to,
                        const struct model_server *from)
{
    to->client = from->client;
    to->ca_file = from->ca_file;
    to->client_owner = from->client_owner;
}

/* The older Ingress whose client certificate settings on one of mi's
 * hosts differ from mi's (the settings belong to the host): -1 with the
 * reason (mi is refused), else 0. */
static int check_client_conflict(struct builder *b,
                                 const struct model_ingress *mi, char *err,
                                 size_t errlen)
{
    size_t idx;

    if (!mi->client)
        return 0;
    for (size_t i = 0; i < mi->nhosts; i++) {
        const struct model_server *sv;
        if (!index_find(b->host_index, mi->hosts[i], &idx))
            continue;
        sv = &b->m->servers[idx];
        if (!sv->client || strcmp(sv->client, mi->client) == 0)
            continue;
        snprintf(err, errlen, "host %s already has other client certificate "
                 "settings (auth-tls-*) from the older Ingress %s/%s: every "
                 "Ingress of a host must ask for the same ones",
                 mi->hosts[i], b->m->ings[sv->client_owner].ns,
                 b->m->ings[sv->client_owner].name);
        return -1;
    }
    return 0;
}

/* Remembers the rule hosts of a refused Ingress that asked for client
 * certificates: if other Ingresses serve them, they are denied rather
 * than served without the verification (deny_refused_hosts). */
static int note_deny_hosts(struct builder *b, struct json_object *ing)
{
    struct json_object *rules = k8s_get(ing, "spec.rules");

    for (size_t i = 0; rules && json_object_is_type(rules, json_type_array) &&
                       i < json_object_array_length(rules);
         i++) {
        const char *host = k8s_str(json_object_array_get_idx(rules, i),
                                   "host");
        if (host && *host &&
            json_object_object_add(b->deny_hosts, host, NULL) < 0)
            return -1;
    }
    return 0;
}

static void deny_refused_hosts(struct builder *b)
{
    size_t idx;

    json_object_object_foreach(b->deny_hosts, host, unused) {
        (void)unused;
        if (!index_find(b->host_index, host, &idx))
            continue;
        struct model_server *sv = &b->m->servers[idx];
        if (sv->client)
            continue;
        sv->client = CLIENTCERT_DENY;
        sv->client_owner = sv->owner;
        warn(b, "host %s: an Ingress that asked for client certificates on "
                "it was refused; every request for it is denied (403) until "
                "that is fixed", host);
    }
}

/* The next name of a server-alias list into alias; 0 at its end. */
static int next_alias(const char **list, char *alias, size_t len)
{
    size_t n;
    const char *a, *e;

    if (!**list)
        return 0;
    n = strcspn(*list, ",");
    a = *list;
    e = *list + n;
    while (a < e && *a == ' ')
        a++;
    while (e > a && e[-1] == ' ')
        e--;
    snprintf(alias, len, "%.*s", (int)(e - a), a);
    *list += n + ((*list)[n] == ',');
    return 1;
}

/* server-alias: each alias that is no Ingress's host gets a copy of the
 * section of the Ingress's first host (merged with the other Ingresses of
 * that host, as ingress-nginx adds it to that server's server_name). */
static int add_aliases(struct builder *b, size_t owner)
{
    struct model_ingress *mi = &b->m->ings[owner];
    const char *list = ann_get(&mi->ann, ANN_SERVER_ALIAS);
    size_t idx;
    size_t src = SIZE_MAX;
    char alias[VALIDATE_HOST_MAX + 1];

    if (!list || mi->state != ING_SERVED)
        return 0;
    for (size_t i = 0; i < mi->nhosts && src == SIZE_MAX; i++)
        if (index_find(b->host_index, mi->hosts[i], &idx))
            src = idx;
    if (src == SIZE_MAX)
        return 0;
    while (next_alias(&list, alias, sizeof(alias))) {
        if (index_find(b->host_index, alias, NULL)) {
            warn(b, "ingress %s/%s: server-alias %s ignored: it is a host "
                    "of its own", mi->ns, mi->name, alias);
            continue;
        }
        struct model_server *sv = server_for(b, alias, owner);
        if (!sv)
            return -1;
        const struct model_server *from = &b->m->servers[src];
        sv->locs = calloc(from->nlocs ? from->nlocs : 1, sizeof(*sv->locs));
        if (!sv->locs)
            return -1;
        sv->caplocs = from->nlocs ? from->nlocs : 1;
        for (size_t i = 0; i < from->nlocs; i++) {
            struct model_location *l = &sv->locs[i];
            *l = from->locs[i];
            l->path = strdup(from->locs[i].path);
            l->service = strdup(from->locs[i].service);
            l->raw = from->locs[i].raw ? strdup(from->locs[i].raw) : NULL;
            if (!l->path || !l->service || (from->locs[i].raw && !l->raw)) {
                free(l->path);
                free(l->service);
                free(l->raw);
                return -1;
            }
            sv->nlocs++;
        }
        if (from->has_fallback &&
            set_fallback(sv, from->fallback, from->fallback_service,
                         from->fallback_port, from->fallback_ingress) < 0)
            return -1;
        sv->redirect = from->redirect;
        copy_client(sv, from);
    }
    return 0;
}

int model_www_twin(const char *host, char *out, size_t outlen)
{
    char sub[256];
    int n;

    if (host[0] == '*')
        return -1;
    if (strncmp(host, "www.", 4) == 0)
        n = snprintf(out, outlen, "%s", host + 4);
    else
        n = snprintf(out, outlen, "www.%s", host);
    if (n < 0 || (size_t)n >= outlen || !strchr(out, '.') ||
        validate_host(out, (size_t)n, sub, sizeof(sub)) < 0)
        return -1;
    return 0;
}

/* from-to-www-redirect: the twin of each host of the Ingress that is no
 * Ingress's host gets a section whose one rule leads every request into
 * the Ingress's profile, which answers 308 to the host (profiles.c). */
static int add_www_twins(struct builder *b, size_t owner)
{
    struct model_ingress *mi = &b->m->ings[owner];
    const char *v = ann_get(&mi->ann, ANN_FROM_TO_WWW_REDIRECT);
    char twin[VALIDATE_HOST_MAX + 1];
    size_t idx;

    if (!v || mi->state != ING_SERVED ||
        validate_bool_value(v, strlen(v)) != 1)
        return 0;
    for (size_t i = 0; i < mi->nhosts; i++) {
        const char *ups = NULL, *svc = NULL;
        if (!index_find(b->host_index, mi->hosts[i], &idx) ||
            model_www_twin(mi->hosts[i], twin, sizeof(twin)) < 0)
            continue;
        if (index_find(b->host_index, twin, NULL)) {
            warn(b, "ingress %s/%s: from-to-www-redirect for %s left out: "
                    "%s is a host of its own", mi->ns, mi->name,
                 mi->hosts[i], twin);
            continue;
        }
        const struct model_server *from =
            &b->m->servers[idx];
        for (size_t l = 0; l < from->nlocs && !ups; l++) {
            ups = from->locs[l].upstream;
            svc = from->locs[l].service;
        }
        if (!ups)
            continue;       /* nothing resolvable to jump from: 503 there */
        struct route r = {.host = twin, .match = LOC_PREFIX,
                          .path = (char *)"/", .svc = svc,
                          .priority = 1};
        struct model_server *sv = server_for(b, twin, owner);
        if (!sv || merge_route(b, owner, &r, ups) < 0)
            return -1;
        /* server_for may have moved the servers */
        copy_client(sv, &b->m->servers[idx]);
    }
    return 0;
}

/* default-backend: the upstream of the first port of the Service named
 * (in the Ingress's namespace), as ingress-nginx takes it; NULL with a
 * warning when it cannot be used (its rules then answer 503 and their
 * error pages nginx's own). */
static const char *default_backend(struct builder *b,
                                   const struct model_ingress *mi,
                                   const char *who, size_t owner)
{
    const char *name = ann_get(&mi->ann, ANN_DEFAULT_BACKEND);
    const struct svc_summary *svc = service(b->cache, b->s, mi->ns, name);

    if (!svc) {
        warn(b, "ingress %s: Service %s/%s of default-backend not found "
                "(no default backend until it exists)", who, mi->ns, name);
        return NULL;
    }
    if (svc->nports == 0 || !svc->ports[0].has_port) {
        warn(b, "ingress %s: Service %s/%s of default-backend has no port "
                "(no default backend)", who, mi->ns, name);
        return NULL;
    }
    return backend_upstream(b, mi->ns, name, svc->ports[0].port, NULL, who,
                            owner);
}

/* Session affinity chooses among the addresses of the Service's name:
 * the pods of a headless Service, the one cluster address otherwise.
 * Says so once per Service of an Ingress with affinity that has a
 * cluster IP. */
static void warn_affinity_cluster_ip(struct builder *b,
                                     const struct model_ingress *mi,
                                     const struct pending *p,
                                     const char *who)
{
    for (size_t i = 0; i <= p->n; i++) {
        const char *name = i < p->n ? p->routes[i].svc
                                    : p->has_default ? p->def_svc : NULL;
        int seen = !name;
        for (size_t k = 0; k < i && k < p->n && !seen; k++)
            seen = strcmp(p->routes[k].svc, name) == 0;
        if (seen)
            continue;
        const struct svc_summary *svc = service(b->cache, b->s, mi->ns,
                                                name);
        if (svc && !svc->headless && !svc->external)
            warn(b, "ingress %s: session affinity with Service %s/%s, which "
                    "has a cluster IP: its name resolves to that one address, "
                    "so sessions do not stick to pods (a headless Service, "
                    "clusterIP: None, gives the pods' addresses)",
                 who, mi->ns, name);
    }
}

/* Merges a validated Ingress. */
static int merge_ingress(struct builder *b, const struct model_compiled *c,
                         size_t owner)
{
    struct model_ingress *mi = &b->m->ings[owner];
    const struct pending *p = &c->p;
    char who[400];
    const char *def_ups = NULL;
    char def_port[MODEL_PORT_MAX];
    int vault = c->vault;
    int https_only = c->https_only;

    snprintf(who, sizeof(who), "%s/%s", mi->ns, mi->name);
    if (ann_get(&mi->ann, ANN_DEFAULT_BACKEND))
        mi->default_backend = default_backend(b, mi, who, owner);
    else if (ann_get(&mi->ann, ANN_CUSTOM_HTTP_ERRORS))
        warn(b, "ingress %s: custom-http-errors without default-backend: "
                "nginx's own error page answers those codes (Portico has no "
                "controller-wide default backend)", who);
    if (ann_get(&mi->ann, ANN_DISABLE_PROXY_INTERCEPT_ERRORS) &&
        !ann_get(&mi->ann, ANN_CUSTOM_HTTP_ERRORS))
        warn(b, "ingress %s: disable-proxy-intercept-errors has no effect "
                "without custom-http-errors", who);
    port_text(def_port, p->def_port_number, p->def_port_name);
    if (p->has_default)
        def_ups = backend_upstream(b, mi->ns, p->def_svc, p->def_port_number,
                                   p->def_port_name, who, owner);
    for (size_t i = 0; i < p->n; i++) {
        const struct route *r = &p->routes[i];
        const char *ups = backend_upstream(b, mi->ns, r->svc, r->port_number,
                                           r->port_name, who, owner);
        if (merge_route(b, owner, r, ups) < 0)
            return -1;
    }
    if (ann_get(&mi->ann, ANN_AFFINITY))
        warn_affinity_cluster_ip(b, mi, p, who);
    if (p->has_default &&
        set_fallback(&b->m->def, def_ups, p->def_svc, def_port, owner) < 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        struct model_server *sv = server_for(b, p->routes[i].host, owner);
        if (!sv)
            return -1;
        if (p->has_default &&
            set_fallback(sv, def_ups, p->def_svc, def_port, owner) < 0)
            return -1;
    }
    if (vault)
        b->m->vault_digest ^= c->vault_hash;
    /* Hosts of this Ingress (rules and tls) get TLS and redirects. */
    for (size_t i = 0; i < mi->nhosts; i++) {
        size_t idx;
        if (!index_find(b->host_index, mi->hosts[i], &idx))
            continue;   /* a tls-only host with no rule: nothing served */
        struct model_server *sv = &b->m->servers[idx];
        if (vault && push_str(&b->m->vault_hosts, &b->m->nvault,
                              mi->hosts[i]) < 0)
            return -1;
        apply_tls(b, c, owner, sv, vault);
        if (https_only)
            sv->redirect = 1;
        if (mi->client && !sv->client) {
            sv->client = mi->client;
            sv->ca_file = mi->ca_file;
            sv->client_owner = owner;
        }
    }
    return 0;
}

/* ---- regex hosts ----------------------------------------------------------- */

/* Appends l as a regex rule on path (the rewrite when given): fresh
 * strings; a path not made a regex by its own Ingress is checked first
 * and left out with a warning when PCRE2 refuses it or it is too costly
 * (regex.h). 0, or -1 out of memory. */
static int regex_append(struct builder *b, const struct model_server *sv,
                        struct model_location *out, size_t *n,
                        const struct model_location *l, const char *path,
                        const char *rewrite)
{
    struct model_location *r = &out[*n];
    const struct model_ingress *mi = &b->m->ings[l->ingress];
    char sub[SUB_MAX];

    if (!l->regex && regex_check(path, strlen(path), REGEX_ROUTE,
                                 b->o->regex_memo, sub, sizeof(sub)) < 0) {
        warn(b, "ingress %s/%s: path %s on host %s left out: the host has "
                "regex paths (use-regex or rewrite-target) and %s",
             mi->ns, mi->name, path, sv->host ? sv->host : "(any)", sub);
        return 0;
    }
    *r = *l;
    r->match = LOC_REGEX;
    r->raw = NULL;
    r->rewrite = rewrite;
    r->service = NULL;
    if (!(r->path = strdup(path)) ||
        (l->service && !(r->service = strdup(l->service)))) {
        free(r->path);
        return -1;
    }
    (*n)++;
    return 0;
}

static int has_exact(const struct model_server *sv, const char *path)
{
    for (size_t i = 0; i < sv->nlocs; i++)
        if (sv->locs[i].match == LOC_EXACT &&
            strcmp(sv->locs[i].path, path) == 0)
            return 1;
    return 0;
}

/* A server with a regex path of its own Ingress gets only regex rules
 * (ingress-nginx's enforceRegexModifier; model.h): a Prefix location of
 * another Ingress becomes "P/" and "P" (updateServerLocations; "P" not
 * when an Exact location has P), any other path itself. */
static int enforce_regex(struct builder *b, struct model_server *sv)
{
    struct model_location *out;
    size_t n = 0;
    int any = 0, rc = 0;

    for (size_t i = 0; i < sv->nlocs; i++)
        any |= sv->locs[i].regex;
    if (!any)
        return 0;
    out = calloc(2 * sv->nlocs, sizeof(*out));
    if (!out)
        return -1;
    for (size_t i = 0; i < sv->nlocs && rc == 0; i++) {
        const struct model_location *l = &sv->locs[i];
        const struct model_ingress *mi = &b->m->ings[l->ingress];
        const char *raw = l->raw ? l->raw : l->path;
        const char *target = ann_get(&mi->ann, ANN_REWRITE_TARGET);
        size_t len = strlen(raw);

        if (l->regex) {
            rc = regex_append(b, sv, out, &n, l, raw,
                              target && strcmp(target, raw) ? target : NULL);
        } else if (l->match == LOC_ELEMENTS) {
            char slash[VALIDATE_PATH_MAX + 2];
            snprintf(slash, sizeof(slash), "%s%s", raw,
                     len && raw[len - 1] == '/' ? "" : "/");
            rc = regex_append(b, sv, out, &n, l, slash, NULL);
            if (rc == 0 && !has_exact(sv, raw))
                rc = regex_append(b, sv, out, &n, l, raw, NULL);
        } else {
            rc = regex_append(b, sv, out, &n, l, raw, NULL);
        }
    }
    for (size_t i = 0; i < sv->nlocs; i++) {
        free(sv->locs[i].path);
        free(sv->locs[i].raw);
        free(sv->locs[i].service);
    }
    free(sv->locs);
    sv->locs = out;
    sv->nlocs = n;
    sv->caplocs = 2 * sv->nlocs;
    sv->regex = 1;
    return rc;
}

/* ---- the build -------------------------------------------------------------- */

/* qsort that accepts an empty (NULL) array. */
static void sort(void *base, size_t n, size_t size,
                 int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* The order of the route table: exact rules, then the others longest
 * first (tried in order, the first match wins), Prefix before
 * ImplementationSpecific on the same path. */
static int cmp_loc(const void *a, const void *b)
{
    const struct model_location *x = a, *y = b;
    int xe = x->match == LOC_EXACT, ye = y->match == LOC_EXACT;
    size_t xl = strlen(x->path), yl = strlen(y->path);
    int c;

    if (xe != ye)
        return xe ? -1 : 1;
    if (!xe && xl != yl)
        return xl > yl ? -1 : 1;
    if ((c = strcmp(x->path, y->path)) != 0)
        return c;
    return (x->match == LOC_ELEMENTS ? 0 : 1) -
           (y->match == LOC_ELEMENTS ? 0 : 1);
}

/* A regex host's order: ingress-nginx's two stable sorts (by path in
 * reverse byte order, then longest first), ties in merge order. */
static int cmp_regex_loc(const void *a, const void *b)
{
    const struct model_location *x = a, *y = b;
    size_t xl = strlen(x->path), yl = strlen(y->path);
    int c;

    if (xl != yl)
        return xl > yl ? -1 : 1;
    if ((c = strcmp(x->path, y->path)) != 0)
        return -c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_server(const void *a, const void *b)
{
    return strcmp(((const struct model_server *)a)->host,
                  ((const struct model_server *)b)->host);
}

static int cmp_ups(const void *a, const void *b)
{
    return strcmp(((const struct model_upstream *)a)->name,
                  ((const struct model_upstream *)b)->name);
}

/* Sorting 100k items through pointers to their strings misses the cache
 * on nearly every comparison (a fifth to a third of a build at 100k).
 * sort_keyed() sorts records instead: a number (an age), the first 16
 * bytes of the item's key as two big-endian integers (zero-padded, so
 * that comparing them is comparing the bytes), and the item's index;
 * only records equal in all that are compared by the item's own
 * comparison, which must agree with it. */
struct sort_rec {
    long long first;
    uint64_t k0, k1;
    size_t idx;
};

struct sort_ctx {
    const char *base;
    size_t size;
    int (*cmp)(const void *, const void *);
};

/* The first 16 bytes of a, a NUL, then b (when not NULL), as *r's key:
 * the order of (a, b) compared with strcmp, as far as 16 bytes tell. */
static void sort_key(struct sort_rec *r, const char *a, const char *b)
{
    unsigned char k[16] = {0};
    size_t i = 0;

    for (; *a && i < sizeof(k); a++)
        k[i++] = (unsigned char)*a;
    if (b && i < sizeof(k))
        for (i++; *b && i < sizeof(k); b++)
            k[i++] = (unsigned char)*b;
    r->k0 = r->k1 = 0;
    for (i = 0; i < 8; i++) {
        r->k0 = r->k0 << 8 | k[i];
        r->k1 = r->k1 << 8 | k[8 + i];
    }
}

static int cmp_rec(const void *a, const void *b, void *arg)
{
    const struct sort_rec *x = a, *y = b;
    const struct sort_ctx *c = arg;

    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->k0 != y->k0)
        return x->k0 < y->k0 ? -1 : 1;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    return c->cmp(c->base + x->idx * c->size, c->base + y->idx * c->size);
}

/* Sorts n items of size bytes at base as cmp does, key() making each
 * item's record; plain qsort when out of memory. */
static void sort_keyed(void *base, size_t n, size_t size,
                       void (*key)(struct sort_rec *r, const void *item),
                       int (*cmp)(const void *, const void *))
{
    struct sort_ctx ctx = {.base = base, .size = size, .cmp = cmp};
    struct sort_rec *recs;
    char *tmp, *a = base;

    if (n < 2)
        return;
    recs = malloc(n * sizeof(*recs));
    tmp = malloc(size);
    if (!recs || !tmp) {
        free(recs);
        free(tmp);
        qsort(base, n, size, cmp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        recs[i].first = 0;
        key(&recs[i], a + i * size);
        recs[i].idx = i;
    }
    qsort_r(recs, n, sizeof(*recs), cmp_rec, &ctx);
    /* Item i takes item recs[i].idx's place: cycle by cycle, each record
     * pointing at itself once its item is in place. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i, k;
        if (recs[i].idx == i)
            continue;
        memcpy(tmp, a + i * size, size);
        while ((k = recs[j].idx) != i) {
            memcpy(a + j * size, a + k * size, size);
            recs[j].idx = j;
            j = k;
        }
        memcpy(a + j * size, tmp, size);
        recs[j].idx = j;
    }
    free(tmp);
    free(recs);
}

static void key_server(struct sort_rec *r, const void *item)
{
    sort_key(r, ((const struct model_server *)item)->host, NULL);
}

static void key_ups(struct sort_rec *r, const void *item)
{
    sort_key(r, ((const struct model_upstream *)item)->name, NULL);
}

static void key_entry_age(struct sort_rec *r, const void *item)
{
    const struct store_entry *e = *(const struct store_entry *const *)item;

    r->first = e->created;
    sort_key(r, e->ns ? e->ns : "", e->name);
}

/* The sorted upstreams with each name once: of a run of the same name
 * (the same Service port, so the same server), the one the model owns
 * if any (locations of merged Ingresses point at its name; there is at
 * most one, use_upstream), else the oldest owner's (its locations point
 * at its memo's name), with the oldest owner. */
static void ups_merge(struct model *m)
{
    size_t out = 0;

    for (size_t i = 0, j; i < m->nups; i = j) {
        size_t keep = i, owner = m->ups[i].owner;
        for (j = i + 1; j < m->nups &&
                        strcmp(m->ups[j].name, m->ups[i].name) == 0; j++) {
            if (m->ups[j].owner < owner)
                owner = m->ups[j].owner;
            if (!m->ups[j].borrowed ||
                (m->ups[keep].borrowed &&
                 m->ups[j].owner < m->ups[keep].owner))
                keep = j;
        }
        m->ups[out] = m->ups[keep];
        m->ups[out++].owner = owner;
    }
    m->nups = out;
}

static int cmp_entry_age(const void *a, const void *b)
{
    const struct store_entry *x = *(const struct store_entry *const *)a;
    const struct store_entry *y = *(const struct store_entry *const *)b;
    int c;

    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    if ((c = strcmp(x->ns, y->ns)) != 0)
        return c;
    return strcmp(x->name, y->name);
}

/* Fills mi from an Ingress. 0 or -1 (out of memory). */
static int describe(struct model_ingress *mi, const struct store_entry *e,
                    struct json_object *ing, const struct model_opts *o)
{
    const char *uid = k8s_str(ing, "metadata.uid");

    mi->ns = strdup(e->ns);
    mi->name = strdup(e->name);
    mi->uid = strdup(uid ? uid : "");
    if (!mi->ns || !mi->name || !mi->uid)
        return -1;
    mi->created = (time_t)e->created;
    mi->content_hash = content_hash(ing);
    if (o->externaldns_prefix)
        mi->externaldns = externaldns_annotations_of(ing,
                                                     o->externaldns_prefix);
    return 0;
}

/* ---- canary Ingresses ------------------------------------------------------ */

/* A canary Ingress (canary "true") serves no location of its own: each of
 * its paths becomes the canary of the locations with the same host and
 * path (as written) of the other Ingresses, as ingress-nginx merges an
 * alternative backend; attach_canaries() does that once all are merged.
 * Its defaultBackend is not used (a warning). */
static int stash_canary(struct builder *b, size_t owner,
                        const struct pending *p)
{
    const struct model_ingress *mi = &b->m->ings[owner];
    char who[400];

    snprintf(who, sizeof(who), "%s/%s", mi->ns, mi->name);
    if (p->has_default)
        warn(b, "ingress %s: the defaultBackend of a canary Ingress is not "
                "used (only its rules' paths are canaries)", who);
    for (size_t i = 0; i < p->n; i++) {
        const struct route *r = &p->routes[i];
        struct canary_route *c;
        if (b->ncanaries == b->capcanaries) {
            size_t cap = b->capcanaries ? b->capcanaries * 2 : 8;
            c = realloc(b->canaries, cap * sizeof(*c));
            if (!c)
                return -1;
            b->canaries = c;
            b->capcanaries = cap;
        }
        c = &b->canaries[b->ncanaries];
        memset(c, 0, sizeof(*c));
        c->owner = owner;
        c->upstream = backend_upstream(b, mi->ns, r->svc, r->port_number,
                                       r->port_name, who, owner);
        if ((r->host && !(c->host = strdup(r->host))) ||
            !(c->path = strdup(r->raw ? r->raw : r->path))) {
            free(c->host);
            return -1;
        }
        b->ncanaries++;
    }
    return 0;
}

/* The first part of compiling an Ingress version: what selection and an
 * exclusion need. NULL out of memory. */
static struct model_compiled *compile(const struct store_entry *e,
                                      struct json_object *ing,
                                      const struct model_opts *o)
{
    struct model_compiled *c = calloc(1, sizeof(*c));
    struct model_compiled *packed;

    if (!c)
        return NULL;
    c->refs = 1;
    c->rev = e->rev;
    c->mi.created = (time_t)e->created;     /* (its place in the order) */
    if (!(c->key = strdup(e->key)))
        goto oom;
    c->parsed = ing != NULL;
    if (ing && (dup_opt((const char **)&c->cls,
                        k8s_str(ing, "spec.ingressClassName")) < 0 ||
                dup_opt((const char **)&c->legacy,
                        annotation(ing, "kubernetes.io/ingress.class")) < 0 ||
                describe(&c->mi, e, ing, o) < 0))
        goto oom;
    if (!(packed = compiled_pack(c)))
        goto oom;
    return packed;
oom:
    compiled_unref(c);
    return NULL;
}

/* spec.tls as apply_tls() reads it. 0, or -1 out of memory. */
static int compile_tls(struct model_compiled *c, struct json_object *ing)
{
    struct json_object *tls = k8s_get(ing, "spec.tls");
    size_t n = tls && json_object_is_type(tls, json_type_array)
                   ? json_object_array_length(tls) : 0;

    if (n == 0)
        return 0;
    if (!(c->tls = calloc(n, sizeof(*c->tls))))
        return -1;
    c->ntls = n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *t = json_object_array_get_idx(tls, i);
        struct json_object *hosts = k8s_get(t, "hosts");
        size_t nh = hosts && json_object_is_type(hosts, json_type_array)
                        ? json_object_array_length(hosts) : 0;
        if (dup_opt((const char **)&c->tls[i].secret,
                    k8s_str(t, "secretName")) < 0)
            return -1;
        if (nh && !(c->tls[i].hosts = calloc(nh, sizeof(char *))))
            return -1;
        for (size_t j = 0; j < nh; j++) {
            const char *h = json_object_get_string(
                json_object_array_get_idx(hosts, j));
            if (h && !(c->tls[i].hosts[c->tls[i].nhosts++] = strdup(h)))
                return -1;
        }
    }
    return 0;
}

static const char *written_path(const struct model_location *l)
{
    return l->raw ? l->raw : l->path;
}

static void attach_canaries(struct builder *b)
{
    for (size_t i = 0; i < b->ncanaries; i++) {
        const struct canary_route *c = &b->canaries[i];
        const struct model_ingress *mi = &b->m->ings[c->owner];
        struct model_server *sv = &b->m->def;
        size_t idx;
        int found = 0;

        if (c->host) {
            sv = NULL;
            if (index_find(b->host_index, c->host, &idx))
                sv = &b->m->servers[idx];
        }
        for (size_t j = 0; sv && j < sv->nlocs; j++) {
            struct model_location *l = &sv->locs[j];
            if (strcmp(written_path(l), c->path) != 0)
                continue;
            found = 1;
            if (!c->upstream) {
                warn(b, "ingress %s/%s: canary of %s on host %s left out: "
                        "Service not resolved (requests stay on the main "
                        "backend)", mi->ns, mi->name, c->path,
                     c->host ? c->host : "(any)");
                break;
            }
            if (l->has_canary) {
                if (l->canary_ingress != c->owner)
                    warn(b, "ingress %s/%s: canary of %s on host %s left "
                            "out: the older canary ingress %s/%s has it",
                         mi->ns, mi->name, c->path,
                         c->host ? c->host : "(any)",
                         b->m->ings[l->canary_ingress].ns,
                         b->m->ings[l->canary_ingress].name);
                continue;
            }
            l->has_canary = 1;
            l->canary = c->upstream;
            l->canary_ingress = c->owner;
        }
        if (!found)
            warn(b, "ingress %s/%s: canary of %s on host %s left out: no "
                    "other Ingress serves that host and path", mi->ns,
                 mi->name, c->path, c->host ? c->host : "(any)");
    }
}

static void canaries_free(struct builder *b)
{
    for (size_t i = 0; i < b->ncanaries; i++) {
        free(b->canaries[i].host);
        free(b->canaries[i].path);
    }
    free(b->canaries);
}

/* A model_auth.htpasswd that notes that the check read a Secret. */
struct secrets_seen {
    const struct model_auth *auth;
    int read;
};

static int htpasswd_seen(void *ctx, const char *ns, const char *name,
                         int map, char **path, char *err, size_t errlen)
{
    struct secrets_seen *seen = ctx;

    seen->read = 1;
    return seen->auth->htpasswd(seen->auth->ctx, ns, name, map, path, err,
                                errlen);
}

/* The second part: check_ingress() and what merging needs. 0, or -1 out
 * of memory. */
static int compile_check(struct model_compiled *c, struct json_object *ing,
                         const struct model_opts *o)
{
    struct model_opts checking = *o;
    struct secrets_seen seen = {.auth = &o->auth};
    char err[REASON_MAX];

    if (o->auth.htpasswd) {
        checking.auth.htpasswd = htpasswd_seen;
        checking.auth.ctx = &seen;
    }
    c->checked = 1;
    c->valid = check_ingress(ing, &c->mi, &checking, &c->p, err,
                             sizeof(err)) == 0;
    pending_shrink(&c->p);      /* kept by the cache: no spare room */
    /* auth-tls-secret: the CA Secret is read by the check too */
    c->reads_secrets = seen.read || clientcert_asked(&c->mi);
    if (!c->valid)
        return (c->reason = strdup(err)) && compiled_pack(c) ? 0 : -1;
    c->vault = label_true(ing, "ssl");
    c->https_only = label_true(ing, "httpsOnly") ||
                    model_ann_true(&c->mi, ANN_FORCE_SSL_REDIRECT);
    if (c->vault)
        c->vault_hash = hash_fnv1a64_str(HASH_FNV1A64_INIT,
            json_object_to_json_string_ext(
                ing, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return compile_tls(c, ing) == 0 && compiled_pack(c) ? 0 : -1;
}

/* The compiled version of e, made when the cache has none that is still
 * good. *ing: the parsed object when this call parsed it (the caller puts
 * it). NULL out of memory. */
static struct model_compiled *compiled_of(struct builder *b,
                                          const struct store_entry *e,
                                          struct json_object **ing)
{
    struct model_cache *cache = b->cache;
    struct model_compiled *c, *old;

    if ((c = keytable_get(&cache->ings, e->key))) {
        /* A check that read Secrets is made again (their files are
         * written on change and collected by what the model uses). */
        if (c->rev == e->rev && !(c->checked && c->reads_secrets)) {
            c->seen = cache->build;
            return c;
        }
    }
    *ing = store_entry_parse(e);
    if (!(c = compile(e, *ing, b->o)))
        return NULL;
    c->seen = cache->build;
    if (keytable_put(&cache->ings, c, (void **)&old) < 0) {
        compiled_unref(c);
        return NULL;
    }
    compiled_unref(old);        /* its older version (models keep theirs) */
    return c;
}

static int count_claims(struct builder *b, const struct model_ingress *mi);

/* One Ingress (its compiled version), oldest first: selected? excluded?
 * checked? (merged by merge_one() once all are known). An Ingress
 * version is parsed and checked once, by the first build that needs it
 * (the cache keeps it); a build never holds more than one Ingress tree.
 * ing: the parsed object when the caller has it, or NULL (put here). */
static int select_one(struct builder *b, struct model_compiled *c,
                      struct json_object *ing, struct class_cache *classes)
{
    struct model *m = b->m;
    const struct model_opts *o = b->o;
    struct model_ingress *mi;
    const char *why;
    int rc = 0;

    c->seen = b->cache->build;
    if (!c->parsed ||
        (!o->select_all && !selected(b->s, c->cls, c->legacy, o, classes)))
        goto out;
    mi = &m->ings[m->ning];
    memset(mi, 0, sizeof(*mi));
    mi->ns = c->mi.ns;
    mi->name = c->mi.name;
    mi->uid = c->mi.uid;
    mi->created = c->mi.created;
    mi->content_hash = c->mi.content_hash;
    mi->externaldns = c->mi.externaldns;
    mi->compiled = c;
    c->refs++;
    m->ning++;
    if (o->excluded && o->excluded(o->excluded_ctx, mi->ns, mi->name,
                                   mi->content_hash, &why)) {
        mi->state = ING_EXCLUDED;
        mi->reason = strdup(why);
        goto out;
    }
    if (!c->checked) {
        if (!ing && !(ing = store_entry_parse(
                          store_lookup_key(b->s, RK_INGRESS, c->key)))) {
            rc = -1;
            goto out;
        }
        if (compile_check(c, ing, o) < 0) {
            rc = -1;
            goto out;
        }
    }
    *mi = c->mi;
    mi->state = ING_SERVED;     /* until merge_one() says otherwise */
    mi->compiled = c;
    rc = count_claims(b, mi);
out:
    json_object_put(ing);
    return rc;
}

/* Store keys "namespace/name" in the order of (namespace, name), as
 * cmp_entry_age compares them: the '/' before any other character. */
static int cmp_ingress_keys(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = *a == '/' ? 1 : (unsigned char)*a;
        unsigned char y = *b == '/' ? 1 : (unsigned char)*b;
        if (x != y)
            return x < y ? -1 : 1;
        if (!x)
            return 0;
    }
}

/* cmp_entry_age of the entries two compiled versions were made from. */
static int cmp_compiled_age(const struct model_compiled *x,
                            const struct model_compiled *y)
{
    if (x->mi.created != y->mi.created)
        return x->mi.created < y->mi.created ? -1 : 1;
    return cmp_ingress_keys(x->key, y->key);
}

static int order_reserve(struct model_cache *cache, size_t n)
{
    struct model_compiled **a;
    size_t cap = cache->caporder ? cache->caporder : 64;

    while (cap < n)
        cap *= 2;
    if (cap == cache->caporder)
        return 0;
    if (!(a = realloc(cache->order, cap * sizeof(*a))))
        return -1;
    cache->order = a;
    cache->caporder = cap;
    return 0;
}

/* At most this many changed Ingresses are put in place in the order of
 * the last build (each moves the order's tail); more, and it is made
 * again (sorted). */
#define ORDER_PATCH_MAX 64

/* The order of the last build with the Ingresses the store's feed names
 * since put in place: 1, or 0 when it cannot be (no order, the feed does
 * not reach back, too many changes, an order that does not add up), or
 * -1 out of memory. */
static int order_patch(struct builder *b)
{
    struct model_cache *cache = b->cache;
    struct model_compiled *gone[ORDER_PATCH_MAX], *c;
    char *const *keys;
    size_t nk, ngone = 0, out = 0;

    if (!cache->ordered ||
        store_feed_since(b->s, RK_INGRESS, cache->feed_mark, &keys,
                         &nk) < 0 ||
        nk > ORDER_PATCH_MAX)
        return 0;
    /* The versions the order has of them leave it... */
    for (size_t i = 0; i < nk; i++) {
        size_t j = 0;
        if (!(c = keytable_get(&cache->ings, keys[i])))
            continue;
        while (j < ngone && gone[j] != c)
            j++;
        if (j == ngone)
            gone[ngone++] = c;
    }
    for (size_t i = 0; i < cache->norder; i++) {
        size_t j = 0;
        c = cache->order[i];
        while (j < ngone && gone[j] != c)
            j++;
        if (j < ngone)
            compiled_unref(c);
        else
            cache->order[out++] = c;
    }
    cache->norder = out;
    /* ...and those in the store come back at their place. */
    for (size_t i = 0; i < nk; i++) {
        const struct store_entry *e;
        struct json_object *ing = NULL;
        size_t j = 0, lo = 0, hi = cache->norder;
        while (j < i && strcmp(keys[j], keys[i]) != 0)
            j++;
        if (j < i)
            continue;   /* (changed twice) */
        if (!(e = store_lookup_key(b->s, RK_INGRESS, keys[i]))) {
            compiled_unref(keytable_remove(&cache->ings, keys[i]));
            continue;
        }
        c = compiled_of(b, e, &ing);
        json_object_put(ing);   /* (parsed again if it is checked) */
        if (!c || order_reserve(cache, cache->norder + 1) < 0)
            return -1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_compiled_age(cache->order[mid], c) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(cache->order + lo + 1, cache->order + lo,
                (cache->norder - lo) * sizeof(*cache->order));
        cache->order[lo] = c;
        cache->norder++;
        c->refs++;
    }
    return cache->norder == store_count(b->s, RK_INGRESS);
}

/* Every Ingress of the store, oldest first, through select_one(), and
 * the cache's order made of them; -1 out of memory. The order of the
 * last build is patched when it can be; else the store's Ingresses are
 * sorted (and parsed once when new or changed). */
static int select_all(struct builder *b, struct class_cache *classes,
                      int *patched)
{
    struct model_cache *cache = b->cache;
    const struct store_entry **all = NULL;
    size_t n = 0;
    int rc;

    rc = order_patch(b);
    cache->ordered = 0;         /* (until this build is done) */
    if (rc < 0)
        return -1;
    *patched = rc;
    if (rc == 1) {
        for (size_t i = 0; i < cache->norder; i++) {
            struct model_compiled *c = cache->order[i];
            struct json_object *ing = NULL;
            /* a check that read Secrets is made again (compiled_of) */
            if (c->checked && c->reads_secrets) {
                if (!(c = compiled_of(b, store_lookup_key(b->s, RK_INGRESS,
                                                          c->key), &ing))) {
                    json_object_put(ing);
                    return -1;
                }
                c->refs++;
                compiled_unref(cache->order[i]);
                cache->order[i] = c;
            }
            if (select_one(b, c, ing, classes) < 0)
                return -1;
        }
        return 0;
    }
    order_drop(cache);
    if (store_entries_unordered(b->s, RK_INGRESS, &all, &n) < 0 ||
        order_reserve(cache, n) < 0) {
        free(all);
        return -1;
    }
    sort_keyed(all, n, sizeof(*all), key_entry_age, cmp_entry_age);
    for (size_t i = 0; i < n; i++) {
        struct json_object *ing = NULL;
        struct model_compiled *c = compiled_of(b, all[i], &ing);
        if (!c)
            json_object_put(ing);
        if (!c || select_one(b, c, ing, classes) < 0) {
            free(all);
            return -1;
        }
        cache->order[cache->norder++] = c;
        c->refs++;
    }
    free(all);
    return 0;
}

/* A plain Ingress: served alone on its hosts, it merges into servers of
 * its own whatever the others (see struct merge_memo): every route has a
 * host and no regex, no defaultBackend, TLS, Vault, Secret, client
 * certificate, canary, alias, www twin, default-backend or affinity. */
static int memo_plain(const struct model_compiled *c)
{
    static const enum ann_id cross[] = {
        ANN_CANARY, ANN_SERVER_ALIAS, ANN_FROM_TO_WWW_REDIRECT,
        ANN_DEFAULT_BACKEND, ANN_AFFINITY,
    };

    if (!c->valid || c->reads_secrets || c->vault || c->ntls ||
        c->p.has_default || c->mi.client || c->mi.nhosts == 0)
        return 0;
    for (size_t i = 0; i < sizeof(cross) / sizeof(cross[0]); i++)
        if (ann_get(&c->mi.ann, cross[i]))
            return 0;
    for (size_t i = 0; i < c->p.n; i++)
        if (!c->p.routes[i].host || c->p.routes[i].regex)
            return 0;
    return 1;
}

static int claim(struct builder *b, const char *host)
{
    if (!keytable_get(&b->claimed, host))
        return keytable_put(&b->claimed, (char *)host, NULL);
    if (!keytable_get(&b->shared, host))
        return keytable_put(&b->shared, (char *)host, NULL);
    return 0;
}

/* Counts the hosts an Ingress to be merged names (its hosts, aliases and
 * www twins; select_one() for each one served), so that memo_alone()
 * knows who is alone on a host once all are counted. A
 * refused Ingress that asked for client certificates denies its rule
 * hosts to the others (deny_refused_hosts): no memo is used then. */
static int count_claims(struct builder *b, const struct model_ingress *mi)
{
    const struct model_compiled *c = mi->compiled;
    char name[VALIDATE_HOST_MAX + 1];
    const char *list, *v;

    if (!b->memos)
        return 0;
    if (!c->valid) {
        if (clientcert_asked(&c->mi))
            b->memos = 0;
        return 0;
    }
    for (size_t i = 0; i < mi->nhosts; i++)
        if (claim(b, mi->hosts[i]) < 0)
            return -1;
    list = ann_get(&mi->ann, ANN_SERVER_ALIAS);
    while (list && next_alias(&list, name, sizeof(name)))
        if (json_object_object_add(b->other_claims, name, NULL) < 0)
            return -1;
    v = ann_get(&mi->ann, ANN_FROM_TO_WWW_REDIRECT);
    if (!v || validate_bool_value(v, strlen(v)) != 1)
        return 0;
    for (size_t i = 0; i < mi->nhosts; i++)
        if (model_www_twin(mi->hosts[i], name, sizeof(name)) == 0 &&
            json_object_object_add(b->other_claims, name, NULL) < 0)
            return -1;
    return 0;
}

/* The Ingress is plain and the only one to name its hosts (count_claims
 * claimed each of them: only those two or more name, aliases and twins
 * are looked up, and there are mostly none). */
static int memo_alone(struct builder *b, const struct model_ingress *mi)
{
    int others = json_object_object_length(b->other_claims) > 0;

    if (!b->memos || !memo_plain(mi->compiled))
        return 0;
    for (size_t i = 0; i < mi->nhosts; i++)
        if ((b->shared.n && keytable_get(&b->shared, mi->hosts[i])) ||
            (others && json_object_object_get_ex(b->other_claims,
                                                 mi->hosts[i], NULL)))
            return 0;
    return 1;
}

/* key is "ns/name". */
static int key_is(const char *key, const char *ns, const char *name)
{
    size_t n = strlen(ns);

    return strncmp(key, ns, n) == 0 && key[n] == '/' &&
           strcmp(key + n + 1, name) == 0;
}

/* The Services the memo was made with are still those of the store
 * (no Service changed since, none of them is among those the store's
 * feed names since the last build that found it current, or each of
 * them is at the same revision). */
static int memo_current(const struct builder *b, struct merge_memo *memo,
                        const char *ns)
{
    unsigned long long gen = store_kind_generation(b->s, RK_SERVICE);
    int named = 0;

    if (memo->services_gen == gen)
        return 1;
    if (b->svc_changes_known &&
        memo->services_gen == b->cache->services_gen) {
        for (size_t i = 0; i < memo->nservices && !named; i++)
            for (size_t j = 0; j < b->nsvc_changed && !named; j++)
                named = key_is(b->svc_changed[j], ns,
                               memo->services[i].name);
        if (!named) {
            memo->services_gen = gen;
            return 1;
        }
    }
    for (size_t i = 0; i < memo->nservices; i++) {
        const struct store_entry *e =
            store_lookup(b->s, RK_SERVICE, ns, memo->services[i].name);
        if ((e ? e->rev : 0) != memo->services[i].rev)
            return 0;
    }
    memo->services_gen = gen;
    return 1;
}

static int memo_hold(struct builder *b, struct merge_memo *memo)
{
    struct model *m = b->m;

    if (m->nmemos == b->capmemos) {
        size_t cap = b->capmemos ? b->capmemos * 2 : 64;
        struct merge_memo **a = realloc(m->memos, cap * sizeof(*a));
        if (!a)
            return -1;
        m->memos = a;
        b->capmemos = cap;
    }
    m->memos[m->nmemos++] = memo;
    memo->refs++;
    return 0;
}

static int add_warning(struct model *m, const char *w)
{
    char **a = realloc(m->warnings, (m->nwarnings + 1) * sizeof(*a));

    if (!a)
        return -1;
    m->warnings = a;
    if (!(a[m->nwarnings] = strdup(w)))
        return -1;
    m->nwarnings++;
    return 0;
}

/* Room for n locations of a borrowed server: 100k servers' locations
 * taken from a few blocks, not 100k allocations. NULL out of memory. */
#define LOC_BLOCK 4096
static struct model_location *take_locs(struct builder *b, size_t n)
{
    struct model *m = b->m;
    struct model_location **a, *block;

    if (n > b->loc_left) {
        size_t size = n > LOC_BLOCK ? n : LOC_BLOCK;
        a = realloc(m->loc_blocks, (m->nloc_blocks + 1) * sizeof(*a));
        if (!a)
            return NULL;
        m->loc_blocks = a;
        if (!(block = malloc(size * sizeof(*block))))
            return NULL;
        a[m->nloc_blocks++] = block;
        b->loc_left = size;
    }
    block = m->loc_blocks[m->nloc_blocks - 1];
    b->loc_left -= n;
    return block + b->loc_left;
}

/* The server of host among those Ingress k has made from index first
 * on (made, borrowing host, with room for nlocs locations, when there is
 * none); NULL out of memory. */
static struct model_server *replay_server(struct builder *b, size_t first,
                                          const char *host, size_t k,
                                          size_t nlocs)
{
    struct model *m = b->m;
    struct model_server *sv;

    for (size_t i = first; i < m->nservers; i++)
        if (strcmp(m->servers[i].host, host) == 0)
            return &m->servers[i];
    if (!(sv = next_server(b)) || !(sv->locs = take_locs(b, nlocs)))
        return NULL;
    m->nservers++;
    sv->caplocs = nlocs;
    sv->host = (char *)host;
    sv->wildcard = host[0] == '*';
    sv->owner = k;
    sv->borrowed = 1;
    return sv;
}

/* merge_ingress() of plain Ingress k alone on its hosts, as its memo
 * says the Services answer (merge_route() on servers of its own, the
 * strings borrowed). 0, or -1 out of memory. */
static int memo_replay(struct builder *b, const struct model_compiled *c,
                       struct merge_memo *memo, size_t k)
{
    struct model *m = b->m;
    size_t first = m->nservers;
    int unchanged = memo->replayed == (unsigned)(b->cache->build - 1);

    memo->replayed = (unsigned)b->cache->build;
    for (size_t i = 0; i < memo->nups; i++)
        if (!use_upstream(b, memo->ups[i].name, memo->ups[i].server, k, 1))
            return -1;
    for (size_t i = 0; i < c->p.n; i++) {
        const struct route *r = &c->p.routes[i];
        const char *ups = memo->route_ups[i] < 0
                              ? NULL : memo->ups[memo->route_ups[i]].name;
        /* (each route adds a location at most) */
        struct model_server *sv = replay_server(b, first, r->host, k,
                                                c->p.n);
        struct model_location *l = NULL;
        if (!sv)
            return -1;
        for (size_t j = 0; j < sv->nlocs && !l; j++)
            if (sv->locs[j].match == r->match &&
                strcmp(sv->locs[j].path, r->path) == 0)
                l = &sv->locs[j];
        if (l && r->priority >= l->priority)
            continue;   /* merge_route: the first one stays */
        if (!l) {
            l = &sv->locs[sv->nlocs++];
            memset(l, 0, sizeof(*l));
            l->match = r->match;
            l->path = r->path;
            l->seq = b->seq++;
        }
        l->raw = (char *)r->raw;
        l->service = (char *)r->svc;
        port_text(l->port, r->port_number, r->port_name);
        l->upstream = ups;
        l->ingress = k;
        l->priority = r->priority;
        l->regex = r->regex;
    }
    for (size_t i = first; i < m->nservers; i++) {
        m->servers[i].redirect = c->https_only;
        m->servers[i].unchanged = unchanged;
    }
    for (size_t i = 0; i < memo->nwarnings; i++)
        if (add_warning(m, memo->warnings[i]) < 0)
            return -1;
    return 0;
}

/* Merges served Ingress k alone on its hosts: as its memo says when the
 * Services are unchanged, else merged and recorded. */
static int merge_alone(struct builder *b, struct model_compiled *c,
                       size_t k)
{
    struct model *m = b->m;
    struct merge_memo *memo = c->memo;
    struct memo_rec rec = {0};
    size_t w = m->nwarnings;
    int rc;

    if (memo && memo_current(b, memo, c->mi.ns))
        return memo_hold(b, memo) < 0 ? -1 : memo_replay(b, c, memo, k);
    b->rec = &rec;
    rc = merge_ingress(b, c, k);
    b->rec = NULL;
    /* (one backend_upstream() call per route: a plain Ingress) */
    if (rc == 0 && !rec.failed && rec.ncalls == c->p.n &&
        (memo = memo_pack(&rec, m->warnings + w, m->nwarnings - w))) {
        memo->services_gen = store_kind_generation(b->s, RK_SERVICE);
        memo_unref(c->memo);
        c->memo = memo;
    }
    memo_rec_free(&rec);
    return rc;
}

/* The second part of an Ingress, oldest first: refused, or merged. */
static int merge_one(struct builder *b, size_t k)
{
    struct model *m = b->m;
    struct model_ingress *mi = &m->ings[k];
    struct model_compiled *c = mi->compiled;
    struct json_object *ing = NULL;
    char err[REASON_MAX];
    int rc = 0;

    if (mi->state == ING_EXCLUDED)
        return 0;
    if (!c->valid || check_client_conflict(b, mi, err, sizeof(err)) < 0) {
        mi->state = ING_REJECTED;
        mi->reason = strdup(c->valid ? err : c->reason);
        /* (rare: the object is parsed again for its rule hosts) */
        if (clientcert_asked(mi) &&
            (!(ing = store_entry_parse(
                  store_lookup_key(b->s, RK_INGRESS, c->key))) ||
             note_deny_hosts(b, ing) < 0))
            rc = -1;
    } else if (model_ann_true(mi, ANN_CANARY)) {
        rc = stash_canary(b, k, &c->p);
    } else if (memo_alone(b, mi)) {
        rc = merge_alone(b, c, k);
    } else {
        rc = merge_ingress(b, c, k);
    }
    json_object_put(ing);
    return rc;
}

/* The key of a keytable of strings: the string. */
static const char *name_key(const void *name)
{
    return name;
}

int model_build(struct model *m, const struct store *s,
                const struct model_opts *o)
{
    struct builder b = {.m = m, .s = s, .o = o, .cache = o->cache};
    size_t n = store_count(s, RK_INGRESS);
    unsigned long long mark = store_feed_mark(s, RK_INGRESS);
    unsigned long long svc_mark = store_feed_mark(s, RK_SERVICE);
    struct class_cache classes = {.default_class = -1};
    int rc = -1, patched = 0;

    memset(m, 0, sizeof(*m));
    if (!b.cache && !(b.cache = model_cache_new()))
        return -1;
    b.cache->build++;
    b.deny_hosts = json_object_new_object();
    keytable_init(&b.ups_index, name_key);
    keytable_init(&b.claimed, name_key);
    keytable_init(&b.shared, name_key);
    if (!b.deny_hosts)
        goto out;
    /* memo'd servers are not in host_index: it grows as needed */
    b.host_index = lh_kchar_table_new(HOST_INDEX_START, NULL);
    b.memos = o->cache != NULL;
    b.other_claims = json_object_new_object();
    if (!b.host_index || !b.other_claims)
        goto out;
    m->ings = calloc(n ? n : 1, sizeof(*m->ings));
    /* about a server an Ingress: grown when there are more */
    b.capservers = n + 16;
    m->servers = malloc(b.capservers * sizeof(*m->servers));
    if (!m->ings || !m->servers || keytable_reserve(&b.claimed, n) < 0)
        goto out;
    b.svc_changes_known =
        b.cache->services_known &&
        store_feed_since(s, RK_SERVICE, b.cache->services_mark,
                         &b.svc_changed, &b.nsvc_changed) == 0 &&
        b.nsvc_changed <= SERVICES_NAMED_MAX;
    if (select_all(&b, &classes, &patched) < 0)
        goto out;
    for (size_t k = 0; k < m->ning; k++)
        if (merge_one(&b, k) < 0)
            goto out;
    deny_refused_hosts(&b);
    attach_canaries(&b);
    for (size_t i = 0; i < m->ning; i++)
        if (add_aliases(&b, i) < 0 || add_www_twins(&b, i) < 0)
            goto out;
    if (enforce_regex(&b, &m->def) < 0)
        goto out;
    for (size_t i = 0; i < m->nservers; i++)
        if (enforce_regex(&b, &m->servers[i]) < 0)
            goto out;
    sort(m->def.locs, m->def.nlocs, sizeof(*m->def.locs),
         m->def.regex ? cmp_regex_loc : cmp_loc);
    for (size_t i = 0; i < m->nservers; i++)
        sort(m->servers[i].locs, m->servers[i].nlocs,
             sizeof(*m->servers[i].locs),
             m->servers[i].regex ? cmp_regex_loc : cmp_loc);
    sort_keyed(m->servers, m->nservers, sizeof(*m->servers), key_server,
               cmp_server);
    sort_keyed(m->ups, m->nups, sizeof(*m->ups), key_ups, cmp_ups);
    ups_merge(m);
    sort(m->vault_hosts, m->nvault, sizeof(*m->vault_hosts), cmp_str);
    for (size_t i = 0; i < m->nservers; i++)
        if (m->servers[i].crt && !tls_redirect_off(m, m->servers[i].owner))
            m->servers[i].redirect = 1;
    b.cache->ordered = 1;
    b.cache->patched = patched;
    b.cache->feed_mark = mark;
    b.cache->services_known = 1;
    b.cache->services_gen = store_kind_generation(s, RK_SERVICE);
    b.cache->services_mark = svc_mark;
    rc = 0;
out:
    canaries_free(&b);
    if (b.host_index)
        lh_table_free(b.host_index);
    keytable_fini(&b.ups_index);
    keytable_fini(&b.claimed);
    keytable_fini(&b.shared);
    json_object_put(b.other_claims);
    json_object_put(b.deny_hosts);
    if (rc == 0)
        cache_sweep(b.cache, !patched);
    if (b.cache != o->cache)
        model_cache_free(b.cache);
    if (rc < 0)
        model_free(m);
    return rc;
}

static void server_free(struct model_server *sv)
{
    for (size_t i = 0; i < sv->nlocs && !sv->borrowed; i++) {
        free(sv->locs[i].path);
        free(sv->locs[i].raw);
        free(sv->locs[i].service);
    }
    if (!sv->borrowed)
        free(sv->locs);     /* (else in the model's loc_blocks) */
    free(sv->fallback_service);
    if (!sv->borrowed)
        free(sv->host);
    free(sv->crt);
    free(sv->key);
}

void model_free(struct model *m)
{
    for (size_t i = 0; i < m->ning; i++) {
        struct model_ingress *mi = &m->ings[i];
        free(mi->reason);
        if (mi->compiled)
            compiled_unref(mi->compiled);   /* owns the other fields */
        else
            ingress_fields_free(mi);
    }
    free(m->ings);
    server_free(&m->def);
    for (size_t i = 0; i < m->nservers; i++)
        server_free(&m->servers[i]);
    free(m->servers);
    for (size_t i = 0; i < m->nups; i++) {
        if (m->ups[i].borrowed)
            continue;
        free(m->ups[i].name);
        free(m->ups[i].server);
    }
    free(m->ups);
    for (size_t i = 0; i < m->nmemos; i++)
        memo_unref(m->memos[i]);
    free(m->memos);
    for (size_t i = 0; i < m->nloc_blocks; i++)
        free(m->loc_blocks[i]);
    free(m->loc_blocks);
    for (size_t i = 0; i < m->nvault; i++)
        free(m->vault_hosts[i]);
    free(m->vault_hosts);
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    memset(m, 0, sizeof(*m));
}
