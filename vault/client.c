/*
 * client.c - the Vault client's I/O: HTTP with libcurl (timeouts, retries
 * with backoff and jitter, TLS verification), token upkeep (token file,
 * Kubernetes login, lookup/renew-self), KV reads with per-mount version
 * detection, sys/health and PKI issue. See vault.h for the contract.
 */
#include "vault_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "httphdr.h"
#include "log.h"

#define MAX_ANSWER_BYTES   (4 * 1024 * 1024)
#define MAX_SECRET_FILE    (64 * 1024)      /* token or JWT file */
#define MAX_PATH_LEN       1024
#define MAX_URL_LEN        (MAX_PATH_LEN * 3 + 512)
#define MAX_MOUNTS         32
#define MOUNT_LEN          256
#define SLEEP_SLICE_MS     50
#define RENEW_RETRY_S      10      /* after a failed renew-self */
#define RELOGIN_MIN_MARGIN_S 1     /* log in again this long before expiry */
#define NS_PER_MS          1000000L

enum { REQ_AUTH = 1, REQ_NO_HTTP_RETRY = 2 };

struct mount_entry {
    char path[MOUNT_LEN];       /* "secret/" */
    int kv_version;
};

struct vault_client {
    struct vault_config cfg;    /* deep copy */
    CURL *curl;
    int cancelled;              /* atomic */
    uint32_t rng;

    char *token;                /* current token, NULL if none */
    struct stat token_st;       /* token file identity when last read */
    int token_st_valid;
    int looked_up;              /* lookup-self done for this token */
    long lease;                 /* seconds, 0 unknown/infinite */
    int renewable;
    time_t obtained, expires, renew_after, lookup_after;
    uint64_t logins, renewals, file_reloads;

    struct mount_entry mounts[MAX_MOUNTS];
    size_t nmounts;
};

