"""Session affinity by cookie in the route table (docs/routes.md, the
"affinity=" words) against real nginx, with a Service name that resolves
through the test bed's dnsmasq to three backends on 127.0.0.x: a request
without the cookie gets one (with ingress-nginx's attributes), a request
with it stays on its backend, in every worker, after a table swap and a
restart; a cookie for a backend that is gone or failing moves; a hostile
value is only a miss; bad words fail nginx -t with FILE:LINE."""
import hashlib
import os
import re
import zlib

import pytest

import testbed
from testbed.fixtures_module import (http_request, status, wait_for,
                                     write_routes)
from test_module_table_upstreams import Router, conf, name

ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
COOKIE_RE = re.compile(r"^route=([0-9a-f]{16})\.([0-9a-f]{8})(;.*)$")


def affinity_table(version, port, words, canary=None, path="/shop"):
    """ua (and uc, the canary's) resolve to the backends' addresses; one
    rule on example.com with the words."""
    ups = f"upstream ua {name('shop')}:{port}\n"
    if canary:
        ups += f"upstream uc {name('shop2')}:{port}\n"
    return (f"portico-routes 2\nversion {version}\n{ups}"
            f"host example.com\nprefix {path} ua {words}\n")


def backends(cluster_dns, http_backend, addrs=ADDRS):
    bs = [http_backend(addrs[0], name="b0")]
    bs += [http_backend(a, port=bs[0].port, name=f"b{i + 1}")
           for i, a in enumerate(addrs[1:])]
    cluster_dns.set(name("shop"), *addrs)
    return bs


def ask(r, cookie=None, headers=None, path="/shop"):
    """(backend name or status, the Set-Cookie or None)."""
    h = dict(headers or {})
    if cookie is not None:
        h["Cookie"] = cookie
    code, hd, _ = http_request(r.port, path, host="example.com", headers=h)
    return (hd["x-backend"] if code == 200 else code), hd.get("set-cookie")


def value_of(set_cookie):
    m = COOKIE_RE.match(set_cookie)
    assert m, set_cookie
    return f"{m.group(1)}.{m.group(2)}"


def peer_key(upstream, addr, port):
    """What persistent mode names a peer by: MD5("UPSTREAM ADDR:PORT")."""
    return hashlib.md5(f"{upstream} {addr}:{port}".encode()).hexdigest()[:16]


def tag(upstream):
    return "%08x" % zlib.crc32(upstream.encode())


def all_peers_resolved(r, n):
    ups = [u for u in status(r.sport)["upstreams"] if u["name"] == "ua"]
    return ups and len(ups[0]["peers"]) == n


def test_a_request_without_the_cookie_gets_one_with_its_attributes(
        nginx_factory, cluster_dns, http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port,
        "affinity=cookie:route affinity-max-age=3600 affinity-expires=7200 "
        "affinity-samesite=Lax affinity-domain=.example.com"))
    who, sc = ask(r)
    assert who in ("b0", "b1", "b2")
    m = COOKIE_RE.match(sc)
    assert m, sc
    # the rule's path by default; no Secure over plain HTTP; HttpOnly
    assert re.fullmatch(
        r"; Path=/shop; Domain=\.example\.com; Max-Age=3600; "
        r"Expires=\w{3}, \d\d-\w{3}-\d\d(\d\d)? \d\d:\d\d:\d\d GMT; HttpOnly; "
        r"SameSite=Lax", m.group(3)), sc
    assert m.group(2) == tag("ua")
    # no address in clear
    assert "127.0.0" not in sc and str(bs[0].port) not in sc


def test_secure_path_and_conditional_samesite_none(nginx_factory,
                                                   cluster_dns,
                                                   http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port,
        "affinity=cookie:route affinity-path=/ affinity-secure=on "
        "affinity-samesite=None affinity-conditional-samesite-none=on"))
    modern = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/120.0 Safari/537.36")
    old = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/60.0 Safari/537.36")
    ios12 = ("Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) "
             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 "
             "Mobile/15E148 Safari/604.1")
    sc = ask(r, headers={"User-Agent": modern})[1]
    assert sc.endswith("; Path=/; Secure; HttpOnly; SameSite=None"), sc
    for ua in (old, ios12):
        sc = ask(r, headers={"User-Agent": ua})[1]
        assert sc.endswith("; Path=/; Secure; HttpOnly"), sc


@pytest.mark.parametrize("mode", ["balanced", "persistent"])
def test_requests_with_the_cookie_stay_on_one_backend(nginx_factory,
                                                      cluster_dns,
                                                      http_backend, mode):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port, f"affinity=cookie:route affinity-mode={mode}"))
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers")
    # without the cookie, requests spread over the backends
    assert len({ask(r)[0] for _ in range(30)}) >= 2
    for n in (100, 20, 20):
        first, sc = ask(r)
        cookie = "route=" + value_of(sc)
        # n requests with it (new connections: both workers): one backend,
        # and no new cookie
        seen = [ask(r, "a=1; " + cookie + "; b=2") for _ in range(n)]
        assert {who for who, _ in seen} == {first}
        assert all(sc is None for _, sc in seen)


