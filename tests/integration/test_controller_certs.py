"""Certificates without reloads (docs/certificates.md), through the
controller in local mode with real nginx: a host gains, rotates and loses
its certificate under steady TLS handshakes with no failed handshake and no
reload; SNI exact, wildcard and default; bad certificates refused by the
controller before they reach nginx's table."""
import base64
import json
import time

from testbed import certs, tls
from testbed.controller import eventually
from test_controller_local import (NS, backends, ctl,  # noqa: F401
                                   ingress)

DEFAULT_CN = "portico-default"


def tls_secret(name, issued=None, crt_pem=None, key_pem=None):
    """A kubernetes.io/tls Secret of an issued pair (or of given PEM)."""
    crt = crt_pem if crt_pem is not None else issued.chain_pem
    key = key_pem if key_pem is not None else issued.key_pem
    return json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": NS},
        "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                 "tls.key": base64.b64encode(key.encode()).decode()}})


def reloads(ctl):
    return ctl.metric("portico_controller_reloads_total", result="success")


def cert_updates(ctl):
    return ctl.metric("portico_controller_certificate_updates_total",
                      result="success")


def table_hosts(ctl):
    """{host: stem} of the live certificate table."""
    lines = ctl.certificates().splitlines()
    assert lines[0] == "portico-certificates 1"
    return dict(line.split()[1:] for line in lines[2:])


def test_a_host_gains_rotates_and_loses_its_certificate_without_a_reload(
        ctl):
    """Under steady TLS handshakes to the host: no handshake fails, the
    reload counter stays, every step is one certificate table swap, and
    after each step only its certificate is served."""
    ca = certs.make_ca()
    one = certs.make_cert(ca, ["h.test"], common_name="h-one")
    two = certs.make_cert(ca, ["h.test"], common_name="h-two")
    rules = [("h.test", [("/", "Prefix", "alpha", ctl.ports["alpha"])])]
    with_tls = [{"hosts": ["h.test"], "secretName": "h-tls"}]
    ctl.write("h", ingress("h", rules))
    ctl.wait_served("h.test", "/", "alpha")
    before, updates = reloads(ctl), cert_updates(ctl)
    pids = ctl.nginx_pids()
    assert table_hosts(ctl) == {}

    load = tls.HandshakeLoad(ctl.https_port, "h.test", threads=4)
    try:
        eventually(lambda: len(load.snapshot()) > 50)
        steps = []      # (first result after it, want, results before)

        def step(want, **writes):
            written = len(load.snapshot())
            for name, text in writes.items():
                ctl.write(name, text)
            eventually(lambda: tls.handshake(ctl.https_port, "h.test",
                                             request=False).cn == want,
                       timeout=15)
            ctl.settled()
            steps.append((len(load.snapshot()), want, written))
            time.sleep(0.5)     # handshakes in the confirmed state

        step("h-one", secret=tls_secret("h-tls", one),
             h=ingress("h", rules, tls=with_tls))          # gains
        assert ctl.get("h.test").status == 308             # and redirects
        step("h-two", secret=tls_secret("h-tls", two))      # rotates
        step(DEFAULT_CN, h=ingress("h", rules))             # loses
        results = load.stop()
    finally:
        load.stop()

    assert load.failures() == []
    assert len(results) > 200
    # between a step's confirmation and the next change, only its
    # certificate is seen
    ends = [written for _, _, written in steps[1:]] + [len(results)]
    for (start, want, _), end in zip(steps, ends):
        assert end - start > 10
        assert {r[1] for r in results[start:end]} == {want}
    assert reloads(ctl) == before
    assert cert_updates(ctl) == updates + 3
    assert ctl.nginx_pids() == pids         # same master, same workers
    assert table_hosts(ctl) == {}