static int curl_global_done;    /* curl_global_init is not thread-safe: */
static void curl_init_once(void)/* called from vault_client_new, which */
{                               /* runs on the owning thread at start. */
    if (!__atomic_exchange_n(&curl_global_done, 1, __ATOMIC_ACQ_REL))
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void wipe_buf(struct buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->len);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void forget_token(struct vault_client *vc)
{
    if (vc->token) {
        explicit_bzero(vc->token, strlen(vc->token));
        free(vc->token);
        vc->token = NULL;
    }
    vc->looked_up = 0;
    vc->lease = 0;
    vc->renewable = 0;
    vc->obtained = vc->expires = vc->renew_after = vc->lookup_after = 0;
}

struct vault_client *vault_client_new(const struct vault_config *c,
                                      struct vault_error *err)
{
    struct vault_client *vc;
    char msg[200];

    if (vault_config_check(c, msg, sizeof(msg)) < 0) {
        vault_fail(err, VAULT_ERR_CONFIG, 0, "%s", msg);
        return NULL;
    }
    curl_init_once();
    vc = calloc(1, sizeof(*vc));
    if (!vc) {
        vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
        return NULL;
    }
    vc->cfg = *c;
    vc->cfg.addr = xstrdup(c->addr);
    vc->cfg.token = xstrdup(c->token);
    vc->cfg.token_file = xstrdup(c->token_file);
    vc->cfg.cacert = xstrdup(c->cacert);
    vc->cfg.namespace_ = xstrdup(c->namespace_);
    vc->cfg.k8s_role = xstrdup(c->k8s_role);
    vc->cfg.k8s_mount = xstrdup(c->k8s_mount);
    vc->cfg.k8s_jwt_file = xstrdup(c->k8s_jwt_file);
    /* Trailing slashes in the address would double up in URLs. */
    for (size_t n = strlen(vc->cfg.addr); n > 0 && vc->cfg.addr[n - 1] == '/'; n--)
        vc->cfg.addr[n - 1] = '\0';
    vc->curl = curl_easy_init();
    if (getrandom(&vc->rng, sizeof(vc->rng), 0) != sizeof(vc->rng))
        vc->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    vc->rng |= 1;
    if (!vc->curl) {
        vault_client_free(vc);
        vault_fail(err, VAULT_ERR_INTERNAL, 0, "curl_easy_init failed");
        return NULL;
    }
    if (c->skip_verify)
        log_warn("vault: TLS verification of %s is OFF (skip-verify)",
                 vc->cfg.addr);
    return vc;
}

void vault_client_free(struct vault_client *vc)
{
    if (!vc)
        return;
    forget_token(vc);
    if (vc->curl)
        curl_easy_cleanup(vc->curl);
    vault_config_free(&vc->cfg);
    free(vc);
}

void vault_client_cancel(struct vault_client *vc)
{
    __atomic_store_n(&vc->cancelled, 1, __ATOMIC_RELEASE);
}

static int is_cancelled(const struct vault_client *vc)
{
    return __atomic_load_n(&vc->cancelled, __ATOMIC_ACQUIRE);
}

void vault_client_token_info(const struct vault_client *vc,
                             struct vault_token_info *out)
{
    memset(out, 0, sizeof(*out));
    out->have_token = vc->token != NULL;
    out->auth = vc->cfg.auth;
    out->lease_seconds = vc->lease;
    out->renewable = vc->renewable;
    out->obtained = vc->obtained;
    out->expires = vc->expires;
    out->logins = vc->logins;
    out->renewals = vc->renewals;
    out->file_reloads = vc->file_reloads;
}

static uint32_t next_rand(struct vault_client *vc)
{
    uint32_t x = vc->rng;   /* xorshift32: jitter only, not security */

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return vc->rng = x;
}

/* Sleeps ms in slices; -1 if cancelled meanwhile. */
static int sleep_ms(struct vault_client *vc, long ms)
{
    while (ms > 0) {
        long slice = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        struct timespec ts = {0, slice * NS_PER_MS};
        if (is_cancelled(vc))
            return -1;
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return is_cancelled(vc) ? -1 : 0;
}

/* ---- one HTTP exchange -------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;

    if (b->len + n > MAX_ANSWER_BYTES)
        return 0;   /* makes curl fail with CURLE_WRITE_ERROR */
    buf_append(b, data, n);
    return buf_failed(b) ? 0 : n;
}

/* Picks "Retry-After: <seconds>" out of the answer's headers. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;

    httphdr_retry_after(data, n, arg);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    (void)dt; (void)dn; (void)ut; (void)un;
    return is_cancelled(arg) ? 1 : 0;
}

/* Percent-encodes what is not safe in a URL path. -1 if too long. */
static int append_path(char *url, size_t cap, const char *path)
{
    static const char safe[] = "-._~/*@:+,=!$&'()";
    size_t n = strlen(url);

    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (n + 4 >= cap)
            return -1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || (*p && strchr(safe, *p)))
            url[n++] = (char)*p;
        else
            n += (size_t)snprintf(url + n, cap - n, "%%%02X", *p);
    }
    url[n] = '\0';
    return 0;
}

static enum vault_err classify_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return VAULT_ERR_TIMEOUT;
    case CURLE_ABORTED_BY_CALLBACK:
        return VAULT_ERR_CANCELLED;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED: case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED: case CURLE_USE_SSL_FAILED:
        return VAULT_ERR_TLS;
    case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL:
        return VAULT_ERR_CONFIG;
    case CURLE_WRITE_ERROR: case CURLE_BAD_CONTENT_ENCODING:
        return VAULT_ERR_MALFORMED;
    case CURLE_OUT_OF_MEMORY: case CURLE_FAILED_INIT:
        return VAULT_ERR_INTERNAL;
    default:
        return VAULT_ERR_NETWORK;
    }
}

/* Performs one exchange. 0 when an HTTP answer arrived (*status set, any
 * status), -1 with err on transport failures. */
static int http_once(struct vault_client *vc, const char *method,
                     const char *path, const char *body, int flags,
                     struct buf *resp, int *status, long *retry_after_s,
                     struct vault_error *err)
{
    char url[MAX_URL_LEN], errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    struct buf tokhdr;
    CURL *c = vc->curl;
    CURLcode cc;
    long code = 0;

