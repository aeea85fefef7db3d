/*
 * test_pipeline.c - the certificate pipeline's thread, notify fd, snapshot
 * and metrics with Vault unreachable (a closed loopback port): pairs left on
 * disk are adopted and signalled, every host reports the outage, dropped
 * hosts lose their files, and shutdown interrupts the worker. Runs under
 * ASan+UBSan too (make unit-asan). The Vault side is covered by the
 * integration tests against the stand-in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "vault/certs.h"

#define DAY (24L * 3600L)
#define WAIT_MS 5000

/* A loopback port with nothing listening (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void write_file(const char *dir, const char *name, const char *data)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

/* A self-signed pair for host, written as <host>.crt/.key into dir. */
static void write_pair(const char *dir, const char *host)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    BIO *b;
    char san[300], name[300], *data;
    long n;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, NULL);
    X509_time_adj_ex(X509_getm_notAfter(x), 30, 0, NULL);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)host, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    snprintf(san, sizeof(san), "DNS:%s", host);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);

    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &data);
    snprintf(name, sizeof(name), "%s.crt", host);
    {
        char *copy = strndup(data, (size_t)n);
        write_file(dir, name, copy);
        free(copy);
    }
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &data);
    snprintf(name, sizeof(name), "%s.key", host);
    {
        char *copy = strndup(data, (size_t)n);
        write_file(dir, name, copy);
        free(copy);
    }
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
}

