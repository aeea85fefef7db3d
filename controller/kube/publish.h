/*
 * publish.h - what the publisher writes, as pure functions (unit-tested):
 * the Ingress status.loadBalancer for the published targets, DNSEndpoint
 * objects (externaldns.k8s.io/v1alpha1) for a served Ingress, the
 * ExternalDNS ttl annotation, and canonical forms used to write only what
 * differs.
 */
#ifndef PORTICO_KUBE_PUBLISH_H
#define PORTICO_KUBE_PUBLISH_H

#include <json-c/json.h>
#include <stddef.h>

#define PORTICO_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define PORTICO_MANAGED_BY_VALUE "portico-controller"
#define EXTERNALDNS_TTL_ALPHA "external-dns.alpha.kubernetes.io/ttl"
#define EXTERNALDNS_TTL       "external-dns.kubernetes.io/ttl"

enum target_type { TARGET_A, TARGET_AAAA, TARGET_CNAME };
/* As ExternalDNS's SuitableType: IPv4 -> A, IPv6 -> AAAA, else CNAME. */
enum target_type target_type_of(const char *target);

/* Targets from a Service's status.loadBalancer.ingress (ip, hostname). */
size_t targets_from_service(struct json_object *svc, char ***out);
void targets_free(char **t, size_t n);

/* status.loadBalancer.ingress entries for targets: IPs as "ip", names as
 * "hostname". Returns the array (new reference). */
struct json_object *lb_ingress_for_targets(const char *const *targets,
                                           size_t n);
/* Canonical text of an ingress list: '|'-joined "ip:X" / "hostname:Y"
 * items in order; "" for none. Used for both desired and observed. */
char *lb_canonical(struct json_object *lb_ingress_array);
/* The canonical form of an Ingress object's status.loadBalancer.ingress. */
char *lb_canonical_of_ingress(struct json_object *ingress);
/* Merge-patch body for /status: {"status":{"loadBalancer":{"ingress":...}}}
 * (null clears). */
char *lb_status_patch(const char *const *targets, size_t n);

/* ExternalDNS ttl: integer seconds or a Go duration, in [1, 2^31-1];
 * anything else is 0 (ignored, as ExternalDNS does). */
long externaldns_parse_ttl(const char *value);
/* From metadata.annotations: the new prefix wins over the alpha one. */
long externaldns_ttl_of(struct json_object *ingress);

/* DNSEndpoint name for an Ingress name: "<name>" itself fits the same
 * grammar and length, so the name is used unchanged (they live in the
 * same namespace, and a DNSEndpoint is a different kind). */
const char *dnsendpoint_name(const char *ingress_name);
/* The DNSEndpoint object for one Ingress: labels, ownerReferences to the
 * Ingress (uid, controller: true), one endpoint per host and record type.
 * NULL when there is nothing to publish (no hosts or no targets). */
struct json_object *dnsendpoint_build(const char *ns, const char *name,
                                      const char *uid,
                                      const char *const *hosts, size_t nhosts,
                                      const char *const *targets,
                                      size_t ntargets, long ttl);
/* Canonical text of what matters in a DNSEndpoint (owner uid, labels
 * value, endpoints), from either a built or an observed object. */
char *dnsendpoint_canonical(struct json_object *dnsep);

#endif
