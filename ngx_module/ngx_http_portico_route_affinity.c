
/*
 * ngx_http_portico_route_module: session affinity by cookie
 * (docs/routes.md, the "affinity=" words), with ingress-nginx's cookie
 * attributes and modes.
 *
 *   prefix /shop u_shop_80 affinity=cookie:route affinity-max-age=3600
 *       affinity-samesite=Lax affinity-mode=persistent
 *
 * The cookie's value is "KEY.TAG": 16 hex digits of a key (persistent
 * mode: the peer's, an MD5 of the upstream's name and the peer's address;
 * balanced mode: a random key that the balancer ranks the peers by) and 8
 * of the tag of the upstream it is for (a CRC32 of its name), so that a
 * cookie of the rule's upstream and one of its canary's can be told
 * apart.  Nothing in it is per process: a worker, a table swap and a
 * restart read it alike.  Any other value is no cookie.  The balancer
 * (ngx_http_upstream_resolve_balancer.c) picks the peer; when it asks for
 * a new cookie, the route module's header filter sends it.
 */


#include "ngx_http_portico_route_module.h"


#define NGX_HTTP_PORTICO_AFFINITY_NAME_MAX   64
#define NGX_HTTP_PORTICO_AFFINITY_VALUE_LEN  (16 + 1 + 8)
#define NGX_HTTP_PORTICO_AFFINITY_SECONDS    10     /* digits */


static ngx_int_t ngx_http_portico_route_affinity_name(ngx_str_t *name);
static ngx_int_t ngx_http_portico_route_affinity_seconds(ngx_str_t *value);
static uint32_t ngx_http_portico_route_affinity_tag(
    ngx_http_portico_route_table_t *table,
    ngx_http_upstream_srv_conf_t *upstream,
    ngx_http_upstream_resolve_entry_t **entry);
static ngx_uint_t ngx_http_portico_route_affinity_decode(ngx_str_t *value,
    uint64_t *key, uint32_t *tag);
static ngx_uint_t ngx_http_portico_route_affinity_samesite_none(
    ngx_http_request_t *r);


static ngx_str_t  ngx_http_portico_samesite[] = {
    ngx_null_string,
    ngx_string("None"),
    ngx_string("Lax"),
    ngx_string("Strict")
};


/* one "affinity*=" word of a rule: NGX_DECLINED when key is not one */

