/*
 * backoff.h - exponential backoff with jitter for API retries, like
 * client-go's reflector (initial 800 ms, doubling, capped at 30 s, up to
 * +100 % jitter). The random source is passed in so tests are exact.
 */
#ifndef PORTICO_KUBE_BACKOFF_H
#define PORTICO_KUBE_BACKOFF_H

#include <stdint.h>

#define BACKOFF_INITIAL_MS 800
#define BACKOFF_MAX_MS     30000
#define BACKOFF_JITTER     1.0   /* delay in [d, d * (1 + JITTER)] */

struct backoff {
    uint64_t initial_ms, max_ms;
    double jitter;
    uint64_t next_ms;   /* base of the next delay; 0 = not started */
    unsigned short seed[3];  /* erand48 state for the jitter */
};

void backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
                  double jitter);
/* The delay before the next attempt; rand01 in [0, 1). Doubles the base. */
uint64_t backoff_next(struct backoff *b, double rand01);
/* Honours a server's Retry-After: at least retry_after_s seconds. */
uint64_t backoff_next_after(struct backoff *b, double rand01,
                            long retry_after_s);
void backoff_reset(struct backoff *b);
/* A uniform double in [0, 1) from b's own PRNG (seeded by init). */
double backoff_rand01(struct backoff *b);

#endif
