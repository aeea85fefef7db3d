"""portico-controller in local mode (--source=dir:) with REAL nginx + our
module, portico-dnscache in front of real dnsmasq as the cluster DNS, and
echo backends on 127.0.0.x:
Ingresses written to the folder are served, changed and withdrawn; the
Ingress spec's routing rules (the conformance cases); TLS from Secrets
checked by a real TLS client; injection attempts refused while the other
Ingresses keep working; nginx restarted when killed; an Ingress that
makes `nginx -t` fail is left out while others keep changing."""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import time

import pytest

import testbed
from testbed import certs
from testbed.controller import (CONTROLLER, ControllerUnderTest, Load,
                                eventually)

NS = "team"
CLASS = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.io/ingress-controller}
"""


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def backend(self):
        """Name of the echo backend that answered, or None."""
        try:
            return json.loads(self.body)["name"]
        except (ValueError, KeyError, TypeError):
            return None

    def json(self):
        return json.loads(self.body)


class LocalController(ControllerUnderTest):
    """portico-controller on a manifest folder, with nginx on loopback."""

    def __init__(self, procs, tmp_path, dns, extra=(), env=None):
        super().__init__(tmp_path / "state")
        self.dir = tmp_path / "manifests"
        self.dir.mkdir()
        self.dns = dns
        resolver = dns if isinstance(dns, str) else dns.server
        self.write("class", CLASS)
        argv = [CONTROLLER, f"--source=dir:{self.dir}",
                *self.common_argv(resolver), *extra]
        self.proc = procs.start("portico-controller", argv,
                                ready=self.ready, timeout=15, env=env)

    # -- manifests ---------------------------------------------------------
    def write(self, name, text):
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.dir / f"{name}.yaml")

    def delete(self, name):
        os.unlink(self.dir / f"{name}.yaml")

    # -- observation -------------------------------------------------------
    def config_version(self):
        c = http.client.HTTPConnection("127.0.0.1", self.status_port,
                                       timeout=2)
        c.request("GET", "/config-version")
        return c.getresponse().read().decode().strip()

    def get(self, host, path="/", https=False, method="GET"):
        if https:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection("127.0.0.1", self.https_port,
                                            timeout=5, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                           timeout=5)
        try:
            c.request(method, path, headers={"Host": host})
            r = c.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            c.close()

    def served_by(self, host, path="/"):
        return self.get(host, path).backend

    def settled(self, timeout=10):
        """Waits until the controller has confirmed that nginx serves the
        current nginx.conf and route table (no old worker accepts any
        more, every worker uses the table); returns the config hash."""
        return eventually(self.files_served, timeout)[0]

    def wait_served(self, host, path, backend, timeout=10):
        eventually(lambda: self.served_by(host, path) == backend, timeout)
        self.settled()

    def wait_status(self, host, path, status, timeout=10):
        eventually(lambda: self.get(host, path).status == status, timeout)
        self.settled()


def service(name, port, ns=NS):
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec:
  ports: [{{name: http, port: {port}, targetPort: {port}}}]
"""


def ingress(name, rules, ns=NS, annotations=None, labels=None, tls=None,
            default_backend=None, created="2026-01-01T00:00:00Z",
            klass="portico"):
    """An Ingress manifest (JSON is YAML); rules: [(host, [(path, type,
    service, port)])]."""
    spec = {"ingressClassName": klass, "rules": []}
    for host, paths in rules:
        r = {"http": {"paths": [
            {"path": p, "pathType": t,
             "backend": {"service": {"name": s, "port": {"number": port}}}}
            for p, t, s, port in paths]}}
        if host is not None:
            r["host"] = host
        spec["rules"].append(r)
    if tls:
        spec["tls"] = tls
    if default_backend:
        s, port = default_backend
        spec["defaultBackend"] = {"service": {"name": s,
                                              "port": {"number": port}}}
    meta = {"name": name, "namespace": ns, "creationTimestamp": created}
    if annotations:
        meta["annotations"] = annotations
    if labels:
        meta["labels"] = labels
    return json.dumps({"apiVersion": "networking.k8s.io/v1",
                       "kind": "Ingress", "metadata": meta, "spec": spec})


@pytest.fixture
def backends(http_backend, cluster_dns):
    """Three echo backends, each behind a Service name in the cluster DNS."""
    out = {}
    for i, name in enumerate(("alpha", "beta", "gamma")):
        b = http_backend(addr=f"127.0.0.{i + 2}", name=name)
        cluster_dns.set(f"{name}.{NS}.svc.cluster.local", b.addr)
        out[name] = b
    return out


@pytest.fixture
def ctl(procs, tmp_path, cluster_dns, backends, dnscache_factory):
    """The controller with the production DNS path: nginx's module asks
    portico-dnscache on loopback, which forwards to the cluster DNS."""
    dc = dnscache_factory()
    c = LocalController(procs, tmp_path, f"{dc.addr}:{dc.port}")
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    c.backends_addr = {name: b.addr for name, b in backends.items()}
    return c


def test_ingress_is_served_updated_and_withdrawn(ctl):
    p = ctl.ports
    ctl.write("shop", ingress("shop", [("shop.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("shop.test", "/cart", "alpha")
    r = ctl.get("shop.test", "/cart?x=1")
    assert r.json()["path"] == "/cart?x=1"
    assert r.json()["host"] == "shop.test"          # Host preserved

    ctl.write("shop", ingress("shop", [("shop.test", [
        ("/", "Prefix", "beta", p["beta"])])]))
    ctl.wait_served("shop.test", "/cart", "beta")

    ctl.delete("shop")
    ctl.wait_status("shop.test", "/cart", 404)
    # nginx started once; a new Service and the removal are table swaps
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == 1
    assert ctl.metric("portico_controller_route_updates_total",
                      result="success") >= 2


def test_unchanged_manifests_do_not_reload_nginx(ctl):
    p = ctl.ports
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              p["alpha"])])]))
    ctl.wait_served("a.test", "/", "alpha")
    version = ctl.settled()
    assert ctl.config_version() == version
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    # Rewrite the same content and add an Ingress of another class.
    ctl.write("a", ingress("a", [("a.test", [("/", "Prefix", "alpha",
                                              p["alpha"])])]))
    ctl.write("foreign", ingress("foreign", [("f.test", [
        ("/", "Prefix", "beta", p["beta"])])], klass="someone-else"))
    eventually(lambda: ctl.metric("portico_controller_reloads_skipped_total")
               >= 1, timeout=5)
    assert ctl.config_version() == version
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.get("f.test", "/").status == 404


