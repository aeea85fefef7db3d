/*
 * publisher.c - what the leader writes, wired together: leader election
 * (election.c) turns the Events (events.c) and the writes on and off; the
 * jobs keep their views on every replica and converge them on the leader:
 * the status of the served Ingresses (status.c) and, optionally, their
 * DNSEndpoints (dnsendpoints.c), both showing the published targets
 * (targets.c). The two degrade apart: a missing or forbidden DNSEndpoint
 * API never holds the status back.
 *
 * Nothing is written before this replica served a first set of Ingresses
 * (a new leader that wrote before its first reload would clear the
 * status of every Ingress). On shutdown the status is cleared only by the
 * last replica (replicas.c), as ingress-nginx does.
 *
 * It is a reconcile loop: desired state (the served set from
 * publisher_update and the targets) against observed state (the jobs'
 * views), writing only what differs, at most MAX_WRITES_IN_FLIGHT at a
 * time (writes.c), again after every write, after a view changes, and
 * every RESYNC_PERIOD_MS; after failed writes, with backoff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/backoff.h"
#include "controller/kube/dnsendpoints.h"
#include "controller/kube/election.h"
#include "controller/kube/events.h"
#include "controller/kube/replicas.h"
#include "controller/kube/served.h"
#include "controller/kube/source.h"
#include "controller/kube/status.h"
#include "controller/kube/targets.h"
#include "controller/kube/writes.h"
#include "dnsname.h"
#include "evloop.h"
#include "log.h"

enum {
    MAX_WRITES_IN_FLIGHT = 32,
    SYNC_DEBOUNCE_MS = 50,
    RESYNC_PERIOD_MS = 60 * 1000,      /* converge even if a watch is quiet */
    MS_PER_S = 1000,
};

struct publisher {
    struct kube_client *kc;
    struct evloop *loop;
    struct kube_events *events;
    char *watch_ns;
    int clear_on_shutdown;
    int shutting_down;
    int served_known;       /* publisher_update was called */

    struct election *election;
    struct publish_targets *targets;
    struct kube_writes *writes;
    struct ingress_status *status;
    struct dnsendpoints *dnseps;        /* NULL: not published */
    struct replicas *replicas;          /* NULL: not needed */

