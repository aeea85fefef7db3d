"""custom-http-errors and default-backend (ingress-nginx's annotations, its
docs/user-guide/custom-errors.md) with the real controller, nginx and
module (local mode): an upstream answer with a listed code is replaced by
the default backend's answer to a request carrying ingress-nginx's X-*
headers (its status is the client's: the custom-error-pages backend
answers with X-Code); other codes pass unchanged; the default backend
serves a rule whose Service does not exist or does not resolve; grammar
refusals; Ingresses without these annotations are unaffected."""
import http.client
import json
import re

import pytest

from testbed.controller import eventually
from test_controller_local import (LocalController, backends, ctl,  # noqa: F401
                                   ingress, service)
from test_controller_routing import NGINX, path_ingress, refused

ERRORS = {f"{NGINX}/custom-http-errors": "404,503",
          f"{NGINX}/default-backend": "beta"}


@pytest.fixture
def app(ctl, backends):
    """alpha answers with the status of its request's X-Echo-Status; beta,
    the default backend, with X-Code, as ingress-nginx's
    custom-error-pages image does."""
    backends["alpha"].status_header = "X-Echo-Status"
    backends["beta"].status_header = "X-Code"
    return ctl


def ask(ctl, host, uri="/", headers=None):
    """(status, name of the backend that answered or None, the JSON)."""
    c = http.client.HTTPConnection("127.0.0.1", ctl.http_port, timeout=5)
    try:
        c.request("GET", uri, headers={"Host": host, **(headers or {})})
        r = c.getresponse()
        body = r.read()
        try:
            seen = json.loads(body)
        except ValueError:
            return r.status, None, body.decode(errors="replace")
        return r.status, seen.get("name"), seen
    finally:
        c.close()


def test_listed_codes_are_the_default_backends_answer_with_its_headers(app):
    app.write("shop", path_ingress("shop", "err.test", [
        ("/", "Prefix", "alpha")], app, ERRORS))
    eventually(lambda: ask(app, "err.test")[1] == "alpha")
    app.settled()
    assert re.search(r"errors=\S+_team_beta_\d+ service-port=\d+",
                     app.routes())

    status, name, seen = ask(app, "err.test", "/shop/item?id=7", {
        "X-Echo-Status": "404", "Accept": "application/json"})
    assert (status, name) == (404, "beta")
    h = seen["headers"]
    assert h["x-code"] == "404"
    assert h["x-format"] == "application/json"
    assert h["x-original-uri"] == "/shop/item?id=7"
    assert h["x-namespace"] == "team"
    assert h["x-ingress-name"] == "shop"
    assert h["x-service-name"] == "alpha"
    assert h["x-service-port"] == str(app.ports["alpha"])
    assert re.fullmatch(r"[0-9a-f]{32}", h["x-request-id"])
    assert h["host"] == "err.test"
    # ingress-nginx's "rewrite (.*) / break": "/" with the arguments
    assert seen["path"] == "/?id=7"

    status, name, seen = ask(app, "err.test", "/x", {"X-Echo-Status": "503"})
    assert (status, name, seen["headers"]["x-code"]) == (503, "beta", "503")

    # not listed: the upstream's own answer
    status, name, seen = ask(app, "err.test", "/x", {"X-Echo-Status": "500"})
    assert (status, name) == (500, "alpha")
    assert "x-code" not in seen["headers"]
    assert ask(app, "err.test", "/x", {"X-Echo-Status": "410"})[:2] == \
        (410, "alpha")
    assert ask(app, "err.test", "/x")[:2] == (200, "alpha")


