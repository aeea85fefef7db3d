/* tlspair.c - certificate chain + key validation with OpenSSL; see tlspair.h. */
#include "tlspair.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dnsname.h"

static const char *const err_names[] = {
    [TLSPAIR_OK] = "ok",
    [TLSPAIR_ERR_CERT_PEM] = "bad_certificate",
    [TLSPAIR_ERR_KEY_PEM] = "bad_key",
    [TLSPAIR_ERR_KEY_MISMATCH] = "key_mismatch",
    [TLSPAIR_ERR_EXPIRED] = "expired",
    [TLSPAIR_ERR_NOT_YET_VALID] = "not_yet_valid",
    [TLSPAIR_ERR_HOST_MISMATCH] = "host_mismatch",
    [TLSPAIR_ERR_CHAIN_ORDER] = "chain_order",
    [TLSPAIR_ERR_INTERNAL] = "internal",
};

const char *tlspair_err_name(enum tlspair_err e)
{
    if ((unsigned)e < sizeof(err_names) / sizeof(err_names[0]))
        return err_names[e];
    return "unknown";
}

static enum tlspair_err fail(enum tlspair_err code, char *err, size_t errlen,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum tlspair_err fail(enum tlspair_err code, char *err, size_t errlen,
                             const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    ERR_clear_error();
    return code;
}

/* ---- host matching (RFC 6125 §6.4.3, strict) --------------------------- */

/* Copies s lowercased without one trailing dot; -1 if empty or too long. */
static int normalize_name(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);

    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > DNSNAME_MAX || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
    return 0;
}

static size_t count_labels(const char *s)
{
    size_t n = 1;

    for (; *s; s++)
        if (*s == '.')
            n++;
    return n;
}

int tlspair_host_matches(const char *pattern, const char *host)
{
    char p[DNSNAME_MAX + 1], h[DNSNAME_MAX + 1];

    if (!pattern || !host || normalize_name(pattern, p, sizeof(p)) < 0 ||
        normalize_name(host, h, sizeof(h)) < 0)
        return 0;
    if (strstr(p, "..") || strstr(h, ".."))
        return 0;
    if (strcmp(p, h) == 0)
        return 1;   /* identical names, wildcards included */
    if (p[0] != '*' || p[1] != '.' || strchr(p + 1, '*'))
        return 0;   /* a '*' anywhere else never matches */
    if (count_labels(p) < 3)
        return 0;   /* "*.com" */
    if (h[0] == '*')
        return 0;   /* a wildcard host needs the identical pattern */
    const char *dot = strchr(h, '.');
    if (!dot || dot == h)
        return 0;
    return strcmp(dot, p + 1) == 0;   /* exactly one label replaced */
}

/* ---- parsing ------------------------------------------------------------ */

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;      /* encrypted keys are rejected, never prompted for */
}

/* Reads every CERTIFICATE block of pem into chain. Returns the count, or -1
 * (garbage, too many) with nothing left in chain. */
static int read_chain(const char *pem, size_t len, X509 **chain, int max)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    int n = 0;

    if (!bio)
        return -1;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            /* Running out of PEM blocks is the normal end. */
            if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE && n > 0)
                break;
            goto bad;
        }
        if (n == max) {
            X509_free(x);
            goto bad;
        }
        chain[n++] = x;
    }
    BIO_free(bio);
    ERR_clear_error();
    return n;
bad:
    while (n > 0)
        X509_free(chain[--n]);
    BIO_free(bio);
    ERR_clear_error();
    return -1;
}

static EVP_PKEY *read_key(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k;

    if (!bio)
        return NULL;
    k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return k;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

static void name_oneline(X509_NAME *name, char *out, size_t outlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;

    out[0] = '\0';
    if (!bio)
        return;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(bio, &data);
        if (n > 0) {
            size_t c = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
            memcpy(out, data, c);
            out[c] = '\0';
        }
    }
    BIO_free(bio);
}

/* Appends every dNSName SAN to out (comma-separated) and returns 1 if one of
 * them covers host (host may be NULL). Non-printable SANs are skipped. */
static int scan_sans(X509 *leaf, const char *host, char *out, size_t outlen)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name,
                                           NULL, NULL);
    size_t used = 0;
    int covered = 0;

    out[0] = '\0';
    if (!gens)
        return 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char name[DNSNAME_MAX + 2];
        int len;

        if (g->type != GEN_DNS)
            continue;
        len = ASN1_STRING_length(g->d.dNSName);
        if (len <= 0 || len > DNSNAME_MAX)
            continue;
        memcpy(name, ASN1_STRING_get0_data(g->d.dNSName), (size_t)len);
        name[len] = '\0';
        if (strlen(name) != (size_t)len)
            continue;   /* embedded NUL: never trust */
        int printable = 1;
        for (int j = 0; j < len; j++)
            if (!isgraph((unsigned char)name[j]) || name[j] == ',')
                printable = 0;
        if (!printable)
            continue;
        if (host && tlspair_host_matches(name, host))
            covered = 1;
        int w = snprintf(out + used, outlen - used, "%s%s",
                         used ? "," : "", name);
        if (w > 0 && (size_t)w < outlen - used)
            used += (size_t)w;
    }
    GENERAL_NAMES_free(gens);
    return covered;
}

