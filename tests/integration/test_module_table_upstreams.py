"""Table upstreams (docs/routes.md, format 2): the "upstream" lines of the
route table are made and removed by the module in the zone of
"resolve_upstreams" while nginx runs, without a reload; a route to one
that has not resolved yet waits for its first answer (bounded) rather than
answering 502, and one that does not resolve answers 503 with a header; a
reload keeps them, a fresh master seeds them from the state file; the
dispatch upstream's keepalive serves them all."""
import os
import signal
import threading
import time

import pytest

import testbed
from testbed.fixtures_module import (http_request, routes_version, status,
                                     wait_for, write_routes, Load)
from testbed.scripted_dns import ScriptedDNS

DOMAIN = "svc.cluster.local"
PROXY = ("proxy_pass http://portico_dispatch; proxy_http_version 1.1; "
         "proxy_set_header Connection \"\"; proxy_connect_timeout 1s;")


def conf(dns_server, port, sport, zone="1m", ttl="1s:2s", state=None,
         wait=None, keepalive=8, extra=""):
    """http{} body: resolver, resolve_upstreams, the route table "routes"
    next to nginx.conf, dispatch with keepalive, one routing server and the
    status server (/routes-version, /upstreams, /table)."""
    st = f" state={state}" if state else ""
    wt = f" wait={wait}" if wait else ""
    ka = f" keepalive {keepalive};" if keepalive else ""
    return (f"resolver {dns_server} ipv6=off;\nresolver_timeout 1s;\n"
            f"resolve_upstreams zone={zone} ttl={ttl}{st};\n"
            f"portico_routes routes{wt};\n"
            f"upstream portico_dispatch {{ portico_dispatch;{ka} }}\n"
            f"server {{ listen 127.0.0.1:{port} reuseport; "
            f"keepalive_requests 1000000;\n"
            f"  location / {{ portico_route; {PROXY} }} }}\n"
            f"server {{ listen 127.0.0.1:{sport} reuseport;\n"
            f"  location = /routes-version {{ portico_routes_status; }}\n"
            f"  location = /upstreams {{ upstream_resolve_status; }}\n"
            f"  location = /table {{ resolve_upstreams_status; }} }}\n"
            + extra)


def table(version, upstreams, routes):
    """upstreams: {name: "HOST:PORT [params]"}; routes: [(path, name)]."""
    return ("portico-routes 2\nversion %s\n" % version
            + "".join(f"upstream {n} {s}\n" for n, s in upstreams.items())
            + "host *\n"
            + "".join(f"prefix {p} {n}\n" for p, n in routes))


class Backends:
    """A plain nginx: backend NAME on its own loopback address answering
    "NAME <client port>" (the port shows keep-alive reuse)."""

    def __init__(self, nginx_factory, names):
        self.port = testbed.free_port("127.0.0.1")
        self.addr = {n: f"127.0.0.{i + 2}" for i, n in enumerate(names)}
        blocks = [f"server {{ listen {a}:{self.port}; "
                  f"keepalive_requests 1000000; keepalive_timeout 60s; "
                  f"location / {{ return 200 \"{n} $remote_port\\n\"; }} }}"
                  for n, a in self.addr.items()]
        self.nginx = nginx_factory("\n".join(blocks), workers=1,
                                   module=False)