def test_an_ingress_without_these_annotations_is_unaffected(app):
    app.write("shop", path_ingress("shop", "err.test", [
        ("/", "Prefix", "alpha")], app, ERRORS))
    app.write("plain", path_ingress("plain", "plain.test", [
        ("/", "Prefix", "alpha")], app, day=2))
    eventually(lambda: ask(app, "plain.test")[1] == "alpha")
    eventually(lambda: ask(app, "err.test", "/",
                           {"X-Echo-Status": "404"})[1] == "beta")
    app.settled()
    for code in ("404", "503"):
        status, name, seen = ask(app, "plain.test", "/p",
                                 {"X-Echo-Status": code})
        assert (status, name) == (int(code), "alpha")
        assert "x-code" not in seen["headers"]
    plain = [l for l in app.routes().splitlines() if "ingress=team/plain" in l]
    assert plain and not any("errors=" in l for l in plain)


def test_the_default_backend_serves_a_service_missing_or_unresolved(app):
    """ingress-nginx sends a request whose Service has no endpoints to the
    default backend: here a Service that does not exist (no upstream) and
    one whose name does not resolve (the module's fallback)."""
    app.write("svc-ghost", service("ghost", 8080))      # not in the DNS
    app.write("shop", ingress("shop", [("fallback.test", [
        ("/missing", "Prefix", "nosuchsvc", 80),
        ("/ghost", "Prefix", "ghost", 8080),
        ("/", "Prefix", "alpha", app.ports["alpha"])])],
        annotations={f"{NGINX}/default-backend": "beta"}))
    eventually(lambda: ask(app, "fallback.test", "/missing/a")[1] == "beta",
               timeout=15)
    status, name, seen = ask(app, "fallback.test", "/missing/a?b=1")
    assert (status, name) == (200, "beta")
    assert seen["path"] == "/missing/a?b=1"    # the request as it came
    eventually(lambda: ask(app, "fallback.test", "/ghost")[:2] ==
               (200, "beta"), timeout=15)
    assert ask(app, "fallback.test", "/")[:2] == (200, "alpha")
    # without the annotation: 503, as before
    app.write("shop", ingress("shop", [("fallback.test", [
        ("/missing", "Prefix", "nosuchsvc", 80),
        ("/", "Prefix", "alpha", app.ports["alpha"])])]))
    eventually(lambda: ask(app, "fallback.test", "/missing")[0] == 503)


def test_without_a_default_backend_nginx_answers_the_listed_codes(app):
    app.write("shop", path_ingress("shop", "bare.test", [
        ("/", "Prefix", "alpha")], app,
        {f"{NGINX}/custom-http-errors": "404"}))
    eventually(lambda: "custom-http-errors without default-backend" in
               app.proc.log_text())
    eventually(lambda: ask(app, "bare.test")[1] == "alpha")
    app.settled()
    status, name, body = ask(app, "bare.test", "/", {"X-Echo-Status": "404"})
    assert (status, name) == (404, None)
    assert "<center>nginx</center>" in body     # nginx's own page
    assert ask(app, "bare.test", "/", {"X-Echo-Status": "503"})[:2] == \
        (503, "alpha")


def test_disable_proxy_intercept_errors_passes_upstream_answers(app):
    app.write("shop", path_ingress("shop", "nointercept.test", [
        ("/", "Prefix", "alpha")], app,
        {**ERRORS, f"{NGINX}/disable-proxy-intercept-errors": "true"}))
    eventually(lambda: ask(app, "nointercept.test")[1] == "alpha")
    app.settled()
    assert ask(app, "nointercept.test", "/",
               {"X-Echo-Status": "404"})[:2] == (404, "alpha")


def test_a_new_default_backend_service_is_a_table_swap(app):
    app.write("shop", path_ingress("shop", "swap.test", [
        ("/", "Prefix", "alpha")], app, ERRORS))
    eventually(lambda: ask(app, "swap.test", "/",
                       {"X-Echo-Status": "404"})[1] == "beta")
    before = app.settled()
    app.write("shop", path_ingress("shop", "swap.test", [
        ("/", "Prefix", "alpha")], app,
        {**ERRORS, f"{NGINX}/default-backend": "gamma"}))
    eventually(lambda: ask(app, "swap.test", "/",
                       {"X-Echo-Status": "404"})[1] == "gamma")
    assert app.settled() == before


