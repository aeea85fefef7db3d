"""A route table in shards (docs/routes.md, "Format 3: a head and its
shards"): the head names content-addressed shard files, each holding the
host sections whose names hash to it and the upstreams they use; a host is
looked for in its own shard (exact, "*.D", "*"); a new head keeps every
shard it names unchanged and reads only the others; a head whose shard is
missing or broken is refused as a whole (the version in use stays), and
"nginx -t" checks every shard."""
import os
import re
import time
import zlib

import pytest

import testbed
from testbed.fixtures_module import (http_request, routes_version, status,
                                     wait_for, write_routes)
from testbed.prom import Samples

PROXY = ("proxy_pass http://portico_dispatch; proxy_http_version 1.1; "
         "proxy_set_header Connection \"\"; proxy_connect_timeout 1s;")
SHARDS = 4


def conf(dns_server, port, sport, extra=""):
    return (extra +f"resolver {dns_server} ipv6=off;\nresolver_timeout 1s;\n"
            f"resolve_upstreams zone=1m ttl=1s:2s;\n"
            f"portico_routes routes;\n"
            f"upstream portico_dispatch {{ portico_dispatch; }}\n"
            f"server {{ listen 127.0.0.1:{port} reuseport;\n"
            f"  location / {{ portico_route; {PROXY} }} }}\n"
            f"server {{ listen 127.0.0.1:{sport} reuseport;\n"
            f"  location = /routes-version {{ portico_routes_status; }}\n"
            f"  location = /upstreams {{ upstream_resolve_status; }} }}\n")


def shard_of(key, n=SHARDS):
    """As the module: CRC-32 of the section's name as written."""
    return zlib.crc32(key.encode()) & (n - 1)


def hosts_in_distinct_shards(count, n=SHARDS):
    """count host names, each in another shard."""
    seen, out = set(), []
    for i in range(1000):
        h = f"h{i}.example.com"
        if shard_of(h, n) not in seen:
            seen.add(shard_of(h, n))
            out.append(h)
        if len(out) == count:
            return out
    raise AssertionError("no such hosts")


class Sharded:
    """A routing nginx whose table is a head; shard files are written
    under conf/routes.d/ by content (their name is a hash of it)."""

    def __init__(self, nginx_factory, dns, workers=2, extra=""):
        self.port, self.sport = testbed.free_port(), testbed.free_port()
        self.nginx = nginx_factory(conf(dns.server, self.port, self.sport,
                                        extra),
                                   workers=workers, start=False)
        self.dir = os.path.join(self.nginx.prefix, "conf")
        os.makedirs(os.path.join(self.dir, "routes.d"), exist_ok=True)
        self.head = os.path.join(self.dir, "routes")

    def shard(self, text):
        """Writes a shard's file; its name."""
        body = "portico-routes-shard 1\n" + text
        name = "%016x" % (zlib.crc32(body.encode()) * 2654435761 % 2 ** 64)
        with open(os.path.join(self.dir, "routes.d", name), "w") as f:
            f.write(body)
        return name

    def write(self, version, shards, n=SHARDS):
        """shards: {index: name}."""
        text = f"portico-routes 3\nversion {version}\nshards {n}\n" + "".join(
            f"shard {i} {name}\n" for i, name in sorted(shards.items()))
        write_routes(self.head, text)

    def start(self):
        self.nginx.start()

    def swap(self, version, shards, n=SHARDS):
        self.write(version, shards, n)
        wait_for(lambda: routes_version(self.sport)[0] == version,
                 timeout=10, what=f"every worker on {version}")

    def who(self, host, path="/"):
        code, headers, _ = http_request(self.port, path, host=host)
        return headers.get("x-backend") if code == 200 else code


def sections(hosts_and_backends, backends):
    """Shard texts by index: {host: backend name}, backends: {name:
    Backend}; every upstream a shard's rules use is written in it."""
    by_shard = {}
    for host, b in hosts_and_backends.items():
        by_shard.setdefault(shard_of(host), []).append((host, b))
    out = {}
    for i, items in by_shard.items():
        ups = sorted({b for _, b in items})
        out[i] = ("".join(f"upstream u{b} {backends[b].addr}:"
                          f"{backends[b].port}\n" for b in ups)
                  + "".join(f"host {h}\nprefix / u{b}\n" for h, b in items))
    return out


@pytest.fixture
def backends(http_backend):
    a = http_backend("127.0.0.2", name="a")
    b = http_backend("127.0.0.3", port=a.port, name="b")
    c = http_backend("127.0.0.4", port=a.port, name="c")
    d = http_backend("127.0.0.5", port=a.port, name="d")
    return {"a": a, "b": b, "c": c, "d": d}


