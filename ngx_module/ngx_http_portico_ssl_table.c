
/*
 * ngx_http_portico_ssl_module: the certificate table file
 * (docs/certificates.md, "Table format, version 1") and the pairs of
 * certificate and key that a worker loaded from the files it names.
 *
 *   portico-certificates 1
 *   version 9c1d2e4b5a693f0a
 *   host example.com secret-0123456789abcdef
 *   host *.apps.example.com vault-fedcba9876543210
 *   host mtls.example.com secret-... ca=ca-0123456789abcdef verify=on
 *
 * (the words after the stem: ngx_http_portico_ssl_client.c)
 *
 * A table lives in its own pool: the file's bytes are read once into it
 * and every name and stem points into them.  Hosts are found in
 * open-addressing tables (O(1) at any number of hosts).
 */


#include "ngx_http_portico_ssl_module.h"


static ngx_int_t ngx_http_portico_ssl_table_parse(
    ngx_http_portico_ssl_table_t *table, ngx_str_t *text,
    ngx_http_portico_route_error_t *err);
static ngx_int_t ngx_http_portico_ssl_parse_line(
    ngx_http_portico_ssl_table_t *table, ngx_str_t *f, ngx_uint_t n,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
static ngx_int_t ngx_http_portico_ssl_parse_host(
    ngx_http_portico_ssl_table_t *table, ngx_str_t *f, ngx_uint_t n,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
static ngx_int_t ngx_http_portico_ssl_check_file(u_char *path,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
static ngx_http_portico_ssl_pair_t *ngx_http_portico_ssl_cached(
    ngx_http_portico_ssl_main_conf_t *smcf, ngx_str_t *key, ngx_log_t *log);
static ngx_int_t ngx_http_portico_ssl_load(ngx_http_portico_ssl_pair_t *pair,
    ngx_str_t *dir, ngx_log_t *log);
static void ngx_http_portico_ssl_pair_clear(
    ngx_http_portico_ssl_pair_t *pair);
static void ngx_http_portico_ssl_pair_free(
    ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_http_portico_ssl_pair_t *pair);
static int ngx_http_portico_ssl_no_password(char *buf, int size, int rwflag,
    void *userdata);


/* load */

ngx_http_portico_ssl_table_t *
ngx_http_portico_ssl_table_load(ngx_str_t *file, ngx_log_t *log,
    ngx_http_portico_route_error_t *err)
{
    ngx_str_t                          text;
    ngx_pool_t                        *pool;
    ngx_http_portico_ssl_table_t      *table;
    ngx_http_portico_route_file_id_t   id;

    pool = ngx_http_portico_read_table(file, NGX_HTTP_PORTICO_CERTS_FILE_MAX,
                                       log, &text, &id, err);
    if (pool == NULL) {
        return NULL;
    }

    table = ngx_pcalloc(pool, sizeof(ngx_http_portico_ssl_table_t));

    if (table == NULL) {
        (void) ngx_http_portico_route_fail(err, 0, "out of memory");

    } else {
        table->pool = pool;
        table->id = id;

        if (ngx_http_portico_ssl_table_parse(table, &text, err) == NGX_OK) {
            return table;
        }
    }

    ngx_destroy_pool(pool);

    return NULL;
}


void
ngx_http_portico_ssl_table_free(ngx_http_portico_ssl_table_t *table)
{
    if (table != NULL) {
        ngx_destroy_pool(table->pool);
    }
}


static ngx_int_t
ngx_http_portico_ssl_table_parse(ngx_http_portico_ssl_table_t *table,
    ngx_str_t *text, ngx_http_portico_route_error_t *err)
{
    u_char      *p, *nl, *end;
    ngx_str_t    field[NGX_HTTP_PORTICO_CERTS_FIELDS_MAX];
    ngx_uint_t   line, nfields, maxhosts;

    end = text->data + text->len;

    /* bounds for the arrays, from a first pass over the lines */

    maxhosts = 0;

    for (p = text->data; p < end; p = nl + 1) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            break;
        }

        if (nl - p > 5 && ngx_strncmp(p, "host ", 5) == 0) {
            maxhosts++;
        }
    }

    table->hosts = ngx_palloc(table->pool,
                              (maxhosts + 1)
                              * sizeof(ngx_http_portico_ssl_host_t));

    if (table->hosts == NULL
        || ngx_http_portico_route_names_init(&table->exact, table->pool,
                                             maxhosts)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->wildcards, table->pool,
                                             maxhosts)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->stems, table->pool,
                                             maxhosts)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->cas, table->pool,
                                             maxhosts)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->regexes, table->pool,
                                             maxhosts)
           != NGX_OK)
    {
        return ngx_http_portico_route_fail(err, 0, "out of memory");
    }

    line = 0;

    for (p = text->data; p < end; p = nl + 1) {
        line++;

        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            return ngx_http_portico_route_fail(err, line,
                                               "no newline at the end of "
                                               "the last line");
        }

        if (nl - p > NGX_HTTP_PORTICO_CERTS_LINE_MAX) {
            return ngx_http_portico_route_fail(err, line,
                                               "line longer than %d bytes",
                                               NGX_HTTP_PORTICO_CERTS_LINE_MAX);
        }

        if (ngx_http_portico_split(p, nl, field,
                                   NGX_HTTP_PORTICO_CERTS_FIELDS_MAX,
                                   &nfields, line, err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_portico_ssl_parse_line(table, field, nfields, line, err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (line < 2) {
        return ngx_http_portico_route_fail(err, line + 1,
                                           line == 0
                                           ? "empty file, expected "
                                             "\"portico-certificates 1\""
                                           : "expected \"version V\"");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_ssl_parse_line(ngx_http_portico_ssl_table_t *table,
    ngx_str_t *f, ngx_uint_t n, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    if (line == 1) {
        if (n != 2 || !ngx_http_portico_ssl_is(&f[0], "portico-certificates"))
        {
            return ngx_http_portico_route_fail(err, line,
                                               "expected "
                                               "\"portico-certificates 1\"");
        }

        if (!ngx_http_portico_ssl_is(&f[1], "1")) {
            return ngx_http_portico_route_fail(err, line,
                                               "unsupported table format "
                                               "\"%V\", expected 1", &f[1]);
        }

        return NGX_OK;
    }

    if (line == 2) {
        if (n != 2 || !ngx_http_portico_ssl_is(&f[0], "version")
            || ngx_http_portico_route_check_token(&f[1],
                                          NGX_HTTP_PORTICO_ROUTES_VERSION_MAX)
               != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line,
                                               "expected \"version V\", "
                                               "V of 1-%d characters "
                                               "[0-9a-z]",
                                          NGX_HTTP_PORTICO_ROUTES_VERSION_MAX);
        }

        table->version = f[1];

        return NGX_OK;
    }

    if (ngx_http_portico_ssl_is(&f[0], "host")) {
        return ngx_http_portico_ssl_parse_host(table, f, n, line, err);
    }

    return ngx_http_portico_route_fail(err, line, "unknown line \"%V\"",
                                       &f[0]);
}


static ngx_int_t
ngx_http_portico_ssl_parse_host(ngx_http_portico_ssl_table_t *table,
    ngx_str_t *f, ngx_uint_t n, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    ngx_int_t                     rc;
    ngx_http_portico_ssl_host_t  *host, *first;

    if (n < 3) {
        return ngx_http_portico_route_fail(err, line,
                                           "expected \"host H STEM "
                                           "[WORDS]\"");
    }

    host = &table->hosts[table->nhosts];

    host->pattern = f[1];
    host->stem = f[2];
    host->line = line;
    host->client = NULL;

    if (f[2].len == 1 && f[2].data[0] == '-') {
        /* the default certificate */
        host->stem.len = 0;
    }

    if (f[1].len > 2 && f[1].data[0] == '*' && f[1].data[1] == '.') {
        host->name.data = f[1].data + 2;
        host->name.len = f[1].len - 2;

    } else {
        host->name = f[1];
    }

    if (ngx_http_portico_route_check_domain(&host->name) != NGX_OK) {
        return ngx_http_portico_route_fail(err, line, "invalid host \"%V\"",
                                           &f[1]);
    }

    if (host->stem.len
        && ngx_http_portico_ssl_check_stem(&host->stem) != NGX_OK)
    {
        return ngx_http_portico_route_fail(err, line,
                                           "invalid stem \"%V\", 1-%d "
                                           "characters [A-Za-z0-9._-], not "
                                           "starting with \".\"", &f[2],
                                           NGX_HTTP_PORTICO_CERTS_STEM_MAX);
    }

    rc = ngx_http_portico_route_names_add(host->name.data == f[1].data
                                          ? &table->exact : &table->wildcards,
                                          &host->name, host);
    if (rc == NGX_BUSY) {
        return ngx_http_portico_route_fail(err, line, "duplicate host \"%V\"",
                                           &f[1]);
    }

    if (rc != NGX_OK) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    if (n > 3
        && ngx_http_portico_ssl_client_parse(table, host, &f[3], n - 3, line,
                                             err)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    first = host->stem.len
            ? ngx_http_portico_route_names_find(&table->stems,
                                                host->stem.data,
                                                host->stem.len)
            : host;
    if (first == NULL) {
        if (ngx_http_portico_route_names_add(&table->stems, &host->stem, host)
            != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line, "out of memory");
        }

        table->nstems++;
    }

    table->nhosts++;

    return NGX_OK;
}


/*
 * At configuration time: every stem's two files (and every CA file) are
 * regular files, so a table naming files that are not there fails
 * "nginx -t" with its line.
 * Whether they parse is the controller's check (vault/tlspair.h) and the
 * workers' (an unusable pair is logged and served with the default
 * certificate).
 */

ngx_int_t
ngx_http_portico_ssl_table_check_files(ngx_http_portico_ssl_table_t *table,
    ngx_str_t *dir, ngx_http_portico_route_error_t *err)
{
    ngx_uint_t                     i, e;
    ngx_http_portico_ssl_host_t   *host, *first;
    u_char                         path[NGX_MAX_PATH];
    static const char             *ext[] = { ".crt", ".key" };

    for (i = 0; i < table->nhosts; i++) {
        host = &table->hosts[i];

        if (host->client != NULL && host->client->ca.len
            && ngx_http_portico_route_names_find(&table->cas,
                                                 host->client->ca.data,
                                                 host->client->ca.len)
               == host)
        {
            if (ngx_http_portico_ssl_path(dir, &host->client->ca, ".ca",
                                          path, sizeof(path))
                == NULL)
            {
                return ngx_http_portico_route_fail(err, host->line,
                                                   "path of \"%V.ca\" too "
                                                   "long", &host->client->ca);
            }

            if (ngx_http_portico_ssl_check_file(path, host->line, err)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (host->stem.len == 0) {
            continue;   /* the default certificate */
        }

        first = ngx_http_portico_route_names_find(&table->stems,
                                                  host->stem.data,
                                                  host->stem.len);
        if (first != host) {
            continue;   /* checked at its first host */
        }

        for (e = 0; e < 2; e++) {
            if (ngx_http_portico_ssl_path(dir, &host->stem, ext[e], path,
                                          sizeof(path))
                == NULL)
            {
                return ngx_http_portico_route_fail(err, host->line,
                                                   "path of \"%V%s\" too "
                                                   "long", &host->stem,
                                                   ext[e]);
            }

            if (ngx_http_portico_ssl_check_file(path, host->line, err)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_ssl_check_file(u_char *path, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    u_char           *last;
    ngx_file_info_t   fi;
    u_char            reason[NGX_MAX_ERROR_STR];

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
        last = ngx_strerror(ngx_errno, reason, NGX_MAX_ERROR_STR);
        return ngx_http_portico_route_fail(err, line,
                                           "cannot use \"%s\" (%*s)",
                                           path, last - reason, reason);
    }

    if (!ngx_is_file(&fi)) {
        return ngx_http_portico_route_fail(err, line,
                                           "\"%s\" is not a regular file",
                                           path);
    }

    return NGX_OK;
}


/* lookup: the exact name, else "*." + the name without its first label */

ngx_http_portico_ssl_host_t *
ngx_http_portico_ssl_find_host(ngx_http_portico_ssl_table_t *table,
    u_char *name, size_t len)
{
    u_char                       *dot, *last;
    ngx_http_portico_ssl_host_t  *host;

    host = ngx_http_portico_route_names_find(&table->exact, name, len);
    if (host != NULL) {
        return host;
    }

    last = name + len;
    dot = ngx_strlchr(name, last, '.');

    if (dot == NULL || dot == name || dot + 1 >= last) {
        return NULL;
    }

    return ngx_http_portico_route_names_find(&table->wildcards, dot + 1,
                                             last - dot - 1);
}


/* the pair cache */

void
ngx_http_portico_ssl_cache_init(ngx_http_portico_ssl_main_conf_t *smcf)
{
    ngx_rbtree_init(&smcf->cache, &smcf->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&smcf->lru);
    smcf->cached = 0;
}


/*
 * The pair of a stem: cached, or loaded now (the handshake waits for two
 * small file reads and their parse); NULL if it cannot be used (logged,
 * not tried again for NGX_HTTP_PORTICO_CERTS_RETRY).
 */

ngx_http_portico_ssl_pair_t *
ngx_http_portico_ssl_pair(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_str_t *stem, ngx_log_t *log)
{
    ngx_http_portico_ssl_pair_t  *pair;

    pair = ngx_http_portico_ssl_cached(smcf, stem, log);

    if (pair == NULL || pair->cert != NULL || pair->failed_at != 0) {
        return pair != NULL && pair->cert != NULL ? pair : NULL;
    }

    if (ngx_http_portico_ssl_load(pair, &smcf->dir, log) != NGX_OK) {
        ngx_http_portico_ssl_pair_clear(pair);
        pair->failed_at = ngx_current_msec;
        return NULL;
    }

    return pair;
}


/* the X509_STORE of a CA file (client certificates), like a pair */

ngx_http_portico_ssl_pair_t *
ngx_http_portico_ssl_ca(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_str_t *stem, ngx_log_t *log)
{
    ngx_str_t                     key;
    ngx_http_portico_ssl_pair_t  *ca;
    u_char                        buf[sizeof(NGX_HTTP_PORTICO_CA_KEY) - 1
                                      + NGX_HTTP_PORTICO_CERTS_STEM_MAX];

    if (stem->len > NGX_HTTP_PORTICO_CERTS_STEM_MAX) {
        return NULL;
    }

    key.data = buf;
    key.len = ngx_cpymem(ngx_cpymem(buf, NGX_HTTP_PORTICO_CA_KEY,
                                    sizeof(NGX_HTTP_PORTICO_CA_KEY) - 1),
                         stem->data, stem->len)
              - buf;

    ca = ngx_http_portico_ssl_cached(smcf, &key, log);

    if (ca == NULL || ca->store != NULL || ca->failed_at != 0) {
        return ca != NULL && ca->store != NULL ? ca : NULL;
    }

    if (ngx_http_portico_ssl_ca_load(ca, &smcf->dir, stem, log) != NGX_OK) {
        ngx_http_portico_ssl_pair_clear(ca);
        ca->failed_at = ngx_current_msec;
        return NULL;
    }

    return ca;
}


/*
 * The cache entry of key, the most recent now: loaded, failed less than
 * NGX_HTTP_PORTICO_CERTS_RETRY ago (failed_at set), or to be loaded by
 * the caller (empty, failed_at 0); NULL when out of memory.
 */

static ngx_http_portico_ssl_pair_t *
ngx_http_portico_ssl_cached(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_str_t *key, ngx_log_t *log)
{
    uint32_t                      hash;
    ngx_queue_t                  *q;
    ngx_http_portico_ssl_pair_t  *pair;

    hash = ngx_crc32_short(key->data, key->len);

    pair = (ngx_http_portico_ssl_pair_t *)
               ngx_str_rbtree_lookup(&smcf->cache, key, hash);

    if (pair != NULL) {
        ngx_queue_remove(&pair->queue);
        ngx_queue_insert_head(&smcf->lru, &pair->queue);

        if (pair->failed_at != 0
            && ngx_current_msec - pair->failed_at
               >= NGX_HTTP_PORTICO_CERTS_RETRY)
        {
            pair->failed_at = 0;    /* time to try again */
        }

        return pair;
    }

    pair = ngx_alloc(sizeof(ngx_http_portico_ssl_pair_t) + key->len, log);
    if (pair == NULL) {
        return NULL;
    }

    ngx_memzero(pair, sizeof(ngx_http_portico_ssl_pair_t));

    pair->sn.str.data = (u_char *) (pair + 1);
    pair->sn.str.len = key->len;
    ngx_memcpy(pair->sn.str.data, key->data, key->len);
    pair->sn.node.key = hash;

    ngx_rbtree_insert(&smcf->cache, &pair->sn.node);
    ngx_queue_insert_head(&smcf->lru, &pair->queue);
    smcf->cached++;

    /* the least recently used entries make room (never this new one) */

    while (smcf->cached > smcf->cache_max) {
        q = ngx_queue_last(&smcf->lru);
        ngx_http_portico_ssl_pair_free(smcf,
            ngx_queue_data(q, ngx_http_portico_ssl_pair_t, queue));
    }

    return pair;
}


/*
 * After a swap: only the pairs and CA files some host of the table names
 * stay; NULL: none.
 */

void
ngx_http_portico_ssl_cache_sweep(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_http_portico_ssl_table_t *table)
{
    size_t                        skip;
    ngx_queue_t                  *q, *next;
    ngx_http_portico_route_names_t  *names;
    ngx_http_portico_ssl_pair_t  *pair;

    for (q = ngx_queue_head(&smcf->lru);
         q != ngx_queue_sentinel(&smcf->lru);
         q = next)
    {
        next = ngx_queue_next(q);
        pair = ngx_queue_data(q, ngx_http_portico_ssl_pair_t, queue);

        /* "ca:" cannot start a stem (no ':' in stems) */

        skip = 0;
        names = table ? &table->stems : NULL;

        if (pair->sn.str.len > sizeof(NGX_HTTP_PORTICO_CA_KEY) - 1
            && ngx_strncmp(pair->sn.str.data, NGX_HTTP_PORTICO_CA_KEY,
                           sizeof(NGX_HTTP_PORTICO_CA_KEY) - 1)
               == 0)
        {
            skip = sizeof(NGX_HTTP_PORTICO_CA_KEY) - 1;
            names = table ? &table->cas : NULL;
        }

        if (names != NULL
            && ngx_http_portico_route_names_find(names,
                                                 pair->sn.str.data + skip,
                                                 pair->sn.str.len - skip)
               != NULL)
        {
            continue;
        }

        ngx_http_portico_ssl_pair_free(smcf, pair);
    }
}


static void
ngx_http_portico_ssl_pair_free(ngx_http_portico_ssl_main_conf_t *smcf,
    ngx_http_portico_ssl_pair_t *pair)
{
    ngx_rbtree_delete(&smcf->cache, &pair->sn.node);
    ngx_queue_remove(&pair->queue);
    smcf->cached--;

    ngx_http_portico_ssl_pair_clear(pair);
    ngx_free(pair);
}


static void
ngx_http_portico_ssl_pair_clear(ngx_http_portico_ssl_pair_t *pair)
{
    if (pair->chain != NULL) {
        sk_X509_pop_free(pair->chain, X509_free);
        pair->chain = NULL;
    }

    X509_free(pair->cert);
    pair->cert = NULL;

    EVP_PKEY_free(pair->key);
    pair->key = NULL;

    X509_STORE_free(pair->store);
    pair->store = NULL;

    if (pair->names != NULL) {
        sk_X509_NAME_pop_free(pair->names, X509_NAME_free);
        pair->names = NULL;
    }
}


/* DIR/STEM.crt (leaf, then its chain) and DIR/STEM.key, which must match */

static ngx_int_t
ngx_http_portico_ssl_load(ngx_http_portico_ssl_pair_t *pair, ngx_str_t *dir,
    ngx_log_t *log)
{
    BIO            *bio;
    X509           *x509;
    u_long          n;
    u_char          crt[NGX_MAX_PATH], key[NGX_MAX_PATH];

    if (ngx_http_portico_ssl_path(dir, &pair->sn.str, ".crt", crt,
                                  sizeof(crt))
        == NULL
        || ngx_http_portico_ssl_path(dir, &pair->sn.str, ".key", key,
                                     sizeof(key))
           == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: path of \"%V\" too long",
                      &pair->sn.str);
        return NGX_ERROR;
    }

    bio = BIO_new_file((char *) crt, "r");
    if (bio == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: BIO_new_file(\"%s\") failed",
                      crt);
        return NGX_ERROR;
    }

    pair->cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    pair->chain = sk_X509_new_null();

    if (pair->cert == NULL || pair->chain == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: no certificate in \"%s\"", crt);
        BIO_free(bio);
        return NGX_ERROR;
    }

    for ( ;; ) {
        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (x509 == NULL) {
            n = ERR_peek_last_error();

            if (ERR_GET_LIB(n) == ERR_LIB_PEM
                && ERR_GET_REASON(n) == PEM_R_NO_START_LINE)
            {
                /* the end of the file */
                ERR_clear_error();
                break;
            }

            ngx_ssl_error(NGX_LOG_ERR, log, 0,
                          "portico_certificates: bad chain in \"%s\"", crt);
            BIO_free(bio);
            return NGX_ERROR;
        }

        if (sk_X509_push(pair->chain, x509) == 0) {
            X509_free(x509);
            ngx_ssl_error(NGX_LOG_ERR, log, 0,
                          "portico_certificates: sk_X509_push() failed");
            BIO_free(bio);
            return NGX_ERROR;
        }
    }

    BIO_free(bio);

    bio = BIO_new_file((char *) key, "r");
    if (bio == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: BIO_new_file(\"%s\") failed",
                      key);
        return NGX_ERROR;
    }

    /* an encrypted key fails: there is nobody to ask for a password */

    pair->key = PEM_read_bio_PrivateKey(bio, NULL,
                                        ngx_http_portico_ssl_no_password,
                                        NULL);
    BIO_free(bio);

    if (pair->key == NULL) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: no usable key in \"%s\"", key);
        return NGX_ERROR;
    }

    if (X509_check_private_key(pair->cert, pair->key) != 1) {
        ngx_ssl_error(NGX_LOG_ERR, log, 0,
                      "portico_certificates: the key \"%s\" does not match "
                      "the certificate \"%s\"", key, crt);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                   "portico_certificates: loaded \"%V\"", &pair->sn.str);

    return NGX_OK;
}


static int
ngx_http_portico_ssl_no_password(char *buf, int size, int rwflag,
    void *userdata)
{
    return 0;
}
