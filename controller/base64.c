/* base64.c - base64 decoding through OpenSSL; see base64.h. */
#include "controller/base64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define MAX_PADDING 2

static int alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int whitespace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *base64_decode(const char *in, size_t inlen, enum base64_mode mode,
                    size_t *outlen)
{
    char *text = malloc(inlen + 4), *out = NULL;   /* the data, re-padded */
    size_t n = 0, pad = 0, need;
    int len;

    if (!text)
        return NULL;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (mode == BASE64_LENIENT && whitespace(c))
            continue;
        if (c == '=')
            pad++;
        else if (pad || !alphabet(c))
            goto done;              /* data after '=', or not base64 */
        else
            text[n++] = c;
    }
    need = (4 - n % 4) % 4;
    if (pad > MAX_PADDING || n % 4 == 1 ||
        (mode == BASE64_STRICT && pad != need))
        goto done;
    memset(text + n, '=', need);
    out = malloc(n / 4 * 3 + 4);
    if (!out)
        goto done;
    len = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)text,
                          (int)(n + need));
    if (len < 0) {
        free(out);
        out = NULL;
        goto done;
    }
    *outlen = (size_t)len - need;
    out[*outlen] = '\0';
done:
    free(text);
    return out;
}
