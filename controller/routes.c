/* routes.c - the model to the route table (see routes.h). */
#include "controller/routes.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>


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

/* The upstream lines of upstreams[0..n) (indexes in m->ups, sorted):
 * each belongs to the oldest Ingress using it (a line the module refuses
 * leaves that Ingress out). */
static void upstream_line(struct ownedtext *t, const struct model_upstream *u)
{
    size_t from = t->text.len;

    words(&t->text, (const char *[]){"upstream ", u->name, " ", u->server,
                                     "\n", NULL});
    ownedtext_track(t, from, u->owner);
}

int routes_render(const struct model *m, const struct profiles *p,
                  int https_port, struct routes_result *out)
{
    char header[32];
    size_t version_at, body_at;

    memset(out, 0, sizeof(*out));
    ownedtext_init(&out->shards_text);
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
    for (size_t i = 0; i < m->nups; i++)
        upstream_line(&out->t, &m->ups[i]);
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

/* ---- format 3: a head and its shards ------------------------------------ */

/* Where a host section lives: crc32 of its name as written ("*" for the
 * default section), as the module looks for it. */
static size_t shard_of(const struct model_server *sv, size_t nshards)
{
    const char *name = sv->host ? sv->host : "*";

    return crc32(0L, (const Bytef *)name, (uInt)strlen(name)) &
           (nshards - 1);
}

static int cmp_upstream_name(const void *key, const void *u)
{
    return strcmp(key, ((const struct model_upstream *)u)->name);
}

static int cmp_index(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* The upstreams one shard's sections use, each once: mark[i] == stamp
 * when m->ups[i] is already in list. A location names its upstream by a
 * pointer to the name, most often m->ups[i].name itself (else a copy, in
 * a merge memo): by_ptr maps those pointers to i (open addressing, nslots
 * a power of two), a copy is looked up by name. */
struct shard_upstreams {
    const struct model *m;
    const char **ptr;
    size_t *index, nslots;
    size_t *mark, *list, n, stamp;
    const char *last;       /* the name use() added last */
};

static size_t ptr_slot(const struct shard_upstreams *su, const char *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;

    return (size_t)(h >> 32) & (su->nslots - 1);
}

/* Indexes every m->ups[i].name pointer; 0, or -1 out of memory. */
static int index_pointers(struct shard_upstreams *su)
{
    su->nslots = 1;
    while (su->nslots < 2 * su->m->nups)
        su->nslots *= 2;
    su->ptr = calloc(su->nslots, sizeof(*su->ptr));
    su->index = malloc(su->nslots * sizeof(*su->index));
    if (!su->ptr || !su->index)
        return -1;
    for (size_t i = 0; i < su->m->nups; i++) {
        const char *p = su->m->ups[i].name;
        size_t s = ptr_slot(su, p);
        while (su->ptr[s])
            s = (s + 1) & (su->nslots - 1);
        su->ptr[s] = p;
        su->index[s] = i;
    }
    return 0;
}

/* The index in m->ups of the upstream name points to, or m->nups. */
static size_t upstream_at(const struct shard_upstreams *su, const char *name)
{
    const struct model_upstream *u;

    for (size_t s = ptr_slot(su, name); su->ptr[s];
         s = (s + 1) & (su->nslots - 1))
        if (su->ptr[s] == name)
            return su->index[s];
    u = bsearch(name, su->m->ups, su->m->nups, sizeof(*u),
                cmp_upstream_name);
    return u ? (size_t)(u - su->m->ups) : su->m->nups;
}

static void use(struct shard_upstreams *su, const char *name)
{
    size_t i;

    /* a server's rules often share their upstream */
    if (!name || name == su->last ||
        (i = upstream_at(su, name)) == su->m->nups)
        return;
    su->last = name;
    if (su->mark[i] != su->stamp) {
        su->mark[i] = su->stamp;
        su->list[su->n++] = i;
    }
}

/* Every upstream target() may write for sv's lines. */
static void use_section(struct shard_upstreams *su,
                        const struct model_server *sv)
{
    const struct model *m = su->m;

    for (size_t i = 0; i < sv->nlocs; i++) {
        const struct model_location *l = &sv->locs[i];
        use(su, l->upstream);
        use(su, m->ings[l->ingress].default_backend);
        if (l->has_canary)
            use(su, l->canary);
    }
    if (sv->has_fallback) {
        use(su, sv->fallback);
        use(su, m->ings[sv->fallback_ingress].default_backend);
    }
}

/* Shard index's file, appended to out->shards_text: its first line, the
 * upstreams its sections use (sorted by name, as in format 2), then its
 * sections in the model's order. */
static void render_shard(struct routes_result *out, const struct model *m,
                         const struct profiles *p,
                         const struct model_server *const *sections,
                         size_t nsections, size_t index,
                         struct shard_upstreams *su)
{
    struct ownedtext *t = &out->shards_text;
    struct routes_shard *sh = &out->shards[out->nused++];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    sh->index = index;
    sh->from = t->text.len;
    sh->first_line = t->nlines + 1;
    ownedtext_printf(t, OWNER_NONE, "portico-routes-shard 1\n");
    su->n = 0;
    su->stamp = index + 1;
    su->last = NULL;
    for (size_t k = 0; k < nsections; k++)
        use_section(su, sections[k]);
    qsort(su->list, su->n, sizeof(*su->list), cmp_index);
    for (size_t k = 0; k < su->n; k++)
        upstream_line(t, &m->ups[su->list[k]]);
    for (size_t k = 0; k < nsections; k++)
        section(t, m, p, sections[k]);
    sh->len = t->text.len - sh->from;
    sh->nlines = t->nlines + 1 - sh->first_line;
    if (ownedtext_failed(t) ||
        EVP_Digest(t->text.data + sh->from, sh->len, md, &mdlen,
                   EVP_sha256(), NULL) != 1)
        t->failed = 1;
    hex_of(md, mdlen, sh->name, ROUTES_SHARD_NAME_LEN);
}

/* The head: format 2's header lines, "shards N", a "shard I NAME" per
 * shard. The version line is zeros, at *version_at. */
static void head_text(struct buf *b, const struct routes_result *r,
                      const char *header, int https_port, size_t *version_at)
{
    buf_puts(b, header);
    buf_puts(b, "version ");
    *version_at = b->len;
    buf_printf(b, "%0*d\n", ROUTES_VERSION_LEN, 0);
    buf_printf(b, "config %s\nhttps-port %d\nshards %zu\n", r->config,
               https_port, r->nshards);
    for (size_t k = 0; k < r->nused; k++)
        buf_printf(b, "shard %zu %s\n", r->shards[k].index,
                   r->shards[k].name);
}

static int render_head(struct routes_result *out, int https_port)
{
    char header[32];
    size_t version_at, body_at;
    struct buf *b = &out->t.text;

    snprintf(header, sizeof(header), "portico-routes %d\n",
             ROUTES_FORMAT_SHARDED);
    head_text(b, out, header, https_port, &version_at);
    ownedtext_track(&out->t, 0, OWNER_NONE);
    if (buf_failed(b) || ownedtext_failed(&out->t))
        return -1;
    body_at = version_at + ROUTES_VERSION_LEN + 1;
    version_of(header, b->data + body_at, b->len - body_at, out->version);
    memcpy(b->data + version_at, out->version, ROUTES_VERSION_LEN);
    return 0;
}

/* ---- kept shards --------------------------------------------------------- */

struct kept_shard {
    char name[ROUTES_SHARD_NAME_LEN + 1];   /* "": none */
    size_t len, nsections;
};

struct routes_kept {
    size_t nshards;         /* 0: nothing kept */
    char config[ROUTES_CONFIG_LEN + 1];
    int https_port;
    struct kept_shard *shard;   /* by index */
};

struct routes_kept *routes_kept_new(void)
{
    return calloc(1, sizeof(struct routes_kept));
}

void routes_kept_free(struct routes_kept *k)
{
    if (!k)
        return;
    free(k->shard);
    free(k);
}

void routes_kept_forget(struct routes_kept *k)
{
    if (k)
        k->nshards = 0;
}

/* Shard index of the render k remembers, if the sections (n of them)
 * make it again; NULL if they may not. */
static const struct kept_shard *
kept_shard(const struct routes_kept *k, const struct routes_result *out,
           int https_port, size_t index,
           const struct model_server *const *sections, size_t n,
           routes_on_disk_fn on_disk, void *ctx)
{
    const struct kept_shard *ks;

    if (!k || !on_disk || k->nshards != out->nshards ||
        k->https_port != https_port || strcmp(k->config, out->config) != 0)
        return NULL;
    ks = &k->shard[index];
    if (!ks->name[0] || ks->nsections != n)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!sections[i]->unchanged)
            return NULL;
    return on_disk(ctx, ks->name) ? ks : NULL;
}

/* k remembers out (rendered from the model built last); 0, or -1 out of
 * memory (then it remembers nothing). */
static int keep(struct routes_kept *k, const struct routes_result *out,
                int https_port, const size_t *count)
{
    struct kept_shard *shard = k->nshards == out->nshards
                                   ? k->shard
                                   : calloc(out->nshards, sizeof(*shard));

    if (!shard) {
        routes_kept_forget(k);
        return -1;
    }
    if (shard != k->shard) {
        free(k->shard);
        k->shard = shard;
    }
    memset(shard, 0, out->nshards * sizeof(*shard));
    for (size_t j = 0; j < out->nused; j++) {
        const struct routes_shard *sh = &out->shards[j];
        size_t from = sh->index ? count[sh->index - 1] : 0;
        memcpy(shard[sh->index].name, sh->name, sizeof(sh->name));
        shard[sh->index].len = sh->len;
        shard[sh->index].nsections = count[sh->index] - from;
    }
    k->nshards = out->nshards;
    k->https_port = https_port;
    memcpy(k->config, out->config, sizeof(k->config));
    return 0;
}

int routes_render_sharded(const struct model *m, const struct profiles *p,
                          int https_port, size_t nshards,
                          struct routes_kept *kept, routes_on_disk_fn on_disk,
                          void *on_disk_ctx, struct routes_result *out)
{
    size_t nsections = m->nservers + 1, *count = NULL, *at = NULL;
    const struct model_server **order = NULL;
    struct shard_upstreams su = {.m = m};
    int rc = -1;

    if (nshards <= 1) {
        routes_kept_forget(kept);
        return routes_render(m, p, https_port, out);
    }
    memset(out, 0, sizeof(*out));
    ownedtext_init(&out->t);
    ownedtext_init(&out->shards_text);
    out->nshards = nshards;
    if (routes_config_token(p, out->config) < 0)
        return -1;
    count = calloc(nshards + 1, sizeof(*count));
    at = calloc(nsections, sizeof(*at));
    order = calloc(nsections, sizeof(*order));
    su.mark = calloc(m->nups ? m->nups : 1, sizeof(*su.mark));
    su.list = calloc(m->nups ? m->nups : 1, sizeof(*su.list));
    out->shards = calloc(nsections < nshards ? nsections : nshards,
                         sizeof(*out->shards));
    if (!count || !at || !order || !su.mark || !su.list || !out->shards ||
        index_pointers(&su) < 0)
        goto done;
    /* The sections grouped by shard, each group in the model's order
     * (the default section first, then the servers sorted by host). */
    for (size_t i = 0; i < nsections; i++) {
        at[i] = shard_of(i ? &m->servers[i - 1] : &m->def, nshards);
        count[at[i] + 1]++;
    }
    for (size_t k = 0; k < nshards; k++)
        count[k + 1] += count[k];
    for (size_t i = 0; i < nsections; i++)
        order[count[at[i]]++] = i ? &m->servers[i - 1] : &m->def;
    /* count[k] is now where shard k + 1's sections start. Room for all
     * of them, unless most are likely kept. */
    if (!kept || kept->nshards != nshards)
        reserve(&out->shards_text, m);
    for (size_t k = 0, from = 0; k < nshards; from = count[k], k++) {
        const struct kept_shard *ks;
        if (count[k] == from)
            continue;
        ks = kept_shard(kept, out, https_port, k, order + from,
                        count[k] - from, on_disk, on_disk_ctx);
        if (ks) {
            struct routes_shard *sh = &out->shards[out->nused++];
            sh->index = k;
            sh->len = ks->len;
            sh->kept = 1;
            memcpy(sh->name, ks->name, sizeof(sh->name));
            out->nkept++;
        } else {
            render_shard(out, m, p, order + from, count[k] - from, k, &su);
        }
    }
    if (!ownedtext_failed(&out->shards_text))
        rc = render_head(out, https_port);
    if (rc == 0 && kept)
        keep(kept, out, https_port, count);

done:
    free(count);
    free(at);
    free(order);
    free(su.mark);
    free(su.list);
    free(su.ptr);
    free(su.index);
    if (rc < 0) {
        routes_kept_forget(kept);
        routes_result_free(out);
    }
    return rc;
}

size_t routes_shard_count(size_t hosts, size_t hosts_per_shard,
                          size_t current)
{
    size_t ideal = 1;

    if (hosts_per_shard == 0)
        return 1;
    while (ideal < ROUTES_SHARDS_MAX && ideal * hosts_per_shard < hosts)
        ideal *= 2;
    if (current && current <= ROUTES_SHARDS_MAX && current * 2 >= ideal &&
        current <= ideal * 2 && (current & (current - 1)) == 0)
        return current;
    return ideal;
}

size_t routes_bytes(const struct routes_result *r)
{
    size_t n = r->t.text.len;

    for (size_t k = 0; k < r->nused; k++)
        n += r->shards[k].len;
    return n;
}

int routes_head_subset(const struct routes_result *r,
                       const unsigned char *named, struct buf *out)
{
    const char *text = r->t.text.data, *end = text + r->t.text.len;
    size_t k = 0;

    /* The head's lines in order; its shard lines are r->shards'. */
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        int is_shard = len > 6 && strncmp(line, "shard ", 6) == 0;

        if (!is_shard || (k < r->nused && named[k]))
            buf_append(out, line, len);
        k += is_shard;
        line += len;
    }
    return buf_failed(out) ? -1 : 0;
}

