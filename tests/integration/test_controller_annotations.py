"""The annotation layer with the real controller, nginx and module (local
mode): annotations are read under portico.io/ and ingress-nginx's prefix;
an access annotation Portico does not enforce refuses its Ingress (fail
closed), snippets are refused, unknown keys are reported (log line,
metric by key) while the Ingress is served; values that fail their
grammar, hostile ones included, never reach nginx.conf."""
import http.client
import re

import pytest

from testbed.controller import eventually
# The local-mode controller, manifests and fixtures.
from test_controller_local import (LocalController, backends, ctl,  # noqa: F401
                                   ingress, service)

NGINX = "nginx.ingress.kubernetes.io"


def post(ctl, host, path, size):
    c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=5)
    try:
        c.request("POST", path, body=b"x" * size, headers={"Host": host})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def one(name, host, ctl, annotations, svc="alpha"):
    return ingress(name, [(host, [("/", "Prefix", svc, ctl.ports[svc])])],
                   annotations=annotations)


@pytest.fixture
def ctl_flags(procs, tmp_path, cluster_dns, backends, dnscache_factory):
    """The local controller started with extra flags."""
    def start(*extra):
        dc = dnscache_factory()
        c = LocalController(procs, tmp_path, f"{dc.addr}:{dc.port}",
                            extra=extra)
        for name, b in backends.items():
            c.write(f"svc-{name}", service(name, b.port))
        c.ports = {name: b.port for name, b in backends.items()}
        return c
    return start


