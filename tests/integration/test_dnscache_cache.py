"""portico-dnscache as a cache in front of real dnsmasq (the cluster DNS):
answers, TTL clamping, negative caching, coalescing, prefetch, TCP, EDNS
and truncation, and hostile input."""
import os
import random
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

import testbed
from testbed.scripted_dns import ScriptedDNS


def ips(msg, rdtype="A"):
    out = set()
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out |= {r.to_text() for r in rrset}
    return out


def min_ttl(msg):
    return min(r.ttl for r in msg.answer)


def test_answers_keep_client_id_and_question_case(cluster_dns, dnscache_factory):
    cluster_dns.set("web.cluster.local", "10.0.0.1", "10.0.0.2")
    dc = dnscache_factory()
    first = dc.query("web.cluster.local")
    assert ips(first) == {"10.0.0.1", "10.0.0.2"}
    # From the cache now; dnspython checks the ID and question match.
    q = dns.message.make_query("WeB.ClUsTeR.LoCaL", "A")
    r = dns.query.udp(q, dc.addr, port=dc.port, timeout=2)
    assert r.id == q.id
    assert str(r.question[0].name) == "WeB.ClUsTeR.LoCaL."
    assert ips(r) == {"10.0.0.1", "10.0.0.2"}
    assert dc.metric("portico_dnscache_cache_hits_total") >= 1
    # Cached answers carry the remaining TTL, not the original one.
    time.sleep(1.1)
    later = dc.query("web.cluster.local")
    assert min_ttl(later) < min_ttl(first)


def test_record_change_is_seen_after_the_clamped_ttl(cluster_dns_factory,
                                                      dnscache_factory):
    dns_srv = cluster_dns_factory(ttl=300)      # upstream says 5 minutes
    dns_srv.set("moving.cluster.local", "10.0.1.1")
    dc = dnscache_factory(upstream=dns_srv.server, min_ttl=1, max_ttl=2)
    r = dc.query("moving.cluster.local")
    assert ips(r) == {"10.0.1.1"}
    assert min_ttl(r) <= 2                      # clamped to --max-ttl
    dns_srv.set("moving.cluster.local", "10.0.1.2")
    assert ips(dc.query("moving.cluster.local")) == {"10.0.1.1"}   # cached
    time.sleep(2.3)
    assert ips(dc.query("moving.cluster.local")) == {"10.0.1.2"}


def test_short_ttls_are_raised_to_min_ttl(cluster_dns_factory, dnscache_factory):
    dns_srv = cluster_dns_factory(ttl=1)
    dns_srv.set("short.cluster.local", "10.0.2.1")
    dc = dnscache_factory(upstream=dns_srv.server, min_ttl=4, max_ttl=30)
    r = dc.query("short.cluster.local")
    assert 3 <= min_ttl(r) <= 4
    dns_srv.set("short.cluster.local", "10.0.2.2")
    time.sleep(1.5)                             # past the upstream's TTL
    assert ips(dc.query("short.cluster.local")) == {"10.0.2.1"}


