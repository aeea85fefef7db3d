/*
 * dnsendpoints.h - one DNSEndpoint (externaldns.k8s.io/v1alpha1) per
 * served Ingress that has something to publish, for ExternalDNS's crd
 * source, holding what ExternalDNS's ingress source would make of the
 * Ingress (externaldns.h). A view of the DNSEndpoints labelled as ours
 * and the writes that converge them: create, patch where they differ,
 * delete those of Ingresses no longer served.
 *
 * Ownership: only DNSEndpoints that are ours (publish.h
 * dnsendpoint_is_ours: our label, our ownerReference, no other
 * installation's owner annotation) are changed or deleted. A name taken
 * by another object is a conflict: reported once (a Warning Event on the
 * Ingress, the conflicts metric, a log line) and left alone; the create
 * is tried again every CONFLICT_RETRY_MS.
 *
 * It degrades alone: when the DNSEndpoint API is missing (404: the CRD is
 * not installed) or forbidden (403), one Warning Event (on the
 * controller's Pod) and a metric say so, the reflector retries with
 * backoff, and the Ingress status goes on. Nothing is written while the
 * published addresses are empty.
 */
#ifndef PORTICO_KUBE_DNSENDPOINTS_H
#define PORTICO_KUBE_DNSENDPOINTS_H

#include <json-c/json.h>
#include <stddef.h>

#include "controller/kube/served.h"
#include "controller/kube/targets.h"
#include "controller/kube/writes.h"

struct buf;
struct dnsendpoints;

struct dnsendpoints_opts {
    const char *watch_namespace;    /* NULL: all */
    const char *owner_id;           /* "<lease namespace>/<lease name>" */
    const char *annotation_prefix;  /* ExternalDNS's, ends in '/' */
    struct kube_events *events;
    void (*changed)(void *arg, int now);    /* as in status.h */
    void *arg;
};

/* Starts the watch of the DNSEndpoints labelled as ours. NULL with a
 * message in err. */
struct dnsendpoints *dnsendpoints_start(struct kube_client *kc,
                                        struct kube_writes *writes,
                                        const struct dnsendpoints_opts *o,
                                        char *err, size_t errlen);
void dnsendpoints_free(struct dnsendpoints *d);

/* The served set or the published addresses changed: what is wanted is
 * worked out again at the next round. */
void dnsendpoints_invalidate(struct dnsendpoints *d);
/* One round (leader only) against the served set, stopping when
 * max_writes are in flight. self:
 * this replica's Pod, for the Event about a missing API (or NULL). */
void dnsendpoints_sync(struct dnsendpoints *d,
                       const struct served_set *served,
                       const struct publish_targets *t, size_t max_writes,
                       const struct kube_object_ref *self);
/* portico_controller_dnsendpoints_api_available and
 * portico_controller_dnsendpoint_conflicts. */
void dnsendpoints_write_metrics(const struct dnsendpoints *d,
                                struct buf *out);

#endif
