/* dnswire.c - DNS wire format parser and writer; see dnswire.h. */
#include "dnswire.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

enum {
    PTR_MASK = 0xC0,            /* top two bits of a length byte */
    PTR_MAX_OFF = 0x3FFF,       /* largest offset a pointer can hold */
    RR_FIXED_LEN = 10,          /* type, class, ttl, rdlength */
    SOA_FIXED_LEN = 20,         /* serial refresh retry expire minimum */
    MX_PREF_LEN = 2,
    SRV_FIXED_LEN = 6,
    EDNS_DO_BIT = 0x8000,
};

int dns_header_read(const uint8_t *msg, size_t len, struct dns_header *h)
{
    if (len < DNS_HEADER_LEN)
        return -1;
    h->id = dns_get16(msg + DNS_OFF_ID);
    h->flags = dns_get16(msg + DNS_OFF_FLAGS);
    h->qdcount = dns_get16(msg + DNS_OFF_QD);
    h->ancount = dns_get16(msg + DNS_OFF_AN);
    h->nscount = dns_get16(msg + DNS_OFF_NS);
    h->arcount = dns_get16(msg + DNS_OFF_AR);
    return 0;
}

int dns_name_read(const uint8_t *msg, size_t len, size_t *off,
                  uint8_t out[DNS_MAX_NAME])
{
    size_t pos = *off, end = 0, olen = 0;
    size_t limit = pos;         /* a pointer must land before this */
    int jumped = 0;

    for (;;) {
        uint8_t c;

        if (pos >= len)
            return -1;
        c = msg[pos];
        if ((c & PTR_MASK) == PTR_MASK) {
            size_t target;

            if (pos + 1 >= len)
                return -1;
            target = (size_t)(c & ~PTR_MASK) << 8 | msg[pos + 1];
            if (!jumped) {
                end = pos + 2;
                jumped = 1;
            }
            if (target >= limit)
                return -1;      /* forward or self pointer: a loop */
            limit = target;
            pos = target;
            continue;
        }
        if (c & PTR_MASK)
            return -1;          /* extended label types are obsolete */
        if (c == 0) {
            out[olen++] = 0;
            pos++;
            break;
        }
        if (pos + 1 + c > len || olen + 1 + c + 1 > DNS_MAX_NAME)
            return -1;
        memcpy(out + olen, msg + pos, (size_t)c + 1);
        olen += (size_t)c + 1;
        pos += (size_t)c + 1;
    }
    *off = jumped ? end : pos;
    return (int)olen;
}

int dns_name_skip(const uint8_t *msg, size_t len, size_t *off)
{
    uint8_t scratch[DNS_MAX_NAME];

    return dns_name_read(msg, len, off, scratch);
}

void dns_name_lower(uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (uint8_t)(name[i] + ('a' - 'A'));
}

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

int dns_name_equal_nocase(const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

int dns_name_from_text(const char *text, uint8_t out[DNS_MAX_NAME])
{
    size_t olen = 0, tlen = strlen(text);

    if (tlen == 1 && text[0] == '.') {
        out[0] = 0;
        return 1;
    }
    if (tlen > 0 && text[tlen - 1] == '.')
        tlen--;
    if (tlen == 0)
        return -1;
    for (size_t i = 0; i < tlen;) {
        size_t j = i;

        while (j < tlen && text[j] != '.')
            j++;
        if (j == i || j - i > DNS_MAX_LABEL || olen + 1 + (j - i) + 1 > DNS_MAX_NAME)
            return -1;
        out[olen++] = (uint8_t)(j - i);
        for (size_t k = i; k < j; k++) {
            unsigned char c = (unsigned char)text[k];

            if (c <= ' ' || c >= 0x7f)
                return -1;
            out[olen++] = lower(c);
        }
        i = j + 1;
    }
    out[olen++] = 0;
    return (int)olen;
}

int dns_name_to_text(const uint8_t *name, char *out, size_t outlen)
{
    size_t o = 0;
    enum { ESCAPED_MAX = 4 };   /* "\DDD" */

    if (name[0] == 0) {
        if (outlen < 2)
            return -1;
        memcpy(out, ".", 2);
        return 0;
    }
    for (size_t i = 0; name[i] != 0; i += name[i] + 1) {
        if (i > 0) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '.';
        }
        for (size_t k = 1; k <= name[i]; k++) {
            unsigned char c = name[i + k];

            if (o + ESCAPED_MAX + 1 >= outlen)
                return -1;
            if (c == '.' || c == '\\')
                o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
            else if (isprint(c) && c != ' ')
                out[o++] = (char)c;
            else
                o += (size_t)snprintf(out + o, outlen - o, "\\%03u", c);
        }
    }
    out[o] = 0;
    return 0;
}