class Router:
    def __init__(self, nginx_factory, dns, text, workers=2, **kw):
        self.port, self.sport = testbed.free_port(), testbed.free_port()
        self.nginx = nginx_factory(conf(dns.server, self.port, self.sport,
                                        **kw), workers=workers, start=False)
        self.path = os.path.join(self.nginx.prefix, "conf", "routes")
        write_routes(self.path, text)
        self.nginx.start()

    def get(self, path, timeout=10.0):
        code, headers, body = http_request(self.port, path,
                                           host="example.com",
                                           timeout=timeout)
        return code, headers, body

    def who(self, path):
        """The name of the echo backend that answered, or the status."""
        code, headers, _ = self.get(path)
        return headers["x-backend"] if code == 200 else code

    def swap(self, text, version):
        write_routes(self.path, text)
        wait_for(lambda: routes_version(self.sport)[0] == version,
                 timeout=10, what=f"every worker on {version}")

    def state(self):
        """The first lines of /table as a dict, and the pending and failed
        lines."""
        code, _, body = http_request(self.sport, "/table")
        assert code == 200, body
        lines = body.splitlines()
        words = lines[0].split()
        out = {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
        out["waited"] = int(lines[2].split()[1])
        out["unresolved"] = int(lines[2].split()[3])
        out["lines"] = lines[3:]
        return out


def name(n):
    return f"{n}.default.{DOMAIN}"


def test_upstreams_are_made_and_removed_by_a_table_swap_without_reload(
        nginx_factory, cluster_dns, http_backend):
    cluster_dns.set(name("a"), "127.0.0.2")
    cluster_dns.set(name("b"), "127.0.0.3")
    a = http_backend("127.0.0.2", name="a")
    b = http_backend("127.0.0.3", port=a.port, name="b")
    assert b
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"ua": f"{name('a')}:{a.port}"}, [("/a", "ua")]))
    workers = sorted(r.nginx.worker_pids())
    assert r.get("/a")[0] == 200

    r.swap(table("v2", {"ub": f"{name('b')}:{a.port}"}, [("/b", "ub")]),
           "v2")
    assert r.get("/b")[0] == 200 and r.get("/a")[0] == 404
    # no reload: the same workers
    assert sorted(r.nginx.worker_pids()) == workers
    # "ua" is freed once no worker's table names it (clean-up: 1 s)
    wait_for(lambda: r.state()["upstreams"] == 1, timeout=5,
             what="the removed upstream freed")
    names = [u["name"] for u in status(r.sport)["upstreams"]]
    assert names == ["ub"]


def test_request_to_a_new_upstream_waits_for_the_first_answer_not_502(
        nginx_factory, http_backend):
    # every answer comes 0.6 s late: the first requests wait, then 200
    dns = ScriptedDNS(answer="127.0.0.2", delay=0.6)
    try:
        be = http_backend("127.0.0.2", name="late")
        r = Router(nginx_factory, dns, table("v1", {}, []), workers=1)
        r.swap(table("v2", {"u": f"{name('late')}:{be.port}"},
                     [("/late", "u")]), "v2")
        started = time.monotonic()
        code, headers, _ = r.get("/late")
        took = time.monotonic() - started
        assert code == 200, headers
        assert 0.3 <= took <= 1.9, took
        st = r.state()
        assert st["waited"] == 1 and st["unresolved"] == 0
    finally:
        dns.stop()


def test_a_name_that_does_not_resolve_answers_503_with_a_header(
        nginx_factory, cluster_dns):
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"gone": f"{name('gone')}:80"}, [("/", "gone")]),
               workers=1)
    wait_for(lambda: r.state()["failed"] == 1, what="NXDOMAIN applied")
    started = time.monotonic()
    code, headers, _ = r.get("/x")
    assert code == 503
    assert headers.get("x-portico-upstream") == "unresolved"
    assert time.monotonic() - started < 0.5      # no wait: it failed
    st = r.state()
    assert st["unresolved"] == 1
    assert st["lines"] == [f"failed gone {name('gone')}:80 Host not found"]


def test_a_name_whose_dns_never_answers_gets_503_after_the_wait_bound(
        nginx_factory):
    dns = ScriptedDNS()        # a blackhole
    try:
        r = Router(nginx_factory, dns,
                   table("v1", {"mute": f"{name('mute')}:80"},
                         [("/", "mute")]), workers=1, wait="400ms")
        started = time.monotonic()
        code, headers, _ = r.get("/x")
        took = time.monotonic() - started
        assert code == 503 and headers["x-portico-upstream"] == "unresolved"
        assert 0.35 <= took <= 0.9, took
        st = r.state()
        assert st["pending"] == 1 and st["waited"] == 1
        assert st["lines"] == [f"pending mute {name('mute')}:80"]
    finally:
        dns.stop()


