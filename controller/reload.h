/*
 * reload.h - keeps nginx serving what the store says.
 *
 * A store change after a quiet spell (no change for DEBOUNCE) is built
 * after a short settle (RELOAD_SETTLE_MS); a change within DEBOUNCE of the
 * previous one is part of a burst: the timer waits for DEBOUNCE of quiet,
 * at most MAX_WAIT after the first change. Then:
 * build the model, render nginx.conf, the route table (routes.h) and the
 * certificate table (certtable.h); if all equal what nginx serves, stop
 * there. Otherwise write them into the candidate folder (nginx.conf there
 * is byte-identical to the live one it would become and loads its own
 * candidate tables), `nginx -t` it; when only the route table changed,
 * write the table and RELOAD_CHECK_FILE next to it instead
 * (render_check_config: the same references for the table, without TLS,
 * metrics and the other tables) and `nginx -t` that: the module's own
 * parser checks the table (a check that fails outside the table is
 * followed by `nginx -t` of the whole candidate). On failure map the
 * error line, in
 * whichever file, back to the Ingress that produced it, leave that Ingress
 * out (until it changes) and try again, so one bad resource cannot block
 * the others; an error in shared config keeps the running config. On
 * success:
 * - only tables changed (routes, or certificates added, rotated or
 *   removed): rename each changed candidate table over the live one
 *   (atomic); the workers load it within their poll interval, no reload;
 *   poll /routes-version and /certificates-version until every worker
 *   uses the new versions;
 * - nginx.conf changed: rename the tables, then nginx.conf, start nginx or
 *   SIGHUP it, and poll /config-version until the new workers answer with
 *   the new hash, no old worker accepts connections any more and every
 *   worker uses the new tables.
 * Only then is the change "served" (metrics, readiness, status
 * publishing). A change nginx has not served within the confirmation
 * timeout counts as unconfirmed, but the reloader keeps asking until it
 * is served (late: it then counts as served, e.g. a first config of 100k
 * Ingresses that nginx takes long to load) or another change arrives.
 *
 * nginx dying is noticed through SIGCHLD or the master's pidfd
 * (nginx_reap); the reloader restarts it on the last good config with a
 * backoff (or, when another process runs nginx, adopts the next master).
 * A master that ran before the reloader was made (a restarted controller)
 * is adopted: what it serves is read from the status port, and a render
 * equal to it is confirmed without a reload.
 */
#ifndef PORTICO_CONTROLLER_RELOAD_H
#define PORTICO_CONTROLLER_RELOAD_H

#include "evloop.h"
#include "controller/metrics.h"
#include "controller/model.h"
#include "controller/nginx.h"
#include "controller/render.h"
#include "controller/store.h"
#include "controller/tlsfiles.h"

#define RELOAD_AUTH_DIR            "auth"  /* under the prefix: password
                                              files (authfiles.h) */
#define RELOAD_CHECK_FILE          "check.conf"     /* next to the candidate
                                                       table */
#define RELOAD_DEBOUNCE_MS         100
/* a change after a quiet spell is built this soon (objects written
 * together, as a Service and its Ingress, arrive within it) */
#define RELOAD_SETTLE_MS           20
/* memory freed by the builds goes back to the system once changes have
 * stopped for this long */
#define RELOAD_TRIM_IDLE_MS        2000
#define RELOAD_WARM_SHARDS         16     /* shards made anew that make an
                                             idle spell build once more */
#define RELOAD_MAX_WAIT_MS         1000
#define RELOAD_CONFIRM_TIMEOUT_MS  30000
#define RELOAD_CONFIRM_POLL_MS     10
/* after the timeout, the change is counted unconfirmed but nginx is still
 * asked (less often) until it serves it or another change comes */
#define RELOAD_LATE_POLL_MS        250
/* a table's new upstreams have their first answers within this long (the
 * module's wait for a first answer, 2 s, and a margin), or they count as
 * unresolved (503) */
#define RELOAD_UPSTREAMS_WAIT_MS   2500
#define RELOAD_MAX_EXCLUSIONS      16     /* per attempt */
#define RELOAD_ROUTE_SHARD_HOSTS   512    /* hosts a route table shard */
#define RELOAD_RESTART_MIN_MS      200
#define RELOAD_RESTART_MAX_MS      10000

struct reloader_config {
    struct render_opts render;
    struct model_opts model;        /* tls and excluded are set inside */
    const char *conf_path;          /* live nginx.conf */
    const char *routes_path;        /* live table, next to it (ROUTES_FILE) */
    const char *certs_path;         /* live certificate table, next to it
                                       (CERTTABLE_FILE) */
    const char *candidate_conf;     /* in the candidate folder, on the same */
    const char *candidate_routes;   /* filesystem (rename is atomic) */
    const char *candidate_certs;
    int debounce_ms;
    int max_wait_ms;
    int confirm_timeout_ms;
    size_t route_shard_hosts;       /* about this many hosts a shard of
                                       the route table (routes_shard_count);
                                       0: one file */
};

struct reloader_hooks {
    /* After a confirmed reload or table swap: the model nginx now serves. */
    void (*served)(void *arg, const struct model *m);
    /* An Ingress newly rejected or excluded (or with a new reason). */
    void (*problem)(void *arg, const struct model_ingress *mi);
    /* A served Ingress routes to an upstream that does not resolve (its
     * paths answer 503): once per upstream and reason while it lasts. */
    void (*unresolved)(void *arg, const struct model_ingress *mi,
                       const char *message);
    /* A served Ingress with annotations that are not applied (unknown,
     * ignored, unenforced): mi->notice, new or changed. */
    void (*notice)(void *arg, const struct model_ingress *mi);
    /* The hosts the Vault pipeline must provide (sorted). */
    void (*vault_hosts)(void *arg, char *const *hosts, size_t n);
    /* An ssl: "true" Ingress changed: re-read its certificates now rather
     * than at the next periodic refresh. */
    void (*vault_refresh)(void *arg);
    void *arg;
};

struct reloader;

struct reloader *reloader_new(struct evloop *loop, struct store *store,
                              struct nginx *nginx, struct tlsfiles *tls,
                              struct metrics *metrics,
                              const struct reloader_config *cfg,
                              const struct reloader_hooks *hooks);
void reloader_free(struct reloader *r);

/* Something changed (store, certificates): reconcile after the debounce. */
void reloader_kick(struct reloader *r);
/* Call on SIGCHLD. */
void reloader_on_sigchld(struct reloader *r);
/* The controller is stopping: no more reloads or restarts. */
void reloader_shutdown_begin(struct reloader *r);

#endif
