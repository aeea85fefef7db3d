/* answer.c - shaping stored answers for one client; see answer.h. */
#include "answer.h"

#include <string.h>


void answer_client_from_query(struct client_q *cq, const struct dns_query *q,
                              int tcp)
{
    cq->id = q->h.id;
    cq->flags = q->h.flags;
    memcpy(cq->qname, q->qname, q->qname_len);
    cq->qname_len = (uint8_t)q->qname_len;
    cq->has_edns = (uint8_t)q->has_edns;
    if (tcp)
        cq->limit = DNS_MAX_MSG;
    else if (q->has_edns)
        cq->limit = q->edns_udp > DNS_MAX_UDP ? DNS_MAX_UDP : q->edns_udp;
    else
        cq->limit = DNS_MIN_UDP;
}

static uint16_t answer_flags(uint16_t stored, const struct client_q *cq,
                             int authoritative)
{
    uint16_t keep = DNS_F_QR | DNS_F_OPCODE | DNS_F_RCODE | DNS_F_TC |
                    (authoritative ? DNS_F_AA : 0);

    return (uint16_t)((stored & keep) | DNS_F_QR | DNS_F_RA |
                      (cq->flags & (DNS_F_RD | DNS_F_CD)));
}

size_t answer_write(uint8_t *out, size_t cap, const struct answer_src *src,
                    const struct client_q *cq, int *truncated)
{
    size_t opt = cq->has_edns ? DNS_OPT_RR_LEN : 0;
    size_t limit = cq->limit < cap ? cq->limit : cap;
    size_t qend = DNS_HEADER_LEN + cq->qname_len + DNS_QFIXED_LEN;
    uint16_t flags;

    *truncated = 0;
    if (src->image_len < qend || qend + opt > limit)
        return 0;
    flags = answer_flags(dns_get16(src->image + DNS_OFF_FLAGS), cq,
                         src->authoritative);
    if (src->image_len + opt > limit) {
        /* Does not fit: header and question only, TC set. */
        memcpy(out, src->image, qend);
        dns_put16(out + DNS_OFF_FLAGS, (uint16_t)(flags | DNS_F_TC));
        dns_put16(out + DNS_OFF_AN, 0);
        dns_put16(out + DNS_OFF_NS, 0);
        dns_put16(out + DNS_OFF_AR, opt ? 1 : 0);
        *truncated = 1;
    } else {
        memcpy(out, src->image, src->image_len);
        dns_put16(out + DNS_OFF_FLAGS, flags);
        for (size_t i = 0; i < src->nttl; i++) {
            if ((size_t)src->ttl_offs[i] + DNS_TTL_LEN > src->image_len)
                return 0;
            dns_put32(out + src->ttl_offs[i], src->ttl);
        }
        if (opt)
            dns_put16(out + DNS_OFF_AR,
                      (uint16_t)(dns_get16(src->image + DNS_OFF_AR) + 1));
        qend = src->image_len;
    }
    dns_put16(out + DNS_OFF_ID, cq->id);
    memcpy(out + DNS_HEADER_LEN, cq->qname, cq->qname_len);
    if (opt)
        dns_opt_write(out + qend, DNS_EDNS_UDP);
    return qend + opt;
}

size_t answer_error(uint8_t *out, size_t cap, const uint8_t *query,
                    size_t qlen, const struct client_q *q, unsigned rcode)
{
    size_t len = DNS_HEADER_LEN;
    uint16_t qflags;

    if (cap < DNS_HEADER_LEN || qlen < DNS_HEADER_LEN)
        return 0;
    qflags = dns_get16(query + DNS_OFF_FLAGS);
    memset(out, 0, DNS_HEADER_LEN);
    memcpy(out, query, sizeof(uint16_t));     /* the ID */
    dns_put16(out + DNS_OFF_FLAGS,
              (uint16_t)(DNS_F_QR | DNS_F_RA | (qflags & (DNS_F_OPCODE | DNS_F_RD | DNS_F_CD)) |
                         (rcode & DNS_F_RCODE)));
    if (q) {
        size_t qe = DNS_HEADER_LEN + q->qname_len + DNS_QFIXED_LEN;

        if (qe + (q->has_edns ? DNS_OPT_RR_LEN : 0) <= cap && qe <= qlen) {
            memcpy(out + DNS_HEADER_LEN, query + DNS_HEADER_LEN, qe - DNS_HEADER_LEN);
            dns_put16(out + DNS_OFF_QD, 1);
            len = qe;
            if (q->has_edns) {
                dns_opt_write(out + len, DNS_EDNS_UDP);
                dns_put16(out + DNS_OFF_AR, 1);
                len += DNS_OPT_RR_LEN;
            }
        }
    }
    return len;
}

size_t answer_badvers(uint8_t *out, size_t cap, const uint8_t *query,
                      size_t qlen, const struct client_q *q)
{
    struct client_q with_opt = *q;
    size_t len;

    with_opt.has_edns = 1;
    len = answer_error(out, cap, query, qlen, &with_opt,
                       DNS_R_BADVERS & DNS_F_RCODE);
    if (len < DNS_HEADER_LEN + DNS_OPT_RR_LEN || dns_get16(out + DNS_OFF_AR) != 1)
        return 0;
    /* OPT TTL: extended rcode (upper bits), version 0, flags 0. */
    out[len - DNS_OPT_RR_LEN + 5] = DNS_R_BADVERS >> DNS_EXT_RCODE_SHIFT;
    return len;
}
