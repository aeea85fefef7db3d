/* client.c - Kubernetes API client (skeleton: real implementation follows). */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/kube.h"

struct kube_client *kube_client_new(struct evloop *loop,
                                    const struct kube_client_opts *opts,
                                    char *err, size_t errlen)
{
    snprintf(err, errlen, "kube client: not implemented yet");
    return NULL;
}

void kube_client_free(struct kube_client *kc) {}

struct kube_source *kube_source_start(struct kube_client *kc,
                                      struct store *store,
                                      const char *watch_namespace,
                                      char *err, size_t errlen)
{
    snprintf(err, errlen, "kube source: not implemented yet");
    return NULL;
}

void kube_source_free(struct kube_source *src) {}

struct publisher *publisher_start(struct kube_client *kc,
                                  const struct publisher_opts *opts,
                                  char *err, size_t errlen)
{
    snprintf(err, errlen, "publisher: not implemented yet");
    return NULL;
}

void publisher_update(struct publisher *p, const struct served_ingress *list,
                      size_t n) {}
int publisher_is_leader(const struct publisher *p) { return 0; }
void publisher_shutdown(struct publisher *p, int timeout_ms) {}
void publisher_free(struct publisher *p) {}

void kube_emit_event(struct kube_client *kc, const char *ns,
                     const char *ingress_name, const char *uid,
                     const char *type, const char *reason,
                     const char *message) {}

void kube_client_stats(const struct kube_client *kc, struct kube_stats *out)
{
    memset(out, 0, sizeof(*out));
}

void kube_client_write_metrics(const struct kube_client *kc, struct buf *out) {}
