
/*
 * ngx_http_upstream_resolve_module: shared types.
 *
 * Peers live in shared memory, one peer list per upstream, so every worker
 * balances over the same peers.  One worker at a time resolves a given
 * name (a claim in shared memory) and rewrites that name's peers under the
 * peers' write lock.  A removed peer still used by a request becomes a
 * zombie and is freed once no request holds it.
 *
 * Two kinds of upstreams have such peers:
 *   - "upstream {}" blocks with "resolve_server" lines: the peers live in
 *     the block's own zone, made anew at every configuration cycle;
 *   - table upstreams: the "upstream" lines of a route table (the route
 *     module, docs/routes.md), made and removed while nginx runs, in one
 *     zone ("resolve_upstreams") that reloads keep.
 *
 * Files:
 *   ngx_http_upstream_resolve_module.c    directives, configuration
 *   ngx_http_upstream_resolve_zone.c      upstream{} peers, reload carry-over
 *   ngx_http_upstream_resolve_table.c     table upstreams: registry, due
 *                                         heap, clean-up, state file
 *   ngx_http_upstream_resolve_peers.c     peer lists: add, drop, zombies
 *   ngx_http_upstream_resolve_balancer.c  per-request peer selection
 *   ngx_http_upstream_resolve_resolver.c  periodic resolution
 *   ngx_http_upstream_resolve_status.c    the status handlers
 *
 * Calls go one way: module -> zone, table, resolver, status; resolver ->
 * table, peers; zone, table, balancer -> peers.
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

/* a host name: at most 253 characters */
#define NGX_HTTP_UPSTREAM_RESOLVE_NAME_MAX    253

/* a table upstream's name: 1-255 characters [A-Za-z0-9_.-] */
#define NGX_HTTP_UPSTREAM_RESOLVE_UPSTREAM_MAX 255

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
    ngx_atomic_t                         lock;

    /* the lowest number no other peer of the upstream had when this one
       was made: its bit in a request's bitmap of tried peers */
    ngx_uint_t                           id;

    /* index of the host (name) it came from, or ..._STATIC */
    ngx_uint_t                           host;

    /*
     * what session affinity knows the peer by: the first 8 bytes of an
     * MD5 of the upstream's name, a space and the peer's name, so the same
     * in every worker, after a reload and after a restart
     */
    uint64_t                             affinity;

    unsigned                             down:1;
    unsigned                             backup:1;
    unsigned                             zombie:1;

    ngx_http_upstream_resolve_peer_t    *next;
};


/*
 * resolution state of one name, in shared memory; schedule times are
 * ngx_current_msec values (CLOCK_MONOTONIC, the same in every process), so
 * a wall clock step does not stall resolutions
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


/* one name whose addresses are peers: a resolve_server line, or the
   server of a table upstream */

typedef struct {
    ngx_str_t                            server;    /* NAME:PORT as given */
    ngx_str_t                            name;      /* lowercase host */
    in_port_t                            port;
    ngx_uint_t                           weight;
    ngx_uint_t                           max_fails;
    time_t                               fail_timeout;
    unsigned                             backup:1;
} ngx_http_upstream_resolve_host_t;


/*
 * The peers of one upstream and the state of its names; all fields under
 * rwlock.  hosts and name point into the configuration (upstream{}
 * blocks) or into the same zone (table upstreams).
 */

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
    ngx_http_upstream_resolve_host_t    *hosts;     /* [nhosts] */
    ngx_http_upstream_resolve_state_t   *state;     /* [nhosts] */

    ngx_str_t                           *name;      /* the upstream's */
    ngx_msec_t                           ttl_min;
    ngx_msec_t                           ttl_max;

    unsigned                             least_conn:1;

    /*
     * a table upstream: its peers are allocated with the zone's mutex
     * held (ngx_slab_*_locked), and a zombie is freed later, under that
     * mutex, not by the request releasing it
     */
    unsigned                             table:1;
} ngx_http_upstream_resolve_shared_t;


