/*
 * evloop.h - a small single-threaded event loop on epoll, with one-shot
 * timers on a min-heap. Shared by portico-dnscache and portico-controller.
 *
 * Contract:
 * - One callback per fd. evloop_io_set() adds or changes the interest set;
 *   events == 0 keeps the registration but stops delivery; evloop_io_del()
 *   forgets the fd (call it before close()).
 * - Timers are one-shot: re-arm from the callback to repeat. Starting an
 *   armed timer re-arms it. Stopping or freeing from any callback is safe.
 * - Time is CLOCK_MONOTONIC in milliseconds, cached per loop iteration
 *   (evloop_now_ms) and refreshed by evloop_update_time(). The same clock,
 *   uncached, is evloop_clock_ms() and, for durations finer than a
 *   millisecond, evloop_clock_ns(): the one clock of the programs.
 * - Nothing here is thread-safe; use one loop per thread.
 */
#ifndef PORTICO_EVLOOP_H
#define PORTICO_EVLOOP_H

#include <stdint.h>

enum { EV_READ = 1, EV_WRITE = 2 };

struct evloop;
struct ev_timer;

typedef void (*ev_io_cb)(struct evloop *loop, int fd, unsigned events,
                         void *arg);
typedef void (*ev_timer_cb)(struct evloop *loop, struct ev_timer *t,
                            void *arg);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);

int evloop_io_set(struct evloop *loop, int fd, unsigned events, ev_io_cb cb,
                  void *arg);
void evloop_io_del(struct evloop *loop, int fd);

struct ev_timer *evloop_timer_new(struct evloop *loop, ev_timer_cb cb,
                                  void *arg);
void evloop_timer_start(struct ev_timer *t, uint64_t delay_ms);
void evloop_timer_stop(struct ev_timer *t);
int evloop_timer_active(const struct ev_timer *t);
void evloop_timer_free(struct ev_timer *t);

uint64_t evloop_now_ms(const struct evloop *loop);
void evloop_update_time(struct evloop *loop);
/* The monotonic clock, uncached: nanoseconds and milliseconds. */
uint64_t evloop_clock_ns(void);
uint64_t evloop_clock_ms(void);

/* Runs one iteration, waiting at most max_wait_ms (-1: until the next timer
 * or event). Returns the number of callbacks run, or -1 on epoll error. */
int evloop_run_once(struct evloop *loop, int max_wait_ms);
/* Runs until evloop_stop(). Returns 0, or -1 on epoll error. */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
