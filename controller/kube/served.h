/*
 * served.h - the publisher's copy of the served Ingresses (what
 * publisher_update was last told), indexed by "ns/name". The status and
 * DNSEndpoint jobs read it; only the publisher changes it.
 *
 * Each Ingress is one allocation, and the index is a lib/keytable. The
 * status job reads only the keys; the details (uid, hosts, ExternalDNS
 * annotations) are kept only for the DNSEndpoints job, when it runs. At
 * 100k Ingresses: ~5 MB with keys only, ~18 MB with the details, where a
 * json-c object per Ingress (a 16-slot hash table, five strings, an
 * array) cost ~1.5 KB each, 150 MB, on every replica, publishing or not.
 */
#ifndef PORTICO_KUBE_SERVED_H
#define PORTICO_KUBE_SERVED_H

#include <json-c/json.h>
#include <stddef.h>

#include "controller/kube/kube.h"

/* What the DNSEndpoints job reads of a served Ingress. */
struct served_details {
    const char *ns;
    const char *name;
    const char *uid;            /* "" if unknown */
    const char *const *hosts;   /* the non-empty hosts, in their order */
    size_t nhosts;
    struct json_object *externaldns;  /* a reference of ours, or NULL */
};

struct served_entry {
    const char *key;            /* "ns/name" */
    /* NULL when the set keeps keys only (served_set_new). */
    const struct served_details *details;
    unsigned long mark;         /* the update that last listed it */
};

struct served_set;

/* details: keep each Ingress's served_details (else keys only). */
struct served_set *served_set_new(int details);
void served_set_free(struct served_set *s);

/* The set becomes list (entries without ns or name, or with a key too
 * long for the API, are left out). Entries that say the same (the same
 * key, and the same details if kept) are kept as they are. Returns 1 if
 * the set changed, 0 if not, -1 out of memory
 * (the set then holds a mix of the old and the new, and the next update
 * mends it). */
int served_set_update(struct served_set *s, const struct served_ingress *list,
                      size_t n);
/* The entry of key ("ns/name"), or NULL. */
const struct served_entry *served_set_get(const struct served_set *s,
                                          const char *key);
/* Iteration (in no particular order): the first entry at or after *pos,
 * *pos moved past it; NULL at the end. Start with *pos = 0; the set must
 * not change meanwhile. */
const struct served_entry *served_set_next(const struct served_set *s,
                                           size_t *pos);
size_t served_set_count(const struct served_set *s);

#endif
