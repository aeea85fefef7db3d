/*
 * vault.h - a small HashiCorp Vault client (libcurl + json-c + OpenSSL).
 *
 * What it does: configuration from flags and the standard VAULT_* env;
 * token auth (VAULT_TOKEN, or VAULT_TOKEN_FILE re-read whenever the file
 * changes) or Kubernetes auth (auth/<mount>/login with a role and the
 * service-account JWT file); renew-self at half the lease, re-login before
 * expiry and after a 403; KV v1 and v2 reads (v2 detected per mount with
 * sys/internal/ui/mounts/<path>, "data/" inserted); sys/health; PKI issue.
 *
 * Contract:
 * - Every call is blocking (bounded by the timeouts) and returns 0 or -1
 *   with a typed error in *err. Retries with exponential backoff and jitter
 *   (or the answer's Retry-After, capped at the request timeout) happen
 *   inside on network errors, timeouts, 5xx and 429; never on other 4xx. The token never appears in any log line or error message.
 * - A vault_client is NOT thread-safe: one thread uses it at a time (the
 *   certificate pipeline owns one on its worker thread). Different clients
 *   may be used on different threads concurrently.
 * - TLS is verified by default (system CA bundle, or VAULT_CACERT), host
 *   name included; VAULT_SKIP_VERIFY=true turns verification off (logged).
 */
#ifndef PORTICO_VAULT_H
#define PORTICO_VAULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "flags.h"

/* ---- errors ---------------------------------------------------------- */

enum vault_err {
    VAULT_OK = 0,
    VAULT_ERR_NOT_FOUND,        /* 404: no such path/key, or a deleted or
                                   destroyed KV v2 version */
    VAULT_ERR_PERMISSION,       /* 403 (after one re-auth attempt) */
    VAULT_ERR_SEALED,           /* 503 sealed/down, 501 not initialised */
    VAULT_ERR_RATE_LIMITED,     /* 429 */
    VAULT_ERR_SERVER,           /* other 5xx, 472/473 */
    VAULT_ERR_BAD_REQUEST,      /* other 4xx: 400, 405, 412, 413, ... */
    VAULT_ERR_NETWORK,          /* resolve/connect/reset/short read */
    VAULT_ERR_TIMEOUT,          /* connect or request timeout */
    VAULT_ERR_TLS,              /* handshake or certificate verification */
    VAULT_ERR_MALFORMED,        /* not JSON, or JSON of the wrong shape */
    VAULT_ERR_AUTH,             /* no token, unreadable token/JWT file,
                                   login refused */
    VAULT_ERR_CONFIG,           /* invalid configuration */
    VAULT_ERR_CANCELLED,        /* vault_client_cancel() was called */
    VAULT_ERR_INTERNAL,         /* out of memory, libcurl setup */
    VAULT_ERR_COUNT_
};

struct vault_error {
    enum vault_err code;
    int http_status;            /* 0 when there was no HTTP answer */
    char msg[320];              /* human, one line, never contains a token */
};

/* Stable snake_case name, e.g. "permission_denied" (metric label). */
const char *vault_err_name(enum vault_err e);
/* 1 if the error is worth retrying later (network, 5xx, 429, sealed...). */
int vault_err_transient(enum vault_err e);

/* ---- configuration ----------------------------------------------------- */

enum vault_auth_method { VAULT_AUTH_TOKEN, VAULT_AUTH_KUBERNETES };

#define VAULT_DEFAULT_ADDR            "https://127.0.0.1:8200"
#define VAULT_DEFAULT_K8S_MOUNT       "kubernetes"
#define VAULT_DEFAULT_K8S_JWT_FILE \
    "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define VAULT_DEFAULT_CONNECT_TIMEOUT_MS  5000
#define VAULT_DEFAULT_TIMEOUT_MS          15000
#define VAULT_DEFAULT_RETRIES             2      /* extra attempts */
#define VAULT_DEFAULT_BACKOFF_MIN_MS      250
#define VAULT_DEFAULT_BACKOFF_MAX_MS      4000

/* All strings are owned (malloc'd) by the config; vault_config_free(). */
struct vault_config {
    char *addr;                 /* VAULT_ADDR, --vault-addr */
    char *token;                /* VAULT_TOKEN only (never a flag: ps) */
    char *token_file;           /* VAULT_TOKEN_FILE, --vault-token-file */
    char *cacert;               /* VAULT_CACERT, --vault-cacert */
    int skip_verify;            /* VAULT_SKIP_VERIFY, --vault-skip-verify */
    char *namespace_;           /* VAULT_NAMESPACE, --vault-namespace */
    enum vault_auth_method auth;/* --vault-auth=token|kubernetes */
    char *k8s_role;             /* --vault-k8s-role (VAULT_K8S_ROLE) */
    char *k8s_mount;            /* --vault-k8s-mount, default kubernetes */
    char *k8s_jwt_file;         /* --vault-k8s-jwt-file */
    int kv_version;             /* --vault-kv-version: 0 auto, 1, 2 */
    long connect_timeout_ms;    /* --vault-connect-timeout */
    long timeout_ms;            /* --vault-timeout (whole request) */
    int retries;                /* --vault-retries (extra attempts) */
    long backoff_min_ms;        /* --vault-backoff-min */
    long backoff_max_ms;        /* --vault-backoff-max */
    int addr_given;             /* VAULT_ADDR or --vault-addr was set (the
                                   controller then turns Vault on) */
};

