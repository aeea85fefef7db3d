/* served.c - the publisher's served set; see served.h. */
#include "controller/kube/served.h"

#include <stdlib.h>
#include <string.h>

#include "keytable.h"

enum { KEY_MAX = 512 };     /* "ns/name": 63 + 1 + 253, with room */

struct served_set {
    struct keytable index;  /* of struct served_entry */
    unsigned long updates;  /* the mark of the latest update */
};

static const char *entry_key(const void *item)
{
    return ((const struct served_entry *)item)->key;
}

static void entry_free(struct served_entry *e)
{
    if (!e)
        return;
    json_object_put(e->externaldns);
    free(e);
}

static int host_listed(const char *h)
{
    return h && *h;
}

/* One block: the struct, the host pointers, then the strings. NULL out of
 * memory. */
static struct served_entry *entry_new(const char *key,
                                      const struct served_ingress *si)
{
    const char *uid = si->uid ? si->uid : "";
    size_t nhosts = 0, size, klen = strlen(key) + 1,
           nslen = strlen(si->ns) + 1, namelen = strlen(si->name) + 1,
           uidlen = strlen(uid) + 1;
    struct served_entry *e;
    const char **hosts;
    char *p;

    size = sizeof(*e) + klen + nslen + namelen + uidlen;
    for (size_t h = 0; h < si->nhosts; h++)
        if (host_listed(si->hosts[h])) {
            nhosts++;
            size += sizeof(char *) + strlen(si->hosts[h]) + 1;
        }
    if (!(e = malloc(size)))
        return NULL;
    hosts = (const char **)(e + 1);
    p = (char *)(hosts + nhosts);
    e->key = memcpy(p, key, klen);
    p += klen;
    e->ns = memcpy(p, si->ns, nslen);
    p += nslen;
    e->name = memcpy(p, si->name, namelen);
    p += namelen;
    e->uid = memcpy(p, uid, uidlen);
    p += uidlen;
    e->nhosts = 0;
    for (size_t h = 0; h < si->nhosts; h++) {
        size_t l;
        if (!host_listed(si->hosts[h]))
            continue;
        l = strlen(si->hosts[h]) + 1;
        hosts[e->nhosts++] = memcpy(p, si->hosts[h], l);
        p += l;
    }
    e->hosts = hosts;
    e->externaldns = si->externaldns ? json_object_get(si->externaldns)
                                     : NULL;
    e->mark = 0;
    return e;
}

/* 1 if e says what si says. */
static int entry_same(const struct served_entry *e,
                      const struct served_ingress *si)
{
    size_t n = 0;

    if (strcmp(e->uid, si->uid ? si->uid : "") != 0)
        return 0;
    for (size_t h = 0; h < si->nhosts; h++) {
        if (!host_listed(si->hosts[h]))
            continue;
        if (n >= e->nhosts || strcmp(e->hosts[n], si->hosts[h]) != 0)
            return 0;
        n++;
    }
    if (n != e->nhosts)
        return 0;
    if (!e->externaldns || !si->externaldns)
        return e->externaldns == si->externaldns;
    return e->externaldns == si->externaldns ||
           json_object_equal(e->externaldns, si->externaldns);
}

struct served_set *served_set_new(void)
{
    struct served_set *s = calloc(1, sizeof(*s));

    if (s)
        keytable_init(&s->index, entry_key);
    return s;
}

void served_set_free(struct served_set *s)
{
    struct served_entry *e;
    size_t pos = 0;

    if (!s)
        return;
    while ((e = keytable_next(&s->index, &pos)))
        entry_free(e);
    keytable_fini(&s->index);
    free(s);
}

static int drop_unlisted(void *item, void *arg)
{
    struct served_entry *e = item;

    if (e->mark == *(const unsigned long *)arg)
        return 0;
    entry_free(e);
    return 1;
}

int served_set_update(struct served_set *s, const struct served_ingress *list,
                      size_t n)
{
    unsigned long mark = ++s->updates;
    char key[KEY_MAX];
    int changed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        const struct served_ingress *si = &list[i];
        size_t nslen, namelen;
        struct served_entry *old, *e;
        void *replaced = NULL;

        if (!si->ns || !si->name)
            continue;
        nslen = strlen(si->ns);
        namelen = strlen(si->name);
        if (nslen + 1 + namelen >= sizeof(key))
            continue;
        memcpy(key, si->ns, nslen);
        key[nslen] = '/';
        memcpy(key + nslen + 1, si->name, namelen + 1);
        old = keytable_get(&s->index, key);
        if (old && entry_same(old, si)) {
            old->mark = mark;
            continue;
        }
        if (!(e = entry_new(key, si)) ||
            keytable_put(&s->index, e, &replaced) < 0) {
            entry_free(e);
            if (old)
                old->mark = mark;   /* stale, but kept: still served */
            failed = 1;
            continue;
        }
        e->mark = mark;
        entry_free(replaced);
        changed = 1;
    }
    if (keytable_remove_if(&s->index, drop_unlisted, &mark) > 0)
        changed = 1;
    return failed ? -1 : changed;
}

const struct served_entry *served_set_get(const struct served_set *s,
                                          const char *key)
{
    return keytable_get(&s->index, key);
}

const struct served_entry *served_set_next(const struct served_set *s,
                                           size_t *pos)
{
    return keytable_next(&s->index, pos);
}

size_t served_set_count(const struct served_set *s)
{
    return s->index.n;
}
