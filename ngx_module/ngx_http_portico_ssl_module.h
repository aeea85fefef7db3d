
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
 * A host line may also carry client certificate settings (a CA file,
 * the verification mode and depth, a regex on the subject DN, an error
 * page, passing the certificate on): the handshake asks for and verifies
 * a client certificate with the host's CA, and requests for the host are
 * checked as nginx checks "ssl_verify_client" (docs/certificates.md,
 * "Client certificates").
 *
 * Files:
 *   ngx_http_portico_ssl_module.c   directives, OpenSSL callbacks, swap
 *   ngx_http_portico_ssl_table.c    table parse and lookup, the pair cache
 *   ngx_http_portico_ssl_client.c   client certificates: the host line's
 *                                   words, verification in the handshake,
 *                                   the request's checks, the variables
 */


#ifndef _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_
#define _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_portico_route_module.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#define NGX_HTTP_PORTICO_CERTS_FILE_MAX      (64 * 1024 * 1024)
#define NGX_HTTP_PORTICO_CERTS_LINE_MAX      4096
#define NGX_HTTP_PORTICO_CERTS_STEM_MAX      128
#define NGX_HTTP_PORTICO_CERTS_FIELDS_MAX    10
#define NGX_HTTP_PORTICO_CERTS_INTERVAL      100        /* ms */
#define NGX_HTTP_PORTICO_CERTS_CACHE         10000      /* pairs */
#define NGX_HTTP_PORTICO_CERTS_RETRY         5000       /* ms */


/* a token equal to a literal */
#define ngx_http_portico_ssl_is(s, lit)                                       \
    ((s)->len == sizeof(lit) - 1                                              \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)


/* a host's client certificate settings (verify=) */

#define NGX_HTTP_PORTICO_VERIFY_OFF          0  /* no certificate asked */
#define NGX_HTTP_PORTICO_VERIFY_ON           1
#define NGX_HTTP_PORTICO_VERIFY_OPTIONAL     2
#define NGX_HTTP_PORTICO_VERIFY_OPTIONAL_NO_CA  3
#define NGX_HTTP_PORTICO_VERIFY_DENY         4  /* every request: 403 */

#define NGX_HTTP_PORTICO_VERIFY_DEPTH        1      /* nginx's default */
#define NGX_HTTP_PORTICO_VERIFY_DEPTH_MAX    100
#define NGX_HTTP_PORTICO_CN_MAX              1024   /* bytes, decoded */
#define NGX_HTTP_PORTICO_ERROR_PAGE_MAX      2048
/* a CN regex may take this many steps on one subject, then it failed */
#define NGX_HTTP_PORTICO_CN_MATCH_LIMIT      100000
#define NGX_HTTP_PORTICO_CN_DEPTH_LIMIT      1000
#define NGX_HTTP_PORTICO_CN_HEAP_LIMIT       1024   /* KB */

typedef struct {
    ngx_str_t                            ca;        /* stem: DIR/STEM.ca */
    ngx_uint_t                           verify;    /* VERIFY_* above */
    ngx_uint_t                           depth;
    ngx_str_t                            cn;        /* the regex, decoded */
    pcre2_code                          *cn_re;     /* NULL: no check */
    ngx_str_t                            error_page;    /* URL, or empty */
    unsigned                             pass_cert:1;
} ngx_http_portico_ssl_client_t;


/* one "host" line */

typedef struct {
    ngx_str_t                            pattern;   /* as written */
    ngx_str_t                            name;      /* without "*." */
    ngx_str_t                            stem;      /* empty: "-", the
                                                       default certificate */
    ngx_uint_t                           line;
    ngx_http_portico_ssl_client_t       *client;    /* NULL: none */
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

    ngx_http_portico_route_names_t       cas;       /* CA stem -> first
                                                       host */
    ngx_http_portico_route_names_t       regexes;   /* cn -> pcre2_code */
    ngx_uint_t                           nclients;  /* hosts with client
                                                       settings */
    pcre2_match_data                    *match_data;
    pcre2_match_context                 *match_ctx;

    ngx_http_portico_route_file_id_t     id;
} ngx_http_portico_ssl_table_t;


/*
 * A certificate chain and key loaded by this worker (malloc'd, freed when
 * evicted, when no host names its stem any more, or with the cycle).  A
 * pair that failed to load has cert == NULL; it is tried again after
 * NGX_HTTP_PORTICO_CERTS_RETRY.  The same cache holds the CA files of
 * client certificates (key "ca:" + stem; store and names instead of
 * cert, chain and key).
 */

#define NGX_HTTP_PORTICO_CA_KEY              "ca:"

typedef struct {
    ngx_str_node_t                       sn;        /* key: the stem */
    ngx_queue_t                          queue;     /* most recent first */
    X509                                *cert;
    STACK_OF(X509)                      *chain;     /* after the leaf */
    EVP_PKEY                            *key;
    X509_STORE                          *store;     /* a CA file's */
    STACK_OF(X509_NAME)                 *names;     /* its subjects */
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
ngx_int_t ngx_http_portico_ssl_check_stem(ngx_str_t *stem);
ngx_http_portico_ssl_host_t *ngx_http_portico_ssl_find_host(
    ngx_http_portico_ssl_table_t *table, u_char *name, size_t len);

void ngx_http_portico_ssl_cache_init(ngx_http_portico_ssl_main_conf_t *smcf);
ngx_http_portico_ssl_pair_t *ngx_http_portico_ssl_pair(
    ngx_http_portico_ssl_main_conf_t *smcf, ngx_str_t *stem, ngx_log_t *log);
ngx_http_portico_ssl_pair_t *ngx_http_portico_ssl_ca(
    ngx_http_portico_ssl_main_conf_t *smcf, ngx_str_t *stem, ngx_log_t *log);
void ngx_http_portico_ssl_cache_sweep(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_http_portico_ssl_table_t *table);
u_char *ngx_http_portico_ssl_path(ngx_str_t *dir, ngx_str_t *stem,
    const char *ext, u_char *buf, size_t size);

/* client certificates (ngx_http_portico_ssl_client.c) */
ngx_int_t ngx_http_portico_ssl_client_parse(
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_host_t *host,
    ngx_str_t *word, ngx_uint_t n, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_ssl_ca_load(ngx_http_portico_ssl_pair_t *ca,
    ngx_str_t *dir, ngx_str_t *stem, ngx_log_t *log);
ngx_int_t ngx_http_portico_ssl_client_sid_ctx(EVP_MD_CTX *md,
    ngx_http_portico_ssl_host_t *host);
ngx_int_t ngx_http_portico_ssl_client_conn(ngx_connection_t *c,
    ngx_http_portico_ssl_host_t *host);
ngx_int_t ngx_http_portico_ssl_client_verify(
    ngx_http_portico_ssl_main_conf_t *smcf, ngx_ssl_conn_t *ssl_conn,
    ngx_http_portico_ssl_host_t *host, ngx_log_t *log);
ngx_int_t ngx_http_portico_ssl_client_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_portico_ssl_client_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_PORTICO_SSL_MODULE_H_INCLUDED_ */
