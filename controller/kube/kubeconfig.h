/*
 * kubeconfig.h - where and how to reach the API server: parsed from a
 * kubeconfig file (current-context -> cluster + user) or from the pod's
 * in-cluster service account. Pure parsing, no network; unit-tested.
 */
#ifndef PORTICO_KUBE_KUBECONFIG_H
#define PORTICO_KUBE_KUBECONFIG_H

#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
    char *server;          /* https://host:port, no trailing slash */
    char *ca_file;         /* certificate-authority (absolute path) */
    char *ca_data;         /* certificate-authority-data, decoded PEM */
    size_t ca_data_len;
    int insecure;          /* insecure-skip-tls-verify */
    char *token;           /* static bearer token */
    char *token_file;      /* re-read periodically */
    char *cert_file, *key_file;        /* client-certificate / client-key */
    char *cert_data, *key_data;        /* ...-data, decoded PEM */
    size_t cert_data_len, key_data_len;
    char *namespace;       /* context namespace / SA namespace, or NULL */
};

/* Parses kubeconfig text; base_dir resolves relative file paths. */
int kube_config_parse(const char *text, size_t len, const char *base_dir,
                      struct kube_config *out, char *err, size_t errlen);
int kube_config_load_file(const char *path, struct kube_config *out,
                          char *err, size_t errlen);
/* In-cluster: env KUBERNETES_SERVICE_HOST/PORT and files under sa_dir
 * (KUBE_SA_DIR in production; tests pass their own). */
int kube_config_in_cluster(const char *sa_dir, struct kube_config *out,
                           char *err, size_t errlen);
void kube_config_free(struct kube_config *c);


#endif
