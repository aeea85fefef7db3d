/*
 * kube.h - the Kubernetes side of the controller, as main.c wires it:
 * - kube_client: HTTP requests to the API server (libcurl multi on the
 *   controller's evloop), nothing else;
 * - kube_events: the Events about Ingresses (every replica remembers the
 *   problems, the leader writes them);
 * - kube_source: list+watch reflectors that feed the store;
 * - publisher: leader election on a Lease, and what the leader writes:
 *   Ingress status and DNSEndpoints. It shares the source's Ingress watch
 *   and turns the Events on when it leads.
 *
 *     kc = kube_client_new(loop, &opts, ...);
 *     ev = kube_events_new(kc, watch_namespace);
 *     ks = kube_source_start(kc, store, watch_namespace, ...);
 *     pub = publisher_start(kc, ev, ks, &popts, ...);
 *     ... publisher_free(pub); kube_source_free(ks); kube_events_free(ev);
 *     kube_client_free(kc);          (each before what it was given)
 *
 * Nothing here blocks the loop. Every call that talks to the API server
 * returns at once; results arrive through callbacks on the loop thread.
 */
#ifndef PORTICO_CONTROLLER_KUBE_H
#define PORTICO_CONTROLLER_KUBE_H

#include <stddef.h>

#include "evloop.h"
#include "controller/store.h"

struct kube_client;
struct kube_events;
struct kube_source;
struct publisher;

struct kube_client_opts {
    const char *kubeconfig;     /* path, or NULL for in-cluster config */
    const char *user_agent;
    const char *identity;       /* appended as " (identity)" to the
                                   User-Agent, so that the API server's
                                   audit log tells replicas apart; or NULL */
};

/* Loads the configuration (kubeconfig or the in-cluster service account:
 * token re-read every minute, CA file, KUBERNETES_SERVICE_HOST/PORT).
 * Test knobs in the environment: PORTICO_KUBE_SERVICEACCOUNT_DIR (instead
 * of /var/run/secrets/kubernetes.io/serviceaccount) and
 * PORTICO_KUBE_TOKEN_REREAD_SECONDS (instead of 60).
 * Returns NULL with a message in err when it cannot. */
struct kube_client *kube_client_new(struct evloop *loop,
                                    const struct kube_client_opts *opts,
                                    char *err, size_t errlen);
void kube_client_free(struct kube_client *kc);
/* The namespace of the kubeconfig's current context or of the in-cluster
 * service account, or NULL if neither says. */
const char *kube_client_namespace(const struct kube_client *kc);

/* LIST then WATCH each kind the controller needs (Ingress, IngressClass,
 * Service, and Secrets of type kubernetes.io/tls only), feeding the store;
 * lists are paged (limit=500) and enter the store page by page through its
 * mark-and-sweep (store_sweep_begin/put/store_sweep_end); resumes from the
 * last resourceVersion, relists on 410 Expired, honours bookmarks, backs
 * off with jitter on errors (Retry-After honoured). watch_namespace NULL
 * or "" means all namespaces (IngressClass is cluster-scoped and always
 * watched cluster-wide). */
struct kube_source *kube_source_start(struct kube_client *kc,
                                      struct store *store,
                                      const char *watch_namespace,
                                      char *err, size_t errlen);
void kube_source_free(struct kube_source *src);

/* One Ingress the controller serves, as the publisher needs it. */
struct served_ingress {
    const char *ns;
    const char *name;
    const char *uid;
    const char *const *hosts;   /* rule hosts and tls hosts, deduplicated */
    size_t nhosts;
    /* Its ExternalDNS annotations, the prefix taken off
     * (externaldns_annotations_of), or NULL. */
    struct json_object *externaldns;
};

struct publisher_opts {
    const char *identity;            /* pod name; unique per replica */
    const char *lease_namespace;     /* the controller's namespace */
    const char *lease_name;          /* default "portico-leader" */
    int lease_duration_s;            /* 15 */
    int renew_deadline_s;            /* 10 */
    int retry_period_s;              /* 2 */
    const char *publish_service;     /* "NS/NAME" or NULL */
    const char *const *publish_addresses; /* IPs or hostnames, or NULL */
    size_t npublish_addresses;
    int publish_dnsendpoints;
    /* ExternalDNS's annotation prefix (externaldns.h), ending in '/'. */
    const char *externaldns_prefix;
    /* Clear the status on shutdown when no other replica runs. Replicas
     * are Pods in pod_namespace (NULL: lease_namespace) matching
     * replica_selector (NULL: this Pod's labels but the rollout ones). */
    int clear_status_on_shutdown;
    const char *pod_namespace;
    const char *replica_selector;
    /* The namespace the publisher's views (Ingress status, DNSEndpoints)
     * watch. NULL or "": the source's (all if none). */
    const char *watch_namespace;
};

