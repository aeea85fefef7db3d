/*
 * worker.h - one worker thread: its event loop, listeners, cache, hosts
 * table, upstreams and in-flight queries, and the query path that ties them
 * together (hosts, then cache, then upstream). With --threads N there are N
 * independent workers on SO_REUSEPORT sockets; worker 0 also owns the
 * signalfd and tells the others to stop or reload through their eventfd.
 */
#ifndef PORTICO_DNSCACHE_WORKER_H
#define PORTICO_DNSCACHE_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cache.h"
#include "config.h"
#include "dnswire.h"
#include "evloop.h"
#include "hosts.h"
#include "metrics.h"

struct tcp_conn;
struct resolver;
struct server;
struct upstream_set;

/* Where a deferred answer goes. */
struct reply_to {
    int udp_fd;                     /* -1 for TCP */
    struct sockaddr_storage addr;
    socklen_t alen;
    struct tcp_conn *tcp;
    /* Wildcard UDP listeners: the address the query was sent to, so the
     * answer leaves from it (IP_PKTINFO / IPV6_PKTINFO). */
    int has_dst;
    int dst_ifindex;
    struct in6_addr dst6;           /* IPv4 in the first 4 bytes */
};

struct worker {
    int id;
    const struct config *cfg;
    struct evloop *loop;
    struct cache *cache;
    struct hosts *hosts;
    struct upstream_set *ups;
    struct resolver *res;
    struct server *srv;
    struct worker_metrics m;
    struct dns_writer *wr;          /* scratch for compiling answers */
    uint8_t *wbuf;                  /* DNS_MAX_MSG, the writer's output */
    uint8_t *obuf;                  /* DNS_MAX_MSG, one client's answer */
    int notify_fd;                  /* eventfd: stop / reload requests */
    int sig_fd;                     /* signalfd, worker 0 only, else -1 */
    int stop_req, reload_req;       /* set atomically, then notify_fd */
    struct worker **all;            /* every worker (for worker 0) */
    size_t nall;
    struct ev_timer *tick;
    struct { int64_t mtime_ns; off_t size; ino_t ino; int present; } hosts_sig;
};

/* Creates the worker and binds its sockets. Returns NULL (logged) on
 * failure. reuseport: set SO_REUSEPORT (--threads > 1). */
struct worker *worker_new(const struct config *cfg, int id, int reuseport);
void worker_free(struct worker *w);
/* Worker 0 only: handle SIGTERM/SIGINT/SIGHUP (already blocked) here. */
int worker_own_signals(struct worker *w, struct worker **all, size_t nall);
/* Runs the loop until stopped. */
int worker_run(struct worker *w);
/* Thread-safe requests. */
void worker_request_stop(struct worker *w);
void worker_request_reload(struct worker *w);

/* The query path. Returns the length of an immediate answer written to
 * out (cap >= DNS_MAX_UDP for UDP, DNS_MAX_MSG for TCP), or 0 if the
 * answer comes later (sent to rt) or the packet is dropped. */
size_t worker_handle_query(struct worker *w, const uint8_t *msg, size_t len,
                           int tcp, const struct reply_to *rt, uint8_t *out,
                           size_t cap, uint64_t t0_ns);

#endif
