/* Unit tests for the DNS wire parser and writer (sidecar-dnsmasq/dnswire.c)
 * and the answer shaping built on it (answer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar-dnsmasq/answer.h"
#include "sidecar-dnsmasq/dnswire.h"

/* "\3www\7example\3com\0" */
static const uint8_t WWW[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p',
                              'l', 'e', 3, 'c', 'o', 'm', 0};

static size_t put_header(uint8_t *m, uint16_t id, uint16_t flags, uint16_t qd,
                         uint16_t an, uint16_t ns, uint16_t ar)
{
    dns_put16(m, id);
    dns_put16(m + 2, flags);
    dns_put16(m + 4, qd);
    dns_put16(m + 6, an);
    dns_put16(m + 8, ns);
    dns_put16(m + 10, ar);
    return DNS_HEADER_LEN;
}

static size_t put_question(uint8_t *m, size_t off, const uint8_t *name,
                           size_t nlen, uint16_t type)
{
    memcpy(m + off, name, nlen);
    off += nlen;
    dns_put16(m + off, type);
    dns_put16(m + off + 2, DNS_C_IN);
    return off + 4;
}

static void name_read_follows_backward_pointers(void **state)
{
    uint8_t m[64], out[DNS_MAX_NAME];
    size_t off = put_question(m, put_header(m, 1, 0, 1, 0, 0, 0), WWW,
                              sizeof(WWW), DNS_T_A);
    size_t at = off;

    /* "\4mail" + pointer to "example.com" at 12 + 4 */
    m[off++] = 4;
    memcpy(m + off, "mail", 4);
    off += 4;
    m[off++] = 0xC0;
    m[off++] = DNS_HEADER_LEN + 4;
    size_t pos = at;
    int n = dns_name_read(m, off, &pos, out);
    assert_int_equal(n, 5 + 13);
    assert_int_equal(pos, off);     /* past the pointer, not the target */
    assert_memory_equal(out, "\4mail\7example\3com\0", 18);
}

static void name_read_rejects_pointer_loops(void **state)
{
    uint8_t m[32];
    size_t off;
    uint8_t out[DNS_MAX_NAME];

    put_header(m, 1, 0, 1, 0, 0, 0);
    /* A pointer to itself. */
    m[12] = 0xC0;
    m[13] = 12;
    off = 12;
    assert_int_equal(dns_name_read(m, 14, &off, out), -1);
    /* Two pointers pointing at each other: 14 -> 16, 16 -> 14. */
    m[14] = 0xC0; m[15] = 16; m[16] = 0xC0; m[17] = 14;
    off = 14;
    assert_int_equal(dns_name_read(m, 18, &off, out), -1);
    off = 16;
    assert_int_equal(dns_name_read(m, 18, &off, out), -1);
    /* A forward pointer. */
    m[12] = 0xC0; m[13] = 20;
    off = 12;
    assert_int_equal(dns_name_read(m, 22, &off, out), -1);
}

static void name_read_rejects_oversized_labels_and_names(void **state)
{
    uint8_t m[600], out[DNS_MAX_NAME];
    size_t off = 0;

    /* Label length 64 (0x40) is an obsolete extended label type. */
    m[0] = 64;
    memset(m + 1, 'a', 64);
    m[65] = 0;
    assert_int_equal(dns_name_read(m, 66, &off, out), -1);
    /* 5 labels of 63 bytes = 320 > 255. */
    for (int i = 0; i < 5; i++) {
        m[i * 64] = 63;
        memset(m + i * 64 + 1, 'b', 63);
    }
    m[320] = 0;
    off = 0;
    assert_int_equal(dns_name_read(m, 321, &off, out), -1);
    /* 3 labels of 63 + one of 61 = 255 exactly: accepted. */
    for (int i = 0; i < 3; i++) {
        m[i * 64] = 63;
        memset(m + i * 64 + 1, 'c', 63);
    }
    m[192] = 61;
    memset(m + 193, 'd', 61);
    m[254] = 0;
    off = 0;
    assert_int_equal(dns_name_read(m, 255, &off, out), 255);
}

