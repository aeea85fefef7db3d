"""Canary releases (the canary annotations of ingress-nginx) with the real
controller, nginx and module (local mode): an Ingress with canary "true"
serves no location of its own; each of its paths becomes the canary of
the other Ingresses' location with the same host and path; the header,
then the cookie, then the weight decide (docs/routes.md, "canary=");
refusals; a change of weight is a table swap, not a reload."""
import http.client
import json

import pytest

from testbed.controller import eventually
from test_controller_local import (LocalController, backends, ctl,  # noqa: F401
                                   ingress, service)
from test_controller_routing import NGINX, path_ingress, refused


def backend(ctl, host, uri="/", headers=None):
    """Name of the backend that answered, or the status."""
    c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=5)
    try:
        c.request("GET", uri, headers={"Host": host, **(headers or {})})
        r = c.getresponse()
        body = r.read()
        return json.loads(body)["name"] if r.status == 200 else r.status
    finally:
        c.close()


def canary(name, host, path, ctl, annotations, service="beta", day=2,
           type="Prefix"):
    return path_ingress(name, host, [(path, type, service)], ctl,
                        {f"{NGINX}/canary": "true", **annotations}, day=day)


def test_header_then_cookie_then_weight(ctl):
    ctl.write("main", path_ingress("main", "shop.test", [
        ("/", "Prefix", "alpha"), ("/api", "Prefix", "alpha")], ctl, day=1))
    ctl.write("canary", canary("canary", "shop.test", "/api", ctl, {
        f"{NGINX}/canary-by-header": "X-Canary",
        f"{NGINX}/canary-by-cookie": "beta_user",
        f"{NGINX}/canary-weight": "0"}))
    eventually(lambda: backend(ctl, "shop.test", "/api",
                               {"X-Canary": "always"}) == "beta")
    ctl.settled()
    assert backend(ctl, "shop.test", "/api") == "alpha"
    assert backend(ctl, "shop.test", "/api/x", {"X-Canary": "never",
                                                "Cookie": "beta_user=always"}) \
        == "alpha"
    assert backend(ctl, "shop.test", "/api/x",
                   {"Cookie": "beta_user=always"}) == "beta"
    assert backend(ctl, "shop.test", "/api/x", {"X-Canary": "maybe",
                                                "Cookie": "beta_user=always"}) \
        == "beta"
    # only the canary's path: "/" of the main Ingress has no canary
    assert backend(ctl, "shop.test", "/", {"X-Canary": "always"}) == "alpha"
    table = ctl.routes()
    assert "canary=" in table and "canary-header=X-Canary" in table
    # the canary label of the request metrics: ingress-nginx's upstream name
    name = f"team-beta-{ctl.ports['beta']}"
    assert f"canary-name={name}" in table
    labels = dict(namespace="team", ingress="main", host="shop.test",
                  path="/api", service="alpha", status="200", method="GET")
    assert ctl.metric("portico_requests_total", **labels, canary=name) == 3
    assert ctl.metric("portico_requests_total", **labels) >= 2
    assert "canary-weight" not in table         # weight 0: no word


def test_header_value_wins_over_pattern_and_a_weight_splits(ctl):
    ctl.write("main", path_ingress("main", "split.test", [
        ("/", "Prefix", "alpha")], ctl, day=1))
    ctl.write("canary", canary("canary", "split.test", "/", ctl, {
        f"{NGINX}/canary-by-header": "Region",
        f"{NGINX}/canary-by-header-value": "eu-1",
        f"{NGINX}/canary-by-header-pattern": "^us-.*",
        f"{NGINX}/canary-weight": "60",
        f"{NGINX}/canary-weight-total": "200"}))
    eventually(lambda: "canary-weight=60/200" in ctl.routes())
    ctl.settled()
    assert "canary-header-pattern" not in ctl.routes()
    for _ in range(5):
        assert backend(ctl, "split.test", "/", {"Region": "eu-1"}) == "beta"
    counts = [backend(ctl, "split.test", "/") for _ in range(300)]
    assert 60 <= counts.count("beta") <= 120, counts.count("beta")  # 90
    assert counts.count("alpha") + counts.count("beta") == 300


def test_a_weight_total_below_100_counts_as_100_as_in_ingress_nginx(ctl):
    ctl.write("main", path_ingress("main", "t.test", [
        ("/", "Prefix", "alpha")], ctl, day=1))
    ctl.write("canary", canary("canary", "t.test", "/", ctl, {
        f"{NGINX}/canary-weight": "10",
        f"{NGINX}/canary-weight-total": "20"}))
    eventually(lambda: "canary-weight=10/100" in ctl.routes())


def test_a_canary_without_a_main_ingress_serves_nothing(ctl):
    ctl.write("main", path_ingress("main", "lone.test", [
        ("/a", "Prefix", "alpha")], ctl, day=1))
    ctl.write("canary", canary("canary", "lone.test", "/b", ctl, {
        f"{NGINX}/canary-weight": "100"}))
    eventually(lambda: "no other Ingress serves that host and path" in
               ctl.proc.log_text())
    ctl.settled()
    assert backend(ctl, "lone.test", "/b") == 404
    assert backend(ctl, "lone.test", "/a") == "alpha"


def test_a_new_weight_is_a_table_swap_not_a_reload(ctl):
    ctl.write("main", path_ingress("main", "w.test", [
        ("/", "Prefix", "alpha")], ctl, day=1))
    ctl.write("canary", canary("canary", "w.test", "/", ctl, {
        f"{NGINX}/canary-weight": "0"}))
    eventually(lambda: "canary=" in ctl.routes())
    before = ctl.settled()
    assert backend(ctl, "w.test") == "alpha"
    ctl.write("canary", canary("canary", "w.test", "/", ctl, {
        f"{NGINX}/canary-weight": "100"}))
    eventually(lambda: backend(ctl, "w.test") == "beta")
    assert ctl.settled() == before
    ctl.delete("canary")
    eventually(lambda: backend(ctl, "w.test") == "alpha")


@pytest.mark.parametrize("ann,reason", [
    ({f"{NGINX}/canary-weight": "10"},
     "canary-weight is set but canary is not \"true\""),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-weight": "101"},
     "canary-weight 101 is more than the canary-weight-total 100"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-weight": "ten"},
     "must be 1-6 digits"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-by-header": "X Y"},
     "invalid header name"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-by-cookie": "a;b"},
     "invalid cookie name"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-by-header": "H",
      f"{NGINX}/canary-by-header-value": "a b"}, "no space"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-by-header": "H",
      f"{NGINX}/canary-by-header-pattern": "(a"},
     "PCRE2 refuses the regular expression"),
    ({f"{NGINX}/canary": "true", f"{NGINX}/canary-by-header": "H",
      f"{NGINX}/canary-by-header-pattern": "^(a+)+$"},
     "the regular expression is too costly"),
    ({f"{NGINX}/canary": "yes"}, "canary"),
])
def test_bad_canary_annotations_refuse_the_ingress(ctl, ann, reason):
    ctl.write("main", path_ingress("main", "good.test", [
        ("/", "Prefix", "alpha")], ctl, day=1))
    ctl.write("bad", path_ingress("bad", "good.test", [
        ("/", "Prefix", "beta")], ctl, ann, day=2))
    refused(ctl, "bad", reason)
    ctl.wait_served("good.test", "/", "alpha")
    assert "canary=" not in ctl.routes()
