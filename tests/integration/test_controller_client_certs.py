"""Client certificates from ingress-nginx's auth-tls-* annotations, through
the controller (local mode) with real nginx and module
(docs/access-control.md "Client certificates"): the CA Secret becomes a
content-addressed CA file and the host's words in the certificate table;
good, expired, wrong-CA and wrong-CN client certificates (made in the
test: the wrong CA and its client with the openssl command, the others
with python3-cryptography, on OpenSSL too); optional verification,
the error page, the ssl-client-* headers to the backend; a broken CA, a
lone option and conflicting Ingresses refused with a reason; a CA
rotation is a table swap, not a reload."""
import base64
import json
import subprocess
import urllib.parse

import pytest

from testbed import certs
from testbed.controller import eventually
from test_controller_local import (NS, backends, ctl,  # noqa: F401
                                   ingress)
from test_controller_access import auth_service  # noqa: F401
from test_controller_certs import reloads, tls_secret
from test_module_client_certs import (CERT_ERROR_PAGE, NO_CERT_PAGE, https,
                                      plain)

NGINX = "nginx.ingress.kubernetes.io"


def ca_secret(name, *cas, crl=None, ca_text=None, ns=NS):
    """An Opaque Secret with ca.crt (the CAs' PEM, or ca_text) and an
    optional ca.crl."""
    text = ca_text if ca_text is not None else "".join(c.cert_pem
                                                       for c in cas)
    data = {"ca.crt": base64.b64encode(text.encode()).decode()}
    if crl is not None:
        data["ca.crl"] = base64.b64encode(crl.encode()).decode()
    return json.dumps({"apiVersion": "v1", "kind": "Secret",
                       "type": "Opaque",
                       "metadata": {"name": name, "namespace": ns},
                       "data": data})


def site(ctl, name, host, annotations, svc="alpha", tls=True,
         created="2026-01-01T00:00:00Z"):
    return ingress(name, [(host, [("/", "Prefix", svc, ctl.ports[svc])])],
                   annotations=annotations, created=created,
                   tls=[{"hosts": [host], "secretName": "server-tls"}]
                   if tls else None)


def table_line(ctl, host):
    """The words of host's line in the live certificate table, or None."""
    for line in ctl.certificates().splitlines()[2:]:
        words = line.split()
        if words[1] == host:
            return words[2:]
    return None


def rejected_because(ctl, name):
    return next(line for line in ctl.proc.log_text().splitlines()
                if f"ingress {NS}/{name} rejected" in line)


OPENSSL_CNF = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


def openssl_ca_and_client(d, ca_cn, client_cn):
    """A CA and a client certificate it signs, made with the openssl
    command: (the CA as certs.Issued, (client crt, key) paths)."""
    from cryptography.hazmat.primitives.serialization import \
        load_pem_private_key

    def openssl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True,
                       capture_output=True, timeout=30)
    cnf = d / "openssl.cnf"
    cnf.write_text(OPENSSL_CNF)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-config", cnf, "-extensions", "ca",
            "-subj", f"/CN={ca_cn}", "-days", "30",
            "-keyout", d / "ossl-ca.key", "-out", d / "ossl-ca.crt")
    openssl("req", "-new", *ec, "-config", cnf, "-subj", f"/CN={client_cn}",
            "-keyout", d / "ossl-client.key", "-out", d / "ossl-client.csr")
    openssl("x509", "-req", "-in", d / "ossl-client.csr",
            "-CA", d / "ossl-ca.crt", "-CAkey", d / "ossl-ca.key",
            "-set_serial", "7", "-days", "7", "-extfile", cnf,
            "-extensions", "client", "-out", d / "ossl-client.crt")
    ca = certs.Issued(certs.load_cert((d / "ossl-ca.crt").read_bytes()),
                      load_pem_private_key((d / "ossl-ca.key").read_bytes(),
                                           None))
    return ca, (str(d / "ossl-client.crt"), str(d / "ossl-client.key"))


@pytest.fixture
def pki(tmp_path):
    """A client CA, another CA, and client certificates as (crt, key)
    files: alice and bob from the CA, an expired alice, and mallory (CN
    alice) from the other CA, which the openssl command makes."""
    class Pki:
        pass
    p = Pki()
    p.ca = certs.make_ca("Client CA")
    p.other, p.mallory = openssl_ca_and_client(tmp_path, "Other CA", "alice")
    p.server = certs.make_cert(certs.make_ca("Server CA"),
                               ["*.mtls.test", "mtls.test"])
    made = {"alice": certs.client_cert(p.ca, "alice"),
            "bob": certs.client_cert(p.ca, "bob"),
            "expired": certs.expired_cert(p.ca, [], common_name="alice",
                                          server=False, client=True)}
    p.issued = made
    for name, issued in made.items():
        setattr(p, name, issued.write(tmp_path, "client-" + name))
    return p


