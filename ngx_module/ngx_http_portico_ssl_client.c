
/*
 * ngx_http_portico_ssl_module: client certificates per host, from the
 * certificate table (docs/certificates.md, "Client certificates").
 *
 * A host line may end in words that set the host's client certificate
 * verification, as nginx's ssl_client_certificate, ssl_verify_client,
 * ssl_verify_depth and ssl_crl do for a server:
 *
 *   host H STEM ca=CASTEM verify=on|optional|optional_no_ca|off
 *               [depth=N] [cn=REGEX] [error-page=URL] [pass-cert=on]
 *   host H STEM verify=deny
 *
 * (STEM "-": the default certificate.)  DIR/CASTEM.ca holds the CA
 * certificates (PEM), then CRLs if any: a CRL turns on revocation checks
 * for the whole chain, as "ssl_crl" does.
 *
 * - In the handshake: the session ID context covers these settings (a
 *   session never resumes under other ones), and the certificate callback
 *   asks for a client certificate with the host's CA names and verifies
 *   it against the host's CA (SSL_set_verify, a verify store per CA file,
 *   cached like the pairs).  As in nginx, a failed verification does not
 *   fail the handshake: the request phase answers it.
 * - Requests (the post-read phase, before anything else; for plain HTTP,
 *   the preaccess phase, after the HTTPS redirect): for a host with these
 *   settings, as nginx's ngx_http_process_request() with ssl_verify_client
 *   and its SNI check: 421 when the connection was made for another name
 *   or under other settings (a table swap since), 495 (400 "The SSL
 *   certificate error") for a certificate that failed verification, 496
 *   (400 "No required SSL certificate was sent") without one in mode
 *   "on"; then 403 when the subject DN does not match "cn" (ingress-nginx's
 *   auth-tls-match-cn); "error-page" turns 495 and 496 into a 302 to it;
 *   "verify=deny" answers 403 to every request.
 * - $portico_ssl_client_verify, _s_dn, _i_dn, _escaped_cert (the last
 *   with "pass-cert=on"): nginx's $ssl_client_* for a host with these
 *   settings, empty otherwise, so "proxy_set_header ssl-client-verify
 *   $portico_ssl_client_verify;" sends the header for those hosts only
 *   and never passes a client's own.
 *
 * The words and the CA files are read with the table:
 * ngx_http_portico_ssl_client_table.c.
 */


#include "ngx_http_portico_ssl_module.h"


#define NGX_HTTP_PORTICO_SID_CTX_CLIENT      "\nclient "


/* what a connection's handshake was made with (SSL ex_data) */

typedef struct {
    ngx_uint_t                           verify;
    ngx_uint_t                           depth;
    size_t                               ca_len;
    u_char                               ca[NGX_HTTP_PORTICO_CERTS_STEM_MAX];
} ngx_http_portico_ssl_conn_t;


typedef ngx_int_t (*ngx_http_portico_ssl_get_pt)(ngx_connection_t *c,
    ngx_pool_t *pool, ngx_str_t *s);

typedef struct {
    ngx_http_portico_ssl_get_pt          get;
    ngx_uint_t                           pass_cert; /* only with pass-cert */
} ngx_http_portico_ssl_var_t;


static int ngx_http_portico_ssl_verify_callback(int ok,
    X509_STORE_CTX *x509_store);

static ngx_http_portico_ssl_host_t *ngx_http_portico_ssl_client_host(
    ngx_http_request_t *r, ngx_http_portico_ssl_table_t **tablep);
static ngx_int_t ngx_http_portico_ssl_post_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_portico_ssl_preaccess_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_portico_ssl_check(ngx_http_request_t *r,
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_host_t *host);
static ngx_int_t ngx_http_portico_ssl_same_handshake(ngx_http_request_t *r,
    ngx_http_portico_ssl_client_t *client);
static ngx_int_t ngx_http_portico_ssl_check_cn(ngx_http_request_t *r,
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_host_t *host);
static ngx_int_t ngx_http_portico_ssl_refuse(ngx_http_request_t *r,
    ngx_http_portico_ssl_client_t *client, ngx_int_t status);
static ngx_int_t ngx_http_portico_ssl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static int  ngx_http_portico_ssl_conn_index = -1;


static ngx_http_portico_ssl_var_t  ngx_http_portico_ssl_vars[] = {
    { ngx_ssl_get_client_verify, 0 },
    { ngx_ssl_get_subject_dn, 0 },
    { ngx_ssl_get_issuer_dn, 0 },
    { ngx_ssl_get_escaped_certificate, 1 },
};


