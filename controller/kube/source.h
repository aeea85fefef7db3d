/*
 * source.h - what a kube_source (kube.h) offers the rest of
 * controller/kube/: its Ingresses, as one more sink, so that Ingresses are
 * listed and watched once per controller.
 */
#ifndef PORTICO_KUBE_SOURCE_H
#define PORTICO_KUBE_SOURCE_H

#include "controller/kube/kube.h"
#include "controller/kube/reflector.h"

/* Feeds tap (copied) with every Ingress the source lists or watches, from
 * its first list on. -1 when that first list is already complete (the tap
 * would miss it) or another tap is set. NULL removes the tap. */
int kube_source_tap_ingresses(struct kube_source *src,
                              const struct reflector_sink *tap);
/* The namespace it watches; NULL: all. */
const char *kube_source_namespace(const struct kube_source *src);

#endif
