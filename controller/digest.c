/* digest.c - hex prefixes of SHA-256 digests (see digest.h). */
#include "controller/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int digest_hex(const void *a, size_t alen, const void *b, size_t blen,
               char *out, size_t hexlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 &&
             EVP_DigestUpdate(ctx, b, blen) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;

    EVP_MD_CTX_free(ctx);
    memset(out, '0', hexlen);
    for (size_t i = 0; ok && i < hexlen / 2 && i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[hexlen] = '\0';
    return ok ? 0 : -1;
}
