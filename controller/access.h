/*
 * access.h - the access-control annotations of an Ingress (who may reach
 * its backends) rendered into nginx.conf, and the global settings they
 * depend on (the real client address behind a load balancer).
 *
 * The annotations are read and checked one by one by the annotation layer
 * (annotations.h: entries with ANN_EFFECT_ACCESS, each with a strict
 * grammar). Here they become directives of the Ingress's profile location
 * (profiles.h: a named location every routing server has, which the route
 * table sends the Ingress's requests to), so they apply to every rule of
 * the Ingress and to its defaultBackend:
 * - denylist-source-range: `deny ADDR;` per network;
 *   allowlist-source-range (whitelist-source-range): `allow ADDR;` per
 *   network, then `deny all;` (403). Denials are checked first, as in
 *   ingress-nginx. The address is the connection's, or the real client's
 *   when the global settings below trust a load balancer (nginx's realip
 *   module changes it before any access check).
 * - auth-type basic with auth-secret (NAME or NAMESPACE/NAME, the
 *   Ingress's namespace only), auth-secret-type (auth-file: the key
 *   "auth" holds an htpasswd file; auth-map: one key per user) and
 *   auth-realm: `auth_basic "REALM"; auth_basic_user_file FILE;`
 *   (authfiles.h writes FILE; a changed Secret is rewritten in place, no
 *   reload) and the Authorization header is not passed to the backend.
 *   auth-secret, auth-secret-type or auth-realm without auth-type refuse
 *   the Ingress (ingress-nginx serves it without authentication).
 * - auth-url (external authentication, nginx's auth_request): every
 *   request is first sent, without its body, to the URL (a subrequest to
 *   `location = /_portico_auth/PROFILE`, internal, in every routing
 *   server; proxy_pass through a variable, so the name is resolved at
 *   request time); 2xx admits it, 401/403 are the answer, anything else
 *   (the service down, slow past the Ingress's proxy timeouts, a 5xx) is
 *   500: never a bypass. auth-method, auth-request-redirect
 *   (X-Auth-Request-Redirect), auth-response-headers (copied from the
 *   auth answer to the backend request), auth-signin (401 becomes a 302
 *   to it with ?rd=URL; auth-signin-redirect-param renames rd),
 *   auth-always-set-cookie. auth-cache-key (variables that tell clients
 *   apart: validate.h) caches the auth service's answers in one shared
 *   zone (nginx's proxy_cache, under PREFIX/cache/auth, keys zone of
 *   --auth-cache-size), for the auth-cache-duration entries ("200 202
 *   401 5m" by default, as ingress-nginx); auth-cache-duration without
 *   the key refuses. Options without auth-url refuse the Ingress.
 * - limit-rps / limit-rpm (requests per second / minute per client
 *   address, with a burst of limit x limit-burst-multiplier, default 5,
 *   served without delay) and limit-connections (concurrent requests per
 *   client address): `limit_req` / `limit_conn` on zones of their own
 *   per Ingress (named after its profile, which then holds the
 *   Ingress's name: limits are never shared between Ingresses), each of
 *   --limit-zone-size; over the limit: 429. limit-allowlist
 *   (limit-whitelist): client networks never limited.
 * - enable-cors with cors-allow-origin, -methods, -headers, -credentials,
 *   -max-age, -expose-headers (ingress-nginx's defaults): maps at http
 *   level give the allowed Origin and each header's value (empty for an
 *   origin not allowed, so add_header leaves it out); the profile adds
 *   them to every answer, hides the backend's, and answers a preflight
 *   (OPTIONS from an allowed origin) 204 itself.
 *
 * Every value reaching nginx.conf is re-written from its parsed form
 * (addresses in canonical text) and quoted.
 */
#ifndef PORTICO_CONTROLLER_ACCESS_H
#define PORTICO_CONTROLLER_ACCESS_H

#include <stddef.h>

#include "buf.h"
#include "controller/model.h"
#include "controller/ownedtext.h"
#include "controller/profiles.h"