/* Starts leader election (client-go's algorithm on the Lease
 * opts->lease_name); only the leader writes status (merge patches on
 * /status, only when different), DNSEndpoints and the Lease, and Events
 * (events: set to leading and back). Ingresses no longer served lose the
 * status we wrote, and their DNSEndpoint. source: the publisher's view of
 * the Ingresses' status rides on its Ingress watch when both watch the
 * same namespace, and it was just started (its first list not complete);
 * otherwise, or with source NULL, the publisher watches Ingresses itself.
 * Free the publisher before the source and the events. */
struct publisher *publisher_start(struct kube_client *kc,
                                  struct kube_events *events,
                                  struct kube_source *source,
                                  const struct publisher_opts *opts,
                                  char *err, size_t errlen);
/* The set of Ingresses served after a successful reload. The publisher
 * copies what it needs and converges status/DNSEndpoints asynchronously. */
void publisher_update(struct publisher *p, const struct served_ingress *list,
                      size_t n);
int publisher_is_leader(const struct publisher *p);
/* Releases the lease and, if asked, clears the status when this is the
 * last replica; returns at once, the requests finish while the loop still
 * runs for up to timeout_ms. */
void publisher_shutdown(struct publisher *p, int timeout_ms);
/* 1 while requests started by publisher_shutdown are still in flight. */
int publisher_busy(const struct publisher *p);
/* The publisher's metrics (DNSEndpoint API availability, conflicts). */
struct buf;
void publisher_write_metrics(const struct publisher *p, struct buf *out);
void publisher_free(struct publisher *p);

/* The Events of this controller, listed (when it becomes the leader) in
 * watch_namespace (NULL or "": all). NULL when out of memory. */
struct kube_events *kube_events_new(struct kube_client *kc,
                                    const char *watch_namespace);
/* Cancels its requests. */
void kube_events_free(struct kube_events *ev);
/* The object an Event is about. */
struct kube_object_ref {
    const char *api_version;    /* "v1", "networking.k8s.io/v1" */
    const char *kind;           /* "Pod", "Ingress" */
    const char *ns;
    const char *name;
    const char *uid;            /* or NULL */
};
/* Records a Kubernetes Event about any object (the controller's own Pod:
 * a problem of the controller rather than of one Ingress). Written only
 * when leading (and done listing the Events already written); not
 * remembered for a later leader (which finds the problem itself).
 * Returns 1 when the write started, 0 when it cannot be now. */
int kube_events_emit_object(struct kube_events *ev,
                            const struct kube_object_ref *obj,
                            const char *type, const char *reason,
                            const char *message);
/* Records a Kubernetes Event on an Ingress (type "Normal" or "Warning"),
 * e.g. reason "Rejected" with the validation message. Fire and forget:
 * written now when leading, else when this replica becomes the leader
 * (unless the Ingress is served meanwhile: kube_events_forget). Returns 1
 * when it is written now. */
int kube_events_emit(struct kube_events *ev, const char *ns,
                     const char *ingress_name, const char *uid,
                     const char *type, const char *reason,
                     const char *message);
/* Remembers that Event as the Ingress's current one without writing it
 * now: a replica that becomes the leader writes it unless an Event
 * already says so (a served Ingress's notice, which publisher_update
 * forgets with its problems). */
void kube_events_remember(struct kube_events *ev, const char *ns,
                          const char *ingress_name, const char *uid,
                          const char *type, const char *reason,
                          const char *message);

/* Counters for the controller's /metrics. */
struct kube_stats {
    unsigned long long watch_restarts;
    unsigned long long relists;
    unsigned long long api_errors;
};
void kube_client_stats(const struct kube_client *kc, struct kube_stats *out);
/* Writes portico_controller_api_request_duration_seconds (histogram by
 * verb and code) and the watch counters into out. */
void kube_client_write_metrics(const struct kube_client *kc, struct buf *out);

#endif