    snprintf(url, sizeof(url), "%s/v1/", vc->cfg.addr);
    if (append_path(url, sizeof(url), path) < 0)
        return vault_fail(err, VAULT_ERR_CONFIG, 0, "path too long");
    buf_reset(resp);
    buf_init(&tokhdr);
    curl_easy_reset(c);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, vc->cfg.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, vc->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    *retry_after_s = -1;
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, retry_after_s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, vc);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, vc->cfg.skip_verify ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, vc->cfg.skip_verify ? 0L : 2L);
    if (vc->cfg.cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, vc->cfg.cacert);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    }
    hdrs = curl_slist_append(hdrs, "X-Vault-Request: true");
    if (vc->cfg.namespace_) {
        char ns[300];
        snprintf(ns, sizeof(ns), "X-Vault-Namespace: %s", vc->cfg.namespace_);
        hdrs = curl_slist_append(hdrs, ns);
    }
    if ((flags & REQ_AUTH) && vc->token) {
        buf_printf(&tokhdr, "X-Vault-Token: %s", vc->token);
        if (!buf_failed(&tokhdr))
            hdrs = curl_slist_append(hdrs, tokhdr.data);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);      /* slist copies: wipe ours */
    if (tokhdr.data)
        explicit_bzero(tokhdr.data, tokhdr.len);
    buf_free(&tokhdr);
    if (cc != CURLE_OK) {
        enum vault_err e = classify_curl(cc);
        return vault_fail(err, e, 0, "%s %s: %s: %s", method, path,
                          vault_err_name(e),
                          errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    if (buf_failed(resp))
        return vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
    *status = (int)code;
    return 0;
}

/* One request with retries on transport errors, 5xx and 429. 0 when an
 * answer arrived (status may be any), -1 otherwise. */
static int request(struct vault_client *vc, const char *method,
                   const char *path, const char *body, int flags,
                   struct buf *resp, int *status, struct vault_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc;

        if (is_cancelled(vc))
            return vault_fail(err, VAULT_ERR_CANCELLED, 0, "cancelled");
        long retry_after_s = -1;
        rc = http_once(vc, method, path, body, flags, resp, status,
                       &retry_after_s, err);
        enum vault_err e = rc < 0 ? err->code : vault_classify_status(*status);
        int retry = rc < 0 ? (e == VAULT_ERR_NETWORK || e == VAULT_ERR_TIMEOUT)
                           : (!(flags & REQ_NO_HTTP_RETRY) &&
                              vault_err_transient(e));
        if (!retry || attempt >= vc->cfg.retries)
            return rc;
        long d = vault_backoff_ms(attempt, vc->cfg.backoff_min_ms,
                                  vc->cfg.backoff_max_ms, next_rand(vc));
        /* A 429/503 may say when to come back; honoured up to the request
         * timeout so one call stays bounded. */
        if (rc == 0 && retry_after_s >= 0) {
            long ra = retry_after_s * 1000L;
            if (ra > vc->cfg.timeout_ms)
                ra = vc->cfg.timeout_ms;
            if (ra > d)
                d = ra;
        }
        log_debug("vault: %s %s: %s, retry %d in %ld ms", method, path,
                  rc < 0 ? err->msg : vault_err_name(e), attempt + 1, d);
        if (sleep_ms(vc, d) < 0)
            return vault_fail(err, VAULT_ERR_CANCELLED, 0, "cancelled");
    }
}

/* ---- auth --------------------------------------------------------------- */

/* Reads a small secret file, trimmed. NULL + err on failure. */
static char *read_secret_file(const char *path, const char *what,
                              struct stat *st, struct vault_error *err)
{
    char *data;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        vault_fail(err, VAULT_ERR_AUTH, 0, "cannot open %s %s: %s", what,
                   path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, st) < 0 || !(data = malloc(MAX_SECRET_FILE + 1))) {
        vault_fail(err, VAULT_ERR_AUTH, 0, "cannot read %s %s", what, path);
        close(fd);
        return NULL;
    }
    n = read(fd, data, MAX_SECRET_FILE + 1);
    close(fd);
    if (n < 0 || n > MAX_SECRET_FILE) {
        vault_fail(err, VAULT_ERR_AUTH, 0, "cannot read %s %s: %s", what,
                   path, n < 0 ? strerror(errno) : "too large");
        free(data);
        return NULL;
    }
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' ||
                     data[n - 1] == ' ' || data[n - 1] == '\t'))
        n--;
    data[n] = '\0';
    size_t start = strspn(data, " \t\r\n");
    if (data[start] == '\0' || strpbrk(data + start, "\r\n")) {
        vault_fail(err, VAULT_ERR_AUTH, 0, "%s %s is empty or has several "
                   "lines", what, path);
        explicit_bzero(data, (size_t)n);
        free(data);
        return NULL;
    }
    memmove(data, data + start, (size_t)n - start + 1);
    return data;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
           a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Token mode: (re)reads the token file if it changed. 1 if a new token
 * was loaded, 0 if unchanged, -1 on error. */