/*
 * Session affinity of one request (the route module's "affinity=" words,
 * ngx_http_portico_route_affinity.c), given to the balancer of a table
 * upstream.  In: the key of the request's cookie for this upstream
 * (has_key), the mode, whether a failed attempt moves the session.  Out:
 * the key of a new cookie to send (issue, issue_key).
 *
 * persistent: the key is the peer's "affinity"; the request goes to that
 *     peer while it is usable, else to a normal pick with a new cookie
 *     (a peer gone; a failed one only with change_on_failure).
 * balanced: the key is random; the request goes to the usable peer that
 *     ranks first for the key (rendezvous hashing), so a new peer takes
 *     about 1/n of the sessions and a removed one's move to the others.
 */

typedef struct {
    uint64_t                             key;
    uint64_t                             issue_key;
    unsigned                             has_key:1;
    unsigned                             balanced:1;
    unsigned                             change_on_failure:1;
    unsigned                             issue:1;
} ngx_http_upstream_resolve_affinity_t;


/* what a table upstream is, as a route table line gives it */

typedef struct {
    ngx_str_t                            name;      /* the upstream's */
    ngx_str_t                            server;    /* HOST:PORT */
    ngx_str_t                            host;      /* lowercase */
    in_port_t                            port;
    ngx_uint_t                           max_fails;
    time_t                               fail_timeout;
    unsigned                             least_conn:1;
    unsigned                             address:1; /* HOST is an IP */
} ngx_http_upstream_resolve_def_t;


/* what requests to a table upstream see of its readiness */

#define NGX_HTTP_UPSTREAM_RESOLVE_PENDING     0     /* not resolved yet */
#define NGX_HTTP_UPSTREAM_RESOLVE_READY       1     /* has addresses */
#define NGX_HTTP_UPSTREAM_RESOLVE_FAILED      2     /* resolved to none */


typedef struct ngx_http_upstream_resolve_entry_s
    ngx_http_upstream_resolve_entry_t;

/* the upstreams of one part of a table (all of it, or one shard) */

typedef struct {
    ngx_http_upstream_resolve_def_t     *defs;
    ngx_uint_t                           n;
    ngx_http_upstream_resolve_entry_t  **entries;   /* [n], made by attach */
} ngx_http_upstream_resolve_part_t;

/* one table upstream, in the zone of table upstreams */

struct ngx_http_upstream_resolve_entry_s {
    ngx_str_node_t                       node;      /* by name */
    ngx_queue_t                          queue;     /* registry->entries */
    ngx_queue_t                          klass;     /* ->pending, ->failed
                                                       or none (ready) */
    ngx_queue_t                          inflight;  /* ->inflight, or none */
    ngx_str_t                            name;

    ngx_http_upstream_resolve_shared_t   peers;
    ngx_http_upstream_resolve_host_t     host;
    ngx_http_upstream_resolve_state_t    state;

    /* never reused: a resolution started for an entry is applied to
       that entry only */
    ngx_uint_t                           serial;

    /*
     * sequence numbers of the tables that had it: every table of a
     * number in [first, last] may name it (see ..._table.c)
     */
    ngx_uint_t                           first;
    ngx_uint_t                           last;
    ngx_uint_t                           def_seq;   /* its definition's */

    ngx_atomic_t                         requests;  /* routed, not ended */
    ngx_uint_t                           heap;      /* index, or none */
    ngx_msec_t                           created;

    unsigned                             readiness:2;
    unsigned                             address:1; /* never resolved */
};


/* a process whose route table names table upstreams */

typedef struct {
    ngx_pid_t                            pid;       /* 0: free */
    ngx_uint_t                           seq;       /* its table's */
} ngx_http_upstream_resolve_user_t;

#define NGX_HTTP_UPSTREAM_RESOLVE_USERS       (2 * NGX_MAX_PROCESSES)
#define NGX_HTTP_UPSTREAM_RESOLVE_VERSION_MAX 64


/* the zone of table upstreams; everything under the zone's slab mutex */

