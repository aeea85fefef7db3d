/* served.c - the publisher's served set; see served.h. */
#include "controller/kube/served.h"

#include <stdlib.h>
#include <string.h>

#include "keytable.h"

enum { KEY_MAX = 512 };     /* "ns/name": 63 + 1 + 253, with room */

struct served_set {
    struct keytable index;  /* of struct served_entry */
    unsigned long updates;  /* the mark of the latest update */
    int details;            /* entries keep their served_details */
};

static const char *entry_key(const void *item)
{
    return ((const struct served_entry *)item)->key;
}

static void entry_free(struct served_entry *e)
{
    if (!e)
        return;
    if (e->details)
        json_object_put(e->details->externaldns);
    free(e);
}

static int host_listed(const char *h)
{
    return h && *h;
}

/* One block: the entry, its details if kept, the host pointers, then the
 * strings. NULL out of memory. */
static struct served_entry *entry_new(const char *key,
                                      const struct served_ingress *si,
                                      int details)
{
    const char *uid = si->uid ? si->uid : "";
    size_t nhosts = 0, size, klen = strlen(key) + 1,
           nslen = strlen(si->ns) + 1, namelen = strlen(si->name) + 1,
           uidlen = strlen(uid) + 1;
    struct served_entry *e;
    struct served_details *d;
    const char **hosts;
    char *p;

    if (!details) {
        if (!(e = malloc(sizeof(*e) + klen)))
            return NULL;
        e->key = memcpy(e + 1, key, klen);
        e->details = NULL;
        e->mark = 0;
        return e;
    }
    size = sizeof(*e) + sizeof(*d) + klen + nslen + namelen + uidlen;
    for (size_t h = 0; h < si->nhosts; h++)
        if (host_listed(si->hosts[h])) {
            nhosts++;
            size += sizeof(char *) + strlen(si->hosts[h]) + 1;
        }
    if (!(e = malloc(size)))
        return NULL;
    d = (struct served_details *)(e + 1);
    hosts = (const char **)(d + 1);
    p = (char *)(hosts + nhosts);
    e->key = memcpy(p, key, klen);
    p += klen;
    d->ns = memcpy(p, si->ns, nslen);
    p += nslen;
    d->name = memcpy(p, si->name, namelen);
    p += namelen;
    d->uid = memcpy(p, uid, uidlen);
    p += uidlen;
    d->nhosts = 0;
    for (size_t h = 0; h < si->nhosts; h++) {
        size_t l;
        if (!host_listed(si->hosts[h]))
            continue;
        l = strlen(si->hosts[h]) + 1;
        hosts[d->nhosts++] = memcpy(p, si->hosts[h], l);
        p += l;
    }
    d->hosts = hosts;
    d->externaldns = si->externaldns ? json_object_get(si->externaldns)
                                     : NULL;
    e->details = d;
    e->mark = 0;
    return e;
}

/* 1 if e says what si says (its key is si's). */
static int entry_same(const struct served_entry *e,
                      const struct served_ingress *si)
{
    const struct served_details *d = e->details;
    size_t n = 0;

    if (!d)
        return 1;
    if (strcmp(d->uid, si->uid ? si->uid : "") != 0)
        return 0;
    for (size_t h = 0; h < si->nhosts; h++) {
        if (!host_listed(si->hosts[h]))
            continue;
        if (n >= d->nhosts || strcmp(d->hosts[n], si->hosts[h]) != 0)
            return 0;
        n++;
    }
    if (n != d->nhosts)
        return 0;
    if (!d->externaldns || !si->externaldns)
        return d->externaldns == si->externaldns;
    return d->externaldns == si->externaldns ||
           json_object_equal(d->externaldns, si->externaldns);
}

struct served_set *served_set_new(int details)
{
    struct served_set *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    keytable_init(&s->index, entry_key);
    s->details = details;
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
        if (!(e = entry_new(key, si, s->details)) ||
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
