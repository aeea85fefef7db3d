"""ngx_http_upstream_resolve_module under valgrind: nginx (master and its
worker, which valgrind follows across fork) resolves, serves, follows a
record change and an NXDOMAIN, reloads while resolving and exits; every
process's report must show no invalid access and no definite leak."""
import glob
import os
import re
import signal
import threading
import time

import testbed
from testbed.fixtures_module import (http_get, resolve_conf,
                                     upstream_status, wait_for)

SVC = "web.default.svc.cluster.local"
VALGRIND = "/usr/bin/valgrind"

ERRORS_RE = re.compile(r"ERROR SUMMARY: (\d+) errors")
DEFINITE_RE = re.compile(r"definitely lost: ([\d,]+) bytes")
# nginx core, not the module: each worker leaks its environment array
# (ngx_set_environment() from the worker's init)
SUPPRESSIONS = """{
   nginx_core_worker_environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
}
{
   nginx_core_regex_compile_context
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   ...
   fun:pcre2_compile_context_create_8
   fun:ngx_regex_compile
}
"""
# (the second: nginx 1.22's regex module forgets the PCRE2 compile context
# of the regexes compiled while it reads a configuration, 72 bytes per
# configuration; a plain nginx with one "location ~" loses it the same way)

INVALID_RE = re.compile(r"Invalid (read|write|free)|uninitialised|"
                        r"Mismatched free|overlap")


def _reports(pattern):
    """{path: text} of the finished per-process valgrind logs."""
    out = {}
    for path in glob.glob(pattern):
        with open(path, errors="replace") as f:
            out[path] = f.read()
    return out


def assert_clean(reports):
    """Every valgrind log: no invalid access, 0 errors, nothing definitely
    lost."""
    for path, text in reports.items():
        name = os.path.basename(path)
        assert INVALID_RE.search(text) is None, f"{name}:\n{text[-6000:]}"
        errors = ERRORS_RE.findall(text)
        assert errors and errors[-1] == "0", f"{name}:\n{text[-6000:]}"
        for lost in DEFINITE_RE.findall(text):
            assert lost == "0", f"{name}:\n{text[-6000:]}"


def valgrind_argv(n, tmp_path, suppressions):
    """nginx n's command under valgrind: one log per process in tmp_path
    (valgrind.PID.log), definite leaks are errors, the suppressions
    written next to them."""
    supp = tmp_path / "nginx-core.supp"
    supp.write_text(suppressions)
    return [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--num-callers=30",
            f"--suppressions={supp}",
            f"--log-file={tmp_path / 'valgrind.%p.log'}", *n.cmd()]


def test_valgrind_reports_no_invalid_access_and_no_definite_leak(
        procs, nginx_factory, cluster_dns_factory, nginx_backends,
        slow_backend, tmp_path):
    dns = cluster_dns_factory(ttl=1)
    be = nginx_backends(("127.0.0.2", "127.0.0.3"))
    slow_backend("127.0.0.6", be.port, delay=3.0)
    dns.set(SVC, "127.0.0.2")
    dns.set("slow.cluster.local", "127.0.0.6")
    port, sport = testbed.free_port(), testbed.free_port()
    conf = resolve_conf(dns.server, {
        "web": f"zone web 64k; resolve_server {SVC}:{be.port}; "
               f"resolve_server gone.cluster.local:{be.port}; "
               f"resolve_ttl 1s 1s; keepalive 4;",
        "slow": f"zone slow 64k; resolve_server slow.cluster.local:"
                f"{be.port}; resolve_ttl 1s 1s; keepalive 4;"},
        port, sport, resolver_timeout="1s",
        access_log=tmp_path / "access.log")
    n = nginx_factory(conf, workers=1, start=False)
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    wait_for(lambda: http_get(port, "/web/") == (200, "127.0.0.2\n"),
             timeout=30, what="first resolution under valgrind")
    for _ in range(10):
        assert http_get(port, "/web/") == (200, "127.0.0.2\n")

    dns.set(SVC, "127.0.0.3")
    wait_for(lambda: http_get(port, "/web/") == (200, "127.0.0.3\n"),
             timeout=15, what="record change")

    # a peer removed while a request uses it: zombie, freed by the request
    answer = []
    t = threading.Thread(target=lambda: answer.append(
        http_get(port, "/slow/", timeout=30)))
    t.start()
    wait_for(lambda: upstream_status(sport, "slow")["peers"][0]["conns"],
             timeout=15, what="slow request in flight")
    dns.set("slow.cluster.local", "127.0.0.3")
    wait_for(lambda: upstream_status(sport, "slow")["zombies"] == 1,
             timeout=15, what="zombie")
    t.join(30)
    assert answer == [(200, "127.0.0.6\n")]
    wait_for(lambda: upstream_status(sport, "slow")["zombies"] == 0,
             timeout=15, what="zombie freed")

    # reload with a resolution in flight (DNS paused), then NXDOMAIN
    dns.proc.signal(signal.SIGSTOP)
    wait_for(lambda: upstream_status(sport, "web")["resolve"][0]
             ["resolving_pid"], timeout=15, what="a claim in flight")
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in n.error_log(), timeout=30,
             what="reload")
    dns.proc.signal(signal.SIGCONT)
    dns.remove(SVC)
    wait_for(lambda: http_get(port, "/web/")[0] == 502, timeout=30,
             what="NXDOMAIN")
    dns.set(SVC, "127.0.0.2")
    wait_for(lambda: http_get(port, "/web/") == (200, "127.0.0.2\n"),
             timeout=30, what="name back")

    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    # the master, the first worker and the worker after the reload
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


