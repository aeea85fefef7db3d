
/*
 * ngx_http_portico_ssl_module: the names of the certificate table's files
 * (docs/certificates.md): a stem as the table may name it, and the path
 * DIR + STEM + extension of a pair's or a CA's file.  Used by the table
 * and by the client certificate settings; calls nothing of the module.
 */


#include "ngx_http_portico_ssl_module.h"


ngx_int_t
ngx_http_portico_ssl_check_stem(ngx_str_t *stem)
{
    u_char      ch;
    ngx_uint_t  i;

    if (stem->len == 0 || stem->len > NGX_HTTP_PORTICO_CERTS_STEM_MAX
        || stem->data[0] == '.')
    {
        return NGX_ERROR;
    }

    for (i = 0; i < stem->len; i++) {
        ch = stem->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_'
            || ch == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* DIR + STEM + ext, NUL-terminated, or NULL if it does not fit */

u_char *
ngx_http_portico_ssl_path(ngx_str_t *dir, ngx_str_t *stem, const char *ext,
    u_char *buf, size_t size)
{
    size_t  elen;

    elen = ngx_strlen(ext);

    if (dir->len + stem->len + elen + 1 > size) {
        return NULL;
    }

    ngx_memcpy(ngx_cpymem(ngx_cpymem(buf, dir->data, dir->len), stem->data,
                          stem->len),
               ext, elen + 1);

    return buf;
}