def test_an_address_as_server_needs_no_dns(nginx_factory, http_backend):
    dns = ScriptedDNS()        # never answers: must not be needed
    try:
        be = http_backend("127.0.0.2", name="ip")
        r = Router(nginx_factory, dns,
                   table("v1", {"ip": f"127.0.0.2:{be.port}"},
                         [("/", "ip")]), workers=1)
        assert r.get("/x")[0] == 200
        assert dns.received == 0
    finally:
        dns.stop()


def test_a_new_server_for_an_upstream_moves_its_traffic(
        nginx_factory, cluster_dns, http_backend):
    cluster_dns.set(name("one"), "127.0.0.2")
    cluster_dns.set(name("two"), "127.0.0.3")
    one = http_backend("127.0.0.2", name="one")
    http_backend("127.0.0.3", port=one.port, name="two")
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"u": f"{name('one')}:{one.port}"},
                     [("/", "u")]))
    assert r.who("/x") == "one"
    r.swap(table("v2", {"u": f"{name('two')}:{one.port} max_fails=3"},
                 [("/", "u")]), "v2")
    wait_for(lambda: r.who("/x") == "two", timeout=3, what="new server")
    assert {r.who("/x") for _ in range(10)} == {"two"}
    u = status(r.sport)["upstreams"][0]
    assert [p["address"] for p in u["peers"]] == [f"127.0.0.3:{one.port}"]


def test_a_removed_upstream_lives_on_while_a_request_uses_it(
        nginx_factory, cluster_dns, slow_backend, http_backend):
    cluster_dns.set(name("slow"), "127.0.0.6")
    cluster_dns.set(name("fast"), "127.0.0.2")
    fast = http_backend("127.0.0.2", name="fast")
    slow_backend("127.0.0.6", fast.port, delay=2.5)
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"slow": f"{name('slow')}:{fast.port}",
                            "fast": f"{name('fast')}:{fast.port}"},
                     [("/slow", "slow"), ("/fast", "fast")]), workers=1)
    answer = []
    t = threading.Thread(target=lambda: answer.append(r.get("/slow")))
    t.start()
    wait_for(lambda: status(r.sport)["upstreams"][0]["peers"][0]["conns"]
             == 1, what="request in flight")
    r.swap(table("v2", {"fast": f"{name('fast')}:{fast.port}"},
                 [("/fast", "fast")]), "v2")
    time.sleep(1.5)            # clean-ups ran: the request holds "slow"
    assert r.state()["upstreams"] == 2
    t.join(10)
    assert answer and answer[0][0] == 200 and answer[0][2] == "127.0.0.6\n"
    wait_for(lambda: r.state()["upstreams"] == 1, timeout=5,
             what="freed after the request")


def test_a_reload_keeps_table_upstreams_with_their_addresses(
        nginx_factory, cluster_dns, http_backend):
    cluster_dns.set(name("kept"), "127.0.0.2")
    be = http_backend("127.0.0.2", name="kept")
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"kept": f"{name('kept')}:{be.port}"},
                     [("/", "kept")]))
    assert r.get("/x")[0] == 200
    cluster_dns.stop()         # nothing resolves any more
    r.nginx.reload()
    for _ in range(20):
        assert r.get("/x")[0] == 200
    assert r.state()["ready"] == 1


