/*
 * publish.h - what the publisher writes, as pure functions (unit-tested):
 * the addresses a publish Service gives, the Ingress status.loadBalancer
 * for them, the DNS targets ExternalDNS reads from that status, the
 * DNSEndpoint objects (externaldns.k8s.io/v1alpha1) of a served Ingress,
 * which DNSEndpoints are ours, and canonical forms used to write only
 * what differs.
 */
#ifndef PORTICO_KUBE_PUBLISH_H
#define PORTICO_KUBE_PUBLISH_H

#include <json-c/json.h>
#include <stddef.h>

#define PORTICO_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define PORTICO_MANAGED_BY_VALUE "portico-controller"
/* On our DNSEndpoints: which Portico installation wrote them (the
 * namespace and name of its leader Lease), so that two installations
 * (e.g. internal and external classes) never change each other's. */
#define PORTICO_OWNER_ANNOTATION "portico.io/owner"

/* One status.loadBalancer.ingress entry: an ip, a hostname, or both (a
 * load balancer may give both; ingress-nginx copies both). */
struct lb_address {
    char *ip;           /* or NULL */
    char *hostname;     /* or NULL */
};

enum target_type { TARGET_A, TARGET_AAAA, TARGET_CNAME };
/* As ExternalDNS's SuitableType: IPv4 -> A, IPv6 -> AAAA, else CNAME. */
enum target_type target_type_of(const char *target);

/* The addresses a publish Service gives, by its type, as ingress-nginx's
 * statusAddressFromService: LoadBalancer: its status.loadBalancer.ingress
 * entries (ip and hostname), then the spec.externalIPs not listed yet;
 * NodePort: its spec.externalIPs, else its ClusterIP; ClusterIP: its
 * ClusterIPs ("None": none); ExternalName: spec.externalName as a
 * hostname. Node addresses are not used. Returns how many; *out is
 * malloc'd (NULL for none). */
size_t lb_addresses_of_service(struct json_object *svc,
                               struct lb_address **out);
/* One fixed address (--publish-status-address): an IP goes in ip, a name
 * in hostname. 0, or -1 when out of memory. */
int lb_address_of_text(struct lb_address *a, const char *text);
void lb_addresses_free(struct lb_address *a, size_t n);

/* status.loadBalancer.ingress for the addresses (a new reference). */
struct json_object *lb_ingress_json(const struct lb_address *a, size_t n);
/* Canonical text of an ingress list: '|'-joined "ip:X", "hostname:Y" or
 * "ip:X,hostname:Y" items in order; "" for none. Used for both desired
 * and observed. */
char *lb_canonical(struct json_object *lb_ingress_array);
/* The canonical form of an Ingress object's status.loadBalancer.ingress. */
char *lb_canonical_of_ingress(struct json_object *ingress);
/* Merge-patch body for /status: {"status":{"loadBalancer":{"ingress":...}}}
 * (n == 0: null, which clears it). */
char *lb_status_patch(const struct lb_address *a, size_t n);
/* The targets ExternalDNS's ingress source reads from such a status
 * (targetsFromIngressStatus: each entry's ip, then its hostname), each
 * once; pointers into a. Returns how many (at most max). */
size_t lb_dns_targets(const struct lb_address *a, size_t n,
                      const char **out, size_t max);

/* DNSEndpoint name for an Ingress name: "<name>" itself fits the same
 * grammar and length, so the name is used unchanged (they live in the
 * same namespace, and a DNSEndpoint is a different kind). */
const char *dnsendpoint_name(const char *ingress_name);
/* The DNSEndpoint object for one Ingress: our label, our owner annotation
 * (owner_id), a controller ownerReference to the Ingress (uid), and
 * spec.endpoints (taken: the caller's reference goes into the object). */
struct json_object *dnsendpoint_build(const char *ns, const char *name,
                                      const char *uid, const char *owner_id,
                                      struct json_object *endpoints);
/* 1 if we may change or delete it: it carries our label, a controller
 * ownerReference to the Ingress of its name, and no other installation's
 * owner annotation (none at all: written before owners were recorded). */
int dnsendpoint_is_ours(struct json_object *dnsep, const char *owner_id);
/* Canonical text of what matters in a DNSEndpoint (owner uid, label and
 * owner annotation, endpoints with every field), from either a built or
 * an observed object. */
char *dnsendpoint_canonical(struct json_object *dnsep);

#endif