def test_access_annotations_fail_closed_and_snippets_are_refused(ctl):
    ctl.write("open", one("open", "open.test", ctl, {}))
    refused = {
        "allow": {f"{NGINX}/satisfy": "any"},
        "auth": {"portico.io/auth-url": "http://auth.team.svc/check",
                 "portico.io/auth-keepalive": "10"},
        "waf": {f"{NGINX}/enable-modsecurity": "true",
                f"{NGINX}/enable-owasp-core-rules": "true"},
        "limit": {f"{NGINX}/limit-rate": "100"},
        "snippet": {f"{NGINX}/configuration-snippet":
                    'more_set_headers "X-Owned: 1";'},
    }
    for name, ann in refused.items():
        ctl.write(name, one(name, f"{name}.test", ctl, ann, svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(refused))
    ctl.wait_served("open.test", "/", "alpha")
    for name in refused:
        assert ctl.get(f"{name}.test", "/").status == 404, name
    log = ctl.proc.log_text()
    assert re.search(r"ingress team/allow rejected: annotation "
                     r"nginx\.ingress\.kubernetes\.io/satisfy:"
                     r" combining access restrictions \(satisfy\) is not "
                     r"implemented", log), log
    assert "ingress team/auth rejected: annotation portico.io/auth-keepalive: " \
        in log
    assert "ingress team/snippet rejected: annotation " \
        f"{NGINX}/configuration-snippet: raw nginx configuration" in log
    assert "X-Owned" not in ctl.nginx_conf() + ctl.routes()
    assert ctl.metric("portico_controller_annotations",
                      outcome="refused") == 6


def test_unknown_keys_are_reported_and_the_ingress_is_served(ctl):
    ctl.write("typo", one("typo", "typo.test", ctl, {
        "portico.io/proxy-body-szie": "8m",
        f"{NGINX}/enable-access-log": "false",
        f"{NGINX}/not-a-thing": "1",
        "example.com/other": "not ours"}))
    ctl.wait_served("typo.test", "/", "alpha")
    eventually(lambda: "ingress team/typo served, annotations not applied:"
               in ctl.proc.log_text())
    line = next(l for l in ctl.proc.log_text().splitlines()
                if "team/typo served" in l)
    assert "portico.io/proxy-body-szie (unknown" in line
    assert f"{NGINX}/enable-access-log (ignored: " in line
    assert "example.com/other" not in line
    assert ctl.metric("portico_controller_annotations_unknown",
                      key="portico.io/proxy-body-szie") == 1
    assert ctl.metric("portico_controller_annotations_unknown",
                      key=f"{NGINX}/not-a-thing") == 1
    assert ctl.metric("portico_controller_annotations",
                      outcome="unknown") == 2
    # Reported once, not at every rebuild.
    ctl.write("other", one("other", "other.test", ctl, {}))
    ctl.wait_served("other.test", "/", "alpha")
    assert ctl.proc.log_text().count("team/typo served, annotations") == 1


def test_proxy_options_apply_under_both_prefixes_and_portico_wins(ctl):
    ctl.write("nginx", one("nginx", "nginx.test", ctl, {
        f"{NGINX}/proxy-body-size": "1k"}))
    ctl.write("both", one("both", "both.test", ctl, {
        f"{NGINX}/proxy-body-size": "1k",
        "portico.io/proxy-body-size": "4k"}))
    ctl.wait_served("nginx.test", "/", "alpha")
    ctl.wait_served("both.test", "/", "alpha")
    assert post(ctl, "nginx.test", "/", 2048) == 413
    assert post(ctl, "nginx.test", "/", 512) == 200
    assert post(ctl, "both.test", "/", 2048) == 200
    assert post(ctl, "both.test", "/", 8192) == 413
    line = next(l for l in ctl.proc.log_text().splitlines()
                if "team/both served" in l)
    assert f"{NGINX}/proxy-body-size (shadowed" in line


def test_the_operator_flag_serves_access_annotations_unenforced_loudly(
        ctl_flags):
    ctl = ctl_flags("--allow-unenforced-access-annotations")
    assert re.search(r"--allow-unenforced-access-annotations is ON: .*ARE "
                     r"SERVED WITHOUT THAT PROTECTION", ctl.proc.log_text())
    ctl.write("allow", one("allow", "allow.test", ctl, {
        f"{NGINX}/satisfy": "any"}))
    ctl.write("snippet", one("snippet", "snippet.test", ctl, {
        f"{NGINX}/server-snippet": "return 200;"}))
    ctl.wait_served("allow.test", "/", "alpha")     # from 127.0.0.1
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == 1)
    assert ctl.get("snippet.test", "/").status == 404
    assert ctl.metric("portico_controller_annotations",
                      outcome="unenforced") == 1
    eventually(lambda: "team/allow served, annotations not applied: "
               f"{NGINX}/satisfy (unenforced: NOT ENFORCED"
               in ctl.proc.log_text())


def test_the_ingress_nginx_prefix_can_be_renamed_or_turned_off(ctl_flags):
    ctl = ctl_flags("--annotations-prefix=ingress.example.com")
    ctl.write("renamed", one("renamed", "renamed.test", ctl, {
        "ingress.example.com/proxy-body-size": "1k",
        f"{NGINX}/auth-url": "http://auth/"}))       # not read any more
    ctl.wait_served("renamed.test", "/", "alpha")
    assert post(ctl, "renamed.test", "/", 2048) == 413
    assert "reading portico.io/ and ingress.example.com/" in \
        ctl.proc.log_text()


def test_with_the_prefix_off_only_portico_io_is_read(ctl_flags):
    ctl = ctl_flags("--ingress-nginx-annotations=false")
    ctl.write("off", one("off", "off.test", ctl, {
        f"{NGINX}/proxy-body-size": "1k",
        "portico.io/proxy-body-size": "2k"}))
    ctl.wait_served("off.test", "/", "alpha")
    assert post(ctl, "off.test", "/", 1536) == 200
    assert post(ctl, "off.test", "/", 4096) == 413
    assert ctl.metric("portico_controller_annotations",
                      outcome="shadowed") == 0
    assert "reading portico.io/ only" in ctl.proc.log_text()