def test_each_host_is_found_in_its_own_shard(nginx_factory, cluster_dns,
                                             backends):
    h1, h2 = hosts_in_distinct_shards(2)
    routes = {h1: "a", h2: "b", "*.apps.example.com": "c", "*": "d"}
    r = Sharded(nginx_factory, cluster_dns)
    texts = sections(routes, backends)
    # the sections use at least three of the four shards, one may be empty
    assert len(texts) >= 3
    r.write("v1", {i: r.shard(t) for i, t in texts.items()})
    r.start()
    assert r.who(h1) == "a"
    assert r.who(h2) == "b"
    assert r.who("x.apps.example.com") == "c"
    # not one level deeper, and any other host: the "*" section
    assert r.who("y.x.apps.example.com") == "d"
    assert r.who("unknown.example.com") == "d"


def test_a_new_head_keeps_its_unchanged_shards_and_reads_the_others(
        nginx_factory, cluster_dns, backends):
    hosts = hosts_in_distinct_shards(4)
    r = Sharded(nginx_factory, cluster_dns)
    texts = sections({h: "a" for h in hosts}, backends)
    names = {i: r.shard(t) for i, t in texts.items()}
    r.write("v1", names)
    r.start()
    workers = sorted(r.nginx.worker_pids())
    assert all(r.who(h) == "a" for h in hosts)

    # one host moves to backend b: one shard changes
    changed = shard_of(hosts[0])
    moved = {**{h: "a" for h in hosts}, hosts[0]: "b"}
    names2 = {**names, changed: r.shard(sections(moved, backends)[changed])}
    r.swap("v2", names2)
    assert r.who(hosts[0]) == "b"
    assert all(r.who(h) == "a" for h in hosts[1:])
    assert sorted(r.nginx.worker_pids()) == workers
    # every worker kept the three shards it had
    log = r.nginx.error_log()
    assert log.count("version v2 replaces v1 (3 of 4 shards kept)") == 2, log


def test_a_head_with_a_missing_or_broken_shard_keeps_the_version_in_use(
        nginx_factory, cluster_dns, backends):
    h1, h2 = hosts_in_distinct_shards(2)
    r = Sharded(nginx_factory, cluster_dns, workers=1)
    texts = sections({h1: "a", h2: "b"}, backends)
    names = {i: r.shard(t) for i, t in texts.items()}
    r.write("v1", names)
    r.start()
    assert r.who(h1) == "a"

    other = shard_of(h2)
    r.write("v2", {**names, other: "0123456789abcdef"})
    wait_for(lambda: "keeping version v1" in r.nginx.error_log(),
             what="the missing shard refused")
    assert 'shard %d "' % other in r.nginx.error_log()
    assert routes_version(r.sport)[0] == "v1" and r.who(h2) == "b"

    # a host written in the wrong shard: the lookup would never find it
    wrong = r.shard(f"host {h1}\nprefix / -\n")
    r.write("v3", {**names, other: wrong})
    wait_for(lambda: "belongs in shard" in r.nginx.error_log(),
             what="the misplaced host refused")
    assert routes_version(r.sport)[0] == "v1" and r.who(h1) == "a"

    # the version in use is still taken over by a good head
    r.swap("v4", names)
    assert r.who(h1) == "a" and r.who(h2) == "b"


def test_an_upstream_in_two_shards_is_one_entry_of_the_zone(
        nginx_factory, cluster_dns, backends):
    h1, h2 = hosts_in_distinct_shards(2)
    r = Sharded(nginx_factory, cluster_dns)
    texts = sections({h1: "a", h2: "a"}, backends)
    assert len(texts) == 2
    r.write("v1", {i: r.shard(t) for i, t in texts.items()})
    r.start()
    assert r.who(h1) == "a" and r.who(h2) == "a"
    names = [u["name"] for u in status(r.sport)["upstreams"]]
    assert names.count("ua") == 1


BROKEN = [
    # (head after "version v1", shard texts by index, reason)
    ("", {}, 'expected "shards N"'),
    ("shards 3\n", {}, 'expected "shards N", N a power of two'),
    ("shards 4\nshards 4\n", {}, 'second "shards" line'),
    ("shard 0 abc\n", {}, '"shard" before "shards N"'),
    ("shards 4\nshard 4 abc\n", {}, "expected \"shard I NAME\""),
    ("shards 4\nshard 0 ABC\n", {}, 'invalid shard name "ABC"'),
    ("shards 4\nhost a.example.com\n", {}, '"host" in a head'),
    ("shards 1\n", {0: "version v2\n"},
     '"version" belongs in the head, not in a shard'),
    ("shards 1\n", {0: "host a.example.com\nprefix / nosuch\n"},
     'unknown upstream "nosuch"'),
]


@pytest.mark.parametrize("head,shards,reason", BROKEN,
                         ids=[b[2] for b in BROKEN])
