/* routes.c - the model to the route table (see routes.h). */
#include "controller/routes.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const match_word[] = {
    [LOC_EXACT] = "exact",
    [LOC_PREFIX] = "plain",
    [LOC_ELEMENTS] = "prefix",
    [LOC_REGEX] = "regex",
};

/* The words of a line, appended without a format: a table of 10k
 * Ingresses has 30k lines, rendered after every change. */
static void words(struct buf *b, const char *const *w)
{
    for (; *w; w++)
        buf_puts(b, *w);
}

/* " canary-name=NS-SVC-PORT": the canary label of the request metrics,
 * ingress-nginx's name of the canary's upstream, from ours
 * ("uHASH_NS_SVC_PORT": names and namespaces hold no '_'). */
static void canary_name(struct buf *b, const char *upstream)
{
    const char *rest = strchr(upstream, '_');

    if (!rest || !rest[1])
        return;
    buf_puts(b, " canary-name=");
    for (const char *c = rest + 1; *c; c++)
        buf_printf(b, "%c", *c == '_' ? '-' : *c);
}

/* A location's canary: " canary=UPSTREAM" and the words of its canary
 * Ingress's annotations, as ingress-nginx's balancer reads them: the
 * weight over max(total, 100); a header's value wins over its pattern,
 * and both need the header (else they are not read). */
static void canary(struct ownedtext *t, const struct model *m,
                   const struct model_location *l)
{
    const struct ann_result *a = &m->ings[l->canary_ingress].ann;
    const char *weight = ann_get(a, ANN_CANARY_WEIGHT);
    const char *header = ann_get(a, ANN_CANARY_BY_HEADER);
    const char *value = ann_get(a, ANN_CANARY_BY_HEADER_VALUE);
    const char *pattern = ann_get(a, ANN_CANARY_BY_HEADER_PATTERN);
    const char *cookie = ann_get(a, ANN_CANARY_BY_COOKIE);

    buf_printf(&t->text, " canary=%s", l->canary);
    canary_name(&t->text, l->canary);
    if (weight && strtol(weight, NULL, 10) > 0)
        buf_printf(&t->text, " canary-weight=%ld/%ld",
                   strtol(weight, NULL, 10),
                   model_canary_total(&m->ings[l->canary_ingress]));
    if (header) {
        buf_printf(&t->text, " canary-header=%s", header);
        if (value)
            buf_printf(&t->text, " canary-header-value=%s", value);
        else if (pattern)
            buf_printf(&t->text, " canary-header-pattern=%s", pattern);
    }
    if (cookie)
        buf_printf(&t->text, " canary-cookie=%s", cookie);
}

/* The words of session affinity (affinity "cookie"), from the rule's own
 * Ingress: the cookie (INGRESSCOOKIE by default, as ingress-nginx), then
 * only what differs from the module's defaults (balanced, the rule's path,
 * Secure over TLS, sticky canaries). */
static void affinity(struct ownedtext *t, const struct model_ingress *mi,
                     int has_canary)
{
    static const struct {
        enum ann_id id;
        const char *word;
    } copied[] = {
        {ANN_SESSION_COOKIE_PATH, "affinity-path"},
        {ANN_SESSION_COOKIE_DOMAIN, "affinity-domain"},
        {ANN_SESSION_COOKIE_MAX_AGE, "affinity-max-age"},
        {ANN_SESSION_COOKIE_EXPIRES, "affinity-expires"},
        {ANN_SESSION_COOKIE_SAMESITE, "affinity-samesite"},
    };
    const struct ann_result *a = &mi->ann;
    const char *name = ann_get(a, ANN_SESSION_COOKIE_NAME);
    const char *mode = ann_get(a, ANN_AFFINITY_MODE);
    const char *behavior = ann_get(a, ANN_AFFINITY_CANARY_BEHAVIOR);
    const char *secure = ann_get(a, ANN_SESSION_COOKIE_SECURE);

    if (!ann_get(a, ANN_AFFINITY))
        return;
    words(&t->text, (const char *[]){" affinity=cookie:",
                                     name ? name : MODEL_AFFINITY_COOKIE,
                                     NULL});
    if (mode && strcmp(mode, "persistent") == 0)
        buf_puts(&t->text, " affinity-mode=persistent");
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        const char *v = ann_get(a, copied[i].id);
        if (v)
            words(&t->text, (const char *[]){" ", copied[i].word, "=", v,
                                             NULL});
    }
    if (model_ann_true(mi, ANN_SESSION_COOKIE_CONDITIONAL_SAMESITE_NONE))
        buf_puts(&t->text, " affinity-conditional-samesite-none=on");
    if (secure)
        buf_puts(&t->text, model_ann_true(mi, ANN_SESSION_COOKIE_SECURE)
                               ? " affinity-secure=on"
                               : " affinity-secure=off");
    if (model_ann_true(mi, ANN_SESSION_COOKIE_CHANGE_ON_FAILURE))
        buf_puts(&t->text, " affinity-change-on-failure=on");
    if (has_canary && behavior && strcmp(behavior, "legacy") == 0)
        buf_puts(&t->text, " affinity-canary=legacy");
}