def test_bad_annotation_flags_are_refused_at_start():
    import subprocess
    from testbed.controller import CONTROLLER
    for args, said in ((["--annotations-prefix=portico.io"],
                        "portico.io is always read"),
                       (["--annotations-prefix=Bad_Prefix"],
                        "--annotations-prefix: invalid"),
                       (["--output=xml", "--check=-"], "--output: text or "
                                                       "json")):
        r = subprocess.run([CONTROLLER, *args], capture_output=True,
                           text=True, timeout=10, input="")
        assert r.returncode == 2, (args, r)
        assert said in r.stderr, (args, r.stderr)


HOSTILE = {
    "crlf": "1m\r\nlocation /x { return 200 owned; }",
    "semicolon": "1m; include /etc/passwd",
    "quote": '1m"; return 200 "owned',
    "brace": "1m}",
    "dollar": "$request_uri",
    "nul": "1m\u0000; return 200 owned;",
    "hash": "1m#",
    "long": "1" * 5000,
}


@pytest.mark.parametrize("prefix", ["portico.io", NGINX])
def test_hostile_values_are_refused_under_both_prefixes(ctl, prefix):
    ctl.write("good", one("good", "good.test", ctl, {}))
    for name, value in HOSTILE.items():
        key = "proxy-read-timeout" if name in ("dollar", "hash") \
            else "proxy-body-size"
        ctl.write(name, one(name, f"{name}.test", ctl,
                            {f"{prefix}/{key}": value}, svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(HOSTILE))
    ctl.wait_served("good.test", "/", "alpha")
    generated = ctl.nginx_conf() + ctl.routes()
    for needle in ("owned", "/etc/passwd", "$request_uri", "1m#", "11111"):
        assert needle not in generated, needle


def test_refusals_and_notices_become_events_on_the_ingress(
        procs, tmp_path, fake_apiserver, cluster_dns, http_backend):
    from test_controller_kube_auth_events import (Controller, events_about,
                                                  ingress as kube_ingress,
                                                  seed)
    api = fake_apiserver
    b = http_backend(addr="127.0.0.2", name="alpha")
    cluster_dns.set("alpha.team.svc.cluster.local", b.addr)
    seed(api, b)
    noted = kube_ingress("noted", "noted.test", "alpha", b.port)
    noted["metadata"]["annotations"] = {f"{NGINX}/not-a-thing": "1"}
    guarded = kube_ingress("guarded", "guarded.test", "alpha", b.port)
    guarded["metadata"]["annotations"] = {
        f"{NGINX}/enable-modsecurity": "true",
        f"{NGINX}/enable-owasp-core-rules": "true"}
    api.create(noted)
    api.create(guarded)
    c = Controller(procs, tmp_path, cluster_dns, kubeconfig=api.kubeconfig)
    c.wait_served("noted.test", "alpha")
    ev = eventually(lambda: events_about(api, "noted"))
    assert ev[0]["type"] == "Warning"
    assert ev[0]["reason"] == "AnnotationsNotApplied"
    assert f"{NGINX}/not-a-thing (unknown" in ev[0]["message"]
    ev = eventually(lambda: events_about(api, "guarded"))
    assert ev[0]["reason"] == "Rejected"
    assert f"annotations {NGINX}/enable-modsecurity, " \
        f"{NGINX}/enable-owasp-core-rules: ModSecurity (web application " \
        "firewall) is not implemented" in ev[0]["message"]
    assert c.get("guarded.test")[0] == 404


# --- the proxy options rendered in the profile location ----------------------

def test_upstream_vhost_forwarded_prefix_and_connection_reach_the_backend(ctl):
    ctl.write("hdr", one("hdr", "hdr.test", ctl, {
        f"{NGINX}/upstream-vhost": "backend.internal:8080",
        f"{NGINX}/x-forwarded-prefix": "/api",
        "portico.io/connection-proxy-header": "keep-alive"}))
    ctl.write("plain", one("plain", "plain.test", ctl, {}))
    ctl.wait_served("hdr.test", "/", "alpha")
    seen = ctl.get("hdr.test", "/x").json()
    assert seen["host"] == "backend.internal:8080"
    h = seen["headers"]
    assert h["x-forwarded-prefix"] == "/api"
    assert h["connection"] == "keep-alive"
    # The other headers are still sent (the location repeats the list).
    assert h["x-forwarded-host"] == "hdr.test"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    plain = ctl.get("plain.test", "/x").json()
    assert plain["host"] == "plain.test"
    assert "x-forwarded-prefix" not in plain["headers"]


BUFFERS = {
    "proxy-buffering": ("on", 'proxy_buffering "on";'),
    "proxy-buffer-size": ("8k", 'proxy_buffer_size "8k";'),
    "proxy-buffers-number": ("8", 'proxy_buffers "8" "8k";'),
    "proxy-busy-buffers-size": ("16k", 'proxy_busy_buffers_size "16k";'),
    "proxy-max-temp-file-size": ("1024m",
                                 'proxy_max_temp_file_size "1024m";'),
    "proxy-request-buffering": ("off", 'proxy_request_buffering "off";'),
    "client-body-buffer-size": ("16k", 'client_body_buffer_size "16k";'),
    "proxy-next-upstream": ("error timeout http_502",
                            'proxy_next_upstream "error" "timeout" '
                            '"http_502";'),
    "proxy-next-upstream-tries": ("2", 'proxy_next_upstream_tries "2";'),
    "proxy-next-upstream-timeout": ("10", 'proxy_next_upstream_timeout '
                                          '"10";'),
    "proxy-http-version": ("1.0", 'proxy_http_version "1.0";'),
    "proxy-cookie-domain": ("off", 'proxy_cookie_domain "off";'),
    "proxy-cookie-path": ("/ /app", 'proxy_cookie_path "/" "/app";'),
    "proxy-redirect-from": ("http://internal/",
                            'proxy_redirect "http://internal/" '
                            '"https://public/";'),
    "proxy-redirect-to": ("https://public/", None),
}


def test_buffering_retry_and_rewrite_options_are_accepted_by_nginx(ctl):
    ctl.write("buf", one("buf", "buf.test", ctl, {
        f"{NGINX}/{k}": v for k, (v, _) in BUFFERS.items()}))
    ctl.wait_served("buf.test", "/", "alpha")
    conf = ctl.nginx_conf()
    for k, (_, rendered) in BUFFERS.items():
        if rendered:
            assert rendered in conf, k
    # Request bodies through the unbuffered path; the 1m default stays.
    assert post(ctl, "buf.test", "/", 2 * 1024 * 1024) == 413
    assert post(ctl, "buf.test", "/", 512 * 1024) == 200


@pytest.fixture
def tls_backend(http_backend, cluster_dns, tmp_path):
    """An echo backend speaking HTTPS with a certificate of a test CA (not
    in the system's CA bundle)."""
    import ssl
    from testbed import certs
    ca = certs.make_ca()
    leaf = certs.make_cert(ca, hostnames=["secure.team.svc.cluster.local"])
    leaf.write(tmp_path, "backend")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "backend.crt", tmp_path / "backend.key")
    b = http_backend(addr="127.0.0.5", name="secure")
    b.server.socket = ctx.wrap_socket(b.server.socket, server_side=True)
    cluster_dns.set("secure.team.svc.cluster.local", b.addr)
    return b