int dns_rr_read(const uint8_t *msg, size_t len, size_t *off,
                struct dns_rr *rr)
{
    size_t pos = *off;

    rr->name_off = pos;
    if (dns_name_skip(msg, len, &pos) < 0 || pos + RR_FIXED_LEN > len)
        return -1;
    rr->type = dns_get16(msg + pos);
    rr->rclass = dns_get16(msg + pos + 2);
    rr->ttl = dns_get32(msg + pos + 4);
    rr->rdlen = dns_get16(msg + pos + 8);
    pos += RR_FIXED_LEN;
    if (pos + rr->rdlen > len)
        return -1;
    rr->rdata_off = pos;
    *off = pos + rr->rdlen;
    return 0;
}

int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
    size_t off = DNS_HEADER_LEN;
    int n;

    if (dns_header_read(msg, len, &q->h) < 0 || (q->h.flags & DNS_F_QR))
        return DNS_PARSE_DROP;
    q->has_edns = 0;
    q->edns_udp = DNS_MIN_UDP;
    q->edns_version = 0;
    q->edns_do = 0;
    if (q->h.flags & DNS_F_OPCODE)
        return DNS_PARSE_NOTIMP;
    if (q->h.qdcount != 1)
        return DNS_PARSE_FORMERR;
    n = dns_name_read(msg, len, &off, q->qname);
    /* The question must be written out in full: same bytes as decoded. */
    if (n < 0 || off - DNS_HEADER_LEN != (size_t)n ||
        off + DNS_QFIXED_LEN > len)
        return DNS_PARSE_FORMERR;
    q->qname_len = (size_t)n;
    memcpy(q->lname, q->qname, q->qname_len);
    dns_name_lower(q->lname, q->qname_len);
    q->qtype = dns_get16(msg + off);
    q->qclass = dns_get16(msg + off + 2);
    off += DNS_QFIXED_LEN;
    q->question_end = off;
    if (q->qtype == DNS_T_OPT)
        return DNS_PARSE_FORMERR;

    unsigned total = (unsigned)q->h.ancount + q->h.nscount + q->h.arcount;
    for (unsigned i = 0; i < total; i++) {
        struct dns_rr rr;

        if (dns_rr_read(msg, len, &off, &rr) < 0)
            return DNS_PARSE_FORMERR;
        if (rr.type != DNS_T_OPT)
            continue;
        if (i < (unsigned)q->h.ancount + q->h.nscount || q->has_edns ||
            msg[rr.name_off] != 0)
            return DNS_PARSE_FORMERR;   /* misplaced, repeated or named */
        q->has_edns = 1;
        q->edns_udp = rr.rclass < DNS_MIN_UDP ? DNS_MIN_UDP : rr.rclass;
        q->edns_version = (uint8_t)(rr.ttl >> 16);
        q->edns_do = (rr.ttl & EDNS_DO_BIT) != 0;
    }
    return DNS_PARSE_OK;
}

/* ---- writer -------------------------------------------------------- */

int dns_question_set(struct dns_question *q, const uint8_t *lname,
                     size_t len, uint16_t qtype, uint16_t qclass)
{
    if (len == 0 || len > sizeof(q->name))
        return -1;
    memcpy(q->name, lname, len);
    q->len = len;
    q->qtype = qtype;
    q->qclass = qclass;
    return 0;
}

void dnsw_init(struct dns_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
    w->ncomp = 0;
    w->arena_len = 0;
}

