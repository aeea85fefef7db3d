/*
 * dnsendpoints.c - the DNSEndpoints of the served Ingresses: the view of
 * ours, the writes that converge it, conflicts and a missing API; see
 * dnsendpoints.h.
 */
#include "controller/kube/dnsendpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/events.h"
#include "controller/kube/externaldns.h"
#include "controller/kube/publish.h"
#include "controller/kube/reflector.h"
#include "controller/kube/view.h"
#include "controller/digest.h"
#include "controller/object.h"
#include "evloop.h"
#include "log.h"
#include "prom.h"

#define MERGE_PATCH "application/merge-patch+json"
#define DNSEP_TAG 'd'
#define DNSEP_API "externaldns.k8s.io/v1alpha1"
#define DNSEP_GROUP "/apis/" DNSEP_API
#define CONFLICT_REASON "DNSEndpointConflict"
#define UNAVAILABLE_REASON "DNSEndpointsUnavailable"

enum {
    MAX_DNS_HOSTS = 256,                /* per Ingress */
    SUMMARY_HEX = 32,                   /* 128 bits of SHA-256 */
    CONFLICT_RETRY_MS = 60 * 1000,      /* a taken name is tried again */
};

enum api_state {
    API_UNKNOWN,        /* not listed yet */
    API_AVAILABLE,
    API_MISSING,        /* 404: the CRD is not installed */
    API_FORBIDDEN,      /* 403: RBAC */
};

struct dnsendpoints {
    struct kube_client *kc;
    struct kube_writes *writes;
    struct kube_events *events;
    struct reflector *refl;
    char *owner_id, *prefix;
    struct view *view;              /* ours: "ns/name" -> summary */
    struct view *foreign;           /* labelled so, but not ours */
    unsigned long lists;            /* the mark of the latest list */
    int listing;                    /* a paged list is under way */
    struct json_object *conflicts;  /* "ns/name" -> {tried: ms of the last
                                       409, reported: true} */
    /* "ns/name" -> the summary of the DNSEndpoint it wants (the object
     * is made again to be written); NULL: to be worked out. Summaries,
     * not json-c objects: ~100 bytes an Ingress where an object was
     * kilobytes, 100k of them on every replica. */
    struct view *want;
    struct json_object *skipped;    /* "ns/name" -> the names the last
                                       work-out left out (logged once) */
    enum api_state api;
    int api_reported;               /* the Event for this outage is out */
    int synced;
    void (*changed)(void *arg, int now);
    void *arg;
};

static uint64_t now_ms(const struct dnsendpoints *d)
{
    return evloop_now_ms(kube_client_loop(d->kc));
}

/* ---- the view -------------------------------------------------------- */

/* What is compared of a DNSEndpoint: a SHA-256 (SUMMARY_HEX digits) of
 * its canonical text (publish.h), not the text (~250 bytes, twice per
 * Ingress: wanted and seen). If the digest fails, the text itself when
 * fallback (it differs from every summary: the next write mends it), else
 * NULL. */
static char *summary(struct json_object *dnsep, int fallback)
{
    char *c = dnsendpoint_canonical(dnsep), *hex;

    if (!c)
        return NULL;
    hex = malloc(SUMMARY_HEX + 1);
    if (hex && digest_hex(c, strlen(c), NULL, 0, hex, SUMMARY_HEX) == 0) {
        free(c);
        return hex;
    }
    free(hex);
    if (fallback)
        return c;
    free(c);
    return NULL;
}

/* Sets key's entry of v to text, marked as listed if a list runs. */
static void note(struct dnsendpoints *d, struct view *v, const char *key,
                 const char *text)
{
    struct view_entry *e = view_set(v, key, text);

    if (e && d->listing)
        e->mark = d->lists;
}

static void observe(struct dnsendpoints *d, struct json_object *obj)
{
    char *key = view_key(obj);

    if (!key)
        return;
    if (dnsendpoint_is_ours(obj, d->owner_id)) {
        char *c = summary(obj, 1);
        if (c)
            note(d, d->view, key, c);
        free(c);
        view_remove(d->foreign, key);
    } else {
        view_remove(d->view, key);
        note(d, d->foreign, key, "");
    }
    free(key);
}

