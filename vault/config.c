/* config.c - Vault client configuration from flags and VAULT_* env; see vault.h. */
#include "vault.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MS_PER_SECOND 1000L
#define MAX_RETRIES 10
#define MAX_DURATION_MS (24L * 3600L * MS_PER_SECOND * 365L)

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

int vault_parse_duration_ms(const char *s, long *out_ms)
{
    char *end;
    double v, mult;

    if (!s || !*s || isspace((unsigned char)*s) || *s == '-')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = MS_PER_SECOND;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60.0 * MS_PER_SECOND;
    else if (strcmp(end, "h") == 0)
        mult = 3600.0 * MS_PER_SECOND;
    else
        return -1;
    v *= mult;
    if (v > (double)MAX_DURATION_MS)
        return -1;
    *out_ms = (long)v;
    return 0;
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
    return 0;
}

/* Splits "--name=value" / "--name value". Returns the value or NULL
 * (missing value: message in err). */
static const char *flag_value(int argc, char **argv, int *i, size_t namelen,
                              char *err, size_t errlen)
{
    const char *a = argv[*i];

    if (a[namelen] == '=')
        return a + namelen + 1;
    if (*i + 1 < argc) {
        (*i)++;
        return argv[*i];
    }
    snprintf(err, errlen, "%s needs a value", a);
    return NULL;
}

enum flag_kind { F_STR, F_BOOL, F_DURATION, F_INT, F_AUTH, F_KV };

static const struct vault_flag {
    const char *name;
    enum flag_kind kind;
    size_t off;
    const char *help;
} vault_flags[] = {
    {"--vault-addr", F_STR, offsetof(struct vault_config, addr),
     "URL  Vault address (VAULT_ADDR; default " VAULT_DEFAULT_ADDR ")"},
    {"--vault-token-file", F_STR, offsetof(struct vault_config, token_file),
     "FILE  token file, re-read when it changes (VAULT_TOKEN_FILE)"},
    {"--vault-cacert", F_STR, offsetof(struct vault_config, cacert),
     "FILE  CA bundle for Vault's TLS certificate (VAULT_CACERT)"},
    {"--vault-skip-verify", F_BOOL, offsetof(struct vault_config, skip_verify),
     "[=BOOL]  do not verify Vault's TLS certificate (VAULT_SKIP_VERIFY)"},
    {"--vault-namespace", F_STR, offsetof(struct vault_config, namespace_),
     "NS  Enterprise namespace (VAULT_NAMESPACE)"},
    {"--vault-auth", F_AUTH, offsetof(struct vault_config, auth),
     "token|kubernetes  auth method (default token; kubernetes if a role is set)"},
    {"--vault-k8s-role", F_STR, offsetof(struct vault_config, k8s_role),
     "ROLE  Kubernetes auth role (VAULT_K8S_ROLE)"},
    {"--vault-k8s-mount", F_STR, offsetof(struct vault_config, k8s_mount),
     "MOUNT  Kubernetes auth mount (default " VAULT_DEFAULT_K8S_MOUNT ")"},
    {"--vault-k8s-jwt-file", F_STR, offsetof(struct vault_config, k8s_jwt_file),
     "FILE  service-account JWT (default " VAULT_DEFAULT_K8S_JWT_FILE ")"},
    {"--vault-kv-version", F_KV, offsetof(struct vault_config, kv_version),
     "auto|1|2  KV engine version (default auto: asked per mount)"},
    {"--vault-connect-timeout", F_DURATION,
     offsetof(struct vault_config, connect_timeout_ms),
     "DUR  connect timeout (default 5s)"},
    {"--vault-timeout", F_DURATION, offsetof(struct vault_config, timeout_ms),
     "DUR  whole-request timeout (default 15s)"},
    {"--vault-retries", F_INT, offsetof(struct vault_config, retries),
     "N  extra attempts on network errors, 5xx and 429 (default 2)"},
    {"--vault-backoff-min", F_DURATION,
     offsetof(struct vault_config, backoff_min_ms),
     "DUR  first retry delay (default 250ms)"},
    {"--vault-backoff-max", F_DURATION,
     offsetof(struct vault_config, backoff_max_ms),
     "DUR  largest retry delay (default 4s)"},
};

int vault_config_flag(struct vault_config *c, int argc, char **argv, int *i,
                      char *err, size_t errlen)
{
    const char *a = argv[*i], *v;

    for (size_t k = 0; k < sizeof(vault_flags) / sizeof(vault_flags[0]); k++) {
        const struct vault_flag *f = &vault_flags[k];
        size_t n = strlen(f->name);
        void *field = (char *)c + f->off;

        if (strncmp(a, f->name, n) != 0 || (a[n] != '\0' && a[n] != '='))
            continue;
        if (f->kind == F_BOOL && a[n] == '\0') {
            *(int *)field = 1;
            return 1;
        }
        if (!(v = flag_value(argc, argv, i, n, err, errlen)))
            return -1;
        switch (f->kind) {
        case F_STR:
            if (!*v) {
                snprintf(err, errlen, "%s: empty value", f->name);
                return -1;
            }
            if (set_str((char **)field, v) < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            return 1;
        case F_BOOL:
            if (parse_bool(v, (int *)field) < 0)
                break;
            return 1;
        case F_DURATION:
            if (vault_parse_duration_ms(v, (long *)field) < 0)
                break;
            return 1;
        case F_INT: {
            char *end;
            long x = strtol(v, &end, 10);
            if (*v == '\0' || *end || x < 0 || x > MAX_RETRIES)
                break;
            *(int *)field = (int)x;
            return 1;
        }
        case F_AUTH:
            if (strcmp(v, "token") == 0)
                c->auth = VAULT_AUTH_TOKEN;
            else if (strcmp(v, "kubernetes") == 0)
                c->auth = VAULT_AUTH_KUBERNETES;
            else
                break;
            return 1;
        case F_KV:
            if (strcmp(v, "auto") == 0)
                c->kv_version = 0;
            else if (strcmp(v, "1") == 0 || strcmp(v, "2") == 0)
                c->kv_version = v[0] - '0';
            else
                break;
            return 1;
        }
        snprintf(err, errlen, "%s: invalid value \"%.60s\"", f->name, v);
        return -1;
    }
    return 0;
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
    for (size_t k = 0; k < sizeof(vault_flags) / sizeof(vault_flags[0]); k++) {
        const char *h = vault_flags[k].help;
        const char *sp = strstr(h, "  ");
        fprintf(out, "  %s %.*s\n      %s\n", vault_flags[k].name,
                sp ? (int)(sp - h) : 0, h, sp ? sp + 2 : h);
    }
    fprintf(out, "  env: VAULT_ADDR VAULT_TOKEN VAULT_TOKEN_FILE VAULT_CACERT "
            "VAULT_SKIP_VERIFY VAULT_NAMESPACE VAULT_K8S_ROLE\n");
}
