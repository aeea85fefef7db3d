/*
 * dnswire.h - DNS wire format (RFC 1035, 6891): a bounds-checked parser for
 * queries and responses and a writer with name compression.
 *
 * Names are handled in uncompressed wire form ("\3www\7example\3com\0"),
 * at most DNS_MAX_NAME bytes. Every read is bounds-checked; compression
 * pointers must point strictly backwards (so loops are impossible), labels
 * are at most 63 bytes and names at most 255. Nothing here allocates.
 */
#ifndef PORTICO_DNSWIRE_H
#define PORTICO_DNSWIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
    DNS_HEADER_LEN = 12,
    DNS_MAX_NAME = 255,
    DNS_MAX_LABEL = 63,
    DNS_MIN_UDP = 512,          /* payload limit without EDNS */
    DNS_MAX_UDP = 4096,         /* largest UDP payload we send or read */
    DNS_EDNS_UDP = 1232,        /* size we advertise (DNS flag day 2020) */
    DNS_MAX_MSG = 65535,
    DNS_OPT_RR_LEN = 11,        /* root name + fixed OPT fields, no options */
    DNS_QFIXED_LEN = 4,         /* qtype + qclass after the question name */
    DNS_TTL_LEN = 4,
    DNS_MAX_TTLS = 512,         /* RRs whose TTL we track in one message */
};

enum dns_type {
    DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6,
    DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28,
    DNS_T_SRV = 33, DNS_T_DNAME = 39, DNS_T_OPT = 41, DNS_T_IXFR = 251,
    DNS_T_AXFR = 252, DNS_T_ANY = 255,
};

enum { DNS_C_IN = 1 };

enum dns_rcode {
    DNS_R_NOERROR = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2,
    DNS_R_NXDOMAIN = 3, DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5,
};

enum dns_flag {
    DNS_F_QR = 0x8000, DNS_F_OPCODE = 0x7800, DNS_F_AA = 0x0400,
    DNS_F_TC = 0x0200, DNS_F_RD = 0x0100, DNS_F_RA = 0x0080,
    DNS_F_AD = 0x0020, DNS_F_CD = 0x0010, DNS_F_RCODE = 0x000f,
};

/* Header field offsets. */
enum { DNS_OFF_ID = 0, DNS_OFF_FLAGS = 2, DNS_OFF_QD = 4, DNS_OFF_AN = 6,
       DNS_OFF_NS = 8, DNS_OFF_AR = 10 };

struct dns_header {
    uint16_t id, flags, qdcount, ancount, nscount, arcount;
};

static inline uint16_t dns_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dns_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline void dns_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void dns_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Returns 0, or -1 if len < DNS_HEADER_LEN. */
int dns_header_read(const uint8_t *msg, size_t len, struct dns_header *h);

/* Reads the (possibly compressed) name at *off into out in uncompressed
 * wire form and moves *off past the name's bytes at that position.
 * Returns the name's length including the root byte, or -1 if malformed. */
int dns_name_read(const uint8_t *msg, size_t len, size_t *off,
                  uint8_t out[DNS_MAX_NAME]);
/* Skips a name without decoding it (still validates it). */
int dns_name_skip(const uint8_t *msg, size_t len, size_t *off);
void dns_name_lower(uint8_t *name, size_t len);
int dns_name_equal_nocase(const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen);
/* Text "www.example.com" (trailing dot optional) to wire form, lower-cased.
 * Returns the wire length, or -1 if not a valid name. */
int dns_name_from_text(const char *text, uint8_t out[DNS_MAX_NAME]);
/* Wire form to dotted text ("." for the root). Returns 0 or -1 if outlen is
 * too small. Non-printable bytes are written as \DDD. */
int dns_name_to_text(const uint8_t *name, char *out, size_t outlen);

/* One resource record as found in a message; rdata stays in the message. */
struct dns_rr {
    size_t name_off;            /* where the owner name starts */
    uint16_t type, rclass;
    uint32_t ttl;
    uint16_t rdlen;
    size_t rdata_off;
};

/* Reads one RR at *off (name skipped, not decoded). Returns 0 or -1. */
int dns_rr_read(const uint8_t *msg, size_t len, size_t *off,
                struct dns_rr *rr);

/* A question as the cache and the upstreams know it: the lower-cased name
 * (wire form), type and class. */
