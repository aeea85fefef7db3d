/*
 * hosts.h - hosts-format local records ("ADDR NAME [ALIAS...]", # comments)
 * answered authoritatively: names to addresses, and addresses back to
 * names for PTR queries (in-addr.arpa, ip6.arpa). A table is immutable
 * once built; reloading builds a new one and swaps it. hosts_answer
 * writes the answers.
 *
 * Reverse rule (as dnsmasq does for hosts files): an address maps to ONE
 * name, the first name of the first line that lists the address.
 */
#ifndef PORTICO_DNSCACHE_HOSTS_H
#define PORTICO_DNSCACHE_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "dnswire.h"

enum { HOSTS_ADDR4_LEN = 4, HOSTS_ADDR6_LEN = 16 };

/* One name and its addresses, in file order. */
struct hosts_name {
    uint8_t name[DNS_MAX_NAME];     /* lower-case wire form */
    size_t name_len;
    uint32_t hash;
    size_t first;                   /* index into the address array */
    size_t n4, n6;                  /* IPv4 first, then IPv6 */
};

struct hosts_addr {
    int family;                     /* AF_INET or AF_INET6 */
    uint8_t bytes[HOSTS_ADDR6_LEN];
};

struct hosts;

/* Parses text; bad lines are skipped and counted in *bad (may be NULL).
 * Returns NULL only when out of memory. */
struct hosts *hosts_parse(const char *text, size_t len, size_t *bad);
/* Reads and parses path. Returns NULL if it cannot be read (errno set). */
struct hosts *hosts_load(const char *path, size_t *bad);
void hosts_free(struct hosts *h);

/* The record for lname (lower-case wire form), or NULL. */
const struct hosts_name *hosts_lookup(const struct hosts *h,
                                      const uint8_t *lname, size_t len);
const struct hosts_addr *hosts_addr(const struct hosts *h, size_t i);
size_t hosts_count(const struct hosts *h);

/* The name a PTR query for address a is answered with, or NULL if the
 * address is not listed. */
const struct hosts_name *hosts_lookup_addr(const struct hosts *h,
                                           const struct hosts_addr *a);

/* Reads lname (lower-case wire form) as the reverse name of one whole
 * address: "D.C.B.A.in-addr.arpa" (four decimal labels 0-255 without
 * leading zeros) or 32 single hex-nibble labels + "ip6.arpa". Fills a and
 * returns 0; returns -1 for anything else (partial zones, other names). */
int hosts_reverse_addr(const uint8_t *lname, size_t len, struct hosts_addr *a);

/* The authoritative answer (AA, every record with ttl) that table h gives
 * to query q, shaped for client cq into out (see answer_write; *truncated
 * as there): a listed name gets its A and AAAA records (NODATA for other
 * types); a PTR or ANY query for the reverse name of a listed address
 * gets the one name the table gives for it (as dnsmasq does; other types
 * at a reverse name are not ours). Returns its length, or 0 when h has no
 * answer for q (or it did not fit): then q goes to the cache and the
 * upstreams. scratch is a writer over a DNS_MAX_MSG-byte buffer, which
 * holds the answer before it is shaped. */
size_t hosts_answer(const struct hosts *h, const struct dns_query *q,
                    const struct client_q *cq, uint32_t ttl,
                    struct dns_writer *scratch, uint8_t *out, size_t cap,
                    int *truncated);

#endif
