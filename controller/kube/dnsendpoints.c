/*
 * dnsendpoints.c - the DNSEndpoints of the served Ingresses: the view of
 * ours and the writes that converge it; see dnsendpoints.h.
 */
#include "controller/kube/dnsendpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/publish.h"
#include "controller/kube/reflector.h"
#include "controller/kube/view.h"
#include "controller/object.h"
#include "log.h"

#define MERGE_PATCH "application/merge-patch+json"
#define DNSEP_TAG 'd'
#define CONFLICTED "?"
#define DNSEP_GROUP "/apis/externaldns.k8s.io/v1alpha1"      /* in the view: exists, content unknown */

enum { MAX_DNS_HOSTS = 256 };          /* per Ingress in one DNSEndpoint */

struct dnsendpoints {
    struct kube_writes *writes;
    struct reflector *refl;
    struct json_object *view;       /* "ns/name" -> dnsendpoint_canonical */
    int synced;
    void (*changed)(void *arg, int now);
    void *arg;
};

/* ---- the view -------------------------------------------------------- */

static void dnse_put(void *arg, struct json_object *obj)
{
    struct dnsendpoints *d = arg;

    view_put(d->view, obj, dnsendpoint_canonical);
    d->changed(d->arg, 0);
}

static void dnse_remove(void *arg, struct json_object *obj)
{
    struct dnsendpoints *d = arg;

    view_del(d->view, obj);
    d->changed(d->arg, 0);
}

static void dnse_replace(void *arg, struct json_object *items)
{
    struct dnsendpoints *d = arg;

    json_object_put(d->view);
    d->view = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(items); i++)
        view_put(d->view, json_object_array_get_idx(items, i),
                 dnsendpoint_canonical);
    d->changed(d->arg, 0);
}

static void dnse_synced(void *arg)
{
    struct dnsendpoints *d = arg;

    d->synced = 1;
    d->changed(d->arg, 1);
}

/* ---- the writes ------------------------------------------------------ */

static int ok_status(const struct kube_response *resp)
{
    return resp->status >= HTTP_OK && resp->status < HTTP_MULTIPLE_CHOICES;
}

/* The object a create or patch returns is what the view shows. */
static void observe(struct dnsendpoints *d, const char *key,
                    const struct kube_response *resp)
{
    struct json_object *o = json_tokener_parse(resp->body);
    char *c = o ? dnsendpoint_canonical(o) : NULL;

    if (c)
        json_object_object_add(d->view, key, json_object_new_string(c));
    free(c);
    json_object_put(o);
}

static int created(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (ok_status(resp)) {
        observe(d, key, resp);
        log_debug("kube: created DNSEndpoint %s", key);
        return 1;
    }
    if (resp->status == HTTP_CONFLICT) {
        /* It exists already (our view lags): patch it next round. */
        json_object_object_add(d->view, key,
                               json_object_new_string(CONFLICTED));
        return 1;
    }
    return 0;
}

static int patched(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (!ok_status(resp))
        return 0;
    observe(d, key, resp);
    log_debug("kube: updated DNSEndpoint %s", key);
    return 1;
}

static int deleted(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (!ok_status(resp) && resp->status != HTTP_NOT_FOUND)
        return 0;
    json_object_object_del(d->view, key);
    log_debug("kube: deleted DNSEndpoint %s", key);
    return 1;
}

static const struct kube_write_kind dnsep_create = {
    DNSEP_TAG, "DNSEndpoint", created};
static const struct kube_write_kind dnsep_patch = {
    DNSEP_TAG, "DNSEndpoint", patched};
static const struct kube_write_kind dnsep_delete = {
    DNSEP_TAG, "DNSEndpoint", deleted};

/* desired NULL: delete it. exists: patch rather than create. */
static void write_dnsep(struct dnsendpoints *d, const char *key,
                        struct json_object *desired, int exists)
{
    char ns[VIEW_NAME_MAX], name[VIEW_NAME_MAX];
    struct buf path;

