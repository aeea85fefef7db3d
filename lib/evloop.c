/* evloop.c - see evloop.h. */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

enum {
    EVLOOP_MAX_EVENTS = 256,
    EVLOOP_MIN_SLOTS = 64,
    NS_PER_S = 1000000000,
    NS_PER_MS = 1000000,
};

struct io_slot {
    ev_io_cb cb;
    void *arg;
    unsigned events;
    int registered;
};

struct ev_timer {
    struct evloop *loop;
    ev_timer_cb cb;
    void *arg;
    uint64_t due_ms;
    size_t heap_index;          /* SIZE_MAX when not armed */
};

struct evloop {
    int epfd;
    struct io_slot *slots;      /* indexed by fd */
    size_t nslots;
    struct ev_timer **heap;
    size_t nheap, heap_cap;
    uint64_t now_ms;
    int stopping;
};

uint64_t evloop_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t evloop_clock_ms(void)
{
    return evloop_clock_ns() / NS_PER_MS;
}

struct evloop *evloop_new(void)
{
    struct evloop *loop = calloc(1, sizeof(*loop));

    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->now_ms = evloop_clock_ms();
    return loop;
}

void evloop_free(struct evloop *loop)
{
    if (!loop)
        return;
    for (size_t i = 0; i < loop->nheap; i++)
        loop->heap[i]->heap_index = SIZE_MAX;
    close(loop->epfd);
    free(loop->slots);
    free(loop->heap);
    free(loop);
}

static int ensure_slot(struct evloop *loop, int fd)
{
    size_t n;
    struct io_slot *s;

    if ((size_t)fd < loop->nslots)
        return 0;
    n = loop->nslots ? loop->nslots : EVLOOP_MIN_SLOTS;
    while (n <= (size_t)fd)
        n *= 2;
    s = realloc(loop->slots, n * sizeof(*s));
    if (!s)
        return -1;
    memset(s + loop->nslots, 0, (n - loop->nslots) * sizeof(*s));
    loop->slots = s;
    loop->nslots = n;
    return 0;
}

int evloop_io_set(struct evloop *loop, int fd, unsigned events, ev_io_cb cb,
                  void *arg)
{
    struct epoll_event ev;
    struct io_slot *slot;

    if (fd < 0 || ensure_slot(loop, fd) < 0)
        return -1;
    slot = &loop->slots[fd];
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    if (events & EV_READ)
        ev.events |= EPOLLIN;
    if (events & EV_WRITE)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(loop->epfd, slot->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                  fd, &ev) < 0)
        return -1;
    slot->registered = 1;
    slot->cb = cb;
    slot->arg = arg;
    slot->events = events;
    return 0;
}

void evloop_io_del(struct evloop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nslots || !loop->slots[fd].registered)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&loop->slots[fd], 0, sizeof(loop->slots[fd]));
}

/* --- timers: binary min-heap on due_ms ---------------------------------- */

static void heap_swap(struct evloop *loop, size_t a, size_t b)
{
    struct ev_timer *t = loop->heap[a];

    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_index = a;
    loop->heap[b]->heap_index = b;
}

static void heap_up(struct evloop *loop, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->due_ms <= loop->heap[i]->due_ms)
            break;
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(struct evloop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->nheap && loop->heap[l]->due_ms < loop->heap[m]->due_ms)
            m = l;
        if (r < loop->nheap && loop->heap[r]->due_ms < loop->heap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

static void heap_remove(struct evloop *loop, size_t i)
{
    struct ev_timer *t = loop->heap[i];

    loop->nheap--;
    if (i != loop->nheap) {
        loop->heap[i] = loop->heap[loop->nheap];
        loop->heap[i]->heap_index = i;
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->heap_index = SIZE_MAX;
}

struct ev_timer *evloop_timer_new(struct evloop *loop, ev_timer_cb cb,
                                  void *arg)
{
    struct ev_timer *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->loop = loop;
    t->cb = cb;
    t->arg = arg;
    t->heap_index = SIZE_MAX;
    return t;
}

void evloop_timer_start(struct ev_timer *t, uint64_t delay_ms)
{
    struct evloop *loop = t->loop;

    evloop_timer_stop(t);
    if (loop->nheap == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : EVLOOP_MIN_SLOTS;
        struct ev_timer **h = realloc(loop->heap, cap * sizeof(*h));
        if (!h)
            abort();            /* cannot keep a timer promise: fail loudly */
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->due_ms = loop->now_ms + delay_ms;
    t->heap_index = loop->nheap;
    loop->heap[loop->nheap++] = t;
    heap_up(loop, t->heap_index);
}

void evloop_timer_stop(struct ev_timer *t)
{
    if (t->heap_index != SIZE_MAX)
        heap_remove(t->loop, t->heap_index);
}

int evloop_timer_active(const struct ev_timer *t)
{
    return t->heap_index != SIZE_MAX;
}

void evloop_timer_free(struct ev_timer *t)
{
    if (!t)
        return;
    evloop_timer_stop(t);
    free(t);
}

/* --- running ------------------------------------------------------------- */

uint64_t evloop_now_ms(const struct evloop *loop)
{
    return loop->now_ms;
}

void evloop_update_time(struct evloop *loop)
{
    loop->now_ms = evloop_clock_ms();
}

static int run_due_timers(struct evloop *loop)
{
    int ran = 0;

    while (loop->nheap > 0 && loop->heap[0]->due_ms <= loop->now_ms) {
        struct ev_timer *t = loop->heap[0];
        heap_remove(loop, 0);
        t->cb(loop, t, t->arg);
        ran++;
    }
    return ran;
}

int evloop_run_once(struct evloop *loop, int max_wait_ms)
{
    struct epoll_event events[EVLOOP_MAX_EVENTS];
    int wait = max_wait_ms, n, ran;

    evloop_update_time(loop);
    if (loop->nheap > 0) {
        uint64_t due = loop->heap[0]->due_ms;
        int until = due <= loop->now_ms ? 0 : (int)(due - loop->now_ms);
        if (wait < 0 || until < wait)
            wait = until;
    }
    n = epoll_wait(loop->epfd, events, EVLOOP_MAX_EVENTS, wait);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    evloop_update_time(loop);
    ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        unsigned ev = 0;
        struct io_slot *slot;

        if ((size_t)fd >= loop->nslots)
            continue;
        slot = &loop->slots[fd];
        /* An earlier callback in this batch may have removed the fd. */
        if (!slot->registered || !slot->cb)
            continue;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            ev |= EV_READ;
        if (events[i].events & (EPOLLOUT | EPOLLERR))
            ev |= EV_WRITE;
        ev &= slot->events | ((events[i].events & (EPOLLHUP | EPOLLERR))
                              ? (unsigned)EV_READ : 0u);
        if (ev) {
            slot->cb(loop, fd, ev, slot->arg);
            ran++;
        }
    }
    return ran + run_due_timers(loop);
}

int evloop_run(struct evloop *loop)
{
    loop->stopping = 0;
    while (!loop->stopping) {
        if (evloop_run_once(loop, -1) < 0)
            return -1;
    }
    return 0;
}

void evloop_stop(struct evloop *loop)
{
    loop->stopping = 1;
}