static void name_read_rejects_truncated_input(void **state)
{
    uint8_t out[DNS_MAX_NAME];

    for (size_t len = 0; len < sizeof(WWW); len++) {
        size_t off = 0;
        assert_int_equal(dns_name_read(WWW, len, &off, out), -1);
    }
    const uint8_t half_ptr[] = {0xC0};
    size_t off = 0;
    assert_int_equal(dns_name_read(half_ptr, 1, &off, out), -1);
}

static void name_text_round_trip_lowercases(void **state)
{
    uint8_t w[DNS_MAX_NAME];
    char t[DNS_MAX_NAME * 4];

    assert_int_equal(dns_name_from_text("WWW.Example.COM.", w), (int)sizeof(WWW));
    assert_memory_equal(w, WWW, sizeof(WWW));
    assert_int_equal(dns_name_to_text(w, t, sizeof(t)), 0);
    assert_string_equal(t, "www.example.com");
    assert_int_equal(dns_name_from_text("a..b", w), -1);
    assert_int_equal(dns_name_from_text("", w), -1);
    assert_int_equal(dns_name_from_text(".", w), 1);
}

static void query_parse_reads_question_and_edns(void **state)
{
    uint8_t m[128];
    struct dns_query q;
    const uint8_t upper[] = {3, 'W', 'w', 'W', 7, 'e', 'x', 'a', 'm', 'p',
                             'l', 'e', 3, 'c', 'o', 'm', 0};
    size_t off = put_question(m, put_header(m, 0xBEEF, DNS_F_RD, 1, 0, 0, 1),
                              upper, sizeof(upper), DNS_T_AAAA);

    dns_opt_write(m + off, 1400);
    dns_put32(m + off + 5, 0x00008000);     /* DO bit */
    off += DNS_OPT_RR_LEN;
    assert_int_equal(dns_query_parse(m, off, &q), DNS_PARSE_OK);
    assert_int_equal(q.h.id, 0xBEEF);
    assert_int_equal(q.qtype, DNS_T_AAAA);
    assert_memory_equal(q.qname, upper, sizeof(upper));
    assert_memory_equal(q.lname, WWW, sizeof(WWW));
    assert_true(q.has_edns);
    assert_int_equal(q.edns_udp, 1400);
    assert_true(q.edns_do);
}

static void query_parse_classifies_bad_packets(void **state)
{
    uint8_t m[128] = {0};
    struct dns_query q;
    size_t off;

    assert_int_equal(dns_query_parse(m, 5, &q), DNS_PARSE_DROP);
    off = put_question(m, put_header(m, 1, DNS_F_QR, 1, 0, 0, 0), WWW,
                       sizeof(WWW), DNS_T_A);
    assert_int_equal(dns_query_parse(m, off, &q), DNS_PARSE_DROP);
    off = put_question(m, put_header(m, 1, 0, 2, 0, 0, 0), WWW, sizeof(WWW),
                       DNS_T_A);
    assert_int_equal(dns_query_parse(m, off, &q), DNS_PARSE_FORMERR);
    off = put_question(m, put_header(m, 1, 0, 1, 0, 0, 0), WWW, sizeof(WWW),
                       DNS_T_A);
    assert_int_equal(dns_query_parse(m, off - 1, &q), DNS_PARSE_FORMERR);
    put_header(m, 1, 2 << 11, 1, 0, 0, 0);  /* opcode STATUS */
    assert_int_equal(dns_query_parse(m, off, &q), DNS_PARSE_NOTIMP);
    /* OPT in the answer section is misplaced. */
    off = put_question(m, put_header(m, 1, 0, 1, 1, 0, 0), WWW, sizeof(WWW),
                       DNS_T_A);
    dns_opt_write(m + off, 1232);
    assert_int_equal(dns_query_parse(m, off + DNS_OPT_RR_LEN, &q),
                     DNS_PARSE_FORMERR);
    /* Two OPT records. */
    off = put_question(m, put_header(m, 1, 0, 1, 0, 0, 2), WWW, sizeof(WWW),
                       DNS_T_A);
    dns_opt_write(m + off, 1232);
    dns_opt_write(m + off + DNS_OPT_RR_LEN, 1232);
    assert_int_equal(dns_query_parse(m, off + 2 * DNS_OPT_RR_LEN, &q),
                     DNS_PARSE_FORMERR);
    /* A tiny EDNS size is raised to 512. */
    off = put_question(m, put_header(m, 1, 0, 1, 0, 0, 1), WWW, sizeof(WWW),
                       DNS_T_A);
    dns_opt_write(m + off, 100);
    assert_int_equal(dns_query_parse(m, off + DNS_OPT_RR_LEN, &q), DNS_PARSE_OK);
    assert_int_equal(q.edns_udp, 512);
}

