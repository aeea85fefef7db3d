/*
 * events.c - kube_events (kube.h): core/v1 Events on an Ingress (or, for
 * the controller's own problems, on its Pod), written by the leader only and aggregated like client-go's recorder: a repeat of
 * the same (object, type, reason, message) within the aggregation window
 * patches count and lastTimestamp of the Event already written instead of
 * creating another one. Every replica remembers the current problems, so
 * a new leader can record those that no Event describes yet (events.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "controller/kube/backoff.h"
#include "controller/kube/client_internal.h"
#include "controller/kube/events.h"
#include "controller/kube/reflector.h"
#include "controller/object.h"
#include "evloop.h"
#include "log.h"

enum {
    EVENT_CACHE_MAX = 1024,             /* entries; cleared when full */
    EVENT_AGGREGATE_WINDOW_MS = 600 * 1000, /* client-go: 10 minutes */
    EVENT_NAME_MAX = 253,
    EVENT_NAME_SUFFIX = 17,             /* ".%016llx" */
    EVENT_MESSAGE_MAX = 1024,
    EVENT_LIST_PAGE = 500,              /* like the reflectors' pages */
};
#define EVENT_COMPONENT "portico-controller"
/* The Events we wrote: field selectors the real API server supports. */
#define EVENT_LIST_SELECTOR "source=" EVENT_COMPONENT ",involvedObject.kind=Ingress"

/* One request in flight for a cached event. */
struct event_req {
    struct kube_events *ev;
    struct kube_req *req;
    char *key;
    struct event_req *prev, *next;
};

enum events_state {
    EVENTS_FOLLOWER,    /* remember problems, write nothing */
    EVENTS_SYNCING,     /* leader: listing the Events already written */
    EVENTS_LEADER,      /* leader: write */
};

struct kube_events {
    struct kube_client *kc;
    char *watch_ns;             /* where the leader lists Events; NULL: all */
    struct json_object *cache;  /* key -> {ns, name, count, sent, since,
                                           busy} */
    struct json_object *problems; /* "ns/name" -> {ns, name, uid, type,
                                     reason, message} */
    struct event_req *reqs;     /* in flight */
    enum events_state state;
    struct kube_req *list_req;
    struct ev_timer *list_timer; /* retry of a failed list */
    struct backoff list_backoff;
    size_t adopted;             /* Events found by the list */
};

static void req_forget(struct event_req *r);
static void list_start(struct kube_events *ev, const char *cont);

static void list_retry_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    list_start(arg, NULL);
}

struct kube_events *kube_events_new(struct kube_client *kc,
                                    const char *watch_namespace)
{
    struct kube_events *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->kc = kc;
    if (watch_namespace && *watch_namespace &&
        !(e->watch_ns = strdup(watch_namespace))) {
        free(e);
        return NULL;
    }
    e->cache = json_object_new_object();
    e->problems = json_object_new_object();
    e->list_timer = evloop_timer_new(kube_client_loop(kc), list_retry_cb, e);
    backoff_init(&e->list_backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS,
                 BACKOFF_JITTER);
    if (!e->cache || !e->problems || !e->list_timer) {
        kube_events_free(e);
        return NULL;
    }
    return e;
}

void kube_events_free(struct kube_events *e)
{
    if (!e)
        return;
    while (e->reqs) {
        kube_request_cancel(e->kc, e->reqs->req);
        req_forget(e->reqs);
    }
    if (e->list_req)
        kube_request_cancel(e->kc, e->list_req);
    free(e->watch_ns);
    evloop_timer_free(e->list_timer);
    json_object_put(e->cache);
    json_object_put(e->problems);
    free(e);
}

#define INGRESS_API_VERSION "networking.k8s.io/v1"

char *kube_event_key(const struct kube_object_ref *obj, const char *type,
                     const char *reason, const char *message)
{
    char *key;
    if (asprintf(&key, "%s\n%s\n%s\n%s\n%s\n%s\n%s", obj->kind, obj->ns,
                 obj->name, obj->uid ? obj->uid : "", type, reason,
                 message) < 0)
        return NULL;
    return key;
}

