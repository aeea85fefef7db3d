/*
 * fuzz_parse.c - libFuzzer target for everything the Vault client parses
 * from the network or from Vault data: KV v1/v2 answers (200 and 404 with a
 * body), mount answers, PKI answers, error bodies, and PEM pairs through
 * tlspair_validate (the input split at the first NUL into crt and key).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vault/tlspair.h"
#include "vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct vault_error err;
    struct vault_kv kv;
    struct vault_pki_cert pki;
    char mount[128], msg[256];
    int v;

    if (vault_parse_kv(s, size, 1, 200, &kv, &err) == 0)
        vault_kv_free(&kv);
    if (vault_parse_kv(s, size, 2, 200, &kv, &err) == 0)
        vault_kv_free(&kv);
    if (vault_parse_kv(s, size, 2, 404, &kv, &err) == 0)
        vault_kv_free(&kv);
    vault_parse_mount(s, size, mount, sizeof(mount), &v, &err);
    if (vault_parse_pki(s, size, &pki, &err) == 0)
        vault_pki_cert_free(&pki);
    vault_error_from_response(403, s, size, "fuzz", &err);

    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        size_t crt_len = (size_t)(nul - data);
        struct tlspair_info info;
        tlspair_validate(s, crt_len, (const char *)nul + 1, size - crt_len - 1,
                         "a.example.com", (time_t)1800000000, &info, msg,
                         sizeof(msg));
    }
    return 0;
}
