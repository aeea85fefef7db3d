/* Unit tests for controller/base64: strict (API JSON) and lenient
 * (kubeconfig) decoding through OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "controller/base64.h"

#define S(x) x, strlen(x)

static void assert_decodes(const char *in, enum base64_mode mode,
                           const char *want)
{
    size_t n = 99;
    char *s = base64_decode(S(in), mode, &n);

    assert_non_null(s);
    assert_int_equal(n, strlen(want));
    assert_string_equal(s, want);
    free(s);
}

static void assert_refused(const char *in, enum base64_mode mode)
{
    size_t n;

    assert_null(base64_decode(S(in), mode, &n));
}

static void padded_groups_decode_in_both_modes(void **state)
{
    for (int mode = BASE64_STRICT; mode <= BASE64_LENIENT; mode++) {
        assert_decodes("aGVsbG8=", mode, "hello");
        assert_decodes("aGVsbA==", mode, "hell");
        assert_decodes("aGVs", mode, "hel");
        assert_decodes("", mode, "");
        assert_decodes("+/+/", mode, "\xfb\xff\xbf");
    }
}

static void strict_refuses_whitespace_and_missing_or_misplaced_padding(
    void **state)
{
    assert_refused("aGVsbG8", BASE64_STRICT);
    assert_refused("aGVs\nbG8=", BASE64_STRICT);
    assert_refused(" aGVsbG8=", BASE64_STRICT);
    assert_refused("aGVsbA=", BASE64_STRICT);
    assert_refused("aGVsbG8==", BASE64_STRICT);
}

static void lenient_takes_whitespace_and_no_padding(void **state)
{
    assert_decodes("aGVs\nbG8", BASE64_LENIENT, "hello");
    assert_decodes(" aGVs bG8=\r\n", BASE64_LENIENT, "hello");
    assert_decodes("aGVsbA", BASE64_LENIENT, "hell");
}

static void garbage_is_refused_in_both_modes(void **state)
{
    /* EVP_DecodeBlock alone would take '=' inside the data as zeros. */
    for (int mode = BASE64_STRICT; mode <= BASE64_LENIENT; mode++) {
        assert_refused("a", mode);
        assert_refused("aGVsb", mode);
        assert_refused("aGVs*G8=", mode);
        assert_refused("aG=Vs", mode);
        assert_refused("aG=V", mode);
        assert_refused("====", mode);
        assert_refused("a===", mode);
        assert_refused("aGVsbG8=!", mode);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(padded_groups_decode_in_both_modes),
        cmocka_unit_test(
            strict_refuses_whitespace_and_missing_or_misplaced_padding),
        cmocka_unit_test(lenient_takes_whitespace_and_no_padding),
        cmocka_unit_test(garbage_is_refused_in_both_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
