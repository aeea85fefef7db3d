/* store.c - the in-memory copy of the watched resources (see store.h).
 *
 * One index per kind (lib/keytable: 8-16 bytes an entry) maps
 * "namespace/name" to an entry that holds the object serialized. Identical re-puts (resyncs, relists) are
 * detected by comparing the serialized bytes and do not wake the
 * controller. */
#include "controller/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytable.h"
#include "log.h"
#include "controller/object.h"

#define KEY_MAX        512  /* namespace (63) + '/' + name (253), with room */
#define PARSE_DEPTH    64

/* The keys that changed, oldest first: keys[0] is change number base. */
struct feed {
    char **keys;
    size_t n;
    unsigned long long base;
};

struct store {
    struct keytable by_kind[RK_COUNT];     /* of struct store_entry */
    struct feed feeds[RK_COUNT];
    int synced[RK_COUNT];
    unsigned long long generation;
    unsigned long long kind_generation[RK_COUNT];
    unsigned long long revs;            /* the last store_entry.rev given */
    store_change_cb on_change;
    void *arg;
};

static const char *const kind_names[RK_COUNT] = {
    [RK_INGRESS] = "Ingress",
    [RK_INGRESS_CLASS] = "IngressClass",
    [RK_SERVICE] = "Service",
    [RK_SECRET] = "Secret",
    [RK_SECRET_OPAQUE] = "Secret (Opaque)",
};

const char *resource_kind_name(enum resource_kind kind)
{
    return kind < RK_COUNT ? kind_names[kind] : "unknown";
}

static int cluster_scoped(enum resource_kind kind)
{
    return kind == RK_INGRESS_CLASS;
}

/* An entry is one block: the struct, then its key, namespace and JSON
 * text (name points into the key): 100k Ingresses and their Services are
 * 200k entries, and each allocation costs its header and rounding. */
static void entry_free(struct store_entry *e)
{
    free(e);
}

/* The entry of key (its namespace ns, or NULL) holding json (len bytes,
 * copied); NULL out of memory. */
static struct store_entry *entry_new(const char *key, const char *ns,
                                     const char *json, size_t len)
{
    size_t klen = strlen(key) + 1, nslen = ns ? strlen(ns) + 1 : 0;
    struct store_entry *e = malloc(sizeof(*e) + klen + nslen + len + 1);
    char *p;

    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    p = (char *)(e + 1);
    e->key = memcpy(p, key, klen);
    e->name = nslen ? e->key + nslen : e->key;  /* after "ns/" */
    p += klen;
    if (ns)
        e->ns = memcpy(p, ns, nslen);
    p += nslen;
    e->json = memcpy(p, json, len);
    e->json[len] = '\0';
    e->len = len;
    return e;
}

static const char *entry_key(const void *e)
{
    return ((const struct store_entry *)e)->key;
}

struct store *store_new(store_change_cb on_change, void *arg)
{
    struct store *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    for (int k = 0; k < RK_COUNT; k++)
        keytable_init(&s->by_kind[k], entry_key);
    s->on_change = on_change;
    s->arg = arg;
    return s;
}

void store_free(struct store *s)
{
    struct store_entry *e;

    if (!s)
        return;
    for (int k = 0; k < RK_COUNT; k++) {
        size_t pos = 0;
        while ((e = keytable_next(&s->by_kind[k], &pos)))
            entry_free(e);
        keytable_fini(&s->by_kind[k]);
        for (size_t i = 0; i < s->feeds[k].n; i++)
            free(s->feeds[k].keys[i]);
        free(s->feeds[k].keys);
    }
    free(s);
}

static void changed(struct store *s, enum resource_kind kind)
{
    s->generation++;
    s->kind_generation[kind]++;
    if (s->on_change)
        s->on_change(s->arg);
}

/* Notes that key changed. Out of memory, the feed is emptied: every
 * mark is then too old. */
static void feed_note(struct store *s, enum resource_kind kind,
                      const char *key)
{
    struct feed *f = &s->feeds[kind];
    char *copy;

    if (!f->keys && !(f->keys = malloc(2 * STORE_FEED_KEEP *
                                       sizeof(*f->keys))))
        goto lost;
    if (f->n == 2 * STORE_FEED_KEEP) {
        for (size_t i = 0; i < STORE_FEED_KEEP; i++)
            free(f->keys[i]);
        memmove(f->keys, f->keys + STORE_FEED_KEEP,
                STORE_FEED_KEEP * sizeof(*f->keys));
        f->n -= STORE_FEED_KEEP;
        f->base += STORE_FEED_KEEP;
    }
    if (!(copy = strdup(key)))
        goto lost;
    f->keys[f->n++] = copy;
    return;
lost:
    for (size_t i = 0; i < f->n; i++)
        free(f->keys[i]);
    f->base += f->n + 1;        /* (and the key not noted) */
    f->n = 0;
}

