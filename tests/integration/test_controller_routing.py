"""The routing annotations with the real controller, nginx and module
(local mode): use-regex and rewrite-target as ingress-nginx documents them
(docs/examples/rewrite, docs/user-guide/ingress-path-matching.md),
compared request by request with a plain reading of those documents; their
refusals; a change is a table swap, not a reload."""
import random
import re

import pytest

from testbed.controller import eventually
# The local-mode controller, manifests and fixtures.
from test_controller_local import (LocalController, backends, ctl,  # noqa: F401
                                   ingress, service)

NGINX = "nginx.ingress.kubernetes.io"
DAY = "2026-01-0{}T00:00:00Z"


def path_ingress(name, host, paths, ctl, annotations=None, day=1):
    """paths: [(path, type, backend name)]."""
    return ingress(name, [(host, [(p, t, s, ctl.ports[s])
                                  for p, t, s in paths])],
                   annotations=annotations, created=DAY.format(day))


def sent(ctl, host, uri):
    """(backend, the request target it received) or the status."""
    r = ctl.get(host, uri)
    if r.status != 200:
        return r.status
    seen = r.json()
    return seen["name"], seen["path"]


# --- a plain reading of ingress-nginx's documentation ----------------------

class Reference:
    """What ingress-nginx's documents say a host does: when any Ingress of
    the host has use-regex "true" or a rewrite-target other than its path,
    every path of the host is a location ~* "^PATH" (case-insensitive,
    anchored at the start only); locations are ordered by descending path
    length (then by path, descending); the first that matches wins; a
    location of an Ingress with a rewrite-target runs
    rewrite "(?i)PATH" TARGET break: the URI becomes TARGET with $N the
    groups of the match, the arguments stay."""

    def __init__(self):
        self.locations = []     # (path, backend, rewrite target or None)

    def add(self, paths, annotations=None):
        a = annotations or {}
        target = a.get(f"{NGINX}/rewrite-target")
        for p, _type, backend in paths:
            self.locations.append(
                (p, backend, target if target and target != p else None))

    def route(self, uri):
        path, _, args = uri.partition("?")
        order = sorted(self.locations, key=lambda x: x[0], reverse=True)
        order = sorted(order, key=lambda x: len(x[0]), reverse=True)
        for p, backend, target in order:
            if not re.match(p, path, re.IGNORECASE):
                continue
            if target is None:
                return backend, uri
            m = re.search(p, path, re.IGNORECASE)
            new = re.sub(r"\$(\d)",
                         lambda g: m.group(int(g.group(1))) or ""
                         if int(g.group(1)) <= m.re.groups else "", target)
            return backend, new + ("?" + args if args else "")
        return 404


REWRITE_EXAMPLE = {f"{NGINX}/use-regex": "true",
                   f"{NGINX}/rewrite-target": "/$2"}


def test_the_rewrite_example_of_ingress_nginx(ctl):
    """docs/examples/rewrite: /something(/|$)(.*) with rewrite-target /$2
    sends /something and /something/ as /, /something/new as /new."""
    ctl.write("rewrite", path_ingress(
        "rewrite", "rewrite.bar.com",
        [("/something(/|$)(.*)", "ImplementationSpecific", "alpha")], ctl,
        REWRITE_EXAMPLE))
    eventually(lambda: ctl.get("rewrite.bar.com", "/something").status
               == 200)
    ctl.settled()
    assert sent(ctl, "rewrite.bar.com", "/something") == ("alpha", "/")
    assert sent(ctl, "rewrite.bar.com", "/something/") == ("alpha", "/")
    assert sent(ctl, "rewrite.bar.com", "/something/new") == \
        ("alpha", "/new")
    assert sent(ctl, "rewrite.bar.com", "/SOMETHING/new?a=1") == \
        ("alpha", "/new?a=1")
    assert sent(ctl, "rewrite.bar.com", "/somethingelse") == 404
    assert "regex /something(/|$)(.*) " in ctl.routes()
    assert " rewrite=/$2 " in ctl.routes()


