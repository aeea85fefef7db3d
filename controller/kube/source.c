/*
 * source.c - kube_source: one reflector per kind the controller needs,
 * feeding the store. Secrets are watched by type, with a fieldSelector:
 * type=kubernetes.io/tls (certificates) and type=Opaque (htpasswd files,
 * client CAs: what `kubectl create secret generic` makes), never the
 * others (real clusters hold many large Secrets of other types: Helm
 * releases, service account tokens), and filtered client-side too, so a
 * server that ignores the selector still cannot fill memory with them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/source.h"
#include "controller/object.h"
#include "dnsname.h"
#include "log.h"

#define SECRET_TYPE_TLS    "kubernetes.io/tls"
#define SECRET_TYPE_OPAQUE "Opaque"

struct kind_sink {
    struct store *store;
    enum resource_kind kind;
    struct kube_source *src;
};

struct kube_source {
    struct kind_sink sinks[RK_COUNT];
    struct reflector *refl[RK_COUNT];
    char *watch_ns;                 /* NULL: all */
    int ingresses_synced;
    struct reflector_sink ingress_tap;
    int has_ingress_tap;
};

/* The publisher's Ingress view, when it taps this source. */
static const struct reflector_sink *tap(const struct kind_sink *k)
{
    return k->kind == RK_INGRESS && k->src->has_ingress_tap
               ? &k->src->ingress_tap : NULL;
}

static void sink_replace(void *arg, struct json_object *items)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    store_replace(k->store, k->kind, items);
    if (t)
        t->replace(t->arg, items);
}

/* Lists go into the store page by page with its mark-and-sweep: what a
 * complete list did not mention is removed at the end. */
static void sink_begin(void *arg)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    store_sweep_begin(k->store, k->kind);
    if (t && t->begin)
        t->begin(t->arg);
}

static void sink_end(void *arg)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    store_sweep_end(k->store, k->kind);
    if (t && t->end)
        t->end(t->arg);
}

static void sink_put(void *arg, struct json_object *obj)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    store_put(k->store, k->kind, obj);
    if (t)
        t->put(t->arg, obj);
}

static void sink_remove(void *arg, struct json_object *obj)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    const char *name = k8s_str(obj, "metadata.name");
    if (name)
        store_remove(k->store, k->kind, k8s_str(obj, "metadata.namespace"),
                     name);
    if (t)
        t->remove(t->arg, obj);
}

static void sink_synced(void *arg)
{
    struct kind_sink *k = arg;
    const struct reflector_sink *t = tap(k);
    store_mark_synced(k->store, k->kind);
    if (k->kind == RK_INGRESS) {
        k->src->ingresses_synced = 1;
        if (t && t->synced)
            t->synced(t->arg);
    }
}

static int secret_is_tls(struct json_object *obj)
{
    const char *t = k8s_str(obj, "type");
    return t && strcmp(t, SECRET_TYPE_TLS) == 0;
}

static int secret_is_opaque(struct json_object *obj)
{
    const char *t = k8s_str(obj, "type");
    return t && strcmp(t, SECRET_TYPE_OPAQUE) == 0;
}

struct kind_info {
    const char *name;       /* resource plural */
    const char *group_path; /* "/api/v1" or "/apis/<group>/<version>" */
    int namespaced;
    const char *field_selector;
    int (*accept)(struct json_object *obj);
};

static const struct kind_info kinds[RK_COUNT] = {
    [RK_INGRESS] = {"ingresses", "/apis/networking.k8s.io/v1", 1, NULL, NULL},
    [RK_INGRESS_CLASS] = {"ingressclasses", "/apis/networking.k8s.io/v1", 0,
                          NULL, NULL},
    [RK_SERVICE] = {"services", "/api/v1", 1, NULL, NULL},
    [RK_SECRET] = {"secrets", "/api/v1", 1, "type=" SECRET_TYPE_TLS,
                   secret_is_tls},
    [RK_SECRET_OPAQUE] = {"secrets", "/api/v1", 1,
                          "type=" SECRET_TYPE_OPAQUE, secret_is_opaque},
};

struct kube_source *kube_source_start(struct kube_client *kc,
                                      struct store *store,
                                      const char *watch_namespace,
                                      char *err, size_t errlen)
{
    struct kube_source *src = calloc(1, sizeof(*src));
    int ns = watch_namespace && *watch_namespace;

    if (!src) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* A namespace name is a DNS-1123 label; it goes into URL paths. */
    if (ns && !dnsname_valid(watch_namespace, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "invalid --watch-namespace \"%s\"",
                 watch_namespace);
        free(src);
        return NULL;
    }
    if (ns && !(src->watch_ns = strdup(watch_namespace))) {
        snprintf(err, errlen, "out of memory");
        free(src);
        return NULL;
    }
    for (int k = 0; k < RK_COUNT; k++) {
        const struct kind_info *ki = &kinds[k];
        struct buf path;
        buf_init(&path);
        kube_collection_path(&path, ki->group_path,
                             ki->namespaced ? src->watch_ns : NULL, ki->name);
        src->sinks[k].store = store;
        src->sinks[k].kind = (enum resource_kind)k;
        src->sinks[k].src = src;
        struct reflector_opts o = {
            .name = ki->name,
            .path = path.data,
            .field_selector = ki->field_selector,
            .accept = ki->accept,
            .sink = {.replace = sink_replace, .begin = sink_begin,
                     .end = sink_end, .put = sink_put, .remove = sink_remove,
                     .synced = sink_synced, .arg = &src->sinks[k]},
        };
        src->refl[k] = buf_failed(&path) ? NULL : reflector_start(kc, &o);
        buf_free(&path);
        if (!src->refl[k]) {
            snprintf(err, errlen, "cannot start the %s watch", ki->name);
            kube_source_free(src);
            return NULL;
        }
    }
    log_info("kube: watching ingresses, ingressclasses, services and TLS "
             "secrets in %s", ns ? watch_namespace : "all namespaces");
    return src;
}

void kube_source_free(struct kube_source *src)
{
    if (!src)
        return;
    for (int k = 0; k < RK_COUNT; k++)
        reflector_free(src->refl[k]);
    free(src->watch_ns);
    free(src);
}

int kube_source_tap_ingresses(struct kube_source *src,
                              const struct reflector_sink *tap)
{
    if (!tap) {
        src->has_ingress_tap = 0;
        return 0;
    }
    if (src->ingresses_synced || src->has_ingress_tap)
        return -1;
    src->ingress_tap = *tap;
    src->has_ingress_tap = 1;
    return 0;
}

const char *kube_source_namespace(const struct kube_source *src)
{
    return src->watch_ns;
}