ngx_int_t
ngx_http_portico_route_affinity_word(ngx_http_portico_route_target_t *target,
    ngx_str_t *key, ngx_str_t *value, ngx_http_portico_route_table_t *table,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    ngx_str_t                          *dup, name;
    ngx_uint_t                          i;
    ngx_http_portico_route_affinity_t  *a;

    if (key->len < 8 || ngx_strncmp(key->data, "affinity", 8) != 0) {
        return NGX_DECLINED;
    }

    a = target->affinity;

    if (a == NULL) {
        a = ngx_pcalloc(table->pool, sizeof(ngx_http_portico_route_affinity_t));
        if (a == NULL) {
            return ngx_http_portico_route_fail(err, line, "out of memory");
        }

        a->expires = -1;
        a->secure = -1;
        a->balanced = 1;
        target->affinity = a;
    }

#define ngx_http_portico_is_key(k)                                           \
    (key->len == sizeof(k) - 1 && ngx_strncmp(key->data, k, key->len) == 0)
#define ngx_http_portico_is_value(v)                                         \
    (value->len == sizeof(v) - 1                                             \
     && ngx_strncmp(value->data, v, value->len) == 0)

    if (ngx_http_portico_is_key("affinity")) {

        if (a->name.len) {
            goto twice;
        }

        name.data = value->data + sizeof("cookie:") - 1;
        name.len = value->len - (sizeof("cookie:") - 1);

        if (value->len <= sizeof("cookie:") - 1
            || ngx_strncmp(value->data, "cookie:", sizeof("cookie:") - 1) != 0
            || ngx_http_portico_route_affinity_name(&name) != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line, "invalid affinity "
                                               "\"%V\", cookie:NAME expected "
                                               "(NAME 1-%d of [A-Za-z0-9_-])",
                                               value,
                                         NGX_HTTP_PORTICO_AFFINITY_NAME_MAX);
        }

        a->name = name;

        return NGX_OK;
    }

    dup = NULL;

    if (ngx_http_portico_is_key("affinity-path")) {

        if (value->len == 0 || value->data[0] != '/') {
            goto invalid;
        }

        for (i = 0; i < value->len; i++) {
            if (value->data[i] == ';') {
                goto invalid;
            }
        }

        dup = &a->path;

    } else if (ngx_http_portico_is_key("affinity-domain")) {

        name = *value;

        if (name.len && name.data[0] == '.') {
            name.data++;
            name.len--;
        }

        if (ngx_http_portico_route_check_domain(&name) != NGX_OK) {
            goto invalid;
        }

        dup = &a->domain;

    } else if (ngx_http_portico_is_key("affinity-max-age")) {

        if (ngx_http_portico_route_affinity_seconds(value) == NGX_ERROR) {
            goto invalid;
        }

        dup = &a->max_age;

    } else if (ngx_http_portico_is_key("affinity-expires")) {

        if (a->expires != -1) {
            goto twice;
        }

        a->expires = ngx_http_portico_route_affinity_seconds(value);

        if (a->expires == NGX_ERROR) {
            goto invalid;
        }

        return NGX_OK;

    } else if (ngx_http_portico_is_key("affinity-samesite")) {

        if (a->samesite != NGX_HTTP_PORTICO_SAMESITE_UNSET) {
            goto twice;
        }

        for (i = 1; i < sizeof(ngx_http_portico_samesite) / sizeof(ngx_str_t);
             i++)
        {
            if (value->len == ngx_http_portico_samesite[i].len
                && ngx_strncmp(value->data, ngx_http_portico_samesite[i].data,
                               value->len) == 0)
            {
                a->samesite = i;
                return NGX_OK;
            }
        }

        goto invalid;

    } else if (ngx_http_portico_is_key("affinity-conditional-samesite-none")) {

        if (a->conditional) {
            goto twice;
        }

        if (!ngx_http_portico_is_value("on")) {
            goto invalid;
        }

        a->conditional = 1;

        return NGX_OK;

    } else if (ngx_http_portico_is_key("affinity-secure")) {

        if (a->secure != -1) {
            goto twice;
        }

        if (ngx_http_portico_is_value("on")) {
            a->secure = 1;

        } else if (ngx_http_portico_is_value("off")) {
            a->secure = 0;

        } else {
            goto invalid;
        }

        return NGX_OK;

    } else if (ngx_http_portico_is_key("affinity-change-on-failure")) {

        if (a->change_on_failure) {
            goto twice;
        }

        if (!ngx_http_portico_is_value("on")) {
            goto invalid;
        }

        a->change_on_failure = 1;

        return NGX_OK;

    } else if (ngx_http_portico_is_key("affinity-mode")) {

        if (a->mode_set) {
            goto twice;
        }

        if (ngx_http_portico_is_value("persistent")) {
            a->balanced = 0;

        } else if (!ngx_http_portico_is_value("balanced")) {
            goto invalid;
        }

        a->mode_set = 1;

        return NGX_OK;

    } else if (ngx_http_portico_is_key("affinity-canary")) {

        if (a->canary_set) {
            goto twice;
        }

        if (ngx_http_portico_is_value("legacy")) {
            a->legacy = 1;

        } else if (!ngx_http_portico_is_value("sticky")) {
            goto invalid;
        }

        a->canary_set = 1;

        return NGX_OK;

    } else {
        return NGX_DECLINED;
    }

#undef ngx_http_portico_is_key
#undef ngx_http_portico_is_value

    if (dup->len) {
        goto twice;
    }

    *dup = *value;

    return NGX_OK;

invalid:

    return ngx_http_portico_route_fail(err, line, "invalid \"%V\" value "
                                       "\"%V\"", key, value);

twice:

    return ngx_http_portico_route_fail(err, line, "\"%V\" twice", key);
}


/* a cookie name: 1-64 of [A-Za-z0-9_-], as a canary's */

