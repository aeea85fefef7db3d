"""ngx_http_portico_metrics_module (docs/metrics.md) against real nginx:
request counts, histograms and bytes per route rule, labelled from the
rule a request matched (never from the request), checked exactly against
a known mix of requests and against nginx's own access log; bounded
memory under a flood of random hosts, paths, statuses and methods; table
swaps, reloads and several workers; freeing routes no table has; the
exposition is promtool clean."""
import os
import random
import re
import socket
import string
import threading
import time
import urllib.request

import pytest

import testbed
from testbed.fixtures_module import (http_request, routes_conf,
                                     wait_for, write_routes)
from testbed.prom import Samples

HEAD = "portico-routes 1\nversion {v}\n"
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
      "5", "10", "+Inf"]
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}


@pytest.fixture
def backend(status_backend):
    return status_backend()


def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ACCESS_LOG = ("log_format portico_metrics_test "
              "'$host|$request_method|$status|$request_time|"
              "$upstream_response_time|$request_length|$bytes_sent|"
              "$request_uri';\n")


class Router:
    """A routing nginx with request metrics, its table, its access log
    (the reference the metrics are checked against) and /metrics."""

    def __init__(self, nginx_factory, backend, table, workers=1,
                 metrics="zone=1m", profiles=None, extra_locations=""):
        self.port, self.sport = testbed.free_port(), testbed.free_port()
        ups = {"api": f"server {backend.addr};",
               "down": f"server 127.0.0.1:{closed_port()};"}
        conf = routes_conf(ups, self.port, self.sport, profiles=profiles,
                           extra_locations=extra_locations)
        conf = (f"portico_metrics {metrics};\n" + ACCESS_LOG + conf)
        conf = conf.replace(
            "  location = /upstreams",
            "  location = /metrics { portico_metrics_status; }\n"
            "  location = /upstreams")
        # the access log of the routing server only (the reference)
        marker = f"listen 127.0.0.1:{self.port} reuseport default_server;"
        conf = conf.replace(marker, marker + " access_log logs/requests.log "
                            "portico_metrics_test;", 1)
        self.nginx = nginx_factory(conf, workers=workers, start=False)
        self.log = os.path.join(self.nginx.prefix, "logs", "requests.log")
        self.table = os.path.join(self.nginx.prefix, "conf", "routes")
        write_routes(self.table, table)
        self.nginx.start()

    def request(self, path, host="shop.example.com", method="GET",
                body=None):
        return http_request(self.port, path, host=host, method=method,
                            body=body, timeout=10)[0]

    def text(self):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.sport}/metrics", timeout=10) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith(
                "text/plain; version=0.0.4")
            return r.read().decode()

    def samples(self):
        return Samples(self.text())

    def swap(self, table):
        write_routes(self.table, table)

    def logged(self):
        """The access log's requests, as dicts."""
        out = []
        with open(self.log) as f:
            for line in f:
                host, method, status, rt, urt, rl, bs, uri = \
                    line.rstrip("\n").split("|")
                out.append({"host": host, "method": method,
                            "status": int(status), "request_time": float(rt),
                            "upstream": urt, "request_length": int(rl),
                            "bytes_sent": int(bs), "uri": uri})
        return out


def labels(ingress="", host="", path="", service=""):
    ns, _, name = ingress.partition("/")
    return {"namespace": ns, "ingress": name, "host": host, "path": path,
            "service": service}


MIX_TABLE = HEAD.format(v="v1") + (
    "host shop.example.com\n"
    "exact /gone - ingress=shop/gone service=gone\n"
    "prefix /slow api @portico_p1 ingress=shop/slow service=api-svc\n"
    "prefix /down down ingress=shop/down service=down\n"
    "prefix /api api ingress=shop/api service=api-svc\n"
    "host *.apps.example.com\n"
    "prefix / api ingress=apps/router.v2 service=router\n"
    "host *\n"
    "exact /only api\n")

