/* keytable.c - open addressing index of keyed items (see keytable.h).
 * Deletion shifts the rest of the probe run back (no tombstones), so a
 * lookup stops at the first empty slot. */
#include "keytable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define KEYTABLE_MIN_CAP 16

static size_t home_of(const struct keytable *t, const char *key)
{
    uint64_t h = hash_fnv1a64_str(HASH_FNV1A64_INIT, key);

    return (size_t)(h ^ (h >> 32)) & (t->cap - 1);
}

void keytable_init(struct keytable *t, const char *(*key_of)(const void *))
{
    memset(t, 0, sizeof(*t));
    t->key_of = key_of;
}

void keytable_fini(struct keytable *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

/* The slot of key, or the empty slot where it would go. */
static size_t find(const struct keytable *t, const char *key)
{
    size_t i = home_of(t, key);

    while (t->slots[i] && strcmp(t->key_of(t->slots[i]), key) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

/* Moves every item into a new array of cap slots. 0, or -1 out of memory
 * (t unchanged). */
static int resize(struct keytable *t, size_t cap)
{
    struct keytable bigger = *t;

    bigger.cap = cap;
    if (!(bigger.slots = calloc(cap, sizeof(*bigger.slots))))
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            bigger.slots[find(&bigger, t->key_of(t->slots[i]))] = t->slots[i];
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Smaller when at most an eighth full (a quarter after halving). */
static void shrink(struct keytable *t)
{
    size_t cap = t->cap;

    while (cap > KEYTABLE_MIN_CAP && t->n * 8 <= cap)
        cap /= 2;
    if (cap != t->cap)
        (void)resize(t, cap);   /* out of memory: it stays as it is */
}

int keytable_reserve(struct keytable *t, size_t n)
{
    size_t cap = t->cap ? t->cap : KEYTABLE_MIN_CAP;

    while (n * 2 > cap)
        cap *= 2;
    return cap == t->cap ? 0 : resize(t, cap);
}

void *keytable_get(const struct keytable *t, const char *key)
{
    return t->cap ? t->slots[find(t, key)] : NULL;
}

int keytable_put(struct keytable *t, void *item, void **old)
{
    const char *key = t->key_of(item);
    size_t i;

    if ((t->n + 1) * 2 > t->cap &&
        resize(t, t->cap ? t->cap * 2 : KEYTABLE_MIN_CAP) < 0)
        return -1;
    i = find(t, key);
    if (old)
        *old = t->slots[i];
    if (!t->slots[i])
        t->n++;
    t->slots[i] = item;
    return 0;
}

/* 1 when home h lies cyclically in (hole, at]: the item at may not move
 * back to hole. */
static int between(size_t hole, size_t h, size_t at)
{
    return hole <= at ? (h > hole && h <= at) : (h > hole || h <= at);
}

/* Empties slot i and moves the rest of its probe run back. */
static void remove_at(struct keytable *t, size_t i)
{
    size_t mask = t->cap - 1, hole = i, j = i;

    t->slots[hole] = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j])
            break;
        if (between(hole, home_of(t, t->key_of(t->slots[j])), j))
            continue;
        t->slots[hole] = t->slots[j];
        t->slots[j] = NULL;
        hole = j;
    }
    t->n--;
}

void *keytable_remove(struct keytable *t, const char *key)
{
    size_t i;
    void *item;

    if (!t->cap || !(item = t->slots[i = find(t, key)]))
        return NULL;
    remove_at(t, i);
    shrink(t);
    return item;
}

size_t keytable_remove_if(struct keytable *t,
                          int (*drop)(void *item, void *arg), void *arg)
{
    size_t start = 0, removed = 0, mask = t->cap - 1;

    if (t->n == 0)
        return 0;
    /* From an empty slot on, what remove_at() moves back comes from
     * slots not yet visited: each item is met once. */
    while (t->slots[start])
        start++;
    for (size_t k = 1; k <= t->cap; k++) {
        size_t i = (start + k) & mask;
        while (t->slots[i] && drop(t->slots[i], arg)) {
            remove_at(t, i);
            removed++;
        }
    }
    if (removed)
        shrink(t);
    return removed;
}

void *keytable_next(const struct keytable *t, size_t *pos)
{
    for (; *pos < t->cap; (*pos)++)
        if (t->slots[*pos])
            return t->slots[(*pos)++];
    return NULL;
}
