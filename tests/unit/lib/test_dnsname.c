/* Unit tests for lib/dnsname: the DNS-name grammar and its options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dnsname.h"

static enum dnsname_result check(const char *s, unsigned options)
{
    return dnsname_check(s, strlen(s), options, NULL);
}

static void lowercase_labels_joined_by_dots_pass(void **state)
{
    char label63[64], label64[65];

    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';
    assert_int_equal(check("example.com", 0), DNSNAME_OK);
    assert_int_equal(check("a-b.c0", 0), DNSNAME_OK);
    assert_int_equal(check("x", 0), DNSNAME_OK);
    assert_int_equal(check(label63, 0), DNSNAME_OK);
    assert_int_equal(check(label64, 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("", 0), DNSNAME_EMPTY);
    assert_int_equal(check("-a.com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a-.com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a..com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check(".a.com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a.com.", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("A.com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a_b.com", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a/b", 0), DNSNAME_BAD_LABEL);
    assert_int_equal(dnsname_check("a\0b", 3, 0, NULL), DNSNAME_BAD_LABEL);
}

static void names_longer_than_253_bytes_are_refused(void **state)
{
    char name[300];

    /* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
    memset(name, 'a', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    assert_int_equal(check(name, 0), DNSNAME_OK);
    name[253] = 'a';
    name[254] = '\0';
    assert_int_equal(check(name, 0), DNSNAME_TOO_LONG);
    name[253] = '.';            /* 253 and a trailing dot */
    assert_int_equal(check(name, DNSNAME_TRAILING_DOT), DNSNAME_OK);
}

static void options_widen_the_grammar_one_by_one(void **state)
{
    size_t labels;

    assert_int_equal(check("A.Example.COM", DNSNAME_UPPERCASE), DNSNAME_OK);
    assert_int_equal(check("_acme-challenge.a.com", DNSNAME_UNDERSCORE),
                     DNSNAME_OK);
    assert_int_equal(check("a.com.", DNSNAME_TRAILING_DOT), DNSNAME_OK);
    assert_int_equal(check(".", DNSNAME_TRAILING_DOT), DNSNAME_BAD_LABEL);
    assert_int_equal(check("a.com..", DNSNAME_TRAILING_DOT),
                     DNSNAME_BAD_LABEL);
    assert_int_equal(check("kube-system", DNSNAME_ONE_LABEL), DNSNAME_OK);
    assert_int_equal(check("a.b", DNSNAME_ONE_LABEL), DNSNAME_BAD_LABEL);
    assert_int_equal(dnsname_check("*.a.com", 7, DNSNAME_WILDCARD, &labels),
                     DNSNAME_OK);
    assert_int_equal(labels, 2);
    assert_int_equal(check("*.a.com", 0), DNSNAME_BAD_WILDCARD);
    assert_int_equal(check("a.*.com", DNSNAME_WILDCARD), DNSNAME_BAD_WILDCARD);
    assert_int_equal(check("*a.com", DNSNAME_WILDCARD), DNSNAME_BAD_WILDCARD);
    assert_int_equal(check("*.", DNSNAME_WILDCARD), DNSNAME_BAD_LABEL);
    assert_true(dnsname_valid("a.com", 0));
    assert_false(dnsname_valid(NULL, 0));
    assert_false(dnsname_valid("../../etc/x", DNSNAME_UPPERCASE |
                               DNSNAME_UNDERSCORE | DNSNAME_WILDCARD |
                               DNSNAME_TRAILING_DOT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lowercase_labels_joined_by_dots_pass),
        cmocka_unit_test(names_longer_than_253_bytes_are_refused),
        cmocka_unit_test(options_widen_the_grammar_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
