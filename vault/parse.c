/*
 * parse.c - the pure parts of the Vault client: error classification,
 * backoff, request paths, and parsing of Vault's JSON answers. No I/O here,
 * so everything is unit-tested and fuzzed directly. See vault.h.
 */
#include "vault_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_MAX_DEPTH 32

static const char *const err_names[VAULT_ERR_COUNT_] = {
    [VAULT_OK] = "ok",
    [VAULT_ERR_NOT_FOUND] = "not_found",
    [VAULT_ERR_PERMISSION] = "permission_denied",
    [VAULT_ERR_SEALED] = "sealed",
    [VAULT_ERR_RATE_LIMITED] = "rate_limited",
    [VAULT_ERR_SERVER] = "server_error",
    [VAULT_ERR_BAD_REQUEST] = "bad_request",
    [VAULT_ERR_NETWORK] = "network",
    [VAULT_ERR_TIMEOUT] = "timeout",
    [VAULT_ERR_TLS] = "tls",
    [VAULT_ERR_MALFORMED] = "malformed_answer",
    [VAULT_ERR_AUTH] = "auth",
    [VAULT_ERR_CONFIG] = "config",
    [VAULT_ERR_CANCELLED] = "cancelled",
    [VAULT_ERR_INTERNAL] = "internal",
};

const char *vault_err_name(enum vault_err e)
{
    if ((unsigned)e < VAULT_ERR_COUNT_ && err_names[e])
        return err_names[e];
    return "unknown";
}

int vault_err_transient(enum vault_err e)
{
    switch (e) {
    case VAULT_ERR_SEALED: case VAULT_ERR_RATE_LIMITED:
    case VAULT_ERR_SERVER: case VAULT_ERR_NETWORK: case VAULT_ERR_TIMEOUT:
        return 1;
    default:
        return 0;
    }
}

int vault_fail(struct vault_error *err, enum vault_err code, int status,
               const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = code;
    err->http_status = status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* One line only: answers from the server may contain newlines. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    return -1;
}

enum vault_err vault_classify_status(int status)
{
    if (status >= 200 && status < 300)
        return VAULT_OK;
    switch (status) {
    case 403: return VAULT_ERR_PERMISSION;
    case 404: return VAULT_ERR_NOT_FOUND;
    case 429: return VAULT_ERR_RATE_LIMITED;
    case 501: case 503: return VAULT_ERR_SEALED;
    default: break;
    }
    if (status >= 500 || status == 472 || status == 473)
        return VAULT_ERR_SERVER;
    if (status >= 400)
        return VAULT_ERR_BAD_REQUEST;
    return VAULT_ERR_MALFORMED;     /* 1xx/3xx: not a Vault answer */
}

struct json_object *vault_json_parse(const char *body, size_t len)
{
    struct json_tokener *tok;
    struct json_object *o;

    if (!body || len == 0 || len > (size_t)INT32_MAX)
        return NULL;
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok)
        return NULL;
    o = json_tokener_parse_ex(tok, body, (int)len);
    if (o && json_tokener_get_error(tok) == json_tokener_success) {
        /* Only whitespace may follow the value. */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
            if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' &&
                body[i] != '\t') {
                json_object_put(o);
                o = NULL;
                break;
            }
        }
    } else if (o) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static struct json_object *get_type(struct json_object *o, const char *key,
                                    enum json_type t)
{
    struct json_object *v = get(o, key);

    return v && json_object_is_type(v, t) ? v : NULL;
}

/* Joins the strings of an "errors" array with "; ". */
static void errors_text(struct json_object *root, char *out, size_t outlen)
{
    struct json_object *errs = get_type(root, "errors", json_type_array);
    size_t used = 0;

    out[0] = '\0';
    if (!errs)
        return;
    for (size_t i = 0; i < json_object_array_length(errs); i++) {
        struct json_object *e = json_object_array_get_idx(errs, i);
        if (!json_object_is_type(e, json_type_string))
            continue;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? "; " : "",
                         json_object_get_string(e));
        if (w < 0 || (size_t)w >= outlen - used)
            break;
        used += (size_t)w;
    }
}

void vault_error_from_response(int status, const char *body, size_t len,
                               const char *what, struct vault_error *err)
{
    struct json_object *root = vault_json_parse(body, len);
    char text[200];
    enum vault_err code = vault_classify_status(status);

    errors_text(root, text, sizeof(text));
    if (root)
        json_object_put(root);
    /* A 200 with an answer we could not use is malformed, not "ok". */
    if (code == VAULT_OK)
        code = VAULT_ERR_MALFORMED;
    vault_fail(err, code, status, "%s: HTTP %d %s%s%s", what ? what : "vault",
               status, vault_err_name(code), text[0] ? ": " : "", text);
}

