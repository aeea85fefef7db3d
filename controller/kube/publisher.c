/* publisher.c - leader election, Ingress status, DNSEndpoints (skeleton). */
#include <stdio.h>
#include <string.h>

#include "controller/kube/kube.h"

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
