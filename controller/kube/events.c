/*
 * events.c - kube_emit_event: core/v1 Events on an Ingress, aggregated
 * like client-go's recorder: a repeat of the same (object, type, reason,
 * message) within the aggregation window patches count and lastTimestamp
 * of the Event already written instead of creating another one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "controller/kube/client_internal.h"
#include "controller/kube/events.h"
#include "evloop.h"
#include "log.h"

enum {
    EVENT_CACHE_MAX = 1024,             /* entries; cleared when full */
    EVENT_AGGREGATE_WINDOW_MS = 600 * 1000, /* client-go: 10 minutes */
    EVENT_NAME_MAX = 253,
    EVENT_NAME_SUFFIX = 17,             /* ".%016llx" */
    EVENT_MESSAGE_MAX = 1024,
};
#define EVENT_COMPONENT "portico-controller"

struct event_req;

struct kube_events {
    struct kube_client *kc;
    struct json_object *cache;  /* key -> {ns, name, count, sent, since,
                                           busy} */
    struct event_req *reqs;     /* in flight */
};

static void req_forget(struct event_req *r);

struct kube_events *kube_events_new(void)
{
    struct kube_events *e = calloc(1, sizeof(*e));
    if (e && !(e->cache = json_object_new_object())) {
        free(e);
        return NULL;
    }
    return e;
}

void kube_events_free(struct kube_events *e)
{
    if (!e)
        return;
    /* The client cancels the requests themselves; free their context. */
    while (e->reqs)
        req_forget(e->reqs);
    json_object_put(e->cache);
    free(e);
}

char *kube_event_body(const char *ns, const char *ingress_name,
                      const char *uid, const char *type, const char *reason,
                      const char *message, const char *event_name, long count,
                      const char *first, const char *last)
{
    struct json_object *o = json_object_new_object(), *m, *io, *src;
    char *out;

    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "kind", json_object_new_string("Event"));
    m = json_object_new_object();
    json_object_object_add(m, "name", json_object_new_string(event_name));
    json_object_object_add(m, "namespace", json_object_new_string(ns));
    json_object_object_add(o, "metadata", m);
    io = json_object_new_object();
    json_object_object_add(io, "apiVersion",
                           json_object_new_string("networking.k8s.io/v1"));
    json_object_object_add(io, "kind", json_object_new_string("Ingress"));
    json_object_object_add(io, "namespace", json_object_new_string(ns));
    json_object_object_add(io, "name", json_object_new_string(ingress_name));
    if (uid && *uid)
        json_object_object_add(io, "uid", json_object_new_string(uid));
    json_object_object_add(o, "involvedObject", io);
    json_object_object_add(o, "reason", json_object_new_string(reason));
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "type", json_object_new_string(type));
    src = json_object_new_object();
    json_object_object_add(src, "component",
                           json_object_new_string(EVENT_COMPONENT));
    json_object_object_add(o, "source", src);
    json_object_object_add(o, "reportingComponent",
                           json_object_new_string(EVENT_COMPONENT));
    json_object_object_add(o, "count", json_object_new_int64(count));
    json_object_object_add(o, "firstTimestamp", json_object_new_string(first));
    json_object_object_add(o, "lastTimestamp", json_object_new_string(last));
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

/* One request in flight for a cached event; freed with the cache. */
struct event_req {
    struct kube_events *ev;
    char *key;
    struct event_req *prev, *next;
};

static void req_forget(struct event_req *r)
{
    struct kube_events *ev = r->ev;
    if (r->prev)
        r->prev->next = r->next;
    else
        ev->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r->key);
    free(r);
}

static void send_patch(struct kube_events *ev, const char *key,
                       struct json_object *entry);

static void event_done(void *arg, const struct kube_response *resp)
{
    struct event_req *r = arg;
    struct kube_events *ev = r->ev;
    struct json_object *entry;

    if (json_object_object_get_ex(ev->cache, r->key, &entry)) {
        json_object_object_add(entry, "busy", json_object_new_boolean(0));
        if (resp->status < HTTP_OK || resp->status >= HTTP_MULTIPLE_CHOICES) {
            /* Gone or refused: the next repeat starts a new Event. */
            log_debug("kube: event write failed: HTTP %ld", resp->status);
            json_object_object_del(ev->cache, r->key);
        } else if (json_object_get_int64(json_object_object_get(entry,
                                                                "count")) >
                   json_object_get_int64(json_object_object_get(entry,
                                                                "sent"))) {
            send_patch(ev, r->key, entry);
        }
    }
    req_forget(r);
}

