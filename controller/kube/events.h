/*
 * events.h - the inside of kube_events (kube.h): the Ingresses' current
 * problems (every replica), the aggregation cache of the Events written
 * (the leader), and the Event body and key (pure; unit-tested).
 *
 * Only the leader writes Events. Every replica remembers each Ingress's
 * current problem; a replica that becomes the leader first lists the
 * Events portico-controller already wrote (source=portico-controller), so
 * what an earlier leader recorded is adopted rather than written again,
 * then writes an Event for each current problem that has none.
 */
#ifndef PORTICO_KUBE_EVENTS_H
#define PORTICO_KUBE_EVENTS_H

#include <json-c/json.h>

#include "controller/kube/kube.h"

/* Leadership changes (from the publisher). Becoming the leader starts the
 * list of existing Events and then the Events for current problems;
 * losing it stops all Event writes (those in flight finish). */
void kube_events_set_leader(struct kube_events *e, int leader);
/* The Ingress ns/name is served again or gone: it has no problem now. */
void kube_events_forget(struct kube_events *e, const char *ns,
                        const char *name);

/* A core/v1 Event about obj, as JSON text (malloc'd). */
char *kube_event_body(const struct kube_object_ref *obj, const char *type,
                      const char *reason, const char *message,
                      const char *event_name, long count, const char *first,
                      const char *last);
/* What makes two Events "the same" for aggregation (malloc'd): the
 * involved object (kind, namespace, name, uid), type, reason and
 * message. */
char *kube_event_key(const struct kube_object_ref *obj, const char *type,
                     const char *reason, const char *message);
/* The same key read back from an Event object, or NULL when it is not
 * one. */
char *kube_event_key_of(struct json_object *event);

#endif
