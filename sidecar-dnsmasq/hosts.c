/* hosts.c - hosts file parsing, lookup and the answers it gives; see
 * hosts.h. */
#include "hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cache.h"
#include "fileio.h"

enum {
    HOSTS_MAX_FILE = 64 * 1024 * 1024, HOSTS_LINE_MAX = 4096,
    INITIAL_RECORDS = 64, MIN_SLOTS = 16,
    SLOTS_PER_NAME = 2, PARSE_NOMEM = -2,
};

struct record {
    uint8_t name[DNS_MAX_NAME];
    size_t name_len;
    size_t order;                   /* file order, for stable sorting */
    struct hosts_addr addr;
};

/* An address and the name its PTR answer gives. */
struct rev {
    struct hosts_addr addr;
    size_t order;                   /* of the record it came from */
    size_t name;                    /* index into names */
};

struct hosts {
    struct hosts_name *names;
    size_t nnames;
    struct hosts_addr *addrs;
    size_t naddrs;
    struct rev *revs;               /* sorted by address, one per address */
    size_t nrevs;
    size_t *table;                  /* open addressing: index + 1, 0 empty */
    size_t table_size;              /* power of two */
};

static int cmp_record(const void *a, const void *b)
{
    const struct record *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);

    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    if (x->addr.family != y->addr.family)
        return x->addr.family == AF_INET ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_addr(const struct hosts_addr *x, const struct hosts_addr *y)
{
    if (x->family != y->family)
        return x->family == AF_INET ? -1 : 1;
    return memcmp(x->bytes, y->bytes, HOSTS_ADDR6_LEN);
}

/* By address, then file order: the first of each address wins. */
static int cmp_rev(const void *a, const void *b)
{
    const struct rev *x = a, *y = b;
    int c = cmp_addr(&x->addr, &y->addr);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static uint32_t name_hash(const uint8_t *n, size_t len)
{
    return cache_hash(n, len, 0, 0);
}

static int push_record(struct record **recs, size_t *n, size_t *cap,
                       const struct record *r)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : INITIAL_RECORDS;
        struct record *p = realloc(*recs, ncap * sizeof(*p));

        if (!p)
            return -1;
        *recs = p;
        *cap = ncap;
    }
    (*recs)[(*n)++] = *r;
    return 0;
}

/* Parses one line into records. Returns the number of records, -1 if the
 * line is malformed, PARSE_NOMEM when out of memory. */
static int parse_line(char *line, struct record **recs, size_t *n,
                      size_t *cap)
{
    char *save = NULL, *tok, *hash = strchr(line, '#');
    struct record r;
    int added = 0;

    if (hash)
        *hash = 0;
    tok = strtok_r(line, " \t\r\n", &save);
    if (!tok)
        return 0;
    memset(&r, 0, sizeof(r));
    if (inet_pton(AF_INET, tok, r.addr.bytes) == 1)
        r.addr.family = AF_INET;
    else if (inet_pton(AF_INET6, tok, r.addr.bytes) == 1)
        r.addr.family = AF_INET6;
    else
        return -1;
    while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
        int len = dns_name_from_text(tok, r.name);

        if (len <= 1)
            return added ? added : -1;
        r.name_len = (size_t)len;
        r.order = *n;
        if (push_record(recs, n, cap, &r) < 0)
            return PARSE_NOMEM;
        added++;
    }
    return added ? added : -1;
}

static struct hosts *build(struct record *recs, size_t n)
{
    struct hosts *h = calloc(1, sizeof(*h));
    size_t ts = MIN_SLOTS;

