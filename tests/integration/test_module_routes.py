"""ngx_http_portico_route_module (docs/routes.md) against real nginx: the
route table's matching rules, redirects, 503 and 404, profiles in named
locations, table swaps without reloads in every worker, broken tables at
configuration time and at runtime, keepalive through portico_dispatch, and
mutated tables that must never crash nginx."""
import os
import random
import signal
import socket
import subprocess
import time

import pytest

import testbed
from testbed.fixtures_module import (http_get, http_request, routes_conf,
                                     routes_version, upstream_status,
                                     wait_for, write_routes, Load)

HEAD = "portico-routes 1\nversion {v}\n"


def _table(body, version="v1", https_port=None, config=None):
    head = HEAD.format(v=version)
    if config is not None:
        head += f"config {config}\n"
    if https_port is not None:
        head += f"https-port {https_port}\n"
    return head + body


class Backends:
    """One plain nginx (no module); backend NAME listens on its own
    loopback address and answers "NAME <client port> <uri>\\n". The
    client port shows whether nginx reused a keep-alive connection."""

    def __init__(self, nginx_factory, names, delay_names=()):
        self.port = testbed.free_port("127.0.0.1")
        self.addr = {}
        blocks = []
        for i, name in enumerate(names):
            a = f"127.0.0.{i + 2}"
            self.addr[name] = a
            blocks.append(
                f"server {{ listen {a}:{self.port}; "
                f"keepalive_requests 1000000; keepalive_timeout 60s; "
                f"location / {{ return 200 \"{name} $remote_port "
                f"$request_uri\\n\"; }} }}")
        self.nginx = nginx_factory("\n".join(blocks), workers=1,
                                   module=False)

    def upstream(self, name, extra="keepalive 8;"):
        return f"server {self.addr[name]}:{self.port}; {extra}"


def _with_config(conf, config):
    """The config with "portico_routes ... config=TOKEN" when given."""
    if config is None:
        return conf
    return conf.replace("portico_routes routes ",
                        f"portico_routes routes config={config} ", 1)


class Router:
    """The routing nginx: its ports, its table path and small helpers."""

    def __init__(self, nginx_factory, upstreams, table, workers=1,
                 interval="100ms", profiles=None, extra_locations="",
                 extra="", config=None):
        self.port, self.sport = testbed.free_port(), testbed.free_port()
        conf = _with_config(routes_conf(upstreams, self.port, self.sport,
                                        interval=interval, profiles=profiles,
                                        extra_locations=extra_locations,
                                        extra=extra), config)
        self.nginx = nginx_factory(conf, workers=workers, start=False)
        self.table = os.path.join(self.nginx.prefix, "conf", "routes")
        write_routes(self.table, table)
        self.nginx.start()

    def get(self, path, host="example.com", **kw):
        return http_request(self.port, path, host=host, **kw)

    def backend(self, path, host="example.com"):
        """Name of the backend that answered, or the status code."""
        code, _, body = self.get(path, host)
        return body.split()[0] if code == 200 else code

    def swap(self, text):
        write_routes(self.table, text)


def _router(nginx_factory, be, table, **kw):
    return Router(nginx_factory, {n: be.upstream(n) for n in be.addr},
                  table, **kw)


# --- matching -------------------------------------------------------------

MATCHING = _table(
    "host example.com\n"
    "exact /api/login a\n"
    "prefix /api/v2 b\n"
    "prefix /api c\n"
    "plain /static d\n"
    "prefix /docs/ e\n"
    "default f\n"
    "host nodefault.example.com\n"
    "prefix /only a\n")


