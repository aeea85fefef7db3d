/*
 * base64.h - decoding standard base64 (RFC 4648 section 4) through
 * OpenSSL's EVP_DecodeBlock, with the checks it leaves out (it reads '='
 * anywhere as a zero sextet and counts padding in its length).
 *
 * Lives in controller/ rather than lib/: its users are here, and lib/ is
 * linked whole into portico-dnscache, which does not link OpenSSL.
 */
#ifndef PORTICO_CONTROLLER_BASE64_H
#define PORTICO_CONTROLLER_BASE64_H

#include <stddef.h>

enum base64_mode {
    BASE64_STRICT,      /* groups of four, '=' only as the last one or two
                           characters: the Kubernetes API's JSON */
    BASE64_LENIENT,     /* also ASCII whitespace anywhere and the final
                           '=' left out: kubeconfig files written by hand */
};

/* Decodes in[0..inlen) into a new NUL-terminated buffer (*outlen excludes
 * the NUL; empty input gives ""), or NULL when malformed or out of
 * memory. Caller frees. */
char *base64_decode(const char *in, size_t inlen, enum base64_mode mode,
                    size_t *outlen);

#endif
