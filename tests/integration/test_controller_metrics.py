"""The controller's :10254/metrics serves nginx's request metrics
(docs/metrics.md): the route table names every rule's Ingress and Service,
the module counts per rule, the controller fetches nginx's text at scrape
time; promtool clean; --request-metrics-zone=off renders none."""
import re
import subprocess

import testbed
from testbed.controller import CONTROLLER, eventually
from testbed.prom import Samples
from test_controller_local import (NS, LocalController, backends,  # noqa: F401
                                   ctl, ingress, service)


def test_requests_per_ingress_rule_are_on_the_controllers_metrics(ctl):
    p = ctl.ports
    ctl.write("shop", ingress("shop", [("shop.test", [
        ("/api", "Prefix", "alpha", p["alpha"]),
        ("/", "Prefix", "beta", p["beta"])])]))
    ctl.write("gone", ingress("gone", [("gone.test", [
        ("/", "Prefix", "missing", 80)])]))
    ctl.wait_served("shop.test", "/api/x", "alpha")
    ctl.wait_status("gone.test", "/", 503)
    # the table says where each rule comes from
    routes = ctl.routes()
    assert re.search(r"^prefix /api \S+ ingress=team/shop service=alpha$",
                     routes, re.M), routes
    assert re.search(r"^prefix / - ingress=team/gone service=missing$",
                     routes, re.M), routes

    for _ in range(3):
        assert ctl.served_by("shop.test", "/api/x") == "alpha"
    assert ctl.get("shop.test", "/x", method="POST").backend == "beta"
    for _ in range(2):
        assert ctl.get("gone.test", "/").status == 503
    assert ctl.get("nobody.test", "/").status == 404

    text = ctl.metrics()
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out
    s = Samples(text)
    assert s.get("portico_controller_nginx_metrics_up") == 1
    api = dict(namespace=NS, ingress="shop", host="shop.test", path="/api",
               service="alpha")
    # wait_served's own requests count too: at least ours, all 200 GET
    assert s.get("portico_requests_total", **api, status="200",
                 method="GET") >= 3
    assert s.get("portico_requests_total", namespace=NS, ingress="shop",
                 host="shop.test", path="/", service="beta", status="200",
                 method="POST") == 1
    assert s.get("portico_requests_total", namespace=NS, ingress="gone",
                 host="gone.test", path="/", service="missing",
                 status="503", method="GET") >= 2
    assert s.get("portico_requests_total", namespace="", ingress="",
                 host="", path="", service="", status="404",
                 method="GET") >= 1
    assert s.get("portico_request_duration_seconds_count", **api) == \
        s.sum("portico_requests_total", **api)
    assert s.get("portico_request_metrics_routes_capacity") == 32768


def test_request_metrics_off_renders_no_zone_and_serves_none(
        procs, tmp_path, cluster_dns):
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=["--request-metrics-zone=off"])
    eventually(c.ready)
    assert "portico_metrics" not in c.nginx_conf()
    text = c.metrics()
    assert "portico_requests_total" not in text
    assert "nginx_metrics_up" not in text
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out


def test_a_smaller_zone_and_cap_reach_nginx(procs, tmp_path, cluster_dns):
    c = LocalController(procs, tmp_path, cluster_dns,
                        extra=["--request-metrics-zone=1m",
                               "--request-metrics-series-per-ingress=8"])
    eventually(c.ready)
    assert "portico_metrics zone=1m max_series_per_ingress=8;" in \
        c.nginx_conf()
    s = eventually(lambda: (x := Samples(c.metrics())).get(
        "portico_controller_nginx_metrics_up") == 1 and x)
    assert s.get("portico_request_metrics_series_per_ingress") == 8
    assert s.get("portico_request_metrics_routes_capacity") == 1024


def test_bad_request_metrics_flags_stop_the_controller_with_the_reason():
    for flag, reason in (("--request-metrics-zone=64k", "at least 128k"),
                         ("--request-metrics-zone=lots", "invalid"),
                         ("--request-metrics-series-per-ingress=0",
                          "want 1-65535")):
        p = subprocess.run([str(CONTROLLER), "--source=dir:/nonexistent",
                            flag], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        assert p.returncode == 2, (flag, p.stdout)
        assert reason in p.stdout, (flag, p.stdout)
