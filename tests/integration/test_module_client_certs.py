"""Client certificates per host from the certificate table
(ngx_http_portico_ssl_module, docs/certificates.md "Client certificates"):
the handshake asks for and verifies a client certificate with the host's
CA, and requests are answered as nginx answers them with
ssl_verify_client (400 for a missing or failed certificate, 421 for a
connection made for another name or under other settings), plus
ingress-nginx's subject match (403) and error page (302). Real nginx,
Python's ssl and openssl s_client as clients.
"""
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

import testbed
from testbed import certs
from testbed.fixtures_module import wait_for, write_routes

ECHO = ("verify=$portico_ssl_client_verify|s_dn=$portico_ssl_client_s_dn|"
        "i_dn=$portico_ssl_client_i_dn|cert=$portico_ssl_client_escaped_cert|"
        "sni=$ssl_server_name")

NO_CERT_PAGE = "No required SSL certificate was sent"
CERT_ERROR_PAGE = "The SSL certificate error"


class Response:
    def __init__(self, raw, reused, session):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = self.body.decode(errors="replace")
        self.reused = reused
        self.session = session

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


def client_context(cert=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def request_on(t, host, path="/", close=True, headers=""):
    t.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}"
               f"{'Connection: close' if close else ''}\r\n\r\n").encode())
    raw = b""
    while True:
        chunk = t.recv(65536)
        if not chunk:
            break
        raw += chunk
        if not close and b"\r\n\r\n" in raw:
            head, _, body = raw.partition(b"\r\n\r\n")
            m = re.search(rb"content-length: *(\d+)", head, re.I)
            if m and len(body) >= int(m.group(1)):
                break
    return raw


def https(port, sni, host=None, cert=None, path="/", version=None,
          session=None, context=None, headers=""):
    """One request on a new TLS connection: SNI sni, Host host (sni by
    default), a client certificate (crt, key) or none."""
    ctx = context or client_context(cert, version)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni, session=session) as t:
            raw = request_on(t, host or sni, path, headers=headers)
            return Response(raw, t.session_reused, t.session)


def plain(port, host, path="/", headers=""):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return Response(request_on(s, host, path, headers=headers), False,
                        None)


class ClientCerts:
    """cert_nginx with a location echoing the client variables, a plain
    HTTP listener on the same server, a proxy to a backend that echoes the
    ssl-client-* headers it got, and CAs and client certificates."""

    def __init__(self, cert_nginx, tmp_path, workers=1):
        self.plain_port = testbed.free_port()
        self.back_port = testbed.free_port()
        proxy = "".join(
            f"proxy_set_header {h} $portico_ssl_client_{v}; "
            for h, v in (("ssl-client-verify", "verify"),
                         ("ssl-client-subject-dn", "s_dn"),
                         ("ssl-client-issuer-dn", "i_dn"),
                         ("ssl-client-cert", "escaped_cert")))
        self.cn = cert_nginx(
            workers=workers,
            server_extra=(f"listen 127.0.0.1:{self.plain_port};\n"
                          f"  location = /echo {{ return 200 \"{ECHO}\"; }}\n"
                          f"  location = /proxy {{ {proxy}"
                          f"proxy_pass http://127.0.0.1:{self.back_port}; }}"),
            extra=(f"server {{ listen 127.0.0.1:{self.back_port};\n"
                   f"  location / {{ return 200 \"verify=$http_ssl_client_verify|"
                   f"s_dn=$http_ssl_client_subject_dn|"
                   f"cert=$http_ssl_client_cert\"; }} }}\n"))
        self.port = self.cn.port
        self.dir = self.cn.dir
        self.ca = certs.make_ca("Client CA One")
        self.other_ca = certs.make_ca("Client CA Two")
        self.stem = self.cn.pair(["*.example.com", "example.com"], "server")
        self.count = 0

    def ca_file(self, *cas, crl=""):
        """DIR/STEM.ca with the given CAs (and CRL PEM text); its stem."""
        self.count += 1
        stem = f"ca-{self.count}"
        text = "".join(c.cert_pem for c in cas) + crl
        certs.write_pem(self.dir / f"{stem}.ca", text)
        return stem

    def client(self, name, issuer=None, **kw):
        c = certs.client_cert(issuer or self.ca, name, **kw)
        crt, key = c.write(self.dir, "client-" + name)
        return crt, key

    def swap(self, hosts):
        """{host: words} (words after the stem; "" for none)."""
        return self.cn.swap({h: (self.stem + (" " + w if w else "")).strip()
                             for h, w in hosts.items()})


