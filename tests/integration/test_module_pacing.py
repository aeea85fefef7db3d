"""ngx_http_upstream_resolve_module paces its lookups: a worker keeps at
most resolve_max_in_flight (default 128) resolutions in flight and queues
the rest, first due first served. Thousands of upstreams behind ONE
resolver socket therefore resolve at once after start, without a lost
answer; a timed-out lookup frees its slot; names waiting their turn keep
their peers, and every name gets its turn. A name used in several
upstreams costs one query per refresh, not one per upstream."""
import os
import signal
import time

import testbed
from testbed.fixtures_module import status, wait_for
from testbed.scripted_dns import CountingDNS

DEFAULT_CAP = 128
ZONE_PER_UPSTREAM_KB = 16        # as the controller sizes its zone
NO_BACKEND_PORT = 9              # never connected to


def _name(i):
    return f"svc-{i}.pace.svc.cluster.local"


def _conf(dns_server, count, sport, resolver_timeout="5s", ttl="1s 30s",
          extra=""):
    """count upstreams in one zone (as the controller renders them), name i
    in upstream u<i>, the resolver listed once (one UDP socket a worker),
    and the status server."""
    zone_mb = max(1, count * ZONE_PER_UPSTREAM_KB // 1024 + 1)
    ups = "\n".join(
        f"upstream u{i} {{ zone pace{' %dm' % zone_mb if i == 0 else ''}; "
        f"resolve_server {_name(i)}:{NO_BACKEND_PORT}; resolve_ttl {ttl}; }}"
        for i in range(count))
    return (f"resolver {dns_server} ipv6=off;\n"
            f"resolver_timeout {resolver_timeout};\n{extra}\n{ups}\n"
            f"server {{ listen 127.0.0.1:{sport}; "
            f"location = /upstreams {{ upstream_resolve_status; }} }}\n")


def _unresolved(sport):
    return [h["name"] for u in status(sport)["upstreams"]
            for h in u["resolve"] if not h["addresses"]]


def _udp_drops(pids, remote_port):
    """Receive drops of the UDP sockets of pids connected to remote_port
    (nginx's resolver sockets), from /proc/net/udp."""
    inodes = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    drops, sockets = 0, 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if (int(cols[2].split(":")[1], 16) == remote_port
                    and cols[9] in inodes):
                drops += int(cols[-1])
                sockets += 1
    return drops, sockets


def test_3000_upstreams_on_one_resolver_socket_all_resolve_within_4s_without_lost_answers(
        nginx_factory, cluster_dns_factory, dnscache_factory):
    # as deployed: nginx -> portico-dnscache (cold) -> cluster DNS. Without
    # pacing the burst of 3000 answers overflowed the socket's receive
    # buffer; every lost answer costs resolver_timeout (5 s) + MIN (1 s)
    count = 3000
    dns = cluster_dns_factory(ttl=30)
    for i in range(count):
        dns.records[_name(i)] = [f"127.1.{i >> 8}.{i & 255}"]
    dns.set(_name(0), "127.1.0.0")              # writes all, one SIGHUP
    cache = dnscache_factory(upstream=dns.server)
    sport = testbed.free_port()
    n = nginx_factory(_conf(f"{cache.addr}:{cache.port}", count, sport))
    started = time.monotonic()
    wait_for(lambda: _unresolved(sport) == [], timeout=4.0, interval=0.1,
             what="all 3000 names resolved")
    took = time.monotonic() - started

    drops, sockets = _udp_drops(n.worker_pids(), cache.port)
    assert sockets == 1
    assert drops == 0, f"{drops} answers lost (resolved in {took:.2f} s)"
    s = status(sport)
    got = {u["name"]: u["resolve"][0]["addresses"] for u in s["upstreams"]}
    for i in range(0, count, 97):
        assert got[f"u{i}"] == [f"127.1.{i >> 8}.{i & 255}:{NO_BACKEND_PORT}"]


def test_queries_in_flight_never_exceed_the_default_cap_of_128(
        nginx_factory):
    count = 3000
    dns = CountingDNS(answer="127.0.0.2", delay=0.02)
    try:
        sport = testbed.free_port()
        nginx_factory(_conf(dns.server, count, sport))
        wait_for(lambda: _unresolved(sport) == [], timeout=15, interval=0.1,
                 what="all names resolved")
        assert dns.received >= count
        assert dns.max_outstanding <= DEFAULT_CAP
        # and the window is used: the queue is drained as answers arrive
        assert dns.max_outstanding >= DEFAULT_CAP // 2
    finally:
        dns.stop()


def test_resolve_max_in_flight_caps_the_lookups_of_each_worker(
        nginx_factory):
    count, cap, workers = 600, 16, 2
    dns = CountingDNS(answer="127.0.0.2", delay=0.05)
    try:
        sport = testbed.free_port()
        n = nginx_factory(_conf(dns.server, count, sport,
                                extra=f"resolve_max_in_flight {cap};"),
                          workers=workers)
        wait_for(lambda: _unresolved(sport) == [], timeout=20, interval=0.1,
                 what="all names resolved")
        # each worker has its own resolver socket, so a source is a worker
        per_worker = dns.max_outstanding_by_source
        assert per_worker and max(per_worker.values()) <= cap, per_worker
        assert len(per_worker) <= workers
        assert dns.max_outstanding <= cap * workers
        # the cap is what limits: 600 names keep every slot busy
        assert max(per_worker.values()) >= cap // 2
        assert n.proc.alive()
    finally:
        dns.stop()


def test_resolve_max_in_flight_refuses_a_value_out_of_range(
        nginx_factory):
    sport = testbed.free_port()
    for value, message in (("0", "value must be between 1 and 65536"),
                           ("65537", "value must be between 1 and 65536"),
                           ("many", "invalid number")):
        n = nginx_factory(_conf("127.0.0.1:53", 1, sport,
                                extra=f"resolve_max_in_flight {value};"),
                          start=False)
        r = n.test_config()
        assert r.returncode != 0
        assert message in r.stdout, r.stdout


def test_a_timed_out_lookup_frees_its_slot_for_the_next_name(nginx_factory):
    # a DNS server that never answers: every lookup ends by timeout (1 s),
    # and only then may the next queued name go
    count, cap, timeout = 6, 2, 1.0
    dns = CountingDNS(answer=None)
    try:
        sport = testbed.free_port()
        nginx_factory(_conf(dns.server, count, sport, resolver_timeout="1s",
                            ttl="1s 1s",
                            extra=f"resolve_max_in_flight {cap};"))
        time.sleep(3.5 * timeout)
        times = list(dns.times)
        # slots came free: at least cap lookups per timeout period
        assert len(times) >= 3 * cap, times
        # never more than cap at once: cap + 1 queries span a timeout
        for a, b in zip(times, times[cap:]):
            assert b - a >= 0.8 * timeout, times
        # and every name had its turn (no name keeps the slots)
        assert len(dns.times) >= count
    finally:
        dns.stop()


def test_names_waiting_their_turn_keep_their_peers_and_each_gets_refreshed(
        nginx_factory):
    # one slot, answers take 0.25 s, names are due every second: a round
    # over 12 names takes 3 s, so names always wait in the queue
    count, delay = 12, 0.25
    dns = CountingDNS(answer="127.0.0.2", delay=delay)
    try:
        sport = testbed.free_port()
        nginx_factory(_conf(dns.server, count, sport, ttl="1s 1s",
                            extra="resolve_max_in_flight 1;"))
        wait_for(lambda: _unresolved(sport) == [], timeout=count * delay + 3,
                 interval=0.1, what="all names resolved")
        first = {u["name"]: u["resolve"][0]["last_resolution_ms"]
                 for u in status(sport)["upstreams"]}

        # two rounds: every name keeps its peer while it waits
        deadline = time.monotonic() + 2 * count * delay
        while time.monotonic() < deadline:
            for u in status(sport)["upstreams"]:
                assert u["resolve"][0]["addresses"] == [
                    f"127.0.0.2:{NO_BACKEND_PORT}"], u
                assert len(u["peers"]) == 1, u
            time.sleep(0.1)

        last = {u["name"]: u["resolve"][0]["last_resolution_ms"]
                for u in status(sport)["upstreams"]}
        assert all(last[k] > first[k] for k in first), (first, last)
        assert dns.max_outstanding <= 1
        # first due, first served: the names take turns, each query of a
        # name about count queries after its previous one
        names = list(dns.names)
        seen = {}
        for i, name in enumerate(names):
            if name in seen:
                assert count - 2 <= i - seen[name] <= count + 2, names
            seen[name] = i
        assert len(seen) == count
    finally:
        dns.stop()


def test_valgrind_reports_no_invalid_access_while_names_wait_time_out_and_reload(
        procs, nginx_factory, tmp_path):
    # one slot, a DNS server that never answers: names wait in the queue,
    # time out one after the other, a reload and the exit find the queue
    # full and a lookup in flight
    from test_module_valgrind import (SUPPRESSIONS, VALGRIND, _reports,
                                      assert_clean)
    dns = CountingDNS(answer=None)
    try:
        sport = testbed.free_port()
        n = nginx_factory(_conf(dns.server, 5, sport, resolver_timeout="1s",
                                ttl="1s 1s",
                                extra="resolve_max_in_flight 1;"),
                          start=False)
        logs = str(tmp_path / "valgrind.%p.log")
        supp = tmp_path / "nginx-core.supp"
        supp.write_text(SUPPRESSIONS)
        argv = [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite", "--num-callers=30",
                f"--suppressions={supp}", f"--log-file={logs}", *n.cmd()]
        nginx = procs.start("valgrind-nginx", argv, timeout=60,
                            ready=lambda: testbed.wait_tcp("127.0.0.1",
                                                           sport))
        wait_for(lambda: dns.received >= 3, timeout=30,
                 what="lookups timing out one after the other")
        nginx.signal(signal.SIGHUP)
        wait_for(lambda: "reconfiguring" in n.error_log(), timeout=30,
                 what="reload")
        received = dns.received
        wait_for(lambda: dns.received >= received + 2, timeout=30,
                 what="lookups after the reload")
        nginx.signal(signal.SIGQUIT)
        nginx.popen.wait(60)
        times = list(dns.times)
    finally:
        dns.stop()

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)
    # one slot: the next lookup only after the previous one timed out,
    # except across the reload (the old worker's last lookup may still be
    # in flight when the new worker starts)
    overlaps = sum(1 for a, b in zip(times, times[1:]) if b - a < 0.8)
    assert overlaps <= 1, times


def test_a_name_in_four_upstreams_is_asked_once_per_refresh_not_four_times(
        nginx_factory):
    # the four upstreams' lookups of the name fall due together and nginx's
    # resolver sends one query for lookups of a name in flight together
    dns = CountingDNS(answer="127.0.0.2")
    try:
        sport = testbed.free_port()
        ups = "\n".join(
            f"upstream s{i} {{ zone s{i} 64k; resolve_server "
            f"same.pace.svc.cluster.local:{NO_BACKEND_PORT}; "
            f"resolve_ttl 1s 1s; }}" for i in range(4))
        nginx_factory(f"resolver {dns.server} ipv6=off;\n{ups}\n"
                      f"server {{ listen 127.0.0.1:{sport}; location = "
                      f"/upstreams {{ upstream_resolve_status; }} }}\n")
        wait_for(lambda: _unresolved(sport) == [], timeout=5,
                 what="all four resolved")
        q0 = dns.received
        time.sleep(4.0)
        queries = dns.received - q0
        # one refresh a second: about 4 queries, not 16
        assert 2 <= queries <= 6, queries
        assert _unresolved(sport) == []
    finally:
        dns.stop()
