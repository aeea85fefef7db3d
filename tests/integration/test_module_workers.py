"""ngx_http_upstream_resolve_module with several workers and many names:
every worker sees the same peers (they live in the zone), a name is
resolved once per TTL by one worker, not once per worker, and 100
upstreams follow their records."""
import os
import signal
import time

import testbed
from testbed.fixtures_module import http_get, resolve_conf, status, wait_for

SVC = "web.default.svc.cluster.local"
WORKERS = 4


def _status_of_every_worker(sport, workers):
    """{pid: status} from fresh connections, until every worker answered
    (the status listener uses reuseport, so the kernel spreads them)."""
    seen = {}
    for _ in range(400):
        s = status(sport)
        seen[s["pid"]] = s
        if len(seen) == workers:
            return seen
    raise AssertionError(f"only workers {sorted(seen)} answered")


def _addresses_by_worker(sport, workers, upstream="web"):
    return {pid: sorted(next(u for u in s["upstreams"]
                             if u["name"] == upstream)["resolve"][0]
                        ["addresses"])
            for pid, s in _status_of_every_worker(sport, workers).items()}


def test_four_workers_share_peers_and_a_name_is_resolved_once_per_ttl(
        nginx_factory, logging_cluster_dns, nginx_backends):
    dns = logging_cluster_dns(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(resolve_conf(dns.server, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 2s;")},
        port, sport), workers=WORKERS)
    assert len(n.worker_pids()) == WORKERS

    want = [f"127.0.0.2:{be.port}"]
    wait_for(lambda: set(map(tuple, _addresses_by_worker(
        sport, WORKERS).values())) == {tuple(want)}, what="all workers")

    # TTL 1 s: about one query a second in all, not one per worker
    q0 = dns.counter.count_queries(SVC)
    time.sleep(4.0)
    queries = dns.counter.count_queries(SVC) - q0
    assert 2 <= queries <= 6, queries

    dns.set(SVC, "127.0.0.3")
    changed = time.monotonic()
    want = [f"127.0.0.3:{be.port}"]
    wait_for(lambda: set(map(tuple, _addresses_by_worker(
        sport, WORKERS).values())) == {tuple(want)}, timeout=5,
        what="all workers see the change")
    assert time.monotonic() - changed <= 3.0
    # and requests through every worker (fresh connections) go there
    bodies = {http_get(port, "/web/") for _ in range(40)}
    assert bodies == {(200, "127.0.0.3\n")}


def test_a_worker_killed_while_owning_names_is_taken_over(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(resolve_conf(dns.server, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 1s;")},
        port, sport, resolver_timeout="1s"), workers=2)
    wait_for(lambda: status(sport)["upstreams"][0]["resolve"][0]
             ["addresses"], what="first resolution")

    # with DNS down a claim stays in flight; kill the worker holding it
    dns.stop()
    owner = wait_for(lambda: status(sport)["upstreams"][0]["resolve"][0]
                     ["resolving_pid"], timeout=5, what="a claim in flight")
    os.kill(owner, signal.SIGKILL)
    killed = time.monotonic()
    dns.set(SVC, "127.0.0.3")
    dns.start()
    wait_for(lambda: http_get(port, "/web/") == (200, "127.0.0.3\n"),
             timeout=10, what="resolution goes on after a worker died")
    # the claim ran out (resolver_timeout 1 s + 2 s margin) and was taken
    st = status(sport)["upstreams"][0]["resolve"][0]
    assert st["resolving_pid"] != owner
    assert time.monotonic() - killed < 8
    assert n.proc.alive()


def test_100_upstreams_in_one_zone_follow_their_records(
        nginx_factory, cluster_dns_factory, nginx_backends):
    count = 100
    dns = cluster_dns_factory(ttl=1)
    addrs = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    be = nginx_backends(addrs)
    ups = {}
    for i in range(count):
        dns.records[f"svc-{i}.cluster.local"] = [addrs[i % 4]]
        zone = "zone many 1m;" if i == 0 else "zone many;"
        ups[f"u{i}"] = (f"{zone} resolve_server svc-{i}.cluster.local:"
                        f"{be.port}; resolve_ttl 1s 2s; keepalive 2;")
    dns.set("svc-0.cluster.local", addrs[0])  # writes all, one SIGHUP
    port, sport = testbed.free_port(), testbed.free_port()
    nginx_factory(resolve_conf(dns.server, ups, port, sport), workers=2)

    def all_resolved(expect):
        s = status(sport)
        got = {u["name"]: u["resolve"][0]["addresses"]
               for u in s["upstreams"]}
        return all(got[f"u{i}"] == [f"{expect(i)}:{be.port}"]
                   for i in range(count))

    wait_for(lambda: all_resolved(lambda i: addrs[i % 4]), timeout=10,
             what="100 names resolved")
    for i in range(0, count, 7):
        assert http_get(port, f"/u{i}/") == (200, f"{addrs[i % 4]}\n")

    for i in range(count):
        dns.records[f"svc-{i}.cluster.local"] = [addrs[(i + 1) % 4]]
    dns.set("svc-0.cluster.local", addrs[1])
    changed = time.monotonic()
    wait_for(lambda: all_resolved(lambda i: addrs[(i + 1) % 4]), timeout=6,
             what="100 names changed")
    assert time.monotonic() - changed <= 3.5
    for i in range(0, count, 7):
        assert http_get(port, f"/u{i}/") == (200, f"{addrs[(i + 1) % 4]}\n")