def test_verify_on_admits_a_good_certificate_and_refuses_none_expired_wrong_ca_and_wrong_cn(  # noqa: E501
        ctl, pki):
    ctl.write("server-tls", tls_secret("server-tls", pki.server))
    ctl.write("ca", ca_secret("client-ca", pki.ca))
    ctl.write("open", site(ctl, "open", "open.mtls.test", {}, svc="beta"))
    ctl.write("guarded", site(ctl, "guarded", "a.mtls.test", {
        f"{NGINX}/auth-tls-secret": f"{NS}/client-ca",
        f"{NGINX}/auth-tls-verify-client": "on",
        f"{NGINX}/auth-tls-verify-depth": "1",
        f"{NGINX}/auth-tls-match-cn": "CN=alice",
        f"{NGINX}/auth-tls-pass-certificate-to-upstream": "true"}))
    eventually(lambda: table_line(ctl, "a.mtls.test") is not None,
               timeout=15)
    ctl.settled()
    words = table_line(ctl, "a.mtls.test")
    assert words[0].startswith("secret-")
    assert words[1].startswith("ca=ca-")
    assert words[2:] == ["verify=on", "depth=1", "cn=CN=alice",
                         "pass-cert=on"]
    assert table_line(ctl, "open.mtls.test")[1:] == []
    port = ctl.https_port

    good = https(port, "a.mtls.test", cert=pki.alice)
    assert good.status == 200, good
    got = json.loads(good.body)
    assert got["name"] == "alpha"
    h = got["headers"]
    assert h["ssl-client-verify"] == "SUCCESS"
    assert h["ssl-client-subject-dn"] == "CN=alice"
    assert h["ssl-client-issuer-dn"] == "CN=Client CA"
    assert (urllib.parse.unquote(h["ssl-client-cert"]) ==
            pki.issued["alice"].cert_pem)

    none = https(port, "a.mtls.test")
    assert (none.status, NO_CERT_PAGE in none.body) == (400, True)
    for who in ("expired", "mallory"):
        r = https(port, "a.mtls.test", cert=getattr(pki, who))
        assert (r.status, CERT_ERROR_PAGE in r.body) == (400, True), who
    assert https(port, "a.mtls.test", cert=pki.bob).status == 403
    # plain HTTP to the host is redirected to HTTPS, never served
    assert plain(ctl.http_port, "a.mtls.test").status == 308

    # A host without the annotations is not asked for a certificate and
    # its backend never gets a client's own ssl-client-* headers.
    spoof = https(port, "open.mtls.test", cert=pki.alice,
                  headers="ssl-client-verify: SUCCESS\r\n"
                          "ssl-client-subject-dn: CN=admin\r\n")
    assert spoof.status == 200
    sent = json.loads(spoof.body)["headers"]
    assert "ssl-client-verify" not in sent
    assert "ssl-client-subject-dn" not in sent


def test_optional_verification_error_page_and_a_host_on_the_default_certificate(  # noqa: E501
        ctl, pki):
    """portico.io/ prefix; no spec.tls: the line names the default
    certificate ("-")."""
    ctl.write("ca", ca_secret("client-ca", pki.ca))
    ctl.write("opt", site(ctl, "opt", "opt.mtls.test", {
        "portico.io/auth-tls-secret": "client-ca",
        "portico.io/auth-tls-verify-client": "optional",
        "portico.io/auth-tls-error-page":
            "https://errors.example.com/client-cert.html"}, tls=False))
    eventually(lambda: table_line(ctl, "opt.mtls.test") is not None,
               timeout=15)
    ctl.settled()
    words = table_line(ctl, "opt.mtls.test")
    assert words[0] == "-"
    assert words[2:] == ["verify=optional", "depth=1",
                         "error-page=https://errors.example.com/"
                         "client-cert.html"]
    port = ctl.https_port
    anonymous = https(port, "opt.mtls.test")
    assert anonymous.status == 200
    assert json.loads(anonymous.body)["headers"]["ssl-client-verify"] == \
        "NONE"
    good = https(port, "opt.mtls.test", cert=pki.alice)
    assert json.loads(good.body)["headers"]["ssl-client-verify"] == \
        "SUCCESS"
    wrong = https(port, "opt.mtls.test", cert=pki.mallory)
    assert wrong.status == 302
    assert wrong.headers["location"] == \
        "https://errors.example.com/client-cert.html"
    # no redirect without a certificate of the host's own: plain HTTP is
    # served, with no certificate
    assert plain(ctl.http_port, "opt.mtls.test").status == 200


