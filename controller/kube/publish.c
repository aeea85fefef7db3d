/* publish.c - see publish.h. */
#include "controller/kube/publish.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/object.h"

#define INGRESS_API_VERSION "networking.k8s.io/v1"

enum target_type target_type_of(const char *target)
{
    unsigned char b[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, target, b) == 1)
        return TARGET_A;
    if (inet_pton(AF_INET6, target, b) == 1)
        return TARGET_AAAA;
    return TARGET_CNAME;
}

/* ---- addresses --------------------------------------------------------- */

static int is_ip(const char *s)
{
    return target_type_of(s) != TARGET_CNAME;
}

/* A copy of s, or NULL when s is NULL or empty. *failed is set when the
 * copy could not be made. */
static char *dup_nonempty(const char *s, int *failed)
{
    char *d;

    if (!s || !*s)
        return NULL;
    if (!(d = strdup(s)))
        *failed = 1;
    return d;
}

void lb_addresses_free(struct lb_address *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].ip);
        free(a[i].hostname);
    }
    free(a);
}

int lb_address_of_text(struct lb_address *a, const char *text)
{
    int failed = 0;

    a->ip = a->hostname = NULL;
    if (is_ip(text))
        a->ip = dup_nonempty(text, &failed);
    else
        a->hostname = dup_nonempty(text, &failed);
    return failed ? -1 : 0;
}

/* ingress-nginx's stringInIngresses: is s any entry's ip or hostname? */
static int listed(const struct lb_address *a, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i].ip && strcmp(a[i].ip, s) == 0) ||
            (a[i].hostname && strcmp(a[i].hostname, s) == 0))
            return 1;
    return 0;
}

static size_t array_len(struct json_object *arr)
{
    return arr && json_object_is_type(arr, json_type_array)
               ? json_object_array_length(arr) : 0;
}

/* Appends the strings of arr (IPs, as "ip") not listed yet. */
static void add_ips(struct lb_address *a, size_t *n, struct json_object *arr,
                    int *failed)
{
    for (size_t i = 0; i < array_len(arr); i++) {
        const char *ip = json_object_get_string(json_object_array_get_idx(
                                                    arr, i));
        if (!ip || !*ip || listed(a, *n, ip))
            continue;
        a[*n].hostname = NULL;
        if ((a[*n].ip = dup_nonempty(ip, failed)))
            (*n)++;
    }
}

size_t lb_addresses_of_service(struct json_object *svc,
                               struct lb_address **out)
{
    const char *type = k8s_str(svc, "spec.type");
    struct json_object *lb = k8s_get(svc, "status.loadBalancer.ingress");
    struct json_object *ext = k8s_get(svc, "spec.externalIPs");
    struct json_object *cips = k8s_get(svc, "spec.clusterIPs");
    const char *cip = k8s_str(svc, "spec.clusterIP");
    size_t max = array_len(lb) + array_len(ext) + array_len(cips) + 1, n = 0;
    struct lb_address *a = calloc(max, sizeof(*a));
    int failed = 0;

    *out = NULL;
    if (!a)
        return 0;
    if (!type)
        type = "ClusterIP";     /* the API server's default */
    if (strcmp(type, "LoadBalancer") == 0) {
        for (size_t i = 0; i < array_len(lb); i++) {
            struct json_object *e = json_object_array_get_idx(lb, i);
            a[n].ip = dup_nonempty(k8s_str(e, "ip"), &failed);
            a[n].hostname = dup_nonempty(k8s_str(e, "hostname"), &failed);
            if (a[n].ip || a[n].hostname)
                n++;
        }
        add_ips(a, &n, ext, &failed);
    } else if (strcmp(type, "NodePort") == 0 && array_len(ext)) {
        add_ips(a, &n, ext, &failed);
    } else if (strcmp(type, "NodePort") == 0 ||
               strcmp(type, "ClusterIP") == 0) {
        /* Both families of a dual-stack Service (ingress-nginx takes
         * spec.clusterIP, the first of them). */
        if (array_len(cips))
            add_ips(a, &n, cips, &failed);
        else if (cip && *cip && (a[n].ip = dup_nonempty(cip, &failed)))
            n++;
        if (n == 1 && strcmp(a[0].ip, "None") == 0) {  /* headless */
            free(a[0].ip);
            n = 0;
        }
    } else if (strcmp(type, "ExternalName") == 0) {
        if ((a[n].hostname = dup_nonempty(k8s_str(svc, "spec.externalName"),
                                          &failed)))
            n++;
    }
    if (failed || n == 0) {
        lb_addresses_free(a, n);
        return 0;
    }
    *out = a;
    return n;
}

struct json_object *lb_ingress_json(const struct lb_address *a, size_t n)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();
        if (a[i].ip)
            json_object_object_add(e, "ip", json_object_new_string(a[i].ip));
        if (a[i].hostname)
            json_object_object_add(e, "hostname",
                                   json_object_new_string(a[i].hostname));
        json_object_array_add(arr, e);
    }
    return arr;
}

