/* tlsfiles.c - Secret and Vault certificate files for nginx (see
 * tlsfiles.h). */
#include "controller/tlsfiles.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "controller/base64.h"
#include "controller/object.h"
#include "controller/digest.h"
#include "controller/nginx.h"
#include "vault/tlspair.h"

#define FILE_MODE      0600
#define DIR_MODE       0700
#define STEM_HEX       16
#define SECRET_PREFIX  "secret-"
#define VAULT_PREFIX   "vault-"
#define CA_PREFIX      "ca-"
#define CA_KEY         "ca:"        /* cache key prefix of a CA Secret */
#define CA_DATA        "ca.crt"
#define CRL_DATA       "ca.crl"
#define PEM_CERT       "CERTIFICATE"
#define PEM_CRL        "X509 CRL"
#define PATH_MAX_LEN   4096
#define VAULT_PAIR_MAX_BYTES (1 << 20)

/* Validation result for one Secret content. */
/* The cache key of a Vault pair: VAULT_KEY + host (Secrets: "ns/name"). */
#define VAULT_KEY "vault:"

struct cached {
    char *key;          /* "ns/name", or VAULT_KEY + host */
    char *data_id;      /* the base64 strings, joined (identity) */
    int ok;
    char *crt_path, *key_path;
    char *sans;         /* comma-separated */
    char *err;
    long long not_after;
    int used;           /* touched since the last gc */
};

struct tlsfiles {
    const struct store *store;
    char *dir;
    int chown_files;            /* running as root: files go to the */
    uid_t worker_uid;           /* nginx worker user, who reads them */
    gid_t worker_gid;
    struct json_object *index;      /* "ns/name" -> int index */
    struct cached *cache;
    size_t ncache, capcache;
    struct certs_snapshot *vault;
};

struct tlsfiles *tlsfiles_new(const struct store *store, const char *dir,
                              char *err, size_t errlen)
{
    struct tlsfiles *t = calloc(1, sizeof(*t));

    if (!t || !(t->dir = strdup(dir)) ||
        !(t->index = json_object_new_object())) {
        snprintf(err, errlen, "out of memory");
        tlsfiles_free(t);
        return NULL;
    }
    if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        tlsfiles_free(t);
        return NULL;
    }
    t->store = store;
    if (geteuid() == 0) {
        /* The workers read the files (the certificate table), and run as
         * NGINX_WORKER_USER when the master runs as root. */
        if (nginx_worker_user(&t->worker_uid, &t->worker_gid) < 0) {
            snprintf(err, errlen, "running as root, but there is no user "
                     "%s for the nginx workers to read %s as",
                     NGINX_WORKER_USER, dir);
            tlsfiles_free(t);
            return NULL;
        }
        t->chown_files = 1;
        if (chown(dir, t->worker_uid, t->worker_gid) < 0) {
            snprintf(err, errlen, "cannot give %s to user %s: %s", dir,
                     NGINX_WORKER_USER, strerror(errno));
            tlsfiles_free(t);
            return NULL;
        }
    }
    return t;
}

static void cached_clear(struct cached *c)
{
    free(c->key);
    free(c->data_id);
    free(c->crt_path);
    free(c->key_path);
    free(c->sans);
    free(c->err);
    memset(c, 0, sizeof(*c));
}

void tlsfiles_free(struct tlsfiles *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncache; i++)
        cached_clear(&t->cache[i]);
    free(t->cache);
    json_object_put(t->index);
    if (t->vault) {
        certs_snapshot_free(t->vault);
        free(t->vault);
    }
    free(t->dir);
    free(t);
}

void tlsfiles_set_vault(struct tlsfiles *t, struct certs_snapshot *snap)
{
    if (t->vault) {
        certs_snapshot_free(t->vault);
        free(t->vault);
    }
    t->vault = snap;
}

/* Writes DIR/NAME (mode 0600) unless it is there already (the names are
 * content-addressed), owned by the nginx worker user when running as
 * root: 0 with the malloc'd path, or -1 with the reason. */
