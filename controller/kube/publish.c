/* publish.c - see publish.h. */
#include "controller/kube/publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/object.h"

enum { TTL_MAX = INT32_MAX };

enum target_type target_type_of(const char *target)
{
    unsigned char b[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, target, b) == 1)
        return TARGET_A;
    if (inet_pton(AF_INET6, target, b) == 1)
        return TARGET_AAAA;
    return TARGET_CNAME;
}

static const char *type_name(enum target_type t)
{
    return t == TARGET_A ? "A" : t == TARGET_AAAA ? "AAAA" : "CNAME";
}

size_t targets_from_service(struct json_object *svc, char ***out)
{
    struct json_object *arr = k8s_get(svc, "status.loadBalancer.ingress");
    size_t n = 0, len;
    char **t;

    *out = NULL;
    if (!arr || !json_object_is_type(arr, json_type_array))
        return 0;
    len = json_object_array_length(arr);
    t = calloc(len ? len : 1, sizeof(*t));
    if (!t)
        return 0;
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        const char *ip = k8s_str(e, "ip"), *h = k8s_str(e, "hostname");
        const char *v = ip && *ip ? ip : h && *h ? h : NULL;
        if (v && (t[n] = strdup(v)))
            n++;
    }
    *out = t;
    return n;
}

void targets_free(char **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    free(t);
}

struct json_object *lb_ingress_for_targets(const char *const *targets,
                                           size_t n)
{
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, target_type_of(targets[i]) == TARGET_CNAME
                                      ? "hostname" : "ip",
                               json_object_new_string(targets[i]));
        json_object_array_add(arr, e);
    }
    return arr;
}

char *lb_canonical(struct json_object *arr)
{
    struct buf b;
    size_t len;

    buf_init(&b);
    buf_puts(&b, "");
    if (arr && json_object_is_type(arr, json_type_array)) {
        len = json_object_array_length(arr);
        for (size_t i = 0; i < len; i++) {
            struct json_object *e = json_object_array_get_idx(arr, i);
            const char *ip = k8s_str(e, "ip"), *h = k8s_str(e, "hostname");
            if (b.len)
                buf_puts(&b, "|");
            if (ip && *ip)
                buf_printf(&b, "ip:%s", ip);
            if (h && *h)
                buf_printf(&b, "%shostname:%s", ip && *ip ? "," : "", h);
        }
    }
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

char *lb_canonical_of_ingress(struct json_object *ingress)
{
    return lb_canonical(k8s_get(ingress, "status.loadBalancer.ingress"));
}

char *lb_status_patch(const char *const *targets, size_t n)
{
    struct json_object *o = json_object_new_object();
    struct json_object *st = json_object_new_object();
    struct json_object *lb = json_object_new_object();
    char *out;

    json_object_object_add(lb, "ingress", n ? lb_ingress_for_targets(targets,
                                                                      n)
                                            : NULL);
    json_object_object_add(st, "loadBalancer", lb);
    json_object_object_add(o, "status", st);
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

/* Go's time.ParseDuration, to whole seconds; -1 when invalid. */
static long long go_duration_seconds(const char *s)
{
    static const struct { const char *unit; double ns; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    double total = 0;
    int neg = 0;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0)
        return 0;
    if (!*s)
        return -1;
    while (*s) {
        const char *start = s;
        double v = 0, frac = 0, scale = 1;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                frac = frac * 10 + (*s++ - '0');
                scale *= 10;
                digits++;
            }
        }
        if (!digits || s == start)
            return -1;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(s, units[i].unit, ul) == 0 && ul > best) {
                best = ul;
                mult = units[i].ns;
            }
        }
        if (!best)
            return -1;      /* Go: "missing unit" / "unknown unit" */
        s += best;
        total += (v + frac / scale) * mult;
        if (total > 9.3e18)
            return -1;      /* overflows int64 nanoseconds */
    }
    if (neg)
        total = -total;
    return (long long)(total / 1e9);
}

long externaldns_parse_ttl(const char *value)
{
    char *end;
    long long v;

    if (!value || !*value)
        return 0;
    errno = 0;
    v = strtoll(value, &end, 10);
    if (end == value || *end || errno == ERANGE)
        v = go_duration_seconds(value);
    if (v < 1 || v > TTL_MAX)
        return 0;
    return (long)v;
}

long externaldns_ttl_of(struct json_object *ingress)
{
    struct json_object *ann = k8s_get(ingress, "metadata.annotations");
    const char *v = k8s_key_str(ann, EXTERNALDNS_TTL);
    if (!v)
        v = k8s_key_str(ann, EXTERNALDNS_TTL_ALPHA);
    return externaldns_parse_ttl(v);
}

const char *dnsendpoint_name(const char *ingress_name)
{
    return ingress_name;
}

