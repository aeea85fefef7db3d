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

/* The same, for grammars where a space is legitimate (lists, realms). */
static void refuses_embedded_but_spaces(check_fn f, const char *prefix)
{
    char s[256];
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        if (strcmp(attacks[i], " ") == 0)
            continue;
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

static const char *canonical(const char *list)
{
    static char out[1024];
    struct buf b;
    char err[512];

    buf_init(&b);
    if (cidr_list_canonical(list, strlen(list), &b, err, sizeof(err)) < 0)
        snprintf(out, sizeof(out), "ERROR %s", err);
    else
        snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
    buf_free(&b);
    return out;
}

static void address_lists_accept_ipv4_and_ipv6_networks_and_addresses(
    void **state)
{
    assert_true(ok(validate_cidr_list, "10.0.0.0/8"));
    assert_true(ok(validate_cidr_list, "10.0.0.0/8,192.168.1.7"));
    assert_true(ok(validate_cidr_list, " 10.0.0.0/8 , 2001:db8::/32 ,::1"));
    assert_true(ok(validate_cidr_list, "0.0.0.0/0"));
    assert_true(ok(validate_cidr_list, "::/0"));
    assert_true(ok(validate_cidr_list, "::ffff:10.0.0.1/128"));
    /* Canonical: host bits cleared, a plain address is one host. */
    assert_string_equal(canonical("10.1.2.3/8, 192.0.2.7"),
                        "10.0.0.0/8 192.0.2.7/32");
    assert_string_equal(canonical("2001:DB8:0:0::1/32,::1"),
                        "2001:db8::/32 ::1/128");
}

static void address_lists_refuse_anything_but_addresses(void **state)
{
    assert_false(ok(validate_cidr_list, ""));
    assert_false(ok(validate_cidr_list, " "));
    assert_false(ok(validate_cidr_list, "10.0.0.0/8,"));
    assert_false(ok(validate_cidr_list, ",10.0.0.0/8"));
    assert_false(ok(validate_cidr_list, "10.0.0.0/33"));
    assert_false(ok(validate_cidr_list, "::/129"));
    assert_false(ok(validate_cidr_list, "10.0.0.0/"));
    assert_false(ok(validate_cidr_list, "10.0.0.0/08"));
    assert_false(ok(validate_cidr_list, "10.0.0.256"));
    assert_false(ok(validate_cidr_list, "10.0.0"));
    assert_false(ok(validate_cidr_list, "10.0.0.0 /8"));
    assert_false(ok(validate_cidr_list, "10.0.0.1 10.0.0.2"));
    assert_false(ok(validate_cidr_list, "all"));
    assert_false(ok(validate_cidr_list, "localhost"));
    assert_false(ok(validate_cidr_list, "fe80::1%eth0"));
    assert_false(ok(validate_cidr_list, "10.0.0.0/8; allow all"));
    assert_false(ok(validate_cidr_list, "10.0.0.0/8\r\nallow all"));
    assert_false(ok_len(validate_cidr_list, "10.0.0.0/8\0,::1", 14));
    refuses_embedded_but_spaces(validate_cidr_list, "10.0.0.0/8");
    refuses_embedded_but_spaces(validate_cidr_list, "::1");
}

static void basic_auth_values_have_strict_grammars(void **state)
{
    char err[512];

    assert_true(ok(validate_realm, "Authentication Required - admin"));
    assert_true(ok(validate_realm, "Team (ops): area/1, v2.0_x"));
    assert_false(ok(validate_realm, ""));
    assert_false(ok(validate_realm, "a\"b"));
    assert_false(ok(validate_realm, "caf\xc3\xa9"));
    refuses_embedded_but_spaces(validate_realm, "Realm");
    assert_true(ok(validate_auth_type, "basic"));
    assert_false(ok(validate_auth_type, "Basic"));
    assert_false(ok(validate_auth_type, "basic "));
    assert_int_equal(validate_auth_type("digest", 6, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "digest authentication is not available"));
    assert_true(ok(validate_secret_ref, "users"));
    assert_true(ok(validate_secret_ref, "team/basic-auth.v1"));
    assert_false(ok(validate_secret_ref, "team/"));
    assert_false(ok(validate_secret_ref, "/users"));
    assert_false(ok(validate_secret_ref, "a/b/c"));
    assert_false(ok(validate_secret_ref, "Team/users"));
    assert_false(ok(validate_secret_ref, "../users"));
    refuses_embedded(validate_secret_ref, "team/users");
    assert_true(ok(validate_auth_secret_type, "auth-file"));
    assert_true(ok(validate_auth_secret_type, "auth-map"));
    assert_false(ok(validate_auth_secret_type, "auth-files"));
    refuses_embedded(validate_auth_secret_type, "auth-map");
}

static void counts_are_small_numbers(void **state)
{
    assert_true(ok(validate_count, "0"));
    assert_true(ok(validate_count, "999999"));
    assert_false(ok(validate_count, "1000000"));
    assert_false(ok(validate_count, "-1"));
    assert_false(ok(validate_count, "1.5"));
    assert_false(ok(validate_count, "5r/s"));
    assert_false(ok(validate_count, ""));
    refuses_embedded(validate_count, "5");
}

/* rewrite-target: "/" and URL characters with $1-$9 only; a regex path:
 * the regex characters too, but nothing that ends a table word or line,
 * quotes or a byte outside printable ASCII. */
static void session_affinity_values_have_strict_grammars(void **state)
{
    assert_true(ok(validate_affinity, "cookie"));
    assert_false(ok(validate_affinity, "Cookie"));
    assert_false(ok(validate_affinity, "ip"));
    assert_false(ok(validate_affinity, ""));
    refuses_embedded(validate_affinity, "cookie");

    assert_true(ok(validate_affinity_mode, "balanced"));
    assert_true(ok(validate_affinity_mode, "persistent"));
    assert_false(ok(validate_affinity_mode, "persistent-drainable"));
    assert_false(ok(validate_affinity_mode, "Balanced"));
    refuses_embedded(validate_affinity_mode, "balanced");

    assert_true(ok(validate_affinity_canary_behavior, "sticky"));
    assert_true(ok(validate_affinity_canary_behavior, "legacy"));
    assert_false(ok(validate_affinity_canary_behavior, "always"));

    assert_true(ok(validate_samesite, "None"));
    assert_true(ok(validate_samesite, "Lax"));
    assert_true(ok(validate_samesite, "Strict"));
    assert_false(ok(validate_samesite, "lax"));
    assert_false(ok(validate_samesite, "Lax; Secure"));

    assert_true(ok(validate_cookie_domain, "example.com"));
    assert_true(ok(validate_cookie_domain, ".example.com"));
    assert_false(ok(validate_cookie_domain, "."));
    assert_false(ok(validate_cookie_domain, "..example.com"));
    assert_false(ok(validate_cookie_domain, "a..b"));
    assert_false(ok(validate_cookie_domain, "example.com;x=1"));
    assert_false(ok(validate_cookie_domain, "exa mple.com"));
    refuses_embedded(validate_cookie_domain, "example.com");

    /* max-age and expires: seconds; path: a path (no ';') */
    assert_true(ok(validate_seconds, "172800"));
    assert_false(ok(validate_seconds, "-1"));
    assert_false(ok(validate_seconds, "1d"));
    assert_false(ok(validate_path, "/a;b"));
}

static void rewrite_targets_and_regex_paths_have_strict_grammars(
    void **state)
{
    static const char *const not_in_a_table[] = {
        " ", "\t", "\r", "\n", "\"", ";", "#", "`", "\x7f", "\xc3\xa9",
        "<", ">",
    };
    char s[64];

    assert_true(ok(validate_rewrite_target, "/$2"));
    assert_true(ok(validate_rewrite_target, "/api/v1/$1/x$2:y"));
    assert_true(ok(validate_rewrite_target, "/"));
    assert_false(ok(validate_rewrite_target, "$1"));
    assert_false(ok(validate_rewrite_target, "/$0"));
    assert_false(ok(validate_rewrite_target, "/$"));
    assert_false(ok(validate_rewrite_target, "/$x"));
    assert_false(ok(validate_rewrite_target, "/$host"));
    assert_false(ok(validate_rewrite_target, "/${1}"));
    assert_false(ok(validate_rewrite_target, "/a?b=1"));
    assert_false(ok(validate_rewrite_target, "http://evil/$1"));
    refuses_embedded(validate_rewrite_target, "/a");

    assert_true(ok(validate_regex_path, "/something(/|$)(.*)"));
    assert_true(ok(validate_regex_path, "/foo/bar/[A-Z0-9]{3}"));
    assert_true(ok(validate_regex_path, "/static/.+\\.(css|js)$"));
    assert_true(ok(validate_regex_path, "/a%20b?"));
    assert_false(ok(validate_regex_path, "something"));
    assert_false(ok(validate_regex_path, ""));
    assert_false(ok_len(validate_regex_path, "/a\0b", 4));
    for (size_t i = 0; i < sizeof(not_in_a_table) / sizeof(not_in_a_table[0]);
         i++) {
        snprintf(s, sizeof(s), "/a%sb", not_in_a_table[i]);
        if (ok(validate_regex_path, s))
            fail_msg("accepted \"%s\"", s);
    }
    memset(s, 'a', sizeof(s));
    s[0] = '/';
    assert_true(ok_len(validate_regex_path, s, sizeof(s)));
    {
        char big[VALIDATE_PATH_MAX + 2];
        memset(big, 'a', sizeof(big));
        big[0] = '/';
        assert_false(ok_len(validate_regex_path, big, sizeof(big)));
    }
}

static void ingress_nginx_option_values_have_strict_grammars(void **state)
{
    assert_true(ok(validate_on_off, "on"));
    assert_false(ok(validate_on_off, "On"));
    assert_true(ok(validate_bool, "true") && ok(validate_bool, "False") &&
                ok(validate_bool, "0"));
    assert_false(ok(validate_bool, "yes"));
    assert_true(ok(validate_buffer_size, "8k") && ok(validate_buffer_size,
                                                     "16M"));
    assert_false(ok(validate_buffer_size, "1g"));
    assert_true(ok(validate_count, "8"));
    assert_false(ok(validate_count, "1234567"));
    assert_true(ok(validate_http_version, "1.0"));
    assert_false(ok(validate_http_version, "2"));
    assert_true(ok(validate_next_upstream, "error timeout http_502"));
    assert_true(ok(validate_next_upstream, "off"));
    assert_false(ok(validate_next_upstream, "error  timeout"));
    assert_false(ok(validate_next_upstream, "error timeout "));
    assert_false(ok(validate_next_upstream, "off error"));
    assert_false(ok(validate_next_upstream, "http_418"));
    assert_true(ok(validate_vhost, "Backend.internal:8080"));
    assert_false(ok(validate_vhost, "backend.internal:0"));
    assert_false(ok(validate_vhost, "backend.internal:65536"));
    assert_false(ok(validate_vhost, "backend.internal:"));
    assert_true(ok(validate_header_value_token, "keep-alive"));
    assert_true(ok(validate_cookie_rewrite, "/ /app"));
    assert_true(ok(validate_cookie_rewrite, "off"));
    assert_false(ok(validate_cookie_rewrite, "/ /app /x"));
    assert_true(ok(validate_redirect_arg, "http://internal:8080/a?b=c"));
    assert_true(ok(validate_backend_protocol, "GRPCS"));
    assert_true(ok(validate_backend_protocol, "https"));
    assert_false(ok(validate_backend_protocol, "FCGI"));
    assert_false(ok(validate_backend_protocol, "AUTO_HTTP"));
    assert_true(ok(validate_ssl_protocols, "TLSv1.2 TLSv1.3"));
    assert_false(ok(validate_ssl_protocols, "SSLv3"));
    assert_true(ok(validate_ssl_ciphers, "ECDHE-RSA-AES128-GCM-SHA256:!aNULL"));
    assert_true(ok(validate_verify_depth, "2"));
    assert_false(ok(validate_verify_depth, "100"));
    assert_true(ok(validate_server_name, "secure.team.svc"));
    assert_false(ok(validate_server_name, "*.team.svc"));
    refuses_embedded(validate_on_off, "on");
    refuses_embedded(validate_bool, "true");
    refuses_embedded(validate_buffer_size, "8k");
    refuses_embedded(validate_count, "8");
    refuses_embedded(validate_http_version, "1.1");
    refuses_embedded(validate_next_upstream, "error");
    refuses_embedded(validate_vhost, "a.b");
    refuses_embedded(validate_header_value_token, "close");
    refuses_embedded(validate_cookie_rewrite, "/ /app");
    refuses_embedded(validate_redirect_arg, "http://a/");
    refuses_embedded(validate_backend_protocol, "HTTPS");
    refuses_embedded(validate_ssl_protocols, "TLSv1.2");
    refuses_embedded(validate_ssl_ciphers, "HIGH");
    refuses_embedded(validate_verify_depth, "1");
    refuses_embedded(validate_server_name, "a.b");
    assert_true(ok(validate_redirect_url, "https://www.example.com/new?a=b"));
    assert_false(ok(validate_redirect_url, "//evil.example/"));
    assert_false(ok(validate_redirect_url, "javascript:alert(1)"));
    assert_false(ok(validate_redirect_url, "https://x/$request_uri"));
    assert_false(ok(validate_redirect_url, "https://x/%0d%0a"));
    assert_false(ok(validate_redirect_url, "https://"));
    refuses_embedded(validate_redirect_url, "https://a/");
    assert_true(ok(validate_redirect_code, "308"));
    assert_false(ok(validate_redirect_code, "309"));
    assert_false(ok(validate_redirect_code, "200"));
    assert_true(ok(validate_host_list, "www.a.test, a.example,b.test"));
    assert_false(ok(validate_host_list, "a.test,,b.test"));
    assert_false(ok(validate_host_list, "a.test,"));
    assert_false(ok(validate_host_list, "A.test"));
    refuses_embedded_but_spaces(validate_host_list, "a.test");
    assert_false(ok_len(validate_vhost, "a.b\0:80", 7));
    assert_false(ok_len(validate_next_upstream, "error\0", 6));
}

static void custom_http_errors_are_codes_400_to_599_once_each(void **state)
{
    (void)state;
    assert_true(ok(validate_http_error_codes, "404"));
    assert_true(ok(validate_http_error_codes, "404,503"));
    assert_true(ok(validate_http_error_codes, "400,599,500,415"));
    assert_false(ok(validate_http_error_codes, ""));
    assert_false(ok(validate_http_error_codes, "399"));
    assert_false(ok(validate_http_error_codes, "600"));
    assert_false(ok(validate_http_error_codes, "200"));
    assert_false(ok(validate_http_error_codes, "404, 503"));
    assert_false(ok(validate_http_error_codes, " 404"));
    assert_false(ok(validate_http_error_codes, "404,"));
    assert_false(ok(validate_http_error_codes, ",404"));
    assert_false(ok(validate_http_error_codes, "404,,503"));
    assert_false(ok(validate_http_error_codes, "404503"));
    assert_false(ok(validate_http_error_codes, "4040"));
    assert_false(ok(validate_http_error_codes, "40"));
    assert_false(ok(validate_http_error_codes, "404,404"));
    assert_false(ok(validate_http_error_codes, "4x4"));
    assert_false(ok(validate_http_error_codes, "404;503"));
    assert_false(ok_len(validate_http_error_codes, "404\0,503", 7));
    refuses_embedded(validate_http_error_codes, "404");
}

static void cors_values_have_strict_grammars(void **state)
{
    assert_true(ok(validate_cors_origins, "*"));
    assert_true(ok(validate_cors_origins, "https://app.example.com"));
    assert_true(ok(validate_cors_origins,
                   "https://a.example.com, http://*.example.org:8443"));
    assert_true(ok(validate_cors_origins, "http://localhost:3000"));
    assert_false(ok(validate_cors_origins, ""));
    assert_false(ok(validate_cors_origins, "*, https://a.example.com"));
    assert_false(ok(validate_cors_origins, "app.example.com"));
    assert_false(ok(validate_cors_origins, "ftp://app.example.com"));
    assert_false(ok(validate_cors_origins, "https://*.com"));
    assert_false(ok(validate_cors_origins, "https://a.*.example.com"));
    assert_false(ok(validate_cors_origins, "https://App.example.com"));
    assert_false(ok(validate_cors_origins, "https://a.example.com/"));
    assert_false(ok(validate_cors_origins, "https://a.example.com:0"));
    assert_false(ok(validate_cors_origins, "https://a.example.com:65536"));
    assert_false(ok(validate_cors_origins, "https://a.example.com:"));
    assert_false(ok(validate_cors_origins, "https://(a|b).example.com"));
    assert_false(ok(validate_cors_origins, "https://a.example.com,"));
    refuses_embedded_but_spaces(validate_cors_origins,
                                "https://a.example.com");
    assert_true(ok(validate_method_list, "GET, PUT,POST"));
    assert_false(ok(validate_method_list, "GET;"));
    assert_false(ok(validate_method_list, "GET,,PUT"));
    refuses_embedded_but_spaces(validate_method_list, "GET");
    assert_true(ok(validate_header_list, "*"));
    assert_true(ok(validate_header_list, "X-Token, Content-Type,x_custom"));
    assert_false(ok(validate_header_list, "X-Token: 1"));
    assert_false(ok(validate_header_list, "*,X-Token"));
    refuses_embedded_but_spaces(validate_header_list, "X-Token");
    assert_true(ok(validate_seconds, "1728000"));
    assert_false(ok(validate_seconds, "1234567890"));
    assert_false(ok(validate_seconds, "10s"));
    refuses_embedded(validate_seconds, "600");
}

static void external_auth_values_have_strict_grammars(void **state)
{
    assert_true(ok(validate_auth_url, "http://auth.team.svc.cluster.local/x"));
    assert_true(ok(validate_auth_url, "https://127.0.0.7:8443/check?a=b&c"));
    assert_true(ok(validate_auth_url, "https://$host/oauth2/auth"));
    assert_true(ok(validate_auth_url,
                   "https://$host/oauth2/start?rd=$escaped_request_uri"));
    assert_false(ok(validate_auth_url, "http:///check"));
    assert_false(ok(validate_auth_url, "http://:80/check"));
    assert_false(ok(validate_auth_url, "http://a.example.com:99999/"));
    assert_false(ok(validate_auth_url, "ftp://a.example.com/"));
    assert_false(ok(validate_auth_url, "http://a.example.com/$remote_user"));
    assert_false(ok(validate_auth_url, "http://$hostx/"));
    assert_false(ok(validate_auth_url, "http://${host}/"));
    assert_false(ok(validate_auth_url, "http://a.example.com/%0d%0a"));
    /* Every attack but "$host", which is one of the allowed variables. */
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        char v[256];
        if (strcmp(attacks[i], "$host") == 0)
            continue;
        snprintf(v, sizeof(v), "http://a.example.com/x%sx", attacks[i]);
        if (ok(validate_auth_url, v))
            fail_msg("accepted \"%s\"", v);
    }
    assert_true(ok(validate_auth_method, "POST"));
    assert_false(ok(validate_auth_method, "post"));
    assert_false(ok(validate_auth_method, "TRACE"));
    assert_true(ok(validate_auth_redirect, "/after?x=1"));
    assert_false(ok(validate_auth_redirect, "/x$request_uri"));
    refuses_embedded(validate_auth_redirect, "/after");
    assert_true(ok(validate_param_name, "rd"));
    assert_false(ok(validate_param_name, "rd=x"));
    assert_false(ok(validate_param_name, ""));
    assert_true(ok(validate_header_names, "X-User, X-Email"));
    assert_false(ok(validate_header_names, "*"));
    refuses_embedded_but_spaces(validate_header_names, "X-User");
}