struct fixture {
    char dir[64];
    char addr[64];
    struct vault_config vc;
    struct certs_config cc;
    struct certs_pipeline *p;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];

    strcpy(f->dir, "/tmp/portico-pipeline-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    write_pair(f->dir, "a.example.com");
    vault_config_init(&f->vc);
    free(f->vc.addr);
    snprintf(f->addr, sizeof(f->addr), "http://127.0.0.1:%d", closed_port());
    f->vc.addr = strdup(f->addr);
    f->vc.token = strdup("t-unit");
    f->vc.retries = 0;
    certs_config_init(&f->cc);
    f->cc.dir = f->dir;
    f->cc.retry_min_ms = 100;
    f->cc.refresh_ms = 1000;
    f->p = certs_new(&f->cc, &f->vc, err, sizeof(err));
    assert_non_null(f->p);
    assert_int_equal(certs_start(f->p), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    certs_free(f->p);
    vault_config_free(&f->vc);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int wait_readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

/* Polls snapshots until host has status st (or the wait ends). */
static int wait_status(struct certs_pipeline *p, const char *host,
                       enum certs_status st)
{
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        struct certs_snapshot s;
        const struct certs_host_state *h;
        int ok;

        assert_int_equal(certs_snapshot(p, &s), 0);
        h = certs_snapshot_find(&s, host);
        ok = h && h->status == st;
        certs_snapshot_free(&s);
        if (ok)
            return 1;
        usleep(20 * 1000);
    }
    return 0;
}

static void test_pair_on_disk_is_adopted_and_signalled_while_vault_is_down(void **state)
{
    struct fixture *f = *state;
    const char *hosts[] = {"a.example.com", "b.example.com"};
    struct certs_snapshot s;
    const struct certs_host_state *a, *b;

    assert_int_equal(certs_set_hosts(f->p, hosts, 2), 0);
    assert_true(wait_readable(certs_notify_fd(f->p), WAIT_MS));
    certs_notify_ack(f->p);
    assert_false(wait_readable(certs_notify_fd(f->p), 0));   /* drained */
    assert_true(wait_status(f->p, "a.example.com", CERTS_VAULT_ERROR));
    assert_true(wait_status(f->p, "b.example.com", CERTS_VAULT_ERROR));

    assert_int_equal(certs_snapshot(f->p, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.hosts[0].host, "a.example.com");   /* sorted */
    a = certs_snapshot_find(&s, "a.example.com");
    b = certs_snapshot_find(&s, "b.example.com");
    assert_true(a->has_pair);
    assert_string_equal(a->source, "disk");
    assert_non_null(strstr(a->crt_path, "/a.example.com.crt"));
    assert_true(a->not_after > time(NULL) + 29 * DAY);
    assert_string_equal(a->error_reason, "network");
    assert_non_null(strstr(a->last_error, "127.0.0.1"));
    assert_null(strstr(a->last_error, "t-unit"));            /* no token */
    assert_false(b->has_pair);
    assert_null(b->crt_path);
    assert_true(s.generation >= 1);
    certs_snapshot_free(&s);
}

static void test_metrics_show_expiry_status_and_errors(void **state)
{
    struct fixture *f = *state;
    const char *hosts[] = {"a.example.com"};
    struct buf out;

    assert_int_equal(certs_set_hosts(f->p, hosts, 1), 0);
    assert_true(wait_status(f->p, "a.example.com", CERTS_VAULT_ERROR));
    buf_init(&out);
    certs_expiry_write(f->p, &out);
    certs_metrics_write(f->p, &out);
    assert_false(buf_failed(&out));
    assert_non_null(strstr(out.data,
        "portico_controller_certificate_expiry_timestamp_seconds{host=\"a.example.com\",source=\"vault\"}"));
    assert_non_null(strstr(out.data,
        "portico_controller_vault_certificate_status{host=\"a.example.com\",status=\"vault_error\"} 1"));
    assert_non_null(strstr(out.data,
        "portico_controller_vault_fetch_errors_total{reason=\"network\"} "));
    assert_null(strstr(out.data,
        "portico_controller_vault_fetch_errors_total{reason=\"network\"} 0"));
    assert_null(strstr(out.data, "t-unit"));
    buf_free(&out);
}

static void test_dropped_hosts_lose_their_files(void **state)
{
    struct fixture *f = *state;
    const char *both[] = {"a.example.com", "a.example.com", "c.example.com"};
    const char *only_c[] = {"c.example.com"};
    struct certs_snapshot s;
    char path[256];

    assert_int_equal(certs_set_hosts(f->p, both, 3), 0);   /* duplicate ignored */
    assert_true(wait_readable(certs_notify_fd(f->p), WAIT_MS));
    assert_int_equal(certs_snapshot(f->p, &s), 0);
    assert_int_equal(s.n, 2);
    certs_snapshot_free(&s);
    assert_int_equal(certs_set_hosts(f->p, only_c, 1), 0);
    snprintf(path, sizeof(path), "%s/a.example.com.crt", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/a.example.com.key", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(certs_snapshot(f->p, &s), 0);
    assert_int_equal(s.n, 1);
    assert_null(certs_snapshot_find(&s, "a.example.com"));
    certs_snapshot_free(&s);
}

static void test_refresh_and_free_while_fetching_are_safe(void **state)
{
    struct fixture *f = *state;
    const char *hosts[] = {"x1.example.com", "x2.example.com", "x3.example.com"};

    /* Hammer the API from this thread while the worker runs; teardown
     * then stops the worker mid-flight. */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(certs_set_hosts(f->p, hosts, (size_t)(i % 3) + 1), 0);
        certs_refresh_now(f->p);
        certs_notify_ack(f->p);
    }
}

static void test_large_host_sets_are_deduplicated_and_sorted(void **state)
{
    struct fixture *f = *state;
    enum { N = 3000 };
    static char names[N][32];
    const char *hosts[N + 10];
    struct certs_snapshot s;
    size_t n = 0;

    for (int i = 0; i < N; i++) {       /* a scrambled order */
        snprintf(names[i], sizeof(names[i]), "h%d.example.com", (i * 7919) % N);
        hosts[n++] = names[i];
    }
    for (int i = 0; i < 10; i++)
        hosts[n++] = names[i];          /* duplicates */
    assert_int_equal(certs_set_hosts(f->p, hosts, n), 0);
    assert_int_equal(certs_snapshot(f->p, &s), 0);
    assert_int_equal(s.n, N);
    for (size_t i = 1; i < s.n; i++)
        assert_true(strcmp(s.hosts[i - 1].host, s.hosts[i].host) < 0);
    assert_non_null(certs_snapshot_find(&s, "h1234.example.com"));
    assert_null(certs_snapshot_find(&s, "h3000.example.com"));
    certs_snapshot_free(&s);
    /* Half of them go away. */
    assert_int_equal(certs_set_hosts(f->p, hosts, N / 2), 0);
    assert_int_equal(certs_snapshot(f->p, &s), 0);
    assert_int_equal(s.n, N / 2);
    certs_snapshot_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_pair_on_disk_is_adopted_and_signalled_while_vault_is_down,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_metrics_show_expiry_status_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dropped_hosts_lose_their_files, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_refresh_and_free_while_fetching_are_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_large_host_sets_are_deduplicated_and_sorted, setup, teardown),
    };
    log_init("test_pipeline", LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