static ngx_int_t
ngx_http_portico_route_affinity_name(ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_PORTICO_AFFINITY_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* 0-9999999999 seconds: NGX_ERROR, or the number */

static ngx_int_t
ngx_http_portico_route_affinity_seconds(ngx_str_t *value)
{
    if (value->len == 0 || value->len > NGX_HTTP_PORTICO_AFFINITY_SECONDS) {
        return NGX_ERROR;
    }

    return ngx_atoi(value->data, value->len);
}


/*
 * After the rule's words: words need "affinity=", a regex rule needs
 * "affinity-path=" (its path is a pattern); the attributes every cookie of
 * the rule has are put together, and the tags of its upstreams computed
 */

ngx_int_t
ngx_http_portico_route_affinity_check(ngx_http_portico_route_target_t *target,
    ngx_str_t *path, ngx_uint_t regex, ngx_http_portico_route_table_t *table,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    u_char                             *p;
    size_t                              len;
    ngx_http_portico_route_affinity_t  *a;

    a = target->affinity;

    if (a == NULL) {
        return NGX_OK;
    }

    if (a->name.len == 0) {
        return ngx_http_portico_route_fail(err, line, "affinity words "
                                           "without \"affinity=cookie:"
                                           "NAME\"");
    }

    if (target->upstream == NULL && target->entry == NULL) {
        return ngx_http_portico_route_fail(err, line, "affinity needs an "
                                           "upstream (not \"-\")");
    }

    /* only a table upstream's balancer knows the cookie: fail closed */

    if (target->entry == NULL
        || (target->canary != NULL && target->canary->entry == NULL))
    {
        return ngx_http_portico_route_fail(err, line, "affinity needs table "
                                           "upstreams (\"upstream\" lines), "
                                           "not upstream{} blocks");
    }

    if (a->path.len == 0) {

        if (regex) {
            return ngx_http_portico_route_fail(err, line, "a regex rule's "
                                               "affinity needs "
                                               "\"affinity-path=\"");
        }

        a->path = *path;
    }

    len = sizeof("; Path=") - 1 + a->path.len;

    if (a->domain.len) {
        len += sizeof("; Domain=") - 1 + a->domain.len;
    }

    if (a->max_age.len) {
        len += sizeof("; Max-Age=") - 1 + a->max_age.len;
    }

    p = ngx_pnalloc(table->pool, len);
    if (p == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    a->attrs.data = p;

    p = ngx_cpymem(p, "; Path=", sizeof("; Path=") - 1);
    p = ngx_cpymem(p, a->path.data, a->path.len);

    if (a->domain.len) {
        p = ngx_cpymem(p, "; Domain=", sizeof("; Domain=") - 1);
        p = ngx_cpymem(p, a->domain.data, a->domain.len);
    }

    if (a->max_age.len) {
        p = ngx_cpymem(p, "; Max-Age=", sizeof("; Max-Age=") - 1);
        p = ngx_cpymem(p, a->max_age.data, a->max_age.len);
    }

    a->attrs.len = p - a->attrs.data;

    a->tag = ngx_http_portico_route_affinity_tag(table, target->upstream,
                                                 target->entry);

    if (target->canary != NULL) {
        a->canary_tag = ngx_http_portico_route_affinity_tag(table,
                                                     target->canary->upstream,
                                                     target->canary->entry);
    }

    return NGX_OK;
}


/* a CRC32 of the upstream's name */

static uint32_t
ngx_http_portico_route_affinity_tag(ngx_http_portico_route_table_t *table,
    ngx_http_upstream_srv_conf_t *upstream,
    ngx_http_upstream_resolve_entry_t **entry)
{
    ngx_str_t  *name;

    if (entry != NULL) {
        name = &table->upstreams[entry - table->entries].name;

    } else {
        name = &upstream->host;
    }

    return ngx_crc32_short(name->data, name->len);
}


/*
 * A request of a rule with affinity: its cookie, read once, and copies of
 * what a new cookie needs
 */

ngx_http_portico_route_sticky_t *
ngx_http_portico_route_affinity_start(ngx_http_request_t *r,
    ngx_http_portico_route_affinity_t *a)
{
    u_char                           *p;
    ngx_str_t                         value;
    ngx_http_portico_route_sticky_t  *s;

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_portico_route_sticky_t)
                             + a->name.len + a->attrs.len);
    if (s == NULL) {
        return NULL;
    }

    p = (u_char *) &s[1];

    s->name.data = p;
    s->name.len = a->name.len;
    p = ngx_cpymem(p, a->name.data, a->name.len);

    s->attrs.data = p;
    s->attrs.len = a->attrs.len;
    ngx_memcpy(p, a->attrs.data, a->attrs.len);

    s->expires = a->expires;
    s->secure = a->secure;
    s->samesite = a->samesite;

    if (a->samesite == NGX_HTTP_PORTICO_SAMESITE_NONE && a->conditional
        && !ngx_http_portico_route_affinity_samesite_none(r))
    {
        s->samesite = NGX_HTTP_PORTICO_SAMESITE_UNSET;
    }

    s->hint.balanced = a->balanced;
    s->hint.change_on_failure = a->change_on_failure;

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &a->name,
                                          &value)
        != NGX_DECLINED)
    {
        s->valid = ngx_http_portico_route_affinity_decode(&value, &s->key,
                                                          &s->tag);
    }

    return s;
}


/*
 * "sticky" (the default): a cookie of the rule's upstream keeps the
 * request there, one of the canary's sends it to the canary, as
 * ingress-nginx's affinity-canary-behavior; NGX_DECLINED: the canary's
 * rules decide
 */

ngx_int_t
ngx_http_portico_route_affinity_canary(ngx_http_portico_route_sticky_t *s,
    ngx_http_portico_route_affinity_t *a)
{
    if (a->legacy || !s->valid) {
        return NGX_DECLINED;
    }

    if (s->tag == a->tag) {
        return 0;
    }

    if (s->tag == a->canary_tag) {
        return 1;
    }

    return NGX_DECLINED;
}


/* the upstream chosen (the canary's or the rule's): the key for it, if any */

