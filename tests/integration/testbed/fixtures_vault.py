"""Fixtures for the Vault stand-in (tests/fakes/vault): `fake_vault` (HTTP)
and `fake_vault_tls` (HTTPS with a test CA, `ca_cert_path`).

Each starts a fresh server for the test with: KV v2 at secret/, KV v1 at
kv1/, PKI at pki/, kubernetes auth at auth/kubernetes/ verifying JWTs
against a key only this fixture holds (make_jwt signs with it).
"""

import base64
import http.client
import json
import os
import ssl
import time
import urllib.parse

import pytest

import testbed
from testbed import certs

ROOT_TOKEN = "root-token-for-tests"
K8S_MOUNT = "kubernetes"
MAX_LIFETIME = 600
REQUEST_TIMEOUT = 10.0


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeVault:
    """A running stand-in and a small client for it."""

    def __init__(self, proc, host, port, scheme, root_token, signer, ca_cert_path=None):
        self.proc = proc
        self.host = host
        self.port = port
        self.scheme = scheme
        self.addr = "%s://%s:%d" % (scheme, host, port)
        self.root_token = root_token
        self.signer = signer                  # EC key make_jwt signs with
        self.ca_cert_path = ca_cert_path
        self._ssl = ssl.create_default_context(cafile=ca_cert_path) if ca_cert_path else None

    # -- raw HTTP -------------------------------------------------------------
    def _conn(self, timeout):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def raw(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        """(status, headers dict, body bytes) for any path ("/v1/..." or "/__fake/...")."""
        c = self._conn(timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def request(self, method, path, body=None, token="root", headers=None,
                timeout=REQUEST_TIMEOUT):
        """A /v1/ request; path is relative ("secret/data/x"). token="root"
        sends the root token, None sends none. Returns (status, json|None)."""
        h = dict(headers or {})
        if token == "root":
            token = self.root_token
        if token is not None:
            h["X-Vault-Token"] = token
        status, _hdrs, data = self.raw(method, "/v1/" + path.lstrip("/"), body, h, timeout)
        return status, (json.loads(data) if data.strip() else None)

    def admin(self, method, what, body=None):
        status, _h, data = self.raw(method, "/__fake/" + what, body)
        if status >= 300:
            raise AssertionError("admin %s %s: %d %s" % (method, what, status, data))
        return json.loads(data) if data.strip() else None

    def _ok(self, method, path, body=None):
        status, data = self.request(method, path, body)
        if status not in (200, 204):
            raise AssertionError("%s %s: %d %s" % (method, path, status, data))
        return data

    # -- KV ----------------------------------------------------------------------
    def kv_version(self, mount="secret"):
        data = self._ok("GET", "sys/internal/ui/mounts/" + mount)
        return int((data["data"]["options"] or {}).get("version", "1"))

    def kv_put(self, path, data, mount="secret"):
        if self.kv_version(mount) == 2:
            return self._ok("POST", "%s/data/%s" % (mount, path), {"data": data})
        return self._ok("POST", "%s/%s" % (mount, path), data)

    def kv_delete(self, path, mount="secret", all_versions=False):
        """Soft-delete the latest version (v2) or the key (v1);
        all_versions=True removes a v2 key's metadata too."""
        if self.kv_version(mount) == 2:
            section = "metadata" if all_versions else "data"
            return self._ok("DELETE", "%s/%s/%s" % (mount, section, path))
        return self._ok("DELETE", "%s/%s" % (mount, path))

    def mount(self, path, type_="kv", version=None):
        body = {"type": type_}
        if version is not None:
            body["options"] = {"version": str(version)}
        return self._ok("POST", "sys/mounts/" + path.strip("/"), body)

    # -- tokens, policies, kubernetes ---------------------------------------------
    def create_token(self, policies, ttl=None, renewable=True, num_uses=0,
                     explicit_max_ttl=None, token_id=None):
        """A token with these policies (plus "default"); returns its value."""
        spec = {"policies": list(policies), "renewable": renewable, "num_uses": num_uses}
        if ttl is not None:
            spec["ttl"] = ttl
        if explicit_max_ttl is not None:
            spec["explicit_max_ttl"] = explicit_max_ttl
        if token_id is not None:
            spec["id"] = token_id
        return self.admin("POST", "tokens", spec)["token"]

    def expire_token(self, token):
        self.admin("POST", "tokens/expire", {"token": token})

    def add_policy(self, name, hcl_or_dict):
        """HCL text, a JSON policy dict {"path": {...}}, or the short form
        {"secret/data/ssl/*": ["read"]}."""
        if isinstance(hcl_or_dict, dict) and "path" not in hcl_or_dict:
            hcl_or_dict = {"path": hcl_or_dict}
        src = hcl_or_dict if isinstance(hcl_or_dict, str) else json.dumps(hcl_or_dict)
        return self._ok("PUT", "sys/policies/acl/" + name, {"policy": src})

    def add_kubernetes_role(self, name, service_accounts, namespaces, policies,
                            ttl=None, max_ttl=None, audience=None, mount=K8S_MOUNT):
        body = {"bound_service_account_names": list(service_accounts),
                "bound_service_account_namespaces": list(namespaces),
                "token_policies": list(policies)}
        if ttl is not None:
            body["token_ttl"] = ttl
        if max_ttl is not None:
            body["token_max_ttl"] = max_ttl
        if audience is not None:
            body["audience"] = audience
        return self._ok("POST", "auth/%s/role/%s" % (mount, name), body)

    def make_jwt(self, sa, ns, expires_in=3600, key=None, projected=False, extra=None):
        """A service-account JWT (ES256) for sa in ns, signed with the key the
        server trusts unless `key` (another EC key) is given. projected=True
        uses the newer {"kubernetes.io": {...}} claim layout."""
        now = int(time.time())
        if projected:
            claims = {"iss": "https://kubernetes.default.svc.cluster.local",
                      "sub": "system:serviceaccount:%s:%s" % (ns, sa),
                      "aud": ["https://kubernetes.default.svc.cluster.local"],
                      "iat": now, "nbf": now, "exp": now + expires_in,
                      "kubernetes.io": {"namespace": ns,
                                        "serviceaccount": {"name": sa, "uid": "uid-" + sa}}}
        else:
            claims = {"iss": "kubernetes/serviceaccount",
                      "sub": "system:serviceaccount:%s:%s" % (ns, sa),
                      "exp": now + expires_in,
                      "kubernetes.io/serviceaccount/namespace": ns,
                      "kubernetes.io/serviceaccount/secret.name": sa + "-token-abcde",
                      "kubernetes.io/serviceaccount/service-account.name": sa,
                      "kubernetes.io/serviceaccount/service-account.uid": "uid-" + sa}
        claims.update(extra or {})
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        header = {"alg": "ES256", "kid": "fake-vault-test", "typ": "JWT"}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        r, s = decode_dss_signature((key or self.signer).sign(signing_input.encode(),
                                                              ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def login_kubernetes(self, role, jwt, mount=K8S_MOUNT):
        return self.request("POST", "auth/%s/login" % mount, {"role": role, "jwt": jwt}, token=None)

    # -- seal, faults, request log -------------------------------------------------
    def seal(self):
        self.admin("POST", "seal")

    def unseal(self):
        self.admin("POST", "unseal")

    def set_state(self, **state):
        self.admin("POST", "state", state)

    def _fault(self, spec, path_prefix, method):
        if path_prefix:
            spec["path_prefix"] = path_prefix.lstrip("/")
        if method:
            spec["method"] = method
        self.admin("POST", "faults", spec)

    def fail_next(self, n, code, path_prefix=None, method=None, errors=None, retry_after=None):
        """The next n matching /v1/ requests answer `code` (429 gets the real
        rate-limit body)."""
        spec = {"action": "status", "status": code, "count": n}
        if errors is not None:
            spec["errors"] = errors
        if retry_after is not None:
            spec["retry_after"] = retry_after
        self._fault(spec, path_prefix, method)

    def delay_next(self, n, seconds, path_prefix=None, method=None):
        """The next n matching requests wait `seconds`, then answer normally."""
        self._fault({"action": "delay", "seconds": seconds, "count": n}, path_prefix, method)

    def hang_next(self, n, seconds, path_prefix=None, method=None):
        """The next n matching requests get no answer; closed after `seconds`."""
        self._fault({"action": "hang", "seconds": seconds, "count": n}, path_prefix, method)

    def raw_next(self, n, body, status=200, path_prefix=None, method=None):
        """The next n matching requests get `body` verbatim (e.g. bad JSON)."""
        self._fault({"action": "raw", "body": body, "status": status, "count": n},
                    path_prefix, method)

    def clear_faults(self):
        self.admin("DELETE", "faults")

    def requests(self, path_prefix=None):
        """Logged /v1/ requests (oldest first): dicts with method, path (no
        /v1/), token (bool), accessor, policies, status, fault."""
        q = "?" + urllib.parse.urlencode({"path_prefix": path_prefix.lstrip("/")}) if path_prefix else ""
        return self.admin("GET", "requests" + q)["requests"]

    def request_counts(self, path_prefix=None):
        q = "?" + urllib.parse.urlencode({"path_prefix": path_prefix.lstrip("/")}) if path_prefix else ""
        return self.admin("GET", "requests" + q)["counts"]

    def clear_requests(self):
        self.admin("DELETE", "requests")

    def pki_ca_pem(self):
        status, _h, data = self.raw("GET", "/v1/pki/ca/pem")
        assert status == 200, status
        return data.decode()


def _config(signer):
    return {
        "mounts": {"kv1/": {"type": "kv", "version": 1}, "pki/": {"type": "pki"}},
        "kubernetes": {K8S_MOUNT: {"config": {"kubernetes_host": "https://127.0.0.1:6443",
                                              "pem_keys": [certs.public_key_pem(signer)]}}},
    }


def start_fake_vault(procs, tmp_path, tls=False, extra_argv=()):
    """Start a stand-in under `procs`; returns a FakeVault once it answers."""
    host, port = "127.0.0.1", testbed.free_port()
    signer = certs.new_key("ec")
    cfg_path = os.path.join(str(tmp_path), "fake-vault-%d.json" % port)
    with open(cfg_path, "w") as f:
        json.dump(_config(signer), f)
    argv = [str(testbed.FAKES / "vault"), "--listen", "%s:%d" % (host, port),
            "--root-token", ROOT_TOKEN, "--config", cfg_path,
            "--max-lifetime", str(MAX_LIFETIME)] + list(extra_argv)
    ca_path = None
    if tls:
        ca = certs.make_ca("Fake Vault Test CA")
        leaf = certs.make_cert(ca, ["localhost"], ips=[host])
        crt, key = leaf.write(tmp_path, "fake-vault-%d" % port)
        ca_path = ca.write_cert(os.path.join(str(tmp_path), "fake-vault-%d-ca.crt" % port))
        argv += ["--tls-cert", crt, "--tls-key", key]
    v = FakeVault(None, host, port, "https" if tls else "http", ROOT_TOKEN, signer, ca_path)

    def ready():
        return v.raw("GET", "/v1/sys/health", timeout=0.5)[0] == 200
    v.proc = procs.start("fake-vault", argv, ready=ready, timeout=10)
    return v


@pytest.fixture
def fake_vault(procs, tmp_path):
    """A fresh Vault stand-in over plain HTTP (like `vault server -dev`)."""
    return start_fake_vault(procs, tmp_path)


@pytest.fixture
def fake_vault_tls(procs, tmp_path):
    """A fresh Vault stand-in over HTTPS; its certificate (localhost and
    127.0.0.1) is signed by the CA at `.ca_cert_path`."""
    return start_fake_vault(procs, tmp_path, tls=True)
