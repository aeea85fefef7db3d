/*
 * profiles.h - the per-Ingress proxy options (portico.io/proxy-body-size
 * and the proxy timeouts) as named nginx locations.
 *
 * Routing happens in the route table (routes.h), so nginx.conf has no
 * location per rule; a rule whose Ingress set options names a profile
 * (`@portico_pHASH`), a named location every routing server has, holding
 * those options. A profile is one distinct option set among the served
 * Ingresses. Its name is a hash of its values, so adding or removing an
 * option set never renames the others. Every profile name enters the
 * configuration token (routes.h): a table naming a new profile is left
 * alone by the old workers of a reload. Its owner is the oldest Ingress
 * using it: an
 * `nginx -t` error on a profile line leaves that Ingress out, and the
 * next one with the same bad values after it.
 */
#ifndef PORTICO_CONTROLLER_PROFILES_H
#define PORTICO_CONTROLLER_PROFILES_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/ownedtext.h"

#define PROFILE_PREFIX    "portico_p"
#define PROFILE_NAME_MAX  48
#define PROFILE_NONE      ((size_t)-1)

struct profile {
    char name[PROFILE_NAME_MAX];    /* portico_p + 16 hex digits [+ _N] */
    size_t owner;                   /* oldest Ingress (index in m.ings) with
                                       these options: its values are used */
};

struct profiles {
    struct profile *list;           /* sorted by name */
    size_t n;
    size_t *of_ingress;             /* per m.ings index: index in list, or
                                       PROFILE_NONE */
};

/* 0, or -1 out of memory. */
int profiles_build(const struct model *m, struct profiles *p);
void profiles_free(struct profiles *p);

/* The profile name of Ingress i, or NULL when it set no options. */
const char *profiles_of(const struct profiles *p, size_t ingress);

/* The request headers every backend gets (nginx.conf's http level). A
 * location that sets one of them must repeat them all (proxy_set_header
 * there replaces the inherited list), so a profile overriding Host
 * (upstream-vhost), Connection or adding X-Forwarded-Prefix writes the
 * whole list with its values. NULL-terminated. */
struct proxy_header {
    const char *name;
    const char *value;          /* fixed nginx text, variables allowed */
    int always;                 /* set by every location that proxies,
                                   whatever its own list (gRPC backends,
                                   auth subrequests): the client
                                   certificate headers */
};
extern const struct proxy_header profiles_proxy_headers[];

/* The upstream profile i passes to, written to out: `shared` (the
 * portico_dispatch of every plain HTTP location) when it proxies plain
 * HTTP, else one of its own, `shared` + "_p" + the profile's hash, for its
 * keepalive cache: nginx's cache finds a connection by the peer's address
 * alone, so a TLS connection (made with this profile's verification
 * settings) or a gRPC one must never be handed to another kind of
 * location. 1 when it is its own (render.c writes its upstream block),
 * 0 when shared. */
#define PROFILE_DISPATCH_MAX  (PROFILE_NAME_MAX + 32)
int profiles_dispatch(const struct model *m, const struct profiles *p,
                      size_t i, const char *shared,
                      char out[PROFILE_DISPATCH_MAX]);

/* Appends the named location of profile i ("location @NAME { ... }" on
 * one line, owned by its oldest Ingress): the profile's directives, then
 * "portico_route;" and the pass to its dispatch upstream
 * (profiles_dispatch(); proxy_pass http:// or https://, grpc_pass grpc://
 * or grpcs:// by backend-protocol). */
void profiles_render_location(struct ownedtext *t, const struct model *m,
                              const struct profiles *p, size_t i,
                              const char *dispatch);

#endif