static ngx_http_variable_t  ngx_http_portico_ssl_variables[] = {

    { ngx_string("portico_ssl_client_verify"), NULL,
      ngx_http_portico_ssl_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_ssl_client_s_dn"), NULL,
      ngx_http_portico_ssl_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_ssl_client_i_dn"), NULL,
      ngx_http_portico_ssl_variable, 2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_ssl_client_escaped_cert"), NULL,
      ngx_http_portico_ssl_variable, 3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* handshakes */

/* the settings go into the session ID context: resumption never crosses */

ngx_int_t
ngx_http_portico_ssl_client_sid_ctx(EVP_MD_CTX *md,
    ngx_http_portico_ssl_host_t *host)
{
    u_char                         *p;
    ngx_http_portico_ssl_client_t  *client;
    u_char                          buf[2 * NGX_INT_T_LEN + 2];

    client = host->client;

    if (client == NULL) {
        return NGX_OK;
    }

    p = ngx_sprintf(buf, " %ui %ui", client->verify, client->depth);

    if (EVP_DigestUpdate(md, NGX_HTTP_PORTICO_SID_CTX_CLIENT,
                         sizeof(NGX_HTTP_PORTICO_SID_CTX_CLIENT) - 1)
           != 1
        || EVP_DigestUpdate(md, client->ca.data, client->ca.len) != 1
        || EVP_DigestUpdate(md, buf, p - buf) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The ClientHello callback, every handshake (resumed ones too): what the
 * connection is made with, for the request phase to compare.  NULL host:
 * no client settings.
 */

ngx_int_t
ngx_http_portico_ssl_client_conn(ngx_connection_t *c,
    ngx_http_portico_ssl_host_t *host)
{
    ngx_http_portico_ssl_conn_t    *conn;
    ngx_http_portico_ssl_client_t  *client;

    client = host ? host->client : NULL;

    conn = SSL_get_ex_data(c->ssl->connection,
                           ngx_http_portico_ssl_conn_index);

    if (client == NULL) {
        if (conn != NULL) {
            /* a second ClientHello (HelloRetryRequest) for another name */
            SSL_set_ex_data(c->ssl->connection,
                            ngx_http_portico_ssl_conn_index, NULL);
        }

        return NGX_OK;
    }

    if (conn == NULL) {
        conn = ngx_palloc(c->pool, sizeof(ngx_http_portico_ssl_conn_t));
        if (conn == NULL) {
            return NGX_ERROR;
        }

        if (SSL_set_ex_data(c->ssl->connection,
                            ngx_http_portico_ssl_conn_index, conn)
            != 1)
        {
            return NGX_ERROR;
        }
    }

    conn->verify = client->verify;
    conn->depth = client->depth;
    conn->ca_len = client->ca.len;
    ngx_memcpy(conn->ca, client->ca.data, client->ca.len);

    return NGX_OK;
}


/*
 * The certificate callback (full handshakes): ask for a client certificate
 * and verify it with the host's CA.  A CA file that cannot be used fails
 * the handshake: a host is never served unverified.
 */

ngx_int_t
ngx_http_portico_ssl_client_verify(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_ssl_conn_t *ssl_conn, ngx_http_portico_ssl_host_t *host,
    ngx_log_t *log)
{
    STACK_OF(X509_NAME)            *names;
    ngx_http_portico_ssl_pair_t    *ca;
    ngx_http_portico_ssl_client_t  *client;

    client = host ? host->client : NULL;

    if (client == NULL
        || client->verify == NGX_HTTP_PORTICO_VERIFY_OFF
        || client->verify == NGX_HTTP_PORTICO_VERIFY_DENY)
    {
        return NGX_OK;
    }

    ca = ngx_http_portico_ssl_ca(smcf, &client->ca, log);

    if (ca == NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "portico_certificates: \"%V\" needs client "
                      "certificates and its CA file \"%V\" cannot be used: "
                      "handshake refused", &host->pattern, &client->ca);
        return NGX_ERROR;
    }

    names = SSL_dup_CA_list(ca->names);
    if (names == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: SSL_dup_CA_list() failed");
        return NGX_ERROR;
    }

    SSL_set_client_CA_list(ssl_conn, names);

    if (SSL_set1_verify_cert_store(ssl_conn, ca->store) != 1) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: "
                      "SSL_set1_verify_cert_store() failed");
        return NGX_ERROR;
    }

    SSL_set_verify(ssl_conn, SSL_VERIFY_PEER,
                   ngx_http_portico_ssl_verify_callback);
    SSL_set_verify_depth(ssl_conn, (int) client->depth);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, log, 0,
                   "portico_certificates: \"%V\" verifies with \"%V\"",
                   &host->pattern, &client->ca);

    return NGX_OK;
}