def test_backend_protocol_https_and_its_verification(ctl, tls_backend):
    ctl.write("svc-secure", service("secure", tls_backend.port))
    ctl.ports["secure"] = tls_backend.port
    # Without proxy-ssl-verify HTTPS gets through (as ingress-nginx: off by
    # default).
    ctl.write("tls", one("tls", "tls.test", ctl, {
        f"{NGINX}/backend-protocol": "HTTPS"}, svc="secure"))
    ctl.wait_served("tls.test", "/", "secure")
    # With verify on, a certificate of a CA the system does not trust is
    # refused, also while the unverified Ingress keeps TLS connections to
    # the same address open in nginx's keepalive cache.
    ctl.write("verified", one("verified", "verified.test", ctl, {
        f"{NGINX}/backend-protocol": "HTTPS",
        f"{NGINX}/proxy-ssl-verify": "on",
        f"{NGINX}/proxy-ssl-name": "secure.team.svc.cluster.local",
        f"{NGINX}/proxy-ssl-server-name": "on"}, svc="secure"))
    eventually(lambda: ctl.get("verified.test", "/").status == 502)
    assert "upstream SSL certificate verify error" in ctl.proc.log_text()
    # Plain HTTP to the TLS port fails too: no cached TLS connection.
    ctl.write("plainhttp", one("plainhttp", "plainhttp.test", ctl, {},
                               svc="secure"))
    eventually(lambda: ctl.get("plainhttp.test", "/").status == 502)
    for _ in range(3):
        assert ctl.get("tls.test", "/").status == 200
        assert ctl.get("verified.test", "/").status == 502
        assert ctl.get("plainhttp.test", "/").status == 502
    assert 'proxy_ssl_trusted_certificate "/etc/ssl/certs/ca-certificates' \
        '.crt";' in ctl.nginx_conf()


