/*
 * validate.h - strict grammars for every string that travels from a
 * Kubernetes resource into nginx.conf, and the quoting used when it is
 * rendered.
 *
 * Two layers, both always applied: a value must match its grammar (so an
 * Ingress carrying an injection attempt is rejected with a clear reason
 * before anything is rendered), and render.c still quotes every value
 * with cfg_quote(). NUL bytes cannot pass: every check receives the json
 * string's length and refuses embedded NULs.
 *
 * Every function returns 0 when the value is acceptable, or -1 with a
 * one-line human reason in err (never echoing control characters).
 */
#ifndef PORTICO_CONTROLLER_VALIDATE_H
#define PORTICO_CONTROLLER_VALIDATE_H

#include <stddef.h>

#include "buf.h"

#define VALIDATE_HOST_MAX        253
#define VALIDATE_LABEL_MAX       63
#define VALIDATE_SUBDOMAIN_MAX   253
#define VALIDATE_PATH_MAX        1024
#define VALIDATE_PORT_NAME_MAX   15

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 (namespaces,
 * Service names). */
int validate_dns_label(const char *s, size_t len, char *err, size_t errlen);
/* DNS-1123 subdomain: labels joined by '.', at most 253 (object names,
 * Secret names). */
int validate_dns_subdomain(const char *s, size_t len, char *err,
                           size_t errlen);
/* Ingress rule host: an RFC 1123 hostname in lowercase, optionally with
 * "*." as the whole first label, at least two labels after a wildcard, not
 * an IP address, no port, no trailing dot. */
int validate_host(const char *s, size_t len, char *err, size_t errlen);
/* An external name (ExternalName Service): hostname rules, no wildcard,
 * an optional trailing dot. */
int validate_external_name(const char *s, size_t len, char *err,
                           size_t errlen);
/* Ingress path: starts with '/', at most VALIDATE_PATH_MAX bytes, only
 * [A-Za-z0-9] and -._~/!*'()+,:@=&, no "//", no "." or ".." segment (nginx
 * normalises those away, so such a location could never match). */
int validate_path(const char *s, size_t len, char *err, size_t errlen);
/* Service port name (IANA_SVC_NAME): [a-z0-9-], at most 15, a letter,
 * no leading/trailing or double '-'. */
int validate_port_name(const char *s, size_t len, char *err, size_t errlen);
/* portico.io/proxy-body-size: 1-12 digits with an optional k, m or g. */
int validate_size(const char *s, size_t len, char *err, size_t errlen);
/* portico.io/proxy-*-timeout: 1-6 digits with an optional s, m or h. */
int validate_timeout(const char *s, size_t len, char *err, size_t errlen);

/* ---- access-control annotations (controller/access.c) ---------------- */

#define VALIDATE_CIDR_TEXT_MAX   64     /* one canonical "addr/len" */
#define VALIDATE_REALM_MAX       128

/* A list of IPv4/IPv6 addresses or networks separated by ',' (spaces
 * around an item allowed), at least one: "10.0.0.0/8, 2001:db8::/32,
 * 192.0.2.7". Only hexadecimal digits, '.', ':', '/', ',' and ' '. */
int validate_cidr_list(const char *s, size_t len, char *err, size_t errlen);
/* The list in canonical form, one "addr/len" per item separated by one
 * space, the host bits cleared ("10.1.2.3/8" -> "10.0.0.0/8", "::1" ->
 * "::1/128"), in the order given. 0, or -1 with a reason (as above). */
int cidr_list_canonical(const char *s, size_t len, struct buf *out,
                        char *err, size_t errlen);
/* auth-realm: 1-128 of [A-Za-z0-9] and " _.,:/()-" (shown by browsers in
 * the login prompt; rendered quoted). */
int validate_realm(const char *s, size_t len, char *err, size_t errlen);
/* auth-type: "basic" ("digest" is refused: Debian's nginx has no digest
 * module). */
int validate_auth_type(const char *s, size_t len, char *err, size_t errlen);
/* auth-secret: NAME or NAMESPACE/NAME (a DNS-1123 label, a subdomain). */
int validate_secret_ref(const char *s, size_t len, char *err, size_t errlen);
/* auth-secret-type: "auth-file" or "auth-map". */
int validate_auth_secret_type(const char *s, size_t len, char *err,
                              size_t errlen);
/* limit-*: a count, 1-6 digits (0 turns the limit off). */
int validate_count(const char *s, size_t len, char *err, size_t errlen);

/* A printable rendition of s for log lines: non-printable bytes, quotes
 * and backslashes as \xNN, cut after 64 bytes with "...". */
void validate_printable(const char *s, char *out, size_t outlen);

/* Appends s to out as an nginx double-quoted string: '"' and '\\' are
 * backslash-escaped, '$' is never produced unescaped (callers only pass
 * validated values, this is the second layer). */
void cfg_quote(struct buf *out, const char *s);

#endif
