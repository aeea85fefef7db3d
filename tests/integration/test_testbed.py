"""The test bed itself: each fixture starts the real program and it does
what the other tests rely on."""
import json
import urllib.request

import testbed


def get(url, host=None, timeout=5):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def test_nginx_loads_our_module_and_serves(nginx_factory):
    port = testbed.free_port()
    n = nginx_factory(f"server {{ listen 127.0.0.1:{port}; "
                      f"location /up {{ upstream_resolve_status; }} }}")
    status, body = get(f"http://127.0.0.1:{port}/up")
    assert status == 200
    assert "upstreams" in json.loads(body)
    assert n.test_config().returncode == 0


def test_nginx_reload_starts_a_new_worker_generation(nginx_factory):
    port = testbed.free_port()
    conf = f"server {{ listen 127.0.0.1:{port}; return 200 'one'; }}"
    n = nginx_factory(conf, workers=2)
    before = set(n.worker_pids())
    n.reload(conf.replace("'one'", "'two'"))
    assert not before & set(n.worker_pids())
    assert get(f"http://127.0.0.1:{port}/")[1] == b"two"


def test_cluster_dns_answers_changes_and_nxdomain(cluster_dns):
    import dns.rcode
    cluster_dns.set("web.default.svc.cluster.local", "127.0.0.2")
    r = cluster_dns.query("web.default.svc.cluster.local")
    assert [a.to_text() for a in r.answer[0]] == ["127.0.0.2"]
    assert r.answer[0].ttl == cluster_dns.ttl
    cluster_dns.set("web.default.svc.cluster.local", "127.0.0.3", "127.0.0.4")
    r = cluster_dns.query("web.default.svc.cluster.local")
    assert sorted(a.to_text() for a in r.answer[0]) == ["127.0.0.3",
                                                         "127.0.0.4"]
    r = cluster_dns.query("nothing.default.svc.cluster.local")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_cluster_dns_stops_and_starts_on_the_same_port(cluster_dns):
    cluster_dns.set("a.cluster.local", "127.0.0.9")
    cluster_dns.stop()
    assert cluster_dns.query("a.cluster.local", timeout=0.3) is None
    cluster_dns.start()
    assert cluster_dns.query("a.cluster.local").answer


def test_prometheus_scrapes_a_target_and_promtool_lints(prometheus_factory,
                                                        http_backend):
    import http.server
    import threading
    text = ("# HELP demo_events_total Events seen.\n"
            "# TYPE demo_events_total counter\n"
            "demo_events_total 42\n")
    port = testbed.free_port()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type",
                             "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        prom = prometheus_factory([f"127.0.0.1:{port}"])
        r = prom.wait_for("demo_events_total")
        assert r[0]["value"][1] == "42"
    finally:
        srv.shutdown()
        srv.server_close()
    assert testbed.promtool_check_metrics(text)[0] == 0
    rc, out = testbed.promtool_check_metrics("# TYPE bad counter\nbad 1\n")
    assert rc != 0 and "_total" in out


def test_echo_backend_reports_its_name_and_the_request(http_backend):
    b = http_backend("127.0.0.3", name="echo-1")
    status, body = get(f"http://127.0.0.3:{b.port}/some/path?q=1",
                       host="example.com")
    info = json.loads(body)
    assert (status, info["name"], info["host"], info["path"]) == \
        (200, "echo-1", "example.com", "/some/path?q=1")
    assert b.hits == 1