static void query_build_with_and_without_edns(void **state)
{
    uint8_t buf[DNS_HEADER_LEN + sizeof(WWW) + DNS_QFIXED_LEN + DNS_OPT_RR_LEN];
    struct dns_query q;
    int n;

    n = dns_query_build(buf, sizeof(buf), 0x1234, WWW, sizeof(WWW), DNS_T_A,
                        DNS_C_IN, DNS_EDNS_UDP);
    assert_int_equal(n, (int)sizeof(buf));
    assert_int_equal(dns_query_parse(buf, (size_t)n, &q), DNS_PARSE_OK);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_udp, DNS_EDNS_UDP);
    assert_int_equal(q.h.arcount, 1);

    /* udp_size 0: a plain query, for upstreams that reject EDNS. */
    n = dns_query_build(buf, sizeof(buf), 0x1234, WWW, sizeof(WWW), DNS_T_A,
                        DNS_C_IN, 0);
    assert_int_equal(n, (int)(sizeof(buf) - DNS_OPT_RR_LEN));
    assert_int_equal(dns_query_parse(buf, (size_t)n, &q), DNS_PARSE_OK);
    assert_false(q.has_edns);
    assert_int_equal(q.h.arcount, 0);
    assert_int_equal(q.h.id, 0x1234);
    assert_true(q.h.flags & DNS_F_RD);
    assert_memory_equal(q.lname, WWW, sizeof(WWW));

    /* Too small a buffer for the OPT RR, big enough without it. */
    assert_int_equal(dns_query_build(buf, sizeof(buf) - 1, 1, WWW, sizeof(WWW),
                                     DNS_T_A, DNS_C_IN, DNS_EDNS_UDP), -1);
    assert_true(dns_query_build(buf, sizeof(buf) - 1, 1, WWW, sizeof(WWW),
                                DNS_T_A, DNS_C_IN, 0) > 0);
}

static void writer_compresses_repeated_names(void **state)
{
    static struct dns_writer w;
    uint8_t buf[256], out[DNS_MAX_NAME];
    const uint8_t mail[] = "\4mail\7example\3com";    /* + NUL = 18 bytes */
    size_t off;

    dnsw_init(&w, buf, sizeof(buf));
    dnsw_bytes(&w, "\0\0\0\0\0\0\0\0\0\0\0\0", DNS_HEADER_LEN);
    dnsw_name(&w, WWW, sizeof(WWW), 1);
    assert_int_equal(w.len, DNS_HEADER_LEN + sizeof(WWW));
    dnsw_name(&w, WWW, sizeof(WWW), 1);         /* whole name: 2 bytes */
    assert_int_equal(w.len, DNS_HEADER_LEN + sizeof(WWW) + 2);
    dnsw_name(&w, mail, sizeof(mail), 1);       /* "\4mail" + pointer */
    assert_int_equal(w.len, DNS_HEADER_LEN + sizeof(WWW) + 2 + 5 + 2);
    off = DNS_HEADER_LEN + sizeof(WWW) + 2;
    assert_int_equal(dns_name_read(buf, w.len, &off, out), (int)sizeof(mail));
    assert_memory_equal(out, mail, sizeof(mail));
    dnsw_name(&w, WWW, sizeof(WWW), 0);         /* not compressed */
    assert_int_equal(w.len, DNS_HEADER_LEN + sizeof(WWW) * 2 + 2 + 7);
    assert_false(w.overflow);
}