void
ngx_http_portico_route_affinity_for(ngx_http_portico_route_sticky_t *s,
    ngx_http_portico_route_affinity_t *a, ngx_uint_t canary)
{
    s->upstream = canary ? a->canary_tag : a->tag;

    s->hint.has_key = (s->valid && s->tag == s->upstream);
    s->hint.key = s->key;
    s->hint.issue = 0;
}


/* "KEY.TAG", exactly 16 and 8 lowercase hex digits; anything else: 0 */

static ngx_uint_t
ngx_http_portico_route_affinity_decode(ngx_str_t *value, uint64_t *key,
    uint32_t *tag)
{
    u_char      ch;
    uint64_t    n;
    ngx_uint_t  i;

    if (value->len != NGX_HTTP_PORTICO_AFFINITY_VALUE_LEN
        || value->data[16] != '.')
    {
        return 0;
    }

    n = 0;

    for (i = 0; i < NGX_HTTP_PORTICO_AFFINITY_VALUE_LEN; i++) {

        if (i == 16) {
            *key = n;
            n = 0;
            continue;
        }

        ch = value->data[i];

        if (ch >= '0' && ch <= '9') {
            n = (n << 4) | (ch - '0');

        } else if (ch >= 'a' && ch <= 'f') {
            n = (n << 4) | (ch - 'a' + 10);

        } else {
            return 0;
        }
    }

    *tag = (uint32_t) n;

    return 1;
}


/*
 * The Set-Cookie of a new cookie, when the balancer asked for one:
 * NAME=KEY.TAG; Path=P[; Domain=D][; Max-Age=N][; Expires=DATE][; Secure];
 * HttpOnly[; SameSite=S] (the attributes of ingress-nginx's cookie)
 */

ngx_int_t
ngx_http_portico_route_affinity_cookie(ngx_http_request_t *r,
    ngx_http_portico_route_sticky_t *s)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        secure;
    ngx_table_elt_t  *h;

    if (!s->hint.issue) {
        return NGX_OK;
    }

    s->hint.issue = 0;

    secure = (s->secure == -1)
#if (NGX_HTTP_SSL)
             ? (r->connection->ssl != NULL)
#else
             ? 0
#endif
             : (ngx_uint_t) s->secure;

    len = s->name.len + 1 + NGX_HTTP_PORTICO_AFFINITY_VALUE_LEN + s->attrs.len
          + sizeof("; Expires=Thu, 01-Jan-1970 00:00:00 GMT") - 1
          + sizeof("; Secure; HttpOnly; SameSite=Strict") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = p;

    p = ngx_cpymem(p, s->name.data, s->name.len);
    p = ngx_sprintf(p, "=%016uxL.%08xD", s->hint.issue_key,
                    (uint32_t) s->upstream);
    p = ngx_cpymem(p, s->attrs.data, s->attrs.len);

    if (s->expires != -1) {
        p = ngx_cpymem(p, "; Expires=", sizeof("; Expires=") - 1);
        p = ngx_http_cookie_time(p, ngx_time() + s->expires);
    }

    if (secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);

    if (s->samesite != NGX_HTTP_PORTICO_SAMESITE_UNSET) {
        p = ngx_cpymem(p, "; SameSite=", sizeof("; SameSite=") - 1);
        p = ngx_cpymem(p, ngx_http_portico_samesite[s->samesite].data,
                       ngx_http_portico_samesite[s->samesite].len);
    }

    h->value.len = p - h->value.data;

    return NGX_OK;
}


/*
 * 0: the client is known to refuse a cookie with SameSite=None (Chrome
 * 40-69 and the Safari of iOS 12 and macOS 10.14, by their User-Agent, as
 * ingress-nginx's same_site_none_compatible())
 */

static ngx_uint_t
ngx_http_portico_route_affinity_samesite_none(ngx_http_request_t *r)
{
    u_char     *ua, *last;
    ngx_str_t  *agent;

    if (r->headers_in.user_agent == NULL) {
        return 1;
    }

    agent = &r->headers_in.user_agent->value;
    ua = agent->data;
    last = ua + agent->len;

#define ngx_http_portico_has(s)                                              \
    (ngx_strlcasestrn(ua, last, (u_char *) s, sizeof(s) - 2) != NULL)

    if (ngx_http_portico_has("Chrome/4")
        || ngx_http_portico_has("Chrome/5")
        || ngx_http_portico_has("Chrome/6")
        || ngx_http_portico_has("CPU iPhone OS 12")
        || ngx_http_portico_has("iPad; CPU OS 12"))
    {
        return 0;
    }

    if (ngx_http_portico_has("Macintosh")
        && ngx_http_portico_has("Intel Mac OS X 10_14")
        && ngx_http_portico_has("Safari")
        && !ngx_http_portico_has("Chrome"))
    {
        return 0;
    }

#undef ngx_http_portico_has

    return 1;
}
