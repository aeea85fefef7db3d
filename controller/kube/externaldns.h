/*
 * externaldns.h - what ExternalDNS's ingress source makes of an Ingress,
 * so that the DNSEndpoint Portico writes for it (read by ExternalDNS's crd
 * source) holds the same records: hostnames, targets, TTL, set
 * identifier and provider-specific properties from the Ingress's hosts,
 * its published status and the ExternalDNS annotations under one prefix.
 * Pure functions (unit-tested).
 *
 * Followed: kubernetes-sigs/external-dns v0.22.0, source/ingress.go
 * (endpointsFromIngress L230-290, targetsFromIngressStatus L295-308),
 * source/annotations/annotations.go (the keys, L20-73),
 * source/annotations/processors.go (TTLFromAnnotations L38-54, parseTTL
 * L81-92, TargetsFromTargetAnnotation L110-123, SplitHostnameAnnotation
 * L139-141), source/annotations/provider_specific.go (L23-104),
 * endpoint/utils.go (SuitableType L37-46, EndpointsForHostname L76-100,
 * MergeEndpoints L153-200), endpoint/endpoint.go (NewEndpointWithTTL
 * L292-320).
 */
#ifndef PORTICO_KUBE_EXTERNALDNS_H
#define PORTICO_KUBE_EXTERNALDNS_H

#include <json-c/json.h>
#include <stddef.h>

/* The prefix ExternalDNS reads by default from v0.22.0 on; up to v0.21
 * it was the alpha one. ExternalDNS reads exactly one prefix (its
 * --annotation-prefix); so does Portico (--externaldns-annotation-prefix). */
#define EXTERNALDNS_PREFIX_DEFAULT "external-dns.kubernetes.io/"
#define EXTERNALDNS_PREFIX_ALPHA "external-dns.alpha.kubernetes.io/"
/* The value of <prefix>controller that keeps an Ingress (any other value
 * makes ExternalDNS skip it). */
#define EXTERNALDNS_CONTROLLER_VALUE "dns-controller"

/* ExternalDNS's rule for --annotation-prefix: not empty, ends in '/'. */
int externaldns_prefix_valid(const char *prefix);

/* The Ingress's annotations under prefix, the prefix taken off
 * ({"ttl": "300", "hostname": "a.example.com"}); NULL when it has none.
 * A new reference. */
struct json_object *externaldns_annotations_of(struct json_object *ingress,
                                               const char *prefix);

/* <prefix>ttl: integer seconds or a Go duration (whole seconds), in
 * [1, 2^31-1]; anything else is 0 (ignored, as ExternalDNS does). */
long externaldns_parse_ttl(const char *value);

/* The spec.endpoints ExternalDNS's ingress source would produce for one
 * Ingress (after its MergeEndpoints: targets sorted, each once):
 * hosts: the Ingress's rule and TLS hosts; ann: externaldns_annotations_of
 * (or NULL); prefix: names Cloudflare's properties, which keep the whole
 * annotation key; targets: the published DNS targets (lb_dns_targets),
 * used unless <prefix>target is set.
 * Returns a new array (empty when nothing is published), or NULL when
 * ExternalDNS skips the Ingress (<prefix>controller is not
 * "dns-controller"). Hostnames or targets that are not DNS names or IPs
 * are left out (ExternalDNS would hand them to the DNS provider) and
 * added to skipped (a json array, or NULL). */
struct json_object *externaldns_endpoints(const char *const *hosts,
                                          size_t nhosts,
                                          struct json_object *ann,
                                          const char *prefix,
                                          const char *const *targets,
                                          size_t ntargets,
                                          struct json_object *skipped);

#endif
