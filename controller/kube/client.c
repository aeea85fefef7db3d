/*
 * client.c - the asynchronous Kubernetes API client: configuration
 * (kubeconfig or in-cluster), bearer-token refresh, and requests on a
 * libcurl multi handle driven by the controller's evloop through
 * CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION. No threads, no
 * blocking calls. Also the API request metrics.
 */
#include "controller/kube/client_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "controller/kube/kubeconfig.h"
#include "evloop.h"
#include "fileio.h"
#include "httphdr.h"
#include "log.h"
#include "prom.h"

/* Test knobs (environment, undocumented in --help): where the in-cluster
 * service account is mounted, and how often its token file is re-read. */
#define ENV_SA_DIR "PORTICO_KUBE_SERVICEACCOUNT_DIR"
#define ENV_TOKEN_REREAD "PORTICO_KUBE_TOKEN_REREAD_SECONDS"

enum {
    TOKEN_REREAD_MS = 60 * 1000,     /* client-go's cached file token */
    TOKEN_REREAD_MAX_S = 3600,
    TOKEN_MAX_BYTES = 64 * 1024,
    MS_PER_S = 1000,
    DEFAULT_TIMEOUT_S = 30,
    CONNECT_TIMEOUT_MS = 5000,
    KEEPALIVE_IDLE_S = 30,           /* notice a dead peer within ~1 min */
    KEEPALIVE_INTERVAL_S = 15,
    MAX_BODY_BYTES = 256 << 20,      /* a buffered response larger is an error */
    MAX_METRIC_SERIES = 96,          /* distinct (verb, code) pairs */
    VERB_LEN = 16,
    CODE_LEN = 24,
};

struct api_series {
    char verb[VERB_LEN];
    char code[CODE_LEN];
    struct prom_histogram hist;
};

struct kube_req {
    struct kube_client *kc;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    const char *verb;
    kube_data_cb on_data;
    kube_done_cb done;
    void *arg;
    struct buf resp;
    long retry_after_s;
    int cancelled;
    int aborted;
    int too_large;
    int added;                 /* handed to the multi handle */
    uint64_t start_ms;
    char errbuf[CURL_ERROR_SIZE];
    struct kube_req *prev, *next;
};

struct kube_client {
    struct evloop *loop;
    CURLM *multi;
    struct ev_timer *curl_timer;
    struct ev_timer *token_timer;
    struct kube_config cfg;
    char *token;
    uint64_t token_reread_ms;
    char *user_agent;
    struct kube_req *reqs;       /* active requests */
    struct kube_req *deferred;   /* cancelled or added inside curl */
    int in_curl;
    int verbose;               /* PORTICO_KUBE_CURL_VERBOSE set */
    int unauthorized;          /* the last answer was a 401 */
    uint64_t watch_restarts, relists, api_errors;
    struct api_series series[MAX_METRIC_SERIES];
    size_t nseries;              /* published with release ordering */
};

/* ---- token ---- */

static void token_reload(struct kube_client *kc)
{
    size_t len;
    char *t;

    if (!kc->cfg.token_file)
        return;
    t = file_read(kc->cfg.token_file, TOKEN_MAX_BYTES, &len);
    if (!t) {
        log_warn("kube: cannot read token file %s: %s (keeping the old token)",
                 kc->cfg.token_file, strerror(errno));
        return;
    }
    while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' ||
                   t[len - 1] == ' ' || t[len - 1] == '\t'))
        t[--len] = '\0';
    free(kc->token);
    kc->token = t;
}

static void token_timer_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct kube_client *kc = arg;
    token_reload(kc);
    evloop_timer_start(t, kc->token_reread_ms);
}

/* ---- metrics ---- */

static void observe(struct kube_client *kc, const char *verb, long status,
                    double seconds)
{
    char code[CODE_LEN];
    size_t n = kc->nseries;

    if (status > 0)
        snprintf(code, sizeof(code), "%ld", status);
    else
        snprintf(code, sizeof(code), "<error>");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kc->series[i].verb, verb) == 0 &&
            strcmp(kc->series[i].code, code) == 0) {
            prom_histogram_observe(&kc->series[i].hist, seconds);
            return;
        }
    }
    if (n == MAX_METRIC_SERIES)
        return;
    struct api_series *s = &kc->series[n];
    snprintf(s->verb, sizeof(s->verb), "%s", verb);
    snprintf(s->code, sizeof(s->code), "%s", code);
    if (prom_histogram_init(&s->hist, prom_latency_buckets,
                            prom_latency_nbuckets) < 0)
        return;
    prom_histogram_observe(&s->hist, seconds);
    __atomic_store_n(&kc->nseries, n + 1, __ATOMIC_RELEASE);
}

