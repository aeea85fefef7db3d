/*
 * test_parse.c - the Vault client's pure parts: status classification,
 * error messages from answers, KV v1/v2 answers (incl. deleted and
 * destroyed versions), mount answers, PKI answers, backoff, request paths,
 * and configuration from env and flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vault/vault.h"

#define S(x) x, strlen(x)

static void test_statuses_map_to_error_classes(void **state)
{
    (void)state;
    assert_int_equal(vault_classify_status(200), VAULT_OK);
    assert_int_equal(vault_classify_status(204), VAULT_OK);
    assert_int_equal(vault_classify_status(403), VAULT_ERR_PERMISSION);
    assert_int_equal(vault_classify_status(404), VAULT_ERR_NOT_FOUND);
    assert_int_equal(vault_classify_status(429), VAULT_ERR_RATE_LIMITED);
    assert_int_equal(vault_classify_status(503), VAULT_ERR_SEALED);
    assert_int_equal(vault_classify_status(501), VAULT_ERR_SEALED);
    assert_int_equal(vault_classify_status(500), VAULT_ERR_SERVER);
    assert_int_equal(vault_classify_status(502), VAULT_ERR_SERVER);
    assert_int_equal(vault_classify_status(473), VAULT_ERR_SERVER);
    assert_int_equal(vault_classify_status(400), VAULT_ERR_BAD_REQUEST);
    assert_int_equal(vault_classify_status(405), VAULT_ERR_BAD_REQUEST);
    assert_int_equal(vault_classify_status(412), VAULT_ERR_BAD_REQUEST);
    assert_int_equal(vault_classify_status(307), VAULT_ERR_MALFORMED);
}

static void test_only_server_side_trouble_is_transient(void **state)
{
    (void)state;
    assert_true(vault_err_transient(VAULT_ERR_SEALED));
    assert_true(vault_err_transient(VAULT_ERR_RATE_LIMITED));
    assert_true(vault_err_transient(VAULT_ERR_SERVER));
    assert_true(vault_err_transient(VAULT_ERR_NETWORK));
    assert_true(vault_err_transient(VAULT_ERR_TIMEOUT));
    assert_false(vault_err_transient(VAULT_ERR_PERMISSION));
    assert_false(vault_err_transient(VAULT_ERR_NOT_FOUND));
    assert_false(vault_err_transient(VAULT_ERR_BAD_REQUEST));
    assert_false(vault_err_transient(VAULT_ERR_TLS));
    assert_false(vault_err_transient(VAULT_ERR_MALFORMED));
}

static void test_error_message_carries_vault_errors_on_one_line(void **state)
{
    struct vault_error e;
    const char *body = "{\"errors\":[\"1 error occurred:\\n\\t* permission "
                       "denied\\n\\n\"]}";

    (void)state;
    vault_error_from_response(403, S(body), "secret/ssl/x", &e);
    assert_int_equal(e.code, VAULT_ERR_PERMISSION);
    assert_int_equal(e.http_status, 403);
    assert_non_null(strstr(e.msg, "secret/ssl/x"));
    assert_non_null(strstr(e.msg, "permission denied"));
    assert_null(strchr(e.msg, '\n'));
    vault_error_from_response(503, S("<html>down</html>"), "x", &e);
    assert_int_equal(e.code, VAULT_ERR_SEALED);
    vault_error_from_response(200, S("{}"), "x", &e);
    assert_int_equal(e.code, VAULT_ERR_MALFORMED);
}

static void test_kv_v1_answer_gives_fields(void **state)
{
    struct vault_kv kv;
    struct vault_error e;
    const char *body = "{\"auth\":null,\"data\":{\"crt\":\"C\",\"key\":\"K\","
                       "\"n\":3,\"o\":{\"a\":true}},\"lease_duration\":2764800,"
                       "\"lease_id\":\"\",\"renewable\":false}";

    (void)state;
    assert_int_equal(vault_parse_kv(S(body), 1, 200, &kv, &e), 0);
    assert_int_equal(kv.kv_version, 1);
    assert_int_equal(kv.version, 0);
    assert_int_equal(kv.nfields, 4);
    assert_string_equal(vault_kv_get(&kv, "crt"), "C");
    assert_string_equal(vault_kv_get(&kv, "key"), "K");
    assert_string_equal(vault_kv_get(&kv, "n"), "3");
    assert_string_equal(vault_kv_get(&kv, "o"), "{\"a\":true}");
    assert_null(vault_kv_get(&kv, "missing"));
    vault_kv_free(&kv);
}

static void test_kv_v2_answer_gives_fields_and_version(void **state)
{
    struct vault_kv kv;
    struct vault_error e;
    const char *body = "{\"data\":{\"data\":{\"tls.crt\":\"C\",\"tls.key\":\"K\"},"
                       "\"metadata\":{\"created_time\":\"2018-03-22T02:24:06Z\","
                       "\"custom_metadata\":null,\"deletion_time\":\"\","
                       "\"destroyed\":false,\"version\":7}}}";

    (void)state;
    assert_int_equal(vault_parse_kv(S(body), 2, 200, &kv, &e), 0);
    assert_int_equal(kv.version, 7);
    assert_string_equal(vault_kv_get(&kv, "tls.crt"), "C");
    vault_kv_free(&kv);
}

static void test_kv_v2_deleted_or_destroyed_version_is_not_found(void **state)
{
    struct vault_kv kv;
    struct vault_error e;
    const char *deleted = "{\"data\":{\"data\":null,\"metadata\":{"
                          "\"deletion_time\":\"2026-01-01T00:00:00Z\","
                          "\"destroyed\":false,\"version\":3}}}";
    const char *destroyed = "{\"data\":{\"data\":null,\"metadata\":{"
                            "\"deletion_time\":\"\",\"destroyed\":true,"
                            "\"version\":4}}}";

    (void)state;
    assert_int_equal(vault_parse_kv(S(deleted), 2, 404, &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "version 3 was deleted"));
    assert_int_equal(vault_parse_kv(S(destroyed), 2, 404, &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "destroyed"));
    assert_int_equal(vault_parse_kv(S("{\"errors\":[]}"), 2, 404, &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_NOT_FOUND);
}

static void test_bad_json_and_wrong_shapes_are_malformed(void **state)
{
    struct vault_kv kv;
    struct vault_error e;
    static const char *const bad[] = {
        "{not json", "[]", "\"x\"", "{\"data\":\"x\"}", "{}",
        "{\"data\":{}} trailing", "",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vault_parse_kv(bad[i], strlen(bad[i]), 1, 200, &kv,
                                        &e), -1);
        assert_int_equal(e.code, VAULT_ERR_MALFORMED);
    }
    assert_int_equal(vault_parse_kv(S("{\"data\":{\"data\":\"x\"}}"), 2, 200,
                                    &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_MALFORMED);
}

static void test_mount_answer_gives_path_and_version(void **state)
{
    char mount[64];
    int v = 0;
    struct vault_error e;

    (void)state;
    assert_int_equal(vault_parse_mount(S("{\"data\":{\"path\":\"secret/\","
        "\"type\":\"kv\",\"options\":{\"version\":\"2\"}}}"), mount,
        sizeof(mount), &v, &e), 0);
    assert_string_equal(mount, "secret/");
    assert_int_equal(v, 2);
    assert_int_equal(vault_parse_mount(S("{\"data\":{\"path\":\"kv1/\","
        "\"type\":\"kv\",\"options\":null}}"), mount, sizeof(mount), &v, &e), 0);
    assert_string_equal(mount, "kv1/");
    assert_int_equal(v, 1);
    assert_int_equal(vault_parse_mount(S("{\"data\":{}}"), mount,
                                       sizeof(mount), &v, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_MALFORMED);
}

static void test_kv_v2_request_path_inserts_data(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(vault_kv_request_path("secret/", "secret/ssl/a.b", 2, out,
                                           sizeof(out)), 0);
    assert_string_equal(out, "secret/data/ssl/a.b");
    assert_int_equal(vault_kv_request_path("team/kv/", "team/kv/ssl/a", 2, out,
                                           sizeof(out)), 0);
    assert_string_equal(out, "team/kv/data/ssl/a");
    assert_int_equal(vault_kv_request_path("secret/", "secret/ssl/a.b", 1, out,
                                           sizeof(out)), 0);
    assert_string_equal(out, "secret/ssl/a.b");
    assert_int_equal(vault_kv_request_path("secret/", "secret/x", 2, out, 8), -1);
}

static void test_pki_answer_builds_a_chain_leaf_first(void **state)
{
    struct vault_pki_cert c;
    struct vault_error e;
    const char *body = "{\"data\":{\"certificate\":\"LEAF\",\"issuing_ca\":\"CA\","
                       "\"ca_chain\":[\"INTER\",\"ROOT\"],\"private_key\":\"K\","
                       "\"private_key_type\":\"ec\",\"serial_number\":\"39:dd\","
                       "\"expiration\":1700000000}}";

    (void)state;
    assert_int_equal(vault_parse_pki(S(body), &c, &e), 0);
    assert_string_equal(c.chain, "LEAF\nINTER\nROOT\n");
    assert_string_equal(c.private_key, "K");
    assert_string_equal(c.serial, "39:dd");
    assert_int_equal(c.expiration, 1700000000);
    vault_pki_cert_free(&c);
    assert_int_equal(vault_parse_pki(S("{\"data\":{\"certificate\":\"L\","
        "\"issuing_ca\":\"CA\",\"private_key\":\"K\"}}"), &c, &e), 0);
    assert_string_equal(c.chain, "L\nCA\n");
    vault_pki_cert_free(&c);
    assert_int_equal(vault_parse_pki(S("{\"data\":{\"certificate\":\"L\"}}"),
                                     &c, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_MALFORMED);
}

static void test_backoff_grows_is_capped_and_jittered(void **state)
{
    (void)state;
    /* attempt 0: step 100 -> [50, 100] */
    assert_int_equal(vault_backoff_ms(0, 100, 1000, 0), 50);
    assert_int_equal(vault_backoff_ms(0, 100, 1000, 50), 100);
    /* attempt 2: step 400 -> [200, 400] */
    assert_int_equal(vault_backoff_ms(2, 100, 1000, 0), 200);
    assert_int_equal(vault_backoff_ms(2, 100, 1000, 200), 400);
    /* capped at max */
    assert_int_equal(vault_backoff_ms(30, 100, 1000, 500), 1000);
    assert_int_equal(vault_backoff_ms(30, 100, 1000, 0), 500);
    for (uint32_t r = 0; r < 5000; r += 7) {
        long d = vault_backoff_ms(3, 100, 1000, r);
        assert_true(d >= 400 && d <= 800);
    }
}