    if (!h)
        return NULL;
    if (n)
        qsort(recs, n, sizeof(*recs), cmp_record);
    h->addrs = calloc(n ? n : 1, sizeof(*h->addrs));
    h->names = calloc(n ? n : 1, sizeof(*h->names));
    h->revs = calloc(n ? n : 1, sizeof(*h->revs));
    while (ts < SLOTS_PER_NAME * n)
        ts <<= 1;
    h->table = calloc(ts, sizeof(*h->table));
    h->table_size = ts;
    if (!h->addrs || !h->names || !h->revs || !h->table) {
        hosts_free(h);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct hosts_name *cur = h->nnames ? &h->names[h->nnames - 1] : NULL;
        int dup = 0;

        if (!cur || cur->name_len != recs[i].name_len ||
            memcmp(cur->name, recs[i].name, cur->name_len) != 0) {
            cur = &h->names[h->nnames++];
            memcpy(cur->name, recs[i].name, recs[i].name_len);
            cur->name_len = recs[i].name_len;
            cur->hash = name_hash(cur->name, cur->name_len);
            cur->first = h->naddrs;
        }
        h->revs[i].addr = recs[i].addr;
        h->revs[i].order = recs[i].order;
        h->revs[i].name = (size_t)(cur - h->names);
        for (size_t k = cur->first; k < h->naddrs; k++)
            if (h->addrs[k].family == recs[i].addr.family &&
                memcmp(h->addrs[k].bytes, recs[i].addr.bytes, HOSTS_ADDR6_LEN) == 0)
                dup = 1;
        if (dup)
            continue;
        h->addrs[h->naddrs++] = recs[i].addr;
        if (recs[i].addr.family == AF_INET)
            cur->n4++;
        else
            cur->n6++;
    }
    for (size_t i = 0; i < h->nnames; i++) {
        size_t slot = h->names[i].hash & (ts - 1);

        while (h->table[slot])
            slot = (slot + 1) & (ts - 1);
        h->table[slot] = i + 1;
    }
    if (n)
        qsort(h->revs, n, sizeof(*h->revs), cmp_rev);
    for (size_t i = 0; i < n; i++)
        if (h->nrevs == 0 ||
            cmp_addr(&h->revs[h->nrevs - 1].addr, &h->revs[i].addr) != 0)
            h->revs[h->nrevs++] = h->revs[i];
    return h;
}

struct hosts *hosts_parse(const char *text, size_t len, size_t *bad)
{
    struct record *recs = NULL;
    size_t n = 0, cap = 0, nbad = 0;
    char line[HOSTS_LINE_MAX];
    struct hosts *h;

    for (size_t i = 0; i < len;) {
        size_t j = i;

        while (j < len && text[j] != '\n')
            j++;
        if (j - i < sizeof(line)) {
            memcpy(line, text + i, j - i);
            line[j - i] = 0;
            /* A NUL inside the line ends it early; that is fine. */
            int r = parse_line(line, &recs, &n, &cap);
            if (r == PARSE_NOMEM) {
                free(recs);
                return NULL;
            }
            if (r == -1)
                nbad++;
        } else {
            nbad++;
        }
        i = j + 1;
    }
    h = build(recs, n);
    free(recs);
    if (bad)
        *bad = nbad;
    return h;
}

struct hosts *hosts_load(const char *path, size_t *bad)
{
    size_t len = 0;
    char *text = file_read(path, HOSTS_MAX_FILE, &len);
    struct hosts *h;

    if (!text)
        return NULL;
    h = hosts_parse(text, len, bad);
    free(text);
    if (!h)
        errno = ENOMEM;
    return h;
}

void hosts_free(struct hosts *h)
{
    if (!h)
        return;
    free(h->names);
    free(h->addrs);
    free(h->revs);
    free(h->table);
    free(h);
}

const struct hosts_name *hosts_lookup(const struct hosts *h,
                                      const uint8_t *lname, size_t len)
{
    uint32_t hash = name_hash(lname, len);
    size_t slot = hash & (h->table_size - 1);

    while (h->table[slot]) {
        const struct hosts_name *e = &h->names[h->table[slot] - 1];

        if (e->hash == hash && e->name_len == len &&
            memcmp(e->name, lname, len) == 0)
            return e;
        slot = (slot + 1) & (h->table_size - 1);
    }
    return NULL;
}

const struct hosts_addr *hosts_addr(const struct hosts *h, size_t i)
{
    return &h->addrs[i];
}

size_t hosts_count(const struct hosts *h)
{
    return h->nnames;
}