@pytest.fixture
def client_certs(cert_nginx, tmp_path):
    def make(**kw):
        return ClientCerts(cert_nginx, tmp_path, **kw)
    return make


# --- verify=on ----------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_verify_on_serves_a_good_certificate_and_refuses_none_expired_and_wrong_ca(
        client_certs, version):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=on"})

    good = cc.client("good")
    r = https(cc.port, "mtls.example.com", cert=good, path="/echo",
              version=version)
    assert r.status == 200, r
    assert "verify=SUCCESS|s_dn=CN=good|i_dn=CN=Client CA One|" in r.body
    # the certificate itself only with pass-cert=on
    assert "|cert=|" in r.body

    r = https(cc.port, "mtls.example.com", path="/echo", version=version)
    assert r.status == 400 and NO_CERT_PAGE in r.body, r

    expired = certs.expired_cert(cc.ca, [], common_name="old", server=False,
                                 client=True).write(cc.dir, "client-old")
    r = https(cc.port, "mtls.example.com", cert=expired, version=version)
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r
    assert "certificate has expired" in cc.cn.nginx.error_log()

    stranger = cc.client("stranger", issuer=cc.other_ca)
    r = https(cc.port, "mtls.example.com", cert=stranger, version=version)
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r

    # self-signed: no CA at all
    own = certs.make_cert(None, [], common_name="own", server=False,
                          client=True).write(cc.dir, "client-own")
    r = https(cc.port, "mtls.example.com", cert=own, version=version)
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r


def test_the_handshake_asks_only_hosts_with_client_settings_and_names_their_ca(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=on",
             "open.example.com": ""})

    def s_client(sni):
        return subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{cc.port}",
             "-servername", sni, "-tls1_2"],
            input="", capture_output=True, text=True, timeout=20).stdout

    asked = s_client("mtls.example.com")
    assert "Acceptable client certificate CA names" in asked
    assert "CN = Client CA One" in asked
    assert "Client CA Two" not in asked
    assert "No client certificate CA names sent" in s_client(
        "open.example.com")
    # the open host is served without a certificate
    r = https(cc.port, "open.example.com", path="/echo")
    assert r.status == 200 and r.body.startswith("verify=|s_dn=|"), r


def test_a_chain_deeper_than_depth_fails_and_a_larger_depth_accepts_it(
        client_certs):
    """depth counts the CAs between the certificate and the root (nginx's
    ssl_verify_depth, OpenSSL's verify depth): 1 allows one."""
    cc = client_certs()
    one = certs.make_intermediate(cc.ca, "Client Intermediate 1",
                                  path_length=1)
    two = certs.make_intermediate(one, "Client Intermediate 2")
    shallow = certs.client_cert(one, "shallow").write(cc.dir, "c-shallow")
    deep = certs.client_cert(two, "deep").write(cc.dir, "c-deep")
    ca = cc.ca_file(cc.ca, one, two)
    cc.swap({"mtls.example.com": f"ca={ca} verify=on"})
    assert https(cc.port, "mtls.example.com", cert=shallow).status == 200
    r = https(cc.port, "mtls.example.com", cert=deep)
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r
    # OpenSSL stops building the chain at the depth
    assert "client SSL certificate verify error: (2:unable to get issuer " \
        "certificate)" in cc.cn.nginx.error_log()
    cc.swap({"mtls.example.com": f"ca={ca} verify=on depth=2"})
    r = https(cc.port, "mtls.example.com", cert=deep, path="/echo")
    assert r.status == 200 and "s_dn=CN=deep|i_dn=CN=Client Intermediate 2|" \
        in r.body, r


