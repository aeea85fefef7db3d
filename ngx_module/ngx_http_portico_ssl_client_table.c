
/*
 * ngx_http_portico_ssl_module: client certificate settings in the
 * certificate table (docs/certificates.md, "Client certificates"): the
 * words that may end a host line, checked and kept with the table, and
 * the CA files they name, loaded into the worker's cache.  What the
 * settings do in handshakes and requests is in
 * ngx_http_portico_ssl_client.c.
 *
 *   host H STEM ca=CASTEM verify=on|optional|optional_no_ca|off
 *               [depth=N] [cn=REGEX] [error-page=URL] [pass-cert=on]
 *   host H STEM verify=deny
 */


#include "ngx_http_portico_ssl_module.h"


#define NGX_HTTP_PORTICO_WORD_CA             0x01
#define NGX_HTTP_PORTICO_WORD_VERIFY         0x02
#define NGX_HTTP_PORTICO_WORD_DEPTH          0x04
#define NGX_HTTP_PORTICO_WORD_CN             0x08
#define NGX_HTTP_PORTICO_WORD_ERROR_PAGE     0x10
#define NGX_HTTP_PORTICO_WORD_PASS_CERT      0x20


static ngx_int_t ngx_http_portico_ssl_word(ngx_http_portico_ssl_table_t *table,
    ngx_http_portico_ssl_client_t *client, ngx_str_t *key, ngx_str_t *value,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
static ngx_int_t ngx_http_portico_ssl_decode(ngx_pool_t *pool,
    ngx_str_t *value, ngx_str_t *out);
static ngx_int_t ngx_http_portico_ssl_check_url(ngx_str_t *url);
static ngx_int_t ngx_http_portico_ssl_cn_compile(
    ngx_http_portico_ssl_table_t *table, ngx_http_portico_ssl_client_t *client,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
static void ngx_http_portico_ssl_regex_free(void *data);
static void ngx_http_portico_ssl_match_free(void *data);


/* the table: the words after "host H STEM" */

ngx_int_t
ngx_http_portico_ssl_client_parse(ngx_http_portico_ssl_table_t *table,
    ngx_http_portico_ssl_host_t *host, ngx_str_t *word, ngx_uint_t n,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    u_char                         *eq;
    ngx_str_t                       key, value;
    ngx_uint_t                      i;
    ngx_http_portico_ssl_client_t  *client;

    client = ngx_pcalloc(table->pool, sizeof(ngx_http_portico_ssl_client_t));
    if (client == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    client->verify = NGX_CONF_UNSET_UINT;
    client->depth = NGX_CONF_UNSET_UINT;

    for (i = 0; i < n; i++) {
        eq = ngx_strlchr(word[i].data, word[i].data + word[i].len, '=');

        if (eq == NULL || eq == word[i].data
            || eq == word[i].data + word[i].len - 1)
        {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid word \"%V\", "
                                               "expected KEY=VALUE",
                                               &word[i]);
        }

        key.data = word[i].data;
        key.len = eq - word[i].data;
        value.data = eq + 1;
        value.len = word[i].data + word[i].len - value.data;

        if (ngx_http_portico_ssl_word(table, client, &key, &value, line, err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (client->verify == NGX_CONF_UNSET_UINT) {
        return ngx_http_portico_route_fail(err, line,
                                           "client certificate words need "
                                           "\"verify=\"");
    }

    if (client->verify == NGX_HTTP_PORTICO_VERIFY_DENY) {
        if (n != 1) {
            return ngx_http_portico_route_fail(err, line,
                                               "\"verify=deny\" takes no "
                                               "other words");
        }

    } else if (client->ca.len == 0) {
        return ngx_http_portico_route_fail(err, line,
                                           "\"verify=\" needs \"ca=STEM\"");
    }

    if (client->depth == NGX_CONF_UNSET_UINT) {
        client->depth = NGX_HTTP_PORTICO_VERIFY_DEPTH;
    }

    if (client->ca.len
        && ngx_http_portico_route_names_find(&table->cas, client->ca.data,
                                             client->ca.len)
           == NULL
        && ngx_http_portico_route_names_add(&table->cas, &client->ca, host)
           != NGX_OK)
    {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    host->client = client;
    table->nclients++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_ssl_word(ngx_http_portico_ssl_table_t *table,
    ngx_http_portico_ssl_client_t *client, ngx_str_t *key, ngx_str_t *value,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    ngx_int_t   n;
    ngx_uint_t  bit;

    if (ngx_http_portico_ssl_is(key, "ca")) {
        bit = NGX_HTTP_PORTICO_WORD_CA;

    } else if (ngx_http_portico_ssl_is(key, "verify")) {
        bit = NGX_HTTP_PORTICO_WORD_VERIFY;

    } else if (ngx_http_portico_ssl_is(key, "depth")) {
        bit = NGX_HTTP_PORTICO_WORD_DEPTH;

    } else if (ngx_http_portico_ssl_is(key, "cn")) {
        bit = NGX_HTTP_PORTICO_WORD_CN;

    } else if (ngx_http_portico_ssl_is(key, "error-page")) {
        bit = NGX_HTTP_PORTICO_WORD_ERROR_PAGE;

    } else if (ngx_http_portico_ssl_is(key, "pass-cert")) {
        bit = NGX_HTTP_PORTICO_WORD_PASS_CERT;

    } else {
        return ngx_http_portico_route_fail(err, line, "unknown word \"%V=\"",
                                           key);
    }

    /* each word at most once: a set value means "seen" */

    switch (bit) {

    case NGX_HTTP_PORTICO_WORD_CA:
        if (client->ca.len) {
            goto twice;
        }

        if (ngx_http_portico_ssl_check_stem(value) != NGX_OK) {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid CA stem \"%V\", "
                                               "1-%d characters "
                                               "[A-Za-z0-9._-], not "
                                               "starting with \".\"", value,
                                               NGX_HTTP_PORTICO_CERTS_STEM_MAX);
        }

        client->ca = *value;
        return NGX_OK;

    case NGX_HTTP_PORTICO_WORD_VERIFY:
        if (client->verify != NGX_CONF_UNSET_UINT) {
            goto twice;
        }

        if (ngx_http_portico_ssl_is(value, "on")) {
            client->verify = NGX_HTTP_PORTICO_VERIFY_ON;

        } else if (ngx_http_portico_ssl_is(value, "off")) {
            client->verify = NGX_HTTP_PORTICO_VERIFY_OFF;

        } else if (ngx_http_portico_ssl_is(value, "optional")) {
            client->verify = NGX_HTTP_PORTICO_VERIFY_OPTIONAL;

        } else if (ngx_http_portico_ssl_is(value, "optional_no_ca")) {
            client->verify = NGX_HTTP_PORTICO_VERIFY_OPTIONAL_NO_CA;

        } else if (ngx_http_portico_ssl_is(value, "deny")) {
            client->verify = NGX_HTTP_PORTICO_VERIFY_DENY;

        } else {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid \"verify=%V\", "
                                               "expected on, off, optional, "
                                               "optional_no_ca or deny",
                                               value);
        }

        return NGX_OK;

    case NGX_HTTP_PORTICO_WORD_DEPTH:
        if (client->depth != NGX_CONF_UNSET_UINT) {
            goto twice;
        }

        n = ngx_atoi(value->data, value->len);

        if (n < 1 || n > NGX_HTTP_PORTICO_VERIFY_DEPTH_MAX) {
            return ngx_http_portico_route_fail(err, line,
                                           "invalid \"depth=%V\", "
                                           "expected 1-%d", value,
                                           NGX_HTTP_PORTICO_VERIFY_DEPTH_MAX);
        }

        client->depth = n;
        return NGX_OK;

    case NGX_HTTP_PORTICO_WORD_CN:
        if (client->cn.data != NULL) {
            goto twice;
        }

        if (ngx_http_portico_ssl_decode(table->pool, value, &client->cn)
            != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid \"cn=\": 1-%d bytes, "
                                               "%%XX for a byte outside "
                                               "0x21-0x7e or '%%', no NUL",
                                               NGX_HTTP_PORTICO_CN_MAX);
        }

        return ngx_http_portico_ssl_cn_compile(table, client, line, err);

    case NGX_HTTP_PORTICO_WORD_ERROR_PAGE:
        if (client->error_page.len) {
            goto twice;
        }

        if (ngx_http_portico_ssl_check_url(value) != NGX_OK) {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid \"error-page=%V\", "
                                               "expected an http:// or "
                                               "https:// URL of at most %d "
                                               "bytes", value,
                                               NGX_HTTP_PORTICO_ERROR_PAGE_MAX);
        }

        client->error_page = *value;
        return NGX_OK;

    default: /* NGX_HTTP_PORTICO_WORD_PASS_CERT */
        if (client->pass_cert) {
            goto twice;
        }

        if (!ngx_http_portico_ssl_is(value, "on")) {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid \"pass-cert=%V\", "
                                               "expected on", value);
        }

        client->pass_cert = 1;
        return NGX_OK;
    }

twice:

    return ngx_http_portico_route_fail(err, line, "\"%V=\" given twice", key);
}


/* %XX-decoded into pool: 1-NGX_HTTP_PORTICO_CN_MAX bytes, no NUL */

static ngx_int_t
ngx_http_portico_ssl_decode(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *out)
{
    u_char      *p, *d, *last, hi, lo;
    ngx_int_t    h, l;

    out->data = ngx_pnalloc(pool, value->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {

        if (*p != '%') {
            *d++ = *p;
            continue;
        }

        if (last - p < 3) {
            return NGX_ERROR;
        }

        hi = p[1];
        lo = p[2];

        h = ngx_hextoi(&hi, 1);
        l = ngx_hextoi(&lo, 1);

        if (h == NGX_ERROR || l == NGX_ERROR || (h == 0 && l == 0)) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (h << 4 | l);
        p += 2;
    }

    out->len = d - out->data;

    if (out->len == 0 || out->len > NGX_HTTP_PORTICO_CN_MAX) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* http:// or https://, then URL characters (RFC 3986), a Location value */

static ngx_int_t
ngx_http_portico_ssl_check_url(ngx_str_t *url)
{
    u_char      *p, *last;
    size_t       skip;

    if (url->len > NGX_HTTP_PORTICO_ERROR_PAGE_MAX) {
        return NGX_ERROR;
    }

    if (url->len > 7 && ngx_strncmp(url->data, "http://", 7) == 0) {
        skip = 7;

    } else if (url->len > 8 && ngx_strncmp(url->data, "https://", 8) == 0) {
        skip = 8;

    } else {
        return NGX_ERROR;
    }

    last = url->data + url->len;

    for (p = url->data + skip; p < last; p++) {

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9'))
        {
            continue;
        }

        if (ngx_strlchr((u_char *) "-._~:/?#[]@!$&'()*+,;=%",
                        (u_char *) "-._~:/?#[]@!$&'()*+,;=%" + 23, *p)
            == NULL)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A CN regex, compiled once per table however many hosts use it; PCRE2
 * with nginx's semantics for "~" (case-sensitive, unanchored), run with
 * match limits (ngx_http_portico_ssl_check_cn).
 */

static ngx_int_t
ngx_http_portico_ssl_cn_compile(ngx_http_portico_ssl_table_t *table,
    ngx_http_portico_ssl_client_t *client, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    int                  errcode;
    PCRE2_SIZE           erroffset;
    pcre2_code          *re;
    ngx_pool_cleanup_t  *cln;
    u_char               message[128];

    re = ngx_http_portico_route_names_find(&table->regexes, client->cn.data,
                                           client->cn.len);
    if (re != NULL) {
        client->cn_re = re;
        return NGX_OK;
    }

    if (table->match_data == NULL) {
        cln = ngx_pool_cleanup_add(table->pool, 0);
        if (cln == NULL) {
            return ngx_http_portico_route_fail(err, line, "out of memory");
        }

        table->match_data = pcre2_match_data_create(1, NULL);
        table->match_ctx = pcre2_match_context_create(NULL);

        cln->handler = ngx_http_portico_ssl_match_free;
        cln->data = table;

        if (table->match_data == NULL || table->match_ctx == NULL
            || pcre2_set_match_limit(table->match_ctx,
                                     NGX_HTTP_PORTICO_CN_MATCH_LIMIT)
               != 0
            || pcre2_set_depth_limit(table->match_ctx,
                                     NGX_HTTP_PORTICO_CN_DEPTH_LIMIT)
               != 0
            || pcre2_set_heap_limit(table->match_ctx,
                                    NGX_HTTP_PORTICO_CN_HEAP_LIMIT)
               != 0)
        {
            return ngx_http_portico_route_fail(err, line, "out of memory");
        }
    }

    cln = ngx_pool_cleanup_add(table->pool, 0);
    if (cln == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    re = pcre2_compile(client->cn.data, client->cn.len, 0, &errcode,
                       &erroffset, NULL);
    if (re == NULL) {
        cln->handler = NULL;

        if (pcre2_get_error_message(errcode, message, sizeof(message)) < 0) {
            ngx_cpystrn(message, (u_char *) "unknown error", sizeof(message));
        }

        return ngx_http_portico_route_fail(err, line,
                                           "invalid \"cn=\" regex: %s at "
                                           "offset %uz", message,
                                           (size_t) erroffset);
    }

    cln->handler = ngx_http_portico_ssl_regex_free;
    cln->data = re;

    if (ngx_http_portico_route_names_add(&table->regexes, &client->cn, re)
        != NGX_OK)
    {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    client->cn_re = re;

    return NGX_OK;
}


static void
ngx_http_portico_ssl_regex_free(void *data)
{
    pcre2_code_free(data);
}


static void
ngx_http_portico_ssl_match_free(void *data)
{
    ngx_http_portico_ssl_table_t  *table = data;

    pcre2_match_data_free(table->match_data);
    pcre2_match_context_free(table->match_ctx);
}


/* a CA file: the certificates (trust anchors and client CA names), CRLs */

ngx_int_t
ngx_http_portico_ssl_ca_load(ngx_http_portico_ssl_pair_t *ca, ngx_str_t *dir,
    ngx_str_t *stem, ngx_log_t *log)
{
    BIO                     *bio;
    X509_NAME               *name;
    X509_INFO               *info;
    ngx_uint_t               i, n, ncerts, ncrls;
    STACK_OF(X509_INFO)     *infos;
    u_char                   path[NGX_MAX_PATH];

    if (ngx_http_portico_ssl_path(dir, stem, ".ca", path, sizeof(path))
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: path of \"%V.ca\" too long",
                      stem);
        return NGX_ERROR;
    }

    bio = BIO_new_file((char *) path, "r");
    if (bio == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: BIO_new_file(\"%s\") failed",
                      path);
        return NGX_ERROR;
    }

    infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (infos == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: cannot read the CA file \"%s\"",
                      path);
        return NGX_ERROR;
    }

    ca->store = X509_STORE_new();
    ca->names = sk_X509_NAME_new_null();

    ncerts = 0;
    ncrls = 0;

    n = (ngx_uint_t) sk_X509_INFO_num(infos);

    for (i = 0; ca->store != NULL && ca->names != NULL && i < n; i++) {
        info = sk_X509_INFO_value(infos, i);

        if (info->x509 != NULL) {
            name = X509_NAME_dup(X509_get_subject_name(info->x509));

            if (X509_STORE_add_cert(ca->store, info->x509) != 1
                || name == NULL
                || sk_X509_NAME_push(ca->names, name) == 0)
            {
                X509_NAME_free(name);
                break;
            }

            ncerts++;
        }

        if (info->crl != NULL) {
            if (X509_STORE_add_crl(ca->store, info->crl) != 1) {
                break;
            }

            ncrls++;
        }
    }

    if (ca->store == NULL || ca->names == NULL || i != n) {
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: cannot use the CA file \"%s\"",
                      path);
        return NGX_ERROR;
    }

    sk_X509_INFO_pop_free(infos, X509_INFO_free);

    if (ncerts == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: no certificate in the CA file "
                      "\"%s\"", path);
        return NGX_ERROR;
    }

    if (ncrls
        && X509_STORE_set_flags(ca->store, X509_V_FLAG_CRL_CHECK
                                           |X509_V_FLAG_CRL_CHECK_ALL)
           != 1)
    {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: X509_STORE_set_flags() failed");
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, log, 0,
                   "portico_certificates: CA file \"%V\": %ui certificates, "
                   "%ui CRLs", stem, ncerts, ncrls);

    return NGX_OK;
}