static int reload_token_file(struct vault_client *vc, struct vault_error *err)
{
    struct stat st;
    char *tok;

    if (stat(vc->cfg.token_file, &st) < 0) {
        if (vc->token)
            return 0;   /* keep using the last token we read */
        return vault_fail(err, VAULT_ERR_AUTH, 0, "cannot stat token file "
                          "%s: %s", vc->cfg.token_file, strerror(errno));
    }
    if (vc->token && vc->token_st_valid && same_file(&st, &vc->token_st))
        return 0;
    tok = read_secret_file(vc->cfg.token_file, "token file", &st, err);
    if (!tok)
        return vc->token ? 0 : -1;
    int changed = !vc->token || strcmp(tok, vc->token) != 0;
    vc->token_st = st;
    vc->token_st_valid = 1;
    if (!changed) {
        explicit_bzero(tok, strlen(tok));
        free(tok);
        return 0;
    }
    forget_token(vc);
    vc->token = tok;
    vc->file_reloads++;
    log_info("vault: token file %s (re)loaded", vc->cfg.token_file);
    return 1;
}

/* Reads an "auth" block: client_token, lease_duration, renewable. */
static int take_auth(struct vault_client *vc, const char *body, size_t len,
                     int keep_token, struct vault_error *err)
{
    struct json_object *root = vault_json_parse(body, len), *auth, *v;
    const char *tok = NULL;

    if (!root || !json_object_object_get_ex(root, "auth", &auth) ||
        !json_object_is_type(auth, json_type_object)) {
        if (root)
            json_object_put(root);
        return vault_fail(err, VAULT_ERR_MALFORMED, 200,
                          "auth answer has no auth object");
    }
    if (json_object_object_get_ex(auth, "client_token", &v) &&
        json_object_is_type(v, json_type_string))
        tok = json_object_get_string(v);
    if (!keep_token && (!tok || !*tok)) {
        json_object_put(root);
        return vault_fail(err, VAULT_ERR_MALFORMED, 200,
                          "auth answer has no client_token");
    }
    if (!keep_token) {
        char *copy = strdup(tok);
        if (!copy) {
            json_object_put(root);
            return vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
        }
        forget_token(vc);
        vc->token = copy;
    }
    vc->lease = json_object_object_get_ex(auth, "lease_duration", &v)
                    ? (long)json_object_get_int64(v) : 0;
    vc->renewable = json_object_object_get_ex(auth, "renewable", &v) &&
                    json_object_get_boolean(v);
    vc->obtained = time(NULL);
    vc->expires = vc->lease > 0 ? vc->obtained + vc->lease : 0;
    vc->renew_after = 0;
    vc->looked_up = 1;
    explicit_bzero((char *)body, len);   /* the answer held the token */
    json_object_put(root);
    return 0;
}