def test_backend_protocol_grpc_renders_grpc_pass_with_grpc_timeouts(ctl):
    ctl.write("grpc", one("grpc", "grpc.test", ctl, {
        f"{NGINX}/backend-protocol": "GRPC",
        f"{NGINX}/proxy-read-timeout": "300",
        f"{NGINX}/proxy-ssl-verify": "off"}))
    ctl.write("grpcs", one("grpcs", "grpcs.test", ctl, {
        f"{NGINX}/backend-protocol": "grpcs"}))
    ctl.write("fcgi", one("fcgi", "fcgi.test", ctl, {
        f"{NGINX}/backend-protocol": "FCGI"}))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="served") == 2)
    conf = ctl.nginx_conf()
    assert re.search(r'grpc_read_timeout "300"; grpc_ssl_verify "off"; '
                     r'grpc_set_header Host \$host; '
                     # client certificates (empty unless the host has them)
                     r'grpc_set_header ssl-client-verify '
                     r'\$portico_ssl_client_verify; '
                     r'grpc_set_header ssl-client-subject-dn '
                     r'\$portico_ssl_client_s_dn; '
                     r'grpc_set_header ssl-client-issuer-dn '
                     r'\$portico_ssl_client_i_dn; '
                     r'grpc_set_header ssl-client-cert '
                     r'\$portico_ssl_client_escaped_cert; portico_route; '
                     r'grpc_pass grpc://portico_dispatch_p[0-9a-f]{16}; }',
                     conf), conf
    assert re.search(r"grpc_pass grpcs://portico_dispatch_p[0-9a-f]{16};",
                     conf), conf
    assert "listen" in conf and " ssl http2" in conf
    assert "AUTO_HTTP and FCGI are not supported" in ctl.proc.log_text()


NEW_KEYS = ["upstream-vhost", "x-forwarded-prefix", "connection-proxy-header",
            "proxy-buffer-size", "proxy-next-upstream", "proxy-cookie-path",
            "proxy-redirect-from", "backend-protocol", "proxy-ssl-name",
            "proxy-ssl-protocols", "proxy-ssl-ciphers", "proxy-http-version",
            "proxy-buffering", "proxy-buffers-number", "rewrite-target",
            "use-regex"]