/* " UPSTREAM[ @PROFILE]" or " -", then a regex rule's " rewrite=T", the
 * canary's words, the default backend (" errors=UPSTREAM service-port=P":
 * also the upstream of a rule whose own cannot be resolved, as
 * ingress-nginx sends a Service without endpoints to it), the affinity's
 * words, the rule's Ingress and Service (the labels of its request
 * metrics): " ingress=NS/NAME service=SVC". */
static void target(struct ownedtext *t, const struct model *m,
                   const struct profiles *p, const char *upstream,
                   const char *service, const char *port, size_t ingress,
                   const char *rewrite, const struct model_location *l)
{
    const char *profile = profiles_of(p, ingress);
    const struct model_ingress *mi = &m->ings[ingress];
    const char *errors = mi->default_backend;

    if (!upstream)
        upstream = errors;
    if (!upstream)
        buf_puts(&t->text, " -");
    else if (profile)
        words(&t->text, (const char *[]){" ", upstream, " @", profile, NULL});
    else
        words(&t->text, (const char *[]){" ", upstream, NULL});
    if (rewrite)
        words(&t->text, (const char *[]){" rewrite=", rewrite, NULL});
    if (upstream && l && l->has_canary)
        canary(t, m, l);
    if (errors)
        words(&t->text, (const char *[]){" errors=", errors, NULL});
    if (errors && port && *port)
        words(&t->text, (const char *[]){" service-port=", port, NULL});
    if (upstream)
        affinity(t, mi, l && l->has_canary);
    words(&t->text, (const char *[]){" ingress=", mi->ns, "/", mi->name,
                                     NULL});
    if (service)
        words(&t->text, (const char *[]){" service=", service, NULL});
    buf_puts(&t->text, "\n");
}

static void section(struct ownedtext *t, const struct model *m,
                    const struct profiles *p, const struct model_server *sv)
{
    size_t from = t->text.len;

    words(&t->text, (const char *[]){"host ", sv->host ? sv->host : "*",
                                     sv->redirect ? " redirect\n" : "\n",
                                     NULL});
    ownedtext_track(t, from, sv->host ? sv->owner : OWNER_NONE);
    for (size_t i = 0; i < sv->nlocs; i++) {
        const struct model_location *l = &sv->locs[i];
        /* The model keeps Prefix "/" as a plain "/": the same rule. */
        const char *word = l->match == LOC_PREFIX && strcmp(l->path, "/") == 0
                               ? match_word[LOC_ELEMENTS]
                               : match_word[l->match];
        from = t->text.len;
        words(&t->text, (const char *[]){word, " ", l->path, NULL});
        target(t, m, p, l->upstream, l->service, l->port, l->ingress,
               l->match == LOC_REGEX ? l->rewrite : NULL, l);
        ownedtext_track(t, from, l->ingress);
    }
    if (sv->has_fallback) {
        from = t->text.len;
        /* The defaultBackend answers with its Ingress's options and
         * access control, like its rules (else an allow-list or a login
         * would not guard it). */
        buf_puts(&t->text, "default");
        target(t, m, p, sv->fallback, sv->fallback_service,
               sv->fallback_port, sv->fallback_ingress, NULL, NULL);
        ownedtext_track(t, from, sv->fallback_ingress);
    }
}

