/*
 * certs.h - the Vault certificate pipeline for Ingresses labelled
 * ssl: "true". It fetches one pair per HOST from Vault on its own worker
 * thread, validates it (tlspair.h), writes it atomically into the
 * certificates folder and tells the controller's event loop through a file
 * descriptor when a served pair changed. The loop never blocks on Vault.
 *
 * Per host (never per Ingress), on the worker thread:
 * 1. read <template with {host} replaced> (default secret/ssl/{host});
 *    fields crt/key, else tls.crt/tls.key, else certificate/private_key;
 * 2. if that entry does not exist (404), read the parent's wildcard entry
 *    ("a.example.com" -> the entry of "*.example.com");
 * 3. if neither exists and PKI mode is on (--vault-pki-role), issue one from
 *    <pki mount>/issue/<role>; an issued pair is re-issued once two thirds
 *    of its lifetime have passed;
 * 4. validate for the host; write <dir>/<name>.crt and .key (mode 0600,
 *    temp file + fsync + rename + fsync dir) only when the pair differs
 *    from the one served; then signal the notify fd.
 * A failure (missing, invalid, Vault down/sealed/denying) NEVER removes a
 * served pair: the last good pair stays, the host is retried with backoff
 * (1 s doubling up to the refresh interval, jittered) and the failure is
 * reported in the snapshot and metrics. Other hosts are unaffected. A
 * failure of Vault as a whole (network, timeout, TLS, sealed, 5xx, 429,
 * auth) is reported for every host and pauses all fetches with the same
 * backoff; after the pause one host probes, and when it succeeds the
 * others are re-read at once.
 * Every host is re-read every refresh interval (default 5 min) and on
 * certs_refresh_now(). Files are named so that no host string can escape
 * the folder: a short (< ~60 chars) dotted host made only of lowercase
 * [a-z0-9-] labels keeps its name, with a leading "*" label written as
 * "_wildcard_"; anything else becomes "h-<sha256 hex of host>". Pairs found in the folder at start (e.g. after
 * a restart) are served after validation until Vault answers.
 *
 * Threading: certs_set_hosts, certs_refresh_now, certs_snapshot,
 * certs_notify_ack and certs_metrics_write may be called from any thread
 * (they take the pipeline lock briefly, never wait for Vault).
 * certs_new/certs_start/certs_free from the owning thread only.
 */
#ifndef PORTICO_VAULT_CERTS_H
#define PORTICO_VAULT_CERTS_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "tlspair.h"
#include "vault.h"

#define CERTS_DEFAULT_PATH_TEMPLATE "secret/ssl/{host}"
#define CERTS_DEFAULT_REFRESH_MS    (5 * 60 * 1000)
#define CERTS_DEFAULT_PKI_MOUNT     "pki"
#define CERTS_RETRY_MIN_MS          1000

/* Strings are borrowed: they must outlive the pipeline (argv is fine). */
struct certs_config {
    const char *dir;            /* --vault-cert-dir (created 0700) */
    const char *path_template;  /* --vault-cert-path, must contain {host} */
    long refresh_ms;            /* --vault-refresh (e.g. 5m) */
    const char *pki_role;       /* --vault-pki-role; NULL: PKI mode off */
    const char *pki_mount;      /* --vault-pki-mount (default pki) */
    const char *pki_ttl;        /* --vault-pki-ttl; NULL: role default */
    long retry_min_ms;          /* first retry delay after a failure */
};

void certs_config_init(struct certs_config *c);
/* The --vault-cert-* / --vault-pki-* flags above, a table for
 * flags_parse() that sets c. */
struct flag_table certs_config_flags(struct certs_config *c);
void certs_config_usage(FILE *out);

/* Outcome of the LAST attempt for a host. */
enum certs_status {
    CERTS_PENDING = 0,          /* not fetched yet */
    CERTS_OK,                   /* fetched and valid (pair served) */
    CERTS_MISSING,              /* no entry for the host nor its wildcard */
    CERTS_INVALID,              /* entry found, rejected by validation */
    CERTS_VAULT_ERROR,          /* Vault unreachable/sealed/denying/... */
    CERTS_WRITE_ERROR,          /* could not write the files */
};
const char *certs_status_name(enum certs_status s);  /* "ok", "missing".. */

struct certs_host_state {
    char *host;
    enum certs_status status;   /* of the last attempt */
    int has_pair;               /* 1: crt_path/key_path hold a valid pair
                                   (possibly from an earlier attempt) */
    char *crt_path, *key_path;  /* absolute or as dir was given; NULL if
                                   !has_pair */
    time_t not_after;           /* of the served leaf; 0 if !has_pair */
    char *source;               /* where the served pair came from: the
                                   Vault KV path read (the host's or its
                                   parent wildcard's), "pki:<mount>/issue/
                                   <role>", or "disk"; NULL if !has_pair */
    long source_version;        /* KV v2 version of source, else 0 */
    uint64_t pair_generation;   /* snapshot generation at which this
                                   host's served pair last changed */
    char sha256[65];            /* hex SHA-256 of the served leaf, "" */
    time_t last_success;        /* wall clock; 0: never */
    time_t last_attempt;
    char *error_reason;         /* short label ("not_found",
                                   "key_mismatch", "sealed"...) of the last
                                   attempt; NULL when it succeeded */
    char *last_error;           /* human message; NULL when it succeeded */
};

struct certs_snapshot {
    struct certs_host_state *hosts;   /* sorted by host */
    size_t n;
    uint64_t generation;        /* +1 on every served-pair change */
};