unsigned long long store_feed_mark(const struct store *s,
                                   enum resource_kind kind)
{
    return kind < RK_COUNT ? s->feeds[kind].base + s->feeds[kind].n : 0;
}

int store_feed_since(const struct store *s, enum resource_kind kind,
                     unsigned long long mark, char *const **keys,
                     size_t *n)
{
    const struct feed *f;

    if (kind >= RK_COUNT)
        return -1;
    f = &s->feeds[kind];
    if (mark < f->base || mark > f->base + f->n)
        return -1;
    *keys = f->keys + (mark - f->base);
    *n = (size_t)(f->base + f->n - mark);
    return 0;
}

static int make_key(enum resource_kind kind, const char *ns, const char *name,
                    char *key, size_t keylen)
{
    /* Every model build looks up each Service: no printf here. */
    size_t nslen = cluster_scoped(kind) || !ns ? 0 : strlen(ns);
    size_t namelen = strlen(name);
    size_t sep = cluster_scoped(kind) ? 0 : 1;

    if (nslen + sep + namelen == 0 || nslen + sep + namelen >= keylen)
        return -1;
    if (nslen)
        memcpy(key, ns, nslen);
    if (sep)
        key[nslen] = '/';
    memcpy(key + nslen + sep, name, namelen + 1);
    return 0;
}

int store_key_of(enum resource_kind kind, struct json_object *obj, char *key,
                 size_t keylen)
{
    const char *name = k8s_str(obj, "metadata.name");
    const char *ns = k8s_str(obj, "metadata.namespace");

    if (kind >= RK_COUNT || !name || !*name)
        return -1;
    if (!cluster_scoped(kind) && (!ns || !*ns))
        return -1;
    return make_key(kind, ns, name, key, keylen);
}

/* One member detached from an object for the duration of a
 * serialization (put back afterwards, so the caller's object is kept). */
struct detached {
    struct json_object *parent, *value;
    const char *key;
};

static void detach(struct detached *d, struct json_object *parent,
                   const char *key)
{
    d->parent = NULL;
    d->value = NULL;
    d->key = key;
    if (parent && json_object_is_type(parent, json_type_object) &&
        json_object_object_get_ex(parent, key, &d->value)) {
        d->parent = parent;
        json_object_get(d->value);
        json_object_object_del(parent, key);
    }
}

static void reattach(struct detached *d)
{
    if (d->parent)
        json_object_object_add(d->parent, d->key, d->value);
}

/* What the model reads of a Service (model.c service()): the store keeps
 * only this of one (a real Service also holds clusterIPs, ipFamilies,
 * policies, uid, labels, annotations: two thirds of its text, and 100k of
 * them are tens of megabytes). */
static const char *const service_kept[] = {
    "spec.ports", "spec.type", "spec.externalName", "spec.clusterIP",
};

/* A new object holding name, namespace and the service_kept members of
 * svc (shared, not copied), or NULL out of memory. */
static struct json_object *service_digest(struct json_object *svc)
{
    struct json_object *o = json_object_new_object();
    struct json_object *meta = json_object_new_object();
    struct json_object *spec = json_object_new_object();
    struct json_object *v;

    if (!o || !meta || !spec) {
        json_object_put(o);
        json_object_put(meta);
        json_object_put(spec);
        return NULL;
    }
    json_object_object_add(o, "metadata", meta);
    json_object_object_add(o, "spec", spec);
    if ((v = k8s_get(svc, "metadata.name")))
        json_object_object_add(meta, "name", json_object_get(v));
    if ((v = k8s_get(svc, "metadata.namespace")))
        json_object_object_add(meta, "namespace", json_object_get(v));
    for (size_t i = 0; i < sizeof(service_kept) / sizeof(service_kept[0]);
         i++)
        if ((v = k8s_get(svc, service_kept[i])))
            json_object_object_add(spec, service_kept[i] + strlen("spec."),
                                   json_object_get(v));
    return o;
}