def test_persistent_cookie_names_the_peer_by_upstream_and_address(
        nginx_factory, cluster_dns, http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port, "affinity=cookie:route affinity-mode=persistent"))
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers")
    for _ in range(10):
        who, sc = ask(r)
        addr = ADDRS[int(who[1])]
        assert value_of(sc) == f"{peer_key('ua', addr, bs[0].port)}." \
                               f"{tag('ua')}"
    # a cookie made here, not by nginx, is honoured: nothing per process
    for i, addr in enumerate(ADDRS):
        cookie = f"route={peer_key('ua', addr, bs[0].port)}.{tag('ua')}"
        assert ask(r, cookie) == (f"b{i}", None)


@pytest.mark.parametrize("mode", ["balanced", "persistent"])
def test_the_cookie_survives_a_table_swap_and_a_restart(nginx_factory,
                                                        cluster_dns,
                                                        http_backend, mode):
    bs = backends(cluster_dns, http_backend)
    words = f"affinity=cookie:route affinity-mode={mode}"
    r = Router(nginx_factory, cluster_dns,
               affinity_table("v1", bs[0].port, words))
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers")
    cookies = {}
    while len(cookies) < 2:
        who, sc = ask(r)
        cookies[who] = "route=" + value_of(sc)
    workers = sorted(r.nginx.worker_pids())
    r.swap(affinity_table("v2", bs[0].port, words + " affinity-max-age=60")
           + "prefix /other ua\n", "v2")
    assert sorted(r.nginx.worker_pids()) == workers       # no reload
    for who, cookie in cookies.items():
        assert {ask(r, cookie) for _ in range(20)} == {(who, None)}
    r.nginx.stop()
    r.nginx.start()
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers again")
    for who, cookie in cookies.items():
        assert {ask(r, cookie) for _ in range(20)} == {(who, None)}


def test_a_cookie_for_a_backend_that_is_gone_moves(nginx_factory,
                                                  cluster_dns, http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port, "affinity=cookie:route affinity-mode=persistent"))
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers")
    gone = f"route={peer_key('ua', ADDRS[2], bs[0].port)}.{tag('ua')}"
    assert ask(r, gone) == ("b2", None)
    cluster_dns.set(name("shop"), *ADDRS[:2])
    wait_for(lambda: all_peers_resolved(r, 2), timeout=15,
             what="the third peer removed")
    who, sc = ask(r, gone)
    assert who in ("b0", "b1") and sc is not None
    moved = "route=" + value_of(sc)
    assert {ask(r, moved) for _ in range(20)} == {(who, None)}


def test_balanced_sessions_move_only_from_a_removed_backend(
        nginx_factory, cluster_dns, http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port, "affinity=cookie:route"))
    wait_for(lambda: all_peers_resolved(r, 3), what="three peers")
    sessions = {}
    for _ in range(60):
        who, sc = ask(r)
        sessions["route=" + value_of(sc)] = who
    assert set(sessions.values()) == {"b0", "b1", "b2"}
    cluster_dns.set(name("shop"), *ADDRS[:2])
    wait_for(lambda: all_peers_resolved(r, 2), timeout=15,
             what="the third peer removed")
    for cookie, was in sessions.items():
        who, sc = ask(r, cookie)
        assert sc is None                   # the key still ranks the peers
        if was != "b2":
            assert who == was               # only b2's sessions move
        else:
            assert who in ("b0", "b1")


@pytest.mark.parametrize("change", [False, True])
def test_a_failing_backend_moves_the_cookie_only_with_change_on_failure(
        nginx_factory, cluster_dns, http_backend, change):
    bs = backends(cluster_dns, http_backend)
    dead = "127.0.0.5"                      # nothing listens: refused
    cluster_dns.set(name("shop"), *ADDRS, dead)
    words = "affinity=cookie:route affinity-mode=persistent"
    if change:
        words += " affinity-change-on-failure=on"
    r = Router(nginx_factory, cluster_dns,
               affinity_table("v1", bs[0].port, words))
    wait_for(lambda: all_peers_resolved(r, 4), what="four peers")
    cookie = f"route={peer_key('ua', dead, bs[0].port)}.{tag('ua')}"
    # the first attempt fails, the next peer answers; then the peer is
    # failed (max_fails=1) and not tried at all
    for _ in range(2):
        who, sc = ask(r, cookie)
        assert who in ("b0", "b1", "b2")
        if change:
            assert sc is not None and value_of(sc) == \
                f"{peer_key('ua', ADDRS[int(who[1])], bs[0].port)}." \
                f"{tag('ua')}"
        else:
            assert sc is None


