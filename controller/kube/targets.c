/* targets.c - the published addresses, fixed or from a Service; see
 * targets.h. */
#include "controller/kube/targets.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/publish.h"
#include "controller/kube/reflector.h"
#include "controller/object.h"
#include "dnsname.h"
#include "log.h"

enum { MAX_DNS_TARGETS = 64 };

struct publish_targets {
    struct lb_address *list;
    size_t n;
    const char *dns[MAX_DNS_TARGETS];   /* into list */
    size_t ndns;
    char *canon;
    int known;
    char *svc_ns, *svc_name;
    struct reflector *svc_refl;
    void (*changed)(void *arg);
    void *arg;
};

static void set_list(struct publish_targets *t, struct lb_address *list,
                     size_t n)
{
    struct json_object *arr = lb_ingress_json(list, n);
    char *canon = lb_canonical(arr);

    json_object_put(arr);
    if (!canon) {
        lb_addresses_free(list, n);
        return;
    }
    if (!t->known || strcmp(canon, t->canon) != 0)
        log_info("kube: published addresses: %s", *canon ? canon :
                 "(none: the Ingress status and DNSEndpoints are left as "
                 "they are)");
    lb_addresses_free(t->list, t->n);
    free(t->canon);
    t->list = list;
    t->n = n;
    t->ndns = lb_dns_targets(list, n, t->dns, MAX_DNS_TARGETS);
    t->canon = canon;
    t->known = 1;
    if (t->changed)
        t->changed(t->arg);
}

static void svc_put(void *arg, struct json_object *obj)
{
    struct publish_targets *t = arg;
    const char *name = k8s_str(obj, "metadata.name");
    struct lb_address *list;
    size_t n;

    if (!name || strcmp(name, t->svc_name) != 0)
        return;
    n = lb_addresses_of_service(obj, &list);
    set_list(t, list, n);
}

static void svc_remove(void *arg, struct json_object *obj)
{
    struct publish_targets *t = arg;
    const char *name = k8s_str(obj, "metadata.name");

    if (name && strcmp(name, t->svc_name) == 0)
        set_list(t, NULL, 0);
}

static void svc_replace(void *arg, struct json_object *items)
{
    struct publish_targets *t = arg;

    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *o = json_object_array_get_idx(items, i);
        const char *name = k8s_str(o, "metadata.name");
        if (name && strcmp(name, t->svc_name) == 0) {
            svc_put(t, o);
            return;
        }
    }
    log_warn("kube: publish service %s/%s not found", t->svc_ns,
             t->svc_name);
    set_list(t, NULL, 0);
}

static int watch_service(struct publish_targets *t, struct kube_client *kc,
                         const char *service, char *err, size_t errlen)
{
    const char *slash = strchr(service, '/');
    char *path = NULL, *fsel = NULL;

    if (!slash) {
        snprintf(err, errlen, "--publish-service must be NS/NAME");
        return -1;
    }
    t->svc_ns = strndup(service, (size_t)(slash - service));
    t->svc_name = strdup(slash + 1);
    if (!t->svc_ns || !t->svc_name) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!dnsname_valid(t->svc_ns, DNSNAME_ONE_LABEL) ||
        !dnsname_valid(t->svc_name, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "--publish-service \"%s\" is not NS/NAME",
                 service);
        return -1;
    }
    if (asprintf(&path, "/api/v1/namespaces/%s/services", t->svc_ns) < 0)
        path = NULL;
    if (asprintf(&fsel, "metadata.name=%s", t->svc_name) < 0)
        fsel = NULL;
    struct reflector_opts o = {
        .name = "publish service", .path = path, .field_selector = fsel,
        .sink = {.replace = svc_replace, .put = svc_put,
                 .remove = svc_remove, .arg = t},
    };
    t->svc_refl = path && fsel ? reflector_start(kc, &o) : NULL;
    free(path);
    free(fsel);
    if (!t->svc_refl) {
        snprintf(err, errlen, "cannot start the publisher's watches");
        return -1;
    }
    return 0;
}

/* The fixed list: IPs, or names ExternalDNS takes as a CNAME target (any
 * case, an optional trailing dot). */
static int fixed_list(struct publish_targets *t, const char *const *addrs,
                      size_t naddrs, char *err, size_t errlen)
{
    struct lb_address *list = calloc(naddrs + 1, sizeof(*list));
    size_t n = 0;

    if (!list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < naddrs; i++) {
        const char *a = addrs[i];
        if (!a || !*a)
            continue;
        if (target_type_of(a) == TARGET_CNAME &&
            !dnsname_valid(a, DNSNAME_UPPERCASE | DNSNAME_TRAILING_DOT)) {
            snprintf(err, errlen, "--publish-status-address: \"%.100s\" "
                     "is neither an IP address nor a DNS name", a);
            lb_addresses_free(list, n);
            return -1;
        }
        if (lb_address_of_text(&list[n++], a) < 0) {
            snprintf(err, errlen, "out of memory");
            lb_addresses_free(list, n);
            return -1;
        }
    }
    set_list(t, list, n);
    return 0;
}

struct publish_targets *publish_targets_start(
    struct kube_client *kc, const struct publish_targets_opts *o, char *err,
    size_t errlen)
{
    struct publish_targets *t = calloc(1, sizeof(*t));
    int rc;

    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o->service && *o->service) {
        rc = watch_service(t, kc, o->service, err, errlen);
    } else {
        rc = fixed_list(t, o->addresses, o->naddresses, err, errlen);
        if (rc == 0 && !t->known) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc < 0) {
        publish_targets_free(t);
        return NULL;
    }
    t->changed = o->changed;        /* from now on: nothing to tell before */
    t->arg = o->arg;
    return t;
}

void publish_targets_free(struct publish_targets *t)
{
    if (!t)
        return;
    reflector_free(t->svc_refl);
    lb_addresses_free(t->list, t->n);
    free(t->canon);
    free(t->svc_ns);
    free(t->svc_name);
    free(t);
}

int publish_targets_known(const struct publish_targets *t)
{
    return t->known;
}

const struct lb_address *publish_targets_addresses(
    const struct publish_targets *t, size_t *n)
{
    *n = t->n;
    return t->list;
}

const char *const *publish_targets_dns(const struct publish_targets *t,
                                       size_t *n)
{
    *n = t->ndns;
    return t->dns;
}

const char *publish_targets_canonical(const struct publish_targets *t)
{
    return t->canon ? t->canon : "";
}
