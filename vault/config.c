/* config.c - Vault client configuration from flags and VAULT_* env; see vault.h. */
#include "vault.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RETRIES 10

static int set_str(char **dst, const char *v)
{
    char *c = strdup(v);

    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

void vault_config_init(struct vault_config *c)
{
    memset(c, 0, sizeof(*c));
    c->addr = strdup(VAULT_DEFAULT_ADDR);
    c->auth = VAULT_AUTH_TOKEN;
    c->k8s_mount = strdup(VAULT_DEFAULT_K8S_MOUNT);
    c->k8s_jwt_file = strdup(VAULT_DEFAULT_K8S_JWT_FILE);
    c->connect_timeout_ms = VAULT_DEFAULT_CONNECT_TIMEOUT_MS;
    c->timeout_ms = VAULT_DEFAULT_TIMEOUT_MS;
    c->retries = VAULT_DEFAULT_RETRIES;
    c->backoff_min_ms = VAULT_DEFAULT_BACKOFF_MIN_MS;
    c->backoff_max_ms = VAULT_DEFAULT_BACKOFF_MAX_MS;
}

void vault_config_free(struct vault_config *c)
{
    free(c->addr);
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    free(c->token_file);
    free(c->cacert);
    free(c->namespace_);
    free(c->k8s_role);
    free(c->k8s_mount);
    free(c->k8s_jwt_file);
    memset(c, 0, sizeof(*c));
}

/* Vault's own parser accepts the strconv.ParseBool set. */
static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "true", "yes", "on"};
    static const char *const no[] = {"0", "f", "false", "no", "off", ""};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    return -1;
}

