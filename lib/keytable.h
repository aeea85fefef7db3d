/*
 * keytable.h - an index of items that carry their own key (a
 * NUL-terminated string the item owns): open addressing with linear
 * probing over a power-of-two array of pointers, at most half full, so
 * 8-16 bytes an item. For the controller's big indexes (100k Ingresses
 * and their Services in the store and the model cache), where json-c's
 * lh_table costs a 40-byte entry per slot at up to 2/3 load.
 *
 * The table holds pointers only: items are the caller's to free. An
 * item's key must not change while it is in the table.
 */
#ifndef PORTICO_KEYTABLE_H
#define PORTICO_KEYTABLE_H

#include <stddef.h>

struct keytable {
    void **slots;
    size_t cap;                 /* 0 or a power of two */
    size_t n;
    const char *(*key_of)(const void *item);
};

void keytable_init(struct keytable *t, const char *(*key_of)(const void *));
/* Frees the slots (not the items); t is then empty and usable. */
void keytable_fini(struct keytable *t);
/* Room for n items without growing (a caller that knows about how many
 * it will put). 0, or -1 out of memory (t unchanged, still usable). */
int keytable_reserve(struct keytable *t, size_t n);
/* The item of key, or NULL. */
void *keytable_get(const struct keytable *t, const char *key);
/* Puts item; *old (may be NULL) = the item of the same key it replaces,
 * or NULL. 0, or -1 out of memory (nothing changed). */
int keytable_put(struct keytable *t, void *item, void **old);
/* Takes the item of key out of the table: it, or NULL. */
void *keytable_remove(struct keytable *t, const char *key);
/* Calls drop on every item once; those it returns 1 for are taken out
 * (drop may free them). Returns how many. */
size_t keytable_remove_if(struct keytable *t,
                          int (*drop)(void *item, void *arg), void *arg);
/* Iteration in table order: the first item at or after *pos, with *pos
 * moved past it; NULL at the end. Start with *pos = 0; the table must not
 * change meanwhile. */
void *keytable_next(const struct keytable *t, size_t *pos);

#endif
