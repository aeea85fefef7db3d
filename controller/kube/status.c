/*
 * status.c - status.loadBalancer of the served Ingresses: the view of
 * every Ingress's status and the writes that converge it; see status.h.
 */
#include "controller/kube/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/publish.h"
#include "controller/kube/reflector.h"
#include "controller/kube/source.h"
#include "controller/kube/view.h"
#include "controller/object.h"
#include "log.h"

#define MERGE_PATCH "application/merge-patch+json"
#define STATUS_TAG 's'

struct ingress_status {
    struct kube_client *kc;
    struct kube_writes *writes;
    struct kube_source *tapped;     /* the source feeding the view, or */
    struct reflector *refl;         /* our own Ingress watch */
    /* "ns/name" -> lb_canonical; the flag: we set its status. The mark:
     * the list that last listed it. */
    struct view *view;
    unsigned long lists;            /* the mark of the latest list */
    int listing;                    /* a paged list is under way */
    int synced;
    void (*changed)(void *arg, int now);
    void (*gone)(void *arg, const char *ns, const char *name);
    void *arg;
};

/* ---- the view -------------------------------------------------------- */

static void forget(void *arg, const char *key)
{
    struct ingress_status *s = arg;
    char ns[VIEW_NAME_MAX], name[VIEW_NAME_MAX];

    view_split_key(key, ns, sizeof(ns), name, sizeof(name));
    s->gone(s->arg, ns, name);
}

/* obj's status into the view; listed in the current list if one runs. */
static void observe(struct ingress_status *s, struct json_object *obj)
{
    char *k = view_key(obj), *c = lb_canonical_of_ingress(obj);
    struct view_entry *e = k && c ? view_set(s->view, k, c) : NULL;

    if (e && s->listing)
        e->mark = s->lists;
    free(k);
    free(c);
}

static void ing_put(void *arg, struct json_object *obj)
{
    struct ingress_status *s = arg;

    observe(s, obj);
    s->changed(s->arg, 0);
}

/* A paged (re)list: mark what it lists, forget the rest at the end. */
static void ing_begin(void *arg)
{
    struct ingress_status *s = arg;

    s->lists++;
    s->listing = 1;
}

static void ing_end(void *arg)
{
    struct ingress_status *s = arg;

    if (!s->listing)
        return;
    s->listing = 0;
    view_sweep(s->view, s->lists, forget, s);
    s->changed(s->arg, 0);
}

static void ing_remove(void *arg, struct json_object *obj)
{
    struct ingress_status *s = arg;
    char *k = view_key(obj);

    if (k) {
        forget(s, k);
        view_remove(s->view, k);
    }
    free(k);
}

/* A whole list at once (a sink without pages). */
static void ing_replace(void *arg, struct json_object *items)
{
    struct ingress_status *s = arg;

    ing_begin(s);
    for (size_t i = 0; i < json_object_array_length(items); i++)
        observe(s, json_object_array_get_idx(items, i));
    ing_end(s);
}

static void ing_synced(void *arg)
{
    struct ingress_status *s = arg;

    s->synced = 1;
    s->changed(s->arg, 1);
}

/* ---- the writes ------------------------------------------------------ */

/* A status patch answered: the object it returns is what the view shows. */
static int patched(struct ingress_status *s, const char *key,
                   const struct kube_response *resp, int cleared)
{
    if (resp->status >= HTTP_OK && resp->status < HTTP_MULTIPLE_CHOICES) {
        struct json_object *o = json_tokener_parse(resp->body);
        char *c = o ? lb_canonical_of_ingress(o) : NULL;
        struct view_entry *e = c ? view_set(s->view, key, c)
                                 : view_get(s->view, key);
        if (e)
            e->flag = !cleared;
        free(c);
        json_object_put(o);
        log_debug("kube: %s status of Ingress %s",
                  cleared ? "cleared" : "published", key);
        return 1;
    }
    if (resp->status == HTTP_NOT_FOUND) {
        view_remove(s->view, key);
        return 1;
    }
    return 0;
}

static int set_done(void *arg, const char *key,
                    const struct kube_response *resp)
{
    return patched(arg, key, resp, 0);
}

static int clear_done(void *arg, const char *key,
                      const struct kube_response *resp)
{
    return patched(arg, key, resp, 1);
}

static const struct kube_write_kind status_set = {
    STATUS_TAG, "status of Ingress", set_done};
static const struct kube_write_kind status_clear = {
    STATUS_TAG, "status of Ingress", clear_done};