void dnsw_bytes(struct dns_writer *w, const void *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void dnsw_u16(struct dns_writer *w, uint16_t v)
{
    uint8_t b[2];

    dns_put16(b, v);
    dnsw_bytes(w, b, sizeof(b));
}

void dnsw_u32(struct dns_writer *w, uint32_t v)
{
    uint8_t b[4];

    dns_put32(b, v);
    dnsw_bytes(w, b, sizeof(b));
}

void dnsw_header(struct dns_writer *w, const struct dns_header *h)
{
    dnsw_u16(w, h->id);
    dnsw_u16(w, h->flags);
    dnsw_u16(w, h->qdcount);
    dnsw_u16(w, h->ancount);
    dnsw_u16(w, h->nscount);
    dnsw_u16(w, h->arcount);
}

void dnsw_name(struct dns_writer *w, const uint8_t *name, size_t nlen,
               int compress)
{
    size_t literal_end = nlen - 1;  /* position of the root byte */
    size_t start = w->len, arena_off = w->arena_len;
    uint16_t target = 0;
    int found = 0;

    if (compress) {
        for (size_t i = 0; name[i] != 0 && !found; i += name[i] + 1) {
            size_t slen = nlen - i;

            for (size_t c = 0; c < w->ncomp; c++) {
                if (w->comp[c].len == slen &&
                    dns_name_equal_nocase(w->arena + w->comp[c].arena_off,
                                          slen, name + i, slen)) {
                    target = w->comp[c].off;
                    literal_end = i;
                    found = 1;
                    break;
                }
            }
        }
    }
    dnsw_bytes(w, name, literal_end);
    if (found)
        dnsw_u16(w, (uint16_t)(PTR_MASK << 8 | target));
    else
        dnsw_bytes(w, "", 1);
    if (w->overflow || w->arena_len + nlen > DNSW_ARENA)
        return;
    /* Every literal label starts a suffix later names may point to. */
    memcpy(w->arena + arena_off, name, nlen);
    w->arena_len += nlen;
    for (size_t i = 0; i < literal_end; i += name[i] + 1) {
        if (w->ncomp == DNSW_COMP_MAX || start + i > PTR_MAX_OFF)
            break;
        w->comp[w->ncomp].off = (uint16_t)(start + i);
        w->comp[w->ncomp].arena_off = (uint16_t)(arena_off + i);
        w->comp[w->ncomp].len = (uint8_t)(nlen - i);
        w->ncomp++;
    }
}

/* Copies an RR's rdata, decompressing (and for the classic types
 * recompressing) the names it contains. Returns 0 or -1. */
static int copy_rdata(const uint8_t *msg, size_t len, const struct dns_rr *rr,
                      struct dns_writer *w, int64_t *soa_min)
{
    size_t off = rr->rdata_off, end = rr->rdata_off + rr->rdlen;
    uint8_t name[DNS_MAX_NAME];
    int n;

    switch (rr->type) {
    case DNS_T_NS: case DNS_T_CNAME: case DNS_T_PTR: case DNS_T_DNAME:
        if ((n = dns_name_read(msg, end, &off, name)) < 0)
            return -1;
        dnsw_name(w, name, (size_t)n, rr->type != DNS_T_DNAME);
        break;
    case DNS_T_MX: case DNS_T_SRV: {
        size_t fixed = rr->type == DNS_T_MX ? MX_PREF_LEN : SRV_FIXED_LEN;

        if (off + fixed > end)
            return -1;
        dnsw_bytes(w, msg + off, fixed);
        off += fixed;
        if ((n = dns_name_read(msg, end, &off, name)) < 0)
            return -1;
        dnsw_name(w, name, (size_t)n, rr->type == DNS_T_MX);
        break;
    }
    case DNS_T_SOA:
        for (int k = 0; k < 2; k++) {
            if ((n = dns_name_read(msg, end, &off, name)) < 0)
                return -1;
            dnsw_name(w, name, (size_t)n, 1);
        }
        if (off + SOA_FIXED_LEN > end)
            return -1;
        dnsw_bytes(w, msg + off, SOA_FIXED_LEN);
        if (soa_min) {
            uint32_t minimum = dns_get32(msg + off + SOA_FIXED_LEN - 4);
            uint32_t m = minimum < rr->ttl ? minimum : rr->ttl;

            if (*soa_min < 0 || (int64_t)m < *soa_min)
                *soa_min = m;
        }
        off += SOA_FIXED_LEN;
        break;
    default:
        dnsw_bytes(w, msg + off, rr->rdlen);
        off = end;
        break;
    }
    (void)len;
    return off == end ? 0 : -1;
}

int dns_response_compile(const uint8_t *msg, size_t len, const uint8_t *qname,
                         size_t qname_len, uint16_t qtype, uint16_t qclass,
                         struct dns_writer *w, struct dns_compiled *out)
{
    struct dns_header h;
    uint8_t name[DNS_MAX_NAME];
    size_t off = DNS_HEADER_LEN;
    uint16_t counts[3] = {0, 0, 0};
    int n;

    if (dns_header_read(msg, len, &h) < 0 || !(h.flags & DNS_F_QR) ||
        h.qdcount != 1)
        return -1;
    n = dns_name_read(msg, len, &off, name);
    if (n < 0 || off + DNS_QFIXED_LEN > len ||
        !dns_name_equal_nocase(name, (size_t)n, qname, qname_len) ||
        dns_get16(msg + off) != qtype || dns_get16(msg + off + 2) != qclass)
        return -1;
    off += DNS_QFIXED_LEN;

    out->flags = h.flags;
    out->rcode = h.flags & DNS_F_RCODE;
    out->min_ttl = UINT32_MAX;
    out->soa_min = -1;
    out->nttl = 0;
    out->has_answer_of_type = 0;

    dnsw_bytes(w, msg, DNS_HEADER_LEN);     /* patched below */
    dnsw_name(w, qname, qname_len, 0);
    dnsw_u16(w, qtype);
    dnsw_u16(w, qclass);

    uint16_t wanted[3] = {h.ancount, h.nscount, h.arcount};
    for (int s = 0; s < 3; s++) {
        for (unsigned i = 0; i < wanted[s]; i++) {
            struct dns_rr rr;
            size_t noff, rdlen_at;

            if (dns_rr_read(msg, len, &off, &rr) < 0)
                return -1;
            if (rr.type == DNS_T_OPT) {
                if (s != 2)
                    return -1;
                continue;
            }
            noff = rr.name_off;
            if ((n = dns_name_read(msg, len, &noff, name)) < 0)
                return -1;
            if (out->nttl == DNS_MAX_TTLS)
                return -1;
            dnsw_name(w, name, (size_t)n, 1);
            dnsw_u16(w, rr.type);
            dnsw_u16(w, rr.rclass);
            if (w->len > UINT16_MAX)
                return -1;
            out->ttl_offs[out->nttl++] = (uint16_t)w->len;
            dnsw_u32(w, rr.ttl);
            rdlen_at = w->len;
            dnsw_u16(w, 0);
            if (copy_rdata(msg, len, &rr, w, s == 1 ? &out->soa_min : NULL) < 0)
                return -1;
            if (w->overflow)
                return -1;
            dns_put16(w->buf + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
            if (rr.ttl < out->min_ttl)
                out->min_ttl = rr.ttl;
            if (s == 0 && (rr.type == qtype || rr.type == DNS_T_CNAME ||
                           qtype == DNS_T_ANY))
                out->has_answer_of_type = 1;
            counts[s]++;
        }
    }
    if (w->overflow)
        return -1;
    out->ancount = counts[0];
    out->nscount = counts[1];
    out->arcount = counts[2];
    dns_put16(w->buf + DNS_OFF_QD, 1);
    dns_put16(w->buf + DNS_OFF_AN, counts[0]);
    dns_put16(w->buf + DNS_OFF_NS, counts[1]);
    dns_put16(w->buf + DNS_OFF_AR, counts[2]);
    return 0;
}

void dns_opt_write(uint8_t *p, uint16_t udp_size)
{
    p[0] = 0;                       /* root owner */
    dns_put16(p + 1, DNS_T_OPT);
    dns_put16(p + 3, udp_size);     /* class = UDP payload size */
    dns_put32(p + 5, 0);            /* ext rcode, version 0, flags */
    dns_put16(p + 9, 0);            /* no options */
}

int dns_query_build(uint8_t *buf, size_t cap, uint16_t id,
                    const uint8_t *name, size_t nlen, uint16_t qtype,
                    uint16_t qclass, uint16_t udp_size)
{
    size_t need = DNS_HEADER_LEN + nlen + DNS_QFIXED_LEN +
                  (udp_size ? DNS_OPT_RR_LEN : 0);

    if (need > cap)
        return -1;
    memset(buf, 0, DNS_HEADER_LEN);
    dns_put16(buf + DNS_OFF_ID, id);
    dns_put16(buf + DNS_OFF_FLAGS, DNS_F_RD);
    dns_put16(buf + DNS_OFF_QD, 1);
    dns_put16(buf + DNS_OFF_AR, udp_size ? 1 : 0);
    memcpy(buf + DNS_HEADER_LEN, name, nlen);
    dns_put16(buf + DNS_HEADER_LEN + nlen, qtype);
    dns_put16(buf + DNS_HEADER_LEN + nlen + 2, qclass);
    if (udp_size)
        dns_opt_write(buf + DNS_HEADER_LEN + nlen + DNS_QFIXED_LEN, udp_size);
    return (int)need;
}

const char *dns_type_name(uint16_t type)
{
    switch (type) {
    case DNS_T_A: return "A";
    case DNS_T_NS: return "NS";
    case DNS_T_CNAME: return "CNAME";
    case DNS_T_SOA: return "SOA";
    case DNS_T_PTR: return "PTR";
    case DNS_T_MX: return "MX";
    case DNS_T_TXT: return "TXT";
    case DNS_T_AAAA: return "AAAA";
    case DNS_T_SRV: return "SRV";
    case DNS_T_ANY: return "ANY";
    default: return NULL;
    }
}

const char *dns_rcode_name(uint16_t rcode)
{
    static const char *const names[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    };

    return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "other";
}
