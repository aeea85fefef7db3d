/*
 * dnsname.h - the one DNS-name grammar of the daemons, with the few places
 * where names truly differ as options.
 *
 * The base grammar is RFC 1123 as Kubernetes spells it (DNS-1123): labels
 * of [a-z0-9-], 1 to 63 bytes, a letter or digit at both ends, joined by
 * single dots, at most 253 bytes in all. The options widen it:
 * - DNSNAME_UPPERCASE: A-Z too (DNS compares names without case; names
 *   other programs hand us, e.g. ExternalDNS targets, may carry capitals).
 * - DNSNAME_UNDERSCORE: '_' anywhere in a label (service labels such as
 *   _acme-challenge; names typed into portico-vault).
 * - DNSNAME_WILDCARD: "*." as the whole first label (Ingress hosts); the
 *   '*' anywhere else stays refused.
 * - DNSNAME_TRAILING_DOT: one final '.' (an absolute name); it does not
 *   count towards the 253 bytes.
 * - DNSNAME_ONE_LABEL: a single label, no dot (a DNS-1123 label:
 *   namespaces, Service names).
 *
 * Policy beyond grammar (an IP address as a host, a port, how many labels
 * a wildcard needs) is the caller's: see controller/validate.c.
 *
 * The nginx module keeps its own two checks, in nginx's style and types
 * (it is built by nginx's build and links nothing of lib/):
 * ngx_http_portico_route_check_domain (route-table hosts: this grammar's
 * characters, dots between labels) and ngx_http_upstream_resolve_check_name
 * (upstream names: any case and '_', as nginx's resolver takes them).
 * The controller writes only names that passed validate.c into the files
 * the module reads, so the module's checks are a second line.
 */
#ifndef PORTICO_DNSNAME_H
#define PORTICO_DNSNAME_H

#include <stddef.h>

#define DNSNAME_MAX         253     /* bytes, without a trailing dot */
#define DNSNAME_LABEL_MAX   63

enum dnsname_option {
    DNSNAME_UPPERCASE    = 1 << 0,
    DNSNAME_UNDERSCORE   = 1 << 1,
    DNSNAME_WILDCARD     = 1 << 2,
    DNSNAME_TRAILING_DOT = 1 << 3,
    DNSNAME_ONE_LABEL    = 1 << 4,
};

enum dnsname_result {
    DNSNAME_OK = 0,
    DNSNAME_EMPTY,
    DNSNAME_TOO_LONG,           /* more than DNSNAME_MAX bytes */
    DNSNAME_BAD_WILDCARD,       /* a '*' that is not the whole first label
                                   (or any '*' without DNSNAME_WILDCARD) */
    DNSNAME_BAD_LABEL,          /* an empty, too long or badly formed label,
                                   a character outside the grammar (NUL
                                   included), or a dot with ONE_LABEL */
};

/* Checks s[0..len) against the grammar with the given options (an OR of
 * enum dnsname_option). *labels (may be NULL) gets the number of labels,
 * not counting a wildcard. */
enum dnsname_result dnsname_check(const char *s, size_t len, unsigned options,
                                  size_t *labels);

/* The same on a NUL-terminated string: 1 if it is a valid name, else 0. */
int dnsname_valid(const char *s, unsigned options);

#endif