struct certs_pipeline;

/* Creates the folder if needed and loads any pairs already in it for later
 * adoption. Does no Vault I/O; NULL + message on failure. */
struct certs_pipeline *certs_new(const struct certs_config *cfg,
                                 const struct vault_config *vcfg,
                                 char *err, size_t errlen);
/* Starts the worker thread. 0 or -1. */
int certs_start(struct certs_pipeline *p);
/* Stops the worker (interrupting any Vault wait), joins, frees. Files
 * stay on disk. */
void certs_free(struct certs_pipeline *p);

/* The desired set of hosts (copied; duplicates ignored). New hosts are
 * fetched at once; hosts no longer listed are forgotten and their files
 * removed (the controller has already dropped them from its config).
 * 0 or -1 (out of memory). */
int certs_set_hosts(struct certs_pipeline *p, const char *const *hosts,
                    size_t n);
/* Re-read every host now (an ssl Ingress changed). */
void certs_refresh_now(struct certs_pipeline *p);

/* Readable (EPOLLIN) when at least one host's served pair changed (new,
 * rotated, or first adopted). Register it with evloop; on wake call
 * certs_notify_ack() then certs_snapshot(). Status-only changes (a failed
 * fetch while the old pair is kept) do NOT signal. */
int certs_notify_fd(const struct certs_pipeline *p);
void certs_notify_ack(struct certs_pipeline *p);

/* Deep copy of the per-host state. 0 or -1 (out of memory). */
int certs_snapshot(struct certs_pipeline *p, struct certs_snapshot *out);
const struct certs_host_state *certs_snapshot_find(
    const struct certs_snapshot *s, const char *host);
void certs_snapshot_free(struct certs_snapshot *s);

/* Prometheus families (call from the /metrics handler, any thread):
 *  portico_controller_vault_certificate_status{host,status}        gauge 1
 *  portico_controller_vault_last_success_timestamp_seconds{host}  gauge
 *  portico_controller_vault_fetches_total                          counter
 *  portico_controller_vault_fetch_errors_total{reason}             counter
 *  portico_controller_vault_certificate_changes_total              counter
 *  portico_controller_vault_token_renewals_total                   counter
 *  portico_controller_vault_logins_total                           counter */
void certs_metrics_write(struct certs_pipeline *p, struct buf *out);
/* One family for the expiry of every served certificate,
 * CERTS_EXPIRY_METRIC{host, source}: certs_expiry_family writes its
 * header, certs_expiry_write the samples of source="vault" (the notAfter
 * of every host's served pair); the controller adds source="secret". */
#define CERTS_EXPIRY_METRIC \
    "portico_controller_certificate_expiry_timestamp_seconds"
void certs_expiry_family(struct buf *out);
void certs_expiry_write(struct certs_pipeline *p, struct buf *out);

/* ---- one fetch outside the pipeline (portico-vault cert) ---------------- */

#define CERTS_SOURCE_MAX 1100
#define CERTS_FP_LEN 32

struct certs_fetch {
    enum certs_status status;   /* CERTS_OK, _MISSING, _INVALID, _VAULT_ERROR */
    const char *reason;         /* static label as in the snapshot; NULL ok */
    char msg[400];              /* human message when not ok */
    int have_pair;              /* 1: crt/key hold a validated pair */
    char *crt, *key;            /* PEM (crt: leaf first, chain after) */
    unsigned char fp[CERTS_FP_LEN];   /* SHA-256 of crt, NUL, key */
    struct tlspair_info info;   /* of the leaf (filled as far as parsed) */
    char source[CERTS_SOURCE_MAX];    /* Vault path or "pki:..." */
    long version;               /* KV v2 version, else 0 */
    int from_pki;
    int keep;                   /* internal: PKI pair still fresh */
};

/* Runs steps 1-3 and validation for host with client vc (blocking; PKI
 * issues a new certificate whenever the KV entries are missing). Writes no
 * files. Returns 0 when a valid pair was found, -1 otherwise (see
 * out->status/reason/msg). certs_fetch_free() in both cases. */
int certs_fetch_host(struct vault_client *vc, const struct certs_config *cfg,
                     const char *host, struct certs_fetch *out);
void certs_fetch_free(struct certs_fetch *f);

/* ---- pure helpers (exposed for tests) ----------------------------------- */

/* Folder-safe file stem for a host (see above). 0, or -1 if out is small
 * (needs CERTS_NAME_MAX). */
#define CERTS_NAME_MAX 80
int certs_file_stem(const char *host, char *out, size_t outlen);
/* Replaces every {host} in tmpl. 0, or -1 (no {host}, or too long). */
int certs_expand_path(const char *tmpl, const char *host, char *out,
                      size_t outlen);
/* "a.example.com" -> "*.example.com"; -1 when host has fewer than three
 * labels or is itself a wildcard (no parent wildcard to try). */
int certs_parent_wildcard(const char *host, char *out, size_t outlen);
/* The same, the file owned by uid ((uid_t)-1: ours) before it takes the
 * name, so its reader never sees it unreadable. */
int certs_write_atomic_owned(const char *dir, const char *name,
                             const char *data, size_t len, unsigned mode,
                             uid_t uid, char *err, size_t errlen);
/* Writes data to dir/name atomically with the given mode. 0 or -1 + errno
 * message. */
int certs_write_atomic(const char *dir, const char *name, const char *data,
                       size_t len, unsigned mode, char *err, size_t errlen);

#endif
