/*
 * metrics.h - the controller's :10254 endpoint: /metrics (prefix
 * portico_controller_, promtool clean), /healthz, /readyz (ready after the
 * first confirmed config).
 *
 * The loop thread owns the figures and writes them here under a mutex;
 * the HTTP thread only reads them while holding it. Vault metrics come
 * straight from the certificate pipeline (thread-safe); Kubernetes client
 * metrics are copied in as text by the loop thread (metrics_set_kube).
 * nginx's request metrics (prefix portico_, docs/metrics.md) are fetched
 * from its status port at scrape time, on the HTTP thread, and appended.
 */
#ifndef PORTICO_CONTROLLER_METRICS_H
#define PORTICO_CONTROLLER_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "controller/model.h"
#include "vault/certs.h"

/* Results of a reload (nginx.conf changed) and of a route table swap
 * (only the table changed). */
enum reload_result {
    RELOAD_OK,              /* reloaded (or swapped) and confirmed */
    RELOAD_INVALID,         /* nginx -t refused the candidate */
    RELOAD_UNCONFIRMED,     /* nginx never served the new version */
    RELOAD_ERROR,           /* could not render, write or signal */
    RELOAD_RESULT_COUNT
};

struct metrics {
    pthread_mutex_t lock;
    uint64_t reloads[RELOAD_RESULT_COUNT];
    uint64_t route_updates[RELOAD_RESULT_COUNT];  /* table swaps */
    uint64_t certificate_updates[RELOAD_RESULT_COUNT]; /* of the
                                                certificate table */
    uint64_t skipped;               /* renders identical to what is served */
    uint64_t exclusions;            /* Ingresses left out after nginx -t */
    uint64_t rejections;            /* validation failures (transitions) */
    uint64_t nginx_restarts;
    uint64_t late_confirmations;    /* changes served after they were
                                       counted unconfirmed */
    double last_reload_ts;          /* unix seconds of the last success */
    int last_reload_ok;
    int config_applied;             /* nginx serves the latest render:
                                       0 after a failed reload or swap,
                                       or nginx's death, until a success */
    double last_reload_seconds;     /* render to confirmed */
    double last_route_update_ts;    /* unix seconds of the last table swap */
    double last_route_update_seconds;   /* render to confirmed */
    char config_hash[32];
    char routes_hash[32];           /* the route table version served */
    char certificates_hash[32];     /* the certificate table version */
    size_t ingresses[ING_STATE_COUNT];
    size_t servers, upstreams, config_bytes, routes_bytes;
    size_t certificates_bytes, certificate_hosts;
    size_t upstreams_pending, upstreams_unresolved;  /* at the last change */
    int ready;
    int leader;                     /* -1: no election (local mode) */
    char *kube_text;                /* from kube_client_write_metrics */
    char *secret_certs_text;        /* expiry of Secret certificates: the
                                       samples of CERTS_EXPIRY_METRIC */
    char *annotations_text;         /* annotations by outcome, unknown
                                       keys (metrics_set_annotations) */
    struct certs_pipeline *certs;   /* may be NULL */
    int nginx_status_port;          /* 127.0.0.1:N/metrics, or 0: none */
};

/* nginx's /metrics: at most this much, within this time */
#define METRICS_NGINX_MAX        (256u << 20)
#define METRICS_NGINX_TIMEOUT_MS 5000

void metrics_init(struct metrics *m);
void metrics_destroy(struct metrics *m);
/* Takes ownership of text (malloc'd). */
void metrics_set_kube(struct metrics *m, char *text);
/* Takes ownership of text (malloc'd). */
void metrics_set_secret_certs(struct metrics *m, char *text);
/* Annotations on the Ingresses of our class: portico_controller_
 * annotations{outcome} (how many are applied, ignored, unknown, ...) and
 * annotations_unknown{key} (Ingresses carrying each unknown key under our
 * prefixes: the METRICS_UNKNOWN_KEYS_MAX most frequent keys, the others
 * summed as key="_other"; a key with characters Kubernetes does not allow
 * as key="_invalid"). */
#define METRICS_UNKNOWN_KEYS_MAX 32
void metrics_set_annotations(struct metrics *m, const struct model *model);
void metrics_write(struct metrics *m, struct buf *out);

/* httpd handler: /metrics, /healthz, /readyz. ctx is the struct metrics. */
struct httpd_response;
void metrics_http_handler(void *ctx, const char *path,
                          struct httpd_response *resp);

#endif
