/*
 * store.h - the controller's in-memory copy of the cluster resources it
 * needs, fed by a source (controller/dirsource.c for local mode,
 * controller/kube/ for the Kubernetes API). This header is the contract
 * between the sources and the rest of the controller.
 *
 * Objects are json-c objects in the Kubernetes wire shape (metadata.name,
 * metadata.namespace, spec, ...). Items from a LIST lack kind/apiVersion;
 * the store never relies on them. The store takes its own reference
 * (json_object_get) on every object it keeps; callers keep theirs.
 *
 * Every change marks the store dirty and wakes the controller, which
 * debounces, rebuilds the model and renders nginx.conf.
 */
#ifndef PORTICO_CONTROLLER_STORE_H
#define PORTICO_CONTROLLER_STORE_H

#include <json-c/json.h>

enum resource_kind {
    RK_INGRESS,
    RK_INGRESS_CLASS,
    RK_SERVICE,
    RK_SECRET,
    RK_COUNT
};

struct store;

/* ADDED or MODIFIED. obj must have metadata.name (and namespace unless the
 * kind is cluster-scoped). Returns 0, or -1 if obj is unusable (logged). */
int store_put(struct store *s, enum resource_kind kind,
              struct json_object *obj);
/* DELETED. Unknown objects are ignored. */
void store_remove(struct store *s, enum resource_kind kind, const char *ns,
                  const char *name);
/* The full set of a kind after a (re)list: objects not in items are
 * removed. items is a json array (a LIST's "items"). */
int store_replace(struct store *s, enum resource_kind kind,
                  struct json_object *items);
/* The source has delivered a complete initial list of this kind. The
 * controller renders its first config only once every kind it watches is
 * synced, so it never serves a partial view as if it were complete. */
void store_mark_synced(struct store *s, enum resource_kind kind);

const char *resource_kind_name(enum resource_kind kind);

/* ---- the controller's side (extension of the contract) ---------------- */

/* Called on the loop thread after every change that altered the store
 * (a put of an identical object is not a change). */
typedef void (*store_change_cb)(void *arg);

struct store *store_new(store_change_cb on_change, void *arg);
void store_free(struct store *s);
/* Borrowed reference, or NULL. ns is ignored for cluster-scoped kinds. */
struct json_object *store_get(const struct store *s, enum resource_kind kind,
                              const char *ns, const char *name);
size_t store_count(const struct store *s, enum resource_kind kind);
/* Every object of kind, sorted by "namespace/name" (borrowed references
 * in a malloc'd array the caller frees). 0, or -1 out of memory. */
int store_list(const struct store *s, enum resource_kind kind,
               struct json_object ***out, size_t *n);
int store_is_synced(const struct store *s, enum resource_kind kind);
/* Incremented on every change. */
unsigned long long store_generation(const struct store *s);

/* Helpers for json-c objects in the Kubernetes wire shape: the string at
 * a dotted path ("metadata.name"), or NULL when absent or not a string. */
const char *k8s_str(struct json_object *obj, const char *path);
struct json_object *k8s_get(struct json_object *obj, const char *path);

#endif
