/*
 * publisher.c - what the leader writes: leader election on the Lease
 * (leader.h decides), status.loadBalancer of every served Ingress and,
 * optionally, one DNSEndpoint per served Ingress.
 *
 * It is a reconcile loop: desired state (the served set from
 * publisher_update and the published targets) against observed state
 * (its own watches: the Ingresses' status, our DNSEndpoints, the publish
 * Service), writing only what differs. Every replica keeps the views; only
 * the leader writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/backoff.h"
#include "controller/kube/client_internal.h"
#include "controller/kube/events.h"
#include "controller/kube/leader.h"
#include "controller/kube/publish.h"
#include "controller/kube/reflector.h"
#include "controller/object.h"
#include "dnsname.h"
#include "evloop.h"
#include "log.h"

enum {
    MAX_WRITES_IN_FLIGHT = 32,
    SYNC_DEBOUNCE_MS = 50,
    RESYNC_PERIOD_MS = 60 * 1000,      /* converge even if a watch is quiet */
    MS_PER_S = 1000,
    DEFAULT_LEASE_DURATION_S = 15,     /* component-base defaults */
    DEFAULT_RENEW_DEADLINE_S = 10,
    DEFAULT_RETRY_PERIOD_S = 2,
    MAX_DNS_HOSTS = 256,               /* per Ingress in one DNSEndpoint */
    NAME_MAX_LEN = 254,                /* a namespace or name, and NUL */
};
#define LEADER_JITTER_FACTOR 1.2       /* client-go wait.JitterUntil */
#define DEFAULT_LEASE_NAME "portico-leader"
#define MERGE_PATCH "application/merge-patch+json"

enum write_kind { W_STATUS, W_DNSEP_CREATE, W_DNSEP_PATCH, W_DNSEP_DELETE,
                  W_FORGET };

struct write_op {
    struct publisher *p;
    struct kube_req *req;
    enum write_kind kind;
    char *key;                 /* "ns/name" of the Ingress or DNSEndpoint */
    int clear;                 /* status: clearing */
    struct write_op *prev, *next;
};

struct publisher {
    struct kube_client *kc;
    struct evloop *loop;
    char *identity, *lease_ns, *lease_name, *lease_path, *lease_coll;
    int lease_s, renew_s, retry_s;
    char *svc_ns, *svc_name;
    int dnsep, clear_on_shutdown;
    char *watch_ns;

    /* election */
    struct ev_timer *le_timer;
    struct kube_req *le_req;
    struct lease_record observed;
    int have_observed;
    uint64_t observed_ms;
    int leader;
    uint64_t last_renew_ms;
    int shutting_down;
    struct backoff jitter;        /* its PRNG only */

    /* targets */
    char **targets;
    size_t ntargets;
    char *targets_canon;
    int targets_known;
    struct reflector *svc_refl;

    /* observed views: key -> canonical string */
    struct reflector *ing_refl, *dnse_refl;
    int tapped;                   /* the Ingress view rides on the source */
    struct json_object *ing_view, *dnse_view;
    struct json_object *ing_seen; /* keys listed so far in a paged list */
    int ing_synced, dnse_synced;

    /* desired */
    struct json_object *served;   /* key -> {ns,name,uid,hosts,ttl} */
    struct json_object *written;  /* Ingress keys whose status we set */
    struct json_object *inflight; /* "s:key" / "d:key" -> true */
    struct write_op *writes;
    size_t nwrites;
    unsigned long writes_started;
    /* A burst: from the round that starts writes after an idle spell to
     * the round that finds nothing in flight; logged once at its end. */
    int burst;
    unsigned long burst_first;      /* writes_started when it began */
    uint64_t burst_started_ms;
    struct ev_timer *sync_timer;
    uint64_t sync_due_ms;
    struct backoff write_backoff;
    int write_failed;
};

/* Runs the reconcile within delay_ms: an earlier request wins over a
 * later one (debounce), and over the periodic resync. */
static void schedule_sync(struct publisher *p, uint64_t delay_ms)
{
    uint64_t due = evloop_now_ms(p->loop) + delay_ms;
    if (evloop_timer_active(p->sync_timer) && p->sync_due_ms <= due)
        return;
    p->sync_due_ms = due;
    evloop_timer_start(p->sync_timer, delay_ms);
}

static uint64_t now_ms(struct publisher *p)
{
    evloop_update_time(p->loop);
    return evloop_now_ms(p->loop);
}

static void split_key(const char *key, char *ns, size_t nslen, char *name,
                      size_t namelen)
{
    const char *slash = strchr(key, '/');
    size_t l = slash ? (size_t)(slash - key) : 0;
    snprintf(ns, nslen, "%.*s", (int)l, key);
    snprintf(name, namelen, "%s", slash ? slash + 1 : key);
}


/* ------------------------------------------------------------------ */
/* election                                                            */

static void le_schedule(struct publisher *p)
{
    uint64_t d = (uint64_t)p->retry_s * MS_PER_S;
    if (p->shutting_down)
        return;
    if (!p->leader)
        d += (uint64_t)((double)d * LEADER_JITTER_FACTOR *
                        backoff_rand01(&p->jitter));
    evloop_timer_start(p->le_timer, d);
}