# nginx core, not the module: a worker's connection array (allocated by
# ngx_event_process_init) is reachable only through the cycle, whose pool
# the worker destroys when it exits; whether a stale register still points
# at it decides if memcheck calls it lost (a plain nginx without any module
# shows the same 983,040 bytes after start, reload and SIGQUIT)
WORKER_CONNECTIONS_SUPPRESSION = """{
   nginx_core_worker_connections_at_exit
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   obj:/usr/sbin/nginx
   obj:/usr/sbin/nginx
   obj:/usr/sbin/nginx
   fun:ngx_spawn_process
}
"""


def test_valgrind_routes_swap_and_named_location_jump_are_clean(
        procs, nginx_factory, tmp_path):
    from testbed.fixtures_module import (http_request, routes_conf,
                                         routes_version, write_routes)
    be_port = testbed.free_port("127.0.0.2")
    backend = nginx_factory(
        f"server {{ listen 127.0.0.2:{be_port}; "
        f"location / {{ return 200 \"a $request_uri\\n\"; }} "
        f"location ~ /nf {{ return 404; }} }}\n"
        f"server {{ listen 127.0.0.3:{be_port}; "
        f"location / {{ return 200 \"b $request_uri\\n\"; }} }}\n"
        f"server {{ listen 127.0.0.4:{be_port}; "
        f"location / {{ return 200 \"e $request_uri $http_x_rule\\n\"; }} }}",
        module=False)
    assert backend
    port, sport = testbed.free_port(), testbed.free_port()
    conf = routes_conf({"a": f"server 127.0.0.2:{be_port}; keepalive 4;",
                        "b": f"server 127.0.0.3:{be_port}; keepalive 4;",
                        "e": f"server 127.0.0.4:{be_port}; keepalive 4;"},
                       port, sport,
                       profiles={"portico_p1": "client_max_body_size 1k;",
                                 "portico_p2": "proxy_intercept_errors on; "
                                 "error_page 404 = @portico_p2_e404;"},
                       # an error page of custom-http-errors (profiles.c)
                       extra_locations="location @portico_p2_e404 { "
                       "proxy_set_header X-Rule $portico_namespace/"
                       "$portico_ingress_name/$portico_service_name/"
                       "$portico_service_port; rewrite ^ / break; "
                       "portico_route_errors 404; "
                       "proxy_pass http://portico_dispatch; }")
    n = nginx_factory(conf, workers=1, start=False)
    table = os.path.join(n.prefix, "conf", "routes")
    head = "portico-routes 1\nversion {}\nhttps-port 8443\n"
    rules = ("host example.com\nexact /p b @portico_p1\nprefix /gone -\n"
             "prefix / a\nhost secure.example.com redirect\nprefix / a\n"
             # more than 16 rules: matched through the index by path
             "host many.example.com\n"
             + "".join(f"prefix /m{i} {'ab'[i % 2]}\nplain /n{i} b\n"
                       for i in range(20)) + "exact /m3/x a\n"
             # regex rules, rewrites, a pattern past the match limit
             "host re.example.com\n"
             "regex /something(/|$)(.*) a rewrite=/$2\n"
             "regex /(x|y)/(.*) b @portico_p1 rewrite=/z/$2\n"
             "regex /(a+)+$ a\n"
             # a canary by header pattern, by cookie and by weight
             "prefix /c a canary=b canary-header=H "
             "canary-header-pattern=^x(y|z) canary-cookie=k "
             "canary-weight=1/2\n"
             "prefix / b\n"
             # a default backend: for a "-" rule and for error pages
             "host err.example.com\n"
             "prefix /gone - errors=e ingress=shop/web service=gone\n"
             "prefix /bare a @portico_p2\n"
             "prefix / a @portico_p2 errors=e service-port=http "
             "ingress=shop/web service=web\n")
    write_routes(table, head.format("v1") + rules)
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    def get(path, host="example.com", **kw):
        code, h, body = http_request(port, path, host=host, timeout=30, **kw)
        return code, h.get("location"), body.split(" ")[0]

    def exercise():
        assert get("/x")[::2] == (200, "a")
        assert get("/p")[::2] == (200, "b")
        assert get("/p", method="POST", body=b"x" * 2000)[0] == 413
        assert get("/gone/1")[0] == 503
        assert get("/y", host="secure.example.com")[:2] == \
            (308, "https://secure.example.com:8443/y")
        assert get("/", host="nowhere.example.com")[0] == 404
        assert get("/m7/y", host="many.example.com")[::2] == (200, "b")
        assert get("/m3/x", host="many.example.com")[::2] == (200, "a")
        assert get("/n19z", host="many.example.com")[::2] == (200, "b")
        assert get("/m7y", host="many.example.com")[0] == 404
        code, _, body = http_request(port, "/Something/new?q=1",
                                     host="re.example.com", timeout=30)
        assert (code, body) == (200, "a /new?q=1\n")
        code, _, body = http_request(port, "/y/w", host="re.example.com",
                                     timeout=30)
        assert (code, body) == (200, "b /z/w\n")
        assert get("/" + "a" * 30 + "!", host="re.example.com")[::2] == \
            (200, "b")
        code, _, body = http_request(port, "/c", host="re.example.com",
                                     headers={"H": "xz"}, timeout=30)
        assert (code, body.split()[0]) == (200, "b")
        code, _, body = http_request(port, "/c", host="re.example.com",
                                     headers={"H": "no",
                                              "Cookie": "k=never"},
                                     timeout=30)
        assert (code, body.split()[0]) == (200, "a")
        code, _, body = http_request(port, "/gone/x", host="err.example.com",
                                     timeout=30)
        assert (code, body) == (200, "e /gone/x \n")
        code, _, body = http_request(port, "/nf?q=1", host="err.example.com",
                                     timeout=30)
        assert (code, body) == (200, "e /?q=1 shop/web/web/http\n")
        assert get("/nf", host="err.example.com")[0] == 200
        # no errors= on the rule: nginx's own page for the code
        assert get("/bare/nf", host="err.example.com")[0] == 404
        assert get("/bare/x", host="err.example.com")[::2] == (200, "a")

    wait_for(lambda: routes_version(sport)[0] == "v1", timeout=30,
             what="nginx under valgrind")
    exercise()

    # a good table, a broken one (kept), a good one again
    write_routes(table, head.format("v2") + rules)
    wait_for(lambda: routes_version(sport)[0] == "v2", timeout=15,
             what="swap to v2")
    write_routes(table, head.format("v3") + rules + "prefix / nosuch\n")
    wait_for(lambda: 'unknown upstream "nosuch"' in n.error_log(),
             timeout=15, what="broken table logged")
    write_routes(table, head.format("v3") + rules + "regex /(x b\n")
    wait_for(lambda: "missing closing parenthesis" in n.error_log(),
             timeout=15, what="broken regex logged")
    write_routes(table, head.format("v4") + rules)
    wait_for(lambda: routes_version(sport)[0] == "v4", timeout=15,
             what="swap to v4")
    exercise()

    # a reload reparses in the master; the zone and a new worker follow
    write_routes(table, head.format("v5") + rules)
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: routes_version(sport)[0] == "v5", timeout=30,
             what="reload with v5")
    exercise()

    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


