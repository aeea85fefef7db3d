
/*
 * ngx_http_portico_route_module: canary releases (docs/routes.md, the
 * "canary=" words), with ingress-nginx's precedence: the header, then the
 * cookie, then the weight.
 *
 *   prefix /shop u_shop_80 canary=u_shop2_80 canary-weight=10/100
 *       canary-header=X-Canary canary-header-value=yes canary-cookie=beta
 *
 * A request of such a rule goes to the canary's upstream, through the
 * rule's profile, when its header says so ("always", the value, or a match
 * of the pattern; "never" keeps it on the rule's upstream; anything else
 * is no opinion), else its cookie ("always" or "never"), else with the
 * probability weight/total.  The choice is made once per request.
 */


#include "ngx_http_portico_route_module.h"


static ngx_int_t ngx_http_portico_route_canary_by_header(
    ngx_http_request_t *r, ngx_http_portico_route_canary_t *c,
    ngx_http_portico_route_matcher_t *m);
static ngx_table_elt_t *ngx_http_portico_route_canary_header(
    ngx_http_request_t *r, ngx_str_t *name);
static ngx_int_t ngx_http_portico_route_canary_label(ngx_str_t *value);


/* one "canary*=" word of a rule: NGX_DECLINED when key is not one */

ngx_int_t
ngx_http_portico_route_canary_word(ngx_http_portico_route_target_t *target,
    ngx_str_t *key, ngx_str_t *value, ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    u_char                           *slash;
    ngx_int_t                         n;
    ngx_str_t                        *dup;
    ngx_pool_t                       *pool;
    ngx_http_portico_route_canary_t  *c;

    if (key->len < 6 || ngx_strncmp(key->data, "canary", 6) != 0) {
        return NGX_DECLINED;
    }

    pool = table->pool;
    c = target->canary;

    if (c == NULL) {
        c = ngx_pcalloc(pool, sizeof(ngx_http_portico_route_canary_t));
        if (c == NULL) {
            return ngx_http_portico_route_fail(err, line, "out of memory");
        }

        c->total = 100;
        target->canary = c;
    }

    dup = NULL;

    if (key->len == 6) {

        if (c->upstream != NULL || c->entry != NULL) {
            goto twice;
        }

        c->entry = ngx_http_portico_route_names_find(&table->upstream_names,
                                                     value->data, value->len);
        if (c->entry == NULL) {
            c->upstream = ngx_http_portico_route_names_find(&refs->upstreams,
                                                            value->data,
                                                            value->len);
        }

        if (c->entry == NULL && c->upstream == NULL) {
            return ngx_http_portico_route_fail(err, line, "unknown canary "
                                               "upstream \"%V\"", value);
        }

        return NGX_OK;
    }

    if (key->len == sizeof("canary-weight") - 1
        && ngx_strncmp(key->data, "canary-weight", key->len) == 0)
    {
        if (c->weighted) {
            goto twice;
        }

        c->weighted = 1;

        slash = ngx_strlchr(value->data, value->data + value->len, '/');

        n = ngx_atoi(value->data, (slash ? slash : value->data + value->len)
                                  - value->data);

        if (slash != NULL) {
            c->total = ngx_atoi(slash + 1,
                                value->data + value->len - slash - 1);
        }

        if (n == NGX_ERROR || c->total == (ngx_uint_t) NGX_ERROR
            || c->total == 0
            || c->total > NGX_HTTP_PORTICO_CANARY_TOTAL_MAX
            || (ngx_uint_t) n > c->total)
        {
            return ngx_http_portico_route_fail(err, line, "invalid "
                                               "canary-weight \"%V\", "
                                               "W[/TOTAL] with W <= TOTAL "
                                               "<= %d expected", value,
                                             NGX_HTTP_PORTICO_CANARY_TOTAL_MAX);
        }

        c->weight = n;

        return NGX_OK;
    }

    if (key->len == sizeof("canary-header") - 1
        && ngx_strncmp(key->data, "canary-header", key->len) == 0)
    {
        dup = &c->header;

    } else if (key->len == sizeof("canary-header-value") - 1
               && ngx_strncmp(key->data, "canary-header-value", key->len)
                  == 0)
    {
        dup = &c->value;

    } else if (key->len == sizeof("canary-header-pattern") - 1
               && ngx_strncmp(key->data, "canary-header-pattern", key->len)
                  == 0)
    {
        dup = &c->pattern_text;

    } else if (key->len == sizeof("canary-cookie") - 1
               && ngx_strncmp(key->data, "canary-cookie", key->len) == 0)
    {
        dup = &c->cookie;

    } else if (key->len == sizeof("canary-name") - 1
               && ngx_strncmp(key->data, "canary-name", key->len) == 0)
    {
        /* a label value: [a-z0-9.-], as the hosts' */

        if (c->name.len) {
            goto twice;
        }

        if (value->len > NGX_HTTP_PORTICO_ROUTES_HOST_MAX
            || ngx_http_portico_route_canary_label(value) != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line, "invalid "
                                               "canary-name \"%V\", "
                                               "[a-z0-9.-]{1,253} expected",
                                               value);
        }

        c->name = *value;

        return NGX_OK;

    } else {
        return NGX_DECLINED;
    }

    if (dup->len) {
        goto twice;
    }

    if (value->len == 0) {
        return ngx_http_portico_route_fail(err, line, "empty \"%V\"", key);
    }

    *dup = *value;

    return NGX_OK;