const struct hosts_name *hosts_lookup_addr(const struct hosts *h,
                                           const struct hosts_addr *a)
{
    size_t lo = 0, hi = h->nrevs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_addr(&h->revs[mid].addr, a);

        if (c == 0)
            return &h->names[h->revs[mid].name];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- reverse names ------------------------------------------------- */

enum {
    V4_LABELS = HOSTS_ADDR4_LEN,
    V6_LABELS = HOSTS_ADDR6_LEN * 2,    /* one per nibble */
    DEC_MAX_DIGITS = 3,
    OCTET_MAX = 255,
    NIBBLE_BITS = 4,
};

/* Wire-form suffixes, lower case. */
static const uint8_t V4_SUFFIX[] = "\7in-addr\4arpa";
static const uint8_t V6_SUFFIX[] = "\3ip6\4arpa";

/* True if name (wire form, len bytes) ends with suffix (sizeof includes
 * the root byte as the string terminator). */
static int has_suffix(const uint8_t *name, size_t len, const uint8_t *suffix,
                      size_t slen)
{
    return len >= slen && memcmp(name + len - slen, suffix, slen) == 0;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Four decimal labels, least significant octet first. */
static int parse_v4(const uint8_t *p, size_t plen, struct hosts_addr *a)
{
    size_t off = 0;

    for (int i = V4_LABELS - 1; i >= 0; i--) {
        unsigned v = 0;
        uint8_t l;

        if (off >= plen)
            return -1;
        l = p[off];
        if (l == 0 || l > DEC_MAX_DIGITS || off + 1 + l > plen ||
            (l > 1 && p[off + 1] == '0'))
            return -1;
        for (size_t k = 1; k <= l; k++) {
            if (p[off + k] < '0' || p[off + k] > '9')
                return -1;
            v = v * 10 + (unsigned)(p[off + k] - '0');
        }
        if (v > OCTET_MAX)
            return -1;
        a->bytes[i] = (uint8_t)v;
        off += 1 + (size_t)l;
    }
    return off == plen ? 0 : -1;
}

/* 32 one-nibble labels, least significant nibble first. */
static int parse_v6(const uint8_t *p, size_t plen, struct hosts_addr *a)
{
    if (plen != V6_LABELS * 2)
        return -1;
    for (int i = 0; i < V6_LABELS; i++) {
        int v;

        if (p[2 * i] != 1 || (v = hex_value(p[2 * i + 1])) < 0)
            return -1;
        if (i % 2 == 0)
            a->bytes[HOSTS_ADDR6_LEN - 1 - i / 2] = (uint8_t)v;
        else
            a->bytes[HOSTS_ADDR6_LEN - 1 - i / 2] |= (uint8_t)(v << NIBBLE_BITS);
    }
    return 0;
}

int hosts_reverse_addr(const uint8_t *lname, size_t len, struct hosts_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (has_suffix(lname, len, V4_SUFFIX, sizeof(V4_SUFFIX))) {
        a->family = AF_INET;
        return parse_v4(lname, len - sizeof(V4_SUFFIX), a);
    }
    if (has_suffix(lname, len, V6_SUFFIX, sizeof(V6_SUFFIX))) {
        a->family = AF_INET6;
        return parse_v6(lname, len - sizeof(V6_SUFFIX), a);
    }
    return -1;
}

/* ---- answers ------------------------------------------------------- */

/* Starts an answer to q in wr: AA header and the question. */
static void answer_begin(struct dns_writer *wr, const struct dns_query *q)
{
    struct dns_header hd = {0, DNS_F_QR | DNS_F_AA, 1, 0, 0, 0};

    dnsw_init(wr, wr->buf, wr->cap);
    dnsw_header(wr, &hd);
    dnsw_name(wr, q->lname, q->qname_len, 0);
    dnsw_u16(wr, q->qtype);
    dnsw_u16(wr, q->qclass);
}

/* Writes the owner (the question's name), type, class and TTL of one
 * record, recording where its TTL is. */
static void rr_start(struct dns_writer *wr, const struct dns_query *q,
                     uint16_t type, uint32_t ttl, uint16_t *offs,
                     size_t *nttl)
{
    dnsw_name(wr, q->lname, q->qname_len, 1);
    dnsw_u16(wr, type);
    dnsw_u16(wr, DNS_C_IN);
    offs[(*nttl)++] = (uint16_t)wr->len;
    dnsw_u32(wr, ttl);
}

/* Ends an answer of nttl records and shapes it for the client. */
static size_t answer_finish(struct dns_writer *wr, const uint16_t *offs,
                            size_t nttl, uint32_t ttl,
                            const struct client_q *cq, uint8_t *out,
                            size_t cap, int *truncated)
{
    struct answer_src src = {
        .image = wr->buf, .image_len = wr->len, .ttl_offs = offs,
        .nttl = nttl, .ttl = ttl, .authoritative = 1,
    };

    if (wr->overflow)
        return 0;
    dns_put16(wr->buf + DNS_OFF_AN, (uint16_t)nttl);
    return answer_write(out, cap, &src, cq, truncated);
}

/* A and AAAA records (NODATA for other types) of a listed name. */
static size_t name_answer(const struct hosts *h, const struct hosts_name *hn,
                          const struct dns_query *q, const struct client_q *cq,
                          uint32_t ttl, struct dns_writer *wr, uint8_t *out,
                          size_t cap, int *truncated)
{
    uint16_t offs[DNS_MAX_TTLS];
    size_t nttl = 0;

    answer_begin(wr, q);
    for (size_t i = 0; i < hn->n4 + hn->n6 && nttl < DNS_MAX_TTLS; i++) {
        const struct hosts_addr *a = &h->addrs[hn->first + i];
        int v4 = a->family == AF_INET;
        uint16_t alen = v4 ? HOSTS_ADDR4_LEN : HOSTS_ADDR6_LEN;

        if (!(q->qtype == DNS_T_ANY || (v4 && q->qtype == DNS_T_A) ||
              (!v4 && q->qtype == DNS_T_AAAA)))
            continue;
        rr_start(wr, q, v4 ? DNS_T_A : DNS_T_AAAA, ttl, offs, &nttl);
        dnsw_u16(wr, alen);
        dnsw_bytes(wr, a->bytes, alen);
    }
    return answer_finish(wr, offs, nttl, ttl, cq, out, cap, truncated);
}

/* The one PTR record of the reverse name of a listed address. */
static size_t ptr_answer(const struct hosts_name *hn,
                         const struct dns_query *q, const struct client_q *cq,
                         uint32_t ttl, struct dns_writer *wr, uint8_t *out,
                         size_t cap, int *truncated)
{
    uint16_t offs[1];
    size_t nttl = 0, rdlen_at;

    answer_begin(wr, q);
    rr_start(wr, q, DNS_T_PTR, ttl, offs, &nttl);
    rdlen_at = wr->len;
    dnsw_u16(wr, 0);
    dnsw_name(wr, hn->name, hn->name_len, 1);
    if (!wr->overflow)
        dns_put16(wr->buf + rdlen_at,
                  (uint16_t)(wr->len - rdlen_at - sizeof(uint16_t)));
    return answer_finish(wr, offs, nttl, ttl, cq, out, cap, truncated);
}

size_t hosts_answer(const struct hosts *h, const struct dns_query *q,
                    const struct client_q *cq, uint32_t ttl,
                    struct dns_writer *scratch, uint8_t *out, size_t cap,
                    int *truncated)
{
    const struct hosts_name *hn;
    struct hosts_addr a;

    if (q->qclass != DNS_C_IN)
        return 0;
    if ((hn = hosts_lookup(h, q->lname, q->qname_len)))
        return name_answer(h, hn, q, cq, ttl, scratch, out, cap, truncated);
    if ((q->qtype == DNS_T_PTR || q->qtype == DNS_T_ANY) &&
        hosts_reverse_addr(q->lname, q->qname_len, &a) == 0 &&
        (hn = hosts_lookup_addr(h, &a)))
        return ptr_answer(hn, q, cq, ttl, scratch, out, cap, truncated);
    return 0;
}
