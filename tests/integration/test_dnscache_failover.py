"""portico-dnscache when upstreams fail: a blackholed upstream (reads and
never answers) and a killed one while queries flow, serve-stale when no
upstream answers, and recovery."""
import socket
import threading
import time

import dns.rcode
import dns.rdatatype

from testbed.fixtures_dnscache import READINESS_NAME
from testbed.scripted_dns import ScriptedDNS


def a_records(msg):
    return {r.to_text() for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.A for r in rrset}


def test_blackholed_first_upstream_fails_over_within_the_try_timeout(
        cluster_dns, dnscache_factory):
    hole = ScriptedDNS()
    try:
        names = [f"fo-{i}.cluster.local" for i in range(40)]
        for i, n in enumerate(names):
            cluster_dns.records[n] = [f"10.1.0.{i + 1}"]
        cluster_dns.set("fo-0.cluster.local", "10.1.0.1")   # write + SIGHUP
        dc = dnscache_factory(upstream=[hole.server, cluster_dns.server],
                              upstream_timeout=100, max_fails=2)
        latencies = []
        for i, n in enumerate(names):                        # all cache misses
            t = time.monotonic()
            r = dc.query(n, timeout=2, raise_on_timeout=True)
            latencies.append(time.monotonic() - t)
            assert a_records(r) == {f"10.1.0.{i + 1}"}
        # Only the first queries may pay the 100 ms per-try timeout; the
        # blackhole is then known bad and skipped.
        assert max(latencies) < 0.6
        assert sum(1 for x in latencies if x > 0.09) <= 3
        assert sorted(latencies)[len(latencies) // 2] < 0.05
        assert hole.received >= 1
        assert dc.metric("portico_dnscache_upstream_failures_total",
                         upstream=hole.server, reason="timeout") >= 1
        # Probes keep failing, so it is marked down (and logged once).
        deadline = time.monotonic() + 5
        while dc.metric("portico_dnscache_upstream_up", upstream=hole.server) != 0:
            assert time.monotonic() < deadline, "blackhole never marked down"
            time.sleep(0.1)
        assert dc.metric("portico_dnscache_upstream_up",
                         upstream=cluster_dns.server) == 1
        assert dc.proc.log_text().count(f"upstream {hole.server} down") == 1
        # Sockets are renewed after timeouts: probes come from new ports.
        assert len(hole.sources) >= 2
    finally:
        hole.stop()


def test_killed_upstream_while_queries_flow_loses_no_query(
        cluster_dns_factory, dnscache_factory):
    first = cluster_dns_factory()
    second = cluster_dns_factory()
    for srv in (first, second):
        for i in range(400):
            srv.records[f"k-{i}.cluster.local"] = [f"10.2.{i // 200}.{i % 200 + 1}"]
        srv.set("k-0.cluster.local", "10.2.0.1")
    dc = dnscache_factory(upstream=[first.server, second.server],
                          upstream_timeout=100)
    failures, answered = [], [0]
    stop = threading.Event()

    def flow():
        i = 0
        while not stop.is_set() and i < 400:
            r = dc.query(f"k-{i}.cluster.local", timeout=1.5)
            if r is None or r.rcode() != dns.rcode.NOERROR or not a_records(r):
                failures.append((i, r))
            else:
                answered[0] += 1
            i += 1
            time.sleep(0.005)

    def sent(srv):
        return dc.metric("portico_dnscache_upstream_queries_total",
                         upstream=srv.server)

    t = threading.Thread(target=flow)
    t.start()
    time.sleep(0.3)
    # Kill the upstream the cache is using right now (both are equally
    # good, so which one it prefers depends on measured RTTs).
    # Watch until a few queries went out (a loaded machine may send none
    # in a fixed 100 ms window, and then the choice would be a guess).
    before = {srv.server: sent(srv) for srv in (first, second)}
    deadline = time.monotonic() + 3
    while (sum(sent(srv) - before[srv.server] for srv in (first, second)) < 5
           and time.monotonic() < deadline):
        time.sleep(0.05)
    victim = max((first, second), key=lambda srv: sent(srv) - before[srv.server])
    victim.proc.kill()                  # SIGKILL while queries flow
    at_kill = sent(victim)
    time.sleep(0.8)
    stop.set()
    t.join(10)
    assert not failures, failures[:5]
    assert answered[0] > 20
    # Every query sent to the dead upstream is a failure the cache counts
    # (and retries elsewhere). With two equally fast upstreams its
    # preference can turn to the other one just before the kill; then it
    # sends the victim nothing more and there is no failure to count (a CI
    # run saw that once): the condition is the query, not the kill.
    if sent(victim) > at_kill:
        assert dc.metric("portico_dnscache_upstream_failures_total",
                         upstream=victim.server) >= 1


def test_expired_answers_are_served_stale_when_no_upstream_answers(
        cluster_dns, dnscache_factory):
    cluster_dns.set("stale.cluster.local", "10.3.0.1")
    dc = dnscache_factory(min_ttl=1, max_ttl=1, stale_ttl=60,
                          upstream_timeout=100, timeout=500)
    assert a_records(dc.query("stale.cluster.local")) == {"10.3.0.1"}
    cluster_dns.stop()
    time.sleep(1.3)                     # the entry has expired
    r = dc.query("stale.cluster.local", timeout=3)
    assert r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == {"10.3.0.1"}
    assert all(rr.ttl == 30 for rr in r.answer)          # RFC 8767 TTL
    assert dc.metric("portico_dnscache_cache_stale_served_total") == 1
    # The refresh failed, so for a while the stale answer comes at once
    # (RFC 8767 failure recheck) while refreshes go on in the background.
    t = time.monotonic()
    r = dc.query("stale.cluster.local", timeout=3)
    assert time.monotonic() - t < 0.3
    assert a_records(r) == {"10.3.0.1"} and all(rr.ttl == 30 for rr in r.answer)
    assert dc.metric("portico_dnscache_cache_stale_served_total") == 2
    # A name never seen has nothing stale: SERVFAIL, quickly.
    t = time.monotonic()
    r = dc.query("never-seen.cluster.local", timeout=3)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t < 1.5
    # The upstream comes back: fresh answers again.
    cluster_dns.start()
    cluster_dns.set("stale.cluster.local", "10.3.0.2")
    deadline = time.monotonic() + 5
    while a_records(dc.query("stale.cluster.local")) != {"10.3.0.2"}:
        assert time.monotonic() < deadline, "never recovered"
        time.sleep(0.2)


def test_stale_entries_are_not_served_past_stale_ttl(cluster_dns, dnscache_factory):
    cluster_dns.set("old.cluster.local", "10.3.1.1")
    dc = dnscache_factory(min_ttl=1, max_ttl=1, stale_ttl=1, timeout=300,
                          upstream_timeout=100)
    assert a_records(dc.query("old.cluster.local")) == {"10.3.1.1"}
    cluster_dns.stop()
    time.sleep(2.3)                     # expired 1.3 s ago, stale window 1 s
    assert dc.query("old.cluster.local", timeout=3).rcode() == dns.rcode.SERVFAIL


def test_servfail_is_retried_on_the_next_upstream_at_once(cluster_dns,
                                                          dnscache_factory):
    bad = ScriptedDNS(rcode=dns.rcode.SERVFAIL)
    try:
        cluster_dns.set("sf.cluster.local", "10.5.0.1")
        dc = dnscache_factory(upstream=[bad.server, cluster_dns.server],
                              upstream_timeout=1000, timeout=3000)
        t = time.monotonic()
        r = dc.query("sf.cluster.local", timeout=3)
        assert time.monotonic() - t < 0.5            # not the 1 s try timeout
        assert a_records(r) == {"10.5.0.1"}
        assert bad.received >= 1
        assert dc.metric("portico_dnscache_upstream_failures_total",
                         upstream=bad.server, reason="servfail") >= 1
        # Alive, so never marked down, but it loses the tie: later misses
        # go to the healthy upstream first.
        assert dc.metric("portico_dnscache_upstream_up", upstream=bad.server) == 1
        seen = bad.received
        for i in range(5):
            cluster_dns.records[f"sf-{i}.cluster.local"] = ["10.5.0.2"]
        cluster_dns.set("sf.cluster.local", "10.5.0.1")
        for i in range(5):
            assert a_records(dc.query(f"sf-{i}.cluster.local")) == {"10.5.0.2"}
        assert bad.received == seen
    finally:
        bad.stop()


def _source_ports_under_steady_load(dnscache_factory, renew_interval):
    """Distinct source ports an upstream sees over 3 s of overlapping
    cache misses (always several in flight, so c-ares never goes idle and
    never closes its socket on its own)."""
    up = ScriptedDNS(answer="10.6.0.1", delay=0.3)
    try:
        dc = dnscache_factory(upstream=up.server, renew_interval=renew_interval,
                              upstream_timeout=1000)
        first = len(up.ports)
        errors, threads = [], []

        def ask(name):
            r = dc.query(name, timeout=3)
            if r is None or a_records(r) != {"10.6.0.1"}:
                errors.append(name)

        deadline = time.monotonic() + 3
        i = 0
        while time.monotonic() < deadline:
            t = threading.Thread(target=ask, args=(f"r-{i}.cluster.local",))
            t.start()
            threads.append(t)
            i += 1
            time.sleep(0.03)
        for t in threads:
            t.join(5)
        assert not errors, errors[:5]
        return set(up.ports[first:])
    finally:
        up.stop()


def test_upstream_sockets_are_renewed_periodically(dnscache_factory):
    # Without renewal, one socket under steady load (the conntrack trap)...
    assert len(_source_ports_under_steady_load(dnscache_factory, 0)) <= 2
    # ...with --renew-interval 1, a new source port every second.
    assert len(_source_ports_under_steady_load(dnscache_factory, 1)) >= 3


QUERY_TIMEOUT = 5.0         # --timeout's default, seconds


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_miss_flood_to_a_blackhole_stays_bounded_and_responsive(
        tmp_path, dnscache_factory):
    import dns.message
    hole = ScriptedDNS()
    try:
        hosts = tmp_path / "hosts"
        # The readiness name from the hosts file: behind a blackhole it
        # would otherwise be answered (SERVFAIL) only at --timeout.
        hosts.write_text("127.0.0.50 local.test\n"
                         f"127.0.0.51 {READINESS_NAME}\n")
        dc = dnscache_factory(upstream=hole.server, hosts=str(hosts),
                              max_inflight=2000)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        for i in range(8000):           # distinct names: every one a miss
            wire = dns.message.make_query(f"flood-{i}.test", "A").to_wire()
            try:
                s.sendto(wire, (dc.addr, dc.port))
            except BlockingIOError:
                time.sleep(0.001)
        t = time.monotonic()
        r = dc.query("local.test", timeout=2)
        assert time.monotonic() - t < 0.5
        assert a_records(r) == {"127.0.0.50"}
        assert _rss_mb(dc.proc.pid) < 64
        assert dc.metric("portico_dnscache_overload_total") > 0
        # Every miss ends at --timeout (5 s), held within the same bounds.
        deadline = time.monotonic() + QUERY_TIMEOUT + 2
        while dc.metric("portico_dnscache_inflight_queries") != 0:
            assert time.monotonic() < deadline, "queries outlived --timeout"
            assert _rss_mb(dc.proc.pid) < 64
            time.sleep(0.2)
        assert _rss_mb(dc.proc.pid) < 64
        s.close()
    finally:
        hole.stop()