/* as nginx's: the result is kept and judged in the request phase */

static int
ngx_http_portico_ssl_verify_callback(int ok, X509_STORE_CTX *x509_store)
{
    return 1;
}


/* configuration */

ngx_int_t
ngx_http_portico_ssl_client_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_portico_ssl_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* with "portico_certificates": the request checks */

ngx_int_t
ngx_http_portico_ssl_client_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_portico_ssl_conn_index == -1) {
        ngx_http_portico_ssl_conn_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                               NULL, NULL);
        if (ngx_http_portico_ssl_conn_index == -1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_get_ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_portico_ssl_post_read_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_portico_ssl_preaccess_handler;

    return NGX_OK;
}


/* requests */

/* the table line of the request's host, if it has client settings */

static ngx_http_portico_ssl_host_t *
ngx_http_portico_ssl_client_host(ngx_http_request_t *r,
    ngx_http_portico_ssl_table_t **tablep)
{
    ngx_http_portico_ssl_host_t       *host;
    ngx_http_portico_ssl_table_t      *table;
    ngx_http_portico_ssl_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_portico_ssl_module);
    table = smcf->table;

    if (table == NULL || table->nclients == 0
        || r->headers_in.server.len == 0)
    {
        return NULL;
    }

    /* nginx's Host: lowercase, without port and trailing dot */

    host = ngx_http_portico_ssl_find_host(table, r->headers_in.server.data,
                                          r->headers_in.server.len);

    if (host == NULL || host->client == NULL) {
        return NULL;
    }

    if (tablep) {
        *tablep = table;
    }

    return host;
}


/* TLS: before anything else, as nginx checks ssl_verify_client */

static ngx_int_t
ngx_http_portico_ssl_post_read_handler(ngx_http_request_t *r)
{
    ngx_http_portico_ssl_host_t   *host;
    ngx_http_portico_ssl_table_t  *table;

    if (r->connection->ssl == NULL) {
        return NGX_DECLINED;
    }

    host = ngx_http_portico_ssl_client_host(r, &table);

    if (host == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_portico_ssl_check(r, table, host);
}


/*
 * Plain HTTP: after the route table's HTTPS redirect (a redirected host
 * never gets here); without a TLS connection there is no certificate.
 */

static ngx_int_t
ngx_http_portico_ssl_preaccess_handler(ngx_http_request_t *r)
{
    ngx_http_portico_ssl_host_t   *host;
    ngx_http_portico_ssl_table_t  *table;

    if (r != r->main || r->connection->ssl != NULL) {
        return NGX_DECLINED;
    }

    host = ngx_http_portico_ssl_client_host(r, &table);

    if (host == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_portico_ssl_check(r, table, host);
}


static ngx_int_t
ngx_http_portico_ssl_check(ngx_http_request_t *r,
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_host_t *host)
{
    long                            rc;
    ngx_int_t                       n;
    ngx_connection_t               *c;
    ngx_http_portico_ssl_client_t  *client;

    c = r->connection;
    client = host->client;

    if (client->verify == NGX_HTTP_PORTICO_VERIFY_DENY) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "portico_certificates: \"%V\" is refused: its client "
                      "certificate settings could not be applied",
                      &host->pattern);
        return NGX_HTTP_FORBIDDEN;
    }

    if (c->ssl == NULL) {

        if (client->verify == NGX_HTTP_PORTICO_VERIFY_ON) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client sent no required SSL certificate "
                          "(plain HTTP)");
            return ngx_http_portico_ssl_refuse(r, client, NGX_HTTPS_NO_CERT);
        }

        return ngx_http_portico_ssl_check_cn(r, table, host);
    }

    n = ngx_http_portico_ssl_same_handshake(r, client);

    if (n != NGX_OK) {
        return n;
    }

    if (client->verify == NGX_HTTP_PORTICO_VERIFY_OFF) {
        return ngx_http_portico_ssl_check_cn(r, table, host);
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK
        && (client->verify != NGX_HTTP_PORTICO_VERIFY_OPTIONAL_NO_CA
            || !ngx_ssl_verify_error_optional(rc)))
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client SSL certificate verify error: (%l:%s)",
                      rc, X509_verify_cert_error_string(rc));

        ngx_ssl_remove_cached_session(c->ssl->session_ctx,
                                      SSL_get0_session(c->ssl->connection));

        return ngx_http_portico_ssl_refuse(r, client, NGX_HTTPS_CERT_ERROR);
    }

    if (client->verify == NGX_HTTP_PORTICO_VERIFY_ON
        && SSL_get0_peer_certificate(c->ssl->connection) == NULL)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent no required SSL certificate");

        ngx_ssl_remove_cached_session(c->ssl->session_ctx,
                                      SSL_get0_session(c->ssl->connection));

        return ngx_http_portico_ssl_refuse(r, client, NGX_HTTPS_NO_CERT);
    }

    return ngx_http_portico_ssl_check_cn(r, table, host);
}