def test_a_regex_host_matches_every_path_as_ingress_nginx_orders_them(ctl):
    """docs/user-guide/ingress-path-matching.md: a rewrite-target on one
    Ingress makes every path of the host a case-insensitive regex, longest
    first; and its warning: a regex written longer wins over the exact
    text of a shorter path."""
    ctl.write("one", path_ingress("one", "test.com", [
        ("/foo/bar", "Prefix", "alpha")], ctl, day=1))
    ctl.write("two", path_ingress("two", "test.com", [
        ("/foo/bar/(.+)", "ImplementationSpecific", "beta")], ctl,
        {f"{NGINX}/rewrite-target": "/$1"}, day=2))
    ctl.write("three", path_ingress("three", "test3.com", [
        ("/foo/bar/bar", "Prefix", "alpha"),
        ("/foo/bar/[A-Z0-9]{3}", "ImplementationSpecific", "gamma")], ctl,
        {f"{NGINX}/use-regex": "true"}, day=3))
    eventually(lambda: ctl.get("test3.com", "/foo/bar/bar").status == 200)
    ctl.settled()
    assert sent(ctl, "test.com", "/foo/bar/1") == ("beta", "/1")
    assert sent(ctl, "test.com", "/foo/bar") == ("alpha", "/foo/bar")
    # the Prefix of the other Ingress is a regex now: case-insensitive and
    # open at the end
    assert sent(ctl, "test.com", "/FOO/BAR/") == ("alpha", "/FOO/BAR/")
    assert sent(ctl, "test.com", "/foo/barbaz") == ("alpha", "/foo/barbaz")
    # the documented warning
    assert sent(ctl, "test3.com", "/foo/bar/bar") == \
        ("gamma", "/foo/bar/bar")
    assert sent(ctl, "test3.com", "/foo/bar/ba") == 404
    # a host without regex paths keeps the Ingress spec's Prefix
    ctl.write("plain", path_ingress("plain", "plain.com", [
        ("/foo/bar", "Prefix", "alpha")], ctl, day=4))
    ctl.wait_served("plain.com", "/foo/bar/x", "alpha")
    assert ctl.get("plain.com", "/foo/barbaz").status == 404
    assert ctl.get("plain.com", "/FOO/BAR").status == 404


HOSTS = {
    "rewrite.bar.com": [
        ("rw", [("/something(/|$)(.*)", "ImplementationSpecific", "alpha")],
         REWRITE_EXAMPLE),
        ("rwplain", [("/other", "Prefix", "beta")], None)],
    "test.com": [
        ("t1", [("/foo/bar", "ImplementationSpecific", "alpha"),
                ("/foo", "Exact", "gamma")], None),
        ("t2", [("/foo/bar/(.+)", "ImplementationSpecific", "beta")],
         {f"{NGINX}/rewrite-target": "/x/$1"})],
    "api.test.com": [
        ("api", [("/api/v[0-9]+/(users|groups)/?(.*)",
                  "ImplementationSpecific", "alpha"),
                 ("/api/(.*)", "ImplementationSpecific", "beta"),
                 ("/static/.*\\.(css|js)", "ImplementationSpecific",
                  "gamma")],
         {f"{NGINX}/use-regex": "true"})],
}
PIECES = ["something", "SomeThing", "foo", "bar", "api", "v1", "v22",
          "users", "groups", "other", "static", "a.css", "b.js", "x", "",
          "new", "1"]


def test_requests_follow_the_documented_semantics_differentially(ctl):
    """Random URIs on three regex hosts: backend and upstream URI as the
    plain reading of ingress-nginx's documents (Reference) says."""
    refs = {}
    for day, (host, ings) in enumerate(HOSTS.items(), start=1):
        refs[host] = Reference()
        for name, paths, ann in ings:
            ctl.write(name, path_ingress(name, host, paths, ctl, ann,
                                         day=day))
            refs[host].add(paths, ann)
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="served") == 5)
    ctl.settled()
    rng = random.Random(12)
    checked = 0
    for host, ref in refs.items():
        uris = ["/something", "/something/", "/something/new", "/foo/bar",
                "/foo", "/foo/", "/foo/bar/7", "/api/v1/users/9",
                "/api/v2/x", "/static/s/a.css", "/other/1"]
        for _ in range(40):
            n = rng.randint(1, 4)
            uri = "/" + "/".join(rng.choice(PIECES) for _ in range(n))
            if rng.random() < 0.2:
                uri += "?q=" + rng.choice(PIECES)
            uris.append(uri)
        for uri in uris:
            assert sent(ctl, host, uri) == ref.route(uri), (host, uri)
            checked += 1
    assert checked > 150


# --- refusals -------------------------------------------------------------

def refused(ctl, name, reason):
    """The controller's log says Ingress NS/name is rejected with reason."""
    def said():
        return any(f"ingress team/{name} rejected:" in line and
                   reason in line
                   for line in ctl.proc.log_text().splitlines())
    eventually(said, timeout=15)


