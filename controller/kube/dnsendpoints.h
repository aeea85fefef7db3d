/*
 * dnsendpoints.h - one DNSEndpoint (externaldns.k8s.io/v1alpha1) per
 * served Ingress with hosts, for ExternalDNS's crd source: a view of the
 * DNSEndpoints we own (label app.kubernetes.io/managed-by=
 * portico-controller) and the writes that converge them: create, patch
 * where they differ, delete those of Ingresses no longer served.
 */
#ifndef PORTICO_KUBE_DNSENDPOINTS_H
#define PORTICO_KUBE_DNSENDPOINTS_H

#include <json-c/json.h>
#include <stddef.h>

#include "controller/kube/targets.h"
#include "controller/kube/writes.h"

struct dnsendpoints;

/* Starts the watch of our DNSEndpoints in watch_namespace (NULL: all).
 * changed(arg, now) as in status.h. NULL with a message in err. */
struct dnsendpoints *dnsendpoints_start(struct kube_client *kc,
                                        struct kube_writes *writes,
                                        const char *watch_namespace,
                                        void (*changed)(void *arg, int now),
                                        void *arg, char *err, size_t errlen);
void dnsendpoints_free(struct dnsendpoints *d);

/* 1 once our DNSEndpoints were listed completely. */
int dnsendpoints_synced(const struct dnsendpoints *d);
/* One round against served (as in status.h), stopping when max_writes
 * are in flight. */
void dnsendpoints_sync(struct dnsendpoints *d, struct json_object *served,
                       const struct publish_targets *t, size_t max_writes);

#endif