def test_a_burst_of_changes_is_coalesced_into_few_reloads(ctl):
    p = ctl.ports
    ctl.write("first", ingress("first", [("first.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("first.test", "/", "alpha")
    before = ctl.metric("portico_controller_reloads_total", result="success")
    for i in range(30):
        ctl.write(f"burst{i}", ingress(f"burst{i}", [(f"b{i}.test", [
            ("/", "Prefix", "beta", p["beta"])])]))
    ctl.wait_served("b29.test", "/", "beta")
    assert all(ctl.served_by(f"b{i}.test") == "beta" for i in range(30))
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == before
    swaps = ctl.metric("portico_controller_route_updates_total",
                       result="success")
    assert 1 <= swaps <= 3


def test_a_change_after_quiet_is_built_at_once_and_a_burst_waits(
        procs, tmp_path, cluster_dns, backends):
    """With a long debounce (5 s): a change after a quiet spell is built
    at once (after a settle of 20 ms), not after the debounce; changes
    that follow within the debounce are one burst, built together after
    5 s of quiet."""
    c = LocalController(procs, tmp_path, cluster_dns, ["--debounce=5s"])
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.write("first", ingress("first", [("first.test", [
        ("/", "Prefix", "alpha", backends["alpha"].port)])]))
    c.wait_served("first.test", "/", "alpha", timeout=30)
    time.sleep(5.5)                     # quiet for longer than the debounce
    swaps = c.metric("portico_controller_route_updates_total",
                     result="success")
    t0 = time.monotonic()
    c.write("quiet", ingress("quiet", [("quiet.test", [
        ("/", "Prefix", "beta", backends["beta"].port)])]))
    eventually(lambda: c.served_by("quiet.test") == "beta", timeout=10)
    took = time.monotonic() - t0
    assert took < 4, f"served after {took:.2f} s: waited for the debounce"
    c.settled()
    assert c.metric("portico_controller_route_updates_total",
                    result="success") == swaps + 1
    # A burst right after: built once, after the debounce.
    t0 = time.monotonic()
    for i in range(3):
        c.write(f"burst{i}", ingress(f"burst{i}", [(f"b{i}.test", [
            ("/", "Prefix", "gamma", backends["gamma"].port)])]))
        time.sleep(0.2)
    eventually(lambda: c.served_by("b2.test") == "gamma", timeout=20)
    took = time.monotonic() - t0
    c.settled()
    assert all(c.served_by(f"b{i}.test") == "gamma" for i in range(3))
    assert c.metric("portico_controller_route_updates_total",
                    result="success") == swaps + 2
    assert took >= 4.5, f"the burst was built after {took:.2f} s"
    assert re.search(r"routes: table [0-9a-f]{16} .* swapped in, no reload; "
                     r"\d+ ms since the change: queued \d+ ms, model \d+ ms, "
                     r"render \d+ ms, write \d+ ms, table check \d+ ms",
                     c.proc.log_text())


def test_path_rules_follow_the_ingress_spec(ctl):
    p = ctl.ports
    A, B, C = (("alpha", p["alpha"]), ("beta", p["beta"]),
               ("gamma", p["gamma"]))
    ctl.write("paths", ingress("paths", [
        ("exact.test", [("/foo", "Exact", *A)]),
        ("prefix.test", [("/foo", "Prefix", *A)]),
        ("longest.test", [("/aaa", "Prefix", *A), ("/aaa/bbb", "Prefix", *B)]),
        ("tie.test", [("/foo", "Prefix", *A), ("/foo", "Exact", *B)]),
        ("slash.test", [("/aaa/bbb/", "Prefix", *A)]),
        ("exactslash.test", [("/foo/", "Exact", *A)]),
        ("impl.test", [("/impl", "ImplementationSpecific", *C)]),
        ("root.test", [("/", "Prefix", *A), ("/api", "Prefix", *B)]),
        ("mixed.test", [("/a", "Prefix", *A), ("/a/b/c", "ImplementationSpecific", *B),
                        ("/v1.0", "Prefix", *C)]),
        ("exactroot.test", [("/", "Exact", *A)]),
    ]))
    ctl.wait_served("exact.test", "/foo", "alpha")
    cases = [
        # Exact /foo: only /foo, case-sensitive
        ("exact.test", "/foo", "alpha"), ("exact.test", "/foo/", 404),
        ("exact.test", "/FOO", 404), ("exact.test", "/bar", 404),
        # Prefix /foo: whole path elements
        ("prefix.test", "/foo", "alpha"), ("prefix.test", "/foo/", "alpha"),
        ("prefix.test", "/foo/bar", "alpha"), ("prefix.test", "/foobar", 404),
        # longest prefix wins; /aaaccc matches neither
        ("longest.test", "/aaa/bbb", "beta"),
        ("longest.test", "/aaa/bbb/ccc", "beta"),
        ("longest.test", "/aaa/bbbccc", "alpha"),
        ("longest.test", "/aaa", "alpha"), ("longest.test", "/aaaccc", 404),
        # Exact beats Prefix on a tie
        ("tie.test", "/foo", "beta"), ("tie.test", "/foo/x", "alpha"),
        # trailing slash ignored for Prefix
        ("slash.test", "/aaa/bbb", "alpha"), ("slash.test", "/aaa/bbb/", "alpha"),
        # but not for Exact
        ("exactslash.test", "/foo", 404), ("exactslash.test", "/foo/", "alpha"),
        # ImplementationSpecific is a plain prefix
        ("impl.test", "/implx", "gamma"), ("impl.test", "/impl/y", "gamma"),
        # "/" catches everything else
        ("root.test", "/anything", "alpha"), ("root.test", "/api/v1", "beta"),
        ("root.test", "/apiary", "alpha"),
        # the longest rule wins across path types; '.' is literal
        ("mixed.test", "/a/b/c/d", "beta"), ("mixed.test", "/a/b/cd", "beta"),
        ("mixed.test", "/a/b", "alpha"), ("mixed.test", "/v1.0/x", "gamma"),
        ("mixed.test", "/v1x0", 404), ("mixed.test", "/v1.0x", 404),
        # Exact "/" is only "/"
        ("exactroot.test", "/", "alpha"), ("exactroot.test", "/x", 404),
    ]
    failures = []
    for host, path, want in cases:
        r = ctl.get(host, path)
        got = r.backend if r.status == 200 else r.status
        if got != want:
            failures.append((host, path, want, got))
    assert failures == [], failures


def test_host_rules_wildcards_cover_exactly_one_label(ctl):
    p = ctl.ports
    ctl.write("hosts", ingress("hosts", [
        ("foo.bar.com", [("/", "Prefix", "alpha", p["alpha"])]),
        ("*.foo.com", [("/", "Prefix", "beta", p["beta"])]),
    ]))
    ctl.wait_served("foo.bar.com", "/", "alpha")
    assert ctl.served_by("bar.foo.com") == "beta"
    assert ctl.get("baz.bar.foo.com").status == 404
    assert ctl.get("foo.com").status == 404
    assert ctl.get("subdomain.bar.com").status == 404
    assert ctl.get("FOO.BAR.COM").backend == "alpha"   # host is case-insensitive
    # unknown hosts on HTTPS: default server, self-signed cert, 404
    assert ctl.get("unknown.test", https=True).status == 404


def test_default_backend_takes_every_host_path_and_method(ctl):
    p = ctl.ports
    ctl.write("dflt", ingress("dflt", [], default_backend=("gamma",
                                                           p["gamma"])))
    ctl.wait_served("whatever.test", "/", "gamma")
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        r = ctl.get(f"h{method.lower()}.test", "/some/path?q=1", method=method)
        assert r.backend == "gamma"
        assert r.json()["method"] == method
        assert r.json()["path"] == "/some/path?q=1"


def test_backends_resolve_by_port_name_external_name_and_fail_softly(
        ctl, cluster_dns, backends):
    """Named Service ports, ExternalName Services, a name that does not
    resolve (503 with X-Portico-Upstream at request time, counted and
    logged, never a failed reload) and a missing Service (503)."""
    b = backends["gamma"]
    cluster_dns.set("gamma-ext.example.cluster.local", b.addr)
    ctl.write("svc-named", f"""
apiVersion: v1
kind: Service
metadata: {{name: named, namespace: {NS}}}
spec:
  ports: [{{name: web, port: {backends["alpha"].port}}}]
""")
    ctl.write("svc-ext", f"""
apiVersion: v1
kind: Service
metadata: {{name: ext, namespace: {NS}}}
spec: {{type: ExternalName, externalName: gamma-ext.example.cluster.local}}
---
apiVersion: v1
kind: Service
metadata: {{name: nowhere, namespace: {NS}}}
spec: {{type: ExternalName, externalName: nowhere.example.cluster.local}}
""")
    cluster_dns.set(f"named.{NS}.svc.cluster.local", backends["alpha"].addr)
    ing = json.loads(ingress("ports", [("ports.test", [
        ("/ext", "Prefix", "ext", b.port),
        ("/nowhere", "Prefix", "nowhere", 80),
        ("/missing", "Prefix", "missing-svc", 80)])]))
    ing["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/named", "pathType": "Prefix", "backend": {"service": {
            "name": "named", "port": {"name": "web"}}}})
    ctl.write("ports", json.dumps(ing))
    ctl.wait_served("ports.test", "/named", "alpha")
    ctl.wait_served("ports.test", "/ext", "gamma")
    nowhere = ctl.get("ports.test", "/nowhere")
    assert nowhere.status == 503
    assert nowhere.headers.get("X-Portico-Upstream") == "unresolved"
    assert ctl.get("ports.test", "/missing").status == 503
    assert ctl.metric("portico_controller_last_reload_success") == 1
    assert ctl.metric("portico_controller_upstreams_unresolved") == 1
    assert re.search(r"ingress team/ports: upstream u[0-9a-f]+_team_nowhere"
                     r"_80 \(nowhere\.example\.cluster\.local:80\) does not "
                     r"resolve: Host not found; its paths answer 503",
                     ctl.proc.log_text())


def test_a_path_or_host_change_is_served_without_a_reload(ctl):
    """Paths and hosts of existing Services live in the route table: the
    workers load the new table, nginx is neither reloaded nor restarted,
    and nginx.conf stays byte for byte the same."""
    p = ctl.ports
    ctl.write("r", ingress("r", [("r.test", [
        ("/a", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("r.test", "/a", "alpha")
    pids = ctl.nginx_pids()
    conf = ctl.nginx_conf()
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    swaps = ctl.metric("portico_controller_route_updates_total",
                       result="success")
    assert ctl.get("r.test", "/b").status == 404
    ctl.write("r", ingress("r", [
        ("r.test", [("/a", "Prefix", "alpha", p["alpha"]),
                    ("/b", "Exact", "alpha", p["alpha"])]),
        ("new-host.test", [("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("r.test", "/b", "alpha")
    assert ctl.served_by("new-host.test", "/x") == "alpha"
    assert ctl.get("r.test", "/b/x").status == 404      # Exact
    assert ctl.nginx_pids() == pids
    assert ctl.nginx_conf() == conf
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.metric("portico_controller_route_updates_total",
                      result="success") == swaps + 1
    assert ctl.metric("portico_controller_last_route_update_duration_seconds") > 0
    # checked by the module's parser in the small check configuration
    assert re.search(r"routes: table [0-9a-f]{16} .* swapped in, no reload; "
                     r"\d+ ms since the change: .* table check \d+ ms",
                     ctl.proc.log_text())
    # Withdrawing the path is a table change too.
    ctl.write("r", ingress("r", [("r.test", [
        ("/a", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_status("r.test", "/b", 404)
    assert ctl.nginx_pids() == pids


def test_a_new_service_port_is_served_without_a_reload_and_without_502(
        ctl):
    """Upstreams are lines of the route table (format 2): a new Service
    port is a table swap, nginx.conf and the workers stay, and the first
    requests to it are answered by it (the module waits for its first
    address rather than answering 502)."""
    p = ctl.ports
    ctl.write("n", ingress("n", [("n.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("n.test", "/", "alpha")
    pids = ctl.nginx_pids()
    conf = ctl.nginx_conf()
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    swaps = ctl.metric("portico_controller_route_updates_total",
                       result="success")
    ctl.write("n", ingress("n", [("n.test", [
        ("/", "Prefix", "alpha", p["alpha"]),
        ("/g", "Prefix", "gamma", p["gamma"])])]))
    seen = []

    def gamma_served():
        r = ctl.get("n.test", "/g")
        seen.append(r.status)
        return r.status == 200 and r.backend == "gamma"
    eventually(gamma_served, timeout=10)
    # before the table: the "/" rule (alpha, 200); then gamma, never 502
    assert 502 not in seen and 503 not in seen, seen
    eventually(lambda: ctl.metric("portico_controller_route_updates_total",
                                  result="success") == swaps + 1)
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.nginx_pids() == pids
    assert ctl.nginx_conf() == conf
    table = ctl.routes()
    assert re.search(r"^upstream u[0-9a-f]+_team_gamma_\d+ "
                     r"gamma\.team\.svc\.cluster\.local:\d+$", table, re.M)


CHURN = 10      # bench/bench-controller --churn: the full figure (100)


def test_service_and_ingress_churn_under_load_fails_no_request(
        ctl, cluster_dns):
    """Under steady load on an existing route, Ingress+Service pairs are
    created one after the other (each polled until it answers 200) and
    deleted: the existing route answers 200 throughout, a new route is
    never answered 502 or 503 (before its table swap the default server's
    404, then its backend), and nginx is never reloaded."""
    p = ctl.ports
    ctl.write("base", ingress("base", [("base.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("base.test", "/", "alpha")
    pids = ctl.nginx_pids()
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    before_200 = []
    with Load(ctl.http_port, "base.test") as load:
        for i in range(CHURN):
            name = f"churn{i}"
            cluster_dns.set(f"{name}.{NS}.svc.cluster.local",
                            ctl.backends_addr["beta"])
            ctl.write(f"svc-{name}", service(name, p["beta"]))
            ctl.write(name, ingress(name, [(f"{name}.test", [
                ("/", "Prefix", name, p["beta"])])]))
            seen = []

            def served(host=f"{name}.test", seen=seen):
                r = ctl.get(host)
                seen.append(r.status)
                return r.status == 200 and r.backend == "beta"
            eventually(served, timeout=15)
            before_200 += [s for s in seen[:-1] if s != 404]
            ctl.delete(name)
            ctl.delete(f"svc-{name}")
        for i in range(CHURN):
            eventually(lambda: ctl.get(f"churn{i}.test").status == 404,
                       timeout=15)
    answered = sum(load.outcomes().values())
    print(f"\nchurn of {CHURN}: {answered} requests on the existing route, "
          f"failures {load.failures()[:5]}; new routes before 200: "
          f"{before_200}")
    assert answered > CHURN
    assert load.failures() == []
    assert before_200 == []
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.nginx_pids() == pids


def test_a_new_profile_under_traffic_logs_no_route_table_error(
        ctl, http_backend, cluster_dns, slow_backend):
    """The table of a reload that adds a profile (and a Service) names a
    profile the old workers lack; its config token tells them it is for
    the next configuration: they keep their table with one notice, not an
    [error], and every request is answered throughout. A slow request
    holds an old worker through the change, so it polls the new table for
    certain."""
    import threading
    p = ctl.ports
    slow_port = testbed.free_port("127.0.0.6")
    slow = slow_backend("127.0.0.6", slow_port, delay=0.0)
    cluster_dns.set(f"slow.{NS}.svc.cluster.local", "127.0.0.6")
    ctl.write("svc-slow", service("slow", slow_port))
    ctl.write("t", ingress("t", [("t.test", [
        ("/", "Prefix", "alpha", p["alpha"]),
        ("/slow", "Prefix", "slow", slow_port)])]))
    ctl.wait_status("t.test", "/slow", 200)
    ctl.wait_served("t.test", "/", "alpha")
    log_from = os.path.getsize(ctl.proc.log_path)

    slow.delay = 2.5
    held, answers, stop = [], [], threading.Event()
    holder = threading.Thread(target=lambda: held.append(
        ctl.get("t.test", "/slow").status))

    def traffic():
        while not stop.is_set():
            try:
                answers.append(ctl.get("t.test", "/").status)
            except OSError as e:
                answers.append(repr(e))
    load = threading.Thread(target=traffic)
    holder.start()
    load.start()
    try:
        time.sleep(0.3)                 # the slow request is in a worker
        delta = http_backend(addr="127.0.0.5", name="delta")
        cluster_dns.set(f"delta.{NS}.svc.cluster.local", delta.addr)
        ctl.write("svc-delta", service("delta", delta.port))
        ctl.write("t", ingress("t", [("t.test", [
            ("/", "Prefix", "alpha", p["alpha"]),
            ("/slow", "Prefix", "slow", slow_port),
            ("/d", "Prefix", "delta", delta.port)])],
            annotations={"portico.io/proxy-read-timeout": "7s"}))
        ctl.wait_served("t.test", "/d", "delta")
        holder.join(10)
    finally:
        stop.set()
        load.join(10)
    assert held == [200]
    assert len(answers) > 20 and set(answers) == {200}, set(answers)
    with open(ctl.proc.log_path, "rb") as f:
        f.seek(log_from)
        log = f.read().decode(errors="replace")
    errors = [x for x in log.splitlines()
              if "[error]" in x and "portico_routes" in x]
    assert errors == [], errors
    notices = [x for x in log.splitlines() if "[notice]" in x and
               re.search(r"portico_routes: table [0-9a-f]{16} is for "
                         r"configuration [0-9a-f]{16}, this worker runs "
                         r"[0-9a-f]{16}; keeping version [0-9a-f]{16} "
                         r"until the reload", x)]
    assert notices, log


def test_proxy_options_apply_per_ingress_through_shared_profiles(ctl):
    """portico.io/proxy-body-size limits only its own Ingress's rules (a
    named location per option set); a second Ingress with the same values
    shares it, so adding it is a table swap, not a reload."""
    p = ctl.ports

    def post(host, size):
        c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=5)
        try:
            c.request("POST", "/upload", body=b"x" * size,
                      headers={"Host": host})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    small = {"portico.io/proxy-body-size": "1k"}
    ctl.write("small", ingress("small", [("small.test", [
        ("/", "Prefix", "alpha", p["alpha"])])], annotations=small))
    ctl.write("big", ingress("big", [("big.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    ctl.wait_served("small.test", "/", "alpha")
    assert post("small.test", 4096) == 413
    assert post("small.test", 512) == 200
    assert post("big.test", 4096) == 200        # the default, 1m
    assert ctl.nginx_conf().count("location @portico_p") == 1
    reloads = ctl.metric("portico_controller_reloads_total", result="success")
    ctl.write("small2", ingress("small2", [("small2.test", [
        ("/", "Prefix", "alpha", p["alpha"])])], annotations=small))
    ctl.wait_served("small2.test", "/", "alpha")
    assert post("small2.test", 4096) == 413
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert ctl.nginx_conf().count("location @portico_p") == 1


def test_same_host_in_two_ingresses_merges_and_the_oldest_wins(ctl):
    p = ctl.ports
    ctl.write("young", ingress("young", [("m.test", [
        ("/shared", "Prefix", "beta", p["beta"]),
        ("/young", "Prefix", "beta", p["beta"])])],
        created="2026-05-01T00:00:00Z"))
    ctl.write("old", ingress("old", [("m.test", [
        ("/shared", "Prefix", "alpha", p["alpha"]),
        ("/old", "Prefix", "alpha", p["alpha"])])],
        created="2026-01-01T00:00:00Z"))
    ctl.wait_served("m.test", "/old", "alpha")
    ctl.wait_served("m.test", "/young", "beta")
    assert ctl.served_by("m.test", "/shared") == "alpha"


def test_tls_from_a_secret_is_served_and_http_redirects(ctl, tmp_path):
    import base64
    ca = certs.make_ca()
    leaf = certs.make_cert(ca, ["secure.test"])
    ca_path = tmp_path / "ca.crt"
    ca.write_cert(ca_path)
    secret = json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "secure-tls", "namespace": NS},
        "data": {"tls.crt": base64.b64encode(leaf.cert_pem.encode()).decode(),
                 "tls.key": base64.b64encode(leaf.key_pem.encode()).decode()}})
    ctl.write("secret", secret)
    ctl.write("secure", ingress("secure", [("secure.test", [
        ("/", "Prefix", "alpha", ctl.ports["alpha"])])],
        tls=[{"hosts": ["secure.test"], "secretName": "secure-tls"}]))

    def https_ok():
        ctx = ssl.create_default_context(cafile=str(ca_path))
        with socket.create_connection(("127.0.0.1", ctl.https_port),
                                      timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname="secure.test") as s:
                s.sendall(b"GET /x HTTP/1.1\r\nHost: secure.test\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                return b'"name": "alpha"' in data
    eventually(https_ok, timeout=10)
    ctl.settled()
    import calendar
    assert ctl.metric(
        "portico_controller_certificate_expiry_timestamp_seconds",
        host="secure.test", source="secret") == calendar.timegm(
            leaf.cert.not_valid_after.utctimetuple())
    r = ctl.get("secure.test", "/x?y=1")
    assert r.status == 308
    assert r.headers["Location"] == \
        f"https://secure.test:{ctl.https_port}/x?y=1"
    # A host without TLS presents the default (untrusted) certificate.
    ctx = ssl.create_default_context(cafile=str(ca_path))
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", ctl.https_port),
                                      timeout=3) as raw:
            ctx.wrap_socket(raw, server_hostname="other.test")


def test_invalid_secret_is_not_used_and_the_host_stays_on_http(ctl):
    import base64
    ca = certs.make_ca()
    crt, other_key = certs.mismatched_pair(ca, ["bad-tls.test"])
    ctl.write("badsecret", json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "bad-tls", "namespace": NS},
        "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                 "tls.key": base64.b64encode(other_key.encode()).decode()}}))
    ctl.write("badtls", ingress("badtls", [("bad-tls.test", [
        ("/", "Prefix", "alpha", ctl.ports["alpha"])])],
        tls=[{"hosts": ["bad-tls.test"], "secretName": "bad-tls"}]))
    ctl.wait_served("bad-tls.test", "/", "alpha")   # no redirect
    assert "bad-tls.test" not in ctl.certificates()
    assert "secret-" not in ctl.nginx_conf()


INJECTIONS = {
    "path-semicolon": ("/x;} server { listen 1; } location /y", "Prefix"),
    "path-quote": ('/x" { return 200 "owned"; } location "/y', "Prefix"),
    "path-crlf": ("/x\r\nreturn 200 owned;", "Prefix"),
    "path-dollar": ("/$host", "Exact"),
    "path-hash": ("/x#", "Exact"),
    "path-brace": ("/x{", "Exact"),
    "path-nul": ("/x\u0000y", "Exact"),
    "path-long": ("/" + "a" * 5000, "Prefix"),
    "path-traversal": ("/a/../../etc", "Prefix"),
}


def test_injection_attempts_are_refused_and_others_keep_working(ctl):
    p = ctl.ports
    ctl.write("good", ingress("good", [("good.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    for name, (path, ptype) in INJECTIONS.items():
        ctl.write(name, ingress(name, [(f"{name}.test", [
            (path, ptype, "beta", p["beta"])])]))
    bad_hosts = {
        "host-crlf": "evil.test\r\nserver_name x",
        "host-quote": 'evil.test";',
        "host-space": "evil.test www.other.test",
        "host-regex": "~^.*$",
        "host-long": "a" * 300 + ".test",
        "host-ip": "10.1.2.3",
        "host-star": "*",
    }
    for name, host in bad_hosts.items():
        ctl.write(name, ingress(name, [(host, [("/", "Prefix", "beta",
                                                  p["beta"])])]))
    bad_annotations = {
        "ann-size": "1m; include /etc/passwd",
        "ann-size-crlf": "1m\r\nlocation /x { return 200; }",
        "ann-size-brace": "1m}",
    }
    for name, value in bad_annotations.items():
        ctl.write(name, ingress(name, [(f"{name}.test", [
            ("/", "Prefix", "beta", p["beta"])])],
            annotations={"portico.io/proxy-body-size": value}))
    ctl.write("ann-timeout", ingress("ann-timeout", [("ann-timeout.test", [
        ("/", "Prefix", "beta", p["beta"])])],
        annotations={"portico.io/proxy-read-timeout": "30s; return 200"}))
    total_bad = (len(INJECTIONS) + len(bad_hosts) + len(bad_annotations) + 1)
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == total_bad)
    ctl.wait_served("good.test", "/", "alpha")
    assert ctl.metric("portico_controller_ingresses", state="served") == 1
    generated = ctl.nginx_conf() + ctl.routes()
    for needle in ("owned", "/etc/passwd", "listen 1;", "evil", "return 200;",
                   "$host\"", "10.1.2.3", "a/../"):
        assert needle not in generated, needle
    for name in INJECTIONS:
        assert ctl.get(f"{name}.test", "/x").status == 404
    # Fixing one of them makes it served, the good one stays served.
    ctl.write("path-semicolon", ingress("path-semicolon", [
        ("path-semicolon.test", [("/x", "Prefix", "beta", p["beta"])])]))
    ctl.wait_served("path-semicolon.test", "/x", "beta")
    assert ctl.served_by("good.test") == "alpha"
    assert ctl.proc.log_text().count("path-semicolon rejected") == 1


def test_nginx_killed_is_restarted_and_serves_again(ctl):
    p = ctl.ports
    ctl.write("k", ingress("k", [("k.test", [("/", "Prefix", "alpha",
                                              p["alpha"])])]))
    ctl.wait_served("k.test", "/", "alpha")
    pid = int((ctl.prefix / "nginx.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: ctl.metric("portico_controller_nginx_restarts_total")
               == 1, timeout=10)
    ctl.wait_served("k.test", "/", "alpha")
    new_pid = int((ctl.prefix / "nginx.pid").read_text())
    assert new_pid != pid
    # And changes still apply after the restart.
    ctl.write("k2", ingress("k2", [("k2.test", [("/", "Prefix", "beta",
                                                 p["beta"])])]))
    ctl.wait_served("k2.test", "/", "beta")


def test_ingress_failing_nginx_t_is_left_out_and_others_keep_changing(ctl):
    p = ctl.ports
    ctl.write("ok1", ingress("ok1", [("ok1.test", [("/", "Prefix", "alpha",
                                                    p["alpha"])])]))
    ctl.wait_served("ok1.test", "/", "alpha")
    # Passes the grammar (12 digits + unit) but overflows nginx's parser.
    ctl.write("huge", ingress("huge", [("huge.test", [
        ("/", "Prefix", "beta", p["beta"])])],
        annotations={"portico.io/proxy-body-size": "999999999999g"}))
    ctl.write("ok2", ingress("ok2", [("ok2.test", [("/", "Prefix", "gamma",
                                                    p["gamma"])])]))
    ctl.wait_served("ok2.test", "/", "gamma")
    assert ctl.get("huge.test", "/").status == 404
    assert ctl.metric("portico_controller_ingresses", state="excluded") == 1
    assert ctl.metric("portico_controller_ingress_exclusions_total") >= 1
    assert re.search(r"ingress team/huge left out: nginx -t failed: "
                     r"\"client_max_body_size\" directive invalid value",
                     ctl.proc.log_text())
    # Other changes keep flowing while it stays excluded.
    ctl.write("ok1", ingress("ok1", [("ok1.test", [("/", "Prefix", "beta",
                                                    p["beta"])])]))
    ctl.wait_served("ok1.test", "/", "beta")
    # Fixing it brings it back.
    ctl.write("huge", ingress("huge", [("huge.test", [
        ("/", "Prefix", "beta", p["beta"])])],
        annotations={"portico.io/proxy-body-size": "10m"}))
    ctl.wait_served("huge.test", "/", "beta")
    assert ctl.metric("portico_controller_ingresses", state="excluded") == 0


# No Ingress that passes the controller's grammar makes a table line the
# route module refuses (hosts, paths and names are stricter than the
# table's own grammar, upstreams are generated), so this fault is injected:
# the real nginx, except that `nginx -t` refuses the rule line of one host
# with the module's error format.
# A wrapper's start: $test set for `nginx -t`, $conf the -c file.
NGINX_ARGS = """#!/bin/sh
conf= test=
prev=
for a in "$@"; do
    [ "$a" = -t ] && test=1
    [ "$prev" = -c ] && conf=$a
    prev=$a
done
"""
REFUSING_NGINX = NGINX_ARGS + """[ -n "$test" ] && echo "$conf" >> "$0.tests"
routes="$(dirname "$conf")/routes"
if [ -n "$test" ] && line=$(grep -n '^host refused.test' "$routes" |
                            cut -d: -f1) && [ -n "$line" ]; then
    echo "nginx: [emerg] portico_routes: injected refusal in" \
         "$routes:$((line + 1))" >&2
    exit 1
fi
exec /usr/sbin/nginx "$@"
"""


def nginx_wrapper(tmp_path, script):
    """An executable script in tmp_path, for --nginx-binary."""
    wrapper = tmp_path / "nginx"
    wrapper.write_text(script)
    wrapper.chmod(0o755)
    return wrapper


def test_ingress_whose_table_line_nginx_t_refuses_is_left_out(
        procs, tmp_path, cluster_dns, backends):
    """A route table the module refuses is refused before it is
    published, by the table check (`nginx -t` of the small check
    configuration next to the candidate table), without `nginx -t` of the
    whole nginx.conf; a change of nginx.conf still gets the whole one."""
    wrapper = nginx_wrapper(tmp_path, REFUSING_NGINX)
    tests = tmp_path / "nginx.tests"
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=[f"--nginx-binary={wrapper}"])
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    p = {name: b.port for name, b in backends.items()}
    c.write("ok", ingress("ok", [("ok.test", [("/", "Prefix", "alpha",
                                               p["alpha"])])]))
    c.wait_served("ok.test", "/", "alpha")
    tests.write_text("")
    # Same Service: only the table changes, and nginx -t refuses it.
    c.write("refused", ingress("refused", [("refused.test", [
        ("/", "Prefix", "alpha", p["alpha"])])]))
    c.write("ok2", ingress("ok2", [("ok2.test", [("/", "Prefix", "alpha",
                                                  p["alpha"])])]))
    c.wait_served("ok2.test", "/", "alpha")
    assert c.get("refused.test", "/").status == 404
    assert "refused.test" not in c.routes()
    assert c.metric("portico_controller_ingresses", state="excluded") == 1
    assert c.metric("portico_controller_route_updates_total",
                    result="invalid") >= 1
    assert re.search(r"ingress team/refused left out: nginx -t failed: "
                     r"portico_routes: injected refusal in \S+/candidate/"
                     r"routes:\d+", c.proc.log_text())
    checked = tests.read_text().split()
    assert checked and all(x.endswith("/candidate/check.conf")
                           for x in checked), checked
    assert c.nginx_conf() == (c.prefix / "nginx.conf").read_text()
    # A new option profile is nginx.conf: the whole nginx -t, a reload.
    reloads = c.metric("portico_controller_reloads_total", result="success")
    tests.write_text("")
    c.write("big", ingress("big", [("big.test", [
        ("/", "Prefix", "alpha", p["alpha"])])],
        annotations={"portico.io/proxy-body-size": "20m"}))
    c.wait_served("big.test", "/", "alpha")
    assert any(x.endswith("/candidate/nginx.conf")
               for x in tests.read_text().split())
    assert c.metric("portico_controller_reloads_total",
                    result="success") == reloads + 1


# the real nginx, except that a starting master (not `nginx -t`) first
# sleeps: a first config that nginx takes long to load, as 100k Ingresses.
SLOW_STARTING_NGINX = """#!/bin/sh
for a in "$@"; do
    [ "$a" = -t ] && exec /usr/sbin/nginx "$@"
done
sleep 2
exec /usr/sbin/nginx "$@"
"""


def test_a_first_config_served_after_the_confirmation_timeout_is_confirmed_late(
        procs, tmp_path, cluster_dns, backends):
    wrapper = nginx_wrapper(tmp_path, SLOW_STARTING_NGINX)
    # Ready (the constructor waits for /readyz 200) only through the late
    # confirmation: the timeout passes while the master sleeps.
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=[f"--nginx-binary={wrapper}",
                               "--confirm-timeout=300ms"])
    assert c.metric("portico_controller_reloads_total",
                    result="unconfirmed") == 1
    assert c.metric("portico_controller_late_confirmations_total") == 1
    assert c.metric("portico_controller_config_applied") == 1
    log = c.proc.log_text()
    assert "within 300 ms (still waiting)" in log
    assert re.search(r"reload: served late, after the 300 ms confirmation "
                     r"timeout had counted it unconfirmed \([0-9.]+ s\)", log)
    # The next change is confirmed in time, as usual.
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.write("late", ingress("late", [("late.test", [
        ("/", "Prefix", "alpha", backends["alpha"].port)])]))
    c.wait_served("late.test", "/", "alpha")
    assert c.metric("portico_controller_late_confirmations_total") == 1
    assert c.metric("portico_controller_reloads_total",
                    result="unconfirmed") == 1


def test_metrics_are_promtool_clean_and_readiness_follows_config(ctl):
    ctl.write("m", ingress("m", [("m.test", [("/", "Prefix", "alpha",
                                              ctl.ports["alpha"])])]))
    ctl.wait_served("m.test", "/", "alpha")
    version = ctl.config_version()
    text = eventually(lambda: (m := ctl.metrics()) and
                      f'config_hash_info{{hash="{version}"}} 1' in m and m)
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out
    assert "portico_controller_last_reload_success 1" in text
    assert ctl.ready()


def test_examples_local_are_served(procs, tmp_path, cluster_dns,
                                   http_backend):
    """The manifests `make run` uses: routing, wildcard and TLS."""
    import shutil
    web = http_backend(addr="127.0.0.2", name="web")
    api = http_backend(addr="127.0.0.3", name="api")
    v2 = http_backend(addr="127.0.0.4", name="api-v2")
    cluster_dns.set("web.demo.svc.cluster.local", "127.0.0.2")
    cluster_dns.set("api.demo.svc.cluster.local", "127.0.0.3")
    cluster_dns.set("api-v2.demo.svc.cluster.local", "127.0.0.4")
    c = LocalController(procs, tmp_path, cluster_dns)
    for f in (testbed.REPO / "examples" / "local").glob("*.yaml"):
        text = f.read_text()
        # The backends listen on free ports; point the Services at them.
        ports = {"8081": web.port, "8082": api.port, "8083": v2.port}
        text = re.sub(r"\b808[123]\b", lambda m: str(ports[m.group(0)]),
                      text)
        c.write("ex-" + f.stem, text)
    c.wait_served("api.example.test", "/v1/users", "api")
    assert c.served_by("api.example.test", "/v2") == "api-v2"
    assert c.served_by("api.example.test", "/health") == "api"
    assert c.get("api.example.test", "/health/x").status == 404
    assert c.served_by("x.apps.example.test") == "web"
    assert c.get("www.example.test").status == 308
    assert c.get("www.example.test", https=True).backend == "web"
    shutil.rmtree(c.dir)


def test_tls_from_vault_for_ssl_labelled_ingresses_survives_vault_down(
        procs, tmp_path, cluster_dns, backends, fake_vault):
    """ssl: "true" -> the pair at secret/ssl/<host> in Vault is served
    (checked by a TLS client trusting the test CA); when Vault goes away,
    routes and certificates stay and other changes still apply."""
    ca = certs.make_ca()
    leaf = certs.make_cert(ca, ["vault.test"])
    ca_path = tmp_path / "ca.crt"
    ca.write_cert(ca_path)
    fake_vault.kv_put("ssl/vault.test", {"crt": leaf.cert_pem,
                                         "key": leaf.key_pem})
    env = dict(os.environ, VAULT_ADDR=fake_vault.addr,
               VAULT_TOKEN=fake_vault.root_token)
    c = LocalController(procs, tmp_path, cluster_dns, env=env,
                        extra=["--vault-refresh=1s", "--vault-retries=0",
                               "--vault-timeout=1s"])
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.write("v", ingress("v", [("vault.test", [
        ("/", "Prefix", "alpha", backends["alpha"].port)])],
        labels={"ssl": "true"}))

    def verified(host):
        ctx = ssl.create_default_context(cafile=str(ca_path))
        with socket.create_connection(("127.0.0.1", c.https_port),
                                      timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n"
                          f"Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                return b'"name": "alpha"' in data
    eventually(lambda: verified("vault.test"), timeout=15)
    c.settled()
    assert c.get("vault.test").status == 308
    assert "vault_fetches_total" in c.metrics()

    fake_vault.proc.stop()
    c.write("other", ingress("other", [("other.test", [
        ("/", "Prefix", "beta", backends["beta"].port)])]))
    c.wait_served("other.test", "/", "beta")
    time.sleep(2)       # a few failed refreshes
    assert verified("vault.test")


def test_changing_an_ssl_ingress_rereads_its_vault_certificate_at_once(
        procs, tmp_path, cluster_dns, backends, fake_vault):
    """A certificate rotated in Vault is picked up when its Ingress changes,
    not only at the next periodic refresh (an hour here)."""
    ca = certs.make_ca()
    first = certs.make_cert(ca, ["rot.test"])
    second = certs.make_cert(ca, ["rot.test"])
    fake_vault.kv_put("ssl/rot.test", {"crt": first.cert_pem,
                                        "key": first.key_pem})
    env = dict(os.environ, VAULT_ADDR=fake_vault.addr,
               VAULT_TOKEN=fake_vault.root_token)
    c = LocalController(procs, tmp_path, cluster_dns, env=env,
                        extra=["--vault-refresh=1h"])
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))

    def rot(labels):
        return ingress("rot", [("rot.test", [
            ("/", "Prefix", "alpha", backends["alpha"].port)])],
            labels=labels)

    def served_cert():
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", c.https_port),
                                      timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname="rot.test") as s:
                return ssl.DER_cert_to_PEM_cert(s.getpeercert(True))

    def same(a, b):
        return a.strip() == b.strip()

    c.write("rot", rot({"ssl": "true"}))
    eventually(lambda: same(served_cert(), first.cert_pem), timeout=15)
    c.settled()
    reloads = c.metric("portico_controller_reloads_total", result="success")
    fake_vault.kv_put("ssl/rot.test", {"crt": second.cert_pem,
                                        "key": second.key_pem})
    time.sleep(1)
    assert same(served_cert(), first.cert_pem)  # no refresh by itself
    c.write("rot", rot({"ssl": "true", "team": "web"}))
    eventually(lambda: same(served_cert(), second.cert_pem), timeout=10)
    # a certificate table swap, not a reload
    c.settled()
    assert c.metric("portico_controller_reloads_total",
                    result="success") == reloads
    assert c.metric("portico_controller_certificate_updates_total",
                    result="success") >= 1


def test_make_run_script_serves_the_examples_and_stops_cleanly(tmp_path):
    """scripts/run-local (what `make run` calls): dnscache, demo backends
    and the controller on examples/local; Ctrl-C stops all of it."""
    import subprocess
    ports = {k: testbed.free_port() for k in (
        "HTTP_PORT", "HTTPS_PORT", "DNS_PORT", "STATUS_PORT", "METRICS_PORT",
        "DNSCACHE_METRICS_PORT")}
    env = dict(os.environ, PORTICO_BUILD=str(testbed.BUILD),
               **{k: str(v) for k, v in ports.items()})
    out = open(tmp_path / "run-local.out", "w+")
    p = subprocess.Popen([str(testbed.REPO / "scripts" / "run-local")],
                         env=env, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True,
                         # As from a terminal: a shell started with SIGINT
                         # ignored (CI under nohup or `&`) can never trap it.
                         preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                          signal.SIG_DFL))
    try:
        eventually(lambda: "Ctrl-C stops everything" in
                   (tmp_path / "run-local.out").read_text(), timeout=20)
        text = (tmp_path / "run-local.out").read_text()
        state = re.search(r"Logs: (\S+)/\*\.log", text).group(1)
        assert os.path.isdir(state)

        def body(host, path):
            c = http.client.HTTPConnection("127.0.0.1", ports["HTTP_PORT"],
                                           timeout=5)
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            return r.status, r.read()
        eventually(lambda: body("api.example.test", "/v1/x")[0] == 200)
        assert b'"backend": "api"' in body("api.example.test", "/v1/x")[1]
        assert b'"backend": "api-v2"' in body("api.example.test", "/v2")[1]
        assert body("www.example.test", "/")[0] == 308
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(timeout=20) == 0
        assert not os.path.exists(state)
        leftovers = subprocess.run(["pgrep", "-f", state],
                                   stdout=subprocess.PIPE, text=True).stdout
        assert leftovers == ""
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        out.close()
