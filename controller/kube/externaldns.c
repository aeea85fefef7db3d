/* externaldns.c - ExternalDNS's ingress source, for DNSEndpoints; see
 * externaldns.h (which names the lines followed). */
#include "controller/kube/externaldns.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller/kube/publish.h"
#include "controller/object.h"
#include "dnsname.h"

enum {
    TTL_MAX = INT32_MAX,
    MAX_NAMES = 512,            /* hostnames (or targets) of one Ingress */
};

/* The annotation keys, after the prefix (annotations.go L49-70). */
#define KEY_TTL "ttl"
#define KEY_TARGET "target"
#define KEY_HOSTNAME "hostname"
#define KEY_HOSTNAME_SOURCE "ingress-hostname-source"
#define KEY_CONTROLLER "controller"
#define KEY_SET_IDENTIFIER "set-identifier"
#define KEY_ALIAS "alias"
#define KEY_RECORD_TYPE "record-type"
#define KEY_AZURE_TAGS "azure-tags"
#define SOURCE_DEFINED_HOSTS_ONLY "defined-hosts-only"
#define SOURCE_ANNOTATION_ONLY "annotation-only"

int externaldns_prefix_valid(const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;

    return n > 0 && prefix[n - 1] == '/';
}

struct json_object *externaldns_annotations_of(struct json_object *ingress,
                                               const char *prefix)
{
    struct json_object *ann = k8s_get(ingress, "metadata.annotations");
    struct json_object *out = NULL;
    size_t plen = strlen(prefix);

    if (!ann || !json_object_is_type(ann, json_type_object))
        return NULL;
    json_object_object_foreach(ann, key, val) {
        if (strncmp(key, prefix, plen) != 0 || !key[plen] ||
            !json_object_is_type(val, json_type_string))
            continue;
        if (!out && !(out = json_object_new_object()))
            return NULL;
        json_object_object_add(out, key + plen, json_object_get(val));
    }
    return out;
}

/* ---- ttl --------------------------------------------------------------- */

/* Go's time.ParseDuration, to whole seconds (truncated, as
 * Duration.Seconds() converted to int64); -1 when invalid. */
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

/* parseTTL: a Go duration, else a base-10 integer (strconv.ParseInt:
 * an optional sign, digits, nothing else). */
long externaldns_parse_ttl(const char *value)
{
    char *end;
    long long v;

    if (!value || !*value || isspace((unsigned char)*value))
        return 0;
    v = go_duration_seconds(value);
    if (v < 0 && *value != '-') {
        errno = 0;
        v = strtoll(value, &end, 10);
        if (*end || errno == ERANGE)
            v = -1;
    }
    if (v < 1 || v > TTL_MAX)
        return 0;
    return (long)v;
}

/* ---- names ------------------------------------------------------------- */

