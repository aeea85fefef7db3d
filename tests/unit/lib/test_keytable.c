/* Unit tests for lib/keytable: the open addressing index of keyed items. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytable.h"

struct item {
    char key[32];
    int seen;
};

static const char *item_key(const void *item)
{
    return ((const struct item *)item)->key;
}

static struct item *items_new(size_t n)
{
    struct item *it = calloc(n, sizeof(*it));

    assert_non_null(it);
    for (size_t i = 0; i < n; i++)
        snprintf(it[i].key, sizeof(it[i].key), "ns/ing-%zu", i);
    return it;
}

static void put_get_replace_and_remove_by_key(void **state)
{
    struct keytable t;
    struct item a = {"ns/a", 0}, b = {"ns/b", 0}, a2 = {"ns/a", 0};
    void *old = &b;

    keytable_init(&t, item_key);
    assert_null(keytable_get(&t, "ns/a"));
    assert_null(keytable_remove(&t, "ns/a"));
    assert_int_equal(keytable_put(&t, &a, &old), 0);
    assert_null(old);
    assert_int_equal(keytable_put(&t, &b, NULL), 0);
    assert_ptr_equal(keytable_get(&t, "ns/a"), &a);
    assert_ptr_equal(keytable_get(&t, "ns/b"), &b);
    /* the same key replaces, and says what it replaced */
    assert_int_equal(keytable_put(&t, &a2, &old), 0);
    assert_ptr_equal(old, &a);
    assert_int_equal(t.n, 2);
    assert_ptr_equal(keytable_get(&t, "ns/a"), &a2);
    assert_ptr_equal(keytable_remove(&t, "ns/a"), &a2);
    assert_null(keytable_get(&t, "ns/a"));
    assert_ptr_equal(keytable_get(&t, "ns/b"), &b);
    assert_int_equal(t.n, 1);
    keytable_fini(&t);
    assert_null(keytable_get(&t, "ns/b"));
}

static int drop_odd(void *item, void *arg)
{
    struct item *it = item;
    size_t i = (size_t)(it - (struct item *)arg);

    it->seen++;
    return (int)(i % 2);
}

/* 20k items: each found, at most half full (8-16 bytes an item); a sweep
 * meets each item once however removal shifts the others back, and what
 * stays is found; emptied, the table shrinks. */
static void many_items_stay_found_through_growth_sweeps_and_shrinking(
    void **state)
{
    const size_t n = 20000;
    struct item *it = items_new(n);
    struct keytable t;
    size_t pos = 0, count = 0;

    keytable_init(&t, item_key);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(keytable_put(&t, &it[i], NULL), 0);
    assert_int_equal(t.n, n);
    assert_true(t.cap >= 2 * n && t.cap < 4 * n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(keytable_get(&t, it[i].key), &it[i]);
    assert_null(keytable_get(&t, "ns/ing-20000"));
    while (keytable_next(&t, &pos))
        count++;
    assert_int_equal(count, n);

    assert_int_equal(keytable_remove_if(&t, drop_odd, it), n / 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(it[i].seen, 1);
        if (i % 2)
            assert_null(keytable_get(&t, it[i].key));
        else
            assert_ptr_equal(keytable_get(&t, it[i].key), &it[i]);
    }
    for (size_t i = 0; i < n; i += 2)
        assert_ptr_equal(keytable_remove(&t, it[i].key), &it[i]);
    assert_int_equal(t.n, 0);
    assert_true(t.cap <= 16);
    keytable_fini(&t);
    free(it);
}

/* Items whose homes collide (a tiny table, full probe runs that wrap
 * around its end) are all found after any one of them is removed. */
static void removal_keeps_colliding_runs_whole(void **state)
{
    const size_t n = 8;
    struct item *it = items_new(n);

    for (size_t gone = 0; gone < n; gone++) {
        struct keytable t;
        keytable_init(&t, item_key);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(keytable_put(&t, &it[i], NULL), 0);
        assert_int_equal(t.cap, 16);
        assert_ptr_equal(keytable_remove(&t, it[gone].key), &it[gone]);
        for (size_t i = 0; i < n; i++)
            assert_ptr_equal(keytable_get(&t, it[i].key),
                             i == gone ? NULL : &it[i]);
        keytable_fini(&t);
    }
    free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_replace_and_remove_by_key),
        cmocka_unit_test(many_items_stay_found_through_growth_sweeps_and_shrinking),
        cmocka_unit_test(removal_keeps_colliding_runs_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
