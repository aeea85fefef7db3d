"""ngx_http_portico_ssl_module (docs/certificates.md): the certificate of a
handshake is chosen by SNI from a table file that every worker reloads by
itself; real nginx, real OpenSSL clients (Python's ssl, openssl s_client).
"""
import datetime
import os
import re
import shutil
import signal
import ssl
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import testbed
from testbed import certs, tls
from testbed.fixtures_tls import DEFAULT_CN, certificates_version
from testbed.fixtures_module import http_get, wait_for, write_routes

# --- choosing the certificate ---------------------------------------------

def test_sni_picks_the_exact_host_then_a_one_label_wildcard_then_default(
        cert_nginx):
    cn = cert_nginx()
    exact = cn.pair(["a.example.com"], "exact-a")
    wild = cn.pair(["*.example.com"], "wild-example")
    deep = cn.pair(["b.a.example.com"], "exact-b-a")
    cn.swap({"a.example.com": exact, "*.example.com": wild,
             "b.a.example.com": deep})

    assert cn.cn("a.example.com") == "exact-a"
    assert cn.cn("x.example.com") == "wild-example"
    assert cn.cn("b.a.example.com") == "exact-b-a"
    # a wildcard covers exactly one label
    assert cn.cn("y.x.example.com") == DEFAULT_CN
    assert cn.cn("example.com") == DEFAULT_CN
    assert cn.cn("other.test") == DEFAULT_CN
    assert cn.cn(None) == DEFAULT_CN
    # SNI is a host name: case does not matter, nor one trailing dot
    assert cn.cn("A.Example.COM") == "exact-a"
    assert cn.cn("x.example.com.") == "wild-example"
    # the request is served on the connection (nginx's own SNI check)
    assert tls.handshake(cn.port, "a.example.com").body.endswith(
        "a.example.com\n")


def test_host_certificate_replaces_a_default_of_another_key_type(cert_nginx):
    """The default is EC; a host's RSA certificate is the one sent even to
    a client that prefers ECDSA (OpenSSL keeps one certificate per key
    type, so the default must be cleared, not just overridden)."""
    cn = cert_nginx()
    rsa = cn.pair(["rsa.example.com"], "rsa-host", key_type="rsa")
    cn.swap({"rsa.example.com": rsa})
    for version in ("1.2", "1.3"):
        r = tls.handshake(cn.port, "rsa.example.com", version=version)
        assert r.cn == "rsa-host"
        key = x509.load_der_x509_certificate(r.der).public_key()
        assert key.key_size == 2048


def test_chain_after_the_leaf_lets_a_client_verify_against_the_root(
        cert_nginx, tmp_path):
    cn = cert_nginx()
    inter = certs.make_intermediate(cn.ca)
    stem = cn.pair(["chain.example.com"], "chained", issuer=inter, chain=True)
    cn.swap({"chain.example.com": stem})
    root = cn.ca.write_cert(tmp_path / "root.pem")
    r = tls.handshake(cn.port, "chain.example.com", cafile=root)
    assert r.cn == "chained"
    with pytest.raises(ssl.SSLCertVerificationError):
        tls.handshake(cn.port, "other.example.com", cafile=root)


# --- swaps ----------------------------------------------------------------

def test_a_swap_reaches_every_worker_without_a_reload(cert_nginx):
    cn = cert_nginx(workers=4)
    master, workers = cn.nginx.master_pid, sorted(cn.nginx.worker_pids())
    lines = certificates_version(cn.sport)
    assert lines[0] == "v1" and len(lines) == 5
    assert cn.cn("a.example.com") == DEFAULT_CN

    stem = cn.pair(["a.example.com"], "a-one")
    started = time.monotonic()
    cn.swap({"a.example.com": stem})
    took = time.monotonic() - started
    lines = certificates_version(cn.sport)
    assert all(re.fullmatch(r"worker \d pid \d+ version v2", line)
               for line in lines[1:]), lines
    # every worker (fresh connections spread over them with reuseport)
    for _ in range(40):
        assert cn.cn("a.example.com") == "a-one"
    assert (cn.nginx.master_pid, sorted(cn.nginx.worker_pids())) == \
        (master, workers)
    assert "reconfiguring" not in cn.nginx.error_log()
    assert "portico_certificates: version v2 replaces v1 (1 hosts, " \
        "1 certificates)" in cn.nginx.error_log()
    assert took < 5


