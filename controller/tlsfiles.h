/*
 * tlsfiles.h - certificate files for nginx: kubernetes.io/tls Secrets
 * (validated exactly like Vault pairs, vault/tlspair.h) written into the
 * certificates folder, and the Vault pipeline's pairs looked up per host.
 *
 * Pairs are content-addressed: <dir>/STEM.crt and <dir>/STEM.key (0600),
 * STEM = secret-<sha256 prefix> (Secrets) or vault-<sha256 prefix> (copies
 * of the Vault pipeline's pairs), so a rotated certificate is a new STEM in
 * the certificate table (certtable.h; nginx swaps it in without a reload)
 * and an unchanged one never rewrites files. The nginx workers read them:
 * running as root, the folder and files belong to nginx's worker user.
 * Validation results are cached per Secret content, so 10k Secrets are not
 * re-parsed on every render. A pair is refused for any failure of
 * vault/tlspair.h except its dates: an expired (or not yet valid)
 * certificate is served with a warning, as ingress-nginx does.
 */
#ifndef PORTICO_CONTROLLER_TLSFILES_H
#define PORTICO_CONTROLLER_TLSFILES_H

#include <stddef.h>

#include "controller/store.h"
#include "vault/certs.h"

struct tlsfiles;

struct tlsfiles *tlsfiles_new(const struct store *store, const char *dir,
                              char *err, size_t errlen);
void tlsfiles_free(struct tlsfiles *t);

/* Installs the latest Vault snapshot (taken over; NULL: none). */
void tlsfiles_set_vault(struct tlsfiles *t, struct certs_snapshot *snap);

/* model_tls callbacks (ctx is the tlsfiles). */
int tlsfiles_secret(void *ctx, const char *ns, const char *name,
                    const char *host, char **crt, char **key, char *err,
                    size_t errlen);
int tlsfiles_vault(void *ctx, const char *host, char **crt, char **key);
/* model_tls's ca: the CA file of Secret ns/name (data ca.crt, PEM
 * certificates, and optional ca.crl, PEM CRLs each signed by one of them),
 * written as <dir>/ca-<sha256 prefix>.ca (0600), certificates then CRLs.
 * 0 with a malloc'd path, or -1 with the reason. */
int tlsfiles_ca(void *ctx, const char *ns, const char *name, char **path,
                char *err, size_t errlen);

/* notAfter (unix seconds) of the Secret pair whose certificate file is
 * crt_path, or 0 if crt_path is not one of ours or a Vault pair's (the
 * Vault pipeline reports those). */
long long tlsfiles_not_after(const struct tlsfiles *t, const char *crt_path);

/* Removes secret-*, vault-* and ca-* files not used by the given paths. */
void tlsfiles_gc(struct tlsfiles *t, const char *const *in_use, size_t n);

#endif