static void set_api(struct dnsendpoints *d, enum api_state st)
{
    static const char *const what[] = {
        [API_MISSING] = "not installed (404): install ExternalDNS's "
                        "DNSEndpoint CRD, or run without "
                        "--publish-dnsendpoints",
        [API_FORBIDDEN] = "forbidden (403): grant list, watch, create, "
                          "patch and delete on dnsendpoints."
                          "externaldns.k8s.io",
    };

    if (st == d->api)
        return;
    if (st == API_AVAILABLE && d->api != API_UNKNOWN)
        log_info("kube: the DNSEndpoint API is available again: "
                 "DNSEndpoints are published");
    if (st == API_MISSING || st == API_FORBIDDEN)
        log_warn("kube: the DNSEndpoint API (" DNSEP_API ") is %s; "
                 "DNSEndpoints are not published meanwhile (retried with "
                 "backoff), the Ingress status goes on", what[st]);
    d->api = st;
    d->api_reported = 0;
}

static void dnse_put(void *arg, struct json_object *obj)
{
    struct dnsendpoints *d = arg;

    observe(d, obj);
    d->changed(d->arg, 0);
}

static void dnse_remove(void *arg, struct json_object *obj)
{
    struct dnsendpoints *d = arg;
    char *key = view_key(obj);

    if (key) {
        view_remove(d->view, key);
        view_remove(d->foreign, key);
        /* A name that frees up is tried at once. */
        json_object_object_del(d->conflicts, key);
    }
    free(key);
    d->changed(d->arg, 0);
}

/* A list, page by page (a big one never sits in memory as json-c
 * objects): what it does not mention is forgotten at its end. */
static void dnse_begin(void *arg)
{
    struct dnsendpoints *d = arg;

    d->lists++;
    d->listing = 1;
}

static void unlisted(void *arg, const char *key)
{
    (void)arg;
    (void)key;
}

static void dnse_end(void *arg)
{
    struct dnsendpoints *d = arg;

    if (d->listing) {
        d->listing = 0;
        view_sweep(d->view, d->lists, unlisted, NULL);
        view_sweep(d->foreign, d->lists, unlisted, NULL);
    }
    set_api(d, API_AVAILABLE);
    d->changed(d->arg, 0);
}

/* A whole list at once (a sink without pages). */
static void dnse_replace(void *arg, struct json_object *items)
{
    struct dnsendpoints *d = arg;

    dnse_begin(d);
    for (size_t i = 0; i < json_object_array_length(items); i++)
        observe(d, json_object_array_get_idx(items, i));
    dnse_end(d);
}

static void dnse_synced(void *arg)
{
    struct dnsendpoints *d = arg;

    d->synced = 1;
    d->changed(d->arg, 1);
}

static int dnse_failed(void *arg, long status)
{
    struct dnsendpoints *d = arg;

    if (status == HTTP_NOT_FOUND)
        set_api(d, API_MISSING);
    else if (status == HTTP_FORBIDDEN)
        set_api(d, API_FORBIDDEN);
    else
        return 0;
    d->changed(d->arg, 0);       /* the leader reports it */
    return 1;
}

/* ---- the writes ------------------------------------------------------ */

static int ok_status(const struct kube_response *resp)
{
    return resp->status >= HTTP_OK && resp->status < HTTP_MULTIPLE_CHOICES;
}

/* 403 or 404 on the collection: the API is gone or forbidden. Counted
 * as done (the reflector's backoff retries, not the writes'). */
static int api_refused(struct dnsendpoints *d,
                       const struct kube_response *resp)
{
    if (resp->status == HTTP_FORBIDDEN) {
        set_api(d, API_FORBIDDEN);
        return 1;
    }
    return 0;
}

static void observe_answer(struct dnsendpoints *d,
                           const struct kube_response *resp)
{
    struct json_object *o = json_tokener_parse(resp->body);

    if (o)
        observe(d, o);
    json_object_put(o);
}

/* Logs the conflict (once) and writes its Event; 1 when the Event went
 * out (else the next round tries again). */
