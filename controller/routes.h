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
 *
 * Format 3 (routes_render_sharded() with N > 1, docs/routes.md "Format
 * 3"): the table is a head and N shards. The head has format 2's header
 * lines, `shards N`, and one `shard I NAME` per non-empty shard; shard I's
 * file, `routes.d/NAME` next to the head, starts with
 * `portico-routes-shard 1` and holds the host sections whose name as
 * written (`*.D` for a wildcard, `*` for the default section) has
 * crc32(name) mod N == I, and the upstream lines they use. NAME is the
 * first ROUTES_SHARD_NAME_LEN hex digits of a SHA-256 of the shard's
 * bytes: a shard's name is its content, so a worker keeps every shard a
 * new head names unchanged and reads only the others, and the head's
 * version (over its lines, shard names included) still changes exactly
 * when the content does.
 */
#ifndef PORTICO_CONTROLLER_ROUTES_H
#define PORTICO_CONTROLLER_ROUTES_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/ownedtext.h"
#include "controller/profiles.h"

#define ROUTES_FILE         "routes"    /* next to nginx.conf */
#define ROUTES_FORMAT       2
#define ROUTES_FORMAT_SHARDED 3
#define ROUTES_VERSION_LEN  16
#define ROUTES_CONFIG_LEN   16
#define ROUTES_SHARD_DIR    "routes.d"  /* next to the head: shard files */
#define ROUTES_SHARD_NAME_LEN 16
#define ROUTES_SHARDS_MAX   4096        /* the module's bound on N */

/* A non-empty shard of a format-3 table: its file's bytes are
 * shards_text's [from, from + len), its lines 1..nlines are shards_text's
 * lines first_line... */
struct routes_shard {
    size_t index;                       /* I, below the head's N */
    size_t from, len;
    size_t first_line, nlines;
    char name[ROUTES_SHARD_NAME_LEN + 1];
    int kept;           /* the render before's, not made again: no text
                           (from, nlines 0), its file is on disk */
};

struct routes_result {
    struct ownedtext t;     /* format 2: the table; format 3: the head */
    char version[ROUTES_VERSION_LEN + 1];
    char config[ROUTES_CONFIG_LEN + 1];
    size_t nshards;         /* format 3: the head's N; format 2: 0 */
    struct ownedtext shards_text;   /* format 3: every shard's file, in
                                       order of index */
    struct routes_shard *shards;    /* the non-empty ones, by index */
    size_t nused;
    size_t nkept;                   /* of them, kept (not made again) */
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

/* What a sharded render keeps for the next one: each shard's name, size
 * and number of sections, with the N, configuration token and https port
 * they were made with. */
struct routes_kept;

struct routes_kept *routes_kept_new(void);
void routes_kept_free(struct routes_kept *k);
/* The next render makes every shard anew: the model built before it is
 * not the one the kept shards come from (a build that was not rendered),
 * or a kept shard may be one nginx -t refused. */
void routes_kept_forget(struct routes_kept *k);

/* Is the file of shard NAME on disk, whole? */
typedef int (*routes_on_disk_fn)(void *ctx, const char *name);

/* The same in nshards shards (a power of two up to ROUTES_SHARDS_MAX):
 * format 3, or format 2 (routes_render()) when nshards is 1.
 *
 * kept (may be NULL) holds what the render of the model built before m
 * (with the same model cache) made, and gets this one's. A shard whose
 * sections are all `unchanged` servers (model.h), as many as that
 * render's shard had, under the same N, token and port, is that shard
 * again: it is not made (routes_shard.kept) if on_disk says its file is
 * there. */
int routes_render_sharded(const struct model *m, const struct profiles *p,
                          int https_port, size_t nshards,
                          struct routes_kept *kept, routes_on_disk_fn on_disk,
                          void *on_disk_ctx, struct routes_result *out);

/* N for hosts host sections, about hosts_per_shard in each (0: always
 * 1): the smallest power of two with at most hosts_per_shard hosts a
 * shard, but current (the N in use, 0 if none) as long as it is within
 * a factor of two of that, so that a host count near a bound does not
 * rewrite every shard back and forth. */
size_t routes_shard_count(size_t hosts, size_t hosts_per_shard,
                          size_t current);

/* The bytes of the head and every shard file. */
size_t routes_bytes(const struct routes_result *r);

/* The head naming only the shards with named[k] set (k: index in
 * r->shards): the table's check reads only the shards it names. Format
 * 3 only; 0, or -1 out of memory. */
int routes_head_subset(const struct routes_result *r,
                       const unsigned char *named, struct buf *out);

/* The Ingress that produced the table's line an `nginx -t` error points
 * at: line (1-based) of the table or head, or, when the module names a
 * shard's line ("shard I "PATH", line L: ..."), that line of shard I's
 * file. OWNER_NONE if none. */
size_t routes_error_owner(const struct routes_result *r,
                          const char *nginx_output, size_t line);

void routes_result_free(struct routes_result *r);

#endif
