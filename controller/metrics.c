/* metrics.c - /metrics, /healthz and /readyz of the controller (see
 * metrics.h). */
#include "controller/metrics.h"

#include <stdlib.h>
#include <string.h>

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

void metrics_write(struct metrics *m, struct buf *out)
{
    pthread_mutex_lock(&m->lock);
    prom_family(out, P "reloads_total", "counter",
                "nginx config reload attempts by result.");
    for (int r = 0; r < RELOAD_RESULT_COUNT; r++) {
        const char *l[] = {"result", result_names[r], NULL};
        prom_sample_u64(out, P "reloads_total", l, m->reloads[r]);
    }
    prom_family(out, P "route_updates_total", "counter",
                "Route table swaps without a reload (only the table "
                "changed) by result.");
    for (int r = 0; r < RELOAD_RESULT_COUNT; r++) {
        const char *l[] = {"result", result_names[r], NULL};
        prom_sample_u64(out, P "route_updates_total", l,
                        m->route_updates[r]);
    }
    counter(out, P "reloads_skipped_total",
            "Renders identical to the served config and route table.",
            m->skipped);
    gauge(out, P "last_reload_success",
          "1 if the last reload attempt succeeded, else 0.",
          m->last_reload_ok);
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
    gauge(out, P "config_bytes", "Size of the running nginx.conf.",
          (double)m->config_bytes);
    gauge(out, P "routes_bytes", "Size of the route table in use.",
          (double)m->routes_bytes);
    gauge(out, P "servers", "Hosts served (route table sections).",
          (double)m->servers);
    gauge(out, P "upstreams", "nginx upstreams (Service ports).",
          (double)m->upstreams);
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
    gauge(out, P "ready", "1 once the first config is served.", m->ready);
    if (m->leader >= 0)
        gauge(out, P "leader", "1 if this replica holds the leader Lease.",
              m->leader);
    if (m->secret_certs_text)
        buf_puts(out, m->secret_certs_text);
    if (m->kube_text)
        buf_puts(out, m->kube_text);
    pthread_mutex_unlock(&m->lock);
    if (m->certs)
        certs_metrics_write(m->certs, out);
}

void metrics_http_handler(void *ctx, const char *path,
                          struct httpd_response *resp)
{
    struct metrics *m = ctx;
    int ready;

    if (strcmp(path, "/metrics") == 0) {
        resp->content_type = PROM_CONTENT_TYPE;
        metrics_write(m, &resp->body);
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
