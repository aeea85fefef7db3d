/* backoff.c - see backoff.h. */
#include "controller/kube/backoff.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "evloop.h"

void backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
                  double jitter)
{
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->jitter = jitter;
    b->next_ms = 0;
    uint64_t ns = evloop_clock_ns();
    uintptr_t self = (uintptr_t)b;
    b->seed[0] = (unsigned short)(ns ^ self);
    b->seed[1] = (unsigned short)((ns >> 16) ^ (self >> 16));
    b->seed[2] = (unsigned short)getpid();
}

uint64_t backoff_next(struct backoff *b, double rand01)
{
    uint64_t d;

    if (b->next_ms == 0)
        b->next_ms = b->initial_ms;
    d = b->next_ms;
    b->next_ms = d * 2 > b->max_ms ? b->max_ms : d * 2;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    return d + (uint64_t)((double)d * b->jitter * rand01);
}

uint64_t backoff_next_after(struct backoff *b, double rand01,
                            long retry_after_s)
{
    uint64_t d = backoff_next(b, rand01);
    if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > d)
        d = (uint64_t)retry_after_s * 1000;
    return d;
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = 0;
}

double backoff_rand01(struct backoff *b)
{
    return erand48(b->seed);
}