static int write_file(struct tlsfiles *t, const char *name, const char *data,
                      size_t len, char **out, char *err, size_t errlen)
{
    char path[PATH_MAX_LEN];

    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    if (access(path, R_OK) != 0 &&
        certs_write_atomic(t->dir, name, data, len, FILE_MODE, err,
                           errlen) < 0)
        return -1;
    if (t->chown_files && chown(path, t->worker_uid, t->worker_gid) < 0) {
        snprintf(err, errlen, "cannot give %.300s to user %s: %s", path,
                 NGINX_WORKER_USER, strerror(errno));
        return -1;
    }
    if (!(*out = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Writes a validated pair as content-addressed files PREFIX<sha>.crt|key
 * (a changed pair gets new names, so the certificate table changes; an
 * unchanged one is not written again) and sets c's paths. Running as
 * root, the files belong to the nginx worker user (mode 0600). */
static int write_pair(struct tlsfiles *t, const char *prefix, const char *crt,
                      size_t crtlen, const char *key, size_t keylen,
                      struct cached *c, char *err, size_t errlen)
{
    char stem[STEM_HEX + 1], name[64];
    char *paths[2] = {NULL, NULL};
    const char *ext[2] = {"crt", "key"};
    const char *data[2] = {crt, key};
    size_t len[2] = {crtlen, keylen};

    digest_hex(crt, crtlen, key, keylen, stem, STEM_HEX);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "%s%s.%s", prefix, stem, ext[i]);
        if (write_file(t, name, data[i], len[i], &paths[i], err,
                       errlen) < 0) {
            free(paths[0]);
            return -1;
        }
    }
    free(c->crt_path);
    free(c->key_path);
    c->crt_path = paths[0];
    c->key_path = paths[1];
    return 0;
}

/* Validates and writes the pair of a Secret into c. */
static void load_secret(struct tlsfiles *t, struct json_object *secret,
                        struct cached *c)
{
    const char *type = k8s_str(secret, "type");
    struct json_object *jc = k8s_get(secret, "data");
    const char *crt64 = NULL, *key64 = NULL;
    char *crt = NULL, *key = NULL, err[512];
    struct tlspair_info info;
    size_t crtlen = 0, keylen = 0;
    struct json_object *v;

    c->ok = 0;
    if (!type || strcmp(type, "kubernetes.io/tls") != 0) {
        c->err = strdup("not a kubernetes.io/tls Secret");
        return;
    }
    if (jc && json_object_object_get_ex(jc, "tls.crt", &v))
        crt64 = json_object_get_string(v);
    if (jc && json_object_object_get_ex(jc, "tls.key", &v))
        key64 = json_object_get_string(v);
    if (!crt64 || !key64) {
        c->err = strdup("missing data tls.crt or tls.key");
        return;
    }
    crt = base64_decode(crt64, strlen(crt64), BASE64_STRICT, &crtlen);
    key = base64_decode(key64, strlen(key64), BASE64_STRICT, &keylen);
    if (!crt || !key || crtlen == 0 || keylen == 0) {
        c->err = strdup("tls.crt or tls.key is not valid base64");
        goto out;
    }
    /* Dates are a warning, as in ingress-nginx: an expired certificate
     * tells clients more than the default one would. */
    if (tlspair_validate_dates_apart(crt, crtlen, key, keylen, NULL,
                                     time(NULL), &info, err, sizeof(err))
        != TLSPAIR_OK) {
        c->err = strdup(err);
        goto out;
    }
    if (info.dates != TLSPAIR_OK)
        log_warn("tls: Secret %s: %s; served anyway", c->key, info.dates_msg);
    if (write_pair(t, SECRET_PREFIX, crt, crtlen, key, keylen, c, err,
                   sizeof(err)) < 0) {
        c->err = strdup(err);
        goto out;
    }
    c->sans = strdup(info.sans);
    c->not_after = (long long)info.not_after;
    c->ok = c->crt_path && c->key_path && c->sans;
out:
    if (crt)
        OPENSSL_cleanse(crt, crtlen);
    if (key)
        OPENSSL_cleanse(key, keylen);
    free(crt);
    free(key);
}

/* A new, empty cache entry under key k; NULL when out of memory. */
static struct cached *cache_new(struct tlsfiles *t, const char *k)
{
    struct cached *c;

    if (t->ncache == t->capcache) {
        size_t cap = t->capcache ? t->capcache * 2 : 16;
        struct cached *nc = realloc(t->cache, cap * sizeof(*nc));
        if (!nc)
            return NULL;
        t->cache = nc;
        t->capcache = cap;
    }
    c = &t->cache[t->ncache];
    memset(c, 0, sizeof(*c));
    c->key = strdup(k);
    if (!c->key)
        return NULL;
    json_object_object_add(t->index, k, json_object_new_int((int)t->ncache));
    t->ncache++;
    return c;
}

typedef void (*secret_loader)(struct tlsfiles *t, struct json_object *secret,
                              struct cached *c);

static struct cached *lookup(struct tlsfiles *t, const char *k,
                             struct json_object *secret, secret_loader load)
{
    struct json_object *idx, *data = k8s_get(secret, "data");
    const char *id = data ? json_object_to_json_string_ext(
                                data, JSON_C_TO_STRING_PLAIN) : "";
    const char *type = k8s_str(secret, "type");
    struct buf ident;
    struct cached *c;

    buf_init(&ident);
    buf_puts(&ident, type ? type : "");
    buf_puts(&ident, "|");
    buf_puts(&ident, id);
    if (buf_failed(&ident))
        return NULL;
    if (json_object_object_get_ex(t->index, k, &idx)) {
        c = &t->cache[json_object_get_int(idx)];
        /* A hit counts only while its files are still there (a gc may
         * have removed them when no served host used them). */
        if (strcmp(c->data_id, ident.data) == 0 &&
            (!c->ok || (access(c->crt_path, R_OK) == 0 &&
                        (!c->key_path ||
                         access(c->key_path, R_OK) == 0)))) {
            buf_free(&ident);
            return c;
        }
        free(c->data_id);
        free(c->crt_path);
        free(c->key_path);
        free(c->sans);
        free(c->err);
        c->crt_path = c->key_path = c->sans = c->err = NULL;
    } else if (!(c = cache_new(t, k))) {
        buf_free(&ident);
        return NULL;
    }
    c->data_id = buf_steal(&ident, NULL);
    load(t, secret, c);
    return c;
}

/* The cache entry of Secret ns/name (cache key prefix + "ns/name"), made
 * by load when the Secret's content is new, and marked used; NULL with
 * the reason when the Secret is missing or memory is out. */
static struct cached *secret_entry(struct tlsfiles *t, const char *prefix,
                                   const char *ns, const char *name,
                                   secret_loader load, char *err,
                                   size_t errlen)
{
    struct json_object *secret = store_get_secret(t->store, ns, name);
    char k[512];
    struct cached *c;

    if (!secret) {
        snprintf(err, errlen, "Secret %s/%s not found", ns, name);
        return NULL;
    }
    snprintf(k, sizeof(k), "%s%s/%s", prefix, ns, name);
    c = lookup(t, k, secret, load);
    json_object_put(secret);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->used = 1;
    return c;
}

static int sans_cover(const char *sans, const char *host)
{
    char one[256];
    const char *p = sans;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ') {
            p++;
            n--;
        }
        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (tlspair_host_matches(one, host))
                return 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int tlsfiles_secret(void *ctx, const char *ns, const char *name,
                    const char *host, char **crt, char **key, char *err,
                    size_t errlen)
{
    struct tlsfiles *t = ctx;
    struct cached *c = secret_entry(t, "", ns, name, load_secret, err,
                                    errlen);

    if (!c)
        return -1;
    if (!c->ok) {
        snprintf(err, errlen, "%s", c->err ? c->err : "invalid pair");
        return -1;
    }
    if (!sans_cover(c->sans, host)) {
        snprintf(err, errlen, "certificate does not cover %s (SANs: %s)",
                 host, c->sans);
        return -1;
    }
    *crt = strdup(c->crt_path);
    *key = strdup(c->key_path);
    if (!*crt || !*key) {
        free(*crt);
        free(*key);
        *crt = *key = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Copies the pipeline's pair for h into content-addressed files, so that a
 * rotated pair changes the rendered config (and nginx reloads) while the
 * pipeline keeps writing one fixed file name per host. Done once per served
 * leaf (keyed by its SHA-256). A pair caught mid-rotation (the pipeline
 * renames the .crt, then the .key, and signals only after both) fails
 * validation here; the previous copy is then kept until that signal. */
static void load_vault(struct tlsfiles *t, const struct certs_host_state *h,
                       struct cached *c)
{
    size_t crtlen = 0, keylen = 0;
    char *crt = file_read(h->crt_path, VAULT_PAIR_MAX_BYTES, &crtlen);
    char *key = file_read(h->key_path, VAULT_PAIR_MAX_BYTES, &keylen);
    char err[512], *sans = NULL, *id = strdup(h->sha256);
    struct tlspair_info info;

    if (!crt || !key || !id) {
        log_warn("vault pair of %s: cannot read %s: %s", h->host,
                 !crt ? h->crt_path : h->key_path, strerror(errno));
    } else if (tlspair_validate_dates_apart(crt, crtlen, key, keylen, NULL,
                                            time(NULL), &info, err,
                                            sizeof(err)) != TLSPAIR_OK) {
        log_warn("vault pair of %s: %s (keeping the previous pair)", h->host,
                 err);
    } else if (!(sans = strdup(info.sans)) ||
               write_pair(t, VAULT_PREFIX, crt, crtlen, key, keylen, c, err,
                          sizeof(err)) < 0) {
        log_warn("vault pair of %s: %s", h->host, sans ? err : "no memory");
    } else {
        if (info.dates != TLSPAIR_OK)
            log_warn("vault pair of %s: %s; served anyway", h->host,
                     info.dates_msg);
        free(c->data_id);
        free(c->sans);
        c->data_id = id;
        c->sans = sans;
        c->not_after = (long long)info.not_after;
        c->ok = 1;
        id = sans = NULL;
    }
    free(id);
    free(sans);
    if (crt)
        OPENSSL_cleanse(crt, crtlen);
    if (key)
        OPENSSL_cleanse(key, keylen);
    free(crt);
    free(key);
}

int tlsfiles_vault(void *ctx, const char *host, char **crt, char **key)
{
    struct tlsfiles *t = ctx;
    const struct certs_host_state *h;
    struct json_object *idx;
    struct cached *c;
    char k[512];

    if (!t->vault)
        return -1;
    h = certs_snapshot_find(t->vault, host);
    if (!h || !h->has_pair || !h->crt_path || !h->key_path)
        return -1;
    snprintf(k, sizeof(k), VAULT_KEY "%s", host);
    if (json_object_object_get_ex(t->index, k, &idx))
        c = &t->cache[json_object_get_int(idx)];
    else if (!(c = cache_new(t, k)))
        return -1;
    c->used = 1;
    if (!c->ok || !c->data_id || strcmp(c->data_id, h->sha256) != 0 ||
        access(c->crt_path, R_OK) != 0 || access(c->key_path, R_OK) != 0)
        load_vault(t, h, c);
    if (!c->ok)
        return -1;
    *crt = strdup(c->crt_path);
    *key = strdup(c->key_path);
    if (!*crt || !*key) {
        free(*crt);
        free(*key);
        *crt = *key = NULL;
        return -1;
    }
    return 0;
}

/* The PEM blocks of data, each of type `want` and parsed by `parse`
 * (which takes the DER bytes and returns an object, or NULL), pushed by
 * `keep`. The number of blocks, or -1 with the reason. */
static int pem_blocks(const char *data, size_t len, const char *what,
                      const char *want,
                      void *(*parse)(const unsigned char **der, long n),
                      void (*keep)(void *obj, void *arg), void *arg,
                      char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long n;
    int count = 0;

    if (!bio) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (PEM_read_bio(bio, &name, &header, &der, &n) == 1) {
        const unsigned char *p = der;
        void *obj = strcmp(name, want) == 0 ? parse(&p, n) : NULL;

        if (!obj)
            snprintf(err, errlen, "%s: PEM block %d (%.40s) is not %s", what,
                     count + 1, name,
                     strcmp(want, PEM_CERT) == 0 ? "a certificate" : "a CRL");
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        if (!obj) {
            BIO_free(bio);
            return -1;
        }
        keep(obj, arg);
        count++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (!count)
        snprintf(err, errlen, "%s holds no PEM %s", what,
                 strcmp(want, PEM_CERT) == 0 ? "certificate" : "CRL");
    return count ? count : -1;
}

static void *parse_cert(const unsigned char **der, long n)
{
    return d2i_X509(NULL, der, n);
}

static void *parse_crl(const unsigned char **der, long n)
{
    return d2i_X509_CRL(NULL, der, n);
}

static void keep_cert(void *obj, void *arg)
{
    if (!sk_X509_push(arg, obj))
        X509_free(obj);
}

static void keep_crl(void *obj, void *arg)
{
    if (!sk_X509_CRL_push(arg, obj))
        X509_CRL_free(obj);
}

/* ca.crt (certificates) and ca.crl (CRLs, optional): each CRL must be
 * signed by a certificate of ca.crt, or nginx would refuse every client
 * (revocation is checked for the whole chain once a CRL is there). */
static int check_ca(const char *key, const char *crt, size_t crtlen,
                    const char *crl, size_t crllen, char *err, size_t errlen)
{
    STACK_OF(X509) *cas = sk_X509_new_null();
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    int rc = -1;

    if (!cas || !crls) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (pem_blocks(crt, crtlen, CA_DATA, PEM_CERT, parse_cert, keep_cert,
                   cas, err, errlen) < 0 ||
        (crl && pem_blocks(crl, crllen, CRL_DATA, PEM_CRL, parse_crl,
                           keep_crl, crls, err, errlen) < 0))
        goto out;
    for (int i = 0; i < sk_X509_num(cas); i++)
        if (X509_cmp_current_time(X509_get0_notAfter(sk_X509_value(cas, i)))
            < 0)
            log_warn("tls: Secret %s: certificate %d of " CA_DATA " has "
                     "expired: no client certificate it issued verifies", key,
                     i + 1);
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *c = sk_X509_CRL_value(crls, i);
        int signed_by_ca = 0;
        for (int j = 0; j < sk_X509_num(cas) && !signed_by_ca; j++) {
            X509 *ca = sk_X509_value(cas, j);
            signed_by_ca = X509_NAME_cmp(X509_CRL_get_issuer(c),
                                         X509_get_subject_name(ca)) == 0 &&
                           X509_CRL_verify(c, X509_get0_pubkey(ca)) == 1;
        }
        ERR_clear_error();
        if (!signed_by_ca) {
            snprintf(err, errlen, CRL_DATA ": CRL %d is not signed by a "
                     "certificate of " CA_DATA, i + 1);
            goto out;
        }
    }
    rc = 0;
out:
    sk_X509_pop_free(cas, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return rc;
}

/* A base64 data key of a Secret, decoded (NULL when absent); -1 when it
 * is there but not valid base64 or empty. */
static int secret_data(struct json_object *secret, const char *k, char **out,
                       size_t *len)
{
    struct json_object *data = k8s_get(secret, "data"), *v;
    const char *b64;

    *out = NULL;
    *len = 0;
    if (!data || !json_object_object_get_ex(data, k, &v))
        return 0;
    b64 = json_object_get_string(v);
    *out = b64 ? base64_decode(b64, strlen(b64), BASE64_STRICT, len) : NULL;
    if (!*out || *len == 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Validates and writes the CA file of a Secret into c (crt_path). */
static void load_ca(struct tlsfiles *t, struct json_object *secret,
                    struct cached *c)
{
    char *crt = NULL, *crl = NULL, *all = NULL, err[512];
    char stem[STEM_HEX + 1], name[64];
    size_t crtlen, crllen;

    c->ok = 0;
    if (secret_data(secret, CA_DATA, &crt, &crtlen) < 0 ||
        secret_data(secret, CRL_DATA, &crl, &crllen) < 0) {
        c->err = strdup(CA_DATA " or " CRL_DATA " is not valid base64");
        goto out;
    }
    if (!crt) {
        c->err = strdup("missing data " CA_DATA);
        goto out;
    }
    if (check_ca(c->key, crt, crtlen, crl, crllen, err, sizeof(err)) < 0) {
        c->err = strdup(err);
        goto out;
    }
    /* One file: the certificates, then the CRLs (the module reads both). */
    if (!(all = malloc(crtlen + 1 + crllen))) {
        c->err = strdup("out of memory");
        goto out;
    }
    memcpy(all, crt, crtlen);
    all[crtlen] = '\n';
    if (crl)
        memcpy(all + crtlen + 1, crl, crllen);
    digest_hex(crt, crtlen, crl ? crl : "", crllen, stem, STEM_HEX);
    snprintf(name, sizeof(name), CA_PREFIX "%s.ca", stem);
    if (write_file(t, name, all, crtlen + 1 + crllen, &c->crt_path, err,
                   sizeof(err)) < 0) {
        c->err = strdup(err);
        goto out;
    }
    c->ok = 1;
out:
    free(crt);
    free(crl);
    free(all);
}

int tlsfiles_ca(void *ctx, const char *ns, const char *name, char **path,
                char *err, size_t errlen)
{
    struct tlsfiles *t = ctx;
    struct cached *c = secret_entry(t, CA_KEY, ns, name, load_ca, err,
                                    errlen);

    if (!c)
        return -1;
    if (c->ok && !(*path = strdup(c->crt_path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!c->ok) {
        snprintf(err, errlen, "%s", c->err ? c->err : "invalid CA");
        return -1;
    }
    return 0;
}

long long tlsfiles_not_after(const struct tlsfiles *t, const char *crt_path)
{
    for (size_t i = 0; i < t->ncache; i++)
        if (t->cache[i].ok && t->cache[i].crt_path &&
            strncmp(t->cache[i].key, VAULT_KEY, strlen(VAULT_KEY)) != 0 &&
            strcmp(t->cache[i].crt_path, crt_path) == 0)
            return t->cache[i].not_after;
    return 0;
}

void tlsfiles_gc(struct tlsfiles *t, const char *const *in_use, size_t n)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    char path[PATH_MAX_LEN];
    struct json_object *used = json_object_new_object();   /* a set */

    if (!d || !used) {
        if (d)
            closedir(d);
        json_object_put(used);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (in_use[i])
            json_object_object_add(used, in_use[i], NULL);
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0 &&
            strncmp(de->d_name, VAULT_PREFIX, strlen(VAULT_PREFIX)) != 0 &&
            strncmp(de->d_name, CA_PREFIX, strlen(CA_PREFIX)) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
        if (!json_object_object_get_ex(used, path, NULL) && unlink(path) == 0)
            log_debug("tls: removed unused %s", path);
    }
    closedir(d);
    json_object_put(used);
    /* Forget cache entries whose files may be gone; they reload lazily. */
    for (size_t i = 0; i < t->ncache; i++) {
        struct cached *c = &t->cache[i];
        if (!c->used && c->data_id) {
            free(c->data_id);
            c->data_id = strdup("");
        }
        c->used = 0;
    }
}
