"""Canary releases in the route table (docs/routes.md, the "canary=" words)
against real nginx, with ingress-nginx's precedence (its balancer.lua):
the header decides first ("always", "never", the exact value, or a match
of the pattern), then the cookie ("always", "never"), then the weight; a
header or cookie with another value has no say. The canary goes through
the rule's profile and rewrite; bad words fail nginx -t with FILE:LINE."""
import pytest

from testbed.fixtures_module import http_request
from test_module_routes import Backends, _checked, _router, _table


def backend(r, path="/shop", headers=None, host="example.com"):
    code, _, body = http_request(r.port, path, host=host, headers=headers)
    return body.split()[0] if code == 200 else code


def test_header_then_cookie_then_weight_decide(nginx_factory):
    be = Backends(nginx_factory, "mc")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "prefix /shop m canary=c canary-header=X-Canary "
        "canary-cookie=beta\n"))
    assert backend(r) == "m"                    # weight 0: never by chance
    assert backend(r, headers={"X-Canary": "always"}) == "c"
    assert backend(r, headers={"x-canary": "always"}) == "c"  # any case
    assert backend(r, headers={"X-Canary": "never"}) == "m"
    assert backend(r, headers={"X-Canary": "yes"}) == "m"
    assert backend(r, headers={"Cookie": "a=1; beta=always"}) == "c"
    # the header comes first, then the cookie
    assert backend(r, headers={"X-Canary": "never",
                               "Cookie": "beta=always"}) == "m"
    assert backend(r, headers={"X-Canary": "other",
                               "Cookie": "beta=always"}) == "c"
    assert backend(r, headers={"Cookie": "beta=never"}) == "m"
    # another rule of the host is not a canary
    assert backend(r, "/other", headers={"X-Canary": "always"}) == 404


def test_header_value_and_pattern(nginx_factory):
    be = Backends(nginx_factory, "mc")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "prefix /v m canary=c canary-header=Region canary-header-value=eu-1 "
        "canary-cookie=beta\n"
        "prefix /p m canary=c canary-header=User "
        "canary-header-pattern=^(alice|bob)$\n"))
    assert backend(r, "/v", {"Region": "eu-1"}) == "c"
    assert backend(r, "/v", {"Region": "EU-1"}) == "m"     # exact, as Lua
    # with a value, "always" is just another value: no say, then the cookie
    assert backend(r, "/v", {"Region": "always"}) == "m"
    assert backend(r, "/v", {"Region": "never",
                             "Cookie": "beta=always"}) == "c"
    assert backend(r, "/p", {"User": "bob"}) == "c"
    assert backend(r, "/p", {"User": "Bob"}) == "m"        # case-sensitive
    assert backend(r, "/p", {"User": "bobby"}) == "m"
    assert backend(r, "/p") == "m"


@pytest.mark.parametrize("words,low,high", [
    ("canary-weight=0", 0, 0),
    ("canary-weight=100", 400, 400),
    ("canary-weight=25", 60, 140),              # expected 100 of 400
    ("canary-weight=1/4", 60, 140),
    ("canary-weight=250/1000", 60, 140),
])
def test_weight_splits_requests(nginx_factory, words, low, high):
    be = Backends(nginx_factory, "mc")
    r = _router(nginx_factory, be, _table(
        f"host example.com\nprefix /shop m canary=c {words}\n"))
    to_canary = sum(backend(r) == "c" for _ in range(400))
    assert low <= to_canary <= high, to_canary


def test_canary_keeps_the_rules_profile_and_rewrite(nginx_factory):
    be = Backends(nginx_factory, "mc")
    r = _router(nginx_factory, be, _table(
        "host example.com\n"
        "regex /app(/|$)(.*) m @portico_p1 rewrite=/$2 canary=c "
        "canary-weight=100\n"),
        profiles={"portico_p1": "client_max_body_size 1k;"})
    code, _, body = http_request(r.port, "/app/x?q=1", host="example.com")
    assert (code, body.split()[0], body.split()[2]) == (200, "c", "/x?q=1")
    code = http_request(r.port, "/app/x", host="example.com",
                        method="POST", body=b"x" * 4096)[0]
    assert code == 413


def test_a_swap_moves_traffic_to_and_from_the_canary(nginx_factory):
    from testbed.fixtures_module import wait_for
    be = Backends(nginx_factory, "mc")
    r = _router(nginx_factory, be, _table(
        "host example.com\nprefix /shop m\n", version="v1"))
    assert backend(r) == "m"
    r.swap(_table("host example.com\nprefix /shop m canary=c "
                  "canary-weight=100\n", version="v2"))
    wait_for(lambda: backend(r) == "c", what="the canary after the swap")
    r.swap(_table("host example.com\nprefix /shop m canary=c "
                  "canary-weight=0\n", version="v3"))
    wait_for(lambda: backend(r) == "m", what="the main after the swap")


def test_bad_canary_words_fail_nginx_t_with_the_line(nginx_factory):
    be = Backends(nginx_factory, "mc")
    cases = [
        ("prefix /x m canary=nosuch\n", 'unknown canary upstream "nosuch"'),
        ("prefix /x m canary-weight=10\n",
         'canary words without "canary=UPSTREAM"'),
        ("prefix /x m canary=c canary-weight=101\n",
         'invalid canary-weight "101"'),
        ("prefix /x m canary=c canary-weight=5/0\n",
         'invalid canary-weight "5/0"'),
        ("prefix /x m canary=c canary-weight=-1\n",
         'invalid canary-weight "-1"'),
        ("prefix /x m canary=c canary=c\n", '"canary" twice'),
        ("prefix /x m canary=c canary-header-value=a\n",
         'need "canary-header="'),
        ("prefix /x m canary=c canary-header=H canary-header-value=a "
         "canary-header-pattern=b\n", "not both"),
        ("prefix /x m canary=c canary-header=H canary-header-pattern=(a\n",
         "missing closing parenthesis"),
        ("prefix /x m canary=c canary-cookie=\n", 'empty "canary-cookie"'),
        ("prefix /x m canary=c canary-bogus=1\n",
         'invalid word "canary-bogus=1"'),
    ]
    for line, reason in cases:
        rc, out, path = _checked(nginx_factory, be,
                                 _table("host example.com\n" + line))
        assert rc != 0, line
        assert reason in out and f"{path}:4" in out, (line, out)