typedef struct {
    ngx_rbtree_t                         rbtree;
    ngx_rbtree_node_t                    sentinel;
    ngx_queue_t                          entries;
    ngx_queue_t                          pending;
    ngx_queue_t                          failed;
    ngx_queue_t                          inflight;  /* claimed */

    ngx_http_upstream_resolve_entry_t  **heap;      /* due times, min first */
    ngx_uint_t                           nheap;
    ngx_uint_t                           heap_size;

    ngx_uint_t                           nentries;
    ngx_uint_t                           npending;
    ngx_uint_t                           nfailed;
    ngx_uint_t                           serial;

    /* the newest table: its sequence number and version */
    ngx_uint_t                           seq;
    size_t                               version_len;
    u_char                    version[NGX_HTTP_UPSTREAM_RESOLVE_VERSION_MAX];

    ngx_http_upstream_resolve_user_t     users[NGX_HTTP_UPSTREAM_RESOLVE_USERS];
    ngx_uint_t                           users_lost; /* one did not fit */

    ngx_msec_t                           clean_next;
    ngx_msec_t                           persist_next;
    ngx_uint_t                           changes;   /* of addresses */
    ngx_uint_t                           persisted; /* changes written */

    /* counters since the zone was made (atomic) */
    ngx_atomic_t                         waited;
    ngx_atomic_t                         unresolved;
} ngx_http_upstream_resolve_registry_t;


/* one "resolve_server" line */

typedef struct ngx_http_upstream_resolve_srv_conf_s
    ngx_http_upstream_resolve_srv_conf_t;

typedef struct ngx_http_upstream_resolve_main_conf_s
    ngx_http_upstream_resolve_main_conf_t;


/*
 * one name being resolved, or waiting for it, in this worker: a name of an
 * upstream{} block (in flight when ctx is set, or queued), or a table
 * upstream's (in flight; upstream, entry and serial say which; name and
 * upstream are copies)
 */

typedef struct {
    ngx_http_upstream_resolve_main_conf_t  *main;
    ngx_http_upstream_resolve_shared_t     *shared;
    ngx_uint_t                              index;
    ngx_resolver_ctx_t                     *ctx;
    ngx_queue_t                             queue;  /* main->pending, or
                                                       main->free_jobs */
    unsigned                                queued:1;

    ngx_http_upstream_resolve_entry_t      *entry;
    ngx_uint_t                              serial;
    ngx_str_t                               name;
    ngx_str_t                               upstream;
    u_char                        buf[NGX_HTTP_UPSTREAM_RESOLVE_NAME_MAX];
    u_char               upstream_buf[NGX_HTTP_UPSTREAM_RESOLVE_UPSTREAM_MAX];
} ngx_http_upstream_resolve_job_t;


struct ngx_http_upstream_resolve_srv_conf_s {
    ngx_array_t                         *hosts;     /* resolve_server */
    ngx_msec_t                           ttl_min;
    ngx_msec_t                           ttl_max;

    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_shared_t  *shared;    /* set at zone init */
    ngx_http_upstream_resolve_main_conf_t  *main;

    ngx_http_upstream_resolve_job_t     *jobs;      /* per worker, [nhosts] */

    unsigned                             initialized:1;
    unsigned                             least_conn:1;
};


/* the wrapped init of one upstream zone */

typedef struct {
    ngx_shm_zone_t                      *shm_zone;
    ngx_shm_zone_init_pt                 init;
} ngx_http_upstream_resolve_zone_t;


struct ngx_http_upstream_resolve_main_conf_s {
    ngx_array_t                          upstreams; /* of srv_conf * */
    ngx_array_t                          zones;     /* of ..._zone_t */

    ngx_resolver_t                      *resolver;
    ngx_msec_t                           resolver_timeout;
    ngx_int_t                            max_in_flight;

    /* table upstreams ("resolve_upstreams"), or table_zone NULL */
    ngx_shm_zone_t                      *table_zone;
    ngx_msec_t                           table_ttl_min;
    ngx_msec_t                           table_ttl_max;
    ngx_str_t                            state_file;   /* NUL, or empty */
    ngx_http_upstream_resolve_registry_t  *registry;   /* set at zone init */

    /* per worker: due names in the order they fell due, and the count */
    ngx_queue_t                          pending;   /* of ..._job_t */
    ngx_uint_t                           in_flight;
    ngx_queue_t                          free_jobs; /* for table upstreams */
    unsigned                             draining:1;

    ngx_event_t                          tick;
    ngx_log_t                           *log;
    ngx_cycle_t                         *cycle;
};