API = labels("shop/api", "shop.example.com", "/api", "api-svc")
SLOW = labels("shop/slow", "shop.example.com", "/slow", "api-svc")
DOWN = labels("shop/down", "shop.example.com", "/down", "down")
GONE = labels("shop/gone", "shop.example.com", "/gone", "gone")
APPS = labels("apps/router.v2", "*.apps.example.com", "/", "router")
ANY = labels("", "*", "/only", "")
UNROUTED = labels()


def bucket_counts(times):
    """Cumulative histogram counts of these seconds, by le."""
    return {le: sum(1 for t in times
                    if le == "+Inf" or t <= float(le) + 1e-9) for le in LE}


def assert_histogram(s, name, lab, times):
    want = bucket_counts(times)
    got = {le: s.get(name + "_bucket", **lab, le=le) for le in LE}
    assert got == want, (name, lab)
    assert s.get(name + "_count", **lab) == len(times)
    assert s.get(name + "_sum", **lab) == pytest.approx(sum(times), abs=1e-6)


def test_a_known_mix_of_requests_gives_exact_counts_buckets_and_bytes(
        nginx_factory, backend):
    # /slow goes through a profile's named location (a jump clears the
    # request's module contexts; the rule is found again there)
    r = Router(nginx_factory, backend, MIX_TABLE,
               profiles={"portico_p1": "proxy_read_timeout 5s;"})
    sent = []

    def req(path, status, host="shop.example.com", method="GET", body=None,
            times=1):
        for _ in range(times):
            assert r.request(path, host, method, body) == status, path
            sent.append(path)

    req("/api/status/200", 200, times=5)
    req("/api/status/201", 201, method="POST", body=b"x" * 100, times=2)
    req("/api/status/302", 302)
    req("/api/status/404", 404, times=3)
    req("/api/status/500", 500, times=2)
    req("/api/status/503", 503)
    req("/api/status/200", 200, method="HEAD")
    req("/api/status/200", 200, method="PROPFIND")
    req("/api/x/status/204", 204, method="DELETE")
    req("/down/x", 502, times=2)
    req("/gone", 503)
    req("/status/200", 200, host="a.apps.example.com", times=2)
    req("/only", 200, host="other.example.org")
    req("/nothing", 404, host="other.example.org", times=3)
    # slow: a backend answering after 1.2 s, three at once
    threads = [threading.Thread(target=req, args=("/slow/sleep/1200", 200))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    s = r.samples()
    expect = [
        (API, "200", "GET", 5), (API, "201", "POST", 2),
        (API, "302", "GET", 1), (API, "404", "GET", 3),
        (API, "500", "GET", 2), (API, "503", "GET", 1),
        (API, "200", "HEAD", 1), (API, "200", "OTHER", 1),
        (API, "204", "DELETE", 1),
        (DOWN, "502", "GET", 2), (GONE, "503", "GET", 1),
        (APPS, "200", "GET", 2), (ANY, "200", "GET", 1),
        (UNROUTED, "404", "GET", 3), (SLOW, "200", "GET", 3),
    ]
    got = {(tuple(sorted(lab.items()))): v
           for lab, v in s.matching("portico_requests_total")}
    want = {tuple(sorted({**lab, "status": st, "method": m}.items())): float(n)
            for lab, st, m, n in expect}
    assert got == want
    assert s.sum("portico_requests_total") == len(sent) == 29

    # histograms and bytes: exactly what nginx's own variables say for
    # each request (the access log, written in the same log phase)
    log = r.logged()
    assert len(log) == len(sent)

    def rows(prefix, host="shop.example.com"):
        return [e for e in log if e["uri"].startswith(prefix)
                and (e["host"] == host or host is None)]

    routes = [(API, rows("/api")), (SLOW, rows("/slow")),
              (DOWN, rows("/down")), (GONE, rows("/gone")),
              (APPS, rows("/status", "a.apps.example.com")),
              (ANY, rows("/only", "other.example.org")),
              (UNROUTED, rows("/nothing", "other.example.org"))]
    for lab, entries in routes:
        assert entries, lab
        assert_histogram(s, "portico_request_duration_seconds", lab,
                         [e["request_time"] for e in entries])
        up = [sum(float(x) for x in e["upstream"].replace(":", ",")
                  .split(",") if x.strip() not in ("", "-"))
              for e in entries if e["upstream"] != "-"]
        assert_histogram(s, "portico_upstream_response_duration_seconds",
                         lab, up)
        assert s.get("portico_request_bytes_total", **lab) == \
            sum(e["request_length"] for e in entries)
        assert s.get("portico_response_bytes_total", **lab) == \
            sum(e["bytes_sent"] for e in entries)

    # the slow backend's requests are in (1 s, 2.5 s], the others fast
    slow = "portico_request_duration_seconds_bucket"
    assert s.get(slow, **SLOW, le="1") == 0
    assert s.get(slow, **SLOW, le="2.5") == 3
    assert s.get("portico_upstream_response_duration_seconds_bucket",
                 **SLOW, le="1") == 0
    # a rule without an upstream (503) and requests no rule matched
    # never reached an upstream
    assert s.get("portico_upstream_response_duration_seconds_count",
                 **GONE) == 0
    assert s.get("portico_upstream_response_duration_seconds_count",
                 **UNROUTED) == 0
    # connection refused, once per request to /down
    assert s.get("portico_upstream_connect_failures_total", **DOWN) == 2
    assert s.get("portico_upstream_connect_failures_total", **API) == 0


def test_exposition_is_promtool_clean_and_escapes_label_values(
        nginx_factory, backend):
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "plain /q\"uote\\d api ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, table)
    assert r.request('/q"uote\\d', "shop.example.com") == 200
    text = r.text()
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out + text
    s = Samples(text)
    lab = labels("shop/api", "shop.example.com", '/q"uote\\d', "api-svc")
    assert s.get("portico_requests_total", **lab, status="200",
                 method="GET") == 1
    assert 'path="/q\\"uote\\\\d"' in text


def test_hostile_hosts_paths_statuses_and_methods_grow_only_the_overflow(
        nginx_factory, backend):
    """A flood of random Host headers, paths, statuses and methods: the
    label sets stay those of the table, an Ingress keeps at most
    max_series_per_ingress series and counts the rest by status class,
    and every request is counted once."""
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /api api ingress=shop/api service=api-svc\n"
        "host *\n"
        "prefix / api ingress=shop/catchall service=api-svc\n")
    r = Router(nginx_factory, backend, table,
               metrics="zone=1m max_series_per_ingress=4")
    before = r.samples()
    routes = before.get("portico_request_metrics_routes")
    assert routes == 3          # two rules and the unrouted label set
    assert before.get("portico_request_metrics_series_per_ingress") == 4

    rnd = random.Random(16)
    word = lambda n: "".join(rnd.choice(string.ascii_lowercase)
                             for _ in range(n))
    count = 0
    for i in range(400):
        host = rnd.choice([f"{word(12)}.example.{word(3)}",
                           "shop.example.com"])
        status = rnd.choice([200, 201, 204, 301, 404, 418, 429, 500, 503,
                             599, 299, 451])
        method = rnd.choice(["GET", "POST", "PUT", "DELETE", "PATCH",
                             "OPTIONS", "MKCOL", "LOCK", word(6).upper()])
        api = host == "shop.example.com" and rnd.random() < 0.7
        path = (f"/api/{word(8)}/status/{status}" if api
                else f"/{word(10)}/status/{status}")
        code = r.request(path, host, method)
        count += 1
        # shop.example.com has no rule but /api: 404 without labels
        want = 404 if host == "shop.example.com" and not api else status
        assert code in (want, 400, 405, 501), (path, method, code)

    s = r.samples()
    assert s.sum("portico_requests_total") == count
    assert s.get("portico_request_metrics_routes") == routes
    for ing in ("api", "catchall"):
        regular = [lab for lab, _ in s.matching("portico_requests_total",
                                                 namespace="shop",
                                                 ingress=ing)
                   if lab["status"].isdigit()]
        overflow = [lab for lab, _ in s.matching("portico_requests_total",
                                                  namespace="shop",
                                                  ingress=ing)
                    if not lab["status"].isdigit()]
        assert len(regular) == 4, ing
        assert overflow and all(lab["host"] == lab["path"] ==
                                lab["service"] == lab["method"] == ""
                                for lab in overflow)
        assert {lab["status"] for lab in overflow} <= \
            {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
    # in the zone: the unrouted label set's six overflow series (made at
    # start), then what the exposition shows: at most four series and six
    # overflow series per Ingress (the unrouted one included)
    assert s.get("portico_request_metrics_series") == \
        6 + sum(1 for lab, _ in s.matching("portico_requests_total")
                if lab["ingress"] != "" or lab["status"].isdigit())
    assert len(s.matching("portico_requests_total", ingress="")) <= 4 + 6
    # the label values are the table's, never the request's
    hosts = {lab["host"] for lab, _ in s.matching("portico_requests_total")}
    assert hosts <= {"shop.example.com", "*", ""}

    # the same flood again: nothing new in the zone
    series = s.get("portico_request_metrics_series")
    for i in range(200):
        r.request(f"/{word(30)}/status/{rnd.choice([200, 404, 500])}",
                  f"{word(20)}.{word(5)}", rnd.choice(["GET", "POST"]))
    s = r.samples()
    assert s.get("portico_request_metrics_series") == series
    assert s.get("portico_request_metrics_routes") == routes
    assert s.sum("portico_requests_total") == count + 200


def test_a_request_sent_to_an_error_page_counts_under_its_rule(
        nginx_factory, backend):
    """error_page redirects internally to a location without
    portico_route: the request keeps the rule it matched (the context
    outlives the redirect) and counts with the status it got."""
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /api api @portico_perr ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, table,
               profiles={"portico_perr": "proxy_intercept_errors on; "
                         "error_page 500 502 = /sorry;"},
               extra_locations='location = /sorry { return 200 "sorry"; }')
    assert r.request("/api/status/500") == 200
    assert r.request("/api/status/404") == 404
    s = r.samples()
    lab = labels("shop/api", "shop.example.com", "/api", "api-svc")
    assert s.get("portico_requests_total", **lab, status="200",
                 method="GET") == 1
    assert s.get("portico_requests_total", **lab, status="404",
                 method="GET") == 1
    assert s.sum("portico_requests_total") == 2