static int report_conflict(struct dnsendpoints *d, const char *key,
                           const struct served_entry *se, int logged)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "DNSEndpoint %s exists and is not this "
             "controller's (it needs the label " PORTICO_MANAGED_BY_LABEL
             "=" PORTICO_MANAGED_BY_VALUE " and a controller ownerReference "
             "to this Ingress): left alone, so this Ingress's hostnames are "
             "not published through a DNSEndpoint", key);
    if (!logged)
        log_warn("kube: %s", msg);
    if (!se || !se->details)
        return 1;   /* not served (any more): no Ingress to tell */
    return kube_events_emit(d->events, se->details->ns, se->details->name,
                            se->details->uid, "Warning", CONFLICT_REASON,
                            msg);
}

static int created(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (ok_status(resp)) {
        observe_answer(d, resp);
        json_object_object_del(d->conflicts, key);
        log_debug("kube: created DNSEndpoint %s", key);
        return 1;
    }
    if (resp->status == HTTP_CONFLICT) {
        /* The name is taken by an object we do not see (not labelled as
         * ours): a conflict, reported at the next round (once). */
        struct json_object *c;
        if (!json_object_object_get_ex(d->conflicts, key, &c)) {
            c = json_object_new_object();
            json_object_object_add(d->conflicts, key, c);
        }
        json_object_object_add(c, "tried", json_object_new_int64(
                                   (int64_t)now_ms(d)));
        return 1;
    }
    if (resp->status == HTTP_NOT_FOUND) {
        set_api(d, API_MISSING);
        return 1;
    }
    return api_refused(d, resp);
}

static int patched(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (ok_status(resp)) {
        observe_answer(d, resp);
        log_debug("kube: updated DNSEndpoint %s", key);
        return 1;
    }
    if (resp->status == HTTP_NOT_FOUND) {
        /* Gone meanwhile: created again next round. */
        view_remove(d->view, key);
        return 1;
    }
    return api_refused(d, resp);
}

