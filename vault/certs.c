/*
 * certs.c - the certificate pipeline: a worker thread that fetches,
 * validates and writes one pair per host from Vault and signals the
 * controller's loop through an eventfd. See certs.h for the contract.
 *
 * Locking: p->mu guards the host table, the counters written at scrape
 * time and the stop/refresh flags. The worker never holds it during Vault
 * I/O or validation: it copies what it needs, works, then re-takes the
 * lock and applies the result to the host (if it is still wanted).
 */
#include "certs.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dnsname.h"
#include "evloop.h"
#include "fileio.h"
#include "log.h"
#include "prom.h"
#include "tlspair.h"

#define FP_LEN CERTS_FP_LEN
#define MAX_VAULT_PATH 1024
#define MAX_FILE_PATH 4096
#define MS_PER_S 1000
#define CHAIN_RENEW_NUM 2           /* PKI: renew after 2/3 of lifetime */
#define CHAIN_RENEW_DEN 3
#define MAX_BACKOFF_SHIFT 20

/* Reasons counted in portico_controller_vault_fetch_errors_total. */
static const char *const reasons[] = {
    "not_found", "permission_denied", "sealed", "rate_limited",
    "server_error", "bad_request", "network", "timeout", "tls",
    "malformed_answer", "auth", "config", "cancelled", "internal",
    "missing_field", "bad_certificate", "bad_key", "key_mismatch", "expired",
    "not_yet_valid", "host_mismatch", "chain_order", "write_failed",
    "bad_host",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

/* The pair fields accepted in a KV entry, in order of preference. */
static const char *const field_pairs[][2] = {
    {"crt", "key"}, {"tls.crt", "tls.key"}, {"certificate", "private_key"},
};

struct host {
    char *host;
    char stem[CERTS_NAME_MAX];
    /* the served pair */
    int has_pair;
    unsigned char fp[FP_LEN];
    time_t not_before, not_after;
    char *source;
    long source_version;
    int from_pki;
    uint64_t pair_generation;
    char sha256[65];
    time_t pki_renew_at;            /* PKI pairs: two thirds of the life */
    /* the last attempt */
    enum certs_status status;
    const char *reason;             /* static string */
    char *last_error;
    time_t last_success, last_attempt;
    int attempts, failures;
    int in_flight, again;           /* refresh asked during a fetch */
    int adopt_tried;                /* looked for a pair on disk */
    uint64_t due_ms;                /* monotonic */
};

struct certs_pipeline {
    struct certs_config cfg;
    struct vault_client *vc;        /* used by the worker only */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop;
    int efd;
    struct host **hosts;
    size_t nhosts;
    uint64_t generation;
    uint32_t rng;
    int vault_failures;             /* consecutive Vault-wide failures */
    uint64_t pause_until_ms;        /* no fetches before (monotonic) */
    /* metrics (under mu) */
    uint64_t fetches, changes, errors[NREASONS];
    uint64_t logins, renewals;
};

static const char *const status_names[] = {
    [CERTS_PENDING] = "pending", [CERTS_OK] = "ok",
    [CERTS_MISSING] = "missing", [CERTS_INVALID] = "invalid",
    [CERTS_VAULT_ERROR] = "vault_error", [CERTS_WRITE_ERROR] = "write_error",
};

const char *certs_status_name(enum certs_status s)
{
    if ((unsigned)s < sizeof(status_names) / sizeof(status_names[0]))
        return status_names[s];
    return "unknown";
}

static const char *reason_for(const char *name)
{
    for (size_t i = 0; i < NREASONS; i++)
        if (strcmp(reasons[i], name) == 0)
            return reasons[i];
    return "internal";
}

static void count_error(struct certs_pipeline *p, const char *reason)
{
    for (size_t i = 0; i < NREASONS; i++)
        if (reasons[i] == reason)
            p->errors[i]++;
}

static void fingerprint(const char *crt, const char *key, unsigned char *fp)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;

    memset(fp, 0, FP_LEN);
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, crt, strlen(crt)) == 1 &&
        EVP_DigestUpdate(ctx, "", 1) == 1 &&
        EVP_DigestUpdate(ctx, key, strlen(key)) == 1)
        EVP_DigestFinal_ex(ctx, fp, &n);
    EVP_MD_CTX_free(ctx);
}

static void file_path(const struct certs_pipeline *p, const char *stem,
                      const char *ext, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s.%s", p->cfg.dir, stem, ext);
}