def test_valgrind_certificate_table_across_1000_swaps_is_clean(
        procs, nginx_factory, tmp_path):
    """ngx_http_portico_ssl_module (docs/certificates.md) under valgrind:
    1000 swaps of the certificate table, each confirmed on
    /certificates-version, with handshakes that load, reuse, evict (cache=2)
    and drop pairs, resume sessions, fail on a broken pair, a broken table
    kept out, and a reload."""
    from testbed import certs, tls
    from testbed.fixtures_module import write_routes

    ca = certs.make_ca()
    cdir = tmp_path / "certs"
    cdir.mkdir()
    default_crt, default_key = certs.self_signed(
        ["default.invalid"], common_name="portico-default").write(cdir, "d")
    hosts = [f"h{i}.example.com" for i in range(4)]
    for i, h in enumerate(hosts):
        certs.make_cert(ca, [h], common_name=f"h{i}").write(cdir, f"h{i}")
    certs.make_cert(ca, ["*.w.example.com"], common_name="w").write(cdir, "w")
    (cdir / "bad.crt").write_text("not a certificate\n")
    (cdir / "bad.key").write_text("not a key\n")
    port, sport = testbed.free_port(), testbed.free_port()
    conf = (f"ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"ssl_session_cache shared:portico_ssl:1m;\n"
            f"portico_certificates certificates dir={cdir} interval=10ms "
            f"cache=2;\n"
            f"server {{ listen 127.0.0.1:{port} ssl default_server;\n"
            f"  ssl_certificate {default_crt};\n"
            f"  ssl_certificate_key {default_key};\n"
            f"  portico_certificate_by_sni;\n"
            f"  location / {{ return 200 \"$ssl_server_name\\n\"; }} }}\n"
            f"server {{ listen 127.0.0.1:{sport};\n"
            f"  location = /certificates-version "
            f"{{ portico_certificates_status; }} }}\n")
    n = nginx_factory(conf, workers=1, start=False)
    table = os.path.join(n.prefix, "conf", "certificates")

    def text(version, k):
        # the hosts of swap k: a rotating subset, so pairs come and go
        lines = ["portico-certificates 1", f"version {version}",
                 "host *.w.example.com w", "host bad.example.com bad"]
        lines += [f"host {h} h{i}" for i, h in enumerate(hosts)
                  if (k + i) % 3]
        return "\n".join(lines) + "\n"

    write_routes(table, text("v0", 0))
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    def version():
        code, body = http_get(sport, "/certificates-version", timeout=30)
        return body.splitlines()[0] if code == 200 else None

    wait_for(lambda: version() == "v0", timeout=30,
             what="nginx under valgrind")
    ctx = tls.client_context()
    session = None
    for k in range(1, 1001):
        write_routes(table, text(f"v{k}", k))
        wait_for(lambda: version() == f"v{k}", timeout=15, interval=0.002,
                 what=f"swap to v{k}")
        if k % 50 == 0:
            for i, h in enumerate(hosts):
                want = f"h{i}" if (k + i) % 3 else "portico-default"
                r = tls.handshake(port, h, context=ctx, timeout=30)
                assert r.cn == want, (k, h)
            assert tls.handshake(port, "x.w.example.com", context=ctx,
                                 timeout=30).cn == "w"
            assert tls.handshake(port, "bad.example.com", context=ctx,
                                 timeout=30).cn == "portico-default"
            r = tls.handshake(port, "x.w.example.com", context=ctx,
                              session=session, timeout=30)
            session = r.session
        if k == 500:
            write_routes(table, "portico-certificates 1\nversion broken\n"
                         "host x\n")
            wait_for(lambda: "keeping version v500" in n.error_log(),
                     timeout=15, what="broken table logged")
    assert r.reused

    # a reload reparses in the master; a new worker follows
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in n.error_log(), timeout=30,
             what="reload")
    assert tls.handshake(port, "h1.example.com", context=ctx,
                         timeout=30).cn in ("h1", "portico-default")

    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