def test_a_revoked_certificate_is_refused_when_the_ca_file_has_a_crl(
        client_certs):
    cc = client_certs()
    good = cc.client("good")
    revoked = certs.client_cert(cc.ca, "revoked")
    rcrt = revoked.write(cc.dir, "client-revoked")
    ca = cc.ca_file(cc.ca, crl=certs.make_crl(cc.ca, revoked=[revoked]))
    cc.swap({"mtls.example.com": f"ca={ca} verify=on"})
    assert https(cc.port, "mtls.example.com", cert=good).status == 200
    r = https(cc.port, "mtls.example.com", cert=rcrt)
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r
    assert "certificate revoked" in cc.cn.nginx.error_log()


# --- optional, optional_no_ca, off, deny --------------------------------------

def test_optional_serves_without_a_certificate_but_not_with_a_bad_one(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=optional"})
    r = https(cc.port, "mtls.example.com", path="/echo")
    assert r.status == 200 and r.body.startswith("verify=NONE|s_dn=|"), r
    r = https(cc.port, "mtls.example.com", cert=cc.client("good"),
              path="/echo")
    assert r.status == 200 and r.body.startswith("verify=SUCCESS|"), r
    r = https(cc.port, "mtls.example.com",
              cert=cc.client("stranger", issuer=cc.other_ca))
    assert r.status == 400 and CERT_ERROR_PAGE in r.body, r


def test_optional_no_ca_passes_an_unknown_issuer_on_but_not_an_expired_one(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=optional_no_ca"})
    r = https(cc.port, "mtls.example.com",
              cert=cc.client("stranger", issuer=cc.other_ca), path="/echo")
    assert r.status == 200, r
    assert r.body.startswith("verify=FAILED:unable to verify the first "
                             "certificate|s_dn=CN=stranger|"), r
    expired = certs.expired_cert(cc.ca, [], common_name="old", server=False,
                                 client=True).write(cc.dir, "client-old")
    assert https(cc.port, "mtls.example.com", cert=expired).status == 400


def test_off_asks_for_nothing_and_deny_refuses_every_request(client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"off.example.com": f"ca={ca} verify=off",
             "deny.example.com": "verify=deny"})
    r = https(cc.port, "off.example.com", cert=cc.client("good"),
              path="/echo")
    # no certificate was asked for: nginx's NONE, as ingress-nginx sends
    assert r.status == 200 and r.body.startswith("verify=NONE|s_dn=|"), r
    assert https(cc.port, "deny.example.com", cert=cc.client("good")
                 ).status == 403
    assert plain(cc.plain_port, "deny.example.com", "/proxy").status == 403


# --- the subject match (auth-tls-match-cn) --------------------------------------

def test_cn_regex_matches_the_subject_dn_as_ingress_nginx_does(client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    # "CN=(alice|bob)$" percent-encoded in the table: '|' and '$' are plain
    cc.swap({"mtls.example.com": f"ca={ca} verify=on cn=CN=(alice|bob)$",
             "spaces.example.com": f"ca={ca} verify=optional "
                                   "cn=^CN=John%20Doe$"})
    assert https(cc.port, "mtls.example.com", cert=cc.client("alice")
                 ).status == 200
    assert https(cc.port, "mtls.example.com", cert=cc.client("bob")
                 ).status == 200
    assert https(cc.port, "mtls.example.com", cert=cc.client("mallory")
                 ).status == 403
    # unanchored at the start, as nginx's "!~": "CN=bob" inside "CN=xbob"
    # does not match "CN=(alice|bob)$" ... but "CN=bob" at the end does
    assert https(cc.port, "mtls.example.com", cert=cc.client("alicex")
                 ).status == 403
    assert https(cc.port, "spaces.example.com", cert=cc.client("John Doe")
                 ).status == 200
    # optional without a certificate: the empty subject does not match
    assert https(cc.port, "spaces.example.com").status == 403
    assert "does not match the cn regex" in cc.cn.nginx.error_log()


def test_a_pathological_cn_regex_stops_at_its_match_limit_with_403(
        client_certs):
    """Any self-signed subject reaches the regex with optional_no_ca: a
    catastrophic pattern ends at PCRE2's match limit, refused, logged."""
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com":
             f"ca={ca} verify=optional_no_ca cn=CN=(a%2B)%2B$"})
    evil = certs.make_cert(None, [], common_name="a" * 40 + "!",
                           server=False, client=True).write(cc.dir, "evil")
    started = time.monotonic()
    r = https(cc.port, "mtls.example.com", cert=evil)
    assert r.status == 403, r
    assert re.search(r"the cn regex of \"mtls.example.com\" failed on "
                     r"\"CN=a+!\" \(-47\)", cc.cn.nginx.error_log())
    # a good subject still matches
    assert https(cc.port, "mtls.example.com", cert=cc.client("aaaa")
                 ).status == 200
    assert time.monotonic() - started < 30