twice:

    return ngx_http_portico_route_fail(err, line, "\"%V\" twice", key);
}


/* a non-empty label value of [a-z0-9.-] */

static ngx_int_t
ngx_http_portico_route_canary_label(ngx_str_t *value)
{
    u_char      ch;
    ngx_uint_t  i;

    if (value->len == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < value->len; i++) {
        ch = value->data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '.' || ch == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * After the rule's words: a canary names its upstream; a value or pattern
 * needs the header (one of them); the pattern is compiled (unanchored,
 * case-sensitive: ingress-nginx's ngx.re.match)
 */

ngx_int_t
ngx_http_portico_route_canary_check(ngx_http_portico_route_target_t *target,
    ngx_pool_t *regex_pool, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    ngx_http_portico_route_canary_t  *c;

    c = target->canary;

    if (c == NULL) {
        return NGX_OK;
    }

    if (c->upstream == NULL && c->entry == NULL) {
        return ngx_http_portico_route_fail(err, line, "canary words without "
                                           "\"canary=UPSTREAM\"");
    }

    if ((c->value.len || c->pattern_text.len) && c->header.len == 0) {
        return ngx_http_portico_route_fail(err, line, "\"canary-header-value"
                                           "=\" and \"canary-header-pattern"
                                           "=\" need \"canary-header=\"");
    }

    if (c->value.len && c->pattern_text.len) {
        return ngx_http_portico_route_fail(err, line, "\"canary-header-value"
                                           "=\" or \"canary-header-pattern"
                                           "=\", not both");
    }

    if (c->pattern_text.len == 0) {
        return NGX_OK;
    }

#if (NGX_PCRE2)

    c->pattern = ngx_http_portico_route_regex_new(&c->pattern_text, 0,
                                                  regex_pool, NULL, line,
                                                  err);

    return (c->pattern == NULL) ? NGX_ERROR : NGX_OK;

#else

    return ngx_http_portico_route_fail(err, line, "\"canary-header-pattern="
                                       "\" needs nginx built with PCRE2");

#endif
}


/* 1: this request goes to the canary, 0: to the rule's upstream */

ngx_uint_t
ngx_http_portico_route_canary_pick(ngx_http_request_t *r,
    ngx_http_portico_route_canary_t *c, ngx_http_portico_route_matcher_t *m)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    if (c->header.len) {
        rc = ngx_http_portico_route_canary_by_header(r, c, m);

        if (rc != NGX_DECLINED) {
            return rc == NGX_OK;
        }
    }

    if (c->cookie.len
        && ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                             &c->cookie, &value)
           != NGX_DECLINED)
    {
        if (value.len == 6 && ngx_strncmp(value.data, "always", 6) == 0) {
            return 1;
        }

        if (value.len == 5 && ngx_strncmp(value.data, "never", 5) == 0) {
            return 0;
        }
    }

    return c->weight && (ngx_uint_t) ngx_random() % c->total < c->weight;
}


/*
 * NGX_OK: the canary, NGX_ABORT: the rule's upstream, NGX_DECLINED: the
 * header has no say (absent, or another value)
 */

static ngx_int_t
ngx_http_portico_route_canary_by_header(ngx_http_request_t *r,
    ngx_http_portico_route_canary_t *c, ngx_http_portico_route_matcher_t *m)
{
    ngx_table_elt_t  *h;
#if (NGX_PCRE2)
    int               n;
#endif

    h = ngx_http_portico_route_canary_header(r, &c->header);

    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (c->value.len) {
        return (h->value.len == c->value.len
                && ngx_strncmp(h->value.data, c->value.data, c->value.len)
                   == 0)
               ? NGX_OK : NGX_DECLINED;
    }

#if (NGX_PCRE2)

    if (c->pattern != NULL) {

        if (!c->jit) {
            c->jit = 1;
            ngx_http_portico_route_regex_jit(c->pattern);
        }

        n = pcre2_match(c->pattern, h->value.data, h->value.len, 0, 0,
                        m->data, m->context);

        if (n >= 0) {
            return NGX_OK;
        }

        if (n == PCRE2_ERROR_NOMATCH) {
            return NGX_DECLINED;
        }

        /* as ingress-nginx: an error while matching keeps the request */

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "portico_routes: canary-header-pattern \"%V\" failed: "
                      "pcre2_match(): %d", &c->pattern_text, n);

        return NGX_ABORT;
    }

#endif

    if (h->value.len == 6 && ngx_strncmp(h->value.data, "always", 6) == 0) {
        return NGX_OK;
    }

    if (h->value.len == 5 && ngx_strncmp(h->value.data, "never", 5) == 0) {
        return NGX_ABORT;
    }

    return NGX_DECLINED;
}


/* the first request header of that name (any case), as $http_NAME */

static ngx_table_elt_t *
ngx_http_portico_route_canary_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}