def test_exact_rule_beats_a_prefix_rule_written_before_it(nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    assert r.backend("/api/login") == "a"
    # exact means equal, not "starts with"
    assert r.backend("/api/login/x") == "c"


def test_prefix_matches_whole_path_elements_longest_first(nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    assert r.backend("/api") == "c"
    assert r.backend("/api/") == "c"
    assert r.backend("/api/users") == "c"
    assert r.backend("/api/v2") == "b"
    assert r.backend("/api/v2/x") == "b"
    # not a whole element: falls through to the default
    assert r.backend("/apix") == "f"
    assert r.backend("/api/v20") == "c"
    # a prefix written with its trailing slash still matches below it
    assert r.backend("/docs/x") == "e"


def test_plain_rule_matches_any_uri_starting_with_its_path(nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    assert r.backend("/static") == "d"
    assert r.backend("/staticfiles/x.css") == "d"
    assert r.backend("/stat") == "f"


def test_default_answers_unmatched_uris_and_no_default_is_404(nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    assert r.backend("/") == "f"
    assert r.backend("/nothing/here") == "f"
    assert r.backend("/only/x", host="nodefault.example.com") == "a"
    assert r.backend("/other", host="nodefault.example.com") == 404


def test_matching_uses_the_normalised_uri_and_passes_the_original(
        nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    code, _, body = r.get("/x/../api/v2/%7Eq?k=v")
    assert code == 200
    name, _, uri = body.split()
    assert name == "b" and uri == "/x/../api/v2/%7Eq?k=v"


def test_host_header_port_and_case_are_ignored(nginx_factory):
    be = Backends(nginx_factory, "abcdef")
    r = _router(nginx_factory, be, MATCHING)
    assert r.backend("/api/login", host="Example.COM:8080") == "a"


HOSTS = _table(
    "host *\n"
    "prefix / a\n"
    "host *.apps.example.com\n"
    "prefix / b\n"
    "host exact.apps.example.com\n"
    "prefix / c\n")


def test_wildcard_host_covers_exactly_one_label(nginx_factory):
    be = Backends(nginx_factory, "abc")
    r = _router(nginx_factory, be, HOSTS)
    assert r.backend("/", host="x.apps.example.com") == "b"
    assert r.backend("/", host="y-1.apps.example.com") == "b"
    # two more labels, or none: not covered, the "*" section answers
    assert r.backend("/", host="y.x.apps.example.com") == "a"
    assert r.backend("/", host="apps.example.com") == "a"
    # an exact host beats the wildcard covering it
    assert r.backend("/", host="exact.apps.example.com") == "c"


def test_star_section_answers_unknown_hosts_and_requests_without_host(
        nginx_factory):
    be = Backends(nginx_factory, "abc")
    r = _router(nginx_factory, be, HOSTS)
    assert r.backend("/", host="unknown.test") == "a"
    # HTTP/1.0 without a Host header
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        s.sendall(b"GET /x HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    assert data.split(b"\r\n\r\n", 1)[1].split()[0] == b"a"


def test_unknown_host_without_star_section_is_404(nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table("host example.com\nprefix / a\n"))
    assert r.backend("/", host="example.com") == "a"
    assert r.backend("/", host="other.example.com") == 404
    code, _, body = r.get("/", host="other.example.com")
    assert code == 404 and "nginx" in body


# --- redirect, 503 --------------------------------------------------------

def test_redirect_host_answers_308_to_https_with_the_table_port(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host secure.example.com redirect\nprefix / a\n"
        "host example.com\nprefix / b\n", https_port=8443))
    code, h, _ = r.get("/p/a%20th?q=1&r=2", host="secure.example.com")
    assert code == 308
    assert h["location"] == "https://secure.example.com:8443/p/a%20th?q=1&r=2"
    # a POST body is discarded, not proxied
    code, h, _ = r.get("/up", host="secure.example.com", method="POST",
                       body=b"x" * 5000)
    assert code == 308
    assert h["location"] == "https://secure.example.com:8443/up"
    assert r.backend("/", host="example.com") == "b"


def test_redirect_to_port_443_leaves_the_port_out(nginx_factory):
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table(
        "host secure.example.com redirect\nprefix / a\n"))
    code, h, _ = r.get("/x?y", host="secure.example.com")
    assert code == 308
    assert h["location"] == "https://secure.example.com/x?y"


def test_dash_target_answers_503(nginx_factory):
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table(
        "host example.com\nexact /gone -\nprefix /down -\ndefault a\n"))
    assert r.backend("/gone") == 503
    assert r.backend("/down/x") == 503
    assert r.backend("/up") == "a"


# --- profiles: named locations --------------------------------------------

PROFILES = {"portico_p1": "client_max_body_size 1k; proxy_read_timeout 1s;"}


def test_profile_named_location_applies_its_client_max_body_size(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /small a @portico_p1\nprefix / b\n"),
        profiles=PROFILES)
    code, _, body = r.get("/small", method="POST", body=b"x" * 1000)
    assert code == 200 and body.startswith("a ")
    code, _, _ = r.get("/small", method="POST", body=b"x" * 5000)
    assert code == 413
    # the server's default (1m) applies outside the profile
    code, _, body = r.get("/big", method="POST", body=b"x" * 5000)
    assert code == 200 and body.startswith("b ")
    assert "client intended to send too large body: 5000 bytes" in \
        r.nginx.error_log()


def test_profile_allows_a_bigger_body_than_the_routing_location(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /upload a @portico_big\nprefix / b\n"),
        profiles={"portico_big": "client_max_body_size 8k;"},
        extra="client_max_body_size 1k;\n")
    code, _, body = r.get("/upload/x", method="POST", body=b"x" * 5000)
    assert code == 200 and body.startswith("a ")
    assert r.get("/upload/x", method="POST", body=b"x" * 9000)[0] == 413
    # outside the profile the smaller limit of the server applies
    assert r.get("/other", method="POST", body=b"x" * 5000)[0] == 413
    code, _, body = r.get("/other", method="POST", body=b"x" * 500)
    assert code == 200 and body.startswith("b ")


def test_server_with_other_locations_checks_the_routing_location_first(
        nginx_factory):
    """With a location of its own in the server, the profile jump happens
    from "location /" after nginx checked that location's limit."""
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /upload a @portico_big\nprefix / b\n"),
        profiles={"portico_big": "client_max_body_size 8k;"},
        extra="client_max_body_size 1k;\n",
        extra_locations="location = /own { return 200 own; }")
    assert r.get("/upload/x", method="POST", body=b"x" * 5000)[0] == 413
    code, _, body = r.get("/upload/x", method="POST", body=b"x" * 500)
    assert code == 200 and body.startswith("a ")
    assert r.get("/own")[2] == "own"


def test_profile_named_location_applies_its_proxy_read_timeout(
        nginx_factory, slow_backend):
    slow = slow_backend("127.0.0.9", testbed.free_port("127.0.0.9"),
                        delay=2.0)
    r = Router(nginx_factory,
               {"slow": f"server 127.0.0.9:{slow.port};"},
               _table("host example.com\nprefix /p slow @portico_p1\n"
                      "prefix / slow\n"),
               profiles=PROFILES)
    t0 = time.monotonic()
    code, _, _ = r.get("/p/x")
    assert code == 504 and time.monotonic() - t0 < 1.9
    code, _, body = r.get("/q")
    assert code == 200 and body == "127.0.0.9\n"


def test_table_naming_a_profile_the_servers_lack_is_refused_at_runtime(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /x a @portico_p1\nprefix / a\n"),
        profiles=PROFILES)
    r.swap(_table("host example.com\nprefix /x b @portico_nope\n"
                  "prefix / b\n", version="v2"))
    wait_for(lambda: 'unknown profile "@portico_nope"' in
             r.nginx.error_log(), what="the error")
    log = r.nginx.error_log()
    assert f"in {r.table}:4, keeping version v1" in log
    assert routes_version(r.sport)[0] == "v1"
    assert r.backend("/x") == "a" and r.backend("/") == "a"
    assert "could not find named location" not in r.nginx.error_log()


def test_profile_must_be_in_every_routing_server(nginx_factory):
    """A second routing server without the named location: a jump from it
    would fail, so the table is refused."""
    be = Backends.__new__(Backends)
    be.port, be.addr = 9, {"a": "127.0.0.2"}
    extra = (f"server {{ listen 127.0.0.1:{testbed.free_port()}; "
             "server_name other.example.com; "
             "location / { portico_route; "
             "proxy_pass http://portico_dispatch; } }\n")
    table = _table("host a.example.com\nprefix / a @portico_p1\n")
    rc, out, path = _checked(nginx_factory, be, table, profiles=PROFILES,
                             extra=extra)
    assert rc == 1 and 'unknown profile "@portico_p1"' in out, out
    assert f" in {path}:4\n" in out, out
    rc, out, _ = _checked(nginx_factory, be, table, profiles=PROFILES)
    assert rc == 0, out


# --- dispatch -------------------------------------------------------------

def test_keepalive_of_the_target_upstream_is_reused_through_dispatch(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /a a\nprefix /b b\n"))
    ports = {"a": set(), "b": set()}
    for i in range(20):
        for name in "ab":
            code, _, body = r.get(f"/{name}/{i}")
            assert code == 200
            got, port, _ = body.split()
            assert got == name
            ports[name].add(port)
    # one worker, sequential requests: one connection per backend
    assert len(ports["a"]) == 1 and len(ports["b"]) == 1


@pytest.mark.parametrize("cache", ["dispatch", "target"])
def test_a_keepalive_cache_serves_one_kind_of_upstream_connection(
        nginx_factory, cache):
    """nginx's keepalive cache finds a connection by address alone: plain
    HTTP and TLS locations (each with its own verification settings) must
    not share one. The first request of a worker sets the kind of a cache
    (in the dispatch upstream, or the target's own); a request of another
    kind gets 500 and the reason, never a connection of the first kind. A
    location with a dispatch upstream of its own is not refused, unless
    the target's own cache is the shared one."""
    be = Backends(nginx_factory, "a")
    tls = ("location @tls { portico_route; "
           "proxy_pass https://portico_dispatch; }\n"
           "location @own { portico_route; "
           "proxy_pass https://portico_dispatch_own; }")
    dispatch = "keepalive 8;" if cache == "dispatch" else ""
    target = "" if cache == "dispatch" else "keepalive 8;"
    r = Router(nginx_factory, {"a": be.upstream("a", extra=target)},
               _table("host example.com\nprefix /tls a @tls\n"
                      "prefix /own a @own\nprefix / a\n"),
               extra_locations=tls,
               extra="upstream portico_dispatch_own { portico_dispatch; "
                     "keepalive 8; }\n")
    r.nginx.reload(r.nginx.http_conf.replace(
        "{ portico_dispatch; }", "{ portico_dispatch; %s }" % dispatch, 1))
    wait_for(lambda: r.backend("/") == "a", what="plain HTTP")
    assert r.backend("/tls") == 500
    name = "portico_dispatch" if cache == "dispatch" else "a"
    assert (f'upstream "{name}" keeps connections of another protocol or '
            'TLS setting') in r.nginx.error_log()
    if cache == "dispatch":
        # its own dispatch upstream: TLS is tried (the backend speaks HTTP)
        assert r.backend("/own") == 502
        assert "SSL_do_handshake() failed" in r.nginx.error_log()
    else:
        assert r.backend("/own") == 500
    assert r.backend("/") == "a"


def test_location_without_portico_route_gets_500_from_dispatch(
        nginx_factory):
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table("host example.com\nprefix / a\n"),
                extra_locations="location /plain { proxy_pass "
                                "http://portico_dispatch; }")
    pids = r.nginx.worker_pids()
    assert r.backend("/plain") == 500
    assert r.backend("/") == "a"
    assert r.nginx.worker_pids() == pids
    assert 'upstream "portico_dispatch" has no route' in r.nginx.error_log()


def test_dispatch_uses_resolve_server_upstreams_and_is_not_in_their_status(
        nginx_factory, cluster_dns):
    be = Backends(nginx_factory, "ab")
    svc = "web.default.svc.cluster.local"
    cluster_dns.set(svc, be.addr["b"])
    r = Router(nginx_factory,
               {"web": f"zone web 64k; resolve_server {svc}:{be.port}; "
                       f"resolve_ttl 1s 1s; keepalive 4;",
                "a": be.upstream("a")},
               _table("host example.com\nprefix /web web\nprefix / a\n"),
               extra=f"resolver {cluster_dns.server} ipv6=off;\n")
    wait_for(lambda: r.backend("/web") == "b", what="resolved backend")
    assert r.backend("/") == "a"
    names = [u["name"] for u in
             __import__("json").loads(http_get(r.sport, "/upstreams")[1])
             ["upstreams"]]
    assert names == ["web"]
    assert upstream_status(r.sport, "web")["peers"][0]["address"] == \
        f"{be.addr['b']}:{be.port}"


# --- versions and swaps ---------------------------------------------------

def _wait_version(r, version, timeout):
    return wait_for(lambda: routes_version(r.sport)[0] == version,
                    timeout=timeout, interval=0.02,
                    what=f"version {version}")


def test_routes_version_lists_every_worker_with_the_common_version(
        nginx_factory):
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table("host * \n", version="v1")
                .replace("* \n", "*\nprefix / a\n"), workers=2)
    lines = wait_for(lambda: (lambda ls: ls if all(
        "pid 0 " not in x for x in ls) else None)(routes_version(r.sport)),
        what="both workers")
    pids = sorted(r.nginx.worker_pids())
    assert lines[0] == "v1"
    assert len(lines) == 3
    seen = []
    for i, line in enumerate(lines[1:]):
        w, n, p, pid, v, ver = line.split()
        assert (w, n, p, v, ver) == ("worker", str(i), "pid", "version",
                                     "v1")
        seen.append(int(pid))
    assert sorted(seen) == pids
    code, h, _ = http_request(r.sport, "/routes-version")
    assert h["content-type"] == "text/plain"


def test_table_change_reaches_every_worker_without_reload(nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be,
                _table("host example.com\nprefix / a\n", version="v1"),
                workers=2, interval="250ms")
    wait_for(lambda: "pid 0 " not in "".join(routes_version(r.sport)),
             what="both workers")
    master, workers = r.nginx.master_pid, sorted(r.nginx.worker_pids())
    assert r.backend("/") == "a"

    r.swap(_table("host example.com\nprefix / b\n", version="v2"))
    t0 = time.monotonic()
    _wait_version(r, "v2", timeout=5)
    took = time.monotonic() - t0
    # about two intervals, with room for a busy machine
    assert took < 2 * 0.25 + 0.5, took

    lines = routes_version(r.sport)
    assert [x.split()[-1] for x in lines[1:]] == ["v2", "v2"]
    # fresh connections spread over both workers (reuseport)
    assert {r.backend("/") for _ in range(30)} == {"b"}
    assert r.nginx.master_pid == master
    assert sorted(r.nginx.worker_pids()) == workers
    assert "reconfiguring" not in r.nginx.error_log()
    assert "portico_routes: version v2 replaces v1" in r.nginx.error_log()

    # graceful shutdown is not held back by the table timer
    t0 = time.monotonic()
    r.nginx.stop()
    assert time.monotonic() - t0 < 3


def test_table_for_the_next_configuration_waits_for_the_reload_quietly(
        nginx_factory):
    """What an old worker sees while a reload adds an upstream: the new
    table names it and carries the new token. It keeps its table, says so
    once at notice level, and the reload's workers take the new table."""
    be = Backends(nginx_factory, "ab")
    ups = {"a": be.upstream("a")}
    r = Router(nginx_factory, ups,
               _table("host example.com\nprefix / a\n", version="v1",
                      config="c1"), config="c1")
    r.swap(_table("host example.com\nprefix /b b\nprefix / a\n",
                  version="v2", config="c2"))
    notice = ("[notice] ", "portico_routes: table v2 is for configuration "
              "c2, this worker runs c1; keeping version v1 until the reload")
    wait_for(lambda: notice[1] in r.nginx.error_log(), what="the notice")
    time.sleep(0.5)     # five more intervals: still one line
    log = r.nginx.error_log()
    line = [x for x in log.splitlines() if notice[1] in x]
    assert len(line) == 1 and notice[0] in line[0], log
    assert "[error]" not in log, log
    assert routes_version(r.sport)[0] == "v1"
    assert r.backend("/b") == "a"

    # the reload brings the upstream and the token: the table is taken
    ups_b = f"upstream b {{ {be.upstream('b')} }}\n"
    r.nginx.reload(r.nginx.http_conf.replace("config=c1", "config=c2")
                   .replace("upstream portico_dispatch",
                            ups_b + "upstream portico_dispatch", 1))
    _wait_version(r, "v2", timeout=5)
    assert r.backend("/b") == "b"
    assert "[error]" not in r.nginx.error_log()


def test_broken_table_at_runtime_keeps_the_old_one_and_logs_file_line(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be,
                _table("host example.com\nprefix / a\n", version="v1"),
                workers=2)
    r.swap(_table("host example.com\nprefix /x b\nprefix / nosuch\n",
                  version="v2"))
    wait_for(lambda: f'unknown upstream "nosuch" in {r.table}:5' in
             r.nginx.error_log(), what="the error")
    log = r.nginx.error_log()
    assert "[error]" in log and "keeping version v1" in log
    assert routes_version(r.sport)[0] == "v1"
    assert {r.backend("/x") for _ in range(10)} == {"a"}
    # logged once per file version, not every interval
    time.sleep(0.5)
    assert r.nginx.error_log().count('unknown upstream "nosuch"') == 2

    # a missing file keeps the table too; the next good one is taken
    os.unlink(r.table)
    time.sleep(0.3)
    assert r.backend("/x") == "a"
    r.swap(_table("host example.com\nprefix / b\n", version="v3"))
    _wait_version(r, "v3", timeout=5)
    assert r.backend("/x") == "b"


# --- configuration time ---------------------------------------------------

def _checked(nginx_factory, be, table, profiles=None, extra="",
             config=None):
    """nginx -t of a routing config with this table; (rc, output, path)."""
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(_with_config(
        routes_conf({x: be.upstream(x) for x in be.addr}, port, sport,
                    profiles=profiles, extra=extra), config), start=False)
    path = os.path.join(n.prefix, "conf", "routes")
    write_routes(path, table)
    res = n.test_config()
    return res.returncode, res.stdout, path


BROKEN = [
    # (table, line, reason)
    ("", 1, "empty file"),
    ("portico-routes 4\n", 1, 'unsupported table format "4"'),
    ("portico-routes 1\n", 2, 'expected "version V"'),
    ("portico-routes 1\nversion ABC\n", 2, 'invalid version "ABC"'),
    (_table("https-port 0\n"), 3, "N in 1-65535"),
    (_table("host a.example.com\nhttps-port 444\n"), 4,
     '"https-port" must be line 3'),
    (_table("https-port 444\nconfig abc\n"), 4, '"config" must be line 3'),
    (_table("config abc\nhost *\nhttps-port 444\n"), 5,
     '"https-port" must be line 3, or 4 after "config"'),
    (_table("config ABC\n"), 3, 'expected "config TOKEN"'),
    (_table("config\n"), 3, 'expected "config TOKEN"'),
    (_table("host a.example.com\nprefix / a @portico_p1\n"), 4,
     'unknown profile "@portico_p1"'),
    (_table("prefix / a\n"), 3, 'rule before the first "host" line'),
    (_table("host a.example.com\nprefix / nosuch\n"), 4,
     'unknown upstream "nosuch"'),
    (_table("host a.example.com\nprefix / portico_dispatch\n"), 4,
     'unknown upstream "portico_dispatch"'),
    (_table("host a.example.com\nprefix / a @bad-name\n"), 4,
     'invalid profile "@bad-name"'),
    (_table("host a.example.com\nprefix / - @portico_p1\n"), 4,
     '"-" takes no profile'),
    (_table("host a.example.com\nprefix noslash a\n"), 4, "invalid path"),
    (_table("host a.example.com\nprefix /" + "x" * 1024 + " a\n"), 4,
     "invalid path"),
    (_table("host a.example.com\ndefault a\ndefault a\n"), 5,
     'second "default"'),
    (_table("host A.example.com\n"), 3, 'invalid host "A.example.com"'),
    (_table("host a..example.com\n"), 3, "invalid host"),
    (_table("host *.\n"), 3, "invalid host"),
    (_table("host " + "a" * 254 + "\n"), 3, "invalid host"),
    (_table("host a.example.com\nhost b.example.com\nhost a.example.com\n"),
     5, 'duplicate host "a.example.com"'),
    (_table("host *\nhost *\n"), 4, 'duplicate host "*"'),
    (_table("host a.example.com redirect now and\n"), 3,
     'expected "host H [redirect]"'),
    (_table("host" + " a" * 32 + "\n"), 3, "too many fields"),
    (_table("host a.example.com\nprefix / a x\n"), 4, 'invalid word "x"'),
    (_table("host a.example.com\nprefix / a ingress=shop\n"), 4,
     'invalid word "ingress=shop"'),
    (_table("host a.example.com\nprefix / a ingress=Shop/web\n"), 4,
     'invalid word "ingress=Shop/web"'),
    (_table("host a.example.com\nprefix / a ingress=sh.op/web\n"), 4,
     'invalid word "ingress=sh.op/web"'),
    (_table("host a.example.com\nprefix / a ingress=shop/\n"), 4,
     'invalid word "ingress=shop/"'),
    (_table("host a.example.com\nprefix / a service=web.x\n"), 4,
     'invalid word "service=web.x"'),
    (_table("host a.example.com\nprefix / a service=\n"), 4,
     'invalid word "service="'),
    (_table("host a.example.com\nprefix / - service=a service=b\n"), 4,
     'invalid word "service=b"'),
    (_table("host a.example.com\nprefix / a ingress=a/b ingress=a/b\n"), 4,
     'invalid word "ingress=a/b"'),
    (_table("host a.example.com\ndefault a colour=red\n"), 4,
     'invalid word "colour=red"'),
    (_table("host a.example.com\nprefix / a errors=nosuch\n"), 4,
     'unknown default backend upstream "nosuch"'),
    (_table("host a.example.com\nprefix / a errors=a errors=a\n"), 4,
     '"errors=" twice'),
    (_table("host a.example.com\nprefix / a service-port=0\n"), 4,
     'invalid word "service-port=0"'),
    (_table("host a.example.com\nprefix / a service-port=65536\n"), 4,
     'invalid word "service-port=65536"'),
    (_table("host a.example.com\nprefix / a service-port=Http\n"), 4,
     'invalid word "service-port=Http"'),
    (_table("host a.example.com\nprefix / a service-port=" + "p" * 16 +
            "\n"), 4, 'invalid word "service-port=pppp'),
    (_table("host a.example.com\nprefix / a service-port=80 "
            "service-port=80\n"), 4, 'invalid word "service-port=80"'),
    (_table("upstream u 127.0.0.1:80\n"), 3,
     '"upstream" lines need table format 2'),
    (_table("host a.example.com secure\n"), 3,
     'expected "host H [redirect]"'),
    (_table("host a.example.com\nprefix  / a\n"), 4, "empty field"),
    (_table("host a.example.com \n"), 3, "empty field"),
    (_table("host a.example.com\n\n"), 4, "empty line"),
    (_table("host a.example.com\r\n"), 3, "invalid character (code 13)"),
    (_table("host a.example.com\nprefix /\tx a\n"), 4, "invalid character"),
    (_table("host a.example.com\nroute / a\n"), 4, 'unknown keyword "route"'),
    (_table("host a.example.com\nprefix / a"), 4, "no newline"),
    (_table("host a.example.com\nexact /" + "x" * 4096 + " a\n"), 4,
     "line longer than 4096 bytes"),
]


@pytest.mark.parametrize("table,line,reason", BROKEN,
                         ids=[b[2][:40] for b in BROKEN])
def test_broken_table_fails_nginx_t_with_reason_and_file_line(
        nginx_factory, table, line, reason):
    be = Backends.__new__(Backends)
    be.port, be.addr = 9, {"a": "127.0.0.2"}
    rc, out, path = _checked(nginx_factory, be, table)
    assert rc == 1, out
    assert "[emerg]" in out and reason in out, out
    assert f" in {path}:{line}\n" in out, out


def test_table_for_another_configuration_fails_nginx_t_with_the_reason(
        nginx_factory):
    be = Backends.__new__(Backends)
    be.port, be.addr = 9, {"a": "127.0.0.2"}
    table = _table("host *\nprefix / a\n", version="v7", config="0badc0de")
    rc, out, path = _checked(nginx_factory, be, table, config="1234abcd")
    assert rc == 1, out
    assert ("[emerg] portico_routes: table made for another configuration "
            "(table v7 is for configuration 0badc0de, \"portico_routes\" "
            f"has config=1234abcd) in {path}:3\n") in out, out
    # the same token, a table without the line, a directive without token
    assert _checked(nginx_factory, be, table, config="0badc0de")[0] == 0
    assert _checked(nginx_factory, be, _table("host *\nprefix / a\n"),
                    config="1234abcd")[0] == 0
    assert _checked(nginx_factory, be, table)[0] == 0


def test_invalid_config_token_in_the_directive_fails_nginx_t(nginx_factory):
    be = Backends.__new__(Backends)
    be.port, be.addr = 9, {"a": "127.0.0.2"}
    rc, out, _ = _checked(nginx_factory, be, _table("host *\nprefix / a\n"),
                          config="Not-Hex")
    assert rc == 1 and 'invalid config token "config=Not-Hex"' in out, out


def test_missing_table_fails_nginx_t(nginx_factory):
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(routes_conf({"a": "server 127.0.0.2:9;"}, port, sport),
                      start=False)
    res = n.test_config()
    assert res.returncode == 1
    assert "No such file or directory" in res.stdout
    assert os.path.join(n.prefix, "conf", "routes") in res.stdout


def test_good_table_with_every_feature_passes_nginx_t(nginx_factory):
    be = Backends.__new__(Backends)
    be.port, be.addr = 9, {"a": "127.0.0.2", "b_1": "127.0.0.3"}
    rc, out, _ = _checked(nginx_factory, be, _table(
        "host *\nprefix / a\n"
        "host example.com redirect\nexact /login b_1 @portico_p1\n"
        "prefix /api a\nplain /static a\nprefix / -\ndefault a\n"
        "host *.apps.example.com\nprefix / b_1\n", https_port=8443,
        config="0123456789abcdef"), profiles=PROFILES,
        config="0123456789abcdef")
    assert rc == 0, out


def test_portico_dispatch_takes_keepalive_but_no_other_balancer(
        nginx_factory):
    port, sport = testbed.free_port(), testbed.free_port()
    for extra, ok in (("keepalive 4;", True), ("least_conn;", False),
                      ("server 127.0.0.3:9;", False)):
        conf = routes_conf({"a": "server 127.0.0.2:9;"}, port, sport).replace(
            "{ portico_dispatch; }", "{ portico_dispatch; %s }" % extra)
        n = nginx_factory(conf, start=False)
        write_routes(os.path.join(n.prefix, "conf", "routes"),
                     _table("host *\nprefix / a\n"))
        res = n.test_config()
        assert (res.returncode == 0) == ok, (extra, res.stdout)
        if not ok:
            assert ('"portico_dispatch" must be alone in upstream '
                    '"portico_dispatch"') in res.stdout or \
                '"portico_dispatch" must be alone in its upstream' \
                in res.stdout, res.stdout


# --- robustness -----------------------------------------------------------

GOOD = _table(
    "host *\nprefix / a\n"
    "host example.com redirect\nexact /login b @portico_p1\n"
    "prefix /api a\nplain /static b\nprefix / -\ndefault a\n"
    "host *.apps.example.com\nprefix / b\n"
    "host shop.example.com\nexact /x a\nprefix /y b @portico_p1\n"
    "host re.example.com\nregex /s(/|$)(.*) a rewrite=/$2\n"
    "regex /(x|y)/([a-z]+) b @portico_p1 rewrite=/z/$2$1\n",
    https_port=8443).encode()


def _mutate(rng, data):
    """A table damaged the way files get damaged: truncated, bytes flipped,
    inserted or deleted, lines duplicated or swapped, garbage."""
    kind = rng.randrange(6)
    b = bytearray(data)
    if kind == 0:
        return bytes(b[:rng.randrange(len(b))])
    if kind == 1:
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 2:
        pos = rng.randrange(len(b))
        return bytes(b[:pos]) + bytes(rng.choice(
            [b" ", b"\n", b"\x00", b"*", b"@", b"/", b"host ", b"\xff"])) \
            + bytes(b[pos:])
    if kind == 3:
        pos = rng.randrange(len(b))
        return bytes(b[:pos] + b[pos + rng.randrange(1, 20):])
    if kind == 4:
        lines = bytes(b).split(b"\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        if rng.random() < 0.5:
            lines.insert(i, lines[j])
        return b"\n".join(lines)
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))