/* Defaults (no env read). */
void vault_config_init(struct vault_config *c);
/* Applies VAULT_* variables from the environment. Returns 0, or -1 with a
 * message (e.g. VAULT_SKIP_VERIFY=maybe). */
int vault_config_from_env(struct vault_config *c, char *err, size_t errlen);
/* The --vault-* flags, a table for flags_parse() that sets c. */
struct flag_table vault_config_flags(struct vault_config *c);
/* Checks consistency (address scheme, auth inputs). 0 or -1 + message. */
int vault_config_check(const struct vault_config *c, char *err,
                       size_t errlen);
/* Flag help lines, for --help. */
void vault_config_usage(FILE *out);
void vault_config_free(struct vault_config *c);

/* ---- client ------------------------------------------------------------ */

struct vault_client;

/* Copies the configuration. Does no I/O. NULL + err on failure. */
struct vault_client *vault_client_new(const struct vault_config *c,
                                      struct vault_error *err);
void vault_client_free(struct vault_client *vc);
/* Makes the current and future calls of vc fail fast with
 * VAULT_ERR_CANCELLED (retry sleeps and transfers are interrupted). Safe to
 * call from any thread. */
void vault_client_cancel(struct vault_client *vc);

/* Token upkeep: reads a changed token file, logs in (kubernetes) when there
 * is no token or it expires within its last third, renews at half the
 * lease. Called lazily by every request; call it periodically too. */
int vault_client_maintain(struct vault_client *vc, struct vault_error *err);

struct vault_token_info {
    int have_token;
    enum vault_auth_method auth;
    long lease_seconds;         /* 0: unknown or no expiry */
    int renewable;
    time_t obtained;            /* wall clock of login/renew/lookup */
    time_t expires;             /* 0: unknown/no expiry */
    uint64_t logins, renewals, file_reloads;  /* counters */
};
void vault_client_token_info(const struct vault_client *vc,
                             struct vault_token_info *out);

/* ---- KV ---------------------------------------------------------------- */

struct vault_kv_field {
    char *name;
    char *value;                /* strings as is; other JSON as JSON text */
};

struct vault_kv {
    struct vault_kv_field *fields;
    size_t nfields;
    int kv_version;             /* 1 or 2 */
    long version;               /* v2 metadata.version; 0 for v1 */
};

/* Reads a KV secret at a logical path ("secret/ssl/example.com"). For a v2
 * mount "data/" is inserted after the mount. A deleted or destroyed v2
 * version is VAULT_ERR_NOT_FOUND with a message saying so. */
int vault_kv_read(struct vault_client *vc, const char *path,
                  struct vault_kv *out, struct vault_error *err);
/* The value of field name, or NULL. */
const char *vault_kv_get(const struct vault_kv *kv, const char *name);
void vault_kv_free(struct vault_kv *kv);

/* ---- sys/health, PKI ------------------------------------------------- */

struct vault_health {
    int http_status;
    int initialized, sealed, standby;
    char version[64];
    char cluster_name[128];
};
/* Unauthenticated. Returns 0 for an active or standby node (200/429/473),
 * -1 with VAULT_ERR_SEALED for 503/501, other errors as usual. *out is
 * filled whenever a JSON answer arrived. */
int vault_health(struct vault_client *vc, struct vault_health *out,
                 struct vault_error *err);

struct vault_pki_cert {
    char *certificate;          /* leaf PEM */
    char *chain;                /* leaf + ca_chain (or issuing_ca) PEM,
                                   leaf first: ready to serve */
    char *private_key;
    char *serial;
    time_t expiration;          /* 0 if the answer did not say */
};
/* POST <mount>/issue/<role> {"common_name": cn, "ttl": ttl?}. */
int vault_pki_issue(struct vault_client *vc, const char *mount,
                    const char *role, const char *common_name,
                    const char *ttl, struct vault_pki_cert *out,
                    struct vault_error *err);
void vault_pki_cert_free(struct vault_pki_cert *c);

/* ---- pure helpers (exposed for tests and fuzzing) --------------------- */

/* Error code for an HTTP status (0 for 2xx). */
enum vault_err vault_classify_status(int status);
/* Fills err from an HTTP error answer: code from status, message from the
 * "errors" array when the body has one. */
void vault_error_from_response(int status, const char *body, size_t len,
                               const char *what, struct vault_error *err);
/* Parses a KV read answer (status 200 or a v2 404 with a body). */
int vault_parse_kv(const char *body, size_t len, int kv_version, int status,
                   struct vault_kv *out, struct vault_error *err);
/* Parses sys/internal/ui/mounts/<path>: mount path ("secret/") and KV
 * version (1 or 2; 1 when options.version is absent). */
int vault_parse_mount(const char *body, size_t len, char *mount,
                      size_t mountlen, int *kv_version,
                      struct vault_error *err);
int vault_parse_pki(const char *body, size_t len, struct vault_pki_cert *out,
                    struct vault_error *err);
/* Delay before retry number attempt (0-based): an exponential step
 * min(max, min_ms << attempt), of which the upper half is jitter chosen by
 * rnd: result in [step/2, step]. */
long vault_backoff_ms(int attempt, long min_ms, long max_ms, uint32_t rnd);
/* Builds the KV request path: mount "secret/", path "secret/ssl/x" ->
 * "secret/data/ssl/x" for v2, unchanged for v1. 0 or -1 (too long). */
int vault_kv_request_path(const char *mount, const char *path, int kv_version,
                          char *out, size_t outlen);

#endif
