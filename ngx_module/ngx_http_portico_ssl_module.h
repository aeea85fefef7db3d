
/*
 * ngx_http_portico_ssl_module: shared types (see docs/certificates.md).
 *
 * The certificate table maps host names to certificate files (a stem S
 * names DIR/S.crt and DIR/S.key).  Like the route table it is parsed at
 * configuration time (so "nginx -t" validates it) and again by every
 * worker when the file changes; a worker swaps its table only when the new
 * file parsed cleanly.  Certificates are loaded when a handshake first
 * needs them and kept per worker, one copy per stem however many hosts
 * name it, in a cache bounded by "cache=" (least recently used out).  A
 * swap drops the cached pairs no host of the new table names.
 *
 * Files:
 *   ngx_http_portico_ssl_module.c   directives, OpenSSL callbacks, swap
 *   ngx_http_portico_ssl_table.c    table parse and lookup, the pair cache
 */


#ifndef _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_
#define _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_portico_route_module.h"


#define NGX_HTTP_PORTICO_CERTS_FILE_MAX      (64 * 1024 * 1024)
#define NGX_HTTP_PORTICO_CERTS_LINE_MAX      4096
#define NGX_HTTP_PORTICO_CERTS_STEM_MAX      128
#define NGX_HTTP_PORTICO_CERTS_FIELDS_MAX    3
#define NGX_HTTP_PORTICO_CERTS_INTERVAL      100        /* ms */
#define NGX_HTTP_PORTICO_CERTS_CACHE         10000      /* pairs */
#define NGX_HTTP_PORTICO_CERTS_RETRY         5000       /* ms */


/* one "host" line */

typedef struct {
    ngx_str_t                            pattern;   /* as written */
    ngx_str_t                            name;      /* without "*." */
    ngx_str_t                            stem;
    ngx_uint_t                           line;
} ngx_http_portico_ssl_host_t;


typedef struct {
    ngx_pool_t                          *pool;      /* owns everything */
    ngx_str_t                            version;
    ngx_uint_t                           nhosts;
    ngx_http_portico_ssl_host_t         *hosts;

    ngx_http_portico_route_names_t       exact;     /* name -> host */
    ngx_http_portico_route_names_t       wildcards; /* "*.D" by D */
    ngx_http_portico_route_names_t       stems;     /* stem -> first host */
    ngx_uint_t                           nstems;

    ngx_http_portico_route_file_id_t     id;
} ngx_http_portico_ssl_table_t;


/*
 * A certificate chain and key loaded by this worker (malloc'd, freed when
 * evicted, when no host names its stem any more, or with the cycle).  A
 * pair that failed to load has cert == NULL; it is tried again after
 * NGX_HTTP_PORTICO_CERTS_RETRY.
 */

typedef struct {
    ngx_str_node_t                       sn;        /* key: the stem */
    ngx_queue_t                          queue;     /* most recent first */
    X509                                *cert;
    STACK_OF(X509)                      *chain;     /* after the leaf */
    EVP_PKEY                            *key;
    ngx_msec_t                           failed_at;
} ngx_http_portico_ssl_pair_t;


typedef struct {
    ngx_http_portico_watch_t             watch;
    ngx_str_t                            dir;       /* ends in "/" */
    ngx_uint_t                           cache_max;

    ngx_http_portico_ssl_table_t        *table;     /* current */

    ngx_rbtree_t                         cache;     /* pairs by stem */
    ngx_rbtree_node_t                    sentinel;
    ngx_queue_t                          lru;
    ngx_uint_t                           cached;

    /* the versions zone (ngx_http_portico_route_status.c) */
    ngx_http_portico_route_main_conf_t  *rmcf;

    unsigned                             status_used:1;
} ngx_http_portico_ssl_main_conf_t;


extern ngx_module_t  ngx_http_portico_ssl_module;


ngx_http_portico_ssl_table_t *ngx_http_portico_ssl_table_load(
    ngx_str_t *file, ngx_log_t *log, ngx_http_portico_route_error_t *err);
void ngx_http_portico_ssl_table_free(ngx_http_portico_ssl_table_t *table);
ngx_int_t ngx_http_portico_ssl_table_check_files(
    ngx_http_portico_ssl_table_t *table, ngx_str_t *dir,
    ngx_http_portico_route_error_t *err);
ngx_http_portico_ssl_host_t *ngx_http_portico_ssl_find_host(
    ngx_http_portico_ssl_table_t *table, u_char *name, size_t len);

void ngx_http_portico_ssl_cache_init(ngx_http_portico_ssl_main_conf_t *smcf);
ngx_http_portico_ssl_pair_t *ngx_http_portico_ssl_pair(
    ngx_http_portico_ssl_main_conf_t *smcf, ngx_str_t *stem, ngx_log_t *log);
void ngx_http_portico_ssl_cache_sweep(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_http_portico_ssl_table_t *table);


#endif /* _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_ */