static char *status_path(const char *key)
{
    char ns[VIEW_NAME_MAX], name[VIEW_NAME_MAX], *path;

    view_split_key(key, ns, sizeof(ns), name, sizeof(name));
    if (asprintf(&path, "/apis/networking.k8s.io/v1/namespaces/%s/"
                 "ingresses/%s/status", ns, name) < 0)
        return NULL;
    return path;
}

static void write_status(struct ingress_status *s, const char *key,
                         const struct publish_targets *t, int clear)
{
    size_t n = 0;
    const struct lb_address *list = clear ? NULL
                                          : publish_targets_addresses(t, &n);
    char *body = lb_status_patch(list, n), *path = status_path(key);

    if (body && path)
        kube_writes_start(s->writes, clear || n == 0 ? &status_clear
                                                     : &status_set,
                          s, key, "PATCH", path, MERGE_PATCH, body);
    free(path);
    free(body);
}

int ingress_status_sync(struct ingress_status *s,
                        const struct served_set *served,
                        const struct publish_targets *t, size_t max_writes)
{
    const char *want = publish_targets_canonical(t);
    const struct served_entry *se;
    const struct view_entry *ve;
    size_t pos = 0;

    /* Status of every served Ingress; never an empty one: without an
     * address to publish, each keeps the address it shows (a Service
     * between two load balancers must not delete DNS records). */
    while (*want && (se = served_set_next(served, &pos))) {
        if (kube_writes_count(s->writes) >= max_writes)
            return 0;
        if (!(ve = view_get(s->view, se->key)))
            continue;   /* not seen yet: the watch will tell */
        if (strcmp(ve->text, want) != 0 &&
            !kube_writes_in_flight(s->writes, STATUS_TAG, se->key))
            write_status(s, se->key, t, 0);
    }
    /* Ingresses no longer served: clear what we wrote. */
    pos = 0;
    while ((ve = view_next(s->view, &pos))) {
        if (kube_writes_count(s->writes) >= max_writes)
            return 0;
        if (!*ve->text || served_set_get(served, ve->key) ||
            kube_writes_in_flight(s->writes, STATUS_TAG, ve->key))
            continue;
        if (ve->flag || strcmp(ve->text, want) == 0)
            write_status(s, ve->key, t, 1);
    }
    return 1;
}

void ingress_status_clear_all(struct ingress_status *s,
                              const struct served_set *served)
{
    char *body = lb_status_patch(NULL, 0);
    const struct served_entry *se;
    size_t pos = 0;

    while ((se = served_set_next(served, &pos))) {
        char *path = status_path(se->key);
        if (body && path)
            kube_writes_forget(s->writes, "PATCH", path, MERGE_PATCH, body);
        free(path);
    }
    free(body);
    log_info("kube: clearing the status of the served Ingresses");
}

/* ---- life ------------------------------------------------------------ */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

struct ingress_status *ingress_status_start(struct kube_client *kc,
                                            struct kube_writes *writes,
                                            const struct ingress_status_opts *o,
                                            char *err, size_t errlen)
{
    struct ingress_status *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->kc = kc;
    s->writes = writes;
    s->changed = o->changed;
    s->gone = o->gone;
    s->arg = o->arg;
    s->view = view_new();
    if (!s->view) {
        snprintf(err, errlen, "out of memory");
        ingress_status_free(s);
        return NULL;
    }
    struct reflector_sink sink = {
        .replace = ing_replace, .begin = ing_begin, .end = ing_end,
        .put = ing_put, .remove = ing_remove, .synced = ing_synced, .arg = s,
    };
    /* The source lists and watches the same Ingresses: share them. */
    if (o->source &&
        strcmp(or_empty(o->watch_namespace),
               or_empty(kube_source_namespace(o->source))) == 0 &&
        kube_source_tap_ingresses(o->source, &sink) == 0) {
        s->tapped = o->source;
        return s;
    }
    struct buf path;
    buf_init(&path);
    kube_collection_path(&path, "/apis/networking.k8s.io/v1",
                         o->watch_namespace, "ingresses");
    struct reflector_opts ro = {
        .name = "ingresses (status)", .path = path.data, .sink = sink,
    };
    s->refl = buf_failed(&path) ? NULL : reflector_start(kc, &ro);
    buf_free(&path);
    if (!s->refl) {
        snprintf(err, errlen, "cannot start the publisher's watches");
        ingress_status_free(s);
        return NULL;
    }
    return s;
}

int ingress_status_synced(const struct ingress_status *s)
{
    return s->synced;
}

void ingress_status_free(struct ingress_status *s)
{
    if (!s)
        return;
    if (s->tapped)
        kube_source_tap_ingresses(s->tapped, NULL);
    reflector_free(s->refl);
    view_free(s->view);
    free(s);
}
