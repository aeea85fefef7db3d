/*
 * digest.h - short hex names of content: the first hexlen hex digits of a
 * SHA-256 over two byte strings (either may be empty). Used for the
 * content-addressed certificate files (tlsfiles.c) and the certificate
 * table's version (certtable.c).
 */
#ifndef PORTICO_CONTROLLER_DIGEST_H
#define PORTICO_CONTROLLER_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_MAX 64

/* hexlen even, at most DIGEST_HEX_MAX; out holds hexlen + 1 bytes.
 * 0, or -1 (OpenSSL failure: out is hexlen zeros). */
int digest_hex(const void *a, size_t alen, const void *b, size_t blen,
               char *out, size_t hexlen);

#endif