void kube_client_stats(const struct kube_client *kc, struct kube_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!kc)
        return;
    out->watch_restarts = prom_get(&kc->watch_restarts);
    out->relists = prom_get(&kc->relists);
    out->api_errors = prom_get(&kc->api_errors);
}

void kube_client_write_metrics(const struct kube_client *kc, struct buf *out)
{
    size_t n;

    if (!kc)
        return;
    n = __atomic_load_n(&kc->nseries, __ATOMIC_ACQUIRE);
    prom_family(out, "portico_controller_api_request_duration_seconds",
                "histogram", "Kubernetes API request duration by verb and "
                "HTTP code (watches last until the server ends them).");
    for (size_t i = 0; i < n; i++) {
        const char *l[] = {"verb", kc->series[i].verb, "code",
                           kc->series[i].code, NULL};
        prom_histogram_write(out,
                             "portico_controller_api_request_duration_seconds",
                             l, &kc->series[i].hist);
    }
    prom_family(out, "portico_controller_watch_restarts_total", "counter",
                "Watches re-established (clean end, error or expiry).");
    prom_sample_u64(out, "portico_controller_watch_restarts_total", NULL,
                    prom_get(&kc->watch_restarts));
    prom_family(out, "portico_controller_relists_total", "counter",
                "Full re-lists after a watch expired (410) or failed lists.");
    prom_sample_u64(out, "portico_controller_relists_total", NULL,
                    prom_get(&kc->relists));
    prom_family(out, "portico_controller_api_errors_total", "counter",
                "Kubernetes API requests that failed (transport or HTTP >= "
                "400).");
    prom_sample_u64(out, "portico_controller_api_errors_total", NULL,
                    prom_get(&kc->api_errors));
}

void kube_client_count_watch_restart(struct kube_client *kc)
{
    prom_inc(&kc->watch_restarts);
}

void kube_client_count_relist(struct kube_client *kc)
{
    prom_inc(&kc->relists);
}

void kube_client_count_api_error(struct kube_client *kc)
{
    prom_inc(&kc->api_errors);
}

/* ---- requests ---- */

