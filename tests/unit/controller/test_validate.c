/* Unit tests for controller/validate: every grammar accepts what the
 * Kubernetes API allows and refuses each known injection shape (the CVE
 * classes of ingress-nginx: path, annotation and host injection, \r\n,
 * quotes, braces, ';', '$', '#', NUL, very long values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/validate.h"

typedef int (*check_fn)(const char *, size_t, char *, size_t);

static int ok(check_fn f, const char *s)
{
    char err[512];
    return f(s, strlen(s), err, sizeof(err)) == 0;
}

static int ok_len(check_fn f, const char *s, size_t len)
{
    char err[512];
    return f(s, len, err, sizeof(err)) == 0;
}

/* Injection payloads every grammar must refuse when embedded anywhere. */
static const char *const attacks[] = {
    "\r\nproxy_pass http://evil;",
    "\n}\nserver { listen 1; }",
    "\"; return 200 \"pwned",
    "'; }",
    "{", "}", ";", "$host", "${x}", "#comment", "\\", "`id`",
    " ", "\t", "\r", "\x7f", "\xc3\xa9",
};

static void refuses_embedded(check_fn f, const char *prefix)
{
    char s[256];
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        snprintf(s, sizeof(s), "%s%s", prefix, attacks[i]);
        if (ok(f, s))
            fail_msg("accepted \"%s\"", s);
        snprintf(s, sizeof(s), "%s%sx", prefix, attacks[i]);
        if (ok(f, s))
            fail_msg("accepted \"%s\"", s);
    }
}

static void hosts_accept_rfc1123_names_and_one_label_wildcards(void **state)
{
    assert_true(ok(validate_host, "example.com"));
    assert_true(ok(validate_host, "a-b.c0.example.com"));
    assert_true(ok(validate_host, "*.example.com"));
    assert_true(ok(validate_host, "localhost"));
}

static void hosts_refuse_wildcards_elsewhere_ips_ports_and_case(void **state)
{
    assert_false(ok(validate_host, "*"));
    assert_false(ok(validate_host, "*.com"));
    assert_false(ok(validate_host, "a.*.example.com"));
    assert_false(ok(validate_host, "f*.example.com"));
    assert_false(ok(validate_host, "**.example.com"));
    assert_false(ok(validate_host, "10.0.0.1"));
    assert_false(ok(validate_host, "example.com:80"));
    assert_false(ok(validate_host, "Example.com"));
    assert_false(ok(validate_host, "example.com."));
    assert_false(ok(validate_host, "-a.example.com"));
    assert_false(ok(validate_host, "a..example.com"));
    assert_false(ok(validate_host, ""));
    assert_false(ok(validate_host, "~^.*$"));
    refuses_embedded(validate_host, "example.com");
}

static void hosts_refuse_nul_and_overlong_values(void **state)
{
    char big[400];
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    assert_false(ok_len(validate_host, "a.com\0.evil", 11));
    assert_false(ok(validate_host, big));
    /* 64-byte label */
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    assert_false(ok(validate_host, label));
}

static void paths_accept_ordinary_paths(void **state)
{
    assert_true(ok(validate_path, "/"));
    assert_true(ok(validate_path, "/foo"));
    assert_true(ok(validate_path, "/foo/"));
    assert_true(ok(validate_path, "/a-b_c.d~e/f:g@h=i&j+k,l!m*n'o(p)"));
    assert_true(ok(validate_path, "/.well-known/acme-challenge"));
}

static void paths_refuse_injection_and_unmatchable_shapes(void **state)
{
    assert_false(ok(validate_path, ""));
    assert_false(ok(validate_path, "foo"));
    assert_false(ok(validate_path, "//foo"));
    assert_false(ok(validate_path, "/a/../b"));
    assert_false(ok(validate_path, "/a/./b"));
    assert_false(ok(validate_path, "/a/.."));
    assert_false(ok(validate_path, "/%2e%2e"));
    assert_false(ok(validate_path, "/foo?x=1"));
    assert_false(ok(validate_path, "/~* ^/x"));
    assert_false(ok_len(validate_path, "/a\0b", 4));
    refuses_embedded(validate_path, "/ok");
    /* CVE-2026-24512 style: a path that closes the location block */
    assert_false(ok(validate_path, "/x\" { return 200 \"owned\"; } location \"/y"));
    /* CVE-2022-4886 style */
    assert_false(ok(validate_path, "/x;alias /etc/;"));
}