struct json_object *dnsendpoint_build(const char *ns, const char *name,
                                      const char *uid,
                                      const char *const *hosts, size_t nhosts,
                                      const char *const *targets,
                                      size_t ntargets, long ttl)
{
    struct json_object *o, *meta, *labels, *owners, *owner, *spec, *eps;

    if (!nhosts || !ntargets)
        return NULL;
    o = json_object_new_object();
    json_object_object_add(o, "apiVersion",
                           json_object_new_string("externaldns.k8s.io/v1alpha1"));
    json_object_object_add(o, "kind", json_object_new_string("DNSEndpoint"));
    meta = json_object_new_object();
    json_object_object_add(meta, "name",
                           json_object_new_string(dnsendpoint_name(name)));
    json_object_object_add(meta, "namespace", json_object_new_string(ns));
    labels = json_object_new_object();
    json_object_object_add(labels, PORTICO_MANAGED_BY_LABEL,
                           json_object_new_string(PORTICO_MANAGED_BY_VALUE));
    json_object_object_add(meta, "labels", labels);
    owners = json_object_new_array();
    owner = json_object_new_object();
    json_object_object_add(owner, "apiVersion",
                           json_object_new_string("networking.k8s.io/v1"));
    json_object_object_add(owner, "kind", json_object_new_string("Ingress"));
    json_object_object_add(owner, "name", json_object_new_string(name));
    json_object_object_add(owner, "uid", json_object_new_string(uid ? uid
                                                                    : ""));
    json_object_object_add(owner, "controller", json_object_new_boolean(1));
    json_object_array_add(owners, owner);
    json_object_object_add(meta, "ownerReferences", owners);
    json_object_object_add(o, "metadata", meta);

    spec = json_object_new_object();
    eps = json_object_new_array();
    for (size_t h = 0; h < nhosts; h++) {
        for (int t = TARGET_A; t <= TARGET_CNAME; t++) {
            struct json_object *tl = NULL;
            for (size_t i = 0; i < ntargets; i++) {
                if ((int)target_type_of(targets[i]) != t)
                    continue;
                if (!tl)
                    tl = json_object_new_array();
                json_object_array_add(tl, json_object_new_string(targets[i]));
            }
            if (!tl)
                continue;
            struct json_object *ep = json_object_new_object();
            json_object_object_add(ep, "dnsName",
                                   json_object_new_string(hosts[h]));
            json_object_object_add(ep, "recordType", json_object_new_string(
                                       type_name((enum target_type)t)));
            json_object_object_add(ep, "targets", tl);
            if (ttl > 0)
                json_object_object_add(ep, "recordTTL",
                                       json_object_new_int64(ttl));
            json_object_array_add(eps, ep);
        }
    }
    json_object_object_add(spec, "endpoints", eps);
    json_object_object_add(o, "spec", spec);
    return o;
}

char *dnsendpoint_canonical(struct json_object *d)
{
    struct json_object *owners = k8s_get(d, "metadata.ownerReferences");
    struct json_object *eps = k8s_get(d, "spec.endpoints");
    struct json_object *labels = k8s_get(d, "metadata.labels");
    struct buf b;

    buf_init(&b);
    buf_puts(&b, "owner=");
    if (owners && json_object_is_type(owners, json_type_array) &&
        json_object_array_length(owners) > 0) {
        struct json_object *ow = json_object_array_get_idx(owners, 0);
        const char *uid = k8s_str(ow, "uid");
        buf_puts(&b, uid ? uid : "");
    }
    const char *managed_by = k8s_key_str(labels, PORTICO_MANAGED_BY_LABEL);
    buf_printf(&b, ";label=%s;", managed_by ? managed_by : "");
    if (eps && json_object_is_type(eps, json_type_array)) {
        size_t n = json_object_array_length(eps);
        for (size_t i = 0; i < n; i++) {
            struct json_object *ep = json_object_array_get_idx(eps, i), *v;
            const char *dn = k8s_str(ep, "dnsName");
            const char *rt = k8s_str(ep, "recordType");
            buf_printf(&b, "[%s %s", dn ? dn : "", rt ? rt : "");
            if (json_object_object_get_ex(ep, "recordTTL", &v))
                buf_printf(&b, " ttl=%lld",
                           (long long)json_object_get_int64(v));
            if (json_object_object_get_ex(ep, "targets", &v) &&
                json_object_is_type(v, json_type_array)) {
                size_t m = json_object_array_length(v);
                for (size_t j = 0; j < m; j++) {
                    const char *t = json_object_get_string(
                        json_object_array_get_idx(v, j));
                    buf_printf(&b, " %s", t ? t : "");
                }
            }
            buf_puts(&b, "]");
        }
    }
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