def test_counts_survive_table_swaps_and_reloads(nginx_factory, backend):
    v1 = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /api api ingress=shop/api service=api-svc\n")
    v2 = HEAD.format(v="v2") + (
        "host shop.example.com\n"
        "prefix /new api ingress=shop/new service=api-svc\n"
        "prefix /api api ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, v1, workers=2)
    api = {**labels("shop/api", "shop.example.com", "/api", "api-svc"),
           "status": "200", "method": "GET"}
    for _ in range(10):
        assert r.request("/api/a") == 200
    assert r.samples().get("portico_requests_total", **api) == 10

    r.swap(v2)
    wait_for(lambda: r.request("/new/x") == 200, what="the swap")
    for _ in range(5):
        assert r.request("/api/b") == 200
    s = r.samples()
    assert s.get("portico_requests_total", **api) == 15
    new = {**labels("shop/new", "shop.example.com", "/new", "api-svc"),
           "status": "200", "method": "GET"}
    assert s.get("portico_requests_total", **new) >= 1

    r.nginx.reload()
    for _ in range(5):
        assert r.request("/api/c") == 200
    s = r.samples()
    assert s.get("portico_requests_total", **api) == 20
    assert s.get("portico_request_duration_seconds_count",
                 **labels("shop/api", "shop.example.com", "/api",
                          "api-svc")) == 20


def test_a_rule_no_table_has_any_more_is_freed_after_its_grace(
        nginx_factory, backend):
    v1 = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /old api ingress=shop/old service=api-svc\n"
        "prefix /api api ingress=shop/api service=api-svc\n")
    v2 = HEAD.format(v="v2") + (
        "host shop.example.com\n"
        "prefix /api api ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, v1, workers=2,
               metrics="zone=1m grace=1s")
    for path in ("/old/x", "/api/x"):
        assert r.request(path) == 200
    s = r.samples()
    assert s.get("portico_request_metrics_routes") == 3
    assert s.matching("portico_requests_total", ingress="old")

    r.swap(v2)
    wait_for(lambda: r.request("/old/x") == 404, what="the swap")

    def freed():
        s = r.samples()
        return (s.get("portico_request_metrics_routes") == 2
                and not s.matching("portico_requests_total", ingress="old"))
    # seen unused by one scrape, freed by a scrape a second later
    wait_for(freed, timeout=10, interval=0.5, what="the old route freed")
    s = r.samples()
    assert s.get("portico_requests_total",
                 **labels("shop/api", "shop.example.com", "/api", "api-svc"),
                 status="200", method="GET") == 1