def test_valgrind_client_certificates_across_300_swaps_are_clean(
        procs, nginx_factory, tmp_path):
    """Client certificates (docs/certificates.md) under valgrind: 300 swaps
    that change each host's CA file, mode and cn regex (compiled and freed
    per table, one regex shared by two hosts), CA files evicted (cache=2)
    and one that cannot be used; between swaps, handshakes and requests
    through every path: verified, missing, wrong CA, optional_no_ca,
    subject match and mismatch, a regex stopped at its match limit, the
    error page, 421 for another host's connection and for a connection
    made before a swap, resumed sessions, the variables, plain HTTP,
    verify=deny; a broken table kept out; a reload."""
    import socket
    import ssl
    from testbed import certs
    from testbed.fixtures_module import write_routes
    from test_module_client_certs import (Response, client_context, https,
                                          plain, request_on)

    cdir = tmp_path / "certs"
    cdir.mkdir()
    default_crt, default_key = certs.self_signed(
        ["default.invalid"], common_name="portico-default").write(cdir, "d")
    server_ca = certs.make_ca()
    certs.make_cert(server_ca, ["*.example.com"], common_name="s").write(
        cdir, "s")
    ca1, ca2 = certs.make_ca("CA One"), certs.make_ca("CA Two")
    certs.write_pem(cdir / "ca-1.ca", ca1.cert_pem)
    certs.write_pem(cdir / "ca-2.ca", ca2.cert_pem + certs.make_crl(ca2))
    certs.write_pem(cdir / "ca-3.ca", ca1.cert_pem + ca2.cert_pem)
    (cdir / "ca-bad.ca").write_text("not a certificate\n")
    alice = certs.client_cert(ca1, "alice").write(cdir, "alice")
    bob = certs.client_cert(ca2, "bob").write(cdir, "bob")
    evil = certs.make_cert(None, [], common_name="a" * 30 + "!",
                           server=False, client=True).write(cdir, "evil")
    port, sport, pport = (testbed.free_port(), testbed.free_port(),
                          testbed.free_port())
    echo = ("$portico_ssl_client_verify|$portico_ssl_client_s_dn|"
            "$portico_ssl_client_i_dn|$portico_ssl_client_escaped_cert")
    conf = (f"ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"ssl_session_cache shared:portico_ssl:1m;\n"
            f"portico_certificates certificates dir={cdir} interval=10ms "
            f"cache=2;\n"
            f"server {{ listen 127.0.0.1:{port} ssl default_server;\n"
            f"  listen 127.0.0.1:{pport};\n"
            f"  ssl_certificate {default_crt};\n"
            f"  ssl_certificate_key {default_key};\n"
            f"  portico_certificate_by_sni;\n"
            f"  location / {{ return 200 \"{echo}\"; }}\n"
            f"  location /static {{ root {cdir}; }} }}\n"
            f"server {{ listen 127.0.0.1:{sport};\n"
            f"  location = /certificates-version "
            f"{{ portico_certificates_status; }} }}\n")
    n = nginx_factory(conf, workers=1, start=False)
    table = os.path.join(n.prefix, "conf", "certificates")
    cas = ["ca-1", "ca-2", "ca-3"]

    def text(version, k):
        ca = cas[k % 3]
        mode = ("on", "optional", "optional_no_ca")[(k // 3) % 3]
        cn = ("CN=(alice|bob)$", "CN=alice", "CN=(a%2B)%2B$")[(k // 9) % 3]
        lines = ["portico-certificates 1", f"version {version}",
                 f"host one.example.com s ca={ca} verify={mode} cn={cn} "
                 f"error-page=https://e.example.org/x pass-cert=on",
                 f"host two.example.com s ca={cas[(k + 1) % 3]} verify=on "
                 f"cn={cn} depth=2",
                 "host open.example.com s",
                 "host evil.example.com s ca=ca-1 verify=optional_no_ca "
                 "cn=CN=(a%2B)%2B$",
                 "host deny.example.com - verify=deny",
                 f"host bad.example.com - ca=ca-bad verify=on"]
        return "\n".join(lines) + "\n"

    write_routes(table, text("v0", 0))
    argv = valgrind_argv(n, tmp_path,
                         SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    def version():
        code, body = http_get(sport, "/certificates-version", timeout=30)
        return body.splitlines()[0] if code == 200 else None

    wait_for(lambda: version() == "v0", timeout=30,
             what="nginx under valgrind")
    ctx = {name: client_context(c) for name, c in
           (("alice", alice), ("bob", bob), ("evil", evil), ("none", None))}
    seen = set()
    for k in range(1, 301):
        write_routes(table, text(f"v{k}", k))
        wait_for(lambda: version() == f"v{k}", timeout=15, interval=0.002,
                 what=f"swap to v{k}")
        if k % 25:
            continue
        for who in ("alice", "bob", "evil", "none"):
            r = https(port, "one.example.com", context=ctx[who])
            seen.add(r.status)
            assert r.status in (200, 302, 400, 403), (k, who, r)
            r2 = https(port, "one.example.com", context=ctx[who],
                       session=r.session)
            assert r2.status == r.status or r.status == 400, (k, who, r2)
            r = https(port, "two.example.com", context=ctx[who])
            seen.add(r.status)
            assert r.status in (200, 400, 403), (k, who, r)
        assert https(port, "evil.example.com", context=ctx["evil"]
                     ).status == 403
        assert https(port, "two.example.com", host="one.example.com",
                     context=ctx["bob"]).status == 421
        assert https(port, "open.example.com", context=ctx["alice"]
                     ).status == 200
        assert https(port, "deny.example.com", context=ctx["alice"]
                     ).status == 403
        assert plain(pport, "one.example.com", "/static/x").status in (
            200, 302, 403, 404)
        try:
            https(port, "bad.example.com", context=ctx["alice"])
            assert False, "a CA file that cannot be used refused nothing"
        except (ssl.SSLError, OSError):
            pass
        if k == 150:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=30) as sock:
                with ctx["alice"].wrap_socket(
                        sock, server_hostname="open.example.com") as t:
                    Response(request_on(t, "open.example.com", close=False),
                             0, 0)
                    write_routes(table, text("v150b", 151).replace(
                        "host open.example.com s\n",
                        "host open.example.com s ca=ca-1 verify=on\n"))
                    wait_for(lambda: version() == "v150b", timeout=15,
                             what="open gets client settings")
                    raw = request_on(t, "open.example.com", close=False)
                    assert Response(raw, 0, 0).status == 421
            write_routes(table, "portico-certificates 1\nversion broken\n"
                         "host x.example.com s ca=ca-1 verify=on cn=(\n")
            wait_for(lambda: "keeping version v150b" in n.error_log(),
                     timeout=15, what="broken table logged")
    assert {200, 302, 400, 403} <= seen, seen
    assert "the cn regex of \"evil.example.com\" failed" in n.error_log()

    nginx.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in n.error_log(), timeout=30,
             what="reload")
    assert https(port, "open.example.com", context=ctx["none"]
                 ).status == 200

    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


def test_valgrind_table_upstreams_made_removed_waited_and_seeded_are_clean(
        procs, nginx_factory, cluster_dns, http_backend, tmp_path):
    from testbed.fixtures_module import (http_request, routes_version,
                                         write_routes)
    from test_module_table_upstreams import conf, table
    be = http_backend("127.0.0.2", name="be")
    svc = "svc-{}.default.svc.cluster.local"
    for i in range(4):
        cluster_dns.set(svc.format(i), "127.0.0.2")
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(conf(cluster_dns.server, port, sport,
                           state="state/upstreams", wait="300ms"),
                      workers=1, start=False)
    path = os.path.join(n.prefix, "conf", "routes")
    ups = {f"u{i}": f"{svc.format(i)}:{be.port}" for i in range(4)}
    ups["ip"] = f"127.0.0.2:{be.port}"
    ups["gone"] = f"{svc.format('gone')}:{be.port}"
    routes = [(f"/u{i}", f"u{i}") for i in range(4)] + [
        ("/ip", "ip"), ("/gone", "gone")]
    write_routes(path, table("v1", ups, routes))
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)

    def get(p):
        return http_request(port, p, host="example.com", timeout=30)[0]

    def version(v):
        wait_for(lambda: routes_version(sport)[0] == v, timeout=30,
                 what=f"table {v}")

    def start():
        return procs.start("valgrind-nginx", argv, timeout=60,
                           ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    nginx = start()
    version("v1")
    wait_for(lambda: get("/u3") == 200, timeout=30, what="resolved")
    assert [get(p) for p, _ in routes] == [200] * 5 + [503]

    # swaps: two removed, one changed server, two new (one waited for)
    for v, keep in (("v2", 2), ("v3", 4)):
        ups2 = {k: s for k, s in ups.items() if k not in ("u0", "u1")
                or keep == 4}
        ups2["u2"] = f"{svc.format(3)}:{be.port} max_fails=2"
        ups2[f"new{v}"] = f"{svc.format(0)}:{be.port}"
        routes2 = [(p, u) for p, u in routes if u in ups2]
        write_routes(path, table(v, ups2, routes2 + [(f"/{v}", f"new{v}")]))
        version(v)
        assert get(f"/{v}") == 200
    time.sleep(2.5)            # clean-ups free the removed ones

    # a reload keeps the zone; the state file is written by now
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: get("/v3") == 200, timeout=30, what="after reload")
    wait_for(lambda: os.path.exists(os.path.join(n.prefix, "state",
                                                 "upstreams")),
             timeout=30, what="state file")
    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    # a fresh master seeds the zone from the state file
    cluster_dns.stop()
    nginx = start()
    wait_for(lambda: get("/u3") == 200, timeout=30, what="seeded")
    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 5, list(reports)
    assert_clean(reports)


def test_valgrind_affinity_cookies_issued_read_and_swapped_are_clean(
        procs, nginx_factory, cluster_dns, http_backend, tmp_path):
    """Session affinity (ngx_http_portico_route_affinity.c, the balancer's
    preferred peer) under valgrind: cookies issued in both modes, read
    back, hostile values, a failing peer with change-on-failure, a canary
    by cookie, table swaps that change the words, a reload."""
    from testbed.fixtures_module import (http_request, routes_version,
                                         write_routes)
    from test_module_table_upstreams import conf
    addrs = ["127.0.0.2", "127.0.0.3"]
    be = http_backend(addrs[0], name="b0")
    http_backend(addrs[1], port=be.port, name="b1")
    svc = "shop.default.svc.cluster.local"
    cluster_dns.set(svc, *addrs, "127.0.0.5")          # .5: refused
    cluster_dns.set("shop2.default.svc.cluster.local", addrs[1])
    port, sport = testbed.free_port(), testbed.free_port()
    n = nginx_factory(conf(cluster_dns.server, port, sport), workers=1,
                      start=False)
    path = os.path.join(n.prefix, "conf", "routes")

    def text(v, words):
        return (f"portico-routes 2\nversion {v}\n"
                f"upstream ua {svc}:{be.port}\n"
                f"upstream uc shop2.default.svc.cluster.local:{be.port}\n"
                "host example.com\n"
                f"prefix /p ua affinity=cookie:route {words}\n"
                "regex /r/(.*) ua affinity=cookie:r affinity-path=/r "
                "canary=uc canary-weight=1/2\n"
                "default ua affinity=cookie:d affinity-samesite=None "
                "affinity-conditional-samesite-none=on\n")

    write_routes(path, text("v1", "affinity-mode=persistent "
                                  "affinity-change-on-failure=on "
                                  "affinity-expires=60 affinity-max-age=60"))
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    def get(p, cookie=None, ua=None):
        h = {}
        if cookie:
            h["Cookie"] = cookie
        if ua:
            h["User-Agent"] = ua
        code, hd, _ = http_request(port, p, host="example.com", headers=h,
                                   timeout=30)
        return code, hd.get("set-cookie")

    wait_for(lambda: routes_version(sport)[0] == "v1", timeout=30,
             what="table v1")
    wait_for(lambda: get("/p")[0] == 200, timeout=30, what="resolved")
    cookies = set()
    for p in ("/p", "/r/x", "/other"):
        for _ in range(6):
            code, sc = get(p, ua="Chrome/60")
            assert code == 200 and sc
            cookies.add(sc.split(";")[0])
    for c in cookies:
        assert get("/p", c)[0] == 200 and get("/r/y", c)[0] == 200
    for bad in ("route=", "route=" + "f" * 16 + ".zz", "route=" + "a" * 900,
                "route=" + "0" * 16 + ".00000000"):
        assert get("/p", bad)[0] == 200

    write_routes(path, text("v2", "affinity-path=/ affinity-secure=on"))
    wait_for(lambda: routes_version(sport)[0] == "v2", timeout=30,
             what="table v2")
    for c in cookies:
        assert get("/p", c)[0] == 200
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: get("/p")[0] == 200, timeout=30, what="after reload")
    for c in cookies:
        assert get("/p", c)[0] == 200
    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


def test_valgrind_request_metrics_counted_scraped_capped_and_freed_are_clean(
        procs, nginx_factory, tmp_path):
    """ngx_http_portico_metrics_module (docs/metrics.md) under valgrind:
    requests of many statuses and methods (past the per-Ingress cap into
    the overflow series), a refused upstream, a profile's jump, an
    error_page redirect, no rule, scrapes, swaps that drop rules (freed
    after their grace), a broken table and a reload."""
    from testbed.fixtures_module import (http_request, routes_conf,
                                         routes_version, write_routes)
    be_port = testbed.free_port("127.0.0.2")
    codes = (200, 201, 301, 404, 418, 500)
    backend = nginx_factory(
        f"server {{ listen 127.0.0.2:{be_port}; "
        + "".join(f"location = /s/{c} {{ return {c}; }} " for c in codes)
        + "location = /p/fail { return 500; } "
        + "location / { return 200 \"a\\n\"; } }", module=False)
    assert backend
    closed = testbed.free_port()
    port, sport = testbed.free_port(), testbed.free_port()
    conf = routes_conf({"a": f"server 127.0.0.2:{be_port}; keepalive 4;",
                        "down": f"server 127.0.0.1:{closed};"},
                       port, sport,
                       profiles={"portico_p1": "proxy_intercept_errors on; "
                                 "error_page 500 = /sorry;"},
                       extra_locations='location = /sorry { return 200 '
                                       '"sorry\\n"; }')
    conf = ("portico_metrics zone=1m max_series_per_ingress=3 grace=1s;\n"
            + conf.replace("  location = /upstreams",
                           "  location = /metrics { portico_metrics_status; }"
                           "\n  location = /upstreams"))
    n = nginx_factory(conf, workers=1, start=False)
    table = os.path.join(n.prefix, "conf", "routes")
    head = "portico-routes 1\nversion {}\n"
    rules = ("host example.com\n"
             "prefix /s a ingress=shop/web service=web\n"
             "prefix /p a @portico_p1 ingress=shop/p service=web\n"
             "prefix /down down ingress=shop/down service=down\n"
             "exact /gone - ingress=shop/gone service=gone\n"
             "host *.example.org\ndefault a ingress=apps/any.one\n")
    old = "host old.example.com\nprefix / a ingress=shop/old service=web\n"
    write_routes(table, head.format("v1") + rules + old)
    argv = valgrind_argv(n, tmp_path, SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)
    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", sport))

    def get(path, host="example.com", **kw):
        return http_request(port, path, host=host, timeout=30, **kw)[0]

    def scrape():
        code, _, text = http_request(sport, "/metrics", timeout=60)
        assert code == 200
        return text

    def exercise():
        for c in codes:
            for m in ("GET", "POST", "PUT"):
                assert get(f"/s/{c}", method=m) == c
        assert get("/p/x") == 200
        assert get("/p/fail") == 200        # error_page: an internal redirect
        assert get("/down/x") == 502
        assert get("/gone") == 503
        assert get("/x", host="a.example.org") == 200
        assert get("/x", host="nowhere.example.net") == 404
        assert get("/x", host="old.example.com") in (200, 404)
        assert "portico_requests_total{" in scrape()

    wait_for(lambda: routes_version(sport)[0] == "v1", timeout=30,
             what="nginx under valgrind")
    exercise()

    # drop a rule, break a table, scrape past the grace: the route is freed
    write_routes(table, head.format("v2") + rules)
    wait_for(lambda: routes_version(sport)[0] == "v2", timeout=15,
             what="swap to v2")
    write_routes(table, head.format("v3") + rules + "prefix / nosuch\n")
    wait_for(lambda: 'unknown upstream "nosuch"' in n.error_log(),
             timeout=15, what="broken table logged")
    write_routes(table, head.format("v3") + rules + "regex /(x b\n")
    wait_for(lambda: "missing closing parenthesis" in n.error_log(),
             timeout=15, what="broken regex logged")
    exercise()
    wait_for(lambda: 'ingress="old"' not in scrape(), timeout=30,
             interval=1.5, what="the dropped rule's route freed")

    # a reload keeps the zone
    write_routes(table, head.format("v4") + rules + old)
    nginx.signal(signal.SIGHUP)
    wait_for(lambda: routes_version(sport)[0] == "v4", timeout=30,
             what="reload with v4")
    exercise()

    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)