def test_nxdomain_is_cached_for_neg_ttl(cluster_dns, dnscache_factory):
    dc = dnscache_factory(neg_ttl=2)
    r = dc.query("missing.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN
    cluster_dns.set("missing.cluster.local", "10.0.3.1")
    misses = dc.metric("portico_dnscache_cache_misses_total")
    r = dc.query("missing.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN      # negative answer cached
    assert dc.metric("portico_dnscache_cache_misses_total") == misses
    time.sleep(2.3)
    r = dc.query("missing.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR and ips(r) == {"10.0.3.1"}


def test_tcp_queries_are_answered(cluster_dns, dnscache_factory):
    cluster_dns.set("tcp.cluster.local", "10.0.4.1")
    dc = dnscache_factory()
    r = dc.query("tcp.cluster.local", tcp=True)
    assert ips(r) == {"10.0.4.1"}
    # Several queries pipelined on one connection.
    with socket.create_connection((dc.addr, dc.port), timeout=3) as s:
        qs = [dns.message.make_query(f"tcp.cluster.local", "A") for _ in range(5)]
        s.sendall(b"".join(struct.pack("!H", len(w)) + w
                           for w in (q.to_wire() for q in qs)))
        got = []
        for _ in qs:
            r, _ = dns.query.receive_tcp(s, expiration=time.time() + 3)
            got.append(r.id)
        assert sorted(got) == sorted(q.id for q in qs)


def test_big_answers_truncate_over_udp_and_come_whole_over_tcp(cluster_dns,
                                                               dnscache_factory):
    many = [f"10.5.{i // 250}.{i % 250 + 1}" for i in range(100)]
    cluster_dns.set("big.cluster.local", *many)
    dc = dnscache_factory()
    # The answer (~1.6 kB) exceeds the 1232 bytes we ask upstream for, so
    # dnsmasq truncates and the cache must retry over TCP to get it whole:
    # a client allowing 4096 bytes then gets all 100 records over UDP.
    r = dc.query("big.cluster.local", use_edns=0, payload=4096)
    assert not r.flags & dns.flags.TC
    assert ips(r) == set(many)
    # No EDNS: 512 bytes, so TC and an empty answer.
    r = dc.query("big.cluster.local", use_edns=False)
    assert r.flags & dns.flags.TC and not r.answer
    # EDNS 1232: still too big, TC, and our OPT record is there.
    r = dc.query("big.cluster.local", use_edns=0, payload=1232)
    assert r.flags & dns.flags.TC and r.edns == 0
    # TCP: everything.
    assert ips(dc.query("big.cluster.local", tcp=True)) == set(many)
    assert dc.metric("portico_dnscache_truncated_total") >= 2


def test_identical_queries_in_flight_are_coalesced(dnscache_factory):
    slow = ScriptedDNS(answer="10.9.9.9", delay=0.4)
    try:
        dc = dnscache_factory(upstream=f"127.0.0.1:{slow.port}",
                              upstream_timeout=2000, timeout=3000)
        before = slow.received
        results = []

        def ask():
            results.append(dc.query("same.cluster.local", timeout=3))

        threads = [threading.Thread(target=ask) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 20 and all(ips(r) == {"10.9.9.9"} for r in results)
        assert slow.received - before == 1
        assert dc.metric("portico_dnscache_coalesced_total") == 19
    finally:
        slow.stop()


def test_hot_names_are_prefetched_before_they_expire(cluster_dns, dnscache_factory):
    cluster_dns.set("hot.cluster.local", "10.0.6.1")
    dc = dnscache_factory(min_ttl=4, max_ttl=4)
    assert ips(dc.query("hot.cluster.local")) == {"10.0.6.1"}
    t0 = time.monotonic()                               # just after storing
    time.sleep(max(0, t0 + 3.75 - time.monotonic()))    # last tenth: 3.6-4 s
    cluster_dns.set("hot.cluster.local", "10.0.6.2")
    assert ips(dc.query("hot.cluster.local")) == {"10.0.6.1"}   # still cached
    time.sleep(0.2)
    assert dc.metric("portico_dnscache_cache_prefetches_total") == 1
    misses = dc.metric("portico_dnscache_cache_misses_total")
    time.sleep(max(0, t0 + 4.4 - time.monotonic()))     # old entry expired
    r = dc.query("hot.cluster.local")
    assert ips(r) == {"10.0.6.2"}                       # refreshed in time
    assert dc.metric("portico_dnscache_cache_misses_total") == misses


def test_garbage_never_crashes_or_hangs_it(cluster_dns, dnscache_factory):
    cluster_dns.set("ok.cluster.local", "10.0.7.1")
    dc = dnscache_factory()
    rnd = random.Random(1234)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(1)
    packets = [b"", b"\x00", os.urandom(11),
               # a query whose name is a pointer to itself
               bytes.fromhex("abcd01000001000000000000c00c00010001"),
               # label longer than the packet
               bytes.fromhex("abcd010000010000000000003f61"),
               # QDCOUNT 0
               bytes.fromhex("abcd01000000000000000000"),
               # a response (QR set) must be dropped, never answered
               bytes.fromhex("abcd81800001000000000000") + b"\x02ok\x00\x00\x01\x00\x01",
               b"\xff" * 3000]
    packets += [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(12, 300)))
                for _ in range(300)]
    for p in packets:
        u.sendto(p, (dc.addr, dc.port))
    # The self-pointer query gets FORMERR with its ID.
    u.sendto(bytes.fromhex("beef01000001000000000000c00c00010001"),
             (dc.addr, dc.port))
    deadline = time.time() + 3
    formerr = None
    while time.time() < deadline and formerr is None:
        try:
            data, _ = u.recvfrom(4096)
        except socket.timeout:
            break
        if data[:2] == b"\xbe\xef":
            formerr = data
    assert formerr is not None and formerr[3] & 0x0F == dns.rcode.FORMERR
    u.close()
    # TCP: junk frames, a frame cut short, a connection closed mid-frame.
    for junk in (b"\x00\x05hello", b"\xff\xff" + b"x" * 100, b"\x00",
                 b"\x00\x0c" + b"\x00" * 12):
        with socket.create_connection((dc.addr, dc.port), timeout=2) as s:
            s.sendall(junk)
    assert dc.proc.alive()
    assert ips(dc.query("ok.cluster.local")) == {"10.0.7.1"}
    assert ips(dc.query("ok.cluster.local", tcp=True)) == {"10.0.7.1"}
    assert dc.metric("portico_dnscache_malformed_queries_total") >= 5


def test_listens_on_ipv6_loopback(cluster_dns, dnscache_factory):
    cluster_dns.set("six.cluster.local", "10.0.8.1", "fd00::8")
    port = testbed.free_port()
    dc = dnscache_factory(listen=f"[::1]:{port}")
    # The fixture's own listener is 127.0.0.1; ask the IPv6 one directly.
    q = dns.message.make_query("six.cluster.local", "AAAA")
    r = dns.query.udp(q, "::1", port=port, timeout=2)
    assert ips(r, "AAAA") == {"fd00::8"}
    r = dns.query.tcp(dns.message.make_query("six.cluster.local", "A"), "::1",
                      port=port, timeout=2)
    assert ips(r) == {"10.0.8.1"}
    assert ips(dc.query("six.cluster.local")) == {"10.0.8.1"}


WILDCARD_SCRIPT = r'''
import ctypes, signal, socket, subprocess, sys, threading, time
import dns.message, dns.query, dns.rrset

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.bind(("127.0.0.1", 0))

def serve():
    while True:
        data, peer = up.recvfrom(4096)
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A",
                                            "10.9.9.9"))
        up.sendto(r.to_wire(), peer)

threading.Thread(target=serve, daemon=True).start()
libc = ctypes.CDLL(None)
p = subprocess.Popen([sys.argv[1], "--listen", "0.0.0.0:5353", "--listen",
                      "[::]:5353", "--upstream", "127.0.0.1:%d" % up.getsockname()[1],
                      "--metrics", "off"],
                     preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))
try:
    deadline = time.time() + 5
    while True:
        try:
            dns.query.udp(dns.message.make_query("ready.test", "A"), "127.0.0.1",
                          port=5353, timeout=0.3)
            break
        except Exception:
            assert time.time() < deadline, "not ready"
    for addr in ("127.0.0.5", "127.0.0.1", "::1"):
        for attempt in ("miss", "hit"):
            q = dns.message.make_query("name-%s.test" % addr.replace(":", "x"), "A")
            # dnspython raises UnexpectedSource if the answer comes from
            # another address than the one asked.
            r = dns.query.udp(q, addr, port=5353, timeout=2)
            assert [x.to_text() for x in r.answer[0]] == ["10.9.9.9"], (addr, attempt)
    print("OK")
finally:
    p.terminate()
    p.wait(5)
'''


def test_wildcard_listener_answers_from_the_address_asked(tmp_path):
    """--listen 0.0.0.0 / [::]: UDP answers (cache misses and hits) leave
    from the address the query was sent to. Runs in a private network
    namespace that has only a loopback interface, so the wildcard listener
    is reachable on loopback only."""
    script = tmp_path / "wildcard.py"
    script.write_text(WILDCARD_SCRIPT)
    r = subprocess.run(["unshare", "-n", "/usr/bin/python3", str(script),
                        str(testbed.BUILD / "portico-dnscache")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr


def test_nodata_is_cached_like_nxdomain(cluster_dns, dnscache_factory):
    cluster_dns.set("v4only.cluster.local", "10.0.9.1")
    dc = dnscache_factory(neg_ttl=2)
    r = dc.query("v4only.cluster.local", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    cluster_dns.set("v4only.cluster.local", "10.0.9.1", "fd00::9")
    hits = dc.metric("portico_dnscache_cache_hits_total")
    r = dc.query("v4only.cluster.local", "AAAA")
    assert not r.answer                                  # NODATA cached
    assert dc.metric("portico_dnscache_cache_hits_total") == hits + 1
    time.sleep(2.3)
    assert ips(dc.query("v4only.cluster.local", "AAAA"), "AAAA") == {"fd00::9"}
