
/*
 * ngx_http_portico_ssl_module: certificates chosen per handshake by SNI from
 * a table file, without reloads (docs/certificates.md).
 *
 *   http {
 *       portico_certificates certificates dir=/var/lib/portico/certs;
 *       server {
 *           listen 443 ssl default_server;
 *           ssl_certificate default.crt;       # when no host matches
 *           ssl_certificate_key default.key;
 *           portico_certificate_by_sni;
 *       }
 *       server { location = /certificates-version {
 *                    portico_certificates_status; } }
 *   }
 *
 * In a server with "portico_certificate_by_sni", two OpenSSL callbacks are
 * installed on the server's SSL_CTX:
 *
 * - the ClientHello callback (first in the handshake, before a session is
 *   looked up) gives the connection a session ID context of its host and
 *   certificate, so a session or ticket made for one host and certificate
 *   never resumes for another, nor after the certificate changed;
 * - the certificate callback (not called when a session resumes) replaces
 *   the server's default certificate with the host's: the exact name, else
 *   the wildcard "*." + the name without its first label (one label, as
 *   the Ingress spec says), else the default stays.
 *
 * A host line with client certificate settings also gets them applied in
 * both callbacks and checked for its requests (ngx_http_portico_ssl_
 * client.c).  A certificate that cannot be loaded is logged and the
 * handshake goes on with the default certificate.  The table is watched
 * like the route table (ngx_http_portico_watch.c) and every worker reports
 * its version in the versions zone (ngx_http_portico_route_status.c).
 */


#include "ngx_http_portico_ssl_module.h"

#include <ngx_http_ssl_module.h>


#define NGX_HTTP_PORTICO_SNI_MAX             253

/* a session ID context: a SHA-256 of host pattern and stem */
#define NGX_HTTP_PORTICO_SID_CTX_PREFIX      "portico-sni\n"


typedef struct {
    ngx_flag_t                           by_sni;
} ngx_http_portico_ssl_srv_conf_t;


static ngx_int_t ngx_http_portico_ssl_preconfiguration(ngx_conf_t *cf);
static void *ngx_http_portico_ssl_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_portico_ssl_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_portico_ssl_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_portico_ssl_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_portico_ssl_install(ngx_conf_t *cf,
    ngx_http_portico_ssl_main_conf_t *smcf);
