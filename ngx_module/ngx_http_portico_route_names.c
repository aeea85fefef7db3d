
/*
 * ngx_http_portico_route_module: names -> values in open-addressing tables
 * (O(1) at any number of names): the route table's hosts and upstreams,
 * the configuration's upstreams and profiles, the certificate table's
 * hosts, stems, CA files and regexes; the check of a domain name.  Calls
 * nothing of the module.
 */


#include "ngx_http_portico_route_module.h"


ngx_int_t
ngx_http_portico_route_names_init(ngx_http_portico_route_names_t *names,
    ngx_pool_t *pool, ngx_uint_t n)
{
    ngx_uint_t  size;

    size = NGX_HTTP_PORTICO_ROUTES_NAMES_MIN;

    while (size < 2 * n) {
        size <<= 1;
    }

    names->slots = ngx_pcalloc(pool,
                               size * sizeof(ngx_http_portico_route_entry_t));
    if (names->slots == NULL) {
        return NGX_ERROR;
    }

    names->mask = size - 1;

    return NGX_OK;
}


/* NGX_BUSY: the name is there already; the table must have room */

ngx_int_t
ngx_http_portico_route_names_add(ngx_http_portico_route_names_t *names,
    ngx_str_t *name, void *value)
{
    ngx_uint_t                       i;
    ngx_http_portico_route_entry_t  *e;

    i = ngx_murmur_hash2(name->data, name->len) & names->mask;

    for ( ;; ) {
        e = &names->slots[i];

        if (e->name.data == NULL) {
            e->name = *name;
            e->value = value;
            return NGX_OK;
        }

        if (e->name.len == name->len
            && ngx_memcmp(e->name.data, name->data, name->len) == 0)
        {
            return NGX_BUSY;
        }

        i = (i + 1) & names->mask;
    }
}


void *
ngx_http_portico_route_names_find(ngx_http_portico_route_names_t *names,
    u_char *name, size_t len)
{
    ngx_uint_t                       i;
    ngx_http_portico_route_entry_t  *e;

    if (names->slots == NULL) {
        return NULL;
    }

    i = ngx_murmur_hash2(name, len) & names->mask;

    for ( ;; ) {
        e = &names->slots[i];

        if (e->name.data == NULL) {
            return NULL;
        }

        if (e->name.len == len && ngx_memcmp(e->name.data, name, len) == 0) {
            return e->value;
        }

        i = (i + 1) & names->mask;
    }
}


/*
 * lowercase [a-z0-9-] labels joined by single dots, at most 253 bytes: the
 * characters of lib/dnsname.h's grammar, which the controller checked in
 * full before writing the table (the module links nothing of lib/)
 */

ngx_int_t
ngx_http_portico_route_check_domain(ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_PORTICO_ROUTES_HOST_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
            || ch == '-')
        {
            continue;
        }

        if (ch == '.' && i > 0 && i + 1 < name->len
            && name->data[i - 1] != '.')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
