/*
 * hosts.h - hosts-format local records ("ADDR NAME [ALIAS...]", # comments)
 * answered authoritatively. A table is immutable once built; reloading
 * builds a new one and swaps it.
 */
#ifndef PORTICO_DNSCACHE_HOSTS_H
#define PORTICO_DNSCACHE_HOSTS_H

#include <stddef.h>
#include <stdint.h>

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

#endif