/* ---- creation ------------------------------------------------------------ */

struct certs_pipeline *certs_new(const struct certs_config *cfg,
                                 const struct vault_config *vcfg,
                                 char *err, size_t errlen)
{
    struct certs_pipeline *p;
    struct vault_error ve;
    struct stat st;
    pthread_condattr_t ca;
    char probe[MAX_VAULT_PATH];

    if (!cfg->dir || !*cfg->dir) {
        snprintf(err, errlen, "no certificates folder (--vault-cert-dir)");
        return NULL;
    }
    if (certs_expand_path(cfg->path_template, "x", probe, sizeof(probe)) < 0) {
        snprintf(err, errlen, "--vault-cert-path must contain {host}");
        return NULL;
    }
    if (cfg->refresh_ms <= 0 || cfg->retry_min_ms <= 0) {
        snprintf(err, errlen, "refresh and retry intervals must be positive");
        return NULL;
    }
    if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", cfg->dir, strerror(errno));
        return NULL;
    }
    if (stat(cfg->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a folder", cfg->dir);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->efd = -1;
    p->vc = vault_client_new(vcfg, &ve);
    if (!p->vc) {
        snprintf(err, errlen, "%s", ve.msg);
        free(p);
        return NULL;
    }
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        vault_client_free(p->vc);
        free(p);
        return NULL;
    }
    if (getrandom(&p->rng, sizeof(p->rng), 0) != sizeof(p->rng))
        p->rng = (uint32_t)getpid();
    p->rng |= 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

static void host_free(struct host *h)
{
    if (!h)
        return;
    free(h->host);
    free(h->source);
    free(h->last_error);
    free(h);
}

static void *worker(void *arg);

int certs_start(struct certs_pipeline *p)
{
    if (p->started)
        return 0;
    if (pthread_create(&p->thread, NULL, worker, p) != 0)
        return -1;
    p->started = 1;
    return 0;
}

void certs_free(struct certs_pipeline *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    vault_client_cancel(p->vc);
    if (p->started)
        pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nhosts; i++)
        host_free(p->hosts[i]);
    free(p->hosts);
    vault_client_free(p->vc);
    if (p->efd >= 0)
        close(p->efd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- host set ---------------------------------------------------------------- */

/* p->hosts is kept sorted by name: lookups are binary searches. */
static struct host *find_host(struct certs_pipeline *p, const char *name)
{
    size_t lo = 0, hi = p->nhosts;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->hosts[mid]->host, name);
        if (c == 0)
            return p->hosts[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void remove_files(struct certs_pipeline *p, const char *stem)
{
    char path[MAX_FILE_PATH];

    file_path(p, stem, "crt", path, sizeof(path));
    unlink(path);
    file_path(p, stem, "key", path, sizeof(path));
    unlink(path);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int certs_set_hosts(struct certs_pipeline *p, const char *const *hosts,
                    size_t n)
{
    const char **want = calloc(n ? n : 1, sizeof(*want));
    struct host **next = calloc(n ? n : 1, sizeof(*next));
    size_t nw = 0, nn = 0, old = 0;
    uint64_t now = evloop_clock_ms();

    if (!want || !next) {
        free(want);
        free(next);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (hosts[i] && *hosts[i])
            want[nw++] = hosts[i];
    qsort(want, nw, sizeof(*want), cmp_name);

    pthread_mutex_lock(&p->mu);
    /* Build the new sorted table: reuse entries that stay, make new ones. */
    for (size_t i = 0; i < nw; i++) {
        struct host *h;
        if (i > 0 && strcmp(want[i], want[i - 1]) == 0)
            continue;   /* duplicate */
        if (!(h = find_host(p, want[i]))) {
            h = calloc(1, sizeof(*h));
            if (!h || !(h->host = strdup(want[i])) ||
                certs_file_stem(want[i], h->stem, sizeof(h->stem)) < 0) {
                host_free(h);
                for (size_t j = 0; j < nn; j++)     /* undo: keep old table */
                    if (find_host(p, next[j]->host) != next[j])
                        host_free(next[j]);
                pthread_mutex_unlock(&p->mu);
                free(want);
                free(next);
                return -1;
            }
            h->due_ms = now;
        }
        next[nn++] = h;
    }
    /* Entries of the old table that are not in the new one go, with their
     * files (both tables are sorted: one merge walk). */
    for (size_t i = 0; i < nn || old < p->nhosts;) {
        int c = old == p->nhosts ? 1 : i == nn ? -1
                : strcmp(p->hosts[old]->host, next[i]->host);
        if (c < 0) {
            remove_files(p, p->hosts[old]->stem);
            host_free(p->hosts[old++]);
        } else if (c == 0) {
            old++, i++;
        } else {
            i++;
        }
    }
    free(p->hosts);
    p->hosts = next;
    p->nhosts = nn;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    free(want);
    return 0;
}

void certs_refresh_now(struct certs_pipeline *p)
{
    uint64_t now = evloop_clock_ms();

    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nhosts; i++) {
        p->hosts[i]->due_ms = now;
        if (p->hosts[i]->in_flight)
            p->hosts[i]->again = 1;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int certs_notify_fd(const struct certs_pipeline *p)
{
    return p->efd;
}

void certs_notify_ack(struct certs_pipeline *p)
{
    uint64_t v;

    while (read(p->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

static void notify(struct certs_pipeline *p)
{
    uint64_t one = 1;

    if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("certs: eventfd write: %s", strerror(errno));
}

/* ---- snapshot ------------------------------------------------------------ */

static char *dup_or_null(const char *s, int *oom)
{
    char *c;

    if (!s)
        return NULL;
    c = strdup(s);
    if (!c)
        *oom = 1;
    return c;
}

void certs_snapshot_free(struct certs_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct certs_host_state *h = &s->hosts[i];
        free(h->host);
        free(h->crt_path);
        free(h->key_path);
        free(h->source);
        free(h->error_reason);
        free(h->last_error);
    }
    free(s->hosts);
    memset(s, 0, sizeof(*s));
}

int certs_snapshot(struct certs_pipeline *p, struct certs_snapshot *out)
{
    char path[MAX_FILE_PATH];
    int oom = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->mu);
    out->generation = p->generation;
    out->hosts = calloc(p->nhosts ? p->nhosts : 1, sizeof(*out->hosts));
    if (!out->hosts) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    for (size_t i = 0; i < p->nhosts; i++) {
        const struct host *h = p->hosts[i];
        struct certs_host_state *s = &out->hosts[i];

        out->n = i + 1;
        s->host = dup_or_null(h->host, &oom);
        s->status = h->status;
        s->has_pair = h->has_pair;
        if (h->has_pair) {
            file_path(p, h->stem, "crt", path, sizeof(path));
            s->crt_path = dup_or_null(path, &oom);
            file_path(p, h->stem, "key", path, sizeof(path));
            s->key_path = dup_or_null(path, &oom);
            s->not_after = h->not_after;
            s->source = dup_or_null(h->source, &oom);
            s->source_version = h->source_version;
            s->pair_generation = h->pair_generation;
            memcpy(s->sha256, h->sha256, sizeof(s->sha256));
        }
        s->last_success = h->last_success;
        s->last_attempt = h->last_attempt;
        s->error_reason = dup_or_null(h->status == CERTS_OK ? NULL : h->reason,
                                      &oom);
        s->last_error = dup_or_null(h->status == CERTS_OK ? NULL
                                                          : h->last_error,
                                    &oom);
    }
    pthread_mutex_unlock(&p->mu);
    if (oom) {
        certs_snapshot_free(out);
        return -1;
    }
    return 0;   /* sorted: the table is */
}

const struct certs_host_state *certs_snapshot_find(
    const struct certs_snapshot *s, const char *host)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->hosts[mid].host, host);
        if (c == 0)
            return &s->hosts[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- metrics ------------------------------------------------------------- */

void certs_expiry_family(struct buf *out)
{
    prom_family(out, CERTS_EXPIRY_METRIC, "gauge",
                "notAfter (Unix seconds) of the certificate served for a "
                "host, by source: a kubernetes.io/tls Secret, or Vault.");
}

void certs_expiry_write(struct certs_pipeline *p, struct buf *out)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->nhosts; i++) {
        const struct host *h = p->hosts[i];
        const char *l[] = {"host", h->host, "source", "vault", NULL};
        if (h->has_pair)
            prom_sample(out, CERTS_EXPIRY_METRIC, l, (double)h->not_after);
    }
    pthread_mutex_unlock(&p->mu);
}

void certs_metrics_write(struct certs_pipeline *p, struct buf *out)
{
    pthread_mutex_lock(&p->mu);
    prom_family(out, "portico_controller_vault_certificate_status", "gauge",
                "Outcome of the last Vault fetch per host (1 for the "
                "current status).");
    for (size_t i = 0; i < p->nhosts; i++) {
        const struct host *h = p->hosts[i];
        const char *l[] = {"host", h->host, "status",
                           certs_status_name(h->status), NULL};
        prom_sample(out, "portico_controller_vault_certificate_status", l, 1);
    }
    prom_family(out, "portico_controller_vault_last_success_timestamp_seconds",
                "gauge", "Last successful fetch and validation per host "
                "(Unix seconds; 0 never).");
    for (size_t i = 0; i < p->nhosts; i++) {
        const struct host *h = p->hosts[i];
        const char *l[] = {"host", h->host, NULL};
        prom_sample(out, "portico_controller_vault_last_success_timestamp_"
                    "seconds", l, (double)h->last_success);
    }
    prom_family(out, "portico_controller_vault_fetches_total", "counter",
                "Certificate fetch attempts (one per host and round).");
    prom_sample_u64(out, "portico_controller_vault_fetches_total", NULL,
                    p->fetches);
    prom_family(out, "portico_controller_vault_fetch_errors_total", "counter",
                "Failed certificate fetches by reason.");
    for (size_t i = 0; i < NREASONS; i++) {
        const char *l[] = {"reason", reasons[i], NULL};
        prom_sample_u64(out, "portico_controller_vault_fetch_errors_total", l,
                        p->errors[i]);
    }
    prom_family(out, "portico_controller_vault_certificate_changes_total",
                "counter", "Served certificate pairs written (new or "
                "rotated).");
    prom_sample_u64(out, "portico_controller_vault_certificate_changes_total",
                    NULL, p->changes);
    prom_family(out, "portico_controller_vault_token_renewals_total",
                "counter", "Vault token renew-self calls that succeeded.");
    prom_sample_u64(out, "portico_controller_vault_token_renewals_total", NULL,
                    p->renewals);
    prom_family(out, "portico_controller_vault_logins_total", "counter",
                "Vault Kubernetes-auth logins that succeeded.");
    prom_sample_u64(out, "portico_controller_vault_logins_total", NULL,
                    p->logins);
    pthread_mutex_unlock(&p->mu);
}

/* ---- the worker ---------------------------------------------------------- */

/* What the worker knows about a host's served pair before fetching. */
struct served {
    int has_pair, from_pki, attempts;
    time_t not_before, not_after, pki_renew_at;
    unsigned char fp[FP_LEN];
    char stem[CERTS_NAME_MAX];
};

static void set_fail(struct certs_fetch *r, enum certs_status st,
                     const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_fail(struct certs_fetch *r, enum certs_status st,
                     const char *reason, const char *fmt, ...)
{
    va_list ap;

    r->status = st;
    r->reason = reason_for(reason);
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
}

static void result_clear(struct certs_fetch *r)
{
    if (r->key) {
        explicit_bzero(r->key, strlen(r->key));
        free(r->key);
    }
    free(r->crt);
    memset(r, 0, sizeof(*r));
}

/* Validates crt/key for host; on success moves them into r. */
static int accept_pair(struct certs_fetch *r, const char *host, char *crt,
                       char *key, const char *source, long version,
                       int from_pki)
{
    char msg[300];
    enum tlspair_err e = tlspair_validate(crt, strlen(crt), key, strlen(key),
                                          host, time(NULL), &r->info, msg,
                                          sizeof(msg));
    if (e != TLSPAIR_OK) {
        set_fail(r, CERTS_INVALID, tlspair_err_name(e), "%s: %s", source, msg);
        return -1;
    }
    r->status = CERTS_OK;
    r->have_pair = 1;
    r->crt = crt;
    r->key = key;
    fingerprint(crt, key, r->fp);
    snprintf(r->source, sizeof(r->source), "%s", source);
    r->version = version;
    r->from_pki = from_pki;
    return 0;
}

/* A PEM file of at most TLSPAIR_MAX_PEM bytes; NULL if missing, empty or
 * too large. */
static char *read_pem(const char *path)
{
    size_t len = 0;
    char *data = file_read(path, TLSPAIR_MAX_PEM, &len);

    if (data && len == 0) {
        free(data);
        return NULL;
    }
    return data;
}

/* A pair left in the folder by an earlier run, valid for host? */
static int adopt_from_disk(struct certs_pipeline *p, const char *host,
                           const struct served *sv, struct certs_fetch *r)
{
    char path[MAX_FILE_PATH];
    char *crt, *key;

    file_path(p, sv->stem, "crt", path, sizeof(path));
    crt = read_pem(path);
    file_path(p, sv->stem, "key", path, sizeof(path));
    key = crt ? read_pem(path) : NULL;
    if (!crt || !key) {
        free(crt);
        free(key);
        return -1;
    }
    if (accept_pair(r, host, crt, key, "disk", 0, 0) < 0) {
        free(crt);
        free(key);
        result_clear(r);
        return -1;
    }
    return 0;
}

/* Reads one KV entry. 0 found (pair in crt/key), 1 not found, -1 error. */
static int read_entry(struct vault_client *vc, const char *vpath,
                      struct certs_fetch *r, char **crt, char **key, long *ver)
{
    struct vault_kv kv;
    struct vault_error ve;

    if (vault_kv_read(vc, vpath, &kv, &ve) < 0) {
        if (ve.code == VAULT_ERR_NOT_FOUND) {
            set_fail(r, CERTS_MISSING, "not_found", "%s", ve.msg);
            return 1;
        }
        set_fail(r, CERTS_VAULT_ERROR, vault_err_name(ve.code), "%s", ve.msg);
        return -1;
    }
    for (size_t i = 0; i < sizeof(field_pairs) / sizeof(field_pairs[0]); i++) {
        const char *c = vault_kv_get(&kv, field_pairs[i][0]);
        const char *k = vault_kv_get(&kv, field_pairs[i][1]);
        if (c && k) {
            *crt = strdup(c);
            *key = strdup(k);
            *ver = kv.version;
            vault_kv_free(&kv);
            if (!*crt || !*key) {
                free(*crt);
                free(*key);
                set_fail(r, CERTS_VAULT_ERROR, "internal", "out of memory");
                return -1;
            }
            return 0;
        }
    }
    vault_kv_free(&kv);
    set_fail(r, CERTS_INVALID, "missing_field", "%s: no crt/key, tls.crt/"
             "tls.key or certificate/private_key fields", vpath);
    return -1;
}

static int pki_due(const struct served *sv, time_t now)
{
    return now >= sv->pki_renew_at;
}

/* Issuers back-date notBefore (Vault by 30 s), so the lifetime counts from
 * when we got the certificate if that is later. */
static time_t pki_renew_time(time_t not_before, time_t not_after, time_t got)
{
    time_t start = not_before > got ? not_before : got;

    return start + (not_after - start) * CHAIN_RENEW_NUM / CHAIN_RENEW_DEN;
}

static void fetch_pki(struct vault_client *vc, const struct certs_config *cfg,
                      const char *host, const struct served *sv,
                      struct certs_fetch *r)
{
    struct vault_pki_cert pc;
    struct vault_error ve;
    char source[MAX_VAULT_PATH + 16];

    if (sv && sv->has_pair && sv->from_pki && !pki_due(sv, time(NULL))) {
        r->status = CERTS_OK;
        r->keep = 1;
        return;
    }
    snprintf(source, sizeof(source), "pki:%s/issue/%s", cfg->pki_mount,
             cfg->pki_role);
    if (vault_pki_issue(vc, cfg->pki_mount, cfg->pki_role, host,
                        cfg->pki_ttl, &pc, &ve) < 0) {
        set_fail(r, CERTS_VAULT_ERROR, vault_err_name(ve.code), "%s: %s",
                 source, ve.msg);
        return;
    }
    char *crt = pc.chain, *key = pc.private_key;
    pc.chain = pc.private_key = NULL;
    vault_pki_cert_free(&pc);
    if (accept_pair(r, host, crt, key, source, 0, 1) < 0) {
        free(crt);
        explicit_bzero(key, strlen(key));
        free(key);
    }
}

/* A host name we are willing to put into a Vault path: DNS labels (any
 * case, '_' tolerated), a leading "*." label, an optional trailing dot. */
#define VAULT_HOST_GRAMMAR \
    (DNSNAME_UPPERCASE | DNSNAME_UNDERSCORE | DNSNAME_WILDCARD | \
     DNSNAME_TRAILING_DOT)

/* Fetches and validates one host (no lock held). */
static void fetch_host(struct vault_client *vc, const struct certs_config *cfg,
                       const char *host, const struct served *sv,
                       struct certs_fetch *r)
{
    char vpath[MAX_VAULT_PATH], wild[MAX_VAULT_PATH], wpath[MAX_VAULT_PATH];
    struct vault_error ve;
    char *crt = NULL, *key = NULL;
    long ver = 0;
    int rc;

    if (!dnsname_valid(host, VAULT_HOST_GRAMMAR)) {
        set_fail(r, CERTS_INVALID, "bad_host", "invalid host name \"%.80s\"",
                 host);
        return;
    }
    if (vault_client_maintain(vc, &ve) < 0) {
        set_fail(r, CERTS_VAULT_ERROR, vault_err_name(ve.code), "%s", ve.msg);
        return;
    }
    if (certs_expand_path(cfg->path_template, host, vpath,
                          sizeof(vpath)) < 0) {
        set_fail(r, CERTS_VAULT_ERROR, "config", "path too long");
        return;
    }
    rc = read_entry(vc, vpath, r, &crt, &key, &ver);
    if (rc == 1 && certs_parent_wildcard(host, wild, sizeof(wild)) == 0 &&
        certs_expand_path(cfg->path_template, wild, wpath,
                          sizeof(wpath)) == 0) {
        rc = read_entry(vc, wpath, r, &crt, &key, &ver);
        if (rc == 0)
            snprintf(vpath, sizeof(vpath), "%s", wpath);
        else if (rc == 1)
            set_fail(r, CERTS_MISSING, "not_found", "no entry at %s nor %s",
                     vpath, wpath);
    } else if (rc == 1) {
        set_fail(r, CERTS_MISSING, "not_found", "no entry at %s", vpath);
    }
    if (rc == 0) {
        if (accept_pair(r, host, crt, key, vpath, ver, 0) < 0) {
            free(crt);
            explicit_bzero(key, strlen(key));
            free(key);
        }
        return;
    }
    if (rc == 1 && cfg->pki_role)
        fetch_pki(vc, cfg, host, sv, r);
}

int certs_fetch_host(struct vault_client *vc, const struct certs_config *cfg,
                     const char *host, struct certs_fetch *out)
{
    memset(out, 0, sizeof(*out));
    fetch_host(vc, cfg, host, NULL, out);
    return out->status == CERTS_OK && out->have_pair ? 0 : -1;
}

void certs_fetch_free(struct certs_fetch *f)
{
    result_clear(f);
}

/* Writes a new pair's files (no lock held). */
static int write_pair(struct certs_pipeline *p, const struct served *sv,
                      struct certs_fetch *r)
{
    char name[CERTS_NAME_MAX + 8], msg[300];

    snprintf(name, sizeof(name), "%s.key", sv->stem);
    if (certs_write_atomic(p->cfg.dir, name, r->key, strlen(r->key), 0600,
                           msg, sizeof(msg)) < 0)
        goto fail;
    snprintf(name, sizeof(name), "%s.crt", sv->stem);
    if (certs_write_atomic(p->cfg.dir, name, r->crt, strlen(r->crt), 0600,
                           msg, sizeof(msg)) < 0)
        goto fail;
    return 0;
fail:
    r->have_pair = 0;
    set_fail(r, CERTS_WRITE_ERROR, "write_failed", "%s", msg);
    return -1;
}

static uint64_t retry_delay(struct certs_pipeline *p, int failures)
{
    uint64_t d = (uint64_t)p->cfg.retry_min_ms;
    int shift = failures > 0 ? failures - 1 : 0;

    if (shift > MAX_BACKOFF_SHIFT)
        shift = MAX_BACKOFF_SHIFT;
    d <<= shift;
    if (d > (uint64_t)p->cfg.refresh_ms)
        d = (uint64_t)p->cfg.refresh_ms;
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 17;
    p->rng ^= p->rng << 5;
    return d - d / 4 + p->rng % (d / 4 + 1);   /* up to 25% earlier */
}

/* Applies r to h (lock held). Returns 1 if the served pair changed. */
static int apply(struct certs_pipeline *p, struct host *h, struct certs_fetch *r)
{
    time_t now = time(NULL);
    uint64_t mnow = evloop_clock_ms();
    int changed = 0;

    h->last_attempt = now;
    h->attempts++;
    h->in_flight = 0;
    p->fetches++;
    if (r->status == CERTS_OK) {
        h->status = CERTS_OK;
        h->reason = NULL;
        free(h->last_error);
        h->last_error = NULL;
        h->last_success = now;
        h->failures = 0;
        h->due_ms = mnow + (uint64_t)p->cfg.refresh_ms;
        if (r->have_pair && (!h->has_pair || memcmp(h->fp, r->fp, FP_LEN))) {
            char *src = strdup(r->source);
            if (src) {
                free(h->source);
                h->source = src;
            }
            h->has_pair = 1;
            memcpy(h->fp, r->fp, FP_LEN);
            h->not_before = r->info.not_before;
            h->not_after = r->info.not_after;
            h->source_version = r->version;
            h->from_pki = r->from_pki;
            h->pki_renew_at = r->from_pki
                ? pki_renew_time(h->not_before, h->not_after, now) : 0;
            changed = 1;
            p->generation++;
            p->changes++;
            h->pair_generation = p->generation;
            memcpy(h->sha256, r->info.sha256, sizeof(h->sha256));
        } else if (r->have_pair) {
            h->source_version = r->version;
        }
        if (h->has_pair && h->from_pki) {
            /* Come back in time for the renewal at two thirds. */
            time_t at = h->pki_renew_at;
            uint64_t in = at > now ? (uint64_t)(at - now) * MS_PER_S : 0;
            if (in < (uint64_t)p->cfg.retry_min_ms)
                in = (uint64_t)p->cfg.retry_min_ms;   /* never a tight loop */
            if (mnow + in < h->due_ms)
                h->due_ms = mnow + in;
        }
        if (h->again)
            h->due_ms = mnow;
        h->again = 0;
        return changed;
    }
    h->status = r->status;
    h->reason = r->reason;
    free(h->last_error);
    h->last_error = strdup(r->msg);
    h->failures++;
    h->due_ms = h->again ? mnow : mnow + retry_delay(p, h->failures);
    h->again = 0;
    count_error(p, r->reason);
    return 0;
}

/* Reasons that mean "Vault as a whole is unusable", not "this host". */
static int vault_wide(const char *reason)
{
    static const char *const wide[] = {
        "network", "timeout", "tls", "sealed", "server_error", "rate_limited",
        "auth", "malformed_answer",
    };

    for (size_t i = 0; reason && i < sizeof(wide) / sizeof(wide[0]); i++)
        if (strcmp(reason, wide[i]) == 0)
            return 1;
    return 0;
}

/* After a Vault-wide failure (lock held): every host reports it (their
 * pairs stay), and the worker pauses with backoff before the next probe
 * instead of waiting out one timeout per host. */
static void vault_down(struct certs_pipeline *p, const struct certs_fetch *r)
{
    p->vault_failures++;
    p->pause_until_ms = evloop_clock_ms() + retry_delay(p, p->vault_failures);
    for (size_t i = 0; i < p->nhosts; i++) {
        struct host *h = p->hosts[i];
        char *msg;
        if (h->status == CERTS_MISSING || h->status == CERTS_INVALID ||
            h->status == CERTS_WRITE_ERROR)
            continue;   /* a host-specific outcome stays until re-read */
        if (!(msg = strdup(r->msg)))
            continue;
        h->status = CERTS_VAULT_ERROR;
        h->reason = r->reason;
        free(h->last_error);
        h->last_error = msg;
        /* Re-read as soon as Vault is back, not a refresh later. */
        if (h->due_ms != UINT64_MAX && h->due_ms > p->pause_until_ms)
            h->due_ms = p->pause_until_ms;
    }
}

/* Serves a pair left in the folder by an earlier run (lock held on entry
 * and exit; released while reading files). */
static void adopt_one(struct certs_pipeline *p, struct host *h)
{
    struct certs_fetch r;
    struct served sv;
    char *name = strdup(h->host);
    int changed = 0;

    h->adopt_tried = 1;
    if (!name)
        return;
    memset(&sv, 0, sizeof(sv));
    memcpy(sv.stem, h->stem, sizeof(sv.stem));
    memset(&r, 0, sizeof(r));
    pthread_mutex_unlock(&p->mu);
    int found = adopt_from_disk(p, name, &sv, &r) == 0;
    pthread_mutex_lock(&p->mu);
    h = find_host(p, name);
    if (found && h && !h->has_pair) {
        log_info("certs: %s: serving the pair found in %s until Vault "
                 "answers", name, p->cfg.dir);
        h->has_pair = 1;
        memcpy(h->fp, r.fp, FP_LEN);
        h->not_before = r.info.not_before;
        h->not_after = r.info.not_after;
        free(h->source);
        h->source = strdup("disk");
        p->generation++;
        h->pair_generation = p->generation;
        memcpy(h->sha256, r.info.sha256, sizeof(h->sha256));
        changed = 1;
    }
    result_clear(&r);
    free(name);
    if (changed)
        notify(p);
}

/* Fetches one due host (lock held on entry and exit; released during the
 * Vault I/O, validation and file writes). */
static void process_one(struct certs_pipeline *p, struct host *h)
{
    struct served sv;
    struct certs_fetch r;
    char *name = strdup(h->host);
    int changed = 0;

    if (!name) {
        h->due_ms = evloop_clock_ms() + (uint64_t)p->cfg.retry_min_ms;
        return;     /* out of memory: try again later */
    }
    memset(&sv, 0, sizeof(sv));
    sv.has_pair = h->has_pair;
    sv.from_pki = h->from_pki;
    sv.attempts = h->attempts;
    sv.not_before = h->not_before;
    sv.not_after = h->not_after;
    sv.pki_renew_at = h->pki_renew_at;
    memcpy(sv.fp, h->fp, FP_LEN);
    memcpy(sv.stem, h->stem, sizeof(sv.stem));
    /* Not due again until this attempt is applied. */
    h->due_ms = UINT64_MAX;
    h->in_flight = 1;
    pthread_mutex_unlock(&p->mu);

    memset(&r, 0, sizeof(r));
    fetch_host(p->vc, &p->cfg, name, &sv, &r);
    if (r.status == CERTS_OK && r.have_pair &&
        (!sv.has_pair || memcmp(sv.fp, r.fp, FP_LEN) != 0))
        write_pair(p, &sv, &r);

    pthread_mutex_lock(&p->mu);
    h = find_host(p, name);
    if (h) {
        changed = apply(p, h, &r);
        if (r.status == CERTS_OK && r.have_pair && changed)
            log_info("certs: %s: serving %s (until %ld)", name, r.source,
                     (long)r.info.not_after);
        else if (r.status != CERTS_OK)
            log_warn("certs: %s: %s: %s%s", name,
                     certs_status_name(r.status), r.msg,
                     h->has_pair ? " (keeping the last good pair)" : "");
    } else if (r.have_pair && r.status == CERTS_OK) {
        remove_files(p, sv.stem);   /* dropped while we fetched */
    }
    if (r.status == CERTS_VAULT_ERROR && vault_wide(r.reason)) {
        vault_down(p, &r);
    } else if (r.status != CERTS_VAULT_ERROR) {
        p->vault_failures = 0;
        p->pause_until_ms = 0;
    }
    {
        struct vault_token_info ti;
        vault_client_token_info(p->vc, &ti);
        p->logins = ti.logins;
        p->renewals = ti.renewals;
    }
    if (changed)
        notify(p);
    result_clear(&r);
    free(name);
}

static void wait_until(struct certs_pipeline *p, uint64_t when_ms)
{
    struct timespec ts = {(time_t)(when_ms / MS_PER_S),
                          (long)(when_ms % MS_PER_S) * 1000000L};

    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *worker(void *arg)
{
    struct certs_pipeline *p = arg;

    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        uint64_t now = evloop_clock_ms(), next = UINT64_MAX;
        struct host *due = NULL, *adopt = NULL;

        for (size_t i = 0; i < p->nhosts && !adopt; i++) {
            struct host *h = p->hosts[i];
            if (!h->adopt_tried && !h->has_pair)
                adopt = h;
            else if (!due && h->due_ms <= now)
                due = h;
            else if (h->due_ms < next)
                next = h->due_ms;
        }
        if (adopt) {
            adopt_one(p, adopt);    /* even while Vault is down */
            continue;
        }
        if (p->pause_until_ms > now) {
            wait_until(p, p->pause_until_ms);
            continue;
        }
        if (due) {
            process_one(p, due);
            continue;
        }
        if (next == UINT64_MAX)
            pthread_cond_wait(&p->cv, &p->mu);
        else
            wait_until(p, next);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
