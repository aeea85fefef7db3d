"""portico-vault against the Vault stand-in (tests/fakes/vault), one-shot
commands: health, read, cert. Every error class maps to its own exit status;
TLS is verified (CA, host name); KV v1 and v2; wildcard fallback; the field
variants; invalid certificate sets; Kubernetes login; PKI issue. Nothing
here talks to anything but 127.0.0.1."""
import os
import socket
import stat
import subprocess
import time

import pytest

import testbed
from testbed import certs

VAULT_BIN = testbed.BUILD / "portico-vault"

# Exit statuses (vault/README.md).
EXIT_USAGE = 2
EXIT_NOT_FOUND = 11
EXIT_PERMISSION = 12
EXIT_SEALED = 13
EXIT_RATE_LIMITED = 14
EXIT_SERVER = 15
EXIT_BAD_REQUEST = 16
EXIT_NETWORK = 17
EXIT_TIMEOUT = 18
EXIT_TLS = 19
EXIT_MALFORMED = 20
EXIT_AUTH = 21
EXIT_MISSING_FIELDS = 30
EXIT_BAD_CERT = 31
EXIT_BAD_KEY = 32
EXIT_KEY_MISMATCH = 33
EXIT_EXPIRED = 34
EXIT_NOT_YET_VALID = 35
EXIT_HOST_MISMATCH = 36
EXIT_CHAIN_ORDER = 37

FAST = ["--vault-backoff-min", "20ms", "--vault-backoff-max", "50ms"]