def test_gain_rotate_and_lose_under_handshake_load_fail_no_handshake(
        cert_nginx):
    cn = cert_nginx(workers=2)
    one = cn.pair(["h.example.com"], "h-one")
    two = cn.pair(["h.example.com"], "h-two")
    load = tls.HandshakeLoad(cn.port, "h.example.com", threads=4)
    try:
        wait_for(lambda: len(load.snapshot()) > 50, what="load running")
        marks = []
        for hosts in ({"h.example.com": one}, {"h.example.com": two}, {}):
            marks.append((time.monotonic(), cn.swap(hosts)))
            time.sleep(0.5)
        results = load.stop()
    finally:
        load.stop()
    assert load.failures() == []
    assert len(results) > 200
    # after each swap was confirmed, only its certificate is seen
    expect = ["h-one", "h-two", DEFAULT_CN]
    for (at, _), (end, _), want in zip(marks, marks[1:] + [(1e18, "")],
                                       expect):
        seen = {r[1] for r in results if at + 0.2 < r[0] < end}
        assert seen == {want}, (want, seen)


def test_an_open_connection_keeps_its_certificate_across_swaps(cert_nginx):
    cn = cert_nginx()
    old = cn.pair(["k.example.com"], "k-old")
    new = cn.pair(["k.example.com"], "k-new")
    cn.swap({"k.example.com": old})
    ctx = tls.client_context()
    import socket
    with socket.create_connection(("127.0.0.1", cn.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="k.example.com") as t:
            before = t.getpeercert(binary_form=True)
            cn.swap({"k.example.com": new})
            os.remove(cn.dir / "k-old.crt")      # gone from disk too
            for _ in range(3):
                t.sendall(b"GET / HTTP/1.1\r\nHost: k.example.com\r\n\r\n")
                assert t.recv(4096).endswith(b"k.example.com\n")
            assert t.getpeercert(binary_form=True) == before
    assert cn.cn("k.example.com") == "k-new"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_sessions_resume_only_for_their_host_and_certificate(cert_nginx,
                                                             version):
    cn = cert_nginx(workers=1)
    a1 = cn.pair(["a.example.com"], "a-one")
    a2 = cn.pair(["a.example.com"], "a-two")
    b = cn.pair(["b.example.com"], "b-one")
    cn.swap({"a.example.com": a1, "b.example.com": b})

    ctx = tls.client_context(version)     # sessions belong to it
    first = tls.handshake(cn.port, "a.example.com", context=ctx)
    assert first.cn == "a-one" and not first.reused
    again = tls.handshake(cn.port, "a.example.com", context=ctx,
                          session=first.session)
    assert again.reused
    # another host, or no host: a full handshake with its own certificate
    other = tls.handshake(cn.port, "b.example.com", context=ctx,
                          session=first.session)
    assert (other.reused, other.cn) == (False, "b-one")
    none = tls.handshake(cn.port, None, context=ctx, session=first.session)
    assert (none.reused, none.cn) == (False, DEFAULT_CN)

    # a swap that changes another host: sessions and tickets made before
    # it still resume (a reload would have made new ticket keys)
    session = tls.handshake(cn.port, "a.example.com", context=ctx).session
    cn.swap({"a.example.com": a1})
    assert tls.handshake(cn.port, "a.example.com", context=ctx,
                         session=session).reused
    # a new certificate for the host: no session of the old one resumes
    cn.swap({"a.example.com": a2})
    rotated = tls.handshake(cn.port, "a.example.com", context=ctx,
                            session=session)
    assert (rotated.reused, rotated.cn) == (False, "a-two")


def test_broken_table_at_runtime_is_logged_with_its_line_and_kept_out(
        cert_nginx):
    cn = cert_nginx()
    good = cn.pair(["a.example.com"], "a-good")
    cn.swap({"a.example.com": good})
    write_routes(cn.table_path, "portico-certificates 1\nversion v9\n"
                 "host a.example.com a-good\nhost b.example.com\n")
    wait_for(lambda: "expected \"host H STEM [WORDS]\" in " + cn.table_path
             + ":4, "
             "keeping version v2" in cn.nginx.error_log(),
             what="the error with FILE:LINE")
    assert certificates_version(cn.sport)[0] == "v2"
    assert cn.cn("a.example.com") == "a-good"
    # reported once for that file, not every interval
    time.sleep(0.5)
    assert cn.nginx.error_log().count(":4, keeping version v2") == 2  # 2 workers


BROKEN_TABLES = [
    ("", 1, "empty file, expected \"portico-certificates 1\""),
    ("portico-routes 1\nversion v\n", 1,
     "expected \"portico-certificates 1\""),
    ("portico-certificates 2\nversion v\n", 1,
     "unsupported table format \"2\", expected 1"),
    ("portico-certificates 1\n", 2, "expected \"version V\""),
    ("portico-certificates 1\nversion V!\n", 2, "expected \"version V\""),
    ("portico-certificates 1\nversion v\nhost a.example.com s\n"
     "host a.example.com s\n", 4, "duplicate host \"a.example.com\""),
    ("portico-certificates 1\nversion v\nhost A.example.com s\n", 3,
     "invalid host \"A.example.com\""),
    ("portico-certificates 1\nversion v\nhost *.*.example.com s\n", 3,
     "invalid host \"*.*.example.com\""),
    ("portico-certificates 1\nversion v\nhost a.example.com ../s\n", 3,
     "invalid stem \"../s\""),
    ("portico-certificates 1\nversion v\nhost a.example.com .s\n", 3,
     "invalid stem \".s\""),
    ("portico-certificates 1\nversion v\nhost a.example.com s x\n", 3,
     "invalid word \"x\", expected KEY=VALUE"),
    ("portico-certificates 1\nversion v\nhost a.example.com s "
     + " ".join(["verify=on"] * 8) + "\n", 3, "too many fields"),
    ("portico-certificates 1\nversion v\nhost  a.example.com s\n", 3,
     "empty field"),
    ("portico-certificates 1\nversion v\nroute / x\n", 3,
     "unknown line \"route\""),
    ("portico-certificates 1\nversion v\nhost a.example.com s", 3,
     "no newline at the end of the last line"),
    ("portico-certificates 1\nversion v\nhost a.example.com missing\n", 3,
     "No such file or directory"),
]


def test_nginx_t_refuses_broken_tables_with_file_and_line(cert_nginx):
    cn = cert_nginx(start=False)
    cn.pair(["a.example.com"], "s")
    for text, line, reason in BROKEN_TABLES:
        write_routes(cn.table_path, text)
        out = cn.nginx.test_config()
        assert out.returncode != 0, text
        assert f"{cn.table_path}:{line}" in out.stdout, (text, out.stdout)
        assert reason in out.stdout, (text, out.stdout)
    cn.write({"a.example.com": "s"})
    assert cn.nginx.test_config().returncode == 0


@pytest.mark.parametrize("directives, reason", [
    ("server { listen 127.0.0.1:{port}; portico_certificate_by_sni; }",
     "needs the default certificate (\"ssl_certificate\")"),
    ("server { listen 127.0.0.1:{port} ssl; ssl_certificate {crt}; "
     "ssl_certificate_key {key}; portico_certificate_by_sni; "
     "portico_certificate_by_sni; }", "is duplicate"),
    ("server { listen 127.0.0.1:{port} ssl; ssl_certificate $ssl_server_name;"
     " ssl_certificate_key {key}; portico_certificate_by_sni; }",
     "cannot be used with variables"),
])
def test_configuration_mistakes_are_refused(cert_nginx, directives, reason):
    cn = cert_nginx(start=False)
    port = testbed.free_port()
    extra = (directives.replace("{port}", str(port))
             .replace("{crt}", cn.default_crt).replace("{key}", cn.default_key))
    cn.nginx.http_conf += extra
    cn.nginx._write()
    out = cn.nginx.test_config()
    assert out.returncode != 0 and reason in out.stdout, out.stdout


def test_directives_need_the_table(nginx_factory, tmp_path):
    for conf, reason in [
            ("server { listen 127.0.0.1:1 ssl; ssl_certificate c; "
             "ssl_certificate_key k; portico_certificate_by_sni; }",
             "\"portico_certificate_by_sni\" needs \"portico_certificates\""),
            ("server { listen 127.0.0.1:1; location / { "
             "portico_certificates_status; } }",
             "\"portico_certificates_status\" needs "
             "\"portico_certificates\"")]:
        n = nginx_factory(conf, start=False)
        if "ssl_certificate c" in conf:
            leaf = certs.self_signed(["x.test"])
            crt, key = leaf.write(tmp_path, "x")
            n.http_conf = conf.replace(" c;", f" {crt};").replace(
                " k;", f" {key};")
            n._write()
        out = n.test_config()
        assert out.returncode != 0 and reason in out.stdout, out.stdout


# --- certificates that cannot be used --------------------------------------

def test_unusable_certificate_is_logged_and_the_default_serves(cert_nginx):
    cn = cert_nginx(workers=1)
    cn.pair(["garbage.example.com"], "garbage")
    (cn.dir / "garbage.crt").write_text("not a certificate\n")
    cn.pair(["mismatch.example.com"], "mismatch")
    other = certs.new_key()
    (cn.dir / "mismatch.key").write_text(certs.key_pem(other))
    cn.pair(["locked.example.com"], "locked")
    key = cn.dir / "locked.key"
    k = serialization.load_pem_private_key(key.read_bytes(), None)
    key.write_bytes(k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    good = cn.pair(["good.example.com"], "good")
    cn.swap({"garbage.example.com": "garbage",
             "mismatch.example.com": "mismatch",
             "locked.example.com": "locked", "good.example.com": good})

    for host in ("garbage", "mismatch", "locked"):
        assert cn.cn(f"{host}.example.com") == DEFAULT_CN
    assert cn.cn("good.example.com") == "good"
    log = cn.nginx.error_log()
    assert "portico_certificates: no certificate in" in log
    assert "garbage.crt" in log
    assert "mismatch.key\" does not match the certificate" in log
    assert "portico_certificates: no usable key in" in log
    assert "locked.key" in log
    # a failed pair is not read again at every handshake
    for _ in range(5):
        assert cn.cn("garbage.example.com") == DEFAULT_CN
    assert cn.nginx.error_log().count("garbage.crt") == \
        log.count("garbage.crt")


def test_a_failed_pair_is_tried_again_after_five_seconds(cert_nginx):
    cn = cert_nginx(workers=1)
    stem = cn.pair(["late.example.com"], "late")
    key = (cn.dir / "late.key").read_text()
    cn.swap({"late.example.com": stem})
    (cn.dir / "late.key").write_text("")
    assert cn.cn("late.example.com") == DEFAULT_CN
    (cn.dir / "late.key").write_text(key)
    assert cn.cn("late.example.com") == DEFAULT_CN     # not yet
    wait_for(lambda: cn.cn("late.example.com") == "late", timeout=10,
             interval=0.5, what="the retry")


def test_cached_pairs_serve_until_the_cache_bound_evicts_them(cert_nginx):
    cn = cert_nginx(workers=1, cache=2)
    stems = {f"h{i}.example.com": cn.pair([f"h{i}.example.com"], f"h{i}")
             for i in range(3)}
    cn.swap(stems)
    assert cn.cn("h0.example.com") == "h0"              # cached
    for ext in ("crt", "key"):
        os.remove(cn.dir / f"h0.{ext}")
    assert cn.cn("h1.example.com") == "h1"              # cached: h1, h0
    assert cn.cn("h0.example.com") == "h0"              # from memory
    assert cn.cn("h2.example.com") == "h2"              # evicts h1
    assert cn.cn("h0.example.com") == "h0"              # still cached
    assert cn.cn("h1.example.com") == "h1"              # evicts h2...
    assert cn.cn("h2.example.com") == "h2"              # ...then h0
    assert cn.cn("h0.example.com") == DEFAULT_CN        # gone from disk


def test_a_swap_drops_the_pairs_no_host_names_any_more(cert_nginx):
    cn = cert_nginx(workers=1)
    a = cn.pair(["a.example.com"], "a-pair")
    b = cn.pair(["b.example.com"], "b-pair")
    cn.swap({"a.example.com": a, "b.example.com": b})
    assert cn.cn("a.example.com") == "a-pair"
    assert cn.cn("b.example.com") == "b-pair"
    for ext in ("crt", "key"):
        os.remove(cn.dir / f"a-pair.{ext}")
        shutil.copy(cn.dir / f"b-pair.{ext}", cn.dir / f"b-copy.{ext}")
        os.remove(cn.dir / f"b-pair.{ext}")
    cn.swap({"b.example.com": b})          # a's pair is dropped, b's kept
    assert cn.cn("b.example.com") == "b-pair"
    cn.swap({"a.example.com": a, "b.example.com": b})
    assert cn.cn("a.example.com") == DEFAULT_CN       # read again: gone
    assert cn.cn("b.example.com") == "b-pair"


# --- OCSP stapling ------------------------------------------------------------

def _ocsp_response(issued, path):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (ocsp.OCSPResponseBuilder()
               .add_response(cert=issued.cert, issuer=issued.cert,
                             algorithm=hashes.SHA1(),
                             cert_status=ocsp.OCSPCertStatus.GOOD,
                             this_update=now - datetime.timedelta(minutes=5),
                             next_update=now + datetime.timedelta(days=1),
                             revocation_time=None, revocation_reason=None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, issued.cert))
    resp = builder.sign(issued.key, hashes.SHA256())
    path.write_bytes(resp.public_bytes(serialization.Encoding.DER))
    return str(path)


def _s_client_status(port, sni):
    p = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{port}", "-servername", sni, "-status"],
                       input="", capture_output=True, text=True, timeout=15)
    return p.stdout


def test_ocsp_stapling_serves_the_default_certificate_only(cert_nginx,
                                                           tmp_path):
    """nginx 1.22's ssl_stapling staples the certificates it loaded itself
    (the default); a certificate from the table has no staple of nginx's,
    so none is sent for it, and its handshake still succeeds."""
    cn = cert_nginx(workers=1, start=False)
    response = _ocsp_response(cn.default, tmp_path / "default.ocsp")
    cn.nginx.http_conf = cn.nginx.http_conf.replace(
        "portico_certificate_by_sni;",
        f"portico_certificate_by_sni; ssl_stapling on; "
        f"ssl_stapling_file {response};")
    cn.nginx._write()
    cn.nginx.start()
    stem = cn.pair(["s.example.com"], "stapled-not")
    cn.swap({"s.example.com": stem})
    out = _s_client_status(cn.port, "none.example.com")
    assert "OCSP Response Status: successful" in out, out
    assert f"CN = {DEFAULT_CN}" in out
    out = _s_client_status(cn.port, "s.example.com")
    assert "OCSP response: no response sent" in out, out
    assert "CN = stapled-not" in out


# --- reloads, both tables, master_process off ---------------------------

def test_a_reload_reads_the_current_table(cert_nginx):
    cn = cert_nginx(workers=2)
    stem = cn.pair(["r.example.com"], "r-pair")
    version = cn.write({"r.example.com": stem})
    cn.nginx.reload()
    cn.wait_version(version)
    assert cn.cn("r.example.com") == "r-pair"
    lines = certificates_version(cn.sport)
    pids = sorted(int(line.split()[3]) for line in lines[1:])
    assert pids == sorted(cn.nginx.worker_pids())


def test_route_and_certificate_versions_are_reported_apart(cert_nginx):
    """Both tables' versions live in one zone: each status shows its own,
    and after a reload no version of the old configuration shows."""
    cn = cert_nginx(workers=2, start=False)
    routes = os.path.join(cn.nginx.prefix, "conf", "routes")
    write_routes(routes, "portico-routes 1\nversion r1\n")
    cn.nginx.http_conf = cn.nginx.http_conf.replace(
        "portico_certificates certificates",
        "portico_routes routes interval=100ms;\n"
        "portico_certificates certificates").replace(
        "location = /certificates-version",
        "location = /routes-version { portico_routes_status; }\n"
        "  location = /certificates-version")
    cn.nginx._write()
    cn.nginx.start()
    assert certificates_version(cn.sport)[0] == "v1"
    assert http_get(cn.sport, "/routes-version")[1].splitlines()[0] == "r1"
    cn.swap({})
    write_routes(routes, "portico-routes 1\nversion r2\n")
    wait_for(lambda: http_get(cn.sport, "/routes-version")[1]
             .splitlines()[0] == "r2", what="routes r2")
    assert certificates_version(cn.sport)[0] == "v2"
    cn.nginx.reload()
    assert certificates_version(cn.sport)[0] == "v2"
    assert http_get(cn.sport, "/routes-version")[1].splitlines()[0] == "r2"


def test_master_process_off_keeps_watching_the_table_after_a_reload(
        cert_nginx):
    """Without a master nginx runs no init_process after a reload: the old
    cycle's timer hands over to the new one (only the log shows it; nginx
    itself serves garbage after a reload in this mode)."""
    cn = cert_nginx(workers=0, main_conf="master_process off;")
    stem = cn.pair(["m.example.com"], "m-pair")
    cn.swap({"m.example.com": stem})
    assert cn.cn("m.example.com") == "m-pair"
    # the new configuration watches another file
    table2 = os.path.join(cn.nginx.prefix, "conf", "certificates2")
    write_routes(table2, "portico-certificates 1\nversion w1\n")
    cn.nginx.http_conf = cn.nginx.http_conf.replace(
        "portico_certificates certificates ",
        "portico_certificates certificates2 ")
    cn.nginx._write()
    cn.nginx.proc.signal(signal.SIGHUP)
    wait_for(lambda: "reconfiguring" in cn.nginx.error_log(), what="reload")
    time.sleep(0.3)
    write_routes(table2, "portico-certificates 1\nversion w2\n")
    line = "portico_certificates: version w2 replaces w1"
    wait_for(lambda: line in cn.nginx.error_log(), timeout=5, what=line)
    # the old cycle stopped watching its file
    cn.write({}, version="v99")
    time.sleep(0.5)
    assert "version v99" not in cn.nginx.error_log()


# --- mutated tables -----------------------------------------------------------

GOOD_TABLE = (b"portico-certificates 1\nversion v1\n"
              b"host a.example.com sa\nhost *.example.com sw\n"
              b"host b.example.com sa\n")


def _good_pairs(cn):
    cn.pair(["a.example.com", "b.example.com"], "sa")
    cn.pair(["*.example.com"], "sw")


def test_mutated_tables_never_crash_nginx_t(cert_nginx):
    from test_module_routes import _mutate
    import random
    rng = random.Random(20261205)
    cn = cert_nginx(start=False)
    _good_pairs(cn)
    outcomes = {0: 0, 1: 0}
    for i in range(120):
        data = GOOD_TABLE if i == 0 else _mutate(rng, GOOD_TABLE)
        write_routes(cn.table_path, data)
        res = cn.nginx.test_config()
        assert res.returncode in (0, 1), (res.returncode, data, res.stdout)
        outcomes[res.returncode] += 1
        if res.returncode == 1:
            assert f" in {cn.table_path}:" in res.stdout, (data, res.stdout)
    assert outcomes[0] >= 1 and outcomes[1] >= 70, outcomes


def test_mutated_tables_at_runtime_keep_the_good_one_serving(cert_nginx):
    from test_module_routes import _mutate
    import random
    rng = random.Random(5)
    cn = cert_nginx(workers=2, interval="10ms")
    _good_pairs(cn)
    version = cn.swap({"a.example.com": "sa", "*.example.com": "sw"})
    pids = sorted(cn.nginx.worker_pids())
    for _ in range(60):
        write_routes(cn.table_path, _mutate(rng, GOOD_TABLE))
        time.sleep(0.03)
        # whatever the table became, handshakes succeed
        assert cn.cn("a.example.com") in ("sa", "sw", DEFAULT_CN)
    version = cn.swap({"a.example.com": "sa", "*.example.com": "sw"})
    assert certificates_version(cn.sport)[0] == version
    assert cn.cn("a.example.com") == "sa" and cn.cn("x.example.com") == "sw"
    assert sorted(cn.nginx.worker_pids()) == pids
    assert "[alert]" not in cn.nginx.error_log()