def many_rules_table(version, prefix, n):
    return HEAD.format(v=version) + "host shop.example.com\n" + "".join(
        f"prefix /{prefix}{i} api ingress=shop/{prefix}{i} service=api-svc\n"
        for i in range(n))


def without_labels(nginx, version):
    """The rules of a table the full zone counted without labels, as the
    worker logged them (None: not logged)."""
    m = re.search(r"is full, (\d+) rules of table " + version + " ",
                  nginx.error_log())
    return int(m.group(1)) if m else None


def test_a_full_zone_counts_the_rest_without_labels_and_frees_old_rules(
        nginx_factory, backend):
    # 128k holds 128 label sets, one of them the unrouted one
    r = Router(nginx_factory, backend, many_rules_table("v1", "a", 200),
               metrics="zone=128k grace=1s")
    wait_for(lambda: without_labels(r.nginx, "v1") is not None,
             what="the full zone logged")
    missing = without_labels(r.nginx, "v1")
    assert 200 - 128 < missing < 200
    # the first rules have their labels, a rule past the room counts under
    # the unrouted label set, never lost
    assert r.request("/a0/x") == 200 and r.request("/a199/x") == 200
    s = r.samples()
    assert s.get("portico_requests_total",
                 **labels("shop/a0", "shop.example.com", "/a0", "api-svc"),
                 status="200", method="GET") == 1
    assert not s.matching("portico_requests_total", ingress="a199")
    assert s.get("portico_requests_total", **UNROUTED, status="200",
                 method="GET") == 1

    # v2 replaces every rule: v1's are still the worker's until it has
    # attached v2, so v2 finds no room
    r.swap(many_rules_table("v2", "b", 200))
    wait_for(lambda: without_labels(r.nginx, "v2") is not None,
             what="v2 attached")
    assert without_labels(r.nginx, "v2") == 200

    # a scrape sees v1's rules unused, and after the grace the next table's
    # one clean-up, at its first rule without room, frees them for it
    r.samples()
    time.sleep(1.5)
    r.swap(many_rules_table("v3", "b", 200))
    wait_for(lambda: without_labels(r.nginx, "v3") is not None,
             what="v3 attached")
    assert without_labels(r.nginx, "v3") == missing
    assert r.request("/b0/x") == 200
    assert r.samples().get(
        "portico_requests_total",
        **labels("shop/b0", "shop.example.com", "/b0", "api-svc"),
        status="200", method="GET") == 1


