/* Unit tests for lib/evloop: timer order, re-arming, fd readiness, the
 * clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "evloop.h"

struct order { int seen[8]; int n; };

static void record(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct order *o = arg;
    o->seen[o->n] = o->n + 1;
    o->n++;
}

struct tagged { struct order *o; int tag; };

static void record_tag(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct tagged *tg = arg;
    tg->o->seen[tg->o->n++] = tg->tag;
}

static void timers_fire_in_due_order_not_start_order(void **state)
{
    struct evloop *loop = evloop_new();
    struct order o = {{0}, 0};
    struct tagged a = {&o, 1}, b = {&o, 2}, c = {&o, 3};
    struct ev_timer *ta = evloop_timer_new(loop, record_tag, &a);
    struct ev_timer *tb = evloop_timer_new(loop, record_tag, &b);
    struct ev_timer *tc = evloop_timer_new(loop, record_tag, &c);

    evloop_timer_start(ta, 30);
    evloop_timer_start(tb, 10);
    evloop_timer_start(tc, 20);
    while (o.n < 3)
        evloop_run_once(loop, 100);
    assert_int_equal(o.seen[0], 2);
    assert_int_equal(o.seen[1], 3);
    assert_int_equal(o.seen[2], 1);
    evloop_timer_free(ta);
    evloop_timer_free(tb);
    evloop_timer_free(tc);
    evloop_free(loop);
}

static void stopped_timer_never_fires(void **state)
{
    struct evloop *loop = evloop_new();
    struct order o = {{0}, 0};
    struct ev_timer *t = evloop_timer_new(loop, record, &o);

    evloop_timer_start(t, 5);
    evloop_timer_stop(t);
    assert_false(evloop_timer_active(t));
    evloop_run_once(loop, 20);
    assert_int_equal(o.n, 0);
    evloop_timer_free(t);
    evloop_free(loop);
}

static void rearm(struct evloop *loop, struct ev_timer *t, void *arg)
{
    int *count = arg;
    if (++*count < 3)
        evloop_timer_start(t, 1);
    else
        evloop_stop(loop);
}

static void timer_rearmed_from_its_callback_repeats(void **state)
{
    struct evloop *loop = evloop_new();
    int count = 0;
    struct ev_timer *t = evloop_timer_new(loop, rearm, &count);

    evloop_timer_start(t, 1);
    assert_int_equal(evloop_run(loop), 0);
    assert_int_equal(count, 3);
    evloop_timer_free(t);
    evloop_free(loop);
}

static void on_readable(struct evloop *loop, int fd, unsigned ev, void *arg)
{
    char c;
    int *got = arg;
    assert_true(ev & EV_READ);
    assert_int_equal(read(fd, &c, 1), 1);
    *got = c;
}

static void readable_fd_runs_its_callback(void **state)
{
    struct evloop *loop = evloop_new();
    int p[2], got = 0;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(evloop_io_set(loop, p[0], EV_READ, on_readable, &got), 0);
    assert_int_equal(evloop_run_once(loop, 0), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(evloop_run_once(loop, 100), 1);
    assert_int_equal(got, 'x');
    evloop_io_del(loop, p[0]);
    close(p[0]);
    close(p[1]);
    evloop_free(loop);
}

static void clock_in_ns_and_ms_is_one_monotonic_clock(void **state)
{
    uint64_t ms0 = evloop_clock_ms();
    uint64_t ns0 = evloop_clock_ns();
    uint64_t ns1, ms1;

    usleep(2000);
    ns1 = evloop_clock_ns();
    ms1 = evloop_clock_ms();
    assert_true(ns1 - ns0 >= 2000000);          /* slept 2 ms at least */
    assert_true(ns0 / 1000000 >= ms0);          /* the same clock, read in */
    assert_true(ms1 >= ns1 / 1000000);          /* that order */
    assert_true(ms1 - ms0 >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_due_order_not_start_order),
        cmocka_unit_test(stopped_timer_never_fires),
        cmocka_unit_test(timer_rearmed_from_its_callback_repeats),
        cmocka_unit_test(readable_fd_runs_its_callback),
        cmocka_unit_test(clock_in_ns_and_ms_is_one_monotonic_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
