/* view.c - the publisher's observed views; see view.h. */
#include "controller/kube/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/object.h"
#include "keytable.h"

char *view_key(struct json_object *obj)
{
    const char *ns = k8s_str(obj, "metadata.namespace");
    const char *name = k8s_str(obj, "metadata.name");
    char *k;

    if (!name || asprintf(&k, "%s/%s", ns ? ns : "", name) < 0)
        return NULL;
    return k;
}

void view_split_key(const char *key, char *ns, size_t nslen, char *name,
                    size_t namelen)
{
    const char *slash = strchr(key, '/');
    size_t l = slash ? (size_t)(slash - key) : 0;

    snprintf(ns, nslen, "%.*s", (int)l, key);
    snprintf(name, namelen, "%s", slash ? slash + 1 : key);
}

/* ---- struct view ------------------------------------------------------ */

struct view {
    struct keytable index;      /* of struct view_entry, one block each */
};

static const char *entry_key(const void *item)
{
    return ((const struct view_entry *)item)->key;
}

struct view *view_new(void)
{
    struct view *v = calloc(1, sizeof(*v));

    if (v)
        keytable_init(&v->index, entry_key);
    return v;
}

void view_free(struct view *v)
{
    struct view_entry *e;
    size_t pos = 0;

    if (!v)
        return;
    while ((e = keytable_next(&v->index, &pos)))
        free(e);
    keytable_fini(&v->index);
    free(v);
}

struct view_entry *view_set(struct view *v, const char *key,
                            const char *text)
{
    size_t klen = strlen(key) + 1, tlen = strlen(text) + 1;
    struct view_entry *old = keytable_get(&v->index, key), *e;
    void *replaced = NULL;
    char *p;

    if (old && strcmp(old->text, text) == 0)
        return old;
    if (!(e = malloc(sizeof(*e) + klen + tlen)))
        return NULL;
    p = (char *)(e + 1);
    e->key = memcpy(p, key, klen);
    e->text = memcpy(p + klen, text, tlen);
    e->mark = old ? old->mark : 0;
    e->flag = old ? old->flag : 0;
    if (keytable_put(&v->index, e, &replaced) < 0) {
        free(e);
        return NULL;
    }
    free(replaced);
    return e;
}

struct view_entry *view_get(const struct view *v, const char *key)
{
    return keytable_get(&v->index, key);
}

int view_remove(struct view *v, const char *key)
{
    struct view_entry *e = keytable_remove(&v->index, key);

    free(e);
    return e != NULL;
}

struct sweep {
    unsigned long mark;
    void (*gone)(void *arg, const char *key);
    void *arg;
};

static int unmarked(void *item, void *arg)
{
    struct view_entry *e = item;
    const struct sweep *sw = arg;

    if (e->mark == sw->mark)
        return 0;
    sw->gone(sw->arg, e->key);
    free(e);
    return 1;
}

void view_sweep(struct view *v, unsigned long mark,
                void (*gone)(void *arg, const char *key), void *arg)
{
    struct sweep sw = {mark, gone, arg};

    keytable_remove_if(&v->index, unmarked, &sw);
}

struct view_entry *view_next(const struct view *v, size_t *pos)
{
    return keytable_next(&v->index, pos);
}

size_t view_count(const struct view *v)
{
    return v->index.n;
}