# --- the error page ---------------------------------------------------------------

def test_error_page_turns_a_missing_or_failed_certificate_into_a_redirect(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    url = "https://errors.example.org/cert-error.html"
    cc.swap({"mtls.example.com": f"ca={ca} verify=on error-page={url}"})
    for cert in (None, cc.client("stranger", issuer=cc.other_ca)):
        r = https(cc.port, "mtls.example.com", cert=cert)
        assert r.status == 302 and r.headers["location"] == url, r
    assert https(cc.port, "mtls.example.com", cert=cc.client("good")
                 ).status == 200
    # plain HTTP without a certificate too
    r = plain(cc.plain_port, "mtls.example.com", "/proxy")
    assert r.status == 302 and r.headers["location"] == url, r


# --- what reaches the backend ---------------------------------------------------

def test_the_backend_gets_the_verification_and_with_pass_cert_the_certificate(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=on",
             "pass.example.com": f"ca={ca} verify=on pass-cert=on",
             "open.example.com": ""})
    good = cc.client("good")
    spoof = ("ssl-client-verify: SUCCESS\r\nssl-client-subject-dn: CN=admin"
             "\r\nssl-client-cert: forged\r\n")
    r = https(cc.port, "mtls.example.com", cert=good, path="/proxy",
              headers=spoof)
    assert r.status == 200 and r.body == "verify=SUCCESS|s_dn=CN=good|cert=", r
    r = https(cc.port, "pass.example.com", cert=good, path="/proxy",
              headers=spoof)
    pem = open(good[0]).read()
    assert r.status == 200, r
    sent = r.body.split("|cert=", 1)[1]
    from urllib.parse import unquote
    assert unquote(sent) == pem
    # a host without client settings: nothing, and never the client's own
    r = https(cc.port, "open.example.com", cert=good, path="/proxy",
              headers=spoof)
    assert r.status == 200 and r.body == "verify=|s_dn=|cert=", r


# --- the connection and the request must agree -------------------------------------