def test_new_codes_reload_and_the_same_codes_elsewhere_do_not(app):
    """docs/routes.md, "Reloads that remain": the codes are directives of
    the Ingress's profile; a second Ingress with the same options (another
    namespace's default backend is route table data) reuses it."""
    app.write("shop", path_ingress("shop", "one.test", [
        ("/", "Prefix", "alpha")], app))
    eventually(lambda: ask(app, "one.test")[1] == "alpha")
    plain = app.settled()
    app.write("shop", path_ingress("shop", "one.test", [
        ("/", "Prefix", "alpha")], app, ERRORS))
    eventually(lambda: ask(app, "one.test", "/",
                       {"X-Echo-Status": "404"})[1] == "beta")
    with_errors = app.settled()
    assert with_errors != plain                 # a new profile: a reload
    app.write("two", path_ingress("two", "two.test", [
        ("/", "Prefix", "alpha")], app,
        {**ERRORS, f"{NGINX}/default-backend": "gamma"}, day=2))
    eventually(lambda: ask(app, "two.test", "/",
                       {"X-Echo-Status": "503"})[1] == "gamma")
    assert app.settled() == with_errors         # the same profile: a swap
    assert ask(app, "one.test", "/", {"X-Echo-Status": "503"})[1] == "beta"


@pytest.mark.parametrize("protocol", ["GRPC", "HTTPS"])
def test_error_pages_of_grpc_and_https_profiles_pass_nginx_t(app, protocol):
    """A gRPC profile intercepts with grpc_intercept_errors; the error
    pages proxy plain HTTP to the default backend through the shared
    dispatch, never the profile's own (its TLS or gRPC connections)."""
    app.write("shop", path_ingress("shop", "proto.test", [
        ("/", "Prefix", "alpha")], app,
        {**ERRORS, f"{NGINX}/backend-protocol": protocol}))
    eventually(lambda: "proto.test" in app.routes())
    app.settled()
    conf = app.nginx_conf()
    kind = "grpc" if protocol == "GRPC" else "proxy"
    assert f"{kind}_intercept_errors on; error_page 404 = @" in conf
    assert re.search(r"location @portico_p\w+_e503 \{[^}]* "
                     r"portico_route_errors 503; "
                     r"proxy_pass http://portico_dispatch; \}", conf)
    assert "team/shop left out" not in app.proc.log_text()


@pytest.mark.parametrize("ann,reason", [
    ({f"{NGINX}/custom-http-errors": "404, 503"}, "no spaces"),
    ({f"{NGINX}/custom-http-errors": "399"}, "each code must be 400-599"),
    ({f"{NGINX}/custom-http-errors": "600"}, "each code must be 400-599"),
    ({f"{NGINX}/custom-http-errors": "404,404"}, "a code is listed twice"),
    ({f"{NGINX}/custom-http-errors": "404,"}, "ends with ','"),
    ({f"{NGINX}/custom-http-errors": "not-found"}, "HTTP codes"),
    ({f"{NGINX}/custom-http-errors": ""}, "HTTP codes"),
    ({f"{NGINX}/default-backend": "Errors_Svc"}, "DNS-1123 label"),
    ({f"{NGINX}/default-backend": "other/errors"}, "DNS-1123 label"),
    ({f"{NGINX}/disable-proxy-intercept-errors": "yes"},
     "must be true or false"),
])
def test_grammar_refusals(app, ann, reason):
    app.write("good", path_ingress("good", "good.test", [
        ("/", "Prefix", "alpha")], app))
    app.write("bad", path_ingress("bad", "bad.test", [
        ("/", "Prefix", "beta")], app, ann))
    refused(app, "bad", reason)
    eventually(lambda: ask(app, "good.test")[1] == "alpha")
    assert "bad.test" not in app.routes()
