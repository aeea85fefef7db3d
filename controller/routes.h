/*
 * routes.h - the model to the route table that nginx workers load
 * without a reload (format and matching: docs/routes.md).
 *
 * Deterministic: the same model gives the same bytes. Line 2 holds the
 * version, the first 16 hex digits of a SHA-256 over every other line, so
 * equal versions mean equal tables. Every line records the Ingress that
 * produced it (ownedtext.h), so an `nginx -t` error "in FILE:LINE" in the
 * table leaves that Ingress out, as for nginx.conf.
 *
 * Format 2: after the header lines, one `upstream NAME HOST:PORT` line per
 * upstream of the model (a Service port), sorted by name: the module makes
 * and removes them without a reload (docs/routes.md, "Table upstreams").
 * Sections: `host *` (rules without a host and the defaultBackend), then
 * one per host as sorted in the model. Rules in the model's order: exact
 * first, then the others longest path first, Prefix before
 * ImplementationSpecific on the same path; `default` when a
 * defaultBackend applies; `-` for a backend that cannot be resolved
 * (503); `@PROFILE` when the rule's Ingress set proxy options; then
 * `ingress=NS/NAME service=SVC`, where the rule comes from (the labels of
 * its request metrics, docs/metrics.md).
 *
 * Line 3, `config TOKEN`, names the nginx.conf the table was made for:
 * TOKEN (routes_config_token()) covers every name of nginx.conf a table
 * may refer to, the profiles (the upstreams are the table's own), and
 * render.c writes the same TOKEN into `portico_routes routes
 * config=TOKEN;`. A worker of the previous nginx.conf, still running
 * while a reload adds a profile, so keeps its table instead of refusing
 * the new one with an error.
 */
#ifndef PORTICO_CONTROLLER_ROUTES_H
#define PORTICO_CONTROLLER_ROUTES_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/ownedtext.h"
#include "controller/profiles.h"

#define ROUTES_FILE         "routes"    /* next to nginx.conf */
#define ROUTES_FORMAT       2
#define ROUTES_VERSION_LEN  16
#define ROUTES_CONFIG_LEN   16

struct routes_result {
    struct ownedtext t;
    char version[ROUTES_VERSION_LEN + 1];
    char config[ROUTES_CONFIG_LEN + 1];
};

/* The configuration token: the first ROUTES_CONFIG_LEN hex digits of a
 * SHA-256 over "profile NAME\n" for every profile, sorted by name as
 * profiles.h keeps them. Equal tokens: a table of one configuration names
 * nothing the other lacks. 0, or -1 (digest failure). */
int routes_config_token(const struct profiles *p,
                        char out[ROUTES_CONFIG_LEN + 1]);

/* 0, or -1 out of memory. https_port: the redirect target port. */
int routes_render(const struct model *m, const struct profiles *p,
                  int https_port, struct routes_result *out);
void routes_result_free(struct routes_result *r);

#endif
