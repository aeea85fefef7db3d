/*
 * leader.h - leader election on a coordination.k8s.io/v1 Lease, client-go's
 * algorithm (tools/leaderelection): the decision is a pure function of the
 * observed record, when we observed it (local clock), now and our identity;
 * expiry is judged by local observation time plus leaseDurationSeconds,
 * never by the server's renewTime. Unit-tested.
 */
#ifndef PORTICO_KUBE_LEADER_H
#define PORTICO_KUBE_LEADER_H

#include <json-c/json.h>
#include <stdint.h>

struct lease_record {
    char *holder;            /* "" when released */
    long duration_s;
    char *acquire_time;      /* MicroTime strings, or NULL */
    char *renew_time;
    long transitions;
    char *resource_version;  /* of the object we read */
};

enum leader_action {
    LEADER_WAIT,       /* someone else holds a valid lease */
    LEADER_ACQUIRE,    /* take it: new acquireTime, transitions + 1 */
    LEADER_RENEW,      /* ours: keep acquireTime and transitions */
};

/* observed NULL means no Lease exists (then: create it). */
enum leader_action leader_decide(const struct lease_record *observed,
                                 uint64_t observed_ms, uint64_t now_ms,
                                 const char *identity);

/* Parses a Lease object; 0 or -1 when it is not one. */
int lease_record_parse(struct json_object *lease, struct lease_record *out);
void lease_record_free(struct lease_record *r);
/* 1 if the two records differ in any field the algorithm reads. */
int lease_record_changed(const struct lease_record *a,
                         const struct lease_record *b);

/* The record to write for action (ACQUIRE/RENEW), or the release record
 * (empty holder, leaseDurationSeconds 1) when release is set. now is a
 * MicroTime string. Returns the full Lease object as JSON text (malloc'd),
 * carrying observed's resourceVersion when observed is not NULL. */
char *lease_build(const char *ns, const char *name, const char *identity,
                  long duration_s, const struct lease_record *observed,
                  enum leader_action action, int release, const char *now);

#endif
