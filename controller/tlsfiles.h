/*
 * tlsfiles.h - certificate files for nginx: kubernetes.io/tls Secrets
 * (validated exactly like Vault pairs, vault/tlspair.h) written into the
 * certificates folder, and the Vault pipeline's pairs looked up per host.
 *
 * Secret pairs are content-addressed: <dir>/secret-<sha256 prefix>.crt and
 * .key (0600), so a rotated Secret changes nginx.conf and triggers exactly
 * one reload, and an unchanged one never rewrites files. Validation
 * results are cached per Secret content, so 10k Secrets are not re-parsed
 * on every render.
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

/* notAfter (unix seconds) of the Secret pair whose certificate file is
 * crt_path, or 0 if crt_path is not one of ours. */
long long tlsfiles_not_after(const struct tlsfiles *t, const char *crt_path);

/* Removes secret-* files not used by the given certificate paths. */
void tlsfiles_gc(struct tlsfiles *t, const char *const *in_use, size_t n);

#endif
