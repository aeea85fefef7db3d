"""portico-dnscache and an upstream that answers slowly but surely (a cold
recursive lookup through kube-dns can take 1-4 s), with the default flags:
an answer that comes before --timeout (5 s) is taken, sent to the client
still waiting and cached, while the per-try timeout (--upstream-timeout,
50 ms) still asks again at once. A client with an expired entry gets it
stale at --stale-timeout (1.5 s) and the slow answer refreshes the cache
behind it. An upstream that never answers gives SERVFAIL at --timeout."""
import time

import dns.rcode
import dns.rdatatype
import pytest

from testbed.scripted_dns import ScriptedDNS

STALE_TIMEOUT = 1.5         # --stale-timeout's default, seconds
TIMEOUT = 5.0               # --timeout's default
SLACK = 1.5                 # a loaded machine's scheduling, seconds
CLIENT_WAIT = TIMEOUT + 3   # the test's client waits longer than we do


def a_records(msg):
    return {r.to_text() for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.A for r in rrset}


def ttls(msg):
    return {rr.ttl for rr in msg.answer}


@pytest.fixture
def upstream():
    """A scripted upstream that answers at once (so the cache is ready at
    once); a test then makes it slow or silent."""
    servers = []

    def make(answer):
        s = ScriptedDNS(answer=answer)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


def timed_query(dc, name):
    t = time.monotonic()
    r = dc.query(name, timeout=CLIENT_WAIT)
    return r, time.monotonic() - t


# 1.6 s: just past the old whole-query deadline (1.5 s), which threw such an
# answer away and gave SERVFAIL; 4 s: a cold lookup through kube-dns.
@pytest.mark.parametrize("delay", [1.6, 4.0], ids=["1.6s", "4s"])
def test_slow_answer_reaches_the_waiting_client_and_the_cache(
        delay, upstream, dnscache_factory):
    up = upstream("10.8.0.1")
    dc = dnscache_factory(upstream=up.server)
    up.delay = delay
    r, took = timed_query(dc, "cold.cluster.local")
    assert r is not None, "no answer at all"
    assert r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == {"10.8.0.1"}
    assert took >= delay - 0.1
    # The per-try timeout still asked again meanwhile (failover stays).
    assert up.received >= 2
    # Cached: the next client is answered at once, without the upstream.
    # Counted on the cache's side: the scripted server may still be reading
    # the duplicate tries of the first query when the answer is out.
    sent = dc.metric("portico_dnscache_upstream_queries_total")
    hits = dc.metric("portico_dnscache_cache_hits_total")
    r, took = timed_query(dc, "cold.cluster.local")
    assert a_records(r) == {"10.8.0.1"}
    assert took < 0.5
    assert dc.metric("portico_dnscache_upstream_queries_total") == sent
    assert dc.metric("portico_dnscache_cache_hits_total") == hits + 1
    assert dc.metric("portico_dnscache_responses_total", rcode="SERVFAIL") == 0


def test_upstream_that_never_answers_gives_servfail_at_the_timeout(
        upstream, dnscache_factory):
    up = upstream("10.8.0.2")
    dc = dnscache_factory(upstream=up.server)
    up.answer = None                            # a blackhole from now on
    r, took = timed_query(dc, "never.cluster.local")
    assert r is not None and r.rcode() == dns.rcode.SERVFAIL
    assert TIMEOUT - 0.1 <= took < TIMEOUT + SLACK
    assert dc.metric("portico_dnscache_inflight_queries") == 0


def test_expired_entry_is_served_stale_at_the_stale_timeout_and_refreshed(
        upstream, dnscache_factory):
    up = upstream("10.8.0.3")
    dc = dnscache_factory(upstream=up.server, min_ttl=1, max_ttl=1)
    assert a_records(dc.query("kube.cluster.local")) == {"10.8.0.3"}
    time.sleep(1.2)                             # the entry has expired
    up.answer, up.delay = "10.8.0.4", 3.0       # a slow, changed upstream
    r, took = timed_query(dc, "kube.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == {"10.8.0.3"} and ttls(r) == {30}    # stale
    assert STALE_TIMEOUT - 0.1 <= took < STALE_TIMEOUT + SLACK
    assert dc.metric("portico_dnscache_cache_stale_served_total") == 1
    # The slow answer was not thrown away: it refreshes the cache.
    deadline = time.monotonic() + TIMEOUT
    while a_records(r) != {"10.8.0.4"}:
        assert time.monotonic() < deadline, "the slow answer never arrived"
        time.sleep(0.2)
        r = dc.query("kube.cluster.local")
    assert ttls(r) != {30}                      # fresh, not stale


def test_upstream_that_never_answers_gives_stale_at_the_stale_timeout(
        upstream, dnscache_factory):
    up = upstream("10.8.0.5")
    dc = dnscache_factory(upstream=up.server, min_ttl=1, max_ttl=1)
    assert a_records(dc.query("gone.cluster.local")) == {"10.8.0.5"}
    time.sleep(1.2)
    up.answer = None
    r, took = timed_query(dc, "gone.cluster.local")
    assert a_records(r) == {"10.8.0.5"} and ttls(r) == {30}
    assert STALE_TIMEOUT - 0.1 <= took < STALE_TIMEOUT + SLACK
    # RFC 8767's failure recheck: the next client gets it stale at once.
    r, took = timed_query(dc, "gone.cluster.local")
    assert a_records(r) == {"10.8.0.5"} and took < 0.5
