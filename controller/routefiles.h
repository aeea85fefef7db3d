/*
 * routefiles.h - the shard files of a format-3 route table on disk
 * (routes.h, docs/routes.md "Format 3").
 *
 * A shard's file is ROUTES_SHARD_DIR/NAME next to the live head, NAME
 * being its content's digest: it is written once (to a temporary name,
 * then renamed, so a crash never leaves a partial file under a good
 * name), never rewritten, and removed when the head nginx serves no
 * longer names it. The candidate folder's ROUTES_SHARD_DIR is a symbolic
 * link to the live one, so a candidate head (and `nginx -t` of it) finds
 * the same files.
 *
 * The shards of the installed head passed a check with it; a new head
 * with the same shard count needs only its other shards checked.
 */
#ifndef PORTICO_CONTROLLER_ROUTEFILES_H
#define PORTICO_CONTROLLER_ROUTEFILES_H

#include <stddef.h>

#include "controller/routes.h"

struct routefiles;

/* Makes the live shard folder next to routes_path and the link to it
 * next to candidate_routes. NULL with a message in err. */
struct routefiles *routefiles_new(const char *routes_path,
                                  const char *candidate_routes, char *err,
                                  size_t errlen);
void routefiles_free(struct routefiles *f);

/* Is shard NAME's file one this process wrote, still there? (A
 * routes_on_disk_fn: ctx is f.) */
int routefiles_has(void *f, const char *name);

/* Writes every shard of r that is not on disk yet (a kept shard is). check[k] (r->nused
 * entries) tells whether r->shards[k] must be checked: it is not one of
 * the installed head's. Returns how many must be, or -1 (logged). */
long routefiles_write(struct routefiles *f, const struct routes_result *r,
                      unsigned char *check);

/* r was installed (renamed over the live head): its shards are checked.
 * 0, or -1 out of memory (then every shard is checked next time). */
int routefiles_installed(struct routefiles *f, const struct routes_result *r);

/* Every worker uses the installed head: removes the shard files it does
 * not name (and leftover temporary files). Returns how many went. */
size_t routefiles_collect(struct routefiles *f);

#endif