static void writer_reports_overflow(void **state)
{
    static struct dns_writer w;
    uint8_t buf[10];

    dnsw_init(&w, buf, sizeof(buf));
    dnsw_name(&w, WWW, sizeof(WWW), 1);
    assert_true(w.overflow);
}

/* An upstream response: www.example.com CNAME web.example.com, web A x2,
 * names compressed by pointers, plus an OPT record. */
static size_t sample_response(uint8_t *m, uint16_t rcode, uint32_t ttl)
{
    size_t off = put_question(m, put_header(m, 7, DNS_F_QR | DNS_F_RD | DNS_F_RA | rcode,
                                            1, 3, 0, 1),
                              WWW, sizeof(WWW), DNS_T_A);
    size_t web_at;

    m[off++] = 0xC0; m[off++] = DNS_HEADER_LEN;
    dns_put16(m + off, DNS_T_CNAME); dns_put16(m + off + 2, DNS_C_IN);
    dns_put32(m + off + 4, ttl); dns_put16(m + off + 8, 6);
    off += 10;
    web_at = off;
    m[off++] = 3; memcpy(m + off, "web", 3); off += 3;
    m[off++] = 0xC0; m[off++] = DNS_HEADER_LEN + 4;
    for (int i = 0; i < 2; i++) {
        m[off++] = 0xC0; m[off++] = (uint8_t)web_at;
        dns_put16(m + off, DNS_T_A); dns_put16(m + off + 2, DNS_C_IN);
        dns_put32(m + off + 4, ttl + 100); dns_put16(m + off + 8, 4);
        off += 10;
        m[off++] = 10; m[off++] = 0; m[off++] = 0; m[off++] = (uint8_t)(i + 1);
    }
    dns_opt_write(m + off, 4096);
    return off + DNS_OPT_RR_LEN;
}

static void compile_rewrites_response_without_opt(void **state)
{
    static struct dns_writer w;
    static struct dns_compiled c;
    uint8_t m[512], img[512];
    size_t len = sample_response(m, 0, 60);

    dnsw_init(&w, img, sizeof(img));
    assert_int_equal(dns_response_compile(m, len, WWW, sizeof(WWW), DNS_T_A,
                                          DNS_C_IN, &w, &c), 0);
    assert_int_equal(c.rcode, DNS_R_NOERROR);
    assert_int_equal(c.ancount, 3);
    assert_int_equal(c.arcount, 0);             /* OPT dropped */
    assert_int_equal(c.nttl, 3);
    assert_int_equal(c.min_ttl, 60);
    assert_true(c.has_answer_of_type);
    assert_int_equal(c.soa_min, -1);
    /* The compiled image parses back: walk all RRs. */
    size_t off = DNS_HEADER_LEN + sizeof(WWW) + 4;
    for (int i = 0; i < 3; i++) {
        struct dns_rr rr;
        assert_int_equal(dns_rr_read(img, w.len, &off, &rr), 0);
        assert_int_equal(dns_get32(img + c.ttl_offs[i]), rr.ttl);
    }
    assert_int_equal(off, w.len);
    /* The CNAME target decodes to web.example.com. */
    uint8_t name[DNS_MAX_NAME];
    size_t noff = DNS_HEADER_LEN + sizeof(WWW) + 4 + 2 + 10;
    assert_int_equal(dns_name_read(img, w.len, &noff, name), 17);
    assert_memory_equal(name, "\3web\7example\3com", 17);
}