def run(vault, *args, token="root", env=None, timeout=20):
    """Runs portico-vault against `vault` with a clean VAULT_* environment."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    e["VAULT_ADDR"] = vault.addr if vault else "http://127.0.0.1:9"
    if token == "root":
        token = vault.root_token
    if token:
        e["VAULT_TOKEN"] = token
    if vault is not None and vault.ca_cert_path:
        e["VAULT_CACERT"] = vault.ca_cert_path
    e.update(env or {})
    return subprocess.run([str(VAULT_BIN)] + FAST + [str(a) for a in args],
                          env=e, capture_output=True, text=True, timeout=timeout)


def fields(stdout):
    out = {}
    for line in stdout.splitlines():
        if ": " in line and not line.startswith(" "):
            k, v = line.split(": ", 1)
            out[k] = v
    return out


def put_pair(vault, name, issued, path="ssl", mount="secret", names=("crt", "key"),
             chain=False):
    crt = issued.chain_pem if chain else issued.cert_pem
    vault.kv_put("%s/%s" % (path, name), {names[0]: crt, names[1]: issued.key_pem},
                 mount=mount)


@pytest.fixture(scope="module")
def ca():
    return certs.make_ca("Vault CLI Test CA")


# ---- health ----------------------------------------------------------------

def test_health_reports_an_active_unsealed_vault(fake_vault):
    r = run(fake_vault, "health", token=None)
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["sealed"] == "false" and f["initialized"] == "true"
    assert f["http_status"] == "200"


def test_health_of_a_sealed_vault_exits_with_the_sealed_status(fake_vault):
    fake_vault.seal()
    r = run(fake_vault, "health", token=None)
    assert r.returncode == EXIT_SEALED
    assert fields(r.stdout)["sealed"] == "true"
    assert "sealed" in r.stderr


def test_health_of_a_standby_node_is_ok(fake_vault):
    fake_vault.set_state(standby=True)
    r = run(fake_vault, "health", token=None)
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout)["standby"] == "true"
    assert fields(r.stdout)["http_status"] == "429"


# ---- read: KV v1 and v2 ------------------------------------------------------

def test_read_kv_v2_detects_the_mount_and_returns_fields_and_version(fake_vault):
    fake_vault.kv_put("app/db", {"user": "a"})
    fake_vault.kv_put("app/db", {"user": "b", "pass": "p"})
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "secret/app/db")
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["kv_version"] == "2" and f["version"] == "2"
    assert "  user: b" in r.stdout and "  pass: p" in r.stdout
    paths = [q["path"] for q in fake_vault.requests()]
    assert "sys/internal/ui/mounts/secret/app/db" in paths
    assert "secret/data/app/db" in paths


def test_read_kv_v1_uses_the_path_as_is(fake_vault):
    fake_vault.kv_put("app/db", {"user": "v1"}, mount="kv1")
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "kv1/app/db", "--field", "user")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "v1\n"
    assert "kv1/app/db" in [q["path"] for q in fake_vault.requests()]


def test_forced_kv_version_skips_mount_detection(fake_vault):
    fake_vault.kv_put("x", {"a": "1"}, mount="kv1")
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "kv1/x", "--vault-kv-version", "1")
    assert r.returncode == 0, r.stderr
    assert not [q for q in fake_vault.requests() if q["path"].startswith("sys/")]


def test_missing_key_is_not_found(fake_vault):
    r = run(fake_vault, "read", "secret/nothing/here")
    assert r.returncode == EXIT_NOT_FOUND
    assert "not found" in r.stderr and "secret/nothing/here" in r.stderr


def test_deleted_v2_version_is_not_found_and_says_deleted(fake_vault):
    fake_vault.kv_put("gone", {"a": "1"})
    fake_vault.kv_delete("gone")
    status, body = fake_vault.request("GET", "secret/data/gone")
    assert status == 404 and body["data"]["metadata"]["deletion_time"]
    r = run(fake_vault, "read", "secret/gone")
    assert r.returncode == EXIT_NOT_FOUND
    assert "deleted" in r.stderr


def test_missing_field_is_not_found(fake_vault):
    fake_vault.kv_put("x", {"a": "1"})
    r = run(fake_vault, "read", "secret/x", "--field", "b")
    assert r.returncode == EXIT_NOT_FOUND


# ---- error classes ---------------------------------------------------------

def test_permission_denied_is_its_own_exit_status_and_never_shows_the_token(fake_vault):
    fake_vault.add_policy("other", 'path "secret/data/other/*" { capabilities = ["read"] }')
    tok = fake_vault.create_token(["other"])
    fake_vault.kv_put("ssl/a.example.com", {"crt": "x", "key": "y"})
    r = run(fake_vault, "read", "secret/ssl/a.example.com", "--log-level", "debug",
            token=tok)
    assert r.returncode == EXIT_PERMISSION
    assert "permission denied" in r.stderr
    assert tok not in r.stdout + r.stderr


def test_no_token_at_all_is_an_auth_error(fake_vault):
    r = run(fake_vault, "read", "secret/x", token=None)
    assert r.returncode == EXIT_AUTH
    assert "VAULT_TOKEN" in r.stderr


def test_sealed_vault_is_retried_then_reported_sealed(fake_vault):
    fake_vault.kv_put("x", {"a": "1"})
    fake_vault.seal()
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2",
            "--vault-retries", "2")
    assert r.returncode == EXIT_SEALED
    reads = [q for q in fake_vault.requests() if q["path"] == "secret/data/x"]
    assert len(reads) == 3      # one try and two retries


def test_rate_limit_is_retried_and_then_succeeds(fake_vault):
    fake_vault.kv_put("x", {"a": "1"})
    fake_vault.fail_next(1, 429, path_prefix="secret/data/x")
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "secret/x", "--field", "a")
    assert r.returncode == 0, r.stderr
    statuses = [q["status"] for q in fake_vault.requests() if q["path"] == "secret/data/x"]
    assert statuses == [429, 200]


def test_rate_limit_retry_after_is_honoured(fake_vault):
    fake_vault.kv_put("x", {"a": "1"})
    fake_vault.fail_next(1, 429, path_prefix="secret/data/x", retry_after=1)
    t0 = time.monotonic()
    r = run(fake_vault, "read", "secret/x", "--field", "a", "--vault-kv-version", "2")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 0.95     # backoff alone would be 50 ms


def test_persistent_rate_limit_exits_rate_limited(fake_vault):
    fake_vault.fail_next(10, 429, path_prefix="secret/data/x")
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2")
    assert r.returncode == EXIT_RATE_LIMITED
    assert "rate limit" in r.stderr


def test_server_error_is_retried_then_reported(fake_vault):
    fake_vault.fail_next(10, 500, path_prefix="secret/data/x")
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2",
            "--vault-retries", "1")
    assert r.returncode == EXIT_SERVER
    assert len([q for q in fake_vault.requests() if q["path"] == "secret/data/x"]) == 2


def test_client_errors_are_not_retried(fake_vault):
    fake_vault.fail_next(10, 400, path_prefix="secret/data/x", errors=["bad thing"])
    fake_vault.clear_requests()
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2",
            "--vault-retries", "3")
    assert r.returncode == EXIT_BAD_REQUEST
    assert "bad thing" in r.stderr
    assert len([q for q in fake_vault.requests() if q["path"] == "secret/data/x"]) == 1


def test_a_hanging_vault_times_out(fake_vault):
    fake_vault.hang_next(5, 5, path_prefix="secret/data/x")
    t0 = time.monotonic()
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2",
            "--vault-timeout", "300ms", "--vault-retries", "1")
    assert r.returncode == EXIT_TIMEOUT
    assert time.monotonic() - t0 < 3


def test_a_slow_answer_within_the_timeout_is_fine(fake_vault):
    fake_vault.kv_put("x", {"a": "1"})
    fake_vault.delay_next(1, 0.3, path_prefix="secret/data/x")
    r = run(fake_vault, "read", "secret/x", "--vault-timeout", "3s", "--field", "a")
    assert r.returncode == 0 and r.stdout == "1\n"


def test_bad_json_is_a_malformed_answer(fake_vault):
    fake_vault.raw_next(5, "{not json", path_prefix="secret/data/x")
    r = run(fake_vault, "read", "secret/x", "--vault-kv-version", "2")
    assert r.returncode == EXIT_MALFORMED


def test_nothing_listening_is_a_network_error():
    port = testbed.free_port()
    r = run(None, "read", "secret/x", token="t",
            env={"VAULT_ADDR": "http://127.0.0.1:%d" % port})
    assert r.returncode == EXIT_NETWORK


def test_bad_flags_are_usage_errors():
    assert run(None, "read", "secret/x", "--vault-timeout", "soon", token="t").returncode == EXIT_USAGE
    assert run(None, "frobnicate", token="t").returncode == EXIT_USAGE
    assert run(None, "read", token="t").returncode == EXIT_USAGE
    r = run(None, "health", token="t", env={"VAULT_ADDR": "ftp://127.0.0.1"})
    assert r.returncode == EXIT_USAGE
    r = run(None, "--help", token="t")
    assert r.returncode == 0 and "exit status" in r.stdout


# ---- TLS ---------------------------------------------------------------------

def test_tls_with_the_right_ca_works(fake_vault_tls):
    fake_vault_tls.kv_put("x", {"a": "tls"})
    r = run(fake_vault_tls, "read", "secret/x", "--field", "a")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "tls\n"


def test_tls_with_a_wrong_ca_fails_as_tls(fake_vault_tls, tmp_path):
    other = certs.make_ca("Someone Else").write_cert(tmp_path / "other-ca.crt")
    r = run(fake_vault_tls, "read", "secret/x", env={"VAULT_CACERT": other})
    assert r.returncode == EXIT_TLS, r.stderr


def test_tls_is_verified_by_default_against_the_system_store(fake_vault_tls):
    r = run(fake_vault_tls, "health", token=None, env={"VAULT_CACERT": ""})
    assert r.returncode == EXIT_TLS, r.stderr


def test_skip_verify_accepts_an_untrusted_certificate(fake_vault_tls):
    r = run(fake_vault_tls, "health", token=None,
            env={"VAULT_CACERT": "", "VAULT_SKIP_VERIFY": "true"})
    assert r.returncode == 0, r.stderr


def test_tls_host_name_is_checked(procs, tmp_path):
    """A certificate from the trusted CA but for another name is refused."""
    ca = certs.make_ca("Name Check CA")
    leaf = certs.make_cert(ca, ["vault.elsewhere.test"])
    crt, key = leaf.write(tmp_path, "wrong-name")
    ca_path = ca.write_cert(tmp_path / "ca.crt")
    port = testbed.free_port()
    procs.start("fake-vault-wrong-name",
                [str(testbed.FAKES / "vault"), "--listen", "127.0.0.1:%d" % port,
                 "--root-token", "t", "--tls-cert", crt, "--tls-key", key,
                 "--max-lifetime", "120"],
                ready=lambda: testbed.wait_tcp("127.0.0.1", port))
    r = run(None, "health", token=None,
            env={"VAULT_ADDR": "https://127.0.0.1:%d" % port, "VAULT_CACERT": ca_path})
    assert r.returncode == EXIT_TLS, r.stderr
    r = run(None, "health", token=None,
            env={"VAULT_ADDR": "https://127.0.0.1:%d" % port, "VAULT_CACERT": ca_path,
                 "VAULT_SKIP_VERIFY": "1"})
    assert r.returncode == 0, r.stderr


# ---- cert: sources, fields, wildcard ----------------------------------------

def test_cert_fetches_validates_and_describes_the_host_entry(fake_vault, ca, tmp_path):
    leaf = certs.make_cert(ca, ["a.example.com", "www.a.example.com"])
    put_pair(fake_vault, "a.example.com", leaf)
    out = tmp_path / "out"
    r = run(fake_vault, "cert", "a.example.com", "--out", out)
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["source"] == "secret/ssl/a.example.com"
    assert f["source_version"] == "1"
    assert f["subject"] == "CN=a.example.com"
    assert f["sans"] == "a.example.com,www.a.example.com"
    for p, want in ((f["crt_path"], leaf.cert_pem), (f["key_path"], leaf.key_pem)):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        assert open(p).read() == want
    assert sorted(os.listdir(out)) == ["a.example.com.crt", "a.example.com.key"]


def test_cert_falls_back_to_the_parent_wildcard_entry(fake_vault, ca):
    wild = certs.make_cert(ca, ["*.example.com"])
    put_pair(fake_vault, "*.example.com", wild)
    r = run(fake_vault, "cert", "shop.example.com")
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout)["source"] == "secret/ssl/*.example.com"
    # The host's own entry wins over the wildcard.
    own = certs.make_cert(ca, ["shop.example.com"])
    put_pair(fake_vault, "shop.example.com", own)
    r = run(fake_vault, "cert", "shop.example.com")
    assert fields(r.stdout)["source"] == "secret/ssl/shop.example.com"


def test_wildcard_host_is_written_under_a_safe_name(fake_vault, ca, tmp_path):
    wild = certs.make_cert(ca, ["*.example.com"])
    put_pair(fake_vault, "*.example.com", wild)
    r = run(fake_vault, "cert", "*.example.com", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["_wildcard_.example.com.crt",
                                                  "_wildcard_.example.com.key"]


def test_hostile_host_cannot_escape_the_output_folder(fake_vault, ca, tmp_path):
    r = run(fake_vault, "cert", "../../etc/x", "--out", tmp_path / "o")
    assert r.returncode == EXIT_USAGE      # an invalid host name, nothing read
    assert "invalid host" in r.stderr
    assert not os.path.exists(tmp_path / "o") or not os.listdir(tmp_path / "o")
    assert not os.path.exists(tmp_path / "etc")


@pytest.mark.parametrize("names", [("tls.crt", "tls.key"), ("certificate", "private_key")])
def test_cert_accepts_the_other_field_names(fake_vault, ca, names):
    leaf = certs.make_cert(ca, ["f.example.com"])
    put_pair(fake_vault, "f.example.com", leaf, names=names)
    r = run(fake_vault, "cert", "f.example.com")
    assert r.returncode == 0, r.stderr


def test_cert_with_no_usable_fields_is_reported(fake_vault):
    fake_vault.kv_put("ssl/f.example.com", {"cert": "x", "pem": "y"})
    r = run(fake_vault, "cert", "f.example.com")
    assert r.returncode == EXIT_MISSING_FIELDS
    assert fields(r.stdout)["reason"] == "missing_field"


def test_cert_missing_everywhere_is_not_found(fake_vault):
    r = run(fake_vault, "cert", "nope.example.com")
    assert r.returncode == EXIT_NOT_FOUND
    assert "*.example.com" in r.stderr


def test_cert_from_a_kv_v1_mount_with_a_path_template(fake_vault, ca):
    leaf = certs.make_cert(ca, ["v1.example.com"])
    put_pair(fake_vault, "v1.example.com", leaf, path="tls", mount="kv1")
    r = run(fake_vault, "cert", "v1.example.com", "--vault-cert-path", "kv1/tls/{host}")
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout)["source"] == "kv1/tls/v1.example.com"


def test_cert_with_intermediate_chain_is_accepted(fake_vault, ca):
    inter = certs.make_intermediate(ca)
    leaf = certs.make_cert(inter, ["c.example.com"])
    put_pair(fake_vault, "c.example.com", leaf, chain=True)
    r = run(fake_vault, "cert", "c.example.com")
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout)["chain"] == "2 certificates"


# ---- cert: invalid sets -------------------------------------------------------

def _put_raw(vault, host, crt, key):
    vault.kv_put("ssl/" + host, {"crt": crt, "key": key})


def test_key_mismatch_is_rejected(fake_vault, ca):
    crt, key = certs.mismatched_pair(ca, ["m.example.com"])
    _put_raw(fake_vault, "m.example.com", crt, key)
    r = run(fake_vault, "cert", "m.example.com")
    assert r.returncode == EXIT_KEY_MISMATCH
    assert fields(r.stdout)["reason"] == "key_mismatch"


def test_expired_certificate_is_rejected(fake_vault, ca):
    old = certs.expired_cert(ca, ["e.example.com"])
    put_pair(fake_vault, "e.example.com", old)
    r = run(fake_vault, "cert", "e.example.com")
    assert r.returncode == EXIT_EXPIRED
    assert "expired" in r.stderr


def test_not_yet_valid_certificate_is_rejected(fake_vault, ca):
    future = certs.not_yet_valid_cert(ca, ["n.example.com"])
    put_pair(fake_vault, "n.example.com", future)
    assert run(fake_vault, "cert", "n.example.com").returncode == EXIT_NOT_YET_VALID


def test_certificate_for_another_host_is_rejected(fake_vault, ca):
    other = certs.make_cert(ca, ["other.example.org"])
    put_pair(fake_vault, "w.example.com", other)
    r = run(fake_vault, "cert", "w.example.com")
    assert r.returncode == EXIT_HOST_MISMATCH
    assert fields(r.stdout)["sans"] == "other.example.org"


def test_garbage_pem_is_rejected(fake_vault, ca):
    leaf = certs.make_cert(ca, ["g.example.com"])
    _put_raw(fake_vault, "g.example.com", "-----BEGIN CERTIFICATE-----\nnope\n"
             "-----END CERTIFICATE-----\n", leaf.key_pem)
    assert run(fake_vault, "cert", "g.example.com").returncode == EXIT_BAD_CERT
    _put_raw(fake_vault, "g.example.com", leaf.cert_pem, "garbage")
    assert run(fake_vault, "cert", "g.example.com").returncode == EXIT_BAD_KEY


def test_chain_in_the_wrong_order_is_rejected(fake_vault, ca):
    inter = certs.make_intermediate(ca)
    leaf = certs.make_cert(inter, ["o.example.com"])
    unrelated = certs.make_ca("Unrelated")
    _put_raw(fake_vault, "o.example.com", leaf.cert_pem + unrelated.cert_pem, leaf.key_pem)
    assert run(fake_vault, "cert", "o.example.com").returncode == EXIT_CHAIN_ORDER


# ---- Kubernetes auth -----------------------------------------------------------

def _k8s_setup(vault, ca, tmp_path, ttl=None, max_ttl=None):
    vault.add_policy("ssl-read", 'path "secret/data/ssl/*" { capabilities = ["read"] }\n'
                     'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }')
    vault.add_kubernetes_role("portico", ["portico"], ["ingress"], ["ssl-read"],
                              ttl=ttl, max_ttl=max_ttl)
    leaf = certs.make_cert(ca, ["k.example.com"])
    put_pair(vault, "k.example.com", leaf)
    jwt = tmp_path / "sa-token"
    jwt.write_text(vault.make_jwt("portico", "ingress") + "\n")
    return str(jwt)


def k8s_args(jwt, role="portico"):
    return ["--vault-auth", "kubernetes", "--vault-k8s-role", role,
            "--vault-k8s-jwt-file", jwt]


def test_kubernetes_login_then_read(fake_vault, ca, tmp_path):
    jwt = _k8s_setup(fake_vault, ca, tmp_path)
    fake_vault.clear_requests()
    r = run(fake_vault, "cert", "k.example.com", *k8s_args(jwt), token=None)
    assert r.returncode == 0, r.stderr
    reqs = fake_vault.requests()
    assert reqs[0]["path"] == "auth/kubernetes/login" and reqs[0]["status"] == 200
    read = [q for q in reqs if q["path"] == "secret/data/ssl/k.example.com"][0]
    assert read["token"] and "ssl-read" in read["policies"]
    assert read["status"] == 200


def test_kubernetes_login_with_a_forged_jwt_is_permission_denied(fake_vault, ca, tmp_path):
    _k8s_setup(fake_vault, ca, tmp_path)
    forged = tmp_path / "forged"
    forged.write_text(fake_vault.make_jwt("portico", "ingress", key=certs.new_key("ec")))
    r = run(fake_vault, "cert", "k.example.com", *k8s_args(str(forged)), token=None)
    assert r.returncode == EXIT_PERMISSION, r.stderr


def test_kubernetes_login_with_an_unknown_role_is_an_auth_error(fake_vault, ca, tmp_path):
    jwt = _k8s_setup(fake_vault, ca, tmp_path)
    r = run(fake_vault, "cert", "k.example.com", *k8s_args(jwt, role="nobody"), token=None)
    assert r.returncode == EXIT_AUTH
    assert "invalid role" in r.stderr


def test_kubernetes_login_without_jwt_file_is_an_auth_error(fake_vault, tmp_path):
    r = run(fake_vault, "health", *k8s_args(str(tmp_path / "absent")), token=None)
    assert r.returncode == 0        # health needs no login
    r = run(fake_vault, "read", "secret/x", *k8s_args(str(tmp_path / "absent")), token=None)
    assert r.returncode == EXIT_AUTH
    assert "absent" in r.stderr


# ---- PKI -------------------------------------------------------------------------

def test_pki_issues_a_certificate_for_a_host_without_entry(fake_vault):
    fake_vault.request("POST", "pki/roles/web", {"allowed_domains": ["example.com"],
                                                 "allow_subdomains": True, "max_ttl": "72h"})
    r = run(fake_vault, "cert", "p.example.com", "--vault-pki-role", "web")
    assert r.returncode == 0, r.stderr
    f = fields(r.stdout)
    assert f["source"] == "pki:pki/issue/web"
    assert f["sans"] == "p.example.com"
    assert "issue/web" in [q["path"].replace("pki/", "", 1) for q in fake_vault.requests()]


def test_pki_refusing_the_name_is_reported(fake_vault):
    fake_vault.request("POST", "pki/roles/web", {"allowed_domains": ["example.com"],
                                                 "allow_subdomains": True})
    r = run(fake_vault, "cert", "p.example.org", "--vault-pki-role", "web")
    assert r.returncode == EXIT_BAD_REQUEST


def test_health_of_an_uninitialised_vault_is_reported_as_unavailable(fake_vault):
    fake_vault.set_state(initialized=False)
    r = run(fake_vault, "health", token=None)
    assert r.returncode == EXIT_SEALED
    assert fields(r.stdout)["http_status"] == "501"
    assert "not initialised" in r.stderr


def test_namespace_and_token_headers_are_sent(tmp_path):
    """The stand-in ignores namespaces, so a recording HTTP server on
    loopback checks what goes on the wire."""
    import http.server
    import json as _json
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, dict(self.headers)))
            if self.path.startswith("/v1/sys/internal/ui/mounts/"):
                body = {"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}}
            else:
                body = {"data": {"data": {"a": "ns"}, "metadata": {"version": 1}}}
            data = _json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = run(None, "read", "secret/x", "--field", "a", token="s.wire-token",
                env={"VAULT_ADDR": "http://127.0.0.1:%d" % srv.server_port,
                     "VAULT_NAMESPACE": "team-a/"})
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ns\n"
    reads = [h for p, h in seen if p == "/v1/secret/data/x"]
    assert reads and reads[0]["X-Vault-Namespace"] == "team-a/"
    assert reads[0]["X-Vault-Token"] == "s.wire-token"
    assert reads[0]["X-Vault-Request"] == "true"


def test_watch_for_a_while_exits_cleanly_by_itself(fake_vault, ca, tmp_path):
    put_pair(fake_vault, "q.example.com", certs.make_cert(ca, ["q.example.com"]))
    t0 = time.monotonic()
    r = run(fake_vault, "watch", "q.example.com", "--vault-cert-dir", tmp_path / "c",
            "--for", "1s")
    assert r.returncode == 0, r.stderr
    assert 0.9 < time.monotonic() - t0 < 8
    assert "event=pair host=q.example.com status=ok" in r.stdout
    assert r.stdout.rstrip().endswith("stopping")


def test_watch_without_a_folder_is_a_usage_error(fake_vault):
    assert run(fake_vault, "watch", "q.example.com").returncode == EXIT_USAGE


def test_check_validates_local_files_with_the_same_rules(ca, tmp_path):
    good = certs.make_cert(ca, ["l.example.com"])
    crt, key = good.write(tmp_path, "l")
    r = run(None, "check", crt, key, "l.example.com", token=None)
    assert r.returncode == 0, r.stderr
    assert fields(r.stdout)["sans"] == "l.example.com"
    assert run(None, "check", crt, key, "x.example.com", token=None).returncode == EXIT_HOST_MISMATCH
    other_crt, other_key = certs.make_cert(ca, ["l.example.com"]).write(tmp_path, "o")
    assert run(None, "check", crt, other_key, token=None).returncode == EXIT_KEY_MISMATCH
    assert run(None, "check", crt, tmp_path / "absent", token=None).returncode == EXIT_USAGE