    view_split_key(key, ns, sizeof(ns), name, sizeof(name));
    buf_init(&path);
    kube_collection_path(&path, DNSEP_GROUP, ns, "dnsendpoints");
    if (!desired) {
        buf_printf(&path, "/%s", name);
        if (!buf_failed(&path))
            kube_writes_start(d->writes, &dnsep_delete, d, key, "DELETE",
                              path.data, NULL, NULL);
    } else {
        const char *body = json_object_to_json_string_ext(
            desired, JSON_C_TO_STRING_PLAIN);
        if (exists)
            buf_printf(&path, "/%s", name);
        if (!buf_failed(&path))
            kube_writes_start(d->writes, exists ? &dnsep_patch : &dnsep_create,
                              d, key, exists ? "PATCH" : "POST", path.data,
                              exists ? MERGE_PATCH : "application/json", body);
    }
    buf_free(&path);
}

/* The DNSEndpoint one served entry wants, or NULL (no hosts or targets). */
static struct json_object *desired(struct json_object *sv,
                                   const struct publish_targets *t)
{
    struct json_object *hosts = k8s_get(sv, "hosts");
    const char *hv[MAX_DNS_HOSTS];
    const char *const *list;
    size_t nh = 0, n;

    if (!hosts)
        return NULL;
    for (size_t i = 0; i < json_object_array_length(hosts) &&
                       nh < sizeof(hv) / sizeof(hv[0]); i++)
        hv[nh++] = json_object_get_string(json_object_array_get_idx(hosts,
                                                                    i));
    list = publish_targets_list(t, &n);
    return dnsendpoint_build(k8s_str(sv, "ns"), k8s_str(sv, "name"),
                             k8s_str(sv, "uid"), hv, nh, list, n,
                             (long)k8s_int(sv, "ttl"));
}

void dnsendpoints_sync(struct dnsendpoints *d, struct json_object *served,
                       const struct publish_targets *t, size_t max_writes)
{
    struct json_object *want = json_object_new_object();

    /* One per served Ingress with hosts and targets. */
    json_object_object_foreach(served, skey, sval) {
        struct json_object *dv = desired(sval, t);
        if (dv)
            json_object_object_add(want, skey, dv);
    }
    json_object_object_foreach(want, dkey, dval) {
        const char *obs = k8s_key_str(d->view, dkey);
        char *c;
        if (kube_writes_count(d->writes) >= max_writes)
            break;
        if (kube_writes_in_flight(d->writes, DNSEP_TAG, dkey))
            continue;
        c = dnsendpoint_canonical(dval);
        if (c && (!obs || strcmp(obs, c) != 0))
            write_dnsep(d, dkey, dval, obs != NULL);
        free(c);
    }
    /* Ours, of Ingresses no longer served (or without hosts). */
    json_object_object_foreach(d->view, vkey, vval) {
        (void)vval;
        if (kube_writes_count(d->writes) >= max_writes)
            break;
        if (!json_object_object_get_ex(want, vkey, NULL) &&
            !kube_writes_in_flight(d->writes, DNSEP_TAG, vkey))
            write_dnsep(d, vkey, NULL, 1);
    }
    json_object_put(want);
}

/* ---- life ------------------------------------------------------------ */

struct dnsendpoints *dnsendpoints_start(struct kube_client *kc,
                                        struct kube_writes *writes,
                                        const char *watch_namespace,
                                        void (*changed)(void *arg, int now),
                                        void *arg, char *err, size_t errlen)
{
    struct dnsendpoints *d = calloc(1, sizeof(*d));
    struct buf path;

    if (!d || !(d->view = json_object_new_object())) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->writes = writes;
    d->changed = changed;
    d->arg = arg;
    buf_init(&path);
    kube_collection_path(&path, DNSEP_GROUP, watch_namespace, "dnsendpoints");
    struct reflector_opts o = {
        .name = "dnsendpoints", .path = path.data,
        .label_selector = PORTICO_MANAGED_BY_LABEL "="
                          PORTICO_MANAGED_BY_VALUE,
        .sink = {.replace = dnse_replace, .put = dnse_put,
                 .remove = dnse_remove, .synced = dnse_synced, .arg = d},
    };
    d->refl = buf_failed(&path) ? NULL : reflector_start(kc, &o);
    buf_free(&path);
    if (!d->refl) {
        snprintf(err, errlen, "cannot start the publisher's watches");
        dnsendpoints_free(d);
        return NULL;
    }
    return d;
}

int dnsendpoints_synced(const struct dnsendpoints *d)
{
    return d->synced;
}

void dnsendpoints_free(struct dnsendpoints *d)
{
    if (!d)
        return;
    reflector_free(d->refl);
    json_object_put(d->view);
    free(d);
}