static void ngx_http_portico_ssl_cleanup(void *data);
static char *ngx_http_portico_certificates(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_certificate_by_sni(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_portico_certificates_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_portico_certificates_status_handler(
    ngx_http_request_t *r);

static int ngx_http_portico_ssl_client_hello(ngx_ssl_conn_t *ssl_conn,
    int *al, void *arg);
static int ngx_http_portico_ssl_certificate(ngx_ssl_conn_t *ssl_conn,
    void *arg);
static ngx_http_portico_ssl_host_t *ngx_http_portico_ssl_lookup(
    ngx_http_portico_ssl_main_conf_t *smcf, const u_char *name, size_t len);

static ngx_int_t ngx_http_portico_ssl_init_process(ngx_cycle_t *cycle);
static void ngx_http_portico_ssl_start(ngx_cycle_t *cycle);
static void ngx_http_portico_ssl_swap(ngx_http_portico_watch_t *watch,
    ngx_log_t *log);


static ngx_command_t  ngx_http_portico_ssl_commands[] = {

    { ngx_string("portico_certificates"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_portico_certificates,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_certificate_by_sni"),
      NGX_HTTP_SRV_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_certificate_by_sni,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_certificates_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_certificates_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_portico_ssl_module_ctx = {
    ngx_http_portico_ssl_preconfiguration, /* preconfiguration */
    ngx_http_portico_ssl_postconfiguration, /* postconfiguration */

    ngx_http_portico_ssl_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_portico_ssl_create_srv_conf,  /* create server configuration */
    ngx_http_portico_ssl_merge_srv_conf,   /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_portico_ssl_module = {
    NGX_MODULE_V1,
    &ngx_http_portico_ssl_module_ctx,      /* module context */
    ngx_http_portico_ssl_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_portico_ssl_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */

static ngx_int_t
ngx_http_portico_ssl_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_portico_ssl_client_variables(cf);
}


static void *
ngx_http_portico_ssl_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_portico_ssl_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->watch.file = { 0, NULL };
     *     smcf->dir = { 0, NULL };
     *     smcf->table = NULL;
     *     smcf->rmcf = NULL;
     */

    smcf->watch.interval = NGX_CONF_UNSET_MSEC;
    smcf->cache_max = NGX_CONF_UNSET_UINT;

    ngx_http_portico_ssl_cache_init(smcf);

    return smcf;
}


static void *
ngx_http_portico_ssl_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_portico_ssl_srv_conf_t  *pscf;

    pscf = ngx_palloc(cf->pool, sizeof(ngx_http_portico_ssl_srv_conf_t));
    if (pscf == NULL) {
        return NULL;
    }

    pscf->by_sni = NGX_CONF_UNSET;

    return pscf;
}


static char *
ngx_http_portico_ssl_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_portico_ssl_srv_conf_t  *conf = child;

    /* a server's own setting: "portico_certificate_by_sni" is not inherited */

    ngx_conf_init_value(conf->by_sni, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_certificates(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_ssl_main_conf_t  *smcf = conf;

    u_char      *p;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (smcf->watch.file.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    smcf->watch.file = value[1];

    if (ngx_conf_full_name(cf->cycle, &smcf->watch.file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        n = ngx_http_portico_watch_interval(cf, &smcf->watch, &value[i]);

        if (n == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (n == NGX_OK) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "cache=", 6) == 0
            && smcf->cache_max == NGX_CONF_UNSET_UINT)
        {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid cache size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            smcf->cache_max = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "dir=", 4) == 0
            && smcf->dir.data == NULL)
        {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid directory \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (ngx_conf_full_name(cf->cycle, &s, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            smcf->dir = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (smcf->dir.data == NULL) {

        /* the table's own directory */

        p = smcf->watch.file.data + smcf->watch.file.len;

        while (p > smcf->watch.file.data && p[-1] != '/') {
            p--;
        }

        smcf->dir.data = smcf->watch.file.data;
        smcf->dir.len = p - smcf->watch.file.data;
    }

    /* the directory with a slash at the end: DIR + STEM + ".crt" */

    if (smcf->dir.len == 0 || smcf->dir.data[smcf->dir.len - 1] != '/') {
        p = ngx_pnalloc(cf->pool, smcf->dir.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, smcf->dir.data, smcf->dir.len);
        p[smcf->dir.len] = '/';

        smcf->dir.data = p;
        smcf->dir.len++;
    }

    ngx_conf_init_msec_value(smcf->watch.interval,
                             NGX_HTTP_PORTICO_CERTS_INTERVAL);
    ngx_conf_init_uint_value(smcf->cache_max, NGX_HTTP_PORTICO_CERTS_CACHE);

    smcf->watch.directive = "portico_certificates";
    smcf->watch.load = ngx_http_portico_ssl_swap;
    smcf->watch.start = ngx_http_portico_ssl_start;
    smcf->watch.data = smcf;

    /* the versions zone is the route module's (one slot per worker) */

    smcf->rmcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_portico_route_module);

    if (ngx_http_portico_route_status_zone(cf, smcf->rmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_certificate_by_sni(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_portico_ssl_srv_conf_t  *pscf = conf;

    if (pscf->by_sni != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    pscf->by_sni = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_certificates_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_portico_ssl_main_conf_t  *smcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_portico_certificates_status_handler;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_portico_ssl_module);
    smcf->status_used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_portico_certificates_status_handler(ngx_http_request_t *r)
{
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_portico_ssl_module);

    return ngx_http_portico_route_status_send(r, smcf->rmcf,
                                         NGX_HTTP_PORTICO_TABLE_CERTIFICATES);
}


/*
 * After the whole http{} block, every server's SSL_CTX exists (nginx made
 * them while merging): the table is read and checked (so "nginx -t" does),
 * then the callbacks go onto the contexts of the servers that ask for them.
 */

static ngx_int_t
ngx_http_portico_ssl_postconfiguration(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_portico_route_error_t     err;
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_portico_ssl_module);

    if (smcf->watch.file.data == NULL) {
        if (smcf->status_used) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_certificates_status\" needs "
                          "\"portico_certificates\" at http level");
            return NGX_ERROR;
        }

        return ngx_http_portico_ssl_install(cf, smcf);
    }

    /* the table's pool logs to the cycle's log, which outlives cf->log */

    smcf->table = ngx_http_portico_ssl_table_load(&smcf->watch.file,
                                                  &cf->cycle->new_log, &err);
    if (smcf->table == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "portico_certificates: %*s in %V:%ui",
                      err.len, err.text, &smcf->watch.file, err.line);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_http_portico_ssl_table_free(smcf->table);
        smcf->table = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_portico_ssl_cleanup;
    cln->data = smcf;

    if (ngx_http_portico_ssl_table_check_files(smcf->table, &smcf->dir, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "portico_certificates: %*s in %V:%ui",
                      err.len, err.text, &smcf->watch.file, err.line);
        return NGX_ERROR;
    }

    smcf->watch.seen = smcf->table->id;
    smcf->watch.version = smcf->table->version;

    if (ngx_http_portico_ssl_client_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_portico_ssl_install(cf, smcf);
}


/* the callbacks on the SSL_CTX of every "portico_certificate_by_sni" server */

static ngx_int_t
ngx_http_portico_ssl_install(ngx_conf_t *cf,
    ngx_http_portico_ssl_main_conf_t *smcf)
{
    ngx_uint_t                         s;
    ngx_http_ssl_srv_conf_t           *sscf;
    ngx_http_core_srv_conf_t         **cscfp;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_portico_ssl_srv_conf_t   *pscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        pscf = cscfp[s]->ctx->srv_conf[ngx_http_portico_ssl_module.ctx_index];

        if (!pscf->by_sni) {
            continue;
        }

        if (smcf->table == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_certificate_by_sni\" needs "
                          "\"portico_certificates\" at http level in %s:%ui",
                          cscfp[s]->file_name, cscfp[s]->line);
            return NGX_ERROR;
        }

        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        if (sscf->ssl.ctx == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_certificate_by_sni\" needs the default "
                          "certificate (\"ssl_certificate\") in the server "
                          "in %s:%ui", cscfp[s]->file_name, cscfp[s]->line);
            return NGX_ERROR;
        }

        if (sscf->certificate_values != NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_certificate_by_sni\" cannot be used "
                          "with variables in \"ssl_certificate\" in %s:%ui",
                          cscfp[s]->file_name, cscfp[s]->line);
            return NGX_ERROR;
        }

        SSL_CTX_set_client_hello_cb(sscf->ssl.ctx,
                                    ngx_http_portico_ssl_client_hello, smcf);
        SSL_CTX_set_cert_cb(sscf->ssl.ctx, ngx_http_portico_ssl_certificate,
                            smcf);
    }

    return NGX_OK;
}


static void
ngx_http_portico_ssl_cleanup(void *data)
{
    ngx_http_portico_ssl_main_conf_t  *smcf = data;

    ngx_http_portico_watch_stop(&smcf->watch);

    ngx_http_portico_ssl_cache_sweep(smcf, NULL);

    ngx_http_portico_ssl_table_free(smcf->table);
    smcf->table = NULL;
}


/* handshakes */

/*
 * First in the handshake: the session ID context of the host's entry, so
 * that only sessions made with this host's certificate and client
 * certificate settings resume (OpenSSL checks it for session IDs and
 * tickets, TLS 1.2 and 1.3), and what the connection is made with for the
 * request phase.  SSL_get_servername() knows nothing yet: the extension
 * is read here.
 */

static int
ngx_http_portico_ssl_client_hello(ngx_ssl_conn_t *ssl_conn, int *al,
    void *arg)
{
    ngx_http_portico_ssl_main_conf_t  *smcf = arg;

    size_t                        len, list;
    EVP_MD_CTX                   *md;
    unsigned int                  mdlen;
    const u_char                 *p;
    ngx_connection_t             *c;
    ngx_http_portico_ssl_host_t  *host;
    u_char                        sid_ctx[EVP_MAX_MD_SIZE];

    host = NULL;

    if (!SSL_client_hello_get0_ext(ssl_conn, TLSEXT_TYPE_server_name, &p,
                                   &len))
    {
        goto done;
    }

    /* ServerNameList: length, then (type, length, name)...; the first */

    if (len < 5) {
        goto done;
    }

    list = (size_t) p[0] << 8 | p[1];

    if (list != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name) {
        goto done;
    }

    len = (size_t) p[3] << 8 | p[4];

    if (len + 3 > list) {
        goto done;
    }

    host = ngx_http_portico_ssl_lookup(smcf, p + 5, len);

done:

    c = ngx_ssl_get_connection(ssl_conn);

    if (ngx_http_portico_ssl_client_conn(c, host) != NGX_OK) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }

    if (host == NULL) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }

    md = EVP_MD_CTX_new();

    if (md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, NGX_HTTP_PORTICO_SID_CTX_PREFIX,
                            sizeof(NGX_HTTP_PORTICO_SID_CTX_PREFIX) - 1)
           != 1
        || EVP_DigestUpdate(md, host->pattern.data, host->pattern.len) != 1
        || EVP_DigestUpdate(md, "\n", 1) != 1
        || EVP_DigestUpdate(md, host->stem.data, host->stem.len) != 1
        || ngx_http_portico_ssl_client_sid_ctx(md, host) != NGX_OK
        || EVP_DigestFinal_ex(md, sid_ctx, &mdlen) != 1
        || SSL_set_session_id_context(ssl_conn, sid_ctx,
                                      ngx_min(mdlen, SSL_MAX_SID_CTX_LENGTH))
           != 1)
    {
        EVP_MD_CTX_free(md);
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }

    EVP_MD_CTX_free(md);

    return SSL_CLIENT_HELLO_SUCCESS;
}


/*
 * Full handshakes only: the host's certificate instead of the default, and
 * the host's client certificate verification.
 */

static int
ngx_http_portico_ssl_certificate(ngx_ssl_conn_t *ssl_conn, void *arg)
{
    ngx_http_portico_ssl_main_conf_t  *smcf = arg;

    const char                   *name;
    ngx_connection_t             *c;
    ngx_http_portico_ssl_host_t  *host;
    ngx_http_portico_ssl_pair_t  *pair;

    c = ngx_ssl_get_connection(ssl_conn);

    if (c->ssl->handshaked) {
        /* nginx refuses renegotiation; nothing to change */
        return 1;
    }

    name = SSL_get_servername(ssl_conn, TLSEXT_NAMETYPE_host_name);

    if (name == NULL) {
        return 1;
    }

    host = ngx_http_portico_ssl_lookup(smcf, (const u_char *) name,
                                       ngx_strlen(name));
    if (host == NULL) {
        return 1;
    }

    if (ngx_http_portico_ssl_client_verify(smcf, ssl_conn, host, c->log)
        != NGX_OK)
    {
        return 0;
    }

    if (host->stem.len == 0) {
        /* "-": the default certificate */
        return 1;
    }

    pair = ngx_http_portico_ssl_pair(smcf, &host->stem, c->log);

    if (pair == NULL) {
        /* logged; the default certificate serves */
        return 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "portico_certificates: \"%s\" uses \"%V\"",
                   name, &host->stem);

    /*
     * the default certificate goes first: OpenSSL keeps one per key type
     * and could otherwise pick it over a host's of another type
     */

    SSL_certs_clear(ssl_conn);

    if (SSL_use_cert_and_key(ssl_conn, pair->cert, pair->key, pair->chain, 1)
        != 1)
    {
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "portico_certificates: SSL_use_cert_and_key(\"%V\") "
                      "failed", &host->stem);
        return 0;
    }

    return 1;
}


/* the SNI name as the table has it: lowercase, without a trailing dot */

static ngx_http_portico_ssl_host_t *
ngx_http_portico_ssl_lookup(ngx_http_portico_ssl_main_conf_t *smcf,
    const u_char *name, size_t len)
{
    u_char  buf[NGX_HTTP_PORTICO_SNI_MAX];

    if (smcf->table == NULL) {
        return NULL;
    }

    if (len > 0 && name[len - 1] == '.') {
        len--;
    }

    if (len == 0 || len > NGX_HTTP_PORTICO_SNI_MAX) {
        return NULL;
    }

    ngx_strlow(buf, (u_char *) name, len);

    return ngx_http_portico_ssl_find_host(smcf->table, buf, len);
}


/* table changes, in every worker */

static ngx_int_t
ngx_http_portico_ssl_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_http_portico_ssl_start(cycle);

    return NGX_OK;
}


