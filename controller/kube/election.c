/*
 * election.c - leader election on a Lease: reads, takes and renews it on
 * a timer; leader.c decides. See election.h.
 */
#include "controller/kube/election.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/backoff.h"
#include "controller/kube/leader.h"
#include "dnsname.h"
#include "evloop.h"
#include "log.h"

enum {
    MS_PER_S = 1000,
    DEFAULT_LEASE_DURATION_S = 15,     /* component-base defaults */
    DEFAULT_RENEW_DEADLINE_S = 10,
    DEFAULT_RETRY_PERIOD_S = 2,
};
#define LEADER_JITTER_FACTOR 1.2       /* client-go wait.JitterUntil */
#define DEFAULT_LEASE_NAME "portico-leader"

struct election {
    struct kube_client *kc;
    struct evloop *loop;
    char *identity, *lease_ns, *lease_name, *lease_path, *lease_coll;
    char *lease_id;                 /* "ns/name" */
    int lease_s, renew_s, retry_s;
    void (*changed)(void *arg, int leader);
    void *arg;

    struct ev_timer *timer;
    struct kube_req *req;           /* the read or write in flight */
    struct kube_req *release_req;   /* the release, at shutdown */
    struct lease_record observed;
    int have_observed;
    uint64_t observed_ms;           /* when observed last changed */
    int leader;
    uint64_t last_renew_ms;
    int released;
    struct backoff jitter;          /* its PRNG only */
};

static uint64_t now_ms(struct election *e)
{
    evloop_update_time(e->loop);
    return evloop_now_ms(e->loop);
}

static void schedule(struct election *e)
{
    uint64_t d = (uint64_t)e->retry_s * MS_PER_S;

    if (e->released)
        return;
    if (!e->leader)
        d += (uint64_t)((double)d * LEADER_JITTER_FACTOR *
                        backoff_rand01(&e->jitter));
    evloop_timer_start(e->timer, d);
}

static void become_leader(struct election *e)
{
    if (e->leader)
        return;
    e->leader = 1;
    log_info("kube: became the leader (Lease %s/%s, identity %s)",
             e->lease_ns, e->lease_name, e->identity);
    e->changed(e->arg, 1);
}

static void lose_leadership(struct election *e, const char *why)
{
    if (!e->leader)
        return;
    e->leader = 0;
    e->changed(e->arg, 0);
    log_warn("kube: no longer the leader: %s", why);
}

static void check_renew_deadline(struct election *e)
{
    if (e->leader &&
        now_ms(e) - e->last_renew_ms > (uint64_t)e->renew_s * MS_PER_S)
        lose_leadership(e, "could not renew the lease within the renew "
                           "deadline");
}

static void observe_record(struct election *e, struct lease_record *rec)
{
    if (!e->have_observed || lease_record_changed(rec, &e->observed))
        e->observed_ms = now_ms(e);
    lease_record_free(&e->observed);
    e->observed = *rec;
    e->have_observed = 1;
}

static void write_done(void *arg, const struct kube_response *resp)
{
    struct election *e = arg;
    struct json_object *o;
    struct lease_record rec;

    e->req = NULL;
    if (resp->status == HTTP_OK || resp->status == HTTP_CREATED) {
        o = json_tokener_parse(resp->body);
        if (o && lease_record_parse(o, &rec) == 0) {
            observe_record(e, &rec);
            e->last_renew_ms = now_ms(e);
            become_leader(e);
        }
        json_object_put(o);
    } else if (resp->status == HTTP_CONFLICT) {
        log_debug("kube: lease update lost a race (409)");
        check_renew_deadline(e);
    } else {
        log_warn("kube: lease update failed: %s%ld",
                 resp->error ? resp->error : "HTTP ", resp->status);
        check_renew_deadline(e);
    }
    schedule(e);
}

static void write_lease(struct election *e, enum leader_action action)
{
    char now[40];
    char *body;
    int create = !e->have_observed;

    kube_format_time(now, sizeof(now), 1);
    body = lease_build(e->lease_ns, e->lease_name, e->identity, e->lease_s,
                       e->have_observed ? &e->observed : NULL, action, 0,
                       now);
    struct kube_request_opts o = {
        .method = create ? "POST" : "PUT", .verb = create ? "POST" : "PUT",
        .path = create ? e->lease_coll : e->lease_path,
        .content_type = "application/json", .body = body,
        .done = write_done, .arg = e,
    };
    e->req = body ? kube_request(e->kc, &o) : NULL;
    free(body);
    if (!e->req)
        schedule(e);
}

static void read_done(void *arg, const struct kube_response *resp)
{
    struct election *e = arg;
    struct lease_record rec;
    struct json_object *o;
    enum leader_action a;

    e->req = NULL;
    if (resp->status == HTTP_NOT_FOUND) {
        if (e->have_observed) {
            lease_record_free(&e->observed);
            e->have_observed = 0;
        }
        write_lease(e, LEADER_ACQUIRE);
        return;
    }
    if (resp->status != HTTP_OK) {
        log_warn("kube: cannot read the lease %s/%s: %s%ld", e->lease_ns,
                 e->lease_name, resp->error ? resp->error : "HTTP ",
                 resp->status);
        check_renew_deadline(e);
        schedule(e);
        return;
    }
    o = json_tokener_parse(resp->body);
    if (!o || lease_record_parse(o, &rec) < 0) {
        json_object_put(o);
        log_warn("kube: the lease %s/%s is not a Lease", e->lease_ns,
                 e->lease_name);
        schedule(e);
        return;
    }
    json_object_put(o);
    observe_record(e, &rec);
    a = leader_decide(&e->observed, e->observed_ms, now_ms(e), e->identity);
    if (a == LEADER_WAIT) {
        if (e->leader) {
            char why[300];
            snprintf(why, sizeof(why), "the lease is held by %s",
                     e->observed.holder);
            lose_leadership(e, why);
        }
        schedule(e);
        return;
    }
    write_lease(e, a);
}

