/*
 * store.h - the controller's in-memory copy of the cluster resources it
 * needs, fed by a source (controller/dirsource.c for local mode,
 * controller/kube/ for the Kubernetes API). This header is the contract
 * between the sources and the rest of the controller.
 *
 * Objects are json-c objects in the Kubernetes wire shape (metadata.name,
 * metadata.namespace, spec, ...). Items from a LIST lack kind/apiVersion;
 * the store never relies on them. The store keeps its own compact copy
 * of every object (see below); callers keep their references.
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
    RK_SECRET,          /* kubernetes.io/tls (the local source: every
                           Secret) */
    RK_SECRET_OPAQUE,   /* Opaque: htpasswd files, client CAs (the
                           Kubernetes API only, a watch of its own) */
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

/* Objects are kept compact: serialized JSON (without status,
 * metadata.resourceVersion, metadata.managedFields, the kubectl
 * last-applied annotation, metadata.creationTimestamp (store_entry's
 * created), metadata.generation, kind and apiVersion), in one allocation
 * with the entry, parsed again when needed, so 10k Ingresses cost
 * megabytes, not the ~7 KB per object json-c trees do. Of a Service only
 * metadata.name/namespace and spec.ports, type, externalName and
 * clusterIP are kept (what the model reads: a reader of any other field
 * of a Service must add it to store.c's service_kept). A write that only
 * changes what is dropped (e.g. the status the publisher sets) is not a
 * change. */

/* Called on the loop thread after every change that altered the store
 * (a put of an identical object is not a change). */
typedef void (*store_change_cb)(void *arg);

/* One stored object. Valid until the next change of the store. */
struct store_entry {
    char *key;          /* "namespace/name", or "name" if cluster-scoped */
    char *ns;           /* NULL for cluster-scoped kinds */
    char *name;
    long long created;  /* metadata.creationTimestamp (unix s), 0 if none */
    char *json;
    size_t len;
    int mark;           /* for store_sweep_* */
    unsigned long long rev;     /* this content of this object: never
                                   given twice (model.c's cache) */
};

struct store *store_new(store_change_cb on_change, void *arg);
void store_free(struct store *s);
/* A NEW reference to the parsed object (json_object_put it), or NULL. ns
 * is ignored for cluster-scoped kinds. */
struct json_object *store_get(const struct store *s, enum resource_kind kind,
                              const char *ns, const char *name);
/* A Secret of either kind (store_get); NULL when there is none. */
struct json_object *store_get_secret(const struct store *s, const char *ns,
                                     const char *name);
const struct store_entry *store_lookup(const struct store *s,
                                       enum resource_kind kind,
                                       const char *ns, const char *name);
/* The entry of a store key ("namespace/name", or "name"), or NULL. */
const struct store_entry *store_lookup_key(const struct store *s,
                                           enum resource_kind kind,
                                           const char *key);
/* A new reference to the entry's parsed object, or NULL. */
struct json_object *store_entry_parse(const struct store_entry *e);
size_t store_count(const struct store *s, enum resource_kind kind);
/* Every entry of kind, sorted by key (malloc'd array of borrowed
 * pointers the caller frees). 0, or -1 out of memory. */
int store_entries(const struct store *s, enum resource_kind kind,
                  const struct store_entry ***out, size_t *n);
/* The same in no particular order (for a caller that sorts them its own
 * way). */
int store_entries_unordered(const struct store *s, enum resource_kind kind,
                            const struct store_entry ***out, size_t *n);
int store_is_synced(const struct store *s, enum resource_kind kind);
/* Incremented on every change. */
unsigned long long store_generation(const struct store *s);
/* Incremented on every change of an object of kind (equal: none of them
 * changed, was added or removed since). */
unsigned long long store_kind_generation(const struct store *s,
                                         enum resource_kind kind);

/* The change feed: the keys of kind that changed (put with new content,
 * added or removed), in order, for a caller that keeps what it made of
 * the others (model.c). A mark is a position in the feed; the keys since
 * a mark are borrowed until the next change of the store, and may repeat.
 * The feed keeps the last STORE_FEED_KEEP keys or more: -1 when mark is
 * older (or not a mark), and the caller starts over. */
#define STORE_FEED_KEEP 512
unsigned long long store_feed_mark(const struct store *s,
                                   enum resource_kind kind);
int store_feed_since(const struct store *s, enum resource_kind kind,
                     unsigned long long mark, char *const **keys,
                     size_t *n);

/* Mark-and-sweep replacement for sources that rescan (local mode):
 * begin unmarks every entry of kind; store_put and store_touch mark;
 * end removes what is still unmarked. */
void store_sweep_begin(struct store *s, enum resource_kind kind);
void store_touch(struct store *s, enum resource_kind kind, const char *key);
void store_sweep_end(struct store *s, enum resource_kind kind);
/* The store key of obj into key; 0, or -1 if it lacks a name/namespace. */
int store_key_of(enum resource_kind kind, struct json_object *obj, char *key,
                 size_t keylen);

#endif
