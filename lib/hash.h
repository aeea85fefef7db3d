/*
 * hash.h - FNV-1a, the one non-cryptographic hash of the tree: change
 * detectors (content digests), hash-table buckets, names that must differ
 * early. Not for anything an attacker may choose to collide on purpose
 * where a collision costs more than a slower path.
 *
 * Each function continues a running hash h: start from HASH_FNV1A*_INIT,
 * feed any number of pieces, e.g.
 *     h = hash_fnv1a64_str(HASH_FNV1A64_INIT, a);
 *     h = hash_fnv1a64_str(h, "|");
 */
#ifndef PORTICO_HASH_H
#define PORTICO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A64_INIT  0xcbf29ce484222325ULL    /* offset basis */
#define HASH_FNV1A64_PRIME 0x100000001b3ULL
#define HASH_FNV1A32_INIT  2166136261u
#define HASH_FNV1A32_PRIME 16777619u

uint64_t hash_fnv1a64(uint64_t h, const void *data, size_t len);
/* Over the bytes of a NUL-terminated string (without the NUL). */
uint64_t hash_fnv1a64_str(uint64_t h, const char *s);
uint32_t hash_fnv1a32(uint32_t h, const void *data, size_t len);

#endif