def test_valgrind_sharded_table_swaps_reused_refused_and_reloaded_are_clean(
        procs, nginx_factory, cluster_dns, http_backend, tmp_path):
    """A head and its shards under valgrind: swaps that keep shards
    (shared by two heads for a moment), change the count of shards (all
    new), a head refused for a missing shard, a reload (the old cycle's
    head and shards freed in the master) and the exit."""
    from testbed.fixtures_module import http_request, routes_version
    from test_module_route_shards import (Sharded, hosts_in_distinct_shards,
                                          sections, shard_of)
    a = http_backend("127.0.0.2", name="a")
    b = http_backend("127.0.0.3", port=a.port, name="b")
    backends = {"a": a, "b": b}
    hosts = hosts_in_distinct_shards(4)
    r = Sharded(nginx_factory, cluster_dns, workers=1)
    routes = {**{h: "a" for h in hosts}, "*": "b"}
    names = {i: r.shard(t) for i, t in sections(routes, backends).items()}
    r.write("v1", names)
    argv = valgrind_argv(r.nginx, tmp_path,
                         SUPPRESSIONS + WORKER_CONNECTIONS_SUPPRESSION)

    def who(host):
        code, headers, _ = http_request(r.port, "/", host=host, timeout=30)
        return headers.get("x-backend") if code == 200 else code

    def version(v):
        wait_for(lambda: routes_version(r.sport)[0] == v, timeout=30,
                 what=f"table {v}")

    nginx = procs.start("valgrind-nginx", argv, timeout=60,
                        ready=lambda: testbed.wait_tcp("127.0.0.1", r.sport))
    version("v1")
    assert [who(h) for h in hosts] == ["a"] * 4 and who("x.test") == "b"

    # one shard changed, the others kept
    moved = {**routes, hosts[0]: "b"}
    k = shard_of(hosts[0])
    r.write("v2", {**names, k: r.shard(sections(moved, backends)[k])})
    version("v2")
    assert who(hosts[0]) == "b"

    # a missing shard: refused, v2 stays
    r.write("v3", {**names, k: "0123456789abcdef"})
    wait_for(lambda: "keeping version v2" in r.nginx.error_log(),
             timeout=30, what="the head refused")

    # two shards instead of four: every shard new
    two = {}
    for h, be in moved.items():
        two.setdefault(shard_of(h, 2), {})[h] = be
    texts = {i: "".join(
        f"upstream u{be} {backends[be].addr}:{a.port}\n"
        for be in sorted(set(hs.values())))
        + "".join(f"host {h}\nprefix / u{be}\n" for h, be in hs.items())
        for i, hs in two.items()}
    r.write("v4", {i: r.shard(t) for i, t in texts.items()}, n=2)
    version("v4")
    assert who(hosts[0]) == "b" and who(hosts[1]) == "a"

    nginx.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in r.nginx.error_log(), timeout=30,
             what="the reload")
    time.sleep(2)
    wait_for(lambda: who(hosts[1]) == "a", timeout=30, what="after reload")
    nginx.signal(signal.SIGQUIT)
    nginx.popen.wait(60)

    reports = _reports(str(tmp_path / "valgrind.*.log"))
    assert len(reports) >= 3, list(reports)
    assert_clean(reports)
