"""Session affinity by cookie (ingress-nginx's affinity and session-cookie-*
annotations) with the real controller, nginx and module (local mode): a
Service whose name resolves to three backends; a client without the cookie
gets one with the annotations' attributes, a client with it stays on one
backend; the words in the route table; a change of the annotations is a
table swap, not a reload; bad values refuse the Ingress."""
import http.client
import json
import re

import pytest

from testbed.controller import eventually
from test_controller_local import (LocalController, backends, ctl,  # noqa: F401
                                   service)
from test_controller_routing import NGINX, path_ingress, refused

ADDRS = ["127.0.0.5", "127.0.0.6", "127.0.0.7"]


def headless(name, port):
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: team}}
spec:
  clusterIP: None
  ports: [{{name: http, port: {port}, targetPort: {port}}}]
"""


@pytest.fixture
def sticky(ctl, http_backend, cluster_dns):
    """Headless Service "sticky": its name resolves to three backends (the
    pods) on one port."""
    first = http_backend(addr=ADDRS[0], name="s0")
    for i, a in enumerate(ADDRS[1:]):
        http_backend(addr=a, port=first.port, name=f"s{i + 1}")
    cluster_dns.set("sticky.team.svc.cluster.local", *ADDRS)
    ctl.write("svc-sticky", headless("sticky", first.port))
    ctl.ports["sticky"] = first.port
    return ctl


def ask(ctl, host, uri="/", cookie=None):
    """(backend name or status, Set-Cookie or None)."""
    c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=5)
    try:
        c.request("GET", uri, headers={"Host": host, **(
            {"Cookie": cookie} if cookie else {})})
        r = c.getresponse()
        body = r.read()
        who = json.loads(body)["name"] if r.status == 200 else r.status
        return who, r.getheader("Set-Cookie")
    finally:
        c.close()


def sticky_ingress(ctl, annotations, name="app", host="app.test",
                   path="/", type="Prefix"):
    return path_ingress(name, host, [(path, type, "sticky")], ctl,
                        annotations)


def test_a_client_gets_a_cookie_and_stays_on_one_backend(sticky):
    ctl = sticky
    ctl.write("app", sticky_ingress(ctl, {
        f"{NGINX}/affinity": "cookie",
        f"{NGINX}/session-cookie-name": "route",
        f"{NGINX}/session-cookie-max-age": "172800",
        f"{NGINX}/session-cookie-samesite": "Strict",
        f"{NGINX}/session-cookie-path": "/"}, path="/shop"))
    eventually(lambda: ask(ctl, "app.test", "/shop")[0] in ("s0", "s1",
                                                            "s2"))
    ctl.settled()
    assert "affinity=cookie:route affinity-path=/ affinity-max-age=172800 " \
           "affinity-samesite=Strict" in ctl.routes()
    # every Service address resolved (the cluster DNS's three)
    eventually(lambda: len({ask(ctl, "app.test", "/shop")[0]
                            for _ in range(20)}) == 3, timeout=15)
    who, sc = ask(ctl, "app.test", "/shop/cart")
    assert re.fullmatch(r"route=[0-9a-f]{16}\.[0-9a-f]{8}; Path=/; "
                        r"Max-Age=172800; HttpOnly; SameSite=Strict", sc), sc
    cookie = sc.split(";")[0]
    seen = [ask(ctl, "app.test", "/shop/cart", cookie) for _ in range(100)]
    assert set(seen) == {(who, None)}


def test_the_default_cookie_under_either_prefix(sticky):
    ctl = sticky
    ctl.write("app", sticky_ingress(ctl, {"portico.io/affinity": "cookie"},
                                    path="/api"))
    eventually(lambda: ask(ctl, "app.test", "/api")[1] is not None)
    sc = ask(ctl, "app.test", "/api/x")[1]
    # ingress-nginx's name; the rule's path; no Secure over plain HTTP
    assert re.fullmatch(r"INGRESSCOOKIE=[0-9a-f]{16}\.[0-9a-f]{8}; "
                        r"Path=/api; HttpOnly", sc), sc


def test_a_change_of_the_affinity_annotations_is_a_table_swap(sticky):
    ctl = sticky
    ctl.write("app", sticky_ingress(ctl, {f"{NGINX}/affinity": "cookie"}))
    eventually(lambda: (ask(ctl, "app.test")[1] or "").startswith(
        "INGRESSCOOKIE="))
    before = ctl.settled()
    reloads = ctl.metric("portico_controller_reloads_total",
                         result="success")
    ctl.write("app", sticky_ingress(ctl, {
        f"{NGINX}/affinity": "cookie",
        f"{NGINX}/affinity-mode": "persistent",
        f"{NGINX}/session-cookie-name": "other",
        f"{NGINX}/session-cookie-change-on-failure": "true"}))
    eventually(lambda: (ask(ctl, "app.test")[1] or "").startswith("other="))
    assert ctl.settled() == before
    assert ctl.metric("portico_controller_reloads_total",
                      result="success") == reloads
    assert "affinity-mode=persistent" in ctl.routes()
    assert "affinity-change-on-failure=on" in ctl.routes()
    # affinity off: a swap again, no cookie
    ctl.write("app", sticky_ingress(ctl, {}))
    eventually(lambda: ask(ctl, "app.test")[1] is None)
    assert ctl.settled() == before


def test_a_service_with_a_cluster_ip_is_warned_about(sticky):
    ctl = sticky
    ctl.write("app", sticky_ingress(ctl, {f"{NGINX}/affinity": "cookie"}))
    ctl.write("other", path_ingress("other", "other.test", [
        ("/", "Prefix", "alpha")], ctl, {f"{NGINX}/affinity": "cookie"}))
    eventually(lambda: "session affinity with Service team/alpha, which "
               "has a cluster IP" in ctl.proc.log_text())
    # served all the same (one address: every cookie names it)
    eventually(lambda: ask(ctl, "other.test")[0] == "alpha")
    assert "Service team/sticky, which has a cluster IP" \
        not in ctl.proc.log_text()


def test_regex_paths_need_a_cookie_path(sticky):
    ctl = sticky
    ctl.write("good", sticky_ingress(ctl, {
        f"{NGINX}/affinity": "cookie", f"{NGINX}/use-regex": "true",
        f"{NGINX}/session-cookie-path": "/app"},
        name="good", host="good.test", path="/app/[a-z]+",
        type="ImplementationSpecific"))
    ctl.write("bad", sticky_ingress(ctl, {
        f"{NGINX}/affinity": "cookie", f"{NGINX}/use-regex": "true"},
        name="bad", host="bad.test", path="/app/[a-z]+",
        type="ImplementationSpecific"))
    refused(ctl, "bad", "session affinity needs session-cookie-path")
    eventually(lambda: ask(ctl, "good.test", "/app/x")[1] is not None)
    assert "; Path=/app;" in ask(ctl, "good.test", "/app/y")[1]


@pytest.mark.parametrize("ann,reason", [
    ({f"{NGINX}/affinity": "ip"}, "must be cookie"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/affinity-mode": "persistent-drainable"},
     "must be balanced or persistent"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/affinity-canary-behavior": "always"},
     "must be sticky or legacy"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-samesite": "lax"},
     "must be None, Lax or Strict"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-name": "a;b"}, "invalid cookie name"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-path": "shop"}, "must start with '/'"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-path": "/a;b"}, "only letters"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-max-age": "1d"}, "must be 1-9 digits"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-domain": "a..b"}, "must be a domain name"),
    ({f"{NGINX}/affinity": "cookie",
      f"{NGINX}/session-cookie-secure": "yes"}, "must be true or false"),
])
def test_bad_affinity_annotations_refuse_the_ingress(sticky, ann, reason):
    ctl = sticky
    ctl.write("ok", sticky_ingress(ctl, {f"{NGINX}/affinity": "cookie"},
                                   name="ok", host="ok.test"))
    ctl.write("bad", sticky_ingress(ctl, ann, name="bad", host="bad.test"))
    refused(ctl, "bad", reason)
    eventually(lambda: ask(ctl, "ok.test")[1] is not None)
    assert ask(ctl, "bad.test")[0] == 404