long vault_backoff_ms(int attempt, long min_ms, long max_ms, uint32_t rnd)
{
    long step = min_ms > 0 ? min_ms : 1;

    if (max_ms < step)
        max_ms = step;
    for (int i = 0; i < attempt && step < max_ms; i++)
        step *= 2;
    if (step > max_ms)
        step = max_ms;
    long half = step / 2;
    return half + (long)(rnd % (uint32_t)(step - half + 1));
}

int vault_kv_request_path(const char *mount, const char *path, int kv_version,
                          char *out, size_t outlen)
{
    size_t ml = strlen(mount);
    int n;

    if (kv_version == 2 && ml > 0 && strncmp(path, mount, ml) == 0)
        n = snprintf(out, outlen, "%.*sdata/%s", (int)ml, mount, path + ml);
    else
        n = snprintf(out, outlen, "%s", path);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- KV ---------------------------------------------------------------- */

void vault_kv_free(struct vault_kv *kv)
{
    for (size_t i = 0; i < kv->nfields; i++) {
        free(kv->fields[i].name);
        if (kv->fields[i].value) {
            explicit_bzero(kv->fields[i].value, strlen(kv->fields[i].value));
            free(kv->fields[i].value);
        }
    }
    free(kv->fields);
    memset(kv, 0, sizeof(*kv));
}

const char *vault_kv_get(const struct vault_kv *kv, const char *name)
{
    for (size_t i = 0; i < kv->nfields; i++)
        if (strcmp(kv->fields[i].name, name) == 0)
            return kv->fields[i].value;
    return NULL;
}

static int kv_fill(struct json_object *data, struct vault_kv *out)
{
    size_t n = 0, i = 0;

    json_object_object_foreach(data, k0, v0) {
        (void)k0; (void)v0;
        n++;
    }
    out->fields = n ? calloc(n, sizeof(*out->fields)) : NULL;
    if (n && !out->fields)
        return -1;
    json_object_object_foreach(data, key, val) {
        const char *s = json_object_is_type(val, json_type_string)
            ? json_object_get_string(val)
            : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
        out->fields[i].name = strdup(key);
        out->fields[i].value = strdup(s ? s : "null");
        out->nfields = ++i;
        if (!out->fields[i - 1].name || !out->fields[i - 1].value)
            return -1;
    }
    return 0;
}

int vault_parse_kv(const char *body, size_t len, int kv_version, int status,
                   struct vault_kv *out, struct vault_error *err)
{
    struct json_object *root, *data, *meta = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->kv_version = kv_version;
    root = vault_json_parse(body, len);
    if (!root || !json_object_is_type(root, json_type_object))
        return (root ? json_object_put(root) : 0),
               vault_fail(err, status == 404 ? VAULT_ERR_NOT_FOUND
                                             : VAULT_ERR_MALFORMED, status,
                          "answer is not a JSON object");
    data = get_type(root, "data", json_type_object);
    if (kv_version == 2 && data) {
        meta = get_type(data, "metadata", json_type_object);
        data = get(data, "data");
        if (meta) {
            struct json_object *v = get_type(meta, "version", json_type_int);
            out->version = v ? (long)json_object_get_int64(v) : 0;
        }
        if (data && !json_object_is_type(data, json_type_object) &&
            !json_object_is_type(data, json_type_null)) {
            vault_fail(err, VAULT_ERR_MALFORMED, status,
                       "data.data is not an object");
            goto out;
        }
        if (!data || json_object_is_type(data, json_type_null)) {
            /* 404 with a body: a deleted or destroyed version. */
            struct json_object *dt = get_type(meta, "deletion_time",
                                              json_type_string);
            struct json_object *ds = get_type(meta, "destroyed",
                                              json_type_boolean);
            if (ds && json_object_get_boolean(ds))
                vault_fail(err, VAULT_ERR_NOT_FOUND, status,
                           "version %ld is destroyed", out->version);
            else if (dt && json_object_get_string_len(dt) > 0)
                vault_fail(err, VAULT_ERR_NOT_FOUND, status,
                           "version %ld was deleted at %s", out->version,
                           json_object_get_string(dt));
            else
                vault_fail(err, status == 404 || status == 200
                                    ? VAULT_ERR_NOT_FOUND
                                    : VAULT_ERR_MALFORMED,
                           status, "no data in answer");
            goto out;
        }
    }
    if (status == 404) {
        char text[200];
        errors_text(root, text, sizeof(text));
        vault_fail(err, VAULT_ERR_NOT_FOUND, status, "not found%s%s",
                   text[0] ? ": " : "", text);
        goto out;
    }
    if (!data) {
        vault_fail(err, VAULT_ERR_MALFORMED, status, "answer has no data "
                   "object");
        goto out;
    }
    if (kv_fill(data, out) < 0) {
        vault_fail(err, VAULT_ERR_INTERNAL, status, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        vault_kv_free(out);
    json_object_put(root);
    return rc;
}

int vault_parse_mount(const char *body, size_t len, char *mount,
                      size_t mountlen, int *kv_version,
                      struct vault_error *err)
{
    struct json_object *root = vault_json_parse(body, len);
    struct json_object *data = get_type(root, "data", json_type_object);
    struct json_object *path = get_type(data, "path", json_type_string);
    struct json_object *opts = get_type(data, "options", json_type_object);
    struct json_object *ver = get(opts, "version");
    int rc = -1;

    if (!path || json_object_get_string_len(path) == 0 ||
        (size_t)json_object_get_string_len(path) >= mountlen) {
        vault_fail(err, VAULT_ERR_MALFORMED, 200,
                   "mount answer has no usable data.path");
        goto out;
    }
    snprintf(mount, mountlen, "%s", json_object_get_string(path));
    *kv_version = 1;
    if (ver && json_object_is_type(ver, json_type_string) &&
        strcmp(json_object_get_string(ver), "2") == 0)
        *kv_version = 2;
    else if (ver && json_object_is_type(ver, json_type_int) &&
             json_object_get_int(ver) == 2)
        *kv_version = 2;
    rc = 0;
out:
    if (root)
        json_object_put(root);
    return rc;
}

/* ---- PKI ---------------------------------------------------------------- */

void vault_pki_cert_free(struct vault_pki_cert *c)
{
    free(c->certificate);
    free(c->chain);
    if (c->private_key) {
        explicit_bzero(c->private_key, strlen(c->private_key));
        free(c->private_key);
    }
    free(c->serial);
    memset(c, 0, sizeof(*c));
}

static char *dup_field(struct json_object *data, const char *key)
{
    struct json_object *v = get_type(data, key, json_type_string);

    return v ? strdup(json_object_get_string(v)) : NULL;
}

static void append_pem(struct vault_pki_cert *c, char **acc, size_t *len,
                       const char *pem, int *oom)
{
    size_t add = strlen(pem);
    char *n = realloc(*acc, *len + add + 2);

    (void)c;
    if (!n) {
        *oom = 1;
        return;
    }
    memcpy(n + *len, pem, add);
    *len += add;
    if (add && pem[add - 1] != '\n')
        n[(*len)++] = '\n';
    n[*len] = '\0';
    *acc = n;
}

int vault_parse_pki(const char *body, size_t len, struct vault_pki_cert *out,
                    struct vault_error *err)
{
    struct json_object *root = vault_json_parse(body, len);
    struct json_object *data = get_type(root, "data", json_type_object);
    struct json_object *chain, *exp;
    size_t clen = 0;
    int oom = 0;

    memset(out, 0, sizeof(*out));
    if (!data) {
        if (root)
            json_object_put(root);
        return vault_fail(err, VAULT_ERR_MALFORMED, 200,
                          "PKI answer has no data object");
    }
    out->certificate = dup_field(data, "certificate");
    out->private_key = dup_field(data, "private_key");
    out->serial = dup_field(data, "serial_number");
    exp = get_type(data, "expiration", json_type_int);
    out->expiration = exp ? (time_t)json_object_get_int64(exp) : 0;
    if (!out->certificate || !out->private_key) {
        json_object_put(root);
        vault_pki_cert_free(out);
        return vault_fail(err, VAULT_ERR_MALFORMED, 200,
                          "PKI answer lacks certificate or private_key");
    }
    append_pem(out, &out->chain, &clen, out->certificate, &oom);
    chain = get_type(data, "ca_chain", json_type_array);
    if (chain && json_object_array_length(chain) > 0) {
        for (size_t i = 0; i < json_object_array_length(chain); i++) {
            struct json_object *e = json_object_array_get_idx(chain, i);
            if (json_object_is_type(e, json_type_string))
                append_pem(out, &out->chain, &clen,
                           json_object_get_string(e), &oom);
        }
    } else {
        struct json_object *ca = get_type(data, "issuing_ca",
                                          json_type_string);
        if (ca)
            append_pem(out, &out->chain, &clen, json_object_get_string(ca),
                       &oom);
    }
    json_object_put(root);
    if (oom || !out->chain) {
        vault_pki_cert_free(out);
        return vault_fail(err, VAULT_ERR_INTERNAL, 200, "out of memory");
    }
    return 0;
}