/* The serialized object without what the controller never reads: status
 * (written by the publisher; re-reading it would wake the controller for
 * nothing), resourceVersion (changes on every write), managedFields and
 * the kubectl last-applied copy (bulky), creationTimestamp (the entry's
 * created) and generation, and kind and apiVersion (the store's kind
 * says it; a LIST's items lack them, a watch event's have them: the same
 * object either way). Of a Service, only what service_kept names. */
static char *serialize(enum resource_kind kind, struct json_object *obj,
                       size_t *len)
{
    struct json_object *meta = k8s_get(obj, "metadata");
    struct detached d[8];
    const char *text;
    char *out;

    if (kind == RK_SERVICE) {
        struct json_object *digest = service_digest(obj);
        text = digest ? json_object_to_json_string_ext(
                            digest, JSON_C_TO_STRING_PLAIN) : NULL;
        out = text ? strdup(text) : NULL;
        if (out)
            *len = strlen(out);
        json_object_put(digest);
        return out;
    }
    detach(&d[0], obj, "status");
    detach(&d[1], meta, "managedFields");
    detach(&d[2], meta, "resourceVersion");
    detach(&d[3], k8s_get(obj, "metadata.annotations"),
           "kubectl.kubernetes.io/last-applied-configuration");
    detach(&d[4], obj, "kind");
    detach(&d[5], obj, "apiVersion");
    detach(&d[6], meta, "creationTimestamp");
    detach(&d[7], meta, "generation");
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    out = text ? strdup(text) : NULL;
    if (out)
        *len = strlen(out);
    for (int i = 7; i >= 0; i--)
        reattach(&d[i]);
    return out;
}

/* Inserts without notifying; 1 if the store changed, 0 if not, -1 bad. */
static int put_quiet(struct store *s, enum resource_kind kind,
                     struct json_object *obj)
{
    char key[KEY_MAX];
    struct store_entry *old, *e;
    size_t len = 0;
    long long created;
    char *json;

    if (kind >= RK_COUNT || !obj || store_key_of(kind, obj, key, sizeof(key)) < 0) {
        log_warn("store: ignoring a %s without metadata.name%s",
                 resource_kind_name(kind),
                 cluster_scoped(kind) ? "" : "/namespace");
        return -1;
    }
    json = serialize(kind, obj, &len);
    if (!json)
        return -1;
    created = k8s_parse_time(k8s_str(obj, "metadata.creationTimestamp"));
    old = keytable_get(&s->by_kind[kind], key);
    if (old && old->len == len && old->created == created &&
        memcmp(old->json, json, len) == 0) {
        old->mark = 1;
        free(json);
        return 0;
    }
    const char *ns = k8s_str(obj, "metadata.namespace");
    e = entry_new(key, cluster_scoped(kind) ? NULL : ns, json, len);
    free(json);
    if (!e)
        return -1;
    e->created = created;
    e->mark = 1;
    e->rev = ++s->revs;
    if (keytable_put(&s->by_kind[kind], e, NULL) < 0) {
        entry_free(e);
        return -1;
    }
    entry_free(old);        /* replaced */
    feed_note(s, kind, key);
    return 1;
}

int store_put(struct store *s, enum resource_kind kind,
              struct json_object *obj)
{
    int r = put_quiet(s, kind, obj);

    if (r > 0)
        changed(s, kind);
    return r < 0 ? -1 : 0;
}

void store_remove(struct store *s, enum resource_kind kind, const char *ns,
                  const char *name)
{
    char key[KEY_MAX];
    struct store_entry *e;

    if (kind >= RK_COUNT || !name ||
        make_key(kind, ns, name, key, sizeof(key)) < 0)
        return;
    if ((e = keytable_remove(&s->by_kind[kind], key))) {
        entry_free(e);
        feed_note(s, kind, key);
        changed(s, kind);
    }
}

void store_sweep_begin(struct store *s, enum resource_kind kind)
{
    struct store_entry *e;
    size_t pos = 0;

    if (kind >= RK_COUNT)
        return;
    while ((e = keytable_next(&s->by_kind[kind], &pos)))
        e->mark = 0;
}

void store_touch(struct store *s, enum resource_kind kind, const char *key)
{
    struct store_entry *e;

    if (kind < RK_COUNT && (e = keytable_get(&s->by_kind[kind], key)))
        e->mark = 1;
}

