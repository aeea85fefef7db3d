/*
 * test_tlspair.c - certificate pair validation (vault/tlspair.h) with
 * certificates generated here with the OpenSSL API: a CA, an intermediate,
 * leaves with SANs and wildcards, expired and not-yet-valid ones, a wrong
 * key, chains in the wrong order, garbage PEM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vault/tlspair.h"

#define DAY (24L * 3600L)

struct issued {
    X509 *cert;
    EVP_PKEY *key;
    char *cert_pem;
    char *key_pem;
};

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static char *cert_to_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    n = BIO_get_mem_data(b, &data);
    out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static char *key_to_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(b, &data);
    out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for cn with SANs (comma-separated "DNS:..." list or NULL),
 * valid [now+from, now+to], signed by issuer (NULL: self-signed). */
static struct issued make(const struct issued *issuer, const char *cn,
                          const char *sans, long from, long to, int ca)
{
    static long serial = 1;
    struct issued r;
    X509_NAME *name;

    memset(&r, 0, sizeof(r));
    r.key = new_key();
    r.cert = X509_new();
    X509_set_version(r.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(r.cert), serial++);
    X509_time_adj_ex(X509_getm_notBefore(r.cert), 0, from, NULL);
    X509_time_adj_ex(X509_getm_notAfter(r.cert), 0, to, NULL);
    X509_set_pubkey(r.cert, r.key);
    name = X509_get_subject_name(r.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(r.cert, issuer ? X509_get_subject_name(issuer->cert)
                                        : name);
    if (ca)
        add_ext(r.cert, issuer ? issuer->cert : NULL, NID_basic_constraints,
                "critical,CA:TRUE");
    if (sans)
        add_ext(r.cert, issuer ? issuer->cert : NULL, NID_subject_alt_name,
                sans);
    assert_true(X509_sign(r.cert, issuer ? issuer->key : r.key,
                          EVP_sha256()) > 0);
    r.cert_pem = cert_to_pem(r.cert);
    r.key_pem = key_to_pem(r.key);
    return r;
}

static void drop(struct issued *r)
{
    X509_free(r->cert);
    EVP_PKEY_free(r->key);
    free(r->cert_pem);
    free(r->key_pem);
}

static char *concat(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

static enum tlspair_err check(const char *crt, const char *key,
                              const char *host, struct tlspair_info *info)
{
    char err[256];
    enum tlspair_err e = tlspair_validate(crt, strlen(crt), key, strlen(key),
                                          host, time(NULL), info, err,
                                          sizeof(err));
    if (e != TLSPAIR_OK)
        assert_true(strlen(err) > 0);   /* every failure explains itself */
    return e;
}

/* ---- host matching ------------------------------------------------------- */

static void test_exact_names_match_case_insensitively(void **state)
{
    (void)state;
    assert_true(tlspair_host_matches("a.example.com", "a.example.com"));
    assert_true(tlspair_host_matches("A.Example.COM", "a.example.com"));
    assert_true(tlspair_host_matches("a.example.com.", "a.example.com"));
    assert_false(tlspair_host_matches("a.example.com", "b.example.com"));
    assert_false(tlspair_host_matches("example.com", "a.example.com"));
}

static void test_wildcard_covers_exactly_one_leftmost_label(void **state)
{
    (void)state;
    assert_true(tlspair_host_matches("*.example.com", "a.example.com"));
    assert_false(tlspair_host_matches("*.example.com", "example.com"));
    assert_false(tlspair_host_matches("*.example.com", "a.b.example.com"));
    assert_false(tlspair_host_matches("*.example.com", ".example.com"));
}

static void test_partial_and_inner_wildcards_never_match(void **state)
{
    (void)state;
    assert_false(tlspair_host_matches("f*.example.com", "foo.example.com"));
    assert_false(tlspair_host_matches("*oo.example.com", "foo.example.com"));
    assert_false(tlspair_host_matches("a.*.example.com", "a.b.example.com"));
    assert_false(tlspair_host_matches("*.*.example.com", "a.b.example.com"));
    assert_false(tlspair_host_matches("*", "com"));
    assert_false(tlspair_host_matches("*.com", "example.com"));
}

static void test_wildcard_host_needs_identical_pattern(void **state)
{
    (void)state;
    assert_true(tlspair_host_matches("*.example.com", "*.example.com"));
    assert_false(tlspair_host_matches("a.example.com", "*.example.com"));
    assert_false(tlspair_host_matches("*.b.example.com", "*.example.com"));
}

/* ---- validation ---------------------------------------------------------- */

static void test_valid_leaf_with_san_is_accepted_and_described(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com",
                              "DNS:a.example.com,DNS:www.example.com",
                              -DAY, 30 * DAY, 0);
    struct tlspair_info info;

    (void)state;
    assert_int_equal(check(leaf.cert_pem, leaf.key_pem, "www.example.com",
                           &info), TLSPAIR_OK);
    assert_string_equal(info.subject, "CN=a.example.com");
    assert_string_equal(info.issuer, "CN=Test CA");
    assert_string_equal(info.sans, "a.example.com,www.example.com");
    assert_int_equal(info.chain_len, 1);
    assert_int_equal(strlen(info.sha256), 64);
    assert_true(info.not_after > time(NULL) + 29 * DAY);
    /* No host given: the host check is skipped. */
    assert_int_equal(check(leaf.cert_pem, leaf.key_pem, NULL, NULL),
                     TLSPAIR_OK);
    drop(&leaf);
    drop(&ca);
}

static void test_wildcard_certificate_covers_subdomain_only(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued w = make(&ca, "*.example.com", "DNS:*.example.com", -DAY,
                           30 * DAY, 0);

    (void)state;
    assert_int_equal(check(w.cert_pem, w.key_pem, "shop.example.com", NULL),
                     TLSPAIR_OK);
    assert_int_equal(check(w.cert_pem, w.key_pem, "example.com", NULL),
                     TLSPAIR_ERR_HOST_MISMATCH);
    assert_int_equal(check(w.cert_pem, w.key_pem, "a.shop.example.com", NULL),
                     TLSPAIR_ERR_HOST_MISMATCH);
    drop(&w);
    drop(&ca);
}

static void test_wrong_host_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                              30 * DAY, 0);

    (void)state;
    assert_int_equal(check(leaf.cert_pem, leaf.key_pem, "evil.example.org",
                           NULL), TLSPAIR_ERR_HOST_MISMATCH);
    drop(&leaf);
    drop(&ca);
}

