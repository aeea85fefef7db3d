/*
 * kubeconfig.c - kubeconfig (YAML, via libyaml's document API) and
 * in-cluster configuration. See kubeconfig.h.
 */
#include "controller/kube/kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "controller/base64.h"
#include "fileio.h"

enum { KUBECONFIG_MAX_BYTES = 4 << 20, SA_FILE_MAX_BYTES = 1 << 20 };

/* ---- tiny navigation helpers over a libyaml document ---- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map,
                            const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

/* In a list of {name: X, <field>: {...}}, the <field> of the entry named
 * name. */
static yaml_node_t *named_entry(yaml_document_t *d, yaml_node_t *root,
                                const char *list, const char *field,
                                const char *name)
{
    yaml_node_t *seq = map_get(d, root, list);
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return NULL;
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(d, *it);
        const char *n = scalar(map_get(d, e, "name"));
        if (n && strcmp(n, name) == 0)
            return map_get(d, e, field);
    }
    return NULL;
}

static char *resolve_path(const char *base_dir, const char *p)
{
    char *out;
    if (!p || !*p)
        return NULL;
    if (p[0] == '/' || !base_dir || !*base_dir)
        return strdup(p);
    if (asprintf(&out, "%s/%s", base_dir, p) < 0)
        return NULL;
    return out;
}

static int decode_field(const char *b64, char **out, size_t *outlen,
                        const char *what, char *err, size_t errlen)
{
    if (!b64 || !*b64)
        return 0;
    *out = base64_decode(b64, strlen(b64), BASE64_LENIENT, outlen);
    if (!*out) {
        snprintf(err, errlen, "kubeconfig: %s is not valid base64", what);
        return -1;
    }
    return 0;
}

static int is_true(const char *s)
{
    return s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
                 strcmp(s, "TRUE") == 0 || strcmp(s, "yes") == 0);
}

int kube_config_parse(const char *text, size_t len, const char *base_dir,
                      struct kube_config *out, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root, *ctx, *cluster, *user;
    const char *cur, *cname, *uname, *server, *s;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "kubeconfig: out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "kubeconfig: YAML error at line %zu: %s",
                 parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "kubeconfig: not a YAML mapping");
        goto done;
    }
    cur = scalar(map_get(&doc, root, "current-context"));
    if (!cur || !*cur) {
        snprintf(err, errlen, "kubeconfig: no current-context");
        goto done;
    }
    ctx = named_entry(&doc, root, "contexts", "context", cur);
    if (!ctx) {
        snprintf(err, errlen, "kubeconfig: context \"%s\" not found", cur);
        goto done;
    }
    cname = scalar(map_get(&doc, ctx, "cluster"));
    uname = scalar(map_get(&doc, ctx, "user"));
    s = scalar(map_get(&doc, ctx, "namespace"));
    if (s && *s)
        out->namespace = strdup(s);
    cluster = cname ? named_entry(&doc, root, "clusters", "cluster", cname)
                    : NULL;
    if (!cluster) {
        snprintf(err, errlen, "kubeconfig: cluster \"%s\" not found",
                 cname ? cname : "");
        goto done;
    }
    server = scalar(map_get(&doc, cluster, "server"));
    if (!server || (strncmp(server, "https://", 8) != 0 &&
                    strncmp(server, "http://", 7) != 0)) {
        snprintf(err, errlen,
                 "kubeconfig: cluster \"%s\" has no http(s) server URL", cname);
        goto done;
    }
    out->server = strdup(server);
    while (out->server[0] && out->server[strlen(out->server) - 1] == '/')
        out->server[strlen(out->server) - 1] = '\0';
    out->ca_file = resolve_path(base_dir,
        scalar(map_get(&doc, cluster, "certificate-authority")));
    if (decode_field(scalar(map_get(&doc, cluster,
                                    "certificate-authority-data")),
                     &out->ca_data, &out->ca_data_len,
                     "certificate-authority-data", err, errlen) < 0)
        goto done;
    out->insecure = is_true(scalar(map_get(&doc, cluster,
                                           "insecure-skip-tls-verify")));

    /* A context without a user (or an unknown one) means anonymous. */
    user = uname ? named_entry(&doc, root, "users", "user", uname) : NULL;
    if (user) {
        s = scalar(map_get(&doc, user, "token"));
        if (s && *s)
            out->token = strdup(s);
        out->token_file = resolve_path(base_dir,
            scalar(map_get(&doc, user, "tokenFile")));
        out->cert_file = resolve_path(base_dir,
            scalar(map_get(&doc, user, "client-certificate")));
        out->key_file = resolve_path(base_dir,
            scalar(map_get(&doc, user, "client-key")));
        if (decode_field(scalar(map_get(&doc, user,
                                        "client-certificate-data")),
                         &out->cert_data, &out->cert_data_len,
                         "client-certificate-data", err, errlen) < 0 ||
            decode_field(scalar(map_get(&doc, user, "client-key-data")),
                         &out->key_data, &out->key_data_len,
                         "client-key-data", err, errlen) < 0)
            goto done;
        if (map_get(&doc, user, "exec") || map_get(&doc, user,
                                                     "auth-provider")) {
            snprintf(err, errlen, "kubeconfig: user \"%s\": exec and "
                     "auth-provider credentials are not supported", uname);
            goto done;
        }
    }
    rc = 0;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc < 0)
        kube_config_free(out);
    return rc;
}

int kube_config_load_file(const char *path, struct kube_config *out,
                          char *err, size_t errlen)
{
    size_t len;
    char *text = file_read(path, KUBECONFIG_MAX_BYTES, &len);
    char *dir, *slash;
    int rc;

    if (!text) {
        snprintf(err, errlen, "kubeconfig %s: %s", path, strerror(errno));
        return -1;
    }
    dir = strdup(path);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    rc = kube_config_parse(text, len, slash ? dir : ".", out, err, errlen);
    free(dir);
    free(text);
    return rc;
}

int kube_config_in_cluster(const char *sa_dir, struct kube_config *out,
                           char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char *path;
    size_t len;

    memset(out, 0, sizeof(*out));
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen, "not in a cluster (KUBERNETES_SERVICE_HOST/PORT"
                 " unset) and no --kubeconfig given");
        return -1;
    }
    /* An IPv6 service host needs brackets in the URL. */
    if (asprintf(&out->server, strchr(host, ':') ? "https://[%s]:%s"
                                                 : "https://%s:%s",
                 host, port) < 0 ||
        asprintf(&out->token_file, "%s/token", sa_dir) < 0 ||
        asprintf(&out->ca_file, "%s/ca.crt", sa_dir) < 0) {
        snprintf(err, errlen, "out of memory");
        kube_config_free(out);
        return -1;
    }
    if (asprintf(&path, "%s/namespace", sa_dir) >= 0) {
        char *ns = file_read(path, SA_FILE_MAX_BYTES, &len);
        free(path);
        if (ns) {
            ns[strcspn(ns, " \r\n\t")] = '\0';
            if (*ns)
                out->namespace = ns;
            else
                free(ns);
        }
    }
    return 0;
}

void kube_config_free(struct kube_config *c)
{
    free(c->server);
    free(c->ca_file);
    free(c->ca_data);
    free(c->token);
    free(c->token_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    free(c->key_data);
    free(c->namespace);
    memset(c, 0, sizeof(*c));
}