/* len hex digits of a digest (even len <= 2 * mdlen), NUL-terminated. */
static void hex_of(const unsigned char *md, unsigned int mdlen, char *out,
                   size_t len)
{
    memset(out, '0', len);
    for (size_t i = 0; i < len / 2 && i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[len] = '\0';
}

/* The version: the first ROUTES_VERSION_LEN hex digits of a SHA-256
 * over the header line and every line after the version line. */
static void version_of(const char *header, const char *body, size_t len,
                       char out[ROUTES_VERSION_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, header, strlen(header)) != 1 ||
        EVP_DigestUpdate(ctx, body, len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        mdlen = 0;
    EVP_MD_CTX_free(ctx);
    hex_of(md, mdlen, out, ROUTES_VERSION_LEN);
}

static int digest_line(EVP_MD_CTX *ctx, const char *word, const char *name)
{
    return EVP_DigestUpdate(ctx, word, strlen(word)) == 1 &&
           EVP_DigestUpdate(ctx, " ", 1) == 1 &&
           EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
           EVP_DigestUpdate(ctx, "\n", 1) == 1;
}

int routes_config_token(const struct profiles *p,
                        char out[ROUTES_CONFIG_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

    for (size_t i = 0; ok && i < p->n; i++)
        ok = digest_line(ctx, "profile", p->list[i].name);
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        memset(out, 0, ROUTES_CONFIG_LEN + 1);
        return -1;
    }
    hex_of(md, mdlen, out, ROUTES_CONFIG_LEN);
    return 0;
}

/* Room for the table: its lines, and bytes for each (a guess on the
 * large side: the memory not written is never touched), so that a table
 * of 100k hosts grows without copies. */
#define ROUTES_LINE_BYTES 128
#define ROUTES_HEADER_LINES 4

static void reserve(struct ownedtext *t, const struct model *m)
{
    size_t lines = ROUTES_HEADER_LINES + m->nups + 2 + m->def.nlocs;

    for (size_t i = 0; i < m->nservers; i++)
        lines += 2 + m->servers[i].nlocs;
    ownedtext_reserve(t, lines * ROUTES_LINE_BYTES, lines);
}

int routes_render(const struct model *m, const struct profiles *p,
                  int https_port, struct routes_result *out)
{
    char header[32];
    size_t version_at, body_at;

    memset(out, 0, sizeof(*out));
    if (routes_config_token(p, out->config) < 0)
        return -1;
    ownedtext_init(&out->t);
    reserve(&out->t, m);
    snprintf(header, sizeof(header), "portico-routes %d\n", ROUTES_FORMAT);
    /* The version line is written with zeros and filled in at the end:
     * the text is made once, in place. */
    ownedtext_printf(&out->t, OWNER_NONE, "%sversion ", header);
    version_at = out->t.text.len;
    ownedtext_printf(&out->t, OWNER_NONE, "%0*d\n", ROUTES_VERSION_LEN, 0);
    body_at = out->t.text.len;
    /* Part of the version's input like every line after it. */
    ownedtext_printf(&out->t, OWNER_NONE, "config %s\n", out->config);
    ownedtext_printf(&out->t, OWNER_NONE, "https-port %d\n", https_port);
    /* The upstreams, sorted: each line belongs to the oldest Ingress
     * using it (a line the module refuses leaves that Ingress out). */
    for (size_t i = 0; i < m->nups; i++) {
        size_t from = out->t.text.len;
        words(&out->t.text, (const char *[]){"upstream ", m->ups[i].name,
                                             " ", m->ups[i].server, "\n",
                                             NULL});
        ownedtext_track(&out->t, from, m->ups[i].owner);
    }
    section(&out->t, m, p, &m->def);
    for (size_t i = 0; i < m->nservers; i++)
        section(&out->t, m, p, &m->servers[i]);
    if (ownedtext_failed(&out->t)) {
        routes_result_free(out);
        return -1;
    }
    version_of(header, out->t.text.data + body_at,
               out->t.text.len - body_at, out->version);
    memcpy(out->t.text.data + version_at, out->version, ROUTES_VERSION_LEN);
    return 0;
}

void routes_result_free(struct routes_result *r)
{
    ownedtext_free(&r->t);
    memset(r, 0, sizeof(*r));
}