static void test_common_name_without_san_is_never_used(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com", NULL, -DAY, 30 * DAY, 0);

    (void)state;
    assert_int_equal(check(leaf.cert_pem, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_HOST_MISMATCH);
    drop(&leaf);
    drop(&ca);
}

static void test_key_of_another_certificate_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued a = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                           30 * DAY, 0);
    struct issued b = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                           30 * DAY, 0);

    (void)state;
    assert_int_equal(check(a.cert_pem, b.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_KEY_MISMATCH);
    drop(&a);
    drop(&b);
    drop(&ca);
}

static void test_expired_and_not_yet_valid_are_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -30 * DAY, 365 * DAY, 1);
    struct issued old = make(&ca, "a.example.com", "DNS:a.example.com",
                             -20 * DAY, -DAY, 0);
    struct issued future = make(&ca, "a.example.com", "DNS:a.example.com",
                                DAY, 30 * DAY, 0);

    (void)state;
    assert_int_equal(check(old.cert_pem, old.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_EXPIRED);
    assert_int_equal(check(future.cert_pem, future.key_pem, "a.example.com",
                           NULL), TLSPAIR_ERR_NOT_YET_VALID);
    drop(&old);
    drop(&future);
    drop(&ca);
}

static void test_expired_intermediate_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -30 * DAY, 365 * DAY, 1);
    struct issued inter = make(&ca, "Old Intermediate", NULL, -20 * DAY, -DAY, 1);
    struct issued leaf = make(&inter, "a.example.com", "DNS:a.example.com",
                              -DAY, 30 * DAY, 0);
    char *chain = concat(leaf.cert_pem, inter.cert_pem);

    (void)state;
    assert_int_equal(check(chain, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_EXPIRED);
    free(chain);
    drop(&leaf);
    drop(&inter);
    drop(&ca);
}

/* The controller's check for Secrets (as ingress-nginx): dates are
 * reported, not failed; every other check still fails the pair. */
