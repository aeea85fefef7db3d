/* Unit tests for controller/regex: route regexes compiled as the module
 * compiles them (PCRE2, "^P" caseless), refused with PCRE2's reason or as
 * too costly when a probe URI takes them past the module's match limits;
 * the usual shapes of ingress-nginx's documentation pass; the memo keeps
 * the verdict of a pattern that passed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "controller/regex.h"

static int passes(const char *p, enum regex_kind kind, char *err,
                  size_t errlen)
{
    return regex_check(p, strlen(p), kind, NULL, err, errlen) == 0;
}

static void documented_patterns_pass(void **state)
{
    static const char *const good[] = {
        "/something(/|$)(.*)", "/foo/.*", "/foo/bar/(.+)",
        "/foo/bar/[A-Z0-9]{3}", "/api(/|$)(.*)", "/(api|admin)/(.*)",
        "/static/(.+\\.(css|js))$", "/docs(/[a-z0-9-]+)*$",
        "/v1/(users|groups)/([0-9]+)/(.*)", "/api/(.*)/(.*)/x", "/",
        "/.*", "/(x+x+)+y",
    };
    char err[512];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!passes(good[i], REGEX_ROUTE, err, sizeof(err)))
            fail_msg("%s: %s", good[i], err);
}

static void catastrophic_patterns_are_refused_as_too_costly(void **state)
{
    static const char *const bad[] = {
        "/(a+)+$", "/(a|aa)+$", "/(\\w+\\s?)+$", "/([a-z]+)*$",
        "/api/(a+)+$", "/(api|admin)/(a+)+$", "/(.*)/(.*)/(.*)/x",
    };
    char err[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (passes(bad[i], REGEX_ROUTE, err, sizeof(err)))
            fail_msg("%s passed", bad[i]);
        assert_non_null(strstr(err, "too costly"));
    }
}

static void patterns_pcre2_refuses_carry_its_reason(void **state)
{
    char err[512];

    assert_false(passes("/(unclosed", REGEX_ROUTE, err, sizeof(err)));
    assert_non_null(strstr(err, "PCRE2 refuses the regular expression at "
                                "offset"));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    assert_false(passes("/[z-a]", REGEX_ROUTE, err, sizeof(err)));
    assert_false(passes("/x{2,1}", REGEX_ROUTE, err, sizeof(err)));
    assert_false(passes("/\\", REGEX_ROUTE, err, sizeof(err)));
    /* a start-of-pattern option cannot be slipped in: "^" comes first */
    assert_false(passes("(*LIMIT_MATCH=999999999)/x", REGEX_ROUTE, err,
                        sizeof(err)));
}

static void header_patterns_are_compiled_as_they_are(void **state)
{
    char err[512];

    assert_true(passes("^(alpha|beta)$", REGEX_HEADER, err, sizeof(err)));
    assert_true(passes("canary", REGEX_HEADER, err, sizeof(err)));
    assert_false(passes("(a+)+$", REGEX_HEADER, err, sizeof(err)));
    assert_false(passes("(", REGEX_HEADER, err, sizeof(err)));
}

static void the_memo_keeps_a_pass_not_a_refusal(void **state)
{
    struct regex_memo *memo = regex_memo_new();
    char err[512];

    assert_non_null(memo);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(regex_check("/a/(.*)", 7, REGEX_ROUTE, memo, err,
                                     sizeof(err)), 0);
        err[0] = '\0';
        assert_int_equal(regex_check("/(a+)+$", 7, REGEX_ROUTE, memo, err,
                                     sizeof(err)), -1);
        assert_non_null(strstr(err, "too costly"));
    }
    /* the kind is part of what is remembered */
    assert_int_equal(regex_check("(a+)+$", 6, REGEX_HEADER, memo, err,
                                 sizeof(err)), -1);
    /* more patterns than it holds: it starts again, verdicts unchanged */
    for (int i = 0; i < REGEX_MEMO_MAX + 10; i++) {
        char p[32];
        int n = snprintf(p, sizeof(p), "/p%d", i);
        assert_int_equal(regex_check(p, (size_t)n, REGEX_ROUTE, memo, err,
                                     sizeof(err)), 0);
    }
    assert_int_equal(regex_check("/(a+)+$", 7, REGEX_ROUTE, memo, err,
                                 sizeof(err)), -1);
    regex_memo_free(memo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documented_patterns_pass),
        cmocka_unit_test(catastrophic_patterns_are_refused_as_too_costly),
        cmocka_unit_test(patterns_pcre2_refuses_carry_its_reason),
        cmocka_unit_test(header_patterns_are_compiled_as_they_are),
        cmocka_unit_test(the_memo_keeps_a_pass_not_a_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
