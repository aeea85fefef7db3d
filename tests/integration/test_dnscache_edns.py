"""portico-dnscache and an upstream that does not speak EDNS: an EDNS query
answered FORMERR or NOTIMP is asked again without EDNS on the same upstream
(c-ares 1.18 does not do this for us: see the README), the upstream is
remembered as EDNS-less for --no-edns-ttl, and none of it counts as an
upstream failure."""
import time

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from testbed.scripted_dns import ScriptedDNS

ANSWER = "10.6.0.1"
# These tests are about sizes and EDNS, not timing: a per-try timeout far
# above a scripted server's answer time on a loaded machine, so no try is
# counted as a timeout and no query is asked twice.
TRY_TIMEOUT_MS = 2000


def a_records(msg):
    return {r.to_text() for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.A for r in rrset}


def edns_seen(server, name):
    """Whether each query for name that reached server carried EDNS."""
    return [edns for asked, edns in list(server.asked) if asked == name + "."]


def failures(dc, server):
    return dc.metric("portico_dnscache_upstream_failures_total",
                     upstream=server.server)


@pytest.fixture
def no_edns_server(request):
    servers = []

    def make(**kw):
        s = ScriptedDNS(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


@pytest.mark.parametrize("rcode", [dns.rcode.FORMERR, dns.rcode.NOTIMP],
                         ids=["FORMERR", "NOTIMP"])
def test_edns_rejected_query_is_asked_again_without_edns_and_remembered(
        rcode, no_edns_server, dnscache_factory):
    up = no_edns_server(answer=ANSWER, edns_rcode=rcode)
    # max_fails=1: a single counted failure would mark the upstream down.
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, max_fails=1)
    # The readiness query found out: EDNS first, then the same question
    # without it, on the same upstream.
    ready = "portico-dnscache-readiness.cluster.local"
    assert edns_seen(up, ready) == [True, False]
    r = dc.query("first.example", use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == {ANSWER}
    assert r.edns == 0                    # the client still gets EDNS
    # Remembered: later queries go without EDNS at once.
    assert edns_seen(up, "first.example") == [False]
    assert a_records(dc.query("second.example")) == {ANSWER}
    assert edns_seen(up, "second.example") == [False]
    assert dc.metric("portico_dnscache_upstream_edns_fallbacks_total",
                     upstream=up.server) == 1
    assert failures(dc, up) == 0
    assert dc.metric("portico_dnscache_upstream_up", upstream=up.server) == 1
    log = dc.proc.log_text()
    assert log.count(f"upstream {up.server} rejects EDNS") == 1
    assert f"upstream {up.server} down" not in log


def test_edns_is_tried_again_after_no_edns_ttl(no_edns_server,
                                               dnscache_factory):
    up = no_edns_server(answer=ANSWER, edns_rcode=dns.rcode.FORMERR)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, no_edns_ttl=1)
    assert a_records(dc.query("early.example")) == {ANSWER}
    assert edns_seen(up, "early.example") == [False]
    time.sleep(1.2)
    assert a_records(dc.query("late.example")) == {ANSWER}
    assert edns_seen(up, "late.example") == [True, False]
    assert dc.metric("portico_dnscache_upstream_edns_fallbacks_total",
                     upstream=up.server) == 2
    assert failures(dc, up) == 0


def test_server_that_rejects_every_query_is_not_remembered_as_edns_less(
        no_edns_server, dnscache_factory):
    # FORMERR with and without EDNS: the plain retry proves nothing, so
    # (as in unbound) nothing is remembered and the client gets the FORMERR.
    up = no_edns_server(rcode=dns.rcode.FORMERR)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, max_fails=1)
    for name in ("one.example", "two.example"):
        r = dc.query(name)
        assert r.rcode() == dns.rcode.FORMERR
        assert edns_seen(up, name) == [True, False]
    assert "rejects EDNS" not in dc.proc.log_text()
    assert failures(dc, up) == 0
    assert dc.metric("portico_dnscache_upstream_up", upstream=up.server) == 1


def test_edns_fallback_answer_is_cached(no_edns_server, dnscache_factory):
    up = no_edns_server(answer=ANSWER, edns_rcode=dns.rcode.FORMERR)
    dc = dnscache_factory(upstream=[up.server],
                          upstream_timeout=TRY_TIMEOUT_MS, no_edns_ttl=0)
    # --no-edns-ttl 0: nothing remembered, every miss pays the fallback.
    assert a_records(dc.query("cached.example")) == {ANSWER}
    assert edns_seen(up, "cached.example") == [True, False]
    assert a_records(dc.query("cached.example", tcp=True)) == {ANSWER}
    assert edns_seen(up, "cached.example") == [True, False]   # a hit
    assert a_records(dc.query("other.example")) == {ANSWER}
    assert edns_seen(up, "other.example") == [True, False]
    assert "rejects EDNS" not in dc.proc.log_text()