static void test_dates_apart_reports_expiry_and_still_checks_the_rest(
    void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -30 * DAY, 365 * DAY, 1);
    struct issued old = make(&ca, "a.example.com", "DNS:a.example.com",
                             -20 * DAY, -DAY, 0);
    struct issued future = make(&ca, "a.example.com", "DNS:a.example.com",
                                DAY, 30 * DAY, 0);
    struct issued other = make(&ca, "a.example.com", "DNS:a.example.com",
                               -DAY, 30 * DAY, 0);
    struct tlspair_info info;
    char err[256];

    (void)state;
    assert_int_equal(tlspair_validate_dates_apart(
                         old.cert_pem, strlen(old.cert_pem), old.key_pem,
                         strlen(old.key_pem), "a.example.com", time(NULL),
                         &info, err, sizeof(err)), TLSPAIR_OK);
    assert_int_equal(info.dates, TLSPAIR_ERR_EXPIRED);
    assert_non_null(strstr(info.dates_msg, "leaf certificate 0"));
    assert_non_null(strstr(info.dates_msg, "is expired"));
    assert_int_equal(tlspair_validate_dates_apart(
                         future.cert_pem, strlen(future.cert_pem),
                         future.key_pem, strlen(future.key_pem), NULL,
                         time(NULL), &info, err, sizeof(err)), TLSPAIR_OK);
    assert_int_equal(info.dates, TLSPAIR_ERR_NOT_YET_VALID);
    /* an expired pair with the wrong key, or for another host: refused */
    assert_int_equal(tlspair_validate_dates_apart(
                         old.cert_pem, strlen(old.cert_pem), other.key_pem,
                         strlen(other.key_pem), NULL, time(NULL), &info, err,
                         sizeof(err)), TLSPAIR_ERR_KEY_MISMATCH);
    assert_int_equal(tlspair_validate_dates_apart(
                         old.cert_pem, strlen(old.cert_pem), old.key_pem,
                         strlen(old.key_pem), "b.example.com", time(NULL),
                         &info, err, sizeof(err)), TLSPAIR_ERR_HOST_MISMATCH);
    /* a valid pair has no date problem */
    assert_int_equal(tlspair_validate_dates_apart(
                         other.cert_pem, strlen(other.cert_pem),
                         other.key_pem, strlen(other.key_pem), NULL,
                         time(NULL), &info, err, sizeof(err)), TLSPAIR_OK);
    assert_int_equal(info.dates, TLSPAIR_OK);
    assert_string_equal(info.dates_msg, "");
    drop(&old);
    drop(&future);
    drop(&other);
    drop(&ca);
}

static void test_chain_in_issuing_order_is_accepted(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued inter = make(&ca, "Intermediate", NULL, -DAY, 300 * DAY, 1);
    struct issued leaf = make(&inter, "a.example.com", "DNS:a.example.com",
                              -DAY, 30 * DAY, 0);
    char *chain = concat(leaf.cert_pem, inter.cert_pem);
    char *full = concat(chain, ca.cert_pem);
    struct tlspair_info info;

    (void)state;
    assert_int_equal(check(chain, leaf.key_pem, "a.example.com", &info),
                     TLSPAIR_OK);
    assert_int_equal(info.chain_len, 2);
    assert_int_equal(check(full, leaf.key_pem, "a.example.com", &info),
                     TLSPAIR_OK);
    assert_int_equal(info.chain_len, 3);
    free(chain);
    free(full);
    drop(&leaf);
    drop(&inter);
    drop(&ca);
}