/* publishes this process's version and starts watching the file */

static void
ngx_http_portico_ssl_start(ngx_cycle_t *cycle)
{
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = ngx_http_portico_cycle_main_conf(cycle,
                                            &ngx_http_portico_ssl_module);

    if (smcf == NULL || smcf->table == NULL || smcf->watch.timer.timer_set) {
        return;
    }

    ngx_http_portico_watch_start(&smcf->watch, cycle);

    ngx_http_portico_route_status_publish(smcf->rmcf,
                                          NGX_HTTP_PORTICO_TABLE_CERTIFICATES,
                                          &smcf->table->version);
}


/* the file changed: the new table, or the reason to keep the current one */

static void
ngx_http_portico_ssl_swap(ngx_http_portico_watch_t *watch, ngx_log_t *log)
{
    ngx_http_portico_route_error_t     err;
    ngx_http_portico_ssl_table_t      *table;
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = watch->data;

    table = ngx_http_portico_ssl_table_load(&watch->file, log, &err);

    if (table == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: %*s in %V:%ui, keeping "
                      "version %V", err.len, err.text, &watch->file,
                      err.line, &smcf->table->version);
        return;
    }

    watch->seen = table->id;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "portico_certificates: version %V replaces %V "
                  "(%ui hosts, %ui certificates)",
                  &table->version, &smcf->table->version, table->nhosts,
                  table->nstems);

    ngx_http_portico_ssl_table_free(smcf->table);
    smcf->table = table;
    watch->version = table->version;

    /* pairs of certificates no host uses any more */

    ngx_http_portico_ssl_cache_sweep(smcf, table);

    ngx_http_portico_route_status_publish(smcf->rmcf,
                                          NGX_HTTP_PORTICO_TABLE_CERTIFICATES,
                                          &table->version);
}