static void event_send(struct kube_events *ev, const char *key,
                 const char *method, const char *path, const char *ctype,
                 const char *body)
{
    struct event_req *r = calloc(1, sizeof(*r));
    struct json_object *entry;

    if (!r || !(r->key = strdup(key))) {
        free(r);
        return;
    }
    r->ev = ev;
    struct kube_request_opts o = {
        .method = method, .verb = method, .path = path,
        .content_type = ctype, .body = body, .done = event_done, .arg = r,
    };
    if (!kube_request(ev->kc, &o)) {
        log_warn("kube: cannot send an event");
        free(r->key);
        free(r);
        return;
    }
    r->next = ev->reqs;
    if (ev->reqs)
        ev->reqs->prev = r;
    ev->reqs = r;
    if (json_object_object_get_ex(ev->cache, key, &entry))
        json_object_object_add(entry, "busy", json_object_new_boolean(1));
}

static void send_patch(struct kube_events *ev, const char *key,
                       struct json_object *entry)
{
    char now[40], *body;
    struct buf path;
    int64_t count = json_object_get_int64(json_object_object_get(entry,
                                                                 "count"));
    struct json_object *patch = json_object_new_object();

    kube_format_time(now, sizeof(now), 0);
    json_object_object_add(patch, "count", json_object_new_int64(count));
    json_object_object_add(patch, "lastTimestamp",
                           json_object_new_string(now));
    body = strdup(json_object_to_json_string_ext(patch,
                                                 JSON_C_TO_STRING_PLAIN));
    json_object_put(patch);
    buf_init(&path);
    buf_printf(&path, "/api/v1/namespaces/%s/events/%s",
               json_object_get_string(json_object_object_get(entry, "ns")),
               json_object_get_string(json_object_object_get(entry, "name")));
    json_object_object_add(entry, "sent", json_object_new_int64(count));
    if (body && !buf_failed(&path))
        event_send(ev, key, "PATCH", path.data,
                   "application/merge-patch+json", body);
    buf_free(&path);
    free(body);
}

void kube_emit_event(struct kube_client *kc, const char *ns,
                     const char *ingress_name, const char *uid,
                     const char *type, const char *reason,
                     const char *message)
{
    struct kube_events *ev = kube_client_events(kc);
    struct json_object *entry;
    char now[40], msg[EVENT_MESSAGE_MAX + 1], *key = NULL, *body = NULL;
    uint64_t t;

    if (!ev || !ns || !ingress_name || !type || !reason || !message)
        return;
    ev->kc = kc;
    snprintf(msg, sizeof(msg), "%s", message);
    t = evloop_now_ms(kube_client_loop(kc));
    if (asprintf(&key, "%s\n%s\n%s\n%s\n%s\n%s", ns, ingress_name,
                 uid ? uid : "", type, reason, msg) < 0)
        return;
    if (json_object_object_get_ex(ev->cache, key, &entry) &&
        t - (uint64_t)json_object_get_int64(
                json_object_object_get(entry, "since")) <
            EVENT_AGGREGATE_WINDOW_MS) {
        int64_t count = json_object_get_int64(
            json_object_object_get(entry, "count")) + 1;
        json_object_object_add(entry, "count", json_object_new_int64(count));
        /* One write at a time per Event: a repeat while the create or a
         * patch is in flight is sent when that one is done. */
        if (!json_object_get_boolean(json_object_object_get(entry, "busy")))
            send_patch(ev, key, entry);
    } else {
        char name[EVENT_NAME_MAX + 1];
        struct timespec ts;
        struct buf path;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* client-go names events "<object>.<unix nanos in hex>". */
        snprintf(name, sizeof(name), "%.*s.%016llx",
                 EVENT_NAME_MAX - EVENT_NAME_SUFFIX, ingress_name,
                 (unsigned long long)ts.tv_sec * 1000000000ULL +
                     (unsigned long long)ts.tv_nsec);
        if (json_object_object_length(ev->cache) >= EVENT_CACHE_MAX) {
            /* Requests in flight find no entry and simply end. */
            json_object_put(ev->cache);
            ev->cache = json_object_new_object();
        }
        entry = json_object_new_object();
        json_object_object_add(entry, "ns", json_object_new_string(ns));
        json_object_object_add(entry, "name", json_object_new_string(name));
        json_object_object_add(entry, "count", json_object_new_int64(1));
        json_object_object_add(entry, "sent", json_object_new_int64(1));
        json_object_object_add(entry, "since", json_object_new_int64(
                                                   (int64_t)t));
        json_object_object_add(ev->cache, key, entry);
        kube_format_time(now, sizeof(now), 0);
        body = kube_event_body(ns, ingress_name, uid, type, reason, msg, name,
                               1, now, now);
        buf_init(&path);
        buf_printf(&path, "/api/v1/namespaces/%s/events", ns);
        if (body && !buf_failed(&path))
            event_send(ev, key, "POST", path.data, "application/json", body);
        buf_free(&path);
    }
    free(body);
    free(key);
}
