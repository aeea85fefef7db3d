/* profiles.c - distinct per-Ingress option sets as named locations (see
 * profiles.h). */
#include "controller/profiles.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"

struct keyed {
    char *key;          /* the option values, one line each */
    uint64_t hash;
    size_t ingress;
};

/* A supported annotation that renders into the profile location: a
 * proxy option, or access control (access.h). */
static int is_profile_option(enum ann_id id)
{
    const struct ann_def *d = ann_def_of(id);

    return d && (d->effect == ANN_EFFECT_PROFILE ||
                 d->effect == ANN_EFFECT_ACCESS);
}

static int has_options(const struct model_ingress *mi)
{
    if (mi->state != ING_SERVED)
        return 0;
    for (size_t i = 0; i < mi->ann.nvalues; i++)
        if (is_profile_option(mi->ann.values[i].id))
            return 1;
    return 0;
}

/* "NAME VALUE\n" per profile option, in id order. Validated values never
 * hold a newline, so this is unambiguous. */
static char *options_key(const struct model_ingress *mi)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < mi->ann.nvalues; i++) {
        const struct ann_value *v = &mi->ann.values[i];
        if (is_profile_option(v->id))
            buf_printf(&b, "%s %s\n", ann_def_of(v->id)->name, v->value);
    }
    if (buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* By hash, then values (a collision stays deterministic), then age. */
static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if ((c = strcmp(x->key, y->key)) != 0)
        return c;
    return x->ingress < y->ingress ? -1 : x->ingress > y->ingress;
}

int profiles_build(const struct model *m, struct profiles *p)
{
    struct keyed *k = NULL;
    size_t nk = 0;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    p->of_ingress = malloc((m->ning ? m->ning : 1) * sizeof(*p->of_ingress));
    k = calloc(m->ning ? m->ning : 1, sizeof(*k));
    if (!p->of_ingress || !k)
        goto out;
    for (size_t i = 0; i < m->ning; i++) {
        p->of_ingress[i] = PROFILE_NONE;
        if (!has_options(&m->ings[i]))
            continue;
        if (!(k[nk].key = options_key(&m->ings[i])))
            goto out;
        k[nk].hash = hash_fnv1a64_str(HASH_FNV1A64_INIT, k[nk].key);
        k[nk].ingress = i;
        nk++;
    }
    if (nk > 1)
        qsort(k, nk, sizeof(*k), cmp_keyed);
    p->list = calloc(nk ? nk : 1, sizeof(*p->list));
    if (!p->list)
        goto out;
    for (size_t i = 0, collisions = 0; i < nk; i++) {
        int same_hash = i > 0 && k[i].hash == k[i - 1].hash;
        if (!same_hash || strcmp(k[i].key, k[i - 1].key) != 0) {
            struct profile *pr = &p->list[p->n++];
            collisions = same_hash ? collisions + 1 : 0;
            if (collisions)
                snprintf(pr->name, sizeof(pr->name), PROFILE_PREFIX "%016llx_%zu",
                         (unsigned long long)k[i].hash, collisions);
            else
                snprintf(pr->name, sizeof(pr->name), PROFILE_PREFIX "%016llx",
                         (unsigned long long)k[i].hash);
            pr->owner = k[i].ingress;   /* the oldest: sorted by age last */
        }
        p->of_ingress[k[i].ingress] = p->n - 1;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nk; i++)
        free(k[i].key);
    free(k);
    if (rc < 0)
        profiles_free(p);
    return rc;
}

void profiles_free(struct profiles *p)
{
    free(p->list);
    free(p->of_ingress);
    memset(p, 0, sizeof(*p));
}

const char *profiles_of(const struct profiles *p, size_t ingress)
{
    size_t i = p->of_ingress ? p->of_ingress[ingress] : PROFILE_NONE;

    return i == PROFILE_NONE ? NULL : p->list[i].name;
}
