
/*
 * ngx_http_portico_metrics_module: request metrics per route rule, kept in
 * shared memory (docs/metrics.md).
 *
 * A "route" is what labels a request: the Ingress (namespace/name), the
 * host section, the rule's path and the Service, taken from the rule the
 * request matched, never from the request, so no Host header or URI can
 * make a new one.  Routes live in a fixed array of the zone and are found
 * or made when a worker attaches a route table; a rule keeps the index
 * and generation of its route (ngx_http_portico_metrics_ref_t), so a
 * request needs no lookup by name.  Each route has its histograms and
 * byte counters, and a short list of "series": request counts by status
 * code and method class, at most "max_series_per_ingress" per Ingress,
 * then counted in the Ingress's overflow series by status class.
 *
 * A route no live worker's table has is freed "grace" (a minute) after
 * that is first seen (by a scrape, or by an attach that found the zone full); a
 * request still holding it then counts without labels (its generation no
 * longer matches).
 *
 * Files (calls go module -> zone, status -> zone):
 *   ngx_http_portico_metrics_module.c   directives, the log phase
 *   ngx_http_portico_metrics_zone.c     zone, attach, freeing, series
 *   ngx_http_portico_metrics_status.c   the Prometheus text exposition
 */


#ifndef _NGX_HTTP_PORTICO_METRICS_MODULE_H_INCLUDED_
#define _NGX_HTTP_PORTICO_METRICS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_PORTICO_METRICS_ZONE_NAME   "portico_metrics"
#define NGX_HTTP_PORTICO_METRICS_ZONE_MIN    (128 * 1024)

/* zone bytes per route (its share of the arrays, labels and Ingresses) */
#define NGX_HTTP_PORTICO_METRICS_ROUTE_BYTES 1024
/* series slots per route, on average */
#define NGX_HTTP_PORTICO_METRICS_SERIES_PER_ROUTE  4

#define NGX_HTTP_PORTICO_METRICS_PER_INGRESS 256    /* default cap */

/* a route in no live worker's table is freed this long after ("grace=") */
#define NGX_HTTP_PORTICO_METRICS_GRACE       60         /* seconds */

/* histogram bounds (ingress-nginx's, Prometheus' DefBuckets), in ms */
#define NGX_HTTP_PORTICO_METRICS_BUCKETS     11

/* overflow series: 1xx-5xx and anything else */
#define NGX_HTTP_PORTICO_METRICS_CLASSES     6
#define NGX_HTTP_PORTICO_METRICS_OVERFLOW    1000   /* status = 1000 + class */

/* method classes: GET HEAD POST PUT DELETE PATCH OPTIONS, then the rest */
#define NGX_HTTP_PORTICO_METRICS_METHODS     8


/*
 * what a rule keeps of its route: index + 1 and generation; index 0: none,
 * and generation 0 (never looked up) or 1 + the zone's frees when it found
 * no room (no lookup again while the zone is full and frees the same)
 */

typedef struct {
    uint32_t                             index;
    uint32_t                             generation;
} ngx_http_portico_metrics_ref_t;


typedef struct {
    ngx_atomic_t                         bucket[NGX_HTTP_PORTICO_METRICS_BUCKETS
                                                + 1];   /* last: +Inf */
    ngx_atomic_t                         sum;           /* ms */
} ngx_http_portico_metrics_hist_t;


typedef struct ngx_http_portico_metrics_ingress_s
    ngx_http_portico_metrics_ingress_t;

struct ngx_http_portico_metrics_ingress_s {
    ngx_http_portico_metrics_ingress_t  *next;      /* hash chain */
    uint32_t                             hash;
    ngx_uint_t                           routes;    /* naming it */
    ngx_uint_t                           series;    /* of its routes */
    uint32_t                             overflow[NGX_HTTP_PORTICO_METRICS_CLASSES];
    size_t                               ns_len;    /* "namespace" */
    ngx_str_t                            name;      /* "namespace/name" */
};