def test_a_request_for_a_verified_host_on_another_hosts_connection_is_421(
        client_certs):
    cc = client_certs()
    ca1, ca2 = cc.ca_file(cc.ca), cc.ca_file(cc.other_ca)
    cc.swap({"one.example.com": f"ca={ca1} verify=on",
             "two.example.com": f"ca={ca2} verify=on",
             "open.example.com": ""})
    # SNI of a host without verification, Host of one with it
    r = https(cc.port, "open.example.com", host="one.example.com")
    assert r.status == 421, r
    # a certificate verified for "two" is no good for "one"
    r = https(cc.port, "two.example.com", host="one.example.com",
              cert=cc.client("two", issuer=cc.other_ca))
    assert r.status == 421, r
    assert "different from the one that was negotiated" in \
        cc.cn.nginx.error_log()
    # the other way round is nginx's too: the open host is served
    r = https(cc.port, "one.example.com", host="open.example.com",
              cert=cc.client("one"))
    assert r.status == 200, r
    # without SNI no certificate was asked for: 400, as nginx answers
    r = https(cc.port, None, host="one.example.com")
    assert r.status == 400 and NO_CERT_PAGE in r.body, r


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_sessions_resume_only_under_the_same_client_settings(client_certs,
                                                              version):
    cc = client_certs()
    ca1, ca2 = cc.ca_file(cc.ca), cc.ca_file(cc.other_ca)
    cc.swap({"mtls.example.com": f"ca={ca1} verify=on",
             "open.example.com": ""})
    ctx = client_context(cc.client("good"), version)
    first = https(cc.port, "mtls.example.com", path="/echo", context=ctx)
    assert first.status == 200 and not first.reused
    # resumed (the certificate is not sent again): still verified
    again = https(cc.port, "mtls.example.com", path="/echo", context=ctx,
                  session=first.session)
    assert again.reused and again.status == 200, again
    assert again.body.startswith("verify=SUCCESS|s_dn=CN=good|"), again
    # the open host's session is not the verified host's, nor the reverse
    opened = https(cc.port, "open.example.com", context=ctx)
    r = https(cc.port, "mtls.example.com", context=ctx,
              session=opened.session)
    assert not r.reused and r.status == 200, r
    r = https(cc.port, "open.example.com", context=ctx,
              session=first.session)
    assert not r.reused and r.status == 200, r
    # new settings (another CA file): no resumption, and this certificate
    # is not of the new CA
    cc.swap({"mtls.example.com": f"ca={ca2} verify=on",
             "open.example.com": ""})
    r = https(cc.port, "mtls.example.com", context=ctx,
              session=first.session)
    assert not r.reused and r.status == 400, r


def test_a_ca_change_is_a_swap_and_an_open_connection_gets_421_after_it(
        client_certs):
    cc = client_certs()
    ca1, ca2 = cc.ca_file(cc.ca), cc.ca_file(cc.other_ca)
    pids = cc.cn.nginx.worker_pids()
    cc.swap({"mtls.example.com": f"ca={ca1} verify=on"})
    one, two = cc.client("one"), cc.client("two", issuer=cc.other_ca)
    ctx = client_context(one)
    with socket.create_connection(("127.0.0.1", cc.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="mtls.example.com") as t:
            assert Response(request_on(t, "mtls.example.com", close=False),
                            0, 0).status == 200
            cc.swap({"mtls.example.com": f"ca={ca2} verify=on"})
            raw = request_on(t, "mtls.example.com", close=False)
            r = Response(raw, 0, 0)
            assert r.status == 421, r
            assert r.headers.get("connection") == "close"
    assert https(cc.port, "mtls.example.com", cert=one).status == 400
    assert https(cc.port, "mtls.example.com", cert=two).status == 200
    assert cc.cn.nginx.worker_pids() == pids


# --- plain HTTP ------------------------------------------------------------------------

def test_plain_http_to_a_verified_host_has_no_certificate(client_certs):
    """Checked before the content phase (after the rewrite phase, where
    the route table's HTTPS redirect answers first)."""
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"on.example.com": f"ca={ca} verify=on",
             "optional.example.com": f"ca={ca} verify=optional",
             "cn.example.com": f"ca={ca} verify=optional cn=CN=good"})
    r = plain(cc.plain_port, "on.example.com", "/proxy")
    assert r.status == 400 and NO_CERT_PAGE in r.body, r
    r = plain(cc.plain_port, "optional.example.com", "/proxy",
              headers="ssl-client-verify: SUCCESS\r\n")
    assert r.status == 200 and r.body == "verify=|s_dn=|cert=", r
    assert plain(cc.plain_port, "cn.example.com", "/proxy").status == 403


