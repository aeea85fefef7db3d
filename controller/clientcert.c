/* clientcert.c - auth-tls-* annotations to certificate table words (see
 * clientcert.h). */
#include "controller/clientcert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/access.h"
#include "controller/validate.h"

#define DEFAULT_VERIFY   "on"       /* ingress-nginx's default */
#define DEFAULT_DEPTH    1
#define CA_SUFFIX        ".ca"
#define ANN_SEP          '/'        /* between a key's prefix and name */
#define TLS_NAME_PREFIX  "auth-tls-"

static const enum ann_id options[] = {
    ANN_AUTH_TLS_VERIFY_CLIENT, ANN_AUTH_TLS_VERIFY_DEPTH,
    ANN_AUTH_TLS_ERROR_PAGE, ANN_AUTH_TLS_PASS_CERTIFICATE,
    ANN_AUTH_TLS_MATCH_CN,
};

int clientcert_asked(const struct model_ingress *mi)
{
    for (size_t i = 0; i < mi->ann.nvalues; i++)
        if (mi->ann.values[i].id >= ANN_AUTH_TLS_SECRET &&
            mi->ann.values[i].id <= ANN_AUTH_TLS_MATCH_CN)
            return 1;
    for (size_t i = 0; i < mi->ann.nfindings; i++) {
        const char *name = strrchr(mi->ann.findings[i].key, ANN_SEP);
        if (name && strncmp(name + 1, TLS_NAME_PREFIX,
                            strlen(TLS_NAME_PREFIX)) == 0)
            return 1;
    }
    return 0;
}

/* cn=: the regex with every byte outside 0x21-0x7e, and '%', as %XX (the
 * table's word syntax). */
static void put_cn(struct buf *b, const char *re)
{
    buf_puts(b, " cn=");
    for (const unsigned char *p = (const unsigned char *)re; *p; p++) {
        if (*p < 0x21 || *p > 0x7e || *p == '%')
            buf_printf(b, "%%%02X", *p);
        else
            buf_printf(b, "%c", *p);
    }
}

/* STEM of DIR/STEM.ca: a pointer into path, with its length. */
static const char *ca_stem(const char *path, int *len)
{
    const char *slash = strrchr(path, '/');
    const char *stem = slash ? slash + 1 : path;
    size_t n = strlen(stem), s = strlen(CA_SUFFIX);

    *len = (int)(n > s && strcmp(stem + n - s, CA_SUFFIX) == 0 ? n - s : n);
    return stem;
}

int clientcert_resolve(struct model_ingress *mi, const struct model_tls *tls,
                       char *err, size_t errlen)
{
    const char *ref = ann_get(&mi->ann, ANN_AUTH_TLS_SECRET);
    const char *verify = ann_get(&mi->ann, ANN_AUTH_TLS_VERIFY_CLIENT);
    const char *depth = ann_get(&mi->ann, ANN_AUTH_TLS_VERIFY_DEPTH);
    const char *cn = ann_get(&mi->ann, ANN_AUTH_TLS_MATCH_CN);
    const char *page = ann_get(&mi->ann, ANN_AUTH_TLS_ERROR_PAGE);
    const char *pass = ann_get(&mi->ann, ANN_AUTH_TLS_PASS_CERTIFICATE);
    const char *name, *stem = "-";
    struct buf w;
    int n = 1, stemlen = 1;

    if (!ref) {
        for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
            if (ann_get(&mi->ann, options[i])) {
                snprintf(err, errlen, "%s needs auth-tls-secret: without "
                         "it ingress-nginx serves the Ingress without client "
                         "certificates", ann_def_of(options[i])->name);
                return -1;
            }
        return 0;
    }
    if (!(name = access_secret_name(mi, ref, "auth-tls-secret", err, errlen)))
        return -1;
    if (tls->ca) {
        char sub[512];
        if (tls->ca(tls->ctx, mi->ns, name, &mi->ca_file, sub,
                    sizeof(sub)) < 0) {
            snprintf(err, errlen, "auth-tls-secret %s/%s: %s", mi->ns, name,
                     sub);
            return -1;
        }
        stem = ca_stem(mi->ca_file, &stemlen);
    }
    if (depth && (n = atoi(depth)) == 0)
        n = DEFAULT_DEPTH;      /* ingress-nginx: 0 is the default */
    buf_init(&w);
    buf_printf(&w, "ca=%.*s verify=%s depth=%d", stemlen, stem,
               verify ? verify : DEFAULT_VERIFY, n);
    if (cn)
        put_cn(&w, cn);
    if (page)
        buf_printf(&w, " error-page=%s", page);
    if (pass && validate_bool_value(pass, strlen(pass)) == 1)
        buf_puts(&w, " pass-cert=on");
    if (buf_failed(&w) || !(mi->client = buf_steal(&w, NULL))) {
        buf_free(&w);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