char *kube_event_key_of(struct json_object *event)
{
    struct kube_object_ref obj = {
        .api_version = k8s_str(event, "involvedObject.apiVersion"),
        .kind = k8s_str(event, "involvedObject.kind"),
        .ns = k8s_str(event, "metadata.namespace"),
        .name = k8s_str(event, "involvedObject.name"),
        .uid = k8s_str(event, "involvedObject.uid"),
    };
    const char *type = k8s_str(event, "type");
    const char *reason = k8s_str(event, "reason");
    const char *message = k8s_str(event, "message");

    if (!obj.ns || !obj.kind || !obj.name || !type || !reason)
        return NULL;
    return kube_event_key(&obj, type, reason, message ? message : "");
}

char *kube_event_body(const struct kube_object_ref *obj, const char *type,
                      const char *reason, const char *message,
                      const char *event_name, long count, const char *first,
                      const char *last)
{
    struct json_object *o = json_object_new_object(), *m, *io, *src;
    char *out;

    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "kind", json_object_new_string("Event"));
    m = json_object_new_object();
    json_object_object_add(m, "name", json_object_new_string(event_name));
    json_object_object_add(m, "namespace", json_object_new_string(obj->ns));
    json_object_object_add(o, "metadata", m);
    io = json_object_new_object();
    json_object_object_add(io, "apiVersion",
                           json_object_new_string(obj->api_version));
    json_object_object_add(io, "kind", json_object_new_string(obj->kind));
    json_object_object_add(io, "namespace", json_object_new_string(obj->ns));
    json_object_object_add(io, "name", json_object_new_string(obj->name));
    if (obj->uid && *obj->uid)
        json_object_object_add(io, "uid", json_object_new_string(obj->uid));
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