def test_mutated_tables_never_crash_nginx_t(nginx_factory):
    rng = random.Random(20261122)
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(routes_conf({"a": "server 127.0.0.2:9;",
                                   "b": "server 127.0.0.3:9;"},
                                  port, sport, profiles=PROFILES),
                      start=False)
    path = os.path.join(n.prefix, "conf", "routes")
    outcomes = {0: 0, 1: 0}
    for i in range(250):
        data = GOOD if i == 0 else _mutate(rng, GOOD)
        write_routes(path, data)
        res = n.test_config()
        assert res.returncode in (0, 1), (res.returncode, data, res.stdout)
        outcomes[res.returncode] += 1
        if res.returncode == 1:
            assert f" in {path}:" in res.stdout, (data, res.stdout)
    assert outcomes[0] >= 1 and outcomes[1] >= 150, outcomes


def test_mutated_table_swaps_under_load_fail_no_request(nginx_factory,
                                                       http_load):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, GOOD.decode(), workers=2,
                profiles=PROFILES)
    pids = sorted(r.nginx.worker_pids())
    lo = http_load(r.port, "/x")  # Host 127.0.0.1: the "*" section, "a"
    rng = random.Random(7)
    version = 1
    for i in range(12):
        if i % 2:
            # damaged (cut inside a line): refused, the table stays
            cut = len(data) - rng.randrange(2, 40)
            while data[cut - 1:cut] == b"\n":
                cut -= 1
            data = data[:cut]
        else:
            version += 1
            data = GOOD.replace(b"version v1", f"version v{version}".encode())
        r.swap(data)
        time.sleep(0.25)
    _wait_version(r, f"v{version}", timeout=5)
    results = lo.stop()
    assert len(results) > 100
    assert lo.failures() == [] and lo.disconnects() == []
    assert {body.split()[0] for _, _, body in results} == {"a"}
    assert sorted(r.nginx.worker_pids()) == pids
    assert "[alert]" not in r.nginx.error_log()