static void client_certificate_values_have_strict_grammars(void **state)
{
    const char *modes[] = {"on", "off", "optional", "optional_no_ca"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        assert_true(ok(validate_verify_client, modes[i]));
    assert_false(ok(validate_verify_client, "On"));
    assert_false(ok(validate_verify_client, "optional_no"));
    assert_false(ok(validate_verify_client, ""));
    refuses_embedded(validate_verify_client, "on");
    /* auth-tls-match-cn: a regex that names CN=, over the subject; it
     * goes into the certificate table (%XX-encoded), never nginx.conf,
     * but control characters and regexes PCRE2 refuses never pass. */
    assert_true(ok(validate_match_cn, "CN=alice"));
    assert_true(ok(validate_match_cn, "^CN=(alice|bob)$"));
    assert_true(ok(validate_match_cn, "CN=John Doe,O=Example"));
    assert_false(ok(validate_match_cn, "alice"));
    assert_false(ok(validate_match_cn, "CN=(alice"));
    assert_false(ok(validate_match_cn, "CN=a\r\nowned"));
    assert_false(ok(validate_match_cn, "CN=a\x7f"));
    assert_false(ok(validate_match_cn, ""));
    assert_false(ok_len(validate_match_cn, "CN=a\0b", 6));
    char big[VALIDATE_MATCH_CN_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "CN=", 3);
    big[sizeof(big) - 1] = '\0';
    assert_false(ok(validate_match_cn, big));
    big[VALIDATE_MATCH_CN_MAX] = '\0';
    assert_true(ok(validate_match_cn, big));
}

static void auth_cache_keys_must_tell_clients_apart(void **state)
{
    assert_true(ok(validate_auth_cache_key, "$remote_user$http_authorization"));
    assert_true(ok(validate_auth_cache_key, "$cookie__oauth2_proxy"));
    assert_true(ok(validate_auth_cache_key, "$host|$request_uri|$remote_addr"));
    assert_true(ok(validate_auth_cache_key, "$http_x_api_key"));
    /* Nothing that tells one client from another. */
    assert_false(ok(validate_auth_cache_key, "$host$request_uri"));
    assert_false(ok(validate_auth_cache_key, "$http_host"));
    assert_false(ok(validate_auth_cache_key, "static"));
    assert_false(ok(validate_auth_cache_key, ""));
    /* Variables outside the list, or read greedily as another. */
    assert_false(ok(validate_auth_cache_key, "$http_authorization$args"));
    assert_false(ok(validate_auth_cache_key, "$remote_userx"));
    assert_false(ok(validate_auth_cache_key, "$http_"));
    assert_false(ok(validate_auth_cache_key, "$http_X_Token"));
    assert_false(ok(validate_auth_cache_key, "${http_authorization}"));
    assert_false(ok(validate_auth_cache_key, "$http_authorization$"));
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        char v[256];
        if (strcmp(attacks[i], "$host") == 0)
            continue;
        snprintf(v, sizeof(v), "$http_authorization%sx", attacks[i]);
        if (ok(validate_auth_cache_key, v))
            fail_msg("accepted \"%s\"", v);
    }
}