#define ACCESS_HEADER_NAME_MAX  64
#define ACCESS_AUTH_LOCATION    "/_portico_auth/"   /* + profile name */
#define ACCESS_LIMIT_STATUS     429     /* ingress-nginx: 503 */
#define ACCESS_BURST_MULTIPLIER 5       /* ingress-nginx's default */
#define ACCESS_LIMIT_ZONE_SIZE  "5m"    /* ingress-nginx's size */
/* The auth cache: ingress-nginx's sizes and default lifetimes. */
#define ACCESS_AUTH_CACHE_ZONE      "portico_auth"
#define ACCESS_AUTH_CACHE_DIR       "cache/auth"    /* under the prefix */
#define ACCESS_AUTH_CACHE_SIZE      "10m"   /* keys: about 80k answers */
#define ACCESS_AUTH_CACHE_MAX       "128m"  /* files */
#define ACCESS_AUTH_CACHE_INACTIVE  "30m"
#define ACCESS_AUTH_CACHE_DURATION  "200 202 401 5m"

/* Global settings (controller flags), off by default: the address of the
 * connection is the client's. */
struct access_globals {
    const char *real_ip_header;     /* NULL: off; "proxy_protocol" or a
                                       header name (X-Forwarded-For) */
    const char *real_ip_from;       /* canonical address list (validate.h
                                       cidr_list_canonical): the proxies
                                       trusted to tell the client address */
    int proxy_protocol;             /* listeners expect the PROXY protocol */
    const char *limit_zone_size;    /* of each limit zone: "5m" */
    const char *auth_cache_size;    /* keys zone of the auth cache: "10m" */
};

/* The Secret name of a validated reference (NAME or NAMESPACE/NAME) made
 * by mi's annotation `what`: a pointer into ref, or NULL with the reason
 * when it names another namespace (always refused). */
const char *access_secret_name(const struct model_ingress *mi,
                               const char *ref, const char *what, char *err,
                               size_t errlen);

/* Checks the access annotations of mi together (what one annotation
 * cannot say alone) and resolves what they refer to: the password file
 * of auth-secret through auth->htpasswd (when set; NULL in lint mode:
 * only checked). 0, or -1 with the reason. */
int access_resolve(struct model_ingress *mi, const struct model_auth *auth,
                   char *err, size_t errlen);

/* Appends what, besides its annotation values, makes mi's access control
 * differ from another Ingress's with the same values (the password file:
 * the same auth-secret in another namespace is another Secret), one
 * "NAME VALUE\n" line each, for its profile's key (profiles.h). */
void access_profile_key(const struct model_ingress *mi, struct buf *key);

/* The directives of the profile location of mi (the profile's owner),
 * named profile. */
void access_render_location(struct ownedtext *t, size_t owner,
                            const struct model_ingress *mi,
                            const char *profile);

/* The request headers of mi's profile location beyond the http level's
 * list, one "SET NAME VALUE;" each, SET being " proxy_set_header" or
 * " grpc_set_header" ("" when none: nginx inherits the http level's list
 * only into a location that sets none, so the caller, profiles.c,
 * repeats that list when this is not empty). */
void access_proxy_headers(const struct model_ingress *mi, const char *set,
                          const char *profile, struct buf *out);

/* The locations every routing server needs for the profiles (after the
 * profile locations): "location = /_portico_auth/PROFILE" (internal: the
 * auth-url subrequest) and "location @PROFILE_signin" (auth-signin). */
void access_render_server(struct ownedtext *t, const struct model *m,
                          const struct profiles *p);

/* http-level directives: the real client address. */
void access_render_http(struct ownedtext *t, const struct access_globals *g);

/* http-level directives of the profiles: the auth cache when a profile
 * uses it (under prefix), the limit zones (and the key that exempts
 * limit-allowlist), owned by each profile's owner. */
void access_render_zones(struct ownedtext *t, const struct model *m,
                         const struct profiles *p,
                         const struct access_globals *g, const char *prefix);

/* 1 when mi's external authentication caches answers. */
int access_uses_auth_cache(const struct model_ingress *mi);

/* Checks a header name given to a flag: 1-64 of [A-Za-z0-9-]. 0, or -1
 * with a reason. */
int access_check_header_name(const char *name, char *err, size_t errlen);

#endif
