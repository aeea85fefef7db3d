/*
 * server.h - the client side: UDP listeners (recvmmsg/sendmmsg batches) and
 * TCP listeners (length-prefixed, pipelined, idle timeout), IPv4 and IPv6.
 */
#ifndef PORTICO_DNSCACHE_SERVER_H
#define PORTICO_DNSCACHE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "worker.h"

/* Binds every --listen address (UDP and TCP). NULL (logged) on failure. */
struct server *server_new(struct worker *w, int reuseport);
void server_free(struct server *s);

/* Sends a deferred answer. TCP connections that closed meanwhile drop it. */
void server_send(struct server *s, const struct reply_to *rt,
                 const uint8_t *buf, size_t len);
/* A pending answer holds the connection alive (the socket may close). */
void server_tcp_ref(struct tcp_conn *c);
void server_tcp_unref(struct tcp_conn *c);

#endif