# --- reloads and scale ----------------------------------------------------

def test_reload_reads_the_new_table_and_status_counts_only_new_workers(
        nginx_factory, slow_backend):
    be = Backends(nginx_factory, "ab")
    slow = slow_backend("127.0.0.9", testbed.free_port("127.0.0.9"),
                        delay=2.0)
    ups = {n: be.upstream(n) for n in be.addr}
    ups["slow"] = f"server 127.0.0.9:{slow.port};"
    r = Router(nginx_factory, ups,
               _table("host example.com\nprefix /slow slow\nprefix / a\n",
                      version="v1"), workers=2)
    wait_for(lambda: "pid 0 " not in "".join(routes_version(r.sport)),
             what="both workers")
    old = sorted(r.nginx.worker_pids())
    # an old worker keeps serving a request through the reload
    import threading
    answer = []
    t = threading.Thread(target=lambda: answer.append(
        r.get("/slow", timeout=10)[0]))
    t.start()
    time.sleep(0.3)
    r.swap(_table("host example.com\nprefix /slow slow\nprefix / b\n",
                  version="v2"))
    r.nginx.reload()
    lines = _wait_version(r, "v2", timeout=5) and routes_version(r.sport)
    pids = [int(x.split()[3]) for x in lines[1:]]
    assert sorted(pids) == sorted(r.nginx.worker_pids())
    assert not set(pids) & set(old)
    assert r.backend("/") == "b"
    t.join(10)
    assert answer == [200]
    # the old worker finished after the new ones published: still v2
    assert routes_version(r.sport)[0] == "v2"


