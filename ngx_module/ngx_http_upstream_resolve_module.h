
/*
 * ngx_http_upstream_resolve_module: shared types.
 *
 * An upstream with "resolve_server" lines keeps all its peers (static
 * "server" lines and the addresses of resolved names) in the upstream's
 * shared zone.  Every worker balances over the same peer list; one worker
 * at a time resolves a given name (a claim in shared memory) and rewrites
 * that name's peers under the peers' write lock.  A removed peer still used
 * by a request becomes a zombie and is freed by the last request that
 * releases it.
 *
 * Files:
 *   ngx_http_upstream_resolve_module.c    directives, configuration
 *   ngx_http_upstream_resolve_zone.c      peers in the zone, reload carry-over
 *   ngx_http_upstream_resolve_balancer.c  per-request peer selection
 *   ngx_http_upstream_resolve_resolver.c  periodic resolution, peer updates
 *   ngx_http_upstream_resolve_status.c    "upstream_resolve_status" JSON
 */


#ifndef _NGX_HTTP_UPSTREAM_RESOLVE_MODULE_H_INCLUDED_
#define _NGX_HTTP_UPSTREAM_RESOLVE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* peer->host of a static "server" peer */
#define NGX_HTTP_UPSTREAM_RESOLVE_STATIC      ((ngx_uint_t) -1)

#define NGX_HTTP_UPSTREAM_RESOLVE_TTL_MIN     1000      /* ms */
#define NGX_HTTP_UPSTREAM_RESOLVE_TTL_MAX     30000     /* ms */

/* how often each worker looks for names that are due */
#define NGX_HTTP_UPSTREAM_RESOLVE_TICK        100       /* ms */

/* a claim older than resolver_timeout + this is taken over */
#define NGX_HTTP_UPSTREAM_RESOLVE_LEASE_SLACK 2000      /* ms */

/*
 * resolutions in flight per worker ("resolve_max_in_flight"): at most this
 * many answers wait in the resolver's UDP receive buffer.  nginx asks
 * without EDNS, so a UDP answer has at most 512 bytes; a default buffer
 * (212992 bytes) holds 166 such datagrams on loopback, 256 small ones
 * (measured), so 128 answers arriving at once fit, even on one socket.
 */
#define NGX_HTTP_UPSTREAM_RESOLVE_MAX_IN_FLIGHT     128
#define NGX_HTTP_UPSTREAM_RESOLVE_MAX_IN_FLIGHT_MAX 65536

/* "[IPv6]:port", the longest peer name */
#define NGX_HTTP_RESOLVE_PEER_NAME_LEN                                    \
    (NGX_INET6_ADDRSTRLEN + sizeof("[]:65535") - 1)

/* bitmaps of peer ids (tried peers of a request, free ids) */
#define NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS     (8 * sizeof(uintptr_t))
#define NGX_HTTP_UPSTREAM_RESOLVE_ID_WORDS    4     /* on the stack */

#define ngx_http_upstream_resolve_id_words(n)                                 \
    (((n) + NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS - 1)                            \
     / NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS)
#define ngx_http_upstream_resolve_id_set(map, id)                             \
    ((map)[(id) / NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS]                          \
     |= (uintptr_t) 1 << (id) % NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS)
#define ngx_http_upstream_resolve_id_isset(map, id)                           \
    ((map)[(id) / NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS]                          \
     & ((uintptr_t) 1 << (id) % NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS))

/* bounded attempts to read the previous cycle's zone at reload */
#define NGX_HTTP_UPSTREAM_RESOLVE_RLOCK_TRIES 10000


typedef struct ngx_http_upstream_resolve_peer_s
    ngx_http_upstream_resolve_peer_t;


/* IPv4 and IPv6 only: keeps a peer within a 256-byte slab chunk */

typedef union {
    struct sockaddr                      sockaddr;
    struct sockaddr_in                   sockaddr_in;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6                  sockaddr_in6;
#endif
} ngx_http_upstream_resolve_sockaddr_t;


/* one peer, in shared memory */

struct ngx_http_upstream_resolve_peer_s {
    ngx_http_upstream_resolve_sockaddr_t  sockaddr;
    socklen_t                            socklen;
    size_t                               name_len;
    u_char                               name[NGX_HTTP_RESOLVE_PEER_NAME_LEN];

    ngx_int_t                            current_weight;
    ngx_int_t                            effective_weight;
    ngx_int_t                            weight;

    ngx_uint_t                           conns;
    ngx_uint_t                           max_conns;

    ngx_uint_t                           fails;
    time_t                               accessed;
    time_t                               checked;

    ngx_uint_t                           max_fails;
    time_t                               fail_timeout;

    /* requests holding this peer between get and free */
    ngx_uint_t                           refs;

    /* the lowest number no other peer of the upstream had when this one
       was made: its bit in a request's bitmap of tried peers */
    ngx_uint_t                           id;
    ngx_atomic_t                         lock;

    /* index of the resolve_server it came from, or ..._STATIC */
    ngx_uint_t                           host;

    unsigned                             down:1;
    unsigned                             backup:1;
    unsigned                             zombie:1;

    ngx_http_upstream_resolve_peer_t    *next;
};


