/*
 * events.h - the state behind kube_emit_event (kube.h): an aggregation
 * cache owned by the client, and the Event body (pure; unit-tested).
 */
#ifndef PORTICO_KUBE_EVENTS_H
#define PORTICO_KUBE_EVENTS_H

#include <json-c/json.h>

struct kube_client;
struct kube_events;

struct kube_events *kube_events_new(void);
void kube_events_free(struct kube_events *e);
struct kube_events *kube_client_events(struct kube_client *kc);

/* A core/v1 Event about an Ingress, as JSON text (malloc'd). */
char *kube_event_body(const char *ns, const char *ingress_name,
                      const char *uid, const char *type, const char *reason,
                      const char *message, const char *event_name, long count,
                      const char *first, const char *last);

#endif