def test_nginx_t_checks_the_head_and_every_shard(nginx_factory, cluster_dns,
                                                 head, shards, reason):
    r = Sharded(nginx_factory, cluster_dns, workers=1)
    lines = "".join(f"shard {i} {r.shard(t)}\n" for i, t in shards.items())
    write_routes(r.head, "portico-routes 3\nversion v1\n" + head + lines)
    res = r.nginx.test_config()
    assert res.returncode != 0
    assert reason in res.stdout, res.stdout


def test_a_kept_shard_keeps_counting_its_requests_under_their_labels(
        nginx_factory, cluster_dns, backends):
    h1, h2 = hosts_in_distinct_shards(2)
    mport = testbed.free_port()
    r = Sharded(nginx_factory, cluster_dns, workers=1,
                extra=("portico_metrics zone=1m grace=1s;\n"
                       f"server {{ listen 127.0.0.1:{mport} reuseport;\n"
                       "  location = /metrics { portico_metrics_status; } }\n"))

    def shard(host, backend):
        b = backends[backend]
        return r.shard(f"upstream u{backend} {b.addr}:{b.port}\n"
                       f"host {host}\nprefix / u{backend} "
                       f"ingress=shop/{backend} service={backend}\n")

    def count(backend):
        code, _, body = http_request(mport, "/metrics")
        assert code == 200
        return Samples(body).get("portico_requests_total", namespace="shop",
                                 ingress=backend, host=h1, path="/",
                                 service=backend, status="200", method="GET")

    kept = shard(h1, "a")
    r.write("v1", {shard_of(h1): kept, shard_of(h2): shard(h2, "b")})
    r.start()
    assert r.who(h1) == "a" and count("a") == 1

    # v2 keeps h1's shard: its rule's label set is the same one, and is not
    # freed after the grace (the attach refreshed it without a lookup)
    r.swap("v2", {shard_of(h1): kept, shard_of(h2): shard(h2, "c")})
    assert "(1 of 4 shards kept)" in r.nginx.error_log()
    assert r.who(h1) == "a" and count("a") == 2
    time.sleep(1.5)
    count("a")                  # a scrape: a clean-up
    time.sleep(1.5)
    assert r.who(h1) == "a" and count("a") == 3


def test_a_kept_shards_rules_without_room_get_labels_once_routes_are_freed(
        nginx_factory, cluster_dns, backends):
    # 128k holds 128 label sets (one the unrouted one): shard A's 100 rules
    # attach first, shard C's last 73 find no room
    hosts = sorted(hosts_in_distinct_shards(2), key=shard_of)
    ha, hc = hosts
    mport = testbed.free_port()
    r = Sharded(nginx_factory, cluster_dns, workers=1,
                extra=("portico_metrics zone=128k grace=1s;\n"
                       f"server {{ listen 127.0.0.1:{mport} reuseport;\n"
                       "  location = /metrics { portico_metrics_status; } }\n"))
    b = backends["a"]

    def shard(host, paths):
        return r.shard(f"upstream ua {b.addr}:{b.port}\nhost {host}\n" +
                       "".join(f"prefix /{p} ua ingress=shop/{p} service=a\n"
                               for p in paths))

    def without_labels(version):
        m = re.search(r"is full, (\d+) rules of table " + version + " ",
                      r.nginx.error_log())
        return int(m.group(1)) if m else None

    def labelled(path):
        code, _, body = http_request(mport, "/metrics")
        assert code == 200
        return Samples(body).get("portico_requests_total", namespace="shop",
                                 ingress=path, host=hc, path=f"/{path}",
                                 service="a", status="200", method="GET")

    kept = shard(hc, [f"c{i}" for i in range(100)])
    r.write("v1", {shard_of(ha): shard(ha, [f"a{i}" for i in range(100)]),
                   shard_of(hc): kept})
    r.start()
    wait_for(lambda: without_labels("v1") is not None, what="v1 full")
    assert 60 < without_labels("v1") < 100
    assert r.who(hc, "/c99") == "a" and labelled("c99") is None

    # A's rules go: once the grace has passed a scrape frees them, and the
    # next head's attach finds room for the kept shard's rules without one
    r.swap("v2", {shard_of(ha): shard(ha, ["z"]), shard_of(hc): kept})
    assert "(1 of 4 shards kept)" in r.nginx.error_log()
    r.who(hc, "/c99")
    assert labelled("c99") is None
    time.sleep(1.5)
    labelled("c0")              # a scrape: a clean-up
    time.sleep(1.5)
    labelled("c0")
    r.swap("v3", {shard_of(ha): shard(ha, ["y"]), shard_of(hc): kept})
    assert without_labels("v3") is None
    assert r.who(hc, "/c99") == "a" and labelled("c99") == 1
