/* Unit tests for lib/hash: FNV-1a. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hash.h"

static void fnv1a_matches_the_published_vectors(void **state)
{
    /* From the FNV reference test suite: "", "a", "foobar". */
    assert_true(hash_fnv1a64(HASH_FNV1A64_INIT, "", 0) ==
                0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a64_str(HASH_FNV1A64_INIT, "a") ==
                0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a64_str(HASH_FNV1A64_INIT, "foobar") ==
                0x85944171f73967e8ULL);
    assert_true(hash_fnv1a32(HASH_FNV1A32_INIT, "a", 1) == 0xe40c292cu);
    assert_true(hash_fnv1a32(HASH_FNV1A32_INIT, "foobar", 6) == 0xbf9cf968u);
    /* Pieces hash as their concatenation. */
    assert_true(hash_fnv1a64_str(hash_fnv1a64_str(HASH_FNV1A64_INIT, "foo"),
                                 "bar") ==
                hash_fnv1a64(HASH_FNV1A64_INIT, "foobar", 6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fnv1a_matches_the_published_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