/* The Ingress ns/name as an Event's involved object. */
static struct kube_object_ref ingress_ref(const char *ns, const char *name,
                                          const char *uid)
{
    struct kube_object_ref r = {.api_version = INGRESS_API_VERSION,
                                .kind = "Ingress", .ns = ns, .name = name,
                                .uid = uid};
    return r;
}


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
        } else if (ev->state == EVENTS_LEADER &&
                   json_object_get_int64(json_object_object_get(entry,
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
    if (!(r->req = kube_request(ev->kc, &o))) {
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

/* A cache entry for the Event named name (count already written). */
static struct json_object *cache_put(struct kube_events *ev, const char *key,
                                     const char *ns, const char *name,
                                     int64_t count)
{
    struct json_object *entry;

    if (json_object_object_length(ev->cache) >= EVENT_CACHE_MAX) {
        /* Requests in flight find no entry and simply end. */
        json_object_put(ev->cache);
        ev->cache = json_object_new_object();
    }
    entry = json_object_new_object();
    json_object_object_add(entry, "ns", json_object_new_string(ns));
    json_object_object_add(entry, "name", json_object_new_string(name));
    json_object_object_add(entry, "count", json_object_new_int64(count));
    json_object_object_add(entry, "sent", json_object_new_int64(count));
    json_object_object_add(entry, "since", json_object_new_int64(
        (int64_t)evloop_now_ms(kube_client_loop(ev->kc))));
    json_object_object_add(ev->cache, key, entry);
    return entry;
}

/* Writes the Event for one occurrence (leader only): a patch of the
 * cached Event within the window, else a new Event. */
static void write_event(struct kube_events *ev, const char *key,
                        const struct kube_object_ref *obj, const char *type,
                        const char *reason, const char *msg)
{
    struct json_object *entry;
    uint64_t t = evloop_now_ms(kube_client_loop(ev->kc));

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
        return;
    }
    char name[EVENT_NAME_MAX + 1], now[40], *body;
    struct timespec ts;
    struct buf path;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* client-go names events "<object>.<unix nanos in hex>". */
    snprintf(name, sizeof(name), "%.*s.%016llx",
             EVENT_NAME_MAX - EVENT_NAME_SUFFIX, obj->name,
             (unsigned long long)ts.tv_sec * 1000000000ULL +
                 (unsigned long long)ts.tv_nsec);
    cache_put(ev, key, obj->ns, name, 1);
    kube_format_time(now, sizeof(now), 0);
    body = kube_event_body(obj, type, reason, msg, name, 1, now, now);
    buf_init(&path);
    buf_printf(&path, "/api/v1/namespaces/%s/events", obj->ns);
    if (body && !buf_failed(&path))
        event_send(ev, key, "POST", path.data, "application/json", body);
    buf_free(&path);
    free(body);
}

/* Every replica remembers each Ingress's current Event, for when it
 * leads; msg is already cut to EVENT_MESSAGE_MAX. */
static void remember(struct kube_events *ev, const char *ns,
                     const char *ingress_name, const char *uid,
                     const char *type, const char *reason, const char *msg)
{
    char *pkey;
    struct json_object *p;

    if (asprintf(&pkey, "%s/%s", ns, ingress_name) < 0)
        return;
    p = json_object_new_object();
    json_object_object_add(p, "ns", json_object_new_string(ns));
    json_object_object_add(p, "name", json_object_new_string(ingress_name));
    json_object_object_add(p, "uid", json_object_new_string(uid ? uid : ""));
    json_object_object_add(p, "type", json_object_new_string(type));
    json_object_object_add(p, "reason", json_object_new_string(reason));
    json_object_object_add(p, "message", json_object_new_string(msg));
    json_object_object_add(ev->problems, pkey, p);
    free(pkey);
}

void kube_events_remember(struct kube_events *ev, const char *ns,
                          const char *ingress_name, const char *uid,
                          const char *type, const char *reason,
                          const char *message)
{
    char msg[EVENT_MESSAGE_MAX + 1];

    if (!ev || !ns || !ingress_name || !type || !reason || !message)
        return;
    snprintf(msg, sizeof(msg), "%s", message);
    remember(ev, ns, ingress_name, uid, type, reason, msg);
}

int kube_events_emit(struct kube_events *ev, const char *ns,
                     const char *ingress_name, const char *uid,
                     const char *type, const char *reason,
                     const char *message)
{
    char msg[EVENT_MESSAGE_MAX + 1];

    if (!ev || !ns || !ingress_name || !type || !reason || !message)
        return 0;
    snprintf(msg, sizeof(msg), "%s", message);
    remember(ev, ns, ingress_name, uid, type, reason, msg);
    struct kube_object_ref obj = ingress_ref(ns, ingress_name, uid);
    return kube_events_emit_object(ev, &obj, type, reason, msg);
}

int kube_events_emit_object(struct kube_events *ev,
                            const struct kube_object_ref *obj,
                            const char *type, const char *reason,
                            const char *message)
{
    char msg[EVENT_MESSAGE_MAX + 1], *key;

    if (!ev || !obj || !obj->ns || !obj->name || !obj->kind ||
        !obj->api_version || !type || !reason || !message ||
        ev->state != EVENTS_LEADER)
        return 0;
    snprintf(msg, sizeof(msg), "%s", message);
    key = kube_event_key(obj, type, reason, msg);
    if (key)
        write_event(ev, key, obj, type, reason, msg);
    free(key);
    return key != NULL;
}

void kube_events_forget(struct kube_events *ev, const char *ns,
                        const char *name)
{
    char *pkey;
    /* Called for every served Ingress after every change (100k at a
     * time): nothing to look up when no Ingress has a problem. */
    if (!ev || !ns || !name || json_object_object_length(ev->problems) == 0 ||
        asprintf(&pkey, "%s/%s", ns, name) < 0)
        return;
    json_object_object_del(ev->problems, pkey);
    free(pkey);
}

/* ---- leadership: adopt the Events written, then record the rest ---- */

/* The leader's first act: an Event for each current problem that no
 * Event (listed, or written by us) describes yet. */
static void record_current_problems(struct kube_events *ev)
{
    size_t written = 0, known = 0;

    json_object_object_foreach(ev->problems, pkey, p) {
        (void)pkey;
        const char *type = k8s_str(p, "type"),
                   *reason = k8s_str(p, "reason"),
                   *msg = k8s_str(p, "message");
        struct kube_object_ref obj = ingress_ref(k8s_str(p, "ns"),
                                                 k8s_str(p, "name"),
                                                 k8s_str(p, "uid"));
        char *key = kube_event_key(&obj, type, reason, msg);
        if (!key)
            continue;
        if (json_object_object_get_ex(ev->cache, key, NULL)) {
            known++;
        } else {
            write_event(ev, key, &obj, type, reason, msg);
            written++;
        }
        free(key);
    }
    log_info("kube: events: %zu current problems, %zu already recorded, "
             "%zu Events written", known + written, known, written);
}

static void list_adopt(struct kube_events *ev, struct json_object *items)
{
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *e = json_object_array_get_idx(items, i), *c,
                           *old;
        const char *ns = k8s_str(e, "metadata.namespace"),
                   *name = k8s_str(e, "metadata.name");
        char *key = kube_event_key_of(e);
        int64_t count = json_object_object_get_ex(e, "count", &c)
                            ? json_object_get_int64(c) : 1;
        /* Several Events for one problem (e.g. written before leader-only
         * Events): continue the one counted furthest. */
        if (key && ns && name &&
            (!json_object_object_get_ex(ev->cache, key, &old) ||
             json_object_get_int64(json_object_object_get(old, "count")) <
                 count)) {
            cache_put(ev, key, ns, name, count > 0 ? count : 1);
            ev->adopted++;
        }
        free(key);
    }
}

static void list_done(void *arg, const struct kube_response *resp)
{
    struct kube_events *ev = arg;
    struct json_object *o = NULL, *items, *meta, *cont;
    const char *next = NULL;

    ev->list_req = NULL;
    if (ev->state != EVENTS_SYNCING)
        return;
    if (resp->status == HTTP_FORBIDDEN) {
        /* RBAC without "list events" (an older chart): record the current
         * problems anyway, at the risk of repeating an earlier leader's. */
        log_warn("kube: events: not allowed to list Events (grant \"list "
                 "events\"); Events already written cannot be reused");
        ev->state = EVENTS_LEADER;
        record_current_problems(ev);
        return;
    }
    if (resp->status == HTTP_OK)
        o = json_tokener_parse(resp->body);
    if (!o || !json_object_object_get_ex(o, "items", &items) ||
        !json_object_is_type(items, json_type_array)) {
        char reason[64];
        uint64_t d = backoff_next_after(&ev->list_backoff,
                                        backoff_rand01(&ev->list_backoff),
                                        resp->retry_after_s);
        kube_status_code(resp->body, resp->body_len, reason, sizeof(reason));
        log_warn("kube: events: cannot list the Events already written "
                 "(%s%ld %s); retrying in %llu ms", resp->error ? resp->error
                 : "HTTP ", resp->status, reason, (unsigned long long)d);
        json_object_put(o);
        /* A later page failing (e.g. 410 for an expired continue token)
         * starts over: what was adopted is listed again. */
        json_object_put(ev->cache);
        ev->cache = json_object_new_object();
        ev->adopted = 0;
        evloop_timer_start(ev->list_timer, d);
        return;
    }
    list_adopt(ev, items);
    if (json_object_object_get_ex(o, "metadata", &meta) &&
        json_object_object_get_ex(meta, "continue", &cont) &&
        json_object_is_type(cont, json_type_string) &&
        *json_object_get_string(cont))
        next = json_object_get_string(cont);
    if (next) {
        list_start(ev, next);
        json_object_put(o);
        return;
    }
    json_object_put(o);
    backoff_reset(&ev->list_backoff);
    ev->state = EVENTS_LEADER;
    log_info("kube: events: %zu Events by " EVENT_COMPONENT " exist",
             ev->adopted);
    record_current_problems(ev);
}

static void list_start(struct kube_events *ev, const char *cont)
{
    const char *wns = ev->watch_ns;
    struct buf path;

    if (ev->state != EVENTS_SYNCING)
        return;
    buf_init(&path);
    kube_collection_path(&path, "/api/v1", wns, "events");
    buf_puts(&path, "?fieldSelector=");
    kube_query_escape(&path, EVENT_LIST_SELECTOR);
    buf_printf(&path, "&limit=%d", EVENT_LIST_PAGE);
    if (cont) {
        buf_puts(&path, "&continue=");
        kube_query_escape(&path, cont);
    }
    struct kube_request_opts o = {
        .method = "GET", .verb = "LIST", .path = path.data,
        .done = list_done, .arg = ev,
    };
    ev->list_req = buf_failed(&path) ? NULL : kube_request(ev->kc, &o);
    buf_free(&path);
    if (!ev->list_req)
        evloop_timer_start(ev->list_timer,
                           backoff_next(&ev->list_backoff,
                                        backoff_rand01(&ev->list_backoff)));
}

void kube_events_set_leader(struct kube_events *ev, int leader)
{
    if (!ev || (leader != 0) == (ev->state != EVENTS_FOLLOWER))
        return;
    /* Either way the cache starts afresh: another leader may have counted
     * our Events since, and a new leader learns them from the list. */
    json_object_put(ev->cache);
    ev->cache = json_object_new_object();
    ev->adopted = 0;
    if (leader) {
        ev->state = EVENTS_SYNCING;
        list_start(ev, NULL);
        return;
    }
    ev->state = EVENTS_FOLLOWER;
    evloop_timer_stop(ev->list_timer);
    if (ev->list_req) {
        kube_request_cancel(ev->kc, ev->list_req);
        ev->list_req = NULL;
    }
}
