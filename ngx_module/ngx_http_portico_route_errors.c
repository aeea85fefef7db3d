
/*
 * ngx_http_portico_route_module: a rule's default backend and its error
 * pages (docs/routes.md, the "errors=" words): ingress-nginx's
 * default-backend and custom-http-errors annotations.
 *
 *   prefix /shop u_shop_80 @portico_p1 errors=u_errors_80 service-port=80
 *       ingress=shop/web service=web
 *
 *   location @portico_p1 { proxy_intercept_errors on;
 *       error_page 404 = @portico_p1_e404; portico_route; proxy_pass ...; }
 *   location @portico_p1_e404 { proxy_set_header X-Code 404;
 *       proxy_set_header X-Namespace $portico_namespace; ...
 *       portico_route_errors 404; proxy_pass http://portico_dispatch; }
 *
 * A request of such a rule goes to the default backend when the rule's
 * upstream has no address (instead of 503: the module's handler), and an
 * error page of its profile ("portico_route_errors") proxies to it, with
 * the rule's Ingress and Service in variables.  nginx clears the modules'
 * contexts on a jump to a named location: what the error page needs is
 * copied into a cleanup of the request's pool at routing time and found
 * there again, as ngx_http_realip_module finds its context.  Nothing here
 * calls back into the module's handler.
 */


#include "ngx_http_portico_route_module.h"


static ngx_int_t ngx_http_portico_route_errors_port(ngx_str_t *value);
static void ngx_http_portico_route_errors_mark(void *data);
static ngx_int_t ngx_http_portico_route_errors_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_portico_route_errors_vars[] = {

    { ngx_string("portico_namespace"), NULL,
      ngx_http_portico_route_errors_variable,
      offsetof(ngx_http_portico_route_errors_ctx_t, ns),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_ingress_name"), NULL,
      ngx_http_portico_route_errors_variable,
      offsetof(ngx_http_portico_route_errors_ctx_t, ingress),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_service_name"), NULL,
      ngx_http_portico_route_errors_variable,
      offsetof(ngx_http_portico_route_errors_ctx_t, service),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("portico_service_port"), NULL,
      ngx_http_portico_route_errors_variable,
      offsetof(ngx_http_portico_route_errors_ctx_t, service_port),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * one "errors=UPSTREAM" or "service-port=PORT" word of a rule:
 * NGX_DECLINED when key is neither
 */

ngx_int_t
ngx_http_portico_route_errors_word(ngx_http_portico_route_target_t *target,
    ngx_str_t *key, ngx_str_t *value, ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    ngx_http_portico_route_errors_t  *e;

    if (key->len == sizeof("service-port") - 1
        && ngx_strncmp(key->data, "service-port", key->len) == 0)
    {
        if (target->service_port.len
            || ngx_http_portico_route_errors_port(value) != NGX_OK)
        {
            return ngx_http_portico_route_fail(err, line, "invalid word "
                                               "\"service-port=%V\" (a port "
                                               "1-65535 or a port name, "
                                               "once)", value);
        }

        target->service_port = *value;
        return NGX_OK;
    }

    if (key->len != sizeof("errors") - 1
        || ngx_strncmp(key->data, "errors", key->len) != 0)
    {
        return NGX_DECLINED;
    }

    if (target->errors != NULL) {
        return ngx_http_portico_route_fail(err, line, "\"errors=\" twice");
    }

    e = ngx_pcalloc(table->pool, sizeof(ngx_http_portico_route_errors_t));
    if (e == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    e->name = *value;
    e->entry = ngx_http_portico_route_names_find(&table->upstream_names,
                                                 value->data, value->len);
    if (e->entry == NULL) {
        e->upstream = ngx_http_portico_route_names_find(&refs->upstreams,
                                                        value->data,
                                                        value->len);
    }

    if (e->entry == NULL && e->upstream == NULL) {
        return ngx_http_portico_route_fail(err, line, "unknown default "
                                           "backend upstream \"%V\"", value);
    }

    target->errors = e;

    return NGX_OK;
}


/* 1-65535, or a Service port name: [a-z0-9-]{1,15}, not only digits */

static ngx_int_t
ngx_http_portico_route_errors_port(ngx_str_t *value)
{
    u_char      ch;
    ngx_int_t   n;
    ngx_uint_t  i, digits;

    if (value->len == 0
        || value->len > NGX_HTTP_PORTICO_ROUTES_PORT_NAME_MAX)
    {
        return NGX_ERROR;
    }

    digits = 0;

    for (i = 0; i < value->len; i++) {
        ch = value->data[i];

        if (ch >= '0' && ch <= '9') {
            digits++;
            continue;
        }

        if (!((ch >= 'a' && ch <= 'z') || ch == '-')) {
            return NGX_ERROR;
        }
    }

    if (digits < value->len) {
        return NGX_OK;
    }

    n = ngx_atoi(value->data, value->len);

    return (n >= 1 && n <= 65535) ? NGX_OK : NGX_ERROR;
}


/*
 * routing: a rule with "errors=" copies what its error pages need (the
 * table may be swapped before they run); routed again (after a wait), the
 * copy is made anew
 */

ngx_int_t
ngx_http_portico_route_errors_save(ngx_http_request_t *r,
    ngx_http_portico_route_target_t *target)
{
    u_char                               *p, *slash, *last;
    size_t                                len;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_portico_route_errors_ctx_t  *saved;

    if (target->errors == NULL) {
        return NGX_OK;
    }

    saved = ngx_http_portico_route_errors_find(r);

    if (saved == NULL) {
        cln = ngx_pool_cleanup_add(r->pool,
                                 sizeof(ngx_http_portico_route_errors_ctx_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_portico_route_errors_mark;
        saved = cln->data;
    }

    len = target->errors->name.len + target->ingress.len
          + target->service.len + target->service_port.len;

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    saved->upstream.data = p;
    saved->upstream.len = target->errors->name.len;
    p = ngx_cpymem(p, target->errors->name.data, target->errors->name.len);

    /* "namespace/name", checked when the table was loaded */

    last = p + target->ingress.len;
    ngx_memcpy(p, target->ingress.data, target->ingress.len);
    slash = ngx_strlchr(p, last, '/');

    saved->ns.data = p;
    saved->ns.len = slash ? (size_t) (slash - p) : 0;
    saved->ingress.data = slash ? slash + 1 : last;
    saved->ingress.len = last - saved->ingress.data;
    p = last;

    saved->service.data = p;
    saved->service.len = target->service.len;
    p = ngx_cpymem(p, target->service.data, target->service.len);

    saved->service_port.data = p;
    saved->service_port.len = target->service_port.len;
    (void) ngx_cpymem(p, target->service_port.data, target->service_port.len);

    return NGX_OK;
}


/* what routing saved for this request, or NULL */

ngx_http_portico_route_errors_ctx_t *
ngx_http_portico_route_errors_find(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_portico_route_errors_mark) {
            return cln->data;
        }
    }

    return NULL;
}


/* the cleanup only marks the saved copy: the pool frees it */

static void
ngx_http_portico_route_errors_mark(void *data)
{
}


/* $portico_namespace and the others: empty unless saved */

static ngx_int_t
ngx_http_portico_route_errors_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                            *s;
    ngx_http_portico_route_errors_ctx_t  *saved;

    saved = ngx_http_portico_route_errors_find(r);

    if (saved == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) saved + data);

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_portico_route_errors_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_portico_route_errors_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
