/* metrics.c - /metrics, /healthz and /readyz of the controller (see
 * metrics.h). */
#include "controller/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "controller/nginx.h"
#include "httpd.h"
#include "prom.h"

#define P "portico_controller_"

static const char *const result_names[RELOAD_RESULT_COUNT] = {
    [RELOAD_OK] = "success",
    [RELOAD_INVALID] = "invalid",
    [RELOAD_UNCONFIRMED] = "unconfirmed",
    [RELOAD_ERROR] = "error",
};

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->leader = -1;
}

void metrics_destroy(struct metrics *m)
{
    free(m->kube_text);
    free(m->secret_certs_text);
    free(m->annotations_text);
    pthread_mutex_destroy(&m->lock);
}

void metrics_set_kube(struct metrics *m, char *text)
{
    pthread_mutex_lock(&m->lock);
    free(m->kube_text);
    m->kube_text = text;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_secret_certs(struct metrics *m, char *text)
{
    pthread_mutex_lock(&m->lock);
    free(m->secret_certs_text);
    m->secret_certs_text = text;
    pthread_mutex_unlock(&m->lock);
}

/* ---- annotations -------------------------------------------------------- */

#define ANNOTATION_KEY_MAX 317      /* prefix (253) + '/' + name (63) */

struct key_count {
    const char *key;
    size_t n;
};

static int cmp_key_count(const void *a, const void *b)
{
    const struct key_count *x = a, *y = b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The key as a label value: as it is when Kubernetes could have
 * accepted it, else "_invalid" (local mode reads any YAML). */
static const char *key_label(const char *key)
{
    size_t n = strlen(key);

    if (n == 0 || n > ANNOTATION_KEY_MAX ||
        strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_./") != n)
        return "_invalid";
    return key;
}

static void write_unknown(struct buf *b, struct json_object *counts)
{
    size_t n = (size_t)json_object_object_length(counts), i = 0, other = 0;
    struct key_count *kc = calloc(n ? n : 1, sizeof(*kc));

    prom_family(b, P "annotations_unknown", "gauge",
                "Ingresses of our class carrying an unknown annotation "
                "key under portico.io/ or the ingress-nginx prefix.");
    if (!kc)
        return;
    json_object_object_foreach(counts, key, v) {
        kc[i].key = key;
        kc[i++].n = (size_t)json_object_get_int64(v);
    }
    if (n > 1)
        qsort(kc, n, sizeof(*kc), cmp_key_count);
    for (i = 0; i < n; i++) {
        if (i >= METRICS_UNKNOWN_KEYS_MAX) {
            other += kc[i].n;
            continue;
        }
        const char *l[] = {"key", kc[i].key, NULL};
        prom_sample_u64(b, P "annotations_unknown", l, kc[i].n);
    }
    if (other) {
        const char *l[] = {"key", "_other", NULL};
        prom_sample_u64(b, P "annotations_unknown", l, other);
    }
    free(kc);
}

void metrics_set_annotations(struct metrics *m, const struct model *model)
{
    uint64_t by[ANN_OUTCOME_COUNT] = {0};
    struct json_object *unknown = json_object_new_object();
    struct buf b;

    if (!unknown)
        return;
    for (size_t i = 0; i < model->ning; i++) {
        const struct ann_result *a = &model->ings[i].ann;
        size_t applied = 0;
        for (size_t j = 0; j < a->nfindings; j++) {
            const struct ann_finding *f = &a->findings[j];
            applied += f->outcome == ANN_APPLIED;
            by[f->outcome]++;
            if (f->outcome != ANN_UNKNOWN)
                continue;
            const char *k = key_label(f->key);
            struct json_object *c;
            int64_t now = json_object_object_get_ex(unknown, k, &c)
                              ? json_object_get_int64(c) : 0;
            json_object_object_add(unknown, k, json_object_new_int64(now + 1));
        }
        /* Applied ones have findings only in lint mode. */
        if (!applied)
            by[ANN_APPLIED] += a->nvalues;
    }
    buf_init(&b);
    prom_family(&b, P "annotations", "gauge",
                "Annotations under our prefixes on the Ingresses of our "
                "class, by outcome (applied, ignored, unenforced, unknown, "
                "shadowed, refused).");
    for (int o = 0; o < ANN_OUTCOME_COUNT; o++) {
        const char *l[] = {"outcome", ann_outcome_name((enum ann_outcome)o),
                           NULL};
        prom_sample_u64(&b, P "annotations", l, by[o]);
    }
    write_unknown(&b, unknown);
    json_object_put(unknown);
    pthread_mutex_lock(&m->lock);
    free(m->annotations_text);
    m->annotations_text = buf_failed(&b) ? NULL : buf_steal(&b, NULL);
    pthread_mutex_unlock(&m->lock);
    buf_free(&b);
}

static void counter(struct buf *out, const char *name, const char *help,
                    uint64_t v)
{
    prom_family(out, name, "counter", help);
    prom_sample_u64(out, name, NULL, v);
}

static void gauge(struct buf *out, const char *name, const char *help,
                  double v)
{
    prom_family(out, name, "gauge", help);
    prom_sample(out, name, NULL, v);
}

/* A counter family with one sample per enum reload_result. */
static void by_result(struct buf *out, const char *name, const char *help,
                      const uint64_t counts[RELOAD_RESULT_COUNT])
{
    prom_family(out, name, "counter", help);
    for (int r = 0; r < RELOAD_RESULT_COUNT; r++) {
        const char *l[] = {"result", result_names[r], NULL};
        prom_sample_u64(out, name, l, counts[r]);
    }
}

void metrics_write(struct metrics *m, struct buf *out)
{
    pthread_mutex_lock(&m->lock);
    by_result(out, P "reloads_total",
              "nginx config reload attempts by result.", m->reloads);
    by_result(out, P "route_updates_total",
              "Route table swaps without a reload (only the table "
              "changed) by result.", m->route_updates);
    by_result(out, P "certificate_updates_total",
              "Certificate table swaps without a reload (certificates "
              "added, rotated or removed) by result.",
              m->certificate_updates);
    counter(out, P "reloads_skipped_total",
            "Renders identical to the served config and route table.",
            m->skipped);
    gauge(out, P "last_reload_success",
          "1 if the last reload attempt succeeded, else 0.",
          m->last_reload_ok);
    gauge(out, P "config_applied",
          "1 when nginx serves the latest configuration rendered (nginx.conf "
          "and tables); 0 after a reload or table swap failed (nginx keeps "
          "the previous one) or nginx died, until the next success.",
          m->config_applied);
    gauge(out, P "last_reload_timestamp_seconds",
          "Unix time of the last confirmed reload.", m->last_reload_ts);
    gauge(out, P "last_reload_duration_seconds",
          "Time from rendering to nginx serving the new config.",
          m->last_reload_seconds);
    gauge(out, P "last_route_update_timestamp_seconds",
          "Unix time of the last confirmed route table swap.",
          m->last_route_update_ts);
    gauge(out, P "last_route_update_duration_seconds",
          "Time from rendering to every nginx worker using the new route "
          "table.", m->last_route_update_seconds);
    prom_family(out, P "config_hash_info", "gauge",
                "The nginx.conf version nginx serves (hash label).");
    {
        const char *l[] = {"hash", m->config_hash, NULL};
        prom_sample(out, P "config_hash_info", l, 1);
    }
    prom_family(out, P "routes_hash_info", "gauge",
                "The route table version every nginx worker uses (hash "
                "label).");
    {
        const char *l[] = {"hash", m->routes_hash, NULL};
        prom_sample(out, P "routes_hash_info", l, 1);
    }
    prom_family(out, P "certificates_hash_info", "gauge",
                "The certificate table version every nginx worker uses "
                "(hash label).");
    {
        const char *l[] = {"hash", m->certificates_hash, NULL};
        prom_sample(out, P "certificates_hash_info", l, 1);
    }
    gauge(out, P "config_bytes", "Size of the running nginx.conf.",
          (double)m->config_bytes);
    gauge(out, P "routes_bytes", "Size of the route table in use.",
          (double)m->routes_bytes);
    gauge(out, P "certificates_bytes",
          "Size of the certificate table in use.",
          (double)m->certificates_bytes);
    gauge(out, P "certificate_hosts",
          "Hosts with their own certificate (certificate table lines).",
          (double)m->certificate_hosts);
    gauge(out, P "servers", "Hosts served (route table sections).",
          (double)m->servers);
    gauge(out, P "upstreams", "nginx upstreams (Service ports).",
          (double)m->upstreams);
    gauge(out, P "upstreams_unresolved",
          "Upstreams that resolved to no address when the last change was "
          "served (their paths answer 503).",
          (double)m->upstreams_unresolved);
    gauge(out, P "upstreams_pending",
          "Upstreams still waiting for their first address when the last "
          "change was served.",
          (double)m->upstreams_pending);
    prom_family(out, P "ingresses", "gauge",
                "Ingresses of our class by state.");
    for (int s = 0; s < ING_STATE_COUNT; s++) {
        const char *l[] = {"state", ingress_state_name((enum ingress_state)s),
                           NULL};
        prom_sample_u64(out, P "ingresses", l, m->ingresses[s]);
    }
    counter(out, P "ingress_rejections_total",
            "Ingresses that became rejected by validation.", m->rejections);
    counter(out, P "ingress_exclusions_total",
            "Ingresses left out because nginx -t failed on them.",
            m->exclusions);
    counter(out, P "nginx_restarts_total",
            "Times the nginx master died and was restarted.",
            m->nginx_restarts);
    counter(out, P "late_confirmations_total",
            "Changes nginx served after the confirmation timeout had "
            "counted them unconfirmed.", m->late_confirmations);
    gauge(out, P "ready", "1 once the first config is served.", m->ready);
    if (m->leader >= 0)
        gauge(out, P "leader", "1 if this replica holds the leader Lease.",
              m->leader);
    if (m->annotations_text)
        buf_puts(out, m->annotations_text);
    if (m->kube_text)
        buf_puts(out, m->kube_text);
    /* Last under the lock, so that Vault's samples continue it: one
     * family for the certificates of both sources. */
    certs_expiry_family(out);
    if (m->secret_certs_text)
        buf_puts(out, m->secret_certs_text);
    pthread_mutex_unlock(&m->lock);
    if (m->certs) {
        certs_expiry_write(m->certs, out);
        certs_metrics_write(m->certs, out);
    }
}

/* nginx's request metrics, fetched now; the gauge says whether they came
 * (nginx down, or not yet started: 0, and the families are missing). */
static void write_nginx(struct metrics *m, struct buf *out)
{
    struct buf text;
    int ok;

    buf_init(&text);
    ok = nginx_get(m->nginx_status_port, "/metrics", METRICS_NGINX_MAX,
                   METRICS_NGINX_TIMEOUT_MS, &text) == 0;
    gauge(out, P "nginx_metrics_up",
          "1 if nginx's request metrics (portico_requests_total, ...) were "
          "fetched from its status port for this scrape.", ok);
    if (ok)
        buf_append(out, text.data, text.len);
    buf_free(&text);
}

void metrics_http_handler(void *ctx, const char *path,
                          struct httpd_response *resp)
{
    struct metrics *m = ctx;
    int ready;

    if (strcmp(path, "/metrics") == 0) {
        resp->content_type = PROM_CONTENT_TYPE;
        metrics_write(m, &resp->body);
        if (m->nginx_status_port)
            write_nginx(m, &resp->body);
    } else if (strcmp(path, "/healthz") == 0) {
        buf_puts(&resp->body, "ok\n");
    } else if (strcmp(path, "/readyz") == 0) {
        pthread_mutex_lock(&m->lock);
        ready = m->ready;
        pthread_mutex_unlock(&m->lock);
        resp->status = ready ? 200 : 503;
        buf_puts(&resp->body, ready ? "ready\n" : "not ready: no config yet\n");
    } else {
        resp->status = 404;
        buf_puts(&resp->body, "not found\n");
    }
}