struct dns_question {
    uint8_t name[DNS_MAX_NAME];
    size_t len;
    uint16_t qtype, qclass;
};

/* Fills q; -1 if len is not a name's length. */
int dns_question_set(struct dns_question *q, const uint8_t *lname,
                     size_t len, uint16_t qtype, uint16_t qclass);

/* A parsed client query. */
struct dns_query {
    struct dns_header h;
    uint8_t qname[DNS_MAX_NAME];  /* as asked (case preserved) */
    uint8_t lname[DNS_MAX_NAME];  /* lower-cased: the cache key */
    size_t qname_len;
    uint16_t qtype, qclass;
    size_t question_end;          /* offset just past the question */
    int has_edns;
    uint16_t edns_udp;            /* requested UDP size, >= DNS_MIN_UDP */
    uint8_t edns_version;
    int edns_do;
};

enum dns_parse_result {
    DNS_PARSE_OK = 0,
    DNS_PARSE_DROP = -1,        /* not worth an answer (short, a response) */
    DNS_PARSE_FORMERR = -2,     /* answer FORMERR */
    DNS_PARSE_NOTIMP = -3,      /* opcode other than QUERY */
};

int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q);

/* The writer. Compression targets are names written with dnsw_name. */
enum { DNSW_COMP_MAX = 128, DNSW_ARENA = 8192 };

struct dns_writer {
    uint8_t *buf;
    size_t cap, len;
    int overflow;
    size_t ncomp, arena_len;
    struct { uint16_t off; uint16_t arena_off; uint8_t len; } comp[DNSW_COMP_MAX];
    uint8_t arena[DNSW_ARENA];
};

void dnsw_init(struct dns_writer *w, uint8_t *buf, size_t cap);
void dnsw_bytes(struct dns_writer *w, const void *p, size_t n);
void dnsw_u16(struct dns_writer *w, uint16_t v);
void dnsw_u32(struct dns_writer *w, uint32_t v);
/* Writes name (wire form); compress != 0 allows a pointer to an earlier
 * name. Either way the name becomes a target for later names. */
void dnsw_name(struct dns_writer *w, const uint8_t *name, size_t nlen,
               int compress);
void dnsw_header(struct dns_writer *w, const struct dns_header *h);

/* A response rewritten into our canonical form: header, the question (the
 * name as given), then every RR except OPT, names compressed, RR TTLs at
 * the recorded offsets. */
struct dns_compiled {
    uint16_t flags, rcode;
    uint16_t ancount, nscount, arcount;
    uint32_t min_ttl;           /* over all RRs (UINT32_MAX if none) */
    int64_t soa_min;            /* min(SOA TTL, SOA MINIMUM), -1 if none */
    size_t nttl;
    uint16_t ttl_offs[DNS_MAX_TTLS];
    int has_answer_of_type;     /* an answer RR of qtype or CNAME exists */
};

/* Compiles the upstream response msg into w (w must be empty). qname is the
 * question we asked (lower-case wire form), checked against the response.
 * Returns 0, or -1 if malformed, mismatched or too big. */
int dns_response_compile(const uint8_t *msg, size_t len, const uint8_t *qname,
                         size_t qname_len, uint16_t qtype, uint16_t qclass,
                         struct dns_writer *w, struct dns_compiled *out);

/* Builds a query for (name, type, class) with RD and an EDNS OPT RR
 * advertising udp_size (udp_size 0: no OPT RR, a plain RFC 1035 query).
 * Returns the length, or -1 if cap is too small. */
int dns_query_build(uint8_t *buf, size_t cap, uint16_t id,
                    const uint8_t *name, size_t nlen, uint16_t qtype,
                    uint16_t qclass, uint16_t udp_size);

/* Writes an OPT RR (root owner, udp_size, version 0, no options) at p,
 * which must have DNS_OPT_RR_LEN bytes. */
void dns_opt_write(uint8_t *p, uint16_t udp_size);

/* Extended RCODE BADVERS (RFC 6891): its upper 8 bits go in the OPT TTL. */
enum { DNS_R_BADVERS = 16, DNS_EXT_RCODE_SHIFT = 4 };

/* Short name of a type ("A", "AAAA", ...), or NULL if not a common one. */
const char *dns_type_name(uint16_t type);
const char *dns_rcode_name(uint16_t rcode);

#endif