def test_ten_thousand_hosts_each_find_their_own_section(nginx_factory):
    be = Backends(nginx_factory, "ab")
    hosts = [f"h{i}.ns{i % 97}.example.com" for i in range(10000)]
    body = "".join(f"host {h}\nexact /{i} {'ab'[i % 2]}\nprefix / a\n"
                   for i, h in enumerate(hosts))
    body += "".join(f"host *.w{i}.example.com\nprefix / b\n"
                    for i in range(2000))
    r = _router(nginx_factory, be, _table(body))
    rng = random.Random(5)
    for i in rng.sample(range(10000), 40):
        assert r.backend(f"/{i}", host=hosts[i]) == "ab"[i % 2]
        assert r.backend(f"/{i}x", host=hosts[i]) == "a"
    for i in rng.sample(range(2000), 20):
        assert r.backend("/", host=f"x.w{i}.example.com") == "b"
    assert r.backend("/", host="h1.ns2.example.com") == 404
    assert r.backend("/", host="x.w1.example.org") == 404


def test_master_process_off_keeps_watching_the_table_after_a_reload(
        nginx_factory):
    """nginx without a master calls no init_process for the cycle of a
    reload: the old cycle's timer hands over to the new one. (nginx itself
    serves garbage after a reload in this mode, so only the log shows it.)"""
    be = Backends(nginx_factory, "ab")
    port, sport = testbed.free_port(), testbed.free_port()
    conf = routes_conf({n: be.upstream(n) for n in be.addr}, port, sport)
    n = nginx_factory(conf, workers=0, main_conf="master_process off;",
                      start=False)
    table = os.path.join(n.prefix, "conf", "routes")
    write_routes(table, _table("host *\nprefix / a\n", version="v1"))
    n.start()
    r = Router.__new__(Router)
    r.port, r.sport, r.nginx, r.table = port, sport, n, table

    r.swap(_table("host *\nprefix / b\n", version="v2"))
    _wait_version(r, "v2", timeout=5)
    assert routes_version(sport)[1] == f"worker 0 pid {n.master_pid} " \
        "version v2"
    assert r.backend("/") == "b"
    # the new configuration watches another file
    table2 = os.path.join(n.prefix, "conf", "routes2")
    write_routes(table2, _table("host *\nprefix / a\n", version="w1"))
    n.http_conf = conf.replace("portico_routes routes ",
                               "portico_routes routes2 ")
    n._write()
    n.proc.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in n.error_log(), what="reload")
    time.sleep(0.3)
    write_routes(table2, _table("host *\nprefix / b\n", version="w2"))
    line = "portico_routes: version w2 replaces w1"
    wait_for(lambda: line in n.error_log(), timeout=5, what=line)
    # the old cycle stopped watching its file
    r.swap(_table("host *\nprefix / a\n", version="v3"))
    time.sleep(0.5)
    assert "version v3" not in n.error_log()