def test_hostile_cookie_values_are_only_a_miss(nginx_factory, cluster_dns,
                                               http_backend):
    bs = backends(cluster_dns, http_backend)
    r = Router(nginx_factory, cluster_dns, affinity_table(
        "v1", bs[0].port, "affinity=cookie:route affinity-mode=persistent"))
    good = peer_key("ua", ADDRS[0], bs[0].port)
    for value in ["", "x", "z" * 25, good.upper() + "." + tag("ua"),
                  good + "." + tag("ua") + "0", good + "-" + tag("ua"),
                  good + ".%08x" % (zlib.crc32(b"ua") ^ 1),
                  "0" * 16 + "." + tag("ua"), "../../etc/passwd",
                  "a" * 3000, "%00" * 25, good[:-1] + "g." + tag("ua")]:
        who, sc = ask(r, "route=" + value)
        assert who in ("b0", "b1", "b2") and sc is not None, value


def test_canary_sticky_keeps_each_cookie_on_its_upstream_legacy_does_not(
        nginx_factory, cluster_dns, http_backend):
    main = http_backend(ADDRS[0], name="main")
    canary = http_backend(ADDRS[1], port=main.port, name="canary")
    cluster_dns.set(name("shop"), ADDRS[0])
    cluster_dns.set(name("shop2"), ADDRS[1])
    base = "affinity=cookie:route affinity-mode=persistent"
    r = Router(nginx_factory, cluster_dns,
               affinity_table("v1", main.port, base, canary=True))
    who, sc = ask(r)
    assert who == "main"
    to_main = "route=" + value_of(sc)
    r.swap(affinity_table("v2", main.port, base + " canary=uc "
                          "canary-weight=100", canary=True), "v2")
    # sticky (the default): the main's cookie keeps the request there
    assert {ask(r, to_main) for _ in range(20)} == {("main", None)}
    who, sc = ask(r)
    assert who == "canary" and value_of(sc).endswith("." + tag("uc"))
    to_canary = "route=" + value_of(sc)
    r.swap(affinity_table("v3", main.port, base + " canary=uc "
                          "canary-weight=0", canary=True), "v3")
    assert {ask(r, to_canary) for _ in range(20)} == {("canary", None)}
    # legacy: the canary's rules decide, the cookie only within the upstream
    r.swap(affinity_table("v4", main.port, base + " canary=uc "
                          "canary-weight=100 affinity-canary=legacy",
                          canary=True), "v4")
    who, sc = ask(r, to_main)
    assert who == "canary" and value_of(sc).endswith("." + tag("uc"))


def test_bad_affinity_words_fail_nginx_t_with_the_line(nginx_factory,
                                                       cluster_dns):
    cases = [
        ("prefix /x ua affinity=route\n", 'invalid affinity "route"'),
        ("prefix /x ua affinity=cookie:\n", 'invalid affinity "cookie:"'),
        ("prefix /x ua affinity=cookie:a;b\n", "invalid affinity"),
        ("prefix /x ua affinity=cookie:" + "a" * 65 + "\n",
         "invalid affinity"),
        ("prefix /x ua affinity-max-age=10\n",
         'affinity words without "affinity=cookie:NAME"'),
        ("prefix /x ua affinity=cookie:a affinity=cookie:b\n",
         '"affinity" twice'),
        ("prefix /x ua affinity=cookie:a affinity-mode=sticky\n",
         'invalid "affinity-mode" value "sticky"'),
        ("prefix /x ua affinity=cookie:a affinity-samesite=lax\n",
         'invalid "affinity-samesite" value "lax"'),
        ("prefix /x ua affinity=cookie:a affinity-max-age=-1\n",
         'invalid "affinity-max-age"'),
        ("prefix /x ua affinity=cookie:a affinity-expires=12345678901\n",
         'invalid "affinity-expires"'),
        ("prefix /x ua affinity=cookie:a affinity-path=x\n",
         'invalid "affinity-path"'),
        ("prefix /x ua affinity=cookie:a affinity-path=/a;b\n",
         'invalid "affinity-path"'),
        ("prefix /x ua affinity=cookie:a affinity-domain=a..b\n",
         'invalid "affinity-domain"'),
        ("prefix /x ua affinity=cookie:a affinity-secure=yes\n",
         'invalid "affinity-secure"'),
        ("prefix /x ua affinity=cookie:a affinity-canary=always\n",
         'invalid "affinity-canary"'),
        ("prefix /x - affinity=cookie:a\n", "affinity needs an upstream"),
        ("regex /x/(.*) ua affinity=cookie:a\n",
         'affinity needs "affinity-path="'),
        ("prefix /x blk affinity=cookie:a\n",
         "affinity needs table upstreams"),
        ("prefix /x ua canary=blk affinity=cookie:a\n",
         "affinity needs table upstreams"),
    ]
    for rule, message in cases:
        port, sport = testbed.free_port(), testbed.free_port()
        n = nginx_factory(conf(cluster_dns.server, port, sport,
                               extra="upstream blk { server 127.0.0.1:9; }\n"),
                          start=False)
        path = os.path.join(n.prefix, "conf", "routes")
        write_routes(path, "portico-routes 2\nversion v1\n"
                     f"upstream ua {name('shop')}:80\n"
                     "host example.com\n" + rule)
        out = n.test_config()
        assert out.returncode != 0, rule
        assert message in out.stdout and f"{path}:5" in out.stdout, \
            (rule, out.stdout)