static void compile_rejects_mismatch_and_garbage(void **state)
{
    static struct dns_writer w;
    static struct dns_compiled c;
    uint8_t m[512], img[512];
    size_t len = sample_response(m, 0, 60);
    const uint8_t other[] = "\3xyz\3com";

    dnsw_init(&w, img, sizeof(img));
    assert_int_equal(dns_response_compile(m, len, other, sizeof(other),
                                          DNS_T_A, DNS_C_IN, &w, &c), -1);
    dnsw_init(&w, img, sizeof(img));
    assert_int_equal(dns_response_compile(m, len, WWW, sizeof(WWW),
                                          DNS_T_AAAA, DNS_C_IN, &w, &c), -1);
    for (size_t cut = 0; cut < len - DNS_OPT_RR_LEN; cut++) {
        dnsw_init(&w, img, sizeof(img));
        assert_int_equal(dns_response_compile(m, cut, WWW, sizeof(WWW),
                                              DNS_T_A, DNS_C_IN, &w, &c), -1);
    }
}

static void compile_takes_negative_ttl_from_soa(void **state)
{
    static struct dns_writer w;
    static struct dns_compiled c;
    uint8_t m[512], img[512];
    size_t off = put_question(m, put_header(m, 7, DNS_F_QR | DNS_R_NXDOMAIN,
                                            1, 0, 1, 0),
                              WWW, sizeof(WWW), DNS_T_A);
    size_t rd;

    m[off++] = 0xC0; m[off++] = DNS_HEADER_LEN + 4;   /* example.com */
    dns_put16(m + off, DNS_T_SOA); dns_put16(m + off + 2, DNS_C_IN);
    dns_put32(m + off + 4, 900);
    off += 8;
    rd = off;
    off += 2;
    m[off++] = 2; m[off++] = 'n'; m[off++] = 's';
    m[off++] = 0xC0; m[off++] = DNS_HEADER_LEN + 4;
    m[off++] = 0xC0; m[off++] = DNS_HEADER_LEN + 4;
    for (int i = 0; i < 4; i++, off += 4)
        dns_put32(m + off, 1000);
    dns_put32(m + off, 3);          /* MINIMUM */
    off += 4;
    dns_put16(m + rd, (uint16_t)(off - rd - 2));
    dnsw_init(&w, img, sizeof(img));
    assert_int_equal(dns_response_compile(m, off, WWW, sizeof(WWW), DNS_T_A,
                                          DNS_C_IN, &w, &c), 0);
    assert_int_equal(c.rcode, DNS_R_NXDOMAIN);
    assert_int_equal(c.soa_min, 3);
    assert_false(c.has_answer_of_type);
}

static void answer_patches_id_case_ttl_and_edns(void **state)
{
    static struct dns_writer w;
    static struct dns_compiled c;
    uint8_t m[512], img[512], out[DNS_MAX_UDP];
    size_t len = sample_response(m, 0, 60);
    struct client_q cq = {0};
    const uint8_t upper[] = {3, 'W', 'W', 'W', 7, 'E', 'x', 'a', 'm', 'p',
                             'l', 'e', 3, 'c', 'o', 'm', 0};
    int trunc;

    dnsw_init(&w, img, sizeof(img));
    assert_int_equal(dns_response_compile(m, len, WWW, sizeof(WWW), DNS_T_A,
                                          DNS_C_IN, &w, &c), 0);
    cq.id = 0x4242;
    cq.flags = DNS_F_RD;
    memcpy(cq.qname, upper, sizeof(upper));
    cq.qname_len = sizeof(upper);
    cq.has_edns = 1;
    cq.limit = 1232;
    struct answer_src src = {img, w.len, c.ttl_offs, c.nttl, 17, 0};
    size_t n = answer_write(out, sizeof(out), &src, &cq, &trunc);
    assert_int_equal(n, w.len + DNS_OPT_RR_LEN);
    assert_false(trunc);
    assert_int_equal(dns_get16(out), 0x4242);
    assert_memory_equal(out + DNS_HEADER_LEN, upper, sizeof(upper));
    for (size_t i = 0; i < c.nttl; i++)
        assert_int_equal(dns_get32(out + c.ttl_offs[i]), 17);
    assert_int_equal(dns_get16(out + DNS_OFF_AR), 1);
    assert_true(dns_get16(out + DNS_OFF_FLAGS) & DNS_F_QR);
    /* Too small for the client's limit: TC, header and question only. */
    cq.has_edns = 0;
    cq.limit = 40;
    n = answer_write(out, sizeof(out), &src, &cq, &trunc);
    assert_true(trunc);
    assert_int_equal(n, DNS_HEADER_LEN + sizeof(upper) + 4);
    assert_true(dns_get16(out + DNS_OFF_FLAGS) & DNS_F_TC);
    assert_int_equal(dns_get16(out + DNS_OFF_AN), 0);
}