def test_a_broken_ca_or_an_incomplete_setting_refuses_the_ingress(ctl, pki):
    """Refused with the reason before anything reaches nginx; a host that
    another Ingress serves is then denied, never served unverified."""
    ctl.write("server-tls", tls_secret("server-tls", pki.server))
    ctl.write("s-garbage", ca_secret("garbage", ca_text="not a certificate\n"))
    ctl.write("s-keyonly", ca_secret("keyonly",
                                   ca_text=pki.issued["alice"].key_pem))
    ctl.write("s-badcrl", ca_secret("badcrl", pki.ca,
                                  crl=certs.make_crl(pki.other)))
    ctl.write("s-elsewhere", ca_secret("client-ca", pki.ca, ns="other"))
    cases = {
        "garbage": ({f"{NGINX}/auth-tls-secret": "garbage"},
                    "ca.crt holds no PEM certificate"),
        "keyonly": ({f"{NGINX}/auth-tls-secret": "keyonly"},
                    "is not a certificate"),
        "badcrl": ({f"{NGINX}/auth-tls-secret": "badcrl"},
                   "ca.crl: CRL 1 is not signed by a certificate of ca.crt"),
        "missing": ({f"{NGINX}/auth-tls-secret": "nope"},
                    f"Secret {NS}/nope not found"),
        "crossns": ({f"{NGINX}/auth-tls-secret": "other/client-ca"},
                    "a Secret of another namespace is not allowed"),
        "lone": ({f"{NGINX}/auth-tls-verify-client": "on"},
                 "auth-tls-verify-client needs auth-tls-secret"),
        "badmode": ({f"{NGINX}/auth-tls-secret": "garbage",
                     f"{NGINX}/auth-tls-verify-client": "yes"},
                    "must be on, off, optional or optional_no_ca"),
        "badcn": ({f"{NGINX}/auth-tls-secret": "garbage",
                   f"{NGINX}/auth-tls-match-cn": "CN=(alice"},
                  "not a regex: missing closing parenthesis"),
    }
    for name, (ann, _) in cases.items():
        ctl.write(name, site(ctl, name, f"{name}.mtls.test", ann))
    # the host of "missing" is also served by an Ingress without
    # client certificates
    ctl.write("plain-missing", site(ctl, "plain-missing", "missing.mtls.test",
                                    {}, svc="beta",
                                    created="2025-01-01T00:00:00Z"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == len(cases))
    eventually(lambda: table_line(ctl, "missing.mtls.test") is not None,
               timeout=15)
    ctl.settled()
    for name, (_, why) in cases.items():
        assert why in rejected_because(ctl, name), name
        if name != "missing":
            assert https(ctl.https_port, f"{name}.mtls.test",
                         cert=pki.alice).status == 404, name
    assert table_line(ctl, "missing.mtls.test")[1:] == ["verify=deny"]
    assert https(ctl.https_port, "missing.mtls.test",
                 cert=pki.alice).status == 403
    # The Secret appears: the Ingress is served, verified.
    ctl.write("s-nope", ca_secret("nope", pki.ca))
    eventually(lambda: https(ctl.https_port, "missing.mtls.test",
                             cert=pki.alice).status == 200, timeout=15)
    assert https(ctl.https_port, "missing.mtls.test").status == 400


def test_two_ingresses_of_a_host_must_agree_and_the_newer_is_refused(
        ctl, pki):
    ctl.write("server-tls", tls_secret("server-tls", pki.server))
    ctl.write("ca", ca_secret("client-ca", pki.ca))
    ann = {f"{NGINX}/auth-tls-secret": "client-ca"}
    ctl.write("first", site(ctl, "first", "c.mtls.test", ann))
    ctl.write("same", ingress("same", [("c.mtls.test", [
        ("/same", "Prefix", "beta", ctl.ports["beta"])])], annotations=ann,
        created="2026-01-02T00:00:00Z"))
    ctl.write("other", ingress("other", [("c.mtls.test", [
        ("/other", "Prefix", "gamma", ctl.ports["gamma"])])],
        annotations={**ann, f"{NGINX}/auth-tls-verify-client": "optional"},
        created="2026-01-03T00:00:00Z"))
    ctl.write("bare", ingress("bare", [("c.mtls.test", [
        ("/bare", "Prefix", "gamma", ctl.ports["gamma"])])],
        created="2026-01-04T00:00:00Z"))
    eventually(lambda: ctl.metric("portico_controller_ingresses",
                                  state="rejected") == 1, timeout=15)
    ctl.settled()
    assert ("host c.mtls.test already has other client certificate "
            f"settings (auth-tls-*) from the older Ingress {NS}/first"
            in rejected_because(ctl, "other"))
    port = ctl.https_port
    assert json.loads(https(port, "c.mtls.test", path="/same/x",
                            cert=pki.alice).body)["name"] == "beta"
    # the settings are the host's: an Ingress without them is verified too
    assert https(port, "c.mtls.test", path="/bare").status == 400
    assert json.loads(https(port, "c.mtls.test", path="/bare",
                            cert=pki.alice).body)["name"] == "gamma"
    # the refused Ingress's path is not served by it
    assert json.loads(https(port, "c.mtls.test", path="/other",
                            cert=pki.alice).body)["name"] == "alpha"


def test_a_ca_rotation_is_a_certificate_table_swap_without_a_reload(
        ctl, pki):
    ctl.write("server-tls", tls_secret("server-tls", pki.server))
    ctl.write("ca", ca_secret("client-ca", pki.ca))
    ctl.write("rot", site(ctl, "rot", "r.mtls.test", {
        f"{NGINX}/auth-tls-secret": "client-ca"}))
    eventually(lambda: table_line(ctl, "r.mtls.test") is not None,
               timeout=15)
    ctl.settled()
    port = ctl.https_port
    assert https(port, "r.mtls.test", cert=pki.alice).status == 200
    assert https(port, "r.mtls.test", cert=pki.mallory).status == 400
    before, pids = reloads(ctl), ctl.nginx_pids()
    first = table_line(ctl, "r.mtls.test")[1]
    assert (ctl.prefix / "certs" / (first[len("ca="):] + ".ca")).exists()

    # the other CA and a CRL revoking bob, in one Secret update
    ctl.write("ca", ca_secret("client-ca", pki.other, pki.ca,
                              crl=certs.make_crl(pki.ca,
                                                 revoked=[pki.issued["bob"]])
                              + certs.make_crl(pki.other)))
    eventually(lambda: table_line(ctl, "r.mtls.test")[1] != first,
               timeout=15)
    ctl.settled()
    assert https(port, "r.mtls.test", cert=pki.mallory).status == 200
    assert https(port, "r.mtls.test", cert=pki.alice).status == 200
    assert https(port, "r.mtls.test", cert=pki.bob).status == 400   # revoked
    assert reloads(ctl) == before
    assert ctl.nginx_pids() == pids
    # the CA file is 0600, and the former one is removed once nothing
    # serves it
    new = ctl.prefix / "certs" / (table_line(ctl, "r.mtls.test")[1][3:] +
                                  ".ca")
    assert new.stat().st_mode & 0o777 == 0o600
    old = ctl.prefix / "certs" / (first[len("ca="):] + ".ca")
    eventually(lambda: not old.exists())


def test_an_auth_service_gets_the_client_certificate_and_never_a_forged_one(
        ctl, pki, auth_service, cluster_dns):  # noqa: F811
    """auth-url with auth-tls-*: the auth subrequest carries the verified
    certificate like the backend request; on any host a client's own
    ssl-client-* headers never reach the auth service."""
    cluster_dns.set(f"auth.{NS}.svc.cluster.local", "127.0.0.7")
    url = f"http://auth.{NS}.svc.cluster.local:{auth_service.port}/check"
    ctl.write("server-tls", tls_secret("server-tls", pki.server))
    ctl.write("ca", ca_secret("client-ca", pki.ca))
    ctl.write("both", site(ctl, "both", "b.mtls.test", {
        f"{NGINX}/auth-tls-secret": "client-ca",
        f"{NGINX}/auth-tls-pass-certificate-to-upstream": "true",
        f"{NGINX}/auth-url": url}))
    ctl.write("authonly", site(ctl, "authonly", "o.mtls.test", {
        f"{NGINX}/auth-url": url}))
    good = "Authorization: Bearer good\r\n"
    eventually(lambda: https(ctl.https_port, "b.mtls.test", cert=pki.alice,
                             headers=good).status == 200, timeout=15)
    asked = auth_service.seen[-1]["headers"]
    assert asked["ssl-client-verify"] == "SUCCESS"
    assert asked["ssl-client-subject-dn"] == "CN=alice"
    assert (urllib.parse.unquote(asked["ssl-client-cert"]) ==
            pki.issued["alice"].cert_pem)
    assert https(ctl.https_port, "b.mtls.test", headers=good).status == 400
    eventually(lambda: https(ctl.https_port, "o.mtls.test",
                             headers=good).status == 200, timeout=15)
    forged = https(ctl.https_port, "o.mtls.test",
                   headers=good + "ssl-client-verify: SUCCESS\r\n"
                                  "ssl-client-subject-dn: CN=admin\r\n")
    assert forged.status == 200
    asked = auth_service.seen[-1]["headers"]
    assert "ssl-client-verify" not in asked
    assert "ssl-client-subject-dn" not in asked