static void tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct election *e = arg;

    if (e->req || e->released)
        return;
    check_renew_deadline(e);
    struct kube_request_opts o = {
        .method = "GET", .verb = "GET", .path = e->lease_path,
        .done = read_done, .arg = e,
    };
    e->req = kube_request(e->kc, &o);
    if (!e->req)
        schedule(e);
}

struct election *election_start(struct kube_client *kc,
                                 const struct election_opts *o, char *err,
                                 size_t errlen)
{
    const char *ns = o->lease_namespace;
    struct election *e;

    if (!ns || !*ns)
        ns = kube_client_namespace(kc);
    if (!o->identity || !*o->identity) {
        snprintf(err, errlen, "leader election needs an identity (pod name)");
        return NULL;
    }
    if (!dnsname_valid(ns, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "leader election needs the controller's "
                 "namespace (got \"%s\")", ns ? ns : "");
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->kc = kc;
    e->loop = kube_client_loop(kc);
    e->changed = o->changed;
    e->arg = o->arg;
    e->identity = strdup(o->identity);
    e->lease_ns = strdup(ns);
    e->lease_name = strdup(o->lease_name && *o->lease_name
                               ? o->lease_name : DEFAULT_LEASE_NAME);
    e->lease_s = o->lease_duration_s > 0 ? o->lease_duration_s
                                         : DEFAULT_LEASE_DURATION_S;
    e->renew_s = o->renew_deadline_s > 0 ? o->renew_deadline_s
                                         : DEFAULT_RENEW_DEADLINE_S;
    e->retry_s = o->retry_period_s > 0 ? o->retry_period_s
                                       : DEFAULT_RETRY_PERIOD_S;
    e->timer = evloop_timer_new(e->loop, tick, e);
    backoff_init(&e->jitter, 1, 1, 0);
    if (e->lease_name && (!dnsname_valid(e->lease_name, 0) ||
                          !(e->lease_s > e->renew_s &&
                            (double)e->renew_s >
                                LEADER_JITTER_FACTOR * e->retry_s))) {
        snprintf(err, errlen, "leader election: need a valid lease name and "
                 "lease duration > renew deadline > 1.2 x retry period");
        election_free(e);
        return NULL;
    }
    if (asprintf(&e->lease_coll, "/apis/coordination.k8s.io/v1/namespaces/"
                 "%s/leases", e->lease_ns) < 0)
        e->lease_coll = NULL;
    if (e->lease_coll &&
        asprintf(&e->lease_path, "%s/%s", e->lease_coll, e->lease_name) < 0)
        e->lease_path = NULL;
    if (asprintf(&e->lease_id, "%s/%s", e->lease_ns, e->lease_name) < 0)
        e->lease_id = NULL;
    if (!e->identity || !e->lease_ns || !e->lease_name || !e->lease_path ||
        !e->lease_id || !e->timer) {
        snprintf(err, errlen, "out of memory");
        election_free(e);
        return NULL;
    }
    log_info("kube: leader election on Lease %s/%s as %s (%ds/%ds/%ds)",
             e->lease_ns, e->lease_name, e->identity, e->lease_s, e->renew_s,
             e->retry_s);
    evloop_timer_start(e->timer, 0);
    return e;
}

int election_is_leader(const struct election *e)
{
    return e && e->leader;
}

const char *election_lease_id(const struct election *e)
{
    return e->lease_id;
}

static void release_done(void *arg, const struct kube_response *resp)
{
    struct election *e = arg;

    e->release_req = NULL;
}

void election_release(struct election *e)
{
    char now[40];
    char *lease;

    if (!e || e->released)
        return;
    e->released = 1;
    evloop_timer_stop(e->timer);
    if (e->req) {
        kube_request_cancel(e->kc, e->req);
        e->req = NULL;
    }
    if (!e->leader)
        return;
    kube_format_time(now, sizeof(now), 1);
    lease = lease_build(e->lease_ns, e->lease_name, e->identity, e->lease_s,
                        e->have_observed ? &e->observed : NULL, LEADER_RENEW,
                        1, now);
    if (lease && e->have_observed) {
        struct kube_request_opts o = {
            .method = "PUT", .verb = "PUT", .path = e->lease_path,
            .content_type = "application/json", .body = lease,
            .done = release_done, .arg = e,
        };
        e->release_req = kube_request(e->kc, &o);
    }
    free(lease);
    e->leader = 0;
    log_info("kube: releasing the lease %s/%s", e->lease_ns, e->lease_name);
}

int election_busy(const struct election *e)
{
    return e && e->release_req;
}

void election_free(struct election *e)
{
    if (!e)
        return;
    if (e->req)
        kube_request_cancel(e->kc, e->req);
    if (e->release_req)
        kube_request_cancel(e->kc, e->release_req);
    evloop_timer_free(e->timer);
    lease_record_free(&e->observed);
    free(e->identity);
    free(e->lease_ns);
    free(e->lease_name);
    free(e->lease_path);
    free(e->lease_coll);
    free(e->lease_id);
    free(e);
}
