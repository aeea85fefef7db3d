"""ngx_http_upstream_resolve_module through portico-dnscache, as deployed:
nginx's resolver asks the loopback cache, which asks the cluster DNS
(real dnsmasq). Record changes reach the traffic within the cache's
max TTL plus resolve_ttl's MAX plus 1 s, without a failed request, and
the source DNS going away changes nothing until it comes back."""
import time

import testbed
from testbed.fixtures_module import (addresses, http_get, resolve_conf,
                                     upstream_status, wait_for)

SVC = "web.default.svc.cluster.local"
CACHE_MAX_TTL = 1
RESOLVE_MAX = 2


def _setup(nginx_factory, cluster_dns_factory, dnscache_factory,
           nginx_backends):
    dns = cluster_dns_factory(ttl=1)
    cache = dnscache_factory(upstream=dns.server, min_ttl=1,
                             max_ttl=CACHE_MAX_TTL, neg_ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    dns.set(SVC, "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(resolve_conf(f"{cache.addr}:{cache.port}", {"web": (
        f"zone web 64k; resolve_server {SVC}:{be.port}; "
        f"resolve_ttl 1s {RESOLVE_MAX}s; keepalive 8;")}, port, sport,
        resolver_timeout="2s"), workers=2)
    n.port, n.sport = port, sport
    wait_for(lambda: addresses(sport, "web") == [f"127.0.0.2:{be.port}"],
             what="first resolution through the cache")
    return dns, cache, be, n


def test_record_change_through_dnscache_under_load_without_errors(
        nginx_factory, cluster_dns_factory, dnscache_factory, nginx_backends,
        http_load):
    dns, cache, be, n = _setup(nginx_factory, cluster_dns_factory,
                               dnscache_factory, nginx_backends)
    lo = http_load(n.port, "/web/")
    time.sleep(1.0)
    dns.set(SVC, "127.0.0.3")
    changed = time.monotonic()
    time.sleep(CACHE_MAX_TTL + RESOLVE_MAX + 2.0)
    results = lo.stop()

    assert lo.failures() == [] and lo.disconnects() == []
    last_old = max(t for t, _, body in results if body == "127.0.0.2")
    assert last_old - changed <= CACHE_MAX_TTL + RESOLVE_MAX + 1.0
    assert results[-1][2] == "127.0.0.3"


def test_cluster_dns_outage_behind_dnscache_keeps_traffic_flowing(
        nginx_factory, cluster_dns_factory, dnscache_factory, nginx_backends,
        http_load):
    dns, cache, be, n = _setup(nginx_factory, cluster_dns_factory,
                               dnscache_factory, nginx_backends)
    dns.stop()
    lo = http_load(n.port, "/web/", threads=2)
    time.sleep(4.0)
    results = lo.stop()
    assert lo.failures() == []
    assert {body for _, _, body in results} == {"127.0.0.2"}
    assert addresses(n.sport, "web") == [f"127.0.0.2:{be.port}"]

    dns.set(SVC, "127.0.0.3")
    dns.start()
    wait_for(lambda: addresses(n.sport, "web") == [f"127.0.0.3:{be.port}"],
             timeout=15, what="change after the cluster DNS is back")
    assert http_get(n.port, "/web/") == (200, "127.0.0.3\n")
    assert upstream_status(n.sport, "web")["resolve"][0]["failures"] == 0