def test_requests_of_every_worker_are_counted_once(nginx_factory, backend):
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /api api ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, table, workers=4)
    n = 400

    def load(k):
        for i in range(k):
            assert r.request(f"/api/{i}/status/{200 + (i % 3)}") == \
                200 + (i % 3)
    threads = [threading.Thread(target=load, args=(n // 8,))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = r.samples()
    lab = labels("shop/api", "shop.example.com", "/api", "api-svc")
    assert s.sum("portico_requests_total", **lab) == n
    assert s.get("portico_request_duration_seconds_count", **lab) == n
    pids = {e["status"] for e in r.logged()}
    assert pids == {200, 201, 202}


def test_configuration_mistakes_fail_nginx_t_with_the_reason(nginx_factory):
    cases = [
        ("portico_metrics max_series_per_ingress=3;", "needs zone=SIZE"),
        ("portico_metrics zone=64k;", "is too small"),
        ("portico_metrics zone=1m max_series_per_ingress=0;",
         "1-65535 expected"),
        ("portico_metrics zone=1m colour=red;", 'invalid parameter'),
        ("portico_metrics zone=1m; portico_metrics zone=1m;",
         "is duplicate"),
        ("server { listen 127.0.0.1:1; "
         "location / { portico_metrics_status; } }",
         'needs "portico_metrics" before it'),
    ]
    for conf, reason in cases:
        n = nginx_factory(conf, start=False)
        res = n.test_config()
        assert res.returncode != 0, conf
        assert reason in res.stdout, (conf, res.stdout)


def test_canary_requests_count_under_a_canary_label_as_ingress_nginx(
        nginx_factory, backend):
    """ingress-nginx labels a canary's requests canary="NS-SVC-PORT" (its
    upstream's name), with the main Ingress and Service; the others have
    no canary label (ingress-nginx's empty one is no label to
    Prometheus). The header decides here: always, never, and no opinion
    with the weight 0."""
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        "prefix /api api canary=down canary-header=X-Canary "
        "canary-name=shop-beta-80 ingress=shop/api service=api-svc\n")
    r = Router(nginx_factory, backend, table)
    for _ in range(3):
        assert r.request("/api/status/200") == 200
    c = http_request(r.port, "/api/status/200", host="shop.example.com",
                     headers={"X-Canary": "always"}, timeout=10)
    assert c[0] == 502          # the canary upstream refuses connections
    assert http_request(r.port, "/api/status/201", host="shop.example.com",
                        headers={"X-Canary": "never"}, timeout=10)[0] == 201
    s = r.samples()
    got = {(tuple(sorted(lab.items()))): v
           for lab, v in s.matching("portico_requests_total")}
    canary = {**API, "canary": "shop-beta-80"}
    assert got == {
        tuple(sorted({**API, "status": "200", "method": "GET"}.items())): 3.0,
        tuple(sorted({**API, "status": "201", "method": "GET"}.items())): 1.0,
        tuple(sorted({**canary, "status": "502", "method": "GET"}.items())):
            1.0}
    assert s.get("portico_upstream_connect_failures_total", **canary) == 1
    assert s.get("portico_request_duration_seconds_count", **API) == 4
    assert s.get("portico_request_duration_seconds_count", **canary) == 1


@pytest.mark.parametrize("word", ["canary-name=Shop", "canary-name=a_b",
                                  "canary-name=", "canary-name=" + "a" * 254])
def test_a_bad_canary_name_refuses_the_table(nginx_factory, backend, word):
    table = HEAD.format(v="v1") + (
        "host shop.example.com\n"
        f"prefix /api api canary=down {word}\n")
    port, sport = testbed.free_port(), testbed.free_port()
    conf = routes_conf({"api": f"server {backend.addr};",
                        "down": "server 127.0.0.1:9;"}, port, sport)
    n = nginx_factory(conf, workers=1, start=False)
    write_routes(os.path.join(n.prefix, "conf", "routes"), table)
    res = n.test_config()
    assert res.returncode == 1, res.stdout
    assert "canary-name" in res.stdout, res.stdout
