/* selfsigned.c - the default server's self-signed pair (see selfsigned.h). */
#include "controller/selfsigned.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FILE_MODE   0600
#define SERIAL_BYTES 16
#define SECONDS_PER_DAY (24L * 3600)

static FILE *open_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    FILE *f;

    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return NULL;
    }
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        snprintf(err, errlen, "cannot write %s", path);
    }
    return f;
}

int selfsigned_write(const char *crt_path, const char *key_path,
                     const char *common_name, char *err, size_t errlen)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char serial[SERIAL_BYTES];
    BIGNUM *bn = NULL;
    FILE *f;
    int rc = -1;

    if (!pkey || !x || RAND_bytes(serial, sizeof(serial)) != 1) {
        snprintf(err, errlen, "cannot generate a key");
        goto out;
    }
    serial[0] &= 0x7f;  /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto fail;
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -SECONDS_PER_DAY);
    X509_gmtime_adj(X509_getm_notAfter(x), SELFSIGNED_DAYS * SECONDS_PER_DAY);
    X509_set_pubkey(x, pkey);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               (const unsigned char *)"Portico", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)common_name, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto fail;
    f = open_private(key_path, err, errlen);
    if (!f)
        goto out;
    rc = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) ? 0 : -1;
    if (fclose(f) != 0 || rc < 0)
        goto fail;
    f = open_private(crt_path, err, errlen);
    if (!f) {
        rc = -1;
        goto out;
    }
    rc = PEM_write_X509(f, x) ? 0 : -1;
    if (fclose(f) != 0 || rc < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = -1;
    snprintf(err, errlen, "cannot create the default certificate");
out:
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
