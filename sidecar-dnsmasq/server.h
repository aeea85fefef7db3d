/*
 * server.h - the client side: UDP listeners (recvmmsg/sendmmsg batches) and
 * TCP listeners (length-prefixed, pipelined, idle timeout), IPv4 and IPv6.
 *
 * The server knows nothing of DNS beyond framing: every query goes to the
 * handler, which answers at once or later (server_reply). A TCP connection
 * with answers still to come stays alive until they are all replied to,
 * even if the client has closed it.
 */
#ifndef PORTICO_DNSCACHE_SERVER_H
#define PORTICO_DNSCACHE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "config.h"
#include "evloop.h"
#include "metrics.h"

/* What the handler did with a query. */
enum server_verdict {
    SERVER_ANSWERED,    /* the answer is in out (*outlen bytes) */
    SERVER_DROPPED,     /* no answer: the query is not worth one */
    SERVER_DEFERRED,    /* the answer comes later: server_reply(rt) */
};

struct server_handler {
    /* A query of len bytes from the client at rt (rt->tcp is NULL over
     * UDP). out has room for cap bytes: DNS_MAX_UDP over UDP, DNS_MAX_MSG
     * over TCP. rt is valid only during the call: keep a copy. */
    enum server_verdict (*query)(void *arg, const uint8_t *msg, size_t len,
                                 const struct reply_to *rt, uint8_t *out,
                                 size_t cap, size_t *outlen);
    void *arg;
};

/* Binds every --listen address (UDP and TCP; SO_REUSEPORT with
 * reuseport). m gets malformed_queries (datagrams cut by the kernel) and
 * request_duration (every answer sent). NULL (logged) on failure. */
struct server *server_new(struct evloop *loop, const struct config *cfg,
                          struct worker_metrics *m, int reuseport,
                          const struct server_handler *handler);
/* Closes every socket. Call after every deferred answer was replied to. */
void server_free(struct server *s);

/* The answer to a query the handler deferred: sends msg (len bytes) to rt,
 * or with msg NULL sends nothing (no answer will come). Exactly once per
 * SERVER_DEFERRED. A TCP connection closed meanwhile drops the answer. */
void server_reply(struct server *s, const struct reply_to *rt,
                  const uint8_t *msg, size_t len);

#endif
