"""Fixtures for the ngx_http_upstream_resolve_module tests: backends on
several loopback addresses (a plain nginx, each address answering its own
identity), an nginx config builder for resolve_server upstreams, the status
JSON reader and a small keep-alive load generator that records every
answer."""
import http.client
import json
import os
import socket
import threading
import time

import pytest

import testbed


class SlowBackend:
    """An HTTP server on addr answering "<addr>\\n" after delay seconds
    (holds a peer while a request is in flight)."""

    def __init__(self, addr, port, delay):
        import http.server
        import socketserver

        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                time.sleep(backend.delay)
                body = f"{backend.addr}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.addr, self.port, self.delay = addr, port, delay
        self.server = Server((addr, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class StatusBackend:
    """Answers /status/NNN with NNN, /sleep/MS after MS milliseconds with
    200, anything else 200; every method; a body of 5 bytes."""

    def __init__(self, addr="127.0.0.2"):
        import http.server
        import socketserver

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = self.path.split("?")[0].split("/")
                code = 200
                if "status" in parts:
                    code = int(parts[parts.index("status") + 1])
                if "sleep" in parts:
                    time.sleep(int(parts[parts.index("sleep") + 1]) / 1000)
                body = b"" if code in (204, 304) or self.command == "HEAD" \
                    else b"body\n"
                self.send_response(code)
                self.send_header("Content-Length",
                                 "0" if code in (204, 304) else "5")
                self.end_headers()
                self.wfile.write(body)

            def __getattr__(self, name):
                if name.startswith("do_"):
                    return self._answer
                raise AttributeError(name)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self.server = Server((addr, 0), Handler)
        self.addr = f"{addr}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def status_backend():
    made = []

    def make(addr="127.0.0.2"):
        b = StatusBackend(addr)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.fixture
def slow_backend():
    made = []

    def make(addr, port, delay=2.0):
        b = SlowBackend(addr, port, delay)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


class NginxBackends:
    """One plain nginx (no module) listening on PORT at every address in
    addrs; each address answers "<addr>\\n"."""

    def __init__(self, nginx_factory, addrs, port=None):
        self.addrs = list(addrs)
        self.port = port or testbed.free_port("127.0.0.1")
        blocks = []
        for a in self.addrs:
            blocks.append(
                f"server {{ listen {a}:{self.port}; "
                f"keepalive_requests 1000000; "
                f"location / {{ return 200 \"{a}\\n\"; }} }}")
        self.nginx = nginx_factory("\n".join(blocks), workers=1, module=False)


@pytest.fixture
def nginx_backends(nginx_factory):
    def make(addrs=("127.0.0.2", "127.0.0.3", "127.0.0.4"), port=None):
        return NginxBackends(nginx_factory, addrs, port)
    return make


def resolve_conf(dns_server, upstreams, listen_port, status_port,
                 resolver_timeout="2s", extra="", access_log=None):
    """http{} body: resolver, the given upstream blocks (name -> body) and a
    proxy server where /NAME/ goes to upstream NAME, plus the status
    server (reuseport, so fresh connections spread over the workers).
    access_log: a file for "$upstream_addr $status" lines of the proxy."""
    ups = []
    locs = []
    for name, body in upstreams.items():
        ups.append(f"upstream {name} {{\n{body}\n}}")
        locs.append(
            f"location /{name}/ {{ proxy_pass http://{name}; "
            f"proxy_http_version 1.1; proxy_set_header Connection \"\"; "
            f"proxy_connect_timeout 1s; }}")
    return (f"resolver {dns_server} ipv6=off;\n"
            f"resolver_timeout {resolver_timeout};\n"
            f"log_format ups '$upstream_addr $status';\n"
            + "\n".join(ups) + "\n"
            f"server {{ listen 127.0.0.1:{listen_port} reuseport; "
            f"keepalive_requests 1000000;\n"
            + (f"access_log {access_log} ups;\n" if access_log else "")
            + "\n".join(locs) + "\n}\n"
            f"server {{ listen 127.0.0.1:{status_port} reuseport; "
            f"location = /upstreams {{ upstream_resolve_status; }} }}\n"
            + extra)


def http_get(port, path, timeout=5.0):
    """(status, body text) of one GET on a fresh connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def status(port):
    code, body = http_get(port, "/upstreams")
    assert code == 200, body
    return json.loads(body)


def upstream_status(port, name):
    for u in status(port)["upstreams"]:
        if u["name"] == name:
            return u
    raise KeyError(name)


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, KeyError, ValueError, http.client.HTTPException):
            pass
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout}s (last {last!r})")


def addresses(port, upstream, server_index=0):
    u = upstream_status(port, upstream)
    return sorted(u["resolve"][server_index]["addresses"])


class Load:
    """Threads sending GETs over keep-alive connections until stop();
    every answer is kept as (monotonic time, status, body)."""

    def __init__(self, port, path, threads=4):
        self.port = port
        self.path = path
        self.results = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        conn = None
        while self.running:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=5)
                conn.request("GET", self.path)
                r = conn.getresponse()
                item = (time.monotonic(), r.status,
                        r.read().decode(errors="replace").strip())
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                # a reload closes idle keep-alive connections between
                # requests; that is a new connection, not a failed request
                # (status -1, see disconnects()); a dead worker shows here too
                if isinstance(e, (http.client.RemoteDisconnected,
                                  ConnectionResetError, BrokenPipeError)):
                    item = (time.monotonic(), -1, repr(e))
                else:
                    item = (time.monotonic(), 0, repr(e))
                conn = None
            with self.lock:
                self.results.append(item)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(10)
        return self.results

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def failures(self):
        """Answers other than 200, and errors (not disconnects)."""
        with self.lock:
            return [r for r in self.results if r[1] not in (200, -1)]

    def disconnects(self):
        with self.lock:
            return [r for r in self.results if r[1] == -1]

    def answered(self):
        with self.lock:
            return [r for r in self.results if r[1] != -1]


@pytest.fixture
def http_load():
    made = []

    def make(port, path, threads=4):
        lo = Load(port, path, threads)
        made.append(lo)
        return lo
    yield make
    for lo in made:
        lo.stop()


def free_udp_port():
    """A loopback port nothing listens on (queries to it time out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoggingClusterDNS:
    """cluster_dns with --log-queries: count_queries(name) tells how many
    times nginx asked for a name."""

    def __init__(self, dns):
        self.dns = dns

    def count_queries(self, name):
        return sum(1 for line in self.dns.proc.log_text(tail=10 ** 7)
                   .splitlines() if f"query[A] {name} " in line)


@pytest.fixture
def logging_cluster_dns(procs, tmp_path):
    from testbed.fixtures_core import ClusterDNS

    class _Logging(ClusterDNS):
        def argv(self):
            return super().argv() + ["--log-queries"]

    def make(ttl=1):
        dns = _Logging(procs, str(tmp_path), ttl=ttl).start()
        dns.counter = LoggingClusterDNS(dns)
        return dns
    return make


# --- ngx_http_portico_route_module (docs/routes.md) ----------------------

ROUTE_PROXY = ("proxy_pass http://portico_dispatch; proxy_http_version 1.1; "
               "proxy_set_header Connection \"\"; proxy_connect_timeout 1s;")


def routes_conf(upstreams, listen_port, status_port, interval="100ms",
                profiles=None, extra_locations="", extra=""):
    """http{} body of a routing nginx as docs/routes.md describes it: the
    table "routes" next to nginx.conf, the dispatch upstream, the given
    upstream blocks (name -> body), one default server whose "/" routes
    and one named location per profile (name -> directives), and a status
    server with /routes-version and /upstreams."""
    ups = "\n".join(f"upstream {n} {{ {b} }}" for n, b in upstreams.items())
    named = "\n".join(f"location @{n} {{ {d} portico_route; {ROUTE_PROXY} }}"
                      for n, d in (profiles or {}).items())
    return (f"portico_routes routes interval={interval};\n"
            f"upstream portico_dispatch {{ portico_dispatch; }}\n"
            f"{ups}\n"
            f"server {{ listen 127.0.0.1:{listen_port} reuseport "
            f"default_server; keepalive_requests 1000000;\n"
            f"  location / {{ portico_route; {ROUTE_PROXY} }}\n"
            f"  {named}\n  {extra_locations}\n}}\n"
            f"server {{ listen 127.0.0.1:{status_port} reuseport;\n"
            f"  location = /routes-version {{ portico_routes_status; }}\n"
            f"  location = /upstreams {{ upstream_resolve_status; }} }}\n"
            + extra)


def write_routes(path, text):
    """Puts a table in place the way the controller does: a new file
    renamed over the old one."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.rename(tmp, path)


def http_request(port, path, host=None, method="GET", body=None,
                 headers=None, timeout=5.0):
    """(status, headers dict with lowercase names, body text) of one
    request on a fresh connection; host None sends Host: 127.0.0.1."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if host is not None:
        h["Host"] = host
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return (r.status, {k.lower(): v for k, v in r.getheaders()},
                r.read().decode(errors="replace"))
    finally:
        c.close()


def routes_version(port):
    """The lines of /routes-version (line 1: the common version)."""
    code, body = http_get(port, "/routes-version")
    assert code == 200, body
    return body.splitlines()
