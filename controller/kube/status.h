/*
 * status.h - status.loadBalancer of the served Ingresses: a view of the
 * status every Ingress shows now, and the writes (merge patches on
 * /status, only where it differs) that make the served ones show the
 * published targets. The status we wrote is cleared when an Ingress is no
 * longer served.
 *
 * The view is fed by the kube_source's Ingress watch when the publisher
 * shares it (one list and watch of Ingresses per controller), else by the
 * job's own watch. Every replica keeps the view; the publisher calls
 * ingress_status_sync only on the leader.
 */
#ifndef PORTICO_KUBE_STATUS_H
#define PORTICO_KUBE_STATUS_H

#include <json-c/json.h>
#include <stddef.h>

#include "controller/kube/kube.h"
#include "controller/kube/served.h"
#include "controller/kube/targets.h"
#include "controller/kube/writes.h"

struct ingress_status_opts {
    struct kube_source *source;     /* share its Ingresses, or NULL */
    const char *watch_namespace;    /* NULL: all */
    /* The view changed: sync soon (now = 0) or at once (now = 1, the
     * first complete list). */
    void (*changed)(void *arg, int now);
    /* An Ingress is gone from the cluster. */
    void (*gone)(void *arg, const char *ns, const char *name);
    void *arg;
};

struct ingress_status;

struct ingress_status *ingress_status_start(struct kube_client *kc,
                                            struct kube_writes *writes,
                                            const struct ingress_status_opts *o,
                                            char *err, size_t errlen);
void ingress_status_free(struct ingress_status *s);

/* 1 once the Ingresses were listed completely. */
int ingress_status_synced(const struct ingress_status *s);
/* One round against the served set:
 * writes the status of every served Ingress that differs, clears what we
 * wrote on Ingresses no longer served. Returns 0 when it stopped because
 * max_writes are in flight, 1 when it went through. */
int ingress_status_sync(struct ingress_status *s,
                        const struct served_set *served,
                        const struct publish_targets *t, size_t max_writes);
/* Shutdown: clears the status of every served Ingress, fire and forget. */
void ingress_status_clear_all(struct ingress_status *s,
                              const struct served_set *served);

#endif