typedef struct {
    uint32_t                             generation; /* 0: free */
    uint32_t                             next;      /* hash chain, free
                                                       list: route + 1 */
    uint32_t                             series;    /* first series + 1 */
    uint32_t                             hash;
    ngx_uint_t                           epoch;     /* last attach with it */
    time_t                               unused;    /* seen in no table
                                                       since, or 0 */
    ngx_http_portico_metrics_ingress_t  *ingress;
    u_char                              *labels;    /* host path service
                                                       canary */
    u_short                              host_len;
    u_short                              path_len;
    u_short                              service_len;
    u_short                              canary_len;    /* 0: no label */

    ngx_atomic_t                         request_bytes;
    ngx_atomic_t                         response_bytes;
    ngx_atomic_t                         connect_failures;
    ngx_http_portico_metrics_hist_t      duration;
    ngx_http_portico_metrics_hist_t      upstream;
} ngx_http_portico_metrics_route_t;


/* requests of one route by status code and method class */

typedef struct {
    uint32_t                             next;      /* series + 1 */
    uint16_t                             status;    /* or overflow */
    uint8_t                              method;
    uint8_t                              used;
    ngx_atomic_t                         requests;
} ngx_http_portico_metrics_series_t;


typedef struct {
    ngx_pid_t                            pid;
    ngx_uint_t                           epoch;     /* of its table */
} ngx_http_portico_metrics_worker_t;


/* the zone, under its slab pool's mutex (counters: atomics, no lock) */

typedef struct {
    ngx_uint_t                           nroutes;   /* capacity */
    ngx_uint_t                           nseries;
    ngx_uint_t                           used_routes;
    ngx_uint_t                           used_series;
    uint32_t                             free_routes;   /* + 1 */
    uint32_t                             free_series;   /* + 1 */
    uint32_t                             generation;
    uint32_t                             unrouted;  /* route + 1 */
    ngx_uint_t                           epoch;

    uint32_t                            *route_hash;
    ngx_uint_t                           route_mask;
    ngx_http_portico_metrics_ingress_t **ingress_hash;
    ngx_uint_t                           ingress_mask;

    ngx_http_portico_metrics_route_t    *routes;
    ngx_http_portico_metrics_series_t   *series;

    ngx_http_portico_metrics_worker_t    workers[NGX_MAX_PROCESSES];

    uint32_t                             frees;     /* routes freed, ever */
} ngx_http_portico_metrics_shared_t;


typedef struct {
    ngx_shm_zone_t                      *shm_zone;
    ngx_slab_pool_t                     *shpool;
    ngx_http_portico_metrics_shared_t   *shared;
    size_t                               size;
    ngx_uint_t                           per_ingress;
    time_t                               grace;     /* seconds */
} ngx_http_portico_metrics_main_conf_t;


extern ngx_module_t  ngx_http_portico_metrics_module;



/* module: the rule a request matched (NULL: none, or a redirect); called
   by the route module */
void ngx_http_portico_metrics_match(ngx_http_request_t *r,
    ngx_http_portico_metrics_ref_t *ref);

/* zone: a worker's new table (called by the route module), freeing what
   no table has, the series of a request */
ngx_int_t ngx_http_portico_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
void ngx_http_portico_metrics_attach(ngx_cycle_t *cycle,
    struct ngx_http_portico_route_table_s *table);
void ngx_http_portico_metrics_collect(ngx_http_portico_metrics_main_conf_t
    *mmcf, time_t now);
ngx_http_portico_metrics_series_t *ngx_http_portico_metrics_find_series(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_route_t *route, ngx_uint_t status,
    ngx_uint_t method);
ngx_http_portico_metrics_series_t *ngx_http_portico_metrics_add_series(
    ngx_http_portico_metrics_main_conf_t *mmcf, uint32_t index,
    uint32_t generation, ngx_uint_t status, ngx_uint_t method);

/* status */
ngx_int_t ngx_http_portico_metrics_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_PORTICO_METRICS_MODULE_H_INCLUDED_ */