static void edns_version_1_gets_badvers(void **state)
{
    uint8_t m[128], out[512];
    struct dns_query q;
    struct client_q cq;
    size_t off = put_question(m, put_header(m, 0x1234, DNS_F_RD, 1, 0, 0, 1),
                              WWW, sizeof(WWW), DNS_T_A);
    size_t n;

    dns_opt_write(m + off, 1232);
    m[off + 6] = 1;                 /* EDNS version 1 */
    off += DNS_OPT_RR_LEN;
    assert_int_equal(dns_query_parse(m, off, &q), DNS_PARSE_OK);
    assert_int_equal(q.edns_version, 1);
    answer_client_from_query(&cq, &q, 0);
    n = answer_badvers(out, sizeof(out), m, off, &cq);
    assert_int_equal(n, off);       /* header + question + OPT */
    assert_int_equal(dns_get16(out), 0x1234);
    assert_int_equal(out[3] & DNS_F_RCODE, DNS_R_BADVERS & DNS_F_RCODE);
    assert_int_equal(out[n - DNS_OPT_RR_LEN + 5], DNS_R_BADVERS >> 4);
    assert_int_equal(dns_get16(out + DNS_OFF_AR), 1);
}

static void question_holds_a_whole_name_or_nothing(void **state)
{
    static const uint8_t name[] = "\3web\7example";
    uint8_t big[DNS_MAX_NAME + 1];
    struct dns_question q;

    assert_int_equal(dns_question_set(&q, name, sizeof(name), DNS_T_AAAA,
                                      DNS_C_IN), 0);
    assert_int_equal(q.len, sizeof(name));
    assert_memory_equal(q.name, name, sizeof(name));
    assert_int_equal(q.qtype, DNS_T_AAAA);
    assert_int_equal(q.qclass, DNS_C_IN);
    memset(big, 1, sizeof(big));
    assert_int_equal(dns_question_set(&q, big, sizeof(big), DNS_T_A,
                                      DNS_C_IN), -1);
    assert_int_equal(dns_question_set(&q, name, 0, DNS_T_A, DNS_C_IN), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name_read_follows_backward_pointers),
        cmocka_unit_test(name_read_rejects_pointer_loops),
        cmocka_unit_test(name_read_rejects_oversized_labels_and_names),
        cmocka_unit_test(name_read_rejects_truncated_input),
        cmocka_unit_test(name_text_round_trip_lowercases),
        cmocka_unit_test(query_parse_reads_question_and_edns),
        cmocka_unit_test(query_parse_classifies_bad_packets),
        cmocka_unit_test(query_build_with_and_without_edns),
        cmocka_unit_test(writer_compresses_repeated_names),
        cmocka_unit_test(writer_reports_overflow),
        cmocka_unit_test(compile_rewrites_response_without_opt),
        cmocka_unit_test(compile_rejects_mismatch_and_garbage),
        cmocka_unit_test(compile_takes_negative_ttl_from_soa),
        cmocka_unit_test(answer_patches_id_case_ttl_and_edns),
        cmocka_unit_test(edns_version_1_gets_badvers),
        cmocka_unit_test(question_holds_a_whole_name_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