static void auth_cache_durations_follow_ingress_nginx(void **state)
{
    assert_true(ok(validate_auth_cache_duration, "200 202 401 5m"));
    assert_true(ok(validate_auth_cache_duration, "200 202 10m, 401 30s"));
    assert_true(ok(validate_auth_cache_duration, "5m"));
    assert_true(ok(validate_auth_cache_duration, "200  1d"));
    assert_false(ok(validate_auth_cache_duration, "200 5"));
    assert_false(ok(validate_auth_cache_duration, "200 0m"));
    assert_false(ok(validate_auth_cache_duration, "5m 200"));
    assert_false(ok(validate_auth_cache_duration, "200 5m 10m"));
    assert_false(ok(validate_auth_cache_duration, "600 5m"));
    assert_false(ok(validate_auth_cache_duration, "20 5m"));
    assert_false(ok(validate_auth_cache_duration, "any 5m"));
    assert_false(ok(validate_auth_cache_duration, "200 5ms"));
    assert_false(ok(validate_auth_cache_duration, "200 1234567m"));
    assert_false(ok(validate_auth_cache_duration, "200 5m,"));
    assert_false(ok(validate_auth_cache_duration, ""));
    assert_false(ok(validate_auth_cache_duration,
                    "1m,1m,1m,1m,1m,1m,1m,1m,1m"));
    refuses_embedded_but_spaces(validate_auth_cache_duration, "200 5m");
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
        cmocka_unit_test(address_lists_accept_ipv4_and_ipv6_networks_and_addresses),
        cmocka_unit_test(address_lists_refuse_anything_but_addresses),
        cmocka_unit_test(basic_auth_values_have_strict_grammars),
        cmocka_unit_test(counts_are_small_numbers),
        cmocka_unit_test(custom_http_errors_are_codes_400_to_599_once_each),
        cmocka_unit_test(cors_values_have_strict_grammars),
        cmocka_unit_test(external_auth_values_have_strict_grammars),
        cmocka_unit_test(client_certificate_values_have_strict_grammars),
        cmocka_unit_test(ingress_nginx_option_values_have_strict_grammars),
        cmocka_unit_test(auth_cache_keys_must_tell_clients_apart),
        cmocka_unit_test(auth_cache_durations_follow_ingress_nginx),
        cmocka_unit_test(external_names_allow_a_trailing_dot_but_no_wildcard),
        cmocka_unit_test(reasons_never_echo_control_characters),
        cmocka_unit_test(rewrite_targets_and_regex_paths_have_strict_grammars),
        cmocka_unit_test(session_affinity_values_have_strict_grammars),
        cmocka_unit_test(quoting_escapes_quotes_and_backslashes_and_drops_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
