/* hash.c - FNV-1a, 32 and 64 bits; see hash.h. */
#include "hash.h"

#include <string.h>

uint64_t hash_fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= HASH_FNV1A64_PRIME;
    }
    return h;
}

uint64_t hash_fnv1a64_str(uint64_t h, const char *s)
{
    return hash_fnv1a64(h, s, strlen(s));
}

uint32_t hash_fnv1a32(uint32_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= HASH_FNV1A32_PRIME;
    }
    return h;
}
