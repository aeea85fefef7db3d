/*
 * answer.h - turning a stored wire image into the answer one client gets:
 * its ID, its RD/CD bits, its question spelling (0x20 case preserved), the
 * remaining TTL patched in, an OPT record if it sent EDNS, and TC with an
 * empty answer when the result does not fit its UDP size. No allocation.
 */
#ifndef PORTICO_DNSCACHE_ANSWER_H
#define PORTICO_DNSCACHE_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "dnswire.h"

/* The stored answer. ttl_offs point at the 32-bit TTLs inside image. */
struct answer_src {
    const uint8_t *image;
    size_t image_len;
    const uint16_t *ttl_offs;
    size_t nttl;
    uint32_t ttl;               /* TTL to write into every record */
    int authoritative;          /* keep AA (local data) */
};

/* Writes the answer into out (cap >= limit). Returns its length; sets
 * *truncated when TC was set. Returns 0 if the image is malformed. */
size_t answer_write(uint8_t *out, size_t cap, const struct answer_src *src,
                    const struct client_q *cq, int *truncated);

/* A header-only (or header+question) error answer with rcode. q may be
 * NULL (no question echoed). Returns the length. */
size_t answer_error(uint8_t *out, size_t cap, const uint8_t *query,
                    size_t qlen, const struct client_q *q, unsigned rcode);

/* BADVERS for a query with EDNS version > 0: header, question, OPT with
 * the extended rcode. Returns the length (0 if cap is too small). */
size_t answer_badvers(uint8_t *out, size_t cap, const uint8_t *query,
                      size_t qlen, const struct client_q *q);

/* Fills cq from a parsed query; tcp selects the size limit. */
void answer_client_from_query(struct client_q *cq, const struct dns_query *q,
                              int tcp);

#endif