# --- failures fail closed --------------------------------------------------------------

def test_a_ca_file_that_cannot_be_read_refuses_the_handshake_not_the_check(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.swap({"mtls.example.com": f"ca={ca} verify=optional"})
    (cc.dir / "broken.ca").write_text("not a certificate\n")
    cc.swap({"mtls.example.com": "ca=broken verify=optional",
             "open.example.com": ""})
    with pytest.raises((ssl.SSLError, OSError)):
        https(cc.port, "mtls.example.com")
    assert "cannot be used: handshake refused" in cc.cn.nginx.error_log()
    assert https(cc.port, "open.example.com").status == 200


BROKEN_WORDS = [
    ("ca=ca-1", "client certificate words need \"verify=\""),
    ("verify=on", "\"verify=\" needs \"ca=STEM\""),
    ("ca=ca-1 verify=maybe", "invalid \"verify=maybe\""),
    ("ca=ca-1 verify=on verify=on", "\"verify=\" given twice"),
    ("ca=ca-1 verify=on depth=0", "invalid \"depth=0\", expected 1-100"),
    ("ca=ca-1 verify=on depth=101", "invalid \"depth=101\""),
    ("ca=../x verify=on", "invalid CA stem \"../x\""),
    ("ca=ca-1 verify=on cn=(", "invalid \"cn=\" regex: missing closing "
     "parenthesis at offset 1"),
    ("ca=ca-1 verify=on cn=%zz", "invalid \"cn=\""),
    ("ca=ca-1 verify=on cn=a%00b", "invalid \"cn=\""),
    ("ca=ca-1 verify=on error-page=javascript:alert(1)",
     "invalid \"error-page=javascript:alert(1)\""),
    ("ca=ca-1 verify=on error-page=https://x/\"y", "invalid \"error-page="),
    ("ca=ca-1 verify=on error-page=https://x/<y>", "invalid \"error-page="),
    ("ca=ca-1 verify=on pass-cert=yes", "invalid \"pass-cert=yes\""),
    ("ca=ca-1 verify=on color=blue", "unknown word \"color=\""),
    ("ca=ca-1 verify=on =x", "invalid word \"=x\""),
    ("verify=deny ca=ca-1", "\"verify=deny\" takes no other words"),
]


@pytest.mark.parametrize("words,reason", BROKEN_WORDS)
def test_broken_client_words_fail_nginx_t_with_the_line(cert_nginx, words,
                                                        reason):
    cn = cert_nginx(start=False)
    certs.write_pem(cn.dir / "ca-1.ca", cn.ca.cert_pem)
    stem = cn.pair(["a.example.com"], "a")
    write_routes(cn.table_path, "portico-certificates 1\nversion v\n"
                 f"host a.example.com {stem} {words}\n")
    r = cn.nginx.test_config()
    assert r.returncode != 0
    assert reason in r.stdout, r.stdout
    assert f"{cn.table_path}:3" in r.stdout


def test_a_missing_ca_file_fails_nginx_t(cert_nginx):
    cn = cert_nginx(start=False)
    stem = cn.pair(["a.example.com"], "a")
    write_routes(cn.table_path, "portico-certificates 1\nversion v\n"
                 f"host a.example.com {stem} ca=ca-gone verify=on\n")
    r = cn.nginx.test_config()
    assert r.returncode != 0
    assert "ca-gone.ca" in r.stdout and f"{cn.table_path}:3" in r.stdout


def test_a_host_without_a_certificate_of_its_own_uses_the_default(
        client_certs):
    cc = client_certs()
    ca = cc.ca_file(cc.ca)
    cc.cn.swap({"bare.example.com": f"- ca={ca} verify=on"})
    r = https(cc.port, "bare.example.com", cert=cc.client("good"))
    assert r.status == 200
    assert https(cc.port, "bare.example.com").status == 400
