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
 * Sections: `host *` (rules without a host and the defaultBackend), then
 * one per host as sorted in the model. Rules in the model's order: exact
 * first, then the others longest path first, Prefix before
 * ImplementationSpecific on the same path; `default` when a
 * defaultBackend applies; `-` for a backend that cannot be resolved
 * (503); `@PROFILE` when the rule's Ingress set proxy options.
 */
#ifndef PORTICO_CONTROLLER_ROUTES_H
#define PORTICO_CONTROLLER_ROUTES_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/ownedtext.h"
#include "controller/profiles.h"

#define ROUTES_FILE         "routes"    /* next to nginx.conf */
#define ROUTES_FORMAT       1
#define ROUTES_VERSION_LEN  16

struct routes_result {
    struct ownedtext t;
    char version[ROUTES_VERSION_LEN + 1];
};

/* 0, or -1 out of memory. https_port: the redirect target port. */
int routes_render(const struct model *m, const struct profiles *p,
                  int https_port, struct routes_result *out);
void routes_result_free(struct routes_result *r);

#endif