def test_fifo_or_directory_in_place_of_the_table_is_refused_not_waited_on(
        nginx_factory):
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table("host *\nprefix / a\n"))
    for make, remove in ((os.mkfifo, os.unlink), (os.mkdir, os.rmdir)):
        os.unlink(r.table)
        make(r.table)
        res = r.nginx.test_config()
        assert res.returncode == 1, res.stdout
        assert f"not a regular file in {r.table}:0" in res.stdout
        # the running worker logs it and keeps its table
        wait_for(lambda: r.nginx.error_log().count("not a regular file")
                 >= (1 if make is os.mkfifo else 2), timeout=5,
                 what="the worker's error")
        assert r.backend("/") == "a"
        remove(r.table)
        write_routes(r.table, _table("host *\nprefix / a\n"))


def _reference(rules, default, uri):
    """docs/routes.md, "Matching" step 3, written plainly."""
    for kind, path, target in rules:
        if kind == "exact" and path == uri:
            return target
    for kind, path, target in rules:
        if kind == "exact" or not uri.startswith(path):
            continue
        if kind == "prefix" and len(uri) > len(path) and \
                not path.endswith("/") and uri[len(path)] != "/":
            continue
        return target
    return default


def test_many_rules_of_one_host_match_exactly_like_the_contract_says(
        nginx_factory):
    """Random rules and URIs, answers compared with a plain reading of the
    contract, for a host with few rules (scanned) and one with many
    (indexed by path); every rule has its own upstream."""
    rng = random.Random(11)
    nups = 60
    ports = [testbed.free_port("127.0.0.2") for _ in range(nups)]
    listens = " ".join(f"listen 127.0.0.2:{p};" for p in ports)
    nginx_factory(f"server {{ {listens} location / {{ return 200 "
                  f"\"$server_port\"; }} }}", module=False)
    port_of = {f"u{i}": str(p) for i, p in enumerate(ports)}
    words = ["a", "ab", "b", "api", "v1", "api.v2"]
    rules = []
    for i in range(nups):
        path = "/" + "/".join(rng.choice(words)
                              for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.2:
            path += "/"
        kind = rng.choice(["exact", "prefix", "prefix", "plain"])
        target = "-" if rng.random() < 0.05 else f"u{i}"
        rules.append((kind, path, target))
    small = rules[:12]
    body = "host small.example.com\n" + "".join(
        f"{k} {p} {t}\n" for k, p, t in small)
    body += "host big.example.com\n" + "".join(
        f"{k} {p} {t}\n" for k, p, t in rules) + "default u0\n"
    r = Router(nginx_factory, {u: f"server 127.0.0.2:{p};"
                               for u, p in port_of.items()}, _table(body))

    uris = set()
    for _, p, _ in rules:
        for u in (p, p + "x", p + "/x", p + "/x/y", p[:-1] or "/",
                  p.rstrip("/") + "/" + rng.choice(words), "/zz" + p):
            if "//" not in u:
                uris.add(u)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
    checked = 0
    for host, hrules, default in (("small.example.com", small, None),
                                  ("big.example.com", rules, "u0")):
        for uri in sorted(uris):
            conn.request("GET", uri, headers={"Host": host})
            resp = conn.getresponse()
            got = resp.read().decode()
            want = _reference(hrules, default, uri)
            if want is None:
                assert resp.status == 404, (host, uri, got)
            elif want == "-":
                assert resp.status == 503, (host, uri, got)
            else:
                assert (resp.status, got) == (200, port_of[want]), \
                    (host, uri, want)
            checked += 1
    conn.close()
    assert checked > 400


def test_a_worker_takes_a_renamed_table_at_once_without_the_poll(
        nginx_factory):
    """inotify on the table's folder: with a poll interval of 30 s, a
    table renamed into place (as the controller does) is in use at once,
    by every worker, and so is the next one."""
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be,
                _table("host *\nprefix / a\n", version="v1"),
                workers=2, interval="30s")
    wait_for(lambda: "pid 0 " not in "".join(routes_version(r.sport)),
             what="both workers")
    for version, name in (("v2", "b"), ("v3", "a")):
        t0 = time.monotonic()
        r.swap(_table(f"host *\nprefix / {name}\n", version=version))
        _wait_version(r, version, timeout=5)
        took = time.monotonic() - t0
        assert took < 2, f"{version} in use after {took:.2f} s"
        assert [x.split()[-1] for x in routes_version(r.sport)[1:]] == \
            [version, version]
        assert {r.backend("/") for _ in range(10)} == {name}
    log = r.nginx.error_log()
    assert "inotify" not in log, log
    # graceful shutdown is not held back by the inotify descriptor
    t0 = time.monotonic()
    r.nginx.stop()
    assert time.monotonic() - t0 < 3
    log = r.nginx.error_log()
    assert "open socket" not in log and "[alert]" not in log, log


def test_worker_respawned_after_a_crash_starts_with_the_current_table(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    # the worker is stopped before the swap: only the new worker's start
    # can see the change (a running one would, through inotify)
    r = _router(nginx_factory, be,
                _table("host *\nprefix / a\n", version="v1"),
                interval="30s")
    (old,) = r.nginx.worker_pids()
    os.kill(old, signal.SIGSTOP)
    r.swap(_table("host *\nprefix / b\n", version="v2"))
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: r.nginx.worker_pids() not in ([], [old]),
             what="a new worker")
    _wait_version(r, "v2", timeout=5)
    assert r.backend("/") == "b"
    assert r.nginx.master_pid and "exited on signal 9" in r.nginx.error_log()