static int k8s_login(struct vault_client *vc, struct vault_error *err)
{
    struct stat st;
    struct buf resp, body;
    char path[MAX_PATH_LEN];
    int status = 0, rc = -1;
    char *jwt = read_secret_file(vc->cfg.k8s_jwt_file, "service-account JWT",
                                 &st, err);
    struct json_object *o;

    if (!jwt)
        return -1;
    o = json_object_new_object();
    json_object_object_add(o, "role", json_object_new_string(vc->cfg.k8s_role));
    json_object_object_add(o, "jwt", json_object_new_string(jwt));
    explicit_bzero(jwt, strlen(jwt));
    free(jwt);
    buf_init(&body);
    buf_puts(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    buf_init(&resp);
    snprintf(path, sizeof(path), "auth/%s/login", vc->cfg.k8s_mount);
    if (buf_failed(&body)) {
        vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
        goto out;
    }
    if (request(vc, "POST", path, body.data, 0, &resp, &status, err) < 0)
        goto out;
    if (status != 200) {
        vault_error_from_response(status, resp.data, resp.len,
                                  "kubernetes login", err);
        if (err->code == VAULT_ERR_BAD_REQUEST)
            err->code = VAULT_ERR_AUTH;     /* missing/invalid role */
        goto out;
    }
    if (take_auth(vc, resp.data, resp.len, 0, err) < 0)
        goto out;
    vc->logins++;
    log_info("vault: kubernetes login as role %s, lease %lds%s",
             vc->cfg.k8s_role, vc->lease, vc->renewable ? ", renewable" : "");
    rc = 0;
out:
    wipe_buf(&body);
    buf_free(&body);
    buf_free(&resp);
    return rc;
}

/* Learns the lease of a token given to us (env or file). Failures are not
 * fatal: the token may lack the policy; the real request will tell. */
static void lookup_self(struct vault_client *vc)
{
    struct vault_error e;
    struct buf resp;
    int status = 0;

    vc->looked_up = 1;
    vc->obtained = time(NULL);
    buf_init(&resp);
    if (request(vc, "GET", "auth/token/lookup-self", NULL, REQ_AUTH, &resp,
                &status, &e) == 0 && status == 200) {
        struct json_object *root = vault_json_parse(resp.data, resp.len);
        struct json_object *data, *v;
        if (root && json_object_object_get_ex(root, "data", &data) &&
            json_object_is_type(data, json_type_object)) {
            if (json_object_object_get_ex(data, "ttl", &v))
                vc->lease = (long)json_object_get_int64(v);
            vc->renewable = json_object_object_get_ex(data, "renewable", &v) &&
                            json_object_get_boolean(v);
            vc->expires = vc->lease > 0 ? vc->obtained + vc->lease : 0;
        }
        if (root)
            json_object_put(root);
    } else {
        enum vault_err code = status ? vault_classify_status(status) : e.code;
        log_debug("vault: token lookup-self failed (%s); lease unknown",
                  status ? vault_err_name(code) : e.msg);
        if (vault_err_transient(code)) {
            vc->looked_up = 0;      /* Vault unreachable: ask again later */
            vc->lookup_after = time(NULL) + RENEW_RETRY_S;
        }
    }
    wipe_buf(&resp);
    buf_free(&resp);
}

static int renew_self(struct vault_client *vc, struct vault_error *err)
{
    struct buf resp;
    int status = 0, rc = -1;

    buf_init(&resp);
    if (request(vc, "POST", "auth/token/renew-self", "{}", REQ_AUTH, &resp,
                &status, err) < 0)
        goto out;
    if (status != 200) {
        vault_error_from_response(status, resp.data, resp.len, "renew-self",
                                  err);
        goto out;
    }
    if (take_auth(vc, resp.data, resp.len, 1, err) < 0)
        goto out;
    vc->renewals++;
    log_info("vault: token renewed, lease %lds", vc->lease);
    rc = 0;
out:
    wipe_buf(&resp);
    buf_free(&resp);
    return rc;
}

int vault_client_maintain(struct vault_client *vc, struct vault_error *err)
{
    time_t now = time(NULL);

    if (is_cancelled(vc))
        return vault_fail(err, VAULT_ERR_CANCELLED, 0, "cancelled");
    if (vc->cfg.auth == VAULT_AUTH_KUBERNETES) {
        /* Log in when we have no token, or it is in its last third and
         * could not be renewed. */
        long margin = vc->lease / 3 > RELOGIN_MIN_MARGIN_S
                          ? vc->lease / 3 : RELOGIN_MIN_MARGIN_S;
        if (!vc->token || (vc->expires && now >= vc->expires - margin))
            return k8s_login(vc, err);
    } else if (vc->cfg.token_file) {
        if (reload_token_file(vc, err) < 0)
            return -1;
    } else if (!vc->token) {
        if (!vc->cfg.token)
            return vault_fail(err, VAULT_ERR_AUTH, 0, "no Vault token: set "
                              "VAULT_TOKEN or VAULT_TOKEN_FILE, or use "
                              "--vault-auth=kubernetes");
        vc->token = strdup(vc->cfg.token);
        if (!vc->token)
            return vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
    }
    if (!vc->looked_up && now >= vc->lookup_after)
        lookup_self(vc);
    if (vc->renewable && vc->lease > 0 && now >= vc->obtained + vc->lease / 2 &&
        now >= vc->renew_after) {
        struct vault_error e;
        if (renew_self(vc, &e) < 0) {
            log_warn("vault: token renewal failed: %s", e.msg);
            vc->renew_after = now + RENEW_RETRY_S;
            if (vc->cfg.auth == VAULT_AUTH_KUBERNETES &&
                e.code == VAULT_ERR_PERMISSION)
                return k8s_login(vc, err);
        }
    }
    return 0;
}

/* A request with the token; after a 403, re-authenticates once (new login,
 * or a token file that changed) and repeats. */
static int authed(struct vault_client *vc, const char *method,
                  const char *path, const char *body, struct buf *resp,
                  int *status, struct vault_error *err)
{
    if (vault_client_maintain(vc, err) < 0)
        return -1;
    if (request(vc, method, path, body, REQ_AUTH, resp, status, err) < 0)
        return -1;
    if (*status != 403)
        return 0;
    if (vc->cfg.auth == VAULT_AUTH_KUBERNETES) {
        log_info("vault: 403 on %s, logging in again", path);
        if (k8s_login(vc, err) < 0)
            return -1;
    } else if (!vc->cfg.token_file || reload_token_file(vc, err) != 1) {
        return 0;
    }
    return request(vc, method, path, body, REQ_AUTH, resp, status, err);
}

/* ---- KV ----------------------------------------------------------------- */

static int valid_path(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n >= MAX_PATH_LEN / 2 || p[0] == '/' || strpbrk(p, "?#") ||
        strstr(p, "//"))
        return 0;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    /* No "." or ".." segment. */
    for (const char *seg = p; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    return 1;
}

/* Finds (or asks Vault for) the mount of path and its KV version. */
static int mount_of(struct vault_client *vc, const char *path,
                    const struct mount_entry **out, struct vault_error *err)
{
    struct mount_entry m;
    char req[MAX_PATH_LEN];
    struct buf resp;
    int status = 0, rc = -1;

    for (size_t i = 0; i < vc->nmounts; i++) {
        size_t ml = strlen(vc->mounts[i].path);
        if (strncmp(path, vc->mounts[i].path, ml) == 0) {
            *out = &vc->mounts[i];
            return 0;
        }
    }
    memset(&m, 0, sizeof(m));
    size_t first = strcspn(path, "/");
    snprintf(m.path, sizeof(m.path), "%.*s/", (int)first, path);
    m.kv_version = vc->cfg.kv_version ? vc->cfg.kv_version : 1;
    buf_init(&resp);
    if (!vc->cfg.kv_version) {
        snprintf(req, sizeof(req), "sys/internal/ui/mounts/%s", path);
        if (authed(vc, "GET", req, NULL, &resp, &status, err) < 0)
            goto out;
        if (status == 200) {
            if (vault_parse_mount(resp.data, resp.len, m.path, sizeof(m.path),
                                  &m.kv_version, err) < 0)
                goto out;
        } else if (status == 403 || status == 404) {
            /* Old Vault (404) or a policy without access to the endpoint
             * (the seed denies sys/ paths): assume KV v1 at the first
             * segment, as the Vault CLI does for 404. */
            log_debug("vault: mount lookup for %s: HTTP %d, assuming KV v1",
                      path, status);
        } else {
            vault_error_from_response(status, resp.data, resp.len,
                                      "mount lookup", err);
            goto out;
        }
    }
    if (vc->nmounts == MAX_MOUNTS)
        vc->nmounts--;  /* keep the newest; old ones are re-learnt */
    vc->mounts[vc->nmounts++] = m;
    *out = &vc->mounts[vc->nmounts - 1];
    log_debug("vault: mount %s is KV v%d", m.path, m.kv_version);
    rc = 0;
out:
    buf_free(&resp);
    return rc;
}

int vault_kv_read(struct vault_client *vc, const char *path,
                  struct vault_kv *out, struct vault_error *err)
{
    const struct mount_entry *m;
    char req[MAX_PATH_LEN];
    struct buf resp;
    int status = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    if (!valid_path(path))
        return vault_fail(err, VAULT_ERR_CONFIG, 0, "invalid KV path \"%.100s\"",
                          path);
    if (mount_of(vc, path, &m, err) < 0)
        return -1;
    int kv_version = m->kv_version;
    if (vault_kv_request_path(m->path, path, kv_version, req, sizeof(req)) < 0)
        return vault_fail(err, VAULT_ERR_CONFIG, 0, "path too long");
    buf_init(&resp);
    if (authed(vc, "GET", req, NULL, &resp, &status, err) < 0)
        goto out;
    if (status == 200 || (status == 404 && kv_version == 2 && resp.len > 0)) {
        rc = vault_parse_kv(resp.data, resp.len, kv_version, status, out, err);
        if (rc < 0)
            snprintf(err->msg + strlen(err->msg),
                     sizeof(err->msg) - strlen(err->msg), " (%s)", path);
    } else {
        vault_error_from_response(status, resp.data, resp.len, path, err);
    }
out:
    wipe_buf(&resp);
    buf_free(&resp);
    return rc;
}

/* ---- health, PKI -------------------------------------------------------- */

int vault_health(struct vault_client *vc, struct vault_health *out,
                 struct vault_error *err)
{
    struct buf resp;
    int status = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    buf_init(&resp);
    if (request(vc, "GET", "sys/health", NULL, REQ_NO_HTTP_RETRY, &resp,
                &status, err) < 0)
        goto out;
    out->http_status = status;
    struct json_object *root = vault_json_parse(resp.data, resp.len), *v;
    if (root && json_object_is_type(root, json_type_object)) {
        if (json_object_object_get_ex(root, "initialized", &v))
            out->initialized = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "sealed", &v))
            out->sealed = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "standby", &v))
            out->standby = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "version", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(out->version, sizeof(out->version), "%s",
                     json_object_get_string(v));
        if (json_object_object_get_ex(root, "cluster_name", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(out->cluster_name, sizeof(out->cluster_name), "%s",
                     json_object_get_string(v));
    } else if (status == 200) {
        if (root)
            json_object_put(root);
        vault_fail(err, VAULT_ERR_MALFORMED, status, "sys/health: answer is "
                   "not a JSON object");
        goto out;
    }
    if (root)
        json_object_put(root);
    switch (status) {
    case 200: case 429: case 473:
        rc = 0;
        break;
    case 501:
        vault_fail(err, VAULT_ERR_SEALED, status, "sys/health: Vault is not "
                   "initialised");
        break;
    case 503:
        vault_fail(err, VAULT_ERR_SEALED, status, "sys/health: Vault is "
                   "sealed");
        break;
    default:
        vault_error_from_response(status, resp.data, resp.len, "sys/health",
                                  err);
    }
out:
    buf_free(&resp);
    return rc;
}

int vault_pki_issue(struct vault_client *vc, const char *mount,
                    const char *role, const char *common_name,
                    const char *ttl, struct vault_pki_cert *out,
                    struct vault_error *err)
{
    char path[MAX_PATH_LEN];
    struct json_object *o;
    struct buf resp, body;
    int status = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/issue/%s", mount, role);
    if (!valid_path(path))
        return vault_fail(err, VAULT_ERR_CONFIG, 0, "invalid PKI path");
    o = json_object_new_object();
    json_object_object_add(o, "common_name", json_object_new_string(common_name));
    if (ttl)
        json_object_object_add(o, "ttl", json_object_new_string(ttl));
    buf_init(&body);
    buf_init(&resp);
    buf_puts(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (buf_failed(&body)) {
        vault_fail(err, VAULT_ERR_INTERNAL, 0, "out of memory");
        goto out;
    }
    if (authed(vc, "POST", path, body.data, &resp, &status, err) < 0)
        goto out;
    if (status != 200) {
        vault_error_from_response(status, resp.data, resp.len, path, err);
        goto out;
    }
    rc = vault_parse_pki(resp.data, resp.len, out, err);
out:
    wipe_buf(&resp);
    buf_free(&resp);
    buf_free(&body);
    return rc;
}
