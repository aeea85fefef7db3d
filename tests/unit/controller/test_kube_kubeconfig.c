/* Unit tests for controller/kube/kubeconfig: kubeconfig and in-cluster
 * configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/kube/kubeconfig.h"

static const char two_contexts[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "clusters:\n"
    "- name: dev\n"
    "  cluster: {server: 'http://127.0.0.1:1'}\n"
    "- name: prodcluster\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev, user: dev}\n"
    "- name: prod\n"
    "  context:\n"
    "    cluster: prodcluster\n"
    "    user: admin\n"
    "    namespace: ingress\n"
    "users:\n"
    "- name: dev\n"
    "  user: {token: devtoken}\n"
    "- name: admin\n"
    "  user:\n"
    "    tokenFile: secrets/token\n"
    "    client-certificate: /etc/c.crt\n"
    "    client-key-data: a2V5\n";

static void kubeconfig_follows_current_context_to_cluster_and_user(void **st)
{
    struct kube_config c;
    char err[256];

    assert_int_equal(kube_config_parse(two_contexts, strlen(two_contexts),
                                       "/home/u/.kube", &c, err,
                                       sizeof(err)), 0);
    assert_string_equal(c.server, "https://10.0.0.1:6443");
    assert_string_equal(c.ca_data, "-----BEGIN CERTIFICATE-----\n");
    assert_int_equal(c.ca_data_len, 28);
    assert_true(c.insecure);
    assert_null(c.token);
    assert_string_equal(c.token_file, "/home/u/.kube/secrets/token");
    assert_string_equal(c.cert_file, "/etc/c.crt");
    assert_string_equal(c.key_data, "key");
    assert_string_equal(c.namespace, "ingress");
    kube_config_free(&c);
}

static void kubeconfig_in_json_form_with_static_token(void **st)
{
    static const char json[] =
        "{\"apiVersion\": \"v1\", \"kind\": \"Config\",\n"
        " \"clusters\": [{\"name\": \"fake\", \"cluster\": {\"server\": "
        "\"http://127.0.0.1:8080\", \"certificate-authority\": \"ca.crt\"}}],\n"
        " \"users\": [{\"name\": \"p\", \"user\": {\"token\": \"t0k\"}}],\n"
        " \"contexts\": [{\"name\": \"f\", \"context\": {\"cluster\": "
        "\"fake\", \"user\": \"p\"}}],\n"
        " \"current-context\": \"f\"}\n";
    struct kube_config c;
    char err[256];

    assert_int_equal(kube_config_parse(json, strlen(json), "/d", &c, err,
                                       sizeof(err)), 0);
    assert_string_equal(c.server, "http://127.0.0.1:8080");
    assert_string_equal(c.token, "t0k");
    assert_string_equal(c.ca_file, "/d/ca.crt");
    assert_false(c.insecure);
    assert_null(c.namespace);
    kube_config_free(&c);
}

static void expect_error(const char *text, const char *needle)
{
    struct kube_config c;
    char err[256] = "";
    assert_int_equal(kube_config_parse(text, strlen(text), ".", &c, err,
                                       sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void kubeconfig_errors_are_clear(void **st)
{
    expect_error("clusters: []\n", "no current-context");
    expect_error("current-context: x\ncontexts: []\n", "context \"x\" not "
                 "found");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: "
                 "{cluster: c}\n", "cluster \"c\" not found");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: "
                 "{cluster: c}\nclusters:\n- name: c\n  cluster: {server: "
                 "ftp://h}\n", "no http(s) server");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: "
                 "{cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
                 "{server: 'https://h', certificate-authority-data: '!!'}\n",
                 "not valid base64");
    expect_error("current-context: x\ncontexts:\n- name: x\n  context: "
                 "{cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
                 "{server: 'https://h'}\nusers:\n- name: u\n  user:\n    "
                 "exec: {command: aws}\n", "not supported");
    expect_error("a: [\n", "YAML error");
    expect_error("- just\n- a list\n", "not a YAML mapping");
}

static void in_cluster_reads_service_account_and_env(void **st)
{
    char dir[] = "/tmp/kube-sa-XXXXXX", path[512];
    struct kube_config c;
    char err[256];
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/namespace", dir);
    f = fopen(path, "w");
    fputs("portico-system\n", f);
    fclose(f);

    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_in_cluster(dir, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, err, sizeof(err)), 0);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    snprintf(path, sizeof(path), "%s/token", dir);
    assert_string_equal(c.token_file, path);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_string_equal(c.ca_file, path);
    assert_string_equal(c.namespace, "portico-system");
    kube_config_free(&c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, err, sizeof(err)), 0);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    kube_config_free(&c);

    snprintf(path, sizeof(path), "%s/namespace", dir);
    unlink(path);
    rmdir(dir);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kubeconfig_follows_current_context_to_cluster_and_user),
        cmocka_unit_test(kubeconfig_in_json_form_with_static_token),
        cmocka_unit_test(kubeconfig_errors_are_clear),
        cmocka_unit_test(in_cluster_reads_service_account_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