static void fill_info(X509 *leaf, const char *host, int chain_len,
                      struct tlspair_info *info, int *covered)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
    BIGNUM *bn;

    info->chain_len = chain_len;
    name_oneline(X509_get_subject_name(leaf), info->subject,
                 sizeof(info->subject));
    name_oneline(X509_get_issuer_name(leaf), info->issuer,
                 sizeof(info->issuer));
    *covered = scan_sans(leaf, host, info->sans, sizeof(info->sans));
    info->not_before = asn1_to_time(X509_get0_notBefore(leaf));
    info->not_after = asn1_to_time(X509_get0_notAfter(leaf));
    info->serial[0] = '\0';
    bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
    if (bn) {
        char *hex = BN_bn2hex(bn);
        if (hex) {
            snprintf(info->serial, sizeof(info->serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    info->sha256[0] = '\0';
    if (X509_digest(leaf, EVP_sha256(), md, &mdlen) == 1) {
        for (unsigned int i = 0; i < mdlen && i * 2 + 2 < sizeof(info->sha256); i++)
            snprintf(info->sha256 + i * 2, 3, "%02x", md[i]);
    }
}

/* 0 if valid at now, else the error for the certificate. */
static enum tlspair_err check_time(X509 *x, time_t now)
{
    time_t t = now;

    if (X509_cmp_time(X509_get0_notBefore(x), &t) > 0)
        return TLSPAIR_ERR_NOT_YET_VALID;
    if (X509_cmp_time(X509_get0_notAfter(x), &t) < 0)
        return TLSPAIR_ERR_EXPIRED;
    return TLSPAIR_OK;
}

/* dates_fail: a certificate outside its validity period fails the pair;
 * else it is only recorded in info->dates and info->dates_msg. */
static enum tlspair_err validate(const char *crt_pem, size_t crt_len,
                                 const char *key_pem, size_t key_len,
                                 const char *host, time_t now,
                                 int dates_fail, struct tlspair_info *info_out,
                                 char *err, size_t errlen)
{
    X509 *chain[TLSPAIR_MAX_CHAIN];
    struct tlspair_info local, *info = info_out ? info_out : &local;
    EVP_PKEY *key = NULL;
    enum tlspair_err rc = TLSPAIR_OK;
    int n, covered = 0;

    memset(info, 0, sizeof(*info));
    if (err && errlen)
        err[0] = '\0';
    if (!crt_pem || crt_len == 0)
        return fail(TLSPAIR_ERR_CERT_PEM, err, errlen, "no certificate");
    if (!key_pem || key_len == 0)
        return fail(TLSPAIR_ERR_KEY_PEM, err, errlen, "no private key");
    if (crt_len > TLSPAIR_MAX_PEM || key_len > TLSPAIR_MAX_PEM)
        return fail(TLSPAIR_ERR_CERT_PEM, err, errlen,
                    "PEM input larger than %d bytes", TLSPAIR_MAX_PEM);

    n = read_chain(crt_pem, crt_len, chain, TLSPAIR_MAX_CHAIN);
    if (n <= 0)
        return fail(TLSPAIR_ERR_CERT_PEM, err, errlen,
                    "certificate is not a PEM chain of at most %d "
                    "certificates", TLSPAIR_MAX_CHAIN);
    fill_info(chain[0], host, n, info, &covered);

    key = read_key(key_pem, key_len);
    if (!key) {
        rc = fail(TLSPAIR_ERR_KEY_PEM, err, errlen,
                  "private key is not an unencrypted PEM key");
        goto out;
    }
    if (X509_check_private_key(chain[0], key) != 1) {
        rc = fail(TLSPAIR_ERR_KEY_MISMATCH, err, errlen,
                  "private key does not match the certificate (%s)",
                  info->subject);
        goto out;
    }
    for (int i = 0; i < n && info->dates == TLSPAIR_OK; i++) {
        enum tlspair_err t = check_time(chain[i], now);
        if (t != TLSPAIR_OK) {
            char subj[256];
            name_oneline(X509_get_subject_name(chain[i]), subj, sizeof(subj));
            info->dates = t;
            snprintf(info->dates_msg, sizeof(info->dates_msg),
                     "%s certificate %d (%.200s) is %s",
                     i == 0 ? "leaf" : "chain", i, subj,
                     t == TLSPAIR_ERR_EXPIRED ? "expired" : "not yet valid");
            if (dates_fail) {
                rc = fail(t, err, errlen, "%s", info->dates_msg);
                goto out;
            }
        }
    }
    for (int i = 0; i + 1 < n; i++) {
        EVP_PKEY *issuer_key = X509_get0_pubkey(chain[i + 1]);
        if (X509_check_issued(chain[i + 1], chain[i]) != X509_V_OK ||
            !issuer_key || X509_verify(chain[i], issuer_key) != 1) {
            rc = fail(TLSPAIR_ERR_CHAIN_ORDER, err, errlen,
                      "chain order: certificate %d is not issued by "
                      "certificate %d", i, i + 1);
            goto out;
        }
    }
    if (host && !covered) {
        rc = fail(TLSPAIR_ERR_HOST_MISMATCH, err, errlen,
                  "certificate does not cover %.253s (DNS SANs: %s)", host,
                  info->sans[0] ? info->sans : "none");
        goto out;
    }
out:
    EVP_PKEY_free(key);
    for (int i = 0; i < n; i++)
        X509_free(chain[i]);
    ERR_clear_error();
    return rc;
}

enum tlspair_err tlspair_validate(const char *crt_pem, size_t crt_len,
                                  const char *key_pem, size_t key_len,
                                  const char *host, time_t now,
                                  struct tlspair_info *info,
                                  char *err, size_t errlen)
{
    return validate(crt_pem, crt_len, key_pem, key_len, host, now, 1, info,
                    err, errlen);
}

enum tlspair_err tlspair_validate_dates_apart(const char *crt_pem,
                                              size_t crt_len,
                                              const char *key_pem,
                                              size_t key_len,
                                              const char *host, time_t now,
                                              struct tlspair_info *info,
                                              char *err, size_t errlen)
{
    return validate(crt_pem, crt_len, key_pem, key_len, host, now, 0, info,
                    err, errlen);
}