static void req_unlink(struct kube_req *r)
{
    struct kube_client *kc = r->kc;
    if (r->prev)
        r->prev->next = r->next;
    else if (kc->reqs == r)
        kc->reqs = r->next;
    else if (kc->deferred == r)
        kc->deferred = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(struct kube_req *r)
{
    if (r->easy) {
        if (r->added)
            curl_multi_remove_handle(r->kc->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    buf_free(&r->resp);
    free(r->url);
    free(r->body);
    free(r);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct kube_req *r = userdata;
    size_t n = size * nmemb;
    long status = 0;

    if (r->cancelled)
        return 0;
    /* Only a successful response is a stream; an error's Status body is
     * buffered for the done callback. */
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->on_data && status >= HTTP_OK && status < HTTP_MULTIPLE_CHOICES) {
        if (r->on_data(r->arg, ptr, n) != 0) {
            r->aborted = 1;
            return 0;
        }
        return n;
    }
    if (r->resp.len + n > MAX_BODY_BYTES) {
        r->too_large = 1;
        return 0;
    }
    buf_append(&r->resp, ptr, n);
    return buf_failed(&r->resp) ? 0 : n;
}

static size_t header_cb(char *buffer, size_t size, size_t nitems, void *ud)
{
    struct kube_req *r = ud;
    size_t n = size * nitems;

    httphdr_retry_after(buffer, n, &r->retry_after_s);
    return n;
}

/* What we authenticate with, for the 401 message. */
static void credential_desc(const struct kube_client *kc, char *out,
                            size_t len)
{
    const struct kube_config *c = &kc->cfg;

    if (c->token_file)
        snprintf(out, len, "bearer token from %s", c->token_file);
    else if (c->token)
        snprintf(out, len, "the kubeconfig's bearer token");
    else if (c->cert_file || c->cert_data)
        snprintf(out, len, "client certificate %s (signed by a CA the "
                 "server does not trust, expired, or not for client "
                 "authentication?)", c->cert_file ? c->cert_file
                 : "from client-certificate-data");
    else
        snprintf(out, len, "no credentials (the kubeconfig user has "
                 "neither a token nor a client certificate)");
}

static void finish(struct kube_client *kc, struct kube_req *r, CURLcode cc)
{
    struct kube_response resp;
    long status = 0;
    double secs;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    evloop_update_time(kc->loop);
    secs = (double)(evloop_now_ms(kc->loop) - r->start_ms) / MS_PER_S;
    observe(kc, r->verb, cc == CURLE_OK || r->aborted ? status : 0, secs);

    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.aborted = r->aborted;
    resp.retry_after_s = r->retry_after_s;
    if (r->too_large)
        resp.error = "response body too large";
    else if (cc != CURLE_OK && !r->aborted)
        resp.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
    resp.body = r->resp.data ? r->resp.data : "";
    resp.body_len = r->resp.len;
    if (resp.error || status >= HTTP_BAD_REQUEST)
        kube_client_count_api_error(kc);
    log_debug("kube: %s %s -> %ld%s%s (%.3f s)", r->verb, r->url, status,
              resp.error ? " " : "", resp.error ? resp.error : "", secs);
    if (status == HTTP_UNAUTHORIZED && !kc->unauthorized) {
        /* Once per spell of 401s: the reason is in the configuration. */
        char what[PATH_MAX + 128];
        kc->unauthorized = 1;
        credential_desc(kc, what, sizeof(what));
        log_error("kube: the API server does not accept our credentials "
                  "(401 Unauthorized): %s", what);
    } else if (status >= HTTP_OK && status < HTTP_MULTIPLE_CHOICES &&
               kc->unauthorized) {
        kc->unauthorized = 0;
        log_info("kube: the API server accepts our credentials again");
    }
    if (status == HTTP_UNAUTHORIZED && kc->cfg.token_file) {
        log_warn("kube: 401 Unauthorized; re-reading the token file");
        token_reload(kc);
    }
    req_unlink(r);
    r->added = 0;
    if (!r->cancelled && r->done)
        r->done(r->arg, &resp);
    req_free(r);
}

static void process_done(struct kube_client *kc)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(kc->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct kube_req *r = NULL;
        CURL *e = msg->easy_handle;
        CURLcode cc = msg->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(kc->multi, e);
        r->added = 0;
        finish(kc, r, cc);
    }
}

/* Requests started or cancelled while libcurl was running callbacks. */
static void process_deferred(struct kube_client *kc)
{
    while (kc->deferred) {
        struct kube_req *r = kc->deferred;
        req_unlink(r);
        if (r->cancelled) {
            req_free(r);
            continue;
        }
        r->next = kc->reqs;
        if (kc->reqs)
            kc->reqs->prev = r;
        kc->reqs = r;
        if (curl_multi_add_handle(kc->multi, r->easy) == CURLM_OK)
            r->added = 1;
        else
            r->cancelled = 1; /* cannot happen short of OOM */
    }
}

static void drive(struct kube_client *kc, curl_socket_t fd, int flags)
{
    int running;
    kc->in_curl = 1;
    curl_multi_socket_action(kc->multi, fd, flags, &running);
    kc->in_curl = 0;
    process_done(kc);
    process_deferred(kc);
}

static void io_cb(struct evloop *loop, int fd, unsigned events, void *arg)
{
    int flags = 0;
    if (events & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (events & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    drive(arg, fd, flags);
}

static void curl_timer_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int socket_fn(CURL *e, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    struct kube_client *kc = userp;
    unsigned ev = 0;

    if (what == CURL_POLL_REMOVE) {
        evloop_io_del(kc->loop, s);
        return 0;
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= EV_WRITE;
    if (evloop_io_set(kc->loop, s, ev, io_cb, kc) < 0)
        log_error("kube: cannot watch socket %d", (int)s);
    return 0;
}

static int timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    struct kube_client *kc = userp;
    if (timeout_ms < 0)
        evloop_timer_stop(kc->curl_timer);
    else
        evloop_timer_start(kc->curl_timer, (uint64_t)timeout_ms);
    return 0;
}

static int setup_tls(struct kube_client *kc, CURL *e)
{
    const struct kube_config *c = &kc->cfg;

    if (c->ca_data) {
        struct curl_blob b = {c->ca_data, c->ca_data_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    }
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->cert_data) {
        struct curl_blob b = {c->cert_data, c->cert_data_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (c->cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    }
    if (c->key_data) {
        struct curl_blob b = {c->key_data, c->key_data_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (c->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    }
    return 0;
}

struct kube_req *kube_request(struct kube_client *kc,
                              const struct kube_request_opts *o)
{
    struct kube_req *r = calloc(1, sizeof(*r));
    struct buf h;

    if (!r)
        return NULL;
    r->kc = kc;
    r->verb = o->verb ? o->verb : o->method;
    r->on_data = o->on_data;
    r->done = o->done;
    r->arg = o->arg;
    r->retry_after_s = -1;
    buf_init(&r->resp);
    evloop_update_time(kc->loop);
    r->start_ms = evloop_now_ms(kc->loop);
    if (asprintf(&r->url, "%s%s", kc->cfg.server, o->path) < 0) {
        r->url = NULL;
        goto fail;
    }
    if (o->body && !(r->body = strdup(o->body)))
        goto fail;
    if (!(r->easy = curl_easy_init()))
        goto fail;

    buf_init(&h);
    if (kc->token && *kc->token) {
        buf_printf(&h, "Authorization: Bearer %s", kc->token);
        r->headers = curl_slist_append(r->headers, h.data);
    }
    buf_free(&h);
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (o->content_type) {
        buf_init(&h);
        buf_printf(&h, "Content-Type: %s", o->content_type);
        r->headers = curl_slist_append(r->headers, h.data);
        buf_free(&h);
    }

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, kc->user_agent);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT,
                     o->timeout_s > 0 ? o->timeout_s : (long)DEFAULT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, (long)KEEPALIVE_IDLE_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, (long)KEEPALIVE_INTERVAL_S);
    if (o->stall_s > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->stall_s);
    }
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    } else if (strcmp(o->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (strcmp(o->method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    setup_tls(kc, e);
    if (kc->verbose)
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);

    if (kc->in_curl) {
        r->next = kc->deferred;
        if (kc->deferred)
            kc->deferred->prev = r;
        kc->deferred = r;
        evloop_timer_start(kc->curl_timer, 0);
        return r;
    }
    log_debug("kube: start %s %s", r->verb, r->url);
    if (curl_multi_add_handle(kc->multi, e) != CURLM_OK)
        goto fail;
    r->added = 1;
    r->next = kc->reqs;
    if (kc->reqs)
        kc->reqs->prev = r;
    kc->reqs = r;
    return r;
fail:
    req_free(r);
    return NULL;
}

void kube_request_cancel(struct kube_client *kc, struct kube_req *r)
{
    if (!r || r->cancelled)
        return;
    r->cancelled = 1;
    if (kc->in_curl) {
        /* Finish it once libcurl returns: the write callback refuses more
         * data, and process_deferred / finish free it. */
        req_unlink(r);
        r->next = kc->deferred;
        if (kc->deferred)
            kc->deferred->prev = r;
        kc->deferred = r;
        evloop_timer_start(kc->curl_timer, 0);
        return;
    }
    req_unlink(r);
    req_free(r);
}

/* ---- lifecycle ---- */

/* The token re-read period: a minute, or ENV_TOKEN_REREAD seconds. */
static uint64_t token_reread_ms(void)
{
    const char *v = getenv(ENV_TOKEN_REREAD);
    char *end;
    long s;

    if (!v || !*v)
        return TOKEN_REREAD_MS;
    errno = 0;
    s = strtol(v, &end, 10);
    if (errno || *end || s < 1 || s > TOKEN_REREAD_MAX_S) {
        log_warn("kube: ignoring %s=\"%s\" (want 1-%d seconds)",
                 ENV_TOKEN_REREAD, v, TOKEN_REREAD_MAX_S);
        return TOKEN_REREAD_MS;
    }
    return (uint64_t)s * MS_PER_S;
}

struct kube_client *kube_client_new(struct evloop *loop,
                                    const struct kube_client_opts *opts,
                                    char *err, size_t errlen)
{
    static int curl_ready;
    struct kube_client *kc;
    const char *base_ua;
    int rc;

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl initialisation failed");
            return NULL;
        }
        curl_ready = 1;
    }
    kc = calloc(1, sizeof(*kc));
    if (!kc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    kc->loop = loop;
    kc->verbose = getenv("PORTICO_KUBE_CURL_VERBOSE") != NULL;
    kc->token_reread_ms = token_reread_ms();
    if (opts && opts->kubeconfig && *opts->kubeconfig) {
        rc = kube_config_load_file(opts->kubeconfig, &kc->cfg, err, errlen);
    } else {
        const char *sa_dir = getenv(ENV_SA_DIR);
        rc = kube_config_in_cluster(sa_dir && *sa_dir ? sa_dir : KUBE_SA_DIR,
                                    &kc->cfg, err, errlen);
    }
    if (rc < 0) {
        free(kc);
        return NULL;
    }
    base_ua = opts && opts->user_agent ? opts->user_agent
                                       : "portico-controller";
    if (opts && opts->identity && *opts->identity) {
        if (asprintf(&kc->user_agent, "%s (%s)", base_ua, opts->identity) < 0)
            kc->user_agent = NULL;
    } else {
        kc->user_agent = strdup(base_ua);
    }
    /* As client-go: a token file wins over a static token (which stays
     * the fallback while the file cannot be read). */
    if (kc->cfg.token)
        kc->token = strdup(kc->cfg.token);
    token_reload(kc);
    kc->multi = curl_multi_init();
    kc->curl_timer = evloop_timer_new(loop, curl_timer_cb, kc);
    kc->token_timer = evloop_timer_new(loop, token_timer_cb, kc);
    if (!kc->user_agent || !kc->multi || !kc->curl_timer || !kc->token_timer) {
        snprintf(err, errlen, "out of memory");
        kube_client_free(kc);
        return NULL;
    }
    if (kc->cfg.token_file)
        evloop_timer_start(kc->token_timer, kc->token_reread_ms);
    curl_multi_setopt(kc->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(kc->multi, CURLMOPT_SOCKETDATA, kc);
    curl_multi_setopt(kc->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(kc->multi, CURLMOPT_TIMERDATA, kc);
    if (kc->cfg.token_file)
        log_info("kube: API server %s (token file %s re-read every %llu s)",
                 kc->cfg.server, kc->cfg.token_file,
                 (unsigned long long)(kc->token_reread_ms / MS_PER_S));
    else
        log_info("kube: API server %s", kc->cfg.server);
    return kc;
}

void kube_client_free(struct kube_client *kc)
{
    if (!kc)
        return;
    while (kc->reqs) {
        struct kube_req *r = kc->reqs;
        req_unlink(r);
        req_free(r);
    }
    while (kc->deferred) {
        struct kube_req *r = kc->deferred;
        req_unlink(r);
        req_free(r);
    }
    if (kc->multi)
        curl_multi_cleanup(kc->multi);
    evloop_timer_free(kc->curl_timer);
    evloop_timer_free(kc->token_timer);
    for (size_t i = 0; i < kc->nseries; i++)
        prom_histogram_free(&kc->series[i].hist);
    kube_config_free(&kc->cfg);
    free(kc->token);
    free(kc->user_agent);
    free(kc);
}

struct evloop *kube_client_loop(struct kube_client *kc)
{
    return kc->loop;
}

const char *kube_client_namespace(const struct kube_client *kc)
{
    return kc ? kc->cfg.namespace : NULL;
}

/* ---- helpers ---- */

long kube_status_code(const char *body, size_t len, char *reason,
                      size_t reasonlen)
{
    struct json_tokener *tok;
    struct json_object *o, *v;
    long code = 0;

    if (reason && reasonlen)
        reason[0] = '\0';
    if (!body || !len)
        return 0;
    tok = json_tokener_new();
    if (!tok)
        return 0;
    o = json_tokener_parse_ex(tok, body, (int)(len > 0x7fffffff ? 0x7fffffff
                                                                : len));
    json_tokener_free(tok);
    if (!o)
        return 0;
    if (json_object_object_get_ex(o, "code", &v))
        code = (long)json_object_get_int64(v);
    if (reason && reasonlen && json_object_object_get_ex(o, "reason", &v) &&
        json_object_is_type(v, json_type_string))
        snprintf(reason, reasonlen, "%s", json_object_get_string(v));
    json_object_put(o);
    return code;
}

void kube_collection_path(struct buf *out, const char *group, const char *ns,
                          const char *resource)
{
    if (ns)
        buf_printf(out, "%s/namespaces/%s/%s", group, ns, resource);
    else
        buf_printf(out, "%s/%s", group, resource);
}

void kube_query_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            buf_append(out, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

void kube_format_time(char *out, size_t outlen, int micro)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(out, outlen, "%s.%06ldZ", base, ts.tv_nsec / 1000);
    else
        snprintf(out, outlen, "%s%s", base, "Z");
}
