/* certtable.c - the model to the certificate table (see certtable.h). */
#include "controller/certtable.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "controller/digest.h"

#define CRT_SUFFIX ".crt"
#define KEY_SUFFIX ".key"
#define DEFAULT_STEM "-"    /* the default certificate */

/* STEM of a pair "DIR/STEM.crt" + "DIR/STEM.key" (pointer into crt, with
 * its length), or NULL when the two paths are not such a pair. */
static const char *stem_of(const char *crt, const char *key, size_t *len)
{
    const char *slash = strrchr(crt, '/');
    const char *stem = slash ? slash + 1 : crt;
    size_t clen = strlen(crt), slen = strlen(CRT_SUFFIX);

    if (clen < slen || strcmp(crt + clen - slen, CRT_SUFFIX) != 0 ||
        strlen(key) != clen || strncmp(key, crt, clen - slen) != 0 ||
        strcmp(key + clen - slen, KEY_SUFFIX) != 0)
        return NULL;
    *len = (size_t)(crt + clen - slen - stem);
    return *len ? stem : NULL;
}

int certtable_render(const struct model *m, struct certtable_result *out)
{
    struct ownedtext body;
    char header[64];
    int hlen;

    memset(out, 0, sizeof(*out));
    ownedtext_init(&out->t);
    ownedtext_init(&body);
    for (size_t i = 0; i < m->nservers; i++) {
        const struct model_server *sv = &m->servers[i];
        const char *stem;
        size_t len;

        if (!sv->crt && !sv->client)
            continue;
        if (!sv->crt) {
            stem = DEFAULT_STEM;
            len = strlen(DEFAULT_STEM);
        } else if (!(stem = stem_of(sv->crt, sv->key, &len))) {
            log_error("certificates: %s: %s and %s are not one pair of the "
                      "certificates folder; left out", sv->host, sv->crt,
                      sv->key);
            if (!sv->client)
                continue;
            /* never served without its client certificates */
            stem = DEFAULT_STEM;
            len = strlen(DEFAULT_STEM);
        }
        ownedtext_printf(&body, sv->client ? sv->client_owner : sv->owner,
                         "host %s %.*s%s%s\n", sv->host, (int)len, stem,
                         sv->client ? " " : "",
                         sv->client ? sv->client : "");
        out->nhosts++;
    }
    hlen = snprintf(header, sizeof(header), "portico-certificates %d\n",
                    CERTTABLE_FORMAT);
    if (!ownedtext_failed(&body)) {
        digest_hex(header, (size_t)hlen, body.text.data ? body.text.data : "",
                   body.text.len, out->version, CERTTABLE_VERSION_LEN);
        ownedtext_printf(&out->t, OWNER_NONE, "%sversion %s\n", header,
                         out->version);
        if (body.text.len)
            ownedtext_append(&out->t, &body);
    }
    if (ownedtext_failed(&body) || ownedtext_failed(&out->t)) {
        ownedtext_free(&body);
        certtable_result_free(out);
        return -1;
    }
    ownedtext_free(&body);
    return 0;
}

void certtable_result_free(struct certtable_result *r)
{
    ownedtext_free(&r->t);
    memset(r, 0, sizeof(*r));
}
