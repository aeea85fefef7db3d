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
/* Annotation values (the ingress-nginx annotations Portico renders). */
/* "on" or "off". */
int validate_on_off(const char *s, size_t len, char *err, size_t errlen);
/* A boolean as ingress-nginx reads them (Go's strconv.ParseBool: true,
 * True, TRUE, t, T, 1 and the false ones). validate_bool_value: 1, 0, or
 * -1 when it is not one. */
int validate_bool(const char *s, size_t len, char *err, size_t errlen);
int validate_bool_value(const char *s, size_t len);
/* nginx buffer sizes (ngx_parse_size): 1-12 digits, optional k or m. */
int validate_buffer_size(const char *s, size_t len, char *err,
                         size_t errlen);
/* validate_count (above): 1-6 digits. */
/* custom-http-errors: HTTP codes 400-599 separated by ',' ("404,503"), no
 * spaces, each once. */
#define VALIDATE_ERROR_CODE_MIN  400
#define VALIDATE_ERROR_CODE_MAX  599
int validate_http_error_codes(const char *s, size_t len, char *err,
                              size_t errlen);
/* "1.0" or "1.1". */
int validate_http_version(const char *s, size_t len, char *err,
                          size_t errlen);
/* proxy_next_upstream: "off", or its conditions separated by single
 * spaces. */
int validate_next_upstream(const char *s, size_t len, char *err,
                           size_t errlen);
/* A Host header value: a host name (any case) with an optional :PORT. */
int validate_vhost(const char *s, size_t len, char *err, size_t errlen);
/* A header value that is one token: 1-63 of [A-Za-z0-9-]. */
int validate_header_value_token(const char *s, size_t len, char *err,
                                size_t errlen);
/* proxy_cookie_domain / _path: "off" or "FROM TO" (URL characters). */
int validate_cookie_rewrite(const char *s, size_t len, char *err,
                            size_t errlen);
/* One proxy_redirect argument: URL characters, no '$' or space. */
int validate_redirect_arg(const char *s, size_t len, char *err,
                          size_t errlen);
/* HTTP, HTTPS, GRPC or GRPCS (either case). */
int validate_backend_protocol(const char *s, size_t len, char *err,
                              size_t errlen);
/* TLS protocol names separated by single spaces. */
int validate_ssl_protocols(const char *s, size_t len, char *err,
                           size_t errlen);
/* An OpenSSL cipher list. */
int validate_ssl_ciphers(const char *s, size_t len, char *err,
                         size_t errlen);
/* 1-2 digits. */
int validate_verify_depth(const char *s, size_t len, char *err,
                          size_t errlen);
/* permanent-/temporal-redirect: http:// or https:// and URL characters
 * (ingress-nginx's URLIsValidRegex: no variables, no '%'). */
int validate_redirect_url(const char *s, size_t len, char *err,
                          size_t errlen);
/* rewrite-target: "/" first, letters, digits and -._~/: (ingress-nginx's
 * RegexPathWithCapture with the "/" required) and $1-$9 (a capture of
 * the path's regex; "$" takes one digit, as in nginx's rewrite), at most
 * VALIDATE_PATH_MAX. */
int validate_rewrite_target(const char *s, size_t len, char *err,
                            size_t errlen);
/* The path of a regex rule (use-regex, rewrite-target): "/" first, at
 * most VALIDATE_PATH_MAX, validate_path's characters and the regex ones
 * ^$[]{}?|\%; no segment rules (it is a pattern). regex.h compiles it. */
int validate_regex_path(const char *s, size_t len, char *err,
                        size_t errlen);
/* A redirect status: 300-308. */
int validate_redirect_code(const char *s, size_t len, char *err,
                           size_t errlen);
/* server-alias: Ingress hosts (validate_host) separated by ',' (spaces
 * around them allowed), at most 16. */
int validate_host_list(const char *s, size_t len, char *err, size_t errlen);
/* A host name (any case), for TLS names. */
int validate_server_name(const char *s, size_t len, char *err,
                         size_t errlen);

/* cors-allow-origin: "*", or origins separated by ',' (spaces around an
 * item allowed): http:// or https://, a lowercase host name whose first
 * label may be "*" (one label), an optional :PORT. */
int validate_cors_origins(const char *s, size_t len, char *err,
                          size_t errlen);
/* cors-allow-methods: method names [A-Za-z] (1-20) separated by ','. */
int validate_method_list(const char *s, size_t len, char *err, size_t errlen);
/* cors-allow-headers, cors-expose-headers: "*", or header names
 * [A-Za-z0-9_-] (1-64) separated by ','. */
int validate_header_list(const char *s, size_t len, char *err, size_t errlen);
/* auth-url, auth-signin: validate_redirect_url with a host (a name or
 * an IPv4 address, an optional :PORT) before the path; the nginx
 * variables $host, $http_host, $scheme, $request_uri and
 * $escaped_request_uri may stand anywhere for URL text (ingress-nginx's
 * oauth2-proxy examples), no other '$'. */