static void become_leader(struct publisher *p)
{
    if (p->leader)
        return;
    p->leader = 1;
    log_info("kube: became the leader (Lease %s/%s, identity %s)",
             p->lease_ns, p->lease_name, p->identity);
    kube_events_set_leader(kube_client_events(p->kc), 1);
    schedule_sync(p, 0);
}

static void lose_leadership(struct publisher *p, const char *why)
{
    if (!p->leader)
        return;
    p->leader = 0;
    kube_events_set_leader(kube_client_events(p->kc), 0);
    log_warn("kube: no longer the leader: %s", why);
}

static void check_renew_deadline(struct publisher *p)
{
    if (p->leader &&
        now_ms(p) - p->last_renew_ms > (uint64_t)p->renew_s * MS_PER_S)
        lose_leadership(p, "could not renew the lease within the renew "
                           "deadline");
}

static void observe_record(struct publisher *p, struct lease_record *rec)
{
    if (!p->have_observed || lease_record_changed(rec, &p->observed))
        p->observed_ms = now_ms(p);
    lease_record_free(&p->observed);
    p->observed = *rec;
    p->have_observed = 1;
}

static void le_write_done(void *arg, const struct kube_response *resp)
{
    struct publisher *p = arg;
    struct json_object *o;
    struct lease_record rec;

    p->le_req = NULL;
    if (resp->status == HTTP_OK || resp->status == HTTP_CREATED) {
        o = json_tokener_parse(resp->body);
        if (o && lease_record_parse(o, &rec) == 0) {
            observe_record(p, &rec);
            p->last_renew_ms = now_ms(p);
            become_leader(p);
        }
        json_object_put(o);
    } else if (resp->status == HTTP_CONFLICT) {
        log_debug("kube: lease update lost a race (409)");
        check_renew_deadline(p);
    } else {
        log_warn("kube: lease update failed: %s%ld",
                 resp->error ? resp->error : "HTTP ", resp->status);
        check_renew_deadline(p);
    }
    le_schedule(p);
}

static void le_write(struct publisher *p, enum leader_action action)
{
    char now[40];
    char *body;
    int create = !p->have_observed;

    kube_format_time(now, sizeof(now), 1);
    body = lease_build(p->lease_ns, p->lease_name, p->identity, p->lease_s,
                       p->have_observed ? &p->observed : NULL, action, 0,
                       now);
    struct kube_request_opts o = {
        .method = create ? "POST" : "PUT", .verb = create ? "POST" : "PUT",
        .path = create ? p->lease_coll : p->lease_path,
        .content_type = "application/json", .body = body,
        .done = le_write_done, .arg = p,
    };
    p->le_req = body ? kube_request(p->kc, &o) : NULL;
    free(body);
    if (!p->le_req)
        le_schedule(p);
}

static void le_get_done(void *arg, const struct kube_response *resp)
{
    struct publisher *p = arg;
    struct lease_record rec;
    struct json_object *o;
    enum leader_action a;

    p->le_req = NULL;
    if (resp->status == HTTP_NOT_FOUND) {
        if (p->have_observed) {
            lease_record_free(&p->observed);
            p->have_observed = 0;
        }
        le_write(p, LEADER_ACQUIRE);
        return;
    }
    if (resp->status != HTTP_OK) {
        log_warn("kube: cannot read the lease %s/%s: %s%ld", p->lease_ns,
                 p->lease_name, resp->error ? resp->error : "HTTP ",
                 resp->status);
        check_renew_deadline(p);
        le_schedule(p);
        return;
    }
    o = json_tokener_parse(resp->body);
    if (!o || lease_record_parse(o, &rec) < 0) {
        json_object_put(o);
        log_warn("kube: the lease %s/%s is not a Lease", p->lease_ns,
                 p->lease_name);
        le_schedule(p);
        return;
    }
    json_object_put(o);
    observe_record(p, &rec);
    a = leader_decide(&p->observed, p->observed_ms, now_ms(p), p->identity);
    if (a == LEADER_WAIT) {
        if (p->leader) {
            char why[300];
            snprintf(why, sizeof(why), "the lease is held by %s",
                     p->observed.holder);
            lose_leadership(p, why);
        }
        le_schedule(p);
        return;
    }
    le_write(p, a);
}

static void le_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct publisher *p = arg;
    if (p->le_req || p->shutting_down)
        return;
    check_renew_deadline(p);
    struct kube_request_opts o = {
        .method = "GET", .verb = "GET", .path = p->lease_path,
        .done = le_get_done, .arg = p,
    };
    p->le_req = kube_request(p->kc, &o);
    if (!p->le_req)
        le_schedule(p);
}

/* ------------------------------------------------------------------ */
/* observed views                                                      */

static char *obj_key(struct json_object *obj)
{
    const char *ns = k8s_str(obj, "metadata.namespace");
    const char *name = k8s_str(obj, "metadata.name");
    char *k;
    if (!name || asprintf(&k, "%s/%s", ns ? ns : "", name) < 0)
        return NULL;
    return k;
}

