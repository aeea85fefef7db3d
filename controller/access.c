/* access.c - access-control annotations rendered into profile locations,
 * and the real client address (see access.h). */
#include "controller/access.h"

#include <stdio.h>
#include <string.h>

#include "controller/annotations.h"
#include "controller/validate.h"

int access_is_set(const struct model_ingress *mi)
{
    for (size_t i = 0; i < mi->ann.nvalues; i++) {
        const struct ann_def *d = ann_def_of(mi->ann.values[i].id);
        if (d && d->effect == ANN_EFFECT_ACCESS)
            return 1;
    }
    return 0;
}

/* " VERB ADDR;" for every network of a validated list. */
static void address_rules(struct ownedtext *t, size_t owner, const char *verb,
                          const char *list)
{
    struct buf canon;
    char err[256];

    buf_init(&canon);
    if (cidr_list_canonical(list, strlen(list), &canon, err, sizeof(err)) < 0 ||
        buf_failed(&canon)) {
        /* Validated before: only out of memory gets here. */
        t->failed = 1;
        buf_free(&canon);
        return;
    }
    for (char *item = canon.data, *next; item && *item; item = next) {
        char prefix[16];
        next = strchr(item, ' ');
        if (next)
            *next++ = '\0';
        snprintf(prefix, sizeof(prefix), " %s ", verb);
        ownedtext_quoted(t, owner, prefix, item, ";");
    }
    buf_free(&canon);
}

int access_resolve(struct model_ingress *mi, const struct model_auth *auth,
                   char *err, size_t errlen)
{
    const char *type = ann_get(&mi->ann, ANN_AUTH_TYPE);
    const char *secret = ann_get(&mi->ann, ANN_AUTH_SECRET);
    const char *stype = ann_get(&mi->ann, ANN_AUTH_SECRET_TYPE);
    const char *slash, *name;
    char ns[VALIDATE_LABEL_MAX + 1];

    if (!type) {
        if (secret || stype || ann_get(&mi->ann, ANN_AUTH_REALM)) {
            snprintf(err, errlen, "auth-secret, auth-secret-type and "
                     "auth-realm need auth-type (basic): without it "
                     "ingress-nginx serves the Ingress with no "
                     "authentication");
            return -1;
        }
        return 0;
    }
    if (!secret) {
        snprintf(err, errlen, "auth-type needs auth-secret");
        return -1;
    }
    /* Validated: NAME or NAMESPACE/NAME. */
    slash = strchr(secret, '/');
    name = slash ? slash + 1 : secret;
    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - secret) : 0,
             secret);
    if (slash && strcmp(ns, mi->ns) != 0) {
        snprintf(err, errlen, "auth-secret %s: a Secret of another "
                 "namespace is not allowed", secret);
        return -1;
    }
    if (!auth->htpasswd)
        return 0;
    return auth->htpasswd(auth->ctx, mi->ns, name,
                          stype && strcmp(stype, "auth-map") == 0,
                          &mi->auth_file, err, errlen);
}

void access_profile_key(const struct model_ingress *mi, struct buf *key)
{
    if (mi->auth_file)
        buf_printf(key, "auth-file %s\n", mi->auth_file);
}

void access_proxy_headers(const struct model_ingress *mi, const char *set,
                          struct buf *out)
{
    /* The backend never sees the password (as ingress-nginx). */
    if (ann_get(&mi->ann, ANN_AUTH_TYPE))
        buf_printf(out, "%s Authorization \"\";", set);
}

/* Basic authentication against the password file. */
static void basic_auth(struct ownedtext *t, size_t owner,
                       const struct model_ingress *mi)
{
    const char *realm = ann_get(&mi->ann, ANN_AUTH_REALM);

    if (!ann_get(&mi->ann, ANN_AUTH_TYPE))
        return;
    if (!mi->auth_file) {
        /* Never rendered so (the model resolves the file), but if it
         * were: nobody passes rather than everybody. */
        ownedtext_printf(t, owner, " deny all;");
        return;
    }
    ownedtext_quoted(t, owner, " auth_basic ",
                     realm ? realm : "Authentication Required", ";");
    ownedtext_quoted(t, owner, " auth_basic_user_file ", mi->auth_file, ";");
}

void access_render_location(struct ownedtext *t, size_t owner,
                            const struct model_ingress *mi)
{
    const char *deny = ann_get(&mi->ann, ANN_DENYLIST_SOURCE_RANGE);
    const char *allow = ann_get(&mi->ann, ANN_ALLOWLIST_SOURCE_RANGE);

    /* The access module stops at the first rule that matches: denials
     * first, then the allowed networks, then everyone else is denied. */
    if (deny)
        address_rules(t, owner, "deny", deny);
    if (allow) {
        address_rules(t, owner, "allow", allow);
        ownedtext_printf(t, owner, " deny all;");
    }
    basic_auth(t, owner, mi);
}

void access_render_http(struct ownedtext *t, const struct access_globals *g)
{
    if (!g->real_ip_header)
        return;
    /* nginx's realip module: the client address is taken from the header
     * (the rightmost address not trusted, with real_ip_recursive) or the
     * PROXY protocol, only on connections from trusted proxies. */
    ownedtext_quoted(t, OWNER_NONE, "real_ip_header ", g->real_ip_header,
                     ";\n");
    ownedtext_printf(t, OWNER_NONE, "real_ip_recursive on;\n");
    if (g->real_ip_from) {
        const char *p = g->real_ip_from;
        while (*p) {
            char item[VALIDATE_CIDR_TEXT_MAX];
            size_t n = strcspn(p, " ");
            if (n < sizeof(item)) {
                memcpy(item, p, n);
                item[n] = '\0';
                ownedtext_quoted(t, OWNER_NONE, "set_real_ip_from ", item,
                                 ";\n");
            }
            p += n;
            p += *p == ' ';
        }
    }
}

int access_check_header_name(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);

    if (n == 0 || n > ACCESS_HEADER_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-") != n) {
        snprintf(err, errlen, "a header name is 1-%d of [A-Za-z0-9-]",
                 ACCESS_HEADER_NAME_MAX);
        return -1;
    }
    return 0;
}