def test_a_fresh_master_serves_from_the_state_file_before_any_answer(
        nginx_factory, cluster_dns, http_backend):
    cluster_dns.set(name("seed"), "127.0.0.2")
    be = http_backend("127.0.0.2", name="seed")
    r = Router(nginx_factory, cluster_dns,
               table("v1", {"seed": f"{name('seed')}:{be.port}"},
                     [("/", "seed")]), state="state/upstreams")
    state = os.path.join(r.nginx.prefix, "state", "upstreams")
    assert r.get("/x")[0] == 200
    wait_for(lambda: os.path.exists(state) and "127.0.0.2" in
             open(state).read(), timeout=5, what="the state file")
    assert open(state).read() == (
        "portico-upstreams-state 1\n"
        f"seed {name('seed')}:{be.port} 127.0.0.2\n")

    # the master and its workers die; the DNS is gone too
    workers = r.nginx.worker_pids()
    r.nginx.proc.signal(signal.SIGKILL)
    for w in workers:
        os.kill(w, signal.SIGKILL)
    wait_for(lambda: not testbed.wait_tcp("127.0.0.1", r.port, timeout=0.1),
             what="old nginx gone")
    cluster_dns.stop()
    r.nginx.start()
    code, headers, body = r.get("/x", timeout=2)
    assert code == 200, (code, headers)
    assert "seeded from" in r.nginx.error_log()


def test_the_dispatch_keepalive_reuses_connections_to_table_upstreams(
        nginx_factory, http_backend):
    be = Backends(nginx_factory, ["k"])
    dns = ScriptedDNS()
    try:
        r = Router(nginx_factory, dns,
                   table("v1", {"k": f"127.0.0.2:{be.port}"},
                         [("/", "k")]), workers=1)
        ports = {r.get("/x")[2].split()[1] for _ in range(5)}
        assert len(ports) == 1, ports
    finally:
        dns.stop()


BAD_LINES = [
    ("upstream u\n", 'expected "upstream NAME HOST:PORT'),
    ("upstream u nohost\n", 'invalid server "nohost"'),
    ("upstream u a.example:0\n", 'invalid server "a.example:0"'),
    ("upstream u a..b:80\n", 'invalid server "a..b:80"'),
    ("upstream u [nothost]:80\n", 'invalid server "[nothost]:80"'),
    ("upstream b/ad a:80\n", 'invalid upstream name "b/ad"'),
    ("upstream u a:80 weight=2\n", 'invalid parameter "weight=2"'),
    ("upstream u a:80 max_fails=x\n", 'invalid parameter "max_fails=x"'),
    ("upstream u a:80\nupstream u b:80\n", 'duplicate upstream "u"'),
    ("host *\nupstream u a:80\n", '"upstream" after the first "host" line'),
]


@pytest.mark.parametrize("lines,reason", BAD_LINES,
                         ids=[b[1][:40] for b in BAD_LINES])
def test_a_bad_upstream_line_fails_nginx_t_with_its_line(
        nginx_factory, lines, reason):
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(conf("127.0.0.1:9", port, sport), start=False)
    path = os.path.join(n.prefix, "conf", "routes")
    write_routes(path, "portico-routes 2\nversion v1\n" + lines)
    res = n.test_config()
    assert res.returncode == 1, res.stdout
    assert "[emerg]" in res.stdout and reason in res.stdout, res.stdout
    line = 3 + lines.count("\n") - 1
    assert f" in {path}:{line}\n" in res.stdout, res.stdout


def test_upstream_lines_need_resolve_upstreams_and_their_own_names(
        nginx_factory):
    port, sport = testbed.free_port(), testbed.free_port()
    plain = conf("127.0.0.1:9", port, sport).replace(
        "resolve_upstreams zone=1m ttl=1s:2s;\n", "")
    n = nginx_factory(plain, start=False)
    write_routes(os.path.join(n.prefix, "conf", "routes"),
                 "portico-routes 2\nversion v1\nupstream u a:80\n")
    res = n.test_config()
    assert res.returncode == 1
    assert '"upstream" lines need "resolve_upstreams"' in res.stdout

    clash = conf("127.0.0.1:9", port, sport,
                 extra="upstream u { server 127.0.0.2:80; }\n")
    n = nginx_factory(clash, start=False)
    write_routes(os.path.join(n.prefix, "conf", "routes"),
                 "portico-routes 2\nversion v1\nupstream u a:80\n")
    res = n.test_config()
    assert res.returncode == 1
    assert 'upstream "u" is also an upstream{} block' in res.stdout