extern ngx_module_t  ngx_http_upstream_resolve_module;


/* module */
extern struct sockaddr_in  ngx_http_upstream_resolve_placeholder;

/* zone (upstream{} blocks) */
ngx_int_t ngx_http_upstream_resolve_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_upstream_resolve_zone_init_module(ngx_cycle_t *cycle);

/* peers */
uint64_t ngx_http_upstream_resolve_now(void);
ngx_http_upstream_resolve_peer_t *ngx_http_upstream_resolve_new_peer(
    ngx_http_upstream_resolve_shared_t *sh, struct sockaddr *sockaddr,
    socklen_t socklen, in_port_t port);
uint64_t ngx_http_upstream_resolve_affinity_of(ngx_str_t *upstream,
    u_char *peer, size_t len);
ngx_int_t ngx_http_upstream_resolve_set_addrs(
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t index,
    ngx_addr_t *addrs, ngx_uint_t naddrs);
void ngx_http_upstream_resolve_free_peers(
    ngx_http_upstream_resolve_shared_t *sh);
void ngx_http_upstream_resolve_free_zombies(
    ngx_http_upstream_resolve_shared_t *sh);
void ngx_http_upstream_resolve_free_peer_locked(
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer);

/* balancer */
ngx_int_t ngx_http_upstream_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);

/* table upstreams: zone and registry (in the master), then per worker */
ngx_int_t ngx_http_upstream_resolve_check_name(ngx_str_t *name);
ngx_int_t ngx_http_upstream_resolve_table_zone(ngx_conf_t *cf,
    ngx_http_upstream_resolve_main_conf_t *rmcf, size_t size);
ngx_int_t ngx_http_upstream_resolve_table_paths(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf);
ngx_uint_t ngx_http_upstream_resolve_table_claim(
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_msec_t now,
    ngx_http_upstream_resolve_job_t **jobs, ngx_uint_t max);
ngx_http_upstream_resolve_entry_t *ngx_http_upstream_resolve_table_find(
    ngx_http_upstream_resolve_registry_t *reg, ngx_str_t *name);
void ngx_http_upstream_resolve_table_resolved(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e, ngx_uint_t changed);
void ngx_http_upstream_resolve_table_tick(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
void ngx_http_upstream_resolve_table_exit(
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_uint_t gone);

/* resolver */
ngx_int_t ngx_http_upstream_resolve_start_cycle(ngx_cycle_t *cycle);
void ngx_http_upstream_resolve_exit_worker(
    ngx_http_upstream_resolve_main_conf_t *rmcf);

/* status */
ngx_int_t ngx_http_upstream_resolve_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_upstream_resolve_table_status_handler(
    ngx_http_request_t *r);


/*
 * What the route module uses: parse_def() reads the words of a table
 * "upstream" line (args[0] the name); attach() makes the upstreams of the
 * table this process now uses, and returns their entries (NULL for one
 * that did not fit in the zone); readiness(), hold(), count() and
 * init_table_peer() serve requests.
 */

ngx_int_t ngx_http_upstream_resolve_parse_def(ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_upstream_resolve_def_t *def, u_char *err,
    size_t errlen);
ngx_int_t ngx_http_upstream_resolve_table_enabled(ngx_conf_t *cf);
ngx_int_t ngx_http_upstream_resolve_table_attach(ngx_cycle_t *cycle,
    ngx_str_t *version, ngx_http_upstream_resolve_part_t *parts,
    ngx_uint_t nparts);
ngx_uint_t ngx_http_upstream_resolve_table_readiness(
    ngx_http_upstream_resolve_entry_t *e);
void ngx_http_upstream_resolve_table_hold(
    ngx_http_upstream_resolve_entry_t *e);
void ngx_http_upstream_resolve_table_release(
    ngx_http_upstream_resolve_entry_t *e);
void ngx_http_upstream_resolve_table_count(ngx_cycle_t *cycle,
    ngx_uint_t waited, ngx_uint_t unresolved);
ngx_int_t ngx_http_upstream_resolve_init_table_peer(ngx_http_request_t *r,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_affinity_t *affinity);


#endif /* _NGX_HTTP_UPSTREAM_RESOLVE_MODULE_H_INCLUDED_ */