def test_sni_picks_exact_then_one_label_wildcard_then_default(ctl):
    ca = certs.make_ca()
    wild = certs.make_cert(ca, ["*.apps.test"], common_name="wild")
    exact = certs.make_cert(ca, ["a.apps.test"], common_name="exact")
    p = ctl.ports["alpha"]
    ctl.write("s-wild", tls_secret("wild-tls", wild))
    ctl.write("s-exact", tls_secret("exact-tls", exact))
    ctl.write("wild", ingress("wild", [("*.apps.test", [
        ("/", "Prefix", "alpha", p)])],
        tls=[{"hosts": ["*.apps.test"], "secretName": "wild-tls"}]))
    ctl.write("exact", ingress("exact", [("a.apps.test", [
        ("/", "Prefix", "alpha", p)])],
        tls=[{"hosts": ["a.apps.test"], "secretName": "exact-tls"}]))
    eventually(lambda: len(table_hosts(ctl)) == 2, timeout=15)
    ctl.settled()
    hosts = table_hosts(ctl)
    assert sorted(hosts) == ["*.apps.test", "a.apps.test"]
    assert all(s.startswith("secret-") for s in hosts.values())
    assert tls.handshake(ctl.https_port, "a.apps.test").cn == "exact"
    assert tls.handshake(ctl.https_port, "b.apps.test").cn == "wild"
    assert tls.handshake(ctl.https_port, "x.b.apps.test").cn == DEFAULT_CN
    assert tls.handshake(ctl.https_port, "apps.test").cn == DEFAULT_CN
    assert tls.handshake(ctl.https_port, None).cn == DEFAULT_CN
    # one HTTPS server in nginx.conf, whatever the number of certificates
    assert ctl.nginx_conf().count("portico_certificate_by_sni;") == 1
    assert "apps.test" not in ctl.nginx_conf()


def test_bad_certificates_are_refused_before_they_reach_nginx(ctl):
    """Unparsable, mismatched or not covering its host: the controller
    says why and keeps the host on the default certificate; the table
    never names it. Expired: served with a warning, as ingress-nginx
    does."""
    ca = certs.make_ca()
    good = certs.make_cert(ca, ["good.test"], common_name="good")
    crt, other_key = certs.mismatched_pair(ca, ["mismatch.test"])
    elsewhere = certs.make_cert(ca, ["elsewhere.test"])
    expired = certs.expired_cert(ca, ["old.test"], common_name="old")
    p = ctl.ports["alpha"]
    cases = {
        "good.test": tls_secret("good-tls", good),
        "garbage.test": tls_secret("garbage-tls", crt_pem="not a cert\n",
                                   key_pem=good.key_pem),
        "mismatch.test": tls_secret("mismatch-tls", crt_pem=crt,
                                    key_pem=other_key),
        "wrong-host.test": tls_secret("wrong-host-tls", elsewhere),
        "old.test": tls_secret("old-tls", expired),
    }
    for host, secret in cases.items():
        name = host.split(".")[0]
        ctl.write(f"s-{name}", secret)
        ctl.write(name, ingress(name, [(host, [("/", "Prefix", "alpha", p)])],
                                tls=[{"hosts": [host],
                                      "secretName": f"{name}-tls"}]))
    eventually(lambda: "old.test" in table_hosts(ctl), timeout=15)
    ctl.settled()
    assert sorted(table_hosts(ctl)) == ["good.test", "old.test"]
    log = ctl.proc.log_text(tail=10 ** 7)
    assert "certificate is not a PEM chain" in log
    assert "private key does not match the certificate" in log
    assert "certificate does not cover wrong-host.test" in log
    assert "leaf certificate 0 (CN=old) is expired; served anyway" in log
    assert tls.handshake(ctl.https_port, "good.test").cn == "good"
    assert tls.handshake(ctl.https_port, "old.test").cn == "old"
    for host in ("garbage.test", "mismatch.test", "wrong-host.test"):
        assert tls.handshake(ctl.https_port, host).cn == DEFAULT_CN
        assert ctl.get(host).status == 200      # no redirect without TLS
    # nginx never had to refuse a certificate itself
    assert not [line for line in log.splitlines()
                if "[error]" in line and "portico_certificates" in line]