static int deleted(void *arg, const char *key,
                   const struct kube_response *resp)
{
    struct dnsendpoints *d = arg;

    if (!ok_status(resp) && resp->status != HTTP_NOT_FOUND)
        return api_refused(d, resp);
    view_remove(d->view, key);
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

/* ---- what is wanted -------------------------------------------------- */

/* Logs the names left out of key's DNSEndpoint unless the last work-out
 * logged the same; notes them in next (the map of this work-out). */
static void tell_skipped(struct dnsendpoints *d, struct json_object *next,
                         const char *key, struct json_object *skipped)
{
    const char *now, *before;

    if (json_object_array_length(skipped) == 0)
        return;
    now = json_object_to_json_string_ext(skipped, JSON_C_TO_STRING_PLAIN);
    before = k8s_key_str(d->skipped, key);
    if (!before || strcmp(before, now) != 0)
        log_warn("kube: Ingress %s: ExternalDNS names that are neither DNS "
                 "names nor IP addresses are left out of its DNSEndpoint: "
                 "%.300s", key, now);
    json_object_object_add(next, key, json_object_new_string(now));
}

/* The DNSEndpoint one served entry wants, or NULL (nothing to publish, or
 * ExternalDNS would skip the Ingress). */
static struct json_object *desired(struct dnsendpoints *d,
                                   struct json_object *next_skipped,
                                   const struct served_entry *se,
                                   const struct publish_targets *t)
{
    const struct served_details *sd = se->details;
    struct json_object *eps, *skipped;
    const char *const *targets;
    size_t n;

    if (!sd)        /* a set without details (publisher.c makes it with) */
        return NULL;
    skipped = json_object_new_array();
    targets = publish_targets_dns(t, &n);
    eps = externaldns_endpoints(sd->hosts,
                                sd->nhosts < MAX_DNS_HOSTS ? sd->nhosts
                                                           : MAX_DNS_HOSTS,
                                sd->externaldns, d->prefix, targets, n,
                                skipped);
    if (skipped && next_skipped)
        tell_skipped(d, next_skipped, se->key, skipped);
    json_object_put(skipped);
    if (!eps || json_object_array_length(eps) == 0) {
        json_object_put(eps);
        return NULL;
    }
    return dnsendpoint_build(sd->ns, sd->name, sd->uid, d->owner_id, eps);
}

/* d->want from the served set, or NULL (out of memory: nothing is
 * written this round, rather than deleting what a missing entry would). */
static void work_out_want(struct dnsendpoints *d,
                          const struct served_set *served,
                          const struct publish_targets *t)
{
    struct json_object *skipped = json_object_new_object();
    struct view *want = view_new();
    const struct served_entry *se;
    size_t pos = 0;
    int failed = !want || !skipped;

    while (!failed && (se = served_set_next(served, &pos))) {
        struct json_object *dv = desired(d, skipped, se, t);
        char *c = dv ? summary(dv, 0) : NULL;
        if (dv && (!c || !view_set(want, se->key, c)))
            failed = 1;
        free(c);
        json_object_put(dv);
    }
    if (failed) {
        view_free(want);
        json_object_put(skipped);
        return;
    }
    d->want = want;
    json_object_put(d->skipped);    /* Ingresses gone or mended are */
    d->skipped = skipped;           /* forgotten */
}

void dnsendpoints_invalidate(struct dnsendpoints *d)
{
    if (!d)
        return;
    view_free(d->want);
    d->want = NULL;
}

/* ---- the round ------------------------------------------------------- */

static void report_api(struct dnsendpoints *d,
                       const struct kube_object_ref *self)
{
    const char *msg = d->api == API_MISSING
        ? "the DNSEndpoint API (" DNSEP_API ") is not installed: "
          "DNSEndpoints are not published until it is (the Ingress status "
          "is); install ExternalDNS's DNSEndpoint CRD or run without "
          "--publish-dnsendpoints"
        : "not allowed to use DNSEndpoints (" DNSEP_API "): they are not "
          "published (the Ingress status is); grant list, watch, create, "
          "patch and delete on dnsendpoints.externaldns.k8s.io";

    if (d->api_reported || !self)
        return;     /* this Pod not known yet: the next round */
    d->api_reported = kube_events_emit_object(d->events, self, "Warning",
                                              UNAVAILABLE_REASON, msg);
}

/* Is key's name taken by an object that is not ours? Reported once per
 * conflict (Event, log; the metric counts the conflicts). A name taken by
 * an object we do not see is tried again every CONFLICT_RETRY_MS. */
static int taken(struct dnsendpoints *d, const char *key,
                 const struct served_entry *se)
{
    struct json_object *c = NULL, *v;
    int foreign = view_get(d->foreign, key) != NULL;

    json_object_object_get_ex(d->conflicts, key, &c);
    if (!foreign && !c)
        return 0;
    if (!foreign && json_object_object_get_ex(c, "tried", &v) &&
        now_ms(d) - (uint64_t)json_object_get_int64(v) >= CONFLICT_RETRY_MS)
        return 0;
    if (!c) {
        c = json_object_new_object();
        json_object_object_add(c, "tried", json_object_new_int64(
                                   (int64_t)now_ms(d)));
        json_object_object_add(d->conflicts, key, c);
    }
    if (!json_object_object_get_ex(c, "reported", NULL)) {
        int logged = json_object_object_get_ex(c, "logged", NULL);
        if (report_conflict(d, key, se, logged))
            json_object_object_add(c, "reported", json_object_new_boolean(1));
        json_object_object_add(c, "logged", json_object_new_boolean(1));
    }
    return 1;
}

/* Conflicts of Ingresses that want no DNSEndpoint any more are over. */
static void forget_conflicts(struct dnsendpoints *d)
{
    struct json_object *gone = json_object_new_array();

    json_object_object_foreach(d->conflicts, ckey, val) {
        (void)val;
        if (!view_get(d->want, ckey))
            json_object_array_add(gone, json_object_new_string(ckey));
    }
    for (size_t i = 0; i < json_object_array_length(gone); i++)
        json_object_object_del(d->conflicts, json_object_get_string(
                                   json_object_array_get_idx(gone, i)));
    json_object_put(gone);
}

void dnsendpoints_sync(struct dnsendpoints *d,
                       const struct served_set *served,
                       const struct publish_targets *t, size_t max_writes,
                       const struct kube_object_ref *self)
{
    const struct view_entry *we;
    size_t ntargets, pos;

    if (d->api == API_MISSING || d->api == API_FORBIDDEN) {
        report_api(d, self);
        return;
    }
    publish_targets_dns(t, &ntargets);
    if (!d->synced || d->api != API_AVAILABLE || ntargets == 0)
        return;     /* nothing known, or no address: leave them as they are */
    if (!d->want) {
        work_out_want(d, served, t);
        if (!d->want)
            return;
        forget_conflicts(d);
    }
    pos = 0;
    while ((we = view_next(d->want, &pos))) {
        const struct served_entry *se = served_set_get(served, we->key);
        const struct view_entry *obs = view_get(d->view, we->key);
        struct json_object *dv;
        if (kube_writes_count(d->writes) >= max_writes)
            return;
        if (!se || kube_writes_in_flight(d->writes, DNSEP_TAG, we->key) ||
            taken(d, we->key, se))
            continue;
        if (obs && strcmp(obs->text, we->text) == 0)
            continue;
        if ((dv = desired(d, NULL, se, t)))
            write_dnsep(d, we->key, dv, obs != NULL);
        json_object_put(dv);
    }
    /* Ours, of Ingresses no longer served (or with nothing to publish). */
    pos = 0;
    while ((we = view_next(d->view, &pos))) {
        if (kube_writes_count(d->writes) >= max_writes)
            return;
        if (!view_get(d->want, we->key) &&
            !kube_writes_in_flight(d->writes, DNSEP_TAG, we->key))
            write_dnsep(d, we->key, NULL, 1);
    }
}

/* ---- metrics and life ------------------------------------------------ */

void dnsendpoints_write_metrics(const struct dnsendpoints *d,
                                struct buf *out)
{
    if (!d)
        return;
    prom_family(out, "portico_controller_dnsendpoints_api_available",
                "gauge", "1 when the DNSEndpoint API (externaldns.k8s.io/"
                "v1alpha1) was last listed, 0 when it answers 404 (CRD not "
                "installed) or 403 (forbidden), or was not listed yet.");
    prom_sample_u64(out, "portico_controller_dnsendpoints_api_available",
                    NULL, d->api == API_AVAILABLE);
    prom_family(out, "portico_controller_dnsendpoint_conflicts", "gauge",
                "Served Ingresses whose DNSEndpoint name is taken by an "
                "object that is not this controller's (left alone).");
    prom_sample_u64(out, "portico_controller_dnsendpoint_conflicts", NULL,
                    (uint64_t)json_object_object_length(d->conflicts));
}

struct dnsendpoints *dnsendpoints_start(struct kube_client *kc,
                                        struct kube_writes *writes,
                                        const struct dnsendpoints_opts *o,
                                        char *err, size_t errlen)
{
    struct dnsendpoints *d = calloc(1, sizeof(*d));
    struct buf path;

    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->kc = kc;
    d->writes = writes;
    d->events = o->events;
    d->changed = o->changed;
    d->arg = o->arg;
    d->owner_id = strdup(o->owner_id);
    d->prefix = strdup(o->annotation_prefix);
    d->view = view_new();
    d->foreign = view_new();
    d->conflicts = json_object_new_object();
    d->skipped = json_object_new_object();
    if (!d->owner_id || !d->prefix || !d->view || !d->foreign ||
        !d->conflicts || !d->skipped) {
        snprintf(err, errlen, "out of memory");
        dnsendpoints_free(d);
        return NULL;
    }
    buf_init(&path);
    kube_collection_path(&path, DNSEP_GROUP, o->watch_namespace,
                         "dnsendpoints");
    struct reflector_opts ro = {
        .name = "dnsendpoints", .path = path.data,
        .label_selector = PORTICO_MANAGED_BY_LABEL "="
                          PORTICO_MANAGED_BY_VALUE,
        .sink = {.replace = dnse_replace, .begin = dnse_begin,
                 .end = dnse_end, .put = dnse_put,
                 .remove = dnse_remove, .synced = dnse_synced,
                 .failed = dnse_failed, .arg = d},
    };
    d->refl = buf_failed(&path) ? NULL : reflector_start(kc, &ro);
    buf_free(&path);
    if (!d->refl) {
        snprintf(err, errlen, "cannot start the publisher's watches");
        dnsendpoints_free(d);
        return NULL;
    }
    return d;
}

void dnsendpoints_free(struct dnsendpoints *d)
{
    if (!d)
        return;
    reflector_free(d->refl);
    view_free(d->view);
    view_free(d->foreign);
    json_object_put(d->conflicts);
    json_object_put(d->skipped);
    view_free(d->want);
    free(d->owner_id);
    free(d->prefix);
    free(d);
}