/* The owner of line (1-based) of shard index's file. */
static size_t shard_owner(const struct routes_result *r, size_t index,
                          size_t line)
{
    for (size_t k = 0; k < r->nused; k++) {
        const struct routes_shard *sh = &r->shards[k];
        if (sh->index == index)
            return line >= 1 && line <= sh->nlines
                       ? ownedtext_owner(&r->shards_text,
                                         sh->first_line + line - 1)
                       : OWNER_NONE;
    }
    return OWNER_NONE;
}

size_t routes_error_owner(const struct routes_result *r,
                          const char *nginx_output, size_t line)
{
    size_t index, shard_line;

    /* The module's words: shard I "PATH", line L: REASON */
    for (const char *at = nginx_output;
         r->nshards && (at = strstr(at, "shard ")); at++) {
        const char *tail = strstr(at, "\", line ");
        if (sscanf(at, "shard %zu \"", &index) == 1 && tail &&
            sscanf(tail, "\", line %zu:", &shard_line) == 1)
            return shard_owner(r, index, shard_line);
    }
    return ownedtext_owner(&r->t, line);
}

void routes_result_free(struct routes_result *r)
{
    ownedtext_free(&r->t);
    ownedtext_free(&r->shards_text);
    free(r->shards);
    memset(r, 0, sizeof(*r));
}
