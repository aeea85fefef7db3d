/* store.c - the in-memory copy of the watched resources (see store.h).
 *
 * One json-c object per kind serves as the hash map "namespace/name" ->
 * resource. Identical re-puts (resyncs, bookmarks re-delivering an object)
 * are detected with json_object_equal and do not wake the controller. */
#include "controller/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define KEY_MAX 512     /* namespace (63) + '/' + name (253), with room */

struct store {
    struct json_object *by_kind[RK_COUNT];
    int synced[RK_COUNT];
    unsigned long long generation;
    store_change_cb on_change;
    void *arg;
};

static const char *const kind_names[RK_COUNT] = {
    [RK_INGRESS] = "Ingress",
    [RK_INGRESS_CLASS] = "IngressClass",
    [RK_SERVICE] = "Service",
    [RK_SECRET] = "Secret",
};

const char *resource_kind_name(enum resource_kind kind)
{
    return kind < RK_COUNT ? kind_names[kind] : "unknown";
}

static int cluster_scoped(enum resource_kind kind)
{
    return kind == RK_INGRESS_CLASS;
}

struct json_object *k8s_get(struct json_object *obj, const char *path)
{
    char part[128];

    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        if (!json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, part, &obj))
            return NULL;
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

const char *k8s_str(struct json_object *obj, const char *path)
{
    struct json_object *v = k8s_get(obj, path);

    return v && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

struct store *store_new(store_change_cb on_change, void *arg)
{
    struct store *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    for (int k = 0; k < RK_COUNT; k++) {
        s->by_kind[k] = json_object_new_object();
        if (!s->by_kind[k]) {
            store_free(s);
            return NULL;
        }
    }
    s->on_change = on_change;
    s->arg = arg;
    return s;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    for (int k = 0; k < RK_COUNT; k++)
        json_object_put(s->by_kind[k]);
    free(s);
}

static void changed(struct store *s)
{
    s->generation++;
    if (s->on_change)
        s->on_change(s->arg);
}

static int make_key(enum resource_kind kind, const char *ns, const char *name,
                    char *key, size_t keylen)
{
    int n;

    if (cluster_scoped(kind))
        n = snprintf(key, keylen, "%s", name);
    else
        n = snprintf(key, keylen, "%s/%s", ns ? ns : "", name);
    return n > 0 && (size_t)n < keylen ? 0 : -1;
}

static int key_of(enum resource_kind kind, struct json_object *obj,
                  char *key, size_t keylen)
{
    const char *name = k8s_str(obj, "metadata.name");
    const char *ns = k8s_str(obj, "metadata.namespace");

    if (!name || !*name)
        return -1;
    if (!cluster_scoped(kind) && (!ns || !*ns))
        return -1;
    return make_key(kind, ns, name, key, keylen);
}

/* Inserts without notifying; 1 if the store changed, 0 if not, -1 bad. */
static int put_quiet(struct store *s, enum resource_kind kind,
                     struct json_object *obj)
{
    char key[KEY_MAX];
    struct json_object *old;

    if (kind >= RK_COUNT || !obj || key_of(kind, obj, key, sizeof(key)) < 0) {
        log_warn("store: ignoring a %s without metadata.name%s",
                 resource_kind_name(kind),
                 cluster_scoped(kind) ? "" : "/namespace");
        return -1;
    }
    if (json_object_object_get_ex(s->by_kind[kind], key, &old) &&
        (old == obj || json_object_equal(old, obj)))
        return 0;
    if (json_object_object_add(s->by_kind[kind], key, json_object_get(obj)) < 0)
        return -1;
    return 1;
}

int store_put(struct store *s, enum resource_kind kind,
              struct json_object *obj)
{
    int r = put_quiet(s, kind, obj);

    if (r > 0)
        changed(s);
    return r < 0 ? -1 : 0;
}

void store_remove(struct store *s, enum resource_kind kind, const char *ns,
                  const char *name)
{
    char key[KEY_MAX];

    if (kind >= RK_COUNT || !name ||
        make_key(kind, ns, name, key, sizeof(key)) < 0)
        return;
    if (!json_object_object_get_ex(s->by_kind[kind], key, NULL))
        return;
    json_object_object_del(s->by_kind[kind], key);
    changed(s);
}

int store_replace(struct store *s, enum resource_kind kind,
                  struct json_object *items)
{
    struct json_object *fresh;
    int dirty = 0;
    size_t n;

    if (kind >= RK_COUNT || !json_object_is_type(items, json_type_array))
        return -1;
    fresh = json_object_new_object();
    if (!fresh)
        return -1;
    n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        struct json_object *obj = json_object_array_get_idx(items, i);
        char key[KEY_MAX];
        if (key_of(kind, obj, key, sizeof(key)) < 0) {
            log_warn("store: ignoring a %s without metadata.name%s",
                     resource_kind_name(kind),
                     cluster_scoped(kind) ? "" : "/namespace");
            continue;
        }
        json_object_object_add(fresh, key, json_object_get(obj));
    }
    /* Changed if the key sets differ or any object differs. */
    if (json_object_object_length(fresh) !=
        json_object_object_length(s->by_kind[kind])) {
        dirty = 1;
    } else {
        json_object_object_foreach(fresh, key, obj) {
            struct json_object *old;
            if (!json_object_object_get_ex(s->by_kind[kind], key, &old) ||
                !json_object_equal(old, obj)) {
                dirty = 1;
                break;
            }
        }
    }
    json_object_put(s->by_kind[kind]);
    s->by_kind[kind] = fresh;
    if (dirty)
        changed(s);
    return 0;
}

void store_mark_synced(struct store *s, enum resource_kind kind)
{
    if (kind >= RK_COUNT || s->synced[kind])
        return;
    s->synced[kind] = 1;
    changed(s);
}

int store_is_synced(const struct store *s, enum resource_kind kind)
{
    return kind < RK_COUNT && s->synced[kind];
}

unsigned long long store_generation(const struct store *s)
{
    return s->generation;
}

struct json_object *store_get(const struct store *s, enum resource_kind kind,
                              const char *ns, const char *name)
{
    char key[KEY_MAX];
    struct json_object *obj;

    if (kind >= RK_COUNT || !name ||
        make_key(kind, ns, name, key, sizeof(key)) < 0)
        return NULL;
    return json_object_object_get_ex(s->by_kind[kind], key, &obj) ? obj : NULL;
}

size_t store_count(const struct store *s, enum resource_kind kind)
{
    return kind < RK_COUNT
               ? (size_t)json_object_object_length(s->by_kind[kind]) : 0;
}

struct keyed {
    const char *key;
    struct json_object *obj;
};

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const struct keyed *)a)->key,
                  ((const struct keyed *)b)->key);
}

int store_list(const struct store *s, enum resource_kind kind,
               struct json_object ***out, size_t *n)
{
    size_t count = store_count(s, kind), i = 0;
    struct keyed *tmp;

    *out = NULL;
    *n = 0;
    if (count == 0)
        return 0;
    tmp = malloc(count * sizeof(*tmp));
    *out = malloc(count * sizeof(**out));
    if (!tmp || !*out) {
        free(tmp);
        free(*out);
        *out = NULL;
        return -1;
    }
    json_object_object_foreach(s->by_kind[kind], key, obj) {
        tmp[i].key = key;
        tmp[i].obj = obj;
        i++;
    }
    qsort(tmp, count, sizeof(*tmp), cmp_keyed);
    for (i = 0; i < count; i++)
        (*out)[i] = tmp[i].obj;
    free(tmp);
    *n = count;
    return 0;
}
