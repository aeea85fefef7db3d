"""portico-dnscache and large upstream answers: an answer up to the EDNS
size we advertise upstream (1232 bytes) comes over UDP with no TCP retry
(c-ares 1.18 took 512 bytes as the UDP limit on our channels before: see
the README); a bigger one (the upstream truncates it) is fetched over TCP;
a query without EDNS, upstream or from a client, keeps the 512-byte limit."""
import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from testbed.scripted_dns import LargeAnswerDNS

FITS_EDNS = 60          # A records: a ~1000-byte answer (over 512, under 1232)
OVER_EDNS = 100         # A records: a ~1650-byte answer (over 1232)
PLAIN_UDP_LIMIT = 512
ADVERTISED = 1232
CLIENT_EDNS_SIZE = 4096
# These tests are about sizes and EDNS, not timing: a per-try timeout far
# above a scripted server's answer time on a loaded machine, so no try is
# counted as a timeout and no query is asked twice.
TRY_TIMEOUT_MS = 2000


def a_count(msg):
    return sum(len(rrset) for rrset in msg.answer
               if rrset.rdtype == dns.rdatatype.A)


def asked(server, name):
    """(has EDNS, protocol) of each query for name that reached server."""
    return [(edns, proto) for n, edns, proto in list(server.asked)
            if n == name + "."]


def failures(dc, server):
    return dc.metric("portico_dnscache_upstream_failures_total",
                     upstream=server.server)


@pytest.fixture
def large_server():
    servers = []

    def make(records, **kw):
        s = LargeAnswerDNS(records, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


def big_query(dc, name, **kw):
    return dc.query(name, use_edns=0, payload=CLIENT_EDNS_SIZE, **kw)


def test_answer_within_the_advertised_edns_size_comes_over_udp_without_tcp(
        large_server, dnscache_factory):
    up = large_server(FITS_EDNS)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS)
    r = big_query(dc, "web.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.TC
    assert a_count(r) == FITS_EDNS
    assert asked(up, "web.example") == [(True, "udp")]
    # the answer really was over 512 bytes, and no TCP connection was made
    assert PLAIN_UDP_LIMIT < max(up.udp_sizes) <= ADVERTISED
    assert up.tcp_connections == 0
    assert failures(dc, up) == 0


def test_udp_only_upstream_delivers_an_answer_over_512_bytes(
        large_server, dnscache_factory):
    up = large_server(FITS_EDNS, tcp=False)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, max_fails=1)
    r = big_query(dc, "headless.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_count(r) == FITS_EDNS
    assert asked(up, "headless.example") == [(True, "udp")]
    assert failures(dc, up) == 0
    assert dc.metric("portico_dnscache_upstream_up", upstream=up.server) == 1


def test_answer_bigger_than_the_advertised_size_is_fetched_over_tcp(
        large_server, dnscache_factory):
    up = large_server(OVER_EDNS)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS)
    before = up.tcp_connections
    r = big_query(dc, "many.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.TC
    assert a_count(r) == OVER_EDNS
    # truncated over UDP (the upstream's TC), then the same query over TCP
    assert asked(up, "many.example") == [(True, "udp"), (True, "tcp")]
    assert up.tcp_connections > before
    assert failures(dc, up) == 0


def test_client_without_edns_gets_tc_when_the_answer_exceeds_512_bytes(
        large_server, dnscache_factory):
    up = large_server(FITS_EDNS)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS)
    # a miss: fetched whole over UDP, but this client takes 512 bytes
    r = dc.query("web.example")
    assert r.flags & dns.flags.TC and not r.answer and r.edns < 0
    assert len(r.to_wire()) <= PLAIN_UDP_LIMIT
    # a hit: the same, as dnsmasq does it
    r = dc.query("web.example")
    assert r.flags & dns.flags.TC and not r.answer
    # the cached answer is whole: over TCP, and to an EDNS client over UDP
    assert a_count(dc.query("web.example", tcp=True)) == FITS_EDNS
    r = big_query(dc, "web.example")
    assert not r.flags & dns.flags.TC and a_count(r) == FITS_EDNS
    assert asked(up, "web.example") == [(True, "udp")]


def test_query_without_edns_to_an_edns_less_upstream_keeps_512_bytes(
        large_server, dnscache_factory):
    # FORMERR to EDNS: the fallback asks without EDNS, so the upstream
    # may send 512 bytes over UDP; the rest comes over TCP.
    up = large_server(FITS_EDNS, edns_rcode=dns.rcode.FORMERR)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, no_edns_ttl=0,
                          max_fails=1)
    r = big_query(dc, "legacy.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_count(r) == FITS_EDNS
    assert asked(up, "legacy.example") == [(True, "udp"), (False, "udp"),
                                           (False, "tcp")]
    assert failures(dc, up) == 0
    assert dc.proc.log_text().count("rejects EDNS") == 0
