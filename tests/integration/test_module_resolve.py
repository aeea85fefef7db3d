"""ngx_http_upstream_resolve_module against real nginx and a real dnsmasq:
record changes under load, DNS outages, NXDOMAIN and empty answers, names
that appear later, weights, backup/static peers, configuration errors."""
import collections
import threading
import time

import testbed
from testbed.fixtures_module import (addresses, http_get, resolve_conf,
                                     upstream_status, wait_for)

SVC = "web.default.svc.cluster.local"


def _nginx(nginx_factory, dns, upstreams, workers=1, **kw):
    port, sport = testbed.free_port(), testbed.free_port()
    conf = resolve_conf(dns.server, upstreams, port, sport, **kw)
    n = nginx_factory(conf, workers=workers)
    n.port, n.sport = port, sport
    return n


def test_record_change_under_load_moves_traffic_within_max_plus_1s(
        nginx_factory, cluster_dns_factory, nginx_backends, http_load):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    n = _nginx(nginx_factory, dns, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 2s; "
        f"keepalive 8;")})
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.2:{be.port}"],
             what="first resolution")

    lo = http_load(n.port, "/web/")
    time.sleep(1.0)
    dns.set(SVC, "127.0.0.3")
    changed = time.monotonic()
    time.sleep(3.5)
    results = lo.stop()

    assert lo.failures() == [] and lo.disconnects() == []
    assert len(results) > 100
    first_new = min(t for t, _, body in results if body == "127.0.0.3")
    last_old = max(t for t, _, body in results if body == "127.0.0.2")
    # MAX (2 s) + 1 s
    assert first_new - changed <= 3.0
    assert last_old - changed <= 3.0
    assert results[-1][2] == "127.0.0.3"


def test_dns_outage_keeps_last_good_addresses_and_recovers(
        nginx_factory, cluster_dns_factory, nginx_backends, http_load):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    n = _nginx(nginx_factory, dns, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 2s;")},
        resolver_timeout="1s")
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.2:{be.port}"],
             what="first resolution")

    dns.stop()
    lo = http_load(n.port, "/web/", threads=2)
    wait_for(lambda: upstream_status(n.sport, "web")["resolve"][0]
             ["failures"] >= 2, timeout=15, what="failed resolutions")
    results = lo.stop()
    assert lo.failures() == []
    assert {body for _, _, body in results} == {"127.0.0.2"}
    st = upstream_status(n.sport, "web")["resolve"][0]
    assert st["addresses"] == [f"127.0.0.2:{be.port}"]
    assert st["last_error"] is not None

    dns.set(SVC, "127.0.0.3")
    dns.start()
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.3:{be.port}"],
             timeout=15, what="change after the DNS server is back")
    assert http_get(n.port, "/web/") == (200, "127.0.0.3\n")
    st = upstream_status(n.sport, "web")["resolve"][0]
    assert st["failures"] == 0 and st["last_error"] is None


def test_nxdomain_empties_the_set_quickly_502_and_backup_still_serves(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.5"))
    dns.set(SVC, "127.0.0.2")
    n = _nginx(nginx_factory, dns, {
        "web": f"zone web 64k; resolve_server {SVC}:{be.port}; "
               f"resolve_ttl 1s 2s;",
        "withbackup": f"zone wb 64k; resolve_server {SVC}:{be.port}; "
                      f"server 127.0.0.5:{be.port} backup; "
                      f"resolve_ttl 1s 2s;"})
    wait_for(lambda: addresses(n.sport, "web") and
             addresses(n.sport, "withbackup"), what="first resolution")
    assert http_get(n.port, "/withbackup/") == (200, "127.0.0.2\n")

    dns.remove(SVC)
    wait_for(lambda: addresses(n.sport, "web") == [] and
             addresses(n.sport, "withbackup") == [], timeout=5,
             what="empty set after NXDOMAIN")
    t0 = time.monotonic()
    code, _ = http_get(n.port, "/web/")
    assert code == 502 and time.monotonic() - t0 < 0.5
    assert http_get(n.port, "/withbackup/") == (200, "127.0.0.5\n")
    st = upstream_status(n.sport, "web")["resolve"][0]
    assert st["last_error"] == "Host not found"

    # logged once per upstream, not at every retry
    time.sleep(2.5)
    log = n.error_log()
    assert log.count(f'upstream "web": "{SVC}:{be.port}" has no address') == 1

    dns.set(SVC, "127.0.0.2")
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.2:{be.port}"],
             timeout=4, what="name back")
    assert http_get(n.port, "/web/") == (200, "127.0.0.2\n")


