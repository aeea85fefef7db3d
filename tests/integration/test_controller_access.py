"""Access control from annotations, with the real controller, nginx and
module (local mode): who may reach an Ingress's backends. Clients connect
from several loopback addresses (127.0.0.x and ::1) so that allow- and
deny-lists are exercised with real source addresses; the client address
behind a load balancer comes from X-Forwarded-For or the PROXY protocol
only on connections from the trusted proxies."""
import http.client
import socket

import pytest

from testbed.controller import eventually
# The local-mode controller, manifests and fixtures.
from test_controller_local import (NS, LocalController, backends,  # noqa: F401
                                   ctl, ingress, service)

NGINX = "nginx.ingress.kubernetes.io"


def request(port, host, path="/", source="127.0.0.1", addr="127.0.0.1",
            method="GET", headers=None, body=None):
    """(status, headers, body) of one request from the source address."""
    c = http.client.HTTPConnection(addr, port, timeout=5,
                                   source_address=(source, 0))
    try:
        c.request(method, path, body=body,
                  headers={"Host": host, **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def status(ctl, host, path="/", **kw):
    """The status of one request, once nginx serves what the controller
    last wrote: a new profile is a reload, and for nginx's 100 ms between
    starting new workers and stopping the old ones both accept."""
    ctl.settled()
    return request(ctl.http_port, host, path, **kw)[0]


def guarded(name, host, ctl, annotations, svc="alpha", default=False):
    return ingress(name, [(host, [("/", "Prefix", svc, ctl.ports[svc])])],
                   annotations=annotations,
                   default_backend=(svc, ctl.ports[svc]) if default else None)


def test_allow_and_deny_lists_filter_ipv4_clients_by_source_address(ctl):
    ctl.write("open", guarded("open", "open.test", ctl, {}))
    ctl.write("allow", guarded("allow", "allow.test", ctl, {
        f"{NGINX}/whitelist-source-range": "127.0.0.2, 127.0.1.0/24"}))
    ctl.write("deny", guarded("deny", "deny.test", ctl, {
        "portico.io/denylist-source-range": "127.0.0.3/32"}))
    # Denials first, then the allow-list: 127.0.0.4 is in the allowed /8
    # but denied by name.
    ctl.write("both", guarded("both", "both.test", ctl, {
        f"{NGINX}/allowlist-source-range": "127.0.0.0/8",
        f"{NGINX}/denylist-source-range": "127.0.0.4"}))
    for host in ("open.test", "allow.test", "deny.test", "both.test"):
        eventually(lambda: status(ctl, host, source="127.0.0.2") == 200)
    ctl.settled()
    assert status(ctl, "allow.test", source="127.0.0.2") == 200
    assert status(ctl, "allow.test", source="127.0.1.9") == 200
    assert status(ctl, "allow.test", source="127.0.0.3") == 403
    assert status(ctl, "allow.test", source="127.0.0.1") == 403
    assert status(ctl, "deny.test", source="127.0.0.3") == 403
    assert status(ctl, "deny.test", source="127.0.0.5") == 200
    assert status(ctl, "both.test", source="127.0.0.4") == 403
    assert status(ctl, "both.test", source="127.0.0.5") == 200
    assert status(ctl, "open.test", source="127.0.0.3") == 200
    # A denied request never reaches the backend.
    _, _, body = request(ctl.http_port, "allow.test", source="127.0.0.3")
    assert b'"name"' not in body
    conf = ctl.nginx_conf()
    assert 'allow "127.0.0.2/32"; allow "127.0.1.0/24"; deny all;' in conf
    assert 'deny "127.0.0.4/32"; allow "127.0.0.0/8"; deny all;' in conf


def test_an_allow_list_guards_the_default_backend_too(ctl):
    ctl.write("dflt", guarded("dflt", "dflt.test", ctl, {
        f"{NGINX}/whitelist-source-range": "127.0.0.2"}, default=True))
    eventually(lambda: status(ctl, "dflt.test", "/", source="127.0.0.2")
               == 200)
    # Any other host falls to the defaultBackend: guarded the same way.
    assert status(ctl, "other.test", "/x", source="127.0.0.2") == 200
    assert status(ctl, "other.test", "/x", source="127.0.0.3") == 403
    assert status(ctl, "dflt.test", "/", source="127.0.0.3") == 403


def test_changing_an_allow_list_applies_it(ctl):
    ctl.write("chg", guarded("chg", "chg.test", ctl, {
        f"{NGINX}/whitelist-source-range": "127.0.0.2"}))
    eventually(lambda: status(ctl, "chg.test", source="127.0.0.2") == 200)
    ctl.settled()
    assert status(ctl, "chg.test", source="127.0.0.3") == 403
    ctl.write("chg", guarded("chg", "chg.test", ctl, {
        f"{NGINX}/whitelist-source-range": "127.0.0.3"}))
    eventually(lambda: status(ctl, "chg.test", source="127.0.0.2") == 403)
    ctl.settled()       # a new profile is a reload: old workers drain
    assert status(ctl, "chg.test", source="127.0.0.3") == 200
    # Removing the annotation opens the Ingress again.
    ctl.write("chg", guarded("chg", "chg.test", ctl, {}))
    eventually(lambda: status(ctl, "chg.test", source="127.0.0.2") == 200)


@pytest.fixture
def ctl6(procs, tmp_path, cluster_dns, backends, dnscache_factory):
    """nginx listening on ::1 (the only IPv6 loopback address)."""
    dc = dnscache_factory()
    c = LocalController(procs, tmp_path, f"{dc.addr}:{dc.port}",
                        extra=["--bind-address=::1"])
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    return c


def test_allow_and_deny_lists_filter_ipv6_clients(ctl6):
    c = ctl6

    def st(host):
        return request(c.http_port, host, source="::1", addr="::1")[0]
    c.write("in6", guarded("in6", "in6.test", c, {
        f"{NGINX}/whitelist-source-range": "10.0.0.0/8, ::1"}))
    c.write("out6", guarded("out6", "out6.test", c, {
        f"{NGINX}/whitelist-source-range": "2001:db8::/32"}))
    c.write("deny6", guarded("deny6", "deny6.test", c, {
        f"{NGINX}/denylist-source-range": "0:0:0:0:0:0:0:1/128"}))
    c.write("open6", guarded("open6", "open6.test", c, {}))
    eventually(lambda: st("open6.test") == 200)
    eventually(lambda: st("in6.test") == 200)
    c.settled()
    assert st("out6.test") == 403
    assert st("deny6.test") == 403
    assert 'deny "::1/128";' in c.nginx_conf()


def real_ip_controller(procs, tmp_path, cluster_dns, backends,
                       dnscache_factory, flags):
    dc = dnscache_factory()
    c = LocalController(procs, tmp_path, f"{dc.addr}:{dc.port}",
                        extra=flags)
    for name, b in backends.items():
        c.write(f"svc-{name}", service(name, b.port))
    c.ports = {name: b.port for name, b in backends.items()}
    c.write("lb", guarded("lb", "lb.test", c, {
        f"{NGINX}/whitelist-source-range": "10.1.0.0/16"}))
    c.write("open", guarded("open", "open.test", c, {}, svc="beta"))
    return c


def test_forwarded_headers_are_trusted_only_from_the_load_balancer(
        procs, tmp_path, cluster_dns, backends, dnscache_factory):
    c = real_ip_controller(procs, tmp_path, cluster_dns, backends,
                           dnscache_factory,
                           ["--use-forwarded-headers",
                            "--proxy-real-ip-cidr=127.0.0.9/32"])
    xff = {"X-Forwarded-For": "10.1.2.3"}
    eventually(lambda: status(c, "open.test", source="127.0.0.9") == 200)
    c.settled()
    # From the load balancer: the client is 10.1.2.3, allowed; and the
    # backend sees that address.
    st, _, body = request(c.http_port, "lb.test", source="127.0.0.9",
                          headers=xff)
    assert st == 200, body
    # Spoofed from elsewhere: the connection's address counts.
    assert status(c, "lb.test", source="127.0.0.8", headers=xff) == 403
    # A client behind the load balancer claiming an address through a
    # chain: the rightmost untrusted one counts, not the first.
    assert status(c, "lb.test", source="127.0.0.9", headers={
        "X-Forwarded-For": "10.1.2.3, 192.0.2.1"}) == 403
    assert "real_ip_header \"X-Forwarded-For\";" in c.nginx_conf()


def proxy_protocol_request(port, host, client, source):
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(source, 0)) as s:
        s.sendall(f"PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n"
                  f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                  f"\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else None


def test_proxy_protocol_gives_the_client_address_from_the_load_balancer(
        procs, tmp_path, cluster_dns, backends, dnscache_factory):
    c = real_ip_controller(procs, tmp_path, cluster_dns, backends,
                           dnscache_factory,
                           ["--use-proxy-protocol",
                            "--proxy-real-ip-cidr=127.0.0.9"])
    port = c.http_port
    eventually(lambda: proxy_protocol_request(port, "open.test", "10.9.9.9",
                                              "127.0.0.9") == 200)
    c.settled()
    assert proxy_protocol_request(port, "lb.test", "10.1.2.3",
                                  "127.0.0.9") == 200
    assert proxy_protocol_request(port, "lb.test", "10.2.0.1",
                                  "127.0.0.9") == 403
    # From a proxy that is not trusted, its header is not believed.
    assert proxy_protocol_request(port, "lb.test", "10.1.2.3",
                                  "127.0.0.8") == 403


@pytest.mark.parametrize("flags,needle", [
    (["--use-forwarded-headers"], "needs --proxy-real-ip-cidr"),
    (["--use-proxy-protocol"], "needs --proxy-real-ip-cidr"),
    (["--proxy-real-ip-cidr=10.0.0.0/8"], "needs --use-forwarded-headers"),
    (["--use-forwarded-headers", "--proxy-real-ip-cidr=10.0.0.0/33"],
     "prefix is at most 32"),
    (["--use-forwarded-headers", "--proxy-real-ip-cidr=10.0.0.0/8",
      "--forwarded-for-header=X-Real-IP;"], "header name"),
])
def test_client_address_flags_are_checked_at_start(tmp_path, flags, needle):
    import subprocess
    from testbed.controller import CONTROLLER
    r = subprocess.run([CONTROLLER, f"--source=dir:{tmp_path}",
                        f"--nginx-prefix={tmp_path}/state", *flags],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr


# ---- basic authentication -------------------------------------------------

def htpasswd_line(user, password):
    import subprocess
    h = subprocess.run(["openssl", "passwd", "-6", password],
                       capture_output=True, text=True, check=True).stdout
    return f"{user}:{h.strip()}\n"


def secret(name, data, ns=NS):
    import base64
    import json
    return json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": ns},
        "data": {k: base64.b64encode(v.encode()).decode()
                 for k, v in data.items()}})


def basic(user, password):
    import base64
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_admits_the_right_password_only(ctl):
    ctl.write("users", secret("users", {
        "auth": htpasswd_line("alice", "s3cret") +
        htpasswd_line("bob", "hunter2")}))
    ctl.write("auth", guarded("auth", "auth.test", ctl, {
        f"{NGINX}/auth-type": "basic",
        f"{NGINX}/auth-secret": "users",
        f"{NGINX}/auth-realm": "Team area"}))
    eventually(lambda: status(ctl, "auth.test") == 401)
    ctl.settled()
    st, headers, body = request(ctl.http_port, "auth.test",
                                headers=basic("alice", "s3cret"))
    assert st == 200, body
    # The backend never sees the credentials; other headers still pass.
    import json
    seen = json.loads(body)["headers"]
    assert "authorization" not in seen
    assert seen.get("x-forwarded-host") == "auth.test"
    assert status(ctl, "auth.test", headers=basic("bob", "hunter2")) == 200
    assert status(ctl, "auth.test", headers=basic("alice", "wrong")) == 401
    assert status(ctl, "auth.test", headers=basic("eve", "s3cret")) == 401
    st, headers, body = request(ctl.http_port, "auth.test")
    assert st == 401
    assert headers["www-authenticate"] == 'Basic realm="Team area"'
    assert b'"name"' not in body
    # The password file: 0600, readable by nginx's workers only.
    import os
    import pwd
    f = ctl.prefix / "auth" / f"{NS}_users.file"
    st_ = f.stat()
    assert oct(st_.st_mode & 0o777) == "0o600"
    if os.geteuid() == 0:
        assert st_.st_uid == pwd.getpwnam("nobody").pw_uid


def test_a_rotated_secret_applies_without_a_reload(ctl):
    ctl.write("rot", secret("rot", {"auth": htpasswd_line("alice", "old")}))
    ctl.write("auth", guarded("auth", "auth.test", ctl, {
        "portico.io/auth-type": "basic", "portico.io/auth-secret": "rot"}))
    eventually(lambda: status(ctl, "auth.test",
                              headers=basic("alice", "old")) == 200)
    conf = ctl.settled()
    ctl.write("rot", secret("rot", {"auth": htpasswd_line("alice", "new")}))
    eventually(lambda: status(ctl, "auth.test",
                              headers=basic("alice", "new")) == 200)
    assert status(ctl, "auth.test", headers=basic("alice", "old")) == 401
    assert ctl.settled() == conf        # the same nginx.conf: no reload


def test_auth_map_secrets_hold_one_user_per_key(ctl):
    def hashed(p):
        return htpasswd_line("x", p).split(":", 1)[1].strip()
    ctl.write("map", secret("map", {"carol": hashed("pw1"),
                                    "dave": hashed("pw2")}))
    ctl.write("auth", guarded("auth", "auth.test", ctl, {
        f"{NGINX}/auth-type": "basic", f"{NGINX}/auth-secret": "team/map",
        f"{NGINX}/auth-secret-type": "auth-map"}))
    eventually(lambda: status(ctl, "auth.test",
                              headers=basic("carol", "pw1")) == 200)
    assert status(ctl, "auth.test", headers=basic("dave", "pw2")) == 200
    assert status(ctl, "auth.test", headers=basic("dave", "pw1")) == 401


def test_basic_auth_misconfigured_refuses_the_ingress(ctl):
    ctl.write("open", guarded("open", "open.test", ctl, {}))
    ctl.write("other-ns", secret("users", {"auth": htpasswd_line("a", "b")},
                                 ns="other"))
    ctl.write("bad-file", secret("bad-file", {"auth": "alice\n"}))
    cases = {
        "nosecret": ({f"{NGINX}/auth-type": "basic"},
                     "auth-type needs auth-secret"),
        "notype": ({f"{NGINX}/auth-secret": "users"},
                   "need auth-type (basic)"),
        "digest": ({f"{NGINX}/auth-type": "digest",
                    f"{NGINX}/auth-secret": "users"},
                   "digest authentication is not available"),
        "missing": ({f"{NGINX}/auth-type": "basic",
                     f"{NGINX}/auth-secret": "nope"},
                    f"Secret {NS}/nope not found"),
        "crossns": ({f"{NGINX}/auth-type": "basic",
                     f"{NGINX}/auth-secret": "other/users"},
                    "a Secret of another namespace is not allowed"),
        "badfile": ({f"{NGINX}/auth-type": "basic",
                     f"{NGINX}/auth-secret": "bad-file"},
                    "is not user:hash"),
    }
    for name, (ann, _) in cases.items():
        ctl.write(name, guarded(name, f"{name}.test", ctl, ann, svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(cases))
    eventually(lambda: status(ctl, "open.test") == 200)
    log = ctl.proc.log_text()
    for name, (_, why) in cases.items():
        assert status(ctl, f"{name}.test") == 404, name
        line = next(l for l in log.splitlines()
                    if f"ingress {NS}/{name} rejected" in l)
        assert why in line, line
    # A missing Secret that appears: the Ingress is served, guarded.
    ctl.write("nope", secret("nope", {"auth": htpasswd_line("zed", "pw")}))
    eventually(lambda: status(ctl, "missing.test") == 401)
    assert status(ctl, "missing.test", headers=basic("zed", "pw")) == 200


# ---- rate and connection limits -------------------------------------------

def burst_of(ctl, host, source, n):
    """Statuses of n requests in a row from source."""
    return [status(ctl, host, source=source) for _ in range(n)]


def test_requests_over_the_rate_get_429_after_the_burst(ctl):
    # 6 a minute, burst 6 x 2: 13 pass at once (the first, then 12 of
    # burst), the 14th waits for a token that comes every 10 s.
    ctl.write("rl", guarded("rl", "rl.test", ctl, {
        f"{NGINX}/limit-rpm": "6", f"{NGINX}/limit-burst-multiplier": "2",
        f"{NGINX}/limit-whitelist": "127.0.0.3"}))
    ctl.write("open", guarded("open", "open.test", ctl, {}, svc="beta"))
    eventually(lambda: status(ctl, "open.test", source="127.0.0.2") == 200)
    eventually(lambda: "limit_req_zone" in ctl.nginx_conf())
    ctl.settled()
    got = burst_of(ctl, "rl.test", "127.0.0.2", 16)
    assert got == [200] * 13 + [429] * 3, got
    # Other clients have their own budget; the exempt network none.
    assert status(ctl, "rl.test", source="127.0.0.4") == 200
    assert burst_of(ctl, "rl.test", "127.0.0.3", 20) == [200] * 20
    # Another Ingress is not limited, even for the limited client.
    assert status(ctl, "open.test", source="127.0.0.2") == 200
    conf = ctl.nginx_conf()
    assert "limit_req_status 429;" in conf
    assert 'geo $portico_p' in conf and '"127.0.0.3/32" 1;' in conf


def test_the_default_burst_is_five_times_the_rate(ctl):
    ctl.write("rl", guarded("rl", "rl.test", ctl, {
        "portico.io/limit-rpm": "2"}))
    eventually(lambda: "limit_req_zone" in ctl.nginx_conf())
    ctl.settled()
    got = burst_of(ctl, "rl.test", "127.0.0.5", 13)
    assert got == [200] * 11 + [429] * 2, got


def test_two_ingresses_with_the_same_limit_do_not_share_it(ctl):
    for name in ("one", "two"):
        ctl.write(name, guarded(name, f"{name}.test", ctl, {
            f"{NGINX}/limit-rpm": "1", f"{NGINX}/limit-burst-multiplier":
            "1"}))
    eventually(lambda: ctl.nginx_conf().count("limit_req_zone") == 2)
    ctl.settled()
    assert burst_of(ctl, "one.test", "127.0.0.2", 3) == [200, 200, 429]
    assert burst_of(ctl, "two.test", "127.0.0.2", 3) == [200, 200, 429]


def test_concurrent_requests_over_the_connection_limit_get_429(ctl):
    ctl.write("cl", guarded("cl", "cl.test", ctl, {
        f"{NGINX}/limit-connections": "1"}))
    eventually(lambda: "limit_conn_zone" in ctl.nginx_conf())
    ctl.settled()
    # A request in progress (its body not sent yet) holds the one slot.
    held = socket.create_connection(("127.0.0.1", ctl.http_port), timeout=5,
                                    source_address=("127.0.0.2", 0))
    held.sendall(b"POST / HTTP/1.1\r\nHost: cl.test\r\n"
                 b"Content-Length: 10\r\n\r\n")
    try:
        eventually(lambda: status(ctl, "cl.test", source="127.0.0.2")
                   == 429, timeout=5)
        assert status(ctl, "cl.test", source="127.0.0.4") == 200
    finally:
        held.sendall(b"0123456789")
        held.close()
    eventually(lambda: status(ctl, "cl.test", source="127.0.0.2") == 200)


@pytest.mark.parametrize("size", ["1k", "31k", "5x", "-1"])
def test_a_limit_zone_size_nginx_cannot_use_is_refused_at_start(tmp_path,
                                                                 size):
    import subprocess
    from testbed.controller import CONTROLLER
    r = subprocess.run([CONTROLLER, f"--source=dir:{tmp_path}",
                        f"--nginx-prefix={tmp_path}/state",
                        f"--limit-zone-size={size}"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "--limit-zone-size: at least 32k" in r.stderr, r.stderr


# ---- CORS -----------------------------------------------------------------

def test_cors_preflight_is_answered_without_the_backend(ctl):
    ctl.write("cors", guarded("cors", "cors.test", ctl, {
        f"{NGINX}/enable-cors": "true",
        f"{NGINX}/cors-allow-origin":
            "https://app.example.com, https://*.example.org:8443",
        f"{NGINX}/cors-allow-methods": "GET, POST",
        f"{NGINX}/cors-allow-headers": "X-Token,Content-Type",
        f"{NGINX}/cors-expose-headers": "X-Trace",
        f"{NGINX}/cors-max-age": "600",
        f"{NGINX}/cors-allow-credentials": "false"}))
    eventually(lambda: status(ctl, "cors.test") == 200)
    ctl.settled()
    pre = {"Origin": "https://app.example.com",
           "Access-Control-Request-Method": "POST"}
    st, h, body = request(ctl.http_port, "cors.test", "/api",
                          method="OPTIONS", headers=pre)
    assert st == 204 and body == b"", (st, body)
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert h["access-control-allow-methods"] == "GET, POST"
    assert h["access-control-allow-headers"] == "X-Token,Content-Type"
    assert h["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in h
    # One label for "*." (and the port is part of the origin).
    st, h, _ = request(ctl.http_port, "cors.test", method="OPTIONS",
                       headers={"Origin": "https://eu.example.org:8443"})
    assert st == 204
    assert h["access-control-allow-origin"] == "https://eu.example.org:8443"
    for origin in ("https://a.b.example.org:8443", "https://eu.example.org",
                   "https://evil.com", "https://app.example.com.evil.com",
                   "http://app.example.com"):
        st, h, body = request(ctl.http_port, "cors.test", method="OPTIONS",
                              headers={"Origin": origin})
        # Not an allowed origin: no CORS headers, the backend answers.
        assert "access-control-allow-origin" not in h, origin
        assert b'"name"' in body, origin


def test_cors_headers_on_simple_requests_with_defaults(ctl):
    ctl.write("cors", guarded("cors", "cors.test", ctl, {
        "portico.io/enable-cors": "true"}))
    eventually(lambda: status(ctl, "cors.test") == 200)
    ctl.settled()
    st, h, body = request(ctl.http_port, "cors.test",
                          headers={"Origin": "https://any.example"})
    assert st == 200 and b'"name"' in body
    # ingress-nginx's defaults: any origin, credentials true, its lists.
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-allow-credentials"] == "true"
    assert h["access-control-allow-methods"] == \
        "GET, PUT, POST, DELETE, PATCH, OPTIONS"
    assert h["access-control-max-age"] == "1728000"
    assert "access-control-expose-headers" not in h
    st, h, body = request(ctl.http_port, "cors.test", method="OPTIONS",
                          headers={"Origin": "https://any.example"})
    assert st == 204 and body == b""
    # Without enable-cors: nothing is added, OPTIONS reaches the backend.
    ctl.write("cors", guarded("cors", "cors.test", ctl, {
        "portico.io/cors-allow-origin": "https://x.example"}))
    eventually(lambda: "access-control-allow-origin" not in request(
        ctl.http_port, "cors.test", headers={"Origin": "https://x.example"})[1])
    ctl.settled()
    st, h, body = request(ctl.http_port, "cors.test", method="OPTIONS",
                          headers={"Origin": "https://x.example"})
    assert b'"name"' in body


# ---- hostile values -------------------------------------------------------

# Every new annotation with values that would change nginx.conf if they
# reached it: CR/LF, quotes, ';', braces, '#', NUL, '$', regex and path
# tricks. Each marks itself with "owned" or "$evil".
HOSTILE = [
    ("whitelist-source-range", "10.0.0.0/8; allow all; #owned"),
    ("whitelist-source-range", "10.0.0.0/8\r\nallow all; #owned"),
    ("allowlist-source-range", '10.0.0.0/8"; allow all; #owned'),
    ("allowlist-source-range", "$evil"),
    ("denylist-source-range", "10.0.0.0/8\u0000 owned"),
    ("denylist-source-range", "0.0.0.0/0 } server { #owned"),
    ("limit-allowlist", "127.0.0.1 1; } owned {"),
    ("limit-whitelist", "all #owned"),
    ("auth-realm", 'x"; auth_basic off; #owned'),
    ("auth-realm", "x\r\nX-Owned: 1"),
    ("auth-realm", "${evil}"),
    ("auth-realm", "r\u0000owned"),
    ("auth-secret", "../../etc/owned"),
    ("auth-secret", "users; include /etc/owned"),
    ("auth-type", "basic; auth_basic off; #owned"),
    ("auth-secret-type", "auth-file\r\nowned"),
    ("limit-rps", "5r/s; deny all; #owned"),
    ("limit-rpm", "$evil"),
    ("limit-connections", "1 } #owned"),
    ("limit-burst-multiplier", "5\nowned"),
    ("enable-cors", "true; return 200 owned"),
    ("cors-allow-origin", 'https://a.example.com")$ ~.* 1; #owned'),
    ("cors-allow-origin", "https://a.example.com\r\nowned: 1"),
    ("cors-allow-origin", "https://$evil"),
    ("cors-allow-origin", "https://(.*).owned.com"),
    ("cors-allow-headers", "X-A\r\nSet-Cookie: owned=1"),
    ("cors-allow-headers", "X-A; add_header X-Owned 1"),
    ("cors-allow-methods", 'GET"; return 200 owned; #'),
    ("cors-max-age", "1; add_header X-Owned 1"),
    ("cors-expose-headers", "$evil"),
    ("cors-allow-credentials", 'true"; owned'),
    ("cors-allow-credentials", "true\u0000owned"),
    ("auth-url", "http://a.example.com/x; proxy_pass http://owned"),
    ("auth-url", "http://$evil/check"),
    ("auth-url", "http://a.example.com/\r\nowned"),
    ("auth-url", 'http://a.example.com/"; return 200 owned; #'),
    ("auth-url", "file:///etc/owned"),
    ("auth-signin", 'https://l.example.com/"; return 200 owned; #'),
    ("auth-signin", "https://l.example.com/?rd=$evil"),
    ("auth-response-headers", "X-User\r\nowned"),
    ("auth-response-headers", "X-User; add_header X-Owned 1"),
    ("auth-request-redirect", "/x$evil"),
    ("auth-request-redirect", '/x"owned'),
    ("auth-method", "GET; owned"),
    ("auth-signin-redirect-param", "rd=owned&"),
    ("auth-always-set-cookie", "true; owned"),
    ("auth-tls-secret", "ca; owned"),
    ("auth-tls-secret", "../../etc/owned"),
    ("auth-tls-verify-client", "on; owned"),
    ("auth-tls-verify-depth", "1; owned"),
    ("auth-tls-error-page", 'https://e.example.com/"; return 200 owned; #'),
    ("auth-tls-error-page", "https://e.example.com/$evil"),
    ("auth-tls-match-cn", "CN=a\r\nowned"),
    ("auth-tls-match-cn", "CN=(owned"),
    ("auth-tls-pass-certificate-to-upstream", "true; owned"),
    ("auth-cache-key", '$http_authorization"; proxy_cache off; #owned'),
    ("auth-cache-key", "$http_authorization\r\nowned"),
    ("auth-cache-key", "${evil}$http_authorization"),
    ("auth-cache-key", "$evil$http_authorization"),
    ("auth-cache-key", "$host/owned"),
    ("auth-cache-duration", "200 5m; proxy_cache_valid any 1y; #owned"),
    ("auth-cache-duration", "200 5m\nowned"),
    ("auth-cache-duration", "$evil 5m"),
    ("auth-cache-duration", "200 5m, owned"),
]


@pytest.mark.parametrize("prefix", ["portico.io", NGINX])
def test_hostile_access_values_are_refused_and_never_rendered(ctl, prefix):
    ctl.write("good", guarded("good", "good.test", ctl, {
        f"{NGINX}/whitelist-source-range": "127.0.0.0/8",
        f"{NGINX}/enable-cors": "true"}))
    for i, (key, value) in enumerate(HOSTILE):
        ctl.write(f"h{i}", guarded(f"h{i}", f"h{i}.test", ctl,
                                   {f"{prefix}/{key}": value,
                                    # a basic-auth Ingress is complete
                                    **({f"{prefix}/auth-type": "basic"}
                                       if key.startswith("auth-") and
                                       not key.startswith("auth-tls-") and
                                       key != "auth-type" else {})},
                                   svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(HOSTILE))
    eventually(lambda: status(ctl, "good.test") == 200)
    ctl.settled()
    generated = ctl.nginx_conf() + ctl.routes() + ctl.certificates()
    for needle in ("owned", "Owned", "$evil", "${evil}", "/etc/"):
        assert needle not in generated, needle
    log = ctl.proc.log_text()
    for i, (key, _) in enumerate(HOSTILE):
        line = next(l for l in log.splitlines()
                    if f"ingress {NS}/h{i} rejected" in l)
        assert f"{prefix}/{key}" in line or "auth-secret" in line, line
        assert "\r" not in line and "\x00" not in line


# ---- external authentication ----------------------------------------------

@pytest.fixture
def auth_service():
    """An auth service on 127.0.0.7: "Bearer good" 200 (with X-User and a
    cookie), "Bearer user-NAME" 200 (X-User NAME, no cookie), "Bearer
    forbidden" 403, "Bearer slow" 200 after 3 s, anything else 401.
    Records what it was asked."""
    import http.server
    import threading
    import time as _time
    import testbed

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            auth = self.headers.get("Authorization", "")
            seen.append({"method": self.command, "path": self.path,
                         "headers": {k.lower(): v
                                     for k, v in self.headers.items()}})
            user = auth[len("Bearer user-"):] \
                if auth.startswith("Bearer user-") else None
            code = {"Bearer good": 200, "Bearer forbidden": 403,
                    "Bearer slow": 200}.get(auth, 200 if user else 401)
            if auth == "Bearer slow":
                _time.sleep(3)
            self.send_response(code)
            if user:
                self.send_header("X-User", user)
            elif code == 200:
                self.send_header("X-User", "alice")
                self.send_header("Set-Cookie", "session=abc")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, *args):
            pass

    port = testbed.free_port("127.0.0.7")
    srv = http.server.ThreadingHTTPServer(("127.0.0.7", port), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.seen = seen
    srv.port = port
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_external_auth_admits_denies_and_redirects_to_signin(
        ctl, auth_service, cluster_dns):
    import json
    cluster_dns.set(f"auth.{NS}.svc.cluster.local", "127.0.0.7")
    url = f"http://auth.{NS}.svc.cluster.local:{auth_service.port}/check"
    ctl.write("ext", guarded("ext", "ext.test", ctl, {
        f"{NGINX}/auth-url": url,
        f"{NGINX}/auth-method": "POST",
        f"{NGINX}/auth-response-headers": "X-User",
        f"{NGINX}/auth-request-redirect": "/after"}))
    ctl.write("login", guarded("login", "login.test", ctl, {
        "portico.io/auth-url": url,
        "portico.io/auth-signin": "https://login.example.com/start"}))
    # ingress-nginx's oauth2-proxy example: variables in both URLs.
    ctl.write("oauth", guarded("oauth", "oauth.test", ctl, {
        f"{NGINX}/auth-url": f"http://auth.{NS}.svc.cluster.local:"
                             f"{auth_service.port}/oauth2/auth?h=$host",
        f"{NGINX}/auth-signin":
            "https://$host/oauth2/start?rd=$escaped_request_uri"}))
    eventually(lambda: status(ctl, "ext.test", headers=bearer("good"))
               == 200, timeout=15)
    ctl.settled()
    st, h, body = request(ctl.http_port, "ext.test", "/app?x=1",
                          method="POST", body=b"payload",
                          headers=bearer("good"))
    assert st == 200, body
    backend_saw = json.loads(body)
    assert backend_saw["headers"]["x-user"] == "alice"
    assert backend_saw["body_length"] == 7
    assert h["set-cookie"] == "session=abc"
    asked = auth_service.seen[-1]
    assert asked["method"] == "POST" and asked["path"] == "/check"
    assert asked["headers"]["x-original-url"] == \
        f"http://ext.test/app?x=1"
    assert asked["headers"]["x-original-method"] == "POST"
    assert asked["headers"]["x-auth-request-redirect"] == "/after"
    assert asked["headers"].get("content-length", "0") == "0"
    # Denied: the auth service's answer, the backend never asked.
    st, _, body = request(ctl.http_port, "ext.test", headers=bearer("bad"))
    assert st == 401 and b'"name"' not in body
    st, _, body = request(ctl.http_port, "ext.test",
                          headers=bearer("forbidden"))
    assert st == 403 and b'"name"' not in body
    # auth-signin: a 401 becomes a redirect carrying where to come back.
    st, h, _ = request(ctl.http_port, "login.test", "/deep/page?a=1")
    assert st == 302
    assert h["location"] == ("https://login.example.com/start?rd="
                             "http://login.test/deep/page?a=1")
    assert status(ctl, "login.test", headers=bearer("good")) == 200
    st, h, _ = request(ctl.http_port, "oauth.test", "/p?q=1")
    assert st == 302
    assert h["location"] == "https://oauth.test/oauth2/start?rd=/p?q=1"
    assert status(ctl, "oauth.test", headers=bearer("good")) == 200
    assert auth_service.seen[-1]["path"] == "/oauth2/auth?h=oauth.test"


def test_external_auth_down_or_slow_is_an_error_never_a_bypass(
        ctl, auth_service):
    import time
    import testbed
    closed = testbed.free_port("127.0.0.8")
    ctl.write("down", guarded("down", "down.test", ctl, {
        f"{NGINX}/auth-url": f"http://127.0.0.8:{closed}/check"}))
    ctl.write("slow", guarded("slow", "slow.test", ctl, {
        f"{NGINX}/auth-url": f"http://127.0.0.7:{auth_service.port}/check",
        f"{NGINX}/proxy-read-timeout": "1"}))
    eventually(lambda: status(ctl, "slow.test", headers=bearer("good"))
               == 200)
    ctl.settled()
    st, _, body = request(ctl.http_port, "down.test", headers=bearer("good"))
    assert st == 500 and b'"name"' not in body
    t0 = time.monotonic()
    st, _, body = request(ctl.http_port, "slow.test", headers=bearer("slow"))
    took = time.monotonic() - t0
    assert st == 500 and b'"name"' not in body
    assert took < 2.9, took      # the Ingress's timeout, not the service's


def test_external_auth_options_without_auth_url_refuse_the_ingress(ctl):
    ctl.write("open", guarded("open", "open.test", ctl, {}))
    ctl.write("lone", guarded("lone", "lone.test", ctl, {
        f"{NGINX}/auth-signin": "https://login.example.com/"}, svc="beta"))
    ctl.write("cache", guarded("cache", "cache.test", ctl, {
        f"{NGINX}/auth-cache-key": "$http_authorization"}, svc="beta"))
    ctl.write("dur", guarded("dur", "dur.test", ctl, {
        f"{NGINX}/auth-url": "http://auth.example.com/",
        f"{NGINX}/auth-cache-duration": "200 5m"}, svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == 3)
    log = ctl.proc.log_text()
    assert "auth-signin needs auth-url" in log
    assert "auth-cache-key needs auth-url" in log
    assert "auth-cache-duration needs auth-cache-key" in log


def test_external_auth_answers_are_cached_per_client_for_their_duration(
        ctl, auth_service):
    """auth-cache-key: a second request with the same credentials is
    admitted (and its auth headers copied) from the cache, another
    client's credentials are asked anew, a 401 is cached for its own
    duration only, an answer that sets a cookie is never cached."""
    import json
    import time
    ctl.write("cached", guarded("cached", "cached.test", ctl, {
        f"{NGINX}/auth-url": f"http://127.0.0.7:{auth_service.port}/check",
        f"{NGINX}/auth-response-headers": "X-User",
        f"{NGINX}/auth-cache-key": "$http_authorization",
        f"{NGINX}/auth-cache-duration": "200 202 10m, 401 2s"}))
    eventually(lambda: status(ctl, "cached.test", headers=bearer("user-w"))
               == 200, timeout=15)
    ctl.settled()

    def asked(token):
        return sum(1 for s in list(auth_service.seen)
                   if s["headers"].get("authorization") == f"Bearer {token}")

    def backend_user(token):
        st, _, body = request(ctl.http_port, "cached.test",
                              headers=bearer(token))
        assert st == 200, (token, st)
        return json.loads(body)["headers"]["x-user"]

    for _ in range(3):
        assert backend_user("user-ann") == "ann"
    assert asked("user-ann") == 1
    # Another client: its own answer, never ann's.
    for _ in range(2):
        assert backend_user("user-bob") == "bob"
    assert asked("user-bob") == 1
    # A 401, cached for 2 s, then asked again.
    assert status(ctl, "cached.test", headers=bearer("nobody")) == 401
    cached_at = time.monotonic()
    assert status(ctl, "cached.test", headers=bearer("nobody")) == 401
    if time.monotonic() - cached_at < 1.5:
        assert asked("nobody") == 1
    time.sleep(max(0, cached_at + 3.0 - time.monotonic()))
    assert status(ctl, "cached.test", headers=bearer("nobody")) == 401
    assert asked("nobody") == 2
    # "good" answers with Set-Cookie: nginx caches no such answer.
    assert status(ctl, "cached.test", headers=bearer("good")) == 200
    assert status(ctl, "cached.test", headers=bearer("good")) == 200
    assert asked("good") == 2
    conf = ctl.nginx_conf()
    assert "keys_zone=portico_auth:10m" in conf
    assert f'"{ctl.prefix}/cache/auth"' in conf
    assert "proxy_cache_valid 200 202 10m; proxy_cache_valid 401 2s;" in conf
    # Two client certificates (mTLS hosts) never share an answer.
    assert ("|$portico_ssl_client_verify|$portico_ssl_client_s_dn|"
            "$portico_ssl_client_i_dn|$http_authorization\";") in conf