/* Parses argv with the vault flags only. */
static int parse_vault_flags(struct vault_config *c, int argc, char **argv,
                             char *err, size_t errlen)
{
    struct flag_table t = vault_config_flags(c);
    int first;

    return flags_parse(&t, 1, argc, argv, &first, err, errlen);
}

static void test_config_comes_from_env_then_flags(void **state)
{
    struct vault_config c;
    char err[200];
    char *argv[] = {"prog", "--vault-addr", "http://127.0.0.1:1",
                    "--vault-timeout=2s", "--vault-skip-verify",
                    "--vault-kv-version", "2", NULL};
    char *other[] = {"prog", "--other", NULL};

    (void)state;
    setenv("VAULT_ADDR", "https://vault.example:8200", 1);
    setenv("VAULT_TOKEN", "s.secret", 1);
    setenv("VAULT_SKIP_VERIFY", "false", 1);
    setenv("VAULT_NAMESPACE", "ns1/", 1);
    vault_config_init(&c);
    assert_int_equal(c.addr_given, 0);
    assert_int_equal(vault_config_from_env(&c, err, sizeof(err)), 0);
    assert_string_equal(c.addr, "https://vault.example:8200");
    assert_int_equal(c.addr_given, 1);
    assert_string_equal(c.token, "s.secret");
    assert_string_equal(c.namespace_, "ns1/");
    assert_int_equal(c.skip_verify, 0);
    assert_int_equal(parse_vault_flags(&c, 7, argv, err, sizeof(err)), 0);
    assert_string_equal(c.addr, "http://127.0.0.1:1");
    assert_int_equal(c.timeout_ms, 2000);
    assert_int_equal(c.skip_verify, 1);
    assert_int_equal(c.kv_version, 2);
    assert_int_equal(parse_vault_flags(&c, 2, other, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--other"));
    assert_int_equal(vault_config_check(&c, err, sizeof(err)), 0);
    vault_config_free(&c);
    unsetenv("VAULT_TOKEN");
    unsetenv("VAULT_NAMESPACE");
    unsetenv("VAULT_ADDR");
    unsetenv("VAULT_SKIP_VERIFY");
}

static void test_vault_addr_flag_alone_marks_the_address_given(void **state)
{
    struct vault_config c;
    char err[200];
    char *argv[] = {"prog", "--vault-addr=http://127.0.0.1:1", NULL};
    char *skip[] = {"prog", "--vault-skip-verify=off", NULL};

    (void)state;
    unsetenv("VAULT_ADDR");
    vault_config_init(&c);
    assert_int_equal(vault_config_from_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.addr_given, 0);
    assert_int_equal(parse_vault_flags(&c, 2, argv, err, sizeof(err)), 0);
    assert_int_equal(c.addr_given, 1);
    c.skip_verify = 1;
    assert_int_equal(parse_vault_flags(&c, 2, skip, err, sizeof(err)), 0);
    assert_int_equal(c.skip_verify, 0);
    vault_config_free(&c);
}

static void test_bad_config_values_are_refused_with_a_message(void **state)
{
    struct vault_config c;
    char err[200];
    char *argv1[] = {"prog", "--vault-retries=99", NULL};
    char *argv2[] = {"prog", "--vault-auth", "ldap", NULL};
    char *argv3[] = {"prog", "--vault-addr", NULL};
    char *argv4[] = {"prog", "--vault-namespace=", NULL};

    (void)state;
    vault_config_init(&c);
    setenv("VAULT_SKIP_VERIFY", "maybe", 1);
    assert_int_equal(vault_config_from_env(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "VAULT_SKIP_VERIFY"));
    unsetenv("VAULT_SKIP_VERIFY");
    assert_int_equal(parse_vault_flags(&c, 2, argv1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--vault-retries"));
    assert_int_equal(parse_vault_flags(&c, 3, argv2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--vault-auth: invalid value \"ldap\""));
    assert_int_equal(parse_vault_flags(&c, 2, argv3, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--vault-addr needs a value"));
    assert_int_equal(parse_vault_flags(&c, 2, argv4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty value"));
    free(c.addr);
    c.addr = strdup("ftp://x");
    assert_int_equal(vault_config_check(&c, err, sizeof(err)), -1);
    free(c.addr);
    c.addr = strdup("http://x");
    c.auth = VAULT_AUTH_KUBERNETES;
    assert_int_equal(vault_config_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "role"));
    vault_config_free(&c);
}

static void test_client_without_token_fails_with_auth_error_and_no_io(void **state)
{
    struct vault_config c;
    struct vault_error e;
    struct vault_client *vc;
    struct vault_kv kv;

    (void)state;
    vault_config_init(&c);
    free(c.addr);
    c.addr = strdup("http://127.0.0.1:9");  /* discard port: never asked */
    vc = vault_client_new(&c, &e);
    assert_non_null(vc);
    assert_int_equal(vault_kv_read(vc, "secret/x", &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_AUTH);
    assert_int_equal(vault_kv_read(vc, "secret/../x", &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_CONFIG);
    assert_int_equal(vault_kv_read(vc, "/secret/x", &kv, &e), -1);
    assert_int_equal(e.code, VAULT_ERR_CONFIG);
    vault_client_free(vc);
    vault_config_free(&c);
}

static void test_error_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(vault_err_name(VAULT_ERR_NOT_FOUND), "not_found");
    assert_string_equal(vault_err_name(VAULT_ERR_PERMISSION),
                        "permission_denied");
    assert_string_equal(vault_err_name(VAULT_ERR_SEALED), "sealed");
    assert_string_equal(vault_err_name(VAULT_ERR_RATE_LIMITED), "rate_limited");
    assert_string_equal(vault_err_name(VAULT_ERR_MALFORMED), "malformed_answer");
    assert_string_equal(vault_err_name((enum vault_err)999), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statuses_map_to_error_classes),
        cmocka_unit_test(test_only_server_side_trouble_is_transient),
        cmocka_unit_test(test_error_message_carries_vault_errors_on_one_line),
        cmocka_unit_test(test_kv_v1_answer_gives_fields),
        cmocka_unit_test(test_kv_v2_answer_gives_fields_and_version),
        cmocka_unit_test(test_kv_v2_deleted_or_destroyed_version_is_not_found),
        cmocka_unit_test(test_bad_json_and_wrong_shapes_are_malformed),
        cmocka_unit_test(test_mount_answer_gives_path_and_version),
        cmocka_unit_test(test_kv_v2_request_path_inserts_data),
        cmocka_unit_test(test_pki_answer_builds_a_chain_leaf_first),
        cmocka_unit_test(test_backoff_grows_is_capped_and_jittered),
        cmocka_unit_test(test_config_comes_from_env_then_flags),
        cmocka_unit_test(test_vault_addr_flag_alone_marks_the_address_given),
        cmocka_unit_test(test_bad_config_values_are_refused_with_a_message),
        cmocka_unit_test(test_client_without_token_fails_with_auth_error_and_no_io),
        cmocka_unit_test(test_error_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