def test_empty_answer_gives_empty_set_and_static_server_still_serves(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.4"))
    # the name exists with an IPv6 address only: an empty IPv4 answer
    dns.set(SVC, "::1")
    n = _nginx(nginx_factory, dns, {
        "web": f"zone web 64k; resolve_server {SVC}:{be.port}; "
               f"server 127.0.0.4:{be.port}; resolve_ttl 1s 2s;"})
    st = wait_for(lambda: upstream_status(n.sport, "web")["resolve"][0]
                  if upstream_status(n.sport, "web")["resolve"][0]
                  ["last_resolution_ms"] else None, what="a resolution")
    assert st["addresses"] == []
    for _ in range(5):
        assert http_get(n.port, "/web/") == (200, "127.0.0.4\n")


def test_name_that_appears_later_starts_with_502_then_serves(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2",))
    n = _nginx(nginx_factory, dns, {
        "web": f"zone web 64k; resolve_server {SVC}:{be.port}; "
               f"resolve_ttl 1s 5s;"})
    # nginx -t and the start succeed although the name does not resolve
    assert n.test_config().returncode == 0
    wait_for(lambda: upstream_status(n.sport, "web")["resolve"][0]
             ["last_error"] == "Host not found", what="NXDOMAIN seen")
    assert http_get(n.port, "/web/")[0] == 502

    dns.set(SVC, "127.0.0.2")
    t0 = time.monotonic()
    wait_for(lambda: http_get(n.port, "/web/") == (200, "127.0.0.2\n"),
             timeout=5, what="name appeared")
    # retried after MIN (1 s), not after MAX
    assert time.monotonic() - t0 < 2.5


def test_several_addresses_and_names_are_balanced_by_weight(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=5)
    be = nginx_backends(("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    dns.set("a.cluster.local", "127.0.0.2", "127.0.0.3")
    dns.set("b.cluster.local", "127.0.0.4")
    n = _nginx(nginx_factory, dns, {
        "web": f"zone web 64k; "
               f"resolve_server a.cluster.local:{be.port}; "
               f"resolve_server b.cluster.local:{be.port} weight=2; "
               f"keepalive 4;"})
    wait_for(lambda: len(addresses(n.sport, "web", 0)) == 2 and
             len(addresses(n.sport, "web", 1)) == 1, what="resolution")
    counts = collections.Counter(http_get(n.port, "/web/")[1].strip()
                                 for _ in range(200))
    # smooth weighted round robin gives 1:1:2 (exactly, unless a slow
    # connection on a loaded machine counts as a failure)
    assert set(counts) == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}, counts
    assert abs(counts["127.0.0.2"] - 50) <= 6, counts
    assert abs(counts["127.0.0.3"] - 50) <= 6, counts
    assert abs(counts["127.0.0.4"] - 100) <= 8, counts
    peers = upstream_status(n.sport, "web")["peers"]
    assert sorted(p["weight"] for p in peers) == [1, 1, 2]


def test_failed_peer_is_skipped_by_passive_health_check(
        nginx_factory, cluster_dns_factory, nginx_backends):
    dns = cluster_dns_factory(ttl=5)
    be = nginx_backends(("127.0.0.2",))
    # 127.0.0.9 has no backend: connection refused
    dns.set(SVC, "127.0.0.2", "127.0.0.9")
    n = _nginx(nginx_factory, dns, {
        "web": f"zone web 64k; resolve_server {SVC}:{be.port} "
               f"max_fails=1 fail_timeout=30s;"})
    wait_for(lambda: len(addresses(n.sport, "web")) == 2, what="resolution")
    bodies = [http_get(n.port, "/web/") for _ in range(20)]
    assert bodies == [(200, "127.0.0.2\n")] * 20
    peers = {p["address"]: p for p in upstream_status(n.sport, "web")["peers"]}
    assert peers[f"127.0.0.9:{be.port}"]["fails"] == 1


def test_a_request_tries_each_of_75_failing_peers_exactly_once(
        nginx_factory, cluster_dns_factory, tmp_path):
    # 3 names x 25 addresses (each answer fits 512 bytes), nothing listens
    # on the port: every attempt is refused and the next peer is tried.
    # 75 peers need two words of the tried bitmap (ids 0-74).
    dns = cluster_dns_factory(ttl=30)
    port = testbed.free_port()
    names = [f"web{k}.default.svc.cluster.local" for k in range(3)]
    for k, name in enumerate(names):
        dns.set(name, *[f"127.0.{10 + k}.{i + 1}" for i in range(25)])
    log = tmp_path / "access.log"
    # max_fails=0: every request tries them all again
    n = _nginx(nginx_factory, dns, {"web": "zone web 1m; " + " ".join(
        f"resolve_server {name}:{port} max_fails=0;" for name in names)},
        access_log=log,
        extra="proxy_next_upstream error; proxy_next_upstream_tries 0;")
    wait_for(lambda: len(upstream_status(n.sport, "web")["peers"]) == 75,
             what="75 peers")
    ids = set()
    for _ in range(3):
        assert http_get(n.port, "/web/")[0] == 502
    lines = wait_for(lambda: (lambda ls: ls if len(ls) == 3 else None)(
        log.read_text().splitlines()), what="access log lines")
    for line in lines:
        tried = line.rsplit(" ", 1)[0].split(", ")
        assert len(tried) == 75, line
        assert len(set(tried)) == 75, "a peer was tried twice"
        ids.update(tried)
    assert len(ids) == 75


def test_removed_peer_in_use_becomes_zombie_until_its_request_ends(
        nginx_factory, cluster_dns_factory, nginx_backends, slow_backend,
        tmp_path):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.3",))
    slow_backend("127.0.0.6", be.port, delay=2.0)
    dns.set(SVC, "127.0.0.6")
    log = tmp_path / "access.log"
    n = _nginx(nginx_factory, dns, {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; resolve_ttl 1s 1s; "
        f"keepalive 4;")}, access_log=log)
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.6:{be.port}"],
             what="first resolution")

    answer = []
    t = threading.Thread(target=lambda: answer.append(
        http_get(n.port, "/web/")))
    t.start()
    wait_for(lambda: upstream_status(n.sport, "web")["peers"][0]["conns"]
             == 1, what="request in flight")
    dns.set(SVC, "127.0.0.3")
    u = wait_for(lambda: (lambda u: u if u["zombies"] == 1 else None)(
        upstream_status(n.sport, "web")), timeout=3, what="zombie")
    assert [p["address"] for p in u["peers"]] == [f"127.0.0.3:{be.port}"]
    assert http_get(n.port, "/web/") == (200, "127.0.0.3\n")

    t.join(5)
    assert answer == [(200, "127.0.0.6\n")]
    wait_for(lambda: upstream_status(n.sport, "web")["zombies"] == 0,
             what="zombie freed")
    # $upstream_addr of the request that held the removed peer
    wait_for(lambda: f"127.0.0.6:{be.port} 200" in log.read_text(),
             what="access log line")


def test_least_conn_before_resolve_server_picks_the_least_busy_peer(
        nginx_factory, cluster_dns_factory, nginx_backends, slow_backend):
    dns = cluster_dns_factory(ttl=5)
    be = nginx_backends(("127.0.0.3",))
    slow_backend("127.0.0.6", be.port, delay=2.0)
    dns.set(SVC, "127.0.0.6", "127.0.0.3")
    n = _nginx(nginx_factory, dns, {"web": (
        f"zone web 64k; least_conn; resolve_server {SVC}:{be.port}; "
        f"keepalive 4;")})
    wait_for(lambda: len(addresses(n.sport, "web")) == 2, what="resolution")

    def slow_conns():
        return next(p["conns"] for p in upstream_status(n.sport, "web")
                    ["peers"] if p["address"].startswith("127.0.0.6:"))

    # get one request busy on the slow peer (a pick may go to the fast one)
    slow = []
    for _ in range(4):
        t = threading.Thread(target=lambda: slow.append(
            http_get(n.port, "/web/")))
        t.start()
        if wait_for(lambda: slow_conns() == 1 or not t.is_alive(),
                    what="request placed") and slow_conns() == 1:
            break
        t.join()
    assert slow_conns() == 1
    # round robin would send every second request to the busy peer
    bodies = [http_get(n.port, "/web/")[1] for _ in range(10)]
    assert bodies == ["127.0.0.3\n"] * 10
    t.join(5)
    assert slow[-1] == (200, "127.0.0.6\n")


def test_configuration_errors_are_clear(nginx_factory, cluster_dns):
    port, sport = testbed.free_port(), testbed.free_port()
    cases = {
        "requires \"zone\"": {"u": f"resolve_server {SVC};"},
        "is an address": {"u": "zone u 64k; resolve_server 127.0.0.2:80;"},
        "invalid parameter": {"u": f"zone u 64k; resolve_server {SVC} x=1;"},
        "MIN <= MAX": {"u": f"zone u 64k; resolve_server {SVC}; "
                            f"resolve_ttl 5s 1s;"},
        "must come before \"keepalive\"": {
            "u": f"zone u 64k; keepalive 2; resolve_server {SVC};"},
        "works with round robin, or \"least_conn\" given before it": {
            "u": f"zone u 64k; resolve_server {SVC}; least_conn;"},
        "works with round robin or \"least_conn\" (before it) only": {
            "u": f"zone u 64k; hash $uri; resolve_server {SVC};"},
        "IPv4 and IPv6 only": {
            "u": f"zone u 64k; resolve_server {SVC}; "
                 f"server unix:/tmp/portico-none.sock;"},
    }
    for message, ups in cases.items():
        n = nginx_factory(resolve_conf(cluster_dns.server, ups, port, sport),
                          start=False)
        r = n.test_config()
        assert r.returncode != 0 and message in r.stdout, (message, r.stdout)

    # no resolver at http level
    conf = resolve_conf(cluster_dns.server, {"u": f"zone u 64k; "
                        f"resolve_server {SVC};"}, port, sport)
    conf = conf.replace(f"resolver {cluster_dns.server} ipv6=off;", "")
    r = nginx_factory(conf, start=False).test_config()
    assert r.returncode != 0 and "no \"resolver\"" in r.stdout