static void view_put(struct json_object *view, struct json_object *obj,
                     char *(*canon)(struct json_object *))
{
    char *k = obj_key(obj), *c = canon(obj);
    if (k && c)
        json_object_object_add(view, k, json_object_new_string(c));
    free(k);
    free(c);
}

static void view_del(struct json_object *view, struct json_object *obj)
{
    char *k = obj_key(obj);
    if (k)
        json_object_object_del(view, k);
    free(k);
}

/* An Ingress gone has no problem to report any more. */
static void forget_problem(struct publisher *p, const char *key)
{
    char ns[NAME_MAX_LEN], name[NAME_MAX_LEN];
    split_key(key, ns, sizeof(ns), name, sizeof(name));
    kube_events_forget(kube_client_events(p->kc), ns, name);
}

static void ing_put(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    view_put(p->ing_view, obj, lb_canonical_of_ingress);
    if (p->ing_seen) {
        char *k = obj_key(obj);
        if (k)
            json_object_object_add(p->ing_seen, k, NULL);
        free(k);
    }
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

/* A paged (re)list: remember what it lists, forget the rest at the end. */
static void ing_begin(void *arg)
{
    struct publisher *p = arg;
    json_object_put(p->ing_seen);
    p->ing_seen = json_object_new_object();
}

static void ing_end(void *arg)
{
    struct publisher *p = arg;
    struct json_object *gone = json_object_new_array();

    if (!p->ing_seen || !gone) {
        json_object_put(gone);
        return;
    }
    json_object_object_foreach(p->ing_view, key, val) {
        (void)val;
        if (!json_object_object_get_ex(p->ing_seen, key, NULL))
            json_object_array_add(gone, json_object_new_string(key));
    }
    for (size_t i = 0; i < json_object_array_length(gone); i++) {
        const char *k = json_object_get_string(json_object_array_get_idx(
                                                   gone, i));
        forget_problem(p, k);
        json_object_object_del(p->ing_view, k);
    }
    json_object_put(gone);
    json_object_put(p->ing_seen);
    p->ing_seen = NULL;
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void ing_remove(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    char *k = obj_key(obj);
    if (k)
        forget_problem(p, k);
    free(k);
    view_del(p->ing_view, obj);
}

static void ing_replace(void *arg, struct json_object *items)
{
    struct publisher *p = arg;
    struct json_object *old = p->ing_view;
    p->ing_view = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(items); i++)
        view_put(p->ing_view, json_object_array_get_idx(items, i),
                 lb_canonical_of_ingress);
    json_object_object_foreach(old, okey, oval) {
        (void)oval;
        if (!json_object_object_get_ex(p->ing_view, okey, NULL))
            forget_problem(p, okey);
    }
    json_object_put(old);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void ing_synced(void *arg)
{
    struct publisher *p = arg;
    p->ing_synced = 1;
    schedule_sync(p, 0);
}

static void dnse_put(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    view_put(p->dnse_view, obj, dnsendpoint_canonical);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void dnse_remove(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    view_del(p->dnse_view, obj);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void dnse_replace(void *arg, struct json_object *items)
{
    struct publisher *p = arg;
    json_object_put(p->dnse_view);
    p->dnse_view = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(items); i++)
        view_put(p->dnse_view, json_object_array_get_idx(items, i),
                 dnsendpoint_canonical);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void dnse_synced(void *arg)
{
    struct publisher *p = arg;
    p->dnse_synced = 1;
    schedule_sync(p, 0);
}

static void set_targets(struct publisher *p, char **t, size_t n)
{
    char *canon;
    struct json_object *arr = lb_ingress_for_targets((const char *const *)t,
                                                     n);
    canon = lb_canonical(arr);
    json_object_put(arr);
    if (!canon) {
        targets_free(t, n);
        return;
    }
    if (!p->targets_known || strcmp(canon, p->targets_canon) != 0)
        log_info("kube: published addresses: %s", *canon ? canon : "(none)");
    targets_free(p->targets, p->ntargets);
    free(p->targets_canon);
    p->targets = t;
    p->ntargets = n;
    p->targets_canon = canon;
    p->targets_known = 1;
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

static void svc_put(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    const char *name = k8s_str(obj, "metadata.name");
    char **t;
    size_t n;
    if (!name || strcmp(name, p->svc_name) != 0)
        return;
    n = targets_from_service(obj, &t);
    set_targets(p, t, n);
}

static void svc_remove(void *arg, struct json_object *obj)
{
    struct publisher *p = arg;
    const char *name = k8s_str(obj, "metadata.name");
    if (name && strcmp(name, p->svc_name) == 0)
        set_targets(p, NULL, 0);
}

static void svc_replace(void *arg, struct json_object *items)
{
    struct publisher *p = arg;
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *o = json_object_array_get_idx(items, i);
        const char *name = k8s_str(o, "metadata.name");
        if (name && strcmp(name, p->svc_name) == 0) {
            svc_put(p, o);
            return;
        }
    }
    log_warn("kube: publish service %s/%s not found", p->svc_ns,
             p->svc_name);
    set_targets(p, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* writes                                                              */

static char *flight_key(enum write_kind k, const char *key)
{
    char *s;
    if (asprintf(&s, "%c:%s", k == W_STATUS ? 's' : 'd', key) < 0)
        return NULL;
    return s;
}

static void write_unlink(struct write_op *w)
{
    struct publisher *p = w->p;
    if (w->prev)
        w->prev->next = w->next;
    else
        p->writes = w->next;
    if (w->next)
        w->next->prev = w->prev;
    p->nwrites--;
}

static void write_free(struct write_op *w)
{
    free(w->key);
    free(w);
}

static void write_done(void *arg, const struct kube_response *resp)
{
    struct write_op *w = arg;
    struct publisher *p = w->p;
    char *fk = flight_key(w->kind, w->key);
    int ok = resp->status >= HTTP_OK && resp->status < HTTP_MULTIPLE_CHOICES;

    write_unlink(w);
    if (fk)
        json_object_object_del(p->inflight, fk);
    free(fk);
    if (w->kind == W_STATUS) {
        if (ok) {
            struct json_object *o = json_tokener_parse(resp->body);
            char *c = o ? lb_canonical_of_ingress(o) : NULL;
            if (c)
                json_object_object_add(p->ing_view, w->key,
                                       json_object_new_string(c));
            free(c);
            json_object_put(o);
            if (w->clear)
                json_object_object_del(p->written, w->key);
            else
                json_object_object_add(p->written, w->key,
                                       json_object_new_boolean(1));
            log_debug("kube: %s status of Ingress %s", w->clear ? "cleared"
                     : "published", w->key);
        } else if (resp->status == HTTP_NOT_FOUND) {
            json_object_object_del(p->ing_view, w->key);
            json_object_object_del(p->written, w->key);
            ok = 1;
        }
    } else if (ok || (w->kind == W_DNSEP_DELETE && resp->status == HTTP_NOT_FOUND)) {
        ok = 1;
        if (w->kind == W_DNSEP_DELETE) {
            json_object_object_del(p->dnse_view, w->key);
            log_debug("kube: deleted DNSEndpoint %s", w->key);
        } else {
            struct json_object *o = json_tokener_parse(resp->body);
            char *c = o ? dnsendpoint_canonical(o) : NULL;
            if (c)
                json_object_object_add(p->dnse_view, w->key,
                                       json_object_new_string(c));
            free(c);
            json_object_put(o);
            log_debug("kube: %s DNSEndpoint %s", w->kind == W_DNSEP_CREATE
                     ? "created" : "updated", w->key);
        }
    } else if (w->kind == W_DNSEP_CREATE && resp->status == HTTP_CONFLICT) {
        /* It exists already (our view lags): patch it next round. */
        json_object_object_add(p->dnse_view, w->key,
                               json_object_new_string("?"));
        ok = 1;
    }
    if (w->kind != W_FORGET && !ok) {
        char reason[64];
        kube_status_code(resp->body, resp->body_len, reason, sizeof(reason));
        log_warn("kube: writing %s %s failed: %s%ld %s",
                 w->kind == W_STATUS ? "status of Ingress" : "DNSEndpoint",
                 w->key, resp->error ? resp->error : "HTTP ", resp->status,
                 reason);
        p->write_failed = 1;
    }
    write_free(w);
    if (p->shutting_down)
        return;
    if (p->write_failed && p->nwrites == 0) {
        p->write_failed = 0;
        schedule_sync(p, backoff_next(&p->write_backoff,
                                      backoff_rand01(&p->write_backoff)));
    } else {
        if (ok)
            backoff_reset(&p->write_backoff);
        schedule_sync(p, 0);
    }
}

static int start_write(struct publisher *p, enum write_kind kind,
                       const char *key, const char *method, const char *path,
                       const char *ctype, const char *body, int clear)
{
    struct write_op *w = calloc(1, sizeof(*w));
    char *fk = flight_key(kind, key);

    if (!w || !fk || !(w->key = strdup(key))) {
        free(fk);
        if (w)
            write_free(w);
        return -1;
    }
    w->p = p;
    w->kind = kind;
    w->clear = clear;
    struct kube_request_opts o = {
        .method = method, .verb = method, .path = path,
        .content_type = ctype, .body = body, .done = write_done, .arg = w,
    };
    w->req = kube_request(p->kc, &o);
    if (!w->req) {
        free(fk);
        write_free(w);
        return -1;
    }
    w->next = p->writes;
    if (p->writes)
        p->writes->prev = w;
    p->writes = w;
    p->nwrites++;
    p->writes_started++;
    json_object_object_add(p->inflight, fk, json_object_new_boolean(1));
    free(fk);
    return 0;
}

static int in_flight(struct publisher *p, enum write_kind k, const char *key)
{
    char *fk = flight_key(k, key);
    int r = fk && json_object_object_get_ex(p->inflight, fk, NULL);
    free(fk);
    return r;
}


static void write_status(struct publisher *p, const char *key, int clear)
{
    char ns[NAME_MAX_LEN], name[NAME_MAX_LEN], *body;
    struct buf path;

    split_key(key, ns, sizeof(ns), name, sizeof(name));
    body = clear ? lb_status_patch(NULL, 0)
                 : lb_status_patch((const char *const *)p->targets,
                                   p->ntargets);
    buf_init(&path);
    buf_printf(&path, "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s"
               "/status", ns, name);
    if (body && !buf_failed(&path))
        start_write(p, W_STATUS, key, "PATCH", path.data, MERGE_PATCH, body,
                    clear || p->ntargets == 0);
    buf_free(&path);
    free(body);
}

static void write_dnsep(struct publisher *p, const char *key,
                        struct json_object *desired, int exists)
{
    char ns[NAME_MAX_LEN], name[NAME_MAX_LEN];
    struct buf path;

    split_key(key, ns, sizeof(ns), name, sizeof(name));
    buf_init(&path);
    buf_printf(&path, "/apis/externaldns.k8s.io/v1alpha1/namespaces/%s/"
               "dnsendpoints", ns);
    if (!desired) {
        buf_printf(&path, "/%s", name);
        if (!buf_failed(&path))
            start_write(p, W_DNSEP_DELETE, key, "DELETE", path.data, NULL,
                        NULL, 0);
    } else {
        const char *body = json_object_to_json_string_ext(
            desired, JSON_C_TO_STRING_PLAIN);
        if (exists)
            buf_printf(&path, "/%s", name);
        if (!buf_failed(&path))
            start_write(p, exists ? W_DNSEP_PATCH : W_DNSEP_CREATE, key,
                        exists ? "PATCH" : "POST", path.data,
                        exists ? MERGE_PATCH : "application/json", body, 0);
    }
    buf_free(&path);
}

static struct json_object *desired_dnsep(struct publisher *p,
                                         struct json_object *s)
{
    struct json_object *hosts, *v;
    const char *hv[MAX_DNS_HOSTS];
    size_t nh = 0;

    if (!json_object_object_get_ex(s, "hosts", &hosts))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(hosts) &&
                       nh < sizeof(hv) / sizeof(hv[0]); i++)
        hv[nh++] = json_object_get_string(json_object_array_get_idx(hosts,
                                                                    i));
    json_object_object_get_ex(s, "ttl", &v);
    return dnsendpoint_build(
        json_object_get_string(json_object_object_get(s, "ns")),
        json_object_get_string(json_object_object_get(s, "name")),
        json_object_get_string(json_object_object_get(s, "uid")), hv, nh,
        (const char *const *)p->targets, p->ntargets,
        (long)json_object_get_int64(v));
}

static int ready_to_write(struct publisher *p)
{
    return p->leader && !p->shutting_down && p->ing_synced &&
           p->targets_known && (!p->dnsep || p->dnse_synced);
}

static void sync_round(struct publisher *p);

/* One reconcile round. Every finished write runs another round, so a
 * line per round would be a line per object (thousands at start): one
 * line per burst instead, when nothing is left in flight (per-object
 * lines are debug). */
static void sync_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct publisher *p = arg;
    unsigned long before = p->writes_started;

    sync_round(p);
    if (p->writes_started > before && !p->burst) {
        p->burst = 1;
        p->burst_first = before;
        p->burst_started_ms = evloop_now_ms(p->loop);
    }
    if (p->burst && p->nwrites == 0) {
        p->burst = 0;
        log_info("kube: published %lu writes (Ingress status, DNSEndpoints) "
                 "in %.1f s", p->writes_started - p->burst_first,
                 (double)(evloop_now_ms(p->loop) - p->burst_started_ms) /
                     1000.0);
    }
}

static void sync_round(struct publisher *p)
{
    if (!ready_to_write(p))
        return;
    p->sync_due_ms = evloop_now_ms(p->loop) + RESYNC_PERIOD_MS;
    evloop_timer_start(p->sync_timer, RESYNC_PERIOD_MS);

    /* Status of every served Ingress. */
    json_object_object_foreach(p->served, key, s) {
        (void)s;
        const char *obs;
        if (p->nwrites >= MAX_WRITES_IN_FLIGHT)
            return;
        if (!(obs = k8s_key_str(p->ing_view, key)))
            continue;   /* not seen yet: the watch will tell */
        if (strcmp(obs, p->targets_canon) != 0 &&
            !in_flight(p, W_STATUS, key))
            write_status(p, key, 0);
    }
    /* Ingresses no longer served: clear what we wrote. */
    json_object_object_foreach(p->ing_view, ikey, ival) {
        const char *obs = json_object_get_string(ival);
        if (p->nwrites >= MAX_WRITES_IN_FLIGHT)
            return;
        if (!*obs || json_object_object_get_ex(p->served, ikey, NULL) ||
            in_flight(p, W_STATUS, ikey))
            continue;
        if (json_object_object_get_ex(p->written, ikey, NULL) ||
            strcmp(obs, p->targets_canon) == 0)
            write_status(p, ikey, 1);
    }
    if (!p->dnsep)
        return;
    /* DNSEndpoints: one per served Ingress with hosts and targets. */
    struct json_object *want = json_object_new_object();
    json_object_object_foreach(p->served, skey, sval) {
        struct json_object *d = desired_dnsep(p, sval);
        if (d)
            json_object_object_add(want, skey, d);
    }
    json_object_object_foreach(want, dkey, dval) {
        const char *obs = k8s_key_str(p->dnse_view, dkey);
        char *c;
        if (p->nwrites >= MAX_WRITES_IN_FLIGHT)
            break;
        if (in_flight(p, W_DNSEP_CREATE, dkey))
            continue;
        c = dnsendpoint_canonical(dval);
        if (c && (!obs || strcmp(obs, c) != 0))
            write_dnsep(p, dkey, dval, obs != NULL);
        free(c);
    }
    json_object_object_foreach(p->dnse_view, vkey, vval) {
        (void)vval;
        if (p->nwrites >= MAX_WRITES_IN_FLIGHT)
            break;
        if (!json_object_object_get_ex(want, vkey, NULL) &&
            !in_flight(p, W_DNSEP_DELETE, vkey))
            write_dnsep(p, vkey, NULL, 1);
    }
    json_object_put(want);
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

void publisher_update(struct publisher *p, const struct served_ingress *list,
                      size_t n)
{
    struct json_object *served;

    if (!p)
        return;
    served = json_object_new_object();
    for (size_t i = 0; i < n; i++) {
        const struct served_ingress *si = &list[i];
        struct json_object *o = json_object_new_object(), *hosts;
        char *key;
        if (!si->ns || !si->name || asprintf(&key, "%s/%s", si->ns,
                                             si->name) < 0) {
            json_object_put(o);
            continue;
        }
        json_object_object_add(o, "ns", json_object_new_string(si->ns));
        json_object_object_add(o, "name", json_object_new_string(si->name));
        json_object_object_add(o, "uid", json_object_new_string(
                                             si->uid ? si->uid : ""));
        hosts = json_object_new_array();
        for (size_t h = 0; h < si->nhosts; h++)
            if (si->hosts[h] && *si->hosts[h])
                json_object_array_add(hosts,
                                      json_object_new_string(si->hosts[h]));
        json_object_object_add(o, "hosts", hosts);
        json_object_object_add(o, "ttl", json_object_new_int64(si->dns_ttl));
        json_object_object_add(served, key, o);
        kube_events_forget(kube_client_events(p->kc), si->ns, si->name);
        free(key);
    }
    json_object_put(p->served);
    p->served = served;
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

int publisher_is_leader(const struct publisher *p)
{
    return p && p->leader;
}

static struct reflector *watch(struct publisher *p, const char *name,
                               const char *path, const char *fsel,
                               const char *lsel, struct reflector_sink sink)
{
    struct reflector_opts o = {
        .name = name, .path = path, .field_selector = fsel,
        .label_selector = lsel, .sink = sink,
    };
    return reflector_start(p->kc, &o);
}

struct publisher *publisher_start(struct kube_client *kc,
                                  const struct publisher_opts *opts,
                                  char *err, size_t errlen)
{
    struct publisher *p;
    const char *lease_ns = opts->lease_namespace;
    struct buf b;

    if (!lease_ns || !*lease_ns)
        lease_ns = kube_client_namespace(kc);
    if (!opts->identity || !*opts->identity) {
        snprintf(err, errlen, "leader election needs an identity (pod name)");
        return NULL;
    }
    if (!dnsname_valid(lease_ns, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "leader election needs the controller's "
                 "namespace (got \"%s\")", lease_ns ? lease_ns : "");
        return NULL;
    }
    if (opts->watch_namespace && *opts->watch_namespace &&
        !dnsname_valid(opts->watch_namespace, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "invalid watch namespace \"%s\"",
                 opts->watch_namespace);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->kc = kc;
    p->loop = kube_client_loop(kc);
    kube_client_set_identity(kc, opts->identity);
    p->identity = strdup(opts->identity);
    p->lease_ns = strdup(lease_ns);
    p->lease_name = strdup(opts->lease_name && *opts->lease_name
                               ? opts->lease_name : DEFAULT_LEASE_NAME);
    p->lease_s = opts->lease_duration_s > 0 ? opts->lease_duration_s
                                            : DEFAULT_LEASE_DURATION_S;
    p->renew_s = opts->renew_deadline_s > 0 ? opts->renew_deadline_s
                                            : DEFAULT_RENEW_DEADLINE_S;
    p->retry_s = opts->retry_period_s > 0 ? opts->retry_period_s
                                          : DEFAULT_RETRY_PERIOD_S;
    p->dnsep = opts->publish_dnsendpoints;
    p->clear_on_shutdown = opts->clear_status_on_shutdown;
    if (opts->watch_namespace && *opts->watch_namespace)
        p->watch_ns = strdup(opts->watch_namespace);
    else if (kube_client_watch_namespace(kc))
        p->watch_ns = strdup(kube_client_watch_namespace(kc));
    p->ing_view = json_object_new_object();
    p->dnse_view = json_object_new_object();
    p->served = json_object_new_object();
    p->written = json_object_new_object();
    p->inflight = json_object_new_object();
    p->le_timer = evloop_timer_new(p->loop, le_tick, p);
    p->sync_timer = evloop_timer_new(p->loop, sync_cb, p);
    backoff_init(&p->jitter, 1, 1, 0);
    backoff_init(&p->write_backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS,
                 BACKOFF_JITTER);
    if (!dnsname_valid(p->lease_name, 0) ||
        !(p->lease_s > p->renew_s &&
          (double)p->renew_s > LEADER_JITTER_FACTOR * p->retry_s)) {
        snprintf(err, errlen, "leader election: need a valid lease name and "
                 "lease duration > renew deadline > 1.2 x retry period");
        publisher_free(p);
        return NULL;
    }
    if (asprintf(&p->lease_coll, "/apis/coordination.k8s.io/v1/namespaces/"
                 "%s/leases", p->lease_ns) < 0)
        p->lease_coll = NULL;
    if (p->lease_coll &&
        asprintf(&p->lease_path, "%s/%s", p->lease_coll, p->lease_name) < 0)
        p->lease_path = NULL;

    /* Published targets. */
    if (opts->publish_service && *opts->publish_service) {
        const char *slash = strchr(opts->publish_service, '/');
        if (!slash) {
            snprintf(err, errlen, "--publish-service must be NS/NAME");
            publisher_free(p);
            return NULL;
        }
        p->svc_ns = strndup(opts->publish_service,
                            (size_t)(slash - opts->publish_service));
        p->svc_name = strdup(slash + 1);
        if (!dnsname_valid(p->svc_ns, DNSNAME_ONE_LABEL) ||
            !dnsname_valid(p->svc_name, DNSNAME_ONE_LABEL)) {
            snprintf(err, errlen, "--publish-service \"%s\" is not NS/NAME",
                     opts->publish_service);
            publisher_free(p);
            return NULL;
        }
    } else {
        char **t = calloc(opts->npublish_addresses + 1, sizeof(*t));
        size_t n = 0;
        for (size_t i = 0; t && i < opts->npublish_addresses; i++) {
            const char *a = opts->publish_addresses[i];
            if (!a || !*a)
                continue;
            /* A CNAME target as ExternalDNS takes it: any case, an
             * optional trailing dot. */
            if (target_type_of(a) == TARGET_CNAME &&
                !dnsname_valid(a, DNSNAME_UPPERCASE | DNSNAME_TRAILING_DOT)) {
                snprintf(err, errlen, "--publish-status-address: \"%.100s\" "
                         "is neither an IP address nor a DNS name", a);
                targets_free(t, n);
                publisher_free(p);
                return NULL;
            }
            t[n++] = strdup(a);
        }
        set_targets(p, t, n);
    }

    if (!p->identity || !p->lease_ns || !p->lease_name || !p->lease_path ||
        !p->ing_view || !p->dnse_view || !p->served || !p->written ||
        !p->inflight || !p->le_timer || !p->sync_timer ||
        (p->svc_ns && !p->svc_name)) {
        snprintf(err, errlen, "out of memory");
        publisher_free(p);
        return NULL;
    }

    /* Observed views. */
    buf_init(&b);
    if (p->watch_ns)
        buf_printf(&b, "/apis/networking.k8s.io/v1/namespaces/%s/ingresses",
                   p->watch_ns);
    else
        buf_puts(&b, "/apis/networking.k8s.io/v1/ingresses");
    struct reflector_sink ing_sink = {
        .replace = ing_replace, .begin = ing_begin, .end = ing_end,
        .put = ing_put, .remove = ing_remove, .synced = ing_synced, .arg = p,
    };
    int tapped = 0;
    if (kube_client_ingress_source(kc) == INGRESS_SOURCE_LISTING &&
        !kube_client_ingress_tap(kc) &&
        strcmp(p->watch_ns ? p->watch_ns : "",
               kube_client_watch_namespace(kc) ? kube_client_watch_namespace(kc)
                                               : "") == 0) {
        /* The source lists and watches the same Ingresses: share them. */
        kube_client_set_ingress_tap(kc, &ing_sink);
        p->tapped = tapped = 1;
    } else {
        p->ing_refl = watch(p, "ingresses (status)", b.data, NULL, NULL,
                            ing_sink);
    }
    if (p->dnsep) {
        buf_reset(&b);
        if (p->watch_ns)
            buf_printf(&b, "/apis/externaldns.k8s.io/v1alpha1/namespaces/%s/"
                       "dnsendpoints", p->watch_ns);
        else
            buf_puts(&b, "/apis/externaldns.k8s.io/v1alpha1/dnsendpoints");
        p->dnse_refl = watch(p, "dnsendpoints", b.data, NULL,
                             PORTICO_MANAGED_BY_LABEL "="
                             PORTICO_MANAGED_BY_VALUE,
                             (struct reflector_sink){
                                 .replace = dnse_replace, .put = dnse_put,
                                 .remove = dnse_remove,
                                 .synced = dnse_synced, .arg = p});
    }
    if (p->svc_name) {
        char *fsel = NULL;
        buf_reset(&b);
        buf_printf(&b, "/api/v1/namespaces/%s/services", p->svc_ns);
        if (asprintf(&fsel, "metadata.name=%s", p->svc_name) < 0)
            fsel = NULL;
        p->svc_refl = watch(p, "publish service", b.data, fsel, NULL,
                            (struct reflector_sink){
                                .replace = svc_replace, .put = svc_put,
                                .remove = svc_remove, .arg = p});
        free(fsel);
    }
    buf_free(&b);
    if ((!tapped && !p->ing_refl) || (p->dnsep && !p->dnse_refl) ||
        (p->svc_name && !p->svc_refl)) {
        snprintf(err, errlen, "cannot start the publisher's watches");
        publisher_free(p);
        return NULL;
    }
    log_info("kube: leader election on Lease %s/%s as %s (%ds/%ds/%ds)",
             p->lease_ns, p->lease_name, p->identity, p->lease_s, p->renew_s,
             p->retry_s);
    evloop_timer_start(p->le_timer, 0);
    return p;
}

static void forget_done(void *arg, const struct kube_response *resp)
{
    struct write_op *w = arg;
    write_unlink(w);
    write_free(w);
}

static void fire_and_forget(struct publisher *p, const char *method,
                            const char *path, const char *ctype,
                            const char *body)
{
    struct write_op *w = calloc(1, sizeof(*w));
    if (!w)
        return;
    w->p = p;
    w->kind = W_FORGET;
    w->key = strdup(path);
    struct kube_request_opts o = {
        .method = method, .verb = method, .path = path, .content_type = ctype,
        .body = body, .done = forget_done, .arg = w,
    };
    w->req = kube_request(p->kc, &o);
    if (!w->req) {
        write_free(w);
        return;
    }
    w->next = p->writes;
    if (p->writes)
        p->writes->prev = w;
    p->writes = w;
    p->nwrites++;
}

void publisher_shutdown(struct publisher *p, int timeout_ms)
{
    if (!p || p->shutting_down)
        return;
    p->shutting_down = 1;
    evloop_timer_stop(p->le_timer);
    evloop_timer_stop(p->sync_timer);
    if (p->le_req) {
        kube_request_cancel(p->kc, p->le_req);
        p->le_req = NULL;
    }
    if (!p->leader)
        return;
    kube_events_set_leader(kube_client_events(p->kc), 0);
    if (p->clear_on_shutdown) {
        char *body = lb_status_patch(NULL, 0);
        json_object_object_foreach(p->served, key, s) {
            (void)s;
            char ns[NAME_MAX_LEN], name[NAME_MAX_LEN], *path;
            split_key(key, ns, sizeof(ns), name, sizeof(name));
            if (body && asprintf(&path, "/apis/networking.k8s.io/v1/"
                                 "namespaces/%s/ingresses/%s/status", ns,
                                 name) >= 0) {
                fire_and_forget(p, "PATCH", path, MERGE_PATCH, body);
                free(path);
            }
        }
        free(body);
        log_info("kube: clearing the status of the served Ingresses");
    }
    char now[40];
    kube_format_time(now, sizeof(now), 1);
    char *lease = lease_build(p->lease_ns, p->lease_name, p->identity,
                              p->lease_s, p->have_observed ? &p->observed
                                                           : NULL,
                              LEADER_RENEW, 1, now);
    if (lease && p->have_observed)
        fire_and_forget(p, "PUT", p->lease_path, "application/json", lease);
    free(lease);
    p->leader = 0;
    log_info("kube: releasing the lease %s/%s", p->lease_ns, p->lease_name);
    (void)timeout_ms;   /* the caller runs the loop for that long */
}

int publisher_busy(const struct publisher *p)
{
    return p && p->nwrites > 0;
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    if (p->le_req)
        kube_request_cancel(p->kc, p->le_req);
    while (p->writes) {
        struct write_op *w = p->writes;
        kube_request_cancel(p->kc, w->req);
        write_unlink(w);
        write_free(w);
    }
    if (p->tapped)
        kube_client_set_ingress_tap(p->kc, NULL);
    reflector_free(p->ing_refl);
    reflector_free(p->dnse_refl);
    reflector_free(p->svc_refl);
    evloop_timer_free(p->le_timer);
    evloop_timer_free(p->sync_timer);
    lease_record_free(&p->observed);
    targets_free(p->targets, p->ntargets);
    free(p->targets_canon);
    json_object_put(p->ing_view);
    json_object_put(p->ing_seen);
    json_object_put(p->dnse_view);
    json_object_put(p->served);
    json_object_put(p->written);
    json_object_put(p->inflight);
    free(p->identity);
    free(p->lease_ns);
    free(p->lease_name);
    free(p->lease_path);
    free(p->lease_coll);
    free(p->svc_ns);
    free(p->svc_name);
    free(p->watch_ns);
    free(p);
}