/*
 * The connection must have been made for this host under these settings:
 * its SNI name is the request's host (nginx's 421 for a server with
 * ssl_verify_client), and the settings did not change since (a table
 * swap).  Without SNI no certificate was asked for: the checks after this
 * one see none.
 */

static ngx_int_t
ngx_http_portico_ssl_same_handshake(ngx_http_request_t *r,
    ngx_http_portico_ssl_client_t *client)
{
    size_t                        len;
    const char                   *sni;
    ngx_connection_t             *c;
    ngx_http_portico_ssl_conn_t  *conn;

    c = r->connection;

    sni = SSL_get_servername(c->ssl->connection, TLSEXT_NAMETYPE_host_name);
    conn = SSL_get_ex_data(c->ssl->connection,
                           ngx_http_portico_ssl_conn_index);

    if (sni == NULL) {
        if (conn == NULL) {
            return NGX_OK;
        }

        len = 0;

    } else {
        len = ngx_strlen(sni);

        if (len > 0 && sni[len - 1] == '.') {
            len--;
        }
    }

    if (len != r->headers_in.server.len
        || ngx_strncasecmp((u_char *) sni, r->headers_in.server.data, len)
           != 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client attempted to request the server name "
                      "different from the one that was negotiated");
        r->keepalive = 0;
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }

    if (conn == NULL
        || conn->verify != client->verify
        || conn->depth != client->depth
        || conn->ca_len != client->ca.len
        || ngx_memcmp(conn->ca, client->ca.data, client->ca.len) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "portico_certificates: the connection was made "
                      "before the client certificate settings of \"%V\" "
                      "changed", &r->headers_in.server);
        r->keepalive = 0;
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }

    return NGX_OK;
}


/* ingress-nginx's auth-tls-match-cn: "$ssl_client_s_dn !~ REGEX" -> 403 */

static ngx_int_t
ngx_http_portico_ssl_check_cn(ngx_http_request_t *r,
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_host_t *host)
{
    int                             rc;
    ngx_str_t                       dn;
    ngx_http_portico_ssl_client_t  *client;

    client = host->client;

    if (client->cn_re == NULL) {
        return NGX_DECLINED;
    }

    ngx_str_null(&dn);

    if (r->connection->ssl != NULL
        && ngx_ssl_get_subject_dn(r->connection, r->pool, &dn) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pcre2_match(client->cn_re,
                     dn.len ? dn.data : (u_char *) "", dn.len, 0, 0,
                     table->match_data, table->match_ctx);

    if (rc >= 0) {
        return NGX_DECLINED;
    }

    if (rc != PCRE2_ERROR_NOMATCH) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "portico_certificates: the cn regex of \"%V\" failed "
                      "on \"%V\" (%d): refused", &host->pattern, &dn, rc);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client certificate subject \"%V\" does not match the "
                      "cn regex of \"%V\"", &dn, &host->pattern);
    }

    return NGX_HTTP_FORBIDDEN;
}


/* 495 / 496, or a 302 to the host's error page (error_page 495 496 = URL) */

static ngx_int_t
ngx_http_portico_ssl_refuse(ngx_http_request_t *r,
    ngx_http_portico_ssl_client_t *client, ngx_int_t status)
{
    ngx_table_elt_t  *location;

    if (client->error_page.len == 0) {
        return status;
    }

    location = ngx_list_push(&r->headers_out.headers);
    if (location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location->value.data = ngx_pstrdup(r->pool, &client->error_page);
    if (location->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location->value.len = client->error_page.len;
    location->hash = 1;
    ngx_str_set(&location->key, "Location");

    ngx_http_clear_location(r);
    r->headers_out.location = location;

    return NGX_HTTP_MOVED_TEMPORARILY;
}


/* $portico_ssl_client_*: nginx's $ssl_client_* for a host with settings */

static ngx_int_t
ngx_http_portico_ssl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                     s;
    ngx_http_portico_ssl_var_t   *var;
    ngx_http_portico_ssl_host_t  *host;

    var = &ngx_http_portico_ssl_vars[data];

    host = r->connection->ssl ? ngx_http_portico_ssl_client_host(r, NULL)
                              : NULL;

    if (host == NULL
        || host->client->verify == NGX_HTTP_PORTICO_VERIFY_DENY
        || (var->pass_cert && !host->client->pass_cert))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    if (var->get(r->connection, r->pool, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    v->len = s.len;
    v->data = s.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