struct names {
    char *v[MAX_NAMES];
    size_t n;
};

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static int names_has(const struct names *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* Adds s (len bytes) without one trailing dot (NewEndpointWithTTL trims
 * it from names and targets), once. */
static void names_add(struct names *l, const char *s, size_t len)
{
    char *d;

    if (len && s[len - 1] == '.')
        len--;
    if (!len || l->n == MAX_NAMES || !(d = strndup(s, len)))
        return;
    if (names_has(l, d)) {
        free(d);
        return;
    }
    l->v[l->n++] = d;
}

/* SplitHostnameAnnotation: spaces removed, whitespace trimmed at both
 * ends, split at commas; empty items are left out (ExternalDNS would
 * keep them as empty names). */
static void names_split(struct names *l, const char *value)
{
    size_t len = strlen(value), k = 0;
    char *s = malloc(len + 1);

    if (!s)
        return;
    for (size_t i = 0; i < len; i++)
        if (value[i] != ' ')
            s[k++] = value[i];
    s[k] = '\0';
    char *start = s, *end = s + k;
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    for (char *p = start; *p || p == start;) {
        char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        names_add(l, p, n);
        if (!comma)
            break;
        p = comma + 1;
    }
    free(s);
}

static int valid_hostname(const char *h)
{
    return dnsname_valid(h, DNSNAME_UPPERCASE | DNSNAME_UNDERSCORE |
                                DNSNAME_WILDCARD);
}

static int valid_target(const char *t)
{
    return target_type_of(t) != TARGET_CNAME ||
           dnsname_valid(t, DNSNAME_UPPERCASE | DNSNAME_UNDERSCORE);
}

/* Leaves out what is neither a DNS name nor an IP, telling skipped. */
static void names_keep_valid(struct names *l, int (*valid)(const char *),
                             struct json_object *skipped)
{
    size_t k = 0;

    for (size_t i = 0; i < l->n; i++) {
        if (valid(l->v[i])) {
            l->v[k++] = l->v[i];
            continue;
        }
        if (skipped)
            json_object_array_add(skipped, json_object_new_string(l->v[i]));
        free(l->v[i]);
    }
    l->n = k;
}

/* ---- provider-specific properties -------------------------------------- */

static void add_property(struct json_object *ps, const char *name,
                         const char *value)
{
    struct json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, "value", json_object_new_string(value));
    json_object_array_add(ps, p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ProviderSpecificAnnotations (provider_specific.go L23-104): alias and
 * record-type first, then the other keys in key order (Go ranges over the
 * map in random order). Cloudflare's properties keep the whole key. */
static struct json_object *provider_specific(struct json_object *ann,
                                             const char *prefix,
                                             const char **set_identifier)
{
    static const struct { const char *key, *provider; } by_prefix[] = {
        {"aws-", "aws"}, {"scw-", "scw"}, {"webhook-", "webhook"},
        {"coredns-", "coredns"},
    };
    static const char *const cloudflare[] = {
        "cloudflare-custom-hostname", "cloudflare-proxied",
        "cloudflare-region-key", "cloudflare-record-comment",
        "cloudflare-tags",
    };
    struct json_object *ps = json_object_new_array();
    const char *keys[MAX_NAMES], *v;
    size_t n = 0;
    char name[512];

    *set_identifier = NULL;
    if (!ann)
        return ps;
    if ((v = k8s_key_str(ann, KEY_ALIAS)) && strcmp(v, "true") == 0)
        add_property(ps, "alias", "true");
    if ((v = k8s_key_str(ann, KEY_RECORD_TYPE)))
        add_property(ps, "record-type", v);
    json_object_object_foreach(ann, key, val) {
        (void)val;
        if (n < MAX_NAMES)
            keys[n++] = key;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i];
        v = k8s_key_str(ann, k);
        if (strcmp(k, KEY_SET_IDENTIFIER) == 0) {
            *set_identifier = v;
            continue;
        }
        if (strcmp(k, KEY_AZURE_TAGS) == 0) {
            add_property(ps, "azure/tags", v);
            continue;
        }
        for (size_t j = 0; j < sizeof(by_prefix) / sizeof(by_prefix[0]);
             j++) {
            size_t pl = strlen(by_prefix[j].key);
            if (strncmp(k, by_prefix[j].key, pl) == 0) {
                snprintf(name, sizeof(name), "%s/%s", by_prefix[j].provider,
                         k + pl);
                add_property(ps, name, v);
                break;
            }
        }
        /* strings.Contains(key, prefix + "cloudflare-proxied") and so on:
         * on a key that starts with the prefix, a key starting so. */
        for (size_t j = 0; j < sizeof(cloudflare) / sizeof(cloudflare[0]);
             j++) {
            if (strncmp(k, cloudflare[j], strlen(cloudflare[j])) == 0) {
                snprintf(name, sizeof(name), "%s%s", prefix, cloudflare[j]);
                add_property(ps, name, v);
                break;
            }
        }
    }
    return ps;
}

/* ---- endpoints --------------------------------------------------------- */

static const char *type_name(enum target_type t)
{
    return t == TARGET_A ? "A" : t == TARGET_AAAA ? "AAAA" : "CNAME";
}

/* EndpointsForHostname: one endpoint per record type that has targets. */
static void add_endpoints(struct json_object *eps, const char *host,
                          const struct names *targets, long ttl,
                          const char *set_identifier,
                          struct json_object *ps)
{
    for (int t = TARGET_A; t <= TARGET_CNAME; t++) {
        const char *of_type[MAX_NAMES];
        size_t n = 0;
        for (size_t i = 0; i < targets->n; i++)
            if ((int)target_type_of(targets->v[i]) == t)
                of_type[n++] = targets->v[i];
        if (!n)
            continue;
        /* MergeEndpoints sorts each endpoint's targets. */
        qsort(of_type, n, sizeof(*of_type), cmp_str);
        struct json_object *ep = json_object_new_object();
        struct json_object *tl = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(tl, json_object_new_string(of_type[i]));
        json_object_object_add(ep, "dnsName", json_object_new_string(host));
        json_object_object_add(ep, "recordType", json_object_new_string(
                                   type_name((enum target_type)t)));
        json_object_object_add(ep, "targets", tl);
        if (ttl > 0)
            json_object_object_add(ep, "recordTTL",
                                   json_object_new_int64(ttl));
        if (set_identifier && *set_identifier)
            json_object_object_add(ep, "setIdentifier",
                                   json_object_new_string(set_identifier));
        if (json_object_array_length(ps) > 0)
            json_object_object_add(ep, "providerSpecific",
                                   json_object_get(ps));
        json_object_array_add(eps, ep);
    }
}

struct json_object *externaldns_endpoints(const char *const *hosts,
                                          size_t nhosts,
                                          struct json_object *ann,
                                          const char *prefix,
                                          const char *const *targets,
                                          size_t ntargets,
                                          struct json_object *skipped)
{
    const char *controller = k8s_key_str(ann, KEY_CONTROLLER);
    const char *source = k8s_key_str(ann, KEY_HOSTNAME_SOURCE);
    const char *target = k8s_key_str(ann, KEY_TARGET);
    const char *hostname = k8s_key_str(ann, KEY_HOSTNAME);
    const char *set_identifier;
    int defined = 1, annotated = 1;
    struct names names = {.n = 0}, tl = {.n = 0};
    struct json_object *eps, *ps;

    /* IsControllerMatch: the annotation, when present, must say so. */
    if (controller && strcmp(controller, EXTERNALDNS_CONTROLLER_VALUE) != 0)
        return NULL;
    /* ingress-hostname-source (ingress.go L276-289): any other value
     * gives no hostname at all. */
    if (source) {
        defined = strcasecmp(source, SOURCE_DEFINED_HOSTS_ONLY) == 0;
        annotated = strcasecmp(source, SOURCE_ANNOTATION_ONLY) == 0;
    }
    for (size_t i = 0; defined && i < nhosts; i++)
        names_add(&names, hosts[i], strlen(hosts[i]));
    if (annotated && hostname)
        names_split(&names, hostname);
    names_keep_valid(&names, valid_hostname, skipped);
    /* The target annotation, when set and not empty, else the status. */
    if (target && *target) {
        names_split(&tl, target);
    } else {
        for (size_t i = 0; i < ntargets; i++)
            names_add(&tl, targets[i], strlen(targets[i]));
    }
    names_keep_valid(&tl, valid_target, skipped);

    eps = json_object_new_array();
    ps = provider_specific(ann, prefix, &set_identifier);
    for (size_t i = 0; eps && ps && i < names.n; i++)
        add_endpoints(eps, names.v[i], &tl,
                      externaldns_parse_ttl(k8s_key_str(ann, KEY_TTL)),
                      set_identifier, ps);
    json_object_put(ps);
    names_free(&names);
    names_free(&tl);
    return eps;
}