int vault_config_from_env(struct vault_config *c, char *err, size_t errlen)
{
    static const struct { const char *name; size_t off; } strs[] = {
        {"VAULT_ADDR", offsetof(struct vault_config, addr)},
        {"VAULT_TOKEN", offsetof(struct vault_config, token)},
        {"VAULT_TOKEN_FILE", offsetof(struct vault_config, token_file)},
        {"VAULT_CACERT", offsetof(struct vault_config, cacert)},
        {"VAULT_NAMESPACE", offsetof(struct vault_config, namespace_)},
        {"VAULT_K8S_ROLE", offsetof(struct vault_config, k8s_role)},
    };
    const char *v;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        v = getenv(strs[i].name);
        if (v && *v && set_str((char **)((char *)c + strs[i].off), v) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    v = getenv("VAULT_SKIP_VERIFY");
    if (v && parse_bool(v, &c->skip_verify) < 0) {
        snprintf(err, errlen, "VAULT_SKIP_VERIFY: not a boolean: \"%.40s\"", v);
        return -1;
    }
    if (c->k8s_role)
        c->auth = VAULT_AUTH_KUBERNETES;
    v = getenv("VAULT_ADDR");
    c->addr_given = v && *v;
    return 0;
}

static int invalid(const char *value, char *err, size_t errlen)
{
    snprintf(err, errlen, "invalid value \"%.60s\"", value);
    return -1;
}

/* An owned, non-empty string. */
static int set_string(void *target, const struct flag *f, const char *value,
                      char *err, size_t errlen)
{
    if (!*value) {
        snprintf(err, errlen, "empty value");
        return -1;
    }
    if (set_str(FLAG_FIELD(target, f, char *), value) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int set_addr(void *target, const struct flag *f, const char *value,
                    char *err, size_t errlen)
{
    struct vault_config *c = target;

    if (set_string(target, f, value, err, errlen) < 0)
        return -1;
    c->addr_given = 1;
    return 0;
}

static int set_bool(void *target, const struct flag *f, const char *value,
                    char *err, size_t errlen)
{
    if (!value)
        return *FLAG_FIELD(target, f, int) = 1, 0;
    if (parse_bool(value, FLAG_FIELD(target, f, int)) < 0)
        return invalid(value, err, errlen);
    return 0;
}

static int set_retries(void *target, const struct flag *f, const char *value,
                       char *err, size_t errlen)
{
    char *end;
    long x = strtol(value, &end, 10);

    if (*value == '\0' || *end || x < 0 || x > MAX_RETRIES)
        return invalid(value, err, errlen);
    *FLAG_FIELD(target, f, int) = (int)x;
    return 0;
}

static int set_auth(void *target, const struct flag *f, const char *value,
                    char *err, size_t errlen)
{
    enum vault_auth_method *auth = FLAG_FIELD(target, f,
                                              enum vault_auth_method);

    if (strcmp(value, "token") == 0)
        *auth = VAULT_AUTH_TOKEN;
    else if (strcmp(value, "kubernetes") == 0)
        *auth = VAULT_AUTH_KUBERNETES;
    else
        return invalid(value, err, errlen);
    return 0;
}

static int set_kv_version(void *target, const struct flag *f,
                          const char *value, char *err, size_t errlen)
{
    int *version = FLAG_FIELD(target, f, int);

    if (strcmp(value, "auto") == 0)
        *version = 0;
    else if (strcmp(value, "1") == 0 || strcmp(value, "2") == 0)
        *version = value[0] - '0';
    else
        return invalid(value, err, errlen);
    return 0;
}

#define VC(field) offsetof(struct vault_config, field)

static const struct flag vault_flags[] = {
    {"vault-addr", required_argument, "URL", set_addr, VC(addr),
     "Vault address (VAULT_ADDR;\ndefault " VAULT_DEFAULT_ADDR ")"},
    {"vault-token-file", required_argument, "FILE", set_string, VC(token_file),
     "token file, re-read when it changes\n(VAULT_TOKEN_FILE)"},
    {"vault-cacert", required_argument, "FILE", set_string, VC(cacert),
     "CA bundle for Vault's TLS certificate\n(VAULT_CACERT)"},
    {"vault-skip-verify", optional_argument, "BOOL", set_bool,
     VC(skip_verify),
     "do not verify Vault's TLS certificate\n(VAULT_SKIP_VERIFY)"},
    {"vault-namespace", required_argument, "NS", set_string, VC(namespace_),
     "Enterprise namespace (VAULT_NAMESPACE)"},
    {"vault-auth", required_argument, "token|kubernetes", set_auth, VC(auth),
     "auth method (default token; kubernetes\nif a role is set)"},
    {"vault-k8s-role", required_argument, "ROLE", set_string, VC(k8s_role),
     "Kubernetes auth role (VAULT_K8S_ROLE)"},
    {"vault-k8s-mount", required_argument, "MOUNT", set_string,
     VC(k8s_mount),
     "Kubernetes auth mount (default " VAULT_DEFAULT_K8S_MOUNT ")"},
    {"vault-k8s-jwt-file", required_argument, "FILE", set_string,
     VC(k8s_jwt_file),
     "service-account JWT\n(default " VAULT_DEFAULT_K8S_JWT_FILE ")"},
    {"vault-kv-version", required_argument, "auto|1|2", set_kv_version,
     VC(kv_version), "KV engine version (default auto: asked\nper mount)"},
    {"vault-connect-timeout", required_argument, "DUR", flag_set_duration_ms,
     VC(connect_timeout_ms), "connect timeout (default 5s)"},
    {"vault-timeout", required_argument, "DUR", flag_set_duration_ms,
     VC(timeout_ms), "whole-request timeout (default 15s)"},
    {"vault-retries", required_argument, "N", set_retries, VC(retries),
     "extra attempts on network errors, 5xx and\n429 (default 2)"},
    {"vault-backoff-min", required_argument, "DUR", flag_set_duration_ms,
     VC(backoff_min_ms), "first retry delay (default 250ms)"},
    {"vault-backoff-max", required_argument, "DUR", flag_set_duration_ms,
     VC(backoff_max_ms), "largest retry delay (default 4s)"},
};

struct flag_table vault_config_flags(struct vault_config *c)
{
    return (struct flag_table){vault_flags,
                               sizeof(vault_flags) / sizeof(vault_flags[0]), c};
}

int vault_config_check(const struct vault_config *c, char *err, size_t errlen)
{
    if (!c->addr || (strncmp(c->addr, "http://", 7) != 0 &&
                     strncmp(c->addr, "https://", 8) != 0)) {
        snprintf(err, errlen, "Vault address must start with http:// or "
                 "https://");
        return -1;
    }
    if (c->auth == VAULT_AUTH_KUBERNETES &&
        (!c->k8s_role || !c->k8s_mount || !c->k8s_jwt_file)) {
        snprintf(err, errlen, "Kubernetes auth needs --vault-k8s-role");
        return -1;
    }
    if (c->timeout_ms <= 0 || c->connect_timeout_ms <= 0) {
        snprintf(err, errlen, "Vault timeouts must be positive");
        return -1;
    }
    if (c->backoff_min_ms <= 0 || c->backoff_max_ms < c->backoff_min_ms) {
        snprintf(err, errlen, "Vault backoff: need 0 < min <= max");
        return -1;
    }
    return 0;
}

void vault_config_usage(FILE *out)
{
    flags_usage(out, vault_flags, sizeof(vault_flags) / sizeof(vault_flags[0]));
    fprintf(out, "  env: VAULT_ADDR VAULT_TOKEN VAULT_TOKEN_FILE VAULT_CACERT\n"
            "       VAULT_SKIP_VERIFY VAULT_NAMESPACE VAULT_K8S_ROLE\n");
}