@pytest.mark.parametrize("ann,path,reason", [
    ({f"{NGINX}/use-regex": "true"}, "/(unclosed",
     "PCRE2 refuses the regular expression"),
    ({f"{NGINX}/use-regex": "true"}, "/(a+)+$",
     "the regular expression is too costly"),
    ({f"{NGINX}/use-regex": "true"}, "/([a-z]+)*$",
     "the regular expression is too costly"),
    ({f"{NGINX}/rewrite-target": "/$2"}, "/x(\\w+\\s?)+$",
     "the regular expression is too costly"),
    ({f"{NGINX}/rewrite-target": "nope"}, "/x", "invalid rewrite target"),
    ({f"{NGINX}/rewrite-target": "/$host"}, "/x",
     "invalid rewrite target"),
    ({f"{NGINX}/rewrite-target": "/$0"}, "/(x)", "'$' takes one digit"),
    ({f"{NGINX}/rewrite-target": "/a?b=1"}, "/x",
     "invalid rewrite target"),
    ({f"{NGINX}/use-regex": "maybe"}, "/x", "use-regex"),
    ({f"{NGINX}/use-regex": "true"}, "/a b", "regular expression path"),
])
def test_bad_regexes_and_rewrite_targets_refuse_the_ingress(ctl, ann, path,
                                                            reason):
    ctl.write("good", path_ingress("good", "good.test", [
        ("/", "Prefix", "alpha")], ctl))
    ctl.write("bad", path_ingress("bad", "bad.test", [
        (path, "ImplementationSpecific", "beta")], ctl, ann))
    refused(ctl, "bad", reason)
    ctl.wait_served("good.test", "/", "alpha")
    assert "bad.test" not in ctl.routes()


def test_regex_characters_need_implementation_specific(ctl):
    ctl.write("bad", path_ingress("bad", "bad.test", [
        ("/a[0-9]", "Prefix", "beta")], ctl, {f"{NGINX}/use-regex": "true"}))
    refused(ctl, "bad", "only letters, digits")


def test_another_ingress_path_refused_as_a_regex_is_left_out_loudly(ctl):
    """A plain path "(" of an older Ingress becomes a regex when a newer
    Ingress makes the host regex: PCRE2 refuses it, so that one location
    is left out with a warning; the rest of the host is served."""
    ctl.write("older", path_ingress("older", "mix.test", [
        ("/a(b", "ImplementationSpecific", "alpha"),
        ("/ok", "Prefix", "alpha")], ctl, day=1))
    ctl.write("newer", path_ingress("newer", "mix.test", [
        ("/r/(.*)", "ImplementationSpecific", "beta")], ctl,
        {f"{NGINX}/rewrite-target": "/$1"}, day=2))
    eventually(lambda: sent(ctl, "mix.test", "/r/z") == ("beta", "/z"))
    ctl.settled()
    assert sent(ctl, "mix.test", "/ok") == ("alpha", "/ok")
    assert ctl.get("mix.test", "/a(b").status == 404
    eventually(lambda: "path /a(b on host mix.test left out" in
               ctl.proc.log_text())


def test_a_new_rewrite_target_is_a_table_swap_not_a_reload(ctl):
    ctl.write("rw", path_ingress("rw", "swap.test", [
        ("/s/(.*)", "ImplementationSpecific", "alpha")], ctl,
        {f"{NGINX}/rewrite-target": "/one/$1"}))
    eventually(lambda: sent(ctl, "swap.test", "/s/x") == ("alpha", "/one/x"))
    before = ctl.settled()
    ctl.write("rw", path_ingress("rw", "swap.test", [
        ("/s/(.*)", "ImplementationSpecific", "alpha")], ctl,
        {f"{NGINX}/rewrite-target": "/two/$1"}))
    eventually(lambda: sent(ctl, "swap.test", "/s/x") == ("alpha", "/two/x"))
    assert ctl.settled() == before


def test_hostile_regex_paths_never_reach_the_route_table(ctl):
    """A regex path is table data: nothing that ends a word or a line, no
    quote, no control byte, nothing longer than a path passes."""
    hostile = ["/a\r\nhost evil.test\nprefix / x", "/a b", '/a"b', "/a;b",
               "/a#b", "/a\tb", "/a\u0000b", "/" + "x" * 1100, "/a`id`"]
    ctl.write("good", path_ingress("good", "good.test", [
        ("/", "Prefix", "alpha")], ctl))
    for n, p in enumerate(hostile):
        ctl.write(f"h{n}", path_ingress(f"h{n}", f"h{n}.test", [
            (p, "ImplementationSpecific", "beta")], ctl,
            {f"{NGINX}/use-regex": "true"}))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(hostile),
               timeout=20)
    ctl.wait_served("good.test", "/", "alpha")
    table = ctl.routes()
    for needle in ("evil", "a b", 'a"b', "a;b", "a#b", "xxxxxxxxxx", "`"):
        assert needle not in table, needle