def refused_everywhere(ctl, cases, needles):
    """One Ingress per (key, value): every one refused, a good one served,
    no needle in nginx.conf or the route table."""
    ctl.write("good", one("good", "good.test", ctl, {}))
    for n, (key, value) in enumerate(cases):
        ctl.write(f"h{n}", one(f"h{n}", f"h{n}.test", ctl,
                               {f"{NGINX}/{key}": value}, svc="beta"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(cases), timeout=20)
    ctl.wait_served("good.test", "/", "alpha")
    generated = ctl.nginx_conf() + ctl.routes()
    for needle in needles:
        assert needle not in generated, needle


def test_hostile_values_of_the_new_options_never_reach_nginx_conf(ctl):
    refused_everywhere(ctl, [(k, v) for k in NEW_KEYS
                             for v in HOSTILE.values()],
                       ("owned", "/etc/passwd", "$request_uri", "1m#",
                        "11111"))


# --- redirects, HTTPS redirects, aliases ---------------------------------------

def test_permanent_and_temporal_redirects_answer_instead_of_the_backend(ctl):
    ctl.write("moved", one("moved", "moved.test", ctl, {
        f"{NGINX}/permanent-redirect": "https://www.example.com/new"}))
    ctl.write("moved308", one("moved308", "moved308.test", ctl, {
        f"{NGINX}/permanent-redirect": "https://www.example.com/new",
        f"{NGINX}/permanent-redirect-code": "308"}))
    ctl.write("maint", one("maint", "maint.test", ctl, {
        f"{NGINX}/temporal-redirect": "https://status.example.com/",
        f"{NGINX}/temporal-redirect-code": "307",
        f"{NGINX}/permanent-redirect": "https://www.example.com/"}))
    ctl.write("root", one("root", "root.test", ctl, {
        f"{NGINX}/app-root": "/app1"}))
    ctl.wait_status("moved.test", "/", 301)
    r = ctl.get("moved.test", "/any/path?x=1")
    assert (r.status, r.headers["Location"]) == \
        (301, "https://www.example.com/new")
    r = ctl.get("moved308.test", "/")
    assert (r.status, r.headers["Location"]) == \
        (308, "https://www.example.com/new")
    r = ctl.get("maint.test", "/x")       # temporal wins over permanent
    assert (r.status, r.headers["Location"]) == \
        (307, "https://status.example.com/")
    # app-root: only "/" is redirected; the rest goes to the backend.
    r = ctl.get("root.test", "/")
    assert r.status == 302
    assert r.headers["Location"] == \
        f"http://root.test/app1"
    assert ctl.served_by("root.test", "/app1") == "alpha"
    assert ctl.served_by("root.test", "/other") == "alpha"


def test_ssl_redirect_false_and_force_ssl_redirect(ctl, tmp_path):
    import base64
    import json
    from testbed import certs
    ca = certs.make_ca()
    leaf = certs.make_cert(ca, ["noredirect.test", "redirect.test"])
    ctl.write("secret", json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "nr-tls", "namespace": "team"},
        "data": {"tls.crt": base64.b64encode(leaf.cert_pem.encode()).decode(),
                 "tls.key": base64.b64encode(leaf.key_pem.encode()).decode()}}))
    for name, ann in (("nr", {f"{NGINX}/ssl-redirect": "false"}),
                      ("yr", None)):
        host = "noredirect.test" if ann else "redirect.test"
        ctl.write(name, ingress(name, [(host, [
            ("/", "Prefix", "alpha", ctl.ports["alpha"])])],
            tls=[{"hosts": [host], "secretName": "nr-tls"}],
            annotations=ann))
    ctl.write("forced", one("forced", "forced.test", ctl, {
        f"{NGINX}/force-ssl-redirect": "true"}))
    ctl.wait_status("forced.test", "/x?y=1", 308)
    assert ctl.get("forced.test", "/x?y=1").headers["Location"] == \
        f"https://forced.test:{ctl.https_port}/x?y=1"
    # The same certificate: the host without the annotation redirects, the
    # one with ssl-redirect "false" does not.
    ctl.wait_status("redirect.test", "/", 308)
    assert ctl.served_by("noredirect.test", "/") == "alpha"
    assert "host noredirect.test\n" in ctl.routes()
    assert "host redirect.test redirect\n" in ctl.routes()


