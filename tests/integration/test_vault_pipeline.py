"""The certificate pipeline (vault/certs.h) on its worker thread, driven
through `portico-vault watch`, which runs it exactly as the controller does
(evloop + notify fd + snapshots) and prints every change. Against the Vault
stand-in: rotation, invalid updates, Vault down/sealed, per-host isolation,
host set changes, restart from disk, metrics, token renewal and expiry,
token-file rotation, Kubernetes re-login, PKI renewal."""
import calendar
import os
import re
import stat
import time
import urllib.request

import pytest

import testbed
from testbed import certs

VAULT_BIN = testbed.BUILD / "portico-vault"
REFRESH = "1s"
WAIT = 8.0


def parse_event(line):
    ev = {}
    head, _, err = line.partition(' error="')
    for tok in head.split():
        k, _, v = tok.partition("=")
        ev[k] = v
    if err:
        ev["error"] = err.rstrip('"')
    return ev


class Watch:
    """A running `portico-vault watch` and its printed events."""

    def __init__(self, procs, vault, tmp_path, hosts=(), extra=(), token="root",
                 env=None, hosts_file=None, name="watch", cert_dir=None):
        self.dir = str(cert_dir or (tmp_path / "certs"))
        argv = [VAULT_BIN, "watch", *hosts, "--vault-cert-dir", self.dir,
                "--vault-refresh", REFRESH, "--vault-retry-min", "200ms",
                "--vault-retries", "1", "--vault-backoff-min", "20ms",
                "--vault-backoff-max", "50ms", "--vault-timeout", "2s"]
        if hosts_file:
            argv += ["--hosts-file", hosts_file]
        argv += list(extra)
        e = {"VAULT_ADDR": vault.addr}
        if token == "root":
            token = vault.root_token
        if token:
            e["VAULT_TOKEN"] = token
        e.update(env or {})
        self.proc = procs.start(name, argv, env=e)
        self.wait_line("watching")

    def lines(self):
        return self.proc.log_text(tail=2_000_000).splitlines()

    def events(self, host=None, kind=None):
        out = [parse_event(l) for l in self.lines() if l.startswith("event=")]
        return [e for e in out if (host is None or e.get("host") == host)
                and (kind is None or e["event"] == kind)]

    def wait_line(self, text, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in l for l in self.lines()):
                return
            assert self.proc.alive(), self.proc.log_text()
            time.sleep(0.05)
        raise AssertionError("no %r in:\n%s" % (text, self.proc.log_text()))

    def wait_event(self, pred, after=0, timeout=WAIT):
        """The first event (index >= after) for which pred is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = self.events()
            for e in evs[after:]:
                if pred(e):
                    return e
            assert self.proc.alive(), self.proc.log_text()
            time.sleep(0.05)
        raise AssertionError("event not seen; log:\n%s" % self.proc.log_text())

    def count(self):
        return len(self.events())

    def stop(self):
        return self.proc.stop()


def put_pair(vault, host, issued):
    vault.kv_put("ssl/" + host, {"crt": issued.cert_pem, "key": issued.key_pem})


def pair_event(host, **want):
    def pred(e):
        return (e["event"] == "pair" and e["host"] == host and
                all(e.get(k) == v for k, v in want.items()))
    return pred


def status_event(host, status, reason=None):
    def pred(e):
        return (e["host"] == host and e["status"] == status and
                (reason is None or e.get("reason") == reason))
    return pred


@pytest.fixture(scope="module")
def ca():
    return certs.make_ca("Pipeline Test CA")


def test_pairs_are_written_once_and_notified_only_when_they_change(procs, fake_vault, ca, tmp_path):
    a = certs.make_cert(ca, ["a.example.com"])
    b = certs.make_cert(ca, ["b.example.com"])
    put_pair(fake_vault, "a.example.com", a)
    put_pair(fake_vault, "b.example.com", b)
    w = Watch(procs, fake_vault, tmp_path, ["a.example.com", "b.example.com"])
    ea = w.wait_event(pair_event("a.example.com", status="ok"))
    w.wait_event(pair_event("b.example.com", status="ok"))
    assert ea["source"] == "secret/ssl/a.example.com" and ea["version"] == "1"
    assert open(ea["crt"]).read() == a.cert_pem
    assert open(ea["key"]).read() == a.key_pem
    assert stat.S_IMODE(os.stat(ea["key"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ea["crt"]).st_mode) == 0o600
    fake_vault.clear_requests()
    time.sleep(2.5)                     # at least two refresh rounds
    reads = [q for q in fake_vault.requests() if q["path"] == "secret/data/ssl/a.example.com"]
    assert len(reads) >= 2
    assert len(w.events(kind="pair")) == 2          # nothing changed: no more
    assert sum(1 for l in w.lines() if l == "notify") == 2


def test_a_new_pair_in_vault_is_picked_up_at_the_next_refresh(procs, fake_vault, ca, tmp_path):
    first = certs.make_cert(ca, ["r.example.com"])
    other = certs.make_cert(ca, ["s.example.com"])
    put_pair(fake_vault, "r.example.com", first)
    put_pair(fake_vault, "s.example.com", other)
    w = Watch(procs, fake_vault, tmp_path, ["r.example.com", "s.example.com"])
    e1 = w.wait_event(pair_event("r.example.com"))
    w.wait_event(pair_event("s.example.com"))
    n = w.count()
    second = certs.make_cert(ca, ["r.example.com"])
    put_pair(fake_vault, "r.example.com", second)
    e2 = w.wait_event(pair_event("r.example.com", version="2"), after=n, timeout=5)
    assert e2["sha256"] != e1["sha256"] and e2["crt"] == e1["crt"]
    assert open(e2["crt"]).read() == second.cert_pem
    assert open(e2["key"]).read() == second.key_pem
    assert len(w.events("s.example.com", "pair")) == 1     # the other host untouched


def test_an_invalid_update_is_rejected_and_the_previous_pair_kept(procs, fake_vault, ca, tmp_path):
    good = certs.make_cert(ca, ["i.example.com"])
    put_pair(fake_vault, "i.example.com", good)
    w = Watch(procs, fake_vault, tmp_path, ["i.example.com"])
    e = w.wait_event(pair_event("i.example.com"))
    n = w.count()
    crt, key = certs.mismatched_pair(ca, ["i.example.com"])
    fake_vault.kv_put("ssl/i.example.com", {"crt": crt, "key": key})
    bad = w.wait_event(status_event("i.example.com", "invalid", "key_mismatch"), after=n)
    assert bad["has_pair"] == "1" and bad["sha256"] == e["sha256"]
    assert open(e["crt"]).read() == good.cert_pem
    expired = certs.expired_cert(ca, ["i.example.com"])
    put_pair(fake_vault, "i.example.com", expired)
    w.wait_event(status_event("i.example.com", "invalid", "expired"), after=n)
    assert open(e["crt"]).read() == good.cert_pem
    assert len(w.events("i.example.com", "pair")) == 1


def test_vault_sealed_keeps_serving_then_recovers_without_a_reload(procs, fake_vault, ca, tmp_path):
    leaf = certs.make_cert(ca, ["d.example.com"])
    put_pair(fake_vault, "d.example.com", leaf)
    w = Watch(procs, fake_vault, tmp_path, ["d.example.com"])
    e = w.wait_event(pair_event("d.example.com"))
    n = w.count()
    fake_vault.seal()
    down = w.wait_event(status_event("d.example.com", "vault_error", "sealed"), after=n)
    assert down["has_pair"] == "1" and os.path.exists(e["crt"])
    fake_vault.clear_requests()
    time.sleep(2.0)
    # Retried with backoff (0.2 s doubling), not hammered.
    tries = len([q for q in fake_vault.requests() if q["path"].startswith("secret/")])
    assert 2 <= tries <= 12, tries
    fake_vault.unseal()
    w.wait_event(status_event("d.example.com", "ok"), after=n, timeout=10)
    assert len(w.events("d.example.com", "pair")) == 1      # same pair: no change
    assert open(e["crt"]).read() == leaf.cert_pem


def test_a_vault_outage_is_probed_with_backoff_not_host_by_host(procs, fake_vault, ca, tmp_path):
    hosts = ["o%d.example.com" % i for i in range(6)]
    for h in hosts:
        put_pair(fake_vault, h, certs.make_cert(ca, [h]))
    w = Watch(procs, fake_vault, tmp_path, hosts)
    for h in hosts:
        w.wait_event(pair_event(h))
    n = w.count()
    fake_vault.seal()
    for h in hosts:     # every host reports the outage and keeps its pair
        e = w.wait_event(status_event(h, "vault_error", "sealed"), after=n)
        assert e["has_pair"] == "1"
    fake_vault.clear_requests()
    time.sleep(2.0)
    tries = len([q for q in fake_vault.requests() if q["path"].startswith("secret/")])
    # One probe (2 attempts) per pause of 0.2 s doubling: about 8. Host by
    # host it would be 6 times as many.
    assert 1 <= tries <= 16, tries
    fake_vault.unseal()
    for h in hosts:
        w.wait_event(status_event(h, "ok"), after=n, timeout=6)
    assert all(len(w.events(h, "pair")) == 1 for h in hosts)


def test_one_failing_host_never_affects_the_others(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "ok.example.com", certs.make_cert(ca, ["ok.example.com"]))
    put_pair(fake_vault, "*.wild.example.com", certs.make_cert(ca, ["*.wild.example.com"]))
    put_pair(fake_vault, "bad.example.com", certs.make_cert(ca, ["elsewhere.example.org"]))
    w = Watch(procs, fake_vault, tmp_path,
              ["ok.example.com", "x.wild.example.com", "bad.example.com", "none.example.net"])
    w.wait_event(pair_event("ok.example.com"))
    wild = w.wait_event(pair_event("x.wild.example.com"))
    assert wild["source"] == "secret/ssl/*.wild.example.com"
    w.wait_event(status_event("bad.example.com", "invalid", "host_mismatch"))
    w.wait_event(status_event("none.example.net", "missing", "not_found"))
    assert sorted(os.listdir(w.dir)) == ["ok.example.com.crt", "ok.example.com.key",
                                         "x.wild.example.com.crt", "x.wild.example.com.key"]


def test_host_set_changes_fetch_new_hosts_and_remove_dropped_ones(procs, fake_vault, ca, tmp_path):
    for h in ("h1.example.com", "h2.example.com"):
        put_pair(fake_vault, h, certs.make_cert(ca, [h]))
    hosts = tmp_path / "hosts"
    hosts.write_text("h1.example.com\n")
    w = Watch(procs, fake_vault, tmp_path, hosts_file=str(hosts),
              extra=["--vault-refresh", "1h"])
    e1 = w.wait_event(pair_event("h1.example.com"))
    n = w.count()
    hosts.write_text("h2.example.com\n")
    w.wait_event(pair_event("h2.example.com"), after=n, timeout=3)   # at once, not in 1h
    w.wait_line("event=removed host=h1.example.com")
    assert not os.path.exists(e1["crt"]) and not os.path.exists(e1["key"])
    assert sorted(os.listdir(w.dir)) == ["h2.example.com.crt", "h2.example.com.key"]


def test_a_restart_serves_the_pairs_on_disk_while_vault_is_down(procs, fake_vault, ca, tmp_path):
    leaf = certs.make_cert(ca, ["disk.example.com"])
    put_pair(fake_vault, "disk.example.com", leaf)
    w = Watch(procs, fake_vault, tmp_path, ["disk.example.com"])
    e = w.wait_event(pair_event("disk.example.com"))
    w.stop()
    fake_vault.seal()
    w2 = Watch(procs, fake_vault, tmp_path, ["disk.example.com"], name="watch-again")
    d = w2.wait_event(pair_event("disk.example.com"))
    assert d["source"] == "disk" and d["sha256"] == e["sha256"]
    w2.wait_event(status_event("disk.example.com", "vault_error", "sealed"))


def test_metrics_report_expiry_errors_and_last_success(procs, fake_vault, ca, tmp_path):
    leaf = certs.make_cert(ca, ["m.example.com"])
    put_pair(fake_vault, "m.example.com", leaf)
    port = testbed.free_port()
    w = Watch(procs, fake_vault, tmp_path, ["m.example.com", "gone.example.net"],
              extra=["--metrics-listen", "127.0.0.1:%d" % port])
    w.wait_event(pair_event("m.example.com"))
    w.wait_event(status_event("gone.example.net", "missing"))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    rc, out = testbed.promtool_check_metrics(text)
    assert rc == 0, out
    expiry = re.search(r'portico_controller_certificate_expiry_timestamp_seconds'
                       r'\{host="m.example.com",source="vault"\} (\S+)', text)
    assert int(float(expiry.group(1))) == calendar.timegm(leaf.cert.not_valid_after.timetuple())
    errors = re.search(r'portico_controller_vault_fetch_errors_total\{reason="not_found"\} (\d+)', text)
    assert int(errors.group(1)) >= 1
    ok = re.search(r'portico_controller_vault_last_success_timestamp_seconds'
                   r'\{host="m.example.com"\} (\S+)', text)
    assert abs(float(ok.group(1)) - time.time()) < 30
    assert 'portico_controller_vault_certificate_status{host="gone.example.net",status="missing"} 1' in text
    assert fake_vault.root_token not in text


def test_a_renewable_token_is_renewed_at_half_its_lease(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "t.example.com", certs.make_cert(ca, ["t.example.com"]))
    tok = fake_vault.create_token(["root"], ttl="3s", renewable=True)
    w = Watch(procs, fake_vault, tmp_path, ["t.example.com"], token=tok)
    w.wait_event(pair_event("t.example.com"))
    time.sleep(4.5)                  # beyond the first lease
    reqs = fake_vault.requests()
    renewals = [q for q in reqs if q["path"] == "auth/token/renew-self"]
    assert renewals and all(q["status"] == 200 for q in renewals)
    late = [q for q in reqs if q["path"] == "secret/data/ssl/t.example.com"][-1]
    assert late["status"] == 200
    assert not w.events("t.example.com", None)[-1].get("reason")
    assert tok not in w.proc.log_text()


def test_an_expired_token_is_reported_and_the_pairs_kept(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "x.example.com", certs.make_cert(ca, ["x.example.com"]))
    tok = fake_vault.create_token(["root"], ttl="1h", renewable=False)
    w = Watch(procs, fake_vault, tmp_path, ["x.example.com"], token=tok)
    w.wait_event(pair_event("x.example.com"))
    n = w.count()
    fake_vault.expire_token(tok)
    e = w.wait_event(status_event("x.example.com", "vault_error", "permission_denied"), after=n)
    assert e["has_pair"] == "1"
    assert tok not in w.proc.log_text()


def test_a_rotated_token_file_is_read_again(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "f.example.com", certs.make_cert(ca, ["f.example.com"]))
    first = fake_vault.create_token(["root"], ttl="1h")
    second = fake_vault.create_token(["root"], ttl="1h")
    tf = tmp_path / "token"
    tf.write_text(first + "\n")
    w = Watch(procs, fake_vault, tmp_path, ["f.example.com"], token=None,
              env={"VAULT_TOKEN_FILE": str(tf)})
    w.wait_event(pair_event("f.example.com"))
    acc_first = fake_vault.requests("secret/data/ssl/")[-1]["accessor"]
    n = w.count()
    tmp = tmp_path / "token.new"
    tmp.write_text(second + "\n")
    os.rename(tmp, tf)                       # how kubelet swaps Secret volumes
    fake_vault.expire_token(first)
    time.sleep(2.5)
    last = fake_vault.requests("secret/data/ssl/")[-1]
    assert last["status"] == 200 and last["accessor"] != acc_first
    assert all(e["status"] == "ok" for e in w.events()[n:]), w.proc.log_text()
    assert "token file" in w.proc.log_text() and second not in w.proc.log_text()


def _k8s(vault, tmp_path, ttl, max_ttl=None):
    vault.add_policy("ssl-read", 'path "secret/data/ssl/*" { capabilities = ["read"] }\n'
                     'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }')
    vault.add_kubernetes_role("portico", ["portico"], ["ingress"], ["ssl-read"],
                              ttl=ttl, max_ttl=max_ttl)
    jwt = tmp_path / "jwt"
    jwt.write_text(vault.make_jwt("portico", "ingress"))
    return ["--vault-auth", "kubernetes", "--vault-k8s-role", "portico",
            "--vault-k8s-jwt-file", str(jwt)]


def test_kubernetes_auth_logs_in_again_after_a_403(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "k.example.com", certs.make_cert(ca, ["k.example.com"]))
    args = _k8s(fake_vault, tmp_path, ttl="1h")
    w = Watch(procs, fake_vault, tmp_path, ["k.example.com"], token=None, extra=args)
    w.wait_event(pair_event("k.example.com"))
    acc = fake_vault.requests("secret/data/ssl/")[-1]["accessor"]
    fake_vault.admin("POST", "tokens/expire", {"accessor": acc})
    fake_vault.clear_requests()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        reqs = fake_vault.requests()
        reads = [q for q in reqs if q["path"] == "secret/data/ssl/k.example.com"]
        if any(q["status"] == 200 for q in reads):
            break
        time.sleep(0.1)
    paths = [(q["path"], q["status"]) for q in reqs]
    assert ("secret/data/ssl/k.example.com", 403) in paths
    i403 = paths.index(("secret/data/ssl/k.example.com", 403))
    assert ("auth/kubernetes/login", 200) in paths[i403:]
    assert paths[-1] == ("secret/data/ssl/k.example.com", 200) or \
        ("secret/data/ssl/k.example.com", 200) in paths[i403:]
    assert all(e["status"] in ("ok", "pending") for e in w.events("k.example.com"))


def test_kubernetes_auth_renews_then_logs_in_again_before_the_max_ttl(procs, fake_vault, ca, tmp_path):
    put_pair(fake_vault, "kk.example.com", certs.make_cert(ca, ["kk.example.com"]))
    args = _k8s(fake_vault, tmp_path, ttl="3s", max_ttl="4s")
    w = Watch(procs, fake_vault, tmp_path, ["kk.example.com"], token=None, extra=args)
    w.wait_event(pair_event("kk.example.com"))
    time.sleep(5)
    reqs = fake_vault.requests()
    logins = [q for q in reqs if q["path"] == "auth/kubernetes/login"]
    renewals = [q for q in reqs if q["path"] == "auth/token/renew-self"]
    reads = [q for q in reqs if q["path"] == "secret/data/ssl/kk.example.com"]
    assert len(logins) >= 2 and renewals
    assert all(q["status"] == 200 for q in reads), [q["status"] for q in reads]
    assert all(e["status"] in ("ok", "pending") for e in w.events("kk.example.com")), w.proc.log_text()


def test_pki_issues_for_hosts_without_entry_and_renews_at_two_thirds(procs, fake_vault, tmp_path):
    fake_vault.request("POST", "pki/roles/web", {"allowed_domains": ["example.com"],
                                                 "allow_subdomains": True})
    w = Watch(procs, fake_vault, tmp_path, ["p.example.com"],
              extra=["--vault-pki-role", "web", "--vault-pki-ttl", "6s",
                     "--vault-refresh", "1h"])
    first = w.wait_event(pair_event("p.example.com", source="pki:pki/issue/web"))
    ca_pem = fake_vault.pki_ca_pem()
    issued = certs.load_cert(open(first["crt"]).read())
    assert issued.issuer == certs.load_cert(ca_pem).subject
    n = w.count()
    t0 = time.monotonic()
    second = w.wait_event(pair_event("p.example.com", source="pki:pki/issue/web"),
                          after=n, timeout=8)
    elapsed = time.monotonic() - t0
    assert second["sha256"] != first["sha256"]
    # notBefore may be back-dated by the issuer; renewal must come before
    # expiry and not at once.
    assert 1.0 < elapsed < 6.0, elapsed
    assert int(second["not_after"]) > int(first["not_after"])