struct sweeping {
    struct store *s;
    enum resource_kind kind;
};

static int drop_unmarked(void *item, void *arg)
{
    struct sweeping *sw = arg;
    struct store_entry *e = item;

    if (e->mark)
        return 0;
    feed_note(sw->s, sw->kind, e->key);
    entry_free(e);
    return 1;
}

/* Removes unmarked entries; returns how many. */
static size_t sweep(struct store *s, enum resource_kind kind)
{
    struct sweeping sw = {.s = s, .kind = kind};

    return keytable_remove_if(&s->by_kind[kind], drop_unmarked, &sw);
}

void store_sweep_end(struct store *s, enum resource_kind kind)
{
    if (kind < RK_COUNT && sweep(s, kind) > 0)
        changed(s, kind);
}

int store_replace(struct store *s, enum resource_kind kind,
                  struct json_object *items)
{
    int dirty = 0;
    size_t n;

    if (kind >= RK_COUNT || !json_object_is_type(items, json_type_array))
        return -1;
    store_sweep_begin(s, kind);
    n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++)
        if (put_quiet(s, kind, json_object_array_get_idx(items, i)) > 0)
            dirty = 1;
    if (sweep(s, kind) > 0)
        dirty = 1;
    if (dirty)
        changed(s, kind);
    return 0;
}

void store_mark_synced(struct store *s, enum resource_kind kind)
{
    if (kind >= RK_COUNT || s->synced[kind])
        return;
    s->synced[kind] = 1;
    changed(s, kind);
}

int store_is_synced(const struct store *s, enum resource_kind kind)
{
    return kind < RK_COUNT && s->synced[kind];
}

unsigned long long store_generation(const struct store *s)
{
    return s->generation;
}

unsigned long long store_kind_generation(const struct store *s,
                                         enum resource_kind kind)
{
    return kind < RK_COUNT ? s->kind_generation[kind] : 0;
}

const struct store_entry *store_lookup(const struct store *s,
                                       enum resource_kind kind,
                                       const char *ns, const char *name)
{
    char key[KEY_MAX];

    if (kind >= RK_COUNT || !name ||
        make_key(kind, ns, name, key, sizeof(key)) < 0)
        return NULL;
    return keytable_get(&s->by_kind[kind], key);
}

const struct store_entry *store_lookup_key(const struct store *s,
                                           enum resource_kind kind,
                                           const char *key)
{
    return kind < RK_COUNT ? keytable_get(&s->by_kind[kind], key) : NULL;
}

struct json_object *store_entry_parse(const struct store_entry *e)
{
    struct json_tokener *tok;
    struct json_object *obj;

    if (!e)
        return NULL;
    tok = json_tokener_new_ex(PARSE_DEPTH);
    if (!tok)
        return NULL;
    obj = json_tokener_parse_ex(tok, e->json, (int)e->len);
    json_tokener_free(tok);
    return obj;
}

struct json_object *store_get(const struct store *s, enum resource_kind kind,
                              const char *ns, const char *name)
{
    return store_entry_parse(store_lookup(s, kind, ns, name));
}

struct json_object *store_get_secret(const struct store *s, const char *ns,
                                     const char *name)
{
    const struct store_entry *e = store_lookup(s, RK_SECRET, ns, name);

    return store_entry_parse(e ? e : store_lookup(s, RK_SECRET_OPAQUE, ns,
                                                  name));
}

size_t store_count(const struct store *s, enum resource_kind kind)
{
    return kind < RK_COUNT ? s->by_kind[kind].n : 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(const struct store_entry *const *)a)->key,
                  (*(const struct store_entry *const *)b)->key);
}

int store_entries(const struct store *s, enum resource_kind kind,
                  const struct store_entry ***out, size_t *n)
{
    if (store_entries_unordered(s, kind, out, n) < 0)
        return -1;
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_entry);
    return 0;
}

int store_entries_unordered(const struct store *s, enum resource_kind kind,
                            const struct store_entry ***out, size_t *n)
{
    size_t count = store_count(s, kind), i = 0, pos = 0;
    const struct store_entry *e;
    const struct store_entry **arr;

    *out = NULL;
    *n = 0;
    if (count == 0)
        return 0;
    arr = malloc(count * sizeof(*arr));
    if (!arr)
        return -1;
    while ((e = keytable_next(&s->by_kind[kind], &pos)))
        arr[i++] = e;
    *out = arr;
    *n = count;
    return 0;
}
