/*
 * view.h - the publisher's observed views: the "namespace/name" key of
 * each watched object mapped to the canonical text of what matters in it
 * (publish.h), compared with what we want written: struct view, one
 * block per object in a lib/keytable (~80 bytes each for an Ingress's
 * status, where a json-c member and string cost ~200).
 */
#ifndef PORTICO_KUBE_VIEW_H
#define PORTICO_KUBE_VIEW_H

#include <json-c/json.h>
#include <stddef.h>

#define VIEW_NAME_MAX 254           /* a namespace or a name, and its NUL */

/* "namespace/name" of obj (malloc'd), or NULL when it has no name. */
char *view_key(struct json_object *obj);
/* ---- struct view --------------------------------------------------- */

struct view_entry {
    const char *key;
    const char *text;           /* the canonical text */
    unsigned long mark;         /* the caller's, kept by view_set */
    int flag;                   /* the caller's, kept by view_set */
};

struct view;

struct view *view_new(void);
void view_free(struct view *v);
/* Sets key's text; an entry already there keeps its mark and flag, a new
 * one has 0 for both. The entry (valid until the view changes), or NULL
 * out of memory (the view is unchanged). */
struct view_entry *view_set(struct view *v, const char *key,
                            const char *text);
/* The entry of key, or NULL. */
struct view_entry *view_get(const struct view *v, const char *key);
/* 1 if key had an entry (removed), else 0. */
int view_remove(struct view *v, const char *key);
/* Removes every entry whose mark is not mark, calling gone(key) for each
 * first. */
void view_sweep(struct view *v, unsigned long mark,
                void (*gone)(void *arg, const char *key), void *arg);
/* Iteration in no particular order (keytable_next); the view must not
 * change meanwhile. */
struct view_entry *view_next(const struct view *v, size_t *pos);
size_t view_count(const struct view *v);

/* Splits a key into its namespace and name. */
void view_split_key(const char *key, char *ns, size_t nslen, char *name,
                    size_t namelen);

#endif