def test_server_alias_serves_the_same_routes_unless_it_is_a_host(ctl):
    ctl.write("main", ingress("main", [("main.test", [
        ("/", "Prefix", "alpha", ctl.ports["alpha"]),
        ("/api", "Prefix", "beta", ctl.ports["beta"])])],
        annotations={f"{NGINX}/server-alias":
                     "www.main.test, main.example, taken.test"}))
    ctl.write("taken", one("taken", "taken.test", ctl, {}, svc="gamma"))
    ctl.wait_served("www.main.test", "/api/x", "beta")
    assert ctl.served_by("main.example", "/") == "alpha"
    assert ctl.served_by("taken.test", "/api") == "gamma"
    eventually(lambda: "server-alias taken.test ignored: it is a host of "
               "its own" in ctl.proc.log_text())
    # An alias removed is a table swap, no reload.
    ctl.settled()
    reloads = ctl.metric("portico_controller_reloads_total",
                         result="success")
    ctl.write("main", ingress("main", [("main.test", [
        ("/", "Prefix", "alpha", ctl.ports["alpha"]),
        ("/api", "Prefix", "beta", ctl.ports["beta"])])],
        annotations={f"{NGINX}/server-alias": "www.main.test"}))
    ctl.wait_status("main.example", "/", 404)
    assert ctl.served_by("www.main.test", "/api") == "beta"
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads


REDIRECT_HOSTILE = {
    "permanent-redirect": ["https://x/$request_uri", "javascript:alert(1)",
                           "https://x/\";return 200 \"", "//evil.example/",
                           "https://x/%0d%0a"],
    "permanent-redirect-code": ["200", "309", "30", "301;"],
    "app-root": ["https://evil.example/", "/a b", "/$host", "app1"],
    "server-alias": ["*", "evil.test;server_name x", "a.test,,b.test",
                     "EVIL.test", "10.0.0.1"],
    "ssl-redirect": ["yes", "true;"],
    "from-to-www-redirect": ["on", "true\"; return 200 \""],
}


def test_hostile_redirect_and_alias_values_are_refused(ctl):
    refused_everywhere(ctl, [(k, v) for k, values in REDIRECT_HOSTILE.items()
                             for v in values + list(HOSTILE.values())],
                       ("evil", "owned", "javascript", "$request_uri\"",
                        ";return 200", "%0d"))


def test_from_to_www_redirect_answers_the_twin_host_with_308(ctl):
    ctl.write("apex", one("apex", "apex.test", ctl, {
        f"{NGINX}/from-to-www-redirect": "true"}))
    ctl.write("www", one("www", "www.shop.test", ctl, {
        f"{NGINX}/from-to-www-redirect": "true"}))
    ctl.write("taken", ingress("taken", [
        ("taken.test", [("/", "Prefix", "alpha", ctl.ports["alpha"])]),
        ("www.taken.test", [("/", "Prefix", "beta", ctl.ports["beta"])])],
        annotations={f"{NGINX}/from-to-www-redirect": "true"}))
    ctl.wait_status("www.apex.test", "/x?y=1", 308)
    r = ctl.get("www.apex.test", "/x?y=1")
    assert r.headers["Location"] == "http://apex.test/x?y=1"
    r = ctl.get("shop.test", "/a/b")
    assert (r.status, r.headers["Location"]) == \
        (308, "http://www.shop.test/a/b")
    # The hosts themselves are served; a twin that is a host is left alone.
    assert ctl.served_by("apex.test", "/x") == "alpha"
    assert ctl.served_by("www.shop.test", "/") == "alpha"
    assert ctl.served_by("www.taken.test", "/") == "beta"
    assert ctl.served_by("taken.test", "/") == "alpha"
    eventually(lambda: "from-to-www-redirect for taken.test left out: "
               "www.taken.test is a host of its own" in ctl.proc.log_text())