static void paths_longer_than_the_limit_are_refused(void **state)
{
    char *p = malloc(VALIDATE_PATH_MAX + 2);
    p[0] = '/';
    memset(p + 1, 'a', VALIDATE_PATH_MAX);
    p[VALIDATE_PATH_MAX + 1] = '\0';
    assert_false(ok(validate_path, p));
    p[VALIDATE_PATH_MAX] = '\0';
    assert_true(ok(validate_path, p));
    free(p);
}

static void names_follow_dns1123(void **state)
{
    assert_true(ok(validate_dns_label, "web-1"));
    assert_false(ok(validate_dns_label, "Web"));
    assert_false(ok(validate_dns_label, "web.default"));
    assert_false(ok(validate_dns_label, "-web"));
    assert_false(ok(validate_dns_label, "web-"));
    assert_true(ok(validate_dns_subdomain, "my-secret.v2"));
    assert_false(ok(validate_dns_subdomain, "my_secret"));
    assert_false(ok(validate_dns_subdomain, "../../etc/passwd"));
    refuses_embedded(validate_dns_label, "web");
    refuses_embedded(validate_dns_subdomain, "web");
}

static void port_names_follow_iana_svc_name(void **state)
{
    assert_true(ok(validate_port_name, "http"));
    assert_true(ok(validate_port_name, "http-alt2"));
    assert_false(ok(validate_port_name, "8080"));
    assert_false(ok(validate_port_name, "http--x"));
    assert_false(ok(validate_port_name, "a-very-long-port-name"));
    refuses_embedded(validate_port_name, "http");
}

static void annotation_values_have_strict_grammars(void **state)
{
    assert_true(ok(validate_size, "10m"));
    assert_true(ok(validate_size, "1024"));
    assert_false(ok(validate_size, "10mb"));
    assert_false(ok(validate_size, "-1"));
    assert_false(ok(validate_size, "1m; include /etc/passwd"));
    assert_false(ok(validate_size, "1234567890123"));
    assert_true(ok(validate_timeout, "30s"));
    assert_true(ok(validate_timeout, "60"));
    assert_false(ok(validate_timeout, "30 s"));
    assert_false(ok(validate_timeout, "1d"));
    refuses_embedded(validate_size, "1m");
    refuses_embedded(validate_timeout, "30");
}

static void external_names_allow_a_trailing_dot_but_no_wildcard(void **state)
{
    assert_true(ok(validate_external_name, "db.example.com"));
    assert_true(ok(validate_external_name, "db.example.com."));
    assert_false(ok(validate_external_name, "*.example.com"));
    refuses_embedded(validate_external_name, "db.example.com");
}

static void reasons_never_echo_control_characters(void **state)
{
    char err[512];
    assert_int_equal(validate_path("/a\r\nb", 5, err, sizeof(err)), -1);
    assert_null(strchr(err, '\r'));
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "\\x0d\\x0a"));
}

static void quoting_escapes_quotes_and_backslashes_and_drops_variables(void **state)
{
    struct buf b;
    buf_init(&b);
    cfg_quote(&b, "a\"b\\c$d\ne");
    assert_string_equal(b.data, "\"a\\\"b\\\\c_d_e\"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hosts_accept_rfc1123_names_and_one_label_wildcards),
        cmocka_unit_test(hosts_refuse_wildcards_elsewhere_ips_ports_and_case),
        cmocka_unit_test(hosts_refuse_nul_and_overlong_values),
        cmocka_unit_test(paths_accept_ordinary_paths),
        cmocka_unit_test(paths_refuse_injection_and_unmatchable_shapes),
        cmocka_unit_test(paths_longer_than_the_limit_are_refused),
        cmocka_unit_test(names_follow_dns1123),
        cmocka_unit_test(port_names_follow_iana_svc_name),
        cmocka_unit_test(annotation_values_have_strict_grammars),
        cmocka_unit_test(external_names_allow_a_trailing_dot_but_no_wildcard),
        cmocka_unit_test(reasons_never_echo_control_characters),
        cmocka_unit_test(quoting_escapes_quotes_and_backslashes_and_drops_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
