/*
 * election.h - leader election on a coordination.k8s.io/v1 Lease: the
 * requests and timers around leader.h's pure decision (client-go's
 * tools/leaderelection). Every retry period (jittered while not leading)
 * it reads the Lease and takes it when free or expired, or renews it when
 * ours; a leader that cannot renew within the renew deadline stops
 * leading. The identity also names this replica in the API server's logs
 * (kube_client_opts.identity).
 */
#ifndef PORTICO_KUBE_ELECTION_H
#define PORTICO_KUBE_ELECTION_H

#include <stddef.h>

#include "controller/kube/client_internal.h"

struct election_opts {
    const char *identity;            /* pod name; unique per replica */
    const char *lease_namespace;     /* NULL or "": the client's namespace */
    const char *lease_name;          /* NULL or "": "portico-leader" */
    int lease_duration_s;            /* <= 0: 15 */
    int renew_deadline_s;            /* <= 0: 10 */
    int retry_period_s;              /* <= 0: 2 */
    /* On the loop, when this replica becomes (1) or stops being (0) the
     * leader; not called by election_release. */
    void (*changed)(void *arg, int leader);
    void *arg;
};

struct election;

/* Checks the options (an identity, a namespace and a Lease name that are
 * DNS names, lease duration > renew deadline > 1.2 x retry period) and
 * starts campaigning at once. NULL with a message in err. */
struct election *election_start(struct kube_client *kc,
                                 const struct election_opts *o, char *err,
                                 size_t errlen);
int election_is_leader(const struct election *e);
/* "<lease namespace>/<lease name>": names this installation (every
 * replica of it campaigns on the same Lease). */
const char *election_lease_id(const struct election *e);
/* Stops campaigning; a leader writes the released Lease (empty holder,
 * 1 s), which finishes while the loop runs (election_busy). */
void election_release(struct election *e);
int election_busy(const struct election *e);
void election_free(struct election *e);

#endif
