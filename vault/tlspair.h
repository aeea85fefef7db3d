/*
 * tlspair.h - validation of a PEM certificate chain + private key pair
 * (OpenSSL), shared by the Vault certificate pipeline and the controller
 * (kubernetes.io/tls Secrets are validated exactly the same way).
 *
 * A pair is valid when ALL of these hold:
 * - crt is one or more PEM "CERTIFICATE" blocks (nothing else counts), at
 *   most TLSPAIR_MAX_CHAIN of them; key is one PEM private key (RSA, EC,
 *   Ed25519; encrypted keys are rejected, never prompted for);
 * - the key matches the FIRST certificate (the leaf);
 * - every certificate is valid at `now` (not expired, not yet valid);
 * - chain order: certificate i is issued (and signed) by certificate i+1;
 * - if host != NULL: the leaf covers host (see tlspair_host_matches).
 *
 * Host matching (RFC 6125 §6.4, decided for this project): only SAN dNSName
 * entries are used; the subject CN is NEVER consulted (browsers ignore it
 * since 2017, so a CN-only certificate would not work anyway). Matching is
 * case-insensitive and ignores one trailing dot. A wildcard is allowed only
 * as the whole left-most label ("*.example.com"), never in a label with
 * other characters ("f*.example.com", "*foo.example.com"), never in another
 * label, and needs at least two labels after it ("*.com" matches nothing);
 * it covers exactly one label: "*.example.com" matches "a.example.com" but
 * neither "example.com" nor "a.b.example.com". A host that is itself a
 * wildcard ("*.example.com", e.g. an Ingress tls host) is covered only by
 * the identical wildcard SAN.
 *
 * Thread-safe (no shared state). No function here logs.
 */
#ifndef PORTICO_VAULT_TLSPAIR_H
#define PORTICO_VAULT_TLSPAIR_H

#include <stddef.h>
#include <time.h>

#define TLSPAIR_MAX_CHAIN 10
#define TLSPAIR_MAX_PEM   (1024 * 1024)    /* bytes, per input */

enum tlspair_err {
    TLSPAIR_OK = 0,
    TLSPAIR_ERR_CERT_PEM,       /* no certificate, unparsable, too long */
    TLSPAIR_ERR_KEY_PEM,        /* no key, unparsable or encrypted key */
    TLSPAIR_ERR_KEY_MISMATCH,   /* key does not belong to the leaf */
    TLSPAIR_ERR_EXPIRED,        /* some certificate's notAfter < now */
    TLSPAIR_ERR_NOT_YET_VALID,  /* some certificate's notBefore > now */
    TLSPAIR_ERR_HOST_MISMATCH,  /* leaf SANs do not cover host */
    TLSPAIR_ERR_CHAIN_ORDER,    /* cert i not issued/signed by cert i+1 */
    TLSPAIR_ERR_INTERNAL,       /* out of memory */
};

/* What was learnt about the leaf (filled as far as parsing got). */
struct tlspair_info {
    char subject[256];          /* one-line RFC 2253 form */
    char issuer[256];
    char sans[1024];            /* DNS SANs, comma-separated ("" if none) */
    char serial[128];           /* hex */
    char sha256[65];            /* hex SHA-256 of the leaf DER */
    time_t not_before;
    time_t not_after;
    int chain_len;              /* certificates in crt */
    enum tlspair_err dates;     /* TLSPAIR_OK, or the first certificate's
                                   TLSPAIR_ERR_EXPIRED/_NOT_YET_VALID */
    char dates_msg[320];        /* its message, "" if none */
};

/* Validates the pair; returns TLSPAIR_OK or the first failure found, with
 * a one-line human message in err (err may be NULL). info may be NULL. */
enum tlspair_err tlspair_validate(const char *crt_pem, size_t crt_len,
                                  const char *key_pem, size_t key_len,
                                  const char *host, time_t now,
                                  struct tlspair_info *info,
                                  char *err, size_t errlen);

/* The same checks, except that a certificate outside its validity period
 * does not fail the pair: it is reported in info->dates and
 * info->dates_msg (info must not be NULL). The controller serves such
 * Secret pairs with a warning, as ingress-nginx does; every other failure
 * refuses the pair. */
enum tlspair_err tlspair_validate_dates_apart(const char *crt_pem,
                                              size_t crt_len,
                                              const char *key_pem,
                                              size_t key_len,
                                              const char *host, time_t now,
                                              struct tlspair_info *info,
                                              char *err, size_t errlen);

/* 1 if the SAN dNSName pattern covers host under the rules above. */
int tlspair_host_matches(const char *pattern, const char *host);

/* Stable short name, e.g. "key_mismatch" (used in metric labels). */
const char *tlspair_err_name(enum tlspair_err e);

#endif