char *lb_canonical(struct json_object *arr)
{
    struct buf b;

    buf_init(&b);
    buf_puts(&b, "");
    for (size_t i = 0; i < array_len(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        const char *ip = k8s_str(e, "ip"), *h = k8s_str(e, "hostname");
        if (b.len)
            buf_puts(&b, "|");
        if (ip && *ip)
            buf_printf(&b, "ip:%s", ip);
        if (h && *h)
            buf_printf(&b, "%shostname:%s", ip && *ip ? "," : "", h);
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

char *lb_status_patch(const struct lb_address *a, size_t n)
{
    struct json_object *o = json_object_new_object();
    struct json_object *st = json_object_new_object();
    struct json_object *lb = json_object_new_object();
    char *out;

    json_object_object_add(lb, "ingress", n ? lb_ingress_json(a, n) : NULL);
    json_object_object_add(st, "loadBalancer", lb);
    json_object_object_add(o, "status", st);
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

static int seen(const char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

size_t lb_dns_targets(const struct lb_address *a, size_t n,
                      const char **out, size_t max)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const char *both[] = {a[i].ip, a[i].hostname};
        for (size_t j = 0; j < 2; j++)
            if (both[j] && k < max && !seen(out, k, both[j]))
                out[k++] = both[j];
    }
    return k;
}

/* ---- DNSEndpoints ------------------------------------------------------ */

const char *dnsendpoint_name(const char *ingress_name)
{
    return ingress_name;
}

struct json_object *dnsendpoint_build(const char *ns, const char *name,
                                      const char *uid, const char *owner_id,
                                      struct json_object *endpoints)
{
    struct json_object *o, *meta, *labels, *ann, *owners, *owner, *spec;

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
    ann = json_object_new_object();
    json_object_object_add(ann, PORTICO_OWNER_ANNOTATION,
                           json_object_new_string(owner_id));
    json_object_object_add(meta, "annotations", ann);
    owners = json_object_new_array();
    owner = json_object_new_object();
    json_object_object_add(owner, "apiVersion",
                           json_object_new_string(INGRESS_API_VERSION));
    json_object_object_add(owner, "kind", json_object_new_string("Ingress"));
    json_object_object_add(owner, "name", json_object_new_string(name));
    json_object_object_add(owner, "uid", json_object_new_string(uid ? uid
                                                                    : ""));
    json_object_object_add(owner, "controller", json_object_new_boolean(1));
    json_object_array_add(owners, owner);
    json_object_object_add(meta, "ownerReferences", owners);
    json_object_object_add(o, "metadata", meta);
    spec = json_object_new_object();
    json_object_object_add(spec, "endpoints", endpoints);
    json_object_object_add(o, "spec", spec);
    return o;
}

/* Its controller ownerReference to the Ingress of its own name, if any. */
static struct json_object *ingress_owner(struct json_object *d)
{
    struct json_object *owners = k8s_get(d, "metadata.ownerReferences");
    const char *name = k8s_str(d, "metadata.name");

    for (size_t i = 0; name && i < array_len(owners); i++) {
        struct json_object *ow = json_object_array_get_idx(owners, i), *c;
        const char *kind = k8s_str(ow, "kind"), *api = k8s_str(ow,
                                                                "apiVersion");
        const char *oname = k8s_str(ow, "name");
        if (kind && strcmp(kind, "Ingress") == 0 && api &&
            strcmp(api, INGRESS_API_VERSION) == 0 && oname &&
            strcmp(oname, name) == 0 &&
            json_object_object_get_ex(ow, "controller", &c) &&
            json_object_get_boolean(c))
            return ow;
    }
    return NULL;
}

int dnsendpoint_is_ours(struct json_object *d, const char *owner_id)
{
    const char *label = k8s_key_str(k8s_get(d, "metadata.labels"),
                                    PORTICO_MANAGED_BY_LABEL);
    const char *owner = k8s_key_str(k8s_get(d, "metadata.annotations"),
                                    PORTICO_OWNER_ANNOTATION);

    return label && strcmp(label, PORTICO_MANAGED_BY_VALUE) == 0 &&
           ingress_owner(d) && (!owner || strcmp(owner, owner_id) == 0);
}

static void canonical_strings(struct buf *b, struct json_object *arr)
{
    for (size_t i = 0; i < array_len(arr); i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(arr,
                                                                         i));
        buf_printf(b, " %s", s ? s : "");
    }
}

static void canonical_endpoint(struct buf *b, struct json_object *ep)
{
    struct json_object *v;
    const char *dn = k8s_str(ep, "dnsName"), *rt = k8s_str(ep, "recordType");
    const char *set = k8s_str(ep, "setIdentifier");

    buf_printf(b, "[%s %s", dn ? dn : "", rt ? rt : "");
    if (json_object_object_get_ex(ep, "recordTTL", &v))
        buf_printf(b, " ttl=%lld", (long long)json_object_get_int64(v));
    if (set && *set)
        buf_printf(b, " set=%s", set);
    canonical_strings(b, k8s_get(ep, "targets"));
    v = k8s_get(ep, "providerSpecific");
    for (size_t i = 0; i < array_len(v); i++) {
        struct json_object *p = json_object_array_get_idx(v, i);
        const char *pn = k8s_str(p, "name"), *pv = k8s_str(p, "value");
        buf_printf(b, " {%s=%s}", pn ? pn : "", pv ? pv : "");
    }
    buf_puts(b, "]");
}

char *dnsendpoint_canonical(struct json_object *d)
{
    struct json_object *owner = ingress_owner(d);
    struct json_object *eps = k8s_get(d, "spec.endpoints");
    const char *uid = owner ? k8s_str(owner, "uid") : NULL;
    const char *label = k8s_key_str(k8s_get(d, "metadata.labels"),
                                    PORTICO_MANAGED_BY_LABEL);
    const char *by = k8s_key_str(k8s_get(d, "metadata.annotations"),
                                 PORTICO_OWNER_ANNOTATION);
    struct buf b;

    buf_init(&b);
    buf_printf(&b, "owner=%s;label=%s;by=%s;", uid ? uid : "",
               label ? label : "", by ? by : "");
    for (size_t i = 0; i < array_len(eps); i++)
        canonical_endpoint(&b, json_object_array_get_idx(eps, i));
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