static void test_chain_out_of_order_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued inter = make(&ca, "Intermediate", NULL, -DAY, 300 * DAY, 1);
    struct issued leaf = make(&inter, "a.example.com", "DNS:a.example.com",
                              -DAY, 30 * DAY, 0);
    struct issued other = make(NULL, "Unrelated CA", NULL, -DAY, 300 * DAY, 1);
    char *skip = concat(leaf.cert_pem, ca.cert_pem);      /* skips inter */
    char *wrong = concat(leaf.cert_pem, other.cert_pem);
    char *reversed = concat(inter.cert_pem, leaf.cert_pem);

    (void)state;
    assert_int_equal(check(skip, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_CHAIN_ORDER);
    assert_int_equal(check(wrong, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_CHAIN_ORDER);
    /* Intermediate first: the key belongs to the second certificate. */
    assert_int_equal(check(reversed, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_KEY_MISMATCH);
    free(skip);
    free(wrong);
    free(reversed);
    drop(&leaf);
    drop(&inter);
    drop(&other);
    drop(&ca);
}

static void test_garbage_pem_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                              30 * DAY, 0);
    char *truncated = strndup(leaf.cert_pem, strlen(leaf.cert_pem) / 2);
    char *extra = concat(leaf.cert_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                        "-----END CERTIFICATE-----\n");

    (void)state;
    assert_int_equal(check("hello", leaf.key_pem, NULL, NULL),
                     TLSPAIR_ERR_CERT_PEM);
    assert_int_equal(check(truncated, leaf.key_pem, NULL, NULL),
                     TLSPAIR_ERR_CERT_PEM);
    assert_int_equal(check(extra, leaf.key_pem, NULL, NULL),
                     TLSPAIR_ERR_CERT_PEM);
    assert_int_equal(check(leaf.cert_pem, "not a key", NULL, NULL),
                     TLSPAIR_ERR_KEY_PEM);
    assert_int_equal(check(leaf.key_pem, leaf.key_pem, NULL, NULL),
                     TLSPAIR_ERR_CERT_PEM);
    assert_int_equal(tlspair_validate(NULL, 0, leaf.key_pem,
                                      strlen(leaf.key_pem), NULL, time(NULL),
                                      NULL, NULL, 0), TLSPAIR_ERR_CERT_PEM);
    free(truncated);
    free(extra);
    drop(&leaf);
    drop(&ca);
}

static void test_encrypted_key_is_rejected_without_prompting(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                              30 * DAY, 0);
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *enc;
    long n;

    (void)state;
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, leaf.key,
                                                   EVP_aes_128_cbc(), NULL, 0,
                                                   NULL, "secret"), 1);
    n = BIO_get_mem_data(b, &data);
    enc = strndup(data, (size_t)n);
    assert_int_equal(check(leaf.cert_pem, enc, "a.example.com", NULL),
                     TLSPAIR_ERR_KEY_PEM);
    free(enc);
    BIO_free(b);
    drop(&leaf);
    drop(&ca);
}

static void test_too_long_chain_is_rejected(void **state)
{
    struct issued ca = make(NULL, "Test CA", NULL, -DAY, 365 * DAY, 1);
    struct issued leaf = make(&ca, "a.example.com", "DNS:a.example.com", -DAY,
                              30 * DAY, 0);
    char *chain = strdup(leaf.cert_pem);

    (void)state;
    for (int i = 0; i < TLSPAIR_MAX_CHAIN; i++) {
        char *next = concat(chain, ca.cert_pem);
        free(chain);
        chain = next;
    }
    assert_int_equal(check(chain, leaf.key_pem, "a.example.com", NULL),
                     TLSPAIR_ERR_CERT_PEM);
    free(chain);
    drop(&leaf);
    drop(&ca);
}

static void test_error_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(tlspair_err_name(TLSPAIR_ERR_KEY_MISMATCH),
                        "key_mismatch");
    assert_string_equal(tlspair_err_name(TLSPAIR_ERR_HOST_MISMATCH),
                        "host_mismatch");
    assert_string_equal(tlspair_err_name((enum tlspair_err)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_names_match_case_insensitively),
        cmocka_unit_test(test_wildcard_covers_exactly_one_leftmost_label),
        cmocka_unit_test(test_partial_and_inner_wildcards_never_match),
        cmocka_unit_test(test_wildcard_host_needs_identical_pattern),
        cmocka_unit_test(test_valid_leaf_with_san_is_accepted_and_described),
        cmocka_unit_test(test_wildcard_certificate_covers_subdomain_only),
        cmocka_unit_test(test_wrong_host_is_rejected),
        cmocka_unit_test(test_common_name_without_san_is_never_used),
        cmocka_unit_test(test_key_of_another_certificate_is_rejected),
        cmocka_unit_test(test_expired_and_not_yet_valid_are_rejected),
        cmocka_unit_test(test_expired_intermediate_is_rejected),
        cmocka_unit_test(test_dates_apart_reports_expiry_and_still_checks_the_rest),
        cmocka_unit_test(test_chain_in_issuing_order_is_accepted),
        cmocka_unit_test(test_chain_out_of_order_is_rejected),
        cmocka_unit_test(test_garbage_pem_is_rejected),
        cmocka_unit_test(test_encrypted_key_is_rejected_without_prompting),
        cmocka_unit_test(test_too_long_chain_is_rejected),
        cmocka_unit_test(test_error_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