/*
 * resolution state of one resolve_server, in shared memory; schedule times
 * are ngx_current_msec values (CLOCK_MONOTONIC, the same in every process),
 * so a wall clock step does not stall resolutions
 */

typedef struct {
    ngx_pid_t                            owner;     /* resolving now, or 0 */
    ngx_msec_t                           claimed;   /* monotonic ms */
    ngx_msec_t                           next;      /* monotonic ms */
    uint64_t                             last;      /* epoch ms, 0: never */
    ngx_msec_t                           ttl;       /* applied, ms */
    ngx_int_t                            error;     /* resolver state */
    ngx_uint_t                           failures;  /* consecutive */
    ngx_uint_t                           naddrs;
} ngx_http_upstream_resolve_state_t;


/* the peers of one upstream, in its zone; all fields under rwlock */

typedef struct {
    ngx_atomic_t                         rwlock;
    ngx_slab_pool_t                     *shpool;

    ngx_http_upstream_resolve_peer_t    *peer;      /* primary */
    ngx_http_upstream_resolve_peer_t    *backup;
    ngx_http_upstream_resolve_peer_t    *zombies;

    ngx_uint_t                           number;
    ngx_uint_t                           nbackup;
    ngx_uint_t                           nzombies;

    /* above every peer's id: the bits a tried bitmap needs */
    ngx_uint_t                           ids;

    ngx_uint_t                           nhosts;
    ngx_http_upstream_resolve_state_t   *state;     /* [nhosts] */
} ngx_http_upstream_resolve_shared_t;


/* one "resolve_server" line */

typedef struct {
    ngx_str_t                            server;    /* NAME:PORT as given */
    ngx_str_t                            name;      /* lowercase host */
    in_port_t                            port;
    ngx_uint_t                           weight;
    ngx_uint_t                           max_fails;
    time_t                               fail_timeout;
    unsigned                             backup:1;
} ngx_http_upstream_resolve_host_t;


typedef struct ngx_http_upstream_resolve_srv_conf_s
    ngx_http_upstream_resolve_srv_conf_t;


/*
 * one name of one upstream in this worker: in flight (ctx set), waiting in
 * the worker's queue of due names (queued), or idle
 */

typedef struct {
    ngx_http_upstream_resolve_srv_conf_t  *conf;
    ngx_uint_t                             index;
    ngx_resolver_ctx_t                    *ctx;
    ngx_queue_t                            queue;     /* in main->pending */
    unsigned                               queued:1;
} ngx_http_upstream_resolve_job_t;


struct ngx_http_upstream_resolve_srv_conf_s {
    ngx_array_t                         *hosts;     /* resolve_server */
    ngx_msec_t                           ttl_min;
    ngx_msec_t                           ttl_max;

    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_shared_t  *shared;    /* set at zone init */
    void                                *main;      /* ..._main_conf_t */

    ngx_http_upstream_resolve_job_t     *jobs;      /* per worker, [nhosts] */

    unsigned                             initialized:1;
    unsigned                             least_conn:1;
};


/* the wrapped init of one upstream zone */

typedef struct {
    ngx_shm_zone_t                      *shm_zone;
    ngx_shm_zone_init_pt                 init;
} ngx_http_upstream_resolve_zone_t;


typedef struct {
    ngx_array_t                          upstreams; /* of srv_conf * */
    ngx_array_t                          zones;     /* of ..._zone_t */

    ngx_resolver_t                      *resolver;
    ngx_msec_t                           resolver_timeout;
    ngx_int_t                            max_in_flight;

    /* per worker: due names in the order they fell due, and the count */
    ngx_queue_t                          pending;   /* of ..._job_t */
    ngx_uint_t                           in_flight;
    unsigned                             draining:1;

    ngx_event_t                          tick;
    ngx_log_t                           *log;
    ngx_cycle_t                         *cycle;
} ngx_http_upstream_resolve_main_conf_t;


extern ngx_module_t  ngx_http_upstream_resolve_module;


/* balancer */
ngx_int_t ngx_http_upstream_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
void ngx_http_upstream_resolve_free_peer_locked(
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer);

/* module */
extern struct sockaddr_in  ngx_http_upstream_resolve_placeholder;

/* zone */
ngx_int_t ngx_http_upstream_resolve_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_upstream_resolve_init_module(ngx_cycle_t *cycle);

/* resolver */
ngx_int_t ngx_http_upstream_resolve_start_cycle(ngx_cycle_t *cycle);
void ngx_http_upstream_resolve_exit_worker(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
ngx_int_t ngx_http_upstream_resolve_set_addrs(
    ngx_http_upstream_resolve_srv_conf_t *rscf, ngx_uint_t index,
    ngx_addr_t *addrs, ngx_uint_t naddrs, ngx_log_t *log);
ngx_http_upstream_resolve_peer_t *ngx_http_upstream_resolve_new_peer(
    ngx_http_upstream_resolve_shared_t *sh, struct sockaddr *sockaddr,
    socklen_t socklen, in_port_t port);
uint64_t ngx_http_upstream_resolve_now(void);

/* status */
ngx_int_t ngx_http_upstream_resolve_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_UPSTREAM_RESOLVE_MODULE_H_INCLUDED_ */
