"""Regex rules and rewrites of the route table (docs/routes.md, "regex"
rules and the "rewrite=" word) against real nginx: a "regex P" rule
matches as ingress-nginx's location ~* "^P" (PCRE2, caseless, anchored at
the start only), in file order with the prefix and plain rules; "rewrite="
is nginx's "rewrite P T break" (the URI the backend gets, arguments kept);
bad patterns and words fail nginx -t with FILE:LINE and are kept out at
runtime; a pattern that backtracks past the match limits is "no match",
never a stalled worker."""
import time

import pytest

from testbed.fixtures_module import wait_for
from test_module_routes import Backends, _checked, _router, _table


def sent(r, path, host="example.com"):
    """(backend, URI it received) or the status code."""
    code, _, body = r.get(path, host)
    if code != 200:
        return code
    name, _, uri = body.split()
    return name, uri


def test_regex_rule_matches_caseless_from_the_start_only(nginx_factory):
    be = Backends(nginx_factory, "abc")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "regex /api/v[0-9]+/ a\n"
        "prefix /api b\n"
        "default c\n"))
    assert sent(r, "/api/v2/users") == ("a", "/api/v2/users")
    assert sent(r, "/API/V10/x") == ("a", "/API/V10/x")
    # anchored at the start, open at the end (no "$" added)
    assert sent(r, "/x/api/v2/") == ("c", "/x/api/v2/")
    assert sent(r, "/api/vx/") == ("b", "/api/vx/")
    # matched against the normalised URI, as nginx's locations are
    assert sent(r, "/api//v3/../v4/") == ("a", "/api//v3/../v4/")


def test_rules_are_tried_in_file_order_first_match_wins(nginx_factory):
    """As ingress-nginx's regex locations: the controller writes them
    longest first; the module takes the first that matches."""
    be = Backends(nginx_factory, "abc")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "regex /foo/bar/[A-Z0-9]{3} a\n"
        "regex /foo/bar/bar b\n"
        "exact /foo/bar/bar c\n"))
    # the exact rule is still tried first
    assert sent(r, "/foo/bar/bar")[0] == "c"
    # ingress-nginx's documented warning: the regex written first wins
    assert sent(r, "/foo/bar/barx")[0] == "a"
    assert sent(r, "/foo/bar/ba") == 404


@pytest.mark.parametrize("uri,want", [
    ("/something", "/"),
    ("/something/", "/"),
    ("/something/new", "/new"),
    ("/SomeThing/new/deeper?x=1&y=2", "/new/deeper?x=1&y=2"),
    ("/something/a%20b", "/a%20b"),
    ("/somethingelse", 404),
])
def test_rewrite_target_of_ingress_nginx_documented_example(nginx_factory,
                                                             uri, want):
    """docs/examples/rewrite of ingress-nginx: path /something(/|$)(.*),
    rewrite-target /$2."""
    be = Backends(nginx_factory, "a")
    r = _router(nginx_factory, be, _table(
        "host rewrite.bar.com\n"
        "regex /something(/|$)(.*) a rewrite=/$2\n"))
    got = sent(r, uri, host="rewrite.bar.com")
    assert got == (want if want == 404 else ("a", want))


def test_rewrite_with_captures_literals_unset_groups_and_profile(
        nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "regex /shop/(item|cart)(/(.*))? a @portico_p1 "
        "rewrite=/v2/$1/x$3/$0$9\n"
        "regex /(a|b)/(.*) b rewrite=/$2\n"),
        profiles={"portico_p1": "client_max_body_size 1k;"})
    assert sent(r, "/shop/item/7") == ("a", "/v2/item/x7//shop/item/7")
    assert sent(r, "/shop/cart") == ("a", "/v2/cart/x//shop/cart")
    # an alternation at the top: the rewrite matches P without the anchor,
    # as nginx's "rewrite P T" does
    assert sent(r, "/a/q") == ("b", "/q")
    # the profile applies to the rewritten request
    assert r.get("/shop/item/1", method="POST", body=b"x" * 4096)[0] == 413


def test_bad_patterns_and_words_fail_nginx_t_with_the_line(nginx_factory):
    be = Backends(nginx_factory, "a")
    cases = [
        ("regex /(unclosed a\n", "pcre2_compile() failed: missing closing "
         "parenthesis"),
        ("regex /x a rewrite=nope\n", 'invalid rewrite "nope", "/" first'),
        ("regex /x a rewrite=/$x\n", '"$" takes one digit'),
        ("regex /x a rewrite=/$\n", '"$" takes one digit'),
        ("prefix /x a rewrite=/y\n", '"rewrite=" needs a "regex" rule'),
        ("regex /x a rewrite=/y rewrite=/z\n", 'invalid word "rewrite=/z"'),
        ("regex /x a bogus=1\n", 'invalid word "bogus=1"'),
        ("regex x a\n", "invalid path"),
    ]
    for line, reason in cases:
        rc, out, path = _checked(nginx_factory, be,
                                 _table("host example.com\n" + line))
        assert rc != 0, line
        assert reason in out and f"{path}:4" in out, (line, out)


def test_a_bad_regex_at_runtime_keeps_the_table(nginx_factory):
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\nregex /a/(.*) a rewrite=/$1\n", version="v1"))
    r.swap(_table("host example.com\nregex /a(.*)[ b\n", version="v2"))
    wait_for(lambda: f"in {r.table}:4, keeping version v1" in
             r.nginx.error_log(), what="the error")
    assert "pcre2_compile() failed" in r.nginx.error_log()
    assert sent(r, "/a/z") == ("a", "/z")


def test_a_pattern_past_the_match_limit_is_no_match_not_a_stall(
        nginx_factory):
    """(a+)+$ backtracks 2^n ways on "a...a!": without limits one request
    of 40 letters would hold the worker for hours. With them it is no
    match (the next rule answers), logged once, and the worker serves."""
    be = Backends(nginx_factory, "ab")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "regex /(a+)+$ a\n"
        "prefix / b\n"))
    assert sent(r, "/aaaa")[0] == "a"
    t0 = time.monotonic()
    for n in range(20):
        assert sent(r, "/" + "a" * (40 + n) + "!")[0] == "b"
    took = time.monotonic() - t0
    assert took < 10, took      # a sanity bound, not a speed goal
    log = r.nginx.error_log()
    assert log.count('regex "/(a+)+$" treated as no match') == 1, log
    assert sent(r, "/aaaaa")[0] == "a"