def test_2000_upstreams_resolve_paced_and_are_freed_with_their_table(
        nginx_factory, cluster_dns, http_backend):
    be = http_backend("127.0.0.2", name="many")
    for i in range(2000):
        cluster_dns.records[name(f"m{i}")] = ["127.0.0.2"]
    cluster_dns._apply()
    ups = {f"m{i}": f"{name(f'm{i}')}:{be.port}" for i in range(2000)}
    r = Router(nginx_factory, cluster_dns,
               table("v1", ups, [(f"/m{i}", f"m{i}") for i in range(2000)]),
               zone="8m")
    wait_for(lambda: r.state()["ready"] == 2000, timeout=20,
             what="2000 upstreams resolved")
    for i in (0, 999, 1999):
        assert r.get(f"/m{i}")[0] == 200
    r.swap(table("v2", {}, []), "v2")
    wait_for(lambda: r.state()["upstreams"] == 0, timeout=10,
             what="all freed")


def test_churn_of_table_upstreams_under_load_fails_no_request(
        nginx_factory, cluster_dns, http_backend):
    # steady load on /stable while 20 swaps add and remove upstreams; every
    # new route answers 200 at its first request (no 502, no 503)
    be = http_backend("127.0.0.2", name="b")
    cluster_dns.set(name("stable"), "127.0.0.2")
    for i in range(20):
        cluster_dns.records[name(f"c{i}")] = ["127.0.0.2"]
    cluster_dns._apply()
    base = {"stable": f"{name('stable')}:{be.port}"}
    r = Router(nginx_factory, cluster_dns,
               table("v0", base, [("/stable", "stable")]))
    lo = Load(r.port, "/stable", threads=3)
    try:
        firsts = []
        for i in range(20):
            ups = dict(base)
            ups[f"c{i}"] = f"{name(f'c{i}')}:{be.port}"
            r.swap(table(f"v{i + 1}", ups,
                         [("/stable", "stable"), (f"/c{i}", f"c{i}")]),
                   f"v{i + 1}")
            firsts.append(r.get(f"/c{i}")[0])
        time.sleep(0.5)
    finally:
        results = lo.stop()
    assert firsts == [200] * 20
    assert len(results) > 100
    assert [x for x in results if x[1] != 200] == []
    wait_for(lambda: r.state()["upstreams"] == 2, timeout=5,
             what="the removed ones freed")


GOOD2 = table("v1", {"a": "a.default.svc.cluster.local:80 max_fails=2",
                     "b": "127.0.0.3:80 fail_timeout=5s least_conn",
                     "c": "[::1]:8080"},
              [("/a", "a"), ("/b", "b"), ("/c", "c")]).encode()


def test_mutated_format_2_tables_never_crash_nginx_t_or_a_worker(
        nginx_factory, cluster_dns):
    import random
    from test_module_routes import _mutate
    rng = random.Random(20261205)
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(conf(cluster_dns.server, port, sport), start=False)
    path = os.path.join(n.prefix, "conf", "routes")
    outcomes = {0: 0, 1: 0}
    for i in range(80):
        data = GOOD2 if i == 0 else _mutate(rng, GOOD2)
        write_routes(path, data)
        res = n.test_config()
        assert res.returncode in (0, 1), (res.returncode, data, res.stdout)
        outcomes[res.returncode] += 1
    assert outcomes[0] >= 1 and outcomes[1] >= 40, outcomes

    # the same damage at runtime: workers attach what parses, keep the
    # rest, and never die
    write_routes(path, GOOD2)
    n.start()
    workers = sorted(n.worker_pids())
    for i in range(30):
        data = _mutate(rng, GOOD2).replace(b"version v1",
                                           f"version m{i}".encode())
        write_routes(path, data)
        time.sleep(0.12)
    assert sorted(n.worker_pids()) == workers
    assert "exited on signal" not in n.error_log()
    assert http_request(sport, "/table")[0] == 200