    struct served_set *served;
    struct ev_timer *sync_timer;
    uint64_t sync_due_ms;
    struct backoff write_backoff;
    int write_failed;
    /* A burst: from the round that starts writes after an idle spell to
     * the round that finds nothing in flight; logged once at its end. */
    int burst;
    unsigned long burst_first;      /* writes started when it began */
    uint64_t burst_started_ms;
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

/* ---- what the parts tell ---------------------------------------------- */

static void on_leader(void *arg, int leader)
{
    struct publisher *p = arg;

    kube_events_set_leader(p->events, leader);
    if (leader)
        schedule_sync(p, 0);
}

static void on_view_changed(void *arg, int now)
{
    schedule_sync(arg, now ? 0 : SYNC_DEBOUNCE_MS);
}

static void on_targets_changed(void *arg)
{
    struct publisher *p = arg;

    dnsendpoints_invalidate(p->dnseps);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

/* An Ingress gone has no problem to report any more. */
static void on_ingress_gone(void *arg, const char *ns, const char *name)
{
    struct publisher *p = arg;

    kube_events_forget(p->events, ns, name);
}

static void on_write_settled(void *arg, int ok)
{
    struct publisher *p = arg;

    if (!ok)
        p->write_failed = 1;
    if (p->shutting_down)
        return;
    if (p->write_failed && kube_writes_count(p->writes) == 0) {
        p->write_failed = 0;
        schedule_sync(p, backoff_next(&p->write_backoff,
                                      backoff_rand01(&p->write_backoff)));
    } else {
        if (ok)
            backoff_reset(&p->write_backoff);
        schedule_sync(p, 0);
    }
}

/* ---- the reconcile ---------------------------------------------------- */

static int ready_to_write(struct publisher *p)
{
    return election_is_leader(p->election) && !p->shutting_down &&
           p->served_known && ingress_status_synced(p->status) &&
           publish_targets_known(p->targets);
}

static void sync_round(struct publisher *p)
{
    if (!ready_to_write(p))
        return;
    p->sync_due_ms = evloop_now_ms(p->loop) + RESYNC_PERIOD_MS;
    evloop_timer_start(p->sync_timer, RESYNC_PERIOD_MS);
    if (!ingress_status_sync(p->status, p->served, p->targets,
                             MAX_WRITES_IN_FLIGHT))
        return;
    if (p->dnseps)
        dnsendpoints_sync(p->dnseps, p->served, p->targets,
                          MAX_WRITES_IN_FLIGHT, replicas_self(p->replicas));
}

/* One reconcile round. Every finished write runs another round, so a
 * line per round would be a line per object (thousands at start): one
 * line per burst instead, when nothing is left in flight (per-object
 * lines are debug). */
static void sync_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct publisher *p = arg;
    unsigned long before = kube_writes_started(p->writes);

    sync_round(p);
    if (kube_writes_started(p->writes) > before && !p->burst) {
        p->burst = 1;
        p->burst_first = before;
        p->burst_started_ms = evloop_now_ms(p->loop);
    }
    if (p->burst && kube_writes_count(p->writes) == 0) {
        p->burst = 0;
        log_info("kube: published %lu writes (Ingress status, DNSEndpoints) "
                 "in %.1f s", kube_writes_started(p->writes) - p->burst_first,
                 (double)(evloop_now_ms(p->loop) - p->burst_started_ms) /
                     MS_PER_S);
    }
}

/* ---- public API -------------------------------------------------------- */

/* The served list replaces the previous one. Kept, not rebuilt: at 10k
 * Ingresses rebuilding it (and freeing the old) after every change was a
 * quarter of the controller's time, and it blocked the loop right when
 * the next change may arrive. Entries that say the same stay; the
 * publishing round runs only if something differs. */
void publisher_update(struct publisher *p, const struct served_ingress *list,
                      size_t n)
{
    int changed;

    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        if (list[i].ns && list[i].name)
            kube_events_forget(p->events, list[i].ns, list[i].name);
    changed = served_set_update(p->served, list, n);
    if (!changed && p->served_known)
        return;
    p->served_known = 1;
    dnsendpoints_invalidate(p->dnseps);
    schedule_sync(p, SYNC_DEBOUNCE_MS);
}

int publisher_is_leader(const struct publisher *p)
{
    return p && election_is_leader(p->election);
}

struct publisher *publisher_start(struct kube_client *kc,
                                  struct kube_events *events,
                                  struct kube_source *source,
                                  const struct publisher_opts *opts,
                                  char *err, size_t errlen)
{
    struct publisher *p;
    const char *wns = opts->watch_namespace;

    if (wns && *wns && !dnsname_valid(wns, DNSNAME_ONE_LABEL)) {
        snprintf(err, errlen, "invalid watch namespace \"%s\"", wns);
        return NULL;
    }
    if (!wns || !*wns)
        wns = source ? kube_source_namespace(source) : NULL;
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->kc = kc;
    p->loop = kube_client_loop(kc);
    p->events = events;
    p->clear_on_shutdown = opts->clear_status_on_shutdown;
    p->watch_ns = wns ? strdup(wns) : NULL;
    /* The status job reads only the keys; the DNSEndpoints job the rest. */
    p->served = served_set_new(opts->publish_dnsendpoints);
    p->sync_timer = evloop_timer_new(p->loop, sync_cb, p);
    p->writes = kube_writes_new(kc, on_write_settled, p);
    backoff_init(&p->write_backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS,
                 BACKOFF_JITTER);
    if (!p->served || !p->sync_timer || !p->writes || (wns && !p->watch_ns)) {
        snprintf(err, errlen, "out of memory");
        publisher_free(p);
        return NULL;
    }
    struct election_opts eo = {
        .identity = opts->identity,
        .lease_namespace = opts->lease_namespace,
        .lease_name = opts->lease_name,
        .lease_duration_s = opts->lease_duration_s,
        .renew_deadline_s = opts->renew_deadline_s,
        .retry_period_s = opts->retry_period_s,
        .changed = on_leader, .arg = p,
    };
    struct publish_targets_opts to = {
        .service = opts->publish_service,
        .addresses = opts->publish_addresses,
        .naddresses = opts->npublish_addresses,
        .changed = on_targets_changed, .arg = p,
    };
    struct ingress_status_opts so = {
        .source = source, .watch_namespace = p->watch_ns,
        .changed = on_view_changed, .gone = on_ingress_gone, .arg = p,
    };
    struct replicas_opts ro = {
        .ns = opts->pod_namespace && *opts->pod_namespace
                  ? opts->pod_namespace : opts->lease_namespace,
        .pod_name = opts->identity, .selector = opts->replica_selector,
    };
    if (!(p->targets = publish_targets_start(kc, &to, err, errlen)) ||
        !(p->status = ingress_status_start(kc, p->writes, &so, err,
                                           errlen)) ||
        !(p->election = election_start(kc, &eo, err, errlen))) {
        publisher_free(p);
        return NULL;
    }
    struct dnsendpoints_opts dop = {
        .watch_namespace = p->watch_ns,
        .owner_id = election_lease_id(p->election),
        .annotation_prefix = opts->externaldns_prefix,
        .events = events, .changed = on_view_changed, .arg = p,
    };
    if ((opts->publish_dnsendpoints &&
         !(p->dnseps = dnsendpoints_start(kc, p->writes, &dop, err,
                                          errlen))) ||
        ((opts->publish_dnsendpoints || p->clear_on_shutdown) &&
         !(p->replicas = replicas_start(kc, &ro, err, errlen)))) {
        publisher_free(p);
        return NULL;
    }
    return p;
}

/* --update-status-on-shutdown, once the pod list told: only the last
 * replica clears (others keep serving the same addresses, and the next
 * leader keeps them published; ingress-nginx: status.go L115-142). */
static void on_replicas_checked(void *arg, enum replicas_verdict v,
                                const char *why)
{
    struct publisher *p = arg;

    if (v != REPLICAS_LAST) {
        log_info("kube: the Ingress status stays: %s", why);
        return;
    }
    log_info("kube: %s: this is the last replica", why);
    ingress_status_clear_all(p->status, p->served);
}

void publisher_shutdown(struct publisher *p, int timeout_ms)
{
    if (!p || p->shutting_down)
        return;
    p->shutting_down = 1;
    evloop_timer_stop(p->sync_timer);
    if (election_is_leader(p->election))
        kube_events_set_leader(p->events, 0);
    election_release(p->election);
    /* Any replica may be the last one (the leader may be gone already);
     * one that never served anything has nothing to clear. */
    if (p->clear_on_shutdown && p->served_known && p->replicas)
        replicas_check(p->replicas, on_replicas_checked, p);
    (void)timeout_ms;   /* the caller runs the loop for that long */
}

int publisher_busy(const struct publisher *p)
{
    return p && (kube_writes_count(p->writes) > 0 ||
                 election_busy(p->election) ||
                 (p->shutting_down && replicas_busy(p->replicas)));
}

void publisher_write_metrics(const struct publisher *p, struct buf *out)
{
    if (p)
        dnsendpoints_write_metrics(p->dnseps, out);
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    election_free(p->election);
    replicas_free(p->replicas);
    dnsendpoints_free(p->dnseps);
    ingress_status_free(p->status);
    publish_targets_free(p->targets);
    kube_writes_free(p->writes);
    evloop_timer_free(p->sync_timer);
    served_set_free(p->served);
    free(p->watch_ns);
    free(p);
}
