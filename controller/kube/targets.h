/*
 * targets.h - the addresses the publisher publishes for every served
 * Ingress: those of one Service (--publish-service, watched; by its type,
 * as ingress-nginx: publish.h lb_addresses_of_service), or a fixed list
 * (--publish-status-address: IPs, or DNS names for CNAMEs).
 */
#ifndef PORTICO_KUBE_TARGETS_H
#define PORTICO_KUBE_TARGETS_H

#include <stddef.h>

#include "controller/kube/client_internal.h"
#include "controller/kube/publish.h"

struct publish_targets_opts {
    const char *service;                 /* "NS/NAME", or NULL */
    const char *const *addresses;        /* without a service */
    size_t naddresses;
    void (*changed)(void *arg);          /* the list changed */
    void *arg;
};

struct publish_targets;

/* Checks the options (a Service "NS/NAME" of DNS labels; addresses that
 * are IPs or DNS names) and starts watching the Service. NULL with a
 * message in err. */
struct publish_targets *publish_targets_start(
    struct kube_client *kc, const struct publish_targets_opts *o, char *err,
    size_t errlen);
void publish_targets_free(struct publish_targets *t);

/* 1 once the list is known: fixed, or the Service listed once. */
int publish_targets_known(const struct publish_targets *t);
/* The status.loadBalancer.ingress entries (an ip, a hostname, or both). */
const struct lb_address *publish_targets_addresses(
    const struct publish_targets *t, size_t *n);
/* The DNS targets ExternalDNS reads from that status (lb_dns_targets). */
const char *const *publish_targets_dns(const struct publish_targets *t,
                                       size_t *n);
/* lb_canonical (publish.h) of the list: what an Ingress status shows when
 * it is up to date. "" for none. */
const char *publish_targets_canonical(const struct publish_targets *t);

#endif