int validate_auth_url(const char *s, size_t len, char *err, size_t errlen);
/* The length of the allowed variable at s ("$host", ...), or 0. */
size_t validate_auth_url_var(const char *s, size_t len);
/* auth-cache-key: 1-256 of letters, digits, -_.:/|,=@ and variables:
 * those of auth-url and, of which it must hold at least one (else one
 * client's answer would be every client's), those that tell clients
 * apart: $remote_user, $remote_addr, $binary_remote_addr, $http_NAME
 * (lowercase, not $http_host), $cookie_NAME. */
#define VALIDATE_AUTH_CACHE_KEY_MAX  256
int validate_auth_cache_key(const char *s, size_t len, char *err,
                            size_t errlen);
/* The length of the allowed variable at s, or 0; *client is 1 when it
 * tells clients apart. */
size_t validate_auth_cache_key_var(const char *s, size_t len, int *client);
/* auth-cache-duration: ingress-nginx's "200 202 401 5m": entries
 * "[CODE...] TIME" separated by ',' (at most 8; up to 16 codes 100-599;
 * TIME 1-6 digits, not 0, with s, m, h or d), each one proxy_cache_valid
 * line. */
#define VALIDATE_AUTH_CACHE_ENTRIES_MAX  8
#define VALIDATE_AUTH_CACHE_CODES_MAX    16
int validate_auth_cache_duration(const char *s, size_t len, char *err,
                                 size_t errlen);
/* auth-method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS. */
int validate_auth_method(const char *s, size_t len, char *err,
                         size_t errlen);
/* auth-request-redirect: a path or URL without variables: letters,
 * digits and -._~/:,?&=, 1-1024. */
int validate_auth_redirect(const char *s, size_t len, char *err,
                           size_t errlen);
/* auth-signin-redirect-param: a query parameter name [A-Za-z0-9_-],
 * 1-64. */
int validate_param_name(const char *s, size_t len, char *err,
                        size_t errlen);
/* auth-response-headers: header names (no "*") separated by ','. */
int validate_header_names(const char *s, size_t len, char *err,
                          size_t errlen);
/* canary-by-header: one header name, 1-64 of [A-Za-z0-9_-]. */
int validate_header_name(const char *s, size_t len, char *err, size_t errlen);
/* canary-by-cookie: a cookie name, 1-64 of [A-Za-z0-9_-]. */
int validate_cookie_name(const char *s, size_t len, char *err, size_t errlen);
/* canary-by-header-value and -pattern: one word of the route table,
 * 1-VALIDATE_WORD_MAX visible ASCII characters (0x21-0x7e), no space. */
#define VALIDATE_WORD_MAX 1024
int validate_word(const char *s, size_t len, char *err, size_t errlen);
/* cors-max-age: seconds, 1-9 digits. */
int validate_seconds(const char *s, size_t len, char *err, size_t errlen);

/* Session affinity: affinity "cookie" (the only type), affinity-mode
 * balanced or persistent, affinity-canary-behavior sticky or legacy,
 * session-cookie-samesite None, Lax or Strict (as ingress-nginx, case
 * sensitive), session-cookie-domain a domain with an optional leading
 * dot. */
int validate_affinity(const char *s, size_t len, char *err, size_t errlen);
int validate_affinity_mode(const char *s, size_t len, char *err,
                           size_t errlen);
int validate_affinity_canary_behavior(const char *s, size_t len, char *err,
                                      size_t errlen);
int validate_samesite(const char *s, size_t len, char *err, size_t errlen);
int validate_cookie_domain(const char *s, size_t len, char *err,
                           size_t errlen);

/* auth-tls-verify-client: on, off, optional or optional_no_ca (nginx's
 * ssl_verify_client). */
int validate_verify_client(const char *s, size_t len, char *err,
                           size_t errlen);
/* auth-tls-match-cn: a PCRE2 regex (as nginx's "!~") of 1-1024 bytes
 * without control characters that names "CN=" (ingress-nginx ignores a
 * value without it), compiled here so that the certificate table never
 * carries a regex the module refuses. */
#define VALIDATE_MATCH_CN_MAX    1024
int validate_match_cn(const char *s, size_t len, char *err, size_t errlen);

/* A printable rendition of s for log lines: non-printable bytes, quotes
 * and backslashes as \xNN, cut after 64 bytes with "...". */
void validate_printable(const char *s, char *out, size_t outlen);

/* Appends s to out as an nginx double-quoted string: '"' and '\\' are
 * backslash-escaped, '$' is never produced unescaped (callers only pass
 * validated values, this is the second layer). */
void cfg_quote(struct buf *out, const char *s);

#endif
