/*
 * upstream.h - the upstream servers of one worker: one c-ares channel per
 * upstream (two when it needs queries without EDNS), driven from our event
 * loop (ARES_OPT_SOCK_STATE_CB, ares_process_fd, ares_timeout), plus what
 * c-ares 1.18 lacks:
 *
 * - health: consecutive failures and a smoothed RTT per upstream; the order
 *   for a new query is fewest failures first, then lowest RTT. An upstream
 *   with max_fails consecutive failures is "down" (logged once per change);
 *   failing upstreams are probed in the background every probe interval;
 * - the per-try timeout: a query not answered within --upstream-timeout
 *   (or 4 x the upstream's RTT when longer) is reported slow, so the
 *   caller can also ask another upstream, and stays open until --timeout;
 * - the EDNS fallback (as unbound does): an EDNS query answered FORMERR or
 *   NOTIMP is asked again without EDNS on the same upstream, and an
 *   upstream whose plain query then gets a real answer is asked without
 *   EDNS for --no-edns-ttl (policy in edns.c);
 * - sockets renewed (a fresh channel, so a fresh source port) after a
 *   timeout and every renew interval; the old channel drains;
 * - answers checked against the question and compiled into our canonical
 *   form (dns_response_compile) before the caller sees them.
 *
 * The caller (the resolver) sees upstreams through struct upstream_iface,
 * which a test can script without sockets.
 */
#ifndef PORTICO_DNSCACHE_UPSTREAM_H
#define PORTICO_DNSCACHE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dnswire.h"
#include "evloop.h"
#include "metrics.h"

enum upq_status {
    UPQ_ANSWER,     /* an answer (any rcode but SERVFAIL and REFUSED) */
    UPQ_SLOW,       /* none within the per-try timeout; still open */
    UPQ_FAILED,     /* none will come: timeout at --timeout, SERVFAIL,
                       REFUSED, refused connection, malformed answer */
};

/* An answer in our canonical form (see dns_response_compile). */
struct upq_answer {
    const struct dns_compiled *c;
    const uint8_t *image;
    size_t len;
};

struct upq;

/* How a query ends: UPQ_SLOW at most once, then UPQ_ANSWER (a, valid only
 * during the call) or UPQ_FAILED (a NULL) exactly once; never after the
 * query was cancelled. Called from the event loop. */
typedef void (*upq_cb)(void *arg, struct upq *q, enum upq_status st,
                       const struct upq_answer *a);

/* Upstreams as the resolver uses them. */
struct upstream_iface {
    /* Fills idx with upstream indices, healthiest first; returns the
     * count (at most cap). */
    size_t (*order)(void *impl, size_t *idx, size_t cap);
    /* Asks upstream i the question. Returns the query, or NULL if it
     * failed at once (cb is not called then). */
    struct upq *(*send)(void *impl, size_t i,
                        const struct dns_question *question, upq_cb cb,
                        void *arg);
    /* The caller no longer wants q's result: cb will not be called. The
     * upstream's health still learns how q ends. */
    void (*cancel)(void *impl, struct upq *q);
    void *impl;
};

struct upstream_set;

struct upstream_set *upstream_set_new(struct evloop *loop,
                                      const struct config *cfg,
                                      struct worker_metrics *m, int worker_id);
/* Destroys every channel; queries still open end without a callback. */
void upstream_set_free(struct upstream_set *s);
/* The set as the resolver sees it. */
struct upstream_iface upstream_iface(struct upstream_set *s);

#endif
