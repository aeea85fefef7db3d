/*
 * upstream.h - the upstream servers of one worker: one c-ares channel per
 * upstream, driven from our event loop (ARES_OPT_SOCK_STATE_CB,
 * ares_process_fd, ares_timeout), plus the health that c-ares 1.18 lacks.
 *
 * Health: consecutive failures and a smoothed RTT per upstream; the order
 * for a new query is fewest failures first, then lowest RTT. An upstream
 * with max_fails consecutive failures is "down" (logged once per change);
 * failing upstreams are probed in the background every probe interval.
 * Sockets are renewed (a fresh channel, so a fresh source port) after a
 * timeout and every renew interval; the old channel drains and is destroyed.
 */
#ifndef PORTICO_DNSCACHE_UPSTREAM_H
#define PORTICO_DNSCACHE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "evloop.h"
#include "metrics.h"

enum upq_status {
    UPQ_ANSWER,         /* abuf holds a response (any rcode) */
    UPQ_FAILED,         /* timeout, refused connection, error */
};

struct upq;
struct upstream_set;

/* Called once per upstream_send that returned 0, from the event loop,
 * unless the query was detached. abuf is valid only during the call. */
typedef void (*upq_cb)(void *arg, struct upq *q, enum upq_status st,
                       const uint8_t *abuf, size_t alen);

struct upstream_set *upstream_set_new(struct evloop *loop,
                                      const struct config *cfg,
                                      struct worker_metrics *m, int worker_id);
void upstream_set_free(struct upstream_set *s);

/* Fills idx with upstream indices, healthiest first; returns the count. */
size_t upstream_order(struct upstream_set *s, size_t *idx, size_t cap);

/* A query ID not used by any query of this set in flight; released when the
 * query completes. */
uint16_t upstream_new_id(struct upstream_set *s);

/* Sends the query (whose ID came from upstream_new_id) to upstream i.
 * Returns the handle, or NULL if it failed at once (counted as a failure;
 * the ID is released; cb is not called). */
struct upq *upstream_send(struct upstream_set *s, size_t i, const uint8_t *q,
                          size_t qlen, upq_cb cb, void *arg);
/* The caller stopped waiting at the per-try timeout: counts a timeout
 * against the upstream now (once) and renews its socket. */
void upstream_try_timeout(struct upstream_set *s, struct upq *q);
/* The caller no longer wants the result: cb will not be called; health is
 * still updated when the query ends. */
void upstream_detach(struct upq *q);
/* The answer was unusable (e.g. malformed): counts a failure. */
void upstream_note_failure(struct upstream_set *s, size_t i,
                           enum upstream_fail_reason why);
size_t upstream_index(const struct upq *q);
/* EDNS per upstream (as unbound does): an upstream that answers an EDNS
 * query with FORMERR or NOTIMP is asked the same question again without
 * EDNS (upstream_note_edns_fallback; not a failure). If that plain query
 * gets a real answer (NOERROR, NXDOMAIN), upstream_note_no_edns makes
 * upstream_edns_ok false for --no-edns-ttl seconds, then EDNS is tried
 * again. */
int upstream_edns_ok(const struct upstream_set *s, size_t i);
void upstream_note_edns_fallback(struct upstream_set *s, size_t i);
void upstream_note_no_edns(struct upstream_set *s, size_t i);

/* How long to wait for upstream i before also asking the next one: the
 * --upstream-timeout floor, or 4 x its smoothed RTT when that is longer
 * (a slow but healthy recursor is not hammered), at most half of
 * --timeout. */
uint32_t upstream_try_timeout_ms(const struct upstream_set *s, size_t i);

#endif
